//! LZ77 for byte groups that repeat themselves: block mode 5 (FORMAT.md §3.5).
//!
//! Weights are nearly random bytes, so an LZ path only pays where a model stores the same
//! values twice: symmetric or mirrored tensors (an STFT basis holds row `k` and row `N - k`
//! with alternating signs, whose low mantissa bytes are identical), tied or duplicated
//! tensors, constant-filled stretches in non-float data. The chunk encoder runs the cheap
//! [`has_repeats`] test on one group and only then tries this coder on it, and on the other
//! groups if it paid there; a block keeps LZ only when it is smaller than the plain block.
//!
//! Payload: LEB128 `nseq`, LEB128 `nlit`, then four nested blocks (modes 0..=4 and 11 only): the
//! `nlit` literal bytes, then three LEB128 streams (literal lengths, match lengths − 4,
//! offsets − 1), each preceded by its byte length as LEB128; the three lengths add up to at
//! most the matched bytes. Sequence `i` copies its literals, then its match; the literals left
//! after the last sequence end the block.

use super::{block, varint, EntropyError};
use alloc::vec;
use alloc::vec::Vec;

/// Shortest match the format can express (match lengths are stored minus this).
pub const MIN_MATCH: usize = 4;
const HASH_BITS: u32 = 16;
/// Candidates tried per position: enough for the long copies this mode is for, and bounds
/// the encoder's time on low-entropy groups (exponents) where chains get long.
const MAX_CHAIN: usize = 8;
/// Chain candidates the text search may visit per byte of a block, on average. Text and
/// structure find long matches and skip over them; long low-entropy groups (int8 weights
/// around a few values) fill every chain with short matches, and searched 128 deep at every
/// position they compressed at 4 MB/s. Past the budget the search goes on at the fast
/// coder's depth and pace (with the text search's 4-byte hashes).
const TEXT_VISITS_PER_BYTE: usize = 16;
/// The budget above counts at most this many bytes of a block: a text block of tens of MB (the
/// segment table of a file of a million tiny tensors) had its chains and text outgrow the
/// caches, and searching it deep cost seconds.
const TEXT_DEEP_BYTES: usize = 4 << 20;

#[inline(always)]
fn read8(src: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&src[i..i + 8]);
    u64::from_le_bytes(b)
}

#[inline(always)]
fn hash(v: u64, bits: u32) -> usize {
    (v.wrapping_mul(0x9E37_79B1_85EB_CA87) >> (64 - bits)) as usize
}

/// What [`repeats`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeats {
    /// Nothing an LZ attempt would pay for.
    None,
    /// Runs of one byte value (zero low bytes of FP16-representable FP32 rows): worth LZ on
    /// this group, but they say nothing about the other groups.
    Runs,
    /// Copies of varied bytes (duplicated or mirrored tensors): the other groups of the same
    /// elements likely repeat too.
    Copies,
}

/// Cheap test for repeats worth an LZ attempt: 8-byte strings seen before, covering at least
/// 1/64 of `src`. Remembers the strings at positions `j` with `j % 64 < 8` and looks up every 8th
/// position: for any offset `d`, some looked-up `i` has `(i - d) % 64 < 8`, so a copy at any
/// offset is found within 64 bytes of its start, at two hashes per 8 bytes.
pub fn repeats(src: &[u8]) -> Repeats {
    sampled_repeats::<8>(src, 64, 12)
}

/// [`repeats`] with repeats covering at least `1/part` of `src`, for the first byte group of
/// float chunks. Up to `part` 64 the sampling is half as dense (every 16th position looked
/// up, 16 of every 128 remembered: a copy is found within 128 bytes of its start): the test
/// runs on every chunk, and its copies are whole tensors. Above 64 (`--best`: rarer copies)
/// the table grows to 64 Ki slots (512 KiB), so that the few samples of a small copy far from
/// its source are not overwritten before it (a 4 KiB copy 40 K elements on: 1 hit of 16 with
/// 4 Ki slots).
pub fn repeats_covering(src: &[u8], part: usize) -> Repeats {
    if part > 64 {
        sampled_repeats::<8>(src, part, 16)
    } else {
        sampled_repeats::<16>(src, part, 12)
    }
}

/// [`repeats_covering`] looking up every `S`-th position and remembering `S` of every `8 S`
/// in a table of `2^bits` slots.
fn sampled_repeats<const S: usize>(src: &[u8], part: usize, bits: u32) -> Repeats {
    let n = src.len();
    if n < 256 {
        return Repeats::None;
    }
    let want = n / part.max(1);
    // The table keeps the 8 bytes last seen at each slot rather than where they were: a
    // probe then reads no earlier input (a cache miss per probe in a large group). A slot
    // starts with a value that does not hash to it (0 hashes to slot 0 only), so only bytes
    // seen before can match.
    let mut table = vec![0u64; 1 << bits];
    table[0] = 1;
    let (mut runs, mut copies) = (0, 0);
    let mut i = 0;
    while i + S + 8 <= n {
        let v = read8(src, i);
        if table[hash(v, bits)] == v {
            // One probe in eight lands on the sampled positions of a copy: a hit stands for
            // about 8 S copied bytes.
            if v == (v & 0xFF) * 0x0101_0101_0101_0101 {
                runs += 8 * S;
            } else {
                copies += 8 * S;
                if copies >= want {
                    return Repeats::Copies;
                }
            }
        }
        if i % (8 * S) == 0 {
            // Remember this position and the next S - 1.
            for j in i..i + S {
                let w = read8(src, j);
                table[hash(w, bits)] = w;
            }
        }
        i += S;
    }
    if runs + copies >= want {
        Repeats::Runs
    } else {
        Repeats::None
    }
}

/// [`repeats_covering`] found copies (not only runs of one byte).
pub fn has_repeats_covering(src: &[u8], part: usize) -> bool {
    repeats_covering(src, part) == Repeats::Copies
}

/// [`repeats`] found something worth an LZ attempt.
pub fn has_repeats(src: &[u8]) -> bool {
    repeats(src) != Repeats::None
}

/// Length of the common prefix of `a` and `b`, eight bytes at a time.
fn common_len(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = read8(a, i) ^ read8(b, i);
        if x != 0 {
            return i + (x.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Encodes `src` as an LZ payload (after the mode byte and length, which the block writes);
/// `None` when no match pays for itself, so the caller keeps the plain block.
pub fn compress(src: &[u8], out: &mut Vec<u8>, tans: bool) -> Option<usize> {
    compress_with(src, out, tans, false, 8.0)
}

/// [`compress`] tuned for text-like bytes (a JSON header, pickle or protobuf structure, a
/// segment table): 4-byte matches whatever the byte statistics, 16x deeper chains and lazy
/// matching. Several times slower to encode, so only for byte chunks, which are a small part
/// of a model; decoding is the same.
pub fn compress_text(src: &[u8], out: &mut Vec<u8>, tans: bool) -> Option<usize> {
    #[cfg(test)]
    tests::LONGEST_TEXT.with(|l| l.set(l.get().max(src.len())));
    // Matches priced at 3 bits per byte of their numbers, not 8: where sequences repeat (the
    // zero high bytes of small int64 values: 2 literals, 6 bytes at offset 8, again and
    // again) their streams cost almost nothing once coded. Measured smaller than 8 on every
    // text-like sample tried (JSON header, segment table, pickles), and than 1 or 2.
    compress_with(src, out, tans, true, 3.0)
}

/// `number_bits`: what one byte of a sequence's LEB128 numbers is taken to cost.
fn compress_with(
    src: &[u8],
    out: &mut Vec<u8>,
    tans: bool,
    text: bool,
    number_bits: f64,
) -> Option<usize> {
    let n = src.len();
    if n < 16 || n > u32::MAX as usize - 1 {
        return None;
    }
    // What a literal will cost: the order-0 entropy (the literals' coder gets close to it).
    let counts = block::histogram(src);
    let lit_bits = block::entropy_bits(&counts, n) / n as f64;
    let hash_bits = HASH_BITS.min(usize::BITS - n.leading_zeros()).max(8);
    let mut head = vec![u32::MAX; 1 << hash_bits];
    let mut chain = vec![u32::MAX; n];
    let (mut lits, mut ll, mut ml, mut off) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut nseq = 0usize;
    let (mut i, mut anchor) = (0usize, 0usize);
    // Hash as many bytes as the shortest match that can pay: 4 for noise-like bytes, 8 for
    // skewed ones (exponents), where 4-byte strings recur everywhere and would make every
    // chain long with matches too short to use. Text has short matches worth taking.
    let span = if lit_bits < 6.0 && !text {
        8
    } else {
        MIN_MATCH
    };
    let max_chain = if text { 16 * MAX_CHAIN } else { MAX_CHAIN };
    let mask = if span == 8 { u64::MAX } else { 0xFFFF_FFFF };
    let hash_at = |i: usize| {
        let v = if i + 8 <= n {
            read8(src, i)
        } else {
            u32::from_le_bytes([src[i], src[i + 1], src[i + 2], src[i + 3]]) as u64
        };
        hash(v & mask, hash_bits)
    };
    // Longest earlier match for position `i` among the chain's first `depth` candidates; also
    // returns how many it visited.
    let find = |i: usize, depth: usize, head: &[u32], chain: &[u32]| {
        let (mut best_len, mut best_off) = (0, 0);
        let mut cand = head[hash_at(i)];
        let mut visited = 0;
        while visited < depth {
            if cand == u32::MAX {
                break;
            }
            visited += 1;
            let c = cand as usize;
            // Cheap reject: a longer match must also agree at the current best length.
            if i + best_len < n && src[c + best_len] == src[i + best_len] {
                let len = common_len(&src[c..], &src[i..]);
                if len > best_len {
                    (best_len, best_off) = (len, i - c);
                }
            }
            cand = chain[c];
        }
        (best_len, best_off, visited)
    };
    // What a match saves over its literals, in bits: its three numbers cost ~1 byte each plus
    // the offset's bytes.
    let gain = |len: usize, off: usize, lits: usize| {
        len as f64 * lit_bits
            - number_bits * (varint::len(lits) + varint::len(len) + varint::len(off)) as f64
            - 4.0
    };
    // The lazy step's search at `i + 1`, reused as the next position's (same tables).
    let mut ahead: Option<(usize, usize)> = None;
    // Searched positions thin out along a run of literals (1 in 2 after 128 bytes, ..., 1 in
    // 32 after 4 KiB), as LZ4's acceleration; every position still enters the chains, so a
    // copy is found within 32 bytes of its start. Groups that only look like repeats (noise
    // with a few copied tensors) were most of a compression's time, searched byte by byte.
    let mut next_search = 0;
    let (mut visits, budget) = (0usize, TEXT_VISITS_PER_BYTE * n.min(TEXT_DEEP_BYTES));
    while i + span <= n {
        let deep = text && visits < budget;
        let depth = if deep { max_chain } else { MAX_CHAIN };
        let searched = ahead.is_some() || deep || i >= next_search;
        let (best_len, best_off) = match ahead.take() {
            Some(found) => found,
            None if searched => {
                let (len, off, visited) = find(i, depth, &head, &chain);
                visits += visited;
                (len, off)
            }
            None => (0, 0),
        };
        let h = hash_at(i);
        chain[i] = head[h];
        head[h] = i as u32;
        if best_len >= MIN_MATCH && gain(best_len, best_off, i - anchor) > 0.0 {
            // Lazy matching: a better match one byte on is worth a literal.
            if deep && i + 1 + span <= n {
                let (len1, off1, visited) = find(i + 1, depth, &head, &chain);
                visits += visited;
                if len1 >= MIN_MATCH
                    && gain(len1, off1, i + 1 - anchor) - lit_bits
                        > gain(best_len, best_off, i - anchor)
                {
                    ahead = Some((len1, off1));
                    i += 1;
                    continue;
                }
            }
            lits.extend_from_slice(&src[anchor..i]);
            varint::put(i - anchor, &mut ll);
            varint::put(best_len - MIN_MATCH, &mut ml);
            varint::put(best_off - 1, &mut off);
            nseq += 1;
            // Remember the positions inside the match: later copies often start there.
            let end = i + best_len;
            let last = end.min((n + 1).saturating_sub(span));
            for (j, link) in chain.iter_mut().enumerate().take(last).skip(i + 1) {
                let h = hash_at(j);
                *link = head[h];
                head[h] = j as u32;
            }
            i = end;
            anchor = end;
        } else if best_len >= 32 {
            // A long match too cheap to code (a run the literal coder handles at a fraction of
            // a bit per byte): step over it, or every position in it would be matched again.
            i += best_len;
        } else {
            if searched {
                next_search = i + 1 + ((i - anchor) >> 7).min(31);
            }
            i += 1;
        }
    }
    // The format bounds the sequence streams by the bytes the matches produce (so a decoder
    // never allocates more than the block); a match that pays always fits.
    if nseq == 0 || ll.len() + ml.len() + off.len() > anchor - lits.len() {
        return None;
    }
    lits.extend_from_slice(&src[anchor..]);
    let start = out.len();
    varint::put(nseq, out);
    varint::put(lits.len(), out);
    block::encode(&lits, out, tans);
    for s in [&ll, &ml, &off] {
        varint::put(s.len(), out);
        block::encode(s, out, tans);
    }
    Some(out.len() - start)
}

/// Decodes an LZ payload into `dst` (its decoded length). The literals are decoded into the
/// tail of `dst` and moved forward as the sequences run, so no buffer of `dst`'s size is
/// needed: the write position never passes the next unread literal (checked per sequence).
pub fn decompress(src: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    let k = dst.len();
    let mut pos = 0;
    let nseq = varint::get(src, &mut pos)?;
    let nlit = varint::get(src, &mut pos)?;
    if nlit > k || nseq > (k - nlit) / MIN_MATCH {
        return Err(EntropyError::Corrupt("lz counts exceed the block"));
    }
    let lit_start = k - nlit;
    pos += block::decode_nested(&src[pos..], &mut dst[lit_start..])?;
    // The streams together are at most as long as the matched bytes (FORMAT.md §3.5): what
    // they allocate is bounded by the block.
    let mut budget = k - nlit;
    let mut streams: [Vec<u8>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for s in streams.iter_mut() {
        let len = varint::get(src, &mut pos)?;
        if len > budget {
            return Err(EntropyError::Corrupt("lz sequence streams too long"));
        }
        budget -= len;
        *s = vec![0u8; len];
        pos += block::decode_nested(src.get(pos..).ok_or(EntropyError::Truncated)?, s)?;
    }
    if pos != src.len() {
        return Err(EntropyError::Corrupt("lz block has trailing bytes"));
    }
    let [ll_s, ml_s, off_s] = &streams;
    let (mut pl, mut pm, mut po) = (0, 0, 0);
    let (mut w, mut r) = (0usize, lit_start);
    for _ in 0..nseq {
        let ll = varint::get(ll_s, &mut pl).map_err(stream_err)?;
        let ml = varint::get(ml_s, &mut pm)
            .map_err(stream_err)?
            .checked_add(MIN_MATCH)
            .ok_or(EntropyError::Corrupt("lz match length"))?;
        let off = varint::get(off_s, &mut po)
            .map_err(stream_err)?
            .checked_add(1)
            .ok_or(EntropyError::Corrupt("lz offset"))?;
        if ll > k - r {
            return Err(EntropyError::Corrupt("lz literal length past the literals"));
        }
        dst.copy_within(r..r + ll, w);
        (w, r) = (w + ll, r + ll);
        if ml > r - w {
            return Err(EntropyError::Corrupt("lz match past the end of the block"));
        }
        if off > w {
            return Err(EntropyError::Corrupt("lz offset before the start"));
        }
        if off >= ml {
            dst.copy_within(w - off..w - off + ml, w);
        } else {
            // Overlapping copy (a run with period `off`): grow the copied stretch by doubling.
            let mut done = 0;
            while done < ml {
                let step = (ml - done).min(off + done);
                dst.copy_within(w - off..w - off + step, w + done);
                done += step;
            }
        }
        w += ml;
    }
    if pl != ll_s.len() || pm != ml_s.len() || po != off_s.len() {
        return Err(EntropyError::Corrupt(
            "lz sequence streams have trailing bytes",
        ));
    }
    // The remaining literals are already where they belong exactly when the sizes add up.
    if w != r {
        return Err(EntropyError::Corrupt("lz sizes do not add up"));
    }
    Ok(())
}

fn stream_err(e: EntropyError) -> EntropyError {
    match e {
        EntropyError::Truncated => EntropyError::Corrupt("lz sequence stream ends early"),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::entropy::block::{decode, encode_lz, LZ};
    use crate::noise;

    /// Block round trip; returns the block's mode.
    fn roundtrip(src: &[u8]) -> u8 {
        let mut enc = Vec::new();
        encode_lz(src, &mut enc, false);
        let mut back = vec![0xAA; src.len()];
        assert_eq!(decode(&enc, &mut back), Ok(enc.len()));
        assert_eq!(back, src);
        // The LZ payload on its own decodes too, whichever mode the block chose.
        let mut payload = Vec::new();
        if compress(src, &mut payload, true).is_some() {
            let mut back = vec![0x55; src.len()];
            decompress(&payload, &mut back).unwrap();
            assert_eq!(back, src);
        }
        enc[0]
    }

    /// The repeat test's empty slots hold values that do not hash to them: eight zero bytes
    /// (which hash to slot 0) seen once, where they are looked up and not remembered, are
    /// no repeat (one hit would be: it stands for 128 bytes, the 4096 bytes' 1/64 is 64).
    #[test]
    fn repeat_test_starts_empty() {
        for bits in [12, 16] {
            assert_ne!(hash(1, bits), 0);
        }
        let mut src = noise(4096, 3);
        src[16..24].fill(0);
        assert_eq!(sampled_repeats::<16>(&src, 64, 12), Repeats::None);
        // Remembered at 128, then looked up at 144, they are.
        src[128..136].fill(0);
        src[144..152].fill(0);
        assert_eq!(sampled_repeats::<16>(&src, 64, 12), Repeats::Runs);
    }

    #[test]
    fn no_matches_in_noise() {
        let src = noise(100_000, 1);
        assert!(!has_repeats(&src));
        assert_eq!(compress(&src, &mut Vec::new(), false), None);
        assert_ne!(roundtrip(&src), LZ);
    }

    #[test]
    fn one_long_match() {
        let mut src = noise(50_000, 2);
        src.extend_from_within(..);
        assert_eq!(repeats(&src), Repeats::Copies);
        assert_eq!(roundtrip(&src), LZ);
        assert_eq!(repeats(&vec![0u8; 5000]), Repeats::Runs);
        let mut enc = Vec::new();
        encode_lz(&src, &mut enc, false);
        assert!(enc.len() < 50_000 + 100, "{}", enc.len());
    }

    #[test]
    fn overlapping_matches_and_runs() {
        // Period 3 and period 1 runs: matches overlap their own output.
        let mut src: Vec<u8> = noise(1000, 3);
        src.extend((0..5000).map(|i| [7u8, 99, 200][i % 3]));
        src.extend(noise(500, 4));
        src.extend(core::iter::repeat_n(42u8, 3000));
        src.extend((0..777).map(|i| (i * 31 % 251) as u8));
        assert_eq!(roundtrip(&src), LZ);
    }

    #[test]
    fn max_offsets() {
        // A copy of the block's first bytes at its very end: offset n - len.
        let n = 1 << 20;
        let mut src = noise(n, 5);
        let head = src[..4096].to_vec();
        src[n - 4096..].copy_from_slice(&head);
        assert_eq!(roundtrip(&src), LZ);
        let mut p = Vec::new();
        compress(&src, &mut p, false).unwrap();
        let mut back = vec![0; n];
        decompress(&p, &mut back).unwrap();
        assert_eq!(back, src);
    }

    #[test]
    fn text_search_finds_short_matches() {
        // A safetensors-like JSON header: names and keys repeat, numbers do not.
        let mut text = alloc::string::String::from("{");
        let mut at = 0;
        for i in 0..150 {
            let kind = ["query", "key", "value"][i % 3];
            let len = 768 * (1 + i % 4);
            text += &alloc::format!(
                "\"encoder.layer.{}.attention.self.{kind}.weight\":{{\"dtype\":\"F16\",\"shape\":[{}],\"data_offsets\":[{at},{}]}},",
                i / 3,
                len / 2,
                at + len
            );
            at += len;
        }
        // int64 positions 0..512: 2 literals and 6 zeros at offset 8 per element, sequences
        // that cost almost nothing once coded; the byte-priced parse finds no match worth it.
        let ids: Vec<u8> = (0..512u64).flat_map(|i| i.to_le_bytes()).collect();
        // (input, largest text/fast size ratio as num/den): measured 1571 against 1816 bytes
        // (8-byte hashing, greedy parsing) and 574 against 1137 (huff0).
        for (src, num, den) in [(text.as_bytes(), 9, 10), (&ids[..], 2, 3)] {
            let (mut fast, mut text_lz) = (Vec::new(), Vec::new());
            encode_lz(src, &mut fast, true);
            crate::entropy::block::encode_lz_text(src, &mut text_lz, true);
            assert_eq!(text_lz[0], LZ);
            assert!(
                text_lz.len() * den < fast.len() * num,
                "{} vs {}",
                text_lz.len(),
                fast.len()
            );
            let mut back = vec![0; src.len()];
            assert_eq!(decode(&text_lz, &mut back), Ok(text_lz.len()));
            assert_eq!(back, src);
        }
    }

    std::thread_local! {
        /// The longest input this thread's text search ran on, for tests of when it runs.
        pub(super) static LONGEST_TEXT: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    }

    #[test]
    fn text_search_on_long_blocks() {
        use crate::entropy::block::{encode, encode_lz_text};
        // 128 KiB of int64 counters: the fast coder's 8-byte hashes see no repeat, the deep
        // search on the first bytes does, so the whole block gets it.
        let ids: Vec<u8> = (0..16384u64).flat_map(|i| i.to_le_bytes()).collect();
        let (mut fast, mut text_lz) = (Vec::new(), Vec::new());
        encode_lz(&ids, &mut fast, true);
        LONGEST_TEXT.with(|l| l.set(0));
        encode_lz_text(&ids, &mut text_lz, true);
        assert_eq!(LONGEST_TEXT.with(|l| l.get()), ids.len());
        assert_eq!(text_lz[0], LZ);
        assert!(
            text_lz.len() * 3 < fast.len() * 2,
            "{} vs {}",
            text_lz.len(),
            fast.len()
        );
        let mut back = vec![0; ids.len()];
        assert_eq!(decode(&text_lz, &mut back), Ok(text_lz.len()));
        assert_eq!(back, ids);
        // 256 KiB of int8 weights around a few values: every 4-byte string recurs, no match
        // pays, and the block stays the plain one: the deep search runs on the 16 KiB probe
        // only (on the whole block it took 20x the fast coder's time for nothing).
        let mut rng = crate::entropy::testdata::XorShift(0x2545_F491_4F6C_DD1D);
        let q: Vec<u8> = (0..256 << 10)
            .map(|_| {
                let x = rng.next();
                117 + (x % 3) as u8 + (x >> 32) as u8 % 3
            })
            .collect();
        assert!(has_repeats(&q));
        let (mut plain, mut text_lz) = (Vec::new(), Vec::new());
        encode(&q, &mut plain, true);
        LONGEST_TEXT.with(|l| l.set(0));
        assert_eq!(encode_lz_text(&q, &mut text_lz, true), 0);
        assert_eq!(LONGEST_TEXT.with(|l| l.get()), 16 << 10);
        assert_eq!(text_lz, plain);
    }

    #[test]
    fn common_prefix() {
        let a = noise(100, 8);
        for cut in 0..100 {
            let mut b = a.clone();
            b[cut] ^= 1;
            assert_eq!(common_len(&a, &b), cut);
            assert_eq!(common_len(&a[cut..], &a[cut..]), 100 - cut);
        }
    }

    #[test]
    fn long_cheap_runs_are_fast_and_roundtrip() {
        // Zero runs broken by rare bytes (low mantissa bytes of FP16-representable FP32): no
        // match pays, and the match finder must not rescan each run at every position.
        let mut src = vec![0u8; 1 << 20];
        for i in (0..src.len()).step_by(4099) {
            src[i] = (i % 255) as u8 + 1;
        }
        roundtrip(&src);
    }

    #[test]
    fn tiny_blocks() {
        for n in 0..80 {
            let src: Vec<u8> = (0..n).map(|i| (i % 5) as u8).collect();
            roundtrip(&src);
            let src = noise(n, n as u64 + 9);
            roundtrip(&src);
        }
    }

    #[test]
    fn mirrored_rows_with_sign_flips_roundtrip() {
        // Copies in the low bytes only (what an STFT basis looks like per byte group).
        let mut src = noise(20_000, 6);
        for i in 10_000..20_000 {
            src[i] = src[i - 9_000] ^ if i % 2 == 0 { 0x80 } else { 0 };
        }
        roundtrip(&src);
    }

    /// A hand-made payload: literals and the three sequence streams as raw nested blocks.
    fn payload(nseq: usize, lits: &[u8], seqs: &[(usize, usize, usize)]) -> Vec<u8> {
        let mut out = Vec::new();
        varint::put(nseq, &mut out);
        varint::put(lits.len(), &mut out);
        out.push(block::RAW);
        out.extend_from_slice(lits);
        for f in 0..3 {
            let mut s = Vec::new();
            for q in seqs {
                varint::put([q.0, q.1, q.2][f], &mut s);
            }
            varint::put(s.len(), &mut out);
            out.push(block::RAW);
            out.extend_from_slice(&s);
        }
        out
    }

    #[test]
    fn hand_made_payload_decodes() {
        // "abcd" then a 6-byte match at offset 4 (overlapping), then "xy".
        let p = payload(1, b"abcdxy", &[(4, 2, 3)]);
        let mut dst = [0u8; 12];
        decompress(&p, &mut dst).unwrap();
        assert_eq!(&dst, b"abcdabcdabxy");
    }

    #[test]
    fn hostile_payloads_give_typed_errors() {
        let mut dst = [0u8; 12];
        let corrupt = |p: &[u8], dst: &mut [u8]| match decompress(p, dst) {
            Err(EntropyError::Corrupt(_)) | Err(EntropyError::Truncated) => {}
            other => panic!("{other:?}"),
        };
        // Offset before the start: 5 > 4 bytes written.
        corrupt(&payload(1, b"abcdxy", &[(4, 2, 4)]), &mut dst);
        // Match length past the end of the block.
        corrupt(&payload(1, b"abcdxy", &[(4, 3, 3)]), &mut dst);
        // Literal length past the literals.
        corrupt(&payload(1, b"abcdxy", &[(7, 0, 0)]), &mut dst);
        // Sizes that do not add up (block too short or too long for the sequences).
        corrupt(&payload(1, b"abcdxy", &[(4, 1, 3)]), &mut dst);
        corrupt(&payload(1, b"abcdxy", &[(4, 2, 3)]), &mut [0u8; 13]);
        // More sequences than the streams hold; more than the block could have.
        corrupt(&payload(2, b"abcdxy", &[(4, 2, 3)]), &mut dst);
        corrupt(&payload(4, b"abcdxy", &[(4, 2, 3)]), &mut dst);
        // More literals than the block.
        corrupt(&payload(0, &[0; 13], &[]), &mut dst);
        // Trailing bytes after the payload, and every truncation.
        let good = payload(1, b"abcdxy", &[(4, 2, 3)]);
        let mut long = good.clone();
        long.push(0);
        corrupt(&long, &mut dst);
        for cut in 0..good.len() {
            corrupt(&good[..cut], &mut dst);
        }
        // Huge varints.
        corrupt(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], &mut dst);
        // A nested LZ block is refused (no recursion).
        let mut nested = Vec::new();
        varint::put(0, &mut nested);
        varint::put(12, &mut nested);
        nested.extend_from_slice(&[LZ, 0, 0, 0, 0]);
        assert!(decompress(&nested, &mut dst).is_err());
        // As a whole block: mode 5 with a wrong payload length.
        let mut blk = vec![LZ];
        blk.extend_from_slice(&(good.len() as u32 + 1).to_le_bytes());
        blk.extend_from_slice(&good);
        assert_eq!(decode(&blk, &mut dst), Err(EntropyError::Truncated));
        blk[1..5].copy_from_slice(&(good.len() as u32).to_le_bytes());
        assert_eq!(decode(&blk, &mut dst), Ok(blk.len()));
    }
}
