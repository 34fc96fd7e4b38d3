"""Spatially varying gain units: one model, any rate, any spatial allocation.

The encoder multiplies the latent by g(q) and the decoder by g'(q), where q is the
quality level of each latent position (continuous in [min_level, K-1]). Fractional levels
interpolate the K learned gain vectors exponentially, as G-VAE and seed 001 do:
g(q) = g_floor^(1-f) * g_ceil^f, i.e. linear interpolation of log-gains.
Levels below 0 (down to ``min_level``) extrapolate the log-gain line of levels 0..1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GainUnits(nn.Module):
    """K learned per-channel gain vectors, looked up per position with a quality map."""

    def __init__(self, levels: int, channels: int, inverse: bool, min_level: float) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError("need at least two quality levels")
        if min_level > 0:
            raise ValueError("min_level must be <= 0")
        self.levels = levels
        self.min_level = float(min_level)
        # One level is about one doubling of lambda, i.e. a quantiser step smaller by sqrt(2).
        centre = (levels - 1) / 2
        log_g = torch.tensor([(k - centre) * 0.5 * math.log(2.0) for k in range(levels)])
        if inverse:
            log_g = -log_g
        self.log_gain = nn.Parameter(log_g[:, None].repeat(1, channels).contiguous())

    def forward(self, q: Tensor) -> Tensor:
        """q: (B, 1, h, w) levels -> gains (B, C, h, w).

        Linear interpolation of log-gains written with hat functions
        max(0, 1 - |q - k|), which equals (1-f)*log g_floor + f*log g_ceil and keeps
        the backward pass free of scatter-adds.
        """
        q = q.clamp(self.min_level, self.levels - 1)
        below = q.clamp(max=0.0)
        q = q.clamp(0, self.levels - 1)
        k = torch.arange(self.levels, device=q.device, dtype=q.dtype).view(1, -1, 1, 1)
        weights = (1 - (q - k).abs()).clamp_min(0)  # (B, K, h, w)
        log_g = torch.einsum("bkhw,kc->bchw", weights, self.log_gain.to(weights.dtype))
        if self.min_level < 0:
            slope = (self.log_gain[1] - self.log_gain[0]).to(q.dtype).view(1, -1, 1, 1)
            log_g = log_g + below * slope
        return torch.exp(log_g)
