//! The container decoder on arbitrary bytes: `zipnn_wasm::decompress` (format detection, then
//! `.znw`, ZipNN frames or `.znn.safetensors`), the same into a vector reused from input to
//! input (`decompress_to_vec`, as the wasm `Decompressor` does) and into an exact buffer
//! (`decoded_len` + `decompress_into`), reads at offsets (`format::open_random_access`), and
//! for `.znw` input the index, the in-place decoder and the multi-threaded decoder, which must
//! all agree. `.znw` input is decoded a second time with its checksums recomputed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use zipnn_wasm::format::{open_random_access, znw};
use zipnn_wasm_fuzz::*;

thread_local! {
    /// Reused across inputs, as by a long-lived `Decompressor`; allocated before the budget
    /// of the first input starts counting.
    static REUSED: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(MAX_OUT as usize));
}

fuzz_target!(|data: &[u8]| {
    REUSED.with(|_| {});
    begin(data.len());
    check(data);
    // Mutations rarely keep the checksums right: decode once more with them recomputed, so
    // the record walker and the entropy decoders see the mutated structure.
    let mut fixed = data.to_vec();
    if fix_znw_checksums(&mut fixed) {
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    let lim = limits();
    let r = zipnn_wasm::decompress(data, &lim);
    match &r {
        Ok(out) => assert!(out.len() as u64 <= lim.max_output),
        Err(e) => check_error(e, DATA_ERRORS),
    }
    REUSED.with(|v| {
        let v = &mut *v.borrow_mut();
        match (zipnn_wasm::decompress_to_vec(data, v, &lim), &r) {
            (Ok(n), Ok(out)) => assert!(v[..n] == out[..], "decompress_to_vec differs"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!(
                "decompress_to_vec {a:?}, decompress {:?}",
                b.as_ref().map(|o| o.len())
            ),
        }
    });
    if let Ok(out) = &r {
        let n = zipnn_wasm::decoded_len(data, &lim).expect("decoded, yet no decoded_len");
        assert_eq!(n, out.len() as u64);
        let mut buf = vec![0u8; out.len()];
        assert_eq!(zipnn_wasm::decompress_into(data, &mut buf), Ok(out.len()));
        assert!(buf == *out, "zipnn_wasm::decompress_into differs");
    }
    match &r {
        Ok(out) => check_reads(data, out, core::iter::empty()),
        Err(_) => {
            // What opens may read or fail, with a data error.
            let mut src = data;
            match open_random_access(&mut src, &lim) {
                Ok(mut ra) => {
                    let n = ra.size();
                    if let Err(e) = ra.read_with(&mut src, 0, n, |_, _| Ok(())) {
                        check_error(&e, DATA_ERRORS);
                    }
                }
                Err(e) => check_error(&e, DATA_ERRORS),
            }
        }
    }
    if !data.starts_with(&znw::MAGIC) {
        return;
    }
    let idx = znw::index(data, &lim);
    if let Err(e) = &idx {
        check_error(e, DATA_ERRORS);
    }
    match &r {
        Ok(out) => {
            let (header, chunks) = idx.expect("decoded, yet the index fails");
            if let Some(t) = header.total_size {
                assert_eq!(t, out.len() as u64);
            }
            let mut at = 0u64;
            for c in &chunks {
                assert_eq!(c.offset, at);
                assert!(c.body_offset + c.head.body_len as u64 <= data.len() as u64);
                at += c.head.raw_len as u64;
            }
            assert_eq!(at, out.len() as u64);
            let mut buf = vec![0u8; out.len()];
            assert_eq!(znw::decompress_into(data, &mut buf, 1), Ok(out.len()));
            assert!(buf == *out, "decompress_into differs");
            if chunks.len() > 1 {
                let par = znw::decompress(data, &lim, 3).expect("threads=3 fails where 1 works");
                assert!(par == *out, "multi-threaded decode differs");
            }
            // Reads at offsets, also two bytes across every chunk edge.
            let edges = chunks.iter().map(|c| (c.offset.saturating_sub(1), 2));
            check_reads(data, out, edges);
        }
        Err(_) => {
            // The index may be fine (a body is bad); then decoding into a buffer fails too.
            if let Ok((_, chunks)) = &idx {
                let total = chunks
                    .last()
                    .map_or(0, |c| c.offset + c.head.raw_len as u64);
                let mut buf = vec![0u8; total as usize];
                assert!(znw::decompress_into(data, &mut buf, 1).is_err());
                // Read at offsets, the whole file fails too (a delta does not open).
                let mut src = data;
                match znw::RandomAccess::open(&mut src, None, &lim) {
                    Ok(mut ra) => {
                        let e = ra
                            .read_at(&mut src, 0, &mut buf)
                            .expect_err("read, not decoded");
                        check_error(&e, DATA_ERRORS);
                    }
                    Err(e) => check_error(&e, DATA_ERRORS),
                }
            }
        }
    }
}

/// Reads at offsets of a file that decoded to `out` (any format): the whole file, each
/// eighth, two bytes across each eighth's edge and across `edges`, all equal to `out`.
fn check_reads(data: &[u8], out: &[u8], edges: impl Iterator<Item = (u64, u64)>) {
    let mut src = data;
    let mut ra = match open_random_access(&mut src, &limits()) {
        Ok(ra) => ra,
        // A frame of nothing: 16 bytes do not tell its bare header from plain bytes.
        Err(e) if out.is_empty() => return check_error(&e, DATA_ERRORS),
        Err(e) => panic!("decoded, not opened: {e}"),
    };
    let n = out.len() as u64;
    assert_eq!(ra.size(), n);
    let eighths = (1..8).flat_map(|k| [(n * k / 8, n / 8), ((n * k / 8).saturating_sub(1), 2)]);
    for (a, len) in [(0, n)].into_iter().chain(eighths).chain(edges) {
        let len = len.min(n - a.min(n));
        let mut buf = vec![0u8; len as usize];
        ra.read_at(&mut src, a, &mut buf)
            .expect("decoded, not read");
        assert!(
            buf == out[a as usize..(a + len) as usize],
            "read_at differs"
        );
    }
}
