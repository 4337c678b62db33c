//! `zipnn decompress` and `zipnn test`: streamed through the push decoder where the format
//! allows, `.znn.safetensors` from disk a tensor at a time, deltas from memory with their base.

use std::fs;
use std::io::{self, Read};

use zipnn_wasm::format::znw;
use zipnn_wasm::stream::{AutoDecoder, Sink};
use zipnn_wasm::{Error, Format, Limits};

use crate::input::{
    file_source, listed_header, open_input, read_capped, read_rest, streamable,
    znn_safetensors_file, FileSource,
};
use crate::output::{output_path, Output};
use crate::{each_input, fail, refuse_terminal, Args, Fail, Progress};

/// What neither the push decoder nor [`decode_znn_safetensors`] takes (`.znn.safetensors` from
/// stdin, deltas, which need their base) is decoded from memory. Returns the compressed and the
/// decoded bytes.
fn decode_whole(
    input: &str,
    first: Vec<u8>,
    rest: &mut dyn Read,
    a: &Args,
) -> Result<(Vec<u8>, Vec<u8>), Fail> {
    let data = read_rest(input, first, rest)?;
    let base = match a.base.as_deref() {
        Some(path) => read_base(path, input, &data)?,
        None => None,
    };
    let plain = match &base {
        Some(b) => zipnn_wasm::decompress_with_base(&data, b, &Limits::default())?,
        None => zipnn_wasm::decompress(&data, &Limits::default())?,
    };
    // Our deltas name their base by size and checksum; ZipNN's name nothing, so a wrong base
    // of the right size decodes to wrong bytes.
    if base.is_some() && zipnn_wasm::detect(&data) == Format::Zipnn {
        eprintln!("zipnn: note: ZipNN deltas carry no checksum of their base: a wrong one would go unnoticed");
    }
    Ok((data, plain))
}

/// The base for decoding `data`, read no further than the size it must have: a longer file
/// (or /dev/zero) is refused without being read whole. `None` for a file that is no delta
/// (said on stderr: `--base` is then not used).
fn read_base(path: &str, input: &str, data: &[u8]) -> Result<Option<Vec<u8>>, Fail> {
    use zipnn_wasm::format::zipnn;
    // The size the base must have; a file that does not parse reads none (its error follows).
    let need = match zipnn_wasm::detect(data) {
        Format::Znw => match znw::Header::parse(data) {
            Ok((h, _)) => Some(h.base.map(|b| b.len)),
            Err(_) => return Ok(None),
        },
        Format::Zipnn => match zipnn::frames(data, &Limits::default()) {
            Ok((frames, total)) => {
                Some(frames.iter().any(|f| f.header.delta != 0).then_some(total))
            }
            Err(_) => return Ok(None),
        },
        _ => None,
    };
    let cap = match need {
        Some(None) => {
            eprintln!("zipnn: note: {input} is not a delta: --base is not used");
            return Ok(None);
        }
        Some(Some(n)) => n.saturating_add(1),
        None => u64::MAX,
    };
    // Room for the size named, taken first: a size no memory holds is refused before reading.
    // No more than a file on disk has, though: a delta claiming a base of 2^50 bytes is then
    // refused as not matching the base given, not as too large for memory.
    let on_disk = fs::metadata(path).ok().filter(|m| m.is_file());
    let room = match (need, on_disk) {
        (None, _) => 0,
        (Some(_), Some(m)) => cap.min(m.len().saturating_add(1)),
        (Some(_), None) => cap,
    };
    let buf = read_capped(path, cap, room)?;
    if let Some(Some(n)) = need {
        let zipnn = zipnn_wasm::detect(data) == Format::Zipnn;
        // zipnn itself refuses a base of another size than the file.
        if buf.len() as u64 > n || (zipnn && buf.len() as u64 != n) {
            let got = if buf.len() as u64 > n {
                format!("more than {n}")
            } else {
                buf.len().to_string()
            };
            return Err(Error::InvalidInput(format!(
                "the base file given has {got} bytes; the delta needs a base of {n} bytes"
            ))
            .into());
        }
    }
    Ok(Some(buf))
}

/// Streams the input through the push decoder straight to the output: bounded memory for
/// any file size, and nothing unverified reaches the output.
pub(crate) fn decompress(input: &str, a: &Args) -> Result<(), Fail> {
    // X.znw, X.znn -> X; X.znn.safetensors -> X.safetensors.
    let restored = |i: &str| {
        i.strip_suffix(&format!(".{}", znw::EXTENSION))
            .or_else(|| i.strip_suffix(".znn"))
            .map(str::to_string)
            .or_else(|| {
                i.strip_suffix(".znn.safetensors")
                    .map(|s| format!("{s}.safetensors"))
            })
    };
    // An output named after an input of unknown suffix is not guessed (gzip skips such files).
    if input != "-" && a.output.is_none() {
        fs::metadata(input).or_else(|e| fail(format!("cannot read {input}: {e}")))?;
        if restored(input).is_none() {
            return fail(
                "unknown suffix (not .znw, .znn or .znn.safetensors): give the output a name with -o",
            );
        }
    }
    let out_path = output_path(input, a, |i| restored(i).unwrap_or_default())?;
    refuse_terminal(a, input, &out_path, false)?;
    if let Some(mut src) = znn_safetensors_file(input, a)? {
        let mut out = Output::create(&out_path, input, a.force)?;
        decode_znn_safetensors(&mut src, Some(&mut out))?;
        return out.commit();
    }
    let (mut reader, first) = open_input(input)?;
    let (first, listed) = listed_header(input, first, &mut reader)?;
    if listed && a.base.is_none() {
        let mut out = Output::create(&out_path, input, a.force)?;
        let dec = AutoDecoder::znn_safetensors(Limits::default());
        stream_decode(input, reader, first, dec, Some(&mut out), "decompressing")?;
        return out.commit();
    }
    if !streamable(&first) || a.base.is_some() {
        let (_, plain) = decode_whole(input, first, &mut reader, a)?;
        let mut out = Output::create(&out_path, input, a.force)?;
        out.write(&plain)?;
        return out.commit();
    }
    let mut out = Output::create(&out_path, input, a.force)?;
    let dec = AutoDecoder::new(Limits::default());
    stream_decode(input, reader, first, dec, Some(&mut out), "decompressing")?;
    out.commit()
}

/// `decompress --tensor NAME`: one segment's bytes (a tensor; in a file of ZipNN frames, a
/// frame), read from the file at offsets: only the chunks that hold them are read and decoded.
pub(crate) fn extract(input: &str, a: &Args) -> Result<(), Fail> {
    use zipnn_wasm::format::open_random_access;
    let name = a.tensor.as_deref().unwrap_or_default();
    let out_path = output_path(input, a, |_| String::new())?;
    let Some(mut src) = file_source(input)? else {
        if input != "-" {
            fs::metadata(input).or_else(|e| fail(format!("cannot read {input}: {e}")))?;
        }
        return fail("--tensor reads a file at offsets: not stdin, a pipe or a device");
    };
    let mut file = open_random_access(&mut src, &Limits::default()).map_err(|e| src.fail(e))?;
    // Names may repeat (an ONNX model's branches): the first.
    let Some(seg) = file.segments().iter().find(|s| s.name == name).cloned() else {
        // A few names show their form (a ZipNN file's frames are "frame 0", "frame 1", ...,
        // which its `inspect` table lists by offset only).
        let segs = file.segments();
        let some: Vec<String> = segs
            .iter()
            .take(3)
            .map(|s| format!("{:?}", s.name))
            .collect();
        let more = if segs.len() > 3 { ", ..." } else { "" };
        return fail(format!(
            "no segment named {name:?} among its {}: {}{more} (`zipnn inspect {input}` lists them)",
            segs.len(),
            some.join(", ")
        ));
    };
    let mut out = Output::create(&out_path, input, a.force)?;
    let mut failed = None;
    let r = file.read_with(&mut src, seg.offset, seg.length, |_, bytes| {
        out.write(bytes).map_err(|f| {
            failed = Some(f);
            Error::InvalidInput("output write failed".into())
        })
    });
    if let Err(e) = r {
        return Err(failed.unwrap_or_else(|| src.fail(e)));
    }
    out.commit()
}

/// Checks each input as `gzip -t` does: decodes it, verifying every checksum (the chunk body
/// checksums too, which a decode reads only when something else fails), and writes nothing.
pub(crate) fn test(a: &Args) -> Result<(), Fail> {
    let one = |input: &str| {
        match test_one(input, a) {
            Ok((n, true)) => outln!("{input}: OK, {n} bytes"),
            // Nothing to verify: a damaged ZipNN file can decode to other bytes.
            Ok((n, false)) => {
                outln!("{input}: decodes, {n} bytes (ZipNN files carry no checksums)")
            }
            Err(f) => return Err(f),
        }
        Ok(())
    };
    each_input(a, "failed the test", one)
}

/// Decoded size of `input` once every check passed, and whether it had checksums to check
/// (`.znw`) or only decoded (ZipNN's files).
fn test_one(input: &str, a: &Args) -> Result<(u64, bool), Fail> {
    refuse_terminal(a, input, "", false)?;
    if let Some(mut src) = znn_safetensors_file(input, a)? {
        return Ok((decode_znn_safetensors(&mut src, None)?, false));
    }
    let (mut reader, first) = open_input(input)?;
    let (first, listed) = listed_header(input, first, &mut reader)?;
    if listed && a.base.is_none() {
        let dec = AutoDecoder::znn_safetensors(Limits::default());
        return Ok((
            stream_decode(input, reader, first, dec, None, "testing")?,
            false,
        ));
    }
    if !streamable(&first) || a.base.is_some() {
        let (data, plain) = decode_whole(input, first, &mut reader, a)?;
        let znw = zipnn_wasm::detect(&data) == Format::Znw;
        if znw {
            znw::check_bodies(&data)?;
        }
        return Ok((plain.len() as u64, znw));
    }
    let znw = zipnn_wasm::detect(&first) == Format::Znw;
    let dec = AutoDecoder::checking_bodies(Limits::default());
    Ok((
        stream_decode(input, reader, first, dec, None, "testing")?,
        znw,
    ))
}

/// A `.znn.safetensors` file (what ZipNN's `compress_safetensors` writes, the form of ZipNN
/// models on model hubs) restored from disk a chunk at a time into `out` (`None`: decoded and
/// discarded, for `test`): memory holds the restored header and one chunk, where decoding in
/// memory held the whole file twice. Returns the restored size.
pub(crate) fn decode_znn_safetensors(
    src: &mut FileSource,
    mut out: Option<&mut Output>,
) -> Result<u64, Fail> {
    use zipnn_wasm::format::zipnn::random::RandomAccess;
    use zipnn_wasm::format::Source;
    let mut file =
        RandomAccess::open_safetensors(src, &Limits::default()).map_err(|e| src.fail(e))?;
    let (total, compressed) = (file.size(), src.size());
    let verb = if out.is_some() {
        "decompressing"
    } else {
        "testing"
    };
    // Progress in input bytes, as the other decoders count it (the restored file's order may
    // not be the input's: an estimate).
    let mut progress = Progress::new(verb, compressed);
    let mut failed = None;
    let r = file.read_with(src, 0, total, |at, bytes| {
        progress.update((at as f64 / total as f64 * compressed as f64) as u64);
        match out.as_mut().map(|o| o.write(bytes)) {
            Some(Err(f)) => {
                failed = Some(f);
                Err(Error::InvalidInput("output write failed".into()))
            }
            _ => Ok(()),
        }
    });
    if let Err(e) = r {
        return Err(failed.unwrap_or_else(|| src.fail(e)));
    }
    progress.done();
    Ok(total)
}

/// Pushes `first`, then the rest of `reader`, through `dec` into `out` (`None`: discarded),
/// with progress on a terminal. Returns the decoded size.
fn stream_decode(
    input: &str,
    mut reader: Box<dyn Read>,
    first: Vec<u8>,
    mut dec: AutoDecoder,
    out: Option<&mut Output>,
    label: &'static str,
) -> Result<u64, Fail> {
    struct W<'a>(Option<&'a mut Output>, Option<Fail>);
    impl Sink for W<'_> {
        fn data(&mut self, _offset: u64, bytes: &[u8]) -> Result<(), Error> {
            let Some(out) = self.0.as_mut() else {
                return Ok(());
            };
            if let Err(f) = out.write(bytes) {
                self.1 = Some(f);
                return Err(Error::InvalidInput("output write failed".into()));
            }
            Ok(())
        }
    }
    let total_in = fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    let mut progress = Progress::new(label, total_in);
    let mut sink = W(out, None);
    let mut buf = vec![0u8; 4 << 20];
    let feed = |dec: &mut AutoDecoder, bytes: &[u8], sink: &mut W| -> Result<(), Fail> {
        dec.push(bytes, sink)
            .map_err(|e| sink.1.take().unwrap_or_else(|| e.into()))
    };
    feed(&mut dec, &first, &mut sink)?;
    let mut consumed = first.len() as u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return fail(format!("cannot read {input}: {e}")),
        };
        feed(&mut dec, &buf[..n], &mut sink)?;
        consumed += n as u64;
        progress.update(consumed);
    }
    dec.finish()?;
    progress.done();
    Ok(dec.decoded())
}
