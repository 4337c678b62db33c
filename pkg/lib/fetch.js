// fetchModel: download and decode into one ArrayBuffer while the body streams in, in the
// decode worker when there is one (see worker.js), in-thread otherwise.

import { CorruptError, HttpError, InvalidInputError, NetworkError, NotCompressedError, TooLargeError, TruncatedError, ZnnError, userCallback } from './errors.js';
import { claim, fromWasm, init, stats } from './wasm.js';
import { checkBoolean, checkFunction, checkMaxOutput, checkSignal, toBytes } from './checks.js';
import { Growable, MiB, allocate, copyBuffer, host } from './buffers.js';
import { SAFETENSORS_MAX_HEADER, damagedCompressed, isMagicPrefix, isTensor, safetensorsHeader, sniff } from './sniff.js';
import { DecodeSession } from './session.js';
import { DECODED_SIZE_PREFIX, decodedSize } from './api.js';
import { READ_BUFFER, RemoteJob, decodeWorker } from './worker.js';

/**
 * The largest decoded size a header may name for `fetchModel` to allocate it in one piece:
 * 64 times the body's Content-Length, and at least 64 MiB (no bound without a Content-Length).
 * The piece is allocated when the first chunk has decoded and passed its checksum, not at the
 * header: 421 bytes of a file whose header claimed 16 GiB allocated 16 GiB before they were
 * found truncated. Beyond the bound (a claim the body cannot back, or a file of zeros) the
 * output grows as decoding gets there.
 */
function upFrontLimit(bodySize) {
  return bodySize ? Math.max(64 * MiB, 64 * bodySize) : Infinity;
}
/** Body read while the decode worker first loads, at most; then it has WORKER_WAIT ms more. */
const READ_AHEAD = 16 * MiB;
const WORKER_WAIT = 2000;
/** Below this body size (when known), decoding in-thread beats the round trips to the worker, */
const WORKER_MIN_BODY = MiB;
/** unless its header names at least this many decoded bytes (about 5 ms of decoding). */
const WORKER_MIN_DECODED = 16 * MiB;

function isResponse(x) {
  return x !== null && typeof x === 'object' && typeof x.status === 'number' && typeof x.arrayBuffer === 'function' && 'body' in x;
}

/**
 * A programming error in what is fetched is an InvalidInputError, not a NetworkError that
 * retry logic would retry: a value that is no URL, Request or Response, or (with the global
 * fetch) a string that is no URL here (node has no page to resolve a relative one against).
 */
function checkFetchInput(input, ownFetch) {
  const request = input !== null && typeof input === 'object' && typeof input.url === 'string';
  if (!(typeof input === 'string' || input instanceof URL || request || isResponse(input))) {
    throw new InvalidInputError(`fetchModel takes a URL (string or URL), a Request or a Response, not ${input === null ? 'null' : typeof input}`);
  }
  if (typeof input === 'string' && !ownFetch) {
    try {
      new URL(input, globalThis.location?.href);
    } catch {
      throw new InvalidInputError(`fetchModel: ${JSON.stringify(input)} is not a URL${globalThis.location ? '' : ' (without a page, a URL must be absolute)'}`);
    }
  }
}

function contentLength(response) {
  const enc = response.headers.get('content-encoding');
  if (enc && enc.toLowerCase() !== 'identity') return 0; // the length counts encoded bytes
  const v = Number(response.headers.get('content-length'));
  return Number.isSafeInteger(v) && v > 0 ? v : 0;
}

/** onTensor hands over a view: a tensor longer than the host's typed arrays fails early. */
function viewable(t) {
  if (t.length > host.maxView) {
    throw new TooLargeError(
      `tensor ${JSON.stringify(t.name)} has ${t.length} bytes, more than this runtime's longest typed array (${host.maxView}): ` +
        'onTensor cannot hand it over (fetch without onTensor and read it in pieces)',
    );
  }
}

/** The tensors a safetensors file in `buffer` names, wholly inside it. */
function safetensorsTensors(buffer) {
  // A view of the header's bytes only: node 20 has no typed array of 4 GiB or more.
  const st = safetensorsHeader(new Uint8Array(buffer, 0, Math.min(buffer.byteLength, 8 + SAFETENSORS_MAX_HEADER)));
  if (!st || typeof st === 'number') return [];
  return st.tensors.filter((t) => t.offset + t.length <= buffer.byteLength);
}

/**
 * Where fetchModel's decoded bytes go: one piece allocated from the header's size when the
 * body can back it (see upFrontLimit), else grown; each tensor goes to `onTensor` once its
 * bytes are there. `bodySize()` is the body's size as known now (0: unknown).
 */
class ModelOutput {
  constructor(bodySize, onTensor) {
    this.bodySize = bodySize;
    this.onTensor = onTensor;
    this.decoded = 0;
    this.decodedTotal = undefined;
    this.size = undefined; // the size a header gave, to allocate in one piece
    this.out = null; // that piece
    this.grow = null; // otherwise
    this.result = null; // the whole output, when it came in one piece (see DecodeSession's `whole`)
    this.tensors = [];
    this.named = false; // tensors from the header's segment table
    this.nextTensor = 0;
  }

  /** A `.znw` header: its size and segments; `remoteOutput` when the decode worker holds the output. */
  header(h, remoteOutput) {
    if (h.totalSize == null) return;
    this.decodedTotal = h.totalSize;
    // The decode worker holds the output until the end (see RemoteJob).
    if (!remoteOutput && h.totalSize <= upFrontLimit(this.bodySize())) this.size = h.totalSize;
    this.tensors = h.segments.filter((s) => isTensor(h, s));
    this.named = true;
    if (this.onTensor) this.tensors.forEach(viewable);
  }

  /** `ready` decoded bytes wait in `dec`. */
  data(ready, dec) {
    if (this.size !== undefined) this.out ??= allocate(this.size);
    if (!this.out && this.named && this.decoded + ready >= this.decodedTotal / 8) {
      // A size the body could not back (see upFrontLimit), now backed by an eighth of it
      // decoded: the rest in one piece (a file of zeros peaks near 1.4x, not 2.4x).
      this.out = allocate(this.decodedTotal);
      if (this.grow) copyBuffer(this.out, this.grow.buf, this.grow.len);
      this.grow = null;
    }
    if (this.out) {
      dec.drainInto(new Uint8Array(this.out, this.decoded, ready));
      this.decoded += ready;
      this.fireTensors(this.out, this.decoded);
    } else {
      // ZipNN frames carry no total (and a total too large for the body is not taken on
      // trust): grow from the download size.
      if (!this.grow) {
        this.grow = new Growable(Math.max(MiB, Math.ceil(this.bodySize() * 1.6)), this.decodedTotal ?? Infinity);
        stats.grownOutputs++;
      }
      this.grow.reserve(ready);
      dec.drainInto(new Uint8Array(this.grow.buf, this.grow.len, ready));
      this.grow.len += ready;
      this.decoded += ready;
    }
  }

  fireTensors(buffer, upTo) {
    if (!this.onTensor) return;
    while (this.nextTensor < this.tensors.length) {
      const t = this.tensors[this.nextTensor];
      if (t.offset + t.length > upTo) break;
      this.nextTensor++;
      viewable(t);
      this.onTensor({ name: t.name, dtype: t.dtype, shape: t.shape, offset: t.offset, length: t.length, bytes: new Uint8Array(buffer, t.offset, t.length) });
    }
  }

  /** Decoding is over: the output, its last tensors handed over. */
  finish() {
    if (!this.out && this.size !== undefined) this.out = allocate(this.size); // a file of 0 bytes
    let result = this.result;
    if (this.out) result = this.out;
    else if (this.grow) result = this.grow.take();
    // A stream of frames that decode to nothing (an empty ZipNN file) calls no sink at all.
    result ??= new ArrayBuffer(0);
    if (!this.named) {
      // No segment table (streamed or ZipNN input, or plain bytes): a safetensors file still
      // names its tensors.
      this.tensors = safetensorsTensors(result);
      this.nextTensor = 0;
    }
    this.fireTensors(result, result.byteLength);
    return result;
  }
}

/**
 * fetchModel's callbacks (onProgress, onTensor). What they throw fails the download as it is
 * (not relabelled as one of ours). A promise one returns (an async onTensor that uploads to a
 * GPU) is waited for before the result is returned; its rejection fails the download at once:
 * `failed` rejects with it, and `onReject(e)` is called.
 */
class Callbacks {
  constructor(onReject) {
    this.awaited = new Set();
    this.error = undefined; // the first rejection: it, not what it broke, is the download's error
    this.failed = new Promise((_, reject) => (this.reject = reject));
    this.failed.catch(() => {});
    this.onReject = onReject;
  }

  /** A callback option, checked and wrapped (undefined when absent). */
  option(f, what) {
    if (!checkFunction(f, what)) return undefined;
    const call = userCallback(f);
    return (...args) => {
      const r = call(...args);
      if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
        const p = Promise.resolve(r).then(
          () => this.awaited.delete(p),
          (e) => {
            this.awaited.delete(p);
            if (this.error !== undefined) return;
            this.error = e ?? new Error(`a callback's promise rejected with ${e}`);
            this.reject(this.error);
            this.onReject(this.error);
          },
        );
        this.awaited.add(p);
      }
      return r;
    };
  }

  /** Waits for the promises the callbacks returned (through `race`); throws the first rejection. */
  async settled(race) {
    while (this.awaited.size) await race(Promise.all(this.awaited));
    if (this.error !== undefined) throw this.error;
  }
}

/**
 * Checks what `fetch` resolved to, as far as it is read: a status, headers and (unless empty) a
 * body; a status that is not 2xx is an HttpError.
 */
function okResponse(response, fetchName) {
  if (!(response && typeof response === 'object' && typeof response.status === 'number' && typeof response.headers?.get === 'function')) {
    const got = response === null ? 'null' : Array.isArray(response) ? 'an array' : typeof response;
    throw new InvalidInputError(`${fetchName} resolved to ${got}, not a Response`);
  }
  if (!response.ok) {
    response.body?.cancel().catch(() => {});
    throw new HttpError(response);
  }
}

/**
 * Downloads and decompresses a model into one ArrayBuffer, decoding while the body streams in.
 * Uncompressed responses are returned as they are.
 */
export async function fetchModel(input, options = {}) {
  const useWorker = checkBoolean(options?.worker, 'worker');
  const signal = checkSignal(options?.signal);
  if (isResponse(input) && (input.bodyUsed || input.body?.locked)) {
    throw new InvalidInputError('the Response body was already read (or is being read): pass a fresh Response or a URL');
  }
  let reader = null; // the body's, once there is one
  // A callback's promise that rejects ends a pending read at once.
  const callbacks = new Callbacks((e) => reader?.cancel(e).catch(() => {}));
  const onProgress = callbacks.option(options?.onProgress, 'onProgress');
  const onTensor = callbacks.option(options?.onTensor, 'onTensor');
  const maxOutput = checkMaxOutput(options?.maxOutput);
  const ownFetch = checkFunction(options?.fetch, 'fetch');
  checkFetchInput(input, ownFetch);
  const fetchFn = ownFetch ?? globalThis.fetch;
  const requireCompressed = checkBoolean(options?.requireCompressed, 'requireCompressed') ?? false;
  signal?.throwIfAborted();
  claim();

  let onAbort;
  const aborted = signal
    ? new Promise((_, reject) => {
        onAbort = () => {
          reject(signal.reason);
          // Ends a pending read at once (no race per read: that costs promises per chunk).
          reader?.cancel(signal.reason).catch(() => {});
        };
        signal.addEventListener('abort', onAbort, { once: true });
      })
    : null;
  aborted?.catch(() => {});
  const race = (p) => Promise.race(aborted ? [p, aborted, callbacks.failed] : [p, callbacks.failed]);

  let finished = false;
  let session = null;
  try {
    await race(init());
    const fetched = !isResponse(input);
    // Failures below HTTP (refused, reset mid-body) are NetworkErrors; an abort stays the reason.
    const network = (e) => {
      throw signal?.aborted || e instanceof ZnnError ? e : new NetworkError(`cannot fetch the model: ${e?.message ?? e}`, { cause: e });
    };
    const response = fetched ? await race((async () => fetchFn(input, signal ? { signal } : undefined))().catch(network)) : input;
    okResponse(response, options?.fetch ? 'options.fetch' : 'fetch');
    const url = response.url || (typeof input === 'string' ? input : input?.url ?? String(input?.href ?? ''));
    let total = contentLength(response);

    // A BYOB reader fills one reused buffer: no garbage chunk per read. Only for bodies from
    // fetch (byte streams that end pending BYOB reads properly; a hand-made byte stream that
    // closes without byobRequest.respond(0) would leave the last read pending forever).
    let buf = null;
    if (response.body) {
      try {
        if (fetched) {
          reader = response.body.getReader({ mode: 'byob' });
          buf = new ArrayBuffer(READ_BUFFER);
        }
      } catch {
        // not a byte stream
      }
      reader ??= response.body.getReader();
    }
    const read = () => (buf ? reader.read(new Uint8Array(buf)) : reader.read()).catch(network);

    let loaded = 0;
    const output = new ModelOutput(() => total, onTensor);
    const report = (last = false) => {
      if (!onProgress) return;
      // From the worker the header comes back a little later: the first event waits for it, so
      // that it carries decodedTotal as in-thread.
      if (!last && session?.job && session.kind !== 'zipnn' && !session.job.header) return;
      if (total && loaded > total) total = loaded;
      // At the end, what was read is the total: a Content-Length the page could not tell
      // counts encoded bytes (a cross-origin gzip response hides Content-Encoding) is larger.
      const t = last ? loaded : total;
      onProgress({
        status: 'progress',
        url,
        loaded,
        total: t,
        progress: t ? (loaded / t) * 100 : 0,
        decoded: output.decoded,
        decodedTotal: last ? output.decoded : output.decodedTotal,
      });
    };

    let early = new Growable(0); // the body read before decoding starts
    let next = null; // a read begun and not yet taken
    let bodyDone = false;
    /** Reads a chunk into `early`; false (and the read left in `next`) if `until` came first. */
    const readEarly = async (until) => {
      next ??= read();
      const r = await race(until ? Promise.race([next, until]) : next);
      if (r === null) return false;
      next = null;
      if (r.done) bodyDone = true;
      else {
        const bytes = toBytes(r.value, 'body chunk');
        early.append(bytes);
        if (buf) buf = r.value.buffer;
        loaded += bytes.byteLength;
        // As the header will say (verified then): progress carries it from the first event.
        output.decodedTotal ??= decodedSize(early.bytes());
        report();
      }
      return true;
    };

    // A body that is not compressed passes through, unless the caller requires compression or
    // it is a web page (a server's answer for a missing file, often with status 200).
    const html = /^\s*text\/html\b/i.test(response.headers.get('content-type') ?? '');
    const plainRefused = requireCompressed
      ? 'the response is not compressed (requireCompressed)'
      : html && 'the response is a web page (Content-Type text/html), not a model: is the URL right?';
    const refuse = (bytes) => {
      const damaged = damagedCompressed(bytes);
      if (damaged) throw new CorruptError(`the body is a damaged compressed file, not a model: ${damaged}`);
      throw new NotCompressedError(plainRefused);
    };

    // The decode worker (shared, started on first use) unless told not to, or the work is small.
    let remote = null;
    let worker = useWorker !== false && !!response.body && (useWorker === true || !total || total >= WORKER_MIN_BODY);
    if (!worker && useWorker === undefined && response.body) {
      // A small body may still decode to gigabytes (a file of zeros): its header says.
      while (!bodyDone && early.len < DECODED_SIZE_PREFIX) await readEarly();
      worker = (decodedSize(early.bytes()) ?? 0) >= WORKER_MIN_DECODED;
    }
    const w = worker ? decodeWorker() : null;
    if (w) {
      // Read on while it loads, up to READ_AHEAD: six downloads that wait with unread bodies
      // hold all six connections to an HTTP/1.1 origin, and the worker's script would never
      // arrive. Not loaded WORKER_WAIT after that: this download decodes here, in bounded
      // memory (maxOutput is checked there); later ones use the worker.
      let loadedWorker = false;
      const settled = w.then(() => ((loadedWorker = true), null));
      // A body to refuse is refused from its first bytes, not after the read-ahead.
      const refusable = () => plainRefused && sniff(early.bytes(), bodyDone) === 'plain' && refuse(early.bytes());
      while (!bodyDone && early.len < READ_AHEAD && (await readEarly(settled))) refusable();
      // Then the worker gets a while more (a small body ends before it loads, most often).
      let timer;
      const late = new Promise((resolve) => (timer = setTimeout(resolve, WORKER_WAIT, null)));
      const ready = await (loadedWorker ? w : race(Promise.race([w, late]))).finally(() => clearTimeout(timer));
      if (ready) {
        remote = (sink, max, format) => {
          // The worker may have died since (the body's first bytes can take a while): a job
          // posted to it now would never be answered.
          if (ready.dead) return null;
          const job = new RemoteJob(ready, sink, max, onTensor ? 0 : upFrontLimit(total), format);
          // A worker error ends a pending read at once.
          job.onFail = () => reader?.cancel().catch(() => {});
          return job;
        };
      }
    }

    session = new DecodeSession(
      {
        refusePlain: plainRefused ? (head) => refuse(head) : undefined,
        header: (h, remoteOutput) => output.header(h, remoteOutput),
        data: (ready, dec) => output.data(ready, dec),
        decoded(n) {
          output.decoded += n;
        },
        output(buffer) {
          output.out = buffer;
        },
        whole(bytes, kind, growable) {
          if (kind === 'plain') {
            // The first bytes of a compressed file, cut off (as `decompress` says).
            if (isMagicPrefix(bytes)) throw new TruncatedError(`the body ends after ${bytes.length} bytes, inside the magic number of a compressed file`);
            const damaged = damagedCompressed(bytes);
            if (damaged) throw new CorruptError(`the body is a damaged compressed file, not a model: ${damaged}`);
            if (plainRefused) refuse(bytes);
            // Passed on as it is, but not cut short: a body that ends before the data its
            // safetensors header names (chunked, or no Content-Length) is no model.
            const st = safetensorsHeader(bytes);
            const end = st && typeof st === 'object' ? st.tensors.reduce((e, t) => Math.max(e, t.offset + t.length), st.headerLen) : 0;
            if (end > bytes.length) throw new TruncatedError(`the body ends at byte ${bytes.length}, before the end of the safetensors data its header names (${end})`);
            output.result = growable.take();
          } else {
            output.result = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
          }
          output.decoded = output.result.byteLength;
        },
      },
      { maxOutput, sizeHint: total, remote },
    );

    if (response.body) {
      signal?.throwIfAborted();
      const take = async (value, owned) => {
        const moved = session.write(toBytes(value, 'body chunk'), owned);
        report();
        if (session.job) await race(session.job.room());
        return moved;
      };
      if (early.len) await take(early.bytes(), false);
      early = null;
      while (!bodyDone) {
        const { done, value } = await (next ?? read());
        next = null;
        if (done) break;
        if (buf) buf = value.buffer;
        loaded += value.byteLength;
        // The read buffer goes to the worker as it is (transferred); the next read gets another.
        if (await take(value, !!buf)) buf = session.job.buffer();
      }
      signal?.throwIfAborted();
      if (session.job?.error) throw session.job.error;
    }
    finished = true;
    await race(session.end());
    const result = output.finish();
    report(true);
    await callbacks.settled(race);
    return result;
  } catch (e) {
    throw signal?.aborted ? signal.reason : (callbacks.error ?? fromWasm(e));
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    if (reader && !finished) reader.cancel(signal?.reason).catch(() => {});
    session?.close();
  }
}
