"""Issue-2 figures on Kodak: rate-control accuracy, PSNR, encode/decode time, peak memory.

    python benchmarks/kodak_bench.py --images ../shared/data/kodak --bpp 0.25 --json docs/kodak_bench.json

Times are wall-clock seconds per image on this machine with the model already loaded (with ``--repeats``, the
median of that many runs of each picture);
encode includes image loading, the analysis transform and the whole rate-control
search; decode includes parsing, entropy decoding and synthesis.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

import roicodec
from roicodec.evaluate.metrics import psnr


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", default="../shared/data/kodak")
    p.add_argument("--bpp", type=float, default=0.25)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--effort", type=int, default=0, help="encoder effort (0-3), as for roicodec compress")
    p.add_argument("--json", help="write the per-image rows and the summary here")
    p.add_argument("--model", help="one shipped model's name or a weights file (default: the shipped model the encoder "
                                   "picks for the rate, as compress does)")
    p.add_argument("--scale", default="fit", help="coding scale, as for roicodec compress")
    p.add_argument("--repeats", type=int, default=1,
                   help="encode and decode each picture this often and report the median times (on a machine "
                        "shared with other work one timing can run 20 %% long); the repeats must agree byte for byte")
    a = p.parse_args()
    if a.repeats < 1:
        p.error("--repeats must be at least 1")
    if a.threads:
        torch.set_num_threads(a.threads)
    model = roicodec.load_model(a.model) if a.model else None
    files = sorted(f for f in Path(a.images).iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        sys.exit(f"no PNG or JPEG images in {a.images}")
    # warm-up (first-call allocations and kernel selection are not per-image costs), every model the rate may pick
    small = Image.open(files[0]).convert("RGB").crop((0, 0, 128, 128))
    roicodec.decompress(roicodec.compress(small, quality=3, model=model), model=model)
    roicodec.decompress(roicodec.compress(small, bpp=a.bpp, model=model), model=model)
    rows = []
    for f in tqdm(files, desc=f"kodak @ {a.bpp} bpp"):
        encode_s, decode_s = [], []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            res = roicodec.compress_detailed(str(f), bpp=a.bpp, model=model, effort=a.effort, scale=a.scale)
            t1 = time.perf_counter()
            dec = roicodec.decompress(res.data, model=model)  # without --model, the model the file names
            t2 = time.perf_counter()
            encode_s.append(t1 - t0)
            decode_s.append(t2 - t1)
            if len(encode_s) > 1 and (res.data, dec.tobytes()) != first:
                sys.exit(f"{f.name}: a repeat made another file or picture")
            first = res.data, dec.tobytes()
        ref = Image.open(f).convert("RGB")
        w, h = ref.size
        bpp = 8 * len(res.data) / (w * h)
        rows.append({
            "image": f.name, "bytes": len(res.data), "bpp": bpp, "rel_error": (bpp - a.bpp) / a.bpp,
            "psnr_rgb": psnr(ref, dec), "encode_s": statistics.median(encode_s),
            "decode_s": statistics.median(decode_s), "trials": res.trials,
            "base_level": res.base_level, "refine_steps": res.refine_steps, "scale": res.scale / 8,
            "model": roicodec.inspect(res.data, model=model)["model"],
        })
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "target_bpp": a.bpp,
        "effort": a.effort,
        "images": len(rows),
        "mean_bpp": statistics.mean(r["bpp"] for r in rows),
        "worst_rel_error": min(r["rel_error"] for r in rows),
        "over_budget": sum(r["bpp"] > a.bpp for r in rows),
        "scales": {str(sc): sum(r["scale"] == sc for r in rows) for sc in sorted({r["scale"] for r in rows})},
        "models": sorted({r["model"] for r in rows}),
        "max_rel_error": max(r["rel_error"] for r in rows),
        "mean_psnr_rgb": statistics.mean(r["psnr_rgb"] for r in rows),
        "mean_encode_s": statistics.mean(r["encode_s"] for r in rows),
        "max_encode_s": max(r["encode_s"] for r in rows),
        "mean_decode_s": statistics.mean(r["decode_s"] for r in rows),
        "max_decode_s": max(r["decode_s"] for r in rows),
        "mean_trials": statistics.mean(r["trials"] for r in rows),
        "peak_rss_mib": peak_mib,
        "threads": torch.get_num_threads(),
    }
    for r in rows:
        print(f"{r['image']:<12} {r['bytes']:>7} B {r['bpp']:.4f} bpp ({100 * r['rel_error']:+.2f} %) "
              f"{r['psnr_rgb']:.2f} dB  {r['scale']:g}x  enc {r['encode_s']:.2f} s ({r['trials']} trials)  dec {r['decode_s']:.2f} s")
    print(json.dumps(summary, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
