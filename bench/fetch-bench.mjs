#!/usr/bin/env node
// fetchModel() from a local HTTP server against decompress() of the same bytes in memory, in
// node and in headless Chromium, with peak memory and the size of the .wasm (`make bench-fetch`;
// needs `make build` and the models).
//
//   node bench/fetch-bench.mjs [--rounds N] [--no-browser] [--no-memory] [MODEL...]
//        default models: models/minilm.bf16.safetensors models/minilm.fp32.safetensors
//
// Each model is compressed with the native CLI (target/release/zipnn) into target/fetch-bench/.
// A static file server runs in its own process on 127.0.0.1 (like a real origin; it streams the
// file from disk in 1 MiB reads, `cache-control: no-store`).
//
// Speed: one process (node) or one page (Chromium) runs, round after round, alternating (the
// order flips every round): decompress(bytes already in memory), fetchModel(url), and the HTTP
// body alone (read and dropped, no decode). MB/s = decoded bytes / 1e6 / s; "best" is the best
// round, and the ratio column is the median over rounds of fetchModel time / decompress time
// in the same round (the machine is shared: only same-run ratios mean much).
//
// Memory: each path once in a fresh process (node) or a fresh browser (Chromium), after the
// package was loaded and initialised. node: peak RSS is the kernel's VmHWM; "extra" is it minus
// the peak of a process that only loaded the package and made one small fetch; arrayBuffers is sampled from
// process.memoryUsage() every 2 ms and on each progress event, and once more in a run that
// forces a GC before each sample (the live column: what is held, not garbage). Chromium: VmHWM of the renderer
// process(es), minus that of a page that only loaded the package. N = decoded size.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import zlib from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const self = fileURLToPath(import.meta.url);
const MB = 1e6;
const MiB = 1 << 20;
const mbs = (bytes, ms) => (bytes / MB / (ms / 1000)).toFixed(0);
const mib = (n) => (n / MiB).toFixed(1);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function vmHWM(pid = 'self') {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0; // the process is gone
  }
}

// ---------------------------------------------------------------------------------------------
// The server: its own process. /m/NAME from target/fetch-bench, /pkg/... from pkg/, / the page.

const SERVER = `
const http = require('http'), fs = require('fs'), path = require('path');
const [models, pkg] = process.argv.slice(1);
const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
http.createServer((req, res) => {
  const u = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let f = null;
  if (u === '/') f = path.join(models, 'page.html');
  else if (u.startsWith('/m/')) f = path.join(models, path.basename(u));
  else if (u.startsWith('/pkg/')) f = path.join(pkg, path.normalize(u.slice(5)).replace(/^([.][.][/])+/, ''));
  let st;
  try { st = f && fs.statSync(f); } catch {}
  if (!st || !st.isFile()) { res.writeHead(404); return res.end(); }
  res.writeHead(200, {
    'content-type': types[path.extname(f)] || 'application/octet-stream',
    'content-length': st.size,
    'cache-control': 'no-store',
  });
  fs.createReadStream(f, { highWaterMark: 1 << 20 }).pipe(res);
}).listen(0, '127.0.0.1', function () { process.stdout.write(this.address().port + '\\n'); });
`;

function startServer(dir) {
  const p = spawn(process.execPath, ['-e', SERVER, dir, path.join(repo, 'pkg')], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    p.once('exit', (code) => reject(new Error(`server exited (${code})`)));
    p.stdout.once('data', (d) => resolve({ origin: `http://127.0.0.1:${Number(String(d).trim())}`, proc: p }));
  });
}

// ---------------------------------------------------------------------------------------------
// node children

/**
 * CPU time (ms) of this process's main thread and of all its other threads (the decode worker,
 * GC helpers, libuv), from the kernel's per-thread schedstat: what each thread needs, whatever
 * the other engineers' jobs take from the cores.
 */
function threadCpu(pid = 'self') {
  let main = 0;
  let other = 0;
  const me = pid === 'self' ? process.pid : pid;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      if (Number(t) === me) main = ns;
      else other += ns;
    } catch {
      // the thread ended
    }
  }
  return [main / 1e6, other / 1e6];
}

/** CPU ms of the HTTP server process (all threads): it shares the cores with the client. */
function serverCpu() {
  const pid = Number(process.env.FETCH_BENCH_SERVER_PID);
  if (!pid) return 0;
  const [m, o] = threadCpu(pid);
  return m + o;
}

async function childSpeed(url, file, rounds) {
  const z = await import(pathToFileURL(path.join(repo, 'pkg/node.js')).href);
  await z.init();
  const packed = new Uint8Array(fs.readFileSync(file));
  const modes = {
    decompress: async () => (await z.decompress(packed)).length,
    fetchModel: async () => (await z.fetchModel(url)).byteLength,
    inThread: async () => (await z.fetchModel(url, { worker: false })).byteLength,
    // With onTensor the worker sends verified chunks back to be copied into the output here.
    withTensors: async () => (await z.fetchModel(url, { onTensor() {} })).byteLength,
    transport: async () => {
      const res = await fetch(url);
      let n = 0;
      for await (const c of res.body) n += c.length;
      return n;
    },
  };
  // The two decoders must agree before their speeds are compared.
  const a = await z.decompress(packed);
  const t0 = performance.now();
  const b = new Uint8Array(await z.fetchModel(url)); // the first call starts the decode worker
  const first = performance.now() - t0;
  const c = new Uint8Array(await z.fetchModel(url, { worker: false }));
  if (a.length !== b.length || Buffer.compare(a, b) !== 0 || Buffer.compare(a, c) !== 0) throw new Error('fetchModel and decompress differ');
  const times = Object.fromEntries(Object.keys(modes).map((k) => [k, []]));
  const cpu = Object.fromEntries(Object.keys(modes).map((k) => [k, []]));
  const threads = Object.fromEntries(Object.keys(modes).map((k) => [k, { main: [], other: [], server: [] }]));
  let bytes = 0;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? Object.keys(modes).reverse() : Object.keys(modes);
    for (const k of order) {
      const c = process.cpuUsage();
      const [m0, o0] = threadCpu();
      const s0 = serverCpu();
      const t = performance.now();
      const n = await modes[k]();
      times[k].push(performance.now() - t);
      const [m1, o1] = threadCpu();
      threads[k].main.push(m1 - m0);
      threads[k].other.push(o1 - o0);
      threads[k].server.push(serverCpu() - s0);
      const used = process.cpuUsage(c);
      cpu[k].push((used.user + used.system) / 1000);
      if (k !== 'transport') bytes = n;
    }
  }
  return { bytes, compressed: packed.length, times, cpu, threads, first };
}

async function childMemory(mode, url, file) {
  const z = await import(pathToFileURL(path.join(repo, 'pkg/node.js')).href);
  await z.init();
  let peakAB = 0;
  const gc = globalThis.gc; // with --expose-gc: what is held, not what waits for the collector
  const sample = () => {
    gc?.();
    peakAB = Math.max(peakAB, process.memoryUsage().arrayBuffers);
  };
  const timer = setInterval(sample, 2);
  let keep = null;
  // Every path starts with fetch already loaded (undici is compiled on first use), the baseline too.
  await (await fetch(new URL('/', url))).arrayBuffer();
  sample();
  if (mode === 'fetchModel') keep = await z.fetchModel(url, { onProgress: sample });
  else if (mode === 'inThread') keep = await z.fetchModel(url, { onProgress: sample, worker: false });
  else if (mode === 'decompress') keep = await z.decompress(fs.readFileSync(file));
  else if (mode === 'stream') {
    const res = await fetch(url);
    for await (const c of res.body.pipeThrough(new z.ZnnDecompressionStream())) sample(c);
  }
  sample();
  clearInterval(timer);
  return { hwm: vmHWM(), peakAB, kept: keep ? keep.byteLength : 0 };
}

function runChild(args, flags = []) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...flags, self, '--child', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child ${args[0]} failed (${code})`))));
  });
}

// ---------------------------------------------------------------------------------------------
// Chromium (Debian's, through playwright-core from tools/node_modules)

const PAGE = `<!doctype html>
<meta charset="utf-8"><title>fetch-bench</title>
<script type="importmap">{ "imports": { "zipnn-wasm": "/pkg/index.js" } }</script>
<script type="module">
import * as z from 'zipnn-wasm';
await z.init();
const req = (url) => new Request(url, { cache: 'no-store' });
const packed = {};
window.load = async (url) => { packed[url] = new Uint8Array(await (await fetch(req(url))).arrayBuffer()); return packed[url].length; };
window.modes = {
  decompress: async (url) => (await z.decompress(packed[url])).length,
  fetchModel: async (url) => (await z.fetchModel(req(url))).byteLength,
  inThread: async (url) => (await z.fetchModel(req(url), { worker: false })).byteLength,
  withTensors: async (url) => (await z.fetchModel(req(url), { onTensor() {} })).byteLength,
  transport: async (url) => {
    const reader = (await fetch(req(url))).body.getReader();
    let n = 0;
    for (;;) { const { done, value } = await reader.read(); if (done) return n; n += value.length; }
  },
};
window.same = async (url) => {
  const a = await z.decompress(packed[url]);
  const b = new Uint8Array(await z.fetchModel(req(url)));
  const c = new Uint8Array(await z.fetchModel(req(url), { worker: false }));
  return a.length === b.length && a.every((v, i) => v === b[i]) && c.length === a.length && c.every((v, i) => v === a[i]);
};
window.timed = async (mode, url) => { const t = performance.now(); const n = await window.modes[mode](url); return [performance.now() - t, n]; };
let keep;
window.once = async (mode, url) => {
  if (mode === 'decompress') keep = await z.decompress(new Uint8Array(await (await fetch(req(url))).arrayBuffer()));
  else if (mode === 'fetchModel') keep = await z.fetchModel(req(url));
  else if (mode === 'inThread') keep = await z.fetchModel(req(url), { worker: false });
  return keep ? keep.byteLength : 0;
};
window.ready = true;
</script>`;

function chromium() {
  const require = createRequire(path.join(repo, 'tools/node_modules/noop.js'));
  return require('playwright-core').chromium;
}

/** A browser and the pid of its main process (launchServer: launch() does not tell the pid). */
async function launch() {
  const server = await chromium().launchServer({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const browser = await chromium().connect(server.wsEndpoint());
  browser.pid = server.process().pid;
  const close = browser.close.bind(browser);
  browser.close = async () => {
    await close().catch(() => {});
    await server.close();
  };
  return browser;
}

async function openPage(browser, origin) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(origin + '/');
  await page.waitForFunction(() => window.ready === true, null, { timeout: 30000 }).catch((e) => {
    throw new Error(`page did not load: ${errors.join('; ') || e.message}`);
  });
  return page;
}

/** Renderer processes below the browser process (they are children of the zygote). */
function renderers(rootPid) {
  const kids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch {
      // gone
    }
  }
  const out = [];
  const walk = (pid) => {
    for (const k of kids.get(pid) ?? []) {
      try {
        if (fs.readFileSync(`/proc/${k}/cmdline`, 'utf8').includes('--type=renderer')) out.push(k);
      } catch {
        // gone
      }
      walk(k);
    }
  };
  walk(rootPid);
  return out;
}

async function browserSpeed(origin, names, rounds) {
  const browser = await launch();
  try {
    const page = await openPage(browser, origin);
    const results = {};
    for (const name of names) {
      const url = `/m/${name}`;
      const compressed = await page.evaluate((u) => window.load(u), url);
      if (!(await page.evaluate((u) => window.same(u), url))) throw new Error(`${name}: fetchModel and decompress differ in Chromium`);
      const times = { decompress: [], fetchModel: [], inThread: [], withTensors: [], transport: [] };
      let bytes = 0;
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? Object.keys(times).reverse() : Object.keys(times);
        for (const k of order) {
          const [ms, n] = await page.evaluate(([m, u]) => window.timed(m, u), [k, url]);
          times[k].push(ms);
          if (k !== 'transport') bytes = n;
        }
      }
      results[name] = { bytes, compressed, times };
    }
    return results;
  } finally {
    await browser.close();
  }
}

async function browserMemory(origin, mode, name) {
  const browser = await launch();
  try {
    const page = await openPage(browser, origin);
    const pid = browser.pid;
    const before = Math.max(0, ...renderers(pid).map((p) => vmHWM(p)));
    const kept = mode === 'baseline' ? 0 : await page.evaluate(([m, u]) => window.once(m, u), [mode, `/m/${name}`]);
    const hwm = Math.max(0, ...renderers(pid).map((p) => vmHWM(p)));
    return { before, hwm, kept };
  } finally {
    await browser.close();
  }
}

// ---------------------------------------------------------------------------------------------

function cpuTable(rows) {
  console.log('\nCPU time of the node process (all its threads; the server is another process), median ms per run:');
  console.log('| model | decompress | fetchModel (worker) | fetchModel in-thread | HTTP body only | fetchModel / decompress |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const { name, r } of rows) {
    const { decompress: d, fetchModel: f, inThread: i, transport: t } = r.cpu;
    console.log(`| ${name} | ${median(d).toFixed(0)} | ${median(f).toFixed(0)} | ${median(i).toFixed(0)} | ${median(t).toFixed(0)} | ${(median(f) / median(d)).toFixed(3)} |`);
  }
  const cores = os.availableParallelism();
  console.log(
    `\nThe same per thread (kernel schedstat), median ms per run, main thread / all other threads / the HTTP server process. With a core free for each, a run takes at least its busiest thread; on ${cores} cores, at least all the CPU ÷ ${cores}:`,
  );
  console.log(`| model | decompress | fetchModel (worker) | fetchModel in-thread | worker with onTensor | HTTP body only | worker path: busiest thread ÷ decompress (main + other) | worker path: max(busiest, all CPU ÷ ${cores}) ÷ decompress wall |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const { name, r } of rows) {
    const th = r.threads;
    const mo = (k) => `${median(th[k].main).toFixed(0)} / ${median(th[k].other).toFixed(0)} / ${median(th[k].server).toFixed(0)}`;
    const dTotal = median(th.decompress.main.map((x, k) => x + th.decompress.other[k]));
    const f = th.fetchModel;
    const busiest = median(f.main.map((x, k) => Math.max(x, f.other[k])));
    const bound = median(f.main.map((x, k) => Math.max(x, f.other[k], (x + f.other[k] + f.server[k]) / cores)));
    console.log(
      `| ${name} | ${mo('decompress')} | ${mo('fetchModel')} | ${mo('inThread')} | ${mo('withTensors')} | ${mo('transport')} | ${(busiest / dTotal).toFixed(3)} | ${(bound / median(r.times.decompress)).toFixed(3)} |`,
    );
  }
}

function speedTable(host, rows) {
  console.log(`\n## ${host}: speed (decoded MB/s; ${rows[0].r.times.decompress.length} rounds, alternating)`);
  console.log('| model | N (MB) | ratio | decompress best / median | fetchModel (worker) best / median | fetchModel in-thread best / median | HTTP body only, best (decoded-equivalent MB/s) | worker ÷ decompress, median of rounds (best-to-best) | in-thread ÷ decompress | worker with onTensor ÷ decompress | first call (starts the worker), ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { name, r } of rows) {
    const { decompress: d, fetchModel: f, inThread: i, transport: t } = r.times;
    const paired = median(f.map((x, k) => x / d[k]));
    const pairedIn = median(i.map((x, k) => x / d[k]));
    const pairedT = median(r.times.withTensors.map((x, k) => x / d[k]));
    const bb = Math.min(...f) / Math.min(...d);
    console.log(
      `| ${name} | ${(r.bytes / MB).toFixed(1)} | ${(r.compressed / r.bytes).toFixed(4)} | ${mbs(r.bytes, Math.min(...d))} / ${mbs(r.bytes, median(d))} | ` +
        `${mbs(r.bytes, Math.min(...f))} / ${mbs(r.bytes, median(f))} | ${mbs(r.bytes, Math.min(...i))} / ${mbs(r.bytes, median(i))} | ${mbs(r.bytes, Math.min(...t))} | ` +
        `${paired.toFixed(3)} (${bb.toFixed(3)}) | ${pairedIn.toFixed(3)} | ${pairedT.toFixed(3)} | ${r.first == null ? '' : r.first.toFixed(0)} |`,
    );
  }
}

async function main(argv) {
  let rounds = 9;
  let browser = true;
  let memory = true;
  const models = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds') rounds = Number(argv[++i]);
    else if (argv[i] === '--no-browser') browser = false;
    else if (argv[i] === '--no-memory') memory = false;
    else if (argv[i].startsWith('--')) throw new Error(`unknown option ${argv[i]}`);
    else models.push(path.resolve(argv[i]));
  }
  if (!models.length) models.push(path.join(repo, 'models/minilm.bf16.safetensors'), path.join(repo, 'models/minilm.fp32.safetensors'));

  const wasm = fs.readFileSync(path.join(repo, 'pkg/dist/zipnn_wasm_bg.wasm'));
  const glue = fs.readFileSync(path.join(repo, 'pkg/dist/zipnn_wasm.js'));
  const core = Buffer.concat(['core.js', ...fs.readdirSync(path.join(repo, 'pkg/lib')).map((f) => `lib/${f}`)].map((f) => fs.readFileSync(path.join(repo, 'pkg', f))));
  console.log(`# fetchModel vs decompress (${new Date().toISOString().slice(0, 16)}Z, node ${process.version}, ${(await import('node:os')).cpus().length} cores, load ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`);
  console.log(`wasm (wasm-opt -O3): ${wasm.length} bytes, ${zlib.gzipSync(wasm, { level: 9 }).length} gzip -9, ${zlib.brotliCompressSync(wasm).length} brotli; JS glue + core.js + lib/: ${glue.length + core.length} bytes, ${zlib.gzipSync(Buffer.concat([glue, core]), { level: 9 }).length} gzip -9`);

  const dir = path.join(repo, 'target/fetch-bench');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'page.html'), PAGE);
  const cli = path.join(repo, 'target/release/zipnn');
  const names = [];
  for (const m of models) {
    const name = path.basename(m) + '.znw';
    const out = path.join(dir, name);
    const fresh = fs.existsSync(out) && fs.statSync(out).mtimeMs > Math.max(fs.statSync(m).mtimeMs, fs.statSync(cli).mtimeMs);
    if (!fresh) {
      await new Promise((resolve, reject) => {
        const p = spawn(cli, ['compress', m, '-o', out, '--force'], { stdio: 'inherit' });
        p.on('close', (c) => (c === 0 ? resolve() : reject(new Error(`zipnn compress ${m} failed`))));
      });
    }
    names.push(name);
  }

  const server = await startServer(dir);
  process.env.FETCH_BENCH_SERVER_PID = String(server.proc.pid); // the node children read its CPU
  try {
    const rows = [];
    for (const name of names) rows.push({ name, r: await runChild(['speed', `${server.origin}/m/${name}`, path.join(dir, name), String(rounds)]) });
    speedTable(`node ${process.version}`, rows);
    cpuTable(rows);
    let brows = null;
    if (browser) {
      const r = await browserSpeed(server.origin, names, rounds);
      brows = names.map((name) => ({ name, r: r[name] }));
      speedTable('Chromium (headless, page main thread)', brows);
    }
    if (memory) {
      console.log('\n## peak memory (one run in a fresh process; MiB; N = decoded size)');
      console.log('| host | model | N | path | peak RSS | extra over the loaded package | extra - N | peak arrayBuffers | live peak arrayBuffers (GC at each sample) |');
      console.log('|---|---|---:|---|---:|---:|---:|---:|---:|');
      const base = await runChild(['memory', 'baseline', `${server.origin}/`, '']);
      for (const name of names) {
        const url = `${server.origin}/m/${name}`;
        for (const mode of ['fetchModel', 'inThread', 'stream', 'decompress']) {
          const m = await runChild(['memory', mode, url, path.join(dir, name)]);
          const live = await runChild(['memory', mode, url, path.join(dir, name)], ['--expose-gc']);
          const n = rows.find((x) => x.name === name).r.bytes;
          const extra = m.hwm - base.hwm;
          const label = { fetchModel: 'fetchModel(url), worker', inThread: 'fetchModel(url), in-thread', stream: 'ZnnDecompressionStream, output dropped', decompress: 'read file + decompress()' }[mode];
          console.log(`| node | ${name} | ${mib(n)} | ${label} | ${mib(m.hwm)} | ${mib(extra)} | ${mib(extra - n)} | ${mib(m.peakAB)} | ${mib(live.peakAB)} |`);
        }
      }
      if (browser) {
        const b = await browserMemory(server.origin, 'baseline', names[0]);
        for (const name of names) {
          const n = brows.find((x) => x.name === name).r.bytes;
          for (const mode of ['fetchModel', 'inThread', 'decompress']) {
            const m = await browserMemory(server.origin, mode, name);
            const extra = m.hwm - b.hwm;
            const label = { fetchModel: 'fetchModel(url), worker', inThread: 'fetchModel(url), in-thread', decompress: 'fetch arrayBuffer + decompress()' }[mode];
            console.log(`| Chromium renderer | ${name} | ${mib(n)} | ${label} | ${mib(m.hwm)} | ${mib(extra)} | ${mib(extra - n)} | | |`);
          }
        }
      }
    }
  } finally {
    server.proc.kill();
  }
}

if (process.argv[2] === '--child') {
  const [kind, ...rest] = process.argv.slice(3);
  const r = kind === 'speed' ? await childSpeed(rest[0], rest[1], Number(rest[2])) : await childMemory(...rest);
  process.stdout.write(JSON.stringify(r));
} else {
  await main(process.argv.slice(2));
}
