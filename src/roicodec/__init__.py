"""roicodec: a learned image codec that spends bits where people look.

    import roicodec
    data = roicodec.compress("photo.png", bpp=0.25, roi="mask.png")
    image = roicodec.decompress(data)
"""

import importlib as _importlib
import os as _os
import warnings as _warnings
from typing import TYPE_CHECKING as _TYPE_CHECKING

# PyTorch's CPU allocator backs tensors of 2 MB and more with transparent huge pages when this is set
# before its first allocation (c10/core/alloc_cpu.cpp). A picture big enough to be tiled maps each big
# tensor on its own (model/tiling.py, bound_heap), and faulting it in 4 KB pages was a fifth of the CPU
# time of a 3.5 MP decode; in 2 MB pages the same decode is 15 % faster, with the same bytes and ~20 MB
# more peak memory (docs/memory.md). A value the user set wins; after `import torch` it changes nothing.
_os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

# torch_geometric, which a full `import compressai` reaches through compressai.datasets, decorates
# classes with torch.jit.script, which torch 2.14 flags as deprecated at import time. roicodec no
# longer imports it (model/_compressai.py), but compressai imported in full in the same process does.
_warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)

from .errors import (
    BitstreamError,
    BudgetError,
    DecodeLimitError,
    ImageInputError,
    ModelMismatchError,
    RateControlWarning,
    RoicodecError,
    RoiError,
    WeightsError,
)

__version__ = "0.1.0"

# The names that need torch load on first use (PEP 562), so that `import roicodec` and
# `roicodec --version` do not import torch (issue 25, docs/cold_start.md).
_LAZY = {
    "CompressResult": "api",
    "compress": "api",
    "compress_detailed": "api",
    "decompress": "api",
    "inspect": "api",
    "load_model": "api",
    "RoiCodecWeights": "models",
}

if _TYPE_CHECKING:
    from .api import CompressResult, compress, compress_detailed, decompress, inspect, load_model
    from .models import RoiCodecWeights


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

__all__ = [
    "BitstreamError",
    "BudgetError",
    "CompressResult",
    "DecodeLimitError",
    "ImageInputError",
    "ModelMismatchError",
    "RateControlWarning",
    "RoicodecError",
    "RoiCodecWeights",
    "RoiError",
    "WeightsError",
    "compress",
    "compress_detailed",
    "decompress",
    "inspect",
    "load_model",
]

# Registers .rcz with Pillow (Image.open, Image.save). Must stay cheap to import: PIL and numpy, no torch.
from . import pillow_plugin as _pillow_plugin  # noqa: E402,F401
