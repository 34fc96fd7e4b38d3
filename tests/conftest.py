"""Shared fixtures: the shipped model and small generated images (no ../shared needed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pytest
import torch
from PIL import Image

import roicodec

T = TypeVar("T")


def on_one_and_two_threads(run: Callable[[], T]) -> tuple[T, T]:
    """``run()`` at 1 and then 2 torch threads (the thread count restored after): the pair that
    every reproducibility test compares."""
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = run()
        torch.set_num_threads(2)
        return one, run()
    finally:
        torch.set_num_threads(n)


def synthetic_image(width: int, height: int, seed: int = 0, noise: float = 6.0) -> Image.Image:
    """A photo-like test card: smooth gradients, texture, edges and mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 120 + 80 * np.sin(xx / 17.0 + seed) * np.cos(yy / 23.0)
    g = 100 + 0.5 * xx * 255 / max(width, 1) * 0.6 + 30 * np.sin((xx + yy) / 7.0)
    b = 90 + 100 * ((xx // 24 + yy // 24) % 2)
    img = np.stack([r, g, b], axis=2)
    for _ in range(4):
        x0, y0 = rng.integers(0, max(width - 8, 1)), rng.integers(0, max(height - 8, 1))
        img[y0 : y0 + height // 4, x0 : x0 + width // 5] = rng.uniform(20, 235, size=3)
    img += rng.normal(0, noise, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch, tmp_path_factory):
    """Tests never download: an empty weights cache, and downloads switched off."""
    monkeypatch.setenv("ROICODEC_HOME", str(tmp_path_factory.mktemp("roicodec_home")))
    monkeypatch.setenv("ROICODEC_OFFLINE", "1")


@pytest.fixture(scope="session")
def model():
    return roicodec.load_model()


@pytest.fixture(scope="session")
def card() -> Image.Image:
    return synthetic_image(192, 128, seed=1)
