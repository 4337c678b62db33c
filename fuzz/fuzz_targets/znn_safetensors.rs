//! `.znn.safetensors` (a safetensors file whose tensors hold ZipNN frames): decoding must fail
//! cleanly or produce a valid safetensors file within the limit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::{safetensors, zipnn};
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    begin(data.len());
    let lim = limits();
    let _ = zipnn::safetensors::is_znn_safetensors(data);
    match zipnn::safetensors::decompress(data, &lim) {
        Ok(out) => {
            assert!(out.len() as u64 <= lim.max_output);
            let inp = safetensors::parse(data, data.len() as u64).expect("input parsed before");
            let l = safetensors::parse(&out, out.len() as u64)
                .unwrap_or_else(|e| panic!("decoded file is not valid safetensors: {e}"));
            assert_eq!(l.tensors.len(), inp.tensors.len());
        }
        Err(e) => check_error(&e, DATA_ERRORS),
    }
});
