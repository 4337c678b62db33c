//! The ZipNN frame decoder (`format::zipnn::decompress`) without and with a base (for delta
//! frames; the first bytes choose its length and contents). A file that decodes without a base
//! has no delta frames, so it must decode identically with one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::zipnn;
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let base_len = (c.u16() as usize) << 6; // up to 4 MiB
    let (mul, add) = (c.u8(), c.u8());
    let body = c.rest();
    begin(body.len());
    let lim = limits();
    let base: Vec<u8> = (0..base_len)
        .map(|i| (i as u8).wrapping_mul(mul).wrapping_add(add))
        .collect();
    let plain = zipnn::decompress(body, None, &lim);
    match &plain {
        Ok(out) => assert!(out.len() as u64 <= lim.max_output),
        Err(e) => check_error(e, DATA_ERRORS),
    }
    let with = zipnn::decompress(body, Some(&base), &lim);
    match &with {
        Ok(out) => assert!(out.len() as u64 <= lim.max_output),
        // A base shorter than the data is the caller's mistake.
        Err(e) => check_error(e, &[DATA_ERRORS, &["ZNN_INVALID_INPUT"]].concat()),
    }
    if let Ok(out) = &plain {
        assert_eq!(
            with.as_ref().ok(),
            Some(out),
            "a base changed a non-delta file"
        );
    }
    if zipnn::is_zipnn(body) {
        assert_eq!(zipnn_wasm::decompress(body, &lim), plain);
    }
});
