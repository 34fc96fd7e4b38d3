"""How well does a saliency map find the ground-truth regions? roicodec's detector against OpenCV's.

    python benchmarks/saliency_compare.py --data ../shared/data/roi --out docs/saliency_compare.md

Per image with a mask in ../shared/data/roi (pedestrians, COCO objects, receipt text), two
threshold-free figures, means over the images:
  AUC        the chance that a random region pixel scores above a random background pixel
  prec@cov   precision of the top-scoring pixels when as many are taken as the region has
and the recall / precision of pixels above 0.25, the threshold roi_eval.py reports.
Compared: roicodec.roi.saliency (robust background detection) and OpenCV's fine-grained static
saliency with a wide box filter, which roicodec used before (docs/design-decisions.md item 17).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import rankdata

from roi_eval import iter_examples
from roicodec.atomic import atomic_write_text
from roicodec.roi.saliency import saliency_importance


def fine_grained(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's fine-grained static saliency, box-filtered over 1/16 of the short side, upper half kept."""
    h, w = rgb.shape[:2]
    ok, m = cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        return np.zeros((h, w), np.float32)
    m = m.astype(np.float32) / (255.0 if m.max() > 1 else 1.0)
    k = max(3, (min(h, w) // 16) | 1)
    m = cv2.boxFilter(m, -1, (k, k), borderType=cv2.BORDER_REPLICATE)
    lo, hi = np.percentile(m, 50), m.max()
    return np.clip((m - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros((h, w), np.float32)


DETECTORS = {"robust-background": saliency_importance, "fine-grained": fine_grained}


def figures(m: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    m, gt = m[::2, ::2].ravel(), gt[::2, ::2].ravel()  # every 4th pixel: the ranks stay cheap
    n1 = int(gt.sum())
    n0 = gt.size - n1
    ranks = rankdata(m)
    top = m >= np.sort(m)[-n1]
    hit = m > 0.25
    return {
        "auc": float((ranks[gt].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)),
        "prec@cov": float((top & gt).sum() / max(top.sum(), 1)),
        "recall": float((hit & gt).sum() / n1),
        "precision": float((hit & gt).sum() / max(hit.sum(), 1)),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data/roi")
    p.add_argument("--datasets", nargs="+", default=["pedestrians", "coco", "text"])
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--out", help="markdown table to write")
    a = p.parse_args()
    rows = []
    for ds, _, image, gt in iter_examples(Path(a.data), a.datasets, a.limit, "saliency"):
        rgb = np.asarray(image)
        if not gt[::2, ::2].any() or gt[::2, ::2].all():
            continue
        for name, detect in DETECTORS.items():
            t0 = time.perf_counter()
            m = detect(rgb)
            rows.append({"dataset": ds, "detector": name, "seconds": time.perf_counter() - t0, **figures(m, gt)})
    lines = ["| dataset | detector | n | AUC | prec@cov | recall >0.25 | precision >0.25 | s / image |",
             "|---|---|---|---|---|---|---|---|"]
    for ds in a.datasets:
        for name in DETECTORS:
            sel = [r for r in rows if r["dataset"] == ds and r["detector"] == name]
            if sel:
                mean = {k: statistics.mean(r[k] for r in sel) for k in ("auc", "prec@cov", "recall", "precision", "seconds")}
                lines.append(f"| {ds} | {name} | {len(sel)} | {mean['auc']:.3f} | {mean['prec@cov']:.3f} | "
                             f"{mean['recall']:.3f} | {mean['precision']:.3f} | {mean['seconds']:.2f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if a.out:
        atomic_write_text(a.out, f"`python benchmarks/saliency_compare.py --data {a.data} --out {a.out}`\n\n" + table)


if __name__ == "__main__":
    main()
