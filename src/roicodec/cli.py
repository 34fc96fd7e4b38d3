"""The ``roicodec`` command, in the style of cwebp / avifenc: input, -o output, one flag per knob.

Exit status 0 on success, 1 with a one-line message on any error, 2 on a usage error, 130 on
Ctrl-C. Outputs are written atomically (temporary file + rename), so a failure never leaves a partial file.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from . import __version__, progress
from .atomic import atomic_write, atomic_write_bytes
from .bitstream import MAX_DECODE_MEMORY, MAX_DECODE_PIXELS
# Only torch-free modules at import: `roicodec --version` and `--help` must not import torch
# (issue 25); each command imports what it needs.
from .levels import DEFAULT_ROI_STRENGTH, EFFORT_STEPS, PRECISIONS

if TYPE_CHECKING:
    from PIL import Image


def _non_negative_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return n


def _memory_size(text: str) -> int:
    """'8GB', '8GiB', '512MB' or bytes; 0 = no limit."""
    from .errors import BudgetError
    from .ratecontrol import parse_size

    if text.strip() == "0":
        return 0
    try:
        n = parse_size(text)
    except BudgetError:
        raise argparse.ArgumentTypeError(f"expected a size such as 8GB, 8GiB or 512MB, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return n


def _device(text: str) -> str:
    """A torch device name that this machine has."""
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"expected a device such as cpu or cuda, got {text!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError("this machine has no CUDA device (PyTorch sees none)")
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"device type {device.type!r} is not supported (cpu or cuda)")
    return str(device)


def _save_image(path: Path, image) -> None:
    """Atomically, in the type the extension names (checked before anything is written)."""
    fmt = _image_format_for(path)
    atomic_write(path, lambda tmp: image.save(tmp, format=fmt))


def _image_format_for(path: Path) -> str:
    from PIL import Image

    ext = path.suffix.lower()
    Image.init()
    if ext not in Image.EXTENSION:
        raise ValueError(f"unknown output image type {ext!r} (use .png, .bmp, .tif, ...)")
    if Image.EXTENSION[ext] not in Image.SAVE:
        raise ValueError(f"Pillow cannot write {ext!r} images (use .png, .bmp, .tif, ...)")
    return Image.EXTENSION[ext]


def _cmd_compress(args: argparse.Namespace) -> int:
    from .api import compress_detailed, load_model

    to_stdout = args.output == STDIO
    sink = _stdout_binary() if to_stdout else None  # refused before any work
    source = _stdin_image(_read(STDIO)) if _from_stdin(args) else args.input
    # None: the shipped model for the rate
    model = load_model(args.weights, args.device) if args.weights else None
    t0 = time.perf_counter()
    # a bar on a terminal's stderr for a picture that takes more than a second (progress.py)
    with warnings.catch_warnings(), progress.bar(enabled=not args.quiet):
        warnings.simplefilter("ignore")  # reported below as notes
        res = compress_detailed(source, model=model, device=args.device, **_compress_options(args))
    if sink is not None:  # the whole file at once, after everything succeeded
        out = "<stdout>"
        sink.write(res.data)
        sink.flush()
    else:
        out = Path(args.output) if args.output else Path(args.input).with_suffix(".rcz")
        atomic_write_bytes(out, res.data)
    from .bitstream import peek_header

    f = peek_header(res.data)["file"]
    bpp = 8 * len(res.data) / (f.width * f.height)
    for note in res.notes:
        print(f"roicodec: note: {note}", file=sys.stderr)
    for name, r in res.roi_sources.items():
        print(f"roicodec: note: ROI source {name} ({r['detector']}) marks {100 * r['coverage']:.1f} % of the image", file=sys.stderr)
    if not args.quiet:
        print(f"{out}: {len(res.data)} bytes, {bpp:.4f} bpp, {f.width}x{f.height}, base level {res.base_level:.4f}"
              f"{', ROI strength %g' % res.roi_strength if f.importance is not None else ''}"
              f"{', coded at %gx' % (f.scale / 8) if f.scale != 8 else ''}"
              f"{', %d refinement steps' % res.refine_steps if res.refine_steps else ''}"
              f" ({res.trials} trial{'s' if res.trials != 1 else ''}, {time.perf_counter() - t0:.2f} s)",
              file=sys.stderr if to_stdout else sys.stdout)
    return 0


#: As an input or as -o: standard input or output (for pipes), as cwebp and cjxl take it.
STDIO = "-"


def _from_stdin(args: argparse.Namespace) -> bool:
    """Whether the input is standard input; then the output must be named (there is no name to derive)."""
    if args.input != STDIO:
        return False
    if not args.output:
        raise ValueError("reading standard input: name the output with -o (-o - for standard output)")
    return True


def _stdout_binary() -> BinaryIO:
    """Standard output for a file's bytes, never a terminal, which would show them as garbage."""
    if sys.stdout.isatty():
        raise ValueError("refusing to write binary data to a terminal: redirect it (> file) or name a file with -o")
    return sys.stdout.buffer


def _stdin_image(data: bytes) -> Image.Image:
    """The picture piped in, read whole (Pillow needs to seek), with the errors a named file gets."""
    import io

    from .images import open_image

    return open_image(io.BytesIO(data), "the image", name="on standard input")


def _compress_options(args: argparse.Namespace) -> dict:
    """compress_detailed's keywords from the options `compress` and `batch` share."""
    return {"bpp": args.bpp, "size": args.size, "quality": args.quality, "roi": args.roi, "roi_strength": args.roi_strength,
            "scale": args.scale, "effort": args.effort, **_roi_sources(args),
            # only when asked: a batch's fingerprint (batch.Job) stays that of the runs before the option
            **({"precision": args.precision} if args.precision != "auto" else {})}


def _cmd_batch(args: argparse.Namespace) -> int:
    import os

    from .batch import DEFAULT_CHUNK, Job, run_batch
    from .ratecontrol import parse_size

    options = _compress_options(args)
    if args.size is not None:
        parse_size(args.size)  # option errors once, not once per file
    if args.bpp is not None and not args.bpp > 0:
        raise ValueError("bpp must be a positive number")
    for key in ("roi", "classes", "class_legend"):  # paths that every worker (on any node) can open
        if isinstance(options[key], str) and os.path.exists(options[key]):
            options[key] = os.path.abspath(options[key])
    shard = (0, 1)
    if args.shard:
        k, _, n = args.shard.partition("/")
        if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
            raise ValueError(f"--shard takes K/N with 0 <= K < N, got {args.shard!r}")
        shard = (int(k), int(n))
    job = Job(src=Path(args.src).resolve(), dst=Path(args.dst).resolve(), options=options, weights=args.weights,
              psnr=args.psnr, threads=args.threads, shard=shard)
    manifest = Path(args.manifest).resolve() if args.manifest else None
    s = run_batch(job, workers=args.workers, ray_address=args.ray, chunk=args.chunk or DEFAULT_CHUNK,
                  manifest=manifest, progress=not args.quiet)
    if not args.quiet or s.errors:
        print(f"{args.dst}: {s.ok} compressed, {s.errors} failed, {s.skipped} done before "
              f"({s.rate:.2f} images/s); manifest {s.manifest}", file=sys.stderr if s.errors else sys.stdout)
    return 1 if s.errors else 0


def _roi_sources(args: argparse.Namespace) -> dict:
    return {"boxes": args.roi_box or None, "classes": args.roi_classes, "class_weights": args.class_weights,
            "class_legend": args.class_legend}


def _cmd_roi(args: argparse.Namespace) -> int:
    import numpy as np

    from . import bitstream
    from .api import compress_detailed, load_model
    from .encoder import check_strength
    from .images import prepare
    from .roi import block_importance, build_importance, quality_map, roi_spec
    from .roi.render import render_roi

    model = load_model(args.weights)
    c = model.config
    strength = check_strength(args.roi_strength, c.level_range)
    prepared = prepare(args.input)
    spec = roi_spec(args.roi, **_roi_sources(args))
    if spec.is_empty():
        raise ValueError("give an ROI source: --roi MASK|auto, --roi-box or --roi-classes")
    importance, report = build_importance(prepared.rgb, spec)
    blocks = block_importance(importance)
    base, scale = 0.0, bitstream.SCALE_ONE
    if args.bpp is not None or args.size is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the preview shows what the file would carry, lowered lift included
            # the importance built above, not the spec: the detectors run once
            res = compress_detailed(prepared, bpp=args.bpp, size=args.size, roi=importance, roi_strength=strength,
                                    model=model, scale=args.scale)
        base, strength, scale = res.base_level, res.roi_strength, res.scale
        blocks = res.blocks if res.blocks is not None else blocks
    h, w = prepared.rgb.shape[:2]
    cw, ch = bitstream.coded_size(w, h, scale)
    q = quality_map(base, strength, blocks, bitstream.latent_shape(ch, cw), c.level_range)
    image = render_roi(prepared.rgb, importance, q[0, 0].numpy(), c.level_range, coded_size=(cw, ch))
    _save_image(Path(args.output), image)
    if args.quiet:
        return 0
    for name, r in report.items():
        print(f"{name:<9} {r['detector']:<18} {100 * r['coverage']:5.1f} % of the image")
    print(f"{args.output}: quality levels {float(q.min()):.2f} .. {float(q.max()):.2f}"
          f"{'' if args.bpp is not None or args.size is not None else ' above the base level'}; mean importance {float(np.mean(importance)):.3f}")
    return 0


def _cmd_decompress(args: argparse.Namespace) -> int:
    from .api import decompress, load_model

    to_stdout = args.output == STDIO
    sink = _stdout_binary() if to_stdout else None  # refused before any work
    _from_stdin(args)
    out = Path(args.output) if args.output else Path(args.input).with_suffix(".png")
    if not args.output and out.exists():  # photo.rcz -> photo.png would replace the original photo
        raise ValueError(f"{out} exists; name the output with -o")
    data = _read(args.input)
    t0 = time.perf_counter()
    # None: the installed model the file names
    model = load_model(args.weights, args.device) if args.weights else None
    unlimited = args.max_pixels == 0  # --max-pixels 0: no limit at all, as before --max-memory existed
    with progress.bar(enabled=not args.quiet):
        image = decompress(data, model=model, max_pixels=args.max_pixels or None,
                           max_memory=None if unlimited else args.max_memory or None, realism=args.realism,
                           perceptual=args.perceptual, device=args.device, precision=args.precision)
        if sink is not None:  # PNG, the whole picture at once, after the decode succeeded
            import io

            progress.report("writing PNG to standard output", 0, 1)
            png = io.BytesIO()
            image.save(png, format="PNG")
            sink.write(png.getvalue())
            sink.flush()
            out = "<stdout>"
        else:
            progress.report(f"writing {out.name}", 0, 1)
            _save_image(out, image)
    if not args.quiet:
        print(f"{out}: {image.size[0]}x{image.size[1]} {image.mode} ({time.perf_counter() - t0:.2f} s)",
              file=sys.stderr if to_stdout else sys.stdout)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .api import inspect, load_model

    data = _read(args.input)
    # without --weights nothing is loaded: the header and the installed models' metadata say it all
    model = load_model(args.weights) if args.weights else None
    info = inspect(data, model=model)
    print(f"file        {args.input}")
    print(f"dimensions  {info['width']}x{info['height']} {info['mode']}")
    print(f"bytes       {info['bytes']}")
    print(f"bpp         {info['bpp']:.4f}")
    print(f"levels      {info['level_min']:.3f} .. {info['level_max']:.3f} (base {info['base_level']:.4f}"
          f"{', ROI strength %g' % info['roi_strength'] if info['has_roi'] else ', uniform'})")
    print(f"coded at    {info['scale']:g}x")
    if model is None:
        match = f"{info['model']}, installed" if info["model"] else "not installed"
    else:
        match = "matches the loaded model" if info["model_matches"] else "NOT the loaded model"
    print(f"model       {info['model_id']} ({match})")
    if info.get("perceptual") is not None:
        print(f"realism     {'decodes at any realism 0..1 (--realism; 0, the default, is the fidelity decoder)' if info['perceptual'] else 'fidelity only: no perceptual decoder installed for this model'}")
    return 0


#: Command-line options that map one-to-one onto TrainConfig fields.
_TRAIN_OPTIONS = ("steps", "batch", "crop", "lr", "init", "val", "val_every", "threads", "synthetic_text", "minutes")


def _cmd_train_perceptual(args: argparse.Namespace) -> int:
    """One head per base model (every shipped model unless --base), each in <out>/<model label>."""
    from .models import RoiCodecWeights, shipped
    from .train.perceptual import PerceptualConfig, ship, train_head

    labels = args.base or [e.label for e in shipped()]
    for label in labels:
        if RoiCodecWeights.named(label) is None:
            raise ValueError(f"--base {label!r} is not a shipped model ({', '.join(e.label for e in shipped())})")
        out = Path(args.out) / label
        if args.ship:
            print(f"{ship(out / 'head.safetensors', label)}: perceptual head of {label}")
            continue
        if not args.data:
            raise ValueError("--data is required")
        given = {k: v for k, v in vars(args).items() if k in ("steps", "batch", "crop", "lr", "threads", "minutes")}
        cfg = PerceptualConfig(data=args.data, out=str(out), base=label, onnx=args.squeezenet, heads=args.lpips_heads,
                               bf16=None if args.bf16 == "auto" else args.bf16 == "on", **given)
        print(train_head(cfg))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .train.loop import TrainConfig, export_checkpoint, train

    if args.perceptual:
        return _cmd_train_perceptual(args)
    if args.export_now:
        dest = Path(args.out) / "final.safetensors"
        print(f"{dest}: model {export_checkpoint(args.out, dest).hex()}")
        return 0
    if not args.data:
        raise ValueError("--data is required")
    # Options left out on the command line are absent from `args`, so TrainConfig's defaults apply.
    given = {k: v for k, v in vars(args).items() if k in _TRAIN_OPTIONS}
    cfg = TrainConfig(data=args.data, out=args.out, bf16=None if args.bf16 == "auto" else args.bf16 == "on", **given)
    print(train(cfg))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate.run import evaluate

    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    print(evaluate(args.images, codecs=codecs, out_dir=args.out, limit=args.limit, reference=args.reference,
                   reuse=args.reuse, scale=args.scale, effort=args.effort))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .serve.app import run
    except ModuleNotFoundError as exc:  # the ui extra is not installed
        missing = (exc.name or "").split(".")[0]
        if missing not in ("starlette", "uvicorn", "python_multipart"):
            raise
        print(f'roicodec: error: roicodec serve needs pip install "roicodec[ui]" (no module {missing})', file=sys.stderr)
        return 1
    run(host=args.host, port=args.port, max_pixels=args.max_pixels, open_browser=args.open)
    return 0


def _read(path: str) -> bytes:
    if path == STDIO:
        if sys.stdin.isatty():
            raise ValueError("standard input is a terminal: pipe a file in (< file) or name one")
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"is a directory: {path}") from None


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"roicodec: error: {message} (see roicodec {self.prog.split()[-1] if ' ' in self.prog else ''} --help)".replace("  ", " "), file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="roicodec", description="Learned image codec that spends bits where people look.")
    p.add_argument("--version", action="version", version=f"roicodec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compress", help="image -> .rcz")
    c.add_argument("input", help="image file, or - for standard input")
    c.add_argument("-o", "--output", help="output .rcz (default: input name with .rcz; - for standard output)")
    _add_budget_args(c)
    _add_roi_args(c)
    c.set_defaults(func=_cmd_compress)

    b = sub.add_parser("batch", help="a folder tree of images -> .rcz files, resumable (docs/batch.md)")
    b.add_argument("src", help="folder of images (subfolders included; every type Pillow reads)")
    b.add_argument("dst", help="output folder: the same tree with .rcz files, and manifest.jsonl")
    _add_budget_args(b)
    _add_roi_args(b)
    b.add_argument("--workers", type=int, help="worker processes (default: one per core; with --ray: the cluster's CPUs)")
    b.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    b.add_argument("--ray", metavar="ADDRESS", help="run on Ray: 'local' starts one here, 'auto' or ray://HOST:PORT joins a cluster")
    b.add_argument("--chunk", type=int, help="files per Ray task (default 4)")
    b.add_argument("--psnr", action="store_true", help="decode each file and record its PSNR in the manifest")
    b.add_argument("--manifest", help="manifest path (default DST/manifest.jsonl)")
    b.add_argument("--shard", metavar="K/N", help="take only shard K of N (by output path), for N drivers on one tree")
    b.set_defaults(func=_cmd_batch)

    r = sub.add_parser("roi", help="render the importance and quality map of an image")
    r.add_argument("input")
    r.add_argument("-o", "--output", required=True, help="output picture (.png)")
    gr = r.add_mutually_exclusive_group()
    gr.add_argument("--bpp", type=float, help="also run rate control to show absolute levels at this rate")
    gr.add_argument("--size", help="as --bpp, for a file size")
    _add_roi_args(r)
    r.set_defaults(func=_cmd_roi)

    d = sub.add_parser("decompress", help=".rcz -> image")
    d.add_argument("input", help=".rcz file, or - for standard input")
    d.add_argument("-o", "--output", help="output image (.png, .bmp, .tif, ...; - for PNG on standard output)")
    d.add_argument("--max-memory", type=_memory_size, default=MAX_DECODE_MEMORY, metavar="SIZE",
                   help=f"refuse files whose decoding would need more memory (default {MAX_DECODE_MEMORY >> 30}GiB: "
                        f"pictures up to ~{MAX_DECODE_PIXELS // 10**6} MP; 0 = no limit)")
    d.add_argument("--max-pixels", type=_non_negative_int, default=None,
                   help="also refuse files whose picture exceeds this many pixels (default: only --max-memory; "
                        "0 = no limit at all)")
    d.add_argument("--realism", type=float, default=0.0,
                   help="0..1: 0 (default) is the fidelity decoder; higher synthesises plausible texture "
                        "outside the file's regions of interest (same file, perceptual decoder)")
    d.add_argument("--perceptual", metavar="HEAD", help="perceptual head weights file (default: the shipped one)")
    d.set_defaults(func=_cmd_decompress)

    i = sub.add_parser("info", help="describe a .rcz file")
    i.add_argument("input", help=".rcz file, or - for standard input")
    i.set_defaults(func=_cmd_info)

    t = sub.add_parser("train", help="train or resume a model")
    t.add_argument("--data", help="folder of training images (required unless --export-now)")
    t.add_argument("--out", required=True, help="run folder (checkpoint, history, final.safetensors)")
    # Defaults live in TrainConfig only: an option not given is left out of the namespace.
    t.add_argument("--steps", type=int, default=argparse.SUPPRESS, help="total steps of the schedule")
    t.add_argument("--batch", type=int, default=argparse.SUPPRESS)
    t.add_argument("--crop", type=int, default=argparse.SUPPRESS, help="crop side in pixels")
    t.add_argument("--lr", type=float, default=argparse.SUPPRESS, help="peak learning rate (cosine decay)")
    t.add_argument("--init", default=argparse.SUPPRESS,
                   help="start from these safetensors weights (e.g. the shipped model)")
    t.add_argument("--val", default=argparse.SUPPRESS, help="validation image folder (e.g. Kodak)")
    t.add_argument("--val-every", type=int, default=argparse.SUPPRESS)
    t.add_argument("--threads", type=int, default=argparse.SUPPRESS)
    t.add_argument("--bf16", choices=("auto", "on", "off"), default="auto")
    t.add_argument("--synthetic-text", type=float, default=argparse.SUPPRESS, metavar="FRACTION",
                   help="fraction of crops that are drawn documents/screenshots")
    t.add_argument("--minutes", type=float, default=argparse.SUPPRESS,
                   help="wall-clock budget: the learning rate anneals over it, then the run checkpoints and exports "
                        "(--steps stays a cap)")
    t.add_argument("--export-now", action="store_true", help="export the run's current checkpoint and stop")
    t.add_argument("--perceptual", action="store_true",
                   help="train the perceptual heads (decode-time realism) of the shipped models; the models stay frozen")
    t.add_argument("--base", action="append", metavar="MODEL",
                   help="with --perceptual: only this shipped model (repeatable; default: every shipped model)")
    t.add_argument("--squeezenet", metavar="PATH", help="with --perceptual: the SqueezeNet ONNX (file or folder)")
    t.add_argument("--lpips-heads", metavar="PATH", help="with --perceptual: LPIPS' squeeze.pth (file or folder)")
    t.add_argument("--ship", action="store_true",
                   help="with --perceptual: place the run's heads next to their models in the package, no training")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="R-D comparison with classical codecs (table, JSON, plots)")
    e.add_argument("--images", required=True)
    e.add_argument("--codecs", default="roicodec,jpeg,webp,avif,jxl,hevc")
    e.add_argument("--out", default="eval_results")
    e.add_argument("--limit", type=int, help="use only the first N images")
    e.add_argument("--scale", default="fit", help="roicodec's coding scale (as for compress: fit, 1, 1.5, 2 or auto)")
    e.add_argument("--effort", type=int, default=0, choices=range(len(EFFORT_STEPS)), metavar="0-3",
                   help="roicodec's encoder effort (as for compress)")
    e.add_argument("--reuse", action="store_true",
                   help="keep classical codecs' results JSON in --out when made from the same images and sweep")
    e.add_argument("--reference", help="extra curve to plot and compare (CompressAI-style JSON, e.g. benchmarks/vtm_kodak.json)")
    e.set_defaults(func=_cmd_eval)

    from .serve import DEFAULT_MAX_PIXELS  # the package's __init__ imports nothing

    v = sub.add_parser("serve", help='a local web page: paint the ROI, pick the size, compare with AVIF/WebP (pip install "roicodec[ui]")')
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--max-pixels", type=_non_negative_int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse uploads over this many pixels (default {DEFAULT_MAX_PIXELS:,}; 0 = the format's limit)")
    v.add_argument("--open", action="store_true", help="open the page in the default browser")
    v.set_defaults(func=_cmd_serve)

    for s in (c, r, b):
        s.add_argument("--scale", default="fit",
                       help="'fit' (the default): as it is, resampled only where the budget is outside the model's range "
                            "at its own size (smaller below, larger above); a factor to code the picture resampled by "
                            "(1 = always as it is; 1.5; 2; ...); or 'auto': larger where the budget pays for it "
                            "(more PSNR above ~0.35 bpp, 2-4x the time)")
    for s in (c, b):
        s.add_argument("--effort", type=int, default=0, choices=range(len(EFFORT_STEPS)), metavar="0-3",
                       help="encoder effort: 0 (default, fastest) codes the analysis's latent; 1, 2, 3 refine it with "
                            f"{', '.join(str(n) for n in EFFORT_STEPS[1:])} optimisation steps (several times slower) "
                            "for better quality at the same size; decoding is unchanged")
    for s in (c, d, i, r, b):
        s.add_argument("--weights", help="a shipped model's name (e.g. fidelity-v1) or a weights file "
                                         "(default: the shipped model; decompress and info: the model the file names)")
    for s in (c, d):
        s.add_argument("--device", type=_device, help="where the model runs: cpu (default), cuda, cuda:1, ... "
                                                      "(a file decodes on any device, whichever coded it)")
    for s in (c, d, b):
        s.add_argument("--precision", choices=PRECISIONS, default="auto",
                       help="auto (default): the fidelity model's transforms in bf16 on CPUs with native bf16 "
                            "(AVX-512 BF16, AMX): encode and decode a seventh to a third faster for +0.1%% bytes and "
                            "-0.003 dB; float32: the reference")
    for s in (c, d, r, b):
        s.add_argument("-q", "--quiet", action="store_true", help="print nothing on success (notes and errors still go to stderr)")
    return p


def _add_budget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--bpp", type=float, help="target bits per pixel (never exceeded)")
    g.add_argument("--size", help="target file size, e.g. 30000, 30KB, 29.3KiB (never exceeded)")
    g.add_argument("--quality", type=float, help="quality level, min..K-1 (no search; the shipped model takes -3..7)")


def _add_roi_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--roi", help="ROI mask image (white = important), or 'auto', or 'auto:faces,people,text,saliency'")
    p.add_argument("--roi-box", action="append", metavar="X,Y,W,H[:WEIGHT]", help="rectangle of importance (repeatable)")
    p.add_argument("--roi-classes", metavar="LABELS.png", help="integer class-label image")
    p.add_argument("--class-weights", metavar="ID=W,...", help="importance per class, e.g. 1=1.0,2=0.5,other=0.1")
    p.add_argument("--class-legend", metavar="FILE", help="class names -> ids (JSON or 'id name' lines)")
    p.add_argument("--roi-strength", type=float, default=DEFAULT_ROI_STRENGTH,
                   help=f"quality levels added at full importance (default {DEFAULT_ROI_STRENGTH:g})")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import RoicodecError

    try:
        return args.func(args)
    except (RoicodecError, OSError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"roicodec: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("roicodec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
