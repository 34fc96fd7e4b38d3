"""What the user asked for as an ROI, in one value: a mask, boxes, a class map, automatic sources."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import RoiError


@dataclass
class RoiSpec:
    """Where quality matters. Every field is optional; all given sources combine by maximum."""

    mask: Any = None  # path, PIL image or array in [0, 1]
    boxes: list = field(default_factory=list)  # "x,y,w,h[:weight]" strings or tuples
    classes: Any = None  # integer label image (path, PIL or array)
    class_weights: str | dict | None = None  # "1=1.0,2=0.5,other=0.1" or {id: weight}
    class_legend: str | Path | dict | None = None
    auto: bool | list[str] = False  # True = every automatic source, or a list of names

    def is_empty(self) -> bool:
        return self.mask is None and not self.boxes and self.classes is None and not self.auto


RoiLike = str | Path | Image.Image | np.ndarray | RoiSpec


def roi_spec(
    roi: RoiLike | None = None,
    boxes: str | list[str] | list[tuple[float, ...]] | None = None,
    classes: str | Path | Image.Image | np.ndarray | None = None,
    class_weights: str | dict | None = None,
    class_legend: str | Path | dict | None = None,
) -> RoiSpec:
    """roi: a mask (path, PIL image, array in [0,1]), "auto", a list of automatic
    sources ("auto:faces,text"), or a RoiSpec; the other arguments add sources."""
    if isinstance(roi, RoiSpec):
        spec = replace(roi, boxes=list(roi.boxes))  # never change the caller's spec
    elif isinstance(roi, str) and (roi == "auto" or roi.startswith("auto:")):
        names = [s.strip() for s in roi[5:].split(",") if s.strip()]
        if roi != "auto" and not names:
            raise RoiError("name the automatic sources after 'auto:' (faces, people, text, saliency)")
        spec = RoiSpec(auto=True if roi == "auto" else names)
    else:
        spec = RoiSpec(mask=roi)
    if boxes:
        if isinstance(boxes, str):
            boxes = [boxes]
        spec.boxes = list(spec.boxes) + list(boxes)
    if classes is not None:
        if class_weights is None:
            raise RoiError("a class map needs class weights (e.g. --class-weights 1=1.0,2=0.5,other=0.1)")
        spec.classes, spec.class_weights, spec.class_legend = classes, class_weights, class_legend
    elif class_weights is not None or class_legend is not None:
        raise RoiError("class weights and legends need a class map (--roi-classes)")
    return spec
