//! `stream::Encoder` fed in input-chosen splits (dtype and chunk size from the first bytes),
//! then decoded whole and streamed in other splits: the bytes must come back exactly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::znw;
use zipnn_wasm::stream::{Decoder, Encoder, VecSink};
use zipnn_wasm::{DType, Limits};
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let d = c.u8();
    let chunk_size = 4 * (1 + (c.u16() as u32 % 1024));
    let enc_sizes = c.splits();
    let dec_sizes = c.splits();
    let data = c.rest();
    begin(data.len());
    let dtype = DType::ALL[d as usize % DType::ALL.len()];
    let mut enc = Encoder::new(dtype, chunk_size).expect("valid chunk size");
    let mut packed = Vec::new();
    for p in pieces(data, &enc_sizes) {
        enc.push(p, &mut packed);
    }
    enc.finish(&mut packed);
    let lim = Limits {
        max_output: data.len() as u64,
    };
    let out = znw::decompress(&packed, &lim, 1).expect("decompress of our own stream");
    assert!(out == data, "round trip differs");
    let mut dec = Decoder::new(lim);
    let mut sink = VecSink::default();
    for p in pieces(&packed, &dec_sizes) {
        dec.push(p, &mut sink)
            .expect("stream decode of our own stream");
    }
    dec.finish().expect("stream finish");
    assert!(sink.out == data, "stream round trip differs");
});
