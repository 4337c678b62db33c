#!/usr/bin/env node
// The wasm build in node on the real-model corpus, against zipnn 0.5.4 measured in the same run.
//
//   node bench/wasm-bench.mjs [--pkg DIR] [--nosimd] [--rounds N] [--min-time S] [--no-zipnn] [--threads N]
//                             [--pool-sweep] [--best] [FILE[:DTYPE]...]
//
// DIR holds the `--target web` glue (default pkg/dist: zipnn_wasm.js + zipnn_wasm_bg.wasm;
// `--nosimd` loads the build without simd128, zipnn_wasm_nosimd_bg.wasm, instead).
// Default files and DTYPE as in benches/codec.rs. zipnn runs in two helper processes
// (bench/zipnn_bench.py --serve): as shipped, and with glibc keeping freed memory mapped (its
// "warm memory" mode, see the script). Each round measures all of ours on one file, then
// zipnn's; a figure is the best call over all rounds (the machine is shared; only same-run
// ratios mean much), except where the output is a new buffer (our `decompress()` rows, zipnn
// as shipped, the page-fault bounds): there the median of the calls that faulted their output
// in (see `bestOf`), of the best round where any did, and a line after each table gives those
// rows' page faults a call and the calls left out. MB/s = original bytes / 1e6 /
// s. Every row that decodes into a kept buffer is checked once after its clock; zipnn's "warm
// memory" helper must fault in under a tenth of the output's pages. Results and method:
// bench/NOTES.md.
//
// What is measured on our side (exports of the wasm module):
//   compress(data, dtype)            .znw, one thread
//   decompress(packed)               a new Uint8Array each call (the "fresh output" case)
//   decompressInto(packed, target)   `target` allocated once and reused ("warm memory")
//   Decompressor                     wasm-memory output kept across calls: input read from JS
//                                    piece by piece, or already in its wasm-memory input buffer
//   the same two on zipnn's own file (the decoder reading ZipNN frames)
//   bound: new Uint8Array(n).fill(1), i.e. first touch of fresh memory, and a warm fill
// and, through the package (pkg/node.js; default DIR only), its worker pool against one thread,
// the two measured back to back in each round (--threads N workers, default 2; 0: skip):
//   decompress(packed, { threads })            into a new SharedArrayBuffer
//   decompressInto(packed, shared, { threads }) a reused SharedArrayBuffer target
//   result.slice()                             a plain copy of the pool's shared result
// --pool-sweep: the same on prefixes of the first file (1-16 MiB), for the pool's threshold.
// --best: also the file compressed with `--best` (tANS, context modes, 1 MiB chunks; written by
// the native CLI, target/release/zipnn, since the wasm API has no such option), decoded with
// Decompressor.decompressInput in turns with the order-0 file: its speed as a fraction of theirs.
import { execFileSync, spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import os from 'node:os';
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
let threads = 2;
let sweep = false;
let withBest = false;
let wasmFile = 'zipnn_wasm_bg.wasm';
const specs = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--pkg') pkgDir = path.resolve(args[++i]);
  else if (a === '--rounds') rounds = Number(args[++i]);
  else if (a === '--min-time') minTime = Number(args[++i]);
  else if (a === '--no-zipnn') useZipnn = false;
  else if (a === '--threads') threads = Number(args[++i]);
  else if (a === '--pool-sweep') sweep = true;
  else if (a === '--best') withBest = true;
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
// The worker pool lives in the package, over pkg/dist.
const pkg = threads > 1 && pkgDir === path.join(repo, 'pkg/dist') ? await import(pathToFileURL(path.join(repo, 'pkg/node.js')).href) : null;

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
  /** The best call's seconds, or with `fresh` the median call's (as `bestOf`); `fastest` keeps the best. */
  async best(op, file, fresh = false) {
    const r = await this.call({ op, file, min_time: minTime });
    this.faults = r.faults_per_run;
    this.fastest = r.best;
    return fresh ? r.median : r.best;
  }
  close() {
    this.child.stdin.end(JSON.stringify({ op: 'quit' }) + '\n');
  }
}

/**
 * Calls `f` until `minTime` seconds were spent (at least 3 calls); the best call's seconds.
 * Rows whose output is a new buffer of `pages` 4 KiB pages take the median instead, of the
 * calls that mapped their output anew (at least 9/10 of `pages` minor page faults): in a busy
 * process a new buffer now and then lands in memory an earlier call had mapped (session 51:
 * 31 ms among calls of 40-48 ms; session 52: a whole round of them), which is luck, not speed,
 * and not what a user's one decompress() of a model meets. `lastFresh` says how it went.
 */
function bestOf(f, pages = 0) {
  const calls = [];
  let spent = 0;
  for (let runs = 0; runs < 3 || spent < minTime || more(calls, pages); runs++) {
    const f0 = process.resourceUsage().minorPageFault;
    const t0 = performance.now();
    f();
    const dt = (performance.now() - t0) / 1e3;
    calls.push({ dt, faults: process.resourceUsage().minorPageFault - f0 });
    spent += dt;
  }
  return pick(calls, pages);
}

/**
 * `bestOf` for async calls; also keeps the least CPU time one call took (user + system, all
 * threads of this process: the pool's workers included), in `cpu`.
 */
async function bestOfAsync(f, cpu, pages = 0) {
  const calls = [];
  let spent = 0;
  for (let runs = 0; runs < 3 || spent < minTime || more(calls, pages); runs++) {
    const c0 = process.cpuUsage();
    const f0 = process.resourceUsage().minorPageFault;
    const t0 = performance.now();
    await f();
    const dt = (performance.now() - t0) / 1e3;
    const c = process.cpuUsage(c0);
    if (cpu) cpu.s = Math.min(cpu.s ?? Infinity, (c.user + c.system) / 1e6);
    calls.push({ dt, faults: process.resourceUsage().minorPageFault - f0 });
    spent += dt;
  }
  return pick(calls, pages);
}

/**
 * A fresh row calls again until five calls faulted their output in (a median of one or two
 * was an outlier's: a 15 MB output lands in mapped memory 31 times in 32), at most 40 calls.
 */
function more(calls, pages) {
  return pages > 0 && calls.length < 40 && calls.filter((c) => c.faults >= 0.9 * pages).length < 5;
}

/**
 * Of the last fresh `bestOf`: the mean minor page faults (this process, all threads) of the
 * calls taken, how many calls mapped their output anew, and of how many.
 */
let lastFresh = null;

/** The least call's seconds; with `pages`, the median of the calls that faulted them in. */
function pick(calls, pages) {
  if (!pages) return Math.min(...calls.map((c) => c.dt));
  const anew = calls.filter((c) => c.faults >= 0.9 * pages);
  // When no call mapped its output anew (a small output the allocator hands out again and
  // again: english_g2's 15 MB), all of them count, and the fault line says so.
  const taken = anew.length ? anew : calls;
  lastFresh = {
    faults: taken.reduce((a, c) => a + c.faults, 0) / taken.length,
    anew: anew.length,
    calls: calls.length,
  };
  const s = taken.map((c) => c.dt).sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
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
  let best = null;
  if (withBest) {
    const dir = fs.mkdtempSync('/tmp/zipnn-wasm-bench-');
    const out = path.join(dir, 'best.znw');
    execFileSync(path.join(repo, 'target/release/zipnn'), ['compress', file, '-o', out, '--best', '--dtype', dtype], { stdio: 'inherit' });
    best = new Uint8Array(fs.readFileSync(out));
    fs.rmSync(dir, { recursive: true });
    if (!Buffer.from(z.decompress(best)).equals(Buffer.from(data))) throw new Error(`${file}: --best round trip`);
  }
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
  if (pkg) {
    // Also starts the workers, before anything is timed.
    const out = await pkg.decompress(packed, { threads });
    if (!(out.buffer instanceof SharedArrayBuffer) || !Buffer.from(out.buffer, out.byteOffset, out.length).equals(Buffer.from(data))) {
      throw new Error(`${file}: the pool's result`);
    }
  }
  files.push({ file, dtype, data, packed, best, znn, rows: null, zipnn: [Infinity, Infinity, Infinity], cpu: [{}, {}, {}, {}] });
}

/**
 * What the machine gives N threads right now: a pure CPU loop in one worker against the same
 * work split over N workers at once (best of 3 each). The pool's speed-up cannot beat this.
 */
class Ceiling {
  constructor(n) {
    const code = `const { parentPort } = require('node:worker_threads');
      parentPort.on('message', (n) => { let x = 0; for (let i = 0; i < n; i++) x = (x * 1103515245 + 12345) | 0; parentPort.postMessage(x); });`;
    this.workers = Array.from({ length: n }, () => new Worker(code, { eval: true }));
    this.best = [Infinity, Infinity];
  }
  #run(w, n) {
    return new Promise((resolve) => {
      w.once('message', resolve);
      w.postMessage(n);
    });
  }
  async measure(work = 1e7) {
    for (let i = 0; i < 3; i++) {
      let t0 = performance.now();
      await this.#run(this.workers[0], work);
      this.best[0] = Math.min(this.best[0], performance.now() - t0);
      t0 = performance.now();
      await Promise.all(this.workers.map((w) => this.#run(w, work / this.workers.length)));
      this.best[1] = Math.min(this.best[1], performance.now() - t0);
    }
  }
  ratio() {
    return this.best[0] / this.best[1];
  }
  close() {
    for (const w of this.workers) w.terminate();
  }
}
const ceiling = pkg ? new Ceiling(threads) : null;

/** Pool rows: each threads-1 figure right before its threads-N twin; `cpu` gets their CPU seconds. */
async function measurePool(packed, znn, n, row, cpu) {
  const fresh = (t) => () => pkg.decompress(packed, { threads: t });
  const pages = Math.ceil(n / 4096);
  row('package decompress(), threads 1 (in-thread)', await bestOfAsync(fresh(1), cpu[0], pages), 1, lastFresh);
  row(`package decompress(), threads ${threads} (pool, new SharedArrayBuffer)`, await bestOfAsync(fresh(threads), cpu[1], pages), 1, lastFresh);
  // Both into a SharedArrayBuffer (V8 copies into shared memory its own way): only the
  // number of threads differs.
  const shared = new Uint8Array(new SharedArrayBuffer(n));
  const one = new Uint8Array(new SharedArrayBuffer(n));
  row('package decompressInto, reused SharedArrayBuffer, threads 1', await bestOfAsync(() => pkg.decompressInto(packed, one), cpu[2]), 2);
  check(one, 'package decompressInto, threads 1');
  row(`package decompressInto, reused SharedArrayBuffer, threads ${threads}`, await bestOfAsync(() => pkg.decompressInto(packed, shared, { threads }), cpu[3]), 2);
  check(shared, `package decompressInto, threads ${threads}`);
  if (znn) {
    // zipnn's own file (one frame: the pool cuts it into runs of chunks), reused targets.
    row('zipnn file: package decompressInto, reused SharedArrayBuffer, threads 1', await bestOfAsync(() => pkg.decompressInto(znn, one)), 2);
    check(one, 'zipnn file: package decompressInto, threads 1');
    row(`zipnn file: package decompressInto, reused SharedArrayBuffer, threads ${threads}`, await bestOfAsync(() => pkg.decompressInto(znn, shared, { threads })), 2);
    check(shared, `zipnn file: package decompressInto, threads ${threads}`);
  }
  row("copy of the pool's result: .slice() (plain memory)", bestOf(() => shared.slice()), null);
  row('bound: new SharedArrayBuffer(n) filled (page faults)', bestOf(() => new Uint8Array(new SharedArrayBuffer(n)).fill(1), pages), null, lastFresh);
}

/**
 * A row that decodes into a kept buffer is checked once after its clock (a fast wrong decode
 * would read as a speed-up); the buffer is cleared for the next row.
 */
let expected = null;
function check(view, what) {
  if (!Buffer.from(view.buffer, view.byteOffset, view.length).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.length))) {
    throw new Error(`${what}: wrong bytes`);
  }
  view.fill(0);
}

async function measureOurs(f) {
  expected = f.data;
  const n = f.data.length;
  const pages = Math.ceil(n / 4096);
  const rows = [];
  const row = (name, s, vs, fresh) => rows.push({ name, s, vs, fresh });
  row('compress', bestOf(() => z.compress(f.data, f.dtype)), 0);
  row('decompress(), new Uint8Array', bestOf(() => z.decompress(f.packed), pages), 1, lastFresh);
  const target = new Uint8Array(n);
  row('decompressInto, reused target', bestOf(() => z.decompressInto(f.packed, target)), 2);
  check(target, 'decompressInto');
  // Decompressor: input and output buffers in wasm memory, kept across calls.
  const d = new z.Decompressor();
  row('Decompressor.decompress (input read from JS piece by piece)', bestOf(() => d.decompress(f.packed)), 2);
  check(d.decompress(f.packed), 'Decompressor.decompress');
  d.inputBuffer(f.packed.length).set(f.packed);
  row('Decompressor.decompressInput (input already in wasm memory)', bestOf(() => d.decompressInput(f.packed.length)), 2);
  check(d.decompressInput(f.packed.length), 'Decompressor.decompressInput');
  if (f.best) {
    // In turns with the order-0 file, so that both see the same load (each copied in first).
    const turns = [Infinity, Infinity];
    for (let i = 0; i < 3; i++) {
      [f.packed, f.best].forEach((p, k) => {
        d.inputBuffer(p.length).set(p);
        turns[k] = Math.min(turns[k], bestOf(() => d.decompressInput(p.length)));
      });
    }
    row('order-0 file: Decompressor.decompressInput (paired)', turns[0], 2);
    row('--best file: Decompressor.decompressInput (paired)', turns[1], 2);
  }
  if (f.znn) {
    row('zipnn file: decompress()', bestOf(() => z.decompress(f.znn), pages), 1, lastFresh);
    row('zipnn file: decompressInto, reused target', bestOf(() => z.decompressInto(f.znn, target)), 2);
    check(target, 'zipnn file: decompressInto');
    d.inputBuffer(f.znn.length).set(f.znn);
    row('zipnn file: Decompressor.decompressInput', bestOf(() => d.decompressInput(f.znn.length)), 2);
    check(d.decompressInput(f.znn.length), 'zipnn file: Decompressor.decompressInput');
  }
  d.free();
  row('bound: new Uint8Array(n).fill(1) (page faults)', bestOf(() => new Uint8Array(n).fill(1), pages), null, lastFresh);
  row('bound: fill of the reused target', bestOf(() => target.fill(7)), null);
  if (pkg) await measurePool(f.packed, f.znn, n, row, f.cpu);
  return rows;
}

/** Row `a` of one round over `b` of another: faster, but a round whose fresh output was mapped anew first. */
function better(a, b) {
  const anew = (x) => (x.fresh ? x.fresh.anew > 0 : true);
  return anew(a) !== anew(b) ? anew(a) : a.s < b.s;
}

for (let r = 0; r < rounds; r++) {
  process.stderr.write(`round ${r + 1}/${rounds}\r`);
  for (const f of files) {
    await ceiling?.measure();
    const rows = await measureOurs(f);
    if (!f.rows) f.rows = rows;
    else f.rows.forEach((x, i) => better(rows[i], x) && Object.assign(x, { s: rows[i].s, fresh: rows[i].fresh }));
    if (shipped) {
      const t = [
        await shipped.best('compress', f.file),
        await shipped.best('decompress', f.file, true),
        await warm.best('decompress', f.file),
      ];
      // Its "warm memory" must be: else every ratio against it is one against zipnn as
      // shipped (GLIBC_TUNABLES dropped by a ZIPNN_PYTHON wrapper, say).
      const pages = Math.ceil(f.data.length / 4096);
      if (!(warm.faults < 0.1 * pages)) throw new Error(`zipnn's warm memory is not warm: ${warm.faults.toFixed(0)} page faults a call for ${pages} pages`);
      f.warmFaults = Math.max(f.warmFaults ?? 0, warm.faults);
      if (!(t[1] >= f.zipnn[1])) f.shippedFaults = shipped.faults;
      f.shippedFastest = Math.min(f.shippedFastest ?? Infinity, shipped.fastest);
      f.zipnn = f.zipnn.map((b, i) => Math.min(b, t[i]));
    }
  }
}
process.stderr.write('\n');
if (pkg) console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${os.availableParallelism()} cores`);
shipped?.close();
warm?.close();

for (const f of files) {
  const n = f.data.length;
  const mbs = (s) => (n / 1e6 / s).toFixed(0);
  const znn = f.znn ? `, zipnn ${(f.znn.length / n).toFixed(4)}` : '';
  console.log(`\n## wasm${wasmFile.includes('nosimd') ? ' (no SIMD)' : ''}: ${path.basename(f.file)} (${(n / 1e6).toFixed(1)} MB, ${f.dtype}; ratio ours ${(f.packed.length / n).toFixed(4)}${znn})`);
  if (f.best) {
    const t = (name) => f.rows.find((x) => x.name.startsWith(name)).s;
    console.log(`--best: ratio ${(f.best.length / n).toFixed(4)}, decompressInput at ${(t('order-0 file') / t('--best file')).toFixed(2)}× the order-0 file's speed`);
  }
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
  if (f.shippedFastest) {
    // Into memory already mapped against zipnn as shipped: its fastest call, as ours.
    const input = f.rows.find((x) => x.name.startsWith('Decompressor.decompressInput')).s;
    console.log(`\nDecompressor.decompressInput against zipnn as shipped, the fastest call of each: ${(f.shippedFastest / input).toFixed(2)}× (zipnn's fastest ${mbs(f.shippedFastest)} MB/s, median ${mbs(f.zipnn[1])})`);
  }
  const faulted = f.rows.filter((x) => x.fresh);
  const left = ({ anew, calls }) =>
    anew === calls ? '' : anew ? ` (${calls - anew} of ${calls} calls in memory already mapped, left out)` : ` (all ${calls} calls in memory already mapped)`;
  console.log(`\npage faults a call (the output is ${Math.ceil(n / 4096)} pages of 4 KiB): ` +
    faulted.map((x) => `${x.name.replace(/ \(.*/, '')} ${x.fresh.faults.toFixed(0)}${left(x.fresh)}`).join(', ') +
    (f.shippedFaults === undefined ? '' : `, zipnn as shipped ${f.shippedFaults.toFixed(0)}, zipnn warm memory ${f.warmFaults.toFixed(0)}`) +
    // Python's allocator keeps outputs under 32 MiB mapped from call to call: then zipnn's
    // "as shipped" is warm, where our fresh rows count only calls that faulted.
    (f.shippedFaults < 0.9 * Math.ceil(n / 4096) ? ' (its output in memory already mapped)' : ''));
  if (pkg) {
    const t = (name) => f.rows.find((x) => x.name.startsWith(name)).s;
    const up = (a, b) => (t(a) / t(b)).toFixed(2);
    console.log(`\nthreads ${threads} vs 1 (same run; a CPU loop split over ${threads} workers: ${ceiling.ratio().toFixed(2)}×): decompress() ${up('package decompress(), threads 1', `package decompress(), threads ${threads}`)}×, ` +
      `decompressInto reused SharedArrayBuffer ${up('package decompressInto, reused SharedArrayBuffer, threads 1', `package decompressInto, reused SharedArrayBuffer, threads ${threads}`)}×` +
      (f.znn ? `, zipnn file into it ${up('zipnn file: package decompressInto, reused SharedArrayBuffer, threads 1', `zipnn file: package decompressInto, reused SharedArrayBuffer, threads ${threads}`)}×; ` : '; ') +
      `least CPU time of a call (all threads), threads 1 / ${threads}: decompress() ${f.cpu[0].s * 1e3 | 0} / ${f.cpu[1].s * 1e3 | 0} ms, ` +
      `decompressInto ${f.cpu[2].s * 1e3 | 0} / ${f.cpu[3].s * 1e3 | 0} ms`);
  }
}

if (pkg && sweep) {
  // The pool's threshold: prefixes of the first file, threads 1 vs N, back to back per round.
  const f = files[0];
  const sizes = [1, 2, 4, 8, 16].map((m) => m << 20).filter((n) => n <= f.data.length);
  const res = sizes.map((n) => ({ n, packed: z.compress(f.data.subarray(0, n), f.dtype), t: [Infinity, Infinity, Infinity, Infinity] }));
  const tuning = pkg.__internal.poolTuning;
  const minBytes = tuning.minBytes;
  tuning.minBytes = 0; // the pool at every size
  for (let r = 0; r < rounds; r++) {
    for (const x of res) {
      const shared = new Uint8Array(new SharedArrayBuffer(x.n));
      const plain = new Uint8Array(x.n);
      await pkg.decompress(x.packed, { threads }); // a pool path (or its fallback) is warm
      const t = [
        await bestOfAsync(() => pkg.decompress(x.packed, { threads: 1 })),
        await bestOfAsync(() => pkg.decompress(x.packed, { threads })),
        await bestOfAsync(() => pkg.decompressInto(x.packed, plain)),
        await bestOfAsync(() => pkg.decompressInto(x.packed, shared, { threads })),
      ];
      x.t = x.t.map((b, i) => Math.min(b, t[i]));
    }
  }
  tuning.minBytes = minBytes;
  await ceiling.measure();
  console.log(`\n## pool sweep: prefixes of ${path.basename(f.file)}, threads ${threads} vs 1 (the package uses the pool from ${minBytes / 2 ** 20} MiB)`);
  console.log('| MiB | decompress() t1 MB/s | tN MB/s | speed-up | decompressInto t1 MB/s | tN MB/s | speed-up |\n|---:|---:|---:|---:|---:|---:|---:|');
  for (const x of res) {
    const m = (s) => (x.n / 1e6 / s).toFixed(0);
    console.log(`| ${x.n >> 20} | ${m(x.t[0])} | ${m(x.t[1])} | ${(x.t[0] / x.t[1]).toFixed(2)}× | ${m(x.t[2])} | ${m(x.t[3])} | ${(x.t[2] / x.t[3]).toFixed(2)}× |`);
  }
}
ceiling?.close();
