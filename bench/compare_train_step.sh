#!/bin/sh
# The whole training step with AdamW inside, side by side in one run: aotgrad's
# whole step compiled as one graph, aotgrad's compiled joint graph + eager AdamW, and
# libtorch eager with torch::optim::AdamW (lr 1e-3, weight decay 0.01), per benchmark
# model and thread count; then each one's optimizer alone, and aotgrad's optimizer
# bandwidth against memcpy moving the same bytes (docs/TRAIN_STEP.md, "Measured").
#
#   bench/compare_train_step.sh [STEPS]     (run from the project root after `make build`)
#
# libtorch runs with OpenBLAS's AVX-512 kernels where the CPU has them
# (OPENBLAS_CORETYPE=SkylakeX, BENCHMARKS.md); without libtorch-dev only aotgrad's
# columns are printed.
set -eu
STEPS=${1:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AOTGRAD=$ROOT/build/aotgrad
[ -x "$AOTGRAD" ] || { echo "build aotgrad first (make build)"; exit 1; }
TORCH_CMAKE=$(ls -d /usr/lib/*/cmake/Torch 2>/dev/null | head -n1 || true)
BUILD=$ROOT/build-libtorch-bench
if [ -n "$TORCH_CMAKE" ]; then
  cmake -S "$ROOT/bench" -B "$BUILD" -G Ninja -DTorch_DIR="$TORCH_CMAKE" >/dev/null
  cmake --build "$BUILD" >/dev/null
fi
CORETYPE=Haswell
grep -q avx512f /proc/cpuinfo && CORETYPE=SkylakeX
grep -m1 "model name" /proc/cpuinfo | sed 's/.*: /cpu: /'
printf "%-18s %3s %9s %11s %9s %10s %10s %10s %9s %8s %7s %8s %7s\n" model thr whole_ms joint+eager torch_ms \
  opt_whole opt_eager opt_torch opt_GB/s copy_GB/s of_copy dram_GB/s of_dram
field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }
for model in mlp_small mlp_large convnet transformer_block; do
  for t in 1 2; do
    export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t AOTGRAD_NUM_THREADS=$t
    line=$("$AOTGRAD" bench --train-step --model "$model" --threads "$t" --steps "$STEPS" --json)
    torch_ms=- torch_opt=-
    if [ -n "$TORCH_CMAKE" ]; then
      set -- $(OPENBLAS_CORETYPE=$CORETYPE "$BUILD/libtorch_bench" "$model" "$t" "$STEPS" adamw)
      torch_ms=$1 torch_opt=$3
    fi
    gbs=$(echo "$line" | field optimizer_gbs)
    copy=$(echo "$line" | field copy_gbs_same_size)
    dram=$(echo "$line" | field copy_gbs_dram)
    printf "%-18s %3s %9.3f %11.3f %9s %10.4f %10.4f %10s %9.1f %8.1f %6.0f%% %8.1f %6.0f%%\n" "$model" "$t" \
      "$(echo "$line" | field whole_step_ms)" "$(echo "$line" | field joint_eager_step_ms)" "$torch_ms" \
      "$(echo "$line" | field whole_optimizer_ms)" "$(echo "$line" | field eager_optimizer_ms)" "$torch_opt" \
      "$gbs" "$copy" "$(awk -v a="$gbs" -v b="$copy" 'BEGIN { print 100 * a / b }')" \
      "$dram" "$(awk -v a="$gbs" -v b="$dram" 'BEGIN { print 100 * a / b }')"
  done
done
echo "ms: median step; opt_*: the optimizer alone per step; of_copy / of_dram: the whole step's optimizer"
echo "bandwidth / memcpy's moving the same bytes (in cache) / moving 512 MiB (main memory), same threads"
