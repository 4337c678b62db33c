//! zipnn-wasm: lossless compression of AI model weights.
//!
//! The pipeline, one folder per layer (lower layers never import higher ones):
//! `dtype` (element types, byte grouping) → `entropy` (bit I/O, huff0, FSE/tANS) →
//! `format` (our `.znw` container, ZipNN frames, tensor-file parsers) → `stream`
//! (push-style encoder/decoder) → hosts (`wasm` bindings, `bin/zipnn` CLI).
#![no_std]
#![forbid(unsafe_code)]

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
    /// Not a format we know: plain, uncompressed bytes.
    Unknown,
}

/// Detects the format from the magic number (needs the first 8 bytes).
pub fn detect(data: &[u8]) -> Format {
    if data.starts_with(&format::znw::MAGIC) {
        Format::Znw
    } else {
        Format::Unknown
    }
}

/// Compresses `data` into our `.znw` container.
pub fn compress(data: &[u8], opts: &Options) -> Result<Vec<u8>, Error> {
    format::znw::compress(data, opts)
}

/// Decompresses any format we read, detected from its magic number.
pub fn decompress(data: &[u8], limits: &Limits) -> Result<Vec<u8>, Error> {
    match detect(data) {
        Format::Znw => format::znw::decompress(data, limits, 1),
        Format::Unknown => Err(Error::NotCompressed),
    }
}

#[cfg(target_arch = "wasm32")]
pub mod wasm;
