#!/usr/bin/env bash
# Installs everything the build and the tests need, idempotently, on a fresh Debian machine.
# Where a rustup wasm32 target already exists (a developer laptop), the Debian rustc-web route is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
have_rustup_wasm=0
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  have_rustup_wasm=1
fi
if [ "$have_rustup_wasm" = 0 ]; then
  [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ] || need_apt+=(rustc-web rust-web-src rust-web-llvm)
  [ -e /usr/bin/lld-22 ] || need_apt+=(lld-22)
fi
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    echo "setup: apt-get install ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing ${need_apt[*]} and no apt-get; install them by hand" >&2
    exit 1
  fi
fi

# wasm-bindgen-cli must equal the wasm-bindgen crate version pinned in Cargo.toml.
WBG=0.2.130
if ! command -v wasm-bindgen >/dev/null || ! wasm-bindgen --version | grep -q " $WBG"; then
  echo "setup: cargo install wasm-bindgen-cli $WBG" >&2
  cargo install -q wasm-bindgen-cli --version "$WBG"
fi

# npm tools (wasm-opt from binaryen, playwright-core, workerd) pinned in tools/package.json.
if [ ! -x tools/node_modules/.bin/wasm-opt ] || [ tools/package.json -nt tools/node_modules/.stamp ]; then
  echo "setup: npm install in tools/" >&2
  (cd tools && npm install --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
fi
