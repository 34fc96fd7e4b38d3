"""The .rcz fuzzer (fuzz/fuzz_rcz.py): its seed corpus, and a short run of 20 000 inputs with no finding."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

import roicodec
from roicodec import bitstream

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"
RUNS = 20_000



def crafted(seed: str, width: int, height: int, payload: int | None = 0) -> bytes:
    """A file with valid CRC, the model and quality of corpus file ``seed``, another size, no ROI, and
    payloads cut to ``payload`` bytes (None: kept)."""
    f = bitstream.peek_header((CORPUS / seed).read_bytes())["file"]
    cut = (lambda p: p) if payload is None else (lambda p: p[:payload])
    out = bytearray(bitstream.MAGIC) + bytes([bitstream.VERSION]) + f.model_id + bitstream.encode_varint(width) + bitstream.encode_varint(height)
    out += bytes([0]) + round(f.base_level * bitstream.BASE_LEVEL_STEPS).to_bytes(2, "little", signed=True) + bytes(2)
    out += bitstream.encode_varint(0) + bitstream.encode_varint(len(cut(f.z_payload))) + cut(f.z_payload) + bytes([len(f.y_payloads)])
    for p in f.y_payloads:
        out += bitstream.encode_varint(len(cut(p))) + cut(p)
    return bytes(out) + zlib.crc32(out).to_bytes(4, "little")


@pytest.mark.parametrize("seed", ["fid-bpp0.3.rcz", "hr-bpp0.8.rcz"])
@pytest.mark.parametrize("payload", [0, 3])
def test_short_payloads_decode_the_same_every_time(seed, payload):
    """Found while writing the fuzzer: CompressAI's rANS decoder does not check bounds, so payloads shorter
    than their symbols need made it read past them (pixels from the heap). The decoder pads them with zeros."""
    data = crafted(seed, 160, 96, payload)
    first = roicodec.decompress(data).tobytes()
    churn = [bytearray(os.urandom(4096)) for _ in range(64)]  # other bytes where an over-read would land
    assert roicodec.decompress(data).tobytes() == first
    del churn


def test_empty_payloads_of_a_big_picture_do_not_crash():
    """Found while writing the fuzzer (its decode cap keeps it below this size): a 37-byte 1024x1024 file with
    empty payloads and a valid CRC crashed the process (segfault: the rANS decoder read past the payload).
    Decoded in a subprocess, so a crash fails the test."""
    data = crafted("hr-bpp0.8.rcz", 1024, 1024)
    assert len(data) < 40
    code = ("import sys, roicodec; im = roicodec.decompress(sys.stdin.buffer.read()); "
            "print(im.size, im.mode)")
    run = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert run.stdout.decode().strip() == "(1024, 1024) RGB"


def test_decode_limit_counts_the_padded_picture():
    """Found by the fuzzer (a hang): a 12288x1 strip is decoded as 64x12288 pixels (2.7 s); the limit counted 12 288.
    At the default limit a 1x2^20 header (a few dozen bytes) asked for 64 Mpixels, ~20 GB."""
    with pytest.raises(roicodec.errors.DecodeLimitError, match="padded"):
        roicodec.decompress(crafted("fid-bpp0.3.rcz", 12288, 1), max_pixels=1 << 16)
    with pytest.raises(roicodec.errors.DecodeLimitError):
        # 64x2^20 decoded needs ~3.4 GB (bitstream.decode_memory): under the default 8 GiB since tiling
        roicodec.decompress(crafted("hr-bpp0.8.rcz", bitstream.MAX_SIDE, 1), max_memory=2 << 30)
    assert roicodec.decompress(crafted("fid-bpp0.3.rcz", 256, 200, None), max_pixels=256 * 256).size == (256, 200)


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
