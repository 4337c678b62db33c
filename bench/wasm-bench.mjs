#!/usr/bin/env node
// The wasm build in node on the real-model corpus, against zipnn 0.5.4 measured in the same run.
//
//   node bench/wasm-bench.mjs [--pkg DIR] [--nosimd] [--rounds N] [--min-time S] [--no-zipnn] [FILE[:DTYPE]...]
//
// DIR holds the `--target web` glue (default pkg/dist: zipnn_wasm.js + zipnn_wasm_bg.wasm;
// `--nosimd` loads the build without simd128, zipnn_wasm_nosimd_bg.wasm, instead).
// Default files and DTYPE as in benches/codec.rs. zipnn runs in two helper processes
// (bench/zipnn_bench.py --serve): as shipped, and with glibc keeping freed memory mapped (its
// "warm memory" mode, see the script). Each round measures all of ours on one file, then
// zipnn's; a figure is the best call over all rounds (the machine is shared; only same-run
// ratios mean much). MB/s = original bytes / 1e6 / s. Results and method: bench/NOTES.md.
//
// What is measured on our side (exports of the wasm module):
//   compress(data, dtype)            .znw, one thread
//   decompress(packed)               a new Uint8Array each call (the "fresh output" case)
//   decompressInto(packed, target)   `target` allocated once and reused ("warm memory")
//   the same two on zipnn's own file (the decoder reading ZipNN frames)
//   bound: new Uint8Array(n).fill(1), i.e. first touch of fresh memory, and a warm fill
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let pkgDir = path.join(repo, 'pkg/dist');
let rounds = 5;
let minTime = 0.2;
let useZipnn = true;
let wasmFile = 'zipnn_wasm_bg.wasm';
const specs = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--pkg') pkgDir = path.resolve(args[++i]);
  else if (a === '--rounds') rounds = Number(args[++i]);
  else if (a === '--min-time') minTime = Number(args[++i]);
  else if (a === '--no-zipnn') useZipnn = false;
  else if (a === '--nosimd') wasmFile = 'zipnn_wasm_nosimd_bg.wasm';
  else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
  else specs.push(a);
}
if (specs.length === 0) {
  specs.push(
    'models/minilm.bf16.safetensors:bf16',
    'models/minilm.fp32.safetensors:fp32',
    'models/minilm.fp16.safetensors:fp16',
    'models/english_g2.pth.f32-stream.bin:fp32',
  );
}

const glue = await import(pathToFileURL(path.join(pkgDir, 'zipnn_wasm.js')).href);
await glue.default({ module_or_path: fs.readFileSync(path.join(pkgDir, wasmFile)) });
const z = glue;

/** One zipnn helper process answering JSON lines. */
class Zipnn {
  constructor(warm) {
    const python = process.env.ZIPNN_PYTHON || path.join(repo, '.venv/bin/python');
    const env = { ...process.env };
    if (warm) env.GLIBC_TUNABLES = 'glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184';
    this.child = spawn(python, [path.join(repo, 'bench/zipnn_bench.py'), '--serve', '--threads', '1'], {
      env,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async call(cmd) {
    this.child.stdin.write(JSON.stringify(cmd) + '\n');
    const { value, done } = await this.lines.next();
    if (done) throw new Error('zipnn helper exited');
    return JSON.parse(value);
  }
  async best(op, file) {
    return (await this.call({ op, file, min_time: minTime })).best;
  }
  close() {
    this.child.stdin.end(JSON.stringify({ op: 'quit' }) + '\n');
  }
}

/** Calls `f` until `minTime` seconds were spent (at least 3 calls); the best call's seconds. */
function bestOf(f) {
  let best = Infinity;
  let spent = 0;
  for (let runs = 0; runs < 3 || spent < minTime; runs++) {
    const t0 = performance.now();
    f();
    const dt = (performance.now() - t0) / 1e3;
    best = Math.min(best, dt);
    spent += dt;
  }
  return best;
}

const ZIPNN_ROWS = ['zipnn compress', 'zipnn decompress, as shipped', 'zipnn decompress, warm memory'];
let shipped = null;
let warm = null;
if (useZipnn) {
  shipped = new Zipnn(false);
  warm = new Zipnn(true);
}

const files = [];
for (const spec of specs) {
  const at = spec.lastIndexOf(':');
  const [p, dtype] = at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, 'bf16'];
  const file = path.isAbsolute(p) ? p : path.join(repo, p);
  const data = new Uint8Array(fs.readFileSync(file));
  const packed = z.compress(data, dtype);
  if (!Buffer.from(z.decompress(packed)).equals(Buffer.from(data))) throw new Error(`${file}: round trip`);
  let znn = null;
  if (shipped) {
    const save = path.join(fs.mkdtempSync('/tmp/zipnn-wasm-bench-'), 'f.znn');
    const info = await shipped.call({ op: 'load', file, dtype, save });
    await warm.call({ op: 'load', file, dtype });
    znn = new Uint8Array(fs.readFileSync(save));
    fs.rmSync(path.dirname(save), { recursive: true });
    if (!Buffer.from(z.decompress(znn)).equals(Buffer.from(data))) throw new Error(`${file}: zipnn file`);
    console.error(`${file}: ours ${(packed.length / data.length).toFixed(4)}, zipnn ${(info.compressed / data.length).toFixed(4)}`);
  }
  files.push({ file, dtype, data, packed, znn, rows: null, zipnn: [Infinity, Infinity, Infinity] });
}

function measureOurs(f) {
  const n = f.data.length;
  const rows = [];
  const row = (name, s, vs) => rows.push({ name, s, vs });
  row('compress', bestOf(() => z.compress(f.data, f.dtype)), 0);
  row('decompress(), new Uint8Array', bestOf(() => z.decompress(f.packed)), 1);
  const target = new Uint8Array(n);
  row('decompressInto, reused target', bestOf(() => z.decompressInto(f.packed, target)), 2);
  if (f.znn) {
    row('zipnn file: decompress()', bestOf(() => z.decompress(f.znn)), 1);
    row('zipnn file: decompressInto, reused target', bestOf(() => z.decompressInto(f.znn, target)), 2);
  }
  row('bound: new Uint8Array(n).fill(1) (page faults)', bestOf(() => new Uint8Array(n).fill(1)), null);
  row('bound: fill of the reused target', bestOf(() => target.fill(7)), null);
  return rows;
}

for (let r = 0; r < rounds; r++) {
  process.stderr.write(`round ${r + 1}/${rounds}\r`);
  for (const f of files) {
    const rows = measureOurs(f);
    if (!f.rows) f.rows = rows;
    else f.rows.forEach((x, i) => (x.s = Math.min(x.s, rows[i].s)));
    if (shipped) {
      const t = [
        await shipped.best('compress', f.file),
        await shipped.best('decompress', f.file),
        await warm.best('decompress', f.file),
      ];
      f.zipnn = f.zipnn.map((b, i) => Math.min(b, t[i]));
    }
  }
}
process.stderr.write('\n');
shipped?.close();
warm?.close();

for (const f of files) {
  const n = f.data.length;
  const mbs = (s) => (n / 1e6 / s).toFixed(0);
  const znn = f.znn ? `, zipnn ${(f.znn.length / n).toFixed(4)}` : '';
  console.log(`\n## wasm${wasmFile.includes('nosimd') ? ' (no SIMD)' : ''}: ${path.basename(f.file)} (${(n / 1e6).toFixed(1)} MB, ${f.dtype}; ratio ours ${(f.packed.length / n).toFixed(4)}${znn})`);
  console.log('| operation | MB/s | vs zipnn | ratio |\n|---|---:|---|---:|');
  for (const x of f.rows) {
    const has = x.vs !== null && Number.isFinite(f.zipnn[x.vs]);
    const vs = has ? ZIPNN_ROWS[x.vs].replace('zipnn ', '') : '';
    const ratio = has ? `${(f.zipnn[x.vs] / x.s).toFixed(2)}×` : '';
    console.log(`| ${x.name} | ${mbs(x.s)} | ${vs} | ${ratio} |`);
  }
  f.zipnn.forEach((s, i) => {
    if (Number.isFinite(s)) console.log(`| ${ZIPNN_ROWS[i]} | ${mbs(s)} | | |`);
  });
}
