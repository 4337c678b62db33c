// zipnn-wasm's API, the same on every host. The host entries (index.js for browsers and the
// default, node.js, workerd.js) export it as it is, once they have told lib/host.js where the
// .wasm comes from.
//
// Everything under lib/ is a thin layer over the wasm-bindgen output in ./dist, one concern a
// module, each importing only those before it in this list:
//   errors    the error classes (`code` is stable)
//   checks    argument checks (buffers, signals, sizes, options)
//   buffers   growable and chunk-copied ArrayBuffers
//   sniff     what the first bytes of an input are (formats, safetensors headers)
//   wasm      loading the module once, calling into it, turning its errors into ours
//   session   the streaming decode shared by the streams and fetchModel
//   worker    fetchModel's decode worker, and what runs inside it
//   pool      decompress(bytes, { threads }): a pool of workers
//   api       the whole-buffer calls (compress, decompress, decompressInto, Decompressor)
//   streams   ZnnDecompressionStream, ZnnCompressionStream
//   fetch     fetchModel
//   host      what the host entries and decode worker scripts set up (not part of the API)

// Each lib/ module is named here, not only by the modules using it, so that a browser loading the
// package unbundled asks for them all at once instead of one import level at a time.
import './lib/checks.js';
import './lib/buffers.js';
import './lib/session.js';
import './lib/worker.js';
import * as glue from './dist/zipnn_wasm.js';
import { sniff } from './lib/sniff.js';
import { call, stats } from './lib/wasm.js';
import { poolTuning, poolWorkers } from './lib/pool.js';
import { host } from './lib/buffers.js';

export {
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
} from './lib/errors.js';
export { initPublic as init, initSync } from './lib/wasm.js';
export { compress, decompress, decompressInto, Decompressor, inspect, openFile, CompressedFile, decodedSize, DECODED_SIZE_PREFIX } from './lib/api.js';
export { ZnnDecompressionStream, ZnnCompressionStream } from './lib/streams.js';
export { fetchModel } from './lib/fetch.js';

// Package internals for the host entries and the tests (not part of the documented API).
export const __internal = { sniff, call, glue, stats, poolTuning, poolWorkers, host };
