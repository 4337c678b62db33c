// zipnn-wasm: the host-independent core. The host entries (index.js for browsers and the
// default, node.js, workerd.js) only tell it where the .wasm comes from.
//
// Everything here is a thin layer over the wasm-bindgen output in ./dist: argument checks,
// error classes, chunking of big inputs, format sniffing, streams and fetchModel.

import initGlue, * as glue from './dist/zipnn_wasm.js';

const MiB = 1 << 20;
const GiB = 1 << 30;
/** Largest slice pushed into the wasm encoder at once: bounds wasm memory whatever the input chunking. */
const PUSH_MAX = MiB;
/**
 * Largest input of the whole-buffer `compress`: the largest slice wasm32 holds (isize::MAX), past
 * which copying it in would trap. It is copied into wasm memory (4 GiB at most) next to its
 * output, so float weights fit up to about 1.95 GiB; beyond, a TooLargeError says so
 * (ZnnCompressionStream has no such bound).
 */
const MAX_COMPRESS_INPUT = 2 ** 31 - 1;
/** Largest `streamingChunk` of `ZnnCompressionStream` (a power of two within the above). */
const MAX_STREAM_FRAME = 2 ** 30;
/** fetchModel's read buffer (BYOB): a read returns what has arrived, up to this. */
const READ_BUFFER = 256 * 1024;
const ZNW_MAGIC = [0x89, 0x5a, 0x4e, 0x57, 0x0d, 0x0a, 0x1a, 0x0a];
const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d]; // \0asm
const ZIPNN_META_KEY = 'znn_compressed_vectors';
/** Whether segment `s` of header `h` is a tensor: not the container's own bytes, nor the one
 * unnamed segment of a raw file (a container may name a tensor ''). */
const isTensor = (h, s) => s.name !== '__header__' && s.name !== '__padding__' && (s.name !== '' || h.container !== 'raw');

// ---------------------------------------------------------------------------------------------
// Errors

/** Base class of every error this package throws; `code` is stable (`ZNN_*`). */
export class ZnnError extends Error {
  constructor(message, code = 'ZNN_ERROR', options) {
    super(message, options);
    this.code = code;
  }
}
Object.defineProperty(ZnnError.prototype, 'name', { value: 'ZnnError', writable: true, configurable: true });

function errorClass(name, code) {
  const C = class extends ZnnError {
    constructor(message, options) {
      super(message, code, options);
    }
  };
  Object.defineProperty(C, 'name', { value: name });
  Object.defineProperty(C.prototype, 'name', { value: name, writable: true, configurable: true });
  return C;
}

export const NotCompressedError = errorClass('NotCompressedError', 'ZNN_NOT_COMPRESSED');
export const TruncatedError = errorClass('TruncatedError', 'ZNN_TRUNCATED');
export const CorruptError = errorClass('CorruptError', 'ZNN_CORRUPT');
export const UnsupportedError = errorClass('UnsupportedError', 'ZNN_UNSUPPORTED');
export const TooLargeError = errorClass('TooLargeError', 'ZNN_TOO_LARGE');
export const InvalidInputError = errorClass('InvalidInputError', 'ZNN_INVALID_INPUT');
/** A bug inside the wasm module (a trap); the instance has been replaced by a fresh one. */
export const InternalError = errorClass('InternalError', 'ZNN_INTERNAL');

/** `fetchModel` got a response whose status is not 2xx. */
export class HttpError extends ZnnError {
  constructor(response) {
    super(`HTTP ${response.status} ${response.statusText || ''} for ${response.url || 'the request'}`.replace('  ', ' '), 'ZNN_HTTP');
    this.status = response.status;
    this.url = response.url;
  }
}
Object.defineProperty(HttpError.prototype, 'name', { value: 'HttpError', writable: true, configurable: true });
/** `fetchModel`'s request or body failed below HTTP (refused, reset, DNS); `cause` has why. */
export const NetworkError = errorClass('NetworkError', 'ZNN_NETWORK');
/** The wasm module could not be fetched, compiled or instantiated. */
const initError = (e) =>
  e instanceof ZnnError ? e : new ZnnError(`zipnn-wasm: cannot load the wasm module: ${e?.message ?? e}`, 'ZNN_INIT', { cause: e });

const BY_CODE = {
  ZNN_NOT_COMPRESSED: NotCompressedError,
  ZNN_TRUNCATED: TruncatedError,
  ZNN_CORRUPT: CorruptError,
  ZNN_UNSUPPORTED: UnsupportedError,
  ZNN_TOO_LARGE: TooLargeError,
  ZNN_INVALID_INPUT: InvalidInputError,
};

/** Exceptions thrown by the caller's callbacks (onProgress, onTensor): rethrown as they are. */
const userErrors = new WeakSet();

/** `f` with what it throws marked as the caller's own (so `fromWasm` leaves it alone). */
function userCallback(f) {
  return (...args) => {
    try {
      return f(...args);
    } catch (e) {
      if (e !== null && (typeof e === 'object' || typeof e === 'function')) userErrors.add(e);
      throw e;
    }
  };
}

/** Turns what a wasm call threw into one of our classes. */
function fromWasm(e) {
  if (e instanceof ZnnError || userErrors.has(e)) return e;
  const C = e && typeof e.code === 'string' ? BY_CODE[e.code] : undefined;
  if (C) return new C(e.message, { cause: e });
  if (e instanceof WebAssembly.RuntimeError) {
    // A trap (a panic, or wasm memory exhausted). Its state may be inconsistent: take the panic
    // message and switch to a fresh instance before anything else runs.
    let why;
    resets++;
    try {
      why = glue.__afterTrap();
      glue.__reinit();
    } catch {
      // the next call reinitialises anyway
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
let resets = 0;

/** The value of `resets` when each wasm object was made. */
const madeIn = new WeakMap();

/** A wasm object just made, remembered with the instance it lives in. */
function made(obj) {
  madeIn.set(obj, resets);
  return obj;
}

/**
 * Frees a wasm object passed through `made`. One of an instance that a trap replaced is only dropped:
 * the glue's `free()` does not check the instance, and would free whatever the new instance keeps
 * at the same address.
 */
function freeWasm(obj) {
  if (obj && madeIn.get(obj) === resets) obj.free();
}

function call(f) {
  try {
    return f();
  } catch (e) {
    throw fromWasm(e);
  }
}

// ---------------------------------------------------------------------------------------------
// Initialisation: once, on first use, from the host entry's default source.

let defaultSource;
let initPromise;
let ready = false;
/** The compiled module, kept so fetchModel's decode worker can instantiate it too. */
let wasmModule = null;

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
function readyNow() {
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
    src = await fetch(src);
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

/**
 * Loads the wasm module. Called automatically on first use; call it yourself only to pass the
 * module explicitly (a `WebAssembly.Module`, the .wasm bytes, a `Response`, or a URL).
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

// ---------------------------------------------------------------------------------------------
// Small helpers

/**
 * A brand check for `C`'s instances through its `byteLength` getter, which throws on anything
 * else: unlike `instanceof`, it holds for buffers of another realm (an iframe, a vm context).
 */
function brand(C) {
  const get = C && Object.getOwnPropertyDescriptor(C.prototype, 'byteLength')?.get;
  return (x) => {
    if (!get || x === null || typeof x !== 'object') return false;
    try {
      get.call(x);
      return true;
    } catch {
      return false;
    }
  };
}
const isArrayBuffer = brand(globalThis.ArrayBuffer);
const isShared = brand(globalThis.SharedArrayBuffer);

function toBytes(data, what = 'input') {
  if (data instanceof Uint8Array) return detachedCheck(data, data.buffer, what);
  if (isArrayBuffer(data) || isShared(data)) {
    return new Uint8Array(detachedCheck(data, data, what));
  }
  if (ArrayBuffer.isView(data)) {
    detachedCheck(data, data.buffer, what);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new InvalidInputError(`${what} must be a Uint8Array, an ArrayBuffer or an ArrayBufferView`);
}

/**
 * `x` unless `buffer` was detached (transferred to a worker, or a Decompressor's old memory),
 * which would make the view empty or its construction throw a plain TypeError.
 */
function detachedCheck(x, buffer, what) {
  // `detached` is newer than node 20; there, only a detached buffer has length 0 and cannot be sliced.
  let gone = buffer.detached;
  if (gone === undefined && buffer.byteLength === 0 && isArrayBuffer(buffer)) {
    try {
      buffer.slice(0);
      gone = false;
    } catch {
      gone = true;
    }
  }
  if (gone) throw new InvalidInputError(`${what} is a detached ArrayBuffer or a view of one`);
  return x;
}

/**
 * A view taken before an await, checked again after it: the caller may have transferred its
 * buffer meanwhile, and reading it would throw a plain TypeError.
 */
function unmoved(u8, what = 'input') {
  return detachedCheck(u8, u8.buffer, what);
}

/** An `AbortSignal` option: absent, or something with `throwIfAborted`, else `InvalidInputError`. */
function checkSignal(signal) {
  // By its methods, not `instanceof`: an iframe's AbortSignal is another realm's class.
  const isSignal = typeof signal?.throwIfAborted === 'function' && typeof signal?.addEventListener === 'function';
  if (signal != null && !isSignal) {
    throw new InvalidInputError('signal must be an AbortSignal');
  }
  return signal ?? undefined;
}

/** Whether two byte views share any byte of one buffer. */
function overlap(a, b) {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

/** True for a view of the module's own memory (a `Decompressor`'s result or `inputBuffer`). */
function inWasmMemory(u8) {
  return ready && u8.buffer === glue.__memory().buffer;
}

/**
 * `toBytes` for data a call reads: a view of the module's own memory is copied first, since a
 * call that grows the memory empties every view of it.
 */
function inputBytes(data, what = 'input') {
  const u8 = toBytes(data, what);
  return inWasmMemory(u8) ? u8.slice() : u8;
}

/** `maxOutput` as the wasm calls take it: a number ≥ 0 or undefined, else `InvalidInputError`. */
function checkMaxOutput(maxOutput) {
  if (maxOutput === undefined || maxOutput === null) return undefined;
  if (typeof maxOutput !== 'number' || !(maxOutput >= 0)) {
    throw new InvalidInputError(`maxOutput must be a number of bytes >= 0, not ${String(maxOutput)}`);
  }
  return maxOutput;
}

/** An optional callback option (`onProgress`, `onTensor`, `fetch`): a function, or absent. */
function checkFunction(f, what) {
  if (f === undefined || f === null) return undefined;
  if (typeof f !== 'function') throw new InvalidInputError(`${what} must be a function, not ${typeof f}`);
  return f;
}

/** A length argument: a whole number of bytes ≥ 0, else `InvalidInputError`. */
function checkLength(length, what) {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new InvalidInputError(`${what} must be a whole number of bytes >= 0, not ${String(length)}`);
  }
  return length;
}

/**
 * A size option (`chunkSize`, `streamingChunk`): absent, or a whole number of bytes from 1 to
 * 2^32 - 1, else `InvalidInputError` (the bindings would convert a string or a fraction).
 */
function checkSizeOption(v, what) {
  if (v === undefined || v === null) return undefined;
  if (!Number.isSafeInteger(v) || v < 1 || v > 0xffffffff) {
    throw new InvalidInputError(`${what} must be a whole number of bytes from 1 to 2^32 - 1, not ${String(v)}`);
  }
  return v;
}

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

function allocate(n) {
  try {
    return new ArrayBuffer(n);
  } catch (e) {
    throw new TooLargeError(`cannot allocate ${n} bytes: ${e.message}`, { cause: e });
  }
}

/**
 * An ArrayBuffer that grows by doubling, to at most `limit` unless more is needed; `take()`
 * returns exactly the filled part.
 */
class Growable {
  constructor(capacity = 0, limit = Infinity) {
    this.buf = allocate(Math.min(capacity, limit));
    this.len = 0;
    this.limit = limit;
  }
  reserve(extra, exact = false) {
    const need = this.len + extra;
    if (need <= this.buf.byteLength) return;
    const cap = exact ? need : Math.max(need, Math.min(this.limit, Math.max(this.buf.byteLength * 2, 64 * 1024)));
    const nb = allocate(cap);
    copyBuffer(nb, this.buf, this.len);
    this.buf = nb;
  }
  append(u8) {
    this.reserve(u8.length);
    new Uint8Array(this.buf, this.len, u8.length).set(u8);
    this.len += u8.length;
  }
  bytes() {
    return new Uint8Array(this.buf, 0, this.len);
  }
  take() {
    const b = this.buf;
    this.buf = new ArrayBuffer(0);
    if (this.len === b.byteLength) return b;
    return typeof b.transfer === 'function' ? b.transfer(this.len) : b.slice(0, this.len);
  }
}

/** Copies the first `len` bytes of `src` to `dst` (ArrayBuffers): node 20 has no typed array of 4 GiB or more. */
function copyBuffer(dst, src, len) {
  for (let at = 0; at < len; at += GiB) {
    const n = Math.min(GiB, len - at);
    new Uint8Array(dst, at, n).set(new Uint8Array(src, at, n));
  }
}

function startsWith(u8, magic) {
  if (u8.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (u8[i] !== magic[i]) return false;
  return true;
}

/** A ZipNN frame header: "ZN", byte_reorder 10|220, a known dtype code (as the library checks). */
function isZipnnFrame(u8) {
  return u8.length >= 16 && u8[0] === 0x5a && u8[1] === 0x4e && (u8[5] === 10 || u8[5] === 220) && [1, 4, 6, 29, 30].includes(u8[15]);
}

/** True when `u8` (shorter than a full magic) could still become a compressed file. */
function isMagicPrefix(u8) {
  if (u8.length === 0) return false;
  if (u8.length < 8 && startsWith(ZNW_MAGIC, u8)) return true;
  return u8.length < 16 && u8[0] === 0x5a && (u8.length < 2 || u8[1] === 0x4e);
}

/**
 * Why `u8`, which no decoder takes, still looks like a compressed file that was damaged: a
 * `.znw` magic number one byte off. fetchModel passes uncompressed bodies through, but not
 * these (a damaged .znn.safetensors header: see `namesZipnnKey`).
 */
function damagedCompressed(u8) {
  // Seven of eight: PNG's magic shares six bytes with ours.
  if (u8.length >= 16 && ZNW_MAGIC.filter((b, i) => u8[i] === b).length === 7) return 'its magic number is one byte off that of a .znw file';
  return null;
}

/**
 * Whether `u8` starts like a safetensors file (a length, then `{`) whose whole JSON header is
 * there, does not parse, and names ZipNN's metadata key: a damaged .znn.safetensors file, which
 * the module then reports as corrupt (not a plain file to pass through).
 */
function namesZipnnKey(u8) {
  if (u8.length < 9 || u8[8] !== 0x7b) return false; // '{'
  const n = Number(new DataView(u8.buffer, u8.byteOffset, 8).getBigUint64(0, true));
  if (n > SAFETENSORS_MAX_HEADER || u8.length < 8 + n) return false;
  return new TextDecoder('utf-8', { fatal: false }).decode(u8.subarray(8, 8 + n)).includes(`"${ZIPNN_META_KEY}"`);
}

/** The safetensors format's cap on its JSON header (as the Rust side's `MAX_HEADER`). */
const SAFETENSORS_MAX_HEADER = 100_000_000;

/**
 * The JSON header of a safetensors file: `{ headerLen, metadata, tensors }` with tensors sorted
 * by offset (absolute in the file), or null when `u8` does not start like one. Needs only the
 * header bytes; returns the number of bytes needed when `u8` is shorter.
 */
function safetensorsHeader(u8) {
  if (u8.length < 9) return null;
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n < 2 || n > SAFETENSORS_MAX_HEADER || u8[8] !== 0x7b /* { */) return null;
  if (u8.length < 8 + n) return 8 + n;
  let json;
  try {
    json = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + n)));
  } catch {
    return null;
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return null;
  const tensors = [];
  for (const [name, t] of Object.entries(json)) {
    if (name === '__metadata__') continue;
    const o = t && t.data_offsets;
    if (!t || typeof t.dtype !== 'string' || !Array.isArray(t.shape) || !Array.isArray(o) || o.length !== 2) return null;
    const [s, e] = o;
    if (!Number.isSafeInteger(s) || !Number.isSafeInteger(e) || s < 0 || e < s) return null;
    tensors.push({ name, dtype: t.dtype, shape: t.shape.slice(), offset: 8 + n + s, length: e - s });
  }
  tensors.sort((a, b) => a.offset - b.offset);
  const meta = json.__metadata__ && typeof json.__metadata__ === 'object' ? json.__metadata__ : null;
  return { headerLen: 8 + n, metadata: meta, tensors };
}

/**
 * What the first bytes of an input are: 'znw' (ours), 'zipnn' (ZipNN frames),
 * 'znn-safetensors' (ZipNN-compressed safetensors) or 'plain'; or, when it cannot tell yet, the
 * number of bytes it needs (always more than `head.length`). With `ended` it always decides.
 */
function sniff(head, ended) {
  const n = head.length;
  if (startsWith(head, ZNW_MAGIC)) return 'znw';
  if (n < 16 && !ended && (n < 9 || isMagicPrefix(head))) return 16;
  if (isZipnnFrame(head)) return 'zipnn';
  const st = safetensorsHeader(head);
  if (typeof st === 'number') {
    if (!ended) return st;
    // Cut inside its header: possibly a .znn.safetensors cut short (without source metadata
    // zipnn names no key there), which the module reports as truncated, as for a plain one.
    return 'znn-safetensors';
  }
  if (!st && namesZipnnKey(head)) return 'znn-safetensors';
  if (st) {
    if (st.metadata && ZIPNN_META_KEY in st.metadata) return 'znn-safetensors';
    // zipnn drops the metadata entry when the source had no metadata: then the U8 tensors tell.
    let needed = 0;
    for (const t of st.tensors) {
      if (t.dtype !== 'U8' || t.length < 16) continue;
      if (t.offset + 16 <= n) {
        if (isZipnnFrame(head.subarray(t.offset, t.offset + 16))) return 'znn-safetensors';
      } else {
        needed = Math.max(needed, t.offset + 16);
      }
    }
    if (needed > n && !ended) return needed;
  }
  return 'plain';
}

// ---------------------------------------------------------------------------------------------
// Decoding session shared by ZnnDecompressionStream, fetchModel and the CLI.
//
// Our format, ZipNN frames and .znn.safetensors files that list their compressed tensors stream
// through the wasm StreamDecoder in ≤ 1 MiB pushes (a ZipNN frame, or compressed tensor,
// decodes once it is complete: 1 MiB in zipnn's streaming files). Other .znn.safetensors files
// and plain bytes are collected and handled at the end.
//
// sink.header(h)        the .znw header ({ totalSize, container, segments })
// sink.data(ready, dec) `ready` verified bytes wait in `dec`: take them with drain/drainInto
// sink.whole(u8, kind)  the buffered input at the end: decoded bytes, or kind 'plain' as is
// sink.wait()           optional: a promise while the consumer is behind, to pause decoding on
//                       (write and end then return a promise; the wasm decoder holds its place)
// sink.refusePlain(head) optional: throws to refuse input that is not compressed as soon as its
//                       first bytes `head` show it (instead of buffering the rest)
//
// With `remote` (fetchModel's decode worker), streamed formats are decoded by a RemoteJob in a
// worker instead: the same sink calls, with a `dec` whose drainInto copies the worker's bytes.

class DecodeSession {
  constructor(sink, { maxOutput, sizeHint, remote, checkBodies } = {}) {
    this.sink = sink;
    this.maxOutput = maxOutput;
    this.checkBodies = !!checkBodies;
    this.sizeHint = sizeHint || 0;
    this.remote = remote || null;
    this.job = null;
    this.mode = 'sniff';
    this.need = 16;
    this.head = null; // Growable while sniffing (becomes the buffer in buffer mode)
    this.dec = null;
    this.header = null;
  }

  /**
   * Takes the next input bytes. With `owned` (u8 is the whole of a buffer nobody else uses) a
   * remote job may take the buffer instead of copying it: then it returns true and u8 is detached.
   * A promise when the sink asked to wait: the rest of u8 is decoded before it resolves.
   */
  write(u8, owned = false) {
    if (u8.length === 0) return false;
    if (this.mode === 'remote') return this.job.write(u8, owned);
    if (this.mode === 'stream') return this.#push(u8) ?? false;
    if (this.mode === 'buffer') return this.head.append(u8), this.#checkPlain(), false;
    if (!this.head) {
      const kind = sniff(u8, false);
      if (typeof kind === 'string') {
        // The first chunk decides alone: no copy.
        this.head = new Growable(0);
        this.#start(kind, u8);
        return this.write(u8, owned);
      }
      // `kind` bytes are needed to decide; a header claims that, so take room as they arrive.
      this.head = new Growable(Math.min(Math.max(kind, 64 * 1024), MiB));
    }
    this.head.append(u8);
    const head = this.head.bytes();
    const kind = sniff(head, false);
    return (typeof kind === 'string' && this.#start(kind, head)) || false;
  }

  /** Ends the input; a promise when a remote job still has to finish or the sink asked to wait. */
  end() {
    if (this.mode === 'sniff') {
      this.head ??= new Growable(0);
      this.ended = true;
      const head = this.head.bytes();
      const pushed = this.#start(sniff(head, true), head);
      if (pushed) return pushed.then(() => this.end());
    }
    if (this.mode === 'remote') return this.job.end();
    if (this.mode === 'stream') {
      call(() => this.dec.finish());
      return;
    }
    const bytes = this.head.bytes();
    if (this.kind === 'plain') {
      this.sink.whole(bytes, 'plain', this.head);
    } else {
      const out = call(() => glue.decompress(bytes, this.maxOutput));
      this.head = null;
      this.sink.whole(out, this.kind);
    }
  }

  close() {
    this.job?.close();
    this.job = null;
    freeWasm(this.dec);
    this.dec = null;
    this.head = null;
  }

  /** Chooses how to decode, from the `kind` sniff gave `head` (the first bytes). */
  #start(kind, head) {
    this.kind = kind;
    // A .znn.safetensors whose metadata lists its compressed tensors restores as it arrives;
    // without the list only the whole file tells which tensors are frames.
    const listed = kind === 'znn-safetensors' && glue.listsCompressed(head);
    const streamed = kind === 'znw' || kind === 'zipnn' || listed;
    // The module tells ours from ZipNN frames itself; a .znn.safetensors it must be told.
    const format = listed ? 'znn-safetensors' : undefined;
    if (streamed && this.remote) {
      this.job = this.remote(this.sink, this.maxOutput, format);
      this.mode = 'remote';
      const head = this.head;
      this.head = null;
      if (head.len) this.job.write(head.bytes(), false);
    } else if (streamed) {
      this.mode = 'stream';
      this.dec = made(call(() => new glue.StreamDecoder(this.maxOutput, this.checkBodies, format)));
      const head = this.head;
      this.head = null;
      if (head.len) return this.#push(head.bytes());
    } else {
      // Decided before the end, 'plain' is final: a sink that refuses plain input says so now
      // instead of buffering the rest.
      if (kind === 'plain' && !this.ended && this.sink.refusePlain) this.sink.refusePlain(head);
      this.mode = 'buffer';
      this.#checkPlain();
      const hint = Math.min(this.sizeHint, this.maxOutput ?? Infinity);
      if (hint > this.head.len) this.head.reserve(hint - this.head.len, true);
    }
  }

  /** Input that is not compressed is its own output: `maxOutput` bounds it too. */
  #checkPlain() {
    if (this.kind === 'plain' && this.maxOutput !== undefined && this.head.len > this.maxOutput) {
      throw new TooLargeError(`the input is not compressed and holds more than maxOutput (${this.maxOutput}) bytes`);
    }
  }

  /** Decodes u8; a promise when the sink asked to wait (decoding goes on once it resolves). */
  #push(u8) {
    const steps = this.#decode(u8);
    // Each step ends with a batch handed to the sink, whose consumer may close this session
    // (then the decoder is gone: stop).
    while (!steps.next().done && this.dec) {
      const wait = this.sink.wait?.();
      if (wait) return this.#resume(steps, wait);
    }
    return undefined;
  }

  async #resume(steps, wait) {
    for (;;) {
      await wait;
      do {
        if (!this.dec || steps.next().done || !this.dec) return;
        wait = this.sink.wait?.();
      } while (!wait);
    }
  }

  /** The decode loop, stopping after each batch handed to the sink. */
  *#decode(u8) {
    const dec = this.dec;
    for (let at = 0; at < u8.length; ) {
      // One copy: straight into the decoder's input staging in wasm memory (≥ 64 KiB of room,
      // ≤ 1 MiB or one record), where complete records are decoded in place.
      const room = call(() => dec.inputBuffer());
      const n = Math.min(room.length, u8.length - at);
      room.set(at === 0 && n === u8.length ? u8 : u8.subarray(at, at + n));
      at += n;
      let ready = call(() => dec.commit(n));
      // A commit stops once ~4 MiB are ready: drain, then go on while whole units are staged.
      for (;;) {
        if (!this.header) {
          const h = call(() => dec.takeHeader());
          if (h) {
            this.header = h;
            this.sink.header(h);
          }
        }
        if (ready > 0) {
          this.sink.data(ready, dec);
          yield;
        }
        if (!dec.pending()) break;
        ready = call(() => dec.commit(0));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Whole-buffer API

/** Compresses `bytes`: `.znw` (default) or, with `format: 'zipnn'`, ZipNN frames. */
export async function compress(bytes, options = {}) {
  const data = inputBytes(bytes);
  const { dtype, format = 'znw', verify } = options ?? {};
  const chunkSize = checkSizeOption(options?.chunkSize, 'chunkSize');
  const streamingChunk = checkSizeOption(options?.streamingChunk, 'streamingChunk');
  checkFormat(format, dtype);
  const onProgress = checkFunction(options?.onProgress, 'onProgress');
  // Past this, the copy into wasm memory would trap instead of failing cleanly.
  if (data.length > MAX_COMPRESS_INPUT) {
    throw new TooLargeError(`compress() takes at most ${MAX_COMPRESS_INPUT} bytes in wasm, not ${data.length}: use ZnnCompressionStream with { size }, or the native CLI`);
  }
  if (!ready) await init(); // loaded: the input is read before the promise returns
  if (format === 'zipnn') return call(() => glue.compressZipnn(unmoved(data), dtype, streamingChunk, chunkSize));
  const total = data.length;
  const report = onProgress && userCallback((done) => onProgress({ done, total }));
  return call(() => glue.compress(unmoved(data), dtype, chunkSize, verify, report));
}

function checkFormat(format, dtype) {
  if (format !== 'znw' && format !== 'zipnn') {
    throw new InvalidInputError(`unknown format ${JSON.stringify(format)} (expected 'znw' or 'zipnn')`);
  }
  // Checked here: the wasm glue would read a number or an object as a string's memory and trap.
  if (dtype != null && typeof dtype !== 'string') {
    throw new InvalidInputError(`dtype must be a string such as 'bf16', not ${typeof dtype}`);
  }
  if (format === 'zipnn' && (!dtype || dtype === 'auto')) {
    throw new InvalidInputError("format 'zipnn' needs a dtype: 'bf16', 'fp16', 'fp32', 'fp8-e4m3' or 'fp8-e5m2'");
  }
}

/**
 * Decompresses a whole buffer (`.znw`, ZipNN `.znn` or `.znn.safetensors`). With `threads`
 * (> 1 or 'auto') a big file of several chunks, frames or tensors decodes on a pool of workers
 * where memory can be shared; the result is then a view of a SharedArrayBuffer.
 */
export async function decompress(bytes, options = {}) {
  const data = inputBytes(bytes);
  const { threads } = options ?? {};
  const signal = checkSignal(options?.signal);
  const maxOutput = checkMaxOutput(options?.maxOutput);
  const n = poolThreads(threads);
  signal?.throwIfAborted();
  if (!ready) await init();
  if (n > 1 && poolAvailable()) {
    const out = await decodePooled(data, n, { maxOutput, signal });
    if (out) return out;
  }
  signal?.throwIfAborted();
  return call(() => glue.decompress(unmoved(data), maxOutput));
}

/**
 * Decompresses into `target`, which must have exactly the decoded size; returns that size.
 * `threads` as in `decompress`, used when `target` is a view of a SharedArrayBuffer.
 */
export async function decompressInto(bytes, target, options = {}) {
  const data = inputBytes(bytes);
  const t = toBytes(target, 'target');
  if (inWasmMemory(t)) throw new InvalidInputError("target must not be a view of the module's own memory (a Decompressor's result)");
  // The input is read a piece at a time while the target is written: shared bytes would be
  // overwritten before they are read.
  if (overlap(data, t)) throw new InvalidInputError('target must not overlap the input');
  // Two SharedArrayBuffer objects may share memory (a structuredClone, a shared
  // WebAssembly.Memory's buffer before and after grow()), which no check can see: such an input
  // is read from a copy.
  const input = isShared(data.buffer) && isShared(t.buffer) && data.buffer !== t.buffer ? data.slice() : data;
  const { threads } = options ?? {};
  const signal = checkSignal(options?.signal);
  const n = poolThreads(threads);
  signal?.throwIfAborted();
  if (!ready) await init();
  if (n > 1 && poolAvailable() && isShared(t.buffer)) {
    if (await decodePooled(input, n, { target: t, signal })) return t.length;
  }
  signal?.throwIfAborted();
  return call(() => glue.decompressInto(unmoved(input), unmoved(t, 'target')));
}

/**
 * Decodes whole files into wasm memory kept from call to call, whose pages stay mapped, and
 * returns a view of the decoded bytes there: no copy out of wasm memory, and none in when you
 * fill `inputBuffer(n)` yourself. Synchronous; needs the module loaded (`await init()`, or
 * `Decompressor.create()`).
 *
 * A returned view is valid until the next call into the module (a call may grow wasm memory,
 * which empties every view of it, or write other bytes where an old view looks): use it at
 * once (upload it, parse it) or copy it with `.slice()`. Views passed back in are copied
 * first. Memory: the largest output and input buffer so far, until `release()`; wasm memory
 * itself never shrinks.
 */
export class Decompressor {
  #d = null;
  #resets = 0;
  #maxOutput;

  constructor(options = {}) {
    const { maxOutput } = options ?? {};
    if (!ready) {
      throw new ZnnError('zipnn-wasm: the wasm module is not loaded: await init() (or Decompressor.create()) first', 'ZNN_INIT');
    }
    this.#maxOutput = checkMaxOutput(maxOutput);
  }

  /** Loads the module if needed, then makes a `Decompressor`. */
  static async create(options) {
    await init();
    return new Decompressor(options);
  }

  /** The wasm object, made anew after a trap reset the instance it lived in. */
  #call(f) {
    if (!this.#d || this.#resets !== resets) {
      this.#d = call(() => new glue.Decompressor(this.#maxOutput));
      this.#resets = resets;
    }
    return call(() => f(this.#d));
  }

  /**
   * Decodes `bytes` (`.znw`, ZipNN `.znn` or `.znn.safetensors`), reading them a piece at a
   * time; returns a view of the decoded bytes.
   */
  decompress(bytes) {
    const data = inputBytes(bytes);
    return this.#call((d) => d.decompress(data));
  }

  /** A view of `length` bytes of wasm memory for the next compressed file; then `decompressInput(length)`. */
  inputBuffer(length) {
    checkLength(length, 'length');
    return this.#call((d) => d.inputBuffer(length));
  }

  /** Decodes the first `length` bytes written into `inputBuffer`: a view of the decoded bytes. */
  decompressInput(length) {
    checkLength(length, 'length');
    return this.#call((d) => d.decompressInput(length));
  }

  /** Frees both buffers (for other calls into the module to use); the next call allocates anew. */
  release() {
    if (this.#d && this.#resets === resets) call(() => this.#d.release());
  }

  [Symbol.dispose]() {
    this.release();
  }
}

/** The header and segment table of a compressed buffer, as plain objects. */
export async function inspect(bytes) {
  const data = inputBytes(bytes);
  if (!ready) await init();
  return call(() => glue.inspect(unmoved(data)));
}

/** How many leading bytes `decodedSize` needs. */
export const DECODED_SIZE_PREFIX = 24;

/**
 * The decoded size a `.znw` file states in its first 24 bytes (FORMAT.md §2): for setting
 * Content-Length or allocating before the rest arrives. `undefined` when the bytes do not say
 * (shorter than 24, not `.znw`, an unknown format version, or a stream written without knowing
 * its size). Synchronous; needs no wasm. The header checksum is checked later by the decoder.
 */
export function decodedSize(prefix) {
  const u8 = toBytes(prefix, 'prefix');
  if (u8.length < DECODED_SIZE_PREFIX || !startsWith(u8, ZNW_MAGIC) || u8[8] !== 1 || (u8[9] & 1) === 0) return undefined;
  const size = new DataView(u8.buffer, u8.byteOffset, DECODED_SIZE_PREFIX).getBigUint64(16, true);
  return size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(size) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Streams

function streamSink(controller, wait) {
  return {
    header() {},
    refusePlain() {
      throw new NotCompressedError('not a compressed file (unknown magic number)');
    },
    data(_ready, dec) {
      controller.enqueue(dec.drain());
    },
    wait,
    whole(bytes, kind) {
      if (kind !== 'plain') {
        if (bytes.length) controller.enqueue(bytes);
        return;
      }
      if (isMagicPrefix(bytes)) throw new TruncatedError('input is truncated');
      throw new NotCompressedError(
        bytes.length ? 'not a compressed file (unknown magic number)' : 'not a compressed file (empty input)',
      );
    },
  };
}

/** Decoded bytes a stream holds for its reader before decoding waits (two of wasm's batches). */
const STREAM_AHEAD = 8 * MiB;

/**
 * Decompresses a byte stream, like the platform's `DecompressionStream` (and, like it, a
 * `{ readable, writable }` pair rather than a TransformStream): decoding waits while the reader
 * is behind, so memory stays bounded whatever one input chunk decodes to (a ZipNN file written
 * as one frame decodes whole from its last chunk).
 * `response.body.pipeThrough(new ZnnDecompressionStream())`.
 */
export class ZnnDecompressionStream {
  #readable;
  #writable;

  constructor(options = {}) {
    const maxOutput = checkMaxOutput(options?.maxOutput);
    const checkBodies = !!options?.checkBodies;
    // Decoded bytes queued for a reader before decoding pauses (a Worker with many slow
    // downloads wants fewer); decoding still goes a chunk at a time.
    const highWaterMark = options?.highWaterMark ?? STREAM_AHEAD;
    if (!Number.isSafeInteger(highWaterMark) || highWaterMark < 0) {
      throw new InvalidInputError(`highWaterMark must be a whole number of bytes >= 0, not ${String(highWaterMark)}`);
    }
    let session = null;
    let output = null; // the readable's controller
    let input = null; // the writable's controller
    let stopped = null; // { reason } once cancelled, aborted, failed or done
    let wake = null;
    const resume = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    // A promise while the reader is behind (none once stopped: an errored readable has no size).
    const room = () => {
      const d = output.desiredSize;
      return stopped || d === null || d > 0 ? null : new Promise((r) => (wake = r));
    };
    const stop = (reason) => {
      stopped ??= { reason };
      session?.close();
      session = null;
      resume();
    };
    const open = () => {
      if (stopped) throw stopped.reason;
      return (session ??= new DecodeSession(streamSink(output, room), { maxOutput, checkBodies }));
    };
    // After a stop, what fails (a freed decoder) is that stop's doing: its reason stands.
    const fail = (e) => {
      if (stopped) throw stopped.reason;
      const err = fromWasm(e);
      stop(err);
      output.error(err);
      throw err;
    };
    this.#readable = new ReadableStream(
      {
        start(c) {
          output = c;
        },
        pull: resume,
        cancel(reason) {
          stop(reason);
          input.error(reason);
        },
      },
      { highWaterMark, size: (chunk) => chunk.byteLength },
    );
    this.#writable = new WritableStream({
      start(c) {
        input = c;
        // An abort waits for the write in flight, which may be waiting for the reader: stop it.
        c.signal?.addEventListener('abort', () => {
          stop(c.signal.reason);
          output.error(c.signal.reason);
        });
        // A module that cannot load errors both sides (the reader would wait forever).
        return init().catch(fail);
      },
      async write(chunk) {
        try {
          await open().write(inputBytes(chunk, 'chunk'));
        } catch (e) {
          fail(e);
        }
      },
      async close() {
        try {
          await open().end();
          // Cancelled while the last bytes decoded: the cancel's reason, as for a write.
          if (stopped) throw stopped.reason;
          stop();
          output.close();
        } catch (e) {
          fail(e);
        }
      },
      abort(reason) {
        stop(reason);
        output.error(reason);
      },
    });
  }

  get readable() {
    return this.#readable;
  }

  get writable() {
    return this.#writable;
  }
}

/** Compresses a byte stream (`.znw` by default; `format: 'zipnn'` writes ZipNN's streaming frames). */
export class ZnnCompressionStream extends TransformStream {
  constructor(options = {}) {
    const { dtype, format = 'znw' } = options ?? {};
    const chunkSize = checkSizeOption(options?.chunkSize, 'chunkSize');
    const streamingChunk = checkSizeOption(options?.streamingChunk, 'streamingChunk') ?? MiB;
    const size = options?.size ?? undefined;
    if (size !== undefined) checkLength(size, 'size');
    const verify = options?.verify ?? false;
    if (typeof verify !== 'boolean') throw new InvalidInputError(`verify must be true or false, not ${String(verify)}`);
    if (verify && (format !== 'znw' || size === undefined)) {
      throw new InvalidInputError("verify is an option of the 'znw' format with a size (a stream of unknown length is not verified)");
    }
    checkFormat(format, dtype);
    // A frame's input is copied into wasm memory whole: one of 2 GiB would not fit there.
    if (format === 'zipnn' && streamingChunk > MAX_STREAM_FRAME) {
      throw new InvalidInputError(`streamingChunk is at most ${MAX_STREAM_FRAME} bytes (1 GiB) in ZnnCompressionStream, not ${streamingChunk}`);
    }
    if (format === 'zipnn' && size !== undefined) {
      throw new InvalidInputError("size is an option of the 'znw' format (ZipNN's streaming frames carry no size)");
    }
    let self = null; // this, once made
    let enc = null;
    let pending = null; // zipnn: the current streaming piece
    let fill = 0;
    let frames = 0;
    const free = () => {
      freeWasm(enc);
      enc = null;
    };
    const fail = (e) => {
      free();
      throw fromWasm(e);
    };
    // Checks dtype and sizes in wasm (the encoder's own rules) before any input arrives.
    const setUp = () => {
      if (format === 'znw') enc ??= made(call(() => new glue.StreamEncoder(dtype, chunkSize, size, verify)));
      else call(() => glue.compressZipnn(new Uint8Array(0), dtype, streamingChunk, chunkSize));
    };
    // With the module loaded, a bad option throws here, before the stream is handed on (a
    // Worker's Response would already be on its way); otherwise when the stream starts.
    if (readyNow()) setUp();
    super({
      async start() {
        await init();
        setUp();
      },
      transform(chunk, controller) {
        try {
          const u8 = inputBytes(chunk, 'chunk');
          if (format === 'znw') {
            // Records go out a MiB at a time: the push that completes the first 32 MiB codes
            // them all, and wasm memory need not hold their records too.
            const emit = (out) => controller.enqueue(out);
            for (let at = 0; at < u8.length; at += PUSH_MAX) {
              const out = call(() => enc.push(u8.subarray(at, at + PUSH_MAX), emit));
              if (out.length) controller.enqueue(out);
            }
            return;
          }
          for (let at = 0; at < u8.length; ) {
            pending ??= new Uint8Array(streamingChunk);
            const take = Math.min(streamingChunk - fill, u8.length - at);
            pending.set(u8.subarray(at, at + take), fill);
            fill += take;
            at += take;
            if (fill === streamingChunk) {
              controller.enqueue(call(() => glue.compressZipnn(pending, dtype, streamingChunk, chunkSize)));
              frames++;
              fill = 0;
            }
          }
        } catch (e) {
          fail(e);
        }
      },
      flush(controller) {
        try {
          if (format === 'znw') {
            controller.enqueue(call(() => enc.finish()));
            if (size !== undefined) self.#report = call(() => enc.report());
            free();
          } else if (fill > 0 || frames === 0) {
            const last = pending ? pending.subarray(0, fill) : new Uint8Array(0);
            controller.enqueue(call(() => glue.compressZipnn(last, dtype, streamingChunk, chunkSize)));
          }
          pending = null;
        } catch (e) {
          fail(e);
        }
      },
      cancel() {
        free();
        pending = null;
      },
    });
    self = this;
  }

  #report = undefined;

  /** With `size`, once the stream has ended: what `inspect` reports of the output. */
  get report() {
    return this.#report;
  }
}

// ---------------------------------------------------------------------------------------------
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

/** Input the caller may have sent and the worker not yet consumed: bounds the memory between them. */
const WORKER_INFLIGHT = 2 * MiB;
/** Body read while the decode worker first loads, at most; then it has WORKER_WAIT ms more. */
const READ_AHEAD = 16 * MiB;
const WORKER_WAIT = 2000;
/** Below this body size (when known), decoding in-thread beats the round trips to the worker, */
const WORKER_MIN_BODY = MiB;
/** unless its header names at least this many decoded bytes (about 5 ms of decoding). */
const WORKER_MIN_DECODED = 16 * MiB;

let workerFactory = null;
const stats = { workerJobs: 0, poolJobs: 0, poolRuns: 0, grownOutputs: 0, wasm: null };
let sharedWorker = null;

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
function decodeWorker() {
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
function startWorker(onDead) {
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
  const kill = (e) => {
    if (w.dead) return;
    w.dead = true;
    onDead();
    if (!w.started) {
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
  w.kill = kill;
  w.ready = new Promise((resolve) => {
    port.listen(
      (m) => {
        if (m.type === 'ready') {
          if (m.error) {
            kill(new Error(m.error));
            resolve(null);
            return;
          }
          w.started = true;
          if (w.jobs.size === 0) port.unref?.();
          resolve(w);
          return;
        }
        w.jobs.get(m.id)?.onMessage(m);
      },
      (e) => {
        kill(e);
        resolve(null);
      },
    );
  });
  port.ref?.();
  port.post({ type: 'init', module: wasmModule });
  return w;
}

const ERROR_BY_CODE = { ...BY_CODE, ZNN_INTERNAL: InternalError };

/** The caller's side of one decode in the worker. */
class RemoteJob {
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
  const jobs = new Map(); // id -> StreamDecoder
  const owned = new Map(); // id -> { out, at, own }: the output, when the worker holds it
  const pool = []; // data buffers back from the caller
  const outBuffer = (n) => {
    const i = pool.findIndex((b) => b.byteLength >= n);
    return i >= 0 ? pool.splice(i, 1)[0] : new ArrayBuffer(Math.max(n, READ_BUFFER));
  };
  const drop = (id) => {
    const dec = jobs.get(id);
    jobs.delete(id);
    owned.delete(id);
    freeWasm(dec);
  };
  const fail = (id, e) => {
    drop(id);
    const z = fromWasm(e);
    port.post({ type: 'error', id, code: z?.code, message: String(z?.message ?? z) });
  };
  const header = new Set(); // jobs whose header was sent
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
          jobs.set(m.id, made(call(() => new glue.StreamDecoder(m.maxOutput, undefined, m.format))));
          // own: the largest output this worker takes on (0: the page holds it); size: the
          // output it took on, allocated with the first decoded bytes.
          owned.set(m.id, { out: null, at: 0, own: m.own || 0, size: undefined });
        } catch (e) {
          fail(m.id, e);
        }
        return;
      case 'chunk': {
        const dec = jobs.get(m.id);
        try {
          const u8 = new Uint8Array(m.buf, 0, m.len);
          for (let at = 0; dec && at < u8.length; ) {
            const room = call(() => dec.inputBuffer());
            const n = Math.min(room.length, u8.length - at);
            room.set(u8.subarray(at, at + n));
            at += n;
            let ready = call(() => dec.commit(n));
            // A commit stops once ~4 MiB are ready: drain, then go on while whole units wait.
            for (;;) {
              if (!header.has(m.id)) {
                const h = call(() => dec.takeHeader());
                if (h) {
                  header.add(m.id);
                  const o = owned.get(m.id);
                  if (h.totalSize != null && h.totalSize <= o.own) o.size = h.totalSize;
                  port.post({ type: 'header', id: m.id, header: h, own: o.size !== undefined });
                }
              }
              const o = owned.get(m.id);
              if (ready > 0 && o.size !== undefined) {
                o.out ??= allocate(o.size);
                call(() => dec.drainInto(new Uint8Array(o.out, o.at, ready)));
                o.at += ready;
                port.post({ type: 'decoded', id: m.id, len: ready });
              } else if (ready > 0) {
                const buf = outBuffer(ready);
                call(() => dec.drainInto(new Uint8Array(buf, 0, ready)));
                port.post({ type: 'data', id: m.id, buf, len: ready }, [buf]);
              }
              if (!dec.pending()) break;
              ready = call(() => dec.commit(0));
            }
          }
        } catch (e) {
          fail(m.id, e);
          header.delete(m.id);
        }
        // The buffer goes back for the next read, also for jobs already cancelled or failed.
        port.post({ type: 'consumed', id: m.id, buf: m.buf }, [m.buf]);
        return;
      }
      case 'end': {
        const dec = jobs.get(m.id);
        header.delete(m.id);
        if (!dec) return;
        try {
          call(() => dec.finish());
          const o = owned.get(m.id);
          const out = o.out ?? (o.size !== undefined ? allocate(o.size) : null); // 0 bytes: none drained
          drop(m.id);
          port.post({ type: 'done', id: m.id, out }, out ? [out] : []);
        } catch (e) {
          fail(m.id, e);
        }
        return;
      }
      case 'cancel':
        header.delete(m.id);
        drop(m.id);
        return;
      case 'run':
        // A pool task: records straight into the shared output (see "Worker pool").
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

// ---------------------------------------------------------------------------------------------
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

const poolTuning = {
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
/** Most workers: explicit `threads`, and `'auto'` (memory bandwidth is the limit beyond that). */
const POOL_MAX = 16;
const POOL_AUTO_MAX = 8;

const poolWorkers = []; // started workers, reused; removed once dead
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
}

let parallelism = () => globalThis.navigator?.hardwareConcurrency ?? 1;

/** The number of workers `threads` asks for (1: in-thread). */
function poolThreads(threads) {
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
function poolAvailable() {
  return !!workerFactory && !!wasmModule && typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated !== false;
}

/**
 * Buffers the records of runs are copied into: transferred to a worker and back, reused, so
 * that copying a run costs no page faults of fresh memory (that took longer than the decode).
 * At most SPARE_MAX are kept (runs are ≤ runMax: a few MiB each).
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
  if (!(buf instanceof ArrayBuffer)) return;
  spareBuffers.push(buf);
  // Over the cap, the smallest go: big runs would otherwise never find room.
  if (spareBuffers.length > SPARE_MAX) spareBuffers.sort((x, y) => y.byteLength - x.byteLength).length = SPARE_MAX;
}

/** Up to `n` workers of the pool, ready (fewer if some failed to start, none without workers). */
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
async function decodePooled(data, n, { maxOutput, target, signal }) {
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
    workers = await poolOf(n);
    signal?.throwIfAborted();
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

// ---------------------------------------------------------------------------------------------
// fetchModel

function isResponse(x) {
  return x !== null && typeof x === 'object' && typeof x.status === 'number' && typeof x.arrayBuffer === 'function' && 'body' in x;
}

function contentLength(response) {
  const enc = response.headers.get('content-encoding');
  if (enc && enc.toLowerCase() !== 'identity') return 0; // the length counts encoded bytes
  const v = Number(response.headers.get('content-length'));
  return Number.isSafeInteger(v) && v > 0 ? v : 0;
}

/**
 * Downloads and decompresses a model into one ArrayBuffer, decoding while the body streams in.
 * Uncompressed responses are returned as they are.
 */
export async function fetchModel(input, options = {}) {
  const { worker: useWorker } = options ?? {};
  const signal = checkSignal(options?.signal);
  if (isResponse(input) && (input.bodyUsed || input.body?.locked)) {
    throw new InvalidInputError('the Response body was already read (or is being read): pass a fresh Response or a URL');
  }
  // What they throw fails the download as it is (not relabelled as one of ours). A promise one
  // returns (an async onTensor that uploads to a GPU) is waited for before the result is
  // returned; its rejection fails the download at once.
  const awaited = new Set();
  let callbackError; // the first rejection: it, not what it broke, is the download's error
  let rejectCallback;
  const callbackFailed = new Promise((_, reject) => (rejectCallback = reject));
  callbackFailed.catch(() => {});
  const tracked = (f) =>
    f &&
    ((...args) => {
      const r = f(...args);
      if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
        const p = Promise.resolve(r).then(
          () => awaited.delete(p),
          (e) => {
            awaited.delete(p);
            if (callbackError !== undefined) return;
            callbackError = e ?? new Error(`a callback's promise rejected with ${e}`);
            rejectCallback(callbackError);
            reader?.cancel(callbackError).catch(() => {});
          },
        );
        awaited.add(p);
      }
      return r;
    });
  const onProgress = tracked(checkFunction(options?.onProgress, 'onProgress') && userCallback(options.onProgress));
  const onTensor = tracked(checkFunction(options?.onTensor, 'onTensor') && userCallback(options.onTensor));
  const maxOutput = checkMaxOutput(options?.maxOutput);
  const fetchFn = checkFunction(options?.fetch, 'fetch') ?? globalThis.fetch;
  const requireCompressed = options?.requireCompressed ?? false;
  if (typeof requireCompressed !== 'boolean') throw new InvalidInputError(`requireCompressed must be a boolean, not ${typeof requireCompressed}`);
  signal?.throwIfAborted();

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
  const race = (p) => Promise.race(aborted ? [p, aborted, callbackFailed] : [p, callbackFailed]);

  let reader = null;
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
    // What is read of it: a status, headers and (unless empty) a body.
    if (!(response && typeof response === 'object' && typeof response.status === 'number' && typeof response.headers?.get === 'function')) {
      const got = response === null ? 'null' : Array.isArray(response) ? 'an array' : typeof response;
      throw new InvalidInputError(`${options?.fetch ? 'options.fetch' : 'fetch'} resolved to ${got}, not a Response`);
    }
    if (!response.ok) {
      response.body?.cancel().catch(() => {});
      throw new HttpError(response);
    }
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
    let decoded = 0;
    let decodedTotal;
    let size; // the size a header gave, to allocate in one piece (see upFrontLimit)
    let out = null; // that piece
    let grow = null; // otherwise
    let tensors = [];
    let named = false; // tensors from the header's segment table
    let nextTensor = 0;
    let result = null;

    /** onTensor hands over a view: a tensor longer than the host's typed arrays fails early. */
    const viewable = (t) => {
      if (t.length > host.maxView) {
        throw new TooLargeError(
          `tensor ${JSON.stringify(t.name)} has ${t.length} bytes, more than this runtime's longest typed array (${host.maxView}): ` +
            'onTensor cannot hand it over (fetch without onTensor and read it in pieces)',
        );
      }
    };
    const fireTensors = (buffer, upTo) => {
      if (!onTensor) return;
      while (nextTensor < tensors.length) {
        const t = tensors[nextTensor];
        if (t.offset + t.length > upTo) break;
        nextTensor++;
        viewable(t);
        onTensor({ name: t.name, dtype: t.dtype, shape: t.shape, offset: t.offset, length: t.length, bytes: new Uint8Array(buffer, t.offset, t.length) });
      }
    };
    const safetensorsTensors = (buffer) => {
      // A view of the header's bytes only: node 20 has no typed array of 4 GiB or more.
      const st = safetensorsHeader(new Uint8Array(buffer, 0, Math.min(buffer.byteLength, 8 + SAFETENSORS_MAX_HEADER)));
      if (!st || typeof st === 'number') return [];
      return st.tensors.filter((t) => t.offset + t.length <= buffer.byteLength);
    };
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
        decoded,
        decodedTotal: last ? decoded : decodedTotal,
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
        early.append(r.value);
        if (buf) buf = r.value.buffer;
        loaded += r.value.byteLength;
        // As the header will say (verified then): progress carries it from the first event.
        decodedTotal ??= decodedSize(early.bytes());
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
        header(h, remoteOutput) {
          if (h.totalSize != null) {
            decodedTotal = h.totalSize;
            // The decode worker holds the output until the end (see RemoteJob).
            if (!remoteOutput && h.totalSize <= upFrontLimit(total)) size = h.totalSize;
            tensors = h.segments.filter((s) => isTensor(h, s));
            named = true;
            if (onTensor) tensors.forEach(viewable);
          }
        },
        data(ready, dec) {
          if (size !== undefined) out ??= allocate(size);
          if (!out && named && decoded + ready >= decodedTotal / 8) {
            // A size the body could not back (see upFrontLimit), now backed by an eighth of it
            // decoded: the rest in one piece (a file of zeros peaks near 1.4x, not 2.4x).
            out = allocate(decodedTotal);
            if (grow) copyBuffer(out, grow.buf, grow.len);
            grow = null;
          }
          if (out) {
            dec.drainInto(new Uint8Array(out, decoded, ready));
            decoded += ready;
            fireTensors(out, decoded);
          } else {
            // ZipNN frames carry no total (and a total too large for the body is not taken on
            // trust): grow from the download size.
            if (!grow) {
              grow = new Growable(Math.max(MiB, Math.ceil(total * 1.6)), decodedTotal ?? Infinity);
              stats.grownOutputs++;
            }
            grow.reserve(ready);
            dec.drainInto(new Uint8Array(grow.buf, grow.len, ready));
            grow.len += ready;
            decoded += ready;
          }
        },
        decoded(n) {
          decoded += n;
        },
        output(buffer) {
          out = buffer;
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
            result = growable.take();
            decoded = result.byteLength;
          } else {
            result = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
            decoded = bytes.length;
          }
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
    if (!out && size !== undefined) out = allocate(size); // a file of 0 bytes
    if (out) result = out;
    else if (grow) result = grow.take();
    // A stream of frames that decode to nothing (an empty ZipNN file) calls no sink at all.
    result ??= new ArrayBuffer(0);
    if (!named) {
      // No segment table (streamed or ZipNN input, or plain bytes): a safetensors file still
      // names its tensors.
      tensors = safetensorsTensors(result);
      nextTensor = 0;
    }
    fireTensors(result, result.byteLength);
    report(true);
    while (awaited.size) await race(Promise.all(awaited));
    if (callbackError !== undefined) throw callbackError;
    return result;
  } catch (e) {
    throw signal?.aborted ? signal.reason : (callbackError ?? fromWasm(e));
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    if (reader && !finished) reader.cancel(signal?.reason).catch(() => {});
    session?.close();
  }
}

/** What the host entry knows of its runtime: `maxView`, the longest typed array (node's buffer constant). */
const host = { maxView: Infinity };

// Package internals for the host entries and the tests (not part of the documented API).
export const __internal = { sniff, call, glue, stats, poolTuning, poolWorkers, host };
