import json

import numpy as np
import pytest

from roicodec.evaluate import run
from roicodec.evaluate.baselines import CODECS, at_most
from roicodec.evaluate.metrics import psnr
from roicodec.evaluate.rd import bd_rate

from .conftest import synthetic_image


def curve(scale: float) -> dict:
    return {"name": "x", "results": {"bpp": [0.1 * scale, 0.2 * scale, 0.4 * scale, 0.8 * scale],
                                     "psnr-rgb": [27.0, 30.0, 33.0, 36.0]}}


def test_bd_rate_of_a_shifted_curve():
    assert bd_rate(curve(1.0), curve(1.2)) == pytest.approx(20.0, abs=0.5)
    assert bd_rate(curve(1.2), curve(1.0)) == pytest.approx(-16.7, abs=0.5)


def test_region_psnr():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 10
    region = np.zeros((4, 4), bool)
    region[2:, 2:] = True
    assert psnr(a, b, region) == float("inf")
    # one pixel off by 10 in 3 channels: MSE 300/48 over the image, 300/36 over the 12 pixels outside
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / (300 / 48)))
    assert psnr(a, b, ~region) == pytest.approx(10 * np.log10(255**2 / (300 / 36)))


def test_at_most_respects_budget():
    im = synthetic_image(128, 96)
    data, q = at_most(CODECS["jpeg"], im, 3000)
    assert len(data) <= 3000 and len(CODECS["jpeg"].encode(im, q + 1)) > 3000


def test_eval_writes_json_table_and_plots(tmp_path, monkeypatch):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(2):
        synthetic_image(192, 176, seed=i).save(imgs / f"{i}.png")
    monkeypatch.setattr(run, "SWEEPS", {**run.SWEEPS, "jpeg": [10, 40, 70, 90]})
    def unavailable(im, q):
        raise run.CodecUnavailable("ffmpeg is not installed")

    monkeypatch.setitem(run.CODECS, "hevc", run.CODECS["hevc"].__class__("hevc", unavailable, None, 0, 51))
    report = run.evaluate(str(imgs), codecs=["roicodec", "jpeg", "hevc"], out_dir=str(tmp_path / "out"), rates=[0.5, 1.0, 1.5])
    assert "skipped: ffmpeg is not installed" in report
    r = json.loads((tmp_path / "out" / "roicodec.json").read_text())
    assert len(r["results"]["bpp"]) == 3 and all(b <= t * 1.0001 for b, t in zip(r["results"]["bpp"], [0.5, 1.0, 1.5]))
    assert (tmp_path / "out" / "rd_psnr-rgb.png").stat().st_size > 1000
    assert "| jpeg |" in report


def test_reuse_keeps_a_classical_curve_only_for_the_same_images_and_sweep(tmp_path, monkeypatch):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(2):
        synthetic_image(176, 168, seed=i).save(imgs / f"{i}.png")
    monkeypatch.setattr(run, "SWEEPS", {**run.SWEEPS, "jpeg": [20, 80]})
    out = tmp_path / "out"
    run.evaluate(str(imgs), codecs=["jpeg"], out_dir=str(out))
    first = json.loads((out / "jpeg.json").read_text())
    assert first["images"] == ["0.png", "1.png"]
    marked = {**first, "description": "from before"}
    (out / "jpeg.json").write_text(json.dumps(marked))
    run.evaluate(str(imgs), codecs=["jpeg"], out_dir=str(out), reuse=True)
    assert json.loads((out / "jpeg.json").read_text())["description"] == "from before"
    run.evaluate(str(imgs), codecs=["jpeg"], out_dir=str(out), limit=1, reuse=True)  # other images: measured again
    again = json.loads((out / "jpeg.json").read_text())
    assert again["description"] != "from before" and again["images"] == ["0.png"]
