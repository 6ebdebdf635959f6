#!/usr/bin/env bash
# Data-parallel training on Open MPI (docs/DISTRIBUTED.md): 2 ranks x batch B give,
# after 5 steps, the parameters and optimizer state of 1 process x batch 2B; a rank's
# error ends the whole job promptly; so does a killed rank; ranks with different
# graphs are refused at start; --parallel without mpirun runs as one process.
# Usage: ddp_test.sh BUILD_DIR SOURCE_DIR
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
for opt in "--optimizer sgd --momentum 0.9" "--optimizer adamw"; do
  # shellcheck disable=SC2086
  timeout 120 "${MPIRUN[@]}" "$AOTGRAD" "${COMMON[@]}" $opt --parallel ddp --batch 32 --save "$TMP/ddp.ckpt" \
    >"$TMP/ddp.out" 2>&1 || fail "mpirun ddp ($opt): $(tail -5 "$TMP/ddp.out")"
  grep -q "data-parallel (ddp) on 2 rank(s)" "$TMP/ddp.out" || fail "ddp banner: $(cat "$TMP/ddp.out")"
  # shellcheck disable=SC2086
  "$AOTGRAD" "${COMMON[@]}" $opt --batch 64 --save "$TMP/one.ckpt" >"$TMP/one.out" 2>&1 ||
    fail "one process ($opt): $(cat "$TMP/one.out")"
  python3 "$SRC/tests/e2e/compare_checkpoints.py" "$TMP/ddp.ckpt" "$TMP/one.ckpt" 1e-5 >"$TMP/cmp" 2>&1 ||
    fail "2 ranks x 32 differ from 1 process x 64 ($opt): $(cat "$TMP/cmp")"
done

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

# Without mpirun: one process, and it says so.
"$AOTGRAD" "${COMMON[@]}" --parallel ddp >"$TMP/solo" 2>&1 || fail "--parallel ddp alone: $(cat "$TMP/solo")"
grep -q "without mpirun: training as one process" "$TMP/solo" || fail "solo banner: $(cat "$TMP/solo")"
echo "ddp: all checks passed"
