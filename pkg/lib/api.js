// The whole-buffer calls: compress, decompress, decompressInto, Decompressor, inspect, and
// decodedSize (which needs no wasm).

import * as glue from '../dist/zipnn_wasm.js';
import { InvalidInputError, TooLargeError, ZnnError, userCallback } from './errors.js';
import { call, freeWasm, inWasmMemory, init, inputBytes, made, ready, resets } from './wasm.js';
import { checkFormat, checkFunction, checkStreamingChunk, checkVerify, checkLength, checkMaxOutput, checkSignal, checkSizeOption, isArrayBuffer, isShared, notDetached, overlap, toBytes, unmoved, wasmSized } from './checks.js';
import { host, startsWith } from './buffers.js';
import { ZNW_MAGIC } from './sniff.js';
import { decodePooled, poolAvailable, poolThreads } from './pool.js';

/**
 * Largest input of the whole-buffer `compress`: the largest slice wasm32 holds (isize::MAX), past
 * which copying it in would trap. It is copied into wasm memory (4 GiB at most) next to its
 * output, so float weights fit up to about 1.95 GiB; beyond, a TooLargeError says so
 * (ZnnCompressionStream has no such bound).
 */
const MAX_COMPRESS_INPUT = 2 ** 31 - 1;

/** Compresses `bytes`: `.znw` (default) or, with `format: 'zipnn'`, ZipNN frames. */
export async function compress(bytes, options = {}) {
  const data = inputBytes(bytes);
  const { dtype, format = 'znw' } = options ?? {};
  const chunkSize = checkSizeOption(options?.chunkSize, 'chunkSize');
  checkFormat(format, dtype);
  const streamingChunk = checkStreamingChunk(options?.streamingChunk, format);
  const verify = checkVerify(options?.verify, format);
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
  return call(() => glue.decompress(unmoved(data), maxOutput, host.newOutput));
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
    const data = wasmSized(inputBytes(bytes));
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

/**
 * The header and segment table of a compressed buffer, or of `size` bytes read at offsets
 * through a reader `{ size, read(offset, length) }` (a file of any size), as plain objects.
 */
export async function inspect(input) {
  if (!isReader(input)) {
    const data = inputBytes(input);
    if (!ready) await init();
    return call(() => glue.inspect(unmoved(data)));
  }
  const { size, read } = readerCalls(input, 'inspect');
  if (!ready) await init();
  return call(() => glue.inspectReader(size, read));
}

/**
 * A reader's size, checked, and its `read` as the module calls it (from wasm, in the middle of
 * a walk or a read): what it throws is rethrown as it is; a Promise is refused, since `who`
 * reads synchronously.
 */
function readerCalls(reader, who) {
  const { size } = reader;
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new InvalidInputError(`reader.size must be a whole number of bytes, not ${String(size)}`);
  }
  const read = userCallback((offset, length) => {
    const got = reader.read(offset, length);
    if (got !== null && typeof got === 'object' && typeof got.then === 'function') {
      throw new InvalidInputError(`reader.read must return the bytes, not a Promise: ${who} reads synchronously (fs.readSync, FileReaderSync)`);
    }
    const u8 = inputBytes(got, 'what reader.read returns');
    // A view of its own: the module reads `length`, which an object may have been given.
    return new Uint8Array(u8.buffer, u8.byteOffset, u8.byteLength);
  });
  return { size, read };
}

/** An object to read at offsets (not bytes: a view or buffer has no `read`). */
function isReader(x) {
  return x !== null && typeof x === 'object' && typeof x.read === 'function' && !ArrayBuffer.isView(x) && !isArrayBuffer(x) && !isShared(x);
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

/** Largest piece of a `readInto` target handed to the module at once (it counts in 32 bits). */
const READ_PIECE = 2 ** 30;

/**
 * Opens a compressed file (`.znw`, ZipNN `.znn` or `.znn.safetensors`) for reads at decoded
 * offsets: a tensor at a time, as safetensors' `safe_open` reads one, decoding only the chunks
 * a read needs. `input` is the file's bytes (read where they are, not copied: do not change
 * them while the file is open) or a `RandomAccessReader` (a file of any size, also larger than
 * wasm memory). Reads the headers now (every `.znw` record head, every ZipNN frame header).
 */
export async function openFile(input, options = {}) {
  const maxOutput = checkMaxOutput(options?.maxOutput);
  let reader = input;
  let data = null;
  if (!isReader(input)) {
    data = inputBytes(input);
    // Read a piece at a time: bytes of 4 GiB or more open too, as a reader's would.
    reader = { size: data.length, read: (offset, length) => notDetached(data).subarray(offset, offset + length) };
  }
  const calls = readerCalls(reader, 'openFile');
  if (!ready) await init();
  return new CompressedFile(OPEN, calls, maxOutput, data);
}

const OPEN = Symbol('openFile');

/** A compressed file opened by `openFile`. */
export class CompressedFile {
  #f = null;
  #resets = 0;
  #calls;
  #maxOutput;
  /** The compressed bytes, when given as bytes (a target must not overlap them). */
  #data;
  #closed = false;
  /** Calls into the wasm object under way (a reader may call `close()` from inside one). */
  #busy = 0;
  #size;
  #container;
  #segments;

  constructor(token, calls, maxOutput, data) {
    if (token !== OPEN) throw new InvalidInputError('a CompressedFile comes from openFile()');
    this.#calls = calls;
    this.#maxOutput = maxOutput;
    this.#data = data;
    const h = this.#call((f) => f.header());
    this.#size = this.#call((f) => f.size);
    this.#container = h.container;
    this.#segments = Object.freeze(h.segments.map((s) => Object.freeze(s)));
  }

  /** The decoded size. */
  get size() {
    return this.#size;
  }

  /** What kind of file the decoded bytes are (`'safetensors'`, `'gguf'`, `'raw'`...). */
  get container() {
    return this.#container;
  }

  /** Where each tensor lies in the decoded file (empty where the encoder kept no table). */
  get segments() {
    return this.#segments;
  }

  /** The wasm object, opened anew after a trap reset the instance it lived in. */
  #call(f) {
    this.#open();
    // The wasm object is borrowed for the whole call; wasm-bindgen would refuse a second
    // borrow with an untyped Error.
    if (this.#busy > 0) throw new InvalidInputError("read() called from inside this file's own reader");
    if (!this.#f || this.#resets !== resets) {
      const { size, read } = this.#calls;
      this.#f = made(call(() => new glue.RandomAccessFile(size, read, this.#maxOutput)));
      this.#resets = resets;
    }
    this.#busy++;
    try {
      return call(() => f(this.#f));
    } finally {
      // Closed from inside: freed once no call holds it.
      if (--this.#busy === 0 && this.#closed) this.#free();
    }
  }

  #open() {
    if (this.#closed) throw new InvalidInputError('this CompressedFile was closed');
  }

  /** `length` decoded bytes at `offset`, in a new Uint8Array. */
  read(offset, length) {
    this.#open();
    checkLength(offset, 'offset');
    checkLength(length, 'length');
    this.#check(offset, length);
    const out = call(() => new Uint8Array(length));
    this.readInto(offset, out);
    return out;
  }

  /** Fills `target` (any view, shared memory too) with the decoded bytes at `offset`. */
  readInto(offset, target) {
    this.#open();
    checkLength(offset, 'offset');
    const t = toBytes(target, 'target');
    if (inWasmMemory(t)) throw new InvalidInputError("target must not be a view of the module's own memory");
    // Bodies are read as the target is written: overwritten ones would fail their checksums.
    if (this.#data && overlap(this.#data, t)) throw new InvalidInputError('target must not overlap the input');
    this.#check(offset, t.length);
    for (let done = 0; done < t.length; done += READ_PIECE) {
      const piece = t.subarray(done, done + READ_PIECE);
      this.#call((f) => f.readInto(offset + done, piece));
    }
  }

  /** The error for a range outside the file, before any byte is read or allocated. */
  #check(offset, length) {
    if (offset + length > this.#size) {
      throw new InvalidInputError(`${length} bytes at ${offset} reach past the decoded size, ${this.#size}`);
    }
  }

  /** Frees the index and buffers in wasm memory; later calls throw. */
  close() {
    this.#closed = true;
    if (this.#busy === 0) this.#free();
  }

  #free() {
    freeWasm(this.#f);
    this.#f = null;
  }

  [Symbol.dispose]() {
    this.close();
  }
}
