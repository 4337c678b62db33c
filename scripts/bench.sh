#!/usr/bin/env bash
# Speed against zipnn 0.5.4, natively and in wasm (node), on the real-model corpus (`make bench`
# runs setup, the model fetch and the builds first). Both benchmarks alternate their rounds with
# zipnn's, which runs in helper processes (bench/zipnn_bench.py), so the ratios compare numbers
# taken under the same load. Method and results: bench/NOTES.md.
#
#   scripts/bench.sh [FILE[:DTYPE]...]      default: minilm bf16/fp32/fp16 safetensors, english_g2 fp32
#
# Environment: BENCH_ROUNDS (default 5), BENCH_MIN_TIME (seconds per measurement and round,
# default 0.2), BENCH_NICE (e.g. -10, needs root: a larger share of a busy machine, for both
# sides alike), BENCH_ONLY=native|wasm, BENCH_NO_ZIPNN=1 (ours only).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${BENCH_ROUNDS:-5}"
min_time="${BENCH_MIN_TIME:-0.2}"
run=()
if [ -n "${BENCH_NICE:-}" ]; then run=(nice -n "$BENCH_NICE"); fi

# The ratios are the point: without zipnn only when asked.
zipnn=()
if [ -n "${BENCH_NO_ZIPNN:-}" ]; then
  zipnn=(--no-zipnn)
elif [ -z "${ZIPNN_PYTHON:-}" ]; then
  # The model fetch leaves a venv with numpy only; zipnn is added here (0.1 s once it is there).
  scripts/setup-python.sh >/dev/null
elif ! command -v "$ZIPNN_PYTHON" >/dev/null; then
  echo "bench: ZIPNN_PYTHON=$ZIPNN_PYTHON is not a program" >&2
  exit 1
fi

echo "# zipnn-wasm vs zipnn 0.5.4 ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
if [ "${BENCH_ONLY:-native}" != wasm ]; then
  echo
  echo "# native"
  cargo bench --bench codec --quiet --no-run >&2
  "${run[@]}" cargo bench --bench codec --quiet -- \
    --rounds "$rounds" --min-time "$min_time" --parts "${zipnn[@]}" "$@"
fi
if [ "${BENCH_ONLY:-wasm}" != native ]; then
  if [ ! -f pkg/dist/zipnn_wasm_bg.wasm ]; then
    echo "bench: pkg/dist missing, run make wasm" >&2
    exit 1
  fi
  echo
  echo "# wasm in node $(node --version)"
  "${run[@]}" node bench/wasm-bench.mjs --rounds "$rounds" --min-time "$min_time" "${zipnn[@]}" "$@"
  # The first decode in a fresh process, with and without the warm-up that init() schedules.
  cold=$(mktemp -d)
  trap 'rm -rf "$cold"' EXIT
  for k in bf16 fp32; do
    target/release/zipnn compress "models/minilm.$k.safetensors" -o "$cold/minilm.$k.znw" >/dev/null
  done
  "${run[@]}" node bench/cold-start.mjs "$cold/minilm.bf16.znw" "$cold/minilm.fp32.znw"
fi
