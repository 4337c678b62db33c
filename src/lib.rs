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
