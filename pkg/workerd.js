// zipnn-wasm for Cloudflare Workers / workerd: the .wasm is imported as a compiled
// `WebAssembly.Module` (wrangler does this for `*.wasm` imports; a workerd config lists it as
// a `wasm` module), since Workers cannot compile wasm from bytes at run time.
import wasmModule from './dist/zipnn_wasm_bg.wasm';
import { __setWasmSource } from './lib/host.js';

__setWasmSource(() => wasmModule, { sync: true });

export * from './core.js';
