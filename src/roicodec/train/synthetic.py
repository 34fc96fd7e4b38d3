"""Synthetic document and screenshot crops, drawn at training time.

The photo sets in ../shared/data/train hold no documents, receipts or screenshots,
and a model that never saw thin dark strokes on flat paper spends bits badly on them
(grey paper, smeared glyphs). No maintained library draws such training pages, so
this module does, with Pillow's text rendering: random lines of characters in
random fonts and sizes on paper-, UI- or dark-mode backgrounds, with rules, boxes and
barcodes, and sometimes scan blur and sensor noise. Nothing is downloaded: fonts are
Pillow's bundled one plus any TrueType fonts the system already has.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

_ALPHABET = string.ascii_letters + string.digits + "     .,:;-/()&%$#@!?'\"+*="
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")


@lru_cache(maxsize=1)
def _system_fonts() -> tuple[str, ...]:
    found: list[str] = []
    for d in _FONT_DIRS:
        p = Path(d)
        if p.is_dir():
            found += sorted(str(f) for f in p.rglob("*.ttf"))[:64]
    return tuple(found)


@lru_cache(maxsize=256)
def _font(path: str | None, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    if path is None:
        return ImageFont.load_default(size)
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return ImageFont.load_default(size)


def _random_font(rng: np.random.Generator, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    fonts = _system_fonts()
    path = None if not fonts or rng.random() < 0.3 else fonts[rng.integers(len(fonts))]
    return _font(path, size)


def _colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Background and ink: paper (most), tinted UI panels, or dark mode."""
    kind = rng.random()
    if kind < 0.6:
        bg = tuple(int(v) for v in np.clip(rng.normal(245, 8) + rng.normal(0, 3, 3), 200, 255))
        ink = tuple(int(v) for v in np.clip(rng.normal(25, 20) + rng.normal(0, 6, 3), 0, 120))
    elif kind < 0.85:
        bg = tuple(int(v) for v in rng.integers(150, 256, 3))
        ink = tuple(int(v) for v in rng.integers(0, 90, 3))
    else:
        bg = tuple(int(v) for v in rng.integers(0, 50, 3))
        ink = tuple(int(v) for v in rng.integers(170, 256, 3))
    return bg, ink


def synthetic_page(size: int, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 crop (size x size) of text-like content."""
    scale = 2 if rng.random() < 0.5 else 1  # draw large and shrink: anti-aliased small text
    s = size * scale
    bg, ink = _colours(rng)
    im = Image.new("RGB", (s, s), bg)
    draw = ImageDraw.Draw(im)
    y = int(rng.integers(-s // 4, s // 8))
    while y < s:
        kind = rng.random()
        if kind < 0.75:  # a line of text
            fs = int(rng.integers(7, 30) * scale)
            font = _random_font(rng, fs)
            n = int(rng.integers(3, 60))
            text = "".join(rng.choice(list(_ALPHABET), n))
            if rng.random() < 0.3:
                text = text.upper()
            x = int(rng.integers(-s // 4, s // 2))
            colour = ink if rng.random() < 0.85 else tuple(int(v) for v in rng.integers(0, 256, 3))
            draw.text((x, y), text, fill=colour, font=font)
            y += int(fs * rng.uniform(1.05, 1.8))
        elif kind < 0.85:  # a rule (receipts, tables)
            t = int(rng.integers(1, 3) * scale)
            dashed = rng.random() < 0.5
            for x0 in range(0, s, 6 * scale if dashed else s):
                draw.rectangle([x0, y, x0 + (3 * scale if dashed else s), y + t - 1], fill=ink)
            y += int(rng.integers(4, 16) * scale)
        elif kind < 0.93:  # a barcode
            h = int(rng.integers(10, 40) * scale)
            x = int(rng.integers(0, s // 3))
            while x < s - 4:
                w = int(rng.integers(1, 4) * scale)
                if rng.random() < 0.55:
                    draw.rectangle([x, y, x + w - 1, y + h], fill=ink)
                x += w
            y += h + int(rng.integers(4, 12) * scale)
        else:  # a filled UI box or button
            h = int(rng.integers(8, 40) * scale)
            x0 = int(rng.integers(0, s // 2))
            x1 = int(rng.integers(x0 + 8, s + 8))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            draw.rectangle([x0, y, x1, y + h], fill=fill, outline=ink if rng.random() < 0.5 else None)
            y += h + int(rng.integers(2, 10) * scale)
    a = np.asarray(im)
    if scale != 1:
        a = cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.3:  # scanner / camera softness
        a = cv2.GaussianBlur(a, (0, 0), float(rng.uniform(0.3, 1.0)))
    if rng.random() < 0.3:  # sensor noise
        a = np.clip(a + rng.normal(0, rng.uniform(1, 4), a.shape), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a, dtype=np.uint8)
