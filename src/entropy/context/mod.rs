//! Context-modelled tANS for float byte groups: several static tANS tables of one size, and a
//! context that picks the table for each symbol. All tables share the state range
//! `[0, 1 << log)`, so switching tables between symbols needs nothing but the table index.
//!
//! Block modes 6 to 10 use it (FORMAT.md §3.3 and §3.4 have the byte layout):
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

use super::bit_io::{BackwardReader, BitWriter};

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

/// Most table cells a block may have per symbol it codes (FORMAT.md §3.3): the encoders write
/// blocks of [`MIN_INPUT`] symbols or more with at most 16 tables of `1 << CTX_MAX_LOG`.
const MAX_CELLS_PER_SYMBOL: usize = 16;

/// Reads `T` normalized-count headers of one shared log for a block of `n` symbols; returns
/// tables and bytes used. A block shorter than [`MIN_INPUT`], or with more table cells than
/// [`MAX_CELLS_PER_SYMBOL`] a symbol, is refused: a few bytes describe up to 64 Ki cells, so
/// such blocks would make the tables, not the symbols, the decoder's work.
fn read_tables(src: &[u8], n: usize) -> Result<(DecodeTables, usize), EntropyError> {
    let [log, count] = *src.first_chunk::<2>().ok_or(EntropyError::Truncated)?;
    let (log, count) = (log as u32, count as usize);
    if !(MIN_TABLE_LOG..=MAX_TABLE_LOG).contains(&log) {
        return Err(EntropyError::Corrupt("context table log out of range"));
    }
    if count == 0 || count > MAX_TABLES {
        return Err(EntropyError::Corrupt("context table count out of range"));
    }
    if n < MIN_INPUT || count << log > MAX_CELLS_PER_SYMBOL * n {
        return Err(EntropyError::Corrupt(
            "context tables too large for their block",
        ));
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
        let e: &[u32; $crate::entropy::context::ENTRIES] = &$t.entries;
        let mask = (1usize << $t.log) - 1;
        let o: &mut $crate::entropy::context::Open<'_> = $o;
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
                $crate::entropy::bit_io::refill_marked(body, &mut bits[k], &mut pos[k]);
            }
            for _ in 0..4 {
                for kk in 0..4 {
                    let $k: usize = kk;
                    let $i: usize = kk * seg + j;
                    let $prev: u32 = prev[kk];
                    let b: usize = $base;
                    let x = e[(b | (st[kk] & mask)) & ($crate::entropy::context::ENTRIES - 1)];
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

mod given;
mod history;
mod neighbour;
mod split;

pub use given::{decode_given, decode_given_signs, encode_given, encode_given_signs};
pub use history::{decode_history, encode_history};
pub use neighbour::{decode_given_neighbour, encode_given_neighbour};
pub use split::{decode_split, encode_split};

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` one-symbol tables of log `log`, as a block's table part.
    fn tables(log: u32, count: u8) -> Vec<u8> {
        let mut one = [0u32; 256];
        one[0] = 1;
        let mut out = vec![log as u8, count];
        for _ in 0..count {
            write_ncount(&normalize(&one, 1, log), &mut out);
        }
        out
    }

    /// Tables cost their cells to build: a block must have symbols enough to pay for them.
    #[test]
    fn tables_too_large_for_their_block_are_refused() {
        let too_large = Err(EntropyError::Corrupt(
            "context tables too large for their block",
        ));
        // What the encoders write at the least: 16 tables of 1 << 10 for 1024 symbols.
        assert!(read_tables(&tables(10, 16), MIN_INPUT).is_ok());
        assert!(read_tables(&tables(12, 16), 4 * MIN_INPUT).is_ok());
        assert_eq!(
            read_tables(&tables(12, 16), 4 * MIN_INPUT - 1).map(|_| ()),
            too_large
        );
        assert_eq!(
            read_tables(&tables(5, 1), MIN_INPUT - 1).map(|_| ()),
            too_large
        );
        assert_eq!(read_tables(&tables(12, 16), 70).map(|_| ()), too_large);
    }
}
