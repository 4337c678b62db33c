// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core): a page served from
// a local HTTP server imports the installed package through an import map, fetchModel()s a
// model compressed by the native CLI, and checks sha256 (crypto.subtle) against the original.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, env, readFile, modelPath, fixturePath, zipnnFixture, sha256 } from './helpers.mjs';

const require = createRequire(path.join(env.tools, 'noop.js'));
const { chromium } = require('playwright-core');

const project = path.dirname(new URL(import.meta.url).pathname);
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>zipnn-wasm browser test</title>
<script type="importmap">{ "imports": { "zipnn-wasm": "/node_modules/zipnn-wasm/index.js" } }</script>
<script type="module">
import { fetchModel, compress, decompress, Decompressor, ZnnDecompressionStream, ZnnCompressionStream, CorruptError, TruncatedError, __internal } from 'zipnn-wasm';
const hex = async (buf) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))].map((b) => b.toString(16).padStart(2, '0')).join('');
window.runFetchModel = async (url, worker) => {
  const events = [];
  let tensors = 0;
  const jobs = __internal.stats.workerJobs;
  const t0 = performance.now();
  const buf = await fetchModel(url, { worker, onProgress: (e) => events.push([e.loaded, e.total, e.decoded]), onTensor: (t) => { tensors++; } });
  const ms = performance.now() - t0;
  const monotonic = events.every((e, i) => i === 0 || e.every((v, k) => v >= events[i - 1][k]));
  return { sha: await hex(buf), bytes: buf.byteLength, events: events.length, last: events.at(-1), tensors, ms, monotonic, workerJobs: __internal.stats.workerJobs - jobs };
};
// Truncated, corrupt and aborted downloads through one decode path: the typed error codes.
window.runBad = async (url, worker) => {
  const packed = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const codes = {};
  const attempt = async (name, p) => {
    try { await p; codes[name] = 'resolved'; } catch (e) { codes[name] = e instanceof DOMException ? e.name : e.code; }
  };
  await attempt('truncated', fetchModel(new Response(packed.subarray(0, packed.length - 1000)), { worker }));
  const bad = packed.slice();
  bad[bad.length >> 1] ^= 0x10;
  let tensors = 0;
  await attempt('corrupt', fetchModel(new Response(bad), { worker, onTensor: () => tensors++ }));
  const ac = new AbortController();
  let slow = 0;
  const trickle = new ReadableStream({ async pull(c) { if (slow >= packed.length) return c.close(); await new Promise((r) => setTimeout(r, 5)); c.enqueue(packed.slice(slow, slow + 16384)); slow += 16384; } });
  await attempt('aborted', fetchModel(new Response(trickle), { worker, signal: ac.signal, onProgress: (e) => { if (e.loaded > 200000) ac.abort(); } }));
  const again = await fetchModel(new Response(packed), { worker });
  return { codes, tensors, again: await hex(again) };
};
// A Decompressor: the response body written straight into its wasm-memory input buffer as it
// arrives, decoded there, and digested from the view; then a whole file through decompress().
window.runDecompressor = async (url, other) => {
  const d = await Decompressor.create();
  const res = await fetch(url);
  const n = Number(res.headers.get('content-length'));
  const input = d.inputBuffer(n);
  let at = 0;
  for await (const chunk of res.body) {
    input.set(chunk, at);
    at += chunk.length;
  }
  const first = await hex(d.decompressInput(at));
  const second = await hex(d.decompress(new Uint8Array(await (await fetch(other)).arrayBuffer())));
  return { first, second };
};
window.runStream = async (url) => {
  const res = await fetch(url);
  const out = await new Response(res.body.pipeThrough(new ZnnDecompressionStream())).arrayBuffer();
  return { sha: await hex(out), bytes: out.byteLength };
};
window.runRoundTrip = async () => {
  const data = new Uint8Array(300000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const packed = await compress(data, { dtype: 'bf16' });
  const back = await decompress(packed);
  const zn = await compress(data, { dtype: 'bf16', format: 'zipnn' });
  const back2 = await decompress(zn);
  const streamed = await new Response(new Blob([data]).stream().pipeThrough(new ZnnCompressionStream({ dtype: 'bf16' })).pipeThrough(new ZnnDecompressionStream())).arrayBuffer();
  const bad = packed.slice();
  bad[bad.length >> 1] ^= 1;
  let code = null;
  try { await decompress(bad); } catch (e) { code = e instanceof CorruptError ? e.code : 'wrong class ' + e.name; }
  const again = await decompress(packed);
  return {
    same: [back, back2, new Uint8Array(streamed), again].map((x) => x.length === data.length && x.every((v, i) => v === data[i])),
    code,
  };
};
// openFile in a dedicated Worker over a Blob read with FileReaderSync (a file the user picked
// would be a File, which is a Blob): every tensor read on its own, last first, into one buffer.
window.runOpenFile = (url) => new Promise((resolve, reject) => {
  const w = new Worker('/openfile-worker.js', { type: 'module' });
  w.onmessage = (e) => { w.terminate(); resolve(e.data); };
  w.onerror = (e) => { w.terminate(); reject(new Error(e.message)); };
  w.postMessage(url);
});
// decompress(..., { threads }) of a fetched file: the pool when the page is cross-origin
// isolated, in-thread otherwise. WebCrypto does not read shared memory: the digest takes a copy.
window.runPool = async (url, threads, corrupt) => {
  const packed = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const jobs = __internal.stats.poolJobs;
  let code = null;
  if (corrupt) {
    const bad = packed.slice();
    bad[bad.length >> 1] ^= 0x10;
    try { await decompress(bad, { threads }); code = 'resolved'; } catch (e) { code = e instanceof CorruptError ? e.code : 'wrong class ' + e.name; }
  }
  const t0 = performance.now();
  const out = await decompress(packed, { threads });
  const ms = performance.now() - t0;
  const shared = typeof SharedArrayBuffer === 'function' && out.buffer instanceof SharedArrayBuffer;
  const t1 = performance.now();
  const copy = shared ? out.slice() : out;
  const copyMs = performance.now() - t1;
  return { sha: await hex(copy), bytes: out.length, ms, copyMs, shared, code, isolated: globalThis.crossOriginIsolated, poolJobs: __internal.stats.poolJobs - jobs };
};
// A small .znn.safetensors file from shared memory on the pool (every chunk its own run): the
// same bytes as in-thread. The pool must not hand shared memory to APIs that refuse it.
window.runPoolSharedInput = async (url) => {
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const input = new Uint8Array(new SharedArrayBuffer(bytes.length));
  input.set(bytes);
  const t = __internal.poolTuning;
  const saved = { ...t };
  Object.assign(t, { minBytes: 0, runMin: 1, runMax: 1 });
  try {
    const jobs = __internal.stats.poolJobs;
    const pooled = await decompress(input, { threads: 2 });
    const inThread = await decompress(bytes);
    return { same: await hex(pooled.slice()) === await hex(inThread), poolJobs: __internal.stats.poolJobs - jobs };
  } finally {
    Object.assign(t, saved);
  }
};
// Best of some decodes with threads 1 and N, alternating (logged by the test, not asserted).
window.timePool = async (url, threads, rounds) => {
  const packed = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const best = [Infinity, Infinity];
  for (let r = 0; r < rounds; r++) {
    for (const [i, t] of [[0, 1], [1, threads]]) {
      const t0 = performance.now();
      await decompress(packed, { threads: t });
      best[i] = Math.min(best[i], performance.now() - t0);
    }
  }
  return best;
};
// Six downloads at once from a fresh page: over HTTP/1.1 they take all six connections to the
// origin, and the decode worker's own script must still load.
window.runSix = async (url) => {
  const jobs = __internal.stats.workerJobs;
  const hung = new Promise((_, reject) => setTimeout(() => reject(new Error('hung for 30 s')), 30000));
  const bufs = await Promise.race([Promise.all([...Array(6)].map((_, i) => fetchModel(url + '?' + i))), hung]);
  return { shas: await Promise.all(bufs.map(hex)), workerJobs: __internal.stats.workerJobs - jobs };
};
window.ready = true;
</script>`;

const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

let server;
let context;
const requests = [];
const consoleMessages = [];
// Import maps do not reach workers: the package by its path.
const OPENFILE_WORKER = `
import { openFile } from '/node_modules/zipnn-wasm/index.js';
onmessage = async ({ data: url }) => {
  const blob = await (await fetch(url)).blob();
  const rs = new FileReaderSync();
  let reads = 0;
  const file = await openFile({ size: blob.size, read: (o, n) => { reads++; return new Uint8Array(rs.readAsArrayBuffer(blob.slice(o, o + n))); } });
  const out = new Uint8Array(file.size);
  for (const s of [...file.segments].reverse()) file.readInto(s.offset, out.subarray(s.offset, s.offset + s.length));
  const covered = file.segments.reduce((n, s) => n + s.length, 0);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', out));
  let code = null;
  try { file.read(file.size, 1); } catch (e) { code = e.code; }
  file.close();
  postMessage({ sha: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''), segments: file.segments.length, covered, size: file.size, reads, code });
};
`;

let userDataDir;

before(async () => {
  server = await startServer({
    root: project,
    routes: {
      '/': (req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      },
      // The same page under a CSP that forbids workers: fetchModel must fall back to in-thread.
      '/no-workers.html': (req, res) => {
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': "worker-src 'none'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'",
        });
        res.end(PAGE);
      },
      // Cross-origin isolated (COOP + COEP, also on the scripts below): shared memory, the pool.
      '/isolated.html': (req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...ISOLATION });
        res.end(PAGE);
      },
      // The same page in a "browser without wasm SIMD": the package must load its plain build.
      '/no-simd.html': (req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE.replace('<script type="importmap">', '<script>WebAssembly.validate = () => false;</script>\n<script type="importmap">'));
      },
      '/openfile-worker.js': (req, res) => {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(OPENFILE_WORKER);
      },
      '/favicon.ico': (req, res) => {
        res.writeHead(204);
        res.end();
      },
      '/fixtures/model.znw': (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(fixturePath('minilm.bf16.safetensors.znw')).size });
        fs.createReadStream(fixturePath('minilm.bf16.safetensors.znw')).pipe(res);
      },
      '/fixtures/model.znn': (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(fixturePath('minilm.bf16.znn')).size });
        fs.createReadStream(fixturePath('minilm.bf16.znn')).pipe(res);
      },
      '/fixtures/st.znn.safetensors': (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(readFile(zipnnFixture('st_minilm_meta.znn.safetensors')));
      },
      '/fixtures/model-fp32.znw': (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(fixturePath('minilm.fp32.safetensors.znw')).size });
        fs.createReadStream(fixturePath('minilm.fp32.safetensors.znw')).pipe(res);
      },
    },
    // A worker of an isolated page must be served with COEP too (else it does not load); the
    // plain pages are not isolated whatever their scripts say.
    headers: () => ({ 'cross-origin-embedder-policy': 'require-corp' }),
  });
  userDataDir = fs.mkdtempSync(path.join(env.work, 'chromium-profile-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context.on('request', (r) => requests.push(r));
});

after(async () => {
  await context?.close();
  await server?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

/** A new tab on `path`, ready; with `watched`, its console counts for the last test. */
async function openPage(path, watched = true) {
  const p = await context.newPage();
  if (watched) {
    p.on('console', (m) => consoleMessages.push(`${m.type()}: ${m.text()}`));
    p.on('pageerror', (e) => consoleMessages.push(`pageerror: ${e.message}`));
  }
  await p.goto(server.origin + path);
  await p.waitForFunction(() => window.ready === true, null, { timeout: 15000 });
  return p;
}

describe('headless Chromium', () => {
  let page;
  test('the page imports the installed package', async () => {
    page = await openPage('/');
  });

  test('fetchModel of a compressed real model gives the original sha256', async () => {
    const want = sha256(readFile(modelPath('minilm.bf16.safetensors')));
    const r = await page.evaluate((url) => window.runFetchModel(url), '/fixtures/model.znw');
    assert.equal(r.sha, want);
    assert.equal(r.workerJobs, 1, 'decoded in the module Worker');
    assert.ok(r.monotonic, 'progress is monotonic');
    assert.equal(r.bytes, fs.statSync(modelPath('minilm.bf16.safetensors')).size);
    assert.ok(r.tensors > 50, `tensors: ${r.tensors}`);
    assert.ok(r.events > 2);
    assert.equal(r.last[0], r.last[1], 'progress ends at the total');
    console.log(`# chromium fetchModel: ${(r.bytes / 1e6).toFixed(1)} MB decoded in ${r.ms.toFixed(0)} ms (${(r.bytes / 1e3 / r.ms).toFixed(0)} MB/s, ${r.events} progress events)`);
    // The .wasm came from next to the module, as application/wasm (so instantiateStreaming worked).
    const wasm = requests.filter((q) => q.url().endsWith('/node_modules/zipnn-wasm/dist/zipnn_wasm_bg.wasm'));
    assert.equal(wasm.length, 1, 'wasm fetched once');
    const resp = await wasm[0].response();
    assert.equal(resp.headers()['content-type'], 'application/wasm');
  });

  test('fetchModel in-thread ({ worker: false }) and the typed errors of both paths', async () => {
    const want = sha256(readFile(modelPath('minilm.bf16.safetensors')));
    const r = await page.evaluate((url) => window.runFetchModel(url, false), '/fixtures/model.znw');
    assert.equal(r.sha, want);
    assert.equal(r.workerJobs, 0);
    assert.ok(r.tensors > 50 && r.monotonic && r.last[0] === r.last[1]);
    for (const worker of [true, false]) {
      const b = await page.evaluate(([url, w]) => window.runBad(url, w), ['/fixtures/model.znw', worker]);
      assert.deepEqual(b.codes, { truncated: 'ZNN_TRUNCATED', corrupt: 'ZNN_CORRUPT', aborted: 'AbortError' }, `worker: ${worker}`);
      assert.ok(b.tensors > 0 && b.tensors < r.tensors, 'the tensors before the bad chunk, not after');
      assert.equal(b.again, want);
    }
  });

  test('a CSP without workers: fetchModel decodes in-thread, twice', async () => {
    const csp = await openPage('/no-workers.html', false); // its console gets the CSP report
    try {
      const want = sha256(readFile(modelPath('minilm.bf16.safetensors')));
      for (let i = 0; i < 2; i++) {
        const r = await csp.evaluate((url) => window.runFetchModel(url), '/fixtures/model.znw');
        assert.equal(r.sha, want);
        assert.equal(r.workerJobs, 0);
        assert.ok(r.tensors > 50 && r.monotonic);
      }
    } finally {
      await csp.close();
    }
  });

  test('without wasm SIMD the plain build is fetched and decodes the same bytes', async () => {
    const plain = await openPage('/no-simd.html', false);
    try {
      const r = await plain.evaluate((url) => window.runFetchModel(url), '/fixtures/model.znw');
      assert.equal(r.sha, sha256(readFile(modelPath('minilm.bf16.safetensors'))));
      assert.equal(r.workerJobs, 1, 'the decode worker runs the plain build too');
      assert.equal(await plain.evaluate(() => import('zipnn-wasm').then((z) => z.__internal.stats.wasm)), 'nosimd');
      const rt = await plain.evaluate(() => window.runRoundTrip());
      assert.deepEqual(rt, { same: [true, true, true, true], code: 'ZNN_CORRUPT' });
      const plainWasm = requests.filter((q) => q.url().endsWith('/dist/zipnn_wasm_nosimd_bg.wasm'));
      assert.equal(plainWasm.length, 1, 'the plain build fetched once');
    } finally {
      await plain.close();
    }
  });

  test('six concurrent fetchModel calls on a fresh page all finish', async () => {
    const fresh = await openPage('/');
    try {
      const r = await fresh.evaluate((url) => window.runSix(url), '/fixtures/model-fp32.znw');
      // (Decoded in the page or the worker: that depends on when its script gets through.)
      assert.deepEqual(r.shas, Array(6).fill(sha256(readFile(modelPath('minilm.fp32.safetensors')))));
      console.log(`# chromium: six concurrent fetchModel calls, ${r.workerJobs} of them in the worker`);
    } finally {
      await fresh.close();
    }
  });

  test('ZnnDecompressionStream on a fetch body', async () => {
    const r = await page.evaluate((url) => window.runStream(url), '/fixtures/model.znw');
    assert.equal(r.sha, sha256(readFile(modelPath('minilm.bf16.safetensors'))));
  });

  test('Decompressor: a download written into wasm memory, decoded and digested in place', async () => {
    const r = await page.evaluate(([a, b]) => window.runDecompressor(a, b), ['/fixtures/model.znw', '/fixtures/model.znn']);
    const want = sha256(readFile(modelPath('minilm.bf16.safetensors')));
    assert.deepEqual(r, { first: want, second: want });
  });

  test('openFile in a Worker: a Blob read at offsets with FileReaderSync, a tensor at a time', async () => {
    const r = await page.evaluate((url) => window.runOpenFile(url), '/fixtures/model.znw');
    const model = readFile(modelPath('minilm.bf16.safetensors'));
    assert.equal(r.sha, sha256(model));
    assert.deepEqual([r.size, r.covered, r.code], [model.length, model.length, 'ZNN_INVALID_INPUT']);
    assert.ok(r.segments > 100, `${r.segments} segments`);
  });

  test('compress/decompress round trips and typed errors in the page', async () => {
    const r = await page.evaluate(() => window.runRoundTrip());
    assert.deepEqual(r.same, [true, true, true, true]);
    assert.equal(r.code, 'ZNN_CORRUPT');
  });

  test('decompress({ threads: 2 }) in a page that is not cross-origin isolated: in-thread', async () => {
    const r = await page.evaluate((url) => window.runPool(url, 2), '/fixtures/model.znw');
    assert.equal(r.isolated, false);
    assert.equal(r.poolJobs, 0);
    assert.equal(r.shared, false);
    assert.equal(r.sha, sha256(readFile(modelPath('minilm.bf16.safetensors'))));
  });

  test('decompress({ threads: 2 }) in a cross-origin isolated page: the worker pool', async () => {
    const iso = await openPage('/isolated.html');
    try {
      // ZipNN streaming frames too (no checksums there: no corrupt case).
      for (const [url, k] of [['/fixtures/model.znw', 'bf16'], ['/fixtures/model-fp32.znw', 'fp32'], ['/fixtures/model.znn', 'bf16']]) {
        const want = sha256(readFile(modelPath(`minilm.${k}.safetensors`)));
        // The first call starts the workers; then a corrupt chunk, then the pool again.
        const calls = url.endsWith('.znn') ? [[2, false], ['auto', false]] : [[2, false], [2, true], ['auto', false]];
        for (const [threads, corrupt] of calls) {
          const r = await iso.evaluate(([u, t, c]) => window.runPool(u, t, c), [url, threads, corrupt]);
          assert.equal(r.isolated, true);
          assert.equal(r.poolJobs, corrupt ? 2 : 1, `${k} threads ${threads}`);
          assert.equal(r.shared, true);
          assert.equal(r.sha, want, `${k} threads ${threads}`);
          if (corrupt) assert.equal(r.code, 'ZNN_CORRUPT');
          console.log(`# chromium pool ${url.slice(10)} threads=${threads}: ${(r.bytes / 1e6).toFixed(1)} MB in ${r.ms.toFixed(0)} ms; a plain copy (.slice()) ${r.copyMs.toFixed(0)} ms`);
        }
        const [one, two] = await iso.evaluate(([u]) => window.timePool(u, 2, 5), [url]);
        console.log(`# chromium ${url.slice(10)} decompress(), best of 5 alternating: threads 1 ${one.toFixed(0)} ms, threads 2 ${two.toFixed(0)} ms (${(one / two).toFixed(2)}×)`);
      }
      const st = await iso.evaluate(() => window.runPoolSharedInput('/fixtures/st.znn.safetensors'));
      assert.deepEqual(st, { same: true, poolJobs: 1 });
    } finally {
      await iso.close();
    }
  });

  test('init() on a fresh page warms the decoder up in the next task', async () => {
    const fresh = await openPage('/');
    try {
      const r = await fresh.evaluate(async () => {
        const z = await import('zipnn-wasm');
        await z.init();
        const at = z.__internal.stats.warmUp;
        await new Promise((r) => setTimeout(r, 200));
        return { at, after: z.__internal.stats.warmUp };
      });
      assert.equal(r.at, 'scheduled');
      assert.equal(typeof r.after, 'number', String(r.after));
      console.log(`# chromium warm-up: ${r.after.toFixed(1)} ms`);
    } finally {
      await fresh.close();
    }
  });

  test('no console errors or warnings', () => {
    const bad = consoleMessages.filter((m) => /^(error|warning|pageerror)/.test(m));
    assert.deepEqual(bad, []);
  });
});
