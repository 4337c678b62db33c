//! `entropy::block::decode` (mode byte + raw / repeat / huff0 / tANS / sparse / LZ / context
//! payload) with an input-chosen output length (<= 1 MiB); near-valid blocks come from
//! `block::encode` or, with control bits 0 and 2, `block::encode_lz` (tANS allowed or not), or
//! with bits 0 and 3 (not 2) `planes::encode` (mode 12, its low bits from bits 5..7),
//! with a few bytes changed. For LZ, the input is stored twice with an input-chosen tail so
//! that matches (overlapping ones too) exist. With control bit 2 alone, the context coders
//! instead (`context::decode_history`, and `decode_given` with the second half of the input
//! as the companion group), from fuzz bytes or from their encoders' output; with control bits
//! 1, 2 and 3, `context::decode_split` (mode 8) and, as a block, `block::decode` the same way;
//! with control bits 2, 3 and 4 (not 1), `decode_given_signs` (mode 9) instead of `decode_given`,
//! and with bit 5 as well `decode_given_neighbour` (mode 10).
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::entropy::{block, context, planes};
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let mode = c.u8();
    begin(data.len());
    if mode & 5 == 4 {
        return context_case(c, mode);
    }
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
        } else if mode & 8 != 0 {
            // A bit-plane block (mode 12), low bits from bits 5..7.
            let low = 1 + (mode as u32 >> 5) % 7;
            planes::encode(&plain, low, &mut enc, mode & 2 != 0);
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

fn context_case(mut c: Ctl, mode: u8) {
    // Control bits 1 and 3 together: the split mode (8), low bits from bits 5..7.
    if mode & 10 == 10 {
        return split_case(c, mode);
    }
    let given = mode & 8 != 0;
    let signs = given && mode & 16 != 0;
    let neighbour = signs && mode & 32 != 0;
    let stride = c.u8() as usize * 3;
    let flips = c.flips();
    let plain = c.rest();
    let half = plain.len() / 2;
    let (syms, companion) = (&plain[..half], &plain[half..2 * half]);
    let mut enc = Vec::new();
    let coded = if neighbour {
        context::encode_given_neighbour(syms, companion, &mut enc)
    } else if signs {
        context::encode_given_signs(syms, companion, stride, &mut enc)
    } else if given {
        context::encode_given(syms, companion, &mut enc)
    } else {
        context::encode_history(syms, stride, &mut enc)
    };
    if coded.is_none() {
        enc = plain.to_vec(); // too small to encode: decode the fuzz bytes as a payload
    }
    apply_flips(&mut enc, &flips);
    let mut d = vec![0u8; half];
    let r = if neighbour {
        context::decode_given_neighbour(&enc, companion, &mut d)
    } else if signs {
        context::decode_given_signs(&enc, companion, &mut d)
    } else if given {
        context::decode_given(&enc, companion, &mut d)
    } else {
        context::decode_history(&enc, &mut d)
    };
    if coded.is_some() && flips.is_empty() {
        assert!(r.is_ok(), "unchanged context block failed: {r:?}");
        assert!(d == syms, "context round trip differs");
    }
}

fn split_case(mut c: Ctl, mode: u8) {
    let low = (mode >> 5).max(1) as u32;
    let stride = c.u8() as usize * 3;
    let flips = c.flips();
    let plain = c.rest();
    let mut enc = Vec::new();
    let coded = context::encode_split(plain, low, stride, &mut enc);
    if coded.is_none() {
        enc = plain.to_vec();
    }
    apply_flips(&mut enc, &flips);
    let mut d = vec![0u8; plain.len()];
    let r = context::decode_split(&enc, &mut d);
    if coded.is_some() && flips.is_empty() {
        assert!(r.is_ok(), "unchanged split block failed: {r:?}");
        assert!(d == plain, "split round trip differs");
    }
    let mut block = vec![context::SPLIT];
    block.extend_from_slice(&(enc.len() as u32).to_le_bytes());
    block.extend_from_slice(&enc);
    match block::decode(&block, &mut d) {
        Ok(used) => assert_eq!(used, block.len()),
        Err(_) => assert!(r.is_err(), "block and payload decoders disagree"),
    }
}
