"""Pictures with ground-truth region masks, as the ROI evaluations read them.

Why here: `benchmarks/roi_eval.py` and the ROI studies before it each walked the same folders,
paired images with masks and dropped the masks that mark nothing or everything. One copy keeps
every ROI figure scored on the same examples.

Layout (as in ../shared/data/roi): ``<root>/<dataset>/images/<name>.<ext>`` with its mask at
``<root>/<dataset>/masks/<name>.<any ext>``, the same file name; mask pixels above 127 are the region.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm


def load_pairs(root: Path, dataset: str, limit: int) -> list[tuple[Path, Path]]:
    """The first `limit` (image, mask) paths of a dataset in name order; images without a mask are left out.

    The limit counts pairs, not usable examples: a pair whose mask `load_example` rejects still uses up
    its place, so "the first 8 images" of a dataset stay the same 8 files.
    """
    images = sorted((root / dataset / "images").glob("*"))
    pairs = [(p, next((root / dataset / "masks").glob(p.stem + ".*"), None)) for p in images]
    return [(p, m) for p, m in pairs if m is not None][:limit]


def load_example(img_path: Path, mask_path: Path) -> tuple[Image.Image, np.ndarray] | None:
    """The image and its ground-truth mask (bool, at the image's size); None when the mask is empty or full."""
    image = Image.open(img_path).convert("RGB")
    gt = np.asarray(Image.open(mask_path).convert("L").resize(image.size, Image.Resampling.NEAREST)) > 127
    return None if not gt.any() or gt.all() else (image, gt)


def iter_examples(root: Path, datasets: list[str], limit: int,
                  desc: str) -> Iterator[tuple[str, str, Image.Image, np.ndarray]]:
    """(dataset, image file name, image, ground-truth mask) for every usable example, with a progress bar."""
    jobs = [(ds, im, mk) for ds in datasets for im, mk in load_pairs(root, ds, limit)]
    for ds, img_path, mask_path in tqdm(jobs, desc=desc):
        example = load_example(img_path, mask_path)
        if example is not None:
            yield ds, img_path.name, *example
