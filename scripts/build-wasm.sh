#!/usr/bin/env bash
# Builds the wasm module and its JS glue into pkg/dist/, optimised with binaryen's wasm-opt.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/cargo-wasm build --release --lib --quiet
mkdir -p pkg/dist
wasm-bindgen --target web --out-dir pkg/dist --out-name zipnn_wasm --no-typescript \
  target/wasm/wasm32-unknown-unknown/release/zipnn_wasm.wasm
tools/node_modules/.bin/wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/dist/zipnn_wasm_bg.wasm -o pkg/dist/zipnn_wasm_bg.wasm
size=$(stat -c %s pkg/dist/zipnn_wasm_bg.wasm)
gz=$(gzip -9c pkg/dist/zipnn_wasm_bg.wasm | wc -c)
echo "wasm: pkg/dist/zipnn_wasm_bg.wasm $size bytes ($gz gzipped)" >&2
