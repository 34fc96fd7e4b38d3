"""The roicodec model: one network for every rate and every spatial allocation."""

# First: CompressAI's entropy models, coder and layers without its package __init__ (torch_geometric).
from . import _compressai  # noqa: F401  # isort: skip
from .codec import LATENT_STRIDE, ModelConfig, RoiCodecModel
from .latent_codec import HyperpriorContextCodec, LatentCode, LatentOutput

__all__ = ["LATENT_STRIDE", "HyperpriorContextCodec", "LatentCode", "LatentOutput", "ModelConfig", "RoiCodecModel"]
