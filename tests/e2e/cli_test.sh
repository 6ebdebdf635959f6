#!/bin/sh
# End-to-end checks of the aotgrad command line: exit statuses, one-line errors on
# bad input, conformance on the golden cases, and a short training run.
#   tests/e2e/cli_test.sh BUILD_DIR SOURCE_DIR
set -u
AOTGRAD=$1/aotgrad
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_error STATUS PATTERN CMD...: the command exits with STATUS and prints one
# line on stderr matching PATTERN.
expect_error() {
  want=$1 pattern=$2
  shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  got=$?
  [ "$got" -eq "$want" ] || fail "$*: exit status $got, expected $want"
  grep -q -- "$pattern" "$TMP/err" || fail "$*: stderr lacks '$pattern': $(cat "$TMP/err")"
  if [ "$want" -eq 1 ]; then
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$*: expected a one-line error, got: $(cat "$TMP/err")"
  fi
}

expect_error 1 "unknown model 'nope'" "$AOTGRAD" train --model nope
expect_error 1 "cannot open" "$AOTGRAD" train --model digits_mlp --data-file "$TMP/missing.csv.gz"
printf 'not gzip at all\n' >"$TMP/bad.csv.gz"
expect_error 1 "bad.csv.gz" "$AOTGRAD" train --model digits_mlp --data-file "$TMP/bad.csv.gz"
head -c 3000 "$SRC/tests/goldens/conv_bn.json" >"$TMP/truncated.json"
expect_error 1 "1 golden case(s) failed" "$AOTGRAD" conformance "$TMP/truncated.json"
grep -q "^FAIL .*truncated.json.*not valid JSON" "$TMP/out" || fail "conformance on a truncated file: $(cat "$TMP/out")"
expect_error 2 "" "$AOTGRAD" bench --steps notanumber
expect_error 2 "" "$AOTGRAD" frobnicate

"$AOTGRAD" conformance "$SRC/tests/goldens" >"$TMP/conf" 2>&1 || fail "conformance: $(tail -3 "$TMP/conf")"
tail -n1 "$TMP/conf" | grep -q "^15 passed, 0 failed$" || fail "conformance summary: $(tail -n1 "$TMP/conf")"

# The compile pipeline as data: listed, printed after a pass, verified, stopped.
[ "$("$AOTGRAD" passes | grep -c '^[0-9]\. ')" -eq 7 ] || fail "passes: $("$AOTGRAD" passes)"
"$AOTGRAD" run --model mlp_small --print-after partition --verify-after-each --stop-after dce >"$TMP/pipe" 2>&1 ||
  fail "run --stop-after: $(cat "$TMP/pipe")"
grep -q "^=== after pass 'partition' ===" "$TMP/pipe" || fail "--print-after partition printed nothing"
grep -q "^stopped after pass 'dce'" "$TMP/pipe" || fail "--stop-after dce: $(tail -3 "$TMP/pipe")"
grep -q "^backward:" "$TMP/pipe" || fail "--print-after partition lacks the backward graph"
"$AOTGRAD" run --model mlp_small --print-program >"$TMP/prog" 2>&1 || fail "run --print-program: $(cat "$TMP/prog")"
grep -q "arena @0" "$TMP/prog" || fail "--print-program shows no arena offsets"
expect_error 1 "unknown pass 'nope' (the passes: verify, partition, cse, dce, lower, fuse, plan)" \
  "$AOTGRAD" run --model mlp_small --stop-after nope

"$AOTGRAD" --version | grep -q "^aotgrad [0-9]*\.[0-9]*\.[0-9]*$" || fail "--version: $("$AOTGRAD" --version 2>&1)"
"$AOTGRAD" export --model simple_linear --format json | grep -q '"producer": "aotgrad [0-9.]*"' ||
  fail "the graph file does not name its producer"

[ "$("$AOTGRAD" models | wc -l)" -ge 21 ] || fail "models lists fewer than 21 models"
"$AOTGRAD" models | grep -q "^transformer_block " || fail "models lacks transformer_block"

"$AOTGRAD" train --model digits_mlp --epochs 5 >"$TMP/train" 2>&1 || fail "train: $(cat "$TMP/train")"
acc=$(sed -n 's/.*test accuracy \([0-9.]*\) %.*/\1/p' "$TMP/train")
awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 90) }' || fail "digits_mlp after 5 epochs: accuracy ${acc:-none} < 90"

"$AOTGRAD" bench --model mlp_small --threads 1 --steps 3 --json >"$TMP/bench" 2>&1 || fail "bench: $(cat "$TMP/bench")"
grep -q '"model": "mlp_small", "threads": 1, "export_ms": [0-9.]*, "compile_ms": [0-9.]*, "eager_step_ms": [0-9.]*, "compiled_step_ms": [0-9.]*, "peak_rss_mb": [0-9.]*, "product_gflop": [0-9.]*, "sgemm_gflops": [0-9.]*, "flop_bound_ms": [0-9.]*, "whole_step_ms": [0-9.]*}' "$TMP/bench" || fail "bench json: $(cat "$TMP/bench")"
# The FLOP bound counts the products of the step: mlp_large (784-1024-1024-10, batch
# 256) is 2 * 256 * (784*1024 + 1024*1024 + 1024*10) for the forward, as much for the
# weight gradients, and 2 * 256 * (1024*1024 + 1024*10) for the input gradients of
# layers 2 and 3 (layer 1's input needs none): 2448424960.
"$AOTGRAD" bench --model mlp_large --threads 1 --steps 1 --json >"$TMP/bench" 2>&1 || fail "bench: $(cat "$TMP/bench")"
grep -q '"product_gflop": 2.4484,' "$TMP/bench" || fail "bench product_gflop: $(cat "$TMP/bench")"

# Compile and run: every built-in model's compiled step matches eager.
for m in $("$AOTGRAD" models | awk '{print $1}'); do
  "$AOTGRAD" run --model "$m" --check >"$TMP/run" 2>&1 || fail "run --check $m: $(cat "$TMP/run")"
  grep -q "^$m: compiled step matches eager" "$TMP/run" || fail "run --check $m: $(cat "$TMP/run")"
done
"$AOTGRAD" run --model transformer_block --check --policy min-cut >"$TMP/run" 2>&1 || fail "min-cut run: $(cat "$TMP/run")"
"$AOTGRAD" partition --model convnet --report >"$TMP/part" 2>&1 || fail "partition report: $(cat "$TMP/part")"
grep -q "^policy: min-cut" "$TMP/part" || fail "partition report lacks the min-cut policy: $(cat "$TMP/part")"

# Higher-order ops (issue 8's commands).
"$AOTGRAD" export --model invoke_subgraph --seq-nr-groups >"$TMP/groups" 2>&1 || fail "seq-nr-groups: $(cat "$TMP/groups")"
cat >"$TMP/groups.want" <<'WANT'
['getitem', 'getitem_1', 'invoke_subgraph', 'invoke_subgraph_1']
['sub']
# repeated_subgraph0
['sin']
['mul']
# repeated_subgraph1
['cos', 'mul_2', 'sin']
['mul', 'mul_1']
WANT
cmp -s "$TMP/groups" "$TMP/groups.want" || fail "invoke_subgraph seq-nr groups: $(cat "$TMP/groups")"
"$AOTGRAD" export --model flex_attention --custom-metadata >"$TMP/meta" 2>&1 || fail "custom-metadata: $(cat "$TMP/meta")"
for line in "('get_attr', 'sdpa_score0'" "('get_attr', 'sdpa_mask0'" "('call_function', 'flex_attention'" \
            "('get_attr', 'fw_graph0'" "('get_attr', 'joint_graph0'" "('get_attr', 'mask_graph0'" \
            "('call_function', 'flex_attention_backward'"; do
  grep -qF "$line, {'compile_with_inductor': 'flex_attention'})" "$TMP/meta" || fail "flex custom metadata lacks $line"
done
"$AOTGRAD" export --model flex_attention --format json -o "$TMP/flex.json" || fail "export flex json"
"$AOTGRAD" print "$TMP/flex.json" >"$TMP/flex.txt" 2>&1 || fail "print flex json: $(cat "$TMP/flex.txt")"
grep -q "torch.ops.higher_order.flex_attention_backward(" "$TMP/flex.txt" || fail "printed flex graph lacks the backward"

# The whole training step as one graph (docs/TRAIN_STEP.md).
"$AOTGRAD" conformance "$SRC/tests/goldens/train_steps" >"$TMP/steps" 2>&1 || fail "train-step goldens: $(tail -3 "$TMP/steps")"
grep -q "^20 passed, 0 failed" "$TMP/steps" || fail "train-step goldens: $(tail -1 "$TMP/steps")"
"$AOTGRAD" export --model conv_bn --train-step --optimizer adamw --clip-grad-norm 0.5 --summary >"$TMP/ts" 2>&1 ||
  fail "export --train-step: $(cat "$TMP/ts")"
grep -q "OptimizerStateAOTInput(param=ParamAOTInput(target='conv.weight'), state='exp_avg_sq')" "$TMP/ts" ||
  fail "train-step summary lacks the optimizer state: $(cat "$TMP/ts")"
grep -q "HyperparamAOTInput(name='max_norm')" "$TMP/ts" || fail "train-step summary lacks max_norm"
"$AOTGRAD" export --model conv_bn --train-step --optimizer adamw --format json -o "$TMP/ts.json" || fail "train-step json"
"$AOTGRAD" print "$TMP/ts.json" >"$TMP/ts.txt" 2>&1 || fail "print train-step json: $(cat "$TMP/ts.txt")"
grep -q "InputMutationAOTOutput(mutated_input=OptimizerStateAOTInput" "$TMP/ts.txt" || fail "printed train step"
for m in mlp_small convnet transformer_block conv_bn; do
  "$AOTGRAD" run --model "$m" --train-step --optimizer adamw --check >"$TMP/run" 2>&1 ||
    fail "run --train-step --check $m: $(tail -3 "$TMP/run")"
done
"$AOTGRAD" export --model mlp_small --train-step --optimizer rmsprop >/dev/null 2>"$TMP/err"
[ $? -eq 2 ] && grep -q "rmsprop not in" "$TMP/err" || fail "--optimizer rmsprop: $(cat "$TMP/err")"
# A checkpoint resumed gives the bits of an uninterrupted run.
T="$AOTGRAD train --model digits_mlp --optimizer adamw --lr 0.003 --clip-grad-norm 1"
$T --steps 30 --save "$TMP/full.ckpt" >/dev/null 2>&1 || fail "train --save"
$T --steps 25 --save "$TMP/half.ckpt" >/dev/null 2>&1 || fail "train --save (half)"
cp "$TMP/half.ckpt" "$TMP/half.before"
$T --steps 30 --resume "$TMP/half.ckpt" --save "$TMP/resumed.ckpt" >"$TMP/resume" 2>&1 || fail "train --resume: $(cat "$TMP/resume")"
grep -q "resumed from step 25" "$TMP/resume" || fail "train --resume: $(cat "$TMP/resume")"
cmp -s "$TMP/full.ckpt" "$TMP/resumed.ckpt" || fail "a resumed run differs from an uninterrupted one"
cmp -s "$TMP/half.ckpt" "$TMP/half.before" || fail "resuming changed the checkpoint it read"
head -c 300 "$TMP/half.ckpt" >"$TMP/cut.ckpt"
expect_error 1 "cut.ckpt" $T --resume "$TMP/cut.ckpt"
expect_error 1 "momentum_buffer" "$AOTGRAD" train --model digits_mlp --optimizer sgd --resume "$TMP/half.ckpt"
expect_error 1 "another model" "$AOTGRAD" train --model digits_cnn --optimizer adamw --resume "$TMP/half.ckpt"
expect_error 1 "need the whole-step graph" "$AOTGRAD" train --model digits_mlp --eager --save "$TMP/x.ckpt"

# Upstream's decomposed conv_bn graph (test_conv_bn_module), comments aside — and the
# blank lines between stack-trace groups, which move with the build's inlining.
"$AOTGRAD" export --model conv_bn --decompose | grep -v '^ *#' | grep -v '^$' >"$TMP/cbd" ||
  fail "export --decompose conv_bn"
grep -v '^$' "$SRC/tests/data/upstream_conv_bn_decomposed.txt" >"$TMP/cbd.want"
diff "$TMP/cbd.want" "$TMP/cbd" >"$TMP/cbd.diff" ||
  fail "export --model conv_bn --decompose differs from upstream's graph: $(head -20 "$TMP/cbd.diff")"

# A saved graph compiled and run without its model (export -> edit -> compile).
for m in conv_bn transformer_block invoke_subgraph flex_attention; do
  "$AOTGRAD" export --model "$m" --format json -o "$TMP/g.json" || fail "export $m json"
  "$AOTGRAD" run --graph "$TMP/g.json" --check >"$TMP/rg" 2>&1 || fail "run --graph --check $m: $(tail -3 "$TMP/rg")"
  grep -q "the compiled graph matches the interpreter" "$TMP/rg" || fail "run --graph $m: $(tail -3 "$TMP/rg")"
done
"$AOTGRAD" run --graph "$TMP/ts.json" --check --save-inputs "$TMP/ts_in.json" >"$TMP/rg" 2>&1 ||
  fail "run --graph (train step) --check: $(tail -3 "$TMP/rg")"
"$AOTGRAD" run --graph "$TMP/ts.json" --inputs "$TMP/ts_in.json" >"$TMP/rg" 2>&1 || fail "run --graph --inputs: $(cat "$TMP/rg")"
# A graph with a custom op, read by a process that never registered it.
"$AOTGRAD" export --model custom_op --format json -o "$TMP/co.json" || fail "export custom_op json"
"$AOTGRAD" print "$TMP/co.json" >"$TMP/co.txt" 2>&1 || fail "print a custom-op graph: $(cat "$TMP/co.txt")"
grep -q "torch.ops.my_lib.foo.default(primals_1, primals_2)" "$TMP/co.txt" || fail "printed custom-op graph"
"$AOTGRAD" run --graph "$TMP/co.json" >/dev/null 2>"$TMP/err"
grep -q "my_lib::foo.default is known here only by the schema" "$TMP/err" || fail "run custom-op graph: $(cat "$TMP/err")"
expect_error 1 "neither a joint file nor a graph file" "$AOTGRAD" run --graph "$TMP/full.ckpt"
expect_error 1 "PlainAOTInput(idx=0) has shape" "$AOTGRAD" run --graph "$TMP/g.json" --inputs "$TMP/ts_in.json"

# ONNX files: every command takes --onnx, conformance through ONNX, train and write back.
ONNX_DIR="$SRC/tests/goldens/onnx"
"$AOTGRAD" conformance "$SRC/tests/goldens" --onnx >"$TMP/oc" 2>&1 || fail "conformance --onnx: $(tail -3 "$TMP/oc")"
tail -n1 "$TMP/oc" | grep -q "^15 passed, 0 failed$" || fail "conformance --onnx summary: $(tail -n1 "$TMP/oc")"
"$AOTGRAD" export --onnx "$ONNX_DIR/conv_bn.onnx" --format compact >"$TMP/ox" 2>&1 || fail "export --onnx: $(cat "$TMP/ox")"
grep -q "} ONNX node: /bn/BatchNormalization$" "$TMP/ox" || fail "export --onnx lacks the ONNX node names"
"$AOTGRAD" export --onnx "$ONNX_DIR/conv_bn.onnx" >"$TMP/ox" 2>&1 || fail "export --onnx (expanded): $(cat "$TMP/ox")"
grep -q "InputMutationAOTOutput(mutated_input=BufferAOTInput(target='bn.running_var'))" "$TMP/ox" ||
  fail "export --onnx: the running statistics are not updated"
"$AOTGRAD" run --onnx "$ONNX_DIR/layernorm_gelu.onnx" --check >"$TMP/or" 2>&1 || fail "run --onnx --check: $(tail -3 "$TMP/or")"
"$AOTGRAD" partition --onnx "$ONNX_DIR/conv_variants.onnx" --report >"$TMP/op" 2>&1 || fail "partition --onnx: $(tail -3 "$TMP/op")"
"$AOTGRAD" bench --onnx "$ONNX_DIR/mlp_relu_ce.onnx" --forward --threads 1 --steps 3 >"$TMP/ob" 2>&1 ||
  fail "bench --onnx --forward: $(cat "$TMP/ob")"
# The per-node profile: each graph node of the forward by its median, and their sum.
"$AOTGRAD" bench --onnx "$ONNX_DIR/mlp_relu_ce.onnx" --forward --profile --threads 1 --steps 3 >"$TMP/ob" 2>&1 ||
  fail "bench --forward --profile: $(cat "$TMP/ob")"
for node in "aten.addmm.default addmm " "aten.addmm.default addmm_1 " "aten.relu.default relu "; do
  grep -q "^  $node" "$TMP/ob" || fail "bench --forward --profile lacks '$node': $(cat "$TMP/ob")"
done
grep -q "^  nodes' medians sum to [0-9.]* ms of the [0-9.]* ms forward$" "$TMP/ob" ||
  fail "bench --forward --profile lacks its total: $(cat "$TMP/ob")"
expect_error 1 "bench --profile: times inference node by node, so it needs --forward" \
  "$AOTGRAD" bench --onnx "$ONNX_DIR/mlp_relu_ce.onnx" --profile
DIGITS="$SRC/tests/data/onnx/digits_mlp.onnx"
expect_error 1 "input 'input_0' has unknown dimensions \[batch, 64\]" "$AOTGRAD" export --onnx "$DIGITS"
# The file's dim_param "batch" as a symbol: one export checked at every batch, and
# training on the epoch's last, smaller batch without --input-shape.
"$AOTGRAD" run --onnx "$DIGITS" --input-shape input_0=8,64 --check --dynamic batch --batches 2,3,64,257 >"$TMP/od" 2>&1 ||
  fail "run --onnx --check --dynamic: $(tail -3 "$TMP/od")"
grep -q "^traces: 1; sizes compiled: 5" "$TMP/od" || fail "run --onnx --dynamic traced again: $(tail -1 "$TMP/od")"
grep -q -- "-> (f32\[s0, 10\] PlainAOTOutput(idx=0))" "$TMP/od" || fail "the signature's symbolic output: $(head -1 "$TMP/od")"
expect_error 1 "no input dim of .*digits_mlp.onnx is named 'nope' (its dim_params: batch)" "$AOTGRAD" run --onnx "$DIGITS" \
  --input-shape input_0=8,64 --check --dynamic nope
"$AOTGRAD" train --onnx "$DIGITS" --batch 100 --epochs 1 >"$TMP/odt" 2>&1 || fail "train --onnx --batch: $(tail -3 "$TMP/odt")"
grep -q "after 15 steps" "$TMP/odt" || fail "train --onnx on 1437 samples in batches of 100: $(tail -2 "$TMP/odt")"
grep -q "one export (1 trace(s)), its compiled step serving 2 batch size(s)" "$TMP/odt" ||
  fail "train --onnx: one compiled step for both batch sizes: $(tail -2 "$TMP/odt")"
# Inference at 2 threads: one program per thread on its share of the batch, unless told not to.
AOTGRAD_NUM_THREADS=2 "$AOTGRAD" bench --model digits_mlp --forward --threads 2 --steps 3 \
  >"$TMP/obs" 2>&1 || fail "bench --forward at 2 threads: $(cat "$TMP/obs")"
awk 'NR == 2 && $2 == 2 && $6 == 2 { ok = 1 } END { exit !ok }' "$TMP/obs" ||
  fail "bench --forward at 2 threads: not run in 2 batch shares: $(cat "$TMP/obs")"
AOTGRAD_NUM_THREADS=2 "$AOTGRAD" bench --model digits_mlp --forward --threads 2 --steps 3 \
  --no-batch-shares >"$TMP/obs" 2>&1 || fail "bench --forward --no-batch-shares: $(cat "$TMP/obs")"
grep -q "one program for the whole batch: batch shares are turned off" "$TMP/obs" ||
  fail "bench --forward --no-batch-shares: $(cat "$TMP/obs")"
expect_error 1 "--input-shape nope: no graph input has that name (they are: input_0)" "$AOTGRAD" run --onnx "$DIGITS" \
  --input-shape nope=8,64 --check
expect_error 1 "--freeze nope: no trainable initializer" "$AOTGRAD" train --onnx "$DIGITS" --input-shape input_0=64,64 --freeze nope
"$AOTGRAD" train --onnx "$DIGITS" --input-shape input_0=64,64 --epochs 4 --freeze fc1.bias --save "$TMP/trained.onnx" \
  >"$TMP/ot" 2>&1 || fail "train --onnx: $(tail -3 "$TMP/ot")"
acc=$(sed -n 's/.*test accuracy \([0-9.]*\) %.*/\1/p' "$TMP/ot")
awk -v a="$acc" 'BEGIN { exit !(a > 90) }' || fail "train --onnx: test accuracy $acc %, expected over 90 %"
"$AOTGRAD" run --onnx "$TMP/trained.onnx" --input-shape input_0=64,64 --check >/dev/null 2>&1 || fail "the trained file does not load"
cp "$TMP/trained.onnx" "$TMP/keep.onnx"
expect_error 1 "" "$AOTGRAD" train --onnx "$DIGITS" --input-shape input_0=64,64 --steps 1 --save "$TMP/nodir/x.onnx"
cmp -s "$TMP/trained.onnx" "$TMP/keep.onnx" || fail "a failed save changed another file"
printf 'not onnx' >"$TMP/bad.onnx"
expect_error 1 "is not an ONNX model" "$AOTGRAD" run --onnx "$TMP/bad.onnx" --check
head -c 500 "$ONNX_DIR/conv_bn.onnx" >"$TMP/cut.onnx"
"$AOTGRAD" run --onnx "$TMP/cut.onnx" >/dev/null 2>"$TMP/err"
[ $? -eq 1 ] || fail "a truncated ONNX file: $(cat "$TMP/err")"
if [ -d /usr/share/libonnx-testdata/data/node ]; then
  "$AOTGRAD" onnx-test /usr/share/libonnx-testdata/data/node/test_relu /usr/share/libonnx-testdata/data/node/test_acos \
    --list >"$TMP/ot2" 2>&1 || fail "onnx-test: $(cat "$TMP/ot2")"
  grep -q "UNSUPPORTED test_acos .*unsupported op type Acos" "$TMP/ot2" || fail "onnx-test --list: $(cat "$TMP/ot2")"
fi

# The GEMM benchmark: every distinct product of a step, both libraries' rates.
"$AOTGRAD" bench --gemm --model mlp_small --threads 1 >"$TMP/gemm" 2>&1 || fail "bench --gemm: $(cat "$TMP/gemm")"
[ "$(grep -c '^mlp_small .*[0-9.]x$' "$TMP/gemm")" -eq 8 ] || fail "bench --gemm: mlp_small makes 8 distinct products: $(cat "$TMP/gemm")"
grep -q "^mlp_small *1 NT *64 *10 *128 *1 *addmm" "$TMP/gemm" || fail "bench --gemm: the classifier's product: $(cat "$TMP/gemm")"
"$AOTGRAD" bench --gemm --model convnet --threads 1 --json >"$TMP/gemmc" 2>&1 || fail "bench --gemm convnet: $(cat "$TMP/gemmc")"
for what in "conv forward" "conv input grad" "conv weight grad"; do
  grep -q "\"from\": \"$what\"" "$TMP/gemmc" || fail "bench --gemm: no $what product: $(cat "$TMP/gemmc")"
done

# Symbolic shapes (docs/SYMBOLIC_SHAPES.md): one export, checked against eager at
# every size; the guards printed; a dim the model fixes names the op; training on the
# epoch's last, smaller batch with the same compiled step.
"$AOTGRAD" run --model transformer_block --check --dynamic batch --dynamic x:1 --dynamic target:1 --batches 1,3 \
  --seq-lens 17,64 >"$TMP/dyn" 2>&1 || fail "run --check --dynamic: $(tail -3 "$TMP/dyn")"
grep -q "^traces: 1; sizes compiled: 5" "$TMP/dyn" || fail "run --check --dynamic traced again: $(tail -1 "$TMP/dyn")"
[ "$(grep -c "match eager" "$TMP/dyn")" -eq 4 ] || fail "run --check --dynamic: $(cat "$TMP/dyn")"
"$AOTGRAD" export --model transformer_block --dynamic batch --dynamic x:1 --dynamic target:1 --format json \
  -o "$TMP/dyn.json" || fail "export --dynamic --format json"
"$AOTGRAD" print "$TMP/dyn.json" >"$TMP/dyn.txt" 2>&1 || fail "print a symbolic graph: $(cat "$TMP/dyn.txt")"
grep -q '# Guards: s1 <= 64' "$TMP/dyn.txt" || fail "the symbolic graph's guards: $(head -20 "$TMP/dyn.txt")"
grep -q 'primals_18: "f32\[s0, s1, 128\]"' "$TMP/dyn.txt" || fail "the symbolic graph's sizes"
"$AOTGRAD" export --model mlp_small --dynamic x:1 >/dev/null 2>"$TMP/err" && fail "export --dynamic x:1 succeeded"
grep -q "dim 1 of input 'primals_7.* is fixed at 64 by aten::addmm" "$TMP/err" || fail "a fixed dim: $(cat "$TMP/err")"
expect_error 1 "the model has no input 'y'" "$AOTGRAD" export --model mlp_small --dynamic y:0
"$AOTGRAD" train --model digits_mlp --batch 100 --epochs 1 >"$TMP/train" 2>&1 || fail "train: $(cat "$TMP/train")"
grep -q "after 15 steps" "$TMP/train" || fail "train on 1437 samples in batches of 100: $(tail -2 "$TMP/train")"
grep -q "one export (1 trace(s)), its compiled step serving 2 batch size(s)" "$TMP/train" ||
  fail "train's last batch: $(tail -2 "$TMP/train")"

[ "$failures" -eq 0 ] && echo "all CLI checks passed"
exit "$failures"
