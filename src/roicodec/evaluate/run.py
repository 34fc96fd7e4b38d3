"""`roicodec eval`: roicodec against classical codecs on a folder of images.

roicodec runs at target rates through its own rate control; each classical codec sweeps
its quality setting. Curves average bpp (from real file sizes), PSNR-RGB and MS-SSIM over
the images at each setting, as CompressAI's eval_model does.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..atomic import atomic_write_text
from ..errors import RoicodecError
from .baselines import CODECS, CodecUnavailable
from .metrics import bpp as bits_per_pixel
from .metrics import psnr
from .rd import bd_rate, plot_curves, result_json, save_json

ROICODEC_RATES = [0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0]
SWEEPS = {
    "jpeg": [5, 10, 20, 30, 45, 60, 75, 85, 92],
    "webp": [2, 10, 25, 40, 55, 70, 80, 90],
    "avif": [5, 15, 25, 35, 45, 55, 65, 75, 85],
    "jxl": [5, 15, 30, 45, 60, 70, 80, 88, 94],
    "hevc": [8, 12, 16, 20, 24, 28, 32, 36],  # 51 - QP
}


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    from pytorch_msssim import ms_ssim as _ms_ssim

    ta = torch.from_numpy(a).permute(2, 0, 1)[None].float()
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].float()
    return float(_ms_ssim(ta, tb, data_range=255.0))


def evaluate(images_dir: str, *, codecs: list[str], out_dir: str, limit: int | None = None,
             rates: list[float] | None = None, reference: str | None = None, reuse: bool = False,
             scale: float | str = "fit", effort: int = 0) -> str:
    """With ``reuse``, a classical codec's results JSON already in out_dir is kept when it was
    made from the same image files with the same quality sweep (re-evaluating a new model
    then costs only roicodec's own time)."""
    unknown = [c for c in codecs if c != "roicodec" and c not in CODECS]
    if unknown:
        raise RoicodecError(f"unknown codecs: {', '.join(unknown)} (choose from roicodec, {', '.join(CODECS)})")
    if not codecs:
        raise RoicodecError("no codecs given")
    try:  # the eval extras; checked before hours of work, not after
        import bjontegaard  # noqa: F401
        import matplotlib  # noqa: F401
        import pytorch_msssim  # noqa: F401
    except ImportError as exc:
        raise RoicodecError(f'roicodec eval needs {exc.name}: pip install -e ".[eval]"') from None
    ref = None
    if reference:
        try:
            ref = json.loads(Path(reference).read_text())
        except (OSError, ValueError) as exc:
            raise RoicodecError(f"cannot read the reference curve {reference}: {exc}") from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"})
    if limit:
        files = files[:limit]
    if not files:
        raise FileNotFoundError(f"no images in {images_dir}")
    images = [Image.open(f).convert("RGB") for f in files]
    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    timing: dict[str, dict] = {}
    for name in codecs:
        try:
            if name == "roicodec":
                results[name], timing[name] = _run_roicodec(images, rates or ROICODEC_RATES, scale, effort)
            else:
                previous = _reusable(out / f"{name}.json", files, SWEEPS.get(name)) if reuse else None
                if previous is not None:
                    print(f"{name}: reusing {out / f'{name}.json'} (same images, same sweep)")
                results[name] = previous or _run_classical(name, images)
            results[name]["images"] = [f.name for f in files]
        except CodecUnavailable as exc:
            skipped[name] = str(exc)
            print(f"skipping {name}: {exc}")
            continue
        save_json(results[name], out / f"{name}.json")
    curves = list(results.values())
    if ref is not None:
        curves.append(ref)
    for metric in ("psnr-rgb", "ms-ssim"):
        plot_curves(curves, out / f"rd_{metric}.png", metric, f"{len(files)} images from {Path(images_dir).name}")
    report = _table(curves, skipped, timing, len(files))
    atomic_write_text(out / "results.md", report)
    return report


def _run_roicodec(images: list[Image.Image], rates: list[float], scale: float | str,
                  effort: int = 0) -> tuple[dict, dict]:
    import roicodec

    roicodec.load_model()  # loaded before the clock starts; the encoder picks the shipped model by rate
    points, enc_t, dec_t, per_rate = [], [], [], []
    for target in tqdm(rates, desc="roicodec"):
        rows, scales, models, n = [], [], set(), len(enc_t)
        for im in tqdm(images, leave=False, desc=f"{target} bpp"):
            t0 = time.perf_counter()
            res = roicodec.compress_detailed(im, bpp=target, scale=scale, effort=effort)
            t1 = time.perf_counter()
            dec = np.asarray(roicodec.decompress(res.data).convert("RGB"))
            dec_t.append(time.perf_counter() - t1)
            enc_t.append(t1 - t0)
            scales.append(res.scale / 8)
            models.add(roicodec.inspect(res.data)["model"])
            ref = np.asarray(im)
            rows.append({"bpp": bits_per_pixel(len(res.data), *im.size), "psnr-rgb": psnr(ref, dec), "ms-ssim": ms_ssim(ref, dec)})
        points.append({k: statistics.mean(r[k] for r in rows) for k in rows[0]} | {"setting": target})
        per_rate.append({"target": target, "encode_s": statistics.mean(enc_t[n:]), "decode_s": statistics.mean(dec_t[n:]),
                         "encode_max_s": max(enc_t[n:]), "scales": sorted(set(scales)), "models": sorted(models)})
    timing = {"encode_s": statistics.mean(enc_t), "decode_s": statistics.mean(dec_t), "per_rate": per_rate}
    used = sorted({m for r in per_rate for m in r["models"]})
    return result_json("roicodec", f"roicodec (models {', '.join(used)}), rate control to target bpp"
                       f"{f', effort {effort}' if effort else ''}", points), timing


def _reusable(path: Path, files: list[Path], sweep: list | None) -> dict | None:
    try:
        prev = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if prev.get("images") != [f.name for f in files] or prev.get("results", {}).get("setting") != sweep:
        return None
    return prev


def _run_classical(name: str, images: list[Image.Image]) -> dict:
    codec = CODECS[name]
    points = []
    for q in tqdm(SWEEPS[name], desc=name):
        rows = []
        for im in images:
            data = codec.encode(im, q)
            dec = codec.decode(data)
            ref = np.asarray(im)
            rows.append({"bpp": bits_per_pixel(len(data), *im.size), "psnr-rgb": psnr(ref, dec), "ms-ssim": ms_ssim(ref, dec)})
        points.append({k: statistics.mean(r[k] for r in rows) for k in rows[0]} | {"setting": q})
    return result_json(name, f"{name} quality sweep", points)


def _table(curves: list[dict], skipped: dict, timing: dict, n: int) -> str:
    lines = [f"Rate-distortion on {n} images. BD-rate (PSNR-RGB / MS-SSIM, akima) of each codec relative to roicodec,",
             "and of roicodec relative to each (negative = fewer bits for the same quality).", "",
             "| codec | points | bpp range | BD-rate vs roicodec (PSNR) | roicodec vs codec (PSNR) | roicodec vs codec (MS-SSIM) |",
             "|---|---|---|---|---|---|"]
    ours = next((c for c in curves if c["name"] == "roicodec"), None)
    fmt = lambda v: "n/a" if v is None else f"{v:+.1f} %"  # noqa: E731
    for c in curves:
        b = c["results"]["bpp"]
        if ours is None or c is ours:
            lines.append(f"| {c['name']} | {len(b)} | {min(b):.3f}–{max(b):.3f} | — | — | — |")
            continue
        lines.append(f"| {c['name']} | {len(b)} | {min(b):.3f}–{max(b):.3f} | {fmt(bd_rate(ours, c))} | "
                     f"{fmt(bd_rate(c, ours))} | {fmt(bd_rate(c, ours, 'ms-ssim'))} |")
    for name, why in skipped.items():
        lines.append(f"| {name} | skipped: {why} | | | | |")
    if "roicodec" in timing:
        t = timing["roicodec"]
        lines += ["", f"roicodec mean encode (with rate control) {t['encode_s']:.2f} s, decode {t['decode_s']:.2f} s per image, "
                  f"{torch.get_num_threads()} threads. Per target (coding scales chosen: 1 = the picture as it is; "
                  "the shipped models the encoder chose):", "",
                  "| target bpp | coding scales | models | encode mean / max (s) | decode mean (s) |", "|---|---|---|---|---|"]
        lines += [f"| {r['target']:g} | {', '.join(f'{s:g}' for s in r['scales'])} | {', '.join(r.get('models', []))} | "
                  f"{r['encode_s']:.2f} / {r['encode_max_s']:.2f} | {r['decode_s']:.2f} |" for r in t.get("per_rate", [])]
    lines += ["", "| codec | setting | bpp | PSNR-RGB | MS-SSIM |", "|---|---|---|---|---|"]
    for c in curves:
        r = c["results"]
        for i in range(len(r["bpp"])):
            s = r.get("setting", [None] * len(r["bpp"]))[i]
            lines.append(f"| {c['name']} | {s if s is not None else ''} | {r['bpp'][i]:.3f} | {r['psnr-rgb'][i]:.2f} | {r['ms-ssim'][i]:.4f} |")
    return "\n".join(lines) + "\n"
