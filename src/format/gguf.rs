//! GGUF (llama.cpp): header, key/value metadata, tensor infos, then aligned tensor data.
//! F32/F16/BF16 tensors are grouped like any float, the quantized blocks (Q4_0 to Q8_0, Q2_K
//! to Q6_K) as their block types ([`DType::block`]); others (Q8_K, IQ types) are coded as bytes.

use super::tensors::Tensor;
use crate::dtype::DType;
use alloc::string::String;
use alloc::vec::Vec;

struct R<'a> {
    b: &'a [u8],
    pos: usize,
}

impl R<'_> {
    fn take(&mut self, n: u64) -> Option<&[u8]> {
        let end = self.pos.checked_add(usize::try_from(n).ok()?)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u64()?;
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    /// Skips a metadata value of type `t`; returns it when it is a u32 (for the alignment).
    fn value(&mut self, t: u32, depth: u32) -> Option<Option<u64>> {
        let fixed = match t {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => {
                self.string()?;
                return Some(None);
            }
            9 if depth == 0 => {
                let (et, n) = (self.u32()?, self.u64()?);
                if n > self.b.len() as u64 {
                    return None;
                }
                for _ in 0..n {
                    self.value(et, depth + 1)?;
                }
                return Some(None);
            }
            _ => return None,
        };
        let v = self.take(fixed)?;
        Some((t == 4).then(|| u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as u64))
    }
}

/// (name, block elements, block bytes) of the ggml types; `None` for unknown ones.
fn ggml_type(t: u32) -> Option<(&'static str, u64, u64)> {
    Some(match t {
        0 => ("F32", 1, 4),
        1 => ("F16", 1, 2),
        2 => ("Q4_0", 32, 18),
        3 => ("Q4_1", 32, 20),
        6 => ("Q5_0", 32, 22),
        7 => ("Q5_1", 32, 24),
        8 => ("Q8_0", 32, 34),
        9 => ("Q8_1", 32, 36),
        10 => ("Q2_K", 256, 84),
        11 => ("Q3_K", 256, 110),
        12 => ("Q4_K", 256, 144),
        13 => ("Q5_K", 256, 176),
        14 => ("Q6_K", 256, 210),
        15 => ("Q8_K", 256, 292),
        24 => ("I8", 1, 1),
        25 => ("I16", 1, 2),
        26 => ("I32", 1, 4),
        27 => ("I64", 1, 8),
        28 => ("F64", 1, 8),
        30 => ("BF16", 1, 2),
        _ => return None,
    })
}

/// The tensors of a GGUF file (versions 2 and 3), or `None` if `data` is not one.
pub fn tensors(data: &[u8]) -> Option<Vec<Tensor>> {
    let mut r = R { b: data, pos: 0 };
    if r.take(4)? != b"GGUF" || !matches!(r.u32()?, 2 | 3) {
        return None;
    }
    let (n_tensors, n_kv) = (r.u64()?, r.u64()?);
    if n_tensors > data.len() as u64 / 24 || n_kv > data.len() as u64 / 12 {
        return None;
    }
    let mut alignment = 32;
    for _ in 0..n_kv {
        let key = r.string()?;
        let t = r.u32()?;
        if let Some(v) = r.value(t, 0)? {
            if key == "general.alignment" && v.is_power_of_two() {
                alignment = v;
            }
        }
    }
    let mut infos = Vec::new();
    for _ in 0..n_tensors {
        let name = r.string()?;
        let ndim = r.u32()?;
        if ndim > 8 {
            return None;
        }
        let shape = (0..ndim).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
        let (t, offset) = (r.u32()?, r.u64()?);
        infos.push((name, shape, t, offset));
    }
    let data_start = (r.pos as u64).div_ceil(alignment) * alignment;
    let mut out = Vec::with_capacity(infos.len());
    for (name, shape, t, offset) in infos {
        let start = data_start.checked_add(offset)?;
        let elems = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))?;
        let (label, dtype, len) = match ggml_type(t) {
            Some((label, be, bb)) => {
                let dtype = match t {
                    0 => DType::F32,
                    1 => DType::F16,
                    30 => DType::BF16,
                    28 => DType::F64,
                    2 => DType::Q4_0,
                    3 => DType::Q4_1,
                    6 => DType::Q5_0,
                    7 => DType::Q5_1,
                    8 => DType::Q8_0,
                    10 => DType::Q2K,
                    11 => DType::Q3K,
                    12 => DType::Q4K,
                    13 => DType::Q5K,
                    14 => DType::Q6K,
                    _ => DType::Bytes,
                };
                (label, dtype, elems.div_ceil(be).checked_mul(bb)?)
            }
            None => continue, // unknown type: its bytes stay in the gaps, coded as bytes
        };
        out.push(Tensor {
            name,
            label: label.into(),
            dtype: Some(dtype),
            shape,
            start,
            end: start.checked_add(len)?,
        });
    }
    Some(out)
}
