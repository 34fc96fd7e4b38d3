"""Refit a shipped model's latent codec (hyperprior + context) on the CPU, its transforms and gains frozen.

    python tools/refit_latent_codec.py --weights highrate-v1 --data ../shared/data/train \
        --held-out ../shared/data/roi/coco/images --out runs/highrate-refit/highrate.safetensors
    python tools/ship_weights.py runs/highrate-refit            # ships it only if it measures better

With the transforms frozen the distortion does not depend on the entropy model, so the objective is the
rate alone over latents computed once (train/latent_fit.py): minutes per thousand steps on two cores,
where training the transforms would take days. It starts from the shipped latent codec (the high-rate
model's was fitted for only 1500 steps, tools/import_bls2017.py). A share of the crops (``--upsampled``)
is upsampled 1.5x first, as the encoder codes pictures at high rates (scaling.py). The result keeps the
model's architecture and gains but gets a new model id, so it ships as the family's next version; the
files the previous version wrote still name it. Every 250 steps the estimated rate of ``--held-out``
pictures (the first 12, whole) at four fixed levels is measured, and the state with the lowest sum is kept.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
from PIL import Image
import torch
import torch.nn.functional as F

from roicodec.images import pad_to_stride, to_tensor
from roicodec.models import load_model, weights_path
from roicodec.train.data import CropSampler, list_images
from roicodec.train.latent_fit import FitConfig, analysis_latents, fit_latent_codec, rate_bpp
from roicodec.weights import export_weights, read_metadata

#: Upsampling of the ``--upsampled`` crops: the coding scale the high-rate model uses from 1 bpp up.
UPSAMPLE = 1.5
#: Uniform levels at which the held-out rate is measured.
CHECK_LEVELS = (-1.0, 1.5, 3.5, 5.5)


def held_out_latents(model, folder: str, count: int = 12) -> list[torch.Tensor]:
    """The analysis's latents of the first ``count`` pictures of ``folder``, whole."""
    out = []
    with torch.inference_mode():
        for path in list_images(folder)[:count]:
            x = to_tensor(np.asarray(Image.open(path).convert("RGB")))
            out.append(model.g_a(pad_to_stride(x)).float().clone())
    return out


def held_out_bpp(model, latents: list[torch.Tensor]) -> dict[float, float]:
    """Estimated bits per pixel of the held-out latents at each CHECK_LEVELS level (eval mode: rounding)."""
    model.latent_codec.eval()
    out = {}
    for level in CHECK_LEVELS:
        bits = pixels = 0.0
        for y in latents:
            n = y.shape[2] * y.shape[3] * 256
            bits += float(rate_bpp(model, y, torch.full((1, 1, *y.shape[2:]), level))) * n
            pixels += n
        out[level] = bits / pixels
    return out


def upsampled_latents(model, sampler: CropSampler, crop: int, count: int, batch: int = 32) -> torch.Tensor:
    """Latents of ``count`` crops of sampler.crop pixels, upsampled (bicubic) to ``crop``."""
    out = []
    with torch.inference_mode():
        for start in range(0, count, batch):
            x = sampler.sample(min(batch, count - start))
            x = F.interpolate(x, size=(crop, crop), mode="bicubic", align_corners=False).clamp_(0, 1)
            out.append(model.g_a(x).float())
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="highrate-v1", help="shipped model or weights file to start from")
    ap.add_argument("--data", required=True, help="training images")
    ap.add_argument("--held-out", required=True, help="pictures not trained on, to keep the best state by")
    ap.add_argument("--out", required=True)
    ap.add_argument("--crops", type=int, default=4000)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--upsampled", type=float, default=0.25, help=f"share of the crops upsampled {UPSAMPLE}x first")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    source = weights_path(args.weights)
    model = load_model(args.weights).float()
    for p in model.parameters():
        p.requires_grad_(False)
    t0 = time.time()
    n_up = round(args.crops * args.upsampled)
    latents = [analysis_latents(model, CropSampler(args.data, args.crop, seed=args.seed + 1), args.crops - n_up)]
    if n_up:
        small = CropSampler(args.data, round(args.crop / UPSAMPLE), seed=args.seed + 2)
        latents.append(upsampled_latents(model, small, args.crop, n_up))
    held = held_out_latents(model, args.held_out)
    start = held_out_bpp(model, held)
    best = {"step": 0, "bpp": start, "state": copy.deepcopy(model.latent_codec.state_dict())}
    checks = []

    def check(step: int) -> None:
        bpp = held_out_bpp(model, held)
        checks.append({"step": step, **{f"level {lv:g}": round(b, 5) for lv, b in bpp.items()}})
        print(f"step {step}: held-out bpp " + ", ".join(f"{100 * (bpp[lv] / start[lv] - 1):+.2f} % at {lv:g}"
                                                       for lv in CHECK_LEVELS), flush=True)
        if sum(bpp.values()) < sum(best["bpp"].values()):
            best.update(step=step, bpp=bpp, state=copy.deepcopy(model.latent_codec.state_dict()))

    history = fit_latent_codec(model, torch.cat(latents), FitConfig(steps=args.steps, lr=args.lr, seed=args.seed),
                               check=check)
    model.latent_codec.load_state_dict(best["state"])
    meta = dict(read_metadata(source)["meta"])
    meta.pop("rate_curve_bpp", None)  # measured again on the new codec (tools/ship_weights.py)
    meta.update({
        "init_model_id": read_metadata(source)["model_id"],
        "training_steps": int(meta.get("training_steps", 0)) + args.steps,
        "trained_on": "CPU",
        "refit_command": "python tools/refit_latent_codec.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "refit_history": history,
        "refit_held_out": {"start": {f"level {lv:g}": round(b, 5) for lv, b in start.items()}, "checks": checks,
                           "kept_step": best["step"]},
        "refit_seconds": round(time.time() - t0),
    })
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(f"{args.out}: model {export_weights(model, args.out, meta).hex()}")


if __name__ == "__main__":
    main()
