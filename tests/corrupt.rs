//! Broken input gives a typed error: never a panic, never wrong bytes.

mod common;

use common::*;
use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::stream::{Decoder, VecSink};
use zipnn_wasm::{DType, Error, Limits};

fn small_file() -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng(23);
    let data = bf16_weights(&mut rng, 3000);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        chunk_size: 2048,
        ..Options::default()
    };
    (znw::compress(&data, &opts).unwrap(), data)
}

fn decode_both(packed: &[u8]) -> (Result<Vec<u8>, Error>, Result<Vec<u8>, Error>) {
    let whole = zipnn_wasm::decompress(packed, &Limits::default());
    let mut dec = Decoder::new(Limits::default());
    let mut sink = VecSink::default();
    let streamed = packed
        .chunks(333)
        .try_for_each(|c| dec.push(c, &mut sink))
        .and_then(|_| dec.finish())
        .map(|_| sink.out);
    (whole, streamed)
}

/// `packed` decoded by the integrity check: the push decoder verifying every body checksum.
fn check_all(packed: &[u8]) -> Result<(), Error> {
    let mut dec = Decoder::new(Limits::default()).checking_bodies();
    packed
        .chunks(333)
        .try_for_each(|c| dec.push(c, &mut VecSink::default()))
        .and_then(|_| dec.finish())
}

#[test]
fn every_bit_flip_is_detected_or_harmless() {
    let (packed, data) = small_file();
    let (mut detected, mut harmless) = (0, 0);
    for bit in 0..packed.len() * 8 {
        let mut p = packed.clone();
        p[bit / 8] ^= 1 << (bit % 8);
        let (whole, streamed) = decode_both(&p);
        for r in [&whole, &streamed] {
            match r {
                Err(e) => assert!(
                    matches!(
                        e.code(),
                        "ZNN_CORRUPT"
                            | "ZNN_TRUNCATED"
                            | "ZNN_NOT_COMPRESSED"
                            | "ZNN_UNSUPPORTED"
                            | "ZNN_TOO_LARGE"
                    ),
                    "bit {bit}: {e}"
                ),
                Ok(out) => assert!(*out == data, "bit {bit}: wrong output returned"),
            }
        }
        assert_eq!(
            whole.is_err(),
            streamed.is_err(),
            "bit {bit}: whole and streamed disagree"
        );
        // A decode reads a body checksum only when the decoded bytes fail theirs, so a flip
        // that cannot change a decoded byte (in that checksum, or in bits the entropy decoders
        // ignore) decodes. The integrity check catches every flip (FORMAT.md §3, §4).
        if whole.is_ok() {
            harmless += 1;
            let e = znw::check_bodies(&p).expect_err(&missed(bit));
            assert_eq!(e.code(), "ZNN_CORRUPT", "bit {bit}: {e}");
        } else {
            detected += 1;
        }
        check_all(&p).expect_err(&missed(bit));
    }
    eprintln!("bit flips: {detected} detected by decoding, {harmless} left the output intact");
    assert!(detected > 0 && harmless > 0);
}

fn missed(bit: usize) -> String {
    format!("bit {bit}: the integrity check missed a flip")
}

#[test]
fn every_truncation_is_detected() {
    let (packed, _) = small_file();
    for cut in 0..packed.len() {
        let (whole, streamed) = decode_both(&packed[..cut]);
        let e = whole.expect_err("truncated input decoded");
        assert!(
            matches!(
                e.code(),
                "ZNN_TRUNCATED" | "ZNN_NOT_COMPRESSED" | "ZNN_CORRUPT"
            ),
            "cut {cut}: {e}"
        );
        assert_eq!(
            streamed.expect_err("truncated stream decoded").code(),
            "ZNN_TRUNCATED",
            "cut {cut}"
        );
    }
}

#[test]
fn wrong_magic_and_trailing_bytes() {
    let (packed, _) = small_file();
    assert_eq!(
        zipnn_wasm::decompress(b"hello world, plain text", &Limits::default())
            .unwrap_err()
            .code(),
        "ZNN_NOT_COMPRESSED"
    );
    let mut p = packed.clone();
    p[1] = b'X';
    assert_eq!(
        zipnn_wasm::decompress(&p, &Limits::default())
            .unwrap_err()
            .code(),
        "ZNN_NOT_COMPRESSED"
    );
    let mut p = packed.clone();
    p.push(0);
    assert_eq!(decode_both(&p).0.unwrap_err().code(), "ZNN_CORRUPT");
    assert_eq!(decode_both(&p).1.unwrap_err().code(), "ZNN_CORRUPT");
    let mut p = packed.clone();
    p[8] = 2; // a future version
    assert_eq!(
        zipnn_wasm::decompress(&p, &Limits::default())
            .unwrap_err()
            .code(),
        "ZNN_UNSUPPORTED"
    );
}

#[test]
fn random_garbage_never_panics() {
    let (packed, _) = small_file();
    let mut rng = Rng(29);
    for i in 0..20_000 {
        let mut p = packed.clone();
        // Keep the header intact half the time so that the chunk decoders see the garbage.
        let from = if i % 2 == 0 { 120 } else { 0 };
        for _ in 0..1 + rng.below(8) {
            let at = from + rng.below((p.len() - from) as u64) as usize;
            p[at] = rng.next() as u8;
        }
        let _ = decode_both(&p);
        let n = rng.below(200) as usize;
        let junk = rng.bytes(n);
        let _ = zipnn_wasm::decompress(&junk, &Limits::default());
        let _ = zipnn_wasm::format::zipnn::decompress(
            &[b"ZN".as_slice(), &junk].concat(),
            None,
            &Limits::default(),
        );
    }
}

#[test]
fn errors_leave_the_decoder_poisoned_not_broken() {
    let (packed, data) = small_file();
    let mut dec = Decoder::new(Limits::default());
    let mut sink = VecSink::default();
    let mut bad = packed.clone();
    bad[200] ^= 0xFF;
    assert!(dec.push(&bad, &mut sink).is_err());
    assert!(
        dec.push(&packed, &mut sink).is_err(),
        "a failed decoder keeps failing"
    );
    // A fresh decoder on good data works.
    assert_eq!(decode_both(&packed).1.unwrap(), data);
}

/// A mode byte in a body whose checksum holds is as written: a reserved mode is a later
/// version's (unsupported), one past the reserved range damage (corrupt).
#[test]
fn unknown_block_mode_with_valid_checksums_is_unsupported_not_corrupt() {
    use zipnn_wasm::format::znw::{chunk, header};
    for (mode, code) in [
        (13, "ZNN_UNSUPPORTED"),
        (31, "ZNN_UNSUPPORTED"),
        (200, "ZNN_CORRUPT"),
    ] {
        let (mut packed, _) = small_file();
        let h = u32::from_le_bytes(packed[12..16].try_into().unwrap()) as usize;
        let body_len = u32::from_le_bytes(packed[h + 8..h + 12].try_into().unwrap()) as usize;
        let body = h + chunk::HEAD_LEN;
        packed[body] = mode;
        let sum = header::checksum(&packed[body..body + body_len]);
        packed[h + 12..h + 16].copy_from_slice(&sum.to_le_bytes());
        let (whole, streamed) = decode_both(&packed);
        for e in [whole.unwrap_err(), streamed.unwrap_err()] {
            assert_eq!(e.code(), code, "mode {mode}: {e}");
        }
    }
}

/// A chunk head's `raw_len` (no checksum covers it) two bytes short: the blocks are read with
/// the wrong group size, and the second one's mode byte is a mantissa byte. That is damage on
/// every path (the push decoder said "written by a newer zipnn-wasm").
#[test]
fn a_damaged_chunk_length_is_corrupt_not_a_newer_file() {
    let (mut packed, _) = small_file();
    let h = u32::from_le_bytes(packed[12..16].try_into().unwrap()) as usize;
    let raw_len = u32::from_le_bytes(packed[h + 4..h + 8].try_into().unwrap());
    packed[h + 4..h + 8].copy_from_slice(&(raw_len - 2).to_le_bytes());
    let (whole, streamed) = decode_both(&packed);
    for e in [whole.unwrap_err(), streamed.unwrap_err()] {
        assert_eq!(e.code(), "ZNN_CORRUPT", "{e}");
    }
}

/// A whole file whose checksums all hold but whose fields point past what holds them: a block
/// length past its chunk body, a segment entry or the delta base fields running into the
/// header's checksum. That is damage (`ZNN_CORRUPT`), not a file cut short, on every path.
#[test]
fn fields_past_their_record_are_corrupt_not_truncated() {
    use zipnn_wasm::format::znw::{chunk, header::checksum, Header};
    use zipnn_wasm::format::Container;
    // One bf16 chunk of 4 bytes whose body (checksum right) is a conditional block (mode 7)
    // or a tANS one (mode 9) whose length runs past the body.
    for body in [
        vec![7u8, 0xff, 0xff, 0, 0],
        vec![7, 1],
        vec![9, 16, 0, 0, 0, 0],
    ] {
        let mut f = Vec::new();
        Header {
            total_size: Some(4),
            max_chunk: 4,
            container: Container::Raw,
            segments: vec![],
            base: None,
            realign: vec![],
        }
        .write(&mut f);
        f.extend_from_slice(&[b'C', DType::BF16.code(), 0, 0]);
        f.extend_from_slice(&4u32.to_le_bytes());
        f.extend_from_slice(&(body.len() as u32).to_le_bytes());
        f.extend_from_slice(&checksum(&body).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&body);
        chunk::write_end(4, 1, &mut f);
        let (whole, streamed) = decode_both(&f);
        for e in [whole.unwrap_err(), streamed.unwrap_err()] {
            assert_eq!(e.code(), "ZNN_CORRUPT", "body {body:?}: {e}");
        }
    }
    // Headers (checksum right, no chunks) with flags `flags`, `n` segments and `table` bytes
    // where the segment table goes.
    let header = |flags: u8, n: u32, table: &[u8]| {
        let mut h = vec![
            0x89, b'Z', b'N', b'W', 0x0d, 0x0a, 0x1a, 0x0a, 1, flags, 0, 0,
        ];
        h.extend_from_slice(&(40 + table.len() as u32).to_le_bytes());
        h.extend_from_slice(&0u64.to_le_bytes());
        h.extend_from_slice(&(1u32 << 18).to_le_bytes());
        h.extend_from_slice(&[0; 4]);
        h.extend_from_slice(&n.to_le_bytes());
        h.extend_from_slice(table);
        let sum = checksum(&h);
        h.extend_from_slice(&sum.to_le_bytes());
        chunk::write_end(0, 0, &mut h);
        h
    };
    assert_eq!(
        zipnn_wasm::decompress(&header(1, 0, &[]), &Limits::default()).unwrap(),
        b""
    );
    // A plain entry whose name length (200) runs into the checksum.
    let mut entry = 200u16.to_le_bytes().to_vec();
    entry.extend_from_slice(&[b'a'; 19]);
    // The delta flag with 8 bytes where its 16 base bytes go.
    for f in [header(1, 1, &entry), header(1 | 2, 0, &[0; 8])] {
        let (whole, streamed) = decode_both(&f);
        for e in [whole.unwrap_err(), streamed.unwrap_err()] {
            assert_eq!(e.code(), "ZNN_CORRUPT", "{e}");
        }
    }
}

/// A damaged end record's checksum error names where the record is in the decoded stream (the
/// file's decoded length), not the total the damaged record states (session 62: a flipped byte
/// of it made a 30 MB file report a mismatch "at decoded offset 1052297493911").
#[test]
fn end_record_checksum_names_its_own_offset() {
    let (packed, data) = small_file();
    let end = packed.len() - 24; // FORMAT.md §4: 24 bytes, the total at 4..12
    for byte in 4..12 {
        let mut p = packed.clone();
        p[end + byte] ^= 0x10;
        let (whole, streamed) = decode_both(&p);
        for e in [
            whole.unwrap_err(),
            streamed.unwrap_err(),
            check_all(&p).unwrap_err(),
        ] {
            assert!(
                matches!(e, Error::Checksum { what: "end record", offset } if offset == data.len() as u64),
                "byte {byte}: {e}"
            );
        }
    }
}
