"""Training a base model's perceptual head: the encoder, entropy model and g_s stay frozen, so files do not change.

Per step, on random crops at random quality maps and regions of interest:

    x_fid = g_s(round(g_a(x) * g(q)) * g'(q))                      (frozen, no gradient)
    x_r   = head(x_fid, y, q, importance, r),  r ~ U[0, 1]
    loss  = k_d * mean(w * MSE(x_r, x))                                 distortion, w = 1 + roi_weight * importance (seed 001)
          + r * ( k_ms * (1 - MS-SSIM(x_r, x))                          seed 003
                + k_f  * SqueezeNet-feature distance (LPIPS heads)      deep features (evaluate/squeeze.py; not LPIPS)
                + k_g  * non-saturating GAN loss of a patch discriminator conditioned on the quality map )

Realism scales the perceptual terms, so one head learns the whole knob (multi-realism training).
The run is resumable (``checkpoint.pt``), shows progress and logs every loss term (``history.json``),
and exports ``head.safetensors`` bound to the base model's id; ``ship`` places it next to the model.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn
from tqdm import tqdm

from ..atomic import atomic_write, atomic_write_text
from ..model import LATENT_STRIDE, RoiCodecModel
from ..model.perceptual import HeadConfig, PerceptualHead
from ..perceptual_weights import export_head
from ..weights import release_borrowers
from .data import CropSampler


@dataclass
class PerceptualConfig:
    data: str
    out: str
    base: str = "fidelity-v1"  # a shipped model's name or a weights file
    steps: int = 100000
    minutes: float | None = None  # wall-clock budget: the run stops, checkpoints and exports when spent
    batch: int = 4
    crop: int = 192  # MS-SSIM's five scales need at least 161 pixels
    #: Crops decoded once by the frozen model and reused (0: decode every batch afresh). On a CPU the frozen
    #: g_a + g_s cost as much as the head's whole step, so a cache of a few thousand crops halves the time.
    cache: int = 1500
    lr: float = 2e-4
    d_lr: float = 2e-4
    k_distortion: float = 0.0025  # on MSE in 0..255 units (HiFiC's weight)
    roi_weight: float = 4.0
    k_msssim: float = 0.5
    k_features: float = 1.0
    k_gan: float = 0.1
    #: Share of steps at realism 1 (the rest draw r uniformly): the far end of the knob gets the most practice.
    full_realism: float = 0.5
    #: Quality levels are drawn from the lowest to this fraction of the model's range: texture matters at low rates.
    level_span: float = 0.7
    onnx: str | None = None  # SqueezeNet ONNX (file or folder); None: the cache folder
    heads: str | None = None  # LPIPS squeeze.pth
    seed: int = 0
    ckpt_every: int = 100
    bf16: bool | None = None
    threads: int | None = None
    extra: dict = field(default_factory=dict)


class PatchDiscriminator(nn.Module):
    """PatchGAN logits on (picture, quality level, importance), spectrally normalised for stable training."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        sn = nn.utils.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(5, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * width, 4 * width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(4 * width, 4 * width, 3, padding=1)), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * width, 1, 3, padding=1),
        )

    def forward(self, x: Tensor, q: Tensor, importance: Tensor, level_scale: float) -> Tensor:
        cond = F.interpolate(torch.cat([q / level_scale, importance], 1), size=x.shape[-2:], mode="nearest")
        return self.net(torch.cat([x, cond], 1))


def random_importance(batch: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(batch, 1, h, w) importance in [0, 1]: none for half the crops, else one to three ellipses or boxes."""
    imp = np.zeros((batch, 1, h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for b in range(batch):
        if rng.random() < 0.5:
            continue
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            ry, rx = rng.uniform(1, h / 3 + 1), rng.uniform(1, w / 3 + 1)
            d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 if rng.random() < 0.5 else \
                np.maximum(np.abs(yy - cy) / ry, np.abs(xx - cx) / rx) ** 2
            imp[b, 0] = np.maximum(imp[b, 0], (d <= 1) * rng.uniform(0.5, 1.0))
    return imp


def random_levels(importance: np.ndarray, low: float, high: float, span: float, rng: np.random.Generator) -> np.ndarray:
    """Quality maps as the encoder makes them: a base level plus a lift where the importance is."""
    top = low + span * (high - low)
    base = rng.uniform(low, top, size=(importance.shape[0], 1, 1, 1)).astype(np.float32)
    lift = rng.uniform(1.0, 4.0, size=base.shape).astype(np.float32)
    return np.clip(base + lift * importance, low, high)


@torch.no_grad()
def fidelity_decode(model: RoiCodecModel, x: Tensor, q: Tensor) -> tuple[Tensor, Tensor]:
    """(x_fid, y_s): the frozen model's decode of x at quality map q, as a file would give it (rounded latent)."""
    y = model.g_a(x) * model.gain(q)
    y_hat = model.latent_codec(y, noise=False, hyper_grad=False).y_hat
    y_s = y_hat * model.inverse_gain(q)
    return model.g_s(y_s).clamp(0, 1).float().contiguous(), y_s.float().contiguous()


@dataclass
class FidelityCache:
    """Crops with their frozen decode at a random quality map and ROI, stored in half precision."""

    x: Tensor
    x_fid: Tensor
    y_s: Tensor
    q: Tensor
    importance: Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def batch(self, index: np.ndarray) -> tuple[Tensor, ...]:
        idx = torch.from_numpy(index)
        return tuple(t[idx].float() for t in (self.x, self.x_fid, self.y_s, self.q, self.importance))

    @classmethod
    def build(cls, model: RoiCodecModel, sampler: CropSampler, count: int, levels: tuple[float, float, float],
              rng: np.random.Generator, chunk: int = 8) -> "FidelityCache":
        low, high, span = levels
        lat = sampler.crop // LATENT_STRIDE
        parts: list[tuple[Tensor, ...]] = []
        for start in tqdm(range(0, count, chunk), desc="decoding training crops", leave=False):
            n = min(chunk, count - start)
            x = sampler.sample(n)
            imp = random_importance(n, lat, lat, rng)
            q = torch.from_numpy(random_levels(imp, low, high, span, rng))
            x_fid, y_s = fidelity_decode(model, x, q)
            parts.append((x.half(), x_fid.half(), y_s.half(), q, torch.from_numpy(imp)))
        return cls(*(torch.cat(ts) for ts in zip(*parts)))


def ms_ssim_loss(a: Tensor, b: Tensor) -> Tensor:
    from pytorch_msssim import ms_ssim

    return 1 - ms_ssim(a.float(), b.float(), data_range=1.0, size_average=False)


def load_base(name_or_path: str) -> RoiCodecModel:
    from ..models import load_model

    model = load_model(name_or_path)
    model.to(memory_format=torch.contiguous_format)  # torch 2.14.1's CPU backward crashes on channels_last
    return model


def train_head(cfg: PerceptualConfig) -> Path:
    """Train (or resume) one base model's head; returns the exported head file."""
    from ..evaluate.squeeze import SqueezeDistance
    from ..hardware import cpu_has_native_bf16

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    use_bf16 = cfg.bf16 if cfg.bf16 is not None else (device == "cuda" or cpu_has_native_bf16())
    torch.manual_seed(cfg.seed)

    base = load_base(cfg.base).to(device)
    head_config = HeadConfig(m=base.config.m)
    head = PerceptualHead(head_config).to(device).train()
    disc = PatchDiscriminator().to(device).train()
    features = SqueezeDistance(cfg.onnx, cfg.heads).to(device)
    opt_g = torch.optim.Adam(head.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.d_lr, betas=(0.5, 0.9))
    step, history = 0, []
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ck["base_model_id"] != base.model_id.hex():
            raise ValueError(f"{ckpt_path} trains a head for model {ck['base_model_id']}, not {base.model_id.hex()}")
        head.load_state_dict(ck["head"]), disc.load_state_dict(ck["disc"])
        opt_g.load_state_dict(ck["opt_g"]), opt_d.load_state_dict(ck["opt_d"])
        step, history = ck["step"], ck["history"]
        tqdm.write(f"resumed from {ckpt_path} at step {step}")
    low, high = base.config.level_range.low, base.config.level_range.high
    lat = cfg.crop // LATENT_STRIDE
    scale = head_config.level_scale
    if cfg.cache:  # the same crops on a resume: drawn from the seed alone
        sampler = CropSampler(cfg.data, cfg.crop, seed=cfg.seed, synthetic_fraction=0.05)
        cache = FidelityCache.build(base, sampler, cfg.cache, (low, high, cfg.level_span), np.random.default_rng(cfg.seed))
    else:
        sampler = CropSampler(cfg.data, cfg.crop, seed=cfg.seed + step, synthetic_fraction=0.05)
    rng = np.random.default_rng(cfg.seed + 1 + step)
    t0, first, ema = time.time(), step, {}
    bar = tqdm(total=cfg.steps, initial=step, desc=f"perceptual head ({Path(cfg.base).stem})", dynamic_ncols=True)
    out_of_time = False
    while step < cfg.steps and not out_of_time:
        if cfg.cache:
            x, x_fid, y_s, q, imp = (t.to(device) for t in cache.batch(rng.integers(len(cache), size=cfg.batch)))
        else:
            x = sampler.sample(cfg.batch).to(device)
            imp_np = random_importance(cfg.batch, lat, lat, rng)
            q = torch.from_numpy(random_levels(imp_np, low, high, cfg.level_span, rng)).to(device)
            imp = torch.from_numpy(imp_np).to(device)
            x_fid, y_s = fidelity_decode(base, x, q)
        r_np = np.where(rng.random(cfg.batch) < cfg.full_realism, 1.0, rng.random(cfg.batch))
        r = torch.from_numpy(r_np.astype(np.float32)).to(device)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_bf16):
            x_r = head(x_fid, y_s, q, imp, r).float()

            # discriminator: real crops against the head's pictures (hinge loss)
            d_real = disc(x, q, imp, scale)
            d_fake = disc(x_r.detach(), q, imp, scale)
            loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_bf16):
            w = 1 + cfg.roi_weight * F.interpolate(imp, scale_factor=LATENT_STRIDE, mode="nearest")
            distortion = (w * (x_r - x).pow(2).mean(1, keepdim=True)).mean(dim=(1, 2, 3)) * 255.0**2
            feat = features(x_r, x)
            msssim = ms_ssim_loss(x_r, x)
            gan = F.softplus(-disc(x_r, q, imp, scale)).mean(dim=(1, 2, 3))  # non-saturating
            perceptual = cfg.k_msssim * msssim + cfg.k_features * feat + cfg.k_gan * gan.float()
            loss = (cfg.k_distortion * distortion + r * perceptual).mean()
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
        opt_g.step()
        step += 1
        out_of_time = bool(cfg.minutes) and time.time() - t0 >= 60 * cfg.minutes
        terms = {"loss": loss, "mse255": distortion.mean(), "1-msssim": msssim.mean(), "squeeze": feat.mean(),
                 "gan_g": gan.mean(), "gan_d": loss_d}
        for k, v in terms.items():
            v = float(v.detach())
            ema[k] = v if k not in ema else 0.98 * ema[k] + 0.02 * v
        bar.update(1)
        bar.set_postfix({k: f"{v:.3g}" for k, v in ema.items()})
        if step % cfg.ckpt_every == 0 or step == cfg.steps or out_of_time:
            history.append({"step": step, **ema, "seconds": time.time() - t0})
            state = {"head": head.state_dict(), "disc": disc.state_dict(), "opt_g": opt_g.state_dict(),
                     "opt_d": opt_d.state_dict(), "step": step, "history": history,
                     "base_model_id": base.model_id.hex(), "config": asdict(cfg)}
            atomic_write(ckpt_path, lambda tmp: torch.save(state, tmp))
            atomic_write_text(out / "history.json", json.dumps(history, indent=1))
    bar.close()
    tqdm.write(f"{step - first} steps in {time.time() - t0:.0f} s ({(step - first) / max(time.time() - t0, 1e-9):.2f} steps/s)")
    final = out / "head.safetensors"
    meta = {"training_steps": step, "base": str(cfg.base), "train_config": asdict(cfg),
            "losses": "k_d*w*MSE + r*(k_ms*(1-MS-SSIM) + k_f*SqueezeNet-feature distance (LPIPS heads) + k_g*GAN)",
            "trained_on": torch.cuda.get_device_name() if device == "cuda" else f"cpu, {torch.get_num_threads()} threads",
            "last": history[-1] if history else {}}
    export_head(head.cpu().eval(), final, base.model_id, meta)
    return final


def ship(head_file: str | Path, entry_name: str) -> Path:
    """Place a trained head next to the shipped model it belongs to (checked against that model's id)."""
    from ..models import RoiCodecWeights, head_path
    from ..perceptual_weights import read_head_metadata

    entry = RoiCodecWeights.named(entry_name)
    if entry is None:
        raise ValueError(f"no shipped model {entry_name!r}")
    if read_head_metadata(head_file)["base_model_id"] != entry.value.model_id.hex():
        raise ValueError(f"{head_file} was not trained for {entry.label}")
    dest = head_path(entry)
    release_borrowers(dest, load_file(str(head_file)))  # a head that borrows from it keeps its tensors
    atomic_write(dest, lambda tmp: shutil.copyfile(head_file, tmp))
    return dest
