"""The model registry: entries, names, paths, and the model a file names."""

from __future__ import annotations

import shutil

import pytest

import roicodec
from roicodec.models import RoiCodecWeights, load_model, model_for_id, model_for_rate, newest, shipped, weights_path
from roicodec.weights import read_metadata


def test_load_model_takes_an_entry_a_name_or_a_path(model):
    path = RoiCodecWeights.DEFAULT.value.path
    assert roicodec.load_model(RoiCodecWeights.DEFAULT) is model  # loaded once per process
    assert load_model(RoiCodecWeights.FIDELITY_V1) is model
    assert load_model("fidelity-v1") is model and load_model("FIDELITY_V1") is model and load_model("default") is model
    assert load_model(path) is model and load_model(str(path)) is model


def test_an_entry_reads_its_facts_from_its_file():
    entry = RoiCodecWeights.FIDELITY_V1
    info = read_metadata(entry.value.path)
    assert entry.value.model_id.hex() == info["model_id"]
    assert entry.value.meta["meta"]["architecture"] == info["meta"]["architecture"]
    assert entry.label == "fidelity-v1" and RoiCodecWeights.named("Fidelity-V1") is entry
    assert RoiCodecWeights.named("nonexistent") is None


def test_an_unknown_name_lists_the_shipped_models():
    with pytest.raises(roicodec.WeightsError, match="no model or weights file 'fidelity-v9'.*fidelity-v1"):
        weights_path("fidelity-v9")


def test_a_copy_of_the_weights_loads_as_its_own_model(tmp_path, model):
    copy = tmp_path / "copy.safetensors"
    shutil.copy(RoiCodecWeights.DEFAULT.value.path, copy)
    other = load_model(copy)
    assert other is not model and other.model_id == model.model_id


def test_the_decoder_picks_the_model_a_file_names(model, card):
    data = roicodec.compress(card, quality=2, model=model)
    assert model_for_id(model.model_id) is model
    assert roicodec.decompress(data).size == card.size  # no model given
    with pytest.raises(roicodec.ModelMismatchError, match="0123456789abcdef, which is not installed"):
        model_for_id(bytes.fromhex("0123456789abcdef"))


def test_the_encoder_picks_the_model_for_the_rate(card):
    """Without a model, a budget at or above an entry's use_from_bpp is coded by that entry (the one with the
    highest such start, of the newest version of each family), a quality level and lower rates by the default model."""
    starts = {e: e.value.meta["meta"].get("use_from_bpp") for e in newest()}
    default_id = RoiCodecWeights.DEFAULT.value.model_id
    assert roicodec.inspect(roicodec.compress(card, quality=3))["model_id"] == default_id.hex()
    assert roicodec.inspect(roicodec.compress(card, bpp=0.1))["model_id"] == default_id.hex()
    for entry, start in starts.items():
        if start is None:
            continue
        assert model_for_rate(start).model_id == entry.value.model_id
        assert model_for_rate(start * 0.99).model_id != entry.value.model_id
        data = roicodec.compress(card, bpp=start * 1.2)
        assert roicodec.inspect(data)["model_id"] == entry.value.model_id.hex()
        assert roicodec.decompress(data).size == card.size  # decoded by the model the file names


def test_the_encoder_uses_the_newest_version_of_each_family_and_the_older_ones_still_decode():
    entries = shipped()
    chosen = newest()
    for family in {e.family for e in entries}:
        versions = sorted((e for e in entries if e.family == family), key=lambda e: e.version)
        assert [e for e in chosen if e.family == family] == versions[-1:]
        for old in versions[:-1]:  # decode-only: the files they wrote name them
            assert model_for_id(old.value.model_id).model_id == old.value.model_id
    assert RoiCodecWeights.DEFAULT in chosen
