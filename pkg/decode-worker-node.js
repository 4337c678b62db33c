// fetchModel's decode worker for node (a worker_threads Worker started by node.js): see lib/worker.js.
import { parentPort } from 'node:worker_threads';
import { __runDecodeWorker } from './lib/host.js';

__runDecodeWorker({
  post: (m, transfer) => parentPort.postMessage(m, transfer),
  listen: (onMessage) => parentPort.on('message', onMessage),
});
