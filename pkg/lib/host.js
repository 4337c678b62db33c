// What a host entry (index.js, node.js, workerd.js) and its decode worker script set up: where
// the .wasm comes from, how a worker starts, how a path is read. Not part of the API.

export { __setWasmSource, __pickWasm, __setLocalReader } from './wasm.js';
export { __setWorkerFactory, __runDecodeWorker } from './worker.js';
