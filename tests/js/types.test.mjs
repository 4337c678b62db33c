// The typings (index.d.ts) of the installed package, as TypeScript users compile them: a program
// using the API (tests/js/types/use.ts) under the DOM lib (browsers, bundlers) and node-only
// (lib es2022 and @types/node, no DOM), and as `tsc --init` sets up (exact optional properties)
// with an es2020 lib, with TypeScript from tools/ (pinned).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const project = path.dirname(fileURLToPath(import.meta.url));
const tools = process.env.ZNN_TOOLS;
const tsc = path.join(tools, 'typescript/bin/tsc');

const configs = {
  // No lib for `using`/Symbol.dispose: index.d.ts brings it, as users' default libs lack it.
  dom: { lib: ['es2022', 'dom', 'dom.iterable', 'dom.asynciterable'], types: [] },
  node: { lib: ['es2022'], types: ['node'], typeRoots: [path.join(tools, '@types')] },
  // What `tsc --init` sets (exact optional properties), and older libs (ErrorOptions is es2022).
  exact: { target: 'es2020', lib: ['es2020', 'dom', 'dom.asynciterable'], types: [], exactOptionalPropertyTypes: true },
};

for (const [name, libs] of Object.entries(configs)) {
  test(`the typings compile with a program using them (${name})`, () => {
    fs.copyFileSync(path.join(process.env.ZNN_REPO, 'tests/js/types/use.ts'), path.join(project, 'types-use.ts'));
    const config = path.join(project, `tsconfig.${name}.json`);
    const compilerOptions = { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, ...libs };
    fs.writeFileSync(config, JSON.stringify({ compilerOptions, files: ['types-use.ts'] }));
    let out = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', config], { cwd: project, encoding: 'utf8' });
    } catch (e) {
      out = `${e.stdout}${e.stderr}`;
    }
    assert.equal(out, '', `tsc (${name}) reported:\n${out}`);
  });
}
