"""The training loop on a toy model: steps, resume from checkpoint, export that loads."""

import numpy as np
import torch

from roicodec.model import ModelConfig
from roicodec.train.data import random_quality_maps
from roicodec.train.loop import TrainConfig, train
from roicodec.weights import load_model, read_metadata

from .conftest import synthetic_image


def test_quality_maps_cover_the_kinds_and_range():
    rng = np.random.default_rng(0)
    q = random_quality_maps(64, 8, 8, 8, rng)
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
