//! Structure of float runs whose container gives no tensor boundaries or shapes (a raw file, a
//! PyTorch storage): where one tensor ends and the next starts ([`change_points`], so that
//! chunks do not mix tensors of different scales), and the row length of the 2-D tensor a piece
//! lies in ([`detect_row`]), which the column context of the history mode uses (minilm FP16
//! safetensors: 32 KB of 38.3 MB).

use crate::dtype::DType;
use crate::entropy::fse;
use alloc::vec::Vec;

/// Elements sampled per piece for the row search.
const SAMPLE: usize = 32 << 10;
/// Longest row looked for, in elements.
const MAX_ROW: usize = 4096;
/// Shortest row looked for: shorter periods are kernel positions inside a row, not rows.
const MIN_ROW: usize = 8;
/// Rows a chunk must hold for the column context to be tried (the history mode's own rule:
/// `4 * (COLUMN_ROWS + 2)` rows).
const MIN_ROWS: usize = 40;

/// A log magnitude per element (the top exponent and mantissa bits without the sign), or
/// `None` for types that are not floats with at least 16 bits.
fn magnitude(dtype: DType) -> Option<fn(&[u8]) -> i32> {
    match dtype {
        // Exponent and 2 mantissa bits: 0..=127.
        DType::F16 => Some(|x| ((u16::from_le_bytes([x[0], x[1]]) & 0x7FFF) >> 8) as i32),
        DType::BF16 => Some(|x| ((u16::from_le_bytes([x[0], x[1]]) & 0x7FFF) >> 5) as i32),
        DType::F32 => Some(|x| ((u16::from_le_bytes([x[2], x[3]]) & 0x7FFF) >> 5) as i32),
        // 11 exponent bits: those of 2^-192 to 2^63 (where weights lie) kept, the rest clamped.
        DType::F64 => Some(|x| {
            let v = (u16::from_le_bytes([x[6], x[7]]) & 0x7FFF) >> 2;
            (v as i32 - ((1023 - 192) << 2)).clamp(0, 1023)
        }),
        _ => None,
    }
}

/// The row length of the 2-D tensor `src` seems to lie in, in elements, or 0.
///
/// Columns of weight matrices differ in scale (outlier features, per-channel magnitudes), so
/// the log magnitudes of elements a whole number of rows apart correlate more than those one
/// element nearer or farther (within-row and row-to-row effects change smoothly with the
/// distance). The row length is the period `L` whose comb `Σ_k C(kL) - (C(kL-1) + C(kL+1))/2`
/// over the autocorrelation `C` stands out most, in standard errors, if it does clearly. The
/// autocorrelation of a sample comes from a number-theoretic transform (exact integers, no
/// floating-point trigonometry in `no_std`).
pub fn detect_row(src: &[u8], dtype: DType) -> u32 {
    let Some(mag) = magnitude(dtype) else {
        return 0;
    };
    let w = dtype.size();
    let n = src.len() / w;
    let s = n.min(SAMPLE);
    let max_row = MAX_ROW.min(n / MIN_ROWS).min(s / 8);
    if max_row < MIN_ROW {
        return 0;
    }
    // A stretch from the middle: the start of a piece may be another tensor's end.
    let at = (n - s) / 2 * w;
    let m: Vec<i32> = src[at..at + s * w].chunks_exact(w).map(mag).collect();
    let mut hist = [0u32; 1024];
    for &v in &m {
        hist[v as usize] += 1;
    }
    let (mut acc, mut median) = (0, 0);
    for (v, &c) in hist.iter().enumerate() {
        acc += c as usize;
        if 2 * acc >= s {
            median = v as i32;
            break;
        }
    }
    // Clamped so that every autocorrelation sum stays below P / 2 (63² · 2^15 < 2^27).
    let d: Vec<i64> = m
        .iter()
        .map(|&v| (v - median).clamp(-63, 63) as i64)
        .collect();
    let c = autocorrelation(&d);
    let var = c[0] as f64 / s as f64;
    if var == 0.0 {
        return 0;
    }
    let mut best = (0, 0.0);
    for row in MIN_ROW..=max_row {
        let (mut signal, mut pairs) = (0.0, 0.0);
        let mut lag = row;
        while lag + 1 < s {
            signal += c[lag] as f64 - (c[lag - 1] + c[lag + 1]) as f64 / 2.0;
            pairs += (s - lag) as f64;
            lag += row;
        }
        // Each term's standard error is var · sqrt(1.5 · pairs) when nothing is periodic.
        let z = signal / (var * libm_sqrt(1.5 * pairs));
        if z > best.1 {
            best = (row, z);
        }
    }
    // The largest of ~4000 null z-scores stays below ~4.5 (measured on minilm's embedding).
    if best.1 >= 5.0 {
        best.0 as u32
    } else {
        0
    }
}

/// Counts the exponent field of each of `src`'s elements (one byte each) into `h`, element
/// `i` into table `i % 4`; false if `dtype` is not a float of at least 16 bits (nor bytes).
/// Four tables because neighbouring weights mostly share an exponent: with one, each
/// increment waited for the last (a quarter of the change-point search on a raw float32 file).
fn count_exponents(src: &[u8], dtype: DType, h: &mut [[u32; 256]; 4]) -> bool {
    match dtype {
        DType::F16 => count(src, h, |x: &[u8; 2]| (x[1] >> 2) & 0x1F),
        DType::BF16 => count(src, h, |x: &[u8; 2]| x[1] << 1 | x[0] >> 7),
        DType::F32 => count(src, h, |x: &[u8; 4]| x[3] << 1 | x[2] >> 7),
        // The exponent's low byte: its group (dtype::split).
        DType::F64 => count(src, h, |x: &[u8; 8]| x[7] << 4 | x[6] >> 4),
        // Quantized weights (TF.js uint8 shards): each tensor has its own histogram.
        DType::Bytes => fse::count_into(src, h),
        _ => return false,
    }
    true
}

/// [`count_exponents`] for elements of `W` bytes, `exp` taking an element's exponent byte.
fn count<const W: usize>(src: &[u8], h: &mut [[u32; 256]; 4], exp: impl Fn(&[u8; W]) -> u8) {
    let (elements, _) = src.as_chunks::<W>();
    let (quads, rest) = elements.as_chunks::<4>();
    for q in quads {
        for (t, x) in h.iter_mut().zip(q) {
            t[exp(x) as usize] += 1;
        }
    }
    for x in rest {
        h[0][exp(x) as usize] += 1;
    }
}

/// Where the statistics of a float or byte run change (tensor boundaries in a run whose
/// container does not give them): byte offsets into `src`, ascending, whole elements, on
/// `window`-byte steps (a multiple of 4; wider for long byte runs). Found by binary
/// segmentation: a stretch is split where the order-0 entropy of the exponents (of the bytes)
/// of its two parts falls most below that of the whole, when it
/// falls by more than `penalty` bytes (what one more chunk costs in heads and tables).
pub fn change_points(src: &[u8], dtype: DType, window: usize, penalty: f64) -> Vec<usize> {
    let w = dtype.size();
    // Byte runs have up to 256 symbols: at most 16K windows keep the prefix sums under 17 MB
    // (and the windows' histograms under 21 MB).
    let per = match dtype {
        DType::Bytes => window.max(src.len().div_ceil(16 << 10)),
        _ => (window / w).max(1),
    };
    let windows = src.len() / w / per;
    // Counts are u32: longer runs (16 GiB of float32) are left to equal pieces.
    let mut tables = [[0u32; 256]; 4];
    if windows < 2 || src.len() / w > u32::MAX as usize || !count_exponents(&[], dtype, &mut tables)
    {
        return Vec::new();
    }
    // Each window's histogram, kept as the exponents that occur in it and their counts: one
    // pass over the input (a first to learn which exponents occur was 8 % of a compress).
    let mut seen = [false; 256];
    let (mut symbols, mut counts, mut ends) = (Vec::new(), Vec::new(), Vec::with_capacity(windows));
    for win in src[..windows * per * w].chunks_exact(per * w) {
        count_exponents(win, dtype, &mut tables);
        let hist = fse::sum_tables(&tables);
        tables = [[0; 256]; 4];
        // A window's exponents span a few dozen values: skip the empty eights whole.
        for (g, eight) in hist.chunks_exact(8).enumerate() {
            if eight.iter().fold(0, |a, &c| a | c) == 0 {
                continue;
            }
            for (e, &c) in (g * 8..).zip(eight).filter(|(_, c)| **c > 0) {
                symbols.push(e as u8);
                counts.push(c);
                seen[e] = true;
            }
        }
        ends.push(symbols.len());
    }
    let mut index = [0usize; 256];
    let mut k = 0;
    for (i, _) in index.iter_mut().zip(seen).filter(|(_, s)| *s) {
        *i = k;
        k += 1;
    }
    // Those histograms prefix-summed over the exponents that occur.
    let mut prefix = alloc::vec![0u32; (windows + 1) * k];
    let mut start = 0;
    for (i, &end) in ends.iter().enumerate() {
        let (done, next) = prefix.split_at_mut((i + 1) * k);
        let next = &mut next[..k];
        next.copy_from_slice(&done[i * k..]);
        for (&e, &c) in symbols[start..end].iter().zip(&counts[start..end]) {
            next[index[e as usize]] += c;
        }
        start = end;
    }
    // Order-0 cost in bytes of windows a..b: n·log2(n) - Σ c·log2(c), over 8.
    let xlogx = |c: u32| {
        if c < 2 {
            0.0
        } else {
            c as f64 * libm_log2(c as f64)
        }
    };
    let cost = |a: usize, b: usize| {
        let (lo, hi) = (&prefix[a * k..(a + 1) * k], &prefix[b * k..(b + 1) * k]);
        let sum: f64 = lo.iter().zip(hi).map(|(&x, &y)| xlogx(y - x)).sum();
        (xlogx(((b - a) * per) as u32) - sum) / 8.0
    };
    let mut cuts = Vec::new();
    let mut todo = alloc::vec![(0, windows)];
    while let Some((a, b)) = todo.pop() {
        if b - a < 2 {
            continue;
        }
        let whole = cost(a, b);
        // At most ~256 split points per stretch, then every one around the best of them.
        let step = ((b - a) / 256).max(1);
        let split = |best: (f64, usize), c: usize| {
            let v = cost(a, c) + cost(c, b);
            if v < best.0 {
                (v, c)
            } else {
                best
            }
        };
        let (_, near) = (a + 1..b).step_by(step).fold((f64::INFINITY, 0), split);
        let (best, at) = (near.saturating_sub(step).max(a + 1)..(near + step).min(b))
            .fold((f64::INFINITY, 0), split);
        if whole - best > penalty {
            cuts.push(at * per * w);
            todo.push((a, at));
            todo.push((at, b));
        }
    }
    cuts.sort_unstable();
    cuts
}

fn libm_log2(x: f64) -> f64 {
    crate::entropy::block::libm_log2(x)
}

/// The NTT prime 119 · 2^23 + 1 and a generator of its multiplicative group.
const P: u64 = 998_244_353;
const G: u64 = 3;

fn pow_mod(mut b: u64, mut e: u64) -> u64 {
    let mut r = 1;
    while e > 0 {
        if e & 1 == 1 {
            r = r * b % P;
        }
        b = b * b % P;
        e >>= 1;
    }
    r
}

/// In-place number-theoretic transform mod [`P`] (length a power of two up to 2^23).
fn ntt(a: &mut [u64], invert: bool) {
    let n = a.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j ^= bit;
        if i < j {
            a.swap(i, j);
        }
    }
    let mut len = 2;
    let mut tw = Vec::with_capacity(n / 2);
    while len <= n {
        let mut root = pow_mod(G, (P - 1) / len as u64);
        if invert {
            root = pow_mod(root, P - 2);
        }
        tw.clear();
        let mut x = 1;
        for _ in 0..len / 2 {
            tw.push(x);
            x = x * root % P;
        }
        for block in a.chunks_exact_mut(len) {
            let (lo, hi) = block.split_at_mut(len / 2);
            for ((u, v), &t) in lo.iter_mut().zip(hi.iter_mut()).zip(&tw) {
                let x = *u;
                let y = *v * t % P;
                *u = if x + y >= P { x + y - P } else { x + y };
                *v = if x >= y { x - y } else { x + P - y };
            }
        }
        len <<= 1;
    }
    if invert {
        let inv = pow_mod(n as u64, P - 2);
        for x in a.iter_mut() {
            *x = *x * inv % P;
        }
    }
}

/// `C(l) = Σ_i x_i x_{i+l}` for `l < x.len()`, exactly, when every |C(l)| < P / 2.
fn autocorrelation(x: &[i64]) -> Vec<i64> {
    let n = (2 * x.len()).next_power_of_two();
    let mut a: Vec<u64> = x.iter().map(|&v| v.rem_euclid(P as i64) as u64).collect();
    a.resize(n, 0);
    ntt(&mut a, false);
    // A(k) · A(-k) transforms back to the circular autocorrelation, which is the plain one
    // because of the zero padding.
    let b: Vec<u64> = (0..n).map(|k| a[k] * a[(n - k) % n] % P).collect();
    a = b;
    ntt(&mut a, true);
    a.truncate(x.len());
    a.iter()
        .map(|&v| {
            if v > P / 2 {
                v as i64 - P as i64
            } else {
                v as i64
            }
        })
        .collect()
}

/// Square root by Newton's method (`no_std` has no `f64::sqrt`); `x >= 0`.
fn libm_sqrt(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut y = if x > 1.0 { x / 2.0 } else { 1.0 };
    for _ in 0..64 {
        let next = (y + x / y) / 2.0;
        if (next - y).abs() <= 1e-12 * y {
            return next;
        }
        y = next;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autocorrelation_is_exact() {
        let x: Vec<i64> = (0..300).map(|i: i64| (i * 37 % 127) - 63).collect();
        let c = autocorrelation(&x);
        for l in [0, 1, 2, 57, 299] {
            let want: i64 = (0..x.len() - l).map(|i| x[i] * x[i + l]).sum();
            assert_eq!(c[l], want, "lag {l}");
        }
    }

    #[test]
    fn exponents_are_counted_once_each() {
        let data = crate::noise(4096, 7);
        type Exp = fn(&[u8]) -> u8;
        let kinds: [(DType, usize, Exp); 5] = [
            (DType::F16, 2, |x| (x[1] >> 2) & 0x1F),
            (DType::BF16, 2, |x| x[1] << 1 | x[0] >> 7),
            (DType::F32, 4, |x| x[3] << 1 | x[2] >> 7),
            (DType::F64, 8, |x| x[7] << 4 | x[6] >> 4),
            (DType::Bytes, 1, |x| x[0]),
        ];
        for (dtype, w, exp) in kinds {
            // Lengths around multiples of four elements, and a part element at the end.
            for n in (0..=9).chain(497..=503) {
                let src = &data[..n * w + w / 2];
                let mut tables = [[0u32; 256]; 4];
                assert!(count_exponents(src, dtype, &mut tables));
                let mut want = [0u32; 256];
                src.chunks_exact(w).for_each(|x| want[exp(x) as usize] += 1);
                assert_eq!(fse::sum_tables(&tables), want, "{dtype:?}, {n} elements");
            }
        }
        assert!(!count_exponents(&data, DType::F8E4M3, &mut [[0; 256]; 4]));
    }

    #[test]
    fn sqrt_is_accurate() {
        for x in [0.25, 1.0, 2.0, 1e6, 12345.678] {
            let y = libm_sqrt(x);
            assert!((y * y - x).abs() < 1e-9 * x, "{x}");
        }
    }
}
