// Shared helpers for the JS tests (copied next to them into the throw-away project, see
// scripts/test-js.sh). Everything listens on 127.0.0.1 only.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import net from 'node:net';

export const env = {
  repo: process.env.ZNN_REPO,
  fixtures: process.env.ZNN_FIXTURES,
  tools: process.env.ZNN_TOOLS,
  work: process.env.ZNN_WORK,
};
for (const [k, v] of Object.entries(env)) {
  if (!v) throw new Error(`ZNN_${k.toUpperCase()} is not set: run the tests through scripts/test-js.sh`);
}

export const modelPath = (name) => path.join(env.repo, 'models', name);
export const fixturePath = (name) => path.join(env.fixtures, name);
export const zipnnFixture = (name) => path.join(env.repo, 'tests/fixtures/zipnn', name);
export const readFile = (p) => new Uint8Array(fs.readFileSync(p));

export function sha256(bytes) {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

export function equalBytes(a, b) {
  const x = a instanceof ArrayBuffer ? new Uint8Array(a) : a;
  const y = b instanceof ArrayBuffer ? new Uint8Array(b) : b;
  return x.length === y.length && Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.length), Buffer.from(y.buffer, y.byteOffset, y.length)) === 0;
}

/** Deterministic pseudo-random generator (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Weight-like data: normally distributed values (σ = 0.02) as bf16, fp16, fp32 or fp64 bytes
 * (fp64: every mantissa bit in use).
 */
export function weights(count, dtype, seed = 1) {
  const r = rng(seed);
  const f32 = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u = Math.max(r(), 1e-12);
    f32[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r()) * 0.02;
  }
  if (dtype === 'fp32') return new Uint8Array(f32.buffer);
  if (dtype === 'fp64') return new Uint8Array(Float64Array.from(f32, (v) => v * (1 + r() * 1e-6)).buffer);
  const u32 = new Uint32Array(f32.buffer);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    if (dtype === 'bf16') out[i] = u32[i] >>> 16;
    else out[i] = toHalf(f32[i]);
  }
  return new Uint8Array(out.buffer);
}

function toHalf(v) {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp <= 0) return sign | ((mant | 0x800000) >>> (14 - exp));
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (mant >>> 13);
}

/** A ReadableStream that hands out `bytes` in `size`-byte chunks, one per pull. */
export function chunkedStream(bytes, size) {
  let at = 0;
  return new ReadableStream(
    {
      pull(controller) {
        if (at >= bytes.length) return controller.close();
        // A copy, as a network stream would give.
        controller.enqueue(bytes.slice(at, at + size));
        at += size;
      },
    },
    { highWaterMark: 0 },
  );
}

/** Reads a stream of Uint8Array chunks into one Uint8Array; also returns the chunk count. */
export async function collect(stream) {
  const parts = [];
  let len = 0;
  for await (const c of stream) {
    parts.push(c);
    len += c.length;
  }
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return Object.assign(out, { chunks: parts.length });
}

/** Tensors of a safetensors file: [{ name, dtype, shape, bytes }] in offset order. */
export function safetensorsTensors(bytes) {
  const u8 = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  const n = Number(new DataView(u8.buffer, u8.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(u8.subarray(8, 8 + n)).toString('utf8'));
  return Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, t]) => ({
      name,
      dtype: t.dtype,
      shape: t.shape,
      offset: 8 + n + t.data_offsets[0],
      bytes: u8.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]),
    }))
    .sort((a, b) => a.offset - b.offset);
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
};

/**
 * A local HTTP server on 127.0.0.1 (free port). `routes` maps a path to a handler
 * `(req, res) => void`; other paths are served as files from `root` (if given) with the right MIME
 * type and `headers(url)`'s extra headers. Tracks its sockets so close() ends everything at once.
 */
export async function startServer({ routes = {}, root, headers } = {}) {
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const route = routes[url.pathname];
    if (route) return route(req, res, url);
    if (root) {
      const file = path.normalize(path.join(root, decodeURIComponent(url.pathname)));
      if (file.startsWith(root) && fs.existsSync(file) && fs.statSync(file).isFile()) {
        res.writeHead(200, {
          'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
          'content-length': fs.statSync(file).size,
          'cache-control': 'no-store',
          ...headers?.(url),
        });
        return fs.createReadStream(file).pipe(res);
      }
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject));
  const { port } = server.address();
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Sends `bytes` with an optional Content-Length, `piece` bytes every `delayMs`. */
export function sendBytes(res, bytes, { contentLength = true, piece = 0, delayMs = 0, type = 'application/octet-stream' } = {}) {
  const headers = { 'content-type': type };
  if (contentLength) headers['content-length'] = bytes.length;
  res.writeHead(200, headers);
  if (!piece) return res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  let at = 0;
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer);
    res.write(Buffer.from(bytes.subarray(at, at + piece)));
    at += piece;
    if (at >= bytes.length) {
      clearInterval(timer);
      res.end();
    }
  }, delayMs);
  res.on('close', () => clearInterval(timer));
}

/**
 * A safetensors file of `tensors` ([{ name, dtype, shape, bytes }], laid out in this order), with
 * `metadata` (string values) as its `__metadata__` if given.
 */
export function makeSafetensors(tensors, metadata) {
  const header = metadata ? { __metadata__: metadata } : {};
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes.length] };
    at += t.bytes.length;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const out = new Uint8Array(8 + json.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const t of tensors) {
    out.set(t.bytes, pos);
    pos += t.bytes.length;
  }
  return out;
}

/**
 * `model` (a safetensors file) in the layout of zipnn's `compress_safetensors` for a source with
 * metadata: each F32/F16/BF16 tensor a U8 tensor holding one ZipNN frame (written by the
 * package's `compress`, passed in), listed under `znn_compressed_vectors` with its torch type
 * and shape; the other tensors as they are.
 */
export async function zipnnSafetensors(model, compress) {
  const n = Number(new DataView(model.buffer, model.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(model.subarray(8, 8 + n)).toString());
  const types = { F32: ['float32', 'fp32'], F16: ['float16', 'fp16'], BF16: ['bfloat16', 'bf16'] };
  const entries = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  const tensors = [];
  const listed = {};
  for (const [name, t] of entries) {
    const bytes = model.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
    const type = types[t.dtype];
    if (!type) {
      tensors.push({ name, dtype: t.dtype, shape: t.shape, bytes });
      continue;
    }
    const frame = await compress(bytes, { format: 'zipnn', dtype: type[1] });
    tensors.push({ name, dtype: 'U8', shape: [frame.length], bytes: frame });
    listed[name] = { dtype: type[0], shape: `[${t.shape.join(', ')}]` };
  }
  return makeSafetensors(tensors, { ...(header.__metadata__ ?? {}), znn_compressed_vectors: JSON.stringify(listed) });
}

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  const s = net.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Waits for `pred()` to be true, polling; rejects after `ms`. */
export async function waitFor(pred, ms = 10000, what = 'condition') {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
