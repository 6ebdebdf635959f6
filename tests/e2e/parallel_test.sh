#!/usr/bin/env bash
# Data-parallel and fully-sharded training on Open MPI (docs/DISTRIBUTED.md): 2 ranks
# x batch B give, after 5 steps, the parameters and optimizer state of 1 process x
# batch 2B (ddp and fsdp, fsdp also with clipping and resumed from a checkpoint); a
# rank's error ends the whole job promptly; so does a killed rank; ranks with
# different graphs are refused at start; --parallel without mpirun runs as one
# process; the rewritten graphs print PyTorch's functional collectives, where the
# passes put them.
# Usage: parallel_test.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
BUILD=$1
SRC=$2
AOTGRAD="$BUILD/aotgrad"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Containers often run tests as root, which Open MPI refuses unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Two ranks on a machine with fewer free slots than that are fine here.
MPIRUN=(mpirun --oversubscribe -np 2)
fail() {
  echo "FAIL: $*"
  exit 1
}

COMMON=(train --steps 5 --threads 1)
for par in ddp fsdp; do
  for opt in "--optimizer sgd --momentum 0.9" "--optimizer adamw" "--optimizer adamw --clip-grad-norm 0.5"; do
    # shellcheck disable=SC2086
    timeout 120 "${MPIRUN[@]}" "$AOTGRAD" "${COMMON[@]}" $opt --parallel $par --batch 32 --save "$TMP/par.ckpt" \
      >"$TMP/par.out" 2>&1 || fail "mpirun $par ($opt): $(tail -5 "$TMP/par.out")"
    grep -q "($par) on 2 rank(s)" "$TMP/par.out" || fail "$par banner: $(cat "$TMP/par.out")"
    # shellcheck disable=SC2086
    "$AOTGRAD" "${COMMON[@]}" $opt --batch 64 --save "$TMP/one.ckpt" >"$TMP/one.out" 2>&1 ||
      fail "one process ($opt): $(cat "$TMP/one.out")"
    python3 "$SRC/tests/e2e/compare_checkpoints.py" "$TMP/par.ckpt" "$TMP/one.ckpt" 1e-5 >"$TMP/cmp" 2>&1 ||
      fail "$par: 2 ranks x 32 differ from 1 process x 64 ($opt): $(cat "$TMP/cmp")"
  done
done

# 3 ranks: dim 0 of every parameter (64, 10) does not split evenly, so the last
# shards are padded; and --keep-gathered (no second gather in the backward).
timeout 120 mpirun --oversubscribe -np 3 "$AOTGRAD" "${COMMON[@]}" --optimizer adamw --parallel fsdp --batch 20 \
  --save "$TMP/par.ckpt" >"$TMP/par.out" 2>&1 || fail "fsdp on 3 ranks: $(tail -5 "$TMP/par.out")"
"$AOTGRAD" "${COMMON[@]}" --optimizer adamw --batch 60 --save "$TMP/one.ckpt" >"$TMP/one.out" 2>&1 ||
  fail "one process x 60: $(cat "$TMP/one.out")"
python3 "$SRC/tests/e2e/compare_checkpoints.py" "$TMP/par.ckpt" "$TMP/one.ckpt" 1e-5 >"$TMP/cmp" 2>&1 ||
  fail "fsdp: 3 ranks x 20 differ from 1 process x 60: $(cat "$TMP/cmp")"
# ddp on 3 ranks: 'avg' divides by 3 before summing (Note [Divide before reducing]);
# and every collective started at once (Note [When a collective starts]).
timeout 120 mpirun --oversubscribe -np 3 -x AOTGRAD_COMM_START=now "$AOTGRAD" "${COMMON[@]}" --optimizer adamw \
  --parallel ddp --batch 20 --save "$TMP/par.ckpt" >"$TMP/par.out" 2>&1 || fail "ddp on 3 ranks: $(tail -5 "$TMP/par.out")"
python3 "$SRC/tests/e2e/compare_checkpoints.py" "$TMP/par.ckpt" "$TMP/one.ckpt" 1e-5 >"$TMP/cmp" 2>&1 ||
  fail "ddp: 3 ranks x 20 differ from 1 process x 60: $(cat "$TMP/cmp")"
# fsdp's collectives held back until each is waited for, on 2 ranks.
timeout 120 "${MPIRUN[@]}" -x AOTGRAD_COMM_START=wait "$AOTGRAD" "${COMMON[@]}" --optimizer adamw --parallel fsdp \
  --batch 30 --save "$TMP/par.ckpt" >"$TMP/par.out" 2>&1 || fail "fsdp, start at wait: $(tail -5 "$TMP/par.out")"
python3 "$SRC/tests/e2e/compare_checkpoints.py" "$TMP/par.ckpt" "$TMP/one.ckpt" 1e-5 >"$TMP/cmp" 2>&1 ||
  fail "fsdp, start at wait: 2 ranks x 30 differ from 1 process x 60: $(cat "$TMP/cmp")"
timeout 60 "${MPIRUN[@]}" -x AOTGRAD_COMM_START=bogus "$AOTGRAD" "${COMMON[@]}" --parallel ddp >"$TMP/start" 2>&1
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "AOTGRAD_COMM_START=bogus: exit $rc: $(tail -5 "$TMP/start")"
grep -q "AOTGRAD_COMM_START is 'bogus'; expected auto, now or wait" "$TMP/start" || fail "start: $(cat "$TMP/start")"
timeout 120 "${MPIRUN[@]}" "$AOTGRAD" "${COMMON[@]}" --optimizer adamw --parallel fsdp --keep-gathered --batch 32 \
  --save "$TMP/par.ckpt" >"$TMP/par.out" 2>&1 || fail "fsdp --keep-gathered: $(tail -5 "$TMP/par.out")"
"$AOTGRAD" "${COMMON[@]}" --optimizer adamw --batch 64 --save "$TMP/one.ckpt" >"$TMP/one.out" 2>&1 ||
  fail "one process x 64: $(cat "$TMP/one.out")"
python3 "$SRC/tests/e2e/compare_checkpoints.py" "$TMP/par.ckpt" "$TMP/one.ckpt" 1e-5 >"$TMP/cmp" 2>&1 ||
  fail "fsdp --keep-gathered differs from 1 process: $(cat "$TMP/cmp")"

# An imported ONNX model (without batch norm: per-rank batch statistics are not
# equivalent to one process's, as in PyTorch): the same, batch 32 per rank.
PLAIN="$SRC/tests/data/onnx/digits_mlp_plain.onnx"
for par in ddp fsdp; do
  timeout 120 "${MPIRUN[@]}" "$AOTGRAD" "${COMMON[@]}" --optimizer adamw --parallel $par --onnx "$PLAIN" \
    --input-shape input_0=32,64 --save "$TMP/par.ckpt" >"$TMP/par.out" 2>&1 || fail "onnx $par: $(tail -5 "$TMP/par.out")"
  "$AOTGRAD" "${COMMON[@]}" --optimizer adamw --onnx "$PLAIN" --input-shape input_0=64,64 --save "$TMP/one.ckpt" \
    >"$TMP/one.out" 2>&1 || fail "onnx one process: $(cat "$TMP/one.out")"
  python3 "$SRC/tests/e2e/compare_checkpoints.py" "$TMP/par.ckpt" "$TMP/one.ckpt" 1e-5 >"$TMP/cmp" 2>&1 ||
    fail "onnx $par: 2 ranks x 32 differ from 1 process x 64: $(cat "$TMP/cmp")"
done

# fsdp checkpoints hold the whole state: 3 steps, saved, resumed for 2 more = 5 steps.
FSDP=("${MPIRUN[@]}" "$AOTGRAD" train --threads 1 --optimizer adamw --parallel fsdp --batch 32)
timeout 120 "${FSDP[@]}" --steps 3 --save "$TMP/three.ckpt" >"$TMP/f3" 2>&1 || fail "fsdp 3 steps: $(tail -5 "$TMP/f3")"
timeout 120 "${FSDP[@]}" --steps 5 --resume "$TMP/three.ckpt" --save "$TMP/resumed.ckpt" >"$TMP/f5" 2>&1 ||
  fail "fsdp resumed: $(tail -5 "$TMP/f5")"
grep -q "resumed from step 3" "$TMP/f5" || fail "fsdp resume: $(cat "$TMP/f5")"
timeout 120 "${FSDP[@]}" --steps 5 --save "$TMP/five.ckpt" >"$TMP/f5b" 2>&1 || fail "fsdp 5 steps: $(tail -5 "$TMP/f5b")"
python3 "$SRC/tests/e2e/compare_checkpoints.py" "$TMP/resumed.ckpt" "$TMP/five.ckpt" 1e-6 >"$TMP/cmp" 2>&1 ||
  fail "fsdp: resumed 3+2 steps differ from 5 steps: $(cat "$TMP/cmp")"

# Another graph on rank 1: refused at start, every rank exits non-zero.
timeout 60 mpirun --oversubscribe -np 1 "$AOTGRAD" "${COMMON[@]}" --parallel ddp : \
  -np 1 "$AOTGRAD" "${COMMON[@]}" --parallel ddp --model digits_cnn >"$TMP/mix" 2>&1
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "ranks with different graphs: exit $rc: $(tail -5 "$TMP/mix")"
grep -q "do not run the same training step graph: rank(s) 1 differ" "$TMP/mix" || fail "mismatch: $(cat "$TMP/mix")"

# A rank killed mid-training: the job ends, non-zero, within 10 s.
"${MPIRUN[@]}" "$AOTGRAD" train --threads 1 --epochs 100000 --parallel ddp >"$TMP/long" 2>&1 &
launcher=$!
for _ in $(seq 50); do
  ranks=$(pgrep -f "aotgrad train --threads 1 --epochs 100000" | grep -v "^$launcher\$" || true)
  [ "$(echo "$ranks" | grep -c .)" -ge 2 ] && break
  sleep 0.2
done
sleep 1
victim=$(echo "$ranks" | tail -1)
[ -n "$victim" ] || fail "no rank process to kill: $(cat "$TMP/long")"
kill -9 "$victim"
start=$(date +%s)
while kill -0 "$launcher" 2>/dev/null; do
  [ $(($(date +%s) - start)) -le 10 ] || { kill -9 "$launcher"; fail "the job outlived a killed rank by 10 s"; }
  sleep 0.2
done
wait "$launcher"
rc=$?
[ "$rc" -ne 0 ] || fail "a job with a killed rank exited 0"

# The rewritten joint graph: PyTorch's functional collectives, saved, loaded, compiled
# and run (one process: the collectives are the identity).
"$AOTGRAD" export --model mlp_small --parallel ddp --bucket-mib 0.02 --format json -o "$TMP/ddp.json" ||
  fail "export --parallel ddp"
"$AOTGRAD" print "$TMP/ddp.json" --format compact >"$TMP/ddp.txt" || fail "print the ddp graph"
grep -q "torch.ops._c10d_functional.all_reduce.default(cat, 'avg', '0')" "$TMP/ddp.txt" ||
  fail "no all_reduce in: $(cat "$TMP/ddp.txt")"
[ "$(grep -c "_c10d_functional.wait_tensor" "$TMP/ddp.txt")" -eq 2 ] || fail "expected 2 buckets: $(cat "$TMP/ddp.txt")"
# schedule_gradient_buckets: the first bucket starts before the backward's last
# threshold_backward (inside the backward), and its wait follows that.
first_issue=$(grep -n "_c10d_functional.all_reduce" "$TMP/ddp.txt" | head -1 | cut -d: -f1)
last_backward=$(grep -n "threshold_backward.default" "$TMP/ddp.txt" | tail -1 | cut -d: -f1)
first_wait=$(grep -n "_c10d_functional.wait_tensor" "$TMP/ddp.txt" | head -1 | cut -d: -f1)
[ "$first_issue" -lt "$last_backward" ] && [ "$last_backward" -lt "$first_wait" ] ||
  fail "bucket 0 is not scheduled into the backward (issue $first_issue, last backward $last_backward, wait $first_wait)"
"$AOTGRAD" run --graph "$TMP/ddp.json" --check >"$TMP/ddp.run" 2>&1 || fail "run --graph ddp: $(tail -3 "$TMP/ddp.run")"
grep -q "the compiled graph matches the interpreter" "$TMP/ddp.run" || fail "run --graph ddp: $(tail -3 "$TMP/ddp.run")"

# fsdp's joint graph: parameters are shards gathered before the forward reads them,
# one collective per module (a Linear's weight and bias laid end to end; with
# --shard-group-kib 0 no small module takes in the next); the backward gathers again
# what it reads (reshard after forward), prefetched one module ahead; gradients are
# reduce-scattered module by module.
"$AOTGRAD" export --model mlp_small --parallel fsdp >"$TMP/noworld" 2>&1 && fail "fsdp export without --world-size"
grep -q "needs --world-size N" "$TMP/noworld" || fail "no --world-size: $(cat "$TMP/noworld")"
"$AOTGRAD" export --model mlp_small --parallel fsdp --world-size 2 --shard-group-kib 0 --format json \
  -o "$TMP/fsdp.json" || fail "export --parallel fsdp"
"$AOTGRAD" print "$TMP/fsdp.json" --format compact >"$TMP/fsdp.txt" || fail "print the fsdp graph"
grep -q 'primals_1: "f32\[64, 64\]"' "$TMP/fsdp.txt" || fail "fc1.weight [128, 64] is not a [64, 64] shard"
grep -q "cat: \"f32\[4160\]\" = torch.ops.aten.cat.default(\[view, view_1\])" "$TMP/fsdp.txt" ||
  fail "fc1's weight and bias shards are not laid end to end: $(cat "$TMP/fsdp.txt")"
grep -q "all_gather_into_tensor.default(cat, 2, '0')" "$TMP/fsdp.txt" || fail "no gather of fc1's group"
[ "$(grep -c "_c10d_functional.all_gather_into_tensor.default" "$TMP/fsdp.txt")" -eq 5 ] ||
  fail "expected 3 gathers and 2 for the backward: $(cat "$TMP/fsdp.txt")"
[ "$(grep -c "_c10d_functional.reduce_scatter_tensor.default" "$TMP/fsdp.txt")" -eq 3 ] ||
  fail "expected one reduce_scatter per module: $(cat "$TMP/fsdp.txt")"
[ "$(grep -c "aten.view.default(primals_5, \[640\])" "$TMP/fsdp.txt")" -eq 2 ] ||
  fail "fc3.weight is not gathered again for the backward: $(cat "$TMP/fsdp.txt")"
gather_2=$(grep -n "aten.view.default(primals_3, \[8192\])" "$TMP/fsdp.txt" -m1 | cut -d: -f1)
first_use=$(grep -n "aten.addmm.default" "$TMP/fsdp.txt" -m1 | cut -d: -f1)
[ "$gather_2" -lt "$first_use" ] || fail "fc2's gather is not started before fc1 runs: $(cat "$TMP/fsdp.txt")"
# By default mlp_small's three layers (101 KiB) are one group under 256 KiB: one
# gather for the forward, one for the backward, one reduce-scatter.
"$AOTGRAD" export --model mlp_small --parallel fsdp --world-size 2 >"$TMP/fsdp_default.txt" || fail "fsdp default"
[ "$(grep -c "_c10d_functional.all_gather_into_tensor.default" "$TMP/fsdp_default.txt")" -eq 2 ] &&
  [ "$(grep -c "_c10d_functional.reduce_scatter_tensor.default" "$TMP/fsdp_default.txt")" -eq 1 ] ||
  fail "mlp_small is not one group by default: $(cat "$TMP/fsdp_default.txt")"
"$AOTGRAD" export --model mlp_small --parallel fsdp --world-size 2 --shard-groups parameter >"$TMP/fsdp_param.txt" ||
  fail "export --shard-groups parameter"
grep -q "all_gather_into_tensor.default(primals_1, 2, '0')" "$TMP/fsdp_param.txt" ||
  fail "--shard-groups parameter: no gather of primals_1 alone"
"$AOTGRAD" run --graph "$TMP/fsdp.json" >"$TMP/fsdp.run" 2>&1 && fail "a graph for 2 ranks ran in one process"
grep -q "exported for 2 rank(s), but this job has 1" "$TMP/fsdp.run" || fail "fsdp world: $(cat "$TMP/fsdp.run")"
"$AOTGRAD" export --model mlp_small --parallel fsdp --world-size 1 --format json -o "$TMP/fsdp1.json" ||
  fail "export --parallel fsdp --world-size 1"
"$AOTGRAD" run --graph "$TMP/fsdp1.json" --check >"$TMP/fsdp1.run" 2>&1 || fail "run fsdp1: $(tail -3 "$TMP/fsdp1.run")"
grep -q "the compiled graph matches the interpreter" "$TMP/fsdp1.run" || fail "run fsdp1: $(tail -3 "$TMP/fsdp1.run")"

# Without mpirun: one process, and it says so.
for par in ddp fsdp; do
  "$AOTGRAD" "${COMMON[@]}" --parallel $par >"$TMP/solo" 2>&1 || fail "--parallel $par alone: $(cat "$TMP/solo")"
  grep -q "without mpirun: training as one process" "$TMP/solo" || fail "solo banner: $(cat "$TMP/solo")"
done
echo "ddp and fsdp: all checks passed"
