// The page's side of sw.js: registers it and waits until it answers this page's requests.
// Resolves to false where there is no service worker (not a secure context, a private window
// that forbids them): model URLs then go to the network as they are.
//
//   import { useCompressedModels } from './register.mjs';
//   await useCompressedModels('/sw.js');
//   const session = await ort.InferenceSession.create('/models/model.onnx'); // model.onnx.znw
export async function useCompressedModels(swUrl = '/sw.js') {
  const sw = globalThis.navigator?.serviceWorker;
  if (!sw) return false;
  try {
    await sw.register(swUrl, { type: 'module' });
  } catch {
    return false;
  }
  if (sw.controller) return true;
  const controlled = new Promise((resolve) => sw.addEventListener('controllerchange', resolve, { once: true }));
  // A new worker claims the page when it activates. One that was already active (a reload that
  // bypassed it, such as Shift+Reload) is asked to.
  (await sw.ready).active?.postMessage('claim');
  await controlled;
  return true;
}
