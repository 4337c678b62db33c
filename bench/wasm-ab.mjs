// Two wasm builds timed against each other in one node process: `decompressInto` of the same
// file into the same target, the builds taking turns call by call (the order flipped every
// round). Separate processes, even alternating, differ by ±30 % on this shared machine from one
// minute to the next; calls interleaved 30–60 ms apart see the same load, so a 5 % difference
// shows. Pair it with bench/wasm-icount.sh (instructions); method in bench/NOTES.md.
//
//   node bench/wasm-ab.mjs [--shared-at K | --input] DIR_A DIR_B FILE [CALLS]
//
// DIR_*: wasm-bindgen `--target web` output (zipnn_wasm.js + zipnn_wasm_bg.wasm), e.g. pkg/dist
// and the build of a change. FILE: a compressed file (.znw or a ZipNN frame). CALLS per build
// (default 40; the first 4 of each are warm-up and not counted). --shared-at K: the target is
// a view at byte offset K of a SharedArrayBuffer (V8 copies shared memory fast only where
// source and destination agree mod 8), not a plain Uint8Array. --input: each build's
// `Decompressor.decompressInput` instead, the file and the output in its wasm memory (the
// decoder alone, no copy across the boundary).
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);
const sharedFlag = argv.indexOf('--shared-at');
const sharedAt = sharedFlag >= 0 ? Number(argv.splice(sharedFlag, 2)[1]) : null;
const inputFlag = argv.indexOf('--input');
const inWasm = inputFlag >= 0;
if (inWasm) argv.splice(inputFlag, 1);
const [dirA, dirB, file, calls = '40'] = argv;
if (!file) {
  console.error('usage: node bench/wasm-ab.mjs [--shared-at K | --input] DIR_A DIR_B FILE [CALLS]');
  process.exit(2);
}

async function load(dir) {
  const glue = await import(pathToFileURL(path.resolve(dir, 'zipnn_wasm.js')).href);
  await glue.default({ module_or_path: fs.readFileSync(path.resolve(dir, 'zipnn_wasm_bg.wasm')) });
  return glue;
}

const builds = [
  { name: 'A', dir: dirA, glue: await load(dirA), ms: [] },
  { name: 'B', dir: dirB, glue: await load(dirB), ms: [] },
];
const packed = new Uint8Array(fs.readFileSync(file));
const n = builds[0].glue.decompress(packed).length;
const target = sharedAt === null ? new Uint8Array(n) : new Uint8Array(new SharedArrayBuffer(n + sharedAt), sharedAt, n);
const want = Buffer.from(builds[0].glue.decompress(packed));
if (!Buffer.from(builds[1].glue.decompress(packed)).equals(want)) throw new Error('the builds decode differently');

for (const b of builds) {
  b.call = () => b.glue.decompressInto(packed, target);
  if (inWasm) {
    const d = new b.glue.Decompressor();
    d.inputBuffer(packed.length).set(packed);
    if (!Buffer.from(d.decompressInput(packed.length)).equals(want)) throw new Error(`${b.dir}: decompressInput decodes differently`);
    b.call = () => d.decompressInput(packed.length);
  }
}
for (let i = 0; i < Number(calls); i++) {
  for (const b of i % 2 ? builds : [...builds].reverse()) {
    const t = performance.now();
    b.call();
    b.ms.push(performance.now() - t);
  }
}
const at = (v, q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
for (const b of builds) {
  const v = b.ms.slice(4).sort((x, y) => x - y);
  const mbs = (ms) => (target.length / 1e3 / ms).toFixed(0);
  console.log(`${b.name} ${b.dir}: min ${v[0].toFixed(1)} ms (${mbs(v[0])} MB/s), p25 ${at(v, 0.25).toFixed(1)}, median ${at(v, 0.5).toFixed(1)} ms`);
}
const med = (b) => at([...b.ms.slice(4)].sort((x, y) => x - y), 0.5);
console.log(`B / A median time: ${(med(builds[1]) / med(builds[0])).toFixed(3)}`);
