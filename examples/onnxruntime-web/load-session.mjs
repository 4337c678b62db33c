// Create an onnxruntime-web InferenceSession from a compressed model: each file (the .onnx and
// any ONNX external-data files) is downloaded and decoded at the same time by zipnn-wasm's
// fetchModel, straight into one ArrayBuffer of the original size. Uncompressed URLs work too
// (fetchModel hands uncompressed responses back as they are).
//
//   import * as ort from 'onnxruntime-web';
//   const session = await createSession(ort, '/models/model.onnx.znw', {
//     externalData: [{ path: 'model.onnx_data', url: '/models/model.onnx_data.znw' }],
//     executionProviders: ['wasm'],
//   });
//
// `ort` is passed in, so the same code serves onnxruntime-web, onnxruntime-web/webgpu and
// onnxruntime-node (same API).
import { fetchModel } from 'zipnn-wasm';

/**
 * @param {typeof import('onnxruntime-web')} ort
 * @param {string | URL} url the model (.onnx.znw, or a plain .onnx)
 * @param {object} [options] InferenceSession options, plus:
 * @param {{ path: string, url: string | URL }[]} [options.externalData] external-data files: `path` as the
 *   .onnx names it (its `location`), `url` where the compressed (or plain) file is
 * @param {(e: import('zipnn-wasm').ProgressEvent) => void} [options.onProgress] called for every file
 * @param {AbortSignal} [options.signal]
 */
export async function createSession(ort, url, { externalData = [], onProgress, signal, ...sessionOptions } = {}) {
  const load = (u) => fetchModel(u, { onProgress, signal });
  const [model, ...data] = await Promise.all([load(url), ...externalData.map((d) => load(d.url))]);
  if (externalData.length) {
    sessionOptions.externalData = externalData.map((d, i) => ({ path: d.path, data: new Uint8Array(data[i]) }));
  }
  return ort.InferenceSession.create(new Uint8Array(model), sessionOptions);
}
