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
import tempfile
from pathlib import Path

import torch
from tqdm import tqdm

from roicodec.evaluate.rd import bd_rate, result_json
from roicodec import load_model
from roicodec.train.loop import export_checkpoint, load_eval_images, validate


def as_weights(path: Path, tmp: Path) -> Path:
    if path.suffix != ".pt":
        return path
    run = tmp / f"run{len(list(tmp.iterdir()))}"
    run.mkdir()
    (run / "checkpoint.pt").symlink_to(path.resolve())
    dest = run / "exported.safetensors"
    export_checkpoint(run, dest)
    return dest


def curve(model, images: list[torch.Tensor], levels: list[float], name: str) -> dict:
    rows = validate(model, images, levels)
    points = [{"bpp": r["bpp"], "psnr-rgb": r["psnr"], "setting": r["level"]} for r in rows]
    return result_json(name, "float forward pass, estimated bpp", points)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", nargs="+", required=True, help="folders of images, scored apart")
    p.add_argument("--weights", nargs="+", required=True, help="safetensors files or run checkpoint.pt files; the first is the anchor")
    p.add_argument("--levels", type=float, nargs="+", default=[-3.0, -1.0, 1.0, 3.0, 5.0, 7.0])
    p.add_argument("--limit", type=int, default=24, help="images per folder")
    a = p.parse_args()
    images = {folder: load_eval_images(folder, a.limit) for folder in a.images}
    tmp = Path(tempfile.mkdtemp())
    try:
        curves = {}
        for wpath in tqdm(a.weights, desc="weights"):
            model = load_model(as_weights(Path(wpath), tmp)).eval()
            for folder in a.images:
                curves[(wpath, folder)] = curve(model, images[folder], a.levels, f"{Path(wpath).name} {Path(folder).name}")
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
