"""The training loop on a toy model: steps, resume from checkpoint, export that loads."""

import numpy as np
import torch

from roicodec.levels import LevelRange
from roicodec.model import ModelConfig
from roicodec.train.data import random_quality_maps
from roicodec.train.loop import TrainConfig, train
from roicodec.weights import load_model, read_metadata

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
    model = load_model(final)
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
