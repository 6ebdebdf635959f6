#!/bin/sh
# Runs each benchmark model through aotgrad (eager, compiled joint + eager SGD, and
# the whole step as one compiled graph) and libtorch side by side, alternating per
# (model, threads), and prints step-time medians, the ratio to
# libtorch at its best (the faster of OpenBLAS's default and AVX-512 kernels, which
# must reach the same loss), and each process's peak memory.
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
# libtorch at its best (BENCHMARKS.md): OpenBLAS's AVX-512 kernel where the CPU has
# it, beside the environment's default; the two must reach the same loss.
FAST=""
grep -q avx512f /proc/cpuinfo && FAST=SkylakeX
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p'))"
printf "%-18s %3s %9s %9s %9s %9s %9s %8s %8s %8s %8s %8s\n" model thr eager_ms compil_ms whole_ms torch_def \
  torch_512 torch/c torch/w best_is rss_ours rss_torch
field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }
for model in mlp_small mlp_large convnet transformer_block; do
  for t in 1 2; do
    # One thread count for every pool of both processes (BENCHMARKS.md).
    export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t AOTGRAD_NUM_THREADS=$t
    line=$("$AOTGRAD" bench --model "$model" --threads "$t" --steps "$STEPS" --json)
    eager=$(echo "$line" | field eager_step_ms)
    compiled=$(echo "$line" | field compiled_step_ms)
    whole=$(echo "$line" | field whole_step_ms)
    rss=$(echo "$line" | field peak_rss_mb)
    set -- $("$BUILD/libtorch_bench" "$model" "$t" "$STEPS")
    def_ms=$1 their_rss=$2 def_loss=$4
    fast_ms=- best=$def_ms best_is=default
    if [ -n "$FAST" ]; then
      set -- $(OPENBLAS_CORETYPE=$FAST "$BUILD/libtorch_bench" "$model" "$t" "$STEPS")
      fast_ms=$1
      if ! awk -v a="$def_loss" -v b="$4" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-3 * (1 + (a < 0 ? -a : a))) }'; then
        echo "$model: libtorch's loss with $FAST ($4) differs from the default kernel's ($def_loss): not used" >&2
      elif awk -v a="$fast_ms" -v b="$def_ms" 'BEGIN { exit !(a < b) }'; then
        best=$fast_ms best_is=$FAST
      fi
    fi
    printf "%-18s %3s %9.3f %9.3f %9.3f %9.3f %9s %8.2f %8.2f %8s %8.1f %8.1f\n" "$model" "$t" "$eager" "$compiled" \
      "$whole" "$def_ms" "$fast_ms" "$(awk -v a="$best" -v b="$compiled" 'BEGIN { print a / b }')" \
      "$(awk -v a="$best" -v b="$whole" 'BEGIN { print a / b }')" "$best_is" "$rss" "$their_rss"
  done
done
echo "torch_def: libtorch with the environment's OpenBLAS kernel; torch_512: with OPENBLAS_CORETYPE=SkylakeX"
echo "compil_ms: the compiled joint graph with eager SGD; whole_ms: the whole step, SGD inside, as one compiled graph"
echo "torch/c, torch/w: how many times faster each is than libtorch at its best; rss in MiB (of compil)"
