//! One operation, repeated, for profilers (callgrind instruction counts, perf): no timing, no
//! zipnn, next to no setup, so that the profile is the operation.
//!
//!   cargo bench --bench profile -- OP INPUT [REPS] [DTYPE]
//!
//! OP: `decode` (INPUT a .znw file; decompress_into a warm buffer), `decode-fresh`
//! (decompress(), a new Vec each time), `decode-zipnn` (INPUT a ZipNN .znn frame; decode_frame
//! into a warm buffer), `compress` (INPUT a raw or safetensors file, coded as DTYPE: bf16, fp16,
//! fp32), `pack` (writes INPUT.znw next to INPUT, for the decode ops).
//! Line-level profiles: `CARGO_PROFILE_BENCH_DEBUG=line-tables-only`. Recipes: bench/NOTES.md.

use std::hint::black_box;
use zipnn_wasm::dtype::DType;
use zipnn_wasm::format::{zipnn, znw};
use zipnn_wasm::{DTypeChoice, Limits, Options};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [op, input, rest @ ..] = &args[..] else {
        eprintln!("usage: profile OP INPUT [REPS] [DTYPE]");
        std::process::exit(2);
    };
    let reps: usize = rest.first().and_then(|r| r.parse().ok()).unwrap_or(1);
    let dtype = match rest.get(1).map(String::as_str) {
        Some("fp16") => DType::F16,
        Some("fp32") => DType::F32,
        _ => DType::BF16,
    };
    let data = std::fs::read(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    let opts = Options {
        dtype: DTypeChoice::Fixed(dtype),
        threads: 1,
        ..Options::default()
    };
    match op.as_str() {
        "pack" => {
            let packed = znw::compress(&data, &opts).unwrap();
            std::fs::write(format!("{input}.znw"), packed).unwrap();
        }
        "compress" => {
            for _ in 0..reps {
                black_box(znw::compress(black_box(&data), &opts).unwrap());
            }
        }
        "decode" => {
            let (_, chunks) = znw::index(&data, &Limits::default()).unwrap();
            let total = chunks
                .last()
                .map_or(0, |c| c.offset as usize + c.head.raw_len as usize);
            let mut out = vec![0u8; total];
            for _ in 0..reps {
                znw::decompress_into(black_box(&data), &mut out, 1).unwrap();
            }
            black_box(&out);
        }
        "decode-fresh" => {
            for _ in 0..reps {
                black_box(znw::decompress(black_box(&data), &Limits::default(), 1).unwrap());
            }
        }
        "decode-zipnn" => {
            let h = zipnn::FrameHeader::parse(&data).unwrap();
            let mut out = vec![0u8; h.orig_len as usize];
            for _ in 0..reps {
                zipnn::decode_frame(black_box(&data), &h, &mut out).unwrap();
            }
            black_box(&out);
        }
        _ => panic!("unknown op {op}"),
    }
}
