"""roicodec.evaluate.perceptual (per-image metrics) and roicodec.evaluate.squeeze (the training's
SqueezeNet-feature distance; its tests skip without ../shared/weights or the onnx package)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from roicodec.evaluate import perceptual as P
from roicodec.roi.cache import SourceUnavailable

from .conftest import synthetic_image

WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights"
ONNX = WEIGHTS / "squeezenet1_1_onnx" / "squeezenet_v1.1_features_coreml2onnx.onnx"
HEADS = WEIGHTS / "lpips_linear" / "squeeze.pth"

pytest.importorskip("piq")
pytest.importorskip("pytorch_msssim")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return synthetic_image(256, 192, seed=3, noise=3.0)


def blurred(im: Image.Image, r: float) -> Image.Image:
    return im.filter(ImageFilter.GaussianBlur(r))


def test_identical_pictures_score_perfectly(photo):
    a = np.asarray(photo)
    assert P.psnr(a, a.copy()) == math.inf
    assert P.roi_psnr(a, a.copy(), np.ones(a.shape[:2])) == math.inf
    assert P.ms_ssim(photo, a) == pytest.approx(1.0, abs=1e-6)
    for metric in P.HELDOUT:
        assert P.heldout_distance(photo, a, metric) == pytest.approx(0.0, abs=1e-6)


def test_inputs_arrays_images_and_tensors_agree(photo):
    img = blurred(photo, 1.5)
    t_ref = torch.from_numpy(np.array(photo)).permute(2, 0, 1).float() / 255
    t_img = torch.from_numpy(np.array(img)).permute(2, 0, 1).float()[None] / 255
    assert P.psnr(t_ref, t_img) == pytest.approx(P.psnr(photo, img), abs=1e-6)
    assert P.heldout_distance(t_ref, t_img) == pytest.approx(P.heldout_distance(photo, np.asarray(img)), rel=1e-5)
    with pytest.raises(ValueError):
        P.heldout_distance(photo, img, "lpips")


def test_roi_psnr_scores_only_the_region(photo):
    a = np.asarray(photo)
    b = a.copy()
    b[:, 128:] = np.asarray(blurred(photo, 3))[:, 128:]  # damage the right half only
    mask = np.zeros(a.shape[:2], np.uint8)
    mask[:, :128] = 255  # a 0-255 mask: > 0.5 after /255
    assert P.roi_psnr(a, b, mask) == math.inf
    assert P.roi_psnr(a, b, Image.fromarray(255 - mask)) == pytest.approx(P.psnr(a[:, 128:], b[:, 128:]))
    assert P.roi_psnr(a, b, torch.from_numpy(mask > 0).float()) == math.inf
    assert math.isnan(P.roi_psnr(a, b, np.zeros(a.shape[:2])))
    with pytest.raises(ValueError):
        P.roi_psnr(a, b, np.ones((10, 10)))


def test_blur_raises_the_heldout_distance_monotonically(photo):
    for metric in P.HELDOUT:
        d = [P.heldout_distance(photo, blurred(photo, r), metric) for r in (0.7, 1.5, 3.0)]
        assert 0 < d[0] < d[1] < d[2], (metric, d)
    m = [P.ms_ssim(photo, blurred(photo, r)) for r in (0.7, 3.0)]
    assert 1 > m[0] > m[1]


def test_naturalness_tells_a_photo_from_noise(photo):
    noise = np.random.default_rng(0).integers(0, 256, (192, 256, 3), dtype=np.uint8)
    nat, noisy = P.naturalness(photo), P.naturalness(noise)
    assert noisy > nat + 20  # lower is better
    assert P.naturalness(blurred(photo, 3)) > nat


def test_score_has_every_metric(photo):
    s = P.score(photo, blurred(photo, 1.5), mask=np.ones((192, 256), bool))
    assert set(s) == {"psnr-rgb", "ms-ssim", "ms-gmsd", "1-dss", "brisque", "roi-psnr"}
    assert s["roi-psnr"] == pytest.approx(s["psnr-rgb"])


# --- SqueezeNet-feature distance with LPIPS heads (the training loss; not LPIPS) ---

needs_weights = pytest.mark.skipif(not (ONNX.is_file() and HEADS.is_file()), reason="needs ../shared/weights")


@pytest.fixture(scope="module")
def squeeze():
    pytest.importorskip("onnx")
    if not (ONNX.is_file() and HEADS.is_file()):
        pytest.skip("needs ../shared/weights")
    from roicodec.evaluate.squeeze import SqueezeDistance

    return SqueezeDistance(onnx=ONNX, heads=HEADS)


def _t(im) -> torch.Tensor:
    return P.as_tensor(im)


@needs_weights
def test_squeeze_features_match_the_onnx_graph(squeeze):
    """The torch port against onnx's reference runtime on the same graph (ImageScaler with scale 1
    and bias 0 made an Identity, the mean-only BatchNormalization a Sub: ops the runtime lacks at opset 7)."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    m = onnx.load(str(ONNX))
    g = m.graph
    g.initializer.append(numpy_helper.from_array(np.array([104, 117, 123], np.float32).reshape(1, 3, 1, 1), "mean_c"))
    head = {"GlobalAveragePool", "Flatten", "Gemm", "Sigmoid", "Constant", "ArgMax", "ArrayFeatureExtractor", "ZipMap"}
    nodes = [n for n in g.node if n.op_type not in head]
    for n in nodes:
        if n.op_type == "ImageScaler":
            n.op_type = "Identity"
            del n.attribute[:]
        elif n.op_type == "BatchNormalization":
            n.op_type, x = "Sub", n.input[0]
            del n.input[:], n.attribute[:]
            n.input.extend([x, "mean_c"])
    del g.node[:], g.output[:], g.value_info[:]
    g.node.extend(nodes)
    names = ["conv1", "fire3_concat", "fire5_concat", "fire6_concat", "fire7_concat", "fire8_concat", "fire9_concat"]
    g.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names)
    rgb = np.random.default_rng(1).uniform(0, 1, (1, 3, 99, 99)).astype(np.float32)
    want = ReferenceEvaluator(m).run(None, {"data": (rgb[:, ::-1] * 255).copy()})  # BGR, 0-255
    with torch.no_grad():
        got = squeeze.features(torch.from_numpy(rgb))
    assert [f.shape[1] for f in got] == [64, 128, 256, 384, 384, 512, 512]
    for w, g_ in zip(want, got, strict=True):
        np.testing.assert_allclose(g_.numpy(), w, rtol=0, atol=1e-4 * np.abs(w).max())


@needs_weights
def test_squeeze_distance_properties(squeeze, photo):
    from roicodec.evaluate.squeeze import CHANNELS

    heads = torch.load(HEADS, map_location="cpu", weights_only=True)
    assert len(heads) == len(squeeze.heads) == len(CHANNELS) == 7
    x, y = _t(photo), _t(blurred(photo, 2))
    with torch.no_grad():
        assert float(squeeze(x, x)) == 0.0
        dxy, dyx = float(squeeze(x, y)), float(squeeze(y, x))
        d_small = float(squeeze(x, _t(blurred(photo, 0.7))))
    assert dxy > 0 and dxy == pytest.approx(dyx, rel=1e-5)
    assert 0 < d_small < dxy
    maps = squeeze.layer_maps(x, y)
    assert len(maps) == 7 and all(m.shape[:2] == (1, 1) for m in maps)
    assert float(sum(m.mean() for m in maps)) == pytest.approx(dxy, rel=1e-5)


@needs_weights
def test_squeeze_distance_is_differentiable_even_on_flat_pictures(squeeze):
    flat = torch.full((2, 3, 64, 64), 0.5)  # flat inputs leave whole feature vectors at 0
    y = (flat + 0.05 * torch.randn_like(flat)).clamp(0, 1).requires_grad_(True)
    d = squeeze(flat, y)
    assert d.shape == (2,)
    d.sum().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in squeeze.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        db = squeeze(flat, y.detach())
    assert db.dtype == torch.float32
    torch.testing.assert_close(db, d.detach(), rtol=0.1, atol=1e-3)


@needs_weights
def test_weights_come_from_the_cache_or_an_error(monkeypatch, tmp_path):
    pytest.importorskip("onnx")
    from roicodec.evaluate.squeeze import SqueezeDistance, heads_path, onnx_path

    with pytest.raises(SourceUnavailable):
        onnx_path()
    (tmp_path / "squeezenet1_1_onnx").mkdir()
    os.symlink(ONNX, tmp_path / "squeezenet1_1_onnx" / ONNX.name)
    os.symlink(HEADS, tmp_path / HEADS.name)
    monkeypatch.setenv("ROICODEC_HOME", str(tmp_path))
    assert onnx_path().resolve() == ONNX.resolve() and heads_path().resolve() == HEADS.resolve()
    assert isinstance(SqueezeDistance(), SqueezeDistance)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not the heads")
    with pytest.raises(SourceUnavailable):
        SqueezeDistance(heads=bad)
