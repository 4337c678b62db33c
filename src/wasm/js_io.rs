//! Compressed input read straight from a JS `Uint8Array` and output written into JS arrays:
//! the sources and sinks that let a decode skip the copy into wasm memory.

use crate::format::zipnn;
use crate::format::znw;
use crate::format::{grow, to_usize};
use crate::Error;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;

/// Compressed input read from a JS `Uint8Array` piece by piece into one reused buffer: the
/// whole file is never copied into linear memory.
pub(super) struct JsSource<'a> {
    src: &'a js_sys::Uint8Array,
    pub(super) size: usize,
    /// `src`'s byte offset where its memory is shared (see [`JsTarget`]: reads are placed in
    /// `buf` to agree with it mod 8).
    shared_at: Option<usize>,
    buf: Vec<u8>,
}

impl<'a> JsSource<'a> {
    pub(super) fn new(src: &'a js_sys::Uint8Array) -> Self {
        JsSource {
            src,
            size: src.length() as usize,
            shared_at: shared_at(src),
            buf: Vec::new(),
        }
    }

    /// The format, from the first bytes.
    pub(super) fn detect(&mut self) -> Result<crate::Format, Error> {
        use crate::format::Source;
        // Enough to tell ours and ZipNN's frames apart from the rest.
        let head = self.read_upto(0, 16)?;
        Ok(crate::detect(head))
    }

    /// The error for input of no known format, as [`crate::unknown_format`] tells it.
    pub(super) fn unknown(&mut self) -> Error {
        use crate::format::Source;
        match self.read_upto(0, 16) {
            Ok(head) => crate::unknown_format(head),
            Err(e) => e,
        }
    }
}

impl crate::format::Source for JsSource<'_> {
    fn size(&self) -> u64 {
        self.size as u64
    }
    fn read(&mut self, pos: u64, len: usize) -> Result<&[u8], Error> {
        // Within the array's length, so within `u32`.
        let end = pos
            .checked_add(len as u64)
            .filter(|&e| e <= self.size as u64)
            .ok_or(Error::Truncated)?;
        let Some(base) = self.shared_at else {
            let buf = grow(&mut self.buf, len)?;
            self.src.subarray(pos as u32, end as u32).copy_to(buf);
            return Ok(buf);
        };
        let buf = grow(&mut self.buf, room_placed(len)?)?;
        let k = skew(base.wrapping_add(pos as usize), buf.as_ptr());
        let placed = &mut buf[k..k + len];
        self.src.subarray(pos as u32, end as u32).copy_to(placed);
        Ok(placed)
    }
}

/// Compressed input read through a JS function, `read(offset, length)`, that returns exactly
/// `length` bytes at `offset` as a `Uint8Array` (a file read at offsets, say): a file larger
/// than wasm32's 4 GiB can be inspected, its pieces copied in one at a time.
pub(super) struct JsReader {
    read: js_sys::Function,
    size: u64,
    buf: Vec<u8>,
    /// What `read` threw, to rethrow as it is instead of the `Error` it caused.
    pub(super) thrown: Option<JsValue>,
}

impl JsReader {
    /// A reader of `size` bytes (a whole number below 2^53, as JS numbers count exactly).
    pub(super) fn new(size: f64, read: js_sys::Function) -> Result<Self, Error> {
        if !(0.0..=9_007_199_254_740_991.0).contains(&size) || size.fract() != 0.0 {
            return Err(Error::InvalidInput(alloc::format!(
                "size must be a whole number of bytes, not {size}"
            )));
        }
        Ok(JsReader {
            read,
            size: size as u64,
            buf: Vec::new(),
            thrown: None,
        })
    }
}

impl crate::format::Source for JsReader {
    fn size(&self) -> u64 {
        self.size
    }
    fn read(&mut self, pos: u64, len: usize) -> Result<&[u8], Error> {
        pos.checked_add(len as u64)
            .filter(|&e| e <= self.size)
            .ok_or(Error::Truncated)?;
        let got = self
            .read
            .call2(&JsValue::NULL, &(pos as f64).into(), &(len as f64).into());
        let bytes = match got {
            Ok(v) => v.dyn_into::<js_sys::Uint8Array>().map_err(|_| {
                Error::InvalidInput("read must return a Uint8Array, synchronously".into())
            })?,
            Err(e) => {
                self.thrown = Some(e);
                return Err(Error::InvalidInput("read threw".into()));
            }
        };
        let n = bytes.length() as usize;
        if n != len {
            // Fewer: the input ended early (a file cut since its size was taken).
            return Err(if n < len {
                Error::Truncated
            } else {
                Error::InvalidInput(alloc::format!("read returned {n} bytes, not {len}"))
            });
        }
        let buf = grow(&mut self.buf, len)?;
        bytes.copy_to(buf);
        Ok(buf)
    }
}

/// A JS `Uint8Array` written from wasm memory a piece at a time. V8 copies into a
/// `SharedArrayBuffer` with word stores only where the source and destination addresses agree
/// mod 8, and byte by byte otherwise, about 3× slower (bench/NOTES.md, session 42): the worker
/// pool's chunks land at any offset of a shared output. Where they would disagree, a piece is
/// first copied (in cache, at full speed) into a staging buffer placed to agree.
pub(super) struct JsTarget<'a> {
    array: &'a js_sys::Uint8Array,
    /// [`shared_at`] of `array`.
    shared_at: Option<usize>,
    stage: Vec<u8>,
}

/// The alignment V8's copies of shared memory need of source and destination alike.
const WORD: usize = 8;

/// Room for `len` bytes placed at any offset mod [`WORD`] (near 4 GiB, wasm32's `usize` ends).
fn room_placed(len: usize) -> Result<usize, Error> {
    len.checked_add(WORD)
        .ok_or_else(|| Error::no_memory(len as u64 + WORD as u64))
}

/// `array`'s byte offset where its memory is a `SharedArrayBuffer`; `None` where it is not
/// (or the host has none), and V8 copies at full speed whatever the placement.
fn shared_at(array: &js_sys::Uint8Array) -> Option<usize> {
    let shared = array.buffer().is_instance_of::<js_sys::SharedArrayBuffer>();
    shared.then(|| array.byte_offset() as usize)
}

/// How far past `at` (in wasm memory) bytes must start to agree mod [`WORD`] with the array
/// offset `want`: wasm memory and array buffers start at least WORD-aligned, so offsets decide.
fn skew(want: usize, at: *const u8) -> usize {
    want.wrapping_sub(at as usize) % WORD
}

impl<'a> JsTarget<'a> {
    pub(super) fn new(array: &'a js_sys::Uint8Array) -> Self {
        JsTarget {
            array,
            shared_at: shared_at(array),
            stage: Vec::new(),
        }
    }

    /// Copies `bytes` into the array from `at` on (the caller checked the range).
    pub(super) fn write(&mut self, at: u32, bytes: &[u8]) -> Result<(), Error> {
        let dst = self.array.subarray(at, at + bytes.len() as u32);
        let Some(base) = self.shared_at else {
            dst.copy_from(bytes);
            return Ok(());
        };
        let want = base.wrapping_add(at as usize);
        if skew(want, bytes.as_ptr()) == 0 {
            dst.copy_from(bytes);
            return Ok(());
        }
        let stage = grow(&mut self.stage, room_placed(bytes.len())?)?;
        let k = skew(want, stage.as_ptr());
        let placed = &mut stage[k..k + bytes.len()];
        placed.copy_from_slice(bytes);
        dst.copy_from(placed);
        Ok(())
    }
}

/// A new `Uint8Array` of `len` bytes for a decode that writes every one of them or fails (and
/// drops the array): zero-filled, or from the host's `make`, which may skip the fill (node's
/// uninitialised `Buffer` memory: a fill of memory already mapped costs a fifth of a decode,
/// bench/NOTES.md session 67). A failed allocation is `TooLarge`, not an exception thrown
/// through the module.
pub(super) fn new_u8_array(
    len: u64,
    make: Option<&js_sys::Function>,
) -> Result<js_sys::Uint8Array, Error> {
    let too_large = || Error::TooLarge {
        size: len,
        limit: u32::MAX as u64,
    };
    if len > u32::MAX as u64 {
        return Err(too_large());
    }
    if let Some(f) = make {
        let a = f
            .call1(&JsValue::NULL, &JsValue::from_f64(len as f64))
            .map_err(|_| Error::no_memory(len))?;
        return match a.dyn_into::<js_sys::Uint8Array>() {
            Ok(a) if a.length() as u64 == len => Ok(a),
            _ => Err(Error::InvalidInput(alloc::format!(
                "the output allocator did not return a Uint8Array of {len} bytes"
            ))),
        };
    }
    let ctor = js_sys::Reflect::get(&js_sys::global(), &"Uint8Array".into())
        .ok()
        .and_then(|c| c.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(too_large)?;
    let args = js_sys::Array::of1(&JsValue::from_f64(len as f64));
    // Refused by the host (a RangeError): memory, not a limit the file passed.
    js_sys::Reflect::construct(&ctor, &args)
        .ok()
        .and_then(|a| a.dyn_into::<js_sys::Uint8Array>().ok())
        .ok_or_else(|| Error::no_memory(len))
}

/// Decodes a `.znw` file from `src` chunk by chunk into `target` (from `index_source`), each
/// chunk copied out of one reused chunk buffer while it is in cache.
pub(super) fn decode_znw_to(
    src: &mut JsSource,
    chunks: &[znw::ChunkInfo],
    target: &js_sys::Uint8Array,
) -> Result<(), Error> {
    let mut out = JsTarget::new(target);
    znw::decode_source(src, chunks, |offset, bytes| out.write(offset as u32, bytes))
}

/// A ZipNN frame's chunks decoded into one reused buffer and copied to `target` from `at` on.
pub(super) struct JsChunks<'a> {
    target: JsTarget<'a>,
    at: usize,
    len: usize,
    buf: Vec<u8>,
}

impl zipnn::ChunkOut for JsChunks<'_> {
    fn total(&self) -> usize {
        self.len
    }
    fn slot(&mut self, _start: usize, len: usize) -> Result<&mut [u8], Error> {
        grow(&mut self.buf, len)
    }
    fn done(&mut self, start: usize, len: usize) -> Result<(), Error> {
        self.target
            .write((self.at + start) as u32, &self.buf[..len])
    }
}

/// One ZipNN frame of a JS array: each chunk's streams are copied into wasm memory when it is
/// decoded (the whole file never is). The frame's bytes are `segs` of `src`: all of it in one
/// piece, or (a part of a frame for the worker pool) its header and tables and the stretch of
/// each stream that some of its chunks take, copied together.
pub(super) struct JsFrame<'a> {
    src: &'a js_sys::Uint8Array,
    /// `src`'s byte offset where its memory is shared (see [`JsSource`]).
    shared_at: Option<usize>,
    /// Bytes in the frame.
    len: usize,
    segs: [Seg; 5],
    stage: Vec<u8>,
}

/// Frame bytes `start..start + len`, at `at` in the JS array.
#[derive(Clone, Copy, Default)]
pub(super) struct Seg {
    pub(super) start: usize,
    pub(super) len: usize,
    pub(super) at: usize,
}

impl<'a> JsFrame<'a> {
    pub(super) fn new(src: &'a js_sys::Uint8Array) -> Self {
        JsFrame {
            src,
            shared_at: shared_at(src),
            len: 0,
            segs: [Seg::default(); 5],
            stage: Vec::new(),
        }
    }

    /// The frame is `src[pos..pos + len]`, in one piece.
    pub(super) fn whole(&mut self, pos: usize, len: usize) {
        self.len = len;
        self.segs = [Seg::default(); 5];
        self.segs[0] = Seg {
            start: 0,
            len,
            at: pos,
        };
    }

    /// Where frame bytes `r` are in the JS array: within one segment, else `Truncated`.
    fn locate(&self, r: &core::ops::Range<usize>) -> Result<usize, Error> {
        self.segs
            .iter()
            .find(|s| s.start <= r.start && r.start <= r.end && r.end - s.start <= s.len)
            .map(|s| s.at + (r.start - s.start))
            .ok_or(Error::Truncated)
    }
}

impl zipnn::FrameSource for JsFrame<'_> {
    fn size(&self) -> usize {
        self.len
    }
    fn read<'a>(
        &'a mut self,
        ranges: &[core::ops::Range<usize>],
        out: &mut [&'a [u8]],
    ) -> Result<(), Error> {
        let mut total = 0usize;
        let mut at = [0usize; 4];
        for (a, r) in at.iter_mut().zip(ranges) {
            if r.start > r.end || r.end > self.len {
                return Err(Error::Truncated);
            }
            *a = self.locate(r)?;
            total = total.checked_add(r.len()).ok_or(Error::Truncated)?;
        }
        if ranges.len() > at.len() {
            return Err(Error::InvalidInput("too many ranges".into()));
        }
        // From shared memory, each range is placed to agree with its source mod 8 (JsTarget).
        let room = match self.shared_at {
            Some(_) => total
                .checked_add(WORD * at.len())
                .ok_or_else(|| Error::no_memory(total as u64 + (WORD * at.len()) as u64))?,
            None => total,
        };
        let buf = grow(&mut self.stage, room)?;
        let ptr = buf.as_ptr();
        let (mut pos, mut placed) = (0, [0usize; 4]);
        for ((&a, r), p) in at.iter().zip(ranges).zip(&mut placed) {
            if let Some(base) = self.shared_at {
                pos += skew(base.wrapping_add(a), ptr.wrapping_add(pos));
            }
            *p = pos;
            self.src
                .subarray(a as u32, (a + r.len()) as u32)
                .copy_to(&mut buf[pos..pos + r.len()]);
            pos += r.len();
        }
        for ((o, r), &p) in out.iter_mut().zip(ranges).zip(&placed) {
            *o = &self.stage[p..p + r.len()];
        }
        Ok(())
    }
}

/// Decodes the frames of a ZipNN file into `target`, which has their decoded size, chunk by
/// chunk.
pub(super) fn decode_zipnn_to(
    data: &js_sys::Uint8Array,
    frames: &[zipnn::Frame],
    target: &js_sys::Uint8Array,
) -> Result<(), Error> {
    if frames.iter().any(|f| f.header.delta != 0) {
        return Err(zipnn::missing_base());
    }
    let mut d = JsFrames::new(data, target);
    let mut at = 0;
    for f in frames {
        // Frames of a JS array: within its `u32` length.
        d.decode(f.pos as usize, f.len as usize, &f.header, at)?;
        at += f.header.orig_len as usize;
    }
    Ok(())
}

/// Restores a `.znn.safetensors` file into `target`, which has its restored size: the new
/// header, then each tensor copied from `data` (JS to JS) or decoded from its frame.
pub(super) fn decode_znn_safetensors_to(
    data: &js_sys::Uint8Array,
    plan: &zipnn::safetensors::Plan,
    target: &js_sys::Uint8Array,
) -> Result<(), Error> {
    let mut at = plan.header.len();
    target.subarray(0, at as u32).copy_from(&plan.header);
    let mut d = JsFrames::new(data, target);
    for p in &plan.pieces {
        let (start, end) = (to_usize(p.start)?, to_usize(p.end)?);
        match &p.frame {
            None => target.set(&data.subarray(start as u32, end as u32), at as u32),
            Some(h) => d.decode(start, end - start, h, at)?,
        }
        at += p.len as usize;
    }
    Ok(())
}

/// ZipNN frames of one JS array decoded into another, with buffers reused across frames.
pub(super) struct JsFrames<'a> {
    frame: JsFrame<'a>,
    out: JsChunks<'a>,
    scratch: Vec<u8>,
}

impl<'a> JsFrames<'a> {
    pub(super) fn new(data: &'a js_sys::Uint8Array, target: &'a js_sys::Uint8Array) -> Self {
        JsFrames {
            frame: JsFrame::new(data),
            out: JsChunks {
                target: JsTarget::new(target),
                at: 0,
                len: 0,
                buf: Vec::new(),
            },
            scratch: Vec::new(),
        }
    }

    /// Decodes the frame at `data[pos..pos + len]` (header `h`) to `target[at..]`.
    fn decode(
        &mut self,
        pos: usize,
        len: usize,
        h: &zipnn::FrameHeader,
        at: usize,
    ) -> Result<(), Error> {
        self.frame.whole(pos, len);
        (self.out.at, self.out.len) = (at, h.orig_len as usize);
        zipnn::decode_frame_from(&mut self.frame, h, &mut self.out, &mut self.scratch)
    }

    /// Decodes chunks `chunks` of a frame of `len` bytes whose bytes are `segs` of `data`
    /// (the first: its header and tables) to `target[at..]`; returns their decoded length.
    pub(super) fn decode_part(
        &mut self,
        segs: [Seg; 5],
        len: usize,
        chunks: core::ops::Range<usize>,
        at: usize,
        room: usize,
    ) -> Result<usize, Error> {
        self.frame.len = len;
        self.frame.segs = segs;
        let head = segs[0].len.min(len).min(zipnn::MAX_HEADER_LEN);
        let h = {
            let mut t: [&[u8]; 1] = [&[]];
            zipnn::FrameSource::read(&mut self.frame, core::slice::from_ref(&(0..head)), &mut t)?;
            zipnn::FrameHeader::parse(t[0])?
        };
        if h.frame_len != len as u64 {
            return Err(Error::corrupt("ZipNN frame length"));
        }
        if h.delta != 0 {
            return Err(zipnn::missing_base());
        }
        h.check_tables(len as u64)?;
        let total = crate::format::to_usize(h.orig_len)?;
        let layout = zipnn::FrameLayout::read(&mut self.frame, &h, total as u64)?;
        if chunks.end > layout.chunks || layout.output_len(chunks.clone()) > room as u64 {
            return Err(Error::InvalidInput("bad piece table".into()));
        }
        let out = layout.output_len(chunks.clone()) as usize;
        (self.out.at, self.out.len) = (at, out);
        zipnn::decode_chunks_from(
            &mut self.frame,
            &h,
            &layout,
            chunks,
            &mut self.out,
            &mut self.scratch,
        )?;
        Ok(out)
    }
}
