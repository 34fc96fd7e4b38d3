"""Pictures tagged with a colour profile other than sRGB are converted to sRGB before they are coded.

Why: an ``.rcz`` file stores no colour profile, and every viewer shows untagged pixels as sRGB. A phone
photo in Display P3 or a print file in Adobe RGB or CMYK, coded as its raw numbers, would decode with
washed-out or shifted colours. Converting first (littlecms through Pillow's ImageCms, relative
colorimetric with black-point compensation, the usual choice for display) keeps the colours people saw,
at the cost of clipping those outside sRGB's gamut. An RGB or gray profile that maps every probe colour
to within one level of itself is sRGB under another name and is left alone, without a note.

Pillow's ``ImageCms`` does the colour science; this module only decides when to call it and what the
user is told. Gray pictures reach it as 8-bit L or LA (images.prepare reduces 16-bit and float first).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

#: The largest change, in 8-bit levels, that a profile may make to any probe colour and still count as sRGB.
SRGB_TOLERANCE = 1
#: The picture modes whose numbers a profile of each colour space describes.
_MODES_FOR_SPACE = {"RGB": ("RGB", "RGBA"), "GRAY": ("L", "LA"), "CMYK": ("CMYK",)}


def _probe(space: str) -> Image.Image:
    """RGB: every combination of 8 levels per channel (512 colours); gray: all 256 levels."""
    if space == "GRAY":
        return Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), "L")
    levels = np.linspace(0, 255, 8).round().astype(np.uint8)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    return Image.fromarray(np.stack([r, g, b], axis=-1).reshape(32, 16, 3), "RGB")


def _is_srgb(profile, srgb, space: str) -> bool:
    from PIL import ImageCms

    probe = _probe(space)
    converted = ImageCms.profileToProfile(probe, profile, srgb, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
                                          outputMode="RGB")
    expected = np.asarray(probe.convert("RGB"), np.int16)
    return int(np.abs(np.asarray(converted, np.int16) - expected).max()) <= SRGB_TOLERANCE


def _describe(profile) -> str:
    from PIL import ImageCms

    try:
        name = ImageCms.getProfileDescription(profile).strip()
    except ImageCms.PyCMSError:
        name = ""
    return f"'{name}'" if name else "(unnamed)"


def to_srgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """``im`` with its embedded colour profile applied, as sRGB numbers (and the alpha it had), or ``im``
    itself when it has no profile, an sRGB one, or one that cannot be used (a note says which)."""
    data = im.info.get("icc_profile")
    if not data:
        return im
    try:  # here, not at import: a Pillow built without littlecms still codes untagged pictures
        from PIL import ImageCms
    except ImportError:
        notes.append("colour profile ignored: this Pillow has no littlecms (ImageCms)")
        return im
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
        space = profile.profile.xcolor_space.strip()
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        if space in ("RGB", "GRAY") and _is_srgb(profile, srgb, space):
            return im
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        notes.append("colour profile unreadable; pixels coded as sRGB")
        return im
    modes = _MODES_FOR_SPACE.get(space)
    if modes is None:
        notes.append(f"colour profile {_describe(profile)} of space {space} not supported; pixels coded as sRGB")
        return im
    if im.mode not in modes:
        alpha = im.mode in ("PA", "RGBa") or (im.mode == "P" and "transparency" in im.info)
        if space != "RGB" or im.mode not in ("P", "PA", "RGBX", "RGBa"):
            notes.append(f"colour profile {_describe(profile)} ({space}) does not fit a {im.mode} picture; ignored")
            return im
        im = im.convert("RGBA" if alpha else "RGB")
    try:
        alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
        colour = im.convert({"RGBA": "RGB", "LA": "L"}.get(im.mode, im.mode))
        converted = ImageCms.profileToProfile(
            colour, profile, srgb, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB",
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION)
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        notes.append(f"colour profile {_describe(profile)} could not be applied ({exc}); pixels coded as sRGB")
        return im
    if space == "GRAY":  # a gray profile maps to neutral sRGB: keep the picture gray
        converted = converted.convert("L")
    notes.append(f"colour profile {_describe(profile)} converted to sRGB (.rcz pictures are sRGB)")
    if alpha is not None:
        converted.putalpha(alpha)
    return converted
