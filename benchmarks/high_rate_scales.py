"""Native against 1.5x for a model, per picture and budget: where does coding the picture larger win?

    python benchmarks/high_rate_scales.py --images <folder> --limit 20 --bpp 0.4,0.5,0.6,0.7,0.8,0.9,1.0 --model highrate-v2

For each picture and budget, rate control at native size and at 1.5x (EncodeJob.search, each to the full
tolerance) and both files decoded; prints, per budget, how often 1.5x is nearer the picture, the mean gain of
"1.5x, native where its smallest file is over the budget" over native, and what that rule loses against the
better of the two per picture. The study behind scaling.HIGH_RATE_UPSCALE_BPP (design-decisions item 27);
pick the threshold on pictures other than the evaluation sets.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

import roicodec
from roicodec.encoder import EncodeJob
from roicodec.evaluate.metrics import psnr
from roicodec.images import prepare
from roicodec.models import load_model
from roicodec.ratecontrol import Budget
from roicodec.train.data import list_images

SCALES = (8, 12)


def measure(path: Path, model, bpp: float) -> dict:
    prepared = prepare(str(path))
    w, h = prepared.size
    budget = int(bpp * w * h / 8)
    job = EncodeJob(prepared, model, Budget(size=budget))
    row = {"image": path.name, "bpp": bpp, "budget": budget}
    for sc in SCALES:
        res, _ = job.search(sc, 0.0)
        decoded = roicodec.decompress(res.data, model=model).convert("RGB")
        row[sc] = {"level": res.base_level, "bytes": len(res.data), "psnr": psnr(decoded, prepared.rgb)}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--bpp", default="0.4,0.5,0.6,0.7,0.8,0.9,1.0")
    ap.add_argument("--model", default="highrate-v2")
    ap.add_argument("--json", help="write the per-picture rows here")
    a = ap.parse_args()
    model = load_model(a.model)
    files = list_images(a.images)[: a.limit]
    budgets = [float(b) for b in a.bpp.split(",")]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            for bpp in budgets:
                rows.append(measure(path, model, bpp))
            print(f"{path.name} done", flush=True)
    print(f"\n{len(files)} pictures from {a.images}, model {a.model}")
    print("| bpp | 1.5x nearer | 1.5x fits | native | 1.5x (native where it does not fit) | gain | below the better per picture, mean / max |")
    print("|---|---|---|---|---|---|---|")
    for bpp in budgets:
        rs = [r for r in rows if r["bpp"] == bpp]
        fits = [r[12]["bytes"] <= r["budget"] for r in rs]
        rule = [r[12]["psnr"] if f else r[8]["psnr"] for r, f in zip(rs, fits)]
        native = [r[8]["psnr"] for r in rs]
        best = [max(u, n) for u, n in zip(rule, native)]
        loss = [b - u for b, u in zip(best, rule)]
        nearer = sum(r[12]["psnr"] > r[8]["psnr"] and f for r, f in zip(rs, fits))
        print(f"| {bpp:g} | {nearer}/{len(rs)} | {sum(fits)}/{len(rs)} | {np.mean(native):.2f} | {np.mean(rule):.2f} | "
              f"{np.mean(rule) - np.mean(native):+.2f} dB | {np.mean(loss):.2f} / {max(loss):.2f} dB |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
