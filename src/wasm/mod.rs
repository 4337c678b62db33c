//! wasm-bindgen bindings: the thin shell the npm package (`pkg/`) wraps. Errors become JS
//! `Error`s with a `code` property (`ZNN_CORRUPT`, ...); the instance stays usable after any of
//! them. A panic (a bug) aborts the call with a trap; the wrapper then calls `__afterTrap` and
//! `__reinit` to get the message and a fresh instance.

use crate::format::zipnn::{self, ZDType, ZipnnOptions};
use crate::format::znw::{self, DTypeChoice, Options};
use crate::format::{grow, to_usize};
use crate::{DType, Error, Limits};
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;
use wasm_bindgen::prelude::*;

mod js_io;
mod pool;
mod random;
mod stream;

pub use pool::{decode_zipnn_pieces, decode_znw_records, zipnn_piece_table, znw_chunk_table};
pub use random::RandomAccessFile;
pub use stream::{StreamDecoder, StreamEncoder};

use js_io::{
    decode_zipnn_to, decode_znn_safetensors_to, decode_znw_to, new_u8_array, JsFrame, JsReader,
    JsSource,
};

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

/// Decompresses a whole buffer (format detected from its magic number) into a new
/// `Uint8Array`: zero-filled, or `new_output(n)`'s (see [`new_u8_array`]).
#[wasm_bindgen(js_name = decompress)]
pub fn decompress(
    data: &js_sys::Uint8Array,
    max_output: Option<f64>,
    new_output: Option<js_sys::Function>,
) -> Result<js_sys::Uint8Array, JsValue> {
    decompress_js(data, &limits(max_output), new_output.as_ref()).map_err(|e| js_error(&e))
}

fn decompress_js(
    data: &js_sys::Uint8Array,
    limits: &Limits,
    new_output: Option<&js_sys::Function>,
) -> Result<js_sys::Uint8Array, Error> {
    let mut src = JsSource::new(data);
    match src.detect()? {
        crate::Format::Znw => {
            let (header, chunks) = znw::index_source(&mut src, limits)?;
            znw::check_base(&header, None)?;
            let out = new_u8_array(znw::decoded_total(&chunks), new_output)?;
            decode_znw_to(&mut src, &chunks, &out)?;
            Ok(out)
        }
        crate::Format::Zipnn => {
            let (frames, total) = zipnn::frames_from(&mut src, limits)?;
            let out = new_u8_array(total, new_output)?;
            decode_zipnn_to(data, &frames, &out)?;
            Ok(out)
        }
        _ if zipnn::safetensors::is_znn_safetensors_source(&mut src) => {
            let plan = zipnn::safetensors::plan(&mut src, limits)?;
            let out = new_u8_array(plan.total, new_output)?;
            decode_znn_safetensors_to(data, &plan, &out)?;
            Ok(out)
        }
        // What `crate::detect` tells from a whole buffer, told from these reads.
        _ => Err(src.unknown()),
    }
}

/// What [`warm_up`] decodes: a bfloat16, a float16 and a float32 tensor of 1024 elements
/// each, 8 KiB in all (tests/warm_up.rs checks it and says how to regenerate it).
const WARM_UP: &[u8] = include_bytes!("warm-up.znw");

/// Decodes a small embedded model `rounds` times. V8 runs each wasm function in its baseline
/// compiler's code until that code has done enough work, then compiles it again, optimised,
/// on another thread; a call keeps the code it started with. The first decode of a large
/// model in a fresh page or process therefore runs mostly baseline code, about half as fast
/// (bench/NOTES.md, session 46). The JS wrapper's `init()` calls this in the next task so
/// that the decoder's optimised code is compiled before a model arrives.
///
/// Each round takes both ways in: from a JS array (`decompress`, `decompressInto`) and from
/// wasm memory (`Decompressor`).
#[wasm_bindgen(js_name = warmUp)]
pub fn warm_up(rounds: u32) -> Result<(), JsValue> {
    let (limits, mut out) = (Limits::default(), Vec::new());
    let js = js_sys::Uint8Array::from(WARM_UP);
    for _ in 0..rounds {
        decompress_js(&js, &limits, None).map_err(|e| js_error(&e))?;
        crate::decompress_over(WARM_UP, &mut out, &limits).map_err(|e| js_error(&e))?;
    }
    Ok(())
}

/// Whether `head` (the first bytes of a file, its whole JSON header among them) is a
/// `.znn.safetensors` file that restores as it arrives: a `StreamDecoder` made with
/// `'znn-safetensors'` takes it (see `zipnn::safetensors::lists_compressed`).
#[wasm_bindgen(js_name = listsCompressed)]
pub fn lists_compressed(head: &[u8]) -> bool {
    zipnn::safetensors::lists_compressed(head)
}

/// Compresses a whole buffer into ZipNN frames that zipnn (Python) reads; `streaming_chunk`
/// (bytes, a power of two) writes ZipNN's streaming layout of independent frames, and
/// `chunk_size` (a power of two from 1 KiB to 1 GiB) sets the frames' chunks.
#[wasm_bindgen(js_name = compressZipnn)]
pub fn compress_zipnn(
    data: &[u8],
    dtype: &str,
    streaming_chunk: Option<f64>,
    chunk_size: Option<f64>,
) -> Result<Vec<u8>, JsValue> {
    let invalid = |m: String| js_error(&Error::InvalidInput(m));
    let log2 = |s: f64, what: &str| {
        if s >= 1.0 && s <= (1u64 << 40) as f64 && s.fract() == 0.0 && (s as u64).is_power_of_two()
        {
            Ok((s as u64).trailing_zeros() as u8)
        } else {
            Err(invalid(alloc::format!("{what} {s} is not a power of two")))
        }
    };
    let zd = DType::parse(dtype)
        .and_then(ZDType::from_dtype)
        .ok_or_else(|| {
            invalid(alloc::format!(
                "ZipNN format needs bf16, fp16, fp32, fp8-e4m3 or fp8-e5m2, not {dtype:?}"
            ))
        })?;
    let mut opts = ZipnnOptions::new(zd);
    if let Some(s) = streaming_chunk {
        opts.streaming_log2 = Some(log2(s, "streaming chunk")?);
    }
    if let Some(c) = chunk_size {
        opts.chunk_log2 = log2(c, "ZipNN chunk size")?;
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
        _ => Err(src.unknown()),
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
    /// A decompressor that refuses files decoding to more than `max_output` bytes (none, or a
    /// negative one: no bound of the caller's); never more than 2^31 − 1 bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(max_output: Option<f64>) -> Decompressor {
        Decompressor {
            input: Vec::new(),
            offered: 0,
            output: Vec::new(),
            // Its output is at most 2^31 - 1 bytes (index.d.ts): a header that states more is
            // refused before any of it is decoded (a file of zeros grew memory to 2 GiB first).
            limits: Limits {
                max_output: limits(max_output).max_output.min(i32::MAX as u64),
            },
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
        let n = crate::decompress_over(&self.input[..len], &mut self.output, &self.limits)
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

/// [`crate::decompress_over`] for a file in a JS array (not a view of this memory, which
/// the reads below may grow: the JS wrapper copies those first).
fn decode_js_to_vec(
    data: &js_sys::Uint8Array,
    out: &mut Vec<u8>,
    limits: &Limits,
) -> Result<usize, Error> {
    use crate::format::Source;
    use crate::format::{Output, Reserve};
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
                // Frames of a JS array: within its `u32` length.
                list.push((f.pos as usize, f.len as usize, &f.header, at));
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
                let (start, end) = (to_usize(p.start)?, to_usize(p.end)?);
                match &p.frame {
                    None => data
                        .subarray(start as u32, end as u32)
                        .copy_to(output.slot(at, p.len as usize)?),
                    Some(h) => list.push((start, end - start, h, at)),
                }
                at += p.len as usize;
            }
            frames_to(&mut output, &list)?;
            Ok(output.total)
        }
        _ => Err(src.unknown()),
    }
}

/// A JS length argument as a `usize`: a whole number that fits (`TooLarge` past wasm32's
/// 4 GiB address space, which no buffer here can reach).
fn js_len(len: f64) -> Result<usize, Error> {
    if !(len >= 0.0 && len.fract() == 0.0) {
        Err(Error::InvalidInput(alloc::format!("{len} is not a length")))
    } else if len > u32::MAX as f64 {
        Err(Error::TooLarge {
            size: len as u64,
            limit: u32::MAX as u64,
        })
    } else {
        Ok(len as usize)
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

/// A u64 as a JS number: exact below 2^53, the nearest double above (as JS gives sizes).
/// `json_compatible` refuses a u64 past 2^53 with an untyped error, and a valid file may hold
/// one (the shape of a tensor with no elements).
fn as_number<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(*v as f64)
}

/// [`as_number`] for a shape.
fn as_numbers<S: serde::Serializer>(v: &&[u64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|&d| d as f64))
}

/// [`as_number`] for a size that may be unknown (`null`).
fn as_number_or_null<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.serialize_some(&(*n as f64)),
        None => s.serialize_none(),
    }
}

/// [`as_number_or_null`] for a field that is left out when `None`.
fn some_number_or_null<S: serde::Serializer>(
    v: &Option<Option<u64>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    as_number_or_null(&v.flatten(), s)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportJs<'a> {
    format: &'a str,
    container: &'a str,
    #[serde(serialize_with = "as_number")]
    total_size: u64,
    #[serde(serialize_with = "as_number")]
    compressed_size: u64,
    #[serde(serialize_with = "as_number")]
    chunk_size: u64,
    chunks: usize,
    segments: Vec<SegmentReportJs<'a>>,
    suggestion: Option<SuggestionJs<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<DeltaJs>,
    /// `.znw`: the blocks of each coder the encoder chose (empty for ZipNN files).
    modes: Vec<ModeJs>,
    // ZipNN frames only (absent otherwise): the first frame's version and element type,
    // the streaming chunk (null for a single frame), each frame's place in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<alloc::string::String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dtype: Option<&'a str>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "some_number_or_null"
    )]
    streaming_chunk: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frames: Option<Vec<FrameJs>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FrameJs {
    /// Its place in the file.
    #[serde(serialize_with = "as_number")]
    offset: u64,
    #[serde(serialize_with = "as_number")]
    length: u64,
    #[serde(serialize_with = "as_number")]
    decoded_length: u64,
    delta: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeltaJs {
    #[serde(serialize_with = "as_number")]
    base_size: u64,
    /// 16 hex digits: a u64 is not a JS number.
    base_xxh3: alloc::string::String,
    #[serde(serialize_with = "as_number")]
    moved: u64,
    #[serde(serialize_with = "as_number")]
    unxored: u64,
}

#[derive(Serialize)]
struct ModeJs {
    mode: u8,
    name: &'static str,
    #[serde(serialize_with = "as_number")]
    blocks: u64,
    #[serde(serialize_with = "as_number")]
    bytes: u64,
}

#[derive(Serialize)]
struct SegmentReportJs<'a> {
    name: &'a str,
    dtype: &'a str,
    label: &'a str,
    #[serde(serialize_with = "as_numbers")]
    shape: &'a [u64],
    #[serde(serialize_with = "as_number")]
    offset: u64,
    #[serde(serialize_with = "as_number")]
    length: u64,
    #[serde(serialize_with = "as_number")]
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
pub fn inspect(data: &js_sys::Uint8Array) -> Result<JsValue, JsValue> {
    // Headers read from JS as needed, not the whole file copied in.
    let r = crate::inspect_source(&mut JsSource::new(data));
    report_js(&r.map_err(|e| js_error(&e))?)
}

/// `inspect` of `size` bytes read through `read(offset, length)`, which returns those bytes
/// as a `Uint8Array` (a file larger than wasm memory, or than a JS array can be). What `read`
/// throws is rethrown as it is.
#[wasm_bindgen(js_name = inspectReader)]
pub fn inspect_reader(size: f64, read: js_sys::Function) -> Result<JsValue, JsValue> {
    let mut src = JsReader::new(size, read).map_err(|e| js_error(&e))?;
    match crate::inspect_source(&mut src) {
        Ok(r) => report_js(&r),
        Err(e) => Err(src.thrown.take().unwrap_or_else(|| js_error(&e))),
    }
}

/// A report as `inspect` gives it to JS.
fn report_js(r: &crate::format::report::Report) -> Result<JsValue, JsValue> {
    let z = r.zipnn.as_ref();
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
        delta: r.delta.as_ref().map(|d| DeltaJs {
            base_size: d.base_size,
            base_xxh3: alloc::format!("{:016x}", d.base_xxh3),
            moved: d.moved,
            unxored: d.unxored,
        }),
        modes: r
            .modes
            .iter()
            .map(|m| ModeJs {
                mode: m.mode,
                name: m.name,
                blocks: m.blocks,
                bytes: m.bytes,
            })
            .collect(),
        version: z.map(|z| alloc::format!("{}.{}.{}", z.version[0], z.version[1], z.version[2])),
        dtype: z.and(r.segments.first()).map(|s| s.dtype),
        streaming_chunk: z.map(|z| z.streaming_chunk),
        frames: z.map(|z| {
            z.frames
                .iter()
                .zip(&r.segments)
                .map(|(f, s)| FrameJs {
                    offset: f.offset,
                    length: f.length,
                    decoded_length: s.length,
                    delta: f.delta,
                })
                .collect()
        }),
    };
    js.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| e.into())
}

fn limits(max_output: Option<f64>) -> Limits {
    match max_output {
        Some(m) if m >= 0.0 => Limits {
            max_output: m as u64,
        },
        _ => Limits::default(),
    }
}
