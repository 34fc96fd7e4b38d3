"""Build the seed corpus of the .rcz fuzzer (fuzz/fuzz_rcz.py) deterministically.

    python fuzz/build_corpus.py                # rewrite fuzz/corpus/ (and its MANIFEST)
    python fuzz/build_corpus.py --check        # rebuild in a temporary folder and compare byte for byte

The corpus holds every file of the earlier releases in tests/fixtures/ (v0.1.0, highrate-v1) and files
the current encoder writes: both shipped models (fidelity-v1 below 0.5 bpp, highrate-v1 above), several
rates and quality levels (negative ones too), coding scale 1, 1.5, 0.75 and auto, no ROI, a mask, boxes
and a negative strength, grayscale, and tiny pictures (1x1, 7x5, 1x37). The pictures are small
(at most 96x64), so each decodes in well under 0.2 s and the fuzzer spends its time on variants.

Deterministic: the pictures are seeded test cards, the encoder runs on one thread, and the file names
are the case names; MANIFEST lists each file's SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"
FIXTURES = ROOT / "tests" / "fixtures"


def cases():
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from tests.conftest import synthetic_image

    card = synthetic_image(96, 64, seed=3)
    mask = np.zeros((64, 96), np.float32)
    mask[12:44, 20:70] = 1
    boxes = "4,4,40,30:0.8"
    gray = card.convert("L")
    return {
        # fidelity-v1: below 0.5 bpp
        "fid-bpp0.1": dict(image=card, bpp=0.1),
        "fid-bpp0.3": dict(image=card, bpp=0.3),
        "fid-bpp0.3-mask": dict(image=card, bpp=0.3, roi=mask, roi_strength=3),
        "fid-bpp0.2-boxes": dict(image=card, bpp=0.2, boxes=boxes, roi_strength=5),
        "fid-bpp0.3-negative": dict(image=card, bpp=0.3, roi=mask, roi_strength=-2),
        "fid-bpp0.4-scale-auto": dict(image=card, bpp=0.4, scale="auto"),
        "fid-bpp0.4-scale1.5-mask": dict(image=card, bpp=0.4, scale=1.5, roi=mask, roi_strength=2),
        "fid-bpp0.2-scale0.75": dict(image=card, bpp=0.2, scale=0.75),
        "fid-quality-2.5": dict(image=card, quality=-2.5),
        "fid-quality6.5": dict(image=card, quality=6.5),
        "fid-gray-bpp0.3": dict(image=gray, bpp=0.3),
        "fid-gray-boxes-scale1.5": dict(image=gray, bpp=0.3, boxes=boxes, scale=1.5),
        "fid-tiny-1x1": dict(image=synthetic_image(1, 1, seed=5), quality=3),
        "fid-tiny-7x5": dict(image=synthetic_image(7, 5, seed=6), quality=4),
        "fid-tiny-7x5-gray-scale2": dict(image=synthetic_image(7, 5, seed=6).convert("L"), quality=2, scale=2),
        # highrate-v1: from 0.5 bpp
        "hr-bpp0.8": dict(image=card, bpp=0.8),
        "hr-bpp1.5": dict(image=card, bpp=1.5),
        "hr-bpp1.2-mask": dict(image=card, bpp=1.2, roi=mask, roi_strength=2),
        "hr-bpp1.0-boxes": dict(image=card, bpp=1.0, boxes=boxes, roi_strength=3),
        "hr-bpp1.0-scale-auto": dict(image=card, bpp=1.0, scale="auto"),
        "hr-bpp1.2-scale1.5-mask": dict(image=card, bpp=1.2, scale=1.5, roi=mask, roi_strength=2),
        "hr-gray-bpp1.0": dict(image=gray, bpp=1.0),
        "hr-tiny-1x1": dict(image=synthetic_image(1, 1, seed=5), quality=5, model="highrate-v1"),
        "hr-tiny-7x5": dict(image=synthetic_image(7, 5, seed=6), bpp=4.0, model="highrate-v1"),
    }


def build(out: Path) -> dict[str, str]:
    import torch

    import roicodec

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.rcz"):
        old.unlink()
    for src in sorted(FIXTURES.glob("*/*.rcz")):  # the earlier releases' files, as they are
        shutil.copyfile(src, out / f"release-{src.parent.name}-{src.stem}.rcz")
    warnings.simplefilter("ignore")  # rate-control notes for the tiny pictures
    for name, kw in cases().items():
        kw = dict(kw)
        image = kw.pop("image")
        if "model" in kw:
            kw["model"] = roicodec.load_model(kw["model"])
        (out / f"{name}.rcz").write_bytes(roicodec.compress(image, **kw))
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.rcz"))}
    (out / "MANIFEST").write_text("".join(f"{d}  {n}\n" for n, d in digests.items()))
    return digests


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=CORPUS)
    ap.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare with --out")
    args = ap.parse_args()
    if not args.check:
        digests = build(args.out)
        total = sum((args.out / n).stat().st_size for n in digests)
        print(f"{len(digests)} files, {total} bytes in {args.out}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build(Path(tmp))
    kept = {n: d for d, n in (line.split("  ") for line in (args.out / "MANIFEST").read_text().splitlines())}
    differ = sorted(n for n in fresh.keys() | kept.keys() if fresh.get(n) != kept.get(n))
    print("corpus reproduces" if not differ else f"differ: {differ}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
