"""The roicodec model: one network for every rate and every spatial allocation."""

from .codec import LATENT_STRIDE, LatentCode, ModelConfig, RoiCodecModel

__all__ = ["LATENT_STRIDE", "LatentCode", "ModelConfig", "RoiCodecModel"]
