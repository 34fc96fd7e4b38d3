"""Reading pictures: alpha, palettes, 16-bit, EXIF orientation, grayscale."""

import numpy as np
from PIL import Image

import roicodec
from roicodec.images import prepare


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
    out = roicodec.decompress(roicodec.compress(im16, quality=3, model=model), model=model)
    assert out.mode == "L" and out.size == card.size


def test_exif_orientation_is_applied(tmp_path, card):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = tmp_path / "rot.jpg"
    card.save(path, exif=exif.tobytes(), quality=95)
    p = prepare(path)
    assert p.size == (card.size[1], card.size[0])
    assert "EXIF orientation applied" in p.notes


def test_only_the_first_frame_of_an_animation_is_coded(tmp_path):
    frames = [Image.new("RGB", (32, 24), colour) for colour in ((200, 10, 10), (10, 200, 10), (10, 10, 200))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    p = prepare(path)
    assert "frame 1 of 3 coded (.rcz holds one picture)" in p.notes
    assert tuple(p.rgb[0, 0]) == (200, 10, 10)
    assert not any("frames" in n for n in prepare(frames[1]).notes)


def test_gray_samples_are_read_by_the_range_they_use(tmp_path):
    ramp = np.tile(np.arange(256, dtype=np.float64), (4, 1))
    cases = [
        ("float 0..1", Image.fromarray((ramp / 255).astype(np.float32), "F"), "float samples in 0..1"),
        ("float 0..255", Image.fromarray(ramp.astype(np.float32), "F"), "clipped to 0..255"),
        ("int 0..255", Image.fromarray(ramp.astype(np.int32), "I"), "within 0..255"),
        ("int 16-bit", Image.fromarray((ramp * 257).astype(np.int32), "I"), "16-bit samples"),
        ("int stretched", Image.fromarray((ramp * 1000 - 5000).astype(np.int32), "I"), "stretched"),
    ]
    for name, im, note in cases:
        p = prepare(im)
        assert p.mode == "L", name
        assert np.abs(p.rgb[0, :, 0].astype(int) - np.arange(256)).max() <= 1, name
        assert any(note in n for n in p.notes), (name, p.notes)
    odd = np.array([[np.nan, np.inf, 0.5, 1.0]], np.float32)
    p = prepare(Image.fromarray(odd, "F"))
    assert list(p.rgb[0, :, 0]) == [0, 0, 128, 255] and any("not finite" in n for n in p.notes)


def test_an_opaque_alpha_channel_is_not_reported():
    opaque = Image.new("RGBA", (16, 16), (10, 20, 30, 255))
    p = prepare(opaque)
    assert tuple(p.rgb[0, 0]) == (10, 20, 30)
    assert not any("alpha" in n for n in p.notes)


def test_a_damaged_page_count_or_an_mpo_preview_is_no_animation(monkeypatch, card):
    class Uncountable(Image.Image):
        @property
        def n_frames(self):
            raise TypeError("Missing dimensions")

    broken = card.copy()
    broken.__class__ = Uncountable
    assert not any("frame" in n for n in prepare(broken).notes)
    mpo = card.copy()
    mpo.format, mpo.n_frames = "MPO", 2
    assert not any("frame" in n for n in prepare(mpo).notes)


def test_a_16bit_pgm_is_16bit_even_when_dark(tmp_path):
    dark = np.full((4, 4), 100, np.uint16)
    path = tmp_path / "dark.pgm"
    path.write_bytes(b"P5 4 4 65535\n" + dark.astype(">u2").tobytes())
    p = prepare(path)
    assert int(p.rgb.max()) == 0 and any("16-bit" in n for n in p.notes)
