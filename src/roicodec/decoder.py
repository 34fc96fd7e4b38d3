""".rcz bytes -> picture: parse, check the limits, reconstruct, and describe a file.

Reconstruction is three steps, each in one place: the exact latent (entropy decoding), the
synthesis at the coded size, and the resampling back to the picture's size. The encoder's
refinement scores its files with ``coded_picture``, so it sees exactly what the decoder makes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from . import bitstream, scaling
from .bitstream import RczFile
from .errors import BitstreamError, DecodeLimitError, ModelMismatchError
from .hardware import bf16_synthesis, check_precision, reproducible_kernels, reproducible_threads
from .images import to_image
from .inverse_resample import inverse_resample
from .levels import LevelRange
from .model import RoiCodecModel
from .model.latent_codec import hyper_z_shape
from .model.perceptual import PerceptualHead
from .model.tiling import TILE, run_tiled
from .models import entry_for_id, head_path, model_for_id, perceptual_head_for
from .progress import report
from .roi import quality_map


def parse(data: bytes, model: RoiCodecModel) -> RczFile:
    """The file's fields, checked against the model that is to decode it."""
    f = bitstream.unpack(data, model.config.level_range, model.latent_codec.groups)
    if f.model_id != model.model_id:
        raise ModelMismatchError(
            f"file was made by model {f.model_id.hex()}, but the loaded model is {model.model_id.hex()}"
        )
    return f


def model_for(data: bytes, device: str | None = None) -> RoiCodecModel:
    """The installed model that decodes this file (by the model id in its header), on ``device``."""
    return model_for_id(bitstream.peek_header(data)["file"].model_id, device)


def file_levels(f: RczFile, level_range: LevelRange) -> torch.Tensor:
    """The quality map the file states, (1, 1, h, w) at latent resolution."""
    return quality_map(f.base_level, f.roi_strength, f.importance, f.latent_shape, level_range)


def check_decode_limit(f: RczFile, max_pixels: int | None = None,
                       max_memory: int | None = bitstream.MAX_DECODE_MEMORY) -> None:
    """Refuse before any allocation a file whose decoding would need more than ``max_memory`` bytes
    (bitstream.decode_memory of its coded picture padded to the hyper stride, as decoding needs it) or
    whose picture exceeds ``max_pixels`` (None: no such limit)."""
    cw, ch = f.coded_size
    ph, pw = bitstream.padded_size(ch, cw)  # what is decoded: a 12288x1 strip is 64x12288 (fuzz/, docs/fuzzing.md)
    pixels = max(ph * pw, f.width * f.height)
    needed = bitstream.decode_memory(pixels, cw * ch if f.scale > bitstream.SCALE_ONE else 0)
    memory = needed / 2**30
    if max_pixels is not None and pixels > max_pixels:
        raise DecodeLimitError(
            f"decoding this {f.width}x{f.height} file needs {pixels:,} pixels at its coded size padded to {bitstream.HYPER_STRIDE}"
            f" (~{memory:.1f} GiB of memory), over the limit of {max_pixels:,}; "
            "raise the limit with max_pixels (--max-pixels)"
        )
    if max_memory is not None and needed > max_memory:
        raise DecodeLimitError(
            f"decoding this {f.width}x{f.height} file needs ~{memory:.1f} GiB of memory ({pixels:,} pixels at its "
            f"coded size padded to {bitstream.HYPER_STRIDE}), over the limit of {max_memory / 2**30:.1f} GiB; "
            "raise the limit with max_memory (--max-memory)"
        )


#: Zero bytes appended to each rANS payload per symbol it codes, before decoding. CompressAI's rANS
#: decoder reads without bounds checks, so a payload shorter than its symbols need (a damaged or crafted
#: file that still passes the CRC) made it read past its buffer: pixels from the heap, and a segfault
#: from about 768x768 (a 37-byte file; fuzz/, docs/fuzzing.md). A symbol takes at most 16 bits of the
#: stream except after the rare escape code (probability ~2^-16 a symbol), so 8 bytes a symbol keeps the
#: reads inside the padding: a short payload decodes to the same (garbage) picture everywhere.
PAD_BYTES_PER_SYMBOL = 8


def padded_payloads(f: RczFile, model: RoiCodecModel) -> tuple[bytes, list[bytes]]:
    """The file's payloads, each followed by PAD_BYTES_PER_SYMBOL zero bytes per symbol it codes."""
    h, w = f.latent_shape
    hz, wz = hyper_z_shape((h, w))
    codec = model.latent_codec
    z = f.z_payload + bytes(PAD_BYTES_PER_SYMBOL * codec.entropy_bottleneck.channels * hz * wz + 64)
    ys = [p + bytes(PAD_BYTES_PER_SYMBOL * c * h * w + 64) for p, c in zip(f.y_payloads, codec.context.groups)]
    return z, ys


def decode_latent(f: RczFile, model: RoiCodecModel) -> torch.Tensor:
    """The exact latent (fixed-point integers in float64); a damaged payload is a BitstreamError."""
    try:
        return model.decompress_latent(*padded_payloads(f, model), f.latent_shape)
    except (RuntimeError, ValueError, OverflowError) as exc:
        raise BitstreamError(f"corrupt file: entropy decoding failed ({exc})") from None


def file_importance(f: RczFile) -> torch.Tensor:
    """The file's importance in [0, 1], (1, 1, h, w) at latent resolution (zeros without ROI)."""
    if f.importance is None:
        return torch.zeros((1, 1, *f.latent_shape), dtype=torch.float32)
    return torch.from_numpy(f.importance.astype("float32") / bitstream.IMPORTANCE_STEPS)[None, None]


def check_realism(realism: float) -> float:
    realism = float(realism)
    if not 0.0 <= realism <= 1.0:  # also refuses NaN
        raise ValueError(f"realism must be between 0 and 1, not {realism:g}")
    return realism


#: The perceptual head's receptive field in latent positions (eight 3x3 convolutions at 1/4 resolution
#: = 2, the importance's bilinear upsampling 1): added to g_s's halo when it runs tiled.
PERCEPTUAL_HALO = 3


def coded_picture(f: RczFile, model: RoiCodecModel, realism: float = 0.0, head: PerceptualHead | None = None,
                  tile: int | None = TILE, precision: str = "auto") -> torch.Tensor:
    """(1, 3, H, W) in [0, 1] at the coded size, padded to the hyper stride. Realism above 0 adds the
    perceptual head's texture outside the file's regions of interest (``head``, or the shipped one). ``precision``
    "auto" runs the synthesis (and head) in bf16 where hardware.bf16_synthesis says it pays; "float32" never.
    The synthesis (and head) run over tiles of ``tile`` latent positions (model/tiling.py; None: whole):
    a big picture needs the memory of one tile, with the untiled pixels (tests/test_tiling.py)."""
    if realism > 0 and head is None:
        head = perceptual_head_for(model)
    bf16 = bf16_synthesis(model.device, model.config.transforms, precision)

    def synthesis(y: torch.Tensor, q: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
        with reproducible_threads(y.shape[-2], y.shape[-1]), reproducible_kernels(y.device):
            y_s = model.synthesis_input(y, q)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                x_hat = model.g_s(y_s).float().clamp_(0, 1)
                if realism > 0:
                    x_hat = head(x_hat.contiguous(memory_format=torch.channels_last), y_s, q, importance, realism)
            return x_hat.float()

    with torch.inference_mode():
        q = file_levels(f, model.config.level_range).to(model.device)
        halo = model.synthesis_halo + (PERCEPTUAL_HALO if realism > 0 else 0)
        importance = file_importance(f).to(model.device)
        y = decode_latent(f, model)
        return run_tiled(synthesis, [y, q, importance], halo=halo, tile=tile, stage="synthesis")


def reconstruct(f: RczFile, model: RoiCodecModel, realism: float = 0.0, head: PerceptualHead | None = None,
                tile: int | None = TILE, precision: str = "auto") -> torch.Tensor:
    """(1, 3, height, width) in [0, 1]: the coded picture, resampled back where it was coded at another
    scale: up by ``scaling.resample``, down by its least-squares inverse (the encoder's upsampling
    undone; ``precision`` as for coded_picture)."""
    x_hat = coded_picture(f, model, realism, head, tile, precision)
    if f.scale == bitstream.SCALE_ONE:
        return x_hat
    cw, ch = f.coded_size
    report("resampling back", 0, 1)
    with torch.inference_mode():
        if f.scale > bitstream.SCALE_ONE:
            # the picture whose upsampling by the encoder is nearest the decoded one (inverse_resample.py)
            return inverse_resample(x_hat[:, :, :ch, :cw], f.height, f.width)
        return scaling.resample(x_hat[:, :, :ch, :cw], f.height, f.width)


def decompress(data: bytes, model: RoiCodecModel | None = None,
               max_pixels: int | None = None, realism: float = 0.0,
               head: PerceptualHead | str | Path | None = None,
               max_memory: int | None = bitstream.MAX_DECODE_MEMORY, device: str | None = None,
               precision: str = "auto") -> Image.Image:
    """Decode .rcz bytes to a PIL image (mode RGB, or L for grayscale sources) with ``model``, or with
    the installed model the file names, at ``realism`` (0: the fidelity decoder) with ``head`` (a head,
    a head's weights file, or None: the one shipped with the model). Files whose decoding would need more
    than ``max_memory`` bytes, or whose picture exceeds ``max_pixels``, are refused first (None: no limit).
    ``device`` places the installed model (None: the CPU); a given ``model`` decodes where it lives.
    ``precision``: "auto" (bf16 synthesis where hardware.bf16_synthesis says it pays) or "float32"."""
    realism, precision = check_realism(realism), check_precision(precision)
    model = model or model_for(data, device)
    f = parse(data, model)
    check_decode_limit(f, max_pixels, max_memory)
    if realism > 0 and not isinstance(head, PerceptualHead):
        head = perceptual_head_for(model, head)
    return to_image(reconstruct(f, model, realism, head, precision=precision), f.width, f.height, f.mode)


def inspect(data: bytes, model: RoiCodecModel | None = None) -> dict:
    """Header facts of a .rcz file: dimensions, bytes, bpp, quality-level range, model. Without ``model``
    the installed model the file names is looked up by its metadata alone (nothing is loaded): ``model``
    is then its name, or None when it is not installed."""
    f = bitstream.peek_header(data)["file"]
    if model is not None:
        level_range = model.config.level_range
    else:
        entry = entry_for_id(f.model_id)
        # without a model the usable range is unknown: report the map as the file states it
        level_range = entry.value.config.level_range if entry is not None else LevelRange(-float("inf"), float("inf"))
    q = file_levels(f, level_range)
    info = {
        "width": f.width,
        "height": f.height,
        "mode": f.mode,
        "bytes": len(data),
        "bpp": 8 * len(data) / (f.width * f.height),
        "base_level": f.base_level,
        "roi_strength": f.roi_strength,
        "level_min": float(q.min()),
        "level_max": float(q.max()),
        "has_roi": f.importance is not None,
        "scale": f.scale / bitstream.SCALE_ONE,
        "model_id": f.model_id.hex(),
    }
    if model is not None:
        info["model_matches"] = f.model_id == model.model_id
    else:
        info["model"] = entry.label if entry is not None else None
        # whether `--realism` above 0 can decode it: a perceptual head ships with the model
        info["perceptual"] = entry is not None and head_path(entry).exists()
    return info
