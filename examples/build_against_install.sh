#!/bin/sh
# Installs the build tree into a temporary prefix, builds examples/train_mlp against
# that installed package (find_package(aotgrad CONFIG)) and runs it.
#   examples/build_against_install.sh BUILD_DIR SOURCE_DIR
set -eu
BUILD=$1 SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cmake --install "$BUILD" --prefix "$TMP/prefix" >"$TMP/install.log"
cmake -S "$SRC/examples/train_mlp" -B "$TMP/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$TMP/prefix" >"$TMP/configure.log" || { cat "$TMP/configure.log"; exit 1; }
cmake --build "$TMP/build" >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log"; exit 1; }
"$TMP/build/train_mlp" >"$TMP/run.log" 2>&1 || { cat "$TMP/run.log"; exit 1; }
grep -q "^aotgrad [0-9]" "$TMP/run.log" || { echo "no version line"; cat "$TMP/run.log"; exit 1; }
grep -q "^rank 0 of 1$" "$TMP/run.log" || { echo "no rank line (aotgrad::dist)"; cat "$TMP/run.log"; exit 1; }
grep -q "ParamAOTInput(target='fc1.weight')" "$TMP/run.log" || { echo "no joint graph printed"; cat "$TMP/run.log"; exit 1; }
tail -n1 "$TMP/run.log"
echo "example built against the installed package and trained"
