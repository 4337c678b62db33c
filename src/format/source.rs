//! Random access to compressed bytes, for the decoders that index a file before they decode.

use super::Error;

/// Where compressed bytes are read from: a slice in memory, a file, or a buffer outside this
/// module's memory (a JS `Uint8Array` in wasm) copied in piece by piece, so that a whole file
/// is never copied at once. Positions are 64-bit: a file read in pieces may be larger than a
/// 32-bit address space (wasm32) could hold.
pub trait Source {
    /// Total bytes.
    fn size(&self) -> u64;
    /// Bytes `pos..pos + len` (the caller keeps them in range of [`Source::size`]).
    fn read(&mut self, pos: u64, len: usize) -> Result<&[u8], Error>;
    /// At most `max` bytes at `pos`: fewer where the file ends sooner.
    fn read_upto(&mut self, pos: u64, max: usize) -> Result<&[u8], Error> {
        let len = self.size().saturating_sub(pos).min(max as u64) as usize;
        self.read(pos, len)
    }
}

impl Source for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read(&mut self, pos: u64, len: usize) -> Result<&[u8], Error> {
        usize::try_from(pos)
            .ok()
            .and_then(|pos| self.get(pos..pos.checked_add(len)?))
            .ok_or(Error::Truncated)
    }
}
