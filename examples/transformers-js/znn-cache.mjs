// ZnnCache: a transformers.js `env.customCache` that serves model files from compressed twins.
//
//   import { env, pipeline } from '@huggingface/transformers';
//   import { ZnnCache } from './znn-cache.mjs';
//   env.useCustomCache = true;
//   env.customCache = new ZnnCache();   // model.onnx is read from model.onnx.znw next to it
//   const extractor = await pipeline('feature-extraction', 'my-org/my-model');
//
// transformers.js asks its cache first for every file (`match(url)`). For weight files (.onnx,
// .onnx_data, .safetensors, ...) ZnnCache fetches the compressed twin (by default the same URL
// plus `.znw`) and answers with a Response whose body is the twin piped through
// ZnnDecompressionStream: the download is decoded as it arrives, and Content-Length is the
// decoded size (read from the .znw header), so transformers.js's progress works unchanged.
// When a file has no twin (any non-2xx answer, or one that is not a compressed file) `match`
// returns undefined and transformers.js loads the original file as usual. Everything else
// (config.json, tokenizer.json) is left to it.
//
// Options:
//   compressedUrl(url: URL) -> string | URL | null   where a file's twin lives (null: none)
//   store   a Cache-like object ({ match, put, delete }), e.g. `await caches.open('znn')`. It
//           keeps what transformers.js `put`s (the small files) and the compressed twins, stored
//           compressed and decoded again on every match: the disk cache is as small as the
//           download.
//   fetch   the fetch function (default globalThis.fetch)
//   base    resolves relative keys such as '/models/x/onnx/model.onnx' (default: the page URL)
import { ZnnDecompressionStream, decodedSize, DECODED_SIZE_PREFIX } from 'zipnn-wasm';

/** Files that usually have a compressed twin. */
export const WEIGHT_FILES = /\.(onnx|onnx_data(_\d+)?|ort|safetensors|bin|gguf|pt|pth)$/;

/** Reads from `reader` until `n` bytes (or the end) are in; returns the chunks read. */
async function readHead(reader, n) {
  const chunks = [];
  let have = 0;
  while (have < n) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    have += value.length;
  }
  return chunks;
}

const ZNW_MAGIC = [0x89, 0x5a, 0x4e, 0x57, 0x0d, 0x0a, 0x1a, 0x0a];

/** The start of a `.znw` file or of a ZipNN frame (its header's reorder and type codes). */
function isCompressed(b) {
  if (b.length >= 8 && ZNW_MAGIC.every((x, i) => b[i] === x)) return true;
  return b.length >= 16 && b[0] === 0x5a && b[1] === 0x4e && (b[5] === 10 || b[5] === 220) && [1, 4, 6, 29, 30].includes(b[15]);
}

function concat(chunks, n) {
  const out = new Uint8Array(Math.min(n, chunks.reduce((s, c) => s + c.length, 0)));
  let at = 0;
  for (const c of chunks) {
    if (at >= out.length) break;
    const part = c.subarray(0, out.length - at);
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export class ZnnCache {
  #compressedUrl;
  #store;
  #fetch;
  #base;
  #unread = new Map(); // twin URL -> download of an answer nobody started reading
  #handoff = new Map(); // URL -> a response put without a store, until it is matched

  constructor({ compressedUrl, store = null, fetch, base } = {}) {
    this.#compressedUrl = compressedUrl ?? ((url) => (WEIGHT_FILES.test(url.pathname) ? url.href + '.znw' : null));
    this.#store = store;
    this.#fetch = fetch ?? ((...args) => globalThis.fetch(...args));
    this.#base = base ?? globalThis.location?.href;
  }

  #resolve(key) {
    try {
      const url = new URL(typeof key === 'string' ? key : key.url, this.#base);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
    } catch {
      return null; // a file path (transformers.js in node tries its local path first)
    }
  }

  async match(key) {
    const url = this.#resolve(key);
    if (!url) return undefined;
    const held = this.#handoff.get(url.href);
    if (held) {
      this.#handoff.delete(url.href);
      return held;
    }
    if (this.#store) {
      const kept = await this.#store.match(url.href);
      if (kept) return kept;
    }
    const twin = this.#compressedUrl(url);
    if (!twin) return undefined;
    const twinUrl = new URL(twin, url).href;

    // transformers.js in node matches a model file again before reading it and reads only the
    // last answer: an earlier answer for the same file that nobody started reading hands its
    // download over to the new one (reading the old one afterwards fails), so nothing is fetched twice.
    const pending = this.#unread.get(twinUrl);
    if (pending) return this.#answer(twinUrl, pending);

    let res = this.#store ? await this.#store.match(twinUrl) : undefined;
    if (!res) {
      res = await this.#fetch(twinUrl);
      if (!res.ok || !res.body) {
        res.body?.cancel().catch(() => {});
        return undefined; // no twin: transformers.js loads the original
      }
      if (this.#store) {
        // Keep the compressed bytes; decode from the store's copy.
        await this.#store.put(twinUrl, new Response(res.body, { headers: res.headers }));
        res = await this.#store.match(twinUrl);
        if (!res) throw new Error(`ZnnCache: the store lost ${twinUrl}`);
      }
    }
    const reader = res.body.getReader();
    const head = await readHead(reader, DECODED_SIZE_PREFIX);
    // A 2xx answer that is not a compressed file (a site that answers every path with its
    // index.html) is no twin either.
    if (!isCompressed(concat(head, 16))) {
      reader.cancel().catch(() => {});
      if (this.#store) await this.#store.delete(twinUrl);
      return undefined;
    }
    return this.#answer(twinUrl, { reader, head, size: decodedSize(concat(head, DECODED_SIZE_PREFIX)), owner: null });
  }

  /** A Response decoding `source` (the twin's reader and the chunks already read from it). */
  #answer(twinUrl, source) {
    const me = {};
    source.owner = me;
    this.#unread.set(twinUrl, source);
    const { reader, head } = source;
    const compressed = new ReadableStream(
      {
        async pull(controller) {
          if (head.length) return controller.enqueue(head.shift());
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      },
      { highWaterMark: 0 },
    );
    // The decoder is set up on the first read: an answer nobody reads costs nothing more.
    let decoded = null;
    const body = new ReadableStream(
      {
        pull: async (controller) => {
          if (!decoded) {
            if (source.owner !== me) throw new Error(`ZnnCache: this answer for ${twinUrl} was handed to a later match()`);
            if (this.#unread.get(twinUrl) === source) this.#unread.delete(twinUrl);
            decoded = compressed.pipeThrough(new ZnnDecompressionStream()).getReader();
          }
          const { done, value } = await decoded.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        cancel: (reason) => {
          if (decoded) return decoded.cancel(reason);
          if (source.owner === me) {
            this.#unread.delete(twinUrl);
            return reader.cancel(reason);
          }
        },
      },
      { highWaterMark: 0 },
    );
    const headers = { 'content-type': 'application/octet-stream' };
    if (source.size !== undefined) headers['content-length'] = String(source.size);
    return new Response(body, { status: 200, headers });
  }

  async put(key, response) {
    const url = this.#resolve(key);
    if (!url) return;
    if (this.#store) return this.#store.put(url.href, response);
    // No store: transformers.js in node puts a file it downloaded (a file without a twin) and
    // then matches it to get it back. Hold the (unread) response for that match, briefly.
    const timer = setTimeout(() => this.#handoff.get(url.href) === response && this.#handoff.delete(url.href), 10_000);
    timer.unref?.();
    this.#handoff.set(url.href, response);
  }

  async delete(key) {
    const url = this.#resolve(key);
    if (!this.#store || !url) return false;
    const twin = this.#compressedUrl(url);
    const a = await this.#store.delete(url.href);
    const b = twin ? await this.#store.delete(new URL(twin, url).href) : false;
    return a || b;
  }
}
