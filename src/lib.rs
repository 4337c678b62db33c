//! zipnn-wasm: lossless compression of AI model weights.
//!
//! The pipeline, one folder per layer (lower layers never import higher ones):
//! `dtype` (element types, byte grouping) → `entropy` (bit I/O, huff0, FSE/tANS) →
//! `format` (our `.znw` container, ZipNN frames, tensor-file parsers) → `stream`
//! (push-style encoder/decoder) → hosts (`wasm` bindings, `bin/zipnn` CLI).
//!
//! Features: `std` (default; threads), `cli` (default; the `zipnn`
//! binary), `js` (default; the JS API when built for wasm32). A crate that builds its own
//! wasm module on this one takes `default-features = false, features = ["std"]`; without
//! `std` the codec is `no_std` + `alloc`.
//!
//! ```
//! use zipnn_wasm::{compress, decompress, decompress_into, decoded_len, DType, DTypeChoice,
//!                  Limits, Options};
//!
//! // A raw bf16 buffer (a safetensors, ONNX, GGUF... file names its own types).
//! let weights: Vec<u8> = (0..4096u32).flat_map(|i| (0x3c00 + (i % 97) as u16).to_le_bytes()).collect();
//! let opts = Options { dtype: DTypeChoice::Fixed(DType::BF16), ..Options::default() };
//! let packed = compress(&weights, &opts)?;
//!
//! // Untrusted input: bound what it may decode to.
//! let limits = Limits { max_output: 1 << 30 };
//! assert_eq!(decompress(&packed, &limits)?, weights);
//!
//! // Into memory already mapped (a buffer reused from file to file): the fastest path.
//! let mut out = vec![0u8; decoded_len(&packed, &limits)? as usize];
//! decompress_into(&packed, &mut out)?;
//! assert_eq!(out, weights);
//!
//! // As the bytes arrive, in bounded memory: `.znw` or ZipNN frames, any split of the input.
//! use zipnn_wasm::stream::{AutoDecoder, VecSink};
//! let (mut dec, mut sink) = (AutoDecoder::new(limits), VecSink::default());
//! for piece in packed.chunks(1000) {
//!     dec.push(piece, &mut sink)?;
//! }
//! dec.finish()?;
//! assert_eq!(sink.out, weights);
//! # Ok::<(), zipnn_wasm::Error>(())
//! ```
#![no_std]
// One module may opt out: entropy::huff0::bmi2 (a run-time CPU feature check).
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod dtype;
pub mod entropy;
pub mod format;
pub mod stream;

pub use dtype::DType;
pub use format::znw::{DTypeChoice, Options};
pub use format::{Error, Limits};

use alloc::vec::Vec;

/// Which compressed format a buffer holds, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Our `.znw` container.
    Znw,
    /// ZipNN frames (`.znn`): one frame or a streaming sequence.
    Zipnn,
    /// A safetensors file whose tensors zipnn compressed (`.znn.safetensors`).
    ZipnnSafetensors,
    /// Not a format we know: plain, uncompressed bytes.
    Unknown,
}

/// Detects the format from the magic number (ours and ZipNN's need the first 16 bytes; a
/// `.znn.safetensors` file needs its whole header).
pub fn detect(data: &[u8]) -> Format {
    if data.starts_with(&format::znw::MAGIC) {
        Format::Znw
    } else if format::zipnn::is_zipnn(data) {
        Format::Zipnn
    } else if format::zipnn::safetensors::is_znn_safetensors(data) {
        Format::ZipnnSafetensors
    } else {
        Format::Unknown
    }
}

/// The error for input of no format we read: the start of one cut short (a non-empty prefix
/// of a magic number, shorter than what tells the formats apart) is `Truncated`, as the
/// streaming decoders say at its end; anything else, the empty input too, `NotCompressed`.
/// `head`: the input's first 16 bytes, or all of it if shorter.
pub fn unknown_format(head: &[u8]) -> Error {
    let znw = head.len() < format::znw::MAGIC.len() && format::znw::MAGIC.starts_with(head);
    let zn = &format::zipnn::MAGIC[..head.len().min(2)];
    if !head.is_empty() && (znw || (head.len() < 16 && head.starts_with(zn))) {
        Error::Truncated
    } else {
        Error::NotCompressed
    }
}

/// Compresses `data` into our `.znw` container ([`format::znw::compress`]: the Vec keeps room
/// it did not use).
pub fn compress(data: &[u8], opts: &Options) -> Result<Vec<u8>, Error> {
    format::znw::compress(data, opts)
}

/// [`decompress`] for deltas (ours or ZipNN's): `base` is the file the delta was made against.
pub fn decompress_with_base(data: &[u8], base: &[u8], limits: &Limits) -> Result<Vec<u8>, Error> {
    match detect(data) {
        Format::Znw => format::znw::decompress_with_base(data, Some(base), limits, 1),
        Format::Zipnn => format::zipnn::decompress(data, Some(base), limits),
        _ => decompress(data, limits),
    }
}

/// Decompresses any format we read, detected from its magic number. Deltas need their base:
/// see [`decompress_with_base`].
pub fn decompress(data: &[u8], limits: &Limits) -> Result<Vec<u8>, Error> {
    match detect(data) {
        Format::Znw => format::znw::decompress(data, limits, 1),
        Format::Zipnn => format::zipnn::decompress(data, None, limits),
        Format::ZipnnSafetensors => format::zipnn::safetensors::decompress(data, limits),
        Format::Unknown => Err(unknown_format(data)),
    }
}

/// [`decompress`] into `out`, reusing its memory: afterwards `out` holds the file and nothing
/// else (its capacity is kept). Returns the decoded size. See [`decompress_over`] to skip the
/// zero-fill of the next file's bytes past this one's end.
pub fn decompress_to_vec(data: &[u8], out: &mut Vec<u8>, limits: &Limits) -> Result<usize, Error> {
    let r = decompress_over(data, out, limits);
    out.truncate(*r.as_ref().unwrap_or(&0));
    r
}

/// [`decompress`] over the front of `out`, which is written in place and grown only as
/// decoding reaches past its end, never shrunk: its capacity doubles, and takes the size the
/// header states once a sixteenth of it is reached (so at most 16 times what has decoded).
/// Decoding file after file into one vector faults in and zero-fills its pages once, and a
/// header that promises more than its data holds costs bounded memory. Returns the decoded
/// size: the file is `out[..n]`, and the bytes after it are a longer earlier file's (the wasm
/// `Decompressor` hands out views of `out[..n]`).
pub fn decompress_over(data: &[u8], out: &mut Vec<u8>, limits: &Limits) -> Result<usize, Error> {
    match detect(data) {
        Format::Znw => format::znw::decompress_to_vec(data, None, limits, 1, out),
        Format::Zipnn => format::zipnn::decompress_to_vec(data, None, limits, out),
        Format::ZipnnSafetensors => {
            format::zipnn::safetensors::decompress_to_vec(data, limits, out)
        }
        Format::Unknown => Err(unknown_format(data)),
    }
}

/// The decoded size of any format we read, from its headers alone (nothing is decoded;
/// sizes past `limits` are `TooLarge`): the length [`decompress_into`] wants. A delta's size
/// too, although decoding it needs its base.
pub fn decoded_len(data: &[u8], limits: &Limits) -> Result<u64, Error> {
    match detect(data) {
        Format::Znw => {
            let (_, chunks) = format::znw::index(data, limits)?;
            Ok(format::znw::decoded_total(&chunks))
        }
        Format::Zipnn => format::zipnn::frames(data, limits).map(|(_, total)| total),
        Format::ZipnnSafetensors => {
            format::zipnn::safetensors::plan(&mut &data[..], limits).map(|p| p.total)
        }
        Format::Unknown => Err(unknown_format(data)),
    }
}

/// [`decompress`] into `dst`, which must be exactly [`decoded_len`] bytes: reused memory, say,
/// whose pages are already mapped (a fresh output pays a page fault per 4 KiB). Returns that
/// size.
pub fn decompress_into(data: &[u8], dst: &mut [u8]) -> Result<usize, Error> {
    match detect(data) {
        Format::Znw => format::znw::decompress_into(data, dst, 1),
        Format::Zipnn => format::zipnn::decompress_into(data, None, dst),
        Format::ZipnnSafetensors => format::zipnn::safetensors::decompress_into(data, dst),
        Format::Unknown => Err(unknown_format(data)),
    }
}

/// What a compressed file holds, per segment: a `.znw` file's segment table, each tensor of a
/// `.znn.safetensors` file as restored, or each frame of a ZipNN frame file (format `zipnn`).
pub fn inspect(data: &[u8]) -> Result<format::report::Report, Error> {
    inspect_source(&mut &data[..])
}

/// [`inspect`] over any [`Source`](format::Source) (a file read at offsets, a buffer outside
/// wasm memory): reads headers, record and block heads and, for a raw file stored as bytes, a
/// 4 MiB sample; a file larger than memory can be inspected.
pub fn inspect_source<S: format::Source + ?Sized>(
    src: &mut S,
) -> Result<format::report::Report, Error> {
    match detect(src.read_upto(0, 16)?) {
        Format::Znw => format::znw::inspect_source(src),
        Format::Zipnn => format::zipnn::inspect_from(src),
        // Told from the whole JSON header, which 16 bytes do not hold.
        _ if format::zipnn::safetensors::is_znn_safetensors_source(src) => {
            format::zipnn::safetensors::inspect_source(src)
        }
        // The start of a file cut short, or not one at all, as `decompress` says.
        _ => Err(unknown_format(src.read_upto(0, 16)?)),
    }
}

#[cfg(all(target_arch = "wasm32", feature = "js"))]
pub mod wasm;

/// Pseudo-random bytes for unit tests (xorshift64 from `seed | 1`).
#[cfg(test)]
pub(crate) fn noise(n: usize, seed: u64) -> alloc::vec::Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
