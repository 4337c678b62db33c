// onnxruntime-web 1.30 with models stored compressed (.znw by the native CLI), served over local
// HTTP and loaded by examples/onnxruntime-web/load-session.mjs (fetchModel -> InferenceSession),
// in node and in headless Chromium. Every output must be bitwise identical to the output of the
// uncompressed model on the same fixed inputs. Models:
//   silero_vad.onnx        real FP32 model, weights in Constant nodes inside If subgraphs (2.3 MB)
//   minilm/onnx/model.onnx all-MiniLM-L6-v2 with its real FP32 weights (90 MB)
//   minilm/onnx/model_fp16.onnx + model_fp16.onnx_data   the same weights in FP16, in an ONNX
//                          external-data file; both files compressed and decoded separately
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-web';
import { fetchModel } from 'zipnn-wasm';
import { createSession } from './examples/onnxruntime-web/load-session.mjs';
import { sha256 } from './helpers.mjs';
import { startStatic, launchChromium, pageWithImports, served, project, sameBits, ms } from './lib.mjs';

ort.env.wasm.numThreads = 1;
const EP = { executionProviders: ['wasm'] };

// Fixed inputs (the same in node and in the page: the page gets this source).
const INPUTS_SRC = `
const audio = (frame) => Float32Array.from({ length: 512 }, (_, i) => 0.4 * Math.sin((frame * 512 + i) / 7) + 0.1 * Math.sin((frame * 512 + i) / 1.3));
const TOKENS = [
  [101, 1037, 2158, 2003, 5983, 2833, 1012, 102],
  [101, 7592, 2088, 102, 0, 0, 0, 0],
];
const vadFeeds = (ort, frame, state) => ({
  input: new ort.Tensor('float32', audio(frame), [1, 512]),
  state: state ?? new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]),
  sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []),
});
const bertFeeds = (ort) => {
  const ids = BigInt64Array.from(TOKENS.flat(), BigInt);
  const mask = BigInt64Array.from(TOKENS.flat(), (t) => (t ? 1n : 0n));
  const dims = [TOKENS.length, TOKENS[0].length];
  return {
    input_ids: new ort.Tensor('int64', ids, dims),
    attention_mask: new ort.Tensor('int64', mask, dims),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(ids.length), dims),
  };
};
/** Runs a model on its fixed inputs; returns every output tensor's bytes, in order. */
async function runFixed(ort, session, kind) {
  const outs = [];
  if (kind === 'vad') {
    let state;
    for (let frame = 0; frame < 4; frame++) {
      const r = await session.run(vadFeeds(ort, frame, state));
      state = r.stateN;
      outs.push(r.output.data, r.stateN.data);
    }
  } else {
    const r = await session.run(bertFeeds(ort));
    outs.push(r.last_hidden_state.data);
  }
  return outs.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice());
}
`;
const { runFixed } = await import('data:text/javascript,' + encodeURIComponent(INPUTS_SRC + 'export { runFixed };'));

const MODELS = [
  { id: 'silero_vad (FP32, If subgraphs)', kind: 'vad', file: 'silero_vad.onnx' },
  { id: 'all-MiniLM-L6-v2 (FP32, 90 MB)', kind: 'bert', file: 'minilm/onnx/model.onnx' },
  { id: 'all-MiniLM-L6-v2 (FP16, external data)', kind: 'bert', file: 'minilm/onnx/model_fp16.onnx', external: 'model_fp16.onnx_data' },
];
const local = (f) => path.join(served, f);

// Also in the page (it gets this source): an ort whose InferenceSession.create records the model
// bytes and the external-data files it is handed, then calls the real one.
const SPY_SRC = `
const spyOrt = (ort, handed) => ({
  ...ort,
  InferenceSession: {
    create(bytes, options = {}) {
      handed.model = bytes;
      handed.external = (options.externalData ?? []).map((d) => d.data);
      handed.paths = (options.externalData ?? []).map((d) => d.path);
      return ort.InferenceSession.create(bytes, options);
    },
  },
});
`;
const { spyOrt } = await import('data:text/javascript,' + encodeURIComponent(SPY_SRC + 'export { spyOrt };'));

let server;
const baseline = new Map(); // model id -> output bytes of the uncompressed model (node)

before(async () => {
  server = await startStatic({
    mounts: { '/models/': served, '/node_modules/': path.join(project, 'node_modules'), '/examples/': path.join(project, 'examples') },
    routes: {
      '/': (req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      },
      '/favicon.ico': (req, res) => res.writeHead(204).end(),
      // The demo page loads ./silero_vad.onnx.znw next to itself.
      '/examples/onnxruntime-web/silero_vad.onnx.znw': (req, res) => {
        const f = local('silero_vad.onnx.znw');
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(f).size });
        fs.createReadStream(f).pipe(res);
      },
    },
  });
});
after(() => server?.close());

describe('onnxruntime-web in node', () => {
  for (const m of MODELS) {
    test(`${m.id}: outputs from the compressed model are bitwise those of the original`, async () => {
      // The original, from disk.
      let t0 = performance.now();
      const plainOpts = { ...EP };
      if (m.external) plainOpts.externalData = [{ path: m.external, data: new Uint8Array(fs.readFileSync(local(path.join(path.dirname(m.file), m.external)))) }];
      const plain = await ort.InferenceSession.create(new Uint8Array(fs.readFileSync(local(m.file))), plainOpts);
      const want = await runFixed(ort, plain, m.kind);
      await plain.release();
      const tPlain = ms(t0);

      // The compressed files, over HTTP, through the example.
      t0 = performance.now();
      const url = `${server.origin}/models/${m.file}.znw`;
      const externalData = m.external ? [{ path: m.external, url: `${server.origin}/models/${path.dirname(m.file)}/${m.external}.znw` }] : [];
      const handed = {};
      const session = await createSession(spyOrt(ort, handed), url, { ...EP, externalData });
      const got = await runFixed(ort, session, m.kind);
      await session.release();
      const tZnn = ms(t0);

      assert.equal(got.length, want.length);
      for (let i = 0; i < want.length; i++) assert.ok(sameBits(got[i], want[i]), `output ${i} differs`);
      baseline.set(m.id, want);
      const files = [m.file, ...(m.external ? [path.join(path.dirname(m.file), m.external)] : [])];
      // Equal outputs alone would miss damage in weights the fixed inputs never read (most rows
      // of the word embeddings): the bytes handed to ort must be the original files.
      assert.deepEqual([handed.model, ...handed.external].map(sha256), files.map((f) => sha256(fs.readFileSync(local(f)))), 'bytes handed to InferenceSession.create');
      assert.deepEqual(handed.paths, m.external ? [m.external] : []);
      for (const f of files) assert.ok(fs.statSync(local(f) + '.znw').size < fs.statSync(local(f)).size, `${f}.znw is compressed`);
      const sizes = files
        .map((f) => `${(fs.statSync(local(f)).size / 1e6).toFixed(1)} -> ${(fs.statSync(local(f) + '.znw').size / 1e6).toFixed(1)} MB`)
        .join(', ');
      console.log(`# node ${m.id}: ${sizes}; ${want.length} output tensors identical; original ${tPlain}, compressed over HTTP ${tZnn}`);
    });
  }

  test("examples/onnxruntime-web/node.mjs runs silero VAD from its .znw (a URL, a path): the original model's answer", async () => {
    const plain = await ort.InferenceSession.create(new Uint8Array(fs.readFileSync(local('silero_vad.onnx'))), EP);
    const r = await plain.run({
      input: new ort.Tensor('float32', Float32Array.from({ length: 512 }, (_, i) => 0.5 * Math.sin(i / 3)), [1, 512]),
      state: new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []),
    });
    await plain.release();
    const want = `speech probability of a 512-sample tone: ${r.output.data[0].toFixed(4)}\n`;
    const script = path.join(project, 'examples/onnxruntime-web/node.mjs');
    for (const arg of [`${server.origin}/models/silero_vad.onnx.znw`, local('silero_vad.onnx.znw')]) {
      // Not execFileSync: the server answering it runs in this process.
      const { stdout } = await promisify(execFile)(process.execPath, [script, arg], { cwd: project, timeout: 60000 });
      assert.equal(stdout, want, arg);
    }
  });

  test('fetchModel hands every ONNX initializer to onTensor, with its name, type and shape', async () => {
    const seen = [];
    const buf = await fetchModel(`${server.origin}/models/minilm/onnx/model.onnx.znw`, { onTensor: (t) => seen.push(t) });
    assert.equal(sha256(new Uint8Array(buf)), sha256(fs.readFileSync(local('minilm/onnx/model.onnx'))));
    const names = seen.map((t) => t.name);
    assert.equal(new Set(names).size, names.length, 'each tensor once');
    const word = seen.find((t) => t.name === 'embeddings.word_embeddings.weight');
    assert.ok(word, `no word embeddings among ${names.slice(0, 5)}...`);
    assert.deepEqual(word.shape, [30522, 384]);
    assert.equal(word.length, 30522 * 384 * 4);
    // The bytes handed over are the initializer's raw data inside the decoded file.
    const st = new Uint8Array(fs.readFileSync(path.join(process.env.ZNN_REPO, 'models/minilm.fp32.safetensors')));
    const n = Number(new DataView(st.buffer).getBigUint64(0, true));
    const hdr = JSON.parse(Buffer.from(st.subarray(8, 8 + n)).toString());
    const [a, b] = hdr['embeddings.word_embeddings.weight'].data_offsets;
    assert.ok(sameBits(word.bytes, st.subarray(8 + n + a, 8 + n + b)), 'word embeddings bytes');
    // 6 layers x 16 tensors + 5 embedding tensors, plus the graph's small constants.
    assert.ok(seen.filter((t) => t.name.startsWith('encoder.layer.')).length === 96, 'every layer tensor');
    console.log(`# onTensor: ${seen.length} ONNX initializers, first ${seen[0].name} ${seen[0].dtype} [${seen[0].shape}]`);
  });
});

const PAGE = pageWithImports(
  {
    'zipnn-wasm': '/node_modules/zipnn-wasm/index.js',
    'onnxruntime-web': '/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs',
  },
  `<script type="module">
import * as ort from 'onnxruntime-web';
import { createSession } from '/examples/onnxruntime-web/load-session.mjs';
ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
ort.env.wasm.numThreads = 1;
${INPUTS_SRC}
${SPY_SRC}
const hex = async (b) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map((x) => x.toString(16).padStart(2, '0')).join('');
window.compare = async (file, kind, external) => {
  const dir = file.slice(0, file.lastIndexOf('/') + 1);
  const EP = { executionProviders: ['wasm'] };
  let t0 = performance.now();
  const plain = await createSession(ort, '/models/' + file, { ...EP, externalData: external ? [{ path: external, url: '/models/' + dir + external }] : [] });
  const want = await runFixed(ort, plain, kind);
  await plain.release();
  const tPlain = performance.now() - t0;
  t0 = performance.now();
  let events = 0;
  const handed = {};
  const session = await createSession(spyOrt(ort, handed), '/models/' + file + '.znw', {
    ...EP,
    externalData: external ? [{ path: external, url: '/models/' + dir + external + '.znw' }] : [],
    onProgress: () => events++,
  });
  const got = await runFixed(ort, session, kind);
  await session.release();
  const tZnn = performance.now() - t0;
  const same = want.map((w, i) => w.length === got[i].length && w.every((v, j) => v === got[i][j]));
  const handedHashes = await Promise.all([handed.model, ...handed.external].map(hex));
  return { same, hashes: await Promise.all(got.map(hex)), handedHashes, paths: handed.paths, tPlain, tZnn, events };
};
window.ready = true;
</script>`,
);

describe('onnxruntime-web in headless Chromium', () => {
  let browser;
  before(async () => {
    browser = await launchChromium();
    await browser.page.goto(server.origin + '/');
    await browser.page.waitForFunction(() => window.ready === true, null, { timeout: 30000 });
  });
  after(() => browser?.close());

  for (const m of MODELS) {
    test(`${m.id}: outputs from the compressed model are bitwise those of the original`, async () => {
      const r = await browser.page.evaluate(([f, k, e]) => window.compare(f, k, e), [m.file, m.kind, m.external ?? null]);
      assert.ok(r.same.length > 0 && r.same.every(Boolean), `outputs identical: ${r.same}`);
      assert.ok(r.events > 0, 'progress events');
      const files = [m.file, ...(m.external ? [path.join(path.dirname(m.file), m.external)] : [])];
      assert.deepEqual(r.handedHashes, files.map((f) => sha256(fs.readFileSync(local(f)))), 'bytes handed to InferenceSession.create');
      assert.deepEqual(r.paths, m.external ? [m.external] : []);
      const fromNode = baseline.get(m.id);
      const sameAsNode = fromNode ? fromNode.every((b, i) => sha256(b) === r.hashes[i]) : 'n/a';
      console.log(`# chromium ${m.id}: ${r.same.length} output tensors identical; original ${r.tPlain.toFixed(0)} ms, compressed ${r.tZnn.toFixed(0)} ms; same bits as in node: ${sameAsNode}`);
    });
  }

  test('the demo page examples/onnxruntime-web/index.html runs', async () => {
    const page = await browser.context.newPage();
    try {
      await page.goto(server.origin + '/examples/onnxruntime-web/index.html');
      await page.waitForFunction(() => /^speech probability/.test(document.getElementById('out').textContent), null, { timeout: 30000 });
      console.log(`# demo page: ${await page.textContent('#out')}`);
    } finally {
      await page.close();
    }
  });

  test('no page errors', () => {
    const bad = browser.messages.filter((x) => /^(error|pageerror)/.test(x));
    assert.deepEqual(bad, []);
  });
});
