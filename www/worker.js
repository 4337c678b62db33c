// The page's compression worker (a module worker): every byte of work happens here, so the page
// never freezes. It uses zipnn-wasm's public browser entry, exactly as any user would.
// (Import maps do not reach workers yet, hence the path rather than the bare name.)
import { init, compress, inspect, decodedSize, DECODED_SIZE_PREFIX, ZnnCompressionStream, ZnnDecompressionStream } from './pkg/index.js';
import { readFailureMessage } from './read-error.js';

const MiB = 1 << 20;
/** Output is gathered into Blobs of about this size (the browser may keep them on disk). */
const BLOB_PART = 32 * MiB;
/** The compressed bytes are fed back through the decoder in slices of this size when verifying. */
const VERIFY_SLICE = MiB;
/** At most one progress message per this many milliseconds. */
const TICK_MS = 60;

// Module workers report a failed import only as an `error` event without the reason; say it here.
// `ready` resolves to the failure (not rejects): a job then gets it as its error, and nothing
// is left uncaught.
const ready = init().then(
  () => {
    postMessage({ type: 'ready' });
    return null;
  },
  (e) => {
    const message = `could not load the WebAssembly module: ${e?.message ?? e}`;
    postMessage({ type: 'fatal', message });
    return Object.assign(new Error(message), { code: 'ZNN_INIT' });
  },
);

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg?.type !== 'job') return;
  const { id } = msg;
  try {
    const failed = await ready;
    if (failed) throw failed;
    const run = (file) => (msg.mode === 'decompress' ? decompressJob({ ...msg, file }) : compressJob({ ...msg, file }));
    // A read the browser failed is tried once more from the start: Chromium has failed a
    // stream of an unchanged 45 MB file part-way ("network error"), rarely, and a file that
    // really was changed or removed fails the second time too, with the same message.
    const first = msg.failFirstRead ? failingStream(msg.file) : msg.file;
    const result = await run(first).catch((e) => (unreadable(e) ? run(msg.file) : Promise.reject(e)));
    postMessage({ type: 'done', id, result });
  } catch (e) {
    postMessage({ type: 'error', id, error: describe(e) });
  }
};

/**
 * `file` whose stream fails after its first piece as Chromium's did (`?failread` on the page, for
 * the test of the retry above); its slices read as the file's.
 */
function failingStream(file) {
  return {
    name: file.name,
    size: file.size,
    slice: (...range) => file.slice(...range),
    stream() {
      const reader = file.stream().getReader();
      let pieces = 0;
      return new ReadableStream({
        async pull(controller) {
          if (pieces++ === 1) {
            reader.cancel();
            return controller.error(new TypeError('network error'));
          }
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
      });
    },
  };
}

/** The page's message for a failed read of the chosen file (an error of ours, with a code, is not one). */
function unreadable(e) {
  return typeof e?.code === 'string' ? null : readFailureMessage(e);
}

/** A cloneable description of an error, with out-of-memory failures named as such. */
function describe(e) {
  const message = String(e?.message ?? e);
  let code = typeof e?.code === 'string' ? e.code : undefined;
  const failedRead = unreadable(e);
  if (failedRead) return { name: 'Error', code: 'ZNN_READ', message: failedRead };
  if (!code && (e instanceof RangeError || /allocation failed|out of memory|memory access out of bounds/i.test(message))) {
    code = 'ZNN_TOO_LARGE';
  }
  return { name: e?.name ?? 'Error', code, message };
}

function progress(id, phase) {
  let last = 0;
  return (done, total, force = false) => {
    const now = performance.now();
    if (!force && now - last < TICK_MS) return;
    last = now;
    postMessage({ type: 'progress', id, phase, done, total });
  };
}

function phase(id, name, total) {
  postMessage({ type: 'phase', id, phase: name, total });
}

/** Reads a File into one Uint8Array, reporting the bytes read. */
async function readFile(id, file) {
  phase(id, 'read', file.size);
  let buf;
  try {
    buf = new Uint8Array(file.size);
  } catch (e) {
    throw Object.assign(new RangeError(`cannot allocate ${file.size} bytes for the file: ${e.message}`), { code: 'ZNN_TOO_LARGE' });
  }
  const tick = progress(id, 'read');
  const reader = file.stream().getReader();
  let at = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > buf.length) throw new Error('the file changed while it was being read');
    buf.set(value, at);
    at += value.length;
    tick(at, file.size);
  }
  if (at !== buf.length) throw new Error('the file changed while it was being read');
  tick(at, file.size, true);
  return buf;
}

async function compressJob({ id, file, dtype, verify, streamAbove }) {
  if (file.size > streamAbove) return compressStreamed({ id, file, dtype, verify });
  const original = await readFile(id, file);

  phase(id, 'compress', original.length);
  const tick = progress(id, 'compress');
  const t0 = performance.now();
  // The page's "Auto" is the package's default, 'auto' (passed explicitly all the same).
  const packed = await compress(original, { dtype: dtype || 'auto', onProgress: ({ done, total }) => tick(done, total) });
  tick(original.length, original.length, true);
  const compressMs = performance.now() - t0;

  const report = await inspect(packed);

  let verifyMs = null;
  if (verify) {
    phase(id, 'verify', original.length);
    const t1 = performance.now();
    await verifyRoundTrip(id, sliceStream(packed, VERIFY_SLICE), original.length, (at, len) => original.subarray(at, at + len));
    verifyMs = performance.now() - t1;
  }

  const blob = new Blob([packed], { type: 'application/octet-stream' });
  return {
    blob,
    originalSize: original.length,
    compressedSize: packed.length,
    compressMs,
    verifyMs,
    verified: Boolean(verify),
    report: reportFields(report),
  };
}

/** What the page shows of an inspect() report. */
function reportFields(report) {
  return {
    format: report.format,
    container: report.container,
    chunkSize: report.chunkSize,
    chunks: report.chunks,
    suggestion: report.suggestion ?? null,
    segments: (report.segments ?? []).map((s) => ({
      name: s.name,
      dtype: s.dtype,
      label: s.label,
      shape: s.shape,
      length: s.length,
      compressed: s.compressed,
    })),
  };
}

/**
 * A file too large to hold with its compressed copy in wasm memory: read as a stream into
 * ZnnCompressionStream, which, told the size, writes for safetensors and GGUF files the file
 * compress() would. The output is gathered in Blobs; verifying decodes them as a stream and
 * compares with the file's slices.
 */
async function compressStreamed({ id, file, dtype, verify }) {
  phase(id, 'compress', file.size);
  const tick = progress(id, 'compress');
  const t0 = performance.now();
  const input = file.stream().pipeThrough(counted((n) => tick(n, file.size)));
  const cs = new ZnnCompressionStream({ size: file.size, dtype: dtype || 'auto' });
  const { blob, bytes } = await gather(input.pipeThrough(cs));
  tick(file.size, file.size, true);
  const compressMs = performance.now() - t0;

  let verifyMs = null;
  if (verify) {
    phase(id, 'verify', file.size);
    const t1 = performance.now();
    await verifyRoundTrip(id, blob.stream(), file.size, async (at, len) => new Uint8Array(await file.slice(at, at + len).arrayBuffer()));
    verifyMs = performance.now() - t1;
  }
  return {
    blob,
    originalSize: file.size,
    compressedSize: bytes,
    compressMs,
    verifyMs,
    verified: Boolean(verify),
    // The stream's own account of what it wrote: the output is only in Blobs.
    report: { ...reportFields(cs.report), streamed: true },
  };
}

/** Passes chunks on, reporting the bytes seen so far. */
function counted(report) {
  let n = 0;
  return new TransformStream({
    transform(chunk, controller) {
      n += chunk.byteLength;
      report(n);
      controller.enqueue(chunk);
    },
  });
}

/** Reads a byte stream into one Blob made of Blobs of about BLOB_PART bytes. */
async function gather(stream) {
  const reader = stream.getReader();
  const parts = [];
  let pending = [];
  let pendingBytes = 0;
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending.push(value);
    pendingBytes += value.length;
    bytes += value.length;
    if (pendingBytes >= BLOB_PART) {
      parts.push(new Blob(pending));
      pending = [];
      pendingBytes = 0;
    }
  }
  if (pending.length) parts.push(new Blob(pending));
  return { blob: new Blob(parts, { type: 'application/octet-stream' }), bytes };
}

/** A stream of `u8` in slices (views, not copies). */
function sliceStream(u8, size) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= u8.length) return controller.close();
      controller.enqueue(u8.subarray(at, at + size));
      at += size;
    },
  });
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Decodes the stream `packed` through the streaming decoder (checksums included) and compares
 * it with the original's `total` bytes, which `original(at, len)` gives (or a promise of them).
 */
async function verifyRoundTrip(id, packed, total, original) {
  const tick = progress(id, 'verify');
  const reader = packed.pipeThrough(new ZnnDecompressionStream()).getReader();
  let at = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const want = at + value.length <= total ? await original(at, value.length) : null;
    if (!want || !sameBytes(value, want)) {
      throw Object.assign(new Error(`round trip mismatch near byte ${at}: the decompressed data differs from the original`), { code: 'ZNN_VERIFY' });
    }
    at += value.length;
    tick(at, total);
  }
  if (at !== total) {
    throw Object.assign(new Error(`round trip gave ${at} bytes instead of ${total}`), { code: 'ZNN_VERIFY' });
  }
  tick(at, total, true);
}

/** What a compressed file is, from its first bytes: only `.znw` carries checksums. */
async function compressedKind(file) {
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  if (head.length === 8 && [0x89, 0x5a, 0x4e, 0x57, 0x0d, 0x0a, 0x1a, 0x0a].every((b, i) => head[i] === b)) return 'znw';
  return head[0] === 0x5a && head[1] === 0x4e ? 'zipnn' : 'znn-safetensors';
}

async function decompressJob({ id, file, maxOutput }) {
  const kind = await compressedKind(file);
  // Progress in decoded bytes where the header states their number (a .znw file of known
  // size), as the result's speed is; else in compressed bytes read, which run ahead of decoding.
  const total = decodedSize(new Uint8Array(await file.slice(0, DECODED_SIZE_PREFIX).arrayBuffer()));
  const byOutput = total !== undefined;
  phase(id, 'decompress', byOutput ? total : file.size);
  const tick = progress(id, 'decompress');
  let done = 0;
  const t0 = performance.now();
  const count = (of) => counted((k) => tick((done = k), of));
  let decoded = file.stream();
  if (!byOutput) decoded = decoded.pipeThrough(count(file.size));
  decoded = decoded.pipeThrough(new ZnnDecompressionStream({ maxOutput }));
  if (byOutput) decoded = decoded.pipeThrough(count(total));
  const { blob, bytes: decodedBytes } = await gather(decoded);
  tick(done, byOutput ? total : file.size, true);
  const ms = performance.now() - t0;
  return {
    blob,
    originalSize: decodedBytes,
    compressedSize: file.size,
    decompressMs: ms,
    kind,
    verified: kind === 'znw',
  };
}
