"""`roicodec batch` throughput (issue 26, part 3): images per second, local process pool against local Ray.

    python benchmarks/batch_throughput.py [--images ../shared/data/kodak] [--copies 10] [--bpp 0.25] [--workers 2]

Builds a tree of ``--copies`` folders of symlinks to the Kodak pictures (240 files for ×10), runs
``roicodec batch SRC DST --bpp 0.25 --workers N`` once per backend (``--backends local,ray``) as a
fresh process, and prints per backend: files, wall time of the whole command, images/s end to end
(start-up and model loads included), images/s in steady state (the files the manifest records as
finished after the first result came back, over that span), and the mean encode seconds per file. Every run must record every file
as ok. docs/batch.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from roicodec.cli import main; sys.argv[0] = 'roicodec'; sys.exit(main())"


def build_tree(images: Path, copies: int, root: Path) -> int:
    pictures = sorted(p for p in images.iterdir() if p.suffix.lower() == ".png")
    for c in range(copies):
        folder = root / f"copy{c:02d}"
        folder.mkdir(parents=True)
        for p in pictures:
            (folder / p.name).symlink_to(p.resolve())
    return copies * len(pictures)


def run(backend: str, src: Path, dst: Path, bpp: float, workers: int) -> dict:
    argv = [sys.executable, "-c", CLI, "batch", str(src), str(dst), "--bpp", str(bpp), "--workers", str(workers), "-q"]
    if backend == "ray":
        argv += ["--ray", "local"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{backend}: exit {proc.returncode}: {proc.stderr.strip()[-800:]}")
    rows = [json.loads(line) for line in (dst / "manifest.jsonl").read_text().splitlines()]
    assert all(r["status"] == "ok" for r in rows), [r for r in rows if r["status"] != "ok"][:3]
    finished = sorted(r["finished"] for r in rows)
    return {"backend": backend, "files": len(rows), "wall_s": wall, "images_per_s": len(rows) / wall,
            # files finished after the first result came back, over that span (Ray returns a chunk at once)
            "steady_images_per_s": sum(f > finished[0] for f in finished) / (finished[-1] - finished[0])
            if finished[-1] > finished[0] else float("nan"),
            "mean_encode_s": statistics.mean(r["seconds"] for r in rows),
            "mean_bpp": statistics.mean(r["bpp"] for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--bpp", type=float, default=0.25)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backends", default="local,ray")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        n = build_tree(args.images, args.copies, src)
        print(f"{n} files (Kodak x{args.copies}), --bpp {args.bpp}, {args.workers} workers, "
              f"{os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.2f}")
        results = [run(b, src, Path(tmp) / f"out-{b}", args.bpp, args.workers) for b in args.backends.split(",")]
    print(f"{'backend':<8} {'files':>5} {'wall s':>7} {'img/s':>6} {'steady img/s':>12} {'encode s/img':>12} {'mean bpp':>8}")
    for r in results:
        print(f"{r['backend']:<8} {r['files']:>5} {r['wall_s']:>7.1f} {r['images_per_s']:>6.2f} "
              f"{r['steady_images_per_s']:>12.2f} {r['mean_encode_s']:>12.2f} {r['mean_bpp']:>8.4f}")


if __name__ == "__main__":
    main()
