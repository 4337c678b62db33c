//! Push-style streams for `ZnnDecompressionStream` / `ZnnCompressionStream`: bytes in as they
//! arrive, verified output out.

use super::js_io::JsTarget;
use super::{js_error, limits, parse_dtype, view};
use crate::format::grow;
use crate::format::znw;
use crate::stream::{AutoDecoder, Encoder, Sink, SizedEncoder};
use crate::Error;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;
use wasm_bindgen::prelude::*;

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
    /// Room for `len` more bytes (a ZipNN chunk may hold gigabytes: fallible).
    fn room(&mut self, len: usize) -> Result<&mut [u8], Error> {
        let end = self
            .filled
            .checked_add(len)
            .ok_or_else(|| Error::no_memory(len as u64))?;
        Ok(&mut grow(&mut self.bytes, end)?[self.filled..])
    }
}

impl Sink for Ready {
    fn header(&mut self, h: &znw::Header) -> Result<(), Error> {
        self.header = Some(h.clone());
        Ok(())
    }
    fn data(&mut self, _offset: u64, bytes: &[u8]) -> Result<(), Error> {
        self.room(bytes.len())?.copy_from_slice(bytes);
        self.filled += bytes.len();
        Ok(())
    }
    fn space(&mut self, len: usize) -> Option<&mut [u8]> {
        self.room(len).ok()
    }
    fn commit(&mut self, _offset: u64, len: usize) -> Result<(), Error> {
        self.filled += len;
        Ok(())
    }
    fn full(&self) -> bool {
        self.filled >= READY_CAP
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
    #[serde(rename = "totalSize", serialize_with = "super::as_number_or_null")]
    total_size: Option<u64>,
    container: &'static str,
    segments: Vec<SegmentJs<'a>>,
}

#[derive(Serialize)]
struct SegmentJs<'a> {
    name: &'a str,
    dtype: &'a str,
    #[serde(serialize_with = "super::as_numbers")]
    shape: &'a [u64],
    #[serde(serialize_with = "super::as_number")]
    offset: u64,
    #[serde(serialize_with = "super::as_number")]
    length: u64,
}

/// A `.znw` header as JS sees it: `{ totalSize, container, segments }`, each segment's `dtype`
/// the container's type name where it gives one.
pub(super) fn header_js(
    total_size: Option<u64>,
    container: crate::format::Container,
    segments: &[znw::Segment],
) -> Result<JsValue, JsValue> {
    let js = HeaderJs {
        total_size,
        container: container.name(),
        segments: segments
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

#[wasm_bindgen]
impl StreamDecoder {
    /// `check_bodies`: also verify each `.znw` chunk's body checksum (`zipnn test`).
    /// `format`: `"znn-safetensors"` for a `.znn.safetensors` file whose metadata lists its
    /// compressed tensors (its first bytes cannot say so); else `.znw` or ZipNN frames, told
    /// apart by their first bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(
        max_output: Option<f64>,
        check_bodies: Option<bool>,
        format: Option<String>,
    ) -> Result<StreamDecoder, JsValue> {
        let limits = limits(max_output);
        Ok(StreamDecoder {
            dec: match (format.as_deref(), check_bodies) {
                (Some("znn-safetensors"), _) => AutoDecoder::znn_safetensors(limits),
                (Some(f), _) => {
                    return Err(js_error(&Error::InvalidInput(alloc::format!(
                        "unknown stream format {f:?}"
                    ))))
                }
                (None, Some(true)) => AutoDecoder::checking_bodies(limits),
                (None, _) => AutoDecoder::new(limits),
            },
            ready: Ready::default(),
            stage: Vec::new(),
            start: 0,
            end: 0,
        })
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

    /// A view of wasm memory where the next input bytes go (at least 64 KiB; for a bigger
    /// unit, up to what it still lacks, as much as has come of it). Write some prefix of it,
    /// then call `commit(n)`. The view is valid only until the next call into the module: any
    /// call may grow the memory and detach it.
    #[wasm_bindgen(js_name = inputBuffer)]
    pub fn input_buffer(&mut self) -> Result<js_sys::Uint8Array, JsValue> {
        // The stage grows with the unit's bytes as they come (doubling), not to the length
        // its first bytes claim: 17 bytes of a `.znw` header claiming 64 MiB grew wasm memory
        // by 64 MiB for good, whatever maxOutput said.
        let staged = self.end - self.start;
        let lacks = self.dec.unit_len().saturating_sub(staged);
        let want = STAGE_ROOM.max(lacks.min(staged));
        if self.stage.len() - self.end < want {
            // Move the unfinished unit to the front (it is smaller than a record), then grow
            // if the room is still short: to STAGE_MIN, or to what is staged plus `want`.
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
        // of highly compressible chunks, or a ZipNN frame of gigabytes, must not make one call
        // decode without bound.
        while (self.start < self.end || self.dec.busy()) && !self.ready.full() {
            let (unit, busy) = (self.dec.unit_len(), self.dec.busy());
            let take = match unit {
                0 => self.end - self.start, // ZipNN frames, or trailing bytes (an error)
                u => u.min(self.end - self.start),
            };
            let used = self
                .dec
                .push_units(&self.stage[self.start..self.start + take], &mut self.ready);
            match used {
                // Nothing used, the unit did not grow (a prefix can reveal a longer header)
                // and no paused frame went on: wait for more input.
                Ok(0) if self.dec.unit_len() == unit && !busy => break,
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

    /// Whether the staged input still holds a whole unit, or a ZipNN frame has chunks left:
    /// after draining, call `commit(0)` until this is false (a commit stops once about 4 MiB
    /// are ready to drain).
    pub fn pending(&self) -> bool {
        let unit = self.dec.unit_len();
        self.dec.busy() || (self.start < self.end && (unit == 0 || self.end - self.start >= unit))
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
        header_js(h.total_size, h.container, &h.segments)
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
        JsTarget::new(target)
            .write(0, &self.ready.bytes[..self.ready.filled])
            .map_err(|e| js_error(&e))?;
        self.ready.filled = 0;
        Ok(())
    }

    /// Ends the input: throws `ZNN_TRUNCATED` unless the file was complete.
    pub fn finish(&mut self) -> Result<(), JsValue> {
        self.dec.finish().map_err(|e| js_error(&e))
    }
}

/// Push-style encoder: for input of unknown length, or, given its size, a file whose header
/// carries the size and (safetensors, GGUF) the tensor table.
#[wasm_bindgen]
pub struct StreamEncoder {
    enc: Either,
}

enum Either {
    Unsized(Encoder),
    Sized(SizedEncoder),
}

#[wasm_bindgen]
impl StreamEncoder {
    /// An encoder coding bytes no container types as `dtype` (`bf16`...; `auto`, the default,
    /// measures), in chunks of `chunk_size` bytes (256 KiB by default). Given the input's
    /// `size`, the header states it and (safetensors, GGUF) the tensor table; without it,
    /// `verify` is an error.
    #[wasm_bindgen(constructor)]
    pub fn new(
        dtype: Option<String>,
        chunk_size: Option<u32>,
        size: Option<f64>,
        verify: bool,
    ) -> Result<StreamEncoder, JsValue> {
        let dtype = parse_dtype(dtype)?;
        let chunk_size = chunk_size.unwrap_or(znw::DEFAULT_CHUNK);
        let enc = match size {
            None if verify => Err(Error::InvalidInput(
                "verify needs size (a stream of unknown length is not verified)".into(),
            )),
            None => Encoder::with_choice(dtype, chunk_size).map(Either::Unsized),
            Some(n) => {
                let opts = znw::Options {
                    dtype,
                    chunk_size,
                    verify,
                    ..znw::Options::default()
                };
                SizedEncoder::new(n as u64, opts).map(Either::Sized)
            }
        };
        Ok(StreamEncoder {
            enc: enc.map_err(|e| js_error(&e))?,
        })
    }

    /// Feeds input; returns the compressed bytes completed so far (possibly empty). With a
    /// size, `emit` (when given) is called with the records coded so far whenever they reach a
    /// MiB, so that the push that completes the first 32 MiB does not hold all of them.
    pub fn push(
        &mut self,
        input: &[u8],
        emit: Option<js_sys::Function>,
    ) -> Result<Vec<u8>, JsValue> {
        let mut out = Vec::new();
        match &mut self.enc {
            Either::Unsized(e) => e.push(input, &mut out),
            Either::Sized(e) => {
                // The JS exception of a failed `emit` (an errored stream), kept to rethrow as it is.
                let mut thrown = None;
                // Once a MiB is ready: a call per chunk would cost more than it saves.
                let mut drain = |out: &mut Vec<u8>| match &emit {
                    Some(f) if out.len() >= 1 << 20 => {
                        let bytes = js_sys::Uint8Array::from(&out[..]);
                        out.clear();
                        f.call1(&JsValue::NULL, &bytes).map(drop).map_err(|e| {
                            thrown = Some(e);
                            Error::InvalidInput("the output stream failed".into())
                        })
                    }
                    _ => Ok(()),
                };
                let r = e.push_draining(input, &mut out, &mut drain);
                if let Some(e) = thrown {
                    return Err(e);
                }
                r.map_err(|e| js_error(&e))?
            }
        }
        Ok(out)
    }

    /// Once finished with a size, what `inspect` reports of the output; else `undefined`.
    pub fn report(&self) -> Result<JsValue, JsValue> {
        match &self.enc {
            Either::Sized(e) => match e.report() {
                Some(r) => super::report_js(&r),
                None => Ok(JsValue::UNDEFINED),
            },
            Either::Unsized(_) => Ok(JsValue::UNDEFINED),
        }
    }

    /// Ends the input; returns the last records.
    pub fn finish(&mut self) -> Result<Vec<u8>, JsValue> {
        let mut out = Vec::new();
        match &mut self.enc {
            Either::Unsized(e) => e.finish(&mut out),
            Either::Sized(e) => e.finish(&mut out).map_err(|e| js_error(&e))?,
        }
        Ok(out)
    }
}
