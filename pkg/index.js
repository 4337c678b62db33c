// zipnn-wasm for browsers (and any host with fetch and ES modules): the .wasm is fetched from
// next to this module on first use. Bundlers recognise the `new URL(..., import.meta.url)`
// pattern and ship the file.
import { __setWasmSource } from './core.js';

__setWasmSource(() => new URL('./dist/zipnn_wasm_bg.wasm', import.meta.url));

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
