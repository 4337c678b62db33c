// The first decode in a fresh node process, as a program that loads a model once sees it:
// `await init()`, a pause standing in for the model's download, then the package's
// `decompress()` twice. V8 runs wasm in baseline code until a function has done enough work,
// then compiles it optimised in the background, and a call keeps the code it started with:
// without the warm-up that `init()` schedules, most of a first decode runs baseline code.
// Fresh processes alternate between the default and `init(undefined, { warmUp: false })`;
// medians over the processes. Part of scripts/bench.sh; method in bench/NOTES.md.
//
//   node bench/cold-start.mjs [--processes N] [--pause MS] FILE...
//
// FILE: compressed files (.znw or ZipNN), e.g. made with target/release/zipnn compress.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv.splice(i, 2)[1]) : dflt;
};
const processes = opt('--processes', 5);
const pause = opt('--pause', 200);
const files = argv;
if (!files.length) {
  console.error('usage: node bench/cold-start.mjs [--processes N] [--pause MS] FILE...');
  process.exit(2);
}
const entry = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../pkg/node.js');

// One fresh process: prints the two calls' milliseconds and the warm-up's own.
const child = `
  const fs = await import('node:fs');
  const z = await import(process.env.ENTRY);
  const bytes = new Uint8Array(fs.readFileSync(process.env.FILE));
  await z.init(undefined, { warmUp: process.env.WARM === '1' });
  await new Promise((r) => setTimeout(r, Number(process.env.PAUSE)));
  const ms = [];
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    await z.decompress(bytes);
    ms.push(performance.now() - t0);
  }
  console.log(JSON.stringify({ ms, warmUp: z.__internal.stats.warmUp ?? null }));`;

function once(file, warm) {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', child], {
    env: { ...process.env, ENTRY: entry, FILE: file, WARM: warm ? '1' : '0', PAUSE: String(pause) },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`\n## first decode in a fresh process (package decompress(), ${processes} processes each, init then ${pause} ms)`);
console.log('| file | warm-up | 1st call ms | 2nd call ms | 1st / 2nd | warm-up ms |');
console.log('|---|---|---:|---:|---:|---:|');
for (const file of files) {
  const runs = { on: [], off: [] };
  for (let i = 0; i < processes; i++) {
    for (const warm of i % 2 ? [false, true] : [true, false]) runs[warm ? 'on' : 'off'].push(once(file, warm));
  }
  const mb = fs.statSync(file).size;
  for (const [k, rs] of Object.entries(runs)) {
    const a = median(rs.map((r) => r.ms[0]));
    const b = median(rs.map((r) => r.ms[1]));
    const w = k === 'on' ? median(rs.map((r) => (typeof r.warmUp === 'number' ? r.warmUp : NaN))).toFixed(1) : '';
    console.log(`| ${path.basename(file)} (${(mb / 1e6).toFixed(1)} MB) | ${k} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)} | ${w} |`);
  }
}
