//! Mode 10 ([`GIVEN_NEIGHBOUR`](super::GIVEN_NEIGHBOUR)): [`GIVEN`](super::GIVEN) with the
//! signs coded given the previous sign and the exponents of the element and its predecessor.

use super::{
    choose_tables, decode_streams, encode_streams, Context, DecodeTables, Open, MAX_TABLES,
    MIN_INPUT,
};
use crate::entropy::EntropyError;
use alloc::vec;
use alloc::vec::Vec;

use super::given::{
    decode_given_parts, encode_given_parts, pack_bit, read_given_tables, write_map,
};

/// Whether element `i` starts a group of `p` (a kernel row) in mode [`GIVEN_NEIGHBOUR`](super::GIVEN_NEIGHBOUR); never
/// with `p` = 0.
#[inline(always)]
fn group_start(i: usize, p: usize, phase: usize) -> bool {
    p >= 2 && (i + phase).is_multiple_of(p)
}

/// The neighbour of element `i` in mode [`GIVEN_NEIGHBOUR`](super::GIVEN_NEIGHBOUR): `p` back for the first element
/// of a group (the tap above in the kernel), else 1 back.
#[inline(always)]
fn neighbour_back(i: usize, p: usize, phase: usize) -> usize {
    if group_start(i, p, phase) {
        p
    } else {
        1
    }
}

/// The table of sign `i` in mode [`GIVEN_NEIGHBOUR`](super::GIVEN_NEIGHBOUR), given the signs before it in `out`
/// (0/1 values) and its segment's start: the neighbour's sign (or none before the segment
/// start) in a row of tables of its own for group starts, and the bucket of the smaller
/// exponent of the element and its neighbour.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn neighbour_table(
    out: &[u8],
    companion: &[u8],
    map: &[u8; 256],
    i: usize,
    seg_start: usize,
    p: usize,
    phase: usize,
    b: usize,
) -> usize {
    let d = neighbour_back(i, p, phase);
    let m = if i >= d {
        companion[i].min(companion[i - d])
    } else {
        companion[i]
    };
    let s = if i >= seg_start + d {
        (out[i - d] & 1) as usize
    } else {
        0
    };
    let row = if d > 1 { 2 + s } else { s };
    row * b + map[m as usize] as usize
}

/// Encodes `src` as a [`GIVEN_NEIGHBOUR`](super::GIVEN_NEIGHBOUR) payload: its signs coded given the previous sign and
/// a bucket of the smaller exponent of the element and its predecessor (with a period `p`, the
/// first element of each group looks `p` back instead, with tables of its own), then
/// [`encode_given`](super::encode_given)'s payload without the sign plane. Returns its size or `None`.
pub fn encode_given_neighbour(src: &[u8], companion: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let n = src.len();
    if !(MIN_INPUT..=u32::MAX as usize).contains(&n) || companion.len() != n {
        return None;
    }
    let signs: Vec<u8> = src.iter().map(|&b| b >> 7).collect();
    let mut hist = [0usize; 256];
    for (i, &e) in companion.iter().enumerate() {
        hist[e.min(companion[i.saturating_sub(1)]) as usize] += 1;
    }
    let (mut acc, mut med) = (0, 0);
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if 2 * acc >= n {
            med = v as isize;
            break;
        }
    }
    let seg = n.div_ceil(4);
    let mut ctxs = vec![0u8; n];
    let fill = |ctxs: &mut [u8], map: &[u8; 256], p: usize, phase: usize, b: usize| {
        for (k, part) in ctxs.chunks_mut(seg).enumerate() {
            let start = k * seg;
            for (c, i) in part.iter_mut().zip(start..) {
                *c = neighbour_table(&signs, companion, map, i, start, p, phase, b) as u8;
            }
        }
    };
    // Counts of (neighbour's sign, smaller exponent, sign) per residue `i mod p`, with the
    // neighbour 1 back and `p` back: one pass per period serves every phase and map.
    let idx = |c: usize, s: usize, m: usize| ((c * 2 + s) * 256 + m) * 2;
    let counts = |p: usize, d: usize| {
        let mut t = vec![0u32; p * 2 * 256 * 2];
        for (i, &sign) in signs.iter().enumerate() {
            let m = if i >= d {
                companion[i].min(companion[i - d])
            } else {
                companion[i]
            };
            let s = if i >= (i / seg) * seg + d {
                signs[i - d]
            } else {
                0
            };
            t[idx(i % p, s as usize, m as usize) + sign as usize] += 1;
        }
        t
    };
    let top = companion.iter().copied().max().unwrap_or(0) as usize;
    let mut best: Option<(u64, [u8; 3], [u8; 256])> = None;
    // Buckets: exponents clipped to a span around the median (a kernel's large taps share
    // their sign more); with a period (kernel widths 2 and 3) 4, so that 4 x 4 tables fit.
    for (p, b) in [(0usize, 8usize), (2, 4), (3, 4)] {
        let classes = p.max(1);
        let back1 = counts(classes, 1);
        let back_p = if p >= 2 { counts(p, p) } else { Vec::new() };
        for phase in 0..classes {
            for off in [b as isize - 4, b as isize - 3, b as isize - 2] {
                let mut map = [0u8; 256];
                for (v, m) in map.iter_mut().enumerate() {
                    *m = (v as isize - med + off).clamp(0, b as isize - 1) as u8;
                }
                // The map's span must fit its u8 length: values above the largest exponent
                // present keep bucket 0, and value 0 too if 255 is present.
                map[top + 1..].fill(0);
                if map[255] != 0 {
                    map[0] = 0;
                }
                let tables = if p >= 2 { 4 * b } else { 2 * b };
                let mut h = vec![[0u32; 256]; tables];
                for c in 0..classes {
                    let first = p >= 2 && (c + phase) % p == 0;
                    let (t, row) = if first { (&back_p, 2) } else { (&back1, 0) };
                    for sv in 0..2 {
                        for (v, &bucket) in map.iter().enumerate() {
                            let at = idx(c, sv, v);
                            let hc = &mut h[(row + sv) * b + bucket as usize];
                            hc[0] += t[at];
                            hc[1] += t[at + 1];
                        }
                    }
                }
                let span = map.iter().filter(|&&m| m != 0).count() as u64;
                let bits = choose_tables(&h).map_or(u64::MAX, |x| x.1) + 4 * span;
                if best.as_ref().is_none_or(|x| bits < x.0) {
                    best = Some((bits, [p as u8, phase as u8, b as u8], map));
                }
            }
        }
    }
    let (_, head, map) = best?;
    let (p, phase, b) = (head[0] as usize, head[1] as usize, head[2] as usize);
    fill(&mut ctxs, &map, p, phase, b);
    let start = out.len();
    out.extend_from_slice(&[0; 4]); // sign payload length, patched below
    out.extend_from_slice(&head);
    write_map(&map, out);
    encode_streams(&signs, &ctxs, if p >= 2 { 4 * b } else { 2 * b }, out)?;
    let slen = u32::try_from(out.len() - start - 4).ok()?;
    out[start..start + 4].copy_from_slice(&slen.to_le_bytes());
    encode_given_parts(src, companion, false, out)?;
    Some(out.len() - start)
}

/// Sign context of mode [`GIVEN_NEIGHBOUR`](super::GIVEN_NEIGHBOUR).
struct Neighbour<'a> {
    companion: &'a [u8],
    map: [u8; 256],
    p: usize,
    phase: usize,
    b: usize,
}

impl Context for Neighbour<'_> {
    #[inline(always)]
    fn table(&mut self, _: usize, i: usize, out: &[u8], seg_start: usize) -> usize {
        neighbour_table(
            out,
            self.companion,
            &self.map,
            i,
            seg_start,
            self.p,
            self.phase,
            self.b,
        )
    }
}

/// Decodes a [`GIVEN_NEIGHBOUR`](super::GIVEN_NEIGHBOUR) payload into `dst`, given `companion` (same length).
pub fn decode_given_neighbour(
    src: &[u8],
    companion: &[u8],
    dst: &mut [u8],
) -> Result<(), EntropyError> {
    let n = dst.len();
    if companion.len() != n {
        return Err(EntropyError::Corrupt("companion group of another length"));
    }
    let len = src.first_chunk::<4>().ok_or(EntropyError::Truncated)?;
    let len = u32::from_le_bytes(*len) as usize;
    let coded = src[4..].get(..len).ok_or(EntropyError::Truncated)?;
    let [p, phase, b] = *coded.first_chunk::<3>().ok_or(EntropyError::Truncated)?;
    let (p, phase, b) = (p as usize, phase as usize, b as usize);
    if p == 1 || phase >= p.max(1) {
        return Err(EntropyError::Corrupt("sign period or phase out of range"));
    }
    let rows = if p >= 2 { 4 } else { 2 };
    if b == 0 || rows * b > MAX_TABLES {
        return Err(EntropyError::Corrupt("sign buckets out of range"));
    }
    let (map, tables, used) = read_given_tables(&coded[3..], n)?;
    if tables.count != rows * b || map.iter().any(|&m| m as usize >= b) {
        return Err(EntropyError::Corrupt("sign tables do not match buckets"));
    }
    let log = tables.log;
    let mut mb = [0u16; 256];
    for (d, &m) in mb.iter_mut().zip(&map) {
        *d = (m as u16) << log;
    }
    let rb = [0, b << log, (2 * b) << log, (3 * b) << log];
    let tail = n - 3 * n.div_ceil(4);
    let mut ctx = Neighbour {
        companion,
        map,
        p,
        phase,
        b,
    };
    let t = &tables;
    // Signs go through `dst` (fully overwritten below) as 0/1 values, as in mode 9. The hot
    // loop starts where every neighbour lies inside the segment.
    decode_streams(
        t,
        &mut ctx,
        &coded[3 + used..],
        dst,
        p.max(1),
        |_, o, s, j, dst| {
            let h = NeighbourHot {
                companion,
                rb,
                mb: &mb,
                p,
                phase,
            };
            // The periods the encoder writes as constants: `%` by a constant is a multiply.
            match p {
                2 => neighbour_hot::<2>(t, &h, o, s, j, tail, dst),
                3 => neighbour_hot::<3>(t, &h, o, s, j, tail, dst),
                _ => neighbour_hot::<0>(t, &h, o, s, j, tail, dst),
            }
        },
    )?;
    if dst.iter().any(|&s| s > 1) {
        return Err(EntropyError::Corrupt("sign wider than one bit"));
    }
    let plane: Vec<u8> = dst.chunks(8).map(|c| pack_bit(c, 0)).collect();
    decode_given_parts(&src[4 + len..], companion, Some(&plane), dst)
}

/// What the hot loop of [`GIVEN_NEIGHBOUR`](super::GIVEN_NEIGHBOUR) needs: table bases per row and per exponent.
struct NeighbourHot<'a> {
    companion: &'a [u8],
    rb: [usize; 4],
    mb: &'a [u16; 256],
    p: usize,
    phase: usize,
}

/// The hot loop of [`GIVEN_NEIGHBOUR`](super::GIVEN_NEIGHBOUR): positions whose neighbours all lie in the segment.
/// `P` is the period when it is a constant (2, 3), else 0 and `h.p` is used.
#[inline(always)]
fn neighbour_hot<const P: usize>(
    t: &DecodeTables,
    h: &NeighbourHot<'_>,
    o: &mut Open<'_>,
    s: &mut [usize; 4],
    j: usize,
    tail: usize,
    dst: &mut [u8],
) -> usize {
    let p = if P > 0 { P } else { h.p };
    let (companion, rb, mb, phase) = (h.companion, h.rb, h.mb, h.phase);
    hot_loop!(t, o, s, j, tail, dst, |k, i, prev| {
        let _ = k;
        if group_start(i, p, phase) {
            rb[2 + (dst[i - p] & 1) as usize]
                + mb[companion[i].min(companion[i - p]) as usize] as usize
        } else {
            rb[(prev & 1) as usize] + mb[companion[i].min(companion[i - 1]) as usize] as usize
        }
    })
}
