"""The decoder: files of every earlier release decode the same, limits, damaged and foreign files."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import roicodec
from roicodec import bitstream, decoder, scaling
from roicodec.images import prepare, to_image, to_padded_tensor
from roicodec.roi import quality_map

from .conftest import on_one_and_two_threads

FIXTURES = Path(__file__).parent / "fixtures"
RELEASES = sorted(p for p in FIXTURES.iterdir() if (p / "manifest.json").exists())
CASES = [(release, name) for release in RELEASES for name in json.loads((release / "manifest.json").read_text())]
#: Largest pixel difference allowed per release, and the share of values that may differ. v0.1.0's pixels were
#: decoded with the fidelity model's float32 file; since weights format 2 it stores its synthesis in float16
#: (same model id, the same latent bit for bit): measured max |diff| 1 on 0.45-1.16 % of the values
#: (67.5-71.6 dB between the two decodes). Every other set decodes exactly on the CPU that made it; the
#: synthesis is float32, whose sums oneDNN orders by the CPU's vector width, so on another CPU a rare value
#: rounds the other way (measured on an AVX2-only EPYC against the AVX-512 machine that wrote
#: fidelity-v1-f16: max |diff| 1 on at most 0.005 % of the values). The latent is checked bit for bit above.
PIXEL_TOLERANCE = {"v0.1.0": (1, 0.02)}
OTHER_CPU_TOLERANCE = (1, 0.001)


@pytest.mark.parametrize("release,name", CASES, ids=[f"{r.name}/{n}" for r, n in CASES])
def test_files_of_earlier_releases_decode_bit_for_bit(release, name):
    expected = json.loads((release / "manifest.json").read_text())[name]
    data = (release / f"{name}.rcz").read_bytes()
    model = decoder.model_for(data)  # each set names its model: the fidelity or the high-rate one
    f = decoder.parse(data, model)
    with torch.inference_mode():
        latent = decoder.decode_latent(f, model)
    # the entropy-decoded latent is exact integer arithmetic: the same on every machine
    assert hashlib.sha256(latent.numpy().tobytes()).hexdigest() == expected["latent_sha256"]
    # the registry picks the model the file names; the reference decode (auto may run the synthesis in bf16,
    # tests/test_hardware.py)
    image = roicodec.decompress(data, precision="float32")
    if f.scale > bitstream.SCALE_ONE:
        # a picture coded larger: the releases resampled it back with scaling.resample, which the decoder
        # now does by least squares (inverse_resample.py, tested in test_scaling.py); the coded picture is
        # what must not have changed
        cw, ch = f.coded_size
        with torch.inference_mode():
            coded = decoder.coded_picture(f, model, precision="float32")[:, :, :ch, :cw]
            image = to_image(scaling.resample(coded, f.height, f.width), f.width, f.height, f.mode)
    assert (image.mode, list(image.size)) == (expected["mode"], expected["size"])
    diff = np.abs(np.asarray(image, np.int16) - np.asarray(Image.open(release / f"{name}.png"), np.int16))
    most, share = PIXEL_TOLERANCE.get(release.name, OTHER_CPU_TOLERANCE)
    assert diff.max() <= most and (diff > 0).mean() <= share


def test_decode_equals_model_reconstruction_exactly(model, card):
    data = roicodec.compress(card, quality=3.25, model=model, precision="float32")
    decoded = roicodec.decompress(data, model=model, precision="float32")
    # the encoder's own quantised latent, reconstructed by the model directly
    f = decoder.parse(data, model)
    with torch.inference_mode():
        y = model.analyse(to_padded_tensor(prepare(card).rgb))
        q = quality_map(f.base_level, 0.0, None, f.latent_shape, model.config.level_range)
        code = model.compress_latent(y, q)
        ref = to_image(model.synthesise(code.y_hat_int, q), card.size[0], card.size[1], "RGB")
        assert torch.equal(model.decompress_latent(code.z_string, code.y_strings, code.latent_shape), code.y_hat_int)
    assert np.array_equal(np.asarray(decoded), np.asarray(ref))


def test_decode_is_identical_across_thread_counts(model, card):
    data = roicodec.compress(card, quality=4, model=model)
    a, b = on_one_and_two_threads(lambda: np.asarray(roicodec.decompress(data, model=model)))
    assert np.array_equal(a, b)


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_file_from_other_weights_is_refused(model, card):
    data = bytearray(roicodec.compress(card, quality=3, model=model))
    data[5] ^= 0xFF  # model id
    data = _with_crc(bytes(data[:-4]))
    with pytest.raises(roicodec.ModelMismatchError, match="but the loaded model is"):
        roicodec.decompress(data, model=model)
    with pytest.raises(roicodec.ModelMismatchError, match="which is not installed"):
        roicodec.decompress(data)  # no installed model has that id


def test_inspect_reports_size_and_levels(model, card):
    data = roicodec.compress(card, quality=2.5, model=model)
    info = roicodec.inspect(data, model=model)
    assert info["bytes"] == len(data)
    assert info["bpp"] == pytest.approx(8 * len(data) / (card.size[0] * card.size[1]))
    assert info["level_min"] == info["level_max"] == 2.5
    assert info["model_matches"] is True
    bare = roicodec.inspect(data)  # without a model: the header and the installed models' metadata
    assert "model_matches" not in bare and bare["model"] == "fidelity-v1"
    assert (bare["level_min"], bare["level_max"]) == (2.5, 2.5)


def test_info_names_a_model_that_is_not_installed(model, card):
    data = bytearray(roicodec.compress(card, quality=3, model=model))
    data[5] ^= 0xFF  # model id
    info = roicodec.inspect(_with_crc(bytes(data[:-4])))
    assert info["model"] is None and info["model_id"] != model.model_id.hex()


def _claiming(data: bytes, model, width: int, height: int) -> bytes:
    """A valid-CRC file whose header claims another picture size (payloads kept)."""
    f = decoder.parse(data, model)
    f.width, f.height = width, height
    return bitstream.pack(f, model.config.level_range)


def test_crafted_huge_picture_is_refused_before_decoding(model, card):
    data = _claiming(roicodec.compress(card, quality=0, model=model), model, 16384, 16384)
    assert len(data) < 20_000  # a few KB that would otherwise ask for ~11 GB
    t0 = time.perf_counter()
    with pytest.raises(roicodec.DecodeLimitError) as exc:
        roicodec.decompress(data, model=model)
    message = str(exc.value)
    assert re.search(r"16384x16384 file needs ~10\.7 GiB of memory \(268,435,456 pixels.*over the limit of 8\.0 GiB"
                     r".*max_memory \(--max-memory\)", message) and "\n" not in message
    with pytest.raises(roicodec.DecodeLimitError, match="max_pixels"):  # the pixel limit still works
        roicodec.decompress(data, model=model, max_pixels=50_000_000, max_memory=None)
    assert time.perf_counter() - t0 < 1.0


def test_a_header_beyond_the_format_is_refused_in_one_line(model, card):
    """65535x65535 declared (4.3 Gpixels, over the format's 2^28): refused before anything is allocated."""
    data = roicodec.compress(card, quality=0, model=model)
    f = decoder.parse(data, model)
    head = 4 + 1 + bitstream.MODEL_ID_BYTES
    sizes = bitstream.encode_varint(f.width) + bitstream.encode_varint(f.height)
    assert data[head:head + len(sizes)] == sizes
    crafted = _with_crc(data[:head] + bitstream.encode_varint(65535) * 2 + data[head + len(sizes):-4])
    t0 = time.perf_counter()
    with pytest.raises(roicodec.RoicodecError) as exc:
        roicodec.decompress(crafted, model=model, max_memory=None)
    assert "\n" not in str(exc.value) and "65535x65535" in str(exc.value)
    assert time.perf_counter() - t0 < 1.0


def test_the_memory_limit_follows_the_tiled_decoder():
    """Beyond one tile, memory grows by DECODE_BYTES_PER_TILED_PIXEL: a 50 MP photo passes the default limit
    (docs/memory.md measured its peak), a header at the format's limit does not."""
    assert bitstream.decode_memory(8640 * 5760) < 4e9 < bitstream.MAX_DECODE_MEMORY
    assert bitstream.decode_memory(bitstream.MAX_PIXELS) > bitstream.MAX_DECODE_MEMORY
    assert bitstream.decode_memory(bitstream.MAX_DECODE_PIXELS) <= bitstream.MAX_DECODE_MEMORY
    assert bitstream.MAX_DECODE_PIXELS > 150_000_000


def test_decode_limit_counts_the_least_squares_resampling_of_a_picture_coded_larger(model, card):
    from roicodec.errors import DecodeLimitError

    data = roicodec.compress(card, quality=3, model=model, scale=2)
    f = decoder.parse(data, model)
    cw, ch = f.coded_size
    ph, pw = bitstream.padded_size(ch, cw)
    needed = bitstream.decode_memory(ph * pw, cw * ch)
    assert needed > bitstream.decode_memory(ph * pw)
    with pytest.raises(DecodeLimitError, match="max_memory"):
        roicodec.decompress(data, model=model, max_memory=needed - 1)
    assert roicodec.decompress(data, model=model, max_memory=needed).size == card.size


def test_decode_limit_counts_the_coded_size(model, card):
    w, h = card.size
    plain = roicodec.compress(card, quality=1, model=model)
    scaled = roicodec.compress(card, quality=1, model=model, scale=2)
    assert roicodec.decompress(plain, model=model, max_pixels=w * h).size == (w, h)  # exactly at the limit: fine
    with pytest.raises(roicodec.DecodeLimitError):
        roicodec.decompress(plain, model=model, max_pixels=w * h - 1)
    with pytest.raises(roicodec.DecodeLimitError):  # the decoder synthesises 4x the pixels
        roicodec.decompress(scaled, model=model, max_pixels=2 * w * h)
    assert roicodec.decompress(scaled, model=model, max_pixels=None).size == (w, h)


def test_a_damaged_payload_is_a_bitstream_error(model, card):
    data = bytearray(roicodec.compress(card, quality=4, model=model))
    f = decoder.parse(bytes(data), model)
    f.y_payloads = [p[: len(p) // 3] for p in f.y_payloads]  # truncated streams, valid header and CRC
    damaged = bitstream.pack(f, model.config.level_range)
    try:
        image = roicodec.decompress(damaged, model=model)
    except roicodec.BitstreamError as exc:
        assert "corrupt file" in str(exc)
    else:  # rANS may read a truncated stream as zeros: then it is a picture of the right size
        assert image.size == card.size
