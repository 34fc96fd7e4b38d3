"""Rate-distortion curves: CompressAI-style result JSON, BD-rate (bjontegaard package), plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..atomic import atomic_write, atomic_write_text


def result_json(name: str, description: str, points: list[dict]) -> dict:
    """points: one dict per rate point with bpp, psnr-rgb, ms-ssim (means over images)."""
    pts = sorted(points, key=lambda p: p["bpp"])
    keys = [k for k in pts[0] if k != "setting"] if pts else []
    return {"name": name, "description": description,
            "results": {k: [p[k] for p in pts] for k in keys} | {"setting": [p.get("setting") for p in pts]}}


def bd_rate(anchor: dict, test: dict, metric: str = "psnr-rgb") -> float | None:
    """Bjontegaard delta rate of `test` against `anchor` in percent (negative = test needs fewer bits)."""
    import bjontegaard

    try:
        ra, da = anchor["results"]["bpp"], anchor["results"][metric]
        rt, dt = test["results"]["bpp"], test["results"][metric]
        value = bjontegaard.bd_rate(ra, da, rt, dt, method="akima", require_matching_points=False, min_overlap=0.3)
    except Exception:  # no overlap, too few points, non-monotone curve
        return None
    return None if value is None or not math.isfinite(float(value)) else float(value)


def plot_curves(results: list[dict], path: Path, metric: str = "psnr-rgb", title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for r in results:
        style = "-o" if r["name"] == "roicodec" else "--."
        ax.plot(r["results"]["bpp"], r["results"][metric], style, label=r["name"], lw=2 if r["name"] == "roicodec" else 1)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel({"psnr-rgb": "PSNR-RGB (dB)", "ms-ssim": "MS-SSIM"}.get(metric, metric))
    ax.set_xlim(0, 1.6)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png"))
    finally:
        plt.close(fig)


def save_json(obj: dict, path: Path) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2))
