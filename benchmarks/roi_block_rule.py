"""How the ROI map becomes per-block importance: DESIGN's smoothed block mean vs "cover".

    python benchmarks/roi_block_rule.py --data ../shared/data/roi --bpp 0.2 --strength 3 5
    python benchmarks/roi_block_rule.py --data ../shared/data/roi --bpp 0.2 --strength 5 7 \
        --limit 4 4 2 --rules cover halo4 nohalo

Encodes each image with its ground-truth mask as ROI at the same budget once per rule: by
default the smoothed block mean only (cover=False) and the shipped rule (a block keeps
the largest raw importance inside it), and prints the mean ROI-PSNR of each per dataset,
with roicodec uniform as the reference. ``--rules`` adds the cover rule with a narrower
smoothing (halo4: sigma 4 px) or none at all (nohalo: sigma 0, the block max of the raw map).
design-decisions.md item 11 records the results.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

import roicodec
import roicodec.api
from roicodec.errors import RateControlWarning
from roicodec.evaluate.metrics import psnr
from roicodec.roi import block_importance


RULES = {
    "mean": functools.partial(block_importance, cover=False),  # DESIGN's smoothed block mean
    "cover": block_importance,  # shipped: smoothed mean raised to the block's largest raw importance
    "halo4": functools.partial(block_importance, sigma=4.0),
    "nohalo": functools.partial(block_importance, sigma=0.0),
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="../shared/data/roi")
    p.add_argument("--datasets", nargs="+", default=["pedestrians", "coco", "text"])
    p.add_argument("--limit", type=int, nargs="+", default=[4, 3, 2], help="images per dataset")
    p.add_argument("--bpp", type=float, default=0.2)
    p.add_argument("--strength", type=float, nargs="+", default=[3.0, 5.0])
    p.add_argument("--rules", nargs="+", default=["mean", "cover"], choices=list(RULES))
    a = p.parse_args()
    # At the rate floor rate control lowers the lift and says so; both rules meet it alike.
    warnings.simplefilter("ignore", RateControlWarning)
    model = roicodec.load_model()
    rules = {name: RULES[name] for name in a.rules}
    scores: dict[tuple[str, str], list[float]] = {}
    jobs = [(ds, im) for ds, n in zip(a.datasets, a.limit)
            for im in sorted((Path(a.data) / ds / "images").glob("*"))[:n]]
    for ds, path in tqdm(jobs, desc="block rule"):
        image = Image.open(path).convert("RGB")
        ref = np.asarray(image)
        mask_path = next((Path(a.data) / ds / "masks").glob(path.stem + ".*"))
        gt = np.asarray(Image.open(mask_path).convert("L").resize(image.size, Image.Resampling.NEAREST)) > 127
        budget = int(a.bpp * image.size[0] * image.size[1] / 8)

        def roi_psnr(**kw) -> float:
            data = roicodec.compress(image, size=budget, model=model, **kw)
            return psnr(ref, np.asarray(roicodec.decompress(data, model).convert("RGB")), gt)

        scores.setdefault((ds, "uniform"), []).append(roi_psnr())
        for name, rule in rules.items():
            # The benchmark swaps the rule the API uses; nothing else differs between the runs.
            roicodec.api.block_importance = rule
            try:
                for s in a.strength:
                    scores.setdefault((ds, f"{name} s{s:g}"), []).append(
                        roi_psnr(roi=gt.astype(np.float32), roi_strength=s))
            finally:
                roicodec.api.block_importance = block_importance
    print(f"ROI-PSNR (dB) at {a.bpp} bpp, ground-truth mask")
    for (ds, method), v in scores.items():
        print(f"{ds:12s} {method:10s} {statistics.mean(v):6.2f}  (n={len(v)})")


if __name__ == "__main__":
    main()
