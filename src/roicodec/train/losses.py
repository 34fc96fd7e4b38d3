"""Rate-distortion loss with a per-pixel lambda taken from the quality map (Qmap-style)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..model import LATENT_STRIDE, RoiCodecModel


def bits_per_pixel(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
    return sum((-torch.log2(lik.float())).sum() for lik in likelihoods.values()) / num_pixels


def rate_distortion_loss(model: RoiCodecModel, out: dict, x: Tensor, q: Tensor) -> dict[str, Tensor]:
    """loss = R + mean(lambda(q(x)) * 255^2 * MSE(x)), with q upsampled to pixels."""
    n, _, h, w = x.shape
    bpp = bits_per_pixel(out["likelihoods"], n * h * w)
    lam = model.lmbda(F.interpolate(q, scale_factor=LATENT_STRIDE, mode="nearest"))
    # The decoder's output is clamped to [0, 1]; score the clamped image so that
    # overshooting white paper or black ink costs nothing (no grey paper), while the
    # gradient still flows straight through to pull back overshoots that are wrong.
    x_hat = out["x_hat"].float()
    x_hat = x_hat + (x_hat.clamp(0, 1) - x_hat).detach()
    se = (x_hat - x).pow(2).mean(dim=1, keepdim=True)
    distortion = (lam * (255.0**2) * se).mean()
    mse = se.mean()
    return {
        "loss": bpp + distortion,
        "bpp": bpp,
        "mse": mse,
        "psnr": -10 * torch.log10(mse.clamp_min(1e-10)),
    }


def psnr(a: Tensor, b: Tensor) -> float:
    mse = float((a.float() - b.float()).pow(2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))
