//! Push-style decoding of ZipNN files. A ZipNN file is a sequence of independent frames (one
//! frame unless it was written in streaming mode); a frame's tables and payload are stream-major,
//! so a frame can only be decoded once it is complete. Memory is therefore one frame (1 MiB
//! for zipnn's streaming files), plus one decoded chunk: each goes to the sink as it is decoded.
//! A sink that is [`full`](Sink::full) pauses a frame between chunks ([`ZipnnDecoder::push_units`]),
//! so that a single-frame file of gigabytes never piles up its output.

use super::Sink;
use crate::format::zipnn::{
    after_last_frame, check_limit, decode_chunks_from, ChunkOut, FrameHeader, FrameLayout,
    HEADER_LEN, MAGIC, MAX_HEADER_LEN,
};
use crate::format::{reserve_toward, to_usize, Error, Limits};
use alloc::vec::Vec;

/// Push-style decoder of a ZipNN file (`.znn`: one frame, or zipnn's streaming frames).
pub struct ZipnnDecoder {
    limits: Limits,
    pending: Vec<u8>,
    /// The current frame's header, once its bytes (shape block included) arrived.
    frame: Option<FrameHeader>,
    offset: u64,
    frames: u64,
    /// The first frame's streaming flag: a non-streaming file has exactly one frame.
    streaming: Option<bool>,
    /// A complete frame (in `pending`) whose chunks are going out.
    out: Option<FrameOut>,
    /// One decoded chunk, and the decoder's scratch (both reused across frames).
    bufs: ChunkBufs,
    failed: Option<Error>,
    /// `finish` succeeded: a ZipNN file has no end record, so more input is the caller's
    /// mistake, not another frame.
    finished: bool,
}

impl ZipnnDecoder {
    /// A decoder refusing sizes beyond `limits`.
    pub fn new(limits: Limits) -> Self {
        ZipnnDecoder {
            limits,
            pending: Vec::new(),
            frame: None,
            offset: 0,
            frames: 0,
            streaming: None,
            out: None,
            bufs: ChunkBufs::default(),
            failed: None,
            finished: false,
        }
    }

    /// Decoded bytes delivered so far (those of a frame still going out included).
    pub fn decoded(&self) -> u64 {
        self.offset + self.out.as_ref().map_or(0, FrameOut::delivered)
    }

    /// Whether a complete frame still has chunks to decode (the sink was full): call
    /// [`push_units`](Self::push_units) again, with more input or none, once it has room.
    pub fn busy(&self) -> bool {
        self.out.is_some()
    }

    /// Takes all of `input`, decoding every frame it completes whole.
    pub fn push(&mut self, input: &[u8], sink: &mut dyn Sink) -> Result<(), Error> {
        self.push_paused(input, sink, false).map(|_| ())
    }

    /// As [`push`](Self::push), but stops between two chunks once `sink` is full; returns how
    /// many bytes of `input` were used (the caller keeps the rest).
    pub fn push_units(&mut self, input: &[u8], sink: &mut dyn Sink) -> Result<usize, Error> {
        self.push_paused(input, sink, true)
    }

    fn push_paused(
        &mut self,
        input: &[u8],
        sink: &mut dyn Sink,
        pause: bool,
    ) -> Result<usize, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = if self.finished && !input.is_empty() {
            Err(Error::InvalidInput("input after finish".into()))
        } else {
            self.push_inner(input, sink, pause)
        };
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.pending = Vec::new();
            // What the sink already has of the frame still counts as delivered.
            self.offset = self.decoded();
            self.out = None;
        }
        r
    }

    fn push_inner(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn Sink,
        pause: bool,
    ) -> Result<usize, Error> {
        let len = input.len();
        loop {
            // A frame whose chunks are not all out goes on first.
            if self.out.is_some() && !self.finish_frame(sink, pause)? {
                return Ok(len - input.len());
            }
            if input.is_empty() {
                return Ok(len);
            }
            if self.streaming == Some(false) && self.frames == 1 {
                return Err(Error::corrupt("bytes after a non-streaming ZipNN frame"));
            }
            let need = match &self.frame {
                Some(h) => to_usize(h.frame_len)?,
                None => header_wait(&self.pending),
            };
            let take = need.saturating_sub(self.pending.len()).min(input.len());
            let most = if self.frame.is_some() {
                need
            } else {
                usize::MAX
            };
            append_within(&mut self.pending, &input[..take], most)?;
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
            let h = self.frame.take().expect("checked above");
            self.out = Some(FrameOut::new(&self.pending, h, self.offset)?);
        }
    }

    fn start_frame(&mut self, h: FrameHeader) -> Result<(), Error> {
        // The whole-file reader's checks (`zipnn::frames_from`), in its order.
        h.check_frame(self.frames)?;
        check_limit(self.offset, &h, &self.limits)?;
        if h.delta != 0 {
            return Err(crate::format::zipnn::missing_base());
        }
        self.streaming.get_or_insert(h.streaming_log2.is_some());
        self.frame = Some(h);
        Ok(())
    }

    /// Decodes the current frame's remaining chunks into `sink`; with `pause`, stops before a
    /// chunk once the sink is full. Returns whether the frame is done.
    fn finish_frame(&mut self, sink: &mut dyn Sink, pause: bool) -> Result<bool, Error> {
        let Some(out) = &mut self.out else {
            return Ok(true);
        };
        if !out.run(&self.pending, sink, pause, &mut self.bufs)? {
            return Ok(false);
        }
        self.offset += out.h.orig_len;
        self.frames += 1;
        self.pending.clear();
        self.out = None;
        Ok(true)
    }

    /// End of input: the last frame must be complete.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.out.is_some() {
            return Err(Error::InvalidInput(
                "finish while a frame's chunks wait for room: push_units until not busy".into(),
            ));
        }
        if self.frames == 0 || self.frame.is_some() || !self.pending.is_empty() {
            self.failed = Some(Error::Truncated);
            return Err(Error::Truncated);
        }
        self.finished = true;
        Ok(())
    }
}

/// Appends `bytes` to `buf`, whose length will not pass `most` (the frame's), growing it as
/// [`reserve_toward`] does: a frame claiming 1 GiB takes room for it once 64 MiB have come
/// (a 1.1 GB frame took 3.25 GB of wasm memory by doubling).
pub(super) fn append_within(buf: &mut Vec<u8>, bytes: &[u8], most: usize) -> Result<(), Error> {
    reserve_toward(buf, buf.len() + bytes.len(), most)?;
    buf.extend_from_slice(bytes);
    Ok(())
}

/// A complete frame whose chunks go to a sink one at a time, so that a frame of gigabytes
/// can pause between two of them while the sink is full.
pub(super) struct FrameOut {
    pub h: FrameHeader,
    layout: FrameLayout,
    next: usize,
    /// Decoded offset of the frame's first byte.
    offset: u64,
}

/// A decoded chunk and the decoder's scratch, reused from chunk to chunk and frame to frame.
#[derive(Default)]
pub(super) struct ChunkBufs {
    chunk: Vec<u8>,
    scratch: Vec<u8>,
}

impl FrameOut {
    /// `frame`: all of it; its header `h` is checked.
    pub fn new(frame: &[u8], h: FrameHeader, offset: u64) -> Result<Self, Error> {
        let layout = FrameLayout::read(&mut &frame[..], &h, h.orig_len)?;
        Ok(FrameOut {
            h,
            layout,
            next: 0,
            offset,
        })
    }

    /// Decoded bytes of the frame handed to the sink so far.
    pub fn delivered(&self) -> u64 {
        self.layout.output_len(0..self.next)
    }

    /// Decodes the remaining chunks of `frame` into `sink`; with `pause`, stops before a chunk
    /// once the sink is full. Returns whether all are out.
    pub fn run(
        &mut self,
        frame: &[u8],
        sink: &mut dyn Sink,
        pause: bool,
        bufs: &mut ChunkBufs,
    ) -> Result<bool, Error> {
        while self.next < self.layout.chunks {
            if pause && sink.full() {
                return Ok(false);
            }
            let c = self.next..self.next + 1;
            let bytes = self.layout.output(c.clone());
            let mut out = ToSink {
                sink: &mut *sink,
                offset: self.offset + bytes.start,
                len: to_usize(bytes.end - bytes.start)?,
                chunk: &mut bufs.chunk,
            };
            decode_chunks_from(
                &mut &frame[..],
                &self.h,
                &self.layout,
                c,
                &mut out,
                &mut bufs.scratch,
            )?;
            self.next += 1;
        }
        Ok(true)
    }
}

/// A frame's chunks handed to the sink from a reused buffer, at decoded `offset` plus their
/// place in the decoded range.
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

/// Bytes to hold before parsing a frame header that `pending` (its first bytes) does not
/// complete: its 32 fixed bytes, then as many as its shape block can take, up to the frame's
/// own length. Reading on a byte at a time re-parsed the header for each byte of a long
/// shape block (quadratic); past the frame's length, where only a damaged header still needs
/// bytes, it goes on a byte at a time as before.
fn header_wait(pending: &[u8]) -> usize {
    let n = pending.len();
    let Some(len) = pending.get(24..32).and_then(|b| b.first_chunk::<8>()) else {
        return HEADER_LEN.max(n + 1);
    };
    let frame_len = u64::from_le_bytes(*len).min(MAX_HEADER_LEN as u64) as usize;
    frame_len.max(n + 1)
}
