"""Where the quality ceiling is: the transforms, or quantisation and the entropy model?

    python benchmarks/transform_ceiling.py --images ../shared/data/kodak ../shared/data/roi/text/images

For each image, PSNR of the float forward pass (which the real decoder reproduces: same
rounding around the predicted means) at uniform quality levels, with its estimated bpp,
and PSNR of the autoencoder alone: g_s(g_a(x)) with the gains applied but no rounding
at all. No file can beat the second figure; when the top level sits on it, more bits
cannot buy more quality and only better-trained (or larger) transforms can.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from tqdm import tqdm

import roicodec
from roicodec.train.loop import load_eval_images
from roicodec.train.losses import bits_per_pixel, psnr


def unquantised(model, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """g_s(g_a(x)) with the gains of quality map q applied and no rounding: the transforms' best."""
    return model.g_s(model.g_a(x) * model.gain(q) * model.inverse_gain(q))


@torch.inference_mode()
def measure(model, x: torch.Tensor, levels: list[float]) -> dict:
    h, w = x.shape[2], x.shape[3]
    row: dict = {}
    for lv in levels:
        q = torch.full((1, 1, h // 16, w // 16), float(lv))
        out = model(x, q)
        row[f"q{lv:g}"] = (float(bits_per_pixel(out["likelihoods"], h * w)), psnr(out["x_hat"].clamp(0, 1), x))
        row[f"noq{lv:g}"] = psnr(unquantised(model, x, q).clamp(0, 1), x)
    return row


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", nargs="+", required=True, help="folders of images, one table row each")
    p.add_argument("--levels", type=float, nargs="+", default=[0.0, 4.0, 7.0])
    p.add_argument("--limit", type=int, default=24, help="images per folder")
    p.add_argument("--weights", default=None)
    a = p.parse_args()
    model = roicodec.load_model(a.weights).eval()
    print(f"model {model.model_id.hex()}")
    head = ["folder", "n"] + [f"q{lv:g} bpp / PSNR" for lv in a.levels] + [f"no rounding, q{lv:g}" for lv in a.levels]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for folder in a.images:
        rows = [measure(model, x, a.levels) for x in tqdm(load_eval_images(folder, a.limit), desc=Path(folder).name)]
        cells = [folder, str(len(rows))]
        for lv in a.levels:
            bpp = statistics.mean(r[f"q{lv:g}"][0] for r in rows)
            cells.append(f"{bpp:.3f} / {statistics.mean(r[f'q{lv:g}'][1] for r in rows):.2f}")
        cells += [f"{statistics.mean(r[f'noq{lv:g}'] for r in rows):.2f}" for lv in a.levels]
        lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
