"""Faces: OpenCV's YuNet detector, with the Haar cascade shipped in opencv-python as fallback.

YuNet ships inside the package (data/yunet, Apache-2.0, LICENSE and SOURCES.txt beside it), so a
fresh offline install finds faces; the cache and the official URL stay as the way to it when the
packaged copy is missing or damaged.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from .cache import RemoteFile, SourceUnavailable, fetch, sha256_of

YUNET = RemoteFile(
    "face_detection_yunet_2023mar.onnx",
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
    "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
)
#: The copy inside the package, looked at first.
PACKAGED_YUNET = Path(__file__).parent / "data" / "yunet" / YUNET.name
#: YuNet is run on an image whose long side is at most this.
MAX_SIDE = 960


def detect_faces(rgb: np.ndarray, allow_download: bool = True) -> tuple[list[tuple[float, float, float, float, float]], str]:
    """Faces as (x, y, w, h, score) in pixels, and the detector that found them."""
    try:
        return _yunet(rgb, yunet_path(allow_download)), "yunet"
    except SourceUnavailable:
        return _haar(rgb), "haar"


def yunet_path(allow_download: bool = True) -> Path:
    """The packaged YuNet when it is there and intact, else the cache (downloading once if allowed)."""
    return PACKAGED_YUNET if _intact(PACKAGED_YUNET) else fetch(YUNET, allow_download)


@functools.lru_cache(maxsize=4)
def _intact(path: Path) -> bool:
    return path.is_file() and sha256_of(path) == YUNET.sha256


def _yunet(rgb: np.ndarray, model_path) -> list:
    h, w = rgb.shape[:2]
    s = min(1.0, MAX_SIDE / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    det = cv2.FaceDetectorYN.create(str(model_path), "", (small.shape[1], small.shape[0]), 0.6, 0.3, 5000)
    _, faces = det.detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    if faces is None:
        return []
    return [(f[0] / s, f[1] / s, f[2] / s, f[3] / s, float(f[-1])) for f in faces]


def _haar(rgb: np.ndarray) -> list:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(16, 16))
    return [(float(x), float(y), float(w), float(h), 1.0) for x, y, w, h in found]


def face_importance(rgb: np.ndarray, allow_download: bool = True) -> tuple[np.ndarray, str]:
    """Filled ellipses a little larger than each face box (hair and chin matter too)."""
    h, w = rgb.shape[:2]
    out = np.zeros((h, w), np.float32)
    faces, detector = detect_faces(rgb, allow_download)
    for x, y, fw, fh, score in faces:
        centre = (int(round(x + fw / 2)), int(round(y + fh / 2)))
        axes = (max(1, int(round(fw * 0.65))), max(1, int(round(fh * 0.8))))
        layer = np.zeros_like(out)
        cv2.ellipse(layer, centre, axes, 0, 0, 360, float(min(1.0, max(score, 0.5))), -1)
        out = np.maximum(out, layer)
    return out, detector
