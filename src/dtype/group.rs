//! Split elements into byte groups and merge them back.
//!
//! Layout of a split: group `g` holds byte `g` of every element, after the sign move for
//! bf16/fp32, so for those the *last* group is the exponent. Group `g` of an `n`-element input
//! is `out[g*n .. (g+1)*n]`: one contiguous scratch buffer, no per-group allocation.
//!
//! The loops are written over `chunks_exact` so that LLVM vectorises them (SSE2 natively,
//! simd128 in wasm): the merge runs once per decoded byte and must stay far below the entropy
//! decoder's cost.

use super::DType;

/// Sign-move for one bfloat16 (little-endian bytes `lo`, `hi`) → (sign+mantissa, exponent).
#[inline(always)]
fn bf16_fwd(lo: u8, hi: u8) -> (u8, u8) {
    ((hi & 0x80) | (lo & 0x7F), (hi << 1) | (lo >> 7))
}

/// Inverse of [`bf16_fwd`]: (sign+mantissa, exponent) → little-endian bytes (lo, hi).
#[inline(always)]
fn bf16_inv(m: u8, e: u8) -> (u8, u8) {
    (((e & 1) << 7) | (m & 0x7F), (m & 0x80) | (e >> 1))
}

/// Splits `src` (whose length must be a multiple of `dtype.size()`) into `dtype.groups()` groups,
/// written contiguously to `out` (resized to `src.len()`).
pub fn split(dtype: DType, src: &[u8], out: &mut alloc::vec::Vec<u8>) {
    let w = dtype.size();
    debug_assert_eq!(src.len() % w, 0);
    let n = src.len() / w;
    out.clear();
    out.resize(src.len(), 0);
    match dtype {
        DType::Bytes | DType::F8E4M3 | DType::F8E5M2 => out.copy_from_slice(src),
        // fp16 gets the same sign move: exponent + top 3 mantissa bits in one byte measured
        // smaller than the plain high byte (tests/dtype_grouping.rs).
        DType::BF16 | DType::F16 => {
            let (g0, g1) = out.split_at_mut(n);
            for ((x, a), b) in src.chunks_exact(2).zip(g0).zip(g1) {
                (*a, *b) = bf16_fwd(x[0], x[1]);
            }
        }
        DType::F32 => {
            let (g0, rest) = out.split_at_mut(n);
            let (g1, rest) = rest.split_at_mut(n);
            let (g2, g3) = rest.split_at_mut(n);
            for ((((x, a), b), c), d) in src.chunks_exact(4).zip(g0).zip(g1).zip(g2).zip(g3) {
                *a = x[0];
                *b = x[1];
                (*c, *d) = bf16_fwd(x[2], x[3]);
            }
        }
    }
}

/// Merges groups back into elements. `groups.len()` must be `dtype.groups()`, every group
/// `dst.len() / dtype.size()` long.
pub fn merge(dtype: DType, groups: &[&[u8]], dst: &mut [u8]) {
    let w = dtype.size();
    debug_assert_eq!(groups.len(), w);
    debug_assert!(groups.iter().all(|g| g.len() * w == dst.len()));
    match dtype {
        DType::Bytes | DType::F8E4M3 | DType::F8E5M2 => dst.copy_from_slice(groups[0]),
        DType::BF16 | DType::F16 => merge_bf16(groups[0], groups[1], dst),
        DType::F32 => {
            let it = dst
                .chunks_exact_mut(4)
                .zip(groups[0])
                .zip(groups[1])
                .zip(groups[2])
                .zip(groups[3]);
            for ((((x, &a), &b), &c), &d) in it {
                let (lo, hi) = bf16_inv(c, d);
                x[0] = a;
                x[1] = b;
                x[2] = lo;
                x[3] = hi;
            }
        }
    }
}

/// bf16 merge on u16 lanes: the compiler turns this into wide shifts/masks.
fn merge_bf16(m: &[u8], e: &[u8], dst: &mut [u8]) {
    for ((x, &m), &e) in dst.chunks_exact_mut(2).zip(m).zip(e) {
        let (lo, hi) = bf16_inv(m, e);
        x[0] = lo;
        x[1] = hi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn roundtrip(dtype: DType, src: &[u8]) {
        let mut g = Vec::new();
        split(dtype, src, &mut g);
        let n = src.len() / dtype.size();
        let groups: Vec<&[u8]> = g.chunks(n.max(1)).take(dtype.groups()).collect();
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
        let bytes: Vec<u8> = (0..=255).collect();
        for dt in [DType::Bytes, DType::F8E4M3, DType::F8E5M2] {
            roundtrip(dt, &bytes);
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
    }
}
