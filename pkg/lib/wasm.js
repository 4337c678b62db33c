// The wasm module: loaded once, on first use, from the host entry's default source; every call
// into it goes through `call`, which turns what it throws into our error classes.

import initGlue, * as glue from '../dist/zipnn_wasm.js';
import { BY_CODE, InternalError, TooLargeError, ZnnError, initError, userErrors } from './errors.js';
import { checkBoolean, isArrayBuffer, toBytes } from './checks.js';
import { startsWith } from './buffers.js';

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d]; // \0asm

/** Counters the tests read (`__internal.stats`): jobs, runs, grown outputs, the build loaded. */
export const stats = { workerJobs: 0, poolJobs: 0, poolRuns: 0, grownOutputs: 0, wasm: null };

/** Turns what a wasm call threw into one of our classes. */
export function fromWasm(e) {
  if (e instanceof ZnnError || userErrors.has(e)) return e;
  const C = e && typeof e.code === 'string' ? BY_CODE[e.code] : undefined;
  if (C) return new C(e.message, { cause: e });
  if (e instanceof WebAssembly.RuntimeError) {
    // A trap (a panic, or wasm memory exhausted). Its state may be inconsistent: take the panic
    // message and switch to a fresh instance before anything else runs.
    let why;
    let inUse = 0;
    resets++;
    try {
      inUse = glue.__memory().buffer.byteLength;
      why = glue.__afterTrap();
      glue.__reinit();
    } catch {
      // the next call reinitialises anyway
    }
    // Every panic leaves its message; an `unreachable` without one is Rust's abort when an
    // allocation fails: wasm memory (at most 4 GiB, never given back) ran out. (V8 says
    // "unreachable", Firefox "unreachable executed", Safari "Unreachable code ...".)
    if (!why && /unreachable/i.test(e.message)) {
      const mib = Math.round(inUse / 2 ** 20);
      return new TooLargeError(`wasm memory ran out (${mib} MiB in use, at most 4 GiB; the module was reset, which frees it)`, { cause: e });
    }
    const what = why ? why.split('\n').join(' ') : e.message;
    return new InternalError(`internal error in the wasm module: ${what} (the module was reset)`, { cause: e });
  }
  if (e instanceof RangeError) return new TooLargeError(`out of memory: ${e.message}`, { cause: e });
  // The glue's check on an object of an instance that a trap replaced (a stream in flight then).
  if (e instanceof Error && e.message.startsWith('Invalid stale object')) {
    return new InternalError('internal error in the wasm module: an earlier error reset the module, and this object was lost with it', { cause: e });
  }
  return e;
}

/** How many times a trap reset the instance (objects of an earlier one are gone). */
export let resets = 0;

/** The value of `resets` when each wasm object was made. */
const madeIn = new WeakMap();

/** A wasm object just made, remembered with the instance it lives in. */
export function made(obj) {
  madeIn.set(obj, resets);
  return obj;
}

/**
 * Frees a wasm object passed through `made`. One of an instance that a trap replaced is only dropped:
 * the glue's `free()` does not check the instance, and would free whatever the new instance keeps
 * at the same address.
 */
export function freeWasm(obj) {
  if (obj && madeIn.get(obj) === resets) obj.free();
}

/** Calls into the module so far (the warm-up runs only on a module nothing has used yet). */
let calls = 0;

/**
 * Counts a decode that starts now as a use of the module: a warm-up not run yet is then
 * skipped (fetchModel and the decompression stream: they decode as bytes arrive, which gets
 * the compiles going, and a warm-up would only compete with them).
 */
export function claim() {
  calls++;
}

export function call(f) {
  calls++;
  try {
    return f();
  } catch (e) {
    throw fromWasm(e);
  }
}

let defaultSource;
let initPromise;
export let ready = false;
/** The compiled module, kept so fetchModel's decode worker can instantiate it too. */
export let wasmModule = null;

let syncSource = false;

/**
 * @internal Set by the host entry: a function returning what `init` should load; `sync` when
 * it returns a compiled `WebAssembly.Module` (workerd), which constructors then load at once.
 */
export function __setWasmSource(f, { sync = false } = {}) {
  defaultSource = f;
  syncSource = sync;
}

/**
 * Whether the module is loaded, loading it at once where the host entry holds it compiled: a
 * stream's constructor then checks its options itself, also in a new Workers isolate (where
 * a bad option found later would break off a response already on its way).
 */
export function readyNow() {
  if (ready || !syncSource || initPromise) return ready;
  try {
    initSync(defaultSource());
  } catch {
    // left to init(), which reports the failure where the stream starts
  }
  return ready;
}

// The smallest module using a SIMD instruction (`(func (result v128) i32.const 0 i8x16.splat)`):
// hosts without wasm SIMD (older Safari, some embedded runtimes) refuse to validate it.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11]);

/**
 * @internal For the host entries: `simd` when this host runs wasm SIMD, else `plain` (the
 * build without simd128: same exports, slower). Records the choice in `__internal.stats.wasm`.
 */
export function __pickWasm(simd, plain) {
  let ok = false;
  try {
    ok = WebAssembly.validate(SIMD_PROBE);
  } catch {
    // a host whose validate throws on unknown opcodes has no SIMD either
  }
  stats.wasm = ok ? 'simd' : 'nosimd';
  return ok ? simd : plain;
}

let readLocal = null;

/**
 * @internal Set by the node entry: for `init(url)`, a function that reads a `file:` URL or a
 * path from disk (a promise of the bytes), or returns null for what `fetch` should load.
 */
export function __setLocalReader(f) {
  readLocal = f;
}

/** Compiles what `init` was given when it can (a Module, bytes, a Response or a URL), else returns it as is. */
async function compileSource(src) {
  if (src instanceof WebAssembly.Module) return src;
  const local = readLocal?.(src);
  if (local) src = await local;
  if (typeof src === 'string' || (typeof URL === 'function' && src instanceof URL) || (typeof Request === 'function' && src instanceof Request)) {
    try {
      src = await fetch(src);
    } catch (e) {
      // The browser entry imported in node (or a runtime whose fetch reads no files).
      const where = String(src?.url ?? src);
      if (where.startsWith('file:')) {
        throw new ZnnError(
          `zipnn-wasm: cannot load the wasm module from ${where}: this runtime's fetch reads no files ` +
            `(${e?.message ?? e}). In node, import 'zipnn-wasm' by name (its node entry) or 'zipnn-wasm/node', ` +
            'or pass the .wasm bytes to init().',
          'ZNN_INIT',
          { cause: e },
        );
      }
      throw e;
    }
  }
  if (typeof Response === 'function' && src instanceof Response) {
    if (!src.ok) throw new ZnnError(`zipnn-wasm: failed to fetch the wasm module: HTTP ${src.status} for ${src.url}`, 'ZNN_INIT');
    const type = (src.headers.get('content-type') || '').split(';')[0].trim();
    if (type === 'application/wasm' && typeof WebAssembly.compileStreaming === 'function') return WebAssembly.compileStreaming(src);
    const bytes = new Uint8Array(await src.arrayBuffer());
    // Most often a dev server's fallback page: a bundler moved this module away from dist/.
    if (!startsWith(bytes, WASM_MAGIC)) {
      throw new ZnnError(
        `zipnn-wasm: ${src.url} is not a wasm module (${type || 'no content type'}, ${bytes.length} bytes). ` +
          `If a bundler moved zipnn-wasm away from its dist/ folder, see the README's "Bundlers" ` +
          `(Vite's dev server before Vite 8: optimizeDeps: { exclude: ['zipnn-wasm'] })`,
        'ZNN_INIT',
      );
    }
    return WebAssembly.compile(bytes);
  }
  if (isArrayBuffer(src) || ArrayBuffer.isView(src)) return WebAssembly.compile(src);
  return src;
}

/** Rounds of the module's `warmUp` (8 KiB of tensors decoded twice a round) after `init` loads it. */
const WARM_UP_ROUNDS = 20;

/**
 * V8 runs a wasm function in baseline code until that code has done enough work, then
 * compiles it optimised on another thread, and a call keeps the code it started with: the
 * first decode of a model in a fresh page or process ran at about half speed (bench/NOTES.md,
 * session 46; bench/cold-start.mjs). A few milliseconds of decoding a tiny model in the next
 * task get those compiles going while the page goes on; workers given the same module share
 * the optimised code. Not in workerd, whose isolates are short-lived and billed by CPU time.
 */
function scheduleWarmUp() {
  if (syncSource || calls > 0 || stats.warmUp !== undefined) return;
  stats.warmUp = 'scheduled';
  const timer = setTimeout(() => {
    // A call may have handed out a view of wasm memory (a Decompressor's result), which a
    // call the program did not make must not empty by growing the memory; and a decode that
    // ran has got the compiles going itself.
    if (calls > 0) {
      stats.warmUp = 'skipped';
      return;
    }
    try {
      const t0 = performance.now();
      glue.warmUp(WARM_UP_ROUNDS);
      stats.warmUp = performance.now() - t0;
    } catch (e) {
      stats.warmUp = fromWasm(e); // only a test looks: a bug, which the decoders' tests would find too
    }
  }, 0);
  timer?.unref?.(); // node: a program with nothing left to do does not wait for it
}

/**
 * The package's `init`: loads the module and, on a module nothing has called yet, schedules
 * the warm-up (`{ warmUp: false }` skips it, for a program that only compresses). The calls
 * that load the module themselves on first use do not warm up: they decode at once, which
 * gets the compiles going anyway, and a warm-up would only compete with them (fetchModel
 * from loopback right after loading: +25 ms with one).
 */
export function initPublic(moduleOrBytes, options = {}) {
  let warm;
  try {
    warm = checkBoolean(options?.warmUp ?? true, 'warmUp');
  } catch (e) {
    return Promise.reject(e);
  }
  const p = init(moduleOrBytes);
  return warm ? p.then(scheduleWarmUp) : p;
}

/**
 * Loads the wasm module (a `WebAssembly.Module`, the .wasm bytes, a `Response`, or a URL; by
 * default the host entry's): what every call that needs the module runs on first use, and
 * `initPublic` without the warm-up.
 */
export function init(moduleOrBytes) {
  if (ready) return Promise.resolve();
  if (!initPromise) {
    initPromise = (async () => {
      let src;
      try {
        src = await moduleOrBytes;
        if (src === undefined && defaultSource) src = await defaultSource();
        if (src === undefined) {
          throw new ZnnError('zipnn-wasm: no wasm module to load; call init(module) first', 'ZNN_INIT');
        }
        src = await compileSource(src);
        await initGlue({ module_or_path: src });
      } catch (e) {
        throw initError(e);
      }
      if (src instanceof WebAssembly.Module) wasmModule = src;
      ready = true;
    })();
    initPromise.catch(() => {
      initPromise = undefined;
    });
  }
  return initPromise;
}

/** Synchronous `init` for hosts that already hold the compiled module or the bytes. */
export function initSync(moduleOrBytes) {
  if (ready) return;
  let module;
  try {
    module = moduleOrBytes instanceof WebAssembly.Module ? moduleOrBytes : new WebAssembly.Module(moduleOrBytes);
    glue.initSync({ module });
  } catch (e) {
    throw initError(e);
  }
  wasmModule = module;
  ready = true;
}

/** True for a view of the module's own memory (a `Decompressor`'s result or `inputBuffer`). */
export function inWasmMemory(u8) {
  return ready && u8.buffer === glue.__memory().buffer;
}

/**
 * `toBytes` for data a call reads: a view of the module's own memory is copied first, since a
 * call that grows the memory empties every view of it.
 */
export function inputBytes(data, what = 'input') {
  const u8 = toBytes(data, what);
  return inWasmMemory(u8) ? u8.slice() : u8;
}
