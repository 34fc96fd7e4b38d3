"""The .rcz fuzzer (fuzz/fuzz_rcz.py): its seed corpus, and a short run of 20 000 inputs with no finding."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import roicodec
from roicodec import bitstream

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"
RUNS = 20_000


def test_corpus_matches_its_manifest_and_decodes():
    """Every seed is listed with its digest, parses, and decodes to the size the header states."""
    listed = {name: digest for digest, name in (line.split("  ") for line in (CORPUS / "MANIFEST").read_text().splitlines())}
    files = {p.name: p for p in CORPUS.glob("*.rcz")}
    assert listed.keys() == files.keys()
    assert sum(p.stat().st_size for p in files.values()) < 1 << 20
    kinds = set()
    for name, path in sorted(files.items()):
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == listed[name], name
        f = bitstream.peek_header(data)["file"]
        info = roicodec.inspect(data)
        image = roicodec.decompress(data)
        assert (image.size, image.mode) == ((f.width, f.height), f.mode), name
        kinds |= {info["model"], f.mode, f"scale {f.scale}", "roi" if info["has_roi"] else "uniform",
                  "tiny" if f.width * f.height < 64 else "picture", name.split("-")[0]}
    assert {"fidelity-v1", "highrate-v1", "RGB", "L", "scale 8", "scale 12", "scale 16", "scale 6",
            "roi", "uniform", "tiny", "picture", "release", "fid", "hr"} <= kinds


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is not installed (pip install atheris)")
def test_short_fuzz_run_has_no_finding(tmp_path):
    """20 000 inputs in a subprocess (a crash fails the test, not pytest): no finding, no hang, no excess allocation."""
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", FUZZ_STATS=str(tmp_path / "stats.txt"))
    start = time.monotonic()
    run = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "fuzz_rcz.py"), str(work), str(CORPUS), f"-runs={RUNS}", "-seed=1",
         "-print_final_stats=1", f"-artifact_prefix={tmp_path}/"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    seconds = time.monotonic() - start
    log = run.stdout + run.stderr
    findings = sorted(p.name for p in tmp_path.iterdir() if re.match(r"(crash|timeout|oom|leak|slow-unit)-", p.name))
    assert run.returncode == 0 and not findings, f"fuzzer finding {findings}:\n{log[-6000:]}"
    assert f"Done {RUNS} runs" in log, log[-3000:]
    stats = dict(item.split("=") for item in (tmp_path / "stats.txt").read_text().split())
    assert int(stats["inputs"]) == RUNS
    assert int(stats["decoded"]) > 100, stats  # the run reached the decoder, not only the CRC check
    print(f"{RUNS} inputs in {seconds:.0f} s: {stats}")
