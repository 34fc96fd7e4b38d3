"""Encode-time latent refinement: a slower encoder that finds a better latent for the same decoder.

The analysis transform g_a gives its latent in one pass, and for this CPU-trained model that guess
leaves much behind: optimising the latent of a 256² Kodak crop through the fixed synthesis alone
lifts it from 27.1 to 32.1 dB, past the transforms' usual ceiling (docs/results.md). Refinement
runs a few Adam steps on the latent against the training objective, rate + λ(q)·distortion at the
file's own quality map (Campos et al. 2019, Yang et al. 2020), so an ROI's weight steers it too.
The decoder and the file format do not change: any file it makes decodes with the same weights.

The rate is differentiated through additive noise (seeded, so encodes repeat exactly) and the
distortion through straight-through rounding, as in training. A proxy can be gamed, so every step
also scores the rounded latent (the one a file holds) by its real rate; the best scored latent is
kept, never one worse than the analysis's own. Written by hand: CompressAI has no latent refinement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..hardware import cpu_has_native_bf16
from ..levels import EFFORT_STEPS  # defined there so the CLI's parser needs no torch
from .codec import LATENT_STRIDE, RoiCodecModel

#: Backpropagating through the synthesis holds its activations (about 1 KB per coded pixel: +410 MiB
#: on a Kodak image), so refinement is skipped, with a note, above this many coded pixels.
MAX_REFINE_PIXELS = 4_000_000
#: Cosine from 1e-2 to 1e-3: 1e-2 gains fastest in the first 10 steps and then overshoots.
LR_START, LR_END = 1e-2, 1e-3


@dataclass(frozen=True)
class RefineTarget:
    """What the latent is refined towards: the padded picture, the file's quality map, and each
    pixel's distortion weight (distortion_weight), zero on the padding, which carries no weight."""

    x: Tensor  # (1, 3, 16h, 16w) in [0, 1]
    q: Tensor  # (1, 1, h, w) levels
    weight: Tensor  # (1, 1, 16h, 16w)
    pixels: int  # picture pixels inside the padding: the rate's denominator

    @classmethod
    def of(cls, model: RoiCodecModel, x: Tensor, q: Tensor, valid: tuple[int, int],
           pixel_levels: Tensor | None = None) -> "RefineTarget":
        """``valid`` (height, width): the picture inside x's padding; ``pixel_levels`` (1, 1, 16h, 16w),
        if given, sets each pixel's weight, else the block's level does."""
        height, width = valid
        weight = distortion_weight(model, q, pixel_levels).clone()
        weight[..., height:, :] = 0
        weight[..., :, width:] = 0
        return cls(x, q, weight, height * width)


@dataclass(frozen=True)
class Refinement:
    latent: Tensor
    loss_before: float  # the objective (bits per pixel + λ·255²·MSE) of the analysis's latent
    loss_after: float  # ... and of the returned one, both with the rounded latent's real rate
    best_step: int  # 0: nothing better than the analysis was found


def effort_steps(effort: int) -> int:
    if not isinstance(effort, int) or isinstance(effort, bool) or not 0 <= effort < len(EFFORT_STEPS):
        raise ValueError(f"effort must be an integer from 0 to {len(EFFORT_STEPS) - 1}")
    return EFFORT_STEPS[effort]


def distortion_weight(model: RoiCodecModel, q: Tensor, pixel_levels: Tensor | None = None) -> Tensor:
    """λ·255² per pixel (1, 1, 16h, 16w): at the block's level, or at each pixel's own level where an
    ROI gives one (a block on a region's edge is coded at the region's level, but only its region
    pixels asked for that quality)."""
    levels = F.interpolate(q, scale_factor=LATENT_STRIDE, mode="nearest") if pixel_levels is None else pixel_levels
    return model.lmbda(levels) * 255.0**2


def refine_latent(model: RoiCodecModel, target: RefineTarget, y: Tensor, steps: int) -> Refinement:
    """Refine latent y (1, M, h, w) towards ``target`` with ``steps`` Adam steps."""
    use_bf16 = target.x.device.type == "cuda" or cpu_has_native_bf16()
    device = target.x.device.type
    # Tensors made under inference_mode cannot enter autograd; clones made outside it can. The rate's
    # noise comes from a fixed seed, so an encode repeats exactly, and the caller's RNG is left alone.
    with torch.inference_mode(False), torch.enable_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        x = target.x.detach().clone().contiguous()
        q = target.q.detach().clone()
        weight = target.weight.detach().clone()
        gain, inverse_gain = model.gain(q).detach(), model.inverse_gain(q).detach()
        start = y.detach().clone().contiguous()
        latent = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([latent], lr=LR_START)
        best_loss, best, best_step = math.inf, start, 0
        first = math.inf
        for step in range(steps + 1):
            out = model.latent_codec(latent * gain, noise=True, rounded_rate=True, hyper_grad=False)
            z_bits = (-torch.log2(out.likelihoods["z"])).sum()
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_bf16):
                x_hat = model.g_s(out.y_hat * inverse_gain)
            x_hat = x_hat.float()
            x_hat = x_hat + (x_hat.clamp(0, 1) - x_hat).detach()  # the decoder clamps; overshoot is free
            distortion = (weight * (x_hat - x).pow(2).mean(dim=1, keepdim=True)).sum() / target.pixels
            real = float((z_bits + (-torch.log2(out.y_rounded_likelihoods)).sum()) / target.pixels + distortion.detach())
            if step == 0:
                first = real
            if real < best_loss:
                best_loss, best, best_step = real, latent.detach().clone(), step
            if step == steps:
                break
            for group in opt.param_groups:
                group["lr"] = LR_END + (LR_START - LR_END) * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
            loss = (z_bits + (-torch.log2(out.likelihoods["y"])).sum()) / target.pixels + distortion
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return Refinement(best, first, best_loss, best_step)
