// fetchModel's decode worker
//
// The calling thread only reads the network and hands each read buffer over (transferred); a
// worker runs the same wasm StreamDecoder and sends back verified decoded bytes (transferred),
// which the caller copies into the output and reports. In node, fetch runs on the main thread:
// decoding there too adds the body read to the decode instead of overlapping it.
//
// Protocol (one worker, reused; each fetchModel call is a job with an id):
//   → init {module}          ← ready {error?}
//   → start {id, maxOutput, own, format}
//   → chunk {id, buf, len}   ← header {id, header, own}, data {id, buf, len}… or
//                              decoded {id, len}…, consumed {id, buf}
//   → end {id}               ← done {id, out?}
//
// With `own` (no onTensor: nobody needs the bytes before the end; the largest size it may take
// on, see upFrontLimit) and a header giving the size, the worker allocates the output itself
// with the first decoded bytes, decodes straight into it (one copy, as in-thread) and
// transfers it at the end; only counts come back meanwhile, and the calling thread does
// nothing but read the network.
//   → cancel {id}            ← error {id, code, message} at any time (the job is then gone)
//   → recycle {buf}          a data buffer back to the worker's pool

import * as glue from '../dist/zipnn_wasm.js';
import { ERROR_BY_CODE, InternalError, ZnnError } from './errors.js';
import { call, freeWasm, fromWasm, initSync, made, stats, wasmModule } from './wasm.js';
import { MiB, allocate } from './buffers.js';

/** fetchModel's read buffer (BYOB): a read returns what has arrived, up to this. */
export const READ_BUFFER = 256 * 1024;

/** Input the caller may have sent and the worker not yet consumed: bounds the memory between them. */
const WORKER_INFLIGHT = 2 * MiB;

export let workerFactory = null;
let sharedWorker = null;
/** The number of cores, for the pool's `threads: 'auto'`. */
export let parallelism = () => globalThis.navigator?.hardwareConcurrency ?? 1;

/**
 * @internal Set by the host entry: `f` returns a worker port `{ post(msg, transfer),
 * listen(onMessage, onError), terminate(), ref?(), unref?() }`, or null when the host has none;
 * `cores()`, if given, the number of cores for `threads: 'auto'` (else navigator's).
 */
export function __setWorkerFactory(f, cores) {
  workerFactory = f;
  if (cores) parallelism = cores;
}

/** The shared decode worker, ready; or null (none on this host, or it failed to start). */
export function decodeWorker() {
  if (sharedWorker) return sharedWorker.ready;
  let w = null;
  w = startWorker(() => {
    if (sharedWorker === w) sharedWorker = null;
  });
  sharedWorker = w;
  return w?.ready ?? null;
}

/**
 * Starts a worker running `__runDecodeWorker` with its own instance of the module: `{ port,
 * jobs, ready, kill }`, where `ready` resolves to the worker or to null if it failed to start,
 * and each job in `jobs` (id → `{ onMessage(m), fail(e) }`) gets its messages. Null when the
 * host has no workers. `onDead` runs once the worker is gone (failed or killed).
 */
export function startWorker(onDead) {
  if (!workerFactory || !wasmModule) return null;
  let port;
  try {
    port = workerFactory();
  } catch {
    port = null;
  }
  if (!port) {
    workerFactory = null; // e.g. a CSP without worker-src: in-thread from now on
    return null;
  }
  const w = { port, jobs: new Map(), nextId: 1, started: false, dead: false };
  let settleReady;
  // `broken`: it failed to load (not let go by the pool while it loads): workers go off.
  const kill = (e, broken = false) => {
    if (w.dead) return;
    w.dead = true;
    onDead();
    settleReady(null); // (a call still waiting for it goes on without it)
    if (!w.started && broken) {
      workerFactory = null;
      // Decoding still works, only slower: say why once (most often a bundle without the file).
      console.warn?.(
        `zipnn-wasm: ${e?.message ?? e}; decoding in the calling thread instead ` +
          `(if a bundler left out decode-worker.js or decode-worker-node.js, see the README's "Bundlers")`,
      );
    }
    for (const job of [...w.jobs.values()]) job.fail(new InternalError(`the decode worker failed: ${e?.message ?? e}`, { cause: e }));
    try {
      port.terminate();
    } catch {
      // already gone
    }
  };
  w.kill = (e) => kill(e);
  w.ready = new Promise((resolve) => {
    settleReady = resolve;
    port.listen(
      (m) => {
        if (w.dead) return; // (a message that was on its way when it was let go)
        if (m.type === 'ready') {
          if (m.error) {
            kill(new Error(m.error), true);
            return;
          }
          w.started = true;
          if (w.jobs.size === 0) port.unref?.();
          resolve(w);
          return;
        }
        w.jobs.get(m.id)?.onMessage(m);
      },
      (e) => kill(e, true),
    );
  });
  port.ref?.();
  port.post({ type: 'init', module: wasmModule });
  return w;
}

/** The caller's side of one decode in the worker. */
export class RemoteJob {
  constructor(w, sink, maxOutput, own, format) {
    this.w = w;
    this.sink = sink;
    this.id = w.nextId++;
    stats.workerJobs++;
    this.inflight = 0;
    this.free = []; // read buffers the worker gave back
    this.fill = null; // { buf, len }: copied input not yet sent
    this.error = null;
    this.header = null;
    this.done = false;
    this.wake = null; // resolves a waiter (room or end)
    this.onFail = null;
    w.jobs.set(this.id, this);
    if (w.jobs.size === 1) w.port.ref?.(); // node must not exit while a job waits on the worker
    w.port.post({ type: 'start', id: this.id, maxOutput, own, format });
  }

  onMessage(m) {
    try {
      switch (m.type) {
        case 'header':
          this.header = m.header;
          this.sink.header(m.header, m.own);
          break;
        case 'decoded':
          this.sink.decoded(m.len);
          break;
        case 'data': {
          const src = new Uint8Array(m.buf, 0, m.len);
          this.sink.data(m.len, { drainInto: (dst) => dst.set(src) });
          this.w.port.post({ type: 'recycle', buf: m.buf }, [m.buf]);
          break;
        }
        case 'consumed':
          this.inflight -= m.buf.byteLength;
          if (this.free.length < 8) this.free.push(m.buf);
          // Input copied while the worker was busy goes now that it is not, not with the
          // next body chunk (a slow body's tensors waited for it).
          if (this.inflight === 0 && !this.done && !this.error) this.#flush();
          break;
        case 'done':
          if (m.out) this.sink.output(m.out);
          this.done = true;
          this.#detach();
          break;
        case 'error': {
          const C = ERROR_BY_CODE[m.code];
          this.fail(C ? new C(m.message) : new ZnnError(m.message, m.code || 'ZNN_ERROR'));
          return;
        }
      }
    } catch (e) {
      // a throwing callback (onTensor/onProgress): the download fails with it
      this.fail(e);
      return;
    }
    this.#notify();
  }

  #notify() {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  #detach() {
    if (this.w.jobs.delete(this.id) && this.w.jobs.size === 0) this.w.port.unref?.();
  }

  fail(e) {
    if (this.error || this.done) return;
    this.error = e;
    this.close();
    this.#notify();
    this.onFail?.(e);
  }

  /**
   * Sends input: transfers u8's buffer when owned and not small, else copies it into a spare
   * buffer that goes once full, or at once while the worker has nothing to do: a fast body of
   * tiny chunks costs one message per buffer, not one per chunk, and a slow one is not held
   * back (its header, tensors and progress would wait for 256 KiB).
   */
  write(u8, owned) {
    if (this.error) throw this.error;
    if (owned && u8.byteOffset === 0 && u8.byteLength >= READ_BUFFER / 4) {
      this.#flush();
      this.#post(u8.buffer, u8.byteLength);
      return true;
    }
    for (let at = 0; at < u8.length; ) {
      this.fill ??= { buf: this.buffer(), len: 0 };
      const f = this.fill;
      const n = Math.min(f.buf.byteLength - f.len, u8.length - at);
      new Uint8Array(f.buf, f.len, n).set(u8.subarray(at, at + n));
      f.len += n;
      at += n;
      if (f.len === f.buf.byteLength) this.#flush();
    }
    if (this.inflight === 0) this.#flush();
    return false;
  }

  /** Sends the partly filled buffer, if any. */
  #flush() {
    const f = this.fill;
    this.fill = null;
    if (f?.len) this.#post(f.buf, f.len);
    else if (f) this.free.push(f.buf);
  }

  #post(buf, len) {
    this.inflight += buf.byteLength;
    this.w.port.post({ type: 'chunk', id: this.id, buf, len }, [buf]);
  }

  /** A buffer to read the next input into. */
  buffer() {
    return this.free.pop() ?? new ArrayBuffer(READ_BUFFER);
  }

  /** Resolves once the worker has caught up enough to take more input (back-pressure). */
  async room() {
    while (!this.error && this.inflight > WORKER_INFLIGHT) await new Promise((r) => (this.wake = r));
    if (this.error) throw this.error;
  }

  async end() {
    if (this.error) throw this.error;
    this.#flush();
    this.w.port.post({ type: 'end', id: this.id });
    while (!this.error && !this.done) await new Promise((r) => (this.wake = r));
    if (this.error) throw this.error;
  }

  close() {
    if (!this.done && this.w.jobs.has(this.id) && !this.w.dead) this.w.port.post({ type: 'cancel', id: this.id });
    this.#detach();
  }
}

/** @internal The worker's side: runs in the decode worker (decode-worker*.js) on `port`. */
export function __runDecodeWorker(port) {
  // id -> { dec, own, size, out, at, headerSent }: the StreamDecoder; the largest output this
  // worker takes on (0: the page holds it); the size it took on, and that output, allocated
  // with the first decoded bytes, filled up to `at`.
  const jobs = new Map();
  const pool = []; // data buffers back from the caller
  const outBuffer = (n) => {
    const i = pool.findIndex((b) => b.byteLength >= n);
    return i >= 0 ? pool.splice(i, 1)[0] : new ArrayBuffer(Math.max(n, READ_BUFFER));
  };
  const drop = (id) => {
    freeWasm(jobs.get(id)?.dec);
    jobs.delete(id);
  };
  const fail = (id, e) => {
    drop(id);
    const z = fromWasm(e);
    port.post({ type: 'error', id, code: z?.code, message: String(z?.message ?? z) });
  };
  /** Sends the header once the decoder has read it, taking on the output if it may. */
  const sendHeader = (id, job) => {
    const h = call(() => job.dec.takeHeader());
    if (!h) return;
    job.headerSent = true;
    if (h.totalSize != null && h.totalSize <= job.own) job.size = h.totalSize;
    port.post({ type: 'header', id, header: h, own: job.size !== undefined });
  };
  /** Hands `ready` decoded bytes over: into the output this worker holds, else to the page. */
  const deliver = (id, job, ready) => {
    if (job.size !== undefined) {
      job.out ??= allocate(job.size);
      call(() => job.dec.drainInto(new Uint8Array(job.out, job.at, ready)));
      job.at += ready;
      port.post({ type: 'decoded', id, len: ready });
    } else {
      const buf = outBuffer(ready);
      call(() => job.dec.drainInto(new Uint8Array(buf, 0, ready)));
      port.post({ type: 'data', id, buf, len: ready }, [buf]);
    }
  };
  /** Feeds `u8` through the decoder's input buffer, delivering what each piece decodes to. */
  const feed = (id, job, u8) => {
    const { dec } = job;
    for (let at = 0; at < u8.length; ) {
      const room = call(() => dec.inputBuffer());
      const n = Math.min(room.length, u8.length - at);
      room.set(u8.subarray(at, at + n));
      at += n;
      let ready = call(() => dec.commit(n));
      // A commit stops once ~4 MiB are ready: drain, then go on while whole units wait.
      for (;;) {
        if (!job.headerSent) sendHeader(id, job);
        if (ready > 0) deliver(id, job, ready);
        if (!dec.pending()) break;
        ready = call(() => dec.commit(0));
      }
    }
  };
  port.listen((m) => {
    switch (m.type) {
      case 'init':
        try {
          initSync(m.module);
          port.post({ type: 'ready' });
        } catch (e) {
          port.post({ type: 'ready', error: String(e?.message ?? e) });
        }
        return;
      case 'recycle':
        if (pool.length < 4) pool.push(m.buf);
        return;
      case 'start':
        try {
          const dec = made(call(() => new glue.StreamDecoder(m.maxOutput, undefined, m.format)));
          jobs.set(m.id, { dec, own: m.own || 0, size: undefined, out: null, at: 0, headerSent: false });
        } catch (e) {
          fail(m.id, e);
        }
        return;
      case 'chunk': {
        const job = jobs.get(m.id);
        try {
          if (job) feed(m.id, job, new Uint8Array(m.buf, 0, m.len));
        } catch (e) {
          fail(m.id, e);
        }
        // The buffer goes back for the next read, also for jobs already cancelled or failed.
        port.post({ type: 'consumed', id: m.id, buf: m.buf }, [m.buf]);
        return;
      }
      case 'end': {
        const job = jobs.get(m.id);
        if (!job) return;
        try {
          call(() => job.dec.finish());
          const out = job.out ?? (job.size !== undefined ? allocate(job.size) : null); // 0 bytes: none drained
          drop(m.id);
          port.post({ type: 'done', id: m.id, out }, out ? [out] : []);
        } catch (e) {
          fail(m.id, e);
        }
        return;
      }
      case 'cancel':
        drop(m.id);
        return;
      case 'run':
        // A pool task: records straight into the shared output (see pool.js).
        try {
          // done[1]: the call failed or was aborted meanwhile, nobody wants this run.
          if (!Atomics.load(m.done, 1)) {
            const view = new Uint8Array(m.out, m.at, m.len);
            if (m.pieces) call(() => glue.decodeZipnnPieces(m.records, m.pieces, view));
            else call(() => glue.decodeZnwRecords(m.records, m.offset, m.maxChunk, view));
            // Publishes the writes above to the thread that reads this counter (Atomics order them).
            Atomics.add(m.done, 0, 1);
          }
          // The records' buffer goes back for the next run (none when they were a shared view).
          const buf = m.records.buffer instanceof ArrayBuffer ? m.records.buffer : undefined;
          port.post({ type: 'ran', id: m.id, buf }, buf ? [buf] : []);
        } catch (e) {
          fail(m.id, e);
        }
        return;
    }
  });
}
