#!/usr/bin/env python3
"""Reference ZipNN 0.5.4 (byte input format) as a command line, for the Rust tests.

  zipnn_roundtrip.py compress --dtype bf16|fp16|fp32|fp8_e4m3fn|fp8_e5m2 [--streaming CHUNK]
                     [--chunk CHUNK] [--threads N] IN OUT
  zipnn_roundtrip.py decompress [--threads N] IN OUT
  zipnn_roundtrip.py info IN            print the frame headers as JSON lines
  zipnn_roundtrip.py selftest           round-trip a few synthetic buffers

IN/OUT may be '-' for stdin/stdout. CHUNK accepts a plain number or a K/M suffix (powers of 2).
compress == ZipNN(input_format='byte', bytearray_dtype=D, is_streaming=bool(S),
streaming_chunk=S, compression_chunk=C).compress(bytearray(data)) — always on a copy, because zipnn
reorders bits in place in the buffer it is given. decompress reads the frame header (streaming
frames are walked by zipnn itself); frames made with input_format torch/numpy decompress to their
raw little-endian element bytes.

Run it with .venv/bin/python (scripts/setup-python.sh). If the real torch is not installed, a
placeholder `torch` module is put in sys.modules before `import zipnn`: zipnn imports torch at
module level but its byte path never calls it (see scripts/setup-python.sh). The placeholders
are not callable, so any code path that really needs torch fails loudly instead of silently.
"""
import argparse
import json
import os
import struct
import sys
import types

DTYPES = {
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "fp32": "float32",
    "float32": "float32",
    "fp8_e4m3fn": "float8_e4m3fn",
    "float8_e4m3fn": "float8_e4m3fn",
    "fp8_e5m2": "float8_e5m2",
    "float8_e5m2": "float8_e5m2",
}
DTYPE_CODES = {1: "float32", 2: "float", 4: "float16", 5: "half", 6: "bfloat16", 29: "float8_e4m3fn", 30: "float8_e5m2"}


def install_torch_placeholder():
    """Minimal stand-in for `import torch` so that `import zipnn` works for the byte format."""

    class _Placeholder:
        __slots__ = ("name",)

        def __init__(self, name):
            self.name = name

        def __repr__(self):
            return "torch.%s<placeholder>" % self.name

        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return _Placeholder(self.name + "." + attr)

    class _TorchPlaceholder(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            value = _Placeholder(name)
            setattr(self, name, value)
            return value

    torch = _TorchPlaceholder("torch")
    torch.__version__ = "0+placeholder"
    jit = types.ModuleType("torch.jit")
    jit.script = lambda fn: fn
    torch.jit = jit
    for alias, name in (("float", "float32"), ("half", "float16"), ("double", "float64"),
                        ("cfloat", "complex64"), ("cdouble", "complex128"), ("chalf", "complex32"),
                        ("short", "int16"), ("int", "int32"), ("long", "int64")):
        setattr(torch, alias, getattr(torch, name))
    sys.modules["torch"] = torch
    sys.modules["torch.jit"] = jit


def load_zipnn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.15 deprecates torch.jit.script, used by zipnn
        try:
            import torch  # noqa: F401
        except ImportError:
            install_torch_placeholder()
        from zipnn import ZipNN

    return ZipNN


def parse_size(s):
    s = s.strip().upper()
    mult = 1
    if s.endswith("K"):
        mult, s = 1024, s[:-1]
    elif s.endswith("M"):
        mult, s = 1024 * 1024, s[:-1]
    n = int(s) * mult
    if n <= 0 or n & (n - 1):
        raise argparse.ArgumentTypeError("%r is not a power of 2" % s)
    return n


def read_in(path):
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def write_out(path, data):
    if path == "-":
        sys.stdout.buffer.write(data)
        return
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def compress(data, dtype, streaming=None, chunk=None, threads=0):
    ZipNN = load_zipnn()
    kw = dict(input_format="byte", bytearray_dtype=DTYPES[dtype], threads=threads)
    if streaming:
        kw.update(is_streaming=True, streaming_chunk=streaming)
    if chunk:
        kw.update(compression_chunk=chunk)
    return bytes(ZipNN(**kw).compress(bytearray(data)))


def decompress(comp, threads=0):
    if len(comp) == 0:
        # streaming compression of an empty input writes zero frames; zipnn's own decompress()
        # then fails (IndexError reading header byte 9), we return the empty original instead
        return b""
    if len(comp) < 32 or comp[:2] != b"ZN":
        raise SystemExit("zipnn_roundtrip: input is not a ZipNN frame")
    ZipNN = load_zipnn()
    fmt = comp[8]
    name = {1: "byte", 2: "torch", 3: "numpy"}.get(fmt)
    if name is None:
        raise SystemExit("zipnn_roundtrip: unknown input_format %d in header" % fmt)
    if comp[9] != 0:
        raise SystemExit("zipnn_roundtrip: delta frames need their base; use zipnn directly")
    out = ZipNN(input_format=name, threads=threads).decompress(bytearray(comp))
    if isinstance(out, (bytes, bytearray)):
        return bytes(out)
    import numpy as np

    if isinstance(out, np.ndarray):
        return out.astype(out.dtype.newbyteorder("<")).tobytes()
    import torch

    return out.contiguous().view(-1).view(torch.uint8).numpy().tobytes()


def frames(comp):
    off = 0
    while off < len(comp):
        h = comp[off : off + 32]
        if len(h) < 32 or h[:2] != b"ZN":
            raise SystemExit("zipnn_roundtrip: bad frame at offset %d" % off)
        total = struct.unpack_from("<Q", h, 24)[0]
        info = {
            "offset": off,
            "version": "%d.%d.%d" % (h[2], h[3], h[4]),
            "byte_reorder": h[5],
            "bit_reorder": h[6],
            "method": h[7],
            "input_format": h[8],
            "delta": h[9],
            "lossy": [h[10], h[11], h[12]],
            "streaming": (1 << (h[13] - 128)) if h[13] >= 128 else 0,
            "compression_chunk": 1 << h[14],
            "dtype": DTYPE_CODES.get(h[15], h[15]),
            "original_len": struct.unpack_from("<Q", h, 16)[0],
            "frame_len": total,
        }
        yield info
        if total < 32:
            raise SystemExit("zipnn_roundtrip: frame length %d < 32 at offset %d" % (total, off))
        off += total
        if h[13] < 128:  # a non-streaming file is one frame
            break


def selftest():
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.02, 70001).astype(np.float32)
    cases = {
        "fp32": a.tobytes(),
        "fp16": a.astype(np.float16).tobytes(),
        "bf16": (a.view(np.uint32) >> 16).astype(np.uint16).tobytes(),
        "fp8_e4m3fn": a.view(np.uint8).tobytes()[:150001],
    }
    for dt, raw in cases.items():
        for kw in ({}, {"streaming": 128 * 1024}, {"chunk": 64 * 1024}):
            c = compress(raw, dt, **kw)
            if decompress(c) != raw:
                raise SystemExit("selftest: %s %r did not round-trip" % (dt, kw))
    print("zipnn_roundtrip selftest: ok")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compress")
    c.add_argument("--dtype", required=True, choices=sorted(DTYPES))
    c.add_argument("--streaming", type=parse_size, default=None, metavar="CHUNK")
    c.add_argument("--chunk", type=parse_size, default=None, metavar="CHUNK")
    c.add_argument("--threads", type=int, default=0)
    c.add_argument("input")
    c.add_argument("output")
    d = sub.add_parser("decompress")
    d.add_argument("--threads", type=int, default=0)
    d.add_argument("input")
    d.add_argument("output")
    i = sub.add_parser("info")
    i.add_argument("input")
    sub.add_parser("selftest")
    args = p.parse_args()
    if args.cmd == "compress":
        write_out(args.output, compress(read_in(args.input), args.dtype, args.streaming, args.chunk, args.threads))
    elif args.cmd == "decompress":
        write_out(args.output, decompress(read_in(args.input), args.threads))
    elif args.cmd == "info":
        for f in frames(read_in(args.input)):
            print(json.dumps(f))
    else:
        selftest()


if __name__ == "__main__":
    main()
