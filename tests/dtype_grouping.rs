//! The measurement behind float16's grouping (src/dtype/mod.rs): on real FP16 weights, the
//! sign move (exponent + top 3 mantissa bits in one byte, sign + low 7 bits in the other)
//! beats both the plain high/low byte split and a bare 5-bit exponent split, at order 0.

use zipnn_wasm::entropy::block::{entropy_bits, histogram};

fn bits(stream: &[u8]) -> f64 {
    entropy_bits(&histogram(stream), stream.len())
}

#[test]
fn fp16_sign_move_wins() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/minilm.fp16.bin");
    let Ok(data) = std::fs::read(&path) else {
        assert!(
            std::env::var("ZIPNN_SKIP_MODELS").is_ok(),
            "models/minilm.fp16.bin missing: run scripts/fetch-models.sh"
        );
        return;
    };
    let n = data.len() / 2;
    let (lo, hi): (Vec<u8>, Vec<u8>) = data.chunks_exact(2).map(|x| (x[0], x[1])).unzip();
    // Plain: low byte and high byte as two streams.
    let ours = bits(&lo) + bits(&hi);
    // Alternative: the 5-bit exponent alone, and sign + 10 mantissa bits as (sign+top 2, low 8).
    let exp: Vec<u8> = hi.iter().map(|h| (h >> 2) & 0x1F).collect();
    let sign_top: Vec<u8> = hi.iter().map(|h| (h & 0x80) >> 5 | (h & 3)).collect();
    let split = bits(&exp) + bits(&sign_top) + bits(&lo);
    // ZipNN's BF16-style sign move applied to FP16 (exponent + 3 mantissa bits in one byte).
    let moved: Vec<u8> = data
        .chunks_exact(2)
        .map(|x| (x[1] << 1) | (x[0] >> 7))
        .collect();
    let moved_lo: Vec<u8> = data
        .chunks_exact(2)
        .map(|x| (x[1] & 0x80) | (x[0] & 0x7F))
        .collect();
    let sign_moved = bits(&moved) + bits(&moved_lo);
    let per = |b: f64| b / n as f64;
    eprintln!(
        "fp16 bits/element: high+low {:.4}, exponent split {:.4}, sign moved {:.4}",
        per(ours),
        per(split),
        per(sign_moved)
    );
    assert!(
        sign_moved <= split && sign_moved <= ours,
        "update dtype::split for fp16"
    );
    // And it is what the codec does.
    let mut g = Vec::new();
    zipnn_wasm::dtype::split(zipnn_wasm::DType::F16, &data[..1 << 16], &mut g);
    assert_eq!(&g[1 << 15..], &moved[..1 << 15]);
}
