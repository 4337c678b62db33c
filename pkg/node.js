// zipnn-wasm for node (and Deno/Bun through the "node" condition): the .wasm is read from the
// package directory and compiled on first use.
import { readFile } from 'node:fs/promises';
import { __setWasmSource } from './core.js';

__setWasmSource(async () => WebAssembly.compile(await readFile(new URL('./dist/zipnn_wasm_bg.wasm', import.meta.url))));

export {
  init,
  initSync,
  compress,
  decompress,
  decompressInto,
  inspect,
  decodedSize,
  DECODED_SIZE_PREFIX,
  fetchModel,
  ZnnDecompressionStream,
  ZnnCompressionStream,
  ZnnError,
  NotCompressedError,
  TruncatedError,
  CorruptError,
  UnsupportedError,
  TooLargeError,
  InvalidInputError,
  InternalError,
  HttpError,
} from './core.js';
