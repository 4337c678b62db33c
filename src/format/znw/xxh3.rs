//! XXH3-64, the container's checksum (FORMAT.md), from one of two crates that compute the
//! same function.
//!
//! On x86-64 with `std`, twox-hash: it picks AVX2 at run time, where xxhash-rust takes the
//! SSE2 the portable baseline guarantees, and hashes chunks hot in cache 2–2.6× faster on
//! AVX2 CPUs (bench/NOTES.md, session 43). Elsewhere xxhash-rust: it has a simd128 loop for
//! wasm, where twox-hash has only its scalar one, and it uses SSE2 in `no_std` builds.

/// XXH3-64 of `data` with `seed`.
pub fn hash(data: &[u8], seed: u64) -> u64 {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    return twox_hash::XxHash3_64::oneshot_with_seed(seed, data);
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    xxhash_rust::xxh3::xxh3_64_with_seed(data, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known XXH3-64 of nothing and xxhash-rust's values at every short length and some
    /// long ones, whichever crate this build uses.
    #[test]
    fn known_values() {
        assert_eq!(hash(b"", 0), 0x2D06_8005_38D3_94C2);
        let data: alloc::vec::Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for seed in [0, 1, 262_144, u64::MAX] {
            // Every length through XXH3's short-input paths (≤ 240 bytes) and past them, up
            // to a whole default chunk and beyond.
            let long = [1023, 1024, 1025, 4096, 4097, 262_143, 262_144, 300_000];
            for len in (0..=300).chain(long) {
                let want = xxhash_rust::xxh3::xxh3_64_with_seed(&data[..len], seed);
                assert_eq!(hash(&data[..len], seed), want, "seed {seed}, length {len}");
            }
        }
    }
}
