//! `.znn.safetensors`: a valid safetensors file in which each compressed tensor is a 1-D `U8`
//! tensor holding one ZN frame (torch input format, so it carries the shape), listed in
//! `__metadata__["znn_compressed_vectors"]` as `{name: {"dtype": "bfloat16", "shape": "[..]"}}`.
//!
//! Decoding restores every tensor (name, dtype, shape, bytes) and writes a new safetensors
//! header, as zipnn's own restore does (the `safetensors` library's layout, without
//! `znn_compressed_vectors`): byte-identical to the original when that library wrote it, except
//! for the order of several `__metadata__` keys; tensor-identical otherwise.

use super::{decode_frame, decode_frame_with, FrameHeader, Grow, ZDType};
use crate::format::safetensors::{self as st, Layout};
use crate::format::Source;
use crate::format::{json, to_usize, Error, Limits, Output, Reserve};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// The `__metadata__` key listing the compressed tensors and their original dtype and shape.
pub const METADATA_KEY: &str = "znn_compressed_vectors";

/// How the original tensor looked, from the metadata entry or, failing that, the frame.
struct Original {
    dtype: String,
    shape: Vec<u64>,
}

/// True for a safetensors file that zipnn's `compress_safetensors` produced.
pub fn is_znn_safetensors(data: &[u8]) -> bool {
    is_znn_safetensors_source(&mut &data[..])
}

/// [`is_znn_safetensors`] over any [`Source`]: reads the header and the first bytes of the
/// `U8` tensors only.
pub fn is_znn_safetensors_source<S: Source + ?Sized>(src: &mut S) -> bool {
    let l = match layout_of(src) {
        Ok((l, _)) => l,
        // Cut inside the header: possibly a .znn.safetensors file cut short (see `layout_of`).
        Err(Error::Truncated) => return true,
        // Damaged (one that names the key): decoding it then says how, not "not compressed".
        Err(_) => return names_key(src),
    };
    l.metadata.iter().any(|(k, _)| k == METADATA_KEY)
        || l.tensors
            .iter()
            .any(|t| t.dtype == "U8" && frame_head(src, t.start, t.end).is_ok_and(super::is_zipnn))
}

/// Whether `src` starts like a safetensors file (a length, then `{`) whose header bytes, unparsed,
/// name [`METADATA_KEY`].
fn names_key<S: Source + ?Sized>(src: &mut S) -> bool {
    let size = src.size();
    let n = match src.read_upto(0, 8).map(|p| p.first_chunk::<8>().copied()) {
        Ok(Some(p)) => u64::from_le_bytes(p),
        _ => return false,
    };
    if !(2..=st::MAX_HEADER).contains(&n) {
        return false;
    }
    if size <= 8 || src.read(8, 1).map_or(true, |b| b[0] != b'{') {
        return false;
    }
    let key = METADATA_KEY.as_bytes();
    let quoted = |w: &[u8]| w[0] == b'"' && w[1..=key.len()] == *key && w[key.len() + 1] == b'"';
    src.read(0, (8 + n).min(size) as usize)
        .is_ok_and(|h| h.get(8) == Some(&b'{') && h.windows(key.len() + 2).skip(8).any(quoted))
}

/// The safetensors header of `src`, parsed (read through the source: its first 8 bytes give
/// the header's length, which `st::parse` bounds); `Truncated` for a file that ends before the
/// bytes its header names.
fn layout<S: Source + ?Sized>(src: &mut S) -> Result<Layout, Error> {
    match layout_of(src)? {
        (l, true) => Ok(l),
        (_, false) => Err(Error::Truncated),
    }
}

/// [`layout`], and whether the file holds every byte its header names (`false`: an
/// interrupted download, say, whose header still reads). A header cut short is `Truncated`
/// when what is there starts like one (a length, then `{`), else not a safetensors file.
fn layout_of<S: Source + ?Sized>(src: &mut S) -> Result<(Layout, bool), Error> {
    let size = src.size();
    let prefix = src.read_upto(0, 8)?;
    let n = match prefix.first_chunk::<8>() {
        Some(p) => u64::from_le_bytes(*p).min(st::MAX_HEADER + 1),
        None => return Err(Error::corrupt("shorter than a safetensors header")),
    };
    // Anything but `{` after the length is no safetensors file: refused before the header
    // it names (up to 100 MB) is read, with the error `st::parse` would give.
    if size <= 8 || src.read(8, 1)?[0] != b'{' {
        let bad_len = !(2..=st::MAX_HEADER).contains(&n) || 8 + n > size;
        return Err(Error::corrupt(if bad_len {
            "safetensors header length out of range"
        } else {
            "safetensors header is not a JSON object"
        }));
    }
    let len = (8 + n).min(size) as usize;
    let head = src.read(0, len)?;
    let err = match st::parse(head, size) {
        Ok(l) => return Ok((l, true)),
        Err(e) => e,
    };
    if 8 + n > size {
        // Cut inside what starts like a JSON header: a .znn.safetensors file cut short (without
        // source metadata zipnn writes no key into the header, so the bytes there cannot tell),
        // or a plain one, unreadable either way.
        let json = (2..=st::MAX_HEADER).contains(&n) && head.get(8) == Some(&b'{');
        return Err(if json { Error::Truncated } else { err });
    }
    match st::parse(head, u64::MAX) {
        Ok(l) => Ok((l, false)),
        Err(_) => Err(err),
    }
}

/// The first bytes of the tensor at `start..end`: enough for any ZN frame header.
fn frame_head<S: Source + ?Sized>(src: &mut S, start: u64, end: u64) -> Result<&[u8], Error> {
    let len = end.saturating_sub(start).min(super::MAX_HEADER_LEN as u64);
    src.read(start, len as usize)
}

fn safetensors_dtype(d: ZDType) -> &'static str {
    match d {
        ZDType::F32 => "F32",
        ZDType::F16 => "F16",
        ZDType::BF16 => "BF16",
        ZDType::F8E4M3 => "F8_E4M3",
        ZDType::F8E5M2 => "F8_E5M2",
    }
}

fn from_torch_name(s: &str) -> Option<&'static str> {
    Some(match s.trim_start_matches("torch.") {
        "float32" => "F32",
        "float16" => "F16",
        "bfloat16" => "BF16",
        "float8_e4m3fn" => "F8_E4M3",
        "float8_e5m2" => "F8_E5M2",
        _ => return None,
    })
}

/// Parses `"[4096, 4096]"`.
fn parse_shape(s: &str) -> Option<Vec<u64>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner.split(',').map(|d| d.trim().parse().ok()).collect()
}

fn originals(meta: &str) -> Result<Vec<(String, Original)>, Error> {
    /// An entry's fields as read (the last of a repeated key, as serde_json's map keeps).
    #[derive(Default)]
    struct Fields {
        dtype: Option<String>,
        shape: Option<Option<Vec<u64>>>,
    }
    type Entries = BTreeMap<String, Option<Fields>>;
    let mut r = json::Reader::new(meta.as_bytes());
    let read = r.object_or_skip(|r, name, entries: &mut Entries| {
        let fields = r.object_or_skip(|r, key, f: &mut Fields| {
            match key.as_str() {
                "dtype" => f.dtype = r.string_or_skip()?,
                // "[384, 1536]" as zipnn writes it, or an array.
                "shape" => {
                    f.shape = Some(match r.peek() {
                        Some(b'"') => parse_shape(&r.string()?),
                        _ => r.u64_array_or_skip()?,
                    })
                }
                _ => r.skip()?,
            }
            Ok(())
        })?;
        entries.insert(name, fields);
        Ok(())
    });
    let entries = match read.and_then(|e| r.end().map(|_| e)) {
        Err(_) => return Err(Error::corrupt("znn_compressed_vectors is not JSON")),
        Ok(None) => return Err(Error::corrupt("znn_compressed_vectors is not an object")),
        Ok(Some(entries)) => entries,
    };
    let mut out = Vec::with_capacity(entries.len());
    for (name, f) in entries {
        let bad = || Error::corrupt(alloc::format!("znn_compressed_vectors entry {name:?}"));
        let f = f.ok_or_else(bad)?;
        let dtype = f
            .dtype
            .as_deref()
            .and_then(from_torch_name)
            .ok_or_else(bad)?;
        let shape = f.shape.flatten().ok_or_else(bad)?;
        out.push((
            name,
            Original {
                dtype: dtype.into(),
                shape,
            },
        ));
    }
    Ok(out)
}

/// How to restore a `.znn.safetensors` file: a new header, then every tensor in the restored
/// file's order, copied from the input or decoded from its frame.
pub struct Plan {
    /// The restored file's safetensors header (size prefix and JSON).
    pub header: Vec<u8>,
    /// Every tensor, in the restored file's order.
    pub pieces: Vec<Piece>,
    /// Bytes of the restored file.
    pub total: u64,
}

/// One tensor of a [`Plan`]: input bytes `start..end`, which restore to `len` bytes. (File
/// offsets in u64: a stream restores files past 4 GiB in wasm32 too.)
pub struct Piece {
    /// The tensor's name, the same in both files.
    pub name: String,
    /// Where its bytes start in the input file.
    pub start: u64,
    /// Where they end in the input file (exclusive).
    pub end: u64,
    /// The tensor holds a ZipNN frame (else it is copied as it is).
    pub compressed: bool,
    /// That frame's header: [`plan`] reads them all, [`listed_plan`] none (a stream reads
    /// each with [`read_frame`] as it arrives).
    pub frame: Option<FrameHeader>,
    /// Bytes it restores to (`end - start` for a tensor copied as it is).
    pub len: u64,
}

/// Restores the original safetensors file.
pub fn decompress(data: &[u8], limits: &Limits) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decode_to_vec(data, limits, &mut out, Reserve::All)?;
    Ok(out)
}

/// [`decompress`] into the front of `out`, written over in place and grown only as restoring
/// reaches past its end (never shrunk). Returns the restored size.
pub fn decompress_to_vec(data: &[u8], limits: &Limits, out: &mut Vec<u8>) -> Result<usize, Error> {
    decode_to_vec(data, limits, out, Reserve::AsDecoded)
}

fn decode_to_vec(
    data: &[u8],
    limits: &Limits,
    out: &mut Vec<u8>,
    reserve: Reserve,
) -> Result<usize, Error> {
    let plan = plan(&mut &data[..], limits)?;
    let mut output = Output::new(out, plan.total, reserve)?;
    output
        .slot(0, plan.header.len())?
        .copy_from_slice(&plan.header);
    let mut at = plan.header.len();
    let mut scratch = Vec::new();
    for p in &plan.pieces {
        let (src, len) = (&data[to_usize(p.start)?..to_usize(p.end)?], p.len as usize);
        match &p.frame {
            None => output.slot(at, len)?.copy_from_slice(src),
            // Grown chunk by chunk as the frame decodes, not by the size its header claims.
            Some(h) => {
                let mut grow = Grow {
                    out: &mut output,
                    at,
                    len,
                };
                decode_frame_with(src, h, &mut grow, &mut scratch)?;
            }
        }
        at += len;
    }
    Ok(at)
}

/// [`decompress`] into `dst`, which must be exactly the restored size. Returns that size.
pub fn decompress_into(data: &[u8], dst: &mut [u8]) -> Result<usize, Error> {
    let plan = plan(&mut &data[..], &Limits::default())?;
    if plan.total != dst.len() as u64 {
        return Err(Error::wrong_size(dst.len(), plan.total));
    }
    let (head, mut rest) = dst.split_at_mut(plan.header.len());
    head.copy_from_slice(&plan.header);
    for p in &plan.pieces {
        let (out, tail) = core::mem::take(&mut rest).split_at_mut(p.len as usize);
        let src = &data[to_usize(p.start)?..to_usize(p.end)?];
        match &p.frame {
            None => out.copy_from_slice(src),
            Some(h) => decode_frame(src, h, out)?,
        }
        rest = tail;
    }
    Ok(dst.len())
}

/// What a `.znn.safetensors` file holds, in the form `znw::inspect` reports a `.znw` file:
/// each tensor of the restored file (its original type, shape and place) with the bytes it
/// takes here, and the header. A tensor held as a ZipNN frame has the frame's element type as
/// `dtype`; one stored as it is, `bytes`.
pub fn inspect(data: &[u8]) -> Result<crate::format::report::Report, Error> {
    inspect_source(&mut &data[..])
}

/// [`inspect`] over any [`Source`]: reads the header and each compressed tensor's frame header.
pub fn inspect_source<S: Source + ?Sized>(
    src: &mut S,
) -> Result<crate::format::report::Report, Error> {
    use crate::format::report::SegmentReport;
    let plan = plan(src, &Limits::default())?;
    let restored = st::parse(&plan.header, plan.total)?;
    let stored = layout(src)?;
    let by_name: BTreeMap<&str, &Piece> =
        plan.pieces.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut segments = alloc::vec![SegmentReport {
        name: String::from("__header__"),
        dtype: "bytes",
        label: String::from("JSON"),
        shape: Vec::new(),
        offset: 0,
        length: plan.header.len() as u64,
        compressed: stored.data_start,
    }];
    let mut frames = 0;
    let mut chunk = 0;
    for t in restored.tensors {
        let p = by_name
            .get(t.name.as_str())
            .ok_or_else(|| Error::corrupt("tensor missing from the restored header"))?;
        let dtype = match &p.frame {
            Some(h) => {
                frames += 1;
                chunk = chunk.max(1u64 << h.chunk_log2);
                h.dtype.to_dtype().name()
            }
            None => "bytes",
        };
        segments.push(SegmentReport {
            name: t.name,
            dtype,
            label: t.dtype,
            shape: t.shape,
            offset: t.start,
            length: t.end - t.start,
            compressed: p.end - p.start,
        });
    }
    Ok(crate::format::report::Report {
        format: "znn-safetensors",
        container: "safetensors",
        total_size: plan.total,
        compressed_size: src.size(),
        chunk_size: chunk,
        chunks: frames,
        segments,
        suggestion: None,
        modes: Vec::new(),
        delta: None,
        zipnn: None,
    })
}

/// Reads what restoring needs through `src` (the header and each compressed tensor's frame
/// header) and checks it all, sizes against `limits` included, before anything is decoded.
pub fn plan<S: Source + ?Sized>(src: &mut S, limits: &Limits) -> Result<Plan, Error> {
    let layout = layout(src)?;
    let plan = match listed_plan(&layout, limits)? {
        Some(mut plan) => {
            for p in plan.pieces.iter_mut().filter(|p| p.compressed) {
                let head = frame_head(src, p.start, p.end)?;
                p.frame = Some(read_frame(p, head)?);
            }
            plan
        }
        None => unlisted_plan(src, &layout, limits)?,
    };
    // The restored file is rebuilt from the tensors: bytes past the last one would be lost
    // silently (a safetensors loader refuses such a file, zipnn's too).
    if data_end(&layout) != src.size() {
        return Err(trailing_bytes());
    }
    Ok(plan)
}

/// Where the last tensor of `layout` ends (where its data starts when it has none).
fn data_end(layout: &Layout) -> u64 {
    layout
        .tensors
        .iter()
        .map(|t| t.end)
        .fold(layout.data_start, u64::max)
}

/// Bytes past the last tensor (the whole-file and the streaming decoder say it alike).
pub(crate) fn trailing_bytes() -> Error {
    Error::corrupt("bytes after the last tensor of a .znn.safetensors file")
}

/// Whether `head` starts with the size prefix and JSON header of a `.znn.safetensors` file that
/// lists its compressed tensors ([`listed_plan`]): then `stream::ZnnSafetensorsDecoder`
/// restores it as it arrives.
pub fn lists_compressed(head: &[u8]) -> bool {
    let unlimited = Limits {
        max_output: u64::MAX,
    };
    st::parse(head, u64::MAX).is_ok_and(|l| listed_plan(&l, &unlimited).is_ok_and(|p| p.is_some()))
}

/// The plan of a file whose metadata lists its compressed tensors, from its JSON header alone
/// (so that a stream can restore it a tensor at a time, see `stream::ZnnSafetensorsDecoder`);
/// `None` when the metadata lists none: then which tensors are frames, and what they restore
/// to, only the frames' own headers say (zipnn writes no list for a file without metadata).
/// Compressed pieces have no `frame` yet: check each with [`read_frame`].
pub fn listed_plan(layout: &Layout, limits: &Limits) -> Result<Option<Plan>, Error> {
    let Some((_, meta)) = layout.metadata.iter().find(|(k, _)| k == METADATA_KEY) else {
        return Ok(None);
    };
    let listed = originals(meta)?;
    if listed.is_empty() {
        return Ok(None);
    }
    // A map, not a scan per tensor: with tens of thousands of tensors a scan is quadratic
    // (a 5 MB hostile header took 16 s).
    let by_name: BTreeMap<&str, &Original> = listed.iter().map(|(n, o)| (n.as_str(), o)).collect();
    let mut pieces = Vec::with_capacity(layout.tensors.len());
    let mut entries = Vec::with_capacity(layout.tensors.len());
    for t in &layout.tensors {
        let mut piece = copied(t);
        let (dtype, shape) = match by_name.get(t.name.as_str()) {
            Some(o) => {
                if t.dtype != "U8" {
                    return Err(Error::corrupt(alloc::format!(
                        "compressed tensor {:?} is not U8",
                        t.name
                    )));
                }
                piece.compressed = true;
                piece.len = restored_len(&t.name, &o.dtype, &o.shape)?;
                (o.dtype.clone(), o.shape.clone())
            }
            None => (t.dtype.clone(), t.shape.clone()),
        };
        entries.push((t.name.clone(), dtype, shape));
        pieces.push(piece);
    }
    finish(layout, entries, pieces, limits).map(Some)
}

/// The plan of a file whose metadata lists no compressed tensors: a `U8` tensor that is
/// exactly one torch-format ZN frame is taken as compressed, restored as its header says.
fn unlisted_plan<S: Source + ?Sized>(
    src: &mut S,
    layout: &Layout,
    limits: &Limits,
) -> Result<Plan, Error> {
    let mut pieces = Vec::with_capacity(layout.tensors.len());
    let mut entries = Vec::with_capacity(layout.tensors.len());
    for t in &layout.tensors {
        let mut piece = copied(t);
        let head = frame_head(src, t.start, t.end)?;
        let frame = (t.dtype == "U8" && super::is_zipnn(head))
            .then(|| FrameHeader::parse(head).ok())
            .flatten()
            .filter(|h| h.frame_len == t.end - t.start && h.input_format == 2);
        let (dtype, shape) = match frame {
            Some(h) => {
                let dtype = String::from(safetensors_dtype(h.dtype));
                let shape = h.shape.clone().unwrap_or_default();
                piece.compressed = true;
                piece.len = restored_len(&t.name, &dtype, &shape)?;
                if h.orig_len != piece.len {
                    return Err(shape_mismatch(&t.name));
                }
                piece.frame = Some(h);
                (dtype, shape)
            }
            None => (t.dtype.clone(), t.shape.clone()),
        };
        entries.push((t.name.clone(), dtype, shape));
        pieces.push(piece);
    }
    // Sizes first: a file claiming terabytes is `TooLarge` whatever its frames hold.
    let plan = finish(layout, entries, pieces, limits)?;
    for p in &plan.pieces {
        if let Some(h) = &p.frame {
            frame_fits(p, h)?;
        }
    }
    Ok(plan)
}

/// A tensor of the file as its piece of the restored file, copied as it is.
fn copied(t: &st::TensorInfo) -> Piece {
    Piece {
        name: t.name.clone(),
        start: t.start,
        end: t.end,
        compressed: false,
        frame: None,
        len: t.end - t.start,
    }
}

/// Bytes of a tensor of `dtype` and `shape` (an error when its type has no known size).
fn restored_len(name: &str, dtype: &str, shape: &[u64]) -> Result<u64, Error> {
    st::dtype_size(dtype)
        .and_then(|s| shape.iter().try_fold(s, |a, &d| a.checked_mul(d)))
        .ok_or_else(|| shape_mismatch(name))
}

fn shape_mismatch(name: &str) -> Error {
    Error::corrupt(alloc::format!(
        "tensor {name:?}: shape does not match its data"
    ))
}

/// Checks the frame at the start of compressed piece `p` (`head`: at least its header's bytes,
/// or all of the tensor when it is shorter) against what the plan restores it to.
/// `Truncated` only while `head` is neither all of the tensor nor a longest header's bytes.
pub fn read_frame(p: &Piece, head: &[u8]) -> Result<FrameHeader, Error> {
    let all_there = head.len() as u64 >= p.end - p.start || head.len() >= super::MAX_HEADER_LEN;
    let h = FrameHeader::parse(head).map_err(|e| match e {
        // The file is a .znn.safetensors: a tensor it lists without a frame is damage.
        Error::NotCompressed => Error::corrupt(alloc::format!(
            "tensor {:?} is listed as compressed but holds no ZipNN frame",
            p.name
        )),
        // Every byte the header could use is there: it is malformed, not cut short.
        Error::Truncated if all_there => Error::corrupt(alloc::format!(
            "tensor {:?}: frame header runs past the tensor",
            p.name
        )),
        e => e,
    })?;
    let frame_len = p.end - p.start;
    if h.frame_len != frame_len {
        return Err(Error::corrupt(alloc::format!(
            "tensor {:?}: frame length mismatch",
            p.name
        )));
    }
    if h.orig_len != p.len {
        return Err(shape_mismatch(&p.name));
    }
    frame_fits(p, &h)?;
    Ok(h)
}

/// The frame of piece `p` can hold its tables and is no delta.
fn frame_fits(p: &Piece, h: &FrameHeader) -> Result<(), Error> {
    h.check_tables(p.end - p.start)?;
    if h.delta != 0 {
        return Err(Error::Unsupported(
            "delta frame inside .znn.safetensors".into(),
        ));
    }
    Ok(())
}

/// The restored header for `entries` (name, type and shape of each tensor, in file order)
/// and the plan's size, checked against `limits`. The restored file is laid out as zipnn's own
/// restore writes it (through the `safetensors` library's `save_file`, see
/// [`st::saved_rank`]), which is the original file whenever the library wrote that one: so
/// `pieces` may come out in another order than the file's.
fn finish(
    layout: &Layout,
    entries: Vec<(String, String, Vec<u64>)>,
    pieces: Vec<Piece>,
    limits: &Limits,
) -> Result<Plan, Error> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    // A type the library does not know: its order cannot be told, the file's is kept.
    let ranks: Option<Vec<u8>> = entries.iter().map(|e| st::saved_rank(&e.1)).collect();
    if let Some(ranks) = ranks {
        order.sort_by(|&a, &b| {
            ranks[a]
                .cmp(&ranks[b])
                .then(entries[a].0.cmp(&entries[b].0))
        });
    }
    let mut entries: Vec<Option<(String, String, Vec<u64>)>> =
        entries.into_iter().map(Some).collect();
    let mut pieces: Vec<Option<Piece>> = pieces.into_iter().map(Some).collect();
    let mut placed = Vec::with_capacity(order.len());
    let mut restored = Vec::with_capacity(order.len());
    let mut pos = 0u64;
    for &i in &order {
        let (Some((name, dtype, shape)), Some(p)) = (entries[i].take(), pieces[i].take()) else {
            continue;
        };
        let end = pos
            .checked_add(p.len)
            .ok_or_else(|| Error::corrupt("sizes overflow"))?;
        placed.push((name, dtype, shape, pos, end));
        restored.push(p);
        pos = end;
    }
    let metadata: Vec<(String, String)> = layout
        .metadata
        .iter()
        .filter(|(k, _)| k != METADATA_KEY)
        .cloned()
        .collect();
    let mut header = Vec::new();
    let metadata = layout.has_metadata.then_some(&metadata[..]);
    st::write_header_as_saved(&placed, metadata, &mut header);
    let total = (header.len() as u64)
        .checked_add(pos)
        .ok_or_else(|| Error::corrupt("sizes overflow"))?;
    if total > limits.max_output {
        return Err(Error::TooLarge {
            size: total,
            limit: limits.max_output,
        });
    }
    Ok(Plan {
        header,
        pieces: restored,
        total,
    })
}
