// The page's side of sw.js: registers it and waits until it answers this page's requests.
// Resolves to false, and model URLs then go to the network as they are, where it cannot: no
// service workers here (not a secure context, a private window that forbids them), the worker
// fails to install, this page lies outside its scope, or it has not taken the page over within
// `timeout` ms (another worker with a narrower scope keeps it; one slower to install may still
// take the page over later).
//
//   import { useCompressedModels } from './register.mjs';
//   await useCompressedModels('/sw.js');
//   const session = await ort.InferenceSession.create('/models/model.onnx'); // model.onnx.znw
export async function useCompressedModels(swUrl = '/sw.js', { timeout = 10000 } = {}) {
  const sw = globalThis.navigator?.serviceWorker;
  if (!sw) return false;
  const script = new URL(swUrl, location.href).href;
  const ours = () => sw.controller?.scriptURL === script;
  let registration;
  try {
    registration = await sw.register(swUrl, { type: 'module' });
  } catch {
    return false;
  }
  if (!location.href.startsWith(registration.scope)) return false;
  if (ours()) return true;
  return new Promise((resolve) => {
    const done = (ok) => {
      clearTimeout(timer);
      sw.removeEventListener('controllerchange', changed);
      resolve(ok);
    };
    const timer = setTimeout(() => done(ours()), timeout);
    const changed = () => ours() && done(true);
    sw.addEventListener('controllerchange', changed);
    // A new worker claims the page once it is active; one that is active already (a reload
    // that bypassed it, such as Shift+Reload, or another worker controls the page) is asked to.
    // One that fails to install ends up redundant.
    const watch = (w) =>
      w?.addEventListener('statechange', () => {
        if (w.state === 'redundant' && !registration.active) done(false);
      });
    watch(registration.installing);
    watch(registration.waiting);
    registration.active?.postMessage('claim');
  });
}
