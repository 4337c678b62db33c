//! The tANS byte decoder (`fse::decompress`) on arbitrary payloads with an input-chosen output
//! length (<= 1 MiB), and on near-valid payloads (our own compressed output with a few bytes
//! changed): errors only, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::entropy::fse;
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let mode = c.u8();
    begin(data.len());
    if mode & 1 == 0 {
        let n = c.out_len();
        let mut d = vec![0u8; n];
        let _ = fse::decompress(c.rest(), &mut d);
    } else {
        let flips = c.flips();
        let delta = c.u8() as i8 as isize;
        let src = c.rest();
        let mut comp = Vec::new();
        if fse::compress(src, &mut comp).is_none() {
            return;
        }
        apply_flips(&mut comp, &flips);
        let n = if mode & 2 != 0 {
            src.len().saturating_add_signed(delta)
        } else {
            src.len()
        };
        let mut d = vec![0u8; n];
        let r = fse::decompress(&comp, &mut d);
        if flips.is_empty() && n == src.len() {
            assert!(r.is_ok() && d == src, "fse round trip failed: {r:?}");
        }
    }
});
