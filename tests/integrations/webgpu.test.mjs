// WebGPU in headless Chromium (Debian's chromium; SwiftShader's software adapter, enabled by
// --enable-unsafe-webgpu): examples/webgpu/upload.mjs uploads each tensor of a real model
// (all-MiniLM-L6-v2 BF16 safetensors, compressed by the native CLI) into its own GPUBuffer from
// fetchModel's onTensor while the download is still going; every buffer is read back (mapAsync)
// and compared with the original bytes, and a compute shader checks it sees the same data. When
// Chromium offers no adapter the tests are skipped with the reason (never a silent pass).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { env, safetensorsTensors, readFile, modelPath } from './helpers.mjs';
import { startStatic, launchChromium, pageWithImports, project } from './lib.mjs';

// ZNN_WEBGPU_ARGS (a JSON array) replaces the flags, e.g. '[]' to see the no-adapter path.
const GPU_ARGS = process.env.ZNN_WEBGPU_ARGS ? JSON.parse(process.env.ZNN_WEBGPU_ARGS) : ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'];
const ZNW = path.join(env.fixtures, 'minilm.bf16.safetensors.znw');
const PIECE = 512 * 1024;

const PAGE = pageWithImports(
  { 'zipnn-wasm': '/node_modules/zipnn-wasm/index.js' },
  `<script type="module">
import { loadToGpu } from '/examples/webgpu/upload.mjs';

window.probe = async () => {
  if (!navigator.gpu) return { gpu: false, adapter: null };
  const adapter = await navigator.gpu.requestAdapter();
  return { gpu: true, adapter: adapter && { vendor: adapter.info.vendor, architecture: adapter.info.architecture, fallback: adapter.info.isFallbackAdapter, maxBufferSize: adapter.limits.maxBufferSize } };
};

async function readBack(device, buffer, size) {
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Uint8Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

// Wrapping u32 sum of a buffer on the GPU: 4096 invocations each sum a stride, the CPU adds the partial sums.
const SHADER = \`
@group(0) @binding(0) var<storage, read> data: array<u32>;
@group(0) @binding(1) var<storage, read_write> partial: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let n = arrayLength(&data);
  var s = 0u;
  for (var i = id.x; i < n; i += 4096u) { s += data[i]; }
  partial[id.x] = s;
}\`;
async function gpuSum(device, buffer) {
  const partial = device.createBuffer({ size: 4096 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: 'main' } });
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer } }, { binding: 1, resource: { buffer: partial } }] });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(64);
  pass.end();
  device.queue.submit([enc.finish()]);
  const words = new Uint32Array((await readBack(device, partial, 4096 * 4)).buffer);
  partial.destroy();
  let s = 0;
  for (const w of words) s = (s + w) >>> 0;
  return s;
}

window.run = async (znwUrl, plainUrl) => {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice({ requiredLimits: { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize } });
  const errors = [];
  device.addEventListener('uncapturederror', (e) => errors.push(e.error.message));
  const events = [];
  let firstUpload = null, uploads = 0;
  const uploadEvents = [];
  const t0 = performance.now();
  const tensors = await loadToGpu(device, znwUrl, {
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    onProgress: (e) => events.push(e),
    onUpload: () => {
      uploads++;
      uploadEvents.push(events.length);
      // onTensor fires while a body chunk is decoded, before that chunk's progress event.
      if (firstUpload === null) firstUpload = { event: events.length, ms: performance.now() - t0 };
    },
  });
  const total = events.at(-1).total;
  const firstUploadAt = firstUpload && { loaded: events[firstUpload.event].loaded, total, ms: firstUpload.ms };
  const uploadedBefore90 = uploadEvents.filter((i) => events[i].loaded < 0.9 * total).length;
  await device.queue.onSubmittedWorkDone();
  const loadMs = performance.now() - t0;

  // Compare every GPU buffer with the original file's bytes.
  const plain = new Uint8Array(await (await fetch(plainUrl)).arrayBuffer());
  const n = Number(new DataView(plain.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(plain.subarray(8, 8 + n)));
  let compared = 0, bytes = 0;
  const mismatched = [];
  let largest = null;
  for (const [name, t] of tensors) {
    const [a, b] = header[name].data_offsets;
    const want = plain.subarray(8 + n + a, 8 + n + b);
    const got = await readBack(device, t.buffer, t.buffer.size);
    const same = t.byteLength === want.length && want.every((v, i) => v === got[i]);
    if (!same) mismatched.push(name);
    compared++;
    bytes += want.length;
    if (!largest || want.length > largest.want.length) largest = { name, t, want };
  }
  // The shader reads the largest tensor from its buffer.
  const words = new Uint32Array(largest.want.slice().buffer, 0, largest.want.length >> 2);
  let cpu = 0;
  for (const w of words) cpu = (cpu + w) >>> 0;
  const gpu = await gpuSum(device, largest.t.buffer);
  device.destroy();
  return { tensors: tensors.size, uploads, uploadedBefore90, compared, bytes, mismatched, firstUploadAt, loadMs, largest: largest.name, cpu, gpu, errors, headerTensors: Object.keys(header).filter((k) => k !== '__metadata__').length };
};
window.ready = true;
</script>`,
);

let server;
let browser;
let probe;

before(async () => {
  const znw = fs.readFileSync(ZNW);
  server = await startStatic({
    mounts: { '/node_modules/': path.join(project, 'node_modules'), '/examples/': path.join(project, 'examples'), '/plain/': path.join(env.repo, 'models') },
    routes: {
      '/': (req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE),
      '/favicon.ico': (req, res) => res.writeHead(204).end(),
      '/examples/webgpu/model.safetensors.znw': (req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': znw.length }).end(znw),
      // The compressed model in 512 KiB pieces, 10 ms apart: a download that takes a while
      // (about 0.6 s), long next to the decode worker's start (0.1-0.35 s in headless Chromium
      // here, meanwhile the body is read ahead: at 5 ms apart a slow start came past half of it).
      '/model.safetensors.znw': (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': znw.length });
        let at = 0;
        const timer = setInterval(() => {
          if (res.destroyed) return clearInterval(timer);
          res.write(znw.subarray(at, at + PIECE));
          at += PIECE;
          if (at >= znw.length) {
            clearInterval(timer);
            res.end();
          }
        }, 10);
        res.on('close', () => clearInterval(timer));
      },
    },
  });
  browser = await launchChromium(GPU_ARGS);
  await browser.page.goto(server.origin + '/');
  await browser.page.waitForFunction(() => window.ready === true, null, { timeout: 30000 });
  probe = await browser.page.evaluate(() => window.probe());
  console.log(`# WebGPU in ${(await browser.context.browser()?.version()) ?? 'chromium'} with ${GPU_ARGS.join(' ')}: navigator.gpu ${probe.gpu ? 'present' : 'absent'}, requestAdapter() -> ${JSON.stringify(probe.adapter)}`);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

describe('WebGPU (headless Chromium)', () => {
  test('onTensor uploads every tensor into a GPUBuffer during the download; read back, the bytes are the original ones', async (t) => {
    if (!probe.adapter) {
      const why = `no WebGPU adapter in headless Chromium (flags ${GPU_ARGS.join(' ')}; navigator.gpu ${probe.gpu ? 'present' : 'absent'}, requestAdapter() returned null)`;
      console.log(`# SKIPPED: ${why}`);
      return t.skip(why);
    }
    const r = await browser.page.evaluate(([a, b]) => window.run(a, b), ['/model.safetensors.znw', '/plain/minilm.bf16.safetensors']);
    const want = safetensorsTensors(readFile(modelPath('minilm.bf16.safetensors')));
    assert.deepEqual(r.errors, [], 'WebGPU validation errors');
    assert.equal(r.tensors, want.length, 'one buffer per tensor');
    assert.equal(r.uploads, want.length);
    assert.equal(r.compared, want.length);
    assert.deepEqual(r.mismatched, [], 'tensors whose GPU bytes differ');
    assert.equal(r.bytes, want.reduce((s, x) => s + x.bytes.length, 0));
    // Streaming: the first tensor was on the GPU long before the download ended.
    assert.ok(r.firstUploadAt && r.firstUploadAt.loaded < r.firstUploadAt.total / 2, `first upload at ${JSON.stringify(r.firstUploadAt)}`);
    assert.ok(r.uploadedBefore90 > r.tensors / 2, `${r.uploadedBefore90} of ${r.tensors} tensors on the GPU before 90% of the download`);
    assert.equal(r.gpu, r.cpu, `compute shader sum of ${r.largest}`);
    console.log(
      `# WebGPU: ${r.tensors} tensors (${(r.bytes / 1e6).toFixed(1)} MB) uploaded in ${r.loadMs.toFixed(0)} ms; first upload after ${(r.firstUploadAt.loaded / 1e6).toFixed(1)} of ${(r.firstUploadAt.total / 1e6).toFixed(1)} MB downloaded, ` +
        `${r.uploadedBefore90} tensors uploaded before 90% of it; ` +
        `all read back identical; shader sum of ${r.largest} = ${r.gpu} (CPU ${r.cpu})`,
    );
  });

  test('the demo page examples/webgpu/index.html runs', async (t) => {
    if (!probe.adapter) return t.skip('no WebGPU adapter');
    const page = await browser.context.newPage();
    try {
      await page.goto(server.origin + '/examples/webgpu/index.html');
      await page.waitForFunction(() => / tensors on the GPU$/.test(document.getElementById('out').textContent), null, { timeout: 30000 });
      assert.equal(await page.textContent('#out'), `${safetensorsTensors(readFile(modelPath('minilm.bf16.safetensors'))).length} tensors on the GPU`);
    } finally {
      await page.close();
    }
  });

  test('no page errors', () => {
    assert.deepEqual(browser.messages.filter((x) => /^(error|pageerror)/.test(x)), []);
  });
});
