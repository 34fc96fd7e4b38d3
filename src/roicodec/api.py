"""compress / decompress / inspect: what ``import roicodec`` offers. The work is in encoder.py and decoder.py."""

from __future__ import annotations

import inspect as _signature
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from . import bitstream, decoder, scaling
from .encoder import CompressResult, encode_picture, roi_importance
from .errors import BudgetError, RateControlWarning
from .hardware import check_precision
from .images import PreparedImage, prepare
from .levels import DEFAULT_ROI_STRENGTH
from .model import RoiCodecModel
from .model.refine import effort_steps
from .models import RoiCodecWeights, load_model
from .ratecontrol import Budget
from .roi import RoiLike, roi_spec

ImageLike = str | Path | Image.Image

__all__ = ["CompressResult", "compress", "compress_detailed", "decompress", "inspect", "load_model"]


def compress_detailed(
    image: ImageLike | PreparedImage,
    *,
    bpp: float | None = None,
    size: int | str | None = None,
    quality: float | None = None,
    roi: RoiLike | None = None,
    roi_strength: float = DEFAULT_ROI_STRENGTH,
    boxes: str | list | None = None,
    classes: str | Path | Image.Image | np.ndarray | None = None,
    class_weights: str | dict | None = None,
    class_legend: str | Path | dict | None = None,
    scale: float | str = "fit",
    effort: int = 0,
    model: RoiCodecModel | None = None,
    device: str | None = None,
    precision: str = "auto",
) -> CompressResult:
    """Compress an image at a rate (``bpp``), a file ``size`` ('30KB', 30000) or a ``quality`` level.

    ``roi`` (white = important: a path, PIL image or array in [0, 1]; "auto" finds faces, people, text
    and salient regions) moves quality into the region at the same total size, by ``roi_strength``
    levels; ``boxes``, ``classes``/``class_weights``/``class_legend`` add sources (roi.roi_spec).
    Budgets are never exceeded; one outside the model's range gives the nearest file and a
    RateControlWarning. ``scale`` codes the picture resampled by that factor (1, 1.5, 2; "auto": larger
    where the budget pays for it; the default "fit": native size, resampled only where the budget is
    outside the model's range there). ``effort`` 1-3 refines the latent: slower encodes, better files, the
    same decoder. The result also says what rate control chose and what each ROI source found. An image
    already read with ``images.prepare`` is taken as is, so the CLI reads and detects once. Without a
    ``model``, the shipped model for the budget's rate codes it (models.model_for_rate), on ``device``
    ("cuda", ...; None: the CPU); a given ``model`` codes where it lives. A file decodes on any device.
    ``precision="auto"`` runs the fidelity model's analysis in bf16 on CPUs with native bf16 (AVX-512
    BF16, AMX): a seventh to a quarter faster for +0.1 % bytes; ``"float32"`` is the reference encode.
    """
    try:
        fixed_scale = scaling.parse_scale(scale)
        steps = effort_steps(effort)
        check_precision(precision)
    except ValueError as exc:
        raise BudgetError(str(exc)) from None
    prepared = image if isinstance(image, PreparedImage) else prepare(image)
    # the default model's levels, read from its metadata: an encode the high-rate model makes loads only that one
    level_range = model.config.level_range if model else RoiCodecWeights.DEFAULT.value.config.level_range
    budget = Budget.parse(bpp, size, quality, prepared.size[0] * prepared.size[1], level_range)
    spec = roi_spec(roi, boxes, classes, class_weights, class_legend)
    importance, strength, report = roi_importance(prepared, spec, roi_strength, level_range)
    result = encode_picture(prepared, budget, (importance, strength), scale=fixed_scale, refine_steps=steps, model=model,
                            device=device, precision=precision)
    for message in result.notes:
        warnings.warn(message, RateControlWarning, stacklevel=2)
    return replace(result, notes=list(prepared.notes) + result.notes, roi_sources=report)


def compress(image: ImageLike, **options) -> bytes:
    """Compress an image to .rcz bytes; the options are compress_detailed's."""
    return compress_detailed(image, **options).data


compress.__signature__ = _signature.signature(compress_detailed).replace(return_annotation=bytes)  # type: ignore[attr-defined]


def decompress(data: bytes, *, model: RoiCodecModel | None = None, max_pixels: int | None = None,
               max_memory: int | None = bitstream.MAX_DECODE_MEMORY, realism: float = 0.0,
               perceptual: str | Path | None = None, device: str | None = None,
               precision: str = "auto") -> Image.Image:
    """Decode .rcz bytes to a PIL image (RGB, or L for grayscale sources). Without ``model`` the
    installed model the file names decodes it. ``realism`` in [0, 1]: 0 is the fidelity decoder, higher
    lets the perceptual decoder synthesise texture outside the file's regions of interest (the file is
    the same; ``perceptual`` names another head's weights file). A file whose decoding would need more than
    ``max_memory`` bytes (default 8 GiB, bitstream.decode_memory), or over ``max_pixels`` pixels, is refused before decoding
    (a guard against crafted headers); None lifts that limit. ``device`` places the installed model ("cuda",
    ...; None: the CPU); a given ``model`` decodes where it lives. ``precision="auto"`` runs the fidelity
    model's synthesis in bf16 on CPUs with native bf16 (AVX-512 BF16, AMX): about 40 % faster for a few
    thousandths of a dB; ``"float32"`` is the reference decode."""
    return decoder.decompress(data, model, max_pixels, realism, perceptual, max_memory, device, precision)


def inspect(data: bytes, *, model: RoiCodecModel | None = None) -> dict:
    """Header facts of a .rcz file: dimensions, bytes, bpp, quality-level range, model."""
    return decoder.inspect(data, model)
