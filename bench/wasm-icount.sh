#!/usr/bin/env bash
# Instructions per wasm `decompressInto` call, counted by callgrind on node: repeatable to about
# 1 % where wall-clock time on this shared machine swings by ±30 %. V8 runs TurboFan code only
# (--no-liftoff --no-wasm-tier-up): with tier-up, how much of a run executes baseline code
# varies, and the counts with it. Per call = (3 calls − 1 call) / 2, so start-up and
# compilation cancel. Compare builds (e.g. `--pkg DIR` of an experimental build); method and
# results in bench/NOTES.md.
#
#   bench/wasm-icount.sh [--pkg DIR] FILE.znw [FILE.znw...]      (needs valgrind; ~20 s per count)
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=pkg/dist
if [ "${1:-}" = --pkg ]; then pkg=$2; shift 2; fi
[ $# -gt 0 ] || { sed -n 2,9p "$0" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "wasm-icount: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
loop=$(mktemp --suffix=.mjs)
trap 'rm -f "$loop"' EXIT
cat > "$loop" <<'JS'
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
const [pkg, file, n] = process.argv.slice(2);
const glue = await import(pathToFileURL(path.resolve(pkg, 'zipnn_wasm.js')).href);
await glue.default({ module_or_path: fs.readFileSync(path.resolve(pkg, 'zipnn_wasm_bg.wasm')) });
const packed = new Uint8Array(fs.readFileSync(file));
const target = new Uint8Array(glue.decompress(packed).length);
for (let i = 0; i < Number(n); i++) glue.decompressInto(packed, target);
JS
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    node --no-liftoff --no-wasm-tier-up "$loop" "$pkg" "$1" "$2" 2>&1 |
    sed -n 's/.*I *refs: *//p' | tr -d ,
}
for f in "$@"; do
  one=$(count "$f" 1)
  three=$(count "$f" 3)
  echo "$f: $(( (three - one) / 2 / 1000000 )) M instructions per decompressInto call ($pkg)"
done
