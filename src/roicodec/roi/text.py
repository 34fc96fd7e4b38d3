"""Text regions for screenshots and documents: gradient-based line detection with OpenCV.

Text is dense, high-contrast strokes laid out in horizontal runs: a morphological
gradient picks the strokes, a wide horizontal closing joins characters into lines,
and connected components with a text-like shape are kept.
"""

from __future__ import annotations

import cv2
import numpy as np


def detect_text_lines(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    s = min(1.0, 1600 / max(h, w))
    if s < 1:
        gray = cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    grad = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    _, bw = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    joined = cv2.morphologyEx(bw, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, bw_, bh, area = stats[i]
        if bh < 5 or bh > 0.1 * gray.shape[0] or bw_ < 8:
            continue
        fill = area / float(bw_ * bh)
        if bw_ >= 1.2 * bh and 0.2 <= fill <= 0.95 and _looks_like_characters(bw[y : y + bh, x : x + bw_]):
            boxes.append((int(x / s), int(y / s), int(bw_ / s), int(bh / s)))
    return boxes


def _looks_like_characters(strokes: np.ndarray) -> bool:
    """A text line holds several separate glyphs of similar height in a row; brick courses,
    fences and long edges hold one or two long components instead."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(strokes, connectivity=8)
    if n < 3:
        return False
    h = strokes.shape[0]
    glyphs = [(w_, h_) for _, _, w_, h_, _ in stats[1:] if 0.25 * h <= h_ <= h and w_ <= 4 * h_]
    return len(glyphs) >= 2 and len(glyphs) >= 0.3 * (n - 1)


def text_importance(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    out = np.zeros((h, w), np.float32)
    for x, y, bw, bh in detect_text_lines(rgb):
        pad = max(1, bh // 4)
        out[max(y - pad, 0) : y + bh + pad, max(x - pad, 0) : x + bw + pad] = 1.0
    return out
