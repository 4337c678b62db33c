//! Container awareness: each tensor found and coded with its own type; round trips exact.

mod common;

use common::*;
use zipnn_wasm::format::tensors;
use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::{DType, Limits};

fn gguf(tensors: &[(&str, u32, Vec<u64>, Vec<u8>)]) -> Vec<u8> {
    let s = |out: &mut Vec<u8>, v: &str| {
        out.extend_from_slice(&(v.len() as u64).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
    };
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&2u64.to_le_bytes());
    s(&mut out, "general.name");
    out.extend_from_slice(&8u32.to_le_bytes());
    s(&mut out, "tiny");
    s(&mut out, "general.alignment");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&64u32.to_le_bytes());
    let mut off = 0u64;
    let mut offsets = Vec::new();
    for (name, t, shape, data) in tensors {
        s(&mut out, name);
        out.extend_from_slice(&(shape.len() as u32).to_le_bytes());
        for d in shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
        offsets.push(off);
        off = (off + data.len() as u64).div_ceil(64) * 64;
    }
    let start = out.len().div_ceil(64) * 64;
    out.resize(start, 0);
    for ((_, _, _, data), o) in tensors.iter().zip(offsets) {
        out.resize(start + o as usize, 0);
        out.extend_from_slice(data);
    }
    out
}

fn check(file: &[u8], want: &[(&str, DType)]) {
    let packed = znw::compress(
        file,
        &Options {
            verify: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert!(zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == file);
    let report = znw::inspect(&packed).unwrap();
    for (name, dtype) in want {
        let s = report
            .segments
            .iter()
            .find(|s| s.name == *name)
            .unwrap_or_else(|| panic!("no segment {name}"));
        assert_eq!(s.dtype, dtype.name(), "{name}");
    }
}

#[test]
fn gguf_tensors_are_found() {
    let mut rng = Rng(31);
    let file = gguf(&[
        ("tok.weight", 0, vec![1000], f32_weights(&mut rng, 1000)),
        ("blk.0.attn", 30, vec![50, 40], bf16_weights(&mut rng, 2000)),
        ("blk.0.q4", 2, vec![64], rng.bytes(36)),
    ]);
    let layout = tensors::detect(&file).unwrap();
    assert_eq!(layout.tensors.len(), 3);
    check(
        &file,
        &[
            ("tok.weight", DType::F32),
            ("blk.0.attn", DType::BF16),
            ("blk.0.q4", DType::Bytes),
        ],
    );
    // Hostile: a tensor count beyond the file is not a GGUF layout, and still round-trips.
    let mut bad = file.clone();
    bad[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(tensors::detect(&bad).is_none());
    check(&bad, &[]);
}

#[test]
fn raw_files_get_a_measured_type_with_auto() {
    let mut rng = Rng(37);
    let data = bf16_weights(&mut rng, 200_000);
    let opts = Options {
        dtype: DTypeChoice::Auto,
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    assert_eq!(znw::inspect(&packed).unwrap().segments[0].dtype, "bf16");
    let random = rng.bytes(100_000);
    let packed = znw::compress(&random, &opts).unwrap();
    assert_eq!(znw::inspect(&packed).unwrap().segments[0].dtype, "bytes");
}

fn model(name: &str) -> Option<Vec<u8>> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name);
    std::fs::read(p).ok().or_else(|| {
        assert!(
            std::env::var("ZIPNN_SKIP_MODELS").is_ok(),
            "models/{name} missing: run scripts/fetch-models.sh"
        );
        None
    })
}

#[test]
fn onnx_initializers_are_found() {
    let Some(file) = model("silero_vad.onnx") else {
        return;
    };
    let layout = tensors::detect(&file).unwrap();
    assert_eq!(layout.container, zipnn_wasm::format::Container::Onnx);
    let floats = layout
        .tensors
        .iter()
        .filter(|t| t.dtype == Some(DType::F32))
        .count();
    assert!(floats > 10, "{floats} float tensors");
    let bytes: u64 = layout.tensors.iter().map(|t| t.end - t.start).sum();
    assert!(
        bytes > file.len() as u64 / 2,
        "tensors cover {bytes} of {} bytes",
        file.len()
    );
}

#[test]
fn pytorch_zip_storages_are_found() {
    let Some(file) = model("english_g2.pth") else {
        return;
    };
    let layout = tensors::detect(&file).unwrap();
    assert_eq!(layout.container, zipnn_wasm::format::Container::PytorchZip);
    assert!(layout.tensors.len() > 20);
    let packed = znw::compress(&file, &Options::default()).unwrap();
    let report = znw::inspect(&packed).unwrap();
    let f32s = report.segments.iter().filter(|s| s.dtype == "fp32").count();
    assert!(f32s > 20, "storages measured as fp32: {f32s}");
    assert!((packed.len() as f64) < 0.84 * file.len() as f64);
}
