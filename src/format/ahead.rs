//! A float chunk's merge memory brought into cache while its exponents decode.
//!
//! Decoding a float chunk has two phases: huff0 decodes the exponent group (compute: table
//! lookups in L1), then the merge reads the groups stored raw from the input and writes the
//! output (bound by memory). Prefetching those lines a few per huff0 round lets the two
//! overlap (bench/NOTES.md, session 14). Exponents coded otherwise (FSE, LZ, context modes,
//! stored) are decoded without it. Only on x86-64 (SSE's `prefetcht1`, a safe function
//! in `safe_arch`): wasm has no prefetch, and loads or stores in its place cost more than they
//! save.

use crate::entropy::Pace;

/// Bytes per cache line, so elements per line of a one-byte group.
#[cfg(target_arch = "x86_64")]
const LINE: usize = 64;

/// What a chunk decoder passes to huff0 while it decodes the exponents: `groups` are the
/// slices the merge will read (one byte per element; float64's beyond the first four are left
/// to the hardware prefetcher), `dst` where it will write
/// elements of `width` bytes. Elsewhere than on x86-64 this is `()`, the same code as no
/// pacing at all (a type of its own would duplicate huff0's loop in the wasm module).
pub fn merge_ahead<'a>(
    groups: impl IntoIterator<Item = &'a [u8]>,
    dst: &'a [u8],
    width: usize,
) -> impl Pace + 'a {
    #[cfg(target_arch = "x86_64")]
    return MergeAhead::new(groups, dst, width);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (groups, dst, width);
}

/// The lines of a chunk's raw groups and output, prefetched as the exponents decode.
#[cfg(target_arch = "x86_64")]
struct MergeAhead<'a> {
    groups: [&'a [u8]; 4],
    dst: &'a [u8],
    width: usize,
    /// The first element whose lines are not prefetched yet, and the end of them all.
    next: usize,
    end: usize,
}

#[cfg(target_arch = "x86_64")]
impl<'a> MergeAhead<'a> {
    fn new(groups: impl IntoIterator<Item = &'a [u8]>, dst: &'a [u8], width: usize) -> Self {
        let mut g: [&[u8]; 4] = [&[]; 4];
        for (slot, group) in g.iter_mut().zip(groups) {
            *slot = group;
        }
        let end = g
            .iter()
            .map(|g| g.len())
            .fold(dst.len() / width.max(1), usize::max);
        MergeAhead {
            groups: g,
            dst,
            width,
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
            for k in 0..self.width {
                if let Some(b) = self.dst.get(i * self.width + k * LINE) {
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

    /// Pacing past the end, with groups shorter or longer than the output says, and a
    /// zero width, stops at the end and leaves nothing behind.
    #[test]
    fn paces_to_the_end_of_any_shapes() {
        let (a, b, out) = (vec![1u8; 1000], vec![2u8; 10], vec![0u8; 4000]);
        for width in [0, 1, 2, 4] {
            let mut ahead = MergeAhead::new([&a[..], &b[..], &a[..], &b[..], &a[..]], &out, width);
            for symbols in [0, 5, 64, 999, 1000, 5000, usize::MAX - LINE] {
                ahead.decoded(symbols);
                assert!(ahead.next >= symbols.min(ahead.end) && ahead.next < ahead.end + LINE);
            }
        }
    }
}
