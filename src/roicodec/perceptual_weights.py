"""A perceptual head's weights file: its tensors, its config, and the id of the base model it belongs to.

A head reads its base model's latents, so it is bound to that model's id; decoding refuses a head
trained for another model. The base model's own file (weights.py) never changes for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .atomic import atomic_write
from .errors import WeightsError
from .model.perceptual import HeadConfig, PerceptualHead
from .weights import release_borrowers, safetensors_metadata, with_borrowed

#: A perceptual head's file: its tensors, its config and the id of the base model whose latents it reads.
HEAD_FORMAT = "roicodec-perceptual-1"


def export_head(head: PerceptualHead, path: str | Path, base_model_id: bytes, meta: dict) -> None:
    """Write a perceptual head atomically, bound to the base model it was trained on."""
    state = {k: v.detach().cpu().float().contiguous() for k, v in head.state_dict().items()}
    metadata = {
        "format": HEAD_FORMAT,
        "base_model_id": base_model_id.hex(),
        "config": json.dumps(head.config.to_dict()),
        "meta": json.dumps(meta, sort_keys=True),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    release_borrowers(path, state)
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))


def read_head_metadata(path: str | Path) -> dict:
    """{"base_model_id": hex, "config": dict, "meta": dict} of a perceptual head file."""
    md = safetensors_metadata(path, "perceptual weights file")
    if md.get("format") != HEAD_FORMAT:
        raise WeightsError(f"{path} is not a roicodec perceptual head")
    return {"base_model_id": md["base_model_id"], "config": json.loads(md["config"]),
            "meta": json.loads(md.get("meta", "{}"))}


def read_head(path: str | Path) -> PerceptualHead:
    """A perceptual head ready for decoding (eval mode, channels_last, no gradients)."""
    info = read_head_metadata(path)
    head = PerceptualHead(HeadConfig(**info["config"]))
    head.load_state_dict(with_borrowed(path, safetensors_metadata(path, "perceptual weights file"), load_file(str(path))))
    head.base_model_id = bytes.fromhex(info["base_model_id"])
    head.meta = info["meta"]
    head.eval().to(memory_format=torch.channels_last)
    for p in head.parameters():
        p.requires_grad_(False)
    return head
