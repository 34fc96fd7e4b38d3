"""Budget -> base quality level.

The analysis transform runs once; each trial re-runs only the gain, hyperprior,
entropy parameters and rANS (``encode(base)``), and gives the *real* file size, so
the chosen file is never over budget. Bits grow monotonically and roughly
exponentially with the base level (one level ~ one doubling of lambda), so a secant
search on log(size) brackets the budget in a few trials; regula falsi (Illinois)
then closes in until the file is within 1 % below the budget.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from .bitstream import BASE_SCALE
from .errors import BudgetError

TOLERANCE = 0.01
MAX_TRIALS = 24
#: Typical d log(bytes) / d level, only used for the first step.
INITIAL_SLOPE = 0.35

_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]?i?[bB]?)\s*$")
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}


def parse_size(text: str | int) -> int:
    """'30KB' -> 30000, '30KiB' -> 30720, '1.5MB' -> 1500000, 1234 -> 1234."""
    if isinstance(text, int):
        n = text
    else:
        m = _SIZE_RE.match(str(text))
        if not m or m.group(2).lower() not in _UNITS:
            raise BudgetError(f"cannot parse size {text!r} (examples: 30000, 30KB, 29.3KiB, 1.2MB)")
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise BudgetError("size must be positive")
    return n


@dataclass
class RateResult:
    data: bytes
    base: float
    trials: int
    in_range: bool
    message: str | None = None


def search_base_level(encode: Callable[[float], bytes], budget: int, max_level: float, start: float | None = None) -> RateResult:
    """Largest-file search for size <= budget; stops within TOLERANCE below budget."""
    cache: dict[int, bytes] = {}

    def trial(level: float) -> tuple[float, int]:
        key = min(max(round(level * BASE_SCALE), 0), round(max_level * BASE_SCALE))
        if key not in cache:
            cache[key] = encode(key / BASE_SCALE)
        return key / BASE_SCALE, len(cache[key])

    def done(level: float, in_range: bool = True, message: str | None = None) -> RateResult:
        return RateResult(cache[round(level * BASE_SCALE)], level, len(cache), in_range, message)

    lo: tuple[float, int] | None = None  # feasible (size <= budget)
    hi: tuple[float, int] | None = None  # infeasible
    level = max_level / 2 if start is None else start
    prev: tuple[float, int] | None = None
    step_slope = INITIAL_SLOPE
    illinois_side = 0
    for _ in range(MAX_TRIALS):
        level, size = trial(level)
        if size <= budget:
            if lo is None or level > lo[0]:
                lo = (level, size)
            if size >= budget * (1 - TOLERANCE):
                return done(level)
        elif hi is None or level < hi[0]:
            hi = (level, size)
        if hi is not None and lo is not None and hi[0] - lo[0] <= 1.0 / BASE_SCALE:
            return done(lo[0])
        if lo is None and level <= 0:
            return done(level, False, f"the budget of {budget} bytes is below this model's range for this image; "
                                      f"the smallest file is {size} bytes")
        if hi is None and level >= max_level:
            return done(level, False, f"the budget of {budget} bytes is above this model's range for this image; "
                                      f"the largest file is {size} bytes")
        target = math.log(budget * (1 - TOLERANCE / 2))
        if lo is not None and hi is not None:
            # Illinois regula falsi on log(size), bracket kept
            fl, fh = math.log(lo[1]) - target, math.log(hi[1]) - target
            if illinois_side == 1:
                fh /= 2
            elif illinois_side == -1:
                fl /= 2
            nxt = lo[0] + (hi[0] - lo[0]) * (-fl) / (fh - fl) if fh != fl else (lo[0] + hi[0]) / 2
            nxt = min(max(nxt, lo[0] + (hi[0] - lo[0]) * 0.02), hi[0] - (hi[0] - lo[0]) * 0.02)
            illinois_side = 1 if size <= budget else -1
        else:
            if prev is not None and prev[0] != level and prev[1] != size:
                step_slope = max((math.log(size) - math.log(prev[1])) / (level - prev[0]), 0.05)
            nxt = level + (target - math.log(size)) / step_slope
            nxt = min(max(nxt, level - 3.0, 0.0), level + 3.0, max_level)
        prev = (level, size)
        level = nxt
    if lo is None:
        raise BudgetError("rate control failed to find a file within the budget")
    return done(lo[0])
