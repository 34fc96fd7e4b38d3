"""The roicodec model: one network for every rate and every spatial allocation."""

from .codec import LATENT_STRIDE, ModelConfig, RoiCodecModel
from .latent_codec import HyperpriorContextCodec, LatentCode, LatentOutput

__all__ = ["LATENT_STRIDE", "HyperpriorContextCodec", "LatentCode", "LatentOutput", "ModelConfig", "RoiCodecModel"]
