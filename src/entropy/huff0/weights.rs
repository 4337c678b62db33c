//! The tree description: symbol weights (direct 4-bit or FSE-compressed) and canonical codes.

use super::fse;
use super::{EntropyError, MAX_TABLE_LOG};

/// Weights of symbols `0..symbols` (the last one implied) and the resulting table log.
#[derive(Clone)]
pub(super) struct Weights {
    pub(super) w: [u8; 256],
    pub(super) symbols: usize,
    pub(super) table_log: u32,
}

/// Parses a tree description; returns the weights and the description's size in bytes.
pub(super) fn read_weights(src: &[u8]) -> Result<(Weights, usize), EntropyError> {
    let h = *src.first().ok_or(EntropyError::Truncated)? as usize;
    let mut w = [0u8; 256];
    let (n, used) = if h < 128 {
        if h == 0 {
            return Err(EntropyError::Corrupt("empty Huffman weight stream"));
        }
        let body = src.get(1..1 + h).ok_or(EntropyError::Truncated)?;
        (fse::decode_huff_weights(body, &mut w)?, 1 + h)
    } else {
        let n = h - 127;
        let body = src
            .get(1..1 + n.div_ceil(2))
            .ok_or(EntropyError::Truncated)?;
        for (i, x) in w[..n].iter_mut().enumerate() {
            let b = body[i / 2];
            *x = if i % 2 == 0 { b >> 4 } else { b & 15 };
        }
        (n, 1 + n.div_ceil(2))
    };
    let mut total = 0u32;
    for &x in &w[..n] {
        if x as u32 > MAX_TABLE_LOG {
            return Err(EntropyError::Corrupt("Huffman weight too large"));
        }
        total += (1 << x) >> 1;
    }
    if total == 0 {
        return Err(EntropyError::Corrupt("all Huffman weights are zero"));
    }
    let table_log = 32 - total.leading_zeros();
    if table_log > MAX_TABLE_LOG {
        return Err(EntropyError::Corrupt("Huffman table log too large"));
    }
    let rest = (1u32 << table_log) - total;
    if !rest.is_power_of_two() {
        return Err(EntropyError::Corrupt(
            "Huffman weights do not complete a tree",
        ));
    }
    w[n] = rest.trailing_zeros() as u8 + 1;
    // As zstd: the longest codes come in pairs (a complete code has an even number, >= 2).
    let ones = w[..=n].iter().filter(|&&x| x == 1).count();
    if ones < 2 || ones % 2 == 1 {
        return Err(EntropyError::Corrupt(
            "Huffman weights: bad count of longest codes",
        ));
    }
    Ok((
        Weights {
            w,
            symbols: n + 1,
            table_log,
        },
        used,
    ))
}

/// Canonical codes from weights, exactly as the decoder lays out its table: longest codes
/// (weight 1) first, increasing symbol order within a weight. Returns `(code, length)` per symbol.
pub(super) fn canonical_codes(weights: &Weights) -> [(u16, u8); 256] {
    let tl = weights.table_log;
    let mut rank_count = [0u32; 16];
    for &x in &weights.w[..weights.symbols] {
        rank_count[x as usize] += 1;
    }
    let mut next = [0u32; 16];
    let mut acc = 0u32;
    for x in 1..=tl as usize {
        next[x] = acc;
        acc += rank_count[x] << (x - 1);
    }
    let mut codes = [(0u16, 0u8); 256];
    for (s, &x) in weights.w[..weights.symbols].iter().enumerate() {
        if x > 0 {
            let x = x as usize;
            let start = next[x];
            next[x] += 1 << (x - 1);
            codes[s] = ((start >> (x - 1)) as u16, (tl + 1 - x as u32) as u8);
        }
    }
    codes
}
