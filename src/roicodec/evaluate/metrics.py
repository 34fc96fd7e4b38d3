"""Image-quality metrics on uint8 RGB arrays."""

from __future__ import annotations

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR-RGB in dB over all pixels, or over a boolean (H, W) region (region-wise PSNR, as the seeds report)."""
    d = a.astype(np.float64) - b.astype(np.float64)
    if region is not None:
        if not region.any():
            return float("nan")
        d = d[region]
    mse = float(np.mean(d**2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def bpp(num_bytes: int, width: int, height: int) -> float:
    return 8.0 * num_bytes / (width * height)
