"""The latent codec: hyperprior + channel/checkerboard context, one forward / compress / decompress triple.

CompressAI's latent codecs give every stage one interface, so a model reads like its diagram
(``compressai.latent_codecs``). Ours follows that interface but cannot reuse those classes: coding
runs on the exact integer path (``exact.py``), so that the decoder derives the encoder's CDFs bit for bit.

    y_s -> h_a -> z -> [factorised prior] -> z_hat -> h_s -> hyper
    y_s, hyper -> [channel groups x checkerboard] -> y_hat

Training, coding and encode-time refinement all go through this one module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from compressai.entropy_models import EntropyBottleneck
from torch import Tensor, nn

from .entropy import BAND_POSITIONS, ChannelCheckerboardCoder, exact_bit_sum
from .exact import invalidate_exact_caches, to_fixed
from .transforms import hyper_analysis, hyper_synthesis


#: Hyper-latent rows h_s reaches beyond a band's own (two 5x5 transposed convolutions, x2 each, and a
#: 3x3 at the latent's resolution: 1 + 1/2 + 1/4 rounded up, with a margin).
HYPER_HALO = 3


@dataclass
class LatentCode:
    """What the entropy coder produced for one image (batch of one)."""

    z_string: bytes
    y_strings: list[bytes]
    latent_shape: tuple[int, int]
    y_hat_int: Tensor  # exact fixed-point latent, for tests and reconstruction


@dataclass
class LatentOutput:
    """The float path's result: the latent the synthesis sees and the likelihoods the rate is read from."""

    y_hat: Tensor  # straight-through rounded
    likelihoods: dict[str, Tensor]  # "y" (noise or rounding, see forward) and "z"
    #: With ``rounded_rate``: the likelihoods of the rounded latent, without gradient (the rate a file has).
    y_rounded_likelihoods: Tensor | None = None


def hyper_z_shape(latent_shape: tuple[int, int]) -> tuple[int, int]:
    """The hyper-latent's size for a latent of this size (two stride-2 steps, rounded up)."""
    h, w = latent_shape
    return (h + 3) // 4, (w + 3) // 4


class HyperpriorContextCodec(nn.Module):
    """Entropy model and coder of the gain-scaled latent y_s."""

    def __init__(self, n: int, m: int) -> None:
        super().__init__()
        self.h_a = hyper_analysis(n, m)
        self.h_s = hyper_synthesis(n, m)
        self.entropy_bottleneck = EntropyBottleneck(n)
        self.context = ChannelCheckerboardCoder(m, hyper_channels=2 * m)

    @property
    def groups(self) -> int:
        """Number of latent channel groups, one rANS stream each (the file states it)."""
        return len(self.context.groups)

    # ------------------------------------------------------------------ float path
    def forward(self, y_s: Tensor, noise: bool | None = None, rounded_rate: bool = False,
                hyper_grad: bool = True) -> LatentOutput:
        """Training and refinement path. ``noise`` (default: in training mode) takes the y-likelihoods
        under additive noise, a differentiable proxy of rounding. ``hyper_grad=False`` treats the
        hyperprior as fixed (refinement optimises the latent, not what the hyperprior says of it)."""
        with torch.set_grad_enabled(hyper_grad and torch.is_grad_enabled()):
            z = self.h_a(y_s)
            with torch.autocast(device_type=y_s.device.type, enabled=False):  # likelihoods need fp32
                z_hat, z_lik = self.entropy_bottleneck(z.float())
            hyper = self.h_s(z_hat)
        y_hat, y_lik, rounded = self.context(y_s, hyper, noise=noise, rounded_rate=rounded_rate)
        return LatentOutput(y_hat, {"y": y_lik, "z": z_lik}, rounded)

    def aux_loss(self) -> Tensor:
        return self.entropy_bottleneck.loss()

    # ------------------------------------------------------------------ exact coding path
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
        self.context._costs = None
        invalidate_exact_caches(self)

    def compress(self, y_s: Tensor) -> LatentCode:
        """Entropy-code a gain-scaled latent. Cheap relative to g_a: rate control calls it repeatedly."""
        z = self.h_a(y_s)
        z_string = self.entropy_bottleneck.compress(z)[0]
        z_hat = self.entropy_bottleneck.decompress([z_string], z.shape[-2:])
        y_strings, y_hat_int = self.context.compress(y_s, self.hyper(z_hat, (y_s.shape[2], y_s.shape[3])))
        return LatentCode(z_string, y_strings, (y_s.shape[2], y_s.shape[3]), y_hat_int)

    def estimate_payloads(self, y_s: Tensor) -> tuple[float, list[float]]:
        """(z payload, each group's payload) in bits as ``compress`` would write them, by the float networks
        under the caller's autocast: a rate-control trial at a fraction of the exact path's cost.

        h_s runs in float32 whatever the autocast: oneDNN's bf16 transposed convolutions gave other sums
        on 1 and 2 threads (as in the high-rate synthesis, hardware.BF16_SYNTHESIS_TRANSFORMS), and the
        levels rate control tries, hence the file, must not depend on the thread count."""
        z = self.h_a(y_s)
        with torch.autocast(device_type=y_s.device.type, enabled=False):  # likelihoods need fp32
            z_hat, z_lik = self.entropy_bottleneck(z.float(), training=False)
            z_bits = exact_bit_sum(-torch.log2(z_lik))
            hyper = self.h_s(z_hat)
        return z_bits, self.context.estimate_bits(y_s, hyper)

    def decompress(self, z_string: bytes, y_strings: list[bytes], latent_shape: tuple[int, int]) -> Tensor:
        """The exact latent (fixed-point integers in float64) of a file's payloads."""
        h, w = latent_shape
        z_hat = self.entropy_bottleneck.decompress([z_string], hyper_z_shape(latent_shape))
        return self.context.decompress(y_strings, self.hyper(z_hat, (h, w)), (h, w))

    def hyper(self, z_hat: Tensor, latent_shape: tuple[int, int]) -> Tensor:
        """h_s's exact features over the latent, (1, 2M, h, w), in float32 (which holds the fixed-point
        integers, |x| < 2**18, exactly), computed in bands of hyper-latent rows grown by h_s's reach
        (HYPER_HALO): integer-exact convolutions give the whole-tensor values, with a band's memory."""
        h, w = latent_shape
        zh = z_hat.shape[2]
        rows = max(1, BAND_POSITIONS // (16 * max(z_hat.shape[3], 1)))
        out: Tensor | None = None
        for z0 in range(0, zh, rows):
            z1 = min(z0 + rows, zh)
            a0, a1 = max(z0 - HYPER_HALO, 0), min(z1 + HYPER_HALO, zh)
            band = self.h_s.forward_exact(to_fixed(z_hat[:, :, a0:a1]))
            if out is None:
                out = torch.empty((1, band.shape[1], h, w), dtype=torch.float32, device=band.device)
            r0, r1 = 4 * z0, min(4 * z1, h)
            out[:, :, r0:r1] = band[:, :, 4 * (z0 - a0):4 * (z0 - a0) + r1 - r0, :w]
        return out
