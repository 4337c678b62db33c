//! XXH3-64, the container's checksum (FORMAT.md), from one of two crates that compute the
//! same function.
//!
//! On x86-64 with `std`, twox-hash: it picks AVX2 at run time, where xxhash-rust takes the
//! SSE2 the portable baseline guarantees, and hashes a chunk's pieces hot in L1 2–2.6× faster
//! on AVX2 CPUs (bench/NOTES.md, session 43). Elsewhere xxhash-rust: it has a simd128 loop for
//! wasm, where twox-hash has only its scalar one, and it uses SSE2 in `no_std` builds.

// Two copies of one small interface, one per crate; `cfg` picks which is compiled.
pub use imp::{hash, Stream};

#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod imp {
    use core::hash::Hasher;

    /// XXH3-64 of `data` with `seed`.
    pub fn hash(data: &[u8], seed: u64) -> u64 {
        twox_hash::XxHash3_64::oneshot_with_seed(seed, data)
    }

    /// XXH3-64 of bytes given in pieces: equal to [`hash`] of their concatenation.
    pub struct Stream(twox_hash::XxHash3_64);

    impl Stream {
        /// A hash of nothing yet, with `seed`.
        pub fn with_seed(seed: u64) -> Self {
            Stream(twox_hash::XxHash3_64::with_seed(seed))
        }
        /// Adds the next piece.
        pub fn update(&mut self, data: &[u8]) {
            self.0.write(data)
        }
        /// The hash of every piece so far.
        pub fn digest(&self) -> u64 {
            self.0.finish()
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
mod imp {
    /// XXH3-64 of `data` with `seed`.
    pub fn hash(data: &[u8], seed: u64) -> u64 {
        xxhash_rust::xxh3::xxh3_64_with_seed(data, seed)
    }

    /// XXH3-64 of bytes given in pieces: equal to [`hash`] of their concatenation.
    pub struct Stream(xxhash_rust::xxh3::Xxh3);

    impl Stream {
        /// A hash of nothing yet, with `seed`.
        pub fn with_seed(seed: u64) -> Self {
            Stream(xxhash_rust::xxh3::Xxh3::with_seed(seed))
        }
        /// Adds the next piece.
        pub fn update(&mut self, data: &[u8]) {
            self.0.update(data)
        }
        /// The hash of every piece so far.
        pub fn digest(&self) -> u64 {
            self.0.digest()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known XXH3-64 of nothing, xxhash-rust's values at every short length and some long
    /// ones, and a stream's pieces hashing to the whole at every split, whichever crate this
    /// build uses.
    #[test]
    fn known_values_and_pieces() {
        assert_eq!(hash(b"", 0), 0x2D06_8005_38D3_94C2);
        let data: alloc::vec::Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for seed in [0, 1, 262_144, u64::MAX] {
            // Every length through XXH3's short-input paths (≤ 240 bytes) and past them.
            for len in (0..=300).chain([1023, 1024, 1025, 4096, 4097]) {
                let want = xxhash_rust::xxh3::xxh3_64_with_seed(&data[..len], seed);
                assert_eq!(hash(&data[..len], seed), want, "seed {seed}, length {len}");
            }
            let whole = hash(&data, seed);
            assert_eq!(whole, xxhash_rust::xxh3::xxh3_64_with_seed(&data, seed));
            for piece in [1, 63, 64, 240, 241, 1024, 4096] {
                let mut s = Stream::with_seed(seed);
                data.chunks(piece).for_each(|p| s.update(p));
                assert_eq!(s.digest(), whole, "seed {seed}, pieces of {piece}");
            }
        }
    }
}
