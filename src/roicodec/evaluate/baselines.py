"""Classical codecs at a given quality or within a byte budget.

Each codec is a function quality -> bytes plus a decoder; `at_most(codec, image, budget)`
bisects the quality setting for the largest file that fits. A codec whose library or
tool is missing raises CodecUnavailable, which callers report and skip.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, features


class CodecUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Codec:
    name: str
    encode: Callable[[Image.Image, int], bytes]  # quality (integer, higher = better)
    decode: Callable[[bytes], np.ndarray]
    qmin: int
    qmax: int


def _pil_decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _pil_codec(name: str, fmt: str, feature: str | None, **opts) -> Codec:
    def encode(im: Image.Image, q: int) -> bytes:
        if feature and not features.check(feature):
            raise CodecUnavailable(f"Pillow has no {feature} support")
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format=fmt, quality=int(q), **opts)
        return buf.getvalue()

    return Codec(name, encode, _pil_decode, 1 if fmt != "AVIF" else 0, 100)


def _jxl() -> Codec:
    def encode(im: Image.Image, q: int) -> bytes:
        try:
            import imagecodecs
        except ImportError:
            raise CodecUnavailable("imagecodecs is not installed") from None
        if not imagecodecs.JPEGXL.available:
            raise CodecUnavailable("imagecodecs has no JPEG XL")
        return bytes(imagecodecs.jpegxl_encode(np.asarray(im.convert("RGB")), level=int(q), effort=7))

    def decode(data: bytes) -> np.ndarray:
        import imagecodecs

        return np.asarray(imagecodecs.jpegxl_decode(data))[..., :3]

    return Codec("jxl", encode, decode, 1, 100)


def _hevc() -> Codec:
    """HEVC intra via ffmpeg + libx265, 4:4:4, one frame: the engine inside BPG."""

    def run(args: list[str]) -> None:
        r = subprocess.run(args, capture_output=True)
        if r.returncode:
            raise CodecUnavailable(f"ffmpeg failed: {r.stderr.decode(errors='replace').strip().splitlines()[-1:]}")

    def encode(im: Image.Image, q: int) -> bytes:
        if not shutil.which("ffmpeg"):
            raise CodecUnavailable("ffmpeg is not installed")
        qp = 51 - int(q)
        with tempfile.TemporaryDirectory() as d:
            src, out = Path(d) / "in.png", Path(d) / "out.hevc"
            im.convert("RGB").save(src)
            run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-c:v", "libx265", "-pix_fmt", "yuv444p",
                 "-x265-params", f"qp={qp}:keyint=1:log-level=error", "-frames:v", "1", "-f", "hevc", str(out)])
            return out.read_bytes()

    def decode(data: bytes) -> np.ndarray:
        with tempfile.TemporaryDirectory() as d:
            src, out = Path(d) / "in.hevc", Path(d) / "out.png"
            src.write_bytes(data)
            run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-pix_fmt", "rgb24", str(out)])
            return np.asarray(Image.open(out).convert("RGB"))

    return Codec("hevc", encode, decode, 0, 51)


CODECS: dict[str, Codec] = {
    "jpeg": _pil_codec("jpeg", "JPEG", None, subsampling=0),
    "webp": _pil_codec("webp", "WEBP", "webp", method=6),
    "avif": _pil_codec("avif", "AVIF", "avif", subsampling="4:4:4", speed=6),
    "jxl": _jxl(),
    "hevc": _hevc(),
}


def at_most(codec: Codec, im: Image.Image, budget: int) -> tuple[bytes, int] | None:
    """Largest file of this codec that fits the budget, with its quality; None if even the smallest does not."""
    lo, hi = codec.qmin, codec.qmax
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        data = codec.encode(im, mid)
        if len(data) <= budget:
            best = (data, mid)
            lo = mid + 1
        else:
            hi = mid - 1
    return best
