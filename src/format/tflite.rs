//! TensorFlow Lite models are FlatBuffers (`Model` root table, file identifier `TFL3`). The
//! weights are `Buffer`s: a `data` byte vector inside the file, or (models over 2 GiB) an
//! `offset`/`size` pair pointing past the FlatBuffer. Each buffer's element type comes from
//! the first `Tensor` that names it. A small read-only FlatBuffers walker: no schema compiler.

use super::tensors::{Tensor, MAX_RANK};
use crate::dtype::DType;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

fn u16_at(b: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(p..p.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(b: &[u8], p: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(p..p.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(b: &[u8], p: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(p..p.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Follows the unsigned offset stored at `p` (FlatBuffers offsets are relative to themselves).
fn deref(b: &[u8], p: usize) -> Option<usize> {
    let t = p.checked_add(u32_at(b, p)? as usize)?;
    (t < b.len()).then_some(t)
}

/// A table: its position and its vtable's.
#[derive(Clone, Copy)]
struct Table {
    pos: usize,
    vt: usize,
    vt_len: usize,
}

impl Table {
    fn at(b: &[u8], pos: usize) -> Option<Table> {
        // The table starts with a signed offset back (usually) to its vtable.
        let soff = u32_at(b, pos)? as i32 as i64;
        let vt = usize::try_from(pos as i64 - soff).ok()?;
        let vt_len = u16_at(b, vt)? as usize;
        (vt_len >= 4 && vt_len.is_multiple_of(2) && vt.checked_add(vt_len)? <= b.len())
            .then_some(Table { pos, vt, vt_len })
    }
    /// Where field `id` is stored, or `None` when it is absent (then it has its default).
    fn field(&self, b: &[u8], id: usize) -> Option<usize> {
        let slot = 4 + 2 * id;
        if slot + 2 > self.vt_len {
            return None;
        }
        match u16_at(b, self.vt + slot)? {
            0 => None,
            off => self.pos.checked_add(off as usize),
        }
    }
    /// A vector field: (first element, element count), the count bounded by the file.
    fn vector(&self, b: &[u8], id: usize, elem: usize) -> Option<(usize, usize)> {
        let v = deref(b, self.field(b, id)?)?;
        let n = u32_at(b, v)? as usize;
        let start = v + 4;
        (n.checked_mul(elem)?.checked_add(start)? <= b.len()).then_some((start, n))
    }
    /// The `i`-th table of a vector of tables.
    fn nth(b: &[u8], (start, n): (usize, usize), i: usize) -> Option<Table> {
        (i < n).then_some(())?;
        Table::at(b, deref(b, start + 4 * i)?)
    }
}

/// TFLite `TensorType` → (name, coding type).
fn tensor_type(t: u8) -> (&'static str, DType) {
    match t {
        0 => ("FLOAT32", DType::F32),
        1 => ("FLOAT16", DType::F16),
        18 => ("BFLOAT16", DType::BF16),
        2 => ("INT32", DType::Bytes),
        3 => ("UINT8", DType::Bytes),
        4 => ("INT64", DType::Bytes),
        5 => ("STRING", DType::Bytes),
        6 => ("BOOL", DType::Bytes),
        7 => ("INT16", DType::Bytes),
        9 => ("INT8", DType::Bytes),
        10 => ("FLOAT64", DType::F64),
        17 => ("INT4", DType::Bytes),
        _ => ("OTHER", DType::Bytes),
    }
}

/// The weight buffers of a TFLite model, or `None` if `data` is not one.
pub fn tensors(data: &[u8]) -> Option<Vec<Tensor>> {
    if data.get(4..8)? != b"TFL3" {
        return None;
    }
    let model = Table::at(data, deref(data, 0)?)?;
    let buffers = model.vector(data, 4, 4)?;
    // buffer index -> (name, type, shape) of the first tensor that uses it
    let mut users: BTreeMap<usize, (String, u8, Vec<u64>)> = BTreeMap::new();
    // Bytes read as tensor entries, names and shapes. A FlatBuffer can point many entries at
    // one table, string or vector (quadratic time and copies); a real model reads each once,
    // so more than the file's length means a hostile file.
    let mut budget = data.len();
    let mut spend = |n: usize| {
        budget = budget.checked_sub(n)?;
        Some(())
    };
    if let Some(subgraphs) = model.vector(data, 2, 4) {
        for s in 0..subgraphs.1 {
            let sg = Table::nth(data, subgraphs, s)?;
            let Some(ts) = sg.vector(data, 0, 4) else {
                continue;
            };
            for i in 0..ts.1 {
                spend(4)?;
                let t = Table::nth(data, ts, i)?;
                let buffer = match t.field(data, 2) {
                    Some(p) => u32_at(data, p)? as usize,
                    None => 0,
                };
                // Buffer 0 is the empty sentinel; activations point there.
                if buffer == 0 || buffer >= buffers.1 || users.contains_key(&buffer) {
                    continue;
                }
                let ty = match t.field(data, 1) {
                    Some(p) => *data.get(p)?,
                    None => 0,
                };
                let name = match t.field(data, 3).and_then(|p| deref(data, p)) {
                    Some(v) => {
                        let n = u32_at(data, v)? as usize;
                        spend(n)?;
                        let bytes = data.get(v + 4..(v + 4).checked_add(n)?)?;
                        String::from_utf8_lossy(bytes).into_owned()
                    }
                    None => String::new(),
                };
                let shape = match t.vector(data, 0, 4) {
                    // (Past MAX_RANK no shape is kept: none is read.)
                    Some((start, n)) if n <= MAX_RANK => {
                        spend(4 * n)?;
                        (0..n)
                            .map(|k| u32_at(data, start + 4 * k).map(|d| d as i32))
                            .collect::<Option<Vec<i32>>>()?
                            .into_iter()
                            .map(|d| u64::try_from(d).ok())
                            .collect::<Option<Vec<u64>>>()
                            .unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                users.insert(buffer, (name, ty, shape));
            }
        }
    }
    let mut out = Vec::with_capacity(users.len());
    for (index, (name, ty, shape)) in users {
        let buf = Table::nth(data, buffers, index)?;
        let (start, len) = if let Some((start, n)) = buf.vector(data, 0, 1) {
            (start as u64, n as u64)
        } else {
            // Large models keep the bytes after the FlatBuffer, addressed from the file start.
            match (buf.field(data, 1), buf.field(data, 2)) {
                (Some(o), Some(s)) => (u64_at(data, o)?, u64_at(data, s)?),
                _ => continue,
            }
        };
        let (label, dtype) = tensor_type(ty);
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
