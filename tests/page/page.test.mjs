// End-to-end tests of the web page (www/) in headless Debian Chromium through Playwright.
// Run by scripts/test-page.sh, which starts scripts/serve.mjs and sets:
//   BASE_URL       the server, e.g. http://127.0.0.1:41234/
//   ZNN_SERVER_PID its process (its open files are looked at)
//   ZNN_REPO       the repository root (models/, target/release/zipnn, tools/node_modules)
//   ZNN_WORK       a scratch directory
//   ZNN_ARTIFACTS  where screenshots go (test-artifacts/)
// Optional: ZNN_PAGE_ONLY=word filters tests by name; ZNN_PAGE_HEADFUL=1 shows the browser.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const BASE = process.env.BASE_URL;
const REPO = process.env.ZNN_REPO;
const WORK = process.env.ZNN_WORK;
const ARTIFACTS = process.env.ZNN_ARTIFACTS;
if (!BASE || !REPO || !WORK || !ARTIFACTS) {
  console.error('page.test: run through scripts/test-page.sh (BASE_URL, ZNN_REPO, ZNN_WORK, ZNN_ARTIFACTS)');
  process.exit(2);
}
const ORIGIN = new URL(BASE).origin;
const CLI = path.join(REPO, 'target/release/zipnn');
const model = (name) => path.join(REPO, 'models', name);
const { chromium } = await import(pathToFileURL(path.join(REPO, 'tools/node_modules/playwright-core/index.mjs')).href);

const T = 90_000; // generous: two shared cores

// Screenshots of failures from an earlier run would mislead.
fs.mkdirSync(ARTIFACTS, { recursive: true });
for (const f of fs.readdirSync(ARTIFACTS)) if (/^fail-\d+\.png$/.test(f)) fs.rmSync(path.join(ARTIFACTS, f));

// ---------------------------------------------------------------------------------------------
// A tiny runner

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}
function assertEqual(a, b, msg) {
  if (a !== b) throw new Error(`${msg}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
}

function sha256(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function cli(...args) {
  execFileSync(CLI, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Byte-exact comparison; on a difference, says where. */
function assertSameFile(a, b, what) {
  const x = fs.readFileSync(a);
  const y = fs.readFileSync(b);
  if (x.equals(y)) return;
  let i = 0;
  while (i < Math.min(x.length, y.length) && x[i] === y[i]) i++;
  throw new Error(`${what}: ${path.basename(a)} (${x.length} bytes) and ${path.basename(b)} (${y.length} bytes) differ at byte ${i}`);
}

// ---------------------------------------------------------------------------------------------
// Browser

const userDataDir = fs.mkdtempSync(path.join(WORK, 'chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: !process.env.ZNN_PAGE_HEADFUL,
  acceptDownloads: true,
  viewport: { width: 1280, height: 900 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ].filter((a) => a !== '--headless' || !process.env.ZNN_PAGE_HEADFUL),
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(T);

const requests = [];
const problems = [];
context.on('request', (r) => requests.push(r.url()));
page.on('request', (r) => requests.push(r.url()));
page.on('worker', (w) => {
  w.on('console', (m) => m.type() === 'error' && problems.push(`worker console: ${m.text()}`));
});
page.on('console', (m) => {
  if (m.type() === 'error') problems.push(`console: ${m.text()}`);
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('crash', () => problems.push('the page crashed'));

async function open(query = '') {
  await page.goto(`${BASE}${query}`);
  // The sample list loaded and the app's module ran.
  await page.waitForFunction(() => document.getElementById('sample').options.length > 0 && document.getElementById('sample').options[0].value !== '');
}

/** Uploads files through the file input and waits for their result cards to settle. */
async function upload(files, { dtype = 'auto', verify = true } = {}) {
  await page.selectOption('#dtype', dtype);
  await page.setChecked('#verify', verify);
  const before = await page.locator('#results > li').count();
  await page.setInputFiles('#file-input', files);
  await page.waitForFunction(
    ({ n, total }) => {
      const cards = [...document.querySelectorAll('#results > li')];
      return cards.length >= total && cards.slice(0, n).every((c) => ['done', 'error', 'cancelled'].includes(c.dataset.state));
    },
    { n: files.length, total: before + files.length },
    { timeout: T },
  );
  // Newest cards are first; return them in upload order, as locators that stay on their card.
  const ids = await page.$$eval('#results > li', (cards, n) => cards.slice(0, n).map((c) => c.dataset.job).reverse(), files.length);
  return ids.map((id) => page.locator(`#results > li[data-job="${id}"]`));
}

async function download(card, dir) {
  const link = card.locator('a.download');
  const [dl] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const name = dl.suggestedFilename();
  const file = path.join(dir, name);
  await dl.saveAs(file);
  return { name, file, linkName: await link.getAttribute('download') };
}

function freshDir(name) {
  const d = path.join(WORK, name);
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** The ratio the card shows must be compressed/original of the real files, to its one decimal. */
async function checkRatio(card, compressedBytes, originalBytes) {
  const shown = (await card.locator('.ratio').innerText()).trim();
  const expected = `${((compressedBytes / originalBytes) * 100).toFixed(1)}%`;
  assertEqual(shown, expected, 'ratio shown on the page');
  assertEqual(Number(await card.getAttribute('data-compressed-bytes')), compressedBytes, 'data-compressed-bytes');
  assertEqual(Number(await card.getAttribute('data-original-bytes')), originalBytes, 'data-original-bytes');
}

// ---------------------------------------------------------------------------------------------
// Tests

/** A GET of `p` exactly as written (no folding of `//` or `..`). */
const get = (p) =>
  new Promise((resolve, reject) => {
    const u = new URL(BASE);
    http
      .get({ host: u.hostname, port: u.port, path: p }, (res) => {
        res.resume();
        resolve({ status: res.statusCode, type: res.headers['content-type'] ?? '', location: res.headers.location });
      })
      .on('error', reject);
  });

test('server: MIME types, package files only, no path traversal', async () => {
  const expect = {
    '/': [200, 'text/html'],
    '/app.js': [200, 'text/javascript'],
    '/worker.js': [200, 'text/javascript'],
    '/style.css': [200, 'text/css'],
    '/pkg/index.js': [200, 'text/javascript'],
    '/pkg/dist/zipnn_wasm_bg.wasm': [200, 'application/wasm'],
    '/sample/sample.json': [200, 'application/json'],
    '/../Makefile': [403],
    '/pkg/../Makefile': [403],
    '/%2e%2e/Makefile': [403],
    '/pkg/%2e%2e/Cargo.toml': [403],
    '/pkg/..%2f..%2fCargo.toml': [403],
    '/..%5c..%5cCargo.toml': [403],
    '/pkg/package-lock.json': [404],
    '/missing.js': [404],
    // Runs of slashes are one slash, not a host name (which served the page for every path).
    '//app.js': [200, 'text/javascript'],
    '//pkg//index.js': [200, 'text/javascript'],
    '//missing.js': [404],
    // A raw backslash is a slash to `new URL`: `/\\app.js` was the host "app.js".
    '/\\app.js': [403],
    '/.\\/sample': [403],
    '*': [400],
  };
  for (const [p, [status, type]] of Object.entries(expect)) {
    const r = await get(p);
    assertEqual(r.status, status, `status of ${p}`);
    if (type) assert(r.type.startsWith(type), `${p} has type ${r.type}, expected ${type}`);
  }
  // A folder's redirect stays on this host (it went to `//sample/`: the host "sample").
  for (const p of ['/sample', '/.//sample', '//sample']) {
    const r = await get(p);
    assertEqual(`${r.status} ${r.location}`, '301 /sample/', `redirect of ${p}`);
  }
});

test('server: downloads the client gives up close their file', async () => {
  const pid = process.env.ZNN_SERVER_PID;
  const open = () => fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).endsWith('.znw');
    } catch {
      return false; // (closed meanwhile)
    }
  }).length;
  const u = new URL(BASE);
  const sample = JSON.parse(fs.readFileSync(path.join(REPO, 'www/sample/sample.json'), 'utf8')).samples.at(-1);
  for (let i = 0; i < 5; i++) {
    // The response's first bytes, then the connection closed (a page closed mid-download).
    await new Promise((resolve, reject) => {
      const req = http.get({ host: u.hostname, port: u.port, path: `/sample/${sample.file}` }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => (e.code === 'ECONNRESET' ? resolve() : reject(e)));
    });
  }
  let n = open();
  for (let i = 0; i < 50 && n > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    n = open();
  }
  assertEqual(n, 0, 'sample files the server still has open');
});

test('server: a second start uses the samples the first one compressed', async () => {
  // (The CLI gives each .znw its source's time: older than the CLI, the files looked stale.)
  const r = spawnSync('node', [path.join(REPO, 'scripts/serve.mjs'), '--prepare'], { cwd: REPO, encoding: 'utf8' });
  assertEqual(r.status, 0, `--prepare: ${r.stderr}`);
  assert(!/compressing/.test(r.stderr), `it compressed again: ${r.stderr}`);
});

test('page loads, keyboard opens the file chooser, controls are labelled', async () => {
  await open();
  assertEqual(await page.title(), 'zipnn-wasm · shrink model weights in your browser', 'title');
  // The drop zone is the label of the file input: Tab reaches the input, Space opens the chooser.
  await page.focus('#file-input');
  // Listen first, then one round trip to the page, so that the browser intercepts the chooser
  // before the key arrives (once, on a loaded machine, the key came first and no event fired).
  const chooserEvent = page.waitForEvent('filechooser', { timeout: 20_000 });
  await page.evaluate(() => new Promise(requestAnimationFrame));
  await page.keyboard.press('Space');
  const chooser = await chooserEvent;
  assert(chooser.isMultiple(), 'the chooser accepts several files');
  for (const id of ['file-input', 'dtype', 'verify', 'sample', 'throttle']) {
    const labels = await page.locator(`label[for="${id}"]`).count();
    assert(labels === 1, `#${id} has a label`);
  }
  assertEqual(await page.getAttribute('#status', 'aria-live'), 'polite', '#status is aria-live');
  assertEqual(await page.getAttribute('#try-status', 'aria-live'), 'polite', '#try-status is aria-live');
});

test('compress a safetensors model, download, CLI decompress is byte-exact, ratio and tensor table', async () => {
  await open();
  const src = model('silero_vad_16k.safetensors');
  const [card] = await upload([src]);
  assertEqual(await card.getAttribute('data-state'), 'done', 'card state');
  assert((await card.locator('.result-status').innerText()).includes('Round trip verified'), 'says the round trip was verified');
  const dir = freshDir('st');
  const dl = await download(card, dir);
  assertEqual(dl.name, 'silero_vad_16k.safetensors.znw', 'download name');
  const out = path.join(dir, 'restored.safetensors');
  cli('decompress', dl.file, '-o', out, '--force');
  assertSameFile(out, src, 'CLI round trip of the page output');
  await checkRatio(card, fs.statSync(dl.file).size, fs.statSync(src).size);
  // Per-tensor table: the header plus the 15 tensors, and a dtype chart (F32 and the header).
  const names = await card.locator('table.tensors tbody th').allInnerTexts();
  assert(names.includes('stft_conv.weight') && names.includes('final_conv.bias'), `tensor names: ${names.join(', ')}`);
  assertEqual(names.filter((n) => !n.includes('header') && n !== 'padding').length, 15, 'tensor rows');
  const chart = await card.locator('.chart-label').allInnerTexts();
  assert(chart.some((t) => t.startsWith('F32')), `chart rows: ${chart}`);
});

test('compress raw files (ONNX auto, BF16 .bin with dtype), downloads restore byte-exact', async () => {
  await open();
  const onnx = model('silero_vad.onnx');
  const bin = model('minilm.bf16.bin');
  const dir = freshDir('raw');
  const [c1] = await upload([onnx]);
  const [c2] = await upload([bin], { dtype: 'bf16' });
  for (const [card, src] of [
    [c1, onnx],
    [c2, bin],
  ]) {
    assertEqual(await card.getAttribute('data-state'), 'done', `state for ${path.basename(src)}`);
    const dl = await download(card, dir);
    assertEqual(dl.name, `${path.basename(src)}.znw`, 'download name');
    const out = path.join(dir, `${path.basename(src)}.out`);
    cli('decompress', dl.file, '-o', out, '--force');
    assertSameFile(out, src, 'CLI round trip');
    await checkRatio(card, fs.statSync(dl.file).size, fs.statSync(src).size);
  }
  const bf16Ratio = Number(await c2.getAttribute('data-compressed-bytes')) / Number(await c2.getAttribute('data-original-bytes'));
  assert(bf16Ratio < 0.75, `BF16 weights compress to ${bf16Ratio}`);
});

test('several files in one drop are queued and numbered', async () => {
  await open();
  const files = [model('silero_vad_half.onnx'), model('silero_vad_16k_op15.onnx')];
  const cards = await upload(files, { verify: false });
  for (const c of cards) assertEqual(await c.getAttribute('data-state'), 'done', 'state');
  assert((await cards[0].locator('.result-status').innerText()).includes('Not verified'), 'says when it did not verify');
});

test('drag and drop onto the page compresses', async () => {
  await open();
  const bytes = fs.readFileSync(model('silero_vad_16k_sequence.onnx'));
  const dt = await page.evaluateHandle(
    ({ b64, name }) => {
      const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bin], name));
      return dt;
    },
    { b64: bytes.toString('base64'), name: 'dropped.onnx' },
  );
  await page.dispatchEvent('#drop-label', 'dragenter', { dataTransfer: dt });
  assert(await page.locator('#drop.dragging').count(), 'the drop zone highlights while dragging');
  await page.dispatchEvent('#drop-label', 'drop', { dataTransfer: dt });
  await page.waitForSelector('#results > li[data-state="done"] a[download="dropped.onnx.znw"]');
});

test('restore our .znw: download is the original, byte for byte', async () => {
  await open();
  const src = model('silero_vad_16k.safetensors');
  const dir = freshDir('restore');
  const znw = path.join(dir, 'silero_vad_16k.safetensors.znw');
  cli('compress', src, '-o', znw, '--force');
  const [card] = await upload([znw]);
  assertEqual(await card.getAttribute('data-state'), 'done', 'state');
  assert((await card.locator('.result-status').innerText()).includes('Checksums verified'), 'says checksums verified');
  const out = freshDir('restore-out');
  const dl = await download(card, out);
  assertEqual(dl.name, 'silero_vad_16k.safetensors', 'restored name');
  assertSameFile(dl.file, src, 'restored file');
  await checkRatio(card, fs.statSync(znw).size, fs.statSync(src).size);
});

test('restore a ZipNN .znn file', async () => {
  await open();
  const src = model('silero_vad.onnx');
  const dir = freshDir('znn');
  const znn = path.join(dir, 'silero_vad.onnx.znn');
  cli('compress', src, '-o', znn, '--force', '--format', 'zipnn', '--dtype', 'fp32');
  const [card] = await upload([znn]);
  assertEqual(await card.getAttribute('data-state'), 'done', 'state');
  const dl = await download(card, freshDir('znn-out'));
  assertEqual(dl.name, 'silero_vad.onnx', 'restored name');
  assertSameFile(dl.file, src, 'restored ZipNN file');
  // ZipNN files carry no checksums: the page must not claim it checked any.
  const status = await card.locator('.result-status').innerText();
  assert(/no checksums/i.test(status) && !/verified/i.test(status), `status: ${status}`);
  assert(/not verified/i.test(await card.locator('.note').innerText()), 'the note says not verified');
});

test('a ZipNN file without its .znn name is told by its header and restored', async () => {
  await open();
  const src = model('silero_vad.onnx');
  const dir = freshDir('znn-renamed');
  const renamed = path.join(dir, 'weights.bin');
  cli('compress', src, '-o', renamed, '--force', '--format', 'zipnn', '--dtype', 'fp32');
  const [card] = await upload([renamed]);
  assertEqual(await card.getAttribute('data-state'), 'done', 'state');
  const dl = await download(card, freshDir('znn-renamed-out'));
  assertEqual(dl.name, 'weights.bin.restored', 'restored name');
  assertSameFile(dl.file, src, 'restored ZipNN file');
});

test('a wasm module that does not load: the reason stays shown, jobs fail with it, no retry storm', async () => {
  await context.route('**/*_bg.wasm', (r) => r.fulfill({ status: 404, body: 'gone' }));
  const p2 = await context.newPage();
  const uncaught = [];
  let workers = 0;
  p2.on('pageerror', (e) => uncaught.push(e.message));
  p2.on('worker', () => workers++);
  try {
    await p2.goto(BASE);
    await p2.waitForFunction(() => /Could not load the WebAssembly module/.test(document.getElementById('try-status').textContent));
    await p2.waitForTimeout(1500); // the samples' list loads meanwhile: the message must stay
    assert(/Could not load the WebAssembly module/.test(await p2.locator('#try-status').innerText()), 'the reason stays shown');
    for (let i = 0; i < 2; i++) {
      await p2.setInputFiles('#file-input', [model('silero_vad_16k.safetensors')]);
      await p2.waitForFunction((n) => document.querySelectorAll('#results > li[data-state="error"]').length >= n, i + 1);
    }
    const text = await p2.locator('#results > li .error').first().innerText();
    assert(/WebAssembly module/.test(text), `job error: ${text}`);
    assert(workers <= 2, `${workers} workers started (the two at load, no more)`);
    assert(uncaught.length === 0, `uncaught: ${uncaught.join('; ')}`);
  } finally {
    await p2.close();
    await context.unroute('**/*_bg.wasm');
  }
});

test('a corrupt .znw shows an error, and the page keeps working', async () => {
  await open();
  const src = model('silero_vad_16k.safetensors');
  const dir = freshDir('corrupt');
  const clean = path.join(dir, 'clean.safetensors.znw');
  cli('compress', src, '-o', clean, '--force');
  const znw = path.join(dir, 'broken.safetensors.znw');
  const bytes = fs.readFileSync(clean);
  bytes[bytes.length >> 1] ^= 0x40;
  fs.writeFileSync(znw, bytes);
  const [card] = await upload([znw]);
  assertEqual(await card.getAttribute('data-state'), 'error', 'state');
  const err = card.locator('.error[role="alert"]');
  const text = await err.innerText();
  assert(/damaged|corrupt|checksum/i.test(text), `error text: ${text}`);
  assertEqual(await err.getAttribute('data-code'), 'ZNN_CORRUPT', 'error code');
  assertEqual(await card.locator('a.download').count(), 0, 'no download for a corrupt file');
  // Truncated too.
  const cut = path.join(dir, 'cut.safetensors.znw');
  fs.writeFileSync(cut, fs.readFileSync(clean).subarray(0, 5000));
  const [card2] = await upload([cut]);
  assertEqual(await card2.getAttribute('data-state'), 'error', 'truncated state');
  // A ZipNN frame whose size field is damaged (1 TiB): damaged, not "too big for the browser".
  const zn = fs.readFileSync(path.join(REPO, 'tests/fixtures/zipnn/bf16_3chunks_mixed.znn'));
  zn.writeBigUInt64LE(1n << 40n, 16);
  const bigSize = path.join(dir, 'size.znn');
  fs.writeFileSync(bigSize, zn);
  const [card3] = await upload([bigSize]);
  const err3 = card3.locator('.error[role="alert"]');
  assertEqual(await err3.getAttribute('data-code'), 'ZNN_CORRUPT', 'damaged size field');
  assert(/damaged/.test(await err3.innerText()), 'says damaged');
  // A ZipNN delta: the page says how to restore it (the CLI with its base).
  const [card4] = await upload([path.join(REPO, 'tests/fixtures/zipnn/bf16_delta_byte.znn')]);
  const err4 = card4.locator('.error[role="alert"]');
  assertEqual(await err4.getAttribute('data-code'), 'ZNN_UNSUPPORTED', 'delta');
  assert(/delta.*zipnn decompress FILE --base BASE/s.test(await err4.innerText()), `delta: ${await err4.innerText()}`);
  // The same page still compresses.
  const [ok] = await upload([model('silero_vad_16k.safetensors')]);
  assertEqual(await ok.getAttribute('data-state'), 'done', 'compress after an error');
});

test('cancel stops a running compression, and the next one works', async () => {
  await open();
  await page.selectOption('#dtype', 'auto');
  await page.setChecked('#verify', true);
  await page.setInputFiles('#file-input', [model('minilm.fp32.safetensors')]);
  await page.waitForSelector('#cancel:not([disabled])');
  await page.waitForSelector('#results > li[data-state="running"]');
  await page.click('#cancel');
  await page.waitForSelector('#results > li[data-state="cancelled"]');
  assert(await page.locator('#cancel[disabled]').count(), 'cancel disabled when idle');
  const [ok] = await upload([model('silero_vad_16k.safetensors')]);
  assertEqual(await ok.getAttribute('data-state'), 'done', 'compress after cancel');
});

test('cancel also stops the files of a choice still being looked at', async () => {
  await open();
  await page.setChecked('#verify', true);
  await page.setInputFiles('#file-input', [model('minilm.fp32.safetensors')]);
  await page.waitForSelector('#results > li[data-state="running"]');
  // Many files while one runs, and Cancel at once: each file's head is read before it is
  // queued, and those still unread were queued after the Cancel and ran.
  const many = Array.from({ length: 40 }, () => model('silero_vad_16k.safetensors'));
  await page.setInputFiles('#file-input', many);
  await page.evaluate(() => document.getElementById('cancel').click());
  await page.waitForFunction(() => !document.querySelector('#results > li[data-state="waiting"], #results > li[data-state="running"]') && document.querySelectorAll('#results > li').length >= 41);
  await page.waitForTimeout(1500);
  const states = await page.$$eval('#results > li', (cards) => cards.slice(0, 41).map((c) => c.dataset.state));
  assert(states.every((st) => st === 'cancelled'), `states after Cancel: ${states.join(' ')}`);
  assertEqual(await page.getAttribute('#progress-panel', 'data-state'), 'idle', 'panel after Cancel');
});

test('Clear while a batch runs: files keep their numbers, the summary counts the batch', async () => {
  await open();
  await page.setChecked('#verify', true);
  const small = model('silero_vad_16k.safetensors');
  await page.setInputFiles('#file-input', [small, small, model('minilm.fp32.safetensors'), small]);
  await page.waitForFunction(() => document.querySelectorAll('#results > li[data-state="done"]').length === 2);
  await page.click('#clear');
  await page.waitForFunction(() => /file 3 of 4/.test(document.getElementById('progress-title').textContent));
  await page.waitForSelector('#progress-panel[data-state="done"]');
  assertEqual(await page.locator('#progress-title').innerText(), 'Done: 4 files', 'summary');
});

test('a folder dropped: says it is a folder', async () => {
  await open();
  const dir = freshDir('dropped-folder');
  fs.writeFileSync(path.join(dir, 'inside.bin'), Buffer.alloc(1000));
  const cdp = await context.newCDPSession(page);
  const box = await page.locator('#drop-label').boundingBox();
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const data = { items: [], files: [dir], dragOperationsMask: 1 };
  for (const type of ['dragEnter', 'dragOver', 'drop']) await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
  const card = page.locator('#results > li').first();
  await page.waitForSelector('#results > li[data-state="error"]');
  const text = await card.locator('.error').innerText();
  assert(/dropped-folder is a folder/.test(text), `message: ${text}`);
  await cdp.detach();
});

test('a compress that grew the worker\'s memory gets a fresh worker', async () => {
  await open();
  await page.waitForSelector('#progress-panel[data-workers="ready ready"]');
  const before = Number(await page.getAttribute('#progress-panel', 'data-spawned'));
  const [card] = await upload([model('minilm.bf16.safetensors')], { verify: false });
  assertEqual(await card.getAttribute('data-state'), 'done', 'state');
  // (A 45 MB file: the worker that held it and its compressed copy is let go.)
  assertEqual(Number(await page.getAttribute('#progress-panel', 'data-spawned')), before + 1, 'workers started');
});

test('while compressing, the bar shows bytes done, MB/s and time left', async () => {
  await open();
  await page.selectOption('#dtype', 'auto');
  await page.setChecked('#verify', false);
  // Every state of the progress panel while the job runs.
  await page.evaluate(() => {
    window.seen = [];
    const bar = document.getElementById('progress');
    const record = () =>
      window.seen.push({
        title: document.getElementById('progress-title').textContent,
        stats: document.getElementById('progress-stats').textContent,
        value: bar.value,
        max: bar.max,
      });
    new MutationObserver(record).observe(document.getElementById('progress-panel'), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  // Three copies of the fp32 model (273 MB of raw weights): one copy compressed in under the
  // 150 ms the page waits before showing a rate, on a quiet machine.
  const big = path.join(WORK, 'fp32x3.bin');
  const one = fs.readFileSync(model('minilm.fp32.safetensors'));
  fs.writeFileSync(big, Buffer.concat([one, one, one]));
  await page.setInputFiles('#file-input', [big]);
  await page.waitForSelector('#results > li[data-state="done"]', { timeout: 120_000 });
  fs.rmSync(big);
  const seen = await page.evaluate(() => window.seen);
  const midway = seen.filter((s) => s.title.startsWith('Compressing') && s.value > 0 && s.value < s.max);
  assert(midway.length > 0, `no partly filled bar while compressing: ${JSON.stringify(seen.slice(0, 20))}`);
  const full = midway.find((s) => /^[\d.]+ [kMG]?B of [\d.]+ MB · [\d.]+ MB\/s · .+ left$/.test(s.stats));
  assert(full, `no "bytes of total · MB/s · time left" while compressing: ${midway.map((s) => s.stats).join(' | ')}`);
  // A job this big leaves the worker's wasm memory grown for good: a fresh one takes its place
  // (and a new spare is loaded), so the next big file finds the room of a fresh tab.
  await page.waitForFunction(() => /^ready ready$/.test(document.getElementById('progress-panel').dataset.workers));
  assertEqual(await page.getAttribute('#progress-panel', 'data-spawned'), '3', 'workers started: two at load, one after the big job');
});

test('restoring shows progress in decoded bytes when the header states them', async () => {
  await open();
  const dir = freshDir('restore-progress');
  const src = model('minilm.fp32.safetensors');
  const packed = path.join(dir, 'minilm.fp32.safetensors.znw');
  cli('compress', src, '-o', packed, '--force');
  await page.evaluate(() => {
    window.seen = [];
    const bar = document.getElementById('progress');
    new MutationObserver(() => window.seen.push({ title: document.getElementById('progress-title').textContent, max: bar.max })).observe(document.getElementById('progress-panel'), {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
    });
  });
  const [card] = await upload([packed]);
  assertEqual(await card.getAttribute('data-state'), 'done', 'restored');
  // (The page shows the file's size until the worker has read the header.)
  const maxes = (await page.evaluate(() => window.seen)).filter((s) => s.title.startsWith('Decompressing')).map((s) => s.max);
  assertEqual(maxes.at(-1), fs.statSync(src).size, `progress totals ${[...new Set(maxes)]}: the decoded size, not the compressed`);
});

test('a file removed after it was chosen: a clear message, and the rest of the batch runs', async () => {
  await open();
  const dir = freshDir('removed');
  const gone = path.join(dir, 'gone.onnx');
  fs.copyFileSync(model('silero_vad.onnx'), gone);
  await page.setChecked('#verify', true);
  await page.setInputFiles('#file-input', [model('minilm.fp32.safetensors'), gone, model('silero_vad_16k.safetensors')]);
  // Removed while the first file is being compressed, once the page has read its head and
  // queued it (a card is "waiting" from the start; its note changes once queued).
  await page.waitForFunction(() => [...document.querySelectorAll('#results > li')].filter((c) => c.dataset.state === 'waiting' && /will be/.test(c.innerText)).length === 2);
  fs.rmSync(gone);
  await page.waitForFunction(() => [...document.querySelectorAll('#results > li')].slice(0, 3).every((c) => ['done', 'error'].includes(c.dataset.state)), null, { timeout: T });
  const cards = await page.$$eval('#results > li', (cs) => cs.slice(0, 3).map((c) => ({ state: c.dataset.state, text: c.innerText })));
  const [last, removed, first] = cards;
  assertEqual(`${first.state} ${removed.state} ${last.state}`, 'done error done', 'states');
  assert(/changed, moved or removed after it was chosen/.test(removed.text), `message: ${removed.text}`);
});

test('Clear sends keyboard focus to the file chooser', async () => {
  await open();
  await upload([model('silero_vad_16k.safetensors')]);
  await page.focus('#clear');
  await page.keyboard.press('Enter');
  assertEqual(await page.evaluate(() => document.activeElement?.id), 'file-input', 'focus after Clear');
});

test('files over the stream threshold are read as a stream: the same .znw, verified', async () => {
  // minilm (45 MB) is past the 32 MiB the encoder reads before its header; the ONNX file is not.
  await open('?stream=1000000');
  const dir = freshDir('streamed');
  for (const src of [model('minilm.bf16.safetensors'), model('silero_vad.onnx')]) {
    const [card] = await upload([src]);
    assertEqual(await card.getAttribute('data-state'), 'done', `state for ${path.basename(src)}`);
    assert((await card.locator('.result-status').innerText()).includes('Round trip verified'), 'verified');
    assert(/as a stream/.test(await card.locator('.note').innerText()), 'the note says it was streamed');
    if (src.endsWith('.safetensors')) {
      // (The table starts folded for this many tensors: its text, not what shows.)
      const names = await card.locator('table.tensors tbody th').allTextContents();
      assert(names.some((n) => n.includes('word_embeddings')), `tensor table: ${names.slice(0, 5).join(', ')}`);
    }
    const dl = await download(card, dir);
    const cliOut = path.join(dir, `${path.basename(src)}.cli.znw`);
    cli('compress', src, '-o', cliOut, '--force');
    assertSameFile(dl.file, cliOut, `streamed ${path.basename(src)} against the CLI's .znw`);
    await checkRatio(card, fs.statSync(dl.file).size, fs.statSync(src).size);
  }
});

test('a read the browser fails part-way is tried once more: the job still ends verified', async () => {
  // ?failread: each job's first stream of its file fails after one piece with the TypeError
  // Chromium gave (a streamed compress, a whole-file one, and a restore).
  await open('?stream=1000000&failread');
  const dir = freshDir('failread');
  const packed = path.join(dir, 'silero_vad.onnx.znw');
  cli('compress', model('silero_vad.onnx'), '-o', packed, '--force');
  for (const src of [model('minilm.bf16.safetensors'), model('face_detection_full_range_sparse.tflite'), packed]) {
    const [card] = await upload([src]);
    assertEqual(await card.getAttribute('data-state'), 'done', `state for ${path.basename(src)}: ${await card.innerText()}`);
    if (src !== packed) assert((await card.locator('.result-status').innerText()).includes('Round trip verified'), 'verified');
  }
});

test('a file over the limit is refused with a clear message', async () => {
  await open('?max=1000000');
  const [card] = await upload([model('silero_vad.onnx')]);
  assertEqual(await card.getAttribute('data-state'), 'error', 'state');
  const text = await card.locator('.error').innerText();
  assert(/up to 1\.00 MB/.test(text) && /command-line/.test(text), `message: ${text}`);
});

test('a .znw a little over the limit restores when what it restores is under it', async () => {
  // Random bytes compress to a few bytes more than themselves.
  await open('?max=100000');
  const dir = freshDir('restore-at-limit');
  const raw = path.join(dir, 'random.bin');
  fs.writeFileSync(raw, randomBytes(100_000));
  cli('compress', raw, '-o', `${raw}.znw`, '--force');
  assert(fs.statSync(`${raw}.znw`).size > 100_000, 'the .znw is over the limit');
  const [card] = await upload([`${raw}.znw`]);
  assertEqual(await card.getAttribute('data-state'), 'done', `state: ${await card.innerText()}`);
  const dl = await download(card, freshDir('restore-at-limit-out'));
  assertSameFile(dl.file, raw, 'restored');
});

test('a file that restores to more than the limit is refused with a clear message', async () => {
  await open('?max=1000000');
  const dir = freshDir('restore-cap');
  const zeros = path.join(dir, 'zeros.bin');
  fs.writeFileSync(zeros, Buffer.alloc(3_000_000));
  cli('compress', zeros, '-o', `${zeros}.znw`, '--force');
  const [card] = await upload([`${zeros}.znw`]);
  assertEqual(await card.getAttribute('data-state'), 'error', 'state');
  const text = await card.locator('.error').innerText();
  assert(/restores files of up to 1\.00 MB/.test(text) && /command-line/.test(text), `message: ${text}`);
});

async function runSample(index, throttle) {
  await page.selectOption('#sample', String(index));
  await page.setChecked('#throttle', throttle);
  await page.click('#try-start');
  await page.waitForSelector('#sha-badge:not([hidden])', { timeout: T });
  const expected = (await page.locator('#sha-expected').innerText()).trim();
  const computed = (await page.locator('#sha-computed').innerText()).trim();
  return { expected, computed, badge: await page.locator('#sha-badge').innerText(), rows: await page.locator('#tensor-rows tr').count() };
}

test('"try it" streams the samples through fetchModel, sha256 matches', async () => {
  await open();
  const small = await runSample(0, true);
  const want = sha256(model('silero_vad_16k.safetensors'));
  assertEqual(small.expected, want, 'expected sha256 on the page');
  assertEqual(small.computed, want, 'computed sha256');
  assert(small.badge.includes('matches'), `badge: ${small.badge}`);
  assertEqual(small.rows, 15, 'tensor rows');
  const progress = await page.$eval('#dec-progress', (p) => [p.value, p.max]);
  assertEqual(progress[0], progress[1], 'decode bar full');
  const values = await page.locator('#tensor-rows td.values').first().innerText();
  assert(/\d/.test(values), `first values shown: ${values}`);
  if (fs.existsSync(model('minilm.bf16.safetensors'))) {
    // Stop in the middle of a throttled download.
    await page.selectOption('#sample', '1');
    await page.setChecked('#throttle', true);
    await page.click('#try-start');
    await page.waitForFunction(() => document.getElementById('dl-progress').value > 0);
    assertEqual(await page.locator('#try-start').innerText(), 'Stop', 'the start button turns into Stop');
    await page.click('#try-start');
    await page.waitForFunction(() => document.getElementById('try-status').textContent === 'Stopped.');
    assert(await page.locator('#sha-badge[hidden]').count(), 'no sha256 verdict after Stop');
    const big = await runSample(1, false);
    assertEqual(big.computed, sha256(model('minilm.bf16.safetensors')), 'computed sha256 of the BF16 sample');
    assert(big.rows > 50, `BF16 sample tensor rows: ${big.rows}`);
  }
});

test('works offline once loaded', async () => {
  await open();
  await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => e.name.endsWith('.wasm')));
  await page.waitForSelector('#progress-panel[data-workers="ready ready"]'); // the spare worker too
  await context.setOffline(true);
  try {
    const [card] = await upload([model('silero_vad_16k.safetensors')]);
    assertEqual(await card.getAttribute('data-state'), 'done', 'compress while offline');
    // Cancel swaps in the spare worker, loaded while online.
    await page.setInputFiles('#file-input', [model('minilm.fp32.safetensors')]);
    await page.waitForSelector('#results > li[data-state="running"]');
    await page.click('#cancel');
    await page.waitForSelector('#results > li[data-state="cancelled"]');
    const [again] = await upload([model('silero_vad_16k.safetensors')]);
    assertEqual(await again.getAttribute('data-state'), 'done', 'compress offline after a cancel');
    // A second cancel finds no spare that could load offline: the next job says so (not "out
    // of memory").
    await page.setInputFiles('#file-input', [model('minilm.fp32.safetensors')]);
    await page.waitForSelector('#results > li[data-state="running"]');
    await page.click('#cancel');
    const [stuck] = await upload([model('silero_vad_16k.safetensors')]);
    const text = await stuck.innerText();
    assert((await stuck.getAttribute('data-state')) === 'done' || /could not be loaded/.test(text), `after two cancels offline: ${text}`);
  } finally {
    await context.setOffline(false);
  }
});

test('offline, big files one after another keep their worker (none could be loaded to replace it)', async () => {
  await open();
  await page.waitForSelector('#progress-panel[data-workers="ready ready"]');
  // Over the size after which a worker is replaced once a job is done (its memory grew).
  const big = path.join(WORK, 'offline-big.bin');
  const one = fs.readFileSync(model('minilm.fp32.safetensors'));
  fs.writeFileSync(big, Buffer.concat([one, one, one]));
  await context.setOffline(true);
  try {
    const cards = await upload([big, big, model('silero_vad_16k.safetensors')], { verify: false });
    for (const [i, card] of cards.entries()) {
      assertEqual(await card.getAttribute('data-state'), 'done', `file ${i + 1} offline: ${await card.innerText()}`);
    }
  } finally {
    await context.setOffline(false);
    fs.rmSync(big);
  }
});

test('no layout jumps while a file compresses and the sample streams', async () => {
  await open();
  await page.evaluate(() => {
    window.cls = 0;
    window.shifts = [];
    new PerformanceObserver((list) => {
      // Every shift counts, also those within 0.5 s of an input (the web's CLS leaves those
      // out): here each input is a test's click, and the results it causes arrive that fast.
      for (const e of list.getEntries()) {
        window.cls += e.value;
        window.shifts.push({ value: e.value, nodes: e.sources.map((s) => s.node?.id || s.node?.className || s.node?.nodeName) });
      }
    }).observe({ type: 'layout-shift', buffered: true });
  });
  await upload([model('silero_vad_16k.safetensors')]);
  await runSample(0, false);
  const { cls, shifts } = await page.evaluate(() => ({ cls: window.cls, shifts: window.shifts }));
  console.log(`     layout shift ${cls.toFixed(4)}`);
  // 0.1 is the usual bound for a page that does not jump.
  assert(cls < 0.1, `cumulative layout shift ${cls.toFixed(3)}: ${JSON.stringify(shifts)}`);
});

test('screenshots at desktop and phone widths', async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const [name, viewport] of [
    ['page.png', { width: 1280, height: 900 }],
    ['page-phone.png', { width: 390, height: 844 }],
  ]) {
    await page.setViewportSize(viewport);
    await open();
    await upload([model('silero_vad_16k.safetensors')]);
    await runSample(0, false);
    // No horizontal scrolling of the page itself.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert(overflow <= 0, `page scrolls sideways by ${overflow}px at ${viewport.width}px`);
    await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('no request left the origin, no console errors', async () => {
  const foreign = [...new Set(requests)].filter((u) => !u.startsWith(ORIGIN + '/') && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert(foreign.length === 0, `requests outside ${ORIGIN}: ${foreign.join(', ')}`);
  assert(problems.length === 0, problems.join('\n'));
});

// ---------------------------------------------------------------------------------------------

const only = process.env.ZNN_PAGE_ONLY;
let passed = 0;
let failed = 0;
for (const t of tests) {
  if (only && !t.name.includes(only) && !t.name.startsWith('no request')) continue;
  const t0 = Date.now();
  try {
    await t.fn();
    passed++;
    console.log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name}\n     ${String(e?.stack ?? e).split('\n').join('\n     ')}`);
    try {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      const shot = path.join(ARTIFACTS, `fail-${passed + failed}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`     screenshot: ${path.relative(REPO, shot)}`);
    } catch {
      // the page may be gone
    }
  }
}
await context.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
