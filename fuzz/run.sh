#!/usr/bin/env bash
# Builds the fuzz targets (cargo-fuzz, nightly, AddressSanitizer, release with debug
# assertions) and runs one of them under libFuzzer for a while, niced, one job:
#
#   fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
#
# Corpus: fuzz/corpus/TARGET (run fuzz/seed.sh first); crashes: fuzz/artifacts/TARGET/;
# libFuzzer's log: fuzz/artifacts/TARGET/fuzz-0.log (its last lines are the final stats).
# Environment: SANITIZER (address | none, default address; none builds like
# scripts/fuzz-smoke.sh, into fuzz/target/smoke, and runs 2-20x faster), NICE (default 19).
set -euo pipefail
FUZZ=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]}
secs=${2:-300}
shift $(($# < 2 ? $# : 2))
san=${SANITIZER:-address}
build=(-O -s "$san")
tdir=$FUZZ/target
if [ "$san" = none ]; then
  build+=(--codegen-units 16 --target-dir "$FUZZ/target/smoke")
  tdir=$FUZZ/target/smoke
fi

# cargo reads .cargo/config.toml from the working directory upwards, and the repository's one
# turns on -Zbuild-std (for wasm32 builds on Debian's rustc): build from outside the tree.
(cd /tmp && nice -n "${NICE:-19}" cargo +nightly fuzz build "${build[@]}" --fuzz-dir "$FUZZ" "$target")

bin=$tdir/x86_64-unknown-linux-gnu/release/$target
mkdir -p "$FUZZ/corpus/$target" "$FUZZ/artifacts/$target"
cd "$FUZZ/artifacts/$target"
rm -f fuzz-0.log
set +e
nice -n "${NICE:-19}" "$bin" "$FUZZ/corpus/$target" \
  -jobs=1 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$FUZZ/artifacts/$target/" "$@" >/dev/null 2>&1
rc=$?
set -e
# The summary: libFuzzer's last status line and final statistics.
grep -E '^#[0-9]+.*(DONE|INITED)|^stat::|ERROR|panicked|SUMMARY|budget|Test unit written' fuzz-0.log |
  grep -vE 'stat::(new_units_added)' | tail -12
ls "$FUZZ/artifacts/$target" | grep -E '^(crash|oom|timeout|slow-unit|leak)-' || true
exit $rc
