"""How many trial encodes (and analyses, and size estimates) rate control spends per picture, with the
default settings.

``CompressResult.trials`` counts only the last search; this counts every encode of every scale the
default choice tried, the size estimates that led them (ratecontrol.EstimateGuide), and how far each
encode's real size was from its estimate. With ``--full-search`` each picture is coded a second time with
the searches' early give-up switched off (ratecontrol's ``give_up_below``), and the two files are compared
byte for byte; with ``--unguided``, a second time without the estimate (the search before it).

    python benchmarks/encode_trials.py --images ../shared/data/kodak --bpp 0.03,0.05,0.08 --full-search
    python benchmarks/encode_trials.py --images DIR --bpp 0.1,0.25,1.0 --unguided
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

import roicodec
from roicodec import bitstream, encoder, ratecontrol
from roicodec.train.data import list_images


class Counter:
    """Counts EncodeJob.encode calls and first analyses per scale while installed."""

    def __init__(self) -> None:
        self.reset()
        encode, latent, estimate = encoder.EncodeJob.encode, encoder.EncodeJob.latent, encoder.EncodeJob.estimate
        counter = self

        def counting_encode(job, scale, base, strength, latent=None):
            counter.encodes += 1
            data = encode(job, scale, base, strength, latent)
            key = (scale, bitstream.quantise_base(base), bitstream.quantise_strength(strength))
            if key in counter.estimated:
                counter.log_ratios.append(math.log(len(data) / counter.estimated[key]))
            return data

        def counting_estimate(job, scale, base, strength, latent=None):
            counter.estimates += 1
            value = estimate(job, scale, base, strength, latent)
            counter.estimated[(scale, bitstream.quantise_base(base), bitstream.quantise_strength(strength))] = value
            return value

        def counting_latent(job, scale):
            if scale not in job._latents:
                counter.analyses += 1
            return latent(job, scale)

        encoder.EncodeJob.encode = counting_encode
        encoder.EncodeJob.latent = counting_latent
        encoder.EncodeJob.estimate = counting_estimate

    def reset(self) -> None:
        self.encodes = self.analyses = self.estimates = 0
        self.estimated: dict[tuple, float] = {}
        self.log_ratios: list[float] = []  # log(real / estimated bytes) of each encode an estimate led


def code(path: Path, bpp: float, counter: Counter) -> dict:
    image = Image.open(path)
    counter.reset()
    start = time.perf_counter()
    result = roicodec.compress_detailed(image, bpp=bpp)
    seconds = time.perf_counter() - start
    w, h = image.size
    return {"image": path.name, "target_bpp": bpp, "bpp": 8 * result.size / (w * h), "scale": result.scale / 8,
            "base_level": result.base_level, "encodes": counter.encodes, "analyses": counter.analyses,
            "estimates": counter.estimates, "log_ratios": [round(r, 5) for r in counter.log_ratios],
            "seconds": round(seconds, 3), "data": result.data}


def code_with(search, path: Path, bpp: float, counter: Counter) -> dict:
    """``code`` with the encoder's rate-control search replaced by ``search`` (restored after)."""
    saved = encoder.search_base_level
    encoder.search_base_level = search
    try:
        return code(path, bpp, counter)
    finally:
        encoder.search_base_level = saved


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--bpp", default="0.03,0.05,0.08")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--full-search", action="store_true", help="also code without the early give-up and compare")
    ap.add_argument("--unguided", action="store_true", help="also code without the size estimate and compare")
    ap.add_argument("--json", help="write the per-image rows here")
    args = ap.parse_args()
    paths = list_images(args.images)[: args.limit]
    counter = Counter()
    search = ratecontrol.search_base_level
    rows = []
    for bpp in (float(b) for b in args.bpp.split(",")):
        for path in paths:
            row = code(path, bpp, counter)
            if args.full_search:
                full = code_with(lambda *a, give_up_below=None, **k: search(*a, **k), path, bpp, counter)
                row.update(full_encodes=full["encodes"], full_seconds=full["seconds"], same_file=full["data"] == row["data"])
            if args.unguided:
                plain = code_with(lambda *a, estimate=None, **k: search(*a, **k), path, bpp, counter)
                row.update(unguided_encodes=plain["encodes"], unguided_seconds=plain["seconds"],
                           unguided_bpp=plain["bpp"])
            del row["data"]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        sel = [r for r in rows if r["target_bpp"] == bpp]
        line = (f"{bpp:g} bpp, {len(sel)} images: encodes mean {statistics.mean(r['encodes'] for r in sel):.1f} "
                f"max {max(r['encodes'] for r in sel)}, encode {statistics.mean(r['seconds'] for r in sel):.2f} s mean "
                f"{max(r['seconds'] for r in sel):.2f} s max")
        ratios = [r for row in sel for r in row["log_ratios"]]
        first = [row["log_ratios"][0] for row in sel if row["log_ratios"]]
        line += f"; estimates mean {statistics.mean(r['estimates'] for r in sel):.1f}"
        if len(first) > 1:
            line += (f"; real / estimated bytes: {100 * (math.exp(statistics.mean(ratios)) - 1):+.2f} % mean over "
                     f"{len(ratios)} encodes, first encodes {100 * (math.exp(statistics.mean(first)) - 1):+.2f} % "
                     f"sd {100 * statistics.stdev(first):.2f} %")
        if args.unguided:
            line += (f"; unguided: encodes mean {statistics.mean(r['unguided_encodes'] for r in sel):.1f} max "
                     f"{max(r['unguided_encodes'] for r in sel)}, {statistics.mean(r['unguided_seconds'] for r in sel):.2f} s "
                     f"mean {max(r['unguided_seconds'] for r in sel):.2f} s max")
        if args.full_search:
            line += (f"; without the give-up: encodes mean {statistics.mean(r['full_encodes'] for r in sel):.1f} "
                     f"max {max(r['full_encodes'] for r in sel)}, {statistics.mean(r['full_seconds'] for r in sel):.2f} s "
                     f"mean; same file {sum(r['same_file'] for r in sel)} of {len(sel)}")
        print(line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
