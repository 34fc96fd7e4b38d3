"""Encode and decode time of ROI coding, native against another coding scale.

    python benchmarks/roi_timing.py --data ../shared/data/roi --datasets pedestrians coco --limit 5 \
        --bpp 0.2 --strength 7 --scale auto

One line per image: the scale rate control chose and the seconds taken, for --scale 1 and --scale.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import roicodec
from roi_eval import load_example, load_pairs


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data/roi")
    p.add_argument("--datasets", nargs="+", default=["pedestrians", "coco"])
    p.add_argument("--limit", type=int, default=5)
    p.add_argument("--bpp", type=float, default=0.2)
    p.add_argument("--strength", type=float, default=7.0)
    p.add_argument("--scale", default="auto")
    a = p.parse_args()
    warnings.simplefilter("ignore", roicodec.RateControlWarning)
    model = roicodec.load_model()
    for ds in a.datasets:
        for img_path, mask_path in load_pairs(Path(a.data), ds, a.limit):
            example = load_example(img_path, mask_path)
            if example is None:
                continue
            image, mask = example
            row = [ds, img_path.name, f"{image.size[0]}x{image.size[1]}"]
            for scale in ("1", a.scale):
                t0 = time.perf_counter()
                r = roicodec.compress_detailed(image, bpp=a.bpp, roi=mask.astype(np.float32), roi_strength=a.strength,
                                               model=model, scale=scale)
                t1 = time.perf_counter()
                roicodec.decompress(r.data, model)
                t2 = time.perf_counter()
                row.append(f"--scale {scale}: coded at {r.scale / 8:g}x, encode {t1 - t0:.2f} s, decode {t2 - t1:.2f} s")
            print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
