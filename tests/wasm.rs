//! The same checks in WebAssembly, under node and headless Chromium (wasm-bindgen-test):
//! round trips on adversarial inputs, typed errors on corrupt input with the instance still
//! usable afterwards, and every ZipNN fixture decoded byte-exact.
#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;
use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::{DType, Limits};

/// Every fixture of tests/fixtures/zipnn (tests/zipnn_fixtures.rs checks this list is complete).
#[rustfmt::skip]
static FIXTURES: &[(&str, &[u8], &[u8], Option<&[u8]>)] = &[
    ("bf16_empty", include_bytes!("fixtures/zipnn/bf16_empty.znn"), include_bytes!("fixtures/zipnn/bf16_empty.bin"), None),
    ("bf16_1elem", include_bytes!("fixtures/zipnn/bf16_1elem.znn"), include_bytes!("fixtures/zipnn/bf16_1elem.bin"), None),
    ("bf16_5elem", include_bytes!("fixtures/zipnn/bf16_5elem.znn"), include_bytes!("fixtures/zipnn/bf16_5elem.bin"), None),
    ("fp16_empty", include_bytes!("fixtures/zipnn/fp16_empty.znn"), include_bytes!("fixtures/zipnn/fp16_empty.bin"), None),
    ("fp16_1elem", include_bytes!("fixtures/zipnn/fp16_1elem.znn"), include_bytes!("fixtures/zipnn/fp16_1elem.bin"), None),
    ("fp16_5elem", include_bytes!("fixtures/zipnn/fp16_5elem.znn"), include_bytes!("fixtures/zipnn/fp16_5elem.bin"), None),
    ("fp32_empty", include_bytes!("fixtures/zipnn/fp32_empty.znn"), include_bytes!("fixtures/zipnn/fp32_empty.bin"), None),
    ("fp32_1elem", include_bytes!("fixtures/zipnn/fp32_1elem.znn"), include_bytes!("fixtures/zipnn/fp32_1elem.bin"), None),
    ("fp32_5elem", include_bytes!("fixtures/zipnn/fp32_5elem.znn"), include_bytes!("fixtures/zipnn/fp32_5elem.bin"), None),
    ("e4m3_empty", include_bytes!("fixtures/zipnn/e4m3_empty.znn"), include_bytes!("fixtures/zipnn/e4m3_empty.bin"), None),
    ("e4m3_1elem", include_bytes!("fixtures/zipnn/e4m3_1elem.znn"), include_bytes!("fixtures/zipnn/e4m3_1elem.bin"), None),
    ("e4m3_5elem", include_bytes!("fixtures/zipnn/e4m3_5elem.znn"), include_bytes!("fixtures/zipnn/e4m3_5elem.bin"), None),
    ("e5m2_empty", include_bytes!("fixtures/zipnn/e5m2_empty.znn"), include_bytes!("fixtures/zipnn/e5m2_empty.bin"), None),
    ("e5m2_1elem", include_bytes!("fixtures/zipnn/e5m2_1elem.znn"), include_bytes!("fixtures/zipnn/e5m2_1elem.bin"), None),
    ("e5m2_5elem", include_bytes!("fixtures/zipnn/e5m2_5elem.znn"), include_bytes!("fixtures/zipnn/e5m2_5elem.bin"), None),
    ("bf16_odd_1001", include_bytes!("fixtures/zipnn/bf16_odd_1001.znn"), include_bytes!("fixtures/zipnn/bf16_odd_1001.bin"), None),
    ("bf16_len1002", include_bytes!("fixtures/zipnn/bf16_len1002.znn"), include_bytes!("fixtures/zipnn/bf16_len1002.bin"), None),
    ("fp16_odd_1001", include_bytes!("fixtures/zipnn/fp16_odd_1001.znn"), include_bytes!("fixtures/zipnn/fp16_odd_1001.bin"), None),
    ("fp32_len1001", include_bytes!("fixtures/zipnn/fp32_len1001.znn"), include_bytes!("fixtures/zipnn/fp32_len1001.bin"), None),
    ("fp32_len1002", include_bytes!("fixtures/zipnn/fp32_len1002.znn"), include_bytes!("fixtures/zipnn/fp32_len1002.bin"), None),
    ("fp32_len1003", include_bytes!("fixtures/zipnn/fp32_len1003.znn"), include_bytes!("fixtures/zipnn/fp32_len1003.bin"), None),
    ("e4m3_odd_1001", include_bytes!("fixtures/zipnn/e4m3_odd_1001.znn"), include_bytes!("fixtures/zipnn/e4m3_odd_1001.bin"), None),
    ("bf16_normal_8k", include_bytes!("fixtures/zipnn/bf16_normal_8k.znn"), include_bytes!("fixtures/zipnn/bf16_normal_8k.bin"), None),
    ("fp16_normal_8k", include_bytes!("fixtures/zipnn/fp16_normal_8k.znn"), include_bytes!("fixtures/zipnn/fp16_normal_8k.bin"), None),
    ("fp32_normal_16k", include_bytes!("fixtures/zipnn/fp32_normal_16k.znn"), include_bytes!("fixtures/zipnn/fp32_normal_16k.bin"), None),
    ("e4m3_normal_8k", include_bytes!("fixtures/zipnn/e4m3_normal_8k.znn"), include_bytes!("fixtures/zipnn/e4m3_normal_8k.bin"), None),
    ("e5m2_normal_8k", include_bytes!("fixtures/zipnn/e5m2_normal_8k.znn"), include_bytes!("fixtures/zipnn/e5m2_normal_8k.bin"), None),
    ("bf16_minilm_16k", include_bytes!("fixtures/zipnn/bf16_minilm_16k.znn"), include_bytes!("fixtures/zipnn/bf16_minilm_16k.bin"), None),
    ("fp16_minilm_16k", include_bytes!("fixtures/zipnn/fp16_minilm_16k.znn"), include_bytes!("fixtures/zipnn/fp16_minilm_16k.bin"), None),
    ("fp32_minilm_16k", include_bytes!("fixtures/zipnn/fp32_minilm_16k.znn"), include_bytes!("fixtures/zipnn/fp32_minilm_16k.bin"), None),
    ("bf16_zeros_4k", include_bytes!("fixtures/zipnn/bf16_zeros_4k.znn"), include_bytes!("fixtures/zipnn/bf16_zeros_4k.bin"), None),
    ("fp32_ones_4k", include_bytes!("fixtures/zipnn/fp32_ones_4k.znn"), include_bytes!("fixtures/zipnn/fp32_ones_4k.bin"), None),
    ("bf16_1elem_thr2", include_bytes!("fixtures/zipnn/bf16_1elem_thr2.znn"), include_bytes!("fixtures/zipnn/bf16_1elem_thr2.bin"), None),
    ("bf16_specials", include_bytes!("fixtures/zipnn/bf16_specials.znn"), include_bytes!("fixtures/zipnn/bf16_specials.bin"), None),
    ("fp16_specials", include_bytes!("fixtures/zipnn/fp16_specials.znn"), include_bytes!("fixtures/zipnn/fp16_specials.bin"), None),
    ("fp32_specials", include_bytes!("fixtures/zipnn/fp32_specials.znn"), include_bytes!("fixtures/zipnn/fp32_specials.bin"), None),
    ("e4m3_all_codes", include_bytes!("fixtures/zipnn/e4m3_all_codes.znn"), include_bytes!("fixtures/zipnn/e4m3_all_codes.bin"), None),
    ("e5m2_all_codes", include_bytes!("fixtures/zipnn/e5m2_all_codes.znn"), include_bytes!("fixtures/zipnn/e5m2_all_codes.bin"), None),
    ("bf16_3chunks_mixed", include_bytes!("fixtures/zipnn/bf16_3chunks_mixed.znn"), include_bytes!("fixtures/zipnn/bf16_3chunks_mixed.bin"), None),
    ("fp32_chunk64k_3chunks", include_bytes!("fixtures/zipnn/fp32_chunk64k_3chunks.znn"), include_bytes!("fixtures/zipnn/fp32_chunk64k_3chunks.bin"), None),
    ("bf16_chunk4k", include_bytes!("fixtures/zipnn/bf16_chunk4k.znn"), include_bytes!("fixtures/zipnn/bf16_chunk4k.bin"), None),
    ("e4m3_2chunks", include_bytes!("fixtures/zipnn/e4m3_2chunks.znn"), include_bytes!("fixtures/zipnn/e4m3_2chunks.bin"), None),
    ("bf16_stream8k", include_bytes!("fixtures/zipnn/bf16_stream8k.znn"), include_bytes!("fixtures/zipnn/bf16_stream8k.bin"), None),
    ("fp32_stream4k_chunk1k", include_bytes!("fixtures/zipnn/fp32_stream4k_chunk1k.znn"), include_bytes!("fixtures/zipnn/fp32_stream4k_chunk1k.bin"), None),
    ("e5m2_stream", include_bytes!("fixtures/zipnn/e5m2_stream.znn"), include_bytes!("fixtures/zipnn/e5m2_stream.bin"), None),
    ("bf16_delta_byte", include_bytes!("fixtures/zipnn/bf16_delta_byte.znn"), include_bytes!("fixtures/zipnn/bf16_delta_byte.bin"), Some(include_bytes!("fixtures/zipnn/bf16_delta_byte.base.bin"))),
    ("fp32_delta_file", include_bytes!("fixtures/zipnn/fp32_delta_file.znn"), include_bytes!("fixtures/zipnn/fp32_delta_file.bin"), Some(include_bytes!("fixtures/zipnn/fp32_delta_file.base.bin"))),
    ("bf16_delta_stream", include_bytes!("fixtures/zipnn/bf16_delta_stream.znn"), include_bytes!("fixtures/zipnn/bf16_delta_stream.bin"), Some(include_bytes!("fixtures/zipnn/bf16_delta_stream.base.bin"))),
    ("torch_bf16_20x300", include_bytes!("fixtures/zipnn/torch_bf16_20x300.znn"), include_bytes!("fixtures/zipnn/torch_bf16_20x300.bin"), None),
    ("torch_fp32_3x5", include_bytes!("fixtures/zipnn/torch_fp32_3x5.znn"), include_bytes!("fixtures/zipnn/torch_fp32_3x5.bin"), None),
    ("torch_fp16_2x300x4", include_bytes!("fixtures/zipnn/torch_fp16_2x300x4.znn"), include_bytes!("fixtures/zipnn/torch_fp16_2x300x4.bin"), None),
    ("torch_fp32_scalar", include_bytes!("fixtures/zipnn/torch_fp32_scalar.znn"), include_bytes!("fixtures/zipnn/torch_fp32_scalar.bin"), None),
    ("torch_bf16_empty_5x0x3", include_bytes!("fixtures/zipnn/torch_bf16_empty_5x0x3.znn"), include_bytes!("fixtures/zipnn/torch_bf16_empty_5x0x3.bin"), None),
    ("torch_e4m3_65536", include_bytes!("fixtures/zipnn/torch_e4m3_65536.znn"), include_bytes!("fixtures/zipnn/torch_e4m3_65536.bin"), None),
    ("torch_e5m2_10x100", include_bytes!("fixtures/zipnn/torch_e5m2_10x100.znn"), include_bytes!("fixtures/zipnn/torch_e5m2_10x100.bin"), None),
    ("torch_bf16_1x7", include_bytes!("fixtures/zipnn/torch_bf16_1x7.znn"), include_bytes!("fixtures/zipnn/torch_bf16_1x7.bin"), None),
    ("numpy_fp32_10x100", include_bytes!("fixtures/zipnn/numpy_fp32_10x100.znn"), include_bytes!("fixtures/zipnn/numpy_fp32_10x100.bin"), None),
    ("numpy_fp16_4x250", include_bytes!("fixtures/zipnn/numpy_fp16_4x250.znn"), include_bytes!("fixtures/zipnn/numpy_fp16_4x250.bin"), None),
    ("numpy_fp32_7", include_bytes!("fixtures/zipnn/numpy_fp32_7.znn"), include_bytes!("fixtures/zipnn/numpy_fp32_7.bin"), None),
    ("st_minilm_meta", include_bytes!("fixtures/zipnn/st_minilm_meta.znn.safetensors"), include_bytes!("fixtures/zipnn/st_minilm_meta.safetensors"), None),
    ("st_minilm_nometa", include_bytes!("fixtures/zipnn/st_minilm_nometa.znn.safetensors"), include_bytes!("fixtures/zipnn/st_minilm_nometa.safetensors"), None),
];

fn code(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"code".into())
        .unwrap()
        .as_string()
        .unwrap()
}

#[wasm_bindgen_test]
fn roundtrip_every_dtype() {
    for (name, data) in adversarial(4096) {
        for dtype in DType::ALL {
            let opts = Options {
                dtype: DTypeChoice::Fixed(dtype),
                chunk_size: 4096,
                verify: true,
                threads: 1,
                tans: dtype == DType::BF16,
            };
            let packed = znw::compress(&data, &opts).unwrap();
            assert!(
                zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == data,
                "{name} {dtype}"
            );
        }
    }
}

/// The wasm build splits fp32 byte groups and merges fp32 and 16-bit ones with its own
/// simd128 code (`dtype::group`): the split must follow the format's rule (bytes 0 and 1, then
/// the sign moved below the exponent) and the merge undo it, for every bit pattern (every one
/// of the 16-bit types), at sizes around its blocks of 16 and 64 elements.
#[wasm_bindgen_test]
fn simd_split_and_merge_follow_the_format() {
    let all16: Vec<u8> = (0..=u16::MAX).flat_map(|v| v.to_le_bytes()).collect();
    let f32s = Rng(7).bytes(4 * 70_000);
    let mut groups = Vec::new();
    for (dtype, data) in [
        (DType::BF16, &all16),
        (DType::F16, &all16),
        (DType::F32, &f32s),
    ] {
        let w = dtype.size();
        for n in [
            0,
            1,
            15,
            16,
            17,
            31,
            33,
            1000,
            4095,
            4096,
            4097,
            8209,
            data.len() / w - 3,
            data.len() / w,
        ] {
            let src = &data[..n * w];
            zipnn_wasm::dtype::split(dtype, src, &mut groups);
            if dtype == DType::F32 {
                for (i, x) in src.chunks_exact(4).enumerate() {
                    let m = x[2] & 0x7F | x[3] & 0x80;
                    let e = x[3] << 1 | x[2] >> 7;
                    let got = [0, 1, 2, 3].map(|g| groups[g * n + i]);
                    assert!(got == [x[0], x[1], m, e], "{n} elements, element {i}");
                }
            }
            let parts: Vec<&[u8]> = (0..w).map(|g| &groups[g * n..(g + 1) * n]).collect();
            let mut out = vec![0u8; src.len()];
            zipnn_wasm::dtype::merge(dtype, &parts, &mut out);
            assert!(out == src, "{dtype} with {n} elements");
        }
    }
}

/// float16 `--best` chunks (split blocks, mode 8, and given blocks) decode in wasm.
#[wasm_bindgen_test]
fn float16_context_modes_roundtrip() {
    let data = f16_rows(60_000, 384, 31);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::F16),
        chunk_size: 65536,
        verify: true,
        threads: 1,
        tans: true,
    };
    let packed = znw::compress(&data, &opts).unwrap();
    let report = znw::inspect(&packed).unwrap();
    assert!(report
        .modes
        .iter()
        .any(|m| m.mode == zipnn_wasm::entropy::context::SPLIT));
    assert!(zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == data);
    assert!(js_decompress(&packed, None).unwrap() == data);
}

/// Default float16 chunks: exponent groups as bit-plane blocks (mode 12) decode in wasm (the
/// planes' word-wise unpack, whole units and a group's tail).
#[wasm_bindgen_test]
fn float16_bit_planes_roundtrip() {
    let data = f16_rows(200_000, 200_000, 11);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::F16),
        chunk_size: 65_536 + 4 * 77,
        verify: true,
        threads: 1,
        tans: false,
    };
    let packed = znw::compress(&data, &opts).unwrap();
    let report = znw::inspect(&packed).unwrap();
    assert!(report
        .modes
        .iter()
        .any(|m| m.mode == zipnn_wasm::entropy::block::PLANES));
    assert!(zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == data);
    assert!(js_decompress(&packed, None).unwrap() == data);
}

/// Signs coded by column (mode 9) in a `--best` safetensors file decode in wasm.
#[wasm_bindgen_test]
fn column_signs_roundtrip() {
    let (rows, cols) = (400, 256);
    let file = safetensors(&[(
        "emb",
        "F16",
        vec![rows, cols],
        leaning_f16_rows(rows as usize, cols as usize, 37),
    )]);
    let opts = Options {
        chunk_size: 65536,
        tans: true,
        ..Options::default()
    };
    let packed = znw::compress(&file, &opts).unwrap();
    let report = znw::inspect(&packed).unwrap();
    assert!(report
        .modes
        .iter()
        .any(|m| m.mode == zipnn_wasm::entropy::context::GIVEN_SIGNS));
    assert!(js_decompress(&packed, None).unwrap() == file);
}

/// Signs coded by neighbour (mode 10) in a `--best` raw float32 stream of conv kernels decode
/// in wasm.
#[wasm_bindgen_test]
fn neighbour_signs_roundtrip() {
    let data = conv3x3_f32(8_000, 55);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::F32),
        chunk_size: 1 << 20,
        tans: true,
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    let report = znw::inspect(&packed).unwrap();
    assert!(report
        .modes
        .iter()
        .any(|m| m.mode == zipnn_wasm::entropy::context::GIVEN_NEIGHBOUR));
    assert!(js_decompress(&packed, None).unwrap() == data);
}

/// The `decompress` export as JS calls it (a `Uint8Array` in, a new `Uint8Array` out).
fn js_decompress(packed: &[u8], max_output: Option<f64>) -> Result<Vec<u8>, JsValue> {
    zipnn_wasm::wasm::decompress(&js_sys::Uint8Array::from(packed), max_output, None)
        .map(|a| a.to_vec())
}

/// The `decompressInto` export into a target of `len` bytes.
fn js_decompress_into(packed: &[u8], len: usize) -> Result<Vec<u8>, JsValue> {
    let target = js_sys::Uint8Array::new_with_length(len as u32);
    let n = zipnn_wasm::wasm::decompress_into(&js_sys::Uint8Array::from(packed), &target)?;
    assert_eq!(n, len);
    Ok(target.to_vec())
}

#[wasm_bindgen_test]
fn bindings_roundtrip_and_typed_errors() {
    let mut rng = Rng(3);
    let data = bf16_weights(&mut rng, 100_000);
    let packed =
        zipnn_wasm::wasm::compress(&data, Some("bf16".into()), None, Some(true), None).unwrap();
    assert!(packed.len() < data.len() * 7 / 10);
    assert_eq!(js_decompress(&packed, None).unwrap(), data);
    let mut flipped = packed.clone();
    flipped[packed.len() / 2] ^= 4;
    assert_eq!(
        code(&js_decompress(&flipped, None).unwrap_err()),
        "ZNN_CORRUPT"
    );
    assert_eq!(
        code(&js_decompress(&packed[..packed.len() - 3], None).unwrap_err()),
        "ZNN_TRUNCATED"
    );
    assert_eq!(
        code(&js_decompress(b"not compressed at all", None).unwrap_err()),
        "ZNN_NOT_COMPRESSED"
    );
    assert_eq!(
        code(&js_decompress(&packed, Some(1000.0)).unwrap_err()),
        "ZNN_TOO_LARGE"
    );
    // The instance is still usable after every error.
    assert_eq!(js_decompress(&packed, None).unwrap(), data);
}

/// Writes `packed` through `dec`'s `inputBuffer()` in pieces of at most `piece` bytes, draining
/// the verified bytes into JS arrays as the JS wrapper does; returns them.
fn staged(dec: &mut zipnn_wasm::wasm::StreamDecoder, packed: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < packed.len() {
        let room = dec.input_buffer().unwrap();
        assert!(room.length() >= 1);
        let n = (room.length() as usize).min(piece).min(packed.len() - at);
        room.subarray(0, n as u32).copy_from(&packed[at..at + n]);
        at += n;
        let mut ready = dec.commit(n).unwrap();
        loop {
            if ready > 0 {
                let a = js_sys::Uint8Array::new_with_length(ready as u32);
                dec.drain_into(&a).unwrap();
                out.extend_from_slice(&a.to_vec());
            }
            if !dec.pending() {
                break;
            }
            ready = dec.commit(0).unwrap();
        }
    }
    dec.finish().unwrap();
    out
}

/// A `.znn.safetensors` file that lists its compressed tensors streams through the same
/// staging, told its format: the whole-file decoder's bytes, and the restored file's tensor
/// table as the header.
#[wasm_bindgen_test]
fn stream_decoder_restores_listed_znn_safetensors() {
    use zipnn_wasm::wasm::StreamDecoder;
    let (_, packed, _, _) = FIXTURES.iter().find(|f| f.0 == "st_minilm_meta").unwrap();
    // (The restored file has the same tensors as the source, not the same JSON header.)
    let want = zipnn_wasm::decompress(packed, &Default::default()).unwrap();
    for piece in [1usize, 999, 70_000] {
        let mut dec = StreamDecoder::new(None, None, Some("znn-safetensors".into())).unwrap();
        assert!(staged(&mut dec, packed, piece) == want, "pieces of {piece}");
    }
    let mut dec = StreamDecoder::new(None, None, Some("znn-safetensors".into())).unwrap();
    dec.push(&packed[..packed.len() / 2]).unwrap();
    let h = dec.take_header().unwrap();
    let total = js_sys::Reflect::get(&h, &"totalSize".into()).unwrap();
    assert_eq!(total.as_f64(), Some(want.len() as f64));
    let segments = js_sys::Reflect::get(&h, &"segments".into()).unwrap();
    assert_eq!(js_sys::Array::from(&segments).length(), 8); // __header__ and 7 tensors
    let err = StreamDecoder::new(None, None, Some("gguf".into()))
        .err()
        .unwrap();
    assert_eq!(code(&err), "ZNN_INVALID_INPUT");
}

/// A `.znw` file larger than 4 GiB is inspected in wasm32, read a piece at a time: through a
/// `Source` and through `inspectReader`'s JS function (positions above 2^32 as JS numbers),
/// and `RandomAccessFile` reads its bytes across the 4 GiB line.
#[wasm_bindgen_test]
fn inspect_walks_a_file_past_4_gib() {
    use std::cell::Cell;
    use std::rc::Rc;
    use wasm_bindgen::prelude::*;
    use zipnn_wasm::format::Source;
    let mut src = BigZnw::new(257);
    let size = src.size();
    assert!(size > 1 << 32);
    let data = src.data.clone();
    let r = zipnn_wasm::inspect_source(&mut src).unwrap();
    assert_eq!(
        (r.total_size, r.compressed_size, r.chunks),
        (257 << 24, size, 257)
    );

    // The furthest offset asked for.
    let far = Rc::new(Cell::new(0f64));
    let f = far.clone();
    let read = Closure::<dyn FnMut(f64, f64) -> js_sys::Uint8Array>::new(move |o: f64, n: f64| {
        f.set(f.get().max(o));
        js_sys::Uint8Array::from(src.read(o as u64, n as usize).unwrap())
    });
    let js = zipnn_wasm::wasm::inspect_reader(
        size as f64,
        read.as_ref().unchecked_ref::<js_sys::Function>().clone(),
    )
    .unwrap();
    let get = |k: &str| {
        js_sys::Reflect::get(&js, &k.into())
            .unwrap()
            .as_f64()
            .unwrap()
    };
    assert_eq!(get("totalSize"), (257u64 << 24) as f64);
    assert_eq!((get("compressedSize"), get("chunks")), (size as f64, 257.0));
    assert!(far.get() > (1u64 << 32) as f64, "read past 4 GiB");

    let read_fn = read.as_ref().unchecked_ref::<js_sys::Function>().clone();
    let mut file = zipnn_wasm::wasm::RandomAccessFile::new(size as f64, read_fn, None).unwrap();
    assert_eq!(file.size(), (257u64 << 24) as f64);
    let target = js_sys::Uint8Array::new_with_length(100);
    file.read_into(((1u64 << 32) - 50) as f64, &target).unwrap();
    let (got, c) = (target.to_vec(), BigZnw::CHUNK);
    assert_eq!((&got[..50], &got[50..]), (&data[c - 50..], &data[..50]));

    // What the function throws is what the call throws.
    let thrown = Closure::<dyn FnMut(f64, f64) -> Result<js_sys::Uint8Array, JsValue>>::new(
        |_: f64, _: f64| Err(JsValue::from_str("disk on fire")),
    );
    let err = zipnn_wasm::wasm::inspect_reader(
        size as f64,
        thrown.as_ref().unchecked_ref::<js_sys::Function>().clone(),
    )
    .unwrap_err();
    assert_eq!(err.as_string().as_deref(), Some("disk on fire"));
}

/// A listed `.znn.safetensors` file whose data runs past 4 GiB streams in wasm32 too: file
/// offsets are 64-bit, only what is held at once must fit (here a 4.5 GiB gap between two
/// compressed tensors, skipped as it passes).
#[wasm_bindgen_test]
fn stream_decoder_restores_znn_safetensors_past_4_gib() {
    use zipnn_wasm::wasm::StreamDecoder;
    let (_, frame, bin, _) = FIXTURES.iter().find(|f| f.0 == "bf16_normal_8k").unwrap();
    let (len, gap) = (frame.len() as u64, 9u64 << 29);
    let list = format!(
        r#"{{\"a\": {{\"dtype\": \"bfloat16\", \"shape\": \"[{0}]\"}}, \"b\": {{\"dtype\": \"bfloat16\", \"shape\": \"[{0}]\"}}}}"#,
        bin.len() / 2
    );
    let json = format!(
        r#"{{"__metadata__":{{"znn_compressed_vectors":"{list}"}},"a":{{"dtype":"U8","shape":[{len}],"data_offsets":[0,{len}]}},"b":{{"dtype":"U8","shape":[{len}],"data_offsets":[{},{}]}}}}"#,
        len + gap,
        2 * len + gap
    );
    let mut dec = StreamDecoder::new(None, None, Some("znn-safetensors".into())).unwrap();
    dec.push(&(json.len() as u64).to_le_bytes()).unwrap();
    dec.push(json.as_bytes()).unwrap();
    dec.push(frame).unwrap();
    let zeros = vec![0u8; 4 << 20];
    let mut left = gap;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        dec.push(&zeros[..n]).unwrap();
        left -= n as u64;
    }
    dec.push(frame).unwrap();
    dec.finish().unwrap();
    let out = dec.drain().to_vec();
    let header = 8 + u64::from_le_bytes(out[..8].try_into().unwrap()) as usize;
    assert_eq!(out.len(), header + 2 * bin.len());
    assert!(out[header..header + bin.len()] == **bin && out[header + bin.len()..] == **bin);
}

/// One ZipNN frame that decodes to 4 GiB or more streams in wasm32 a chunk at a time: only
/// the compressed frame and a chunk are held (a 5 GiB bf16 frame of zeros, 1 MiB chunks, each
/// stream of each chunk a one-byte run).
#[wasm_bindgen_test]
fn stream_decoder_decodes_one_zipnn_frame_past_4_gib() {
    use zipnn_wasm::format::zipnn;
    use zipnn_wasm::wasm::StreamDecoder;
    let chunks = 5u64 << 10;
    let mut frame = b"ZN".to_vec();
    frame.extend_from_slice(&zipnn::VERSION);
    frame.extend_from_slice(&[10, 1, 0, 1, 0, 0, 0, 0, 0, 20, 6]); // bf16, byte format, 1 MiB chunks
    frame.extend_from_slice(&(chunks << 20).to_le_bytes());
    frame.extend_from_slice(&0u64.to_le_bytes()); // the frame's length, below
    frame.extend(std::iter::repeat_n(1u8, 2 * chunks as usize)); // huffman-or-run
    for _ in 0..2 {
        for c in 1..=chunks {
            frame.extend_from_slice(&c.to_le_bytes()); // one byte a chunk
        }
    }
    frame.extend(std::iter::repeat_n(0u8, 2 * chunks as usize));
    let n = frame.len() as u64;
    frame[24..32].copy_from_slice(&n.to_le_bytes());

    let mut dec = StreamDecoder::new(None, None, None).unwrap();
    let mut at = 0;
    let mut out = 0u64;
    let mut nonzero = false;
    while at < frame.len() || dec.pending() {
        let room = dec.input_buffer().unwrap();
        let k = (room.length() as usize).min(frame.len() - at);
        room.subarray(0, k as u32).copy_from(&frame[at..at + k]);
        at += k;
        let mut ready = dec.commit(k).unwrap();
        loop {
            if ready > 0 {
                let a = dec.drain();
                nonzero |= a.get_index(0) != 0 || a.get_index(a.length() - 1) != 0;
                out += a.length() as u64;
            }
            if !dec.pending() {
                break;
            }
            ready = dec.commit(0).unwrap();
        }
    }
    dec.finish().unwrap();
    assert_eq!(out, chunks << 20);
    assert!(!nonzero);
}

/// The StreamDecoder's staging API as the JS wrapper uses it: bytes written through the
/// `inputBuffer()` view of wasm memory, `commit(n)`, verified bytes drained into JS arrays.
#[wasm_bindgen_test]
fn stream_decoder_staging_through_the_memory_view() {
    use zipnn_wasm::wasm::StreamDecoder;
    let mut rng = Rng(8);
    let data = bf16_weights(&mut rng, 700_000);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        chunk_size: 64 << 10,
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    for piece in [1usize, 1000, 70_000, 3 << 20] {
        let mut dec = StreamDecoder::new(None, None, None).unwrap();
        assert!(
            staged(&mut dec, &packed, piece) == data,
            "pieces of {piece}"
        );
    }
    // Errors are typed, stay, and a commit past the offered room is refused.
    let mut dec = StreamDecoder::new(None, None, None).unwrap();
    let room = dec.input_buffer().unwrap().length() as usize;
    assert_eq!(
        code(&dec.commit(room + 1).unwrap_err()),
        "ZNN_INVALID_INPUT"
    );
    let mut bad = packed.clone();
    bad[packed.len() / 2] ^= 1;
    let mut dec = StreamDecoder::new(None, None, None).unwrap();
    let mut failed = None;
    for c in bad.chunks(50_000) {
        let view = dec.input_buffer().unwrap();
        let n = c.len().min(view.length() as usize);
        view.subarray(0, n as u32).copy_from(&c[..n]);
        if let Err(e) = dec.commit(n) {
            failed = Some(code(&e));
            break;
        }
        let _ = dec.drain();
    }
    assert_eq!(failed.as_deref(), Some("ZNN_CORRUPT"), "bit flip");
    let mut dec = StreamDecoder::new(None, None, None).unwrap();
    dec.push(&packed[..packed.len() - 1]).unwrap();
    assert_eq!(code(&dec.finish().unwrap_err()), "ZNN_TRUNCATED");
}

/// Tiny records of highly compressible chunks (here 16 MiB of zeros in 30 bytes each) must not
/// make one `commit` decode all of them: it stops at about 4 MiB plus one chunk, `pending()`
/// says more is staged, and `commit(0)` goes on after each drain.
#[wasm_bindgen_test]
fn stream_decoder_commit_output_is_bounded() {
    use zipnn_wasm::wasm::StreamDecoder;
    let chunk = 1usize << 20;
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::Bytes),
        chunk_size: chunk as u32,
        ..Options::default()
    };
    let data = vec![0u8; 16 * chunk];
    let packed = znw::compress(&data, &opts).unwrap();
    assert!(packed.len() < 4096, "{} bytes", packed.len());
    let mut dec = StreamDecoder::new(None, None, None).unwrap();
    let room = dec.input_buffer().unwrap();
    room.subarray(0, packed.len() as u32).copy_from(&packed);
    let mut ready = dec.commit(packed.len()).unwrap();
    let (mut total, mut calls) = (0, 0);
    loop {
        assert!(
            ready <= (4 << 20) + chunk,
            "{ready} bytes ready from one commit"
        );
        total += ready;
        let a = js_sys::Uint8Array::new_with_length(ready as u32);
        dec.drain_into(&a).unwrap();
        assert!(a.to_vec().iter().all(|&b| b == 0));
        if !dec.pending() {
            break;
        }
        calls += 1;
        ready = dec.commit(0).unwrap();
    }
    assert!(calls >= 3, "{calls}");
    assert_eq!(total, data.len());
    dec.finish().unwrap();
}

/// Every bit flip either fails to decode or decodes to the original (a body checksum, or bits
/// the entropy decoders ignore, is read only when something else fails: FORMAT.md §3); the
/// integrity check (`znw::check_bodies` after a decode) catches every one.
#[wasm_bindgen_test]
fn every_bit_flip_of_a_small_file_is_detected() {
    let mut rng = Rng(5);
    let data = bf16_weights(&mut rng, 1500);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        chunk_size: 1024,
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    let mut harmless = 0;
    for bit in 0..packed.len() * 8 {
        let mut p = packed.clone();
        p[bit / 8] ^= 1 << (bit % 8);
        if let Ok(out) = zipnn_wasm::decompress(&p, &Limits::default()) {
            assert!(out == data, "bit {bit}: other bytes");
            assert!(
                znw::check_bodies(&p).is_err(),
                "bit {bit}: the check missed it"
            );
            harmless += 1;
        }
    }
    assert!(harmless < packed.len(), "{harmless} flips decoded");
    for cut in 0..packed.len() {
        assert!(
            zipnn_wasm::decompress(&packed[..cut], &Limits::default()).is_err(),
            "cut {cut}"
        );
    }
}

#[wasm_bindgen_test]
fn zipnn_fixtures_decode_exactly() {
    use zipnn_wasm::format::{safetensors as st, zipnn};
    for (name, packed, want, base) in FIXTURES {
        let got = match base {
            Some(b) => zipnn::decompress(packed, Some(b), &Limits::default()).unwrap(),
            None if packed.len() == 32 => {
                zipnn::decompress(packed, None, &Limits::default()).unwrap()
            }
            None => zipnn_wasm::decompress(packed, &Limits::default()).unwrap(),
        };
        if name.starts_with("st_") {
            // zipnn's own restore, which is the original here (the safetensors library wrote it).
            assert!(got == *want, "{name}: not the original's bytes");
            let tensors = |f: &[u8]| {
                let mut v: Vec<_> = st::parse(f, f.len() as u64)
                    .unwrap()
                    .tensors
                    .into_iter()
                    .map(|t| {
                        (
                            t.name,
                            t.dtype,
                            t.shape,
                            f[t.start as usize..t.end as usize].to_vec(),
                        )
                    })
                    .collect();
                v.sort();
                v
            };
            assert_eq!(tensors(&got), tensors(want), "{name}");
        } else {
            assert!(got == *want, "{name}");
        }
    }
}

#[wasm_bindgen_test]
fn sampled_bit_flips_and_truncations_of_a_large_file_are_detected() {
    let mut rng = Rng(61);
    let data = bf16_weights(&mut rng, 2_000_000);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    for _ in 0..300 {
        let bit = rng.below(packed.len() as u64 * 8) as usize;
        let mut p = packed.clone();
        p[bit / 8] ^= 1 << (bit % 8);
        let e = zipnn_wasm::decompress(&p, &Limits::default()).expect_err("flip undetected");
        assert!(
            matches!(
                e.code(),
                "ZNN_CORRUPT" | "ZNN_TRUNCATED" | "ZNN_NOT_COMPRESSED" | "ZNN_UNSUPPORTED"
            ),
            "bit {bit}: {e}"
        );
    }
    for _ in 0..50 {
        let cut = rng.below(packed.len() as u64) as usize;
        assert!(
            zipnn_wasm::decompress(&packed[..cut], &Limits::default()).is_err(),
            "cut {cut}"
        );
    }
    assert!(zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == data);
}

#[wasm_bindgen_test]
fn bindings_decode_chunk_by_chunk_exactly() {
    // Many chunks of several dtypes: the exports read records from the JS input one by one and
    // copy each verified chunk into the JS output.
    let mut rng = Rng(17);
    let mut data = bf16_weights(&mut rng, 50_000);
    data.extend_from_slice(&[1, 2, 3]);
    for dtype in [DType::BF16, DType::F32, DType::F16, DType::Bytes] {
        let opts = Options {
            dtype: DTypeChoice::Fixed(dtype),
            chunk_size: 4096,
            ..Options::default()
        };
        let packed = znw::compress(&data, &opts).unwrap();
        assert!(js_decompress(&packed, None).unwrap() == data, "{dtype:?}");
        assert!(
            js_decompress_into(&packed, data.len()).unwrap() == data,
            "{dtype:?}"
        );
        for len in [0, data.len() - 1, data.len() + 1] {
            let e = js_decompress_into(&packed, len).unwrap_err();
            assert_eq!(code(&e), "ZNN_INVALID_INPUT");
        }
        assert_eq!(
            code(&js_decompress(&packed, Some(1000.0)).unwrap_err()),
            "ZNN_TOO_LARGE"
        );
    }
    // A delta needs its base.
    let base: Vec<u8> = data.iter().map(|b| b ^ 1).collect();
    let delta = znw::compress_delta(&data, &base, &Options::default(), &mut |_| {}).unwrap();
    assert_eq!(
        code(&js_decompress(&delta, None).unwrap_err()),
        "ZNN_UNSUPPORTED"
    );
    assert_eq!(
        code(&js_decompress_into(&delta, data.len()).unwrap_err()),
        "ZNN_UNSUPPORTED"
    );
}

#[wasm_bindgen_test]
fn bindings_handle_every_bit_flip_and_truncation() {
    let mut rng = Rng(23);
    let data = bf16_weights(&mut rng, 1500);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        chunk_size: 1024,
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    // As every_bit_flip_of_a_small_file_is_detected: an error, or the original bytes.
    for bit in 0..packed.len() * 8 {
        let mut p = packed.clone();
        p[bit / 8] ^= 1 << (bit % 8);
        let whole = zipnn_wasm::decompress(&p, &Limits::default()).ok();
        assert_eq!(js_decompress_into(&p, data.len()).ok(), whole, "bit {bit}");
        assert_eq!(js_decompress(&p, None).ok(), whole, "bit {bit}");
        assert!(whole.is_none_or(|w| w == data), "bit {bit}");
    }
    for cut in 0..packed.len() {
        assert!(
            js_decompress_into(&packed[..cut], data.len()).is_err(),
            "cut {cut}"
        );
        assert!(js_decompress(&packed[..cut], None).is_err(), "cut {cut}");
    }
}

#[wasm_bindgen_test]
fn bindings_decode_zipnn_fixtures_exactly() {
    for (name, packed, want, _) in FIXTURES {
        let whole = match zipnn_wasm::decompress(packed, &Limits::default()) {
            Err(e) => {
                // Deltas without their base, frames the auto-detection does not claim.
                let js = js_decompress(packed, None).unwrap_err();
                assert_eq!(code(&js), e.code(), "{name}");
                let js = js_decompress_into(packed, want.len()).unwrap_err();
                assert_eq!(code(&js), e.code(), "{name}");
                continue;
            }
            Ok(w) => w,
        };
        assert!(js_decompress(packed, None).unwrap() == whole, "{name}");
        assert!(
            js_decompress_into(packed, whole.len()).unwrap() == whole,
            "{name}"
        );
        if !whole.is_empty() {
            let e = js_decompress_into(packed, whole.len() - 1).unwrap_err();
            assert_eq!(code(&e), "ZNN_INVALID_INPUT", "{name}");
        }
    }
}

/// The bindings read ZipNN files (frames and `.znn.safetensors`) from the JS array a piece at
/// a time, with their own range checks: on damaged files (truncated, bits flipped in the
/// headers, tables and payload) they must give what the decoder of one buffer gives, the same
/// bytes or an error of the same kind. (One test per file: a headless browser's driver gives
/// up on a page that stays busy for 20 s.)
fn damaged_zipnn_file_decodes_as_the_buffer_decoder_does(name: &str, seed: u64) {
    let mut rng = Rng(seed);
    let (_, packed, want, _) = FIXTURES.iter().find(|f| f.0 == name).unwrap();
    let check = |p: &[u8], what: &str| match zipnn_wasm::decompress(p, &Limits::default()) {
        Ok(w) => {
            assert!(js_decompress(p, None).unwrap() == w, "{name} {what}");
            assert!(
                js_decompress_into(p, w.len()).unwrap() == w,
                "{name} {what}"
            );
        }
        Err(e) => {
            let js = js_decompress(p, None).unwrap_err();
            assert_eq!(code(&js), e.code(), "{name} {what}");
            assert!(js_decompress_into(p, want.len()).is_err(), "{name} {what}");
        }
    };
    // Every cut through the headers and tables, then cuts anywhere.
    let cuts = (0..packed.len().min(1000))
        .chain((0..100).map(|_| rng.below(packed.len() as u64) as usize));
    for cut in cuts {
        check(&packed[..cut], &format!("cut {cut}"));
    }
    // Every bit of the first 400 bytes, then every 151st bit (frame headers and tables of the
    // tensors of a `.znn.safetensors` file lie anywhere).
    let bits = (0..packed.len().min(400) * 8).chain((0..packed.len() * 8).step_by(151));
    for bit in bits {
        let mut p = packed.to_vec();
        p[bit / 8] ^= 1 << (bit % 8);
        check(&p, &format!("bit {bit}"));
    }
}

#[wasm_bindgen_test]
fn bindings_decode_damaged_zipnn_frames_as_the_buffer_decoder_does() {
    for (i, name) in [
        "fp32_chunk64k_3chunks",
        "bf16_stream8k",
        "torch_bf16_20x300",
    ]
    .into_iter()
    .enumerate()
    {
        damaged_zipnn_file_decodes_as_the_buffer_decoder_does(name, 29 + i as u64);
    }
}

#[wasm_bindgen_test]
fn bindings_decode_damaged_znn_safetensors_meta_as_the_buffer_decoder_does() {
    damaged_zipnn_file_decodes_as_the_buffer_decoder_does("st_minilm_meta", 31);
}

#[wasm_bindgen_test]
fn bindings_decode_damaged_znn_safetensors_nometa_as_the_buffer_decoder_does() {
    damaged_zipnn_file_decodes_as_the_buffer_decoder_does("st_minilm_nometa", 37);
}

/// ZipNN files are read from the JS array a chunk at a time, never copied whole into wasm
/// memory: a 48 MiB streaming file (one 1 MiB frame, repeated) and a `.znn.safetensors` file of
/// 48 such tensors decode with wasm memory grown by far less than their size, into a target
/// and into a new array.
#[wasm_bindgen_test]
fn bindings_decode_big_zipnn_files_in_bounded_memory() {
    use zipnn_wasm::format::safetensors as st;
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    let piece = bf16_weights(&mut Rng(41), 1 << 19);
    let n = 48;
    let repeated = |head: &[u8], frame: &[u8]| {
        let file = js_sys::Uint8Array::new_with_length((head.len() + frame.len() * n) as u32);
        file.subarray(0, head.len() as u32).copy_from(head);
        for i in 0..n {
            let at = (head.len() + i * frame.len()) as u32;
            file.subarray(at, at + frame.len() as u32).copy_from(frame);
        }
        file
    };

    // Streaming frames of 1 MiB.
    let opts = ZipnnOptions {
        streaming_log2: Some(20),
        ..ZipnnOptions::new(ZDType::BF16)
    };
    let frame = zipnn::compress(&piece, &opts).unwrap();
    assert_eq!(
        zipnn::frames(&frame, &Limits::default()).unwrap().0.len(),
        1
    );
    let frames = repeated(&[], &frame);

    // The same piece as the 48 compressed tensors of a `.znn.safetensors` file.
    let frame = zipnn::compress(&piece, &ZipnnOptions::new(ZDType::BF16)).unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("t{i:02}")).collect();
    let entries: Vec<_> = (0..n)
        .map(|i| {
            let (a, b) = ((i * frame.len()) as u64, ((i + 1) * frame.len()) as u64);
            (
                names[i].clone(),
                "U8".into(),
                vec![frame.len() as u64],
                a,
                b,
            )
        })
        .collect();
    let listed: Vec<String> = names
        .iter()
        .map(|t| {
            format!(
                r#""{t}": {{"dtype": "bfloat16", "shape": "[{}]"}}"#,
                piece.len() / 2
            )
        })
        .collect();
    let meta = [(
        "znn_compressed_vectors".into(),
        format!("{{{}}}", listed.join(", ")),
    )];
    let mut head = Vec::new();
    st::write_header(&entries, &meta, &mut head);
    let tensors = repeated(&head, &frame);

    for (what, file) in [("streaming frames", frames), (".znn.safetensors", tensors)] {
        let pages = || core::arch::wasm32::memory_size(0) * 65536;
        let before = pages();
        let fresh = zipnn_wasm::wasm::decompress(&file, None, None).unwrap();
        let len = fresh.length() as usize;
        let target = js_sys::Uint8Array::new_with_length(len as u32);
        assert_eq!(
            zipnn_wasm::wasm::decompress_into(&file, &target).unwrap(),
            len
        );
        let grown = pages() - before;
        assert!(
            grown < 8 << 20,
            "{what}: wasm memory grew by {grown} bytes for a {len}-byte output"
        );
        // The pieces end the output (after the restored header, for safetensors).
        let start = len - piece.len() * n;
        for out in [&target, &fresh] {
            for i in [0, n / 2, n - 1] {
                let at = (start + i * piece.len()) as u32;
                assert!(
                    out.subarray(at, at + piece.len() as u32).to_vec() == piece,
                    "{what}: piece {i}"
                );
            }
        }
    }
}

#[wasm_bindgen_test]
fn bindings_chunk_table_and_record_runs() {
    // What pkg's worker pool does: the table once, then runs of records decoded into their
    // part of one output (here a view of a SharedArrayBuffer, as in the pool).
    let mut rng = Rng(29);
    let data = bf16_weights(&mut rng, 40_000);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        chunk_size: 8192,
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    let js = js_sys::Uint8Array::from(&packed[..]);
    let t = zipnn_wasm::wasm::znw_chunk_table(&js, None)
        .unwrap()
        .to_vec();
    let n = t[1] as usize;
    assert!(n >= 9);
    let (start, offset) = (|i: usize| t[2 + 2 * i] as u32, |i: usize| t[3 + 2 * i]);
    assert_eq!(offset(n), data.len() as f64);
    assert_eq!(start(n) as usize, packed.len() - znw::chunk::END_LEN);
    let sab = js_sys::SharedArrayBuffer::new(data.len() as u32);
    let out = js_sys::Uint8Array::new(&sab);
    let run = |a: usize, b: usize, at: f64| {
        let len = (offset(b) - offset(a)) as u32;
        let target = out.subarray(offset(a) as u32, offset(a) as u32 + len);
        zipnn_wasm::wasm::decode_znw_records(
            &js.subarray(start(a), start(b)),
            at,
            t[0] as u32,
            &target,
        )
    };
    for (a, b) in [(0, 3), (3, 4), (4, n)] {
        run(a, b, offset(a)).unwrap();
    }
    assert!(out.to_vec() == data);
    // A wrong offset fails the seeded checksum; a bad offset value is refused.
    assert_eq!(code(&run(3, 4, offset(2)).unwrap_err()), "ZNN_CORRUPT");
    for bad in [-1.0, 0.5, f64::NAN, 1e300] {
        assert_eq!(code(&run(3, 4, bad).unwrap_err()), "ZNN_INVALID_INPUT");
    }
    // A flipped bit inside a run.
    let mut flipped = packed.clone();
    flipped[(start(5) + 100) as usize] ^= 8;
    let fj = js_sys::Uint8Array::from(&flipped[..]);
    let target = out.subarray(offset(4) as u32, offset(6) as u32);
    let e = zipnn_wasm::wasm::decode_znw_records(
        &fj.subarray(start(4), start(6)),
        offset(4),
        t[0] as u32,
        &target,
    );
    assert_eq!(code(&e.unwrap_err()), "ZNN_CORRUPT");
    // The table refuses what decompress refuses.
    assert_eq!(
        code(&zipnn_wasm::wasm::znw_chunk_table(&js, Some(1000.0)).unwrap_err()),
        "ZNN_TOO_LARGE"
    );
    let cut = js.subarray(0, packed.len() as u32 - 1);
    assert_eq!(
        code(&zipnn_wasm::wasm::znw_chunk_table(&cut, None).unwrap_err()),
        "ZNN_TRUNCATED"
    );
    let base: Vec<u8> = data.iter().map(|b| b ^ 1).collect();
    let delta = znw::compress_delta(&data, &base, &opts, &mut |_| {}).unwrap();
    let dj = js_sys::Uint8Array::from(&delta[..]);
    assert_eq!(
        code(&zipnn_wasm::wasm::znw_chunk_table(&dj, None).unwrap_err()),
        "ZNN_UNSUPPORTED"
    );
}

/// A run of parts of `zipnnPieceTable`'s table `t` as pkg's pool sends it: the parts'
/// stretches copied together, and each part as `decodeZipnnPieces` reads it.
fn zipnn_run_of(packed: &[u8], t: &[f64], a: usize, b: usize) -> (Vec<u8>, Vec<f64>) {
    let at = |i: usize, k: usize| t[1 + 16 * i + k];
    let (mut records, mut parts) = (Vec::new(), Vec::new());
    for i in a..b {
        parts.extend([at(i, 0), at(i, 2), at(i, 3), at(i, 4)]);
        for s in 0..5 {
            let (start, len) = (at(i, 6 + 2 * s) as usize, at(i, 7 + 2 * s) as usize);
            let from = at(i, 1) as usize + start;
            parts.extend([records.len() as f64, start as f64, len as f64]);
            records.extend_from_slice(&packed[from..from + len]);
        }
    }
    (records, parts)
}

#[wasm_bindgen_test]
fn bindings_zipnn_piece_table_and_runs() {
    // What pkg's worker pool does with ZipNN input: the part table once (frames, tensors of a
    // .znn.safetensors file, runs of a big frame's chunks), then runs of parts decoded into
    // their part of one shared output. Every file zipnn wrote, cut per chunk and per frame.
    let table = zipnn_wasm::wasm::zipnn_piece_table;
    let decode = zipnn_wasm::wasm::decode_zipnn_pieces;
    let (mut files, mut cut) = (0, 0);
    for (name, packed, _, _) in FIXTURES {
        let js = js_sys::Uint8Array::from(&packed[..]);
        let whole = match zipnn_wasm::decompress(packed, &Limits::default()) {
            Ok(w) => w,
            Err(e) => {
                // The table refuses what decompress refuses (deltas without their base).
                let t = table(&js, None, None).map(|_| ()).unwrap_err();
                assert_eq!(code(&t), e.code(), "{name}");
                continue;
            }
        };
        files += 1;
        for part_bytes in [1.0, 1e12] {
            let parts = table(&js, None, Some(part_bytes)).unwrap();
            let header = js_sys::Uint8Array::from(parts.get(0)).to_vec();
            let t = js_sys::Float64Array::from(parts.get(1)).to_vec();
            let n = t[0] as usize;
            assert_eq!(t.len(), 16 * n + 2, "{name}");
            let offset = |i: usize| if i == n { t[16 * n + 1] } else { t[1 + 16 * i + 5] } as u32;
            assert_eq!(offset(n) as usize, whole.len(), "{name}");
            assert_eq!(offset(0) as usize, header.len(), "{name}");
            let sab = js_sys::SharedArrayBuffer::new(whole.len() as u32);
            let out = js_sys::Uint8Array::new(&sab);
            out.subarray(0, header.len() as u32).copy_from(&header);
            let run = |a: usize, b: usize, parts: &[f64], records: &[u8]| {
                let target = out.subarray(offset(a), offset(b));
                decode(&js_sys::Uint8Array::from(records), parts, &target)
            };
            let mut a = 0;
            while a < n {
                let b = (a + 1 + a % 3).min(n);
                let (records, parts) = zipnn_run_of(packed, &t, a, b);
                run(a, b, &parts, &records).unwrap_or_else(|e| panic!("{name} {a}..{b}: {e:?}"));
                a = b;
            }
            assert!(out.to_vec() == whole, "{name} parts of {part_bytes}");
            if part_bytes > 1.0 || n < 2 {
                continue;
            }
            cut += (0..n).any(|i| t[1 + 16 * i + 3] > 0.0) as usize;
            // The list comes from this module's own table, not from the file; a wrong one
            // may decode other bytes (ZipNN has no checksums), but it never panics or traps:
            // every position and length is checked before use.
            let (records, parts) = zipnn_run_of(packed, &t, 0, n);
            for i in 0..parts.len().min(3 * 19) {
                for v in [f64::NAN, -1.0, 0.5, 1.0, 7.0, 1e15, parts[i] + 1.0] {
                    let mut p = parts.clone();
                    p[i] = v;
                    if let Err(e) = run(0, n, &p, &records) {
                        let c = code(&e);
                        assert!(
                            matches!(
                                c.as_str(),
                                "ZNN_INVALID_INPUT"
                                    | "ZNN_CORRUPT"
                                    | "ZNN_TRUNCATED"
                                    | "ZNN_NOT_COMPRESSED"
                                    | "ZNN_UNSUPPORTED"
                            ),
                            "{name} {i} {v}: {c}"
                        );
                    }
                }
            }
            let short = out.subarray(offset(0), offset(n) - 1);
            let e = decode(&js_sys::Uint8Array::from(&records[..]), &parts, &short).unwrap_err();
            assert_eq!(code(&e), "ZNN_INVALID_INPUT", "{name}");
            let e =
                decode(&js_sys::Uint8Array::from(&records[..]), &parts[1..], &short).unwrap_err();
            assert_eq!(code(&e), "ZNN_INVALID_INPUT", "{name}");
        }
    }
    assert!(
        files > 40 && cut > 2,
        "{files} files, {cut} cut into chunk runs"
    );
    // A frame of tiny chunks is mostly tables, which every part carries: it is cut into no
    // more parts than keep those copies within the frame's size (else they grow with the
    // square of its chunks).
    let mut rng = Rng(37);
    let data = bf16_weights(&mut rng, 1 << 19); // 1 MiB
    let mut o =
        zipnn_wasm::format::zipnn::ZipnnOptions::new(zipnn_wasm::format::zipnn::ZDType::BF16);
    o.chunk_log2 = 10; // the least our writer takes
    let packed = zipnn_wasm::format::zipnn::compress(&data, &o).unwrap();
    let parts = table(&js_sys::Uint8Array::from(&packed[..]), None, Some(1.0)).unwrap();
    let t = js_sys::Float64Array::from(parts.get(1)).to_vec();
    let n = t[0] as usize;
    let (records, list) = zipnn_run_of(&packed, &t, 0, n);
    assert!(
        n >= 2 && records.len() <= 2 * packed.len(),
        "{n} parts, {} bytes",
        records.len()
    );
    let out = js_sys::Uint8Array::new_with_length(data.len() as u32);
    decode(&js_sys::Uint8Array::from(&records[..]), &list, &out).unwrap();
    assert!(out.to_vec() == data);
    // Other formats are not ZipNN's.
    let mut rng = Rng(31);
    let data = bf16_weights(&mut rng, 1000);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        ..Options::default()
    };
    let ours = js_sys::Uint8Array::from(&znw::compress(&data, &opts).unwrap()[..]);
    let e = table(&ours, None, None).map(|_| ()).unwrap_err();
    assert_eq!(code(&e), "ZNN_NOT_COMPRESSED");
}
