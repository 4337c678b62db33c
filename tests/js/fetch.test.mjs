// fetchModel against a local HTTP server (127.0.0.1), as an app would download a model.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fetchModel, compress, decompress, ZnnCompressionStream, HttpError, NetworkError, CorruptError, TruncatedError, TooLargeError, InvalidInputError, NotCompressedError, __internal } from 'zipnn-wasm';
import { spawnSync } from 'node:child_process';
import {
  startServer,
  sendBytes,
  readFile,
  modelPath,
  fixturePath,
  zipnnFixture,
  sha256,
  equalBytes,
  safetensorsTensors,
  chunkedStream,
  collect,
  waitFor,
  weights,
  freePort,
  makeSafetensors,
  env,
} from './helpers.mjs';
import path from 'node:path';

const model = readFile(modelPath('minilm.bf16.safetensors'));
const modelZnw = readFile(fixturePath('minilm.bf16.safetensors.znw'));
const tensors = safetensorsTensors(model);

let server;
const served = new Map(); // path -> { bytes, options }
const closed = []; // paths whose response closed before it finished
const serve = (path, bytes, options) => served.set(path, { bytes, options });

before(async () => {
  const routes = {};
  server = await startServer({
    routes: new Proxy(routes, {
      get: (_, p) => {
        const s = served.get(p);
        if (!s) return undefined;
        return (req, res) => {
          res.on('close', () => {
            if (!res.writableFinished) closed.push(p);
          });
          if (s.cut !== undefined) {
            // Promises the whole body, sends part of it, then drops the connection.
            res.writeHead(200, { 'content-length': s.bytes.length, 'content-type': 'application/octet-stream' });
            res.write(Buffer.from(s.bytes.subarray(0, s.cut)), () => setTimeout(() => req.socket.destroy(), 20));
            return;
          }
          sendBytes(res, s.bytes, s.options);
        };
      },
    }),
  });
  serve('/model.znw', modelZnw);
  serve('/model.safetensors', model);
  serve('/model-chunked.znw', modelZnw, { contentLength: false, piece: 256 * 1024, delayMs: 0 });
  serve('/trickle.znw', modelZnw, { piece: 16 * 1024, delayMs: 10 });
});
after(() => server.close());

/** Checks the progress events: monotonic, ending at the total. */
function checkProgress(events, { total, decodedTotal }) {
  assert.ok(events.length > 1, 'several progress events');
  for (let i = 1; i < events.length; i++) {
    for (const k of ['loaded', 'total', 'decoded', 'progress']) {
      assert.ok(events[i][k] >= events[i - 1][k], `${k} goes back at event ${i}: ${events[i - 1][k]} -> ${events[i][k]}`);
    }
  }
  const last = events.at(-1);
  assert.equal(last.loaded, total);
  assert.equal(last.total, total);
  assert.equal(last.progress, 100);
  assert.equal(last.decoded, decodedTotal);
  assert.equal(last.decodedTotal, decodedTotal);
  for (const e of events) {
    assert.equal(e.status, 'progress');
    assert.ok(e.loaded <= e.total || e.total === 0);
  }
}

// Both decode paths run every check: the decode worker (forced even for small bodies) and in-thread.
for (const [label, worker] of [
  ['decode worker', true],
  ['in-thread', false],
]) {
  const fm = (input, options = {}) => fetchModel(input, { ...options, worker });

  describe(`fetchModel (${label})`, () => {
    let jobsBefore;
    before(() => (jobsBefore = __internal.stats.workerJobs));
    after(() => {
      const used = __internal.stats.workerJobs - jobsBefore;
      if (worker) assert.ok(used > 10, `the worker decoded (${used} jobs)`);
      else assert.equal(used, 0, 'nothing went to the worker');
    });

    test('decodes a compressed model while it downloads, with progress and tensors', async () => {
      const events = [];
      const seen = [];
      const out = await fm(`${server.origin}/model.znw`, {
        onProgress: (e) => events.push(structuredClone(e)),
        onTensor: (t) => {
          // bytes is a view of the result, valid when the event fires.
          const orig = tensors.find((x) => x.name === t.name);
          assert.ok(orig, `unknown tensor ${t.name}`);
          assert.deepEqual([t.dtype, t.shape, t.offset, t.length], [orig.dtype, orig.shape, orig.offset, orig.bytes.length]);
          assert.ok(equalBytes(t.bytes, orig.bytes), `${t.name} bytes`);
          seen.push(t.name);
          // Decoded before the whole file: events come during the download.
          if (seen.length === 1) assert.ok(events.length === 0 || events.at(-1).decoded < model.length);
        },
      });
      assert.ok(out instanceof ArrayBuffer);
      assert.equal(sha256(new Uint8Array(out)), sha256(model));
      assert.deepEqual(seen, tensors.map((t) => t.name), 'each tensor once, in order');
      checkProgress(events, { total: modelZnw.length, decodedTotal: model.length });
      assert.ok(events[0].decodedTotal === model.length, 'decoded total from the header');
      assert.ok(events.length > 3);
    });

    test('no Content-Length: total becomes known at the end', async () => {
      const events = [];
      const out = await fm(new URL('/model-chunked.znw', server.origin), { onProgress: (e) => events.push(e) });
      assert.equal(sha256(new Uint8Array(out)), sha256(model));
      assert.equal(events[0].total, 0);
      checkProgress(events, { total: modelZnw.length, decodedTotal: model.length });
    });

    test('an uncompressed response passes through unchanged', async () => {
      const events = [];
      let count = 0;
      const out = await fm(`${server.origin}/model.safetensors`, {
        onProgress: (e) => events.push(e),
        onTensor: () => count++,
      });
      assert.ok(equalBytes(out, model));
      assert.equal(count, tensors.length, 'a plain safetensors file still names its tensors');
      checkProgress(events, { total: model.length, decodedTotal: model.length });
    });

    test('abort mid-download rejects with the AbortError and closes the connection', async () => {
      const ac = new AbortController();
      const events = [];
      const started = Date.now();
      const p = fm(`${server.origin}/trickle.znw`, {
        signal: ac.signal,
        onProgress: (e) => {
          events.push(e);
          if (e.loaded >= 256 * 1024 && !ac.signal.aborted) ac.abort();
        },
      });
      await assert.rejects(p, (e) => e.name === 'AbortError');
      assert.ok(Date.now() - started < 10_000);
      assert.ok(events.at(-1).loaded < modelZnw.length, 'stopped before the end');
      await waitFor(() => closed.includes('/trickle.znw'), 5000, 'the server to see the connection close');
      // Aborted before the call: rejects at once; custom reasons come back as they are.
      await assert.rejects(fm(`${server.origin}/model.znw`, { signal: AbortSignal.abort() }), (e) => e.name === 'AbortError');
      const reason = new Error('changed my mind');
      const ac2 = new AbortController();
      const p2 = fm(`${server.origin}/trickle.znw`, { signal: ac2.signal });
      setTimeout(() => ac2.abort(reason), 50);
      await assert.rejects(p2, (e) => e === reason);
      // And the next download works.
      const out = await fm(`${server.origin}/model.znw`);
      assert.equal(out.byteLength, model.length);
    });

    test('streamed .znw (no size in the header) grows its buffer', async () => {
      const streamed = await collect(chunkedStream(model, 1 << 20).pipeThrough(new ZnnCompressionStream({ dtype: 'bf16' })));
      serve('/streamed.znw', streamed);
      let count = 0;
      const events = [];
      const out = await fm(`${server.origin}/streamed.znw`, { onTensor: () => count++, onProgress: (e) => events.push(e) });
      assert.equal(sha256(new Uint8Array(out)), sha256(model));
      assert.equal(out.byteLength, model.length);
      assert.equal(count, tensors.length);
      assert.equal(events[0].decodedTotal, undefined);
      checkProgress(events, { total: streamed.length, decodedTotal: model.length });
      // Without onTensor (the worker may then hold the output itself, when it knows the size).
      const again = await fm(`${server.origin}/streamed.znw`);
      assert.equal(sha256(new Uint8Array(again)), sha256(model));
      const sized = await fm(`${server.origin}/model.znw`, { onProgress: (e) => events.push(e) });
      assert.equal(sha256(new Uint8Array(sized)), sha256(model));
    });

    test('the last progress event is at 100 % even when Content-Length counted other bytes', async () => {
      // As a cross-origin gzip response whose Content-Encoding the page cannot see.
      const events = [];
      const res = new Response(modelZnw, { headers: { 'content-length': String(modelZnw.length + 5000) } });
      await fm(res, { onProgress: (e) => events.push(e) });
      const last = events.at(-1);
      assert.deepEqual([last.loaded, last.total, last.progress], [modelZnw.length, modelZnw.length, 100]);
      // Before it, the header's length (the decode worker may have sent the first event last).
      assert.ok(events.slice(0, -1).every((e) => e.total === modelZnw.length + 5000));
    });

    test('ZipNN files (frames and .znn.safetensors) decode too', async () => {
      const zn = await compress(model, { dtype: 'bf16', format: 'zipnn', streamingChunk: 1 << 20 });
      serve('/model.znn', zn);
      assert.equal(sha256(new Uint8Array(await fm(`${server.origin}/model.znn`))), sha256(model));
      const znst = readFile(zipnnFixture('st_minilm_nometa.znn.safetensors'));
      serve('/st.znn.safetensors', znst);
      let count = 0;
      const out = await fm(`${server.origin}/st.znn.safetensors`, { onTensor: () => count++ });
      assert.ok(equalBytes(out, await decompress(znst)));
      assert.equal(count, safetensorsTensors(readFile(zipnnFixture('st_minilm_nometa.safetensors'))).length);
    });

    test('a damaged compressed file is an error, not a model passed through as it is', async () => {
      // A .znn.safetensors whose JSON header no longer parses (one byte of it changed).
      const znst = readFile(zipnnFixture('st_minilm_meta.znn.safetensors'));
      const n = Number(new DataView(znst.buffer, znst.byteOffset).getBigUint64(0, true));
      const bad = znst.slice();
      bad[8 + (n >> 1)] = 0x3d; // '='
      // A .znw whose magic number is one byte off.
      const znw = modelZnw.slice();
      znw[3] ^= 0x20;
      // The same error as every other entry point gives it.
      for (const e of [await fm(new Response(bad)).catch((x) => x), await decompress(bad).catch((x) => x)]) {
        assert.ok(e instanceof CorruptError && e.message.includes('safetensors header is not valid JSON'), String(e));
      }
      const e = await fm(new Response(znw)).catch((x) => x);
      assert.ok(e instanceof CorruptError && e.message.startsWith('the body is a damaged compressed file, not a model'), String(e));
      // A PNG shares six of our magic's eight bytes: it passes through, as any file not compressed.
      const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...Array(56).fill(7)]);
      assert.ok(equalBytes(await fm(new Response(png)), png));
    });

    test('an empty ZipNN file is an empty buffer', async () => {
      for (const name of ['bf16_empty.znn', 'fp32_empty.znn']) {
        const out = await fm(new Response(readFile(zipnnFixture(name))));
        assert.ok(out instanceof ArrayBuffer);
        assert.equal(out.byteLength, 0);
      }
      const own = await compress(new Uint8Array(0), { dtype: 'bf16', format: 'zipnn' });
      assert.equal((await fm(new Response(own))).byteLength, 0);
    });

    test('maxOutput bounds an uncompressed body too', async () => {
      const plain = weights(50_000, 'bf16', 4);
      await assert.rejects(fm(new Response(plain), { maxOutput: 1000 }), (e) => e instanceof TooLargeError && e.code === 'ZNN_TOO_LARGE');
      const sized = new Response(plain, { headers: { 'content-length': String(plain.length) } });
      await assert.rejects(fm(sized, { maxOutput: plain.length - 1 }), TooLargeError);
      const out = await fm(new Response(plain), { maxOutput: plain.length });
      assert.ok(equalBytes(out, plain));
    });

    test("a callback's own exception fails the download as it is, even a RangeError", async () => {
      const mine = new RangeError('mine');
      const e = await fm(new Response(modelZnw), { onProgress: () => { throw mine; } }).catch((x) => x);
      assert.equal(e, mine);
    });

    test('Request, Response and a custom fetch are accepted', async () => {
      const a = await fm(new Request(`${server.origin}/model.znw`));
      assert.equal(a.byteLength, model.length);
      const b = await fm(new Response(modelZnw));
      assert.equal(sha256(new Uint8Array(b)), sha256(model));
      let used = 0;
      const c = await fm('/model.znw', {
        fetch: (input, init) => {
          used++;
          return fetch(new URL(input, server.origin), init);
        },
      });
      assert.equal(c.byteLength, model.length);
      assert.equal(used, 1);
      // A custom fetch that resolves to something else is named as the culprit.
      for (const [got, what] of [[undefined, 'undefined'], [null, 'null'], [{ ok: true }, 'object'], ['x', 'string']]) {
        await assert.rejects(fm('/model.znw', { fetch: async () => got }), (e) => e instanceof InvalidInputError && e.message === `options.fetch resolved to ${what}, not a Response`);
      }
      // What is no URL, Request or Response is the caller's error, not the network's (node has
      // no page to resolve '/model.znw' against); nothing is fetched.
      for (const bad of [null, undefined, 42, {}, '::::', '/model.znw']) {
        await assert.rejects(fm(bad), (e) => e instanceof InvalidInputError && /fetchModel/.test(e.message), String(bad));
      }
      const r = await fm(new Request(`${server.origin}/model.znw`));
      assert.equal(r.byteLength, model.length);
    });

    test('bodies of any kind and chunking: byte streams (BYOB reads) and plain streams', async () => {
      // Not a byte stream: the default reader, chunks as they come.
      const a = await fm(new Response(chunkedStream(modelZnw, 100_003)));
      assert.equal(sha256(new Uint8Array(a)), sha256(model));
      // Byte streams whose chunks do not match the reads, down to single bytes: from a fetch
      // (read BYOB), and handed over as a Response (default reader: this source forgets
      // byobRequest.respond(0) after close, which would strand a BYOB read).
      const small = weights(60_000, 'bf16', 3);
      const packed = await compress(small, { dtype: 'bf16', chunkSize: 16384 });
      const byteStream = (size, proper) => {
        let at = 0;
        return new ReadableStream({
          type: 'bytes',
          pull(c) {
            if (at >= packed.length) {
              c.close();
              if (proper) c.byobRequest?.respond(0);
              return;
            }
            c.enqueue(packed.slice(at, at + size));
            at += size;
          },
        });
      };
      for (const size of [1, 13, 4096, 70_000]) {
        for (const via of ['fetch', 'response']) {
          const events = [];
          const out =
            via === 'fetch'
              ? await fm('/x.znw', { fetch: async () => new Response(byteStream(size, true)), onProgress: (e) => events.push(e) })
              : await fm(new Response(byteStream(size, false)), { onProgress: (e) => events.push(e) });
          assert.ok(equalBytes(out, small), `chunks of ${size} via ${via}`);
          assert.equal(events.at(-1).loaded, packed.length);
          assert.equal(events.at(-1).decoded, small.length);
        }
      }
    });

    test('abort while a read waits on a stalled body', async () => {
      for (const type of ['bytes', undefined]) {
        const body = new ReadableStream({
          type,
          start(c) {
            c.enqueue(modelZnw.slice(0, 300_000));
          },
          pull() {
            return new Promise(() => {}); // nothing more, ever
          },
        });
        const ac = new AbortController();
        const p = fm('/stalled', { signal: ac.signal, fetch: async () => new Response(body) });
        setTimeout(() => ac.abort(), 50);
        await assert.rejects(p, (e) => e.name === 'AbortError', `body type ${type}`);
      }
    });

    test('HTTP errors, truncated and corrupt bodies reject with typed errors', async () => {
      await assert.rejects(fm(`${server.origin}/missing.znw`), (e) => e instanceof HttpError && e.status === 404 && e.code === 'ZNN_HTTP');
      serve('/truncated.znw', modelZnw.subarray(0, modelZnw.length - 1000));
      await assert.rejects(fm(`${server.origin}/truncated.znw`), (e) => e instanceof TruncatedError && e.code === 'ZNN_TRUNCATED');
      const bad = modelZnw.slice();
      bad[Math.floor(bad.length / 2)] ^= 0x10;
      serve('/corrupt.znw', bad);
      let tensorsBefore = 0;
      await assert.rejects(fm(`${server.origin}/corrupt.znw`, { onTensor: () => tensorsBefore++ }), (e) => e instanceof CorruptError && e.code === 'ZNN_CORRUPT');
      assert.ok(tensorsBefore > 0 && tensorsBefore < tensors.length, 'tensors before the bad chunk were delivered');
      const out = await fm(`${server.origin}/model.znw`);
      assert.equal(sha256(new Uint8Array(out)), sha256(model));
    });

    test('a refused connection and a body cut mid-way reject with NetworkError', async () => {
      const port = await freePort();
      await assert.rejects(fm(`http://127.0.0.1:${port}/model.znw`), (e) => e instanceof NetworkError && e.code === 'ZNN_NETWORK' && e.cause instanceof Error);
      // The server drops the connection after a third of the body.
      served.set('/cut.znw', {
        bytes: modelZnw,
        cut: Math.floor(modelZnw.length / 3),
      });
      await assert.rejects(fm(`${server.origin}/cut.znw`), (e) => e instanceof NetworkError && e.code === 'ZNN_NETWORK');
      // The next download works.
      assert.equal(sha256(new Uint8Array(await fm(`${server.origin}/model.znw`))), sha256(model));
    });

    test('a tensor longer than the runtime views: onTensor fails before the download, not after it', async () => {
      // node 20 views at most 4 GiB; here the limit is lowered below minilm's largest tensor.
      const { host } = __internal;
      const largest = tensors.reduce((a, t) => (t.bytes.length > a.bytes.length ? t : a));
      const was = host.maxView;
      host.maxView = largest.bytes.length - 1;
      try {
        let loaded = 0;
        const e = await fm(`${server.origin}/trickle.znw`, { onTensor: () => {}, onProgress: (p) => (loaded = p.loaded) }).catch((x) => x);
        assert.ok(e instanceof TooLargeError, String(e));
        assert.ok(e.message.includes(JSON.stringify(largest.name)) && e.message.includes('onTensor cannot hand it over'), e.message);
        assert.ok(loaded < modelZnw.length / 4, `read ${loaded} of ${modelZnw.length} bytes first`);
        // Plain safetensors name their tensors only at the end: the same error then.
        const late = await fm(`${server.origin}/model.safetensors`, { onTensor: () => {} }).catch((x) => x);
        assert.ok(late instanceof TooLargeError && late.message.includes('onTensor cannot hand it over'), String(late));
        // Without onTensor nothing is viewed.
        assert.equal((await fm(`${server.origin}/model.znw`)).byteLength, model.length);
      } finally {
        host.maxView = was;
      }
    });

    test('zero-size tensors are tensors too: onTensor names every one', async () => {
      const st = makeSafetensors([
        { name: 'w', dtype: 'BF16', shape: [64, 32], bytes: weights(64 * 32, 'bf16', 3) },
        { name: 'empty', dtype: 'F32', shape: [0], bytes: new Uint8Array(0) },
        { name: 'rows', dtype: 'BF16', shape: [3, 0], bytes: new Uint8Array(0) },
        { name: 'b', dtype: 'F32', shape: [5], bytes: weights(5, 'fp32', 4) },
      ]);
      serve('/empties.znw', await compress(st));
      const seen = [];
      const out = await fm(`${server.origin}/empties.znw`, { onTensor: (t) => seen.push([t.name, t.shape, t.bytes.length]) });
      assert.ok(equalBytes(out, st));
      assert.deepEqual(
        seen.sort((x, y) => x[0].localeCompare(y[0])),
        [
          ['b', [5], 20],
          ['empty', [0], 0],
          ['rows', [3, 0], 0],
          ['w', [64, 32], 4096],
        ],
      );
    });

    test('a header is not taken on trust: a huge claimed size from a few bytes, a magic cut short', async () => {
      // A real header whose decoded size says 1 TiB (checksum made to match), then 100 bytes:
      // truncated, without first allocating what the header claims (that failed as TooLarge).
      const claims = readFile(path.join(env.repo, 'tests/fixtures/znw/claims-1tib.znw'));
      for (const contentLength of [true, false]) {
        serve('/claims.znw', claims, { contentLength });
        await assert.rejects(fm(`${server.origin}/claims.znw`), (e) => e instanceof TruncatedError, `Content-Length ${contentLength}`);
      }
      // A body that ends inside a compressed file's magic number is a cut-off file, not a model.
      const zn = await compress(weights(4096, 'bf16', 5), { dtype: 'bf16', format: 'zipnn' });
      for (const [file, n] of [[modelZnw, 4], [modelZnw, 7], [zn, 7], [zn, 12]]) {
        serve('/cut-magic', file.subarray(0, n));
        await assert.rejects(fm(`${server.origin}/cut-magic`), (e) => e instanceof TruncatedError, `${n} bytes`);
      }
    });

    test('a model over 64 MiB without Content-Length decodes into one allocation', async () => {
      const fp32 = readFile(fixturePath('minilm.fp32.safetensors.znw'));
      serve('/fp32-chunked.znw', fp32, { contentLength: false, piece: 1 << 20 });
      const grown = __internal.stats.grownOutputs;
      const out = await fm(`${server.origin}/fp32-chunked.znw`);
      assert.equal(sha256(new Uint8Array(out)), sha256(readFile(modelPath('minilm.fp32.safetensors'))));
      assert.equal(__internal.stats.grownOutputs, grown, 'the header gave the size: no buffer grown');
    });

    test('a file that expands past 64 times its body and 64 MiB still decodes, tensors and all', async () => {
      // Its output is not taken on trust at the header but grows as it decodes.
      const st = makeSafetensors([
        { name: 'zeros', dtype: 'F32', shape: [20 * 1024, 1024], bytes: new Uint8Array(80 * 1024 * 1024) },
        { name: 'w', dtype: 'BF16', shape: [64, 32], bytes: weights(64 * 32, 'bf16', 3) },
      ]);
      const packed = await compress(st);
      assert.ok(packed.length * 64 < st.length, `${packed.length} bytes`);
      serve('/zeros.znw', packed);
      const grown = __internal.stats.grownOutputs;
      const seen = [];
      const out = await fm(`${server.origin}/zeros.znw`, { onTensor: (t) => seen.push([t.name, t.bytes.length, t.bytes.buffer]) });
      assert.ok(equalBytes(out, st));
      assert.deepEqual(seen.map((t) => t.slice(0, 2)).sort(), [['w', 4096], ['zeros', 80 * 1024 * 1024]]);
      assert.ok(seen.every((t) => t[2] === out), 'tensor views are views of the result');
      // It grew (until an eighth of it had decoded, then the rest in one piece).
      assert.equal(__internal.stats.grownOutputs, grown + 1);
    });

    test('a size past 2^53 in a valid file is a number, not an error', async () => {
      // A tensor of no elements may have any dimension; it once broke the header's way to JS.
      const st = makeSafetensors([
        { name: 'w', dtype: 'BF16', shape: [64, 32], bytes: weights(64 * 32, 'bf16', 3) },
        { name: 'wide', dtype: 'F32', shape: [2 ** 53 + 2, 0], bytes: new Uint8Array(0) },
      ]);
      serve('/wide.znw', await compress(st));
      const seen = [];
      const out = await fm(`${server.origin}/wide.znw`, { onTensor: (t) => seen.push([t.name, t.shape]) });
      assert.ok(equalBytes(out, st));
      assert.deepEqual(seen.sort(), [['w', [64, 32]], ['wide', [2 ** 53 + 2, 0]]]);
    });

    test('a throwing callback rejects the download', async () => {
      const boom = new Error('boom');
      await assert.rejects(
        fm(`${server.origin}/model.znw`, {
          onTensor: () => {
            throw boom;
          },
        }),
        (e) => e === boom,
      );
    });

    test('a web page is refused, and with requireCompressed any body that is not compressed, as soon as it shows', async () => {
      // A server's index page for a missing file, status 200.
      serve('/spa-fallback.znw', new TextEncoder().encode('<!doctype html><title>app</title>'), { type: 'text/html; charset=utf-8' });
      const e = await fm(`${server.origin}/spa-fallback.znw`).catch((x) => x);
      assert.ok(e instanceof NotCompressedError && e.message.includes('web page'), String(e));
      // A compressed file served as a page still decodes.
      serve('/page-typed.znw', modelZnw, { type: 'text/html' });
      assert.ok(equalBytes(await fm(`${server.origin}/page-typed.znw`), model));
      // requireCompressed: plain bytes are refused from their first chunk, not after the body.
      let pulled = 0;
      const endless = new ReadableStream({
        pull(c) {
          pulled++;
          c.enqueue(model.subarray(0, 1 << 20));
        },
      });
      const plain = await fm(new Response(endless), { requireCompressed: true }).catch((x) => x);
      assert.ok(plain instanceof NotCompressedError && plain.code === 'ZNN_NOT_COMPRESSED', String(plain));
      assert.ok(pulled < 8, `${pulled} chunks read`);
      for (const body of [new Uint8Array(0), null]) {
        await assert.rejects(fm(new Response(body), { requireCompressed: true }), NotCompressedError);
      }
      // Damage and cuts keep their own errors.
      const znw = modelZnw.slice();
      znw[3] ^= 0x20;
      await assert.rejects(fm(new Response(znw), { requireCompressed: true }), CorruptError);
      await assert.rejects(fm(new Response(modelZnw.slice(0, 5)), { requireCompressed: true }), TruncatedError);
      assert.ok(equalBytes(await fm(new Response(modelZnw), { requireCompressed: true }), model));
      await assert.rejects(fm(new Response(modelZnw), { requireCompressed: 'yes' }), InvalidInputError);
      // Without it, plain bytes pass through as before.
      assert.ok(equalBytes(await fm(`${server.origin}/model.safetensors`), model));
    });

    test('an async callback: fetchModel waits for its promises, and a rejection rejects the download', async () => {
      const boom = new Error('async boom');
      let unhandled = 0;
      const count = () => unhandled++;
      process.on('unhandledRejection', count);
      try {
        await assert.rejects(
          fm(`${server.origin}/model.znw`, {
            onTensor: async () => {
              await new Promise((r) => setTimeout(r, 1));
              throw boom;
            },
          }),
          (e) => e === boom,
        );
        for (const where of ['onTensor', 'onProgress']) {
          const e = await fm(`${server.origin}/model.znw`, { [where]: () => Promise.reject(boom) }).catch((x) => x);
          assert.equal(e, boom, where);
        }
        // Every upload done before the result is handed over (decoding does not wait for them).
        let started = 0;
        let done = 0;
        const out = await fm(`${server.origin}/model.znw`, {
          onTensor: async () => {
            started++;
            await new Promise((r) => setTimeout(r, 5));
            done++;
          },
        });
        assert.ok(equalBytes(out, model));
        assert.equal(started, tensors.length);
        assert.equal(done, tensors.length);
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(unhandled, 0);
      } finally {
        process.off('unhandledRejection', count);
      }
    });
  });
}

describe('fetchModel decode worker', () => {
  /** Runs `code` (an ES module) in a fresh node process, where the worker starts with it; returns what it logs, parsed. */
  const inFreshNode = (code, flags = []) => {
    const r = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  test('while the worker first loads, at most 16 MiB of the body is read ahead (maxOutput holds)', () => {
    // A fresh process: the worker starts with this call. The body comes from memory at once.
    const code = `
      import { fetchModel, TooLargeError } from 'zipnn-wasm';
      let pulled = 0;
      const body = new ReadableStream({
        pull(c) {
          if (pulled >= 200 << 20) return c.close();
          c.enqueue(new Uint8Array(1 << 20).fill(7));
          pulled += 1 << 20;
        },
      });
      const e = await fetchModel(new Response(body), { maxOutput: 1 << 20 }).catch((x) => x);
      console.log(JSON.stringify({ tooLarge: e instanceof TooLargeError, pulledMiB: pulled >> 20 }));
    `;
    const { tooLarge, pulledMiB } = inFreshNode(code);
    assert.ok(tooLarge);
    assert.ok(pulledMiB <= 20, `${pulledMiB} MiB read`);
  });

  test('requireCompressed refuses a plain body from its first bytes while the worker first loads', () => {
    const code = `
      import { fetchModel, NotCompressedError } from 'zipnn-wasm';
      let pulled = 0;
      const body = new ReadableStream({
        pull(c) {
          pulled += 1 << 20;
          c.enqueue(new Uint8Array(1 << 20).fill(7));
        },
      }, { highWaterMark: 0 });
      const e = await fetchModel(new Response(body), { requireCompressed: true, worker: true }).catch((x) => x);
      console.log(JSON.stringify({ refused: e instanceof NotCompressedError, pulledMiB: pulled >> 20 }));
    `;
    const { refused, pulledMiB } = inFreshNode(code);
    assert.ok(refused);
    assert.ok(pulledMiB <= 2, `${pulledMiB} MiB read`);
  });

  test('a worker still loading 2 s after the read-ahead: that download decodes in the calling thread, later ones in the worker', () => {
    // The package's node worker, with its 'ready' held back until the first download is done
    // (a worker script stuck behind other downloads): without the fallback this never ends.
    const core = new URL('./core.js', import.meta.resolve('zipnn-wasm')).href;
    const code = `
      import { fetchModel, compress, __internal } from 'zipnn-wasm';
      import { __setWorkerFactory } from ${JSON.stringify(new URL('./lib/host.js', core).href)};
      import { Worker } from 'node:worker_threads';
      let release;
      const held = new Promise((r) => (release = r));
      __setWorkerFactory(() => {
        const w = new Worker(new URL('decode-worker-node.js', ${JSON.stringify(core)}), { execArgv: [] });
        return {
          post: (m, t) => w.postMessage(m, t),
          listen(onMessage, onError) {
            w.on('message', (m) => (m.type === 'ready' ? held.then(() => onMessage(m)) : onMessage(m)));
            w.on('error', onError);
          },
          terminate: () => w.terminate(),
          ref: () => w.ref(),
          unref: () => w.unref(),
        };
      });
      let x = 88172645;
      const w = new Uint8Array(20 << 20).map(() => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x & 255));
      const packed = await compress(w, { dtype: 'bf16' });
      // In 1 MiB pieces, as a network gives them: the read-ahead stops at 16 MiB.
      let pulled = 0;
      const body = () => new ReadableStream({
        pull(c) {
          if (pulled >= packed.length) return c.close();
          c.enqueue(packed.slice(pulled, pulled + (1 << 20)));
          pulled += 1 << 20;
        },
      }, { highWaterMark: 0 });
      const sized = () => new Response(body(), { headers: { 'content-length': String(packed.length) } });
      const first = new Uint8Array(await fetchModel(sized()));
      const inThread = __internal.stats.workerJobs;
      release();
      pulled = 0;
      const second = new Uint8Array(await fetchModel(sized()));
      const same = (a) => a.length === w.length && a.every((v, i) => v === w[i]);
      console.log(JSON.stringify({ first: same(first), second: same(second), inThread, after: __internal.stats.workerJobs }));
    `;
    assert.deepEqual(inFreshNode(code), { first: true, second: true, inThread: 0, after: 1 });
  });

  test("a worker that dies before a download's first bytes arrive: that download decodes in the calling thread, the next starts a new worker", () => {
    const core = new URL('./core.js', import.meta.resolve('zipnn-wasm')).href;
    const code = `
      import { fetchModel, compress, __internal } from 'zipnn-wasm';
      import { __setWorkerFactory } from ${JSON.stringify(new URL('./lib/host.js', core).href)};
      import { Worker } from 'node:worker_threads';
      let last = null;
      __setWorkerFactory(() => {
        const w = new Worker(new URL('decode-worker-node.js', ${JSON.stringify(core)}), { execArgv: [] });
        last = w;
        return {
          post: (m, t) => w.postMessage(m, t),
          listen(onMessage, onError) {
            w.on('message', onMessage);
            w.on('error', onError);
            w.on('exit', (code) => onError(new Error('the decode worker exited (' + code + ')')));
          },
          terminate: () => w.terminate(),
          ref: () => w.ref(),
          unref: () => w.unref(),
        };
      });
      const data = new Uint8Array(300000).map((_, i) => (i * 7) & 255);
      const packed = await compress(data, { dtype: 'bf16' });
      const same = (a) => a.length === data.length && a.every((v, i) => v === data[i]);
      const first = same(new Uint8Array(await fetchModel(new Response(packed), { worker: true })));
      const jobs = __internal.stats.workerJobs;
      // The body's first bytes come 300 ms on; the worker is ended (as a crash would) at 100 ms.
      const late = new ReadableStream({
        async pull(c) {
          await new Promise((r) => setTimeout(r, 300));
          c.enqueue(packed);
          c.close();
        },
      });
      setTimeout(() => last.terminate(), 100);
      const timeout = new Promise((r) => setTimeout(() => r('pending after 10 s'), 10000));
      const second = await Promise.race([fetchModel(new Response(late), { worker: true }).then((b) => same(new Uint8Array(b))), timeout]);
      const inThread = __internal.stats.workerJobs === jobs;
      const third = same(new Uint8Array(await fetchModel(new Response(packed), { worker: true })));
      console.log(JSON.stringify({ first, second, inThread, third, after: __internal.stats.workerJobs - jobs }));
    `;
    assert.deepEqual(inFreshNode(code), { first: true, second: true, inThread: true, third: true, after: 1 });
  });

  test('a body that stalls: what came before the stall is decoded, in the worker as in-thread', async () => {
    // Cuts between records, not at a 256 KiB copy buffer's end: the bytes past the last full
    // buffer waited in the calling thread for the next body chunk while the worker was busy
    // (a tensor those bytes end came after the stall, for about half of these cuts).
    const packed = readFile(fixturePath('minilm.bf16.safetensors.znw'));
    const t = __internal.glue.znwChunkTable(packed, undefined);
    const starts = Array.from({ length: t[1] }, (_, i) => t[2 + 2 * i]);
    const cuts = starts.filter((s) => s > 20e6 && s % 262144 > 1000).filter((_, i) => i % 7 === 0).slice(0, 6);
    for (const cut of cuts) {
      const during = {};
      for (const worker of [false, true]) {
        let [stalled, n] = [false, 0];
        const body = new ReadableStream({
          async pull(c) {
            if (!stalled) {
              stalled = true;
              return c.enqueue(packed.slice(0, cut));
            }
            await new Promise((r) => setTimeout(r, 800));
            during[worker] = n;
            c.enqueue(packed.slice(cut));
            c.close();
          },
        });
        await fetchModel(new Response(body), { worker, onTensor: () => n++ });
      }
      assert.ok(during.false > 10, `cut ${cut}: ${JSON.stringify(during)}`);
      assert.equal(during.true, during.false, `cut ${cut}: tensors before the stall ended, in the worker and in-thread`);
    }
  });

  test('17 bytes of a .znw header that claims 64 MiB do not grow wasm memory by 64 MiB', () => {
    const code = `
      import { init, ZnnDecompressionStream, __internal } from 'zipnn-wasm';
      import fs from 'node:fs';
      await init(undefined, { warmUp: false });
      const prefix = new Uint8Array(fs.readFileSync(${JSON.stringify(fixturePath('minilm.bf16.safetensors.znw'))}).subarray(0, 16));
      new DataView(prefix.buffer).setUint32(12, 64 << 20, true); // the header's length
      const memory = () => __internal.glue.__memory().buffer.byteLength;
      const before = memory();
      const s = new ZnnDecompressionStream({ maxOutput: 1_000_000 });
      const w = s.writable.getWriter();
      s.readable.getReader().read().catch(() => {});
      await w.write(prefix);
      await w.write(new Uint8Array(1));
      console.log(JSON.stringify({ grew: memory() - before }));
      await w.abort(new Error('stop')).catch(() => {});
    `;
    const { grew } = inFreshNode(code);
    assert.ok(grew < 8 << 20, `wasm memory grew by ${grew} bytes`);
  });

  test('a body chunk that is not bytes is refused, read ahead or not', async () => {
    for (const worker of [undefined, true, false]) {
      const body = new ReadableStream({
        start(c) {
          c.enqueue('hello world, this is text');
          c.close();
        },
      });
      await assert.rejects(fetchModel(new Response(body), { worker }), (e) => e instanceof InvalidInputError && /body chunk must be/.test(e.message), String(worker));
    }
  });

  test('large bodies, and small ones that decode to much, go to the worker by default, whatever the node flags; the pool too; idle workers let node exit', () => {
    // A child process: the worker is shared and unref'd when idle, so the process ends by itself.
    const code = `
      import { fetchModel, compress, decompress, __internal } from 'zipnn-wasm';
      let x = 2463534242;
      const w = new Uint8Array(3 << 20).map(() => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x & 255));
      const packed = await compress(w, { dtype: 'bf16' });
      const out = new Uint8Array(await fetchModel(new Response(packed, { headers: { 'content-length': String(packed.length) } })));
      const tiny = await compress(new Uint8Array(1000));
      const small = await fetchModel(new Response(tiny, { headers: { 'content-length': String(tiny.length) } }));
      if (packed.length < 2 << 20) throw new Error('the test body should be large');
      // A small body that decodes to 64 MiB (its header says so) goes to the worker too: the
      // calling thread is not held for the decode.
      const zeros = await compress(new Uint8Array(64 << 20));
      if (zeros.length > 65536) throw new Error('the test body should be small');
      const sized = () => new Response(zeros, { headers: { 'content-length': String(zeros.length) } });
      const big = await fetchModel(sized());
      const pooled = await decompress(packed, { threads: 2 });
      if (!pooled.every((v, i) => v === w[i])) throw new Error('the pool decoded other bytes');
      console.log(JSON.stringify({ ok: out.every((v, i) => v === w[i]), jobs: __internal.stats.workerJobs, small: small.byteLength, big: big.byteLength, pool: __internal.stats.poolJobs }));
    `;
    const t = Date.now();
    // With flags a worker refuses when given explicitly (they must not cost the worker).
    const flags = ['--max-old-space-size=4096', '--expose-gc', '--stack-size=2000'];
    assert.deepEqual(inFreshNode(code, flags), { ok: true, jobs: 2, small: 1000, big: 64 << 20, pool: 1 });
    assert.ok(Date.now() - t < 30_000);
  });
});
