"""Perceptual decoding (issue 24), measured: realism 1 against realism 0 and classical codecs at equal size.

    OMP_NUM_THREADS=1 python benchmarks/perceptual_eval.py --head runs/perceptual/fidelity-v1/head.safetensors \
        --rates 0.1 0.2 --limit 24 16 16 --timing 6 --panels kodak/kodim13 kodak/kodim08 pedestrians/FudanPed00001

For each image (Kodak; COCO and pedestrians from ../shared/data/roi with their ground-truth masks) and
each budget in bits per pixel:
  r0, r1   roicodec with default settings at ``bpp=`` (on the ROI datasets ``roi=`` the ground-truth
           mask at the default roi_strength), one file decoded at realism 0 and at realism 1 (``--head``)
  avif, webp, jpeg
           the largest file of each (evaluate/baselines.py: AVIF 4:4:4 speed 6, as roi_eval.py) that is
           not larger than the roicodec file; where even the codec's smallest file is larger, it is
           recorded as not fitting and left out of its averages (count in the table's "unfit" column)
  avif-min AVIF's smallest file (quality 0) where AVIF cannot go as small as roicodec: scored apart, as
           roi_eval.py does, since it is larger than roicodec's file
Scored with roicodec.evaluate.perceptual (docs/perceptual_metrics.md): PSNR-RGB, MS-SSIM, MS-GMSD and
1 - DSS (held-out full-reference distances, lower is better), BRISQUE (no reference, lower is better),
ROI-PSNR on the ground-truth mask; and detection on the decoded pictures: faces (packaged YuNet) and
people (roi/people.py's HOG detector, boxes scoring >= 0.3 as person_importance keeps them), each
against the same detector on the original: a detection on the original is recalled when some detection
on the decoded picture overlaps it with IoU >= 0.5 (not one-to-one). Recall = recalled / found on the
originals, summed over a dataset's images.

The bar (printed): at 0.1 and 0.2 bpp per dataset, the share of images where the held-out distance at
realism 1 is lower than at realism 0 and lower than AVIF's at equal size (>= 80 %); ROI-PSNR at realism 1
within 0.5 dB of realism 0 (dataset means); recall at realism 1 no lower than at realism 0; and decode
time at realism 1 over realism 0 (<= 1.3x), in-process, same thread count, best of --repeats on Kodak.

Everything is cached under --out (files per image and rate, scores in results.json), so a rerun only
computes what is missing: realism 1 is recomputed when the head file changes (keyed by its SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

#: Budgets in bits per pixel; the bar is checked at BAR_RATES.
RATES = (0.05, 0.1, 0.2, 0.4)
BAR_RATES = (0.1, 0.2)
DATASETS = ("kodak", "coco", "pedestrians")
BASELINES = ("avif", "webp", "jpeg")
VARIANTS = ("r0", "r1", *BASELINES)
#: Rows of the table: AVIF's smallest file where it cannot go as small as roicodec's, apart (it is larger).
REPORTED = ("r0", "r1", "avif", "avif-min", "webp", "jpeg")
METRICS = ("psnr-rgb", "ms-ssim", "ms-gmsd", "1-dss", "brisque", "roi-psnr")
DETECTORS = ("faces", "people")
IOU = 0.5
PERSON_SCORE = 0.3
SUFFIX = {"r0": ".rcz", "avif": ".avif", "webp": ".webp", "jpeg": ".jpg"}


# ---------------------------------------------------------------- pure helpers (tests/test_perceptual_eval.py)

def iou(a, b) -> float:
    """Intersection over union of two boxes (x, y, w, h, ...); 0 when either is empty."""
    ax, ay, aw, ah = a[:4]
    bx, by, bw, bh = b[:4]
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0 or aw <= 0 or ah <= 0 or bw <= 0 or bh <= 0:
        return 0.0
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


def recalled(reference: list, found: list, threshold: float = IOU) -> int:
    """How many reference boxes some found box overlaps with IoU >= threshold (a found box may match several)."""
    return sum(any(iou(r, f) >= threshold for f in found) for r in reference)


def share(pairs: list[tuple[float, float]]) -> tuple[int, int]:
    """(images where the first distance is lower than the second, images compared); nan pairs are skipped."""
    ok = [(a, b) for a, b in pairs if not (math.isnan(a) or math.isnan(b))]
    return sum(a < b for a, b in ok), len(ok)


def budget_bytes(bpp: float, width: int, height: int) -> int:
    return int(bpp * width * height / 8)


def mean(values) -> float:
    values = [v for v in values if v is not None and not math.isnan(v) and not math.isinf(v)]
    return statistics.mean(values) if values else float("nan")


def rate_key(rate: float) -> str:
    return f"{rate:g}"


# ---------------------------------------------------------------- measuring

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def detect(rgb: np.ndarray) -> dict:
    from roicodec.roi import faces, people

    return {"faces": [list(map(float, f)) for f in faces._yunet(rgb, faces.yunet_path(False))],
            "people": [list(map(float, p)) for p in people.detect_people_hog(rgb) if p[4] >= PERSON_SCORE]}


def measure(ref: np.ndarray, dec: np.ndarray, mask: np.ndarray | None) -> dict:
    from roicodec.evaluate.perceptual import score

    return {**score(ref, dec, mask), **detect(dec)}


def examples(data: Path, roi_data: Path, dataset: str, limit: int):
    """(image name, image, ground-truth mask or None) of the first `limit` pictures of a dataset."""
    if dataset == "kodak":
        for p in sorted((data / "kodak").glob("kodim*.png"))[:limit]:
            yield p.stem, Image.open(p).convert("RGB"), None
        return
    from roicodec.evaluate.examples import load_example, load_pairs

    for img_path, mask_path in load_pairs(roi_data, dataset, limit):
        ex = load_example(img_path, mask_path)
        if ex is not None:
            yield img_path.stem, ex[0], ex[1]


class Cache:
    """results.json under the output folder: {dataset: {image: {"orig": ..., rate: {variant: record}}}}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {}

    def image(self, ds: str, name: str) -> dict:
        return self.data.setdefault(ds, {}).setdefault(name, {})

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=0, allow_nan=True))
        tmp.replace(self.path)


def run_image(ds: str, name: str, image: Image.Image, mask, rates, variants, head: Path | None, head_sha: str | None,
              cache: Cache, folder: Path, log) -> None:
    import roicodec
    from roicodec.evaluate.baselines import CODECS, CodecUnavailable, at_most

    ref = np.asarray(image)
    w, h = image.size
    entry = cache.image(ds, name)
    if "orig" not in entry:
        entry["orig"] = {"size": [w, h], "roi_share": None if mask is None else float(mask.mean()), **detect(ref)}
    folder.mkdir(parents=True, exist_ok=True)
    for rate in rates:
        recs = entry.setdefault(rate_key(rate), {})
        rcz_path = folder / f"{name}_{rate_key(rate)}.rcz"
        if not rcz_path.exists():
            t = time.perf_counter()
            opts = {} if mask is None else {"roi": mask.astype(np.float32)}
            rcz_path.write_bytes(roicodec.compress(image, bpp=rate, **opts))
            log(f"{ds}/{name} {rate}: encoded {rcz_path.stat().st_size} B in {time.perf_counter() - t:.1f} s")
        data = rcz_path.read_bytes()
        size = len(data)
        for variant in variants:
            rec = recs.get(variant)
            if variant == "r1":
                if head is None:
                    continue
                if rec is not None and rec.get("head_sha256") != head_sha:
                    rec = None
            if rec is not None and rec.get("bytes_budget", size) == size:
                continue
            t = time.perf_counter()
            if variant in ("r0", "r1"):
                realism = 1.0 if variant == "r1" else 0.0
                dec = np.asarray(roicodec.decompress(data, realism=realism, perceptual=head if realism else None).convert("RGB"))
                rec = {"bytes": size, "bpp": 8 * size / (w * h), **measure(ref, dec, mask)}
                if variant == "r1":
                    rec["head_sha256"] = head_sha
            else:
                codec = CODECS[variant]
                path = folder / f"{name}_{rate_key(rate)}{SUFFIX[variant]}"
                try:
                    if path.exists() and len(path.read_bytes()) <= size:
                        got = (path.read_bytes(), None)
                    else:
                        got = at_most(codec, image, size)
                except CodecUnavailable as exc:
                    log(f"{variant} skipped: {exc}")
                    continue
                if got is None:
                    smallest = len(codec.encode(image, codec.qmin))
                    rec = {"fits": False, "bytes": smallest, "bpp": 8 * smallest / (w * h)}
                else:
                    path.write_bytes(got[0])
                    dec = codec.decode(got[0])
                    rec = {"fits": True, "quality": got[1], "bytes": len(got[0]), "bpp": 8 * len(got[0]) / (w * h),
                           **measure(ref, dec, mask)}
            rec["bytes_budget"] = size
            rec["seconds"] = time.perf_counter() - t
            recs[variant] = rec
            cache.save()
        avif = recs.get("avif")
        if ("avif" in variants and avif is not None and not avif.get("fits")
                and recs.get("avif-min", {}).get("bytes_budget") != size):
            t = time.perf_counter()
            codec = CODECS["avif"]
            smallest = codec.encode(image, codec.qmin)
            (folder / f"{name}_{rate_key(rate)}_min.avif").write_bytes(smallest)
            recs["avif-min"] = {"fits": True, "quality": codec.qmin, "bytes": len(smallest), "bpp": 8 * len(smallest) / (w * h),
                                **measure(ref, codec.decode(smallest), mask), "bytes_budget": size,
                                "seconds": time.perf_counter() - t}
            cache.save()


# ---------------------------------------------------------------- summarising

def rows_of(cache: Cache, datasets, rates, head_sha: str | None) -> dict:
    """{(ds, rate, variant): [(image, record)]} of the scored records (r1 only for the current head)."""
    out: dict = {}
    for ds in datasets:
        for name, entry in sorted(cache.data.get(ds, {}).items()):
            for rate in rates:
                for variant, rec in entry.get(rate_key(rate), {}).items():
                    if variant == "r1" and rec.get("head_sha256") != head_sha:
                        continue
                    out.setdefault((ds, rate, variant), []).append((name, rec))
    return out


def recall_totals(cache: Cache, ds: str, items: list) -> dict:
    tot = {}
    for det in DETECTORS:
        ref = hit = 0
        for name, rec in items:
            orig = cache.data[ds][name]["orig"][det]
            ref += len(orig)
            hit += recalled(orig, rec[det])
        tot[det] = (hit, ref)
    return tot


def summarise(cache: Cache, datasets, rates, head_sha) -> tuple[list[dict], str]:
    rows = rows_of(cache, datasets, rates, head_sha)
    summary, lines = [], [
        "| dataset | bpp target | decoder | n | unfit | bpp | PSNR | MS-SSIM | MS-GMSD ↓ | 1-DSS ↓ | BRISQUE ↓ | ROI-PSNR | face recall | person recall |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for ds in datasets:
        for rate in rates:
            for variant in REPORTED:
                items = rows.get((ds, rate, variant), [])
                if not items:
                    continue
                fit = [(n, r) for n, r in items if r.get("fits", True)]
                row = {"dataset": ds, "rate": rate, "variant": variant, "n": len(fit), "unfit": len(items) - len(fit),
                       "bpp": mean(r["bpp"] for _, r in fit)}
                for k in METRICS:
                    row[k] = mean(r.get(k, float("nan")) for _, r in fit)
                rec = recall_totals(cache, ds, fit)
                for det in DETECTORS:
                    row[f"{det}_recalled"], row[f"{det}_reference"] = rec[det]
                summary.append(row)

                def recall(det, row=row):
                    hit, ref = row[f"{det}_recalled"], row[f"{det}_reference"]
                    return f"{hit}/{ref} = {hit / ref:.0%}" if ref else "0/0"

                roi = "" if math.isnan(row["roi-psnr"]) else f"{row['roi-psnr']:.2f}"
                if not fit:
                    lines.append(f"| {ds} | {rate:g} | {variant} | 0 | {row['unfit']} | "
                                 f"(smallest file {mean(r['bpp'] for _, r in items):.3f}) |" + " — |" * 8)
                    continue
                lines.append(f"| {ds} | {rate:g} | {variant} | {row['n']} | {row['unfit']} | {row['bpp']:.3f} | "
                             f"{row['psnr-rgb']:.2f} | {row['ms-ssim']:.4f} | {row['ms-gmsd']:.4f} | {row['1-dss']:.4f} | "
                             f"{row['brisque']:.1f} | {roi} | {recall('faces')} | {recall('people')} |")
    return summary, "\n".join(lines) + "\n"


def bar_check(cache: Cache, datasets, rates, head_sha) -> tuple[list[dict], str]:
    rows = rows_of(cache, datasets, rates, head_sha)
    out, lines = [], []
    for rate in [r for r in rates if r in BAR_RATES]:
        for ds in datasets:
            by = {v: dict(rows.get((ds, rate, v), [])) for v in ("r0", "r1", "avif", "avif-min")}
            names = sorted(set(by["r0"]) & set(by["r1"]))
            if not names:
                continue
            res = {"dataset": ds, "rate": rate, "images": len(names)}
            parts = []
            for metric in ("ms-gmsd", "1-dss"):
                vs0 = share([(by["r1"][n][metric], by["r0"][n][metric]) for n in names])
                fit = [n for n in names if n in by["avif"] and by["avif"][n].get("fits")]
                vsa = share([(by["r1"][n][metric], by["avif"][n][metric]) for n in fit])
                res[f"{metric}_r1_better_than_r0"] = vs0
                res[f"{metric}_r1_better_than_avif"] = vsa
                unfit = [n for n in names if n in by["avif"] and not by["avif"][n].get("fits") and n in by["avif-min"]]
                vsm = share([(by["r1"][n][metric], by["avif-min"][n][metric]) for n in unfit])
                res[f"{metric}_r1_better_than_avif_min"] = vsm
                res["avif_unfit"] = len([n for n in names if n in by["avif"] and not by["avif"][n].get("fits")])
                part = f"{metric}: r1 < r0 {fmt_share(vs0)}, r1 < AVIF at equal size {fmt_share(vsa)}"
                if vsm[1]:
                    part += f" (+ {fmt_share(vsm)} against AVIF's smallest, larger file where it cannot go as small)"
                parts.append(part)
            fit = [n for n in names if n in by["avif"] and by["avif"][n].get("fits")]
            res["brisque_r1_better_than_r0"] = share([(by["r1"][n]["brisque"], by["r0"][n]["brisque"]) for n in names])
            res["brisque_r1_better_than_avif"] = share([(by["r1"][n]["brisque"], by["avif"][n]["brisque"]) for n in fit])
            parts.append(f"(no reference) brisque: r1 < r0 {fmt_share(res['brisque_r1_better_than_r0'])}, "
                         f"r1 < AVIF at equal size {fmt_share(res['brisque_r1_better_than_avif'])}")
            ok = res["ms-gmsd_r1_better_than_r0"], res["ms-gmsd_r1_better_than_avif"]
            res["pass_heldout"] = all(n and k / n >= 0.8 for k, n in ok)
            line = f"{ds} @ {rate:g} bpp ({len(names)} images): " + "; ".join(parts)
            if res["avif_unfit"]:
                line += f" (AVIF cannot go as small on {res['avif_unfit']})"
            line += f" -> MS-GMSD bar {'PASS' if res['pass_heldout'] else 'FAIL'}"
            if ds != "kodak":
                d = [by["r1"][n]["roi-psnr"] - by["r0"][n]["roi-psnr"] for n in names]
                res["roi_psnr_r1_minus_r0"] = mean(d)
                res["roi_psnr_r1_minus_r0_worst"] = min(d)
                res["pass_roi"] = abs(mean(d)) <= 0.5 or mean(d) > 0
                line += (f"; ROI-PSNR r1 - r0 {mean(d):+.2f} dB (worst image {min(d):+.2f}) "
                         f"-> {'PASS' if res['pass_roi'] else 'FAIL'}")
            for det in DETECTORS:
                r0 = recall_totals(cache, ds, [(n, by["r0"][n]) for n in names])[det]
                r1 = recall_totals(cache, ds, [(n, by["r1"][n]) for n in names])[det]
                res[f"{det}_recall_r0"], res[f"{det}_recall_r1"] = r0, r1
                res[f"pass_{det}"] = r1[0] >= r0[0]
                line += f"; {det} recall r0 {r0[0]}/{r0[1]}, r1 {r1[0]}/{r1[1]} -> {'PASS' if res[f'pass_{det}'] else 'FAIL'}"
            out.append(res)
            lines.append(line)
    return out, "\n".join(lines) + "\n"


def per_image_table(per_image: list[dict]) -> str:
    """One line per image and rate: bytes, the held-out distances, BRISQUE and ROI-PSNR of r0 / r1 / AVIF."""
    lines = ["| dataset | image | bpp target | bytes | MS-GMSD r0 / r1 / AVIF | 1-DSS r0 / r1 / AVIF | "
             "BRISQUE r0 / r1 / AVIF | ROI-PSNR r0 / r1 / AVIF |", "|---|---|---|---|---|---|---|---|"]
    for row in per_image:
        avif = row.get("avif") or row.get("avif-min")
        star = "" if row.get("avif") else "*" if avif else ""

        def three(k, f, row=row, avif=avif, star=star):
            vals = [row[v].get(k) if row.get(v) else None for v in ("r0", "r1")] + [avif.get(k) if avif else None]
            if all(v is None or math.isnan(v) for v in vals):
                return ""
            return " / ".join("—" if v is None or math.isnan(v) else format(v, f) for v in vals) + (star if avif else "")

        lines.append(f"| {row['dataset']} | {row['image']} | {row['rate']:g} | {row['r0']['bytes']} | {three('ms-gmsd', '.4f')} | "
                     f"{three('1-dss', '.4f')} | {three('brisque', '.1f')} | {three('roi-psnr', '.2f')} |")
    lines.append("")
    lines.append("\\* AVIF's smallest file, larger than roicodec's (AVIF cannot go as small).")
    return "\n".join(lines) + "\n"


def fmt_share(s: tuple[int, int]) -> str:
    k, n = s
    return f"{k}/{n} = {k / n:.0%}" if n else "n/a"


def decode_timing(folder: Path, head: Path, rates, images: int, repeats: int) -> dict:
    """Best of `repeats` decode seconds at realism 0 and 1 per Kodak file (cached .rcz), same process and threads."""
    import torch

    import roicodec

    files = sorted(p for p in folder.glob("kodim*.rcz") if any(p.stem.endswith(f"_{rate_key(r)}") for r in rates))
    names = sorted({p.stem.split("_")[0] for p in files})[:images]
    files = [p for p in files if p.stem.split("_")[0] in names]
    if not files:
        return {}
    roicodec.decompress(files[0].read_bytes(), realism=1.0, perceptual=head)  # load the model and head once
    per = []
    for p in files:
        data = p.read_bytes()
        best = {0.0: float("inf"), 1.0: float("inf")}
        for _ in range(repeats):
            for realism in (0.0, 1.0):  # interleaved, so a busy moment hits both
                t = time.perf_counter()
                roicodec.decompress(data, realism=realism, perceptual=head if realism else None)
                best[realism] = min(best[realism], time.perf_counter() - t)
        per.append({"file": p.name, "r0_s": best[0.0], "r1_s": best[1.0], "ratio": best[1.0] / best[0.0]})
    return {"threads": torch.get_num_threads(), "repeats": repeats, "files": per,
            "r0_s_total": sum(x["r0_s"] for x in per), "r1_s_total": sum(x["r1_s"] for x in per),
            "ratio_of_totals": sum(x["r1_s"] for x in per) / sum(x["r0_s"] for x in per),
            "ratio_median": statistics.median(x["ratio"] for x in per)}


# ---------------------------------------------------------------- panels

def texture_window(ref: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the size x size window with the most gradient energy in the original (picked
    without looking at any decoded picture)."""
    g = np.asarray(Image.fromarray(ref).convert("L"), np.float32)
    e = np.pad(np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1, :], ((0, 1), (0, 1)))
    ii = np.pad(e.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    h, w = e.shape
    s = min(size, h, w)
    best, corner = -1.0, (0, 0)
    for y in sorted({*range(0, h - s + 1, 8), h - s}):
        for x in sorted({*range(0, w - s + 1, 8), w - s}):
            v = ii[y + s, x + s] - ii[y, x + s] - ii[y + s, x] + ii[y, x]
            if v > best:
                best, corner = v, (x, y)
    return corner


def panel(items: list, rate: float, folder: Path, head: Path, path: Path, crop: int) -> None:
    """Rows of crops: original, realism 0, realism 1, AVIF at equal size (its smallest, larger file where
    it cannot go as small), and realism 1 - realism 0 amplified, each with a label."""
    from PIL import ImageDraw

    import roicodec
    from roicodec.evaluate.baselines import CODECS

    label_h, pad = 30, 4
    rows = []
    for ds, name, image in items:
        ref = np.asarray(image)
        w, h = image.size
        data = (folder / ds / f"{name}_{rate_key(rate)}.rcz").read_bytes()
        r0 = np.asarray(roicodec.decompress(data).convert("RGB"))
        r1 = np.asarray(roicodec.decompress(data, realism=1.0, perceptual=head).convert("RGB"))
        bpp = lambda n: 8 * n / (w * h)  # noqa: E731
        cols = [(ref, f"{ds}/{name} original"), (r0, f"realism 0: {len(data)} B, {bpp(len(data)):.3f} bpp"),
                (r1, f"realism 1: same file, {len(data)} B")]
        for suffix, text in ((".avif", "AVIF: {} B, {:.3f} bpp"), ("_min.avif", "AVIF smallest: {} B, {:.3f} bpp (larger)"),
                             (None, "AVIF: cannot go this small")):
            avif_path = folder / ds / f"{name}_{rate_key(rate)}{suffix}" if suffix else None
            if avif_path is None or avif_path.exists():
                break
        if avif_path is not None:
            size = avif_path.stat().st_size
            cols.append((CODECS["avif"].decode(avif_path.read_bytes()), text.format(size, bpp(size))))
        else:
            cols.append((np.zeros_like(ref), text))
        diff = np.clip(128 + 4 * (r1.astype(np.int16) - r0.astype(np.int16)), 0, 255).astype(np.uint8)
        cols.append((diff, "realism 1 - realism 0, x4 on grey"))
        x, y = texture_window(ref, crop)
        s = min(crop, w, h)
        rows.append([(a[y:y + s, x:x + s], t) for a, t in cols])
    width = len(rows[0]) * (crop + pad) + pad
    height = len(rows) * (crop + label_h + pad) + pad + 16
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for i, row in enumerate(rows):
        top = pad + i * (crop + label_h + pad)
        for j, (a, text) in enumerate(row):
            left = pad + j * (crop + pad)
            draw.text((left, top + 2), text, fill="black")
            canvas.paste(Image.fromarray(np.ascontiguousarray(a)), (left, top + label_h))
    draw.text((pad, height - 14), f"target {rate:g} bpp; crops {crop}x{crop} px, not resized", fill="gray")
    canvas.save(path, optimize=True)


# ---------------------------------------------------------------- main

def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"), help="holds kodak/")
    p.add_argument("--roi-data", type=Path, default=Path("../shared/data/roi"), help="holds coco/ and pedestrians/")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--limit", nargs="+", type=int, default=[24, 16, 16],
                   help="images per dataset (one number for all, or one per --datasets entry)")
    p.add_argument("--rates", nargs="+", type=float, default=list(RATES))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                   help="what to compute now (cached results of the others are still reported)")
    p.add_argument("--head", type=Path, help="perceptual head file for realism 1 (without it: no r1)")
    p.add_argument("--out", type=Path, default=Path("runs/perceptual_eval"))
    p.add_argument("--report-rates", nargs="+", type=float, help="rates to report (default: every rate in RATES)")
    p.add_argument("--timing", type=int, default=0, help="Kodak files per rate to time decoding on (0: none)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--panels", nargs="*", default=None,
                   help="dataset/image items for docs/perceptual_panel_<rate>.png (at 0.1 and 0.2 bpp)")
    p.add_argument("--panel-dir", type=Path, default=Path("docs"))
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--no-compute", action="store_true", help="only report what is cached")
    a = p.parse_args(argv)
    limits = a.limit if len(a.limit) == len(a.datasets) else [a.limit[0]] * len(a.datasets)
    import torch

    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    a.out.mkdir(parents=True, exist_ok=True)
    cache = Cache(a.out / "results.json")
    head_sha = sha256(a.head) if a.head else None
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if not a.no_compute:
        for ds, limit in zip(a.datasets, limits):
            for name, image, mask in examples(a.data, a.roi_data, ds, limit):
                t = time.perf_counter()
                run_image(ds, name, image, mask, a.rates, a.variants, a.head, head_sha, cache, a.out / ds, log)
                log(f"{ds}/{name}: {time.perf_counter() - t:.0f} s")
    report_rates = a.report_rates or [r for r in RATES if any(rate_key(r) in e for d in cache.data.values() for e in d.values())]
    summary, table = summarise(cache, DATASETS, report_rates, head_sha)
    bars, bar_text = bar_check(cache, DATASETS, report_rates, head_sha)
    timing = {}
    if a.timing and a.head:
        timing = decode_timing(a.out / "kodak", a.head, [r for r in a.rates if r in BAR_RATES] or a.rates, a.timing, a.repeats)
        if timing:
            bar_text += (f"decode time realism 1 / realism 0 (Kodak, {len(timing['files'])} files, best of {a.repeats}, "
                         f"{timing['threads']} thread(s)): {timing['ratio_of_totals']:.2f}x of totals "
                         f"({timing['r1_s_total']:.1f} s / {timing['r0_s_total']:.1f} s), median {timing['ratio_median']:.2f}x "
                         f"-> {'PASS' if timing['ratio_of_totals'] <= 1.3 else 'FAIL'}\n")
    per_image = []
    for ds in DATASETS:
        for name, entry in sorted(cache.data.get(ds, {}).items()):
            for rate in report_rates:
                recs = entry.get(rate_key(rate), {})
                if "r1" in recs and recs["r1"].get("head_sha256") == head_sha:
                    row = {"dataset": ds, "image": name, "rate": rate}
                    for v in REPORTED:
                        if v in recs and recs[v].get("fits", True):
                            row[v] = {k: recs[v].get(k) for k in ("bytes", "bpp", *METRICS) if k in recs[v]}
                    per_image.append(row)
    report = {"head": str(a.head) if a.head else None, "head_sha256": head_sha, "command": " ".join(sys.argv),
              "rates": report_rates, "iou": IOU, "person_score": PERSON_SCORE,
              "images": {ds: len(cache.data.get(ds, {})) for ds in DATASETS},
              "summary": summary, "bar": bars, "timing": timing, "per_image": per_image}
    (a.out / "perceptual_eval.json").write_text(json.dumps(report, indent=1))
    (a.out / "summary.md").write_text(table + "\n" + bar_text)
    (a.out / "per_image.md").write_text(per_image_table(per_image))
    print(table)
    print(bar_text)
    if a.panels is not None and a.head:
        items = []
        for item in a.panels:
            ds, name = item.split("/")
            found = [(n, im) for n, im, _ in examples(a.data, a.roi_data, ds, 1000) if n == name]
            if found:
                items.append((ds, name, found[0][1]))
        for rate in BAR_RATES:
            if all((a.out / ds / f"{n}_{rate_key(rate)}.rcz").exists() for ds, n, _ in items) and items:
                path = a.panel_dir / f"perceptual_panel_{rate_key(rate)}.png"
                panel(items, rate, a.out, a.head, path, a.crop)
                log(f"wrote {path} ({path.stat().st_size} B)")


if __name__ == "__main__":
    main()
