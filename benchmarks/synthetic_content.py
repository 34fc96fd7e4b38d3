"""Pictures Kodak does not have: flat colour fields, a smooth gradient, a drawn text page and a flat graphic.

    python benchmarks/synthetic_content.py [--bpp 0.1,0.3,1.0] [--codecs jpeg,webp,avif]

Each picture (800x600, made here, no data needed) is coded by roicodec at each budget with the default
settings, and by each classical codec at the largest quality whose file is no larger than roicodec's
(``evaluate.baselines.at_most``). Printed per picture and budget: bytes and PSNR-RGB of every codec, and
for the flat fields also roicodec's mean colour error and the spread (standard deviation) of its decoded
pixels, which is 0 for a perfect flat field. A regression check for the next base model
(docs/results.md, "Flat fields and drawn text").
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

import roicodec
from roicodec.evaluate.baselines import CODECS, CodecUnavailable, at_most
from roicodec.evaluate.metrics import psnr

SIZE = (800, 600)


def pictures() -> dict[str, Image.Image]:
    """The test pictures, deterministic."""
    w, h = SIZE
    made = {f"flat {c}": Image.new("RGB", SIZE, c) for c in ((40, 90, 200), (128, 128, 128), (200, 180, 150))}
    ramp = np.linspace(0.0, 1.0, h)[:, None, None]
    sky = (1 - ramp) * np.array([70, 130, 210]) + ramp * np.array([200, 225, 245])
    made["gradient"] = Image.fromarray(np.repeat(sky, w, axis=1).round().astype(np.uint8))
    page = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(page)
    for row in range(30):
        draw.text((10, row * 20), "The quick brown fox jumps over the lazy dog 0123456789 " * 2, fill="black")
    made["text page"] = page
    graphic = Image.new("RGB", SIZE, (245, 245, 240))
    draw = ImageDraw.Draw(graphic)
    for i, colour in enumerate(((220, 60, 50), (40, 120, 200), (250, 190, 40), (60, 160, 90))):
        draw.rectangle((60 + 180 * i, 120, 200 + 180 * i, 480), fill=colour)
        draw.ellipse((90 + 180 * i, 40, 170 + 180 * i, 110), outline=(20, 20, 20), width=4)
    made["flat graphic"] = graphic
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bpp", default="0.1,0.3,1.0", help="comma-separated budgets")
    ap.add_argument("--codecs", default="jpeg,webp,avif", help="classical codecs at roicodec's size")
    args = ap.parse_args()
    budgets = [float(b) for b in args.bpp.split(",")]
    names = [c for c in args.codecs.split(",") if c]
    print(f"| picture | bpp | roicodec bytes / PSNR | {' | '.join(names)} | roicodec colour error / spread |")
    print(f"|---|---|---|{'---|' * len(names)}---|")
    for name, picture in pictures().items():
        original = np.asarray(picture, np.float64)
        for bpp in budgets:
            data = roicodec.compress(picture, bpp=bpp)
            decoded = np.asarray(roicodec.decompress(data), np.float64)
            others = []
            for codec in names:
                try:
                    fitted = at_most(CODECS[codec], picture, len(data))
                except CodecUnavailable as exc:
                    others.append(f"({exc})")
                    continue
                if fitted is None:
                    others.append("none fits")
                else:
                    others.append(f"{len(fitted[0])} / {psnr(picture, CODECS[codec].decode(fitted[0])):.2f}")
            flat = ""
            if name.startswith("flat ("):
                shift = np.abs(decoded.reshape(-1, 3).mean(0) - original.reshape(-1, 3).mean(0)).max()
                flat = f"{shift:.1f} / {decoded.reshape(-1, 3).std(0).max():.1f}"
            print(f"| {name} | {bpp:g} | {len(data)} / {psnr(picture, decoded):.2f} | {' | '.join(others)} | {flat} |",
                  flush=True)


if __name__ == "__main__":
    main()
