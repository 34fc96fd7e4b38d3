"""The perceptual head: realism chosen at decode time, for files that do not change.

    x_fid = g_s(y_hat_s)                  (the fidelity picture, realism 0)
    x     = x_fid + r * (1 - importance) * head(x_fid, y_hat_s, q, r)

One conditional network serves every realism r in [0, 1] (feature-wise affine modulation by r, as in
Agustsson et al. 2023's multi-realism generator), so the knob is continuous and there is never a
second file. The encoder, the entropy model and g_s stay as they are: r = 0 is exactly the fidelity
decoder, and every existing ``.rcz`` decodes at any realism. The file's importance map gates the
residual, so regions of interest keep their fidelity pixels (seed 001: MSE inside the ROI, perceptual
losses outside) while the background may gain synthesised texture.

The head works at 1/4 resolution on the pixel-unshuffled fidelity picture plus the latent and its
quality levels, and pixel-shuffles its residual back: a few convolutions, about a third of g_s's cost.
Written here because no maintained library offers a residual texture head conditioned on a codec latent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Pixels per latent position (the transforms' total stride).
_LATENT_STRIDE = 16


@dataclass(frozen=True)
class HeadConfig:
    m: int  # latent channels of the base model
    width: int = 64
    blocks: int = 3
    factor: int = 4  # the head's resolution is 1/factor of the picture's
    #: Quality levels are fed divided by this (the shipped models' levels span about -3..7).
    level_scale: float = 8.0

    def to_dict(self) -> dict:
        return asdict(self)


class _ModulatedBlock(nn.Module):
    """Residual block whose inner activation is scaled and shifted by the realism embedding."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = h * (1 + scale) + shift
        return x + self.conv2(F.leaky_relu(h, 0.2))


class PerceptualHead(nn.Module):
    """Residual texture head of one base model (``HeadConfig.m`` latent channels)."""

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        f, c = config.factor, config.width
        self.image_in = nn.Conv2d(3 * f * f, c, 3, padding=1)
        self.latent_in = nn.Conv2d(config.m + 2, c, 1)  # latent, quality level, importance
        self.realism = nn.Sequential(nn.Linear(1, c), nn.SiLU(), nn.Linear(c, 2 * c * config.blocks))
        self.body = nn.ModuleList(_ModulatedBlock(c) for _ in range(config.blocks))
        self.out = nn.Conv2d(c, 3 * f * f, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # an untrained head adds nothing: it starts at the fidelity decoder
        nn.init.zeros_(self.out.bias)

    def residual(self, x_fid: Tensor, y_s: Tensor, q: Tensor, importance: Tensor, realism: Tensor) -> Tensor:
        """The texture residual before gating; shapes as in ``forward``."""
        f = self.config.factor
        up = _LATENT_STRIDE // f
        cond = torch.cat([y_s, q / self.config.level_scale, importance], dim=1)
        h = self.image_in(F.pixel_unshuffle(x_fid, f))
        h = F.leaky_relu(h + F.interpolate(self.latent_in(cond), scale_factor=up, mode="nearest"), 0.2)
        film = self.realism(realism.view(-1, 1)).view(-1, 2 * self.config.blocks, self.config.width, 1, 1)
        for k, block in enumerate(self.body):
            h = block(h, film[:, 2 * k], film[:, 2 * k + 1])
        return F.pixel_shuffle(self.out(h), f)

    def forward(self, x_fid: Tensor, y_s: Tensor, q: Tensor, importance: Tensor, realism: Tensor | float) -> Tensor:
        """x_fid: (B,3,H,W) fidelity picture in [0,1], H and W multiples of 16; y_s: (B,m,H/16,W/16) the latent
        g_s saw; q: (B,1,H/16,W/16) quality levels; importance: (B,1,H/16,W/16) in [0,1] (0 without ROI);
        realism: a float or (B,) in [0,1]. Returns the picture at that realism, in [0,1]."""
        realism = torch.as_tensor(realism, dtype=x_fid.dtype, device=x_fid.device).reshape(-1)
        realism = realism.expand(x_fid.shape[0]) if realism.numel() == 1 else realism
        if not bool((realism > 0).any()):
            return x_fid
        # On the 8-bit grid: g_s's floats differ in the last bits between thread counts, which rounding to
        # 8 bits hides, but a residual computed from them would not. From the grid the head sees the same
        # input wherever the fidelity pictures are the same, so realism decodes stay identical too.
        x_fid = torch.round(x_fid * 255) / 255
        gate = 1 - F.interpolate(importance, scale_factor=_LATENT_STRIDE, mode="bilinear", align_corners=False)
        res = self.residual(x_fid, y_s, q, importance, realism)
        return (x_fid + realism.view(-1, 1, 1, 1) * gate.clamp(0, 1) * res).clamp(0, 1)
