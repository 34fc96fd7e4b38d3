"""Per-image metrics for the perceptual decoding mode (docs/perceptual_metrics.md).

Every function scores ONE picture, given as an 8-bit RGB array (H, W, 3), a PIL image, or an RGB
float tensor in [0, 1] of shape (3, H, W) or (1, 3, H, W); all run offline (nothing is downloaded):

  psnr(ref, img)                 dB, higher is better (roicodec.evaluate.metrics.psnr)
  roi_psnr(ref, img, mask)       dB over mask > 0.5 (mask in [0, 1], or 0-255 for uint8 / PIL)
  ms_ssim(ref, img)              pytorch-msssim, in [0, 1], higher is better
  heldout_distance(ref, img)     MS-GMSD (piq), lower is better: the full-reference perceptual
                                 distance that training does not use (metric="dss": 1 - DSS)
  naturalness(img)               BRISQUE (the `brisque` package, its SVM model inside the wheel),
                                 no reference, lower is better (about 0-100)
  squeeze_distance_default()     the training loss' SqueezeNet-feature distance with LPIPS heads
                                 (roicodec.evaluate.squeeze; NOT LPIPS), weights from the cache

`score(ref, img, mask=None)` gives all of them as one dict.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
from PIL import Image

from . import metrics

Picture = np.ndarray | Image.Image | torch.Tensor


def as_tensor(x: Picture) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1] on the CPU, or a tensor as given (batched, float32)."""
    if isinstance(x, torch.Tensor):
        t = x if x.dim() == 4 else x[None]
        if t.shape[0] != 1 or t.shape[1] != 3:
            raise ValueError(f"one RGB picture expected, got a tensor of shape {tuple(x.shape)}")
        return t.float()
    if isinstance(x, Image.Image):
        x = np.asarray(x.convert("RGB"))
    a = np.asarray(x)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"an (H, W, 3) RGB array expected, got {a.shape}")
    scale = 1.0 if a.dtype.kind == "f" and a.max() <= 1.0 else 255.0
    return torch.from_numpy(a.astype(np.float32) / scale).permute(2, 0, 1)[None].contiguous()


def as_uint8(x: Picture) -> np.ndarray:
    """(H, W, 3) uint8, rounding a [0, 1] tensor the way a decoder writes its output."""
    if isinstance(x, Image.Image):
        return np.asarray(x.convert("RGB"))
    if isinstance(x, np.ndarray) and x.dtype == np.uint8:
        return x
    t = as_tensor(x)[0].detach().cpu().clamp(0, 1)
    return (t * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def _region(mask: np.ndarray | Image.Image | torch.Tensor) -> np.ndarray:
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L"))
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().float().numpy()
    m = np.asarray(mask)
    if m.dtype == np.uint8:
        m = m / 255.0
    m = np.squeeze(m)
    if m.ndim == 3:  # an RGB mask: any channel
        m = m.max(axis=-1)
    return m > 0.5


def _pixels(x: Picture) -> np.ndarray:
    """float64 (H, W, 3) on the 0-255 scale, without rounding float inputs."""
    if isinstance(x, torch.Tensor):
        return as_tensor(x)[0].detach().cpu().double().permute(1, 2, 0).numpy() * 255.0
    return np.asarray(as_uint8(x), dtype=np.float64)


def psnr(ref: Picture, img: Picture) -> float:
    """PSNR-RGB in dB (inf for identical pictures); roicodec.evaluate.metrics.psnr on the 0-255 scale."""
    return metrics.psnr(_pixels(ref), _pixels(img))


def roi_psnr(ref: Picture, img: Picture, mask: np.ndarray | Image.Image | torch.Tensor) -> float:
    """PSNR-RGB in dB over the pixels where mask > 0.5 (a ground-truth mask, (H, W)); nan if none is."""
    region = _region(mask)
    a, b = _pixels(ref), _pixels(img)
    if region.shape != a.shape[:2]:
        raise ValueError(f"mask {region.shape} does not match the picture {a.shape[:2]}")
    return metrics.psnr(a, b, region=region)


def ms_ssim(ref: Picture, img: Picture) -> float:
    """MS-SSIM (pytorch-msssim, 5 scales, 11-tap Gaussian window) in [0, 1], higher is better.

    Needs both sides >= 161 pixels (four halvings of the window).
    """
    from pytorch_msssim import ms_ssim as _ms_ssim

    with torch.no_grad():
        return float(_ms_ssim(as_tensor(ref), as_tensor(img), data_range=1.0))


HELDOUT = ("ms-gmsd", "dss")


def heldout_distance(ref: Picture, img: Picture, metric: str = "ms-gmsd") -> float:
    """A full-reference perceptual distance that training does not use: lower is better, 0 if identical.

    "ms-gmsd" (default): piq.multi_scale_gmsd, chromatic: multi-scale gradient-magnitude similarity
    deviation (Zhang et al. 2017), the spread over the picture of the local gradient-magnitude
    similarity at four scales plus a chroma term. "dss": 1 - piq.dss, the DCT-subband similarity
    (Balanov et al. 2015). Neither has a network or learned weights, and nothing in training optimises
    them (why these two: docs/perceptual_metrics.md). Sides of at least 161 pixels.
    """
    import piq

    a, b = as_tensor(ref), as_tensor(img)
    with torch.no_grad():
        if metric == "ms-gmsd":
            return float(piq.multi_scale_gmsd(b, a, data_range=1.0, chromatic=True))
        if metric == "dss":
            return max(0.0, float(1.0 - piq.dss(b, a, data_range=1.0)))  # 1 + float32 rounding on equal inputs
    raise ValueError(f"unknown held-out metric {metric!r}; one of {HELDOUT}")


@functools.cache
def _brisque():
    from brisque import BRISQUE

    return BRISQUE(url=False)


def naturalness(img: Picture) -> float:
    """BRISQUE, no reference: lower is better (about 0 for pristine photographs to 100 and above).

    The `brisque` package (rehanguha/brisque) with the LIVE-trained SVR it ships inside its wheel.
    """
    with warnings.catch_warnings():  # the package's numpy deprecation warnings, once per feature
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(_brisque().score(as_uint8(img)))


@functools.cache
def squeeze_distance_default(device: str = "cpu"):
    """The SqueezeNet-feature distance with LPIPS heads from the cache folder (roicodec.evaluate.squeeze).

    Raises roicodec.roi.cache.SourceUnavailable where the weights are not there.
    """
    from .squeeze import SqueezeDistance

    return SqueezeDistance().to(device)


def score(ref: Picture, img: Picture, mask: np.ndarray | Image.Image | torch.Tensor | None = None) -> dict[str, float]:
    """Every per-image metric as one dict (roi-psnr only with a mask)."""
    out = {
        "psnr-rgb": psnr(ref, img),
        "ms-ssim": ms_ssim(ref, img),
        "ms-gmsd": heldout_distance(ref, img),
        "1-dss": heldout_distance(ref, img, "dss"),
        "brisque": naturalness(img),
    }
    if mask is not None:
        out["roi-psnr"] = roi_psnr(ref, img, mask)
    return out
