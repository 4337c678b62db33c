// zipnn-wasm for node (and Deno/Bun through the "node" condition): the .wasm is read from the
// package directory and compiled on first use.
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { Buffer, constants } from 'node:buffer';
import { __internal } from './core.js';
import { __pickWasm, __setLocalReader, __setWasmSource, __setWorkerFactory } from './lib/host.js';

// node 20's typed arrays end at 4 GiB: onTensor says so before the download, not after.
__internal.host.maxView = constants.MAX_LENGTH;
// `decompress()` writes every byte of its output or throws it away: no zero fill needed. A
// plain Uint8Array over the Buffer's whole (unpooled) ArrayBuffer, not a Buffer, whose
// `slice` would not copy.
__internal.host.newOutput = (n) => new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);

// The SIMD build unless this runtime rejects wasm SIMD (then the build without it).
__setWasmSource(async () => {
  // A CommonJS bundle (esbuild's default for node) leaves `import.meta` empty.
  if (!import.meta.url) {
    throw new Error('this module was bundled without import.meta.url (a CommonJS bundle?): bundle it as ESM, or call init(path) with the path of zipnn_wasm_bg.wasm first');
  }
  return WebAssembly.compile(
    await readFile(__pickWasm(new URL('./dist/zipnn_wasm_bg.wasm', import.meta.url), new URL('./dist/zipnn_wasm_nosimd_bg.wasm', import.meta.url))),
  );
});

// `init(url)`: node's fetch reads no files, so a `file:` URL or a path (a string that is not a
// URL; one-letter schemes are Windows drives) is read from disk.
__setLocalReader((src) => {
  if (src instanceof URL) return src.protocol === 'file:' ? readFile(src) : null;
  if (typeof src !== 'string') return null;
  if (src.startsWith('file:')) return readFile(new URL(src));
  return /^[a-z][a-z0-9+.-]+:/i.test(src) ? null : readFile(src);
});

// fetchModel decodes in a worker thread: fetch runs on this thread and then overlaps the decode.
// `decompress(..., { threads })` starts a pool of them. Unref'd while idle, so a worker never
// keeps the process alive.
__setWorkerFactory(() => {
  // None of the process's flags: the worker needs none, a module worker fails to start with
  // --input-type, and given explicitly, per-process ones (--max-old-space-size, --expose-gc)
  // make `new Worker` throw.
  const w = new Worker(new URL('./decode-worker-node.js', import.meta.url), { execArgv: [] });
  return {
    post: (m, transfer) => w.postMessage(m, transfer),
    listen(onMessage, onError) {
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', (code) => onError(new Error(`the decode worker exited (${code})`)));
    },
    terminate: () => w.terminate(),
    ref: () => w.ref(),
    unref: () => w.unref(),
  };
}, availableParallelism);

export * from './core.js';
