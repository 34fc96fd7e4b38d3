"""SqueezeNet-feature distance with LPIPS heads (a training loss; NOT LPIPS).

`SqueezeFeatures` is torchvision's `squeezenet1_1().features` filled with the Caffe-release
SqueezeNet v1.1 weights read from an ONNX file (the CoreML → ONNX feature extractor in
`../shared/weights/squeezenet1_1_onnx/`, see its SOURCES.txt); it returns the seven ReLU outputs that
LPIPS' `squeeze` backbone slices out (conv1, fire3, fire5, fire6, fire7, fire8, fire9: 64, 128, 256,
384, 384, 512, 512 channels). `SqueezeDistance` is LPIPS' formula on those features: unit-normalise
each feature vector over channels, square the difference, weight the channels with the LPIPS v0.1
`squeeze` linear heads (`squeeze.pth`), average over space, sum over layers.

The LPIPS heads were calibrated on torchvision's ImageNet SqueezeNet, not on these Caffe weights, and
the preprocessing is Caffe's (BGR, 0-255, mean [104, 117, 123] subtracted, no /std) instead of LPIPS'
scaling layer: the values are therefore NOT LPIPS and must not be reported as LPIPS.

Inputs are RGB float tensors (N, 3, H, W) in [0, 1] (not LPIPS' [-1, 1]), any H, W >= 16.
Differentiable; the backbone is frozen (requires_grad False) and may run under bf16 autocast
(normalisation and heads run in float32).

Weights: an explicit path, else the cache folder of `roicodec.roi.cache.cache_dir()`
($ROICODEC_HOME, else $XDG_CACHE_HOME/roicodec, else ~/.cache/roicodec), under the names below.
Nothing is downloaded. Reading the ONNX file needs the `onnx` package (the `eval` extra).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..roi.cache import SourceUnavailable, cache_dir, sha256_of

ONNX_NAME = "squeezenet_v1.1_features_coreml2onnx.onnx"
ONNX_SHA256 = "3a834a80d51b3df800967a80af989b95a3665d49de5760cfdb4c0f4ed258a87c"
HEADS_NAME = "squeeze.pth"  # LPIPS v0.1 linear heads (lpips==0.1.4 lpips/weights/v0.1/squeeze.pth)
HEADS_SHA256 = "4a5350f23600cb79923ce65bb07cbf57dca461329894153e05a1346bd531cf76"

CHANNELS = (64, 128, 256, 384, 384, 512, 512)
# LPIPS' squeeze slices of squeezenet1_1().features: [0:2], [2:5], [5:8], [8:10], [10], [11], [12]
_SLICE_ENDS = (2, 5, 8, 10, 11, 12, 13)
_CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)


def _find(name: str, path: str | os.PathLike | None, subdirs: tuple[str, ...]) -> Path:
    if path is not None:
        p = Path(path)
        if p.is_dir():
            p = p / name
        if not p.is_file():
            raise SourceUnavailable(f"{p} does not exist")
        return p
    for sub in subdirs:
        p = cache_dir() / sub / name
        if p.is_file():
            return p
    raise SourceUnavailable(
        f"{name} is not in {cache_dir()} (looked in {', '.join(s or '.' for s in subdirs)}); pass its path"
    )


def onnx_path(path: str | os.PathLike | None = None) -> Path:
    """The SqueezeNet ONNX file: `path` (file or folder), else the cache folder (or its squeezenet1_1_onnx/)."""
    return _find(ONNX_NAME, path, ("", "squeezenet1_1_onnx"))


def heads_path(path: str | os.PathLike | None = None) -> Path:
    """LPIPS' squeeze.pth: `path` (file or folder), else the cache folder (or its lpips_linear/)."""
    return _find(HEADS_NAME, path, ("", "lpips_linear"))


def _check(p: Path, sha: str, verify: bool) -> None:
    if verify and sha256_of(p) != sha:
        raise SourceUnavailable(f"{p} does not match the expected SHA-256")


def _onnx_conv_weights(path: Path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The 25 (weight, bias) pairs of the ONNX file's Conv nodes, in graph order (head excluded)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:  # pragma: no cover - depends on the environment
        raise SourceUnavailable("reading the SqueezeNet ONNX needs the onnx package (pip install roicodec[eval])") from None
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    pairs = []
    for node in model.graph.node:
        if node.op_type == "Conv":
            w, b = (torch.from_numpy(inits[n].copy()) for n in node.input[1:3])
            pairs.append((w, b))
        elif node.op_type == "BatchNormalization":  # the Caffe mean subtraction this module hard-codes
            mean = inits[node.input[3]].tolist()
            var, scale = inits[node.input[4]], inits[node.input[1]]
            if mean != list(_CAFFE_MEAN_BGR) or (var != 1).any() or (scale != 1).any():
                raise SourceUnavailable(f"{path}: unexpected input normalisation {mean}")
    if len(pairs) != 25:
        raise SourceUnavailable(f"{path}: {len(pairs)} convolutions, expected 25 (SqueezeNet v1.1 features)")
    return pairs


class SqueezeFeatures(nn.Module):
    """Caffe SqueezeNet v1.1 (torchvision's squeezenet1_1 layout) → LPIPS' seven squeeze feature maps.

    forward(x): x RGB (N, 3, H, W) in [0, 1] → list of 7 ReLU outputs (64…512 channels).
    Frozen and in eval mode; gradients flow to the input.
    """

    def __init__(self, path: str | os.PathLike | None = None, verify: bool = True):
        super().__init__()
        from torchvision.models import squeezenet1_1

        p = onnx_path(path)
        _check(p, ONNX_SHA256, verify)
        features = squeezenet1_1(weights=None).features  # MaxPool2d(ceil_mode=True) = Caffe's pooling
        convs = [m for m in features.modules() if isinstance(m, nn.Conv2d)]
        pairs = _onnx_conv_weights(p)
        with torch.no_grad():
            for conv, (w, b) in zip(convs, pairs, strict=True):
                if conv.weight.shape != w.shape:
                    raise SourceUnavailable(f"{p}: weight {tuple(w.shape)} does not fit {tuple(conv.weight.shape)}")
                conv.weight.copy_(w)
                conv.bias.copy_(b)
            # the first convolution reads BGR: reorder its input channels so that the module reads RGB
            convs[0].weight.copy_(convs[0].weight.flip(1))
        self.slices = nn.ModuleList(
            nn.Sequential(*features[a:b]) for a, b in zip((0,) + _SLICE_ENDS[:-1], _SLICE_ENDS)
        )
        # Caffe preprocessing in RGB order: 255 * x - mean
        self.register_buffer("mean", torch.tensor(_CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1) / 255.0, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # always frozen: no dropout or batch norm, but keep eval semantics
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.mean) * 255.0
        outs = []
        for s in self.slices:
            h = s(h)
            outs.append(h)
        return outs


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """LPIPS' normalize_tensor, with eps inside the square root so that the gradient at 0 is finite."""
    f = f.float()
    return f * torch.rsqrt(f.square().sum(1, keepdim=True) + eps * eps)


class SqueezeDistance(nn.Module):
    """SqueezeNet-feature distance with LPIPS heads (LPIPS' formula on Caffe SqueezeNet features; not LPIPS).

    forward(a, b) → (N,) float32 distances, 0 for identical inputs, symmetric. `layer_maps(a, b)` gives
    the 7 per-layer (N, 1, h, w) weighted squared-difference maps (for spatial weighting) whose spatial
    means summed make forward. Both inputs RGB (N, 3, H, W) in [0, 1].
    """

    def __init__(
        self,
        onnx: str | os.PathLike | None = None,
        heads: str | os.PathLike | None = None,
        verify: bool = True,
    ):
        super().__init__()
        self.features = SqueezeFeatures(onnx, verify)
        hp = heads_path(heads)
        _check(hp, HEADS_SHA256, verify)
        sd = torch.load(hp, map_location="cpu", weights_only=True)
        ws = [sd[f"lin{i}.model.1.weight"] for i in range(len(sd))]
        if tuple(w.shape[1] for w in ws) != CHANNELS:
            raise SourceUnavailable(f"{hp}: heads for {[w.shape[1] for w in ws]} channels, expected {CHANNELS}")
        for i, w in enumerate(ws):
            self.register_buffer(f"lin{i}", w.float().clone())
        self.requires_grad_(False)
        self.eval()

    @property
    def heads(self) -> list[torch.Tensor]:
        return [getattr(self, f"lin{i}") for i in range(len(CHANNELS))]

    def layer_maps(self, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
        n = a.shape[0]
        fa_fb = self.features(torch.cat([a, b]))  # one pass for both inputs
        maps = []
        with torch.autocast(a.device.type, enabled=False):  # normalisation and heads in float32
            for f, w in zip(fa_fb, self.heads):
                d = (_unit(f[:n]) - _unit(f[n:])).square()
                maps.append(F.conv2d(d, w))
        return maps

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return sum(m.mean(dim=(1, 2, 3)) for m in self.layer_maps(a, b))
