//! The file the wasm module decodes right after it loads (`warmUp`, embedded from
//! `src/wasm/warm-up.znw`): it must decode to the tensors below, and each float tensor's
//! exponent group must be a Huffman block long enough for the multi-symbol decoder, so that
//! decoding it runs the functions a real model's decode runs. Regenerate it with
//! `ZIPNN_WRITE_WARM_UP=1 cargo test --release --test warm_up`.

mod common;

use common::*;
use zipnn_wasm::{Limits, Options};

const SAMPLE: &[u8] = include_bytes!("../src/wasm/warm-up.znw");
const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/wasm/warm-up.znw");

/// Three small float tensors, one of each type whose bytes the codec groups differently.
fn source() -> Vec<u8> {
    let mut rng = Rng(46);
    safetensors(&[
        ("bf16", "BF16", vec![16, 64], bf16_weights(&mut rng, 1024)),
        ("f16", "F16", vec![16, 64], f16_rows(1024, 64, 46)),
        ("f32", "F32", vec![16, 64], f32_weights(&mut rng, 1024)),
    ])
}

#[test]
fn warm_up_sample_decodes_to_its_tensors() {
    if std::env::var_os("ZIPNN_WRITE_WARM_UP").is_some() {
        let packed = zipnn_wasm::compress(&source(), &Options::default()).unwrap();
        std::fs::write(PATH, packed).unwrap();
        panic!("wrote {PATH}: rebuild and run again without ZIPNN_WRITE_WARM_UP");
    }
    let decoded = zipnn_wasm::decompress(SAMPLE, &Limits::default()).unwrap();
    assert!(
        decoded == source(),
        "{PATH} no longer decodes to source(): regenerate it (see the top of this file)"
    );
    let report = zipnn_wasm::inspect(SAMPLE).unwrap();
    // Each tensor's exponent group is coded (the tensor shrinks), with huff0 (one block each,
    // the JSON header may take another).
    for seg in report.segments.iter().filter(|s| s.dtype != "JSON") {
        assert!(
            seg.compressed * 100 < seg.length * 95,
            "{} not coded",
            seg.name
        );
    }
    let huff0 = report.modes.iter().find(|m| m.name == "huff0");
    assert!(
        huff0.is_some_and(|m| m.blocks >= 3),
        "a Huffman block per float tensor: {:?}",
        report.modes
    );
}
