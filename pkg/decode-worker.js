// fetchModel's decode worker for browsers (a module Worker started by index.js): see lib/worker.js.
// Every module it runs is named here, so that the worker asks for them all at once (see core.js).
import './dist/zipnn_wasm.js';
import './lib/errors.js';
import './lib/checks.js';
import './lib/buffers.js';
import './lib/wasm.js';
import './lib/worker.js';
import { __runDecodeWorker } from './lib/host.js';

__runDecodeWorker({
  post: (m, transfer) => self.postMessage(m, transfer),
  listen: (onMessage) => self.addEventListener('message', (e) => onMessage(e.data)),
});
