"""Where coding the picture larger pays: R-D per coding scale, and where the curves cross.

    python benchmarks/coding_scale.py --images ../shared/data/kodak --every 2 --scales 1 1.5 2

For each image (every n-th of the folder) and scale, the float forward pass at uniform levels
-3, -1, 1, 3, 5, 7 on the picture resampled by that scale, scored after resampling back
(estimated bpp per *picture* pixel, PSNR-RGB of the 8-bit result). Prints, per image, the bpp
and native level at which each next scale overtakes the one before (the figures behind
scaling.START_BPP and scaling.CLIMB_LEVEL), then the mean PSNR at target rates for native
coding, for the automatic rule of `roicodec.scaling`, and for the best scale per image.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import roicodec
from roicodec import scaling
from roicodec.bitstream import coded_size
from roicodec.images import pad_to_stride
from roicodec.train.loop import load_eval_images
from roicodec.train.losses import bits_per_pixel, psnr

LEVELS = [-3.0, -1.0, 1.0, 3.0, 5.0, 7.0]
TARGETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5]


@torch.inference_mode()
def curve(model, x: torch.Tensor, scale: int) -> list[tuple[float, float]]:
    h, w = x.shape[-2:]
    cw, ch = coded_size(w, h, scale)
    xs = pad_to_stride(scaling.resample(x, ch, cw))
    points = []
    for lv in LEVELS:
        out = model(xs, torch.full((1, 1, xs.shape[2] // 16, xs.shape[3] // 16), lv))
        x_hat = scaling.resample(out["x_hat"].clamp(0, 1)[:, :, :ch, :cw], h, w).mul(255).round().div(255)
        bpp = float(bits_per_pixel(out["likelihoods"], h * w))
        points.append((bpp, psnr(x_hat, x)))
    return points


def at(points: list[tuple[float, float]], bpp: float) -> tuple[float, float, float]:
    """(bpp clamped to the curve, PSNR, level) at a rate, interpolated in log bpp."""
    b = [p[0] for p in points]
    t = min(max(bpp, b[0]), b[-1])
    return t, float(np.interp(np.log(t), np.log(b), [p[1] for p in points])), float(np.interp(np.log(t), np.log(b), LEVELS))


def crossing(a: list, b: list) -> tuple[float, float] | None:
    """(bpp, level on curve a) where curve b first gives more PSNR than curve a."""
    grid = np.exp(np.linspace(np.log(max(a[0][0], b[0][0])), np.log(min(a[-1][0], b[-1][0])), 400))
    better = [g for g in grid if at(b, g)[1] > at(a, g)[1]]
    return (better[0], at(a, better[0])[2]) if better else None


def rule_choice(curves: dict[int, list], w: int, h: int, bpp: float) -> int:
    """The scale roicodec's automatic rule would end on, with each step's level read off its curve."""
    for scale, climb in scaling.auto_ladder(w, h, bpp):
        if climb is None or at(curves[scale], bpp)[2] < climb:
            return scale
    return scale


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", default="../shared/data/kodak")
    p.add_argument("--every", type=int, default=2, help="use every n-th image")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    p.add_argument("--json", help="also write the per-image curves here")
    a = p.parse_args()
    model = roicodec.load_model().eval()
    scales = [scaling.parse_scale(s) for s in a.scales]
    images = load_eval_images(a.images, 10**6)[:: a.every]
    results = []
    for x in tqdm(images, desc="images"):
        results.append({s: curve(model, x, s) for s in scales})
    if a.json:
        Path(a.json).write_text(json.dumps([{str(s): c for s, c in r.items()} for r in results]))
    print(f"{len(images)} images from {a.images}; crossing = bpp / level of the smaller scale where the larger wins")
    for i, r in enumerate(results):
        cells = []
        for s0, s1 in zip(scales, scales[1:]):
            c = crossing(r[s0], r[s1])
            cells.append(f"{s0 / 8:g}x->{s1 / 8:g}x " + ("never" if c is None else f"{c[0]:.3f} bpp / level {c[1]:.2f}"))
        print(f"image {i}: " + "; ".join(cells))
    print("\n| coding | " + " | ".join(f"{t:g} bpp" for t in TARGETS) + " |")
    print("|---|" + "---|" * len(TARGETS))
    def best(r: dict, t: float) -> float:
        reach = [at(c, t)[1] for c in r.values() if at(c, t)[0] >= 0.98 * t]  # curves that can spend the budget
        return max(reach) if reach else at(r[scales[0]], t)[1]

    rows = {"native (1x)": lambda r, x, t: at(r[8], t)[1]} if 8 in scales else {}
    if set(scaling.LADDER) <= set(scales):
        rows["automatic rule"] = lambda r, x, t: at(r[rule_choice(r, x.shape[-1], x.shape[-2], t)], t)[1]
    rows["best scale per image"] = lambda r, x, t: best(r, t)
    for name, f in rows.items():
        print(f"| {name} | " + " | ".join(f"{np.mean([f(r, x, t) for r, x in zip(results, images)]):.2f}" for t in TARGETS) + " |")
    print("\nPSNR-RGB (dB), mean over images; targets above a curve's reach take its top point.")


if __name__ == "__main__":
    main()
