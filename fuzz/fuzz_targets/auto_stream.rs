//! `stream::AutoDecoder` (picks `.znw` or ZipNN frames from the first bytes, then decodes
//! push-style; ZipNN via `stream::ZipnnDecoder`) fed in input-chosen splits: it must agree with
//! the whole-file `zipnn_wasm::decompress` and stay failed after an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::stream::{AutoDecoder, VecSink};
use zipnn_wasm::Format;
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let sizes = c.splits();
    let body = c.rest();
    begin(body.len());
    let lim = limits();
    let mut dec = AutoDecoder::new(lim);
    let mut sink = VecSink::default();
    let mut result = Ok(());
    for p in pieces(body, &sizes) {
        result = dec.push(p, &mut sink);
        if result.is_err() {
            break;
        }
    }
    let result = result.and_then(|_| dec.finish());
    match &result {
        Ok(()) => {
            assert_eq!(dec.decoded(), sink.out.len() as u64);
            assert!(sink.out.len() as u64 <= lim.max_output);
        }
        Err(e) => {
            check_error(e, DATA_ERRORS);
            // Errors stick, also one from an input that ended before its format was known.
            assert_eq!(dec.push(b"x", &mut sink).as_ref(), Err(e));
        }
    }
    // .znn.safetensors is decoded whole only.
    if zipnn_wasm::detect(body) == Format::ZipnnSafetensors {
        return;
    }
    let whole = zipnn_wasm::decompress(body, &lim);
    match (&result, &whole) {
        (Ok(()), Ok(out)) => assert!(*out == sink.out, "stream and whole differ"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "stream {a:?} but whole-file {:?}",
            b.as_ref().map(|o| o.len())
        ),
    }
});
