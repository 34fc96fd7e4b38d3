"""Visual saliency: OpenCV's fine-grained static saliency (opencv-contrib), widely smoothed as
seed 001 does so that the map follows objects rather than edges.

The spectral-residual variant was measured first: it answers to edges and to the FFT
artefacts of flat backgrounds more than to objects (a lone red disc on grey scored 0.35 of
the peak against 0.59 for empty background); fine-grained centre-surround scored 0.95 / 0.02."""

from __future__ import annotations

import cv2
import numpy as np


def saliency_importance(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    sal = cv2.saliency.StaticSaliencyFineGrained_create()
    ok, m = sal.computeSaliency(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        return np.zeros((h, w), np.float32)
    m = m.astype(np.float32)
    if m.max() > 1.0:  # fine-grained returns 0..255
        m /= 255.0
    k = max(3, (min(h, w) // 16) | 1)  # wide box filter
    m = cv2.boxFilter(m, -1, (k, k), borderType=cv2.BORDER_REPLICATE)
    lo, hi = np.percentile(m, 50), m.max()
    if hi <= lo:
        return np.zeros((h, w), np.float32)
    return np.clip((m - lo) / (hi - lo), 0, 1).astype(np.float32)
