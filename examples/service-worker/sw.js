// A service worker that lets a page load models stored compressed (.znw) as if they were plain
// files. A GET of a model URL (MODEL below) is answered with the decoded bytes of URL.znw,
// decoded as they arrive, with the decoded size as Content-Length. Nothing else in the page
// changes: onnxruntime-web, transformers.js or a plain fetch() ask for model.onnx and get it.
//
// - The .znw files are kept in Cache Storage (CACHE), so a second visit downloads nothing and
//   the browser stores a third less for a BF16 model. Entries are never revalidated: give a
//   changed model a new URL (a ?v=2 query counts), or delete the cache.
// - A broken file never passes as a model: the response errors (the page's read rejects)
//   before any byte the checksums have not verified, and the stored file is dropped, so the
//   next visit fetches it again. Only .znw files are served: ZipNN's .znn carries no checksums.
// - Where URL.znw does not exist (404), the request goes to the network as it is.
// - GETs of one model made while it downloads (two loaders, two tabs) wait for that download,
//   up to a minute, and are answered from the cache: the file is downloaded once unless that
//   takes longer (then one of them downloads it again, and the others wait for either, for at
//   most another minute). A HEAD does not wait.
// - A request for one byte range (`Range: bytes=a-b`, `a-`, `-n`) gets that part (206), decoded
//   from the start of the file and cut; other Range headers get the whole file. A page that
//   stops reading leaves the download going into the cache, held in memory until the page
//   reads on or cancels.
//
// Register it as a module worker from the page (register.mjs does this). It answers the pages
// within its scope, which its URL sets: serve it as /sw.js to cover the whole site. Module
// service workers cannot use import maps: import zipnn-wasm by the URL it is served at, as
// here, or let a bundler resolve 'zipnn-wasm'.
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
  // No event.waitUntil for the body: Chromium stops a worker whose event lasts past 5 minutes,
  // and keeps it alive anyway while the page reads a response it streams.
  event.respondWith(decoded(request, znwUrl(url)));
});

/** `url` with .znw added to its path (before any query). */
function znwUrl(url) {
  const z = new URL(url);
  z.pathname += '.znw';
  return z.href;
}

const ZNW_MAGIC = [0x89, 0x5a, 0x4e, 0x57, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Per .znw URL, the download being stored into the cache now: a promise that settles when
 * the cache write does. Requests that miss the cache meanwhile wait for it and read the cache,
 * so that a file is downloaded once however many requests for it arrive while it downloads;
 * each response still streams on its own.
 */
const downloads = new Map();

/** The longest a request waits for one download (the fetch event lasts that long; Chromium
 * stops a worker, and the downloads it streams, whose event lasts past 5 minutes). A request
 * that gives up downloads the file again, in place of the one it waited for; the others wait
 * for either, until they have waited twice this in all. */
const WAIT_MS = 60_000;
/** How often a waiting request looks in the cache (a download it does not wait for may
 * store the file first). */
const POLL_MS = 500;

/**
 * `{ hit }`: `source` from the cache, once no download of it is in progress (waiting as said
 * above). Else `{ claim }` if this request is to download the file and store it (no download
 * in progress, or only one it gave up on; the check and the claim run with no await between
 * them), or `{}`: it asks for the file without storing it, because the download it waited
 * for was answered with no file (a 404, say: every request then gets that for itself), or
 * because it has waited 2 × WAIT_MS in all.
 */
async function cached(cache, source) {
  const start = Date.now();
  let awaited, since; // the download waited for, and since when
  for (;;) {
    const hit = await cache.match(source);
    if (hit) return { hit };
    const pending = downloads.get(source);
    const now = Date.now();
    if (pending !== awaited) [awaited, since] = [pending, now];
    if (!pending || now - since >= WAIT_MS) return { claim: claimDownload(source) };
    if (now - start >= 2 * WAIT_MS) return {};
    let timer;
    const outcome = await Promise.race([pending, new Promise((resolve) => (timer = setTimeout(resolve, POLL_MS)))]);
    clearTimeout(timer);
    if (outcome === NO_FILE) return {};
  }
}

/** A header of the stored responses that tells one download's entry from another's. */
const DOWNLOAD_ID = 'x-zipnn-wasm-download';

/** How a download ended when the server sent no file to store. */
const NO_FILE = 'no file';

/** Registers a download of `source` in progress; `end(outcome)` unregisters it. */
function claimDownload(source) {
  let end;
  const claim = new Promise((resolve) => (end = resolve));
  claim.end = (outcome) => {
    if (downloads.get(source) === claim) downloads.delete(source);
    end(outcome);
  };
  downloads.set(source, claim);
  return claim;
}

/** The response for `request` from `source`, its .znw. */
async function decoded(request, source) {
  const cache = await caches.open(CACHE);
  // A HEAD neither waits for a download nor stores one.
  const { hit, claim } = request.method === 'GET' ? await cached(cache, source) : { hit: await cache.match(source) };
  let res = hit;
  let stored = Promise.resolve(); // the cache write of a fresh download
  let mine = hit?.headers.get(DOWNLOAD_ID) ?? null; // the cache entry this request reads
  const download = new AbortController();
  let outcome; // of a download, for the requests waiting: NO_FILE, or they look in the cache again
  if (!res) {
    try {
      // Past the HTTP cache: it would hold back a request that takes a download over until
      // the stalled one it replaces ends, and keep a second copy of the file.
      res = await fetch(source, { signal: download.signal, cache: 'no-store' });
      if (!res.ok || !res.body) {
        outcome = NO_FILE;
        return res.status === 404 ? fetch(request) : res;
      }
      if (claim) {
        // One download for both: the compressed bytes go to the cache as they are decoded
        // (the tee holds what the page has not read yet).
        const [toCache, toDecode] = res.body.tee();
        const headers = new Headers(res.headers);
        headers.set(DOWNLOAD_ID, (mine = crypto.randomUUID()));
        stored = cache.put(source, new Response(toCache, { status: res.status, headers })).catch(() => {});
        res = new Response(toDecode, res);
      }
    } finally {
      if (claim) stored.then(() => claim.end(outcome)); // at once unless a download is stored
    }
  }
  // A stored file that does not decode is dropped, so the next visit fetches it again; only
  // the entry this request read or stored (another request may have stored a good one since).
  const drop = () =>
    stored
      .then(() => cache.match(source))
      .then((entry) => entry && entry.headers.get(DOWNLOAD_ID) === mine && cache.delete(source));
  const { head, body } = await peek(res.body, DECODED_SIZE_PREFIX);
  if (!ZNW_MAGIC.every((b, i) => head[i] === b)) {
    outcome = NO_FILE;
    download.abort(); // the cache's half of the download too
    body.cancel().catch(() => {}); // already errored by the abort (a cached file: not)
    drop();
    return new Response(`${source} is not a .znw file\n`, { status: 502 });
  }
  const size = decodedSize(head);
  const headers = { 'content-type': 'application/octet-stream' };
  if (size !== undefined) Object.assign(headers, { 'content-length': String(size), 'accept-ranges': 'bytes' });
  const range = size !== undefined && request.method === 'GET' ? byteRange(request.headers.get('range'), size) : null;
  if (request.method === 'HEAD' || range?.unsatisfiable) {
    body.cancel().catch(() => {});
    if (range) return new Response(null, { status: 416, headers: { 'content-range': `bytes */${size}` } });
    return new Response(null, { headers });
  }
  const plain = watched(body.pipeThrough(new ZnnDecompressionStream()), drop);
  if (!range) return new Response(plain, { headers });
  // Decoded from the start and cut: a range far into a big file waits for what comes before.
  headers['content-length'] = String(range.end - range.start);
  headers['content-range'] = `bytes ${range.start}-${range.end - 1}/${size}`;
  return new Response(slice(plain, range.start, range.end), { status: 206, headers });
}

/**
 * A Range header's one range of a `size`-byte body as `{ start, end }` (end exclusive), or
 * `{ unsatisfiable: true }`; null where there is no header, or one this worker does not serve
 * a part for (several ranges, other units, a malformed one: the whole body is sent).
 */
function byteRange(header, size) {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Math.min(Number(m[2]), size); // the last n bytes
    return n > 0 ? { start: size - n, end: size } : { unsatisfiable: true };
  }
  const [start, last] = [Number(m[1]), m[2] === '' ? Infinity : Number(m[2])];
  if (last < start) return null; // malformed: ignored
  return start < size ? { start, end: Math.min(last + 1, size) } : { unsatisfiable: true };
}

/** Bytes `start` to `end` (exclusive) of `stream`, which is cancelled once they are out. */
function slice(stream, start, end) {
  let at = 0;
  return stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        const from = Math.max(0, start - at);
        const to = Math.min(chunk.length, end - at);
        at += chunk.length;
        if (to > from) controller.enqueue(chunk.subarray(from, to));
        if (at >= end) controller.terminate();
      },
    }),
  );
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

/** `stream`'s bytes; `onError` runs if it fails (not if the page cancels it). */
function watched(stream, onError) {
  const reader = stream.getReader();
  return new ReadableStream({
    async pull(controller) {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        onError();
        throw e;
      }
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
