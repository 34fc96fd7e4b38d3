"""Budget -> base quality level (and, when even the lowest background is too large, a lower ROI lift).

The analysis transform runs once; each trial re-runs only the gain, hyperprior,
entropy parameters and rANS (``encode(base)``), and gives the *real* file size, so
the chosen file is never over budget. Bits grow monotonically with the base level,
along a curve that is nearly the same for every image up to an offset (the model's
measured curve ships in its weights), so a search on that curve brackets the budget
in a few trials; regula falsi (Illinois) then closes in until the file is within
1 % below the budget.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .bitstream import BASE_LEVEL_STEPS, quantise_base, quantise_strength
from .errors import BudgetError
from .levels import LevelRange

#: A file within this fraction below the byte budget ends the search. 0.9 %, not 1 %: a bpp budget is
#: rounded down to whole bytes, which on a 1 KB file is another 0.1 % (a pedestrian picture at 0.1 bpp
#: came out 1.03 % under the bpp asked for and 0.98 % under its byte budget).
TOLERANCE = 0.009
MAX_TRIALS = 24
#: Typical d log(bytes) / d level, only used for the first step.
INITIAL_SLOPE = 0.35
#: A search asked to give up below a level does so once its estimate of the final level is this far below
#: it (or the final level is bracketed below it); a wrong estimate only costs the caller a later full search.
#: The same files as searches to the end (docs/results.md, "Rate control gives up early").
GIVE_UP_MARGIN = 0.25

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
        value = float(m.group(1)) * _UNITS[m.group(2).lower()]
        if not math.isfinite(value):
            raise BudgetError(f"size {text!r} is too large")
        n = int(value)
    if n <= 0:
        raise BudgetError("size must be positive")
    return n


@dataclass(frozen=True)
class Budget:
    """What the user asked for: a file size in bytes, or a quality level (no search)."""

    size: int | None = None
    quality: float | None = None

    @classmethod
    def parse(cls, bpp: float | None, size: int | str | None, quality: float | None, pixels: int,
              level_range: LevelRange) -> "Budget":
        """Exactly one of a rate in bits per pixel of a picture of ``pixels``, a size ('30KB', 30000) or a level."""
        if sum(v is not None for v in (bpp, size, quality)) != 1:
            raise BudgetError("give exactly one of bpp, size or quality")
        if bpp is not None:
            if not (bpp > 0 and np.isfinite(bpp)):
                raise BudgetError("bpp must be a positive number")
            if not np.isfinite(bpp * pixels):
                raise BudgetError("bpp is too large")
            return cls(size=max(1, int(bpp * pixels / 8)))
        if size is not None:
            return cls(size=parse_size(size))
        if quality not in level_range:
            raise BudgetError(f"quality level must lie in {level_range}")
        return cls(quality=float(quality))


@dataclass
class RateResult:
    data: bytes
    base: float
    trials: int
    in_range: bool
    message: str | None = None
    #: The search stopped early: a file within budget reached ``stop_level``, or the final level would lie
    #: below ``give_up_below`` (then ``data`` is only the last trial's file, not a finished search, and
    #: empty where the size estimate decided before any trial).
    stopped: bool = False


class RateCurve:
    """A model's typical log(bytes) against base level, for one image size.

    Bits grow with the level in nearly the same way for every image; images differ
    mostly by an offset. Searching on this curve (shifted by what the trials measure)
    instead of on the level itself makes the first guess close and the secant steps
    nearly linear, so rate control needs fewer real encodes.
    """

    def __init__(self, bpp_at_levels: list[float], pixels: float, min_level: float) -> None:
        """bpp_at_levels[i] is the typical bpp at level min_level + i."""
        if len(bpp_at_levels) < 2 or min(bpp_at_levels) <= 0:
            raise ValueError("a rate curve needs a positive bpp for at least two levels")
        logs = [math.log(b * pixels / 8) for b in bpp_at_levels]
        for i in range(1, len(logs)):  # strictly increasing, so the inverse exists
            logs[i] = max(logs[i], logs[i - 1] + 0.01)
        self.logs = logs
        self.min_level = float(min_level)
        self.max_level = self.min_level + len(logs) - 1

    @classmethod
    def from_metadata(cls, meta: dict, level_range: LevelRange, pixels: float) -> "RateCurve | None":
        """The measured bpp-per-level curve a weights file ships (``rate_curve_bpp`` from level
        ``rate_curve_min_level`` up), or None when it has none or it does not span the model's levels."""
        bpp = meta.get("rate_curve_bpp")
        first = float(meta.get("rate_curve_min_level", 0.0))
        if not bpp or first + len(bpp) - 1 != level_range.high or first < level_range.low:
            return None
        return cls([float(b) for b in bpp], pixels, first)

    @classmethod
    def default(cls, level_range: LevelRange, pixels: int) -> "RateCurve":
        """Used when the weights carry no measured curve: 0.1 bpp at level 0, INITIAL_SLOPE per level."""
        low = level_range.low
        n = max(2, math.ceil(level_range.high - low) + 1)  # a strength of 0.25 still needs two points
        return cls([0.1 * math.exp(INITIAL_SLOPE * (low + k)) for k in range(n)], pixels, low)

    def at(self, level: float) -> float:
        t = min(max(level, self.min_level), self.max_level) - self.min_level
        k = min(int(t), len(self.logs) - 2)
        f = t - k
        return self.logs[k] * (1 - f) + self.logs[k + 1] * f

    def inverse(self, value: float) -> float:
        """Level whose expected log(bytes) is value, clamped to the level range."""
        if value <= self.logs[0]:
            return self.min_level
        if value >= self.logs[-1]:
            return self.max_level
        k = max(i for i in range(len(self.logs) - 1) if self.logs[i] <= value)
        return self.min_level + k + (value - self.logs[k]) / (self.logs[k + 1] - self.logs[k])


#: A guided trial's level solves the estimate to within this (log bytes): well inside the 0.9 % window.
GUIDE_PRECISION = 0.003
#: Estimates one guided step may evaluate; cached ones are free.
GUIDE_ESTIMATES = 4
#: Estimates this close to the goal (log bytes) on either side need no estimate between them.
GUIDE_BRACKET = 0.03
#: Where guided trials aim, as a fraction below the budget: the real file ran -0.06 to +0.23 % over its
#: estimate on average (the first encode's sd 0.16-0.88 %: 20 training pictures at 0.1, 0.25 and 1.0 bpp,
#: two runs of benchmarks/encode_trials.py), so the real file lands near the middle of the window.
GUIDE_AIM = 0.0055
#: A first secant step from an estimate that lands this far below a search's give-up margin gives up at
#: once (it is seldom 0.3 of a level off; a wrong give-up only costs the caller a later search).
GUIDE_GIVE_UP_SLACK = 0.75
#: Real encodes led by the estimate before regula falsi takes over (a safeguard: one or two suffice).
GUIDED_TRIALS = 3
#: A search that may pass a budget above its range on to a larger scale (``pass_above``) does so without a
#: real encode when the estimate of its largest file is at least this far below the budget (log bytes):
#: ten times the estimate's usual error (docs/design-decisions.md item 28).
PASS_ABOVE_MARGIN = 0.02


class EstimateGuide:
    """Cheap trials for rate control: a size estimate from the float entropy model (a third of a real
    encode's time), shifted by what the real encodes measured, locates the budget's level, so the search
    makes one or two real encodes instead of three to six (docs/design-decisions.md item 28).

    The estimate runs in u = curve.at(level) like the search itself; between two estimated levels it is
    interpolated linearly in u, which near the goal is as good as another estimate.
    """

    def __init__(self, estimate: Callable[[float], float], curve: RateCurve) -> None:
        self.estimate = estimate  # level (a multiple of 1/BASE_LEVEL_STEPS) -> estimated bytes
        self.curve = curve
        self.points: dict[float, float] = {}  # level -> log of the estimated bytes
        self.shift = 0.0  # log(real / estimated bytes) at the latest real encode

    def log_estimate(self, level: float) -> float:
        if level not in self.points:
            self.points[level] = math.log(max(self.estimate(level), 1.0))
        return self.points[level]

    def interpolate(self, level: float) -> float:
        """log(estimated bytes) at a level, from the estimates nearest it on either side (or the nearest two)."""
        if level in self.points:
            return self.points[level]
        if len(self.points) < 2:
            return self.log_estimate(level)
        levels = sorted(self.points)
        below = [lv for lv in levels if lv < level]
        above = [lv for lv in levels if lv > level]
        a, b = (below[-1], above[0]) if below and above else (levels[:2] if above else levels[-2:])
        ua, ub, u = self.curve.at(a), self.curve.at(b), self.curve.at(level)
        if ua == ub:
            return self.points[a]
        return self.points[a] + (self.points[b] - self.points[a]) * (u - ua) / (ub - ua)

    def measured(self, level: float, size: int) -> None:
        """A real encode's size: later goals are shifted by how far the estimate was from it."""
        self.shift = math.log(size) - self.interpolate(level)

    def level_for(self, goal: float, low: float, high: float, settle_below: float | None = None) -> float:
        """The level in [low, high] (quantised) whose shifted estimate is ``goal`` (log bytes): secant steps on
        new estimates until one is within GUIDE_PRECISION, or interpolation between estimates that bracket
        the goal closely (GUIDE_BRACKET), which needs none. A step from an estimate that lands below
        ``settle_below`` ends it there: the caller only needs to know that the level is that low."""
        goal -= self.shift
        for _ in range(GUIDE_ESTIMATES):
            level, close = self._candidate(goal, low, high)
            if close or level in self.points or (self.points and settle_below is not None and level < settle_below):
                return level
            value = self.log_estimate(level)
            if abs(value - goal) <= GUIDE_PRECISION or (level == high and value < goal) or (level == low and value > goal):
                return level
        return self._candidate(goal, low, high)[0]

    def _candidate(self, goal: float, low: float, high: float) -> tuple[float, bool]:
        """The next level to try for ``goal`` (unshifted), and whether it lies between estimates within
        GUIDE_BRACKET of the goal on either side."""
        curve = self.curve
        below = [lv for lv, v in self.points.items() if v <= goal]
        above = [lv for lv, v in self.points.items() if v > goal]
        close = False
        if not self.points:
            u = goal  # the curve's own guess
        elif below and above:  # bracketed: interpolate in u between the nearest estimate on either side
            a = max(below, key=lambda lv: self.points[lv])
            b = min(above, key=lambda lv: self.points[lv])
            fa, fb = self.points[a] - goal, self.points[b] - goal
            u = curve.at(a) + (curve.at(b) - curve.at(a)) * (-fa) / (fb - fa)
            close = -fa <= GUIDE_BRACKET and fb <= GUIDE_BRACKET
        else:  # one side: step from the nearest with the slope of the nearest two (1 on the curve)
            near = sorted(self.points, key=lambda lv: abs(self.points[lv] - goal))
            slope = 1.0
            if len(near) > 1 and curve.at(near[0]) != curve.at(near[1]):
                slope = (self.points[near[0]] - self.points[near[1]]) / (curve.at(near[0]) - curve.at(near[1]))
                slope = min(max(slope, 0.25), 4.0)
            u = curve.at(near[0]) + (goal - self.points[near[0]]) / slope
        return quantise_base(min(max(curve.inverse(u), low), high)), close


def search_base_level(encode: Callable[[float], bytes], budget: int, level_range: LevelRange,
                      curve: RateCurve | None = None, stop_level: float | None = None,
                      give_up_below: float | None = None,
                      estimate: Callable[[float], float] | None = None, pass_above: bool = False) -> RateResult:
    """Largest-file search for size <= budget; stops within TOLERANCE below budget, or as soon as
    a file within budget has a level of at least ``stop_level``, or as soon as the file for the budget
    would have a level below ``give_up_below`` (the caller then codes otherwise: a larger or a smaller
    picture; a search that gives up costs one or two trials instead of three to eight).

    The search runs in u = curve.at(level) (expected log bytes), where the measured
    log(size) is close to u + offset: curve-shifted guesses until the budget is
    bracketed, then Illinois regula falsi inside the bracket. With ``estimate`` (level ->
    estimated bytes), the first GUIDED_TRIALS levels come from the estimate instead
    (EstimateGuide), inside the bracket. With ``pass_above`` too, a budget that the estimate puts well above
    the largest file (PASS_ABOVE_MARGIN) ends the search before any real encode, out of range and stopped,
    with no data: the caller codes a larger scale instead, and searches this one only if it needs its file.
    """
    target = math.log(budget * (1 - TOLERANCE / 2))
    min_level, max_level = level_range.low, level_range.high
    if curve is None:
        curve = RateCurve.default(level_range, pixels=1)
        level = (min_level + max_level) / 2  # the default curve knows the shape, not the size
    else:
        level = level_range.clamp(curve.inverse(target))
    cache: dict[int, bytes] = {}
    step = 1.0 / BASE_LEVEL_STEPS
    guide = None if estimate is None else EstimateGuide(estimate, curve)
    guided = 0
    if guide is not None:
        aim = math.log(budget * (1 - GUIDE_AIM))
        settle = None if give_up_below is None else give_up_below - GIVE_UP_MARGIN - GUIDE_GIVE_UP_SLACK
        level, guided = guide.level_for(aim, min_level, max_level, settle), 1
        if give_up_below is not None and min_level < level < give_up_below - GIVE_UP_MARGIN:
            return RateResult(b"", level, 0, True, stopped=True)  # the estimate alone says where it lands
        if pass_above and level >= max_level and guide.log_estimate(max_level) < math.log(budget) - PASS_ABOVE_MARGIN:
            return RateResult(b"", max_level, 0, False, stopped=True)  # even the largest file is well below it

    def trial(level: float) -> tuple[float, int]:
        key = min(max(round(level * BASE_LEVEL_STEPS), math.ceil(min_level * BASE_LEVEL_STEPS)), round(max_level * BASE_LEVEL_STEPS))
        if key not in cache:
            cache[key] = encode(key / BASE_LEVEL_STEPS)
        return key / BASE_LEVEL_STEPS, len(cache[key])

    def done(level: float, in_range: bool = True, message: str | None = None) -> RateResult:
        return RateResult(cache[round(level * BASE_LEVEL_STEPS)], level, len(cache), in_range, message)

    lo: tuple[float, int] | None = None  # feasible (size <= budget)
    hi: tuple[float, int] | None = None  # infeasible
    prev: tuple[float, float] | None = None  # (u, log size) of the previous trial
    illinois_side = 0
    for _ in range(MAX_TRIALS):
        level, size = trial(level)
        u, f = curve.at(level), math.log(size)
        if guide is not None:
            guide.measured(level, size)
        if size <= budget:
            if lo is None or level > lo[0]:
                lo = (level, size)
            if stop_level is not None and level >= stop_level:
                return replace(done(level), stopped=True)
            if size >= budget * (1 - TOLERANCE):
                return done(level)
        elif hi is None or level < hi[0]:
            hi = (level, size)
        if hi is not None and lo is not None and hi[0] - lo[0] <= step:
            return done(lo[0])
        if lo is None and level <= min_level:
            return done(level, False, f"the budget of {budget} bytes is below this model's range for this image; "
                                      f"the smallest file is {size} bytes")
        if hi is None and level >= max_level:
            return done(level, False, f"the budget of {budget} bytes is above this model's range for this image; "
                                      f"the largest file is {size} bytes")
        if give_up_below is not None and lo is not None and hi is not None and hi[0] <= give_up_below:
            return replace(done(level), stopped=True)  # the final level lies between lo and hi
        if guide is not None and guided < GUIDED_TRIALS:
            low_bound = lo[0] + step if lo is not None else min_level
            high_bound = hi[0] - step if hi is not None else max_level
            nxt = guide.level_for(aim, low_bound, high_bound) if low_bound <= high_bound else None
            if nxt is not None and round(nxt * BASE_LEVEL_STEPS) not in cache:
                if give_up_below is not None and min_level < nxt < give_up_below - GIVE_UP_MARGIN:
                    return replace(done(level), stopped=True)  # in range, so a file at that level fits
                guided += 1
                prev, level = (u, f), nxt
                continue
        if lo is not None and hi is not None:
            # Illinois regula falsi on log(size) against u, bracket kept
            ul, uh = curve.at(lo[0]), curve.at(hi[0])
            fl, fh = math.log(lo[1]) - target, math.log(hi[1]) - target
            if illinois_side == 1:
                fh /= 2
            elif illinois_side == -1:
                fl /= 2
            nxt_u = ul + (uh - ul) * (-fl) / (fh - fl) if fh != fl else (ul + uh) / 2
            nxt_u = min(max(nxt_u, ul + (uh - ul) * 0.02), uh - (uh - ul) * 0.02)
            nxt = curve.inverse(nxt_u)
            nxt = min(max(nxt, lo[0] + step), hi[0] - step)
            illinois_side = 1 if size <= budget else -1
        else:
            slope = 1.0  # on the curve, log(size) - u is nearly constant
            if prev is not None and prev[0] != u and prev[1] != f:
                slope = min(max((f - prev[1]) / (u - prev[0]), 0.25), 4.0)
            nxt = curve.inverse(u + (target - f) / slope)
            if give_up_below is not None and min_level < nxt < give_up_below - GIVE_UP_MARGIN:
                return replace(done(level), stopped=True)  # in range, so a file at that level fits
            nxt = min(max(nxt, level - 3.0), level + 3.0)
        prev = (u, f)
        level = nxt
    if lo is None:
        raise BudgetError("rate control failed to find a file within the budget")
    return done(lo[0])


LOWERED_LIFT = "the budget is below the range at ROI strength"


def lowered_lift_note(asked: float, lowered: float) -> str:
    return f"{LOWERED_LIFT} {asked:g}; the ROI strength was lowered to {lowered:g} to fit it"


def lower_lift(encode: Callable[[float, float], bytes], budget: int, level_range: LevelRange,
               result: RateResult, strength: float) -> tuple[RateResult, float]:
    """``result`` is below the range with the background already at the lowest level: keep the file in
    budget by lowering the ROI's lift instead (size grows with the strength). ``encode(base, strength)``.
    Returns the file and the strength it carries."""
    lifted = search_base_level(lambda st: encode(level_range.low, st), budget, LevelRange(0.0, strength))
    if len(lifted.data) >= len(result.data):
        return result, strength
    # In budget with a lower lift, or, when not even the background alone fits,
    # the smallest file there is: the one without a lift (the strength search ends at 0).
    fits = len(lifted.data) <= budget
    lowered = quantise_strength(lifted.base)
    message = lowered_lift_note(strength, lowered) if fits else f"{lifted.message}, even without an ROI lift"
    return replace(lifted, base=quantise_base(level_range.low), in_range=fits, message=message), lowered
