// Worker pool: decompress(bytes, { threads }) of a big compressed buffer on several cores
//
// The calling thread lists the pieces that decode on their own once (.znw chunks from their
// record heads; ZipNN frames, runs of a big frame's chunks, and the plain tensors of a
// .znn.safetensors file, from the frame headers and tables) and cuts them into contiguous runs
// of about equal decoded size, a few per worker. Each worker (the decode
// worker's script with its own instance, started once and reused) takes the next run when it
// is done with one, so a core busy with other work takes fewer. A run's records go over as a
// transferred copy (a view, when the input already lives in a SharedArrayBuffer) and decode
// straight into one SharedArrayBuffer, which the result is a view of: no copy at the end.
//   → run {id, records, offset, maxChunk | pieces, out, at, len, done}   ← ran {id, buf} | error {id, code, message}
// (.znw runs carry the first record's decoded offset and max_chunk; ZipNN runs their pieces.)
// `done` is an Int32Array on shared memory: done[0] each worker increments after its writes
// (reading it with Atomics before returning orders those writes before the caller's reads);
// done[1] the caller sets when the call failed or was aborted, and queued runs are skipped.

import * as glue from '../dist/zipnn_wasm.js';
import { ERROR_BY_CODE, InternalError, InvalidInputError, NotCompressedError, TooLargeError, ZnnError } from './errors.js';
import { call, fromWasm, stats, wasmModule } from './wasm.js';
import { isShared, unmoved } from './checks.js';
import { GiB, MiB, allocate, startsWith } from './buffers.js';
import { ZNW_MAGIC } from './sniff.js';
import { parallelism, startWorker, workerFactory } from './worker.js';

export const poolTuning = {
  /** Below this decoded size one thread is about as fast (bench/NOTES.md): in-thread. */
  minBytes: 2 * MiB,
  /** Runs per worker: more balance a loaded core better, fewer cost fewer round trips. */
  runsPerWorker: 8,
  /** Smallest run worth a round trip. */
  runMin: MiB,
  /** Largest run: bounds the buffers kept for the records (see spareBuffers). */
  runMax: 4 * MiB,
  /** Runs handed to a worker at once (one decoding, the rest waiting in its queue). */
  queue: 2,
  /** Idle time after which the workers go (see retirePool): ms. */
  idleMs: 1000,
  /** Output written after which the workers go as soon as no call is under way. */
  retireBytes: 1 * GiB,
};
/**
 * Most workers for an explicit `threads`; `'auto'` stops at `POOL_AUTO_MAX` (memory bandwidth
 * is the limit beyond that).
 */
const POOL_MAX = 16;
const POOL_AUTO_MAX = 8;
/**
 * A call waits this long for its workers to load, then decodes in-thread (a script that never
 * arrives held it, and every later pooled call, for ever); those still loading are kept for
 * the next call (a slow machine still gets its pool).
 */
const POOL_WAIT = 2000;

export const poolWorkers = []; // started workers, reused; removed once dead
let poolCalls = 0; // pooled decodes under way
let poolIdle = null; // the timer of retirePool
let poolWritten = 0; // bytes of output the workers wrote since they last went
let poolOutputs = new WeakSet(); // the buffers they wrote into: a reused target counts once

/**
 * A pooled decode into `output` is over: once none is under way, the pool goes idle, and its
 * workers go at once if they wrote `poolTuning.retireBytes` into buffers new to them since they
 * came (results dropped in a tight loop piled up otherwise: six 1.5 GB calls held 9.7 GB in
 * Chromium; a reused target counts once, and restarting for it only cost time).
 */
function poolCallEnded(output) {
  if (output && !poolOutputs.has(output.buffer)) {
    poolOutputs.add(output.buffer);
    poolWritten += output.length;
  }
  if (--poolCalls > 0) return;
  // At once, not on a timer: a caller's next call would start before any timer fired.
  if (poolWritten >= poolTuning.retireBytes) return retirePool();
  poolIdle = setTimeout(retirePool, poolTuning.idleMs);
  poolIdle.unref?.(); // node: never kept alive for it
}

/**
 * Lets the pool's workers go once it has been idle for `poolTuning.idleMs`. A worker holds a
 * reference to every output it wrote (a fresh one, or a caller's target) until its own heap is
 * collected, which an idle worker's seldom is, and V8 does not count shared memory when it
 * decides to collect: in Chromium a dropped 1.5 GB result stayed in the page's memory for
 * good. The next call starts new ones (the module is compiled already).
 */
function retirePool() {
  poolIdle = null;
  if (poolCalls) return;
  poolWritten = 0;
  poolOutputs = new WeakSet();
  // No call is under way, and each settled once its runs were back: no worker has a job.
  for (const w of poolWorkers.splice(0)) w.kill(new Error('idle'));
  spareBuffers.length = 0;
}

/** The number of workers `threads` asks for (1: in-thread). */
export function poolThreads(threads) {
  if (threads === undefined || threads === null) return 1;
  if (threads === 'auto') return Math.min(Math.max(1, Math.floor(parallelism()) || 1), POOL_AUTO_MAX);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new InvalidInputError(`threads must be a positive integer or 'auto', not ${String(threads)}`);
  }
  return Math.min(threads, POOL_MAX);
}

/**
 * Whether the pool can run here: workers, and memory they can share (SharedArrayBuffer exists
 * and, in a browser, the page is cross-origin isolated, else it cannot be posted).
 */
export function poolAvailable() {
  return !!workerFactory && !!wasmModule && typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated !== false;
}

/**
 * Buffers the records of runs are copied into: transferred to a worker and back, reused, so
 * that copying a run costs no page faults of fresh memory (that took longer than the decode).
 * At most SPARE_MAX are kept, of runMax and a MiB at most (a run is one part, and a part can
 * be a whole ZipNN frame or plain tensor: four 65 MiB ones stayed for good), and none once the
 * pool goes.
 */
const spareBuffers = [];
const SPARE_MAX = 16;

/** `n` bytes of a spare buffer (the smallest that fits) or of a new one. */
function recordsBuffer(n) {
  let best = -1;
  for (let i = 0; i < spareBuffers.length; i++) {
    const len = spareBuffers[i].byteLength;
    if (len >= n && (best < 0 || len < spareBuffers[best].byteLength)) best = i;
  }
  const buf = best >= 0 ? spareBuffers.splice(best, 1)[0] : allocate(Math.ceil(n / MiB) * MiB || MiB);
  return new Uint8Array(buf, 0, n);
}

/** `u8` copied into a spare buffer. */
function recordsCopy(u8) {
  const out = recordsBuffer(u8.length);
  out.set(u8);
  return out;
}

function recycle(buf) {
  // (A run of incompressible chunks takes a little more than runMax: a MiB more.)
  if (!(buf instanceof ArrayBuffer) || buf.byteLength > Math.ceil(poolTuning.runMax / MiB) * MiB + MiB) return;
  spareBuffers.push(buf);
  // Over the cap, the smallest go: big runs would otherwise never find room.
  if (spareBuffers.length > SPARE_MAX) spareBuffers.sort((x, y) => y.byteLength - x.byteLength).length = SPARE_MAX;
}

/**
 * Up to `n` workers of the pool, ready (fewer if some failed to start, none without workers);
 * past POOL_WAIT, those ready by then. Rejects with `signal.reason` once it is aborted.
 */
async function readyPool(n, signal) {
  signal?.throwIfAborted();
  let timer, onAbort;
  const late = new Promise((resolve, reject) => {
    timer = setTimeout(resolve, POOL_WAIT, null);
    onAbort = () => reject(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return (await Promise.race([poolOf(n), late])) ?? poolWorkers.slice(0, n).filter((w) => w.started && !w.dead);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

async function poolOf(n) {
  for (let i = poolWorkers.length; i--; ) if (poolWorkers[i].dead) poolWorkers.splice(i, 1);
  while (poolWorkers.length < n) {
    let w = null;
    w = startWorker(() => {
      const i = poolWorkers.indexOf(w);
      if (i >= 0) poolWorkers.splice(i, 1);
    });
    if (!w) break;
    poolWorkers.push(w);
  }
  return (await Promise.all(poolWorkers.slice(0, n).map((w) => w.ready))).filter(Boolean);
}

/**
 * How `data` splits into pieces that decode on their own, or null where the pool does not
 * apply: .znw chunks (from the record heads), or the parts of a ZipNN file (from the frame
 * headers and tables). `limit`: the output's size bound.
 */
function poolPieces(data, limit) {
  if (startsWith(data, ZNW_MAGIC)) {
    const t = call(() => glue.znwChunkTable(data, limit));
    // Entry `count` is the end record and the decoded size.
    return {
      count: t[1],
      offset: (i) => t[3 + 2 * i],
      header: null,
      records: (a, b, shared) => {
        const run = data.subarray(t[2 + 2 * a], t[2 + 2 * b]);
        return { records: shared ? run : recordsCopy(run), run: { maxChunk: t[0], offset: t[3 + 2 * a] } };
      },
    };
  }
  // Parts: plain bytes, whole frames, or runs of a big frame's chunks (see zipnnPieceTable).
  // The module tells the formats apart (sniff's TextDecoder refuses shared memory in browsers);
  // anything else decodes in-thread, which reports it.
  let header, t;
  try {
    [header, t] = call(() => glue.zipnnPieceTable(data, limit, poolTuning.runMax));
  } catch (e) {
    if (e instanceof NotCompressedError) return null;
    throw e;
  }
  const count = t[0];
  const P = 16;
  const at = (i, k) => t[1 + P * i + k];
  return {
    count,
    header,
    offset: (i) => (i === count ? t[1 + P * count] : at(i, 5)),
    // A run's bytes: each part's stretches, copied together (or, from shared memory, where
    // they are), and each part as decodeZipnnPieces reads it.
    records: (a, b, shared) => {
      let n = 0;
      for (let i = a; i < b; i++) for (let s = 0; s < 5; s++) n += at(i, 7 + 2 * s);
      const out = shared ? data : recordsBuffer(n);
      const parts = new Float64Array(19 * (b - a));
      let pos = 0;
      for (let i = a; i < b; i++) {
        const q = 19 * (i - a);
        parts.set([at(i, 0), at(i, 2), at(i, 3), at(i, 4)], q);
        for (let s = 0; s < 5; s++) {
          const [start, len] = [at(i, 6 + 2 * s), at(i, 7 + 2 * s)];
          const from = at(i, 1) + start;
          if (!shared) out.set(data.subarray(from, from + len), pos);
          parts.set([shared ? from : pos, start, len], q + 4 + 3 * s);
          if (!shared) pos += len;
        }
      }
      return { records: out, run: { pieces: parts } };
    },
  };
}

/**
 * Decodes `data` (.znw, ZipNN frames or .znn.safetensors) on `n` workers into `target` (a
 * Uint8Array on a SharedArrayBuffer with the decoded size) or a new shared buffer. Resolves to
 * the output, or to null where the pool does not apply (the caller then decodes in-thread,
 * which also reports a target of the wrong size): small output, one piece, fewer than 2
 * workers.
 */
export async function decodePooled(data, n, { maxOutput, target, signal }) {
  // With a target, no bound: a total that differs from its size goes in-thread, which reports it.
  const plan = poolPieces(unmoved(data), target ? undefined : maxOutput);
  if (!plan) return null;
  const { count, offset } = plan;
  const total = offset(count);
  if (count < 2 || total < poolTuning.minBytes || (target && target.length !== total)) return null;
  // Counted from before the workers are picked, so that retirePool never takes them meanwhile.
  poolCalls++;
  clearTimeout(poolIdle);
  poolIdle = null;
  let out = target;
  let workers, done;
  try {
    workers = await readyPool(n, signal);
    signal?.throwIfAborted(); // (an abort in the microtasks since)
    if (!out && workers.length >= 2) {
      try {
        out = new Uint8Array(new SharedArrayBuffer(total));
      } catch (e) {
        throw new TooLargeError(`cannot allocate ${total} bytes of shared memory: ${e.message}`, { cause: e });
      }
    }
    if (workers.length >= 2 && plan.header) out.set(plan.header);
    done = new Int32Array(new SharedArrayBuffer(8)); // runs done; cancelled
  } catch (e) {
    poolCallEnded();
    throw e;
  }
  if (workers.length < 2) {
    poolCallEnded();
    return null;
  }
  const runs = [];
  const want = Math.min(poolTuning.runMax, Math.max(poolTuning.runMin, total / (workers.length * poolTuning.runsPerWorker)));
  for (let a = 0, i = 1; i <= count; i++) {
    // A run ends once it reaches `want` bytes, or before a chunk that would take it past runMax.
    if (i === count || offset(i) - offset(a) >= want || offset(i + 1) - offset(a) > poolTuning.runMax) {
      runs.push([a, i]);
      a = i;
    }
  }
  const shared = isShared(data.buffer);
  stats.poolJobs++;
  return new Promise((resolve, reject) => {
    let next = 0;
    let pending = 0;
    let finished = false;
    let failure = null; // [reason] once the call failed
    const onAbort = () => finish(signal.reason);
    const settle = () => {
      signal?.removeEventListener('abort', onAbort);
      poolCallEnded(out);
      if (failure) reject(failure[0]);
      else if (Atomics.load(done, 0) !== runs.length) reject(new InternalError('the worker pool lost a run'));
      else resolve(out);
    };
    // `finish()` resolves, `finish(e)` rejects with `e` whatever it is: `abort(0)` rejects with 0.
    // Either settles once no run is out: runs still queued in a worker are skipped, and one
    // being decoded ends first, so that nothing writes into the output after the call has
    // settled (an aborted call's last runs landed in the caller's target after the rejection,
    // over what the caller wrote there next).
    const finish = (...f) => {
      if (finished) return;
      finished = true;
      if (f.length) {
        failure = f;
        Atomics.store(done, 1, 1);
      }
      if (pending === 0) settle();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const give = (w) => {
      if (finished) return;
      // A worker that died before this call reached it would never answer.
      if (w.dead) return finish(new InternalError('a worker of the pool exited'));
      if (next === runs.length) {
        if (pending === 0) finish();
        return;
      }
      const [a, b] = runs[next++];
      const at = offset(a);
      let records, run;
      try {
        unmoved(data); // runs are copied out of it as workers ask, after awaits
        ({ records, run } = plan.records(a, b, shared));
      } catch (e) {
        return finish(fromWasm(e)); // called from a worker's message: nothing may throw
      }
      const id = w.nextId++;
      const detach = () => {
        pending--;
        if (w.jobs.delete(id) && w.jobs.size === 0) w.port.unref?.();
        if (finished && pending === 0) settle();
      };
      w.jobs.set(id, {
        onMessage(m) {
          detach();
          if (m.buf) recycle(m.buf);
          if (m.type === 'ran') return give(w);
          const C = ERROR_BY_CODE[m.code];
          finish(C ? new C(m.message) : new ZnnError(m.message, m.code || 'ZNN_ERROR'));
        },
        fail(e) {
          detach();
          finish(e);
        },
      });
      if (w.jobs.size === 1) w.port.ref?.(); // node must not exit while a run is out
      pending++;
      stats.poolRuns++;
      const msg = { type: 'run', id, records, ...run, out: out.buffer, at: out.byteOffset + at, len: offset(b) - at, done };
      try {
        w.port.post(msg, shared ? [] : [records.buffer]);
      } catch (e) {
        detach();
        finish(e);
      }
    };
    // Each worker gets a second run queued behind the one it decodes: it never waits for this
    // thread to copy the next records.
    for (let q = 0; q < poolTuning.queue; q++) for (const w of workers) give(w);
  });
}
