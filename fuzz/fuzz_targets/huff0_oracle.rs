//! Oracle: whatever `huff0::compress_4x` / `compress_1x` write must decode back exactly, with
//! the fast and the reference 4x decoder; the same for `fse::compress` and `block::encode`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::entropy::{block, fse, huff0};
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    begin(data.len());
    let n = data.len();
    let mut comp = vec![0xA5]; // something before: encoders append
    if let Some(len) = huff0::compress_4x(data, &mut comp) {
        assert_eq!(comp.len(), len + 1);
        let mut d = vec![0u8; n];
        huff0::decompress_4x(&comp[1..], &mut d).expect("4x decode of our own block");
        assert!(d == data, "4x round trip differs");
        let (t, used) = huff0::DecodeTable::read(&comp[1..]).unwrap();
        let mut r = vec![0u8; n];
        t.decode_4x_reference(&comp[1 + used..], &mut r)
            .expect("4x reference decode");
        assert!(r == data, "4x reference round trip differs");
    } else {
        assert_eq!(comp.len(), 1, "compress_4x wrote bytes and returned None");
    }
    let mut one = Vec::new();
    if let Some(len) = huff0::compress_1x(data, &mut one) {
        assert_eq!(one.len(), len);
        let mut d = vec![0u8; n];
        huff0::decompress_1x(&one, &mut d).expect("1x decode of our own block");
        assert!(d == data, "1x round trip differs");
    }
    let mut f = Vec::new();
    if let Some(len) = fse::compress(data, &mut f) {
        assert_eq!(f.len(), len);
        let mut d = vec![0u8; n];
        fse::decompress(&f, &mut d).expect("fse decode of our own block");
        assert!(d == data, "fse round trip differs");
    }
    for tans in [false, true] {
        let mut b = Vec::new();
        block::encode(data, &mut b, tans);
        let mut d = vec![0u8; n];
        assert_eq!(block::decode(&b, &mut d), Ok(b.len()));
        assert!(d == data, "block round trip differs (tans {tans})");
    }
});
