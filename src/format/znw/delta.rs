//! Deltas (FORMAT.md §2.1): a file coded as its XOR with an earlier one (the base), and where
//! each stretch of it finds its base bytes. Unless the header says otherwise a byte's base byte
//! is the one at the same offset; a tensor that moved (a longer JSON header, tensors added or
//! reordered) is XORed with its twin wherever that lies, and a piece whose XOR codes larger
//! than its bytes is coded as they are.

use super::header::{Header, Segment};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// A stretch of a delta's decoded bytes whose base bytes are not the ones at the same offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Realign {
    /// Decoded offset where the stretch starts (`offset` of a FORMAT.md §2.1 entry).
    pub offset: u64,
    /// Its length in bytes (`length` of the entry).
    pub length: u64,
    /// Where its base bytes start; `None`: the bytes are coded as they are, not XORed.
    pub base_offset: Option<u64>,
}

impl Realign {
    fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// The base of a delta being coded or decoded: its bytes and the header's realignments.
#[derive(Debug, Clone, Copy)]
pub struct Base<'a> {
    /// The whole base file; bytes past its end count as zeros.
    pub bytes: &'a [u8],
    /// Sorted by offset, not overlapping (as the header parser checks).
    pub realign: &'a [Realign],
}

impl Base<'_> {
    /// XORs `buf`, the decoded bytes from offset `at` on, with their base bytes.
    pub fn xor(&self, buf: &mut [u8], at: u64) {
        let end = at + buf.len() as u64;
        let mut pos = at;
        let first = self.realign.partition_point(|r| r.end() <= at);
        for r in self.realign[first..].iter().take_while(|r| r.offset < end) {
            if r.offset > pos {
                xor_at(
                    &mut buf[(pos - at) as usize..(r.offset - at) as usize],
                    self.bytes,
                    pos,
                );
                pos = r.offset;
            }
            let stop = r.end().min(end);
            if let Some(b) = r.base_offset {
                let part = &mut buf[(pos - at) as usize..(stop - at) as usize];
                xor_at(part, self.bytes, b + (pos - r.offset));
            }
            pos = stop;
        }
        xor_at(&mut buf[(pos - at) as usize..], self.bytes, pos);
    }
}

/// `buf ^= base[at..]`, where a shorter base counts as zeros past its end.
fn xor_at(buf: &mut [u8], base: &[u8], at: u64) {
    let b = usize::try_from(at)
        .ok()
        .and_then(|at| base.get(at..))
        .unwrap_or(&[]);
    for (x, &y) in buf.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// Smallest segment worth a realignment entry of its own (24 bytes in the header).
const MIN_REALIGN: u64 = 256;

/// Where `target`'s segments find their twins in `base`'s: the segment of the same name (the
/// k-th of that name, where names repeat: an ONNX model's branches) where it lies elsewhere,
/// for segments of at least `MIN_REALIGN` bytes. Everything else keeps the base bytes at its
/// own offset (a renamed tensor, a file that no longer parses: often still the same bytes);
/// the encoder codes a piece as it is wherever its XOR comes out larger. A twin of another
/// length still lends its first bytes (a tensor grown by a row).
pub fn realign_segments(target: &Header, base: &Header) -> Vec<Realign> {
    fn by_name(segments: &[Segment]) -> Vec<((&str, usize), &Segment)> {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        (segments.iter())
            .map(|s| {
                let k = seen.entry(s.name.as_str()).or_insert(0);
                *k += 1;
                ((s.name.as_str(), *k), s)
            })
            .collect()
    }
    let theirs: BTreeMap<_, _> = by_name(&base.segments).into_iter().collect();
    (by_name(&target.segments).into_iter())
        .filter(|(_, s)| s.length >= MIN_REALIGN)
        .filter_map(|(key, s)| {
            let b = theirs.get(&key).filter(|b| b.offset != s.offset)?;
            Some(Realign {
                offset: s.offset,
                length: s.length,
                base_offset: Some(b.offset),
            })
        })
        .collect()
}

/// The realignments a delta is written with: `planned` within each piece (`offset`, `length`),
/// except pieces coded as they are (`plain`), each one `None` stretch; stretches that continue
/// each other merged.
pub fn realign_pieces(planned: &[Realign], pieces: &[(u64, u64, bool)]) -> Vec<Realign> {
    let mut out: Vec<Realign> = Vec::new();
    let mut push = |r: Realign| {
        if let Some(last) = out.last_mut() {
            let continues = match (last.base_offset, r.base_offset) {
                (None, None) => true,
                (Some(a), Some(b)) => a + last.length == b,
                _ => false,
            };
            if continues && last.end() == r.offset {
                last.length += r.length;
                return;
            }
        }
        out.push(r);
    };
    for &(offset, length, plain) in pieces {
        let end = offset + length;
        if plain {
            push(Realign {
                offset,
                length,
                base_offset: None,
            });
            continue;
        }
        let first = planned.partition_point(|r| r.end() <= offset);
        for r in planned[first..].iter().take_while(|r| r.offset < end) {
            let (s, e) = (r.offset.max(offset), r.end().min(end));
            push(Realign {
                offset: s,
                length: e - s,
                base_offset: r.base_offset.map(|b| b + (s - r.offset)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn r(offset: u64, length: u64, base_offset: Option<u64>) -> Realign {
        Realign {
            offset,
            length,
            base_offset,
        }
    }

    #[test]
    fn xor_follows_the_realignments_from_any_window() {
        let base: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        let realign = [r(4, 8, Some(40)), r(20, 6, None), r(30, 10, Some(60))];
        let b = Base {
            bytes: &base,
            realign: &realign,
        };
        // The same bytes by hand: base byte of each offset, or none.
        let want = |i: u64| -> u8 {
            let at = match i {
                4..12 => Some(i - 4 + 40),
                20..26 => None,
                30..40 => Some(i - 30 + 60),
                _ => Some(i),
            };
            at.and_then(|a| base.get(a as usize).copied()).unwrap_or(0)
        };
        for start in 0..50u64 {
            for len in 0..(50 - start) {
                let mut buf = vec![0u8; len as usize];
                b.xor(&mut buf, start);
                let expect: Vec<u8> = (start..start + len).map(want).collect();
                assert_eq!(buf, expect, "window {start}+{len}");
            }
        }
    }

    fn header(segments: &[(&str, u64, u64)]) -> Header {
        let mut h = Header {
            total_size: Some(1 << 20),
            max_chunk: 1 << 18,
            container: crate::format::Container::Onnx,
            segments: Vec::new(),
            base: None,
            realign: Vec::new(),
        };
        for &(name, offset, length) in segments {
            h.segments.push(Segment {
                name: name.into(),
                dtype: crate::dtype::DType::F32,
                label: Default::default(),
                shape: Vec::new(),
                offset,
                length,
            });
        }
        h
    }

    #[test]
    fn twins_by_name_and_occurrence() {
        // Names repeat (an ONNX model's branches): the k-th "w" pairs with the k-th "w".
        let base = header(&[
            ("w", 0, 400),
            ("b", 400, 300),
            ("w", 700, 400),
            ("tiny", 1100, 8),
        ]);
        let target = header(&[
            ("w", 50, 400),
            ("b", 450, 300),   // moved
            ("w", 750, 400),   // the second "w": moved by 50 as well
            ("tiny", 1150, 8), // moved, but too small for an entry
            ("new", 1200, 999),
        ]);
        let got = realign_segments(&target, &base);
        assert_eq!(
            got,
            [
                r(50, 400, Some(0)),
                r(450, 300, Some(400)),
                r(750, 400, Some(700))
            ]
        );
        // Twins at their own offset need no entry.
        assert_eq!(realign_segments(&base, &base), []);
    }

    #[test]
    fn pieces_clip_and_merge() {
        let planned = [r(10, 20, Some(100)), r(40, 10, None)];
        let pieces = [
            (0, 15, false),
            (15, 10, false),
            (25, 10, true),
            (35, 20, false),
        ];
        assert_eq!(
            realign_pieces(&planned, &pieces),
            [r(10, 15, Some(100)), r(25, 10, None), r(40, 10, None)]
        );
        // Plain pieces next to a None stretch join it.
        let pieces = [(0, 40, false), (40, 10, false), (50, 5, true)];
        assert_eq!(
            realign_pieces(&planned, &pieces),
            [r(10, 20, Some(100)), r(40, 15, None)]
        );
    }
}
