#!/usr/bin/env bash
# Installs everything the build and the tests need, idempotently, on a fresh Debian machine.
# Where a rustup wasm32 target already exists (a developer laptop), the Debian rustc-web route is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# The machines this starts from have rustup's stable cargo and node (see README); say so early
# where they do not.
command -v cargo >/dev/null || { echo "setup: needs cargo (rustup's stable toolchain)" >&2; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || { echo "setup: needs node 20 or later with npm (found: ${node_major/#0/none})" >&2; exit 1; }
# The lints of scripts/test.sh (quick when both are there).
if command -v rustup >/dev/null && ! { cargo fmt --version && cargo clippy --version; } >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

need_apt=()
have_rustup_wasm=0
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  have_rustup_wasm=1
fi
if [ "$have_rustup_wasm" = 0 ]; then
  # (rust-lld, the wasm linker, comes with rust-web-llvm, only a recommendation of rustc-web)
  [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ] && [ -e /usr/bin/rust-lld ] ||
    need_apt+=(rustc-web rust-web-src rust-web-llvm)
  [ -e /usr/bin/lld-22 ] || need_apt+=(lld-22)
fi
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
# g++: libfuzzer-sys builds C++ for the fuzz smoke test; make and python3 run the rest.
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
command -v python3 >/dev/null || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    echo "setup: apt-get install ${need_apt[*]}" >&2
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    # (an earlier install cut short leaves dpkg waiting for this)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive dpkg --configure -a
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
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

# npm tools (wasm-opt from binaryen, playwright-core, workerd) as tools/package-lock.json pins
# them; the stamp is the lock's hash, written once they are all in.
lock=$(sha256sum <tools/package-lock.json | cut -d' ' -f1)
if [ "$(cat tools/node_modules/.stamp 2>/dev/null)" != "$lock" ]; then
  echo "setup: npm ci in tools/" >&2
  (cd tools && npm ci --no-audit --no-fund --loglevel=error && echo "$lock" >node_modules/.stamp)
fi
