"""What the CPU can do: native bf16 (training and refinement pick their precision from it), and how
many threads keep a decode reproducible."""

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


#: Latent positions below which the synthesis runs on one thread (see ``reproducible_threads``).
SMALL_LATENT = 256


@contextmanager
def reproducible_threads(latent_positions: int) -> Iterator[None]:
    """One thread for small latents, so that a decode gives the same floats at any thread count.

    oneDNN splits a 3x3 convolution's channel reduction across threads when a picture has too few
    positions to share out, and the sums then depend on the thread count: measured on an AVX-512 /
    AMX CPU for 192-channel convolutions on an 8x12 latent (1e-6 differences, a few 8-bit values of
    a 192x128 decode), never from 16x16 up. Such pictures decode in milliseconds, so they lose nothing.
    """
    if latent_positions >= SMALL_LATENT:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
