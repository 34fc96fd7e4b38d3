"""The training loop on a toy model: steps, resume from checkpoint, export that loads."""

import numpy as np
import torch

from roicodec.levels import LevelRange
from roicodec.model import ModelConfig
from roicodec.train.data import random_quality_maps
from roicodec.train.loop import TrainConfig, train
from roicodec.weights import read_metadata, read_model

from .conftest import synthetic_image


def test_quality_maps_cover_the_kinds_and_range():
    rng = np.random.default_rng(0)
    q = random_quality_maps(64, 8, 8, LevelRange(0.0, 7.0), rng)
    assert q.shape == (64, 1, 8, 8) and float(q.min()) >= 0 and float(q.max()) <= 7
    flat = [(m.max() - m.min()).item() == 0 for m in q]
    assert 0.3 < np.mean(flat) < 0.7  # about half uniform


def test_train_resume_and_export(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        synthetic_image(96, 80, seed=i).save(data / f"{i}.png")
    cfg = TrainConfig(data=str(data), out=str(tmp_path / "run"), steps=2, batch=2, crop=64, ckpt_every=1, bf16=False)
    small = ModelConfig(n=32, m=144)
    train(cfg, small)
    cfg.steps = 3
    final = train(cfg, small)  # resumes from the checkpoint at step 2
    meta = read_metadata(final)
    assert meta["meta"]["training_steps"] == 3 and meta["config"]["m"] == 144
    model = read_model(final)
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        code = model.compress_latent(model.analyse(x), torch.full((1, 1, 4, 4), 3.0))
        assert torch.equal(model.decompress_latent(code.z_string, code.y_strings, code.latent_shape), code.y_hat_int)


def test_synthetic_pages_are_varied_text_like_crops():
    from roicodec.train.synthetic import synthetic_page

    a = synthetic_page(96, np.random.default_rng(3))
    assert a.shape == (96, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, synthetic_page(96, np.random.default_rng(3)))  # seeded, reproducible
    pages = [synthetic_page(64, np.random.default_rng(s)) for s in range(12)]
    assert len({p.tobytes() for p in pages}) == 12
    # thin strokes on flat backgrounds: strong local contrast, yet a dominant background value
    grads = [np.abs(np.diff(p.astype(int), axis=1)).max() for p in pages]
    assert np.median(grads) > 80


def test_sampler_mixes_in_synthetic_crops(tmp_path):
    from roicodec.train.data import CropSampler

    for i in range(2):
        synthetic_image(80, 80, seed=i).save(tmp_path / f"{i}.png")
    photos = CropSampler(tmp_path, 64, seed=0, synthetic_fraction=0.0).sample(16)
    mixed = CropSampler(tmp_path, 64, seed=0, synthetic_fraction=1.0).sample(16)
    assert photos.shape == mixed.shape == (16, 3, 64, 64)
    assert not torch.equal(photos, mixed)


def test_loss_scores_the_clamped_output():
    from roicodec.train.losses import rate_distortion_loss

    model = load_model_small()
    x = torch.ones(1, 3, 32, 32)
    q = torch.full((1, 1, 2, 2), 3.0)
    lik = {"y": torch.ones(1, 4)}
    over = rate_distortion_loss(model, {"x_hat": torch.full_like(x, 1.2).requires_grad_(), "likelihoods": lik}, x, q)
    assert float(over["mse"].detach()) == 0.0  # overshooting white paper is not an error once clamped
    wrong = torch.full_like(x, 1.2).requires_grad_()
    loss = rate_distortion_loss(model, {"x_hat": wrong, "likelihoods": lik}, x * 0.5, q)["loss"]
    loss.backward()
    assert float(wrong.grad.min()) > 0  # an overshoot that is wrong is still pulled back


def load_model_small():
    from roicodec.model import RoiCodecModel

    return RoiCodecModel(ModelConfig(n=32, m=144))


def test_train_command_leaves_unset_options_to_train_config(monkeypatch, tmp_path):
    import roicodec.train.loop as loop
    from roicodec.cli import main

    seen = []
    monkeypatch.setattr(loop, "train", lambda cfg: seen.append(cfg) or "done")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--steps", "7", "--bf16", "off"]) == 0
    defaults = TrainConfig(data="d", out="o")
    (cfg,) = seen
    assert cfg.steps == 7 and cfg.bf16 is False
    assert (cfg.batch, cfg.crop, cfg.lr, cfg.synthetic_text, cfg.init) == (
        defaults.batch, defaults.crop, defaults.lr, defaults.synthetic_text, defaults.init)


def test_time_budget_anneals_over_the_minutes_and_stops_with_an_export(tmp_path):
    from roicodec.train.loop import _lr_at

    timed = TrainConfig(data="d", out="o", steps=1000, lr=1e-4, minutes=2.0)
    assert _lr_at(timed, step=900, elapsed=0.0) == 1e-4  # the steps no longer set the schedule
    assert abs(_lr_at(timed, step=1, elapsed=60.0) - 1e-4 * 0.55) < 1e-12  # halfway: (0.1 + 0.9 / 2)
    assert abs(_lr_at(timed, step=1, elapsed=500.0) - 1e-5) < 1e-12  # floor once the budget is spent
    data = tmp_path / "data"
    data.mkdir()
    synthetic_image(80, 80).save(data / "0.png")
    cfg = TrainConfig(data=str(data), out=str(tmp_path / "run"), steps=10_000, batch=1, crop=64, bf16=False,
                      minutes=0.5 / 60, ckpt_every=10_000)
    final = train(cfg, ModelConfig(n=32, m=144))
    steps = read_metadata(final)["meta"]["training_steps"]
    assert 1 <= steps < 10_000
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert ck["step"] == steps  # the stop wrote a checkpoint to resume from


def test_time_budget_must_be_positive(tmp_path):
    import pytest

    cfg = TrainConfig(data=str(tmp_path), out=str(tmp_path / "run"), steps=2, minutes=0)
    with pytest.raises(ValueError, match="--minutes"):
        train(cfg, ModelConfig(n=32, m=144))


def test_export_rebuilds_the_hyper_latent_tables(tmp_path):
    """A model trained on from shipped weights carries their CDF tables; the export must not keep them."""
    from roicodec.weights import export_weights

    model = load_model_small()
    model.latent_codec.entropy_bottleneck.update(force=True)
    stale = model.latent_codec.entropy_bottleneck._quantized_cdf.clone()
    with torch.no_grad():  # what training does to the factorised prior
        for p in model.latent_codec.entropy_bottleneck.parameters():
            p.add_(0.3 * torch.randn_like(p))
    export_weights(model, tmp_path / "w.safetensors", {"training_steps": 1})
    shipped = read_model(tmp_path / "w.safetensors").latent_codec.entropy_bottleneck._quantized_cdf
    model.latent_codec.entropy_bottleneck.update(force=True)
    assert torch.equal(shipped, model.latent_codec.entropy_bottleneck._quantized_cdf)
    assert shipped.shape != stale.shape or not torch.equal(shipped, stale)


def test_prefetched_batches_are_fixed_by_the_seed(tmp_path):
    """Parallel workers, yet the same batches in the same order as drawing from their forks in turn."""
    from roicodec.train.data import CropSampler
    from roicodec.train.loop import prefetched

    for i in range(3):
        synthetic_image(96, 96, seed=i).save(tmp_path / f"{i}.png")
    sampler = CropSampler(tmp_path, 64, seed=5, synthetic_fraction=0.3)
    seed = int(CropSampler(tmp_path, 64, seed=5).rng.integers(2**31))
    forks = [sampler.fork(seed + k) for k in range(3)]
    drawn = prefetched(sampler, 2, workers=3)
    batches = [next(drawn) for _ in range(6)]
    for i, got in enumerate(batches):
        assert got.dtype == torch.uint8 and got.shape == (2, 3, 64, 64)
        assert torch.equal(got, forks[i % 3].sample_uint8(2))
    assert not torch.equal(batches[0], batches[1])  # the workers do not repeat each other
    assert torch.equal(sampler.fork(1).sample(2), sampler.fork(1).sample_uint8(2).float() / 255)


def test_channels_last_falls_back_when_the_first_step_fails(tmp_path, monkeypatch, capsys):
    """channels_last is for the GPU; should its first step fail (torch's CPU backward crashes on it), the run
    goes on in the default memory format rather than losing a device call."""
    import roicodec.train.loop as loop

    real = loop.rate_distortion_loss

    def picky(model, result, x, q):
        if not x.is_contiguous():  # channels_last input
            raise RuntimeError("no channels_last kernel")
        return real(model, result, x, q)

    monkeypatch.setattr(loop, "rate_distortion_loss", picky)
    synthetic_image(80, 80).save(tmp_path / "0.png")
    cfg = TrainConfig(data=str(tmp_path), out=str(tmp_path / "run"), steps=2, batch=1, crop=64, bf16=False,
                      channels_last=True, ckpt_every=10)
    final = train(cfg, ModelConfig(n=32, m=144))
    assert read_metadata(final)["meta"]["training_steps"] == 2
    out = capsys.readouterr().out
    assert "training in the default memory format" in out and "channels_last False" in out


def test_a_run_from_trained_weights_warms_the_learning_rate_up():
    """Adam's first step moves every parameter by ±lr: from --init weights the rate rises over INIT_WARMUP_STEPS."""
    from roicodec.train.loop import INIT_WARMUP_STEPS, _lr_at

    cfg = TrainConfig(data="d", out="o", steps=10_000, lr=1e-4, minutes=5.0)
    assert _lr_at(cfg, step=64_000, elapsed=0.0, run_step=0, warmup=INIT_WARMUP_STEPS) == 1e-4 / INIT_WARMUP_STEPS
    assert _lr_at(cfg, step=64_249, elapsed=0.0, run_step=249, warmup=500) == 1e-4 / 2
    assert _lr_at(cfg, step=70_000, elapsed=0.0, run_step=6000, warmup=500) == 1e-4
    assert _lr_at(cfg, step=1, elapsed=0.0) == 1e-4  # no warm-up unless asked
