"""What the CPU can do: native bf16 (training and refinement pick their precision from it), how
many threads keep a decode reproducible, and which GPU kernels do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch


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
