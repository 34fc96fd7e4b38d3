"""What the bf16 synthesis costs and saves: each picture is encoded once and decoded at both precisions.

    python benchmarks/decode_precision.py --images ../shared/data/kodak --bpp 0.1,0.25,0.4

``--precision auto`` (the default decode) runs the fidelity model's synthesis in bf16 on CPUs with native
bf16 (hardware.bf16_synthesis); ``float32`` is the reference. On a CPU without native bf16 both are the
same decode, and the benchmark says so. Times are in-process seconds per decode, model loaded, after a
warm-up; PSNR-RGB against the original.
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
from roicodec.hardware import bf16_synthesis
from roicodec.evaluate.metrics import psnr
from roicodec.train.data import list_images


def timed_decode(data: bytes, precision: str) -> tuple[Image.Image, float]:
    t = time.perf_counter()
    image = roicodec.decompress(data, precision=precision)
    return image, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", default="../shared/data/kodak")
    p.add_argument("--bpp", default="0.1,0.25,0.4", help="comma-separated budgets")
    p.add_argument("--limit", type=int, default=None, help="only the first N pictures")
    a = p.parse_args()
    files = list_images(a.images)[:a.limit]
    if not files:
        sys.exit(f"no images in {a.images}")
    model = roicodec.load_model()
    print(f"bf16 synthesis on this CPU for {model.config.transforms}: "
          f"{bf16_synthesis(torch.device('cpu'), model.config.transforms)}")
    warm = roicodec.compress(Image.open(files[0]).convert("RGB").crop((0, 0, 256, 256)), bpp=0.3)
    for precision in ("float32", "auto"):
        roicodec.decompress(warm, precision=precision)
    print("| target bpp | model | PSNR float32 | PSNR auto | difference mean / worst dB | largest pixel difference "
          "| decode float32 s | decode auto s |")
    print("|---|---|---|---|---|---|---|---|")
    for bpp in (float(b) for b in a.bpp.split(",")):
        rows = []
        for f in tqdm(files, desc=f"{bpp} bpp", leave=False):
            ref = Image.open(f).convert("RGB")
            data = roicodec.compress(ref, bpp=bpp)
            reference, t32 = timed_decode(data, "float32")
            auto, tauto = timed_decode(data, "auto")
            most = int(np.abs(np.asarray(auto, np.int16) - np.asarray(reference, np.int16)).max())
            rows.append((psnr(reference, ref), psnr(auto, ref), most, t32, tauto, roicodec.inspect(data)["model"]))
        p32, pauto, most, t32, tauto, names = zip(*rows)
        diff = np.subtract(pauto, p32)
        print(f"| {bpp:g} | {', '.join(sorted(set(names)))} | {statistics.mean(p32):.4f} | {statistics.mean(pauto):.4f} "
              f"| {diff.mean():+.4f} / {diff.min():+.4f} | {max(most)} | {statistics.mean(t32):.3f} "
              f"| {statistics.mean(tauto):.3f} |", flush=True)


if __name__ == "__main__":
    main()
