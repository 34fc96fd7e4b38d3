"""Analysis / synthesis (x16) and hyper transforms, built from CompressAI's layers.

Residual GDN blocks with Cheng et al.'s attention blocks, as DESIGN asks, kept lean (one residual
block per scale, half the channels at full-resolution stages) so that decoding stays fast on an
ordinary CPU (docs/results.md has the timings).
"""

from __future__ import annotations

from compressai.layers import (
    GDN1,
    AttentionBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    conv3x3,
    subpel_conv3x3,
)
from torch import nn

from .exact import ExactConv2d, ExactConvTranspose2d, ExactSequential


def analysis_transform(n: int, m: int) -> nn.Module:
    return nn.Sequential(
        ResidualBlockWithStride(3, n // 2, stride=2),
        ResidualBlockWithStride(n // 2, n, stride=2),
        AttentionBlock(n),
        ResidualBlockWithStride(n, n, stride=2),
        conv3x3(n, m, stride=2),
        AttentionBlock(m),
    )


def synthesis_transform(n: int, m: int) -> nn.Module:
    return nn.Sequential(
        AttentionBlock(m),
        ResidualBlockUpsample(m, n, 2),
        ResidualBlockUpsample(n, n, 2),
        AttentionBlock(n),
        ResidualBlockUpsample(n, n // 2, 2),
        subpel_conv3x3(n // 2, 3, 2),
    )


def bls2017_analysis(m: int) -> nn.Module:
    """Ballé et al. 2017's analysis (x16) with the simplified GDN (CompressAI's GDN1): the high-rate
    model's transforms, pretrained by tensorflow-compression's bls2017.py (tools/import_bls2017.py)."""
    return nn.Sequential(
        nn.Conv2d(3, m, 9, stride=4, padding=4),
        GDN1(m),
        nn.Conv2d(m, m, 5, stride=2, padding=2),
        GDN1(m),
        nn.Conv2d(m, m, 5, stride=2, padding=2, bias=False),
    )


def bls2017_synthesis(m: int) -> nn.Module:
    return nn.Sequential(
        nn.ConvTranspose2d(m, m, 5, stride=2, padding=2, output_padding=1),
        GDN1(m, inverse=True),
        nn.ConvTranspose2d(m, m, 5, stride=2, padding=2, output_padding=1),
        GDN1(m, inverse=True),
        nn.ConvTranspose2d(m, 3, 9, stride=4, padding=4, output_padding=3),
    )


#: The transform pairs a model may use, by the name its config stores.
TRANSFORMS = {
    "roicodec-v1": (analysis_transform, synthesis_transform),
    "bls2017": (lambda n, m: bls2017_analysis(m), lambda n, m: bls2017_synthesis(m)),
}

#: (analysis, synthesis) receptive field radius in latent positions, rounded up with a margin: the halo
#: of tiled analysis and synthesis (model/tiling.py). roicodec-v1's synthesis: attention block 3 (three
#: 3x3 convs per branch) + 1.5 + 0.75 + 0.75 + 0.375 + 0.125 = 6.5; its analysis 89 pixels = 5.6.
#: bls2017: 1.25 + 0.63 + 0.31 = 2.2 either way. tests/test_tiling.py checks them against an impulse.
RECEPTIVE_HALO = {"roicodec-v1": (8, 8), "bls2017": (4, 4)}


def hyper_analysis(n: int, m: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(m, n, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(n, n, 5, stride=2, padding=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(n, n, 5, stride=2, padding=2),
    )


def hyper_synthesis(n: int, m: int) -> ExactSequential:
    """Decoder side of the hyperprior: in the entropy-parameter path, so it is exact."""
    return ExactSequential(
        ExactConvTranspose2d(n, n, 5, stride=2, padding=2, output_padding=1),
        nn.ReLU(),
        ExactConvTranspose2d(n, n * 3 // 2, 5, stride=2, padding=2, output_padding=1),
        nn.ReLU(),
        ExactConv2d(n * 3 // 2, 2 * m, 3, padding=1),
    )
