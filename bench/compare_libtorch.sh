#!/bin/sh
# Runs each benchmark model through aotgrad (eager and compiled) and libtorch side by
# side, alternating per (model, threads), and prints step-time medians, the ratios
# to libtorch, and each process's peak memory.
#
#   bench/compare_libtorch.sh [STEPS]     (run from the project root after `make build`)
#
# Needs libtorch-dev (Debian's PyTorch 1.13 C++ API); without it, says so and exits 0.
set -eu
STEPS=${1:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AOTGRAD=$ROOT/build/aotgrad
TORCH_CMAKE=$(ls -d /usr/lib/*/cmake/Torch 2>/dev/null | head -n1 || true)
if [ -z "$TORCH_CMAKE" ]; then
  echo "libtorch-dev is not installed: no baseline to compare against (apt-get install libtorch-dev)"
  exit 0
fi
[ -x "$AOTGRAD" ] || { echo "build aotgrad first (make build)"; exit 1; }
BUILD=$ROOT/build-libtorch-bench
cmake -S "$ROOT/bench" -B "$BUILD" -G Ninja -DTorch_DIR="$TORCH_CMAKE" >/dev/null
cmake --build "$BUILD" >/dev/null
BLAS=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)
echo "libtorch loads libblas.so.3 -> $BLAS"
printf "%-18s %3s %9s %9s %9s %8s %8s %8s %8s %8s\n" model thr eager_ms compil_ms torch_ms \
  eager/t comp/t torch/c rss_ours rss_torch
field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }
for model in mlp_small mlp_large convnet transformer_block; do
  for t in 1 2; do
    # One thread count for every pool of both processes (BENCHMARKS.md).
    export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t AOTGRAD_NUM_THREADS=$t
    line=$("$AOTGRAD" bench --model "$model" --threads "$t" --steps "$STEPS" --json)
    eager=$(echo "$line" | field eager_step_ms)
    compiled=$(echo "$line" | field compiled_step_ms)
    rss=$(echo "$line" | field peak_rss_mb)
    set -- $("$BUILD/libtorch_bench" "$model" "$t" "$STEPS")
    theirs=$1 their_rss=$2
    printf "%-18s %3s %9.3f %9.3f %9.3f %8.2f %8.2f %8.2f %8.1f %8.1f\n" "$model" "$t" "$eager" "$compiled" \
      "$theirs" "$(awk -v a="$eager" -v b="$theirs" 'BEGIN { print a / b }')" \
      "$(awk -v a="$compiled" -v b="$theirs" 'BEGIN { print a / b }')" \
      "$(awk -v a="$theirs" -v b="$compiled" 'BEGIN { print a / b }')" "$rss" "$their_rss"
  done
done
echo "torch/c: how many times faster the compiled step is than libtorch eager; rss in MiB"
