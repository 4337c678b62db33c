//! Streaming encoder for input whose length is known before it arrives (a file read in pieces,
//! larger than memory allows whole). Unlike [`super::Encoder`], its header carries the size
//! and, when the file's first bytes say where its tensors are (safetensors, GGUF), the
//! segment table: each tensor is coded as its own type, and the file is the one
//! [`znw::compress`] writes for the same bytes. Other files are coded as one segment of the
//! type measured on their first bytes.
//!
//! Memory: the first [`PREFIX`] bytes (or a safetensors JSON header, up to 100 MB) until the
//! header is decided, then one chunk.

use crate::format::safetensors;
use crate::format::znw::{self, Options, Piece, PieceEncoder};
use crate::format::Error;
use alloc::vec::Vec;

/// Bytes read before the header is decided: a whole file up to this size is coded exactly as
/// [`znw::compress`] codes it, whatever its container; a GGUF tensor table must lie within it.
pub const PREFIX: usize = 32 << 20;

pub struct SizedEncoder {
    total: u64,
    opts: Options,
    /// Input bytes received so far.
    received: u64,
    /// The first bytes, until the header is written.
    prefix: Vec<u8>,
    /// Chunks planned from the header, in file order; `next` is the first not yet written.
    pieces: Vec<Piece>,
    next: usize,
    /// The start of piece `next` (shorter than it), when it came in parts.
    pending: Vec<u8>,
    enc: PieceEncoder,
    started: bool,
    finished: bool,
}

impl SizedEncoder {
    /// An encoder for `total` input bytes (`opts.tans` and `opts.threads` are not used: one
    /// thread, the default modes).
    pub fn new(total: u64, opts: Options) -> Result<Self, Error> {
        znw::check_chunk_size(opts.chunk_size)?;
        Ok(SizedEncoder {
            total,
            opts: Options {
                tans: false,
                threads: 1,
                ..opts
            },
            received: 0,
            prefix: Vec::new(),
            pieces: Vec::new(),
            next: 0,
            pending: Vec::new(),
            enc: PieceEncoder::default(),
            started: false,
            finished: false,
        })
    }

    /// Feeds input; appends whatever records are complete to `out`. More input than the size
    /// given is an `InvalidInput` error.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.finished {
            return Err(Error::InvalidInput(
                "input after the end of the stream".into(),
            ));
        }
        if input.len() as u64 > self.total - self.received {
            return Err(Error::InvalidInput(alloc::format!(
                "more input than the {} bytes the stream was made for",
                self.total
            )));
        }
        self.received += input.len() as u64;
        if self.started {
            return self.feed(input, out);
        }
        self.prefix
            .try_reserve(input.len())
            .map_err(|_| Error::no_memory(self.prefix.len() as u64 + input.len() as u64))?;
        self.prefix.extend_from_slice(input);
        if self.prefix.len() >= self.prefix_needed() {
            self.start(out)?;
        }
        Ok(())
    }

    /// Writes what is left and the end record. Input short of the size given is an
    /// `InvalidInput` error.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.finished {
            return Ok(());
        }
        if self.received != self.total {
            return Err(Error::InvalidInput(alloc::format!(
                "the stream ended after {} bytes, not the {} it was made for",
                self.received,
                self.total
            )));
        }
        self.start(out)?;
        debug_assert!(self.next == self.pieces.len() && self.pending.is_empty());
        self.finished = true;
        znw::chunk::write_end(self.total, self.pieces.len() as u64, out);
        Ok(())
    }

    /// How many first bytes decide the header: [`PREFIX`], or a safetensors JSON header that
    /// is longer, but never more than the file.
    fn prefix_needed(&self) -> usize {
        let p = &self.prefix;
        let mut need = PREFIX as u64;
        if p.len() >= 9 && p[8] == b'{' {
            let n = u64::from_le_bytes(p[..8].try_into().unwrap_or([0; 8]));
            if (2..=safetensors::MAX_HEADER).contains(&n) {
                need = need.max(8 + n);
            }
        }
        need.min(self.total) as usize
    }

    /// Writes the header from the prefix, plans the chunks and codes the prefix's.
    fn start(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if core::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        let prefix = core::mem::take(&mut self.prefix);
        let o = &self.opts;
        let header = znw::describe_prefix(&prefix, self.total, o.dtype, o.chunk_size);
        header.write(out);
        // A whole file is cut where its statistics change, as `compress` cuts it.
        let whole = prefix.len() as u64 == self.total;
        self.pieces = znw::plan_cut(
            &header,
            self.total,
            whole.then_some(&prefix[..]),
            znw::CUT_WINDOW,
        );
        self.feed(&prefix, out)
    }

    /// Codes every piece that `input` completes, keeping the start of the next.
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        while let Some(p) = self.pieces.get(self.next) {
            let len = p.len as usize;
            if self.pending.is_empty() && input.len() >= len {
                let (now, rest) = input.split_at(len);
                self.encode(now, out)?;
                input = rest;
                continue;
            }
            if input.is_empty() {
                break;
            }
            let take = (len - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() == len {
                let piece = core::mem::take(&mut self.pending);
                self.encode(&piece, out)?;
                self.pending = piece;
                self.pending.clear();
            }
        }
        Ok(())
    }

    fn encode(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let p = self.pieces[self.next];
        self.next += 1;
        self.enc.encode(bytes, p.offset, None, &p, &self.opts, out)
    }
}
