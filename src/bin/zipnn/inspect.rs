//! `zipnn inspect`: what a compressed file holds, from its headers.

use crate::input::{file_source, open_input, read_rest};
use crate::{refuse_terminal, Args, Fail};

/// `compressed / original` to four places; `-` for an empty original, where no ratio exists
/// (every report prints the same thing for it).
pub(crate) fn ratio(compressed: u64, original: u64) -> String {
    if original == 0 {
        "-".into()
    } else {
        format!("{:.4}", compressed as f64 / original as f64)
    }
}

/// ZipNN frames (`.znn`): a summary from the frame headers, then one line per frame (the npm
/// CLI prints the same lines).
fn inspect_zipnn(input: &str, r: &zipnn_wasm::format::report::Report) -> Result<(), Fail> {
    let Some(z) = &r.zipnn else { return Ok(()) };
    let streaming = match z.streaming_chunk {
        Some(c) => format!("streaming chunk {c} bytes"),
        None => "not streaming".into(),
    };
    let v = z.version;
    outln!(
        "{input}: ZipNN {}.{}.{} frames, {}, {} -> {} bytes, ratio {}, {} frame(s), {streaming}, chunks of {} bytes",
        v[0],
        v[1],
        v[2],
        r.segments.first().map_or("", |s| &s.label),
        r.total_size,
        r.compressed_size,
        ratio(r.compressed_size, r.total_size),
        z.frames.len(),
        r.chunk_size
    );
    outln!(
        "{:>12}  {:>12}  {:>12}  {:>6}  shape",
        "offset",
        "size",
        "compressed",
        "ratio"
    );
    const SHOWN: usize = 16;
    for (f, s) in z.frames.iter().zip(&r.segments).take(SHOWN) {
        let shape = if s.shape.is_empty() {
            String::new()
        } else {
            format!("{:?}", s.shape)
        };
        let delta = if f.delta { "  (delta)" } else { "" };
        let line = format!(
            "{:>12}  {:>12}  {:>12}  {:>6}  {shape}{delta}",
            f.offset,
            s.length,
            f.length,
            ratio(f.length, s.length)
        );
        outln!("{}", line.trim_end());
    }
    if z.frames.len() > SHOWN {
        outln!("... {} more frames", z.frames.len() - SHOWN);
    }
    Ok(())
}

pub(crate) fn inspect(input: &str, a: &Args) -> Result<(), Fail> {
    refuse_terminal(a, input, "", false)?;
    // A file is read where its headers are (a model larger than memory can be inspected);
    // stdin or a pipe is read whole.
    let r = match file_source(input)? {
        Some(mut src) => zipnn_wasm::inspect_source(&mut src).map_err(|e| src.fail(e))?,
        None => {
            let (mut rest, first) = open_input(input)?;
            zipnn_wasm::inspect(&read_rest(input, first, &mut rest)?)?
        }
    };
    if r.zipnn.is_some() {
        return inspect_zipnn(input, &r);
    }
    // .znn.safetensors: each tensor with its original type and shape (`dtype` its frame's).
    if r.format == "znn-safetensors" {
        outln!(
            "{input}: ZipNN .znn.safetensors, {} -> {} bytes, ratio {}, {} tensors, {} held as ZipNN frames",
            r.total_size,
            r.compressed_size,
            ratio(r.compressed_size, r.total_size),
            r.segments.len() - 1,
            r.chunks
        );
    } else {
        outln!(
            "{input}: {} container, {} -> {} bytes, ratio {}, {} chunks of up to {} bytes",
            r.container,
            r.total_size,
            r.compressed_size,
            ratio(r.compressed_size, r.total_size),
            r.chunks,
            r.chunk_size
        );
    }
    let width = r
        .segments
        .iter()
        .map(|s| shown(&s.name).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    outln!(
        "{:width$}  {:8}  {:>18}  {:>12}  {:>12}  {:>6}",
        "name",
        "dtype",
        "shape",
        "size",
        "compressed",
        "ratio"
    );
    for s in &r.segments {
        let dtype = if s.label.is_empty() {
            s.dtype.to_string()
        } else {
            shown(&s.label)
        };
        let shape = format!("{:?}", s.shape);
        outln!(
            "{:width$}  {:8}  {:>18}  {:>12}  {:>12}  {:>6}",
            shown(&s.name),
            dtype,
            shape,
            s.length,
            s.compressed,
            ratio(s.compressed, s.length)
        );
    }
    // Which coders the encoder chose (context modes decode slower than order 0).
    let blocks: Vec<String> = r
        .modes
        .iter()
        .map(|m| format!("{} {} ({} bytes)", m.name, m.blocks, m.bytes))
        .collect();
    if !blocks.is_empty() {
        outln!("blocks: {}", blocks.join(", "));
    }
    if let Some(d) = &r.delta {
        outln!(
            "delta against a base of {} bytes (XXH3 {:016x}): decompress and test need it (--base); {} bytes XORed with tensors that moved, {} coded as they are",
            d.base_size, d.base_xxh3, d.moved, d.unxored
        );
    }
    if let Some(s) = &r.suggestion {
        outln!(
            "note: stored as plain bytes (ratio {:.4} on a sample); --dtype {} would give about {:.4}",
            s.current_ratio, s.dtype, s.ratio
        );
    }
    Ok(())
}

/// A file's name or type name as the terminal gets it: control characters escaped (`\n`,
/// `\u{1b}`), so that a tensor name cannot break the table's rows or send the terminal
/// commands. The npx CLI escapes the same way.
fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
