"""Coding scale: above a certain rate, code the picture larger than it is.

The shipped transforms saturate: at native size their autoencoder stops near 31.6 dB on Kodak
however many bits it is given (docs/transform_ceiling.txt), and small glyphs stay near 17-20 dB.
The same transforms fed the picture upsampled by 1.5 or 2 see smoother content, which they
reproduce far better; the decoder synthesises at that size and resamples back. Each coded
pixel costs bits, so this pays only above a rate (docs/design-decisions.md item 12 has the
measurements). Resampling as a coding tool is not new: AV1's super-resolution and VVC's
reference picture resampling code below native size for the opposite end of the rate range.

Scales are in eighths (bitstream.SCALE_ONE = 8), the unit the file stores.

Three ways to choose (``parse_scale``): a fixed scale; ``auto``, which climbs where the larger picture
gives more quality (this ladder); and the default, ``fit``: native size, except smaller
(``BELOW_RANGE``) for a budget that native coding would spend below level ``DESCEND_LEVEL`` or cannot
reach at all, and larger (``ABOVE_RANGE``) for a budget over the largest native file; the high-rate
model codes 1.5x from ``HIGH_RATE_UPSCALE_BPP`` (native where 1.5x cannot hold the budget). Each shipped
model's gain units stop at its lowest and highest trained levels; resampling extends their reach where
extrapolated gains fall off the R-D curve, and at the bottom it wins before the end of the range, as
AV1's super-resolution does (docs/design-decisions.md item 23).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .bitstream import SCALE_MAX, SCALE_MIN, SCALE_ONE, coded_size

#: The scales the automatic choice climbs through (1x, 1.5x, 2x).
LADDER = (SCALE_ONE, 12, 16)
#: Budget (bpp of the picture) from which the choice starts at each step: on 12 Kodak images the
#: native and 1.5x R-D curves cross between 0.22 and 0.54 bpp (median 0.33), the 1.5x and 2x
#: curves between 0.64 and 1.7 bpp.
START_BPP = (0.0, 0.35, 1.2)
#: Climb to the next step when rate control at a step lands at or above its level: the top levels
#: buy little (q6 -> q7: +25 % bits for 0.2 dB), and sparse documents reach them at low bpp.
#: The crossings above sit near level 3.5 (native) and 5.5 (1.5x). With an ROI the level compared
#: is the ROI's (base + strength): its blocks are coded like a picture at that level
#: (docs/results.md, "Every image": +0.3 dB ROI-PSNR on pedestrians and COCO at 0.2 bpp).
CLIMB_LEVEL = (4.0, 5.5)
#: The high-rate model (Ballé-2017 transforms) codes the picture 1.5x larger from this budget (bpp of the
#: picture), at native size where the 1.5x picture cannot hold the budget (or the ROI's full lift). Its
#: transforms saturate at native size (35.7 dB on Kodak unrounded), and since its latent codec was refitted
#: (highrate-v2, design-decisions item 27) the low levels the larger picture is coded at cost far fewer
#: bytes: on 20 training pictures 1.5x gained +0.23 / +0.47 / +0.69 / +1.12 / +1.58 dB over native at 0.4 /
#: 0.5 / 0.6 / 0.8 / 1.0 bpp, and within 0.1 dB on average of the better of the two per picture, so the
#: encoder no longer codes and decodes both (highrate-v1's contest from 0.9 to 1.5 bpp). At 0.3 the 1.5x
#: picture fits on 7 of 20 and gained -0.07 dB (benchmarks/high_rate_scales.py). The least-squares
#: resampling back (inverse_resample.py) keeps the detail; 2x gained 0-0.5 dB over 1.5x only near 43 dB,
#: for twice the time and a decode over 1 s, so it is left to budgets above 1.5x's largest file
#: (``ABOVE_RANGE``).
HIGH_RATE_UPSCALE_BPP = 0.4
#: The automatic choice never codes more pixels than this: time and memory grow with them, and a
#: large photograph is smooth at pixel level, where native coding does not saturate as early.
AUTO_MAX_PIXELS = 1 << 22


#: The automatic ladder (climb where quality pays) and the default (native unless out of range).
AUTO, FIT = "auto", "fit"
#: The scales the default tries, in order, for a low budget / one above the native range.
BELOW_RANGE = (6, 4)
ABOVE_RANGE = (12, 16)
#: The default codes smaller while the map's top level lands below this: on 12 training pictures
#: (design-decisions item 23) 0.75x beat native by 0.2 dB where native landed near level -1.2 (0.07 bpp),
#: and native won by 0.1 dB near -0.2 (0.1 bpp); 0.5x beat 0.75x where 0.75x landed near -0.9 (0.05 bpp).
DESCEND_LEVEL = -0.75
#: The default's climb above the range never codes more than this (16 MP: a 4 MP photo at 2x).
FIT_MAX_PIXELS = 1 << 24


def parse_scale(scale: float | str) -> int | str:
    """'auto' or 'fit' as such; a number -> eighths, which it must be a whole number of."""
    if isinstance(scale, str):
        if scale.strip().lower() in (AUTO, FIT):
            return scale.strip().lower()
        try:
            scale = float(scale)
        except ValueError:
            raise ValueError(f"scale must be 'fit', 'auto' or a number such as 1, 1.5 or 2, not {scale!r}") from None
    eighths = scale * SCALE_ONE
    if not (SCALE_MIN <= eighths <= SCALE_MAX) or eighths != round(eighths):
        raise ValueError(f"scale must be a multiple of 1/8 from {SCALE_MIN / SCALE_ONE:g} to {SCALE_MAX / SCALE_ONE:g}")
    return int(round(eighths))


def auto_ladder(width: int, height: int, bpp: float) -> list[tuple[int, float | None]]:
    """(scale, level at which to climb to the next one, or None) to try in order, for a budget of
    bpp bits per picture pixel (``--scale auto``; the high-rate model has its own rule, HIGH_RATE_UPSCALE_BPP)."""
    first = max(i for i, b in enumerate(START_BPP) if bpp >= b)
    steps = [i for i in range(first, len(LADDER)) if within_auto_cap(width, height, LADDER[i])]
    if not steps:
        return [(SCALE_ONE, None)]
    return [(LADDER[i], CLIMB_LEVEL[i] if i != steps[-1] else None) for i in steps]


def high_rate_scale(width: int, height: int, bpp: float) -> int:
    """The scale the high-rate model tries first: 1.5x from HIGH_RATE_UPSCALE_BPP within the pixel cap."""
    up = LADDER[1]
    return up if bpp >= HIGH_RATE_UPSCALE_BPP and within_auto_cap(width, height, up) else SCALE_ONE


def above_range(width: int, height: int) -> list[int]:
    """The scales the default tries, in order, for a budget above the native range (up to FIT_MAX_PIXELS)."""
    return [s for s in ABOVE_RANGE if _pixels(width, height, s) <= FIT_MAX_PIXELS]


def within_auto_cap(width: int, height: int, scale: int) -> bool:
    """Whether the automatic choice may code the picture at this scale (AUTO_MAX_PIXELS)."""
    return _pixels(width, height, scale) <= AUTO_MAX_PIXELS


def _pixels(width: int, height: int, scale: int) -> int:
    w, h = coded_size(width, height, scale)
    return w * h


def resample(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(1, 3, h, w) in [0, 1] -> (1, 3, height, width): bicubic with antialiasing, clamped.

    The decoder's step back to the picture's size (docs/bitstream.md), and the encoder's step up."""
    if x.shape[-2:] == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
