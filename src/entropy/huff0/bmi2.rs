//! The four-stream huff0 decoder compiled a second time for x86-64 CPUs with BMI2, chosen at
//! run time: the crate's only `unsafe`.
//!
//! The portable x86-64 baseline has no BMI2, so each `bits <<= used` of the hot loop is a
//! `shl r, cl`, which Intel cores split into several µops; BMI2's `shlx` is one. A copy of the
//! decoder with BMI2 enabled decodes bf16 exponents ~12 % faster on the Intel Xeon here, and a
//! whole warm bf16 decode ~8 % (fp16 ~10 %), as much as building the whole crate for BMI2 gives
//! (bench/NOTES.md, session 39), and the binary stays portable. Calling a `#[target_feature]`
//! function from code compiled without that feature is `unsafe` in Rust: the caller vouches
//! that the CPU has it.
//!
//! The invariant to audit: [`decode_4x_jump`] calls `decode_4x_jump_bmi2` only after
//! `is_x86_feature_detected!("bmi2")` said yes on this CPU. Elsewhere (wasm, other
//! architectures, `no_std` builds, builds that target BMI2 already) both are the portable code.
//! `tests::bmi2_and_portable_loops_agree` holds the two to the same output and errors.
#![allow(unsafe_code)]

use super::decode::DecodeTable;
use super::{EntropyError, Jump};
use crate::entropy::Pace;

/// [`DecodeTable::decode_4x_jump`], in its BMI2 copy where the CPU has BMI2.
#[inline(always)]
pub(super) fn decode_4x_jump(
    table: &DecodeTable,
    streams: &[u8],
    dst: &mut [u8],
    jump: Jump,
    pace: &mut impl Pace,
) -> Result<(), EntropyError> {
    #[cfg(all(target_arch = "x86_64", feature = "std", not(target_feature = "bmi2")))]
    if std::is_x86_feature_detected!("bmi2") {
        // SAFETY: this CPU has BMI2, the only feature `decode_4x_jump_bmi2` enables (checked
        // on the line above; std caches the answer, so this is a load and a branch a block).
        return unsafe { table.decode_4x_jump_bmi2(streams, dst, jump, pace) };
    }
    table.decode_4x_jump(streams, dst, jump, pace)
}

impl DecodeTable {
    /// The same decoder inlined here (its loops are `inline(always)` on x86-64), so compiled
    /// with BMI2's `shlx`.
    #[cfg(all(target_arch = "x86_64", feature = "std", not(target_feature = "bmi2")))]
    #[target_feature(enable = "bmi2")]
    fn decode_4x_jump_bmi2(
        &self,
        streams: &[u8],
        dst: &mut [u8],
        jump: Jump,
        pace: &mut impl Pace,
    ) -> Result<(), EntropyError> {
        self.decode_4x_jump(streams, dst, jump, pace)
    }
}
