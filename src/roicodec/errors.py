"""Errors a user can cause; the CLI turns each into a one-line message and exit code 1."""


class RoicodecError(Exception):
    """Base class for every error roicodec reports to users."""


class ImageInputError(RoicodecError):
    """The input image (or ROI mask) cannot be read or is unsupported."""


class RoiError(RoicodecError, ValueError):
    """The ROI specification (sources, class weights, legend) is invalid."""


class BitstreamError(RoicodecError):
    """A .rcz file is damaged, truncated or not a .rcz file."""


class ModelMismatchError(BitstreamError):
    """The file was made by other weights than the ones loaded."""


class WeightsError(RoicodecError):
    """The weights file is missing, damaged, not a roicodec model, or names no shipped model."""


class DecodeLimitError(RoicodecError):
    """A valid file would need more memory to decode than the caller allows (decompression-bomb guard)."""


class BudgetError(RoicodecError):
    """The requested size or rate cannot be parsed or met."""


class RateControlWarning(UserWarning):
    """The budget lies outside the model's range; the nearest achievable file was produced."""
