"""Training crops and quality maps.

Images are decoded once into memory (a few hundred MB for ../shared/data/train) and
cropped on the fly with random down-scaling and flips; cropping is cheap enough to
run in the training process, which keeps both cores for the network.
"""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..levels import LevelRange
from .synthetic import synthetic_page

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm"}


def list_images(root: str | Path) -> list[Path]:
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images under {root}")
    return files


class CropSampler:
    """Random crops (scale in [min_scale, 1] of the source, then resized) with flips;
    a ``synthetic_fraction`` of them are drawn documents/screenshots instead."""

    def __init__(self, root: str | Path, crop: int, min_scale: float = 0.5, seed: int = 0,
                 synthetic_fraction: float = 0.0) -> None:
        self.crop = crop
        self.min_scale = min_scale
        self.synthetic_fraction = synthetic_fraction
        self.rng = np.random.default_rng(seed)
        self.images: list[np.ndarray] = []
        for p in tqdm(list_images(root), desc="loading training images", leave=False):
            im = np.asarray(Image.open(p).convert("RGB"))
            if min(im.shape[:2]) >= crop:
                self.images.append(im)
        if not self.images:
            raise ValueError(f"no training image is at least {crop} px on its short side")

    def fork(self, seed: int) -> "CropSampler":
        """A sampler over the same decoded images with its own random stream (for parallel workers)."""
        twin = copy.copy(self)
        twin.rng = np.random.default_rng(seed)
        return twin

    def sample(self, batch: int) -> torch.Tensor:
        """(batch, 3, crop, crop) float in [0, 1]."""
        return self.sample_uint8(batch).float().div_(255.0)

    def sample_uint8(self, batch: int) -> torch.Tensor:
        """(batch, 3, crop, crop) uint8: a quarter of the bytes to move to a GPU, converted there."""
        out = np.empty((batch, self.crop, self.crop, 3), np.uint8)
        for b in range(batch):
            if self.synthetic_fraction and self.rng.random() < self.synthetic_fraction:
                out[b] = synthetic_page(self.crop, self.rng)
                continue
            im = self.images[self.rng.integers(len(self.images))]
            h, w = im.shape[:2]
            lo = max(self.min_scale, self.crop / min(h, w))
            scale = self.rng.uniform(lo, 1.0) if lo < 1 else 1.0
            size = min(int(round(self.crop / scale)), h, w)
            y0 = self.rng.integers(h - size + 1)
            x0 = self.rng.integers(w - size + 1)
            patch = im[y0 : y0 + size, x0 : x0 + size]
            if size != self.crop:
                patch = cv2.resize(patch, (self.crop, self.crop), interpolation=cv2.INTER_AREA)
            if self.rng.random() < 0.5:
                patch = patch[:, ::-1]
            out[b] = patch
        # contiguous NCHW: channels_last inputs crash the CPU backward of torch 2.14.1
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def random_quality_maps(batch: int, h: int, w: int, level_range: LevelRange, rng: np.random.Generator) -> torch.Tensor:
    """Quality maps at latent resolution within level_range, as DESIGN lists:
    uniform (about half), raised ellipses/rectangles over a lower background, and gradients."""
    top, bottom = level_range.high, level_range.low
    maps = np.empty((batch, 1, h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for b in range(batch):
        kind = rng.random()
        if kind < 0.5:
            maps[b] = rng.uniform(bottom, top)
        elif kind < 0.8:
            base = rng.uniform(bottom, top - 0.5)
            lift = rng.uniform(0.5, top - base)
            roi = np.zeros((h, w), np.float32)
            for _ in range(rng.integers(1, 4)):
                cy, cx = rng.uniform(0, h), rng.uniform(0, w)
                ry, rx = rng.uniform(1, h / 2 + 1), rng.uniform(1, w / 2 + 1)
                if rng.random() < 0.5:
                    shape = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
                else:
                    shape = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
                roi = np.maximum(roi, shape.astype(np.float32) * rng.uniform(0.5, 1.0))
            maps[b] = base + lift * roi
        else:
            a, c = rng.uniform(bottom, top, size=2)
            t = rng.uniform(0, 2 * np.pi)
            ramp = (np.cos(t) * xx / max(w - 1, 1) + np.sin(t) * yy / max(h - 1, 1))
            ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
            maps[b] = a + (c - a) * ramp
    return torch.from_numpy(np.clip(maps, bottom, top))
