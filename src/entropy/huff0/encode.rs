//! Encoding: optimal length-limited code lengths (Huffman's, or package-merge's where those are
//! too long), the tree description and four interleaved backward streams.

use super::weights::{canonical_codes, Weights};
use super::{fse, histogram, Jump, MAX_TABLE_LOG, MIN_INPUT};
use alloc::vec::Vec;

/// Optimal length-limited code lengths. `lens[s] == 0` for absent symbols. Returns `None`
/// with fewer than 2 symbols or more than `2^max_bits`.
///
/// Huffman's code first (two queues, a few hundred steps): it is optimal among all codes, so
/// where it keeps to the limit it is the answer. With a leaf first on ties it gave
/// package-merge's lengths on every histogram tried (checked, not proven:
/// `huffman_and_package_merge_agree` in the tests), so files do not change. Only
/// histograms whose Huffman code is too long pay for package-merge, which matters because the
/// chunk coder builds several codes a block to weigh its candidate modes (bench/NOTES.md,
/// sessions 64 and 65).
pub(super) fn limited_code_lengths(counts: &[u32; 256], max_bits: u32) -> Option<[u8; 256]> {
    // Count and symbol in one key (count << 8 | symbol): plain integers sort faster than
    // pairs, in the same order.
    let mut leaves = [0u64; 256];
    let mut n = 0;
    for (s, &c) in counts.iter().enumerate() {
        if c > 0 {
            leaves[n] = u64::from(c) << 8 | s as u64;
            n += 1;
        }
    }
    if n < 2 || n > 1 << max_bits || max_bits as usize > MAX_LEVELS {
        return None;
    }
    let leaves = &mut leaves[..n];
    leaves.sort_unstable();
    let mut weights = [0u64; 256];
    for (w, l) in weights.iter_mut().zip(leaves.iter()) {
        *w = l >> 8;
    }
    let mut sorted_lens = [0u8; 256];
    huffman_lengths(&weights[..n], &mut sorted_lens[..n]);
    if sorted_lens[..n].iter().any(|&l| u32::from(l) > max_bits) {
        sorted_lens = package_merge(&weights[..n], max_bits)?;
    }
    let mut lens = [0u8; 256];
    for (l, &key) in sorted_lens.iter().zip(leaves.iter()) {
        lens[key as u8 as usize] = *l;
    }
    Some(lens)
}

/// Huffman code lengths of `leaves` (weights ascending, 2 to 256 of them), in their order, by the
/// two-queue method: leaves and merged nodes are each made in ascending order, so the two
/// lightest are always at the queues' heads (a leaf first on a tie). The longest length is
/// not limited.
pub(super) fn huffman_lengths(leaves: &[u64], lens: &mut [u8]) {
    let n = leaves.len();
    // Node k (k < n - 1) is the k-th merge; `parent` of leaf i at `i`, of node k at `n + k`.
    let mut weight = [0u64; 256];
    let mut parent = [0u16; 512];
    let (mut leaf, mut node) = (0, 0);
    for k in 0..n - 1 {
        let mut w = 0;
        for _ in 0..2 {
            let take_leaf = leaf < n && (node == k || leaves[leaf] <= weight[node]);
            if take_leaf {
                w += leaves[leaf];
                parent[leaf] = k as u16;
                leaf += 1;
            } else {
                w += weight[node];
                parent[n + node] = k as u16;
                node += 1;
            }
        }
        weight[k] = w;
    }
    // Depths from the root (the last merge) down; a node's parent is made after it.
    let mut depth = [0u8; 256];
    for k in (0..n.saturating_sub(2)).rev() {
        depth[k] = depth[parent[n + k] as usize] + 1;
    }
    for (l, &p) in lens.iter_mut().zip(&parent[..n]) {
        *l = depth[p as usize] + 1;
    }
}

/// Optimal code lengths of at most `max_bits` (at most [`MAX_LEVELS`]) for `weights`
/// (ascending, each at least 1, 2 to `min(256, 2^max_bits)` of them), in their order, by
/// package-merge. `None` if the limit cannot be met.
///
/// On the stack, with a merge free of branches (with vectors per level and a branchy merge
/// this took 11 % of a float16 compress; bench/NOTES.md, session 64). Each level's list is
/// merged from both ends at once: the front takes the lightest item, the back the heaviest,
/// each half as many steps, so two independent chains of loads and compares overlap where one
/// waited on the other (session 66).
pub(super) fn package_merge(weights: &[u64], max_bits: u32) -> Option<[u8; 256]> {
    let n = weights.len();
    // A weight of 0 would tie with the back merge's sentinel.
    debug_assert!(weights.first().is_some_and(|&w| w >= 1));
    // Each level's list merges the leaves with packages (pairs) of the deeper level's list
    // (at most n + (2n - 1) / 2 < 512 items). Kept per level: the list's length and which
    // items are leaves, as bits: `front` for the first half (bit k: item k), `back` for the
    // rest (bit k: item len - 1 - k), each half at most 256 items.
    let mut front = [[0u64; 4]; MAX_LEVELS];
    let mut back = [[0u64; 4]; MAX_LEVELS];
    let mut len = [0usize; MAX_LEVELS];
    // Leaves and the packages of the deeper level from index 1, between a 0 the back merge
    // stops at (every weight is at least 1) and an "infinite" weight the front stops at, so
    // the merge needs no end tests.
    let mut leaf_w = [0u64; 258];
    let mut pkg_w = [0u64; 258];
    leaf_w[1..=n].copy_from_slice(weights);
    leaf_w[n + 1] = u64::MAX;
    let mut list = [0u64; 512];
    list[..n].copy_from_slice(weights);
    len[0] = n;
    for level in 1..max_bits as usize {
        let packages = len[level - 1] / 2;
        for (p, pair) in pkg_w[1..]
            .iter_mut()
            .zip(list[..2 * packages].chunks_exact(2))
        {
            *p = pair[0] + pair[1];
        }
        pkg_w[packages + 1] = u64::MAX;
        let total = n + packages;
        let half = total / 2;
        // Front: the lighter first, a leaf on a tie. Back: the heavier first, so a package on
        // a tie (it comes after the leaf in the front's order).
        let (mut i, mut j) = (1, 1);
        let (mut bi, mut bj) = (n, packages);
        for (c, (fw, bw)) in front[level].iter_mut().zip(&mut back[level]).enumerate() {
            let steps = half.saturating_sub(64 * c).min(64);
            let (mut fbits, mut bbits) = (0u64, 0u64);
            for k in 0..steps {
                let (a, b) = (leaf_w[i], pkg_w[j]);
                let leaf = a <= b;
                list[64 * c + k] = a.min(b);
                fbits |= (leaf as u64) << k;
                i += leaf as usize;
                j += !leaf as usize;
                let (a, b) = (leaf_w[bi], pkg_w[bj]);
                let leaf = a > b;
                list[total - 1 - 64 * c - k] = a.max(b);
                bbits |= (leaf as u64) << k;
                bi -= leaf as usize;
                bj -= !leaf as usize;
            }
            *fw = fbits;
            *bw = bbits;
        }
        if total % 2 == 1 {
            // The middle item, the back's last.
            let leaf = leaf_w[bi] > pkg_w[bj];
            list[half] = leaf_w[bi].max(pkg_w[bj]);
            back[level][half / 64] |= (leaf as u64) << (half % 64);
        }
        len[level] = total;
    }
    // Take the 2n-2 cheapest items of the top list; every time a leaf is taken (directly or
    // inside a package) its code gets one bit longer. The leaves among a list's first `m`
    // items are the `taken` cheapest.
    let ones = |bits: &[u64; 4], m: usize| -> usize {
        let whole: usize = bits[..m / 64].iter().map(|w| w.count_ones() as usize).sum();
        whole
            + match m % 64 {
                0 => 0,
                r => (bits[m / 64] & ((1u64 << r) - 1)).count_ones() as usize,
            }
    };
    let mut sorted_lens = [0u8; 256];
    let mut m = 2 * n - 2;
    for level in (0..max_bits as usize).rev() {
        let total = len[level];
        if m > total {
            return None;
        }
        let half = total / 2;
        let taken = if level == 0 {
            m
        } else if m <= half {
            ones(&front[level], m)
        } else {
            // Items half..m are the back's total-m..total-half.
            ones(&front[level], half) + ones(&back[level], total - half)
                - ones(&back[level], total - m)
        };
        for l in &mut sorted_lens[..taken] {
            *l += 1;
        }
        m = 2 * (m - taken);
    }
    Some(sorted_lens)
}

/// The most levels [`limited_code_lengths`] builds: huff0's longest code.
const MAX_LEVELS: usize = MAX_TABLE_LOG as usize;

/// A Huffman code ready to encode with, built from a histogram.
#[derive(Clone)]
pub struct EncodeTable {
    /// code << 8 | length, per symbol: one shift gives the code, one byte the length; [`ABSENT`]
    /// for a symbol without a code.
    codes: [u64; 256],
    /// The same codes as [`StreamWriter`] entries.
    entries: [u64; 256],
    weights: Weights,
}

impl EncodeTable {
    /// Builds the optimal code with lengths <= 11 for `counts`. `None` with fewer than 2 symbols.
    pub fn from_counts(counts: &[u32; 256]) -> Option<Self> {
        Self::from_counts_max_bits(counts, MAX_TABLE_LOG)
    }

    /// As [`from_counts`](Self::from_counts) with a smaller length limit (`1..=11`).
    pub fn from_counts_max_bits(counts: &[u32; 256], max_bits: u32) -> Option<Self> {
        if !(1..=MAX_TABLE_LOG).contains(&max_bits) {
            return None;
        }
        let mut lens = limited_code_lengths(counts, max_bits)?;
        let last = lens.iter().rposition(|&l| l > 0)?;
        // The description lists the weights of the symbols before the last: over 128 of them
        // all equal (every byte value at 8 bits; 192 at 8 bits and a frequent last one at 2)
        // fits neither form (FSE needs two values, the direct form holds 128). Trade a
        // little: the most frequent of them gets a bit less, the two rarest a bit more
        // (the same Kraft sum).
        let l = lens[0];
        if last > 128 && l >= 2 && u32::from(l) < max_bits && lens[..last].iter().all(|&x| x == l) {
            // (the last symbol too where it has that length: its weight is implied either way)
            let pool = if lens[last] == l { last + 1 } else { last };
            let mut order: Vec<usize> = (0..pool).collect();
            order.sort_by_key(|&s| (counts[s], s));
            lens[order[pool - 1]] = l - 1;
            lens[order[0]] = l + 1;
            lens[order[1]] = l + 1;
        }
        let table_log = *lens.iter().max()? as u32;
        let mut w = [0u8; 256];
        for (x, &l) in w.iter_mut().zip(lens.iter()) {
            if l > 0 {
                *x = (table_log + 1 - l as u32) as u8;
            }
        }
        let weights = Weights {
            w,
            symbols: last + 1,
            table_log,
        };
        let mut codes = [0u64; 256];
        for (c, &(code, len)) in codes.iter_mut().zip(canonical_codes(&weights).iter()) {
            *c = if len > 0 {
                (code as u64) << 8 | len as u64
            } else {
                ABSENT
            };
        }
        let entries = codes.map(|e| match e {
            ABSENT => ABSENT_ENTRY,
            e => (e >> 8) << (64 - (e & 0xff)) | e & 0xff,
        });
        Some(EncodeTable {
            codes,
            entries,
            weights,
        })
    }

    /// Longest code length.
    pub fn table_log(&self) -> u32 {
        self.weights.table_log
    }

    /// Payload bits for data with histogram `counts`; `None` if a counted symbol has no code.
    pub fn encoded_bits(&self, counts: &[u32; 256]) -> Option<u64> {
        let mut bits = 0u64;
        for (&c, &code) in counts.iter().zip(self.codes.iter()) {
            if c > 0 {
                if code == ABSENT {
                    return None;
                }
                bits += c as u64 * (code & 0xff);
            }
        }
        Some(bits)
    }

    /// Appends the tree description (the smaller of FSE-compressed and direct 4-bit weights)
    /// and returns its size. `None` (nothing written) if neither form can express it: more
    /// than 128 explicit weights that FSE cannot compress (e.g. 256 symbols, all one length).
    pub fn write_description(&self, out: &mut Vec<u8>) -> Option<usize> {
        let explicit = &self.weights.w[..self.weights.symbols - 1];
        let n = explicit.len();
        let direct_len = if n <= 128 {
            Some(1 + n.div_ceil(2))
        } else {
            None
        };
        let start = out.len();
        out.push(0);
        match fse::encode_huff_weights(explicit, out) {
            Some(len) if len < 128 && direct_len.is_none_or(|d| len + 1 < d) => {
                out[start] = len as u8;
                return Some(len + 1);
            }
            _ => out.truncate(start),
        }
        let d = direct_len?;
        out.push((127 + n) as u8);
        for pair in explicit.chunks(2) {
            out.push(pair[0] << 4 | pair.get(1).copied().unwrap_or(0));
        }
        Some(d)
    }

    /// Encodes one stream; returns `false` if `src` holds a symbol without a code.
    fn encode_stream(&self, src: &[u8], out: &mut Vec<u8>) -> bool {
        // Codes per flush: at most 60 bits may be pending (see [`StreamWriter`]), 7 of them
        // left from the last flush.
        if self.weights.table_log <= 10 {
            self.encode_stream_by::<5>(src, out)
        } else {
            self.encode_stream_by::<4>(src, out)
        }
    }

    fn encode_stream_by<const K: usize>(&self, src: &[u8], out: &mut Vec<u8>) -> bool {
        let mut w = StreamWriter::new(out);
        let e = &self.entries;
        // Back to front: the decoder reads the last-written bits first.
        let groups = src.chunks_exact(K);
        for &s in groups.remainder().iter().rev() {
            w.put(e, s);
        }
        w.flush();
        for g in groups.rev() {
            if let Ok(g) = <&[u8; K]>::try_from(g) {
                for &s in g.iter().rev() {
                    w.put(e, s);
                }
            }
            w.flush();
        }
        w.finish()
    }

    /// Appends one stream (no description). `None` (nothing written) if `src` holds a symbol
    /// without a code.
    pub fn encode_1x(&self, src: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        let start = out.len();
        if !self.encode_stream(src, out) {
            out.truncate(start);
            return None;
        }
        Some(out.len() - start)
    }

    /// Appends the jump table and four streams (no description). `None` (nothing written) if a
    /// symbol has no code, one of streams 1–3 exceeds 65535 bytes, or `src` is too short to
    /// split in four (1, 2 or 5 bytes).
    pub fn encode_4x(&self, src: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        self.encode_4x_jump(src, out, Jump::U16)
    }

    /// [`encode_4x`](Self::encode_4x) with the jump table's sizes `jump` wide.
    fn encode_4x_jump(&self, src: &[u8], out: &mut Vec<u8>, jump: Jump) -> Option<usize> {
        let seg = src.len().div_ceil(4);
        if 3 * seg > src.len() {
            return None;
        }
        let w = jump.width();
        let start = out.len();
        out.resize(start + 3 * w, 0);
        let mut ok = true;
        for k in 0..4 {
            let part = src
                .get(k * seg..((k + 1) * seg).min(src.len()))
                .unwrap_or(&[]);
            let before = out.len();
            ok &= self.encode_stream(part, out);
            if k < 3 {
                let size = (out.len() - before) as u64;
                if size >> (8 * w) == 0 {
                    out[start + w * k..start + w * (k + 1)]
                        .copy_from_slice(&size.to_le_bytes()[..w]);
                } else {
                    ok = false;
                }
            }
            if !ok {
                out.truncate(start);
                return None;
            }
        }
        Some(out.len() - start)
    }
}

/// The code table entry of a symbol without a code, for [`EncodeTable::encoded_bits`] (the
/// writer gets [`ABSENT_ENTRY`] instead, which `finish` finds through [`ABSENT_COUNT`]).
const ABSENT: u64 = 64;

/// The [`StreamWriter`] entry of an absent symbol: no bits, and a count that a flush sees.
const ABSENT_ENTRY: u64 = 1 << 8;

/// The bits of [`StreamWriter::bits`] that count absent symbols (below them the pending bit
/// count, above them the sum of the codes, which is not used).
const ABSENT_COUNT: u64 = ((1 << 53) - 1) & !0xff;

/// A forward LSB-first bit writer for one Huffman stream, appending to a `Vec`, in zstd's
/// form: an entry holds the code in its top `len` bits and `len` in its low byte, and a code
/// is added at the top of the accumulator (`acc >> len | entry`: a load, a shift, an or and
/// an add per code). The pending bits are the top ones of `acc`, the oldest lowest; the
/// entries' low bytes leave garbage in the bits below, which is shifted out or never stored,
/// as long as at most 60 bits are pending (a length byte has 4 bits). One 8-byte store per
/// flush. Writes the same bits as [`BitWriter`](crate::entropy::bit_io::BitWriter).
struct StreamWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    pos: usize,
    acc: u64,
    /// The sum of the entries added since the last flush: the pending bit count in the low
    /// byte, the absent symbols in [`ABSENT_COUNT`].
    bits: u64,
    /// `bits` of every flush or-ed together: [`finish`](Self::finish) looks for absent symbols.
    seen: u64,
}

impl<'a> StreamWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        let pos = out.len();
        StreamWriter {
            out,
            start: pos,
            pos,
            acc: 0,
            bits: 0,
            seen: 0,
        }
    }

    /// Adds one code (callers keep at most 60 bits pending between flushes).
    #[inline(always)]
    fn put(&mut self, entries: &[u64; 256], s: u8) {
        self.push(entries[s as usize]);
    }

    #[inline(always)]
    fn push(&mut self, e: u64) {
        self.acc = self.acc >> (e & 63) | e;
        self.bits = self.bits.wrapping_add(e);
    }

    /// Stores the pending bits (zeros above them) and moves past their complete bytes.
    #[inline(always)]
    fn flush(&mut self) {
        let k = (self.bits & 0xff) as u32;
        // With nothing pending this stores garbage that the next store overwrites.
        let word = (self.acc >> ((64 - k) & 63)).to_le_bytes();
        match self.out.get_mut(self.pos..self.pos + 8) {
            Some(w) => w.copy_from_slice(&word),
            None => grow_and_store(self.out, self.pos, self.start, word),
        }
        self.seen |= self.bits;
        self.pos += (k >> 3) as usize;
        self.bits = (k & 7) as u64;
    }

    /// The end marker (a `1` bit) and zeros to the byte boundary; trims the vector to the
    /// stream's end. `false` (and the stream's bytes removed) if a symbol had no code.
    fn finish(mut self) -> bool {
        self.push(1 << 63 | 1);
        self.flush();
        // The last flush stored the pending bits' byte too, zeros above them.
        if self.bits > 0 {
            self.pos += 1;
        }
        let absent = self.seen & ABSENT_COUNT != 0;
        self.out
            .truncate(if absent { self.start } else { self.pos });
        !absent
    }
}

/// Zero-fills `out` ahead of `pos` in steps of half the stream so far (filled once, amortised),
/// then stores `word` at `pos`. A free function: a `&mut self` call would keep the writer's
/// fields out of registers.
#[cold]
fn grow_and_store(out: &mut Vec<u8>, pos: usize, start: usize, word: [u8; 8]) {
    let written = pos - start;
    out.resize(pos + 8 + (written / 2).max(1024), 0);
    out[pos..pos + 8].copy_from_slice(&word);
}

/// A Huffman code for one histogram with its tree description written: built once where a
/// caller both estimates a block's size and encodes it (the chunk coder weighs candidate
/// codings of a group by estimate before encoding one; building a code and its description
/// twice took several per cent of a float16 compress, bench/NOTES.md, session 65).
pub struct Code {
    table: EncodeTable,
    description: Vec<u8>,
}

impl Code {
    /// `None` with fewer than 2 symbols or where no description can express the code.
    pub fn new(counts: &[u32; 256]) -> Option<Self> {
        let table = EncodeTable::from_counts(counts)?;
        let mut description = Vec::new();
        table.write_description(&mut description)?;
        Some(Code { table, description })
    }

    /// Estimated size in bits of [`compress_4x`]'s output for data with histogram `counts`,
    /// the histogram this code was built for (description + jump table + payload, stream
    /// padding not counted).
    pub fn estimate_bits(&self, counts: &[u32; 256]) -> Option<u64> {
        Some(self.table.encoded_bits(counts)? + 8 * (self.description.len() as u64 + 6))
    }

    /// [`compress_4x_below`] with this code, built for `counts`, and the jump table's sizes
    /// `jump` wide ([`Jump::U32`]: as [`compress_4x_wide_below`]).
    pub fn compress_4x_below(
        &self,
        src: &[u8],
        counts: &[u32; 256],
        jump: Jump,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Option<usize> {
        self.compress(src, counts, out, Some(jump), limit)
    }

    /// `four`: `Some(jump)` for four streams, `None` for one.
    fn compress(
        &self,
        src: &[u8],
        counts: &[u32; 256],
        out: &mut Vec<u8>,
        four: Option<Jump>,
        limit: usize,
    ) -> Option<usize> {
        if src.len() < MIN_INPUT {
            return None;
        }
        let table = &self.table;
        // A block that cannot come out smaller than its input (near-random bytes such as
        // mantissas, entropy just under 8 bits) is refused from its code lengths, without
        // encoding it.
        let jump = four.map_or(0, |j| 3 * j.width() as u64);
        let desc = self.description.len() as u64;
        if desc + jump + table.encoded_bits(counts)? / 8 >= limit as u64 {
            return None;
        }
        let start = out.len();
        out.extend_from_slice(&self.description);
        let body = match four {
            Some(j) => table.encode_4x_jump(src, out, j),
            None => table.encode_1x(src, out),
        };
        if body.is_none() {
            out.truncate(start);
            return None;
        }
        Some(out.len() - start)
    }
}

/// [`Code::compress`] (which refuses inputs under [`MIN_INPUT`]) with a code built for
/// `counts`.
fn compress_with(
    src: &[u8],
    counts: &[u32; 256],
    out: &mut Vec<u8>,
    four: Option<Jump>,
    limit: usize,
) -> Option<usize> {
    Code::new(counts)?.compress(src, counts, out, four, limit)
}

/// Appends a tree description, jump table and four streams for `src` (the format of zstd's
/// `HUF_compress4X`, readable by `HUF_decompress`). Returns the bytes written, or `None`
/// (nothing written) if `src` is shorter than [`MIN_INPUT`], has fewer than 2 distinct bytes,
/// cannot be described, or a stream would not fit the u16 jump table. The result may be larger
/// than `src`: callers choose raw / RLE themselves.
pub fn compress_4x(src: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    compress_with(src, &histogram(src), out, Some(Jump::U16), usize::MAX)
}

/// [`compress_4x`] for a caller that already has `src`'s histogram (`counts` must be exactly
/// that: a symbol counted as absent gets no code, and the block is then refused). Saves the
/// second pass over the data that counting costs.
pub fn compress_4x_with_counts(
    src: &[u8],
    counts: &[u32; 256],
    out: &mut Vec<u8>,
) -> Option<usize> {
    compress_with(src, counts, out, Some(Jump::U16), usize::MAX)
}

/// [`compress_4x_with_counts`] that also returns `None` (nothing written) when the result
/// could not be smaller than `src`, known from the code lengths before encoding: callers that
/// would store such a block raw save the encoding work.
pub fn compress_4x_if_smaller(src: &[u8], counts: &[u32; 256], out: &mut Vec<u8>) -> Option<usize> {
    compress_with(src, counts, out, Some(Jump::U16), src.len())
}

/// [`compress_4x_if_smaller`] against a bound of the caller's: `None` (nothing written)
/// unless the result could be shorter than `limit` bytes.
pub fn compress_4x_below(
    src: &[u8],
    counts: &[u32; 256],
    limit: usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    compress_with(src, counts, out, Some(Jump::U16), limit)
}

/// [`compress_4x_below`] with a jump table of three u32 sizes: for blocks whose streams do
/// not fit zstd's u16 sizes (block mode 11, read by
/// [`decompress_4x_wide`](super::decompress_4x_wide)).
pub fn compress_4x_wide_below(
    src: &[u8],
    counts: &[u32; 256],
    limit: usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    compress_with(src, counts, out, Some(Jump::U32), limit)
}

/// As [`compress_4x`] with one stream (no jump table, no stream-size limit).
pub fn compress_1x(src: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    compress_with(src, &histogram(src), out, None, usize::MAX)
}

/// Estimated size in bits of [`compress_4x`]'s output for data with histogram `counts`
/// (description + jump table + payload, stream padding not counted). `None` where
/// `compress_4x` would fail for lack of symbols or description.
pub fn estimate_bits(counts: &[u32; 256]) -> Option<u64> {
    Code::new(counts)?.estimate_bits(counts)
}
