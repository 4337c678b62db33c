//! Modes 7 and 9 ([`GIVEN`](super::GIVEN), [`GIVEN_SIGNS`](super::GIVEN_SIGNS)): the top
//! mantissa bits coded given the exponent of the same element; signs and low bits packed, or
//! the signs coded as a history stream.

use super::{
    decode_history, decode_streams, encode_streams, read_tables, Context, DecodeTables, MAX_TABLES,
    MIN_INPUT,
};
use crate::entropy::bit_io::BitWriter;
use crate::entropy::EntropyError;
use alloc::vec;
use alloc::vec::Vec;

use super::history::{encode_history_best, HistoryChoice, Sums, COLUMN_ROWS};

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

/// Encodes bits `low..7` of each byte of `src` (the top mantissa bits) given `companion` (same
/// length) as a [`GIVEN`](super::GIVEN) payload; the sign (bit 7, a coin flip) and the low bits are stored
/// packed. Returns its size or `None`.
pub fn encode_given(src: &[u8], companion: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let start = out.len();
    encode_given_parts(src, companion, true, out)?;
    Some(out.len() - start)
}

/// Encodes `src` as a [`GIVEN_SIGNS`](super::GIVEN_SIGNS) payload: its signs as a [`HISTORY`](super::HISTORY) payload (context:
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

/// The [`GIVEN`](super::GIVEN) payload, with or without its sign plane.
pub(super) fn encode_given_parts(
    src: &[u8],
    companion: &[u8],
    signs: bool,
    out: &mut Vec<u8>,
) -> Option<()> {
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
pub(super) fn pack_bit(bytes: &[u8], bit: u32) -> u8 {
    bytes
        .iter()
        .enumerate()
        .fold(0, |a, (i, &b)| a | (b >> bit & 1) << i)
}

/// Writes the bucket map (`lo`, `cnt`, packed nibbles) and the tables and streams of `syms`
/// coded with context `map[companion[i]]`.
pub(super) fn encode_given_streams(
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
pub(super) fn write_map(map: &[u8; 256], out: &mut Vec<u8>) {
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
pub(super) fn read_given_tables(
    src: &[u8],
    n: usize,
) -> Result<([u8; 256], DecodeTables, usize), EntropyError> {
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
    let (tables, used) = read_tables(&src[2 + nb..], n)?;
    if map.iter().any(|&b| b as usize >= tables.count) {
        return Err(EntropyError::Corrupt("bucket without a table"));
    }
    Ok((map, tables, 2 + nb + used))
}

/// Decodes the four streams of a given-coded part into `dst`, contexts `map[companion[i]]`.
pub(super) fn decode_given_streams(
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
pub(super) fn choose_buckets(syms: &[u8], companion: &[u8], bits: u32) -> [u8; 256] {
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
                    kl += x as f64 * crate::entropy::block::libm_log2(p / q);
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

/// Decodes a [`GIVEN`](super::GIVEN) payload into `dst`, with `companion` the group it was coded against.
pub fn decode_given(src: &[u8], companion: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    decode_given_parts(src, companion, None, dst)
}

/// Decodes a [`GIVEN_SIGNS`](super::GIVEN_SIGNS) payload into `dst`, given `companion` (same length).
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

/// The [`GIVEN`](super::GIVEN) decoder; `plane` holds the packed signs when the payload does not.
pub(super) fn decode_given_parts(
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
    let (map, tables, used) = read_given_tables(&src[1..], n)?;
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
