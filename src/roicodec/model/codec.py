"""The roicodec model: g_a + gain units + latent codec + inverse gains + g_s.

Reads like its diagram:

    x -> g_a -> y -> (x g(q)) -> y_s -> [latent codec] -> y_hat_s -> (x g'(q)) -> g_s -> x_hat

The latent codec (hyperprior + channel/checkerboard context) is ``latent_codec.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from ..hardware import reproducible_kernels, reproducible_threads
from ..levels import LevelRange
from .exact import from_fixed
from .gain import GainUnits
from .latent_codec import HyperpriorContextCodec, LatentCode
from .tiling import TILE, run_tiled
from .transforms import RECEPTIVE_HALO, TRANSFORMS

#: Total down-sampling of the latent (the hyper-latent's, 64, is bitstream.HYPER_STRIDE).
LATENT_STRIDE = 16


@dataclass(frozen=True)
class ModelConfig:
    n: int = 128
    m: int = 192
    levels: int = 8
    lambda_min: float = 0.0008
    lambda_max: float = 0.1024
    #: Lowest usable quality level. Below level 0 the gains continue the log-gain line
    #: of levels 0..1 (and lambda its geometric line), which reaches budgets several times
    #: smaller than level 0's and lets an ROI take bits from a background below level 0.
    #: -3 and not lower: further down the extrapolation left the R-D curve
    #: (docs/design-decisions.md item 9). Weights whose metadata predates this field load with 0.0.
    min_level: float = -3.0
    #: The analysis / synthesis pair (transforms.TRANSFORMS): the fidelity model's own, or the pretrained
    #: Ballé-2017 pair of the high-rate model. Configs saved before it existed are the first.
    transforms: str = "roicodec-v1"

    @property
    def level_range(self) -> LevelRange:
        return LevelRange.of_model(self.levels, self.min_level)

    def lmbda(self, q: float | Tensor) -> float | Tensor:
        """lambda(q) = lambda_min * (lambda_max / lambda_min) ** (q / (K - 1)), for a float or a tensor of levels."""
        return self.lambda_min * (self.lambda_max / self.lambda_min) ** (q / (self.levels - 1))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Configs saved before min_level existed describe models without levels below 0."""
        return cls(**{"min_level": 0.0, **d})


class RoiCodecModel(nn.Module):
    """One network for every rate and spatial allocation; ``model_id`` and ``meta`` describe the weights
    it was loaded from (``weights.read_model``): the id files name, and the weights file's metadata
    (training recipe, the measured rate curve that rate control starts from)."""

    def __init__(self, config: ModelConfig = ModelConfig(), model_id: bytes = b"", meta: dict | None = None) -> None:
        super().__init__()
        self.config = config
        self.model_id = model_id
        self.meta = dict(meta or {})
        n, m = config.n, config.m
        analysis, synthesis = TRANSFORMS[config.transforms]
        self.g_a = analysis(n, m)
        self.g_s = synthesis(n, m)
        self.gain = GainUnits(config.levels, m, inverse=False, min_level=config.min_level)
        self.inverse_gain = GainUnits(config.levels, m, inverse=True, min_level=config.min_level)
        self.latent_codec = HyperpriorContextCodec(n, m)

    # ------------------------------------------------------------------ training
    def lmbda(self, q: Tensor) -> Tensor:
        """Per-pixel Lagrange multiplier of the training objective at level q."""
        return self.config.lmbda(q)

    def forward(self, x: Tensor, q: Tensor) -> dict:
        """x: (B,3,H,W) in [0,1], H and W multiples of 64; q: (B,1,H/16,W/16) levels."""
        out = self.latent_codec(self.g_a(x) * self.gain(q))
        x_hat = self.g_s(out.y_hat * self.inverse_gain(q))
        return {"x_hat": x_hat, "likelihoods": out.likelihoods}

    def aux_loss(self) -> Tensor:
        return self.latent_codec.aux_loss()

    # ------------------------------------------------------------------ coding
    @property
    def device(self) -> torch.device:
        """Where the model runs (``load_model(device=...)``); coding moves its inputs there."""
        return next(self.parameters()).device

    def prepare_for_coding(self) -> None:
        """Build missing CDF tables and forget cached integer weights (after loading or training)."""
        self.latent_codec.prepare_for_coding()

    def analyse(self, x: Tensor, tile: int | None = TILE) -> Tensor:
        """The latent of a padded picture, over tiles of ``tile`` latent positions (model/tiling.py; None:
        whole). Tiles grow by the analysis's receptive field, so the latent is the untiled one up to float
        rounding on other tensor sizes."""
        # channels_last: faster on CPU, and oneDNN then gives the same floats for any thread count
        def run(x: Tensor) -> Tensor:
            with reproducible_kernels(x.device):
                return self.g_a(x.contiguous(memory_format=torch.channels_last))

        return run_tiled(run, [x], halo=RECEPTIVE_HALO[self.config.transforms][0], tile=tile, unit_in=16, unit_out=1,
                         stage="analysis")

    def compress_latent(self, y: Tensor, q: Tensor) -> LatentCode:
        """Entropy-code a latent at quality map q."""
        return self.latent_codec.compress(y * self.gain(q))

    def estimate_latent(self, y: Tensor, q: Tensor) -> tuple[float, list[float]]:
        """``compress_latent``'s payloads in bits, estimated by the float networks (rate control's trials)."""
        return self.latent_codec.estimate_payloads(y * self.gain(q))

    def decompress_latent(self, z_string: bytes, y_strings: list[bytes], latent_shape: tuple[int, int]) -> Tensor:
        return self.latent_codec.decompress(z_string, y_strings, latent_shape)

    def synthesis_input(self, y_hat_int: Tensor, q: Tensor) -> Tensor:
        """The latent g_s sees: the exact latent times the inverse gains of its quality map."""
        return (from_fixed(y_hat_int).float() * self.inverse_gain(q)).contiguous(memory_format=torch.channels_last)

    @property
    def synthesis_halo(self) -> int:
        """g_s's receptive field in latent positions: the halo of tiled synthesis (model/tiling.py)."""
        return RECEPTIVE_HALO[self.config.transforms][1]

    def synthesise(self, y_hat_int: Tensor, q: Tensor, tile: int | None = TILE) -> Tensor:
        """(1, 3, 16h, 16w) in [0, 1], over tiles of ``tile`` latent positions (None: whole), so that memory
        follows the tile; the pixels are the untiled ones (tests/test_tiling.py)."""
        def run(y: Tensor, q: Tensor) -> Tensor:
            with reproducible_threads(y.shape[-2], y.shape[-1]), reproducible_kernels(y.device):
                return self.g_s(self.synthesis_input(y, q)).clamp_(0, 1)

        return run_tiled(run, [y_hat_int, q], halo=self.synthesis_halo, tile=tile, stage="synthesis")
