"""Resumable training loop (CPU with bf16 autocast where the CPU has it, or GPU).

A run keeps one checkpoint (model + optimizer + step) in its output folder and can
start from the shipped safetensors weights, so a later session on a fresh machine
continues from what was committed.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..atomic import atomic_write, atomic_write_text
from ..hardware import cpu_has_native_bf16
from ..model import ModelConfig, RoiCodecModel
from ..model.exact import invalidate_exact_caches
from ..weights import export_weights, load_state_into, storage_of
from .data import CropSampler, list_images, random_quality_maps
from .losses import psnr, rate_distortion_loss


@dataclass
class TrainConfig:
    data: str
    out: str
    steps: int = 10000
    # 256² crops at batch 2 (the pixels of 128² x 8): the hyperprior then sees a 4 x 4 z grid instead of
    # 2 x 2; measured -15.7 % BD-rate on Kodak after 5000 fine-tuning steps (docs/design-decisions.md item 13)
    batch: int = 2
    crop: int = 256
    lr: float = 2e-4
    lr_final_fraction: float = 0.1
    seed: int = 0
    init: str | None = None  # safetensors weights to start from
    val: str | None = None  # folder of validation images (e.g. Kodak)
    val_every: int = 1000
    val_images: int = 4
    ckpt_every: int = 200
    bf16: bool | None = None  # None: use it when the CPU has native bf16
    threads: int | None = None
    synthetic_text: float = 0.1  # fraction of crops that are drawn documents/screenshots
    #: Wall-clock budget of this invocation in minutes. With it the cosine schedule runs over these minutes
    #: instead of over the steps, and the run stops, checkpoints and exports when they are spent: a lent GPU
    #: gives one command at most 10 minutes, and a session ends after 180.
    minutes: float | None = None
    #: channels_last activations and weights: faster bf16 convolutions on a GPU. None: on CUDA only (torch's CPU
    #: backward crashes on it); if the first step fails with it anyway, the run falls back to the default format.
    channels_last: bool | None = None
    #: How the exported weights are stored (weights.STORAGE). None: as the --init file stores them, float32 for a
    #: fresh model (a fine-tuned fidelity model comes back with float16 transforms, the high-rate one in float16).
    storage: str | None = None
    #: Threads that crop batches ahead of a GPU (None: half the cores, 2 to 8).
    loader_workers: int | None = None
    #: Steps over which the learning rate rises linearly to its schedule at the start of a run. A fresh Adam on
    #: trained weights moves every parameter by ±lr on its first step (its second-moment estimate is that one
    #: gradient): one step at 1e-4 cost the fidelity model 2.6 dB at level 7 (docs/gpu-training.md). None: 500
    #: steps when starting from --init weights, none when resuming a checkpoint (its optimizer state comes too).
    warmup_steps: int | None = None


#: Metadata an --init model hands on to the weights trained from it: what the model is and its licence, and
#: its role among the shipped models. Measured figures (the rate curve, Kodak) are measured again.
INHERITED_META = ("architecture", "role", "license", "transforms_source", "use_from_bpp")


#: TrainConfig.warmup_steps of a run that starts from --init weights.
INIT_WARMUP_STEPS = 500


def _lr_at(cfg: TrainConfig, step: int, elapsed: float = 0.0, run_step: int = 0, warmup: int = 0) -> float:
    """Cosine from cfg.lr down to lr_final_fraction of it, over the steps or, with a time budget, over its seconds;
    times a linear rise over the first ``warmup`` steps of this run (``run_step`` counts from 0)."""
    t = elapsed / (60 * cfg.minutes) if cfg.minutes else step / max(cfg.steps, 1)
    t = min(t, 1.0)
    lr = cfg.lr * (cfg.lr_final_fraction + (1 - cfg.lr_final_fraction) * 0.5 * (1 + math.cos(math.pi * t)))
    return lr * min(1.0, (run_step + 1) / warmup) if warmup else lr


@torch.no_grad()
def validate(model: RoiCodecModel, images: list[torch.Tensor], levels: list[float]) -> list[dict]:
    """Estimated bpp and PSNR at uniform levels (likelihood estimate, float path), means over images."""
    from .losses import bits_per_pixel

    model.eval()
    rows = []
    for lv in levels:
        bpps, psnrs = [], []
        for x in images:
            q = torch.full((1, 1, x.shape[2] // 16, x.shape[3] // 16), float(lv))
            out = model(x, q)
            bpps.append(float(bits_per_pixel(out["likelihoods"], x.shape[2] * x.shape[3])))
            psnrs.append(psnr(out["x_hat"].clamp(0, 1), x))
        rows.append({"level": lv, "bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))})
    model.train()
    return rows


def load_eval_images(folder: str, count: int) -> list[torch.Tensor]:
    """The first `count` images of a folder as (1,3,H,W) tensors cropped to multiples of 64 (the float path's need)."""
    from PIL import Image

    out = []
    for p in list_images(folder)[:count]:
        a = np.asarray(Image.open(p).convert("RGB"))
        h, w = a.shape[0] // 64 * 64, a.shape[1] // 64 * 64
        out.append(torch.from_numpy(a[:h, :w].copy()).permute(2, 0, 1)[None].float() / 255)
    return out


def train(cfg: TrainConfig, model_config: ModelConfig = ModelConfig()) -> Path:
    if cfg.minutes is not None and cfg.minutes <= 0:
        raise ValueError(f"--minutes must be positive, not {cfg.minutes:g}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its fastest kernels once
    use_bf16 = cfg.bf16 if cfg.bf16 is not None else (device == "cuda" or cpu_has_native_bf16())
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    ckpt_path = out / "checkpoint.pt"
    ck = torch.load(ckpt_path, map_location=device, weights_only=False) if ckpt_path.exists() else None
    step = 0
    history: list[dict] = []
    init_state = None
    inherited: dict = {}
    if ck is not None:  # a run resumes with the architecture it started with
        model_config = ModelConfig.from_dict(ck.get("model_config", model_config.to_dict()))
        inherited = ck.get("inherited_meta", {})
        if cfg.storage is None:
            cfg = replace(cfg, storage=(ck.get("train_config") or {}).get("storage"))
    elif cfg.init:
        from ..weights import read_metadata, read_stored

        info = read_metadata(cfg.init)  # a clear error on a foreign file, before any tensor is read
        model_config = ModelConfig.from_dict(info["config"])  # --init trains the model it starts from
        step = int(info["meta"].get("training_steps", 0))
        init_state = read_stored(cfg.init, info)
        inherited = {k: info["meta"][k] for k in INHERITED_META if k in info["meta"]}
        inherited["init_model_id"] = info["model_id"]
        if cfg.storage is None:
            cfg = replace(cfg, storage=storage_of(init_state))
    if cfg.storage is None:
        cfg = replace(cfg, storage="float32")
    if cfg.warmup_steps is None:
        cfg = replace(cfg, warmup_steps=INIT_WARMUP_STEPS if init_state is not None and ck is None else 0)
    model = RoiCodecModel(model_config)
    if init_state is not None:
        load_state_into(model, init_state)
    model.to(device).train()
    channels_last = cfg.channels_last if cfg.channels_last is not None else device == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if device == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in float32
    aux_params = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    main_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    opt = torch.optim.Adam([{"params": main_params}, {"params": aux_params, "lr": 1e-3}], lr=cfg.lr)
    if ck is not None:
        load_state_into(model, ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        history = ck.get("history", [])
        rng = np.random.default_rng(cfg.seed + step)
        print(f"resumed from {ckpt_path} at step {step}")

    if step >= cfg.steps:  # else the loop would not run and the old weights would be exported as new
        raise ValueError(f"--steps {cfg.steps} is not above the starting step {step}; give the total step count to reach")
    sampler = CropSampler(cfg.data, cfg.crop, seed=cfg.seed + step, synthetic_fraction=cfg.synthetic_text)
    workers = cfg.loader_workers or min(8, max(2, (os.cpu_count() or 4) // 2))
    drawn = prefetched(sampler, cfg.batch, workers=workers, depth=4) if device == "cuda" else None
    val = load_eval_images(cfg.val, cfg.val_images) if cfg.val else []
    lat = cfg.crop // 16
    level_range = model_config.level_range
    t0 = time.time()
    first_step = step
    bar = tqdm(total=cfg.steps, initial=step, desc="training", dynamic_ncols=True)
    ema: dict[str, float] = {}
    out_of_time = False
    waited = 0.0  # seconds the loop spent waiting for a batch: the loader starves the GPU if this grows

    def forward_backward(x: torch.Tensor, q: torch.Tensor) -> dict:
        opt.zero_grad(set_to_none=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_bf16):
            result = model(x, q)
        terms = rate_distortion_loss(model, result, x, q)
        (terms["loss"] + model.aux_loss()).backward()
        return terms

    while step < cfg.steps and not out_of_time:
        elapsed = time.time() - t0
        lr = _lr_at(cfg, step, elapsed, step - first_step, cfg.warmup_steps)
        opt.param_groups[0]["lr"] = lr
        t_wait = time.time()
        x = (next(drawn) if drawn else sampler.sample_uint8(cfg.batch)).to(device, non_blocking=True).float().div_(255.0)
        waited += time.time() - t_wait if drawn else 0.0
        q = random_quality_maps(cfg.batch, lat, lat, level_range, rng).to(device)
        try:
            terms = forward_backward(x, q)
        except RuntimeError as exc:
            if not (channels_last and step == first_step):
                raise
            tqdm.write(f"channels_last failed on the first step ({str(exc).splitlines()[0][:200]}); "
                       "training in the default memory format")
            channels_last = False
            model.to(memory_format=torch.contiguous_format)
            terms = forward_backward(x, q)
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        opt.step()
        step += 1
        out_of_time = bool(cfg.minutes) and time.time() - t0 >= 60 * cfg.minutes
        for k in ("loss", "bpp", "psnr"):
            v = float(terms[k].detach())
            ema[k] = v if k not in ema else 0.98 * ema[k] + 0.02 * v
        bar.update(1)
        bar.set_postfix(loss=f"{ema['loss']:.3f}", bpp=f"{ema['bpp']:.3f}", psnr=f"{ema['psnr']:.2f}", lr=f"{lr:.1e}")
        last = step == cfg.steps or out_of_time
        if step % cfg.ckpt_every == 0 or last:
            history.append({"step": step, **ema, "seconds": time.time() - t0})
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "history": history,
                     "train_config": asdict(cfg), "model_config": model_config.to_dict(), "inherited_meta": inherited}
            atomic_write(ckpt_path, lambda tmp: torch.save(state, tmp))
        if val and (step % cfg.val_every == 0 or last):
            rows = validate(model, val, sorted({level_range.low, 0.0, 2.0, 4.0, 6.0, level_range.high}))
            history.append({"step": step, "val": rows})
            tqdm.write(f"step {step} val: " + " ".join(f"q{r['level']:g}:{r['bpp']:.3f}bpp/{r['psnr']:.2f}dB" for r in rows))
            atomic_write_text(out / "history.json", json.dumps(history, indent=1))
    bar.close()
    seconds = time.time() - t0
    if out_of_time:
        tqdm.write(f"time budget of {cfg.minutes:g} min spent at step {step} "
                   f"({(step - first_step) / seconds:.2f} steps/s)")
    tqdm.write(f"{step - first_step} steps in {seconds:.0f} s: {(step - first_step) / max(seconds, 1e-9):.2f} steps/s, "
               f"{(step - first_step) * cfg.batch / max(seconds, 1e-9):.1f} crops/s at batch {cfg.batch}, "
               f"channels_last {channels_last}, waiting for data {100 * waited / max(seconds, 1e-9):.1f} % of the time")
    final = out / "final.safetensors"
    meta = training_meta(step, cfg.data, asdict(cfg), model_config)
    meta.update(inherited)
    meta["trained_on"] = torch.cuda.get_device_name() if device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    meta["steps_per_second"] = round((step - first_step) / max(seconds, 1e-9), 3)
    model = model.cpu().eval().to(memory_format=torch.contiguous_format)
    export_weights(model, final, meta, storage=cfg.storage)
    return final


def prefetched(sampler: CropSampler, batch: int, workers: int = 4, depth: int = 2) -> Iterator[torch.Tensor]:
    """uint8 batches cropped by background threads, taken round-robin so the order is fixed by the seed.

    On a GPU a step takes tens of milliseconds, about what cropping a batch of 16 takes one core
    (OpenCV and NumPy let go of the GIL while they work); on a CPU the cores are the network's, so
    the loop crops inline there. Worker k draws from its own fork of the sampler.
    """
    seed = int(sampler.rng.integers(2**31))
    queues: list[queue.Queue[torch.Tensor]] = [queue.Queue(maxsize=depth) for _ in range(workers)]

    def work(k: int) -> None:
        own = sampler.fork(seed + k)
        while True:
            x = own.sample_uint8(batch)
            queues[k].put(x.pin_memory() if torch.cuda.is_available() else x)

    for k in range(workers):
        threading.Thread(target=work, args=(k,), daemon=True).start()
    for k in itertools.cycle(range(workers)):
        yield queues[k].get()


def training_meta(step: int, data: str, train_config: dict | None, model_config: ModelConfig) -> dict:
    return {
        "architecture": "roicodec: residual-GDN + attention transforms x16, spatial gain units, hyperprior, "
        "ELIC channel groups x checkerboard context, exact integer entropy-parameter path",
        "training_steps": step,
        "training_data": str(data),
        "train_config": train_config or {},
        "lambda_range": [model_config.lmbda(model_config.min_level), model_config.lambda_max],
        "level_range": [model_config.min_level, model_config.levels - 1],
        "objective": "R + mean(lambda(q) * 255^2 * MSE), lambda(q) = lmin * (lmax/lmin)^(q/(K-1)), "
        "q in [min_level, K-1]",
    }


def export_checkpoint(run_dir: str | Path, dest: str | Path, extra_meta: dict | None = None) -> bytes:
    """Export a run's current checkpoint to release weights (safetensors, no optimizer state)."""
    ck = torch.load(Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)
    model_config = ModelConfig.from_dict(ck.get("model_config", {}))
    model = RoiCodecModel(model_config)
    load_state_into(model, ck["model"])
    invalidate_exact_caches(model)
    tc = ck.get("train_config") or {}
    meta = training_meta(ck["step"], tc.get("data", "../shared/data/train"), tc, model_config)
    meta.update(ck.get("inherited_meta", {}))
    meta.update(extra_meta or {})
    return export_weights(model.eval(), dest, meta, storage=tc.get("storage") or "float32")
