//! Block mode 12 ([`block::PLANES`]): each byte's high bits coded as a nested block, its `low`
//! low bits stored as bit planes (FORMAT.md §3.6).
//!
//! huff0's decoder costs about the same per table lookup whatever a lookup yields, and an
//! 11-bit lookup yields one or two symbols of 5 to 7 bits (float16's exponent with three
//! mantissa bits, int8 weights) against three to five of bfloat16's 2.6-bit exponents. The low
//! bits of such bytes are nearly coin flips: stored as they are, they cost about what Huffman
//! spends on them, and the high parts decode at several symbols a lookup.
//!
//! A plane holds one bit of every byte, ⌈n/8⌉ bytes, in units of 16 bytes for 128 bytes of the
//! block: bit `j` of the unit's byte `k` is byte `16j + k`'s. Sixteen neighbouring bytes take
//! their bits from one shift of the same 16 plane bytes, which every 128-bit SIMD unit does
//! (SSE2, wasm simd128). The last `n mod 128` bytes' bits follow packed LSB-first.

use super::block::{self, HUF4, HUF4_WIDE};
use super::huff0::{Code, LOOKUP_BITS};
use super::EntropyError;
use alloc::vec::Vec;

/// Bytes a plane spends on a 128-byte unit of the block.
const UNIT: usize = 16;

/// Blocks shorter than this stay as they are (the nested block's head and the planes'
/// rounding are not worth it).
const MIN_LEN: usize = 1024;

/// The number of low bits a [`block::PLANES`] block of bytes with histogram `counts` (`n` of
/// them, `h` bits of order-0 entropy) should store, if one is estimated smaller than `than()`
/// bits (asked for only past the cheap tests): the most of 3, 2 and 1 whose high parts still
/// take at least two symbols a lookup (fewer bits left in a symbol, fewer lookups), with the
/// huff0 code of those high parts. None under 4 bits a byte, where huff0 already decodes
/// three symbols a lookup or more.
pub(super) fn choose(
    counts: &[u32; 256],
    n: usize,
    h: f64,
    than: impl FnOnce() -> Option<u64>,
) -> Option<(u32, Code)> {
    if n < MIN_LEN || h <= 4.0 * n as f64 {
        return None;
    }
    let than = than()?;
    (1..=3u32).rev().find_map(|low| {
        let high = high_counts(counts, low);
        // Mode, length, `low`, the nested block's mode and length, the planes.
        let fixed = 8 * (11 + low as u64 * n.div_ceil(8) as u64);
        // No Huffman code beats the order-0 entropy: a candidate that cannot win by it ends
        // here, before a code is built.
        if block::entropy_bits(&high, n) + fixed as f64 >= than as f64 {
            return None;
        }
        let code = Code::new(&high)?;
        let bits = code.estimate_bits(&high)?;
        (bits * 2 <= LOOKUP_BITS as u64 * n as u64 && bits + fixed < than).then_some((low, code))
    })
}

/// The histogram of the high parts `v >> low` of bytes with histogram `counts`.
fn high_counts(counts: &[u32; 256], low: u32) -> [u32; 256] {
    let mut high = [0u32; 256];
    for (v, &c) in counts.iter().enumerate() {
        high[v >> low] += c;
    }
    high
}

/// Replaces the block `out[at..]`, which codes `src`, by a [`block::PLANES`] block where a
/// huff0 block is there and `choose` finds one smaller (for blocks that `block::encode_lz`
/// coded: `block::encode_group` tries the mode itself).
pub fn try_planes(src: &[u8], out: &mut Vec<u8>, at: usize, tans: bool) {
    let n = src.len();
    let current = out.len() - at;
    if n < MIN_LEN || !matches!(out[at], HUF4 | HUF4_WIDE) || 2 * current < n {
        return;
    }
    let counts = block::histogram(src);
    let h = block::entropy_bits(&counts, n);
    let Some((low, high_code)) = choose(&counts, n, h, || Some(8 * current as u64)) else {
        return;
    };
    let start = out.len();
    encode_counted(src, &counts, low, Some(high_code), out, tans);
    if out.len() - start < current {
        out.copy_within(start.., at);
        out.truncate(at + out.len() - start);
    } else {
        out.truncate(start);
    }
}

/// Appends a [`block::PLANES`] block of `src` with `low` (1..=7) low bits.
pub fn encode(src: &[u8], low: u32, out: &mut Vec<u8>, tans: bool) {
    encode_counted(src, &block::histogram(src), low, None, out, tans)
}

/// [`encode`] given `counts`, the histogram of `src`, and `high_code`, the huff0 code of the
/// high parts where [`choose`] built it.
pub(super) fn encode_counted(
    src: &[u8],
    counts: &[u32; 256],
    low: u32,
    high_code: Option<Code>,
    out: &mut Vec<u8>,
    tans: bool,
) {
    assert!((1..=7).contains(&low), "planes: low bits out of range");
    let start = out.len();
    out.extend_from_slice(&[block::PLANES, 0, 0, 0, 0, low as u8]);
    let high: Vec<u8> = src.iter().map(|&b| b >> low).collect();
    if high.is_empty() {
        block::encode(&high, out, tans);
    } else {
        block::encode_counted(
            &high,
            &high_counts(counts, low),
            high_code,
            out,
            tans,
            false,
        );
    }
    pack_planes(src, low, out);
    let len = (out.len() - start - 5) as u32;
    out[start + 1..start + 5].copy_from_slice(&len.to_le_bytes());
}

/// `f::<LOW>(args)` with `LOW` the constant equal to `low` (1 to 7; 7 for anything else):
/// the packer and the unpacker take the plane count as a const parameter so that their plane
/// loops unroll.
macro_rules! with_low {
    ($low:expr, $f:ident($($arg:expr),*)) => {
        match $low {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            _ => $f::<7>($($arg),*),
        }
    };
}

/// Eight bytes of a block as one little-endian word.
fn word(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().expect("8 bytes"))
}

/// Bit `p` of each of eight bytes, at the bottom of eight bytes.
const ONES: u64 = 0x0101_0101_0101_0101;

/// Appends the planes of `src`'s `low` low bits, bit `low - 1` first (layout in the module
/// docs), word by word as [`unpack`] reads them.
fn pack_planes(src: &[u8], low: u32, out: &mut Vec<u8>) {
    let plane = src.len().div_ceil(8);
    let base = out.len();
    out.resize(base + low as usize * plane, 0);
    let planes = &mut out[base..];
    with_low!(low, pack(src, planes))
}

/// [`pack_planes`] into zeroed `planes`, with `LOW` fixed so that the plane loop unrolls and
/// its words stay in registers (with `low` read at run time they went through memory: 3 % of
/// a float16 compress; bench/NOTES.md, session 66).
fn pack<const LOW: usize>(src: &[u8], planes: &mut [u8]) {
    let plane = src.len().div_ceil(8);
    let mut units = src.chunks_exact(8 * UNIT);
    for (u, unit) in (&mut units).enumerate() {
        let mut acc = [[0u64; 2]; LOW];
        for (j, sixteen) in unit.chunks_exact(UNIT).enumerate() {
            let v = [word(&sixteen[..8]), word(&sixteen[8..])];
            for (p, a) in acc.iter_mut().enumerate() {
                let bit = LOW - 1 - p;
                for h in 0..2 {
                    a[h] |= (v[h] >> bit & ONES) << j;
                }
            }
        }
        for (p, a) in acc.iter().enumerate() {
            let dst = &mut planes[p * plane + u * UNIT..][..UNIT];
            dst[..8].copy_from_slice(&a[0].to_le_bytes());
            dst[8..].copy_from_slice(&a[1].to_le_bytes());
        }
    }
    let done = src.len() / (8 * UNIT) * UNIT;
    for (t, &x) in units.remainder().iter().enumerate() {
        for p in 0..LOW {
            let bit = LOW - 1 - p;
            planes[p * plane + done + t / 8] |= (x >> bit & 1) << (t % 8);
        }
    }
}

/// Decodes a [`block::PLANES`] payload into `dst`, telling `pace` of the nested block's progress.
pub fn decode(
    payload: &[u8],
    dst: &mut [u8],
    pace: &mut impl super::Pace,
) -> Result<(), EntropyError> {
    let (&low, rest) = payload.split_first().ok_or(EntropyError::Truncated)?;
    if !(1..=7).contains(&low) {
        return Err(EntropyError::Corrupt("planes: low bits out of range"));
    }
    let used = block::decode_nested_paced(rest, dst, pace)?;
    let planes = &rest[used..];
    let plane = dst.len().div_ceil(8);
    if planes.len() != low as usize * plane {
        return Err(if planes.len() < low as usize * plane {
            EntropyError::Truncated
        } else {
            EntropyError::Corrupt("planes: bytes past the last plane")
        });
    }
    let fits = with_low!(low, unpack(planes, dst));
    if fits {
        Ok(())
    } else {
        Err(EntropyError::Corrupt(
            "planes: high part wider than its bits",
        ))
    }
}

/// `dst[i] = dst[i] << LOW | its low bits` from `LOW` planes, most significant first; false if
/// a high part had more than `8 - LOW` bits. `LOW` fixed so that the plane loop unrolls.
///
/// Whole words: `(plane >> j) & 0x01…01` is bit `j` of eight plane bytes at the bottom of
/// eight bytes, and `v << 1` shifts eight bytes at once (a high part that fits cannot carry
/// into its neighbour; one that does not is an error anyway). Pairs of `u64` become SSE2 and
/// simd128 operations; byte-wise the loop did not vectorise (half of a float16 decode).
fn unpack<const LOW: usize>(planes: &[u8], dst: &mut [u8]) -> bool {
    let plane = dst.len().div_ceil(8);
    let done = dst.len() / (8 * UNIT) * UNIT;
    let mut wide = [0u64; 2];
    let mut units = dst.chunks_exact_mut(8 * UNIT);
    for (u, unit) in (&mut units).enumerate() {
        let bits: [[u64; 2]; LOW] = core::array::from_fn(|p| {
            let b = &planes[p * plane + u * UNIT..][..UNIT];
            [word(&b[..8]), word(&b[8..])]
        });
        for (j, sixteen) in unit.chunks_exact_mut(UNIT).enumerate() {
            let (lo, hi) = sixteen.split_at_mut(8);
            let mut v = [word(lo), word(hi)];
            for h in 0..2 {
                wide[h] |= v[h];
                for b in &bits {
                    v[h] = v[h] << 1 | (b[h] >> j & ONES);
                }
            }
            lo.copy_from_slice(&v[0].to_le_bytes());
            hi.copy_from_slice(&v[1].to_le_bytes());
        }
    }
    let mut tail = 0u8;
    for (i, x) in units.into_remainder().iter_mut().enumerate() {
        tail |= *x;
        for p in 0..LOW {
            *x = *x << 1 | (planes[p * plane + done + i / 8] >> (i % 8) & 1);
        }
    }
    // Bits at or above `8 - LOW` in any byte.
    let over = ONES * (0xFFu8 << (8 - LOW)) as u64;
    (wide[0] | wide[1]) & over == 0 && tail >> (8 - LOW) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::block::decode;
    use crate::entropy::block::HUF4;

    fn roundtrip(src: &[u8], low: u32) -> usize {
        let mut out = Vec::new();
        encode(src, low, &mut out, false);
        let mut back = alloc::vec![0u8; src.len()];
        assert_eq!(decode(&out, &mut back), Ok(out.len()));
        assert_eq!(back, src);
        out.len()
    }

    #[test]
    fn every_low_and_length_round_trips() {
        let mut x = 0x9E37_79B9u32;
        let src: Vec<u8> = (0..1000)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8 & if i % 3 == 0 { 0x3F } else { 0xFF }
            })
            .collect();
        for low in 1..=7 {
            for n in [0, 1, 7, 8, 127, 128, 129, 255, 256, 300, 1000] {
                roundtrip(&src[..n], low);
            }
        }
    }

    /// A skewed high part (a few bits of entropy) over `low` uniform low bits.
    fn skewed(n: usize, low: u32, seed: u32) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let r = x >> 8;
                // A geometric-ish high part around 12 plus `low` coin flips.
                let high = 12 + (r & 0xFF).trailing_zeros().min(7) - (r >> 8 & 3).min(2);
                (high << low | (r >> 12) & ((1 << low) - 1)) as u8
            })
            .collect()
    }

    /// The block `try_planes` leaves after a huff0 block, and the huff0 block's size.
    fn huff0_then_planes(src: &[u8]) -> (Vec<u8>, usize) {
        let mut out = alloc::vec![0xEE];
        block::encode(src, &mut out, false);
        let huff0 = out.len() - 1;
        try_planes(src, &mut out, 1, false);
        (out, huff0)
    }

    #[test]
    fn planes_replace_huff0_only_where_smaller() {
        // float16-like: a skewed 5-bit part over 3 near-uniform bits (about 5 bits a byte).
        let src = skewed(100_000, 3, 1);
        let (out, huff0) = huff0_then_planes(&src);
        assert_eq!(out[1], block::PLANES);
        assert!(out.len() - 1 < huff0);
        let mut back = alloc::vec![0u8; src.len()];
        assert_eq!(decode(&out[1..], &mut back), Ok(out.len() - 1));
        assert_eq!(back, src);
        // A chunk's group chooses the same way up front; a nested block never does.
        let mut group = Vec::new();
        block::encode_group(&src, &mut group, false);
        assert_eq!((group[0], group.len()), (block::PLANES, out.len() - 1));
        let mut nested = Vec::new();
        block::encode(&src, &mut nested, false);
        assert_eq!(nested[0], HUF4);
        // bfloat16-like exponents (no uniform low bits, under 4 bits a byte): left as they are.
        let src = skewed(100_000, 0, 2);
        let (out, huff0) = huff0_then_planes(&src);
        assert_eq!((out[1], out.len() - 1), (HUF4, huff0));
        let mut group = Vec::new();
        block::encode_group(&src, &mut group, false);
        assert_eq!(group[0], HUF4);
        // Low bits that are not uniform (every byte even): planes of 1 bit would win only
        // by luck of the estimate; of 3 they would cost two near-constant planes, never kept
        // where larger.
        let src: Vec<u8> = skewed(100_000, 3, 3).iter().map(|b| b & !1).collect();
        let (out, huff0) = huff0_then_planes(&src);
        assert!(out.len() - 1 <= huff0);
    }

    #[test]
    fn a_plane_bit_lands_on_its_byte() {
        // Byte 16j + k of a unit takes bit j of the plane's byte k; the tail goes LSB-first.
        let mut src = alloc::vec![0u8; 128 + 10];
        src[16 * 3 + 5] = 1;
        src[128 + 9] = 1;
        let mut plane = Vec::new();
        pack_planes(&src, 1, &mut plane);
        assert_eq!(plane.len(), 16 + 2);
        assert_eq!(plane[5], 1 << 3);
        assert_eq!(plane[17], 1 << 1);
        assert_eq!(plane.iter().filter(|&&b| b != 0).count(), 2);
    }

    /// The planes as FORMAT.md §3.6 words them, one bit at a time: the plane of bit `low - 1`
    /// first; in the units, bit `j` of byte `c` of unit `u` is byte `128u + 16j + c`'s; the
    /// tail LSB-first; every other bit zero.
    fn planes_as_specified(src: &[u8], low: u32) -> Vec<u8> {
        let plane = src.len().div_ceil(8);
        let whole = src.len() / 128 * 128;
        let mut out = alloc::vec![0u8; low as usize * plane];
        for p in 0..low as usize {
            let bit = low - 1 - p as u32;
            for (i, &v) in src.iter().enumerate() {
                let (at, shift) = if i < whole {
                    (16 * (i / 128) + i % 16, i % 128 / 16)
                } else {
                    (whole / 8 + (i - whole) / 8, (i - whole) % 8)
                };
                out[p * plane + at] |= (v >> bit & 1) << shift;
            }
        }
        out
    }

    #[test]
    fn planes_are_laid_out_as_specified() {
        let mut x = 0x2545_F491u32;
        let src: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for low in 1..=7 {
            for n in [0, 1, 9, 127, 128, 129, 256, 300, 1000] {
                let src = &src[..n];
                let want = planes_as_specified(src, low);
                let mut planes = Vec::new();
                pack_planes(src, low, &mut planes);
                assert_eq!(planes, want, "low {low}, {n} bytes");
                // A block put together by hand (high parts in a raw nested block) decodes.
                let mut b = alloc::vec![block::PLANES, 0, 0, 0, 0, low as u8, block::RAW];
                b.extend(src.iter().map(|&v| v >> low));
                b.extend(&want);
                let len = (b.len() - 5) as u32;
                b[1..5].copy_from_slice(&len.to_le_bytes());
                let mut back = alloc::vec![0u8; n];
                assert_eq!(decode(&b, &mut back), Ok(b.len()), "low {low}, {n} bytes");
                assert_eq!(back, src, "low {low}, {n} bytes");
            }
        }
    }

    #[test]
    fn damage_is_a_typed_error() {
        let src: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 61) as u8).collect();
        let mut out = Vec::new();
        encode(&src, 2, &mut out, false);
        let mut back = alloc::vec![0u8; src.len()];
        // One plane byte short, one too many.
        let mut short = out.clone();
        short.pop();
        let n = (short.len() - 5) as u32;
        short[1..5].copy_from_slice(&n.to_le_bytes());
        assert_eq!(decode(&short, &mut back), Err(EntropyError::Truncated));
        let mut long = out.clone();
        long.push(0);
        long[1..5].copy_from_slice(&(n + 2).to_le_bytes());
        assert!(matches!(
            decode(&long, &mut back),
            Err(EntropyError::Corrupt(_))
        ));
        // A high part wider than 6 bits: stored raw, so it can be written.
        let mut wide = Vec::new();
        wide.extend_from_slice(&[block::PLANES, 0, 0, 0, 0, 2, block::RAW]);
        wide.extend(core::iter::repeat_n(0x40u8, 200));
        wide.extend(core::iter::repeat_n(0u8, 2 * 25));
        let n = (wide.len() - 5) as u32;
        wide[1..5].copy_from_slice(&n.to_le_bytes());
        let mut back = alloc::vec![0u8; 200];
        assert_eq!(
            decode(&wide, &mut back),
            Err(EntropyError::Corrupt(
                "planes: high part wider than its bits"
            ))
        );
        // Low bits out of range, and a nested block of a mode not allowed there.
        for bad in [0u8, 8] {
            let mut b = out.clone();
            b[5] = bad;
            assert!(matches!(
                decode(&b, &mut back),
                Err(EntropyError::Corrupt(_))
            ));
        }
        let mut nested = out.clone();
        nested[6] = block::PLANES;
        assert!(matches!(
            decode(&nested, &mut back),
            Err(EntropyError::Corrupt(_))
        ));
    }
}
