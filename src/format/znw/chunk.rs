//! Chunk and end records (FORMAT.md §3–§4). Every chunk decodes on its own: its dtype, its
//! decoded length and its checksums are in its 20-byte head, its tables in its body.
//!
//! Two checksums: one over the decoded bytes (so neither a damaged body nor a decoder bug can
//! ever return wrong data silently), verified before any decoded byte is handed out, and one
//! over the body (so an integrity check catches every flipped bit, even one in bits a decoder
//! ignores), verified by decoders when the first fails and by [`check_body`].

use super::header::{checksum, chunk_checksum};
use crate::dtype::{self, DType};
use crate::entropy::{block, context, lz, planes};
use crate::format::{ahead::merge_ahead, Error, Reader, Source};
use alloc::vec::Vec;

/// First byte of a chunk record (`C`, FORMAT.md §3).
pub const CHUNK_TAG: u8 = b'C';
/// First byte of the end record (`E`, FORMAT.md §4).
pub const END_TAG: u8 = b'E';
/// Bytes of a chunk record's head, before its body (FORMAT.md §3).
pub const HEAD_LEN: usize = 20;
/// Bytes of the whole end record, checksum included (FORMAT.md §4).
pub const END_LEN: usize = 24;
/// Chunk flag (byte 2): plain byte groups.
pub const FLAG_PLAIN: u8 = 1;

/// The 20-byte head of a chunk record (FORMAT.md §3), as parsed and range-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHead {
    /// The element type this chunk is coded as (its own, whatever the segments say; §3.1).
    pub dtype: DType,
    /// Flag bit 0: the groups are the elements' plain bytes, without the sign move (§3.1).
    pub plain: bool,
    /// `raw_len`: decoded bytes, 1 to the header's `max_chunk`, whole elements of `dtype`.
    pub raw_len: u32,
    /// `body_len`: bytes of the blocks that follow the head.
    pub body_len: u32,
    /// Low 32 bits of the body's XXH3-64 (seed 0).
    pub body_checksum: u32,
    /// Low 32 bits of the decoded bytes' XXH3-64, seeded with the chunk's decoded offset.
    pub checksum: u32,
}

/// What a record head says: a chunk follows, or the stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A chunk record; its body of `body_len` bytes follows the head.
    Chunk(ChunkHead),
    /// The end record (FORMAT.md §4), checksum verified.
    End {
        /// Total decoded size it states (the sum of every `raw_len`).
        total: u64,
        /// Number of chunk records it states.
        chunks: u64,
    },
}

impl Record {
    /// Bytes needed to parse the record head that starts with `tag`.
    pub fn head_len(tag: u8) -> Result<usize, Error> {
        match tag {
            CHUNK_TAG => Ok(HEAD_LEN),
            END_TAG => Ok(END_LEN),
            _ => Err(Error::corrupt("unknown record tag")),
        }
    }

    /// Parses a record head; `max_chunk` comes from the file header, `at` is the decoded
    /// offset the record starts at (what an end record's failed checksum reports: the total
    /// it states is not to be trusted then).
    pub fn parse(buf: &[u8], max_chunk: u32, at: u64) -> Result<Record, Error> {
        let mut r = Reader::new(buf);
        let tag = r.u8()?;
        if tag == END_TAG {
            let head = buf.get(..END_LEN).ok_or(Error::Truncated)?;
            r.bytes(3)?;
            let total = r.u64()?;
            let chunks = r.u64()?;
            let sum = r.u32()?;
            if checksum(&head[..20]) != sum || head[1..4] != [0, 0, 0] {
                return Err(Error::Checksum {
                    what: "end record",
                    offset: at,
                });
            }
            return Ok(Record::End { total, chunks });
        }
        if tag != CHUNK_TAG {
            return Err(Error::corrupt("unknown record tag"));
        }
        let dtype =
            DType::from_code(r.u8()?).ok_or_else(|| Error::corrupt("unknown chunk dtype"))?;
        let flags = r.u8()?;
        if r.u8()? != 0 || flags & !FLAG_PLAIN != 0 {
            return Err(Error::corrupt("reserved chunk bits set"));
        }
        let plain = flags & FLAG_PLAIN != 0;
        if plain && (dtype.groups() == 1 || !dtype.bytewise()) {
            return Err(Error::corrupt(
                "plain groups flag on a chunk without byte groups",
            ));
        }
        let raw_len = r.u32()?;
        let body_len = r.u32()?;
        let body_checksum = r.u32()?;
        let checksum = r.u32()?;
        if raw_len == 0 || raw_len > max_chunk || !(raw_len as usize).is_multiple_of(dtype.size()) {
            return Err(Error::corrupt("chunk length out of range"));
        }
        // No block can be larger than raw plus its mode/length bytes: bounds buffering.
        if body_len as u64 > raw_len as u64 + 16 * dtype.groups() as u64 {
            return Err(Error::corrupt("chunk body larger than its data"));
        }
        Ok(Record::Chunk(ChunkHead {
            dtype,
            plain,
            raw_len,
            body_len,
            body_checksum,
            checksum,
        }))
    }
}

/// Appends the end record (FORMAT.md §4) for `chunks` records decoding to `total` bytes.
pub fn write_end(total: u64, chunks: u64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[END_TAG, 0, 0, 0]);
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&chunks.to_le_bytes());
    let sum = checksum(&out[start..]);
    out.extend_from_slice(&sum.to_le_bytes());
}

/// Bytes `data` comes to as chunk records coded as `dtype` from byte `phase` on, in chunks of
/// at most `max_chunk` bytes; the bytes before `phase` and past the last whole element count as
/// chunks of stored bytes of their own (a head, a mode byte, the bytes). For trials: `auto`'s
/// check against plain bytes and `inspect`'s suggestion.
pub fn trial_size(
    data: &[u8],
    dtype: DType,
    phase: usize,
    max_chunk: usize,
    scratch: &mut Vec<u8>,
) -> usize {
    let w = dtype.size();
    let phase = phase.min(data.len());
    let body = &data[phase..];
    let whole = body.len() / w * w;
    let mut out = Vec::new();
    for (i, piece) in body[..whole].chunks((max_chunk / w * w).max(w)).enumerate() {
        encode(piece, dtype, i as u64, false, &mut out, scratch);
    }
    let apart = |n: usize| if n > 0 { HEAD_LEN + 1 + n } else { 0 };
    out.len() + apart(phase) + apart(body.len() - whole)
}

/// Appends one chunk record for `data` (decoded offset `offset`) coded as `dtype`; `tans`
/// lets blocks use tANS and the context modes where they are smaller. `scratch` is reused
/// across calls.
pub fn encode(
    data: &[u8],
    dtype: DType,
    offset: u64,
    tans: bool,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) {
    encode_with_row(data, dtype, offset, tans, 0, out, scratch)
}

/// [`encode`] for data from one tensor whose rows are `row` elements long (0: unknown), which
/// the exponent context can use.
pub fn encode_with_row(
    data: &[u8],
    dtype: DType,
    offset: u64,
    tans: bool,
    row: usize,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) {
    debug_assert!(!data.is_empty() && data.len().is_multiple_of(dtype.size()));
    let start = out.len();
    out.extend_from_slice(&[CHUNK_TAG, dtype.code(), 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 8]); // body length and body checksum, patched below
    out.extend_from_slice(&chunk_checksum(data, offset).to_le_bytes());
    // LZ is tried only where a cheap test finds repeats in the first group (the low mantissa
    // byte of floats: noise unless values were copied), so weights without repeats pay two
    // hash probes per 8 bytes of one group.
    if dtype.groups() == 1 {
        if lz::has_repeats(data) {
            if dtype == DType::Bytes {
                // JSON headers, pickle and protobuf structure: worth a slower, closer search.
                block::encode_lz_text(data, out, tans);
            } else {
                block::encode_lz(data, out, tans);
            }
            // LZ's plain block has no bit planes: int8 weights with a few repeats.
            planes::try_planes(data, out, start + HEAD_LEN, tans);
        } else {
            block::encode_group(data, out, tans);
        }
        if tans {
            // Quantised (uint8/int8) weights: each byte given the bytes before it.
            keep_smaller(out, start + HEAD_LEN, context::HISTORY, |o| {
                context::encode_history(data, row, o)
            });
        }
    } else {
        // A block type's rows are not its elements' (nor its groups' lengths equal).
        let row = if dtype.bytewise() { row } else { 0 };
        let c = Grouped::code(data, dtype, tans, row, out, scratch);
        // Then two other codings, each kept where smaller.
        if dtype.bytewise() {
            c.try_plain_groups(data, &scratch[(c.groups - 2) * c.n..], start, out);
        }
        c.try_whole_bytes(data, start, out);
    }
    let body = &out[start + HEAD_LEN..];
    let (len, sum) = (body.len() as u32, checksum(body));
    out[start + 8..start + 12].copy_from_slice(&len.to_le_bytes());
    out[start + 12..start + 16].copy_from_slice(&sum.to_le_bytes());
}

/// A float chunk's byte groups as coded, and what the later trials need to know of them.
struct Grouped {
    dtype: DType,
    tans: bool,
    /// Elements in the chunk, and byte groups per element.
    n: usize,
    groups: usize,
    /// Where each group's block starts in `out` (`ends[0]`: the body) and the last one ends.
    ends: [usize; dtype::MAX_GROUPS + 1],
    /// What the LZ test found in the first group, and whether LZ is used in every group.
    first: lz::Repeats,
    lz: bool,
    /// The body's length with the sign-moved groups, before any trial replaced them: it
    /// decides the whole-bytes trial as it did before plain groups were tried (plain groups
    /// must not keep a few-valued chunk from it).
    grouped_moved: usize,
}

impl Grouped {
    /// Splits `data` into `scratch` and codes each byte group into `out` (with the context
    /// modes under `tans`, where smaller).
    fn code(
        data: &[u8],
        dtype: DType,
        tans: bool,
        row: usize,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Grouped {
        dtype::split(dtype, data, scratch);
        let n = data.len() / dtype.size();
        let groups = dtype.groups();
        let exponents = &scratch[dtype.group_range(groups - 1, n)];
        let mut ends = [out.len(); dtype::MAX_GROUPS + 1];
        // Runs of one byte in the first group (zero low bytes of FP16-representable FP32
        // rows) get LZ there only; copies of varied bytes get it in every group. Trials
        // where repeats covered 1/64 to 1/32 of it were a quarter of english_g2's compress
        // for 0.1 % of its size (bench/NOTES.md, session 40). --best also looks for rarer
        // copies (two 4 KiB LSTM bias vectors that are equal).
        let first = lz::repeats_covering(
            &scratch[dtype.group_range(0, n)],
            if tans { 512 } else { 32 },
        );
        let mut lz = first == lz::Repeats::Copies;
        for g in 0..groups {
            let group = &scratch[dtype.group_range(g, n)];
            let at = out.len();
            if lz || (g == 0 && first == lz::Repeats::Runs) {
                // Copies the first group's sample saw but LZ could not use there (short or
                // scattered repeats in noise) are no reason to try the other groups.
                if block::encode_lz(group, out, tans) == 0 && g == 0 {
                    lz = false;
                }
                planes::try_planes(group, out, at, tans);
            } else {
                block::encode_group(group, out, tans);
            }
            // Context modes decode slower than order 0: only with `tans` (--best), and only
            // where they are smaller.
            if tans && g + 2 == groups {
                keep_smaller(out, at, context::GIVEN, |o| {
                    context::encode_given(group, exponents, o)
                });
                keep_smaller(out, at, context::GIVEN_SIGNS, |o| {
                    context::encode_given_signs(group, exponents, row, o)
                });
                keep_smaller(out, at, context::GIVEN_NEIGHBOUR, |o| {
                    context::encode_given_neighbour(group, exponents, o)
                });
            } else if tans {
                // Exponents, and float32's low bytes (zero in rows that are exactly
                // float16-representable: the previous byte predicts it).
                keep_smaller(out, at, context::HISTORY, |o| {
                    context::encode_history(group, row, o)
                });
                // float16's last group is a 5-bit exponent and 3 mantissa bits: history
                // tables over the exponent alone are ~10x smaller than over whole bytes.
                // So is a ggml block's last float16's.
                if (dtype == DType::F16 || !dtype.bytewise()) && g + 1 == groups {
                    for b in [3, 2, 4] {
                        keep_smaller(out, at, context::SPLIT, |o| {
                            context::encode_split(group, b, row, o)
                        });
                    }
                } else if g + 1 == groups {
                    for b in [2, 3] {
                        keep_smaller(out, at, context::SPLIT, |o| {
                            context::encode_split(group, b, row, o)
                        });
                    }
                }
            }
            ends[g + 1] = out.len();
        }
        Grouped {
            dtype,
            tans,
            n,
            groups,
            ends,
            first,
            lz,
            grouped_moved: out.len() - ends[0],
        }
    }

    /// Copies that differ in sign (mirrored rows of an STFT basis) match in every plain byte
    /// group but not in the sign+mantissa group: plain groups (no sign move) are tried too,
    /// where LZ is used or they look smaller. So do values whose sign goes with their
    /// magnitude (few distinct values, quantised levels), where the sign move adds a bit a
    /// value to a byte that was constant. Groups below the sign move (float32 bytes 0 and 1)
    /// are the same either way and are kept. `moved`: the sign-moved groups it would replace.
    fn try_plain_groups(&self, data: &[u8], moved: &[u8], start: usize, out: &mut Vec<u8>) {
        if !self.lz && !plain_looks_smaller(data, self.dtype.size(), moved, self.n, self.tans) {
            return;
        }
        let (mut plain, mut groups) = (Vec::new(), Vec::new());
        dtype::split_plain(self.dtype.size(), data, &mut groups);
        let same = self.dtype.size() - 2;
        for group in groups.chunks_exact(self.n).skip(same) {
            if self.lz {
                block::encode_lz(group, &mut plain, self.tans);
            } else {
                block::encode(group, &mut plain, self.tans);
            }
        }
        let from = self.ends[same];
        if plain.len() < out.len() - from {
            out.truncate(from);
            out.extend_from_slice(&plain);
            out[start + 2] = FLAG_PLAIN;
        }
    }

    /// Two trials of the whole chunk as bytes, instead of groups; `as_bytes` stores such a
    /// coding.
    fn try_whole_bytes(&self, data: &[u8], start: usize, out: &mut Vec<u8>) {
        let Grouped {
            dtype,
            tans,
            ends,
            first,
            lz,
            grouped_moved,
            ..
        } = *self;
        let mut bytes = Vec::new();
        let as_bytes = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.truncate(ends[0]);
            out.extend_from_slice(bytes);
            out[start + 1] = DType::Bytes.code();
            out[start + 2] = 0;
        };
        // Most elements equal to the one before (sorted tensors of few values, masks, padding):
        // whole bytes' LZ takes each run as one copy, where every group pays at least a bit an
        // element (a sorted fp32 tensor of 64 values: 640 bytes whole against 99 KB grouped).
        // The fast LZ only: the deep one crawls on random runs of two values. Kept where it
        // halves the chunk (any gain with `tans`): short runs gain a little and decode at a
        // third of the groups' speed. The chunk's first 8 KiB must show that first, so that
        // data which only looks like runs where the test samples costs a little time.
        let grouped = out.len() - ends[0];
        let head = &data[..data.len().min(8 << 10)];
        // Products in u64: on wasm32 they pass usize's 32 bits.
        let halves =
            |b: usize, len: usize| 2 * b as u64 * (data.len() as u64) < grouped as u64 * len as u64;
        if element_runs(data, dtype.size()) && {
            block::encode_lz(head, &mut bytes, tans);
            halves(bytes.len(), head.len())
        } {
            bytes.clear();
            block::encode_lz(data, &mut bytes, tans);
            if bytes.len() < grouped && (tans || halves(bytes.len(), data.len())) {
                as_bytes(out, &bytes);
            }
        }
        // A tensor of few distinct values (an STFT basis: cosines of k·n/N) repeats whole
        // elements, which the groups split apart: whole bytes code it in a quarter less (the
        // `melspectrogram` model of openwakeword 0.4.0: 0.60 of its size grouped). A chunk
        // records its own dtype, so it is then stored as bytes. Tried where the groups code
        // poorly and whole bytes code the chunk's first 16 KiB better than the groups the
        // chunk: weights with zero rows or FP16-exact rows also repeat, and never gain.
        // float64 tables (grids of parameters, sampled functions: scipy's test data) that LZ
        // found copies in are tried whole, even where their groups code well, and without the
        // probe: their repeats are not always near the start (a column-major table's first
        // column is a grid): split into eight groups, scipy's levy_stable tables came out
        // 40 % larger than as whole elements (68.1 against 48.6 KB).
        let grouped = out.len() - ends[0];
        let probe = &data[..data.len().min(16 << 10)];
        bytes.clear();
        let table = dtype == DType::F64 && lz;
        if table
            || first != lz::Repeats::None
                && 2 * grouped_moved > data.len()
                && block::encode_lz_text(probe, &mut bytes, tans) > 0
                && (bytes.len() as u64) * (data.len() as u64)
                    < (grouped as u64) * (probe.len() as u64)
        {
            bytes.clear();
            block::encode_lz_text(data, &mut bytes, tans);
            if bytes.len() < grouped {
                as_bytes(out, &bytes);
            }
        }
    }
}

/// Whether three in four of 1024 elements spread over the chunk equal the element before
/// them: runs of four elements on average, long enough for LZ to gain (a random mask of two
/// values, half its pairs equal, only took time). Each sample is at a position jittered
/// within its stride, so that runs whose length divides the stride do not always meet it.
fn element_runs(data: &[u8], w: usize) -> bool {
    // Elements as arrays of their size: compared inline, where a slice compare of 2 or 4
    // bytes called `memcmp` (3 % of a bf16 compress).
    match w {
        1 => runs_of::<1>(data),
        2 => runs_of::<2>(data),
        4 => runs_of::<4>(data),
        8 => runs_of::<8>(data),
        _ => false,
    }
}

/// [`element_runs`] for elements of `W` bytes.
fn runs_of<const W: usize>(data: &[u8]) -> bool {
    let (elements, _) = data.as_chunks::<W>();
    let n = elements.len();
    let step = (n / 1024).max(1);
    let jitter = FastMod::new(step as u32);
    let (mut same, mut all) = (0u32, 0u32);
    for (i, base) in (0..n).step_by(step).enumerate() {
        // In u32, so that native and wasm32 builds pick the same samples (and files).
        let j = base + jitter.of((i as u32).wrapping_mul(0x9E37_79B9) >> 7) as usize;
        if j == 0 || j >= n {
            continue;
        }
        all += 1;
        same += (elements[j] == elements[j - 1]) as u32;
    }
    4 * same > 3 * all
}

/// `a % d` for one `d` and many `a`, by two multiplications (Lemire, Kaser and Kurz, "Faster
/// remainder by direct computation", 2019): a division per sample was 4 % of a bf16 compress.
struct FastMod {
    d: u32,
    m: u64,
}

impl FastMod {
    fn new(d: u32) -> FastMod {
        // d = 1 wraps m to 0, and every remainder is 0 as it should be.
        FastMod {
            d,
            m: (u64::MAX / d as u64).wrapping_add(1),
        }
    }

    fn of(&self, a: u32) -> u32 {
        let low = self.m.wrapping_mul(a as u64);
        ((low as u128 * self.d as u128) >> 64) as u32
    }
}

/// Whether plain groups look cheaper than the sign-moved ones: the test that gates coding
/// plain groups for real (the trial then decides by coded size). Trained weights' signs are a
/// coin toss apart from their magnitudes, and there the sign move wins; it loses where the
/// sign goes with the value (tensors of few values, of quantised levels, of -0.0), and then
/// the byte below the sign's (low mantissa bits; float64's byte 6) takes few values, and on
/// bytes that are not floats of this type (int8 pairs forced to float16: 5–6 %).
fn plain_looks_smaller(data: &[u8], w: usize, moved: &[u8], n: usize, tans: bool) -> bool {
    // Trained weights' low mantissa bits take more than 128 values within the first few
    // hundred elements sampled. There the two groupings are a near tie that a trial would
    // seldom change, so plain groups must look 2 % smaller, on a smaller sample.
    let mut seen = [false; 256];
    let mut distinct = 0;
    for x in data.chunks_exact(w).step_by((n / 1024).max(1)) {
        let b = &mut seen[x[w - 2] as usize];
        distinct += !*b as u32;
        *b = true;
        if distinct > 128 {
            break;
        }
    }
    let (k, margin) = if distinct > 128 {
        (n.min(1024), 0.98)
    } else {
        (n.min(4096), 1.0)
    };
    // Order-0 entropy on `k` elements spread over the chunk, except that huff0 (tANS only
    // with `tans`) spends at least a bit a symbol unless the group is one byte repeated: a
    // sign alone in a byte costs a whole bit even where it is nearly always the same.
    let step = n / k;
    let mut counts = [[0u32; 256]; 4];
    for j in (0..k).map(|i| i * step) {
        counts[0][data[j * w + w - 2] as usize] += 1;
        counts[1][data[j * w + w - 1] as usize] += 1;
        counts[2][moved[j] as usize] += 1;
        counts[3][moved[n + j] as usize] += 1;
    }
    let bits = |c: &[u32; 256]| {
        let h = block::entropy_bits(c, k);
        match c.iter().filter(|&&x| x > 0).count() {
            1 => 0.0,
            _ if tans => h,
            _ => h.max(k as f64),
        }
    };
    let [lo, hi, m0, m1] = &counts;
    // Few values: no margin. The estimate is rough (huff0's lengths are whole bits), and the
    // trial that follows keeps the smaller coding.
    bits(lo) + bits(hi) < margin * (bits(m0) + bits(m1))
}

/// The mode byte and coded size of each block of a chunk body, in group order (for reports:
/// which coder the encoder chose). Stops at a mode it does not know.
pub fn block_modes(head: &ChunkHead, body: &[u8]) -> Vec<(u8, usize)> {
    // Reads inside the slice cannot fail.
    block_modes_in(head, &mut &body[..], 0, body.len()).unwrap_or_default()
}

/// [`block_modes`] of the body at `src[at..at + len]`, reading only each block's mode and
/// length (a few bytes a block, not the body). A failed read of the source (a file that
/// shrank since it was indexed) is an error, not a shorter list.
pub(crate) fn block_modes_in<S: Source + ?Sized>(
    head: &ChunkHead,
    src: &mut S,
    at: u64,
    len: usize,
) -> Result<Vec<(u8, usize)>, Error> {
    let elements = head.raw_len as usize / head.dtype.size();
    let mut pos = 0;
    let mut modes = Vec::new();
    // `n <= 4` bytes at `pos` of the body (zero-padded); `None` past the body's end.
    let mut read = |pos: usize, n: usize| -> Result<Option<[u8; 4]>, Error> {
        if pos.checked_add(n).is_none_or(|end| end > len) {
            return Ok(None);
        }
        let mut b = [0; 4];
        b[..n].copy_from_slice(src.read(at + pos as u64, n)?);
        Ok(Some(b))
    };
    for g in 0..head.dtype.groups() {
        let Some([mode, ..]) = read(pos, 1)? else {
            break;
        };
        let len = match mode {
            block::RAW => 1 + head.dtype.group_width(g) * elements,
            block::REPEAT => 2,
            _ => match read(pos + 1, 4)? {
                Some(l) => (u32::from_le_bytes(l) as usize).saturating_add(5),
                None => break,
            },
        };
        modes.push((mode, len));
        pos = pos.saturating_add(len);
    }
    Ok(modes)
}

/// Replaces the block at `out[at..]` by a `mode` block from `coder` if that is smaller.
fn keep_smaller(
    out: &mut Vec<u8>,
    at: usize,
    mode: u8,
    coder: impl FnOnce(&mut Vec<u8>) -> Option<usize>,
) {
    let mut alt = Vec::new();
    alt.extend_from_slice(&[mode, 0, 0, 0, 0]);
    if let Some(len) = coder(&mut alt) {
        if alt.len() < out.len() - at {
            alt[1..5].copy_from_slice(&(len as u32).to_le_bytes());
            out.truncate(at);
            out.extend_from_slice(&alt);
        }
    }
}

/// Decodes a chunk body into `dst` (exactly `head.raw_len` bytes) and verifies the decoded
/// bytes' checksum, which is what guarantees them. The body checksum is read only when that
/// fails, to report a changed body as such: a change the decoders ignore cannot alter a
/// decoded byte, and hashing every body costs ~10% of a decode (FORMAT.md §3).
/// [`check_body`] catches those changes too, for integrity checks (`zipnn test`).
pub fn decode(
    head: &ChunkHead,
    body: &[u8],
    offset: u64,
    dst: &mut [u8],
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    debug_assert_eq!(dst.len(), head.raw_len as usize);
    let decoded = decode_body(head, body, offset, dst, scratch);
    if matches!(decoded, Ok(h) if h == head.checksum) {
        return Ok(());
    }
    // A decode error or a wrong result counts only behind a valid body checksum.
    check_body(head, body, offset)?;
    decoded?;
    Err(Error::Checksum {
        what: "chunk",
        offset,
    })
}

/// Verifies a chunk body against the checksum in its head (`offset`: the chunk's decoded
/// offset, for the error).
pub fn check_body(head: &ChunkHead, body: &[u8], offset: u64) -> Result<(), Error> {
    if checksum(body) != head.body_checksum {
        return Err(Error::Checksum {
            what: "chunk body",
            offset,
        });
    }
    Ok(())
}

/// Decodes the blocks of a chunk body into `dst`, unverified; returns the decoded bytes'
/// checksum (to compare with the head's).
fn decode_body(
    head: &ChunkHead,
    body: &[u8],
    offset: u64,
    dst: &mut [u8],
    scratch: &mut Vec<u8>,
) -> Result<u32, Error> {
    let (dtype, groups) = (head.dtype, head.dtype.groups());
    let (used, hash) = if groups == 1 {
        let used = block::decode(body, dst)?;
        (used, chunk_checksum(dst, offset))
    } else {
        let n = dst.len() / dtype.size();
        let range = |g| dtype.group_range(g, n);
        // Grown once to the largest chunk, never shrunk: chunks of other sizes must not
        // zero-fill it again (every byte used is written by a block decoder first).
        if scratch.len() < dst.len() {
            scratch.resize(dst.len(), 0);
        }
        let scratch = &mut scratch[..dst.len()];
        // Raw groups are merged straight from the input; others are decoded into scratch.
        let mut raw: [Option<core::ops::Range<usize>>; dtype::MAX_GROUPS] = Default::default();
        // A block coded given the exponents (the last group) is decoded after them.
        let mut given: Option<(usize, u8, core::ops::Range<usize>)> = None;
        // The body is whole (its length is in the head): a block that runs past it is
        // malformed, not cut short.
        let past = || Error::corrupt("block runs past the chunk body");
        let mut pos = 0;
        for g in 0..groups {
            let slot = &mut scratch[range(g)];
            let rest = body.get(pos..).ok_or_else(past)?;
            if let Some(
                &mode @ (context::GIVEN | context::GIVEN_SIGNS | context::GIVEN_NEIGHBOUR),
            ) = rest.first()
            {
                if g + 2 != groups {
                    return Err(Error::corrupt("conditional block in the wrong group"));
                }
                let len = rest.get(1..5).ok_or_else(past)?;
                let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
                let r = pos + 5..(pos + 5).saturating_add(len);
                body.get(r.clone()).ok_or_else(past)?;
                pos = r.end;
                given = Some((g, mode, r));
            } else if rest.first() == Some(&block::RAW) {
                let r = pos + 1..pos + 1 + slot.len();
                body.get(r.clone())
                    .ok_or_else(|| Error::corrupt("raw block past chunk end"))?;
                pos = r.end;
                raw[g] = Some(r);
            } else if g + 1 == groups && dtype.bytewise() {
                // The exponents, decoded last: the raw groups are prefetched meanwhile.
                let raws = raw.iter().flatten().map(|r| &body[r.clone()]);
                let mut ahead = merge_ahead(raws);
                pos += block::decode_paced(rest, slot, &mut ahead)?;
            } else {
                pos += block::decode(rest, slot)?;
            }
        }
        if let Some((g, mode, r)) = given {
            let (head, exps) = scratch.split_at_mut(range(groups - 1).start);
            let exps: &[u8] = match &raw[groups - 1] {
                Some(e) => &body[e.clone()],
                None => exps,
            };
            let dst = &mut head[range(g)];
            match mode {
                context::GIVEN => context::decode_given(&body[r], exps, dst)?,
                context::GIVEN_SIGNS => context::decode_given_signs(&body[r], exps, dst)?,
                _ => context::decode_given_neighbour(&body[r], exps, dst)?,
            }
        }
        let mut parts: [&[u8]; dtype::MAX_GROUPS] = [&[]; dtype::MAX_GROUPS];
        for (g, part) in parts.iter_mut().enumerate().take(groups) {
            *part = match &raw[g] {
                Some(r) => &body[r.clone()],
                None => &scratch[range(g)],
            };
        }
        if head.plain {
            dtype::merge_plain(&parts[..groups], dst);
        } else {
            dtype::merge(head.dtype, &parts[..groups], dst);
        }
        // Merged whole, then hashed in one call: XXH3's one-shot loop keeps its accumulators
        // in registers, where the streaming form (4 KiB pieces hashed while in L1) reloads
        // them every 256 bytes. A wasm decode 3–5 % faster, native 0–3 % (bench/NOTES.md).
        (pos, chunk_checksum(dst, offset))
    };
    if used != body.len() {
        return Err(Error::corrupt(
            "chunk body length does not match its blocks",
        ));
    }
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// [`FastMod`] is `%` for every divisor a chunk gives (up to 16 Mi elements / 1024) and
    /// the jitters it takes (25 bits), and at the ends of `u32`.
    #[test]
    fn fast_mod_is_remainder() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u32
        };
        let mut ds: Vec<u32> = (1..=4200).collect();
        ds.extend([16 << 10, (16 << 10) - 1, u32::MAX, u32::MAX - 1, 1 << 31]);
        for d in ds {
            let f = FastMod::new(d);
            for a in [0, 1, d - 1, d, d.wrapping_add(1), (1 << 25) - 1, u32::MAX] {
                assert_eq!(f.of(a), a % d, "{a} % {d}");
            }
            for _ in 0..200 {
                let a = next();
                assert_eq!(f.of(a), a % d, "{a} % {d}");
                assert_eq!(f.of(a >> 7), (a >> 7) % d, "{a} >> 7 % {d}");
            }
        }
    }

    /// A float32 tensor of few distinct values in repeated runs (an STFT basis) is stored as
    /// a bytes chunk when whole elements code it smaller, and decodes back exactly.
    #[test]
    fn few_distinct_floats_go_whole() {
        extern crate std;
        let (rows, n) = (96usize, 512usize);
        let src: Vec<u8> = (0..rows * n)
            .flat_map(|i| {
                // Row k of a 512-point STFT basis: cos(2 pi k t / 512) under a 400-point Hann
                // window in the middle, zeros around it (the `melspectrogram` model's).
                let (k, t) = ((i / n) as f64, (i % n) as f64);
                let pi2 = 2.0 * core::f64::consts::PI;
                let w = if (56.0..456.0).contains(&t) {
                    0.5 - 0.5 * (pi2 * (t - 56.0) / 400.0).cos()
                } else {
                    0.0
                };
                ((w * (pi2 * k * t / n as f64).cos()) as f32).to_le_bytes()
            })
            .collect();
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        encode(&src, DType::F32, 0, false, &mut out, &mut scratch);
        let Ok(Record::Chunk(head)) = Record::parse(&out, 1 << 20, 0) else {
            panic!("not a chunk record");
        };
        assert_eq!(head.dtype, DType::Bytes);
        // Grouped: 0.66 of the size.
        assert!(
            out.len() * 10 < src.len() * 6,
            "{} of {} bytes",
            out.len(),
            src.len()
        );
        let mut back = vec![0u8; src.len()];
        decode(&head, &out[HEAD_LEN..], 0, &mut back, &mut scratch).unwrap();
        assert_eq!(back, src);
    }

    /// Quantised weights (uint8 around a zero point, neighbours alike, as in conv kernels) in a
    /// bytes chunk: with `tans` (`--best`) the history context codes them, smaller than order
    /// 0, and they decode back; without it the chunk stays order 0.
    #[test]
    fn quantised_bytes_take_the_history_context() {
        // A slowly wandering level plus small noise: the previous byte predicts the next.
        let mut level = 0i32;
        let src: Vec<u8> = crate::noise(400_000, 9)
            .chunks_exact(2)
            .map(|r| {
                level = (level + (r[0] % 5) as i32 - 2).clamp(-40, 40);
                (128 + level + (r[1] % 7) as i32 - 3) as u8
            })
            .collect();
        let mut sizes = [0usize; 2];
        for (tans, size) in [false, true].into_iter().zip(&mut sizes) {
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            encode(&src, DType::Bytes, 0, tans, &mut out, &mut scratch);
            let Ok(Record::Chunk(head)) = Record::parse(&out, 1 << 20, 0) else {
                panic!("not a chunk record");
            };
            let mode = out[HEAD_LEN];
            assert_eq!(mode == context::HISTORY, tans, "mode {mode}");
            let mut back = vec![0u8; src.len()];
            decode(&head, &out[HEAD_LEN..], 0, &mut back, &mut scratch).unwrap();
            assert_eq!(back, src);
            *size = out.len();
        }
        assert!(sizes[1] * 10 < sizes[0] * 9, "{sizes:?}");
    }
}
