"""tools/device_train.sh end to end on this CPU: train both shipped models for a moment, split their weights for
$OUT, join them, and let tools/ship_weights.py turn them down."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roicodec import load_model
from roicodec.model import ModelConfig
from roicodec.models import newest_of
from roicodec.weights import read_metadata

from .conftest import synthetic_image

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "device_train.sh"


@pytest.mark.skipif(shutil.which("split") is None, reason="needs coreutils split")
def test_device_run_trains_every_shipped_model_and_hands_back_weights_that_join_and_lose(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        synthetic_image(96, 96, seed=i).save(data / f"{i}.png")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OUT": str(out), "DATA": str(data), "RUN": str(tmp_path / "run"),
           "BATCH": "1", "HR_BATCH": "1", "CROP": "64", "SHARE": "0.5", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(["bash", str(SCRIPT), "0.04"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = [p for p in out.iterdir() if p.is_file()]
    assert len(files) <= 8 and all(p.stat().st_size <= 16 * 2**20 for p in files)  # $OUT's limits
    for name, entry in (("fidelity", newest_of("fidelity")), ("highrate", newest_of("highrate"))):
        assert sorted(out.glob(f"{name}.safetensors.part*")), name
        log = (out / f"train-{name}.log").read_text()
        assert "time budget of 0.02 min spent" in log and "steps/s" in log  # SHARE 0.5 of 0.04 min each
    joined = subprocess.run(["bash", str(SCRIPT), "--join", str(out), str(tmp_path / "back")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert joined.returncode == 0, joined.stderr[-2000:]
    for name, entry, storage in (("fidelity", newest_of("fidelity"), "packed"),
                                 ("highrate", newest_of("highrate"), "float16")):
        weights = tmp_path / "back" / f"{name}.safetensors"
        info = read_metadata(weights)
        shipped = read_metadata(entry.value.path)
        same = ModelConfig.from_dict(info["config"]) == ModelConfig.from_dict(shipped["config"])
        assert same  # --init trains the architecture it starts from
        assert info["meta"]["training_steps"] > shipped["meta"]["training_steps"]
        assert info["meta"]["trained_on"].startswith("cpu")
        assert info["meta"]["init_model_id"] == shipped["model_id"] != info["model_id"]
        assert info["storage"] == storage  # stored as the model it started from
        assert info["meta"].get("license") == shipped["meta"].get("license")  # the MIT notice travels
        assert info["meta"].get("use_from_bpp") == shipped["meta"].get("use_from_bpp")
        load_model(weights)  # the stored tensors match their hash
    # the returned weights are compared with the shipped ones; --dry-run writes nothing to the package. (On two
    # 96x96 pictures a moment of training can win or lose by chance: the decision on a win or a loss is
    # tests/test_ship_weights.py's, with fixed comparisons.)
    before = sorted(p.name for p in (ROOT / "src/roicodec/weights").iterdir())
    eval_images = tmp_path / "eval"
    eval_images.mkdir()
    for i in range(2):
        synthetic_image(128, 128, seed=10 + i).save(eval_images / f"{i}.png")
    ship = subprocess.run([sys.executable, str(ROOT / "tools/ship_weights.py"), str(tmp_path / "back"), "--dry-run",
                           "--images", str(eval_images), "--limit", "2", "--levels", "-3", "1", "3", "7"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert ship.returncode == 0, ship.stdout[-2000:] + ship.stderr[-2000:]
    report = json.loads((tmp_path / "back" / "ship.json").read_text())
    assert set(report) == {"fidelity", "highrate"} and all(isinstance(r["wins"], bool) for r in report.values())
    assert sorted(p.name for p in (ROOT / "src/roicodec/weights").iterdir()) == before


def test_device_run_refuses_without_out_or_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    no_out = subprocess.run(["bash", str(SCRIPT), "1"], env=env, capture_output=True, text=True)
    assert no_out.returncode != 0 and "OUT" in no_out.stderr
    no_data = subprocess.run(["bash", str(SCRIPT), "1"], env={**env, "OUT": str(tmp_path), "DATA": str(tmp_path / "none")},
                             capture_output=True, text=True)
    assert no_data.returncode == 1 and "pack_device_data.py" in no_data.stderr
