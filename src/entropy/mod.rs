//! Entropy coders. Each knows only bytes: no dtype, no container.
pub mod bit_io;
pub mod block;
pub mod context;
pub mod fse;
pub mod huff0;
pub mod lz;
#[cfg(test)]
mod testdata;
mod varint;

use core::fmt;

/// Other work a decoder does a little of as it goes, told about how many symbols of its block
/// it has decoded so far (a guide for pacing, not an exact count). One pacer may serve several
/// blocks, whose counts each start at 0, so a pacer ignores counts it has passed. The chunk
/// decoders use it to bring the memory the merge will read and write into cache while huff0
/// computes (`format::ahead`).
pub trait Pace {
    fn decoded(&mut self, symbols: usize);
}

/// No other work.
impl Pace for () {
    #[inline(always)]
    fn decoded(&mut self, _symbols: usize) {}
}

/// Why an entropy-coded block could not be decoded. Decoders never panic on hostile input;
/// they return one of these instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntropyError {
    /// The block ends before the data it describes.
    Truncated,
    /// The block is malformed (bad table, bad bitstream, sizes that do not add up).
    Corrupt(&'static str),
    /// A block mode this decoder does not know (written by a newer encoder).
    UnknownMode(u8),
}

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntropyError::Truncated => f.write_str("entropy block is truncated"),
            EntropyError::Corrupt(why) => write!(f, "entropy block is corrupt: {why}"),
            EntropyError::UnknownMode(m) => write!(f, "unknown block mode {m}"),
        }
    }
}
