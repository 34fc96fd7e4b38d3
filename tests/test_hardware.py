"""Decodes are identical at any thread count, for both shipped models and shapes where oneDNN's work
splitting changed the float sums (hardware.reproducible_threads). Without it the first two fail on an
AVX-512 / AMX CPU (``NARROW_LATENT = 0``). The bf16 synthesis (hardware.bf16_synthesis) too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import roicodec

from .conftest import on_one_and_two_threads, synthetic_image


@pytest.mark.parametrize(("model_name", "size", "bpp"), [
    ("fidelity-v1", (304, 112), 0.3),   # latent 8x20: the 1- and 2-thread floats differed on an AMX CPU
    ("fidelity-v1", (256, 192), 0.3),   # latent 12x16: the same
    ("highrate-v1", (304, 592), 1.0),   # latent 40x20: multi-threaded, and identical
])
def test_narrow_pictures_decode_identically_on_one_and_two_threads(model_name, size, bpp):
    model = roicodec.load_model(model_name)
    data = roicodec.compress(synthetic_image(*size, seed=5), bpp=bpp, model=model)
    one, two = on_one_and_two_threads(lambda: np.asarray(roicodec.decompress(data, model=model)))
    assert np.array_equal(one, two)


def test_bf16_synthesis_only_where_it_is_fast_and_reproducible(monkeypatch):
    from roicodec import hardware

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert hardware.bf16_synthesis(cpu, "roicodec-v1")
    assert not hardware.bf16_synthesis(cpu, "roicodec-v1", "float32")
    assert not hardware.bf16_synthesis(cpu, "bls2017")  # not thread-reproducible in bf16
    assert not hardware.bf16_synthesis(gpu, "roicodec-v1")  # a GPU decodes in reproducible float32
    assert hardware.bf16_analysis(cpu, "roicodec-v1")
    assert not hardware.bf16_analysis(cpu, "bls2017")  # GDN's analysis lost 0.05 dB in bf16
    assert not hardware.bf16_analysis(cpu, "roicodec-v1", "float32")
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert not hardware.bf16_synthesis(cpu, "roicodec-v1")  # AVX2: bf16 would be slower
    assert not hardware.bf16_analysis(cpu, "roicodec-v1")
    with pytest.raises(ValueError, match="precision"):
        hardware.bf16_synthesis(cpu, "roicodec-v1", "float16")


@pytest.mark.parametrize("realism", [0.0, 1.0])
def test_bf16_decodes_are_near_float32_and_identical_on_one_and_two_threads(monkeypatch, realism):
    """Forced on (whatever this CPU has): the bf16 synthesis stays within a few 8-bit levels of the
    reference decode, and repeats exactly at 1 and 2 threads, with and without the perceptual head."""
    from roicodec import hardware

    model = roicodec.load_model("fidelity-v1")
    card = synthetic_image(320, 256, seed=8)
    data = roicodec.compress(card, bpp=0.3, model=model)
    reference = np.asarray(roicodec.decompress(data, model=model, precision="float32", realism=realism), np.int16)
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    one, two = on_one_and_two_threads(lambda: np.asarray(roicodec.decompress(data, model=model, realism=realism), np.int16))
    assert np.array_equal(one, two)
    diff = np.abs(one - reference)
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    assert 0 < diff.max() <= 4 and 10 * np.log10(255**2 / mse) > 45  # bf16 did run, and cost little


def test_bf16_encodes_repeat_on_one_and_two_threads_and_cost_little(monkeypatch):
    """Forced on: the bf16 analysis writes the same file at 1 and 2 threads, another file than float32's
    (it did run), of about the same size and quality at a fixed level."""
    from roicodec import hardware
    from roicodec.evaluate.metrics import psnr

    model = roicodec.load_model("fidelity-v1")
    card = synthetic_image(320, 256, seed=9)
    reference = roicodec.compress(card, quality=4, model=model, precision="float32")
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert roicodec.compress(card, quality=4, model=model, precision="float32") == reference
    one, two = on_one_and_two_threads(lambda: roicodec.compress(card, quality=4, model=model))
    assert one == two != reference
    assert abs(len(one) / len(reference) - 1) < 0.01
    decode = lambda data: roicodec.decompress(data, model=model, precision="float32")  # noqa: E731
    assert abs(psnr(decode(one), card) - psnr(decode(reference), card)) < 0.05


def test_unknown_precision_is_an_error(capsys):
    from roicodec.cli import main
    from roicodec.errors import BudgetError

    data = roicodec.compress(synthetic_image(64, 48, seed=1), bpp=0.5)
    with pytest.raises(ValueError, match="precision"):
        roicodec.decompress(data, precision="float16")
    with pytest.raises(BudgetError, match="precision"):
        roicodec.compress(synthetic_image(64, 48, seed=1), bpp=0.5, precision="float16")
    with pytest.raises(SystemExit) as exc:
        main(["decompress", "x.rcz", "--precision", "float16"])
    assert exc.value.code == 2 and "--precision" in capsys.readouterr().err
