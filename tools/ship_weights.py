"""Ship the weights a GPU run brought back, but only those that beat the shipped models.

    bash tools/device_train.sh --join <files_at> runs/gpu
    python tools/ship_weights.py runs/gpu                     # compare; ship each winner
    python tools/ship_weights.py --figures                    # once registered: the docs figures (an hour on 2 cores)

For each model in the run folder (fidelity.safetensors, highrate.safetensors: `device_train.sh --join`), the
shipped model it was trained from (its `init_model_id`) is the anchor: both are scored with
benchmarks/compare_weights.py's float forward pass on every folder of --images (Kodak and COCO by default)
at the same levels. A candidate wins when its BD-rate against the anchor is at most -MIN_GAIN % on every
folder. A winner is written as the next version of its family (roicodec-fidelity-v2.safetensors, ...) in the
anchor's storage (weights format 2, model id of its float32 tensors), annotated with its rate curve on Kodak
(tools/annotate_weights.py; use_from_bpp comes with the weights from the anchor), and the
lines that register it are printed. The anchor stays: the files it wrote name it, and
tests/fixtures keeps some. Nothing is written for a loser. The comparison goes to <run>/ship.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

from roicodec.evaluate.rd import bd_rate
from roicodec.model import ModelConfig
from roicodec.models import WEIGHTS_DIR, RoiCodecWeights, entry_for_id, newest_of
from roicodec.weights import read_metadata, read_model, read_stored, recompact, storage_of

ROOT = Path(__file__).resolve().parent.parent
#: The run folder's files, by the family the device run trained (tools/device_train.sh).
RUN_FILES = {"fidelity": newest_of("fidelity"), "highrate": newest_of("highrate")}
#: The release measurements (docs/results.md) that regenerate the docs figures with the registered models.
FIGURES = [
    "python benchmarks/kodak_bench.py --images ../shared/data/kodak --bpp 0.25 --json docs/kodak_bench.json",
    "roicodec eval --images ../shared/data/kodak --codecs roicodec,jpeg,webp,avif,jxl,hevc --out docs/eval_kodak_lsq "
    "--reference benchmarks/vtm_kodak.json --reuse",
    "python benchmarks/rd_margin.py --dir docs/eval_kodak_lsq",
    "python benchmarks/model_family.py",
]


def _compare_weights():
    spec = importlib.util.spec_from_file_location("compare_weights", ROOT / "benchmarks" / "compare_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compare(candidate: Path, anchor: Path, folders: list[str], limit: int, levels: list[float]) -> dict:
    """{folder: {"bd_rate": % or None, "anchor": curve, "candidate": curve}} by compare_weights' float forward pass."""
    cw = _compare_weights()
    models = {"anchor": read_model(anchor).eval(), "candidate": read_model(candidate).eval()}
    out = {}
    for folder in folders:
        images = cw.load_eval_images(folder, limit)
        curves = {k: cw.curve(m, images, levels, f"{k} {Path(folder).name}") for k, m in models.items()}
        out[folder] = {"bd_rate": bd_rate(curves["anchor"], curves["candidate"]), **curves}
    return out


def wins(results: dict, min_gain: float) -> bool:
    return all(r["bd_rate"] is not None and r["bd_rate"] <= -min_gain for r in results.values())


def next_version(entry: RoiCodecWeights, weights_dir: Path | None = None) -> Path:
    m = re.fullmatch(r"(roicodec-.+-v)(\d+)\.safetensors", entry.value.filename)
    if not m:
        raise SystemExit(f"cannot number a new version of {entry.value.filename}")
    return (weights_dir or WEIGHTS_DIR) / f"{m.group(1)}{int(m.group(2)) + 1}.safetensors"


def annotate(path: Path, kodak: str) -> None:
    """The rate curve rate control starts from (tools/annotate_weights.py)."""
    subprocess.run([sys.executable, str(ROOT / "tools" / "annotate_weights.py"), "--weights", str(path),
                    "--rate-curve", kodak], check=True)


def ship(candidate: Path, entry: RoiCodecWeights, kodak: str, weights_dir: Path | None = None) -> Path:
    """Write ``candidate`` as the next version of ``entry``'s family, stored like it, and annotate it."""
    dest = next_version(entry, weights_dir)
    if dest.exists():
        raise SystemExit(f"{dest} exists already: register or remove it first")
    storage = read_metadata(entry.value.path)["storage"] or storage_of(read_stored(entry.value.path))  # format 1: none
    recompact(candidate, dest, storage)
    annotate(dest, kodak)
    return dest


def register_lines(entry: RoiCodecWeights, dest: Path) -> str:
    name = entry.name.rsplit("_V", 1)[0] + "_V" + re.search(r"-v(\d+)\.safetensors$", dest.name).group(1)
    lines = f'    {name} = Weights("{dest.name}", {entry.value.description!r} + " (GPU fine-tune)")'
    if entry is RoiCodecWeights.DEFAULT:
        lines += f"\n    DEFAULT = {name}"
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", help="the run folder of device_train.sh --join")
    ap.add_argument("--images", nargs="+", default=["../shared/data/kodak", "../shared/data/roi/coco/images"])
    ap.add_argument("--limit", type=int, default=24, help="images per folder")
    ap.add_argument("--levels", type=float, nargs="+", default=[-3.0, -1.0, 1.0, 3.0, 5.0, 7.0])
    ap.add_argument("--min-gain", type=float, default=0.5, help="BD-rate saving (%%) needed on every folder")
    ap.add_argument("--kodak", default="../shared/data/kodak", help="images of the rate curve")
    ap.add_argument("--dry-run", action="store_true", help="compare only")
    ap.add_argument("--figures", action="store_true",
                    help="run the release measurements that regenerate the docs figures (FIGURES) with the registered models")
    a = ap.parse_args(argv)
    if a.figures:
        for cmd in FIGURES:
            print("+", cmd, flush=True)
            subprocess.run(cmd, shell=True, check=True, cwd=ROOT)
        return 0
    if not a.run:
        ap.error("the run folder is required (or --figures)")
    run = Path(a.run)
    report, shipped = {}, []
    found = [(name, run / f"{name}.safetensors") for name in RUN_FILES if (run / f"{name}.safetensors").exists()]
    if not found:
        raise SystemExit(f"no {' or '.join(f'{n}.safetensors' for n in RUN_FILES)} in {run}")
    for name, candidate in found:
        meta = read_metadata(candidate)
        init = meta["meta"].get("init_model_id")
        entry = entry_for_id(bytes.fromhex(init)) if init else None
        entry = entry or RUN_FILES[name]
        if ModelConfig.from_dict(meta["config"]) != entry.value.config:
            raise SystemExit(f"{candidate}: another architecture than {entry.label}")
        results = compare(candidate, entry.value.path, a.images, a.limit, a.levels)
        won = wins(results, a.min_gain)
        print(f"\n{name}: {candidate} (model {meta['model_id']}, {meta['meta'].get('training_steps')} steps on "
              f"{meta['meta'].get('trained_on')}) against {entry.label} ({entry.value.model_id.hex()})")
        for folder, r in results.items():
            bd = "n/a" if r["bd_rate"] is None else f"{r['bd_rate']:+.2f} %"
            cells = " ".join(f"q{lv:g} {b:.3f}/{p:.2f}" for lv, b, p in
                             zip(a.levels, r["candidate"]["results"]["bpp"], r["candidate"]["results"]["psnr-rgb"]))
            print(f"  {folder}: BD-rate {bd} ({cells})")
        verdict = "wins" if won else f"does not win (needs at most -{a.min_gain:g} % on every folder)"
        print(f"  {name} {verdict}")
        report[name] = {"candidate": str(candidate), "anchor": entry.label, "wins": won,
                        "bd_rate": {f: r["bd_rate"] for f, r in results.items()}, "curves": results}
        if won and not a.dry_run:
            dest = ship(candidate, entry, a.kodak)
            report[name]["shipped_as"] = str(dest)
            shipped.append((entry, dest))
    (run / "ship.json").write_text(json.dumps(report, indent=1))
    if not shipped:
        print("\nnothing shipped" + (" (dry run)" if a.dry_run else ""))
        return 0
    print("\nShipped (keep the previous versions: the files they wrote name them). Register in src/roicodec/models.py:")
    for entry, dest in shipped:
        print(register_lines(entry, dest))
    print("then python -m pytest, and the docs figures (docs/results.md): python tools/ship_weights.py --figures, i.e.\n  "
          + "\n  ".join(FIGURES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
