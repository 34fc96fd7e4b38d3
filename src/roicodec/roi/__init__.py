"""Where quality matters: importance sources (user mask, boxes, class maps, faces, people, text,
saliency), their combination, and the importance -> quality map step."""

from .combine import block_importance, pixel_importance, quality_map
from .importance import AUTO_WEIGHTS, build_importance
from .mask import load_mask
from .spec import RoiLike, RoiSpec, roi_spec

__all__ = ["AUTO_WEIGHTS", "RoiLike", "RoiSpec", "block_importance", "build_importance", "load_mask", "pixel_importance",
           "quality_map", "roi_spec"]
