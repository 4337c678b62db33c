//! Push-style streaming over our container, for any chunking of the input (one byte at a time
//! up to whole files). Like miniz_oxide's stream API, the caller feeds slices and gets output
//! through a sink; unlike it, output comes only in whole chunks whose checksum verified.
//!
//! Memory is bounded by one record (≤ 16 MiB + a few bytes, 256 KiB + 32 by default) plus the
//! header, whatever the file size.

use crate::dtype::DType;
use crate::format::znw::chunk::{self, ChunkHead, Record};
use crate::format::znw::header::{self, Header};
use crate::format::znw::{DTypeChoice, Piece};
use crate::format::{Container, Error, Limits};
use alloc::vec::Vec;

mod safetensors;
pub mod sized;
mod zipnn;
pub use safetensors::ZnnSafetensorsDecoder;
pub use sized::SizedEncoder;
pub use zipnn::ZipnnDecoder;

/// Receives what the decoder learns, in file order.
pub trait Sink {
    /// The header has been read and verified (sizes, segment table).
    fn header(&mut self, _header: &Header) -> Result<(), Error> {
        Ok(())
    }
    /// A chunk's decoded bytes at decoded `offset`, checksum verified.
    fn data(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Error>;
    /// Room for the next chunk's `len` decoded bytes, when the sink can take them in place
    /// (saves a copy): at least `len` bytes, of which the first `len` are used (a shorter slice
    /// is not, and the chunk comes through [`Sink::data`] instead). The decoder decodes the
    /// chunk there, then verifies its checksum and only then calls [`Sink::commit`]: until
    /// that call the room is scratch, and after an error the bytes there are garbage, never
    /// committed (so give room whose old bytes are not needed).
    fn space(&mut self, _len: usize) -> Option<&mut [u8]> {
        None
    }
    /// The `len` bytes last asked for with [`Sink::space`] hold a verified chunk at `offset`.
    fn commit(&mut self, _offset: u64, _len: usize) -> Result<(), Error> {
        Ok(())
    }
    /// Whether the sink holds as much as it wants before being drained: the `push_units`
    /// methods then stop between two chunks of a ZipNN frame (a `.znw` record is one chunk).
    fn full(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Prefix,
    Header(usize),
    Tag,
    Head(usize),
    Body(ChunkHead),
    Done,
}

/// Streaming decoder for `.znw` files.
pub struct Decoder {
    limits: Limits,
    state: State,
    /// Bytes of the current unit (prefix, header, record) received so far, when the input
    /// did not hold it whole.
    pending: Vec<u8>,
    header: Option<Header>,
    offset: u64,
    chunks: u64,
    consumed: u64,
    out: Vec<u8>,
    scratch: Vec<u8>,
    failed: Option<Error>,
    /// Verify every body checksum too (see [`Decoder::checking_bodies`]).
    check_bodies: bool,
}

enum Step {
    /// The unit is longer than it looked (a header that names what follows): read on, to
    /// [`Decoder::need`] bytes.
    Grow,
    /// The unit was used up.
    Consumed,
}

impl Decoder {
    /// A decoder of one `.znw` file, refusing sizes beyond `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            state: State::Prefix,
            pending: Vec::new(),
            header: None,
            offset: 0,
            chunks: 0,
            consumed: 0,
            out: Vec::new(),
            scratch: Vec::new(),
            failed: None,
            check_bodies: false,
        }
    }

    /// Also verifies each chunk's body checksum, so that any changed bit of the file is an
    /// error, even one that cannot change a decoded byte: for integrity checks (`zipnn test`).
    /// Decoding verifies the decoded bytes either way; this costs ~10% more time.
    pub fn checking_bodies(mut self) -> Self {
        self.check_bodies = true;
        self
    }

    /// The header, once it has been read.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Decoded bytes delivered so far.
    pub fn decoded(&self) -> u64 {
        self.offset
    }

    /// Compressed bytes accepted so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Whether the end record has been read (the file is complete; more input is an error).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes the next unit (prefix, header, record head or record) needs in all, counting
    /// what [`Decoder::push`] already holds of it: what [`Decoder::push_units`] waits for.
    pub fn unit_len(&self) -> usize {
        self.need()
    }

    fn need(&self) -> usize {
        match self.state {
            State::Prefix => header::PREFIX_LEN,
            State::Header(n) | State::Head(n) => n,
            State::Tag => 1,
            State::Body(h) => chunk::HEAD_LEN + h.body_len as usize,
            State::Done => 0,
        }
    }

    /// Feeds input. All of it is consumed (what does not complete a record is buffered);
    /// verified chunks reach `sink`. After an error every later call returns that error.
    pub fn push(&mut self, input: &[u8], sink: &mut dyn Sink) -> Result<(), Error> {
        self.push_checked(input, sink, false).map(|_| ())
    }

    /// Like [`Decoder::push`], but takes only whole units from `input` and returns how many
    /// bytes it used: the caller keeps the rest and offers it again with more bytes after it.
    /// Units are then decoded where the caller holds them, without a copy into the decoder.
    /// (Bytes an earlier `push` left buffered are completed first, by copying.)
    pub fn push_units(&mut self, input: &[u8], sink: &mut dyn Sink) -> Result<usize, Error> {
        self.push_checked(input, sink, true)
    }

    fn push_checked(
        &mut self,
        input: &[u8],
        sink: &mut dyn Sink,
        units_only: bool,
    ) -> Result<usize, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.push_inner(input, sink, units_only);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.pending = Vec::new();
        }
        r
    }

    fn push_inner(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn Sink,
        units_only: bool,
    ) -> Result<usize, Error> {
        let given = input.len();
        while !input.is_empty() {
            if self.state == State::Done {
                return Err(Error::corrupt("trailing bytes after the end record"));
            }
            let need = self.need();
            if units_only && self.pending.is_empty() && input.len() < need {
                break;
            }
            if self.pending.is_empty() && input.len() >= need {
                // Whole unit in the input: decode from it without copying.
                if let Step::Consumed = self.step(&input[..need], sink)? {
                    input = &input[need..];
                    self.consumed += need as u64;
                }
            } else {
                let take = (need - self.pending.len()).min(input.len());
                // Grow geometrically but never past the unit: plain doubling would hold up
                // to twice a record (32 MiB for a 16 MiB chunk).
                let len = self.pending.len();
                if self.pending.capacity() - len < take {
                    let want = (2 * self.pending.capacity()).clamp(len + take, need);
                    self.pending.reserve_exact(want - len);
                }
                self.pending.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.pending.len() < need {
                    return Ok(given); // all of it is in `pending` now
                }
                let unit = core::mem::take(&mut self.pending);
                match self.step(&unit, sink)? {
                    Step::Consumed => {
                        self.consumed += need as u64;
                        self.pending = unit;
                        self.pending.clear();
                    }
                    Step::Grow => self.pending = unit,
                }
            }
        }
        Ok(given - input.len())
    }

    /// Processes a complete unit (`unit.len() == self.need()`).
    fn step(&mut self, unit: &[u8], sink: &mut dyn Sink) -> Result<Step, Error> {
        match self.state {
            State::Prefix => {
                self.state = State::Header(Header::len_from_prefix(unit)?);
                Ok(Step::Grow)
            }
            State::Header(_) => {
                let (h, _) = Header::parse_limited(unit, self.limits.max_output)?;
                if let Some(r) = h.base {
                    return Err(Error::Unsupported(alloc::format!(
                        "this file is a delta against a base file of {} bytes: decode it with its base (`--base` of the native CLI's `zipnn decompress` or `zipnn test`)",
                        r.len
                    )));
                }
                sink.header(&h)?;
                self.header = Some(h);
                self.state = State::Tag;
                Ok(Step::Consumed)
            }
            State::Tag => {
                self.state = State::Head(Record::head_len(unit[0])?);
                Ok(Step::Grow)
            }
            State::Head(_) => {
                let max_chunk = self.header.as_ref().map_or(1, |h| h.max_chunk);
                match Record::parse(unit, max_chunk, self.offset)? {
                    Record::Chunk(h) => {
                        self.state = State::Body(h);
                        Ok(Step::Grow)
                    }
                    Record::End { total, chunks } => {
                        if total != self.offset || chunks != self.chunks {
                            return Err(Error::corrupt("end record does not match the chunks"));
                        }
                        if self
                            .header
                            .as_ref()
                            .and_then(|h| h.total_size)
                            .is_some_and(|t| t != total)
                        {
                            return Err(Error::corrupt(
                                "end record does not match the header size",
                            ));
                        }
                        self.state = State::Done;
                        Ok(Step::Consumed)
                    }
                }
            }
            State::Body(h) => {
                let len = h.raw_len as u64;
                let end = self.offset + len;
                if end > self.limits.max_output {
                    return Err(Error::TooLarge {
                        size: end,
                        limit: self.limits.max_output,
                    });
                }
                if self
                    .header
                    .as_ref()
                    .and_then(|h| h.total_size)
                    .is_some_and(|t| end > t)
                {
                    return Err(Error::corrupt("chunks exceed the declared size"));
                }
                let body = &unit[chunk::HEAD_LEN..];
                let raw_len = h.raw_len as usize;
                if self.check_bodies {
                    chunk::check_body(&h, body, self.offset)?;
                }
                // The front of a longer slice; a shorter one cannot take the chunk.
                if let Some(dst) = sink.space(raw_len).and_then(|d| d.get_mut(..raw_len)) {
                    // Committed only once chunk::decode has verified what it wrote.
                    chunk::decode(&h, body, self.offset, dst, &mut self.scratch)?;
                    sink.commit(self.offset, raw_len)?;
                } else {
                    self.out.resize(raw_len, 0);
                    chunk::decode(&h, body, self.offset, &mut self.out, &mut self.scratch)?;
                    sink.data(self.offset, &self.out)?;
                }
                self.offset = end;
                self.chunks += 1;
                self.state = State::Tag;
                Ok(Step::Consumed)
            }
            State::Done => Err(Error::corrupt("trailing bytes after the end record")),
        }
    }

    /// Call at end of input: fails with `Truncated` unless the end record was seen.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.state == State::Done {
            Ok(())
        } else {
            self.failed = Some(Error::Truncated);
            Err(Error::Truncated)
        }
    }
}

/// Streaming encoder: input of unknown total length, cut into chunks of one element type.
/// The header carries no size (the end record does) and no segment table.
pub struct Encoder {
    dtype: DType,
    /// `--dtype auto`: the type is measured on the first chunk, then kept (chunk sizes are
    /// multiples of 4, so a measured type of 1, 2 or 4 bytes starts every chunk on an element;
    /// float64 does where the chunk size is a multiple of 8, as the default's is). A fixed
    /// type is cut to its own elements ([`Encoder::cut`]).
    undecided: bool,
    /// `--dtype auto` measured bytes: each chunk is measured again on its own, as floats may
    /// start at any byte ([`crate::format::znw::regroup_raw`]).
    regroup: bool,
    chunk_size: usize,
    pending: Vec<u8>,
    offset: u64,
    chunks: u64,
    scratch: Vec<u8>,
    started: bool,
    finished: bool,
    /// With `undecided`: where the grouping is measured, past a safetensors stream's JSON
    /// header (the bytes before it are coded as bytes).
    decide_at: u64,
}

/// Where a safetensors file starting with `first` has its tensor data: its JSON header, when
/// long, would otherwise be what `Auto` measures (text, not weights).
fn safetensors_data_start(first: &[u8]) -> u64 {
    match first.first_chunk::<8>().map(|n| u64::from_le_bytes(*n)) {
        Some(n) if first.get(8) == Some(&b'{') && n <= crate::format::safetensors::MAX_HEADER => {
            8 + n
        }
        _ => 0,
    }
}

impl Encoder {
    /// An encoder of input coded as `dtype`, in chunks of `chunk_size` bytes (a multiple of 4
    /// up to 16 MiB, else `InvalidInput`).
    pub fn new(dtype: DType, chunk_size: u32) -> Result<Self, Error> {
        Self::with_choice(DTypeChoice::Fixed(dtype), chunk_size)
    }

    /// As [`new`](Self::new); `DTypeChoice::Auto` picks the grouping that makes the first
    /// chunk smallest and codes the whole stream with it (for a safetensors stream, the first
    /// chunk past its JSON header, which is coded as bytes).
    pub fn with_choice(choice: DTypeChoice, chunk_size: u32) -> Result<Self, Error> {
        crate::format::znw::check_chunk_size(chunk_size)?;
        let (dtype, undecided) = match choice {
            DTypeChoice::Fixed(d) => (d, false),
            DTypeChoice::Auto => (DType::Bytes, true),
        };
        Ok(Encoder {
            dtype,
            undecided,
            regroup: false,
            chunk_size: chunk_size as usize,
            pending: Vec::new(),
            offset: 0,
            chunks: 0,
            scratch: Vec::new(),
            started: false,
            finished: false,
            decide_at: 0,
        })
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            let h = Header {
                total_size: None,
                max_chunk: self.chunk_size as u32,
                container: Container::Raw,
                segments: Vec::new(),
                base: None,
                realign: Vec::new(),
            };
            h.write(out);
        }
    }

    fn emit(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        if self.undecided {
            if self.offset == 0 {
                self.decide_at = safetensors_data_start(data);
            }
            let header = self
                .decide_at
                .saturating_sub(self.offset)
                .min(data.len() as u64);
            let (text, rest) = data.split_at(header as usize);
            self.record(text, DType::Bytes, out);
            if rest.is_empty() {
                return;
            }
            self.undecided = false;
            self.dtype = crate::format::tensors::guess_dtype(rest);
            self.regroup = self.dtype == DType::Bytes;
            data = rest;
        }
        if self.regroup {
            let (origin, whole) = (
                self.offset,
                Piece {
                    offset: self.offset,
                    len: data.len() as u32,
                    dtype: DType::Bytes,
                    row: 0,
                },
            );
            for p in crate::format::znw::regroup_raw(data, origin, &[whole], true) {
                let at = (p.offset - origin) as usize;
                self.record(&data[at..at + p.len as usize], p.dtype, out);
            }
            return;
        }
        let w = self.dtype.size();
        let (elements, tail) = data.split_at(data.len() / w * w);
        self.record(elements, self.dtype, out);
        self.record(tail, DType::Bytes, out);
    }

    /// One chunk record of `bytes` (none when empty), coded as `dtype`.
    fn record(&mut self, bytes: &[u8], dtype: DType, out: &mut Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        chunk::encode(bytes, dtype, self.offset, false, out, &mut self.scratch);
        self.offset += bytes.len() as u64;
        self.chunks += 1;
    }

    /// Bytes a full chunk takes: whole elements of a type whose size does not divide the chunk
    /// size (ggml blocks of 18 to 34 bytes), so that the next chunk starts on an element too;
    /// cut anywhere, every chunk after the first coded its blocks out of step, 8–13 % larger.
    /// (Undecided or regrouped, the type is bytes: the whole chunk size.)
    fn cut(&self) -> usize {
        let w = self.dtype.size();
        match self.chunk_size / w * w {
            0 => self.chunk_size,
            whole => whole,
        }
    }

    /// Feeds input; appends whatever records are complete to `out`.
    ///
    /// # Panics
    /// After [`Encoder::finish`]: the end record is written, and bytes after it would make
    /// a file no decoder reads.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        assert!(!self.finished, "stream::Encoder::push after finish");
        self.start(out);
        while !input.is_empty() {
            let cut = self.cut();
            if self.pending.is_empty() && input.len() >= cut {
                let (now, rest) = input.split_at(cut);
                self.emit(now, out);
                input = rest;
                continue;
            }
            let take = (cut - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() == cut {
                let p = core::mem::take(&mut self.pending);
                self.emit(&p, out);
                self.pending = p;
                self.pending.clear();
            }
        }
    }

    /// Flushes the last partial chunk and writes the end record (once: later calls write
    /// nothing).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if core::mem::replace(&mut self.finished, true) {
            return;
        }
        self.start(out);
        let p = core::mem::take(&mut self.pending);
        if !p.is_empty() {
            self.emit(&p, out);
        }
        chunk::write_end(self.offset, self.chunks, out);
    }
}

/// A sink that collects everything into one vector. When the header gives the decoded size,
/// the vector grows toward it as the data bears the claim out (at most 16 times what has
/// arrived, then the whole size at once), so a header that claims more than its file holds
/// costs no more memory than its data.
#[derive(Debug, Default)]
pub struct VecSink {
    /// The decoded bytes so far.
    pub out: Vec<u8>,
    /// The decoded size the header gave, if any.
    total: Option<usize>,
}

impl Sink for VecSink {
    fn header(&mut self, h: &Header) -> Result<(), Error> {
        self.total = h.total_size.map(crate::format::to_usize).transpose()?;
        Ok(())
    }
    fn data(&mut self, _offset: u64, bytes: &[u8]) -> Result<(), Error> {
        if let Some(total) = self.total {
            let need = self.out.len().saturating_add(bytes.len());
            crate::format::reserve_toward(&mut self.out, need, total)?;
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }
}

/// Decodes whichever format the first bytes name: our `.znw` or ZipNN frames.
///
/// A `.znn.safetensors` file starts as any safetensors file does, so its first bytes name no
/// format here (`NotCompressed`): read its header and use [`AutoDecoder::znn_safetensors`]
/// when [`crate::format::zipnn::safetensors::lists_compressed`] says it streams, or restore it
/// whole with [`crate::format::zipnn::safetensors::decompress`].
pub struct AutoDecoder(Auto);

/// [`AutoDecoder`]'s state (private: its shape may change).
enum Auto {
    /// Waiting for enough bytes to recognise the format.
    Detecting {
        head: Vec<u8>,
        limits: Limits,
        check_bodies: bool,
    },
    Znw(Decoder),
    Zipnn(ZipnnDecoder),
    /// Chosen by the caller ([`AutoDecoder::znn_safetensors`]): its first bytes cannot tell.
    ZnnSafetensors(ZnnSafetensorsDecoder),
    /// The first bytes named neither format: every later call repeats this error (the
    /// format decoders keep theirs the same way).
    Failed(Error),
}

/// The state and progress of each streaming coder, for logs (their buffers are left out).
macro_rules! debug_progress {
    ($t:ty, $($field:ident),*) => {
        impl core::fmt::Debug for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($t))
                    $(.field(stringify!($field), &self.$field()))*
                    .finish_non_exhaustive()
            }
        }
    };
}

debug_progress!(Decoder, decoded, consumed, is_done);
debug_progress!(AutoDecoder, format, decoded);
debug_progress!(ZipnnDecoder, decoded, busy);
debug_progress!(ZnnSafetensorsDecoder, decoded, busy);

impl core::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Encoder")
            .field("dtype", &self.dtype)
            .field("chunk_size", &self.chunk_size)
            .field("offset", &self.offset)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// Bytes needed to tell the formats apart (ZipNN's check reads its 16th byte).
const DETECT_LEN: usize = 16;

impl AutoDecoder {
    /// A decoder that picks the format from the first bytes, refusing sizes beyond `limits`.
    pub fn new(limits: Limits) -> Self {
        AutoDecoder(Auto::Detecting {
            head: Vec::new(),
            limits,
            check_bodies: false,
        })
    }

    /// Like [`Decoder::checking_bodies`] for `.znw` input (ZipNN files have no checksums).
    pub fn checking_bodies(limits: Limits) -> Self {
        AutoDecoder(Auto::Detecting {
            head: Vec::new(),
            limits,
            check_bodies: true,
        })
    }

    /// A `.znn.safetensors` file that lists its compressed tensors in its metadata (the
    /// caller has read its header: see [`ZnnSafetensorsDecoder`]).
    pub fn znn_safetensors(limits: Limits) -> Self {
        AutoDecoder(Auto::ZnnSafetensors(ZnnSafetensorsDecoder::new(limits)))
    }

    /// The format the first bytes named; `None` until they have (or when they named none).
    pub fn format(&self) -> Option<crate::Format> {
        match &self.0 {
            Auto::Detecting { .. } | Auto::Failed(_) => None,
            Auto::Znw(_) => Some(crate::Format::Znw),
            Auto::Zipnn(_) => Some(crate::Format::Zipnn),
            Auto::ZnnSafetensors(_) => Some(crate::Format::ZipnnSafetensors),
        }
    }

    /// Decoded bytes delivered so far.
    pub fn decoded(&self) -> u64 {
        match &self.0 {
            Auto::Detecting { .. } | Auto::Failed(_) => 0,
            Auto::Znw(d) => d.decoded(),
            Auto::Zipnn(d) => d.decoded(),
            Auto::ZnnSafetensors(d) => d.decoded(),
        }
    }

    /// The `.znw` header once read (ZipNN files have none).
    pub fn header(&self) -> Option<&Header> {
        match &self.0 {
            Auto::Znw(d) => d.header(),
            _ => None,
        }
    }

    /// Whether decoded bytes of input already taken wait for a sink with room: call
    /// [`AutoDecoder::push_units`] again, with more input or none.
    pub fn busy(&self) -> bool {
        match &self.0 {
            Auto::Zipnn(d) => d.busy(),
            Auto::ZnnSafetensors(d) => d.busy(),
            _ => false,
        }
    }

    /// Bytes [`AutoDecoder::push_units`] waits for before it can use any (0: whatever comes).
    pub fn unit_len(&self) -> usize {
        match &self.0 {
            Auto::Detecting { head, .. } => DETECT_LEN - head.len(),
            Auto::Znw(d) => d.unit_len(),
            Auto::Zipnn(_) | Auto::ZnnSafetensors(_) | Auto::Failed(_) => 0,
        }
    }

    /// Like [`Decoder::push_units`]: returns how many bytes of `input` were used; the caller
    /// keeps the rest. ZipNN input is taken until a frame's decoding pauses for a full sink
    /// ([`ZipnnDecoder::push_units`]).
    pub fn push_units(&mut self, input: &[u8], sink: &mut dyn Sink) -> Result<usize, Error> {
        match &mut self.0 {
            Auto::Znw(d) => d.push_units(input, sink),
            Auto::Zipnn(d) => d.push_units(input, sink),
            Auto::ZnnSafetensors(d) => d.push_units(input, sink),
            Auto::Failed(e) => Err(e.clone()),
            Auto::Detecting { .. } => {
                // Few bytes: copying them is free, and the format then decides the rest.
                let take = self.unit_len().min(input.len());
                self.push(&input[..take], sink)?;
                if matches!(self.0, Auto::Detecting { .. }) {
                    return Ok(take);
                }
                Ok(take + self.push_units(&input[take..], sink)?)
            }
        }
    }

    /// Takes all of `input` (any length, any cut), handing every chunk it completes to `sink`
    /// once verified. An error is final: every later call returns it again.
    pub fn push(&mut self, input: &[u8], sink: &mut dyn Sink) -> Result<(), Error> {
        let r = self.push_inner(input, sink);
        if let (Err(e), Auto::Detecting { .. }) = (&r, &self.0) {
            self.0 = Auto::Failed(e.clone());
        }
        r
    }

    fn push_inner(&mut self, input: &[u8], sink: &mut dyn Sink) -> Result<(), Error> {
        if let Auto::Detecting {
            head,
            limits,
            check_bodies,
        } = &mut self.0
        {
            let take = (DETECT_LEN - head.len()).min(input.len());
            head.extend_from_slice(&input[..take]);
            // Neither magic can start this way: say so at once rather than at the end.
            let could_be = |magic: &[u8]| head.iter().zip(magic).all(|(a, b)| a == b);
            if !could_be(&crate::format::znw::MAGIC) && !could_be(&crate::format::zipnn::MAGIC) {
                return Err(Error::NotCompressed);
            }
            if head.len() < DETECT_LEN && take == input.len() {
                return Ok(());
            }
            let (head, limits, check) = (core::mem::take(head), *limits, *check_bodies);
            self.0 = match crate::detect(&head) {
                crate::Format::Znw if check => Auto::Znw(Decoder::new(limits).checking_bodies()),
                crate::Format::Znw => Auto::Znw(Decoder::new(limits)),
                crate::Format::Zipnn => Auto::Zipnn(ZipnnDecoder::new(limits)),
                _ => return Err(Error::NotCompressed),
            };
            self.push(&head, sink)?;
            return self.push(&input[take..], sink);
        }
        match &mut self.0 {
            Auto::Znw(d) => d.push(input, sink),
            Auto::Zipnn(d) => d.push(input, sink),
            Auto::ZnnSafetensors(d) => d.push(input, sink),
            Auto::Failed(e) => Err(e.clone()),
            Auto::Detecting { .. } => Ok(()),
        }
    }

    /// Call at end of input. An input that ended before its format was known fails here,
    /// and every later call repeats that error.
    pub fn finish(&mut self) -> Result<(), Error> {
        match &mut self.0 {
            Auto::Detecting { head, .. } => {
                // A short file that matched a magic so far: it was cut.
                let e = match head.is_empty() {
                    true => Error::NotCompressed,
                    false => Error::Truncated,
                };
                self.0 = Auto::Failed(e.clone());
                Err(e)
            }
            Auto::Znw(d) => d.finish(),
            Auto::Zipnn(d) => d.finish(),
            Auto::ZnnSafetensors(d) => d.finish(),
            Auto::Failed(e) => Err(e.clone()),
        }
    }
}
