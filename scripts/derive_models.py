#!/usr/bin/env python3
"""Derive extra test/bench inputs from the real model files that scripts/fetch-models.sh extracts.

Usage: derive_models.py MODELS_DIR

Writes, next to the sources (each only when missing or older than its source):
  minilm.bf16.safetensors   every F32 tensor of minilm.fp32.safetensors as BF16
                            (round-to-nearest-even; NaN stays NaN, sign kept, quiet bit set)
  minilm.fp16.safetensors   every F32 tensor as F16 (numpy astype(float16): IEEE RNE,
                            overflow -> inf, NaN stays NaN)
  minilm.bf16.bin           the data section (all tensors, in file order) of minilm.bf16.safetensors
  minilm.fp16.bin           the data section of minilm.fp16.safetensors
  silero_vad.onnx.f32-stream.bin   all FLOAT tensors of silero_vad.onnx (initializers and
                            Constant attributes, also in If/Loop subgraphs), raw LE, in file order
  english_g2.pth.f32-stream.bin    all FloatStorage blobs of english_g2.pth (torch zip
                            checkpoint), raw LE, in storage-key order
Non-F32 tensors (e.g. minilm's I64 embeddings.position_ids) are copied unchanged. The output
header keeps the source JSON key order and `__metadata__`, data offsets are contiguous in the
source data order, and the header is padded with spaces to a multiple of 8 bytes, as the
safetensors library does. Needs only the standard library and numpy.
"""
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8 : 8 + n])
    return header, memoryview(buf)[8 + n :]


def f32_to_bf16(a):
    """Round-to-nearest-even FP32 -> BF16 bit patterns (uint16); NaN stays NaN."""
    x = a.view(np.uint32).astype(np.uint64)
    rounded = ((x + 0x7FFF + ((x >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        rounded[nan] = ((x[nan] >> 16).astype(np.uint16)) | np.uint16(0x0040)
    return rounded


def convert_safetensors(src, dst, target):
    header, data = read_safetensors(src)
    names = [k for k in header if k != "__metadata__"]
    order = sorted(names, key=lambda k: header[k]["data_offsets"][0])
    blobs = {}
    for name in order:
        info = header[name]
        start, end = info["data_offsets"]
        raw = data[start:end]
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4")
            if target == "BF16":
                out = f32_to_bf16(a).astype("<u2").tobytes()
            else:
                with np.errstate(over="ignore"):
                    out = a.astype("<f2").tobytes()
            blobs[name] = (target, out)
        else:
            blobs[name] = (info["dtype"], bytes(raw))
    offsets, pos = {}, 0
    for name in order:
        n = len(blobs[name][1])
        offsets[name] = [pos, pos + n]
        pos += n
    new_header = {}
    for k in header:  # same JSON key order as the source
        if k == "__metadata__":
            new_header[k] = header[k]
        else:
            new_header[k] = {"dtype": blobs[k][0], "shape": header[k]["shape"], "data_offsets": offsets[k]}
    hjson = json.dumps(new_header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    body = b"".join(blobs[name][1] for name in order)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        f.write(body)
    os.replace(tmp, dst)
    check_safetensors(dst, header)
    return body


def check_safetensors(path, src_header):
    header, data = read_safetensors(path)
    assert [k for k in header] == [k for k in src_header], "tensor name order changed"
    assert header.get("__metadata__") == src_header.get("__metadata__")
    end = 0
    for k in sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0]):
        s, e = header[k]["data_offsets"]
        assert s == end, (k, s, end)
        n = 1
        for d in header[k]["shape"]:
            n *= d
        assert e - s == n * {"F32": 4, "BF16": 2, "F16": 2, "I64": 8}[header[k]["dtype"]], k
        end = e
    assert end == len(data), "data section length mismatch"


# --- ONNX: a minimal protobuf walk, just enough to find FLOAT tensors -------------------------

def _varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        if c < 0x80:
            return r, i
        s += 7


def _fields(b):
    i, n = 0, len(b)
    while i < n:
        key, i = _varint(b, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i : i + 8], i + 8
        elif wt == 2:
            ln, i = _varint(b, i)
            v, i = b[i : i + ln], i + ln
        elif wt == 5:
            v, i = b[i : i + 4], i + 4
        else:
            raise ValueError("unsupported protobuf wire type %d" % wt)
        yield field, wt, v


def _onnx_tensor(b, out):
    dtype, raw, floats = None, None, []
    for f, wt, v in _fields(b):
        if f == 2:
            dtype = v
        elif f == 9:
            raw = bytes(v)
        elif f == 4:  # float_data: packed (wire type 2) or one fixed32 each, both raw LE floats
            floats.append(bytes(v))
    if dtype == 1:  # FLOAT
        if raw is not None:
            out.append(raw)
        elif floats:
            out.append(b"".join(floats))


def _onnx_graph(b, out):
    for f, wt, v in _fields(b):
        if f == 5 and wt == 2:  # initializer
            _onnx_tensor(v, out)
        elif f == 1 and wt == 2:  # node
            for nf, nwt, nv in _fields(v):
                if nf == 5 and nwt == 2:  # attribute
                    for af, awt, av in _fields(nv):
                        if af in (5, 10) and awt == 2:  # t, tensors
                            _onnx_tensor(av, out)
                        elif af in (6, 11) and awt == 2:  # g, graphs
                            _onnx_graph(av, out)


def onnx_f32_stream(path):
    with open(path, "rb") as f:
        b = memoryview(f.read())
    out = []
    for f_, wt, v in _fields(b):
        if f_ == 7 and wt == 2:  # ModelProto.graph
            _onnx_graph(v, out)
    return b"".join(out)


# --- torch zip checkpoint: find FloatStorage blobs without torch --------------------------

class _Any:
    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return _Any()

    def __setstate__(self, state):
        pass


class _PthUnpickler(pickle.Unpickler):
    def __init__(self, f, seen):
        super().__init__(f)
        self.seen = seen

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        if module.startswith("torch") and name.endswith("Storage"):
            return name
        return _Any

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel)
        if isinstance(pid, tuple) and pid and pid[0] == "storage":
            self.seen[str(pid[2])] = pid[1]
        return _Any()


def pth_f32_stream(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl")][0]
        prefix = pkl[: -len("data.pkl")]
        seen = {}
        _PthUnpickler(io.BytesIO(z.read(pkl)), seen).load()
        keys = sorted(seen, key=lambda k: (len(k), k) if k.isdigit() else (1 << 30, k))
        return b"".join(z.read(prefix + "data/" + k) for k in keys if seen[k] == "FloatStorage")


def stale(dst, *srcs):
    return not os.path.exists(dst) or any(os.path.getmtime(dst) < os.path.getmtime(s) for s in srcs)


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: derive_models.py MODELS_DIR")
    d = sys.argv[1]
    src = os.path.join(d, "minilm.fp32.safetensors")
    for target, tag in (("BF16", "bf16"), ("F16", "fp16")):
        st = os.path.join(d, "minilm.%s.safetensors" % tag)
        bn = os.path.join(d, "minilm.%s.bin" % tag)
        if stale(st, src) or stale(bn, src):
            body = convert_safetensors(src, st, target)
            write_atomic(bn, body)
    onnx = os.path.join(d, "silero_vad.onnx")
    dst = onnx + ".f32-stream.bin"
    if os.path.exists(onnx) and stale(dst, onnx):
        data = onnx_f32_stream(onnx)
        if not data or len(data) % 4:
            sys.exit("derive_models: bad float stream from %s" % onnx)
        write_atomic(dst, data)
    pth = os.path.join(d, "english_g2.pth")
    dst = pth + ".f32-stream.bin"
    if os.path.exists(pth) and stale(dst, pth):
        data = pth_f32_stream(pth)
        if not data or len(data) % 4:
            sys.exit("derive_models: bad float stream from %s" % pth)
        write_atomic(dst, data)


if __name__ == "__main__":
    main()
