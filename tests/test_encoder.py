"""The encoder: an EncodeJob's files, rate control through it, and what reaches the file."""

import numpy as np
import pytest

import roicodec
from roicodec import bitstream, decoder
from roicodec.encoder import EncodeJob, roi_importance
from roicodec.evaluate.metrics import psnr
from roicodec.images import prepare
from roicodec.ratecontrol import Budget
from roicodec.roi import RoiSpec

from .conftest import on_one_and_two_threads, synthetic_image


def test_reconstruction_is_close_to_the_input(model, card):
    hi = np.asarray(roicodec.decompress(roicodec.compress(card, quality=6, model=model), model=model), dtype=float)
    lo = np.asarray(roicodec.decompress(roicodec.compress(card, quality=1, model=model), model=model), dtype=float)
    ref = np.asarray(card, dtype=float)
    assert psnr(hi, ref) > psnr(lo, ref) > 15


def test_higher_quality_gives_larger_files(model, card):
    sizes = [len(roicodec.compress(card, quality=q, model=model)) for q in (0, 2, 4, 7)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_levels_below_zero_make_smaller_files_that_decode(model, card):
    assert model.config.min_level == -3.0  # the shipped model is trained down to level -3
    data = {q: roicodec.compress(card, quality=q, model=model) for q in (-3, -2, -1, 0)}
    assert len(data[-3]) < len(data[-2]) < len(data[-1]) < len(data[0])
    ref = np.asarray(card, dtype=float)
    for q, d in data.items():
        assert roicodec.inspect(d, model=model)["base_level"] == q
        dec = np.asarray(roicodec.decompress(d, model=model), dtype=float)
        assert psnr(dec, ref) > 15
    with pytest.raises(roicodec.RoicodecError):
        roicodec.compress(card, quality=-3.5, model=model)


def test_encode_is_identical_across_thread_counts(model, card):
    a, b = on_one_and_two_threads(lambda: roicodec.compress(card, quality=2.5, model=model))
    assert a == b


@pytest.mark.parametrize("size", [(1, 1), (1, 37), (65, 3), (130, 67)])
def test_any_size_round_trips(model, size):
    im = synthetic_image(*size, seed=5)
    out = roicodec.decompress(roicodec.compress(im, quality=5, model=model), model=model)
    assert out.size == size and out.mode == "RGB"


def test_grayscale_comes_back_grayscale(model, card):
    gray = card.convert("L")
    out = roicodec.decompress(roicodec.compress(gray, quality=4, model=model), model=model)
    assert out.mode == "L" and out.size == gray.size
    assert np.abs(np.asarray(out, float) - np.asarray(gray, float)).mean() < 30


def _job(model, image, budget: Budget, importance=None, strength: float = 0.0) -> EncodeJob:
    return EncodeJob(prepare(image), model, budget, importance, strength)


def test_a_job_analyses_each_scale_once(model, card, monkeypatch):
    calls = []
    analyse = model.analyse
    monkeypatch.setattr(model, "analyse", lambda x: calls.append(tuple(x.shape)) or analyse(x))
    job = _job(model, card, Budget(size=2000))
    job.search(bitstream.SCALE_ONE, 0.0)
    job.search(12, 0.0)
    job.search(bitstream.SCALE_ONE, 0.0)
    assert calls == [(1, 3, 128, 192), (1, 3, 192, 320)]  # 192x128 and its 1.5x size (288x192), padded to 64


def test_encode_writes_the_levels_it_is_given(model, card):
    mask = np.zeros((card.height, card.width), np.float32)
    mask[32:96, 48:144] = 1
    job = _job(model, card, Budget(quality=2.0), mask, 3.0)
    f = decoder.parse(job.encode(bitstream.SCALE_ONE, 1.23456, 2.5), model)
    assert f.base_level == bitstream.quantise_base(1.23456) and f.roi_strength == 2.5
    assert np.array_equal(f.importance, job.blocks(bitstream.SCALE_ONE)) and f.importance.max() == 16
    assert decoder.parse(job.encode(bitstream.SCALE_ONE, 1.0, 0.0), model).importance is None  # no lift: no map
    scaled = decoder.parse(job.encode(12, 1.0, 2.5), model)
    assert scaled.scale == 12 and scaled.importance.shape == tuple(scaled.latent_shape)


def test_search_meets_the_budget_from_below(model, card):
    job = _job(model, card, Budget(size=1500))
    result, stopped = job.search(bitstream.SCALE_ONE, 0.0)
    assert 1500 * 0.99 <= result.size <= 1500 and result.in_range and not stopped
    assert result.data == job.encode(bitstream.SCALE_ONE, result.base_level, 0.0)  # the file is that level's


def test_search_stops_at_the_climb_level(model, card):
    result, stopped = _job(model, card, Budget(size=5000)).search(bitstream.SCALE_ONE, 0.0, stop_level=2.0)
    assert stopped and result.base_level >= 2.0 and result.size <= 5000


def test_an_roi_that_marks_nothing_codes_the_picture_uniformly(model, card):
    prepared = prepare(card)
    lr = model.config.level_range
    empty = np.zeros((card.height, card.width), np.float32)
    assert roi_importance(prepared, RoiSpec(mask=empty), 3.0, lr)[:2] == (None, 0.0)
    full = np.ones((card.height, card.width), np.float32)
    assert roi_importance(prepared, RoiSpec(mask=full), 0.0, lr)[:2] == (None, 0.0)  # strength 0
    importance, strength, report = roi_importance(prepared, RoiSpec(mask=full), 2.3, lr)
    assert importance is not None and strength == bitstream.quantise_strength(2.3) and "mask" in report
    assert roi_importance(prepared, RoiSpec(), 3.0, lr) == (None, 0.0, {})
    with pytest.raises(roicodec.BudgetError, match="roi strength"):
        roi_importance(prepared, RoiSpec(mask=full), 99.0, lr)


def test_a_strong_roi_the_high_rate_model_cannot_hold_falls_back_to_the_default_model(model, card):
    """Near the high-rate model's threshold its floor is higher: where it would lower the ROI's lift, the
    default model codes the picture with the lift asked for."""
    mask = np.zeros((card.height, card.width), np.float32)
    mask[32:96, 48:144] = 1
    starts = [e.value.meta["meta"].get("use_from_bpp") for e in roicodec.RoiCodecWeights]
    start = min(s for s in starts if s is not None)
    res = roicodec.compress_detailed(card, bpp=start, roi=mask, roi_strength=7)
    assert res.in_range and res.roi_strength == 7 and res.size <= start * card.width * card.height / 8
    assert roicodec.inspect(res.data)["model"] == "fidelity-v1"
    plain = roicodec.compress_detailed(card, bpp=start * 1.5)  # no ROI: the high-rate model holds it
    assert roicodec.inspect(plain.data)["model"] != "fidelity-v1"


def test_the_size_estimate_is_near_the_real_size(model, card):
    """Rate control's cheap trial (EncodeJob.estimate) is within a few per cent of the file it stands for."""
    job = _job(model, card, Budget(size=2000))
    for level in (-2.0, 1.0, 4.0):
        real = len(job.encode(bitstream.SCALE_ONE, level, 0.0))
        assert abs(job.estimate(bitstream.SCALE_ONE, level, 0.0) / real - 1) < 0.05


@pytest.mark.parametrize("size, bpp", [((192, 128), 0.4), ((400, 336), 0.3), ((400, 336), 1.2)])
def test_rate_control_is_identical_across_thread_counts(size, bpp):
    """The estimate picks the levels tried, so it must not depend on the thread count either: the files
    of a budget (the default model, and the high-rate one at 1.2 bpp) are the same on 1 and 2 threads."""
    im = synthetic_image(*size, seed=11)
    one, two = on_one_and_two_threads(lambda: roicodec.compress(im, bpp=bpp))
    assert one == two
