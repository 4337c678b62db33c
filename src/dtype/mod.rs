//! Element types and byte grouping.
//!
//! A float's bytes are not equally compressible: the exponent is skewed (~2.7 bits of entropy
//! in trained weights) while sign and mantissa are close to random. Splitting every element's
//! bytes into separate streams ("byte groups") lets the entropy coder see the exponent alone.
//! For bfloat16 and float32 the exponent straddles two bytes, so first the sign bit is moved
//! next to the mantissa (ZipNN's `bits_mode = 1`), which makes the exponent one whole byte.
//!
//! float16 gets the same sign move: its high byte then holds the 5-bit exponent and the top 3
//! mantissa bits, which measured smaller at order 0 on real FP16 weights than the plain high
//! byte or a bare-exponent split (`tests/dtype_grouping.rs`).
//!
//! float64's exponent has 11 bits, which no byte holds whole: its low 8 bits (where trained
//! weights' exponents vary) become one byte, and the sign, the top 3 exponent bits (nearly
//! constant) and the top 4 mantissa bits the other. On a float64 copy of minilm's weights those
//! two groups coded 6 % smaller than the plain bytes 6 and 7 and 11 % smaller than the sign
//! move, which leaves the varying exponent bits with the mantissa's.
//!
//! ggml's quantised blocks (GGUF's Q4_0 to Q8_0, and the K-quants Q2_K to Q6_K) are fields of
//! packed weights, sub-block scales and one or two float16 numbers (a scale; a scale and a
//! minimum): groups of unequal widths, each byte field one group (12 to 128 bytes an element),
//! then each float16's two bytes as float16's groups ([`Block`]). Coded among the weights, the
//! float16 bytes cost 1.7 % of a Q8_0 model's size and 3 % of a Q4_0 one's (minilm's weights);
//! a K-quant's fields have statistics of their own (a Q6_K's high bits, its int8 scales), and
//! apart they code 2–3 % smaller than the block's bytes together (bench/NOTES.md, session 68).

mod group;

pub use group::{merge, merge_plain, split, split_plain};

use core::fmt;

/// The most byte groups of any type (float64's eight).
pub const MAX_GROUPS: usize = 8;

/// The element type a stretch of data is coded as (more may come, as float64 and ggml's
/// blocks came after the first six).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    /// Plain bytes: one stream, no grouping.
    Bytes,
    /// bfloat16.
    BF16,
    /// IEEE float16.
    F16,
    /// IEEE float32.
    F32,
    /// float8 e4m3 (`float8_e4m3fn`).
    F8E4M3,
    /// float8 e5m2.
    F8E5M2,
    /// IEEE float64.
    F64,
    /// ggml's Q4_0 block (GGUF): a float16 scale, then 32 4-bit weights in 16 bytes.
    Q4_0,
    /// ggml's Q4_1 block: a float16 scale and a float16 minimum, then 16 bytes of weights.
    Q4_1,
    /// ggml's Q5_0 block: a float16 scale, then 4 bytes of fifth bits and 16 of 4-bit weights.
    Q5_0,
    /// ggml's Q5_1 block: a float16 scale and minimum, then 20 bytes as Q5_0's.
    Q5_1,
    /// ggml's Q8_0 block: a float16 scale, then 32 int8 weights.
    Q8_0,
    /// ggml's Q2_K block (256 weights): 16 bytes of 4-bit scales and minima, 64 of 2-bit
    /// weights, a float16 scale and minimum.
    Q2K,
    /// ggml's Q3_K block: 32 bytes of high bits, 64 of 2-bit weights, 12 of 6-bit scales, a
    /// float16 scale.
    Q3K,
    /// ggml's Q4_K block: a float16 scale and minimum, 12 bytes of 6-bit scales and minima,
    /// 128 of 4-bit weights.
    Q4K,
    /// ggml's Q5_K block: as Q4_K, with 32 bytes of fifth bits before the 4-bit weights.
    Q5K,
    /// ggml's Q6_K block: 128 bytes of low 4 bits, 64 of high 2 bits, 16 int8 scales, a
    /// float16 scale.
    Q6K,
}

/// A ggml block's layout: where its float16 numbers start, and its byte fields (start, width).
/// Its groups are the byte fields in this order, then each float16's two bytes as float16's
/// groups (sign and low mantissa, exponent and top mantissa), in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Bytes per block.
    pub size: usize,
    /// Where each float16 number starts.
    pub halves: &'static [usize],
    /// The byte fields, each one group: (start, width).
    pub fields: &'static [(usize, usize)],
}

impl DType {
    /// Every type, in code order.
    pub const ALL: [DType; 17] = [
        DType::Bytes,
        DType::BF16,
        DType::F16,
        DType::F32,
        DType::F8E4M3,
        DType::F8E5M2,
        DType::F64,
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
        DType::Q2K,
        DType::Q3K,
        DType::Q4K,
        DType::Q5K,
        DType::Q6K,
    ];

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::Bytes | DType::F8E4M3 | DType::F8E5M2 => 1,
            DType::BF16 | DType::F16 => 2,
            DType::F32 => 4,
            DType::F64 => 8,
            _ => match self.block() {
                Some(b) => b.size,
                None => 0,
            },
        }
    }

    /// A ggml block type's layout (ggml's `block_q*` structs); `None` for the other types.
    pub const fn block(self) -> Option<Block> {
        const fn b(
            size: usize,
            halves: &'static [usize],
            fields: &'static [(usize, usize)],
        ) -> Block {
            Block {
                size,
                halves,
                fields,
            }
        }
        Some(match self {
            DType::Q4_0 => b(18, &[0], &[(2, 16)]),
            DType::Q4_1 => b(20, &[0, 2], &[(4, 16)]),
            DType::Q5_0 => b(22, &[0], &[(2, 20)]),
            DType::Q5_1 => b(24, &[0, 2], &[(4, 20)]),
            DType::Q8_0 => b(34, &[0], &[(2, 32)]),
            DType::Q2K => b(84, &[80, 82], &[(0, 16), (16, 64)]),
            DType::Q3K => b(110, &[108], &[(0, 32), (32, 64), (96, 12)]),
            DType::Q4K => b(144, &[0, 2], &[(4, 12), (16, 128)]),
            DType::Q5K => b(176, &[0, 2], &[(4, 12), (16, 32), (48, 128)]),
            DType::Q6K => b(210, &[208], &[(0, 128), (128, 64), (192, 16)]),
            _ => return None,
        })
    }

    /// Number of byte groups (streams) a chunk of this type is split into.
    pub const fn groups(self) -> usize {
        match self.block() {
            Some(b) => b.fields.len() + 2 * b.halves.len(),
            None => self.size(),
        }
    }

    /// Bytes of each element in group `g` (1 but for a block's byte fields).
    pub const fn group_width(self, g: usize) -> usize {
        match self.block() {
            Some(b) if g < b.fields.len() => b.fields[g].1,
            _ => 1,
        }
    }

    /// Where group `g` of `n` elements lies in a split (groups stored one after another).
    pub fn group_range(self, g: usize, n: usize) -> core::ops::Range<usize> {
        let start = (0..g).map(|i| self.group_width(i)).sum::<usize>() * n;
        start..start + self.group_width(g) * n
    }

    /// Whether every group holds one byte of each element: the float types, whose merges and
    /// context modes (the last group an exponent, plain groups as an alternative) assume it.
    pub const fn bytewise(self) -> bool {
        self.block().is_none()
    }

    /// The code stored in our container (FORMAT.md §3).
    pub const fn code(self) -> u8 {
        match self {
            DType::Bytes => 0,
            DType::BF16 => 1,
            DType::F16 => 2,
            DType::F32 => 3,
            DType::F8E4M3 => 4,
            DType::F8E5M2 => 5,
            DType::F64 => 6,
            DType::Q8_0 => 7,
            DType::Q4_0 => 8,
            DType::Q4_1 => 9,
            DType::Q5_0 => 10,
            DType::Q5_1 => 11,
            DType::Q2K => 12,
            DType::Q3K => 13,
            DType::Q4K => 14,
            DType::Q5K => 15,
            DType::Q6K => 16,
        }
    }

    /// The type of a container code ([`DType::code`]); `None` for an unknown one.
    pub const fn from_code(code: u8) -> Option<DType> {
        Some(match code {
            0 => DType::Bytes,
            1 => DType::BF16,
            2 => DType::F16,
            3 => DType::F32,
            4 => DType::F8E4M3,
            5 => DType::F8E5M2,
            6 => DType::F64,
            7 => DType::Q8_0,
            8 => DType::Q4_0,
            9 => DType::Q4_1,
            10 => DType::Q5_0,
            11 => DType::Q5_1,
            12 => DType::Q2K,
            13 => DType::Q3K,
            14 => DType::Q4K,
            15 => DType::Q5K,
            16 => DType::Q6K,
            _ => return None,
        })
    }

    /// Short name used by the CLI and JS API (`--dtype bf16`).
    pub const fn name(self) -> &'static str {
        match self {
            DType::Bytes => "bytes",
            DType::BF16 => "bf16",
            DType::F16 => "fp16",
            DType::F32 => "fp32",
            DType::F8E4M3 => "fp8-e4m3",
            DType::F8E5M2 => "fp8-e5m2",
            DType::F64 => "fp64",
            DType::Q4_0 => "q4_0",
            DType::Q4_1 => "q4_1",
            DType::Q5_0 => "q5_0",
            DType::Q5_1 => "q5_1",
            DType::Q8_0 => "q8_0",
            DType::Q2K => "q2_k",
            DType::Q3K => "q3_k",
            DType::Q4K => "q4_k",
            DType::Q5K => "q5_k",
            DType::Q6K => "q6_k",
        }
    }

    /// Parses CLI/JS names and the common aliases (`bfloat16`, `float32`, safetensors' `F16`...).
    pub fn parse(s: &str) -> Option<DType> {
        let lower = s.to_ascii_lowercase();
        Some(match lower.as_str() {
            "bytes" | "byte" | "u8" | "raw" => DType::Bytes,
            "bf16" | "bfloat16" => DType::BF16,
            "fp16" | "f16" | "float16" | "half" => DType::F16,
            "fp32" | "f32" | "float32" | "float" => DType::F32,
            "fp64" | "f64" | "float64" | "double" => DType::F64,
            "q4_0" => DType::Q4_0,
            "q4_1" => DType::Q4_1,
            "q5_0" => DType::Q5_0,
            "q5_1" => DType::Q5_1,
            "q8_0" => DType::Q8_0,
            "q2_k" => DType::Q2K,
            "q3_k" => DType::Q3K,
            "q4_k" => DType::Q4K,
            "q5_k" => DType::Q5K,
            "q6_k" => DType::Q6K,
            "fp8-e4m3" | "fp8_e4m3" | "f8_e4m3" | "f8e4m3" | "float8_e4m3fn" | "e4m3" => {
                DType::F8E4M3
            }
            "fp8-e5m2" | "fp8_e5m2" | "f8_e5m2" | "f8e5m2" | "float8_e5m2" | "e5m2" => {
                DType::F8E5M2
            }
            _ => return None,
        })
    }

    /// The coding dtype for a safetensors dtype string; integers and anything unknown are bytes.
    pub fn from_safetensors(s: &str) -> DType {
        match s {
            "BF16" => DType::BF16,
            "F16" => DType::F16,
            // complex64 and complex128: pairs of float32 and float64.
            "F32" | "C64" => DType::F32,
            "F64" | "C128" => DType::F64,
            "F8_E4M3" => DType::F8E4M3,
            "F8_E5M2" => DType::F8E5M2,
            _ => DType::Bytes,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::DType;

    #[test]
    fn every_type_in_code_order_and_by_name() {
        for (i, &d) in DType::ALL.iter().enumerate() {
            assert_eq!(d.code() as usize, i, "{d}");
            assert_eq!(DType::from_code(d.code()), Some(d));
            assert_eq!(DType::parse(d.name()), Some(d));
            assert_eq!(
                (0..d.groups()).map(|g| d.group_width(g)).sum::<usize>(),
                d.size(),
                "{d}"
            );
            assert!(d.groups() <= super::MAX_GROUPS, "{d}");
            // A block's fields and float16 numbers cover it exactly once.
            if let Some(b) = d.block() {
                let mut owner = alloc::vec![0u8; b.size];
                let halves = b.halves.iter().map(|&h| (h, 2));
                for (s, w) in b.fields.iter().copied().chain(halves) {
                    owner[s..s + w].iter_mut().for_each(|o| *o += 1);
                }
                assert!(owner.iter().all(|&o| o == 1), "{d}");
            }
        }
        assert_eq!(DType::from_code(DType::ALL.len() as u8), None);
    }
}
