#!/bin/sh
# Runs each benchmark model through aotgrad and libtorch side by side, alternating
# the two per (model, threads), and prints the step-time medians and their ratio.
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
printf "%-18s %7s %14s %14s %8s\n" model threads aotgrad_ms libtorch_ms ratio
for model in mlp_small mlp_large convnet transformer_block; do
  for t in 1 2; do
    # One thread count for every pool of both processes (BENCHMARKS.md).
    export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t AOTGRAD_NUM_THREADS=$t
    ours=$("$AOTGRAD" bench --model "$model" --threads "$t" --steps "$STEPS" --json |
      sed -n 's/.*"eager_step_ms": \([0-9.]*\).*/\1/p')
    theirs=$("$BUILD/libtorch_bench" "$model" "$t" "$STEPS")
    printf "%-18s %7s %14s %14s %8s\n" "$model" "$t" "$ours" "$theirs" \
      "$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')"
  done
done
