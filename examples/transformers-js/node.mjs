#!/usr/bin/env node
// transformers.js loading a model whose weights are stored compressed, through ZnnCache.
// Serve a model folder laid out like the Hub (HOST/MODEL/resolve/main/...) where each
// onnx/*.onnx (and .onnx_data) has a .znw twin made by `zipnn compress`, then:
//   node examples/transformers-js/node.mjs http://127.0.0.1:8080/ my-model
import { env, pipeline } from '@huggingface/transformers';
import { ZnnCache } from './znn-cache.mjs';

const [host = 'http://127.0.0.1:8080/', model = 'minilm'] = process.argv.slice(2);
env.remoteHost = host;
env.allowLocalModels = false;
env.useCustomCache = true;
env.customCache = new ZnnCache(); // model.onnx comes from model.onnx.znw, decoded as it downloads

const extractor = await pipeline('feature-extraction', model, { dtype: 'fp32' });
const out = await extractor(['A man is eating food.', 'A man is eating bread.'], { pooling: 'mean', normalize: true });
const [a, b] = out.tolist();
console.log(`cosine similarity: ${a.reduce((s, x, i) => s + x * b[i], 0).toFixed(4)}`);
