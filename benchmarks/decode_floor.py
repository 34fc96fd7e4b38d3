"""Where a decode's time goes, against what this CPU can do at all (issue 25: "profile first").

    python benchmarks/decode_floor.py --images ../shared/data/kodak --bpp 0.25 --limit 4

For each picture: the work of the two halves of a decode (the integer-exact entropy-parameter path in float64,
rANS included, and the synthesis; torch.utils.flop_counter), their best time over ``--repeats``, and the rate
that makes; then this machine's matrix-product rates at the same precisions (float64 for the exact path, bf16
for the synthesis where hardware.bf16_synthesis uses it). Work divided by those rates is the floor that no
scheduling of the same arithmetic goes under.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import roicodec
from roicodec import decoder
from roicodec.hardware import bf16_synthesis


def best(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def matmul_rate(dtype: torch.dtype, repeats: int = 20) -> float:
    """FLOP/s of a product shaped like the exact path's largest layer (1536 positions, fan-in 1728, 384 out)."""
    m, k, n = 1536, 1728, 384
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    return 2 * m * k * n / best(lambda: a @ b, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", default="../shared/data/kodak")
    p.add_argument("--bpp", type=float, default=0.25)
    p.add_argument("--limit", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    files = sorted(f for f in Path(a.images).iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg"))[: a.limit]
    if not files:
        p.error(f"no PNG or JPEG images in {a.images}")
    f64 = matmul_rate(torch.float64)
    rows = []
    for path in files:
        data = roicodec.compress(str(path), bpp=a.bpp)
        model = decoder.model_for(data)
        f = decoder.parse(data, model)
        bf16 = bf16_synthesis(model.device, model.config.transforms, "auto")
        with FlopCounterMode(display=False) as exact:
            y = decoder.decode_latent(f, model)
        q = decoder.file_levels(f, model.config.level_range)

        def synthesis() -> None:  # as decoder.coded_picture runs it (one tile at Kodak's size)
            with torch.inference_mode():
                y_s = model.synthesis_input(y, q)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    model.g_s(y_s)

        with FlopCounterMode(display=False) as synth:
            synthesis()
        t_exact = best(lambda: decoder.decode_latent(f, model), a.repeats)
        t_synth = best(synthesis, a.repeats)
        t_all = best(lambda: roicodec.decompress(data), a.repeats)
        syn_rate = matmul_rate(torch.bfloat16 if bf16 else torch.float32)
        floor = exact.get_total_flops() / f64 + synth.get_total_flops() / syn_rate
        rows.append((t_all, floor))
        print(f"{path.name}: {f.width}x{f.height}, {8 * len(data) / (f.width * f.height):.3f} bpp, "
              f"{'bf16' if bf16 else 'float32'} synthesis\n"
              f"  entropy decoding (exact path + rANS): {exact.get_total_flops() / 1e9:.2f} GFLOP in {t_exact:.3f} s"
              f" = {exact.get_total_flops() / t_exact / 1e9:.0f} GFLOP/s (float64 products here: {f64 / 1e9:.0f})\n"
              f"  synthesis: {synth.get_total_flops() / 1e9:.1f} GFLOP in {t_synth:.3f} s"
              f" = {synth.get_total_flops() / t_synth / 1e9:.0f} GFLOP/s (products at its precision: {syn_rate / 1e9:.0f})\n"
              f"  whole decode {t_all:.3f} s; the arithmetic alone at those rates: {floor:.3f} s")
    print(f"mean: decode {statistics.mean(r[0] for r in rows):.3f} s, floor {statistics.mean(r[1] for r in rows):.3f} s "
          f"({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
