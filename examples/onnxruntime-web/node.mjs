#!/usr/bin/env node
// Runs silero VAD, stored compressed, with onnxruntime-web in node:
//   target/release/zipnn compress models/silero_vad.onnx -o silero_vad.onnx.znw
//   node examples/onnxruntime-web/node.mjs http://127.0.0.1:8080/silero_vad.onnx.znw
// (any URL, or a local path: it is read and handed to fetchModel as a Response).
import fs from 'node:fs';
import * as ort from 'onnxruntime-web';
import { createSession } from './load-session.mjs';

ort.env.wasm.numThreads = 1;
const arg = process.argv[2];
if (!arg) throw new Error('usage: node.mjs URL_OR_PATH_OF_silero_vad.onnx.znw');
const source = /^https?:/.test(arg) ? arg : new Response(fs.readFileSync(arg));

const session = await createSession(ort, source, { executionProviders: ['wasm'] });
const audio = Float32Array.from({ length: 512 }, (_, i) => 0.5 * Math.sin(i / 3));
const out = await session.run({
  input: new ort.Tensor('float32', audio, [1, 512]),
  state: new ort.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]),
  sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []),
});
console.log(`speech probability of a 512-sample tone: ${out.output.data[0].toFixed(4)}`);
