"""End-to-end coding with the shipped model."""

import numpy as np
import pytest
import torch
from PIL import Image

import roicodec
from roicodec import bitstream
from roicodec.images import prepare, to_image, to_padded_tensor
from roicodec.roi import quality_map

from .conftest import synthetic_image


def test_decode_equals_model_reconstruction_exactly(model, card):
    data = roicodec.compress(card, quality=3.25, model=model)
    decoded = roicodec.decompress(data, model)
    # the encoder's own quantised latent, reconstructed by the model directly
    f = bitstream.unpack(data, model.config.level_range, len(model.context.groups))
    with torch.inference_mode():
        y = model.analyse(to_padded_tensor(prepare(card).rgb))
        q = quality_map(f.base_level, 0.0, None, f.latent_shape, model.config.level_range)
        code = model.compress_latent(y, q)
        ref = to_image(model.synthesise(code.y_hat_int, q), card.size[0], card.size[1], "RGB")
        assert torch.equal(model.decompress_latent(code.z_string, code.y_strings, code.latent_shape), code.y_hat_int)
    assert np.array_equal(np.asarray(decoded), np.asarray(ref))


def test_reconstruction_is_close_to_the_input(model, card):
    hi = np.asarray(roicodec.decompress(roicodec.compress(card, quality=6, model=model), model), dtype=float)
    lo = np.asarray(roicodec.decompress(roicodec.compress(card, quality=1, model=model), model), dtype=float)
    ref = np.asarray(card, dtype=float)
    psnr = lambda a: 10 * np.log10(255**2 / np.mean((a - ref) ** 2))  # noqa: E731
    assert psnr(hi) > psnr(lo) > 15


def test_higher_quality_gives_larger_files(model, card):
    sizes = [len(roicodec.compress(card, quality=q, model=model)) for q in (0, 2, 4, 7)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_levels_below_zero_make_smaller_files_that_decode(model, card):
    assert model.config.min_level == -3.0  # the shipped model is trained down to level -3
    data = {q: roicodec.compress(card, quality=q, model=model) for q in (-3, -2, -1, 0)}
    assert len(data[-3]) < len(data[-2]) < len(data[-1]) < len(data[0])
    ref = np.asarray(card, dtype=float)
    for q, d in data.items():
        assert roicodec.inspect(d, model)["base_level"] == q
        dec = np.asarray(roicodec.decompress(d, model), dtype=float)
        assert 10 * np.log10(255**2 / np.mean((dec - ref) ** 2)) > 15
    with pytest.raises(roicodec.RoicodecError):
        roicodec.compress(card, quality=-3.5, model=model)


def test_decode_is_identical_across_thread_counts(model, card):
    data = roicodec.compress(card, quality=4, model=model)
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = np.asarray(roicodec.decompress(data, model))
        torch.set_num_threads(2)
        b = np.asarray(roicodec.decompress(data, model))
    finally:
        torch.set_num_threads(n)
    assert np.array_equal(a, b)


def test_encode_is_identical_across_thread_counts(model, card):
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = roicodec.compress(card, quality=2.5, model=model)
        torch.set_num_threads(2)
        b = roicodec.compress(card, quality=2.5, model=model)
    finally:
        torch.set_num_threads(n)
    assert a == b


@pytest.mark.parametrize("size", [(1, 1), (1, 37), (65, 3), (130, 67)])
def test_any_size_round_trips(model, size):
    im = synthetic_image(*size, seed=5)
    out = roicodec.decompress(roicodec.compress(im, quality=5, model=model), model)
    assert out.size == size and out.mode == "RGB"


def test_grayscale_comes_back_grayscale(model, card):
    gray = card.convert("L")
    out = roicodec.decompress(roicodec.compress(gray, quality=4, model=model), model)
    assert out.mode == "L" and out.size == gray.size
    assert np.abs(np.asarray(out, float) - np.asarray(gray, float)).mean() < 30


def test_alpha_is_composited_onto_white(model):
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # fully transparent black
    prepared = prepare(rgba)
    assert any("alpha" in n for n in prepared.notes)
    assert prepared.rgb.min() == 255


def test_palette_and_16bit_inputs(model, card):
    pal = card.convert("P", palette=Image.Palette.ADAPTIVE)
    assert prepare(pal).mode == "RGB"
    a16 = (np.asarray(card.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    im16 = Image.fromarray(a16)
    assert im16.mode.startswith("I;16")
    p = prepare(im16)
    assert p.mode == "L" and any("16-bit" in n for n in p.notes)
    assert np.abs(p.rgb[..., 0].astype(int) - np.asarray(card.convert("L"), dtype=int)).max() <= 1
    out = roicodec.decompress(roicodec.compress(im16, quality=3, model=model), model)
    assert out.mode == "L" and out.size == card.size


def test_exif_orientation_is_applied(tmp_path, card):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = tmp_path / "rot.jpg"
    card.save(path, exif=exif.tobytes(), quality=95)
    p = prepare(path)
    assert p.size == (card.size[1], card.size[0])
    assert "EXIF orientation applied" in p.notes


def test_file_from_other_weights_is_refused(model, card):
    data = bytearray(roicodec.compress(card, quality=3, model=model))
    data[5] ^= 0xFF  # model id
    body = bytes(data[:-4])
    import struct, zlib  # noqa: E401

    data = body + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(roicodec.ModelMismatchError):
        roicodec.decompress(data, model)


def test_inspect_reports_size_and_levels(model, card):
    data = roicodec.compress(card, quality=2.5, model=model)
    info = roicodec.inspect(data, model)
    assert info["bytes"] == len(data)
    assert info["bpp"] == pytest.approx(8 * len(data) / (card.size[0] * card.size[1]))
    assert info["level_min"] == info["level_max"] == 2.5
    assert info["model_matches"] is True


def _claiming(data: bytes, model, width: int, height: int) -> bytes:
    """A valid-CRC file whose header claims another picture size (payloads kept)."""
    f = bitstream.unpack(data, model.config.level_range, len(model.context.groups))
    f.width, f.height = width, height
    return bitstream.pack(f, model.config.level_range)


def test_crafted_huge_picture_is_refused_before_decoding(model, card):
    import time

    data = _claiming(roicodec.compress(card, quality=0, model=model), model, 16384, 16384)
    assert len(data) < 20_000  # a few KB that would otherwise ask for ~80 GB
    t0 = time.perf_counter()
    with pytest.raises(roicodec.DecodeLimitError, match=r"16384x16384 file needs 268,435,456 pixels.*GiB.*over the limit of 50,000,000.*--max-pixels"):
        roicodec.decompress(data, model)
    assert time.perf_counter() - t0 < 1.0


def test_decode_limit_counts_the_coded_size(model, card):
    w, h = card.size
    plain = roicodec.compress(card, quality=1, model=model)
    scaled = roicodec.compress(card, quality=1, model=model, scale=2)
    assert roicodec.decompress(plain, model, max_pixels=w * h).size == (w, h)  # exactly at the limit: fine
    with pytest.raises(roicodec.DecodeLimitError):
        roicodec.decompress(plain, model, max_pixels=w * h - 1)
    with pytest.raises(roicodec.DecodeLimitError):  # the decoder synthesises 4x the pixels
        roicodec.decompress(scaled, model, max_pixels=2 * w * h)
    assert roicodec.decompress(scaled, model, max_pixels=None).size == (w, h)
