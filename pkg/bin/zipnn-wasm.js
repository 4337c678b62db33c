#!/usr/bin/env node
// zipnn-wasm CLI: the native `zipnn` tool's behaviour on top of the wasm package.
// Refuses to overwrite without --force, `-` is stdin/stdout, errors are one line + exit 1
// (usage errors exit 2).
import fs from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compress, inspect, ZnnCompressionStream, ZnnDecompressionStream, ZnnError, TooLargeError } from '../node.js';
import { fixed4 } from './fixed4.js';

const USAGE = `\
usage: zipnn-wasm compress IN... [-o OUT] [--dtype auto|bytes|bf16|fp16|fp32|fp64|fp8-e4m3|fp8-e5m2|
                                                   q4_0|q4_1|q5_0|q5_1|q8_0|q2_k|q3_k|q4_k|q5_k|q6_k]
                                 [--format znw|zipnn] [--chunk-size SIZE] [--streaming-chunk SIZE]
                                 [--verify] [--force]
       zipnn-wasm decompress IN... [-o OUT] [--force]
       zipnn-wasm inspect IN
       zipnn-wasm test IN...      (decode, verify every checksum of .znw files, write nothing)
--dtype types what no container names (a raw file); auto, the default, measures the grouping.
SIZE is a number of bytes, or of KiB, MiB or GiB with K, M or G after it (64K, 1MiB).
IN and OUT may be '-' for stdin/stdout. Compressed files get the .znw extension (.znn with
--format zipnn, which needs --dtype). Several INs (model-*.safetensors) each get their own
output (-o takes one IN); a file that fails is reported and the others still run.
Outputs take the input file's permissions and times; compressed data is not written to
(or read from) a terminal without --force. --name=VALUE works too; -- ends the options.
zipnn-wasm --version prints the version.`;

const ZNW_MAGIC = Buffer.from([0x89, 0x5a, 0x4e, 0x57, 0x0d, 0x0a, 0x1a, 0x0a]);

class Fail extends Error {
  constructor(message, usage = false) {
    super(message);
    this.usage = usage;
  }
}

function parse(args) {
  const a = { inputs: [], force: false, verify: false };
  for (let i = 0; i < args.length; i++) {
    // `--name=value` as well as `--name value`.
    const eq = args[i].startsWith('--') ? args[i].indexOf('=') : -1;
    const arg = eq > 0 ? args[i].slice(0, eq) : args[i];
    let inline = eq > 0 ? args[i].slice(eq + 1) : undefined;
    const value = () => {
      if (inline !== undefined) {
        const v = inline;
        inline = undefined;
        return v;
      }
      if (i + 1 >= args.length) throw new Fail(`${arg} needs a value`, true);
      return args[++i];
    };
    const size = (v) => {
      // Decimal digits after an optional '+', then optionally K, M or G (either case, maybe
      // spelt out: 64K, 64KB, 64KiB) for KiB, MiB, GiB, as the native tool reads them (not
      // 1e3, 0x100, 4.0 or ' 64').
      const m = /^\+?([0-9]+)(?:([KMGkmg])(?:B|iB)?)?$/.exec(v);
      const unit = m?.[2] ? 1024 ** ('KMG'.indexOf(m[2].toUpperCase()) + 1) : 1;
      const n = m ? Number(m[1]) * unit : NaN;
      if (!Number.isSafeInteger(n) || n <= 0) throw new Fail(`bad value for ${arg}: ${JSON.stringify(v)}`, true);
      return n;
    };
    switch (arg) {
      case '-o':
      case '--output':
        a.output = value();
        break;
      case '--dtype':
        a.dtype = value();
        break;
      case '--format':
        a.format = value();
        if (a.format !== 'znw' && a.format !== 'zipnn') throw new Fail(`unknown format ${JSON.stringify(a.format)} (znw or zipnn)`, true);
        break;
      case '--chunk-size':
        a.chunkSize = size(value());
        break;
      case '--streaming-chunk':
        a.streamingChunk = size(value());
        break;
      case '--verify':
        a.verify = true;
        break;
      case '-f':
      case '--force':
        a.force = true;
        break;
      case '-h':
      case '--help':
        a.help = true;
        break;
      case '--':
        // Everything after it is a file, even `-name`.
        a.inputs.push(...args.slice(i + 1));
        i = args.length;
        break;
      default:
        if (arg.startsWith('-') && arg !== '-') throw new Fail(`unknown option ${arg}`, true);
        a.inputs.push(arg);
    }
    if (inline !== undefined) throw new Fail(`${arg} takes no value`, true);
  }
  // node hands over a name that is not UTF-8 with U+FFFD in place of its bad bytes, a name no
  // file has: a usage error, as in the native tool (a real file named with U+FFFD is read).
  for (const name of [...a.inputs, a.output]) {
    if (name?.includes('\uFFFD') && (name === a.output || !fs.existsSync(name))) {
      throw new Fail(`${name} is not valid UTF-8: zipnn-wasm takes names it can print (rename the file, or use stdin and stdout)`, true);
    }
  }
  return a;
}

/** Refuses an option the command would not read, as the native tool does (exit 2). */
function checkFlags(cmd, a) {
  const zipnn = a.format === 'zipnn';
  const allowed = {
    compress: zipnn ? ['-o', '--dtype', '--chunk-size', '--force', '--format', '--streaming-chunk'] : ['-o', '--dtype', '--chunk-size', '--verify', '--force', '--format'],
    decompress: ['-o', '--force'],
    test: ['-o', '--force'], // -o has a message of its own; --force reads from a terminal
    inspect: ['--force'],
  }[cmd];
  if (!allowed) return;
  const given = {
    '-o': a.output !== undefined,
    '--dtype': a.dtype !== undefined,
    '--chunk-size': a.chunkSize !== undefined,
    '--verify': a.verify,
    '--force': a.force,
    '--format': a.format !== undefined,
    '--streaming-chunk': a.streamingChunk !== undefined,
  };
  const extra = Object.keys(given).find((k) => given[k] && !allowed.includes(k));
  if (extra === undefined) {
    // A chunk size the format cannot hold is a usage error too, as a bad --dtype is.
    if (cmd === 'compress' && !zipnn && a.chunkSize !== undefined && (a.chunkSize % 4 !== 0 || a.chunkSize > 2 ** 24)) {
      throw new Fail(`chunk size must be a multiple of 4 in 4..=${2 ** 24}`, true);
    }
    // compress() takes fewer than 2^31 bytes: streaming frames up to 1 GiB here (1 TiB natively),
    // refused before a frame is read.
    const power = (n, min, max) => n === undefined || (n >= min && n <= max && (n & (n - 1)) === 0);
    if (cmd === 'compress' && zipnn && !power(a.chunkSize, 2 ** 10, 2 ** 30)) throw new Fail('ZipNN chunk sizes are powers of two from 1 KiB to 1 GiB', true);
    if (cmd === 'compress' && zipnn && !power(a.streamingChunk, 2 ** 8, 2 ** 30)) throw new Fail('ZipNN streaming chunks are powers of two from 256 bytes to 1 GiB', true);
    return;
  }
  if (cmd === 'compress' && !zipnn && extra === '--streaming-chunk') throw new Fail('--streaming-chunk applies to --format zipnn only', true);
  throw new Fail(`${extra} does not apply to ${cmd}${cmd === 'compress' ? ` --format ${a.format}` : ''}`, true);
}

/** A line for an error of `input`: its message, and the code of a ZnnError. */
function errorLine(input, e) {
  const line = `${e.message}${e instanceof ZnnError ? ` (${e.code})` : ''}`;
  if (line.startsWith(`cannot read ${input}: `)) return line; // named once
  return `${input === '-' ? 'stdin' : input}: ${line}`;
}

/**
 * Runs `one` on each input as gzip and zstd do: a file that fails is reported on its own line
 * and the others still run; the error at the end counts the failures. With one input, its
 * error is the error. Usage errors and anything not a Fail or ZnnError stop at once.
 */
async function eachInput(a, failedTo, one) {
  if (!a.inputs.length) throw new Fail('missing input file', true);
  if (a.inputs.length === 1) {
    try {
      return await one(a.inputs[0]);
    } catch (e) {
      // Named, as with several inputs (and as gzip names it).
      if (!(e instanceof ZnnError || e instanceof Fail) || e.usage) throw e;
      throw new Fail(errorLine(a.inputs[0], e));
    }
  }
  let failed = 0;
  for (const input of a.inputs) {
    try {
      await one(input);
    } catch (e) {
      if (!(e instanceof ZnnError || e instanceof Fail) || e.usage) throw e;
      process.stderr.write(`zipnn-wasm: ${errorLine(input, e)}\n`);
      failed++;
    }
  }
  if (failed) throw new Fail(`${failed} of ${a.inputs.length} files ${failedTo}`);
}

/** What several inputs cannot share: one output, or stdin (read once). */
function checkInputs(a) {
  if (a.output !== undefined && a.inputs.length > 1) throw new Fail(`-o takes one input file, not ${a.inputs.length}`, true);
  if (a.inputs.filter((i) => i === '-').length > 1) throw new Fail("'-' (stdin) can be one input only", true);
}

function oneInput(a) {
  if (a.inputs.length === 1) return a.inputs[0];
  throw new Fail(a.inputs.length ? 'expected one input file' : 'missing input file', true);
}

/**
 * `${path}.tmp${pid}.${n}`, with the file name cut short where the suffix would take it past 255
 * bytes, the usual limit on a name: an output whose own name fits must not fail on its
 * temporary's.
 */
function tempName(path, n) {
  const suffix = `.tmp${process.pid}.${n}`;
  const dir = path.slice(0, path.lastIndexOf('/') + 1);
  let name = '';
  for (const ch of path.slice(dir.length)) {
    if (Buffer.byteLength(name + ch) + suffix.length > 255) break;
    name += ch;
  }
  return dir + name + suffix;
}

/** `path`'s stat, or the descriptor's when it is a number; null if there is none. */
function statOrNull(path) {
  try {
    return typeof path === 'number' ? fs.fstatSync(path, { bigint: true }) : fs.statSync(path, { bigint: true });
  } catch {
    return null;
  }
}

/**
 * Compressed data is neither written to nor read from a terminal unless forced, as gzip and
 * zstd refuse: on a terminal it is garbage, and from one the program would just wait.
 */
function refuseTerminal(a, input, out, compressing) {
  if (a.force) return;
  if (compressing && out === '-' && process.stdout.isTTY) throw new Fail('compressed data not written to a terminal (use --force to write it)');
  if (!compressing && input === '-' && process.stdin.isTTY) throw new Fail('compressed data not read from a terminal (use --force to read it)');
}

/**
 * The output path ('-' for stdout). Only a regular file can be clobbered, and only with
 * --force (a device or pipe such as /dev/null is written to); the input itself never, by
 * whatever path it is named.
 */
function outputPath(input, a, derive) {
  const out = a.output ?? (input === '-' ? '-' : derive(input));
  // `.znw` or `dir/.znw` would decode to a file with no name.
  if (a.output === undefined && (out === '' || out.endsWith('/'))) throw new Fail('cannot name the output after the input: give one with -o');
  if (out === '-') return out;
  const o = statOrNull(out);
  // `-o /dev/stdout` (or `/dev/fd/1`, or the file stdout was redirected to) is stdout: a
  // temporary file renamed over that name would replace the link, and leave what the shell
  // opened for stdout empty. Only a name given with -o: a derived one is a file to write.
  const so = a.output !== undefined && statOrNull(1);
  if (o && so && o.dev === so.dev && o.ino === so.ino) return '-';
  // A file on stdin is the input too. Only a regular file can be lost this way: a device
  // (/dev/null, a terminal) is written to.
  const i = input === '-' ? statOrNull(0) : statOrNull(input);
  if (out === input || (o?.isFile() && i && o.dev === i.dev && o.ino === i.ino)) throw new Fail('output would overwrite the input');
  // Refused before any work: the rename at the end would fail.
  if (o?.isDirectory()) throw new Fail(`${out} is a directory`);
  if (Buffer.byteLength(basename(out)) > 255) throw new Fail(`cannot create ${out}: File name too long`);
  // A symbolic link that points nowhere is there too (as gzip has it).
  let dangling = false;
  try {
    dangling = !o && fs.lstatSync(out).isSymbolicLink();
  } catch {}
  if ((o?.isFile() || dangling) && !a.force) throw new Fail(`${out} already exists (use --force to overwrite)`);
  return out;
}

async function readInput(path) {
  try {
    if (path !== '-') return await fs.promises.readFile(path);
    if (statOrNull(0)?.isDirectory()) throw new Error('is a directory');
    const parts = [];
    for await (const c of process.stdin) parts.push(c);
    return Buffer.concat(parts);
  } catch (e) {
    throw new Fail(`cannot read ${path}: ${e.message}`);
  }
}

/**
 * `inspect` of a regular file read at offsets (the headers and record heads, not the file: a
 * file of any size, as the native tool reads it); stdin, a pipe or a device read whole.
 */
async function inspectFile(path) {
  if (path === '-' || !statOrNull(path)?.isFile()) return inspect(await readInput(path));
  let fd;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    throw new Fail(`cannot read ${path}: ${e.message}`);
  }
  try {
    return await inspect({
      size: Number(fs.fstatSync(fd, { bigint: true }).size),
      read(offset, length) {
        const b = Buffer.alloc(length);
        let n = 0;
        try {
          // As read_exact: a read may return less (network file systems); 0 is the end.
          while (n < length) {
            const got = fs.readSync(fd, b, n, length - n, offset + n);
            if (got === 0) break;
            n += got;
          }
        } catch (e) {
          throw new Fail(`cannot read ${path}: ${e.message}`);
        }
        return b.subarray(0, n); // shorter: cut while being read (TruncatedError)
      },
    });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Temporary output files being written, removed when Ctrl-C, SIGTERM, SIGHUP or SIGXCPU (past
 * the soft `ulimit -t`) ends the program. (node resets inherited dispositions at startup, so
 * SIGHUP ends it even under `nohup`, with or without this handler: unlike the native CLI, it
 * cannot keep that. Past `ulimit -f`, node's writes fail with EFBIG, as the native CLI's.)
 */
const tempFiles = new Set();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGXCPU']) {
  process.on(sig, () => {
    for (const f of tempFiles) fs.rmSync(f, { force: true });
    // The same signal again, to node's own handler or the default, ends the process as that
    // signal does, as gzip ends (a shell script's loop stops at Ctrl-C only when its command
    // died of SIGINT). Not process.exit(), which waits for a thread still blocked opening a
    // FIFO that no one opened from the other end.
    process.removeAllListeners(sig);
    process.kill(process.pid, sig);
  });
}

/**
 * Writes through a temporary file renamed at the end: a failure never leaves a partial output,
 * nor does Ctrl-C, SIGTERM or SIGHUP (the program then ends as that signal does, as the
 * native CLI).
 * A device or pipe is written in place (renaming over /dev/null would replace the device).
 */
async function writeOutput(path, produce, input = '-') {
  if (path === '-') return produce(process.stdout);
  // A file made from a file on disk takes its permissions and times, as gzip's and zstd's do.
  const like = input === '-' ? null : statOrNull(input);
  const mode = like?.isFile() ? Number(like.mode) & 0o777 : 0o666;
  const st = statOrNull(path);
  const inPlace = st && !st.isFile() && !st.isDirectory();
  let tmp = null;
  let ws;
  if (inPlace) {
    // Opened off the main thread: a FIFO no one reads yet blocks its open, and signals must
    // still end the program meanwhile.
    try {
      const fd = await new Promise((resolve, reject) => fs.open(path, 'w', (e, fd) => (e ? reject(e) : resolve(fd))));
      ws = fs.createWriteStream(null, { fd });
    } catch (e) {
      throw new Fail(`cannot create ${path}: ${e.message}`);
    }
  }
  // A temporary file of a name nobody uses ('wx': created new), never an existing file that
  // happens to bear it (even the input). Opened synchronously and listed in the same tick: the
  // signal handler, which runs between ticks, sees every temporary file that exists.
  for (let n = 0; !ws; n++) {
    tmp = tempName(path, n);
    try {
      // Owner only while it is written: its group and mode are the input's at the end.
      const fd = fs.openSync(tmp, 'wx', like?.isFile() ? mode & 0o600 : mode);
      tempFiles.add(tmp);
      ws = fs.createWriteStream(null, { fd });
    } catch (e) {
      if (e.code === 'EEXIST') continue;
      throw new Fail(`cannot create ${path}: ${e.message}`);
    }
  }
  try {
    await produce(ws);
    if (tmp && like?.isFile()) {
      // Best effort, each on its own: a file system without owners, modes or times still gets
      // the output. The group before the mode (and the owner, where allowed: as root).
      try {
        fs.chownSync(tmp, Number(like.uid), Number(like.gid));
      } catch {
        try {
          fs.chownSync(tmp, -1, Number(like.gid));
        } catch {}
      }
      try {
        fs.chmodSync(tmp, mode);
      } catch {}
      // Times in seconds lose nanoseconds: rounded up to the next microsecond, so that the
      // output is never older than its input (make would rebuild it every time).
      const secs = (ns) => Number(ns / 1000n + 1n) / 1e6;
      try {
        fs.utimesSync(tmp, secs(like.atimeNs), secs(like.mtimeNs));
      } catch {}
    }
    if (tmp) await fs.promises.rename(tmp, path);
    tempFiles.delete(tmp);
  } catch (e) {
    ws.destroy();
    // A file that cannot be removed (an append-only directory) stays: the error is `e`'s.
    if (tmp) await fs.promises.rm(tmp, { force: true }).catch(() => {});
    tempFiles.delete(tmp);
    if (e instanceof ZnnError || e instanceof Fail) throw e;
    throw new Fail(`cannot write ${path}: ${e.message}`);
  }
}

async function cmdCompress(a) {
  if (a.format === 'zipnn' && (!a.dtype || a.dtype === 'auto' || a.dtype === 'bytes')) {
    throw new Fail('--format zipnn needs --dtype bf16, fp16, fp32, fp8-e4m3 or fp8-e5m2', true);
  }
  checkInputs(a);
  await checkDtype(a);
  return eachInput(a, 'failed to compress', (input) => compressOne(input, a));
}

/**
 * An unknown --dtype (or one --format zipnn cannot write) is a usage error, once, as in the native
 * CLI, not a failure of every file: checked by compressing nothing with it (the package's own
 * parser, which takes the native tool's names).
 */
async function checkDtype(a) {
  if (a.dtype === undefined) return;
  try {
    await compress(new Uint8Array(0), { dtype: a.dtype, format: a.format });
  } catch (e) {
    if (e instanceof ZnnError && e.code === 'ZNN_INVALID_INPUT') throw new Fail(e.message, true);
    throw e;
  }
}

async function compressOne(input, a) {
  const ext = a.format === 'zipnn' ? 'znn' : 'znw';
  // Not m.znw.znw unless the output is named, as gzip and zstd skip theirs.
  if (a.output === undefined && input.endsWith(`.${ext}`)) throw new Fail(`already has the .${ext} suffix: give the output a name with -o to compress it again`);
  const out = outputPath(input, a, (i) => `${i}.${ext}`);
  refuseTerminal(a, input, out, true);
  if (a.format !== 'zipnn' && (await compressStreamed(input, out, a))) return;
  if (a.format === 'zipnn' && a.streamingChunk !== undefined) return compressFrames(input, out, a);
  // node reads no file over 2 GiB whole, and compress() in wasm takes no more.
  if (a.format === 'zipnn' && input !== '-' && statOrNull(input)?.size > COMPRESS_MAX) {
    throw new TooLargeError(`${input}: --format zipnn takes at most ${COMPRESS_MAX} bytes here in one frame (with --streaming-chunk, any size)`);
  }
  const data = await readInput(input);
  if (a.format !== 'zipnn' && data.length > COMPRESS_MAX) {
    // stdin beyond what compress() takes: coded from memory as a stream of known size (the
    // same file), as a large regular file is.
    let at = 0;
    const src = new ReadableStream({
      pull(c) {
        if (at < data.length) c.enqueue(data.subarray(at, (at += 1 << 20)));
        else c.close();
      },
    });
    const reader = src.pipeThrough(new ZnnCompressionStream({ size: data.length, dtype: a.dtype, chunkSize: a.chunkSize, verify: a.verify })).getReader();
    async function* chunks() {
      for (let r = await reader.read(); !r.done; r = await reader.read()) yield r.value;
    }
    return writeOutput(out, (ws) => pipeline(Readable.from(chunks()), ws), input);
  }
  const packed = await compress(data, {
    dtype: a.dtype,
    format: a.format,
    chunkSize: a.chunkSize,
    streamingChunk: a.streamingChunk,
    verify: a.verify,
  });
  await writeOutput(
    out,
    async (ws) => {
      // A write error (a full disk) comes as an 'error' event too: unheard, it would end node.
      await new Promise((resolve, reject) => {
        ws.once('error', reject);
        ws.end(packed, (e) => (e ? reject(e) : resolve()));
      });
    },
    input,
  );
}

/**
 * ZipNN's streaming frames read, coded and written one at a time, as the native tool writes
 * them: a file or pipe of any size in the memory of a frame, the same bytes as coding it whole
 * (an empty input is one empty frame).
 */
async function compressFrames(input, out, a) {
  if (input === '-' && statOrNull(0)?.isDirectory()) throw new Fail('cannot read -: is a directory');
  const src = input === '-' ? process.stdin : fs.createReadStream(input);
  const opts = { dtype: a.dtype, format: 'zipnn', chunkSize: a.chunkSize, streamingChunk: a.streamingChunk };
  async function* frames() {
    let parts = [];
    let have = 0;
    let wrote = false;
    const it = src[Symbol.asyncIterator]();
    try {
      for (;;) {
        let r;
        try {
          r = await it.next();
        } catch (e) {
          throw new Fail(`cannot read ${input}: ${e.message}`);
        }
        if (r.done) break;
        for (let c = r.value; c.length; ) {
          const take = Math.min(c.length, a.streamingChunk - have);
          parts.push(c.subarray(0, take));
          have += take;
          c = c.subarray(take);
          if (have === a.streamingChunk) {
            yield await compress(Buffer.concat(parts, have), opts);
            [parts, have, wrote] = [[], 0, true];
          }
        }
      }
      if (have > 0 || !wrote) yield await compress(Buffer.concat(parts, have), opts);
    } finally {
      // A failed write stops the frames early: the file is closed then too.
      if (src !== process.stdin) src.destroy();
    }
  }
  return writeOutput(out, (ws) => pipeline(Readable.from(frames()), ws), input);
}

/**
 * Files from this size on whose first bytes give their tensor table (safetensors, GGUF) are
 * compressed as a stream, into the same output in bounded memory, as the native tool does;
 * so is any file larger than compress() takes.
 */
const STREAM_ABOVE = Number(process.env.ZIPNN_STREAM_ABOVE) || 2 ** 30; // the variable: for tests
const COMPRESS_MAX = Number(process.env.ZIPNN_COMPRESS_MAX) || 2 ** 31 - 1; // the variable: for tests

/** Compresses a large regular file as a stream; false (nothing written) if not one. */
async function compressStreamed(input, out, a) {
  if (input === '-') return false;
  // Looked at before it is opened: a FIFO opened here and closed again would lose its writer
  // (SIGPIPE) before readInput read it.
  const before = statOrNull(input);
  if (!before?.isFile() || before.size < STREAM_ABOVE) return false;
  let fh;
  try {
    fh = await fs.promises.open(input, 'r');
  } catch (e) {
    throw new Fail(`cannot read ${input}: ${e.message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size < STREAM_ABOVE) return false;
    const size = st.size;
    const src = webStream(fh.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false }));
    const packed = src.pipeThrough(new ZnnCompressionStream({ size, dtype: a.dtype, chunkSize: a.chunkSize, verify: a.verify }));
    const reader = packed.getReader();
    // The first output, once the encoder has read the file's first bytes, starts with the
    // header, whose byte 28 is the container (FORMAT.md): a raw file (no tensor table found
    // there) is written this way only past what compress() takes, as the native tool does.
    const first = await reader.read();
    if (size <= COMPRESS_MAX && !first.done && first.value[28] === 0) {
      await reader.cancel();
      return false;
    }
    async function* chunks() {
      for (let r = first; !r.done; r = await reader.read()) yield r.value;
    }
    await writeOutput(out, (ws) => pipeline(Readable.from(chunks()), ws), input);
    return true;
  } finally {
    await fh.close();
  }
}

/**
 * A web ReadableStream of node stream `src`, read as it is pulled. Not `Readable.toWeb`: in
 * node 20 that enqueues a 'data' event which comes after the reader cancelled (a decoder that
 * failed while stdin still flowed) and throws from it, killing the process.
 */
function webStream(src) {
  let open = true;
  const stop = () => {
    open = false;
    src.pause();
  };
  return new ReadableStream({
    start(c) {
      src.pause();
      src.on('data', (b) => {
        if (!open) return;
        c.enqueue(new Uint8Array(b.buffer, b.byteOffset, b.length));
        if (c.desiredSize <= 0) src.pause();
      });
      src.once('end', () => open && (stop(), c.close()));
      src.once('error', (e) => open && (stop(), c.error(e)));
    },
    pull() {
      src.resume();
    },
    cancel() {
      stop();
      if (src !== process.stdin) src.destroy();
    },
  });
}

/** Opens `input` ('-': stdin) as a node stream of up to 1 MiB pieces. */
async function openInput(input) {
  if (input === '-') {
    // node reads a directory on stdin as empty: say what it is, as for a named one.
    if (statOrNull(0)?.isDirectory()) throw new Fail('cannot read -: is a directory');
    return process.stdin;
  }
  try {
    const fh = await fs.promises.open(input, 'r');
    if ((await fh.stat()).isDirectory()) {
      await fh.close();
      throw new Error('is a directory');
    }
    return fh.createReadStream({ highWaterMark: 1 << 20 });
  } catch (e) {
    throw new Fail(`cannot read ${input}: ${e.message}`);
  }
}

/**
 * Like gzip -t: decodes each input with every `.znw` checksum verified (the chunk bodies
 * too), writes nothing; one line per file. With several files, failures are reported and the
 * rest still tested.
 */
async function cmdTest(a) {
  if (a.output !== undefined) throw new Fail('test writes nothing: -o does not apply', true);
  checkInputs(a);
  await eachInput(a, 'failed the test', async (input) => {
    let n = 0;
    let head = Buffer.alloc(0); // the first bytes: .znw or not
    refuseTerminal(a, input, '', false);
    const src = webStream(await openInput(input)).pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          if (head.length < ZNW_MAGIC.length) head = Buffer.concat([head, chunk.subarray(0, ZNW_MAGIC.length)]);
          controller.enqueue(chunk);
        },
      }),
    );
    for await (const c of src.pipeThrough(new ZnnDecompressionStream({ checkBodies: true }))) n += c.length;
    const znw = head.subarray(0, ZNW_MAGIC.length).equals(ZNW_MAGIC);
    process.stdout.write(znw ? `${input}: OK, ${n} bytes\n` : `${input}: decodes, ${n} bytes (ZipNN files carry no checksums)\n`);
  });
}

/** Streams the input through ZnnDecompressionStream to the output: bounded memory for `.znw`, ZipNN streaming files and `.znn.safetensors` that list their compressed tensors. */
async function cmdDecompress(a) {
  checkInputs(a);
  return eachInput(a, 'failed to decompress', (input) => decompressOne(input, a));
}

async function decompressOne(input, a) {
  // The native tool's names: X.znw, X.znn -> X; X.znn.safetensors -> X.safetensors; else null.
  const restored = (i) => {
    if (/\.znn\.safetensors$/.test(i)) return i.replace(/\.znn\.safetensors$/, '.safetensors');
    return /\.(znw|znn)$/.test(i) ? i.replace(/\.(znw|znn)$/, '') : null;
  };
  // An output named after an input of unknown suffix is not guessed (gzip skips such files).
  if (input !== '-' && a.output === undefined) {
    try {
      fs.statSync(input);
    } catch (e) {
      throw new Fail(`cannot read ${input}: ${e.message}`);
    }
    if (restored(input) === null) throw new Fail('unknown suffix (not .znw, .znn or .znn.safetensors): give the output a name with -o');
  }
  const out = outputPath(input, a, (i) => restored(i) ?? '');
  refuseTerminal(a, input, out, false);
  const src = await openInput(input);
  try {
    await writeOutput(
      out,
      async (ws) => {
        const decoded = webStream(src).pipeThrough(new ZnnDecompressionStream());
        await pipeline(Readable.fromWeb(decoded), ws);
      },
      input,
    );
  } finally {
    if (src !== process.stdin) src.destroy(); // also when no output could be made
  }
}

async function cmdInspect(a) {
  // Named as the other commands name their input (and gzip -l).
  return eachInput(a, 'failed to inspect', () => inspectOne(oneInput(a), a));
}

/**
 * A file's name or type name as the terminal gets it: control characters escaped (`\n`,
 * `\u{1b}`), so that a tensor name cannot break the table's rows or send the terminal
 * commands; the native tool escapes the same way.
 */
const shown = (s) => s.replace(/\p{Cc}/gu, (c) => ({ '\n': '\\n', '\t': '\\t', '\r': '\\r' })[c] ?? `\\u{${c.codePointAt(0).toString(16)}}`);

async function inspectOne(input, a) {
  refuseTerminal(a, input, '', false);
  const r = await inspectFile(input);
  // Four places; '-' for an empty original, where no ratio exists (as the native tool prints).
  const ratio = (c, n) => (n === 0 ? '-' : fixed4(c / n));
  const lines = [];
  if (r.format === 'zipnn') {
    // The native tool's lines: a summary, then each frame's place in the file (the first 16).
    const streaming = r.streamingChunk === null ? 'not streaming' : `streaming chunk ${r.streamingChunk} bytes`;
    lines.push(
      `${input}: ZipNN ${r.version} frames, ${r.segments[0].label}, ${r.totalSize} -> ${r.compressedSize} bytes, ratio ${ratio(r.compressedSize, r.totalSize)}, ` +
        `${r.frames.length} frame(s), ${streaming}, chunks of ${r.chunkSize} bytes`,
    );
    const row = (...cells) => cells.map((c, i) => String(c).padStart([12, 12, 12, 6][i] ?? 0)).join('  ');
    lines.push(row('offset', 'size', 'compressed', 'ratio', 'shape'));
    r.frames.slice(0, 16).forEach((f, i) => {
      const shape = r.segments[i].shape.length ? `[${r.segments[i].shape.join(', ')}]` : '';
      lines.push(`${row(f.offset, f.decodedLength, f.length, ratio(f.length, f.decodedLength), shape)}${f.delta ? '  (delta)' : ''}`.trimEnd());
    });
    if (r.frames.length > 16) lines.push(`... ${r.frames.length - 16} more frames`);
  } else {
    const rat = ratio(r.compressedSize, r.totalSize);
    lines.push(
      r.format === 'znn-safetensors'
        ? `${input}: ZipNN .znn.safetensors, ${r.totalSize} -> ${r.compressedSize} bytes, ratio ${rat}, ` +
            `${r.segments.length - 1} tensors, ${r.chunks} held as ZipNN frames`
        : `${input}: ${r.container} container, ${r.totalSize} -> ${r.compressedSize} bytes, ratio ${rat}, ` +
            `${r.chunks} chunks of up to ${r.chunkSize} bytes`,
    );
    // Widths in characters (not UTF-16 units), as the native tool counts them.
    const pad = (t, n) => t + ' '.repeat(Math.max(0, n - [...t].length));
    // (A loop, not Math.max(...): a file may hold more segments than a call takes arguments.)
    const width = Math.min(60, r.segments.reduce((w, s) => Math.max(w, [...shown(s.name)].length), 4));
    const row = (name, dtype, shape, size, comp, rat) =>
      `${pad(name, width)}  ${pad(dtype, 8)}  ${shape.padStart(18)}  ${size.padStart(12)}  ${comp.padStart(12)}  ${rat.padStart(6)}`;
    lines.push(row('name', 'dtype', 'shape', 'size', 'compressed', 'ratio'));
    for (const s of r.segments) {
      lines.push(
        row(shown(s.name), shown(s.label) || s.dtype, `[${s.shape.join(', ')}]`, String(s.length), String(s.compressed), ratio(s.compressed, s.length)),
      );
    }
    // Which coders the encoder chose, and a delta's base, as the native tool prints them.
    if (r.modes.length) lines.push(`blocks: ${r.modes.map((m) => `${m.name} ${m.blocks} (${m.bytes} bytes)`).join(', ')}`);
    if (r.delta) {
      const d = r.delta;
      lines.push(
        `delta against a base of ${d.baseSize} bytes (XXH3 ${d.baseXxh3}): decompress and test need it (--base); ` +
          `${d.moved} bytes XORed with tensors that moved, ${d.unxored} coded as they are`,
      );
    }
    if (r.suggestion) {
      const s = r.suggestion;
      lines.push(`note: stored as plain bytes (ratio ${fixed4(s.currentRatio)} on a sample); --dtype ${s.dtype} would give about ${fixed4(s.ratio)}`);
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function main(argv) {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) throw new Fail('missing command', true);
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    process.stdout.write(`zipnn-wasm ${pkg.version}\n`);
    return;
  }
  if (cmd === 'help' || cmd === '-h' || cmd === '--help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const a = parse(rest);
  // `zipnn-wasm compress --help`: the usage, as the native tool prints it.
  if (a.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  checkFlags(cmd, a);
  if (cmd === 'compress') return cmdCompress(a);
  if (cmd === 'decompress') return cmdDecompress(a);
  if (cmd === 'inspect') return cmdInspect(a);
  if (cmd === 'test') return cmdTest(a);
  throw new Fail(`unknown command ${JSON.stringify(cmd)}`, true);
}

// A reader that closed the pipe early (`zipnn-wasm decompress m.znw -o - | head`): end quietly,
// with the exit status of a process killed by SIGPIPE, as the native tool does.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(141);
});

main(process.argv.slice(2)).then(
  () => {
    process.exitCode = 0;
  },
  (e) => {
    if (e?.code === 'EPIPE') {
      process.exitCode = 141;
    } else if (e instanceof Fail) {
      // One line, whatever the error: the usage text is one `zipnn-wasm --help` away.
      process.stderr.write(`zipnn-wasm: ${e.message}${e.usage ? ' (zipnn-wasm --help for usage)' : ''}\n`);
      process.exitCode = e.usage ? 2 : 1;
    } else if (e instanceof ZnnError) {
      process.stderr.write(`zipnn-wasm: ${e.message} (${e.code})\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`zipnn-wasm: ${e && e.message ? e.message : e}\n`);
      process.exitCode = 1;
    }
  },
);
