// zipnn-wasm for browsers (and any host with fetch and ES modules): the .wasm is fetched from
// next to this module on first use. Bundlers recognise the `new URL(..., import.meta.url)`
// pattern and ship the file.
import { __pickWasm, __setWasmSource, __setWorkerFactory } from './lib/host.js';

// The SIMD build unless this host rejects wasm SIMD (then the build without it).
__setWasmSource(() =>
  __pickWasm(new URL('./dist/zipnn_wasm_bg.wasm', import.meta.url), new URL('./dist/zipnn_wasm_nosimd_bg.wasm', import.meta.url)),
);

// fetchModel decodes in a module Worker (the `new Worker(new URL(...), { type: 'module' })` form
// is what bundlers look for); `decompress(..., { threads })` starts a pool of them. Hosts without
// Worker (service workers, some runtimes) or where it cannot start (CSP) decode in-thread.
__setWorkerFactory(() => {
  if (typeof Worker !== 'function') return null;
  const w = new Worker(new URL('./decode-worker.js', import.meta.url), { type: 'module' });
  return {
    post: (m, transfer) => w.postMessage(m, transfer),
    listen(onMessage, onError) {
      w.onmessage = (e) => onMessage(e.data);
      w.onerror = (e) => {
        e.preventDefault?.();
        onError(new Error(e.message || 'the decode worker failed to start'));
      };
      w.onmessageerror = () => onError(new Error('the decode worker sent an unreadable message'));
    },
    terminate: () => w.terminate(),
  };
});

export * from './core.js';
