"""The public front: keyword-only options, one signature for compress and compress_detailed."""

import inspect

import pytest

import roicodec


def test_options_are_keyword_only(model, card):
    with pytest.raises(TypeError):
        roicodec.compress(card, 0.5)  # a bare number could be bpp, size or quality
    data = roicodec.compress(card, quality=2, model=model)
    with pytest.raises(TypeError):
        roicodec.decompress(data, model)
    with pytest.raises(TypeError):
        roicodec.inspect(data, model)


def test_compress_has_compress_detailed_options_and_gives_its_bytes(model, card):
    detailed = inspect.signature(roicodec.compress_detailed).parameters
    assert inspect.signature(roicodec.compress).parameters == detailed
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for name, p in detailed.items() if name != "image")
    result = roicodec.compress_detailed(card, bpp=0.4, boxes="10,10,60,40", roi_strength=3, model=model)
    assert isinstance(result, roicodec.CompressResult) and result.roi_strength == 3
    assert roicodec.compress(card, bpp=0.4, boxes="10,10,60,40", roi_strength=3, model=model) == result.data


def test_an_unknown_option_is_an_error(model, card):
    with pytest.raises(TypeError, match="bpps"):
        roicodec.compress(card, bpps=0.4, model=model)


def test_exactly_one_budget(model, card):
    for kwargs in ({}, {"bpp": 0.3, "size": 1000}, {"quality": 2, "bpp": 0.1}):
        with pytest.raises(roicodec.BudgetError, match="exactly one"):
            roicodec.compress(card, model=model, **kwargs)
