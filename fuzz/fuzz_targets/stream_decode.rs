//! The streaming decoder fed in input-chosen splits (the first bytes choose the split sizes);
//! it must agree with the whole-file decoder, deliver contiguous chunks, and stay failed after
//! an error. The top bit of the first byte has the header and body checksums recomputed first.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::znw::{self, Header};
use zipnn_wasm::stream::{Decoder, Sink, VecSink};
use zipnn_wasm::Error;
use zipnn_wasm_fuzz::*;

/// Forwards to `VecSink`, checking call order and offsets.
struct Checked {
    inner: VecSink,
    headers: usize,
}

impl Sink for Checked {
    fn header(&mut self, h: &Header) -> Result<(), Error> {
        self.headers += 1;
        assert_eq!(self.headers, 1, "header reported twice");
        self.inner.header(h)
    }
    fn data(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        assert_eq!(self.headers, 1, "data before the header");
        assert_eq!(offset, self.inner.out.len() as u64, "chunks out of order");
        assert!(!bytes.is_empty());
        self.inner.data(offset, bytes)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let fix = data.first().is_some_and(|&b| b & 0x80 != 0);
    let sizes = c.splits();
    let mut fixed = c.rest().to_vec();
    begin(2 * fixed.len());
    // With the top bit of the first byte set, the checksums are recomputed first.
    if fix {
        fix_znw_checksums(&mut fixed);
    }
    let body = &fixed[..];
    let lim = limits();
    let mut dec = Decoder::new(lim);
    let mut sink = Checked {
        inner: VecSink::default(),
        headers: 0,
    };
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
            assert!(dec.is_done());
            assert_eq!(dec.consumed(), body.len() as u64);
            assert_eq!(dec.decoded(), sink.inner.out.len() as u64);
            assert!(sink.inner.out.len() as u64 <= lim.max_output);
        }
        Err(e) => {
            check_error(e, DATA_ERRORS);
            // Poisoned: every later call repeats the error.
            assert_eq!(dec.push(b"x", &mut sink).as_ref(), Err(e));
            assert_eq!(dec.finish().as_ref(), Err(e));
        }
    }
    let whole = znw::decompress(body, &lim, 1);
    match (&result, &whole) {
        (Ok(()), Ok(out)) => assert!(*out == sink.inner.out, "stream and whole differ"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "stream {a:?} but whole-file {:?}",
            b.as_ref().map(|o| o.len())
        ),
    }
});
