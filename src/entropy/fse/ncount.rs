//! The table description: normalized counts, their RFC 8878 header, and normalizing a histogram.

use super::{EntropyError, NormCounts, MIN_TABLE_LOG};
use crate::entropy::bit_io::{BitWriter, ForwardReader};
use alloc::vec::Vec;

/// Reads an RFC 8878 §4.1.1 FSE table description. Returns the counts and the header size.
pub(crate) fn read_ncount(src: &[u8], max_log: u32) -> Result<(NormCounts, usize), EntropyError> {
    if src.is_empty() {
        return Err(EntropyError::Truncated);
    }
    let mut r = ForwardReader::new(src);
    let log = r.read(4) + MIN_TABLE_LOG;
    if log > max_log {
        return Err(EntropyError::Corrupt("FSE accuracy log too large"));
    }
    let mut counts = [0i16; 256];
    let mut remaining: i32 = (1 << log) + 1;
    let mut threshold: i32 = 1 << log;
    let mut nb = log + 1;
    let mut s = 0usize;
    let mut prev_zero = false;
    while remaining > 1 {
        if prev_zero {
            // Repeat flags: runs of 3 more zeros while the flag is 3.
            loop {
                let f = r.read(2) as usize;
                s += f;
                if f != 3 || s > 255 {
                    break;
                }
            }
        }
        if s > 255 {
            return Err(EntropyError::Corrupt("FSE header lists too many symbols"));
        }
        let max = 2 * threshold - 1 - remaining;
        let low = r.peek(nb - 1) as i32;
        let v = if low < max {
            r.skip(nb - 1);
            low
        } else {
            let v = r.read(nb) as i32;
            if v >= threshold {
                v - max
            } else {
                v
            }
        };
        let c = v - 1;
        remaining -= c.abs();
        counts[s] = c as i16;
        s += 1;
        prev_zero = c == 0;
        while remaining < threshold {
            nb -= 1;
            threshold >>= 1;
        }
        if r.is_overrun() {
            return Err(EntropyError::Truncated);
        }
    }
    if remaining != 1 {
        return Err(EntropyError::Corrupt(
            "FSE probabilities do not sum to the table size",
        ));
    }
    Ok((
        NormCounts {
            log,
            counts,
            symbols: s,
        },
        r.bytes_consumed(),
    ))
}

/// Writes the RFC 8878 §4.1.1 table description of `norm` (which must be valid).
pub(crate) fn write_ncount(norm: &NormCounts, out: &mut Vec<u8>) {
    let log = norm.log;
    let last = norm.counts.iter().rposition(|&c| c != 0).unwrap_or(0);
    let mut w = BitWriter::new(out);
    w.add_bits((log - MIN_TABLE_LOG) as u64, 4);
    let mut remaining: i32 = (1 << log) + 1;
    let mut threshold: i32 = 1 << log;
    let mut nb = log + 1;
    let mut s = 0usize;
    let mut prev_zero = false;
    while remaining > 1 && s <= last {
        if prev_zero {
            let start = s;
            while s < last && norm.counts[s] == 0 {
                s += 1;
            }
            let mut run = s - start;
            while run >= 3 {
                w.add_bits(3, 2);
                w.flush();
                run -= 3;
            }
            w.add_bits(run as u64, 2);
        }
        let c = norm.counts[s] as i32;
        s += 1;
        let max = 2 * threshold - 1 - remaining;
        remaining -= c.abs();
        let mut v = c + 1;
        if v >= threshold {
            v += max;
        }
        w.add_bits(v as u64, nb - (v < max) as u32);
        w.flush();
        prev_zero = c == 0;
        while remaining < threshold {
            nb -= 1;
            threshold >>= 1;
        }
    }
    debug_assert_eq!(remaining, 1);
    w.finish_unmarked();
}

// ---------------------------------------------------------------------------------------------
// Normalization

/// log2(x) in Q24 fixed point, for x >= 1 (bit-by-bit squaring; no float math in core).
pub(super) fn log2_q24(x: u64) -> u64 {
    debug_assert!(x >= 1);
    let ip = 63 - x.leading_zeros();
    // Mantissa in [1, 2) as Q31.
    let mut m: u64 = if ip <= 31 {
        x << (31 - ip)
    } else {
        x >> (ip - 31)
    };
    let mut frac = 0u64;
    for i in (0..24).rev() {
        m = (m * m) >> 31;
        if m >= 2u64 << 31 {
            m >>= 1;
            frac |= 1 << i;
        }
    }
    ((ip as u64) << 24) | frac
}

/// Scales `counts` (summing to `total`) to cells of a `1 << log` table, every present symbol
/// getting at least one cell, greedily minimising the coded size. Requires `2 <= distinct <= 1 << log`.
pub(crate) fn normalize(counts: &[u32; 256], total: u64, log: u32) -> NormCounts {
    let size = 1i64 << log;
    let mut norm = [0i16; 256];
    let mut sum = 0i64;
    // Symbols past the last counted one take no cells: the loops stop there (huff0's weight
    // tables count at most 12 symbols, and one is built for every Huffman code). At least one,
    // so that a histogram of nothing gives all cells to symbol 0 as before, not a panic.
    let m = counts.iter().rposition(|&c| c > 0).map_or(1, |p| p + 1);
    let counts = &counts[..m];
    for (n, &c) in norm.iter_mut().zip(counts.iter()) {
        if c > 0 {
            let v = ((c as u64 * size as u64 + total / 2) / total).max(1);
            *n = v as i16;
            sum += v as i64;
        }
    }
    // Marginal cost of adding / removing one cell: c * log2((n+1)/n), c * log2(n/(n-1)).
    let gain = |c: u32, n: i16| c as u64 * (log2_q24(n as u64 + 1) - log2_q24(n as u64));
    let loss = |c: u32, n: i16| {
        if n > 1 {
            c as u64 * (log2_q24(n as u64) - log2_q24(n as u64 - 1))
        } else {
            u64::MAX
        }
    };
    let mut diff = size - sum;
    if diff > 0 {
        let mut g = [0u64; 256];
        for s in 0..m {
            if counts[s] > 0 {
                g[s] = gain(counts[s], norm[s]);
            }
        }
        while diff > 0 {
            let best = (0..m)
                .max_by_key(|&s| (g[s], core::cmp::Reverse(s)))
                .unwrap_or(0);
            norm[best] += 1;
            g[best] = gain(counts[best], norm[best]);
            diff -= 1;
        }
    } else if diff < 0 {
        let mut l = [u64::MAX; 256];
        for s in 0..m {
            if counts[s] > 0 {
                l[s] = loss(counts[s], norm[s]);
            }
        }
        while diff < 0 {
            let best = (0..m).min_by_key(|&s| (l[s], s)).unwrap_or(0);
            norm[best] -= 1;
            l[best] = loss(counts[best], norm[best]);
            diff += 1;
        }
    }
    let symbols = norm.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
    NormCounts {
        log,
        counts: norm,
        symbols,
    }
}

/// Approximate coded size in bits of data with histogram `counts` under `norm` (payload only).
pub(crate) fn cost_q24(counts: &[u32; 256], norm: &NormCounts) -> u64 {
    let mut bits = 0u64;
    for (&c, &n) in counts.iter().zip(norm.counts.iter()) {
        if c > 0 {
            let n = n.max(1) as u64;
            bits += c as u64 * (((norm.log as u64) << 24) - log2_q24(n));
        }
    }
    bits
}
