"""The weights file: safetensors tensors + metadata that describe themselves.

The metadata inside the file is the single source for the model id, architecture, lambda range,
training recipe and measured figures. The model id is a hash of the tensors only, so updating
measured figures never changes it, while any change of any weight (or CDF table) does: a file
never decodes with other weights. Which files ship is ``models.py``'s business.

Tensors are stored under their historic flat names (``h_a.*``, ``entropy_bottleneck.*``, ...),
which the model id hashes; the module tree nests the hyperprior and context in ``latent_codec``.
The mapping is this module's alone, so model ids, and with them every file ever written, stay valid.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .atomic import atomic_write
from .errors import WeightsError
from .model import ModelConfig, RoiCodecModel

FORMAT = "roicodec-weights-1"
#: Buffers whose shape is only known once CDF tables are built.
_TABLE_BUFFERS = ("_offset", "_quantized_cdf", "_cdf_length")
#: Module prefix that the stored names leave out (see the module docstring).
_NESTED = "latent_codec."
_LATENT_CODEC_PARTS = ("h_a", "h_s", "entropy_bottleneck", "context")


def to_stored_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k.removeprefix(_NESTED): v for k, v in state.items()}


def to_module_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stored (or already nested) names -> the model's state-dict names."""
    return {(_NESTED + k if k.split(".", 1)[0] in _LATENT_CODEC_PARTS else k): v for k, v in state.items()}


def compute_model_id(state: dict[str, torch.Tensor]) -> bytes:
    """8-byte id: SHA-256 over every tensor's stored name, dtype, shape and bytes."""
    state = to_stored_names(state)
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return h.digest()[:8]


#: Tensors that half-precision storage keeps in float16: convolution and GDN parameters. The entropy
#: bottleneck's density, the CDF tables and the gains stay as they are.
_HALF_SUFFIXES = (".weight", ".bias", ".beta", ".gamma")


def export_weights(model: RoiCodecModel, path: str | Path, meta: dict, half: bool = False) -> bytes:
    """Write model weights + CDF tables + metadata atomically; returns the model id.

    ``half`` stores the convolution and GDN parameters in float16 (half the bytes; loading widens them
    again, and the model id hashes what is stored, so both sides of a file use the same values).

    The hyper-latent's CDF tables are rebuilt from the trained density first: a model trained on from
    `--init` or a checkpoint still holds the tables of the weights it started from, and stale tables
    only cost bits (both sides would use them), so nothing else would catch them.
    """
    model.latent_codec.entropy_bottleneck.update(force=True)
    model.prepare_for_coding()
    state = to_stored_names({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    if half:
        state = {k: v.half() if v.is_floating_point() and k.endswith(_HALF_SUFFIXES) else v for k, v in state.items()}
    mid = compute_model_id(state)
    metadata = {
        "format": FORMAT,
        "model_id": mid.hex(),
        "config": json.dumps(model.config.to_dict()),
        "meta": json.dumps(meta, sort_keys=True),
    }
    write_weights_file(state, path, metadata)
    return mid


def write_weights_file(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    """safetensors file with its metadata, written atomically (also used to re-annotate shipped weights)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(to_stored_names(state), str(tmp), metadata=metadata))


def read_metadata(path: str | Path) -> dict:
    """{"model_id": hex, "config": dict, "meta": dict} of a weights file, without loading its tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
    except FileNotFoundError:
        raise WeightsError(f"weights file not found: {path}") from None
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsError(f"not a safetensors weights file: {path} ({exc})") from None
    if md.get("format") != FORMAT:
        raise WeightsError(f"{path} is not a roicodec weights file")
    return {
        "model_id": md["model_id"],
        "config": json.loads(md["config"]),
        "meta": json.loads(md.get("meta", "{}")),
    }


def load_state_into(model: RoiCodecModel, state: dict[str, torch.Tensor]) -> None:
    """load_state_dict for stored or module names, giving CDF-table buffers the stored shapes first."""
    state = to_module_names(state)
    for name, tensor in state.items():
        mod_name, _, buf = name.rpartition(".")
        if buf in _TABLE_BUFFERS:
            model.get_submodule(mod_name)._buffers[buf] = torch.empty_like(tensor)
    model.load_state_dict(state)


def read_model(path: str | Path, device: str = "cpu") -> RoiCodecModel:
    """A model ready for coding from a weights file; verifies the stored model id against the tensors."""
    info = read_metadata(path)
    state = load_file(str(path))
    mid = compute_model_id(state)
    if mid.hex() != info["model_id"]:
        raise WeightsError(f"{path}: tensors do not match the stored model id (damaged file?)")
    model = RoiCodecModel(ModelConfig.from_dict(info["config"]), model_id=mid, meta=info["meta"])
    load_state_into(model, state)
    # channels_last is for inference only: torch 2.14.1's CPU backward crashes on it in training
    model.eval().to(device=device, memory_format=torch.channels_last)
    model.prepare_for_coding()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
