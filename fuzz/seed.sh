#!/usr/bin/env bash
# Builds the seed corpora fuzz/corpus/<target>/ (gitignored, never committed) from real data:
# small slices of the models in models/ compressed with the release CLI (target/release/zipnn,
# built here if missing), ZipNN's own files in tests/fixtures/zipnn/, and a few small
# safetensors files assembled here. Targets that read control bytes first get seeds with a
# control prefix. Idempotent: existing corpus entries (including what fuzzing added) are kept;
# seeds are named by content hash.
#
#   fuzz/seed.sh            # all targets
#   fuzz/seed.sh --quick    # fewer, smaller seeds (scripts/fuzz-smoke.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CORPUS=$ROOT/fuzz/corpus
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1

CLI=$ROOT/target/release/zipnn
if [ ! -x "$CLI" ]; then
  echo "seed.sh: building the release CLI" >&2
  cargo build --release --bin zipnn >&2
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# put TARGET FILE [PREFIX-FILE]: copies FILE (after PREFIX-FILE's bytes) into the corpus.
put() {
  local target=$1 file=$2 prefix=${3:-}
  mkdir -p "$CORPUS/$target"
  if [ -n "$prefix" ]; then
    cat "$prefix" "$file" >"$TMP/put"
  else
    cat "$file" >"$TMP/put"
  fi
  local h
  h=$(sha1sum "$TMP/put" | cut -c1-16)
  mv "$TMP/put" "$CORPUS/$target/seed-$h"
}

# bytes OUT HEX...: writes raw bytes given as two-digit hex numbers.
bytes() {
  local out=$1
  shift
  local esc=""
  for b in "$@"; do esc+="\\x$b"; done
  printf "$esc" >"$out"
}

# slice FILE OFFSET LEN OUT
slice() {
  dd if="$1" of="$4" bs=65536 skip="$2" count="$3" iflag=skip_bytes,count_bytes status=none
}

u32at() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
u8at() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
le16() { printf '%02x %02x' $(($1 & 255)) $(($1 >> 8 & 255)); }

# mkst OUT SRC OFFSET: a small safetensors file: a BF16 [32,16] tensor, an F32 [64] tensor and
# an I64 [4] tensor taken from SRC at OFFSET, with __metadata__.
mkst() {
  local out=$1 src=$2 off=$3
  local json='{"__metadata__":{"format":"pt"},"a.weight":{"dtype":"BF16","shape":[32,16],"data_offsets":[0,1024]},"b.bias":{"dtype":"F32","shape":[64],"data_offsets":[1024,1280]},"c.ids":{"dtype":"I64","shape":[4],"data_offsets":[1280,1312]}}'
  while [ $((${#json} % 8)) -ne 0 ]; do json+=" "; done
  local n=${#json}
  # shellcheck disable=SC2046
  bytes "$out" $(le16 $n) 00 00 00 00 00 00
  printf '%s' "$json" >>"$out"
  slice "$src" "$off" 1312 "$TMP/stdata"
  cat "$TMP/stdata" >>"$out"
}

# mkst_moved OUT SRC OFFSET: mkst's tensors in a later checkpoint's layout: a longer header and
# the first two tensors swapped, so that both moved (seeds for the delta target).
mkst_moved() {
  local out=$1 src=$2 off=$3
  local json='{"__metadata__":{"format":"pt","step":"2"},"b.bias":{"dtype":"F32","shape":[64],"data_offsets":[0,256]},"a.weight":{"dtype":"BF16","shape":[32,16],"data_offsets":[256,1280]},"c.ids":{"dtype":"I64","shape":[4],"data_offsets":[1280,1312]}}'
  while [ $((${#json} % 8)) -ne 0 ]; do json+=" "; done
  # shellcheck disable=SC2046
  bytes "$out" $(le16 ${#json}) 00 00 00 00 00 00
  printf '%s' "$json" >>"$out"
  for part in "$((off + 1024)) 256" "$off 1024" "$((off + 1280)) 32"; do
    # shellcheck disable=SC2086
    slice "$src" $part "$TMP/stdata"
    cat "$TMP/stdata" >>"$out"
  done
}

BF16=models/minilm.bf16.bin
FP16=models/minilm.fp16.bin
F32=models/silero_vad.onnx.f32-stream.bin
F32B=models/english_g2.pth.f32-stream.bin
ONNX=models/silero_vad.onnx
have_models=1
for f in $BF16 $FP16 $F32 $ONNX; do [ -f "$f" ] || have_models=0; done
if [ $have_models = 0 ]; then
  echo "seed.sh: models/ missing (scripts/fetch-models.sh); seeding from fixtures only" >&2
fi

# ---- raw slices: (file, offset, length, dtype) ----------------------------------------------
RAW=()
if [ $have_models = 1 ]; then
  if [ $QUICK = 1 ]; then
    RAW=("$BF16 1048576 4096 bf16" "$FP16 2097152 2048 fp16" "$F32 65536 4096 fp32"
      "$ONNX 4096 2048 bytes")
  else
    RAW=("$BF16 1048576 4096 bf16" "$BF16 8388608 16384 bf16" "$BF16 20000000 1000 bf16"
      "$FP16 2097152 8192 fp16" "$FP16 30000000 1002 fp16"
      "$F32 65536 16384 fp32" "$F32 1000000 4000 fp32" "$ONNX 4096 8192 bytes"
      "$ONNX 200000 3000 bytes" "$BF16 3000000 4096 fp8-e4m3" "$BF16 5000000 2048 fp8-e5m2"
      "$F32 2000000 8192 fp64")
    [ -f "$F32B" ] && RAW+=("$F32B 4000000 8192 fp32")
  fi
fi

i=0
for spec in "${RAW[@]}"; do
  read -r file off len dtype <<<"$spec"
  i=$((i + 1))
  s=$TMP/raw$i.bin
  slice "$file" "$off" "$len" "$s"
  # Plain data for the compressors and the entropy oracle.
  case $dtype in bf16) d=1 ;; fp16) d=2 ;; fp32) d=3 ;; fp8-e4m3) d=4 ;; fp8-e5m2) d=5 ;; fp64) d=6 ;; *) d=0 ;; esac
  bytes "$TMP/c_znw" "$(printf %02x $d)" ff 01 40 # its own dtype, chunk 2048, split 65
  put roundtrip_znw "$s" "$TMP/c_znw"
  bytes "$TMP/c_znw" "$(printf %02x $((d | 0x40)))" ff 01 40 # tANS allowed
  put roundtrip_znw "$s" "$TMP/c_znw"
  bytes "$TMP/c_znw" 0f ff 00 00 # auto, chunk 1024
  put roundtrip_znw "$s" "$TMP/c_znw"
  case $dtype in fp32) z=0 ;; fp16) z=1 ;; bf16) z=2 ;; fp8-e4m3) z=3 ;; fp8-e5m2) z=4 ;; *) z=2 ;; esac
  bytes "$TMP/c_zn" "$(printf %02x $z)" 00 00 # chunk 1 KiB, one frame
  put roundtrip_zipnn "$s" "$TMP/c_zn"
  bytes "$TMP/c_zn" "$(printf %02x $z)" 02 05 # chunk 4 KiB, streaming frames of 1 KiB
  put roundtrip_zipnn "$s" "$TMP/c_zn"
  bytes "$TMP/c_st" "$(printf %02x $d)" ff 01 02 07 c8 03 00 ff 11
  put roundtrip_stream "$s" "$TMP/c_st"
  bytes "$TMP/c_sz" "$(printf %02x $d)" ff 00 00 04 02 07 d0 # chunk 1 KiB, 1 KiB prefix, splits
  put roundtrip_sized "$s" "$TMP/c_sz"
  put huff0_oracle "$s"
  bytes "$TMP/c_near" 01 00 00 # near-valid mode, no flips, no length change
  put huff0_decode "$s" "$TMP/c_near"
  put fse_decode "$s" "$TMP/c_near"
  bytes "$TMP/c_near" 01 00 # block near-valid mode, no flips
  put block_decode "$s" "$TMP/c_near"
  bytes "$TMP/c_near" 03 00 # the same, tANS allowed
  put block_decode "$s" "$TMP/c_near"
  bytes "$TMP/c_near" 01 02 10 00 40 ff # three flips
  put fse_decode "$s" "$TMP/c_near"

  # Compressed files: .znw at two chunk sizes, ZipNN frames.
  "$CLI" compress "$s" -o "$TMP/f$i.znw" --dtype "$dtype" --chunk-size 2048 --force
  "$CLI" compress "$s" -o "$TMP/g$i.znw" --dtype "$dtype" --chunk-size "$len" --force 2>/dev/null ||
    "$CLI" compress "$s" -o "$TMP/g$i.znw" --dtype "$dtype" --force
  # tANS blocks (--best); an older CLI without the option just makes no such seed.
  "$CLI" compress "$s" -o "$TMP/b$i.znw" --dtype "$dtype" --chunk-size 4096 --best --force \
    2>/dev/null || true
  # (ZipNN's format has no float64.)
  if [ "$dtype" != bytes ] && [ "$dtype" != fp64 ] && { [ "$dtype" != fp32 ] || [ $((len % 4)) = 0 ]; }; then
    "$CLI" compress "$s" -o "$TMP/z$i.znn" --format zipnn --dtype "$dtype" --chunk-size 1024 --force
    "$CLI" compress "$s" -o "$TMP/y$i.znn" --format zipnn --dtype "$dtype" \
      --streaming-chunk 1024 --force
  fi
done

# File heads of the other containers the encoder parses (ONNX, PyTorch zip): truncated, so
# their parsers see real structure that then runs out.
if [ $have_models = 1 ] && [ $QUICK = 0 ]; then
  for spec in "$ONNX 8192" "models/english_g2.pth 8192" "models/silero_vad.jit 4096"; do
    read -r file len <<<"$spec"
    [ -f "$file" ] || continue
    slice "$file" 0 "$len" "$TMP/head.bin"
    bytes "$TMP/c_znw" 0f ff 00 00 # auto
    put roundtrip_znw "$TMP/head.bin" "$TMP/c_znw"
  done
  # The checkpoint's pickle alone, for its reader (format::pickle) in the parsers target.
  if [ -f models/english_g2.pth ] && command -v python3 >/dev/null; then
    python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("archive/data.pkl"))' \
      models/english_g2.pth >"$TMP/pkl.bin"
    bytes "$TMP/c_p" 00 00 ff 0f
    put parsers "$TMP/pkl.bin" "$TMP/c_p"
  fi
fi

# Safetensors files (auto-detected by the .znw encoder: one segment per tensor).
if [ $have_models = 1 ]; then
  mkst "$TMP/st1.safetensors" "$BF16" 6000000
  mkst "$TMP/st2.safetensors" "$F32" 100000
  for st in "$TMP"/st*.safetensors; do
    "$CLI" compress "$st" -o "$st.znw" --chunk-size 512 --force
    bytes "$TMP/c_znw" 0f 7f 00 10 # auto, chunk 512
    put roundtrip_znw "$st" "$TMP/c_znw"
    bytes "$TMP/c_sz" 0f 7f 00 00 02 01 0d # auto, chunk 512, a 512-byte prefix (the header), split
    put roundtrip_sized "$st" "$TMP/c_sz"
    put znn_safetensors "$st"
    bytes "$TMP/c_p" 00 00 ff 0f
    put parsers "$st" "$TMP/c_p"
  done
  # Deltas (auto dtype, chunk 512, no flips): the later checkpoint against the first, a file
  # against itself, and against an unrelated one.
  mkst_moved "$TMP/st1m.safetensors" "$BF16" 6000000
  for pair in "st1 st1m" "st1 st1" "st2 st1"; do
    set -- $pair
    # shellcheck disable=SC2046
    bytes "$TMP/c_dl" 0f 7f 00 00 $(le16 "$(stat -c %s "$TMP/$1.safetensors")")
    cat "$TMP/$1.safetensors" "$TMP/$2.safetensors" >"$TMP/dl"
    put roundtrip_delta "$TMP/dl" "$TMP/c_dl"
  done
fi

# Model containers for the `containers` target (one control byte first): tiny generated files
# of every container the encoder parses, the first KiBs of the real ones (truncated structure),
# and the safetensors files above.
bytes "$TMP/c_ct" 04 # round trip, auto dtype
bytes "$TMP/c_ct2" 13 # no round trip; the npy reader also at byte 3
if command -v python3 >/dev/null; then
  python3 fuzz/container_seeds.py "$TMP/ct" </dev/null
  for f in "$TMP"/ct/*; do
    put containers "$f" "$TMP/c_ct"
    [ $QUICK = 1 ] || put containers "$f" "$TMP/c_ct2"
  done
else
  echo "seed.sh: no python3; containers gets only model heads" >&2
fi
for st in "$TMP"/st*.safetensors; do
  [ -f "$st" ] || continue
  put containers "$st" "$TMP/c_ct"
done
if [ $have_models = 1 ]; then
  HEADS=("models/face_landmark.tflite 4096" "models/face_detection_full_range_sparse.tflite 4096")
  [ $QUICK = 1 ] || HEADS+=("models/face_landmark.tflite 12288" "$ONNX 8192"
    "models/english_g2.pth 4096")
  for spec in "${HEADS[@]}"; do
    read -r file len <<<"$spec"
    [ -f "$file" ] || continue
    slice "$file" 0 "$len" "$TMP/head.bin"
    put containers "$TMP/head.bin" "$TMP/c_ct"
  done
fi

# ZipNN's own files.
ZNN_FIXTURES=(tests/fixtures/zipnn/*.znn)
if [ $QUICK = 1 ]; then
  ZNN_FIXTURES=(tests/fixtures/zipnn/{bf16_5elem,bf16_chunk4k,fp32_len1003,torch_bf16_1x7,bf16_stream8k,bf16_delta_byte,e4m3_odd_1001}.znn)
fi
for f in "${ZNN_FIXTURES[@]}" "$TMP"/*.znn; do
  [ -f "$f" ] || continue
  put decompress "$f"
  bytes "$TMP/c_s" 00 # one push
  put auto_stream "$f" "$TMP/c_s"
  bytes "$TMP/c_s" 03 05 21 c8 # pushes of 5, 33 and 1 bytes
  put auto_stream "$f" "$TMP/c_s"
  bytes "$TMP/c_b" 00 00 00 00 # no base bytes
  put zipnn_decode "$f" "$TMP/c_b"
  bytes "$TMP/c_b" 00 04 01 00 # a 64 KiB base
  put zipnn_decode "$f" "$TMP/c_b"
  bytes "$TMP/c_p" 00 00 00 01
  put parsers "$f" "$TMP/c_p"
done
for f in tests/fixtures/zipnn/*.znn.safetensors tests/fixtures/zipnn/st_*[a-z].safetensors; do
  [ -f "$f" ] || continue
  put znn_safetensors "$f"
  put decompress "$f"
done

# .znw files: the container targets, and the entropy blocks inside them.
for f in "$TMP"/*.znw; do
  [ -f "$f" ] || continue
  put decompress "$f"
  bytes "$TMP/c_s" 00 # one push
  put stream_decode "$f" "$TMP/c_s"
  bytes "$TMP/c_s" 04 01 07 c8 d0 # pushes of 1, 7, 1 and 256 bytes
  put stream_decode "$f" "$TMP/c_s"
  bytes "$TMP/c_s" 83 00 03 c8 # checksums recomputed (top bit); pushes of 0, 3, 1 bytes
  put stream_decode "$f" "$TMP/c_s"
  bytes "$TMP/c_s" 02 10 d4 # pushes of 16 and 4096 bytes
  put auto_stream "$f" "$TMP/c_s"
  bytes "$TMP/c_p" 00 00 ff 3f
  put parsers "$f" "$TMP/c_p"

  # First chunk: pull out its blocks (FORMAT.md §3): huff0 payloads and whole blocks.
  hl=$(u32at "$f" 12)
  dt=$(u8at "$f" $((hl + 1)))
  raw=$(u32at "$f" $((hl + 4)))
  case $dt in 1 | 2) g=2 ;; 3) g=4 ;; *) g=1 ;; esac
  k=$((raw / g))
  pos=$((hl + 20))
  for _ in $(seq $g); do
    mode=$(u8at "$f" $pos)
    case $mode in
      0) blen=$((1 + k)) ;;
      1) blen=2 ;;
      2 | 3 | 12) blen=$((5 + $(u32at "$f" $((pos + 1))))) ;;
      *) break ;;
    esac
    slice "$f" $pos $blen "$TMP/blk"
    # shellcheck disable=SC2046
    bytes "$TMP/c_blk" 00 $(le16 $k)
    put block_decode "$TMP/blk" "$TMP/c_blk"
    if [ "$mode" = 2 ] && [ $k -lt 32768 ]; then
      slice "$f" $((pos + 5)) $((blen - 5)) "$TMP/huf"
      put huff0_decode "$TMP/huf" "$TMP/c_blk"
    fi
    pos=$((pos + blen))
  done
done

for t in decompress stream_decode auto_stream huff0_decode fse_decode block_decode zipnn_decode \
  znn_safetensors parsers containers roundtrip_znw roundtrip_zipnn roundtrip_stream roundtrip_sized \
  huff0_oracle; do
  mkdir -p "$CORPUS/$t"
  printf '%-18s %4d seeds\n' "$t" "$(find "$CORPUS/$t" -type f | wc -l)" >&2
done
