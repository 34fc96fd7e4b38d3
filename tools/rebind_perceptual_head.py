"""Bind a shipped perceptual head to a new version of its model that keeps the same transforms and gains.

    python tools/rebind_perceptual_head.py --from highrate-v1 --to highrate-v2

A head reads the fidelity picture g_s(y_hat), the decoded latent, the quality map and the importance map
(model/perceptual.py). A version made by refitting only the latent codec (tools/refit_latent_codec.py) has
the same analysis, gains and synthesis, so its decoded latents and pictures are those the head was trained
on; only the rate differs. The head's tensors are copied unchanged under the new model's id, with where
they came from in the metadata. The tool refuses models whose transforms or gains differ.
"""

from __future__ import annotations

import argparse

import torch

from roicodec.models import RoiCodecWeights, head_path, load_model
from roicodec.perceptual_weights import export_head, read_head

#: State-dict prefixes that must be identical for a head to carry over.
SHARED = ("g_a.", "g_s.", "gain", "inverse_gain")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", required=True, help="shipped model whose head is copied")
    ap.add_argument("--to", dest="target", required=True, help="shipped model it is bound to")
    a = ap.parse_args()
    entries = {}
    for name in (a.source, a.target):
        entries[name] = RoiCodecWeights.named(name)
        if entries[name] is None:
            raise SystemExit(f"no shipped model {name!r}")
    src, dst = (load_model(entries[n]) for n in (a.source, a.target))
    s_state, d_state = src.state_dict(), dst.state_dict()
    for key, value in s_state.items():
        if key.startswith(SHARED) and not torch.equal(value, d_state[key]):
            raise SystemExit(f"{a.target} differs from {a.source} in {key}: its head must be trained "
                             "(roicodec train --perceptual)")
    head = read_head(head_path(entries[a.source]))
    meta = dict(head.meta)
    meta["rebound_from"] = {"model": a.source, "model_id": src.model_id.hex(),
                            "why": "same transforms and gains: only the latent codec differs"}
    out = head_path(entries[a.target])
    export_head(head, out, dst.model_id, meta)
    print(f"{out}: the head of {a.source}, bound to {a.target} ({dst.model_id.hex()})")


if __name__ == "__main__":
    main()
