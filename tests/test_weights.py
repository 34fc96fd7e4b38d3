import pytest
import torch
from safetensors.torch import load_file, save_file

from roicodec.errors import WeightsError
from roicodec.models import RoiCodecWeights
from roicodec.weights import compute_model_id, read_metadata, read_model, to_module_names, to_stored_names


def test_shipped_weights_describe_themselves():
    info = read_metadata(RoiCodecWeights.DEFAULT.value.path)
    assert len(bytes.fromhex(info["model_id"])) == 8
    assert info["config"]["levels"] >= 2
    meta = info["meta"]
    for key in ("architecture", "training_steps", "training_data", "lambda_range"):
        assert key in meta
    assert RoiCodecWeights.DEFAULT.value.path.stat().st_size < 50 * 1024 * 1024


def test_model_id_covers_every_tensor():
    state = {"a": torch.zeros(3), "b": torch.ones(2, 2)}
    base = compute_model_id(state)
    state["b"][0, 0] = 1.0000001
    assert compute_model_id(state) != base


def test_stored_names_are_flat_and_the_id_does_not_depend_on_the_module_tree(model):
    """Files name their model by id; the id hashes the stored names, so nesting modules never changes it."""
    stored = load_file(str(RoiCodecWeights.DEFAULT.value.path))
    assert any(k.startswith("h_a.") for k in stored) and not any(k.startswith("latent_codec.") for k in stored)
    nested = model.state_dict()
    assert any(k.startswith("latent_codec.context.") for k in nested)
    assert to_module_names(stored).keys() == nested.keys()
    assert to_stored_names(nested).keys() == stored.keys()
    assert compute_model_id(nested) == compute_model_id(stored) == model.model_id


def test_a_loaded_model_carries_its_id_and_metadata(model):
    info = read_metadata(RoiCodecWeights.DEFAULT.value.path)
    assert model.model_id.hex() == info["model_id"]
    assert model.meta == info["meta"] and model.meta["rate_curve_bpp"]


def test_tampered_weights_are_refused(tmp_path):
    src = RoiCodecWeights.DEFAULT.value.path
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        md = f.metadata()
    state = load_file(str(src))
    name = next(k for k in state if k.endswith("weight"))
    state[name] = state[name] + 1e-3
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad), metadata=md)
    with pytest.raises(WeightsError, match="model id"):
        read_model(bad)


def test_missing_or_foreign_weights(tmp_path):
    with pytest.raises(WeightsError):
        read_model(tmp_path / "none.safetensors")
    p = tmp_path / "x.safetensors"
    save_file({"w": torch.zeros(1)}, str(p))
    with pytest.raises(WeightsError):
        read_model(p)


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    from roicodec.atomic import atomic_write, atomic_write_bytes

    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"old")

    def half_then_fail(tmp):
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old"  # the previous file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # and no temporary file is left
    with pytest.raises(FileNotFoundError, match="output folder"):
        atomic_write_bytes(tmp_path / "missing" / "x.bin", b"x")
