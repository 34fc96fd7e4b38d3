"""Store a shipped model compactly under the same model id (weights format 2), and check what must not change.

    python tools/compact_weights.py --weights fidelity-v1 --storage packed      # in place
    python tools/compact_weights.py --weights runs/gpu/fidelity.safetensors --out /tmp/f16.safetensors
    python tools/compact_weights.py --weights highrate-v1 --borrow-from highrate-v2   # and its perceptual head

``--storage float16-transforms`` narrows the analysis and synthesis transforms to float16; ``packed`` (the
fidelity model's since issue 23) also the hyper analysis, which only the encoder runs, and stores the
integer-exact layers (hyper synthesis, context model) as the integers they compute with (weights.py). Either
way every integer of the entropy-parameter path, the CDF tables, the entropy bottleneck and the gain units
stay bit for bit, so every file the model ever wrote decodes to the same latent. The tool refuses to write
if any of those, or the model id, would change. What float16 costs in pixels and R-D:
benchmarks/storage_precision.py.

``--borrow-from`` instead rewrites a shipped model (and its perceptual head) to store only the tensors that
differ from another shipped model's (and head's) and borrow the rest (weights.lend): the loaded tensors, and
so the model, do not change.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from roicodec.atomic import atomic_write_bytes
from roicodec.model.exact import ExactConv2d, ExactConvTranspose2d
from roicodec.models import HEAD_SUFFIX, weights_path
from roicodec.weights import BORROWED, STORAGE, lend, read_metadata, read_model, recompact, safetensors_metadata

#: Module-name prefixes a compact storage may narrow to float16 (weights._PACKED_HALF_PREFIXES).
NARROWED = ("g_a.", "g_s.", "latent_codec.h_a.")


def check_same_entropy_path(before: Path, after: Path) -> int:
    """The loaded models compute the same integers in every exact layer (weights, biases, scale), and every
    other parameter and buffer outside g_a / g_s / h_a (CDF tables, offsets, lengths, bottleneck, gains) is
    bit-identical; returns how many tensors and layers were compared."""
    ma, mb = read_model(before), read_model(after)
    if ma.model_id != mb.model_id:
        raise SystemExit("refused: the model id would change")
    layers_b = dict(mb.named_modules())
    exact_weights = set()
    for name, layer in ma.named_modules():
        if isinstance(layer, (ExactConv2d, ExactConvTranspose2d)):
            (wa, ba, sa), (wb, bb, sb) = layer._quantised(), layers_b[name]._quantised()
            if sa != sb or not torch.equal(wa, wb) or (ba is None) != (bb is None) or (ba is not None and not torch.equal(ba, bb)):
                raise SystemExit(f"refused: the exact layer {name} would compute with other integers")
            exact_weights.add(name + ".weight")
    sa, sb = ma.state_dict(), mb.state_dict()
    kept = [k for k in sa if not k.startswith(NARROWED) and k not in exact_weights]
    for k in kept:
        if not torch.equal(sa[k], sb[k]):
            raise SystemExit(f"refused: the loaded models differ in {k}")
    return len(kept) + len(exact_weights)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="fidelity-v1", help="a shipped model's name or a weights file")
    ap.add_argument("--out", help="where to write (default: in place)")
    ap.add_argument("--storage", default="packed", choices=[s for s in STORAGE if s != "float32"])
    ap.add_argument("--borrow-from", help="a shipped model to borrow identical tensors from (its head's too)")
    a = ap.parse_args()
    src = weights_path(a.weights)
    borrows = BORROWED in safetensors_metadata(src)
    if a.borrow_from and a.out:
        sys.exit("--borrow-from rewrites the shipped file in place: no --out")
    if borrows and not a.borrow_from and not a.out:
        sys.exit(f"{src.name} borrows tensors from another file: compacting it in place would store them again "
                 "(give --out for a whole copy)")
    if a.borrow_from:
        lender = weights_path(a.borrow_from)
        before = read_model(src)
        saved = lend(src, lender)
        heads = [p.with_name(p.name.removesuffix(".safetensors") + HEAD_SUFFIX) for p in (src, lender)]
        if all(h.exists() for h in heads):
            saved += lend(heads[0], heads[1])
        after = read_model(src)
        if after.model_id != before.model_id or any(not torch.equal(t, after.state_dict()[k])
                                                      for k, t in before.state_dict().items()):
            sys.exit("the model would change")
        print(f"{src.name} borrows from {lender.name}: {saved:,} bytes less")
        return
    dest = Path(a.out) if a.out else src
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "compact.safetensors"
        info = recompact(src, trial, a.storage)
        if a.storage != "float16":  # float16 narrows the entropy path too: only for a model never shipped before
            print(f"{check_same_entropy_path(src, trial)} tensors and exact layers of the entropy-parameter path unchanged")
        before, after = src.stat().st_size, trial.stat().st_size
        atomic_write_bytes(dest, trial.read_bytes())
    old = read_metadata(src if dest != src else dest)
    print(f"{dest}: model {info['model_id']} ({info['storage']}, format {info['format']}), "
          f"{before:,} -> {after:,} bytes; stored tensors {info['tensors_sha256'][:16]}…")
    if old["model_id"] != info["model_id"]:
        sys.exit("model id changed")


if __name__ == "__main__":
    main()
