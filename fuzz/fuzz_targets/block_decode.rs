//! `entropy::block::decode` (mode byte + raw / repeat / huff0 / tANS / sparse / LZ payload)
//! with an input-chosen output length (<= 1 MiB); near-valid blocks come from `block::encode`
//! or `block::encode_lz` (tANS allowed or not) with a few bytes changed. For LZ, the input is
//! stored twice with an input-chosen tail so that matches (overlapping ones too) exist.
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
        let mut plain = c.rest().to_vec();
        let mut enc = Vec::new();
        if mode & 4 != 0 {
            let cut = plain.len() * (mode as usize >> 4) / 16;
            plain.extend_from_within(cut..);
            block::encode_lz(&plain, &mut enc, mode & 2 != 0);
        } else {
            block::encode(&plain, &mut enc, mode & 2 != 0);
        }
        apply_flips(&mut enc, &flips);
        let n = plain.len();
        let keep = flips.is_empty().then_some(plain);
        (enc, n, keep)
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
