"""Entropy-parameter networks that give bit-identical outputs on every machine.

Learned codecs break when the encoder and the decoder compute slightly different
Gaussian means or scales (CompressAI issues #279, #309, #320): a different scale
picks a different CDF and the rANS decoder goes astray. Float convolutions are not
reproducible across thread counts or devices because the order of the additions
changes. We avoid that without writing kernels: at inference every activation and
weight is an integer held in a float64 tensor, so every partial sum of a convolution
is an integer below 2**53 and therefore exact in *any* summation order. The
non-linearities (ReLU, a power-of-two rescale with floor) are exact too.

Training uses the plain float layers; the integer path only rounds weights to
12 significant bits and activations to 1/256, which changes the entropy parameters
by far less than their own learning noise.

No maintained library offers this (CompressAI's models use float parameter nets),
so it is written here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Activations are fixed point with this many fractional bits.
ACT_FRAC_BITS = 8
ACT_ONE = float(2**ACT_FRAC_BITS)
#: Largest activation magnitude in integer units (|x| < 2**10 in real units).
ACT_LIMIT = float(2**18 - 1)
#: Weights are scaled per layer so that |w_int| < 2**WEIGHT_BITS.
WEIGHT_BITS = 12
#: Products are < 2**30 and fan-in below 2**13, so sums stay < 2**43: exact in float64
#: with a wide margin even for FFT or Winograd convolution algorithms (we round after).
MAX_FAN_IN = 2**13


def to_fixed(x: Tensor) -> Tensor:
    """Real-valued tensor -> integer-valued float64 activations (deterministic: one IEEE op each)."""
    return torch.round(x.double() * ACT_ONE).clamp_(-ACT_LIMIT, ACT_LIMIT)


def from_fixed(x: Tensor) -> Tensor:
    """Integer-valued float64 activations -> real values (exact: division by a power of two)."""
    return x / ACT_ONE


class ExactConv2d(nn.Conv2d):
    """A Conv2d (optionally with a fixed 0/1 weight mask) that also has an exact integer path."""

    def __init__(self, *args, mask: Tensor | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        fan_in = self.weight[0].numel()
        if fan_in > MAX_FAN_IN:
            raise ValueError(f"fan-in {fan_in} too large for exact arithmetic")
        if mask is not None:
            self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)
        else:
            self.mask = None
        self._cache: tuple[Tensor, Tensor | None, float] | None = None

    def masked_weight(self) -> Tensor:
        return self.weight * self.mask if self.mask is not None else self.weight

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.masked_weight(), self.bias)

    def invalidate(self) -> None:
        self._cache = None

    def _quantised(self, device: torch.device | None = None) -> tuple[Tensor, Tensor | None, float]:
        if self._cache is None or (device is not None and self._cache[0].device != device):
            w = self.masked_weight().detach().double().contiguous()
            wmax = float(w.abs().max().clamp_min(1e-30))
            shift = WEIGHT_BITS - math.ceil(math.log2(wmax) + 1e-12)
            if self.bias is not None:
                bmax = float(self.bias.detach().abs().max().clamp_min(1e-30))
                # keep |b_int| < 2**44 so the sum stays far from 2**53
                shift = min(shift, 44 - ACT_FRAC_BITS - math.ceil(math.log2(bmax) + 1e-12))
            w_int = torch.round(w * 2.0**shift)
            b_int = None
            if self.bias is not None:
                b_int = torch.round(self.bias.detach().double() * 2.0 ** (shift + ACT_FRAC_BITS))
            if device is not None:
                w_int = w_int.to(device)
                b_int = b_int.to(device) if b_int is not None else None
            self._cache = (w_int, b_int, 2.0**shift)
        return self._cache

    def _integer_op(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    def accumulate(self, x: Tensor, in_channels: slice | None = None, bias: bool = True) -> Tensor:
        """Integer sum of the layer before rescaling; partial sums over input-channel
        slices add up exactly, so a fixed part of the input can be computed once."""
        w_int, b_int, _ = self._quantised(x.device)
        if in_channels is not None:
            w_int = w_int[:, in_channels] if isinstance(self, ExactConv2d) else w_int[in_channels]
        y = self._integer_op(x, w_int, b_int if bias else None)
        if y.is_cuda:  # cuDNN may pick FFT/Winograd with sub-unit error: snap back to integers
            y = torch.round(y)
        return y

    def accumulate_points(self, x: Tensor, in_channels: slice | None = None, bias: bool = True) -> Tensor:
        """A 1x1 layer's integer sums at chosen positions only: ``x`` is (C, N), one column per position.
        The same integers as ``accumulate`` gives there (any summation order is exact), for the work of
        the positions that need them: a checkerboard pass needs half."""
        if self.kernel_size != (1, 1) or self.groups != 1:
            raise ValueError("only a 1x1 layer runs on points")
        w_int, b_int, _ = self._quantised(x.device)
        w = w_int[:, :, 0, 0] if in_channels is None else w_int[:, in_channels, 0, 0]
        y = w @ x
        if bias and b_int is not None:
            y += b_int[:, None]
        if y.is_cuda:
            y = torch.round(y)
        return y

    def finish(self, acc: Tensor, relu: bool = False) -> Tensor:
        """Rescale to activation fixed point (exact: power-of-two scale, floor) and clamp."""
        _, _, scale = self._quantised(acc.device)
        return acc.mul_(1.0 / scale).floor_().clamp_(0.0 if relu else -ACT_LIMIT, ACT_LIMIT)

    def forward_exact(self, x: Tensor, relu: bool = False) -> Tensor:
        return self.finish(self.accumulate(x), relu)


class ExactConvTranspose2d(nn.ConvTranspose2d):
    """A ConvTranspose2d with the same exact integer path as ExactConv2d."""

    mask = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._cache: tuple[Tensor, Tensor | None, float] | None = None

    def masked_weight(self) -> Tensor:
        return self.weight

    def _integer_op(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return F.conv_transpose2d(x, w, b, self.stride, self.padding, self.output_padding, self.groups, self.dilation)

    invalidate = ExactConv2d.invalidate
    _quantised = ExactConv2d._quantised
    accumulate = ExactConv2d.accumulate
    finish = ExactConv2d.finish
    forward_exact = ExactConv2d.forward_exact


class ExactSequential(nn.Sequential):
    """Sequence of exact convolutions and ReLUs with a float path and an exact path."""

    def __init__(self, *layers: nn.Module) -> None:
        for layer in layers:
            if not isinstance(layer, (ExactConv2d, ExactConvTranspose2d, nn.ReLU)):
                raise TypeError(f"{type(layer).__name__} has no exact path")
        super().__init__(*layers)

    def forward_exact(self, x: Tensor, start: int = 0, points: bool = False) -> Tensor:
        """Exact path from layer ``start`` on; a ReLU is fused into the preceding clamp. With ``points``,
        ``x`` is (C, N), one column per chosen position, and the layers are 1x1 (accumulate_points)."""
        layers = list(self)[start:]
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.ReLU):
                x = x.clamp_min(0.0) if i == 0 else x
                continue
            relu = i + 1 < len(layers) and isinstance(layers[i + 1], nn.ReLU)
            x = layer.finish(layer.accumulate_points(x), relu) if points else layer.forward_exact(x, relu=relu)
        return x


def invalidate_exact_caches(module: nn.Module) -> None:
    """Forget quantised weights after the float weights change (load or training step)."""
    for m in module.modules():
        if isinstance(m, (ExactConv2d, ExactConvTranspose2d)):
            m.invalidate()
