// The package's API in node, imported by name from the installed tarball.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  compress,
  decompress,
  decompressInto,
  Decompressor,
  inspect,
  openFile,
  CompressedFile,
  decodedSize,
  DECODED_SIZE_PREFIX,
  init,
  ZnnDecompressionStream,
  ZnnCompressionStream,
  ZnnError,
  CorruptError,
  TruncatedError,
  NotCompressedError,
  InvalidInputError,
  UnsupportedError,
  InternalError,
  TooLargeError,
  __internal,
  fetchModel,
} from 'zipnn-wasm';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  weights,
  chunkedStream,
  collect,
  readFile,
  modelPath,
  fixturePath,
  zipnnFixture,
  equalBytes,
  sha256,
  safetensorsTensors,
  makeSafetensors,
} from './helpers.mjs';

const KiB = 1024;
const model = readFile(modelPath('minilm.bf16.safetensors'));
const modelZnw = readFile(fixturePath('minilm.bf16.safetensors.znw')); // by the native CLI

/** Decodes `bytes` through ZnnDecompressionStream fed in `size`-byte chunks. */
const streamDecode = (bytes, size, options) => collect(chunkedStream(bytes, size).pipeThrough(new ZnnDecompressionStream(options)));

async function rejectsWith(promise, cls, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e?.name}: ${e?.message}`);
    assert.ok(e instanceof ZnnError);
    assert.ok(e instanceof Error);
    assert.equal(e.code, code);
    return true;
  });
}

describe('whole-buffer round trips', () => {
  test('real model (minilm bf16 safetensors, 45 MB)', async () => {
    const packed = await compress(model);
    assert.ok(packed.length < model.length * 0.75, `ratio ${packed.length / model.length}`);
    assert.ok(equalBytes(await decompress(packed), model));
  });

  test('file compressed by the native CLI', async () => {
    assert.equal(sha256(await decompress(modelZnw)), sha256(model));
  });

  test("a delta made by the native CLI: inspect names its base, decoding says it needs it", async () => {
    const delta = readFile(fixturePath('moved.safetensors.znw'));
    assert.ok(delta.length < 20_000, `${delta.length} bytes: the moved tensors found their twins`);
    const r = await inspect(delta);
    assert.equal(r.delta.baseSize, model.length);
    assert.match(r.delta.baseXxh3, /^[0-9a-f]{16}$/);
    assert.ok(r.delta.moved > model.length * 0.99 && r.delta.moved < model.length, String(r.delta.moved));
    assert.equal((await inspect(modelZnw)).delta, undefined);
    await rejectsWith(decompress(delta), UnsupportedError, 'ZNN_UNSUPPORTED');
  });

  test('synthetic weights of every float type and awkward sizes', async () => {
    for (const dtype of ['bf16', 'fp16', 'fp32', 'fp64']) {
      for (const count of [1, 3, 1000, 70_001]) {
        const data = weights(count, dtype, count);
        for (const opts of [{}, { dtype }, { dtype, chunkSize: 4 * KiB, verify: true }]) {
          const packed = await compress(data, opts);
          assert.ok(equalBytes(await decompress(packed), data), `${dtype} ${count} ${JSON.stringify(opts)}`);
        }
      }
    }
    // ggml Q8_0 blocks (a positive float16 scale, 32 int8 values of a bell curve), 1000 of
    // them and one byte more: smaller as 'q8_0' than as bytes, and back byte for byte.
    const blocks = 1000;
    const scales = new Uint16Array(weights(blocks, 'fp16', 5).buffer);
    const values = new Float32Array(weights(32 * blocks, 'fp32', 6).buffer);
    const q8 = new Uint8Array(34 * blocks + 1);
    for (let b = 0; b < blocks; b++) {
      q8[34 * b] = scales[b] & 0xff;
      q8[34 * b + 1] = (scales[b] >> 8) & 0x7f;
      for (let i = 0; i < 32; i++) q8[34 * b + 2 + i] = Math.max(-127, Math.min(127, Math.round(values[32 * b + i] * 2000))) & 0xff;
    }
    const [asQ8, asBytes] = [await compress(q8, { dtype: 'q8_0' }), await compress(q8, { dtype: 'bytes' })];
    assert.ok(asQ8.length < asBytes.length, `${asQ8.length} against ${asBytes.length}`);
    assert.ok(equalBytes(await decompress(asQ8), q8));
    // ggml Q6_K blocks (256 6-bit values of a bell curve around 32: their low 4 bits in 128
    // bytes, high 2 bits in 64, then 16 int8 scales and a float16 scale at the end), and a
    // byte more: smaller as 'q6_k' than as bytes (the high bits are far from uniform bytes).
    const q6 = new Uint8Array(210 * 200 + 1);
    const sixes = new Float32Array(weights(256 * 200, 'fp32', 7).buffer);
    for (let b = 0; b < 200; b++) {
      const at = 210 * b;
      for (let i = 0; i < 256; i++) {
        const q = Math.max(0, Math.min(63, Math.round(sixes[256 * b + i] * 600) + 32));
        q6[at + (i >> 1)] |= (q & 15) << (4 * (i & 1));
        q6[at + 128 + (i >> 2)] |= (q >> 4) << (2 * (i & 3));
      }
      for (let i = 0; i < 16; i++) q6[at + 192 + i] = (100 + ((b * 7 + i * 3) % 27)) & 0xff;
      q6[at + 208] = scales[b] & 0xff;
      q6[at + 209] = (scales[b] >> 8) & 0x7f;
    }
    const [asQ6, q6Bytes] = [await compress(q6, { dtype: 'q6_k' }), await compress(q6, { dtype: 'bytes' })];
    assert.ok(asQ6.length < q6Bytes.length, `${asQ6.length} against ${q6Bytes.length}`);
    assert.ok(equalBytes(await decompress(asQ6), q6));
    const packed = await compress(weights(100_000, 'bf16'), { dtype: 'bf16' });
    assert.ok(packed.length < 150_000, `bf16 weights should shrink, got ${packed.length}`);
    // With no dtype, 'auto' finds the grouping of a raw file itself.
    const plain = (await compress(weights(100_000, 'bf16'))).length;
    assert.ok(plain <= packed.length * 1.01, `default ${plain}, bf16 ${packed.length}`);
  });

  test('onProgress reports the bytes coded, in order, up to the total', async () => {
    const data = weights(6_000_000, 'bf16', 9); // 12 MB: more than one progress step
    const seen = [];
    const packed = await compress(data, { dtype: 'bf16', onProgress: (e) => seen.push(e) });
    assert.ok(equalBytes(await decompress(packed), data));
    assert.ok(seen.length >= 2, `progress events: ${JSON.stringify(seen)}`);
    for (let i = 0; i < seen.length; i++) {
      assert.equal(seen[i].total, data.length);
      assert.ok(seen[i].done > (i ? seen[i - 1].done : 0), 'increasing');
    }
    assert.equal(seen.at(-1).done, data.length, 'ends at the total');
    // Same bytes as without a callback.
    assert.ok(equalBytes(packed, await compress(data, { dtype: 'bf16' })));
    // A callback's exception comes back out, after the call; the next call works.
    const boom = new Error('boom');
    await assert.rejects(
      compress(data, {
        dtype: 'bf16',
        onProgress: () => {
          throw boom;
        },
      }),
      (e) => e === boom,
    );
    await rejectsWith(compress(data, { onProgress: 5 }), InvalidInputError, 'ZNN_INVALID_INPUT');
    assert.ok(equalBytes(await decompress(await compress(data.subarray(0, 999))), data.subarray(0, 999)));
  });

  test('empty input', async () => {
    const packed = await compress(new Uint8Array(0));
    assert.ok(packed.length > 0);
    assert.equal((await decompress(packed)).length, 0);
    assert.equal((await streamDecode(packed, 1)).length, 0);
    const zn = await compress(new Uint8Array(0), { dtype: 'bf16', format: 'zipnn' });
    assert.equal((await decompress(zn)).length, 0);
  });

  test("node's output memory is not zero-filled first: every byte is written, or the call fails", async () => {
    // What decompress() gets in node: uninitialised memory. Filled with garbage here, so any
    // byte a decode left alone shows, in each format, whole and streamed-to-the-end.
    const host = __internal.host;
    const uninitialised = host.newOutput;
    assert.equal(typeof uninitialised, 'function');
    const plain = uninitialised(5);
    assert.equal(Object.getPrototypeOf(plain), Uint8Array.prototype, 'a plain Uint8Array, not a Buffer');
    assert.deepEqual([plain.byteOffset, plain.buffer.byteLength], [0, 5]);
    const made = [];
    host.newOutput = (n) => {
      const a = uninitialised(n).fill(0xa5);
      made.push(a);
      return a;
    };
    try {
      const cases = [
        [modelZnw, model],
        [readFile(zipnnFixture('bf16_3chunks_mixed.znn')), readFile(zipnnFixture('bf16_3chunks_mixed.bin'))],
        [readFile(zipnnFixture('fp32_stream4k_chunk1k.znn')), readFile(zipnnFixture('fp32_stream4k_chunk1k.bin'))],
        [readFile(zipnnFixture('st_minilm_meta.znn.safetensors')), readFile(zipnnFixture('st_minilm_meta.safetensors'))],
        [await compress(new Uint8Array(0)), new Uint8Array(0)],
      ];
      for (const [packed, want] of cases) {
        made.length = 0;
        const out = await decompress(packed);
        assert.equal(made.length, 1);
        assert.equal(out, made[0], "the allocator's array is the result");
        assert.ok(equalBytes(out, want));
      }
      // Damaged: an error, and the array (half written) is not handed out.
      const bad = modelZnw.slice();
      bad[bad.length >> 1] ^= 0x10;
      await rejectsWith(decompress(bad), CorruptError, 'ZNN_CORRUPT');
      // An allocator that throws is memory refused; one that returns the wrong thing, a bug named.
      host.newOutput = () => {
        throw new RangeError('no');
      };
      await rejectsWith(decompress(modelZnw), TooLargeError, 'ZNN_TOO_LARGE');
      for (const wrong of [() => new Uint8Array(3), () => new ArrayBuffer(model.length), () => null]) {
        host.newOutput = wrong;
        await rejectsWith(decompress(modelZnw), InvalidInputError, 'ZNN_INVALID_INPUT');
      }
    } finally {
      host.newOutput = uninitialised;
    }
    assert.ok(equalBytes(await decompress(modelZnw), model));
  });

  test('ArrayBuffer and other views as input', async () => {
    const data = weights(5000, 'fp32');
    const packed = await compress(data.buffer, { dtype: 'fp32' });
    assert.ok(equalBytes(await decompress(packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.length)), data));
    const view = new DataView(packed.buffer, packed.byteOffset, packed.length);
    assert.ok(equalBytes(await decompress(view), data));
    await rejectsWith(decompress('not bytes'), InvalidInputError, 'ZNN_INVALID_INPUT');
  });

  test('decompressInto a reused buffer', async () => {
    const data = weights(50_000, 'bf16', 7);
    const packed = await compress(data, { dtype: 'bf16' });
    const target = new Uint8Array(data.length);
    for (let i = 0; i < 2; i++) {
      target.fill(0xaa);
      assert.equal(await decompressInto(packed, target), data.length);
      assert.ok(equalBytes(target, data));
    }
    // A target of the wrong size is a wrong argument, too small or too big.
    await rejectsWith(decompressInto(packed, new Uint8Array(data.length - 1)), InvalidInputError, 'ZNN_INVALID_INPUT');
    await rejectsWith(decompressInto(packed, new Uint8Array(data.length + 1)), InvalidInputError, 'ZNN_INVALID_INPUT');
    const zn = await compress(data, { dtype: 'bf16', format: 'zipnn' });
    target.fill(0);
    assert.equal(await decompressInto(zn, target.buffer), data.length);
    assert.ok(equalBytes(target, data));
    // A target sharing bytes with the input would overwrite input not read yet: refused, the
    // input left as it was (apart, in one buffer, it decodes).
    for (const file of [packed, zn]) {
      const both = new Uint8Array(file.length + data.length);
      both.set(file);
      const input = both.subarray(0, file.length);
      for (const at of [0, 1, file.length - 1]) {
        await rejectsWith(decompressInto(input, both.subarray(at, at + data.length)), InvalidInputError, 'ZNN_INVALID_INPUT');
      }
      assert.ok(equalBytes(input, file));
      assert.equal(await decompressInto(input, both.subarray(file.length)), data.length);
      assert.ok(equalBytes(both.subarray(file.length), data));
    }
    // Another SharedArrayBuffer object over the same memory (structuredClone shares it): no
    // check can see that, so the input is read from a copy, and the bytes come out right (they
    // came out corrupt, or for ZipNN's format wrong).
    const big = weights(400_000, 'fp32', 9);
    for (const file of [await compress(big, { dtype: 'fp32' }), await compress(big, { dtype: 'fp32', format: 'zipnn' })]) {
      const sab = new SharedArrayBuffer(file.length + big.length);
      const alias = structuredClone(sab);
      for (const at of [0, 1, file.length - 1]) {
        new Uint8Array(sab).set(file);
        assert.equal(await decompressInto(new Uint8Array(sab, 0, file.length), new Uint8Array(alias, at, big.length)), big.length);
        assert.ok(equalBytes(new Uint8Array(alias, at, big.length), big), `at ${at}`);
      }
    }
  });

  test('init is idempotent and concurrent calls share it', async () => {
    await Promise.all([init(), init(), compress(new Uint8Array(10))]);
    await init();
    assert.equal(__internal.stats.wasm, 'simd', 'node 20 runs the SIMD build');
  });
});

describe('the browser entry imported in node', () => {
  test('says how to load the module, and init(bytes) then works', () => {
    // A fresh process: the node entry, once loaded, reads files for every entry.
    const script = `
      import fs from 'node:fs';
      import * as z from 'zipnn-wasm/browser';
      let first;
      try { await z.compress(new Uint8Array(8)); } catch (e) { first = { code: e.code, message: e.message }; }
      await z.init(fs.readFileSync(new URL(import.meta.resolve('zipnn-wasm/zipnn_wasm_bg.wasm'))));
      const data = new Uint8Array(4096).map((_, i) => i * 7);
      const back = await z.decompress(await z.compress(data));
      console.log(JSON.stringify({ first, same: Buffer.from(back).equals(Buffer.from(data)) }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: path.dirname(fileURLToPath(import.meta.url)),
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim().split('\n').at(-1));
    assert.equal(r.first.code, 'ZNN_INIT');
    assert.match(r.first.message, /fetch reads no files/);
    assert.match(r.first.message, /'zipnn-wasm\/node'/);
    assert.equal(r.same, true);
  });
});

describe('warm-up after init', () => {
  // Each case in a fresh process: the warm-up runs once per loaded module.
  const run = (body, flags = []) => {
    const script = `
      import * as z from 'zipnn-wasm';
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      ${body}`;
    return execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
      cwd: path.dirname(fileURLToPath(import.meta.url)),
      env: { ...process.env, ZNW: fixturePath('minilm.bf16.safetensors.znw') },
      encoding: 'utf8',
    });
  };
  const last = (out) => JSON.parse(out.trim().split('\n').at(-1));

  test('runs in the task after init on a module nothing has called, and leaves it working', () => {
    const r = last(run(`
      await z.init();
      const at = z.__internal.stats.warmUp;
      await sleep(100);
      const fs = await import('node:fs');
      const out = await z.decompress(fs.readFileSync(process.env.ZNW));
      console.log(JSON.stringify({ at, after: z.__internal.stats.warmUp, n: out.length }));`));
    assert.equal(r.at, 'scheduled');
    assert.equal(typeof r.after, 'number', String(r.after));
    assert.equal(r.n, model.length);
  });

  test('is skipped once the module was called, and so cannot empty a view it handed out', () => {
    const r = last(run(`
      const fs = await import('node:fs');
      const file = fs.readFileSync(process.env.ZNW);
      await z.init();
      const view = new z.Decompressor().decompress(file);
      const n = view.length;
      await sleep(100);
      console.log(JSON.stringify({ warmUp: z.__internal.stats.warmUp, n, still: view.length }));`));
    assert.deepEqual(r, { warmUp: 'skipped', n: model.length, still: model.length });
  });

  test('is skipped when a decompression stream or fetchModel starts first, and not run by first use', () => {
    const r = last(run(`
      await z.init();
      new z.ZnnDecompressionStream();
      await sleep(50);
      const stream = z.__internal.stats.warmUp;
      console.log(JSON.stringify({ stream }));`));
    assert.deepEqual(r, { stream: 'skipped' });
    const f = last(run(`
      await z.init();
      await z.fetchModel(new Response(new Uint8Array(8))).catch(() => {});
      await sleep(50);
      console.log(JSON.stringify({ fetchModel: z.__internal.stats.warmUp }));`));
    assert.deepEqual(f, { fetchModel: 'skipped' });
    // The calls that load the module themselves decode at once: no warm-up to compete with.
    const first = last(run(`
      const d = await z.Decompressor.create();
      await z.compress(new Uint8Array(9));
      await sleep(50);
      console.log(JSON.stringify({ first: z.__internal.stats.warmUp ?? null }));`));
    assert.deepEqual(first, { first: null });
  });

  test('init(source, { warmUp: false }) schedules none; a bad value is rejected', () => {
    const r = last(run(`
      let bad = null;
      try { await z.init(undefined, { warmUp: 'yes' }); } catch (e) { bad = e.code; }
      await z.init(undefined, { warmUp: false });
      await sleep(50);
      console.log(JSON.stringify({ bad, warmUp: z.__internal.stats.warmUp ?? null }));`));
    assert.deepEqual(r, { bad: 'ZNN_INVALID_INPUT', warmUp: null });
  });

  test("gets V8 to compile the decoder's optimised code before any model is decoded", () => {
    // V8's own log of its compiles (node 20): functions compiled by the optimising tier
    // while the program only loaded the module and waited. Without the warm-up, none.
    const count = (warmUp) => {
      const out = run(`await z.init(undefined, { warmUp: ${warmUp} }); await sleep(1500);`, ['--trace-wasm-compilation-times']);
      return out.split('\n').filter((l) => /using TurboFan/.test(l) && !/wrapper/i.test(l)).length;
    };
    assert.equal(count(false), 0);
    const n = count(true);
    assert.ok(n >= 5, `${n} functions compiled optimised after the warm-up`);
  });
});

describe('Decompressor: wasm memory reused from call to call', () => {
  test('the real model, again and again into the same memory', async () => {
    const d = await Decompressor.create();
    let at = null;
    for (let i = 0; i < 3; i++) {
      const out = d.decompress(modelZnw);
      assert.equal(sha256(out), sha256(model));
      // A view of wasm memory, at the same place each time: nothing allocated anew.
      assert.ok(out.buffer instanceof ArrayBuffer);
      at ??= out.byteOffset;
      assert.equal(out.byteOffset, at);
    }
  });

  test('a large output takes its size once, not the blocks of growing it by doubling', async () => {
    // A fresh process per way in, so that the module's memory is this decode's alone. Grown
    // by doubling, every step left its old block behind: a 1.43 GB model took 3.5 GB of wasm
    // memory and one of 1.5 GB did not fit at all.
    const want = weights(24 << 20, 'bf16', 9); // 48 MiB
    const packed = await compress(want, { dtype: 'bf16', chunkSize: 1 << 20 });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'znngrow-'));
    try {
      const file = path.join(tmp, 'm.znw');
      fs.writeFileSync(file, packed);
      for (const way of ['decompress', 'decompressInput']) {
        const script = `
          import { Decompressor, __internal } from 'zipnn-wasm';
          import fs from 'node:fs';
          import { createHash } from 'node:crypto';
          const d = await Decompressor.create();
          const before = __internal.glue.__memory().buffer.byteLength;
          const file = fs.readFileSync(process.argv[1]);
          let out;
          if (process.argv[2] === 'decompress') {
            out = d.decompress(file);
          } else {
            d.inputBuffer(file.length).set(file);
            out = d.decompressInput(file.length);
          }
          const sha = createHash('sha256').update(out).digest('hex');
          console.log(JSON.stringify({ sha, grew: __internal.glue.__memory().buffer.byteLength - before }));
        `;
        const res = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, file, way], { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' }));
        assert.equal(res.sha, sha256(want), way);
        const input = way === 'decompress' ? 0 : packed.length;
        assert.ok(res.grew < input + want.length * 1.3, `${way}: wasm memory grew by ${res.grew} bytes for ${want.length} decoded`);
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('a file read straight into its input buffer', async () => {
    const d = new Decompressor(); // init() ran above
    const file = fixturePath('minilm.bf16.safetensors.znw');
    const n = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r');
    try {
      assert.equal(fs.readSync(fd, d.inputBuffer(n), 0, n, 0), n);
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(sha256(d.decompressInput(n)), sha256(model));
  });

  test('every format, in any order of sizes; a .slice() outlives the next call', async () => {
    const d = new Decompressor();
    const small = weights(30_000, 'fp32', 5);
    const cases = [
      [modelZnw, model],
      [await compress(small, { dtype: 'fp32' }), small],
      [readFile(zipnnFixture('bf16_stream8k.znn')), readFile(zipnnFixture('bf16_stream8k.bin'))],
      [await compress(small, { dtype: 'fp32', format: 'zipnn' }), small],
      [readFile(zipnnFixture('bf16_empty.znn')), new Uint8Array(0)],
    ];
    const kept = [];
    for (const [packed, want] of [...cases, ...cases.reverse()]) {
      const out = d.decompress(packed);
      assert.ok(equalBytes(out, want));
      kept.push([out.slice(), want]);
    }
    for (const [copy, want] of kept) assert.ok(equalBytes(copy, want));
    const znn = readFile(zipnnFixture('st_minilm_meta.znn.safetensors'));
    assert.ok(equalBytes(d.decompress(znn), await decompress(znn)));
  });

  test('bad input: typed errors, and the next call works', async () => {
    const d = new Decompressor({ maxOutput: 1 << 20 });
    const small = weights(20_000, 'bf16', 3);
    const packed = await compress(small, { dtype: 'bf16' });
    const bad = packed.slice();
    bad[bad.length >> 1] ^= 0x40;
    const throwsWith = (f, cls, code) => assert.throws(f, (e) => e instanceof cls && e.code === code);
    throwsWith(() => d.decompress(bad), CorruptError, 'ZNN_CORRUPT');
    throwsWith(() => d.decompress(packed.subarray(0, 100)), TruncatedError, 'ZNN_TRUNCATED');
    throwsWith(() => d.decompress(small), NotCompressedError, 'ZNN_NOT_COMPRESSED');
    throwsWith(() => d.decompress(modelZnw), TooLargeError, 'ZNN_TOO_LARGE');
    throwsWith(() => d.decompress('text'), InvalidInputError, 'ZNN_INVALID_INPUT');
    throwsWith(() => d.inputBuffer(-1), InvalidInputError, 'ZNN_INVALID_INPUT');
    // Lengths past what the module can hold, however far past: too large, not "not a length".
    for (const n of [2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1]) throwsWith(() => d.inputBuffer(n), TooLargeError, 'ZNN_TOO_LARGE');
    d.inputBuffer(10);
    throwsWith(() => d.decompressInput(11), InvalidInputError, 'ZNN_INVALID_INPUT');
    assert.ok(equalBytes(d.decompress(packed), small));
    d.release();
    assert.ok(equalBytes(d.decompress(packed), small));
    // Arguments that are not what they say are refused, not converted.
    for (const bad of ['16', 16n, 1.5, NaN, true, null]) throwsWith(() => d.inputBuffer(bad), InvalidInputError, 'ZNN_INVALID_INPUT');
    throwsWith(() => d.decompressInput('8'), InvalidInputError, 'ZNN_INVALID_INPUT');
    throwsWith(() => new Decompressor(null).decompress('x'), InvalidInputError, 'ZNN_INVALID_INPUT');
    for (const maxOutput of [-1, NaN, 'abc', {}, 10n]) {
      throwsWith(() => new Decompressor({ maxOutput }), InvalidInputError, 'ZNN_INVALID_INPUT');
      throwsWith(() => new ZnnDecompressionStream({ maxOutput }), InvalidInputError, 'ZNN_INVALID_INPUT');
      await rejectsWith(decompress(packed, { maxOutput }), InvalidInputError, 'ZNN_INVALID_INPUT');
    }
  });

  test("another realm's buffers (a vm context here, an iframe in a page) are input like ours", async () => {
    const vm = await import('node:vm');
    const realm = vm.createContext({});
    const foreign = (u8, C = 'ArrayBuffer') => {
      const b = vm.runInContext(`new ${C}(${u8.length})`, realm);
      new Uint8Array(b).set(u8);
      return b;
    };
    const orig = weights(5000, 'bf16');
    const packed = await compress(orig);
    assert.ok(!(foreign(packed) instanceof ArrayBuffer), 'the vm realm is another realm');
    for (const C of ['ArrayBuffer', 'SharedArrayBuffer']) {
      assert.ok(equalBytes(await decompress(foreign(packed, C)), orig), C);
      assert.ok(equalBytes(await decompress(await compress(foreign(orig, C))), orig), C);
      assert.equal((await inspect(foreign(packed, C))).totalSize, orig.length, C);
      assert.equal(decodedSize(foreign(packed, C)), orig.length, C);
      const target = foreign(new Uint8Array(orig.length), C);
      assert.equal(await decompressInto(packed, target), orig.length, C);
      assert.ok(equalBytes(new Uint8Array(target), orig), C);
      assert.ok(equalBytes(await collect(chunkedStream(new Uint8Array(foreign(packed, C)), 999).pipeThrough(new TransformStream({ transform: (c, k) => k.enqueue(foreign(c, C)) })).pipeThrough(new ZnnDecompressionStream())), orig), C);
    }
    // Objects that only look like buffers are still refused.
    for (const fake of [{ byteLength: 8 }, Object.create(ArrayBuffer.prototype), { [Symbol.toStringTag]: 'ArrayBuffer' }]) {
      await rejectsWith(decompress(fake), InvalidInputError, 'ZNN_INVALID_INPUT');
    }
  });

  test('a detached buffer, a signal that is none, a used Response: InvalidInputError everywhere', async () => {
    const packed = await compress(weights(5000, 'bf16'));
    // Views made first, then their buffer transferred away.
    const detached = (view = (b) => b) => {
      const b = new ArrayBuffer(64);
      const v = view(b);
      structuredClone(b, { transfer: [b] });
      return v;
    };
    const views = [(b) => new Uint8Array(b), (b) => new Float32Array(b, 4), (b) => new DataView(b)];
    for (const make of [() => detached(), ...views.map((v) => () => detached(v))]) {
      await rejectsWith(compress(make()), InvalidInputError, 'ZNN_INVALID_INPUT');
      await rejectsWith(decompress(make()), InvalidInputError, 'ZNN_INVALID_INPUT');
      await rejectsWith(decompressInto(make(), new Uint8Array(10_000)), InvalidInputError, 'ZNN_INVALID_INPUT');
      await rejectsWith(decompressInto(packed, make()), InvalidInputError, 'ZNN_INVALID_INPUT');
      await rejectsWith(inspect(make()), InvalidInputError, 'ZNN_INVALID_INPUT');
      const d = await Decompressor.create();
      assert.throws(() => d.decompress(make()), InvalidInputError);
    }
    // Transferred by the caller just after the call: with the module loaded the call had read
    // it already (and written its target), so it succeeds. (The first call, which awaits the
    // module, is in 'input transferred while the first call loads the module'.)
    const moved = (f) => {
      const b = packed.slice();
      const p = f(b);
      structuredClone(b.buffer, { transfer: [b.buffer] });
      return p;
    };
    assert.equal((await moved(decompress)).length, 10_000);
    assert.equal((await moved(inspect)).totalSize, 10_000);
    assert.equal(await moved((b) => decompressInto(b, new Uint8Array(10_000))), 10_000);
    assert.ok(equalBytes(await decompress(await moved(compress)), packed));
    assert.ok(equalBytes(await decompress(await moved((b) => compress(b, { format: 'zipnn', dtype: 'bf16' }))), packed));
    const target = new Uint8Array(10_000);
    const into = decompressInto(packed, target);
    const kept = structuredClone(target.buffer, { transfer: [target.buffer] });
    assert.equal(await into, 10_000);
    assert.ok(equalBytes(await decompress(packed), new Uint8Array(kept)));
    // Empty buffers that are not detached are still input.
    await rejectsWith(decompress(new ArrayBuffer(0)), NotCompressedError, 'ZNN_NOT_COMPRESSED');
    for (const signal of [{}, 'abort', 1]) {
      await rejectsWith(decompress(packed, { signal }), InvalidInputError, 'ZNN_INVALID_INPUT');
      await rejectsWith(decompressInto(packed, new Uint8Array(10_000), { signal }), InvalidInputError, 'ZNN_INVALID_INPUT');
      await rejectsWith(fetchModel(new Response(packed), { signal }), InvalidInputError, 'ZNN_INVALID_INPUT');
    }
    const used = new Response(packed);
    await used.arrayBuffer();
    await rejectsWith(fetchModel(used), InvalidInputError, 'ZNN_INVALID_INPUT');
    const locked = new Response(packed);
    locked.body.getReader();
    await rejectsWith(fetchModel(locked), InvalidInputError, 'ZNN_INVALID_INPUT');
    assert.equal((await fetchModel(new Response(packed), { signal: null })).byteLength, 10_000);
    // A callback that is not a function is refused before anything is read.
    for (const name of ['onProgress', 'onTensor', 'fetch']) {
      await rejectsWith(fetchModel(new Response(packed), { [name]: 1 }), InvalidInputError, 'ZNN_INVALID_INPUT');
    }
    await rejectsWith(compress(new Uint8Array(8), { onProgress: 'x' }), InvalidInputError, 'ZNN_INVALID_INPUT');
    assert.equal((await fetchModel(new Response(packed), { onProgress: null, onTensor: undefined })).byteLength, 10_000);
  });

  test('a header promising more than its data holds takes no memory', async () => {
    const core = await import(new URL('./node_modules/zipnn-wasm/core.js', import.meta.url));
    const zn = readFile(zipnnFixture('bf16_3chunks_mixed.znn'));
    new DataView(zn.buffer, zn.byteOffset).setBigUint64(16, 1n << 30n, true); // 1 GiB
    const d = new Decompressor();
    const before = core.__internal.glue.__memory().buffer.byteLength;
    assert.throws(() => d.decompress(zn), (e) => e instanceof ZnnError && ['ZNN_CORRUPT', 'ZNN_TRUNCATED'].includes(e.code));
    // One chunk of 1 GiB (chunk_log2 30: its tables still match) whose streams hold 4 KiB.
    const big = await compress(weights(2048, 'bf16', 4), { dtype: 'bf16', format: 'zipnn' });
    big[14] = 30;
    new DataView(big.buffer, big.byteOffset).setBigUint64(16, 1n << 30n, true);
    assert.throws(() => d.decompress(big), (e) => e instanceof CorruptError);
    await rejectsWith(decompress(big), CorruptError, 'ZNN_CORRUPT');
    const grew = core.__internal.glue.__memory().buffer.byteLength - before;
    assert.ok(grew < 16 << 20, `wasm memory grew by ${grew} bytes`);
  });

  test("views of the module's memory passed back in are copied first", async () => {
    const [a, b] = [new Decompressor(), new Decompressor()];
    const view = a.inputBuffer(modelZnw.length);
    view.set(modelZnw);
    // b grows wasm memory for the 45 MB output, which would empty `view` mid-call.
    assert.equal(sha256(b.decompress(view)), sha256(model));
    const out = b.decompress(await compress(weights(1000, 'bf16', 9), { dtype: 'bf16' }));
    assert.ok(equalBytes(await decompress(await compress(out)), out), 'compress / decompress of a view');
    await rejectsWith(decompressInto(modelZnw, a.decompress(modelZnw)), InvalidInputError, 'ZNN_INVALID_INPUT');
  });
});

describe('the build without SIMD', () => {
  // The first call awaits the module, so it reads its input later: transferred meanwhile, the
  // input (or target) is an InvalidInputError, not a TypeError from reading a detached buffer.
  test('input transferred while the first call loads the module: InvalidInputError', () => {
    const script = `
      const z = await import('zipnn-wasm');
      const packed = new Uint8Array(64).fill(1);
      const calls = [(b) => z.compress(b), (b) => z.decompress(b), (b) => z.inspect(b), (b) => z.decompressInto(b, new Uint8Array(8)), (b) => z.decompressInto(packed, b)];
      const b = packed.slice();
      const p = calls[Number(process.argv[1])](b);
      structuredClone(b.buffer, { transfer: [b.buffer] });
      console.log(await p.then(() => 'resolved', (e) => e.code ?? e.name));`;
    for (let i = 0; i < 5; i++) {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, String(i)], { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' });
      assert.equal(out.trim(), 'ZNN_INVALID_INPUT', `call ${i}`);
    }
  });

  // A fresh process whose WebAssembly.validate refuses everything (as a host without wasm SIMD
  // refuses the package's probe) imports the package by name and works on the real model.
  test('is loaded where SIMD is not, and gives the same bytes', () => {
    const script = `
      WebAssembly.validate = () => false;
      const fs = await import('node:fs');
      const { createHash } = await import('node:crypto');
      const z = await import('zipnn-wasm');
      const hex = (b) => createHash('sha256').update(b).digest('hex');
      const model = fs.readFileSync(process.env.MODEL);
      const packed = await z.compress(model, { dtype: 'bf16' });
      const cli = await z.decompress(fs.readFileSync(process.env.ZNW));
      const back = await z.decompress(packed);
      const zn = await z.decompress(await z.compress(model.subarray(0, 1 << 20), { format: 'zipnn', dtype: 'bf16' }));
      let code = null;
      const bad = packed.slice();
      bad[bad.length >> 1] ^= 4;
      try { await z.decompress(bad); } catch (e) { code = e.code; }
      console.log(JSON.stringify({ wasm: z.__internal.stats.wasm, cli: hex(cli), back: hex(back), zn: hex(zn), small: hex(model.subarray(0, 1 << 20)), code }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: path.dirname(fileURLToPath(import.meta.url)),
      env: { ...process.env, MODEL: modelPath('minilm.bf16.safetensors'), ZNW: fixturePath('minilm.bf16.safetensors.znw') },
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim().split('\n').at(-1));
    const want = sha256(model);
    assert.deepEqual(r, { wasm: 'nosimd', cli: want, back: want, zn: r.small, small: r.small, code: 'ZNN_CORRUPT' });
  });
});

describe('ZipNN format', () => {
  test("compress(..., { format: 'zipnn' }) decompresses back", async () => {
    for (const dtype of ['bf16', 'fp16', 'fp32']) {
      const data = weights(300_000, dtype, 3);
      const zn = await compress(data, { dtype, format: 'zipnn' });
      assert.equal(String.fromCharCode(zn[0], zn[1]), 'ZN');
      assert.ok(zn.length < data.length, dtype);
      assert.ok(equalBytes(await decompress(zn), data), dtype);
      const streaming = await compress(data, { dtype, format: 'zipnn', streamingChunk: 256 * KiB });
      assert.ok(streaming[13] >= 128, 'streaming byte set');
      assert.ok(equalBytes(await decompress(streaming), data), `${dtype} streaming`);
      assert.ok(equalBytes(await streamDecode(streaming, 7 * KiB), data), `${dtype} streaming via stream`);
      // chunkSize sets the frame's chunks (header byte 14 = log2), as the CLI's --chunk-size.
      const small = await compress(data, { dtype, format: 'zipnn', chunkSize: 64 * KiB });
      assert.equal(small[14], 16, `${dtype} chunk byte`);
      assert.ok(equalBytes(await decompress(small), data), `${dtype} 64 KiB chunks`);
      const frames = await new Response(new Blob([data]).stream()
        .pipeThrough(new ZnnCompressionStream({ dtype, format: 'zipnn', chunkSize: 4 * KiB, streamingChunk: 256 * KiB })))
        .arrayBuffer();
      assert.equal(new Uint8Array(frames)[14], 12, `${dtype} stream chunk byte`);
      assert.ok(equalBytes(await decompress(new Uint8Array(frames)), data), `${dtype} stream with 4 KiB chunks`);
    }
  });

  test('the real model in ZipNN format', async () => {
    const zn = await compress(model, { dtype: 'bf16', format: 'zipnn' });
    assert.ok(equalBytes(await decompress(zn), model));
  });

  test('ZipNN format needs a float dtype', async () => {
    await rejectsWith(compress(new Uint8Array(8), { format: 'zipnn' }), InvalidInputError, 'ZNN_INVALID_INPUT');
    await rejectsWith(compress(new Uint8Array(8), { format: 'zipnn', dtype: 'bytes' }), InvalidInputError, 'ZNN_INVALID_INPUT');
    await rejectsWith(compress(new Uint8Array(8), { format: 'zipnn', dtype: 'fp64' }), InvalidInputError, 'ZNN_INVALID_INPUT');
    await rejectsWith(compress(new Uint8Array(8), { format: 'gzip' }), InvalidInputError, 'ZNN_INVALID_INPUT');
    await rejectsWith(compress(new Uint8Array(8), { dtype: 'bf16', format: 'zipnn', streamingChunk: 1000 }), InvalidInputError, 'ZNN_INVALID_INPUT');
    await rejectsWith(compress(new Uint8Array(8), { dtype: 'bf16', format: 'zipnn', chunkSize: 3000 }), InvalidInputError, 'ZNN_INVALID_INPUT');
    await rejectsWith(compress(new Uint8Array(8), { dtype: 'bf16', format: 'zipnn', chunkSize: 512 }), InvalidInputError, 'ZNN_INVALID_INPUT');
  });

  test("streamingChunk is ZipNN's: with .znw it is refused, not ignored (as in the CLIs)", async () => {
    for (const streamingChunk of [3, 65536]) {
      await rejectsWith(compress(new Uint8Array(8), { streamingChunk }), InvalidInputError, 'ZNN_INVALID_INPUT');
      await rejectsWith(compress(new Uint8Array(8), { format: 'znw', dtype: 'bf16', streamingChunk }), InvalidInputError, 'ZNN_INVALID_INPUT');
      assert.throws(() => new ZnnCompressionStream({ streamingChunk }), /streamingChunk is an option of the 'zipnn' format/);
    }
  });

  test('files written by zipnn 0.5.4 (Python): single, streaming, torch, fp8', async () => {
    for (const name of ['bf16_3chunks_mixed', 'bf16_stream8k', 'fp32_stream4k_chunk1k', 'fp16_minilm_16k', 'torch_bf16_20x300', 'e4m3_2chunks', 'bf16_empty']) {
      const zn = readFile(zipnnFixture(`${name}.znn`));
      const bin = readFile(zipnnFixture(`${name}.bin`));
      assert.ok(equalBytes(await decompress(zn), bin), name);
      assert.ok(equalBytes(await streamDecode(zn, 7), bin), `${name} via stream`);
    }
  });

  test('.znn.safetensors written by zipnn (with and without metadata)', async () => {
    for (const name of ['st_minilm_meta', 'st_minilm_nometa']) {
      const znn = readFile(zipnnFixture(`${name}.znn.safetensors`));
      const orig = readFile(zipnnFixture(`${name}.safetensors`));
      const out = await decompress(znn);
      // Laid out as zipnn's own restore writes it (the safetensors library's order and JSON):
      // the original, byte for byte. st_minilm_meta's tensors are in another order in the
      // compressed file (F32, BF16, F16 and F8 frames are all U8 there, sorted by name).
      assert.ok(equalBytes(out, orig), name);
      assert.ok(equalBytes(new Uint8Array(await fetchModel(new Response(znn.slice()))), orig), `${name} fetchModel`);
      for (const size of [1000, 64 * KiB]) assert.ok(equalBytes(await streamDecode(znn, size), out), `${name} stream ${size}`);
    }
    // Cut short (an interrupted download), even inside its header: truncated, not "not
    // compressed" (without source metadata zipnn names no key in the header: the cut header
    // alone must tell). Cut after the header but before a compressed tensor shows, the
    // decoders cannot tell it from a plain file; fetchModel, which would pass a plain file
    // on, does not pass on one that ends before its header's data.
    for (const name of ['st_minilm_meta', 'st_minilm_nometa']) {
      const znn = readFile(zipnnFixture(`${name}.znn.safetensors`));
      const headerEnd = 8 + Number(new DataView(znn.buffer, znn.byteOffset).getBigUint64(0, true));
      for (const cut of [100, headerEnd - 1, headerEnd + 300, znn.length - 1]) {
        const part = znn.subarray(0, cut);
        await rejectsWith(fetchModel(new Response(part.slice())), TruncatedError, 'ZNN_TRUNCATED');
        if (cut < headerEnd || cut === znn.length - 1 || name === 'st_minilm_meta') {
          await rejectsWith(decompress(part), TruncatedError, 'ZNN_TRUNCATED');
          await rejectsWith(streamDecode(part, 64), TruncatedError, 'ZNN_TRUNCATED');
        }
      }
    }
    // A plain safetensors body cut short is not passed on either.
    const plain = readFile(zipnnFixture('st_minilm_nometa.safetensors'));
    await rejectsWith(fetchModel(new Response(plain.slice(0, plain.length - 1))), TruncatedError, 'ZNN_TRUNCATED');
    assert.equal((await fetchModel(new Response(plain.slice()))).byteLength, plain.length);
    // A header length past the format's cap (100,000,000 bytes, as the Rust side reads it) is
    // no safetensors header: plain at once, not 100 MB waited for.
    const head = (n) => {
      const u8 = new Uint8Array(16);
      new DataView(u8.buffer).setBigUint64(0, BigInt(n), true);
      u8[8] = 0x7b;
      return u8;
    };
    assert.equal(__internal.sniff(head(100_000_000), false), 100_000_008);
    assert.equal(__internal.sniff(head(100_000_001), false), 'plain');
  });

  test('onTensor fires for a tensor named "" (only a raw file\'s one segment has no name)', async () => {
    const file = makeSafetensors([
      { name: '', dtype: 'BF16', shape: [300, 300], bytes: weights(90_000, 'bf16', 5) },
      { name: 'a', dtype: 'F16', shape: [5], bytes: new Uint8Array(10).fill(1) },
    ]);
    const packed = await compress(file);
    for (const worker of [false, true]) {
      const names = [];
      const out = await fetchModel(new Response(packed.slice()), { worker, onTensor: (t) => names.push(t.name) });
      assert.ok(equalBytes(new Uint8Array(out), file), `worker ${worker}`);
      assert.deepEqual(names.sort(), ['', 'a'], `worker ${worker}`);
    }
  });

  test('a .znn.safetensors that lists its compressed tensors streams a tensor at a time', async () => {
    // zipnn's layout for a source with metadata: float tensors as U8 ZipNN frames, listed with
    // their types and shapes under znn_compressed_vectors; the rest stored as they are.
    const count = 2 << 20; // bf16 elements: 4 MiB a tensor
    const frame = await compress(weights(count, 'bf16', 3), { format: 'zipnn', dtype: 'bf16' });
    // In the order zipnn's writer (the safetensors library) puts them: by type, the frames
    // being U8, then by name; restored, the frames are BF16 and keep their places.
    const tensors = [];
    const listed = {};
    for (const i of [0, 5, 10, 15]) {
      const name = `ids.${String(i).padStart(2, '0')}`;
      tensors.push({ name, dtype: 'I64', shape: [5000], bytes: new Uint8Array(40_000).fill(i) });
    }
    for (let i = 0; i < 16; i++) {
      const name = `layer.${String(i).padStart(2, '0')}.weight`;
      tensors.push({ name, dtype: 'U8', shape: [frame.length], bytes: frame });
      listed[name] = { dtype: 'bfloat16', shape: `[${count}]` };
    }
    tensors.push({ name: 'zz.mask', dtype: 'U8', shape: [24], bytes: new Uint8Array(24).fill(9) });
    const file = makeSafetensors(tensors, { znn_compressed_vectors: JSON.stringify(listed), format: 'pt' });
    const want = await decompress(file);
    const restored = safetensorsTensors(want);
    assert.equal(restored.length, 21);
    assert.deepEqual([restored[4].name, restored[4].dtype, restored[4].shape], ['layer.00.weight', 'BF16', [count]]);

    // Everything but the last stored tensor's last byte comes out before the input ends.
    const ds = new ZnnDecompressionStream();
    const w = ds.writable.getWriter();
    const r = ds.readable.getReader();
    const parts = [];
    let got = 0;
    const writing = w.write(file.subarray(0, file.length - 1));
    while (got < want.length - 1) {
      const { value, done } = await r.read();
      assert.ok(!done);
      parts.push(value);
      got += value.length;
    }
    await writing;
    assert.equal(got, want.length - 1);
    await w.write(file.subarray(file.length - 1));
    await w.close();
    for (;;) {
      const { value, done } = await r.read();
      if (done) break;
      parts.push(value);
    }
    assert.ok(equalBytes(Buffer.concat(parts), want));

    // fetchModel, in-thread and on its decode worker: the tensor table as soon as the JSON header
    // is in (decodedTotal in the progress events, each tensor once its bytes are there).
    // The body comes slowly at first (16 KiB every 10 ms), as over a slow link: the table must
    // not wait for the decode worker's input batches (256 KiB) to fill.
    for (const worker of [false, true]) {
      const names = [];
      const events = [];
      let pulled = 0;
      let pulledAtTable;
      const jobs = __internal.stats.workerJobs;
      const body = new ReadableStream({
        async pull(c) {
          if (pulled < 512 * KiB) await new Promise((r) => setTimeout(r, 10));
          const n = pulled < 512 * KiB ? 16 * KiB : 4 << 20;
          c.enqueue(file.slice(pulled, pulled + n));
          pulled += n;
          if (pulled >= file.length) c.close();
        },
      });
      const out = await fetchModel(new Response(body, { headers: { 'content-length': String(file.length) } }), {
        worker,
        onTensor: (t) => names.push([t.name, t.dtype, t.length]),
        onProgress: (e) => {
          events.push(e);
          pulledAtTable ??= e.decodedTotal === undefined ? undefined : pulled;
        },
      });
      assert.equal(__internal.stats.workerJobs - jobs, worker ? 1 : 0);
      assert.ok(equalBytes(new Uint8Array(out), want), `worker ${worker}`);
      assert.deepEqual(names, restored.map((t) => [t.name, t.dtype, t.bytes.length]));
      assert.ok(events.length > 2 && events.every((e) => e.decodedTotal === want.length), `worker ${worker}`);
      assert.ok(pulledAtTable <= 192 * KiB, `worker ${worker}: the table came after ${pulledAtTable} bytes`);
    }

    // A fresh process streaming the file keeps the module's memory to a few MiB (it held the
    // whole input and output, 150 MB, when such a file was collected and decoded at the end).
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'znnst-'));
    try {
      fs.writeFileSync(path.join(tmp, 'm.znn.safetensors'), file);
      const script = `
        import { ZnnDecompressionStream, __internal } from 'zipnn-wasm';
        import fs from 'node:fs';
        import { createHash } from 'node:crypto';
        const h = createHash('sha256');
        const body = fs.createReadStream(process.argv[1], { highWaterMark: 64 * 1024 });
        const src = new ReadableStream({ async start(c) { for await (const b of body) c.enqueue(new Uint8Array(b)); c.close(); } });
        for await (const c of src.pipeThrough(new ZnnDecompressionStream())) h.update(c);
        console.log(JSON.stringify({ sha: h.digest('hex'), memory: __internal.glue.__memory().buffer.byteLength }));
      `;
      const res = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, path.join(tmp, 'm.znn.safetensors')], { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' }));
      assert.equal(res.sha, sha256(want));
      assert.ok(res.memory < 24 << 20, `wasm memory ${res.memory} bytes`);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('streams', () => {
  test('highWaterMark: decoded bytes queued for a slow reader before decoding pauses', async () => {
    // The whole file in one write, which resolves once its bytes are decoded: how much the
    // reader had still to read then is what the stream held for it.
    const behind = async (options) => {
      const ds = new ZnnDecompressionStream(options);
      const w = ds.writable.getWriter();
      let n = 0;
      let atWrite = -1;
      const written = w.write(modelZnw).then(() => (atWrite = n));
      const ended = written.then(() => w.close());
      for await (const c of ds.readable) {
        n += c.length;
        await new Promise((r) => setTimeout(r, 1)); // a reader slower than the decoder
      }
      await ended;
      assert.equal(n, model.length);
      return n - atWrite;
    };
    const [small, none, usual] = [await behind({ highWaterMark: 1 << 20 }), await behind({ highWaterMark: 0 }), await behind()];
    assert.ok(small <= (1 << 20) + (512 << 10), `1 MiB: ${small} bytes were queued`);
    assert.ok(none <= 512 << 10, `0: ${none} bytes were queued`);
    assert.ok(usual >= 6 << 20 && usual <= (8 << 20) + (512 << 10), `default: ${usual} bytes were queued`);
    for (const highWaterMark of [-1, 1.5, '1024', NaN]) {
      assert.throws(() => new ZnnDecompressionStream({ highWaterMark }), (e) => e instanceof InvalidInputError && e.code === 'ZNN_INVALID_INPUT', String(highWaterMark));
    }
  });

  // Many small chunks, so that 1-byte feeding crosses every boundary.
  const small = weights(60_000, 'bf16', 11);
  let smallZnw;

  test('every input chunking gives the same bytes', async () => {
    smallZnw = await compress(small, { dtype: 'bf16', chunkSize: 16 * KiB });
    for (const size of [1, 7, 64 * KiB, smallZnw.length]) {
      assert.ok(equalBytes(await streamDecode(smallZnw, size), small), `chunks of ${size}`);
    }
    for (const size of [64 * KiB, 3 * 1024 * KiB + 5, modelZnw.length]) {
      const out = await streamDecode(modelZnw, size);
      assert.equal(sha256(out), sha256(model), `model in chunks of ${size}`);
      assert.ok(out.chunks > 1, 'output comes in several chunks');
    }
  });

  test('decoded bytes come out before the input ends', async () => {
    const ds = new ZnnDecompressionStream();
    const writer = ds.writable.getWriter();
    const reader = ds.readable.getReader();
    const half = Math.floor(modelZnw.length / 2);
    writer.write(modelZnw.subarray(0, half));
    const first = await reader.read();
    assert.ok(!first.done && first.value.length > 0, 'output after half of the input');
    let got = first.value.length;
    const rest = (async () => {
      for (;;) {
        const r = await reader.read();
        if (r.done) return;
        got += r.value.length;
      }
    })();
    await writer.write(modelZnw.subarray(half));
    await writer.close();
    await rest;
    assert.equal(got, model.length);
  });

  test('compression stream → decompression stream, any chunking', async () => {
    for (const size of [1, 7, 64 * KiB]) {
      const packed = await collect(chunkedStream(small, size).pipeThrough(new ZnnCompressionStream({ dtype: 'bf16', chunkSize: 16 * KiB })));
      assert.ok(packed.length < small.length);
      assert.ok(equalBytes(await decompress(packed), small), `compress chunks of ${size}`);
      assert.ok(equalBytes(await streamDecode(packed, 7), small), `stream compress chunks of ${size}`);
    }
    const big = await collect(chunkedStream(model, 5 * 1024 * KiB).pipeThrough(new ZnnCompressionStream({ dtype: 'bf16' })));
    assert.equal(sha256(await decompress(big)), sha256(model));
    const empty = await collect(chunkedStream(new Uint8Array(0), 1).pipeThrough(new ZnnCompressionStream()));
    assert.equal((await decompress(empty)).length, 0);
  });

  test('ZnnCompressionStream({ size }) writes what compress writes, header and tensor table included', async () => {
    // 45 MB: more than the 32 MiB the encoder reads before it writes the header.
    const whole = await compress(model);
    const report = await inspect(whole);
    for (const size of [64 * KiB, 3 * 1024 * KiB + 1]) {
      const cs = new ZnnCompressionStream({ size: model.length });
      assert.equal(cs.report, undefined);
      const streamed = await collect(chunkedStream(model, size).pipeThrough(cs));
      assert.ok(equalBytes(streamed, whole), `chunks of ${size}`);
      // What inspect() reads of the output, without reading it back.
      assert.deepEqual(cs.report, report);
    }
    assert.equal(report.totalSize, model.length);
    assert.ok(report.segments.some((s) => s.dtype === 'bf16'));
    assert.equal(new ZnnCompressionStream().report, undefined);
    // In a fresh process (wasm memory never shrinks), the module's memory is about the first
    // 32 MiB and a chunk: the records of those 32 MiB leave as they are coded (it was 66 MiB
    // for this file, 106 MiB for the fp32 one, when they were held to the end of the push).
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'znncs-'));
    try {
      fs.writeFileSync(path.join(tmp, 'm.safetensors'), model);
      const script = `
        import { ZnnCompressionStream, __internal } from 'zipnn-wasm';
        import fs from 'node:fs';
        import { Readable } from 'node:stream';
        const f = process.argv[1];
        let n = 0;
        const src = Readable.toWeb(fs.createReadStream(f, { highWaterMark: 1 << 20 }));
        for await (const c of src.pipeThrough(new ZnnCompressionStream({ size: fs.statSync(f).size }))) n += c.length;
        console.log(JSON.stringify({ n, memory: __internal.glue.__memory().buffer.byteLength }));
      `;
      const res = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, path.join(tmp, 'm.safetensors')], { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' }));
      assert.equal(res.n, whole.length);
      assert.ok(res.memory < 44 << 20, `wasm memory ${res.memory} bytes`);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    // Raw input (no container) with a size: the header carries it, the bytes come back.
    const data = weights(300_000, 'fp32', 3);
    const raw = await collect(chunkedStream(data, 10_000).pipeThrough(new ZnnCompressionStream({ size: data.length })));
    assert.equal(decodedSize(raw), data.length);
    assert.ok(equalBytes(await decompress(raw), data));
    assert.ok(equalBytes(raw, await compress(data)), 'a file within the first 32 MiB is coded as compress codes it');
    // Input of another length than the size is an error, not a file.
    for (const size of [data.length - 1, data.length + 1, 0]) {
      await rejectsWith(collect(chunkedStream(data, 10_000).pipeThrough(new ZnnCompressionStream({ size }))), InvalidInputError, 'ZNN_INVALID_INPUT');
    }
    for (const bad of [-1, 1.5, '100', 2 ** 60]) {
      assert.throws(() => new ZnnCompressionStream({ size: bad }), InvalidInputError, String(bad));
    }
    assert.throws(() => new ZnnCompressionStream({ size: 10, dtype: 'bf16', format: 'zipnn' }), InvalidInputError);
    // verify: each chunk decoded again as it is written; only with a size.
    const verified = await collect(chunkedStream(data, 10_000).pipeThrough(new ZnnCompressionStream({ size: data.length, verify: true })));
    assert.ok(equalBytes(verified, raw));
    for (const options of [{ verify: true }, { size: 10, verify: 1 }, { size: 10, verify: true, dtype: 'bf16', format: 'zipnn' }]) {
      assert.throws(() => new ZnnCompressionStream(options), InvalidInputError, JSON.stringify(options));
    }
    // 4-byte chunks of a terabyte: a plan that does not fit is a TooLargeError, not a trap.
    const cs = new ZnnCompressionStream({ size: 2 ** 40, chunkSize: 4 });
    const w = cs.writable.getWriter();
    const out = collect(cs.readable);
    out.catch(() => {});
    await w.write(new Uint8Array(32 << 20)).catch(() => {});
    await rejectsWith(out, TooLargeError, 'ZNN_TOO_LARGE');
  });

  test('a consumer that stops the stream from inside a chunk, or as the input closes, is heard', { timeout: 60_000 }, async () => {
    // One ZipNN frame of 64 MiB: decoding pauses inside the write for the reader.
    const packed = await compress(new Uint8Array(64 << 20), { format: 'zipnn', dtype: 'bf16', streamingChunk: 2 ** 28 });
    // Node's pipeTo hands the first chunk to this sink inside the decoder's enqueue: the abort
    // lands in the middle of the decode loop.
    let ds = new ZnnDecompressionStream();
    let w = ds.writable.getWriter();
    let aborted = null;
    const pipe = ds.readable.pipeTo(new WritableStream({ write() { aborted ??= w.abort(new Error('enough')); } }));
    await w.write(packed).catch(() => {});
    await aborted;
    await assert.rejects(w.closed, /enough/);
    await assert.rejects(pipe, /enough/);
    // close() and a cancel in the same tick: close() rejects with the cancel's reason.
    ds = new ZnnDecompressionStream();
    w = ds.writable.getWriter();
    const r = ds.readable.getReader();
    const reading = (async () => {
      while (!(await r.read()).done);
    })().catch(() => {});
    await w.write(packed);
    const reason = new Error('consumer gone');
    const closed = w.close().then(() => 'resolved', (e) => e);
    await r.cancel(reason);
    assert.equal(await closed, reason);
    await reading;
    assert.ok(equalBytes(await streamDecode(modelZnw, 64 * KiB), model));
  });

  test("ZnnCompressionStream({ format: 'zipnn' }) writes ZipNN streaming frames", async () => {
    const data = weights(700_000, 'bf16', 5);
    const zn = await collect(chunkedStream(data, 100_000).pipeThrough(new ZnnCompressionStream({ dtype: 'bf16', format: 'zipnn' })));
    assert.equal(String.fromCharCode(zn[0], zn[1]), 'ZN');
    assert.equal(zn[13], 128 + 20, 'streaming chunk 1 MiB');
    assert.ok(equalBytes(await decompress(zn), data));
    const info = await inspect(zn);
    assert.equal(info.format, 'zipnn');
    assert.equal(info.frames.length, 2);
    assert.equal(info.totalSize, data.length);
    assert.throws(() => new ZnnCompressionStream({ format: 'zipnn' }), InvalidInputError);
  });

  test('a truncated stream rejects with ZNN_TRUNCATED', async () => {
    for (const cut of [3, 8, 20, 41, smallZnw.length >> 1, smallZnw.length - 1]) {
      await rejectsWith(streamDecode(smallZnw.subarray(0, cut), 7), TruncatedError, 'ZNN_TRUNCATED');
      await rejectsWith(streamDecode(smallZnw.subarray(0, cut), 64 * KiB), TruncatedError, 'ZNN_TRUNCATED');
      // (a cut inside the 8-byte magic is "not compressed" for the whole-buffer call)
      if (cut >= 8) await rejectsWith(decompress(smallZnw.subarray(0, cut)), TruncatedError, 'ZNN_TRUNCATED');
    }
    const zn = readFile(zipnnFixture('bf16_3chunks_mixed.znn'));
    await rejectsWith(streamDecode(zn.subarray(0, zn.length - 100), 4096), TruncatedError, 'ZNN_TRUNCATED');
  });

  test('a corrupt byte rejects with ZNN_CORRUPT and the next call still works', async () => {
    const bad = smallZnw.slice();
    bad[Math.floor(bad.length * 0.6)] ^= 0x40;
    await rejectsWith(streamDecode(bad, 64 * KiB), CorruptError, 'ZNN_CORRUPT');
    await rejectsWith(decompress(bad), CorruptError, 'ZNN_CORRUPT');
    assert.ok(equalBytes(await decompress(smallZnw), small));
    assert.ok(equalBytes(await streamDecode(smallZnw, 1000), small));
    const header = smallZnw.slice();
    header[20] ^= 1; // the size field inside the header (checksummed)
    await rejectsWith(streamDecode(header, 7), CorruptError, 'ZNN_CORRUPT');
    assert.ok(equalBytes(await streamDecode(smallZnw, 7), small));
  });

  test('uncompressed input is rejected with ZNN_NOT_COMPRESSED', async () => {
    await rejectsWith(decompress(model.subarray(0, 100_000)), NotCompressedError, 'ZNN_NOT_COMPRESSED');
    await rejectsWith(streamDecode(new TextEncoder().encode('hello, world: not compressed'), 3), NotCompressedError, 'ZNN_NOT_COMPRESSED');
    await rejectsWith(streamDecode(model, 64 * KiB), NotCompressedError, 'ZNN_NOT_COMPRESSED');
    await rejectsWith(streamDecode(new Uint8Array(0), 1), NotCompressedError, 'ZNN_NOT_COMPRESSED');
    // Known at once: the stream errors without waiting for (and buffering) the rest.
    const ds = new ZnnDecompressionStream();
    const w = ds.writable.getWriter();
    const read = ds.readable.getReader().read();
    w.write(model.subarray(0, 64 * KiB)).catch(() => {});
    await rejectsWith(read, NotCompressedError, 'ZNN_NOT_COMPRESSED');
  });

  test("ZnnCompressionStream({ dtype: 'auto' }) picks the grouping on the first chunk", async () => {
    const data = weights(300_000, 'fp32', 8);
    const size = async (dtype) => (await collect(chunkedStream(data, 50_000).pipeThrough(new ZnnCompressionStream({ dtype })))).length;
    const auto = await collect(chunkedStream(data, 50_000).pipeThrough(new ZnnCompressionStream({ dtype: 'auto' })));
    assert.ok(equalBytes(await decompress(auto), data));
    const [fp32, bytes] = [await size('fp32'), await size('bytes')];
    assert.ok(auto.length <= fp32 * 1.01 && auto.length < bytes * 0.95, `auto ${auto.length}, fp32 ${fp32}, bytes ${bytes}`);
    assert.equal(await size(undefined), auto.length, "'auto' is the default");
  });

  test('maxOutput bounds the decoded size', async () => {
    await assert.rejects(decompress(modelZnw, { maxOutput: 1000 }), (e) => e.code === 'ZNN_TOO_LARGE');
    await assert.rejects(streamDecode(modelZnw, 64 * KiB, { maxOutput: 1000 }), (e) => e.code === 'ZNN_TOO_LARGE');
  });

  test('non-byte chunks error the stream', async () => {
    const ds = new ZnnDecompressionStream();
    const w = ds.writable.getWriter();
    const r = ds.readable.getReader();
    w.write('text').catch(() => {});
    await assert.rejects(r.read(), (e) => e.code === 'ZNN_INVALID_INPUT');
  });

  test('works with pipeThrough on a real response body', async () => {
    const out = await new Response(new Response(modelZnw).body.pipeThrough(new ZnnDecompressionStream())).arrayBuffer();
    assert.equal(sha256(new Uint8Array(out)), sha256(model));
  });
});

describe('inspect', () => {
  test('header and segment table of a .znw', async () => {
    const info = await inspect(modelZnw);
    assert.equal(info.format, 'znw');
    assert.equal(info.container, 'safetensors');
    assert.equal(info.totalSize, model.length);
    assert.equal(info.compressedSize, modelZnw.length);
    const tensors = safetensorsTensors(model);
    const segs = info.segments.filter((s) => s.name !== '__header__' && s.name !== '__padding__');
    assert.deepEqual(segs.map((s) => s.name), tensors.map((t) => t.name));
    assert.deepEqual(segs.map((s) => s.label), tensors.map((t) => t.dtype));
    assert.deepEqual(segs.map((s) => s.offset), tensors.map((t) => t.offset));
    assert.deepEqual(segs[0].shape, tensors[0].shape);
    assert.equal(JSON.parse(JSON.stringify(info)).totalSize, info.totalSize, 'plain data');
  });

  test('reads headers, not the whole file, into wasm memory', async () => {
    // A fresh process, whose wasm memory is small: inspect() once copied the whole file in,
    // so a file of a few GB could not be inspected in a browser at all.
    const random = new Uint8Array(64 << 20);
    for (let i = 0; i < random.length; i += 65536) crypto.getRandomValues(random.subarray(i, i + 65536));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'znninspect-'));
    try {
      const files = [
        fixturePath('minilm.fp32.safetensors.znw'), // 74 MB, 433 chunks of byte groups
        path.join(tmp, 'random.znw'), // a raw file stored as bytes: a 4 MiB sample decoded and tried
        fixturePath('minilm.bf16.znn'),
      ];
      fs.writeFileSync(files[1], await compress(random, { dtype: 'bytes' }));
      const script = `
        import { inspect, __internal } from 'zipnn-wasm';
        import fs from 'node:fs';
        const file = fs.readFileSync(process.argv[1]);
        await inspect(new Uint8Array(8)).catch(() => {}); // the module loaded
        const before = __internal.glue.__memory().buffer.byteLength;
        const report = await inspect(file);
        console.log(JSON.stringify({ report, grew: __internal.glue.__memory().buffer.byteLength - before }));
      `;
      for (const file of files) {
        const res = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, file], { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' }));
        const bytes = readFile(file);
        assert.equal(res.report.totalSize, (await decompress(bytes)).length, file);
        assert.equal(res.report.compressedSize, bytes.length);
        assert.ok(res.grew < 20 << 20, `${path.basename(file)} (${bytes.length} bytes): wasm memory grew by ${res.grew} bytes`);
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('inspect through a reader { size, read(offset, length) }: the same report, a few bytes read', async () => {
    const files = [
      fixturePath('minilm.fp32.safetensors.znw'),
      fixturePath('moved.safetensors.znw'), // a delta
      fixturePath('minilm.bf16.znn'),
      zipnnFixture('bf16_stream8k.znn'),
      zipnnFixture('st_minilm_meta.znn.safetensors'),
    ];
    for (const file of files) {
      const bytes = readFile(file);
      let read = 0;
      const reader = {
        size: bytes.length,
        read(offset, length) {
          read += length;
          return bytes.slice(offset, offset + length);
        },
      };
      assert.deepEqual(await inspect(reader), await inspect(bytes), file);
      assert.ok(read < Math.max(1 << 20, bytes.length / 100), `${path.basename(file)}: read ${read} of ${bytes.length} bytes`);
    }
    // Any view is taken from read, as inspect takes bytes; a failed read is the caller's error.
    const bytes = readFile(files[0]);
    const reader = (read, size = bytes.length) => ({ size, read });
    const dv = (o, n) => new DataView(bytes.buffer, bytes.byteOffset + o, n);
    assert.equal((await inspect(reader(dv))).compressedSize, bytes.length);
    const mine = new Error('disk on fire');
    await assert.rejects(inspect(reader(() => { throw mine; })), (e) => e === mine);
    await rejectsWith(inspect(reader((o, n) => bytes.subarray(o, o + n - 1))), TruncatedError, 'ZNN_TRUNCATED');
    await rejectsWith(inspect(reader((o, n) => bytes.subarray(o, o + n), bytes.length - 10)), TruncatedError, 'ZNN_TRUNCATED');
    await rejectsWith(inspect(reader(async (o, n) => bytes.subarray(o, o + n))), InvalidInputError, 'ZNN_INVALID_INPUT');
    await rejectsWith(inspect(reader(() => 'bytes')), InvalidInputError, 'ZNN_INVALID_INPUT');
    await rejectsWith(inspect(reader((o, n) => new Uint8Array(n + 1))), InvalidInputError, 'ZNN_INVALID_INPUT');
    for (const size of [-1, 1.5, NaN, 2 ** 53, '100', undefined]) {
      await rejectsWith(inspect({ size, read: () => new Uint8Array(0) }), InvalidInputError, 'ZNN_INVALID_INPUT');
    }
    // And the module works on.
    assert.deepEqual(await inspect(reader((o, n) => bytes.subarray(o, o + n))), await inspect(bytes));
    // A view given a `length` of its own is taken for the bytes it holds.
    const lying = (o, n) => Object.defineProperty(bytes.slice(o, o + n), 'length', { value: Math.max(0, n - 1) });
    assert.deepEqual(await inspect(reader(lying)), await inspect(bytes));
    // The coders' blocks of a .znw file (none for ZipNN's).
    assert.ok((await inspect(bytes)).modes.some((m) => m.name === 'huff0' && m.blocks > 0 && m.bytes > m.blocks));
    assert.deepEqual((await inspect(readFile(files[2]))).modes, []);
  });

  test('a PyTorch checkpoint compressed in the package: its tensors under their names', async () => {
    const pth = readFile(modelPath('english_g2.pth'));
    const file = await openFile(await compress(pth));
    assert.equal(file.container, 'pytorch-zip');
    // The storage member this tensor's pickle entry points at, found in the zip's local header.
    const member = new TextEncoder().encode('archive/data/94580024050928');
    const at = Buffer.from(pth).indexOf(member);
    const start = at + member.length + new DataView(pth.buffer, at - 30 + 28, 2).getUint16(0, true);
    const seg = file.segments.find((s) => s.name === 'module.FeatureExtraction.ConvNet.18.weight');
    assert.deepEqual([seg.dtype, seg.shape, seg.offset, seg.length], ['float32', [256, 256, 2, 2], start, 1048576]);
    assert.ok(equalBytes(file.read(seg.offset, seg.length), pth.subarray(start, start + seg.length)));
    // The two LSTMs' flattened weights, viewed by eight tensors each, keep their member names.
    assert.deepEqual(file.segments.filter((s) => s.name.includes('/data/')).map((s) => [s.dtype, s.shape]), [
      ['float32', []],
      ['float32', []],
    ]);
    file.close();
  });

  test('a GGUF of K-quants compressed in the package: the native bytes, its tensors by their block types', async () => {
    const gguf = readFile(modelPath('gemma-270m.kquants.gguf'));
    const packed = await compress(gguf);
    assert.ok(equalBytes(packed, readFile(fixturePath('gemma-270m.kquants.gguf.znw'))), 'not the native CLI\'s bytes');
    assert.ok(packed.length < gguf.length * 0.961, `ratio ${packed.length / gguf.length}`);
    assert.ok(equalBytes(await decompress(packed, { threads: 2 }), gguf));
    const file = await openFile(packed);
    assert.equal(file.container, 'gguf');
    // openFile names each tensor's type as its container does; inspect, the type it was coded as.
    const quants = file.segments.filter((s) => s.dtype === 'Q4_K' || s.dtype === 'Q6_K');
    assert.equal(quants.length, 36);
    const coded = (await inspect(packed)).segments.filter((s) => s.label === 'Q4_K' || s.label === 'Q6_K');
    assert.deepEqual(coded.map((s) => s.dtype), quants.map((s) => s.dtype.toLowerCase()));
    const seg = file.segments.find((s) => s.name === 'blk.3.ffn_down.weight');
    assert.ok(equalBytes(file.read(seg.offset, seg.length), gguf.subarray(seg.offset, seg.offset + seg.length)));
    file.close();
  });

  test('openFile reads a tensor at a time: from bytes and through a reader, only the chunks it needs', async () => {
    const tensors = safetensorsTensors(model);
    // From the bytes: every tensor, in a loader's order of its own, and the header as a parser reads it.
    const file = await openFile(modelZnw);
    assert.ok(file instanceof CompressedFile);
    assert.equal(file.size, model.length);
    assert.equal(file.container, 'safetensors');
    for (const t of tensors) {
      const seg = file.segments.find((s) => s.name === t.name);
      assert.deepEqual([seg.offset, seg.length, seg.dtype, seg.shape], [t.offset, t.bytes.length, t.dtype, t.shape], t.name);
    }
    for (const t of [...tensors].reverse()) assert.ok(equalBytes(file.read(t.offset, t.bytes.length), t.bytes), t.name);
    const n = Number(new DataView(file.read(0, 8).buffer).getBigUint64(0, true));
    assert.deepEqual(file.read(8, n), model.subarray(8, 8 + n));
    // Into any view, shared memory too; an empty read at the end.
    const t = tensors[7];
    const shared = new Uint8Array(new SharedArrayBuffer(t.bytes.length + 3));
    file.readInto(t.offset, shared.subarray(3));
    assert.ok(equalBytes(shared.subarray(3), t.bytes));
    assert.equal(file.read(file.size, 0).length, 0);
    file.close();

    // Through a reader over a file: the heads, then the bodies of the chunks read.
    const fd = fs.openSync(fixturePath('minilm.bf16.safetensors.znw'));
    try {
      let read = 0;
      const reader = {
        size: fs.fstatSync(fd).size,
        read(offset, length) {
          read += length;
          const b = Buffer.alloc(length);
          fs.readSync(fd, b, 0, length, offset);
          return b;
        },
      };
      const f = await openFile(reader);
      const heads = read;
      assert.ok(heads < 20_000, `open read ${heads} bytes`);
      const big = tensors.reduce((a, b) => (b.bytes.length > a.bytes.length ? b : a));
      assert.ok(equalBytes(f.read(big.offset, big.bytes.length), big.bytes));
      // The tensor's compressed bytes and at most two chunks more (256 KiB chunks, ratio ~0.66).
      assert.ok(read - heads < big.bytes.length * 0.7 + 2 * 256 * KiB, `read ${read - heads} bytes for ${big.bytes.length}`);
      // The last chunk decoded is kept: a small read inside it reads nothing.
      const before = read;
      f.read(big.offset + big.bytes.length - 10, 10);
      assert.equal(read, before);
    } finally {
      fs.closeSync(fd);
    }

    // Offsets past 2 GiB (a 2.2 GB file of zeros in 4 MiB chunks).
    const zeros = await openFile(readFile(fixturePath('zeros-2.2G.znw')));
    assert.equal(zeros.size, 2_200_000_000);
    assert.deepEqual(zeros.read(2 ** 31 + 5, 100), new Uint8Array(100));
    assert.deepEqual(zeros.read(zeros.size - 7, 7), new Uint8Array(7));
  });

  test('openFile on ZipNN files: frames read at any offset, a .znn.safetensors file a tensor at a time', async () => {
    // Our ZipNN writer's minilm (one frame), and zipnn's own streaming file: random ranges.
    for (const [file, want] of [
      [fixturePath('minilm.bf16.znn'), model],
      [zipnnFixture('bf16_stream8k.znn'), readFile(zipnnFixture('bf16_stream8k.bin'))],
    ]) {
      const f = await openFile(readFile(file));
      assert.equal(f.size, want.length);
      assert.equal(f.container, 'raw');
      assert.ok(f.segments.length >= 1 && f.segments[0].name === 'frame 0');
      for (let i = 0, x = 7; i < 40; i++) {
        x = (x * 48271) % 2147483647;
        const a = x % want.length;
        const n = Math.min(want.length - a, (x >> 3) % 600_000);
        assert.ok(equalBytes(f.read(a, n), want.subarray(a, a + n)), `${path.basename(file)}: ${n} at ${a}`);
      }
      f.close();
    }
    // zipnn's compress_safetensors of minilm: the restored header, then each tensor by name.
    const st = readFile(zipnnFixture('st_minilm_meta.znn.safetensors'));
    const restored = await decompress(st);
    const f = await openFile({ size: st.length, read: (o, n) => st.slice(o, o + n) });
    assert.equal(f.container, 'safetensors');
    assert.equal(f.size, restored.length);
    const tensors = safetensorsTensors(restored);
    assert.equal(f.segments.length, tensors.length + 1);
    for (const t of tensors.reverse()) {
      const seg = f.segments.find((s) => s.name === t.name);
      assert.deepEqual([seg.offset, seg.length, seg.dtype, seg.shape], [t.offset, t.bytes.length, t.dtype, t.shape], t.name);
      assert.ok(equalBytes(f.read(seg.offset, seg.length), t.bytes), t.name);
    }
    assert.ok(equalBytes(f.read(0, 100), restored.subarray(0, 100)));
  });

  test('openFile: typed errors, a damaged chunk fails only the reads that need it', async () => {
    const tensors = safetensorsTensors(model);
    // A bit flipped in the middle of the file: a tensor there fails, the others read.
    const damaged = modelZnw.slice();
    damaged[damaged.length >> 1] ^= 0x10;
    const file = await openFile(damaged);
    let failed = 0;
    for (const t of tensors) {
      try {
        assert.ok(equalBytes(file.read(t.offset, t.bytes.length), t.bytes), t.name);
      } catch (e) {
        assert.ok(e instanceof CorruptError, `${t.name}: ${e}`);
        failed++;
      }
    }
    assert.ok(failed >= 1 && failed <= 2, `${failed} tensors failed`);
    assert.throws(() => file.read(file.size - 1, 2), InvalidInputError);
    assert.throws(() => file.read(-1, 2), InvalidInputError);
    assert.throws(() => file.read(0.5, 2), InvalidInputError);
    assert.throws(() => file.readInto(0, damaged.subarray(0, 10)), InvalidInputError); // overlaps the input
    assert.throws(() => file.readInto(0, 'bytes'), InvalidInputError);
    file.close();
    assert.throws(() => file.read(0, 1), InvalidInputError);
    assert.throws(() => new CompressedFile(), InvalidInputError);

    await rejectsWith(openFile(model), NotCompressedError, 'ZNN_NOT_COMPRESSED');
    await rejectsWith(openFile(modelZnw.subarray(0, modelZnw.length - 1)), TruncatedError, 'ZNN_TRUNCATED');
    await rejectsWith(openFile(readFile(fixturePath('moved.safetensors.znw'))), UnsupportedError, 'ZNN_UNSUPPORTED'); // a delta
    await rejectsWith(openFile(readFile(zipnnFixture('bf16_delta_stream.znn'))), UnsupportedError, 'ZNN_UNSUPPORTED');
    await rejectsWith(openFile(modelZnw, { maxOutput: model.length - 1 }), TooLargeError, 'ZNN_TOO_LARGE');
    // What a reader throws, as it is; a Promise or a short read, typed.
    const mine = new Error('disk on fire');
    await assert.rejects(openFile({ size: modelZnw.length, read: () => { throw mine; } }), (e) => e === mine);
    let fail = false;
    const flaky = await openFile({ size: modelZnw.length, read: (o, n) => { if (fail) throw mine; return modelZnw.subarray(o, o + n); } });
    fail = true;
    assert.throws(() => flaky.read(tensors[3].offset, 10), (e) => e === mine);
    fail = false;
    assert.ok(equalBytes(flaky.read(tensors[3].offset, 10), tensors[3].bytes.subarray(0, 10)));
    await rejectsWith(openFile({ size: modelZnw.length, read: async (o, n) => modelZnw.subarray(o, o + n) }), InvalidInputError, 'ZNN_INVALID_INPUT');
    await rejectsWith(openFile({ size: modelZnw.length, read: (o, n) => modelZnw.subarray(o, o + n - 1) }), TruncatedError, 'ZNN_TRUNCATED');
    // And the module works on.
    assert.ok(equalBytes(await decompress(modelZnw), model));
  });

  test('openFile: a reader that detaches or shrinks the target, closes the file or failed while the format was told', async () => {
    // Tensors larger than a chunk: each read needs chunks no other read decoded.
    const [t, u, v] = safetensorsTensors(model).filter((x) => x.bytes.length > 300_000);
    let act = null;
    const file = await openFile({ size: modelZnw.length, read: (o, n) => { const a = act; act = null; a?.(); return modelZnw.subarray(o, o + n); } });
    // The target detached, or shrunk, by the reader mid-read: an error, and the file reads on.
    const target = new Uint8Array(t.bytes.length);
    act = () => structuredClone(target.buffer, { transfer: [target.buffer] });
    assert.throws(() => file.readInto(t.offset, target), InvalidInputError);
    const rab = new ArrayBuffer(u.bytes.length, { maxByteLength: u.bytes.length });
    act = () => rab.resize(10);
    assert.throws(() => file.readInto(u.offset, new Uint8Array(rab)), InvalidInputError);
    assert.ok(equalBytes(file.read(t.offset, t.bytes.length), t.bytes));
    // The reader reads the same file: that inner read is refused with a typed error.
    let inner;
    act = () => {
      try {
        file.read(0, 1);
      } catch (e) {
        inner = e;
        throw e;
      }
    };
    assert.throws(() => file.read(u.offset, u.bytes.length), InvalidInputError);
    assert.ok(inner instanceof InvalidInputError && /own reader/.test(inner.message), String(inner));
    assert.ok(equalBytes(file.read(u.offset, u.bytes.length), u.bytes));
    // Closed from inside a read: that read ends, later calls throw.
    act = () => file.close();
    assert.ok(equalBytes(file.read(v.offset, 100), v.bytes.subarray(0, 100)));
    assert.throws(() => file.read(0, 1), /was closed/);
    assert.throws(() => file.read(0, 2 ** 50), /was closed/);
    assert.throws(() => { file.segments.length = 0; }, TypeError);
    assert.throws(() => { file.size = 1; }, TypeError);

    // A reader that threw once while the format was told (reading a .znn.safetensors file's
    // JSON header, which was then told by its bytes): that error is not what a later,
    // unrelated failure throws.
    const frames = [await compress(weights(5000, 'bf16', 1), { dtype: 'bf16', format: 'zipnn' }), await compress(weights(5000, 'bf16', 2), { dtype: 'bf16', format: 'zipnn' })];
    const listed = { t0: { dtype: 'bfloat16', shape: '[5000]' }, t1: { dtype: 'bfloat16', shape: '[5000]' } };
    const st = makeSafetensors(frames.map((bytes, i) => ({ name: `t${i}`, dtype: 'U8', shape: [bytes.length], bytes })), { znn_compressed_vectors: JSON.stringify(listed) });
    const mine = new Error('once');
    let threw = false;
    let short = false;
    const flaky = await openFile({
      size: st.length,
      read: (o, n) => {
        if (!threw && o === 0 && n === 8) {
          threw = true;
          throw mine;
        }
        return st.subarray(o, o + n - (short ? 1 : 0));
      },
    });
    assert.ok(threw);
    assert.deepEqual(flaky.segments.map((x) => x.name), ['__header__', 't0', 't1']);
    short = true;
    assert.throws(() => flaky.read(flaky.size - 10, 10), TruncatedError);
  });

  test('a ZipNN frame of 1-byte chunks (tables nearly 1.5 GB) read at offsets: an error, not a trap', () => {
    // Tables copied once more than they must be took wasm memory past 4 GiB: a trap.
    const script = `
      const z = await import('zipnn-wasm');
      const chunks = 80_000_000;
      const head = new Uint8Array(32);
      head.set([0x5a, 0x4e, 0, 5, 4, 10, 1, 1, 1, 0, 0, 0, 0, 0, 0, 6]); // bf16, chunk_log2 0
      const size = 32 + 9 * 2 * chunks;
      const dv = new DataView(head.buffer);
      dv.setBigUint64(16, BigInt(chunks), true);
      dv.setBigUint64(24, BigInt(size), true);
      const file = await z.openFile({ size, read: (o, n) => { const b = new Uint8Array(n); if (o < 32) b.set(head.subarray(o, o + n)); return b; } });
      let code = 'none';
      try { file.read(0, 1); } catch (e) { code = e.code ?? e.name; }
      file.close();
      const after = await z.decompress(await z.compress(new Uint8Array(1000).fill(7)));
      console.log(file.size, code, after.length);
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' });
    const [size, code, after] = out.trim().split(' ');
    assert.equal(size, '80000000');
    assert.ok(['ZNN_CORRUPT', 'ZNN_TOO_LARGE'].includes(code), code);
    assert.equal(after, '1000');
  });

  test('float64 tensors are coded as fp64, smaller than as bytes', async () => {
    const w = weights(50_000, 'fp64', 7);
    const file = makeSafetensors([{ name: 'coef', dtype: 'F64', shape: [500, 100], bytes: w }]);
    const packed = await compress(file);
    assert.ok(equalBytes(await decompress(packed), file));
    const seg = (await inspect(packed)).segments.find((s) => s.name === 'coef');
    assert.deepEqual([seg.dtype, seg.label, seg.shape], ['fp64', 'F64', [500, 100]]);
    const asBytes = (await compress(w, { dtype: 'bytes' })).length;
    assert.ok(seg.compressed < asBytes * 0.96, `fp64 ${seg.compressed}, as bytes ${asBytes}`);
  });

  test('a .znn.safetensors file: each tensor as restored, with its frame type', async () => {
    const znn = readFile(zipnnFixture('st_minilm_meta.znn.safetensors'));
    const info = await inspect(znn);
    assert.equal(info.format, 'znn-safetensors');
    assert.equal(info.container, 'safetensors');
    assert.equal(info.compressedSize, znn.length);
    const out = await decompress(znn);
    assert.equal(info.totalSize, out.length);
    const restored = safetensorsTensors(out);
    const segs = info.segments.filter((s) => s.name !== '__header__');
    assert.deepEqual(segs.map((s) => [s.name, s.label, s.shape, s.offset, s.length]), restored.map((t) => [t.name, t.dtype, t.shape, t.offset, t.bytes.length]));
    const q = segs.find((s) => s.name === 'encoder.layer.0.attention.self.query.weight');
    assert.deepEqual([q.dtype, q.compressed], ['bf16', 24519]);
    assert.equal(segs.find((s) => s.name === 'embeddings.position_ids').dtype, 'bytes');
    assert.equal(info.chunks, 5, 'tensors held as ZipNN frames');
  });

  test('a damaged ZipNN frame header: inspect throws what decompress throws', async () => {
    const code = (p) => p.then(() => 'OK', (e) => e.code ?? String(e));
    for (const name of ['bf16_stream8k.znn', 'fp32_stream4k_chunk1k.znn', 'bf16_normal_8k.znn']) {
      const znn = readFile(zipnnFixture(name));
      const starts = (await inspect(znn)).frames.map((f) => f.offset);
      let thrown = 0;
      for (const s of [starts[0], starts[1] ?? 0, starts.at(-1)]) {
        for (let at = s; at < s + 33; at++) {
          for (const x of [0x04, 0x80, 0xff]) {
            const bad = znn.slice();
            bad[at] ^= x;
            const i = await code(inspect(bad));
            if (i === 'OK') {
              // Then the header passed every check the decoders make of it.
              const e = await decompress(bad).then(() => null, (x) => x.message);
              assert.ok(!/ZipNN frame: (unknown|bad|chunk size)|byte_reorder/.test(e), `${name}: byte ${at} ^ ${x}: inspect passed, decompress: ${e}`);
              continue;
            }
            thrown++;
            assert.equal(await code(decompress(bad)), i, `${name}: byte ${at} ^ ${x}`);
          }
        }
      }
      assert.ok(thrown > 50, `${name}: inspect threw on ${thrown} flips`);
      const unknown = [...znn.subarray(0, 32)];
      unknown[15] = 99; // a dtype code zipnn does not have
      const tails = [[[0x78], 'ZNN_CORRUPT'], [new Array(100).fill(0), 'ZNN_CORRUPT'], [[0x5a], 'ZNN_TRUNCATED'], [unknown, 'ZNN_UNSUPPORTED'], [unknown.slice(0, 20), 'ZNN_TRUNCATED']];
      for (const [tail, want] of tails) {
        const p = new Uint8Array([...znn, ...tail]);
        const w = name === 'bf16_normal_8k.znn' ? 'ZNN_CORRUPT' : want; // one frame, not streaming
        assert.deepEqual([await code(inspect(p)), await code(decompress(p))], [w, w], `${name} + ${tail.length}`);
      }
    }
  });

  test("zipnn's extremes: 2-byte (one element), 8-byte and 4 GiB chunks, 4-byte streaming frames", async () => {
    for (const [znn, bin, frames] of [
      ['limits/bf16_64.chunk2.znn', 'limits/bf16_64.bin', 1],
      ['limits/bf16_4k.chunk8.znn', 'limits/bf16_4k.bin', 1],
      ['limits/fp32_4k.chunk4g.znn', 'limits/bf16_4k.bin', 1],
      ['limits/bf16_64.stream4.znn', 'limits/bf16_64.bin', 16],
    ]) {
      const packed = readFile(zipnnFixture(znn));
      const want = readFile(zipnnFixture(bin));
      assert.ok(equalBytes(await decompress(packed), want), znn);
      assert.ok(equalBytes(await streamDecode(packed, 7), want), `${znn} streamed`);
      const info = await inspect(packed);
      assert.equal(info.frames.length, frames, znn);
      assert.equal(info.totalSize, want.length, znn);
    }
  });

  test('ZipNN frames give a summary; bad input throws', async () => {
    const packed = readFile(zipnnFixture('bf16_stream8k.znn'));
    const info = await inspect(packed);
    assert.deepEqual([info.format, info.dtype, info.version, info.streamingChunk], ['zipnn', 'bf16', '0.5.4', 8192]);
    assert.equal(info.totalSize, readFile(zipnnFixture('bf16_stream8k.bin')).length);
    // One segment per frame, in the output; `frames` in the file, back to back.
    assert.equal(info.segments.length, info.frames.length);
    let [inFile, inOutput] = [0, 0];
    info.frames.forEach((f, i) => {
      const s = info.segments[i];
      assert.deepEqual([f.offset, s.offset, s.length, s.compressed, s.dtype, s.label], [inFile, inOutput, f.decodedLength, f.length, 'bf16', 'bfloat16'], `frame ${i}`);
      inFile += f.length;
      inOutput += s.length;
    });
    assert.deepEqual([inFile, inOutput], [packed.length, info.totalSize]);
    assert.equal((await inspect(readFile(zipnnFixture('bf16_normal_8k.znn')))).streamingChunk, null);
    await rejectsWith(inspect(model.subarray(1000, 2000)), NotCompressedError, 'ZNN_NOT_COMPRESSED');
    // Cut inside its JSON header, a safetensors file may have been a .znn.safetensors one.
    await rejectsWith(inspect(model.subarray(0, 1000)), TruncatedError, 'ZNN_TRUNCATED');
    // A frame after the first that is not flagged streaming: corrupt here as in the decoders.
    const zn = readFile(zipnnFixture('bf16_stream8k.znn'));
    const second = Number(new DataView(zn.buffer, zn.byteOffset).getBigUint64(24, true));
    zn[second + 13] = 0;
    await rejectsWith(inspect(zn), CorruptError, 'ZNN_CORRUPT');
    await rejectsWith(decompress(zn), CorruptError, 'ZNN_CORRUPT');
    await rejectsWith(streamDecode(zn, 1000), CorruptError, 'ZNN_CORRUPT');
    // An unflagged first frame is the whole file; a streaming byte outside 136..168 is corrupt.
    const two = readFile(zipnnFixture('bf16_stream8k.znn'));
    two[13] = 0;
    for (const f of [inspect, decompress]) await rejectsWith(f(two), CorruptError, 'ZNN_CORRUPT');
    const odd = readFile(zipnnFixture('bf16_stream8k.znn'));
    odd[13] = 100;
    for (const f of [inspect, decompress]) await rejectsWith(f(odd), CorruptError, 'ZNN_CORRUPT');
  });
});

describe('decodedSize', () => {
  test('the decoded size from the first 24 bytes, or undefined', async () => {
    assert.equal(DECODED_SIZE_PREFIX, 24);
    // Header flag bit 2: the segment table is packed (FORMAT.md §2.2); the size is read as before.
    assert.equal(modelZnw[9], 1 | 4);
    assert.equal(decodedSize(modelZnw), model.length);
    assert.equal(decodedSize(modelZnw.subarray(0, 24)), model.length);
    assert.equal(decodedSize(modelZnw.slice(0, 24).buffer), model.length, 'an ArrayBuffer');
    assert.equal(decodedSize(modelZnw.subarray(0, 23)), undefined, 'too short');
    assert.equal(decodedSize(model), undefined, 'not compressed');
    assert.equal(decodedSize(readFile(zipnnFixture('bf16_stream8k.znn'))), undefined, 'ZipNN frames');
    const other = modelZnw.slice(0, 24);
    other[8] = 2;
    assert.equal(decodedSize(other), undefined, 'a format version it does not know');
    // A size a JS number cannot hold exactly: no size rather than a rounded one.
    const huge = modelZnw.slice(0, 24);
    const view = new DataView(huge.buffer);
    view.setBigUint64(16, 2n ** 53n, true);
    assert.equal(decodedSize(huge), undefined, 'over MAX_SAFE_INTEGER');
    view.setBigUint64(16, 2n ** 53n - 1n, true);
    assert.equal(decodedSize(huge), Number.MAX_SAFE_INTEGER);
    // Written as a stream: the header has no size.
    const data = weights(10_000, 'bf16');
    const streamed = await collect(chunkedStream(data, 4096).pipeThrough(new ZnnCompressionStream({ dtype: 'bf16' })));
    assert.equal(decodedSize(streamed), undefined);
    const small = await compress(data, { dtype: 'bf16' });
    assert.equal(decodedSize(small), (await inspect(small)).totalSize);
    assert.throws(() => decodedSize('not bytes'), InvalidInputError);
  });
});

// 2.2 GB of zeros (made by scripts/test-js.sh with the native CLI): no default limit stops the
// paths that do not hold the whole output in wasm memory.
describe('beyond 2 GiB', () => {
  const big = readFile(fixturePath('zeros-2.2G.znw'));
  const total = 2_200_000_000;
  const zeros = Buffer.alloc(64 << 20);
  const allZero = (u8) => {
    for (let at = 0; at < u8.length; at += zeros.length) {
      const part = u8.subarray(at, at + zeros.length);
      if (Buffer.compare(Buffer.from(part.buffer, part.byteOffset, part.length), zeros.subarray(0, part.length)) !== 0) return false;
    }
    return true;
  };

  test('ZnnDecompressionStream and inspect', async () => {
    let n = 0;
    let zero = true;
    for await (const c of chunkedStream(big, 64 * KiB).pipeThrough(new ZnnDecompressionStream())) {
      n += c.length;
      zero &&= allZero(c);
    }
    assert.equal(n, total);
    assert.ok(zero);
    assert.equal((await inspect(big)).totalSize, total);
    await rejectsWith(streamDecode(big, 64 * KiB, { maxOutput: total - 1 }), TooLargeError, 'ZNN_TOO_LARGE');
    // A Decompressor's output is at most 2^31 - 1 bytes: refused from the header, before
    // wasm memory (which never shrinks) grows to 2 GiB decoding it.
    const core = await import(new URL('./node_modules/zipnn-wasm/core.js', import.meta.url));
    const before = core.__internal.glue.__memory().buffer.byteLength;
    const d = await Decompressor.create();
    assert.throws(() => d.decompress(big), (e) => e instanceof TooLargeError && new RegExp(`${total}.*2147483647`).test(e.message));
    d.release();
    const grew = core.__internal.glue.__memory().buffer.byteLength - before;
    assert.ok(grew < 64 << 20, `wasm memory grew by ${grew} bytes`);
  });

  test('a buffer of 4 GiB or more is refused, not read as its length mod 2^32', async () => {
    // The bindings pass lengths as 32 bits: a .znw at the start of a 4 GiB buffer was read as
    // an empty input ("not compressed"). Untouched pages: no memory is used.
    const huge = new Uint8Array(2 ** 32);
    huge.set(modelZnw.subarray(0, 1024));
    const tooLarge = (e) => e instanceof TooLargeError && /4294967296 bytes.*4 GiB - 1/.test(e.message);
    await rejectsWith(inspect(huge), TooLargeError, 'ZNN_TOO_LARGE');
    for (const call of [() => inspect(huge), () => decompress(huge), () => decompressInto(modelZnw, huge)]) {
      await assert.rejects(call(), tooLarge);
    }
    const d = await Decompressor.create();
    assert.throws(() => d.decompress(huge), tooLarge);
  });

  test('ZnnCompressionStream({ size }) compresses a 2.2 GB safetensors file, which compress() refuses', async () => {
    // One BF16 tensor of real weights (minilm's, repeated), made as it is read.
    const n = 2_200_000_000;
    let json = Buffer.from(JSON.stringify({ w: { dtype: 'BF16', shape: [n / 2], data_offsets: [0, n] } }));
    json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
    const head = new Uint8Array(8 + json.length);
    new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
    head.set(json, 8);
    const total = head.length + n;
    const block = model.subarray(model.length - (8 << 20));
    const expected = (pos, len) => {
      const out = new Uint8Array(len);
      for (let i = 0; i < len; ) {
        const p = pos + i;
        const src = p < head.length ? head.subarray(p) : block.subarray((p - head.length) % block.length);
        const k = Math.min(src.length, len - i);
        out.set(src.subarray(0, k), i);
        i += k;
      }
      return out;
    };
    let sent = 0;
    const source = new ReadableStream({
      pull(c) {
        if (sent === total) return c.close();
        const len = Math.min(4 << 20, total - sent);
        c.enqueue(expected(sent, len));
        sent += len;
      },
    });
    let packed = 0;
    let first = null;
    const counted = new TransformStream({
      transform(chunk, c) {
        first ??= chunk.slice(0, DECODED_SIZE_PREFIX);
        packed += chunk.length;
        c.enqueue(chunk);
      },
    });
    let at = 0;
    let same = true;
    const decoded = source.pipeThrough(new ZnnCompressionStream({ size: total })).pipeThrough(counted).pipeThrough(new ZnnDecompressionStream());
    for await (const c of decoded) {
      same &&= Buffer.compare(Buffer.from(c.buffer, c.byteOffset, c.length), expected(at, c.length)) === 0;
      at += c.length;
    }
    assert.equal(at, total);
    assert.ok(same, 'decoded bytes differ');
    assert.equal(decodedSize(first), total);
    assert.ok(packed < total * 0.7, `${packed} bytes`);
  });

  test('a single ZipNN frame of 1.5 GB streams through a few MiB of wasm memory', async () => {
    const core = await import(new URL('./node_modules/zipnn-wasm/core.js', import.meta.url));
    const one = readFile(fixturePath('zeros-1.5G.znn'));
    const before = core.__internal.glue.__memory().buffer.byteLength;
    // A .znw stream decoding at the same time is not disturbed.
    const other = collect(chunkedStream(modelZnw, 64 * KiB).pipeThrough(new ZnnDecompressionStream()));
    // The whole file in one write: its frame decodes from that one chunk, and decoding waits
    // for the reader, so the write resolves only once nearly everything has been read.
    const ds = new ZnnDecompressionStream();
    const w = ds.writable.getWriter();
    let readWhenWritten = -1;
    let n = 0;
    const written = w.write(one).then(() => (readWhenWritten = n));
    const ended = written.then(() => w.close());
    let zero = true;
    for await (const c of ds.readable) {
      n += c.length;
      zero &&= allZero(c);
      await new Promise((r) => setImmediate(r)); // a reader slower than the decoder
    }
    await ended;
    assert.equal(n, 1_500_000_000);
    assert.ok(zero);
    assert.ok(readWhenWritten >= n - (16 << 20), `the write resolved when ${readWhenWritten} bytes had been read`);
    assert.ok(equalBytes(await other, model));
    const grew = core.__internal.glue.__memory().buffer.byteLength - before;
    assert.ok(grew < 64 << 20, `wasm memory grew by ${grew} bytes`);
  });

  test('a stream waiting for its reader inside one frame can be cancelled or aborted', async () => {
    const one = readFile(fixturePath('zeros-1.5G.znn'));
    // The reader cancels after one chunk: the paused write settles, the writable errors.
    let ds = new ZnnDecompressionStream();
    let w = ds.writable.getWriter();
    let written = w.write(one);
    const r = ds.readable.getReader();
    assert.ok((await r.read()).value.length > 0);
    await r.cancel(new Error('enough'));
    await written.catch(() => {});
    await assert.rejects(w.closed, /enough/);
    // The writer aborts while its write waits: the abort completes, the reader sees the reason.
    ds = new ZnnDecompressionStream();
    w = ds.writable.getWriter();
    written = w.write(one);
    written.catch(() => {});
    await new Promise((r) => setImmediate(r));
    await w.abort(new Error('gone'));
    await assert.rejects(collect(ds.readable), /gone/);
    // Both decoders were freed: a new stream decodes.
    assert.ok(equalBytes(await streamDecode(modelZnw, 64 * KiB), model));
  });

  test('a single ZipNN frame of 1.1 GB compressed (random bytes) streams; the decoded bytes are right', async () => {
    const { createHash } = await import('node:crypto');
    const { Readable } = await import('node:stream');
    const file = fixturePath('random-1.1G.znn');
    const body = Readable.toWeb(fs.createReadStream(file, { highWaterMark: 1 << 20 }));
    // Growing the held frame by doubling once passed what wasm32 can allocate, and trapped.
    const other = collect(chunkedStream(modelZnw, 64 * KiB).pipeThrough(new ZnnDecompressionStream()));
    const h = createHash('sha256');
    let n = 0;
    for await (const c of body.pipeThrough(new ZnnDecompressionStream())) {
      h.update(c);
      n += c.length;
    }
    assert.equal(n, 1_100_000_000);
    assert.equal(h.digest('hex'), fs.readFileSync(fixturePath('random-1.1G.sha256'), 'utf8').trim());
    assert.ok(equalBytes(await other, model));
    // inspect reads a ZipNN file's frame headers, not the whole file into wasm memory.
    const core = await import(new URL('./node_modules/zipnn-wasm/core.js', import.meta.url));
    const before = core.__internal.glue.__memory().buffer.byteLength;
    const info = await inspect(fs.readFileSync(file));
    assert.deepEqual([info.totalSize, info.frames.length, info.segments[0].length], [1_100_000_000, 1, 1_100_000_000]);
    const grew = core.__internal.glue.__memory().buffer.byteLength - before;
    assert.ok(grew < 64 << 20, `wasm memory grew by ${grew} bytes`);
  });

  test('decompress on the worker pool, into shared memory', async () => {
    const out = await decompress(big, { threads: 2 });
    assert.equal(out.length, total);
    assert.ok(out.buffer instanceof SharedArrayBuffer);
    assert.ok(allZero(out));
  });
});

describe('errors', () => {
  test('a wasm module that does not load is ZNN_INIT', () => {
    const script = `
      const z = await import('zipnn-wasm');
      const codes = [];
      for (const f of [() => z.init(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 9])), () => z.initSync(new Uint8Array([1, 2, 3]))]) {
        try { await f(); codes.push('none'); } catch (e) { codes.push(e instanceof z.ZnnError ? e.code : e.name); }
      }
      console.log(codes.join(' '));
      // A module that cannot be fetched: both sides of a stream fail with it (the reader too).
      const host = await import(new URL('./node_modules/zipnn-wasm/lib/host.js', 'file://' + process.cwd() + '/'));
      host.__setWasmSource(async () => { throw new Error('404'); });
      const body = new Response(new Uint8Array(100)).body;
      const timeout = new Promise((r) => setTimeout(() => r('hang'), 10000));
      const read = new Response(body.pipeThrough(new z.ZnnDecompressionStream())).arrayBuffer();
      console.log(await Promise.race([read.then(() => 'none', (e) => (e instanceof z.ZnnError ? e.code : e.name)), timeout]));
      process.exit(0);
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' });
    assert.equal(out.trim(), 'ZNN_INIT ZNN_INIT\nZNN_INIT');
  });

  test('init in node reads a file: URL or a path from disk', () => {
    const wasm = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node_modules/zipnn-wasm/dist/zipnn_wasm_bg.wasm');
    const script = `
      const z = await import('zipnn-wasm');
      const [how, file] = process.argv.slice(1);
      const src = { url: new URL('file://' + file), href: 'file://' + file, path: file, missing: file + '.nope' }[how];
      try {
        await z.init(src);
        console.log((await z.decompress(await z.compress(new Uint8Array(9)))).length);
      } catch (e) {
        console.log(e instanceof z.ZnnError ? e.code : e.name);
      }
    `;
    const run = (how) => execFileSync(process.execPath, ['--input-type=module', '-e', script, how, wasm], { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' }).trim();
    for (const how of ['url', 'href', 'path']) assert.equal(run(how), '9', how);
    assert.equal(run('missing'), 'ZNN_INIT');
  });

  test('a trap inside wasm becomes InternalError and the module is replaced', async () => {
    // Reach the internal test hook through the package's own core module (same instance).
    const core = await import(new URL('./node_modules/zipnn-wasm/core.js', import.meta.url));
    const data = weights(20_000, 'bf16');
    const packed = await compress(data, { dtype: 'bf16' });
    // A stream in flight when the trap happens errors; new work succeeds.
    const ds = new ZnnDecompressionStream();
    const w = ds.writable.getWriter();
    const r = ds.readable.getReader();
    const read = r.read(); // a pending read lets the transform run
    await w.write(packed.subarray(0, 100));
    assert.throws(() => core.__internal.call(() => core.__internal.glue.__panicForTesting()), (e) => {
      assert.ok(e instanceof InternalError);
      assert.equal(e.code, 'ZNN_INTERNAL');
      assert.match(e.message, /panic requested/);
      return true;
    });
    w.write(packed.subarray(100)).catch(() => {});
    await rejectsWith(read, InternalError, 'ZNN_INTERNAL');
    assert.ok(equalBytes(await decompress(packed), data));
    assert.ok(equalBytes(await streamDecode(packed, 999), data));
  });

  test('wasm memory running out inside a call is a TooLargeError, and the next call works', async () => {
    // Two input buffers take all but 48 MiB of the 4 GiB; a compress of 64 MB then cannot
    // even copy its input in (an allocation that traps, not a check before it).
    const core = await import(new URL('./node_modules/zipnn-wasm/core.js', import.meta.url));
    const mem = () => core.__internal.glue.__memory().buffer;
    const a = new Decompressor();
    const b = new Decompressor();
    a.inputBuffer(2 ** 31 - 1);
    b.inputBuffer(4 * 2 ** 30 - mem().byteLength - (48 << 20));
    const data = weights(32 << 20, 'bf16');
    await assert.rejects(compress(data, { dtype: 'bf16' }), (e) => {
      assert.ok(e instanceof TooLargeError, `${e.constructor.name}: ${e.message}`);
      assert.match(e.message, /wasm memory ran out/);
      return true;
    });
    assert.ok(mem().byteLength < 2 ** 30, 'the fresh instance starts small');
    const small = weights(20_000, 'bf16');
    assert.ok(equalBytes(await decompress(await compress(small, { dtype: 'bf16' })), small));
  });

  test('a ZipNN-format compress whose output cannot fit is refused before it starts, the instance kept', async () => {
    // The writer reserves its whole output (every block raw at worst) before coding: with 48
    // MiB left, the 45 MiB input is copied in and the output refused, without a trap, so the
    // Decompressor holding a compressed file in its input buffer keeps it. (The test after
    // this one resets the instance, which gives the 4 GiB back.)
    const core = await import(new URL('./node_modules/zipnn-wasm/core.js', import.meta.url));
    const mem = () => core.__internal.glue.__memory().buffer;
    const small = weights(20_000, 'bf16');
    const packed = await compress(small, { dtype: 'bf16' });
    const a = new Decompressor();
    a.inputBuffer(2 ** 31 - 1).set(packed);
    const b = new Decompressor();
    b.inputBuffer(4 * 2 ** 30 - mem().byteLength - (48 << 20));
    const data = weights(45 << 19, 'bf16');
    await assert.rejects(compress(data, { format: 'zipnn', dtype: 'bf16' }), (e) => {
      assert.ok(e instanceof TooLargeError, `${e.constructor.name}: ${e.message}`);
      assert.match(e.message, /bytes do not fit in memory/);
      return true;
    });
    assert.ok(mem().byteLength > 3 * 2 ** 30, 'the same instance');
    assert.ok(equalBytes(a.decompressInput(packed.length), small));
    a.release();
    b.release();
  });

  test('a CompressedFile opened before a trap reopens in the new instance; close() frees nothing of it', async () => {
    const core = await import(new URL('./node_modules/zipnn-wasm/core.js', import.meta.url));
    const tensors = safetensorsTensors(model);
    const file = await openFile(modelZnw);
    const other = await openFile(modelZnw);
    assert.ok(equalBytes(file.read(tensors[3].offset, 100), tensors[3].bytes.subarray(0, 100)));
    assert.throws(() => core.__internal.call(() => core.__internal.glue.__panicForTesting()), InternalError);
    // New objects in the new instance, then the old file read (reopened) and the other closed.
    const fresh = await openFile(modelZnw);
    assert.ok(equalBytes(file.read(tensors[5].offset, 100), tensors[5].bytes.subarray(0, 100)));
    other.close();
    assert.ok(equalBytes(fresh.read(tensors[9].offset, 100), tensors[9].bytes.subarray(0, 100)));
    assert.ok(equalBytes(file.read(tensors[9].offset, 100), tensors[9].bytes.subarray(0, 100)));
    file.close();
    fresh.close();
  });

  test('closing a stream left over from before a trap frees nothing of the new instance', async () => {
    const core = await import(new URL('./node_modules/zipnn-wasm/core.js', import.meta.url));
    const [a, b] = [weights(300_000, 'bf16', 1), weights(300_000, 'bf16', 2)];
    const [packedA, packedB] = [await compress(a, { dtype: 'bf16' }), await compress(b, { dtype: 'bf16' })];
    const open = () => {
      const ds = new ZnnDecompressionStream();
      const w = ds.writable.getWriter();
      const out = collect(ds.readable);
      out.catch(() => {});
      return { ds, w, out };
    };
    const old = open();
    await old.w.write(packedA.subarray(0, 100)); // its decoder lives in the instance about to go
    assert.throws(() => core.__internal.call(() => core.__internal.glue.__panicForTesting()), InternalError);
    // Decoders of the new instance, then the old stream closed: its decoder's address may be
    // one of theirs, which the glue's free() would release.
    const first = open();
    await first.w.write(packedA.subarray(0, 300_000));
    await old.w.abort(new Error('not needed'));
    const second = open();
    await second.w.write(packedB.subarray(0, 300_000));
    for (const [s, packed, data] of [[first, packedA, a], [second, packedB, b]]) {
      await s.w.write(packed.subarray(300_000));
      await s.w.close();
      assert.ok(equalBytes(await s.out, data));
    }
  });

  test('a Decompressor outlives a trap (its wasm object is made anew)', async () => {
    const core = await import(new URL('./node_modules/zipnn-wasm/core.js', import.meta.url));
    const data = weights(20_000, 'bf16');
    const packed = await compress(data, { dtype: 'bf16' });
    const d = new Decompressor();
    assert.ok(equalBytes(d.decompress(packed), data));
    assert.throws(() => core.__internal.call(() => core.__internal.glue.__panicForTesting()), InternalError);
    assert.ok(equalBytes(d.decompress(packed), data));
  });

  test('a Decompressor before the module is loaded is ZNN_INIT', () => {
    const script = `
      const z = await import('zipnn-wasm');
      try { new z.Decompressor(); console.log('none'); } catch (e) { console.log(e.code); }
      const d = await z.Decompressor.create();
      console.log(d.decompress(await z.compress(new Uint8Array([1, 2, 3]))).join(','));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: 'utf8' });
    assert.equal(out.trim(), 'ZNN_INIT\n1,2,3');
  });

  test('size options are whole numbers of bytes, never converted', async () => {
    const data = weights(1000, 'bf16');
    for (const bad of ['65536', 65536.5, 2 ** 32 + 65536, 0, -1, [65536], NaN]) {
      await rejectsWith(compress(data, { dtype: 'bf16', chunkSize: bad }), InvalidInputError, 'ZNN_INVALID_INPUT');
      await rejectsWith(compress(data, { dtype: 'bf16', format: 'zipnn', streamingChunk: bad }), InvalidInputError, 'ZNN_INVALID_INPUT');
      assert.throws(() => new ZnnCompressionStream({ dtype: 'bf16', chunkSize: bad }), InvalidInputError);
      // A string here once made the stream loop forever on its first input.
      assert.throws(() => new ZnnCompressionStream({ dtype: 'bf16', format: 'zipnn', streamingChunk: bad }), InvalidInputError);
    }
    const ok = await compress(data, { dtype: 'bf16', chunkSize: null, streamingChunk: null });
    assert.ok(equalBytes(await decompress(ok), data));
  });

  test('boolean options are true or false; verify where nothing is verified is refused, not ignored', async () => {
    const data = weights(1000, 'bf16');
    // compress() once took verify with format 'zipnn' and verified nothing (the stream and both CLIs refuse it).
    await rejectsWith(compress(data, { dtype: 'bf16', format: 'zipnn', verify: true }), InvalidInputError, 'ZNN_INVALID_INPUT');
    assert.throws(() => new ZnnCompressionStream({ dtype: 'bf16', format: 'zipnn', verify: true }), InvalidInputError);
    for (const bad of ['no', 1, {}]) {
      await rejectsWith(compress(data, { dtype: 'bf16', verify: bad }), InvalidInputError, 'ZNN_INVALID_INPUT');
      // Refused before any request is made.
      const body = new Response(await compress(data));
      await rejectsWith(fetchModel(body, { worker: bad }), InvalidInputError, 'ZNN_INVALID_INPUT');
      await rejectsWith(fetchModel(body, { requireCompressed: bad }), InvalidInputError, 'ZNN_INVALID_INPUT');
      assert.equal(body.bodyUsed, false);
    }
    for (const verify of [false, null, undefined]) {
      assert.ok(equalBytes(await decompress(await compress(data, { dtype: 'bf16', format: 'zipnn', verify })), data));
    }
    assert.ok(equalBytes(await decompress(await compress(data, { dtype: 'bf16', verify: true })), data));
    for (const worker of [false, null]) assert.equal((await fetchModel(new Response(await compress(data)), { worker })).byteLength, data.length);
  });

  test('a compression stream checks its options when it is made (the module loaded)', async () => {
    await init();
    // Once trapped the module when its first 2 GiB frame filled, resetting streams in flight.
    assert.throws(() => new ZnnCompressionStream({ dtype: 'bf16', format: 'zipnn', streamingChunk: 2 ** 31 }), InvalidInputError);
    for (const options of [{ dtype: 'nope' }, { chunkSize: 3 }, { chunkSize: 32 << 20 }, { dtype: 'bf16', format: 'zipnn', streamingChunk: 100 }, { dtype: 'bf16', format: 'zipnn', chunkSize: 3000 }]) {
      assert.throws(() => new ZnnCompressionStream(options), InvalidInputError, JSON.stringify(options));
    }
    // The largest frame the stream takes still works.
    const data = weights(3000, 'bf16');
    const packed = await collect(chunkedStream(data, 1000).pipeThrough(new ZnnCompressionStream({ dtype: 'bf16', format: 'zipnn', streamingChunk: 2 ** 30 })));
    assert.ok(equalBytes(await decompress(packed), data));
  });

  test('a dtype that is not a string is an InvalidInputError, and a stream decoding meanwhile goes on', async () => {
    const packed = await compress(model);
    const reader = chunkedStream(packed, 1 << 20).pipeThrough(new ZnnDecompressionStream()).getReader();
    const first = await reader.read();
    for (const bad of [5, 1.5, true, {}, [], Symbol('x'), -1, 2 ** 40]) {
      for (const format of ['znw', 'zipnn']) {
        await rejectsWith(compress(new Uint8Array(4096), { dtype: bad, format }), InvalidInputError, 'ZNN_INVALID_INPUT');
        assert.throws(() => new ZnnCompressionStream({ dtype: bad, format }), InvalidInputError);
      }
    }
    const rest = [first.value];
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest.push(r.value);
    assert.equal(sha256(Buffer.concat(rest)), sha256(model));
  });

  test('compress refuses more than 2 GiB before copying it into wasm memory', async () => {
    // Pages of a new buffer are mapped on first touch: this one is never touched.
    const huge = new Uint8Array(2 ** 31 + 1);
    await rejectsWith(compress(huge), TooLargeError, 'ZNN_TOO_LARGE');
    assert.ok(equalBytes(await decompress(await compress(model)), model));
  });

  test("onProgress's own exception comes back as it is, even a RangeError", async () => {
    const mine = new RangeError('mine');
    const e = await compress(model, { onProgress: () => { throw mine; } }).catch((x) => x);
    assert.equal(e, mine);
  });

  test('a header that claims far-off data does not make a stream allocate it', async () => {
    // Looks like a safetensors file whose U8 tensor lies 3 GB on: whether it is a ZipNN one
    // would be known only there.
    const json = JSON.stringify({ t: { dtype: 'U8', shape: [16], data_offsets: [3e9, 3e9 + 16] } });
    const input = new Uint8Array(8 + json.length);
    new DataView(input.buffer).setBigUint64(0, BigInt(json.length), true);
    input.set(new TextEncoder().encode(json), 8);
    const before = process.memoryUsage().arrayBuffers;
    const ds = new ZnnDecompressionStream({ maxOutput: 1024 });
    const out = collect(ds.readable);
    out.catch(() => {});
    const w = ds.writable.getWriter();
    await w.write(input);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20);
    w.close().catch(() => {});
    await rejectsWith(out, NotCompressedError, 'ZNN_NOT_COMPRESSED');
  });

  test('input held before its format is known is bounded by maxOutput as it arrives', async () => {
    // The same far-off U8 tensor, then the body that leads to it: refused once what is held
    // passes maxOutput, not when the 64 MiB have all been taken.
    const json = JSON.stringify({ t: { dtype: 'U8', shape: [16], data_offsets: [2 ** 50, 2 ** 50 + 16] } });
    const head = new Uint8Array(8 + json.length);
    new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
    head.set(new TextEncoder().encode(json), 8);
    const ds = new ZnnDecompressionStream({ maxOutput: 1 << 20 });
    const out = collect(ds.readable);
    out.catch(() => {});
    const w = ds.writable.getWriter();
    let sent = 0;
    const err = await (async () => {
      for (const chunk of [head, ...Array.from({ length: 64 }, () => new Uint8Array(1 << 20))]) {
        await w.write(chunk);
        sent += chunk.length;
      }
    })().then(() => null, (e) => e);
    assert.ok(err instanceof TooLargeError, String(err));
    assert.match(err.message, /not yet known to be compressed and holds more than maxOutput \(1048576\)/);
    assert.ok(sent <= 2 << 20, `${sent} bytes taken`);
    await rejectsWith(out, TooLargeError, 'ZNN_TOO_LARGE');
  });

  test('checkBodies is true or false', () => {
    for (const checkBodies of ['false', 0, 1, {}]) {
      assert.throws(() => new ZnnDecompressionStream({ checkBodies }), (e) => e instanceof InvalidInputError && e.code === 'ZNN_INVALID_INPUT', String(checkBodies));
    }
    new ZnnDecompressionStream({ checkBodies: false });
  });

  test('null options are no options', async () => {
    const packed = await compress(model, null);
    assert.ok(equalBytes(await collect(chunkedStream(packed, 1 << 20).pipeThrough(new ZnnDecompressionStream(null))), model));
    assert.ok(equalBytes(await decompress(packed, null), model));
  });

  test('error classes carry a name and the code', async () => {
    const e = await decompress(new Uint8Array([1, 2, 3])).catch((x) => x);
    assert.equal(e.name, 'NotCompressedError');
    assert.equal(e.code, 'ZNN_NOT_COMPRESSED');
    assert.match(String(e), /^NotCompressedError: /);
  });
});
