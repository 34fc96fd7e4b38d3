"""The HTTP side of `roicodec serve`: a Starlette app with one static page and a small JSON API.

    GET  /                              the page (static/index.html, app.js, app.css; nothing from the internet)
    POST /api/images                    multipart ``file`` -> {id, width, height, name, notes}
    GET  /api/images/{id}/image.png     the picture as the codec sees it (EXIF orientation applied)
    POST /api/images/{id}/auto-roi      -> {mask: PNG data URL (alpha = importance), sources}
    POST /api/jobs                      multipart ``image``, ``target``, ``unit`` (KB, KiB, bytes, bpp),
                                        ``strength``, ``effort``, optional ``mask`` PNG -> {id}
    GET  /api/jobs/{id}                 stage, progress, then the result (bytes, bpp, PSNR per codec, notes)
    GET  /api/jobs/{id}/files/{name}    rcz, roicodec.png, avif, avif.png, webp, webp.png, importance.png

Every error a user can cause is a 4xx with ``{"detail": one line}``, which the page shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import re
import warnings
from pathlib import Path

import numpy as np
import python_multipart  # noqa: F401  Starlette parses forms with it: fail at start, not at the first upload
from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..bitstream import MAX_PIXELS
from ..errors import RoicodecError
from ..images import prepare
from ..levels import DEFAULT_ROI_STRENGTH, EFFORT_STEPS
from ..models import RoiCodecWeights
from ..ratecontrol import Budget
from . import DEFAULT_MAX_PIXELS
from .jobs import Upload, Worker, auto_importance, data_url

STATIC = Path(__file__).with_name("static")
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
#: The most a target may ask for: an uncompressed 8-bit RGB picture.
MAX_BPP = 24.0
UNITS = {"bytes": 1, "kb": 1000, "kib": 1024, "mb": 1000_000}
log = logging.getLogger("roicodec.serve")


def create_app(max_pixels: int = DEFAULT_MAX_PIXELS, keep: int = 8) -> Starlette:
    """The app; ``keep`` pictures and results are held in memory (the oldest go first)."""
    worker = Worker(keep)
    max_pixels = max_pixels or MAX_PIXELS

    async def upload_image(request: Request) -> JSONResponse:
        form = await _form(request)
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise HTTPException(400, "no file in the upload (field 'file')")
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"the file is over {MAX_UPLOAD_BYTES // 2**20} MB")
        name = _stem(file.filename or "image")
        im = _open_image(data, file.filename or "the file", max_pixels)
        try:
            prepared = await _in_worker(worker, prepare, im)
        except RoicodecError as exc:
            raise HTTPException(415, _line(exc)) from None
        upload = Upload(name, prepared)
        key = worker.uploads.add(upload)
        w, h = prepared.size
        return JSONResponse({"id": key, "width": w, "height": h, "name": name, "notes": prepared.notes})

    async def image_png(request: Request) -> Response:
        upload = _upload(worker, request.path_params["id"])
        return Response(upload.png, media_type="image/png")

    async def auto_roi(request: Request) -> JSONResponse:
        upload = _upload(worker, request.path_params["id"])
        png, sources = await _in_worker(worker, auto_importance, upload)
        return JSONResponse({"mask": data_url(png), "sources": sources})

    async def start_job(request: Request) -> JSONResponse:
        form = await _form(request)
        upload = _upload(worker, str(form.get("image", "")))
        w, h = upload.prepared.size
        budget = _budget(str(form.get("target", "")), str(form.get("unit", "KB")), w * h)
        strength = _number(form.get("strength", DEFAULT_ROI_STRENGTH), "ROI strength")
        top = RoiCodecWeights.DEFAULT.value.config.level_range.high
        if not -top <= strength <= top:
            raise HTTPException(400, f"ROI strength must lie in [-{top:g}, {top:g}]")
        effort = _number(form.get("effort", 0), "effort")
        if effort not in range(len(EFFORT_STEPS)):
            raise HTTPException(400, f"effort must be 0 to {len(EFFORT_STEPS) - 1}")
        mask = await _mask(form.get("mask"), (w, h))
        key = worker.start_job(upload, budget, mask, strength, int(effort))
        return JSONResponse({"id": key})

    async def job_status(request: Request) -> JSONResponse:
        return JSONResponse(_job(worker, request.path_params["id"]).status())

    async def job_file(request: Request) -> Response:
        job = _job(worker, request.path_params["id"])
        name = request.path_params["name"]
        if name not in job.files:
            raise HTTPException(404, f"this result has no file {name!r}")
        data, media = job.files[name]
        headers = {}
        download = request.query_params.get("download")
        if download:
            headers["Content-Disposition"] = f'attachment; filename="{_stem(download, keep_suffix=True)}"'
        return Response(data, media_type=media, headers=headers)

    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def config(request: Request) -> JSONResponse:
        top = RoiCodecWeights.DEFAULT.value.config.level_range.high
        return JSONResponse({"max_pixels": max_pixels, "max_upload_bytes": MAX_UPLOAD_BYTES, "strength": DEFAULT_ROI_STRENGTH,
                             "strength_max": top, "efforts": len(EFFORT_STEPS)})

    routes = [
        Route("/", index),
        Route("/api/config", config),
        Route("/api/images", upload_image, methods=["POST"]),
        Route("/api/images/{id}/image.png", image_png),
        Route("/api/images/{id}/auto-roi", auto_roi, methods=["POST"]),
        Route("/api/jobs", start_job, methods=["POST"]),
        Route("/api/jobs/{id}", job_status),
        Route("/api/jobs/{id}/files/{name}", job_file),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        worker.close()

    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error, Exception: _server_error},
                    lifespan=lifespan)
    app.state.worker = worker
    return app


def run(host: str = "127.0.0.1", port: int = 8000, max_pixels: int = DEFAULT_MAX_PIXELS, open_browser: bool = False) -> None:
    """Serve the page until Ctrl-C."""
    import uvicorn

    app = create_app(max_pixels)
    url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0', '::') else host}:{port}/"
    print(f"roicodec serve: {url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, (url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")


# --- the checks behind each 4xx ---------------------------------------------------------------

async def _form(request: Request):
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_UPLOAD_BYTES + 2**20:
        raise HTTPException(413, f"the upload is over {MAX_UPLOAD_BYTES // 2**20} MB")
    if not request.headers.get("content-type", "").startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise HTTPException(400, "send a form (multipart/form-data)")
    try:
        return await request.form(max_files=2, max_fields=16)
    except Exception as exc:  # malformed multipart bodies
        raise HTTPException(400, f"cannot read the form: {_line(exc)}") from None


def _open_image(data: bytes, filename: str, max_pixels: int) -> Image.Image:
    if not data:
        raise HTTPException(400, "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError, OSError, ValueError):
        raise HTTPException(415, f"{filename} is not an image Pillow can read (PNG, JPEG, WebP, TIFF, ...)") from None
    w, h = im.size
    if w * h > max_pixels:
        raise HTTPException(413, f"the picture is {w}x{h} = {w * h / 1e6:.1f} MP; this server takes up to "
                                 f"{max_pixels / 1e6:g} MP (roicodec serve --max-pixels)")
    try:
        im.load()
    except Exception:
        raise HTTPException(415, f"{filename} is damaged or truncated") from None
    return im


def _budget(target: str, unit: str, pixels: int) -> dict:
    value = _number(target, "target")
    if value <= 0:
        raise HTTPException(400, "the target must be positive")
    unit = unit.strip().lower()
    if unit == "bpp":
        kwargs = {"bpp": value}
    elif unit in UNITS:
        kwargs = {"size": int(math.floor(value * UNITS[unit]))}
    else:
        raise HTTPException(400, f"unknown unit {unit!r} (KB, KiB, MB, bytes or bpp)")
    try:
        budget = Budget.parse(kwargs.get("bpp"), kwargs.get("size"), None, pixels, RoiCodecWeights.DEFAULT.value.config.level_range)
    except RoicodecError as exc:
        raise HTTPException(400, _line(exc)) from None
    if budget.size > MAX_BPP * pixels / 8:
        raise HTTPException(400, f"a target of {budget.size} bytes is more than the uncompressed picture "
                                 f"({int(MAX_BPP * pixels / 8)} bytes, 24 bpp)")
    return kwargs


def _number(value, what: str) -> float:
    try:
        x = float(str(value).strip())
    except ValueError:
        raise HTTPException(400, f"{what} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(x):
        raise HTTPException(400, f"{what} must be a finite number")
    return x


async def _mask(file, size: tuple[int, int]) -> np.ndarray | None:
    """The painted mask (its alpha, or its gray level without alpha) as importance in [0, 1]; None if empty."""
    if file is None or isinstance(file, str):
        return None
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception:
        raise HTTPException(415, "the ROI mask is not an image") from None
    if im.size != size:
        raise HTTPException(400, f"the ROI mask is {im.size[0]}x{im.size[1]}, the picture {size[0]}x{size[1]}")
    a = np.asarray(im.getchannel("A") if "A" in im.getbands() else im.convert("L"), dtype=np.float32) / 255
    return a if a.max() > 0 else None


def _upload(worker: Worker, key: str) -> Upload:
    upload = worker.uploads.get(key)
    if upload is None:
        raise HTTPException(404, "no such picture on the server (it keeps the last few): open it again")
    return upload


def _job(worker: Worker, key: str):
    job = worker.jobs.get(key)
    if job is None:
        raise HTTPException(404, "no such result on the server (it keeps the last few): compress again")
    return job


async def _in_worker(worker: Worker, fn, *args):
    return await asyncio.wrap_future(worker.submit(fn, *args))


def _stem(filename: str, keep_suffix: bool = False) -> str:
    """A safe download name: letters, digits, '-', '_' and '.'; the suffix dropped unless asked."""
    name = Path(filename.replace("\\", "/")).name
    if not keep_suffix:
        name = Path(name).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100].strip("._") or "image"


def _line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("request failed: %s", request.url.path)
    return JSONResponse({"detail": f"internal error: {_line(exc)}"}, status_code=500)
