"""What the CPU can do fast; training and encode-time refinement pick their precision from it."""

from __future__ import annotations

from pathlib import Path


def cpu_has_native_bf16() -> bool:
    """bf16 autocast pays only with AMX or AVX-512 BF16; on AVX2 it was 10-40x slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags
