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
//! ggml's legacy quantised blocks (GGUF's Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) are one or two
//! float16 numbers (a scale; a scale and a minimum) and then the packed weights: groups of
//! unequal widths, the weights (16 to 32 bytes an element), then each float16's two bytes
//! as float16's groups. Coded among the weights, the float16 bytes cost 1.7 % of a Q8_0
//! model's size and 3 % of a Q4_0 one's (minilm's weights).

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
}

impl DType {
    /// Every type, in code order.
    pub const ALL: [DType; 12] = [
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
    ];

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::Bytes | DType::F8E4M3 | DType::F8E5M2 => 1,
            DType::BF16 | DType::F16 => 2,
            DType::F32 => 4,
            DType::F64 => 8,
            _ => match self.block() {
                Some((halves, weights)) => 2 * halves + weights,
                None => 0,
            },
        }
    }

    /// A ggml block type's float16 numbers and bytes of weights after them; `None` for the
    /// other types.
    pub const fn block(self) -> Option<(usize, usize)> {
        Some(match self {
            DType::Q4_0 => (1, 16),
            DType::Q4_1 => (2, 16),
            DType::Q5_0 => (1, 20),
            DType::Q5_1 => (2, 20),
            DType::Q8_0 => (1, 32),
            _ => return None,
        })
    }

    /// Number of byte groups (streams) a chunk of this type is split into.
    pub const fn groups(self) -> usize {
        match self.block() {
            Some((halves, _)) => 1 + 2 * halves,
            None => self.size(),
        }
    }

    /// Bytes of each element in group `g` (1 but for a block's weights, group 0).
    pub const fn group_width(self, g: usize) -> usize {
        match self.block() {
            Some((_, weights)) if g == 0 => weights,
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
        }
        assert_eq!(DType::from_code(DType::ALL.len() as u8), None);
    }
}
