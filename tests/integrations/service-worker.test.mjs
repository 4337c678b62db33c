// examples/service-worker in headless Chromium: a page whose model URLs are answered by sw.js from
// the compressed files. The server's /models/ holds only .znw files (by the native CLI); the page
// asks for the plain names, with onnxruntime-web (a URL for the model and for its external data)
// and with fetch(). Checked: outputs bitwise equal to the plain models' (run in the same page
// before the worker was registered), the bytes and Content-Length of the original files, only
// .znw files downloaded, each once (the second load comes from Cache Storage, with the server's
// /models/ gone; requests made together share one download), byte ranges, a damaged file
// failing the page's read and leaving the cache, a ZipNN file (no checksums) refused, plain
// files served where no .znw exists, register.mjs resolving to false for a page outside the
// worker's scope, and the example's own demo page.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sha256, env } from './helpers.mjs';
import { startStatic, launchChromium, pageWithImports, served, project, compressFile } from './lib.mjs';

const MODELS = [
  { kind: 'vad', file: 'silero_vad.onnx' },
  { kind: 'bert', file: 'minilm/onnx/model.onnx' },
  { kind: 'bert', file: 'minilm/onnx/model_fp16.onnx', external: 'model_fp16.onnx_data' },
];
const dataFile = (m) => path.join(path.dirname(m.file), m.external);
const FILES = MODELS.flatMap((m) => (m.external ? [m.file, dataFile(m)] : [m.file]));
const local = (f) => path.join(served, f);
const example = path.join(project, 'examples/service-worker');

// A folder with only the compressed files, one with only a plain one, and a damaged .znw: a
// byte flipped in the middle of silero's first chunk body (its checksum catches it).
const onlyZnw = path.join(env.work, 'sw-znw');
const onlyPlain = path.join(env.work, 'sw-plain');
let damaged, znn;

const PAGE = pageWithImports(
  { 'onnxruntime-web': '/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs' },
  `<script type="module">
import * as ort from 'onnxruntime-web';
import { useCompressedModels } from '/examples/service-worker/register.mjs';
ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
ort.env.wasm.numThreads = 1;
const audio = (frame) => Float32Array.from({ length: 512 }, (_, i) => 0.4 * Math.sin((frame * 512 + i) / 7));
const TOKENS = [[101, 1037, 2158, 2003, 5983, 2833, 1012, 102], [101, 7592, 2088, 102, 0, 0, 0, 0]];
async function run(session, kind) {
  const outs = [];
  if (kind === 'vad') {
    let state = new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]);
    for (let frame = 0; frame < 3; frame++) {
      const r = await session.run({ input: new ort.Tensor('float32', audio(frame), [1, 512]), state, sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []) });
      state = r.stateN;
      outs.push(r.output.data, r.stateN.data);
    }
  } else {
    const ids = BigInt64Array.from(TOKENS.flat(), BigInt);
    const dims = [TOKENS.length, TOKENS[0].length];
    const r = await session.run({
      input_ids: new ort.Tensor('int64', ids, dims),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(TOKENS.flat(), (t) => (t ? 1n : 0n)), dims),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(ids.length), dims),
    });
    outs.push(r.last_hidden_state.data);
  }
  return outs.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}
const hex = async (b) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map((x) => x.toString(16).padStart(2, '0')).join('');
/** Output hashes of a model loaded by URL from \`dir\` (external data by URL too). */
window.outputs = async (dir, file, kind, external) => {
  const at = file.slice(0, file.lastIndexOf('/') + 1);
  const options = { executionProviders: ['wasm'] };
  if (external) options.externalData = [{ path: external, data: dir + at + external }];
  const session = await ort.InferenceSession.create(dir + file, options);
  const outs = await run(session, kind);
  await session.release();
  return Promise.all(outs.map(hex));
};
window.fetched = async (url, init) => {
  const r = await fetch(url, init);
  const body = init?.method === 'HEAD' ? null : await r.arrayBuffer();
  return { status: r.status, length: r.headers.get('content-length'), hash: body && (await hex(body)), size: body?.byteLength };
};
window.ranged = async (url, range) => {
  const r = await fetch(url, { headers: { range } });
  const body = await r.arrayBuffer();
  return { status: r.status, length: r.headers.get('content-length'), range: r.headers.get('content-range'), hash: await hex(body) };
};
window.failure = (url) => fetch(url).then((r) => r.arrayBuffer()).then((b) => 'read ' + b.byteLength + ' bytes', (e) => e.name + ': ' + e.message);
window.cached = async () => {
  const cache = await caches.open('zipnn-wasm-models');
  const out = {};
  for (const req of await cache.keys()) {
    const r = await cache.match(req); // gone if the worker dropped it meanwhile
    if (r) out[new URL(req.url).pathname] = (await r.arrayBuffer()).byteLength;
  }
  return out;
};
window.useCompressedModels = useCompressedModels;
window.ready = true;
</script>`,
);

/** silero_vad.onnx.znw, 64 KiB every `ms`. */
const slowly = (ms) => (req, res) => {
  const bytes = fs.readFileSync(local('silero_vad.onnx.znw'));
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length, 'cache-control': 'no-store' });
  if (req.method === 'HEAD') return res.end();
  let at = 0;
  const next = () => (at >= bytes.length ? res.end() : (res.write(bytes.subarray(at, (at += 65536))), setTimeout(next, ms)));
  next();
};

function shortWait(js) {
  const out = js.replace(/const WAIT_MS = [\d_]+;/, 'const WAIT_MS = 3000;');
  assert.notEqual(out, js, 'sw.js sets WAIT_MS');
  return out;
}

/** silero_vad.onnx.znw, but the first request gets 200 KB and then nothing more. Cacheable:
 * the browser's HTTP cache must not make the next request wait for this one. */
const stalled = [];
const stallFirst = (req, res) => {
  const bytes = fs.readFileSync(local('silero_vad.onnx.znw'));
  const headers = { 'content-type': 'application/octet-stream', 'content-length': bytes.length, 'cache-control': 'max-age=3600' };
  res.writeHead(200, headers);
  if (stalled.length) return res.end(bytes);
  res.write(bytes.subarray(0, 200000));
  stalled.push(res);
};

let server;
before(async () => {
  for (const dir of [onlyZnw, onlyPlain]) fs.rmSync(dir, { recursive: true, force: true });
  for (const f of FILES) {
    fs.mkdirSync(path.dirname(path.join(onlyZnw, f)), { recursive: true });
    fs.symlinkSync(local(f) + '.znw', path.join(onlyZnw, f) + '.znw');
  }
  fs.mkdirSync(onlyPlain, { recursive: true });
  fs.symlinkSync(local('silero_vad.onnx'), path.join(onlyPlain, 'silero_vad.onnx'));
  const znnFile = path.join(env.work, 'sw-model.znn');
  compressFile(local('silero_vad.onnx'), znnFile, '--format', 'zipnn', '--dtype', 'fp32');
  znn = fs.readFileSync(znnFile);
  damaged = new Uint8Array(fs.readFileSync(local('silero_vad.onnx.znw')));
  damaged[Math.floor(damaged.length / 2)] ^= 0x10;
  const send = (bytes, type) => (req, res) => {
    res.writeHead(200, { 'content-type': type, 'content-length': bytes.length, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };
  server = await startStatic({
    mounts: {
      '/models/': onlyZnw,
      '/plain/': served, // both kinds: the baselines are read here before the worker exists
      '/only-plain/': onlyPlain,
      '/node_modules/': path.join(project, 'node_modules'),
      '/examples/': path.join(project, 'examples'),
    },
    routes: {
      '/': send(Buffer.from(PAGE), 'text/html; charset=utf-8'),
      '/favicon.ico': (req, res) => res.writeHead(204).end(),
      // At the root, so that its scope is the whole site; waiting 3 s at most for another
      // request's download instead of a minute.
      '/sw.js': send(Buffer.from(shortWait(fs.readFileSync(path.join(example, 'sw.js'), 'utf8'))), 'text/javascript; charset=utf-8'),
      '/bad/model.onnx.znw': send(damaged, 'application/octet-stream'),
      '/znn/model.onnx.znw': send(znn, 'application/octet-stream'),
      // Slowly, so that requests made together overlap its download: in 0.6 s, and in 4.5 s
      // (longer than the worker's wait here, shorter than twice that).
      '/slow/model.onnx.znw': slowly(20),
      '/slower/model.onnx.znw': slowly(165),
      '/stall/model.onnx.znw': stallFirst,
      '/fresh/model.onnx.znw': slowly(0),
      // The demo page loads ./silero_vad.onnx, served from silero_vad.onnx.znw next to it.
      '/examples/service-worker/silero_vad.onnx.znw': send(fs.readFileSync(local('silero_vad.onnx.znw')), 'application/octet-stream'),
    },
  });
});
after(async () => {
  for (const res of stalled) res.destroy();
  await server?.close();
  for (const dir of [onlyZnw, onlyPlain]) fs.rmSync(dir, { recursive: true, force: true });
});

const requested = (p) => server.requests.filter((r) => r.path === p);

describe('examples/service-worker in headless Chromium', () => {
  let browser;
  const baseline = new Map();
  before(async () => {
    browser = await launchChromium();
    await browser.page.goto(server.origin + '/');
    await browser.page.waitForFunction(() => window.ready === true, null, { timeout: 30000 });
  });
  after(() => browser?.close());
  const page = () => browser.page;

  test('baselines: the plain models, before the worker is registered', async () => {
    assert.equal(await page().evaluate(() => navigator.serviceWorker.controller), null);
    for (const m of MODELS) baseline.set(m.file, await page().evaluate((a) => window.outputs('/plain/', ...a), [m.file, m.kind, m.external ?? null]));
    assert.ok(requested('/plain/silero_vad.onnx').length > 0);
  });

  test('useCompressedModels registers sw.js and it takes over the page at once', async () => {
    assert.equal(await page().evaluate(() => window.useCompressedModels('/sw.js')), true);
    assert.equal(await page().evaluate(() => navigator.serviceWorker.controller?.scriptURL), server.origin + '/sw.js');
  });

  test('useCompressedModels resolves to false at once for a page outside the worker\'s scope', async () => {
    const t0 = performance.now();
    assert.equal(await page().evaluate(() => window.useCompressedModels('/examples/service-worker/sw.js')), false);
    assert.ok(performance.now() - t0 < 5000);
    assert.equal(await page().evaluate(() => navigator.serviceWorker.controller?.scriptURL), server.origin + '/sw.js');
  });

  for (const m of MODELS) {
    test(`onnxruntime-web loads ${m.file}${m.external ? ' and its external data' : ''} by URL: the original outputs, from .znw files only`, async () => {
      const t0 = performance.now();
      const got = await page().evaluate((a) => window.outputs('/models/', ...a), [m.file, m.kind, m.external ?? null]);
      assert.deepEqual(got, baseline.get(m.file));
      for (const f of m.external ? [m.file, dataFile(m)] : [m.file]) {
        assert.equal(requested(`/models/${f}`).length, 0, `the plain ${f} was never asked of the server`);
        assert.equal(requested(`/models/${f}.znw`).length, 1, `${f}.znw downloaded once`);
      }
      console.log(`# ${m.file}: ${got.length} outputs identical, ${(performance.now() - t0).toFixed(0)} ms`);
    });
  }

  test('fetch() of a model URL: the original bytes, Content-Length the decoded size (GET and HEAD)', async () => {
    for (const f of FILES) {
      const plain = fs.readFileSync(local(f));
      const got = await page().evaluate((u) => window.fetched(u), `/models/${f}`);
      assert.deepEqual(got, { status: 200, length: String(plain.length), hash: sha256(plain), size: plain.length }, f);
    }
    const head = await page().evaluate((u) => window.fetched(u, { method: 'HEAD' }), '/models/silero_vad.onnx');
    assert.equal(head.length, String(fs.statSync(local('silero_vad.onnx')).size));
  });

  test('a Range request gets its part (206), from a cached file and from a fresh download', async () => {
    for (const [f, fresh] of [['silero_vad.onnx', false], ['minilm/onnx/model_fp16.onnx_data', false], ['silero_vad.onnx', true]]) {
      const plain = fs.readFileSync(local(f));
      const n = plain.length;
      const url = fresh ? '/fresh/model.onnx' : `/models/${f}`;
      const part = (start, end) => ({ status: 206, length: String(end - start), range: `bytes ${start}-${end - 1}/${n}`, hash: sha256(plain.subarray(start, end)) });
      const cases = [
        ['bytes=0-7', part(0, 8)],
        ['bytes=1000-1999', part(1000, 2000)],
        [`bytes=${n - 300000}-`, part(n - 300000, n)],
        ['bytes=-16', part(n - 16, n)],
        [`bytes=5-${n + 99}`, part(5, n)],
        [`bytes=${n}-`, { status: 416, length: null, range: `bytes */${n}`, hash: sha256(Buffer.alloc(0)) }],
        // Ignored (the whole file): several ranges, a last byte before the first.
        ['bytes=0-1, 4-5', { status: 200, length: String(n), range: null, hash: sha256(plain) }],
        ['bytes=9-3', { status: 200, length: String(n), range: null, hash: sha256(plain) }],
      ];
      for (const [range, want] of cases) assert.deepEqual(await page().evaluate((a) => window.ranged(...a), [url, range]), want, `${url} ${range}`);
    }
    // The fresh file's first request downloaded it whole into the cache; the rest read it there.
    assert.equal(requested('/fresh/model.onnx.znw').length, 1);
    assert.equal((await page().evaluate(() => window.cached()))['/fresh/model.onnx.znw'], fs.statSync(local('silero_vad.onnx.znw')).size);
  });

  test('requests for one model made while it downloads share that download', async () => {
    const plain = fs.readFileSync(local('silero_vad.onnx'));
    const want = { status: 200, length: String(plain.length), hash: sha256(plain), size: plain.length };
    const got = await page().evaluate((u) => Promise.all([window.fetched(u), window.fetched(u), window.fetched(u)]), '/slow/model.onnx');
    assert.deepEqual(got, [want, want, want]);
    assert.equal(requested('/slow/model.onnx.znw').length, 1);
  });

  test('requests that wait longer than WAIT_MS (3 s here): one downloads the file again, the rest wait for either download', async () => {
    const plain = fs.readFileSync(local('silero_vad.onnx'));
    const want = { status: 200, length: String(plain.length), hash: sha256(plain), size: plain.length };
    const u = '/slower/model.onnx';
    assert.deepEqual(await page().evaluate((u) => Promise.all([1, 2, 3, 4].map(() => window.fetched(u))), u), [want, want, want, want]);
    assert.equal(requested(`${u}.znw`).length, 2);
    assert.deepEqual(await page().evaluate((u) => window.fetched(u), u), want);
    assert.equal(requested(`${u}.znw`).length, 2);
  });

  test('a download that stalls holds up nothing once another request has stored the file, and its failure drops nothing', { timeout: 60000 }, async () => {
    const plain = fs.readFileSync(local('silero_vad.onnx'));
    const want = { status: 200, length: String(plain.length), hash: sha256(plain), size: plain.length };
    const u = '/stall/model.onnx';
    await page().evaluate((u) => {
      window.stuckRead = fetch(u).then((r) => r.arrayBuffer()).then(() => 'read', (e) => e.name);
    }, u);
    // This one waits 3 s for the stalled download, then downloads the file itself.
    assert.deepEqual(await page().evaluate((u) => window.fetched(u), u), want);
    // The next one reads the cache at once, though the first download is still stalled.
    const t0 = Date.now();
    assert.deepEqual(await page().evaluate((u) => window.fetched(u), u), want);
    assert.ok(Date.now() - t0 < 1500, `the third request took ${Date.now() - t0} ms (waited for the stalled download?)`);
    assert.equal(requested(`${u}.znw`).length, 2);
    // The stalled download fails: its read fails, and the good file stays in the cache.
    stalled[0].destroy();
    assert.equal(await page().evaluate(() => window.stuckRead), 'TypeError');
    await new Promise((r) => setTimeout(r, 500)); // a wrongful drop would be done by now
    assert.equal((await page().evaluate(() => window.cached()))[`${u}.znw`], fs.statSync(local('silero_vad.onnx.znw')).size);
    assert.deepEqual(await page().evaluate((u) => window.fetched(u), u), want);
    assert.equal(requested(`${u}.znw`).length, 2);
  });

  test('Cache Storage holds the compressed files; a second visit needs no server', async () => {
    const cached = await page().evaluate(() => window.cached());
    for (const f of FILES) assert.equal(cached[`/models/${f}.znw`], fs.statSync(local(f) + '.znw').size, f);
    for (const f of FILES) assert.equal(requested(`/models/${f}.znw`).length, 1, `${f}.znw downloaded once in all`);
    server.deny = /^\/models\//;
    try {
      await page().reload();
      await page().waitForFunction(() => window.ready === true && navigator.serviceWorker.controller !== null, null, { timeout: 30000 });
      const m = MODELS[2];
      assert.deepEqual(await page().evaluate((a) => window.outputs('/models/', ...a), [m.file, m.kind, m.external]), baseline.get(m.file));
    } finally {
      server.deny = null;
    }
  });

  test('a damaged .znw fails the read (no bytes), is dropped from the cache and fetched again next time', async () => {
    const err = await page().evaluate((u) => window.failure(u), '/bad/model.onnx');
    assert.match(err, /^TypeError/, err);
    // The worker drops the entry once the cache write it raced with is done.
    const t0 = Date.now();
    while ('/bad/model.onnx.znw' in (await page().evaluate(() => window.cached()))) {
      assert.ok(Date.now() - t0 < 10000, 'the damaged file is still in the cache after 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(await page().evaluate((u) => window.failure(u), '/bad/model.onnx'), /^TypeError/);
    assert.equal(requested('/bad/model.onnx.znw').length, 2);
  });

  test('a ZipNN file at URL.znw (no checksums) is not served: status 502, nothing kept', async () => {
    const got = await page().evaluate((u) => window.fetched(u), '/znn/model.onnx');
    assert.equal(got.status, 502);
    assert.ok(!('/znn/model.onnx.znw' in (await page().evaluate(() => window.cached()))));
  });

  test('a model with no .znw next to it comes from the network as it is', async () => {
    const plain = fs.readFileSync(local('silero_vad.onnx'));
    const got = await page().evaluate((u) => window.fetched(u), '/only-plain/silero_vad.onnx');
    assert.equal(got.hash, sha256(plain));
    assert.deepEqual(requested('/only-plain/silero_vad.onnx.znw').map((r) => r.status), [404]);
  });

  test('no page errors', () => {
    // The ones the ZipNN file's and the ranges' tests asked for.
    const expected = (x) => /status of (502|416)/.test(x);
    assert.deepEqual(browser.messages.filter((x) => /^(error|pageerror)/.test(x) && !expected(x)), []);
  });
});

test('the demo page examples/service-worker/index.html runs from silero_vad.onnx.znw', async () => {
  const browser = await launchChromium();
  try {
    await browser.page.goto(server.origin + '/examples/service-worker/index.html');
    await browser.page.waitForFunction(() => /^speech probability/.test(document.getElementById('out').textContent), null, { timeout: 30000 });
    assert.equal(requested('/examples/service-worker/silero_vad.onnx').length, 0);
    console.log(`# demo page: ${await browser.page.textContent('#out')}`);
  } finally {
    await browser.close();
  }
});
