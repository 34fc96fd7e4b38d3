"""The Pillow plugin, through Pillow's public API: Image.open / load / save after `import roicodec`."""

import ast
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import roicodec
import roicodec.decoder

from .conftest import synthetic_image

W, H = 96, 64


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return synthetic_image(W, H, seed=3)


@pytest.fixture(scope="module")
def rcz(picture) -> bytes:
    return roicodec.compress(picture, bpp=0.5)


def test_registered_with_pillow():
    assert Image.registered_extensions()[".rcz"] == "RCZ"
    assert Image.MIME["RCZ"] == "image/x-rcz"
    assert "RCZ" in Image.SAVE and "RCZ" in Image.OPEN


def test_open_reads_the_header_and_decodes_on_load(rcz, tmp_path, monkeypatch):
    calls = []
    reconstruct = roicodec.decoder.reconstruct
    monkeypatch.setattr(roicodec.decoder, "reconstruct", lambda *a, **k: calls.append(1) or reconstruct(*a, **k))
    path = tmp_path / "card.rcz"
    path.write_bytes(rcz)
    with Image.open(path) as im:
        assert (im.format, im.mode, im.size) == ("RCZ", "RGB", (W, H))
        assert im.get_format_mimetype() == "image/x-rcz"
        assert im.info["model_id"] == roicodec.inspect(rcz)["model_id"]
        assert im.info["bpp"] == pytest.approx(8 * len(rcz) / (W * H))
        assert im.info["scale"] == 1.0 and im.info["roi_strength"] == 0 and not im.info["has_roi"]
        assert im.info["base_level"] == roicodec.inspect(rcz)["base_level"]
        assert im.tile and calls == []  # nothing decoded yet
        im.load()
        assert calls == [1] and not im.tile
        pixels = np.asarray(im)
    assert np.array_equal(pixels, np.asarray(roicodec.decompress(rcz)))
    im2 = Image.open(io.BytesIO(rcz))  # a file object works the same
    assert np.array_equal(np.asarray(im2), pixels)


def test_open_then_save_as_png(rcz, tmp_path):
    (tmp_path / "x.rcz").write_bytes(rcz)
    Image.open(tmp_path / "x.rcz").save(tmp_path / "y.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "y.png")), np.asarray(roicodec.decompress(rcz)))


def _saved(im: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    im.save(out, format="RCZ", **options)
    return out.getvalue()


def test_save_with_every_budget_round_trips(picture, tmp_path):
    picture.save(tmp_path / "a.rcz", bpp=0.4)
    data = (tmp_path / "a.rcz").read_bytes()
    assert len(data) <= 0.4 * W * H / 8
    with Image.open(tmp_path / "a.rcz") as im:
        assert (im.format, im.mode, im.size) == ("RCZ", "RGB", (W, H))
        assert np.array_equal(np.asarray(im), np.asarray(roicodec.decompress(data)))
    assert len(_saved(picture, size=500)) <= 500
    assert len(_saved(picture, size="0.5KB")) <= 500
    with Image.open(io.BytesIO(_saved(picture, quality=2.5))) as im:
        assert im.info["base_level"] == 2.5
    assert len(_saved(picture, bpp=0.4, effort=1)) <= 0.4 * W * H / 8


def test_save_with_roi_mask(picture):
    mask = np.zeros((H, W), np.float32)
    mask[16:48, 24:72] = 1
    data = _saved(picture, bpp=0.5, roi=mask, roi_strength=3)
    assert len(data) <= 0.5 * W * H / 8
    with Image.open(io.BytesIO(data)) as im:
        assert im.info["has_roi"] and im.info["roi_strength"] == 3
        im.load()


def test_grayscale_stays_grayscale(picture):
    with Image.open(io.BytesIO(_saved(picture.convert("L"), quality=3))) as im:
        assert im.mode == "L" and im.size == (W, H)
        assert np.asarray(im).shape == (H, W)


def test_pixels_are_saved_as_they_are_without_exif_rotation(picture):
    rotated = picture.copy()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90" for viewers; Pillow's savers keep the pixels as they are
    rotated.info["exif"] = exif.tobytes()
    with Image.open(io.BytesIO(_saved(rotated, quality=3))) as im:
        assert im.size == (W, H)


def test_save_needs_exactly_one_budget_and_leaves_no_file(picture, tmp_path):
    for options in ({}, {"bpp": 0.3, "size": 400}):
        with pytest.raises(ValueError, match="exactly one of bpp=, size= or quality="):
            picture.save(tmp_path / "none.rcz", **options)
        assert not (tmp_path / "none.rcz").exists()
    with pytest.raises(roicodec.BudgetError):
        picture.save(tmp_path / "bad.rcz", size="lots")
    assert not (tmp_path / "bad.rcz").exists()


def test_a_file_of_a_model_not_installed_names_the_model(rcz, tmp_path):
    foreign = bytearray(rcz[:-4])
    foreign[5:13] = bytes.fromhex("0123456789abcdef")
    foreign += struct.pack("<I", zlib.crc32(foreign))
    path = tmp_path / "foreign.rcz"
    path.write_bytes(foreign)
    with Image.open(path) as im:  # the header reads without the model
        assert im.size == (W, H) and im.info["model_id"] == "0123456789abcdef"
        with pytest.raises(OSError, match="model 0123456789abcdef, which is not installed"):
            im.load()


def test_a_damaged_file_is_an_oserror(rcz):
    with pytest.raises(OSError, match="CRC-32"):
        Image.open(io.BytesIO(rcz[:-1] + bytes([rcz[-1] ^ 1])))


def test_the_plugin_imports_nothing_heavy():
    """`import roicodec` registers the plugin, so the module itself imports PIL and numpy-only modules."""
    src = Path(roicodec.__file__).with_name("pillow_plugin.py")
    modules = set()
    for node in ast.parse(src.read_text()).body:  # module-level imports only; decode and save import api
        if isinstance(node, ast.Import):
            modules |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules |= {"." * node.level + (node.module or "") + (f":{a.name}" if not node.module else "") for a in node.names}
    assert modules == {"__future__", "typing", "PIL", ".:bitstream", ".errors"}, modules
    for module in ("bitstream.py", "errors.py", "levels.py"):
        imported = ast.parse(src.with_name(module).read_text()).body
        assert not any("torch" in ast.dump(n) for n in imported if isinstance(n, (ast.Import, ast.ImportFrom)))


def test_realism_is_chosen_before_load(picture, tmp_path):
    data = roicodec.compress(picture, bpp=0.2)  # the fidelity model, which ships a perceptual head
    path = tmp_path / "r.rcz"
    path.write_bytes(data)
    with Image.open(path) as im:
        im.realism = 1.0
        real = np.asarray(im)
    with Image.open(path) as im:
        plain = np.asarray(im)
    assert np.array_equal(real, np.asarray(roicodec.decompress(data, realism=1.0)))
    assert np.array_equal(plain, np.asarray(roicodec.decompress(data)))
    assert not np.array_equal(real, plain)
