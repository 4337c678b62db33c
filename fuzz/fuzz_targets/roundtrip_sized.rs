//! `stream::SizedEncoder` (input of known size) fed in input-chosen splits, with a prefix
//! small enough (input-chosen) that small inputs take the path of large files: the output must
//! decode to the input, be the same however the input is cut, report what `inspect` reads from
//! it, and be `compress`'s bytes when the prefix holds the whole input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::stream::SizedEncoder;
use zipnn_wasm::{DType, Limits};
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let d = c.u8();
    let chunk_size = 4 * (1 + (c.u16() as u32 % 1024));
    let cap = c.u16() as usize;
    let sizes = c.splits();
    let data = c.rest();
    begin(data.len());
    let opts = Options {
        // Low 4 bits: a dtype, or auto; bit 4: verify; bit 5: two threads.
        dtype: DType::ALL
            .get(d as usize & 15)
            .map_or(DTypeChoice::Auto, |&t| DTypeChoice::Fixed(t)),
        chunk_size,
        verify: d & 16 != 0,
        threads: 1 + (d >> 5 & 1) as usize,
        tans: false,
    };
    let encode = |sizes: &[usize]| {
        let mut enc = SizedEncoder::new(data.len() as u64, opts.clone())
            .expect("valid options")
            .with_prefix(cap);
        let mut packed = Vec::new();
        for p in pieces(data, sizes) {
            enc.push(p, &mut packed).expect("push of the size given");
        }
        enc.finish(&mut packed).expect("finish at the size given");
        let report = enc.report().expect("a report once finished");
        (packed, report)
    };
    let (packed, report) = encode(&sizes);
    let lim = Limits {
        max_output: data.len() as u64,
    };
    let out = znw::decompress(&packed, &lim, 1).expect("decompress of our own stream");
    assert!(out == data, "round trip differs");
    assert!(
        report == znw::inspect(&packed).expect("inspect of our own stream"),
        "report differs"
    );
    let (whole, _) = encode(&[]);
    assert!(
        whole == packed,
        "another file for another cut of the same input"
    );
    if cap >= data.len() {
        let plain = znw::compress(data, &opts).expect("compress");
        assert!(
            plain == packed,
            "not compress's bytes for an input within the prefix"
        );
    }
});
