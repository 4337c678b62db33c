//! Push-style restoring of a `.znn.safetensors` file (zipnn's `compress_safetensors`, the form
//! of ZipNN models on model hubs) whose metadata lists its compressed tensors: the restored
//! header follows from the JSON header alone, so the file goes out a tensor at a time as it
//! arrives. Memory is the JSON header, then one compressed tensor (a frame decodes once it is
//! complete) and one decoded chunk; tensors stored as they are pass straight through.
//!
//! The restored file has its tensors in the order zipnn's own restore writes them (see
//! `format::zipnn::safetensors::Plan`), which is the file's order unless tensors of several
//! types were compressed (or a tensor stored as it was sorts among the compressed ones, which
//! are all `U8` in the file). A tensor that arrives before its turn is held, as it came, until
//! the tensors before it are out.
//!
//! A file without that list (zipnn writes none when the source had no `__metadata__`) names
//! its compressed tensors and their restored types only in each frame's header: it must be
//! read whole ([`crate::format::zipnn::safetensors::decompress`]).

use super::zipnn::{append_within, ChunkBufs, FrameOut};
use super::Sink;
use crate::dtype::DType;
use crate::format::safetensors::{self as st, MAX_HEADER};
use crate::format::zipnn::safetensors::{listed_plan, read_frame, trailing_bytes, Piece};
use crate::format::zipnn::{FrameHeader, HEADER_LEN};
use crate::format::znw::header::{Header, Segment};
use crate::format::{to_usize, Container, Error, Limits};
use alloc::string::String;
use alloc::vec::Vec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The 8-byte length of the JSON header.
    Prefix,
    /// The prefix and JSON header: this many bytes.
    Header(usize),
    Tensors,
    Done,
}

/// Push-style restore of a `.znn.safetensors` file that lists its compressed tensors in its
/// metadata: the restored header first, then each tensor, copied or decoded from its frame, in
/// the restored file's order (tensors that arrive early wait).
pub struct ZnnSafetensorsDecoder {
    limits: Limits,
    state: State,
    /// The prefix and JSON header as they arrive; then the current compressed tensor.
    pending: Vec<u8>,
    /// The restored file's tensors, in the restored order; `next` is the one going out.
    pieces: Vec<Piece>,
    next: usize,
    /// Indices into `pieces` in the order the input holds them; `recv` is the one arriving.
    arrival: Vec<usize>,
    recv: usize,
    /// Bytes of tensors that arrived before their turn (`None`: none held).
    held: Vec<Option<Vec<u8>>>,
    /// Tensors whose bytes have all arrived.
    complete: Vec<bool>,
    /// The current compressed tensor's frame header, read once its bytes arrived.
    head: Option<FrameHeader>,
    /// Input bytes taken so far (the offset of the next one in the file).
    at: u64,
    /// Restored bytes delivered.
    offset: u64,
    /// A complete frame (in `pending`) whose chunks are going out.
    out: Option<FrameOut>,
    bufs: ChunkBufs,
    failed: Option<Error>,
}

impl ZnnSafetensorsDecoder {
    /// A decoder refusing sizes beyond `limits`.
    pub fn new(limits: Limits) -> Self {
        ZnnSafetensorsDecoder {
            limits,
            state: State::Prefix,
            pending: Vec::new(),
            pieces: Vec::new(),
            next: 0,
            arrival: Vec::new(),
            recv: 0,
            held: Vec::new(),
            complete: Vec::new(),
            head: None,
            at: 0,
            offset: 0,
            out: None,
            bufs: ChunkBufs::default(),
            failed: None,
        }
    }

    /// Restored bytes delivered so far (those of a frame still going out included).
    pub fn decoded(&self) -> u64 {
        self.offset + self.out.as_ref().map_or(0, FrameOut::delivered)
    }

    /// Whether a complete frame still has chunks to decode, or a tensor held until its turn
    /// is ready to go out (the sink was full).
    pub fn busy(&self) -> bool {
        self.out.is_some() || self.complete.get(self.next).is_some_and(|&c| c)
    }

    /// Takes all of `input`.
    pub fn push(&mut self, input: &[u8], sink: &mut dyn Sink) -> Result<(), Error> {
        self.push_paused(input, sink, false).map(|_| ())
    }

    /// As [`push`](Self::push), but stops once `sink` is full (between two chunks of a frame,
    /// or before passing on stored bytes); returns how many bytes of `input` were used.
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
        let r = self.push_inner(input, sink, pause);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.pending = Vec::new();
            self.held = Vec::new();
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
        let given = input.len();
        loop {
            if let Some(out) = &mut self.out {
                if !out.run(&self.pending, sink, pause, &mut self.bufs)? {
                    return Ok(given - input.len());
                }
                self.offset += out.h.orig_len;
                self.out = None;
                self.head = None;
                self.pending.clear();
                self.next += 1;
            }
            match self.state {
                State::Prefix | State::Header(_) => {
                    let want = match self.state {
                        State::Header(n) => n,
                        _ => 8,
                    };
                    let take = (want - self.pending.len()).min(input.len());
                    append_within(&mut self.pending, &input[..take], want)?;
                    input = &input[take..];
                    self.at += take as u64;
                    if self.pending.len() < want {
                        return Ok(given);
                    }
                    if self.state == State::Prefix {
                        let n = u64::from_le_bytes(self.pending[..8].try_into().unwrap_or([0; 8]));
                        if !(2..=MAX_HEADER).contains(&n) {
                            return Err(Error::corrupt("safetensors header length out of range"));
                        }
                        self.state = State::Header(8 + to_usize(n)?);
                    } else {
                        self.start(sink)?;
                    }
                }
                State::Tensors => {
                    // Tensors whose turn it is and whose bytes are all here go out first.
                    if !self.emit_held(sink, pause)? {
                        return Ok(given - input.len());
                    }
                    if self.out.is_some() {
                        continue;
                    }
                    let Some(&j) = self.arrival.get(self.recv) else {
                        // Everything arrived and went out.
                        self.state = State::Done;
                        continue;
                    };
                    let (start, end, compressed) = {
                        let p = &self.pieces[j];
                        (p.start, p.end, p.compressed)
                    };
                    if j == self.next {
                        // Its turn came while it arrived: what is held goes on as if it came now.
                        if let Some(bytes) = self.held[j].take() {
                            if compressed {
                                self.pending = bytes;
                            } else if pause && sink.full() {
                                self.held[j] = Some(bytes);
                                return Ok(given - input.len());
                            } else {
                                sink.data(self.offset, &bytes)?;
                                self.offset += bytes.len() as u64;
                            }
                        }
                    }
                    if self.at == end {
                        self.recv += 1;
                        if self.complete[j] {
                            // A tensor of no bytes, out already or waiting for its turn.
                        } else if j != self.next {
                            self.held[j].get_or_insert_with(Vec::new);
                            self.complete[j] = true;
                        } else if compressed {
                            // No bytes, so no frame: refused as the whole-file decoder does.
                            self.frame()?;
                        } else {
                            self.next += 1; // all passed on (or it holds nothing)
                        }
                        continue;
                    }
                    if input.is_empty() {
                        return Ok(given);
                    }
                    if self.at < start {
                        // Bytes between tensors: not part of any (the plan drops them).
                        let n = (start - self.at).min(input.len() as u64) as usize;
                        input = &input[n..];
                        self.at += n as u64;
                        continue;
                    }
                    let n = (end - self.at).min(input.len() as u64) as usize;
                    if j != self.next {
                        let held = self.held[j].get_or_insert_with(Vec::new);
                        append_within(held, &input[..n], to_usize(end - start)?)?;
                        if compressed && held.len() as u64 == end - start {
                            // Damage shows when the frame arrives, not when its turn comes.
                            read_frame(&self.pieces[j], held)?;
                        }
                    } else if !compressed {
                        if pause && sink.full() {
                            return Ok(given - input.len());
                        }
                        sink.data(self.offset, &input[..n])?;
                        self.offset += n as u64;
                    } else {
                        append_within(&mut self.pending, &input[..n], to_usize(end - start)?)?;
                        self.frame()?;
                    }
                    input = &input[n..];
                    self.at += n as u64;
                }
                State::Done if input.is_empty() => return Ok(given),
                State::Done => return Err(trailing_bytes()),
            }
        }
    }

    /// The JSON header is in `pending`: plans the restored file, whose header and tensor
    /// table go to the sink.
    fn start(&mut self, sink: &mut dyn Sink) -> Result<(), Error> {
        // The file's length is not known yet: bytes after the last tensor are refused when
        // they come, a file that ends early at `finish`.
        let layout = st::parse(&self.pending, u64::MAX)?;
        let plan = listed_plan(&layout, &self.limits)?.ok_or_else(|| {
            Error::InvalidInput(
                "this .znn.safetensors file lists no compressed tensors in its metadata: only the whole file tells which tensors are frames (decode it whole)".into(),
            )
        })?;
        let restored = st::parse(&plan.header, plan.total)?;
        let mut segments = Vec::with_capacity(restored.tensors.len() + 1);
        segments.push(Segment {
            name: String::from("__header__"),
            dtype: DType::Bytes,
            label: String::new(),
            shape: Vec::new(),
            offset: 0,
            length: plan.header.len() as u64,
        });
        // In the restored file the tensors follow the header back to back.
        for t in restored.tensors {
            segments.push(Segment {
                dtype: DType::from_safetensors(&t.dtype),
                offset: t.start,
                length: t.end - t.start,
                name: t.name,
                label: t.dtype,
                shape: t.shape,
            });
        }
        sink.header(&Header {
            total_size: Some(plan.total),
            max_chunk: 0, // no records
            container: Container::Safetensors,
            segments,
            base: None,
            realign: Vec::new(),
        })?;
        sink.data(0, &plan.header)?;
        self.offset = plan.header.len() as u64;
        let mut arrival: Vec<usize> = (0..plan.pieces.len()).collect();
        arrival.sort_by_key(|&i| (plan.pieces[i].start, plan.pieces[i].end));
        self.arrival = arrival;
        // A tensor of no bytes needs none to arrive: its turn need not wait for its place.
        self.complete = plan.pieces.iter().map(|p| p.start == p.end).collect();
        self.held = (0..plan.pieces.len()).map(|_| None).collect();
        self.pieces = plan.pieces;
        self.pending = Vec::new();
        self.state = State::Tensors;
        Ok(())
    }

    /// Sends out, in turn, the tensors held whole until their turn: one stored as it is goes to
    /// the sink at once, a frame starts decoding (and runs from `push_inner`). `false` when the
    /// sink is full and a stored tensor waits.
    fn emit_held(&mut self, sink: &mut dyn Sink, pause: bool) -> Result<bool, Error> {
        while self.out.is_none() && self.complete.get(self.next).is_some_and(|&c| c) {
            let i = self.next;
            let bytes = self.held[i].take().unwrap_or_default();
            if self.pieces[i].compressed {
                self.pending = bytes;
                self.frame()?;
            } else {
                if pause && sink.full() {
                    self.held[i] = Some(bytes);
                    return Ok(false);
                }
                sink.data(self.offset, &bytes)?;
                self.offset += bytes.len() as u64;
                self.next += 1;
            }
        }
        Ok(true)
    }

    /// The current compressed tensor's bytes grew: reads its frame header as soon as it is
    /// there (damage shows before the rest arrives), and starts the frame once it is whole.
    fn frame(&mut self) -> Result<(), Error> {
        let p = &self.pieces[self.next];
        let whole = self.pending.len() as u64 == p.end - p.start;
        if self.head.is_none() && (whole || self.pending.len() >= HEADER_LEN) {
            match read_frame(p, &self.pending) {
                Ok(h) => self.head = Some(h),
                // A shape block still arriving.
                Err(Error::Truncated) if !whole => {}
                Err(e) => return Err(e),
            }
        }
        if whole {
            let h = self.head.take().expect("read once whole");
            self.out = Some(FrameOut::new(&self.pending, h, self.offset)?);
        }
        Ok(())
    }

    /// End of input: every tensor must be complete.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.busy() {
            return Err(Error::InvalidInput(
                "finish while a frame's chunks wait for room: push_units until not busy".into(),
            ));
        }
        // (Tensors of no bytes after the last byte were passed as it came.)
        if self.state != State::Done {
            self.failed = Some(Error::Truncated);
            return Err(Error::Truncated);
        }
        Ok(())
    }
}
