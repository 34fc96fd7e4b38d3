"""Run a convolutional transform over overlapping tiles, so that memory follows the tile, not the picture.

The transforms are stacks of local convolutions (strided, transposed or sub-pixel, GDN, CompressAI's
AttentionBlock, whose "attention" is 1x1 and 3x3 convolutions). An output position therefore depends only
on inputs within the transform's receptive field, ``halo`` latent positions either way. ``run_tiled``
cuts the input on the latent grid into tiles of ``tile`` x ``tile`` latent positions, runs the
transform on each tile grown by ``halo`` on every side (clipped at the picture's edges, where the
untiled run pads the same way), and keeps the output of the tile's own part. With a halo at least the
receptive field, every kept output sees exactly the inputs it sees untiled, so the result equals the
untiled run up to the float arithmetic of the convolutions on another tensor size (tests/test_tiling.py
measures it: identical bytes of the decoded 8-bit picture for both shipped syntheses).

One grid serves both directions: a latent position is ``unit_in`` input and ``unit_out`` output samples
(synthesis 1 -> 16, analysis 16 -> 1). Tiles align to the latent grid, so strided layers see the
same phase as untiled. Pictures no larger than one tile run untiled (no cost for small pictures).
"""

from __future__ import annotations

import ctypes
import functools
from typing import Callable, Sequence

import torch
from torch import Tensor

from ..progress import report

#: Default largest tile side in latent positions: 96 x 16 = 1536 pixels, at most 2.4 MP of output per
#: tile (3.2 MP with the synthesis's halo); a Kodak or Full-HD picture is one tile, i.e. runs untiled.
#: Tiles split a side evenly (tile_bounds): 3840x2160 runs as 3 x 2 tiles of 80 x 68 positions.
TILE = 96


#: glibc's M_MMAP_THRESHOLD (mallopt parameter -3) and the value bound_heap sets.
_M_MMAP_THRESHOLD, MMAP_THRESHOLD = -3, 4 << 20


@functools.cache
def bound_heap() -> None:
    """Let freed big tensors go back to the system (glibc only; elsewhere nothing happens).

    glibc raises its mmap threshold as big blocks are freed (up to 32 MiB), so the tiles' and bands'
    tensors of a few MB then come from the heap, which fragments and does not shrink: at 3840x2160 the
    decode's peak grew by ~260 MiB that way. A fixed threshold of 4 MiB maps each big tensor on its own
    and unmaps it when freed. Called where a picture is big enough to be tiled or banded, so small
    pictures run as before; process-wide, and harmless for the rest of the process.
    """
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):
        pass


def tile_bounds(size: int, tile: int) -> list[tuple[int, int]]:
    """The fewest tiles of at most ``tile`` positions along a side of ``size``, of nearly equal sizes
    (4K's 136 latent rows are two tiles of 68, not 96 + 40): the smallest tiles for that count."""
    n = -(-size // tile)
    step = -(-size // n)
    return [(a, min(a + step, size)) for a in range(0, size, step)]


def run_tiled(fn: Callable[..., Tensor], inputs: Sequence[Tensor], *, halo: int, tile: int | None = TILE,
              unit_in: int = 1, unit_out: int = 16, stage: str = "transform") -> Tensor:
    """``fn(*inputs)`` computed tile by tile.

    ``inputs`` are (1, C_i, H_i, W_i) tensors on one latent grid: input i has ``H_i = h * unit_in``
    rows for h latent rows (a per-position map such as a quality map may have unit 1 beside a picture
    of unit 16: pass it at the same unit as the others, or give ``fn`` a closure). ``fn`` maps inputs of
    h x w latent positions to one output of ``h * unit_out`` x ``w * unit_out``. ``tile=None`` (or a
    picture within one tile) runs ``fn`` once on the whole inputs. Each tile done is reported as a unit
    of ``stage`` (progress.py).
    """
    h, w = inputs[0].shape[-2] // unit_in, inputs[0].shape[-1] // unit_in
    if tile is None or (h <= tile and w <= tile):
        report(stage, 0, 1)
        out = fn(*inputs)
        report(stage, 1, 1)
        return out
    if tile < 1 or halo < 0:
        raise ValueError("tile must be at least 1 and halo at least 0")
    bound_heap()
    out: Tensor | None = None
    tiles, done = len(tile_bounds(h, tile)) * len(tile_bounds(w, tile)), 0
    report(stage, 0, tiles)
    for r0, r1 in tile_bounds(h, tile):
        a0, a1 = max(r0 - halo, 0), min(r1 + halo, h)
        for c0, c1 in tile_bounds(w, tile):
            b0, b1 = max(c0 - halo, 0), min(c1 + halo, w)
            crops = [x[..., a0 * unit_in:a1 * unit_in, b0 * unit_in:b1 * unit_in] for x in inputs]
            y = fn(*crops)
            if out is None:
                channels_last = y.dim() == 4 and y.is_contiguous(memory_format=torch.channels_last)
                out = torch.empty((*y.shape[:-2], h * unit_out, w * unit_out), dtype=y.dtype, device=y.device,
                                  memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            out[..., r0 * unit_out:r1 * unit_out, c0 * unit_out:c1 * unit_out] = y[
                ..., (r0 - a0) * unit_out:(r1 - a0) * unit_out, (c0 - b0) * unit_out:(c1 - b0) * unit_out]
            del y
            done += 1
            report(stage, done, tiles)
    return out
