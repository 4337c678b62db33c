// Streams: ZnnDecompressionStream (like the platform's DecompressionStream) and
// ZnnCompressionStream.

import * as glue from '../dist/zipnn_wasm.js';
import { InvalidInputError, NotCompressedError, TruncatedError } from './errors.js';
import { call, claim, freeWasm, fromWasm, init, inputBytes, made, readyNow } from './wasm.js';
import { checkBoolean, checkFormat, checkStreamingChunk, checkVerify, checkLength, checkMaxOutput, checkSizeOption } from './checks.js';
import { MiB } from './buffers.js';
import { isMagicPrefix } from './sniff.js';
import { DecodeSession } from './session.js';

/** Largest slice pushed into the wasm encoder at once: bounds wasm memory whatever the input chunking. */
const PUSH_MAX = MiB;
/** Largest `streamingChunk` of `ZnnCompressionStream` (a power of two within the above). */
const MAX_STREAM_FRAME = 2 ** 30;

function streamSink(controller, wait) {
  return {
    header() {},
    refusePlain() {
      throw new NotCompressedError('not a compressed file (unknown magic number)');
    },
    data(_ready, dec) {
      controller.enqueue(dec.drain());
    },
    wait,
    whole(bytes, kind) {
      if (kind !== 'plain') {
        if (bytes.length) controller.enqueue(bytes);
        return;
      }
      if (isMagicPrefix(bytes)) throw new TruncatedError('input is truncated');
      throw new NotCompressedError(
        bytes.length ? 'not a compressed file (unknown magic number)' : 'not a compressed file (empty input)',
      );
    },
  };
}

/** Decoded bytes a stream holds for its reader before decoding waits (two of wasm's batches). */
const STREAM_AHEAD = 8 * MiB;

/**
 * Decompresses a byte stream, like the platform's `DecompressionStream` (and, like it, a
 * `{ readable, writable }` pair rather than a TransformStream): decoding waits while the reader
 * is behind, so memory stays bounded whatever one input chunk decodes to (a ZipNN file written
 * as one frame decodes whole from its last chunk).
 * `response.body.pipeThrough(new ZnnDecompressionStream())`.
 */
export class ZnnDecompressionStream {
  #readable;
  #writable;

  constructor(options = {}) {
    const maxOutput = checkMaxOutput(options?.maxOutput);
    const checkBodies = !!checkBoolean(options?.checkBodies, 'checkBodies');
    // Decoded bytes queued for a reader before decoding pauses (a Worker with many slow
    // downloads wants fewer); decoding still goes a chunk at a time.
    const highWaterMark = options?.highWaterMark ?? STREAM_AHEAD;
    if (!Number.isSafeInteger(highWaterMark) || highWaterMark < 0) {
      throw new InvalidInputError(`highWaterMark must be a whole number of bytes >= 0, not ${String(highWaterMark)}`);
    }
    claim();
    let session = null;
    let output = null; // the readable's controller
    let input = null; // the writable's controller
    let stopped = null; // { reason } once cancelled, aborted, failed or done
    let wake = null;
    const resume = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    // A promise while the reader is behind (none once stopped: an errored readable has no size).
    const room = () => {
      const d = output.desiredSize;
      return stopped || d === null || d > 0 ? null : new Promise((r) => (wake = r));
    };
    const stop = (reason) => {
      stopped ??= { reason };
      session?.close();
      session = null;
      resume();
    };
    const open = () => {
      if (stopped) throw stopped.reason;
      return (session ??= new DecodeSession(streamSink(output, room), { maxOutput, checkBodies }));
    };
    // After a stop, what fails (a freed decoder) is that stop's doing: its reason stands.
    const fail = (e) => {
      if (stopped) throw stopped.reason;
      const err = fromWasm(e);
      stop(err);
      output.error(err);
      throw err;
    };
    this.#readable = new ReadableStream(
      {
        start(c) {
          output = c;
        },
        pull: resume,
        cancel(reason) {
          stop(reason);
          input.error(reason);
        },
      },
      { highWaterMark, size: (chunk) => chunk.byteLength },
    );
    this.#writable = new WritableStream({
      start(c) {
        input = c;
        // An abort waits for the write in flight, which may be waiting for the reader: stop it.
        c.signal?.addEventListener('abort', () => {
          stop(c.signal.reason);
          output.error(c.signal.reason);
        });
        // A module that cannot load errors both sides (the reader would wait forever).
        return init().catch(fail);
      },
      async write(chunk) {
        try {
          await open().write(inputBytes(chunk, 'chunk'));
        } catch (e) {
          fail(e);
        }
      },
      async close() {
        try {
          await open().end();
          // Cancelled while the last bytes decoded: the cancel's reason, as for a write.
          if (stopped) throw stopped.reason;
          stop();
          output.close();
        } catch (e) {
          fail(e);
        }
      },
      abort(reason) {
        stop(reason);
        output.error(reason);
      },
    });
  }

  get readable() {
    return this.#readable;
  }

  get writable() {
    return this.#writable;
  }
}

/** Compresses a byte stream (`.znw` by default; `format: 'zipnn'` writes ZipNN's streaming frames). */
export class ZnnCompressionStream extends TransformStream {
  constructor(options = {}) {
    const { dtype, format = 'znw' } = options ?? {};
    const chunkSize = checkSizeOption(options?.chunkSize, 'chunkSize');
    const size = options?.size ?? undefined;
    if (size !== undefined) checkLength(size, 'size');
    checkFormat(format, dtype);
    const streamingChunk = checkStreamingChunk(options?.streamingChunk, format) ?? MiB;
    const verify = checkVerify(options?.verify, format, size !== undefined);
    // A frame's input is copied into wasm memory whole: one of 2 GiB would not fit there.
    if (format === 'zipnn' && streamingChunk > MAX_STREAM_FRAME) {
      throw new InvalidInputError(`streamingChunk is at most ${MAX_STREAM_FRAME} bytes (1 GiB) in ZnnCompressionStream, not ${streamingChunk}`);
    }
    if (format === 'zipnn' && size !== undefined) {
      throw new InvalidInputError("size is an option of the 'znw' format (ZipNN's streaming frames carry no size)");
    }
    let self = null; // this, once made
    let enc = null;
    let pending = null; // zipnn: the current streaming piece
    let fill = 0;
    let frames = 0;
    const free = () => {
      freeWasm(enc);
      enc = null;
    };
    const fail = (e) => {
      free();
      throw fromWasm(e);
    };
    // Checks dtype and sizes in wasm (the encoder's own rules) before any input arrives.
    const setUp = () => {
      if (format === 'znw') enc ??= made(call(() => new glue.StreamEncoder(dtype, chunkSize, size, verify)));
      else call(() => glue.compressZipnn(new Uint8Array(0), dtype, streamingChunk, chunkSize));
    };
    // With the module loaded, a bad option throws here, before the stream is handed on (a
    // Worker's Response would already be on its way); otherwise when the stream starts.
    if (readyNow()) setUp();
    super({
      async start() {
        await init();
        setUp();
      },
      transform(chunk, controller) {
        try {
          const u8 = inputBytes(chunk, 'chunk');
          if (format === 'znw') {
            // Records go out a MiB at a time: the push that completes the first 32 MiB codes
            // them all, and wasm memory need not hold their records too.
            const emit = (out) => controller.enqueue(out);
            for (let at = 0; at < u8.length; at += PUSH_MAX) {
              const out = call(() => enc.push(u8.subarray(at, at + PUSH_MAX), emit));
              if (out.length) controller.enqueue(out);
            }
            return;
          }
          for (let at = 0; at < u8.length; ) {
            pending ??= new Uint8Array(streamingChunk);
            const take = Math.min(streamingChunk - fill, u8.length - at);
            pending.set(u8.subarray(at, at + take), fill);
            fill += take;
            at += take;
            if (fill === streamingChunk) {
              controller.enqueue(call(() => glue.compressZipnn(pending, dtype, streamingChunk, chunkSize)));
              frames++;
              fill = 0;
            }
          }
        } catch (e) {
          fail(e);
        }
      },
      flush(controller) {
        try {
          if (format === 'znw') {
            controller.enqueue(call(() => enc.finish()));
            if (size !== undefined) self.#report = call(() => enc.report());
            free();
          } else if (fill > 0 || frames === 0) {
            const last = pending ? pending.subarray(0, fill) : new Uint8Array(0);
            controller.enqueue(call(() => glue.compressZipnn(last, dtype, streamingChunk, chunkSize)));
          }
          pending = null;
        } catch (e) {
          fail(e);
        }
      },
      cancel() {
        free();
        pending = null;
      },
    });
    self = this;
  }

  #report = undefined;

  /** With `size`, once the stream has ended: what `inspect` reports of the output. */
  get report() {
    return this.#report;
  }
}
