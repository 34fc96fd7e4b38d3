"""The least-squares inverse of ``scaling.resample``: the picture whose resampling is nearest a given one.

A picture coded at another size crosses ``resample`` twice, once each way, and bicubic resampling
down does not undo bicubic resampling up: on Kodak, a 2x round trip alone blurs the picture to about
40 dB, and the decoder lost 1.7 dB at 2 bpp to it (docs/results.md, "Resampling back by least
squares"). Where one side's resampling is fixed (the encoder's upsampling of a picture coded larger,
the decoder's upsampling of one coded smaller), the other side does best with the picture that the
fixed resampling maps nearest its target:

    x* = argmin_x || resample(x, to: y's size) - y ||^2

``resample`` is separable, one sparse matrix per axis (bicubic with antialiasing: at most 4 taps per
output sample when upsampling), so x* = pinv(U_h) y pinv(U_w)^T, each axis's pseudo-inverse applied
by a banded Cholesky solve of its normal equations (U^T U has a band of a few diagonals). SciPy's
sparse and banded LAPACK routines run single-threaded, so the result is the same at any thread count.
No library offers the inverse of PyTorch's resampling, so it is written here.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

#: float64 values per chunk of the per-axis solves (32 MB): the memory stays that of the pictures.
CHUNK_VALUES = 1 << 22


@lru_cache(maxsize=8)
def _axis(n_in: int, n_out: int):
    """(U as a CSR matrix n_out x n_in, the banded Cholesky factor of U^T U): ``resample``'s weights along
    one axis, read off F.interpolate applied to one-hot rows (its 2-D resampling is one axis after the other,
    the same weights along either axis; the rows are two pixels high, since a side of 1 went wrong in
    PyTorch 2.14's antialiased bicubic)."""
    import scipy.linalg
    import scipy.sparse

    blocks = []
    step = max(1, CHUNK_VALUES // max(n_out, 1))
    for j0 in range(0, n_in, step):
        j1 = min(j0 + step, n_in)
        onehot = torch.zeros((j1 - j0, 1, 2, n_in), dtype=torch.float64)
        onehot[torch.arange(j1 - j0), 0, :, torch.arange(j0, j1)] = 1.0
        rows = F.interpolate(onehot, size=(2, n_out), mode="bicubic", align_corners=False, antialias=True)
        blocks.append(scipy.sparse.csc_matrix(rows[:, 0, 0, :].T.numpy()))
    u = scipy.sparse.hstack(blocks).tocsr()
    normal = (u.T @ u).tocoo()
    band = int(np.abs(normal.row - normal.col).max())
    upper = np.zeros((band + 1, n_in))
    keep = normal.col >= normal.row
    upper[band + normal.row[keep] - normal.col[keep], normal.col[keep]] = normal.data[keep]
    return u, scipy.linalg.cholesky_banded(upper)


def _solve_axis0(y: np.ndarray, n_in: int) -> np.ndarray:
    """(n_out, k) -> (n_in, k) float32: the least-squares inverse of the resampling n_in -> n_out, by
    column chunks."""
    import scipy.linalg

    u, factor = _axis(n_in, y.shape[0])
    out = np.empty((n_in, y.shape[1]), dtype=np.float32)
    step = max(1, CHUNK_VALUES // max(y.shape[0], 1))
    for c0 in range(0, y.shape[1], step):
        rhs = u.T @ y[:, c0:c0 + step].astype(np.float64)
        out[:, c0:c0 + step] = scipy.linalg.cho_solve_banded((factor, False), rhs)
    return out


def inverse_resample(y: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(1, C, h, w) -> (1, C, height, width) in [0, 1]: the picture whose ``scaling.resample`` to (h, w) is
    nearest ``y`` in least squares (each side at most as large as y's: resample then upsamples)."""
    _, c, h, w = y.shape
    if (h, w) == (height, width):
        return y
    if height > h or width > w:
        raise ValueError("the inverse of a resampling takes the picture to a size no larger than its own")
    # at most three float32 pictures alive at a time (bitstream.INVERSE_RESAMPLE_BYTES_PER_PIXEL)
    rows = y[0].detach().float().cpu().numpy().transpose(1, 0, 2).reshape(h, c * w)  # (h, C*w)
    z = _solve_axis0(rows, height).reshape(height, c, w)  # rows solved
    del rows
    cols = np.ascontiguousarray(z.transpose(2, 1, 0)).reshape(w, c * height)  # (w, C*height)
    del z
    x = _solve_axis0(cols, width).reshape(width, c, height)
    del cols
    return torch.from_numpy(np.ascontiguousarray(x.transpose(1, 2, 0)))[None].to(y.device).clamp_(0, 1)
