//! `entropy::block::decode` (mode byte + raw / repeat / huff0 / tANS payload) with an
//! input-chosen output length (<= 1 MiB); near-valid blocks come from `block::encode` (tANS
//! allowed or not) with a few bytes changed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::entropy::block;
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let mode = c.u8();
    begin(data.len());
    let (src, n, original) = if mode & 1 == 0 {
        let n = c.out_len();
        (c.rest().to_vec(), n, None)
    } else {
        let flips = c.flips();
        let plain = c.rest();
        let mut enc = Vec::new();
        block::encode(plain, &mut enc, mode & 2 != 0);
        apply_flips(&mut enc, &flips);
        let keep = flips.is_empty().then_some(plain);
        (enc, plain.len(), keep)
    };
    let mut d = vec![0u8; n];
    match block::decode(&src, &mut d) {
        Ok(used) => assert!(
            used <= src.len(),
            "block claims {used} of {} bytes",
            src.len()
        ),
        Err(_) => assert!(original.is_none(), "unchanged block failed to decode"),
    }
    if let Some(p) = original {
        assert!(d == p, "block round trip differs");
        assert_eq!(block::decode(&src, &mut d), Ok(src.len()));
    }
});
