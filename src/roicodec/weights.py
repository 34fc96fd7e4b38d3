"""The weights file: safetensors tensors + metadata that describe themselves.

The metadata inside the file is the single source for the model id, architecture, lambda range,
training recipe and measured figures. The model id is a hash of the tensors only, so updating
measured figures never changes it, while any change of any weight (or CDF table) does: a file
never decodes with other weights. Which files ship is ``models.py``'s business.

Tensors are stored under their historic flat names (``h_a.*``, ``entropy_bottleneck.*``, ...),
which the model id hashes; the module tree nests the hyperprior and context in ``latent_codec``.
The mapping is this module's alone, so model ids, and with them every file ever written, stay valid.

Storage (format 2, ``roicodec-weights-2``): a model may be stored with some tensors narrowed to float16
(``STORAGE``). The metadata then keeps the *logical* model id, the hash of the tensors as trained (what
files name, so a model keeps its id across storage formats), and ``tensors_sha256``, the hash of the
tensors as stored, which loading verifies. The fidelity model stores its analysis and synthesis in
float16 and everything of the entropy-parameter path (hyper synthesis, context model, bottleneck, CDF
tables, gains) exactly as trained, so its rANS CDFs are bit for bit those of its float32 file
(docs/design-decisions.md item 20). Format 1 files (the id hashes the stored tensors) still load.
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

FORMAT = "roicodec-weights-2"
#: Formats read_metadata accepts: 1 (model id = hash of the stored tensors) and 2 (logical id + storage hash).
FORMATS = ("roicodec-weights-1", FORMAT)
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


def tensors_digest(state: dict[str, torch.Tensor]) -> bytes:
    """SHA-256 over every tensor's stored name, dtype, shape and bytes."""
    state = to_stored_names(state)
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return h.digest()


def compute_model_id(state: dict[str, torch.Tensor]) -> bytes:
    """8-byte id: the first bytes of tensors_digest (of the tensors as trained, for a logical id)."""
    return tensors_digest(state)[:8]


#: Tensors that half-precision storage keeps in float16: convolution and GDN parameters. The entropy
#: bottleneck's density, the CDF tables and the gains stay as they are.
_HALF_SUFFIXES = (".weight", ".bias", ".beta", ".gamma")
#: Stored-name prefixes of the analysis and synthesis transforms (outside the entropy-parameter path).
_TRANSFORM_PREFIXES = ("g_a.", "g_s.")
#: How a model's tensors may be stored. "float16" is the high-rate model's (every convolution and GDN
#: parameter, the hyper and context networks included, which is fine for a new model: both sides load the
#: same stored values); "float16-transforms" narrows only g_a and g_s, so a model first shipped in float32
#: keeps its entropy-parameter path, and with it the CDFs of every file it wrote, exactly.
STORAGE = ("float32", "float16-transforms", "float16")


def _narrowed(name: str, t: torch.Tensor, storage: str) -> bool:
    if not t.is_floating_point() or storage == "float32":
        return False
    if storage == "float16-transforms":
        return name.startswith(_TRANSFORM_PREFIXES)
    return name.endswith(_HALF_SUFFIXES)


def stored_as(state: dict[str, torch.Tensor], storage: str) -> dict[str, torch.Tensor]:
    """The tensors as ``storage`` keeps them (stored names)."""
    if storage not in STORAGE:
        raise ValueError(f"unknown weights storage {storage!r} (one of {', '.join(STORAGE)})")
    state = to_stored_names(state)
    return {k: v.half() if _narrowed(k, v, storage) else v for k, v in state.items()}


def storage_of(state: dict[str, torch.Tensor]) -> str:
    """The STORAGE name that describes stored tensors (from their dtypes)."""
    state = to_stored_names(state)
    halves = {k for k, v in state.items() if v.dtype == torch.float16}
    if not halves:
        return "float32"
    return "float16-transforms" if all(k.startswith(_TRANSFORM_PREFIXES) for k in halves) else "float16"


def export_weights(model: RoiCodecModel, path: str | Path, meta: dict, half: bool = False,
                   storage: str | None = None) -> bytes:
    """Write model weights + CDF tables + metadata atomically (format 2); returns the model id.

    ``storage`` (``STORAGE``; ``half`` means "float16") narrows tensors to float16 in the file: loading
    widens them again. The model id hashes the tensors as trained, ``tensors_sha256`` those stored.

    The hyper-latent's CDF tables are rebuilt from the trained density first: a model trained on from
    `--init` or a checkpoint still holds the tables of the weights it started from, and stale tables
    only cost bits (both sides would use them), so nothing else would catch them.
    """
    model.latent_codec.entropy_bottleneck.update(force=True)
    model.prepare_for_coding()
    state = to_stored_names({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    storage = storage or ("float16" if half else "float32")
    mid = compute_model_id(state)
    write_stored(stored_as(state, storage), path, mid, model.config.to_dict(), meta)
    return mid


def write_stored(stored: dict[str, torch.Tensor], path: str | Path, model_id: bytes, config: dict, meta: dict) -> None:
    """A format-2 file of stored tensors under the logical ``model_id`` (their own hash is recorded beside it)."""
    metadata = {
        "format": FORMAT,
        "model_id": model_id.hex(),
        "tensors_sha256": tensors_digest(stored).hex(),
        "storage": storage_of(stored),
        "config": json.dumps(config),
        "meta": json.dumps(meta, sort_keys=True),
    }
    write_weights_file(stored, path, metadata)


def recompact(src: str | Path, dest: str | Path, storage: str = "float16-transforms") -> dict:
    """Store a weights file's tensors as ``storage`` under the same logical model id and metadata.

    The tensors are taken from the file as they are (no CDF table is rebuilt), so whatever ``storage``
    keeps in float32 stays bit for bit. Narrowing an already narrowed tensor changes nothing.
    """
    info = read_metadata(src)
    state = load_file(str(src))
    check_tensors(src, info, state)
    write_stored(stored_as(state, storage), dest, bytes.fromhex(info["model_id"]), info["config"], info["meta"])
    return read_metadata(dest)


def write_weights_file(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    """safetensors file with its metadata, written atomically (also used to re-annotate shipped weights)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(to_stored_names(state), str(tmp), metadata=metadata))


def safetensors_metadata(path: str | Path, what: str = "weights file") -> dict[str, str]:
    """The string metadata of a safetensors file (no tensors read); a missing or foreign file is a WeightsError."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except FileNotFoundError:
        raise WeightsError(f"{what} not found: {path}") from None
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsError(f"not a safetensors weights file: {path} ({exc})") from None


def read_metadata(path: str | Path) -> dict:
    """{"model_id": hex, "config": dict, "meta": dict} of a weights file, without loading its tensors."""
    md = safetensors_metadata(path)
    if md.get("format") not in FORMATS:
        fmt = str(md.get("format", ""))
        raise WeightsError(f"{path} is a weights file of format {fmt}, which this version does not read"
                           if fmt.startswith("roicodec-weights-") else f"{path} is not a roicodec weights file")
    return {
        "model_id": md["model_id"],
        "format": md["format"],
        # format 1: the model id is the hash of the stored tensors
        "tensors_sha256": md.get("tensors_sha256"),
        "storage": md.get("storage"),
        "config": json.loads(md["config"]),
        "meta": json.loads(md.get("meta", "{}")),
    }


def check_tensors(path: str | Path, info: dict, state: dict[str, torch.Tensor]) -> None:
    """The stored tensors are those the metadata vouches for (format 1: the model id; 2: tensors_sha256)."""
    digest = tensors_digest(state)
    ok = digest.hex() == info["tensors_sha256"] if info["tensors_sha256"] else digest[:8].hex() == info["model_id"]
    if not ok:
        raise WeightsError(f"{path}: tensors do not match the stored model id (damaged file?)")


def rewrite_metadata(path: str | Path, meta: dict) -> dict:
    """Replace a weights file's ``meta`` (measured figures, recipe); tensors, model id and format unchanged."""
    info = read_metadata(path)
    state = load_file(str(path))
    check_tensors(path, info, state)
    md = {"format": info["format"], "model_id": info["model_id"], "config": json.dumps(info["config"]),
          "meta": json.dumps(meta, sort_keys=True)}
    for key in ("tensors_sha256", "storage"):
        if info[key] is not None:
            md[key] = info[key]
    write_weights_file(state, path, md)
    return read_metadata(path)


def load_state_into(model: RoiCodecModel, state: dict[str, torch.Tensor]) -> None:
    """load_state_dict for stored or module names, giving CDF-table buffers the stored shapes first."""
    state = to_module_names(state)
    for name, tensor in state.items():
        mod_name, _, buf = name.rpartition(".")
        if buf in _TABLE_BUFFERS:
            model.get_submodule(mod_name)._buffers[buf] = torch.empty_like(tensor)
    model.load_state_dict(state)


def read_model(path: str | Path, device: str = "cpu") -> RoiCodecModel:
    """A model ready for coding from a weights file; verifies the stored tensors against their hash."""
    info = read_metadata(path)
    state = load_file(str(path))
    check_tensors(path, info, state)
    mid = bytes.fromhex(info["model_id"])
    model = RoiCodecModel(ModelConfig.from_dict(info["config"]), model_id=mid, meta=info["meta"])
    load_state_into(model, state)
    # channels_last is for inference only: torch 2.14.1's CPU backward crashes on it in training
    model.eval().to(device=device, memory_format=torch.channels_last)
    model.prepare_for_coding()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
