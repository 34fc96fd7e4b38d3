#!/usr/bin/env bash
# Fine-tune the shipped weights on a lent GPU within one device command, and hand them back through $OUT.
#
# Why one command: a task that draws a GPU gets 15 minutes of device time in all, a machine takes a minute
# or two to start, and one command runs at most 10 minutes. So the whole run is one call: the minutes
# of training given as the first argument (default 8), plus about a minute of start-up and export.
#
# 1. Here, once per machine:  python tools/pack_device_data.py --data ../shared/data/train
#    (training views in .devdata/, the cp312 wheels the device lacks in .whl/; both ignored by git)
# 2. The device tool:  run(command="bash tools/device_train.sh 8", carry=[".devdata", ".whl"], timeout_s=600)
# 3. Here, with the files_at folder the reply names:
#      bash tools/device_train.sh --join <files_at> runs/gpu
#    joins the weights into runs/gpu/final.safetensors (and checks them); then score them against the shipped
#    ones with benchmarks/compare_weights.py and the release benchmarks (docs/results.md).
#
# Environment: BATCH (16), LR (1e-4, cosine to a tenth over the minutes), CROP (256), INIT (the shipped weights),
# DATA (.devdata/train). tests/test_device_train.py runs the whole path on this CPU for a second.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--join" ]; then
  src=${2:?--join needs the folder the device files came back to}; run=${3:?and a run folder}
  mkdir -p "$run"
  cat "$src"/final.safetensors.part* > "$run/final.safetensors.tmp"
  mv "$run/final.safetensors.tmp" "$run/final.safetensors"
  [ -f "$src/train.log" ] && cp "$src/train.log" "$run/train.log"
  PYTHONPATH=src python3 -c "import sys; from roicodec import load_model; m = load_model(sys.argv[1]); print(sys.argv[1], 'loads:', m.config)" "$run/final.safetensors"
  exit 0
fi

minutes=${1:-8}
: "${OUT:?run this through the device tool, which sets OUT (or set OUT to a folder to try it here)}"
data=${DATA:-.devdata/train}
[ -d "$data" ] || { echo "no $data: run tools/pack_device_data.py here and carry .devdata" >&2; exit 1; }
if ! python3 -c "import compressai" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"

run=${RUN:-/tmp/roicodec-device-run}  # outside the repo copy, so a second call on the warm machine could resume it
rm -rf "$run"
python3 -m roicodec.cli train --data "$data" --out "$run" \
  --init "${INIT:-src/roicodec/weights/roicodec-fidelity-v1.safetensors}" \
  --steps 100000000 --minutes "$minutes" --batch "${BATCH:-16}" --crop "${CROP:-256}" --lr "${LR:-1e-4}" \
  2>&1 | tr '\r' '\n' | awk 'NR % 50 == 1 || !/it\/s/' | tee "$OUT/train.log"
# $OUT takes files of at most 16 MiB: the 48 MB weights come back in parts.
split -b 15M -d "$run/final.safetensors" "$OUT/final.safetensors.part"
ls -l "$OUT"
