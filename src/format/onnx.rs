//! ONNX models are protobuf `ModelProto`s; the weights are `TensorProto`s (initializers and
//! constants, also inside the subgraphs of `If`/`Loop` nodes) whose `raw_data` or packed
//! `float_data` we locate. A small read-only protobuf walker: no schema compiler, no copies.

use super::tensors::{shape, Tensor, MAX_RANK};
use crate::dtype::DType;
use alloc::string::String;
use alloc::vec::Vec;

/// Deepest nesting of graphs we follow (hostile files cannot recurse without bound).
const MAX_DEPTH: u32 = 16;

struct Field<'a> {
    number: u64,
    /// Wire type 0/1/5: the value; wire type 2: the length.
    value: u64,
    /// Wire type 2 only: the payload and its offset in the file.
    bytes: Option<(&'a [u8], usize)>,
}

/// Iterates the fields of one message located at `base` in the file.
struct Fields<'a> {
    buf: &'a [u8],
    base: usize,
    pos: usize,
    bad: bool,
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7F) as u64) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;
    fn next(&mut self) -> Option<Field<'a>> {
        if self.pos >= self.buf.len() || self.bad {
            return None;
        }
        let r = (|| {
            let key = varint(self.buf, &mut self.pos)?;
            let (number, wire) = (key >> 3, key & 7);
            if number == 0 {
                return None;
            }
            match wire {
                0 => Some(Field {
                    number,
                    value: varint(self.buf, &mut self.pos)?,
                    bytes: None,
                }),
                1 | 5 => {
                    let n = if wire == 1 { 8 } else { 4 };
                    let b = self.buf.get(self.pos..self.pos + n)?;
                    self.pos += n;
                    let mut v = [0u8; 8];
                    v[..n].copy_from_slice(b);
                    Some(Field {
                        number,
                        value: u64::from_le_bytes(v),
                        bytes: None,
                    })
                }
                2 => {
                    let len = usize::try_from(varint(self.buf, &mut self.pos)?).ok()?;
                    let end = self.pos.checked_add(len)?;
                    let b = self.buf.get(self.pos..end)?;
                    let at = self.base + self.pos;
                    self.pos = end;
                    Some(Field {
                        number,
                        value: len as u64,
                        bytes: Some((b, at)),
                    })
                }
                _ => None,
            }
        })();
        if r.is_none() {
            self.bad = true;
        }
        r
    }
}

fn fields(buf: &[u8], base: usize) -> Fields<'_> {
    Fields {
        buf,
        base,
        pos: 0,
        bad: false,
    }
}

/// Parses the whole message; `None` if it is not well-formed protobuf.
fn well_formed(buf: &[u8]) -> bool {
    let mut f = fields(buf, 0);
    for _ in f.by_ref() {}
    !f.bad
}

/// ONNX `TensorProto.DataType` → (name, coding type).
fn data_type(t: u64) -> (&'static str, DType) {
    match t {
        1 => ("FLOAT", DType::F32),
        10 => ("FLOAT16", DType::F16),
        16 => ("BFLOAT16", DType::BF16),
        17 => ("FLOAT8E4M3FN", DType::F8E4M3),
        19 => ("FLOAT8E5M2", DType::F8E5M2),
        2 => ("UINT8", DType::Bytes),
        3 => ("INT8", DType::Bytes),
        6 => ("INT32", DType::Bytes),
        7 => ("INT64", DType::Bytes),
        9 => ("BOOL", DType::Bytes),
        11 => ("DOUBLE", DType::F64),
        _ => ("OTHER", DType::Bytes),
    }
}

/// A typed field's (label, coding type).
type Typed = (&'static str, DType);

/// TensorProto: dims = 1, data_type = 2, float_data = 4 (packed), name = 8, raw_data = 9,
/// double_data = 10 (packed). Packed floats are little-endian elements back to back, as in
/// raw_data.
/// `fallback` names tensors that have no name of their own (constants inside nodes).
fn tensor(buf: &[u8], base: usize, fallback: &str, out: &mut Vec<Tensor>) {
    let (mut dims, mut dt, mut name) = (Vec::new(), 0u64, String::new());
    // start, len, and the type of a typed field (raw_data's is data_type's)
    let mut data: Option<(usize, usize, Option<Typed>)> = None;
    for f in fields(buf, base) {
        match (f.number, f.bytes) {
            // (Kept to one past MAX_RANK: `shape` below drops them then.)
            (1, None) if dims.len() <= MAX_RANK => dims.push(f.value),
            (1, Some((b, _))) => {
                let mut p = 0;
                while let Some(v) = varint(b, &mut p).filter(|_| dims.len() <= MAX_RANK) {
                    dims.push(v);
                }
            }
            (2, None) => dt = f.value,
            (8, Some((b, _))) => name = String::from_utf8_lossy(b).into_owned(),
            (9, Some((b, at))) => data = Some((at, b.len(), None)),
            (4, Some((b, at))) => data = Some((at, b.len(), Some(("FLOAT", DType::F32)))),
            (10, Some((b, at))) => data = Some((at, b.len(), Some(("DOUBLE", DType::F64)))),
            _ => {}
        }
    }
    if name.is_empty() {
        // One node can hold many constants: a long node name copied to each would grow
        // quadratically with the file, so only a short one is.
        name = String::from(if fallback.len() <= 256 { fallback } else { "" });
    }
    // Tiny constants (shapes, axes) are coded as bytes anyway; listing them would only grow
    // the header.
    if let Some((start, len, typed)) = data.filter(|d| d.1 >= 64) {
        let (label, dtype) = typed.unwrap_or_else(|| data_type(dt));
        out.push(Tensor {
            name,
            label: label.into(),
            dtype: Some(dtype),
            shape: shape(dims),
            start: start as u64,
            end: (start + len) as u64,
        });
    }
}

/// GraphProto: node = 1, initializer = 5, sparse_initializer = 15 (values = 1, a TensorProto).
fn graph(buf: &[u8], base: usize, depth: u32, out: &mut Vec<Tensor>) {
    if depth > MAX_DEPTH {
        return;
    }
    for f in fields(buf, base) {
        let Some((b, at)) = f.bytes else { continue };
        match f.number {
            5 => tensor(b, at, "", out),
            1 => node(b, at, depth, out),
            15 => {
                for g in fields(b, at) {
                    if let (1, Some((b, at))) = (g.number, g.bytes) {
                        tensor(b, at, "", out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// NodeProto: output = 2, name = 3, attribute = 5. AttributeProto: t = 5, g = 6,
/// tensors = 10, graphs = 11. A constant's tensor is named after its node (or output).
fn node(buf: &[u8], base: usize, depth: u32, out: &mut Vec<Tensor>) {
    let mut label = String::new();
    for f in fields(buf, base) {
        match (f.number, f.bytes) {
            (3, Some((b, _))) => label = String::from_utf8_lossy(b).into_owned(),
            (2, Some((b, _))) if label.is_empty() => {
                label = String::from_utf8_lossy(b).into_owned()
            }
            _ => {}
        }
    }
    for f in fields(buf, base) {
        let (5, Some((attr, at))) = (f.number, f.bytes) else {
            continue;
        };
        for a in fields(attr, at) {
            let Some((b, at)) = a.bytes else { continue };
            match a.number {
                5 | 10 => tensor(b, at, &label, out),
                6 | 11 => graph(b, at, depth + 1, out),
                _ => {}
            }
        }
    }
}

/// The tensors of an ONNX model, or `None` if `data` is not one. ModelProto: ir_version = 1
/// (written first by every exporter), graph = 7, functions = 25 (FunctionProto.node = 7).
pub fn tensors(data: &[u8]) -> Option<Vec<Tensor>> {
    if data.first() != Some(&0x08) || !well_formed(data) {
        return None;
    }
    let mut out = Vec::new();
    let mut has_graph = false;
    for f in fields(data, 0) {
        match (f.number, f.bytes) {
            (7, Some((b, at))) => {
                has_graph = true;
                graph(b, at, 0, &mut out);
            }
            (25, Some((b, at))) => {
                for g in fields(b, at) {
                    if let (7, Some((b, at))) = (g.number, g.bytes) {
                        node(b, at, 1, &mut out);
                    }
                }
            }
            _ => {}
        }
    }
    has_graph.then_some(out)
}
