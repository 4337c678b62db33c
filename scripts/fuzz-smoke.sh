#!/usr/bin/env bash
# A short run of every fuzz target (fuzz/README.md), from corpora seeded here from real files:
# catches a decoder that panics, loops or over-allocates on inputs near the seeds. Run by
# `make test` (scripts/test.sh); about 3 minutes on 2 cores, build included.
#
# Installs cargo-fuzz 0.13.2 (and a nightly toolchain) when missing; exits non-zero on any
# crash, timeout or heap-budget abort, leaving the input in fuzz/artifacts/smoke/.
# FUZZ_SMOKE_SECONDS (default 10) sets the time per target.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${FUZZ_SMOKE_SECONDS:-10}
TARGETS=(decompress stream_decode auto_stream huff0_decode fse_decode block_decode zipnn_decode
  znn_safetensors parsers containers roundtrip_znw roundtrip_zipnn roundtrip_stream roundtrip_sized
  huff0_oracle roundtrip_delta)

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing a nightly toolchain (cargo-fuzz needs it)" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -q '0\.13\.2'; then
  echo "fuzz-smoke: installing cargo-fuzz 0.13.2" >&2
  cargo install cargo-fuzz --version 0.13.2 --locked
fi

fuzz/seed.sh --quick

# No sanitizer and 16 codegen units: a quicker build (the library's one unsafe call is a CPU
# feature dispatch, nothing a sanitizer checks; the targets' own allocator enforces the heap
# budget). Long runs use fuzz/run.sh (AddressSanitizer).
# Built from outside the tree: the repository's .cargo/config.toml enables -Zbuild-std.
TARGET_DIR=$ROOT/fuzz/target/smoke
start=$(date +%s)
(cd /tmp && cargo +nightly fuzz build -O -s none --codegen-units 16 \
  --fuzz-dir "$ROOT/fuzz" --target-dir "$TARGET_DIR")
echo "fuzz-smoke: built in $(($(date +%s) - start)) s" >&2

ART=$ROOT/fuzz/artifacts/smoke
mkdir -p "$ART"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
failed=()
for t in "${TARGETS[@]}"; do
  bin=$TARGET_DIR/x86_64-unknown-linux-gnu/release/$t
  set +e
  # A scratch corpus directory first: new units go there, the seeds stay as they are.
  scratch=$(mktemp -d)
  nice -n 19 "$bin" "$scratch" "fuzz/corpus/$t" -max_total_time="$SECS" -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$ART/$t-" >"$LOG" 2>&1
  rc=$?
  set -e
  rm -rf "$scratch"
  stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$LOG" | tail -1 |
    sed -E 's/^#([0-9]+)[[:space:]]+DONE[[:space:]]+(cov: [0-9]+ ft: [0-9]+).*/\1 runs, \2/' || true)
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    echo "fuzz-smoke: $t FAILED (exit $rc):" >&2
    grep -E 'panicked|ERROR|budget|SUMMARY|Test unit written|Base64' "$LOG" | head -20 >&2
  else
    printf 'fuzz-smoke: %-17s ok   %s\n' "$t" "$stats" >&2
  fi
done
echo "fuzz-smoke: total $(($(date +%s) - start)) s" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: crashes in: ${failed[*]} (inputs in fuzz/artifacts/smoke/)" >&2
  exit 1
fi
