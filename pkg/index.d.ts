// Types for zipnn-wasm (the same API from every entry: browser, node, workerd).
// `Decompressor` is disposable (`using`) and the errors take `ErrorOptions`: these pull in
// `Symbol.dispose` and `ErrorOptions` for programs whose libs stop before them (the default libs
// of `target: es2022`, and of `es2020`).
/// <reference lib="esnext.disposable" />
/// <reference lib="es2022.error" />
// Needs TypeScript ≥ 5.7 (results are typed `Uint8Array<ArrayBuffer>`: they never share memory,
// except `decompress` with `threads`, typed accordingly).

/**
 * Bytes accepted as input: any ArrayBuffer (shared too) or a view of one. A call reads them
 * while it runs: once the module is loaded an in-thread call has read them before it returns
 * its promise, but the first call (which loads the module) and calls on the worker pool read
 * them later, so leave them unchanged until the promise settles. Transferred meanwhile, they
 * are an `InvalidInputError`.
 */
export type Bytes = ArrayBufferLike | ArrayBufferView;

/** What the functions return: a Uint8Array over its own, exactly sized ArrayBuffer. */
export type Output = Uint8Array<ArrayBuffer>;

/** Element type names (aliases such as `bfloat16`, `float32`, `F16` are accepted too). */
export type DType = 'auto' | 'bytes' | 'bf16' | 'fp16' | 'fp32' | 'fp64' | 'fp8-e4m3' | 'fp8-e5m2' | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q8_0' | 'q2_k' | 'q3_k' | 'q4_k' | 'q5_k' | 'q6_k' | (string & {});

/**
 * A compiled `WebAssembly.Module`: that type where the program's libs declare `WebAssembly`
 * (the DOM lib), any object otherwise (a node-only program with `lib: ["es2022"]`), so that
 * these typings compile either way.
 */
export type WasmModule = typeof globalThis extends { WebAssembly: { Module: new (...args: any[]) => infer M } } ? M : object;

/** One of `WasmSource`'s forms, not a promise. */
export type WasmSourceValue = WasmModule | Bytes | Response | Request | URL | string;

/**
 * Where the wasm module comes from when passed to `init` explicitly. A URL, string or Request is
 * fetched; in node, a `file:` URL or a file path is read from disk.
 */
export type WasmSource = WasmSourceValue | PromiseLike<WasmSourceValue>;

export interface InitOptions {
  /**
   * Decode a tiny embedded model for a few milliseconds in the next task, unless the module
   * has been used by then (a call, a `fetchModel`, a `ZnnDecompressionStream`) (default true;
   * never in workerd). The JS engine compiles the decoder's optimised code only after its
   * first code has run a while, and a call keeps the code it started with, so without this
   * the first `decompress()` of a large model in a fresh page or process runs at about half
   * speed. Workers given the module share the optimised code. The functions that load the
   * module themselves on first use do not warm up. `false` for a program that only compresses.
   */
  warmUp?: boolean | undefined;
}

/**
 * Loads the wasm module. Not needed normally: every function initialises on first use (the
 * browser entry fetches `dist/zipnn_wasm_bg.wasm` next to the module, node reads it from the
 * package, workerd imports it as a compiled module). Call it early (at page load, before the
 * model's download) and the first decode runs optimised code: see `InitOptions.warmUp`.
 * Idempotent: the module loads once, and the warm-up runs at most once.
 */
export function init(moduleOrBytes?: WasmSource, options?: InitOptions): Promise<void>;
/** Synchronous `init` from a compiled module or the .wasm bytes. */
export function initSync(moduleOrBytes: WasmModule | Bytes): void;

export interface CompressOptions {
  /**
   * How to code bytes whose container does not name their type. Tensors in a recognised
   * container (safetensors, ONNX, PyTorch zip, GGUF, TFLite, NumPy npy/npz) always use their own type; a raw file is
   * coded as this type. `'auto'` (the default) measures which grouping codes a sample of the file
   * smallest, plain bytes included (text, executables), and uses it for the whole file; `'fp64'`
   * only when it codes the sample at least 2 % smaller than the best other grouping.
   * Required (a float type) for `format: 'zipnn'`, which codes the whole input as that type.
   */
  dtype?: DType | undefined;
  /** `'znw'` (default): this package's format, streamable with checksums. `'zipnn'`: frames that IBM's zipnn (Python) reads. */
  format?: 'znw' | 'zipnn' | undefined;
  /** Chunk size in bytes, default 256 KiB (ZipNN fp8: 128 KiB): `.znw` a multiple of 4 up to 16 MiB; `'zipnn'` a power of two from 1 KiB to 1 GiB. */
  chunkSize?: number | null | undefined;
  /** `.znw`: decode every chunk after encoding it and compare (`InvalidInputError` with `'zipnn'`). */
  verify?: boolean | undefined;
  /** `'zipnn'` only (else `InvalidInputError`): write ZipNN's streaming layout of independent frames of this many bytes (a power of two from 256 bytes to 2 GiB). */
  streamingChunk?: number | null | undefined;
  /**
   * `.znw`: called every few MiB with the input bytes coded so far (synchronously, from inside
   * the call: in a worker, post it to the page). An exception it throws is rethrown at the end.
   */
  onProgress?: ((event: { done: number; total: number }) => void) | undefined;
}

export interface DecompressOptions {
  /** Reject input that would decode to more than this many bytes (`TooLargeError`). */
  maxOutput?: number | null | undefined;
}

export interface ThreadsOptions {
  /**
   * Decode a file whose decoded size is 2 MiB or more (`.znw`, ZipNN frames, `.znn.safetensors`)
   * on this many workers (`'auto'`: one per core, at most 8), each with its own wasm instance,
   * started on first use and reused, writing into one SharedArrayBuffer. Only where memory can
   * be shared: node, or a cross-origin isolated page (COOP `same-origin` + COEP `require-corp`);
   * elsewhere, for smaller output, and in Cloudflare Workers it decodes in-thread, without an
   * error. Default 1 (in-thread).
   */
  threads?: number | 'auto' | undefined;
  /**
   * Rejects with `signal.reason` once aborted. Runs a worker is decoding at that moment finish
   * there, unused: `decompressInto`'s `target` may still be written for a few milliseconds.
   */
  signal?: AbortSignal | undefined;
}

/**
 * Compresses `bytes` (whole, in memory). Input and output share wasm's 4 GiB: float weights fit
 * up to about 1.95 GiB; beyond (and past 2^31 − 1 bytes) it is a `TooLargeError`.
 */
export function compress(bytes: Bytes, options?: CompressOptions): Promise<Output>;
/** Decompresses `.znw`, ZipNN `.znn` (single or streaming frames) and `.znn.safetensors`. Throws `NotCompressedError` for anything else. */
export function decompress(bytes: Bytes, options?: DecompressOptions & { threads?: 1 | undefined; signal?: AbortSignal | undefined }): Promise<Output>;
/**
 * With `threads`, a result decoded by the worker pool is a view of a SharedArrayBuffer (no
 * copy at the end). APIs that refuse shared memory (WebCrypto, `TextDecoder` in browsers) need
 * a plain copy: `result.slice()` (one pass over fresh memory: about as long as the decode's
 * page faults, see bench/NOTES.md).
 */
export function decompress(bytes: Bytes, options: DecompressOptions & ThreadsOptions): Promise<Output | Uint8Array<SharedArrayBuffer>>;
/**
 * Decompresses into `target`, which must have exactly the decoded size (see `inspect(...).totalSize`)
 * and must not overlap `bytes` (`InvalidInputError`; views of two SharedArrayBuffer objects,
 * which may share memory, are decoded from a copy of `bytes`). Resolves to that size. `threads` applies when `target` is a view of a SharedArrayBuffer.
 */
export function decompressInto(bytes: Bytes, target: Bytes, options?: ThreadsOptions): Promise<number>;

/**
 * Decodes whole files in wasm memory kept from call to call: no copy of the output out of wasm
 * memory, and no copy of the input in when you fill `inputBuffer(n)` yourself (from a file
 * read or network chunks). Synchronous. Each returned view is valid until the next call into
 * the module (a call may grow wasm memory, which empties every view, or write other bytes
 * where an old view looks): use it at once or `.slice()` it. Holds the largest input and
 * output seen until `release()`; each at most 2^31 − 1 bytes (`TooLargeError` beyond: use
 * `decompress` or `decompressInto` for larger files).
 */
export class Decompressor {
  /** Throws `ZnnError` (`ZNN_INIT`) unless the module is loaded: `await init()` first, or use `create`. */
  constructor(options?: DecompressOptions);
  static create(options?: DecompressOptions): Promise<Decompressor>;
  /** Decodes `bytes` (read a piece at a time): a view of the decoded bytes in wasm memory. */
  decompress(bytes: Bytes): Uint8Array<ArrayBuffer>;
  /** A view of `length` bytes of wasm memory to write the next compressed file into. */
  inputBuffer(length: number): Uint8Array<ArrayBuffer>;
  /** Decodes the first `length` bytes written into `inputBuffer`: a view of the decoded bytes. */
  decompressInput(length: number): Uint8Array<ArrayBuffer>;
  /** Frees both buffers; the next call allocates them anew. */
  release(): void;
  [Symbol.dispose](): void;
}

export interface Segment {
  /**
   * Tensor name; `__header__` is a safetensors JSON header, `__padding__` bytes between tensors.
   * In a PyTorch zip (`.pth`) the segments are its storages: a storage that holds one tensor whole
   * takes the tensor's name and shape and torch's dtype name (`float32`); any other (shared by
   * several tensors, a partial or transposed view, a name that repeats) stays `archive/data/N`
   * with shape `[]` (dtype `storage` where the pickle cannot be read).
   */
  name: string;
  /** Element type as the container names it (`BF16`, `F32`, `I64`, `JSON`, ...), else the coding type. */
  dtype: string;
  shape: number[];
  /** Offset of the segment in the decoded file. */
  offset: number;
  /** Length in bytes. */
  length: number;
}

export interface InspectSegment extends Segment {
  /** The container's type name (`BF16`, `I64`, `JSON`, ...); here `dtype` is the coding type (`bf16`, `bytes`, ...). */
  label: string;
  /** Compressed bytes attributed to this segment. */
  compressed: number;
}

export interface InspectReport {
  format: 'znw' | 'zipnn' | 'znn-safetensors';
  container: 'raw' | 'safetensors' | 'onnx' | 'pytorch-zip' | 'gguf' | 'tflite' | 'npz' | 'npy';
  totalSize: number;
  compressedSize: number;
  chunkSize: number;
  /** `.znw`: chunks; ZipNN files: frames (one frame holds many chunks). */
  chunks: number;
  segments: InspectSegment[];
  /** For data stored as plain bytes: a dtype that would compress better, measured on a sample. */
  suggestion: { dtype: string; ratio: number; currentRatio: number } | null;
  /**
   * `.znw` deltas only (made by the native CLI's `compress --base`; decoding needs the base,
   * which this package does not take): the base's size and XXH3-64 (16 hex digits), the
   * decoded bytes XORed with moved tensors of the base, and those coded as they are.
   */
  delta?: { baseSize: number; baseXxh3: string; moved: number; unxored: number };
  /**
   * `.znw`: the blocks of each coder the encoder chose (`mode` is the block's mode byte,
   * `name` such as `'raw'`, `'huff0'`, `'tANS'`, `'context: exponent history'`; `bytes`
   * includes each block's mode byte and length field). Empty for ZipNN files.
   */
  modes: { mode: number; name: string; blocks: number; bytes: number }[];
  /**
   * ZipNN frames only (their `segments` are the frames, in the decoded output): the zipnn
   * version and element type of the first frame, the streaming chunk (`null` for a single
   * frame), and each frame's place in the file.
   */
  version?: string;
  dtype?: string;
  streamingChunk?: number | null;
  frames?: { offset: number; length: number; decodedLength: number; /** Holds data XORed with a base file (decoding needs it). */ delta: boolean }[];
}

/** How many leading bytes of a file `decodedSize` needs (24). */
export const DECODED_SIZE_PREFIX: number;
/**
 * The decoded size a `.znw` file states in its first `DECODED_SIZE_PREFIX` bytes (to set
 * Content-Length, say), or `undefined` when they do not say (too short, not `.znw`, or written
 * as a stream of unknown size) or state more than `Number.MAX_SAFE_INTEGER` bytes.
 * Synchronous and needs no wasm; the decoder checks the header later.
 */
export function decodedSize(prefix: Bytes): number | undefined;

/**
 * Random access to input that is not one buffer: a file read at offsets. `read` is called
 * synchronously, a piece at a time (headers and record heads, mostly a few bytes; a
 * safetensors JSON header whole; for a raw file stored as bytes, its first chunks as a 4 MiB
 * sample), and must return exactly `length` bytes at `offset` (fewer: the input ended early,
 * a `TruncatedError`). In node, over a file descriptor, with `fs.readSync` called until
 * `length` bytes are read or it returns 0 (pkg/README.md); in a Web Worker, with
 * `FileReaderSync` over `file.slice(offset, offset + length)`.
 */
export interface RandomAccessReader {
  /** Total bytes (a whole number below 2^53; may exceed 4 GiB). */
  readonly size: number;
  /** Exactly `length` bytes at `offset`. What it throws, `inspect` rejects with as it is. */
  read(offset: number, length: number): Bytes;
}

/**
 * The header and segment table of a compressed buffer (`.znw`; a `.znn.safetensors` file each
 * tensor as restored, with its frame's type as `dtype`; ZipNN frames one segment each). Reads
 * the headers where they are (and, for a raw file stored as bytes, a 4 MiB sample): the buffer
 * is not copied into wasm memory, so a file of several GB (up to 4 GiB - 1) can be inspected;
 * through a `RandomAccessReader`, a file of any size.
 */
export function inspect(input: Bytes | RandomAccessReader): Promise<InspectReport>;

/**
 * Opens a compressed file (`.znw`, ZipNN `.znn` or `.znn.safetensors`) for reads at decoded
 * offsets: one tensor at a time, as safetensors' `safe_open` reads one, decoding only the
 * chunks that hold it (a `.znw` chunk verified as a whole decode verifies it: a damaged chunk
 * fails only the reads that need it; ZipNN files carry no checksums). `input` is the file's
 * bytes, read where they are (not copied: do not change them while the file is open), or a
 * `RandomAccessReader`: a file of any size, also one whose decoded size is larger than wasm
 * memory. Reads the headers now: every `.znw` record head, every ZipNN frame header, a
 * `.znn.safetensors` JSON header. Deltas: `UnsupportedError` (they need their base file).
 */
export function openFile(input: Bytes | RandomAccessReader, options?: DecompressOptions): Promise<CompressedFile>;

/**
 * A compressed file opened by `openFile`. Reads are synchronous; the last chunk decoded is
 * kept, so a parser may read a file in small pieces. Memory in wasm: the index (about 40 bytes
 * a `.znw` chunk: 1.4 MB for a 9 GB model; a ZipNN frame's header, and the chunk tables of the
 * frame last read), plus one chunk and its compressed bytes.
 */
export declare class CompressedFile {
  private constructor();
  /** The decoded size. */
  readonly size: number;
  /** What kind of file the decoded bytes are. */
  readonly container: InspectReport['container'];
  /**
   * Where each tensor lies in the decoded file (empty for a `.znw` stream compressed without
   * its size). A file of ZipNN frames lists its frames (`frame 0`, ...), as `inspect` does.
   */
  readonly segments: readonly Readonly<Segment>[];
  /** `length` decoded bytes at `offset` (`InvalidInputError` past the end). */
  read(offset: number, length: number): Output;
  /** Fills `target` with the decoded bytes at `offset`; it must not overlap the input bytes. */
  readInto(offset: number, target: Bytes): void;
  /** Frees the index and buffers in wasm memory; later calls throw `InvalidInputError`. */
  close(): void;
  [Symbol.dispose](): void;
}

/**
 * Decompresses a byte stream, used like the platform's `DecompressionStream`:
 * `response.body.pipeThrough(new ZnnDecompressionStream())`. Any input chunking works; decoded
 * bytes are emitted as soon as each chunk's checksum verified; ZipNN frames as each frame
 * arrives whole; a `.znn.safetensors` file a tensor at a time when its metadata lists its
 * compressed tensors (a tensor that arrives before its turn in the restored order is held; one
 * without that list is buffered and decoded at the end). Like
 * `DecompressionStream`, a `{ readable, writable }` pair rather than a `TransformStream`.
 */
export class ZnnDecompressionStream {
  constructor(options?: DecompressionStreamOptions);
  /** Decoded bytes; decoding waits while 8 MiB are queued here unread. */
  readonly readable: ReadableStream<Output>;
  readonly writable: WritableStream<Bytes>;
}

export interface DecompressionStreamOptions extends DecompressOptions {
  /**
   * Also verify every `.znw` chunk's body checksum, as `zipnn test` does: any changed bit of
   * the file is then an error, even one that cannot change a decoded byte (decoding always
   * verifies the decoded bytes). About 10 % slower. ZipNN files carry no checksums.
   */
  checkBodies?: boolean | undefined;
  /**
   * Decoded bytes queued for a reader that is slower than the decoder before decoding pauses
   * (default 8 MiB). Lower it where many slow downloads share memory (a Worker's 128 MB):
   * decoding still goes a chunk (256 KiB by default) at a time.
   */
  highWaterMark?: number | undefined;
}

export interface CompressionStreamOptions {
  /** Element type of the whole stream (a stream has no container to read; default `'auto'`: the grouping that makes the first chunk smallest, for the whole stream; for a safetensors stream, the first chunk past its JSON header). Required for `format: 'zipnn'`. */
  dtype?: DType | undefined;
  format?: 'znw' | 'zipnn' | undefined;
  /** Chunk size, as for `compress`. */
  chunkSize?: number | null | undefined;
  /** `'zipnn'` only (else `InvalidInputError`): bytes per frame (a power of two from 256 bytes to 1 GiB: a frame's input is held in wasm memory), default 1 MiB. */
  streamingChunk?: number | null | undefined;
  /**
   * `'znw'`: the input's length in bytes, when known (`file.size`). The header then carries
   * the size and, for safetensors and GGUF files, the tensor table: each tensor is coded as
   * its own type and the output is what `compress` writes, for those files of any size and
   * any file of up to 32 MiB (wasm memory holds the first 32 MiB, then one chunk; larger
   * files of other kinds are coded as one element type, measured on those 32 MiB). Input of another length is an
   * `InvalidInputError`.
   */
  size?: number | null | undefined;
  /** With `size`: decode every chunk again as it is written and compare, as `compress`'s `verify`. */
  verify?: boolean | undefined;
}

/** Compresses a byte stream of unknown length (the `.znw` header then carries no size). */
export class ZnnCompressionStream extends TransformStream<Bytes, Output> {
  constructor(options?: CompressionStreamOptions);
  /**
   * With `size`, once the stream has ended: what `inspect` would report of the output
   * (per-tensor compressed sizes), without reading it back. Otherwise `undefined`.
   */
  readonly report: InspectReport | undefined;
}

export interface ProgressEvent {
  status: 'progress';
  url: string;
  /** Compressed bytes received. */
  loaded: number;
  /** Content-Length when the server sent one (0 until the end otherwise; the last event has loaded === total). */
  total: number;
  /** `loaded / total * 100` (0 while the total is unknown). */
  progress: number;
  /** Decoded bytes written so far. */
  decoded: number;
  /** Decoded size from the header, when known before the end. */
  decodedTotal: number | undefined;
}

export interface TensorEvent extends Segment {
  /** A view of the tensor's bytes inside the result buffer. */
  bytes: Uint8Array<ArrayBuffer>;
}

export interface FetchModelOptions extends DecompressOptions {
  /** Called after each body chunk, then once at the end (transformers.js `progress_callback` style). A promise it returns is handled as `onTensor`'s. */
  onProgress?: ((event: ProgressEvent) => void | PromiseLike<unknown>) | undefined;
  /**
   * Called once per tensor as soon as its bytes are decoded (header and padding segments are
   * skipped). What it throws rejects the download. A promise it returns (an async upload) is
   * awaited before `fetchModel` resolves, and its rejection rejects the download at once;
   * decoding does not wait for it.
   */
  onTensor?: ((event: TensorEvent) => void | PromiseLike<unknown>) | undefined;
  /** Aborts the download and decode: the promise rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /**
   * Where the decode runs. By default (undefined) in a worker (browsers: a module `Worker`;
   * node: a `worker_threads` worker), reused across calls, so the download overlaps the decode,
   * for bodies of 1 MiB or more or of unknown size, or whose `.znw` header names 16 MiB or
   * more; in-thread where no worker can start (Cloudflare Workers, a CSP without worker-src),
   * for smaller bodies, and for a download whose worker has not loaded 2 s after 16 MiB of the
   * body arrived. `false` always decodes in-thread; `true` uses the worker whenever one is
   * available, whatever the size.
   */
  worker?: boolean | undefined;
  /**
   * Refuse a response that is not compressed (`NotCompressedError`, as soon as its first bytes
   * show it) instead of returning it unchanged. Without it, a web page (Content-Type
   * `text/html`: many servers answer a missing file with their index page and status 200) is
   * refused all the same.
   */
  requireCompressed?: boolean | undefined;
  /** The `fetch` to use (default `globalThis.fetch`). */
  fetch?: ((input: string | URL | Request, init?: RequestInit) => Promise<Response>) | undefined;
}

/**
 * Downloads a (compressed) model and decodes it while it streams in, into one ArrayBuffer
 * allocated from the header's size. Uncompressed responses are returned unchanged (except web
 * pages; see `requireCompressed`).
 */
export function fetchModel(input: string | URL | Request | Response, options?: FetchModelOptions): Promise<ArrayBuffer>;

export type ErrorCode =
  | 'ZNN_NOT_COMPRESSED'
  | 'ZNN_TRUNCATED'
  | 'ZNN_CORRUPT'
  | 'ZNN_UNSUPPORTED'
  | 'ZNN_TOO_LARGE'
  | 'ZNN_INVALID_INPUT'
  | 'ZNN_INTERNAL'
  | 'ZNN_HTTP'
  | 'ZNN_NETWORK'
  | 'ZNN_INIT'
  /** A `ZnnError` constructed without a code. */
  | 'ZNN_ERROR';

/** Base class of every error thrown by this package. */
export class ZnnError extends Error {
  constructor(message: string, code?: ErrorCode, options?: ErrorOptions);
  readonly code: ErrorCode;
}
/** The input has no magic number we know (`ZNN_NOT_COMPRESSED`). */
export class NotCompressedError extends ZnnError {
  constructor(message: string, options?: ErrorOptions);
}
/** The input ends early (`ZNN_TRUNCATED`). */
export class TruncatedError extends ZnnError {
  constructor(message: string, options?: ErrorOptions);
}
/** The input is malformed or a checksum failed (`ZNN_CORRUPT`). */
export class CorruptError extends ZnnError {
  constructor(message: string, options?: ErrorOptions);
}
/** A valid feature this version does not implement (`ZNN_UNSUPPORTED`). */
export class UnsupportedError extends ZnnError {
  constructor(message: string, options?: ErrorOptions);
}
/** Beyond `maxOutput`, wasm's 4 GiB, or memory (`ZNN_TOO_LARGE`). */
export class TooLargeError extends ZnnError {
  constructor(message: string, options?: ErrorOptions);
}
/** Bad arguments (`ZNN_INVALID_INPUT`). */
export class InvalidInputError extends ZnnError {
  constructor(message: string, options?: ErrorOptions);
}
/** A bug inside the wasm module; the module was reset and later calls work (`ZNN_INTERNAL`). */
export class InternalError extends ZnnError {
  constructor(message: string, options?: ErrorOptions);
}
/** `fetchModel`'s request or body failed below HTTP: refused, reset, DNS (`ZNN_NETWORK`; `cause` has the host's error). */
export class NetworkError extends ZnnError {
  constructor(message: string, options?: ErrorOptions);
}
/** `fetchModel` got a non-2xx response (`ZNN_HTTP`). */
export class HttpError extends ZnnError {
  /** From the response `fetchModel` got: its status and URL make the message. */
  constructor(response: Response);
  readonly status: number;
  readonly url: string;
}
