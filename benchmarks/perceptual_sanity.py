"""Which weight-free full-reference metric tolerates texture substitution: a sanity check on Kodak.

    python benchmarks/perceptual_sanity.py --data ../shared/data/kodak --images kodim01 kodim05 kodim13 kodim23

For each picture: (a) a Gaussian blur (sigma 2), (b) the same blur plus band-limited noise whose energy
equals the detail the blur removed (white noise through the complementary high pass 1 - G, scaled so
that ||noise|| = ||x - blur(x)||): a crude "synthetic texture" with the right spectrum and the wrong
phase. PSNR must say (b) is worse (its MSE is about twice (a)'s); a metric that tolerates plausible
texture says (b) is no worse, or much less worse than PSNR does. Prints the mean over the pictures of
each candidate on (a) and (b), whether the candidate is a distance (lower = better) or a similarity,
and the seconds per 768x512 picture on this machine's CPU.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import piq
import torch
import torch.nn.functional as F
from PIL import Image

from roicodec.evaluate import perceptual

SIGMA = 2.0


def gauss(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(3 * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def degrade(x: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(a) blur, (b) blur + matched band noise, (c) the same noise on the sharp picture, (d) blur sigma 1."""
    blur = gauss(x, SIGMA)
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(x.shape, generator=g, dtype=x.dtype)
    n = w - gauss(w, SIGMA)  # band-limited: the band the blur removed
    n = n * (x - blur).norm() / n.norm()
    return blur.clamp(0, 1), (blur + n).clamp(0, 1), (x + n).clamp(0, 1), gauss(x, 1.0).clamp(0, 1)


def candidates():
    """name → (function(ref, img) on (1, 3, H, W) [0, 1] tensors, 'lower' or 'higher' is better)."""
    out = {
        "PSNR": (lambda r, i: piq.psnr(i, r, data_range=1.0), "higher"),
        "MS-SSIM": (lambda r, i: perceptual.ms_ssim(r, i), "higher"),
        "GMSD": (lambda r, i: piq.gmsd(i, r, data_range=1.0), "lower"),
        "MS-GMSD": (lambda r, i: piq.multi_scale_gmsd(i, r, data_range=1.0, chromatic=True), "lower"),
        "HaarPSI": (lambda r, i: piq.haarpsi(i, r, data_range=1.0), "higher"),
        "MDSI": (lambda r, i: piq.mdsi(i, r, data_range=1.0), "lower"),
        "VSI": (lambda r, i: piq.vsi(i, r, data_range=1.0), "higher"),
        "FSIMc": (lambda r, i: piq.fsim(i, r, data_range=1.0, chromatic=True), "higher"),
        "SR-SIM": (lambda r, i: piq.srsim(i, r, data_range=1.0, chromatic=True), "higher"),
        "DSS": (lambda r, i: piq.dss(i, r, data_range=1.0), "higher"),
        "VIFp": (lambda r, i: piq.vif_p(i, r, data_range=1.0), "higher"),
    }
    try:
        sq = perceptual.squeeze_distance_default()
        out["SqueezeDist (training)"] = (lambda r, i: sq(r, i), "lower")
    except Exception as exc:  # weights absent: skip the training metric
        print(f"SqueezeNet-feature distance skipped: {exc}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/kodak"))
    ap.add_argument("--images", nargs="+", default=["kodim01", "kodim05", "kodim13", "kodim23"])
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    cands = candidates()
    scores = {k: ([], [], [], []) for k in cands}
    secs = {k: [] for k in cands}
    for name in args.images:
        arr = np.asarray(Image.open(args.data / f"{name}.png").convert("RGB"), dtype=np.float32) / 255
        x = torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()
        degraded = degrade(x)
        for k, (fn, _) in cands.items():
            t = time.perf_counter()
            scores[k][0].append(float(fn(x, degraded[0])))
            secs[k].append(time.perf_counter() - t)
            for j in (1, 2, 3):
                scores[k][j].append(float(fn(x, degraded[j])))
    print(f"| metric | better | (d) blur σ=1 | (a) blur σ={SIGMA:g} | (b) = (a) + matched band noise | (c) sharp + that noise "
          "| (b) better than (a) | texture penalty | s / 768x512 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, (_, better) in cands.items():
        ma, mb, mc, md = (np.mean(v) for v in scores[k])
        wins = sum((sb < sa) == (better == "lower") and sb != sa for sa, sb in zip(scores[k][0], scores[k][1]))
        # how much worse (b) is than (a), relative to (a)'s distance from a perfect score (PSNR: in MSE)
        if k == "PSNR":
            pa, pb = (np.mean([10 ** (-p / 10) for p in v]) for v in scores[k][:2])
            pen = pb / pa - 1
        else:
            perfect = 0.0 if better == "lower" else 1.0
            pen = (mb - ma) / (ma - perfect)
        print(f"| {k} | {better} | {md:.4f} | {ma:.4f} | {mb:.4f} | {mc:.4f} | {wins}/{len(args.images)} | {pen:+.0%} "
              f"| {np.median(secs[k]):.2f} |")


if __name__ == "__main__":
    main()
