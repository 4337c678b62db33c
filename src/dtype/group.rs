//! Split elements into byte groups and merge them back.
//!
//! Layout of a split: group `g` holds byte `g` of every element, after the sign move for
//! bf16/fp16/fp32 (fp64: the exponent's low byte moved out, [`exp_split`]), so for those the
//! *last* group is the exponent. Group `g` of an `n`-element
//! input is `out[g*n .. (g+1)*n]`: one contiguous scratch buffer, no per-group allocation.
//! A ggml block's groups are its weight bytes (a Q8_0's 32: `out[..32n]`), then each of its
//! float16 numbers' two sign-moved bytes ([`DType::group_range`]).
//!
//! The merge runs once per decoded byte and must stay far below the entropy decoder's cost, so
//! every loop is a plain zip over `chunks_exact` with whole-word arithmetic: LLVM vectorises
//! exactly this shape (SSE2 natively, simd128 in wasm; bench/NOTES.md has the generated code).
//! Writing the two bytes of the sign move separately, or in fixed-size blocks, did not vectorise
//! as well. The fp32 and 16-bit merges and the fp32 split do better still written with 128-bit
//! vectors where the target has them (`simd` below); these loops finish their tails.

use super::DType;

/// The sign move of one 16-bit float, on the little-endian word `v` → (sign+mantissa, exponent):
/// the sign (bit 15) goes next to the 7 mantissa bits, the 8 exponent bits become one byte.
#[inline(always)]
fn sign_move(v: u16) -> (u8, u8) {
    ((v & 0x7F) as u8 | (v >> 8) as u8 & 0x80, (v >> 7) as u8)
}

/// Inverse of [`sign_move`]: `e << 7` puts exponent bit 0 at bit 7 and the other seven at
/// 8..15; the mantissa keeps bits 0..7 and the sign goes back to bit 15.
#[inline(always)]
fn sign_unmove(m: u8, e: u8) -> u16 {
    (e as u16) << 7 | (m as u16 & 0x7F) | (m as u16 & 0x80) << 8
}

/// float64's top 16 bits `v` (sign, 11 exponent bits, 4 mantissa bits) → (sign + top 3
/// exponent bits + top 4 mantissa bits, low 8 exponent bits): the exponent bits that vary in
/// trained weights become one byte, the ones that hardly vary stay with the sign.
#[inline(always)]
fn exp_split(v: u16) -> (u8, u8) {
    ((v >> 8) as u8 & 0xF0 | v as u8 & 0x0F, (v >> 4) as u8)
}

/// Inverse of [`exp_split`].
#[inline(always)]
fn exp_join(o: u8, e: u8) -> u16 {
    (o as u16 & 0xF0) << 8 | (e as u16) << 4 | (o as u16 & 0x0F)
}

/// Makes `out` exactly `len` bytes long without re-zeroing what it already holds (callers
/// overwrite every byte; only growth is zero-filled, once).
fn set_len(out: &mut alloc::vec::Vec<u8>, len: usize) {
    if out.len() < len {
        out.resize(len, 0);
    }
    out.truncate(len);
}

/// Splits `src` (whose length must be a multiple of `dtype.size()`) into `dtype.groups()` groups,
/// written contiguously to `out` (resized to `src.len()`).
pub fn split(dtype: DType, src: &[u8], out: &mut alloc::vec::Vec<u8>) {
    let w = dtype.size();
    // Checked in release builds too (once per chunk): a broken rule would give wrong bytes.
    assert_eq!(src.len() % w, 0, "split: not a whole number of elements");
    let n = src.len() / w;
    set_len(out, src.len());
    match dtype {
        DType::Bytes | DType::F8E4M3 | DType::F8E5M2 => out.copy_from_slice(src),
        // fp16 gets the same sign move: exponent + top 3 mantissa bits in one byte measured
        // smaller than the plain high byte (tests/dtype_grouping.rs).
        DType::BF16 | DType::F16 => {
            let (g0, g1) = out.split_at_mut(n);
            for ((x, a), b) in src.chunks_exact(2).zip(g0).zip(g1) {
                (*a, *b) = sign_move(u16::from_le_bytes([x[0], x[1]]));
            }
        }
        DType::F32 => {
            let (g0, rest) = out.split_at_mut(n);
            let (g1, rest) = rest.split_at_mut(n);
            let (g2, g3) = rest.split_at_mut(n);
            split_32(src, g0, g1, g2, g3);
        }
        // Rare in model files: one plain pass per group.
        DType::F64 => {
            let (low, top) = out.split_at_mut(6 * n);
            for (g, group) in low.chunks_exact_mut(n.max(1)).enumerate() {
                for (o, x) in group.iter_mut().zip(src.chunks_exact(8)) {
                    *o = x[g];
                }
            }
            let (o, e) = top.split_at_mut(n);
            for ((x, o), e) in src.chunks_exact(8).zip(o).zip(e) {
                (*o, *e) = exp_split(u16::from_le_bytes([x[6], x[7]]));
            }
        }
        // ggml's block types (`dtype.block()` is `Some`), each field a group.
        _ => split_blocks(dtype, src, out, n),
    }
}

/// ggml blocks into their groups ([`super::Block`]): each byte field's, then each float16's two.
/// Nothing for a type that is not a block type.
fn split_blocks(dtype: DType, src: &[u8], out: &mut [u8], n: usize) {
    let Some(b) = dtype.block() else { return };
    let (mut rest, halves) = out.split_at_mut(n * (b.size - 2 * b.halves.len()));
    for &(start, width) in b.fields {
        let (group, tail) = rest.split_at_mut(n * width);
        for (x, v) in src.chunks_exact(b.size).zip(group.chunks_exact_mut(width)) {
            v.copy_from_slice(&x[start..start + width]);
        }
        rest = tail;
    }
    for (&at, two) in b.halves.iter().zip(halves.chunks_exact_mut(2 * n.max(1))) {
        let (m, e) = two.split_at_mut(n);
        for ((x, m), e) in src.chunks_exact(b.size).zip(m).zip(e) {
            (*m, *e) = sign_move(u16::from_le_bytes([x[at], x[at + 1]]));
        }
    }
}

/// Float32 elements into their four groups, 64 at a time through two stack buffers of 16-bit
/// halves (the inverse of [`merge_32`]'s shape): each pass is one LLVM vectorises, where one
/// loop writing four groups was not (2.6 instructions per byte, now about 1).
fn split_32(src: &[u8], a: &mut [u8], b: &mut [u8], m: &mut [u8], e: &mut [u8]) {
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse2")
    ))]
    let (src, a, b, m, e) = {
        let n = simd::split_32(src, a, b, m, e);
        (
            &src[4 * n..],
            &mut a[n..],
            &mut b[n..],
            &mut m[n..],
            &mut e[n..],
        )
    };
    const S: usize = 64;
    let mut x = src.chunks_exact(4 * S);
    let (mut a, mut b, mut m, mut e) = (
        a.chunks_exact_mut(S),
        b.chunks_exact_mut(S),
        m.chunks_exact_mut(S),
        e.chunks_exact_mut(S),
    );
    for x in &mut x {
        let (Some(a), Some(b), Some(m), Some(e)) = (a.next(), b.next(), m.next(), e.next()) else {
            break;
        };
        let mut low = [0u16; S];
        let mut high = [0u16; S];
        for ((l, h), x) in low.iter_mut().zip(high.iter_mut()).zip(x.chunks_exact(4)) {
            let v = u32::from_le_bytes([x[0], x[1], x[2], x[3]]);
            (*l, *h) = (v as u16, (v >> 16) as u16);
        }
        for ((a, b), &l) in a.iter_mut().zip(b.iter_mut()).zip(&low) {
            (*a, *b) = (l as u8, (l >> 8) as u8);
        }
        for ((m, e), &h) in m.iter_mut().zip(e.iter_mut()).zip(&high) {
            (*m, *e) = sign_move(h);
        }
    }
    let it = x.remainder().chunks_exact(4);
    let it = it
        .zip(a.into_remainder())
        .zip(b.into_remainder())
        .zip(m.into_remainder())
        .zip(e.into_remainder());
    for ((((x, a), b), m), e) in it {
        *a = x[0];
        *b = x[1];
        (*m, *e) = sign_move(u16::from_le_bytes([x[2], x[3]]));
    }
}

/// Merges groups back into elements. `groups.len()` must be `dtype.groups()`, every group
/// `dst.len() / dtype.size()` long.
pub fn merge(dtype: DType, groups: &[&[u8]], dst: &mut [u8]) {
    let (w, n) = (dtype.size(), dst.len() / dtype.size());
    assert!(
        groups.len() == dtype.groups()
            && dst.len().is_multiple_of(w)
            && (groups.iter().enumerate()).all(|(i, g)| g.len() == dtype.group_width(i) * n),
        "merge: groups do not match the destination"
    );
    match dtype {
        DType::Bytes | DType::F8E4M3 | DType::F8E5M2 => dst.copy_from_slice(groups[0]),
        DType::BF16 | DType::F16 => merge_16(groups[0], groups[1], dst),
        DType::F32 => merge_32(groups[0], groups[1], groups[2], groups[3], dst),
        DType::F64 => merge_64(groups, dst),
        _ => merge_blocks(dtype, groups, dst),
    }
}

/// ggml blocks from their groups (the inverse of [`split_blocks`]), one field at a time over
/// the chunk: a loop per field with its width fixed, where one loop over whole blocks would
/// switch between fields of different widths within each block. Nothing for a type that is
/// not a block type.
fn merge_blocks(dtype: DType, groups: &[&[u8]], dst: &mut [u8]) {
    let Some(b) = dtype.block() else { return };
    for (&(start, width), g) in b.fields.iter().zip(groups) {
        for (x, v) in dst.chunks_exact_mut(b.size).zip(g.chunks_exact(width)) {
            x[start..start + width].copy_from_slice(v);
        }
    }
    let halves = groups[b.fields.len()..].chunks_exact(2);
    for (&at, me) in b.halves.iter().zip(halves) {
        for ((x, &m), &e) in dst.chunks_exact_mut(b.size).zip(me[0]).zip(me[1]) {
            x[at..at + 2].copy_from_slice(&sign_unmove(m, e).to_le_bytes());
        }
    }
}

/// Eight groups (bytes 0 to 5, [`exp_split`]'s two bytes) → 64-bit elements, in blocks of 64
/// through two stack buffers of 32-bit halves (the shape of [`merge_32`]'s portable loop,
/// which LLVM vectorises; one loop over whole elements ran at a third of the speed).
fn merge_64(groups: &[&[u8]], dst: &mut [u8]) {
    let [a, b, c, d, e, f, o, x] = groups else {
        return;
    };
    const S: usize = 64;
    let n = dst.len() / 8;
    let block = |i: usize, len: usize, y: &mut [u8]| {
        let r = i..i + len;
        let (a, b, c, d) = (&a[r.clone()], &b[r.clone()], &c[r.clone()], &d[r.clone()]);
        let (e, f, o, x) = (&e[r.clone()], &f[r.clone()], &o[r.clone()], &x[r]);
        let mut low = [0u32; S];
        let mut high = [0u32; S];
        for ((((l, &a), &b), &c), &d) in low.iter_mut().zip(a).zip(b).zip(c).zip(d) {
            *l = u32::from_le_bytes([a, b, c, d]);
        }
        for ((((h, &e), &f), &o), &x) in high.iter_mut().zip(e).zip(f).zip(o).zip(x) {
            *h = e as u32 | (f as u32) << 8 | (exp_join(o, x) as u32) << 16;
        }
        for ((y, &l), &h) in y.chunks_exact_mut(8).zip(&low).zip(&high) {
            y.copy_from_slice(&(l as u64 | (h as u64) << 32).to_le_bytes());
        }
    };
    if groups.iter().any(|g| g.len() < n) {
        return;
    }
    for (k, y) in dst.chunks_mut(8 * S).enumerate() {
        block(k * S, y.len() / 8, y);
    }
}

/// Splits `w`-byte elements into `w` groups of their plain bytes (group `g` = byte `g`),
/// without the sign move: chunks whose copies differ only in sign keep those copies intact
/// in every group (FORMAT.md §3.1, chunk flag bit 0).
pub fn split_plain(w: usize, src: &[u8], out: &mut alloc::vec::Vec<u8>) {
    assert_eq!(
        src.len() % w,
        0,
        "split_plain: not a whole number of elements"
    );
    let n = src.len() / w;
    set_len(out, src.len());
    for (g, group) in out.chunks_exact_mut(n.max(1)).take(w).enumerate() {
        for (o, x) in group.iter_mut().zip(src.chunks_exact(w)) {
            *o = x[g];
        }
    }
}

/// Inverse of [`split_plain`]: interleaves `groups.len()` equal groups into `dst`.
pub fn merge_plain(groups: &[&[u8]], dst: &mut [u8]) {
    let w = groups.len();
    assert!(
        groups.iter().all(|g| g.len() * w == dst.len()),
        "merge_plain: groups do not match the destination"
    );
    // Whole-element writes from zipped groups (the shape LLVM vectorises, as in merge_32).
    match groups {
        [a] => dst.copy_from_slice(a),
        [a, b] => {
            for ((x, &a), &b) in dst.chunks_exact_mut(2).zip(*a).zip(*b) {
                x.copy_from_slice(&[a, b]);
            }
        }
        [a, b, c, d] => {
            let it = dst.chunks_exact_mut(4).zip(*a).zip(*b).zip(*c).zip(*d);
            for ((((x, &a), &b), &c), &d) in it {
                x.copy_from_slice(&u32::from_le_bytes([a, b, c, d]).to_le_bytes());
            }
        }
        _ => {
            for (g, group) in groups.iter().enumerate() {
                for (x, &b) in dst.chunks_exact_mut(w).zip(group.iter()) {
                    x[g] = b;
                }
            }
        }
    }
}

/// Two groups (sign+mantissa, exponent) → 16-bit elements.
fn merge_16(m: &[u8], e: &[u8], dst: &mut [u8]) {
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse2")
    ))]
    let (m, e, dst) = {
        let n = simd::merge_16(m, e, dst);
        (&m[n..], &e[n..], &mut dst[2 * n..])
    };
    for ((x, &m), &e) in dst.chunks_exact_mut(2).zip(m).zip(e) {
        x.copy_from_slice(&sign_unmove(m, e).to_le_bytes());
    }
}

/// Four groups (bytes 0 and 1, sign+mantissa, exponent) → 32-bit elements.
///
/// In blocks of 64 elements through two small stack buffers of 16-bit halves: LLVM vectorises
/// each pass 8 or 16 lanes wide, where one pass over 32-bit words got only 4 lanes and cost
/// ~2.5× the instructions (bench/NOTES.md).
///
/// Straight into the output on every target. In wasm, staging 16 KiB in L1 and copying it out
/// with `memory.copy` was 4–7 % faster on one Intel Xeon, but 3–12 % slower on an AMD EPYC and
/// 4–6 % slower on another Xeon (bench/NOTES.md, sessions 54, 61 and 70).
fn merge_32(a: &[u8], b: &[u8], m: &[u8], e: &[u8], dst: &mut [u8]) {
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "sse2")
    ))]
    let (a, b, m, e, dst) = {
        let n = simd::merge_32(a, b, m, e, dst);
        (&a[n..], &b[n..], &m[n..], &e[n..], &mut dst[4 * n..])
    };
    const S: usize = 64;
    let mut d = dst.chunks_exact_mut(4 * S);
    let (mut a, mut b, mut m, mut e) = (
        a.chunks_exact(S),
        b.chunks_exact(S),
        m.chunks_exact(S),
        e.chunks_exact(S),
    );
    for x in &mut d {
        let (Some(a), Some(b), Some(m), Some(e)) = (a.next(), b.next(), m.next(), e.next()) else {
            break;
        };
        let mut low = [0u16; S];
        let mut high = [0u16; S];
        for ((l, &a), &b) in low.iter_mut().zip(a).zip(b) {
            *l = a as u16 | (b as u16) << 8;
        }
        for ((h, &m), &e) in high.iter_mut().zip(m).zip(e) {
            *h = sign_unmove(m, e);
        }
        for ((x, &l), &h) in x.chunks_exact_mut(4).zip(&low).zip(&high) {
            x.copy_from_slice(&(l as u32 | (h as u32) << 16).to_le_bytes());
        }
    }
    let it = d.into_remainder().chunks_exact_mut(4);
    let it = it
        .zip(a.remainder())
        .zip(b.remainder())
        .zip(m.remainder())
        .zip(e.remainder());
    for ((((x, &a), &b), &m), &e) in it {
        let v = a as u32 | (b as u32) << 8 | (sign_unmove(m, e) as u32) << 16;
        x.copy_from_slice(&v.to_le_bytes());
    }
}

/// The fp32 merge with explicit byte interleaves, where the target has 128-bit vectors with
/// unpack/shuffle instructions: wasm `simd128` (`i8x16.shuffle`, which V8 turns into unpack
/// instructions) and x86-64 (SSE2, part of its baseline). LLVM vectorises the portable
/// `merge_32` by widening bytes to wider lanes through stack buffers, which cost in V8 ~50 M
/// more instructions per minilm fp32 decode and natively 7–8 % of a whole fp32 decode
/// (bench/NOTES.md). The 16-bit merge too: with the sign joined on whole vectors before the
/// bytes are interleaved (two bit selects, `join_sign`), bf16 decodes 5 % faster in wasm and
/// 7 % natively than through LLVM's loop. The split, the fp32 merge's inverse, the same way:
/// 11–17 % faster fp32 compression in wasm, the same natively. Both backends are safe code:
/// wasm's intrinsics are safe functions, and on x86-64 `safe_arch` wraps SSE2 behind
/// `cfg(target_feature)`.
#[cfg(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "x86_64", target_feature = "sse2")
))]
mod simd {
    /// The few 128-bit operations the merge needs, per target.
    #[cfg(target_arch = "wasm32")]
    mod arch {
        use core::arch::wasm32::*;
        pub type V = v128;

        #[inline(always)]
        pub fn load(s: &[u8; 16]) -> V {
            let (lo, hi) = s.split_at(8);
            u64x2(
                u64::from_le_bytes(lo.try_into().unwrap_or_default()),
                u64::from_le_bytes(hi.try_into().unwrap_or_default()),
            )
        }

        #[inline(always)]
        pub fn store(d: &mut [u8; 16], v: V) {
            let (lo, hi) = d.split_at_mut(8);
            lo.copy_from_slice(&u64x2_extract_lane::<0>(v).to_le_bytes());
            hi.copy_from_slice(&u64x2_extract_lane::<1>(v).to_le_bytes());
        }

        /// Bytes 0..8 of `a` and `b` interleaved: a0 b0 a1 b1 …
        #[inline(always)]
        pub fn zip_lo8(a: V, b: V) -> V {
            u8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(a, b)
        }

        #[inline(always)]
        pub fn zip_hi8(a: V, b: V) -> V {
            u8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(a, b)
        }

        /// 16-bit lanes 0..4 of `a` and `b` interleaved.
        #[inline(always)]
        pub fn zip_lo16(a: V, b: V) -> V {
            u16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(a, b)
        }

        #[inline(always)]
        pub fn zip_hi16(a: V, b: V) -> V {
            u16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(a, b)
        }

        /// [`super::super::sign_unmove`] on sixteen elements, before their bytes are
        /// interleaved: the low bytes are `m` with bit 7 from `e`'s bit 0, the high bytes
        /// `e >> 1` with bit 7 from `m`. Shifting whole 16-bit lanes is exact here: the bits
        /// a shift carries across from the neighbouring byte are the ones the select drops.
        #[inline(always)]
        pub fn join_sign(m: V, e: V) -> (V, V) {
            let top = u8x16_splat(0x80);
            let lo = v128_bitselect(u16x8_shl(e, 7), m, top);
            (lo, v128_bitselect(m, u16x8_shr(e, 1), top))
        }

        /// The even bytes of `a` then of `b`.
        #[inline(always)]
        pub fn even8(a: V, b: V) -> V {
            u8x16_shuffle::<0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30>(a, b)
        }

        #[inline(always)]
        pub fn odd8(a: V, b: V) -> V {
            u8x16_shuffle::<1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31>(a, b)
        }

        /// [`super::super::sign_move`] on sixteen elements' bytes 2 (`lo`) and 3 (`hi`).
        #[inline(always)]
        pub fn move_sign(lo: V, hi: V) -> (V, V) {
            let m = v128_or(
                v128_and(lo, u8x16_splat(0x7F)),
                v128_and(hi, u8x16_splat(0x80)),
            );
            (m, v128_or(u8x16_shl(hi, 1), u8x16_shr(lo, 7)))
        }
    }

    /// The same operations in SSE2 (`punpck*`, `psrlw`/`psllw`).
    #[cfg(target_arch = "x86_64")]
    mod arch {
        use safe_arch::*;
        pub type V = m128i;

        #[inline(always)]
        pub fn load(s: &[u8; 16]) -> V {
            load_unaligned_m128i(s)
        }

        #[inline(always)]
        pub fn store(d: &mut [u8; 16], v: V) {
            store_unaligned_m128i(d, v)
        }

        #[inline(always)]
        pub fn zip_lo8(a: V, b: V) -> V {
            unpack_low_i8_m128i(a, b)
        }

        #[inline(always)]
        pub fn zip_hi8(a: V, b: V) -> V {
            unpack_high_i8_m128i(a, b)
        }

        #[inline(always)]
        pub fn zip_lo16(a: V, b: V) -> V {
            unpack_low_i16_m128i(a, b)
        }

        #[inline(always)]
        pub fn zip_hi16(a: V, b: V) -> V {
            unpack_high_i16_m128i(a, b)
        }

        /// `(a & mask) | (b & !mask)`.
        #[inline(always)]
        fn select(a: V, b: V, mask: V) -> V {
            (a & mask) | bitandnot_m128i(mask, b)
        }

        #[inline(always)]
        pub fn join_sign(m: V, e: V) -> (V, V) {
            let top = set_splat_i8_m128i(i8::MIN);
            let lo = select(shl_imm_u16_m128i::<7>(e), m, top);
            (lo, select(m, shr_imm_u16_m128i::<1>(e), top))
        }

        /// `packuswb` of the 16-bit lanes' low bytes (masked: no saturation) or high bytes.
        #[inline(always)]
        pub fn even8(a: V, b: V) -> V {
            let low = set_splat_i16_m128i(0xFF);
            pack_i16_to_u8_m128i(a & low, b & low)
        }

        #[inline(always)]
        pub fn odd8(a: V, b: V) -> V {
            pack_i16_to_u8_m128i(shr_imm_u16_m128i::<8>(a), shr_imm_u16_m128i::<8>(b))
        }

        /// SSE2 has no byte shifts: `hi << 1` is `hi + hi`, and each byte's top bit reaches
        /// its bit 0 by a 16-bit shift with the neighbour's bits masked off.
        #[inline(always)]
        pub fn move_sign(lo: V, hi: V) -> (V, V) {
            let m = (lo & set_splat_i8_m128i(0x7F)) | (hi & set_splat_i8_m128i(i8::MIN));
            let top = shr_imm_u16_m128i::<7>(lo) & set_splat_i8_m128i(1);
            (m, add_i8_m128i(hi, hi) | top)
        }
    }

    use arch::*;

    /// Elements per iteration of the merges' outer loops. Every wasm loop iteration also pays
    /// V8's interrupt check and the iterators' bookkeeping; four 16-element steps to one
    /// iteration made bf16 decode ~2 % faster in wasm than one (bench/NOTES.md, session 56).
    const BLOCK: usize = 64;

    /// Merges whole blocks of fp32 elements, 16 at a time (bytes 0 and 1 interleaved, the
    /// sign move on the upper halves, then the halves interleaved); returns how many elements
    /// it merged.
    pub(super) fn merge_32(a: &[u8], b: &[u8], m: &[u8], e: &[u8], dst: &mut [u8]) -> usize {
        let (a, b) = (a.as_chunks::<BLOCK>().0, b.as_chunks::<BLOCK>().0);
        let (m, e) = (m.as_chunks::<BLOCK>().0, e.as_chunks::<BLOCK>().0);
        let blocks = dst.as_chunks_mut::<{ 4 * BLOCK }>().0.iter_mut();
        let mut n = 0;
        for (x, (((a, b), m), e)) in blocks.zip(a.iter().zip(b).zip(m).zip(e)) {
            let groups = a.as_chunks::<16>().0.iter().zip(b.as_chunks::<16>().0);
            let groups = groups.zip(m.as_chunks::<16>().0).zip(e.as_chunks::<16>().0);
            for (x, (((a, b), m), e)) in x.as_chunks_mut::<64>().0.iter_mut().zip(groups) {
                let (a, b, m, e) = (load(a), load(b), load(m), load(e));
                let (ab_lo, ab_hi) = (zip_lo8(a, b), zip_hi8(a, b));
                let (lo, hi) = join_sign(m, e);
                let (h_lo, h_hi) = (zip_lo8(lo, hi), zip_hi8(lo, hi));
                let out = [
                    zip_lo16(ab_lo, h_lo),
                    zip_hi16(ab_lo, h_lo),
                    zip_lo16(ab_hi, h_hi),
                    zip_hi16(ab_hi, h_hi),
                ];
                for (x, v) in x.as_chunks_mut::<16>().0.iter_mut().zip(out) {
                    store(x, v);
                }
            }
            n += BLOCK;
        }
        n
    }

    /// [`super::merge_16`] in whole blocks, 16 elements at a time (the sign joined, then the
    /// bytes interleaved); returns how many elements it merged.
    pub(super) fn merge_16(m: &[u8], e: &[u8], dst: &mut [u8]) -> usize {
        let (m, e) = (m.as_chunks::<BLOCK>().0, e.as_chunks::<BLOCK>().0);
        let blocks = dst.as_chunks_mut::<{ 2 * BLOCK }>().0.iter_mut();
        let mut n = 0;
        for (x, (m, e)) in blocks.zip(m.iter().zip(e)) {
            let (m, e) = (m.as_chunks::<16>().0, e.as_chunks::<16>().0);
            for (x, (m, e)) in x.as_chunks_mut::<32>().0.iter_mut().zip(m.iter().zip(e)) {
                let (lo, hi) = join_sign(load(m), load(e));
                let x = x.as_chunks_mut::<16>().0;
                for (x, v) in x.iter_mut().zip([zip_lo8(lo, hi), zip_hi8(lo, hi)]) {
                    store(x, v);
                }
            }
            n += BLOCK;
        }
        n
    }

    /// The inverse: whole blocks of 16 fp32 elements into their four groups (the even and
    /// odd bytes split twice, then the sign move); returns how many elements it split.
    pub(super) fn split_32(
        src: &[u8],
        a: &mut [u8],
        b: &mut [u8],
        m: &mut [u8],
        e: &mut [u8],
    ) -> usize {
        let mut n = 0;
        let groups = a.chunks_exact_mut(16).zip(b.chunks_exact_mut(16));
        let groups = groups
            .zip(m.chunks_exact_mut(16))
            .zip(e.chunks_exact_mut(16));
        for (x, (((a, b), m), e)) in src.chunks_exact(64).zip(groups) {
            let mut v = x.chunks_exact(16).filter_map(|x| x.first_chunk()).map(load);
            let (Some(x0), Some(x1), Some(x2), Some(x3)) = (v.next(), v.next(), v.next(), v.next())
            else {
                break;
            };
            // Bytes 0 and 2 of each element, then bytes 1 and 3.
            let (even, odd) = ((even8(x0, x1), even8(x2, x3)), (odd8(x0, x1), odd8(x2, x3)));
            let (b2, b3) = (odd8(even.0, even.1), odd8(odd.0, odd.1));
            let (mv, ev) = move_sign(b2, b3);
            let out = [
                (a, even8(even.0, even.1)),
                (b, even8(odd.0, odd.1)),
                (m, mv),
                (e, ev),
            ];
            for (g, v) in out {
                if let Some(g) = g.first_chunk_mut() {
                    store(g, v);
                }
            }
            n += 16;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn plain_groups_roundtrip() {
        let src: Vec<u8> = (0..4000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for w in [2, 4] {
            let mut g = Vec::new();
            split_plain(w, &src, &mut g);
            let n = src.len() / w;
            assert_eq!(g[n + 3], src[3 * w + 1]);
            let groups: Vec<&[u8]> = g.chunks(n).collect();
            let mut out = alloc::vec![0u8; src.len()];
            merge_plain(&groups, &mut out);
            assert_eq!(out, src);
        }
    }

    fn roundtrip(dtype: DType, src: &[u8]) {
        let mut g = Vec::new();
        split(dtype, src, &mut g);
        let n = src.len() / dtype.size();
        let groups: Vec<&[u8]> = (0..dtype.groups())
            .map(|i| &g[dtype.group_range(i, n)])
            .collect();
        let mut out = alloc::vec![0u8; src.len()];
        if n > 0 {
            merge(dtype, &groups, &mut out);
        }
        assert_eq!(out, src, "{dtype}");
    }

    #[test]
    fn every_bit_pattern_roundtrips() {
        let all16: Vec<u8> = (0..=u16::MAX).flat_map(|v| v.to_le_bytes()).collect();
        for dt in [DType::BF16, DType::F16] {
            roundtrip(dt, &all16);
        }
        let mut x = 0x1234_5678u32;
        let f32s: Vec<u8> = (0..100_000)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()
            })
            .collect();
        roundtrip(DType::F32, &f32s);
        roundtrip(DType::F64, &f32s);
        // Every top-16-bit pattern of a float64, each with other low bytes.
        let all64: Vec<u8> = (0..=u16::MAX)
            .flat_map(|v| ((u64::from(v) << 48) | (u64::from(v) * 0x0101_0101)).to_le_bytes())
            .collect();
        roundtrip(DType::F64, &all64);
        // Sizes around the merge's block of 64 elements.
        for n in [0usize, 1, 63, 64, 65, 127, 128, 200] {
            roundtrip(DType::F32, &f32s[..4 * n]);
            roundtrip(DType::BF16, &all16[..2 * n]);
        }
        let bytes: Vec<u8> = (0..=255).collect();
        for dt in [DType::Bytes, DType::F8E4M3, DType::F8E5M2] {
            roundtrip(dt, &bytes);
        }
        // ggml blocks whose float16 numbers take every 16-bit pattern.
        for dt in [
            DType::Q4_0,
            DType::Q4_1,
            DType::Q5_0,
            DType::Q5_1,
            DType::Q8_0,
            DType::Q2K,
            DType::Q3K,
            DType::Q4K,
            DType::Q5K,
            DType::Q6K,
        ] {
            let w = dt.size();
            let blocks: Vec<u8> = (0..=u16::MAX)
                .flat_map(|v| (0..w).map(move |i| (v >> (8 * (i % 2))) as u8 ^ (i / 2) as u8))
                .collect();
            for n in [0usize, 1, 2, 1000, 1 << 16] {
                roundtrip(dt, &blocks[..w * n]);
            }
        }
    }

    /// The fp32 split (vector blocks of 16 elements where the target has them) gives each
    /// element's bytes 0 and 1 and `sign_move` of bytes 2 and 3, at sizes around its blocks.
    #[test]
    fn f32_split_follows_the_rule() {
        let mut x = 0x9E37_79B9u32;
        let src: Vec<u8> = (0..300)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()
            })
            .collect();
        let mut g = Vec::new();
        for n in [0usize, 1, 15, 16, 17, 63, 64, 65, 80, 300] {
            let s = &src[..4 * n];
            split(DType::F32, s, &mut g);
            for (i, x) in s.chunks_exact(4).enumerate() {
                let (m, e) = sign_move(u16::from_le_bytes([x[2], x[3]]));
                let got = [g[i], g[n + i], g[2 * n + i], g[3 * n + i]];
                assert_eq!(got, [x[0], x[1], m, e], "{n} elements, element {i}");
            }
        }
    }

    #[test]
    fn exponent_lands_in_last_group() {
        // bf16 1.0 = 0x3F80: exponent 127, sign 0, mantissa 0.
        let mut g = Vec::new();
        split(DType::BF16, &[0x80, 0x3F], &mut g);
        assert_eq!(g, [0x00, 127]);
        // bf16 -2.0 = 0xC000: exponent 128, sign 1.
        split(DType::BF16, &[0x00, 0xC0], &mut g);
        assert_eq!(g, [0x80, 128]);
        // f32 -1.5 = 0xBFC00000: exponent 127, sign 1, top mantissa bit 1.
        split(DType::F32, &(-1.5f32).to_le_bytes(), &mut g);
        assert_eq!(g, [0x00, 0x00, 0xC0, 127]);
        // f64 -1.5 = 0xBFF8_0000_0000_0000: exponent 1023 = 0x3FF, sign 1, top mantissa
        // nibble 0b1000: low exponent byte 0xFF; sign, exponent 0b011, mantissa 0b1000.
        split(DType::F64, &(-1.5f64).to_le_bytes(), &mut g);
        assert_eq!(g, [0, 0, 0, 0, 0, 0, 0xB8, 0xFF]);
        // A Q8_0 block: values 1..=32 first, then its scale (f16 2.0 = 0x4000: exponent 16,
        // top mantissa bits 0, so 16 << 3) as fp16's two groups.
        let block: Vec<u8> = [0x00, 0x40].into_iter().chain(1..=32).collect();
        split(DType::Q8_0, &block, &mut g);
        assert_eq!((&g[..32], &g[32..]), (&block[2..], &[0x00, 16 << 3][..]));
        // A Q4_1 block: its 16 bytes of weights, then its scale's (2.0) two groups, then its
        // minimum's (-2.0 = 0xC000: the sign moves into the first group).
        let block: Vec<u8> = [0x00, 0x40, 0x00, 0xC0].into_iter().chain(1..=16).collect();
        split(DType::Q4_1, &block, &mut g);
        assert_eq!(&g[..16], &block[4..]);
        assert_eq!(&g[16..], [0x00, 16 << 3, 0x80, 16 << 3]);
        // A Q6_K block: its low bits, high bits and int8 scales as three groups in block
        // order, then its float16 scale (-2.0, the block's last two bytes).
        let mut block: Vec<u8> = (0..208).map(|i| i as u8).collect();
        block.extend([0x00, 0xC0]);
        split(DType::Q6K, &block, &mut g);
        assert_eq!(&g[..208], &block[..208]);
        assert_eq!(&g[208..], [0x80, 16 << 3]);
        // Two Q4_K blocks: each group holds its field of both blocks, one after the other.
        let two: Vec<u8> = (0..288).map(|i| (i * 7) as u8).collect();
        split(DType::Q4K, &two, &mut g);
        let (d, dmin, scales, qs) = (0..2, 2..4, 4..16, 16..144);
        let field = |r: core::ops::Range<usize>| -> Vec<u8> {
            two[r.clone()]
                .iter()
                .chain(&two[144 + r.start..144 + r.end])
                .copied()
                .collect()
        };
        assert_eq!(&g[..24], field(scales));
        assert_eq!(&g[24..280], field(qs));
        let half = |b: usize, r: core::ops::Range<usize>| {
            sign_move(u16::from_le_bytes([two[b + r.start], two[b + r.start + 1]]))
        };
        let (d0, d1, m0, m1) = (
            half(0, d.clone()),
            half(144, d),
            half(0, dmin.clone()),
            half(144, dmin),
        );
        assert_eq!(&g[280..], [d0.0, d1.0, d0.1, d1.1, m0.0, m1.0, m0.1, m1.1]);
    }
}
