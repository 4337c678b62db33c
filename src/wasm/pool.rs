//! Parallel decoding for the package's worker pool: the calling thread reads the chunk table
//! once, each worker decodes runs of whole records into its part of one shared output.

use super::{js_error, limits};
use crate::format::znw;
use crate::format::{to_usize, zipnn};
use crate::{Error, Limits};
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;

use super::js_io::{JsFrame, JsFrames, JsSource, JsTarget, Seg};

/// The chunk table of a `.znw` file: `[max_chunk, n, start_0, offset_0, …, start_n,
/// offset_n]`, where `start_i` is where record `i` begins in the file and `offset_i` where its
/// bytes go; entry `n` is the end record and the decoded size. Delta files are refused as by
/// `decompress` (no base).
#[wasm_bindgen(js_name = znwChunkTable)]
pub fn znw_chunk_table(
    data: &js_sys::Uint8Array,
    max_output: Option<f64>,
) -> Result<js_sys::Float64Array, JsValue> {
    chunk_table(data, &limits(max_output)).map_err(|e| js_error(&e))
}

fn chunk_table(data: &js_sys::Uint8Array, limits: &Limits) -> Result<js_sys::Float64Array, Error> {
    let mut src = JsSource::new(data);
    let (header, chunks) = znw::index_source(&mut src, limits)?;
    znw::check_base(&header, None)?;
    let n = chunks.len();
    let mut t: Vec<f64> = Vec::new();
    t.try_reserve_exact(2 * n + 4)
        .map_err(|_| Error::no_memory((2 * n + 4) as u64 * 8))?;
    t.extend([header.max_chunk as f64, n as f64]);
    for c in &chunks {
        t.extend([
            (c.body_offset - znw::chunk::HEAD_LEN as u64) as f64,
            c.offset as f64,
        ]);
    }
    // The index checked that the end record ends the input.
    let end = src.size - znw::chunk::END_LEN;
    t.extend([end as f64, znw::decoded_total(&chunks) as f64]);
    Ok(js_sys::Float64Array::from(&t[..]))
}

/// Decodes `records`, a run of whole chunk records cut from a `.znw` file at the starts
/// `znwChunkTable` gives, whose first chunk decodes at `offset`, into `target`, which must be
/// their exact decoded length (a view of a `SharedArrayBuffer` shared by the workers). Every
/// chunk's checksums are verified as in `decompress`.
#[wasm_bindgen(js_name = decodeZnwRecords)]
pub fn decode_znw_records(
    records: &js_sys::Uint8Array,
    offset: f64,
    max_chunk: u32,
    target: &js_sys::Uint8Array,
) -> Result<(), JsValue> {
    decode_records(records, offset, max_chunk, target).map_err(|e| js_error(&e))
}

fn decode_records(
    records: &js_sys::Uint8Array,
    offset: f64,
    max_chunk: u32,
    target: &js_sys::Uint8Array,
) -> Result<(), Error> {
    if !(offset >= 0.0 && offset <= 9007199254740991.0 && offset.fract() == 0.0) {
        return Err(Error::InvalidInput(alloc::format!(
            "bad decoded offset {offset}"
        )));
    }
    let base = offset as u64;
    let mut src = JsSource::new(records);
    let chunks = znw::index_records(&mut src, base, target.length() as u64, max_chunk)?;
    let mut out = JsTarget::new(target);
    znw::decode_source(&mut src, &chunks, |at, bytes| {
        out.write((at - base) as u32, bytes)
    })
}

/// Numbers per part in `zipnnPieceTable`'s table: kind, where the frame or plain bytes start
/// in the file, their length, the chunk range, the decoded offset, five (start, length)
/// segments of the frame.
const PART_LEN: usize = 16;

/// The parts of a ZipNN file (frames, or the tensors of a `.znn.safetensors` file) that decode
/// on their own, for the worker pool; a frame that decodes to more than `part_bytes` is cut
/// into parts of whole chunks. Returns `[header, table]`: `header` is what the output starts
/// with (the restored safetensors header; empty for frames); `table` is `[n, part_0, …,
/// total]`, each part `PART_LEN` numbers: `kind` (0: bytes copied as they are, 1: chunks of a
/// frame), `pos` and `len` (the frame's or the bytes' place in the file), chunks `c0..c1`,
/// the decoded offset, then five `(start, length)` stretches of the frame (relative to `pos`)
/// that hold all the part reads: its header and tables, then each stream's bytes of those
/// chunks (one stretch, the whole frame, when it is not cut). Errors as `decompress`.
#[wasm_bindgen(js_name = zipnnPieceTable)]
pub fn zipnn_piece_table(
    data: &js_sys::Uint8Array,
    max_output: Option<f64>,
    part_bytes: Option<f64>,
) -> Result<js_sys::Array, JsValue> {
    let part = part_bytes.map_or(usize::MAX, |p| p.max(1.0) as usize);
    zipnn_pieces(data, &limits(max_output), part).map_err(|e| js_error(&e))
}

fn zipnn_pieces(
    data: &js_sys::Uint8Array,
    limits: &Limits,
    part_bytes: usize,
) -> Result<js_sys::Array, Error> {
    let mut src = JsSource::new(data);
    // (start, end, frame header) in output order; the output follows the header without gaps.
    type Pieces = Vec<(usize, usize, Option<zipnn::FrameHeader>)>;
    let (header, pieces, total): (Vec<u8>, Pieces, u64) = match src.detect()? {
        crate::Format::Zipnn => {
            let (frames, total) = zipnn::frames_from(&mut src, limits)?;
            if frames.iter().any(|f| f.header.delta != 0) {
                return Err(zipnn::missing_base());
            }
            let pieces = frames
                .into_iter()
                .map(|f| Ok((to_usize(f.pos)?, to_usize(f.pos + f.len)?, Some(f.header))));
            (Vec::new(), pieces.collect::<Result<_, Error>>()?, total)
        }
        _ if zipnn::safetensors::is_znn_safetensors_source(&mut src) => {
            let plan = zipnn::safetensors::plan(&mut src, limits)?;
            let pieces = plan.pieces.into_iter();
            let pieces = pieces.map(|p| Ok((to_usize(p.start)?, to_usize(p.end)?, p.frame)));
            (
                plan.header,
                pieces.collect::<Result<_, Error>>()?,
                plan.total,
            )
        }
        _ => return Err(src.unknown()),
    };
    let mut t: Vec<f64> = Vec::new();
    // (The decoded offset is a u64: a wasm32 usize wrapped past 4 GiB.)
    let part = |t: &mut Vec<f64>, head: [usize; 5], at: u64, segs: &[(usize, usize)]| {
        t.try_reserve(PART_LEN)
            .map_err(|_| Error::no_memory((t.len() + PART_LEN) as u64 * 8))?;
        t.extend(head.map(|x| x as f64));
        t.push(at as f64);
        for i in 0..5 {
            let (a, l) = segs.get(i).copied().unwrap_or((0, 0));
            t.extend([a as f64, l as f64]);
        }
        Ok::<(), Error>(())
    };
    t.push(0.0);
    let mut at = header.len() as u64;
    for (start, end, frame) in pieces {
        let len = end - start;
        let Some(h) = frame else {
            part(&mut t, [0, start, len, 0, 0], at, &[(0, len)])?;
            at += len as u64;
            continue;
        };
        let total = crate::format::to_usize(h.orig_len)?;
        let chunk = crate::format::to_usize(h.chunk())?;
        let chunks = total.div_ceil(chunk);
        // Every part carries the frame's header and tables: at most as many parts as the
        // tables fit into the frame, so that copying them stays within the frame's size
        // (a frame of tiny chunks is mostly tables).
        let tables = chunks.saturating_mul(9 * h.dtype.streams());
        let head = tables.saturating_add(h.header_len);
        let per = (part_bytes / chunk).max(chunks.div_ceil((len / head.max(1)).max(1)));
        if chunks <= per {
            part(&mut t, [1, start, len, 0, chunks], at, &[(0, len)])?;
            at += h.orig_len;
            continue;
        }
        // Cut: the tables tell where each stream's bytes of each run of chunks are.
        let mut frame = JsFrame::new(data);
        frame.whole(start, len);
        let layout = zipnn::FrameLayout::read(&mut frame, &h, total as u64)?;
        for c0 in (0..chunks).step_by(per) {
            let c = c0..(c0 + per).min(chunks);
            let mut segs = [(0, layout.payload_start); 5];
            for (b, seg) in segs[1..=h.dtype.streams()].iter_mut().enumerate() {
                let r = layout.stream_span(b, c.clone())?;
                *seg = (r.start, r.len());
            }
            part(
                &mut t,
                [1, start, len, c.start, c.end],
                at,
                &segs[..=h.dtype.streams()],
            )?;
            at += layout.output_len(c);
        }
    }
    t[0] = ((t.len() - 1) / PART_LEN) as f64;
    t.push(total as f64);
    let out = js_sys::Array::new();
    out.push(&js_sys::Uint8Array::from(&header[..]));
    out.push(&js_sys::Float64Array::from(&t[..]));
    Ok(out)
}

/// Numbers per part in `decodeZipnnPieces`' list: kind, the frame's length, the chunk range,
/// then five (where in `records`, start in the frame, length) stretches.
const RUN_PART_LEN: usize = 19;

/// Decodes a run of parts that `zipnnPieceTable` listed into `target`, which must be their
/// exact decoded length (a view of the pool's `SharedArrayBuffer`). `records` holds their
/// bytes, `parts` is `RUN_PART_LEN` numbers per part: `kind`, the frame's length (for plain
/// bytes: theirs), chunks `c0..c1`, then five `(at, start, length)`: frame bytes
/// `start..start + length` are at `at` in `records` (plain bytes: the first stretch). Every
/// frame header and table is checked again here.
#[wasm_bindgen(js_name = decodeZipnnPieces)]
pub fn decode_zipnn_pieces(
    records: &js_sys::Uint8Array,
    parts: &[f64],
    target: &js_sys::Uint8Array,
) -> Result<(), JsValue> {
    zipnn_run(records, parts, target).map_err(|e| js_error(&e))
}

fn zipnn_run(
    records: &js_sys::Uint8Array,
    parts: &[f64],
    target: &js_sys::Uint8Array,
) -> Result<(), Error> {
    let bad = || Error::InvalidInput("bad piece table".into());
    let size = records.length() as usize;
    let len = target.length() as usize;
    if parts.len() % RUN_PART_LEN != 0 {
        return Err(bad());
    }
    // Whole numbers up to 2^53 (positions and lengths are checked against `records` below).
    let num =
        |x: f64| (x >= 0.0 && x.fract() == 0.0 && x <= 9007199254740991.0).then_some(x as usize);
    let mut d = JsFrames::new(records, target);
    let mut at = 0usize;
    for p in parts.chunks_exact(RUN_PART_LEN) {
        let v: Vec<usize> = p
            .iter()
            .map(|&x| num(x))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let mut segs = [Seg::default(); 5];
        for (s, w) in segs.iter_mut().zip(v[4..].chunks_exact(3)) {
            *s = Seg {
                at: w[0],
                start: w[1],
                len: w[2],
            };
            if s.at.checked_add(s.len).is_none_or(|e| e > size)
                || s.start.checked_add(s.len).is_none()
            {
                return Err(bad());
            }
        }
        let room = len - at;
        match v[0] {
            0 => {
                let s = segs[0];
                if s.len > room {
                    return Err(bad());
                }
                target.set(
                    &records.subarray(s.at as u32, (s.at + s.len) as u32),
                    at as u32,
                );
                at += s.len;
            }
            1 if v[2] <= v[3] => at += d.decode_part(segs, v[1], v[2]..v[3], at, room)?,
            _ => return Err(bad()),
        }
    }
    if at != len {
        return Err(bad());
    }
    Ok(())
}
