"""Coding at another scale than the picture's own (scaling.py, and its use by compress/decompress)."""

import warnings

import numpy as np
import pytest
import torch

import roicodec
from roicodec import bitstream, decoder, scaling
from roicodec.errors import BudgetError, RateControlWarning
from roicodec.evaluate.metrics import psnr
from roicodec.images import prepare, to_image
from roicodec.ratecontrol import Budget

from .conftest import on_one_and_two_threads, synthetic_image


def test_parse_scale():
    assert scaling.parse_scale("auto") == "auto" and scaling.parse_scale(" Fit") == "fit"
    assert scaling.parse_scale(1) == 8 and scaling.parse_scale("1.5") == 12 and scaling.parse_scale(2.0) == 16
    for bad in ("1.3", "0.25", "5", "big", float("nan")):
        with pytest.raises(ValueError):
            scaling.parse_scale(bad)


def test_auto_ladder_follows_the_budget_and_the_pixel_cap():
    assert scaling.auto_ladder(768, 512, 0.25) == [(8, 4.0), (12, 5.5), (16, None)]
    assert scaling.auto_ladder(768, 512, 0.5) == [(12, 5.5), (16, None)]
    assert scaling.auto_ladder(768, 512, 1.5) == [(16, None)]
    assert scaling.auto_ladder(4000, 3000, 1.5) == [(8, None)]  # a large photo stays at its own size


def test_the_high_rate_model_tries_1_5x_from_its_threshold():
    start = scaling.HIGH_RATE_UPSCALE_BPP
    assert scaling.high_rate_scale(768, 512, start * 0.99) == 8
    assert scaling.high_rate_scale(768, 512, start) == 12
    assert scaling.high_rate_scale(768, 512, 2.0) == 12  # 2x only above 1.5x's range (above_range)
    assert scaling.high_rate_scale(4000, 3000, 1.0) == 8  # a large photo stays at its own size


def test_resample_keeps_range_and_identity():
    x = torch.rand(1, 3, 20, 30)
    assert scaling.resample(x, 20, 30) is x
    y = scaling.resample(x, 30, 45)
    assert y.shape == (1, 3, 30, 45) and float(y.min()) >= 0 and float(y.max()) <= 1


def test_scaled_file_decodes_to_the_picture_size(model):
    card = synthetic_image(100, 70, seed=3)
    data = roicodec.compress(card, quality=3, model=model, scale=1.5)
    f = decoder.parse(data, model)
    assert f.scale == 12 and f.coded_size == (150, 105)
    out = roicodec.decompress(data, model=model)
    assert out.size == card.size and out.mode == "RGB"
    assert psnr(out, card) > 20
    assert roicodec.inspect(data, model=model)["scale"] == 1.5


def test_auto_scale_beats_native_at_a_high_rate(model):
    """Above the native top level the larger picture gives more quality for the same budget."""
    card = synthetic_image(128, 128, seed=4, noise=2.0)
    native = roicodec.compress_detailed(card, bpp=2.0, model=model, scale=1)
    auto = roicodec.compress_detailed(card, bpp=2.0, model=model, scale="auto")
    assert auto.scale > 8 and auto.size <= 2.0 * 128 * 128 / 8
    assert psnr(roicodec.decompress(auto.data, model=model), card) > psnr(roicodec.decompress(native.data, model=model), card) + 1


def test_fit_is_native_inside_the_range(model, card):
    """The default codes a budget the native range holds exactly as --scale 1 does."""
    native = roicodec.compress_detailed(card, bpp=0.3, model=model, scale=1)
    default = roicodec.compress_detailed(card, bpp=0.3, model=model)
    assert default.scale == 8 and default.in_range and default.data == native.data


def test_fit_codes_larger_above_the_native_range(model):
    card = synthetic_image(128, 128, seed=4, noise=2.0)
    budget = int(2.0 * 128 * 128 / 8)
    with pytest.warns(RateControlWarning, match="above"):
        native = roicodec.compress_detailed(card, size=budget, model=model, scale=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in range at the larger scale: no note
        fit = roicodec.compress_detailed(card, size=budget, model=model)
    assert fit.scale > 8 and fit.in_range and native.size < fit.size <= budget
    assert fit.size >= 0.99 * budget


def test_fit_codes_smaller_below_the_native_range(model, card):
    budget = int(0.02 * card.size[0] * card.size[1] / 8)
    with pytest.warns(RateControlWarning, match="below"):
        native = roicodec.compress_detailed(card, size=budget, model=model, scale=1)
    assert native.size > budget
    fit = roicodec.compress_detailed(card, size=budget, model=model)
    assert fit.scale < 8 and fit.size < native.size
    assert roicodec.decompress(fit.data, model=model).size == card.size


def test_fit_codes_smaller_where_native_would_land_low(model, card):
    """In range, but below DESCEND_LEVEL natively: the smaller picture at a higher level."""
    budget = len(roicodec.compress(card, quality=-1.5, model=model, scale=1))
    native = roicodec.compress_detailed(card, size=budget, model=model, scale=1)
    assert native.in_range and native.base_level < scaling.DESCEND_LEVEL
    fit = roicodec.compress_detailed(card, size=budget, model=model)
    assert fit.scale < 8 and fit.in_range and fit.size <= budget and fit.base_level > native.base_level


def test_the_descent_gives_up_early_without_changing_the_file(model, card, monkeypatch):
    """Searches that will land below DESCEND_LEVEL stop early (ratecontrol's give_up_below): the descent
    still picks the file the searches to the end would have, with no more encodes."""
    from roicodec import encoder, ratecontrol

    budget = int(len(roicodec.compress(card, quality=-1.2, model=model, scale=1)) * 1.03)
    calls = []
    encode = encoder.EncodeJob.encode
    monkeypatch.setattr(encoder.EncodeJob, "encode", lambda self, *a, **k: calls.append(a[0]) or encode(self, *a, **k))
    quick = roicodec.compress_detailed(card, size=budget, model=model)
    quick_calls, calls[:] = list(calls), []
    search = ratecontrol.search_base_level
    monkeypatch.setattr(encoder, "search_base_level", lambda *a, give_up_below=None, **k: search(*a, **k))
    full = roicodec.compress_detailed(card, size=budget, model=model)
    assert quick.data == full.data and quick.scale < 8 and quick.size <= budget
    assert len(quick_calls) < len(calls)


def test_the_high_rate_model_codes_larger_by_default_at_high_rates():
    high = roicodec.load_model("highrate-v1")
    card = synthetic_image(160, 128, seed=6, noise=2.0)
    native = roicodec.compress_detailed(card, bpp=2.0, model=high, scale=1)
    res = roicodec.compress_detailed(card, bpp=2.0, model=high)
    assert res.scale > 8 and res.size <= 2.0 * 160 * 128 / 8
    assert psnr(roicodec.decompress(res.data), card) > psnr(roicodec.decompress(native.data), card)


def test_the_high_rate_model_codes_native_where_the_larger_picture_cannot_hold_the_budget():
    """From HIGH_RATE_UPSCALE_BPP the high-rate model codes 1.5x, unless the 1.5x picture's smallest file is
    over the budget: then native size, in range (a noisy picture: 0.32 bpp natively, 0.67 at 1.5x, at level -3)."""
    high = roicodec.load_model("highrate-v2")
    bpp = 0.5
    assert bpp >= scaling.HIGH_RATE_UPSCALE_BPP
    budget = int(bpp * 160 * 128 / 8)
    smooth = roicodec.compress_detailed(synthetic_image(160, 128, seed=7, noise=1.0), bpp=bpp, model=high)
    assert smooth.scale == 12 and smooth.in_range and budget * 0.99 <= smooth.size <= budget
    noisy = synthetic_image(160, 128, seed=7, noise=32.0)
    assert len(roicodec.compress(noisy, quality=-3, model=high, scale=1.5)) > budget
    res = roicodec.compress_detailed(noisy, bpp=bpp, model=high)
    assert res.scale == 8 and res.in_range and budget * 0.99 <= res.size <= budget
    assert res.data == roicodec.compress(noisy, bpp=bpp, model=high, scale=1)


def test_auto_scale_stays_native_at_a_low_rate(model, card):
    res = roicodec.compress_detailed(card, bpp=0.15, model=model, scale="auto")
    assert res.scale == 8 and res.size <= 0.15 * card.size[0] * card.size[1] / 8


def test_roi_map_follows_the_coded_size(model):
    card = synthetic_image(128, 96, seed=5)
    mask = np.zeros((96, 128), np.float32)
    mask[20:60, 30:90] = 1
    res = roicodec.compress_detailed(card, quality=2, roi=mask, roi_strength=3, model=model, scale=2)
    f = decoder.parse(res.data, model)
    assert f.importance.shape == bitstream.latent_shape(192, 256) and f.importance.max() == 16
    assert roicodec.decompress(res.data, model=model).size == card.size


def test_bad_scale_is_a_budget_error(model, card):
    with pytest.raises(BudgetError, match="scale"):
        roicodec.compress(card, bpp=0.5, model=model, scale="1.3")


def _roi_card(w: int, h: int):
    card = synthetic_image(w, h, seed=1)
    mask = np.zeros((h, w), np.float32)
    mask[h // 4: h // 2, w // 4: w // 2] = 1
    return card, mask


def test_auto_scale_climbs_on_the_roi_level(model):
    """With an ROI the climb follows the ROI's level (base + strength), not the background's."""
    card, mask = _roi_card(320, 256)
    budget = int(0.2 * 320 * 256 / 8)
    assert roicodec.compress_detailed(card, size=budget, model=model, scale="auto").scale == 8  # uniform: native
    res = roicodec.compress_detailed(card, size=budget, model=model, scale="auto", roi=mask, roi_strength=7)
    assert res.scale > 8 and res.roi_strength == 7 and res.size <= budget
    assert res.base_level + res.roi_strength >= scaling.CLIMB_LEVEL[0]


def test_auto_scale_never_buys_a_larger_picture_with_the_roi_lift(model):
    card, mask = _roi_card(256, 192)
    budget = int(0.2 * 256 * 192 / 8)
    with pytest.warns(RateControlWarning, match="lowered"):
        larger = roicodec.compress_detailed(card, size=budget, model=model, scale=1.5, roi=mask, roi_strength=7)
    assert larger.roi_strength < 7  # at 1.5x the budget fits only with a lowered lift
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the discarded attempt's warning is not passed on
        res = roicodec.compress_detailed(card, size=budget, model=model, scale="auto", roi=mask, roi_strength=7)
    assert res.scale == 8 and res.roi_strength == 7 and res.size <= budget


def test_inverse_resample_undoes_the_encoders_upsampling_exactly_where_bicubic_blurs():
    from roicodec.inverse_resample import inverse_resample

    x = torch.from_numpy(np.asarray(synthetic_image(96, 64, seed=3, noise=4.0), np.float32) / 255).permute(2, 0, 1)[None]
    for h, w in ((96, 144), (128, 192), (97, 150)):
        up = scaling.resample(x.clone(), h, w)
        back = inverse_resample(up, 64, 96)
        assert back.shape == x.shape
        assert (back - x).abs().max() < 1e-3  # the least-squares inverse of an upsampling is exact
        assert (scaling.resample(up, 64, 96) - x).abs().max() > 0.02  # bicubic down is not
    assert torch.equal(*on_one_and_two_threads(lambda: inverse_resample(scaling.resample(x.clone(), 96, 144), 64, 96)))
    with pytest.raises(ValueError, match="no larger"):
        inverse_resample(x, 128, 96)


def test_pictures_coded_larger_decode_by_least_squares():
    """The decoder undoes the encoder's upsampling by least squares: nearer the picture than resampling
    the coded picture back with bicubic, as the releases before did."""
    high = roicodec.load_model("highrate-v1")
    card = synthetic_image(160, 128, seed=6, noise=2.0)
    for scale in (1.5, 2):
        data = roicodec.compress(card, bpp=1.5, model=high, scale=scale)
        f = decoder.parse(data, high)
        cw, ch = f.coded_size
        with torch.inference_mode():
            coded = decoder.coded_picture(f, high)[:, :, :ch, :cw]
        bicubic = to_image(scaling.resample(coded, 128, 160), 160, 128, "RGB")
        assert psnr(roicodec.decompress(data), card) > psnr(bicubic, card) + 0.3


def test_a_budget_above_the_1_5x_range_goes_to_2x_without_encoding_1_5x(monkeypatch):
    """The high-rate model's default codes 2x where even 1.5x's largest file is well below the budget; the size
    estimate says so before any real encode at 1.5x, and the file is the one the search to the end gave."""
    from roicodec import encoder, ratecontrol

    high = roicodec.load_model("highrate-v2")
    smooth = synthetic_image(160, 128, seed=7, noise=1.0)
    bpp = 5.0  # 1.5x's largest file: 4.1 bpp
    assert len(roicodec.compress(smooth, quality=7, model=high, scale=1.5)) * 1.1 < bpp * 160 * 128 / 8
    scales = []
    encode = encoder.EncodeJob.encode
    monkeypatch.setattr(encoder.EncodeJob, "encode", lambda self, *a, **k: scales.append(a[0]) or encode(self, *a, **k))
    quick = roicodec.compress_detailed(smooth, bpp=bpp, model=high)
    assert quick.scale == 16 and quick.in_range and quick.size <= bpp * 160 * 128 / 8 and 12 not in scales
    scales.clear()
    search = ratecontrol.search_base_level
    monkeypatch.setattr(encoder, "search_base_level", lambda *a, pass_above=False, **k: search(*a, **k))
    full = roicodec.compress_detailed(smooth, bpp=bpp, model=high)
    assert full.data == quick.data and 12 in scales
