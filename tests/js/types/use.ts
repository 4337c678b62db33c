// A program using the package's API, compiled by tests/js/types.test.mjs against the installed
// typings (index.d.ts) with the DOM lib and node-only: it must type-check both ways, and the
// misuses marked @ts-expect-error must be refused.
import {
  compress,
  CorruptError,
  decodedSize,
  decompress,
  decompressInto,
  Decompressor,
  fetchModel,
  HttpError,
  init,
  initSync,
  inspect,
  openFile,
  CompressedFile,
  TruncatedError,
  ZnnCompressionStream,
  ZnnDecompressionStream,
  ZnnError,
  type Output,
  type ProgressEvent,
  type RandomAccessReader,
  type TensorEvent,
} from 'zipnn-wasm';

export async function use(body: ReadableStream<Uint8Array>, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
  await init();
  const plain: ReadableStream<Uint8Array> = body.pipeThrough(new ZnnDecompressionStream({ checkBodies: true, maxOutput: 1e9 }));
  // Where the platform's DecompressionStream goes.
  const slot: TransformStream<Uint8Array, Uint8Array> = new ZnnDecompressionStream();
  console.log(slot.readable.locked);
  for await (const chunk of plain.pipeThrough(new ZnnCompressionStream({ dtype: 'bf16', format: 'zipnn', streamingChunk: 1 << 20 }))) {
    const c: Uint8Array<ArrayBuffer> = chunk;
    console.log(c.byteLength);
  }
  // A file of known size: the same .znw as compress(), and inspect()'s report at the end.
  const sized = new ZnnCompressionStream({ size: bytes.byteLength, chunkSize: 1 << 20 });
  await body.pipeThrough(sized).pipeTo(new WritableStream());
  const perTensor: number[] = sized.report?.segments.map((s) => s.compressed) ?? [];
  console.log(perTensor);
  const ab: ArrayBuffer = await fetchModel('model.znw', {
    onProgress: ({ loaded, total, progress, decoded, decodedTotal }: ProgressEvent) => console.log(loaded, total, progress, decoded, decodedTotal),
    onTensor: ({ name, dtype, shape, bytes, offset, length }: TensorEvent) => console.log(name, dtype, shape, bytes.byteLength, offset, length),
    signal: AbortSignal.timeout(1000),
    worker: false,
    maxOutput: 10,
    fetch: (input, options) => fetch(input, options),
  });
  await fetchModel(new URL('https://example.invalid/model.znw'));
  await fetchModel(new Response(bytes));
  const out: Output = await decompress(ab, { maxOutput: 5 });
  const shared = await decompress(bytes, { threads: 2 });
  console.log(shared.byteLength, await decompressInto(bytes, new Uint8Array(out.length)));
  const size: number | undefined = decodedSize(out.subarray(0, 24));
  const info = await inspect(out);
  console.log(size, info.segments[0]?.label, info.frames?.[0]?.decodedLength);
  // A file read at offsets, of any size.
  const reader: RandomAccessReader = { size: 5e9, read: (offset, length) => out.subarray(offset % 8, (offset % 8) + length) };
  console.log((await inspect(reader)).compressedSize);
  // @ts-expect-error read is synchronous
  await inspect({ size: 8, read: async (offset: number, length: number) => out.subarray(offset, offset + length) });
  // One tensor of a file read at offsets, into a buffer of the caller's.
  using file: CompressedFile = await openFile(reader, { maxOutput: 1e10 });
  const seg = file.segments.find((s) => s.name === 'lm_head.weight');
  const tensor: Uint8Array<ArrayBuffer> = file.read(seg?.offset ?? 0, seg?.length ?? 0);
  file.readInto(0, new Uint8Array(new SharedArrayBuffer(8)));
  console.log(file.size, file.container === 'safetensors', tensor.length, (await openFile(out)).size);
  // @ts-expect-error CompressedFile comes from openFile
  new CompressedFile();
  await compress(new DataView(ab), { dtype: 'bfloat16', onProgress: ({ done, total }) => console.log(done, total) });
  await compress(new SharedArrayBuffer(8), { format: 'zipnn', dtype: 'fp16' });
  using d = await Decompressor.create({ maxOutput: 1 << 30 });
  // Views of wasm memory, which is never shared: usable where an ArrayBuffer-backed view is
  // required (WebGPU's writeBuffer, Blob, crypto.subtle).
  const view: Uint8Array<ArrayBuffer> = d.decompress(bytes);
  const input: Uint8Array<ArrayBuffer> = d.inputBuffer(bytes.length);
  input.set(bytes);
  const decoded: Uint8Array<ArrayBuffer> = d.decompressInput(bytes.length);
  console.log(view.length, decoded.length);
  // The subclasses take (message, options): the code comes with the class.
  console.log(new CorruptError('bad', { cause: view }).cause, new ZnnError('x', 'ZNN_CORRUPT', { cause: 1 }).code);
  console.log(new HttpError(new Response(null, { status: 404 })).status);
  // @ts-expect-error a subclass's code is its own
  new CorruptError('bad', 'ZNN_CORRUPT');
  try {
    initSync(bytes);
  } catch (e) {
    if (e instanceof HttpError) console.log(e.status, e.url);
    if (e instanceof ZnnError) console.log(e.code satisfies string);
    if (e instanceof TruncatedError) console.log(e.code);
  }
  // @ts-expect-error the module (or its bytes) is needed
  initSync();
  await init(undefined, { warmUp: false });
  // @ts-expect-error warmUp is a boolean
  await init(undefined, { warmUp: 'no' });
  // @ts-expect-error text is not bytes
  await decompress('not bytes');
  // @ts-expect-error maxOutput is a number
  new ZnnDecompressionStream({ maxOutput: '5' });
  // @ts-expect-error the segments are the file's, read-only
  file.segments.sort((a, b) => a.length - b.length);
}

/** Options passed on as they came (possibly undefined), and `maxOutput: null` (no limit). */
export async function passOn(bytes: Uint8Array, o: { maxOutput?: number; signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void; dtype?: string }): Promise<void> {
  const { maxOutput, signal, onProgress, dtype } = o;
  await fetchModel('model.znw', { maxOutput, signal, onProgress, onTensor: undefined, worker: undefined });
  await decompress(bytes, { maxOutput, signal });
  await decompress(bytes, { maxOutput: null, threads: undefined });
  new ZnnDecompressionStream({ maxOutput, checkBodies: undefined, highWaterMark: undefined });
  new ZnnCompressionStream({ dtype, size: undefined, chunkSize: null });
  await compress(bytes, { chunkSize: null, streamingChunk: null });
  await compress(bytes, { dtype, chunkSize: undefined, onProgress: undefined });
  await init(fetch('zipnn_wasm_bg.wasm'), { warmUp: undefined });
  await init(new Request('zipnn_wasm_bg.wasm'));
  await init(Promise.resolve(new URL('zipnn_wasm_bg.wasm', 'https://example.com/')));
}
