#!/usr/bin/env python3
"""Writes tiny model files of each container the encoder parses into OUT_DIR (run by
fuzz/seed.sh for the `containers` target): .npy, .npz, a PyTorch-style zip, GGUF, ONNX,
TFLite and safetensors, float64 tensors among them. Standard library only (zipfile writes
the archives as numpy and torch do: stored members), so a fresh clone without numpy can
seed. Deterministic output.

    python3 fuzz/container_seeds.py OUT_DIR
"""
import io
import json
import os
import struct
import sys
import zipfile

out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)


def write(name, data):
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(data)


def floats(n, seed):
    # Small weights from a fixed LCG: realistic float exponents, no numpy needed.
    x, out = seed, []
    for _ in range(n):
        x = (x * 1103515245 + 12345) % (1 << 31)
        out.append((x / (1 << 31) - 0.5) * 0.1)
    return out


def f32(vals):
    return struct.pack("<%df" % len(vals), *vals)


def f16(vals):
    return struct.pack("<%de" % len(vals), *vals)


def f64(vals):
    return struct.pack("<%dd" % len(vals), *vals)


def npy(descr, shape, data, fortran=False, version=1):
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (descr, fortran, dims)
    pre = 10 if version == 1 else 12
    h += " " * ((64 - (pre + len(h) + 1) % 64) % 64) + "\n"
    size = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + size + h.encode("latin1") + data


def stored_zip(members):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)
    return b.getvalue()


# ---- NumPy --------------------------------------------------------------------------------
w = f32(floats(48, 1))
write("a.npy", npy("<f4", (4, 12), w))
write("b.npy", npy("<f2", (40,), f16(floats(40, 2)), version=2))
write("c.npy", npy("<V2", (2, 16), f16(floats(32, 3))))
write("d.npy", npy("<i8", (1, 6), struct.pack("<6q", *range(6)), fortran=True))
write("j.npy", npy("<f8", (3, 8), f64(floats(24, 20))))
write(
    "e.npz",
    stored_zip(
        [
            ("dense.weight.npy", npy("<f4", (4, 12), w)),
            ("emb.npy", npy("<f2", (40,), f16(floats(40, 4)))),
            ("ids.npy", npy("<i8", (6,), struct.pack("<6q", *range(6)))),
        ]
    ),
)

# ---- PyTorch zip: a state dict's pickle and stored storages under archive/data/ ------------
def unicode(s):
    return b"X" + struct.pack("<I", len(s)) + s.encode()


def state_dict(entries):
    """Protocol 2, as torch.save writes it: name -> _rebuild_tensor_v2(storage, 0, shape, stride)."""
    p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01("
    for name, cls, key, shape in entries:
        strides, acc = [], 1
        for d in reversed(shape):
            strides.insert(0, acc)
            acc *= d
        ints = lambda v: b"(" + b"".join(b"K" + bytes([x]) for x in v) + b"t"
        p += unicode(name) + b"ctorch._utils\n_rebuild_tensor_v2\n((" + unicode("storage")
        p += f"ctorch\n{cls}\n".encode() + unicode(key) + unicode("cpu") + b"K" + bytes([acc]) + b"tQK\x00"
        p += ints(shape) + ints(strides) + b"\x89ccollections\nOrderedDict\n)RtR"
    return p + b"u."


write(
    "f.pth",
    stored_zip(
        [
            ("archive/data.pkl", state_dict([("w", "FloatStorage", "0", (8, 8)), ("b", "FloatStorage", "1", (16,))])),
            ("archive/data/0", f32(floats(64, 5))),
            ("archive/data/1", f32(floats(16, 6))),
            ("archive/version", b"3\n"),
        ]
    ),
)


# ---- GGUF v3: two metadata keys, F32 / F16 / Q8_0 tensors, 32-byte alignment ---------------
def gstr(s):
    return struct.pack("<Q", len(s)) + s.encode()


tensors = [
    ("tok.weight", 0, (8, 4), f32(floats(32, 7))),
    ("norm.weight", 1, (16,), f16(floats(16, 8))),
    ("q.weight", 8, (32,), bytes(range(34))),
    ("d.weight", 28, (12,), f64(floats(12, 21))),
]
g = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 2)
g += gstr("general.name") + struct.pack("<I", 8) + gstr("tiny")
g += gstr("general.alignment") + struct.pack("<II", 4, 32)
off, offsets = 0, []
for name, t, shape, data in tensors:
    g += gstr(name) + struct.pack("<I", len(shape)) + struct.pack("<%dQ" % len(shape), *shape)
    g += struct.pack("<IQ", t, off)
    offsets.append(off)
    off = (off + len(data) + 31) // 32 * 32
g += b"\0" * ((32 - len(g) % 32) % 32)
base = len(g)
for (_, _, _, data), o in zip(tensors, offsets):
    g += b"\0" * (base + o - len(g)) + data
write("g.gguf", g)


# ---- ONNX: ModelProto { ir_version, graph { initializers, a Constant node } } ---------------
def varint(v):
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def field(n, payload):
    return varint(n << 3 | 2) + varint(len(payload)) + payload


def vint(n, v):
    return varint(n << 3) + varint(v)


def tensor_proto(name, dims, dt, raw):
    return b"".join(vint(1, d) for d in dims) + vint(2, dt) + field(8, name.encode()) + field(9, raw)


graph = field(5, tensor_proto("w", (4, 16), 1, f32(floats(64, 9))))
graph += field(5, tensor_proto("h", (64,), 10, f16(floats(64, 10))))
graph += field(5, tensor_proto("d", (16,), 11, f64(floats(16, 22))))
# float64 as ONNX's packed double_data (field 10) instead of raw_data.
packed = b"".join(vint(1, d) for d in (12,)) + vint(2, 11) + field(8, b"p")
graph += field(5, packed + field(10, f64(floats(12, 23))))
const = field(5, field(1, b"value") + field(5, tensor_proto("", (32,), 1, f32(floats(32, 11)))))
graph += field(1, field(2, b"c0") + field(4, b"Constant") + const)
write("h.onnx", vint(1, 8) + field(7, graph))


# ---- TFLite: Model { subgraphs [ { tensors } ], buffers }, as tests/containers.rs builds it --
def tflite(ts):
    o = bytearray(8)
    o[4:8] = b"TFL3"

    def put(at, v):
        o[at : at + 4] = struct.pack("<I", v)

    def align(a):
        o.extend(b"\0" * ((a - len(o) % a) % a))

    def table(present, nfields):
        align(4)
        vt = len(o)
        o.extend(struct.pack("<HH", 4 + 2 * nfields, 4 + 4 * len(present)))
        for f in range(nfields):
            o.extend(struct.pack("<H", 4 + 4 * present.index(f) if f in present else 0))
        align(4)
        t = len(o)
        o.extend(struct.pack("<i", t - vt) + b"\0" * (4 * len(present)))
        return t, [t + 4 + 4 * k for k in range(len(present))]

    def offsets(frm, n):
        align(4)
        v = len(o)
        put(frm, v - frm)
        o.extend(struct.pack("<I", n) + b"\0" * (4 * n))
        return v + 4

    model, ms = table([2, 4], 5)
    put(0, model)
    sgs = offsets(ms[0], 1)
    sg, ss = table([0], 1)
    put(sgs, sg - sgs)
    tv = offsets(ss[0], len(ts))
    for i, (name, ty, shape, _) in enumerate(ts):
        t, f = table([0, 1, 2, 3], 4)
        put(tv + 4 * i, t - tv - 4 * i)
        o[f[1]] = ty
        put(f[2], i + 1)
        put(f[0], len(o) - f[0])
        o.extend(struct.pack("<I%di" % len(shape), len(shape), *shape))
        put(f[3], len(o) - f[3])
        o.extend(struct.pack("<I", len(name)) + name.encode())
    bv = offsets(ms[1], len(ts) + 1)
    b0, _ = table([], 1)
    put(bv, b0 - bv)
    for i, (_, _, _, data) in enumerate(ts):
        b, f = table([0], 1)
        put(bv + 4 * (i + 1), b - bv - 4 * (i + 1))
        o.extend(b"\0" * ((16 - (len(o) + 4) % 16) % 16))
        put(f[0], len(o) - f[0])
        o.extend(struct.pack("<I", len(data)) + data)
    return bytes(o)


write(
    "i.tflite",
    tflite(
        [
            ("conv/w", 0, (4, 3, 3, 2), f32(floats(72, 12))),
            ("dense/w", 1, (8, 8), f16(floats(64, 13))),
            ("dense/b", 9, (16,), bytes(range(16))),
            ("table", 10, (2, 6), f64(floats(12, 24))),
        ]
    ),
)


# ---- safetensors: an F64 tensor beside an F32 one -------------------------------------------
st = [("w64", "F64", [4, 6], f64(floats(24, 25))), ("w32", "F32", [16], f32(floats(16, 26)))]
meta, at = {}, 0
for name, dt, shape, data in st:
    meta[name] = {"dtype": dt, "shape": shape, "data_offsets": [at, at + len(data)]}
    at += len(data)
head = json.dumps(meta, separators=(",", ":")).encode()
head += b" " * ((8 - len(head) % 8) % 8)
write("k.safetensors", struct.pack("<Q", len(head)) + head + b"".join(d for *_, d in st))
