//! Random access to compressed bytes, for the decoders that index a file before they decode.

use super::Error;

/// Where compressed bytes are read from: a slice in memory, or a buffer outside this module's
/// memory (a JS `Uint8Array` in wasm) copied in piece by piece, so that a whole file is never
/// copied at once.
pub trait Source {
    /// Total bytes.
    fn size(&self) -> usize;
    /// Bytes `pos..pos + len` (the caller keeps them in range of [`Source::size`]).
    fn read(&mut self, pos: usize, len: usize) -> Result<&[u8], Error>;
}

impl Source for &[u8] {
    fn size(&self) -> usize {
        self.len()
    }
    fn read(&mut self, pos: usize, len: usize) -> Result<&[u8], Error> {
        pos.checked_add(len)
            .and_then(|end| self.get(pos..end))
            .ok_or(Error::Truncated)
    }
}
