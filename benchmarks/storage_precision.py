"""What storing a model compactly costs: the same files decoded by the float32 and the compact weights,
and the R-D of the compact analysis at a few budgets.

    git show f6bfef0:src/roicodec/weights/roicodec-fidelity-v1.safetensors > /tmp/fidelity-fp32.safetensors
    python benchmarks/storage_precision.py --reference /tmp/fidelity-fp32.safetensors \
        --images ../shared/data/kodak --every 4 --bpp 0.1 0.3

For each image and budget: a file encoded by the reference (float32) model is decoded by both (the
latents must be identical: the entropy path is stored exactly; the pixels differ by the float16
synthesis), and a file encoded by the compact model (float16 analysis) gives its own bpp and PSNR.
Prints a table and a summary; --json writes the rows.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import roicodec
from roicodec import decoder
from roicodec.evaluate.metrics import psnr
from roicodec.images import prepare
from roicodec.models import load_model


def _latent(data: bytes, model) -> torch.Tensor:
    with torch.inference_mode():
        return decoder.decode_latent(decoder.parse(data, model), model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", required=True, help="the float32 weights file")
    ap.add_argument("--compact", default="fidelity-v1", help="the compact weights (a shipped name or a file)")
    ap.add_argument("--images", default="../shared/data/kodak")
    ap.add_argument("--every", type=int, default=1, help="take every k-th image (sorted)")
    ap.add_argument("--bpp", type=float, nargs="+", default=[0.1, 0.3])
    ap.add_argument("--levels", type=float, nargs="+", default=[0.0, 3.0],
                    help="fixed quality levels (no rate control): bytes and PSNR of both encodes compare directly")
    ap.add_argument("--json")
    a = ap.parse_args()
    ref, comp = load_model(a.reference), load_model(a.compact)
    assert ref.model_id == comp.model_id, "the two weights must be the same model"
    paths = sorted(p for p in Path(a.images).iterdir() if p.suffix.lower() in {".png", ".jpg"})[:: a.every]
    rows = []
    t0 = time.time()
    for p in paths:
        image = str(p)
        x = prepare(image).rgb
        for bpp in a.bpp:
            data = roicodec.compress(image, bpp=bpp, model=ref)
            assert torch.equal(_latent(data, ref), _latent(data, comp)), f"{p.name}: latents differ"
            d_ref = np.asarray(roicodec.decompress(data, model=ref))
            d_comp = np.asarray(roicodec.decompress(data, model=comp))
            own = roicodec.compress(image, bpp=bpp, model=comp)
            d_own = np.asarray(roicodec.decompress(own, model=comp))
            pixels = x.shape[0] * x.shape[1]
            rows.append({
                "image": p.name, "target_bpp": bpp,
                "bpp_fp32": 8 * len(data) / pixels, "psnr_fp32": psnr(x, d_ref),
                "psnr_fp32_file_compact_decode": psnr(x, d_comp),
                "max_abs_diff": int(np.abs(d_ref.astype(int) - d_comp.astype(int)).max()),
                "differing_pixels": float((d_ref != d_comp).any(axis=-1).mean()),
                "psnr_between_decodes": psnr(d_ref, d_comp),
                "bpp_compact": 8 * len(own) / pixels, "psnr_compact": psnr(x, d_own),
            })
            r = rows[-1]
            print(f"{p.name} {bpp:g} bpp: same file {r['psnr_fp32']:.4f} -> {r['psnr_fp32_file_compact_decode']:.4f} dB "
                  f"(max |diff| {r['max_abs_diff']}, {100 * r['differing_pixels']:.2f} % pixels); compact encode "
                  f"{r['bpp_compact']:.4f} bpp {r['psnr_compact']:.4f} dB vs {r['bpp_fp32']:.4f} bpp {r['psnr_fp32']:.4f} dB",
                  flush=True)
        for lv in a.levels:
            f_ref, f_comp = roicodec.compress(image, quality=lv, model=ref), roicodec.compress(image, quality=lv, model=comp)
            pixels = x.shape[0] * x.shape[1]
            rows.append({"image": p.name, "level": lv, "bpp_fp32": 8 * len(f_ref) / pixels,
                         "psnr_fp32": psnr(x, roicodec.decompress(f_ref, model=ref)),
                         "bpp_compact": 8 * len(f_comp) / pixels,
                         "psnr_compact": psnr(x, roicodec.decompress(f_comp, model=comp))})
    print(f"\n{len(paths)} images, {time.time() - t0:.0f} s\n")
    print("| budget | same file: PSNR fp32 / compact decode (mean, worst |Δ|) | max |pixel diff| | compact encode: bpp / PSNR vs fp32 |")
    print("|---|---|---|---|")
    for bpp in a.bpp:
        rs = [r for r in rows if r.get("target_bpp") == bpp]
        m = lambda k: float(np.mean([r[k] for r in rs]))  # noqa: E731
        worst = max(abs(r["psnr_fp32_file_compact_decode"] - r["psnr_fp32"]) for r in rs)
        print(f"| {bpp:g} | {m('psnr_fp32'):.4f} / {m('psnr_fp32_file_compact_decode'):.4f} dB "
              f"(Δ {m('psnr_fp32_file_compact_decode') - m('psnr_fp32'):+.4f}, worst {worst:.4f}) | "
              f"{max(r['max_abs_diff'] for r in rs)} | {m('bpp_compact'):.4f} / {m('psnr_compact'):.4f} dB vs "
              f"{m('bpp_fp32'):.4f} / {m('psnr_fp32'):.4f} dB |")
    print("\n| level | fp32 encode + decode: bpp / PSNR | compact: bpp / PSNR | Δ bytes | Δ PSNR |")
    print("|---|---|---|---|---|")
    for lv in a.levels:
        rs = [r for r in rows if r.get("level") == lv]
        m = lambda k: float(np.mean([r[k] for r in rs]))  # noqa: E731
        print(f"| {lv:g} | {m('bpp_fp32'):.4f} / {m('psnr_fp32'):.4f} dB | {m('bpp_compact'):.4f} / {m('psnr_compact'):.4f} dB | "
              f"{100 * (m('bpp_compact') / m('bpp_fp32') - 1):+.3f} % | {m('psnr_compact') - m('psnr_fp32'):+.4f} dB |")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "command": "python benchmarks/storage_precision.py "
                                            f"--reference {a.reference} --images {a.images} --every {a.every}"}, indent=1))


if __name__ == "__main__":
    main()
