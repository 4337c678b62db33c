#!/usr/bin/env bash
# The main job. Serves the web page when it exists; until then compresses and decompresses
# the bundled sample model with the CLI and prints ratio and speed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/serve.mjs ] || [ -f scripts/serve.mjs ]; then
  exec node scripts/serve.mjs
fi
model=models/minilm.bf16.safetensors
out=target/demo
mkdir -p "$out"
target/release/zipnn compress "$model" -o "$out/model.safetensors.znw" --force --verify
target/release/zipnn inspect "$out/model.safetensors.znw" | head -8
target/release/zipnn decompress "$out/model.safetensors.znw" -o "$out/model.safetensors" --force
cmp "$model" "$out/model.safetensors" && echo "round trip: byte-exact"
target/release/zipnn bench "$model"
