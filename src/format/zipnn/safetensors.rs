//! `.znn.safetensors`: a valid safetensors file in which each compressed tensor is a 1-D `U8`
//! tensor holding one ZN frame (torch input format, so it carries the shape), listed in
//! `__metadata__["znn_compressed_vectors"]` as `{name: {"dtype": "bfloat16", "shape": "[..]"}}`.
//!
//! Decoding restores every tensor (name, dtype, shape, bytes) and writes a new safetensors
//! header; the file is tensor-identical to the original, not byte-identical: the JSON header is
//! regenerated (key order, spacing and padding may differ from the original writer's) and
//! `znn_compressed_vectors` is removed from the metadata.

use super::{decode_frame, FrameHeader, ZDType};
use crate::format::safetensors::{self as st, TensorInfo};
use crate::format::{to_usize, Error, Limits};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

pub const METADATA_KEY: &str = "znn_compressed_vectors";

/// How the original tensor looked, from the metadata entry or, failing that, the frame.
struct Original {
    dtype: String,
    shape: Vec<u64>,
}

/// True for a safetensors file that zipnn's `compress_safetensors` produced.
pub fn is_znn_safetensors(data: &[u8]) -> bool {
    let Ok(l) = st::parse(data, data.len() as u64) else {
        return false;
    };
    l.metadata.iter().any(|(k, _)| k == METADATA_KEY)
        || l.tensors
            .iter()
            .any(|t| t.dtype == "U8" && super::is_zipnn(&data[t.start as usize..t.end as usize]))
}

fn safetensors_dtype(d: ZDType) -> &'static str {
    match d {
        ZDType::F32 => "F32",
        ZDType::F16 => "F16",
        ZDType::BF16 => "BF16",
        ZDType::F8E4M3 => "F8_E4M3",
        ZDType::F8E5M2 => "F8_E5M2",
    }
}

fn from_torch_name(s: &str) -> Option<&'static str> {
    Some(match s.trim_start_matches("torch.") {
        "float32" => "F32",
        "float16" => "F16",
        "bfloat16" => "BF16",
        "float8_e4m3fn" => "F8_E4M3",
        "float8_e5m2" => "F8_E5M2",
        _ => return None,
    })
}

/// Parses `"[4096, 4096]"`.
fn parse_shape(s: &str) -> Option<Vec<u64>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner.split(',').map(|d| d.trim().parse().ok()).collect()
}

fn originals(meta: &str) -> Result<Vec<(String, Original)>, Error> {
    let v: serde_json::Value = serde_json::from_str(meta)
        .map_err(|_| Error::corrupt("znn_compressed_vectors is not JSON"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::corrupt("znn_compressed_vectors is not an object"))?;
    let mut out = Vec::with_capacity(obj.len());
    for (name, e) in obj {
        let bad = || Error::corrupt(alloc::format!("znn_compressed_vectors entry {name:?}"));
        let dtype = e
            .get("dtype")
            .and_then(|d| d.as_str())
            .and_then(from_torch_name)
            .ok_or_else(bad)?;
        let shape = match e.get("shape") {
            Some(serde_json::Value::String(s)) => parse_shape(s).ok_or_else(bad)?,
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|d| d.as_u64())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        out.push((
            name.clone(),
            Original {
                dtype: dtype.into(),
                shape,
            },
        ));
    }
    Ok(out)
}

/// Restores the original safetensors file.
pub fn decompress(data: &[u8], limits: &Limits) -> Result<Vec<u8>, Error> {
    let layout = st::parse(data, data.len() as u64)?;
    let meta = layout.metadata.iter().find(|(k, _)| k == METADATA_KEY);
    let listed = match meta {
        Some((_, m)) => originals(m)?,
        None => Vec::new(),
    };
    // A map, not a scan per tensor: with tens of thousands of tensors a scan is quadratic
    // (a 5 MB hostile header took 16 s).
    let by_name: BTreeMap<&str, &Original> = listed.iter().map(|(n, o)| (n.as_str(), o)).collect();
    let metadata: Vec<(String, String)> = layout
        .metadata
        .iter()
        .filter(|(k, _)| k != METADATA_KEY)
        .cloned()
        .collect();

    // Plan the output: every tensor in file order, compressed ones at their original size.
    struct Item<'a> {
        info: &'a TensorInfo,
        frame: Option<FrameHeader>,
        dtype: String,
        shape: Vec<u64>,
        len: u64,
    }
    let mut items = Vec::with_capacity(layout.tensors.len());
    for t in &layout.tensors {
        let bytes = &data[to_usize(t.start)?..to_usize(t.end)?];
        let orig = by_name.get(t.name.as_str()).copied();
        // zipnn drops the metadata entry when the source file had no `__metadata__`; then a
        // U8 tensor that is exactly one torch-format ZN frame is taken as compressed.
        let unlisted_frame = listed.is_empty()
            && t.dtype == "U8"
            && super::is_zipnn(bytes)
            && FrameHeader::parse(bytes)
                .is_ok_and(|h| h.frame_len == bytes.len() as u64 && h.input_format == 2);
        if orig.is_some() || unlisted_frame {
            if t.dtype != "U8" {
                return Err(Error::corrupt(alloc::format!(
                    "compressed tensor {:?} is not U8",
                    t.name
                )));
            }
            let h = FrameHeader::parse(bytes)?;
            if h.frame_len != bytes.len() as u64 {
                return Err(Error::corrupt(alloc::format!(
                    "tensor {:?}: frame length mismatch",
                    t.name
                )));
            }
            let (dtype, shape) = match orig {
                Some(o) => (o.dtype.clone(), o.shape.clone()),
                None => (
                    String::from(safetensors_dtype(h.dtype)),
                    h.shape.clone().unwrap_or_default(),
                ),
            };
            let want = st::dtype_size(&dtype)
                .and_then(|s| shape.iter().try_fold(s, |a, &d| a.checked_mul(d)));
            if want != Some(h.orig_len) {
                return Err(Error::corrupt(alloc::format!(
                    "tensor {:?}: shape does not match its data",
                    t.name
                )));
            }
            items.push(Item {
                info: t,
                len: h.orig_len,
                frame: Some(h),
                dtype,
                shape,
            });
        } else {
            items.push(Item {
                info: t,
                frame: None,
                dtype: t.dtype.clone(),
                shape: t.shape.clone(),
                len: t.end - t.start,
            });
        }
    }
    let mut entries = Vec::with_capacity(items.len());
    let mut pos = 0u64;
    for it in &items {
        entries.push((
            it.info.name.clone(),
            it.dtype.clone(),
            it.shape.clone(),
            pos,
            pos + it.len,
        ));
        pos = pos
            .checked_add(it.len)
            .ok_or_else(|| Error::corrupt("sizes overflow"))?;
    }
    let mut out = Vec::new();
    st::write_header(&entries, &metadata, &mut out);
    let total = (out.len() as u64)
        .checked_add(pos)
        .ok_or_else(|| Error::corrupt("sizes overflow"))?;
    if total > limits.max_output {
        return Err(Error::TooLarge {
            size: total,
            limit: limits.max_output,
        });
    }
    for it in &items {
        if let Some(h) = &it.frame {
            h.check_tables((it.info.end - it.info.start) as usize)?;
        }
    }
    out.try_reserve_exact(to_usize(pos)?)
        .map_err(|_| Error::TooLarge {
            size: total,
            limit: limits.max_output,
        })?;
    for it in &items {
        let src = &data[it.info.start as usize..it.info.end as usize];
        match &it.frame {
            None => out.extend_from_slice(src),
            Some(h) => {
                if h.delta != 0 {
                    return Err(Error::Unsupported(
                        "delta frame inside .znn.safetensors".into(),
                    ));
                }
                let at = out.len();
                out.resize(at + it.len as usize, 0);
                decode_frame(src, h, &mut out[at..])?;
            }
        }
    }
    Ok(out)
}
