"""Regions of interest, measured: ROI-PSNR / background PSNR / whole PSNR at equal file size.

    python benchmarks/roi_eval.py --data ../shared/data/roi --bpp 0.1 0.2 0.4 --limit 8 \
        --out docs/roi_eval

For each image with a ground-truth mask (pedestrians, COCO objects, receipt text) and each
target rate, compares at equal size:
  roi-gt     roicodec with the ground-truth mask as ROI (rate control to the budget)
  uniform    roicodec without ROI, same budget
  roi-auto   roicodec with --roi auto, same budget (scored on the ground-truth regions)
  avif       Pillow AVIF 4:4:4, largest file not above the roicodec file
  avif-min   where AVIF cannot make a file that small: its smallest file (quality 0), which is
             larger than roicodec's, reported apart so the equal-size comparison stays equal-size
Also reports the recall of each automatic source on the ground-truth masks, and plots one
example per dataset (original, uniform, ROI, quality map).
Region-wise PSNR is what seeds 001/002 report as their ROI figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
from tqdm import tqdm

import roicodec
from roicodec import bitstream
from roicodec.evaluate.baselines import CODECS, CodecUnavailable, at_most
from roicodec.evaluate.examples import iter_examples
from roicodec.evaluate.metrics import psnr
from roicodec.roi import AUTO_WEIGHTS, quality_map
from roicodec.roi.importance import source_map


#: roicodec's runs per image and rate: the ground-truth ROI, no ROI, and the automatic sources.
METHODS = ("roi-gt", "uniform", "roi-auto")


def scores(ref: np.ndarray, dec: np.ndarray, roi: np.ndarray) -> dict:
    return {"roi": psnr(ref, dec, roi), "bg": psnr(ref, dec, ~roi), "all": psnr(ref, dec)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data/roi")
    p.add_argument("--datasets", nargs="+", default=["pedestrians", "coco", "text"])
    p.add_argument("--bpp", nargs="+", type=float, default=[0.1, 0.2, 0.4])
    p.add_argument("--strength", type=float, default=3.0)
    p.add_argument("--limit", type=int, default=8, help="images per dataset")
    p.add_argument("--out", default="docs/roi_eval")
    p.add_argument("--scale", default="1", help="roicodec's coding scale (1, 1.5, 2 or auto)")
    p.add_argument("--effort", type=int, default=0, help="roicodec's encoder effort (0-3), as for compress")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                   help="roicodec runs to make (AVIF always runs, at the roi-gt file's size)")
    a = p.parse_args()
    if "roi-gt" not in a.methods:
        p.error("--methods needs roi-gt: AVIF is matched to its size")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model = roicodec.load_model()
    rows, recalls, examples = [], [], {}
    for ds, image_name, image, gt in iter_examples(Path(a.data), a.datasets, a.limit, "roi eval"):
        ref = np.asarray(image)
        w, h = image.size
        # detector recall of each automatic source on the ground truth
        for name in AUTO_WEIGHTS:
            m, det = source_map(name, ref)
            hit = m > 0.25
            recalls.append({"dataset": ds, "source": name, "detector": det,
                            "recall": float((hit & gt).sum() / gt.sum()), "precision": float((hit & gt).sum() / max(hit.sum(), 1))})
        for target in a.bpp:
            budget = int(target * w * h / 8)
            rois = {"roi-gt": dict(roi=gt.astype(np.float32), roi_strength=a.strength), "uniform": {},
                    "roi-auto": dict(roi="auto", roi_strength=a.strength)}
            enc = {method: roicodec.compress_detailed(image, size=budget, model=model, scale=a.scale, effort=a.effort,
                                                      **rois[method]) for method in a.methods}
            for method, res in enc.items():
                dec = np.asarray(roicodec.decompress(res.data, model=model).convert("RGB"))
                rows.append({"dataset": ds, "image": image_name, "target_bpp": target, "method": method,
                             "bpp": 8 * len(res.data) / (w * h), **scores(ref, dec, gt)})
                if method in ("roi-gt", "uniform") and target == 0.2 and ds not in examples:
                    examples.setdefault(f"{ds}:{method}", dec)
            try:
                got = at_most(CODECS["avif"], image, len(enc["roi-gt"].data))
                if got is None:  # AVIF cannot go this small: keep its smallest file apart, as avif-min
                    got, avif_method = (CODECS["avif"].encode(image, CODECS["avif"].qmin), None), "avif-min"
                else:
                    avif_method = "avif"
            except CodecUnavailable as exc:
                got = None
                tqdm.write(f"avif skipped: {exc}")
            if got is not None:
                dec = CODECS["avif"].decode(got[0])
                rows.append({"dataset": ds, "image": image_name, "target_bpp": target, "method": avif_method,
                             "bpp": 8 * len(got[0]) / (w * h), **scores(ref, dec, gt)})
            if target == 0.2 and ds not in examples:
                r = enc["roi-gt"]  # its map is at the coded size (larger than the picture when scaled)
                cw, ch = bitstream.coded_size(w, h, r.scale)
                q = quality_map(r.base_level, r.roi_strength, r.blocks, bitstream.latent_shape(ch, cw),
                                model.config.level_range)[0, 0].numpy()
                examples[ds] = (ref, examples.pop(f"{ds}:uniform", ref), examples.pop(f"{ds}:roi-gt"), q)

    (out / "rows.json").write_text(json.dumps({"rows": rows, "recall": recalls}, indent=1))
    table = summarise(rows, recalls, a)
    (out / "summary.md").write_text(table)
    print(table)
    plot_examples(examples, out / "examples.png")


def summarise(rows: list[dict], recalls: list[dict], a) -> str:
    lines = ["| dataset | target bpp | method | bpp | ROI-PSNR | background PSNR | whole PSNR | n |",
             "|---|---|---|---|---|---|---|---|"]
    for ds in a.datasets:
        for t in a.bpp:
            for method in ("roi-gt", "uniform", "roi-auto", "avif", "avif-min"):
                sel = [r for r in rows if r["dataset"] == ds and r["target_bpp"] == t and r["method"] == method]
                if not sel:
                    continue
                m = lambda k: statistics.mean(r[k] for r in sel)  # noqa: E731
                lines.append(f"| {ds} | {t} | {method} | {m('bpp'):.3f} | {m('roi'):.2f} | {m('bg'):.2f} | {m('all'):.2f} | {len(sel)} |")
    lines += ["", "Gains at equal size (mean over images, dB): ROI-PSNR of roi-gt minus uniform / minus AVIF.",
              "Fifth column: images where AVIF's smallest file is larger than roicodec's (avif-min rows), "
              "their count and roi-gt's ROI-PSNR minus that larger AVIF file's.",
              "Last column: the mean over every image of the two, a lower bound on the equal-size gain, since an "
              "AVIF file as small as roicodec's, if AVIF could make one, would be no better than its smallest.", "",
              "| dataset | target bpp | vs uniform | vs AVIF | vs AVIF's smallest, larger file | vs AVIF, every image (bound) |",
              "|---|---|---|---|---|---|"]
    for ds in a.datasets:
        for t in a.bpp:
            by = {}
            for r in rows:
                if r["dataset"] == ds and r["target_bpp"] == t:
                    by.setdefault(r["image"], {})[r["method"]] = r["roi"]
            du = [v["roi-gt"] - v["uniform"] for v in by.values() if "uniform" in v and "roi-gt" in v]
            da = [v["roi-gt"] - v["avif"] for v in by.values() if "avif" in v and "roi-gt" in v]
            dm = [v["roi-gt"] - v["avif-min"] for v in by.values() if "avif-min" in v and "roi-gt" in v]
            if du:
                vs_avif = f"{statistics.mean(da):+.2f} (n={len(da)})" if da else "n/a"
                vs_min = f"{statistics.mean(dm):+.2f} (n={len(dm)})" if dm else "none"
                vs_all = f"{statistics.mean(da + dm):+.2f} (n={len(da + dm)})" if da + dm else "n/a"
                lines.append(f"| {ds} | {t} | {statistics.mean(du):+.2f} | {vs_avif} | {vs_min} | {vs_all} |")
    lines += ["", "Recall of automatic sources on ground-truth regions (pixels marked > 0.25)", "",
              "| dataset | source | detector | recall | precision |", "|---|---|---|---|---|"]
    for ds in a.datasets:
        for name in AUTO_WEIGHTS:
            sel = [r for r in recalls if r["dataset"] == ds and r["source"] == name]
            if sel:
                lines.append(f"| {ds} | {name} | {sel[0]['detector']} | {statistics.mean(r['recall'] for r in sel):.3f} | "
                             f"{statistics.mean(r['precision'] for r in sel):.3f} |")
    return "\n".join(lines) + "\n"


def plot_examples(examples: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(k, v) for k, v in examples.items() if isinstance(v, tuple)]
    if not items:
        return
    fig, axes = plt.subplots(len(items), 4, figsize=(16, 3.6 * len(items)), squeeze=False)
    for row, (ds, (ref, uni, roi, q)) in zip(axes, items):
        for ax, img, title in zip(row, (ref, uni, roi), (f"{ds}: original", "uniform @0.2 bpp", "ROI (GT mask) @0.2 bpp")):
            ax.imshow(img)
            ax.set_title(title)
            ax.axis("off")
        im = row[3].imshow(q, cmap="viridis")
        row[3].set_title("quality map (levels)")
        row[3].axis("off")
        fig.colorbar(im, ax=row[3], fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    main()
