"""Coding scale: above a certain rate, code the picture larger than it is.

The shipped transforms saturate: at native size their autoencoder stops near 31.6 dB on Kodak
however many bits it is given (docs/transform_ceiling.txt), and small glyphs stay near 17-20 dB.
The same transforms fed the picture upsampled by 1.5 or 2 see smoother content, which they
reproduce far better; the decoder synthesises at that size and resamples back. Each coded
pixel costs bits, so this pays only above a rate (docs/design-decisions.md item 12 has the
measurements). Resampling as a coding tool is not new: AV1's super-resolution and VVC's
reference picture resampling code below native size for the opposite end of the rate range.

Scales are in eighths (bitstream.SCALE_ONE = 8), the unit the file stores.
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
#: The automatic choice never codes more pixels than this: time and memory grow with them, and a
#: large photograph is smooth at pixel level, where native coding does not saturate as early.
AUTO_MAX_PIXELS = 1 << 22


def parse_scale(scale: float | str) -> int | None:
    """'auto' -> None; a number -> eighths, which it must be a whole number of."""
    if isinstance(scale, str):
        if scale.strip().lower() == "auto":
            return None
        try:
            scale = float(scale)
        except ValueError:
            raise ValueError(f"scale must be 'auto' or a number such as 1, 1.5 or 2, not {scale!r}") from None
    eighths = scale * SCALE_ONE
    if not (SCALE_MIN <= eighths <= SCALE_MAX) or eighths != round(eighths):
        raise ValueError(f"scale must be a multiple of 1/8 from {SCALE_MIN / SCALE_ONE:g} to {SCALE_MAX / SCALE_ONE:g}")
    return int(round(eighths))


def auto_ladder(width: int, height: int, bpp: float) -> list[tuple[int, float | None]]:
    """(scale, level at which to climb to the next one, or None) to try in order, for a budget of
    bpp bits per picture pixel."""
    first = max(i for i, b in enumerate(START_BPP) if bpp >= b)
    steps = [i for i in range(first, len(LADDER)) if _pixels(width, height, LADDER[i]) <= AUTO_MAX_PIXELS]
    if not steps:
        return [(SCALE_ONE, None)]
    return [(LADDER[i], CLIMB_LEVEL[i] if i != steps[-1] else None) for i in steps]


def _pixels(width: int, height: int, scale: int) -> int:
    w, h = coded_size(width, height, scale)
    return w * h


def resample(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(1, 3, h, w) in [0, 1] -> (1, 3, height, width): bicubic with antialiasing, clamped.

    The decoder's step back to the picture's size (docs/bitstream.md), and the encoder's step up."""
    if x.shape[-2:] == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
