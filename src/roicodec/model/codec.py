"""The roicodec model: transforms + gain units + hyperprior + channel/checkerboard context.

Reads like its diagram:

    x -> g_a -> y -> (x g(q)) -> y_s -> h_a -> z -> [factorised prior] -> z_hat -> h_s -> hyper
    y_s, hyper -> [channel groups x checkerboard] -> y_hat_s -> (x g'(q)) -> g_s -> x_hat
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from compressai.entropy_models import EntropyBottleneck
from torch import Tensor, nn

from ..levels import LevelRange
from .entropy import ChannelCheckerboardCoder
from .exact import from_fixed, invalidate_exact_caches, to_fixed
from .gain import GainUnits
from .transforms import analysis_transform, hyper_analysis, hyper_synthesis, synthesis_transform

#: Total down-sampling of the latent (the hyper-latent's, 64, is bitstream.HYPER_STRIDE).
LATENT_STRIDE = 16


@dataclass(frozen=True)
class ModelConfig:
    n: int = 128
    m: int = 192
    levels: int = 8
    lambda_min: float = 0.0008
    lambda_max: float = 0.1024
    #: Lowest usable quality level. Below level 0 the gains continue the log-gain line
    #: of levels 0..1 (and lambda its geometric line), which reaches budgets several times
    #: smaller than level 0's and lets an ROI take bits from a background below level 0.
    #: -3 and not lower: further down the extrapolation left the R-D curve
    #: (docs/design-decisions.md item 9). Weights whose metadata predates this field load with 0.0.
    min_level: float = -3.0

    @property
    def level_range(self) -> LevelRange:
        return LevelRange.of_model(self.levels, self.min_level)

    def lmbda(self, q: float | Tensor) -> float | Tensor:
        """lambda(q) = lambda_min * (lambda_max / lambda_min) ** (q / (K - 1)), for a float or a tensor of levels."""
        return self.lambda_min * (self.lambda_max / self.lambda_min) ** (q / (self.levels - 1))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Configs saved before min_level existed describe models without levels below 0."""
        return cls(**{"min_level": 0.0, **d})


@dataclass
class LatentCode:
    """What the entropy coder produced for one image (batch of one)."""

    z_string: bytes
    y_strings: list[bytes]
    latent_shape: tuple[int, int]
    y_hat_int: Tensor  # exact fixed-point latent, for tests and reconstruction


class RoiCodecModel(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        n, m = config.n, config.m
        self.g_a = analysis_transform(n, m)
        self.g_s = synthesis_transform(n, m)
        self.h_a = hyper_analysis(n, m)
        self.h_s = hyper_synthesis(n, m)
        self.gain = GainUnits(config.levels, m, inverse=False, min_level=config.min_level)
        self.inverse_gain = GainUnits(config.levels, m, inverse=True, min_level=config.min_level)
        self.entropy_bottleneck = EntropyBottleneck(n)
        self.context = ChannelCheckerboardCoder(m, hyper_channels=2 * m)

    # ------------------------------------------------------------------ training
    def lmbda(self, q: Tensor) -> Tensor:
        """Per-pixel Lagrange multiplier of the training objective at level q."""
        return self.config.lmbda(q)

    def forward(self, x: Tensor, q: Tensor) -> dict:
        """x: (B,3,H,W) in [0,1], H and W multiples of 64; q: (B,1,H/16,W/16) levels."""
        y = self.g_a(x)
        y_s = y * self.gain(q)
        z = self.h_a(y_s)
        with torch.autocast(device_type=x.device.type, enabled=False):  # likelihoods need fp32
            z_hat, z_lik = self.entropy_bottleneck(z.float())
        hyper = self.h_s(z_hat)
        y_hat_s, y_lik, _ = self.context(y_s, hyper)
        x_hat = self.g_s(y_hat_s * self.inverse_gain(q))
        return {"x_hat": x_hat, "likelihoods": {"y": y_lik, "z": z_lik}}

    def aux_loss(self) -> Tensor:
        return self.entropy_bottleneck.loss()

    # ------------------------------------------------------------------ coding
    def prepare_for_coding(self) -> None:
        """Build the CDF tables if missing and forget cached integer weights.

        Shipped weights carry the tables, so loading never recomputes them (a
        recomputation on another machine could differ).
        """
        if self.entropy_bottleneck._quantized_cdf.numel() == 0:
            self.entropy_bottleneck.update(force=True)
        if self.context.gaussian._quantized_cdf.numel() == 0:
            self.context.gaussian.update()
        self.context._tables = None
        invalidate_exact_caches(self)

    def analyse(self, x: Tensor) -> Tensor:
        # channels_last: faster on CPU, and oneDNN then gives the same floats for any thread count
        return self.g_a(x.contiguous(memory_format=torch.channels_last))

    def compress_latent(self, y: Tensor, q: Tensor) -> LatentCode:
        """Entropy-code a latent at quality map q. Cheap relative to g_a: rate control calls it repeatedly."""
        y_s = y * self.gain(q)
        z = self.h_a(y_s)
        z_string = self.entropy_bottleneck.compress(z)[0]
        z_hat = self.entropy_bottleneck.decompress([z_string], z.shape[-2:])
        hyper = self.h_s.forward_exact(to_fixed(z_hat))
        y_strings, y_hat_int = self.context.compress(y_s, hyper)
        return LatentCode(z_string, y_strings, (y.shape[2], y.shape[3]), y_hat_int)

    def decompress_latent(self, z_string: bytes, y_strings: list[bytes], latent_shape: tuple[int, int]) -> Tensor:
        h, w = latent_shape
        z_shape = ((h + 3) // 4, (w + 3) // 4)
        z_hat = self.entropy_bottleneck.decompress([z_string], z_shape)
        hyper = self.h_s.forward_exact(to_fixed(z_hat))[:, :, :h, :w]
        return self.context.decompress(y_strings, hyper, (h, w))

    def synthesise(self, y_hat_int: Tensor, q: Tensor) -> Tensor:
        y_hat_s = (from_fixed(y_hat_int).float() * self.inverse_gain(q)).contiguous(memory_format=torch.channels_last)
        return self.g_s(y_hat_s).clamp_(0, 1)
