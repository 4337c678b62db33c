#!/usr/bin/env bash
# setup-python.sh: the Python venv (.venv/) that holds the reference ZipNN and numpy.
#
#   scripts/setup-python.sh               numpy + safetensors + zipnn 0.5.4 (no torch): enough for
#                                         scripts/zipnn_roundtrip.py (byte input format)
#   scripts/setup-python.sh --numpy-only  just numpy (used by scripts/fetch-models.sh)
#   scripts/setup-python.sh --with-torch  adds the real torch (needed only to regenerate
#                                         tests/fixtures/zipnn with scripts/make_zipnn_fixtures.py)
# Idempotent: when every pinned package is already there at its pinned version, it does nothing.
#
# What we found (zipnn 0.5.4, 2 cores, Python 3.11):
# - zipnn 0.5.4 is on PyPI as an sdist only (zipnn-0.5.4.tar.gz, sha256 pinned below); pip builds the
#   C extension zipnn_core with gcc (~11 s). It needs Python.h and gcc, and setuptools in the venv
#   (setuptools >= 70 brings bdist_wheel, so no `wheel` package is needed with --no-build-isolation).
# - It declares numpy>=1.17, safetensors>=0.4 and torch>=2.0. `import zipnn` does need torch: zipnn.py
#   does `import torch` and `from safetensors.torch import safe_open` (which imports torch),
#   util_torch.py applies @torch.jit.script at import, and ZipNNDtypeEnum holds torch dtypes.
#   But the byte input format calls no torch function: compress/decompress of bytes only run numpy
#   and zipnn_core. scripts/zipnn_roundtrip.py therefore puts a tiny placeholder `torch` module in
#   sys.modules when the real one is missing (placeholders are not callable, so any real torch use
#   fails loudly). Its byte-format output was checked byte-identical to the one made with the real
#   torch 2.15.0 (fp32/fp16/bf16/fp8, plain, streaming, 64 KiB chunks).
# - input_format='torch' (and the .znn.safetensors path) really needs torch. PyPI's Linux x86_64
#   torch wheels are CUDA builds: `pip install torch==2.15.0 --no-deps` (539 MB wheel) installs,
#   but `import torch` then fails with "ValueError: libcublasLt.so.*[0-9] not found in the system
#   path": libtorch_cpu.so itself has DT_NEEDED libcudart.so.13 and libcupti.so.13, and
#   libtorch_python.so/libtorch_cuda.so need cuBLAS, cuDNN, cuFFT, cuSPARSE(Lt), NCCL, NVSHMEM,
#   cuFile and NVRTC, so no small subset of the nvidia-* wheels works. There is no CPU-only torch on
#   PyPI, and Debian 12's python3-torch is 1.13 (no float8 dtypes, and zipnn wants >=2.0). So
#   --with-torch installs the full torch==2.15.0 with its CUDA wheels.
# - Measured here: minimal venv (numpy + safetensors + zipnn): 100 MB, ~6 s for the wheels + ~11 s
#   to build zipnn (~25 s in all); a rerun that finds everything in place takes 0.1 s. --with-torch:
#   +5.3 GB (nvidia 3.0 GB, torch 1.2 GB, triton 1.0 GB), 90-125 s here; its rerun check imports
#   torch (~3 s).
#   A CPU run of torch needs none of the CUDA libraries at run time, they only have to load.
set -euo pipefail
cd "$(dirname "$0")/.."

NUMPY_VERSION=2.4.6
SAFETENSORS_VERSION=0.8.0
SETUPTOOLS_VERSION=84.2.1
ZIPNN_VERSION=0.5.4
ZIPNN_SDIST=zipnn-0.5.4.tar.gz
ZIPNN_SDIST_SHA256=abf45dbf41838f83aa2601dfb59c856b557b1df9c07cc243d93098ed889ce650
TORCH_VERSION=2.15.0

VENV=.venv
PY="$VENV/bin/python"
mode=zipnn
case "${1:-}" in
  "") ;;
  --numpy-only) mode=numpy ;;
  --with-torch) mode=torch ;;
  *) echo "usage: $0 [--numpy-only|--with-torch]" >&2; exit 2 ;;
esac

log() { echo "setup-python: $*" >&2; }

# have PKG==VER...: exit 0 when every distribution is installed at exactly that version.
have() {
  [ -x "$PY" ] || return 1
  "$PY" - "$@" <<'EOF' 2>/dev/null
import sys
from importlib import metadata
for spec in sys.argv[1:]:
    name, version = spec.split("==")
    try:
        if metadata.version(name) != version:
            sys.exit(1)
    except metadata.PackageNotFoundError:
        sys.exit(1)
EOF
}

apt_install() {
  if command -v apt-get >/dev/null; then
    log "apt-get install $*"
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive dpkg --configure -a
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    log "missing $* and no apt-get; install them by hand"
    exit 1
  fi
}

pip_q() { "$PY" -m pip install -q --disable-pip-version-check --no-input "$@"; }

want=("numpy==$NUMPY_VERSION")
[ "$mode" = numpy ] || want+=("safetensors==$SAFETENSORS_VERSION" "zipnn==$ZIPNN_VERSION")
[ "$mode" = torch ] && want+=("torch==$TORCH_VERSION")
if have "${want[@]}" && { [ "$mode" = numpy ] || "$PY" -c 'import zipnn_core' 2>/dev/null; } \
   && { [ "$mode" != torch ] || "$PY" -c 'import torch' 2>/dev/null; }; then
  exit 0
fi

# 1. the venv itself (Debian's python3 needs python3-venv for ensurepip)
if ! "$PY" -m pip --version >/dev/null 2>&1; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
fi

# 2. numpy (wheel)
if ! have "numpy==$NUMPY_VERSION"; then
  log "pip install numpy==$NUMPY_VERSION"
  pip_q "numpy==$NUMPY_VERSION"
fi
[ "$mode" = numpy ] && exit 0

# 3. zipnn from its sdist (hash-checked), built against the venv's setuptools, without deps
if ! have "safetensors==$SAFETENSORS_VERSION"; then
  log "pip install safetensors==$SAFETENSORS_VERSION"
  pip_q "safetensors==$SAFETENSORS_VERSION"
fi
if ! have "zipnn==$ZIPNN_VERSION" || ! "$PY" -c 'import zipnn_core' 2>/dev/null; then
  command -v gcc >/dev/null || apt_install gcc
  inc=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  [ -e "$inc/Python.h" ] || apt_install python3-dev
  have "setuptools==$SETUPTOOLS_VERSION" || pip_q "setuptools==$SETUPTOOLS_VERSION"
  cache="$VENV/sdist-cache"
  mkdir -p "$cache"
  sdist="$cache/$ZIPNN_SDIST"
  if [ ! -f "$sdist" ] || [ "$(sha256sum "$sdist" | cut -d' ' -f1)" != "$ZIPNN_SDIST_SHA256" ]; then
    rm -f "$sdist"
    log "pip download zipnn==$ZIPNN_VERSION (sdist)"
    "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary zipnn -d "$cache" "zipnn==$ZIPNN_VERSION"
  fi
  got=$(sha256sum "$sdist" | cut -d' ' -f1)
  if [ "$got" != "$ZIPNN_SDIST_SHA256" ]; then
    log "sha256 mismatch for $ZIPNN_SDIST: got $got, want $ZIPNN_SDIST_SHA256"
    rm -f "$sdist"
    exit 1
  fi
  log "building zipnn $ZIPNN_VERSION"
  pip_q --no-deps --no-build-isolation --force-reinstall "$sdist"
fi

# 4. optional: the real torch (CUDA wheels from PyPI; see the notes above)
if [ "$mode" = torch ] && { ! have "torch==$TORCH_VERSION" || ! "$PY" -c 'import torch' 2>/dev/null; }; then
  log "pip install torch==$TORCH_VERSION (about 5.3 GB with its CUDA wheels)"
  pip_q "torch==$TORCH_VERSION"
fi

# 5. smoke test: a byte-format round trip through the installed zipnn
"$PY" scripts/zipnn_roundtrip.py selftest >/dev/null
