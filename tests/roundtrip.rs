//! decompress(compress(x)) == x for every dtype, every path (whole buffer, streaming both
//! ways, parallel), on adversarial inputs.

mod common;

use common::*;
use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::stream::{Decoder, Encoder, VecSink};
use zipnn_wasm::{DType, Limits};

const CHUNK: u32 = 4096;

fn opts(dtype: DType) -> Options {
    Options {
        dtype: DTypeChoice::Fixed(dtype),
        chunk_size: CHUNK,
        verify: true,
        threads: 1,
        tans: true,
    }
}

/// Feeds `packed` to the streaming decoder in pieces cut by `cut`.
fn stream_decode(packed: &[u8], mut cut: impl FnMut() -> usize) -> Vec<u8> {
    let mut dec = Decoder::new(Limits::default());
    let mut sink = VecSink::default();
    let mut rest = packed;
    while !rest.is_empty() {
        let n = cut().clamp(1, rest.len());
        dec.push(&rest[..n], &mut sink).unwrap();
        rest = &rest[n..];
    }
    dec.finish().unwrap();
    sink.out
}

#[test]
fn every_dtype_every_input() {
    for (name, data) in adversarial(CHUNK as usize) {
        for dtype in DType::ALL {
            let packed = znw::compress(&data, &opts(dtype)).unwrap();
            let back = zipnn_wasm::decompress(&packed, &Limits::default()).unwrap();
            assert!(back == data, "{name} as {dtype}");
            let mut rng = Rng(data.len() as u64 + 1);
            assert!(
                stream_decode(&packed, || rng.below(300) as usize + 1) == data,
                "{name} as {dtype}, streamed"
            );
        }
    }
}

/// The smallest chunk sizes (4 bytes is below a float64 element) still give files that every
/// decoder reads: no chunk may exceed the header's chunk size.
#[test]
fn smallest_chunks_every_dtype() {
    let mut rng = Rng(3);
    let data = bf16_weights(&mut rng, 200);
    for chunk_size in [4, 8, 12, 20] {
        for dtype in DType::ALL {
            let o = Options {
                chunk_size,
                ..opts(dtype)
            };
            let packed = znw::compress(&data, &o).unwrap();
            let back = zipnn_wasm::decompress(&packed, &Limits::default());
            assert!(
                back.as_deref() == Ok(&data[..]),
                "{dtype}, {chunk_size}-byte chunks"
            );
            assert!(
                stream_decode(&packed, || 7) == data,
                "{dtype}, {chunk_size}, streamed"
            );
        }
    }
}

#[test]
fn stream_decoder_accepts_any_split() {
    let mut rng = Rng(7);
    let data = bf16_weights(&mut rng, 20_000);
    let packed = znw::compress(&data, &opts(DType::BF16)).unwrap();
    assert_eq!(stream_decode(&packed, || 1), data);
    assert_eq!(stream_decode(&packed, || 7), data);
    assert_eq!(stream_decode(&packed, || packed.len()), data);
    for split in [1, 15, 16, 17, 100, packed.len() - 1] {
        let mut first = true;
        assert_eq!(
            stream_decode(&packed, || if std::mem::take(&mut first) {
                split
            } else {
                usize::MAX
            }),
            data
        );
    }
}

/// ggml blocks (18 to 34 bytes) do not divide the chunk size: the stream encoder cuts its
/// chunks at whole blocks, so that every chunk codes its blocks in step (cut at the chunk size,
/// each chunk after the first was 8–13 % larger, and had a bytes chunk of its tail besides).
#[test]
fn stream_encoder_cuts_ggml_blocks_whole() {
    let mut rng = Rng(12);
    let weights = f32_weights(&mut rng, 32 * 3000);
    let mut q8 = Vec::new();
    for block in weights.chunks_exact(4 * 32) {
        q8.extend_from_slice(&(0x2000 + rng.below(0x400) as u16).to_le_bytes());
        for w in block.chunks_exact(4) {
            let w = f32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            q8.push((w * 2000.0).round().clamp(-127.0, 127.0) as i8 as u8);
        }
    }
    let lim = Limits::default();
    let plain = Options {
        tans: false,
        ..opts(DType::Q8_0)
    };
    let whole = znw::compress(&q8, &plain).unwrap();
    for piece in [1, 1000, q8.len()] {
        let mut enc = Encoder::new(DType::Q8_0, CHUNK).unwrap();
        let mut out = Vec::new();
        for p in q8.chunks(piece) {
            enc.push(p, &mut out);
        }
        enc.finish(&mut out);
        assert!(zipnn_wasm::decompress(&out, &lim).unwrap() == q8);
        let (_, chunks) = znw::index(&out, &lim).unwrap();
        assert!(chunks.iter().all(|c| c.head.dtype == DType::Q8_0));
        assert!(
            out.len() < whole.len() + whole.len() / 100,
            "pieces of {piece}: {} against {}",
            out.len(),
            whole.len()
        );
    }
}

#[test]
fn stream_encoder_matches_any_split() {
    let mut rng = Rng(9);
    let data = f32_weights(&mut rng, 10_001);
    for dtype in [DType::F32, DType::BF16, DType::Bytes] {
        for piece in [1, 3, 4096, 100_000] {
            let mut enc = Encoder::new(dtype, CHUNK).unwrap();
            let mut out = Vec::new();
            for p in data.chunks(piece) {
                enc.push(p, &mut out);
            }
            enc.finish(&mut out);
            let back = zipnn_wasm::decompress(&out, &Limits::default()).unwrap();
            assert!(back == data, "{dtype} pieces of {piece}");
            assert_eq!(stream_decode(&out, || 1000), data);
        }
    }
    // `auto` measures the first chunk: fp32 weights come out as small as with F32 given.
    let packed = |choice: DTypeChoice| {
        let mut enc = Encoder::with_choice(choice, CHUNK).unwrap();
        let mut out = Vec::new();
        enc.push(&data, &mut out);
        enc.finish(&mut out);
        out
    };
    let auto = packed(DTypeChoice::Auto);
    assert_eq!(stream_decode(&auto, || 1000), data);
    let (f32, bytes) = (
        packed(DTypeChoice::Fixed(DType::F32)).len(),
        packed(DTypeChoice::Fixed(DType::Bytes)).len(),
    );
    assert!(
        auto.len() <= f32 + f32 / 100 && auto.len() < bytes * 95 / 100,
        "auto {} f32 {f32} bytes {bytes}",
        auto.len()
    );
    let mut enc = Encoder::new(DType::BF16, CHUNK).unwrap();
    let mut out = Vec::new();
    enc.finish(&mut out);
    assert_eq!(
        zipnn_wasm::decompress(&out, &Limits::default()).unwrap(),
        Vec::<u8>::new()
    );
}

#[test]
fn parallel_matches_serial() {
    let mut rng = Rng(11);
    // 147 chunks: batches of 32 a thread, the last shorter, through encoders kept between them.
    let data = bf16_weights(&mut rng, 300_000);
    let one = znw::compress(&data, &opts(DType::BF16)).unwrap();
    for threads in [2, 3] {
        let many = znw::compress(
            &data,
            &Options {
                threads,
                ..opts(DType::BF16)
            },
        )
        .unwrap();
        assert!(
            one == many,
            "{threads} threads: must not depend on the thread count"
        );
    }
    assert_eq!(znw::decompress(&one, &Limits::default(), 3).unwrap(), data);
    let mut into = vec![0u8; data.len()];
    znw::decompress_into(&one, &mut into, 2).unwrap();
    assert_eq!(into, data);
}

/// A raw file's pieces are measured again each on its own, spread over the threads
/// (`auto`): the same file for any thread count. Mostly text (so that the file as a whole
/// is bytes, and each piece is guessed anew), then float32 one byte off the element grid,
/// bfloat16 and noise, so that the pieces group differently.
#[test]
fn parallel_regroup_of_a_raw_file_matches_serial() {
    let mut rng = Rng(17);
    let mut data: Vec<u8> = (0..40_000u32)
        .flat_map(|i| format!("{{\"w{i}\": [{}]}}, ", i % 97).into_bytes())
        .take(400_001)
        .collect();
    data.extend(f32_weights(&mut rng, 50_000));
    data.extend(bf16_weights(&mut rng, 50_000));
    data.extend(rng.bytes(50_000));
    let auto = |threads| Options {
        dtype: DTypeChoice::Auto,
        chunk_size: 32 << 10,
        threads,
        ..Options::default()
    };
    let one = znw::compress(&data, &auto(1)).unwrap();
    for threads in [2, 3, 64] {
        let many = znw::compress(&data, &auto(threads)).unwrap();
        assert!(
            one == many,
            "{threads} threads: must not depend on the thread count"
        );
    }
    assert_eq!(znw::decompress(&one, &Limits::default(), 1).unwrap(), data);
    // The pieces did group differently: some chunks are float32, some bytes (text with
    // many digits, and bfloat16, are measured as float32 here).
    let (_, chunks) = znw::index(&one, &Limits::default()).unwrap();
    let dtypes: Vec<DType> = chunks.iter().map(|c| c.head.dtype).collect();
    assert!(
        dtypes.contains(&DType::Bytes) && dtypes.contains(&DType::F32),
        "{dtypes:?}"
    );
}

#[test]
fn safetensors_tensors_keep_their_dtype() {
    let mut rng = Rng(13);
    let st = safetensors(&[
        (
            "a.weight",
            "BF16",
            vec![100, 50],
            bf16_weights(&mut rng, 5000),
        ),
        ("b.weight", "F32", vec![300], f32_weights(&mut rng, 300)),
        // A zero-size tensor is listed like the others (loaders build their maps from it).
        ("empty", "F32", vec![4, 0], vec![]),
        (
            "ids",
            "I64",
            vec![3],
            [1i64, 2, 3].iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        ("c.bias", "F16", vec![7], rng.bytes(14)),
    ]);
    let packed = znw::compress(&st, &Options::default()).unwrap();
    assert_eq!(
        zipnn_wasm::decompress(&packed, &Limits::default()).unwrap(),
        st
    );
    let report = znw::inspect(&packed).unwrap();
    assert_eq!(report.container, "safetensors");
    let names: Vec<&str> = report.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "__header__",
            "a.weight",
            "b.weight",
            "empty",
            "ids",
            "c.bias"
        ]
    );
    assert_eq!(
        (
            report.segments[3].shape.as_slice(),
            report.segments[3].length
        ),
        (&[4u64, 0][..], 0)
    );
    let a = &report.segments[1];
    assert_eq!(
        (a.dtype, a.label.as_str(), a.shape.as_slice()),
        ("bf16", "BF16", &[100u64, 50][..])
    );
    assert!(
        a.compressed < a.length * 3 / 4,
        "bf16 weights must shrink: {a:?}"
    );
    assert_eq!(report.segments[4].dtype, "bytes");
}

#[test]
fn inspect_suggests_a_float_type_for_plain_bytes() {
    let mut rng = Rng(17);
    let data = bf16_weights(&mut rng, 300_000);
    let plain = Options {
        dtype: DTypeChoice::Fixed(DType::Bytes),
        ..Options::default()
    };
    let packed = znw::compress(&data, &plain).unwrap();
    let s = znw::inspect(&packed)
        .unwrap()
        .suggestion
        .expect("a suggestion");
    assert_eq!(s.dtype, "bf16");
    assert!(s.ratio < s.current_ratio);
    let packed = znw::compress(&data, &opts(DType::BF16)).unwrap();
    assert!(znw::inspect(&packed).unwrap().suggestion.is_none());
    // The default, `auto`, codes them as bf16 in the first place.
    let packed = znw::compress(&data, &Options::default()).unwrap();
    assert!(znw::inspect(&packed).unwrap().suggestion.is_none());
}

#[test]
fn zipnn_frames_roundtrip() {
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    let mut rng = Rng(19);
    let bf = bf16_weights(&mut rng, 300_001);
    let f32s = f32_weights(&mut rng, 70_000);
    let cases: Vec<(ZDType, Vec<u8>)> = vec![
        (ZDType::BF16, bf.clone()),
        (ZDType::BF16, bf[..bf.len() - 1].to_vec()),
        (ZDType::F16, special_16()),
        (ZDType::F32, f32s),
        (ZDType::F32, special_f32()),
        (ZDType::F8E4M3, rng.bytes(300_000)),
        (ZDType::BF16, vec![]),
        (ZDType::BF16, vec![0x80; 1 << 19]),
    ];
    for (dtype, data) in cases {
        for streaming in [None, Some(18), Some(20)] {
            let o = ZipnnOptions {
                streaming_log2: streaming,
                ..ZipnnOptions::new(dtype)
            };
            let packed = zipnn::compress(&data, &o).unwrap();
            assert_eq!(zipnn_wasm::detect(&packed), zipnn_wasm::Format::Zipnn);
            let back = zipnn_wasm::decompress(&packed, &Limits::default()).unwrap();
            assert!(
                back == data,
                "{dtype:?} {} bytes streaming {streaming:?}",
                data.len()
            );
        }
    }
}

#[test]
fn limits_reject_before_allocating() {
    let data = vec![1u8; 100_000];
    let packed = znw::compress(&data, &Options::default()).unwrap();
    let err = zipnn_wasm::decompress(&packed, &Limits { max_output: 99_999 }).unwrap_err();
    assert_eq!(err.code(), "ZNN_TOO_LARGE");
    let mut dec = Decoder::new(Limits { max_output: 1000 });
    let err = dec.push(&packed, &mut VecSink::default()).unwrap_err();
    assert_eq!(err.code(), "ZNN_TOO_LARGE");
}

/// `auto` on input of no known container: floats where floats are smaller, and plain bytes
/// where bytes mode's LZ wins even though an order-0 estimate favours a float grouping
/// (small text files: `auto` made some JSON files nearly 3× larger than bytes did). Where
/// float32 or float64 displaces 2-byte groups in that estimate and then codes no smaller than
/// bytes, the 2-byte groups are tried.
#[test]
fn auto_is_never_much_larger_than_bytes() {
    let mut rng = Rng(21);
    let mut json = String::from("{\n");
    for i in 0..400 {
        let n = (i * 7 + 3) % 97;
        json +=
            &format!("  \"layer.{i}.weight\": {{\"dtype\": \"F32\", \"shape\": [{n}, 768]}},\n");
    }
    let mut records = Vec::new();
    for i in 0..20_000u32 {
        records.extend_from_slice(&(i % 50).to_le_bytes());
        records.extend_from_slice(&[(i % 3) as u8, 0, 0x80, 0x3f]);
    }
    // Over 256 KiB: judged on sampled windows, not on the whole input.
    let mut source = b"#!".to_vec();
    while source.len() < 1 << 20 {
        source.extend_from_slice(include_bytes!("../src/entropy/huff0/mod.rs"));
        source.extend_from_slice(include_bytes!("../src/format/zipnn/mod.rs"));
    }
    // int16 values with copies an odd number of elements back (a MeCab cost matrix): float32
    // groups split each copy across groups, so float32 reads cheapest at order 0 but codes no
    // smaller than bytes (nor does float64, which the coder prefers to float32 in the second
    // table), and 2-byte groups code 3-10 % smaller than bytes.
    let mut table = |range: u64, copies: u64, run: usize| {
        let mut t: Vec<i16> = Vec::new();
        while t.len() < 1 << 19 {
            if t.len() > 1000 && rng.below(100) < copies {
                let from = t.len() - (2 * rng.below(400) + 1) as usize;
                for k in from..from + run {
                    t.push(t[k]); // as LZ copies: may overlap its own output
                }
            } else {
                t.extend((0..run).map(|_| (rng.below(range) as i64 - range as i64 * 2 / 3) as i16));
            }
        }
        t.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()
    };
    let [table32, table64] = [table(2000, 50, 32), table(800, 80, 48)];
    // The last field: the share of bytes' size (%) that `auto` must come under, for data that
    // groups; else `auto` may be at most 1 % larger than bytes.
    let cases: Vec<(&str, Vec<u8>, Option<usize>)> = vec![
        ("int16 table", table32, Some(95)),
        ("int16 table, float64 cheaper", table64, Some(98)),
        ("Cargo.toml", include_bytes!("../Cargo.toml").to_vec(), None),
        ("source text", source, None),
        (
            "src/lib.rs",
            include_bytes!("../src/lib.rs")[..3000].to_vec(),
            None,
        ),
        ("short JSON", json.as_bytes()[..3000].to_vec(), None),
        ("JSON", json.into_bytes(), None),
        ("records", records, None),
        ("fp32 weights", f32_weights(&mut rng, 100_000), Some(95)),
        ("bf16 weights", bf16_weights(&mut rng, 100_000), Some(95)),
    ];
    for (name, data, under) in cases {
        let (auto, bytes) = (
            packed_size(&data, DTypeChoice::Auto),
            packed_size(&data, DTypeChoice::Fixed(DType::Bytes)),
        );
        if let Some(percent) = under {
            assert!(
                auto < bytes * percent / 100,
                "{name}: auto {auto}, bytes {bytes}"
            );
        } else {
            assert!(
                auto <= bytes + bytes / 100,
                "{name}: auto {auto}, bytes {bytes}"
            );
        }
    }
}

/// float16 exponent groups (5 exponent and 3 mantissa bits, about 5.6 bits a byte) become
/// bit-plane blocks (mode 12) under the default coder, and decode whole and streamed, at chunk
/// lengths whose groups end mid-unit (not a multiple of 128 elements) as well as on whole units.
#[test]
fn float16_exponents_take_bit_planes() {
    use zipnn_wasm::entropy::block::PLANES;
    let data = f16_rows(200_000, 200_000, 11);
    for chunk_size in [65_536, 65_536 + 4 * 77] {
        let o = Options {
            chunk_size,
            tans: false,
            ..opts(DType::F16)
        };
        let packed = znw::compress(&data, &o).unwrap();
        let report = znw::inspect(&packed).unwrap();
        assert!(
            report.modes.iter().any(|m| m.mode == PLANES),
            "{chunk_size} {:?}",
            report.modes
        );
        assert!(zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == data);
        let mut k = 0;
        let cut = || {
            k = k % 7000 + 997;
            k
        };
        assert!(stream_decode(&packed, cut) == data);
    }
}

/// A raw file's bytes are cut where their statistics change, but not so finely that LZ loses
/// the history it copies from: a table of int16 rows (each spread around its own level) that
/// repeat recent rows, like a MeCab cost matrix, came out a third larger cut at every small
/// change (`BYTES_CUT_PENALTY` 256, as floats have).
#[test]
fn raw_byte_cuts_keep_lz_history() {
    let mut rng = Rng(23);
    let rows: Vec<Vec<u8>> = (0..64)
        .map(|_| {
            let (level, spread) = (rng.below(200) as i64 + 20, rng.below(12) + 2);
            let mut row = Vec::new();
            for _ in 0..3000 {
                let v = level + (rng.below(spread) + rng.below(spread)) as i64 - spread as i64;
                row.extend_from_slice(&(v as i16).to_le_bytes());
            }
            row
        })
        .collect();
    let mut data = Vec::new();
    let mut order = Vec::new();
    for i in 0..400 {
        let row = match i >= 8 && rng.below(10) < 7 {
            true => order[i - 1 - rng.below(8) as usize],
            false => rng.below(64) as usize,
        };
        order.push(row);
        data.extend_from_slice(&rows[row]);
    }
    // 0.20 here; 0.27 with every small change cut.
    let packed = packed_size(&data, DTypeChoice::Fixed(DType::Bytes));
    assert!(packed < data.len() / 4, "{} -> {packed}", data.len());
}

/// The size of `data` compressed in default chunks as `dtype`, checked to round-trip.
fn packed_size(data: &[u8], dtype: DTypeChoice) -> usize {
    let o = Options {
        dtype,
        chunk_size: znw::DEFAULT_CHUNK,
        ..Options::default()
    };
    let packed = znw::compress(data, &o).unwrap();
    assert!(zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == data);
    packed.len()
}
