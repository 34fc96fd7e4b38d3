"""Fit a model's latent codec (hyperprior + context) to transforms and gains that stay fixed.

With the transforms frozen the distortion does not depend on the entropy model (it is the rounding of
y x g(q), whatever the prior says), so the objective is the rate alone, and the analysis's latents can be
computed once and reused every step: no synthesis, no pixels. That makes a new latent codec cheap
enough to train on a CPU, which is how the high-rate model gets an entropy model for its pretrained
Ballé-2017 transforms (tools/import_bls2017.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ..model import LATENT_STRIDE, RoiCodecModel
from .data import CropSampler, random_quality_maps


@dataclass(frozen=True)
class FitConfig:
    steps: int = 1500
    batch: int = 16
    lr: float = 6e-4
    lr_end: float = 1e-5
    seed: int = 0


def analysis_latents(model: RoiCodecModel, sampler: CropSampler, count: int, batch: int = 32) -> torch.Tensor:
    """(count, M, crop/16, crop/16) latents of random training crops, computed once."""
    out = []
    with torch.inference_mode():
        for start in tqdm(range(0, count, batch), desc="analysing crops", leave=False):
            out.append(model.g_a(sampler.sample(min(batch, count - start))).float())
    return torch.cat(out)


def rate_bpp(model: RoiCodecModel, y: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Bits per picture pixel of latents y at quality maps q, by the latent codec's likelihoods."""
    out = model.latent_codec(y * model.gain(q))
    pixels = y.shape[0] * y.shape[2] * y.shape[3] * LATENT_STRIDE**2
    return sum((-torch.log2(lik)).sum() for lik in out.likelihoods.values()) / pixels


def fit_latent_codec(model: RoiCodecModel, latents: torch.Tensor, cfg: FitConfig = FitConfig(),
                     check: Callable[[int], None] | None = None, check_every: int = 250) -> list[dict]:
    """Train model.latent_codec for cfg.steps on random batches of ``latents`` at random quality maps
    (uniform, regions, gradients: train.data.random_quality_maps); returns the loss history. ``check(step)``
    runs every ``check_every`` steps and at the end (a held-out measure; it may switch the codec to eval
    mode: the loop switches it back)."""
    codec = model.latent_codec
    codec.train()
    rng = np.random.default_rng(cfg.seed)
    aux = [p for n, p in codec.named_parameters() if n.endswith("quantiles")]
    main = [p for n, p in codec.named_parameters() if not n.endswith("quantiles")]
    for p in codec.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam([{"params": main}, {"params": aux, "lr": 1e-3}], lr=cfg.lr)
    _, _, h, w = latents.shape
    history: list[dict] = []
    ema = None
    bar = tqdm(range(cfg.steps), desc="fitting the latent codec", dynamic_ncols=True)
    for step in bar:
        lr = cfg.lr_end + (cfg.lr - cfg.lr_end) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        opt.param_groups[0]["lr"] = lr
        y = latents[torch.from_numpy(rng.integers(len(latents), size=cfg.batch))]
        q = random_quality_maps(cfg.batch, h, w, model.config.level_range, rng)
        with torch.no_grad():
            gain = model.gain(q)
        out = codec(y * gain)
        pixels = cfg.batch * h * w * LATENT_STRIDE**2
        bpp = sum((-torch.log2(lik)).sum() for lik in out.likelihoods.values()) / pixels
        loss = bpp + codec.aux_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main, 1.0)
        opt.step()
        value = float(bpp.detach())
        ema = value if ema is None else 0.98 * ema + 0.02 * value
        bar.set_postfix(bpp=f"{ema:.4f}", lr=f"{lr:.1e}")
        if (step + 1) % 500 == 0 or step + 1 == cfg.steps:
            history.append({"step": step + 1, "bpp": ema})
        if check is not None and ((step + 1) % check_every == 0 or step + 1 == cfg.steps):
            with torch.no_grad():
                check(step + 1)
            codec.train()
    codec.eval()
    for p in codec.parameters():
        p.requires_grad_(False)
    return history
