// zipnn-wasm for Cloudflare Workers / workerd: the .wasm is imported as a compiled
// `WebAssembly.Module` (wrangler does this for `*.wasm` imports; a workerd config lists it as
// a `wasm` module), since Workers cannot compile wasm from bytes at run time.
import wasmModule from './dist/zipnn_wasm_bg.wasm';
import { __setWasmSource } from './core.js';

__setWasmSource(() => wasmModule, { sync: true });

export {
  init,
  initSync,
  compress,
  decompress,
  decompressInto,
  Decompressor,
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
  NetworkError,
  __internal,
} from './core.js';
