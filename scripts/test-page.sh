#!/usr/bin/env bash
# The web page's end-to-end tests: starts scripts/serve.mjs on a free port (127.0.0.1), drives
# www/ in headless Debian Chromium through Playwright (tests/page/page.test.mjs), and stops the
# server whatever happens. Assumes `make build` and the models (scripts/fetch-models.sh).
# Screenshots go to test-artifacts/ (page.png, page-phone.png). The last line is "N passed, N failed".
#   scripts/test-page.sh             all tests
#   ZNN_PAGE_ONLY=sample scripts/test-page.sh    only tests whose names contain "sample"
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

missing=0
for f in target/release/zipnn pkg/index.js pkg/dist/zipnn_wasm.js pkg/dist/zipnn_wasm_bg.wasm \
  tools/node_modules/playwright-core/index.mjs /usr/bin/chromium \
  models/silero_vad_16k.safetensors models/silero_vad.onnx models/silero_vad_half.onnx \
  models/silero_vad_16k_op15.onnx models/silero_vad_16k_sequence.onnx models/minilm.bf16.bin \
  models/minilm.fp32.safetensors models/minilm.bf16.safetensors models/face_detection_full_range_sparse.tflite; do
  if [ ! -e "$f" ]; then
    echo "test-page: $f is missing (run make build, scripts/fetch-models.sh and scripts/setup.sh)" >&2
    missing=1
  fi
done
[ "$missing" = 0 ] || exit 1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/zipnn-page.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# PORT=0: the system picks a free port; the server prints the URL once it listens (after
# preparing www/sample/ with the CLI when needed).
PORT=0 node scripts/serve.mjs >"$WORK/server.out" 2>"$WORK/server.err" &
server_pid=$!
url=
for _ in $(seq 1 1200); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$WORK/server.out" || true)
  [ -n "$url" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "test-page: the server exited:" >&2
    cat "$WORK/server.err" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "test-page: the server did not start within 120 s" >&2
  cat "$WORK/server.err" >&2
  exit 1
fi
echo "test-page: server at $url"

mkdir -p test-artifacts
status=0
BASE_URL=$url ZNN_SERVER_PID=$server_pid ZNN_REPO=$ROOT ZNN_WORK=$WORK ZNN_ARTIFACTS=$ROOT/test-artifacts \
  node tests/page/page.test.mjs 2>&1 | tee "$WORK/results.txt" || status=$?
summary=$(tail -n 1 "$WORK/results.txt")
if ! grep -Eq '^[0-9]+ passed, [0-9]+ failed$' <<<"$summary"; then
  # The runner died before its summary (a browser that would not start, say).
  [ "$status" != 0 ] || status=1
  summary="0 passed, 1 failed"
fi
if [ "$status" != 0 ]; then
  if [ -s "$WORK/server.err" ]; then
    echo "test-page: server log:"
    cat "$WORK/server.err"
  fi
  echo "$summary"
fi
exit "$status"
