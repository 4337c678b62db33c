#!/usr/bin/env node
// The web page's static server: no dependencies, 127.0.0.1 only.
//
//   node scripts/serve.mjs              http://127.0.0.1:8080/  (PORT=0 picks a free port)
//   node scripts/serve.mjs --prepare    only write the sample into www/sample/ and exit
//
// Serves www/ at / and the npm package at /pkg/: only the files its package.json `files` lists,
// i.e. what an installed copy of zipnn-wasm holds, so the page imports the package exactly as
// a user serving node_modules/zipnn-wasm/ would. Before listening it makes sure the sample of
// the page's "try it" section exists: a small real model compressed by the native CLI into
// www/sample/ (gitignored) plus sample.json (names, sizes and the sha256 of the original).

import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WWW = path.join(ROOT, 'www');
const PKG = path.join(ROOT, 'pkg');
const SAMPLE_DIR = path.join(WWW, 'sample');
const CLI = path.join(ROOT, 'target', 'release', 'zipnn');
const HOST = '127.0.0.1';

/** The models offered in "try it", first one selected; each is used only when present. */
const SAMPLES = [
  {
    id: 'silero_vad_16k',
    model: 'models/silero_vad_16k.safetensors',
    title: 'Silero VAD 16 kHz',
    description: 'voice activity detector, FP32 safetensors',
  },
  {
    id: 'minilm_bf16',
    model: 'models/minilm.bf16.safetensors',
    title: 'all-MiniLM-L6-v2 (BF16)',
    description: 'sentence embedding model, BF16 safetensors',
  },
];

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

// The page may talk to its own origin only; wasm compilation needs 'wasm-unsafe-eval'.
const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function log(msg) {
  process.stderr.write(`serve: ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// The sample

function sha256File(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/** Writes www/sample/*.znw and sample.json when missing or older than their sources. */
function prepareSamples() {
  const available = SAMPLES.filter((s) => fs.existsSync(path.join(ROOT, s.model)));
  if (available.length === 0) {
    log('no sample model in models/ (run `make models`); the "try it" section will say so');
    return false;
  }
  if (!fs.existsSync(CLI)) {
    log(`${path.relative(ROOT, CLI)} is missing (run \`make cli\`); no sample`);
    return false;
  }
  fs.mkdirSync(SAMPLE_DIR, { recursive: true });
  const manifest = path.join(SAMPLE_DIR, 'sample.json');
  let old = null;
  try {
    old = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  } catch {
    // first run
  }
  const entries = [];
  let changed = !old || !Array.isArray(old.samples) || old.samples.length !== available.length;
  for (const s of available) {
    const src = path.join(ROOT, s.model);
    const base = path.basename(s.model);
    const file = `${base}.znw`;
    const out = path.join(SAMPLE_DIR, file);
    const prev = old?.samples?.find((e) => e.id === s.id);
    const srcStat = fs.statSync(src);
    // Newer than its source and the CLI: by the list's time, written after the files (a .znw
    // has its source's time, as the CLI gives its outputs).
    const fresh =
      prev &&
      prev.file === file &&
      prev.originalSize === srcStat.size &&
      mtime(manifest) >= Math.max(srcStat.mtimeMs, mtime(CLI)) &&
      mtime(out) >= 0 &&
      fs.statSync(out).size === prev.compressedSize;
    if (fresh) {
      entries.push(prev);
      continue;
    }
    changed = true;
    log(`compressing ${s.model} -> ${path.relative(ROOT, out)}`);
    const r = spawnSync(CLI, ['compress', src, '-o', out, '--force', '--verify'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) {
      log(`zipnn compress failed for ${s.model} (exit ${r.status}); skipping it`);
      continue;
    }
    entries.push({
      id: s.id,
      title: s.title,
      description: s.description,
      name: base,
      file,
      originalSize: srcStat.size,
      compressedSize: fs.statSync(out).size,
      sha256: sha256File(src),
    });
  }
  if (changed) {
    fs.writeFileSync(manifest, JSON.stringify({ samples: entries }, null, 2) + '\n');
    // Files of samples no longer listed.
    for (const f of fs.readdirSync(SAMPLE_DIR)) {
      if (f.endsWith('.znw') && !entries.some((e) => e.file === f)) fs.rmSync(path.join(SAMPLE_DIR, f));
    }
  }
  return entries.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Static files

/** The package's published files (package.json `files`, plus package.json itself). */
function packageAllows(rel) {
  let files;
  try {
    files = JSON.parse(fs.readFileSync(path.join(PKG, 'package.json'), 'utf8')).files;
  } catch {
    return false;
  }
  if (rel === 'package.json') return true;
  if (!Array.isArray(files)) return true;
  return files.some((f) => {
    const clean = f.replace(/^\.\//, '');
    return clean.endsWith('/') ? rel.startsWith(clean) : rel === clean || rel.startsWith(`${clean}/`);
  });
}

/**
 * The file a URL path names, or null. Rejects anything that is not a plain relative path
 * inside the served root once decoded: `..` segments, backslashes, NUL, absolute paths and
 * symlinks leading outside.
 */
function resolveUnder(root, urlPath) {
  let rel;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (rel.includes('\0') || rel.includes('\\')) return null;
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return null;
  const joined = path.join(root, ...parts);
  if (joined !== root && !joined.startsWith(root + path.sep)) return null;
  let real;
  try {
    real = fs.realpathSync(joined);
  } catch {
    return { file: joined, rel: parts.join('/'), missing: true };
  }
  const realRoot = fs.realpathSync(root);
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) return null;
  return { file: real, rel: parts.join('/') };
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

function handle(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
  }
  // The raw path too: `new URL` already folds /a/../b, but an encoded %2e%2e or %2f must not pass.
  const rawPath = req.url.split('?')[0];
  if (!rawPath.startsWith('/')) return send(res, 400, 'bad request\n');
  let url;
  try {
    // Runs of slashes taken as one (as most servers do): `//app.js` is otherwise a host name
    // to `new URL`, and a redirect to `//sample/` one to the browser.
    url = new URL(rawPath.replace(/\/{2,}/g, '/') + req.url.slice(rawPath.length), `http://${HOST}`);
  } catch {
    return send(res, 400, 'bad request\n');
  }
  // (A raw `\` too: `new URL` takes it for a `/`, after the runs of slashes are folded.)
  if (/(^|\/)(\.|%2e){2}(\/|$)/i.test(rawPath) || /%2f|%5c|%00|\\/i.test(rawPath)) return send(res, 403, 'forbidden\n');

  let target;
  let pathname = url.pathname;
  if (pathname === '/pkg') return send(res, 301, '', { Location: '/pkg/' });
  if (pathname.startsWith('/pkg/')) {
    target = resolveUnder(PKG, pathname.slice('/pkg/'.length));
    if (target && !target.missing && !packageAllows(target.rel)) target = { ...target, missing: true };
  } else {
    if (pathname.endsWith('/')) pathname += 'index.html';
    target = resolveUnder(WWW, pathname.slice(1));
  }
  if (!target) return send(res, 403, 'forbidden\n');
  let st;
  try {
    st = target.missing ? null : fs.statSync(target.file);
  } catch {
    st = null;
  }
  if (st && st.isDirectory()) {
    if (url.pathname.endsWith('/')) return send(res, 404, 'not found\n'); // no listings
    return send(res, 301, '', { Location: `${url.pathname}/` });
  }
  if (!st || !st.isFile()) return send(res, 404, 'not found\n');

  const type = MIME[path.extname(target.file).toLowerCase()] || 'application/octet-stream';
  const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString();
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers = {
    'Content-Type': type,
    'Content-Length': st.size,
    // Always revalidate: the package and the sample are rebuilt while the server runs.
    'Cache-Control': 'no-cache',
    'Last-Modified': lastModified,
    ETag: etag,
    'X-Content-Type-Options': 'nosniff',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Referrer-Policy': 'no-referrer',
  };
  // On scripts too: a worker's policy comes from its own script's response.
  if (type.startsWith('text/html') || type.startsWith('text/javascript')) headers['Content-Security-Policy'] = CSP;
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { ETag: etag, 'Cache-Control': 'no-cache' });
    return res.end();
  }
  res.writeHead(200, headers);
  if (req.method === 'HEAD') return res.end();
  // (pipeline, not pipe: a client that goes away closes the file too.)
  pipeline(fs.createReadStream(target.file), res, () => {});
}

// ---------------------------------------------------------------------------------------------

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  process.stdout.write('usage: [PORT=8080] node scripts/serve.mjs [--prepare]\n');
  process.exit(0);
}
const haveSample = prepareSamples();
if (args.includes('--prepare')) process.exit(haveSample ? 0 : 1);

if (!fs.existsSync(path.join(PKG, 'dist', 'zipnn_wasm_bg.wasm'))) {
  log('pkg/dist/zipnn_wasm_bg.wasm is missing: run `make wasm`, the page needs it');
}

const portEnv = process.env.PORT ?? '8080';
const port = Number(portEnv);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log(`PORT must be a port number, got ${JSON.stringify(portEnv)}`);
  process.exit(2);
}

const server = createServer((req, res) => {
  try {
    handle(req, res);
  } catch (e) {
    log(`error serving ${req.url}: ${e.message}`);
    if (!res.headersSent) send(res, 500, 'internal error\n');
    else res.destroy();
  }
});
server.on('error', (e) => {
  log(e.code === 'EADDRINUSE' ? `port ${port} is in use (set PORT=... to choose another)` : e.message);
  process.exit(1);
});
server.listen(port, HOST, () => {
  const { port: actual } = server.address();
  process.stdout.write(`zipnn-wasm page: http://${HOST}:${actual}/\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
