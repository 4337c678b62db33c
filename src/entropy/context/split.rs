//! Mode 8 ([`SPLIT`](super::SPLIT)): each byte split into high bits coded as a history stream
//! and low bits coded given the high bits.

use super::{decode_history, encode_history};
use crate::entropy::EntropyError;
use alloc::vec;
use alloc::vec::Vec;

use super::given::{choose_buckets, decode_given_streams, encode_given_streams, read_given_tables};

/// Encodes `src` as a [`SPLIT`](super::SPLIT) payload: `v >> low` as a [`HISTORY`](super::HISTORY) payload (`stride` as
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

/// Decodes a [`SPLIT`](super::SPLIT) payload into `dst` (whose length is the decoded length).
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
    let (map, tables, used) = read_given_tables(rest, dst.len())?;
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
