import pytest
import torch
from safetensors.torch import load_file, save_file

from roicodec.errors import WeightsError
from roicodec.models import RoiCodecWeights
from roicodec.weights import (
    BORROWED,
    compute_model_id,
    exact_integers,
    lend,
    read_metadata,
    read_model,
    read_stored,
    recompact,
    rewrite_metadata,
    safetensors_metadata,
    stored_as,
    storage_of,
    tensors_digest,
    to_module_names,
    to_stored_names,
    unpacked,
    write_weights_file,
)

#: The fidelity model's id since v0.1.0: the hash of its float32 tensors, which every file it wrote names.
FIDELITY_V1_ID = "f0d3e7c95049ec67"


def test_shipped_weights_describe_themselves():
    info = read_metadata(RoiCodecWeights.DEFAULT.value.path)
    assert len(bytes.fromhex(info["model_id"])) == 8
    assert info["config"]["levels"] >= 2
    meta = info["meta"]
    for key in ("architecture", "training_steps", "training_data", "lambda_range"):
        assert key in meta
    assert RoiCodecWeights.DEFAULT.value.path.stat().st_size < 25 * 1000 * 1000  # packed (was 48 MB, then 34.4)


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
    assert to_module_names(unpacked(stored)).keys() == nested.keys()
    assert to_stored_names(nested).keys() == unpacked(stored).keys()
    info = read_metadata(RoiCodecWeights.DEFAULT.value.path)
    # the loaded model widens the stored float16 tensors and unpacks the integers; stored again they hash as stored
    assert tensors_digest(stored_as(nested, info["storage"], exact_integers(model))) == tensors_digest(stored)
    assert tensors_digest(stored).hex() == info["tensors_sha256"]
    assert model.model_id.hex() == info["model_id"]


def test_compact_storage_keeps_the_model_id_and_the_entropy_path_exactly(model):
    """Format 2: the fidelity model's analysis, synthesis and hyper analysis are stored in float16 and its
    integer-exact layers as their integers ("packed"), under its float32 id (the files it wrote name that
    id); the CDF tables, the bottleneck and the gains are stored as trained."""
    path = RoiCodecWeights.FIDELITY_V1.value.path
    info = read_metadata(path)
    assert (info["format"], info["model_id"], info["storage"]) == ("roicodec-weights-2", FIDELITY_V1_ID, "packed")
    stored = load_file(str(path))
    assert storage_of(stored) == "packed"
    packed = {k.removesuffix("_exp") for k in stored if k.endswith("_exp")}
    assert packed and all(k.startswith(("h_s.", "context.")) for k in packed)
    layers = dict(model.named_modules())
    for name, t in stored.items():
        if name in packed:  # the integers the exact path computes with, exactly
            assert t.dtype == torch.int16
            layer = layers[to_module_names({name: t}).popitem()[0].removesuffix(".weight")]
            assert torch.equal(layer._quantised()[0], t.double())
        elif name.startswith(("g_a.", "g_s.", "h_a.")) and t.is_floating_point():
            assert t.dtype == torch.float16, name
        elif not name.endswith("_exp"):  # entropy bottleneck and its CDF tables, gains, biases of exact layers
            assert t.dtype in (torch.float32, torch.int32), name


def test_packing_leaves_a_layer_whose_integers_would_not_come_back():
    """A layer whose largest weight rounds up to the next power of two would get another exponent from its
    stored integers: packing leaves it as trained."""
    from roicodec.model.exact import ExactConv2d

    model = read_model(RoiCodecWeights.FIDELITY_V1.value.path)
    before = exact_integers(model)
    name, layer = next((n, m) for n, m in model.named_modules() if isinstance(m, ExactConv2d) and m.mask is None)
    stored_name = next(iter(to_stored_names({name + ".weight": None})))
    assert stored_name in before
    _, _, scale = layer._quantised()
    layer.weight.data[0, 0, 0, 0] = (4096 - 0.4) / scale  # rounds to 2**12: stored, it would move the exponent
    layer.invalidate()
    after = exact_integers(model)
    assert stored_name not in after and after.keys() == before.keys() - {stored_name}


def test_recompacting_is_idempotent_and_keeps_id_and_metadata(tmp_path):
    src = RoiCodecWeights.FIDELITY_V1.value.path
    again = recompact(src, tmp_path / "again.safetensors", "packed")
    info = read_metadata(src)
    assert again == info  # same id, stored hash, storage, config and meta


def test_format_1_files_still_load(tmp_path):
    """A format-1 file (the id is the hash of the stored tensors, no tensors_sha256) loads as before."""
    src = RoiCodecWeights.FIDELITY_V1.value.path
    info = read_metadata(src)
    state = load_file(str(src))
    old = tmp_path / "v1.safetensors"
    import json

    save_file(state, str(old), metadata={"format": "roicodec-weights-1", "model_id": compute_model_id(state).hex(),
                                         "config": json.dumps(info["config"]), "meta": "{}"})
    assert read_metadata(old)["tensors_sha256"] is None
    assert read_model(old).model_id == compute_model_id(state)
    save_file(state, str(old), metadata={"format": "roicodec-weights-1", "model_id": FIDELITY_V1_ID,
                                         "config": json.dumps(info["config"]), "meta": "{}"})
    with pytest.raises(WeightsError, match="model id"):  # format 1 has no logical id: it must hash
        read_model(old)


def test_rewriting_metadata_keeps_tensors_id_and_format(tmp_path):
    import shutil

    copy = tmp_path / "copy.safetensors"
    shutil.copy(RoiCodecWeights.FIDELITY_V1.value.path, copy)
    before = read_metadata(copy)
    after = rewrite_metadata(copy, {**before["meta"], "note": "annotated"})
    assert after["meta"]["note"] == "annotated"
    assert {k: after[k] for k in ("format", "model_id", "tensors_sha256", "storage")} == \
        {k: before[k] for k in ("format", "model_id", "tensors_sha256", "storage")}


def test_a_later_format_is_refused_by_name(tmp_path):
    p = tmp_path / "future.safetensors"
    save_file({"w": torch.zeros(1)}, str(p), metadata={"format": "roicodec-weights-9", "model_id": "00" * 8, "config": "{}"})
    with pytest.raises(WeightsError, match="roicodec-weights-9"):
        read_metadata(p)


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


HIGHRATE_V1_ID = "8b41609f7e03cff7"


def test_highrate_v1_borrows_its_transforms_and_head_from_v2():
    """highrate-v1 stores only its latent codec and borrows the Ballé-2017 transforms it shares with v2 (and
    v2's head, the same tensors): loaded, it is the model its files name, with the head bound to it."""
    from roicodec.models import head_path, perceptual_head_for

    v1, v2 = RoiCodecWeights.HIGHRATE_V1, RoiCodecWeights.HIGHRATE_V2
    own, lent = load_file(str(v1.value.path)), load_file(str(v2.value.path))
    assert not any(k.startswith(("g_a.", "g_s.")) for k in own)
    whole = read_stored(v1.value.path)
    assert whole.keys() > own.keys() and all(torch.equal(whole[k], lent[k]) for k in whole.keys() - own.keys())
    model = read_model(v1.value.path)
    assert model.model_id.hex() == HIGHRATE_V1_ID
    assert len(load_file(str(head_path(v1)))) == 0
    assert perceptual_head_for(model).base_model_id.hex() == HIGHRATE_V1_ID


def whole_copy(entry: RoiCodecWeights, path):
    """``entry``'s file stored whole (borrowed tensors included) at ``path``."""
    md = safetensors_metadata(entry.value.path)
    md.pop(BORROWED, None)
    write_weights_file(read_stored(entry.value.path), path, md)


def test_lending_keeps_the_model_and_a_changed_or_missing_lender_is_refused(tmp_path):
    lender = tmp_path / "lender.safetensors"
    whole_copy(RoiCodecWeights.HIGHRATE_V2, lender)
    borrower = tmp_path / "borrower.safetensors"
    whole_copy(RoiCodecWeights.HIGHRATE_V1, borrower)
    before = read_model(borrower).state_dict()
    size = borrower.stat().st_size
    assert lend(borrower, lender) == size - borrower.stat().st_size > 4_000_000
    after = read_model(borrower)
    assert after.model_id.hex() == HIGHRATE_V1_ID
    assert all(torch.equal(t, after.state_dict()[k]) for k, t in before.items())
    with pytest.raises(WeightsError, match="borrows tensors already"):
        lend(borrower, lender)

    rewrite_metadata(borrower, {"note": "new"})  # keeps borrowing
    assert read_metadata(borrower)["meta"] == {"note": "new"} and read_model(borrower).model_id.hex() == HIGHRATE_V1_ID

    changed = load_file(str(lender))
    changed["g_s.0.weight"] = changed["g_s.0.weight"] * 2
    save_file(changed, str(lender), metadata=safetensors_metadata(lender))
    with pytest.raises(WeightsError, match="have changed"):
        read_model(borrower)
    lender.unlink()
    with pytest.raises(WeightsError, match="not beside it"):
        read_model(borrower)

    md = safetensors_metadata(borrower)
    for bad, message in (('{"file": "../lender.safetensors", "names": [], "sha256": ""}', "not a file name"),
                         ("{not json", "damaged")):
        save_file(load_file(str(borrower)), str(borrower), metadata={**md, BORROWED: bad})
        with pytest.raises(WeightsError, match=message):
            read_model(borrower)


def test_a_lender_rewritten_first_gives_its_borrowers_their_tensors_and_lending_checks_before_writing(tmp_path):
    lender = tmp_path / "lender.safetensors"
    whole_copy(RoiCodecWeights.HIGHRATE_V2, lender)
    borrower = tmp_path / "borrower.safetensors"
    whole_copy(RoiCodecWeights.HIGHRATE_V1, borrower)
    lend(borrower, lender)
    for path, other, message in ((lender, lender, "from itself"), (lender, borrower, "borrows tensors itself"),
                                 (borrower, lender, "borrows tensors already")):
        size = path.stat().st_size
        with pytest.raises(WeightsError, match=message):
            lend(path, other)
        assert path.stat().st_size == size  # nothing written

    before = read_model(borrower).state_dict()
    with pytest.warns(UserWarning, match="now stores the tensors"):
        recompact(lender, lender, "packed")  # changes tensors the borrower borrows
    assert BORROWED not in safetensors_metadata(borrower)
    after = read_model(borrower)
    assert after.model_id.hex() == HIGHRATE_V1_ID and all(torch.equal(t, after.state_dict()[k]) for k, t in before.items())
