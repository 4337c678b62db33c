//! Context-modelled tANS for float byte groups: several static tANS tables of one size, and a
//! context that picks the table for each symbol. All tables share the state range
//! `[0, 1 << log)`, so switching tables between symbols needs nothing but the table index.
//!
//! Block modes 6 to 10 use it (FORMAT.md §3.2 has the byte layout):
//!
//! * [`HISTORY`] (mode 6) codes a byte stream (the exponents) with the context taken from the
//!   sum of the previous `W` bytes of the same stream: a running estimate of the local
//!   magnitude (a row of an embedding, a channel), bucketed by encoder-chosen thresholds.
//! * [`GIVEN`] (mode 7) codes bits `low..7` of a byte (the top mantissa bits) with the context
//!   taken from a *companion* byte of the same element (its exponent), through an
//!   encoder-chosen bucket map; the sign (bit 7) and the low bits are stored packed, uncoded:
//!   they are coin flips, and a sign-free table costs half the header.
//! * [`GIVEN_SIGNS`] (mode 9) is [`GIVEN`] with the signs coded as a [`HISTORY`] stream of
//!   0/1 values whose column context counts the negative values above: not a coin flip in
//!   embedding tables.
//! * [`GIVEN_NEIGHBOUR`] (mode 10) is [`GIVEN`] with the signs coded given the previous sign
//!   and the exponents of the element and its predecessor: conv kernels.
//!
//! Both split the block into four segments coded as four interleaved streams (as the `fse`
//! byte coder does), so the decoder keeps four independent states in flight.
//!
//! Payload of both modes, after the mode-specific context description:
//!
//! 1. the table log `L` (one byte, 5..=12) and the number of tables `T` (one byte, 1..=16);
//! 2. `T` normalized-count headers (RFC 8878 §4.1.1, as the `fse` byte coder writes them), each
//!    with accuracy log `L`;
//! 3. three LEB128 stream sizes and four backward bitstreams, as in the `fse` byte coder, except
//!    that each symbol is decoded with the table of its context:
//!    `sym = symbol_c[state]; state = baseline_c[state] + read(nb_bits_c[state])`.

use super::bit_io::{refill_marked, BackwardReader, BitWriter};
use super::fse::{
    cost_q24, insert_sizes, normalize, read_ncount, read_streams, spread_symbols, write_ncount,
    EncodeTable, NormCounts, MAX_TABLE_LOG, MIN_TABLE_LOG,
};
use super::EntropyError;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// Block mode: exponents given a window sum of the previous exponents.
pub const HISTORY: u8 = 6;
/// Block mode: top bits of a byte given its companion byte (the exponent of the same element).
pub const GIVEN: u8 = 7;

/// Block mode: each byte split into high bits, coded as [`HISTORY`] codes bytes, and low bits
/// coded given the high bits (float16 exponents and their top 3 mantissa bits: the 5-bit
/// exponent alphabet keeps 16 history tables cheap, where whole bytes need ~10x the symbols).
pub const SPLIT: u8 = 8;

/// Block mode: [`GIVEN`] with the signs coded too, given the signs of the same column in the
/// rows above (a [`HISTORY`] payload over the 0/1 signs). Embedding tables lean to one sign
/// per dimension: minilm's word and position embeddings, 0.014 bit/weight of the whole model.
pub const GIVEN_SIGNS: u8 = 9;

/// Block mode: [`GIVEN`] with the signs coded given the previous sign and the smaller of the
/// element's and its predecessor's exponent, optionally marking every `p`-th element as the
/// first of a kernel row. Neighbouring taps of a conv kernel share their sign, the more so the
/// larger both are (english_g2's 3x3 and 2x2 convolutions: ~3 KB of 12.5 MB).
pub const GIVEN_NEIGHBOUR: u8 = 10;

/// Most tables (contexts) a block may have.
pub const MAX_TABLES: usize = 16;
/// Largest history window, as a log: `W = 1 << w` with `w <= 8`.
pub const MAX_WINDOW_LOG: u8 = 8;
/// Smallest block the encoders try (below it, tables cost more than they save).
pub const MIN_INPUT: usize = 1024;

/// Decoding tables of one block: `tables[c << log | state]` = (63 - nb) | symbol << 8 |
/// baseline << 16 (`63 - nb` so that reading is `(bits >> 1) >> (63 - nb)` in the hot loop).
struct DecodeTables {
    log: u32,
    count: usize,
    /// Fixed size, so that masked indexes need no bounds check in the hot loop.
    entries: Box<[u32; ENTRIES]>,
}

const ENTRIES: usize = MAX_TABLES << MAX_TABLE_LOG;

/// Largest table log the encoder uses: 16 tables of 1 << 10 entries (64 KiB) stay close to
/// L1; with 1 << 12 the decoder's table lookups missed to L2 and decoding took ~2x longer.
const CTX_MAX_LOG: u32 = 10;

/// Reads `T` normalized-count headers of one shared log; returns tables and bytes used.
fn read_tables(src: &[u8]) -> Result<(DecodeTables, usize), EntropyError> {
    let [log, count] = *src.first_chunk::<2>().ok_or(EntropyError::Truncated)?;
    let (log, count) = (log as u32, count as usize);
    if !(MIN_TABLE_LOG..=MAX_TABLE_LOG).contains(&log) {
        return Err(EntropyError::Corrupt("context table log out of range"));
    }
    if count == 0 || count > MAX_TABLES {
        return Err(EntropyError::Corrupt("context table count out of range"));
    }
    let size = 1usize << log;
    let mut entries: Box<[u32; ENTRIES]> = vec![0u32; ENTRIES]
        .into_boxed_slice()
        .try_into()
        .map_err(|_| EntropyError::Corrupt("table size"))?;
    let mut pos = 2;
    let mut sym = vec![0u8; size];
    for c in 0..count {
        let (norm, used) = read_ncount(src.get(pos..).unwrap_or(&[]), MAX_TABLE_LOG)?;
        pos += used;
        if norm.log != log {
            return Err(EntropyError::Corrupt("context tables differ in size"));
        }
        spread_symbols(&norm, &mut sym)?;
        let mut next = [0u32; 256];
        for (n, &k) in next.iter_mut().zip(norm.counts.iter()) {
            *n = if k == -1 { 1 } else { k.max(0) as u32 };
        }
        for (e, &s) in entries[c << log..(c + 1) << log].iter_mut().zip(&sym) {
            let x = next[s as usize];
            next[s as usize] += 1;
            let nb = log - (31 - x.leading_zeros());
            *e = (63 - nb) | (s as u32) << 8 | ((x << nb) - size as u32) << 16;
        }
    }
    Ok((
        DecodeTables {
            log,
            count,
            entries,
        },
        pos,
    ))
}

/// Where each decoded symbol's table comes from.
trait Context {
    /// The table of the symbol at index `i` of `out`, called in increasing `i` within each
    /// of the four segments (stream `k` starts at `seg_start`), after every earlier symbol of
    /// the segment is in `out`.
    fn table(&mut self, k: usize, i: usize, out: &[u8], seg_start: usize) -> usize;
}

/// Rows summed by the column context.
const COLUMN_ROWS: usize = 8;

/// History context. Two sums over earlier bytes `v(j)` of the same segment (`init` for
/// positions before its start): the *window* sum of the previous `1 << w` bytes, shifted right
/// by `w - 4` when `w > 4`, and, with a row length `stride > 0`, the *column* sum of the bytes
/// `stride, 2·stride, …, 8·stride` positions back (the same column of the previous 8 rows of
/// a matrix). Each goes through its thresholds to a bucket; the table is
/// `window bucket × column buckets + column bucket`.
struct History {
    w: u32,
    init: u32,
    shift: u32,
    wlut: Vec<u8>,
    stride: usize,
    clut: Vec<u8>,
    /// Number of column buckets (1 without a stride).
    ncol: usize,
    win: [u32; 4],
    /// Column sums of the block's positions so far.
    col: Vec<u16>,
}

/// Lookup table of `len` entries: bucket = number of thresholds <= index.
fn threshold_lut(thresholds: &[u16], len: usize) -> Result<Vec<u8>, EntropyError> {
    let mut lut = vec![0u8; len];
    let mut prev = 0u16;
    for (k, &t) in thresholds.iter().enumerate() {
        if t <= prev || t as usize >= len {
            return Err(EntropyError::Corrupt("context thresholds out of order"));
        }
        prev = t;
        for x in &mut lut[t as usize..] {
            *x = k as u8 + 1;
        }
    }
    Ok(lut)
}

impl History {
    fn new(
        w: u8,
        init: u8,
        wt: &[u16],
        stride: usize,
        ct: &[u16],
        n: usize,
    ) -> Result<Self, EntropyError> {
        if w > MAX_WINDOW_LOG {
            return Err(EntropyError::Corrupt("history window too large"));
        }
        let w = w as u32;
        let shift = w.saturating_sub(4);
        let wlut = threshold_lut(wt, ((255usize << w) >> shift) + 1)?;
        let (clut, col) = if stride > 0 {
            (threshold_lut(ct, 255 * COLUMN_ROWS + 1)?, vec![0u16; n])
        } else if ct.is_empty() {
            (vec![0u8; 1], Vec::new())
        } else {
            return Err(EntropyError::Corrupt("column thresholds without a stride"));
        };
        Ok(History {
            w,
            init: init as u32,
            shift,
            wlut,
            stride,
            clut,
            ncol: ct.len() + 1,
            win: [(init as u32) << w; 4],
            col,
        })
    }

    /// The window sum (shifted) and column sum of position `i`; updates the running state.
    #[inline(always)]
    fn sums(&mut self, k: usize, i: usize, out: &[u8], seg_start: usize) -> (usize, usize) {
        if i > seg_start {
            let back = 1usize << self.w;
            let old = if i > seg_start + back {
                out[i - 1 - back] as u32
            } else {
                self.init
            };
            self.win[k] = self.win[k] + out[i - 1] as u32 - old;
        } else {
            self.win[k] = self.init << self.w;
        }
        let mut c = 0;
        if self.stride > 0 {
            let s = self.stride;
            c = if i >= seg_start + s {
                let far = if i >= seg_start + (COLUMN_ROWS + 1) * s {
                    out[i - (COLUMN_ROWS + 1) * s] as u32
                } else {
                    self.init
                };
                self.col[i - s] as u32 + out[i - s] as u32 - far
            } else {
                self.init * COLUMN_ROWS as u32
            };
            self.col[i] = c as u16;
        }
        ((self.win[k] >> self.shift) as usize, c as usize)
    }
}

impl Context for History {
    #[inline(always)]
    fn table(&mut self, k: usize, i: usize, out: &[u8], seg_start: usize) -> usize {
        let (a, c) = self.sums(k, i, out, seg_start);
        // The sums never exceed the tables' ranges; `get` keeps that panic-free regardless.
        *self.wlut.get(a).unwrap_or(&0) as usize * self.ncol
            + *self.clut.get(c).unwrap_or(&0) as usize
    }
}

/// Companion context: a bucket of the byte at the same index of another group.
struct Given<'a> {
    companion: &'a [u8],
    map: [u8; 256],
}

impl Context for Given<'_> {
    #[inline(always)]
    fn table(&mut self, _: usize, i: usize, _: &[u8], _: usize) -> usize {
        self.map[self.companion[i] as usize] as usize
    }
}

/// A block's four streams (after the three stream sizes): readers, the segment length, and
/// where each stream starts in the shared `body` (for the hot loop's marked readers).
struct Open<'a> {
    r: [BackwardReader<'a>; 4],
    seg: usize,
    body: &'a [u8],
    start: [usize; 4],
}

fn open_streams(src: &[u8], n: usize) -> Result<Open<'_>, EntropyError> {
    let (body, streams, start) = read_streams(src)?;
    let seg = n.div_ceil(4);
    if 3 * seg > n || n == 0 {
        return Err(EntropyError::Corrupt("block too small for four streams"));
    }
    Ok(Open {
        r: [
            BackwardReader::new(streams[0])?,
            BackwardReader::new(streams[1])?,
            BackwardReader::new(streams[2])?,
            BackwardReader::new(streams[3])?,
        ],
        seg,
        body,
        start,
    })
}

/// Every stream must end exactly at its final state.
fn check_ends(ends: [(usize, BackwardReader<'_>); 4]) -> Result<(), EntropyError> {
    for (s, r) in ends {
        if s != 0 || !r.is_exhausted() {
            return Err(EntropyError::Corrupt(
                "context stream does not end at its final state",
            ));
        }
    }
    Ok(())
}

/// Decodes the stream sizes and four streams of `src` into `dst`, tables chosen by `ctx`
/// (the slow, general path: block edges, and the first positions of each segment).
///
/// `hot` is the fast loop for positions `j` (within each segment) from `first_hot` on: it gets
/// the four readers and states, `j`, and returns the new `j`; the general steps finish the
/// rest.
fn decode_streams<C: Context>(
    t: &DecodeTables,
    ctx: &mut C,
    src: &[u8],
    dst: &mut [u8],
    first_hot: usize,
    hot: impl FnOnce(&mut C, &mut Open<'_>, &mut [usize; 4], usize, &mut [u8]) -> usize,
) -> Result<(), EntropyError> {
    let n = dst.len();
    let mut o = open_streams(src, n)?;
    let seg = o.seg;
    let log = t.log;
    let mask = (1usize << log) - 1;
    let last = t.count - 1;
    let mut s = [0usize; 4];
    for (s, r) in s.iter_mut().zip(&mut o.r) {
        *s = r.read(log) as usize;
    }
    let starts = [0, seg, 2 * seg, 3 * seg];
    let e: &[u32; ENTRIES] = &t.entries;
    let tail = n - 3 * seg; // the last segment's length, the shortest
    let warm = first_hot.min(tail);
    let step = |ctx: &mut C,
                k: usize,
                i: usize,
                dst: &mut [u8],
                r: &mut BackwardReader<'_>,
                s: &mut usize| {
        let c = ctx.table(k, i, dst, starts[k]).min(last);
        let entry = e[((c << log) | (*s & mask)) & (ENTRIES - 1)];
        dst[i] = (entry >> 8) as u8;
        *s = (entry >> 16) as usize + r.read(63 - (entry & 63)) as usize;
    };
    for j in 0..warm {
        for k in 0..4 {
            step(ctx, k, starts[k] + j, dst, &mut o.r[k], &mut s[k]);
        }
    }
    let j = hot(ctx, &mut o, &mut s, warm, dst).clamp(warm, tail);
    for jj in j..seg {
        for k in 0..3 {
            step(ctx, k, starts[k] + jj, dst, &mut o.r[k], &mut s[k]);
        }
    }
    for jj in j..tail {
        step(ctx, 3, 3 * seg + jj, dst, &mut o.r[3], &mut s[3]);
    }
    let [r0, r1, r2, r3] = o.r;
    check_ends([(s[0], r0), (s[1], r1), (s[2], r2), (s[3], r3)])
}

/// The hot loop shared by both modes: from `j`, while every stream has 8 unloaded bytes and
/// four positions remain in the shortest segment, refill once and decode four symbols per
/// stream (4 x <= 12 bits of the >= 56 loaded). `base!(k, i, prev)` is the table base
/// (`table << log`) of position `i` of segment `k` whose previous symbol is `prev`. Readers are
/// in the marked form over the shared `body` (two registers a stream, as in the `fse` hot
/// loop) and states are locals, so that the four chains stay in registers.
macro_rules! hot_loop {
    ($t:expr, $o:expr, $s:expr, $j:expr, $tail:expr, $dst:ident, |$k:ident, $i:ident, $prev:ident| $base:expr) => {{
        let e: &[u32; ENTRIES] = &$t.entries;
        let mask = (1usize << $t.log) - 1;
        let o: &mut Open<'_> = $o;
        let seg = o.seg;
        let body = o.body;
        let start = o.start;
        let mut bits = [0u64; 4];
        let mut pos = [0usize; 4];
        for k in 0..4 {
            (bits[k], pos[k]) = o.r[k].marked();
            pos[k] += start[k];
        }
        let mut st = *$s;
        let mut j = $j;
        let mut prev = [0u32; 4];
        if j > 0 {
            for k in 0..4 {
                prev[k] = $dst[k * seg + j - 1] as u32;
            }
        }
        while j + 4 <= $tail && (0..4).all(|k| pos[k] >= start[k] + 8) {
            for k in 0..4 {
                refill_marked(body, &mut bits[k], &mut pos[k]);
            }
            for _ in 0..4 {
                for kk in 0..4 {
                    let $k: usize = kk;
                    let $i: usize = kk * seg + j;
                    let $prev: u32 = prev[kk];
                    let b: usize = $base;
                    let x = e[(b | (st[kk] & mask)) & (ENTRIES - 1)];
                    let sym = (x >> 8) & 0xff;
                    $dst[$i] = sym as u8;
                    prev[kk] = sym;
                    let v = (bits[kk] >> 1) >> (x & 63);
                    bits[kk] <<= (x ^ 63) & 63;
                    st[kk] = (x >> 16) as usize + v as usize;
                }
                j += 1;
            }
        }
        for k in 0..4 {
            o.r[k].set_marked(bits[k], pos[k] - start[k]);
        }
        *$s = st;
        j
    }};
}

// ---------------------------------------------------------------------------------------------
// Encoder

/// Per-context histograms of `syms` under `ctxs`.
fn histograms(syms: &[u8], ctxs: &[u8], count: usize) -> Vec<[u32; 256]> {
    let mut h = vec![[0u32; 256]; count];
    for (&s, &c) in syms.iter().zip(ctxs) {
        h[c as usize][s as usize] += 1;
    }
    h
}

/// Normalized counts for every context at table log `log`; an unused context gets a one-symbol
/// table. `None` if some context has more distinct symbols than cells.
fn normalize_all(h: &[[u32; 256]], log: u32) -> Option<Vec<NormCounts>> {
    h.iter()
        .map(|c| {
            let total: u64 = c.iter().map(|&x| x as u64).sum();
            let distinct = c.iter().filter(|&&x| x > 0).count();
            if distinct > 1 << log {
                return None;
            }
            if total == 0 {
                let mut one = [0u32; 256];
                one[0] = 1;
                return Some(normalize(&one, 1, log));
            }
            Some(normalize(c, total, log))
        })
        .collect()
}

/// Table log and tables minimising estimated header + payload bits.
fn choose_tables(h: &[[u32; 256]]) -> Option<(Vec<NormCounts>, u64)> {
    let mut best: Option<(Vec<NormCounts>, u64)> = None;
    let mut hdr = Vec::new();
    for log in 9..=CTX_MAX_LOG {
        let Some(norms) = normalize_all(h, log) else {
            continue;
        };
        hdr.clear();
        let mut bits = 0u64;
        for (c, n) in h.iter().zip(&norms) {
            write_ncount(n, &mut hdr);
            bits += cost_q24(c, n) >> 24;
        }
        bits += 8 * hdr.len() as u64;
        if best.as_ref().is_none_or(|b| bits < b.1) {
            best = Some((norms, bits));
        }
    }
    best
}

/// Estimated bits of coding `syms` with contexts `ctxs` (tables included).
fn estimate(syms: &[u8], ctxs: &[u8], count: usize) -> u64 {
    choose_tables(&histograms(syms, ctxs, count)).map_or(u64::MAX, |b| b.1)
}

/// Writes tables, stream sizes and four streams for `syms` with contexts `ctxs`.
fn encode_streams(syms: &[u8], ctxs: &[u8], count: usize, out: &mut Vec<u8>) -> Option<()> {
    let (norms, _) = choose_tables(&histograms(syms, ctxs, count))?;
    let log = norms[0].log;
    out.extend_from_slice(&[log as u8, count as u8]);
    for n in &norms {
        write_ncount(n, out);
    }
    let tables: Vec<EncodeTable> = norms.iter().map(EncodeTable::build).collect();
    let sizes_at = out.len();
    let n = syms.len();
    let seg = n.div_ceil(4);
    let size = 1u32 << log;
    let mut sizes = [0usize; 3];
    for (k, (part, pc)) in syms.chunks(seg).zip(ctxs.chunks(seg)).enumerate() {
        let before = out.len();
        let mut x = size;
        let mut w = BitWriter::new(out);
        // Backward, so that the decoder reads forward; a flush after every symbol (<= 12 bits).
        for (&s, &c) in part.iter().zip(pc).rev() {
            tables[c as usize].encode(&mut w, &mut x, s);
            w.flush();
        }
        w.add_bits((x - size) as u64, log);
        w.finish();
        if k < 3 {
            sizes[k] = out.len() - before;
        }
    }
    insert_sizes(out, sizes_at, sizes);
    Some(())
}

/// Window and column sums of every position, computed exactly as the decoder does.
fn history_sums(src: &[u8], w: u8, init: u8, stride: usize) -> (Vec<u16>, Vec<u16>) {
    let Ok(mut h) = History::new(w, init, &[], stride, &[], src.len()) else {
        return (Vec::new(), Vec::new());
    };
    // Any thresholds give the same sums; the decoder's thresholds are chosen from them.
    let seg = src.len().div_ceil(4);
    let (mut a, mut c) = (Vec::with_capacity(src.len()), Vec::with_capacity(src.len()));
    for (k, start) in (0..src.len()).step_by(seg).enumerate() {
        for i in start..(start + seg).min(src.len()) {
            let (x, y) = h.sums(k, i, src, start);
            a.push(x as u16);
            c.push(y as u16);
        }
    }
    (a, c)
}

/// Thresholds splitting `q` (values `<= max`) into up to `buckets` groups of similar size.
fn quantile_thresholds(q: &[u16], max: usize, buckets: usize) -> Vec<u16> {
    let mut hist = vec![0u32; max + 1];
    for &v in q {
        hist[(v as usize).min(max)] += 1;
    }
    let mut t = Vec::new();
    let mut acc = 0u64;
    let n = q.len() as u64;
    for (v, &c) in hist.iter().enumerate() {
        let k = t.len() as u64 + 1;
        if acc >= k * n / buckets as u64 && v > 0 && t.len() + 1 < buckets {
            t.push(v as u16);
        }
        acc += c as u64;
    }
    t
}

/// Encodes `src` as a [`HISTORY`] payload (without the mode byte and length), appending to
/// `out`; returns its size, or `None` if the input is too small or no candidate fits. `stride`
/// is the row length of the tensor `src` belongs to (0 if unknown or several).
pub fn encode_history(src: &[u8], stride: usize, out: &mut Vec<u8>) -> Option<usize> {
    let n = src.len();
    if !(MIN_INPUT..=u32::MAX as usize).contains(&n) {
        return None;
    }
    // The most frequent byte stands in for history before a segment starts.
    let hist = super::fse::histogram(src);
    let init = (0..256).max_by_key(|&s| hist[s]).unwrap_or(0) as u8;
    // Column context only when a segment holds enough rows for it to matter.
    let stride = if stride > 0 && stride <= u32::MAX as usize && 4 * (COLUMN_ROWS + 2) * stride <= n
    {
        stride
    } else {
        0
    };
    // (window log, window buckets, column buckets). Measured on transformer and conv weights:
    // a window of 128 tracks a row's magnitude, the column sum a column's (minilm BF16:
    // 0.020 and a further 0.009 bit/weight below order 0).
    let mut candidates = alloc::vec![
        (0u8, 4usize, 1usize),
        (5, 8, 1),
        (7, 4, 1),
        (7, 8, 1),
        (7, 12, 1),
        (7, 16, 1),
        (8, 16, 1)
    ];
    if stride > 0 {
        candidates.extend_from_slice(&[(7, 4, 4), (7, 4, 3), (7, 3, 3), (7, 8, 2)]);
    }
    // Zero runs (float32 low bytes of rows that are exactly float16): "the last 8 / 32 bytes
    // were all 0" or not, by the threshold 1 (window buckets 0 stands for it).
    if hist[0] as usize * 64 > n {
        candidates.extend_from_slice(&[(3, 0, 1), (5, 0, 1)]);
    }
    let mut sums = Sums::new(src, init, stride);
    let mut choices = Vec::with_capacity(candidates.len());
    for (w, wb, cb) in candidates {
        let (a, c) = sums.get(w);
        let shift = (w as u32).saturating_sub(4);
        let wt = if wb == 0 {
            alloc::vec![1]
        } else {
            quantile_thresholds(a, (255usize << w) >> shift, wb)
        };
        let (st, ct) = if cb > 1 {
            (stride, quantile_thresholds(c, 255 * COLUMN_ROWS, cb))
        } else {
            (0, Vec::new())
        };
        choices.push(HistoryChoice { w, st, wt, ct });
    }
    encode_history_best(src, init, &mut sums, choices, out)
}

/// Window and column sums per window log, computed once ([`history_sums`] with one stride).
struct Sums<'a> {
    src: &'a [u8],
    init: u8,
    stride: usize,
    by_log: Vec<(u8, Vec<u16>, Vec<u16>)>,
}

impl<'a> Sums<'a> {
    fn new(src: &'a [u8], init: u8, stride: usize) -> Self {
        Sums {
            src,
            init,
            stride,
            by_log: Vec::new(),
        }
    }

    fn get(&mut self, w: u8) -> (&[u16], &[u16]) {
        let at = match self.by_log.iter().position(|s| s.0 == w) {
            Some(at) => at,
            None => {
                let (a, c) = history_sums(self.src, w, self.init, self.stride);
                self.by_log.push((w, a, c));
                self.by_log.len() - 1
            }
        };
        let (_, a, c) = &self.by_log[at];
        (a, c)
    }
}

/// One candidate context for [`HISTORY`]: window log, stride (0: none) and thresholds.
struct HistoryChoice {
    w: u8,
    st: usize,
    wt: Vec<u16>,
    ct: Vec<u16>,
}

/// Writes `src` as a [`HISTORY`] payload with whichever of `choices` gives the smallest
/// estimated size; returns the payload's size.
/// (A choice's stride is 0 or the one `sums` were computed with.)
fn encode_history_best(
    src: &[u8],
    init: u8,
    sums: &mut Sums<'_>,
    choices: Vec<HistoryChoice>,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let mut best: Option<(u64, HistoryChoice, Vec<u8>)> = None;
    for ch in choices {
        debug_assert!(ch.st == 0 || ch.st == sums.stride);
        let (a, c) = sums.get(ch.w);
        let h = History::new(ch.w, init, &ch.wt, ch.st, &ch.ct, 0).ok()?;
        let ncol = ch.ct.len() + 1;
        let ctxs: Vec<u8> = a
            .iter()
            .zip(c)
            .map(|(&x, &y)| {
                h.wlut[x as usize] * ncol as u8 + if ch.st > 0 { h.clut[y as usize] } else { 0 }
            })
            .collect();
        let tables = (ch.wt.len() + 1) * ncol;
        let bits = estimate(src, &ctxs, tables) + 16 * (ch.wt.len() + ch.ct.len()) as u64;
        if best.as_ref().is_none_or(|b| bits < b.0) {
            best = Some((bits, ch, ctxs));
        }
    }
    let (_, ch, ctxs) = best?;
    let start = out.len();
    out.extend_from_slice(&[ch.w, init, ch.wt.len() as u8]);
    for v in &ch.wt {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(ch.st as u32).to_le_bytes());
    if ch.st > 0 {
        out.push(ch.ct.len() as u8);
        for v in &ch.ct {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    encode_streams(src, &ctxs, (ch.wt.len() + 1) * (ch.ct.len() + 1), out)?;
    Some(out.len() - start)
}

/// Reads `count` u16 thresholds at `src[*pos..]`.
fn read_thresholds(src: &[u8], pos: &mut usize, count: usize) -> Result<Vec<u16>, EntropyError> {
    if count >= MAX_TABLES {
        return Err(EntropyError::Corrupt("too many context thresholds"));
    }
    let raw = src
        .get(*pos..*pos + 2 * count)
        .ok_or(EntropyError::Truncated)?;
    *pos += 2 * count;
    Ok(raw
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect())
}

/// Decodes a [`HISTORY`] payload into `dst` (whose length is the decoded length).
pub fn decode_history(src: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    let [w, init, nt] = *src.first_chunk::<3>().ok_or(EntropyError::Truncated)?;
    let mut pos = 3;
    let wt = read_thresholds(src, &mut pos, nt as usize)?;
    let stride = src.get(pos..pos + 4).ok_or(EntropyError::Truncated)?;
    let stride = u32::from_le_bytes([stride[0], stride[1], stride[2], stride[3]]) as usize;
    pos += 4;
    let ct = if stride > 0 {
        let nc = *src.get(pos).ok_or(EntropyError::Truncated)?;
        pos += 1;
        read_thresholds(src, &mut pos, nc as usize)?
    } else {
        Vec::new()
    };
    if (wt.len() + 1) * (ct.len() + 1) > MAX_TABLES {
        return Err(EntropyError::Corrupt("too many history contexts"));
    }
    // A stride longer than the block would only ever read `init`: reject, and bound the
    // column buffer by the block.
    if stride > dst.len() {
        return Err(EntropyError::Corrupt(
            "history stride longer than the block",
        ));
    }
    let mut h = History::new(w, init, &wt, stride, &ct, dst.len())?;
    let (tables, used) = read_tables(&src[pos..])?;
    if tables.count != (wt.len() + 1) * (ct.len() + 1) {
        return Err(EntropyError::Corrupt(
            "history tables do not match thresholds",
        ));
    }
    let back = 1usize << h.w;
    let first_hot = (back + 1).max((COLUMN_ROWS + 1) * stride);
    let log = tables.log;
    // Bucket lookups pre-scaled to table bases; fixed sizes so masked indexes need no checks.
    let mut wl = [0u16; 4096];
    for (d, &b) in wl.iter_mut().zip(&h.wlut) {
        *d = ((b as usize * h.ncol) << log) as u16;
    }
    let mut cl = [0u16; 2048];
    for (d, &b) in cl.iter_mut().zip(&h.clut) {
        *d = (b as u16) << log;
    }
    let tail = dst.len() - 3 * dst.len().div_ceil(4);
    let t = &tables;
    decode_streams(
        t,
        &mut h,
        &src[pos + used..],
        dst,
        first_hot,
        |h, o, s, j, dst| {
            if stride > 0 {
                history_hot::<true>(t, h, &wl, &cl, o, s, j, tail, dst)
            } else {
                history_hot::<false>(t, h, &wl, &cl, o, s, j, tail, dst)
            }
        },
    )
}

/// The hot loop of [`HISTORY`] for positions whose window and column reach no further back
/// than the segment start: no `init` cases, sums kept in locals.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn history_hot<const COL: bool>(
    t: &DecodeTables,
    h: &mut History,
    wl: &[u16; 4096],
    cl: &[u16; 2048],
    o: &mut Open<'_>,
    s: &mut [usize; 4],
    j: usize,
    tail: usize,
    dst: &mut [u8],
) -> usize {
    let back = 1usize << h.w;
    let shift = h.shift;
    let stride = h.stride;
    let far = (COLUMN_ROWS + 1) * stride;
    let mut win = h.win;
    if !COL {
        let j = hot_loop!(t, o, s, j, tail, dst, |k, i, prev| {
            let _ = k;
            win[k] = win[k] + prev - dst[i - 1 - back] as u32;
            wl[(win[k] >> shift) as usize & 4095] as usize
        });
        h.win = win;
        return j;
    }
    // The column sums of a run of up to `stride` positions only reach back before the run:
    // compute their table bases in a pass of their own (off the decoding chain), then decode
    // the run.
    let seg = o.seg;
    let col: &mut [u16] = &mut h.col;
    let mut cb = vec![0u16; 4 * stride];
    let mut j = j;
    while j + 4 <= tail {
        let end = (j + stride).min(tail);
        for k in 0..4 {
            let run = &mut cb[k * stride..k * stride + (end - j)];
            for (x, i) in run.iter_mut().zip(k * seg + j..) {
                let c = col[i - stride] as u32 + dst[i - stride] as u32 - dst[i - far] as u32;
                col[i] = c as u16;
                *x = cl[c as usize & 2047];
            }
        }
        let run = j;
        let next = hot_loop!(t, o, s, j, end, dst, |k, i, prev| {
            win[k] = win[k] + prev - dst[i - 1 - back] as u32;
            wl[(win[k] >> shift) as usize & 4095] as usize
                + cb[k * stride + (i - k * seg - run)] as usize
        });
        if next < end {
            j = next; // a stream ran short: the general path goes on (and redoes the sums)
            break;
        }
        j = end;
    }
    h.win = win;
    j
}

/// Encodes bits `low..7` of each byte of `src` (the top mantissa bits) given `companion` (same
/// length) as a [`GIVEN`] payload; the sign (bit 7, a coin flip) and the low bits are stored
/// packed. Returns its size or `None`.
pub fn encode_given(src: &[u8], companion: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let start = out.len();
    encode_given_parts(src, companion, true, out)?;
    Some(out.len() - start)
}

/// Encodes `src` as a [`GIVEN_SIGNS`] payload: its signs as a [`HISTORY`] payload (context:
/// the previous sign and, for rows `stride` elements long, the column), then
/// [`encode_given`]'s payload without the sign plane. Returns its size or `None`.
pub fn encode_given_signs(
    src: &[u8],
    companion: &[u8],
    stride: usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let n = src.len();
    if !(MIN_INPUT..=u32::MAX as usize).contains(&n) || companion.len() != n {
        return None;
    }
    let signs: Vec<u8> = src.iter().map(|&b| b >> 7).collect();
    let init = u8::from(2 * signs.iter().filter(|&&s| s != 0).count() > n);
    // Contexts: the previous sign (neighbouring taps of a conv kernel), and with rows the
    // number of negative values among the 8 above in the column (embedding tables), alone or
    // with the previous sign (then 8 column buckets, so that 2 x 8 tables fit).
    let mut choices = alloc::vec![HistoryChoice {
        w: 0,
        st: 0,
        wt: alloc::vec![1],
        ct: Vec::new(),
    }];
    if stride > 0 && stride <= u32::MAX as usize && 4 * (COLUMN_ROWS + 2) * stride <= n {
        let count = |top: u16| (1..=top).collect::<Vec<u16>>();
        choices.push(HistoryChoice {
            w: 0,
            st: stride,
            wt: Vec::new(),
            ct: count(COLUMN_ROWS as u16),
        });
        choices.push(HistoryChoice {
            w: 0,
            st: stride,
            wt: alloc::vec![1],
            ct: count(COLUMN_ROWS as u16 - 1),
        });
    }
    let mut sums = Sums::new(
        &signs,
        init,
        choices.iter().map(|c| c.st).max().unwrap_or(0),
    );
    let start = out.len();
    out.extend_from_slice(&[0; 4]); // sign payload length, patched below
    let slen = encode_history_best(&signs, init, &mut sums, choices, out)?;
    out[start..start + 4].copy_from_slice(&u32::try_from(slen).ok()?.to_le_bytes());
    encode_given_parts(src, companion, false, out)?;
    Some(out.len() - start)
}

/// The [`GIVEN`] payload, with or without its sign plane.
fn encode_given_parts(src: &[u8], companion: &[u8], signs: bool, out: &mut Vec<u8>) -> Option<()> {
    let n = src.len();
    if !(MIN_INPUT..=u32::MAX as usize).contains(&n) || companion.len() != n {
        return None;
    }
    const LOW: u32 = 4; // 3 mantissa bits coded: the best measured split
    let syms: Vec<u8> = src.iter().map(|&b| (b & 0x7F) >> LOW).collect();
    let mut map = choose_buckets(&syms, companion, 7 - LOW);
    // The map's span must fit its u8 length: drop value 0's own bucket if 255 has one too.
    if map[0] != 0 && map[255] != 0 {
        map[0] = 0;
    }
    out.push(LOW as u8);
    encode_given_streams(&syms, companion, &map, out)?;
    if signs {
        out.extend(src.chunks(8).map(|c| pack_bit(c, 7)));
    }
    pack_low(src, LOW, out);
    Some(())
}

/// Bit `bit` of up to eight bytes, LSB-first.
fn pack_bit(bytes: &[u8], bit: u32) -> u8 {
    bytes
        .iter()
        .enumerate()
        .fold(0, |a, (i, &b)| a | (b >> bit & 1) << i)
}

/// Writes the bucket map (`lo`, `cnt`, packed nibbles) and the tables and streams of `syms`
/// coded with context `map[companion[i]]`.
fn encode_given_streams(
    syms: &[u8],
    companion: &[u8],
    map: &[u8; 256],
    out: &mut Vec<u8>,
) -> Option<()> {
    let ctxs: Vec<u8> = companion.iter().map(|&c| map[c as usize]).collect();
    let count = *map.iter().max()? as usize + 1;
    write_map(map, out);
    encode_streams(syms, &ctxs, count, out)
}

/// Writes a bucket map as `lo`, `cnt` and packed nibbles (the span of its non-zero buckets;
/// `map[0]` and `map[255]` must not both be non-zero).
fn write_map(map: &[u8; 256], out: &mut Vec<u8>) {
    let (lo, hi) = match (
        map.iter().position(|&b| b != 0),
        map.iter().rposition(|&b| b != 0),
    ) {
        (Some(lo), Some(hi)) => (lo, hi + 1),
        _ => (0, 0),
    };
    out.extend_from_slice(&[lo as u8, (hi - lo) as u8]);
    for pair in map[lo..hi].chunks(2) {
        out.push(pair[0] | pair.get(1).map_or(0, |&b| b << 4));
    }
}

/// Reads a bucket map (`lo`, `cnt`, packed nibbles) and the tables after it; returns the map,
/// the tables and the bytes used.
fn read_given_tables(src: &[u8]) -> Result<([u8; 256], DecodeTables, usize), EntropyError> {
    let [lo, cnt] = *src.first_chunk::<2>().ok_or(EntropyError::Truncated)?;
    let (lo, cnt) = (lo as usize, cnt as usize);
    if lo + cnt > 256 {
        return Err(EntropyError::Corrupt("bucket map past 255"));
    }
    let nb = cnt.div_ceil(2);
    let packed = src.get(2..2 + nb).ok_or(EntropyError::Truncated)?;
    let mut map = [0u8; 256];
    for i in 0..cnt {
        map[lo + i] = (packed[i / 2] >> (4 * (i & 1))) & 15;
    }
    let (tables, used) = read_tables(&src[2 + nb..])?;
    if map.iter().any(|&b| b as usize >= tables.count) {
        return Err(EntropyError::Corrupt("bucket without a table"));
    }
    Ok((map, tables, 2 + nb + used))
}

/// Decodes the four streams of a given-coded part into `dst`, contexts `map[companion[i]]`.
fn decode_given_streams(
    tables: &DecodeTables,
    map: [u8; 256],
    companion: &[u8],
    streams: &[u8],
    dst: &mut [u8],
) -> Result<(), EntropyError> {
    let n = dst.len();
    let mut mb = [0u16; 256];
    for (d, &b) in mb.iter_mut().zip(&map) {
        *d = (b as u16) << tables.log;
    }
    let mut ctx = Given { companion, map };
    let tail = n - 3 * n.div_ceil(4);
    decode_streams(tables, &mut ctx, streams, dst, 0, |_, o, s, j, dst| {
        hot_loop!(tables, o, s, j, tail, dst, |k, i, prev| {
            let _ = (k, prev);
            mb[companion[i] as usize] as usize
        })
    })
}

/// Bucket per companion value: the values whose own table saves most get their own bucket
/// (up to 15), the rest share bucket 0.
fn choose_buckets(syms: &[u8], companion: &[u8], bits: u32) -> [u8; 256] {
    let k = 1usize << bits;
    let mut joint = vec![0u32; 256 * k];
    for (&s, &c) in syms.iter().zip(companion) {
        joint[(c as usize) * k + s as usize] += 1;
    }
    let mut pooled = vec![0u64; k];
    for c in 0..256 {
        for s in 0..k {
            pooled[s] += joint[c * k + s] as u64;
        }
    }
    let total: u64 = pooled.iter().sum();
    // Saving of a value's own table: n * KL(own || pooled), in bits, minus a rough table cost.
    let mut gain: Vec<(f64, usize)> = (0..256)
        .map(|c| {
            let row = &joint[c * k..(c + 1) * k];
            let nc: u64 = row.iter().map(|&x| x as u64).sum();
            let mut kl = 0.0;
            for (s, &x) in row.iter().enumerate() {
                if x > 0 {
                    let p = x as f64 / nc as f64;
                    let q = pooled[s] as f64 / total as f64;
                    kl += x as f64 * super::block::libm_log2(p / q);
                }
            }
            (kl - 6.0 * k as f64, c)
        })
        .collect();
    gain.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut map = [0u8; 256];
    for (b, &(g, c)) in gain.iter().take(MAX_TABLES - 1).enumerate() {
        if g > 0.0 {
            map[c] = b as u8 + 1;
        }
    }
    // Renumber buckets in companion order (any order decodes; this one reads well).
    let mut next = 1u8;
    let mut renum = [0u8; MAX_TABLES];
    for m in map.iter_mut().filter(|m| **m != 0) {
        if renum[*m as usize] == 0 {
            renum[*m as usize] = next;
            next += 1;
        }
        *m = renum[*m as usize];
    }
    map
}

/// Appends the low `low` bits of every byte, packed LSB-first.
fn pack_low(src: &[u8], low: u32, out: &mut Vec<u8>) {
    if low == 4 {
        for p in src.chunks(2) {
            out.push(p[0] & 15 | p.get(1).map_or(0, |&b| (b & 15) << 4));
        }
        return;
    }
    let mut w = BitWriter::new(out);
    for &b in src {
        w.add_bits((b & ((1 << low) - 1)) as u64, low);
        w.flush();
    }
    w.finish_unmarked();
}

/// Decodes a [`GIVEN`] payload into `dst`, with `companion` the group it was coded against.
pub fn decode_given(src: &[u8], companion: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    decode_given_parts(src, companion, None, dst)
}

/// Decodes a [`GIVEN_SIGNS`] payload into `dst`, given `companion` (same length).
pub fn decode_given_signs(
    src: &[u8],
    companion: &[u8],
    dst: &mut [u8],
) -> Result<(), EntropyError> {
    let len = src.first_chunk::<4>().ok_or(EntropyError::Truncated)?;
    let len = u32::from_le_bytes(*len) as usize;
    let coded = src[4..].get(..len).ok_or(EntropyError::Truncated)?;
    // The signs go through `dst` (fully overwritten below) and are packed as mode 7 stores
    // them, so both modes share the rest of the decoder.
    decode_history(coded, dst)?;
    if dst.iter().any(|&s| s > 1) {
        return Err(EntropyError::Corrupt("sign wider than one bit"));
    }
    let plane: Vec<u8> = dst.chunks(8).map(|c| pack_bit(c, 0)).collect();
    decode_given_parts(&src[4 + len..], companion, Some(&plane), dst)
}

/// Whether element `i` starts a group of `p` (a kernel row) in mode [`GIVEN_NEIGHBOUR`]; never
/// with `p` = 0.
#[inline(always)]
fn group_start(i: usize, p: usize, phase: usize) -> bool {
    p >= 2 && (i + phase).is_multiple_of(p)
}

/// The neighbour of element `i` in mode [`GIVEN_NEIGHBOUR`]: `p` back for the first element
/// of a group (the tap above in the kernel), else 1 back.
#[inline(always)]
fn neighbour_back(i: usize, p: usize, phase: usize) -> usize {
    if group_start(i, p, phase) {
        p
    } else {
        1
    }
}

/// The table of sign `i` in mode [`GIVEN_NEIGHBOUR`], given the signs before it in `out`
/// (0/1 values) and its segment's start: the neighbour's sign (or none before the segment
/// start) in a row of tables of its own for group starts, and the bucket of the smaller
/// exponent of the element and its neighbour.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn neighbour_table(
    out: &[u8],
    companion: &[u8],
    map: &[u8; 256],
    i: usize,
    seg_start: usize,
    p: usize,
    phase: usize,
    b: usize,
) -> usize {
    let d = neighbour_back(i, p, phase);
    let m = if i >= d {
        companion[i].min(companion[i - d])
    } else {
        companion[i]
    };
    let s = if i >= seg_start + d {
        (out[i - d] & 1) as usize
    } else {
        0
    };
    let row = if d > 1 { 2 + s } else { s };
    row * b + map[m as usize] as usize
}

/// Encodes `src` as a [`GIVEN_NEIGHBOUR`] payload: its signs coded given the previous sign and
/// a bucket of the smaller exponent of the element and its predecessor (with a period `p`, the
/// first element of each group looks `p` back instead, with tables of its own), then
/// [`encode_given`]'s payload without the sign plane. Returns its size or `None`.
pub fn encode_given_neighbour(src: &[u8], companion: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let n = src.len();
    if !(MIN_INPUT..=u32::MAX as usize).contains(&n) || companion.len() != n {
        return None;
    }
    let signs: Vec<u8> = src.iter().map(|&b| b >> 7).collect();
    let mut hist = [0usize; 256];
    for (i, &e) in companion.iter().enumerate() {
        hist[e.min(companion[i.saturating_sub(1)]) as usize] += 1;
    }
    let (mut acc, mut med) = (0, 0);
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if 2 * acc >= n {
            med = v as isize;
            break;
        }
    }
    let seg = n.div_ceil(4);
    let mut ctxs = vec![0u8; n];
    let fill = |ctxs: &mut [u8], map: &[u8; 256], p: usize, phase: usize, b: usize| {
        for (k, part) in ctxs.chunks_mut(seg).enumerate() {
            let start = k * seg;
            for (c, i) in part.iter_mut().zip(start..) {
                *c = neighbour_table(&signs, companion, map, i, start, p, phase, b) as u8;
            }
        }
    };
    // Counts of (neighbour's sign, smaller exponent, sign) per residue `i mod p`, with the
    // neighbour 1 back and `p` back: one pass per period serves every phase and map.
    let idx = |c: usize, s: usize, m: usize| ((c * 2 + s) * 256 + m) * 2;
    let counts = |p: usize, d: usize| {
        let mut t = vec![0u32; p * 2 * 256 * 2];
        for (i, &sign) in signs.iter().enumerate() {
            let m = if i >= d {
                companion[i].min(companion[i - d])
            } else {
                companion[i]
            };
            let s = if i >= (i / seg) * seg + d {
                signs[i - d]
            } else {
                0
            };
            t[idx(i % p, s as usize, m as usize) + sign as usize] += 1;
        }
        t
    };
    let top = companion.iter().copied().max().unwrap_or(0) as usize;
    let mut best: Option<(u64, [u8; 3], [u8; 256])> = None;
    // Buckets: exponents clipped to a span around the median (a kernel's large taps share
    // their sign more); with a period (kernel widths 2 and 3) 4, so that 4 x 4 tables fit.
    for (p, b) in [(0usize, 8usize), (2, 4), (3, 4)] {
        let classes = p.max(1);
        let back1 = counts(classes, 1);
        let back_p = if p >= 2 { counts(p, p) } else { Vec::new() };
        for phase in 0..classes {
            for off in [b as isize - 4, b as isize - 3, b as isize - 2] {
                let mut map = [0u8; 256];
                for (v, m) in map.iter_mut().enumerate() {
                    *m = (v as isize - med + off).clamp(0, b as isize - 1) as u8;
                }
                // The map's span must fit its u8 length: values above the largest exponent
                // present keep bucket 0, and value 0 too if 255 is present.
                map[top + 1..].fill(0);
                if map[255] != 0 {
                    map[0] = 0;
                }
                let tables = if p >= 2 { 4 * b } else { 2 * b };
                let mut h = vec![[0u32; 256]; tables];
                for c in 0..classes {
                    let first = p >= 2 && (c + phase) % p == 0;
                    let (t, row) = if first { (&back_p, 2) } else { (&back1, 0) };
                    for sv in 0..2 {
                        for (v, &bucket) in map.iter().enumerate() {
                            let at = idx(c, sv, v);
                            let hc = &mut h[(row + sv) * b + bucket as usize];
                            hc[0] += t[at];
                            hc[1] += t[at + 1];
                        }
                    }
                }
                let span = map.iter().filter(|&&m| m != 0).count() as u64;
                let bits = choose_tables(&h).map_or(u64::MAX, |x| x.1) + 4 * span;
                if best.as_ref().is_none_or(|x| bits < x.0) {
                    best = Some((bits, [p as u8, phase as u8, b as u8], map));
                }
            }
        }
    }
    let (_, head, map) = best?;
    let (p, phase, b) = (head[0] as usize, head[1] as usize, head[2] as usize);
    fill(&mut ctxs, &map, p, phase, b);
    let start = out.len();
    out.extend_from_slice(&[0; 4]); // sign payload length, patched below
    out.extend_from_slice(&head);
    write_map(&map, out);
    encode_streams(&signs, &ctxs, if p >= 2 { 4 * b } else { 2 * b }, out)?;
    let slen = u32::try_from(out.len() - start - 4).ok()?;
    out[start..start + 4].copy_from_slice(&slen.to_le_bytes());
    encode_given_parts(src, companion, false, out)?;
    Some(out.len() - start)
}

/// Sign context of mode [`GIVEN_NEIGHBOUR`].
struct Neighbour<'a> {
    companion: &'a [u8],
    map: [u8; 256],
    p: usize,
    phase: usize,
    b: usize,
}

impl Context for Neighbour<'_> {
    #[inline(always)]
    fn table(&mut self, _: usize, i: usize, out: &[u8], seg_start: usize) -> usize {
        neighbour_table(
            out,
            self.companion,
            &self.map,
            i,
            seg_start,
            self.p,
            self.phase,
            self.b,
        )
    }
}

/// Decodes a [`GIVEN_NEIGHBOUR`] payload into `dst`, given `companion` (same length).
pub fn decode_given_neighbour(
    src: &[u8],
    companion: &[u8],
    dst: &mut [u8],
) -> Result<(), EntropyError> {
    let n = dst.len();
    if companion.len() != n {
        return Err(EntropyError::Corrupt("companion group of another length"));
    }
    let len = src.first_chunk::<4>().ok_or(EntropyError::Truncated)?;
    let len = u32::from_le_bytes(*len) as usize;
    let coded = src[4..].get(..len).ok_or(EntropyError::Truncated)?;
    let [p, phase, b] = *coded.first_chunk::<3>().ok_or(EntropyError::Truncated)?;
    let (p, phase, b) = (p as usize, phase as usize, b as usize);
    if p == 1 || phase >= p.max(1) {
        return Err(EntropyError::Corrupt("sign period or phase out of range"));
    }
    let rows = if p >= 2 { 4 } else { 2 };
    if b == 0 || rows * b > MAX_TABLES {
        return Err(EntropyError::Corrupt("sign buckets out of range"));
    }
    let (map, tables, used) = read_given_tables(&coded[3..])?;
    if tables.count != rows * b || map.iter().any(|&m| m as usize >= b) {
        return Err(EntropyError::Corrupt("sign tables do not match buckets"));
    }
    let log = tables.log;
    let mut mb = [0u16; 256];
    for (d, &m) in mb.iter_mut().zip(&map) {
        *d = (m as u16) << log;
    }
    let rb = [0, b << log, (2 * b) << log, (3 * b) << log];
    let tail = n - 3 * n.div_ceil(4);
    let mut ctx = Neighbour {
        companion,
        map,
        p,
        phase,
        b,
    };
    let t = &tables;
    // Signs go through `dst` (fully overwritten below) as 0/1 values, as in mode 9. The hot
    // loop starts where every neighbour lies inside the segment.
    decode_streams(
        t,
        &mut ctx,
        &coded[3 + used..],
        dst,
        p.max(1),
        |_, o, s, j, dst| {
            let h = NeighbourHot {
                companion,
                rb,
                mb: &mb,
                p,
                phase,
            };
            // The periods the encoder writes as constants: `%` by a constant is a multiply.
            match p {
                2 => neighbour_hot::<2>(t, &h, o, s, j, tail, dst),
                3 => neighbour_hot::<3>(t, &h, o, s, j, tail, dst),
                _ => neighbour_hot::<0>(t, &h, o, s, j, tail, dst),
            }
        },
    )?;
    if dst.iter().any(|&s| s > 1) {
        return Err(EntropyError::Corrupt("sign wider than one bit"));
    }
    let plane: Vec<u8> = dst.chunks(8).map(|c| pack_bit(c, 0)).collect();
    decode_given_parts(&src[4 + len..], companion, Some(&plane), dst)
}

/// What the hot loop of [`GIVEN_NEIGHBOUR`] needs: table bases per row and per exponent.
struct NeighbourHot<'a> {
    companion: &'a [u8],
    rb: [usize; 4],
    mb: &'a [u16; 256],
    p: usize,
    phase: usize,
}

/// The hot loop of [`GIVEN_NEIGHBOUR`]: positions whose neighbours all lie in the segment.
/// `P` is the period when it is a constant (2, 3), else 0 and `h.p` is used.
#[inline(always)]
fn neighbour_hot<const P: usize>(
    t: &DecodeTables,
    h: &NeighbourHot<'_>,
    o: &mut Open<'_>,
    s: &mut [usize; 4],
    j: usize,
    tail: usize,
    dst: &mut [u8],
) -> usize {
    let p = if P > 0 { P } else { h.p };
    let (companion, rb, mb, phase) = (h.companion, h.rb, h.mb, h.phase);
    hot_loop!(t, o, s, j, tail, dst, |k, i, prev| {
        let _ = k;
        if group_start(i, p, phase) {
            rb[2 + (dst[i - p] & 1) as usize]
                + mb[companion[i].min(companion[i - p]) as usize] as usize
        } else {
            rb[(prev & 1) as usize] + mb[companion[i].min(companion[i - 1]) as usize] as usize
        }
    })
}

/// The [`GIVEN`] decoder; `plane` holds the packed signs when the payload does not.
fn decode_given_parts(
    src: &[u8],
    companion: &[u8],
    plane: Option<&[u8]>,
    dst: &mut [u8],
) -> Result<(), EntropyError> {
    let n = dst.len();
    if companion.len() != n {
        return Err(EntropyError::Corrupt("companion group of another length"));
    }
    let &low = src.first().ok_or(EntropyError::Truncated)?;
    if low > 6 {
        return Err(EntropyError::Corrupt("too many uncoded low bits"));
    }
    let (map, tables, used) = read_given_tables(&src[1..])?;
    let low = low as u32;
    let sign_len = if plane.is_some() { 0 } else { n.div_ceil(8) };
    let raw_len = sign_len + (n * low as usize).div_ceil(8);
    let rest = &src[1 + used..];
    let split = rest
        .len()
        .checked_sub(raw_len)
        .ok_or(EntropyError::Truncated)?;
    let (streams, raw) = rest.split_at(split);
    let (signs, low_bits) = match plane {
        Some(p) => (p, raw),
        None => raw.split_at(sign_len),
    };
    decode_given_streams(&tables, map, companion, streams, dst)?;
    // The 4-low-bit split (what the encoder writes): one fused pass over groups of 8
    // elements (one sign byte, four low-bit bytes); the rest below.
    let mut done = 0;
    if low == 4 {
        let mut wide = 0u64;
        // Eight elements as one u64: symbols << 4 | their low nibbles spread to bytes | signs.
        for ((d, &sg), lb) in dst
            .chunks_exact_mut(8)
            .zip(signs)
            .zip(low_bits.chunks_exact(4))
        {
            let Ok(d) = <&mut [u8; 8]>::try_from(d) else {
                break;
            };
            let syms = u64::from_le_bytes(*d);
            wide |= syms;
            let mut nib = u32::from_le_bytes([lb[0], lb[1], lb[2], lb[3]]) as u64;
            nib = (nib | nib << 16) & 0x0000_FFFF_0000_FFFF;
            nib = (nib | nib << 8) & 0x00FF_00FF_00FF_00FF;
            nib = (nib | nib << 4) & 0x0F0F_0F0F_0F0F_0F0F;
            *d = (syms << 4 | nib | SIGN_BYTES[sg as usize]).to_le_bytes();
        }
        if wide & !0x0707_0707_0707_0707 != 0 {
            return Err(EntropyError::Corrupt("coded symbol wider than its bits"));
        }
        done = n / 8 * 8;
    }
    let (dst, signs, low_bits) = (
        &mut dst[done..],
        &signs[done / 8..],
        &low_bits[done / 8 * low as usize..],
    );
    if dst.iter().any(|&s| (s as u32) >> (7 - low) != 0) {
        return Err(EntropyError::Corrupt("coded symbol wider than its bits"));
    }
    unpack_low(low_bits, low, dst);
    for (d, &s) in dst.chunks_mut(8).zip(signs) {
        for (i, x) in d.iter_mut().enumerate() {
            *x |= ((s >> i) & 1) << 7;
        }
    }
    Ok(())
}

/// Bit `m` of the index moved to bit 7 of byte `m`: eight packed signs as bytes.
const SIGN_BYTES: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut m = 0;
        while m < 8 {
            t[i] |= (((i >> m) & 1) as u64) << (8 * m + 7);
            m += 1;
        }
        i += 1;
    }
    t
};

/// `dst[i] = dst[i] << low | low bits i` from the packed stream (`low_bits` is long enough).
fn unpack_low(low_bits: &[u8], low: u32, dst: &mut [u8]) {
    if low == 4 {
        let mut pairs = dst.chunks_exact_mut(2);
        for (d, &b) in (&mut pairs).zip(low_bits) {
            d[0] = d[0] << 4 | (b & 15);
            d[1] = d[1] << 4 | (b >> 4);
        }
        if let ([d], Some(&b)) = (pairs.into_remainder(), low_bits.last()) {
            *d = *d << 4 | (b & 15);
        }
        return;
    }
    let mut acc = 0u64;
    let mut have = 0u32;
    let mut it = low_bits.iter();
    for d in dst.iter_mut() {
        if have < low {
            acc |= (*it.next().unwrap_or(&0) as u64) << have;
            have += 8;
        }
        *d = ((*d as u32) << low) as u8 | (acc & ((1 << low) - 1)) as u8;
        acc >>= low;
        have -= low;
    }
}

/// Encodes `src` as a [`SPLIT`] payload: `v >> low` as a [`HISTORY`] payload (`stride` as
/// there), then `v & (2^low - 1)` given `v >> low`. Returns its size or `None`.
pub fn encode_split(src: &[u8], low: u32, stride: usize, out: &mut Vec<u8>) -> Option<usize> {
    if !(1..=7).contains(&low) {
        return None;
    }
    let high: Vec<u8> = src.iter().map(|&b| b >> low).collect();
    let syms: Vec<u8> = src.iter().map(|&b| b & ((1u8 << low) - 1)).collect();
    let start = out.len();
    out.extend_from_slice(&[low as u8, 0, 0, 0, 0]);
    let hlen = encode_history(&high, stride, out)?;
    out[start + 1..start + 5].copy_from_slice(&u32::try_from(hlen).ok()?.to_le_bytes());
    let map = choose_buckets(&syms, &high, low);
    encode_given_streams(&syms, &high, &map, out)?;
    Some(out.len() - start)
}

/// Decodes a [`SPLIT`] payload into `dst` (whose length is the decoded length).
pub fn decode_split(src: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    let [low, l0, l1, l2, l3] = *src.first_chunk::<5>().ok_or(EntropyError::Truncated)?;
    if !(1..=7).contains(&low) {
        return Err(EntropyError::Corrupt("split low bits out of range"));
    }
    let hlen = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    let high = src
        .get(5..)
        .and_then(|r| r.get(..hlen))
        .ok_or(EntropyError::Truncated)?;
    decode_history(high, dst)?;
    if dst.iter().fold(0u8, |a, &b| a | b) >> (8 - low) != 0 {
        return Err(EntropyError::Corrupt("split high part wider than its bits"));
    }
    let rest = &src[5 + hlen..];
    let (map, tables, used) = read_given_tables(rest)?;
    // The low parts need the high parts as their context while both are live; one buffer of
    // the block's length, like the decoded output itself.
    let mut syms = vec![0u8; dst.len()];
    decode_given_streams(&tables, map, dst, &rest[used..], &mut syms)?;
    if syms.iter().fold(0u8, |a, &b| a | b) >> low != 0 {
        return Err(EntropyError::Corrupt("split low part wider than its bits"));
    }
    for (d, &s) in dst.iter_mut().zip(&syms) {
        *d = *d << low | s;
    }
    Ok(())
}
