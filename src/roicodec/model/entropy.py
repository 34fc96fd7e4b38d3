"""Channel groups x checkerboard context: parallel entropy model for the latent.

The latent is split into ELIC's uneven groups. Each group is coded in two halves of a
checkerboard: anchors first, then non-anchors whose parameters also see the decoded
anchors. A group's Gaussian mean and scale come from the hyperprior and all earlier
groups. Every step runs over the whole tensor; nothing loops per pixel.

Coding uses CompressAI's GaussianConditional tables and its rANS coder. The parameter
networks run on the exact integer path (see ``exact.py``) so encoder and decoder derive
identical CDF indexes and means on any machine. Means live on a 1/256 grid, so the
dequantised latent ``symbol + mean`` is exact as well.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import GaussianConditional
from torch import Tensor, nn

from .exact import ACT_ONE, ExactConv2d, ExactSequential, from_fixed
from ..progress import report
from .tiling import bound_heap

SIGMA_MIN, SIGMA_MAX, SIGMA_LEVELS = 0.11, 256.0, 64
#: Latent positions per band of the coding-time parameter networks (``_group_params``): a picture up to
#: 4 MP (Full HD) is one band; larger ones need the memory of a band, not of the picture. Smaller bands
#: cost time (the context's halo rows are computed twice) for no lower peak at 3840x2160.
BAND_POSITIONS = 16384
#: Up to this many latent positions (16 MP) the bands' first aggregation sums (2 KB a position) are kept
#: for the second checkerboard pass; above, they are computed again (memory over time).
KEEP_FIXED_POSITIONS = 1 << 16
#: Rows a band reaches beyond its own: the channel context's two 3x3 and the spatial context's 5x5.
CONTEXT_HALO = 2


def exact_bit_sum(bits: Tensor) -> float:
    """The sum of per-symbol costs in bits, on a grid of 2**-16 bits in integers: a float sum's order, and
    with it its last digits, changes with the thread count; an integer sum's does not."""
    return float(torch.round(bits.double() * 65536).long().sum()) / 65536


def _run(layers: list[nn.Module], x: Tensor) -> tuple[Tensor, Tensor]:
    """The aggregation's layers after its first, on the float path: (means, scales) in float32."""
    for layer in layers:
        x = layer(x)
    means, scales = x.float().chunk(2, dim=1)
    return means, scales


def elic_groups(m: int) -> list[int]:
    """ELIC's uneven channel split 16/16/32/64/rest (no rest for a 128-channel latent)."""
    groups = [16, 16, 32, 64]
    if m < sum(groups):
        raise ValueError("latent needs at least 128 channels for ELIC groups")
    return groups + ([m - sum(groups)] if m > sum(groups) else [])


def checkerboard_mask(h: int, w: int, device=None) -> Tensor:
    """1 on anchor positions ((i + j) even), 0 elsewhere; shape (1, 1, h, w)."""
    ii = torch.arange(h, device=device)[:, None]
    jj = torch.arange(w, device=device)[None, :]
    return ((ii + jj) % 2 == 0).to(torch.float32)[None, None]


def _checkerboard_kernel_mask(c_out: int, c_in: int, k: int) -> Tensor:
    """Spatial context kernel sees only positions of the other checkerboard colour."""
    a = torch.arange(k)
    m = ((a[:, None] + a[None, :]) % 2 == 1).float()
    return m.expand(c_out, c_in, k, k).clone()


class ChannelCheckerboardCoder(nn.Module):
    """Entropy model of the (gain-scaled) latent given hyperprior features."""

    def __init__(self, m: int, hyper_channels: int, ctx_hidden: int = 128, agg_hidden: int = 256) -> None:
        super().__init__()
        self.groups = elic_groups(m)
        self.channel_ctx = nn.ModuleList()
        self.spatial_ctx = nn.ModuleList()
        self.aggregate = nn.ModuleList()
        prev = 0
        for c in self.groups:
            if prev:
                self.channel_ctx.append(
                    ExactSequential(
                        ExactConv2d(prev, ctx_hidden, 3, padding=1),
                        nn.ReLU(),
                        ExactConv2d(ctx_hidden, 2 * c, 3, padding=1),
                    )
                )
            self.spatial_ctx.append(
                ExactSequential(ExactConv2d(c, 2 * c, 5, padding=2, mask=_checkerboard_kernel_mask(2 * c, c, 5)))
            )
            n_in = hyper_channels + (2 * c if prev else 0) + 2 * c
            self.aggregate.append(
                ExactSequential(
                    ExactConv2d(n_in, agg_hidden, 1),
                    nn.ReLU(),
                    ExactConv2d(agg_hidden, agg_hidden * 3 // 4, 1),
                    nn.ReLU(),
                    ExactConv2d(agg_hidden * 3 // 4, 2 * c, 1),
                )
            )
            prev += c
        scale_table = torch.exp(torch.linspace(torch.log(torch.tensor(SIGMA_MIN)), torch.log(torch.tensor(SIGMA_MAX)), SIGMA_LEVELS))
        self.gaussian = GaussianConditional(scale_table.tolist())
        self._tables: tuple[list, list, list] | None = None
        self._costs: tuple[Tensor, Tensor, Tensor] | None = None

    # ------------------------------------------------------------------ training
    def forward(self, y: Tensor, hyper: Tensor, noise: bool | None = None,
                rounded_rate: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
        """Float path. Returns (y_hat with straight-through rounding, likelihoods, and with
        ``rounded_rate`` the likelihoods of the rounded latent, without gradient: the rate a file has).

        The likelihoods follow additive noise when ``noise`` (default: in training mode), a
        differentiable proxy of rounding; encode-time refinement uses it in an eval-mode model.
        """
        anchor = checkerboard_mask(y.shape[2], y.shape[3], y.device)
        y_hats, liks, rounded = [], [], []
        for k, y_k in enumerate(y.split(self.groups, dim=1)):
            feats = [hyper]
            if k:
                feats.append(self.channel_ctx[k - 1](torch.cat(y_hats, dim=1)))
            # The anchors' own parameters must not see themselves; only the non-anchors
            # use the spatial context. Anchor positions of the context are zero by
            # construction of the kernel mask, exactly as in the two-pass decoder.
            y_anchor_hat = self._ste_round(y_k, *self._params(k, feats, None)) * anchor
            means, scales = self._params(k, feats, y_anchor_hat)
            with torch.autocast(device_type=y.device.type, enabled=False):  # likelihoods need fp32
                _, lik = self.gaussian(y_k.float(), scales.float(), means.float(), training=noise)
                if rounded_rate:
                    with torch.no_grad():
                        rounded.append(self.gaussian(y_k.float(), scales.float(), means.float(), training=False)[1])
            y_hats.append(self._ste_round(y_k, means, scales))
            liks.append(lik)
        return torch.cat(y_hats, dim=1), torch.cat(liks, dim=1), torch.cat(rounded, dim=1) if rounded_rate else None

    @staticmethod
    def _ste_round(y: Tensor, means: Tensor, scales: Tensor) -> Tensor:
        return y + (torch.round(y - means) + means - y).detach()

    def _params(self, k: int, feats: list[Tensor], y_anchor_hat: Tensor | None) -> tuple[Tensor, Tensor]:
        if y_anchor_hat is None:
            y_anchor_hat = torch.zeros_like(feats[0][:, : self.groups[k]])
        sp = self.spatial_ctx[k](y_anchor_hat)
        out = self.aggregate[k](torch.cat(feats + [sp], dim=1))
        means, scales = out.chunk(2, dim=1)
        return means, scales

    # ------------------------------------------------------------------ coding
    def _coding_tables(self) -> tuple[list, list, list]:
        """(CDF rows, their lengths, offsets) as CompressAI's rANS coder takes them. Each row is cut to its
        length: the coder reads no further, and pybind11 converts every row on every call, so the padded
        table (64 rows of 3133) cost 1.9 ms a call, twenty calls a decode; cut, 27 256 values, 0.3 ms."""
        if self._tables is None:
            g = self.gaussian
            if g._quantized_cdf.numel() == 0:
                g.update()
            lengths = g._cdf_length.reshape(-1).int().tolist()
            self._tables = (
                [row[:n] for row, n in zip(g._quantized_cdf.tolist(), lengths)],
                lengths,
                g._offset.reshape(-1).int().tolist(),
            )
        return self._tables

    def _exact_fixed_part(self, k: int, feats: list[Tensor]) -> Tensor:
        """First aggregation layer over hyperprior + channel context: the same for both
        checkerboard passes, so it is computed once per group (integer sums add exactly)."""
        fixed = torch.cat(feats, dim=1)
        return self.aggregate[k][0].accumulate(fixed, slice(0, fixed.shape[1]), bias=True)

    def _exact_params(self, k: int, fixed_acc: Tensor, anchor_hat_int: Tensor, sel: Tensor, anchors: bool,
                      top: int = 0) -> tuple[Tensor, Tensor]:
        """Exact integer path at the positions ``sel`` ((rows, w) bool, the rows of ``fixed_acc``) of one
        checkerboard pass: (means_int, cdf indexes), both (c, N) with the positions in row-major order.
        ``anchor_hat_int`` may carry ``top`` rows above ``fixed_acc``'s and rows below them (a band's halo).

        Only the pass's own positions run through the 1x1 aggregation (half the work), and the anchors'
        pass, whose spatial context sees no decoded anchor yet, takes that context's bias instead of
        convolving zeros: the same integers as the whole-tensor computation, at the positions coded."""
        first, spatial = self.aggregate[k][0], self.spatial_ctx[k][0]
        fixed = fixed_acc[0][:, sel]
        if anchors:
            _, b_int, _ = spatial._quantised(fixed.device)
            bias = b_int if b_int is not None else torch.zeros(spatial.out_channels, dtype=fixed.dtype, device=fixed.device)
            sp = spatial.finish(bias[:, None].expand(-1, fixed.shape[1]).clone())
        else:
            sp = self._spatial_points(k, anchor_hat_int, sel, top)
        acc = fixed + first.accumulate_points(sp, slice(first.in_channels - sp.shape[0], None), bias=False)
        out = self.aggregate[k].forward_exact(first.finish(acc, relu=True), start=2, points=True)
        means_int, scales_int = out.chunk(2, dim=0)
        table = self.gaussian.scale_table.double().to(out.device)
        # index = number of table entries (all but the last) strictly below the scale,
        # identical to GaussianConditional.build_indexes but in exact float64.
        indexes = torch.searchsorted(table[:-1].contiguous(), from_fixed(scales_int).contiguous().view(-1))
        return means_int, indexes.view_as(scales_int)

    def _spatial_points(self, k: int, anchor_hat_int: Tensor, sel: Tensor, top: int) -> Tensor:
        """The spatial context's exact output at the positions ``sel`` ((rows, w) bool) of the rows from
        ``top`` of ``anchor_hat_int``, (2c, N) in row-major order: the 12 taps its checkerboard mask keeps,
        gathered at those positions and summed by one matrix product. The convolution over the whole band
        gave the same integers (any summation order is exact) for four times the work: 25 taps everywhere,
        where a pass needs 12 at half the positions."""
        spatial = self.spatial_ctx[k][0]
        w_int, b_int, _ = spatial._quantised(anchor_hat_int.device)
        taps = spatial.mask[0, 0].nonzero().tolist()
        pad = spatial.padding[0]
        x = F.pad(anchor_hat_int[0], (pad, pad, pad, pad))
        rows, cols = sel.nonzero(as_tuple=True)
        rows = rows + top
        gathered = torch.cat([x[:, rows + a, cols + b] for a, b in taps])  # (taps x c, N)
        w = torch.cat([w_int[:, :, a, b] for a, b in taps], dim=1)  # (2c, taps x c), the same order
        acc = w @ gathered
        if b_int is not None:
            acc += b_int[:, None]
        if acc.is_cuda:
            acc = torch.round(acc)
        return spatial.finish(acc)

    def _bands(self, shape: tuple[int, int]) -> list[tuple[int, int]]:
        """Row ranges over which the parameter networks run (BAND_POSITIONS latent positions each)."""
        h, w = shape
        rows = max(1, BAND_POSITIONS // max(w, 1))
        return [(r0, min(r0 + rows, h)) for r0 in range(0, h, rows)]

    def _group_params(self, k: int, hyper: Tensor, prev: Tensor | None, anchor_hat_int: Tensor,
                      fixed: list[Tensor], sel: Tensor, anchors: bool, stage: str = "entropy coding"
                      ) -> tuple[Tensor, Tensor]:
        """(means_int, cdf indexes) of group k at the positions ``sel`` ((h, w) bool) of one checkerboard
        pass, each (c, N) in row-major order, computed band by band.

        Every network here is a local integer-exact convolution, so a band grown by the networks'
        reach (CONTEXT_HALO rows) gives exactly the whole-tensor values on its own rows, in any
        summation order: memory follows the band and the file does not change. ``hyper`` (float32,
        whose 24-bit mantissa holds the fixed-point integers exactly) and ``prev`` (the earlier groups'
        exact latent) cover the whole latent. ``fixed`` keeps each band's first aggregation sums over
        hyperprior + channel context (the same for both checkerboard passes) for the second pass, up to
        KEEP_FIXED_POSITIONS. Each band but the pass's last is reported as a unit of ``stage`` (progress.py,
        ``_report_pass``): the last completes with the pass's rANS coding.
        """
        h, w = anchor_hat_int.shape[2:]
        bands = self._bands((h, w))
        done = (2 * k + (0 if anchors else 1)) * len(bands)
        if len(bands) == 1:
            if not fixed:
                feats = [hyper.double()]
                if k:
                    feats.append(self.channel_ctx[k - 1].forward_exact(prev))
                fixed.append(self._exact_fixed_part(k, feats))
            return self._exact_params(k, fixed[0], anchor_hat_int, sel, anchors)
        bound_heap()
        means, indexes = [], []
        for b, (r0, r1) in enumerate(bands):
            a0, a1 = max(r0 - CONTEXT_HALO, 0), min(r1 + CONTEXT_HALO, h)
            if b < len(fixed):
                acc = fixed[b]
            else:
                feats = [hyper[:, :, r0:r1].double()]
                if k:
                    feats.append(self.channel_ctx[k - 1].forward_exact(prev[:, :, a0:a1])[:, :, r0 - a0:r1 - a0])
                acc = self._exact_fixed_part(k, feats)
                if h * w <= KEEP_FIXED_POSITIONS:
                    fixed.append(acc)
            m, i = self._exact_params(k, acc, anchor_hat_int[:, :, a0:a1], sel[r0:r1], anchors, r0 - a0)
            del acc
            means.append(m)
            indexes.append(i)
            if b + 1 < len(bands):
                report(stage, done + b + 1, 2 * len(self.groups) * len(bands))
        return torch.cat(means, dim=1), torch.cat(indexes, dim=1)

    def _report_pass(self, stage: str, k: int, phase: int, shape: tuple[int, int]) -> None:
        """Checkerboard pass ``phase`` of group ``k`` coded: all its bands done (progress.py)."""
        bands = len(self._bands(shape))
        report(stage, (2 * k + phase + 1) * bands, 2 * len(self.groups) * bands)

    def compress(self, y: Tensor, hyper: Tensor) -> tuple[list[bytes], Tensor]:
        """y: float latent (1, M, h, w); hyper: exact features. Returns group strings and exact y_hat."""
        cdfs, lengths, offsets = self._coding_tables()
        anchor = checkerboard_mask(y.shape[2], y.shape[3], y.device).bool()[0, 0]
        strings, y_hats = [], []
        for k, y_k in enumerate(y.split(self.groups, dim=1)):
            y_k = y_k.double()
            prev = torch.cat(y_hats, dim=1) if k else None
            fixed: list[Tensor] = []
            enc = BufferedRansEncoder()
            y_hat_int = torch.zeros_like(y_k)
            for phase, sel in ((0, anchor), (1, ~anchor)):
                means_int, idx = self._group_params(k, hyper, prev, y_hat_int, fixed, sel, phase == 0)
                symbols = torch.round(y_k[0][:, sel] - from_fixed(means_int))
                enc.encode_with_indexes(
                    symbols.reshape(-1).long().tolist(), idx.reshape(-1).tolist(), cdfs, lengths, offsets
                )
                y_hat_int[0][:, sel] = symbols.mul_(ACT_ONE).add_(means_int)
                del means_int, idx, symbols
                self._report_pass("entropy coding", k, phase, tuple(y.shape[2:]))
            strings.append(enc.flush())
            y_hats.append(y_hat_int.clamp(-2**18 + 1, 2**18 - 1))
        return strings, torch.cat(y_hats, dim=1)

    # ------------------------------------------------------------------ size estimate
    def _symbol_costs(self) -> tuple[Tensor, Tensor, Tensor]:
        """Per CDF index: each coded value's cost in bits (-log2 of its quantised probability, the escape
        last and beyond it +inf), the offset, and the escape value (``max_value`` of CompressAI's rANS)."""
        if self._costs is None:
            g = self.gaussian
            if g._quantized_cdf.numel() == 0:
                g.update()
            cdf = g._quantized_cdf.double()
            freq = (cdf[:, 1:] - cdf[:, :-1]).clamp_min(0)
            costs = -torch.log2(freq / float(1 << g.entropy_coder_precision))
            escape = g._cdf_length.reshape(-1).long() - 2
            beyond = torch.arange(costs.shape[1])[None, :] > escape[:, None]
            self._costs = (costs.masked_fill_(beyond, float("inf")).float(), g._offset.reshape(-1).long(), escape)
        return self._costs

    def _coded_bits(self, residual: Tensor, scales: Tensor) -> float:
        """Bits rANS spends on ``round(residual)`` under the CDF each scale picks: the table's cost, and for
        values beyond the table the escape and CompressAI's 4-bit bypass chunks (its rans_interface.cpp)."""
        costs, offsets, escape = self._symbol_costs()
        table = self.gaussian.scale_table.to(scales.device, torch.float32)
        idx = torch.searchsorted(table[:-1].contiguous(), scales.float().reshape(-1).contiguous())
        value = torch.round(residual.float()).reshape(-1).long() - offsets[idx]
        top = escape[idx]
        escaped = (value < 0) | (value >= top)
        bits = exact_bit_sum(costs.view(-1)[idx * costs.shape[1] + torch.where(escaped, top, value)])
        value, top = value[escaped], top[escaped]  # the few escapes: their bypass chunks
        raw = torch.where(value < 0, -2 * value - 1, 2 * (value - top))
        chunks = torch.where(raw > 0, torch.floor(torch.log2(raw.clamp_min(1).double())).long() // 4 + 1, 0)
        return bits + float((4 * (chunks + 1 + chunks // 15)).sum())

    def estimate_bits(self, y: Tensor, hyper: Tensor) -> list[float]:
        """Each group's payload in bits as ``compress`` would write it, from the float parameter networks
        (under whatever autocast the caller sets): rate control's cheap trial (ratecontrol.py). The CDF
        tables are the coder's, so the estimate misses only the float-vs-integer parameters and the
        coder's flush: a few tenths of a per cent (docs/design-decisions.md item 28).

        Each checkerboard pass runs over the whole tensor. As in ``_exact_params``, the first aggregation
        layer's sum over hyperprior + channel context is shared by both passes, and the anchors' spatial
        context is its bias."""
        anchor = checkerboard_mask(y.shape[2], y.shape[3], y.device).bool()
        bits, y_hats = [], []
        for k, y_k in enumerate(y.split(self.groups, dim=1)):
            feats = [hyper]
            if k:
                feats.append(self.channel_ctx[k - 1](torch.cat(y_hats, dim=1)))
            first, rest = self.aggregate[k][0], list(self.aggregate[k])[2:]
            spatial = self.spatial_ctx[k][0]
            n_fixed = first.in_channels - spatial.out_channels
            fixed = F.conv2d(torch.cat(feats, dim=1), first.weight[:, :n_fixed], first.bias)
            on_bias = first.weight[:, n_fixed:, 0, 0] @ spatial.bias  # the anchors' spatial context
            means_a, scales_a = _run(rest, torch.relu(fixed + on_bias.view(1, -1, 1, 1).to(fixed.dtype)))
            anchors_hat = (torch.round(y_k - means_a) + means_a) * anchor
            sp = spatial(anchors_hat)
            means_n, scales_n = _run(rest, torch.relu(fixed + F.conv2d(sp, first.weight[:, n_fixed:])))
            means = torch.where(anchor, means_a, means_n)
            scales = torch.where(anchor, scales_a, scales_n)
            bits.append(self._coded_bits(y_k - means, scales))
            y_hats.append(torch.round(y_k - means) + means)
        return bits

    def decompress(self, strings: list[bytes], hyper: Tensor, shape: tuple[int, int]) -> Tensor:
        """Inverse of compress; returns the exact y_hat in fixed point (float64 integers)."""
        if len(strings) != len(self.groups):
            raise ValueError("wrong number of latent groups")
        cdfs, lengths, offsets = self._coding_tables()
        h, w = shape
        anchor = checkerboard_mask(h, w, hyper.device).bool()[0, 0]
        y_hat = torch.empty((1, sum(self.groups), h, w), dtype=torch.float64, device=hyper.device)
        start = 0
        for k, c in enumerate(self.groups):
            prev = y_hat[:, :start] if k else None
            fixed: list[Tensor] = []
            dec = RansDecoder()
            dec.set_stream(strings[k])
            y_hat_int = torch.zeros((1, c, h, w), dtype=torch.float64, device=hyper.device)
            for phase, sel in ((0, anchor), (1, ~anchor)):
                means_int, idx = self._group_params(k, hyper, prev, y_hat_int, fixed, sel, phase == 0,
                                                    "entropy decoding")
                values = dec.decode_stream(idx.reshape(-1).tolist(), cdfs, lengths, offsets)
                del idx
                # via NumPy: a third of torch.tensor's time on the decoder's list of ints
                symbols = torch.from_numpy(np.fromiter(values, np.int32, len(values))).to(
                    hyper.device, torch.float64).view_as(means_int)
                del values
                y_hat_int[0][:, sel] = symbols.mul_(ACT_ONE).add_(means_int)
                del means_int, symbols
                self._report_pass("entropy decoding", k, phase, shape)
            y_hat[:, start:start + c] = y_hat_int.clamp_(-2**18 + 1, 2**18 - 1)
            start += c
        return y_hat
