#!/usr/bin/env node
// Runs worker.js locally under workerd (npm i zipnn-wasm workerd), env.ASSETS = a folder of .znw files:
//   node examples/worker/serve.mjs MODELS_DIR [127.0.0.1:8787]
//   curl -o model.safetensors http://127.0.0.1:8787/models/model.safetensors   # MODELS_DIR/model.safetensors.znw, decoded
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { writeWorkerdConfig } from './workerd-config.mjs';

const [assets, address = '127.0.0.1:8787'] = process.argv.slice(2);
if (!assets) throw new Error('usage: serve.mjs MODELS_DIR [ADDRESS:PORT]');
// fileURLToPath, not .pathname: a path with a space would stay percent-encoded.
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(process.cwd(), 'noop.js'));
const pkg = path.dirname(require.resolve('zipnn-wasm/package.json'));
const workerd = process.env.WORKERD ?? path.join(path.dirname(require.resolve('workerd/package.json')), 'bin/workerd');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'znn-worker-'));
const config = writeWorkerdConfig({ dir, worker: path.join(here, 'worker.js'), pkg, assets, address });
const child = spawn(workerd, ['serve', config], { stdio: 'inherit' });
const stop = () => child.kill('SIGTERM');
process.on('SIGINT', stop).on('SIGTERM', stop);
child.on('exit', (code) => {
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(code ?? 0);
});
console.log(`serving ${assets} on http://${address}/models/NAME (NAME.znw, decoded)`);
