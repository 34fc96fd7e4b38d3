"""`roicodec batch`: a tree in, the same tree of .rcz out, one manifest row per input, resumable after kill -9."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import roicodec
from roicodec import cli
from roicodec.batch import Job, Manifest, iter_inputs

from .conftest import synthetic_image

W, H = 64, 48


def _tree(root: Path, n: int, corrupt: bool = True) -> list[str]:
    """n tiny pictures over three folders (PNG and JPEG), a corrupt one and a text file; the image paths."""
    paths = []
    for i in range(n):
        rel = ["", "a/", "a/b/"][i % 3] + f"img{i:02d}" + (".jpg" if i % 4 == 3 else ".png")
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        synthetic_image(W, H, seed=i).save(root / rel)
        paths.append(rel)
    if corrupt:
        (root / "a" / "broken.png").write_bytes(b"not a picture")
        paths.append("a/broken.png")
    (root / "notes.txt").write_text("not an input")
    return paths


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_listing_streams_sorted_mirrors_names_and_skips_hidden_and_dst(tmp_path):
    for rel in ("b/x.png", "a.png", "a.jpg", "c.PNG", ".hidden.png", "out/old.png", "doc.txt", "z.rcz"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    got = list(iter_inputs(tmp_path, exclude=tmp_path / "out"))
    assert got == [("a.jpg", "a.jpg.rcz"), ("a.png", "a.png.rcz"), ("c.PNG", "c.rcz"), ("b/x.png", "b/x.rcz")]


def test_shards_partition_the_outputs():
    outputs = [f"d{i % 7}/f{i}.rcz" for i in range(200)]
    takes = [[o for o in outputs if Job(Path("."), Path("."), shard=(k, 3)).in_shard(o)] for k in range(3)]
    assert sorted(sum(takes, [])) == sorted(outputs) and all(takes)


def test_manifest_resume_keeps_only_finished_rows_and_drops_a_torn_line(tmp_path):
    (tmp_path / "ok.rcz").write_bytes(b"12345")
    (tmp_path / "short.rcz").write_bytes(b"12")
    rows = [{"source": "ok.png", "output": "ok.rcz", "status": "ok", "bytes": 5, "job": "J"},
            {"source": "short.png", "output": "short.rcz", "status": "ok", "bytes": 5, "job": "J"},  # changed
            {"source": "gone.png", "output": "gone.rcz", "status": "ok", "bytes": 5, "job": "J"},  # no output
            {"source": "err.png", "output": "err.rcz", "status": "error", "error": "x", "job": "J"},  # retried
            {"source": "other.png", "output": "ok.rcz", "status": "ok", "bytes": 5, "job": "K"}]  # other options
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"source": "torn.png", "out')
    m = Manifest(path, "J")
    with pytest.raises(OSError, match="another roicodec batch"):
        Manifest(path, "J")
    assert m.resume(tmp_path) == {"ok.png"}
    m.append({"source": "next.png"})
    m.close()
    assert [r["source"] for r in _rows(path)] == ["ok.png", "next.png"]


def test_batch_compresses_a_tree_records_errors_and_goes_on(tmp_path, capsys):
    inputs = _tree(tmp_path / "src", 6)
    dst = tmp_path / "out"
    rc = cli.main(["batch", str(tmp_path / "src"), str(dst), "--bpp", "1.0", "--workers", "2", "--psnr", "-q"])
    assert rc == 1  # the corrupt file
    assert "1 failed" in capsys.readouterr().err
    rows = {r["source"]: r for r in _rows(dst / "manifest.jsonl")}
    assert sorted(rows) == sorted(inputs)
    assert rows["a/broken.png"]["status"] == "error" and "broken.png" in rows["a/broken.png"]["error"]
    for source in inputs[:-1]:
        row = rows[source]
        assert row["status"] == "ok" and row["error"] is None and row["seconds"] > 0 and row["psnr"] > 15
        data = (dst / row["output"]).read_bytes()
        assert row["output"] == source.rsplit(".", 1)[0] + ".rcz" and len(data) == row["bytes"]
        assert len(data) <= 1.0 * W * H / 8 and row["bpp"] <= 1.0  # the budget
        assert roicodec.decompress(data).size == (W, H)
    assert not list(dst.rglob("*.part"))


def _count_outputs(dst: Path) -> int:
    return sum(1 for _ in dst.rglob("*.rcz")) if dst.exists() else 0


def test_kill_minus_9_mid_batch_then_rerun_leaves_every_output_complete(tmp_path, model):
    n = 12
    inputs = _tree(tmp_path / "src", n, corrupt=False)
    dst = tmp_path / "out"
    cmd = [sys.executable, "-m", "roicodec.cli", "batch", str(tmp_path / "src"), str(dst), "--quality", "3",
           "--workers", "1", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _count_outputs(dst) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _count_outputs(dst)
    assert 1 <= killed_at < n, "the batch finished before it could be killed"

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = _rows(dst / "manifest.jsonl")
    assert sorted(r["source"] for r in rows) == sorted(inputs)  # exactly one row per input
    assert all(r["status"] == "ok" for r in rows)
    assert not list(dst.rglob("*.part"))
    for row in rows:
        data = (dst / row["output"]).read_bytes()
        assert len(data) == row["bytes"]
        assert roicodec.decompress(data, model=model).size == (W, H)
        assert data == roicodec.compress(tmp_path / "src" / row["source"], quality=3, model=model), row["source"]


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install -e '.[ray]')")
def test_batch_on_local_ray_writes_the_same_files_and_manifest(tmp_path):
    inputs = _tree(tmp_path / "src", 2)
    dst = tmp_path / "out"
    rc = cli.main(["batch", str(tmp_path / "src"), str(dst), "--quality", "3", "--ray", "local", "--workers", "1",
                   "--chunk", "2", "-q"])
    assert rc == 1
    rows = {r["source"]: r for r in _rows(dst / "manifest.jsonl")}
    assert sorted(rows) == sorted(inputs)
    assert [rows[s]["status"] for s in inputs] == ["ok", "ok", "error"]
    for source in inputs[:2]:
        assert (dst / rows[source]["output"]).read_bytes() == roicodec.compress(tmp_path / "src" / source, quality=3)
