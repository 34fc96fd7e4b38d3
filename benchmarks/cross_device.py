"""Files made on one device decode on another: encode on A and on B, decode each file on both.

Issue 25's check across devices (a GPU and the CPU): for every picture, rate and ROI setting it reports
whether the two encoders wrote the same bytes, whether each file's latent decodes to the same integers on
both devices (the entropy parameters are integer-exact, model/exact.py: anything else is a bug), and how
far the decoded pictures differ (the synthesis is float32: cuDNN and oneDNN may round differently).

    python benchmarks/cross_device.py --images ../shared/data/kodak --devices cpu,cuda --json cross_device.json

On a machine without a GPU, ``--devices cpu,cpu`` runs the same path (tests/test_cross_device.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import roicodec
from roicodec.decoder import decode_latent, model_for, parse
from roicodec.train.data import list_images

#: Without and with a region of interest: the middle ninth of the picture, lifted by the default strength.
ROI_SETTINGS = {"none": None, "box": "center"}


def center_box(width: int, height: int) -> str:
    return f"{width // 3},{height // 3},{max(width // 3, 1)},{max(height // 3, 1)}"


def decode_on(data: bytes, device: str) -> tuple[np.ndarray, torch.Tensor]:
    """(decoded pixels, the file's exact latent) on ``device``, the reference float32 decode on both (the
    default on a bf16 CPU is a bf16 synthesis: a choice of precision, not of device)."""
    image = roicodec.decompress(data, device=device, precision="float32")
    model = model_for(data, device)
    with torch.inference_mode():
        latent = decode_latent(parse(data, model), model).cpu()
    return np.asarray(image), latent


def compare(path: Path, bpp: float, roi: str, devices: tuple[str, str]) -> dict:
    from PIL import Image

    image = Image.open(path).convert("RGB")
    boxes = center_box(*image.size) if ROI_SETTINGS[roi] else None
    files, seconds = {}, {}
    for device in devices:
        start = time.perf_counter()
        files[device] = roicodec.compress(image, bpp=bpp, boxes=boxes, device=device)
        seconds[f"encode_{device}"] = round(time.perf_counter() - start, 3)
    row = {"image": path.name, "target_bpp": bpp, "roi": roi, "same_file": files[devices[0]] == files[devices[1]],
           **seconds}
    for made_on, data in files.items():
        (pix_a, lat_a), (pix_b, lat_b) = (decode_on(data, d) for d in devices)
        diff = np.abs(pix_a.astype(np.int16) - pix_b.astype(np.int16))
        row[f"made_on_{made_on}"] = {
            "bytes": len(data),
            "same_latent": bool(torch.equal(lat_a, lat_b)),
            "same_pixels": bool(not diff.any()),
            "max_pixel_diff": int(diff.max()),
            "share_of_values_differing": float((diff > 0).mean()),
        }
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--bpp", default="0.1,0.5,1.5", help="rates: the default model, and the high-rate model native and 1.5-2x")
    ap.add_argument("--devices", default="cpu,cuda", help="the two devices, e.g. cpu,cuda")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--json", help="write every row here")
    args = ap.parse_args()
    devices = tuple(args.devices.split(","))
    if len(devices) != 2:
        sys.exit("--devices takes two devices, e.g. cpu,cuda")
    rows = []
    for bpp in (float(b) for b in args.bpp.split(",")):
        for path in list_images(args.images)[: args.limit]:
            for roi in ROI_SETTINGS:
                row = compare(path, bpp, roi, devices)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    decodes = [row[f"made_on_{d}"] for row in rows for d in devices]
    summary = {
        "devices": devices, "cases": len(rows), "same_file": sum(r["same_file"] for r in rows),
        "decodes_compared": len(decodes), "same_latent": sum(d["same_latent"] for d in decodes),
        "same_pixels": sum(d["same_pixels"] for d in decodes),
        "max_pixel_diff": max(d["max_pixel_diff"] for d in decodes),
        "max_share_of_values_differing": max(d["share_of_values_differing"] for d in decodes),
    }
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    return 0 if summary["same_latent"] == len(decodes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
