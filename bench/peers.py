#!/usr/bin/env python3
"""Peer benchmark: our codec against zipnn 0.5.4, zstd -3/-19 and byte grouping + zstd-3, on the
same files in one run. Prints a Markdown table (ratio = compressed/original, lower is better;
MB/s = original MB per second, single thread unless noted) and marks the smallest per file.

Run through `make bench-peers` (scripts/bench-peers.sh sets up the venv and the models).
Our codec is timed in-process by `zipnn bench` (the release CLI); peers in-process here.
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import zipnn_roundtrip  # noqa: E402  (imports zipnn with its torch placeholder)

import numpy as np  # noqa: E402
import zstandard  # noqa: E402

CLI = os.path.join(ROOT, "target", "release", "zipnn")
CORPUS = [
    ("minilm.fp32.safetensors", "float32"),
    ("minilm.bf16.safetensors", "bfloat16"),
    ("minilm.fp16.safetensors", "float16"),
    ("minilm.bf16.bin", "bfloat16"),
    ("minilm.fp16.bin", "float16"),
    ("silero_vad.onnx", "float32"),
    ("silero_vad.jit", "float32"),
    ("silero_vad_16k.safetensors", "float32"),
    ("english_g2.pth", "float32"),
    ("english_g2.pth.f32-stream.bin", "float32"),
    ("silero_vad.onnx.f32-stream.bin", "float32"),
    ("craft_mlt_25k.pth", "float32"),
]
WIDTH = {"float32": 4, "bfloat16": 2, "float16": 2}


def best_time(fn, min_runs=3, budget=0.5):
    best, runs, spent = float("inf"), 0, 0.0
    while runs < min_runs or spent < budget:
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best, runs, spent = min(best, dt), runs + 1, spent + dt
        if runs >= 20:
            break
    return best, out


def ours(path, extra):
    out = subprocess.run([CLI, "bench", "--dtype", "auto", *extra, path], check=True, capture_output=True, text=True).stdout
    row = [c.strip() for c in out.strip().splitlines()[-1].strip("|").split("|")]
    # | file | MB | ratio | compress MB/s | decompress MB/s (warm) | decompress MB/s (fresh) |
    return float(row[2]), float(row[3]), float(row[5])


def zipnn_row(data, dtype, threads):
    z = zipnn_roundtrip.load_zipnn()(input_format="byte", bytearray_dtype=dtype, threads=threads)
    tc, packed = best_time(lambda: z.compress(bytearray(data)))
    td, back = best_time(lambda: z.decompress(packed))
    assert bytes(back) == data, "zipnn round trip"
    return len(packed) / len(data), len(data) / 1e6 / tc, len(data) / 1e6 / td


def zstd_row(data, level):
    c = zstandard.ZstdCompressor(level=level)
    d = zstandard.ZstdDecompressor()
    tc, packed = best_time(lambda: c.compress(data), min_runs=1 if level > 9 else 3, budget=0 if level > 9 else 0.5)
    td, back = best_time(lambda: d.decompress(packed))
    assert back == data
    return len(packed) / len(data), len(data) / 1e6 / tc, len(data) / 1e6 / td


def bytegroup_row(data, width):
    n = len(data) // width * width
    arr = np.frombuffer(data[:n], dtype=np.uint8).reshape(-1, width)
    c, d = zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor()

    def comp():
        return [c.compress(arr[:, k].tobytes()) for k in range(width)] + [c.compress(data[n:])]

    def decomp():
        cols = [np.frombuffer(d.decompress(p), dtype=np.uint8) for p in parts[:width]]
        return np.stack(cols, axis=1).tobytes() + d.decompress(parts[width])

    tc, parts = best_time(comp)
    td, back = best_time(decomp)
    assert back == data
    return sum(len(p) for p in parts) / len(data), len(data) / 1e6 / tc, len(data) / 1e6 / td


def main():
    rows = []
    for name, dtype in CORPUS:
        path = os.path.join(ROOT, "models", name)
        if not os.path.exists(path):
            # (a table with a model left out reads as the whole corpus)
            sys.exit(f"peers: models/{name} is missing: run scripts/fetch-models.sh")
        data = open(path, "rb").read()
        methods = {}
        methods["zipnn-wasm"] = ours(path, [])
        methods["zipnn-wasm --best"] = ours(path, ["--best"])
        methods["zipnn 0.5.4 T=1"] = zipnn_row(data, dtype, 1)
        methods[f"zipnn 0.5.4 T={os.cpu_count()}"] = zipnn_row(data, dtype, min(os.cpu_count() or 1, 16))
        methods["zstd -3"] = zstd_row(data, 3)
        methods["zstd -19"] = zstd_row(data, 19)
        methods[f"bytegroup{WIDTH[dtype]}+zstd-3"] = bytegroup_row(data, WIDTH[dtype])
        rows.append((name, len(data), dtype, methods))
        print(f"{name}: " + ", ".join(f"{k} {v[0]:.4f}" for k, v in methods.items()), file=sys.stderr)
    lines = [
        "| file | MB | method | ratio | compress MB/s | decompress MB/s |",
        "|---|---:|---|---:|---:|---:|",
    ]
    summary = ["| file | ours | best peer | peer ratio | margin |", "|---|---:|---|---:|---:|"]
    for name, size, dtype, methods in rows:
        best = min(v[0] for v in methods.values())
        for k, (r, c, d) in methods.items():
            mark = " **best**" if r == best else ""
            lines.append(f"| `{name}` | {size / 1e6:.2f} | {k}{mark} | {r:.4f} | {c:.0f} | {d:.0f} |")
        ours_best = min(methods["zipnn-wasm"][0], methods["zipnn-wasm --best"][0])
        peer = min((v[0], k) for k, v in methods.items() if not k.startswith("zipnn-wasm"))
        summary.append(f"| `{name}` | {ours_best:.4f} | {peer[1]} | {peer[0]:.4f} | {peer[0] - ours_best:+.4f} |")
    print("\n".join(summary))
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
