"""The shipped models, in torchvision's style: an enum of entries whose facts are read from their files.

    roicodec.load_model()                              # the default model
    roicodec.load_model(RoiCodecWeights.FIDELITY_V1)   # an entry
    roicodec.load_model("fidelity-v1")                 # its name
    roicodec.load_model("runs/v2/final.safetensors")   # any weights file

A file names its model by id; ``model_for_id`` finds the shipped entry that decodes it, so a
package may ship several (a high-rate model, a perceptual decoder) and the decoder picks the right one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ModelMismatchError, WeightsError
from .model import ModelConfig, RoiCodecModel
from .perceptual_weights import read_head, read_head_metadata
from .weights import read_metadata, read_model

if TYPE_CHECKING:
    from .model.perceptual import PerceptualHead

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class Weights:
    """One shipped weights file; everything else about it (id, config, recipe, figures) is in the file."""

    filename: str
    description: str

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.filename

    @property
    def meta(self) -> dict:
        """The file's metadata: model_id, config and meta (weights.read_metadata)."""
        return _metadata(self.path)

    @property
    def model_id(self) -> bytes:
        return bytes.fromhex(self.meta["model_id"])

    @property
    def config(self) -> ModelConfig:
        """The architecture (and so the quality levels), from the metadata alone: no tensors loaded."""
        return ModelConfig.from_dict(self.meta["config"])


class RoiCodecWeights(Enum):
    FIDELITY_V1 = Weights("roicodec-fidelity-v1.safetensors", "MSE-optimised variable-rate ROI model")
    HIGHRATE_V1 = Weights("roicodec-highrate-v1.safetensors",
                          "high-rate model: pretrained Ballé-2017 transforms (MIT, LICENSE-bls2017) + fitted latent codec")
    HIGHRATE_V2 = Weights("roicodec-highrate-v2.safetensors",
                          "high-rate model v1 with its latent codec refitted (tools/refit_latent_codec.py): "
                          "Ballé-2017 transforms (MIT, LICENSE-bls2017)")
    DEFAULT = FIDELITY_V1

    @property
    def label(self) -> str:
        """The entry's short name, e.g. 'fidelity-v1'."""
        return self.name.lower().replace("_", "-")

    @property
    def family(self) -> str:
        """'FIDELITY' for FIDELITY_V1: the versions of one model, of which the encoder uses the newest."""
        return self.name.rsplit("_V", 1)[0]

    @property
    def version(self) -> int:
        return int(self.name.rsplit("_V", 1)[1])

    @classmethod
    def named(cls, name: str) -> "RoiCodecWeights | None":
        """'FIDELITY_V1', 'fidelity-v1' or 'default'; None for any other name."""
        key = name.strip().upper().replace("-", "_")
        return cls.__members__.get(key)


@functools.lru_cache(maxsize=None)
def _metadata(path: Path) -> dict:
    return read_metadata(path)


def weights_path(weights: str | Path | RoiCodecWeights | None = None) -> Path:
    """The file behind an entry, an entry's name, or a path (None: the default model)."""
    if weights is None:
        weights = RoiCodecWeights.DEFAULT
    if isinstance(weights, RoiCodecWeights):
        return weights.value.path
    entry = RoiCodecWeights.named(weights) if isinstance(weights, str) else None
    if entry is not None:
        return entry.value.path
    path = Path(weights)
    if not path.exists() and path.suffix != ".safetensors":
        names = ", ".join(e.label for e in RoiCodecWeights if e.name != "DEFAULT")
        raise WeightsError(f"no model or weights file {str(weights)!r} (shipped models: {names})")
    return path


@functools.lru_cache(maxsize=4)
def _cached_model(path: Path, device: str) -> RoiCodecModel:
    return read_model(path, device)


def load_model(weights: str | Path | RoiCodecWeights | None = None, device: str | None = None) -> RoiCodecModel:
    """The shipped model, another shipped entry, or a weights file, on ``device`` (a torch device name;
    None: the CPU); loaded once per process and device. Files do not depend on where they were coded:
    the entropy parameters are integer-exact on any device (model/exact.py)."""
    return _cached_model(weights_path(weights).resolve(), str(device or "cpu"))


def shipped() -> list[RoiCodecWeights]:
    """The entries whose files are installed (the DEFAULT alias is not a separate entry)."""
    return [entry for entry in RoiCodecWeights if entry.value.path.exists()]


def newest() -> list[RoiCodecWeights]:
    """The installed entries the encoder chooses from: the newest version of each family. The older
    versions stay installed to decode the files that name them."""
    entries = shipped()
    top = {e.family: max(x.version for x in entries if x.family == e.family) for e in entries}
    return [e for e in entries if e.version == top[e.family]]


def newest_of(family: str) -> RoiCodecWeights:
    """The newest installed version of a family ('FIDELITY', 'HIGHRATE'): what a new run starts from."""
    return next(e for e in newest() if e.family == family.upper())


def model_for_rate(bpp: float | None, device: str | None = None) -> RoiCodecModel:
    """The shipped model for a budget of ``bpp`` bits per pixel: of the newest versions, the one whose
    ``use_from_bpp`` (weights metadata) is the highest at or below it; the default model for a quality
    level or a low rate."""
    chosen, start = RoiCodecWeights.DEFAULT, 0.0
    for entry in newest() if bpp is not None else []:
        begin = entry.value.meta["meta"].get("use_from_bpp")
        if begin is not None and start < float(begin) <= bpp:
            chosen, start = entry, float(begin)
    return load_model(chosen, device)


def entry_for_id(model_id: bytes) -> RoiCodecWeights | None:
    """The installed entry a file names, found from the weights' metadata alone (no tensors loaded)."""
    return next((entry for entry in shipped() if entry.value.model_id == model_id), None)


def model_for_id(model_id: bytes, device: str | None = None) -> RoiCodecModel:
    """The shipped model that a file naming ``model_id`` needs (on ``device``)."""
    entry = entry_for_id(model_id)
    if entry is not None:
        return load_model(entry, device)
    raise ModelMismatchError(f"file was made by model {model_id.hex()}, which is not installed "
                             "(pass its weights with model= / --weights)")


# ---------------------------------------------------------------------------- perceptual heads
#: Perceptual heads ship next to their base model as ``<base file stem>-perceptual.safetensors``.
HEAD_SUFFIX = "-perceptual.safetensors"


def head_path(entry: RoiCodecWeights) -> Path:
    return entry.value.path.with_name(entry.value.path.name.removesuffix(".safetensors") + HEAD_SUFFIX)


@functools.lru_cache(maxsize=4)
def _cached_head(path: Path, device: str) -> "PerceptualHead":
    return read_head(path).to(device)


def perceptual_head_for(model: RoiCodecModel, path: str | Path | None = None) -> "PerceptualHead":
    """The perceptual head for ``model``: from ``path``, or the one shipped with the model's entry."""
    if path is None:
        entry = entry_for_id(model.model_id)
        if entry is None or not head_path(entry).exists():
            raise WeightsError(f"no perceptual decoder is installed for model {model.model_id.hex()}; "
                               "decode with realism 0")
        path = head_path(entry)
    path = Path(path).resolve()
    base = read_head_metadata(path)["base_model_id"]
    if base != model.model_id.hex():
        raise ModelMismatchError(f"perceptual weights {path.name} were trained for model {base}, "
                                 f"not {model.model_id.hex()}")
    return _cached_head(path, str(model.device))
