"""compress / decompress / inspect: what ``import roicodec`` offers."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from . import bitstream, scaling
from .errors import BitstreamError, BudgetError, DecodeLimitError, ModelMismatchError, RateControlWarning, RoiError
from .images import PreparedImage, pad_to_stride, prepare, to_image, to_tensor
from .levels import DEFAULT_ROI_STRENGTH, LevelRange
from .model import RoiCodecModel
from .model.refine import MAX_REFINE_PIXELS, distortion_weight, effort_steps, refine_latent
from .ratecontrol import RateCurve, RateResult, parse_size, search_base_level
from .roi import RoiSpec, block_importance, build_importance, pixel_importance, quality_map
from .weights import load_model as _load_weights


ImageLike = str | Path | Image.Image
RoiLike = str | Path | Image.Image | np.ndarray | RoiSpec


def roi_spec(
    roi: RoiLike | None = None,
    boxes: str | list[str] | list[tuple[float, ...]] | None = None,
    classes: str | Path | Image.Image | np.ndarray | None = None,
    class_weights: str | dict | None = None,
    class_legend: str | Path | dict | None = None,
) -> RoiSpec:
    """roi: a mask (path, PIL image, array in [0,1]), "auto", a list of automatic
    sources ("auto:faces,text"), or a RoiSpec; the other arguments add sources."""
    if isinstance(roi, RoiSpec):
        spec = replace(roi, boxes=list(roi.boxes))  # never change the caller's spec
    elif isinstance(roi, str) and (roi == "auto" or roi.startswith("auto:")):
        names = [s.strip() for s in roi[5:].split(",") if s.strip()]
        if roi != "auto" and not names:
            raise RoiError("name the automatic sources after 'auto:' (faces, people, text, saliency)")
        spec = RoiSpec(auto=True if roi == "auto" else names)
    else:
        spec = RoiSpec(mask=roi)
    if boxes:
        if isinstance(boxes, str):
            boxes = [boxes]
        spec.boxes = list(spec.boxes) + list(boxes)
    if classes is not None:
        if class_weights is None:
            raise RoiError("a class map needs class weights (e.g. --class-weights 1=1.0,2=0.5,other=0.1)")
        spec.classes, spec.class_weights, spec.class_legend = classes, class_weights, class_legend
    elif class_weights is not None or class_legend is not None:
        raise RoiError("class weights and legends need a class map (--roi-classes)")
    return spec


def check_strength(strength: float, level_range: LevelRange) -> float:
    """The ROI strength as the file stores it; an error before any detector runs.

    At most the trained span (0..K-1) either way: a lift from the background's level to the top.
    """
    top = level_range.high
    if not np.isfinite(strength) or not -top <= strength <= top:
        raise BudgetError(f"roi strength must be a number in [-{top:g}, {top:g}]")
    return bitstream.quantise_strength(float(strength))


@functools.lru_cache(maxsize=4)
def _cached_model(weights: str | None) -> RoiCodecModel:
    return _load_weights(weights)


def load_model(weights: str | Path | None = None) -> RoiCodecModel:
    """The shipped model (or another weights file), loaded once per process."""
    return _cached_model(str(weights) if weights is not None else None)


@dataclass
class CompressResult:
    data: bytes
    base_level: float
    roi_strength: float
    trials: int
    in_range: bool
    notes: list[str] = field(default_factory=list)
    roi_sources: dict = field(default_factory=dict)
    scale: int = bitstream.SCALE_ONE  # coding scale in eighths
    blocks: np.ndarray | None = None  # the importance map the file carries, at the coded size
    refine_steps: int = 0  # latent refinement steps that made the file (0: the analysis's latent)

    @property
    def size(self) -> int:
        return len(self.data)


def compress(
    image: ImageLike,
    bpp: float | None = None,
    size: int | str | None = None,
    quality: float | None = None,
    roi: RoiLike | None = None,
    roi_strength: float = DEFAULT_ROI_STRENGTH,
    model: RoiCodecModel | None = None,
    scale: float | str = 1,
    effort: int = 0,
    **roi_sources,
) -> bytes:
    """Compress an image to .rcz bytes at a rate (bpp), a file size, or a quality level.

    ``roi`` (white = important) moves quality into the region at the same total size;
    ``roi="auto"`` finds faces, people, text and salient regions. Keyword arguments
    ``boxes``, ``classes``, ``class_weights``, ``class_legend`` add sources (see roi_spec).
    Budgets are never exceeded; a budget outside the model's range produces the
    nearest achievable file and a RateControlWarning. ``scale`` codes the picture
    resampled by that factor (1, 1.5, 2, ...; "auto": larger where the budget pays for it, which
    lifts PSNR above ~0.35 bpp at 2-4x the time; see docs/design-decisions.md item 14). ``effort``
    1-3 refines the latent after rate control (8, 20 or 50 optimisation steps, each about one
    synthesis forward and backward): slower encodes, better files, the same decoder.
    """
    return compress_detailed(image, bpp, size, quality, roi, roi_strength, model, scale, effort, **roi_sources).data


def compress_detailed(
    image: ImageLike | PreparedImage,
    bpp: float | None = None,
    size: int | str | None = None,
    quality: float | None = None,
    roi: RoiLike | None = None,
    roi_strength: float = DEFAULT_ROI_STRENGTH,
    model: RoiCodecModel | None = None,
    scale: float | str = 1,
    effort: int = 0,
    **roi_sources,
) -> CompressResult:
    """As ``compress``, also returning what a caller may want to show: the base level and ROI strength
    the rate control chose, the trial count, the coding scale, notes and what each automatic ROI source
    found. An image already read with ``images.prepare`` is taken as is, so the CLI reads and detects once."""
    if sum(v is not None for v in (bpp, size, quality)) != 1:
        raise BudgetError("give exactly one of bpp, size or quality")
    try:
        fixed_scale = scaling.parse_scale(scale)
        steps = effort_steps(effort)
    except ValueError as exc:
        raise BudgetError(str(exc)) from None
    model = model or load_model()
    level_range = model.config.level_range
    prepared = image if isinstance(image, PreparedImage) else prepare(image)
    w, h = prepared.size
    budget: int | None = None
    if bpp is not None:
        if not (bpp > 0 and np.isfinite(bpp)):
            raise BudgetError("bpp must be a positive number")
        if not np.isfinite(bpp * w * h):
            raise BudgetError("bpp is too large")
        budget = int(bpp * w * h / 8)
        if budget < 1:
            budget = 1
    elif size is not None:
        budget = parse_size(size)
    elif quality not in level_range:
        raise BudgetError(f"quality level must lie in {level_range}")

    importance = None
    strength = 0.0
    spec = roi_spec(roi, **roi_sources)
    roi_report: dict = {}
    if not spec.is_empty():
        strength = check_strength(roi_strength, level_range)
        importance, roi_report = build_importance(prepared.rgb, spec)
        if strength == 0 or not block_importance(importance).any():
            importance, strength = None, 0.0
    if fixed_scale is not None:
        ladder = [(fixed_scale, None)]
    elif budget is None:  # a quality level means the same thing only at one scale
        ladder = [(bitstream.SCALE_ONE, None)]
    else:
        ladder = scaling.auto_ladder(w, h, 8 * budget / (w * h))
    analyses: dict[int, torch.Tensor] = {}  # latent per scale: a fall-back does not analyse again
    for i, (sc, climb_level) in enumerate(ladder):
        # The climb follows the top of the map: with an ROI, the ROI's level (base + strength times its
        # largest importance, which the block rule keeps). The ROI's blocks are coded like a picture at
        # that level, so the crossing levels hold for them.
        top_lift = max(strength, 0.0) * (float(importance.max()) if importance is not None else 0.0)
        stop = None if climb_level is None else climb_level - top_lift
        result, stopped = _compress_at_scale(prepared, sc, importance, strength, budget, quality, model, stop,
                                             keep_lift=i > 0, analyses=analyses)
        if i and ((not result.in_range and result.base_level <= level_range.low) or result.roi_strength != strength):
            # the larger picture does not fit the budget, or fits only by lowering the ROI's lift:
            # the scale below, searched to the end
            result, _ = _compress_at_scale(prepared, ladder[i - 1][0], importance, strength, budget, quality, model, None,
                                           analyses=analyses)
            break
        if not stopped:
            break
    if steps:
        result = _refined(prepared, result, importance, strength, budget, quality, model, steps, analyses)
    notes = list(prepared.notes) + result.notes
    for message in result.notes:
        warnings.warn(message, RateControlWarning, stacklevel=2)
    return replace(result, notes=notes, roi_sources=roi_report)


def _compress_at_scale(prepared: PreparedImage, scale: int, importance: np.ndarray | None, strength: float,
                       budget: int | None, quality: float | None, model: RoiCodecModel,
                       stop_level: float | None, keep_lift: bool = False,
                       analyses: dict[int, torch.Tensor] | None = None) -> tuple[CompressResult, bool]:
    """One coding scale: analyse once, then rate control over the base level (and the ROI lift).
    Also says whether the search stopped at ``stop_level`` (the caller then tries a larger scale).
    With ``keep_lift``, a budget that cannot hold the ROI's full lift even over the lowest background
    ends the work after one trial, out of range (the caller then falls back to a smaller scale)."""
    level_range = model.config.level_range
    w, h = prepared.size
    cw, ch = bitstream.coded_size(w, h, scale)
    blocks = None
    if importance is not None:
        blocks = block_importance(importance if scale == bitstream.SCALE_ONE
                                  else cv2.resize(importance.astype(np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR))
    shape = bitstream.latent_shape(ch, cw)

    with torch.inference_mode():
        analyses = {} if analyses is None else analyses
        if scale not in analyses:
            analyses[scale] = model.analyse(pad_to_stride(scaling.resample(to_tensor(prepared.rgb), ch, cw)))
        y = analyses[scale]

        def encode(base: float, roi_strength: float | None = None) -> bytes:
            base = bitstream.quantise_base(base)
            s = strength if roi_strength is None else bitstream.quantise_strength(roi_strength)
            q = quality_map(base, s, blocks, shape, level_range)
            code = model.compress_latent(y, q)
            f = bitstream.RczFile(
                width=w, height=h, mode=prepared.mode, model_id=model.model_id, base_level=base,
                roi_strength=s, importance=blocks if s else None, z_payload=code.z_string, y_payloads=code.y_strings,
                scale=scale,
            )
            return bitstream.pack(f, level_range)

        if budget is None:
            base = bitstream.quantise_base(float(quality))
            return CompressResult(encode(base), base, strength, 1, True, scale=scale, blocks=blocks), False
        if keep_lift and strength > 0:
            floor = encode(level_range.low)
            if len(floor) > budget:
                return CompressResult(floor, level_range.low, strength, 1, False, scale=scale, blocks=blocks), False
        result = search_base_level(encode, budget, level_range, rate_curve(model, cw * ch), stop_level)
        if not result.in_range and result.base <= level_range.low and strength > 0:
            result, strength = _lower_lift(encode, budget, level_range, result, strength)
    return CompressResult(result.data, result.base, strength, result.trials, result.in_range,
                          [result.message] if result.message else [], scale=scale,
                          blocks=blocks if strength else None), result.stopped


def _refined(prepared: PreparedImage, result: CompressResult, importance: np.ndarray | None, strength: float,
             budget: int | None, quality: float | None, model: RoiCodecModel, steps: int,
             analyses: dict[int, torch.Tensor]) -> CompressResult:
    """Refine the latent at the quality map rate control chose, then run rate control again on it.

    The refined latent costs a few per cent more at the same map, so the search usually settles a
    little lower. A lift that the first search lowered to fit the budget (below ``strength``, the one
    asked for) is the second search's starting lift. Of the two files, the one with the lower rate + λ·distortion is kept (both decoded
    here): effort never makes a file worse by the objective the model was trained on.
    """
    level_range = model.config.level_range
    w, h = prepared.size
    cw, ch = bitstream.coded_size(w, h, result.scale)
    if cw * ch > MAX_REFINE_PIXELS:
        return replace(result, notes=result.notes + [
            f"latent refinement skipped: {cw * ch:,} pixels are over its memory limit of {MAX_REFINE_PIXELS:,}"])
    shape = bitstream.latent_shape(ch, cw)
    q = quality_map(result.base_level, result.roi_strength, result.blocks, shape, level_range)
    x = pad_to_stride(scaling.resample(to_tensor(prepared.rgb), ch, cw))
    levels = _pixel_levels(importance, result, x.shape[-2:], level_range) if result.blocks is not None else None
    refinement = refine_latent(model, x, analyses[result.scale], q, steps, valid=(ch, cw), pixel_levels=levels)
    if refinement.best_step == 0:
        return result
    again, _ = _compress_at_scale(prepared, result.scale, importance if result.roi_strength else None,
                                  result.roi_strength, budget, quality, model, None,
                                  analyses={result.scale: refinement.latent})
    if result.in_range and not again.in_range:
        return result
    weight = distortion_weight(model, q, levels)[..., :ch, :cw]

    def objective(data: bytes) -> float:
        x_hat = _coded_picture(data, model)[..., :ch, :cw]
        se = (x_hat - x[..., :ch, :cw]).pow(2).mean(dim=1, keepdim=True)
        return 8 * len(data) / (cw * ch) + float((weight * se).mean())

    if objective(again.data) >= objective(result.data):
        return result
    # the lift may have been lowered twice (before and after refinement): one note, from the strength asked for
    notes = [n for n in again.notes if not n.startswith(LOWERED_LIFT)]
    if again.roi_strength != strength and again.in_range:
        notes.append(lowered_lift_note(strength, again.roi_strength))
    return replace(again, trials=result.trials + again.trials, refine_steps=steps, notes=notes)


def _pixel_levels(importance: np.ndarray, result: CompressResult, padded: tuple[int, int],
                  level_range: LevelRange) -> torch.Tensor:
    """Each coded pixel's own level, base + strength * its importance (combine.pixel_importance), over
    the padded picture (the padding carries no weight in refinement)."""
    ph, pw = padded
    cw, ch = bitstream.coded_size(importance.shape[1], importance.shape[0], result.scale)
    imp = importance.astype(np.float32)
    if (ch, cw) != imp.shape:
        imp = cv2.resize(imp, (cw, ch), interpolation=cv2.INTER_LINEAR)
    imp = np.pad(pixel_importance(imp), ((0, ph - ch), (0, pw - cw)), mode="edge")
    levels = result.base_level + result.roi_strength * torch.from_numpy(imp)[None, None]
    return levels.clamp_(level_range.low, level_range.high)


def _coded_picture(data: bytes, model: RoiCodecModel) -> torch.Tensor:
    """A file's picture at its coded size (padded), as the decoder makes it."""
    f = _parse(data, model)
    q = quality_map(f.base_level, f.roi_strength, f.importance, f.latent_shape, model.config.level_range)
    with torch.inference_mode():
        return model.synthesise(model.decompress_latent(f.z_payload, f.y_payloads, f.latent_shape), q)


LOWERED_LIFT = "the budget is below the range at ROI strength"


def lowered_lift_note(asked: float, lowered: float) -> str:
    return f"{LOWERED_LIFT} {asked:g}; the ROI strength was lowered to {lowered:g} to fit it"


def _lower_lift(encode, budget: int, level_range: LevelRange, result: RateResult, strength: float) -> tuple[RateResult, float]:
    """Below the range with the background already at the lowest level: keep the file in budget by
    lowering the ROI's lift instead (size grows with the strength)."""
    lifted = search_base_level(lambda st: encode(level_range.low, st), budget, LevelRange(0.0, strength))
    if len(lifted.data) >= len(result.data):
        return result, strength
    # In budget with a lower lift, or, when not even the background alone fits,
    # the smallest file there is: the one without a lift (the strength search ends at 0).
    fits = len(lifted.data) <= budget
    lowered = bitstream.quantise_strength(lifted.base)
    message = lowered_lift_note(strength, lowered) if fits else f"{lifted.message}, even without an ROI lift"
    return replace(lifted, base=bitstream.quantise_base(level_range.low), in_range=fits, message=message), lowered


def rate_curve(model: RoiCodecModel, pixels: int) -> RateCurve | None:
    """The model's measured bpp-per-level curve (weights metadata), if it ships one."""
    meta = getattr(model, "weights_meta", {})
    bpp = meta.get("rate_curve_bpp")
    first = float(meta.get("rate_curve_min_level", 0.0))
    if not bpp or first + len(bpp) - 1 != model.config.level_range.high or first < model.config.level_range.low:
        return None
    return RateCurve([float(b) for b in bpp], pixels, first)


def _parse(data: bytes, model: RoiCodecModel) -> bitstream.RczFile:
    f = bitstream.unpack(data, model.config.level_range, len(model.context.groups))
    if f.model_id != model.model_id:
        raise ModelMismatchError(
            f"file was made by model {f.model_id.hex()}, but the loaded model is {model.model_id.hex()}"
        )
    return f


def check_decode_limit(f: bitstream.RczFile, max_pixels: int | None) -> None:
    """Refuse before any allocation a file whose coded picture exceeds max_pixels (None: no limit)."""
    cw, ch = f.coded_size
    pixels = max(cw * ch, f.width * f.height)
    if max_pixels is not None and pixels > max_pixels:
        memory = bitstream.DECODE_BYTES_PER_PIXEL * pixels / 2**30
        raise DecodeLimitError(
            f"decoding this {f.width}x{f.height} file needs {pixels:,} pixels at its coded size"
            f"{f' (~{memory:.0f} GiB of memory)' if memory >= 1 else ''}, over the limit of {max_pixels:,}; "
            "raise the limit with max_pixels (--max-pixels)"
        )


def decompress(data: bytes, model: RoiCodecModel | None = None,
               max_pixels: int | None = bitstream.MAX_DECODE_PIXELS) -> Image.Image:
    """Decode .rcz bytes to a PIL image (mode RGB, or L for grayscale sources).

    Files whose picture exceeds ``max_pixels`` are refused before decoding (a guard against
    crafted files that claim a huge size); pass None to decode any size the format allows.
    """
    model = model or load_model()
    f = _parse(data, model)
    check_decode_limit(f, max_pixels)
    q = quality_map(f.base_level, f.roi_strength, f.importance, f.latent_shape, model.config.level_range)
    with torch.inference_mode():
        try:
            y_hat = model.decompress_latent(f.z_payload, f.y_payloads, f.latent_shape)
        except (RuntimeError, ValueError, OverflowError) as exc:
            raise BitstreamError(f"corrupt file: entropy decoding failed ({exc})") from None
        x_hat = model.synthesise(y_hat, q)
        if f.scale != bitstream.SCALE_ONE:
            cw, ch = f.coded_size
            x_hat = scaling.resample(x_hat[:, :, :ch, :cw], f.height, f.width)
    return to_image(x_hat, f.width, f.height, f.mode)


def inspect(data: bytes, model: RoiCodecModel | None = None) -> dict:
    """Header facts of a .rcz file: dimensions, bytes, bpp, quality-level range, model."""
    f = bitstream.peek_header(data)["file"]
    # without a model the usable range is unknown: report the map as the file states it
    level_range = model.config.level_range if model is not None else LevelRange(-float("inf"), float("inf"))
    q = quality_map(f.base_level, f.roi_strength, f.importance, f.latent_shape, level_range)
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
    return info
