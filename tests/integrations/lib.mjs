// Shared by the integration tests (copied next to them into target/integrations/project by
// scripts/test-integrations.sh, with tests/js/helpers.mjs and examples/). 127.0.0.1 only.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { env } from './helpers.mjs';

export const project = path.dirname(new URL(import.meta.url).pathname);
/** Model files (plain and .znw) prepared by scripts/test-integrations.sh. */
export const served = process.env.ZNN_SERVED;
export const CLI = path.join(env.repo, 'target/release/zipnn');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/**
 * A static server on 127.0.0.1 (free port) over `mounts` ({ '/prefix/': dir }, longest prefix
 * first), plus `routes` ({ '/path': (req, res) => ... }). Paths matching `deny` (a RegExp,
 * settable later as `server.deny`) answer 404. `headers` go on every file it serves.
 * Every request is logged in `requests` ({ method, path, status }).
 */
export async function startStatic({ mounts = {}, routes = {}, deny = null, headers = {} } = {}) {
  const state = { deny };
  const requests = [];
  const sockets = new Set();
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const entry = { method: req.method, path: url.pathname, status: 0 };
    requests.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    if (routes[url.pathname]) return routes[url.pathname](req, res, url);
    const notFound = () => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    };
    if (state.deny?.test(url.pathname)) return notFound();
    const prefix = prefixes.find((p) => url.pathname.startsWith(p));
    if (!prefix) return notFound();
    const root = path.resolve(mounts[prefix]);
    const file = path.resolve(root, '.' + decodeURIComponent(url.pathname.slice(prefix.length - 1)) + (url.pathname.endsWith('/') ? 'index.html' : ''));
    if (!(file === root || file.startsWith(root + path.sep)) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return notFound();
    const size = fs.statSync(file).size;
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': 'no-store',
      ...headers,
    });
    if (req.method === 'HEAD') return res.end();
    fs.createReadStream(file).pipe(res);
  });
  // Idle keep-alive sockets stay open for the whole test file: with node's default 5 s, a client
  // reusing a socket just as the server times it out gets ECONNRESET on a busy machine.
  server.keepAliveTimeout = 10 * 60 * 1000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    requests,
    /** Changes which paths answer 404. */
    set deny(re) {
      state.deny = re;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** playwright-core from tools/ (Debian's chromium, no browser download). */
export function playwright() {
  return createRequire(path.join(env.tools, 'noop.js'))('playwright-core');
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches headless Chromium with a fresh profile; returns { context, page, messages, close }.
 * `messages` collects console output and page errors.
 */
export async function launchChromium(extraArgs = ['--disable-gpu']) {
  const { chromium } = playwright();
  const userDataDir = fs.mkdtempSync(path.join(env.work, 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
  const page = await context.newPage();
  const messages = [];
  page.on('console', (m) => messages.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`));
  return {
    context,
    page,
    messages,
    close: async () => {
      await context.close().catch(() => {});
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** A page whose import map points at the project's node_modules. */
export function pageWithImports(imports, body = '') {
  return `<!doctype html>
<meta charset="utf-8">
<title>zipnn-wasm integration test</title>
<script type="importmap">${JSON.stringify({ imports })}</script>
${body}`;
}

/** Compresses with the native CLI (`target/release/zipnn compress IN -o OUT --force ...`). */
export function compressFile(input, output, ...args) {
  const r = spawnSync(CLI, ['compress', input, '-o', output, '--force', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`zipnn compress ${input} failed: ${r.stderr}`);
}

/** Byte-exact comparison of typed arrays of any kind. */
export function sameBits(a, b) {
  const x = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const y = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.equals(y);
}

export const ms = (t0) => `${(performance.now() - t0).toFixed(0)} ms`;
