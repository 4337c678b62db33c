// The package's CLI through npx, in the test project where the tarball is installed.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compress } from 'zipnn-wasm';
import { readFile, modelPath, fixturePath, zipnnFixture, sha256, env, equalBytes, makeSafetensors, weights } from './helpers.mjs';

const project = path.dirname(new URL(import.meta.url).pathname);
const native = path.join(env.repo, 'target/release/zipnn');
let dir;

/** Runs a command; resolves { code, stdout (Buffer), stderr (string) }. */
function run(cmd, args, { input, extraEnv, timeout, cwd = project } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...extraEnv }, timeout, killSignal: 'SIGKILL' });
    const out = [];
    let err = '';
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    p.stdin.on('error', () => {}); // EPIPE: the command stopped reading (it failed early)
    if (input) p.stdin.end(input);
    else p.stdin.end();
  });
}
const npx = (...args) => run('npx', ['--no', 'zipnn-wasm', ...args]);
// The same installed command without npm's start-up time, for the many small error cases.
const bin = (...args) => run(path.join(project, 'node_modules/.bin/zipnn-wasm'), args);

before(() => {
  dir = fs.mkdtempSync(path.join(env.work, 'cli-'));
});
// 615 MB of outputs a run: kept, every run's added up in target/js-test.
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('npx zipnn-wasm', () => {
  test('compress then decompress a real model file', async () => {
    const src = path.join(dir, 'model.safetensors');
    fs.copyFileSync(modelPath('minilm.bf16.safetensors'), src);
    let r = await npx('compress', src);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(`${src}.znw`));
    fs.renameSync(src, `${src}.orig`);
    r = await npx('decompress', `${src}.znw`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(readFile(src)), sha256(readFile(`${src}.orig`)));
    // The native CLI reads what the package wrote.
    r = await run(native, ['decompress', `${src}.znw`, '-o', path.join(dir, 'native.out')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(readFile(path.join(dir, 'native.out'))), sha256(readFile(src)));
    // And inspect lists the tensors.
    r = await npx('inspect', `${src}.znw`);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.toString();
    assert.match(text, /safetensors container/);
    assert.match(text, /embeddings\.word_embeddings\.weight\s+BF16/);
  });

  test('several inputs: each its own output, the native bytes; a failing file stops none', async () => {
    // Three shards of one model, as model-0000N-of-00003.safetensors: the real file's bytes cut
    // in three (the first a safetensors file, the others raw bytes).
    const model = readFile(modelPath('minilm.bf16.safetensors'));
    const cut = [0, 5e6, 9e6, 12e6];
    const shards = [1, 2, 3].map((k) => path.join(dir, `model-0000${k}-of-00003.safetensors`));
    shards.forEach((p, k) => fs.writeFileSync(p, k === 0 ? model : model.subarray(cut[k], cut[k + 1])));
    const want = shards.map((p) => readFile(p));
    let r = await bin('compress', ...shards);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    for (const p of shards) {
      const n = await run(native, ['compress', p, '-o', '-']);
      assert.ok(equalBytes(readFile(`${p}.znw`), n.stdout), `${p}.znw: the native tool's bytes`);
    }
    const before = shards.map((p) => readFile(`${p}.znw`));
    r = await bin('compress', ...shards);
    assert.equal(r.code, 1);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 4, r.stderr);
    shards.forEach((p, k) => assert.match(lines[k], new RegExp(`^zipnn-wasm: ${p}: .*already exists`)));
    assert.equal(lines[3], 'zipnn-wasm: 3 of 3 files failed to compress');
    shards.forEach((p, k) => assert.ok(equalBytes(readFile(`${p}.znw`), before[k]), 'nothing overwritten'));

    // decompress: a damaged file and a missing one are reported; the others are written.
    shards.forEach((p) => fs.rmSync(p));
    const bad = before[1].slice();
    bad[bad.length >> 1] ^= 0x40;
    fs.writeFileSync(`${shards[1]}.znw`, bad);
    const missing = path.join(dir, 'missing.znw');
    r = await bin('decompress', `${shards[0]}.znw`, `${shards[1]}.znw`, missing, `${shards[2]}.znw`);
    assert.equal(r.code, 1);
    const errs = r.stderr.trimEnd().split('\n');
    assert.equal(errs.length, 3, r.stderr);
    assert.match(errs[0], new RegExp(`^zipnn-wasm: ${shards[1]}\\.znw: .*\\(ZNN_CORRUPT\\)$`));
    assert.match(errs[1], new RegExp(`^zipnn-wasm: cannot read ${missing}: `));
    assert.equal(errs[2], 'zipnn-wasm: 2 of 4 files failed to decompress');
    assert.ok(equalBytes(readFile(shards[0]), want[0]) && equalBytes(readFile(shards[2]), want[2]));
    assert.ok(!fs.existsSync(shards[1]), 'no output for the damaged file');
    // -o names one output; stdin is one input at most; an unknown dtype is said once.
    for (const [args, message] of [
      [['decompress', `${shards[0]}.znw`, `${shards[2]}.znw`, '-o', path.join(dir, 'x')], '-o takes one input file, not 2'],
      [['compress', '-', '-'], "'-' (stdin) can be one input only"],
      [['compress', ...shards, '--dtype', 'nope', '--force'], 'invalid input: unknown dtype "nope"'],
    ]) {
      r = await bin(...args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `zipnn-wasm: ${message} (zipnn-wasm --help for usage)\n`);
    }
    // An input that names no output (".znw" would decode to "") fails alone.
    const nameless = path.join(dir, '.znw');
    fs.copyFileSync(`${shards[0]}.znw`, nameless);
    r = await bin('decompress', nameless, `${shards[2]}.znw`, '--force');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\.znw: cannot name the output after the input: give one with -o\nzipnn-wasm: 1 of 2 files failed to decompress\n$/);
  });

  test("the encoder's chunk trials choose alike in wasm and natively: the native bytes", async () => {
    // A sorted float32 tensor of 64 values (runs: coded as whole bytes), float16 of three
    // values (plain byte groups), and a float16 mask of runs of about 8 (kept grouped).
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
    const levels = Array.from({ length: 64 }, () => rand() * 2 - 1);
    const sorted = Float32Array.from({ length: 1 << 18 }, () => levels[Math.floor(rand() * 64)]).sort();
    const three = Uint16Array.from({ length: 1 << 19 }, () => [0x3800, 0xb400, 0x3000][Math.floor(rand() * 3)]);
    let bit = 0;
    const mask = Uint16Array.from({ length: 1 << 19 }, () => (rand() < 1 / 8 ? (bit ^= 1) : bit) * 0x3c00);
    for (const [name, dtype, array, most] of [
      ['sorted.f32', 'fp32', sorted, 0.01],
      ['three.f16', 'fp16', three, 0.22],
      ['mask.f16', 'fp16', mask, 0.1],
    ]) {
      const src = path.join(dir, name);
      fs.writeFileSync(src, new Uint8Array(array.buffer));
      const r = await bin('compress', src, '--dtype', dtype, '--force');
      assert.equal(r.code, 0, r.stderr);
      const n = await run(native, ['compress', src, '--dtype', dtype, '-o', '-']);
      assert.ok(equalBytes(readFile(`${src}.znw`), n.stdout), `${name}: the native tool's bytes`);
      assert.ok(n.stdout.length < most * array.byteLength, `${name}: ${n.stdout.length} bytes`);
    }
  });

  test("gzip's conventions: --version, --, --name=value, suffixes, the input's mode and times", async () => {
    let r = await bin('--version');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /^zipnn-wasm \d+\.\d+\.\d+\n$/);
    const sub = fs.mkdtempSync(path.join(dir, 'conv-'));
    const src = path.join(sub, '-w.bin');
    fs.writeFileSync(src, weights(5000, 'bf16', 9));
    fs.chmodSync(src, 0o600);
    const then = new Date('2020-01-01T00:00:00Z');
    fs.utimesSync(src, then, then);
    r = await run(path.join(project, 'node_modules/.bin/zipnn-wasm'), ['compress', '--dtype=bf16', '--', '-w.bin'], { cwd: sub });
    assert.equal(r.code, 0, r.stderr);
    const packed = `${src}.znw`;
    const st = fs.statSync(packed, { bigint: true });
    assert.equal(Number(st.mode) & 0o777, 0o600);
    // Never older than the input (make would rebuild it), within the microsecond node sets.
    const since = st.mtimeNs - fs.statSync(src, { bigint: true }).mtimeNs;
    assert.ok(since >= 0n && since <= 2000n, `mtime ${since} ns after the input's`);
    r = await bin('compress', packed);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already has the \.znw suffix/);
    r = await bin('compress', src, '--verify=yes', '-o', '-');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--verify takes no value/);
    const back = path.join(sub, 'back.bin');
    r = await bin('decompress', packed, `--output=${back}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(back).mode & 0o777, 0o600);
    assert.ok(equalBytes(fs.readFileSync(back), fs.readFileSync(src)));
  });

  test('refuses to overwrite without --force; one-line errors, non-zero exit', async () => {
    const src = path.join(dir, 'small.bin');
    fs.writeFileSync(src, readFile(zipnnFixture('bf16_3chunks_mixed.bin')));
    assert.equal((await bin('compress', src, '--dtype', 'bf16')).code, 0);
    let r = await bin('compress', src, '--dtype', 'bf16');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^zipnn-wasm: .*small\.bin\.znw already exists \(use --force to overwrite\)\n$/);
    r = await bin('compress', src, '--dtype', 'bf16', '--force');
    assert.equal(r.code, 0, r.stderr);
    // Corrupt input: one line with the code, no output file left behind.
    const bad = readFile(`${src}.znw`);
    bad[bad.length >> 1] ^= 0xff;
    fs.writeFileSync(path.join(dir, 'bad.znw'), bad);
    r = await bin('decompress', path.join(dir, 'bad.znw'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^zipnn-wasm: .*\(ZNN_CORRUPT\)\n$/);
    assert.ok(!fs.existsSync(path.join(dir, 'bad')));
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp')), []);
    r = await bin('decompress', src, '-o', path.join(dir, 'plain.out'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\(ZNN_NOT_COMPRESSED\)/);
    // Without -o, a name of unknown suffix gives no guessed output name (as gzip skips it).
    r = await bin('decompress', src);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown suffix/);
    r = await bin('decompress', path.join(dir, 'does-not-exist.znw'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^zipnn-wasm: cannot read /);
    r = await bin('frobnicate', src);
    assert.equal(r.code, 2);
    r = await bin('compress', src, '--bogus');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option --bogus/);
  });

  test('named pipes: as -o written to, never replaced; as the input read once; the input is never the output', { timeout: 120_000 }, async () => {
    const src = path.join(dir, 'p.bin');
    const data = readFile(zipnnFixture('bf16_3chunks_mixed.bin'));
    fs.writeFileSync(src, data);
    assert.equal((await bin('compress', src, '--dtype', 'bf16')).code, 0);
    const packed = readFile(`${src}.znw`);
    for (const [args, want] of [
      [['decompress', `${src}.znw`], data],
      [['compress', src, '--dtype', 'bf16'], packed],
    ]) {
      for (const force of [[], ['--force']]) {
        const fifo = path.join(dir, `pipe-${args[0]}-${force.length}`);
        execFileSync('mkfifo', [fifo]);
        const got = new Promise((resolve, reject) => {
          const parts = [];
          fs.createReadStream(fifo).on('data', (d) => parts.push(d)).on('end', () => resolve(Buffer.concat(parts))).on('error', reject);
        });
        const r = await bin(...args, '-o', fifo, ...force);
        assert.equal(r.code, 0, `${args} ${force}: ${r.stderr}`);
        assert.ok(equalBytes(await got, want), `${args} ${force}: the reader got the output`);
        assert.ok(fs.statSync(fifo).isFIFO(), `${args} ${force}: still a pipe`);
      }
    }
    // A named pipe as the input is read once, whole: opened twice, its writer got SIGPIPE at
    // the first close and the output was cut short, with status 0.
    const model = readFile(modelPath('minilm.bf16.safetensors'));
    for (const args of [['compress'], ['compress', '--dtype', 'bf16']]) {
      const fifo = path.join(dir, `in-pipe-${args.length}`);
      execFileSync('mkfifo', [fifo]);
      const writer = new Promise((resolve) => {
        const w = fs.createWriteStream(fifo);
        w.on('error', resolve); // EPIPE: the reader closed early
        w.end(model, () => resolve(null));
      });
      const out = path.join(dir, `in-pipe-${args.length}.znw`);
      // (Killed after 30 s: a command that hangs must not keep this file from ending.)
      const r = await run(path.join(project, 'node_modules/.bin/zipnn-wasm'), [args[0], fifo, ...args.slice(1), '-o', out], { timeout: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await writer, null, 'the writer wrote everything');
      const back = await run(native, ['decompress', out, '-o', '-']);
      assert.equal(sha256(back.stdout), sha256(model), `${args}: the whole input`);
    }
    // By another name (./, absolute, a hard link), with --force: refused, the input intact.
    const link = path.join(dir, 'p-link.bin');
    fs.linkSync(src, link);
    for (const other of [`${dir}/./p.bin`, fs.realpathSync(src), link]) {
      const r = await bin('compress', src, '-o', other, '--force');
      assert.equal(r.code, 1, other);
      assert.match(r.stderr, /output would overwrite the input/);
      assert.ok(equalBytes(readFile(src), data));
    }
    // Nor the file on stdin (either command), while a device is written to.
    for (const cmd of ['compress', 'decompress']) {
      const r = await run('sh', ['-c', `"$0" ${cmd} - -o "$1" --force < "$1"`, path.join(project, 'node_modules/.bin/zipnn-wasm'), src]);
      assert.equal(r.code, 1, cmd);
      assert.match(r.stderr, /output would overwrite the input/, cmd);
      assert.ok(equalBytes(readFile(src), data), cmd);
    }
    const r = await run('sh', ['-c', `"$0" compress - -o /dev/null < /dev/null`, path.join(project, 'node_modules/.bin/zipnn-wasm')]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("inspect escapes names' control characters and pads by characters, as the native tool does", async () => {
    const names = ['a\nb', 'esc\u001b[31mred', 't\tab\u0000', 'ünïcödé ✓', '😀 wide'];
    const file = path.join(dir, 'names.safetensors');
    fs.writeFileSync(file, makeSafetensors(names.map((name, i) => ({ name, dtype: 'BF16', shape: [64], bytes: weights(64, 'bf16', i + 1) }))));
    assert.equal((await run(native, ['compress', file, '-o', `${file}.znw`])).code, 0);
    const r = await bin('inspect', `${file}.znw`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), (await run(native, ['inspect', `${file}.znw`])).stdout.toString());
    assert.ok(!/[\x00-\x09\x0b-\x1f]/.test(r.stdout.toString()), 'no raw control characters');
    assert.match(r.stdout.toString(), /^esc\\u\{1b\}\[31mred /m);
  });

  test("inspect's ratios have the native tool's digits: Rust's {:.4}, exact ties to even", async () => {
    const { fixed4 } = await import(pathToFileURL(path.join(project, 'node_modules/zipnn-wasm/bin/fixed4.js')).href);
    // What the native tool printed: ties (odd multiples of 1/32) and doubles just past a tie,
    // which the CLI once took for ties (777/4000 was a segment's ratio in a real file).
    const rust = {
      '9/32': '0.2812', '3/32': '0.0938', '33/32': '1.0312', '1/20000': '0.0001',
      '777/4000': '0.1943', '2073/800': '2.5913', '56414/21440': '2.6313', '22538/8000': '2.8173',
      '11935/28000': '0.4263', '157599/60000': '2.6267', '0/5': '0.0000',
    };
    for (const [q, want] of Object.entries(rust)) {
      const [c, n] = q.split('/').map(Number);
      assert.equal(fixed4(c / n), want, q);
    }
    // The double's exact value (m · 2^e) times 10^4, rounded half to even, in integers.
    const exact = (x) => {
      const v = new DataView(new ArrayBuffer(8));
      v.setFloat64(0, x);
      const bits = v.getBigUint64(0);
      const biased = Number((bits >> 52n) & 0x7ffn);
      const m = (bits & ((1n << 52n) - 1n)) | (biased ? 1n << 52n : 0n);
      const e = (biased || 1) - 1075;
      const [num, den] = e >= 0 ? [m * 10000n << BigInt(e), 1n] : [m * 10000n, 1n << BigInt(-e)];
      let q = num / den;
      const r2 = 2n * (num % den);
      if (r2 > den || (r2 === den && q % 2n === 1n)) q += 1n;
      const s = q.toString().padStart(5, '0');
      return `${s.slice(0, -4)}.${s.slice(-4)}`;
    };
    let seed = 12345; // xorshift32
    const rand = (k) => {
      seed = (seed ^ (seed << 13)) >>> 0;
      seed = (seed ^ (seed >>> 17)) >>> 0;
      seed = (seed ^ (seed << 5)) >>> 0;
      return seed % k;
    };
    for (let i = 0; i < 200_000; i++) {
      const n = 1 + rand(i % 2 ? 100_000 : 2 ** 30);
      const x = rand(3 * n + 1) / n;
      assert.equal(fixed4(x), exact(x), `${x}`);
    }
    for (let j = 0; j < 5000; j++) assert.equal(fixed4(j / 32), exact(j / 32), `${j}/32`);
  });

  test('inspect reads a file at offsets: files past 4 GiB (sparse here), as the native tool does', async () => {
    const sparse = (file, size, pieces) => {
      const fd = fs.openSync(file, 'w');
      for (const [at, bytes] of pieces) fs.writeSync(fd, bytes, 0, bytes.length, at);
      fs.ftruncateSync(fd, size);
      fs.closeSync(fd);
    };
    // A streaming .znn of 275 frames of 16 MiB of random bytes: each frame's first 64 KiB
    // (its header and tables) where it starts, the rest a hole.
    const rnd = path.join(dir, 'rnd16m');
    fs.writeFileSync(rnd, crypto.randomBytes(16 << 20));
    let r = await run(native, ['compress', rnd, '--format', 'zipnn', '--dtype', 'bf16', '--streaming-chunk', String(16 << 20), '-o', `${rnd}.znn`]);
    assert.equal(r.code, 0, r.stderr);
    const frame = fs.readFileSync(`${rnd}.znn`);
    const big = path.join(dir, 'big.znn');
    sparse(big, 275 * frame.length, Array.from({ length: 275 }, (_, i) => [i * frame.length, frame.subarray(0, 1 << 16)]));
    // A .znn.safetensors file whose second compressed tensor lies past 4.3 GB of a plain one.
    const w = path.join(dir, 'w64k');
    fs.writeFileSync(w, weights(1 << 15, 'bf16'));
    r = await run(native, ['compress', w, '--format', 'zipnn', '--dtype', 'bf16', '-o', `${w}.znn`]);
    assert.equal(r.code, 0, r.stderr);
    const f = fs.readFileSync(`${w}.znn`);
    const gap = 4_300_000_000;
    // The tensors zipnn compressed, as it lists them (a JSON string, Python's spacing).
    const listed = `{"a": {"dtype": "bfloat16", "shape": "[${1 << 15}]"}, "b": {"dtype": "bfloat16", "shape": "[${1 << 15}]"}}`;
    let json = Buffer.from(JSON.stringify({
      __metadata__: { znn_compressed_vectors: listed },
      a: { dtype: 'U8', shape: [f.length], data_offsets: [0, f.length] },
      big: { dtype: 'F32', shape: [gap / 4], data_offsets: [f.length, f.length + gap] },
      b: { dtype: 'U8', shape: [f.length], data_offsets: [f.length + gap, 2 * f.length + gap] },
    }));
    json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const data = 8 + json.length;
    const st = path.join(dir, 'big.znn.safetensors');
    sparse(st, data + 2 * f.length + gap, [[0, Buffer.concat([len, json, f])], [data + f.length + gap, f]]);
    // .znw files too, with the lines that follow the table: the coders' blocks, a delta's base,
    // a raw file's suggested dtype.
    const raw = path.join(dir, 'w64k.znw');
    assert.equal((await run(native, ['compress', w, '--dtype', 'bytes', '-o', raw])).code, 0);
    const znw = [
      [fixturePath('minilm.fp32.safetensors.znw'), /^blocks: .*huff0/m],
      [fixturePath('moved.safetensors.znw'), /^delta against a base of 45442040 bytes/m],
      [raw, /^note: stored as plain bytes .* --dtype bf16/m],
    ];
    assert.ok(fs.statSync(big).size > 2 ** 32 && fs.statSync(st).size > 2 ** 32);
    for (const [file, want] of [[big, /275 frame\(s\), streaming chunk 16777216 bytes/], [st, /2 held as ZipNN frames/], ...znw]) {
      r = await bin('inspect', file);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.toString(), want);
      assert.equal(r.stdout.toString(), (await run(native, ['inspect', file])).stdout.toString(), file);
    }
    // A file system whose reads return less than asked (NFS, FUSE): read on, as the native
    // tool's read_exact does, not "truncated".
    const halves = path.join(dir, 'short-reads.mjs');
    fs.writeFileSync(halves, `import fs from 'node:fs';
const read = fs.readSync;
fs.readSync = (fd, b, off, len, pos) => read(fd, b, off, Math.max(1, len >> 1), pos);
`);
    for (const [file] of znw) {
      r = await run(process.execPath, ['--import', pathToFileURL(halves).href, path.join(project, 'node_modules/zipnn-wasm/bin/zipnn-wasm.js'), 'inspect', file]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), (await run(native, ['inspect', file])).stdout.toString(), file);
    }
  });

  test('.znn.safetensors: decompress names the output X.safetensors; inspect lists its tensors', async () => {
    const znn = path.join(dir, 'st.znn.safetensors');
    fs.copyFileSync(zipnnFixture('st_minilm_meta.znn.safetensors'), znn);
    let r = await bin('decompress', znn);
    assert.equal(r.code, 0, r.stderr);
    const n = await run(native, ['decompress', znn, '-o', '-']);
    assert.ok(equalBytes(readFile(path.join(dir, 'st.safetensors')), n.stdout));
    r = await bin('inspect', znn);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.toString();
    assert.match(text, /ZipNN \.znn\.safetensors, .*7 tensors, 5 held as ZipNN frames/);
    assert.match(text, /encoder\.layer\.0\.attention\.self\.query\.weight +BF16 +\[48, 384\] +36864 +24519/);
  });

  test('a file that decodes to more than 2 GiB streams through', async () => {
    const fifo = path.join(dir, 'big-pipe');
    execFileSync('mkfifo', [fifo]);
    const zero = Buffer.alloc(1 << 20);
    const counted = new Promise((resolve, reject) => {
      let n = 0;
      let nonZero = 0;
      fs.createReadStream(fifo, { highWaterMark: 1 << 20 })
        .on('data', (d) => {
          n += d.length;
          if (Buffer.compare(d, zero.subarray(0, d.length)) !== 0) nonZero++;
        })
        .on('end', () => resolve([n, nonZero]))
        .on('error', reject);
    });
    const r = await bin('decompress', fixturePath('zeros-2.2G.znw'), '-o', fifo);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await counted, [2_200_000_000, 0]);
  });

  test('large files compress as a stream: 2.2 GB, more than compress() takes; safetensors to the native bytes', async () => {
    // A sparse file: 2.2 GB of zeros, read as a stream (compress() refuses past 2 GiB).
    const big = path.join(dir, 'zeros.bin');
    fs.closeSync(fs.openSync(big, 'w'));
    fs.truncateSync(big, 2_200_000_000);
    let r = await bin('compress', big, '--verify');
    assert.equal(r.code, 0, r.stderr);
    r = await bin('test', `${big}.znw`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /OK, 2200000000 bytes/);
    fs.rmSync(big);
    // With the threshold lowered (for the test): a safetensors file as a stream gives the
    // native tool's bytes (which compress it whole at this size).
    const src = modelPath('minilm.bf16.safetensors');
    const out = path.join(dir, 'streamed.znw');
    r = await run(path.join(project, 'node_modules/.bin/zipnn-wasm'), ['compress', src, '-o', out, '--verify'], { extraEnv: { ZIPNN_STREAM_ABOVE: '1' } });
    assert.equal(r.code, 0, r.stderr);
    execFileSync(native, ['compress', src, '-o', path.join(dir, 'native.znw'), '--force']);
    assert.ok(equalBytes(readFile(out), readFile(path.join(dir, 'native.znw'))));
    // --verify to stdout: verified as it is written (no file to read back), the same bytes.
    r = await run(path.join(project, 'node_modules/.bin/zipnn-wasm'), ['compress', src, '-o', '-', '--verify'], { extraEnv: { ZIPNN_STREAM_ABOVE: '1' } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(equalBytes(r.stdout, readFile(out)));
    // A file whose first bytes only look like a safetensors header: no tensor table there, so,
    // as the native tool does, it is compressed whole (the same bytes as the native tool's).
    const odd = path.join(dir, 'odd.bin');
    const head = Buffer.alloc(64, 0x20);
    head.writeBigUInt64LE(56n, 0);
    head.write('{"not": json', 8);
    fs.writeFileSync(odd, Buffer.concat([head, readFile(src).subarray(4096)]));
    r = await run(path.join(project, 'node_modules/.bin/zipnn-wasm'), ['compress', odd, '-o', `${odd}.znw`], { extraEnv: { ZIPNN_STREAM_ABOVE: '1' } });
    assert.equal(r.code, 0, r.stderr);
    execFileSync(native, ['compress', odd, '-o', `${odd}.native.znw`]);
    assert.ok(equalBytes(readFile(`${odd}.znw`), readFile(`${odd}.native.znw`)));
  });

  test('test: verifies every checksum, writes nothing; a changed body checksum fails', async () => {
    const src = path.join(dir, 't.bin');
    const data = readFile(zipnnFixture('fp32_minilm_16k.bin'));
    fs.writeFileSync(src, data);
    assert.equal((await bin('compress', src, '--dtype', 'fp32', '--chunk-size', '16384')).code, 0);
    const packed = readFile(`${src}.znw`);
    const before = fs.readdirSync(dir).length;
    let r = await bin('test', `${src}.znw`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), `${src}.znw: OK, ${data.length} bytes\n`);
    assert.equal(fs.readdirSync(dir).length, before, 'nothing written');
    // The native tool's test of a file whose one body-checksum bit changed: decompress still
    // restores it (the decoded bytes verify), test fails. Find such a bit by asking the native CLI.
    const bad = path.join(dir, 't-bad.znw');
    let flipped = false;
    // Record heads come first (FORMAT.md §3): search from the start.
    for (let at = 0; at < packed.length && !flipped; at++) {
      const p = packed.slice();
      p[at] ^= 1;
      fs.writeFileSync(bad, p);
      const d = await run(native, ['decompress', bad, '-o', '-']);
      const t = await run(native, ['test', bad]);
      flipped = d.code === 0 && equalBytes(d.stdout, data) && t.code === 1;
    }
    assert.ok(flipped, 'a bit only the body checksum covers');
    r = await bin('test', bad);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^zipnn-wasm: .*t-bad\.znw: .*checksum.*\(ZNN_CORRUPT\)\n$/);
    // Several files: one line per failure, the others still tested, then a summary.
    const znn = zipnnFixture('bf16_stream8k.znn');
    r = await bin('test', bad, `${src}.znw`, znn);
    assert.equal(r.code, 1);
    assert.match(r.stdout.toString(), /t\.bin\.znw: OK, /);
    assert.match(r.stdout.toString(), /bf16_stream8k\.znn: decodes, \d+ bytes \(ZipNN files carry no checksums\)/);
    assert.match(r.stderr, /1 of 3 files failed the test/);
    r = await run(path.join(project, 'node_modules/.bin/zipnn-wasm'), ['test', '-'], { input: packed });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await bin('test', `${src}.znw`, '-o', 'x')).code, 2);
  });

  test('a file found damaged while stdin still flows: one error line, not a crash', async () => {
    // A .znn.safetensors whose bf16 frame comes first in the file but restores after the fp32
    // one (zipnn's file sorts its U8 frames by name, the restored file by type first): the
    // frame is held, and found damaged once whole, while the pipe still delivers the rest.
    // node 20's Readable.toWeb threw "Controller is already closed" from the next 'data'
    // event there and killed the process.
    const frame = async (n, dtype, seed) => compress(weights(n, dtype, seed), { format: 'zipnn', dtype });
    const a = await frame(100_000, 'bf16', 1);
    const b = await frame(200_000, 'fp32', 2);
    a[8] ^= 0xff; // the frame header's input format
    const file = makeSafetensors(
      [
        { name: 'a.bf16', dtype: 'U8', shape: [a.length], bytes: a },
        { name: 'b.fp32', dtype: 'U8', shape: [b.length], bytes: b },
      ],
      {
        format: 'pt',
        znn_compressed_vectors: JSON.stringify({ 'a.bf16': { dtype: 'bfloat16', shape: '[100000]' }, 'b.fp32': { dtype: 'float32', shape: '[200000]' } }),
      },
    );
    for (const args of [['decompress', '-', '-o', '-'], ['test', '-']]) {
      const r = await run(path.join(project, 'node_modules/.bin/zipnn-wasm'), args, { input: file });
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /^zipnn-wasm: .*\(ZNN_CORRUPT\)\n$/, args[0]);
    }
  });

  test("'-' is stdin/stdout", async () => {
    const data = readFile(zipnnFixture('fp32_minilm_16k.bin'));
    const c = await run('npx', ['--no', 'zipnn-wasm', 'compress', '-', '--dtype', 'fp32'], { input: data });
    const packed = c.stdout;
    assert.equal(c.code, 0, c.stderr);
    assert.ok(packed.length > 0 && packed.length < data.length);
    const d = await run('npx', ['--no', 'zipnn-wasm', 'decompress', '-'], { input: packed });
    assert.equal(d.code, 0, d.stderr);
    assert.ok(equalBytes(d.stdout, data));
    // stdin → file
    const out = path.join(dir, 'from-stdin.bin');
    const e = await run('npx', ['--no', 'zipnn-wasm', 'decompress', '-', '-o', out], { input: packed });
    assert.equal(e.code, 0, e.stderr);
    assert.ok(equalBytes(readFile(out), data));
    // Errors name it stdin, as the native CLI's do; a directory on stdin is refused, not read
    // as empty.
    const bad = await run('npx', ['--no', 'zipnn-wasm', 'decompress', '-', '-o', out, '--force'], { input: Buffer.from('garbage') });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'zipnn-wasm: stdin: not a compressed file (unknown magic number) (ZNN_NOT_COMPRESSED)\n');
    for (const cmd of ['compress', 'decompress']) {
      const r = await run('sh', ['-c', `"$0" ${cmd} - -o "$1" --force < "$2"`, path.join(project, 'node_modules/.bin/zipnn-wasm'), path.join(dir, 'from-dir'), dir]);
      assert.equal(r.code, 1, cmd);
      assert.equal(r.stderr, 'zipnn-wasm: cannot read -: is a directory\n', cmd);
      assert.ok(!fs.existsSync(path.join(dir, 'from-dir')), cmd);
    }
  });

  test('-o /dev/stdout while stdout is a file: that file gets the output, no link is replaced (as natively)', async () => {
    const data = readFile(zipnnFixture('fp32_minilm_16k.bin'));
    const input = path.join(dir, 'dev-stdout.znw');
    fs.writeFileSync(input, await compress(data, { dtype: 'fp32' }));
    const link = path.join(dir, 'my-stdout');
    fs.symlinkSync('/proc/self/fd/1', link);
    for (const [tool, name, force] of [
      [path.join(project, 'node_modules/.bin/zipnn-wasm'), '/dev/stdout', ''],
      [path.join(project, 'node_modules/.bin/zipnn-wasm'), link, '--force'],
      [native, '/dev/fd/1', ''],
    ]) {
      const res = path.join(dir, 'dev-stdout.out');
      const r = await run('sh', ['-c', `"$0" decompress "$1" -o "$2" $3 > "$4"`, tool, input, name, force, res]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.ok(equalBytes(readFile(res), data), name);
    }
    assert.ok(fs.lstatSync(link).isSymbolicLink());
  });

  test('--format zipnn writes a .znn that decompresses back (and the native CLI reads)', async () => {
    const src = path.join(dir, 'w.bin');
    fs.writeFileSync(src, readFile(zipnnFixture('bf16_3chunks_mixed.bin')));
    let r = await bin('compress', src, '--format', 'zipnn');
    assert.equal(r.code, 2, 'zipnn format needs --dtype (a usage error, as in the native CLI)');
    assert.match(r.stderr, /^zipnn-wasm: --format zipnn needs --dtype/);
    r = await bin('compress', src, '--format', 'zipnn', '--dtype', 'bf16');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(`${src}.znn`).subarray(0, 2).toString(), 'ZN');
    r = await bin('decompress', `${src}.znn`, '-o', path.join(dir, 'w.back'));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(equalBytes(readFile(path.join(dir, 'w.back')), readFile(src)));
    r = await bin('inspect', `${src}.znn`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /ZipNN 0\.5\.4 frames, bfloat16/);
    // ZipNN files of every kind: the same lines as the native tool prints (both read them
    // from the library's report).
    for (const name of ['bf16_stream8k.znn', 'torch_bf16_20x300.znn', 'bf16_delta_stream.znn', 'e5m2_stream.znn', 'limits/bf16_64.stream4.znn']) {
      const f = zipnnFixture(name);
      r = await bin('inspect', f);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), (await run(native, ['inspect', f])).stdout.toString(), name);
    }
    // An empty file has no ratio: '-', as the native tool prints it.
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '');
    assert.equal((await bin('compress', empty)).code, 0);
    r = await bin('inspect', `${empty}.znw`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), (await run(native, ['inspect', `${empty}.znw`])).stdout.toString());
    assert.match(r.stdout.toString(), /ratio -,/);
    // A file that is not compressed: named, as every command names its input.
    r = await bin('inspect', src);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.toString(), `zipnn-wasm: ${src}: not a compressed file (unknown magic number) (ZNN_NOT_COMPRESSED)\n`);
  });

  test('an option the command does not read is a usage error, as in the native CLI', async () => {
    const src = path.join(dir, 'flags.bin');
    fs.writeFileSync(src, readFile(zipnnFixture('bf16_3chunks_mixed.bin')));
    for (const [args, message] of [
      [['inspect', src, '-o', path.join(dir, 'r.txt')], '-o does not apply to inspect'],
      [['decompress', src, '--dtype', 'fp32'], '--dtype does not apply to decompress'],
      [['compress', src, '--streaming-chunk', '262144'], '--streaming-chunk applies to --format zipnn only'],
      [['compress', src, '--format', 'zipnn', '--dtype', 'bf16', '--verify'], '--verify does not apply'],
      [['compress', src, '--chunk-size', '6'], 'chunk size must be a multiple of 4'],
      [['compress', src, '--chunk-size', String(2 ** 24 + 4)], 'chunk size must be a multiple of 4'],
      [['compress', src, '--chunk-size', '1e3'], 'bad value for --chunk-size'],
      [['compress', src, '--format', 'zipnn', '--dtype', 'bf16', '--chunk-size', '1000'], 'ZipNN chunk sizes are powers of two'],
      [['compress', src, '--format', 'zipnn', '--dtype', 'bf16', '--streaming-chunk', '1000'], 'ZipNN streaming chunks are powers of two'],
      [['compress', src, '--format', 'zipnn', '--dtype', 'bf16', '--chunk-size', '512'], 'ZipNN chunk sizes are powers of two from 1 KiB to 1 GiB'],
      [['compress', src, '--format', 'zipnn', '--dtype', 'bf16', '--streaming-chunk', String(2 ** 32)], 'ZipNN streaming chunks are powers of two from 256 bytes to 1 GiB'],
      [['compress', src, '--format', 'zipnn', '--dtype', 'bf16', '--streaming-chunk', String(2 ** 31)], 'ZipNN streaming chunks are powers of two from 256 bytes to 1 GiB'],
    ]) {
      const r = await bin(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.startsWith(`zipnn-wasm: ${message}`), r.stderr);
    }
    // --chunk-size sets a ZipNN file's chunks, as in the native CLI (header byte 14 = log2).
    // (A '+' sign is read, as natively.)
    const zr = await bin('compress', src, '--format', 'zipnn', '--dtype', 'bf16', '--chunk-size', '+65536', '-o', path.join(dir, 'c.znn'));
    assert.equal(zr.code, 0, zr.stderr);
    assert.equal(readFile(path.join(dir, 'c.znn'))[14], 16);
    assert.equal((await bin('decompress', path.join(dir, 'c.znn'), '-o', path.join(dir, 'c.out'))).code, 0);
    assert.ok(equalBytes(readFile(path.join(dir, 'c.out')), readFile(src)));
    // Sizes take K, M, G (KiB, MiB, GiB; 64K, 64KB, 64KiB) as natively: the same bytes as the
    // number written out.
    const packed = async (...flags) => {
      const r = await bin('compress', src, '-o', path.join(dir, 's.out'), '--force', ...flags);
      assert.equal(r.code, 0, `${flags.join(' ')}: ${r.stderr}`);
      return readFile(path.join(dir, 's.out'));
    };
    const zipnnFmt = ['--format', 'zipnn', '--dtype', 'bf16'];
    for (const [unit, bytes] of [['1k', '1024'], ['+4KB', '4096'], ['64KiB', '65536'], ['1M', '1048576']]) {
      assert.ok(equalBytes(await packed('--chunk-size', unit), await packed('--chunk-size', bytes)), unit);
      assert.ok(equalBytes(await packed(...zipnnFmt, '--streaming-chunk', unit), await packed(...zipnnFmt, '--streaming-chunk', bytes)), unit);
    }
    assert.equal((await packed(...zipnnFmt, '--chunk-size', '128K'))[14], 17);
    for (const bad of ['64Kb', '64KIB', '64KK', 'K', '64T', '0x100', ' 64']) {
      const r = await bin('compress', src, '--chunk-size', bad);
      assert.equal(r.code, 2, bad);
      assert.ok(r.stderr.startsWith(`zipnn-wasm: bad value for --chunk-size: ${JSON.stringify(bad)}`), r.stderr);
    }
    assert.ok(!fs.existsSync(path.join(dir, 'r.txt')));
    // --help after a command prints the usage (status 0), as `zipnn compress -h` does; an
    // unknown option is still an error.
    for (const args of [['compress', '--help'], ['decompress', src, '-h'], ['help']]) {
      const r = await bin(...args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout.toString(), /^usage: zipnn-wasm /m);
    }
    assert.equal((await bin('compress', '--bogus', '--help')).code, 2);
  });

  test('a file name that is not UTF-8 is a usage error, as in the native CLI (node would read another name)', async () => {
    const raw = Buffer.concat([Buffer.from(path.join(dir, 'bad')), Buffer.from([0xff]), Buffer.from('.st')]);
    fs.writeFileSync(raw, readFile(modelPath('silero_vad_16k.safetensors')));
    // The raw bytes reach argv through a shell (node's own arguments are strings).
    const via = (cmd) => run('/bin/sh', ['-c', `exec "$0" compress "$(printf '%s\\377.st' "$1")"`, cmd, path.join(dir, 'bad')]);
    const [ours, theirs] = [await via(path.join(project, 'node_modules/.bin/zipnn-wasm')), await via(native)];
    assert.deepEqual([ours.code, theirs.code], [2, 2], `${ours.stderr}${theirs.stderr}`);
    assert.match(ours.stderr, /^zipnn-wasm: [^\n]*bad\uFFFD\.st is not valid UTF-8/);
    fs.rmSync(raw);
  });

  test('a file named like the temporary output is left alone, even the input', async () => {
    const packed = path.join(dir, 'keep.znw');
    let r = await bin('compress', zipnnFixture('bf16_3chunks_mixed.bin'), '--dtype', 'bf16', '-o', packed);
    assert.equal(r.code, 0, r.stderr);
    // The temporary name holds the process id: a shell that becomes the CLI (exec) knows it.
    const res = path.join(dir, 'res.bin');
    const script = `cp '${packed}' "$1.tmp$$.0" && exec '${path.join(project, 'node_modules/.bin/zipnn-wasm')}' decompress "$1.tmp$$.0" -o "$1"`;
    r = await run('sh', ['-c', script, 'sh', res]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(equalBytes(readFile(res), readFile(zipnnFixture('bf16_3chunks_mixed.bin'))));
    const left = fs.readdirSync(dir).filter((n) => n.startsWith('res.bin.tmp'));
    assert.equal(left.length, 1, 'the input named like the temporary file is still there');
  });

  test('a name that fits works though its temporary would not; a link to nowhere is kept unless --force', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'names-'));
    const long = path.join(sub, `${'m'.repeat(242)}é.bin`); // 248 bytes; with .znw 252
    const data = readFile(zipnnFixture('bf16_3chunks_mixed.bin'));
    fs.writeFileSync(long, data);
    let r = await bin('compress', long, '--dtype', 'bf16');
    assert.equal(r.code, 0, r.stderr);
    fs.rmSync(long);
    r = await bin('decompress', `${long}.znw`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(equalBytes(readFile(long), data));
    assert.equal(fs.readdirSync(sub).length, 2, 'no temporary left');
    // What the rename at the end would refuse is refused before any work.
    r = await bin('compress', long, '--dtype', 'bf16', '-o', path.join(sub, 'b'.repeat(256)));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /File name too long/);
    for (const out of [sub, `${sub}/`]) {
      r = await bin('compress', long, '--dtype', 'bf16', '-o', out, '--force');
      assert.equal(r.code, 1);
      assert.ok(r.stderr.includes(`${out} is a directory`), r.stderr);
    }
    assert.equal(fs.readdirSync(sub).length, 2, 'nothing made');
    const link = path.join(sub, 'link.znw');
    fs.symlinkSync(path.join(sub, 'nowhere'), link);
    r = await bin('compress', long, '--dtype', 'bf16', '-o', link);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /link\.znw already exists \(use --force to overwrite\)/);
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    r = await bin('compress', long, '--dtype', 'bf16', '-o', link, '--force');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.lstatSync(link).isFile());
  });

  test('a signal while writing leaves no temporary file (and ends the program as that signal does)', async () => {
    const packed = readFile(fixturePath('minilm.bf16.safetensors.znw'));
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGXCPU']) {
      const out = path.join(dir, `sig.${signal}`);
      const p = spawn(path.join(project, 'node_modules/.bin/zipnn-wasm'), ['decompress', '-', '-o', out], { cwd: project, stdio: ['pipe', 'ignore', 'pipe'] });
      // Half the file, the pipe kept open: the output waits half written. (What is still
      // unwritten when the process ends fails with EPIPE.)
      p.stdin.on('error', () => {});
      p.stdin.write(packed.subarray(0, packed.length >> 1));
      const temp = () => fs.readdirSync(dir).filter((n) => n.startsWith(`sig.${signal}`));
      for (let i = 0; i < 300 && temp().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(temp().length, 1, `${signal}: no temporary file was made`);
      // It ends as the signal ends a program, as gzip does: a shell script's loop stops at
      // Ctrl-C only when its command died of SIGINT (status 130 says it dealt with it).
      const code = new Promise((resolve) => p.on('close', (c, s) => resolve(c ?? s)));
      p.kill(signal);
      assert.equal(await code, signal, signal);
      p.stdin.destroy();
      assert.deepEqual(temp(), [], signal);
    }
  });

  test('a signal while a named pipe waits for its other end ends the command', { timeout: 60_000 }, async () => {
    const znw = fixturePath('minilm.bf16.safetensors.znw');
    for (const [i, args] of [['decompress', 'IN', '-o', path.join(dir, 'fifo-in.out')], ['decompress', znw, '-o', 'IN']].entries()) {
      const fifo = path.join(dir, `wait-${i}`);
      execFileSync('mkfifo', [fifo]);
      const p = spawn(path.join(project, 'node_modules/.bin/zipnn-wasm'), args.map((x) => (x === 'IN' ? fifo : x)), { cwd: project, stdio: 'ignore' });
      const code = new Promise((resolve) => p.on('close', (c, s) => resolve(c ?? s)));
      await new Promise((r) => setTimeout(r, 1000)); // blocked opening the pipe
      p.kill('SIGTERM');
      const late = new Promise((r) => setTimeout(() => r('still running 10 s later'), 10_000));
      const got = await Promise.race([code, late]);
      p.kill('SIGKILL'); // (a process that stayed would keep this test file from ending)
      assert.equal(got, 'SIGTERM', `${args}`);
    }
  });

  test('a full disk: one line, status 1, no node stack trace', async () => {
    for (const args of [['compress', modelPath('silero_vad.onnx')], ['decompress', fixturePath('minilm.bf16.safetensors.znw')]]) {
      const r = await bin(...args, '-o', '/dev/full');
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^zipnn-wasm: [^\n]*: cannot write \/dev\/full: ENOSPC[^\n]*\n$/);
    }
  });

  test('--format zipnn --streaming-chunk codes a frame at a time: past what compress() takes, the same bytes', async () => {
    // ZIPNN_COMPRESS_MAX stands in for compress()'s 2 GiB: one frame of the whole file is
    // refused, the file in 1 MiB frames is not, from disk and from a pipe, and matches the
    // native tool's frames and the API's whole-buffer ones.
    const src = path.join(dir, 'frames.bin');
    fs.copyFileSync(modelPath('minilm.bf16.bin'), src);
    const data = readFile(src);
    const extraEnv = { ZIPNN_COMPRESS_MAX: '1000000' };
    const cmd = path.join(project, 'node_modules/.bin/zipnn-wasm');
    const args = ['--format', 'zipnn', '--dtype', 'bf16', '--streaming-chunk', '1048576'];
    let r = await run(cmd, ['compress', src, '--format', 'zipnn', '--dtype', 'bf16', '-o', '-'], { extraEnv });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /takes at most 1000000 bytes here in one frame \(with --streaming-chunk, any size\)/);
    const want = await compress(data, { format: 'zipnn', dtype: 'bf16', streamingChunk: 1 << 20 });
    r = await run(cmd, ['compress', src, ...args, '-o', '-'], { extraEnv });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(equalBytes(r.stdout, want), 'from the file');
    r = await run(cmd, ['compress', '-', ...args], { input: data, extraEnv });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(equalBytes(r.stdout, want), 'from a pipe');
    r = await run(native, ['compress', src, ...args, '-o', '-']);
    assert.ok(equalBytes(r.stdout, want), 'the native tool');
  });

  test('stdin larger than compress() takes is coded as a stream from memory: the same file', async () => {
    const model = readFile(modelPath('minilm.bf16.safetensors'));
    const whole = await run(path.join(project, 'node_modules/.bin/zipnn-wasm'), ['compress', '-'], { input: model });
    const streamed = await run(path.join(project, 'node_modules/.bin/zipnn-wasm'), ['compress', '-'], { input: model, extraEnv: { ZIPNN_COMPRESS_MAX: '1000000' } });
    assert.equal(streamed.code, 0, streamed.stderr);
    assert.equal(sha256(streamed.stdout), sha256(whole.stdout));
  });

  test('a reader that closes the pipe early ends the command quietly (status 141)', async () => {
    const packed = path.join(dir, 'pipe.znw');
    let r = await bin('compress', modelPath('minilm.bf16.safetensors'), '-o', packed);
    assert.equal(r.code, 0, r.stderr);
    const p = spawn(path.join(project, 'node_modules/.bin/zipnn-wasm'), ['decompress', packed, '-o', '-'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.stdout.once('data', () => p.stdout.destroy());
    const code = await new Promise((resolve) => p.on('close', resolve));
    assert.equal(code, 141, err);
    assert.equal(err, '');
  });
});
