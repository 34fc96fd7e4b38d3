"""User-painted masks: grayscale image or array, white = important."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import ImageInputError
from ..images import open_image


def load_mask(source: str | Path | Image.Image | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Mask -> float32 (H, W) in [0, 1] at the image size (width, height).

    A mask of a different size but the same aspect ratio is resized; a different
    aspect ratio is an error (it would put the ROI in the wrong place).
    """
    w, h = size
    if isinstance(source, np.ndarray):
        a = np.asarray(source, dtype=np.float32)
        if a.ndim == 3:
            a = a.mean(axis=2)
        if a.ndim != 2:
            raise ImageInputError("ROI array must be 2-D (H, W)")
        if not np.isfinite(a).all() or a.min(initial=0) < 0 or a.max(initial=0) > 1:
            raise ImageInputError("ROI array values must lie in [0, 1]")
        im = Image.fromarray(a, "F")
    else:
        im = open_image(source, "ROI mask")
        try:
            im = ImageOps.exif_transpose(im) or im
        except Exception:  # a damaged EXIF block: use the mask as stored, as images.prepare does
            pass
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA").getchannel("A") if _is_alpha_mask(im) else im.convert("L")
        if im.mode.startswith("I"):
            im = Image.fromarray(np.asarray(im, dtype=np.float32) / 65535.0, "F")
        elif im.mode != "F":
            im = Image.fromarray(np.asarray(im.convert("L"), dtype=np.float32) / 255.0, "F")
    mw, mh = im.size
    if (mw, mh) != (w, h):
        if abs(mw / mh - w / h) > 0.02 * (w / h):
            raise ImageInputError(f"ROI mask is {mw}x{mh} but the image is {w}x{h} (different aspect ratio)")
        im = im.resize((w, h), Image.Resampling.BILINEAR)
    # a float (mode F) mask file may hold NaN or inf; NaN would spread through the smoothing
    return np.clip(np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def _is_alpha_mask(im: Image.Image) -> bool:
    """A transparent PNG whose colour is uniform carries the mask in its alpha channel."""
    rgb = np.asarray(im.convert("RGB"))
    return bool(rgb.std() < 1.0)


def parse_box(spec: str) -> tuple[int, int, int, int, float]:
    """'x,y,w,h' or 'x,y,w,h:weight' (pixels; weight in [0, 1], default 1)."""
    coords, _, weight = spec.partition(":")
    try:
        x, y, w, h = (int(round(float(v))) for v in coords.split(","))
        wt = float(weight) if weight else 1.0
    except (ValueError, OverflowError):
        raise ImageInputError(f"bad ROI box {spec!r} (expected x,y,w,h[:weight])") from None
    if w <= 0 or h <= 0 or not 0 <= wt <= 1:
        raise ImageInputError(f"bad ROI box {spec!r}: width and height must be positive, weight in [0, 1]")
    return x, y, w, h, wt


def boxes_importance(boxes: list[tuple[int, int, int, int, float]], size: tuple[int, int]) -> np.ndarray:
    w, h = size
    out = np.zeros((h, w), np.float32)
    for x, y, bw, bh, wt in boxes:
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], wt)
    return out
