//! Finite State Entropy (tANS), RFC 8878 §4.1.1.
//!
//! Two users:
//! * huff0's FSE-compressed weights (accuracy log <= 6, two interleaved states in one
//!   bitstream, ended by the RFC's overflow rule) — crate-internal (`decode_huff_weights`,
//!   `encode_huff_weights`);
//! * a general byte coder, [`compress`] / [`decompress`], for blocks where tANS beats Huffman.
//!
//! # Byte-stream format ([`compress`] / [`decompress`])
//!
//! The regenerated size `n` is known to the caller (it is not stored). A block is:
//!
//! 1. **Normalized-count header**, exactly as RFC 8878 §4.1.1 (the FSE table description used
//!    by zstd): 4 bits `accuracy_log - 5`, then the probabilities of symbols `0, 1, ...` as
//!    variable-length fields read LSB-first, with 2-bit repeat flags after a zero probability,
//!    ending when the probabilities sum to `1 << accuracy_log`; padded with zero bits to a whole
//!    byte. Here `accuracy_log` is in `5..=12` and symbols are bytes (`<= 255`).
//!    Probability `-1` ("less than one") is accepted by the decoder; the encoder never uses it.
//! 2. **Stream sizes**: three unsigned LEB128 varints (7 bits per byte, low group first,
//!    high bit = "more follows", at most 5 bytes, value < 2^32): the byte sizes of streams 1, 2
//!    and 3. Stream 4 is the rest of the block.
//! 3. **Four bitstreams**, concatenated. Each is a zstd-style backward bitstream (written
//!    LSB-first, last byte holds a `1` end-marker bit above the data, read from the end).
//!    With `seg = (n + 3) / 4`, streams 1–3 regenerate `seg` bytes each and stream 4
//!    `n - 3 * seg` (a block with `3 * seg > n` is invalid); the outputs are concatenated.
//!
//! Decoding one stream of `m` symbols, with the decoding table built from the header exactly as
//! in RFC 8878 §4.1.1 (symbol spread with step `(size >> 1) + (size >> 3) + 3`, then
//! `Number_of_Bits` / `Baseline` per state):
//!
//! ```text
//! state = read(accuracy_log)
//! repeat m times:
//!     emit symbol[state]
//!     state = baseline[state] + read(nb_bits[state])
//! require: state == 0 and every bit of the stream consumed
//! ```
//!
//! Unlike zstd's FSE (whose encoder starts from a symbol's own state and whose decoder skips
//! the last update) the encoder here starts every stream in state 0 and also encodes the last
//! symbol's transition, so every symbol updates the state and the final `state == 0` check
//! catches corruption. Reads never go past the start of a stream in a valid block.

use super::bit_io::{refill_marked, BackwardReader, BitWriter};
use super::{varint, EntropyError};
use alloc::vec::Vec;

/// Smallest accuracy log the RFC header can express.
pub const MIN_TABLE_LOG: u32 = 5;
/// Largest accuracy log of the byte coder.
pub const MAX_TABLE_LOG: u32 = 12;
/// Largest accuracy log allowed for huff0 weights (RFC 8878 §4.2.1.2).
pub const MAX_WEIGHT_TABLE_LOG: u32 = 6;

const MAX_TABLE_SIZE: usize = 1 << MAX_TABLE_LOG;

/// Normalized counts ("probabilities"): `-1` = less than one (one cell, full reset),
/// `0` = absent, otherwise the number of table cells. They sum (with `-1` as 1) to `1 << log`.
#[derive(Clone)]
pub(crate) struct NormCounts {
    pub log: u32,
    pub counts: [i16; 256],
    /// One past the last symbol listed in the header.
    pub symbols: usize,
}

mod ncount;
mod table;
#[cfg(test)]
mod tests;
mod weights;

pub(crate) use ncount::{cost_q24, normalize, read_ncount, write_ncount};
pub(crate) use table::{spread_symbols, DecodeTable, EncodeTable};
pub(crate) use weights::{decode_huff_weights, encode_huff_weights};

/// Minimum input size [`compress`] accepts.
pub const MIN_INPUT: usize = 16;

/// Byte histogram of `src`.
pub fn histogram(src: &[u8]) -> [u32; 256] {
    let mut h = [[0u32; 256]; 4];
    count_into(src, &mut h);
    sum_tables(&h)
}

/// Adds the bytes of `src` to four sub-histograms, byte `i` to table `i % 4`: with one,
/// runs of equal bytes wait on store-to-load forwarding. Eight bytes a load: with a load a
/// byte, a bf16 exponent group counted at 2.1 GB/s, with this 2.9 (bench/NOTES.md, session 47).
pub(crate) fn count_into(src: &[u8], h: &mut [[u32; 256]; 4]) {
    let (words, rest) = src.as_chunks::<8>();
    for w in words {
        let w = u64::from_le_bytes(*w);
        h[0][(w & 0xff) as usize] += 1;
        h[1][(w >> 8 & 0xff) as usize] += 1;
        h[2][(w >> 16 & 0xff) as usize] += 1;
        h[3][(w >> 24 & 0xff) as usize] += 1;
        h[0][(w >> 32 & 0xff) as usize] += 1;
        h[1][(w >> 40 & 0xff) as usize] += 1;
        h[2][(w >> 48 & 0xff) as usize] += 1;
        h[3][(w >> 56) as usize] += 1;
    }
    for (i, &b) in rest.iter().enumerate() {
        h[i % 4][b as usize] += 1;
    }
}

/// The histogram that [`count_into`]'s four tables make together.
pub(crate) fn sum_tables(h: &[[u32; 256]; 4]) -> [u32; 256] {
    let mut out = [0u32; 256];
    for (i, o) in out.iter_mut().enumerate() {
        *o = h[0][i] + h[1][i] + h[2][i] + h[3][i];
    }
    out
}

/// Largest table log for a block of `n` symbols (FORMAT.md §3.2.1): at most 16 cells a symbol,
/// or the smallest table. A few header bytes describe 4096 cells: without this, a block of a
/// few bytes costs a decoder a large table build for each.
fn max_log(n: usize) -> u32 {
    let cells = n.saturating_mul(16).max(1 << MIN_TABLE_LOG);
    (usize::BITS - 1 - cells.leading_zeros()).clamp(MIN_TABLE_LOG, MAX_TABLE_LOG)
}

/// Picks the accuracy log and normalized counts minimising header + payload size.
fn choose_table(counts: &[u32; 256], total: u64) -> Option<(NormCounts, u64)> {
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    if distinct < 2 {
        return None;
    }
    let mut best: Option<(NormCounts, u64)> = None;
    let mut scratch = Vec::new();
    for log in MIN_TABLE_LOG..=max_log(total as usize) {
        if distinct > 1 << log {
            continue;
        }
        let norm = normalize(counts, total, log);
        scratch.clear();
        write_ncount(&norm, &mut scratch);
        let bits = (cost_q24(counts, &norm) >> 24) + 8 * scratch.len() as u64;
        if best.as_ref().is_none_or(|b| bits < b.1) {
            best = Some((norm, bits));
        }
    }
    best
}

/// Estimated size in bits of [`compress`]'s output for data with this histogram (header and
/// payload; stream sizes and padding not included). `None` if fewer than 2 symbols occur.
pub fn estimate_bits(counts: &[u32; 256]) -> Option<u64> {
    let total: u64 = counts.iter().map(|&c| c as u64).sum();
    choose_table(counts, total).map(|(_, bits)| bits)
}

/// Puts the byte sizes of the first three of four streams, written from `out[at..]` on, in
/// front of them (three LEB128 varints; the fourth stream takes the rest).
pub(crate) fn insert_sizes(out: &mut Vec<u8>, at: usize, sizes: [usize; 3]) {
    let mut jump = Vec::with_capacity(15);
    for s in sizes {
        varint::put(s, &mut jump);
    }
    out.splice(at..at, jump);
}

/// Reads the three stream sizes at the front of `src` (each < 2^32) and splits the rest, the
/// body, into the four streams: `(body, streams, where each starts in body)`.
pub(crate) fn read_streams(src: &[u8]) -> Result<StreamsOf<'_>, EntropyError> {
    let mut p = 0;
    let mut sizes = [0usize; 3];
    for s in &mut sizes {
        *s = varint::get(src, &mut p)?;
        if *s > u32::MAX as usize {
            return Err(EntropyError::Corrupt("stream size too large"));
        }
    }
    let body = src.get(p..).unwrap_or(&[]);
    let (streams, start) = split_streams(body, sizes)?;
    Ok((body, streams, start))
}

/// What [`read_streams`] returns.
pub(crate) type StreamsOf<'a> = (&'a [u8], [&'a [u8]; 4], [usize; 4]);

/// Encodes one stream: start in state 0, encode back to front, flush the state.
fn encode_stream(ct: &EncodeTable, src: &[u8], out: &mut Vec<u8>) {
    let size = 1u32 << ct.log;
    let mut x = size;
    let mut w = BitWriter::new(out);
    // At most 12 bits per symbol: four symbols fit between flushes.
    let chunks = src.chunks_exact(4);
    for &s in chunks.remainder().iter().rev() {
        ct.encode(&mut w, &mut x, s);
    }
    w.flush();
    for c in chunks.rev() {
        ct.encode(&mut w, &mut x, c[3]);
        ct.encode(&mut w, &mut x, c[2]);
        ct.encode(&mut w, &mut x, c[1]);
        ct.encode(&mut w, &mut x, c[0]);
        w.flush();
    }
    w.add_bits((x - size) as u64, ct.log);
    w.finish();
}

/// Compresses `src` into the byte-stream format described in the module docs, appending to
/// `out`. Returns the number of bytes written, or `None` (nothing written) if `src` is shorter
/// than [`MIN_INPUT`] or has fewer than two distinct byte values. The result may be larger
/// than `src`; callers compare against raw / RLE.
pub fn compress(src: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let n = src.len();
    if n < MIN_INPUT || n > u32::MAX as usize {
        return None;
    }
    let counts = histogram(src);
    let (norm, _) = choose_table(&counts, n as u64)?;
    let ct: EncodeTable = EncodeTable::build(&norm);
    let start = out.len();
    write_ncount(&norm, out);
    let sizes_at = out.len();
    let seg = n.div_ceil(4);
    let mut sizes = [0usize; 3];
    for (k, part) in src.chunks(seg).enumerate() {
        let before = out.len();
        encode_stream(&ct, part, out);
        if k < 3 {
            sizes[k] = out.len() - before;
        }
    }
    insert_sizes(out, sizes_at, sizes);
    Some(out.len() - start)
}

/// Decodes a block written by [`compress`] into `dst` (whose length is the regenerated size).
/// Any malformed input yields an error; this never panics.
pub fn decompress(src: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    let (norm, hlen) = read_ncount(src, MAX_TABLE_LOG)?;
    if norm.log > max_log(dst.len()) {
        return Err(EntropyError::Corrupt("tANS table too large for its block"));
    }
    with_reused!(DecodeTable, |table: &mut DecodeTable| {
        table.build(&norm)?;
        decompress_with_table(table, src.get(hlen..).unwrap_or(&[]), dst)
    })
}

/// Decodes the part of a block after its header (stream sizes and streams) with a prepared table.
fn decompress_with_table(
    table: &DecodeTable,
    src: &[u8],
    dst: &mut [u8],
) -> Result<(), EntropyError> {
    let (body, streams, start) = read_streams(src)?;

    let n = dst.len();
    let seg = n.div_ceil(4);
    if 3 * seg > n {
        return Err(EntropyError::Corrupt("block too small for four streams"));
    }
    let (d0, rest) = dst.split_at_mut(seg);
    let (d1, rest) = rest.split_at_mut(seg);
    let (d2, d3) = rest.split_at_mut(seg);

    let log = table.log;
    let mut r = [
        BackwardReader::new(streams[0])?,
        BackwardReader::new(streams[1])?,
        BackwardReader::new(streams[2])?,
        BackwardReader::new(streams[3])?,
    ];
    let mut st = [0usize; 4];
    let mut bits = [0u64; 4];
    let mut pos = [0usize; 4];
    for k in 0..4 {
        st[k] = r[k].read(log) as usize;
        (bits[k], pos[k]) = r[k].marked();
        pos[k] += start[k];
    }
    let mut op = [0usize; 4];

    // Hot loop: a refill leaves >= 56 bits, enough for four updates of <= 12 bits per stream.
    // Entry: 63 - nb (bits 0..8), symbol (8..16), baseline (16..32); reading `nb` bits is
    // `(bits >> 1) >> (63 - nb)`, which also gives 0 for nb == 0.
    let t = &*table.fast;
    loop {
        if (0..4).any(|k| pos[k] < start[k] + 8) {
            break;
        }
        let (Some(w0), Some(w1), Some(w2), Some(w3)) = (
            window(d0, op[0]),
            window(d1, op[1]),
            window(d2, op[2]),
            window(d3, op[3]),
        ) else {
            break;
        };
        for k in 0..4 {
            refill_marked(body, &mut bits[k], &mut pos[k]);
        }
        let mut out = [0u32; 4];
        for i in 0..4 {
            for k in 0..4 {
                let e = t[st[k] & (MAX_TABLE_SIZE - 1)];
                out[k] |= ((e >> 8) & 0xff) << (8 * i);
                let v = (bits[k] >> 1) >> (e & 63);
                bits[k] <<= (e ^ 63) & 63;
                st[k] = (e >> 16) as usize + v as usize;
            }
        }
        *w0 = out[0].to_le_bytes();
        *w1 = out[1].to_le_bytes();
        *w2 = out[2].to_le_bytes();
        *w3 = out[3].to_le_bytes();
        for o in op.iter_mut() {
            *o += 4;
        }
    }

    // Tails, one stream at a time, with every read checked.
    for (k, d) in [d0, d1, d2, d3].into_iter().enumerate() {
        let rk = &mut r[k];
        rk.set_marked(bits[k], pos[k] - start[k]);
        let mut state = st[k];
        for o in d[op[k]..].iter_mut() {
            let e = table.entry(state);
            *o = e as u8;
            state = (e >> 16) as usize + rk.read((e >> 8) & 0xff) as usize;
        }
        if state != 0 || !rk.is_exhausted() {
            return Err(EntropyError::Corrupt(
                "FSE stream does not end at its final state",
            ));
        }
    }
    Ok(())
}

/// Splits `body` into four streams, the first three of the given sizes; also returns where
/// each starts. Checked step by step, so no size can overflow or slice out of range.
pub(crate) fn split_streams(
    body: &[u8],
    sizes: [usize; 3],
) -> Result<([&[u8]; 4], [usize; 4]), EntropyError> {
    let mut streams = [&body[..0]; 4];
    let mut start = [0usize; 4];
    let mut rest = body;
    for k in 0..3 {
        if sizes[k] > rest.len() {
            return Err(EntropyError::Truncated);
        }
        let (a, b) = rest.split_at(sizes[k]);
        streams[k] = a;
        start[k + 1] = start[k] + sizes[k];
        rest = b;
    }
    streams[3] = rest;
    Ok((streams, start))
}

/// The 4 bytes of `d` from `op`, if there are that many.
#[inline(always)]
fn window(d: &mut [u8], op: usize) -> Option<&mut [u8; 4]> {
    d.get_mut(op..).and_then(|d| d.first_chunk_mut::<4>())
}
