//! `zipnn compress`: `.znw` (whole, or streamed for large tensor files), deltas, ZipNN frames.

use std::fs::{self, File};
use std::io::{self, Read};

use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::Error;

use crate::args::{default_threads, dtype_choice};
use crate::input::{read_capped, read_input};
use crate::output::{output_path, Output};
use crate::{fail, refuse_terminal, usage, Args, Fail, Progress};

/// The chunk size when none is given: `--best` codes raw files in longer chunks.
pub(crate) fn default_chunk(best: bool, data: &[u8]) -> u32 {
    if !best {
        znw::DEFAULT_CHUNK
    } else if zipnn_wasm::format::tensors::detect(data).is_none() {
        znw::BEST_RAW_CHUNK
    } else {
        znw::BEST_CHUNK
    }
}

/// `--best` tries more and keeps what is smallest, and the default's result is one more
/// candidate: --best's chunks (cut around copies, longer in raw files) can lose to the
/// default's, by 0.2-0.5 % on some TF.js weight shards and by far more on small files with
/// copies, where the extra chunk heads cost more than the cuts save. Its second pass is the
/// default's, a fraction of --best's time, at the chunk size given if one was.
pub(crate) fn default_candidate(a: &Args, opts: &Options) -> Option<Options> {
    a.best.then(|| Options {
        chunk_size: a.chunk_size.unwrap_or(znw::DEFAULT_CHUNK),
        tans: false,
        ..opts.clone()
    })
}

pub(crate) fn compress(input: &str, a: &Args) -> Result<(), Fail> {
    let dtype = dtype_choice(a)?;
    match a.format.as_deref() {
        None | Some("znw") => {}
        // ZipNN delta frames are read (`decompress --base`) but not written: a delta goes
        // into `.znw`, whose chunks code the XOR stream far better than ZipNN's Huffman floor.
        Some("zipnn") if a.base.is_some() => return usage(
            "--base writes .znw deltas; ZipNN delta frames are not written (drop --format zipnn)",
        ),
        Some("zipnn") => return compress_zipnn(input, a, dtype),
        Some(f) => return usage(format!("unknown format {f:?} (znw or zipnn)")),
    }
    // A chunk size the format cannot hold is a usage error (exit 2), as a bad --dtype is.
    if let Some(Err(e)) = a.chunk_size.map(znw::check_chunk_size) {
        return usage(e.to_string());
    }
    already_compressed(input, a, znw::EXTENSION)?;
    let out_path = output_path(input, a, |i| format!("{i}.{}", znw::EXTENSION))?;
    refuse_terminal(a, input, &out_path, true)?;
    if a.base.is_none() && !a.best && compress_streamed(input, &out_path, a, dtype)? {
        return Ok(());
    }
    let data = read_input(input)?;
    let opts = Options {
        dtype,
        chunk_size: a.chunk_size.unwrap_or(default_chunk(a.best, &data)),
        verify: a.verify,
        threads: a.threads.unwrap_or_else(default_threads),
        tans: a.best,
    };
    // A base far larger than the file cannot be an earlier checkpoint of it (nor /dev/zero):
    // it is refused once that much is read, not held whole.
    let cap = (data.len() as u64)
        .saturating_mul(4)
        .saturating_add(256 << 20);
    let base = match a.base.as_deref() {
        // One byte past the cap tells a base of exactly `cap` bytes from a longer one.
        Some(path) => match read_capped(path, cap.saturating_add(1), 0)? {
            b if b.len() as u64 > cap => {
                return Err(Error::InvalidInput(format!(
                    "the base file {path} has more than {cap} bytes (4 times the size of the file, plus 256 MiB): not an earlier checkpoint of it"
                ))
                .into())
            }
            b => Some(b),
        },
        None => None,
    };
    let run = |opts: &Options, progress: &mut dyn FnMut(u64)| match &base {
        Some(base) => znw::compress_delta(&data, base, opts, progress),
        None => znw::compress_with_progress(&data, opts, progress),
    };
    let mut progress = Progress::new("compressing", data.len() as u64);
    let mut packed = run(&opts, &mut |done| progress.update(done))?;
    progress.done();
    if let Some(default) = default_candidate(a, &opts) {
        let plain = run(&default, &mut |_| {})?;
        if plain.len() < packed.len() {
            packed = plain;
        }
    }
    // The input's memory is handed back before the output takes its name: a signal after
    // that finds the work done.
    drop((data, base));
    let mut out = Output::create(&out_path, input, a.force)?;
    out.write(&packed)?;
    out.commit()
}

/// A file named as compressed (`m.znw`) is not compressed again into `m.znw.znw` unless the
/// output is named, as gzip and zstd skip theirs: it is most likely a slip of the command.
fn already_compressed(input: &str, a: &Args, ext: &str) -> Result<(), Fail> {
    if a.output.is_none() && input.ends_with(&format!(".{ext}")) {
        return fail(format!(
            "already has the .{ext} suffix: give the output a name with -o to compress it again"
        ));
    }
    Ok(())
}

/// Files from this size on whose first bytes give their tensor table (safetensors, GGUF)
/// are read and compressed a piece at a time: the same output, in bounded memory.
/// `ZIPNN_STREAM_ABOVE` (bytes) sets it, for tests.
const STREAM_ABOVE: u64 = 1 << 30;

/// Compresses a large safetensors or GGUF file as a stream ([`SizedEncoder`]), or returns
/// false (having written nothing) when `input` is not one.
fn compress_streamed(
    input: &str,
    out_path: &str,
    a: &Args,
    dtype: DTypeChoice,
) -> Result<bool, Fail> {
    use zipnn_wasm::format::{tensors, Container};
    use zipnn_wasm::stream::{sized, SizedEncoder};
    let above = std::env::var("ZIPNN_STREAM_ABOVE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(STREAM_ABOVE);
    let size = match fs::metadata(input) {
        Ok(m) if m.is_file() && m.len() >= above => m.len(),
        _ => return Ok(false),
    };
    let cannot = |e: io::Error| Fail {
        msg: format!("cannot read {input}: {e}"),
        usage: false,
    };
    let mut f = File::open(input).map_err(cannot)?;
    // The first bytes, as many as the encoder reads before it writes the header.
    let mut head = Vec::new();
    (&mut f).take(16).read_to_end(&mut head).map_err(cannot)?;
    let want = sized::prefix_len(&head, size) as u64;
    (&mut f)
        .take(want - head.len() as u64)
        .read_to_end(&mut head)
        .map_err(cannot)?;
    let layout = tensors::detect_prefix(&head, size);
    if !layout.is_some_and(|l| matches!(l.container, Container::Safetensors | Container::Gguf)) {
        return Ok(false);
    }
    let opts = Options {
        dtype,
        chunk_size: a.chunk_size.unwrap_or(znw::DEFAULT_CHUNK),
        verify: a.verify,
        threads: a.threads.unwrap_or_else(default_threads),
        tans: false,
    };
    let mut enc = SizedEncoder::new(size, opts)?;
    let mut out = Output::create(out_path, input, a.force)?;
    let mut progress = Progress::new("compressing", size);
    // A file that changes size while it is read ends short or long: an error, not a file.
    let changed = |e: Error| match e {
        Error::InvalidInput(_) => Fail {
            msg: "changed size while it was read".into(),
            usage: false,
        },
        e => e.into(),
    };
    let (mut packed, mut buf) = (Vec::new(), vec![0u8; 8 << 20]);
    enc.push(&head, &mut packed).map_err(changed)?;
    let mut done = head.len() as u64;
    loop {
        out.write(&packed)?;
        packed.clear();
        progress.update(done);
        let n = f.read(&mut buf).map_err(cannot)?;
        if n == 0 {
            break;
        }
        enc.push(&buf[..n], &mut packed).map_err(changed)?;
        done += n as u64;
    }
    enc.finish(&mut packed).map_err(changed)?;
    out.write(&packed)?;
    progress.done();
    out.commit()?;
    Ok(true)
}

/// Writes ZipNN frames (single, or streaming with `--streaming-chunk`).
fn compress_zipnn(input: &str, a: &Args, dtype: DTypeChoice) -> Result<(), Fail> {
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    let DTypeChoice::Fixed(d) = dtype else {
        return usage("--format zipnn needs --dtype bf16, fp16, fp32, fp8-e4m3 or fp8-e5m2");
    };
    let zd = ZDType::from_dtype(d).map_or_else(
        || usage("ZipNN codes bf16, fp16, fp32, fp8-e4m3 and fp8-e5m2 only: pick one of those"),
        Ok,
    )?;
    let mut o = ZipnnOptions::new(zd);
    if let Some(c) = a.chunk_size {
        if !c.is_power_of_two() || !(1 << 10..=1 << 30).contains(&c) {
            return usage("ZipNN chunk sizes are powers of two from 1 KiB to 1 GiB");
        }
        o.chunk_log2 = c.trailing_zeros() as u8;
    }
    if let Some(s) = a.streaming_chunk {
        if !s.is_power_of_two() || !(1 << 8..=1 << 40).contains(&s) {
            return usage("ZipNN streaming chunks are powers of two from 256 bytes to 1 TiB");
        }
        o.streaming_log2 = Some(s.trailing_zeros() as u8);
    }
    already_compressed(input, a, "znn")?;
    let out_path = output_path(input, a, |i| format!("{i}.znn"))?;
    refuse_terminal(a, input, &out_path, true)?;
    let Some(s) = o.streaming_log2 else {
        let packed = zipnn::compress(&read_input(input)?, &o)?;
        let mut out = Output::create(&out_path, input, a.force)?;
        out.write(&packed)?;
        return out.commit();
    };
    // Streaming frames stand alone: each is read, coded and written before the next is read,
    // so a file or pipe of any size takes the memory of one frame (the same bytes as coding
    // the whole input at once; an empty input is one empty frame).
    let mut r: Box<dyn Read> = if input == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(input).or_else(|e| fail(format!("cannot read {input}: {e}")))?)
    };
    let mut out = Output::create(&out_path, input, a.force)?;
    let mut frame = Vec::new();
    let mut wrote = false;
    loop {
        frame.clear();
        let got = (&mut r).take(1u64 << s).read_to_end(&mut frame);
        got.or_else(|e| fail(format!("cannot read {input}: {e}")))?;
        if frame.is_empty() && wrote {
            break;
        }
        out.write(&zipnn::compress(&frame, &o)?)?;
        wrote = true;
        if (frame.len() as u64) < 1u64 << s {
            break;
        }
    }
    out.commit()
}
