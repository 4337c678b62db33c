//! LEB128 varints, shared by the sparse block (mode 4), the LZ payload (mode 5) and the stream
//! sizes of the tANS and context payloads.
use super::EntropyError;
use alloc::vec::Vec;

pub(crate) fn put(mut v: usize, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `put(v)` writes.
pub(crate) fn len(v: usize) -> usize {
    (usize::BITS as usize - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads one varint at `*pos`: at most 5 bytes (35 bits), and a value that does not fit a
/// `usize` (on 32-bit hosts) is an error rather than a wrapped number.
pub(crate) fn get(src: &[u8], pos: &mut usize) -> Result<usize, EntropyError> {
    let mut v = 0u64;
    for shift in (0..35).step_by(7) {
        let b = *src.get(*pos).ok_or(EntropyError::Truncated)?;
        *pos += 1;
        v |= ((b & 0x7F) as u64) << shift;
        if b < 0x80 {
            return usize::try_from(v).map_err(|_| EntropyError::Corrupt("varint too large"));
        }
    }
    Err(EntropyError::Corrupt("varint too long"))
}
