#!/usr/bin/env bash
# The main job: the web page (www/) with its embedded sample model, served on 127.0.0.1
# (scripts/serve.mjs; PORT picks the port, 0 a free one).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node scripts/serve.mjs
