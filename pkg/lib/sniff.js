// What the first bytes of an input are: our `.znw`, ZipNN frames, a ZipNN `.znn.safetensors`,
// or plain bytes; and the safetensors header reader fetchModel's onTensor uses.

import { startsWith } from './buffers.js';

export const ZNW_MAGIC = [0x89, 0x5a, 0x4e, 0x57, 0x0d, 0x0a, 0x1a, 0x0a];
const ZIPNN_META_KEY = 'znn_compressed_vectors';
/** Whether segment `s` of header `h` is a tensor: not the container's own bytes, nor the one
 * unnamed segment of a raw file (a container may name a tensor ''). */
export const isTensor = (h, s) => s.name !== '__header__' && s.name !== '__padding__' && (s.name !== '' || h.container !== 'raw');

/** A ZipNN frame header: "ZN", byte_reorder 10|220, a known dtype code (as the library checks). */
function isZipnnFrame(u8) {
  return u8.length >= 16 && u8[0] === 0x5a && u8[1] === 0x4e && (u8[5] === 10 || u8[5] === 220) && [1, 4, 6, 29, 30].includes(u8[15]);
}

/** True when `u8` (shorter than a full magic) could still become a compressed file. */
export function isMagicPrefix(u8) {
  if (u8.length === 0) return false;
  if (u8.length < 8 && startsWith(ZNW_MAGIC, u8)) return true;
  return u8.length < 16 && u8[0] === 0x5a && (u8.length < 2 || u8[1] === 0x4e);
}

/**
 * Why `u8`, which no decoder takes, still looks like a compressed file that was damaged: a
 * `.znw` magic number one byte off. fetchModel passes uncompressed bodies through, but not
 * these (a damaged .znn.safetensors header: see `namesZipnnKey`).
 */
export function damagedCompressed(u8) {
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
export const SAFETENSORS_MAX_HEADER = 100_000_000;

/**
 * The JSON header of a safetensors file: `{ headerLen, metadata, tensors }` with tensors sorted
 * by offset (absolute in the file), or null when `u8` does not start like one. Needs only the
 * header bytes; returns the number of bytes needed when `u8` is shorter.
 */
export function safetensorsHeader(u8) {
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
export function sniff(head, ended) {
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
