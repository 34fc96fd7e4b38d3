"""Coverage-guided fuzzing of the .rcz reader and the whole decoder (atheris / libFuzzer).

    python fuzz/fuzz_rcz.py WORKDIR fuzz/corpus -runs=20000 -seed=1 -timeout=5
    python fuzz/fuzz_rcz.py crash-<sha1>           # re-run one saved input

WORKDIR (first corpus folder) receives the inputs that found new coverage; fuzz/corpus is the seed
corpus (fuzz/build_corpus.py). Every other flag is libFuzzer's (docs/fuzzing.md has the runs).

The contract, per input: ``bitstream.peek_header`` and, when the header parses, ``roicodec.inspect`` and
``roicodec.decompress`` (with the shipped model the header names) either succeed or raise one of
roicodec's own errors (``roicodec.errors.RoicodecError``: BitstreamError, ModelMismatchError,
DecodeLimitError, ...). Anything else is a finding and stops the run with the input saved:

* another exception type (an uncaught exception: atheris writes ``crash-*``);
* a crash of the process (a segfault in the rANS coder, an abort);
* a decode that returns a picture of another size or mode than the header states, or (every
  REPEAT_EVERY-th decode, decoded again) other pixels the second time: how a read past a payload shows
  below the sizes where it crashes (the rANS decoder does not check bounds; docs/fuzzing.md);
* a hang: an input that takes over HANG_SECONDS (the harness checks; libFuzzer's ``-timeout=5`` catches
  an input that never returns);
* an allocation beyond ``2 x`` what the header justifies: the growth of the peak resident memory over one
  decode (VmHWM, reset through /proc/self/clear_refs after ``malloc_trim``, so freed memory does not hide
  it) against ``2 * (bitstream.decode_memory(pixels) + DECODE_FIXED_BYTES)`` (the decoder's own memory
  model: DECODE_BYTES_PER_PIXEL per pixel up to a tile, then per tiled pixel), where pixels is the
  larger of the padded coded picture and the picture.

Speed: the file ends in a CRC-32 that ``unpack`` checks first, so nearly every blind mutation dies there
in ~10 us. The custom mutator therefore repairs the CRC of a fraction FUZZ_FIX_CRC of its mutants
(default 1/4; the long run used 1/8): half of those are structured (one field of a parsed file changed:
size, version and scale, mode, base level, ROI strength, importance map, a payload, the group count,
then written back with valid lengths), the rest byte-level mutations of the header or the whole file.
Only inputs that parse are decoded (30-400 ms each), and decoding is capped at MAX_PIXELS coded pixels
(larger headers must be refused with DecodeLimitError, which is part of what is checked). Models are
loaded and warmed up once, before fuzzing. Only roicodec's own Python code is instrumented for
coverage; the rANS coder and torch are exercised but not traced.
"""

from __future__ import annotations

import ctypes
import os
import random
import re
import sys
import time
import zlib
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import atheris  # noqa: E402

with atheris.instrument_imports(include=["roicodec"]):
    import roicodec  # noqa: E402
    from roicodec import bitstream, models  # noqa: E402
    from roicodec.errors import RoicodecError  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(1)

HANG_SECONDS = 5.0
#: Decoder's fixed cost beside the per-pixel one (measured: a 64x64 picture grows the peak by ~10 MB).
DECODE_FIXED_BYTES = 16 << 20
#: Coded pixels, padded to 64, the harness lets a file decode (256x256): larger ones must raise
#: DecodeLimitError. Keeps every decode under ~0.3 s; bigger pictures are the regression tests' job.
MAX_PIXELS = 1 << 16
FIX_CRC = float(os.environ.get("FUZZ_FIX_CRC", "0.25"))
HEADER_BYTES = 32
STATS_EVERY = 1000
#: Every this many successful decodes, decode again and compare (an out-of-bounds read shows as other pixels).
REPEAT_EVERY = 4

_libc = ctypes.CDLL(None)
_status = Path("/proc/self/status")
_clear_refs = Path("/proc/self/clear_refs")
_can_measure = _clear_refs.exists() and os.access(_clear_refs, os.W_OK)

stats = {"inputs": 0, "parsed": 0, "decoded": 0, "repeated": 0, "limit": 0, "refused_after_parse": 0,
         "max_seconds": 0.0, "max_alloc_ratio": 0.0}
_stats_file = os.environ.get("FUZZ_STATS")
_runs = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("-runs=")), -1)


class Finding(Exception):
    """The input broke the contract (not a roicodec error: the fuzzer stops and saves it)."""


def _memory() -> tuple[int, int]:
    """(current, peak) resident bytes of this process."""
    text = _status.read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", text).group(1))
    hwm = int(re.search(r"VmHWM:\s+(\d+)", text).group(1))
    return rss * 1024, hwm * 1024


def _reset_peak() -> int:
    _libc.malloc_trim(0)
    _clear_refs.write_text("5")  # resets VmHWM to the current resident size
    return _memory()[0]


def allowed_bytes(f: bitstream.RczFile) -> int:
    """Twice the memory the header's size justifies."""
    cw, ch = f.coded_size
    ph, pw = bitstream.padded_size(ch, cw)
    pixels = max(ph * pw, f.width * f.height)
    return 2 * (bitstream.decode_memory(pixels) + DECODE_FIXED_BYTES)


def check(data: bytes) -> None:
    """The contract for one input; raises Finding (or lets a foreign exception through)."""
    start = time.monotonic()
    try:
        f = bitstream.peek_header(data)["file"]
    except RoicodecError:
        return
    stats["parsed"] += 1
    try:
        roicodec.inspect(data)
    except RoicodecError:
        pass
    base = _reset_peak() if _can_measure else 0
    try:
        image = roicodec.decompress(data, max_pixels=MAX_PIXELS)
    except RoicodecError as exc:
        stats["limit" if isinstance(exc, roicodec.errors.DecodeLimitError) else "refused_after_parse"] += 1
        image = None
    seconds = time.monotonic() - start
    stats["max_seconds"] = max(stats["max_seconds"], seconds)
    if seconds > HANG_SECONDS:
        raise Finding(f"hang: {seconds:.1f} s for a {f.width}x{f.height} file (scale {f.scale}/8)")
    if _can_measure:
        grown = _memory()[1] - base
        ratio = grown / allowed_bytes(f)
        stats["max_alloc_ratio"] = max(stats["max_alloc_ratio"], ratio)
        if ratio > 1:
            raise Finding(f"allocation: {grown / 2**20:.0f} MiB for a {f.width}x{f.height} file (scale {f.scale}/8), "
                          f"over 2x its header-justified size ({allowed_bytes(f) / 2**20:.0f} MiB)")
    if image is not None:
        stats["decoded"] += 1
        if image.size != (f.width, f.height) or image.mode != f.mode:
            raise Finding(f"decoded {image.size} {image.mode}, header says {(f.width, f.height)} {f.mode}")
        if stats["decoded"] % REPEAT_EVERY == 0:  # the same bytes decode to the same pixels
            stats["repeated"] += 1
            churn = [bytearray(os.urandom(4096)) for _ in range(16)]  # other bytes where an over-read lands
            again = roicodec.decompress(data, max_pixels=MAX_PIXELS)
            del churn
            if again.tobytes() != image.tobytes():
                raise Finding(f"a {f.width}x{f.height} file (scale {f.scale}/8) decodes to other pixels the second time")


def _write_stats() -> None:
    line = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items())
    print(f"#harness {line}", file=sys.stderr, flush=True)
    if _stats_file:
        Path(_stats_file).write_text(line + "\n")


def test_one_input(data: bytes) -> None:
    stats["inputs"] += 1
    try:
        check(data)
    finally:
        if stats["inputs"] % STATS_EVERY == 0 or stats["inputs"] == _runs:
            _write_stats()


def fix_crc(data: bytes) -> bytes:
    return data[:-4] + zlib.crc32(data[:-4]).to_bytes(4, "little") if len(data) >= 4 else data



def serialise(f: bitstream.RczFile, version: int, mode: int, base: int, strength: int, groups: list[bytes],
              importance: bytes | None) -> bytes:
    """Write fields as given, without bitstream.pack's checks: a structured mutant may break any rule."""
    out = bytearray(bitstream.MAGIC) + bytes([version]) + f.model_id + bitstream.encode_varint(f.width) + bitstream.encode_varint(f.height)
    out.append(mode)
    if version != bitstream.VERSION:
        out.append(f.scale)
    out += (base & 0xFFFF).to_bytes(2, "little") + (strength & 0xFFFF).to_bytes(2, "little")
    blob = b"" if importance is None else zlib.compress(importance, 9)
    out += bitstream.encode_varint(len(blob)) + blob + bitstream.encode_varint(len(f.z_payload)) + f.z_payload
    out.append(len(groups) & 0xFF)
    for g in groups:
        out += bitstream.encode_varint(len(g)) + g
    return fix_crc(bytes(out) + b"\0\0\0\0")


def _side(rng: random.Random) -> int:
    pick = rng.random()
    if pick < 0.6:
        return rng.randint(1, 300)
    if pick < 0.8:
        return rng.choice([0, 1, 2, 63, 64, 65, bitstream.MAX_SIDE - 1, bitstream.MAX_SIDE, bitstream.MAX_SIDE + 1])
    return rng.randint(0, 1 << 22)


def structured_mutation(data: bytes, max_size: int, rng: random.Random) -> bytes | None:
    """Change one field of a file that parses and write it back with valid lengths and CRC."""
    try:  # an earlier mutation of the same chain may have broken only the CRC
        f = bitstream.peek_header(fix_crc(data))["file"]
    except RoicodecError:
        return None
    version = bitstream.VERSION if f.scale == bitstream.SCALE_ONE else bitstream.VERSION_SCALED
    mode = bitstream.MODES.index(f.mode)
    base = round(f.base_level * bitstream.BASE_LEVEL_STEPS)
    strength = round(f.roi_strength * bitstream.STRENGTH_STEPS)
    groups = list(f.y_payloads)
    importance = None if f.importance is None else f.importance.tobytes()
    field = rng.randrange(9)
    if field == 0:  # picture size (the map, if any, then rarely fits: also drop it)
        f.width, f.height = (_side(rng), f.height) if rng.random() < 0.5 else (f.width, _side(rng))
        if rng.random() < 0.7:
            importance = None
    elif field == 1:  # version and coding scale
        f.scale = rng.choice([0, 3, 4, 5, 7, 8, 9, 12, 16, 31, 32, 33, 255, rng.randrange(256)])
        version = rng.choice([bitstream.VERSION, bitstream.VERSION_SCALED, bitstream.VERSION_SCALED, 0, 3, 255])
        importance = None if rng.random() < 0.7 else importance
    elif field == 2:
        mode = rng.choice([0, 1, 1, 2, 255])
    elif field == 3:
        base = rng.choice([-(1 << 15), -3 * 4096 - 1, -3 * 4096, 0, 7 * 4096, 7 * 4096 + 1, (1 << 15) - 1,
                           rng.randrange(-(1 << 15), 1 << 15)])
    elif field == 4:
        strength = rng.choice([-(1 << 15), -256 * 16, 0, 256 * 16, (1 << 15) - 1, rng.randrange(-(1 << 15), 1 << 15)])
    elif field == 5:  # importance map: values in and out of 0..16, or another size
        h, w = f.latent_shape
        n = h * w + rng.choice([0, 0, 0, -1, 1])
        top = rng.choice([16, 16, 17, 255])
        importance = bytes(rng.randint(0, top) for _ in range(max(n, 0)))
    elif field in (6, 7):  # a payload: mutated, emptied, truncated, swapped
        k = rng.randrange(len(groups) + 1)
        payload = f.z_payload if k == len(groups) else groups[k]
        how = rng.randrange(4)
        if how == 0:
            payload = atheris.Mutate(payload, max(len(payload) * 2, 16))
        elif how == 1:
            payload = b""
        elif how == 2:
            payload = payload[: rng.randrange(len(payload) + 1)]
        else:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        if k == len(groups):
            f.z_payload = payload
        else:
            groups[k] = payload
    else:  # group count
        groups = groups[: rng.randrange(len(groups) + 1)] if rng.random() < 0.5 else groups + groups[:1]
    out = serialise(f, version, mode, base, strength, groups, importance)
    return out if len(out) <= max_size else None


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() >= FIX_CRC:  # blind: nearly always dies at the CRC, in microseconds
        return atheris.Mutate(data, max_size)
    pick = rng.random()
    if pick < 0.5 and (out := structured_mutation(data, max_size, rng)) is not None:
        return out
    if pick < 0.7 and len(data) > HEADER_BYTES + 4:  # the header bytes alone
        data = atheris.Mutate(data[:HEADER_BYTES], HEADER_BYTES + 8) + data[HEADER_BYTES:]
    else:
        data = atheris.Mutate(data, max_size)
    return fix_crc(data[:max_size])


def warm_up() -> None:
    """Load every shipped model once and decode one file of each (lazy caches), outside the loop."""
    corpus = Path(__file__).resolve().parent / "corpus"
    for entry in models.shipped():
        models.load_model(entry)
    seen = set()
    for path in sorted(corpus.glob("*.rcz")):
        data = path.read_bytes()
        model_id = bitstream.peek_header(data)["file"].model_id
        if model_id not in seen:
            seen.add(model_id)
            roicodec.decompress(data)


#: libFuzzer flags the harness sets unless the command line does: one mutation per input (so the
#: CRC repair is the last step), seeds kept whole (coverage of Python lines alone would shrink valid
#: files to garbage that covers the same lines), the 5 s hang limit.
DEFAULT_FLAGS = ("-mutate_depth=1", "-reduce_inputs=0", "-timeout=5", "-rss_limit_mb=4096", "-max_len=8192")


def main() -> None:
    warm_up()
    given = {a.split("=", 1)[0] for a in sys.argv[1:] if a.startswith("-")}
    argv = sys.argv + [flag for flag in DEFAULT_FLAGS if flag.split("=", 1)[0] not in given]
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
