#!/usr/bin/env python3
"""zipnn 0.5.4's side of the benchmarks (bench/NOTES.md says how the numbers are compared).

  zipnn_bench.py FILE DTYPE [--threads N] [--rounds R]   measure one file, print a table
  zipnn_bench.py --serve [--threads N]                   answer JSON commands on stdin

The native bench (benches/codec.rs) and the wasm bench (bench/wasm-bench.mjs) start this as a
server and alternate their own rounds with its rounds, so that load from other processes on the
machine hits both sides alike. Commands, one JSON object per line; one JSON answer per line:

  {"op": "load", "file": PATH, "dtype": "bf16"|"fp16"|"fp32", "save": PATH?}
        read FILE, compress it once (checked to round-trip), keep both under the name PATH,
        optionally write zipnn's compressed bytes to `save`; answers {"size": n, "compressed": m}
  {"op": "compress", "file": PATH, "min_time": s}    best seconds of compress(bytearray copy)
  {"op": "decompress", "file": PATH, "min_time": s}  best seconds of decompress(compressed)
  {"op": "quit"}

Every measurement repeats the call until `min_time` seconds were spent (at least 3 calls) and
answers the best call: {"best": seconds, "runs": k}.

zipnn's API has no "decompress into this buffer": every call returns a new bytearray. So the
"warm memory" mode is the same call with glibc told to keep freed memory in the heap
(GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=...), which makes the next
call's output land in pages already mapped: the page faults go away (checked: ~11,000 minor
faults per 45 MB call as shipped, 1 with the tunables). The caller sets that environment; this
script reports the faults it saw so the mode can be verified.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
import zipnn_roundtrip  # noqa: E402  (torch placeholder + import of zipnn)

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


class Side:
    def __init__(self, threads):
        self.ZipNN = zipnn_roundtrip.load_zipnn()
        self.threads = threads
        self.files = {}  # path -> (ZipNN instance, data, compressed)

    def load(self, path, dtype, save=None):
        with open(path, "rb") as f:
            data = f.read()
        z = self.ZipNN(input_format="byte", bytearray_dtype=DTYPES[dtype], threads=self.threads)
        comp = bytes(z.compress(bytearray(data)))
        if bytes(z.decompress(comp)) != data:
            raise SystemExit("zipnn_bench: zipnn did not round-trip " + path)
        if save:
            with open(save, "wb") as f:
                f.write(comp)
        self.files[path] = (z, data, comp)
        return {"size": len(data), "compressed": len(comp)}

    def measure(self, fn, min_time, prepare=None):
        times, spent = [], 0.0
        # One call first, untimed and uncounted: the first decode of a file in this process
        # maps its output even with warm memory (a tenth of a 10-call measurement's faults).
        fn(prepare() if prepare else None)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        while len(times) < 3 or spent < min_time:
            arg = prepare() if prepare else None
            t0 = time.perf_counter()
            out = fn(arg)
            dt = time.perf_counter() - t0
            del out
            times.append(dt)
            spent += dt
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        runs = len(times)
        # The median for rows of fresh output (bench/wasm-bench.mjs `bestOf`).
        return {"best": min(times), "median": statistics.median(times), "runs": runs,
                "faults_per_run": faults / runs}

    def compress(self, path, min_time):
        # zipnn reorders bits in place in the buffer it is given: compress a fresh copy each
        # time, made before the clock starts.
        z, data, _ = self.files[path]
        return self.measure(lambda ba: z.compress(ba), min_time, lambda: bytearray(data))

    def decompress(self, path, min_time):
        z, _, comp = self.files[path]
        return self.measure(lambda _: z.decompress(comp), min_time)


def serve(side):
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "quit":
            break
        if op == "load":
            ans = side.load(cmd["file"], cmd["dtype"], cmd.get("save"))
        elif op == "compress":
            ans = side.compress(cmd["file"], cmd.get("min_time", 0.3))
        elif op == "decompress":
            ans = side.decompress(cmd["file"], cmd.get("min_time", 0.3))
        else:
            ans = {"error": "unknown op " + op}
        sys.stdout.write(json.dumps(ans) + "\n")
        sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--serve", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("file", nargs="?")
    p.add_argument("dtype", nargs="?", choices=sorted(DTYPES))
    a = p.parse_args()
    side = Side(a.threads)
    if a.serve:
        serve(side)
        return
    if not a.file or not a.dtype:
        p.error("FILE and DTYPE are needed without --serve")
    info = side.load(a.file, a.dtype)
    n = info["size"]
    best = {"compress": float("inf"), "decompress": float("inf")}
    for _ in range(a.rounds):
        best["compress"] = min(best["compress"], side.compress(a.file, 0.3)["best"])
        d = side.decompress(a.file, 0.3)
        best["decompress"] = min(best["decompress"], d["best"])
    print("%s: ratio %.4f, compress %.0f MB/s, decompress %.0f MB/s (%.0f page faults a call)"
          % (a.file, info["compressed"] / n, n / 1e6 / best["compress"],
             n / 1e6 / best["decompress"], d["faults_per_run"]))


if __name__ == "__main__":
    main()
