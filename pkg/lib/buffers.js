// ArrayBuffers: allocation that fails as TooLargeError, one that grows, copies past 4 GiB.

import { TooLargeError } from './errors.js';

export const MiB = 1 << 20;
export const GiB = 1 << 30;

/**
 * What the host entry knows of its runtime: `maxView`, the longest typed array (node's buffer
 * constant); `newOutput(n)`, if set, a `Uint8Array` of `n` bytes that need not be zero-filled,
 * for a decode that writes every byte or fails and drops it (node's uninitialised memory: the
 * fill of a zeroed array costs about a fifth of a decode into memory already mapped).
 */
export const host = { maxView: Infinity, newOutput: undefined };

export function allocate(n) {
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
export class Growable {
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
export function copyBuffer(dst, src, len) {
  for (let at = 0; at < len; at += GiB) {
    const n = Math.min(GiB, len - at);
    new Uint8Array(dst, at, n).set(new Uint8Array(src, at, n));
  }
}

export function startsWith(u8, magic) {
  if (u8.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (u8[i] !== magic[i]) return false;
  return true;
}
