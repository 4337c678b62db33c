// Argument checks: every public call checks its arguments here before any wasm runs, so a
// wrong argument is an InvalidInputError, never a trap or a plain TypeError.

import { InvalidInputError, TooLargeError } from './errors.js';

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
export const isArrayBuffer = brand(globalThis.ArrayBuffer);
export const isShared = brand(globalThis.SharedArrayBuffer);

export function toBytes(data, what = 'input') {
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
export function unmoved(u8, what = 'input') {
  return wasmSized(notDetached(u8, what), what);
}

/** `u8`, unless its buffer was detached (a view of one reads as empty, not as an error). */
export function notDetached(u8, what = 'input') {
  return detachedCheck(u8, u8.buffer, what);
}

/**
 * `u8`, if a wasm32 call can take it: the bindings pass its length as 32 bits, so a view of
 * 4 GiB or more would be read as its length mod 2^32. Larger data goes through the streams.
 */
export function wasmSized(u8, what = 'input') {
  if (u8.length > 0xffffffff) {
    throw new TooLargeError(`${what} of ${u8.length} bytes: one call takes at most 4 GiB - 1 (larger files go through ZnnDecompressionStream / ZnnCompressionStream)`);
  }
  return u8;
}

/** An `AbortSignal` option: absent, or something with `throwIfAborted`, else `InvalidInputError`. */
export function checkSignal(signal) {
  // By its methods, not `instanceof`: an iframe's AbortSignal is another realm's class.
  const isSignal = typeof signal?.throwIfAborted === 'function' && typeof signal?.addEventListener === 'function';
  if (signal != null && !isSignal) {
    throw new InvalidInputError('signal must be an AbortSignal');
  }
  return signal ?? undefined;
}

/** Whether two byte views share any byte of one buffer. */
export function overlap(a, b) {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

/** `maxOutput` as the wasm calls take it: a number ≥ 0 or undefined, else `InvalidInputError`. */
export function checkMaxOutput(maxOutput) {
  if (maxOutput === undefined || maxOutput === null) return undefined;
  if (typeof maxOutput !== 'number' || !(maxOutput >= 0)) {
    throw new InvalidInputError(`maxOutput must be a number of bytes >= 0, not ${String(maxOutput)}`);
  }
  return maxOutput;
}

/** An optional callback option (`onProgress`, `onTensor`, `fetch`): a function, or absent. */
export function checkFunction(f, what) {
  if (f === undefined || f === null) return undefined;
  if (typeof f !== 'function') throw new InvalidInputError(`${what} must be a function, not ${typeof f}`);
  return f;
}

/** A boolean option: absent (undefined back), or true or false, else `InvalidInputError`. */
export function checkBoolean(v, what) {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new InvalidInputError(`${what} must be true or false, not ${String(v)}`);
  return v;
}

/**
 * `verify` of a compression: true only where it is done (`.znw` of a known size), as the
 * native CLI refuses `--verify` with `--format zipnn`; asking for it elsewhere would verify
 * nothing.
 */
export function checkVerify(verify, format, sized = true) {
  if (!checkBoolean(verify, 'verify')) return false;
  if (format !== 'znw') throw new InvalidInputError("verify is an option of the 'znw' format (ZipNN frames are not verified)");
  if (!sized) throw new InvalidInputError('verify needs a size (a stream of unknown length is not verified)');
  return true;
}

/** A length argument: a whole number of bytes ≥ 0, else `InvalidInputError`. */
export function checkLength(length, what) {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new InvalidInputError(`${what} must be a whole number of bytes >= 0, not ${String(length)}`);
  }
  return length;
}

/**
 * A size option (`chunkSize`, `streamingChunk`): absent, or a whole number of bytes from 1 to
 * 2^32 - 1, else `InvalidInputError` (the bindings would convert a string or a fraction).
 */
export function checkSizeOption(v, what) {
  if (v === undefined || v === null) return undefined;
  if (!Number.isSafeInteger(v) || v < 1 || v > 0xffffffff) {
    throw new InvalidInputError(`${what} must be a whole number of bytes from 1 to 2^32 - 1, not ${String(v)}`);
  }
  return v;
}

/** `streamingChunk`: a size, and only for `'zipnn'`, as the native CLI refuses `--streaming-chunk` otherwise. */
export function checkStreamingChunk(v, format) {
  const size = checkSizeOption(v, 'streamingChunk');
  if (size !== undefined && format !== 'zipnn') {
    throw new InvalidInputError("streamingChunk is an option of the 'zipnn' format (.znw is always streamable)");
  }
  return size;
}

export function checkFormat(format, dtype) {
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
