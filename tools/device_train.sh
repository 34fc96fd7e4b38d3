#!/usr/bin/env bash
# Fine-tune every model the package ships on a lent GPU within one device command, and hand them back through $OUT.
#
# Why one command: a task that draws a GPU gets 15 minutes of device time in all, a machine takes a minute
# or two to start, and one command runs at most 10 minutes. So the whole run is one call: MINUTES of training
# in all (first argument, default 8), split between the models, plus about a minute of start-up and export.
#
#   fidelity  from the newest src/roicodec/weights/roicodec-fidelity-v<N>.safetensors, SHARE of the minutes (0.69: 5.5 of 8)
#   highrate  from the newest src/roicodec/weights/roicodec-highrate-v<N>.safetensors, the rest (2.5 of 8): end to end at its
#             own levels (λ 0.011-1.41, the transforms pretrained at 0.125, the latent codec fitted on CPU)
#
# `roicodec train --init` trains the architecture it starts from, at its level range, warms the learning rate
# up over 500 steps (a fresh Adam on trained weights would shake them: docs/gpu-training.md), and exports in the
# storage it started from (float16 transforms for the fidelity model, float16 for the high-rate one). The
# models train one after the other (CONCURRENT=1: both at once, each for all the minutes); each model's
# weights go to $OUT as soon as it is done, so a failure or a time-out later still brings the first back.
#
# 1. Here, once per machine:  python tools/pack_device_data.py --data ../shared/data/train
#    (training views in .devdata/, the cp312 wheels the device lacks in .whl/; both ignored by git)
# 2. The device tool:  run(command="bash tools/device_train.sh 8", carry=[".devdata", ".whl"], timeout_s=600)
# 3. Here, with the files_at folder the reply names:
#      bash tools/device_train.sh --join <files_at> runs/gpu     # runs/gpu/{fidelity,highrate}.safetensors, logs
#      python tools/ship_weights.py runs/gpu                      # compare with the shipped models; ship a winner
#
# $OUT takes at most 8 files of at most 16 MiB: weights in 15 MiB parts (fidelity 3, high-rate 1), one log per
# model, gpu.csv (nvidia-smi every 2 s: utilisation, memory, power).
# Environment: MODELS ("fidelity highrate"), SHARE (0.69), CONCURRENT (0), BATCH (16) and HR_BATCH (32),
# LR (1e-4) and HR_LR (1e-4), each cosine to a tenth over its minutes, CROP (256), DATA (.devdata/train),
# RUN (/tmp/roicodec-device-run). tests/test_device_train.py runs the whole path on this CPU for a second.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-"fidelity highrate"}

# the newest shipped version of a family (the encoder's: models.newest), unless INIT_FIDELITY / INIT_HIGHRATE say
newest_of() { ls src/roicodec/weights/roicodec-"$1"-v[0-9]*.safetensors | grep -v -- -perceptual | sort -V | tail -1; }
init_of() { local v="INIT_${1^^}"; echo "${!v:-$(newest_of "$1")}"; }

if [ "${1:-}" = "--join" ]; then
  src=${2:?--join needs the folder the device files came back to}; run=${3:?and a run folder}
  mkdir -p "$run"
  joined=0
  for name in $MODELS; do
    compgen -G "$src/$name.safetensors.part*" > /dev/null || { echo "no $name weights in $src" >&2; continue; }
    cat "$src/$name.safetensors".part* > "$run/$name.safetensors.tmp"
    mv "$run/$name.safetensors.tmp" "$run/$name.safetensors"
    PYTHONPATH=src python3 -c "import sys; from roicodec.weights import read_model; m = read_model(sys.argv[1]); \
print(sys.argv[1], 'loads: model', m.model_id.hex(), m.config, 'steps', m.meta['training_steps'], 'on', m.meta.get('trained_on'))" \
      "$run/$name.safetensors"
    joined=$((joined + 1))
  done
  for f in "$src"/train-*.log "$src"/gpu.csv; do [ -f "$f" ] && cp "$f" "$run/"; done
  [ "$joined" -gt 0 ] || { echo "nothing to join in $src" >&2; exit 1; }
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

smi=""
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,power.draw --format=csv,nounits -l 2 \
    > "$OUT/gpu.csv" 2>&1 &
  smi=$!
fi
trap '[ -n "$smi" ] && kill "$smi" 2>/dev/null || true' EXIT

runs=${RUN:-/tmp/roicodec-device-run}  # outside the repo copy, so a second call on the warm machine could resume it
rm -rf "$runs"
mkdir -p "$runs"
share=${SHARE:-0.69}
n_models=$(echo $MODELS | wc -w)

minutes_of() {  # this model's training minutes
  if [ "${CONCURRENT:-0}" = 1 ] || [ "$n_models" = 1 ]; then echo "$minutes"
  elif [ "$1" = fidelity ]; then awk -v m="$minutes" -v s="$share" 'BEGIN { print m * s }'
  else awk -v m="$minutes" -v s="$share" -v n="$n_models" 'BEGIN { print m * (1 - s) / (n - 1) }'; fi
}

train_one() {  # name: train from the shipped weights, then hand the weights to $OUT
  local name=$1 batch lr
  if [ "$name" = fidelity ]; then batch=${BATCH:-16}; lr=${LR:-1e-4}; else batch=${HR_BATCH:-32}; lr=${HR_LR:-1e-4}; fi
  local m; m=$(minutes_of "$name")
  echo "== $name: $m min, batch $batch, lr $lr, from $(init_of "$name")" | tee "$OUT/train-$name.log"
  python3 -m roicodec.cli train --data "$data" --out "$runs/$name" --init "$(init_of "$name")" \
    --steps 100000000 --minutes "$m" --batch "$batch" --crop "${CROP:-256}" --lr "$lr" \
    2>&1 | tr '\r' '\n' | awk 'NR % 50 == 1 || !/it\/s/' >> "$OUT/train-$name.log"
  # $OUT takes files of at most 16 MiB: the weights come back in parts.
  split -b 15M -d "$runs/$name/final.safetensors" "$OUT/$name.safetensors.part"
  tail -n 3 "$OUT/train-$name.log"
}

failed=0
if [ "${CONCURRENT:-0}" = 1 ]; then
  pids=()
  for name in $MODELS; do train_one "$name" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
else
  for name in $MODELS; do train_one "$name" || { echo "$name failed" >&2; failed=1; }; done
fi

if [ -n "$smi" ]; then
  kill "$smi" 2>/dev/null || true
  awk -F', ' 'NR > 1 && $2 + 0 == $2 { u += $2; m = ($4 > m ? $4 : m); n++ }
    END { if (n) printf "GPU utilisation %.0f %% on average over %d samples, at most %d MiB\n", u / n, n, m }' "$OUT/gpu.csv"
fi
ls -l "$OUT"
[ "$(find "$OUT" -maxdepth 1 -type f | wc -l)" -le 8 ] || echo "warning: more than 8 files in \$OUT" >&2
exit "$failed"
