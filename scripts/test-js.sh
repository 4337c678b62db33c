#!/usr/bin/env bash
# JS package tests, each as a user would run them: `npm pack` pkg/, install the tarball into a
# fresh project outside the repo (target/js-test/), then node's test runner over tests/js/*.test.mjs
# (node API, streams, fetchModel over local HTTP, the npx CLI, headless Chromium via Playwright,
# workerd). Assumes `make build` and `scripts/fetch-models.sh` ran; everything binds 127.0.0.1.
#   scripts/test-js.sh                 all tests
#   scripts/test-js.sh browser workerd only the files whose names contain these words
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/target/js-test
TOOLS=$ROOT/tools/node_modules

for f in pkg/dist/zipnn_wasm.js pkg/dist/zipnn_wasm_bg.wasm target/release/zipnn models/minilm.bf16.safetensors models/minilm.fp32.safetensors; do
  [ -e "$f" ] || { echo "test-js: $f is missing (run make build and scripts/fetch-models.sh)" >&2; exit 1; }
done
for t in playwright-core workerd; do
  [ -d "$TOOLS/$t" ] || { echo "test-js: tools/node_modules/$t is missing (run scripts/setup.sh)" >&2; exit 1; }
done

# (fixtures/ stays: its large files are made again only for a new CLI)
rm -rf "$WORK/pack" "$WORK/project"
mkdir -p "$WORK/pack" "$WORK/project" "$WORK/fixtures"

# 1. The tarball, installed by name into a project that knows nothing of the repo.
(cd pkg && npm pack --silent --pack-destination "$WORK/pack" >/dev/null)
tarball=$(ls "$WORK"/pack/zipnn-wasm-*.tgz)
echo "test-js: packed $(basename "$tarball") ($(stat -c %s "$tarball") bytes)"
cat > "$WORK/project/package.json" <<'JSON'
{ "name": "zipnn-wasm-js-test", "private": true, "type": "module" }
JSON
(cd "$WORK/project" && npm install --silent --offline --no-audit --no-fund --no-package-lock "$tarball")
cp tests/js/*.mjs "$WORK/project/"

# 2. Fixtures compressed with the native CLI.
for k in bf16 fp32; do
  target/release/zipnn compress models/minilm.$k.safetensors -o "$WORK/fixtures/minilm.$k.safetensors.znw" --force
done
target/release/zipnn compress models/gemma-270m.kquants.gguf -o "$WORK/fixtures/gemma-270m.kquants.gguf.znw" --force
# ZipNN's streaming layout (frames of 1 MiB), for the worker pool in a browser.
target/release/zipnn compress models/minilm.bf16.safetensors --format zipnn --dtype bf16 \
  --streaming-chunk 1048576 -o "$WORK/fixtures/minilm.bf16.znn" --force
cp models/minilm.bf16.safetensors "$WORK/fixtures/"
# A delta: minilm with 8 more bytes of JSON header (every tensor moved) against minilm.
python3 - models/minilm.bf16.safetensors "$WORK/fixtures/moved.safetensors" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
open(sys.argv[2], 'wb').write(struct.pack('<Q', n + 8) + b[8:8 + n] + b' ' * 8 + b[8 + n:])
PY
target/release/zipnn compress "$WORK/fixtures/moved.safetensors" --base models/minilm.bf16.safetensors \
  -o "$WORK/fixtures/moved.safetensors.znw" --force
# The large fixtures below are made again only when missing or older than the CLI.
stale() { [ ! -s "$1" ] || [ target/release/zipnn -nt "$1" ]; }
# 2.2 GB of zeros (11 KB compressed): decoding beyond 2 GiB.
if stale "$WORK/fixtures/zeros-2.2G.znw"; then
  head -c 2200000000 /dev/zero | target/release/zipnn compress - --chunk-size 4194304 -o "$WORK/fixtures/zeros-2.2G.znw.part" --force
  mv "$WORK/fixtures/zeros-2.2G.znw.part" "$WORK/fixtures/zeros-2.2G.znw"
fi
# 1.1 GB of random bytes as one ZipNN frame, stored as they are: a compressed frame over
# 1 GiB, held whole while it streams. Its decoded sha256 from the native CLI (written last: it
# marks the pair made).
if stale "$WORK/fixtures/random-1.1G.sha256"; then
  rm -f "$WORK/fixtures/random-1.1G.sha256"
  head -c 1100000000 /dev/urandom | target/release/zipnn compress - --format zipnn --dtype bf16 \
    -o "$WORK/fixtures/random-1.1G.znn" --force
  target/release/zipnn decompress "$WORK/fixtures/random-1.1G.znn" -o - | sha256sum | cut -d' ' -f1 \
    > "$WORK/fixtures/random-1.1G.sha256.part"
  mv "$WORK/fixtures/random-1.1G.sha256.part" "$WORK/fixtures/random-1.1G.sha256"
fi
# 1.5 GB of zeros as one ZipNN frame (no streaming layout), as zipnn writes by default.
if stale "$WORK/fixtures/zeros-1.5G.znn"; then
  head -c 1500000000 /dev/zero | target/release/zipnn compress - --format zipnn --dtype bf16 \
    -o "$WORK/fixtures/zeros-1.5G.znn.part" --force
  mv "$WORK/fixtures/zeros-1.5G.znn.part" "$WORK/fixtures/zeros-1.5G.znn"
fi

# 3. The tests (node's runner; its summary lines end the output).
export ZNN_REPO=$ROOT ZNN_FIXTURES=$WORK/fixtures ZNN_TOOLS=$TOOLS ZNN_WORK=$WORK
files=()
if [ $# -eq 0 ]; then
  files=("$WORK"/project/*.test.mjs)
else
  for w in "$@"; do files+=("$WORK"/project/*"$w"*.test.mjs); done
fi
cd "$WORK/project"
node --test --test-reporter=spec --test-concurrency=1 "${files[@]}"
