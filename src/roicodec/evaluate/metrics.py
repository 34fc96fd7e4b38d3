"""Image-quality metrics on 8-bit images (0-255 arrays or PIL images)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def _pixels(x: np.ndarray | Image.Image) -> np.ndarray:
    """float64 pixels of an array, or of a PIL image converted to RGB (grayscale, palette, RGBA...)."""
    if isinstance(x, Image.Image):
        x = x.convert("RGB")
    return np.asarray(x, dtype=np.float64)


def psnr(a: np.ndarray | Image.Image, b: np.ndarray | Image.Image, region: np.ndarray | None = None) -> float:
    """PSNR-RGB in dB over all pixels, or over a boolean (H, W) region (region-wise PSNR, as the seeds report).

    The project's one PSNR for 8-bit pictures (peak 255), so that the benchmarks, `roicodec eval` and the
    tests score alike. inf where the pictures are equal, nan over an empty region.
    """
    d = _pixels(a) - _pixels(b)
    if region is not None:
        if not region.any():
            return float("nan")
        d = d[region]
    mse = float(np.mean(d**2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def bpp(num_bytes: int, width: int, height: int) -> float:
    return 8.0 * num_bytes / (width * height)
