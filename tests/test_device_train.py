"""tools/device_train.sh end to end on this CPU: train for a moment, split the weights for $OUT, join them."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from roicodec import load_model
from roicodec.weights import read_metadata

from .conftest import synthetic_image

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "device_train.sh"


@pytest.mark.skipif(shutil.which("split") is None, reason="needs coreutils split")
def test_device_run_hands_back_weights_that_join_and_load(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        synthetic_image(96, 96, seed=i).save(data / f"{i}.png")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OUT": str(out), "DATA": str(data), "RUN": str(tmp_path / "run"),
           "BATCH": "1", "CROP": "64", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(["bash", str(SCRIPT), "0.02"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    parts = sorted(out.glob("final.safetensors.part*"))
    assert len(parts) >= 4 and all(p.stat().st_size <= 16 * 2**20 for p in parts)  # $OUT's limit per file
    assert "time budget of 0.02 min spent" in (out / "train.log").read_text()
    joined = subprocess.run(["bash", str(SCRIPT), "--join", str(out), str(tmp_path / "back")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert joined.returncode == 0, joined.stderr[-2000:]
    weights = tmp_path / "back" / "final.safetensors"
    meta = read_metadata(weights)["meta"]
    assert meta["training_steps"] > read_metadata(ROOT / "src/roicodec/weights/roicodec-fidelity-v1.safetensors")["meta"]["training_steps"]
    assert meta["trained_on"].startswith("cpu")
    load_model(weights)  # the model id matches the joined tensors


def test_device_run_refuses_without_out_or_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    no_out = subprocess.run(["bash", str(SCRIPT), "1"], env=env, capture_output=True, text=True)
    assert no_out.returncode != 0 and "OUT" in no_out.stderr
    no_data = subprocess.run(["bash", str(SCRIPT), "1"], env={**env, "OUT": str(tmp_path), "DATA": str(tmp_path / "none")},
                             capture_output=True, text=True)
    assert no_data.returncode == 1 and "pack_device_data.py" in no_data.stderr
