// Decoding session shared by ZnnDecompressionStream, fetchModel and the CLI.
//
// Our format, ZipNN frames and .znn.safetensors files that list their compressed tensors stream
// through the wasm StreamDecoder in ≤ 1 MiB pushes (a ZipNN frame, or compressed tensor,
// decodes once it is complete: 1 MiB in zipnn's streaming files). Other .znn.safetensors files
// and plain bytes are collected and handled at the end.
//
// sink.header(h)        the .znw header ({ totalSize, container, segments })
// sink.data(ready, dec) `ready` verified bytes wait in `dec`: take them with drain/drainInto
// sink.whole(u8, kind)  the buffered input at the end: decoded bytes, or kind 'plain' as is
// sink.wait()           optional: a promise while the consumer is behind, to pause decoding on
//                       (write and end then return a promise; the wasm decoder holds its place)
// sink.refusePlain(head) optional: throws to refuse input that is not compressed as soon as its
//                       first bytes `head` show it (instead of buffering the rest)
//
// With `remote` (fetchModel's decode worker), streamed formats are decoded by a RemoteJob in a
// worker instead: the same sink calls, with a `dec` whose drainInto copies the worker's bytes.
// `remote` returns null when its worker is gone; the session then decodes in this thread.

import * as glue from '../dist/zipnn_wasm.js';
import { TooLargeError } from './errors.js';
import { call, freeWasm, made } from './wasm.js';
import { Growable, MiB, host } from './buffers.js';
import { sniff } from './sniff.js';

export class DecodeSession {
  constructor(sink, { maxOutput, sizeHint, remote, checkBodies } = {}) {
    this.sink = sink;
    this.maxOutput = maxOutput;
    this.checkBodies = !!checkBodies;
    this.sizeHint = sizeHint || 0;
    this.remote = remote || null;
    this.job = null;
    this.mode = 'sniff';
    this.need = 16;
    this.head = null; // Growable while sniffing (becomes the buffer in buffer mode)
    this.dec = null;
    this.header = null;
  }

  /**
   * Takes the next input bytes. With `owned` (u8 is the whole of a buffer nobody else uses) a
   * remote job may take the buffer instead of copying it: then it returns true and u8 is detached.
   * A promise when the sink asked to wait: the rest of u8 is decoded before it resolves.
   */
  write(u8, owned = false) {
    if (u8.length === 0) return false;
    if (this.mode === 'remote') return this.job.write(u8, owned);
    if (this.mode === 'stream') return this.#push(u8) ?? false;
    if (this.mode === 'buffer') return this.head.append(u8), this.#checkHeld(), false;
    if (!this.head) {
      const kind = sniff(u8, false);
      if (typeof kind === 'string') {
        // The first chunk decides alone: no copy.
        this.head = new Growable(0);
        this.#start(kind, u8);
        return this.write(u8, owned);
      }
      // `kind` bytes are needed to decide; a header claims that, so take room as they arrive.
      this.head = new Growable(Math.min(Math.max(kind, 64 * 1024), MiB));
    }
    this.head.append(u8);
    const head = this.head.bytes();
    const kind = sniff(head, false);
    if (typeof kind === 'string') return this.#start(kind, head) || false;
    // Still undecided (a safetensors file whose U8 tensors have not all begun): held whole.
    this.#checkHeld();
    return false;
  }

  /** Ends the input; a promise when a remote job still has to finish or the sink asked to wait. */
  end() {
    if (this.mode === 'sniff') {
      this.head ??= new Growable(0);
      this.ended = true;
      const head = this.head.bytes();
      const pushed = this.#start(sniff(head, true), head);
      if (pushed) return pushed.then(() => this.end());
    }
    if (this.mode === 'remote') return this.job.end();
    if (this.mode === 'stream') {
      call(() => this.dec.finish());
      return;
    }
    const bytes = this.head.bytes();
    if (this.kind === 'plain') {
      this.sink.whole(bytes, 'plain', this.head);
    } else {
      const out = call(() => glue.decompress(bytes, this.maxOutput, host.newOutput));
      this.head = null;
      this.sink.whole(out, this.kind);
    }
  }

  close() {
    this.job?.close();
    this.job = null;
    freeWasm(this.dec);
    this.dec = null;
    this.head = null;
  }

  /** Chooses how to decode, from the `kind` sniff gave `head` (the first bytes). */
  #start(kind, head) {
    this.kind = kind;
    // A .znn.safetensors whose metadata lists its compressed tensors restores as it arrives;
    // without the list only the whole file tells which tensors are frames.
    const listed = kind === 'znn-safetensors' && call(() => glue.listsCompressed(head));
    const streamed = kind === 'znw' || kind === 'zipnn' || listed;
    // The module tells ours from ZipNN frames itself; a .znn.safetensors it must be told.
    const format = listed ? 'znn-safetensors' : undefined;
    // `remote` gives no job when its worker died after it was chosen: then decode here.
    this.job = streamed && this.remote ? this.remote(this.sink, this.maxOutput, format) : null;
    if (this.job) {
      this.mode = 'remote';
      const head = this.head;
      this.head = null;
      if (head.len) this.job.write(head.bytes(), false);
    } else if (streamed) {
      this.mode = 'stream';
      this.dec = made(call(() => new glue.StreamDecoder(this.maxOutput, this.checkBodies, format)));
      const head = this.head;
      this.head = null;
      if (head.len) return this.#push(head.bytes());
    } else {
      // Decided before the end, 'plain' is final: a sink that refuses plain input says so now
      // instead of buffering the rest.
      if (kind === 'plain' && !this.ended && this.sink.refusePlain) this.sink.refusePlain(head);
      this.mode = 'buffer';
      this.#checkHeld();
      const hint = Math.min(this.sizeHint, this.maxOutput ?? Infinity);
      if (hint > this.head.len) this.head.reserve(hint - this.head.len, true);
    }
  }

  /**
   * Input held whole (plain bytes, which are their own output; a .znn.safetensors that does not
   * list its compressed tensors; or input not yet told apart from those): `maxOutput` bounds it
   * too, so that no input makes this hold more than the caller allowed.
   */
  #checkHeld() {
    if (this.maxOutput === undefined || this.head.len <= this.maxOutput) return;
    const what = this.mode === 'sniff' ? 'is not yet known to be compressed' : this.kind === 'plain' ? 'is not compressed' : 'must be held whole to decode';
    throw new TooLargeError(`the input ${what} and holds more than maxOutput (${this.maxOutput}) bytes`);
  }

  /** Decodes u8; a promise when the sink asked to wait (decoding goes on once it resolves). */
  #push(u8) {
    const steps = this.#decode(u8);
    // Each step ends with a batch handed to the sink, whose consumer may close this session
    // (then the decoder is gone: stop).
    while (!steps.next().done && this.dec) {
      const wait = this.sink.wait?.();
      if (wait) return this.#resume(steps, wait);
    }
    return undefined;
  }

  async #resume(steps, wait) {
    for (;;) {
      await wait;
      do {
        if (!this.dec || steps.next().done || !this.dec) return;
        wait = this.sink.wait?.();
      } while (!wait);
    }
  }

  /** The decode loop, stopping after each batch handed to the sink. */
  *#decode(u8) {
    const dec = this.dec;
    for (let at = 0; at < u8.length; ) {
      // One copy: straight into the decoder's input staging in wasm memory (≥ 64 KiB of room,
      // ≤ 1 MiB or one record), where complete records are decoded in place.
      const room = call(() => dec.inputBuffer());
      const n = Math.min(room.length, u8.length - at);
      room.set(at === 0 && n === u8.length ? u8 : u8.subarray(at, at + n));
      at += n;
      let ready = call(() => dec.commit(n));
      // A commit stops once ~4 MiB are ready: drain, then go on while whole units are staged.
      for (;;) {
        if (!this.header) {
          const h = call(() => dec.takeHeader());
          if (h) {
            this.header = h;
            this.sink.header(h);
          }
        }
        if (ready > 0) {
          this.sink.data(ready, dec);
          yield;
        }
        if (!dec.pending()) break;
        ready = call(() => dec.commit(0));
      }
    }
  }
}
