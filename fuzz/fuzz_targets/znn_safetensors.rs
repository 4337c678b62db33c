//! `.znn.safetensors` (a safetensors file whose tensors hold ZipNN frames): decoding must fail
//! cleanly or produce a valid safetensors file within the limit; and a file whose metadata lists
//! its compressed tensors, restored as a stream (`AutoDecoder::znn_safetensors`) in small and
//! large pieces, must agree with the whole-file decoder (the same bytes, or both an error).
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::{safetensors, zipnn};
use zipnn_wasm::stream::{AutoDecoder, VecSink};
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    begin(data.len());
    let lim = limits();
    let _ = zipnn::safetensors::is_znn_safetensors(data);
    let whole = zipnn::safetensors::decompress(data, &lim);
    match &whole {
        Ok(out) => {
            assert!(out.len() as u64 <= lim.max_output);
            let inp = safetensors::parse(data, data.len() as u64).expect("input parsed before");
            let l = safetensors::parse(out, out.len() as u64)
                .unwrap_or_else(|e| panic!("decoded file is not valid safetensors: {e}"));
            assert_eq!(l.tensors.len(), inp.tensors.len());
        }
        Err(e) => check_error(e, DATA_ERRORS),
    }
    if !zipnn::safetensors::lists_compressed(data) {
        return;
    }
    for piece in [7, 4096] {
        let mut dec = AutoDecoder::znn_safetensors(lim);
        let mut sink = VecSink::default();
        let streamed = data
            .chunks(piece)
            .try_for_each(|p| dec.push(p, &mut sink))
            .and_then(|()| dec.finish());
        match (&streamed, &whole) {
            (Ok(()), Ok(out)) => assert!(*out == sink.out, "stream and whole differ"),
            (Err(e), Err(_)) => check_error(e, DATA_ERRORS),
            (a, b) => panic!(
                "stream {a:?} but whole-file {:?}",
                b.as_ref().map(|o| o.len())
            ),
        }
    }
});
