"""How much better could the shipped decoder draw a picture than the analysis transform lets it?

Optimises the latent of a crop directly for MSE through the fixed synthesis g_s (no rounding, no
rate) and prints PSNR as it climbs, against g_s(g_a(x)). A large gap is an amortisation gap of
the encoder: room that encode-time latent refinement (``--effort``) can take without touching the
decoder. Slow (one synthesis forward and backward per step): a benchmark, not a test.

    python benchmarks/synthesis_capacity.py --images ../shared/data/kodak/kodim05.png --crop 256 --steps 300
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

import roicodec


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10 * math.log10(float((a.clamp(0, 1) - b).pow(2).mean()))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", nargs="+", required=True)
    p.add_argument("--crop", type=int, default=256, help="top-left crop side (a multiple of 64)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=3e-2)
    a = p.parse_args()
    model = roicodec.load_model()
    for path in a.images:
        rgb = np.asarray(Image.open(path).convert("RGB"))[: a.crop, : a.crop]
        rgb = rgb[: rgb.shape[0] // 64 * 64, : rgb.shape[1] // 64 * 64]
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            y0 = model.g_a(x)
            start = psnr(model.g_s(y0), x)
        y = y0.clone().requires_grad_(True)
        opt = torch.optim.Adam([y], lr=a.lr)
        marks = {}
        for step in tqdm(range(1, a.steps + 1), desc=path.split("/")[-1], leave=False):
            x_hat = model.g_s(y)
            loss = (x_hat - x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 50 == 0 or step == a.steps:
                marks[step] = psnr(x_hat.detach(), x)
        print(f"{path}: g_s(g_a(x)) {start:.2f} dB; optimised latent " +
              ", ".join(f"{s} steps {v:.2f} dB" for s, v in marks.items()))


if __name__ == "__main__":
    main()
