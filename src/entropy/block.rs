//! One coded byte stream ("block"), in whichever of the modes below is smallest. A block knows
//! its decoded length from its caller; it stores only the mode and the payload. Layout
//! (FORMAT.md §3.2):
//!
//! | mode | meaning | then |
//! |---|---|---|
//! | 0 | raw | `n` bytes |
//! | 1 | repeat | 1 byte, repeated `n` times |
//! | 2 | huff0, 4 streams | u32 LE payload length, RFC 8878 Huffman payload |
//! | 3 | tANS | u32 LE payload length, `fse` byte-stream payload |
//! | 4 | sparse | u32 LE payload length; varint count, then per non-zero byte: varint run of zeros before it, the byte |
//! | 5 | LZ77 | u32 LE payload length, `lz` payload (literals and sequences in nested blocks of modes 0–4) |
//! | 6 | context history | u32 LE payload length, [`super::context`] payload (exponents given earlier ones) |
//! | 7 | context given | u32 LE payload length, [`super::context`] payload (decoded by the chunk, which has the exponents) |
//! | 8 | context split | u32 LE payload length, [`super::context`] payload (high bits as mode 6, low bits given them) |
//! | 9 | context given, signs by column | as mode 7, with the sign coded given the signs above it |
//! | 10 | context given, signs by neighbour | as mode 7, with the sign coded given the neighbouring element's |
//! | 11 | huff0, 4 wide streams | as mode 2 with a jump table of three u32 (streams over 64 KiB) |
//! | 12 | bit planes | u32 LE payload length, [`super::planes`] payload (high bits as a nested block, low bits as planes) |

use super::{fse, huff0, lz, varint, EntropyError, Pace};
use alloc::vec::Vec;

/// Mode byte of a raw block: the bytes as they are.
pub const RAW: u8 = 0;
/// Mode byte of a repeat block: one byte, repeated over the block.
pub const REPEAT: u8 = 1;
/// Mode byte of a huff0 block with u16 stream sizes (4 streams, RFC 8878 §4.2.1).
pub const HUF4: u8 = 2;
/// Mode byte of a tANS (FSE) block (FORMAT.md §3.2.1).
pub const FSE: u8 = 3;
/// Mode byte of a sparse block: zeros except the listed bytes.
pub const SPARSE: u8 = 4;
/// Mode byte of an LZ77 block (FORMAT.md §3.5).
pub const LZ: u8 = 5;
/// huff0 with u32 stream sizes: blocks whose compressed streams pass mode 2's u16 sizes
/// (groups over ~256 KiB: large chunks of bytes or fp16).
pub const HUF4_WIDE: u8 = 11;
/// Mode byte of a planes block: each byte's high bits as a nested block, its low bits stored
/// as bit planes ([`super::planes`]).
pub const PLANES: u8 = 12;
/// Modes up to this one that a decoder does not know are a later version's (unsupported);
/// above it, damage (a mode byte read at the wrong place, as a damaged `raw_len` puts it).
pub const LAST_RESERVED: u8 = 31;

/// Order-0 histogram of a byte stream (shared with the tANS coder).
pub use super::fse::histogram;

/// Order-0 entropy of the histogram in bits (a lower bound on any order-0 coder's payload).
pub fn entropy_bits(counts: &[u32; 256], n: usize) -> f64 {
    let n = n as f64;
    let mut bits = 0.0;
    for &c in counts.iter().filter(|&&c| c > 0) {
        let c = c as f64;
        bits -= c * libm_log2(c / n);
    }
    bits
}

/// log2 without std (no_std core has no float math); accurate to ~1e-6, plenty for estimates.
pub(crate) fn libm_log2(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut exp = ((bits >> 52) & 0x7FF) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000); // [1,2)
                                                                                        // Centre m on 1 ([√½, √2)) so that the series below converges fast.
    if m > core::f64::consts::SQRT_2 {
        m *= 0.5;
        exp += 1;
    }
    // log2(m) = ln(m)/ln 2 with ln(m) = 2 atanh((m-1)/(m+1)).
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let series =
        t * (2.0 + t2 * (2.0 / 3.0 + t2 * (2.0 / 5.0 + t2 * (2.0 / 7.0 + t2 * (2.0 / 9.0)))));
    exp as f64 + series * core::f64::consts::LOG2_E
}

/// Appends the smallest encoding of `src` to `out`. Huffman is always tried; tANS too when
/// `tans` is set: it codes fractional bits and so wins on skewed streams (exponents, ~0.3% of
/// a BF16 model), but decodes several times slower.
///
/// Without `tans`, a coded block must also be [`MIN_GAIN`] smaller than raw, as zstd asks of
/// its Huffman literals: near-random groups (BF16 sign+mantissa bytes, ~7.96 bits) would
/// otherwise be Huffman-coded for a few tenths of a percent, at one symbol per table lookup,
/// which is most of the decoding time of the chunks where it happens.
pub fn encode(src: &[u8], out: &mut Vec<u8>, tans: bool) {
    encode_with(src, out, tans, false)
}

/// [`encode`] for a chunk's group, where a bit-plane block ([`PLANES`]) may also be written:
/// in place of huff0 where its estimate is smaller (`planes::choose`).
pub fn encode_group(src: &[u8], out: &mut Vec<u8>, tans: bool) {
    encode_with(src, out, tans, true)
}

fn encode_with(src: &[u8], out: &mut Vec<u8>, tans: bool, planes: bool) {
    if src.is_empty() {
        out.push(RAW);
        return;
    }
    if !tans && looks_random(src) {
        push_raw(src, out);
        return;
    }
    encode_counted(src, &histogram(src), None, out, tans, planes);
}

/// [`encode_with`] once `counts`, the histogram of `src` (not empty), is known, and with
/// `code`, huff0's code for `counts`, where the caller has built it already.
pub(super) fn encode_counted(
    src: &[u8],
    counts: &[u32; 256],
    code: Option<huff0::Code>,
    out: &mut Vec<u8>,
    tans: bool,
    planes: bool,
) {
    let n = src.len();
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    if distinct == 1 {
        out.extend_from_slice(&[REPEAT, src[0]]);
        return;
    }
    let min_gain = if tans { 0 } else { n / MIN_GAIN };
    // Nearly random bytes (mantissas): no order-0 coder can win by more than its table.
    let h = entropy_bits(counts, n);
    if h > 7.97 * n as f64 || 8.0 * (n - min_gain) as f64 <= h || n < 32 {
        push_raw(src, out);
        return;
    }
    let start = out.len();
    let raw = 1 + n - min_gain; // what a coded block must beat
    let mut best = raw;
    // Mostly zeros (XOR deltas of nearly unchanged weights): positions beat any order-0 coder,
    // which cannot go below 1 bit per byte.
    let nonzero = n - counts[0] as usize;
    if nonzero * 4 < n {
        match coded(SPARSE, src, out, sparse_encode) {
            Some(len) if 5 + len < best => best = 5 + len,
            _ => out.truncate(start),
        }
    }
    let sparse_end = out.len();
    // Bytes of 5 to 7 bits (float16 exponents with mantissa bits, int8 weights): huff0
    // decodes one or two a lookup, their high parts more, with the low bits stored as planes.
    let mut huffman = None;
    // One code for huff0's estimate and its block.
    let code = code.or_else(|| huff0::Code::new(counts));
    // Against huff0's estimate (plus its mode and length): the one it would write.
    let plain = || Some(code.as_ref()?.estimate_bits(counts)? + 40);
    if let Some((low, high_code)) = planes
        .then(|| super::planes::choose(counts, n, h, plain))
        .flatten()
    {
        super::planes::encode_counted(src, counts, low, Some(high_code), out, tans);
        match out.len() - sparse_end {
            len if len < best => huffman = Some(len - 5),
            _ => out.truncate(sparse_end),
        }
    }
    // The payload must come in under `best - 5`: one that cannot is not even encoded.
    let limit = best.saturating_sub(5);
    if huffman.is_none() {
        let jump = huff0::Jump::U16;
        let huf =
            |s: &[u8], o: &mut Vec<u8>| code.as_ref()?.compress_4x_below(s, counts, jump, limit, o);
        huffman = coded(HUF4, src, out, huf);
    }
    // A stream over 64 KiB once coded does not fit mode 2's u16 sizes: the same with u32.
    if huffman.is_none() && n.div_ceil(4) > u16::MAX as usize / 2 {
        let jump = huff0::Jump::U32;
        let wide =
            |s: &[u8], o: &mut Vec<u8>| code.as_ref()?.compress_4x_below(s, counts, jump, limit, o);
        huffman = coded(HUF4_WIDE, src, out, wide);
    }
    if let Some(len) = huffman {
        if 5 + len < best {
            out.copy_within(sparse_end.., start);
            out.truncate(start + 5 + len);
            best = 5 + len;
        } else {
            out.truncate(sparse_end);
        }
    }
    if tans {
        let at = out.len();
        match coded(FSE, src, out, fse::compress) {
            Some(len) if 5 + len < best => {
                out.copy_within(at.., start);
                out.truncate(start + 5 + len);
                best = 5 + len;
            }
            _ => out.truncate(at),
        }
    }
    if best == raw {
        out.truncate(start);
        push_raw(src, out);
    }
}

/// Without `tans`, coded blocks must save at least `n / MIN_GAIN` bytes over raw (1.6 %).
pub const MIN_GAIN: usize = 64;

/// Whether a sample of `src` (16 windows of 1 KiB, evenly spread, so that structure within a
/// window and across the block is seen) has an entropy above 7.9 bits: then no order-0 coder
/// can save [`MIN_GAIN`] (7.875 bits), and the full histogram, most of the cost of storing
/// noise (the low mantissa bytes of float32: half of its bytes), is not worth counting. As
/// zstd's sampling of incompressible literals. Blocks under 32 KiB (twice the sample) are
/// always counted; from there the sample saves at least half the count (the groups of chunks
/// cut shorter than 256 KiB, as in raw float files: 10 % of compressing english_g2's stream).
fn looks_random(src: &[u8]) -> bool {
    const WINDOWS: usize = 16;
    const WINDOW: usize = 1024;
    let n = src.len();
    if n < 32 * WINDOW {
        return false;
    }
    let mut tables = [[0u32; 256]; 4];
    for k in 0..WINDOWS {
        let at = k * (n - WINDOW) / (WINDOWS - 1);
        fse::count_into(&src[at..at + WINDOW], &mut tables);
    }
    let m = WINDOWS * WINDOW;
    entropy_bits(&fse::sum_tables(&tables), m) > 7.9 * m as f64
}

/// [`encode`], then LZ77 too where that is smaller: for groups a cheap test
/// ([`lz::has_repeats`]) found repeats in. Returns the bytes LZ saved (0 if not kept).
pub fn encode_lz(src: &[u8], out: &mut Vec<u8>, tans: bool) -> usize {
    encode_lz_with(src, out, tans, false)
}

/// [`encode_lz`] with the LZ coder tuned for text-like bytes ([`lz::compress_text`]) too. On a
/// block over `TEXT_FIRST_FAST` the fast coder runs first, and the deep one only if it beats
/// both the plain block and the fast coder on the first `TEXT_PROBE` bytes: low-entropy
/// bytes that merely look repetitive (int8 weights around a few values) gave the deep search
/// nothing at 1/20 of the fast one's speed. The smallest block is kept.
pub fn encode_lz_text(src: &[u8], out: &mut Vec<u8>, tans: bool) -> usize {
    encode_lz_with(src, out, tans, true)
}

/// Blocks longer than this try [`lz::compress`] before [`lz::compress_text`] (a safetensors
/// JSON header or a pickle of a few KiB gets the deep search straight away).
const TEXT_FIRST_FAST: usize = 64 << 10;
/// The deep search runs on a whole long block only if it beats the plain block and the fast
/// coder on this many first bytes.
const TEXT_PROBE: usize = 16 << 10;

/// [`lz::compress_text`] codes `src` smaller than both the plain block and [`lz::compress`].
fn deep_wins(src: &[u8], tans: bool) -> bool {
    let mut deep = Vec::new();
    if coded(LZ, src, &mut deep, |s, o| lz::compress_text(s, o, tans)).is_none() {
        return false;
    }
    let mut other = Vec::new();
    encode(src, &mut other, tans);
    if deep.len() >= other.len() {
        return false;
    }
    other.clear();
    coded(LZ, src, &mut other, |s, o| lz::compress(s, o, tans))
        .is_none_or(|_| deep.len() < other.len())
}

fn encode_lz_with(src: &[u8], out: &mut Vec<u8>, tans: bool, text: bool) -> usize {
    let start = out.len();
    encode(src, out, tans);
    let plain = out.len() - start;
    // An LZ payload has at least a dozen bytes of counts and nested block heads: it cannot
    // beat a block this small (a constant run is 2 bytes), so do not spend time on it.
    if plain < 24 {
        return 0;
    }
    let tries: &[bool] = match (text, src.len() > TEXT_FIRST_FAST) {
        (false, _) => &[false],
        (true, false) => &[true],
        (true, true) => &[false, true],
    };
    let mut best = plain;
    for (k, &deep) in tries.iter().enumerate() {
        // What the deep search finds and the fast coder misses (int64 counters: 2 literals,
        // then 6 bytes at offset 8, under the fast coder's 8-byte hashes; short repeats of
        // text) shows in the block's first bytes.
        if k > 0 && !deep_wins(&src[..TEXT_PROBE], tans) {
            break;
        }
        let at = out.len();
        let lz = |s: &[u8], o: &mut Vec<u8>| {
            if deep {
                lz::compress_text(s, o, tans)
            } else {
                lz::compress(s, o, tans)
            }
        };
        match coded(LZ, src, out, lz) {
            Some(len) if 5 + len < best => {
                out.copy_within(at.., start);
                best = 5 + len;
                out.truncate(start + best);
            }
            _ => out.truncate(at),
        }
    }
    plain - best
}

fn sparse_encode(src: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let start = out.len();
    varint::put(src.iter().filter(|&&b| b != 0).count(), out);
    let mut run = 0;
    for &b in src {
        if b == 0 {
            run += 1;
        } else {
            varint::put(run, out);
            out.push(b);
            run = 0;
        }
    }
    Some(out.len() - start)
}

fn sparse_decode(src: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    let mut pos = 0;
    let count = varint::get(src, &mut pos)?;
    dst.fill(0);
    let mut at = 0usize;
    for _ in 0..count {
        at = at
            .checked_add(varint::get(src, &mut pos)?)
            .ok_or(EntropyError::Corrupt("sparse run"))?;
        let b = *src.get(pos).ok_or(EntropyError::Truncated)?;
        pos += 1;
        if b == 0 {
            return Err(EntropyError::Corrupt("sparse entry of zero"));
        }
        *dst.get_mut(at)
            .ok_or(EntropyError::Corrupt("sparse entry past the end"))? = b;
        at += 1;
    }
    if pos != src.len() {
        return Err(EntropyError::Corrupt("sparse block has trailing bytes"));
    }
    Ok(())
}

/// Appends `mode`, a u32 length and the coder's payload; `None` (nothing kept) if it declined.
fn coded(
    mode: u8,
    src: &[u8],
    out: &mut Vec<u8>,
    coder: impl Fn(&[u8], &mut Vec<u8>) -> Option<usize>,
) -> Option<usize> {
    let start = out.len();
    out.extend_from_slice(&[mode, 0, 0, 0, 0]);
    match coder(src, out) {
        Some(len) => {
            out[start + 1..start + 5].copy_from_slice(&(len as u32).to_le_bytes());
            Some(len)
        }
        None => {
            out.truncate(start);
            None
        }
    }
}

fn push_raw(src: &[u8], out: &mut Vec<u8>) {
    out.push(RAW);
    out.extend_from_slice(src);
}

/// [`decode`] for the blocks inside an LZ or a bit-plane block: modes 0–4 and 11 only
/// (FORMAT.md §3.5, §3.6), as [`encode`] writes them. No nesting inside a nested block (no
/// recursion on hostile input), and no context modes, which a second decoder following the
/// format would not accept there either.
pub fn decode_nested(src: &[u8], dst: &mut [u8]) -> Result<usize, EntropyError> {
    decode_nested_paced(src, dst, &mut ())
}

/// [`decode_nested`] with a pacer (the high parts of a [`PLANES`] block, which are nested the
/// same way).
pub fn decode_nested_paced(
    src: &[u8],
    dst: &mut [u8],
    pace: &mut impl Pace,
) -> Result<usize, EntropyError> {
    if src.first().is_some_and(|&m| m > SPARSE && m != HUF4_WIDE) {
        return Err(EntropyError::Corrupt(
            "block mode not allowed in a nested block",
        ));
    }
    decode_paced(src, dst, pace)
}

/// Decodes one block from the front of `src` into `dst` (whose length is the decoded length);
/// returns the number of bytes of `src` consumed.
pub fn decode(src: &[u8], dst: &mut [u8]) -> Result<usize, EntropyError> {
    decode_paced(src, dst, &mut ())
}

/// [`decode`], telling `pace` how far a huff0 block got as it goes (other modes do not).
pub fn decode_paced(
    src: &[u8],
    dst: &mut [u8],
    pace: &mut impl Pace,
) -> Result<usize, EntropyError> {
    let (&mode, rest) = src.split_first().ok_or(EntropyError::Truncated)?;
    match mode {
        RAW => {
            let s = rest.get(..dst.len()).ok_or(EntropyError::Truncated)?;
            dst.copy_from_slice(s);
            Ok(1 + dst.len())
        }
        REPEAT => {
            let &b = rest.first().ok_or(EntropyError::Truncated)?;
            dst.fill(b);
            Ok(2)
        }
        HUF4 | FSE | SPARSE | LZ | HUF4_WIDE | PLANES => {
            let len = rest.get(..4).ok_or(EntropyError::Truncated)?;
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let payload = rest[4..].get(..len).ok_or(EntropyError::Truncated)?;
            match mode {
                HUF4 => huff0::decompress_4x_paced(payload, dst, huff0::Jump::U16, pace)?,
                HUF4_WIDE => huff0::decompress_4x_paced(payload, dst, huff0::Jump::U32, pace)?,
                FSE => fse::decompress(payload, dst)?,
                LZ => lz::decompress(payload, dst)?,
                PLANES => super::planes::decode(payload, dst, pace)?,
                _ => sparse_decode(payload, dst)?,
            }
            Ok(5 + len)
        }
        super::context::HISTORY
        | super::context::GIVEN
        | super::context::GIVEN_SIGNS
        | super::context::GIVEN_NEIGHBOUR => {
            let len = rest.get(..4).ok_or(EntropyError::Truncated)?;
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let payload = rest[4..].get(..len).ok_or(EntropyError::Truncated)?;
            if mode != super::context::HISTORY {
                // Needs the exponent group of its chunk: see `format::znw::chunk`.
                return Err(EntropyError::Corrupt(
                    "conditional block outside a float chunk",
                ));
            }
            super::context::decode_history(payload, dst)?;
            Ok(5 + len)
        }
        super::context::SPLIT => {
            let len = rest.get(..4).ok_or(EntropyError::Truncated)?;
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let payload = rest[4..].get(..len).ok_or(EntropyError::Truncated)?;
            super::context::decode_split(payload, dst)?;
            Ok(5 + len)
        }
        m => Err(EntropyError::UnknownMode(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_blocks_roundtrip_and_reject_garbage() {
        let mut src = alloc::vec![0u8; 10_000];
        for i in (0..10_000).step_by(97) {
            src[i] = (i % 251) as u8 + 1;
        }
        src[9_999] = 7;
        let mut out = Vec::new();
        encode(&src, &mut out, false);
        assert_eq!(out[0], SPARSE);
        assert!(out.len() < 400, "{} bytes", out.len());
        let mut back = alloc::vec![1u8; src.len()];
        assert_eq!(decode(&out, &mut back), Ok(out.len()));
        assert_eq!(back, src);
        for cut in 0..out.len() {
            let _ = decode(&out[..cut], &mut back);
        }
        let mut bad = out.clone();
        bad[7] = 0xFF; // a run past the end
        assert!(decode(&bad, &mut back).is_err() || back != src);
    }

    /// `n` bytes, uniform but for byte 0, which also stands in with probability `p_percent`.
    fn skewed(n: usize, p_percent: u64) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if (x >> 33) % 100 < p_percent {
                    0
                } else {
                    (x >> 56) as u8
                }
            })
            .collect()
    }

    /// A group whose coded streams pass 64 KiB (1 MiB of 6-bit bytes): mode 2 cannot hold
    /// it, mode 11 does, at mode 2's ratio; damaged copies give errors, never a panic.
    #[test]
    fn big_groups_are_huffman_coded_with_wide_streams() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let src: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 64) as u8 // 6 bits, uniform
            })
            .collect();
        let mut out = Vec::new();
        encode(&src, &mut out, false);
        assert_eq!(out[0], HUF4_WIDE);
        assert!(out.len() < src.len() * 77 / 100, "{} bytes", out.len());
        let mut back = alloc::vec![0u8; src.len()];
        assert_eq!(decode(&out, &mut back), Ok(out.len()));
        assert!(back == src);
        // The same bytes in 256 KiB blocks (mode 2) come out no smaller.
        let small: usize = src
            .chunks(1 << 18)
            .map(|c| {
                let mut o = Vec::new();
                encode(c, &mut o, false);
                assert_eq!(o[0], HUF4);
                o.len()
            })
            .sum();
        assert!(
            out.len() <= small + 1024,
            "wide {} vs 4 blocks {small}",
            out.len()
        );
        // Inside LZ (nested) too.
        assert_eq!(decode_nested(&out, &mut back), Ok(out.len()));
        let mut rng = 7u32;
        for _ in 0..300 {
            rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let mut bad = out.clone();
            let at = (rng as usize >> 4) % 64.min(bad.len()); // mode, length, table, jump sizes
            bad[at] ^= 1 << (rng % 8);
            let _ = decode(&bad, &mut back);
        }
        for cut in [1, 5, 20, 100, out.len() / 2, out.len() - 1] {
            assert!(decode(&out[..cut], &mut back).is_err());
        }
    }

    #[test]
    fn small_gains_stay_raw_unless_tans() {
        // 3 %: entropy 7.94 bits, under 1 % to gain; 10 %: 7.65 bits, over 4 %. At sizes
        // where `looks_random` samples (from 32 KiB) and where it does not.
        let cases = [(3, false), (10, true)].into_iter();
        for (n, (p, coded_by_default)) in [20_000, 1 << 15, 40_000, 1 << 16]
            .into_iter()
            .flat_map(|n| cases.clone().map(move |c| (n, c)))
        {
            let src = skewed(n, p);
            for tans in [false, true] {
                let mut out = Vec::new();
                encode(&src, &mut out, tans);
                let raw = out[0] == RAW;
                assert_eq!(
                    raw,
                    !tans && !coded_by_default,
                    "{n} bytes, p {p}% tans {tans}: mode {}",
                    out[0]
                );
                if !raw {
                    assert!(out.len() < src.len(), "p {p}% tans {tans}");
                }
                if !tans && !raw {
                    assert!(out.len() + src.len() / MIN_GAIN <= src.len() + 1);
                }
                let mut back = alloc::vec![0u8; src.len()];
                assert_eq!(decode(&out, &mut back), Ok(out.len()));
                assert_eq!(back, src);
            }
        }
    }

    #[test]
    fn log2_is_accurate() {
        for x in [1e-9, 0.001, 0.3, 0.5, 1.0, 1.5, 2.0, 1000.0, 123456.0] {
            let want = f64::log2(x);
            assert!((libm_log2(x) - want).abs() < 1e-6, "{x}");
        }
    }
}
