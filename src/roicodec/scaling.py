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
reach at all, and larger (``ABOVE_RANGE``) for a budget over the largest native file. Each shipped
model's gain units stop at its lowest and highest trained levels; resampling extends their reach where
extrapolated gains fall off the R-D curve, and at the bottom it wins before the end of the range, as
AV1's super-resolution does (docs/design-decisions.md item 23).
"""

from __future__ import annotations

import math

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
#: The same for the high-rate model (Ballé-2017 transforms), which the default also climbs with. Since
#: the decoder undoes the encoder's upsampling by least squares (inverse_resample.py) the larger scales
#: keep their detail, and on 6 Kodak images (design-decisions item 26) 1.5x beats 2x by 0.7 dB at 1.75 and
#: 2.0 bpp and 0.4 dB at 2.5; 2x won only where 1.5x lands at level 4.5 or above, by +0.0 to +0.5 dB near
#: 43 dB, for twice the encode time and a decode over 1 s (1.2 s on Kodak, 2 cores). So the ladder starts at
#: 1.5x from 1.5 bpp and stops there (None: no climb); 2x stays for budgets above 1.5x's largest file
#: (``ABOVE_RANGE``). Native never climbs by its level: at 0.8 bpp pictures at native level 2.4 gained
#: 1.2 dB at 1.5x and pictures at level 3.9-4.2 lost up to 1.2 dB (below HIGH_RATE_CONTEST_BPP it stays native).
HIGH_RATE_START_BPP = (0.0, 1.5, math.inf)
HIGH_RATE_CLIMB_LEVEL = (None, None)
#: Budgets (bpp) where the native and 1.5x curves of the high-rate model cross, at a rate that moves with
#: the picture: 1.5x lost up to 1.2 dB on smooth pictures near 40 dB and gained up to 2.6 dB on detailed
#: ones at the same budget, and the map's level did not tell them apart. There the encoder codes both
#: and keeps the decode nearer the picture (EncodeJob.contest).
HIGH_RATE_CONTEST_BPP = (0.9, 1.5)
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


def auto_ladder(width: int, height: int, bpp: float, high_rate: bool = False) -> list[tuple[int, float | None]]:
    """(scale, level at which to climb to the next one, or None) to try in order, for a budget of
    bpp bits per picture pixel; ``high_rate``: with the high-rate model's crossings."""
    start, climb = (HIGH_RATE_START_BPP, HIGH_RATE_CLIMB_LEVEL) if high_rate else (START_BPP, CLIMB_LEVEL)
    first = max(i for i, b in enumerate(start) if bpp >= b)
    steps = [i for i in range(first, len(LADDER)) if within_auto_cap(width, height, LADDER[i])]
    if not steps:
        return [(SCALE_ONE, None)]
    ladder = []
    for i in steps:  # up to the first step that does not climb
        ladder.append((LADDER[i], climb[i] if i != steps[-1] else None))
        if ladder[-1][1] is None:
            break
    return ladder


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
