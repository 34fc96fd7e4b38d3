"""What the CPU can do: native bf16 (training and refinement pick their precision from it), how
many threads keep a decode reproducible, and which GPU kernels do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import torch

from .levels import PRECISIONS


@cache
def cpu_has_native_bf16() -> bool:
    """bf16 autocast pays only with AMX or AVX-512 BF16; on AVX2 it was 10-40x slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


#: Latent sides below which the synthesis runs on one thread (see ``reproducible_threads``).
NARROW_LATENT = 20


@contextmanager
def reproducible_kernels(device: torch.device) -> Iterator[None]:
    """On a GPU: deterministic cuDNN kernels in full float32 (no TF32, no autotuning), so that a decode
    repeats exactly and stays as near the CPU's floats as float32 allows. Nothing to do on a CPU."""
    if device.type != "cuda":
        yield
        return
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False):
        yield


@contextmanager
def reproducible_threads(height: int, width: int) -> Iterator[None]:
    """One thread for narrow latents, so that a decode gives the same floats at any thread count.

    On an AVX-512 / AMX CPU, oneDNN's convolutions gave different float sums with 1 and 2 threads for
    latents with a side under 20 (both shipped models, e.g. 8x12, 7x19, 19x14, 37x19: 1e-6 differences,
    a few 8-bit values of a decode) and never for 31 other shapes with both sides from 20 to 96
    (thread-count dependent work splitting). Such pictures (a side under 320 pixels) or tiles decode in
    well under a second, so one thread costs little.
    """
    if min(height, width) >= NARROW_LATENT:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


#: Synthesis transforms whose bf16 decode gave the same pixels at 1 and 2 threads on every shape tried
#: (36 latent shapes from 1x1 to 140x140 on an AVX-512 BF16 EPYC). The Balle-2017 transforms of the
#: high-rate model did not (latents 61x54 and 37x19: up to 1/255 apart), and decode in a third of the
#: fidelity model's time anyway. Measured cost on 24 Kodak images: -0.003 dB mean (worst -0.02) at 0.1-0.4
#: bpp, for 0.70 -> 0.45 s a decode (docs/results.md, "bf16 where the CPU has it").
BF16_SYNTHESIS_TRANSFORMS = frozenset({"roicodec-v1"})
#: Analysis transforms run in bf16 by the encoder: thread-reproducible for both models (34 shapes), but the
#: high-rate model's lost 0.05 dB at 0.8 bpp (GDN); the fidelity model's costs +0.1 % bytes at fixed levels
#: and -0.002 dB with rate control, for 0.96 -> 0.83 s an encode at 0.25 bpp.
BF16_ANALYSIS_TRANSFORMS = frozenset({"roicodec-v1"})


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return precision


def _bf16(transforms_measured: frozenset[str], device: torch.device, transforms: str, precision: str) -> bool:
    """bf16 only at "auto", on a CPU with native bf16 (elsewhere it is slower, and a GPU runs reproducible
    float32) and for transforms measured fit for it."""
    return (check_precision(precision) == "auto" and device.type == "cpu" and transforms in transforms_measured
            and cpu_has_native_bf16())


def bf16_synthesis(device: torch.device, transforms: str, precision: str = "auto") -> bool:
    """Whether a decode at ``precision`` runs the synthesis (and perceptual head) under bf16 autocast."""
    return _bf16(BF16_SYNTHESIS_TRANSFORMS, device, transforms, precision)


def bf16_analysis(device: torch.device, transforms: str, precision: str = "auto") -> bool:
    """Whether an encode at ``precision`` runs the analysis transform under bf16 autocast."""
    return _bf16(BF16_ANALYSIS_TRANSFORMS, device, transforms, precision)


def bf16_estimate(device: torch.device, precision: str = "auto") -> bool:
    """Whether rate control's size estimates (encoder.EncodeJob.estimate) run under bf16 autocast: for
    every model, since only the levels tried depend on them, never a file's decoding."""
    return check_precision(precision) == "auto" and device.type == "cpu" and cpu_has_native_bf16()
