// A service worker that lets a page load models stored compressed (.znw) as if they were plain
// files. A GET of a model URL (MODEL below) is answered with the decoded bytes of URL.znw,
// decoded as they arrive, with the decoded size as Content-Length. Nothing else in the page
// changes: onnxruntime-web, transformers.js or a plain fetch() ask for model.onnx and get it.
//
// - The .znw files are kept in Cache Storage (CACHE), so a second visit downloads nothing and
//   the browser stores a third less for a BF16 model. A stored file that fails to decode is
//   dropped, so a damaged download is fetched again on the next visit.
// - A broken file never passes as a model: the response errors (the page's read rejects)
//   before any byte the checksums have not verified.
// - Where URL.znw does not exist (404), the request goes to the network as it is.
//
// Register it as a module worker from the page (register.mjs does this). Its URL sets what it
// can see: /sw.js covers the whole site, /models/sw.js only /models/. Module service workers
// cannot use import maps: import zipnn-wasm by the URL it is served at, as here, or let a bundler
// resolve 'zipnn-wasm'.
import { ZnnDecompressionStream, decodedSize, DECODED_SIZE_PREFIX, init } from '/node_modules/zipnn-wasm/index.js';

const MODEL = /\.(onnx|onnx_data|safetensors|gguf|bin|tflite|pt|pth)$/i;
const CACHE = 'zipnn-wasm-models';

self.addEventListener('install', (event) => {
  // The wasm module is compiled before the first model is asked for.
  event.waitUntil(init().then(() => self.skipWaiting()));
});
// Take over the pages already open (the one that registered this worker included).
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('message', (event) => {
  if (event.data === 'claim') event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if ((request.method !== 'GET' && request.method !== 'HEAD') || url.origin !== location.origin) return;
  if (!MODEL.test(url.pathname)) return;
  // The worker stays alive until the body is sent and the cache written, not just until the
  // response starts.
  let finish;
  event.waitUntil(new Promise((resolve) => (finish = resolve)));
  event.respondWith(
    decoded(request, znwUrl(url), finish).catch((e) => {
      finish();
      throw e;
    }),
  );
});

/** `url` with .znw added to its path (before any query). */
function znwUrl(url) {
  const z = new URL(url);
  z.pathname += '.znw';
  return z.href;
}

/** The response for `request` from `source` (its .znw); calls `finish` once nothing is left to do. */
async function decoded(request, source, finish) {
  const cache = await caches.open(CACHE);
  let res = await cache.match(source);
  let stored = Promise.resolve(); // the cache write of a fresh download
  if (!res) {
    res = await fetch(source, { signal: request.signal });
    if (res.status === 404 || !res.ok || !res.body) {
      finish();
      return res.status === 404 ? fetch(request) : res;
    }
    if (request.method === 'GET') {
      // One download for both: the compressed bytes go to the cache as they are decoded (the
      // tee holds what the page has not read yet).
      const [toCache, toDecode] = res.body.tee();
      stored = cache.put(source, new Response(toCache, res)).catch(() => {});
      res = new Response(toDecode, res);
    }
  }
  const { head, body } = await peek(res.body, DECODED_SIZE_PREFIX);
  const size = decodedSize(head);
  const headers = { 'content-type': 'application/octet-stream' };
  if (size !== undefined) headers['content-length'] = String(size);
  if (request.method === 'HEAD') {
    body.cancel();
    finish();
    return new Response(null, { headers });
  }
  const end = (failed) =>
    // A stored file that does not decode is dropped: the next visit fetches it again.
    stored.then(() => failed && cache.delete(source)).finally(finish);
  return new Response(watched(body.pipeThrough(new ZnnDecompressionStream()), end), { headers });
}

/** The first `n` bytes of `stream` (fewer if it is shorter), and a stream of all its bytes. */
async function peek(stream, n) {
  const reader = stream.getReader();
  const read = [];
  let have = 0;
  while (have < n) {
    const { done, value } = await reader.read();
    if (done) break;
    read.push(value);
    have += value.length;
  }
  const head = new Uint8Array(have);
  read.reduce((at, c) => (head.set(c, at), at + c.length), 0);
  const body = new ReadableStream({
    async pull(controller) {
      if (read.length) return controller.enqueue(read.shift());
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { head: head.subarray(0, n), body };
}

/** `stream`'s bytes; `onEnd(failed)` runs once it ends, fails or is cancelled by the page. */
function watched(stream, onEnd) {
  const reader = stream.getReader();
  return new ReadableStream({
    async pull(controller) {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        onEnd(true);
        throw e;
      }
      if (!r.done) return controller.enqueue(r.value);
      controller.close();
      onEnd(false);
    },
    cancel: (reason) => {
      onEnd(false);
      return reader.cancel(reason);
    },
  });
}
