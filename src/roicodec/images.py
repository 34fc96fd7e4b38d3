"""Turning whatever Pillow reads into the RGB tensor the model codes, and back.

Policy (reported to the user through ``PreparedImage.notes``):
- EXIF orientation is applied, so the decoded image looks as the viewer showed it;
- grayscale (1, L, I, I;16, F) is coded as gray RGB and decoded as mode L;
- transparency is composited onto white (the format stores no alpha);
- 16-bit, 32-bit and float samples are reduced to 8 bits, by the range they use (_to_8bit_gray);
- palette, CMYK, YCbCr, LAB and HSV are converted to RGB;
- of an animation or a multi-page file, the first frame is coded;
- an embedded colour profile other than sRGB is applied, so the numbers coded are sRGB (colour_profile.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .bitstream import MAX_PIXELS, padded_size
from .colour_profile import to_srgb
from .errors import ImageInputError

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F", "La"}


@dataclass
class PreparedImage:
    rgb: np.ndarray  # uint8 (H, W, 3)
    mode: str  # "RGB" or "L": what decode gives back
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def open_image(source: str | Path | BinaryIO | Image.Image, what: str = "image", name: str | None = None) -> Image.Image:
    """The picture loaded, or a one-line ImageInputError naming ``what`` and ``name`` (default: the path)."""
    if isinstance(source, Image.Image):
        return source
    name = str(source) if name is None else name
    try:
        im = Image.open(source)
        im.load()
    except FileNotFoundError:
        raise ImageInputError(f"{what} not found: {name}") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageInputError(f"cannot read {what} {name}: {exc}") from None
    return im


def _to_8bit_gray(im: Image.Image, notes: list[str], source_format: str | None = None) -> np.ndarray:
    """8-bit gray from any gray mode. The container does not say the range: I;16 is 16-bit; a 32-bit
    integer picture (mode I: 16-bit PGM, 32-bit TIFF) is read as 8-bit when its samples lie in 0-255,
    as 16-bit up to 65535, and stretched from its own range beyond, except a 16-bit PGM, which Pillow
    opens as I scaled to 0-65535 whatever it holds; a float picture (mode F) as 0-1 when its samples
    lie there (the float convention), else as 0-255."""
    if im.mode in ("1", "L"):
        return np.asarray(im.convert("L"))
    a = np.asarray(im).astype(np.float64)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        notes.append("float samples that are not finite set to 0")
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(a.min()), float(a.max())
    if im.mode == "F":
        if lo >= 0.0 and hi <= 1.0:
            notes.append("float samples in 0..1 scaled to 8 bits")
            a = a * 255.0
        else:
            notes.append("float samples clipped to 0..255 and rounded to 8 bits")
    elif im.mode.startswith("I;16") or source_format == "PPM" or (lo >= 0.0 and 255.0 < hi <= 65535.0):
        notes.append("16-bit samples reduced to 8 bits")
        a = a / 257.0
    elif lo < 0.0 or hi > 65535.0:
        notes.append(f"32-bit samples stretched from their range {lo:g}..{hi:g} to 8 bits")
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    else:
        notes.append("32-bit samples within 0..255 coded as 8-bit")
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def prepare(source: str | Path | Image.Image) -> PreparedImage:
    im = open_image(source)
    source_format = im.format  # exif_transpose returns a copy, which has none
    notes: list[str] = []
    try:  # a damaged multi-page TIFF opens but cannot count its pages: its first is coded
        frames = getattr(im, "n_frames", 1)
    except Exception:
        frames = 1
    # animated GIF, APNG, WebP, multi-page TIFF (not MPO: a camera JPEG with its preview images)
    if frames > 1 and source_format != "MPO":
        notes.append(f"frame {im.tell() + 1} of {frames} coded (.rcz holds one picture)")
    try:
        transposed = ImageOps.exif_transpose(im)
    except Exception:  # a damaged EXIF block must not stop compression
        transposed = im
        notes.append("EXIF orientation unreadable; ignored")
    if transposed is not None and transposed is not im:
        if transposed.size != im.size or im.getexif().get(0x0112, 1) != 1:
            notes.append("EXIF orientation applied")
        im = transposed
    w, h = im.size
    if w < 1 or h < 1:
        raise ImageInputError("image is empty")
    if w * h > MAX_PIXELS:
        raise ImageInputError(f"image of {w}x{h} pixels exceeds the supported {MAX_PIXELS} pixels")
    if im.mode in GRAY_MODES and im.mode not in ("L", "LA", "La"):  # 8 bits first, as a profile takes them
        profile = im.info.get("icc_profile")
        im = Image.fromarray(_to_8bit_gray(im, notes, source_format), "L")
        if profile:
            im.info["icc_profile"] = profile
    im = to_srgb(im, notes)

    has_alpha = im.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (im.mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im_rgb = Image.alpha_composite(white, rgba).convert("RGB")
        if rgba.getchannel("A").getextrema()[0] < 255:  # an opaque alpha channel changes nothing
            notes.append("alpha channel composited onto white (.rcz stores no alpha)")
        gray = im.mode in ("LA", "La")
        if gray:
            return PreparedImage(np.repeat(np.asarray(im_rgb.convert("L"))[..., None], 3, axis=2), "L", notes)
        return PreparedImage(np.asarray(im_rgb), "RGB", notes)
    if im.mode == "L":  # every other gray mode is 8-bit L by now
        return PreparedImage(np.repeat(np.asarray(im)[..., None], 3, axis=2), "L", notes)
    if im.mode != "RGB":
        if im.mode not in ("P", "RGBX"):
            notes.append(f"{im.mode} converted to RGB")
        im = im.convert("RGB")
    return PreparedImage(np.asarray(im), "RGB", notes)


def to_padded_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H,W,3) uint8 -> (1,3,H',W') float, replicate-padded to multiples of 64."""
    return pad_to_stride(to_tensor(rgb))


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H,W,3) uint8 -> (1,3,H,W) float in [0, 1]."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()[None].float().div_(255.0)


def pad_to_stride(x: torch.Tensor) -> torch.Tensor:
    """Replicate-pad (1,3,H,W) to multiples of 64.

    Replicating the edge keeps the padding smooth and cheap to code, and no border
    artefact can bleed into the cropped picture.
    """
    h, w = x.shape[-2:]
    ph, pw = padded_size(h, w)
    if (ph, pw) != (h, w):
        x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
    return x


#: Rows converted at a time by to_image: a 50 MP picture needs no second float copy (docs/memory.md).
TO_IMAGE_ROWS = 256


def to_image(x: torch.Tensor, width: int, height: int, mode: str) -> Image.Image:
    """(1,3,H',W') in [0,1] -> cropped PIL image of the original mode."""
    rgb = np.empty((height, width, 3), np.uint8)
    for r0 in range(0, height, TO_IMAGE_ROWS):
        r1 = min(r0 + TO_IMAGE_ROWS, height)
        a = x[0, :, r0:r1, :width].mul(255.0).round_().clamp_(0, 255).to(torch.uint8).cpu()
        rgb[r0:r1] = a.permute(1, 2, 0).numpy()
    im = Image.fromarray(rgb, "RGB")
    return im.convert("L") if mode == "L" else im
