#!/usr/bin/env bash
# `make bench-peers`: our codec against zipnn 0.5.4, zstd and byte grouping + zstd on the
# pinned real-model corpus, in one run; writes bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh >/dev/null
.venv/bin/python -c 'import zstandard' 2>/dev/null || .venv/bin/pip install -q zstandard==0.25.0
out=$(mktemp)
.venv/bin/python bench/peers.py > "$out"
{
  echo "# Peer benchmark"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -m)."
  echo "Ratio = compressed / original (lower is better); MB/s = original MB/s, one thread unless noted."
  echo "\`zipnn-wasm\` uses \`--dtype auto\` (containers understood, raw files measured); \`--best\` adds tANS."
  echo "Produced by \`make bench-peers\` (bench/peers.py)."
  echo
  cat "$out"
} > bench/RESULTS.md
cat bench/RESULTS.md
rm -f "$out"
