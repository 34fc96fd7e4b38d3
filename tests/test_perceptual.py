"""Perceptual mode: decode-time realism on unchanged files, gated by the file's importance."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import roicodec
from roicodec.errors import ModelMismatchError, WeightsError
from roicodec.model.perceptual import HeadConfig, PerceptualHead
from roicodec.models import load_model, perceptual_head_for
from roicodec.perceptual_weights import export_head, read_head, read_head_metadata

from .conftest import on_one_and_two_threads

SHARED_WEIGHTS = Path(__file__).resolve().parents[1].parent / "shared" / "weights"


def random_head(model, seed: int = 0) -> PerceptualHead:
    """A head whose output layer is not zero, so that realism visibly changes pixels."""
    torch.manual_seed(seed)
    head = PerceptualHead(HeadConfig(model.config.m))
    torch.nn.init.normal_(head.out.weight, std=0.05)
    return head


@pytest.fixture(scope="module")
def head_file(tmp_path_factory, model) -> Path:
    path = tmp_path_factory.mktemp("head") / "head.safetensors"
    export_head(random_head(model), path, model.model_id, {"test": True})
    return path


@pytest.fixture(scope="module")
def roi_file(model, card) -> tuple[bytes, np.ndarray]:
    """A 192x128 file whose left half is the region of interest."""
    mask = np.zeros((card.size[1], card.size[0]), np.float32)
    mask[:, : card.size[0] // 2] = 1
    return roicodec.compress(card, bpp=0.3, roi=mask, roi_strength=2.0, model=model), mask


def as_array(image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def test_realism_zero_is_the_fidelity_decoder(model, roi_file, head_file):
    data, _ = roi_file
    fidelity = as_array(roicodec.decompress(data, model=model))
    assert np.array_equal(as_array(roicodec.decompress(data, model=model, realism=0.0, perceptual=head_file)), fidelity)


def test_untrained_head_adds_nothing(model, roi_file, tmp_path):
    data, _ = roi_file
    path = tmp_path / "zero.safetensors"
    export_head(PerceptualHead(HeadConfig(model.config.m)), path, model.model_id, {})
    fidelity = as_array(roicodec.decompress(data, model=model))
    assert np.array_equal(as_array(roicodec.decompress(data, model=model, realism=1.0, perceptual=path)), fidelity)


def test_realism_changes_the_background_and_keeps_the_roi(model, roi_file, head_file):
    data, mask = roi_file
    fidelity = as_array(roicodec.decompress(data, model=model))
    half = as_array(roicodec.decompress(data, model=model, realism=0.5, perceptual=head_file))
    full = as_array(roicodec.decompress(data, model=model, realism=1.0, perceptual=head_file))
    inside = mask > 0
    inside[:, mask.shape[1] // 2 - 32 :] = False  # the importance tapers over a block or two at its edge
    outside = mask == 0
    outside[:, : mask.shape[1] // 2 + 32] = False
    assert np.array_equal(full[inside], fidelity[inside])
    assert np.abs(full[outside] - fidelity[outside]).mean() > 1.0
    # a continuous knob: half-way changes less than the far end
    assert 0 < np.abs(half[outside] - fidelity[outside]).mean() < np.abs(full[outside] - fidelity[outside]).mean()


def test_realism_decode_is_identical_across_thread_counts(model, roi_file, head_file):
    data, _ = roi_file
    one, two = on_one_and_two_threads(lambda: as_array(roicodec.decompress(data, model=model, realism=1.0, perceptual=head_file)))
    assert np.array_equal(one, two)


@pytest.mark.parametrize("realism", [-0.1, 1.5, math.nan])
def test_realism_outside_zero_to_one_is_refused(model, roi_file, realism):
    with pytest.raises(ValueError, match="realism must be between 0 and 1"):
        roicodec.decompress(roi_file[0], model=model, realism=realism)


def test_head_of_another_model_is_refused(roi_file, tmp_path):
    other = load_model("highrate-v1")
    path = tmp_path / "other.safetensors"
    export_head(PerceptualHead(HeadConfig(other.config.m)), path, other.model_id, {})
    with pytest.raises(ModelMismatchError, match="trained for model"):
        roicodec.decompress(roi_file[0], realism=1.0, perceptual=path)


def test_a_model_without_a_head_says_so(model, tmp_path):
    from roicodec.weights import export_weights, read_model

    path = tmp_path / "w.safetensors"
    export_weights(model, path, {})
    unshipped = read_model(path)
    unshipped.model_id = b"\x00" * 8  # not a shipped model
    with pytest.raises(WeightsError, match="no perceptual decoder is installed"):
        perceptual_head_for(unshipped)


def test_head_file_round_trip(model, head_file):
    head = read_head(head_file)
    assert head.base_model_id == model.model_id
    assert read_head_metadata(head_file)["meta"] == {"test": True}
    expected = random_head(model).state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in head.state_dict().items())
    with pytest.raises(WeightsError, match="not a roicodec perceptual head"):
        read_head(model_path := Path(roicodec.models.weights_path()))  # a base model's file
    assert model_path.exists()


def test_cli_realism(tmp_path, roi_file, head_file, model):
    src = tmp_path / "x.rcz"
    src.write_bytes(roi_file[0])
    run = [sys.executable, "-m", "roicodec.cli", "decompress", str(src)]
    ok = subprocess.run(run + ["-o", str(tmp_path / "y.png"), "--realism", "1", "--perceptual", str(head_file)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    expected = roicodec.decompress(roi_file[0], model=model, realism=1.0, perceptual=head_file)
    assert np.array_equal(as_array(roicodec.images.read_image(tmp_path / "y.png")) if False else
                          np.asarray(__import__("PIL.Image").Image.open(tmp_path / "y.png")).astype(np.int16),
                          as_array(expected))
    bad = subprocess.run(run + ["-o", str(tmp_path / "z.png"), "--realism", "2"], capture_output=True, text=True)
    assert bad.returncode != 0 and "realism must be between 0 and 1" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "z.png").exists()
    info = subprocess.run([sys.executable, "-m", "roicodec.cli", "info", str(src)], capture_output=True, text=True)
    assert info.returncode == 0 and "realism" in info.stdout


@pytest.mark.skipif(not (SHARED_WEIGHTS / "squeezenet1_1_onnx").is_dir(), reason="needs ../shared/weights")
def test_training_runs_resumes_and_exports(tmp_path, card):
    from roicodec.train.perceptual import PerceptualConfig, train_head

    data = tmp_path / "data"
    data.mkdir()
    card.resize((256, 256)).save(data / "a.png")
    cfg = PerceptualConfig(data=str(data), out=str(tmp_path / "run"), steps=2, batch=1, cache=2, ckpt_every=1,
                           onnx=str(SHARED_WEIGHTS / "squeezenet1_1_onnx"), heads=str(SHARED_WEIGHTS / "lpips_linear"))
    first = train_head(cfg)
    head = read_head(first)
    assert head.base_model_id == roicodec.load_model().model_id
    assert read_head_metadata(first)["meta"]["training_steps"] == 2
    assert any(p.abs().sum() > 0 for p in head.out.parameters())  # it learned something
    cfg.steps = 3
    resumed = train_head(cfg)
    info = read_head_metadata(resumed)["meta"]
    assert info["training_steps"] == 3
    assert {"mse255", "1-msssim", "squeeze", "gan_g", "gan_d"} <= set(info["last"])


def test_every_shipped_model_has_a_head():
    from roicodec.models import head_path, shipped

    for entry in shipped():
        head = read_head(head_path(entry))
        assert head.base_model_id == entry.value.model_id
        assert head_path(entry).stat().st_size < 5_000_000  # the issue allows 25 MB for all of them


def test_shipped_head_changes_a_low_rate_decode(card):
    data = roicodec.compress(card, bpp=0.1)
    fidelity = as_array(roicodec.decompress(data))
    real = as_array(roicodec.decompress(data, realism=1.0))
    assert real.shape == fidelity.shape and np.abs(real - fidelity).mean() > 0.1
    assert roicodec.inspect(data)["perceptual"] is True
