import subprocess
import sys

import pytest

import roicodec
from roicodec.cli import main
from roicodec.models import RoiCodecWeights

from .conftest import synthetic_image


@pytest.fixture
def png(tmp_path):
    p = tmp_path / "in.png"
    synthetic_image(100, 70, seed=4).save(p)
    return p


def test_compress_info_decompress(tmp_path, png, capsys):
    rcz = tmp_path / "out.rcz"
    assert main(["compress", str(png), "-o", str(rcz), "--bpp", "0.8"]) == 0
    out = capsys.readouterr().out
    size = rcz.stat().st_size
    assert f"{size} bytes" in out  # reported size is the file length
    assert size <= 0.8 * 100 * 70 / 8
    assert main(["info", str(rcz)]) == 0
    info = capsys.readouterr().out
    assert f"bytes       {size}" in info and "100x70" in info and "coded at" in info and ", installed)" in info
    dec = tmp_path / "dec.png"
    assert main(["decompress", str(rcz), "-o", str(dec)]) == 0
    from PIL import Image

    assert Image.open(dec).size == (100, 70)


def test_roi_flag(tmp_path, png):
    from PIL import Image

    mask = tmp_path / "m.png"
    m = Image.new("L", (100, 70), 0)
    m.paste(255, (20, 20, 60, 50))
    m.save(mask)
    rcz = tmp_path / "roi.rcz"
    assert main(["compress", str(png), "-o", str(rcz), "--size", "900", "--roi", str(mask), "--roi-strength", "2"]) == 0
    assert rcz.stat().st_size <= 900
    info = roicodec.inspect(rcz.read_bytes())
    assert info["has_roi"] and 0 < info["roi_strength"] <= 2  # rate control may lower the lift to fit


@pytest.mark.parametrize(
    "args, needle",
    [
        (["compress", "missing.png", "-o", "{t}/x.rcz", "--bpp", "0.3"], "not found"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--size", "12 parsecs"], "size"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--quality", "42"], "quality"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--bpp", "0.3", "--roi", "{t}/nope.png"], "not found"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--bpp", "1e308"], "too large"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--size", "9" * 400], "too large"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--bpp", "0.3", "--roi-box", "0,0,8,8", "--roi-strength", "inf"], "strength"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--bpp", "0.3", "--roi-box", "0,0,8,8", "--roi-strength", "nan"], "strength"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--bpp", "0.3", "--roi-box", "0,0,inf,10"], "bad ROI box"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--bpp", "0.3", "--class-weights", "1=1"], "class map"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--bpp", "0.3", "--roi-classes", "{png}"], "class weights"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--bpp", "0.3", "--roi", "auto:"], "auto"),
        (["compress", "{png}", "-o", "{t}/x.rcz", "--bpp", "0.3", "--scale", "1.3"], "scale"),
        (["roi", "{png}", "-o", "{t}/x.png", "--roi-box", "0,0,8,8", "--roi-strength", "nan"], "strength"),
        (["roi", "{png}", "-o", "{t}/x.psd", "--roi-box", "0,0,8,8"], "cannot write"),
        (["decompress", "{png}", "-o", "{t}/x.png"], "not a .rcz"),
        (["decompress", "{t}/none.rcz", "-o", "{t}/x.png"], "not found"),
        (["info", "{png}"], "not a .rcz"),
        (["eval", "--images", "{t}", "--codecs", "jpeg,foo", "--out", "{t}/ev"], "unknown codecs: foo"),
        (["eval", "--images", "{t}", "--codecs", "jpeg", "--out", "{t}/ev", "--reference", "{t}/no.json"], "reference"),
        (["train", "--data", "{t}", "--out", "{t}/run", "--init", "{png}", "--steps", "10"], "not a safetensors"),
        (["train", "--data", "{t}", "--out", "{t}/run", "--init", "{weights}", "--steps", "10"], "not above the starting step"),
    ],
)
def test_errors_are_one_line_and_nonzero(tmp_path, png, capsys, args, needle):
    weights = RoiCodecWeights.DEFAULT.value.path
    args = [a.format(t=tmp_path, png=png, weights=weights) for a in args]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("roicodec: error:") and "\n" not in err and needle in err
    assert not (tmp_path / "x.rcz").exists() and not (tmp_path / "x.png").exists()
    assert not (tmp_path / "ev").exists() and not (tmp_path / "run" / "final.safetensors").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_truncated_file_gives_error_and_no_output(tmp_path, png, capsys):
    rcz = tmp_path / "a.rcz"
    assert main(["compress", str(png), "-o", str(rcz), "--quality", "3"]) == 0
    rcz.write_bytes(rcz.read_bytes()[:-9])
    capsys.readouterr()
    assert main(["decompress", str(rcz), "-o", str(tmp_path / "x.png")]) == 1
    assert "truncated" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_decompress_never_replaces_the_original_unasked(tmp_path, png, capsys):
    photo = tmp_path / "photo.png"
    photo.write_bytes(png.read_bytes())
    assert main(["compress", str(photo), "--quality", "2"]) == 0  # -> photo.rcz beside it
    before = photo.read_bytes()
    assert main(["decompress", str(tmp_path / "photo.rcz")]) == 1  # would write photo.png
    assert "exists" in capsys.readouterr().err and photo.read_bytes() == before
    assert main(["decompress", str(tmp_path / "photo.rcz"), "-o", str(photo)]) == 0  # asked for: fine


def test_usage_error_exits_nonzero_with_one_line():
    r = subprocess.run([sys.executable, "-m", "roicodec.cli", "compress", "x.png"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "roicodec: error:" in r.stderr


def test_console_entry_point_runs():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "roicodec"]
    assert ep.load() is main
    r = subprocess.run([sys.executable, "-m", "roicodec.cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "roicodec" in r.stdout


def test_decompress_max_pixels(tmp_path, png, capsys):
    rcz = tmp_path / "a.rcz"
    assert main(["compress", str(png), "-o", str(rcz), "--quality", "1"]) == 0
    out = tmp_path / "a.png"
    assert main(["decompress", str(rcz), "-o", str(out), "--max-pixels", "6999"]) == 1  # 100x70 = 7000
    err = capsys.readouterr().err
    assert "--max-pixels" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["decompress", str(rcz), "-o", str(out), "--max-pixels", "0"]) == 0  # 0: no limit
    assert out.exists()
    with pytest.raises(SystemExit):
        main(["decompress", str(rcz), "-o", str(out), "--max-pixels", "-5"])


def test_decompress_max_memory(tmp_path, png, capsys):
    rcz = tmp_path / "m.rcz"
    assert main(["compress", str(png), "-o", str(rcz), "--quality", "1"]) == 0
    out = tmp_path / "m.png"
    assert main(["decompress", str(rcz), "-o", str(out), "--max-memory", "1MB"]) == 1  # 128x128 decoded: ~5 MB
    err = capsys.readouterr().err
    assert "--max-memory" in err and "GiB of memory" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["decompress", str(rcz), "-o", str(out), "--max-memory", "0"]) == 0  # 0: no limit
    assert main(["decompress", str(rcz), "-o", str(out), "--max-memory", "2GiB"]) == 0
    assert out.exists()
    with pytest.raises(SystemExit):
        main(["decompress", str(rcz), "-o", str(out), "--max-memory", "lots"])


def test_compress_effort(tmp_path, png, capsys):
    rcz = tmp_path / "e.rcz"
    assert main(["compress", str(png), "-o", str(rcz), "--bpp", "0.4", "--effort", "1"]) == 0
    assert "8 refinement steps" in capsys.readouterr().out
    assert rcz.stat().st_size <= 0.4 * 100 * 70 / 8
    assert main(["decompress", str(rcz), "-o", str(tmp_path / "e.png")]) == 0
    bad = tmp_path / "bad.rcz"
    r = subprocess.run([sys.executable, "-m", "roicodec.cli", "compress", str(png), "-o", str(bad), "--bpp", "0.6",
                        "--effort", "9"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "--effort" in r.stderr
    assert not bad.exists()
