//! Push-style decoding of ZipNN files. A ZipNN file is a sequence of independent frames (one
//! frame unless it was written in streaming mode); a frame's tables and payload are stream-major,
//! so a frame can only be decoded once it is complete. Memory is therefore one frame (1 MiB
//! for zipnn's streaming files), plus one decoded chunk: each goes to the sink as it is decoded.

use super::Sink;
use crate::format::zipnn::{
    after_last_frame, check_limit, decode_frame_with, ChunkOut, FrameHeader, HEADER_LEN, MAGIC,
};
use crate::format::{to_usize, Error, Limits};
use alloc::vec::Vec;

pub struct ZipnnDecoder {
    limits: Limits,
    pending: Vec<u8>,
    /// The current frame's header, once its bytes (shape block included) arrived.
    frame: Option<FrameHeader>,
    offset: u64,
    frames: u64,
    /// The first frame's streaming flag: a non-streaming file has exactly one frame.
    streaming: Option<bool>,
    /// One decoded chunk, and the decoder's scratch (both reused across frames).
    chunk: Vec<u8>,
    scratch: Vec<u8>,
    failed: Option<Error>,
}

impl ZipnnDecoder {
    pub fn new(limits: Limits) -> Self {
        ZipnnDecoder {
            limits,
            pending: Vec::new(),
            frame: None,
            offset: 0,
            frames: 0,
            streaming: None,
            chunk: Vec::new(),
            scratch: Vec::new(),
            failed: None,
        }
    }

    pub fn decoded(&self) -> u64 {
        self.offset
    }

    pub fn push(&mut self, input: &[u8], sink: &mut dyn Sink) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.push_inner(input, sink);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.pending = Vec::new();
        }
        r
    }

    fn push_inner(&mut self, mut input: &[u8], sink: &mut dyn Sink) -> Result<(), Error> {
        while !input.is_empty() {
            if self.streaming == Some(false) && self.frames == 1 {
                return Err(Error::corrupt("bytes after a non-streaming ZipNN frame"));
            }
            let need = match &self.frame {
                Some(h) => to_usize(h.frame_len)?,
                None => HEADER_LEN.max(self.pending.len() + 1),
            };
            let take = need.saturating_sub(self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.frame.is_none() {
                // After a frame, bytes that cannot begin another are damage, found at once.
                let magic = self.pending.len().min(2);
                if self.frames > 0 && self.pending[..magic] != MAGIC[..magic] {
                    return Err(after_last_frame(&self.pending));
                }
                if self.pending.len() < HEADER_LEN {
                    continue;
                }
                match FrameHeader::parse_at(&self.pending, self.frames) {
                    // The shape block is variable-length: wait for more bytes.
                    Err(Error::Truncated) => continue,
                    Err(e) => return Err(e),
                    Ok(h) => self.start_frame(h)?,
                }
            }
            let Some(h) = &self.frame else { continue };
            if (self.pending.len() as u64) < h.frame_len {
                continue;
            }
            self.finish_frame(sink)?;
        }
        Ok(())
    }

    fn start_frame(&mut self, h: FrameHeader) -> Result<(), Error> {
        // The whole-file reader's checks (`zipnn::frames_from`), in its order.
        check_limit(self.offset, &h, &self.limits)?;
        h.check_frame(self.frames)?;
        if h.delta != 0 {
            return Err(Error::Unsupported(
                "ZipNN delta frame: decoding needs the base file it was made against".into(),
            ));
        }
        self.streaming.get_or_insert(h.streaming_log2.is_some());
        self.frame = Some(h);
        Ok(())
    }

    fn finish_frame(&mut self, sink: &mut dyn Sink) -> Result<(), Error> {
        let Some(h) = self.frame.take() else {
            return Ok(());
        };
        let mut out = ToSink {
            sink,
            offset: self.offset,
            len: to_usize(h.orig_len)?,
            chunk: &mut self.chunk,
        };
        decode_frame_with(&self.pending, &h, &mut out, &mut self.scratch)?;
        self.offset += h.orig_len;
        self.frames += 1;
        self.pending.clear();
        Ok(())
    }

    /// End of input: the last frame must be complete.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.frames == 0 || self.frame.is_some() || !self.pending.is_empty() {
            self.failed = Some(Error::Truncated);
            return Err(Error::Truncated);
        }
        Ok(())
    }
}

/// A frame's chunks handed to the sink one by one from a reused buffer, at decoded `offset`
/// plus their place in the frame.
struct ToSink<'a> {
    sink: &'a mut dyn Sink,
    offset: u64,
    len: usize,
    chunk: &'a mut Vec<u8>,
}

impl ChunkOut for ToSink<'_> {
    fn total(&self) -> usize {
        self.len
    }
    fn slot(&mut self, _start: usize, len: usize) -> Result<&mut [u8], Error> {
        // One chunk: at most 4 GiB (chunk_log2 32) or the frame's length, so fallible.
        crate::format::grow(self.chunk, len)
    }
    fn done(&mut self, start: usize, len: usize) -> Result<(), Error> {
        self.sink
            .data(self.offset + start as u64, &self.chunk[..len])
    }
}
