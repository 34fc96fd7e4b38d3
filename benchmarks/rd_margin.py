"""Where roicodec stands against each codec at every rate: the PSNR margin on a log-bpp grid.

    python benchmarks/rd_margin.py --dir docs/eval_kodak_fit --from 0.1 --to 2

Reads the results JSON that `roicodec eval` wrote (one per codec), interpolates each mean R-D curve in
log bpp over the part of [from, to] that both curves cover, and prints per codec the smallest and largest
margin (roicodec minus codec, dB) with the rates where they fall, and the rates where roicodec is below.
Issue 23's bar "never below JPEG" is the smallest margin against jpeg being positive.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def curve(path: Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    res = json.loads(path.read_text())["results"]
    order = np.argsort(res["bpp"])
    return np.log(np.asarray(res["bpp"])[order]), np.asarray(res[metric])[order]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="a roicodec eval output folder")
    ap.add_argument("--from", dest="lo", type=float, default=0.1)
    ap.add_argument("--to", dest="hi", type=float, default=2.0)
    ap.add_argument("--metric", default="psnr-rgb")
    a = ap.parse_args()
    folder = Path(a.dir)
    ours = curve(folder / "roicodec.json", a.metric)
    print(f"{a.metric} margin of roicodec over each codec, {a.lo:g}-{a.hi:g} bpp where both curves reach ({folder})")
    print("| codec | overlap bpp | smallest margin (at bpp) | largest margin (at bpp) | roicodec below at |")
    print("|---|---|---|---|---|")
    for path in sorted(folder.glob("*.json")):
        if path.stem == "roicodec":
            continue
        theirs = curve(path, a.metric)
        lo = max(np.log(a.lo), ours[0][0], theirs[0][0])
        hi = min(np.log(a.hi), ours[0][-1], theirs[0][-1])
        if lo >= hi:
            print(f"| {path.stem} | none | | | |")
            continue
        grid = np.linspace(lo, hi, 200)
        margin = np.interp(grid, *ours) - np.interp(grid, *theirs)
        below = np.exp(grid[margin < 0])
        where = f"{below.min():.2f}-{below.max():.2f} bpp" if below.size else "nowhere"
        print(f"| {path.stem} | {np.exp(lo):.2f}-{np.exp(hi):.2f} | {margin.min():+.2f} dB ({np.exp(grid[margin.argmin()]):.2f}) "
              f"| {margin.max():+.2f} dB ({np.exp(grid[margin.argmax()]):.2f}) | {where} |")


if __name__ == "__main__":
    main()
