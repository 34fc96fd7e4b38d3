"""Store a shipped model compactly under the same model id (weights format 2), and check what must not change.

    python tools/compact_weights.py --weights fidelity-v1                       # in place
    python tools/compact_weights.py --weights runs/gpu/fidelity.safetensors --out /tmp/f16.safetensors

The analysis and synthesis transforms go to float16 (``--storage float16-transforms``); the
entropy-parameter path (hyper analysis and synthesis, context model, entropy bottleneck, CDF tables,
gain units) is copied bit for bit, so every file the model ever wrote decodes to the same latent. The
tool refuses to write if any of those tensors, the CDF tables of the loaded model, or the model id would
change. What float16 transforms cost in pixels and R-D: benchmarks/storage_precision.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from roicodec.atomic import atomic_write_bytes
from roicodec.models import weights_path
from roicodec.weights import STORAGE, read_metadata, read_model, recompact

#: Stored-name prefixes the compact storage may change (weights._TRANSFORM_PREFIXES).
TRANSFORMS = ("g_a.", "g_s.")


def check_same_entropy_path(before: Path, after: Path) -> int:
    """Every stored tensor outside g_a / g_s, and every coding-time buffer of the loaded models outside
    them (CDF tables, offsets, lengths), is bit-identical; returns how many tensors were compared."""
    a, b = load_file(str(before)), load_file(str(after))
    assert a.keys() == b.keys(), "stored tensor names differ"
    kept = [k for k in a if not k.startswith(TRANSFORMS)]
    for k in kept:
        if a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k]):
            raise SystemExit(f"refused: {k} would change (it is in the entropy-parameter path)")
    ma, mb = read_model(before), read_model(after)
    sa, sb = ma.state_dict(), mb.state_dict()
    for k in sa:
        if not k.startswith(TRANSFORMS) and not torch.equal(sa[k], sb[k]):
            raise SystemExit(f"refused: the loaded models differ in {k}")
    if ma.model_id != mb.model_id:
        raise SystemExit("refused: the model id would change")
    return len(kept)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="fidelity-v1", help="a shipped model's name or a weights file")
    ap.add_argument("--out", help="where to write (default: in place)")
    ap.add_argument("--storage", default="float16-transforms", choices=[s for s in STORAGE if s != "float32"])
    a = ap.parse_args()
    src = weights_path(a.weights)
    dest = Path(a.out) if a.out else src
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "compact.safetensors"
        info = recompact(src, trial, a.storage)
        if a.storage == "float16-transforms":
            print(f"{check_same_entropy_path(src, trial)} tensors of the entropy-parameter path bit-identical")
        before, after = src.stat().st_size, trial.stat().st_size
        atomic_write_bytes(dest, trial.read_bytes())
    old = read_metadata(src if dest != src else dest)
    print(f"{dest}: model {info['model_id']} ({info['storage']}, format {info['format']}), "
          f"{before:,} -> {after:,} bytes; stored tensors {info['tensors_sha256'][:16]}…")
    if old["model_id"] != info["model_id"]:
        sys.exit("model id changed")


if __name__ == "__main__":
    main()
