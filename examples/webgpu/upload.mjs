// Upload a compressed model into WebGPU buffers while it downloads: zipnn-wasm's fetchModel calls
// onTensor as soon as each tensor's bytes are decoded (and checksum-verified), and each tensor
// goes straight into its own GPUBuffer with device.queue.writeBuffer (which copies at once, so
// the decoded bytes need not stay around for the GPU's sake).
//
//   const adapter = await navigator.gpu.requestAdapter();
//   const device = await adapter.requestDevice({ requiredLimits: { maxBufferSize: adapter.limits.maxBufferSize } });
//   const tensors = await loadToGpu(device, '/models/model.safetensors.znw');
//   tensors.get('embeddings.word_embeddings.weight').buffer   // a GPUBuffer
import { fetchModel } from 'zipnn-wasm';

/**
 * @param {GPUDevice} device
 * @param {string | URL} url a compressed safetensors / ONNX file (.znw), or a plain one
 * @param {object} [options]
 * @param {number} [options.usage] GPUBufferUsage flags (COPY_DST is added)
 * @param {(t: { name: string, dtype: string, shape: number[], buffer: GPUBuffer }) => void} [options.onUpload]
 * @param {(e: import('zipnn-wasm').ProgressEvent) => void} [options.onProgress]
 * @param {AbortSignal} [options.signal]
 * @returns {Promise<Map<string, { buffer: GPUBuffer, dtype: string, shape: number[], byteLength: number }>>}
 *   Buffers are padded to a multiple of 4 bytes (WebGPU's copy granularity); byteLength is the
 *   tensor's own size.
 */
export async function loadToGpu(device, url, { usage = GPUBufferUsage.STORAGE, onUpload, onProgress, signal } = {}) {
  const tensors = new Map();
  await fetchModel(url, {
    onProgress,
    signal,
    onTensor({ name, dtype, shape, bytes }) {
      const whole = bytes.byteLength & ~3;
      const buffer = device.createBuffer({ label: name, size: Math.max(4, (bytes.byteLength + 3) & ~3), usage: usage | GPUBufferUsage.COPY_DST });
      if (whole) device.queue.writeBuffer(buffer, 0, bytes, 0, whole);
      if (whole < bytes.byteLength) {
        const tail = new Uint8Array(4); // writeBuffer sizes must be multiples of 4
        tail.set(bytes.subarray(whole));
        device.queue.writeBuffer(buffer, whole, tail);
      }
      tensors.set(name, { buffer, dtype, shape, byteLength: bytes.byteLength });
      onUpload?.({ name, dtype, shape, buffer });
    },
  });
  return tensors;
}
