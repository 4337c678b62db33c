// transformers.js 4.3.1 loading all-MiniLM-L6-v2 (real weights, ONNX built by build_models.py)
// whose weight files are served only compressed (the plain .onnx/.onnx_data answer 404), through
// examples/transformers-js/znn-cache.mjs as env.customCache and nothing else changed. The
// pipeline's output must be bitwise the output with the uncompressed files. In node (where
// transformers.js runs onnxruntime-node) and in headless Chromium (its bundled onnxruntime-web).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { env, pipeline } from '@huggingface/transformers';
import { ZnnCache } from './examples/transformers-js/znn-cache.mjs';
import { sha256 } from './helpers.mjs';
import { startStatic, launchChromium, pageWithImports, served, project, sameBits, ms } from './lib.mjs';

const TEXTS = ['A man is eating food.', 'A man is eating a piece of bread.', 'A monkey is playing drums.'];
const WEIGHTS = /\.(onnx|onnx_data)$/;
const TF_DIR = '/node_modules/@huggingface/transformers';
const ORT_DIST = `${TF_DIR}/node_modules/onnxruntime-web/dist/`;

let server;
before(async () => {
  const minilm = path.join(served, 'minilm');
  const znw = path.join(minilm, 'onnx/model.onnx.znw');
  server = await startStatic({
    mounts: {
      '/minilm/resolve/main/': minilm, // the Hub's layout, for env.remoteHost
      '/corrupt/resolve/main/': minilm, // the same files, but a corrupt model.onnx.znw (route below)
      '/models/': served, // a plain folder, for env.localModelPath
      '/node_modules/': path.join(project, 'node_modules'),
      '/examples/': path.join(project, 'examples'),
    },
    routes: {
      '/': (req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE),
      '/favicon.ico': (req, res) => res.writeHead(204).end(),
      // A twin with one bit flipped in the middle.
      '/corrupt/resolve/main/onnx/model.onnx.znw': (req, res) => {
        const b = fs.readFileSync(znw);
        b[b.length >> 1] ^= 0x10;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.length }).end(b);
      },
    },
  });
});
after(() => {
  if (cacheDir) fs.rmSync(cacheDir, { recursive: true, force: true });
  return server?.close();
});

// Also in the page (it gets this source). Equal embeddings alone would miss damage in weights the
// fixed texts never read (most rows of the word embeddings), so the test wraps the cache:
// `recording(cache, read)` passes every answer of `match` through unchanged and, for each body
// transformers.js reads to its end, sets read[file name] to the sha256 of what it read.
const RECORDING_SRC = `
const recording = (cache, read, digest) => ({
  async match(key) {
    const res = await cache.match(key);
    if (!res?.body) return res;
    const name = String(typeof key === 'string' ? key : key.url).split('/').pop();
    const reader = res.body.getReader();
    const chunks = [];
    const body = new ReadableStream(
      {
        async pull(c) {
          const { done, value } = await reader.read();
          if (!done) return chunks.push(value.slice()), c.enqueue(value);
          read[name] = await digest(chunks.splice(0));
          c.close();
        },
        cancel: (reason) => reader.cancel(reason),
      },
      { highWaterMark: 0 }, // reads only when transformers.js reads: an answer nobody reads stays unread
    );
    return new Response(body, { status: res.status, headers: res.headers });
  },
  put: (key, res) => cache.put(key, res),
});
`;
const { recording } = await import('data:text/javascript,' + encodeURIComponent(RECORDING_SRC + 'export { recording };'));
const nodeDigest = async (chunks) => sha256(Buffer.concat(chunks));
const fileSha = (file) => sha256(fs.readFileSync(path.join(served, 'minilm/onnx', file)));
/** Asserts transformers.js read exactly the original bytes of each of `files` (in minilm/onnx/). */
function readOriginals(read, files) {
  for (const f of files) assert.equal(read[f], fileSha(f), `${f} as transformers.js read it`);
}

/** Requests since `from` for paths matching `re`, as "STATUS path". */
const seen = (from, re) => server.requests.slice(from).filter((r) => re.test(r.path)).map((r) => `${r.status} ${r.path}`);

let cacheDir;
function configure({ cache = null } = {}) {
  env.allowLocalModels = false;
  env.allowRemoteModels = true;
  env.remoteHost = server.origin + '/';
  // Without a cache, transformers.js 4.3.1 in node cannot load a remote model (it asks for a
  // path and finds none): the baseline uses its file cache in a fresh directory.
  if (cacheDir) fs.rmSync(cacheDir, { recursive: true, force: true });
  cacheDir = fs.mkdtempSync(path.join(process.env.ZNN_WORK, 'tfjs-cache-'));
  env.cacheDir = cacheDir;
  env.useFSCache = !cache;
  env.useBrowserCache = false;
  env.useCustomCache = !!cache;
  env.customCache = cache;
}

async function embed(model, options = {}) {
  const extractor = await pipeline('feature-extraction', model, { device: 'cpu', ...options });
  const out = await extractor(TEXTS, { pooling: 'mean', normalize: true });
  await extractor.dispose();
  return out;
}

const cosine = (out, i, j) => {
  const d = out.dims[1];
  let s = 0;
  for (let k = 0; k < d; k++) s += out.data[i * d + k] * out.data[j * d + k];
  return s;
};

describe('transformers.js in node', () => {
  const want = {};

  test('baseline: the uncompressed files, no custom cache', async () => {
    configure();
    server.deny = /\.znw$/;
    for (const [dtype, options] of [['fp32', { dtype: 'fp32' }], ['fp16', { dtype: 'fp16', use_external_data_format: true }]]) {
      const t0 = performance.now();
      want[dtype] = await embed('minilm', options);
      console.log(`# node baseline ${dtype}: ${ms(t0)}`);
    }
    assert.deepEqual(want.fp32.dims, [3, 384]);
    // A real sentence-embedding model: the two eating sentences are close, the drums one is not.
    assert.ok(cosine(want.fp32, 0, 1) > cosine(want.fp32, 0, 2) + 0.4, `similarities ${cosine(want.fp32, 0, 1)} ${cosine(want.fp32, 0, 2)}`);
  });

  test('ZnnCache: FP32 model.onnx from its .znw twin only; output bitwise identical', async () => {
    const read = {};
    configure({ cache: recording(new ZnnCache(), read, nodeDigest) });
    server.deny = WEIGHTS;
    const from = server.requests.length;
    const t0 = performance.now();
    const got = await embed('minilm', { dtype: 'fp32' });
    readOriginals(read, ['model.onnx']);
    console.log(`# node ZnnCache fp32: ${ms(t0)}; requests: ${seen(from, /onnx/).join(', ')}`);
    assert.ok(sameBits(got.data, want.fp32.data), 'embeddings differ');
    assert.deepEqual(seen(from, /model\.onnx\.znw$/), ['200 /minilm/resolve/main/onnx/model.onnx.znw'], 'the twin, downloaded once');
    assert.deepEqual(seen(from, /\.onnx$/), [], 'the plain model was never requested');
  });

  test('ZnnCache.match: the decoded file with its Content-Length; an unread answer hands its download over', async () => {
    server.deny = WEIGHTS;
    const cache = new ZnnCache();
    const url = `${server.origin}/minilm/resolve/main/onnx/model.onnx`;
    const plain = fs.readFileSync(path.join(served, 'minilm/onnx/model.onnx'));
    const from = server.requests.length;
    const first = await cache.match(url);
    const second = await cache.match(url); // as transformers.js does in node
    assert.equal(Number(second.headers.get('content-length')), plain.length);
    assert.ok(Buffer.from(await second.arrayBuffer()).equals(plain), 'decoded bytes');
    await assert.rejects(() => first.arrayBuffer(), /handed to a later match/);
    assert.equal(seen(from, /\.znw$/).length, 1, 'one download');
    assert.equal(await cache.match(`${server.origin}/minilm/resolve/main/config.json`), undefined, 'not a weight file');
    assert.equal(await cache.match(`${server.origin}/minilm/resolve/main/onnx/missing.onnx`), undefined, 'no twin');
    // A site that answers every path with its page (200, HTML): no twin either.
    const spa = new ZnnCache({ fetch: async () => new Response('<!doctype html><html><body>app</body></html>', { headers: { 'content-type': 'text/html' } }) });
    assert.equal(await spa.match(url), undefined, 'a 2xx answer that is not a compressed file');
  });

  test('ZnnCache: FP16 model with external data, both files from twins; output bitwise identical', async () => {
    const read = {};
    configure({ cache: recording(new ZnnCache(), read, nodeDigest) });
    server.deny = WEIGHTS;
    const from = server.requests.length;
    const got = await embed('minilm', { dtype: 'fp16', use_external_data_format: true });
    readOriginals(read, ['model_fp16.onnx', 'model_fp16.onnx_data']);
    assert.ok(sameBits(got.data, want.fp16.data), 'embeddings differ');
    const twins = seen(from, /\.znw$/).filter((r) => r.startsWith('200 '));
    assert.ok(twins.some((r) => r.endsWith('model_fp16.onnx.znw')) && twins.some((r) => r.endsWith('model_fp16.onnx_data.znw')), twins.join(', '));
    assert.deepEqual(seen(from, WEIGHTS), []);
  });

  test('ZnnCache with a store keeps the compressed bytes and serves the next load offline', async () => {
    const map = new Map();
    const store = {
      async match(k) {
        const v = map.get(k);
        return v && new Response(v.bytes, { headers: v.headers });
      },
      async put(k, r) {
        map.set(k, { bytes: new Uint8Array(await r.arrayBuffer()), headers: [...r.headers] });
      },
      async delete(k) {
        return map.delete(k);
      },
    };
    const cache = new ZnnCache({ store });
    let read = {};
    configure({ cache: recording(cache, read, nodeDigest) });
    server.deny = WEIGHTS;
    assert.ok(sameBits((await embed('minilm', { dtype: 'fp32' })).data, want.fp32.data));
    readOriginals(read, ['model.onnx']);
    const key = `${server.origin}/minilm/resolve/main/onnx/model.onnx.znw`;
    assert.equal(map.get(key)?.bytes.length, fs.statSync(path.join(served, 'minilm/onnx/model.onnx.znw')).size, 'stored compressed');
    const from = server.requests.length;
    read = {};
    env.customCache = recording(cache, read, nodeDigest);
    assert.ok(sameBits((await embed('minilm', { dtype: 'fp32' })).data, want.fp32.data));
    readOriginals(read, ['model.onnx']);
    assert.deepEqual(seen(from, /./), [], 'second load made no request');
  });

  test('ZnnCache falls back to the original file when there is no twin', async () => {
    configure({ cache: new ZnnCache() });
    server.deny = /\.znw$/;
    const from = server.requests.length;
    assert.ok(sameBits((await embed('minilm', { dtype: 'fp32' })).data, want.fp32.data));
    assert.ok(seen(from, /model\.onnx$/).some((r) => r.startsWith('200 ')), 'the plain model was loaded');
  });

  test("the README's example examples/transformers-js/node.mjs: the original model's answer, from the twin", async () => {
    configure();
    server.deny = /\.znw$/;
    const extractor = await pipeline('feature-extraction', 'minilm', { device: 'cpu', dtype: 'fp32' });
    const [a, b] = (await extractor(['A man is eating food.', 'A man is eating bread.'], { pooling: 'mean', normalize: true })).tolist();
    await extractor.dispose();
    server.deny = WEIGHTS;
    const from = server.requests.length;
    // Not execFileSync: the server answering it runs in this process.
    const script = path.join(project, 'examples/transformers-js/node.mjs');
    const { stdout } = await promisify(execFile)(process.execPath, [script, server.origin + '/', 'minilm'], { cwd: project, timeout: 120000 });
    assert.equal(stdout, `cosine similarity: ${a.reduce((s, x, i) => s + x * b[i], 0).toFixed(4)}\n`);
    assert.deepEqual(seen(from, /\.onnx(\.znw)?$/), ['200 /minilm/resolve/main/onnx/model.onnx.znw']);
  });

  test('a corrupt twin makes the pipeline fail (ZNN_CORRUPT), not load wrong weights', async () => {
    configure({ cache: new ZnnCache() });
    server.deny = WEIGHTS;
    await assert.rejects(
      () => embed('corrupt', { dtype: 'fp32' }),
      (e) => {
        // The code only: the model's name ('corrupt') is in the URLs, so in messages too.
        let c = e;
        while (c && c.code !== 'ZNN_CORRUPT') c = c.cause;
        return !!c;
      },
    );
  });
});

const PAGE = pageWithImports(
  { '@huggingface/transformers': `${TF_DIR}/dist/transformers.js`, 'zipnn-wasm': '/node_modules/zipnn-wasm/index.js' },
  `<script type="module">
import { env, pipeline } from '@huggingface/transformers';
import { ZnnCache } from '/examples/transformers-js/znn-cache.mjs';
env.backends.onnx.wasm.wasmPaths = { mjs: '${ORT_DIST}ort-wasm-simd-threaded.asyncify.mjs', wasm: '${ORT_DIST}ort-wasm-simd-threaded.asyncify.wasm' };
env.backends.onnx.wasm.numThreads = 1;
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = '/models/';
env.useBrowserCache = false;
const TEXTS = ${JSON.stringify(TEXTS)};
${RECORDING_SRC}
const hex = async (chunks) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', await new Blob(chunks).arrayBuffer()))].map((x) => x.toString(16).padStart(2, '0')).join('');
async function embed(options) {
  const extractor = await pipeline('feature-extraction', 'minilm', options);
  const out = await extractor(TEXTS, { pooling: 'mean', normalize: true });
  await extractor.dispose();
  return new Uint8Array(out.data.buffer.slice(0));
}
window.run = async ({ cache, options }) => {
  env.useCustomCache = cache !== 'none';
  const read = {};
  env.customCache = cache === 'none' ? null : recording(new ZnnCache(cache === 'store' ? { store: await caches.open('znn-test') } : {}), read, hex);
  const t0 = performance.now();
  const progress = {};
  const bytes = await embed({ ...options, progress_callback: (p) => p.status === 'progress' && p.file.endsWith('.onnx') && (progress[p.file] = { loaded: p.loaded, total: p.total }) });
  return { bytes: Array.from(bytes), ms: performance.now() - t0, progress, read };
};
window.ready = true;
</script>`,
);

describe('transformers.js in headless Chromium', () => {
  let browser;
  const want = {};
  before(async () => {
    browser = await launchChromium();
    await browser.page.goto(server.origin + '/');
    await browser.page.waitForFunction(() => window.ready === true, null, { timeout: 30000 });
  });
  after(() => browser?.close());

  const run = (cache, options) => browser.page.evaluate((a) => window.run(a), { cache, options });

  test('baseline and ZnnCache (env.localModelPath on the local server): bitwise identical, FP32 and FP16 + external data', async () => {
    server.deny = /\.znw$/;
    for (const [dtype, options] of [['fp32', { dtype: 'fp32' }], ['fp16', { dtype: 'fp16', use_external_data_format: true }]]) {
      const base = await run('none', options);
      want[dtype] = base.bytes;
      server.deny = WEIGHTS;
      const from = server.requests.length;
      const got = await run('plain', options);
      server.deny = /\.znw$/;
      assert.deepEqual(got.bytes, base.bytes, `${dtype} embeddings differ`);
      readOriginals(got.read, dtype === 'fp32' ? ['model.onnx'] : ['model_fp16.onnx', 'model_fp16.onnx_data']);
      // transformers.js's progress_callback counts the decoded bytes against the decoded size.
      const file = dtype === 'fp32' ? 'onnx/model.onnx' : 'onnx/model_fp16.onnx';
      const size = fs.statSync(path.join(served, 'minilm', file)).size;
      assert.deepEqual(got.progress[file], { loaded: size, total: size }, 'last progress event');
      assert.deepEqual(seen(from, WEIGHTS), [], 'no plain weight file requested');
      assert.ok(seen(from, /\.znw$/).every((r) => r.startsWith('200 ')) && seen(from, /\.znw$/).length > 0);
      console.log(`# chromium ${dtype}: baseline ${base.ms.toFixed(0)} ms, ZnnCache ${got.ms.toFixed(0)} ms; ${seen(from, /\.znw$/).join(', ')}`);
    }
  });

  test('ZnnCache with the Cache API as store: the second load makes no request', async () => {
    server.deny = WEIGHTS;
    const first = await run('store', { dtype: 'fp32' });
    assert.deepEqual(first.bytes, want.fp32);
    readOriginals(first.read, ['model.onnx']);
    const from = server.requests.length;
    const second = await run('store', { dtype: 'fp32' });
    assert.deepEqual(second.bytes, want.fp32);
    readOriginals(second.read, ['model.onnx']);
    assert.deepEqual(seen(from, /\/models\//), [], 'served from the store');
    console.log(`# chromium Cache API store: first ${first.ms.toFixed(0)} ms, second (offline) ${second.ms.toFixed(0)} ms`);
  });

  test('no page errors', () => {
    const bad = browser.messages.filter((x) => /^(error|pageerror)/.test(x));
    assert.deepEqual(bad, []);
  });
});
