// The page: file queue, progress display and results (the work itself runs in worker.js), and
// the "try it" section, which streams a compressed sample through the package's fetchModel.
import { init, fetchModel } from './pkg/index.js';
import { readFailureMessage } from './read-error.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
/**
 * `?max=BYTES` lowers the limits below, `?stream=BYTES` the size compressed as a stream, and
 * `?failread` fails each job's first read of its file part-way (worker.js tries it again): for tests.
 */
const param = (name) => {
  const v = Number(new URLSearchParams(location.search).get(name));
  return Number.isSafeInteger(v) && v > 0 ? v : Infinity;
};
const MAX_PARAM = param('max');
const FAIL_FIRST_READ = new URLSearchParams(location.search).has('failread');
/**
 * Files above this are compressed as a stream (ZnnCompressionStream told the size writes the
 * same file as compress()): compress() holds the file and its compressed copy in wasm memory
 * besides the page's own copies, about 4.5 times the file at the peak (a 1 GB file took 4.6 GB
 * of the tab's memory), where the stream holds a few tens of MiB, for about 30 % more time.
 */
const STREAM_ABOVE = Math.min(param('stream'), 256 * MiB);
/**
 * Largest file the page compresses or restores (MAX_OUTPUT: largest restored file): output
 * is gathered in Blobs (which the browser may keep on disk), not in wasm memory.
 */
const MAX_BYTES = Math.min(MAX_PARAM, 4 * GiB);
const MAX_OUTPUT = Math.min(MAX_PARAM, 4 * GiB);
const ZNW_MAGIC = [0x89, 0x5a, 0x4e, 0x57, 0x0d, 0x0a, 0x1a, 0x0a]; // FORMAT.md §2
const THROTTLE_BYTES_PER_S = 2e6;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// Formatting

/** A size limit as the drop zone states it: in GiB from 1 GiB on. */
function sizeLimit(n) {
  return n >= GiB ? `${+(n / GiB).toFixed(1)} GiB` : formatBytes(n);
}

function formatBytes(n) {
  if (!Number.isFinite(n)) return '—';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 999.5 && u < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

function formatDuration(ms) {
  if (!Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.max(0, ms / 1000).toFixed(2)} s`;
  const s = ms / 1000;
  if (s < 59.95) return `${s.toFixed(1)} s`;
  // Whole seconds first, so that 119.6 s is "2 min 0 s", not "1 min 60 s".
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

function formatRate(bytes, ms) {
  if (!(ms > 0)) return '—';
  const mbs = bytes / 1e6 / (ms / 1000);
  return `${mbs >= 100 ? mbs.toFixed(0) : mbs >= 10 ? mbs.toFixed(1) : mbs.toFixed(2)} MB/s`;
}

function percent(part, whole, digits = 1) {
  return whole > 0 ? `${((part / whole) * 100).toFixed(digits)}%` : '—';
}

/** Builds an element: el('p', { class: 'x' }, 'text', child, ...). Text is never parsed as HTML. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'style') for (const [prop, val] of Object.entries(v)) e.style.setProperty(prop, val); // CSSOM: allowed by the CSP
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c != null && c !== false) e.append(c);
  return e;
}

/** `text` with line-break opportunities after dots, underscores and dashes (long file names). */
function breakable(text) {
  const f = document.createDocumentFragment();
  for (const part of text.split(/(?<=[._-])/)) f.append(part, document.createElement('wbr'));
  f.lastChild?.remove();
  return f;
}

function announce(text) {
  const s = $('status');
  s.textContent = '';
  // A fresh text node makes screen readers repeat an identical message.
  requestAnimationFrame(() => (s.textContent = text));
}

/** What to tell the user about a failure. */
function errorText(err) {
  const m = err.message || String(err);
  switch (err.code) {
    case 'ZNN_CORRUPT':
      return `The file is damaged: ${m}. Nothing was restored.`;
    case 'ZNN_TRUNCATED':
      return `The file is incomplete (cut short): ${m}.`;
    case 'ZNN_NOT_COMPRESSED':
      return `This is not a .znw or ZipNN .znn file: ${m}.`;
    case 'ZNN_UNSUPPORTED':
      // A delta holds only its differences from a base file, which a page cannot be given.
      if (/--base/.test(m)) return `This file is a delta: it holds only its differences from the base file it was made against, and this page cannot take a base. Restore it with the command-line tool: zipnn decompress FILE --base BASE (${m}).`;
      return `The file uses a feature this version does not support: ${m}.`;
    case 'ZNN_TOO_LARGE':
      // The page's own cap on a restored file (MAX_OUTPUT), not the browser's memory.
      if (/exceeds the limit of/.test(m)) return `This page restores files of up to ${sizeLimit(MAX_OUTPUT)}; this one decodes to more (${m}). Use the command-line tool (zipnn decompress) for bigger files.`;
      return `Not enough memory for this file in the browser (${m}): WebAssembly has at most 4 GiB for the file and its compressed copy, and the browser may have less. Use the command-line tool (zipnn compress / zipnn decompress) for files this big.`;
    case 'ZNN_INTERNAL':
      return `Internal error in the compressor: ${m}. Please report it with the file.`;
    case 'ZNN_VERIFY':
      return `Verification failed: ${m}. Please report this file.`;
    case 'ZNN_WORKER':
    case 'ZNN_READ':
      return m;
    default:
      return `${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${m}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The worker

let worker = null; // the worker jobs go to
let spare = null; // a second one, loaded in advance: Cancel swaps it in at once, even offline
let loadError = null; // why the wasm module did not load, kept on show
let workersBroken = false; // the worker jobs go to could not load it: start no more (each would fail again)

let spawned = 0; // workers started: `data-spawned`, for tests

function spawn() {
  spawned++;
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'zipnn' });
  w.state = 'loading';
  w.onmessage = ({ data }) => {
    if (data.type === 'ready') w.state = 'ready';
    else if (data.type === 'fatal') w.state = 'broken'; // a spare: replaced when its turn comes
    showWorkers();
  };
  w.onerror = (e) => {
    e.preventDefault();
    w.state = 'broken';
    showWorkers();
  };
  return w;
}

/** For tests and the curious: `data-workers="ready ready"` once both workers loaded. */
function showWorkers() {
  $('progress-panel').dataset.workers = `${worker?.state} ${spare?.state}`;
  $('progress-panel').dataset.spawned = String(spawned);
}

function useWorker(w) {
  worker = w;
  w.onmessage = ({ data }) => {
    if (data.type === 'ready') {
      w.state = 'ready';
      showWorkers();
    } else if (data.type === 'fatal') {
      w.state = 'broken';
      // The job (if any) gets the reason from the worker itself.
      workersBroken = true;
      showLoadError(data.message);
      showWorkers();
    } else onJobMessage(data);
  };
  w.onerror = (e) => {
    e.preventDefault();
    const loaded = w.state === 'ready';
    w.state = 'broken';
    // An uncaught failure: a worker that never loaded could not fetch its script (offline, say);
    // one that ran was most likely killed for memory. The job cannot finish either way.
    workerFailed(
      w,
      loaded
        ? `The compressor stopped unexpectedly${e.message ? ` (${e.message})` : ''}; most likely the browser ran out of memory for this file.`
        : 'The compressor could not be loaded (is the network down?). Reload the page once it is back.',
    );
  };
  w.onmessageerror = () => workerFailed(w, 'The compressor sent a message the page could not read.');
}

/**
 * Puts the spare in place of the current worker (which is terminated) and loads a new spare;
 * not once the module failed to load (new workers would fetch it again and fail again).
 */
function replaceWorker() {
  if (workersBroken) return;
  worker?.terminate();
  let next = spare;
  if (!next || next.state === 'broken') {
    next?.terminate();
    next = spawn();
  }
  useWorker(next);
  spare = spawn();
  showWorkers();
}

/** The running job fails with `message`; the next job gets a fresh worker (no restart loop when loading fails). */
function workerFailed(w, message) {
  if (w !== worker || !current) return;
  replaceWorker();
  finishJob(current, { error: { code: 'ZNN_WORKER', message } });
}

function onJobMessage(msg) {
  if (!current || msg.id !== current.id) return;
  if (msg.type === 'phase') setPhase(msg.phase, msg.total);
  else if (msg.type === 'progress') setProgress(msg.done, msg.total);
  else if (msg.type === 'done') finishJob(current, { result: msg.result });
  else if (msg.type === 'error') finishJob(current, { error: msg.error });
}

// ---------------------------------------------------------------------------------------------
// Jobs

let nextId = 1;
const queue = [];
let current = null;
const objectUrls = new Set();

const PHASES = {
  compress: { read: 'Reading', compress: 'Compressing', verify: 'Verifying' },
  decompress: { decompress: 'Decompressing' },
};

function restoredName(name) {
  if (/\.znn\.safetensors$/i.test(name)) return name.replace(/\.znn\.safetensors$/i, '.safetensors');
  const stripped = name.replace(/\.(znw|znn)$/i, '');
  if (stripped !== name && stripped !== '') return stripped;
  return `${name}.restored`;
}

async function looksCompressed(file) {
  if (/\.(znw|znn)$|\.znn\.safetensors$/i.test(file.name)) return true;
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  if (head.length >= ZNW_MAGIC.length && ZNW_MAGIC.every((b, i) => head[i] === b)) return true;
  // A ZipNN frame header ("ZN", its byte-reorder code, a float type code), as the package
  // tells one apart from plain bytes.
  return head.length === 16 && head[0] === 0x5a && head[1] === 0x4e && (head[5] === 10 || head[5] === 220) && [1, 4, 6, 29, 30].includes(head[15]);
}

/**
 * Queues `fileList` as one batch. `folders`: the indices of entries that are folders (a drop
 * gives each as a File that cannot be read).
 */
async function addFiles(fileList, folders = new Set()) {
  const files = [...fileList];
  if (files.length === 0) return;
  const dtype = $('dtype').value;
  const verify = $('verify').checked;
  const added = [];
  // Its size and each file's place in it are kept with the jobs: Clear may remove cards meanwhile.
  const batch = { size: files.length, settled: 0, failed: 0 };
  const cancelsBefore = cancels;
  looking++;
  $('cancel').disabled = false; // (each file settles, and the last one turns it off)
  try {
    await addBatch(files, folders, { batch, dtype, verify, cancelsBefore, added });
  } finally {
    looking--;
  }
  if (added.length && cancels === cancelsBefore) announce(`${added.length} file${added.length > 1 ? 's' : ''} added.`);
}

async function addBatch(files, folders, { batch, dtype, verify, cancelsBefore, added }) {
  for (const [i, file] of files.entries()) {
    const job = { id: nextId++, batch, index: i + 1, file, dtype, verify, mode: 'compress' };
    job.card = createCard(job);
    if (folders.has(i)) {
      finishJob(job, { error: { code: 'ZNN_INPUT', message: `${file.name} is a folder: choose or drop the files in it.` } });
      continue;
    }
    // Each file's head is read before it is queued: Cancel meanwhile cancels the rest of the batch too.
    if (cancels !== cancelsBefore) {
      markCancelled(job);
      continue;
    }
    try {
      job.mode = (await looksCompressed(file)) ? 'decompress' : 'compress';
    } catch (e) {
      // (Removed between the choice and this first read of its head.)
      const unreadable = readFailureMessage(e);
      finishJob(job, { error: unreadable ? { code: 'ZNN_READ', message: unreadable } : { message: `cannot read ${file.name}: ${e.message}` } });
      continue;
    }
    if (cancels !== cancelsBefore) {
      markCancelled(job);
      continue;
    }
    // A restore is bounded by what it makes (MAX_OUTPUT, told from its header or as it is
    // made): an incompressible file compresses to a few bytes more than itself. One far bigger
    // is refused at once (a ZipNN file does not say its size).
    const over = job.mode === 'compress' ? file.size > MAX_BYTES : file.size > MAX_OUTPUT + MAX_OUTPUT / 64 + MiB;
    if (over) {
      finishJob(job, {
        error: {
          code: 'ZNN_LIMIT',
          message: `${file.name} is ${formatBytes(file.size)}; this page ${job.mode === 'compress' ? 'compresses' : 'restores'} files up to ${sizeLimit(MAX_BYTES)}. Use the command-line tool (zipnn) for bigger files.`,
        },
      });
      continue;
    }
    setCardWaiting(job);
    queue.push(job);
    added.push(job);
    // The first file starts while the rest are looked at (and Cancel can stop them).
    pump();
  }
}

function pump() {
  if (current || queue.length === 0) return;
  current = queue.shift();
  const job = current;
  job.started = performance.now();
  job.phases = Object.keys(PHASES[job.mode]).filter((p) => p !== 'verify' || job.verify);
  job.card.dataset.state = 'running';
  job.card.querySelector('.result-status').textContent = 'Working…';
  $('cancel').disabled = false;
  $('progress-panel').dataset.state = 'running';
  if (worker.state === 'broken') replaceWorker();
  setPhase(job.phases[0], job.file.size);
  announce(`${job.mode === 'compress' ? 'Compressing' : 'Restoring'} ${job.file.name}.`);
  worker.postMessage({
    type: 'job',
    id: job.id,
    mode: job.mode,
    file: job.file,
    dtype: job.dtype,
    verify: job.verify,
    maxOutput: MAX_OUTPUT,
    streamAbove: STREAM_ABOVE,
    failFirstRead: FAIL_FIRST_READ,
  });
}

/** A job on a file this big leaves the worker's wasm memory grown (it never shrinks; compress()
 * holds the file and its compressed copy, a 250 MiB file left 900 MiB): the next big file would
 * then find less room than in a fresh tab, and a tab kept open holds it. Such a worker is replaced. */
const REPLACE_AFTER = 32 * MiB;

function finishJob(job, { result, error }) {
  job.batch.settled++;
  if (error) job.batch.failed++;
  if (job === current) {
    current = null;
    stopTicker();
    // (Not after the worker failed: that already replaced it.)
    const big = job.file.size >= REPLACE_AFTER || (result?.originalSize ?? 0) >= REPLACE_AFTER;
    // Only with a spare loaded: offline, a new worker could not load its script.
    if (big && error?.code !== 'ZNN_WORKER' && spare?.state === 'ready') replaceWorker();
  }
  if (error) renderError(job, error);
  else renderResult(job, result);
  // (Not while files of the batch are still being looked at: one of them may yet run.)
  if (!current && queue.length === 0 && job.batch.settled === job.batch.size) {
    $('cancel').disabled = true;
    const { size, failed } = job.batch;
    const panel = $('progress-panel');
    panel.dataset.state = failed ? 'error' : 'done';
    $('progress').max = 1;
    $('progress').value = failed ? 0 : 1;
    if (size > 1) {
      $('progress-title').textContent = failed ? `${failed} of ${size} files failed` : `Done: ${size} files`;
      $('progress-stats').textContent = failed ? 'See the messages below.' : 'Every file is ready to download below.';
    } else {
      $('progress-title').textContent = error ? `Could not finish ${job.file.name}` : 'Done';
      $('progress-stats').textContent = error ? errorText(error) : summaryLine(job, result);
    }
    if ($('cancel') === document.activeElement) $('file-input').focus();
  }
  pump();
}

/** Cancel presses so far: a batch whose files are still being looked at stops at the next one. */
let cancels = 0;
/** Batches whose files are being looked at (their first bytes read) before they are queued. */
let looking = 0;

function cancelAll() {
  if (!current && queue.length === 0 && looking === 0) return;
  cancels++;
  replaceWorker();
  const cancelled = [current, ...queue].filter(Boolean);
  queue.length = 0;
  current = null;
  stopTicker();
  cancelled.forEach(markCancelled);
  $('cancel').disabled = true;
  $('progress-panel').dataset.state = 'idle';
  $('progress').max = 1;
  $('progress').value = 0;
  $('progress-title').textContent = 'Cancelled';
  $('progress-stats').textContent = 'Choose files to start again.';
  announce('Cancelled.');
  $('file-input').focus();
}

function markCancelled(job) {
  job.batch.settled++;
  job.card.dataset.state = 'cancelled';
  job.card.querySelector('.result-status').textContent = 'Cancelled';
  job.card.querySelector('.result-body').replaceChildren(el('p', { class: 'note' }, 'Cancelled before it finished; nothing was kept.'));
}

// ---------------------------------------------------------------------------------------------
// Progress

const prog = { phase: null, total: 0, done: 0, since: 0, ticker: 0 };

function setPhase(phase, total) {
  const job = current;
  if (!job) return;
  prog.phase = phase;
  prog.total = total;
  prog.done = 0;
  prog.since = performance.now();
  const step = job.phases.indexOf(phase) + 1;
  const label = PHASES[job.mode][phase];
  const files = fileIndex(job);
  $('progress-title').textContent =
    job.phases.length > 1 ? `${label} ${job.file.name} (step ${step} of ${job.phases.length})${files}` : `${label} ${job.file.name}${files}`;
  const bar = $('progress');
  bar.max = Math.max(1, total);
  bar.value = 0;
  if (step > 1) announce(`${label}…`);
  startTicker();
  renderProgress();
}

/** " · file i of n" when the job came with others in one drop or choice. */
function fileIndex(job) {
  return job.batch.size < 2 ? '' : ` · file ${job.index} of ${job.batch.size}`;
}

function setProgress(done, total) {
  prog.done = done;
  prog.total = total;
  $('progress').max = Math.max(1, total);
  $('progress').value = done;
  renderProgress();
}

function renderProgress() {
  if (!current) return;
  const elapsed = performance.now() - prog.since;
  const parts = [`${formatBytes(prog.done)} of ${formatBytes(prog.total)}`];
  if (elapsed > 150 && prog.done > 0) {
    parts.push(formatRate(prog.done, elapsed));
    const left = ((prog.total - prog.done) / prog.done) * elapsed;
    parts.push(`${formatDuration(left)} left`);
  } else {
    parts.push('— MB/s', 'estimating…');
  }
  $('progress-stats').textContent = parts.join(' · ');
}

function startTicker() {
  if (!prog.ticker) prog.ticker = setInterval(renderProgress, 250);
}

function stopTicker() {
  clearInterval(prog.ticker);
  prog.ticker = 0;
}

function summaryLine(job, result) {
  if (job.mode === 'compress') {
    return `${job.file.name}: ${formatBytes(result.originalSize)} → ${formatBytes(result.compressedSize)} (${percent(result.compressedSize, result.originalSize)}) in ${formatDuration(result.compressMs)}.`;
  }
  return `${job.file.name}: restored ${formatBytes(result.originalSize)} in ${formatDuration(result.decompressMs)}.`;
}

// ---------------------------------------------------------------------------------------------
// Result cards

function createCard(job) {
  const card = el(
    'li',
    { class: 'result', dataset: { state: 'waiting', kind: job.mode, job: String(job.id) } },
    el('div', { class: 'result-head' }, el('h4', { class: 'result-name' }, breakable(job.file.name)), el('span', { class: 'result-status' }, 'Waiting…')),
    el('div', { class: 'result-body' }, el('p', { class: 'note' }, formatBytes(job.file.size))),
  );
  $('results').prepend(card);
  $('results-head').hidden = false;
  return card;
}

function setCardWaiting(job) {
  job.card.dataset.kind = job.mode;
  job.card.querySelector('.result-body').replaceChildren(
    el('p', { class: 'note' }, `${formatBytes(job.file.size)} · ${job.mode === 'compress' ? 'will be compressed' : 'will be restored'}`),
  );
}

function stat(label, value, extra) {
  return el('div', { class: 'stat' }, el('dt', {}, label), el('dd', {}, value, extra ? el('span', { class: 'stat-extra' }, extra) : null));
}

function downloadLink(blob, name, size) {
  const url = URL.createObjectURL(blob);
  objectUrls.add(url);
  return el(
    'a',
    { class: 'button download', href: url, download: name, dataset: { size: String(size) } },
    el('span', { class: 'download-name' }, 'Download ', breakable(name)),
    el('span', { class: 'download-size' }, formatBytes(size)),
  );
}

function renderError(job, error) {
  const card = job.card;
  card.dataset.state = 'error';
  card.querySelector('.result-status').textContent = 'Failed';
  card.querySelector('.result-body').replaceChildren(
    el('p', { class: 'error', role: 'alert', dataset: { code: error.code || '' } }, errorText(error)),
  );
}

function renderResult(job, r) {
  const card = job.card;
  card.dataset.state = 'done';
  card.dataset.originalBytes = String(r.originalSize);
  card.dataset.compressedBytes = String(r.compressedSize);
  const status = card.querySelector('.result-status');
  const body = card.querySelector('.result-body');
  const saved = r.originalSize > 0 ? 1 - r.compressedSize / r.originalSize : 0;
  const savedText = r.originalSize > 0 ? `${saved >= 0 ? '−' : '+'}${Math.abs(saved * 100).toFixed(1)}%` : '';

  if (job.mode === 'compress') {
    const outName = `${job.file.name}.znw`;
    status.replaceChildren(r.verified ? el('span', { class: 'badge ok' }, '✓ Round trip verified') : el('span', { class: 'badge' }, 'Not verified'));
    const children = [
      el(
        'dl',
        { class: 'stats' },
        stat('Original', formatBytes(r.originalSize)),
        stat('Compressed', formatBytes(r.compressedSize)),
        stat('Ratio', el('span', { class: 'ratio' }, percent(r.compressedSize, r.originalSize)), ` ${savedText}`),
        stat('Time', formatDuration(r.compressMs), ` ${formatRate(r.originalSize, r.compressMs)}`),
      ),
      el(
        'p',
        { class: 'note' },
        r.verified
          ? `Verified: decompressed here and compared with the original byte for byte (${formatDuration(r.verifyMs)}); every chunk's checksum matched.`
          : 'Not verified (turn on “Verify the round trip” to decompress and compare).',
        ` ${containerLine(r.report)}${r.report.streamed ? ` Read and compressed as a stream (files over ${formatBytes(STREAM_ABOVE)} are).` : ''}`,
      ),
      el('div', { class: 'actions' }, downloadLink(r.blob, outName, r.compressedSize)),
    ];
    const sug = r.report.suggestion;
    if (sug && job.dtype !== sug.dtype) {
      children.push(
        el('p', { class: 'tip' }, `Tip: this file was stored as plain bytes. As ${sug.dtype.toUpperCase()} it would compress to about ${(sug.ratio * 100).toFixed(1)}% instead of ${(sug.currentRatio * 100).toFixed(1)}%; choose “${sug.dtype.toUpperCase()}” under Data type and compress it again.`),
      );
    }
    const segs = r.report.segments.filter((s) => s.length > 0);
    if (segs.length) children.push(dtypeChart(segs, r.originalSize), tensorTable(segs, r.report.container));
    body.replaceChildren(...children);
    announce(`${job.file.name} compressed to ${percent(r.compressedSize, r.originalSize)} of its size${r.verified ? ', round trip verified' : ''}. Download ready.`);
  } else {
    const outName = restoredName(job.file.name);
    // Only .znw carries checksums; ZipNN's files decode without any check of their bytes.
    const note = r.verified
      ? 'Verified: the file decoded completely and the checksum of every decoded chunk matched, so these are the original bytes.'
      : `Decoded completely, but not verified: ZipNN files carry no checksums, so damage that still decodes cannot be detected.${
          r.kind === 'znn-safetensors'
            ? ' The tensors are restored as zipnn stored them; the safetensors header is written anew (same names, types and shapes, but its bytes may differ from the original file’s).'
            : ''
        }`;
    status.replaceChildren(r.verified ? el('span', { class: 'badge ok' }, '✓ Checksums verified') : el('span', { class: 'badge' }, 'Decoded, no checksums'));
    body.replaceChildren(
      el(
        'dl',
        { class: 'stats' },
        stat('Compressed', formatBytes(r.compressedSize)),
        stat('Restored', formatBytes(r.originalSize)),
        stat('Ratio', el('span', { class: 'ratio' }, percent(r.compressedSize, r.originalSize)), ` ${savedText}`),
        stat('Time', formatDuration(r.decompressMs), ` ${formatRate(r.originalSize, r.decompressMs)}`),
      ),
      el('p', { class: 'note' }, note),
      el('div', { class: 'actions' }, downloadLink(r.blob, outName, r.originalSize)),
    );
    announce(`${job.file.name} restored${r.verified ? ', checksums verified' : ' (no checksums to verify)'}. Download ready.`);
  }
}

function containerLine(report) {
  const kind = report.container === 'raw' ? 'raw data' : `${report.container} container`;
  return `Format .${report.format}, ${kind}, ${report.chunks} chunk${report.chunks === 1 ? '' : 's'} of up to ${report.chunkSize % 1024 === 0 ? (report.chunkSize % 2 ** 20 === 0 ? `${report.chunkSize / 2 ** 20} MiB` : `${report.chunkSize / 1024} KiB`) : formatBytes(report.chunkSize)}.`;
}

function segmentName(s, container) {
  if (s.name === '__header__') return `${container === 'raw' ? '' : `${container} `}header`;
  if (s.name === '__padding__') return 'padding';
  return s.name || (container === 'raw' ? '(whole file)' : '(unnamed)');
}

function segmentType(s) {
  return s.label || s.dtype || '?';
}

/** Where the bytes go, by type: one bar per type, its length the type's share of the file and its fill what compression kept. */
function dtypeChart(segs, total) {
  const groups = new Map();
  for (const s of segs) {
    const key = s.name === '__header__' ? 'header' : s.name === '__padding__' ? 'padding' : segmentType(s);
    const g = groups.get(key) ?? { key, original: 0, compressed: 0, count: 0 };
    g.original += s.length;
    g.compressed += s.compressed;
    g.count++;
    groups.set(key, g);
  }
  const rows = [...groups.values()].sort((a, b) => b.original - a.original);
  const list = el('ul', { class: 'chart' });
  for (const g of rows) {
    const share = total > 0 ? (g.original / total) * 100 : 0;
    const kept = g.original > 0 ? Math.min(100, (g.compressed / g.original) * 100) : 0;
    const track = el('span', { class: 'chart-track', style: { '--share': `${Math.max(share, 0.5).toFixed(2)}%` } }, el('span', { class: 'chart-fill', style: { '--kept': `${kept.toFixed(2)}%` } }));
    list.append(
      el(
        'li',
        { class: 'chart-row' },
        el('span', { class: 'chart-label' }, g.key, el('span', { class: 'chart-count' }, g.key === 'header' || g.key === 'padding' ? '' : ` ×${g.count}`)),
        el('span', { class: 'chart-bar' }, track),
        el('span', { class: 'chart-value' }, `${formatBytes(g.original)} → ${formatBytes(g.compressed)}`, el('span', { class: 'chart-pct' }, percent(g.compressed, g.original, 0))),
      ),
    );
  }
  return el(
    'figure',
    { class: 'chart-figure' },
    el('figcaption', {}, 'Where the bytes go, by type', el('span', { class: 'legend' }, el('span', { class: 'key orig' }), 'original', el('span', { class: 'key comp' }), 'compressed')),
    list,
  );
}

function tensorTable(segs, container) {
  const rows = segs.map((s) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row', class: 'name', title: s.name || null }, segmentName(s, container)),
      el('td', {}, segmentType(s)),
      el('td', { class: 'shape' }, s.shape?.length ? `[${s.shape.join(', ')}]` : s.name.startsWith('__') ? '' : '[]'),
      el('td', { class: 'num' }, formatBytes(s.length)),
      el('td', { class: 'num' }, formatBytes(s.compressed)),
      el('td', { class: 'num' }, percent(s.compressed, s.length)),
    ),
  );
  const tensors = container === 'raw' ? 0 : segs.filter((s) => !s.name.startsWith('__')).length;
  const title = tensors > 0 ? `${tensors} tensor${tensors === 1 ? '' : 's'}` : `${segs.length} segment${segs.length === 1 ? '' : 's'}`;
  return el(
    'details',
    { class: 'tensor-details', open: segs.length <= 60 },
    el('summary', {}, `${title}: type, shape and size of each`),
    el(
      'div',
      { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': `${title} of this file` },
      el(
        'table',
        { class: 'tensors' },
        el('thead', {}, el('tr', {}, ['Name', 'Type', 'Shape', 'Size', 'Compressed', 'Ratio'].map((h, i) => el('th', { scope: 'col', class: i >= 3 ? 'num' : null }, h)))),
        el('tbody', {}, rows),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Input: file chooser, drag and drop anywhere on the page

function setupInput() {
  const input = $('file-input');
  input.addEventListener('change', () => {
    addFiles(input.files);
    input.value = ''; // choosing the same file again fires `change` again
  });
  const drop = $('drop');
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
  window.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    drop.classList.add('dragging');
  });
  window.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) drop.classList.remove('dragging');
  });
  window.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault(); // otherwise the browser would open the file and leave the page
    e.dataTransfer.dropEffect = 'copy';
  });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    drop.classList.remove('dragging');
    // A dropped folder comes as a File that cannot be read: told apart here, while the drop's
    // entries can be looked at (its files and its items of kind "file" are in the same order).
    const items = [...(e.dataTransfer.items ?? [])].filter((it) => it.kind === 'file');
    const folders = new Set(items.flatMap((it, i) => (it.webkitGetAsEntry?.()?.isDirectory ? [i] : [])));
    addFiles(e.dataTransfer.files, folders);
  });
  $('cancel').addEventListener('click', cancelAll);
  $('clear').addEventListener('click', () => {
    for (const card of [...$('results').children]) {
      if (card.dataset.state === 'running' || card.dataset.state === 'waiting') continue;
      card.querySelectorAll('a[href^="blob:"]').forEach((a) => {
        URL.revokeObjectURL(a.href);
        objectUrls.delete(a.href);
      });
      card.remove();
    }
    $('results-head').hidden = $('results').children.length === 0;
    // Clear hides itself: focus goes where Cancel sends it, not to the page's start.
    if ($('results-head').hidden) $('file-input').focus();
    announce('Results cleared.');
  });
  $('drop-help').textContent = `.safetensors, .bin, .onnx, … up to ${sizeLimit(MAX_BYTES)} each`;
}

// ---------------------------------------------------------------------------------------------
// "Try it": fetchModel on a bundled sample

let samples = [];
let tryController = null;

async function loadSamples() {
  const select = $('sample');
  try {
    const res = await fetch('sample/sample.json', { cache: 'no-cache' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    samples = (await res.json()).samples ?? [];
  } catch {
    samples = [];
  }
  if (samples.length === 0) {
    select.replaceChildren(el('option', {}, 'No sample on this server'));
    $('sample-info').textContent = 'Start the page with `node scripts/serve.mjs`: it compresses a sample model with the CLI.';
    return;
  }
  select.replaceChildren(...samples.map((s, i) => el('option', { value: String(i) }, `${s.title} · ${formatBytes(s.originalSize)}`)));
  select.disabled = false;
  $('try-start').disabled = false;
  select.addEventListener('change', showSample);
  showSample();
}

function showSample() {
  const s = samples[Number($('sample').value) || 0];
  $('sample-info').textContent = `${s.description}: ${formatBytes(s.originalSize)}, ${formatBytes(s.compressedSize)} compressed (${percent(s.compressedSize, s.originalSize)})`;
  $('sha-expected').textContent = s.sha256;
  resetTry();
}

function resetTry() {
  $('sha-computed').textContent = '—';
  $('sha-badge').hidden = true;
  $('tensor-rows').replaceChildren();
  $('tensor-empty').hidden = false;
  $('tensor-count').textContent = '';
  for (const id of ['dl', 'dec']) {
    $(`${id}-progress`).max = 1;
    $(`${id}-progress`).value = 0;
    $(`${id}-text`).textContent = '—';
  }
  if (loadError) $('try-status').textContent = loadError;
  else $('try-status').innerHTML = '&nbsp;';
}

/** The wasm module did not load (here or in a worker): say so where it stays visible. */
function showLoadError(message) {
  loadError ??= `Could not load the WebAssembly module: ${String(message).replace(/^could not load the WebAssembly module: /, '')}`;
  $('try-status').textContent = loadError;
}

/** A fetch whose body arrives at most `rate` bytes per second (the demo's "slow connection"). */
function throttledFetch(rate) {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (!res.body) return res;
    const reader = res.body.getReader();
    const start = performance.now();
    let sent = 0;
    const body = new ReadableStream({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        for (let at = 0; at < value.length; at += 32 * 1024) {
          const piece = value.subarray(at, at + 32 * 1024);
          sent += piece.length;
          const wait = (sent / rate) * 1000 - (performance.now() - start);
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          controller.enqueue(piece);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

const PREVIEW = {
  F64: [8, (dv, o) => dv.getFloat64(o, true)],
  F32: [4, (dv, o) => dv.getFloat32(o, true)],
  F16: [2, (dv, o) => half(dv.getUint16(o, true))],
  BF16: [2, (dv, o) => {
    const f = new DataView(new ArrayBuffer(4));
    f.setUint32(0, dv.getUint16(o, true) << 16);
    return f.getFloat32(0);
  }],
  I64: [8, (dv, o) => dv.getBigInt64(o, true)],
  I32: [4, (dv, o) => dv.getInt32(o, true)],
  I16: [2, (dv, o) => dv.getInt16(o, true)],
  I8: [1, (dv, o) => dv.getInt8(o)],
  U8: [1, (dv, o) => dv.getUint8(o)],
  BOOL: [1, (dv, o) => dv.getUint8(o) !== 0],
};
const DTYPE_ALIASES = { FP32: 'F32', FLOAT32: 'F32', FP16: 'F16', FLOAT16: 'F16', FP64: 'F64', BFLOAT16: 'BF16' };

function half(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function preview(t) {
  const key = String(t.dtype).toUpperCase();
  const p = PREVIEW[DTYPE_ALIASES[key] ?? key];
  if (!p) return '';
  const [size, read] = p;
  const dv = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const n = Math.min(3, Math.floor(t.bytes.length / size));
  const vals = [];
  for (let i = 0; i < n; i++) {
    const v = read(dv, i * size);
    vals.push(typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(3)).toString() : String(v));
  }
  return vals.join(', ') + (t.bytes.length / size > n ? ', …' : '');
}

async function sha256Hex(buffer) {
  if (!globalThis.crypto?.subtle) throw new Error('crypto.subtle needs a secure context (https or localhost)');
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function runTry() {
  if (tryController) {
    tryController.abort(new DOMException('Stopped', 'AbortError'));
    return;
  }
  const s = samples[Number($('sample').value) || 0];
  resetTry();
  const button = $('try-start');
  const controller = new AbortController();
  tryController = controller;
  button.textContent = 'Stop';
  $('sample').disabled = true;
  $('try-status').textContent = `Streaming ${s.file}…`;
  const rows = $('tensor-rows');
  let count = 0;
  let pending = null;
  let last = null;
  const draw = () => {
    pending = null;
    const p = last;
    if (!p) return;
    const total = p.total || s.compressedSize;
    $('dl-progress').max = Math.max(1, total);
    $('dl-progress').value = p.loaded;
    $('dl-text').textContent = `${formatBytes(p.loaded)} of ${formatBytes(total)}`;
    const dtotal = p.decodedTotal || s.originalSize;
    $('dec-progress').max = Math.max(1, dtotal);
    $('dec-progress').value = p.decoded;
    $('dec-text').textContent = `${formatBytes(p.decoded)} of ${formatBytes(dtotal)}`;
  };
  const t0 = performance.now();
  try {
    const buffer = await fetchModel(`sample/${encodeURIComponent(s.file)}`, {
      signal: controller.signal,
      fetch: $('throttle').checked ? throttledFetch(THROTTLE_BYTES_PER_S) : undefined,
      onProgress(p) {
        last = p;
        pending ??= requestAnimationFrame(draw);
      },
      onTensor(t) {
        count++;
        $('tensor-empty').hidden = true;
        rows.append(
          el(
            'tr',
            {},
            el('td', { class: 'num idx' }, String(count)),
            el('th', { scope: 'row', class: 'name' }, t.name),
            el('td', {}, t.dtype),
            el('td', { class: 'shape' }, `[${t.shape.join(', ')}]`),
            el('td', { class: 'num' }, formatBytes(t.length)),
            el('td', { class: 'values' }, preview(t)),
          ),
        );
        $('tensor-count').textContent = `(${count})`;
        const log = rows.closest('.tensor-log');
        log.scrollTop = log.scrollHeight;
      },
    });
    if (pending) cancelAnimationFrame(pending);
    draw();
    const ms = performance.now() - t0;
    $('try-status').textContent = `Received ${formatBytes(last?.loaded ?? s.compressedSize)} and decoded ${formatBytes(buffer.byteLength)} (${count} tensors) in ${formatDuration(ms)}. Computing sha256…`;
    const hex = await sha256Hex(buffer);
    $('sha-computed').textContent = hex;
    const ok = hex === s.sha256;
    const badge = $('sha-badge');
    badge.hidden = false;
    badge.className = `badge ${ok ? 'ok' : 'bad'}`;
    badge.textContent = ok ? '✓ matches' : '✗ differs';
    $('try-status').textContent = `Received ${formatBytes(last?.loaded ?? s.compressedSize)}, decoded ${formatBytes(buffer.byteLength)} (${count} tensors) in ${formatDuration(ms)}. ${ok ? 'The sha256 matches the original.' : 'The sha256 does NOT match the original!'}`;
  } catch (e) {
    if (pending) cancelAnimationFrame(pending);
    $('try-status').textContent = e?.name === 'AbortError' ? 'Stopped.' : `Failed: ${errorText(e)}`;
  } finally {
    tryController = null;
    button.textContent = 'Stream the sample';
    $('sample').disabled = samples.length === 0;
  }
}

// ---------------------------------------------------------------------------------------------

setupInput();
useWorker(spawn());
spare = spawn();
$('try-start').addEventListener('click', runTry);
$('throttle').nextElementSibling.querySelector('.field-help').textContent = `${formatBytes(THROTTLE_BYTES_PER_S)}/s, so you can watch it stream`;
loadSamples();
// Load the wasm module now, so that everything keeps working if the network goes away.
init().catch((e) => showLoadError(e.message));
// (Not when the page is kept to come back to with Back: its download links must still work.)
window.addEventListener('pagehide', (e) => e.persisted || objectUrls.forEach((u) => URL.revokeObjectURL(u)));
