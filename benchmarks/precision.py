"""What bf16 costs and saves: each picture encoded and decoded at ``--precision float32`` (the reference)
and at ``auto`` (the default), with rate control at each budget.

    python benchmarks/precision.py --images ../shared/data/kodak --bpp 0.1,0.25,0.4

``auto`` runs the fidelity model's analysis and synthesis in bf16 on CPUs with native bf16
(hardware.bf16_analysis / bf16_synthesis); on other CPUs both columns are the same codec, and the
benchmark says so. Times are in-process seconds per picture, models loaded, after a warm-up; PSNR-RGB
against the original. "decode auto" is also given for the float32 file, which isolates the synthesis.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

import roicodec
from roicodec.evaluate.metrics import psnr
from roicodec.hardware import bf16_analysis, bf16_synthesis
from roicodec.train.data import list_images


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", default="../shared/data/kodak")
    p.add_argument("--bpp", default="0.1,0.25,0.4", help="comma-separated budgets")
    p.add_argument("--limit", type=int, default=None, help="only the first N pictures")
    a = p.parse_args()
    files = list_images(a.images)[:a.limit]
    if not files:
        sys.exit(f"no images in {a.images}")
    transforms = roicodec.load_model().config.transforms
    cpu = torch.device("cpu")
    print(f"on this CPU, for {transforms}: bf16 analysis {bf16_analysis(cpu, transforms)}, "
          f"bf16 synthesis {bf16_synthesis(cpu, transforms)}")
    warm = Image.open(files[0]).convert("RGB").crop((0, 0, 256, 256))
    for precision in ("float32", "auto"):
        roicodec.decompress(roicodec.compress(warm, bpp=0.3, precision=precision), precision=precision)
    print("| target bpp | model | bpp float32 / auto | PSNR float32 / auto | PSNR difference mean / worst dB "
          "| encode float32 / auto s | decode float32 / auto s | auto decode of the float32 file: PSNR, largest "
          "pixel difference |")
    print("|---|---|---|---|---|---|---|---|")
    for bpp in (float(b) for b in a.bpp.split(",")):
        rows = []
        for f in tqdm(files, desc=f"{bpp} bpp", leave=False):
            ref = Image.open(f).convert("RGB")
            pixels = ref.size[0] * ref.size[1]
            row = {}
            for precision in ("float32", "auto"):
                data, te = timed(roicodec.compress, ref, bpp=bpp, precision=precision)
                image, td = timed(roicodec.decompress, data, precision=precision)
                row[precision] = (8 * len(data) / pixels, psnr(image, ref), te, td)
                if precision == "float32":
                    reference, file32 = np.asarray(image, np.int16), data
            auto32 = roicodec.decompress(file32)
            row["mixed"] = (psnr(auto32, ref), int(np.abs(np.asarray(auto32, np.int16) - reference).max()))
            row["model"] = roicodec.inspect(file32)["model"]
            rows.append(row)
        m = lambda key, i: statistics.mean(r[key][i] for r in rows)  # noqa: E731
        diff = np.array([r["auto"][1] - r["float32"][1] for r in rows])
        print(f"| {bpp:g} | {', '.join(sorted({r['model'] for r in rows}))} | {m('float32', 0):.4f} / {m('auto', 0):.4f} "
              f"| {m('float32', 1):.4f} / {m('auto', 1):.4f} | {diff.mean():+.4f} / {diff.min():+.4f} "
              f"| {m('float32', 2):.3f} / {m('auto', 2):.3f} | {m('float32', 3):.3f} / {m('auto', 3):.3f} "
              f"| {m('mixed', 0):.4f}, {max(r['mixed'][1] for r in rows)} |", flush=True)


if __name__ == "__main__":
    main()
