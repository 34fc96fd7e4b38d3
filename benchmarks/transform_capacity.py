"""Can the shipped transforms get past their no-rounding ceiling when trained for fidelity alone?

    python benchmarks/transform_capacity.py --data ../shared/data/train --images ../shared/data/kodak --steps 600

Why: at every level the shipped model's autoencoder, with no rounding at all, stops near 31.6 dB on
Kodak (transform_ceiling.py). If training g_a and g_s on plain MSE of g_s(g_a(x) g(7) g'(7)), with no
quantisation and no rate term, lifted that quickly, the rate-distortion training would be what holds
the transforms back; if it barely moves, the transforms themselves learn too slowly on this CPU.
Prints the no-rounding PSNR on 512x512 crops of the first 8 images every 100 steps (256² crops,
batch 2, Adam, bf16 autocast, as `roicodec train`). Nothing is saved.
"""

from __future__ import annotations

import argparse
import time
import torch
from transform_ceiling import unquantised  # benchmarks/ is on the path when run as a script

import roicodec
from roicodec.train.data import CropSampler
from roicodec.train.loop import load_eval_images


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data/train")
    p.add_argument("--images", default="../shared/data/kodak")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--level", type=float, default=7.0)
    a = p.parse_args()
    torch.manual_seed(0)
    # NCHW for training: the CPU backward of torch 2.14.1 crashes on channels_last (design-decisions item 5)
    model = roicodec.load_model().to(memory_format=torch.contiguous_format).train()
    for param in model.parameters():
        param.requires_grad_(True)
    opt = torch.optim.Adam([*model.g_a.parameters(), *model.g_s.parameters()], lr=a.lr)
    data = CropSampler(a.data, 256, seed=1)
    ev = torch.cat([x[:, :, :512, :512] for x in load_eval_images(a.images, 8)])

    def autoencode(x: torch.Tensor) -> torch.Tensor:
        return unquantised(model, x, torch.full((x.shape[0], 1, x.shape[2] // 16, x.shape[3] // 16), a.level))

    def no_rounding_psnr() -> float:
        with torch.no_grad():
            xh = torch.cat([autoencode(ev[i : i + 2]) for i in range(0, len(ev), 2)]).clamp(0, 1)
        return float(-10 * torch.log10((xh - ev).pow(2).mean()))

    print(f"step 0 no-rounding PSNR {no_rounding_psnr():.2f}", flush=True)
    t0 = time.time()
    for step in range(1, a.steps + 1):
        x = data.sample(2)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            xh = autoencode(x)
        loss = (xh.float() - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step} no-rounding PSNR {no_rounding_psnr():.2f} ({(time.time() - t0) / step:.2f} s/step)", flush=True)


if __name__ == "__main__":
    main()
