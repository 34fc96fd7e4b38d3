"""Compare weights files (or training checkpoints) on the same images, at the same levels.

    python benchmarks/compare_weights.py --images ../shared/data/kodak ../shared/data/roi/coco/images \
        --weights src/roicodec/weights/roicodec-fidelity-v1.safetensors runs/v1/checkpoint.pt

Why: the 4-image validation inside `roicodec train` swings by 0.2-0.3 dB at the top levels from one
1000 steps to the next, too much to choose between two runs or two checkpoints. This scores each
candidate with the float forward pass (estimated bpp, PSNR of the clamped output) on every image of
each folder, and gives each candidate's BD-rate against the first one per folder. A `checkpoint.pt`
is exported to a temporary safetensors file first (same path as `roicodec train --export-now`).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from roicodec.evaluate.rd import bd_rate, result_json
from roicodec.train.data import list_images
from roicodec.train.losses import bits_per_pixel, psnr
from roicodec.weights import load_model


def as_weights(path: Path, tmp: Path) -> Path:
    if path.suffix != ".pt":
        return path
    from roicodec.train.loop import export_checkpoint

    run = tmp / f"run{len(list(tmp.iterdir()))}"
    run.mkdir()
    (run / "checkpoint.pt").symlink_to(path.resolve())
    dest = run / "exported.safetensors"
    export_checkpoint(run, dest)
    return dest


@torch.inference_mode()
def curve(model, files: list[Path], levels: list[float], desc: str) -> dict:
    per_level = {lv: ([], []) for lv in levels}
    for f in tqdm(files, desc=desc):
        a = np.asarray(Image.open(f).convert("RGB"))
        h, w = a.shape[0] // 64 * 64, a.shape[1] // 64 * 64  # the float path needs multiples of 64
        x = torch.from_numpy(a[:h, :w].copy()).permute(2, 0, 1)[None].float() / 255
        for lv in levels:
            out = model(x, torch.full((1, 1, h // 16, w // 16), float(lv)))
            per_level[lv][0].append(float(bits_per_pixel(out["likelihoods"], h * w)))
            per_level[lv][1].append(psnr(out["x_hat"].clamp(0, 1), x))
    points = [{"bpp": statistics.mean(b), "psnr-rgb": statistics.mean(p), "setting": lv} for lv, (b, p) in per_level.items()]
    return result_json(desc, "float forward pass, estimated bpp", points)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", nargs="+", required=True, help="folders of images, scored apart")
    p.add_argument("--weights", nargs="+", required=True, help="safetensors files or run checkpoint.pt files; the first is the anchor")
    p.add_argument("--levels", type=float, nargs="+", default=[-3.0, -1.0, 1.0, 3.0, 5.0, 7.0])
    p.add_argument("--limit", type=int, default=24, help="images per folder")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        curves = {}
        for wpath in a.weights:
            model = load_model(as_weights(Path(wpath), tmp)).eval()
            for folder in a.images:
                curves[(wpath, folder)] = curve(model, list_images(folder)[: a.limit], a.levels, f"{Path(wpath).name} {Path(folder).name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for folder in a.images:
        print(f"\n{folder}\n")
        print("| weights | BD-rate vs first | " + " | ".join(f"q{lv:g} bpp / PSNR" for lv in a.levels) + " |")
        print("|" + "---|" * (2 + len(a.levels)))
        anchor = curves[(a.weights[0], folder)]
        for wpath in a.weights:
            c = curves[(wpath, folder)]["results"]
            bd = bd_rate(anchor, curves[(wpath, folder)])
            cells = [f"{b:.3f} / {d:.2f}" for b, d in zip(c["bpp"], c["psnr-rgb"])]
            print(f"| {wpath} | {'n/a' if bd is None else f'{bd:+.1f} %'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
