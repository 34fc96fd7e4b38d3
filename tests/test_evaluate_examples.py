"""roicodec.evaluate.examples on a small tree laid out like ../shared/data/roi (built here, not read from there)."""

import numpy as np
import pytest
from PIL import Image

from roicodec.evaluate.examples import iter_examples, load_example, load_pairs
from roicodec.evaluate.metrics import psnr


def _write(path, array, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


@pytest.fixture
def roi_tree(tmp_path):
    """people: a (region mask), b (empty mask), c (no mask), d (region mask as JPEG, half size), e (full mask).
    text: one page with a region."""
    rng = np.random.default_rng(0)
    img = lambda h=24, w=32: rng.integers(0, 256, (h, w, 3), np.uint8)  # noqa: E731
    half = np.zeros((24, 32), np.uint8)
    half[:, :16] = 255
    for name, mask in (("a", half), ("b", np.zeros_like(half)), ("d", None), ("e", np.full_like(half, 255))):
        _write(tmp_path / "people" / "images" / f"{name}.png", img(), "RGB")
        if mask is not None:
            _write(tmp_path / "people" / "masks" / f"{name}.png", mask, "L")
    _write(tmp_path / "people" / "images" / "c.png", img(), "RGB")
    # a mask of another size and extension is matched by name and resized to its image
    quarter = np.zeros((12, 16), np.uint8)
    quarter[6:, 8:] = 200
    Image.fromarray(quarter, "L").save(tmp_path / "people" / "masks" / "d.jpg", quality=100)
    _write(tmp_path / "text" / "images" / "page.png", img(40, 20), "RGB")
    page = np.zeros((40, 20), np.uint8)
    page[10:12] = 255
    _write(tmp_path / "text" / "masks" / "page.png", page, "L")
    return tmp_path


def test_pairs_by_name_in_order_and_images_without_masks_left_out(roi_tree):
    pairs = load_pairs(roi_tree, "people", 100)
    assert [(i.name, m.name) for i, m in pairs] == [("a.png", "a.png"), ("b.png", "b.png"), ("d.png", "d.jpg"),
                                                    ("e.png", "e.png")]


def test_load_example_gives_a_boolean_mask_at_the_image_size(roi_tree):
    image, gt = load_example(roi_tree / "people" / "images" / "d.png", roi_tree / "people" / "masks" / "d.jpg")
    assert image.mode == "RGB" and gt.dtype == bool and gt.shape == (24, 32)
    assert gt[12:, 16:].all() and not gt[:12].any() and not gt[:, :16].any()  # nearest, > 127
    assert load_example(roi_tree / "people" / "images" / "b.png", roi_tree / "people" / "masks" / "b.png") is None
    assert load_example(roi_tree / "people" / "images" / "e.png", roi_tree / "people" / "masks" / "e.png") is None


def test_iter_examples_skips_empty_and_full_masks(roi_tree):
    got = list(iter_examples(roi_tree, ["people", "text"], 100, "test"))
    assert [(ds, name) for ds, name, _, _ in got] == [("people", "a.png"), ("people", "d.png"), ("text", "page.png")]
    ds, name, image, gt = got[0]
    assert image.size == (32, 24) and gt.shape == (24, 32) and gt[:, :16].all() and not gt[:, 16:].any()
    assert np.array_equal(np.asarray(image), np.asarray(Image.open(roi_tree / "people" / "images" / "a.png")))
    assert got[2][3].sum() == 2 * 20


def test_limit_counts_pairs_per_dataset_not_usable_examples(roi_tree):
    # the first 2 pairs of people are a and b (b's mask is empty): only a remains, and the limit is per dataset
    got = [(ds, name) for ds, name, _, _ in iter_examples(roi_tree, ["people", "text"], 2, "test")]
    assert got == [("people", "a.png"), ("text", "page.png")]
    assert [(ds, n) for ds, n, _, _ in iter_examples(roi_tree, ["people"], 0, "test")] == []
    assert list(iter_examples(roi_tree, ["missing"], 5, "test")) == []


def test_psnr_scores_pil_images_as_rgb_and_over_a_region():
    a = np.zeros((4, 6, 3), np.uint8)
    b = a.copy()
    b[:, :3] = 5
    left = np.zeros((4, 6), bool)
    left[:, :3] = True
    assert psnr(Image.fromarray(a), Image.fromarray(b)) == pytest.approx(10 * np.log10(255**2 / 12.5))
    assert psnr(Image.fromarray(a), b, left) == pytest.approx(10 * np.log10(255**2 / 25))
    assert psnr(a, b, ~left) == float("inf")
    # a grayscale picture is scored as its RGB conversion: the same PSNR
    assert psnr(Image.fromarray(a[..., 0], "L"), Image.fromarray(b[..., 0], "L")) == pytest.approx(psnr(a, b))
