"""benchmarks/perceptual_eval.py's pure helpers: box overlap, recall matching, shares (no data needed)."""

import importlib.util
import math
from pathlib import Path

import numpy as np

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "perceptual_eval.py"
_spec = importlib.util.spec_from_file_location("perceptual_eval", _PATH)
pe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pe)


def test_iou():
    assert pe.iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert pe.iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges
    assert pe.iou((0, 0, 10, 10), (5, 0, 10, 10)) == 50 / 150
    assert pe.iou((0, 0, 10, 10, 0.9), (0, 0, 0, 10, 0.9)) == 0.0  # an empty box; scores are ignored
    assert pe.iou((2, 2, 4, 4), (0, 0, 10, 10)) == 16 / 100  # one inside the other


def test_recall_needs_iou_at_least_half():
    ref = [(0, 0, 10, 10), (100, 100, 20, 20)]
    assert pe.recalled(ref, []) == 0
    assert pe.recalled([], [(0, 0, 10, 10)]) == 0
    assert pe.recalled(ref, [(0, 0, 10, 10)]) == 1
    # IoU exactly 0.5 counts (10x10 against 10x20 that contains it), just below does not
    assert pe.recalled([(0, 0, 10, 10)], [(0, 0, 10, 20)]) == 1
    assert pe.recalled([(0, 0, 10, 10)], [(0, 0, 10, 21)]) == 0
    # one found box may recall two overlapping reference boxes (not one-to-one)
    assert pe.recalled([(0, 0, 10, 10), (1, 0, 10, 10)], [(0, 0, 11, 10)]) == 2


def test_share_skips_nan_and_counts_strictly_lower():
    assert pe.share([(0.1, 0.2), (0.3, 0.2), (0.2, 0.2), (math.nan, 0.1)]) == (1, 3)
    assert pe.share([]) == (0, 0)


def test_helpers():
    assert pe.budget_bytes(0.1, 768, 512) == 4915
    assert pe.rate_key(0.1) == "0.1" and pe.rate_key(0.05) == "0.05"
    assert math.isnan(pe.mean([]))
    assert pe.mean([1.0, math.inf, math.nan, 3.0]) == 2.0


def test_texture_window_finds_the_busy_corner():
    rng = np.random.default_rng(0)
    ref = np.full((64, 96, 3), 128, np.uint8)
    ref[32:, 64:] = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    assert pe.texture_window(ref, 32) == (64, 32)  # the noisy corner, the last position of the scan
