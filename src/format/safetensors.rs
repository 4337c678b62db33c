//! safetensors: an 8-byte little-endian header length, a JSON header, then the tensor data.
//! We only read the header to learn where each tensor is and what type it has; the bytes,
//! header included, are compressed and restored verbatim.

use crate::format::{json, Error};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// One entry of a safetensors header's tensor map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's key in the JSON header.
    pub name: String,
    /// The safetensors dtype string (`"BF16"`, `"F32"`, `"I64"`, ...).
    pub dtype: String,
    /// Dimensions as the header lists them (empty for a scalar).
    pub shape: Vec<u64>,
    /// Where the tensor's bytes start in the file (its `data_offsets` start plus
    /// [`Layout::data_start`]).
    pub start: u64,
    /// Where its bytes end in the file (exclusive), measured like `start`.
    pub end: u64,
}

/// What a safetensors header says: where the data starts, the tensors, the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Length of the 8-byte size prefix plus the JSON header: where tensor data begins.
    pub data_start: u64,
    /// Tensors sorted by offset.
    pub tensors: Vec<TensorInfo>,
    /// The raw `__metadata__` object, if any (string → string).
    pub metadata: Vec<(String, String)>,
    /// Whether the header has a `__metadata__` entry (it may be `{}`).
    pub has_metadata: bool,
}

/// Bytes per element of a safetensors dtype, when known.
pub fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" => 8,
        _ => return None,
    })
}

/// Largest JSON header we parse (the safetensors spec caps it at 100 MB).
pub const MAX_HEADER: u64 = 100_000_000;

/// Reads the layout of a safetensors file from its first bytes (`buf` must hold at least the
/// header; `file_len` is the whole file's length). Errors mean "not a valid safetensors file".
pub fn parse(buf: &[u8], file_len: u64) -> Result<Layout, Error> {
    let n = u64::from_le_bytes(
        buf.get(..8)
            .ok_or(Error::Truncated)?
            .try_into()
            .unwrap_or([0; 8]),
    );
    if !(2..=MAX_HEADER).contains(&n) || 8 + n > file_len {
        return Err(Error::corrupt("safetensors header length out of range"));
    }
    let json = buf.get(8..8 + n as usize).ok_or(Error::Truncated)?;
    if json[0] != b'{' {
        return Err(Error::corrupt("safetensors header is not a JSON object"));
    }
    let header = read_header(trim_padding(json))
        .map_err(|_| Error::corrupt("safetensors header is not valid JSON"))?;
    let data_start = 8 + n;
    let data_len = file_len - data_start;
    let mut tensors = Vec::with_capacity(header.entries.len());
    // In the order of their names, as serde_json's map gave them (the sort below is stable).
    for (name, v) in header.entries {
        let bad = || Error::corrupt(alloc::format!("tensor {name:?} has a malformed entry"));
        let v = v.ok_or_else(bad)?;
        let (dtype, shape) = v.dtype.zip(v.shape).ok_or_else(bad)?;
        let (s, e) = match v.data_offsets.as_deref() {
            Some(&[s, e]) => (s, e),
            _ => return Err(bad()),
        };
        if s > e || e > data_len {
            return Err(bad());
        }
        if let Some(size) = dtype_size(&dtype) {
            let elems = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            if elems.and_then(|n| n.checked_mul(size)) != Some(e - s) {
                return Err(bad());
            }
        }
        tensors.push(TensorInfo {
            name,
            dtype,
            shape,
            start: data_start + s,
            end: data_start + e,
        });
    }
    tensors.sort_by_key(|t| (t.start, t.end));
    if tensors.windows(2).any(|w| w[0].end > w[1].start) {
        return Err(Error::corrupt("safetensors tensors overlap"));
    }
    Ok(Layout {
        data_start,
        tensors,
        metadata: header.metadata.unwrap_or_default().into_iter().collect(),
        has_metadata: header.has_metadata,
    })
}

/// A header's entries as read: a key given twice keeps its last value, as in serde_json's map.
struct Header {
    /// Each tensor's fields, `None` where its value is not an object.
    entries: BTreeMap<String, Option<Entry>>,
    has_metadata: bool,
    /// `__metadata__` when it is an object: values other than strings read as "".
    metadata: Option<BTreeMap<String, String>>,
}

/// A tensor's fields, each `None` when missing or of another type.
#[derive(Default)]
struct Entry {
    dtype: Option<String>,
    shape: Option<Vec<u64>>,
    data_offsets: Option<Vec<u64>>,
}

fn read_header(json: &[u8]) -> Result<Header, json::Bad> {
    let mut h = Header {
        entries: BTreeMap::new(),
        has_metadata: false,
        metadata: None,
    };
    let mut r = json::Reader::new(json);
    r.object(|r, key| {
        if key == "__metadata__" {
            h.has_metadata = true;
            h.metadata = r.object_or_skip(|r, k, m: &mut BTreeMap<_, _>| {
                m.insert(k, r.string_or_skip()?.unwrap_or_default());
                Ok(())
            })?;
        } else {
            let entry = r.object_or_skip(|r, field, e: &mut Entry| {
                match field.as_str() {
                    "dtype" => e.dtype = r.string_or_skip()?,
                    "shape" => e.shape = r.u64_array_or_skip()?,
                    "data_offsets" => e.data_offsets = r.u64_array_or_skip()?,
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            h.entries.insert(key, entry);
        }
        Ok(())
    })?;
    r.end()?;
    Ok(h)
}

/// The spec allows trailing spaces after the JSON object (writers pad to 8 bytes).
fn trim_padding(json: &[u8]) -> &[u8] {
    let end = json.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
    &json[..end]
}

/// Writes a safetensors header (length prefix + JSON, space-padded to a multiple of 8).
/// `entries` are (name, dtype, shape, start, end) relative to the data section, in file order;
/// `__metadata__` is written when `metadata` is not empty.
pub fn write_header(
    entries: &[(String, String, Vec<u64>, u64, u64)],
    metadata: &[(String, String)],
    out: &mut Vec<u8>,
) {
    write_header_as_saved(entries, (!metadata.is_empty()).then_some(metadata), out)
}

/// [`write_header`] byte for byte as the `safetensors` library's `save_file` writes it (serde_json,
/// compact): `__metadata__` first when given (also when empty), then each entry in the order
/// given with its fields in the order `dtype`, `shape`, `data_offsets`.
pub fn write_header_as_saved(
    entries: &[(String, String, Vec<u64>, u64, u64)],
    metadata: Option<&[(String, String)]>,
    out: &mut Vec<u8>,
) {
    use core::fmt::Write;
    // serde_json's escaping of a string, quotes included (the library's own).
    let quoted = |s: &str| {
        let mut q = String::new();
        json::push_quoted(&mut q, s);
        q
    };
    let mut json = String::from("{");
    if let Some(m) = metadata {
        json.push_str("\"__metadata__\":{");
        for (i, (k, v)) in m.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            let _ = write!(json, "{sep}{}:{}", quoted(k), quoted(v));
        }
        json.push('}');
    }
    for (i, (name, dtype, shape, s, e)) in entries.iter().enumerate() {
        let sep = if i > 0 || metadata.is_some() { "," } else { "" };
        let dims: Vec<String> = shape.iter().map(|d| alloc::format!("{d}")).collect();
        let _ = write!(
            json,
            "{sep}{}:{{\"dtype\":{},\"shape\":[{}],\"data_offsets\":[{s},{e}]}}",
            quoted(name),
            quoted(dtype),
            dims.join(",")
        );
    }
    json.push('}');
    let mut json = json.into_bytes();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
}

/// Where `save_file` puts a tensor of `dtype`: it sorts tensors by dtype, in the reverse of the
/// order the library declares them (`U64` first, `BOOL` last), then by name. `None` for a type
/// it does not know.
pub fn saved_rank(dtype: &str) -> Option<u8> {
    const DECLARED: [&str; 20] = [
        "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16",
        "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64",
    ];
    DECLARED
        .iter()
        .position(|&d| d == dtype)
        .map(|i| (DECLARED.len() - 1 - i) as u8)
}
