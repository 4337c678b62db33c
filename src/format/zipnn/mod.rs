//! IBM ZipNN's own files: single "ZN" frames, streaming files (concatenated frames) and
//! `.znn.safetensors`. Layout as zipnn 0.5.4 writes it (`zipnn.py`, `csrc/zipnn_core.c`):
//!
//! ```text
//! frame  = header(32) [shape] types u8[B][C] cumsizes u64[B][C] payload
//! header = "ZN" ver[3] byte_reorder bit_reorder method input_format delta lossy[3]
//!          streaming chunk_log2 dtype orig_len:u64 frame_len:u64
//! ```
//!
//! `B` byte streams (bf16/fp16: 2, fp32: 4, fp8: 1), `C = ceil(orig_len / chunk)` chunks;
//! tables and payload are stream-major (all of stream 0's chunks first). Sizes that ZipNN writes
//! as the host's `size_t` are read as u64 little-endian and rejected if they do not fit.

pub mod random;
pub mod safetensors;

use crate::dtype::{self, DType};
use crate::entropy::{block, huff0};
use crate::format::{ahead::merge_ahead, to_usize, Error, Limits, Output, Reader, Reserve};
use alloc::vec::Vec;
use core::ops::Range;

/// `ZN`: the first two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"ZN";
/// Bytes of a frame header's fixed part, before the shape of torch/numpy frames.
pub const HEADER_LEN: usize = 32;
/// The longest frame header: 32 bytes, then a shape of at most 255 dimensions of 1 + 8 bytes.
pub const MAX_HEADER_LEN: usize = HEADER_LEN + 1 + 255 * 9;
/// The version we write: zipnn 0.5.4.
pub const VERSION: [u8; 3] = [0, 5, 4];

/// Element types ZipNN codes (`util_torch.ZipNNDtypeEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZDType {
    /// float32 (code 1).
    F32,
    /// float16 (code 4).
    F16,
    /// bfloat16 (code 6).
    BF16,
    /// float8 e4m3fn (code 29).
    F8E4M3,
    /// float8 e5m2 (code 30).
    F8E5M2,
}

impl ZDType {
    /// The type of a frame header's dtype code (byte 15); `None` for any other code.
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => ZDType::F32,
            4 => ZDType::F16,
            6 => ZDType::BF16,
            29 => ZDType::F8E4M3,
            30 => ZDType::F8E5M2,
            _ => return None,
        })
    }
    /// The dtype code stored at frame header byte 15.
    pub fn code(self) -> u8 {
        match self {
            ZDType::F32 => 1,
            ZDType::F16 => 4,
            ZDType::BF16 => 6,
            ZDType::F8E4M3 => 29,
            ZDType::F8E5M2 => 30,
        }
    }
    /// Number of byte streams per chunk.
    pub fn streams(self) -> usize {
        match self {
            ZDType::F32 => 4,
            ZDType::F16 | ZDType::BF16 => 2,
            ZDType::F8E4M3 | ZDType::F8E5M2 => 1,
        }
    }
    /// The ZipNN type of one of our element types; `None` for bytes and float64, which ZipNN
    /// frames do not code.
    pub fn from_dtype(d: crate::DType) -> Option<Self> {
        use crate::DType as D;
        Some(match d {
            D::F32 => ZDType::F32,
            D::F16 => ZDType::F16,
            D::BF16 => ZDType::BF16,
            D::F8E4M3 => ZDType::F8E4M3,
            D::F8E5M2 => ZDType::F8E5M2,
            _ => return None,
        })
    }
    /// Our element type of the same name (the inverse of [`ZDType::from_dtype`]).
    pub fn to_dtype(self) -> crate::DType {
        use crate::DType as D;
        match self {
            ZDType::F32 => D::F32,
            ZDType::F16 => D::F16,
            ZDType::BF16 => D::BF16,
            ZDType::F8E4M3 => D::F8E4M3,
            ZDType::F8E5M2 => D::F8E5M2,
        }
    }
    /// torch's name, as in `znn_compressed_vectors`.
    pub fn torch_name(self) -> &'static str {
        match self {
            ZDType::F32 => "float32",
            ZDType::F16 => "float16",
            ZDType::BF16 => "bfloat16",
            ZDType::F8E4M3 => "float8_e4m3fn",
            ZDType::F8E5M2 => "float8_e5m2",
        }
    }
}

/// A ZN frame's header: the 32 fixed bytes and, for torch/numpy input, the shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHeader {
    /// The zipnn version that wrote the frame (major, minor, patch).
    pub version: [u8; 3],
    /// ZipNN's byte-grouping code: 220 for float32, 10 for the other types (a parsed header
    /// never holds another value).
    pub byte_reorder: u8,
    /// 1 when the sign bit was moved next to the mantissa (`bits_mode = 1`), else 0; read for
    /// bf16 and fp32 frames only.
    pub bit_reorder: u8,
    /// The `method` byte as written (this crate writes 0). Chunks say how they are coded, so
    /// decoding ignores it, except to name zipnn's whole-buffer modes in a frame of no decoded
    /// bytes that holds data ([`FrameHeader::check_frame`]).
    pub method: u8,
    /// 1 byte, 2 torch, 3 numpy.
    pub input_format: u8,
    /// 0 none, 1 byte XOR, 2 file XOR: the frame holds `data XOR base`.
    pub delta: u8,
    /// log2 of the streaming chunk when the file is a sequence of frames.
    pub streaming_log2: Option<u8>,
    /// log2 of the decoded bytes per chunk as recorded, at most 32 (fp8 chunks are cut at
    /// 128 KiB whatever it says: see [`FrameHeader::chunk`]).
    pub chunk_log2: u8,
    /// The element type the frame codes.
    pub dtype: ZDType,
    /// Decoded bytes of the frame.
    pub orig_len: u64,
    /// Bytes of the whole frame in the file, header included.
    pub frame_len: u64,
    /// Tensor shape (torch/numpy input formats only).
    pub shape: Option<Vec<u64>>,
    /// Bytes of header plus shape block.
    pub header_len: usize,
}

/// True when `data` looks like a ZN frame (magic plus plausible type bytes).
pub fn is_zipnn(data: &[u8]) -> bool {
    data.len() >= 16
        && data[..2] == MAGIC
        && matches!(data[5], 10 | 220)
        && ZDType::from_code(data[15]).is_some()
}

impl FrameHeader {
    /// Parses the header at the start of `data`: `NotCompressed` without the magic,
    /// `Truncated` when `data` ends inside it, `Unsupported` for an unknown dtype code or
    /// byte order, `Corrupt` for other fields out of range. The frame's size is checked by
    /// [`FrameHeader::check_frame`], not here.
    pub fn parse(data: &[u8]) -> Result<FrameHeader, Error> {
        if data.len() < 2 || data[..2] != MAGIC {
            return Err(Error::NotCompressed);
        }
        let mut r = Reader::new(data);
        r.bytes(2)?;
        let version = r.array::<3>()?;
        let [byte_reorder, bit_reorder, method, input_format, delta] = r.array::<5>()?;
        r.bytes(3)?; // lossy fields: unused by every zipnn release
        let streaming = r.u8()?;
        let chunk_log2 = r.u8()?;
        let dtype = r.u8()?;
        let orig_len = r.u64()?;
        let frame_len = r.u64()?;
        // Checked once all 32 bytes are there, as a streaming reader sees them.
        let dtype = ZDType::from_code(dtype)
            .ok_or_else(|| Error::Unsupported("ZipNN frame with an unknown dtype code".into()))?;
        if !(1..=3).contains(&input_format) {
            return Err(Error::corrupt("ZipNN frame: unknown input format"));
        }
        // zipnn 0.5.4 writes (and reads back) chunks of 1 byte to 4 GiB (as small as one
        // element) and streaming frames of 1 byte on.
        if chunk_log2 > 32 {
            return Err(Error::corrupt("ZipNN frame: chunk size out of range"));
        }
        let streaming_log2 = match streaming {
            0 => None,
            s if (128..=128 + 40).contains(&s) => Some(s - 128),
            _ => return Err(Error::corrupt("ZipNN frame: bad streaming byte")),
        };
        let expected_reorder = if dtype == ZDType::F32 { 220 } else { 10 };
        if byte_reorder != expected_reorder {
            return Err(Error::Unsupported(alloc::format!(
                "ZipNN byte_reorder {byte_reorder} for {}",
                dtype.torch_name()
            )));
        }
        if delta > 2 {
            return Err(Error::corrupt("ZipNN frame: unknown delta type"));
        }
        // 1: the sign moved (zipnn writes it for every type but fp16, whose decoder ignores it).
        if bit_reorder > 1 {
            return Err(Error::corrupt("ZipNN frame: unknown bit_reorder"));
        }
        let shape = if input_format != 1 {
            let ndim = r.u8()? as usize;
            let mut dims = Vec::with_capacity(ndim);
            for _ in 0..ndim {
                let v = match r.u8()? {
                    1 => r.u8()? as u64,
                    2 => r.u16()? as u64,
                    4 => r.u32()? as u64,
                    8 => r.u64()?,
                    _ => return Err(Error::corrupt("ZipNN shape: bad width")),
                };
                dims.push(v);
            }
            Some(dims)
        } else {
            None
        };
        Ok(FrameHeader {
            version,
            byte_reorder,
            bit_reorder,
            method,
            input_format,
            delta,
            streaming_log2,
            chunk_log2,
            dtype,
            orig_len,
            frame_len,
            shape,
            header_len: r.pos,
        })
    }

    /// [`parse`](Self::parse) for frame `index` of a file. After the first frame, bytes that
    /// do not start with the magic are damage (`Corrupt`), not another kind of file; a header
    /// cut short, even inside the magic, is `Truncated`.
    pub fn parse_at(data: &[u8], index: u64) -> Result<FrameHeader, Error> {
        match Self::parse(data) {
            Err(Error::NotCompressed) if index > 0 => Err(after_last_frame(data)),
            r => r,
        }
    }

    /// What a frame's header says about itself, checked the same way by every reader before
    /// any of its data (so that the whole-file and streaming decoders give the same error for
    /// the same bytes): its length holds its header and tables and is no longer than they and
    /// its data can code to, and it may follow `index` frames before it.
    pub fn check_frame(&self, index: u64) -> Result<(), Error> {
        if self.frame_len < self.header_len as u64 {
            return Err(Error::corrupt("ZipNN frame length"));
        }
        self.check_tables(self.frame_len)?;
        check_follows(index, self.streaming_log2.is_some())
    }

    /// Decoded bytes per chunk (the last may be shorter). fp8 frames record the configured
    /// size but zipnn caps fp8 chunks at 128 KiB (huff0's block limit, one stream per chunk).
    /// A chunk longer than the frame's data is the frame's length (one chunk), so that 4 GiB
    /// chunks fit a 32-bit `usize`.
    pub fn chunk(&self) -> u64 {
        chunk_len(self.dtype, self.chunk_log2).min(self.orig_len.max(1))
    }

    /// Checks that a frame of `frame_len` bytes can hold the type and size tables its
    /// `orig_len` implies (9 bytes per stream per chunk), so that a header alone cannot make a
    /// decoder allocate its claimed size when no limit is set; and that it is not longer than
    /// those tables and twice its data (a stream is stored raw when coding would not shrink
    /// it), so that a streaming decoder, which buffers a whole frame, holds at most that.
    pub(crate) fn check_tables(&self, frame_len: u64) -> Result<(), Error> {
        let slots = self.orig_len.div_ceil(self.chunk()) as u128 * self.dtype.streams() as u128;
        let tables = self.header_len as u128 + 9 * slots;
        if tables > frame_len as u128 {
            return Err(past_frame());
        }
        // A frame of no decoded bytes is its header alone (an empty input). Data after one is
        // zipnn's whole-buffer mode (`method="ZSTD"`, LZ4 or SNAPPY with a byte_reorder of its
        // own), which zipnn 0.5.4 does not restore either, or damage; decoded as a frame of
        // nothing, it would give no bytes and no error.
        if self.orig_len == 0 && frame_len > self.header_len as u64 {
            return Err(match whole_buffer_method(self.method) {
                Some(m) => Error::Unsupported(alloc::format!(
                    "ZipNN frame of zipnn's whole-buffer {m} mode (method {m} with no decoded \
                     length), which zipnn 0.5.4 does not restore either"
                )),
                None => Error::corrupt("ZipNN frame: data in a frame of no decoded bytes"),
            });
        }
        if frame_len as u128 > tables + 2 * self.orig_len as u128 + 4096 {
            return Err(Error::corrupt(
                "ZipNN frame: longer than its data can code to",
            ));
        }
        Ok(())
    }
}

/// Decoded bytes per chunk of a frame recording `chunk_log2`: fp8 chunks are capped at
/// 128 KiB, as zipnn cuts them (huff0's block limit, one stream per chunk).
fn chunk_len(dtype: ZDType, chunk_log2: u8) -> u64 {
    let c = 1u64 << chunk_log2;
    match dtype {
        ZDType::F8E4M3 | ZDType::F8E5M2 => c.min(128 << 10),
        _ => c,
    }
}

/// Raw length of stream `b` of a chunk of `len` bytes split into `n` streams: byte `i` goes to
/// stream `i % n`, so the first streams take the remainder.
fn stream_len(len: usize, n: usize, b: usize) -> usize {
    (len + n - 1 - b) / n
}

/// ZipNN's sign move (`bits_mode = 1`) applies to the first `len / 4` u32 words of a chunk only;
/// a trailing odd bf16 element stays as it is.
fn reordered_len(len: usize) -> usize {
    len / 4 * 4
}

/// Decodes one frame (`frame` starts with its header) into `dst` (`orig_len` bytes).
/// The result is the frame's payload: for delta frames, still XORed with the base.
pub fn decode_frame(frame: &[u8], h: &FrameHeader, dst: &mut [u8]) -> Result<(), Error> {
    decode_frame_with(frame, h, dst, &mut Vec::new())
}

/// Where a frame's decoded chunks go: straight into a slice of the output, or into a reused
/// chunk buffer copied out after each chunk (an output outside this module's memory).
pub trait ChunkOut {
    /// Decoded bytes of the frame.
    fn total(&self) -> usize;
    /// The memory to decode bytes `start..start + len` of the frame into.
    fn slot(&mut self, start: usize, len: usize) -> Result<&mut [u8], Error>;
    /// Called when the last [`slot`](Self::slot) holds its decoded bytes.
    fn done(&mut self, start: usize, len: usize) -> Result<(), Error>;
}

impl ChunkOut for [u8] {
    fn total(&self) -> usize {
        self.len()
    }
    fn slot(&mut self, start: usize, len: usize) -> Result<&mut [u8], Error> {
        Ok(&mut self[start..start + len])
    }
    fn done(&mut self, _start: usize, _len: usize) -> Result<(), Error> {
        Ok(())
    }
}

/// Where a frame's bytes come from: a slice in memory, or a buffer outside this module's
/// memory (a JS `Uint8Array` in wasm) copied in a chunk at a time, so that a whole file is
/// never copied at once and each chunk's bytes are still in cache when they are decoded.
pub trait FrameSource {
    /// Bytes in the frame.
    fn size(&self) -> usize;
    /// Sets `out[i]` to bytes `ranges[i]` of the frame (the caller keeps them in range of
    /// [`FrameSource::size`]); the slices stay valid together until the next call.
    fn read<'a>(
        &'a mut self,
        ranges: &[core::ops::Range<usize>],
        out: &mut [&'a [u8]],
    ) -> Result<(), Error>;
}

impl FrameSource for &[u8] {
    fn size(&self) -> usize {
        self.len()
    }
    fn read<'a>(
        &'a mut self,
        ranges: &[core::ops::Range<usize>],
        out: &mut [&'a [u8]],
    ) -> Result<(), Error> {
        for (o, r) in out.iter_mut().zip(ranges) {
            *o = self.get(r.clone()).ok_or(Error::Truncated)?;
        }
        Ok(())
    }
}

/// [`decode_frame`] with a scratch buffer the caller reuses across frames (it grows to one
/// chunk and is never zeroed again).
pub fn decode_frame_with(
    frame: &[u8],
    h: &FrameHeader,
    dst: &mut (impl ChunkOut + ?Sized),
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    decode_frame_from(&mut &frame[..], h, dst, scratch)
}

/// [`decode_frame_with`] reading the frame from any [`FrameSource`].
pub fn decode_frame_from(
    frame: &mut impl FrameSource,
    h: &FrameHeader,
    dst: &mut (impl ChunkOut + ?Sized),
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    if dst.total() as u64 != h.orig_len {
        return Err(Error::wrong_size(dst.total(), h.orig_len));
    }
    let layout = FrameLayout::read(frame, h, h.orig_len)?;
    decode_chunks_from(frame, h, &layout, 0..layout.chunks, dst, scratch)
}

/// Where a frame's chunks are: its type and size tables, read once (9 bytes per stream and
/// chunk). Chunk `c` decodes to bytes `c * chunk ..` of the frame's output, from one range of
/// each stream; stream `b` holds its chunks back to back, after stream `b - 1`.
#[derive(Debug)]
pub struct FrameLayout {
    /// Decoded bytes per chunk (the last may be shorter).
    pub chunk: usize,
    /// Number of chunks: `total / chunk`, rounded up.
    pub chunks: usize,
    /// Decoded bytes of the frame (in u64: a stream decodes a frame of 4 GiB or more a chunk
    /// at a time in wasm32 too; only a chunk must fit in memory).
    pub total: u64,
    /// Where the payload starts: the header and tables are the bytes before it.
    pub payload_start: usize,
    streams: usize,
    tables: Vec<u8>,
    stream_start: [u64; 4],
    /// Where the last stream ends.
    end: u64,
}

impl FrameLayout {
    /// Reads the tables of a frame that decodes to `total` bytes.
    pub fn read(frame: &mut impl FrameSource, h: &FrameHeader, total: u64) -> Result<Self, Error> {
        let n = h.dtype.streams();
        let chunk = to_usize(h.chunk())?;
        let chunks = to_usize(total.div_ceil(chunk as u64))?;
        let slots = chunks
            .checked_mul(n)
            .ok_or_else(|| Error::corrupt("ZipNN chunk count"))?;
        let table_len = slots
            .checked_mul(9)
            .ok_or_else(|| Error::corrupt("ZipNN chunk count"))?;
        let payload_start = h
            .header_len
            .checked_add(table_len)
            .filter(|&e| e <= frame.size())
            .ok_or_else(past_frame)?;
        // Bounded by the frame's length only, which a hostile header makes all tables (1-byte
        // chunks): a copy that does not fit in memory is `TooLarge`, not an abort.
        let tables = {
            let mut t: [&[u8]; 1] = [&[]];
            frame.read(
                core::slice::from_ref(&(h.header_len..payload_start)),
                &mut t,
            )?;
            let mut v = Vec::new();
            v.try_reserve_exact(t[0].len())
                .map_err(|_| Error::no_memory(t[0].len() as u64))?;
            v.extend_from_slice(t[0]);
            v
        };
        let mut l = FrameLayout {
            chunk,
            chunks,
            total,
            payload_start,
            streams: n,
            tables,
            stream_start: [0; 4],
            end: 0,
        };
        // Stream b begins where stream b-1 ended.
        let mut acc = payload_start as u64;
        for b in 0..n {
            l.stream_start[b] = acc;
            if chunks > 0 {
                acc = acc
                    .checked_add(l.cum(b * chunks + chunks - 1))
                    .ok_or_else(|| Error::corrupt("ZipNN sizes"))?;
            }
        }
        if acc > frame.size() as u64 {
            return Err(past_frame());
        }
        l.end = acc;
        Ok(l)
    }

    /// Cumulative size of a stream up to and including slot `i` (`b * chunks + c`).
    fn cum(&self, i: usize) -> u64 {
        let at = self.chunks * self.streams + i * 8;
        let b = self.tables.get(at..at + 8).and_then(|b| b.try_into().ok());
        u64::from_le_bytes(b.unwrap_or([0; 8]))
    }

    fn kind(&self, b: usize, c: usize) -> u8 {
        self.tables[b * self.chunks + c]
    }

    /// Bytes of stream `b` that chunks `chunks` take, in frame offsets (checked: in order,
    /// within the payload).
    pub fn stream_span(&self, b: usize, chunks: Range<usize>) -> Result<Range<usize>, Error> {
        if b >= self.streams || chunks.start > chunks.end || chunks.end > self.chunks {
            return Err(Error::InvalidInput(alloc::format!(
                "stream {b}, chunks {chunks:?} of a frame of {} streams of {} chunks",
                self.streams,
                self.chunks
            )));
        }
        let i = b * self.chunks;
        let at = |c: usize| if c == 0 { 0 } else { self.cum(i + c - 1) };
        let (prev, end) = (at(chunks.start), at(chunks.end));
        let base = self.stream_start[b];
        let stop = base.checked_add(end).filter(|&e| e <= self.end);
        match stop {
            Some(stop) if prev <= end => Ok(to_usize(base + prev)?..to_usize(stop)?),
            _ => Err(Error::corrupt("ZipNN cumulative sizes out of order")),
        }
    }

    /// Decoded bytes of chunks `chunks`, as offsets into the frame's output.
    pub fn output(&self, chunks: Range<usize>) -> Range<u64> {
        let at = |c: usize| (c as u64).saturating_mul(self.chunk as u64).min(self.total);
        at(chunks.start)..at(chunks.end)
    }

    /// Bytes that chunks `chunks` decode to (`output(chunks)`'s length).
    pub fn output_len(&self, chunks: Range<usize>) -> u64 {
        let r = self.output(chunks);
        r.end - r.start
    }
}

/// Decodes chunks `chunks` of a frame whose tables `layout` read, into `dst`, which holds
/// their decoded bytes only (`dst.total()` = `layout.output(chunks).len()`).
pub fn decode_chunks_from(
    frame: &mut impl FrameSource,
    h: &FrameHeader,
    layout: &FrameLayout,
    chunks: Range<usize>,
    dst: &mut (impl ChunkOut + ?Sized),
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    let n = layout.streams;
    let (chunk, total) = (layout.chunk, layout.total);
    if chunks.end > layout.chunks || chunks.start > chunks.end {
        return Err(Error::corrupt("ZipNN chunk range"));
    }
    let first = layout.output(chunks.clone()).start;
    for c in chunks {
        let start = c as u64 * chunk as u64;
        // One chunk, so it fits `usize`; its place in `dst`, which holds the range, too.
        let len = (chunk as u64).min(total - start) as usize;
        let rel = to_usize(start - first)?;
        // Stream b's bytes of this chunk, at the sum of stream b's earlier chunk sizes.
        let mut ranges: [Range<usize>; 4] = [0..0, 0..0, 0..0, 0..0];
        for (b, r) in ranges[..n].iter_mut().enumerate() {
            *r = layout.stream_span(b, c..c + 1)?;
        }
        let mut src: [&[u8]; 4] = [&[]; 4];
        frame.read(&ranges[..n], &mut src[..n])?;
        // Streams stored as they are are merged straight from `src`; the others are decoded
        // into scratch, one after the other. All is checked before scratch or the output grows
        // (a chunk can be 4 GiB), so that a header promising what its streams cannot hold takes
        // no memory.
        let mut stored = [false; 4];
        let mut need = 0usize;
        for (b, &src) in src[..n].iter().enumerate() {
            let k = stream_len(len, n, b);
            match layout.kind(b, c) {
                0 | 1 if src.len() == k => stored[b] = true,
                0 => return Err(Error::corrupt("ZipNN raw chunk has the wrong size")),
                // huff0 spends a bit per symbol at least (one byte is a run of that byte).
                1 if src.len() > 1 && k / 8 > src.len() => {
                    return Err(Error::corrupt("ZipNN huff0 stream too short for its chunk"))
                }
                1 => need += k,
                t => return Err(Error::corrupt(alloc::format!("ZipNN chunk type {t}"))),
            }
        }
        if scratch.len() < need {
            scratch
                .try_reserve_exact(need - scratch.len())
                .map_err(|_| Error::no_memory(need as u64))?;
            scratch.resize(need, 0);
        }
        let out = dst.slot(rel, len)?;
        {
            // The stored streams are prefetched while the others decode.
            let raws = (0..n).filter(|&b| stored[b]).map(|b| src[b]);
            let mut ahead = merge_ahead(raws);
            let mut at = 0;
            for (b, &src) in src[..n].iter().enumerate() {
                let k = stream_len(len, n, b);
                if !stored[b] {
                    let d = &mut scratch[at..at + k];
                    match src {
                        [v] => d.fill(*v),
                        _ => huff0::decompress_4x_paced(src, d, huff0::Jump::U16, &mut ahead)?,
                    }
                    at += k;
                }
            }
        }
        let mut parts: [&[u8]; 4] = [&[]; 4];
        let mut at = 0;
        for (b, part) in parts[..n].iter_mut().enumerate() {
            *part = if stored[b] {
                src[b]
            } else {
                let k = stream_len(len, n, b);
                at += k;
                &scratch[at - k..at]
            };
        }
        unsplit(h, &parts[..n], out);
        dst.done(rel, len)?;
    }
    Ok(())
}

/// Interleaves the streams back (byte `i` from stream `i % n`) and undoes the sign move, which
/// ZipNN applies to the whole u32 words of a bf16/fp32 chunk: that part is exactly our byte
/// grouping, so it goes through the vectorised [`dtype::merge`]; the few bytes after it are
/// interleaved one by one.
fn unsplit(h: &FrameHeader, parts: &[&[u8]], out: &mut [u8]) {
    let n = parts.len();
    let len = out.len();
    let moved = h.bit_reorder == 1 && matches!(h.dtype, ZDType::BF16 | ZDType::F32);
    let whole = if moved {
        reordered_len(len)
    } else {
        len / n * n
    };
    let mut heads: [&[u8]; 4] = [&[]; 4];
    for (head, p) in heads.iter_mut().zip(parts) {
        *head = &p[..whole / n];
    }
    let (body, rest) = out.split_at_mut(whole);
    match (h.dtype, moved) {
        (ZDType::BF16, true) => dtype::merge(DType::BF16, &heads[..2], body),
        (ZDType::F32, true) => dtype::merge(DType::F32, &heads[..4], body),
        _ => dtype::merge_plain(&heads[..n], body),
    }
    for (i, o) in rest.iter_mut().enumerate() {
        let i = whole + i;
        *o = parts[i % n][i / n];
    }
}

/// Decompresses a ZipNN file: one frame, or a streaming sequence of frames. Delta frames
/// need `base` (the file they were XORed against).
pub fn decompress(data: &[u8], base: Option<&[u8]>, limits: &Limits) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decode_to_vec(data, base, limits, &mut out, Reserve::All)?;
    Ok(out)
}

/// [`decompress`] into the front of `out`, written over in place and grown only as decoding
/// reaches past its end (never shrunk). Returns the decoded size.
pub fn decompress_to_vec(
    data: &[u8],
    base: Option<&[u8]>,
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    decode_to_vec(data, base, limits, out, Reserve::AsDecoded)
}

fn decode_to_vec(
    data: &[u8],
    base: Option<&[u8]>,
    limits: &Limits,
    out: &mut Vec<u8>,
    reserve: Reserve,
) -> Result<usize, Error> {
    let (frames, total) = frames(data, limits)?;
    check_bases(&frames, base)?;
    let mut output = Output::new(out, total, reserve)?;
    let mut at = 0usize;
    let mut scratch = Vec::new();
    for f in &frames {
        let len = f.header.orig_len as usize;
        let mut grow = Grow {
            out: &mut output,
            at,
            len,
        };
        decode_frame_with(f.bytes(data), &f.header, &mut grow, &mut scratch)?;
        apply_base(&f.header, base, at, output.slot(at, len)?)?;
        at += len;
    }
    Ok(at)
}

/// [`decompress`] into `dst`, which must be exactly the decoded size (reused memory, say,
/// whose pages are already mapped). Returns that size.
pub fn decompress_into(data: &[u8], base: Option<&[u8]>, dst: &mut [u8]) -> Result<usize, Error> {
    // No bound while indexing: the total is compared with `dst` (one error for too small and
    // too large).
    let (frames, total) = frames(data, &Limits::default())?;
    check_bases(&frames, base)?;
    if total != dst.len() as u64 {
        return Err(Error::wrong_size(dst.len(), total));
    }
    let mut at = 0usize;
    let mut scratch = Vec::new();
    for f in &frames {
        let out = &mut dst[at..at + f.header.orig_len as usize];
        decode_frame_with(f.bytes(data), &f.header, out, &mut scratch)?;
        apply_base(&f.header, base, at, out)?;
        at += out.len();
    }
    Ok(dst.len())
}

/// Refuses delta frames without their base, before anything is decoded.
fn check_bases(frames: &[Frame], base: Option<&[u8]>) -> Result<(), Error> {
    match base {
        None if frames.iter().any(|f| f.header.delta != 0) => Err(missing_base()),
        _ => Ok(()),
    }
}

/// Undoes a delta frame's XOR against `base` (its bytes `at..`) on the frame's decoded `out`.
fn apply_base(
    h: &FrameHeader,
    base: Option<&[u8]>,
    at: usize,
    out: &mut [u8],
) -> Result<(), Error> {
    if h.delta == 0 {
        return Ok(());
    }
    let base = base.ok_or_else(missing_base)?;
    let b = base.get(at..at + out.len()).ok_or_else(|| {
        Error::InvalidInput("ZipNN delta frame: the base file is shorter than the data".into())
    })?;
    for (o, &x) in out.iter_mut().zip(b) {
        *o ^= x;
    }
    Ok(())
}

/// A frame decoded into an output vector at `at`, grown chunk by chunk ([`Output::slot`]).
pub(crate) struct Grow<'a, 'b> {
    pub out: &'a mut Output<'b>,
    /// Where the frame starts in `out`, and its decoded length.
    pub at: usize,
    pub len: usize,
}

impl ChunkOut for Grow<'_, '_> {
    fn total(&self) -> usize {
        self.len
    }
    fn slot(&mut self, start: usize, len: usize) -> Result<&mut [u8], Error> {
        self.out.slot(self.at + start, len)
    }
    fn done(&mut self, _start: usize, _len: usize) -> Result<(), Error> {
        Ok(())
    }
}

/// The error for a delta frame decoded without its base.
pub fn missing_base() -> Error {
    Error::Unsupported(
        "ZipNN delta frame: decoding needs the base file it was made against (`--base` of the native CLI's `zipnn decompress` or `zipnn test`)"
            .into(),
    )
}

/// One frame of a ZipNN file: where it is and its parsed header.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Offset of the frame's first byte in the file.
    pub pos: u64,
    /// Bytes of the whole frame (its `frame_len`).
    pub len: u64,
    /// Its parsed header.
    pub header: FrameHeader,
}

impl Frame {
    /// The frame's bytes in `data`, the file it was found in (held in memory, so every offset
    /// fits `usize`).
    ///
    /// # Panics
    /// If `data` is not that file and is too short for the frame, as slicing does.
    pub fn bytes<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        let at = usize::try_from(self.pos).expect("a frame of another file");
        &data[at..at + self.len as usize]
    }
}

/// What a file of ZipNN frames holds, in the form `znw::inspect` reports a `.znw` file: one
/// segment per frame (its element type, the shape a torch tensor's frame names, its place in
/// the decoded output and its compressed size), and the frames' places in the file.
pub fn inspect(data: &[u8]) -> Result<crate::format::report::Report, Error> {
    inspect_from(&mut &data[..])
}

/// [`inspect`] over any [`Source`](crate::format::Source): reads the frame headers only.
pub fn inspect_from<S: crate::format::Source + ?Sized>(
    src: &mut S,
) -> Result<crate::format::report::Report, Error> {
    use crate::format::report::{FrameReport, SegmentReport, ZipnnReport};
    let (frames, total) = frames_from(src, &Limits::default())?;
    let mut at = 0u64;
    let segments = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let s = SegmentReport {
                name: alloc::format!("frame {i}"),
                dtype: f.header.dtype.to_dtype().name(),
                label: alloc::string::String::from(f.header.dtype.torch_name()),
                shape: f.header.shape.clone().unwrap_or_default(),
                offset: at,
                length: f.header.orig_len,
                compressed: f.len,
            };
            at += f.header.orig_len;
            s
        })
        .collect();
    // `frames` returns at least one frame: `detect` saw its header.
    let first = &frames.first().ok_or(Error::Truncated)?.header;
    Ok(crate::format::report::Report {
        format: "zipnn",
        container: "raw",
        total_size: total,
        compressed_size: src.size(),
        chunk_size: 1u64 << first.chunk_log2,
        chunks: frames.len(),
        segments,
        suggestion: None,
        modes: Vec::new(),
        delta: None,
        zipnn: Some(ZipnnReport {
            version: first.version,
            streaming_chunk: first.streaming_log2.map(|l| 1u64 << l),
            frames: frames
                .iter()
                .map(|f| FrameReport {
                    offset: f.pos,
                    length: f.len,
                    delta: f.header.delta != 0,
                })
                .collect(),
        }),
    })
}

/// Walks the frames of a ZipNN file (one frame, or a streaming sequence) and checks their
/// sizes against `limits` before anything is allocated; returns them and the decoded size.
pub fn frames(data: &[u8], limits: &Limits) -> Result<(Vec<Frame>, u64), Error> {
    frames_from(&mut &data[..], limits)
}

/// [`frames`] over any [`Source`](crate::format::Source): reads the frame headers only.
pub fn frames_from<S: crate::format::Source + ?Sized>(
    src: &mut S,
    limits: &Limits,
) -> Result<(Vec<Frame>, u64), Error> {
    let size = src.size();
    let mut frames = Vec::new();
    let (mut pos, mut total) = (0u64, 0u64);
    while pos < size {
        let index = frames.len() as u64;
        let h = FrameHeader::parse_at(src.read_upto(pos, MAX_HEADER_LEN)?, index)?;
        // The streaming decoder's checks, in its order (the frame's own consistency, so that a
        // damaged size is "corrupt" rather than "too large", then the caller's limit); then
        // the end of the file, which only a whole file has.
        h.check_frame(index)?;
        total = check_limit(total, &h, limits)?;
        if h.frame_len > size - pos {
            return Err(Error::Truncated);
        }
        let flen = h.frame_len;
        let streaming = h.streaming_log2.is_some();
        let f = Frame {
            pos,
            len: flen,
            header: h,
        };
        crate::format::push_fallible(&mut frames, f)?;
        pos += flen;
        if !streaming && pos != size {
            return Err(Error::corrupt("bytes after a non-streaming ZipNN frame"));
        }
    }
    if frames.is_empty() {
        return Err(Error::Truncated);
    }
    Ok((frames, total))
}

/// zipnn's name of a header `method` byte that has a whole-buffer mode (2 ZSTD, 3 LZ4,
/// 4 SNAPPY): with a `byte_reorder` of its own, zipnn writes no decoded length, a second
/// header and the whole buffer compressed by that library.
fn whole_buffer_method(method: u8) -> Option<&'static str> {
    match method {
        2 => Some("ZSTD"),
        3 => Some("LZ4"),
        4 => Some("SNAPPY"),
        _ => None,
    }
}

/// A frame's tables or streams reaching past the length its header gives: every byte of the
/// frame is there (the file's end is checked apart), so the frame is inconsistent, not cut.
fn past_frame() -> Error {
    Error::corrupt("ZipNN frame: its tables or streams run past its length")
}

/// The decoded size once a frame of header `h` follows `before` bytes, if within `limits`.
pub(crate) fn check_limit(before: u64, h: &FrameHeader, limits: &Limits) -> Result<u64, Error> {
    let total = before
        .checked_add(h.orig_len)
        .ok_or_else(|| Error::corrupt("ZipNN sizes"))?;
    if total > limits.max_output {
        return Err(Error::TooLarge {
            size: total,
            limit: limits.max_output,
        });
    }
    Ok(total)
}

/// The error for bytes after a ZipNN file's last whole frame that are not a frame header:
/// `Truncated` if they could begin one (a prefix of the magic), else `Corrupt`.
pub(crate) fn after_last_frame(rest: &[u8]) -> Error {
    let n = rest.len().min(MAGIC.len());
    if rest.len() < MAGIC.len() && rest[..n] == MAGIC[..n] {
        Error::Truncated
    } else {
        Error::corrupt("bytes after the last ZipNN frame are not a frame")
    }
}

/// Frame `index` of a file may follow the ones before it: a frame not flagged streaming is a
/// whole file, so only the first frame may be one (and then nothing may follow it).
pub(crate) fn check_follows(index: u64, streaming: bool) -> Result<(), Error> {
    if index > 0 && !streaming {
        return Err(Error::corrupt(
            "a non-streaming ZipNN frame after the first",
        ));
    }
    Ok(())
}

/// Options for writing ZipNN-readable files.
#[derive(Debug, Clone, Copy)]
pub struct ZipnnOptions {
    /// The element type the data is coded as (recorded in every frame header).
    pub dtype: ZDType,
    /// log2 of the compression chunk (18 = 256 KiB, ZipNN's default).
    pub chunk_log2: u8,
    /// Write a streaming file of frames of this many bytes (a power of two), like
    /// `ZipNN(is_streaming=True, streaming_chunk=...)`.
    pub streaming_log2: Option<u8>,
}

impl ZipnnOptions {
    /// One frame of `dtype` in ZipNN's default chunks: 256 KiB, 128 KiB for fp8.
    pub fn new(dtype: ZDType) -> Self {
        let chunk_log2 = if matches!(dtype, ZDType::F8E4M3 | ZDType::F8E5M2) {
            17
        } else {
            18
        };
        ZipnnOptions {
            dtype,
            chunk_log2,
            streaming_log2: None,
        }
    }
}

/// Writes `data` as ZipNN frames that zipnn 0.5.4's `ZipNN(input_format='byte',
/// bytearray_dtype=...)` decompresses exactly.
///
/// The output is reserved once at its largest possible size (every block raw) and each block
/// is encoded straight into it, stream after stream: beside the input, a compress holds the
/// output and two buffers of one chunk, and an output that does not fit is a
/// `TooLarge` error before any work (in wasm, a failed allocation would trap the instance).
pub fn compress(data: &[u8], opts: &ZipnnOptions) -> Result<Vec<u8>, Error> {
    if !(10..=30).contains(&opts.chunk_log2) {
        return Err(Error::InvalidInput(
            "ZipNN chunk sizes are powers of two from 1 KiB to 1 GiB".into(),
        ));
    }
    // A float32 length that is not a multiple of 4 is split like any other: byte `i` to stream
    // `i % 4`, bits moved in whole words only (zipnn reads it; tests/zipnn_interop.rs).
    let piece = match opts.streaming_log2 {
        None => data.len().max(1),
        Some(s) if (8..=40).contains(&s) => 1usize << s.min(usize::BITS as u8 - 1),
        Some(_) => {
            return Err(Error::InvalidInput(
                "ZipNN streaming chunks are powers of two of at least 256 bytes".into(),
            ))
        }
    };
    // An empty input is one empty frame, streaming or not.
    let frames = data.chunks(piece).chain(data.is_empty().then_some(data));
    let bound = frames.clone().try_fold(0usize, |sum, f| {
        sum.checked_add(frame_bound(f.len(), opts)?)
    });
    let mut out = Vec::new();
    let chunk = chunk_len(opts.dtype, opts.chunk_log2).min(data.len() as u64) as usize;
    let (mut stream, mut coded) = (Vec::new(), Vec::new());
    // A coded block may run a little past its stream's length before it is refused.
    let coded_room = chunk + 4096;
    bound
        .filter(|&b| out.try_reserve_exact(b).is_ok())
        .filter(|_| stream.try_reserve_exact(chunk).is_ok())
        .filter(|_| coded.try_reserve_exact(coded_room).is_ok())
        .ok_or_else(|| {
            // The error names all the writer asked for, whichever reservation failed.
            let all = bound.map(|b| b as u64 + chunk as u64 + coded_room as u64);
            Error::no_memory(all.unwrap_or(u64::MAX))
        })?;
    for f in frames {
        write_frame(f, opts, &mut out, &mut stream, &mut coded);
    }
    Ok(out)
}

/// The largest frame of `len` bytes: its header, a type and a cumulative size per block, and
/// every block stored raw (a block is coded only where that is smaller).
fn frame_bound(len: usize, opts: &ZipnnOptions) -> Option<usize> {
    let chunks = (len as u64).div_ceil(chunk_len(opts.dtype, opts.chunk_log2));
    let tables = chunks.checked_mul(opts.dtype.streams() as u64 * 9)?;
    let all = (HEADER_LEN as u64 + len as u64).checked_add(tables)?;
    usize::try_from(all).ok()
}

/// Appends one frame; `out` has room for it (see [`frame_bound`]), so it never reallocates.
fn write_frame(
    data: &[u8],
    opts: &ZipnnOptions,
    out: &mut Vec<u8>,
    stream: &mut Vec<u8>,
    coded: &mut Vec<u8>,
) {
    let d = opts.dtype;
    let n = d.streams();
    // Cut as readers cut (fp8 at 128 KiB whatever the header records).
    let chunk = chunk_len(d, opts.chunk_log2) as usize;
    let chunks = data.len().div_ceil(chunk);
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION);
    let bit_reorder = u8::from(d != ZDType::F16);
    out.extend_from_slice(&[
        if d == ZDType::F32 { 220 } else { 10 },
        bit_reorder,
        0,
        1,
        0,
        0,
        0,
        0,
    ]);
    out.push(opts.streaming_log2.map_or(0, |s| 128 + s));
    out.push(opts.chunk_log2);
    out.push(d.code());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&[0; 8]); // frame length, patched below

    // The tables (a type per block, then each stream's cumulative sizes) come before the
    // payload, stream after stream: filled in as the blocks are appended.
    let types = out.len();
    let sizes = types + n * chunks;
    out.resize(sizes + 8 * n * chunks, 0);
    for b in 0..n {
        let mut cum = 0u64;
        for c in 0..chunks {
            let part = &data[c * chunk..data.len().min((c + 1) * chunk)];
            split_stream(d, bit_reorder == 1, part, b, stream);
            let at = out.len();
            out[types + b * chunks + c] = encode_stream(stream, coded, out);
            cum += (out.len() - at) as u64;
            let i = sizes + 8 * (b * chunks + c);
            out[i..i + 8].copy_from_slice(&cum.to_le_bytes());
        }
    }
    let frame_len = (out.len() - start) as u64;
    out[start + 24..start + 32].copy_from_slice(&frame_len.to_le_bytes());
}

/// Stream `b` of a chunk, the inverse of [`unsplit`]: the sign moved on whole u32 words, then
/// byte `i` of the chunk to stream `i % n`.
fn split_stream(d: ZDType, reorder: bool, part: &[u8], b: usize, out: &mut Vec<u8>) {
    let n = d.streams();
    // The words the sign move applies to, then the rest as it is (`n` divides 4).
    let (words, rest) = part.split_at(if reorder {
        reordered_len(part.len())
    } else {
        0
    });
    out.clear();
    match (d, b) {
        (ZDType::BF16, 0) => {
            out.extend(words.chunks_exact(2).map(|x| (x[1] & 0x80) | (x[0] & 0x7F)));
        }
        (ZDType::BF16, 1) => out.extend(words.chunks_exact(2).map(|x| (x[1] << 1) | (x[0] >> 7))),
        (ZDType::F32, 2) => {
            out.extend(words.chunks_exact(4).map(|x| (x[3] & 0x80) | (x[2] & 0x7F)));
        }
        (ZDType::F32, 3) => out.extend(words.chunks_exact(4).map(|x| (x[3] << 1) | (x[2] >> 7))),
        _ => out.extend(words.iter().skip(b).step_by(n)),
    }
    out.extend(rest.iter().skip(b).step_by(n));
}

/// Appends one (chunk, stream) block to `out` and returns its type: 1 (Huffman, or a 1-byte
/// repeat) when it saves at least 1/[`block::MIN_GAIN`] of the raw bytes (as `.znw` blocks
/// must), else raw. Near-uniform bytes (float32's sign and high mantissa) code at ~1 symbol a
/// lookup, the slowest huff0 decodes: coding minilm fp32's when smaller by any amount saved
/// 484 bytes of 74 MB, and the file decodes 17 % faster in wasm without (bench/NOTES.md,
/// session 39). ZipNN itself asks for 5 %.
fn encode_stream(src: &[u8], coded: &mut Vec<u8>, out: &mut Vec<u8>) -> u8 {
    if !src.is_empty() && src.iter().all(|&b| b == src[0]) && src.len() > 1 {
        out.push(src[0]);
        return 1;
    }
    // Coded apart: the encoder may write past `limit` before the block is refused, and `out`
    // has room for the raw block only.
    coded.clear();
    let limit = src.len() - src.len() / block::MIN_GAIN;
    match huff0::compress_4x_below(src, &block::histogram(src), limit, coded) {
        Some(len) if len < limit && len > 1 => {
            out.extend_from_slice(coded);
            1
        }
        _ => {
            out.extend_from_slice(src);
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coding must save 1/64 of a stream: 250 equally likely values code ~0.4 % smaller (the
    /// sign and high mantissa bytes of float32 look like this) and stay raw; 128 values code
    /// 12 % smaller and are coded.
    #[test]
    fn streams_that_code_barely_smaller_stay_raw() {
        let mut x = 1u64;
        let mut bytes = |values: u64| -> Vec<u8> {
            (0..65536)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((x >> 33) % values) as u8
                })
                .collect()
        };
        let near_uniform = bytes(250);
        let mut huf = Vec::new();
        let coded = huff0::compress_4x_if_smaller(
            &near_uniform,
            &block::histogram(&near_uniform),
            &mut huf,
        );
        assert!(
            coded.is_some_and(|n| n < near_uniform.len()),
            "Huffman would be smaller"
        );
        let (mut coded, mut out) = (Vec::new(), Vec::new());
        assert_eq!(encode_stream(&near_uniform, &mut coded, &mut out), 0);
        assert_eq!(out, near_uniform);
        let skewed = bytes(128);
        out.clear();
        assert_eq!(encode_stream(&skewed, &mut coded, &mut out), 1);
        assert!(out.len() < skewed.len() * 9 / 10);
    }

    /// The output is reserved once at the frames' bound and never grows past it: noise (every
    /// block raw, the fullest output), a repeated byte, and weights, at lengths that cut
    /// chunks and words unevenly, single and streaming; and each decodes back.
    #[test]
    fn output_fits_the_room_reserved_for_it() {
        for d in [ZDType::BF16, ZDType::F16, ZDType::F32, ZDType::F8E4M3] {
            for len in [0, 1, 3, 1030, 5 << 10, (9 << 10) + 3] {
                let noise = crate::noise(len, len as u64 + 7);
                let weights: Vec<u8> = noise.iter().map(|&b| 0x3c ^ (b & 0x83)).collect();
                for (i, data) in [noise, alloc::vec![7u8; len], weights]
                    .into_iter()
                    .enumerate()
                {
                    for streaming in [None, Some(11)] {
                        let opts = ZipnnOptions {
                            dtype: d,
                            chunk_log2: 10,
                            streaming_log2: streaming,
                        };
                        let packed = compress(&data, &opts).unwrap();
                        let pieces = data.chunks(streaming.map_or(len.max(1), |s| 1 << s));
                        let bound: usize = pieces
                            .chain(data.is_empty().then_some(&data[..]))
                            .map(|f| frame_bound(f.len(), &opts).unwrap())
                            .sum();
                        assert_eq!(packed.capacity(), bound, "{d:?} {len} {streaming:?}");
                        assert!(packed.len() <= bound);
                        if i == 0 {
                            // Noise stores every block raw: the bound is the size, not slack.
                            assert_eq!(packed.len(), bound, "{d:?} {len} {streaming:?}");
                        }
                        let back = crate::decompress(&packed, &Limits::default()).unwrap();
                        assert_eq!(back, data, "{d:?} {len} {streaming:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn stream_lengths_cover_the_chunk() {
        for len in 0..40 {
            for n in [1, 2, 4] {
                let sum: usize = (0..n).map(|b| stream_len(len, n, b)).sum();
                assert_eq!(sum, len);
            }
        }
    }
}
