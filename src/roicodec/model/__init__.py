"""The roicodec model: one network for every rate and every spatial allocation."""

from .codec import HYPER_STRIDE, LATENT_STRIDE, LatentCode, ModelConfig, RoiCodecModel

__all__ = ["HYPER_STRIDE", "LATENT_STRIDE", "LatentCode", "ModelConfig", "RoiCodecModel"]
