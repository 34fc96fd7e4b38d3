"""People: MediaPipe selfie segmentation when the optional extra is installed, else OpenCV's HOG
pedestrian detector (built into OpenCV, no weights to fetch)."""

from __future__ import annotations

import cv2
import numpy as np


def _mediapipe_mask(rgb: np.ndarray) -> np.ndarray | None:
    try:
        import mediapipe as mp  # optional extra: pip install roicodec[people]
    except ImportError:
        return None
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
        res = seg.process(rgb)
    if res.segmentation_mask is None:
        return None
    return np.clip(res.segmentation_mask.astype(np.float32), 0, 1)


def detect_people_hog(rgb: np.ndarray) -> list[tuple[int, int, int, int, float]]:
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    h, w = rgb.shape[:2]
    s = min(1.0, 800 / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    if min(small.shape[:2]) < 128:
        return []
    rects, weights = hog.detectMultiScale(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), winStride=(8, 8), padding=(8, 8), scale=1.05)
    return [(int(x / s), int(y / s), int(rw / s), int(rh / s), float(wt)) for (x, y, rw, rh), wt in zip(rects, np.ravel(weights))]


def person_importance(rgb: np.ndarray) -> tuple[np.ndarray, str]:
    mask = _mediapipe_mask(rgb)
    if mask is not None:
        return mask, "mediapipe"
    h, w = rgb.shape[:2]
    out = np.zeros((h, w), np.float32)
    for x, y, bw, bh, score in detect_people_hog(rgb):
        if score < 0.3:
            continue
        # HOG boxes have generous margins around the body: shrink to the core
        x0, x1 = x + bw // 6, x + bw - bw // 6
        y0, y1 = y + bh // 12, y + bh - bh // 12
        out[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = np.maximum(
            out[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)], min(1.0, 0.5 + score / 2))
    return out, "hog"
