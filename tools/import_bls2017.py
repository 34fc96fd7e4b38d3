"""Build the high-rate model from the pretrained Ballé-2017 transforms (MIT) and a latent codec fitted here.

    python tools/import_bls2017.py --bls ../shared/weights/bls2017 --data ../shared/data/train \
        --out src/roicodec/weights/roicodec-highrate-v1.safetensors --crops 2000 --steps 1500 --lr 6e-4

The transforms (tensorflow-compression's bls2017.py at λ = 0.125, no entropy model published) are read
from their raw float32 files (layout in ../shared/weights/bls2017/README.md); the gain units keep their
geometric start (one level = a quantiser step √2 finer, level 3.5 = the transforms' own step); the
hyperprior + context is fitted to their latents (train/latent_fit.py). The MIT notice travels in the
weights' metadata and beside them in the package (src/roicodec/weights/LICENSE-bls2017).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from roicodec.model import ModelConfig, RoiCodecModel
from roicodec.train.data import CropSampler
from roicodec.train.latent_fit import FitConfig, analysis_latents, fit_latent_codec
from roicodec.weights import export_weights

#: λ of the pretrained transforms, which level 3.5 (gain 1) codes at; one level doubles it.
BLS_LAMBDA = 0.125
HIGHRATE_CONFIG = ModelConfig(n=128, m=128, levels=8, lambda_min=BLS_LAMBDA / 2**3.5, lambda_max=BLS_LAMBDA * 2**3.5,
                              min_level=-3.0, transforms="bls2017")


class _Floats:
    """Consecutive arrays of a raw little-endian float32 file."""

    def __init__(self, path: Path) -> None:
        self.values = np.fromfile(path, dtype="<f4")
        self.at = 0

    def take(self, *shape: int) -> np.ndarray:
        n = int(np.prod(shape))
        if self.at + n > len(self.values):
            raise ValueError("file too short for the Ballé-2017 layout")
        out = self.values[self.at : self.at + n].reshape(shape)
        self.at += n
        return out

    def done(self) -> None:
        if self.at != len(self.values):
            raise ValueError("file longer than the Ballé-2017 layout")


def _set_gdn(gdn: torch.nn.Module, beta: np.ndarray, gamma_in_out: np.ndarray) -> None:
    gdn.beta.data = gdn.beta_reparam.init(torch.tensor(beta))
    gdn.gamma.data = gdn.gamma_reparam.init(torch.tensor(gamma_in_out.T.copy()))


def _load_stack(seq: torch.nn.Sequential, folder: Path, prefix: str, shapes: list[tuple[int, ...]], to_torch) -> None:
    """conv, GDN, conv, GDN, conv: kernels and γs in file order from <prefix>_w.bin, then biases and βs
    from <prefix>_b.bin (a conv without a bias has none stored)."""
    weights, biases = _Floats(folder / f"{prefix}_w.bin"), _Floats(folder / f"{prefix}_b.bin")
    gammas = []
    for i, shape in enumerate(shapes):
        seq[2 * i].weight.data = to_torch(weights.take(*shape))
        if i < len(shapes) - 1:
            gammas.append(weights.take(128, 128))
    for i in range(len(shapes)):
        conv = seq[2 * i]
        if conv.bias is not None:
            conv.bias.data = torch.tensor(biases.take(conv.bias.numel()))
        if i < len(shapes) - 1:
            _set_gdn(seq[2 * i + 1], biases.take(128), gammas[i])
    weights.done()
    biases.done()


def load_bls2017(model: RoiCodecModel, folder: Path) -> None:
    """The pretrained kernels into model.g_a / model.g_s (kernels are H x W x in x out)."""
    conv = lambda k: torch.tensor(k.transpose(3, 2, 0, 1).copy())  # noqa: E731
    deconv = lambda k: torch.tensor(k[::-1, ::-1].transpose(2, 3, 0, 1).copy())  # noqa: E731  stored rotated
    _load_stack(model.g_a, folder, "ana", [(9, 9, 3, 128), (5, 5, 128, 128), (5, 5, 128, 128)], conv)
    _load_stack(model.g_s, folder, "syn", [(5, 5, 128, 128), (5, 5, 128, 128), (9, 9, 128, 3)], deconv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bls", required=True, help="folder with ana_w.bin, ana_b.bin, syn_w.bin, syn_b.bin, LICENSE")
    ap.add_argument("--data", required=True, help="training images")
    ap.add_argument("--out", required=True)
    ap.add_argument("--crops", type=int, default=2000)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=FitConfig.lr)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    folder = Path(args.bls)
    model = RoiCodecModel(HIGHRATE_CONFIG).eval()
    load_bls2017(model, folder)
    for p in model.parameters():
        p.requires_grad_(False)
    t0 = time.time()
    latents = analysis_latents(model, CropSampler(args.data, args.crop, seed=args.seed), args.crops)
    history = fit_latent_codec(model, latents, FitConfig(steps=args.steps, lr=args.lr, seed=args.seed))
    meta = {
        "architecture": "Ballé-2017 transforms (GDN1, 128 channels, x16) + gain units + hyperprior + "
                        "ELIC channel groups x checkerboard context",
        "role": "high-rate model: chosen per file for budgets from use_from_bpp up",
        "lambda_range": [HIGHRATE_CONFIG.lambda_min, HIGHRATE_CONFIG.lambda_max],
        "training_data": args.data,
        "training_steps": args.steps,
        "training_command": "python tools/import_bls2017.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "latent_fit_history": history,
        "fit_seconds": round(time.time() - t0),
        "transforms_source": "github.com/sjtu-tcloud/Exploring-Efficient-Hardware-Accelerator-for-Learning-based-Image-"
                             "Compression, bin/, commit 655fb0473e6911eb2d9b6db335df5d11e86ef0e6 (trained with "
                             "tensorflow-compression bls2017.py, lambda 0.125)",
        "license": (folder / "LICENSE").read_text(),
    }
    meta["storage"] = "float16 convolution and GDN parameters (weights.export_weights half=True)"
    print(f"{args.out}: model {export_weights(model, args.out, meta, half=True).hex()}")


if __name__ == "__main__":
    main()
