"""Importance map -> per-block importance -> quality map.

The combined importance is smoothed (seed 001 smooths its saliency
map with a wide filter so that block edges do not show), averaged per 16x16 block and
quantised to 1/16 so it can be signalled in the file. q = base + strength * I.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..bitstream import BLOCK, IMPORTANCE_STEPS, latent_shape

#: Gaussian smoothing of the combined importance, in pixels.
SMOOTHING_SIGMA = 8.0


def block_importance(importance: np.ndarray, sigma: float = SMOOTHING_SIGMA) -> np.ndarray:
    """(H, W) float [0,1] -> uint8 (h_blocks, w_blocks) in 0..16 over the padded image."""
    h, w = importance.shape
    hb, wb = latent_shape(h, w)
    imp = importance.astype(np.float32)
    if sigma > 0:
        imp = cv2.GaussianBlur(imp, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    padded = np.pad(imp, ((0, hb * BLOCK - h), (0, wb * BLOCK - w)), mode="edge")
    blocks = padded.reshape(hb, BLOCK, wb, BLOCK).mean(axis=(1, 3))
    return np.clip(np.round(blocks * IMPORTANCE_STEPS), 0, IMPORTANCE_STEPS).astype(np.uint8)


def quality_map(base: float, strength: float, blocks: np.ndarray | None, shape: tuple[int, int], levels: int,
                min_level: float = 0.0) -> torch.Tensor:
    """The decoder's quality map, (1, 1, h, w) float32; identical on both sides by construction."""
    if blocks is None:
        q = torch.full((1, 1, *shape), float(base), dtype=torch.float32)
    else:
        imp = torch.from_numpy(blocks.astype(np.float32) / IMPORTANCE_STEPS)[None, None]
        q = float(base) + float(strength) * imp
    return q.clamp_(float(min_level), float(levels - 1))
