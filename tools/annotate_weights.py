"""Write measured figures into a shipped model's metadata (tensors, hence the model id, unchanged).

    python tools/annotate_weights.py --bench docs/kodak_bench.json --rd docs/eval_kodak/roicodec.json \
        --rate-curve ../shared/data/kodak
    python tools/annotate_weights.py --weights highrate-v1 --rate-curve DIR --use-from-bpp 0.5

--rate-curve measures the model's bpp at every integer level (geometric mean over the
images, real encodes) and stores it as ``rate_curve_bpp``: the rate control starts its
search from it. Measure it on photos the model will typically see; it only sets the
first guess, never the result.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from tqdm import tqdm

import roicodec
from roicodec.images import prepare
from roicodec.models import weights_path
from roicodec.errors import WeightsError
from roicodec.weights import read_metadata, read_model, rewrite_metadata


def measure_rate_curve(path: Path, folder: str) -> tuple[list[float], float]:
    """Geometric-mean bpp at each integer level from the model's lowest to its highest."""
    model = read_model(path)
    first = math.ceil(model.config.min_level)
    levels = list(range(first, model.config.levels))
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    log_sum = [0.0] * len(levels)
    for p in tqdm(paths, desc="rate curve"):
        image = prepare(str(p))
        pixels = image.size[0] * image.size[1]
        for i, k in enumerate(levels):
            n = len(roicodec.compress(image, quality=k, model=model))
            log_sum[i] += math.log(8 * n / pixels)
    return [round(math.exp(s / len(paths)), 5) for s in log_sum], float(first)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", help="kodak_bench.py JSON (rate control at 0.25 bpp)")
    ap.add_argument("--rd", help="roicodec's results JSON from `roicodec eval`")
    ap.add_argument("--rate-curve", metavar="DIR", help="measure bpp per level on these images")
    ap.add_argument("--training-command", help="how the weights were trained (free text, kept in the metadata)")
    ap.add_argument("--weights", default="default", help="a shipped model's name or a weights file")
    ap.add_argument("--use-from-bpp", type=float, help="the rate from which the encoder picks this model (models.model_for_rate)")
    args = ap.parse_args()

    path = weights_path(args.weights)
    info = read_metadata(path)
    meta = info["meta"]
    kodak = meta.setdefault("kodak", {})
    if args.bench:
        bench = json.loads(open(args.bench).read())["summary"]
        kodak["rate_control_0.25bpp"] = {k: bench[k] for k in (
            "mean_bpp", "worst_rel_error", "mean_psnr_rgb", "mean_encode_s", "max_encode_s", "mean_decode_s",
            "peak_rss_mib") if k in bench}
        kodak["rate_control_0.25bpp"]["command"] = "python benchmarks/kodak_bench.py --images ../shared/data/kodak --bpp 0.25"
    if args.rd:
        rd = json.loads(open(args.rd).read())["results"]
        kodak["rd_curve"] = {"bpp": rd["bpp"], "psnr-rgb": rd["psnr-rgb"], "ms-ssim": rd["ms-ssim"],
                             "command": "roicodec eval --images ../shared/data/kodak"}
    if args.training_command:
        meta["training_command"] = args.training_command
    if args.use_from_bpp is not None:
        meta["use_from_bpp"] = args.use_from_bpp
    if args.rate_curve:
        meta["rate_curve_bpp"], meta["rate_curve_min_level"] = measure_rate_curve(path, args.rate_curve)
        print(f"rate curve (bpp per level from {meta['rate_curve_min_level']:g}):", meta["rate_curve_bpp"])
    try:
        rewrite_metadata(path, meta)  # tensors, model id and storage format as they are
    except WeightsError as exc:
        raise SystemExit(f"weights file is inconsistent: {exc}") from None
    print(f"{path}: model {info['model_id']}, metadata updated")


if __name__ == "__main__":
    main()
