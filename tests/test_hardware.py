"""Decodes are identical at any thread count, for both shipped models and shapes where oneDNN's work
splitting changed the float sums (hardware.reproducible_threads). Without it the first two fail on an
AVX-512 / AMX CPU (``NARROW_LATENT = 0``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import roicodec

from .conftest import synthetic_image


@pytest.mark.parametrize(("model_name", "size", "bpp"), [
    ("fidelity-v1", (304, 112), 0.3),   # latent 8x20: the 1- and 2-thread floats differed on an AMX CPU
    ("fidelity-v1", (256, 192), 0.3),   # latent 12x16: the same
    ("highrate-v1", (304, 592), 1.0),   # latent 40x20: multi-threaded, and identical
])
def test_narrow_pictures_decode_identically_on_one_and_two_threads(model_name, size, bpp):
    model = roicodec.load_model(model_name)
    data = roicodec.compress(synthetic_image(*size, seed=5), bpp=bpp, model=model)
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = np.asarray(roicodec.decompress(data, model=model))
        torch.set_num_threads(2)
        two = np.asarray(roicodec.decompress(data, model=model))
    finally:
        torch.set_num_threads(n)
    assert np.array_equal(one, two)
