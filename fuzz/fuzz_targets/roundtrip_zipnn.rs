//! `format::zipnn::compress` (input-chosen dtype, small chunk, optional streaming frames), then
//! `format::zipnn::decompress`: the bytes must come back exactly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
use zipnn_wasm::Limits;
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let d = c.u8();
    let chunk_log2 = 10 + c.u8() % 7; // 1 KiB ..= 64 KiB
    let s = c.u8();
    let data = c.rest();
    begin(data.len());
    let dtype = [
        ZDType::F32,
        ZDType::F16,
        ZDType::BF16,
        ZDType::F8E4M3,
        ZDType::F8E5M2,
    ][d as usize % 5];
    let mut opts = ZipnnOptions::new(dtype);
    opts.chunk_log2 = chunk_log2;
    opts.streaming_log2 = (s & 1 != 0).then_some(8 + (s >> 1) % 10); // 256 B ..= 128 KiB
    let packed = match zipnn::compress(data, &opts) {
        Ok(p) => p,
        Err(e) => {
            assert!(
                dtype == ZDType::F32 && data.len() % 4 != 0,
                "compress failed: {e}"
            );
            return;
        }
    };
    let lim = Limits {
        max_output: data.len() as u64,
    };
    let out = zipnn::decompress(&packed, None, &lim).expect("decompress of our own file");
    assert!(out == data, "round trip differs");
    assert!(zipnn::is_zipnn(&packed));
    assert_eq!(zipnn_wasm::decompress(&packed, &lim).as_deref(), Ok(data));
});
