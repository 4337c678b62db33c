#!/usr/bin/env python3
"""Generate tests/fixtures/zipnn/ with the real zipnn 0.5.4 (and the real torch).

  scripts/setup-python.sh --with-torch && scripts/fetch-models.sh
  .venv/bin/python scripts/make_zipnn_fixtures.py [OUTDIR]

Every fixture is NAME.znn (what zipnn wrote) + NAME.bin (the bytes decompression must give back;
for torch/numpy input formats the raw little-endian element bytes, C order), delta fixtures also
NAME.base.bin, and the safetensors ones NAME.znn.safetensors + NAME.safetensors. Each one is
decompressed again by zipnn itself and compared before it is written. MANIFEST.json records, per
fixture, the files and their sha256, dtype, input format, streaming, chunk sizes, shape, the
parsed frame headers and the exact Python call. Inputs are seeded numpy data and slices of the
real all-MiniLM-L6-v2 weights (models/minilm.fp32.safetensors). zipnn's output does not depend on
the thread count, so the files are reproducible.

zipnn reorders bits in place in the buffer it compresses, so every call gets a copy.
"""
import hashlib
import json
from importlib import metadata as importlib_metadata
import os
import struct
import sys
import tempfile
import warnings

warnings.simplefilter("ignore")  # torch 2.15 deprecates torch.jit.script, used by zipnn at import

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from zipnn import ZipNN  # noqa: E402
from zipnn.util_header import EnumFormat  # noqa: E402
from zipnn.util_safetensors import (  # noqa: E402
    COMPRESSED_DTYPE,
    COMPRESSION_METHOD,
    build_compressed_tensor_info,
    set_compressed_tensors_metadata,
)
from zipnn.util_torch import zipnn_is_floating_point  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "zipnn")
MODELS = os.path.join(ROOT, "models")
SEED = 20250101
KIB = 1024

NBUF = {1: 4, 2: 4, 4: 2, 5: 2, 6: 2, 29: 1, 30: 1}
DTYPE_NAME = {1: "float32", 4: "float16", 6: "bfloat16", 29: "float8_e4m3fn", 30: "float8_e5m2"}
FORMAT_NAME = {1: "byte", 2: "torch", 3: "numpy"}
TORCH_DTYPE = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float8_e4m3fn": torch.float8_e4m3fn,
    "float8_e5m2": torch.float8_e5m2,
}

manifest = []
written = set()


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def write(name, data):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    written.add(name)
    return {"file": name, "bytes": len(data), "sha256": sha256(data)}


def kwargs_src(kw):
    return ", ".join("%s=%r" % (k, v) for k, v in kw.items())


def parse_frames(c):
    """Parse every ZN frame header + chunk tables (independent of zipnn, cross-checked by it)."""
    frames, off = [], 0
    while off < len(c):
        h = c[off : off + 32]
        assert h[:2] == b"ZN", off
        orig = struct.unpack_from("<Q", h, 16)[0]
        total = struct.unpack_from("<Q", h, 24)[0]
        fmt, dtype = h[8], h[15]
        p = off + 32
        shape = None
        if fmt in (2, 3):  # shape header: ndim, then per dim [width][value, native (LE) order]
            ndim = c[p]
            p += 1
            shape = []
            for _ in range(ndim):
                w = c[p]
                v = int.from_bytes(c[p + 1 : p + 1 + w], "little")
                shape.append(v)
                p += 1 + w
        shape_hex = c[off + 32 : p].hex()
        nbuf = NBUF[dtype]
        chunk = 1 << h[14]
        eff_chunk = min(chunk, 128 * KIB) if nbuf == 1 else chunk
        nch = (orig + eff_chunk - 1) // eff_chunk
        types = list(c[p : p + nbuf * nch])
        p += nbuf * nch
        cums = list(struct.unpack_from("<%dQ" % (nbuf * nch), c, p))
        p += 8 * nbuf * nch
        payload = sum(cums[b * nch + nch - 1] for b in range(nbuf)) if nch else 0
        assert p - off + payload == total, (p - off, payload, total)
        frames.append(
            {
                "offset": off,
                "header_hex": h.hex(),
                "shape_header_hex": shape_hex,
                "shape": shape,
                "original_len": orig,
                "frame_len": total,
                "streaming_byte": h[13],
                "chunk_log2": h[14],
                "effective_chunk": eff_chunk,
                "num_buf": nbuf,
                "num_chunks": nch,
                "chunk_types": [types[b * nch : (b + 1) * nch] for b in range(nbuf)],
                "cumulative_sizes": [cums[b * nch : (b + 1) * nch] for b in range(nbuf)],
            }
        )
        off += total
    return frames


def record(name, files, call, dtype, fmt, kw, frames, shape=None, note=""):
    entry = {
        "name": name,
        "files": files,
        "dtype": dtype,
        "input_format": fmt,
        "streaming": bool(kw.get("is_streaming", False)),
        "streaming_chunk": kw.get("streaming_chunk") if kw.get("is_streaming") else None,
        "compression_chunk": kw.get("compression_chunk", 256 * KIB),
        "compression_threshold": kw.get("compression_threshold", 0.95),
        "delta": kw.get("delta_compressed_type", 0) or None,
        "shape": list(shape) if shape is not None else None,
        "call": call,
        "frames": frames,
        "note": note,
    }
    manifest.append(entry)


def add_byte(name, raw, dtype, note="", base=None, **kw):
    kw = dict(input_format="byte", bytearray_dtype=dtype, **kw)
    raw = bytes(raw)
    delta = kw.get("delta_compressed_type")
    if delta == "byte":
        c = bytes(ZipNN(**kw).compress(bytearray(raw), delta_second_data=bytearray(base)))
        call = "ZipNN(%s).compress(bytearray(NAME.bin), delta_second_data=bytearray(NAME.base.bin))" % kwargs_src(kw)
        d = ZipNN(**kw).decompress(c, delta_second_data=bytes(base))
    elif delta == "file":
        with tempfile.TemporaryDirectory() as td:
            bp = os.path.join(td, "base.bin")
            with open(bp, "wb") as f:
                f.write(base)
            c = bytes(ZipNN(**kw).compress(bytearray(raw), delta_second_data=bp))
            d = ZipNN(**kw).decompress(c, delta_second_data=bp)
        call = "ZipNN(%s).compress(bytearray(NAME.bin), delta_second_data='NAME.base.bin')" % kwargs_src(kw)
    else:
        c = bytes(ZipNN(**kw).compress(bytearray(raw)))
        call = "ZipNN(%s).compress(bytearray(NAME.bin))" % kwargs_src(kw)
        d = ZipNN(input_format="byte").decompress(c)
    if bytes(d) != raw:
        raise SystemExit("fixture %s does not round-trip through zipnn" % name)
    files = {"znn": write(name + ".znn", c), "bin": write(name + ".bin", raw)}
    if base is not None:
        files["base"] = write(name + ".base.bin", bytes(base))
    record(name, files, call, dtype, "byte", kw, parse_frames(c), note=note)


def add_torch(name, t, note=""):
    kw = dict(input_format="torch")
    c = bytes(ZipNN(**kw).compress(t.clone()))
    out = ZipNN(**kw).decompress(c)
    raw = t.contiguous().view(-1).view(torch.uint8).numpy().tobytes()
    if out.dtype != t.dtype or tuple(out.shape) != tuple(t.shape) or out.contiguous().view(-1).view(torch.uint8).numpy().tobytes() != raw:
        raise SystemExit("fixture %s does not round-trip through zipnn" % name)
    files = {"znn": write(name + ".znn", c), "bin": write(name + ".bin", raw)}
    call = "ZipNN(%s).compress(tensor.clone())  # tensor: %s %s" % (kwargs_src(kw), t.dtype, tuple(t.shape))
    record(name, files, call, str(t.dtype).replace("torch.", ""), "torch", kw, parse_frames(c), shape=t.shape, note=note)


def add_numpy(name, a, note=""):
    kw = dict(input_format="numpy")
    c = bytes(ZipNN(**kw).compress(a.copy()))
    out = ZipNN(**kw).decompress(c)
    raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
    if out.dtype != a.dtype or out.shape != a.shape or out.tobytes() != raw:
        raise SystemExit("fixture %s does not round-trip through zipnn" % name)
    files = {"znn": write(name + ".znn", c), "bin": write(name + ".bin", raw)}
    call = "ZipNN(%s).compress(array.copy())  # array: %s %s" % (kwargs_src(kw), a.dtype, a.shape)
    record(name, files, call, str(a.dtype), "numpy", kw, parse_frames(c), shape=a.shape, note=note)


def compress_safetensors_like_zipnn(src, dst):
    """zipnn's scripts/zipnn_compress_safetensors.py compress_safetensors_file(), minus prompts and
    prints, with one deliberate change: compress a clone, because zipnn reorders the tensor in
    place and the upstream script then saves that reordered tensor when it keeps it raw."""
    tensors, infos = {}, {}
    with safe_open(src, "pt", "cpu") as f:
        for name in f.keys():
            tensor = f.get_tensor(name)
            if not zipnn_is_floating_point(EnumFormat.TORCH.value, tensor, tensor.dtype):
                tensors[name] = tensor
                continue
            info = build_compressed_tensor_info(tensor)
            znn = ZipNN(input_format="torch", bytearray_dtype=tensor.dtype, method=COMPRESSION_METHOD, threads=None)
            uncompressed_size = tensor.element_size() * tensor.nelement()
            compressed_buf = znn.compress(tensor.clone())
            if len(compressed_buf) >= uncompressed_size:
                tensors[name] = tensor
                continue
            tensors[name] = torch.frombuffer(compressed_buf, dtype=COMPRESSED_DTYPE)
            infos[name] = info
        metadata = f.metadata()
    set_compressed_tensors_metadata(infos, metadata)
    save_file(tensors, dst, metadata)
    return infos


def add_safetensors(name, tensors, metadata, note=""):
    src = os.path.join(OUT, name + ".safetensors")
    dst = os.path.join(OUT, name + ".znn.safetensors")
    save_file(tensors, src, metadata)
    infos = compress_safetensors_like_zipnn(src, dst)
    # verify with zipnn's own reader (SafeOpen = the patched safe_open of zipnn_safetensors())
    from zipnn.zipnn import SafeOpen, decompress_safetensors_tensor

    with safe_open(dst, "pt", "cpu") as f:
        meta = f.metadata()
        names = list(f.keys())
        for k in names:
            got = f.get_tensor(k)
            if k in infos:
                got = decompress_safetensors_tensor(got)
            ref = tensors[k]
            if got.dtype != ref.dtype or tuple(got.shape) != tuple(ref.shape) or not torch.equal(got.view(torch.uint8), ref.view(torch.uint8)):
                raise SystemExit("fixture %s: tensor %s does not round-trip" % (name, k))
    if metadata:
        with SafeOpen(dst, "pt") as f:
            for k in names:
                assert torch.equal(f.get_tensor(k).view(torch.uint8), tensors[k].view(torch.uint8)), k
    with open(src, "rb") as f:
        sb = f.read()
    with open(dst, "rb") as f:
        db = f.read()
    written.update({name + ".safetensors", name + ".znn.safetensors"})
    files = {
        "znn": {"file": name + ".znn.safetensors", "bytes": len(db), "sha256": sha256(db)},
        "bin": {"file": name + ".safetensors", "bytes": len(sb), "sha256": sha256(sb)},
    }
    per_tensor = {}
    (hn,) = struct.unpack_from("<Q", db, 0)
    header = json.loads(db[8 : 8 + hn])
    for k, v in header.items():
        if k == "__metadata__":
            continue
        entry = {"stored_dtype": v["dtype"], "stored_shape": v["shape"], "compressed": k in infos,
                 "dtype": str(tensors[k].dtype).replace("torch.", ""), "shape": list(tensors[k].shape)}
        if k in infos:
            s, e = v["data_offsets"]
            entry["frames"] = parse_frames(db[8 + hn + s : 8 + hn + e])
        per_tensor[k] = entry
    manifest.append(
        {
            "name": name,
            "files": files,
            "dtype": "mixed",
            "input_format": "torch",
            "streaming": False,
            "streaming_chunk": None,
            "compression_chunk": 256 * KIB,
            "compression_threshold": 0.95,
            "delta": None,
            "shape": None,
            "call": "compress_safetensors_file(NAME.safetensors) as in zipnn scripts/zipnn_compress_safetensors.py: "
            "per floating tensor ZipNN(input_format='torch', bytearray_dtype=tensor.dtype, method='HUFFMAN', "
            "threads=None).compress(tensor.clone()); kept raw when len(compressed) >= nbytes; "
            "set_compressed_tensors_metadata(infos, metadata); save_file(tensors, NAME.znn.safetensors, metadata)",
            "metadata": meta,
            "tensors": per_tensor,
            "frames": None,
            "note": note,
        }
    )


def minilm():
    path = os.path.join(MODELS, "minilm.fp32.safetensors")
    if not os.path.exists(path):
        raise SystemExit("missing %s: run scripts/fetch-models.sh first" % path)
    out = {}
    with safe_open(path, "pt", "cpu") as f:
        for k in f.keys():
            out[k] = f.get_tensor(k)
    return out


def bf16_bytes(a32):
    return torch.from_numpy(np.ascontiguousarray(a32, dtype=np.float32)).to(torch.bfloat16).view(torch.uint8).numpy().tobytes()


def fp8_bytes(a32, dt):
    return torch.from_numpy(np.ascontiguousarray(a32, dtype=np.float32)).to(TORCH_DTYPE[dt]).view(torch.uint8).numpy().tobytes()


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    m = minilm()
    q = m["encoder.layer.0.attention.self.query.weight"].numpy()  # [384, 384] f32
    ffn = m["encoder.layer.3.intermediate.dense.weight"].numpy()  # [1536, 384] f32
    flat = np.concatenate([q.ravel(), ffn.ravel()])  # 737280 real weights

    normal = rng.normal(0.0, 0.02, 1 << 18).astype(np.float32)

    # ---- tiny inputs: empty, 1 element, 5 elements, per dtype (byte format)
    for dt, enc in (
        ("bfloat16", bf16_bytes),
        ("float16", lambda a: a.astype("<f2").tobytes()),
        ("float32", lambda a: a.astype("<f4").tobytes()),
        ("float8_e4m3fn", lambda a: fp8_bytes(a * 50, "float8_e4m3fn")),
        ("float8_e5m2", lambda a: fp8_bytes(a * 50, "float8_e5m2")),
    ):
        short = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "float8_e4m3fn": "e4m3", "float8_e5m2": "e5m2"}[dt]
        add_byte("%s_empty" % short, b"", dt, note="0 bytes: a 32-byte header and nothing else (orig len 0, frame len 32)")
        add_byte("%s_1elem" % short, enc(normal[:1]), dt, note="1 element; for bf16/fp32 the bit reorder only touches whole u32 words")
        add_byte("%s_5elem" % short, enc(normal[1:6]), dt, note="5 elements")

    # ---- odd byte lengths
    add_byte("bf16_odd_1001", bf16_bytes(normal[:501])[:1001], "bfloat16",
             note="odd length: the extra byte goes to stream 0; the last 1 byte (and the last 2-byte element when len%4>=2) is not bit-reordered")
    add_byte("bf16_len1002", bf16_bytes(normal[:501]), "bfloat16",
             note="501 elements: len%4 == 2, so the last element is stored without the sign-bit reorder")
    add_byte("fp16_odd_1001", normal[:501].astype("<f2").tobytes()[:1001], "float16", note="odd length")
    for extra in (1, 2, 3):
        n = 1000 + extra
        add_byte("fp32_len%d" % n, normal[:251].astype("<f4").tobytes()[:n], "float32",
                 note="len%%4 == %d: byte i goes to stream i%%4, streams b < %d get one byte more; the tail is not bit-reordered" % (extra, extra))
    add_byte("e4m3_odd_1001", fp8_bytes(normal[:1001] * 50, "float8_e4m3fn"), "float8_e4m3fn", note="fp8: any length")

    # ---- synthetic weights, single chunk
    add_byte("bf16_normal_8k", bf16_bytes(normal[:4096]), "bfloat16", note="normal(0,0.02): exponent stream Huffman, mantissa raw")
    add_byte("fp16_normal_8k", normal[:4096].astype("<f2").tobytes(), "float16")
    add_byte("fp32_normal_16k", normal[:4096].astype("<f4").tobytes(), "float32")
    add_byte("e4m3_normal_8k", fp8_bytes(rng.normal(0, 1.0, 8192), "float8_e4m3fn"), "float8_e4m3fn")
    add_byte("e5m2_normal_8k", fp8_bytes(rng.normal(0, 1.0, 8192), "float8_e5m2"), "float8_e5m2")

    # ---- real minilm weights (byte format)
    add_byte("bf16_minilm_16k", bf16_bytes(flat[:8192]), "bfloat16", note="minilm encoder.layer.0 query weight, first 8192 values, BF16 (RNE)")
    add_byte("fp16_minilm_16k", flat[:8192].astype("<f2").tobytes(), "float16", note="same values as FP16")
    add_byte("fp32_minilm_16k", flat[:4096].astype("<f4").tobytes(), "float32", note="the first 4096 of those values as FP32")

    # ---- all-equal data: single-byte (RLE) Huffman results
    add_byte("bf16_zeros_4k", bytes(4096), "bfloat16", note="all zero: both streams are type 1 with a 1-byte (RLE) payload")
    add_byte("fp32_ones_4k", np.ones(1024, "<f4").tobytes(), "float32", note="all 1.0: every stream is a 1-byte RLE chunk (after reorder 0x3f800000 -> 0x7f000000)")
    add_byte("bf16_1elem_thr2", bf16_bytes(np.array([1.0], np.float32)), "bfloat16", compression_threshold=2.0,
             note="compression_threshold=2.0 keeps HUF's 1-byte RLE output for a 1-byte stream: type 1 with compressed size == raw size (the decoder's memcpy case)")

    # ---- special values
    sp16 = np.array([0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0xFF81, 0x0001, 0x8001, 0x007F, 0x807F,
                     0x0080, 0x8080, 0x7F7F, 0xFF7F, 0x3F80, 0xBF80], np.uint16)
    add_byte("bf16_specials", np.tile(sp16, 64).astype("<u2").tobytes(), "bfloat16",
             note="+-0, +-inf, qNaN, sNaN, subnormals, min normal, max finite, +-1 (incl. word pairs that form f32 sNaN)")
    sp_h = np.array([0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0x3C00, 0xBC00], np.uint16)
    add_byte("fp16_specials", np.tile(sp_h, 64).astype("<u2").tobytes(), "float16", note="FP16 +-0, +-inf, NaNs, subnormals, max")
    sp32 = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x00000001,
                     0x80000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0x3F800000], np.uint32)
    add_byte("fp32_specials", np.tile(sp32, 64).astype("<u4").tobytes(), "float32", note="FP32 +-0, +-inf, NaNs, subnormals, max")
    e4 = np.arange(256, dtype=np.uint8).tobytes() * 4
    add_byte("e4m3_all_codes", e4, "float8_e4m3fn", note="every byte value 4 times (incl. NaN 0x7f/0xff)")
    add_byte("e5m2_all_codes", e4, "float8_e5m2", note="every byte value 4 times")

    # ---- multi-chunk frames with a short last chunk
    chunk0 = bf16_bytes(flat[: 128 * KIB])  # 256 KiB of real BF16 weights
    mixed = chunk0 + bytes(256 * KIB) + bf16_bytes(flat[128 * KIB : 128 * KIB + 500])
    add_byte("bf16_3chunks_mixed", mixed, "bfloat16",
             note="256 KiB * 2 + 1000: chunk 0 real weights (stream 0 raw, stream 1 Huffman), chunk 1 zeros (RLE), short last chunk of 1000 bytes")
    f32 = flat[: (2 * 64 * KIB + 1000) // 4].astype("<f4")
    f32[16 * KIB : 32 * KIB] = 0.0
    add_byte("fp32_chunk64k_3chunks", f32.tobytes(), "float32", compression_chunk=64 * KIB,
             note="compression_chunk=64 KiB (header byte 14 = 16): 64 KiB * 2 + 1000, four 16 KiB streams per chunk; chunk 0 real weights, chunk 1 zeros (RLE), chunk 2 short (250 bytes per stream)")
    add_byte("bf16_chunk4k", bf16_bytes(flat[:10000]), "bfloat16", compression_chunk=4 * KIB, note="4 KiB chunks: 5 chunks, last one 3616 bytes")
    e4 = rng.normal(0, 1.0, 128 * KIB + 1000)
    e4[32 * KIB : 128 * KIB] = 0.0
    add_byte("e4m3_2chunks", fp8_bytes(e4, "float8_e4m3fn"), "float8_e4m3fn",
             note="fp8: header byte 14 says 18 (256 KiB) but zipnn chunks FP8 at min(chunk, 128 KiB): 2 chunks, 131072 + 1000 (32 KiB normal(0,1) then zeros, then 1000 normal)")

    # ---- streaming: several independent frames
    add_byte("bf16_stream8k", bf16_bytes(flat[: 36000 // 2]), "bfloat16", is_streaming=True, streaming_chunk=8 * KIB,
             note="is_streaming, 8 KiB frames: 4 full frames + a 3232-byte one; byte 13 = 128+13 in every frame, byte 14 stays 18")
    add_byte("fp32_stream4k_chunk1k", normal[:2500].astype("<f4").tobytes(), "float32", is_streaming=True, streaming_chunk=4 * KIB,
             compression_chunk=1 * KIB, note="4 KiB frames of 1 KiB chunks (4 chunks per frame), last frame 1808 bytes")
    add_byte("e5m2_stream", fp8_bytes(rng.normal(0, 1.0, 5000), "float8_e5m2"), "float8_e5m2", is_streaming=True, streaming_chunk=2 * KIB,
             note="fp8 streaming, 2 KiB frames")

    # ---- delta (XOR against a base of equal length, then the normal pipeline)
    base = bf16_bytes(flat[:8192])
    upd = bytearray(base)
    for i in range(0, len(upd), 37):
        upd[i] ^= 0x01
    add_byte("bf16_delta_byte", bytes(upd), "bfloat16", base=base, delta_compressed_type="byte",
             note="header byte 9 = 1; payload = zipnn(NAME.bin XOR NAME.base.bin)")
    base32 = flat[:2048].astype("<f4").tobytes()
    upd32 = (flat[:2048] * np.float32(1.001)).astype("<f4").tobytes()
    add_byte("fp32_delta_file", upd32, "float32", base=base32, delta_compressed_type="file",
             note="delta_compressed_type='file': header byte 9 = 2, the base is read from a file path")
    add_byte("bf16_delta_stream", bytes(upd[:6000]), "bfloat16", base=base[:6000], delta_compressed_type="byte",
             is_streaming=True, streaming_chunk=2 * KIB, note="streaming delta: each frame is XORed with the matching slice of the base")

    # ---- torch input format (shape header after the 32-byte header)
    add_torch("torch_bf16_20x300", torch.from_numpy(flat[:6000].copy()).reshape(20, 300).to(torch.bfloat16),
              note="shape header 02 | 01 14 | 02 2c 01")
    add_torch("torch_fp32_3x5", torch.from_numpy(normal[:15].copy()).reshape(3, 5))
    add_torch("torch_fp16_2x300x4", torch.from_numpy(flat[:2400].copy()).reshape(2, 300, 4).to(torch.float16))
    add_torch("torch_fp32_scalar", torch.tensor(1.5, dtype=torch.float32), note="0-dim tensor: shape header is the single byte 00")
    add_torch("torch_bf16_empty_5x0x3", torch.zeros(5, 0, 3, dtype=torch.bfloat16), note="zero elements: no chunks, frame = header + shape header")
    t8 = np.zeros(65536, np.float32)
    t8[:2048] = rng.normal(0, 1.0, 2048)
    add_torch("torch_e4m3_65536", torch.from_numpy(t8).to(torch.float8_e4m3fn),
              note="dim 65536 >= 2^16: 4-byte width in the shape header (01 | 04 00 00 01 00); 2048 normal values then zeros")
    add_torch("torch_e5m2_10x100", torch.from_numpy(rng.normal(0, 1.0, 1000).astype(np.float32)).reshape(10, 100).to(torch.float8_e5m2))
    add_torch("torch_bf16_1x7", torch.from_numpy(flat[:7].copy()).reshape(1, 7).to(torch.bfloat16),
              note="7 elements (14 bytes): the 7th element is not bit-reordered")

    # ---- numpy input format
    add_numpy("numpy_fp32_10x100", flat[:1000].reshape(10, 100).astype(np.float32))
    add_numpy("numpy_fp16_4x250", flat[:1000].reshape(4, 250).astype(np.float16))
    add_numpy("numpy_fp32_7", normal[:7].astype(np.float32))

    # ---- .znn.safetensors the way zipnn's script does it
    st = {
        "embeddings.position_ids": m["embeddings.position_ids"].clone(),  # int64: never compressed
        "encoder.layer.0.attention.self.query.weight": m["encoder.layer.0.attention.self.query.weight"][:48].to(torch.bfloat16).contiguous(),
        "encoder.layer.0.attention.self.query.bias": m["encoder.layer.0.attention.self.query.bias"].clone(),
        "encoder.layer.0.output.dense.weight": m["encoder.layer.0.output.dense.weight"][:4].contiguous(),
        "encoder.layer.1.attention.output.dense.weight": m["encoder.layer.1.attention.output.dense.weight"][:8].to(torch.float16).contiguous(),
        "encoder.layer.1.intermediate.dense.weight": m["encoder.layer.1.intermediate.dense.weight"][:4, :256].to(torch.float8_e4m3fn).contiguous(),
        "tiny.fp32": torch.tensor([0.25, -3.5, 7.0], dtype=torch.float32),  # 12 bytes: the frame is bigger, so kept raw
    }
    add_safetensors("st_minilm_meta", st, {"format": "pt"},
                    note="with __metadata__ {'format':'pt'}: znn_compressed_vectors lists the compressed tensors; int64 and tiny.fp32 stay raw")
    st2 = {k: st[k] for k in ("embeddings.position_ids", "encoder.layer.0.attention.self.query.weight", "tiny.fp32")}
    add_safetensors("st_minilm_nometa", st2, None,
                    note="no __metadata__: zipnn silently writes no znn_compressed_vectors, so readers cannot tell the U8 tensors are ZipNN frames")

    # ---- manifest, and remove files of a previous run that are no longer produced
    for f in os.listdir(OUT):
        if f not in written and f not in ("README.md", "MANIFEST.json") and not f.startswith("."):
            os.remove(os.path.join(OUT, f))
    doc = {
        "generator": "scripts/make_zipnn_fixtures.py",
        "zipnn": importlib_metadata.version("zipnn"),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "seed": SEED,
        "layout_note": "frames: see tests/fixtures/zipnn/README.md; chunk_types/cumulative_sizes are [stream][chunk]",
        "fixtures": manifest,
    }
    fixtures = doc.pop("fixtures")
    body = json.dumps(doc, indent=1)[:-2]  # one fixture per line keeps the file small and diffable
    body += ',\n "fixtures": [\n' + ",\n".join("  " + json.dumps(e, separators=(",", ":")) for e in fixtures) + "\n ]\n}\n"
    json.loads(body)
    with open(os.path.join(OUT, "MANIFEST.json"), "w") as f:
        f.write(body)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in written)
    print("%d fixtures, %d files, %d bytes in %s" % (len(manifest), len(written), total, os.path.relpath(OUT, ROOT)))


if __name__ == "__main__":
    main()
