//! wasm-bindgen bindings: the thin shell the npm package (`pkg/`) wraps. Errors become JS
//! `Error`s with a `code` property (`ZNN_CORRUPT`, ...); the instance stays usable after any of
//! them. A panic (a bug) aborts the call with a trap; the wrapper then calls `__afterTrap` and
//! `__reinit` to get the message and a fresh instance.

use crate::format::grow;
use crate::format::zipnn::{self, ZDType, ZipnnOptions};
use crate::format::znw::{self, DTypeChoice, Options};
use crate::stream::{AutoDecoder, Encoder, Sink};
use crate::{DType, Error, Limits};
use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;

fn js_error(e: &Error) -> JsValue {
    let err = js_sys::Error::new(&alloc::format!("{e}"));
    let _ = js_sys::Reflect::set(&err, &"code".into(), &e.code().into());
    err.into()
}

#[wasm_bindgen(start)]
fn start() {
    // Keep the message for `__afterTrap`; print it in debug builds, else leave it to the hook
    // that was there (a test harness's, say).
    #[cfg(feature = "std")]
    {
        let prev = std::panic::take_hook();
        std::panic::set_hook(alloc::boxed::Box::new(move |info| {
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = Some(alloc::format!("{info}"));
            }
            #[cfg(debug_assertions)]
            {
                let _ = &prev;
                console_error_panic_hook::hook(info);
            }
            #[cfg(not(debug_assertions))]
            prev(info);
        }));
    }
    #[cfg(all(debug_assertions, not(feature = "std")))]
    console_error_panic_hook::set_once();
}

/// The message of the last panic, kept for the JS wrapper (a panic aborts: the call traps).
#[cfg(feature = "std")]
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Called by the JS wrapper after a call trapped (a panic, or memory exhausted): schedules a
/// fresh instance for the next call (objects of this one become invalid) and returns the
/// panic message, if there was one.
#[wasm_bindgen(js_name = __afterTrap)]
pub fn after_trap() -> Option<String> {
    wasm_bindgen::handler::schedule_reinit();
    #[cfg(feature = "std")]
    if let Ok(mut last) = LAST_PANIC.lock() {
        return last.take();
    }
    None
}

/// Does nothing; the glue's call guard runs before it. The JS wrapper calls it right after
/// [`after_trap`] so that the fresh instance exists before the next call marshals arguments
/// (the generated glue copies arguments into memory before its guard swaps the instance).
#[wasm_bindgen(js_name = __reinit)]
pub fn reinit() {}

/// This instance's memory, for the JS wrapper to tell views of it (a `Decompressor`'s results)
/// from other arrays: such input must be copied out first, since a call that grows the
/// memory empties every view of it.
#[wasm_bindgen(js_name = __memory)]
pub fn memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Panics on purpose, so that tests can check the instance recovers from a trap.
#[wasm_bindgen(js_name = __panicForTesting)]
pub fn panic_for_testing() {
    panic!("panic requested by __panicForTesting");
}

fn parse_dtype(s: Option<String>) -> Result<DTypeChoice, JsValue> {
    match s.as_deref() {
        None | Some("auto") => Ok(DTypeChoice::Auto),
        Some(s) => DType::parse(s)
            .map(DTypeChoice::Fixed)
            .ok_or_else(|| js_error(&Error::InvalidInput(alloc::format!("unknown dtype {s:?}")))),
    }
}

/// Compresses a whole buffer into a `.znw` file. `on_progress(bytes done)` is called every
/// few MiB; the first exception it throws is rethrown once compression ends (the encoder
/// cannot stop half-way, and a page's progress display must not break the result silently).
#[wasm_bindgen(js_name = compress)]
pub fn compress(
    data: &[u8],
    dtype: Option<String>,
    chunk_size: Option<u32>,
    verify: Option<bool>,
    on_progress: Option<js_sys::Function>,
) -> Result<Vec<u8>, JsValue> {
    let opts = Options {
        dtype: parse_dtype(dtype)?,
        chunk_size: chunk_size.unwrap_or(znw::DEFAULT_CHUNK),
        verify: verify.unwrap_or(false),
        threads: 1,
        tans: false,
    };
    let mut thrown: Option<JsValue> = None;
    let packed = znw::compress_with_progress(data, &opts, &mut |done| {
        if let (Some(f), None) = (&on_progress, &thrown) {
            if let Err(e) = f.call1(&JsValue::NULL, &JsValue::from_f64(done as f64)) {
                thrown = Some(e);
            }
        }
    })
    .map_err(|e| js_error(&e))?;
    match thrown {
        Some(e) => Err(e),
        None => Ok(packed),
    }
}

/// Compressed input read from a JS `Uint8Array` piece by piece into one reused buffer: the
/// whole file is never copied into linear memory.
struct JsSource<'a> {
    src: &'a js_sys::Uint8Array,
    size: usize,
    buf: Vec<u8>,
}

impl<'a> JsSource<'a> {
    fn new(src: &'a js_sys::Uint8Array) -> Self {
        JsSource {
            src,
            size: src.length() as usize,
            buf: Vec::new(),
        }
    }

    /// The format, from the first bytes.
    fn detect(&mut self) -> Result<crate::Format, Error> {
        use znw::Source;
        // Enough to tell ours and ZipNN's frames apart from the rest.
        let head = self.read(0, self.size.min(16))?;
        Ok(crate::detect(head))
    }
}

impl znw::Source for JsSource<'_> {
    fn size(&self) -> usize {
        self.size
    }
    fn read(&mut self, pos: usize, len: usize) -> Result<&[u8], Error> {
        let end = pos
            .checked_add(len)
            .filter(|&e| e <= self.size)
            .ok_or(Error::Truncated)?;
        let buf = grow(&mut self.buf, len)?;
        self.src.subarray(pos as u32, end as u32).copy_to(buf);
        Ok(buf)
    }
}

/// A new zero-filled `Uint8Array`; a failed allocation is `TooLarge`, not an exception thrown
/// through the module.
fn new_u8_array(len: u64) -> Result<js_sys::Uint8Array, Error> {
    let too_large = || Error::TooLarge {
        size: len,
        limit: u32::MAX as u64,
    };
    if len > u32::MAX as u64 {
        return Err(too_large());
    }
    let ctor = js_sys::Reflect::get(&js_sys::global(), &"Uint8Array".into())
        .ok()
        .and_then(|c| c.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(too_large)?;
    let args = js_sys::Array::of1(&JsValue::from_f64(len as f64));
    js_sys::Reflect::construct(&ctor, &args)
        .ok()
        .and_then(|a| a.dyn_into::<js_sys::Uint8Array>().ok())
        .ok_or_else(too_large)
}

/// Decodes a `.znw` file from `src` chunk by chunk into `target` (from `index_source`), each
/// chunk copied out of one reused chunk buffer while it is in cache.
fn decode_znw_to(
    src: &mut JsSource,
    chunks: &[znw::ChunkInfo],
    target: &js_sys::Uint8Array,
) -> Result<(), Error> {
    znw::decode_source(src, chunks, |offset, bytes| {
        let at = offset as u32;
        target
            .subarray(at, at + bytes.len() as u32)
            .copy_from(bytes);
        Ok(())
    })
}

/// A ZipNN frame's chunks decoded into one reused buffer and copied to `target` from `at` on.
struct JsChunks<'a> {
    target: &'a js_sys::Uint8Array,
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
        let a = (self.at + start) as u32;
        self.target
            .subarray(a, a + len as u32)
            .copy_from(&self.buf[..len]);
        Ok(())
    }
}

/// One ZipNN frame of a JS array: each chunk's streams are copied into wasm memory when it is
/// decoded (the whole file never is). The frame's bytes are `segs` of `src`: all of it in one
/// piece, or (a part of a frame for the worker pool) its header and tables and the stretch of
/// each stream that some of its chunks take, copied together.
struct JsFrame<'a> {
    src: &'a js_sys::Uint8Array,
    /// Bytes in the frame.
    len: usize,
    segs: [Seg; 5],
    stage: Vec<u8>,
}

/// Frame bytes `start..start + len`, at `at` in the JS array.
#[derive(Clone, Copy, Default)]
struct Seg {
    start: usize,
    len: usize,
    at: usize,
}

impl<'a> JsFrame<'a> {
    fn new(src: &'a js_sys::Uint8Array) -> Self {
        JsFrame {
            src,
            len: 0,
            segs: [Seg::default(); 5],
            stage: Vec::new(),
        }
    }

    /// The frame is `src[pos..pos + len]`, in one piece.
    fn whole(&mut self, pos: usize, len: usize) {
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
        let buf = grow(&mut self.stage, total)?;
        let mut pos = 0;
        for (&a, r) in at.iter().zip(ranges) {
            self.src
                .subarray(a as u32, (a + r.len()) as u32)
                .copy_to(&mut buf[pos..pos + r.len()]);
            pos += r.len();
        }
        let mut rest = &self.stage[..total];
        for (o, r) in out.iter_mut().zip(ranges) {
            let (x, y) = rest.split_at(r.len());
            (*o, rest) = (x, y);
        }
        Ok(())
    }
}

/// Decodes the frames of a ZipNN file into `target`, which has their decoded size, chunk by
/// chunk.
fn decode_zipnn_to(
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
        d.decode(f.pos, f.len, &f.header, at)?;
        at += f.header.orig_len as usize;
    }
    Ok(())
}

/// Restores a `.znn.safetensors` file into `target`, which has its restored size: the new
/// header, then each tensor copied from `data` (JS to JS) or decoded from its frame.
fn decode_znn_safetensors_to(
    data: &js_sys::Uint8Array,
    plan: &zipnn::safetensors::Plan,
    target: &js_sys::Uint8Array,
) -> Result<(), Error> {
    let mut at = plan.header.len();
    target.subarray(0, at as u32).copy_from(&plan.header);
    let mut d = JsFrames::new(data, target);
    for p in &plan.pieces {
        match &p.frame {
            None => target.set(&data.subarray(p.start as u32, p.end as u32), at as u32),
            Some(h) => d.decode(p.start, p.end - p.start, h, at)?,
        }
        at += p.len as usize;
    }
    Ok(())
}

/// ZipNN frames of one JS array decoded into another, with buffers reused across frames.
struct JsFrames<'a> {
    frame: JsFrame<'a>,
    out: JsChunks<'a>,
    scratch: Vec<u8>,
}

impl<'a> JsFrames<'a> {
    fn new(data: &'a js_sys::Uint8Array, target: &'a js_sys::Uint8Array) -> Self {
        JsFrames {
            frame: JsFrame::new(data),
            out: JsChunks {
                target,
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
    fn decode_part(
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
        h.check_tables(len)?;
        let total = crate::format::to_usize(h.orig_len)?;
        let layout = zipnn::FrameLayout::read(&mut self.frame, &h, total)?;
        if chunks.end > layout.chunks || layout.output(chunks.clone()).len() > room {
            return Err(Error::InvalidInput("bad piece table".into()));
        }
        let out = layout.output(chunks.clone()).len();
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

/// Decompresses a whole buffer (format detected from its magic number) into a new
/// `Uint8Array`.
#[wasm_bindgen(js_name = decompress)]
pub fn decompress(
    data: &js_sys::Uint8Array,
    max_output: Option<f64>,
) -> Result<js_sys::Uint8Array, JsValue> {
    decompress_js(data, &limits(max_output)).map_err(|e| js_error(&e))
}

fn decompress_js(data: &js_sys::Uint8Array, limits: &Limits) -> Result<js_sys::Uint8Array, Error> {
    let mut src = JsSource::new(data);
    match src.detect()? {
        crate::Format::Znw => {
            let (header, chunks) = znw::index_source(&mut src, limits)?;
            znw::check_base(&header, None)?;
            let out = new_u8_array(znw::decoded_total(&chunks))?;
            decode_znw_to(&mut src, &chunks, &out)?;
            Ok(out)
        }
        crate::Format::Zipnn => {
            let (frames, total) = zipnn::frames_from(&mut src, limits)?;
            let out = new_u8_array(total)?;
            decode_zipnn_to(data, &frames, &out)?;
            Ok(out)
        }
        _ if zipnn::safetensors::is_znn_safetensors_source(&mut src) => {
            let plan = zipnn::safetensors::plan(&mut src, limits)?;
            let out = new_u8_array(plan.total)?;
            decode_znn_safetensors_to(data, &plan, &out)?;
            Ok(out)
        }
        // What `crate::detect` tells from a whole buffer, told from these reads.
        _ => Err(Error::NotCompressed),
    }
}

/// Decoded size of a compressed buffer, from its header (needs only the first bytes of
/// our format); `undefined` when the header does not say.
#[wasm_bindgen(js_name = decodedSize)]
pub fn decoded_size(data: &[u8]) -> Result<Option<f64>, JsValue> {
    let (h, _) = znw::Header::parse(data).map_err(|e| js_error(&e))?;
    Ok(h.total_size.map(|t| t as f64))
}

/// Compresses a whole buffer into ZipNN frames that zipnn (Python) reads; `streaming_chunk`
/// (bytes, a power of two) writes ZipNN's streaming layout of independent frames.
#[wasm_bindgen(js_name = compressZipnn)]
pub fn compress_zipnn(
    data: &[u8],
    dtype: &str,
    streaming_chunk: Option<f64>,
) -> Result<Vec<u8>, JsValue> {
    let invalid = |m: String| js_error(&Error::InvalidInput(m));
    let zd = DType::parse(dtype)
        .and_then(ZDType::from_dtype)
        .ok_or_else(|| {
            invalid(alloc::format!(
                "ZipNN format needs a float dtype, not {dtype:?}"
            ))
        })?;
    let mut opts = ZipnnOptions::new(zd);
    if let Some(s) = streaming_chunk {
        if !(s >= 1.0
            && s <= (1u64 << 40) as f64
            && (s as u64).is_power_of_two()
            && s.fract() == 0.0)
        {
            return Err(invalid(alloc::format!(
                "streaming chunk {s} is not a power of two"
            )));
        }
        opts.streaming_log2 = Some((s as u64).trailing_zeros() as u8);
    }
    zipnn::compress(data, &opts).map_err(|e| js_error(&e))
}

/// Decompresses into `target`, which must have exactly the decoded size (reused memory
/// avoids the page faults of a fresh allocation). Returns that size.
#[wasm_bindgen(js_name = decompressInto)]
pub fn decompress_into(
    data: &js_sys::Uint8Array,
    target: &js_sys::Uint8Array,
) -> Result<usize, JsValue> {
    decompress_into_js(data, target).map_err(|e| js_error(&e))
}

fn decompress_into_js(
    data: &js_sys::Uint8Array,
    target: &js_sys::Uint8Array,
) -> Result<usize, Error> {
    let len = target.length() as usize;
    let wrong_size = |n: u64| Error::wrong_size(len, n);
    // No bound while indexing: the totals are compared with the target's size below, so a
    // target too small and one too large get the same error.
    let limits = Limits::default();
    let mut src = JsSource::new(data);
    match src.detect()? {
        crate::Format::Znw => {
            let (header, chunks) = znw::index_source(&mut src, &limits)?;
            znw::check_base(&header, None)?;
            let total = znw::decoded_total(&chunks);
            if total != len as u64 {
                return Err(wrong_size(total));
            }
            decode_znw_to(&mut src, &chunks, target)?;
            Ok(len)
        }
        crate::Format::Zipnn => {
            let (frames, total) = zipnn::frames_from(&mut src, &limits)?;
            if total != len as u64 {
                return Err(wrong_size(total));
            }
            decode_zipnn_to(data, &frames, target)?;
            Ok(len)
        }
        _ if zipnn::safetensors::is_znn_safetensors_source(&mut src) => {
            let plan = zipnn::safetensors::plan(&mut src, &limits)?;
            if plan.total != len as u64 {
                return Err(wrong_size(plan.total));
            }
            decode_znn_safetensors_to(data, &plan, target)?;
            Ok(len)
        }
        _ => Err(Error::NotCompressed),
    }
}

/// Decodes whole files into wasm memory that is kept from call to call, whose pages stay
/// mapped, and gives the caller a view of it: no copy out of wasm memory. The input is read
/// from JS a piece at a time (`decompress`), or not copied at all when the caller writes the
/// file into `inputBuffer` itself (a file read, network chunks). Memory: the largest output
/// and the largest `inputBuffer` so far, until `release`.
#[wasm_bindgen]
pub struct Decompressor {
    input: Vec<u8>,
    /// Bytes the last `inputBuffer` offered.
    offered: usize,
    output: Vec<u8>,
    limits: Limits,
}

#[wasm_bindgen]
impl Decompressor {
    #[wasm_bindgen(constructor)]
    pub fn new(max_output: Option<f64>) -> Decompressor {
        Decompressor {
            input: Vec::new(),
            offered: 0,
            output: Vec::new(),
            limits: limits(max_output),
        }
    }

    /// A view of `len` bytes of wasm memory for the next compressed file: fill it, then call
    /// `decompressInput(len)`. Valid until the next call into the module (any call may grow
    /// the memory, which detaches every view of it).
    #[wasm_bindgen(js_name = inputBuffer)]
    pub fn input_buffer(&mut self, len: f64) -> Result<js_sys::Uint8Array, JsValue> {
        let len = js_len(len).map_err(|e| js_error(&e))?;
        grow(&mut self.input, len).map_err(|e| js_error(&e))?;
        self.offered = len;
        Ok(view(&self.input[..len]))
    }

    /// Decodes the first `len` bytes of the input buffer; returns a view of the decoded bytes
    /// in wasm memory, valid until the next call into the module (copy what must outlive it).
    #[wasm_bindgen(js_name = decompressInput)]
    pub fn decompress_input(&mut self, len: f64) -> Result<js_sys::Uint8Array, JsValue> {
        let len = js_len(len)
            .and_then(|n| match n <= self.offered {
                true => Ok(n),
                false => Err(Error::InvalidInput(alloc::format!(
                    "decompressInput({n}): inputBuffer offered {} bytes",
                    self.offered
                ))),
            })
            .map_err(|e| js_error(&e))?;
        let n = crate::decompress_to_vec(&self.input[..len], &mut self.output, &self.limits)
            .map_err(|e| js_error(&e))?;
        Ok(view(&self.output[..n]))
    }

    /// Decodes a file held in JS: its pieces (chunk bodies, frame streams) are copied into wasm
    /// memory one at a time, each still in cache when it is decoded, and decoded straight into
    /// the output buffer. Returns a view, as `decompressInput`.
    pub fn decompress(&mut self, data: &js_sys::Uint8Array) -> Result<js_sys::Uint8Array, JsValue> {
        let n = decode_js_to_vec(data, &mut self.output, &self.limits).map_err(|e| js_error(&e))?;
        Ok(view(&self.output[..n]))
    }

    /// Frees both buffers (the next call allocates them again).
    pub fn release(&mut self) {
        self.input = Vec::new();
        self.offered = 0;
        self.output = Vec::new();
    }
}

/// [`crate::decompress_to_vec`] for a file in a JS array (not a view of this memory, which
/// the reads below may grow: the JS wrapper copies those first).
fn decode_js_to_vec(
    data: &js_sys::Uint8Array,
    out: &mut Vec<u8>,
    limits: &Limits,
) -> Result<usize, Error> {
    use crate::format::{Output, Reserve};
    use znw::Source;
    let mut src = JsSource::new(data);
    // The frames of a ZipNN file at `at` of `output`, each chunk's streams copied in as it is
    // decoded.
    let frames_to = |output: &mut Output, frames: &[(usize, usize, &zipnn::FrameHeader, usize)]| {
        let (mut frame, mut scratch) = (JsFrame::new(data), Vec::new());
        for &(pos, len, h, at) in frames {
            frame.whole(pos, len);
            let len = h.orig_len as usize;
            let mut grow = zipnn::Grow {
                out: output,
                at,
                len,
            };
            zipnn::decode_frame_from(&mut frame, h, &mut grow, &mut scratch)?;
        }
        Ok::<(), Error>(())
    };
    match src.detect()? {
        crate::Format::Znw => {
            let (header, chunks) = znw::index_source(&mut src, limits)?;
            znw::check_base(&header, None)?;
            let mut output = Output::new(out, znw::decoded_total(&chunks), Reserve::AsDecoded)?;
            let mut scratch = Vec::new();
            for c in &chunks {
                let body = src.read(c.body_offset, c.head.body_len as usize)?;
                let dst = output.slot(c.offset as usize, c.head.raw_len as usize)?;
                znw::chunk::decode(&c.head, body, c.offset, dst, &mut scratch)?;
            }
            Ok(output.total)
        }
        crate::Format::Zipnn => {
            let (frames, total) = zipnn::frames_from(&mut src, limits)?;
            if frames.iter().any(|f| f.header.delta != 0) {
                return Err(zipnn::missing_base());
            }
            let mut output = Output::new(out, total, Reserve::AsDecoded)?;
            let mut at = 0;
            let mut list = Vec::new();
            for f in &frames {
                list.push((f.pos, f.len, &f.header, at));
                at += f.header.orig_len as usize;
            }
            frames_to(&mut output, &list)?;
            Ok(output.total)
        }
        _ if zipnn::safetensors::is_znn_safetensors_source(&mut src) => {
            let plan = zipnn::safetensors::plan(&mut src, limits)?;
            let mut output = Output::new(out, plan.total, Reserve::AsDecoded)?;
            output
                .slot(0, plan.header.len())?
                .copy_from_slice(&plan.header);
            let mut at = plan.header.len();
            let mut list = Vec::new();
            for p in &plan.pieces {
                match &p.frame {
                    None => data
                        .subarray(p.start as u32, p.end as u32)
                        .copy_to(output.slot(at, p.len as usize)?),
                    Some(h) => list.push((p.start, p.end - p.start, h, at)),
                }
                at += p.len as usize;
            }
            frames_to(&mut output, &list)?;
            Ok(output.total)
        }
        _ => Err(Error::NotCompressed),
    }
}

/// A JS length argument as a `usize`: a whole number that fits.
fn js_len(len: f64) -> Result<usize, Error> {
    if len >= 0.0 && len.fract() == 0.0 && len <= u32::MAX as f64 {
        Ok(len as usize)
    } else {
        Err(Error::InvalidInput(alloc::format!("{len} is not a length")))
    }
}

/// A JS view of bytes of our own memory (a plain, safe `Uint8Array` at their address): valid
/// while the memory does not grow and no Rust code writes those bytes.
fn view(bytes: &[u8]) -> js_sys::Uint8Array {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    js_sys::Uint8Array::new_with_byte_offset_and_length(
        &memory.buffer(),
        bytes.as_ptr() as usize as u32,
        bytes.len() as u32,
    )
}

// Parallel decoding (pkg's worker pool): the calling thread reads the chunk table once, each
// worker decodes runs of whole records into its part of one shared output.

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
            (c.body_offset - znw::chunk::HEAD_LEN) as f64,
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
    znw::decode_source(&mut src, &chunks, |at, bytes| {
        let a = (at - base) as u32;
        target.subarray(a, a + bytes.len() as u32).copy_from(bytes);
        Ok(())
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
    // (start, end, frame header) in input order; the output follows the header without gaps.
    type Pieces = Vec<(usize, usize, Option<zipnn::FrameHeader>)>;
    let (header, pieces, total): (Vec<u8>, Pieces, u64) = match src.detect()? {
        crate::Format::Zipnn => {
            let (frames, total) = zipnn::frames_from(&mut src, limits)?;
            if frames.iter().any(|f| f.header.delta != 0) {
                return Err(zipnn::missing_base());
            }
            let pieces = frames
                .into_iter()
                .map(|f| (f.pos, f.pos + f.len, Some(f.header)));
            (Vec::new(), pieces.collect(), total)
        }
        _ if zipnn::safetensors::is_znn_safetensors_source(&mut src) => {
            let plan = zipnn::safetensors::plan(&mut src, limits)?;
            let pieces = plan.pieces.into_iter().map(|p| (p.start, p.end, p.frame));
            (plan.header, pieces.collect(), plan.total)
        }
        _ => return Err(Error::NotCompressed),
    };
    let mut t: Vec<f64> = Vec::new();
    let part = |t: &mut Vec<f64>, head: [usize; 6], segs: &[(usize, usize)]| -> Result<(), Error> {
        t.try_reserve(PART_LEN)
            .map_err(|_| Error::no_memory((t.len() + PART_LEN) as u64 * 8))?;
        t.extend(head.map(|x| x as f64));
        for i in 0..5 {
            let (a, l) = segs.get(i).copied().unwrap_or((0, 0));
            t.extend([a as f64, l as f64]);
        }
        Ok(())
    };
    t.push(0.0);
    let mut at = header.len();
    for (start, end, frame) in pieces {
        let len = end - start;
        let Some(h) = frame else {
            part(&mut t, [0, start, len, 0, 0, at], &[(0, len)])?;
            at += len;
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
            part(&mut t, [1, start, len, 0, chunks, at], &[(0, len)])?;
            at += total;
            continue;
        }
        // Cut: the tables tell where each stream's bytes of each run of chunks are.
        let mut frame = JsFrame::new(data);
        frame.whole(start, len);
        let layout = zipnn::FrameLayout::read(&mut frame, &h, total)?;
        for c0 in (0..chunks).step_by(per) {
            let c = c0..(c0 + per).min(chunks);
            let mut segs = [(0, layout.payload_start); 5];
            for (b, seg) in segs[1..=h.dtype.streams()].iter_mut().enumerate() {
                let r = layout.stream_span(b, c.clone())?;
                *seg = (r.start, r.len());
            }
            part(
                &mut t,
                [1, start, len, c.start, c.end, at],
                &segs[..=h.dtype.streams()],
            )?;
            at += layout.output(c).len();
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportJs<'a> {
    format: &'a str,
    container: &'a str,
    total_size: u64,
    compressed_size: u64,
    chunk_size: u32,
    chunks: usize,
    segments: Vec<SegmentReportJs<'a>>,
    suggestion: Option<SuggestionJs<'a>>,
}

#[derive(Serialize)]
struct SegmentReportJs<'a> {
    name: &'a str,
    dtype: &'a str,
    label: &'a str,
    shape: &'a [u64],
    offset: u64,
    length: u64,
    compressed: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SuggestionJs<'a> {
    dtype: &'a str,
    ratio: f64,
    current_ratio: f64,
}

/// Header, segment table and per-segment sizes as a plain object (camelCase keys).
#[wasm_bindgen(js_name = inspect)]
pub fn inspect(data: &[u8]) -> Result<JsValue, JsValue> {
    let r = crate::inspect(data).map_err(|e| js_error(&e))?;
    let js = ReportJs {
        format: r.format,
        container: r.container,
        total_size: r.total_size,
        compressed_size: r.compressed_size,
        chunk_size: r.chunk_size,
        chunks: r.chunks,
        segments: r
            .segments
            .iter()
            .map(|s| SegmentReportJs {
                name: &s.name,
                dtype: s.dtype,
                label: &s.label,
                shape: &s.shape,
                offset: s.offset,
                length: s.length,
                compressed: s.compressed,
            })
            .collect(),
        suggestion: r.suggestion.as_ref().map(|s| SuggestionJs {
            dtype: s.dtype,
            ratio: s.ratio,
            current_ratio: s.current_ratio,
        }),
    };
    js.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| e.into())
}

use serde::Serialize;

fn limits(max_output: Option<f64>) -> Limits {
    match max_output {
        Some(m) if m >= 0.0 => Limits {
            max_output: m as u64,
        },
        _ => Limits::default(),
    }
}

/// Collects verified chunks until JS drains them. `bytes[..filled]` is what is ready; the
/// vector keeps its length (the largest amount held at once) so that decoding in place never
/// zero-fills it again.
#[derive(Default)]
struct Ready {
    bytes: Vec<u8>,
    filled: usize,
    header: Option<znw::Header>,
    header_seen: bool,
}

impl Ready {
    fn room(&mut self, len: usize) -> &mut [u8] {
        let end = self.filled + len;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        &mut self.bytes[self.filled..end]
    }
}

impl Sink for Ready {
    fn header(&mut self, h: &znw::Header) -> Result<(), Error> {
        self.header = Some(h.clone());
        Ok(())
    }
    fn data(&mut self, _offset: u64, bytes: &[u8]) -> Result<(), Error> {
        self.room(bytes.len()).copy_from_slice(bytes);
        self.filled += bytes.len();
        Ok(())
    }
    fn space(&mut self, len: usize) -> Option<&mut [u8]> {
        Some(self.room(len))
    }
    fn commit(&mut self, _offset: u64, len: usize) -> Result<(), Error> {
        self.filled += len;
        Ok(())
    }
}

/// Input staging of at least this many bytes: network chunks (often 16-64 KiB) are copied
/// from JS straight into it and records are decoded where they lie.
const STAGE_MIN: usize = 1 << 20;
/// A `commit` decodes no further unit once this many bytes wait to be drained (so it holds at
/// most this plus one chunk).
const READY_CAP: usize = 4 << 20;
/// Least free room `inputBuffer` offers, so that a small chunk never waits for compaction.
const STAGE_ROOM: usize = 64 << 10;

/// Push-style decoder. Input goes in either with `push(bytes)` or, one copy fewer, by writing
/// into `inputBuffer()` and calling `commit(n)`; verified bytes come out with `drain` or
/// `drainInto`.
#[wasm_bindgen]
pub struct StreamDecoder {
    dec: AutoDecoder,
    ready: Ready,
    /// Staged input: `stage[start..end]` waits for the rest of its unit. Holds at most one
    /// unfinished unit (≤ a record) plus the free room, so memory stays bounded.
    stage: Vec<u8>,
    start: usize,
    end: usize,
}

#[derive(Serialize)]
struct HeaderJs<'a> {
    #[serde(rename = "totalSize")]
    total_size: Option<u64>,
    container: &'static str,
    segments: Vec<SegmentJs<'a>>,
}

#[derive(Serialize)]
struct SegmentJs<'a> {
    name: &'a str,
    dtype: &'a str,
    shape: &'a [u64],
    offset: u64,
    length: u64,
}

#[wasm_bindgen]
impl StreamDecoder {
    /// `check_bodies`: also verify each `.znw` chunk's body checksum (`zipnn test`).
    #[wasm_bindgen(constructor)]
    pub fn new(max_output: Option<f64>, check_bodies: Option<bool>) -> StreamDecoder {
        let limits = limits(max_output);
        StreamDecoder {
            dec: match check_bodies {
                Some(true) => AutoDecoder::checking_bodies(limits),
                _ => AutoDecoder::new(limits),
            },
            ready: Ready::default(),
            stage: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// Feeds compressed bytes; returns how many decoded bytes are ready to drain.
    pub fn push(&mut self, input: &[u8]) -> Result<usize, JsValue> {
        if self.start < self.end {
            // Staged bytes come first.
            let r = self
                .dec
                .push(&self.stage[self.start..self.end], &mut self.ready);
            self.start = 0;
            self.end = 0;
            r.map_err(|e| self.fail(&e))?;
        }
        self.dec
            .push(input, &mut self.ready)
            .map_err(|e| self.fail(&e))?;
        Ok(self.ready.filled)
    }

    /// A view of wasm memory where the next input bytes go (at least 64 KiB, or what the
    /// current unit still lacks if that is more). Write some prefix of it, then call
    /// `commit(n)`. The view is valid only until the next call into the module: any call may
    /// grow the memory and detach it.
    #[wasm_bindgen(js_name = inputBuffer)]
    pub fn input_buffer(&mut self) -> Result<js_sys::Uint8Array, JsValue> {
        let want = STAGE_ROOM.max(self.dec.unit_len().saturating_sub(self.end - self.start));
        if self.stage.len() - self.end < want {
            // Move the unfinished unit to the front (it is smaller than a record), then grow
            // if the room is still short: to STAGE_MIN, or to one record plus the room.
            self.stage.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            let len = (self.end + want).max(STAGE_MIN);
            grow(&mut self.stage, len).map_err(|e| js_error(&e))?;
        }
        // JS writes there between calls, while no Rust reference to the bytes is alive.
        Ok(view(&self.stage[self.end..]))
    }

    /// `n` bytes were written at the start of the last `inputBuffer()`: decodes every unit that
    /// is now complete. Returns how many decoded bytes are ready to drain.
    pub fn commit(&mut self, n: usize) -> Result<usize, JsValue> {
        if n > self.stage.len() - self.end {
            return Err(js_error(&Error::InvalidInput(
                "commit: more bytes than inputBuffer() offered".into(),
            )));
        }
        self.end += n;
        // One unit at a time, stopping once READY_CAP bytes wait: a file of many tiny records
        // of highly compressible chunks must not make one call decode without bound.
        while self.start < self.end && self.ready.filled < READY_CAP {
            let unit = self.dec.unit_len();
            let take = match unit {
                0 => self.end - self.start, // ZipNN frames, or trailing bytes (an error)
                u => u.min(self.end - self.start),
            };
            let used = self
                .dec
                .push_units(&self.stage[self.start..self.start + take], &mut self.ready);
            match used {
                // Nothing used and the unit did not grow (a prefix can reveal a longer
                // header): wait for more input.
                Ok(0) if self.dec.unit_len() == unit => break,
                Ok(used) => self.start += used,
                Err(e) => return Err(self.fail(&e)),
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(self.ready.filled)
    }

    /// Whether the staged input still holds a whole unit: after draining, call `commit(0)`
    /// until this is false (a commit stops once about 4 MiB are ready to drain).
    pub fn pending(&self) -> bool {
        let unit = self.dec.unit_len();
        self.start < self.end && (unit == 0 || self.end - self.start >= unit)
    }

    /// Drops the buffers after an error (every later call fails the same way anyway).
    fn fail(&mut self, e: &Error) -> JsValue {
        self.stage = Vec::new();
        self.start = 0;
        self.end = 0;
        self.ready.bytes = Vec::new();
        self.ready.filled = 0;
        js_error(e)
    }

    /// The header as a plain object once it has been read (then `undefined` on later calls).
    #[wasm_bindgen(js_name = takeHeader)]
    pub fn take_header(&mut self) -> Result<JsValue, JsValue> {
        if self.ready.header_seen {
            return Ok(JsValue::UNDEFINED);
        }
        let Some(h) = &self.ready.header else {
            return Ok(JsValue::UNDEFINED);
        };
        self.ready.header_seen = true;
        let js = HeaderJs {
            total_size: h.total_size,
            container: h.container.name(),
            segments: h
                .segments
                .iter()
                .map(|s| SegmentJs {
                    name: &s.name,
                    dtype: if s.label.is_empty() {
                        s.dtype.name()
                    } else {
                        &s.label
                    },
                    shape: &s.shape,
                    offset: s.offset,
                    length: s.length,
                })
                .collect(),
        };
        js.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(|e| e.into())
    }

    /// Takes the ready bytes as a new JS-owned Uint8Array.
    pub fn drain(&mut self) -> js_sys::Uint8Array {
        let out = js_sys::Uint8Array::new_with_length(self.ready.filled as u32);
        out.copy_from(&self.ready.bytes[..self.ready.filled]);
        self.ready.filled = 0;
        out
    }

    /// Copies the ready bytes into `target` (a view of exactly `ready` bytes) in one copy.
    #[wasm_bindgen(js_name = drainInto)]
    pub fn drain_into(&mut self, target: &js_sys::Uint8Array) -> Result<(), JsValue> {
        if target.length() as usize != self.ready.filled {
            return Err(js_error(&Error::InvalidInput(
                "drainInto target has the wrong length".into(),
            )));
        }
        target.copy_from(&self.ready.bytes[..self.ready.filled]);
        self.ready.filled = 0;
        Ok(())
    }

    /// Decoded bytes delivered so far.
    pub fn decoded(&self) -> f64 {
        self.dec.decoded() as f64
    }

    /// Ends the input: throws `ZNN_TRUNCATED` unless the file was complete.
    pub fn finish(&mut self) -> Result<(), JsValue> {
        self.dec.finish().map_err(|e| js_error(&e))
    }
}

/// Push-style encoder for input of unknown length.
#[wasm_bindgen]
pub struct StreamEncoder {
    enc: Encoder,
}

#[wasm_bindgen]
impl StreamEncoder {
    #[wasm_bindgen(constructor)]
    pub fn new(dtype: Option<String>, chunk_size: Option<u32>) -> Result<StreamEncoder, JsValue> {
        let enc = Encoder::with_choice(
            parse_dtype(dtype)?,
            chunk_size.unwrap_or(znw::DEFAULT_CHUNK),
        )
        .map_err(|e| js_error(&e))?;
        Ok(StreamEncoder { enc })
    }

    /// Feeds input; returns the compressed bytes completed so far (possibly empty).
    pub fn push(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.enc.push(input, &mut out);
        out
    }

    /// Ends the input; returns the last records.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.enc.finish(&mut out);
        out
    }
}
