// zipnn-wasm bundled for the browser the way users do it, as pkg/README.md's "Bundlers" says:
// Vite 8 (`vite build` and the dev server, no configuration), Vite 7's dev server (which needs
// optimizeDeps.exclude, and without it must fail with an error that says so), webpack 5, and
// esbuild with the worker as a second entry point. Each app is a fresh folder with the packed
// tarball installed; its page calls fetchModel (in the decode worker), decompress and
// ZnnDecompressionStream. In headless Chromium every decoded byte must be the model's, the
// worker must run, the build without SIMD must load where SIMD is refused, and on a
// cross-origin isolated copy of a built page decompress({ threads: 2 }) must use the pool.
// And a node program bundled into one file by esbuild, run in node.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { sha256, env, modelPath } from './helpers.mjs';
import { startStatic, launchChromium, project } from './lib.mjs';

const FIXTURE = 'minilm.bf16.safetensors.znw';
const fixture = path.join(env.fixtures, FIXTURE);
const want = sha256(fs.readFileSync(modelPath('minilm.bf16.safetensors')));
const work = path.join(env.work, 'bundlers');
const execFileAsync = promisify(execFile);
const bin = (pkg, file) => path.join(project, 'node_modules', pkg, file);
const VITE8 = bin('vite', 'bin/vite.js');
const VITE7 = bin('vite7', 'bin/vite.js');

// What a user writes: the page script every bundler builds.
const APP = `import { decompress, fetchModel, ZnnDecompressionStream, __internal } from 'zipnn-wasm';
const hex = async (b) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map((x) => x.toString(16).padStart(2, '0')).join('');
const FIXTURE = '${FIXTURE}';
window.runFetchModel = async () => {
  const jobs = __internal.stats.workerJobs;
  const buf = await fetchModel(FIXTURE);
  return { sha: await hex(buf), workerJobs: __internal.stats.workerJobs - jobs, wasm: __internal.stats.wasm };
};
window.runDecompress = async () => hex(await decompress(new Uint8Array(await (await fetch(FIXTURE)).arrayBuffer())));
window.runStream = async () => hex(await new Response((await fetch(FIXTURE)).body.pipeThrough(new ZnnDecompressionStream())).arrayBuffer());
window.runPool = async () => {
  const jobs = __internal.stats.poolJobs;
  const out = await decompress(new Uint8Array(await (await fetch(FIXTURE)).arrayBuffer()), { threads: 2 });
  return { sha: await hex(out.slice()), poolJobs: __internal.stats.poolJobs - jobs, isolated: crossOriginIsolated };
};
window.appReady = true;
`;
// A node program bundled into one file (esbuild --platform=node), as pkg/README.md says: it
// names the .wasm it ships to init(), and fetchModel's worker is a second entry point.
const NODE_APP = `import { init, decompress, fetchModel, __internal } from 'zipnn-wasm';
import { createHash } from 'node:crypto';
const [wasm, url] = process.argv.slice(2);
await init(wasm);
const hex = (b) => createHash('sha256').update(new Uint8Array(b)).digest('hex');
const packed = await (await fetch(url)).arrayBuffer();
const decompressed = hex(await decompress(packed));
console.log(JSON.stringify({ fetchModel: hex(await fetchModel(url)), decompress: decompressed, workerJobs: __internal.stats.workerJobs }));
`;
// The same as a CommonJS bundle (no top-level await): with a .wasm given to init(), or without.
const NODE_CJS_APP = `import { init, compress, decompress } from 'zipnn-wasm';
const [wasm] = process.argv.slice(2);
const data = Uint8Array.from({ length: 65536 }, (_, i) => (i * 7) % 251);
(async () => {
  if (wasm) await init(wasm);
  const back = await decompress(await compress(data));
  console.log(JSON.stringify({ same: Buffer.from(back).equals(Buffer.from(data)) }));
})().catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })));
`;
const HTML = (script) => `<!doctype html>\n<meta charset="utf-8">\n<title>bundled</title>\n${script}\n`;

/** A fresh app folder: package.json, the tarball installed, src/app.js, and `files`. */
function app(name, files = {}) {
  const dir = path.join(work, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `bundled-${name}`, private: true, type: 'module' }));
  execFileSync('npm', ['install', '--silent', '--offline', '--no-audit', '--no-fund', '--no-package-lock', process.env.ZNN_TARBALL], { cwd: dir, stdio: 'ignore' });
  fs.writeFileSync(path.join(dir, 'src/app.js'), APP);
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

/** Runs a bundler in `dir`: a node script, or esbuild's own binary (a time limit; its output in the error). */
function build(dir, [cmd, ...args]) {
  const [file, argv] = cmd.endsWith('.js') ? [process.execPath, [cmd, ...args]] : [cmd, args];
  try {
    execFileSync(file, argv, { cwd: dir, stdio: 'pipe', timeout: 180000 });
  } catch (e) {
    throw new Error(`${path.basename(cmd)} ${args[0]} failed: ${e.stderr}${e.stdout}`);
  }
}

const sendFixture = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(fixture).size });
  fs.createReadStream(fixture).pipe(res);
};
const ISOLATED = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** Serves a built folder (and the fixture at its top): `{ origin, isolated, close }`. */
async function serveBuilt(dir) {
  const plain = await startStatic({ mounts: { '/': dir }, routes: { [`/${FIXTURE}`]: sendFixture } });
  const iso = await startStatic({
    mounts: { '/': dir },
    headers: ISOLATED,
    routes: {
      [`/${FIXTURE}`]: (req, res) => {
        res.setHeader('cross-origin-embedder-policy', 'require-corp');
        sendFixture(req, res);
      },
    },
  });
  return { origin: plain.origin, isolated: iso.origin, close: () => Promise.all([plain.close(), iso.close()]) };
}

/** `vite` (dev) in `dir` on a free port: `{ origin, output(), close }`. */
async function viteDev(viteBin, dir) {
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const child = spawn(process.execPath, [viteBin, '--host', '127.0.0.1', '--port', String(port), '--strictPort', '--force', '--clearScreen', 'false'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' }, // with CI set, Vite colours its output even into a pipe
  });
  let out = '';
  const text = (d) => (out += String(d).replace(/\x1b\[[0-9;]*m/g, '')); // and any colour left
  child.stdout.on('data', text);
  child.stderr.on('data', text);
  const t0 = Date.now();
  while (!/Local:/.test(out) && child.exitCode === null && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 100));
  if (!/Local:/.test(out)) {
    child.kill();
    throw new Error(`vite did not start: ${out}`);
  }
  return {
    origin: `http://127.0.0.1:${port}`,
    output: () => out,
    close: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill();
      }),
  };
}

/** An app for Vite: index.html at its root, the fixture in public/ (served by the dev server). */
function viteApp(name) {
  const dir = app(name, { 'index.html': HTML('<script type="module" src="./src/app.js"></script>') });
  fs.mkdirSync(path.join(dir, 'public'));
  fs.symlinkSync(fixture, path.join(dir, 'public', FIXTURE));
  return dir;
}

/** Runs `f(server)` on a server just started, and stops it. */
async function using(started, f) {
  const server = await started;
  try {
    await f(server);
  } finally {
    await server.close();
  }
}

let browser;
before(async () => {
  fs.rmSync(work, { recursive: true, force: true });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Opens `url` in a new tab, optionally as a host without wasm SIMD; records workers, console, failed requests. */
async function open(url, { noSimd = false } = {}) {
  const page = await browser.context.newPage();
  await page.route('**/favicon.ico', (r) => r.fulfill({ status: 204, body: '' })); // no part of any check
  const log = { workers: [], console: [], bad: [] };
  page.on('worker', (w) => log.workers.push(w.url()));
  page.on('console', (m) => ['error', 'warning'].includes(m.type()) && log.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.console.push(`pageerror: ${e.message}`));
  page.on('response', (r) => r.status() >= 400 && log.bad.push(`${r.status()} ${r.url()}`));
  if (noSimd) await page.addInitScript(() => (WebAssembly.validate = () => false));
  await page.goto(url);
  await page.waitForFunction(() => window.appReady === true, null, { timeout: 30000 });
  return { page, log, run: (f) => page.evaluate((name) => window[name](), f) };
}

/** Every check of a page that must work: bytes, worker, no errors; the build without SIMD. */
async function checkWorks(origin, { pool = null } = {}) {
  const { page, log, run } = await open(origin + '/');
  try {
    const f = await run('runFetchModel');
    assert.deepEqual(f, { sha: want, workerJobs: 1, wasm: 'simd' }, 'fetchModel in the decode worker');
    assert.ok(log.workers.length >= 1, 'a worker started');
    assert.equal(await run('runDecompress'), want, 'decompress');
    assert.equal(await run('runStream'), want, 'ZnnDecompressionStream');
    assert.deepEqual({ bad: log.bad, console: log.console }, { bad: [], console: [] });
  } finally {
    await page.close();
  }
  const ns = await open(origin + '/', { noSimd: true });
  try {
    assert.deepEqual(await ns.run('runFetchModel'), { sha: want, workerJobs: 1, wasm: 'nosimd' }, 'the build without SIMD, in the worker');
  } finally {
    await ns.page.close();
  }
  if (pool) {
    const iso = await open(pool + '/');
    try {
      assert.deepEqual(await iso.run('runPool'), { sha: want, poolJobs: 1, isolated: true }, 'decompress({ threads: 2 }) on the pool');
    } finally {
      await iso.page.close();
    }
  }
}

describe('bundlers', () => {
  test('Vite 8, vite build: the .wasm files and the worker are emitted and work', async () => {
    const dir = viteApp('vite8');
    build(dir, [VITE8, 'build', '--logLevel', 'warn']);
    const emitted = fs.readdirSync(path.join(dir, 'dist/assets'));
    assert.ok(emitted.some((f) => /^zipnn_wasm_bg.*\.wasm$/.test(f)) && emitted.some((f) => /^zipnn_wasm_nosimd_bg.*\.wasm$/.test(f)), `${emitted}`);
    assert.ok(emitted.some((f) => /^decode-worker.*\.js$/.test(f)), `${emitted}`);
    await using(serveBuilt(path.join(dir, 'dist')), (s) => checkWorks(s.origin, { pool: s.isolated }));
  });

  test('Vite 8, dev server with no configuration', async () => {
    await using(viteDev(VITE8, viteApp('vite8-dev')), (v) => checkWorks(v.origin));
  });

  test("Vite 7, dev server: a ZNN_INIT error naming the fix; with optimizeDeps.exclude everything works", async () => {
    const dir = viteApp('vite7-dev');
    await using(viteDev(VITE7, dir), async (v) => {
      const { page, run } = await open(v.origin + '/');
      const err = await run('runFetchModel').then(
        () => 'decoded',
        (e) => e.message,
      );
      await page.close();
      assert.match(err, /ZNN_INIT|is not a wasm module/, err);
      assert.match(err, /optimizeDeps: \{ exclude: \['zipnn-wasm'\] \}/, err);
    });
    fs.writeFileSync(path.join(dir, 'vite.config.js'), "export default { optimizeDeps: { exclude: ['zipnn-wasm'] } };\n");
    await using(viteDev(VITE7, dir), (v) => checkWorks(v.origin));
  });

  test('webpack 5, production, a minimal config: the .wasm files and the worker are emitted and work', async () => {
    const dir = app('webpack', {
      'webpack.config.js': "import path from 'node:path';\nexport default { mode: 'production', entry: './src/app.js', output: { path: path.resolve('dist'), clean: true } };\n",
    });
    build(dir, [bin('webpack-cli', 'bin/cli.js'), '--config', 'webpack.config.js']);
    fs.writeFileSync(path.join(dir, 'dist/index.html'), HTML('<script src="./main.js" defer></script>'));
    const wasm = fs.readdirSync(path.join(dir, 'dist')).filter((f) => f.endsWith('.wasm'));
    assert.equal(wasm.length, 2, `two .wasm files emitted: ${wasm}`);
    await using(serveBuilt(path.join(dir, 'dist')), (s) => checkWorks(s.origin, { pool: s.isolated }));
  });

  test("esbuild: the README's recipe works; without the worker entry, decoding goes on in-thread with a warning", async () => {
    const dir = app('esbuild');
    const esbuild = bin('esbuild', 'bin/esbuild');
    const out = (name, entries) => {
      build(dir, [esbuild, ...entries, '--bundle', '--format=esm', '--log-level=warning', `--outdir=${name}`, '--entry-names=[name]']);
      fs.mkdirSync(path.join(dir, name, 'dist'));
      for (const f of ['zipnn_wasm_bg.wasm', 'zipnn_wasm_nosimd_bg.wasm']) fs.copyFileSync(path.join(dir, 'node_modules/zipnn-wasm/dist', f), path.join(dir, name, 'dist', f));
      fs.writeFileSync(path.join(dir, name, 'index.html'), HTML('<script type="module" src="./app.js"></script>'));
      return path.join(dir, name);
    };
    const full = out('full', ['src/app.js', 'node_modules/zipnn-wasm/decode-worker.js']);
    await using(serveBuilt(full), (s) => checkWorks(s.origin, { pool: s.isolated }));
    await using(serveBuilt(out('no-worker', ['src/app.js'])), async (s) => {
      const { page, log, run } = await open(s.origin + '/');
      assert.deepEqual(await run('runFetchModel'), { sha: want, workerJobs: 0, wasm: 'simd' }, 'the right bytes, in-thread');
      await page.close();
      assert.ok(log.console.some((m) => /^warning: zipnn-wasm: .*decoding in the calling thread.*decode-worker\.js.*"Bundlers"/.test(m)), `${log.console}`);
    });
  });
  test('esbuild --platform=node: a one-file program names its .wasm to init(); the worker is a second entry', async () => {
    const dir = app('esbuild-node', { 'src/node-app.js': NODE_APP });
    build(dir, [bin('esbuild', 'bin/esbuild'), 'src/node-app.js', 'node_modules/zipnn-wasm/decode-worker-node.js', '--bundle', '--platform=node', '--format=esm', '--log-level=warning', '--outdir=out', '--entry-names=[name]']);
    // Only the bundle and a .wasm of the program's choosing: no dist/ next to it.
    const codec = path.join(dir, 'out/codec.wasm');
    fs.copyFileSync(path.join(dir, 'node_modules/zipnn-wasm/dist/zipnn_wasm_bg.wasm'), codec);
    await using(startStatic({ routes: { [`/${FIXTURE}`]: sendFixture } }), async (s) => {
      const { stdout } = await execFileAsync(process.execPath, [path.join(dir, 'out/node-app.js'), codec, `${s.origin}/${FIXTURE}`], { cwd: path.join(dir, 'out'), timeout: 120000 });
      assert.deepEqual(JSON.parse(stdout), { fetchModel: want, decompress: want, workerJobs: 1 });
    });
  });
  test('esbuild --platform=node as CommonJS (its default): init(path) works, and without it the error says why', async () => {
    const dir = app('esbuild-cjs', { 'src/cjs-app.js': NODE_CJS_APP });
    build(dir, [bin('esbuild', 'bin/esbuild'), 'src/cjs-app.js', '--bundle', '--platform=node', '--log-level=error', '--outfile=out/cjs-app.cjs']);
    fs.mkdirSync(path.join(dir, 'out/dist'));
    const codec = path.join(dir, 'out/dist/zipnn_wasm_bg.wasm');
    fs.copyFileSync(path.join(dir, 'node_modules/zipnn-wasm/dist/zipnn_wasm_bg.wasm'), codec);
    const run = async (...args) => JSON.parse((await execFileAsync(process.execPath, [path.join(dir, 'out/cjs-app.cjs'), ...args], { cwd: path.join(dir, 'out'), timeout: 60000 })).stdout);
    assert.deepEqual(await run(codec), { same: true });
    // (dist/ is next to the bundle, but a CommonJS bundle cannot find it by import.meta.url)
    const failed = await run();
    assert.equal(failed.code, 'ZNN_INIT');
    assert.match(failed.message, /import\.meta\.url.*CommonJS.*init\(path\)/);
  });
});
