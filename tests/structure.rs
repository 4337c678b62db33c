//! `--best` on float runs of no known shape: cuts where the statistics change (tensor
//! boundaries) and row lengths found from the data (`format::znw::structure`); floats of a raw
//! file grouped chunk by chunk, each at its own phase.

mod common;
use common::*;
use zipnn_wasm::format::znw::{self, chunk, structure, DTypeChoice, Options, Piece};
use zipnn_wasm::{DType, Limits};

/// float32 normal(0, sigma) weights.
fn f32_scaled(rng: &mut Rng, n: usize, sigma: f32) -> Vec<u8> {
    (0..n)
        .flat_map(|_| rng.gauss(sigma).to_le_bytes())
        .collect()
}

/// float16 bits of `x` (truncated; tiny values flushed to zero).
fn to_f16(x: f32) -> [u8; 2] {
    let b = x.to_bits();
    let e = ((b >> 23) & 255) as i32 - 127 + 15;
    let h = if e <= 0 {
        (b >> 16) & 0x8000
    } else {
        ((b >> 16) & 0x8000) | (e.min(30) as u32) << 10 | (b >> 13) & 0x3FF
    };
    (h as u16).to_le_bytes()
}

/// A `rows × row` float16 matrix whose columns have scales between 0.002 and 0.08.
fn f16_columns(rows: usize, row: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let scales: Vec<f32> = (0..row)
        .map(|_| 0.002 * (1 + rng.below(40)) as f32)
        .collect();
    (0..rows * row)
        .flat_map(|i| to_f16(rng.gauss(scales[i % row])))
        .collect()
}

/// Raw float32 "tensors" back to back with different scales, and the byte offsets where one
/// ends and the next starts (none on a 1 KiB step).
fn raw_tensors() -> (Vec<u8>, Vec<usize>) {
    let mut rng = Rng(41);
    let mut data = Vec::new();
    let mut bounds = Vec::new();
    for (n, sigma) in [
        (150_001, 0.02),
        (90_003, 0.5),
        (200_017, 0.002),
        (60_011, 1.0),
        (120_007, 0.05),
    ] {
        if !data.is_empty() {
            bounds.push(data.len());
        }
        data.extend(f32_scaled(&mut rng, n, sigma));
    }
    (data, bounds)
}

fn best(dtype: DTypeChoice) -> Options {
    Options {
        dtype,
        chunk_size: znw::BEST_CHUNK,
        tans: true,
        verify: true,
        ..Options::default()
    }
}

/// Bytes of the chunk records for `pieces`, as `--best` codes them.
fn coded_size(data: &[u8], pieces: &[Piece]) -> usize {
    let (mut out, mut scratch) = (Vec::new(), Vec::new());
    for p in pieces {
        let src = &data[p.offset as usize..p.offset as usize + p.len as usize];
        let row = p.row as usize;
        chunk::encode_with_row(src, p.dtype, p.offset, true, row, &mut out, &mut scratch);
    }
    out.len()
}

#[test]
fn cuts_fall_near_tensor_boundaries_and_pay() {
    let (data, bounds) = raw_tensors();
    let header = znw::describe(&data, DTypeChoice::Fixed(DType::F32), znw::BEST_CHUNK);
    let plain = znw::plan(&header, data.len() as u64).unwrap();
    let cut = znw::plan_cut(&header, data.len() as u64, Some(&data), 1024).unwrap();
    // Pieces tile the input in order, whole elements, none above the chunk size.
    let mut at = 0;
    for p in &cut {
        assert_eq!(p.offset, at);
        assert!(p.len > 0 && p.len <= znw::BEST_CHUNK && p.len % 4 == 0);
        at += p.len as u64;
    }
    assert_eq!(at, data.len() as u64);
    // Every true boundary has a cut within one 1 KiB window of it.
    for b in &bounds {
        let near = cut
            .iter()
            .any(|p| (p.offset as i64 - *b as i64).unsigned_abs() <= 1024);
        assert!(near, "no cut near {b}: {cut:?}");
    }
    assert!(cut.len() <= plain.len() + 2 * bounds.len(), "{cut:?}");
    let (a, b) = (coded_size(&data, &plain), coded_size(&data, &cut));
    assert!(b < a, "cut {b} not smaller than equal pieces {a}");
    // The default mode's coarser windows find them too.
    let coarse = znw::plan_cut(&header, data.len() as u64, Some(&data), 4096).unwrap();
    for b in &bounds {
        let near = coarse
            .iter()
            .any(|p| (p.offset as i64 - *b as i64).unsigned_abs() <= 4096);
        assert!(near, "no cut near {b}: {coarse:?}");
    }
    // And through the whole codec.
    let packed = znw::compress(&data, &best(DTypeChoice::Fixed(DType::F32))).unwrap();
    assert_eq!(
        znw::decompress(&packed, &Limits::default(), 1).unwrap(),
        data
    );
}

#[test]
fn one_tensor_is_not_cut() {
    let mut rng = Rng(43);
    let data = f32_scaled(&mut rng, 200_000, 0.02);
    let header = znw::describe(&data, DTypeChoice::Fixed(DType::F32), znw::BEST_CHUNK);
    let plain = znw::plan(&header, data.len() as u64).unwrap();
    let cut = znw::plan_cut(&header, data.len() as u64, Some(&data), 1024).unwrap();
    assert_eq!(plain, cut);
}

#[test]
fn row_length_is_found() {
    for (row, seed) in [(384, 51), (1536, 52), (96, 53)] {
        let data = f16_columns(65_536 * 4 / row, row, seed);
        assert_eq!(
            structure::detect_row(&data, DType::F16),
            row as u32,
            "row {row}"
        );
    }
    // The same as float32 and bfloat16 (the top halves of float32).
    let mut rng = Rng(54);
    let scales: Vec<f32> = (0..768)
        .map(|_| 0.002 * (1 + rng.below(40)) as f32)
        .collect();
    let f32s: Vec<u8> = (0..768 * 200)
        .flat_map(|i| rng.gauss(scales[i % 768]).to_le_bytes())
        .collect();
    assert_eq!(structure::detect_row(&f32s, DType::F32), 768);
    let bf16s: Vec<u8> = f32s.chunks_exact(4).flat_map(|x| [x[2], x[3]]).collect();
    assert_eq!(structure::detect_row(&bf16s, DType::BF16), 768);
    // No column structure, too short, or not floats: no row.
    let mut rng = Rng(55);
    assert_eq!(
        structure::detect_row(&bf16_weights(&mut rng, 200_000), DType::BF16),
        0
    );
    assert_eq!(
        structure::detect_row(&f16_columns(1, 300, 56), DType::F16),
        0
    );
    assert_eq!(
        structure::detect_row(&f16_columns(200, 384, 57), DType::Bytes),
        0
    );
}

#[test]
fn found_rows_make_raw_files_smaller() {
    // A raw float16 matrix with column scales: --best finds its row length for the column
    // context and codes it smaller than without.
    let data = f16_columns(1000, 384, 61);
    let header = znw::describe(&data, DTypeChoice::Fixed(DType::F16), znw::BEST_CHUNK);
    let plain = znw::plan(&header, data.len() as u64).unwrap();
    assert!(plain.iter().all(|p| p.row == 0));
    let with_rows: Vec<Piece> = plain
        .iter()
        .map(|p| Piece {
            row: structure::detect_row(
                &data[p.offset as usize..(p.offset + p.len as u64) as usize],
                p.dtype,
            ),
            ..*p
        })
        .collect();
    assert!(with_rows.iter().all(|p| p.row == 384), "{with_rows:?}");
    assert!(coded_size(&data, &with_rows) < coded_size(&data, &plain));
    let packed = znw::compress(&data, &best(DTypeChoice::Auto)).unwrap();
    assert_eq!(
        znw::decompress(&packed, &Limits::default(), 1).unwrap(),
        data
    );
}

#[test]
fn edge_cases_round_trip() {
    let mut rng = Rng(71);
    let mut inputs: Vec<Vec<u8>> = (0..9).map(|n| rng.bytes(n)).collect();
    for n in [63, 64, 65, 1023, 1025, 4097, 70_001, 300_003] {
        let mut d = f32_scaled(&mut rng, n / 4 + 1, 0.02);
        d.truncate(n);
        inputs.push(d);
    }
    // Two scales, an odd tail, and a float run that starts after a few other bytes.
    let (mut two, _) = raw_tensors();
    two.extend_from_slice(&[1, 2, 3]);
    inputs.push(two.clone());
    let mut shifted = vec![0x80, 0x02, 0x63];
    shifted.extend_from_slice(&two);
    inputs.push(shifted);
    inputs.push(vec![0; 100_000]);
    for data in &inputs {
        for dtype in [
            DTypeChoice::Auto,
            DTypeChoice::Fixed(DType::F16),
            DTypeChoice::Fixed(DType::BF16),
            DTypeChoice::Fixed(DType::F32),
        ] {
            // Small chunks only on small inputs (--best tries many modes per chunk).
            let sizes: &[u32] = if data.len() < 100_000 {
                &[4096, znw::BEST_CHUNK]
            } else {
                &[znw::BEST_CHUNK]
            };
            for &chunk_size in sizes {
                for tans in [false, true] {
                    let opts = Options {
                        chunk_size,
                        tans,
                        ..best(dtype)
                    };
                    let packed = znw::compress(data, &opts).unwrap();
                    let back = znw::decompress(&packed, &Limits::default(), 2).unwrap();
                    assert_eq!(&back, data, "{} bytes, {dtype:?}, {tans}", data.len());
                }
            }
        }
    }
}

/// Raw uint8-quantized "tensors" (a TF.js weight shard) back to back, each with its own zero
/// point and spread, and the offsets where one ends and the next starts.
fn quantized_tensors() -> (Vec<u8>, Vec<usize>) {
    let mut rng = Rng(47);
    let mut data = Vec::new();
    let mut bounds = Vec::new();
    for (n, zero, sigma) in [
        (100_003, 128.0, 3.0),
        (180_001, 90.0, 50.0),
        (70_009, 40.0, 8.0),
        (150_011, 200.0, 1.5),
    ] {
        if !data.is_empty() {
            bounds.push(data.len());
        }
        data.extend((0..n).map(|_| (zero + rng.gauss(sigma)).round().clamp(0.0, 255.0) as u8));
    }
    (data, bounds)
}

#[test]
fn quantized_byte_runs_of_raw_files_are_cut_at_tensor_boundaries() {
    let (data, bounds) = quantized_tensors();
    let header = znw::describe(&data, DTypeChoice::Fixed(DType::Bytes), znw::DEFAULT_CHUNK);
    let cut = znw::plan_cut(&header, data.len() as u64, Some(&data), 4096).unwrap();
    for b in &bounds {
        let near = cut
            .iter()
            .any(|p| (p.offset as i64 - *b as i64).unsigned_abs() <= 4096);
        assert!(near, "no cut near {b}: {cut:?}");
    }
    // Through the whole codec, default and --best (whose raw chunks are 4 MiB and held every
    // tensor in one table: a TF.js shard came out 15% larger than with the default): the file
    // costs about what its tensors cost compressed one by one.
    let default = Options {
        dtype: DTypeChoice::Fixed(DType::Bytes),
        verify: true,
        ..Options::default()
    };
    let best = Options {
        chunk_size: znw::BEST_RAW_CHUNK,
        ..best(DTypeChoice::Fixed(DType::Bytes))
    };
    for opts in [default, best] {
        let alone: usize = [0]
            .iter()
            .chain(&bounds)
            .zip(bounds.iter().chain([&data.len()]))
            .map(|(&a, &b)| znw::compress(&data[a..b], &opts).unwrap().len())
            .sum();
        let packed = znw::compress(&data, &opts).unwrap();
        assert!(
            packed.len() <= alone + alone / 100,
            "whole {} vs tensors alone {alone} (tans {})",
            packed.len(),
            opts.tans
        );
        assert_eq!(
            znw::decompress(&packed, &Limits::default(), 1).unwrap(),
            data
        );
    }
}

/// A raw file of float32 tensors that each start at their own byte phase, after a few other
/// bytes (as an ONNX file's protobuf fields lie between its tensors, in a slice of one that no
/// container parser reads): `--dtype auto` groups each chunk at its phase, smaller than any one
/// type for the whole file; the sized and the streamed stream do it too.
#[test]
fn floats_at_any_phase_are_grouped_chunk_by_chunk() {
    use zipnn_wasm::stream::{Encoder, SizedEncoder};
    let mut rng = Rng(77);
    let mut data = Vec::new();
    // Tensors at phases 1, 3, 0 and 3, each after text (names, as in a model's graph).
    let words = [
        "conv", "weight", "bias", "layer", "norm", "attn", ".", "_", "0", "1",
    ];
    for (i, (text, n)) in [
        (300_001, 300_000),
        (200_002, 250_000),
        (250_003, 280_000),
        (180_004, 200_000),
    ]
    .into_iter()
    .enumerate()
    {
        let at = data.len();
        while data.len() < at + text {
            data.extend_from_slice(words[rng.below(10) as usize].as_bytes());
        }
        data.truncate(at + text);
        data.extend(f32_scaled(&mut rng, n, 0.02 * (i + 1) as f32));
    }
    let opts = |dtype| Options {
        dtype,
        ..Options::default()
    };
    let auto = znw::compress(&data, &opts(DTypeChoice::Auto)).unwrap();
    let one_type = [DType::Bytes, DType::F32].map(|d| {
        znw::compress(&data, &opts(DTypeChoice::Fixed(d)))
            .unwrap()
            .len()
    });
    let smallest = *one_type.iter().min().unwrap();
    assert!(
        (auto.len() as f64) < 0.97 * smallest as f64,
        "auto {} against one type {one_type:?}",
        auto.len()
    );
    let decoded = |packed: &[u8]| zipnn_wasm::decompress(packed, &Limits::default()).unwrap();
    assert!(decoded(&auto) == data);

    let sized = |prefix: usize, dtype| {
        let mut enc = SizedEncoder::new(data.len() as u64, opts(dtype))
            .unwrap()
            .with_prefix(prefix);
        let mut out = Vec::new();
        for p in data.chunks(100_000) {
            enc.push(p, &mut out).unwrap();
        }
        enc.finish(&mut out).unwrap();
        assert_eq!(enc.report().unwrap(), znw::inspect(&out).unwrap());
        out
    };
    // Whole in its prefix: what `compress` writes; past it (a header from the first 64 KiB),
    // grouped chunk by chunk all the same.
    assert!(sized(data.len(), DTypeChoice::Auto) == auto);
    let past = sized(64 << 10, DTypeChoice::Auto);
    assert!(decoded(&past) == data);
    assert!(
        (past.len() as f64) < 0.97 * smallest as f64,
        "{}",
        past.len()
    );

    let mut enc = Encoder::with_choice(DTypeChoice::Auto, 256 << 10).unwrap();
    let mut streamed = Vec::new();
    for p in data.chunks(100_000) {
        enc.push(p, &mut streamed);
    }
    enc.finish(&mut streamed);
    assert!(decoded(&streamed) == data);
    assert!(
        (streamed.len() as f64) < 0.97 * smallest as f64,
        "{}",
        streamed.len()
    );
}

/// The same uint8-quantized tensors as U8 tensors of a safetensors file (an ONNX or GGUF file's
/// quantized weights alike): each large one starts a chunk, as float tensors do, instead of
/// sharing one with its neighbour's tail (a quantized ONNX model came out 1.6 % larger).
#[test]
fn quantized_tensors_of_a_container_start_their_own_chunks() {
    let (data, bounds) = quantized_tensors();
    let parts: Vec<&[u8]> = [0]
        .iter()
        .chain(&bounds)
        .zip(bounds.iter().chain([&data.len()]))
        .map(|(&a, &b)| &data[a..b])
        .collect();
    let names = ["a", "b", "c", "d"];
    let tensors: Vec<_> = (names.iter().zip(&parts))
        .map(|(&name, p)| (name, "U8", vec![p.len() as u64], p.to_vec()))
        .collect();
    let file = safetensors(&tensors);
    let opts = Options {
        verify: true,
        ..Options::default()
    };
    let alone: usize = parts
        .iter()
        .map(|p| znw::compress(p, &opts).unwrap().len())
        .sum();
    let packed = znw::compress(&file, &opts).unwrap();
    assert!(
        packed.len() <= alone + alone / 100,
        "whole {} vs tensors alone {alone}",
        packed.len()
    );
    assert_eq!(
        znw::decompress(&packed, &Limits::default(), 1).unwrap(),
        file
    );
}
