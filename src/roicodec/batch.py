"""`roicodec batch SRC DST`: compress a folder tree on a local process pool or on Ray, resumably.

Orchestration only: each picture is one ``api.compress_detailed`` call with the options of
`roicodec compress`, in a worker that loaded the model once. The listing streams (one folder in
memory at a time), a bounded number of files is in flight, and each output is written atomically to
DST/<relative path>.rcz. One JSONL manifest line per finished file is the commit record: on a rerun a
file counts as done only if its last line says ok, was made with the same options, and its output
exists with the recorded size; everything else (no line, an error, a torn last line, a missing or
changed output) is done again. The manifest is JSONL, not Parquet, because it is appended to one
row at a time and must survive kill -9 between any two bytes: a torn last line is detectable and
dropped, and the file streams (docs/batch.md). This module imports no torch: workers do.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import atomic_write_bytes, atomic_write_text

MANIFEST = "manifest.jsonl"
#: Seconds between fsyncs of the manifest. kill -9 needs only the flush after each line (the kernel
#: holds the data); fsync guards against power loss, where at most this much work is redone.
FSYNC_EVERY_S = 1.0
#: Files per Ray task: results come back per chunk, not per file.
DEFAULT_CHUNK = 4


@dataclass(frozen=True)
class Job:
    """What to compress and how; ``options`` are compress_detailed's keywords (JSON values)."""

    src: Path
    dst: Path
    options: dict = field(default_factory=dict)
    weights: str | None = None
    psnr: bool = False
    threads: int = 1  # torch threads per worker
    shard: tuple[int, int] = (0, 1)  # this run takes the outputs whose crc32 % N == K

    def fingerprint(self) -> str:
        """The options that shape the bytes: a row made with other options is not done."""
        key = json.dumps({"options": self.options, "weights": self.weights}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def in_shard(self, output: str) -> bool:
        k, n = self.shard
        return n == 1 or zlib.crc32(output.encode()) % n == k


@dataclass
class Summary:
    ok: int = 0
    errors: int = 0
    skipped: int = 0  # done by an earlier run
    seconds: float = 0.0
    manifest: Path | None = None

    @property
    def rate(self) -> float:
        return (self.ok + self.errors) / self.seconds if self.seconds > 0 else 0.0


def image_extensions() -> set[str]:
    """Suffixes Pillow reads (lower case), .rcz excluded: the inputs a batch takes."""
    from PIL import Image

    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN} - {".rcz"}


def iter_inputs(src: Path, exclude: Path | None = None, extensions: set[str] | None = None) -> Iterator[tuple[str, str]]:
    """(source, output) paths relative to SRC and DST, depth first, sorted within a folder.

    Streams: one folder's entries at a time. Hidden entries and symlinked folders are skipped (no
    cycles), symlinked files are followed. photo.png -> photo.rcz; where two pictures of a folder share
    a stem (photo.png, photo.jpg) each keeps its suffix (photo.png.rcz, photo.jpg.rcz).
    """
    extensions = image_extensions() if extensions is None else extensions
    exclude = exclude.resolve() if exclude is not None else None
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(src / rel if rel else src) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        files, dirs = [], []
        for e in entries:
            if e.name.startswith("."):
                continue
            path = f"{rel}/{e.name}" if rel else e.name
            try:
                if e.is_dir(follow_symlinks=False):
                    if exclude is None or Path(e.path).resolve() != exclude:
                        dirs.append(path)
                elif os.path.splitext(e.name)[1].lower() in extensions and e.is_file():
                    files.append(path)
            except OSError:
                continue
        stems: dict[str, int] = {}
        for path in files:
            stem = os.path.splitext(path)[0]
            stems[stem] = stems.get(stem, 0) + 1
        for path in files:
            stem = os.path.splitext(path)[0]
            yield path, (stem if stems[stem] == 1 else path) + ".rcz"
        stack.extend(reversed(dirs))


class Manifest:
    """The append-only JSONL record, locked against a second run on the same file."""

    def __init__(self, path: Path, fingerprint: str):
        self.path, self.fingerprint = path, fingerprint
        path.parent.mkdir(parents=True, exist_ok=True)
        # A lock beside it, not on it: the manifest itself is replaced when it is compacted.
        self._lock = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise OSError(f"another roicodec batch is writing {path}") from None
            raise
        self._file = None
        self._synced = time.monotonic()

    def resume(self, dst: Path) -> set[str]:
        """The sources already done; the manifest is rewritten (atomically) to their rows alone."""
        rows: dict[str, dict] = {}
        total = 0
        if self.path.exists():
            with open(self.path, "rb") as f:
                for line in f:
                    total += 1
                    try:
                        row = json.loads(line)
                        rows[row["source"]] = row  # the last row of a source wins
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn line (kill -9 mid-write)
        done = {}
        for source, row in rows.items():
            if row.get("status") == "ok" and row.get("job") == self.fingerprint:
                try:
                    if (dst / row["output"]).stat().st_size == row["bytes"]:
                        done[source] = row
                except (OSError, KeyError, TypeError):
                    pass
        if len(done) != total:  # drop what will be redone, so that each input ends with one row
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in done.values()))
        self._file = open(self.path, "a", encoding="utf-8")
        return set(done)

    def append(self, row: dict) -> None:
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if time.monotonic() - self._synced >= FSYNC_EVERY_S:
            os.fsync(self._file.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
        os.close(self._lock)


def _remove_partials(folder: Path, rel: str, job: Job) -> None:
    """Temporary files a killed run left in an output folder (atomic.py names them .NAME.XXXX.part)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        if e.name.startswith(".") and e.name.endswith(".part"):
            name = e.name[1:].rsplit(".", 2)[0]
            if name.endswith(".rcz") and job.in_shard(f"{rel}/{name}" if rel else name):
                Path(e.path).unlink(missing_ok=True)


# --- the worker side: one model per process (local pool) or actor (Ray) ----------------------------

def init_worker(threads: int, weights: str | None) -> None:
    """Set torch's threads and load the model once, before the first file."""
    import torch

    torch.set_num_threads(threads)
    from .api import load_model

    load_model(weights)  # cached per process (models.load_model); the rate-chosen model loads on first use


def _init_local_worker(threads: int, weights: str | None, parent: int) -> None:
    """init_worker, and exit when the driver is gone (kill -9 leaves a pool's workers waiting forever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)  # a file being written stays a .part file, which the next run removes

    threading.Thread(target=watch, daemon=True).start()
    init_worker(threads, weights)


def encode_file(job: Job, source: str, output: str) -> dict:
    """Compress one picture to DST/output; a row for the manifest, with the error if it failed."""
    t0 = time.perf_counter()
    row: dict = {"source": source, "output": output}
    try:
        from .api import compress_detailed, decompress, load_model
        from .images import prepare

        model = load_model(job.weights) if job.weights else None
        prepared = prepare(job.src / source)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the same messages are in res.notes
            res = compress_detailed(prepared, model=model, **job.options)
        out = job.dst / output
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, res.data)
        w, h = prepared.size
        row.update(status="ok", bytes=len(res.data), bpp=round(8 * len(res.data) / (w * h), 6), width=w, height=h)
        if job.psnr:
            from .evaluate.metrics import psnr

            row["psnr"] = round(psnr(prepared.rgb, decompress(res.data, model=model, max_pixels=None,
                                                               precision=job.options.get("precision", "auto"))), 4)
        if res.notes:
            row["notes"] = list(res.notes)
        row["error"] = None
    except Exception as exc:  # one file's failure is recorded; the batch goes on
        message = str(exc).splitlines()[0] if str(exc) else ""
        row.update(status="error", error=f"{type(exc).__name__}: {message}".rstrip(": "))
    row["seconds"] = round(time.perf_counter() - t0, 3)
    row["job"] = job.fingerprint()
    return row


def _died(job: Job, source: str, output: str, why: str) -> dict:
    return {"source": source, "output": output, "status": "error", "error": why, "seconds": 0.0, "job": job.fingerprint()}


# --- backends: each turns a stream of (source, output) into a stream of rows -----------------------

def local_rows(job: Job, tasks: Iterable[tuple[str, str]], workers: int) -> Iterator[dict]:
    """A process pool of ``workers``, 2 files in flight per worker."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    tasks = iter(tasks)
    ctx = multiprocessing.get_context("spawn")  # no fork of a driver with threads

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_local_worker,
                                   initargs=(job.threads, job.weights, os.getpid()))

    pool, inflight, exhausted = new_pool(), {}, False
    try:
        while True:
            while not exhausted and len(inflight) < 2 * workers:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                else:
                    inflight[pool.submit(encode_file, job, *task)] = task
            if not inflight:
                return
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                task = inflight.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool:
                    broken = True
                    yield _died(job, *task, "worker process died (out of memory?) while this file was in flight")
            if broken:  # every other file in flight is lost with it: record them, start a new pool
                for task in inflight.values():
                    yield _died(job, *task, "worker process died (out of memory?) while this file was in flight")
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


class RayEncoder:
    """A Ray actor: one model, files in chunks."""

    def __init__(self, job: Job):
        self.job = job
        init_worker(job.threads, job.weights)

    def run(self, chunk: list[tuple[str, str]]) -> list[dict]:
        return [encode_file(self.job, *task) for task in chunk]


def ray_rows(job: Job, tasks: Iterable[tuple[str, str]], address: str, workers: int | None,
             chunk: int = DEFAULT_CHUNK) -> Iterator[dict]:
    """An actor per worker (``workers`` or the cluster's CPUs / threads), 2 chunks in flight per actor.

    ``address`` "local" starts a Ray on this machine; "auto" or "ray://host:port" joins a cluster,
    whose workers must have roicodec installed and see SRC and DST at the same paths.
    """
    try:
        import ray
    except ImportError:
        raise ValueError('--ray needs Ray: pip install "roicodec[ray]"') from None
    if address == "local":
        ray.init(num_cpus=(workers or len(os.sched_getaffinity(0))) * job.threads, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // job.threads)
        actor_class = ray.remote(num_cpus=job.threads, max_restarts=-1)(RayEncoder)
        actors = [actor_class.remote(job) for _ in range(n)]
        chunks = _chunks(tasks, chunk)
        inflight: dict = {}  # ref -> (actor index, chunk)

        def submit(i: int) -> bool:
            c = next(chunks, None)
            if c is not None:
                inflight[actors[i].run.remote(c)] = (i, c)
            return c is not None

        for i in list(range(n)) * 2:
            if not submit(i):
                break
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                i, c = inflight.pop(ref)
                try:
                    rows = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the actor or its node died: Ray restarts the actor
                    why = f"Ray worker failed while this file was in flight: {type(exc).__name__}"
                    rows = [_died(job, *task, why) for task in c]
                yield from rows
                submit(i)
    finally:
        ray.shutdown()


def _chunks(tasks: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    chunk: list = []
    for task in tasks:
        chunk.append(task)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- the driver ------------------------------------------------------------------------------------

def run_batch(job: Job, *, workers: int | None = None, ray_address: str | None = None, chunk: int = DEFAULT_CHUNK,
              manifest: Path | None = None, progress: bool = True,
              on_row: Callable[[dict], None] | None = None) -> Summary:
    """Compress every picture under job.src that is not done yet; the summary of this run."""
    if not job.src.is_dir():
        raise NotADirectoryError(f"not a folder: {job.src}")
    job.dst.mkdir(parents=True, exist_ok=True)
    workers = workers or (None if ray_address else len(os.sched_getaffinity(0)))
    k, n = job.shard
    summary = Summary(manifest=manifest or job.dst / (MANIFEST if n == 1 else f"manifest.{k}-of-{n}.jsonl"))
    record = Manifest(summary.manifest, job.fingerprint())
    bar = None
    try:
        done = record.resume(job.dst)
        extensions = image_extensions()
        seen: set[str] = set()  # output folders cleaned of partial files in this run

        def todo() -> Iterator[tuple[str, str]]:
            for source, output in iter_inputs(job.src, job.dst, extensions):
                if not job.in_shard(output):
                    continue
                if source in done:
                    summary.skipped += 1
                    continue
                folder = os.path.dirname(output)
                if folder not in seen:  # before the folder's first file is handed out
                    seen.add(folder)
                    _remove_partials(job.dst / folder, folder, job)
                yield source, output

        count: list[int] = []
        if progress:
            from tqdm import tqdm

            bar = tqdm(unit="img", desc="roicodec batch", dynamic_ncols=True, smoothing=0.1)
            # the total, counted beside the work so that the first file starts at once
            threading.Thread(target=lambda: count.append(sum(job.in_shard(o) for _, o in iter_inputs(
                job.src, job.dst, extensions))), daemon=True).start()
        rows = ray_rows(job, todo(), ray_address, workers, chunk) if ray_address else local_rows(job, todo(), workers)
        t0 = time.perf_counter()
        try:
            for row in rows:
                row["finished"] = round(time.time(), 3)  # throughput over time, from the manifest alone
                record.append(row)
                if row["status"] == "ok":
                    summary.ok += 1
                else:
                    summary.errors += 1
                if on_row is not None:
                    on_row(row)
                if bar is not None:
                    if count and bar.total != count[0] - summary.skipped:
                        bar.total = count[0] - summary.skipped
                    bar.set_postfix(skipped=summary.skipped, errors=summary.errors, refresh=False)
                    bar.update(1)
        finally:
            rows.close()
            summary.seconds = time.perf_counter() - t0
    finally:
        if bar is not None:
            bar.close()
        record.close()
    return summary
