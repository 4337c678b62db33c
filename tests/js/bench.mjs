#!/usr/bin/env node
// Benchmarks of the npm package (pkg/) in node: memory and speed of the decode paths, and the
// size of the .wasm. Run by hand after `make build` (or from `make bench`):
//
//   node tests/js/bench.mjs [MODEL...]      default: models/minilm.bf16.safetensors and .fp32
//
// For each model: compress it (package, in memory), then in fresh child processes
//   - fetchModel() from a local HTTP server (127.0.0.1, separate process): peak memory and MB/s
//   - decompress() of the same bytes already in memory: peak memory and MB/s
//   - ZnnDecompressionStream from the server into a discarding sink: peak memory
// Peak RSS is the kernel's VmHWM of the child; arrayBuffers is sampled from process.memoryUsage()
// (on every progress event / chunk); the "live" column repeats the run with a forced GC before
// each sample, so it shows what is really held (the output, in-flight body chunks), not garbage
// waiting for the collector. wasm linear memory is in RSS, not in arrayBuffers.
// Decoded MB/s counts decoded (original) bytes, best of 3 runs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const pkg = pathToFileURL(path.join(repo, 'pkg/node.js')).href;
const MB = 1e6;
const MiB = 1 << 20;

function vmHWM() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// Child: one measurement in a fresh process (so peaks do not mix).

async function child(mode, url, file, runs) {
  const z = await import(pkg);
  await z.init();
  let peakAB = 0;
  let peakRss = 0;
  const gcEach = typeof globalThis.gc === 'function';
  const sample = () => {
    if (gcEach) globalThis.gc();
    const m = process.memoryUsage();
    peakAB = Math.max(peakAB, m.arrayBuffers);
    peakRss = Math.max(peakRss, m.rss);
  };
  const timer = setInterval(sample, 2);
  const before = process.memoryUsage();
  const times = [];
  let bytes = 0;
  let keep = null;
  for (let i = 0; i < runs; i++) {
    keep = null;
    if (mode === 'decompress') {
      const packed = fs.readFileSync(file);
      sample();
      const t = performance.now();
      keep = await z.decompress(packed);
      times.push(performance.now() - t);
      bytes = keep.length;
    } else if (mode === 'fetchModel') {
      const t = performance.now();
      keep = await z.fetchModel(url, { onProgress: sample });
      times.push(performance.now() - t);
      bytes = keep.byteLength;
    } else if (mode === 'fetchModel-memory') {
      const packed = fs.readFileSync(file);
      sample();
      const t = performance.now();
      keep = await z.fetchModel(new Response(packed), { onProgress: sample });
      times.push(performance.now() - t);
      bytes = keep.byteLength;
    } else if (mode === 'transport') {
      const t = performance.now();
      const res = await fetch(url);
      let n = 0;
      for await (const c of res.body) {
        n += c.length;
        sample();
      }
      times.push(performance.now() - t);
      bytes = n;
    } else if (mode === 'stream') {
      const t = performance.now();
      const res = await fetch(url);
      const reader = res.body.pipeThrough(new z.ZnnDecompressionStream()).getReader();
      let n = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        n += value.length;
        sample();
      }
      times.push(performance.now() - t);
      bytes = n;
    }
    sample();
  }
  clearInterval(timer);
  process.stdout.write(
    JSON.stringify({
      mode,
      bytes,
      best: Math.min(...times),
      times,
      hwm: vmHWM(),
      peakRss,
      peakAB,
      baseRss: before.rss,
      baseAB: before.arrayBuffers,
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Parent: the HTTP server (its own process, like a real origin) and the table.

function serve(files) {
  // A tiny static server in a separate process.
  const code = `
    const http = require('http'), fs = require('fs');
    const files = ${JSON.stringify(files)};
    const s = http.createServer((req, res) => {
      const f = files[req.url];
      if (!f) { res.writeHead(404); return res.end(); }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(f).size });
      fs.createReadStream(f, { highWaterMark: 1 << 20 }).pipe(res);
    });
    s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
  `;
  const p = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => p.stdout.once('data', (d) => resolve({ port: Number(String(d).trim()), proc: p })));
}

function run(mode, url, file, runs = 3, gc = false) {
  return new Promise((resolve, reject) => {
    const flags = gc ? ['--expose-gc'] : [];
    const p = spawn(process.execPath, [...flags, fileURLToPath(import.meta.url), '--child', mode, url, file, String(runs)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${mode} child failed (${code})`))));
  });
}

const mb = (n) => (n / MB).toFixed(1);
const mib = (n) => (n / MiB).toFixed(1);

async function main(models) {
  const dist = path.join(repo, 'pkg/dist/zipnn_wasm_bg.wasm');
  const wasm = fs.readFileSync(dist);
  console.log(`wasm: ${wasm.length} bytes, ${zlib.gzipSync(wasm, { level: 9 }).length} gzip -9, ${zlib.brotliCompressSync(wasm).length} brotli`);
  const glue = fs.readFileSync(path.join(repo, 'pkg/dist/zipnn_wasm.js'));
  const core = fs.readFileSync(path.join(repo, 'pkg/core.js'));
  console.log(`js: glue ${glue.length} bytes + core ${core.length} bytes (${zlib.gzipSync(Buffer.concat([glue, core]), { level: 9 }).length} gzip -9)`);

  const z = await import(pkg);
  const out = path.join(repo, 'target/js-bench');
  fs.mkdirSync(out, { recursive: true });
  const files = {};
  for (const m of models) {
    const data = fs.readFileSync(m);
    const t = performance.now();
    const packed = await z.compress(data);
    const ms = performance.now() - t;
    const name = path.basename(m) + '.znw';
    fs.writeFileSync(path.join(out, name), packed);
    files['/' + name] = path.join(out, name);
    console.log(`${path.basename(m)}: ${mb(data.length)} MB -> ${mb(packed.length)} MB (ratio ${(packed.length / data.length).toFixed(4)}), package compress ${(data.length / MB / (ms / 1000)).toFixed(0)} MB/s`);
  }
  const server = await serve(files);
  try {
    console.log('');
    const base = await run('baseline', '', '', 1);
    console.log(`baseline: a child process that only loaded the package peaks at RSS ${mib(base.hwm)} MiB; "extra" below is peak RSS minus that.`);
    console.log('');
    console.log('| model | N (MB) | path | MB/s (decoded bytes; best of 3) | peak RSS (MiB) | extra RSS (MiB) | extra - N (MiB) | peak arrayBuffers (MiB) | live peak arrayBuffers, GC at each sample (MiB) |');
    console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|');
    const labels = {
      transport: 'HTTP body only, no decode (compressed MB/s)',
      fetchModel: 'fetchModel(url) over HTTP',
      'fetchModel-memory': 'fetchModel(Response of in-memory bytes)',
      decompress: 'decompress(bytes in memory)',
      stream: 'ZnnDecompressionStream over HTTP, output discarded',
    };
    for (const m of models) {
      const name = path.basename(m) + '.znw';
      const url = `http://127.0.0.1:${server.port}/${name}`;
      const file = path.join(out, name);
      for (const mode of Object.keys(labels)) {
        const speed = await run(mode, url, file, 3);
        const mem = await run(mode, url, file, 1); // one run: no earlier result still alive
        const live = await run(mode, url, file, 1, true);
        const extra = mem.hwm - base.hwm;
        console.log(
          `| ${path.basename(m)} | ${mb(fs.statSync(m).size)} | ${labels[mode]} | ${(speed.bytes / MB / (speed.best / 1000)).toFixed(0)} | ` +
            `${mib(mem.hwm)} | ${mib(extra)} | ${mode === 'transport' ? '' : mib(extra - fs.statSync(m).size)} | ${mib(mem.peakAB)} | ${mib(live.peakAB)} |`,
        );
      }
    }
  } finally {
    server.proc.kill();
  }
}

if (process.argv[2] === '--child') {
  const [, , , mode, url, file, runs] = process.argv;
  await child(mode, url, file, Number(runs));
} else {
  const models = process.argv.slice(2);
  if (!models.length) models.push(path.join(repo, 'models/minilm.bf16.safetensors'), path.join(repo, 'models/minilm.fp32.safetensors'));
  await main(models);
}
