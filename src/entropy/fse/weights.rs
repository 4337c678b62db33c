//! huff0 weights: two interleaved states, one stream, overflow-terminated (RFC 8878 §4.2.1.2).

use super::table::build_entries;
use super::{
    normalize, read_ncount, write_ncount, EncodeTable, EntropyError, MAX_WEIGHT_TABLE_LOG,
    MIN_TABLE_LOG,
};
use crate::entropy::bit_io::{BackwardReader, BitWriter};
use alloc::vec::Vec;

/// Decodes FSE-compressed Huffman weights (`src` = the `header_byte` bytes after it).
/// Returns the number of weights written to `weights` (at most 255).
pub(crate) fn decode_huff_weights(
    src: &[u8],
    weights: &mut [u8; 256],
) -> Result<usize, EntropyError> {
    let (norm, hlen) = read_ncount(src, MAX_WEIGHT_TABLE_LOG)?;
    // A table on the stack: weight tables have at most 64 cells (a full `DecodeTable` costs
    // two 16 KiB allocations per Huffman block).
    const CELLS: usize = 1 << MAX_WEIGHT_TABLE_LOG;
    let size = 1usize << norm.log;
    let (mut sym, mut entries) = ([0u8; CELLS], [0u32; CELLS]);
    build_entries(&norm, &mut sym[..size], &mut entries[..size])?;
    let entry = |state: usize| entries[state & (CELLS - 1)];
    let mut r = BackwardReader::new(src.get(hlen..).unwrap_or(&[]))?;
    let log = norm.log;
    let mut states = [r.read(log) as usize, r.read(log) as usize];
    let mut n = 0usize;
    let mut emit = |e: u32| {
        if n >= 255 {
            return Err(EntropyError::Corrupt("too many Huffman weights"));
        }
        weights[n] = e as u8;
        n += 1;
        Ok(n)
    };
    let mut which = 0usize;
    loop {
        // Emit from one state and update it; once an update reads past the start of the stream,
        // the other state's symbol is the last one.
        let e = entry(states[which]);
        emit(e)?;
        states[which] = (e >> 16) as usize + r.read((e >> 8) & 0xff) as usize;
        if r.overrun() {
            return emit(entry(states[which ^ 1]));
        }
        which ^= 1;
    }
}

/// FSE-compresses Huffman weights (each `<= 15`, at least two distinct values, 2..=255 of them).
/// Appends the table description and the stream (not the `header_byte`); returns the size, or
/// `None` if FSE cannot represent them.
pub(crate) fn encode_huff_weights(weights: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let n = weights.len();
    if !(2..=255).contains(&n) {
        return None;
    }
    let mut counts = [0u32; 256];
    for &w in weights {
        counts[w as usize] += 1;
    }
    if counts.iter().filter(|&&c| c > 0).count() < 2 {
        return None;
    }
    let mut best: Option<Vec<u8>> = None;
    for log in MIN_TABLE_LOG..=MAX_WEIGHT_TABLE_LOG {
        let norm = normalize(&counts, n as u64, log);
        let mut buf = Vec::new();
        write_ncount(&norm, &mut buf);
        let ct = EncodeTable::<{ 1 << MAX_WEIGHT_TABLE_LOG }>::build(&norm);
        let mut w = BitWriter::new(&mut buf);
        // State 1 decodes the even positions, state 2 the odd ones; the last two weights are
        // the states' starting symbols, the rest are encoded back to front.
        let mut x = [0u32; 2];
        x[(n - 1) & 1] = ct.init_state(weights[n - 1]);
        x[(n - 2) & 1] = ct.init_state(weights[n - 2]);
        for j in (0..n - 2).rev() {
            ct.encode(&mut w, &mut x[j & 1], weights[j]);
            w.flush();
        }
        let size = 1u32 << log;
        w.add_bits((x[1] - size) as u64, log);
        w.add_bits((x[0] - size) as u64, log);
        w.finish();
        if best.as_ref().is_none_or(|b| buf.len() < b.len()) {
            best = Some(buf);
        }
    }
    let best = best?;
    out.extend_from_slice(&best);
    Some(best.len())
}
