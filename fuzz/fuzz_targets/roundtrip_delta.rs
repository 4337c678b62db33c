//! `format::znw::compress_delta` of one file against another (both from the input: a 16-bit
//! length, the base, then the new file), then `decompress_with_base`: the bytes must come back
//! exactly, and the delta may not grow past raw storage plus record overhead whatever the base
//! (chunks whose XOR codes larger are coded as they are; tensors that moved XOR with their
//! twins). Then the delta's header is damaged (checksums fixed) and decoded again with its
//! base: any realignment table that parses must decode without a panic, to some bytes or a
//! typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::znw::{self, chunk};
use zipnn_wasm::Limits;
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let d = c.u8();
    let chunk_size = 4 * (1 + (c.u16() as u32 % 1024)); // 4..=4096
    let flips = c.flips();
    let base_len = c.u16() as usize;
    let rest = c.rest();
    let (base, new) = rest.split_at(base_len.min(rest.len()));
    begin(rest.len());
    let opts = options(d, chunk_size);
    let packed = znw::compress_delta(new, base, &opts, &mut |_| {}).expect("compress failed");
    let lim = Limits {
        max_output: new.len() as u64,
    };
    let (_, chunks) = znw::index(&packed, &lim).expect("index of our own file");
    let hl = znw::Header::len_from_prefix(&packed).unwrap();
    let groups: usize = chunks.iter().map(|c| c.head.dtype.groups()).sum();
    assert!(
        packed.len() <= hl + chunk::END_LEN + new.len() + chunks.len() * chunk::HEAD_LEN + groups,
        "expanded past raw storage: {} bytes for {}",
        packed.len(),
        new.len()
    );
    let out = znw::decompress_with_base(&packed, Some(base), &lim, 1)
        .expect("decompress of our own delta");
    assert!(out == new, "round trip differs");

    let mut bad = packed.clone();
    apply_flips(&mut bad[..hl], &flips);
    fix_znw_checksums(&mut bad);
    if let Err(e) = znw::decompress_with_base(&bad, Some(base), &limits(), 1) {
        // A damaged base length or checksum names another base.
        let allowed = [DATA_ERRORS, &["ZNN_INVALID_INPUT"]].concat();
        check_error(&e, &allowed);
    }
});
