// decompress(..., { threads }) in node: the worker pool (worker_threads) decodes runs of chunks
// (ZipNN input: of frames or tensors) into one SharedArrayBuffer; the fallbacks decode
// in-thread. Real models compressed by the native CLI, and files zipnn wrote, byte-exact
// against the originals.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compress, decompress, decompressInto, CorruptError, InvalidInputError, TruncatedError, __internal } from 'zipnn-wasm';
import { readFile, modelPath, fixturePath, zipnnFixture, equalBytes, weights } from './helpers.mjs';

const { stats } = __internal;
const MODELS = ['bf16', 'fp32'].map((k) => ({
  k,
  orig: readFile(modelPath(`minilm.${k}.safetensors`)),
  packed: readFile(fixturePath(`minilm.${k}.safetensors.znw`)),
}));
const [bf16] = MODELS;

/** Runs `f`; returns its result and how many pool jobs and runs it started. */
async function counted(f) {
  const [jobs, runs] = [stats.poolJobs, stats.poolRuns];
  const out = await f();
  return { out, jobs: stats.poolJobs - jobs, runs: stats.poolRuns - runs };
}

/** Runs `script` (an ES module) in a fresh node process with `flags`; returns its stdout. */
function freshNode(script, flags = [], args = []) {
  return execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script, ...args], {
    cwd: path.dirname(fileURLToPath(import.meta.url)),
    encoding: 'utf8',
    timeout: 120_000,
  });
}

/** What `p` rejected with, or a failure if it resolved. */
async function rejection(p) {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('resolved');
}

describe('worker pool (node)', () => {
  for (const { k, orig, packed } of MODELS) {
    test(`minilm ${k}: threads 2 and 'auto' decode exactly, into shared memory`, async () => {
      for (const threads of [2, 'auto', 3]) {
        const { out, jobs, runs } = await counted(() => decompress(packed, { threads }));
        assert.ok(equalBytes(out, orig), `threads ${threads}`);
        assert.equal(jobs, 1, 'decoded by the pool');
        assert.ok(runs >= 2, `runs: ${runs}`);
        assert.ok(out.buffer instanceof SharedArrayBuffer);
        assert.equal(out.length, out.buffer.byteLength);
      }
    });
  }

  test('decompressInto a shared target uses the pool; a plain target decodes in-thread', async () => {
    const { orig, packed } = bf16;
    const sab = new SharedArrayBuffer(orig.length + 10);
    const target = new Uint8Array(sab, 7, orig.length);
    for (let round = 0; round < 2; round++) {
      target.fill(0xaa);
      const r = await counted(() => decompressInto(packed, target, { threads: 2 }));
      assert.equal(r.out, orig.length);
      assert.equal(r.jobs, 1);
      assert.ok(equalBytes(target, orig));
      assert.deepEqual([...new Uint8Array(sab, 0, 7), ...new Uint8Array(sab, 7 + orig.length)], Array(10).fill(0), 'nothing outside the view');
    }
    const plain = new Uint8Array(orig.length);
    const r = await counted(() => decompressInto(packed, plain, { threads: 2 }));
    assert.equal(r.jobs, 0);
    assert.ok(equalBytes(plain, orig));
    // The wrong size: the same typed error as in-thread.
    for (const len of [orig.length - 2, orig.length + 2]) {
      const want = await rejection(decompressInto(packed, new Uint8Array(len)));
      const e = await rejection(decompressInto(packed, new Uint8Array(new SharedArrayBuffer(len)), { threads: 2 }));
      assert.equal(e.code, 'ZNN_INVALID_INPUT', String(e));
      assert.equal(e.constructor, want.constructor);
      assert.equal(e.message, want.message);
    }
  });

  test('shared input and shared targets at every offset mod 8, pool and in-thread', async () => {
    // V8 copies shared memory fast only where source and destination agree mod 8; the module
    // places its reads and writes to agree (js_io.rs). Every placement must still be exact.
    for (const { k, orig, packed } of MODELS) {
      for (const off of [0, 1, 3, 4, 7]) {
        const input = new Uint8Array(new SharedArrayBuffer(packed.length + 8), off, packed.length);
        input.set(packed);
        const s = await counted(() => decompress(input, { threads: 2 }));
        assert.equal(s.jobs, 1);
        assert.ok(equalBytes(s.out, orig), `${k}: shared input at ${off}`);
        assert.ok(equalBytes(await decompress(input), orig), `${k}: shared input at ${off}, in-thread`);
        const target = new Uint8Array(new SharedArrayBuffer(orig.length + 8), 8 - off, orig.length);
        for (const threads of [1, 2]) {
          target.fill(0xaa);
          await decompressInto(off & 1 ? input : packed, target, { threads });
          assert.ok(equalBytes(target, orig), `${k}: shared target at ${8 - off}, threads ${threads}`);
        }
      }
    }
  });

  test('a corrupt chunk in the middle: the in-thread error, then the pool still decodes', async () => {
    const { orig, packed } = bf16;
    const bad = packed.slice();
    bad[bad.length >> 1] ^= 0x10;
    const inThread = await rejection(decompress(bad));
    const r = await counted(() => rejection(decompress(bad, { threads: 2 })));
    assert.equal(r.jobs, 1, 'the pool decoded it');
    assert.ok(r.out instanceof CorruptError, String(r.out));
    assert.equal(r.out.code, 'ZNN_CORRUPT');
    assert.equal(r.out.message, inThread.message);
    const again = await counted(() => decompress(packed, { threads: 2 }));
    assert.equal(again.jobs, 1);
    assert.ok(equalBytes(again.out, orig));
    // A bad record head is found by the table, before any worker runs.
    const cut = await counted(() => rejection(decompress(packed.subarray(0, packed.length - 100), { threads: 2 })));
    assert.ok(cut.out instanceof TruncatedError, String(cut.out));
    assert.equal(cut.runs, 0);
  });

  test('concurrent calls share the pool', async () => {
    const outs = await Promise.all(MODELS.flatMap((m) => [decompress(m.packed, { threads: 2 }), decompress(m.packed, { threads: 2 })]));
    outs.forEach((o, i) => assert.ok(equalBytes(o, MODELS[i >> 1].orig), `call ${i}`));
  });

  test('a worker that dies mid-decode: InternalError, then a new worker takes its place', async () => {
    const { orig, packed } = MODELS[1]; // fp32: the longest decode
    await decompress(packed, { threads: 2 });
    const [victim] = __internal.poolWorkers;
    const p = decompress(packed, { threads: 2 });
    setTimeout(() => victim.port.terminate(), 2);
    const e = await rejection(p);
    assert.equal(e.code, 'ZNN_INTERNAL', String(e));
    assert.ok(!__internal.poolWorkers.includes(victim));
    const again = await counted(() => decompress(packed, { threads: 2 }));
    assert.equal(again.jobs, 1);
    assert.ok(equalBytes(again.out, orig));
  });

  test('abort: an aborted signal rejects with its reason; the pool goes on', async () => {
    const { orig, packed } = bf16;
    const ac = new AbortController();
    ac.abort();
    assert.equal((await rejection(decompress(packed, { threads: 2, signal: ac.signal }))).name, 'AbortError');
    const ac2 = new AbortController();
    const p = decompress(packed, { threads: 2, signal: ac2.signal });
    setTimeout(() => ac2.abort(), 5);
    assert.equal((await rejection(p)).name, 'AbortError');
    // The input transferred by the caller while the pool decodes it: InvalidInputError.
    const moved = MODELS[1].packed.slice();
    const r = decompress(moved, { threads: 2 });
    setTimeout(() => structuredClone(moved.buffer, { transfer: [moved.buffer] }), 5);
    assert.equal((await rejection(r)).code, 'ZNN_INVALID_INPUT');
    // Any reason is the rejection, falsy ones too (not taken for success).
    for (const reason of [0, null, '']) {
      const ac3 = new AbortController();
      const q = decompress(MODELS[1].packed, { threads: 2, signal: ac3.signal });
      setTimeout(() => ac3.abort(reason), 5);
      assert.equal(await rejection(q), reason);
    }
    assert.ok(equalBytes(await decompress(packed, { threads: 2 }), orig));
  });

  test('an aborted call into a target settles only once no worker writes into it', async () => {
    // The caller owns the target again once the promise settles: runs still being decoded
    // wrote into it after the rejection, over what the caller put there next.
    const { orig, packed } = bf16;
    const target = new Uint8Array(new SharedArrayBuffer(orig.length));
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    let aborted = 0;
    for (let i = 0; i < 40; i++) {
      const ac = new AbortController();
      const p = decompressInto(packed, target, { threads: 2, signal: ac.signal });
      setTimeout(() => ac.abort(), i % 12);
      try {
        await p;
        continue; // it finished first
      } catch (e) {
        assert.equal(e.name, 'AbortError');
      }
      aborted++;
      target.fill(0);
      await sleep(30);
      const written = target.findIndex((b) => b !== 0);
      assert.equal(written, -1, `trial ${i}: byte ${written} written after the call settled`);
    }
    assert.ok(aborted > 10, `only ${aborted} of 40 calls were aborted in time`);
    assert.equal(await decompressInto(packed, target, { threads: 2 }), orig.length);
    assert.ok(equalBytes(target, orig));
  });

  test('ZipNN streaming frames of a real model decode on the pool, into new or shared memory', async () => {
    for (const { k, orig } of MODELS) {
      const zn = await compress(orig, { dtype: k, format: 'zipnn', streamingChunk: 1 << 20 });
      const { out, jobs, runs } = await counted(() => decompress(zn, { threads: 2 }));
      assert.equal(jobs, 1, `${k}: decoded by the pool`);
      assert.ok(runs >= 2, `runs: ${runs}`);
      assert.ok(out.buffer instanceof SharedArrayBuffer);
      assert.ok(equalBytes(out, orig), k);
      const sab = new SharedArrayBuffer(orig.length + 9);
      const target = new Uint8Array(sab, 5, orig.length);
      const r = await counted(() => decompressInto(zn, target, { threads: 2 }));
      assert.equal(r.jobs, 1);
      assert.ok(equalBytes(target, orig));
      assert.deepEqual([...new Uint8Array(sab, 0, 5), ...new Uint8Array(sab, 5 + orig.length)], Array(9).fill(0), 'nothing outside the view');
      // Input already in shared memory (at an offset): the workers read it where it is.
      const input = new Uint8Array(new SharedArrayBuffer(zn.length + 3), 3);
      input.set(zn);
      const s = await counted(() => decompress(input, { threads: 2 }));
      assert.equal(s.jobs, 1);
      assert.ok(equalBytes(s.out, orig), `${k}: shared input`);
    }
  });

  test("files zipnn wrote (frames, .znn.safetensors with and without metadata), any cut into runs", async () => {
    const t = __internal.poolTuning;
    const saved = { ...t };
    // What in-thread decoding gives (api.test.mjs checks that against the originals: the same
    // bytes for frames, the same tensors under a rewritten header for .znn.safetensors).
    const files = fs.readdirSync(zipnnFixture('.')).filter((f) => /\.znn(\.safetensors)?$/.test(f) && !f.includes('delta'));
    assert.ok(files.length > 40);
    try {
      // Every chunk its own run, or up to 64 KiB of them, on 2 or 3 workers.
      let split = 0;
      for (const [runMax, threads] of [[1, 2], [64 * 1024, 3]]) {
        Object.assign(t, { minBytes: 0, runMin: 1, runMax, queue: 1 });
        for (const packedName of files) {
          const zn = readFile(zipnnFixture(packedName));
          const orig = await decompress(zn);
          const r = await counted(() => decompress(zn, { threads }));
          assert.ok(equalBytes(r.out, orig), `${packedName}, runs of ${runMax}`);
          // One piece of one chunk (or nothing) is decoded in-thread.
          if (r.jobs) split += r.runs >= 2;
          else assert.ok(orig.length <= 128 * 1024, `${packedName}: not pooled`);
        }
      }
      assert.ok(split > 10, `${split} files cut into runs`);
      // Damaged (ZipNN has no checksums: some flips decode to other bytes): the same bytes or
      // the same typed error as in-thread, whether the table or a worker finds it.
      const outcome = (p) => p.then((out) => ({ out }), (e) => ({ error: `${e.constructor.name}: ${e.message}` }));
      const zn = readFile(zipnnFixture('st_minilm_meta.znn.safetensors'));
      let errors = 0;
      for (let at = 0; at < zn.length; at += 97) {
        const bad = zn.slice();
        bad[at] ^= 0x40;
        const want = await outcome(decompress(bad));
        const got = await outcome(decompress(bad, { threads: 2 }));
        if (want.error) errors++;
        assert.equal(got.error, want.error, `byte ${at}`);
        if (!want.error) assert.ok(equalBytes(got.out, want.out), `byte ${at}`);
      }
      assert.ok(errors > 10, `${errors} errors`);
      const cut = await rejection(decompress(zn.subarray(0, zn.length - 10), { threads: 2 }));
      assert.equal(cut.constructor, (await rejection(decompress(zn.subarray(0, zn.length - 10)))).constructor);
      // A delta needs its base: refused before any worker runs, as in-thread.
      const delta = readFile(zipnnFixture('bf16_delta_stream.znn'));
      const want = await rejection(decompress(delta));
      const r = await counted(() => rejection(decompress(delta, { threads: 2 })));
      assert.equal(r.runs, 0);
      assert.equal(r.out.message, want.message);
      assert.equal(r.out.code, 'ZNN_UNSUPPORTED');
    } finally {
      Object.assign(t, saved);
    }
  });

  test('a ZipNN file of one frame: its chunks are cut into runs', async () => {
    for (const { k, orig } of MODELS) {
      const zn = await compress(orig, { dtype: k, format: 'zipnn' });
      const r = await counted(() => decompress(zn, { threads: 2 }));
      assert.equal(r.jobs, 1, k);
      assert.ok(r.runs >= orig.length / (4 << 20), `${k}: ${r.runs} runs`);
      assert.ok(equalBytes(r.out, orig), k);
    }
  });

  test('fallbacks decode in-thread: small input, threads 1', async () => {
    const small = weights(500_000, 'bf16');
    const packedSmall = await compress(small, { dtype: 'bf16' });
    let r = await counted(() => decompress(packedSmall, { threads: 2 }));
    assert.equal(r.jobs, 0);
    assert.ok(equalBytes(r.out, small));
    assert.ok(!(r.out.buffer instanceof SharedArrayBuffer));
    const zn = await compress(small, { dtype: 'bf16', format: 'zipnn' });
    r = await counted(() => decompress(zn, { threads: 2 }));
    assert.equal(r.jobs, 0);
    assert.ok(equalBytes(r.out, small));
    r = await counted(() => decompress(bf16.packed, { threads: 1 }));
    assert.equal(r.jobs, 0);
    assert.ok(equalBytes(r.out, bf16.orig));
  });

  test('the 2 MiB threshold is the decoded size: a few KB that decode to 4 MiB use the pool', async () => {
    const zeros = new Uint8Array(4 << 20);
    const packedZeros = await compress(zeros, { dtype: 'bytes' });
    assert.ok(packedZeros.length < 64 << 10, `${packedZeros.length} bytes`);
    const r = await counted(() => decompress(packedZeros, { threads: 2 }));
    assert.ok(r.jobs > 0, 'pooled');
    assert.ok(equalBytes(r.out, zeros));
  });

  test('any cut into runs decodes exactly (one chunk per run, many workers, no queue)', async () => {
    const t = __internal.poolTuning;
    const saved = { ...t };
    try {
      for (const [k, v] of Object.entries({ minBytes: 0, runMin: 1, runMax: 300 * 1024, queue: 1 })) t[k] = v;
      const small = weights(1_500_000, 'fp32'); // 6 MB: 23 chunks of 256 KiB
      const packedSmall = await compress(small, { dtype: 'fp32' });
      for (const threads of [2, 5]) {
        const r = await counted(() => decompress(packedSmall, { threads }));
        assert.equal(r.jobs, 1);
        assert.equal(r.runs, 23, `threads ${threads}`);
        assert.ok(equalBytes(r.out, small));
      }
      t.runMax = 600 * 1024; // two chunks a run, the last alone
      const r = await counted(() => decompress(packedSmall, { threads: 2 }));
      assert.equal(r.runs, 12);
      assert.ok(equalBytes(r.out, small));
    } finally {
      Object.assign(t, saved);
    }
  });

  test('idle, the workers go (and the outputs they held with them); the next call starts new ones', async () => {
    const { orig, packed } = bf16;
    const t = __internal.poolTuning;
    const [saved, savedBytes] = [t.idleMs, t.retireBytes];
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    t.idleMs = 50;
    try {
      // Whatever earlier tests started goes first.
      await decompress(packed, { threads: 2 });
      await sleep(200);
      assert.equal(__internal.poolWorkers.length, 0);
      // Into a caller's target (a new one each call is as common as a reused one), and into a
      // fresh output: once the pool has been idle they go, and new ones decode the next call.
      const target = new Uint8Array(new SharedArrayBuffer(orig.length));
      await decompressInto(packed, target, { threads: 2 });
      assert.ok(equalBytes(target, orig));
      const first = [...__internal.poolWorkers];
      assert.equal(first.length, 2);
      await sleep(200);
      assert.equal(__internal.poolWorkers.length, 0);
      assert.ok(first.every((w) => w.dead));
      const { out, jobs } = await counted(() => decompress(packed, { threads: 2 }));
      assert.ok(equalBytes(out, orig));
      assert.equal(jobs, 1, 'decoded by the pool');
      // Calls back to back share the workers: the pool goes only once none is under way.
      const pool = [...__internal.poolWorkers];
      assert.equal(pool.length, 2);
      for (let i = 0; i < 3; i++) await decompress(packed, { threads: 2 });
      assert.deepEqual(__internal.poolWorkers, pool);
      await sleep(200);
      assert.equal(__internal.poolWorkers.length, 0);
      // Past `retireBytes` written, they go as soon as no call is under way, idle or not.
      t.idleMs = 60_000;
      t.retireBytes = 2 * orig.length;
      await decompress(packed, { threads: 2 });
      const before = [...__internal.poolWorkers];
      await decompress(packed, { threads: 2 });
      assert.ok(before.every((w) => w.dead), 'gone once twice the model was written');
      assert.equal(__internal.poolWorkers.length, 0);
      // A reused target counts once: calls into it keep their workers.
      const reused = new Uint8Array(new SharedArrayBuffer(orig.length));
      await decompressInto(packed, reused, { threads: 2 });
      const kept = [...__internal.poolWorkers];
      assert.ok(kept.length === 2 && kept.every((w) => !before.includes(w)));
      for (let i = 0; i < 4; i++) await decompressInto(packed, reused, { threads: 2 });
      assert.deepEqual(__internal.poolWorkers, kept);
      assert.ok(equalBytes(reused, orig));
    } finally {
      t.idleMs = saved;
      t.retireBytes = savedBytes;
    }
    // In a fresh process: 20 results and targets dropped, then idle, leave no memory behind
    // (the workers held every output they wrote until their own heaps were collected, which
    // idle ones seldom were: in Chromium a dropped 1.5 GB result stayed).
    const script = `
      import { decompress, decompressInto, __internal } from 'zipnn-wasm';
      import fs from 'node:fs';
      const packed = new Uint8Array(fs.readFileSync(process.argv[1]));
      __internal.poolTuning.idleMs = 50;
      await decompress(packed, { threads: 2 });
      await new Promise((r) => setTimeout(r, 300));
      globalThis.gc();
      const before = process.memoryUsage().arrayBuffers;
      for (let i = 0; i < 20; i++) {
        if (i % 2) await decompress(packed, { threads: 2 });
        else await decompressInto(packed, new Uint8Array(new SharedArrayBuffer(${orig.length})), { threads: 2 });
      }
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
      console.log(process.memoryUsage().arrayBuffers - before);
    `;
    const left = Number(freshNode(script, ['--expose-gc'], [fixturePath('minilm.bf16.safetensors.znw')]));
    assert.ok(left < orig.length, `${left} bytes of array buffers left after 20 results of ${orig.length} were dropped`);
  });

  test('ZipNN frames past 4 GiB of output are listed at their offsets (a wasm32 usize wrapped)', async () => {
    // 70 frames of 64 MiB (one byte repeated): 4.375 GiB decoded from 360 KB.
    const one = await compress(new Uint8Array(64 << 20).fill(0x11), { dtype: 'bf16', format: 'zipnn', streamingChunk: 64 << 20 });
    const all = new Uint8Array(one.length * 70);
    for (let i = 0; i < 70; i++) all.set(one, i * one.length);
    const [, t] = __internal.glue.zipnnPieceTable(all, undefined, __internal.poolTuning.runMax);
    const count = t[0];
    const offsets = Array.from({ length: count + 1 }, (_, i) => t[1 + 16 * i + (i === count ? 0 : 5)]);
    assert.equal(count, 70);
    assert.deepEqual(offsets, Array.from({ length: 71 }, (_, i) => i * (64 << 20)));
  });

  test('workers that do not load: an abort rejects at once, else the call decodes in-thread after 2 s', () => {
    // The package's node worker with its 'ready' never delivered (a script that never arrives).
    const core = new URL('./core.js', import.meta.resolve('zipnn-wasm')).href;
    const script = `
      import { decompress, __internal } from 'zipnn-wasm';
      import { __setWorkerFactory } from ${JSON.stringify(new URL('./lib/host.js', core).href)};
      import { Worker } from 'node:worker_threads';
      import fs from 'node:fs';
      let started = 0;
      __setWorkerFactory(() => {
        started++;
        const w = new Worker(new URL('decode-worker-node.js', ${JSON.stringify(core)}), { execArgv: [] });
        return {
          post: (m, t) => w.postMessage(m, t),
          listen(onMessage, onError) {
            w.on('message', (m) => m.type !== 'ready' && onMessage(m));
            w.on('error', onError);
          },
          terminate: () => w.terminate(),
          ref: () => w.ref(),
          unref: () => w.unref(),
        };
      });
      const packed = new Uint8Array(fs.readFileSync(process.argv[1]));
      const t0 = performance.now();
      const aborted = await decompress(packed, { threads: 2, signal: AbortSignal.timeout(300) }).then(() => 'resolved', (e) => e.name);
      const abortMs = performance.now() - t0;
      const t1 = performance.now();
      const out = await decompress(packed, { threads: 2 });
      const ms = performance.now() - t1;
      console.log(JSON.stringify({ aborted, abortMs, length: out.length, ms, jobs: __internal.stats.poolJobs, started, left: __internal.poolWorkers.length }));
    `;
    const r = JSON.parse(freshNode(script, [], [fixturePath('minilm.bf16.safetensors.znw')]));
    assert.equal(r.aborted, 'TimeoutError');
    assert.ok(r.abortMs < 1500, `the abort took ${r.abortMs} ms`);
    assert.equal(r.length, bf16.orig.length);
    assert.ok(r.ms >= 1900 && r.ms < 10_000, `${r.ms} ms`);
    // Decoded in-thread; the workers still loading are kept for later calls (none started anew).
    assert.deepEqual([r.jobs, r.started, r.left], [0, 2, 2]);
  });

  test('records of parts bigger than a run are not kept once the call is over', () => {
    // A ZipNN file of 16 MiB frames that do not compress: each frame is one part, copied whole.
    // The output is still referenced when the memory is counted: the workers hold a dropped
    // output too until their own heaps are collected or the pool retires (pool.js), which is
    // not what this test is about.
    const script = `
      import { compress, decompress, __internal } from 'zipnn-wasm';
      let x = 88172645;
      const data = new Uint8Array(96 << 20).map(() => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x & 255));
      const packed = await compress(data, { dtype: 'bf16', format: 'zipnn', chunkSize: 16 << 20, streamingChunk: 16 << 20 });
      const gc = async () => { for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); } };
      await gc();
      const before = process.memoryUsage().arrayBuffers;
      const out = await decompress(packed, { threads: 2 });
      const same = out.length === data.length && out.every((v, i) => v === data[i]);
      await gc();
      const left = process.memoryUsage().arrayBuffers - before - out.buffer.byteLength;
      console.log(JSON.stringify({ same, pooled: out.buffer instanceof SharedArrayBuffer, left }));
    `;
    const r = JSON.parse(freshNode(script, ['--expose-gc']));
    assert.ok(r.same);
    assert.ok(r.pooled, 'decoded by the pool');
    assert.ok(r.left < 16 << 20, `${r.left} bytes of array buffers kept besides the output`);
  });

  test('threads must be a positive integer or auto', async () => {
    for (const threads of [0, -1, 1.5, 'x', NaN, {}]) {
      const e = await rejection(decompress(bf16.packed, { threads }));
      assert.ok(e instanceof InvalidInputError, `${String(threads)}: ${e}`);
    }
  });
});
