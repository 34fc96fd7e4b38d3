"""Class maps with relative importance (seed 000): integer labels + per-class weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ImageInputError
from ..images import open_image

OTHER = "other"


def read_legend(path: str | Path) -> dict[str, int]:
    """Name -> id, from JSON ({"person": 1, ...}) or text lines ("1 person" or "person=1")."""
    text = Path(path).read_text()
    try:
        data = json.loads(text)
        return {str(k): int(v) for k, v in data.items()}
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        pass
    legend: dict[str, int] = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        a, _, b = line.replace("=", " ").replace(":", " ").partition(" ")
        a, b = a.strip(), b.strip()
        if a.isdigit():
            legend[b] = int(a)
        elif b.isdigit():
            legend[a] = int(b)
        else:
            raise ImageInputError(f"cannot read legend line {line!r}")
    return legend


def parse_class_weights(spec: str, legend: dict[str, int] | None = None) -> tuple[dict[int, float], float]:
    """'1=1.0,2=0.5,0=0.1' or 'person=1,car=0.6,other=0.1' -> ({id: weight}, weight of unlisted ids)."""
    weights: dict[int, float] = {}
    default = 0.0
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, sep, value = item.partition("=")
        try:
            wt = float(value)
        except ValueError:
            raise ImageInputError(f"bad class weight {item!r} (expected name=weight or id=weight)") from None
        if not sep or not 0 <= wt <= 1:
            raise ImageInputError(f"class weight {item!r} must be id=w or name=w with w in [0, 1]")
        key = key.strip()
        if key == OTHER:
            default = wt
        elif key.lstrip("-").isdigit():
            weights[int(key)] = wt
        elif legend and key in legend:
            weights[legend[key]] = wt
        else:
            raise ImageInputError(f"unknown class {key!r}" + ("" if legend else " (names need --class-legend)"))
    return weights, default


def class_importance(labels: str | Path | Image.Image | np.ndarray, weights: dict[int, float], default: float, size: tuple[int, int]) -> np.ndarray:
    """Per-pixel weight of each label; labels are resized with nearest neighbour if needed."""
    if isinstance(labels, np.ndarray):
        lab = labels
    else:
        im = open_image(labels, "class map")
        if im.mode in ("LA", "La", "PA"):  # transparency carries no class: keep the labels (or palette ids)
            im = im.getchannel(0)
        elif im.mode in ("RGBA", "RGBa"):
            im = im.convert("RGB")
        if im.size != size:
            (mw, mh), (w, h) = im.size, size
            if abs(mw / mh - w / h) > 0.02 * (w / h):  # as for masks: a stretched map puts the ROI elsewhere
                raise ImageInputError(f"class map is {mw}x{mh} but the image is {w}x{h} (different aspect ratio)")
            im = im.resize(size, resample=0)
        lab = np.asarray(im)
    if lab.ndim == 3 and lab.shape[2] >= 3:  # an RGB-coded id map (COCO panoptic style): id = R + 256 G + 256^2 B
        lab = lab[..., 0].astype(np.int64) + 256 * lab[..., 1] + 65536 * lab[..., 2]
    if lab.ndim != 2:
        raise ImageInputError("class map must be a single-channel label image or an RGB-coded id map")
    if lab.shape != (size[1], size[0]):
        raise ImageInputError(f"class map is {lab.shape[1]}x{lab.shape[0]}, image is {size[0]}x{size[1]}")
    lab = lab.astype(np.int64)
    out = np.full(lab.shape, default, np.float32)
    for cid, wt in weights.items():
        out[lab == cid] = wt
    return out
