#!/usr/bin/env python3
"""GGUF files written by llama.cpp's own writer (the gguf package), from minilm's real weights.

Usage: derive_gguf.py MODELS_DIR GGUF_WHEEL

Writes into MODELS_DIR, from minilm.fp32.safetensors:
  minilm.bf16.gguf   every F32 tensor as BF16 by gguf.quants.quantize (llama.cpp's conversion),
                     position_ids as I64, and metadata of several key/value types
  minilm.q8_0.gguf   the 2-D weights as Q8_0 blocks (what most GGUF files on model hubs hold),
                     vectors kept F32 as llama.cpp's converter keeps norms and biases
  minilm.q4_q5.gguf  the 2-D weights as Q4_0, Q4_1, Q5_0 and Q5_1 blocks in turn (llama.cpp's
                     mixes also give tensors of one file different types)
Our GGUF parser was written from the format's description; these files are what the reference
writer makes (its alignment, padding, key/value encoding), so tests/real_models.rs checks the
parser against them. GGUF_WHEEL is the pinned gguf wheel (fetch-models.sh downloads and hash-checks
it), imported straight from the zip; it needs numpy, from the shared .venv.
"""
import json
import os
import struct
import sys
import types

import numpy as np

models, wheel = sys.argv[1], sys.argv[2]
# gguf imports yaml only to read model cards (gguf.metadata), which nothing here does. A bare
# placeholder module stands in; any real use of it fails loudly.
sys.modules.setdefault("yaml", types.ModuleType("yaml"))
sys.path.insert(0, wheel)
import gguf  # noqa: E402
from gguf.quants import quantize  # noqa: E402


def tensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8 : 8 + n])
    data = memoryview(buf)[8 + n :]
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64}[t["dtype"]]
        yield name, np.frombuffer(data[a:b], dtype=dtype).reshape(t["shape"])


def write(out, convert):
    tmp = out + ".tmp"
    w = gguf.GGUFWriter(tmp, "bert")
    w.add_name("all-MiniLM-L6-v2")
    w.add_context_length(512)
    w.add_embedding_length(384)
    w.add_block_count(6)
    w.add_layer_norm_eps(1e-12)
    w.add_array("zipnn_wasm.test.strings", ["a", "bc", ""])
    w.add_array("zipnn_wasm.test.floats", [0.5, -1.25])
    w.add_bool("zipnn_wasm.test.bool", True)
    for name, arr in tensors(os.path.join(models, "minilm.fp32.safetensors")):
        if arr.dtype == np.int64:
            w.add_tensor(name, arr)
            continue
        qtype = convert(arr)
        if qtype is None:
            w.add_tensor(name, arr)
        else:
            q = quantize(arr, qtype)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, out)


Q = gguf.GGMLQuantizationType
write(os.path.join(models, "minilm.bf16.gguf"), lambda a: Q.BF16)
write(
    os.path.join(models, "minilm.q8_0.gguf"),
    lambda a: Q.Q8_0 if a.ndim == 2 and a.shape[-1] % 32 == 0 else None,
)
legacy = [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1]
turn = iter(range(1 << 30))
write(
    os.path.join(models, "minilm.q4_q5.gguf"),
    lambda a: legacy[next(turn) % 4] if a.ndim == 2 and a.shape[-1] % 32 == 0 else None,
)
