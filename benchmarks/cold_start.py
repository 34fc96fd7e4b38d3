"""Cold start (issue 25): wall time and peak memory of starting roicodec, each run a fresh process.

    python benchmarks/cold_start.py [--runs 5] [--src DIR]

Measures ``python -c "import torch"`` (the floor), ``import roicodec``, ``import roicodec.api`` (what
compress / decompress import), loading the shipped model (what ``info`` and ``decompress`` do
before their own work), ``roicodec --version``, ``--help``, ``info`` and ``decompress`` of a
file it first makes from examples/card.png (so it needs nothing from ../shared). The commands run
round-robin, ``--runs`` times each, and the table gives the median wall time, the spread (min-max) and
the median peak RSS of the process (``os.wait4``'s rusage of that one child). ``--src`` runs another
tree's ``src`` (e.g. an older commit from ``git archive``) through PYTHONPATH, for a before/after.
The CLI runs as the ``roicodec`` console script does (``from roicodec.cli import main``), so both
trees start the same way. docs/cold_start.md has the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from roicodec.cli import main; sys.argv[0] = 'roicodec'; sys.exit(main())"


def run_once(argv: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.strip()[-500:]}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs of each command (median reported; at least 5)")
    ap.add_argument("--src", type=Path, help="the src folder of the roicodec to measure (default: the installed one)")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve()), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        rcz, png = Path(tmp) / "card.rcz", Path(tmp) / "card.png"
        subprocess.run([py, "-c", CLI, "compress", str(ROOT / "examples" / "card.png"), "-o", str(rcz),
                        "--bpp", "0.3", "-q"], env=env, check=True)
        where = subprocess.run([py, "-c", "import roicodec; print(roicodec.__file__)"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        commands = {
            'python -c "import torch"': [py, "-c", "import torch"],
            'python -c "import roicodec"': [py, "-c", "import roicodec"],
            'python -c "import roicodec.api"': [py, "-c", "import roicodec.api"],
            'python -c "import roicodec; roicodec.load_model()"': [py, "-c", "import roicodec; roicodec.load_model()"],
            "roicodec --version": [py, "-c", CLI, "--version"],
            "roicodec --help": [py, "-c", CLI, "--help"],
            "roicodec info card.rcz": [py, "-c", CLI, "info", str(rcz)],
            "roicodec decompress card.rcz": [py, "-c", CLI, "decompress", str(rcz), "-o", str(png), "-q"],
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        run_once([py, "-c", "import roicodec.api"], env)  # warm the page cache and .pyc files, not measured
        for _ in range(max(args.runs, 1)):
            for name, argv in commands.items():
                results[name].append(run_once(argv, env))
    print(f"roicodec from {where}")
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} after the runs, {args.runs} runs each, "
          f"peak RSS = os.wait4 ru_maxrss of each process")
    floor = statistics.median(w for w, _ in results['python -c "import torch"'])
    print(f"| command | wall s (median) | min-max | vs import torch | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in results.items():
        walls = [w for w, _ in rows]
        med = statistics.median(walls)
        rss = statistics.median(r for _, r in rows)
        print(f"| `{name}` | {med:.2f} | {min(walls):.2f}-{max(walls):.2f} | {med - floor:+.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
