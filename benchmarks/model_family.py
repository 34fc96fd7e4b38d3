"""Each shipped model's R-D on a set of pictures, with rate control at each target: where does each win?

    python benchmarks/model_family.py --images ../shared/data/roi/coco --limit 16 --bpp 0.3,0.5,0.7,1,1.5,2

Prints mean bpp, PSNR-RGB, encode and decode time per model and target, and the lowest target from which
the high-rate model is better on average (its ``use_from_bpp``). Pick that on pictures other than the
evaluation sets (docs/design-decisions.md item 19).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

import roicodec
from roicodec.evaluate.metrics import psnr
from roicodec.models import load_model, newest_of
from roicodec.train.data import list_images


def measure(files: list[Path], models: dict, targets: list[float]) -> dict:
    rows: dict = {name: {t: [] for t in targets} for name in models}
    for path in files:
        image = Image.open(path).convert("RGB")
        for name, model in models.items():
            for t in targets:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    res = roicodec.compress_detailed(image, bpp=t, model=model)
                    t1 = time.perf_counter()
                    decoded = roicodec.decompress(res.data, model=model)
                    t2 = time.perf_counter()
                bpp = 8 * res.size / (image.width * image.height)
                rows[name][t].append({"bpp": bpp, "psnr": psnr(decoded, image), "encode_s": t1 - t0,
                                      "decode_s": t2 - t1, "in_range": res.in_range})
        print(f"{path.name} done", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--bpp", default="0.3,0.5,0.7,1,1.5,2")
    ap.add_argument("--models", default=f"{newest_of('fidelity').label},{newest_of('highrate').label}",
                    help="shipped names or weights files (default: the newest version of each family)")
    ap.add_argument("--json", help="write the per-image rows here")
    args = ap.parse_args()
    files = list_images(args.images)[: args.limit]
    targets = [float(t) for t in args.bpp.split(",")]
    models = {name: load_model(name) for name in args.models.split(",")}
    rows = measure(files, models, targets)
    print(f"\n{len(files)} pictures from {args.images}")
    print("| model | target bpp | bpp | PSNR-RGB | in range | encode s | decode s |")
    print("|---|---|---|---|---|---|---|")
    means = {}
    for name, per in rows.items():
        for t, rs in per.items():
            m = {k: float(np.mean([r[k] for r in rs])) for k in ("bpp", "psnr", "encode_s", "decode_s", "in_range")}
            means[name, t] = m
            print(f"| {name} | {t:g} | {m['bpp']:.3f} | {m['psnr']:.2f} | {100 * m['in_range']:.0f} % "
                  f"| {m['encode_s']:.2f} | {m['decode_s']:.2f} |")
    names = list(models)
    if len(names) == 2:
        wins = [t for t in targets if means[names[1], t]["psnr"] > means[names[0], t]["psnr"]]
        print(f"\n{names[1]} is better on average from {min(wins):g} bpp" if wins else f"\n{names[1]} never wins")
    if args.json:
        Path(args.json).write_text(json.dumps({n: {str(t): rs for t, rs in per.items()} for n, per in rows.items()}))


if __name__ == "__main__":
    main()
