import struct
import zlib

import numpy as np
import pytest

from roicodec import bitstream
from roicodec.bitstream import RczFile, pack, unpack
from roicodec.errors import BitstreamError
from roicodec.levels import LevelRange

LEVELS, GROUPS = LevelRange(0.0, 7.0), 5


def sample(importance: bool = True) -> RczFile:
    shape = bitstream.latent_shape(100, 70)
    imp = (np.arange(shape[0] * shape[1]) % 17).astype(np.uint8).reshape(shape) if importance else None
    return RczFile(70, 100, "RGB", bytes(range(8)), 2.5, 1.75, imp, b"zz", [b"a", b"", b"ccc", b"d" * 200, b"e"])


def test_roundtrip_preserves_every_field():
    f = sample()
    g = unpack(pack(f, LEVELS), LEVELS, GROUPS)
    assert (g.width, g.height, g.mode, g.model_id) == (70, 100, "RGB", bytes(range(8)))
    assert (g.base_level, g.roi_strength) == (2.5, 1.75)
    assert np.array_equal(g.importance, f.importance)
    assert g.z_payload == b"zz" and g.y_payloads == f.y_payloads


def test_uniform_map_costs_one_byte():
    with_map = len(pack(sample(True), LEVELS))
    without = len(pack(sample(False), LEVELS))
    blob = zlib.compress(sample(True).importance.tobytes(), 9)
    assert with_map - without == len(bitstream.encode_varint(len(blob))) + len(blob) - 1  # uniform: one 0 byte
    assert unpack(pack(sample(False), LEVELS), LEVELS, GROUPS).importance is None


def test_latent_shape_pads_to_64():
    assert bitstream.latent_shape(1, 1) == (4, 4)
    assert bitstream.latent_shape(64, 65) == (4, 8)
    assert bitstream.latent_shape(512, 768) == (32, 48)


@pytest.mark.parametrize("cut", [1, 4, 10, 20, 40])
def test_truncated_file_is_rejected(cut):
    data = pack(sample(), LEVELS)
    with pytest.raises(BitstreamError):
        unpack(data[:-cut], LEVELS, GROUPS)


def test_every_single_bit_flip_is_detected():
    data = bytearray(pack(sample(), LEVELS))
    for i in range(len(data)):
        for bit in (0, 7):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            with pytest.raises(BitstreamError):
                unpack(bytes(bad), LEVELS, GROUPS)


def test_wrong_magic_and_version():
    data = pack(sample(), LEVELS)
    with pytest.raises(BitstreamError, match="magic"):
        unpack(b"\x89PNG" + data[4:], LEVELS, GROUPS)
    body = bytearray(data[:-4])
    body[4] = 99
    body += struct.pack("<I", zlib.crc32(body))
    with pytest.raises(BitstreamError, match="version"):
        unpack(bytes(body), LEVELS, GROUPS)


def test_empty_and_garbage_inputs():
    for data in (b"", b"\x89RC", b"\x89RCZ", b"\x00" * 64):
        with pytest.raises(BitstreamError):
            unpack(data, LEVELS, GROUPS)


def _refit(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_valid_crc_but_inconsistent_fields_are_rejected():
    data = pack(sample(), LEVELS)
    body = data[:-4]
    with pytest.raises(BitstreamError, match="trailing"):
        unpack(_refit(body + b"x"), LEVELS, GROUPS)
    with pytest.raises(BitstreamError, match="groups"):
        unpack(data, LEVELS, GROUPS + 1)
    # a size field claiming a gigantic image must not allocate anything
    huge = bytearray(body[:13]) + bitstream.encode_varint(1 << 20) + bitstream.encode_varint(1 << 20) + body[13 + 2 :]
    with pytest.raises(BitstreamError, match="size"):
        unpack(_refit(bytes(huge)), LEVELS, GROUPS)


def test_pack_refuses_invalid_fields():
    f = sample()
    f.base_level = 9.0
    with pytest.raises(ValueError):
        pack(f, LEVELS)


def test_levels_below_zero_roundtrip_only_for_models_that_have_them():
    f = sample()
    f.base_level = -1.75
    data = pack(f, LevelRange(-2.0, 7.0))
    assert unpack(data, LevelRange(-2.0, 7.0), GROUPS).base_level == -1.75
    with pytest.raises(BitstreamError, match="base quality level"):
        unpack(data, LEVELS, GROUPS)  # a model without levels below 0 refuses the file
    f.base_level = -2.25
    with pytest.raises(ValueError):
        pack(f, LevelRange(-2.0, 7.0))


def test_files_from_before_min_level_read_the_same():
    """The base level used to be written as u16; every valid old value reads unchanged as i16,
    because the highest level any model takes still fits below i16's sign bit."""
    top = round(LEVELS.high * bitstream.BASE_LEVEL_STEPS)
    assert top < 1 << 15
    f = sample()
    f.base_level = LEVELS.high
    data = pack(f, LEVELS)
    assert struct.pack("<H", top) in data  # the u16 an old writer produced for the same level
    assert unpack(data, LEVELS, GROUPS).base_level == LEVELS.high


def test_level_range_is_one_value_with_both_ends():
    r = LevelRange.of_model(8, -3.0)
    assert (r.low, r.high) == (-3.0, 7.0) and -3.0 in r and 7.0 in r and 7.01 not in r
    assert r.clamp(-5.0) == -3.0 and r.clamp(9.0) == 7.0 and r.clamp(1.5) == 1.5
    assert LevelRange.of_model(8, 0.0).low == 0.0
    with pytest.raises(ValueError):
        LevelRange.of_model(8, 1.0)  # levels start at 0 or below
    with pytest.raises(ValueError):
        LevelRange(1.0, 0.0)


def test_scaled_file_is_version_2_and_keeps_its_scale():
    f = sample(importance=False)
    f.scale = 12
    data = pack(f, LEVELS)
    assert data[4] == bitstream.VERSION_SCALED
    g = unpack(data, LEVELS, GROUPS)
    assert g.scale == 12 and (g.width, g.height) == (70, 100)
    assert g.coded_size == (105, 150) and g.latent_shape == bitstream.latent_shape(150, 105)
    assert pack(sample(), LEVELS)[4] == bitstream.VERSION  # scale 1 files stay version 1
    assert bitstream.peek_header(data)["width"] == 70


def test_scaled_file_carries_its_map_at_the_coded_size():
    f = sample(importance=False)
    f.scale = 16
    f.importance = np.full(bitstream.latent_shape(200, 140), 16, np.uint8)
    assert np.array_equal(unpack(pack(f, LEVELS), LEVELS, GROUPS).importance, f.importance)
    f.importance = sample().importance  # the picture's own block grid is the wrong one
    with pytest.raises(ValueError, match="importance"):
        pack(f, LEVELS)


def test_coded_size_is_integer_arithmetic():
    assert bitstream.coded_size(70, 100, 8) == (70, 100)
    assert bitstream.coded_size(3, 5, 12) == (5, 8)  # 4.5 and 7.5 round half up
    assert bitstream.coded_size(1, 1, 4) == (1, 1)  # never below one pixel


@pytest.mark.parametrize("scale, needle", [(8, "other than 1"), (3, "scale"), (33, "scale"), (255, "scale")])
def test_bad_scale_byte_is_rejected(scale, needle):
    f = sample(importance=False)
    f.scale = 12
    body = bytearray(pack(f, LEVELS)[:-4])
    at = 4 + 1 + 8 + 1 + 1 + 1  # magic, version, model id, width and height varints, mode
    assert body[at] == 12
    body[at] = scale
    with pytest.raises(BitstreamError, match=needle):
        unpack(_refit(bytes(body)), LEVELS, GROUPS)


def test_scale_that_overflows_the_size_limit_is_refused_both_ways():
    f = sample(importance=False)
    f.width = f.height = bitstream.MAX_SIDE // 2
    f.scale = 32
    with pytest.raises(ValueError, match="coded size"):
        pack(f, LEVELS)
