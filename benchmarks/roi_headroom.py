"""How much an ROI can gain at all: the ROI-PSNR the model would give if the background cost nothing.

    python benchmarks/roi_headroom.py --data ../shared/data/roi --bpp 0.2 --strength 7 \
        --out docs/roi_headroom.md          # and the per-image rows in docs/roi_headroom.json

Moving bits out of the background helps the ROI only as far as the background held bits. For each
image with a ground-truth mask, at the uniform file's level the model's own likelihoods say how many
of the latent's bits sit in the blocks that the ROI covers (the codec's block rule). If the background
cost nothing the ROI blocks could use all the bits, i.e. ``budget / share``; the uniform file at that
larger budget gives (nearly) that ROI quality, an upper bound on what any ROI allocation at this budget
can reach with this model. Printed beside it: what roicodec's ROI coding reaches at ``--strength``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch

import roicodec
from roicodec.evaluate.metrics import psnr
from roicodec.images import to_padded_tensor
from roicodec.roi import block_importance

from roi_eval import iter_examples

#: The bound never asks for more than this (the model saturates well before).
MAX_BOUND_BPP = 3.0


def roi_bit_share(model, rgb: np.ndarray, gt: np.ndarray, level: float) -> tuple[float, float]:
    """(share of the latent's estimated bits in ROI blocks, share of blocks that are ROI) at a uniform level."""
    x = to_padded_tensor(rgb)
    hb, wb = x.shape[2] // 16, x.shape[3] // 16
    with torch.inference_mode():
        out = model(x, torch.full((1, 1, hb, wb), float(level)))
    bits = (-torch.log2(out["likelihoods"]["y"])).sum(1)[0].numpy()
    h, w = -(-gt.shape[0] // 16), -(-gt.shape[1] // 16)  # blocks that hold picture, not padding
    roi = block_importance(gt.astype(np.float32))[:h, :w] > 0
    bits = bits[:h, :w]
    return float(bits[roi].sum() / bits.sum()), float(roi.mean())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data/roi")
    p.add_argument("--datasets", nargs="+", default=["pedestrians", "coco", "text"])
    p.add_argument("--bpp", type=float, default=0.2)
    p.add_argument("--strength", type=float, default=7.0, help="ROI strength for the 'reached' column")
    p.add_argument("--limit", type=int, default=8, help="images per dataset")
    p.add_argument("--out", default="docs/roi_headroom.md")
    p.add_argument("--from-json", help="re-render the table and plot from a previous run's JSON")
    a = p.parse_args()
    if a.from_json:
        saved = json.loads(Path(a.from_json).read_text())
        write_outputs(saved["rows"], a.datasets, saved["bpp"], saved["strength"], saved["model_id"], Path(a.out))
        return
    model = roicodec.load_model()
    rows = []
    for ds, name, image, gt in iter_examples(Path(a.data), a.datasets, a.limit, "roi headroom"):
        ref = np.asarray(image)
        w, h = image.size
        budget = int(a.bpp * w * h / 8)
        uniform = roicodec.compress_detailed(image, size=budget, model=model)
        share, blocks = roi_bit_share(model, ref, gt, uniform.base_level)
        free_bg = roicodec.compress_detailed(image, bpp=min(a.bpp / share, MAX_BOUND_BPP), model=model)
        roi = roicodec.compress_detailed(image, size=budget, roi=gt.astype(np.float32), roi_strength=a.strength, model=model)
        decoded = {k: np.asarray(roicodec.decompress(r.data, model)) for k, r in
                   (("uniform", uniform), ("bound", free_bg), ("roi", roi))}
        rows.append({"dataset": ds, "image": name, "pixels": float(gt.mean()), "blocks": blocks, "share": share,
                     **{k: psnr(ref, d, gt) for k, d in decoded.items()}})
    write_outputs(rows, a.datasets, a.bpp, a.strength, model.model_id.hex(), Path(a.out))


def write_outputs(rows: list[dict], datasets: list[str], bpp: float, strength: float, model_id: str, out: Path) -> None:
    """The table (markdown), the per-image rows (JSON) and a plot of the gain against the bit share."""
    lines = [
        f"ROI headroom at {bpp} bpp: the ROI-PSNR (dB) if the background cost nothing, against what ROI coding reaches",
        f"(ground-truth mask, strength {strength:g}); mean over images. Model {model_id}.",
        "",
        "| dataset | n | ROI pixels | ROI blocks | bits in ROI blocks (uniform) | uniform | reached | bound | reached / possible gain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for ds in datasets:
        rs = [r for r in rows if r["dataset"] == ds]
        if not rs:
            continue
        m = {k: statistics.mean(r[k] for r in rs) for k in ("pixels", "blocks", "share", "uniform", "roi", "bound")}
        possible = m["bound"] - m["uniform"]
        ratio = f"{(m['roi'] - m['uniform']) / possible:.0%}" if possible > 0.05 else "no headroom"
        lines.append(f"| {ds} | {len(rs)} | {m['pixels']:.1%} | {m['blocks']:.1%} | {m['share']:.1%} | {m['uniform']:.2f} | "
                     f"{m['roi']:.2f} ({m['roi'] - m['uniform']:+.2f}) | {m['bound']:.2f} ({possible:+.2f}) | {ratio} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(
        {"bpp": bpp, "strength": strength, "model_id": model_id, "rows": rows}, indent=1))
    plot(rows, datasets, bpp, strength, out.with_suffix(".png"))


def plot(rows: list[dict], datasets: list[str], bpp: float, strength: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for ds, colour in zip(datasets, ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        rs = [r for r in rows if r["dataset"] == ds]
        share = [100 * r["share"] for r in rs]
        ax.scatter(share, [r["bound"] - r["uniform"] for r in rs], s=22, facecolors="none", edgecolors=colour,
                   label=f"{ds}: bound (background free)")
        ax.scatter(share, [r["roi"] - r["uniform"] for r in rs], s=14, color=colour, label=f"{ds}: reached")
    ax.axhline(2.0, color="grey", ls="--", lw=1)
    ax.text(1, 2.05, "+2 dB", color="grey", fontsize=8)
    ax.set_xlabel("share of a uniform file's bits already in the ROI blocks (%)")
    ax.set_ylabel("ROI-PSNR over uniform coding (dB)")
    ax.set_title(f"How much an ROI can gain at {bpp} bpp (strength {strength:g})")
    ax.set_xlim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
