"""Coding on a chosen device (``device=`` / ``--device``) and benchmarks/cross_device.py's path.

This machine has no GPU: the benchmark runs CPU against CPU here, which checks its plumbing and that
encoding and decoding repeat exactly; a lent GPU runs it against CUDA (docs/gpu-training.md)."""

import importlib.util
from pathlib import Path

import pytest
import torch

import roicodec
from roicodec.cli import main

from .conftest import synthetic_image

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "cross_device.py"
_spec = importlib.util.spec_from_file_location("cross_device", _PATH)
cross_device = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cross_device)


def test_the_model_is_loaded_once_per_device():
    assert roicodec.load_model(device="cpu") is roicodec.load_model()
    assert roicodec.load_model().device == torch.device("cpu")


def test_cross_device_check_runs_cpu_against_cpu(tmp_path):
    path = tmp_path / "card.png"
    synthetic_image(160, 96, seed=3).save(path)
    row = cross_device.compare(path, 0.4, "box", ("cpu", "cpu"))
    assert row["same_file"]
    made = row["made_on_cpu"]
    assert made["same_latent"] and made["same_pixels"] and made["max_pixel_diff"] == 0
    assert made["bytes"] <= 0.4 * 160 * 96 / 8


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_a_missing_device_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "card.png"
    synthetic_image(64, 64, seed=1).save(path)
    out = tmp_path / "card.rcz"
    with pytest.raises(SystemExit) as exit_:
        main(["compress", str(path), "-o", str(out), "--bpp", "0.5", "--device", "cuda"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "no CUDA device" in err and "Traceback" not in err
    assert not out.exists()
