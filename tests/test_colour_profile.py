"""Pictures tagged with a colour profile: converted to sRGB before coding (colour_profile.py).

The wide-gamut profile is built here from littlecms' own sRGB profile with its three colorant tags set
to Display P3's primaries, and the expected sRGB numbers are computed from the two profiles' colorant
matrices and tone curve in NumPy, not by littlecms."""

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

import roicodec
from roicodec.images import prepare
from roicodec.pillow_plugin import _pixels_only

# Bradford chromatic adaptation, as ICC v4 profiles adapt colorants to D50.
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
D65 = np.array([0.95047, 1.0, 1.08883])
P3_PRIMARIES = [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)]


def _srgb_bytes() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _tags(data: bytes) -> dict[bytes, tuple[int, int]]:
    count = struct.unpack(">I", data[128:132])[0]
    return {sig: (off, size) for sig, off, size in
            (struct.unpack(">4sII", data[132 + 12 * i:144 + 12 * i]) for i in range(count))}


def _read_xyz(data: bytes, sig: bytes) -> np.ndarray:
    off, _ = _tags(data)[sig]
    return np.array(struct.unpack(">3i", data[off + 8:off + 20])) / 65536.0


def _colorants(data: bytes) -> np.ndarray:
    """Columns: the red, green and blue colorants (XYZ, D50) a matrix profile maps RGB through."""
    return np.stack([_read_xyz(data, s) for s in (b"rXYZ", b"gXYZ", b"bXYZ")], axis=1)


def _p3_colorants(d50: np.ndarray) -> np.ndarray:
    xyz = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in P3_PRIMARIES]).T
    m = xyz * np.linalg.solve(xyz, D65)
    adapt = np.linalg.inv(BRADFORD) @ np.diag((BRADFORD @ d50) / (BRADFORD @ D65)) @ BRADFORD
    return adapt @ m


def p3_profile() -> bytes:
    data = bytearray(_srgb_bytes())
    d50 = _colorants(bytes(data)).sum(axis=1)  # the media white the sRGB colorants add up to
    for sig, column in zip((b"rXYZ", b"gXYZ", b"bXYZ"), _p3_colorants(d50).T):
        off, _ = _tags(bytes(data))[sig]
        data[off + 8:off + 20] = struct.pack(">3i", *np.round(column * 65536).astype(int))
    data[84:100] = bytes(16)  # profile ID: "not computed"
    return bytes(data)


def _linear(v: np.ndarray) -> np.ndarray:
    v = v / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _encoded(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return 255.0 * np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


COLOURS = np.array([[200, 100, 50], [60, 160, 90], [90, 80, 200], [128, 128, 128], [230, 220, 40]], np.uint8)


def _tagged(colours: np.ndarray, icc: bytes, mode: str = "RGB") -> Image.Image:
    im = Image.fromarray(np.repeat(colours[None], 8, axis=0), "RGB").convert(mode)
    buf = io.BytesIO()
    im.save(buf, "PNG", icc_profile=icc)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_a_wide_gamut_picture_is_coded_as_its_srgb_colours():
    p3 = p3_profile()
    prepared = prepare(_tagged(COLOURS, p3))
    srgb = _colorants(_srgb_bytes())
    expected = _encoded(_linear(COLOURS.astype(float)) @ (np.linalg.inv(srgb) @ _colorants(p3)).T)
    got = prepared.rgb[0].astype(float)
    assert np.abs(got - expected).max() <= 2.0
    assert np.abs(got - COLOURS).max() >= 10  # P3 numbers are not sRGB numbers: the test can fail
    assert prepared.mode == "RGB"
    assert any("converted to sRGB" in n for n in prepared.notes)


def test_an_srgb_profile_changes_nothing():
    prepared = prepare(_tagged(COLOURS, _srgb_bytes()))
    assert np.array_equal(prepared.rgb[0], COLOURS)
    assert not any("profile" in n for n in prepared.notes)


def test_a_damaged_profile_is_ignored_with_a_note():
    prepared = prepare(_tagged(COLOURS, b"not an icc profile at all" * 8))
    assert np.array_equal(prepared.rgb[0], COLOURS)
    assert any("unreadable" in n for n in prepared.notes)


def test_a_profile_that_does_not_fit_the_picture_is_ignored():
    gray = _tagged(COLOURS, p3_profile(), mode="L")
    prepared = prepare(gray)
    assert prepared.mode == "L"
    assert np.array_equal(prepared.rgb[0, :, 0], np.asarray(gray)[0])
    assert any("does not fit" in n for n in prepared.notes)


def test_alpha_survives_the_conversion_and_is_composited_after_it():
    rgba = np.zeros((8, 5, 4), np.uint8)
    rgba[:, :, :3] = COLOURS[None]
    rgba[:4, :, 3] = 255  # top half opaque, bottom half fully transparent
    im = Image.fromarray(rgba, "RGBA")
    buf = io.BytesIO()
    im.save(buf, "PNG", icc_profile=p3_profile())
    prepared = prepare(Image.open(io.BytesIO(buf.getvalue())))
    opaque = prepare(_tagged(COLOURS, p3_profile())).rgb[0]
    assert np.array_equal(prepared.rgb[0], opaque)
    assert prepared.rgb[4:].min() == 255
    assert any("converted to sRGB" in n for n in prepared.notes)
    assert any("alpha" in n for n in prepared.notes)


def test_palette_pictures_are_converted_too():
    palette = _tagged(COLOURS, p3_profile()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette.info["icc_profile"] = p3_profile()
    assert np.array_equal(prepare(palette).rgb[0], prepare(_tagged(COLOURS, p3_profile())).rgb[0])


def test_the_pillow_plugin_keeps_the_profile_for_the_encoder():
    tagged = _tagged(COLOURS, p3_profile())
    tagged.encoderinfo = {}
    assert _pixels_only(tagged).info["icc_profile"] == p3_profile()
    plain = Image.fromarray(np.repeat(COLOURS[None], 8, axis=0), "RGB")
    plain.encoderinfo = {"icc_profile": p3_profile()}
    assert _pixels_only(plain).info["icc_profile"] == p3_profile()


@pytest.mark.parametrize("source", ["path", "image"])
def test_compress_codes_the_converted_colours(tmp_path, model, source):
    flat = np.full((64, 64, 3), (200, 100, 50), np.uint8)
    path = tmp_path / "p3.png"
    Image.fromarray(flat).save(path, icc_profile=p3_profile())
    image = path if source == "path" else Image.open(path)
    decoded = np.asarray(roicodec.decompress(roicodec.compress(image, quality=6, model=model), model=model))
    converted = prepare(path).rgb
    assert np.abs(decoded.astype(int) - converted.astype(int)).mean() < 3
    assert np.abs(decoded.astype(int) - flat.astype(int)).mean() > 8


def test_a_gray_picture_with_an_srgb_profile_is_left_alone():
    gray = _tagged(COLOURS, _srgb_bytes(), mode="L")
    prepared = prepare(gray)
    assert prepared.mode == "L" and np.array_equal(prepared.rgb[0, :, 0], np.asarray(gray)[0])
    assert not any("profile" in n for n in prepared.notes)


def test_sixteen_bit_gray_keeps_its_profile_through_the_reduction():
    wide = Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    assert wide.mode.startswith("I;16")
    wide.info["icc_profile"] = p3_profile()  # an RGB profile on a gray picture: reduced, then ignored
    prepared = prepare(wide)
    assert prepared.mode == "L"
    assert any("16-bit" in n for n in prepared.notes) and any("does not fit a L picture" in n for n in prepared.notes)
