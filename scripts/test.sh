#!/usr/bin/env bash
# Every test, in the order a failure is cheapest to find. `make test` runs setup and the model
# fetch first; this script assumes both.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*" >&2; }

step "python venv with zipnn 0.5.4 (reference for the interop tests)"
scripts/setup-python.sh

step "format and lints"
cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib --quiet
# Private items too: their links go stale where nothing public points at them.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib --quiet --document-private-items

step "the codec core without std (no_std + alloc, as a dependency builds it)"
cargo build --release --lib --no-default-features --quiet

step "the library for wasm32 without its JS API (a crate that makes its own wasm module)"
scripts/cargo-wasm check --lib --no-default-features --features std --quiet

step "dependency audit (cargo-deny)"
scripts/audit.sh

step "native tests"
ZIPNN_REQUIRED=1 cargo test --release

step "wasm tests in node"
scripts/cargo-wasm test --release --test wasm

step "wasm tests in headless chromium"
# The runner's budget for the whole suite is 20 s by default; a quiet run takes 10-18 s here.
CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_USE_BROWSER=1 WASM_BINDGEN_TEST_TIMEOUT=180 \
  scripts/cargo-wasm test --release --test wasm

step "npm package: node, chromium and workerd"
make --no-print-directory build
scripts/test-js.sh

for extra in scripts/test-page.sh scripts/test-integrations.sh scripts/fuzz-smoke.sh; do
  step "$extra"
  "$extra"
done
step "all tests passed"
