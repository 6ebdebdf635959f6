#!/bin/sh
# Runs every fuzz target for a bounded time, each seeded with valid files.
#   fuzz/run.sh RELEASE_BUILD FUZZ_BUILD SECONDS [RUNS] [SEED]
# Seeds: every built-in model's joint graph as `aotgrad export --format json` writes
# it (RELEASE_BUILD's CLI), the golden cases (single-step, and some whole-step ones),
# checkpoints `aotgrad train --save` writes, the ONNX files of the goldens, and the crash regressions of
# tests/data/crashes. Corpora grow in FUZZ_BUILD/corpus/ between runs. RUNS, if given,
# stops a target after that many executions (or SECONDS, whichever comes first); SEED,
# if not 0, fixes libFuzzer's random seed, so a bounded run is reproducible. Exits non-zero
# on the first target that finds a crash, a leak or a sanitizer report.
set -eu
RELEASE=$1 FUZZ=$2 SECONDS_EACH=$3 RUNS=${4:--1} SEED=${5:-0}
SRC=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=$FUZZ/corpus
mkdir -p "$CORPUS/graph" "$CORPUS/case" "$CORPUS/checkpoint" "$CORPUS/onnx" "$FUZZ/artifacts"
for m in $("$RELEASE/aotgrad" models | awk '{print $1}'); do
  [ -f "$CORPUS/graph/seed-$m.json" ] || "$RELEASE/aotgrad" export --model "$m" --format json -o "$CORPUS/graph/seed-$m.json"
done
cp "$SRC"/tests/goldens/*.json "$CORPUS/case/"
cp "$SRC"/tests/goldens/train_steps/mlp_relu_ce__*.json "$SRC"/tests/goldens/train_steps/conv_bn__adamw_clip.json "$CORPUS/case/"
# Checkpoints of the state checkpoint_fuzz loads (digits_mlp, AdamW).
for n in 1 2; do
  [ -f "$CORPUS/checkpoint/seed-$n.json" ] ||
    "$RELEASE/aotgrad" train --model digits_mlp --optimizer adamw --steps "$n" \
      --save "$CORPUS/checkpoint/seed-$n.json" >/dev/null
done
cp "$SRC"/tests/goldens/onnx/*.onnx "$SRC"/tests/data/onnx/*.onnx "$CORPUS/onnx/"
cp "$SRC"/tests/data/crashes/g-*.json "$CORPUS/graph/"
cp "$SRC"/tests/data/symbolic_linear_joint.json "$CORPUS/graph/seed-symbolic.json"  # sizes as expressions
cp "$SRC"/tests/data/crashes/o-*.json "$CORPUS/case/"

for target in graph_file_fuzz case_file_fuzz checkpoint_fuzz onnx_file_fuzz; do
  dir=$CORPUS/${target%_fuzz}
  dir=${dir%_file}
  echo "== $target: ${SECONDS_EACH}s (runs: $RUNS), corpus $(ls "$dir" | wc -l) files"
  # Deep JSON is refused before parsing, so the stack stays small; a 4 GiB RSS cap and a
  # 10 s per-input timeout catch runaway allocation and hangs.
  # A file may ask for a tensor larger than memory: allocations over 2 GiB fail (a user
  # error), as they would on a machine without that much memory, instead of aborting.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:max_allocation_size_mb=2048 "$FUZZ/$target" -max_total_time="$SECONDS_EACH" -runs="$RUNS" -seed="$SEED" -rss_limit_mb=4096 \
    -timeout=10 -max_len=262144 -print_final_stats=1 -artifact_prefix="$FUZZ/artifacts/$target-" "$dir" \
    >"$FUZZ/$target.log" 2>&1 || { tail -60 "$FUZZ/$target.log"; echo "$target FAILED"; exit 1; }
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|cov: " "$FUZZ/$target.log" | tail -4
done
echo "fuzz: every target ran clean"
