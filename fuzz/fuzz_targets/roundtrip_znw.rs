//! `format::znw::compress` with an input-chosen dtype (or auto: safetensors detection) and a
//! small chunk size (tANS blocks allowed or not), then the whole-file and streaming decoders: the bytes must come back
//! exactly, and the file may not grow past raw storage plus record overhead.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::znw::{self, chunk};
use zipnn_wasm::stream::{Decoder, VecSink};
use zipnn_wasm::Limits;
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let d = c.u8();
    let chunk_size = 4 * (1 + (c.u16() as u32 % 1024)); // 4..=4096
    let split = c.u8() as usize + 1;
    let data = c.rest();
    begin(data.len());
    let opts = options(d, chunk_size);
    let packed = znw::compress(data, &opts).expect("compress failed");
    let lim = Limits {
        max_output: data.len() as u64,
    };
    let (h, chunks) = znw::index(&packed, &lim).expect("index of our own file");
    assert_eq!(h.total_size, Some(data.len() as u64));
    let hl = znw::Header::len_from_prefix(&packed).unwrap();
    let groups: usize = chunks.iter().map(|c| c.head.dtype.groups()).sum();
    assert!(
        packed.len() <= hl + chunk::END_LEN + data.len() + chunks.len() * chunk::HEAD_LEN + groups,
        "expanded past raw storage: {} bytes for {}",
        packed.len(),
        data.len()
    );
    let out = znw::decompress(&packed, &lim, 1).expect("decompress of our own file");
    assert!(out == data, "round trip differs");
    let mut dec = Decoder::new(lim);
    let mut sink = VecSink::default();
    for p in packed.chunks(split) {
        dec.push(p, &mut sink)
            .expect("stream decode of our own file");
    }
    dec.finish().expect("stream finish");
    assert!(sink.out == data, "stream round trip differs");
});
