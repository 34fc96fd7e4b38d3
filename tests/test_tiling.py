"""Tiled synthesis and analysis, banded entropy parameters: the untiled results with bounded memory.

Small tiles and bands stand in for big pictures: the tests force several tiles on pictures of a few
hundred pixels, which is what a 50 MP picture does with the default sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import roicodec
from roicodec import bitstream, decoder
from roicodec.images import prepare, to_image, to_padded_tensor
from roicodec.model import entropy, latent_codec
from roicodec.model.tiling import TILE, run_tiled, tile_bounds
from roicodec.model.transforms import RECEPTIVE_HALO
from .conftest import synthetic_image

MODELS = ["fidelity-v1", "highrate-v1"]


@pytest.fixture(scope="module", params=MODELS)
def shipped(request):
    return roicodec.load_model(request.param)


def test_tile_bounds_split_evenly():
    assert tile_bounds(136, 96) == [(0, 68), (68, 136)]
    assert tile_bounds(240, 96) == [(0, 80), (80, 160), (160, 240)]
    assert tile_bounds(40, 96) == [(0, 40)]
    assert tile_bounds(7, 2) == [(0, 2), (2, 4), (4, 6), (6, 7)]


def test_the_decode_limit_knows_the_tile():
    assert bitstream.DECODE_TILE_PIXELS == (TILE * 16) ** 2  # bitstream is torch-free: it cannot import TILE


def test_run_tiled_reassembles_a_local_operation():
    x = torch.randn(1, 4, 10, 13)
    conv = torch.nn.Conv2d(4, 2, 3, padding=1).double()

    def up(t):  # a 3x3 convolution then x2 nearest upsampling: receptive field 1, unit_out 2
        return torch.nn.functional.interpolate(conv(t.double()), scale_factor=2)

    whole = up(x)
    assert torch.equal(run_tiled(up, [x], halo=1, tile=3, unit_out=2), whole)
    assert not torch.equal(run_tiled(up, [x], halo=0, tile=3, unit_out=2), whole)  # the halo is needed


@pytest.mark.parametrize("which", [0, 1], ids=["analysis", "synthesis"])
def test_halo_covers_the_receptive_field(shipped, which):
    """An impulse moves the output only within the halo (latent positions) that tiling adds."""
    halo = RECEPTIVE_HALO[shipped.config.transforms][which]
    with torch.inference_mode():
        if which == 0:
            x = torch.full((1, 3, 512, 512), 0.5)
            x2 = x.clone()
            x2[0, :, 256, 256] = 1.0
            diff = (shipped.analyse(x, tile=None) - shipped.analyse(x2, tile=None)).abs().amax(dim=(0, 1)) > 0
            rows = torch.nonzero(diff.any(1)).flatten()
            reach = max(16 - int(rows.min()), int(rows.max()) - 16)  # the impulse is at latent 16
        else:
            y = torch.zeros(1, shipped.config.m, 32, 32, dtype=torch.float64)
            q = torch.full((1, 1, 32, 32), 3.0)
            y2 = y.clone()
            y2[0, :, 16, 16] = 5 * 256
            diff = (shipped.synthesise(y, q, tile=None) - shipped.synthesise(y2, q, tile=None)).abs().amax(dim=(0, 1)) > 0
            rows = torch.nonzero(diff.any(1)).flatten()
            reach = -(-max(256 - int(rows.min()), int(rows.max()) - 271) // 16)  # pixels 256..271 are latent 16
    assert 0 < reach <= halo


# Tiles small enough to force 2 x 3 tiles on a test picture, and wide enough that oneDNN takes the same
# convolution kernels as on the whole picture (the default tiles are 68-96 latent positions). How narrow is
# too narrow depends on the CPU: on an AVX-512 AMD EPYC, highrate-v1 (bls2017) decoded differently with
# tiles of 14-16 positions (floats up to 6e-7 apart, 20-45 pixels in 300 000 one level off) and identically
# from 18 on; fidelity-v1 identically with every size from 8 on. Elsewhere fidelity-v1 differed below 11.
TILED_DECODE = {"fidelity-v1": ((640, 448), (650, 430), 16), "highrate-v1": ((1024, 704), (1034, 690), 24)}


@pytest.mark.parametrize("roi", [False, True], ids=["plain", "roi-odd-size"])
def test_tiled_decode_equals_untiled(shipped, roi, request):
    """Bytes of the decoded 8-bit picture: identical over several tiles of 14-22 latent positions."""
    plain_size, odd_size, tile = TILED_DECODE[request.node.callspec.params["shipped"]]
    size = odd_size if roi else plain_size
    image = synthetic_image(*size, seed=7)
    mask = np.zeros(size[::-1], np.float32)
    mask[30:150, 40:200] = 1.0
    data = roicodec.compress(image, quality=3.5, model=shipped, roi=mask if roi else None, roi_strength=2.0)
    f = decoder.parse(data, shipped)
    assert (f.importance is not None) == roi
    whole = decoder.reconstruct(f, shipped, tile=None)
    tiled = decoder.reconstruct(f, shipped, tile=tile)
    assert torch.equal(whole, tiled)
    a, b = (np.asarray(to_image(t, f.width, f.height, f.mode)) for t in (whole, tiled))
    assert a.tobytes() == b.tobytes()
    assert roicodec.decompress(data, model=shipped).tobytes() == a.tobytes()  # the default tile: one tile here


def test_tiled_analysis_codes_the_same_file(shipped):
    """Tiled analysis (2 x 3 tiles of 14 latent positions): the same latent up to float rounding (bls2017's
    g_a differs by ~2e-6 of its range on some CPUs, at every tile size), and the same file here."""
    image = synthetic_image(640, 448, seed=3)
    with torch.inference_mode():
        x = to_padded_tensor(prepare(image).rgb)
        whole, tiled = shipped.analyse(x, tile=None), shipped.analyse(x, tile=16)
    assert float((whole - tiled).abs().max()) <= 1e-5 * float(whole.abs().max())
    q = torch.full((1, 1, *whole.shape[-2:]), 3.0)
    with torch.inference_mode():
        assert shipped.compress_latent(whole, q).y_strings == shipped.compress_latent(tiled, q).y_strings


def test_banded_entropy_parameters_give_the_same_file(model, monkeypatch):
    """The exact parameter networks and h_s in bands of a few rows: the same bytes and latent."""
    image = synthetic_image(300, 200, seed=11)
    data = roicodec.compress(image, quality=3, model=model)
    f = decoder.parse(data, model)
    with torch.inference_mode():
        latent = decoder.decode_latent(f, model)
    monkeypatch.setattr(entropy, "BAND_POSITIONS", 20)  # 1 row of 20 latent positions per band
    monkeypatch.setattr(latent_codec, "BAND_POSITIONS", 20)
    assert len(model.latent_codec.context._bands(f.latent_shape)) == f.latent_shape[0]
    assert roicodec.compress(image, quality=3, model=model) == data
    with torch.inference_mode():
        assert torch.equal(decoder.decode_latent(f, model), latent)
    monkeypatch.setattr(entropy, "KEEP_FIXED_POSITIONS", 0)  # the first layer's sums computed again per pass
    assert roicodec.compress(image, quality=3, model=model) == data
    with torch.inference_mode():
        assert torch.equal(decoder.decode_latent(f, model), latent)


def test_tiled_perceptual_decode_equals_untiled(model):
    """The perceptual head runs inside the same tiles, with its own reach added to the halo."""
    from roicodec.models import perceptual_head_for

    try:
        head = perceptual_head_for(model)
    except Exception as exc:  # no head installed for this model
        pytest.skip(f"no perceptual head: {exc}")
    mask = np.zeros((430, 650), np.float32)
    mask[30:150, 40:200] = 1.0
    data = roicodec.compress(synthetic_image(650, 430, seed=7), quality=3.5, model=model, roi=mask, roi_strength=2.0)
    f = decoder.parse(data, model)
    whole = decoder.reconstruct(f, model, realism=1.0, head=head, tile=None)
    assert torch.equal(decoder.reconstruct(f, model, realism=1.0, head=head, tile=16), whole)
    assert not torch.equal(decoder.reconstruct(f, model, tile=None), whole)  # the head did change the picture
