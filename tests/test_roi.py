import numpy as np
import pytest
from PIL import Image

import roicodec
from roicodec.errors import ImageInputError
from roicodec.evaluate.metrics import psnr as _psnr
from roicodec.roi import block_importance, load_mask, pixel_importance

from .conftest import synthetic_image


def test_mask_moves_quality_into_the_roi_at_equal_size(model):
    im = synthetic_image(256, 192, seed=7, noise=1.5)
    mask = np.zeros((192, 256), np.float32)
    mask[48:144, 64:160] = 1.0
    # a budget in the lower part of the model's range, where raising the ROI has headroom
    smallest = len(roicodec.compress(im, quality=0, roi=mask, roi_strength=3, model=model))
    largest = len(roicodec.compress(im, quality=model.config.levels - 1, model=model))
    budget = int(smallest * (largest / smallest) ** 0.3)
    plain = roicodec.compress_detailed(im, size=budget, model=model)
    roi = roicodec.compress_detailed(im, size=budget, roi=mask, roi_strength=3, model=model)
    assert len(roi.data) <= budget and len(plain.data) <= budget
    assert abs(len(roi.data) - len(plain.data)) <= 0.02 * budget
    inside = mask > 0.5
    a = roicodec.decompress(plain.data, model=model)
    b = roicodec.decompress(roi.data, model=model)
    assert _psnr(b, im, inside) > _psnr(a, im, inside) + 0.5
    assert _psnr(b, im, ~inside) < _psnr(a, im, ~inside)
    info = roicodec.inspect(roi.data, model=model)
    assert info["has_roi"] and info["level_max"] > info["level_min"]


def test_budget_below_the_roi_range_lowers_the_strength_instead_of_overshooting(model):
    im = synthetic_image(256, 192, seed=7, noise=1.5)
    mask = np.zeros((192, 256), np.float32)
    mask[48:144, 64:160] = 1.0
    floor = model.config.min_level  # the background cannot go lower than this
    flat = len(roicodec.compress(im, quality=floor, model=model))
    lifted = len(roicodec.compress(im, quality=floor, roi=mask, roi_strength=4, model=model))
    assert lifted > flat * 1.1
    budget = (flat + lifted) // 2
    with pytest.warns(roicodec.RateControlWarning, match="strength was lowered"):
        res = roicodec.compress_detailed(im, size=budget, roi=mask, roi_strength=4, model=model)
    assert len(res.data) <= budget and res.in_range and 0 < res.roi_strength < 4
    info = roicodec.inspect(res.data, model=model)
    assert info["base_level"] == floor and info["roi_strength"] == res.roi_strength and info["has_roi"]
    assert roicodec.decompress(res.data, model=model).size == (256, 192)


def test_budget_below_even_the_background_gives_the_smallest_file(model):
    im = synthetic_image(256, 192, seed=7, noise=1.5)
    mask = np.zeros((192, 256), np.float32)
    mask[48:144, 64:160] = 1.0
    flat = roicodec.compress(im, quality=model.config.min_level, model=model)
    with pytest.warns(roicodec.RateControlWarning, match="even without"):
        res = roicodec.compress_detailed(im, size=len(flat) // 2, roi=mask, roi_strength=4, model=model, scale=1)
    assert res.data == flat and res.roi_strength == 0 and not res.in_range
    smaller = roicodec.compress_detailed(im, size=len(flat) // 2, roi=mask, roi_strength=4, model=model)
    assert smaller.scale < 8 and len(smaller.data) < len(flat)  # the default codes it smaller instead


def test_mask_from_png_and_resize(tmp_path):
    m = Image.new("L", (50, 40), 0)
    m.paste(255, (10, 10, 30, 30))
    path = tmp_path / "m.png"
    m.save(path)
    a = load_mask(path, (100, 80))
    assert a.shape == (80, 100) and a.max() == 1.0 and a.min() == 0.0
    with pytest.raises(ImageInputError, match="aspect"):
        load_mask(path, (100, 30))


def test_mask_array_validation():
    with pytest.raises(ImageInputError):
        load_mask(np.full((4, 4), 2.0), (4, 4))


def test_block_importance_is_quantised_and_padded():
    imp = np.zeros((70, 100), np.float32)
    imp[:, :50] = 1
    b = block_importance(imp)
    assert b.shape == (8, 8) and b.dtype == np.uint8
    assert b.max() == 16 and b[:, -1].max() == 0


def test_thin_regions_keep_full_importance_in_the_blocks_they_touch():
    imp = np.zeros((64, 64), np.float32)
    imp[20:26, 8:40] = 1  # a text line 6 px high
    b = block_importance(imp)
    assert b[1, 0] == 16 and b[1, 2] == 16  # every block the line touches is fully important
    assert 0 < b[0, 1] < 16 and b[3, 3] == 0  # a soft halo next to it, nothing far away


def test_pixel_importance_keeps_the_region_and_fades_outside_it():
    imp = np.zeros((64, 64), np.float32)
    imp[20:26, 8:40] = 1
    p = pixel_importance(imp)
    assert p.shape == imp.shape and p.dtype == np.float32
    assert (p[20:26, 8:40] == 1).all()  # never below the raw map
    assert 0 < p[30, 24] < 1 and p[63, 63] < 1e-3  # a halo beside the line, nothing far away
    assert np.array_equal(pixel_importance(imp, sigma=0), imp)
