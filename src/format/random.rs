//! Reads at decoded offsets of any compressed file we read, the format told from its first
//! bytes: our `.znw` (`znw::RandomAccess`) or ZipNN's frames and `.znn.safetensors`
//! (`zipnn::random::RandomAccess`). A loader reads one tensor without decoding the rest.

use super::zipnn::{self, safetensors::is_znn_safetensors_source};
use super::znw::{self, Segment};
use super::{fill, Container, Error, Limits, Source};
use crate::Format;

/// A compressed file opened for reads at decoded offsets ([`open_random_access`]).
#[derive(Debug)]
pub enum RandomAccess {
    /// Our `.znw` container (not a delta).
    Znw(znw::RandomAccess<'static>),
    /// ZipNN frames or a `.znn.safetensors` file.
    Zipnn(zipnn::random::RandomAccess),
}

/// Opens `src` for reads at decoded offsets: reads the headers (every `.znw` record head,
/// every ZipNN frame header) and checks the decoded size against `limits`. Deltas need their
/// base (`Unsupported`; a `.znw` delta opens with [`znw::RandomAccess::open`] and its base).
pub fn open_random_access<S: Source + ?Sized>(
    src: &mut S,
    limits: &Limits,
) -> Result<RandomAccess, Error> {
    match crate::detect(src.read_upto(0, 16)?) {
        Format::Znw => znw::RandomAccess::open(src, None, limits).map(RandomAccess::Znw),
        Format::Zipnn => {
            zipnn::random::RandomAccess::open_frames(src, limits).map(RandomAccess::Zipnn)
        }
        // Told from the whole JSON header, which 16 bytes do not hold (as `inspect_source` does).
        _ if is_znn_safetensors_source(src) => {
            zipnn::random::RandomAccess::open_safetensors(src, limits).map(RandomAccess::Zipnn)
        }
        _ => Err(crate::unknown_format(src.read_upto(0, 16)?)),
    }
}

impl RandomAccess {
    /// The decoded size.
    pub fn size(&self) -> u64 {
        match self {
            RandomAccess::Znw(r) => r.size(),
            RandomAccess::Zipnn(r) => r.size(),
        }
    }

    /// Where each tensor (or, in a file of ZipNN frames, each frame) lies in the decoded file.
    pub fn segments(&self) -> &[Segment] {
        match self {
            RandomAccess::Znw(r) => &r.header().segments,
            RandomAccess::Zipnn(r) => r.segments(),
        }
    }

    /// What kind of file the decoded bytes are.
    pub fn container(&self) -> Container {
        match self {
            RandomAccess::Znw(r) => r.header().container,
            RandomAccess::Zipnn(r) => r.container(),
        }
    }

    /// Fills `dst` with the decoded bytes at `offset`, reading from `src` (the file this was
    /// opened on) only what they need. `InvalidInput` for a range past the decoded size.
    pub fn read_at<S: Source + ?Sized>(
        &mut self,
        src: &mut S,
        offset: u64,
        dst: &mut [u8],
    ) -> Result<(), Error> {
        self.read_with(src, offset, dst.len() as u64, fill(dst))
    }

    /// [`RandomAccess::read_at`] for `len` bytes handed to `emit(position in the range,
    /// bytes)` a piece at a time, in order (for a destination outside this module's memory,
    /// or larger than it).
    pub fn read_with<S: Source + ?Sized>(
        &mut self,
        src: &mut S,
        offset: u64,
        len: u64,
        emit: impl FnMut(u64, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self {
            RandomAccess::Znw(r) => r.read_with(src, offset, len, emit),
            RandomAccess::Zipnn(r) => r.read_with(src, offset, len, emit),
        }
    }
}
