"""The quality levels a model can code, passed around as one value.

Levels 0..K-1 are trained gain vectors; a model may also code levels below 0 down to
its ``min_level`` (the gain line of levels 0..1 continued). Every consumer (bitstream
validation, quality maps, rate control, training maps, previews) needs both ends, and a
forgotten ``min_level`` argument used to default silently to 0; one value cannot be
half-passed.
"""

from __future__ import annotations

from dataclasses import dataclass

# Quality levels added at full importance when the user gives no --roi-strength: DESIGN's
# example value, about 4x lambda in the region. The ROI bars in docs/results.md are
# measured at 7, which pays for the region with a much coarser background.
DEFAULT_ROI_STRENGTH = 2.0

#: Adam steps of encode-time latent refinement (model/refine.py) per effort level: 0 is the one-pass
#: encoder; each step costs about one synthesis forward and backward. Here, torch-free, for the CLI.
EFFORT_STEPS = (0, 8, 20, 50)
#: Precisions of the float transforms (hardware.bf16_analysis / bf16_synthesis): "auto" runs the fidelity
#: model's in bf16 on CPUs with native bf16, "float32" always in float32 (the reference). Here, not in
#: hardware.py, so that the CLI's parser names them without importing torch.
PRECISIONS = ("auto", "float32")


@dataclass(frozen=True)
class LevelRange:
    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"empty level range [{self.low:g}, {self.high:g}]")

    @classmethod
    def of_model(cls, levels: int, min_level: float) -> "LevelRange":
        """K trained levels 0..K-1, usable down to min_level (<= 0)."""
        if min_level > 0:
            raise ValueError("min_level must be <= 0")
        return cls(float(min_level), float(levels - 1))

    def clamp(self, q: float) -> float:
        return min(max(q, self.low), self.high)

    def __contains__(self, q: float) -> bool:
        return self.low <= q <= self.high

    def __str__(self) -> str:
        return f"[{self.low:g}, {self.high:g}]"
