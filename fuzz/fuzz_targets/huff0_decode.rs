//! huff0 decoders (`decompress_4x`, `decompress_1x`) on arbitrary payloads with an
//! input-chosen output length (<= 1 MiB), and on near-valid payloads (our own compressed
//! output with a few bytes changed). The fast 4x decoder must agree with the reference one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::entropy::huff0::{self, DecodeTable};
use zipnn_wasm_fuzz::*;

fn differential(payload: &[u8], n: usize) {
    let mut a = vec![0u8; n];
    let _ = huff0::decompress_4x(payload, &mut a);
    let _ = huff0::decompress_1x(payload, &mut a);
    if let Ok((t, used)) = DecodeTable::read(payload) {
        assert!(used <= payload.len());
        assert!((1..=huff0::MAX_TABLE_LOG).contains(&t.table_log()));
        let mut b = vec![0u8; n];
        let ra = t.decode_4x(&payload[used..], &mut a);
        let rb = t.decode_4x_reference(&payload[used..], &mut b);
        assert_eq!(ra.is_ok(), rb.is_ok(), "fast {ra:?} vs reference {rb:?}");
        if ra.is_ok() {
            assert!(a == b, "fast and reference decoders differ");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let mode = c.u8();
    begin(data.len());
    if mode & 1 == 0 {
        let n = c.out_len();
        differential(c.rest(), n);
    } else {
        let flips = c.flips();
        let delta = c.u8() as i8 as isize;
        let src = c.rest();
        let four = mode & 2 == 0;
        let mut comp = Vec::new();
        let made = if four {
            huff0::compress_4x(src, &mut comp)
        } else {
            huff0::compress_1x(src, &mut comp)
        };
        if made.is_none() {
            return;
        }
        apply_flips(&mut comp, &flips);
        let n = if mode & 4 != 0 {
            src.len().saturating_add_signed(delta)
        } else {
            src.len()
        };
        if four {
            differential(&comp, n);
        } else {
            let mut d = vec![0u8; n];
            let r = huff0::decompress_1x(&comp, &mut d);
            if flips.is_empty() && n == src.len() {
                assert!(r.is_ok() && d == src, "1x round trip failed");
            }
        }
    }
});
