"""Picture -> .rcz bytes: one EncodeJob per image holds what every trial shares.

A job holds the prepared picture, the model, the importance map and ROI strength, and the budget,
and caches the analysis's latent per coding scale, so that the many trials of rate control only
re-run the entropy coder. ``encode`` makes one file, ``search`` runs rate control at one scale,
``refine`` optimises the latent (``--effort``) and ``run`` picks the coding scale: ``descend``,
``larger_or_native``, ``climb`` and ``above_range`` (the default ``fit`` and ``--scale auto``; scaling.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import torch

from . import bitstream, scaling
from .decoder import coded_picture, parse
from .errors import BudgetError
from .hardware import bf16_analysis, bf16_estimate, reproducible_kernels, reproducible_threads
from .images import PreparedImage, pad_to_stride, to_tensor
from .levels import LevelRange
from .model import RoiCodecModel
from .model.refine import MAX_REFINE_PIXELS, RefineTarget, refine_latent
from .models import load_model, model_for_rate
from .progress import phase, report
from .ratecontrol import LOWERED_LIFT, Budget, RateCurve, lower_lift, lowered_lift_note, search_base_level
from .roi import RoiSpec, block_importance, build_importance, pixel_importance, quality_map


#: Bytes at a level grow as (coded pixels) ** this for a picture coded larger than it is: on 20 training
#: pictures at 0.9-1.45 bpp the high-rate model's 1.5x files sat 0.33 below native's in log bytes against
#: the rate curve at their coded pixels, and 0.01 below at this exponent (design-decisions item 27).
UPSCALED_PIXEL_EXPONENT = 0.6
#: Bytes a payload adds to its information content: the rANS coder's flushed state and last word (6.5
#: median over the 6 payloads of 9 small files), and its length's varint.
PAYLOAD_OVERHEAD = 7.5


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


def check_strength(strength: float, level_range: LevelRange) -> float:
    """The ROI strength as the file stores it; an error before any detector runs.

    At most the trained span (0..K-1) either way: a lift from the background's level to the top.
    """
    top = level_range.high
    if not np.isfinite(strength) or not -top <= strength <= top:
        raise BudgetError(f"roi strength must be a number in [-{top:g}, {top:g}]")
    return bitstream.quantise_strength(float(strength))


def roi_importance(prepared: PreparedImage, spec: RoiSpec, strength: float,
                   level_range: LevelRange) -> tuple[np.ndarray | None, float, dict]:
    """(importance in [0, 1] or None, the strength the file will carry, what each source found).
    An ROI that marks no block, or a strength of 0, codes the picture uniformly."""
    if spec.is_empty():
        return None, 0.0, {}
    strength = check_strength(strength, level_range)
    importance, report = build_importance(prepared.rgb, spec)
    if strength == 0 or not block_importance(importance).any():
        return None, 0.0, report
    return importance, strength, report


class EncodeJob:
    """One picture's encode at a budget, with an optional importance map lifted by ``strength`` levels."""

    def __init__(self, prepared: PreparedImage, model: RoiCodecModel, budget: Budget,
                 importance: np.ndarray | None = None, strength: float = 0.0, precision: str = "auto") -> None:
        self.prepared = prepared
        self.precision = precision  # of the float transforms (hardware.PRECISIONS)
        self.model = model
        self.budget = budget
        self.importance = importance
        self.strength = strength if importance is not None else 0.0
        self.level_range = model.config.level_range
        self._latents: dict[int, torch.Tensor] = {}
        self._blocks: dict[int, np.ndarray | None] = {}
        self._headers: dict[tuple[int, bool], int] = {}
        self._encodes = 0  # real encodes so far, named in the progress reports

    # ------------------------------------------------------------------ per coding scale
    def coded_size(self, scale: int) -> tuple[int, int]:
        return bitstream.coded_size(*self.prepared.size, scale)

    def blocks(self, scale: int) -> np.ndarray | None:
        """The importance map the file carries at this scale (per 16x16 block of the coded picture)."""
        if self.importance is None:
            return None
        if scale not in self._blocks:
            cw, ch = self.coded_size(scale)
            importance = self.importance if scale == bitstream.SCALE_ONE else cv2.resize(
                self.importance.astype(np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR)
            self._blocks[scale] = block_importance(importance)
        return self._blocks[scale]

    def coded_input(self, scale: int) -> torch.Tensor:
        """The picture as the analysis sees it: resampled to the coded size and padded. (Down to the picture
        whose upsampling by the decoder is nearest the original, inverse_resample.py, gained nothing: +0.0007
        dB at 0.05 bpp on 6 Kodak images, where the coding itself removes what it would keep.)"""
        cw, ch = self.coded_size(scale)
        return pad_to_stride(scaling.resample(to_tensor(self.prepared.rgb).to(self.model.device), ch, cw))

    def latent(self, scale: int) -> torch.Tensor:
        """The analysis's latent, computed once per scale: a fall-back to a smaller scale does not analyse again.
        In bf16 where hardware.bf16_analysis says so."""
        if scale not in self._latents:
            bf16 = bf16_analysis(self.model.device, self.model.config.transforms, self.precision)
            with (torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16),
                  phase(f"{scale / bitstream.SCALE_ONE:g}x")):
                self._latents[scale] = self.model.analyse(self.coded_input(scale)).float()
        return self._latents[scale]

    def rate_curve(self, scale: int) -> RateCurve | None:
        """The model's rate curve (measured at native size) for this scale's file. A picture coded larger is
        smoother per coded pixel, so its bytes at a level grow as the coded pixels to the power
        ``UPSCALED_PIXEL_EXPONENT``, not in proportion (design-decisions item 27)."""
        cw, ch = self.coded_size(scale)
        pixels = cw * ch
        if scale > bitstream.SCALE_ONE:
            w, h = self.prepared.size
            pixels = w * h * (pixels / (w * h)) ** UPSCALED_PIXEL_EXPONENT
        return RateCurve.from_metadata(self.model.meta, self.level_range, pixels)

    # ------------------------------------------------------------------ files
    def encode(self, scale: int, base: float, strength: float, latent: torch.Tensor | None = None) -> bytes:
        """One file: this scale's latent (or ``latent``) at base level + strength x importance."""
        base, strength = bitstream.quantise_base(base), bitstream.quantise_strength(strength)
        blocks = self.blocks(scale) if strength else None
        cw, ch = self.coded_size(scale)
        q = quality_map(base, strength, blocks, bitstream.latent_shape(ch, cw), self.level_range).to(self.model.device)
        latent = self.latent(scale) if latent is None else latent
        self._encodes += 1
        with torch.inference_mode(), phase(f"{scale / bitstream.SCALE_ONE:g}x, trial {self._encodes} at level {base:.2f}"):
            code = self.model.compress_latent(latent, q)
        w, h = self.prepared.size
        f = bitstream.RczFile(
            width=w, height=h, mode=self.prepared.mode, model_id=self.model.model_id, base_level=base,
            roi_strength=strength, importance=blocks, z_payload=code.z_string, y_payloads=code.y_strings, scale=scale,
        )
        return bitstream.pack(f, self.level_range)

    def estimate(self, scale: int, base: float, strength: float, latent: torch.Tensor | None = None) -> float:
        """The size ``encode`` would give, estimated by the float entropy model: rate control's cheap trial
        (ratecontrol.EstimateGuide). In bf16 where the CPU has it natively; on one thread for a narrow
        latent (hardware.reproducible_threads), so that the levels tried, hence the file, are the same
        at any thread count; on a GPU with deterministic float32 kernels, so that they repeat."""
        base, strength = bitstream.quantise_base(base), bitstream.quantise_strength(strength)
        blocks = self.blocks(scale) if strength else None
        cw, ch = self.coded_size(scale)
        shape = bitstream.latent_shape(ch, cw)
        q = quality_map(base, strength, blocks, shape, self.level_range).to(self.model.device)
        bf16 = bf16_estimate(self.model.device, self.precision)
        with (torch.inference_mode(), reproducible_threads(*shape), reproducible_kernels(self.model.device),
              torch.autocast("cpu", torch.bfloat16, enabled=bf16)):
            z_bits, y_bits = self.model.estimate_latent(self.latent(scale) if latent is None else latent, q)
        report(f"{scale / bitstream.SCALE_ONE:g}x, size estimate at level {base:.2f}", 1, 1)
        return self._header_bytes(scale, blocks) + sum(bits / 8 + PAYLOAD_OVERHEAD for bits in [z_bits, *y_bits])

    def _header_bytes(self, scale: int, blocks: np.ndarray | None) -> int:
        """What a file at this scale carries besides its payloads (each payload adds its length's varint,
        counted with it in ``estimate``), packed once per scale and map."""
        key = (scale, blocks is not None)
        if key not in self._headers:
            w, h = self.prepared.size
            groups = self.model.latent_codec.groups
            f = bitstream.RczFile(width=w, height=h, mode=self.prepared.mode, model_id=self.model.model_id,
                                  base_level=self.level_range.low, roi_strength=0.0, importance=blocks,
                                  z_payload=b"", y_payloads=[b""] * groups, scale=scale)
            self._headers[key] = len(bitstream.pack(f, self.level_range)) - 1 - groups
        return self._headers[key]

    def search(self, scale: int, strength: float, stop_level: float | None = None, keep_lift: bool = False,
               latent: torch.Tensor | None = None, give_up_below: float | None = None,
               pass_above: bool = False) -> tuple[CompressResult, bool]:
        """Rate control at one scale over the base level (and the ROI lift). Also says whether the search
        stopped at ``stop_level`` (the caller then tries a larger scale) or gave up because its file would
        land below ``give_up_below`` (an unfinished result: the caller tries a smaller one). With
        ``keep_lift``, a budget that cannot hold the ROI's full lift even over the lowest background ends the
        work after one trial, out of range (the caller then falls back to a smaller scale). With
        ``pass_above``, a budget the size estimate puts well above this scale's largest file ends it before
        any real encode, out of range with no data (ratecontrol.search_base_level; ``above_range`` then codes
        a larger scale, and this one only if that one does not fit)."""
        low = self.level_range.low
        blocks = self.blocks(scale) if strength else None

        def encode(base: float, lift: float = strength) -> bytes:
            return self.encode(scale, base, lift, latent)

        if self.budget.size is None:
            base = bitstream.quantise_base(self.budget.quality)
            return CompressResult(encode(base), base, strength, 1, True, scale=scale, blocks=blocks), False
        if keep_lift and strength > 0:
            floor = encode(low)
            if len(floor) > self.budget.size:
                return CompressResult(floor, low, strength, 1, False, scale=scale, blocks=blocks), False
        def estimate(base: float) -> float:
            return self.estimate(scale, base, strength, latent)

        result = search_base_level(encode, self.budget.size, self.level_range, self.rate_curve(scale), stop_level,
                                   give_up_below=give_up_below, estimate=estimate, pass_above=pass_above)
        if not result.stopped and not result.in_range and result.base <= low and strength > 0:
            result, strength = lower_lift(encode, self.budget.size, self.level_range, result, strength)
        return CompressResult(result.data, result.base, strength, result.trials, result.in_range,
                              [result.message] if result.message else [], scale=scale,
                              blocks=blocks if strength else None), result.stopped

    def run(self, scale: int | str = scaling.FIT, refine_steps: int = 0) -> CompressResult:
        """The file for the budget at a fixed scale, by the default choice (``fit``), or climbing the scales
        where the budget pays for them (``auto``); then, with ``refine_steps``, refined."""
        w, h = self.prepared.size
        high_rate = self.model.meta.get("use_from_bpp") is not None
        if isinstance(scale, int):
            result = self.search(scale, self.strength)[0]
        elif self.budget.size is None:
            # a quality level means the same thing only at one scale
            result = self.search(bitstream.SCALE_ONE, self.strength)[0]
        elif high_rate:
            result = self.larger_or_native(scaling.high_rate_scale(w, h, 8 * self.budget.size / (w * h)),
                                           pass_above=scale == scaling.FIT)
            if scale == scaling.FIT:
                result = self.above_range(result)
        elif scale == scaling.AUTO:
            result = self.climb(scaling.auto_ladder(w, h, 8 * self.budget.size / (w * h)))
        else:
            result = self.above_range(self.descend())
        return self.refine(result, refine_steps) if refine_steps else result

    def climb(self, ladder: list[tuple[int, float | None]]) -> CompressResult:
        """Up the ladder: the next scale while rate control lands at or above the step's climb level.

        The climb follows the top of the map: with an ROI, the ROI's level (base + strength times its
        largest importance, which the block rule keeps). The ROI's blocks are coded like a picture at
        that level, so the crossing levels hold for them."""
        top_lift = self._top_lift()
        for i, (sc, climb_level) in enumerate(ladder):
            stop = None if climb_level is None else climb_level - top_lift
            result, stopped = self.search(sc, self.strength, stop, keep_lift=i > 0)
            if i and not self._fits(result):
                return self.search(ladder[i - 1][0], self.strength)[0]  # the scale below, searched to the end
            if not stopped:
                break
        return result

    def larger_or_native(self, scale: int, pass_above: bool = False) -> CompressResult:
        """The high-rate model's choice (scaling.HIGH_RATE_UPSCALE_BPP): rate control at ``scale``, or at
        native size where the picture at that scale does not fit the budget or fits only by lowering the
        ROI's lift. With ``pass_above`` (the caller goes on to ``above_range``), a budget well above the
        scale's largest file may come back unsearched, with no data (``search``)."""
        if scale == bitstream.SCALE_ONE:
            return self.search(scale, self.strength)[0]
        w, h = self.prepared.size
        larger = pass_above and any(sc > scale for sc in scaling.above_range(w, h))
        result, _ = self.search(scale, self.strength, keep_lift=True, pass_above=larger)
        return result if self._fits(result) else self.search(bitstream.SCALE_ONE, self.strength)[0]

    def _fits(self, result: CompressResult) -> bool:
        """Whether a file at a larger scale holds the budget with the ROI's full lift (else the caller codes
        the scale below)."""
        fits_budget = result.in_range or result.base_level > self.level_range.low
        return fits_budget and result.roi_strength == self.strength

    def descend(self) -> CompressResult:
        """Native size, or smaller while the map's top level (the ROI's, with an ROI) lands below
        ``scaling.DESCEND_LEVEL`` or the smallest file is over the budget: each scale of ``BELOW_RANGE`` is
        kept if it fits the budget with the ROI's lift (or, out of range, comes nearer). The default
        model's rule; a model for high rates leaves low budgets to the default model (``encode_picture``).

        A search that will land below the level gives up after a trial or two (``give_up_below``); its scale
        is searched to the end only if the smaller one does not fit, since only then is its file needed."""
        give_up = scaling.DESCEND_LEVEL - self._top_lift()
        scales = (bitstream.SCALE_ONE, *scaling.BELOW_RANGE)
        budget = self.budget.size
        result, unfinished = self.search(scales[0], self.strength, give_up_below=give_up)
        if not unfinished and len(result.data) <= budget and self._top_level(result) >= scaling.DESCEND_LEVEL:
            return result
        fallback = result if not unfinished and len(result.data) <= budget else None
        for i, sc in enumerate(scales[1:], 1):
            last = i == len(scales) - 1
            trial, trial_unfinished = self.search(sc, self.strength, give_up_below=None if last else give_up)
            if trial_unfinished:
                # it would fit below the level: kept, as a finished one would be, and the next scale is tried
                result, unfinished = trial, True
                continue
            fits = len(trial.data) <= budget
            if unfinished and not (fits and trial.roi_strength == self.strength):
                result, unfinished = self.search(scales[i - 1], self.strength)[0], False  # its file is needed now
                if len(result.data) <= budget:
                    fallback = result
            if not unfinished:
                if len(result.data) > budget:
                    if not fits and len(trial.data) >= len(result.data):
                        break
                elif not fits or trial.roi_strength < result.roi_strength:
                    break
            result, unfinished = trial, False
            if fits:
                fallback = trial
                if self._top_level(trial) >= scaling.DESCEND_LEVEL:
                    break
        # a give-up's estimate that was wrong (its scale's file, searched later, over the budget)
        return fallback if len(result.data) > budget and fallback is not None else result

    def above_range(self, result: CompressResult) -> CompressResult:
        """A budget over the largest file at ``result``'s scale: the larger scales of ``ABOVE_RANGE`` until
        one holds it; the file that spends most of the budget is kept."""
        if result.in_range or len(result.data) > self.budget.size:
            return result
        w, h = self.prepared.size
        passed = result if not result.data else None  # a scale passed on unsearched (``search``'s pass_above)
        for sc in scaling.above_range(w, h):
            if sc <= result.scale:
                continue
            trial, _ = self.search(sc, self.strength)
            if self.budget.size >= len(trial.data) > len(result.data):
                result = trial  # more of the budget spent
            if trial.in_range:
                break
        if passed is not None and not result.data:
            result = self.larger_or_native(passed.scale)  # no larger scale fits: that scale's own choice after all
        return result

    def _top_lift(self) -> float:
        """How far the map's top (the ROI's most important block) stands above the base level."""
        return max(self.strength, 0.0) * (float(self.importance.max()) if self.importance is not None else 0.0)

    def _top_level(self, result: CompressResult) -> float:
        """The highest level of the file's map: the base, or with an ROI the ROI's (the block rule keeps
        its largest importance)."""
        imp = float(self.importance.max()) if self.importance is not None and result.blocks is not None else 0.0
        return result.base_level + max(result.roi_strength, 0.0) * imp

    # ------------------------------------------------------------------ refinement
    def refine(self, result: CompressResult, steps: int) -> CompressResult:
        """Refine the latent at the quality map rate control chose, then run rate control again on it.

        The refined latent costs a few per cent more at the same map, so the search usually settles a
        little lower. A lift that the first search lowered to fit the budget is the second search's
        starting lift. Of the two files, the one with the lower rate + λ·distortion is kept (both decoded
        here): effort never makes a file worse by the objective the model was trained on.
        """
        cw, ch = self.coded_size(result.scale)
        if cw * ch > MAX_REFINE_PIXELS:
            return replace(result, notes=result.notes + [
                f"latent refinement skipped: {cw * ch:,} pixels are over its memory limit of {MAX_REFINE_PIXELS:,}"])
        q = quality_map(result.base_level, result.roi_strength, result.blocks, bitstream.latent_shape(ch, cw),
                        self.level_range).to(self.model.device)
        x = self.coded_input(result.scale)
        levels = self.pixel_levels(result) if result.blocks is not None else None
        target = RefineTarget.of(self.model, x, q, (ch, cw), levels)
        refinement = refine_latent(self.model, target, self.latent(result.scale), steps)
        if refinement.best_step == 0:
            return result
        again, _ = self.search(result.scale, result.roi_strength, latent=refinement.latent)
        if result.in_range and not again.in_range:
            return result

        def objective(data: bytes) -> float:
            x_hat = coded_picture(parse(data, self.model), self.model, precision=self.precision)
            se = (x_hat - x).pow(2).mean(dim=1, keepdim=True)
            return 8 * len(data) / (cw * ch) + float((target.weight * se).sum()) / target.pixels

        if objective(again.data) >= objective(result.data):
            return result
        # the lift may have been lowered twice (before and after refinement): one note, from the strength asked for
        notes = [n for n in again.notes if not n.startswith(LOWERED_LIFT)]
        if again.roi_strength != self.strength and again.in_range:
            notes.append(lowered_lift_note(self.strength, again.roi_strength))
        return replace(again, trials=result.trials + again.trials, refine_steps=steps, notes=notes)

    def pixel_levels(self, result: CompressResult) -> torch.Tensor:
        """Each coded pixel's own level, base + strength * its importance (combine.pixel_importance), over
        the padded picture (the padding carries no weight in refinement)."""
        cw, ch = self.coded_size(result.scale)
        ph, pw = bitstream.padded_size(ch, cw)
        imp = self.importance.astype(np.float32)
        if (ch, cw) != imp.shape:
            imp = cv2.resize(imp, (cw, ch), interpolation=cv2.INTER_LINEAR)
        imp = np.pad(pixel_importance(imp), ((0, ph - ch), (0, pw - cw)), mode="edge")
        levels = result.base_level + result.roi_strength * torch.from_numpy(imp)[None, None]
        return levels.clamp_(self.level_range.low, self.level_range.high).to(self.model.device)


def encode_picture(prepared: PreparedImage, budget: Budget, roi: tuple[np.ndarray | None, float], *,
                   scale: int | str, refine_steps: int, model: RoiCodecModel | None = None,
                   device: str | None = None, precision: str = "auto") -> CompressResult:
    """The file for a budget. With ``model``, that model codes it (where it lives). Without, the shipped
    model for the budget's rate does, on ``device`` (models.model_for_rate), and where that is not the default model and its smallest
    file is over the budget, or fits only with a lower ROI lift than asked, the default model codes it
    instead: a model for high rates has a higher floor, which a strong ROI near its threshold can reach."""
    importance, strength = roi
    pixels = prepared.size[0] * prepared.size[1]
    chosen = model or model_for_rate(8 * budget.size / pixels if budget.size else None, device)
    result = EncodeJob(prepared, chosen, budget, importance, strength, precision).run(scale, refine_steps)
    # only a failure at the bottom of its range: above it, the default model reaches even less
    below = not result.in_range and result.base_level <= chosen.config.level_range.low
    if model is None and (below or result.roi_strength != strength) and chosen is not load_model(device=device):
        fallback = EncodeJob(prepared, load_model(device=device), budget, importance, strength,
                             precision).run(scale, refine_steps)
        if fallback.in_range and (fallback.roi_strength == strength or not result.in_range):
            return fallback
    return result
