"""Build one importance map from every source the user asked for (combined by maximum)."""

from __future__ import annotations

import numpy as np

from ..errors import RoiError
from .classes import class_importance, parse_class_weights, read_legend
from .mask import boxes_importance, load_mask, parse_box
from .spec import RoiSpec

#: Weight of each automatic source in `--roi auto` (combined by maximum).
AUTO_WEIGHTS = {"faces": 1.0, "people": 0.8, "text": 0.9, "saliency": 0.4}


def auto_sources(spec_auto: bool | list[str]) -> list[str]:
    if spec_auto is True:
        return list(AUTO_WEIGHTS)
    unknown = set(spec_auto or []) - set(AUTO_WEIGHTS)
    if unknown:
        raise RoiError(f"unknown automatic ROI sources: {', '.join(sorted(unknown))}")
    return list(spec_auto or [])


def source_map(name: str, rgb: np.ndarray) -> tuple[np.ndarray, str]:
    """One automatic source's importance in [0, 1] and the detector that produced it."""
    if name == "faces":
        from .faces import face_importance

        return face_importance(rgb)
    if name == "people":
        from .people import person_importance

        return person_importance(rgb)
    if name == "text":
        from .text import text_importance

        return text_importance(rgb), "gradient-lines"
    if name == "saliency":
        from .saliency import saliency_importance

        return saliency_importance(rgb), "robust-background"
    raise ValueError(name)


def build_importance(rgb: np.ndarray, spec: RoiSpec) -> tuple[np.ndarray, dict[str, dict]]:
    """(H, W) importance in [0, 1] and, per source, its detector and the fraction of the image it marks."""
    h, w = rgb.shape[:2]
    maps: dict[str, np.ndarray] = {}
    detectors: dict[str, str] = {}
    if spec.mask is not None:
        maps["mask"] = load_mask(spec.mask, (w, h))
    if spec.boxes:
        boxes = [parse_box(b) if isinstance(b, str) else tuple(b) for b in spec.boxes]
        maps["boxes"] = boxes_importance(boxes, (w, h))
    if spec.classes is not None:
        legend = spec.class_legend if isinstance(spec.class_legend, dict) or spec.class_legend is None else read_legend(spec.class_legend)
        if isinstance(spec.class_weights, dict):
            weights, default = {int(k): float(v) for k, v in spec.class_weights.items()}, 0.0
        else:
            weights, default = parse_class_weights(spec.class_weights or "", legend)
        maps["classes"] = class_importance(spec.classes, weights, default, (w, h))
    for name in auto_sources(spec.auto):
        m, detectors[name] = source_map(name, rgb)
        maps[name] = AUTO_WEIGHTS[name] * m
    if not maps:
        return np.zeros((h, w), np.float32), {}
    combined = np.maximum.reduce([m.astype(np.float32) for m in maps.values()])
    report = {k: {"detector": detectors.get(k, k), "coverage": float((m > 0.25).mean())} for k, m in maps.items()}
    return np.clip(combined, 0, 1), report
