"""The .rcz container: every byte of the format lives in this module (see docs/bitstream.md).

Layout (integers little-endian, ``varint`` = unsigned LEB128, at most 5 bytes):

    magic        4   b"\\x89RCZ"
    version      1   1, or 2 when the image is coded at another scale than its own
    model_id     8   first 8 bytes of SHA-256 over the weights (weights.compute_model_id)
    width        varint  1 .. MAX_SIDE
    height       varint  1 .. MAX_SIDE
    mode         1   0 = RGB, 1 = L (grayscale)
    scale        1   version 2 only: coding scale in eighths, SCALE_MIN .. SCALE_MAX, not 8;
                     the coded image is coded_size(width, height, scale) (version 1: scale 8)
    base_level   2   i16, quality level x 4096 (min_level x 4096 .. (K-1) x 4096; files
                     written before min_level existed hold 0 .. (K-1) x 4096 and read the same)
    roi_strength 2   i16, quality levels x 256
    map_length   varint  0 = no importance map (uniform quality)
    map          map_length bytes: zlib stream of uint8 importance per 16x16 block, 0..16
    z_length     varint, then z payload (rANS)
    groups       1   number of latent channel groups G
    G x (varint length, payload)  rANS stream of each group, anchors then non-anchors
    crc32        4   CRC-32 (zlib) of every byte before it

The decoder's quality map is q = clamp(base_level + roi_strength * map / 16, min_level, K-1)
at latent resolution, ceil(coded height/64)*4 x ceil(coded width/64)*4 blocks.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import BitstreamError
from .levels import LevelRange

if TYPE_CHECKING:
    import numpy as np
# numpy is imported where a map is written or read, not here: `import roicodec` (the Pillow plugin)
# and `roicodec --version` import this module, and numpy alone would be most of their start (issue 25).

MAGIC = b"\x89RCZ"
VERSION = 1
#: Files coded at a scale other than 1 carry a scale byte and this version; scale-1 files stay
#: version 1, so every file an older roicodec could write or read is still written the same way.
VERSION_SCALED = 2
#: Coding scale in eighths of the image's own size: 8 = the image as it is.
SCALE_ONE = 8
SCALE_MIN, SCALE_MAX = 4, 32
MODEL_ID_BYTES = 8
MAX_SIDE = 1 << 20
MAX_PIXELS = 1 << 28
#: Decoding memory per pixel of a picture decoded in one piece, whole-tensor, on CPU (measured: +156 MiB
#: at 0.39 MP, +458 MiB at 1.57 MP): pictures up to DECODE_TILE_PIXELS.
DECODE_BYTES_PER_PIXEL = 300
#: The largest picture decoded in one piece: model/tiling.TILE latent positions a side, 1536 x 1536 pixels.
#: Larger pictures are synthesised over tiles and their entropy parameters computed over bands
#: (model/tiling.py), so beyond one tile only the latent, the hyperprior's features and the output
#: buffers grow with the picture: DECODE_BYTES_PER_TILED_PIXEL (measured at 8.3 and 50 MP with a margin,
#: docs/memory.md).
DECODE_TILE_PIXELS = (96 * 16) ** 2
DECODE_BYTES_PER_TILED_PIXEL = 40
#: Default decode limit in bytes of memory (decode_memory): a file whose decoding would need more is
#: refused before any allocation unless the caller raises the limit (api.decompress's max_memory,
#: `decompress --max-memory`). A format limit alone is not enough: a few KB of crafted header claiming
#: 2^28 pixels would ask for ~11 GB. 8 GiB takes a 50 MP photo (~2.7 GB) and anything up to ~190 MP.
#: The role of Pillow's MAX_IMAGE_PIXELS, set by memory rather than by a count of pixels.
MAX_DECODE_MEMORY = 8 << 30


#: A picture coded larger is taken back to its size by least squares (inverse_resample.py): float32 copies
#: of the coded picture's rows and columns and their solutions, at most three alive at a time.
INVERSE_RESAMPLE_BYTES_PER_PIXEL = 40


def decode_memory(pixels: int, inverse_resampled: int = 0) -> int:
    """Bytes decoding a picture of ``pixels`` (at its coded size padded to HYPER_STRIDE, or the picture's
    own size if larger) needs beyond the loaded model: an upper bound of the measured peaks; plus, for a
    picture coded larger, the least-squares resampling of its ``inverse_resampled`` coded pixels."""
    return (DECODE_BYTES_PER_PIXEL * min(pixels, DECODE_TILE_PIXELS) + DECODE_BYTES_PER_TILED_PIXEL * pixels
            + INVERSE_RESAMPLE_BYTES_PER_PIXEL * inverse_resampled)


#: The largest picture the default memory limit lets through (for callers that count pixels).
MAX_DECODE_PIXELS = (MAX_DECODE_MEMORY - DECODE_BYTES_PER_PIXEL * DECODE_TILE_PIXELS) // DECODE_BYTES_PER_TILED_PIXEL

MODES = ("RGB", "L")
BASE_LEVEL_STEPS = 4096
#: For reading a header without a model: any level the i16 field can hold.
ANY_LEVEL = LevelRange(-(1 << 15) / BASE_LEVEL_STEPS, (1 << 15) / BASE_LEVEL_STEPS)
STRENGTH_STEPS = 256
IMPORTANCE_STEPS = 16
#: Blocks of the quality map are this many pixels wide; the image is padded to HYPER_STRIDE.
BLOCK = 16
HYPER_STRIDE = 64


@dataclass
class RczFile:
    width: int
    height: int
    mode: str
    model_id: bytes
    base_level: float  # multiple of 1/BASE_LEVEL_STEPS
    roi_strength: float  # multiple of 1/STRENGTH_STEPS
    importance: np.ndarray | None  # uint8 (h_blocks, w_blocks), values 0..IMPORTANCE_STEPS
    z_payload: bytes
    y_payloads: list[bytes]
    scale: int = SCALE_ONE  # coding scale in eighths

    @property
    def coded_size(self) -> tuple[int, int]:
        """(width, height) of the image the latent codes: the picture resampled by scale / 8."""
        return coded_size(self.width, self.height, self.scale)

    @property
    def latent_shape(self) -> tuple[int, int]:
        w, h = self.coded_size
        return latent_shape(h, w)


def coded_size(width: int, height: int, scale: int) -> tuple[int, int]:
    """Each side times scale / 8, rounded half up, at least 1: integer arithmetic, the same everywhere."""
    return max(1, (width * scale + 4) // 8), max(1, (height * scale + 4) // 8)


def padded_size(height: int, width: int) -> tuple[int, int]:
    """The image size the codec works on: each side rounded up to a multiple of HYPER_STRIDE."""
    return -(-height // HYPER_STRIDE) * HYPER_STRIDE, -(-width // HYPER_STRIDE) * HYPER_STRIDE


def latent_shape(height: int, width: int) -> tuple[int, int]:
    """Latent (quality-map) size for an image: the padded size divided by 16."""
    ph, pw = padded_size(height, width)
    return ph // BLOCK, pw // BLOCK


def quantise_base(level: float) -> float:
    return round(level * BASE_LEVEL_STEPS) / BASE_LEVEL_STEPS


def quantise_strength(strength: float) -> float:
    return round(strength * STRENGTH_STEPS) / STRENGTH_STEPS


def encode_varint(n: int) -> bytes:
    """Unsigned LEB128 of at most 5 bytes (also the fuzzer's, which writes fields without pack's checks)."""
    if n < 0 or n >= 1 << 35:
        raise ValueError("varint out of range")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


class _Reader:
    """Bounds-checked reader: every overrun is a BitstreamError, never an IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BitstreamError(f"truncated file: {what} runs past the end")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def varint(self, what: str) -> int:
        n = shift = 0
        for _ in range(5):
            (b,) = self.take(1, what)
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n
        raise BitstreamError(f"corrupt file: {what} is not a valid length")


def pack(f: RczFile, level_range: LevelRange) -> bytes:
    """Serialise; validates the fields so an encoder bug cannot write an unreadable file."""
    if not (1 <= f.width <= MAX_SIDE and 1 <= f.height <= MAX_SIDE):
        raise ValueError("image size out of range")
    if problem := _scale_problem(f.width, f.height, f.scale):
        raise ValueError(problem)
    base = round(f.base_level * BASE_LEVEL_STEPS)
    strength = round(f.roi_strength * STRENGTH_STEPS)
    if not max(round(level_range.low * BASE_LEVEL_STEPS), -(1 << 15)) <= base <= min(round(level_range.high * BASE_LEVEL_STEPS), (1 << 15) - 1):
        raise ValueError("base level out of range")
    if not -(1 << 15) <= strength < (1 << 15):
        raise ValueError("roi strength out of range")
    out = bytearray(MAGIC)
    out.append(VERSION if f.scale == SCALE_ONE else VERSION_SCALED)
    if len(f.model_id) != MODEL_ID_BYTES:
        raise ValueError("model id must be 8 bytes")
    out += f.model_id
    out += encode_varint(f.width) + encode_varint(f.height)
    out.append(MODES.index(f.mode))
    if f.scale != SCALE_ONE:
        out.append(f.scale)
    out += struct.pack("<hh", base, strength)
    if f.importance is None:
        out += encode_varint(0)
    else:
        import numpy as np

        imp = np.ascontiguousarray(f.importance, dtype=np.uint8)
        if imp.shape != f.latent_shape or imp.max(initial=0) > IMPORTANCE_STEPS:
            raise ValueError("importance map has the wrong shape or range")
        blob = zlib.compress(imp.tobytes(), 9)
        out += encode_varint(len(blob)) + blob
    out += encode_varint(len(f.z_payload)) + f.z_payload
    out.append(len(f.y_payloads))
    for p in f.y_payloads:
        out += encode_varint(len(p)) + p
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def unpack(data: bytes, level_range: LevelRange, groups: int) -> RczFile:
    """Parse and validate every field; raises BitstreamError with a one-line reason."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError("expected bytes")
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BitstreamError("not a .rcz file (bad magic bytes)")
    if len(data) < len(MAGIC) + 1 + MODEL_ID_BYTES + 4:
        raise BitstreamError("truncated file: shorter than the fixed header")
    (stored_crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != stored_crc:
        raise BitstreamError("corrupt or truncated file: CRC-32 mismatch")
    r = _Reader(data[:-4])
    r.take(len(MAGIC), "magic")
    (version,) = r.take(1, "version")
    if version not in (VERSION, VERSION_SCALED):
        raise BitstreamError(f"unsupported .rcz version {version} (this roicodec reads versions {VERSION} and {VERSION_SCALED})")
    model_id = r.take(MODEL_ID_BYTES, "model id")
    width, height = r.varint("width"), r.varint("height")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise BitstreamError(f"corrupt file: image size {width}x{height} out of range")
    (mode_byte,) = r.take(1, "mode")
    if mode_byte >= len(MODES):
        raise BitstreamError(f"corrupt file: unknown colour mode {mode_byte}")
    scale = SCALE_ONE
    if version == VERSION_SCALED:
        (scale,) = r.take(1, "coding scale")
        if scale == SCALE_ONE:
            raise BitstreamError("corrupt file: a version-2 file must code at a scale other than 1")
    if problem := _scale_problem(width, height, scale):
        raise BitstreamError(f"corrupt file: {problem}")
    base, strength = struct.unpack("<hh", r.take(4, "quality parameters"))
    if not round(level_range.low * BASE_LEVEL_STEPS) <= base <= round(level_range.high * BASE_LEVEL_STEPS):
        raise BitstreamError("corrupt file: base quality level out of range")
    cw, ch = coded_size(width, height, scale)
    shape = latent_shape(ch, cw)
    map_len = r.varint("map length")
    importance = None
    if map_len:
        blob = r.take(map_len, "importance map")
        d = zlib.decompressobj()
        try:
            raw = d.decompress(blob, shape[0] * shape[1] + 1)
        except zlib.error:
            raise BitstreamError("corrupt file: importance map does not decompress") from None
        if len(raw) != shape[0] * shape[1] or not d.eof or d.unconsumed_tail:
            raise BitstreamError("corrupt file: importance map has the wrong size")
        import numpy as np

        importance = np.frombuffer(raw, np.uint8).reshape(shape).copy()
        if importance.max(initial=0) > IMPORTANCE_STEPS:
            raise BitstreamError("corrupt file: importance value out of range")
    z_payload = r.take(r.varint("z length"), "z payload")
    (n_groups,) = r.take(1, "group count")
    if n_groups != groups:
        raise BitstreamError(f"corrupt file: {n_groups} latent groups, model has {groups}")
    y_payloads = [r.take(r.varint("group length"), "group payload") for _ in range(n_groups)]
    if r.pos != len(r.data):
        raise BitstreamError("corrupt file: trailing bytes after the last payload")
    return RczFile(
        width=width,
        height=height,
        mode=MODES[mode_byte],
        model_id=model_id,
        base_level=base / BASE_LEVEL_STEPS,
        roi_strength=strength / STRENGTH_STEPS,
        importance=importance,
        z_payload=z_payload,
        y_payloads=y_payloads,
        scale=scale,
    )


def _scale_problem(width: int, height: int, scale: int) -> str | None:
    """Why a coding scale cannot be (written or read), or None."""
    if not SCALE_MIN <= scale <= SCALE_MAX:
        return f"coding scale {scale}/8 out of range"
    cw, ch = coded_size(width, height, scale)
    if cw > MAX_SIDE or ch > MAX_SIDE or cw * ch > MAX_PIXELS:
        return f"coded size {cw}x{ch} out of range"
    return None


def peek_header(data: bytes) -> dict:
    """Cheap header facts (no model needed) for `roicodec info`."""
    f = unpack(data, ANY_LEVEL, groups=_peek_groups(data))
    return {"width": f.width, "height": f.height, "mode": f.mode, "model_id": f.model_id.hex(), "file": f}


def _peek_groups(data: bytes) -> int:
    """Group count without knowing the model: walk the header up to it."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BitstreamError("not a .rcz file (bad magic bytes)")
    r = _Reader(bytes(data[:-4]) if len(data) >= 4 else b"")
    try:
        r.take(len(MAGIC), "magic")
        (version,) = r.take(1, "version")
        r.take(MODEL_ID_BYTES, "model id")
        r.varint("width"), r.varint("height")
        r.take(5 + (version == VERSION_SCALED), "mode, scale and quality")
        r.take(r.varint("map length"), "importance map")
        r.take(r.varint("z length"), "z payload")
        (n,) = r.take(1, "group count")
    except BitstreamError:
        raise BitstreamError("corrupt or truncated file") from None
    return n
