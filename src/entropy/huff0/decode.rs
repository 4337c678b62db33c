//! Table-driven decoding: a single-symbol table (the reference, and the fast loop for trees
//! of long codes, whose lookups yield one symbol anyway) and a multi-symbol table of up to
//! five symbols per 11-bit lookup; four streams decoded interleaved.

use super::weights::{canonical_codes, read_weights, Weights};
use super::{fse, EntropyError, Jump, Pace, LOOKUP_BITS, LOOKUP_SIZE, MULTI_MAX};
use crate::entropy::bit_io::{lane, BackwardReader};
use alloc::boxed::Box;

/// Multi-symbol entry layout: bits consumed in bits 0..6, so `bits << e` is the shift (x86 and
/// wasm shift by the amount mod 64); symbols in bytes 1..6, stored as `e >> 8` (8 bytes; the
/// bytes past the count are overwritten by the next store); the count in bits 61..64, so
/// `e >> 61` needs no mask and is provably at most 7, which lets the compiler drop bounds
/// checks.
pub(super) const MULTI_SYMS_SHIFT: u32 = 8;
pub(super) const MULTI_USED_SHIFT: u32 = 0;
pub(super) const MULTI_COUNT_SHIFT: u32 = 61;

/// Below this many symbols a lookup on average (as a fraction), the multi-symbol table gains
/// less than the single-symbol loop's cheaper lookups (bench/NOTES.md, session 69).
const ONE_PER_LOOKUP_NUM: u64 = 5;
const ONE_PER_LOOKUP_DEN: u64 = 4;

/// Decoding tables for one tree description. Build once, decode many blocks.
pub struct DecodeTable {
    table_log: u32,
    /// Whether the multi-symbol table yields under [`ONE_PER_LOOKUP_NUM`] /
    /// [`ONE_PER_LOOKUP_DEN`] symbols a lookup on average (bytes near 8 bits): the
    /// single-symbol loop then decodes faster (bench/NOTES.md, session 69).
    one_per_lookup: bool,
    /// Indexed by the next 11 bits: symbol | code length << 8.
    pub(super) single: Box<[u16; LOOKUP_SIZE]>,
    /// Indexed by the next 11 bits: up to five symbols whose codes lie wholly in the window
    /// (layout above).
    pub(super) multi: Box<[u64; LOOKUP_SIZE]>,
    /// Work space of [`build_multi`](Self::build_multi).
    levels: Box<[u64; LOOKUP_SIZE]>,
}

impl Default for DecodeTable {
    fn default() -> Self {
        Self::new()
    }
}

impl DecodeTable {
    /// An empty table (decodes nothing useful until [`read_into`](Self::read_into)).
    pub fn new() -> Self {
        DecodeTable {
            table_log: 1,
            one_per_lookup: false,
            single: Box::new([0; LOOKUP_SIZE]),
            multi: Box::new([0; LOOKUP_SIZE]),
            levels: Box::new([0; LOOKUP_SIZE]),
        }
    }

    /// Parses a tree description at the start of `src`; returns the table and the description size.
    pub fn read(src: &[u8]) -> Result<(DecodeTable, usize), EntropyError> {
        let mut t = DecodeTable::new();
        let used = t.read_into(src)?;
        Ok((t, used))
    }

    /// Like [`read`](Self::read) but reuses this table's memory. Returns the description size.
    pub fn read_into(&mut self, src: &[u8]) -> Result<usize, EntropyError> {
        let (weights, used) = read_weights(src)?;
        self.build(&weights, MULTI_MAX);
        Ok(used)
    }

    /// As [`read_into`](Self::read_into) with at most `max` symbols per lookup (benchmarks).
    #[cfg(test)]
    pub(super) fn read_into_limited(
        &mut self,
        src: &[u8],
        max: u32,
    ) -> Result<usize, EntropyError> {
        let (weights, used) = read_weights(src)?;
        self.build(&weights, max.clamp(1, MULTI_MAX));
        Ok(used)
    }

    /// The table log (longest code length) of the current tree.
    pub fn table_log(&self) -> u32 {
        self.table_log
    }

    /// Whether [`decode_4x`](Self::decode_4x) takes the single-symbol loop for this tree.
    #[cfg(test)]
    pub(super) fn one_per_lookup(&self) -> bool {
        self.one_per_lookup
    }

    /// Parses a tree description into the single-symbol table only, for
    /// [`decode_4x_reference`](Self::decode_4x_reference): the multi-symbol table keeps stale
    /// entries. Returns the description size.
    fn read_single(&mut self, src: &[u8]) -> Result<usize, EntropyError> {
        let (weights, used) = read_weights(src)?;
        self.build_single(&weights, &canonical_codes(&weights));
        Ok(used)
    }

    fn build(&mut self, weights: &Weights, max_per_lookup: u32) {
        let codes = canonical_codes(weights);
        self.build_single(weights, &codes);
        // (symbol, length, code) by code length, shortest first: a counting sort.
        let mut next = [0usize; LOOKUP_BITS as usize + 1];
        for &(_, len) in &codes[..weights.symbols] {
            next[len as usize] += 1;
        }
        let mut n = 0;
        for x in &mut next[1..] {
            (*x, n) = (n, n + *x);
        }
        let mut by_len = [(0u8, 0u8, 0u16); 256];
        for (s, &(code, len)) in codes[..weights.symbols].iter().enumerate() {
            if len > 0 {
                by_len[next[len as usize]] = (s as u8, len, code);
                next[len as usize] += 1;
            }
        }
        self.build_multi(&by_len[..n], max_per_lookup);
        // Symbols a multi-symbol lookup yields on average: the stream's bits are close to
        // uniform, so each 11-bit window is about equally likely.
        let total: u64 = self.multi.iter().map(|&e| e >> MULTI_COUNT_SHIFT).sum();
        self.one_per_lookup = total * ONE_PER_LOOKUP_DEN < ONE_PER_LOOKUP_NUM * LOOKUP_SIZE as u64;
    }

    /// Fills the single-symbol table from the canonical codes.
    fn build_single(&mut self, weights: &Weights, codes: &[(u16, u8); 256]) {
        self.table_log = weights.table_log;
        // Each code of length `len` owns 2^(11 - len) consecutive windows.
        for (s, &(code, len)) in codes[..weights.symbols].iter().enumerate() {
            if len > 0 {
                let shift = LOOKUP_BITS - len as u32;
                let first = (code as usize) << shift;
                let e = s as u16 | (len as u16) << 8;
                self.single[first..first + (1 << shift)].fill(e);
            }
        }
    }

    /// The multi-symbol table, by levels instead of window by window. Level `c` holds, for every
    /// `k` in 0..=10 (at `levels[2^k .. 2^(k+1)]`), the entries of all `k`-bit windows decoded to
    /// at most `c` symbols (count in the top bits; 0 = no code fits). A window that starts with
    /// code `s` of length `l` decodes to `s` followed by the level `c - 1` entry of its remaining
    /// `k - l` bits, so each level is a few slice-to-slice copies with `s` prepended, which
    /// vectorise; the full 11-bit table is the last level. Levels are computed in place (larger
    /// `k` first: they read only smaller ones). About 4 × 2048 simple entry updates per table,
    /// several times fewer instructions than decoding each window symbol by symbol.
    fn build_multi(&mut self, by_len: &[(u8, u8, u16)], max: u32) {
        let levels = &mut *self.levels;
        // Level `c` is read only after `max - c` more codes of at least `min_len` bits, so only
        // its windows of at most `11 - (max - c) * min_len` bits are needed (the others keep
        // stale entries, never read): with 2-bit shortest codes, 3.4 K entries instead of 8.2 K.
        let min_len = by_len.first().map_or(1, |&(_, len, _)| len as u32);
        for c in 1..max {
            let k_max = LOOKUP_BITS
                .saturating_sub((max - c) * min_len)
                .min(LOOKUP_BITS - 1);
            for k in (1..=k_max).rev() {
                let (lower, this) = levels.split_at_mut(1 << k);
                let this = &mut this[..1 << k];
                // Canonical codes put the longest codes first, so the windows of codes of at
                // most `k` bits are one run at the top: only the run below it needs zeros.
                let mut covered = 1 << k;
                for &(s, len, code) in by_len {
                    let Some(rest) = k.checked_sub(len as u32) else {
                        break;
                    };
                    let at = (code as usize) << rest;
                    covered = covered.min(at);
                    let dst = &mut this[at..][..1 << rest];
                    if c == 1 {
                        // `s` prepended to level 0 (nothing decoded, all zeros): no need to
                        // store that level and read it back.
                        dst.fill(prepended(0, s, len, 1 << MULTI_COUNT_SHIFT));
                    } else {
                        let src = &lower[1 << rest..2 << rest];
                        prepend(dst, src, s, len, 1 << MULTI_COUNT_SHIFT);
                    }
                }
                this[..covered].fill(0);
            }
        }
        if max == 1 {
            self.levels.fill(0);
        }
        let levels = &*self.levels;
        // The lookup table: every 11-bit window starts with a code (the code is complete).
        for &(s, len, code) in by_len {
            let rest = LOOKUP_BITS - len as u32;
            let src = &levels[1 << rest..2 << rest];
            let dst = &mut self.multi[(code as usize) << rest..][..1 << rest];
            prepend(dst, src, s, len, 1 << MULTI_COUNT_SHIFT);
        }
    }

    /// Decodes one stream (`1x`) into `dst`.
    pub fn decode_1x(&self, stream: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
        let mut r = BackwardReader::new(stream)?;
        let mut op = 0;
        if let Some(mut l) = lane::enter(stream, 0, r.bits_remaining()) {
            op = self.hot_1(stream, 0, &mut l, dst, 0);
            r.seek_remaining(lane::remaining(0, l.0, l.1));
        }
        self.tail(&mut r, dst, op)
    }

    /// Decodes a 6-byte jump table and four streams (`4x`) into `dst`.
    pub fn decode_4x(&self, streams: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
        super::bmi2::decode_4x_jump(self, streams, dst, Jump::U16, &mut ())
    }

    /// [`decode_4x`](Self::decode_4x) with the jump table's sizes `jump` wide, the portable
    /// loop (callers go through `bmi2::decode_4x_jump`, which inlines it in a BMI2 copy too).
    #[cfg_attr(target_arch = "x86_64", inline(always))]
    pub(super) fn decode_4x_jump(
        &self,
        streams: &[u8],
        dst: &mut [u8],
        jump: Jump,
        pace: &mut impl Pace,
    ) -> Result<(), EntropyError> {
        let mut s = Split4::new(streams, dst, jump)?;
        let mut op = [0usize; 4];
        let lanes = [0, 1, 2, 3].map(|k| lane::enter(s.body, s.start[k], s.r[k].bits_remaining()));
        if let [Some(l0), Some(l1), Some(l2), Some(l3)] = lanes {
            let mut lanes = [l0, l1, l2, l3];
            if self.one_per_lookup {
                self.hot_4x_single(&mut s, &mut lanes, &mut op, pace);
            } else {
                self.hot_4x(&mut s, &mut lanes, &mut op, pace);
            }
            // The streams differ in length: finish each one's fast part alone.
            for k in 0..4 {
                op[k] = self.hot_1(s.body, s.start[k], &mut lanes[k], s.d[k], op[k]);
                let (bits, end) = lanes[k];
                s.r[k].seek_remaining(lane::remaining(s.start[k], bits, end));
            }
        }
        for ((r, d), &op) in s.r.iter_mut().zip(s.d.iter_mut()).zip(&op) {
            self.tail(r, d, op)?;
        }
        Ok(())
    }

    /// The four streams interleaved, five lookups each per refill, while every stream has
    /// input for a refill and 32 bytes of output room. Each lookup stores 8 bytes into a small
    /// stack buffer per stream (its offset <= 20; the compiler sees <= 28 of 40 bytes); after
    /// five, 32 bytes of it are copied to the stream's output, a round later. The buffers need
    /// no register of their own, which keeps the four lanes' state in registers (writing
    /// straight into the outputs spilled). `pace` is told the symbols decoded once per round.
    #[inline(always)]
    fn hot_4x(
        &self,
        s: &mut Split4,
        lanes: &mut [(u64, usize); 4],
        op: &mut [usize; 4],
        pace: &mut impl Pace,
    ) {
        let table = &*self.multi;
        let body = s.body;
        // Two sets of buffers, written in turns: a round's 32 bytes are copied out one round
        // later. Read back at once, the copy's wide loads span several of the round's 8-byte
        // stores, which the CPU cannot forward, so they waited for those stores to reach L1.
        let mut stage = [[[0u8; 40]; 4]; 2];
        let mut cur = 0;
        // Where the other set's symbols go, once a round has filled it.
        let mut pending: Option<[usize; 4]> = None;
        loop {
            // A round writes at most 25 symbols and its copy needs 32 bytes of room.
            let rounds = s.safe_rounds(lanes.map(|l| l.1), op, 25, 32);
            if rounds == 0 {
                break;
            }
            for _ in 0..rounds {
                pace.decoded(op[0] + op[1] + op[2] + op[3]);
                let mut o = [0usize; 4];
                for _ in 0..5 {
                    for k in 0..4 {
                        o[k] = multi_step(table, &mut lanes[k].0, &mut stage[cur][k], o[k]);
                    }
                }
                if let Some(at) = pending {
                    copy_out(s, &stage[cur ^ 1], at);
                }
                pending = Some(*op);
                for k in 0..4 {
                    op[k] += o[k];
                    let (bits, end) = &mut lanes[k];
                    lane::refill(body, bits, end);
                }
                cur ^= 1;
            }
        }
        if let Some(at) = pending {
            copy_out(s, &stage[cur ^ 1], at);
        }
    }

    /// [`hot_4x`](Self::hot_4x) for trees whose multi-symbol lookups would yield about one
    /// symbol each (`one_per_lookup`): five lookups a stream per refill in the single-symbol
    /// table, each symbol stored straight to its place in the output (no count, no stage
    /// buffer), while every stream has input for a refill and 5 bytes of output room.
    #[inline(always)]
    fn hot_4x_single(
        &self,
        s: &mut Split4,
        lanes: &mut [(u64, usize); 4],
        op: &mut [usize; 4],
        pace: &mut impl Pace,
    ) {
        fn at(d: &mut [u8], op: usize) -> Option<&mut [u8; 5]> {
            d.get_mut(op..).and_then(|d| d.first_chunk_mut::<5>())
        }
        let table = &*self.single;
        let body = s.body;
        // The bit buffers in locals: through `lanes` LLVM stored and reloaded them around
        // every output store.
        let mut bits = lanes.map(|l| l.0);
        let mut ends = lanes.map(|l| l.1);
        'batches: loop {
            let rounds = s.safe_rounds(ends, op, 5, 5);
            if rounds == 0 {
                break;
            }
            for _ in 0..rounds {
                pace.decoded(op[0] + op[1] + op[2] + op[3]);
                let [d0, d1, d2, d3] = &mut s.d;
                let (Some(o0), Some(o1), Some(o2), Some(o3)) =
                    (at(d0, op[0]), at(d1, op[1]), at(d2, op[2]), at(d3, op[3]))
                else {
                    break 'batches; // not reached: `rounds` left 5 bytes a round
                };
                let mut o = [o0, o1, o2, o3];
                for i in 0..5 {
                    // Step `i` of the four streams in turn: four independent chains.
                    for (out, bits) in o.iter_mut().zip(&mut bits) {
                        let e = table[(*bits >> (64 - LOOKUP_BITS)) as usize];
                        out[i] = e as u8;
                        *bits <<= (e >> 8) as u32;
                    }
                }
                for k in 0..4 {
                    op[k] += 5;
                    lane::refill(body, &mut bits[k], &mut ends[k]);
                }
            }
        }
        for k in 0..4 {
            lanes[k] = (bits[k], ends[k]);
        }
    }

    /// One stream (at `src[start..]`, in lane form) decoded into `dst` from `op` on, five
    /// lookups per refill, while there is input for a refill and 40 bytes of output room.
    /// Returns the new output position.
    #[cfg_attr(target_arch = "x86_64", inline(always))]
    fn hot_1(
        &self,
        src: &[u8],
        start: usize,
        (bits, end): &mut (u64, usize),
        dst: &mut [u8],
        mut op: usize,
    ) -> usize {
        while *end >= start + 15 {
            let Some(w) = dst.get_mut(op..).and_then(|d| d.first_chunk_mut::<40>()) else {
                break;
            };
            let mut o = 0;
            for _ in 0..5 {
                o = multi_step(&self.multi, bits, w, o);
            }
            op += o;
            lane::refill(src, bits, end);
        }
        op
    }

    /// Reference decoder for `4x`: one symbol per lookup, every read checked, no fast path.
    /// Same results as [`decode_4x`](Self::decode_4x): the oracle for tests, and (as
    /// `decode_4x_single`) the decoder of blocks too small for the multi-symbol table.
    pub fn decode_4x_reference(&self, streams: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
        self.decode_4x_single(streams, dst, Jump::U16)
    }

    /// [`decode_4x_reference`](Self::decode_4x_reference) with the jump table's sizes `jump`
    /// wide: reads only the single-symbol table.
    fn decode_4x_single(
        &self,
        streams: &[u8],
        dst: &mut [u8],
        jump: Jump,
    ) -> Result<(), EntropyError> {
        let s = Split4::new(streams, dst, jump)?;
        for (mut r, d) in s.r.into_iter().zip(s.d) {
            for o in d.iter_mut() {
                r.refill();
                let e = self.single[r.peek11()];
                *o = e as u8;
                r.consume_checked((e >> 8) as u32);
            }
            if !r.is_exhausted() {
                return Err(EntropyError::Corrupt(
                    "Huffman stream does not end at its last bit",
                ));
            }
        }
        Ok(())
    }

    /// Finishes a stream with every read checked, then requires it to be consumed exactly.
    fn tail(
        &self,
        r: &mut BackwardReader,
        dst: &mut [u8],
        mut op: usize,
    ) -> Result<(), EntropyError> {
        while op < dst.len() {
            r.refill();
            let e = self.multi[r.peek11()];
            let count = (e >> MULTI_COUNT_SHIFT) as usize;
            let len = multi_used(e);
            match dst.get_mut(op..op + count) {
                Some(o) if len <= r.loaded() => {
                    o.copy_from_slice(&(e >> MULTI_SYMS_SHIFT).to_le_bytes()[..count]);
                    op += count;
                    r.consume(len);
                }
                _ => {
                    // Near the end of the output or of the stream: one symbol at a time.
                    let e = self.single[r.peek11()];
                    let len = (e >> 8) as u32;
                    if len > r.loaded() {
                        return Err(EntropyError::Corrupt("Huffman stream ends inside a code"));
                    }
                    dst[op] = e as u8;
                    op += 1;
                    r.consume(len);
                }
            }
        }
        if !r.is_exhausted() {
            return Err(EntropyError::Corrupt(
                "Huffman stream does not end at its last bit",
            ));
        }
        Ok(())
    }
}

/// Symbols held by an entry of a table level under construction (at most four).
const LEVEL_SYMS: u64 = 0xFFFF_FFFF << MULTI_SYMS_SHIFT;

/// The bits a multi-symbol entry consumes.
#[inline(always)]
fn multi_used(e: u64) -> u32 {
    (e >> MULTI_USED_SHIFT) as u32 & 63
}

/// `dst[i]` = symbol `s` (a code of `len` bits) followed by what `src[i]` holds: its symbols
/// move up one byte, its bit count grows by `len`, its count by `count_inc`'s field.
#[inline(always)]
fn prepend(dst: &mut [u64], src: &[u64], s: u8, len: u8, count_inc: u64) {
    for (d, &e) in dst.iter_mut().zip(src) {
        *d = prepended(e, s, len, count_inc);
    }
}

/// Entry `e` with symbol `s` (a code of `len` bits) in front (see [`prepend`]).
#[inline(always)]
fn prepended(e: u64, s: u8, len: u8, count_inc: u64) -> u64 {
    let add = (s as u64) << MULTI_SYMS_SHIFT | (len as u64) << MULTI_USED_SHIFT | count_inc;
    ((e & LEVEL_SYMS) << 8) + (e & !LEVEL_SYMS) + add
}

/// One multi-symbol lookup: stores the entry's symbols at `w[o..o + 8]`, returns the next
/// offset. Callers make at most five steps per window from offset 0, so `o <= 20` here.
#[inline(always)]
fn multi_step<const N: usize>(
    table: &[u64; LOOKUP_SIZE],
    bits: &mut u64,
    w: &mut [u8; N],
    o: usize,
) -> usize {
    let e = table[(*bits >> (64 - LOOKUP_BITS)) as usize];
    if let Some(out) = w.get_mut(o..o + 8) {
        out.copy_from_slice(&(e >> MULTI_SYMS_SHIFT).to_le_bytes());
    }
    *bits <<= multi_used(e);
    o + (e >> MULTI_COUNT_SHIFT) as usize
}

/// Copies each stream's staged round (32 bytes, of which the round's symbols come first) to
/// its output at `at[k]`; the next round's copy overwrites the bytes past them.
#[inline(always)]
fn copy_out(s: &mut Split4, stage: &[[u8; 40]; 4], at: [usize; 4]) {
    for k in 0..4 {
        if let Some(w) = s.d[k].get_mut(at[k]..at[k] + 32) {
            w.copy_from_slice(&stage[k][..32]);
        }
    }
}

/// A `4x` payload split into its streams and `dst` into the four output segments.
struct Split4<'s, 'd> {
    /// The four streams, back to back; `start[k]` is where stream `k` begins.
    body: &'s [u8],
    start: [usize; 4],
    r: [BackwardReader<'s>; 4],
    d: [&'d mut [u8]; 4],
}

impl<'s, 'd> Split4<'s, 'd> {
    /// Rounds of five lookups a stream that are safe for every stream, checked once per batch
    /// rather than per round: a round's refill moves `end` back by at most 7 bytes and needs
    /// `end >= start + 15`; a round writes at most `symbols` and needs `room` bytes past `op`.
    fn safe_rounds(&self, ends: [usize; 4], op: &[usize; 4], symbols: usize, room: usize) -> usize {
        (0..4)
            .map(|k| {
                let input = ends[k].saturating_sub(self.start[k] + 8) / 7;
                let output = self.d[k].len().saturating_sub(op[k] + room - symbols) / symbols;
                input.min(output)
            })
            .min()
            .unwrap_or(0)
    }

    fn new(streams: &'s [u8], dst: &'d mut [u8], jump: Jump) -> Result<Self, EntropyError> {
        let w = jump.width();
        let table = streams.get(..3 * w).ok_or(EntropyError::Truncated)?;
        let body = &streams[3 * w..];
        let len = |i: usize| {
            table[i * w..(i + 1) * w]
                .iter()
                .rev()
                .fold(0usize, |a, &b| a << 8 | b as usize)
        };
        let (stream, start) = fse::split_streams(body, [len(0), len(1), len(2)])?;
        let n = dst.len();
        let seg = n.div_ceil(4);
        if 3 * seg > n {
            return Err(EntropyError::Corrupt("block too small for four streams"));
        }
        let (d1, rest) = dst.split_at_mut(seg);
        let (d2, rest) = rest.split_at_mut(seg);
        let (d3, d4) = rest.split_at_mut(seg);
        let r = [
            BackwardReader::new(stream[0])?,
            BackwardReader::new(stream[1])?,
            BackwardReader::new(stream[2])?,
            BackwardReader::new(stream[3])?,
        ];
        Ok(Split4 {
            body,
            start,
            r,
            d: [d1, d2, d3, d4],
        })
    }
}

/// Decodes a tree description + one stream into `dst` (its length is the regenerated size).
pub fn decompress_1x(src: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    let (t, used) = DecodeTable::read(src)?;
    t.decode_1x(&src[used..], dst)
}

/// Decodes a tree description + jump table + four streams (zstd's `HUF_compress4X` output)
/// into `dst` (its length is the regenerated size).
pub fn decompress_4x(src: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    decompress_4x_paced(src, dst, Jump::U16, &mut ())
}

/// [`decompress_4x`] with a jump table of three u32 sizes ([`compress_4x_wide_below`](super::compress_4x_wide_below)).
pub fn decompress_4x_wide(src: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    decompress_4x_paced(src, dst, Jump::U32, &mut ())
}

/// [`decompress_4x`] (`Jump::U16`) or [`decompress_4x_wide`] (`Jump::U32`), telling `pace`
/// how far it got as it goes.
pub fn decompress_4x_paced(
    src: &[u8],
    dst: &mut [u8],
    jump: Jump,
    pace: &mut impl Pace,
) -> Result<(), EntropyError> {
    with_reused!(DecodeTable, |t: &mut DecodeTable| {
        if dst.len() < MULTI_FROM {
            let used = t.read_single(src)?;
            return t.decode_4x_single(&src[used..], dst, jump);
        }
        let used = t.read_into(src)?;
        super::bmi2::decode_4x_jump(t, &src[used..], dst, jump, pace)
    })
}

/// Blocks of fewer symbols decode one symbol per lookup, with every read checked: the
/// multi-symbol table (up to about 8 K entry updates to build, 1.5–3.5 µs) would cost them
/// more than it saves, and a file of tiny blocks would take microseconds a byte (a crafted one
/// of 3-byte blocks took 1.3 µs a byte, bench/NOTES.md session 31). From here on a build costs
/// at most about 14 ns a symbol.
const MULTI_FROM: usize = 256;
