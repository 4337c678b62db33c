// A Cloudflare Worker that keeps models compressed (.znw) and serves them decompressed, as a
// stream, to clients that cannot decode them:
//
//   GET /models/NAME     the asset NAME.znw from env.ASSETS, decoded on the way through
//                        (ZnnDecompressionStream: a few MiB of memory whatever the model size,
//                        so models far above the 128 MB isolate limit pass, as long as no one
//                        piece of the body decodes to more than the isolate can hold: a piece
//                        is decoded whole, and a highly compressible one, such as a tensor of
//                        zeros, decodes to far more than its size); Content-Length is the
//                        decoded size, read from the .znw header
//   same, with `Accept: application/x-znw`   the compressed bytes as they are (clients that run
//                        zipnn-wasm themselves download less)
//   HEAD /models/NAME    the headers only, and GET's status (decodes just the first chunk)
//
// The .znw files come from an R2 bucket bound as env.BUCKET when there is one (static assets
// are limited to 25 MiB a file), else from env.ASSETS: any fetcher holding them (Workers static
// assets, a service binding, or in tests a workerd disk service).
import { ZnnDecompressionStream, decodedSize, DECODED_SIZE_PREFIX } from 'zipnn-wasm';

const ZNW_TYPE = 'application/x-znw';

/** Reads the first `n` bytes of `body`; returns them and a stream of the whole body. */
async function peek(body, n) {
  const reader = body.getReader();
  const chunks = [];
  let have = 0;
  while (have < n) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    have += value.length;
  }
  const head = new Uint8Array(Math.min(n, have));
  let at = 0;
  for (const c of chunks) {
    if (at >= head.length) break;
    head.set(c.subarray(0, head.length - at), at);
    at += Math.min(c.length, head.length - at);
  }
  const stream = new ReadableStream(
    {
      async pull(controller) {
        if (chunks.length) return controller.enqueue(chunks.shift());
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  return { head, stream };
}

/** `stream` once its first chunk is read: the same bytes, or `{ error }` if that read failed. */
async function primed(stream) {
  const reader = stream.getReader();
  let first;
  try {
    first = await reader.read();
  } catch (error) {
    return { error };
  }
  return new ReadableStream(
    {
      async pull(controller) {
        if (first) {
          const { done, value } = first;
          first = null;
          return done ? controller.close() : controller.enqueue(value);
        }
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** The stored NAME.znw: { status, body, etag, length } (body only when status is 200). */
async function stored(env, name, url) {
  if (env.BUCKET) {
    const object = await env.BUCKET.get(`${name}.znw`);
    if (!object) return { status: 404 };
    return { status: 200, body: object.body, etag: object.httpEtag, length: String(object.size) };
  }
  const asset = await env.ASSETS.fetch(new URL(`/${name}.znw`, url));
  if (!asset.ok || !asset.body) {
    asset.body?.cancel();
    return { status: asset.status === 404 ? 404 : 502 };
  }
  return { status: 200, body: asset.body, etag: asset.headers.get('etag'), length: asset.headers.get('content-length') };
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const name = url.pathname.match(/^\/models\/([\w.\-/]+)$/)?.[1];
    if (!name || name.includes('..')) return new Response('not found', { status: 404 });
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response('method not allowed', { status: 405, headers: { allow: 'GET, HEAD' } });
    }
    const asset = await stored(env, name, request.url);
    if (asset.status !== 200) return new Response('not found', { status: asset.status });
    const headers = new Headers({ vary: 'accept', 'cache-control': 'public, max-age=3600' });
    const { etag } = asset;

    if ((request.headers.get('accept') ?? '').includes(ZNW_TYPE)) {
      headers.set('content-type', ZNW_TYPE);
      if (etag) headers.set('etag', etag);
      if (asset.length) headers.set('content-length', asset.length);
      if (request.method === 'HEAD') asset.body.cancel();
      return new Response(request.method === 'HEAD' ? null : asset.body, { headers });
    }

    headers.set('content-type', 'application/octet-stream');
    if (etag) headers.set('etag', etag.replace(/"$/, '-decoded"'));
    const { head, stream } = await peek(asset.body, DECODED_SIZE_PREFIX);
    const size = decodedSize(head);
    // The first decoded bytes before the status line: a file that fails at once (not .znw,
    // cut inside its header, a bad first chunk) gets a 502 instead of no response at all, and
    // HEAD gets the status GET would.
    const decoded = await primed(stream.pipeThrough(new ZnnDecompressionStream()));
    if (decoded.error) {
      const text = request.method === 'HEAD' ? null : `cannot decode ${name}: ${decoded.error.message}\n`;
      return new Response(text, { status: 502 });
    }
    if (request.method === 'HEAD') {
      decoded.cancel();
      if (size !== undefined) headers.set('content-length', String(size));
      return new Response(null, { headers });
    }
    if (size === undefined) return new Response(decoded, { headers }); // chunked
    // A known length: clients get Content-Length (progress bars), and a decode error mid-way
    // ends the response short of it, so no client mistakes a broken transfer for a whole file.
    const { readable, writable } = new FixedLengthStream(size);
    ctx.waitUntil(decoded.pipeTo(writable).catch(() => {}));
    return new Response(readable, { headers });
  },
};
