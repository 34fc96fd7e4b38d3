"""roicodec: a learned image codec that spends bits where people look.

    import roicodec
    data = roicodec.compress("photo.png", bpp=0.25, roi="mask.png")
    image = roicodec.decompress(data)
"""

import warnings as _warnings

# CompressAI 1.2.8 decorates functions with torch.jit.script, which torch 2.14 flags as
# deprecated at import time; the warning is about CompressAI, not about anything users do.
_warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)

from .api import CompressResult, compress, compress_detailed, decompress, inspect, load_model
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
from .models import RoiCodecWeights

__version__ = "0.1.0"

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
