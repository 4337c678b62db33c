//! Deterministic test data shared by the coders' unit tests.

use alloc::vec::Vec;

/// xorshift64: reproducible noise without a dependency.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Exponent-like bytes: values 110..=130 peaked at 120, geometric tails.
pub fn peaked(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..n)
        .map(|_| {
            let r = rng.next();
            // Two-sided geometric, ratio 0.55: ~2.75 bits/symbol like real bf16 exponents.
            let mut mag = 0u8;
            while mag < 10 && rng.next() % 100 < 55 {
                mag += 1;
            }
            if r >> 63 == 0 {
                120 + mag
            } else {
                120 - mag
            }
        })
        .collect()
}
