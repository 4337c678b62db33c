//! huff0: Huffman coding bit-exact with zstd / FiniteStateEntropy (RFC 8878 §4.2.1).
//!
//! A block is a *tree description* followed by either one stream (`1x`) or a 6-byte jump table
//! and four streams (`4x`, what `HUF_compress` / `HUF_compress4X` write and IBM ZipNN uses):
//!
//! * Tree description (§4.2.1.1–3): a header byte `h`. `h < 128`: the next `h` bytes are
//!   FSE-compressed weights (accuracy log <= 6, two states). `h >= 128`: `h - 127` weights
//!   follow as 4-bit fields, high nibble first. The last symbol's weight is implied (it
//!   completes the sum of `2^(w-1)` to a power of two `2^table_log`, `table_log <= 11`).
//!   A symbol of weight `w > 0` has a code of `table_log + 1 - w` bits; codes are canonical,
//!   the longest first, symbols in increasing order within a length.
//! * Jump table (4x only): three little-endian u16, the byte sizes of streams 1–3; stream 4 is
//!   the rest. With `seg = (n + 3) / 4`, streams 1–3 regenerate `seg` bytes and stream 4 the
//!   remainder.
//! * Streams: zstd backward bitstreams; symbols are read first-to-last, each stream must be
//!   consumed to its exact last bit.
//!
//! Decoding is table-driven over an 11-bit window: a single-symbol table (the reference, and the
//! fast loop for trees of long codes) and a multi-symbol table whose `u64` entries hold up to five
//! symbols, their count and the bits they consume; the four streams are decoded interleaved.

use super::fse;
use super::{EntropyError, Pace};

mod bmi2;
mod decode;
mod encode;
#[cfg(test)]
mod tests;
mod weights;

pub use decode::{
    decompress_1x, decompress_4x, decompress_4x_paced, decompress_4x_wide, DecodeTable,
};
pub use encode::{
    compress_1x, compress_4x, compress_4x_below, compress_4x_if_smaller, compress_4x_wide_below,
    compress_4x_with_counts, estimate_bits, Code, EncodeTable,
};

pub use super::fse::histogram;

/// Longest code length (and so decoding table log) this implementation writes and accepts.
pub const MAX_TABLE_LOG: u32 = 11;
/// Inputs shorter than this are never Huffman-coded (`compress_*` return `None`).
pub const MIN_INPUT: usize = 16;

pub(crate) const LOOKUP_BITS: u32 = 11;
const LOOKUP_SIZE: usize = 1 << LOOKUP_BITS;
/// Most symbols one multi-symbol entry holds (written with one 8-byte store).
const MULTI_MAX: u32 = 5;

/// Width of the sizes in a `4x` jump table: zstd's u16 (streams of at most 64 KiB, so
/// blocks of up to about 256 KiB), or u32 for longer blocks (our block mode 11).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Jump {
    /// Three u16 sizes, 6 bytes (block mode 2).
    U16,
    /// Three u32 sizes, 12 bytes (block mode 11).
    U32,
}

impl Jump {
    fn width(self) -> usize {
        match self {
            Jump::U16 => 2,
            Jump::U32 => 4,
        }
    }
}
