"""`roicodec roi`: show where the bits will go, as one picture.

Left: the image with the importance as a heat overlay. Right: the quality map the
file will carry (levels per 16x16 block), colour-coded with its range printed on it.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from ..bitstream import BLOCK
from ..levels import LevelRange


def render_roi(rgb: np.ndarray, importance: np.ndarray, q_blocks: np.ndarray, level_range: LevelRange,
               coded_size: tuple[int, int] | None = None) -> Image.Image:
    """coded_size: (width, height) of the picture the blocks cover, when it is coded at another scale."""
    h, w = rgb.shape[:2]
    cw, ch = coded_size or (w, h)
    heat = cv2.applyColorMap(np.uint8(np.clip(importance, 0, 1) * 255), cv2.COLORMAP_JET)[..., ::-1]
    overlay = (0.55 * rgb + 0.45 * heat).astype(np.uint8)
    qn = np.uint8(np.clip((q_blocks - level_range.low) / max(level_range.high - level_range.low, 1), 0, 1) * 255)
    qimg = cv2.resize(qn, (q_blocks.shape[1] * BLOCK, q_blocks.shape[0] * BLOCK), interpolation=cv2.INTER_NEAREST)[:ch, :cw]
    if (cw, ch) != (w, h):
        qimg = cv2.resize(qimg, (w, h), interpolation=cv2.INTER_NEAREST)
    qcol = cv2.applyColorMap(qimg, cv2.COLORMAP_VIRIDIS)[..., ::-1]
    qcol = (0.8 * qcol + 0.2 * rgb).astype(np.uint8)
    gap = np.full((h, max(4, w // 100), 3), 255, np.uint8)
    canvas = np.ascontiguousarray(np.concatenate([overlay, gap, qcol], axis=1))
    scale = max(0.4, min(w, h) / 600)
    label = f"quality levels {q_blocks.min():.2f} .. {q_blocks.max():.2f} (of {level_range.low:g}..{level_range.high:g})"
    org = (overlay.shape[1] + gap.shape[1] + 8, int(24 * scale) + 4)
    cv2.putText(canvas, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), max(1, int(3 * scale)), cv2.LINE_AA)
    cv2.putText(canvas, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255), max(1, int(scale)), cv2.LINE_AA)
    cv2.putText(canvas, "importance", (8, int(24 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255), max(1, int(scale)), cv2.LINE_AA)
    return Image.fromarray(canvas, "RGB")
