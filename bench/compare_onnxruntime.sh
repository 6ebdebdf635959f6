#!/bin/sh
# Inference of ONNX models side by side in one run: aotgrad's eager forward and
# compiled forward (`aotgrad bench --onnx FILE --forward`), and ONNX Runtime's CPU
# session (npm onnxruntime-node, bench/ort_forward.js: all graph optimisations, the
# same intra-op thread count, sequential execution), per model and thread count;
# `shares` is how many programs aotgrad ran the batch in (Note [Batch shares]).
#
#   [ROUNDS=3] bench/compare_onnxruntime.sh [STEPS] [MODEL.onnx ...]   (from the project root, after `make build`)
#
# The models default to tests/models (three torchvision models, batch 8, 3x64x64).
# ONNX Runtime is found through NODE_PATH or ORT_NODE_MODULES (a folder holding
# node_modules/onnxruntime-node, e.g. after
# `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` in it); without it only
# aotgrad's columns are printed. Nothing here is part of the build or the tests.
set -eu
STEPS=${1:-30}
[ $# -gt 0 ] && shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AOTGRAD=$ROOT/build/aotgrad
[ -x "$AOTGRAD" ] || { echo "build aotgrad first (make build)"; exit 1; }
MODELS=${*:-"$ROOT/tests/models/squeezenet1_1.onnx $ROOT/tests/models/mobilenet_v3_small.onnx $ROOT/tests/models/shufflenet_v2_x0_5.onnx"}
if [ -n "${ORT_NODE_MODULES:-}" ]; then NODE_PATH=$ORT_NODE_MODULES/node_modules; export NODE_PATH; fi
ORT=no
if command -v node >/dev/null && node -e "require('onnxruntime-node')" 2>/dev/null; then ORT=yes; fi
grep -m1 "model name" /proc/cpuinfo | sed 's/.*: /cpu: /'
# The machines this runs on are shared VMs whose speed swings by 2x within minutes:
# each (model, threads) is measured ROUNDS times (default 3), aotgrad and ONNX Runtime
# back to back in each round, and the columns are medians over the rounds (the ratio
# the median of the rounds' ratios, each from two runs seconds apart).
ROUNDS=${ROUNDS:-3}
printf "%-22s %3s %10s %13s %7s %9s %15s %s\n" model thr eager_ms compiled_ms shares ort_ms compiled/ort "rounds' ratios"
field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for file in $MODELS; do
  name=$(basename "$file" .onnx)
  for t in 1 2; do
    eagers="" compileds="" orts="" ratios="" shares=""
    round=0
    while [ "$round" -lt "$ROUNDS" ]; do
      round=$((round + 1))
      line=$(AOTGRAD_NUM_THREADS=$t "$AOTGRAD" bench --onnx "$file" --forward --threads "$t" --steps "$STEPS" --json)
      compiled=$(echo "$line" | field compiled_forward_ms)
      eagers="$eagers $(echo "$line" | field eager_forward_ms)"
      compileds="$compileds $compiled"
      shares=$(echo "$line" | field batch_shares)
      if [ "$ORT" = yes ]; then
        ort=$(node "$ROOT/bench/ort_forward.js" "$file" "$t" "$STEPS" | sed -n 's/.*"median_ms":\([0-9.]*\).*/\1/p')
        orts="$orts $ort"
        ratios="$ratios $(awk -v c="$compiled" -v o="$ort" 'BEGIN { printf "%.2f", c / o }')"
      fi
    done
    of() { echo "$1" | tr ' ' '\n' | grep . | median; }
    ort=- ratio=-
    if [ "$ORT" = yes ]; then ort=$(of "$orts") ratio=$(of "$ratios")x; fi
    printf "%-22s %3d %10.3f %13.3f %7s %9s %15s %s\n" "$name" "$t" "$(of "$eagers")" "$(of "$compileds")" "$shares" \
      "$ort" "$ratio" "$(echo $ratios | tr ' ' ',')"
  done
done
