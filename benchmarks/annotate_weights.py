"""Write measured Kodak figures into the shipped weights' metadata (tensors, hence the model id, unchanged).

    python benchmarks/annotate_weights.py docs/kodak_bench.json [docs/eval_kodak/roicodec.json]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from safetensors.torch import load_file, save_file

from roicodec.weights import RoiCodecWeights, compute_model_id, read_metadata


def main() -> None:
    path = RoiCodecWeights.DEFAULT.value.path
    info = read_metadata(path)
    meta = info["meta"]
    bench = json.loads(open(sys.argv[1]).read())["summary"]
    meta["kodak"] = {"rate_control_0.25bpp": {k: bench[k] for k in (
        "mean_bpp", "worst_rel_error", "mean_psnr_rgb", "mean_encode_s", "mean_decode_s", "peak_rss_mib")},
        "command": "python benchmarks/kodak_bench.py --images ../shared/data/kodak --bpp 0.25"}
    if len(sys.argv) > 2:
        rd = json.loads(open(sys.argv[2]).read())["results"]
        meta["kodak"]["rd_curve"] = {"bpp": rd["bpp"], "psnr-rgb": rd["psnr-rgb"], "ms-ssim": rd["ms-ssim"],
                                     "command": "roicodec eval --images ../shared/data/kodak"}
    state = load_file(str(path))
    assert compute_model_id(state).hex() == info["model_id"]
    md = {"format": "roicodec-weights-1", "model_id": info["model_id"], "config": json.dumps(info["config"]),
          "meta": json.dumps(meta, sort_keys=True)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    save_file(state, tmp, metadata=md)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    print(f"{path}: model {info['model_id']}, metadata updated")


if __name__ == "__main__":
    main()
