//! A float chunk's raw groups brought into cache while its exponents decode.
//!
//! Decoding a float chunk has two phases: huff0 decodes the exponent group (compute: table
//! lookups in L1), then the merge reads the groups stored raw from the input and writes the
//! output (bound by memory). Prefetching the raw groups' lines a few per huff0 round lets the
//! two overlap (bench/NOTES.md, sessions 14 and 61). The output is not prefetched: where it is
//! a new allocation its pages are not mapped yet, and on an AMD EPYC VM each `prefetcht1` to
//! such a page cost a page walk of its own (never cached, as the page is absent), which made a
//! decode into a fresh buffer 2.6 times slower; into mapped memory it was no faster there.
//! Exponents coded otherwise (FSE, LZ, context modes, stored) are decoded without it. Only on
//! x86-64 (SSE's `prefetcht1`, a safe function in `safe_arch`): wasm has no prefetch, and
//! loads in its place cost more than they save.

use crate::entropy::Pace;

/// Bytes per cache line, so elements per line of a one-byte group.
#[cfg(target_arch = "x86_64")]
const LINE: usize = 64;

/// What a chunk decoder passes to huff0 while it decodes the exponents: `groups` are the
/// slices the merge will read from the input (one byte per element; float64's beyond the
/// first four are left to the hardware prefetcher). Elsewhere than on x86-64 this is `()`,
/// the same code as no pacing at all (a type of its own would duplicate huff0's loop in the
/// wasm module).
pub fn merge_ahead<'a>(groups: impl IntoIterator<Item = &'a [u8]>) -> impl Pace + 'a {
    #[cfg(target_arch = "x86_64")]
    return MergeAhead::new(groups);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = groups;
}

/// The lines of a chunk's raw groups, prefetched as the exponents decode.
#[cfg(target_arch = "x86_64")]
struct MergeAhead<'a> {
    groups: [&'a [u8]; 4],
    /// The first element whose lines are not prefetched yet, and the end of them all.
    next: usize,
    end: usize,
}

#[cfg(target_arch = "x86_64")]
impl<'a> MergeAhead<'a> {
    fn new(groups: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut g: [&[u8]; 4] = [&[]; 4];
        for (slot, group) in g.iter_mut().zip(groups) {
            *slot = group;
        }
        let end = g.iter().map(|g| g.len()).max().unwrap_or(0);
        MergeAhead {
            groups: g,
            next: 0,
            end,
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Pace for MergeAhead<'_> {
    /// Prefetches the lines of the elements up to `symbols` (one exponent per element), so
    /// the prefetches are spread over the whole decode and done by its end.
    #[inline(always)]
    fn decoded(&mut self, symbols: usize) {
        while self.next < symbols.min(self.end) {
            let i = self.next;
            for group in &self.groups {
                if let Some(b) = group.get(i) {
                    safe_arch::prefetch_t1(b);
                }
            }
            self.next += LINE;
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use alloc::vec;

    /// Pacing past the end, over groups of unequal lengths (five, of which the fifth is not
    /// read; two; none), stops at the end of the longest of the first four.
    #[test]
    fn paces_to_the_end_of_any_shapes() {
        let (a, b, c) = (vec![1u8; 1000], vec![2u8; 10], vec![3u8; 4000]);
        for (groups, end) in [
            (vec![&a[..], &b[..], &a[..], &b[..], &c[..]], 1000),
            (vec![&b[..], &c[..]], 4000),
            (vec![], 0),
        ] {
            let mut ahead = MergeAhead::new(groups);
            assert_eq!(ahead.end, end);
            for symbols in [0, 5, 64, 999, 1000, 5000, usize::MAX - LINE] {
                ahead.decoded(symbols);
                assert!(ahead.next >= symbols.min(ahead.end) && ahead.next < ahead.end + LINE);
            }
        }
    }
}
