"""The work the page asks for: the uploaded pictures, the automatic ROI, and one comparison job
(roicodec at the budget, then AVIF and WebP at the byte count roicodec reached), with its stages.

Everything goes through the public API (`roicodec.compress_detailed`, `decompress`, `inspect`, the ROI
functions and `evaluate.baselines`); nothing here knows how the encoder works. One worker thread runs
the heavy work, so requests queue instead of fighting over two cores.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from ..api import compress_detailed, decompress, inspect
from ..bitstream import BLOCK, coded_size
from ..errors import RoicodecError
from ..evaluate.baselines import CODECS, CodecUnavailable, at_most
from ..evaluate.metrics import bpp as bits_per_pixel
from ..evaluate.metrics import psnr
from ..images import PreparedImage
from ..roi import build_importance, roi_spec

#: The classical codecs shown beside roicodec, at the byte count of roicodec's file.
BASELINES = ("avif", "webp")
NAMES = {"avif": "AVIF", "webp": "WebP"}
log = logging.getLogger("roicodec.serve")


class LRU:
    """The last ``capacity`` items by id; a local tool keeps a few pictures and results, not a history."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, item) -> str:
        key = uuid.uuid4().hex[:16]
        with self._lock:
            self._items[key] = item
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str):
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item


@dataclass
class Upload:
    name: str  # the file's stem, for download names
    prepared: PreparedImage

    @property
    def png(self) -> bytes:
        return _png(Image.fromarray(self.prepared.rgb))


@dataclass
class Job:
    """One comparison; the page polls `status()` until the state is done or error."""

    stages: list[str]
    state: str = "queued"  # queued, running, done, error
    step: int = 0  # stages finished
    error: str | None = None
    result: dict | None = None
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # name -> (data, media type)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def advance(self, step: int) -> None:
        self.state, self.step = "running", step

    def status(self) -> dict:
        end = self.finished or time.monotonic()
        stage = self.stages[min(self.step, len(self.stages) - 1)] if self.state != "done" else "done"
        return {"state": self.state, "stage": stage, "step": self.step, "steps": len(self.stages),
                "stages": self.stages, "elapsed": round(end - self.started, 2), "error": self.error,
                "result": self.result}


class Worker:
    """The uploads, the jobs and the one thread that runs encodes and detectors."""

    def __init__(self, keep: int = 8) -> None:
        self.uploads = LRU(keep)
        self.jobs = LRU(keep)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roicodec-serve")

    def submit(self, fn, *args) -> Future:
        return self._pool.submit(fn, *args)

    def start_job(self, upload: Upload, budget: dict, mask: np.ndarray | None, strength: float, effort: int) -> str:
        stages = ["roicodec: rate control" + (f" and {('8', '20', '50')[effort - 1]} refinement steps" if effort else ""),
                  "roicodec: decoding"] + [f"{NAMES[name]} at the same byte count" for name in BASELINES]
        job = Job(stages)
        key = self.jobs.add(job)
        self._pool.submit(_run_job, job, upload, budget, mask, strength, effort)
        return key

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def auto_importance(upload: Upload) -> tuple[bytes, dict]:
    """`--roi auto` on the picture: the importance as a white PNG whose alpha is the importance (the
    page paints it into its mask), and what each source found."""
    importance, report = build_importance(upload.prepared.rgb, roi_spec("auto"))
    h, w = upload.prepared.rgb.shape[:2]
    if importance is None:
        importance = np.zeros((h, w), np.float32)
    la = np.dstack([np.full((h, w), 255, np.uint8), np.uint8(np.clip(importance, 0, 1) * 255 + 0.5)])
    sources = {name: {"detector": r["detector"], "coverage": round(float(r["coverage"]), 4)} for name, r in report.items()}
    return _png(Image.fromarray(la, "LA")), sources


def _run_job(job: Job, upload: Upload, budget: dict, mask: np.ndarray | None, strength: float, effort: int) -> None:
    try:
        _compare(job, upload, budget, mask, strength, effort)
        job.state = "done"
    except Exception as exc:  # one line on the page; the server log keeps the traceback of a bug
        job.state, job.error = "error", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not isinstance(exc, (RoicodecError, ValueError, OSError)):
            log.exception("job failed")
    finally:
        job.finished = time.monotonic()


def _compare(job: Job, upload: Upload, budget: dict, mask: np.ndarray | None, strength: float, effort: int) -> None:
    prepared = upload.prepared
    h, w = prepared.rgb.shape[:2]
    original = Image.fromarray(prepared.rgb)
    region = mask >= 0.5 if mask is not None and (mask >= 0.5).any() else None
    job.advance(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the notes below carry them
        res = compress_detailed(prepared, roi=mask, roi_strength=strength, effort=effort, **budget)
    job.advance(1)
    decoded = decompress(res.data)
    info = inspect(res.data)
    target = budget.get("size") or max(1, int(budget["bpp"] * w * h / 8))
    stem = upload.name
    job.files["rcz"] = (res.data, "application/octet-stream")
    job.files["roicodec.png"] = (_png(decoded), "image/png")
    rows = [{"codec": "roicodec", "bytes": len(res.data), "bpp": bits_per_pixel(len(res.data), w, h),
             "psnr": _db(psnr(original, decoded)), "psnr_roi": _db(psnr(original, decoded, region)) if region is not None else None,
             "image": "roicodec.png", "downloads": {"rcz": f"{stem}.rcz", "roicodec.png": f"{stem}_decoded.png"},
             "detail": f"base level {res.base_level:.2f}" + (f", ROI strength {res.roi_strength:g}" if info["has_roi"] else "")
             + (f", coded at {info['scale']:g}x" if info["scale"] != 1 else "")
             + (f", {res.refine_steps} refinement steps" if res.refine_steps else "")}]
    if res.blocks is not None:
        job.files["importance.png"] = (_png(importance_overlay(res.blocks, (w, h), res.scale)), "image/png")
    for i, name in enumerate(BASELINES):
        job.advance(2 + i)
        rows.append(_baseline(job, name, original, len(res.data), region, stem))
    notes = list(res.notes)  # rate control's say when the target was out of reach
    notes += [f"ROI source {name} ({r['detector']}) marks {100 * r['coverage']:.1f} % of the picture"
              for name, r in res.roi_sources.items() if name != "mask"]
    job.step = len(job.stages)
    job.result = {"width": w, "height": h, "target": target, "rows": rows, "notes": notes,
                  "importance": "importance.png" if "importance.png" in job.files else None}


def _baseline(job: Job, name: str, original: Image.Image, budget: int, region: np.ndarray | None, stem: str) -> dict:
    codec = CODECS[name]
    try:
        found = at_most(codec, original, budget)
    except CodecUnavailable as exc:
        return {"codec": name, "error": str(exc)}
    if found is None:
        return {"codec": name, "error": f"even its smallest file is over {budget} bytes"}
    data, quality = found
    decoded = Image.fromarray(codec.decode(data))
    w, h = original.size
    ext = {"avif": "avif", "webp": "webp"}[name]
    job.files[name] = (data, f"image/{ext}")
    job.files[f"{name}.png"] = (_png(decoded), "image/png")
    return {"codec": name, "bytes": len(data), "bpp": bits_per_pixel(len(data), w, h), "psnr": _db(psnr(original, decoded)),
            "psnr_roi": _db(psnr(original, decoded, region)) if region is not None else None, "image": f"{name}.png",
            "downloads": {name: f"{stem}.{ext}", f"{name}.png": f"{stem}_{name}.png"}, "detail": f"quality {quality}"}


def importance_overlay(blocks: np.ndarray, size: tuple[int, int], scale: int) -> Image.Image:
    """The importance the file carries (0..16 per 16x16 block of the picture coded at ``scale`` eighths)
    as a heat map whose alpha is the importance, at the picture's size: the page lays it over any view."""
    w, h = size
    cw, ch = coded_size(w, h, scale)
    imp = cv2.resize(blocks.astype(np.uint8), (blocks.shape[1] * BLOCK, blocks.shape[0] * BLOCK),
                     interpolation=cv2.INTER_NEAREST)[:ch, :cw]
    if (cw, ch) != (w, h):
        imp = cv2.resize(imp, (w, h), interpolation=cv2.INTER_NEAREST)
    level = np.uint8(np.clip(imp.astype(np.float32) / 16, 0, 1) * 255)
    heat = cv2.applyColorMap(level, cv2.COLORMAP_JET)[..., ::-1]
    alpha = np.uint8(np.clip(level.astype(np.float32) * 0.85, 0, 255))
    return Image.fromarray(np.dstack([heat, alpha]), "RGBA")


def _db(value: float) -> float | None:
    """A PSNR for JSON, which has no infinity: None where the pictures are equal."""
    return round(value, 3) if np.isfinite(value) else None


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
