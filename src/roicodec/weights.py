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

The ``packed`` storage goes further without changing a CDF: the integer-exact layers (hyper synthesis and
context model, model/exact.py) only ever use their weights rounded to 12 significant bits, so it stores those
integers (int16) and their power-of-two exponent (``<name>_exp``), which give back, on loading, weights whose
integers are the same; the hyper analysis, which only the encoder runs, goes to float16 with the transforms.

A file may also *borrow* tensors: it stores only those that differ from another weights file in its folder and
names that file, the borrowed tensors and their hash in its metadata (``BORROWED``); loading takes them from
there, checks them, and checks the whole against the file's own hashes as before (``read_stored``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import warnings
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .atomic import atomic_write
from .errors import WeightsError
from .model import ModelConfig, RoiCodecModel
from .model.exact import ExactConv2d, ExactConvTranspose2d

FORMAT = "roicodec-weights-2"
#: Formats read_metadata accepts: 1 (model id = hash of the stored tensors) and 2 (logical id + storage hash).
FORMATS = ("roicodec-weights-1", FORMAT)
#: Buffers whose shape is only known once CDF tables are built.
_TABLE_BUFFERS = ("_offset", "_quantized_cdf", "_cdf_length")
#: Module prefix that the stored names leave out (see the module docstring).
_NESTED = "latent_codec."
_LATENT_CODEC_PARTS = ("h_a", "h_s", "entropy_bottleneck", "context")


def to_stored_name(name: str) -> str:
    return name.removeprefix(_NESTED)


def to_module_name(name: str) -> str:
    """A stored (or already nested) name -> the model's state-dict name."""
    return _NESTED + name if name.split(".", 1)[0] in _LATENT_CODEC_PARTS else name


def to_stored_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {to_stored_name(k): v for k, v in state.items()}


def to_module_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {to_module_name(k): v for k, v in state.items()}


#: Metadata key of a file that borrows tensors, byte for byte, from another file in its folder: JSON
#: {"file": its name, "names": the borrowed tensors, "sha256": their tensors_digest}. highrate-v1 borrows its
#: Ballé-2017 transforms from highrate-v2, whose refit changed only the latent codec, and its perceptual head
#: from v2's (the same tensors, rebound): 5.5 MB less in the package and in every device call
#: (docs/gpu-training.md). Only one level deep: the lender must store all its tensors itself.
BORROWED = "borrowed"


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
#: "packed" keeps the entropy-parameter path's integers exactly (see the module docstring) and narrows
#: what only the encoder and the synthesis use (g_a, g_s, h_a) to float16.
STORAGE = ("float32", "float16-transforms", "float16", "packed")
#: Stored-name prefixes that "packed" narrows to float16: the transforms and the hyper analysis.
_PACKED_HALF_PREFIXES = (*_TRANSFORM_PREFIXES, "h_a.")
#: Suffix of the tensor that holds a packed weight's power-of-two exponent.
EXPONENT_SUFFIX = "_exp"


def _narrowed(name: str, t: torch.Tensor, storage: str) -> bool:
    if not t.is_floating_point() or storage == "float32":
        return False
    if storage == "float16-transforms":
        return name.startswith(_TRANSFORM_PREFIXES)
    if storage == "packed":
        return name.startswith(_PACKED_HALF_PREFIXES)
    return name.endswith(_HALF_SUFFIXES)


def exact_integers(model: RoiCodecModel) -> dict[str, tuple[torch.Tensor, int]]:
    """Stored weight name -> (the integers the exact path computes with, their exponent e: weight = int * 2**-e),
    for every integer-exact layer whose integers come back unchanged from those stored values (all, unless a
    layer's largest weight rounds up to the next power of two: that one is left as trained)."""
    out = {}
    for name, module in model.named_modules():
        if not isinstance(module, (ExactConv2d, ExactConvTranspose2d)):
            continue
        w_int, _, scale = module._quantised()
        exponent = int(round(math.log2(scale)))
        trial = copy.deepcopy(module).cpu()
        trial.weight.data = (w_int.cpu() / scale).float()
        trial.invalidate()
        if w_int.abs().max() < 2**15 and torch.equal(trial._quantised()[0], w_int.cpu()):
            out[to_stored_name(name + ".weight")] = (w_int.cpu().to(torch.int16), exponent)
    return out


def stored_as(state: dict[str, torch.Tensor], storage: str,
              integers: dict[str, tuple[torch.Tensor, int]] | None = None) -> dict[str, torch.Tensor]:
    """The tensors as ``storage`` keeps them (stored names); "packed" needs the model's ``exact_integers``."""
    if storage not in STORAGE:
        raise ValueError(f"unknown weights storage {storage!r} (one of {', '.join(STORAGE)})")
    state = to_stored_names(state)
    out = {k: v.half() if _narrowed(k, v, storage) else v for k, v in state.items()}
    if storage == "packed":
        if integers is None:
            raise ValueError("packed storage needs the exact layers' integers (weights.exact_integers)")
        for name, (ints, exponent) in integers.items():
            out[name] = ints
            out[name + EXPONENT_SUFFIX] = torch.tensor(exponent, dtype=torch.int32)
    return out


def unpacked(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stored tensors -> the values a model loads: packed integer weights become int * 2**-exponent (float32,
    exact: 12-bit integers times a power of two)."""
    exps = {k.removesuffix(EXPONENT_SUFFIX) for k in state if k.endswith(EXPONENT_SUFFIX)}
    if not exps:
        return state
    out = {k: v for k, v in state.items() if not k.endswith(EXPONENT_SUFFIX)}
    for name in exps:
        exponent = int(state[name + EXPONENT_SUFFIX])
        out[name] = (state[name].double() * 2.0**-exponent).float()
    return out


def storage_of(state: dict[str, torch.Tensor]) -> str:
    """The STORAGE name that describes stored tensors (from their dtypes)."""
    state = to_stored_names(state)
    if any(k.endswith(EXPONENT_SUFFIX) for k in state):
        return "packed"
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
    integers = exact_integers(model) if storage == "packed" else None
    write_stored(stored_as(state, storage, integers), path, mid, model.config.to_dict(), meta)
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
    state = read_stored(src, info)
    integers = exact_integers(read_model(src)) if storage == "packed" else None
    write_stored(stored_as(unpacked(state), storage, integers), dest, bytes.fromhex(info["model_id"]), info["config"],
                 info["meta"])
    return read_metadata(dest)


def write_weights_file(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    """safetensors file with its metadata, written atomically (also used to re-annotate shipped weights).
    A file beside it that borrows tensors this changes first stores them itself (``release_borrowers``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    release_borrowers(path, to_stored_names(state))
    atomic_write(path, lambda tmp: save_file(to_stored_names(state), str(tmp), metadata=metadata))


def borrowers_of(path: str | Path) -> dict[Path, dict]:
    """The files beside ``path`` that borrow tensors from it: file -> its BORROWED entry."""
    path = Path(path)
    if not path.parent.is_dir():
        return {}
    found = {}
    for other in path.parent.glob("*.safetensors"):
        if other.name == path.name:
            continue
        try:
            entry = json.loads(safetensors_metadata(other).get(BORROWED, "null"))
        except (WeightsError, ValueError):
            continue
        if isinstance(entry, dict) and entry.get("file") == path.name:
            found[other] = entry
    return found


def release_borrowers(path: str | Path, state: dict[str, torch.Tensor]) -> list[Path]:
    """Before ``path`` is replaced by ``state`` (stored names): every file beside it that borrows tensors
    ``state`` would not give back bit for bit is rewritten to store them itself, so it loads the same tensors
    as before (and every picture its model wrote still decodes); the package grows by them. Returns those
    files, each also announced by a warning."""
    released = []
    for borrower, entry in borrowers_of(path).items():
        names = entry.get("names", [])
        lent = {n: state[n] for n in names if n in state}
        if len(lent) == len(names) and tensors_digest(lent).hex() == entry.get("sha256"):
            continue
        metadata = safetensors_metadata(borrower)
        whole = with_borrowed(borrower, metadata, load_file(str(borrower)))  # checked against the lender as it is
        metadata = {k: v for k, v in metadata.items() if k != BORROWED}
        atomic_write(borrower, lambda tmp, whole=whole, metadata=metadata: save_file(whole, str(tmp), metadata=metadata))
        warnings.warn(f"{borrower.name} now stores the tensors it borrowed from {Path(path).name}, which changes",
                      stacklevel=2)
        released.append(borrower)
    return released


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


def with_borrowed(path: str | Path, metadata: dict[str, str], state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` (the tensors a file stores itself) and the ones its metadata says it borrows (``BORROWED``),
    read from the lending file beside it and checked against their hash; a missing or changed lender is a
    WeightsError."""
    if BORROWED not in metadata:
        return state
    try:
        spec = json.loads(metadata[BORROWED])
        name, names, digest = str(spec["file"]), [str(n) for n in spec["names"]], str(spec["sha256"])
    except (ValueError, KeyError, TypeError):
        raise WeightsError(f"{path}: its list of borrowed tensors is damaged") from None
    if not name or Path(name).name != name or name in (".", ".."):
        raise WeightsError(f"{path} borrows tensors from {name!r}, which is not a file name beside it")
    lender = Path(path).parent / name
    if not lender.is_file():
        raise WeightsError(f"{path} borrows tensors from {name}, which is not beside it")
    if BORROWED in safetensors_metadata(lender):
        raise WeightsError(f"{path} borrows tensors from {name}, which borrows tensors itself")
    with safe_open(str(lender), framework="pt") as f:
        missing = sorted(set(names) - set(f.keys()))
        if missing:
            raise WeightsError(f"{path} borrows {missing[0]} from {name}, which has no such tensor")
        lent = {n: f.get_tensor(n) for n in names}
    if tensors_digest(lent).hex() != digest:
        raise WeightsError(f"{path}: the tensors it borrows from {name} have changed")
    return {**state, **lent}


def read_stored(path: str | Path, info: dict | None = None) -> dict[str, torch.Tensor]:
    """Every tensor of a weights file as stored, borrowed ones included, checked against its metadata's hash."""
    info = info or read_metadata(path)
    state = with_borrowed(path, safetensors_metadata(path), load_file(str(path)))
    check_tensors(path, info, state)
    return state


def lend(path: str | Path, lender: str | Path) -> int:
    """Rewrite the safetensors file ``path`` (a model's or a perceptual head's) in place so that it borrows every
    tensor that ``lender``, a file in the same folder, stores identically (name, dtype, shape, bytes); its
    other tensors and metadata stay. Returns the bytes saved. The tensors it loads do not change."""
    path, lender = Path(path), Path(lender)
    if path.parent.resolve() != lender.parent.resolve():
        raise WeightsError(f"{lender} must be in the folder of {path}")
    if path.resolve() == lender.resolve():
        raise WeightsError(f"{path} cannot borrow from itself")
    metadata = safetensors_metadata(path)
    if BORROWED in metadata:
        raise WeightsError(f"{path} borrows tensors already")
    if BORROWED in safetensors_metadata(lender):
        raise WeightsError(f"{lender} borrows tensors itself: a lender must store all of its own")
    if borrowers := borrowers_of(path):
        raise WeightsError(f"{path} lends tensors to {', '.join(p.name for p in borrowers)}")
    before = load_file(str(path))
    theirs = load_file(str(lender))
    names = sorted(n for n, t in before.items() if n in theirs and theirs[n].dtype == t.dtype
                   and theirs[n].shape == t.shape and torch.equal(theirs[n], t))
    if not names:
        raise WeightsError(f"{lender} stores none of the tensors of {path}")
    own = {n: t for n, t in before.items() if n not in names}
    lent = {n: before[n] for n in names}
    metadata = {**metadata, BORROWED: json.dumps({"file": lender.name, "names": names, "sha256": tensors_digest(lent).hex()})}
    size = path.stat().st_size
    write_weights_file(own, path, metadata)
    return size - path.stat().st_size


def check_tensors(path: str | Path, info: dict, state: dict[str, torch.Tensor]) -> None:
    """The stored tensors are those the metadata vouches for (format 1: the model id; 2: tensors_sha256)."""
    digest = tensors_digest(state)
    ok = digest.hex() == info["tensors_sha256"] if info["tensors_sha256"] else digest[:8].hex() == info["model_id"]
    if not ok:
        raise WeightsError(f"{path}: tensors do not match the stored model id (damaged file?)")


def check_packed_integers(path: str | Path, model: RoiCodecModel, state: dict[str, torch.Tensor]) -> None:
    """Packed weights give the exact path back its stored integers (cheap: one rounding per layer)."""
    modules = dict(model.named_modules())
    for name in (k.removesuffix(EXPONENT_SUFFIX) for k in state if k.endswith(EXPONENT_SUFFIX)):
        module = modules[to_module_name(name).removesuffix(".weight")]
        if not torch.equal(module._quantised()[0].cpu(), state[name].double()):
            raise WeightsError(f"{path}: packed weights {name} do not give back their integers")


def rewrite_metadata(path: str | Path, meta: dict) -> dict:
    """Replace a weights file's ``meta`` (measured figures, recipe); tensors, model id and format unchanged."""
    info = read_metadata(path)
    own = safetensors_metadata(path)
    state = load_file(str(path))  # what it stores itself, written back as it is
    check_tensors(path, info, with_borrowed(path, own, state))  # the file is whole, borrowed tensors included
    md = {"format": info["format"], "model_id": info["model_id"], "config": json.dumps(info["config"]),
          "meta": json.dumps(meta, sort_keys=True)}
    for key in ("tensors_sha256", "storage"):
        if info[key] is not None:
            md[key] = info[key]
    if BORROWED in own:
        md[BORROWED] = own[BORROWED]
    write_weights_file(state, path, md)
    return read_metadata(path)


def load_state_into(model: RoiCodecModel, state: dict[str, torch.Tensor]) -> None:
    """load_state_dict for stored or module names (packed weights unpacked), giving CDF-table buffers the
    stored shapes first."""
    state = to_module_names(unpacked(to_stored_names(state)))
    for name, tensor in state.items():
        mod_name, _, buf = name.rpartition(".")
        if buf in _TABLE_BUFFERS:
            model.get_submodule(mod_name)._buffers[buf] = torch.empty_like(tensor)
    model.load_state_dict(state)


def read_model(path: str | Path, device: str = "cpu") -> RoiCodecModel:
    """A model ready for coding from a weights file; verifies the stored tensors against their hash."""
    info = read_metadata(path)
    state = read_stored(path, info)
    mid = bytes.fromhex(info["model_id"])
    model = RoiCodecModel(ModelConfig.from_dict(info["config"]), model_id=mid, meta=info["meta"])
    load_state_into(model, state)
    # channels_last is for inference only: torch 2.14.1's CPU backward crashes on it in training
    model.eval().to(device=device, memory_format=torch.channels_last)
    model.prepare_for_coding()
    check_packed_integers(path, model, state)
    for p in model.parameters():
        p.requires_grad_(False)
    return model
