//! NumPy `.npy` arrays (alone, or as the members of an `.npz` zip archive): a magic, a
//! Python-dict text header giving `descr` (the element type), `fortran_order` and `shape`,
//! then the raw little-endian elements.

use super::tensors::{shape, Tensor, MAX_RANK};
use crate::dtype::DType;
use alloc::string::String;
use alloc::vec::Vec;

const MAGIC: &[u8] = b"\x93NUMPY";

/// The value text after `'key':` in the header dict, up to the next top-level `,` or `}`.
fn value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(key)? + key.len();
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

/// `descr` → (label, coding type); `None` for types whose grouping is measured instead
/// (`<V2`: bfloat16 from ml_dtypes is saved as 2-byte voids; big-endian floats, whose bytes
/// are in the other order from the groups': as float32 a `>f4` array coded 21 % smaller than
/// as bytes, and the measured grouping 1 % smaller still).
fn descr_type(descr: &str) -> (String, Option<DType>) {
    let d = descr.trim_matches(['\'', '"']);
    let t = match d {
        // complex64 and complex128: pairs of float32 and float64.
        "<f4" | "<c8" => Some(DType::F32),
        "<f2" => Some(DType::F16),
        "<f8" | "<c16" => Some(DType::F64),
        "<V2" | "|V2" | ">f2" | ">f4" | ">f8" | ">c8" | ">c16" => None,
        _ => Some(DType::Bytes),
    };
    (d.into(), t)
}

/// The array of a `.npy` file that starts at `at` in `data` and ends at `end`, or `None` if
/// it is not one. `name` names the tensor.
pub fn array(data: &[u8], at: usize, end: usize, name: String) -> Option<Tensor> {
    let b = data.get(at..end)?;
    if !b.starts_with(MAGIC) {
        return None;
    }
    let (len, from): (usize, usize) = match *b.get(6)? {
        1 => (u16::from_le_bytes([*b.get(8)?, *b.get(9)?]) as usize, 10),
        2 | 3 => (
            u32::from_le_bytes(b.get(8..12)?.try_into().ok()?) as usize,
            12,
        ),
        _ => return None,
    };
    let start = from.checked_add(len)?;
    let header = core::str::from_utf8(b.get(from..start)?).ok()?;
    let (label, dtype) = descr_type(value(header, "'descr'")?);
    // Fortran order only changes which way rows run: the shape is still the array's, and the
    // label says the order (the encoder's row hint is then wrong, which costs `--best` a
    // little, never a byte).
    let label = if value(header, "'fortran_order'")? == "True" {
        alloc::format!("{label} (Fortran order)")
    } else {
        label
    };
    let dims = value(header, "'shape'")?
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(MAX_RANK + 1)
        .map(|s| s.trim_end_matches('L').parse::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    Some(Tensor {
        name,
        label,
        dtype,
        shape: shape(dims),
        start: (at + start) as u64,
        end: end as u64,
    })
}
