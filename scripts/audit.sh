#!/usr/bin/env bash
# Dependency checks with cargo-deny (policy in deny.toml): licences, banned or duplicated
# crates, sources other than the registry, and, when the RustSec advisory database can be
# fetched, known vulnerabilities and unmaintained or yanked crates. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -qF "$VERSION"; then
  echo "audit: installing cargo-deny $VERSION" >&2
  cargo install cargo-deny --version "$VERSION" --locked
fi

cargo deny check --show-stats licenses bans sources
echo >&2

# The database is a git repository that cargo-deny clones; offline machines cannot have it.
if timeout 120 cargo deny fetch db >/dev/null 2>&1; then
  cargo deny check --show-stats advisories
else
  echo "audit: advisories NOT checked: the RustSec advisory database could not be fetched" >&2
fi
