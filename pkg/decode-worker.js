// fetchModel's decode worker for browsers (a module Worker started by index.js): see lib/worker.js.
import { __runDecodeWorker } from './lib/host.js';

__runDecodeWorker({
  post: (m, transfer) => self.postMessage(m, transfer),
  listen: (onMessage) => self.addEventListener('message', (e) => onMessage(e.data)),
});
