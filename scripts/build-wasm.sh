#!/usr/bin/env bash
# Builds the wasm module and its JS glue into pkg/dist/, optimised with binaryen's wasm-opt:
# zipnn_wasm_bg.wasm with simd128 (what every current host runs) and zipnn_wasm_nosimd_bg.wasm
# without it, for hosts that reject SIMD (the package picks one at load; same JS glue).
set -euo pipefail
cd "$(dirname "$0")/.."
FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)
OPT=tools/node_modules/.bin/wasm-opt

scripts/cargo-wasm rustc --release --lib --quiet --crate-type cdylib
mkdir -p pkg/dist
wasm-bindgen --target web --out-dir pkg/dist --out-name zipnn_wasm --no-typescript \
  target/wasm/wasm32-unknown-unknown/release/zipnn_wasm.wasm
"$OPT" -O3 --enable-simd "${FEATURES[@]}" pkg/dist/zipnn_wasm_bg.wasm -o pkg/dist/zipnn_wasm_bg.wasm

# The same crate without simd128 (std too: -Zbuild-std takes RUSTFLAGS), in its own target dir.
# RUSTFLAGS replaces the config's `+simd128`.
CARGO_TARGET_DIR=target/wasm-nosimd RUSTFLAGS="-C target-feature=-simd128" \
  scripts/cargo-wasm rustc --release --lib --quiet --crate-type cdylib
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target web --out-dir "$tmp" --out-name zipnn_wasm --no-typescript \
  target/wasm-nosimd/wasm32-unknown-unknown/release/zipnn_wasm.wasm
# One glue serves both modules only if the bindings are identical.
cmp -s "$tmp/zipnn_wasm.js" pkg/dist/zipnn_wasm.js || {
  echo "build-wasm: the no-SIMD build's JS glue differs from the SIMD build's" >&2
  exit 1
}
"$OPT" -O3 "${FEATURES[@]}" "$tmp/zipnn_wasm_bg.wasm" -o pkg/dist/zipnn_wasm_nosimd_bg.wasm
# wasm-opt does not refuse SIMD it was not told to enable: look for any v128 type or op.
# (disassembled first: a failing wasm-dis in the pipe would read as "no SIMD")
tools/node_modules/.bin/wasm-dis pkg/dist/zipnn_wasm_nosimd_bg.wasm -o "$tmp/nosimd.wat"
simd=$(grep -cE 'v128|[if](8x16|16x8|32x4|64x2)' "$tmp/nosimd.wat" || true)
[ "$simd" = 0 ] || { echo "build-wasm: the no-SIMD module has $simd SIMD lines" >&2; exit 1; }

for f in pkg/dist/zipnn_wasm_bg.wasm pkg/dist/zipnn_wasm_nosimd_bg.wasm; do
  echo "wasm: $f $(stat -c %s "$f") bytes ($(gzip -9c "$f" | wc -c) gzipped)" >&2
done
