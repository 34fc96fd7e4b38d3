"""Peak memory and wall time of encoding and decoding big pictures (issue 25, part 3), each in a fresh process.

    python benchmarks/memory.py [--sizes 3840x2160,8640x5760] [--bpp 0.3] [--encode-max WxH] [--src DIR]

For each size a natural-ish picture is made: a mosaic of the Kodak images (``../shared/data/kodak``,
at their own resolution, so the detail is a photo's; the synthetic test card where Kodak is absent).
Each picture is encoded with ``roicodec compress --bpp`` (rate control, the default settings) and the
file decoded with ``roicodec decompress``, each step as the console script runs it, in its own process;
the table gives the wall time, the CPU time (user + system: less sensitive to a busy machine than the
wall time) and the peak RSS (``os.wait4``'s ru_maxrss of that process) of every step.
Sizes above ``--encode-max`` pixels (default 3840x2160) are encoded at ``--quality`` instead (no search;
the decode is what is measured there). The load of the process that only loads the model
(``import roicodec; roicodec.load_model()``) is the floor. Run one at a time on a quiet machine; the
environment's OMP_NUM_THREADS (if set) reaches the children. docs/memory.md has the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
CLI = "import sys; from roicodec.cli import main; sys.argv[0] = 'roicodec'; sys.exit(main())"


def run_once(argv: list[str], env: dict) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(argv[3:])} failed: {err.strip()[-800:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # KiB on Linux


def mosaic(width: int, height: int, path: Path) -> str:
    """A width x height picture tiled from the Kodak images (or the test card) at their own scale."""
    import numpy as np
    from PIL import Image

    sources = sorted(KODAK.glob("*.png"))
    if sources:
        tiles = [np.asarray(Image.open(p).convert("RGB")) for p in sources]
        what = f"mosaic of {len(tiles)} Kodak images"
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import synthetic_image

        tiles = [np.asarray(synthetic_image(768, 512, seed=s)) for s in range(4)]
        what = "mosaic of synthetic test cards (no ../shared/data/kodak)"
    canvas = np.zeros((height, width, 3), np.uint8)
    k, y = 0, 0
    while y < height:
        x, row_h = 0, 0
        while x < width:
            t = tiles[k % len(tiles)]
            k += 1
            h, w = min(t.shape[0], height - y), min(t.shape[1], width - x)
            canvas[y:y + h, x:x + w] = t[:h, :w]
            x += w
            row_h = max(row_h, h)
        y += row_h
    Image.fromarray(canvas).save(path, compress_level=1)
    return what


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3840x2160,8640x5760", help="comma-separated WxH")
    ap.add_argument("--bpp", default="0.3", help="the encode's budget (--bpp)")
    ap.add_argument("--quality", default="3", help="the level that codes pictures above --encode-max")
    ap.add_argument("--encode-max", default="3840x2160", help="largest picture encoded with rate control")
    ap.add_argument("--decode-args", default="", help="extra decompress options, e.g. '--max-memory 2GB'")
    ap.add_argument("--src", type=Path, help="the src folder of the roicodec to measure (default: the installed one)")
    ap.add_argument("--keep", type=Path, help="keep the pictures and files in this folder")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve()), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    py = sys.executable
    ew, eh = (int(v) for v in args.encode_max.split("x"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        floor = run_once([py, "-c", "import roicodec; roicodec.load_model(); roicodec.load_model('highrate-v1')"], env)
        rows.append(("load both models (floor)", "", *floor))
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            png, rcz, out = folder / f"{size}.png", folder / f"{size}.rcz", folder / f"{size}_decoded.png"
            if not png.exists():
                what = mosaic(w, h, png)
            else:
                what = "picture kept from an earlier run"
            how = ["--bpp", args.bpp] if w * h <= ew * eh else ["--quality", args.quality]
            enc = run_once([py, "-c", CLI, "compress", str(png), "-o", str(rcz), *how, "-q"], env)
            rows.append((f"compress {size} {' '.join(how)}", f"{8 * rcz.stat().st_size / (w * h):.3f} bpp", *enc))
            dec = run_once([py, "-c", CLI, "decompress", str(rcz), "-o", str(out), "-q", *args.decode_args.split()], env)
            rows.append((f"decompress {size} ({w * h / 1e6:.1f} MP)", what, *dec))
            out.unlink(missing_ok=True)
    where = subprocess.run([py, "-c", "import roicodec; print(roicodec.__file__)"], env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    print(f"roicodec from {where}")
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {os.getloadavg()[0]:.2f} "
          f"after the runs; peak RSS = os.wait4 ru_maxrss of each process")
    print("| step | note | wall s | CPU s | peak RSS MiB |")
    print("|---|---|---:|---:|---:|")
    for name, note, wall, cpu, rss in rows:
        print(f"| `{name}` | {note} | {wall:.1f} | {cpu:.1f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
