// examples/worker/worker.js under workerd (npm `workerd`, 127.0.0.1): models stored compressed in
// a folder bound as env.ASSETS (a workerd disk service, standing in for static assets / R2) are
// streamed decoded through ZnnDecompressionStream. The big case is a ~168 MB BF16 safetensors
// (generated once into target/integrations/big/, compressed by the native CLI): the decoded
// stream's sha256 must equal the original's, while the isolate's memory stays under the 128 MB
// Workers limit. workerd has no per-isolate memory limit setting, so the test measures, every
// 20 ms during the transfer, through workerd's inspector (CDP Runtime.getHeapUsage): the V8 heap
// in use plus ArrayBuffer backing stores (chunks not yet garbage-collected included), plus the
// wasm memory at the end, and also workerd's whole-process RSS (/proc): the inspector's count
// misses buffers workerd allocates itself (a body read whole with arrayBuffer()), the RSS bound
// does not. A test-only route that buffers the whole model shows the measurement does see
// buffering. The same model also goes through an R2-like env.BUCKET, in a fresh workerd.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { env, sha256, freePort, waitFor, rng } from './helpers.mjs';
import { project, compressFile, CLI } from './lib.mjs';
import WebSocket from 'ws';
import { writeWorkerdConfig } from './examples/worker/workerd-config.mjs';

const WORKERD = path.join(env.tools, '.bin/workerd');
const BIG_DIR = path.join(env.work, 'big');
const BIG = path.join(BIG_DIR, 'big.safetensors');
const BIG_TENSORS = 20;
const BIG_SHAPE = [2048, 2048]; // BF16: 8 MiB each, 160 MiB in all
const MB = 1e6;

// Test-only routes around the example (which stays untouched).
const TEST_WORKER = `
import example from './worker.js';
import { decompress } from 'zipnn-wasm';
import { initSync as wasmExports } from './dist/zipnn_wasm.js';
// An R2-like bucket over the disk service: get(key) answers an object with R2's body, size and
// httpEtag (null when there is no such key), its body streamed as R2's is.
const bucket = (assets, base) => ({
  async get(key) {
    const res = await assets.fetch(new URL('/' + key, base));
    if (res.status === 404) return null;
    if (!res.ok) throw new Error('bucket: ' + key + ' answered ' + res.status);
    return { key, size: Number(res.headers.get('content-length')), httpEtag: '"' + key + '"', body: res.body };
  },
});
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    // /r2/models/NAME: the example with env.BUCKET bound (and no env.ASSETS).
    if (url.pathname.startsWith('/r2/')) {
      const inner = new Request(new URL(url.pathname.slice(3), url), request);
      return example.fetch(inner, { BUCKET: bucket(env.ASSETS, request.url) }, ctx);
    }
    // The wasm instance's linear memory (initSync returns the live instance once initialised).
    if (url.pathname === '/wasm-memory') return Response.json({ bytes: wasmExports().memory.buffer.byteLength });
    if (url.pathname.startsWith('/buffered/')) {
      // The anti-pattern: the whole compressed file, then the whole decoded one, in the isolate.
      const res = await env.ASSETS.fetch(new URL('/' + url.pathname.slice('/buffered/'.length) + '.znw', request.url));
      return new Response(await decompress(await res.arrayBuffer()));
    }
    return example.fetch(request, env, ctx);
  },
};
`;

/**
 * Writes the big BF16 safetensors (deterministic) unless it is there, and compresses it unless
 * its .znw is newer than it and the CLI; returns its sha256.
 */
function makeBig() {
  fs.mkdirSync(BIG_DIR, { recursive: true });
  const shaFile = BIG + '.sha256';
  const mtime = (f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : -1);
  if (!(fs.existsSync(BIG) && fs.existsSync(shaFile))) generateBig(shaFile);
  if (mtime(BIG + '.znw') < Math.max(mtime(BIG), mtime(CLI))) {
    const t0 = performance.now();
    compressFile(BIG, BIG + '.znw');
    console.log(`# compressed big.safetensors to ${(fs.statSync(BIG + '.znw').size / MB).toFixed(1)} MB in ${(performance.now() - t0).toFixed(0)} ms`);
  }
  return fs.readFileSync(shaFile, 'utf8').trim();
}

function generateBig(shaFile) {
  const t0 = performance.now();
  const count = BIG_SHAPE[0] * BIG_SHAPE[1];
  const header = {};
  for (let i = 0; i < BIG_TENSORS; i++) header[`layers.${i}.weight`] = { dtype: 'BF16', shape: BIG_SHAPE, data_offsets: [i * count * 2, (i + 1) * count * 2] };
  header.__metadata__ = { format: 'pt' };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const prefix = Buffer.alloc(8 + json.length);
  prefix.writeBigUInt64LE(BigInt(json.length));
  prefix.write(json, 8, 'latin1');
  // A pool of normally distributed BF16 values, sampled at random per tensor with its own scale.
  const r = rng(42);
  const pool = new Float32Array(1 << 20);
  for (let i = 0; i < pool.length; i++) pool[i] = Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  const hash = crypto.createHash('sha256').update(prefix);
  const fd = fs.openSync(BIG + '.tmp', 'w');
  fs.writeSync(fd, prefix);
  const f32 = new Float32Array(count);
  const u32 = new Uint32Array(f32.buffer);
  const bf16 = new Uint16Array(count);
  let x = 0x9e3779b9;
  for (let t = 0; t < BIG_TENSORS; t++) {
    const scale = 0.02 * (1 + t / BIG_TENSORS);
    for (let i = 0; i < count; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      f32[i] = pool[x & 0xfffff] * scale;
    }
    for (let i = 0; i < count; i++) bf16[i] = u32[i] >>> 16;
    const bytes = new Uint8Array(bf16.buffer);
    hash.update(bytes);
    fs.writeSync(fd, bytes);
  }
  fs.closeSync(fd);
  fs.renameSync(BIG + '.tmp', BIG);
  fs.writeFileSync(shaFile, hash.digest('hex') + '\n');
  console.log(`# generated ${BIG} (${(fs.statSync(BIG).size / MB).toFixed(1)} MB) in ${(performance.now() - t0).toFixed(0)} ms`);
}

/** Resident memory of a process, from /proc (bytes): { rss, hwm }. */
function memory(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** A Chrome DevTools Protocol session on workerd's inspector. */
async function inspector(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/main`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const pending = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d);
    pending.get(m.id)?.(m.result);
    pending.delete(m.id);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve) => {
        pending.set(++id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** V8 heap in use + ArrayBuffer backing stores of the worker's isolate (bytes). */
async function isolateMemory() {
  const h = await cdp.send('Runtime.getHeapUsage');
  return h.usedSize + h.backingStorageSize;
}

/**
 * GETs `url`, hashing the body as it streams, sampling every 20 ms the isolate's memory and
 * workerd's RSS; returns the peaks.
 */
async function transfer(url) {
  let peakRss = 0;
  let peakIsolate = 0;
  let samples = 0;
  let busy = false;
  const sample = async () => {
    if (busy) return;
    busy = true;
    try {
      peakRss = Math.max(peakRss, memory(workerd.pid).rss);
      peakIsolate = Math.max(peakIsolate, await isolateMemory());
      samples++;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(sample, 20);
  const t0 = performance.now();
  try {
    const res = await fetch(url);
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    for await (const c of res.body) {
      hash.update(c);
      bytes += c.length;
    }
    const ms = performance.now() - t0;
    clearInterval(timer);
    while (busy) await new Promise((r) => setTimeout(r, 5));
    await sample();
    return { res, sha: hash.digest('hex'), bytes, peakRss, peakIsolate, samples, ms };
  } finally {
    clearInterval(timer);
  }
}

let workerd;
let cdp;
let base;
let dir;
let log = '';
let bigSha;
let startupRss;
let startWorkerd;

function stopWorkerd() {
  if (workerd && workerd.exitCode === null && workerd.signalCode === null) workerd.kill('SIGKILL');
}

before(async () => {
  bigSha = makeBig();
  dir = fs.mkdtempSync(path.join(env.work, 'workerd-'));
  // env.ASSETS: the compressed files only.
  const assets = path.join(dir, 'assets');
  fs.mkdirSync(assets);
  fs.symlinkSync(BIG + '.znw', path.join(assets, 'big.safetensors.znw'));
  fs.symlinkSync(path.join(env.fixtures, 'minilm.bf16.safetensors.znw'), path.join(assets, 'minilm.bf16.safetensors.znw'));
  const bad = fs.readFileSync(path.join(env.fixtures, 'minilm.bf16.safetensors.znw'));
  bad[bad.length >> 1] ^= 0x01;
  fs.writeFileSync(path.join(assets, 'corrupt.safetensors.znw'), bad);
  // Files that fail before any byte decodes: not .znw at all, the magic number alone, a damaged
  // header (its size still reads from the first 24 bytes).
  fs.writeFileSync(path.join(assets, 'notznw.znw'), Buffer.from('just some text, not a model\n'.repeat(100)));
  fs.writeFileSync(path.join(assets, 'magiconly.znw'), bad.subarray(0, 8));
  const badHeader = Buffer.from(fs.readFileSync(path.join(env.fixtures, 'minilm.bf16.safetensors.znw')));
  badHeader[40] ^= 0x01;
  fs.writeFileSync(path.join(assets, 'badheader.safetensors.znw'), badHeader);
  fs.mkdirSync(path.join(dir, 'bundle'));
  fs.writeFileSync(path.join(dir, 'test-worker.js'), TEST_WORKER);
  const port = await freePort();
  const inspectorPort = await freePort();
  base = `http://127.0.0.1:${port}`;
  const config = writeWorkerdConfig({
    dir: path.join(dir, 'bundle'),
    worker: path.join(dir, 'test-worker.js'),
    modules: [path.join(project, 'examples/worker/worker.js')],
    pkg: path.join(project, 'node_modules/zipnn-wasm'),
    assets,
    address: `127.0.0.1:${port}`,
  });
  startWorkerd = async () => {
    workerd = spawn(WORKERD, ['serve', config, `--inspector-addr=127.0.0.1:${inspectorPort}`], { cwd: path.dirname(config), stdio: ['ignore', 'pipe', 'pipe'] });
    workerd.stdout.on('data', (d) => (log += d));
    workerd.stderr.on('data', (d) => (log += d));
    await listening();
    startupRss = memory(workerd.pid).rss;
    cdp = await inspector(inspectorPort);
  };
  process.on('exit', stopWorkerd);
  await startWorkerd();
});

async function listening() {
  await waitFor(
    async () => {
      if (workerd.exitCode !== null) throw new Error(`workerd exited: ${log}`);
      try {
        return (await fetch(`${base}/nothing`)).status === 404;
      } catch {
        return false;
      }
    },
    20000,
    'workerd to listen',
  );
}

/** A fresh workerd (a fresh isolate, nothing left of earlier transfers). */
async function restartWorkerd() {
  cdp.close();
  const exited = new Promise((r) => workerd.once('exit', r));
  stopWorkerd();
  await exited;
  await startWorkerd();
}

after(async () => {
  cdp?.close();
  stopWorkerd();
  if (workerd && workerd.exitCode === null && workerd.signalCode === null) await new Promise((r) => workerd.once('exit', r));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const mb = (n) => `${(n / MB).toFixed(1)} MB`;

describe('Cloudflare Worker (workerd)', () => {
  let warm;

  test('a file that fails before its first byte decodes gets a 502, not a dropped connection', async () => {
    for (const name of ['notznw', 'magiconly', 'badheader.safetensors']) {
      const res = await fetch(`${base}/models/${name}`);
      assert.equal(res.status, 502, name);
      assert.match(await res.text(), /^cannot decode /, name);
      // HEAD says what GET would.
      assert.equal((await fetch(`${base}/models/${name}`, { method: 'HEAD' })).status, 502, `HEAD ${name}`);
    }
    assert.equal((await fetch(`${base}/models/minilm.bf16.safetensors`, { method: 'HEAD' })).status, 200);
  });

  test('a real model (MiniLM BF16, 45 MB) streams decoded, with the decoded Content-Length', async () => {
    const want = fs.readFileSync(path.join(env.repo, 'models/minilm.bf16.safetensors'));
    const r = await transfer(`${base}/models/minilm.bf16.safetensors`);
    assert.equal(r.res.status, 200, log);
    assert.equal(Number(r.res.headers.get('content-length')), want.length);
    assert.equal(r.sha, sha256(want));
    warm = memory(workerd.pid).rss;
    console.log(`# worker minilm.bf16: ${mb(r.bytes)} in ${r.ms.toFixed(0)} ms; isolate peak ${mb(r.peakIsolate)}; workerd RSS ${mb(startupRss)} at start, ${mb(warm)} after`);
  });

  test('HEAD, the compressed bytes for clients that decode, 404', async () => {
    const head = await fetch(`${base}/models/big.safetensors`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), fs.statSync(BIG).size);
    const raw = await fetch(`${base}/models/minilm.bf16.safetensors`, { headers: { accept: 'application/x-znw' } });
    assert.equal(raw.headers.get('content-type'), 'application/x-znw');
    assert.equal(sha256(new Uint8Array(await raw.arrayBuffer())), sha256(fs.readFileSync(path.join(env.fixtures, 'minilm.bf16.safetensors.znw'))));
    assert.equal((await fetch(`${base}/models/missing.safetensors`)).status, 404);
  });

  test('a corrupt asset: the response breaks off short of its Content-Length, never a complete-looking wrong file', async () => {
    const res = await fetch(`${base}/models/corrupt.safetensors`);
    assert.equal(res.status, 200); // the headers left before the damage was reached
    const length = Number(res.headers.get('content-length'));
    let got = 0;
    let error = null;
    try {
      for await (const c of res.body) got += c.length;
    } catch (e) {
      error = e;
    }
    assert.ok(error || got < length, `read ${got} of ${length} bytes without an error`);
    assert.ok(got < length);
    console.log(`# worker corrupt asset: ${got} of ${length} bytes, then ${error ? `${error.name}: ${error.cause?.code ?? error.message}` : 'end'}`);
  });

  test('a model larger than 128 MB streams decoded; the isolate stays under the 128 MB limit', async () => {
    const size = fs.statSync(BIG).size;
    assert.ok(size > 128 * 1024 * 1024);
    const r = await transfer(`${base}/models/big.safetensors`);
    assert.equal(r.res.status, 200, log);
    assert.equal(Number(r.res.headers.get('content-length')), size);
    assert.equal(r.bytes, size);
    assert.equal(r.sha, bigSha, 'sha256 of the streamed response');
    const wasm = (await (await fetch(`${base}/wasm-memory`)).json()).bytes;
    const isolate = r.peakIsolate + wasm;
    console.log(
      `# worker big.safetensors: ${mb(size)} decoded from ${mb(fs.statSync(BIG + '.znw').size)} in ${r.ms.toFixed(0)} ms (${(size / MB / (r.ms / 1000)).toFixed(0)} MB/s); ` +
        `isolate peak ${mb(r.peakIsolate)} (V8 heap + ArrayBuffers, ${r.samples} samples) + wasm memory ${mb(wasm)} = ${mb(isolate)}; ` +
        `workerd RSS ${mb(warm)} before, peak ${mb(r.peakRss)} (+${mb(r.peakRss - warm)})`,
    );
    assert.ok(r.samples >= 10, `only ${r.samples} samples`);
    assert.ok(isolate < 100 * MB, `isolate memory peaked at ${mb(isolate)}`);
    assert.ok(r.peakRss - warm < 128 * MB, `workerd RSS grew by ${mb(r.peakRss - warm)}`);
  });

  test('the same model from an R2-like binding (env.BUCKET.get) streams decoded under the same bound', async () => {
    // In a fresh isolate: the garbage of the transfers above, not yet collected, would count.
    // Warmed up by the real model first, as above (workerd's RSS grows by some 90 MB on its first transfer).
    await restartWorkerd();
    const minilm = await transfer(`${base}/r2/models/minilm.bf16.safetensors`);
    assert.equal(minilm.sha, sha256(fs.readFileSync(path.join(env.repo, 'models/minilm.bf16.safetensors'))));
    const warmR2 = memory(workerd.pid).rss;
    const size = fs.statSync(BIG).size;
    const r = await transfer(`${base}/r2/models/big.safetensors`);
    assert.equal(r.res.status, 200, log);
    assert.equal(Number(r.res.headers.get('content-length')), size);
    assert.equal(r.res.headers.get('etag'), '"big.safetensors.znw-decoded"');
    assert.equal(r.sha, bigSha, 'sha256 of the streamed response');
    const wasm = (await (await fetch(`${base}/wasm-memory`)).json()).bytes;
    console.log(
      `# worker R2-like big.safetensors: ${mb(size)} in ${r.ms.toFixed(0)} ms; isolate peak ${mb(r.peakIsolate)} + wasm memory ${mb(wasm)} (${r.samples} samples); ` +
        `workerd RSS ${mb(warmR2)} before, peak ${mb(r.peakRss)} (+${mb(r.peakRss - warmR2)})`,
    );
    assert.ok(r.samples >= 10, `only ${r.samples} samples`);
    assert.ok(r.peakIsolate + wasm < 100 * MB, `isolate memory peaked at ${mb(r.peakIsolate + wasm)}`);
    assert.ok(r.peakRss - warmR2 < 128 * MB, `workerd RSS grew by ${mb(r.peakRss - warmR2)}`);
    const raw = await fetch(`${base}/r2/models/minilm.bf16.safetensors`, { headers: { accept: 'application/x-znw' } });
    const znw = fs.readFileSync(path.join(env.fixtures, 'minilm.bf16.safetensors.znw'));
    assert.equal(Number(raw.headers.get('content-length')), znw.length);
    assert.equal(sha256(new Uint8Array(await raw.arrayBuffer())), sha256(znw));
    assert.equal((await fetch(`${base}/r2/models/missing.safetensors`)).status, 404);
  });

  test("README's command: examples/worker/serve.mjs serves a folder of .znw files decoded", async () => {
    const assets = fs.mkdtempSync(path.join(env.work, 'serve-assets-'));
    fs.symlinkSync(path.join(env.fixtures, 'minilm.bf16.safetensors.znw'), path.join(assets, 'model.safetensors.znw'));
    const port = await freePort();
    let out = '';
    const child = spawn(process.execPath, [path.join(project, 'examples/worker/serve.mjs'), assets, `127.0.0.1:${port}`], {
      cwd: project,
      env: { ...process.env, WORKERD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.once('exit', r));
    try {
      const url = `http://127.0.0.1:${port}/models/model.safetensors`;
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`serve.mjs exited: ${out}`);
        return fetch(url, { method: 'HEAD' }).then((r) => r.ok, () => false);
      }, 20000, 'serve.mjs to listen');
      const got = new Uint8Array(await (await fetch(url)).arrayBuffer());
      assert.equal(sha256(got), sha256(fs.readFileSync(path.join(env.repo, 'models/minilm.bf16.safetensors'))), out);
    } finally {
      child.kill('SIGTERM'); // serve.mjs stops its workerd and removes its bundle
      await exited;
      fs.rmSync(assets, { recursive: true, force: true });
    }
  });

  test('control: a Worker that buffers the whole model instead shows up in the same measurement', async () => {
    const before = memory(workerd.pid).rss;
    const r = await transfer(`${base}/buffered/big.safetensors`);
    assert.equal(r.res.status, 200, log);
    assert.equal(r.sha, bigSha);
    console.log(`# worker control (buffered): isolate peak ${mb(r.peakIsolate)}; workerd RSS ${mb(before)} before, peak ${mb(r.peakRss)} (+${mb(r.peakRss - before)})`);
    assert.ok(r.peakIsolate > 160 * MB || r.peakRss - before > 160 * MB, 'buffering is visible');
  });
});
