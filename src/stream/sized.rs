//! Streaming encoder for input whose length is known before it arrives (a file read in pieces,
//! larger than memory allows whole). Unlike [`super::Encoder`], its header carries the size
//! and, when the file's first bytes say where its tensors are (safetensors, GGUF), the
//! segment table: each tensor is coded as its own type, and the file is the one
//! [`znw::compress`] writes for the same bytes. So is any file no longer than [`PREFIX`].
//! Longer files of other kinds are one segment, of the type asked for or measured on their
//! first bytes; with [`DTypeChoice::Auto`] each chunk is then cut where its statistics change
//! and each part grouped as it measures, which `compress` does not do (same decoded bytes).
//!
//! Memory: the first [`PREFIX`] bytes (or a safetensors JSON header, up to 100 MB) until the
//! header is decided, then one chunk (on several threads, a batch of them).

use crate::dtype::DType;
use crate::format::report::{ModeReport, Report, SegmentReport};
use crate::format::znw::chunk::{self, Record};
use crate::format::znw::inspect::{self, Attribution};
use crate::format::znw::{self, DTypeChoice, Encoders, Header, Options, Piece};
use crate::format::{safetensors, Container, Error};
use alloc::vec::Vec;

/// Bytes read before the header is decided: a whole file up to this size is coded exactly as
/// [`znw::compress`] codes it, whatever its container; a GGUF tensor table must lie within it.
pub const PREFIX: usize = 32 << 20;

/// How many first bytes of a file of `total` bytes decide the header, given its first bytes
/// (at least 9 to tell a safetensors file): [`PREFIX`], or a safetensors JSON header that is
/// longer, but never more than the file.
pub fn prefix_len(first: &[u8], total: u64) -> usize {
    prefix_len_within(first, total, PREFIX)
}

fn prefix_len_within(first: &[u8], total: u64, prefix: usize) -> usize {
    let mut need = prefix as u64;
    if first.len() >= 9 && first[8] == b'{' {
        let n = u64::from_le_bytes(first[..8].try_into().unwrap_or([0; 8]));
        if (2..=safetensors::MAX_HEADER).contains(&n) {
            need = need.max(8 + n);
        }
    }
    need.min(total) as usize
}

/// Streaming encoder for input whose total length is known up front: the same `.znw` file
/// as the whole-buffer [`crate::format::znw::compress`] (segment table, sizes in the header),
/// in memory bounded by its batches whatever the input's size.
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
    /// `--dtype auto` on a raw file: each piece is measured again as it is coded
    /// ([`znw::regroup_raw`]; guessed anew, past a prefix shorter than the file), which may
    /// cut it in up to three records, `extra` more in all.
    regroup: Option<bool>,
    extra: u64,
    /// The start of the batch of pieces from `next` on (shorter than it), when it came in parts.
    pending: Vec<u8>,
    threads: usize,
    /// [`PREFIX`], or less in tests ([`SizedEncoder::with_prefix`]).
    prefix_cap: usize,
    enc: Encoders,
    started: bool,
    finished: bool,
    tally: Tally,
}

/// What [`SizedEncoder::report`] needs of the records written: what `inspect` reads of them,
/// summed as they go (memory does not grow with the number of chunks).
#[derive(Default)]
struct Tally {
    header: Option<Header>,
    segments: Vec<SegmentReport>,
    spread: Attribution,
    chunks: usize,
    /// Decoded bytes the chunks so far cover.
    decoded: u64,
    modes: Vec<ModeReport>,
    all_bytes: bool,
    written: u64,
    /// A raw file's first chunks (at least `inspect::SAMPLE` bytes) and their record bytes.
    sample: Vec<u8>,
    sample_stored: usize,
}

impl core::fmt::Debug for SizedEncoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SizedEncoder")
            .field("total", &self.total)
            .field("received", &self.received)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl SizedEncoder {
    /// An encoder for `total` input bytes, in the default modes (`opts.tans` is not used);
    /// with `opts.threads` > 1 (and the `std` feature) batches of chunks are coded in parallel.
    pub fn new(total: u64, opts: Options) -> Result<Self, Error> {
        znw::check_chunk_size(opts.chunk_size)?;
        Ok(SizedEncoder {
            total,
            threads: opts.threads.clamp(1, crate::format::znw::MAX_THREADS),
            opts: Options {
                tans: false,
                threads: 1,
                ..opts
            },
            received: 0,
            prefix: Vec::new(),
            pieces: Vec::new(),
            next: 0,
            regroup: None,
            extra: 0,
            pending: Vec::new(),
            prefix_cap: PREFIX,
            enc: Encoders::default(),
            started: false,
            finished: false,
            tally: Tally {
                all_bytes: true,
                ..Tally::default()
            },
        })
    }

    /// Feeds input; appends whatever records are complete to `out`. More input than the size
    /// given is an `InvalidInput` error.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.push_draining(input, out, &mut |_| Ok(()))
    }

    /// [`push`](Self::push), handing `out` to `drain` after each batch of chunks, to pass the
    /// records on and clear it: the push that completes the first [`PREFIX`] bytes codes all
    /// of them, and their records need not then be held at once (the memory of a Worker).
    pub fn push_draining(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        drain: &mut dyn FnMut(&mut Vec<u8>) -> Result<(), Error>,
    ) -> Result<(), Error> {
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
        let mut input = input;
        while !self.started {
            // Exactly the prefix, whatever the writes: the header is decided on the same bytes
            // (and a file just past the prefix is not seen whole) however the input is cut.
            let need = self.prefix_needed();
            let take = need.saturating_sub(self.prefix.len()).min(input.len());
            // All the prefix at once, exactly: growing it by doubling held up to 1.5 times it.
            self.prefix
                .try_reserve_exact(need.saturating_sub(self.prefix.len()))
                .map_err(|_| Error::no_memory(need as u64))?;
            self.prefix.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.prefix.len() >= self.prefix_needed() {
                self.start(out, drain)?;
            } else if input.is_empty() {
                return Ok(());
            }
        }
        self.feed(input, out, drain)
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
        self.start(out, &mut |_| Ok(()))?;
        debug_assert!(self.next == self.pieces.len() && self.pending.is_empty());
        self.finished = true;
        let start = out.len();
        znw::chunk::write_end(self.total, self.pieces.len() as u64 + self.extra, out);
        self.tally.written += (out.len() - start) as u64;
        Ok(())
    }

    /// Once finished, what [`znw::inspect`](fn@znw::inspect) reports of the file written: the
    /// same, from what the encoder knows (the raw file's type suggestion from its first bytes).
    pub fn report(&self) -> Option<Report> {
        let t = &self.tally;
        let header = t.header.as_ref().filter(|_| self.finished)?;
        let mut modes = t.modes.clone();
        modes.sort_by_key(|m| m.mode);
        let suggestion = (header.container == Container::Raw && t.chunks > 0 && t.all_bytes)
            .then(|| {
                let mut scratch = Vec::new();
                inspect::suggest_from(&t.sample, t.sample_stored, header.max_chunk, &mut scratch)
            })
            .flatten();
        Some(Report {
            format: "znw",
            container: header.container.name(),
            total_size: self.total,
            compressed_size: t.written,
            chunk_size: header.max_chunk.into(),
            chunks: t.chunks,
            segments: t.segments.clone(),
            suggestion,
            modes,
            delta: None, // a stream codes no delta
            zipnn: None,
        })
    }

    /// Decides the header on the first `cap` bytes instead of [`PREFIX`]: small inputs then
    /// take the path of large ones (tests and fuzzing). Before any input.
    #[doc(hidden)]
    pub fn with_prefix(mut self, cap: usize) -> Self {
        self.prefix_cap = cap;
        self
    }

    fn prefix_needed(&self) -> usize {
        prefix_len_within(&self.prefix, self.total, self.prefix_cap)
    }

    /// Writes the header from the prefix, plans the chunks and codes the prefix's.
    fn start(
        &mut self,
        out: &mut Vec<u8>,
        drain: &mut dyn FnMut(&mut Vec<u8>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if core::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        let prefix = core::mem::take(&mut self.prefix);
        let o = &self.opts;
        let header = znw::describe_prefix(&prefix, self.total, o.dtype, o.chunk_size);
        let whole = prefix.len() as u64 == self.total;
        self.regroup =
            (o.dtype == DTypeChoice::Auto && header.container == Container::Raw).then_some(!whole);
        let start = out.len();
        let listed = header.write(out);
        self.tally.written += (out.len() - start) as u64;
        // A whole file is cut where its statistics change, as `compress` cuts it.
        self.pieces = znw::plan_cut(
            &header,
            self.total,
            whole.then_some(&prefix[..]),
            znw::CUT_WINDOW,
        )?;
        // As `inspect` will read them: none where the header left its table out.
        if listed {
            self.tally.segments = inspect::segment_reports(&header);
        }
        self.tally.header = Some(header);
        self.feed(&prefix, out, drain)
    }

    /// Codes every batch of pieces that `input` completes, keeping the start of the next.
    fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        drain: &mut dyn FnMut(&mut Vec<u8>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        while let Some((count, len)) = self.batch() {
            if self.pending.is_empty() && input.len() >= len {
                let (now, rest) = input.split_at(len);
                self.encode(now, count, out)?;
                drain(out)?;
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
                let batch = core::mem::take(&mut self.pending);
                self.encode(&batch, count, out)?;
                self.pending = batch;
                self.pending.clear();
                drain(out)?;
            }
        }
        Ok(())
    }

    /// The next pieces coded together, as (count, bytes): one at a time on one thread; with
    /// more, [`BATCH_PIECES`] per thread (at most [`BATCH_BYTES`]), coded in parallel.
    fn batch(&self) -> Option<(usize, usize)> {
        let rest = self.pieces.get(self.next..).filter(|r| !r.is_empty())?;
        let most = if self.threads > 1 {
            self.threads * BATCH_PIECES
        } else {
            1
        };
        let (mut count, mut len) = (0, 0);
        for p in rest.iter().take(most) {
            if count > 0 && len + p.len as usize > BATCH_BYTES {
                break;
            }
            count += 1;
            len += p.len as usize;
        }
        Some((count, len))
    }

    fn encode(&mut self, bytes: &[u8], count: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        let planned = &self.pieces[self.next..self.next + count];
        self.next += count;
        let regrouped;
        let pieces = if let Some(anew) = self.regroup {
            regrouped = znw::regroup_raw(bytes, planned[0].offset, planned, anew);
            self.extra += (regrouped.len() - count) as u64;
            &regrouped[..]
        } else {
            planned
        };
        let origin = pieces[0].offset;
        let start = out.len();
        let opts = Options {
            threads: self.threads,
            ..self.opts.clone()
        };
        self.enc.encode(bytes, origin, None, pieces, &opts, out)?;
        self.tally
            .add(&out[start..], origin, bytes, self.opts.chunk_size)
    }
}

impl Tally {
    /// Takes in the records just written for the input `bytes` at decoded offset `origin`.
    fn add(
        &mut self,
        mut records: &[u8],
        origin: u64,
        bytes: &[u8],
        max_chunk: u32,
    ) -> Result<(), Error> {
        self.written += records.len() as u64;
        while !records.is_empty() {
            let Record::Chunk(head) = Record::parse(records, max_chunk, origin)? else {
                return Err(Error::corrupt("encoder wrote an end record mid-file"));
            };
            let len = chunk::HEAD_LEN + head.body_len as usize;
            let body = records
                .get(chunk::HEAD_LEN..len)
                .ok_or_else(|| Error::corrupt("encoder wrote a short record"))?;
            let offset = self.decoded;
            self.decoded += head.raw_len as u64;
            self.chunks += 1;
            self.spread
                .add(&mut self.segments, offset, head.raw_len as u64, len as u64);
            inspect::count_modes(&mut self.modes, &head, body);
            self.all_bytes &= head.dtype == DType::Bytes;
            let raw = self
                .header
                .as_ref()
                .is_some_and(|h| h.container == Container::Raw);
            if raw && self.sample.len() < inspect::SAMPLE {
                // Its whole room at once (it ends within a chunk past SAMPLE): no doubling.
                if self.sample.capacity() == 0 {
                    let room = inspect::SAMPLE + max_chunk as usize;
                    self.sample
                        .try_reserve_exact(room)
                        .map_err(|_| Error::no_memory(room as u64))?;
                }
                let at = (offset - origin) as usize;
                self.sample
                    .extend_from_slice(&bytes[at..at + head.raw_len as usize]);
                self.sample_stored += len;
            }
            records = &records[len..];
        }
        Ok(())
    }
}

/// Pieces per thread in a batch, and the most bytes a batch holds (with 16 MiB chunks).
const BATCH_PIECES: usize = 32;
const BATCH_BYTES: usize = 64 << 20;
