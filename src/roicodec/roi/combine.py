"""Importance map -> per-block importance -> quality map.

The combined importance is smoothed (seed 001 smooths its saliency
map with a wide filter so that block edges do not show), averaged per 16x16 block and
quantised to 1/16 so it can be signalled in the file. q = base + strength * I.

Smoothing alone takes importance away from the region itself: a person 30 px wide or a
text line 12 px high keeps only part of its weight after a sigma-8 blur and a 16x16 mean.
So every block keeps at least the largest importance of any pixel in it ("cover"), and the
smoothing only adds a soft halo outside. On 4 Penn-Fudan images at 0.2 bpp, strength 5,
this raised the person PSNR from 29.2 to 30.0 dB at the same file size
(docs/design-decisions.md item 11; the study script is in commit 16f2d6d:
`git show 16f2d6d:benchmarks/roi_block_rule.py`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..bitstream import BLOCK, IMPORTANCE_STEPS, latent_shape
from ..levels import LevelRange

#: Gaussian smoothing of the combined importance, in pixels.
SMOOTHING_SIGMA = 8.0


def block_importance(importance: np.ndarray, sigma: float = SMOOTHING_SIGMA, cover: bool = True) -> np.ndarray:
    """(H, W) float [0,1] -> uint8 (h_blocks, w_blocks) in 0..16 over the padded image.

    cover=False is DESIGN's original rule (smoothed block mean only), kept so that the study
    comparing the two (`git show 16f2d6d:benchmarks/roi_block_rule.py`) still runs.
    """
    h, w = importance.shape
    hb, wb = latent_shape(h, w)
    imp = importance.astype(np.float32)
    if sigma > 0:
        imp = cv2.GaussianBlur(imp, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    pad = ((0, hb * BLOCK - h), (0, wb * BLOCK - w))
    smooth = np.pad(imp, pad, mode="edge").reshape(hb, BLOCK, wb, BLOCK).mean(axis=(1, 3))
    blocks = smooth
    if cover:
        raw = np.pad(importance.astype(np.float32), pad, mode="edge")
        blocks = np.maximum(smooth, raw.reshape(hb, BLOCK, wb, BLOCK).max(axis=(1, 3)))
    return np.clip(np.round(blocks * IMPORTANCE_STEPS), 0, IMPORTANCE_STEPS).astype(np.uint8)


def pixel_importance(importance: np.ndarray, sigma: float = SMOOTHING_SIGMA) -> np.ndarray:
    """(H, W) importance -> the same smoothed, never below the raw map: the per-pixel form of the block
    rule. The block map fixes which latents get bits; this says which pixels those bits are for, so the
    encoder's latent refinement weighs each pixel's error by its own importance, not its block's."""
    imp = importance.astype(np.float32)
    if sigma <= 0:
        return imp
    smooth = cv2.GaussianBlur(imp, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    return np.maximum(smooth, imp)


def quality_map(base: float, strength: float, blocks: np.ndarray | None, shape: tuple[int, int],
                level_range: LevelRange) -> torch.Tensor:
    """The decoder's quality map, (1, 1, h, w) float32; identical on both sides by construction."""
    if blocks is None:
        q = torch.full((1, 1, *shape), float(base), dtype=torch.float32)
    else:
        imp = torch.from_numpy(blocks.astype(np.float32) / IMPORTANCE_STEPS)[None, None]
        q = float(base) + float(strength) * imp
    return q.clamp_(level_range.low, level_range.high)
