// Writes a workerd config (capnp) that runs worker.js with zipnn-wasm, env.ASSETS being a disk
// service over a folder of .znw files. Used by serve.mjs and by the integration test.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Lays out `dir` (worker module, the package's files, config.capnp) and returns the config path.
 * @param {object} o
 * @param {string} o.dir          an empty folder for the bundle
 * @param {string} o.worker       the worker's main module (imports 'zipnn-wasm')
 * @param {string[]} [o.modules]  more ES modules next to it (imported as './NAME')
 * @param {string} o.pkg          the installed zipnn-wasm folder (node_modules/zipnn-wasm)
 * @param {string} o.assets       the folder served as env.ASSETS
 * @param {string} o.address      e.g. '127.0.0.1:8787'
 * @param {string[]} [o.v8Flags]
 */
export function writeWorkerdConfig({ dir, worker, modules = [], pkg, assets, address, v8Flags = [] }) {
  const embed = [];
  for (const f of [worker, ...modules]) {
    fs.copyFileSync(f, path.join(dir, path.basename(f)));
    embed.push(`(name = "${path.basename(f)}", esModule = embed "${path.basename(f)}")`);
  }
  // The package as workerd resolves it: the bare name is the module of that name, its relative
  // imports are found beside it, the .wasm is a compiled wasm module.
  fs.symlinkSync(path.resolve(pkg), path.join(dir, 'pkg'));
  const entry = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')).exports['.'].workerd.replace('./', '');
  embed.push(`(name = "zipnn-wasm", esModule = embed "pkg/${entry}")`);
  const files = ['core.js', ...['lib', 'dist'].flatMap((d) => fs.readdirSync(path.join(pkg, d)).map((f) => `${d}/${f}`))];
  for (const f of files) {
    if (f.endsWith('.js')) embed.push(`(name = "${f}", esModule = embed "pkg/${f}")`);
    else if (f.endsWith('.wasm')) embed.push(`(name = "${f}", wasm = embed "pkg/${f}")`);
  }
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "assets", disk = (path = ${JSON.stringify(path.resolve(assets))}, writable = false)),
  ],
  sockets = [ (name = "http", address = "${address}", http = (), service = "main") ],
  v8Flags = ${JSON.stringify(v8Flags)},
);
const worker :Workerd.Worker = (
  modules = [
    ${embed.join(',\n    ')}
  ],
  bindings = [ (name = "ASSETS", service = "assets") ],
  compatibilityDate = "2025-01-01",
);
`;
  const file = path.join(dir, 'config.capnp');
  fs.writeFileSync(file, config);
  return file;
}
