//! Reads at any decoded offset of a `.znw` file, as `safe_open` reads one tensor of a
//! safetensors file: the header and the record heads are read once, and a read decodes only
//! the chunks that hold its bytes (FORMAT.md §1: every chunk decodes on its own).

use super::{check_base, chunk, decoded_total, index_source, ChunkInfo, Header};
use crate::format::{fill, grow, range_end, Error, Limits, Source};
use alloc::vec::Vec;

/// A `.znw` file opened for reads at decoded offsets. It keeps the header and the chunk
/// index (about 40 bytes a chunk: 1.4 MB for a 9 GB model in 256 KiB chunks) and the last
/// chunk it decoded, since parsers read a file in many small pieces (a length, then a JSON
/// header, then a tensor). The file is read through a [`Source`] given to each call, so the
/// same value serves a slice, a file or a JS reader.
#[derive(Debug)]
pub struct RandomAccess<'b> {
    header: Header,
    chunks: Vec<ChunkInfo>,
    base: Option<&'b [u8]>,
    /// The chunk whose decoded bytes (with the base applied) are in `buf`.
    cached: Option<usize>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl<'b> RandomAccess<'b> {
    /// Reads the header and every record head of `src` (not the bodies), and checks the end
    /// record. A delta needs `base`, the file it was made against (checked against the
    /// header); `limits` bounds the decoded size as for a whole decode.
    pub fn open<S: Source + ?Sized>(
        src: &mut S,
        base: Option<&'b [u8]>,
        limits: &Limits,
    ) -> Result<Self, Error> {
        let (header, chunks) = index_source(src, limits)?;
        check_base(&header, base)?;
        Ok(RandomAccess {
            base: header.base.and(base),
            header,
            chunks,
            cached: None,
            buf: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// The file's header: its segment table says where each tensor lies.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The decoded size.
    pub fn size(&self) -> u64 {
        decoded_total(&self.chunks)
    }

    /// Fills `dst` with the decoded bytes at `offset`, reading from `src` (the file this was
    /// opened on) only the chunks that hold them. Each chunk is verified as a whole decode
    /// verifies it; a damaged chunk fails only the reads that need it.
    pub fn read_at<S: Source + ?Sized>(
        &mut self,
        src: &mut S,
        offset: u64,
        dst: &mut [u8],
    ) -> Result<(), Error> {
        self.read_with(src, offset, dst.len() as u64, fill(dst))
    }

    /// [`RandomAccess::read_at`] for `len` bytes handed out a chunk's part at a time:
    /// `emit(position in the range, bytes)`, in order (for a destination outside this
    /// module's memory, or one larger than it).
    pub fn read_with<S: Source + ?Sized>(
        &mut self,
        src: &mut S,
        offset: u64,
        len: u64,
        mut emit: impl FnMut(u64, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let end = range_end(offset, len, self.size())?;
        // Chunks are in decoded order and cover the file without gaps.
        let mut i = self
            .chunks
            .partition_point(|c| c.offset + c.head.raw_len as u64 <= offset);
        let mut at = offset;
        while at < end {
            let c = self.chunks[i];
            let bytes = self.decoded(src, i)?;
            let from = (at - c.offset) as usize;
            let to = (end - c.offset).min(bytes.len() as u64) as usize;
            emit(at - offset, &bytes[from..to])?;
            at = c.offset + to as u64;
            i += 1;
        }
        Ok(())
    }

    /// Chunk `i`'s decoded bytes, decoded now unless they are the last ones decoded.
    fn decoded<S: Source + ?Sized>(&mut self, src: &mut S, i: usize) -> Result<&[u8], Error> {
        let c = self.chunks[i];
        let raw = c.head.raw_len as usize;
        if self.cached != Some(i) {
            // Not valid again until this chunk has decoded and verified.
            self.cached = None;
            let body = src.read(c.body_offset, c.head.body_len as usize)?;
            // At most `max_chunk`, which the header bounds.
            let buf = &mut grow(&mut self.buf, raw)?[..raw];
            chunk::decode(&c.head, body, c.offset, buf, &mut self.scratch)?;
            if let Some(bytes) = self.base {
                let realign = &self.header.realign;
                super::Base { bytes, realign }.xor(buf, c.offset);
            }
            self.cached = Some(i);
        }
        Ok(&self.buf[..raw])
    }
}
