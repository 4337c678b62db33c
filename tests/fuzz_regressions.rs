//! Inputs that once crashed, hung or misbehaved a decoder (found by the cargo-fuzz targets in
//! fuzz/ or while writing them), kept as byte arrays: each must now give a typed error (or the
//! right bytes). Also built for wasm32 (`scripts/cargo-wasm test --release --test
//! fuzz_regressions`), where `usize` is 32 bits and some of these overflowed.

use zipnn_wasm::entropy::{block, fse, huff0};
use zipnn_wasm::format::znw;
use zipnn_wasm::stream::{Decoder, VecSink};
use zipnn_wasm::Limits;

macro_rules! regression {
    ($(#[$m:meta])* fn $name:ident() $body:block) => {
        $(#[$m])*
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        fn $name() $body
    };
}

const TYPED: &[&str] = &[
    "ZNN_CORRUPT",
    "ZNN_TRUNCATED",
    "ZNN_NOT_COMPRESSED",
    "ZNN_UNSUPPORTED",
    "ZNN_TOO_LARGE",
];

/// Decodes `file` whole and streamed (in `piece`-byte pushes); both must fail with a typed
/// error, or both succeed with the same bytes.
fn both(file: &[u8], piece: usize, lim: Limits) -> Result<Vec<u8>, &'static str> {
    let whole = zipnn_wasm::decompress(file, &lim);
    let mut dec = Decoder::new(lim);
    let mut sink = VecSink::default();
    let streamed = file
        .chunks(piece.max(1))
        .try_for_each(|p| dec.push(p, &mut sink))
        .and_then(|_| dec.finish())
        .map(|_| sink.out);
    for r in [&whole, &streamed] {
        if let Err(e) = r {
            assert!(TYPED.contains(&e.code()), "{e}");
        }
    }
    assert_eq!(whole.is_ok(), streamed.is_ok(), "{whole:?} vs {streamed:?}");
    whole.map_err(|e| e.code())
}

/// A one-symbol FSE table description (accuracy log 5, symbol 0 has all 32 cells).
const FSE_ONE_SYMBOL: [u8; 2] = [0xF0, 0x03];

regression! {
    /// tANS stream sizes 2^32-1 and 1: their sum wraps a 32-bit `usize` to 0, which passed the
    /// "fits in the block" check and then sliced `body[0..2^32-1]` (a panic, a trap in wasm).
    /// Fixed by `fse::split_streams` (sizes checked one at a time).
    fn fse_stream_sizes_wrapping_32_bit_usize() {
        let mut p = FSE_ONE_SYMBOL.to_vec();
        p.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01, 0x00]); // 2^32-1, 1, 0
        p.extend_from_slice(&[0x01; 8]);
        let mut dst = [0u8; 16];
        assert!(fse::decompress(&p, &mut dst).is_err());
        // Through a block (mode 3) and a chunk-sized output too.
        let mut b = vec![block::FSE];
        b.extend_from_slice(&(p.len() as u32).to_le_bytes());
        b.extend_from_slice(&p);
        assert!(block::decode(&b, &mut dst).is_err());
    }
}

regression! {
    /// A huff0/tANS block whose u32 payload length is 2^32-1: `4 + len` overflowed a 32-bit
    /// `usize` (a panic with overflow checks). Fixed in `block::decode`.
    fn block_length_wrapping_32_bit_usize() {
        for mode in [block::HUF4, block::FSE] {
            let mut b = vec![mode, 0xFF, 0xFF, 0xFF, 0xFF];
            b.extend_from_slice(&[0x80; 8]);
            let mut dst = [0u8; 64];
            assert!(block::decode(&b, &mut dst).is_err());
        }
    }
}

regression! {
    /// The smallest FSE table and a valid-looking stream layout, with outputs of every small
    /// length (3 * ceil(n/4) > n for n = 1, 2, 3, 5 must be rejected, not sliced).
    fn fse_tiny_outputs() {
        let mut p = FSE_ONE_SYMBOL.to_vec();
        p.extend_from_slice(&[0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01]);
        for n in 0..12 {
            let mut dst = vec![0u8; n];
            let _ = fse::decompress(&p, &mut dst);
        }
    }
}

regression! {
    /// huff0: a jump table whose three stream sizes add up past the body, direct weights.
    fn huff0_jump_table_past_the_body() {
        // Weights 1, 1 (implied 2 -> one 1-bit code pair): description 0x81 0x10.
        let mut p = vec![0x81, 0x10];
        p.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        p.extend_from_slice(&[0x01; 4]);
        for n in [0usize, 1, 4, 16, 1000] {
            let mut dst = vec![0u8; n];
            assert!(huff0::decompress_4x(&p, &mut dst).is_err());
            assert!(huff0::decompress_1x(&p[..2], &mut dst).is_err());
        }
    }
}

regression! {
    /// A `.znw` written by the streaming encoder (no size in the header) that decodes past the
    /// caller's limit: the whole-file decoder said `ZNN_CORRUPT` ("chunks exceed the declared
    /// size"), the streaming one `ZNN_TOO_LARGE`. Both now say `ZNN_TOO_LARGE`.
    fn streamed_file_over_the_limit_is_too_large() {
        let mut enc = zipnn_wasm::stream::Encoder::new(zipnn_wasm::DType::Bytes, 1024).unwrap();
        let mut file = Vec::new();
        enc.push(&[7u8; 5000], &mut file);
        enc.finish(&mut file);
        let lim = Limits { max_output: 4096 };
        assert_eq!(both(&file, 100, lim), Err("ZNN_TOO_LARGE"));
        assert_eq!(
            znw::index(&file, &lim).map(|_| ()).map_err(|e| e.code()),
            Err("ZNN_TOO_LARGE")
        );
        assert_eq!(both(&file, 100, Limits { max_output: 5000 }), Ok(vec![7u8; 5000]));
    }
}

/// A zip archive's end records (no entries of its own): EOCD saying "see zip64" and a zip64
/// locator pointing at `eocd64`.
fn zip_with_zip64_locator(eocd64: u64) -> Vec<u8> {
    let mut z = b"PK\x03\x04".to_vec();
    z.extend_from_slice(&[0; 60]);
    z.extend_from_slice(&0x0706_4b50u32.to_le_bytes()); // zip64 locator
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(&eocd64.to_le_bytes());
    z.extend_from_slice(&1u32.to_le_bytes());
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes()); // end of central directory
    z.extend_from_slice(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    z.extend_from_slice(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]);
    z
}

/// A zip archive with one stored `a/data/0` entry whose zip64 sizes are `size`.
fn zip_with_storage_size(size: u64) -> Vec<u8> {
    let name = b"a/data/0";
    let mut z = b"PK\x03\x04".to_vec();
    z.extend_from_slice(&[0; 22]);
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name);
    z.extend_from_slice(&[0; 16]);
    let cd = z.len() as u32;
    z.extend_from_slice(&0x0201_4b50u32.to_le_bytes()); // central directory entry
    z.extend_from_slice(&[20, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // method 0
    z.extend_from_slice(&[0xFF; 8]); // sizes: see zip64
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&20u16.to_le_bytes()); // extra length
    z.extend_from_slice(&[0; 10]); // comment length, disk, attributes
    z.extend_from_slice(&0u32.to_le_bytes()); // local header at 0
    z.extend_from_slice(name);
    z.extend_from_slice(&[1, 0, 16, 0]); // zip64 extra: uncompressed, compressed size
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    let cd_len = z.len() as u32 - cd;
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z
}

regression! {
    /// PyTorch-zip detection (the encoder's container parser) on offsets and sizes near
    /// 2^64: `at + 4` and `start + size` overflowed (a panic where overflow checks are on:
    /// debug builds, the fuzz targets). Such archives are now just not containers.
    fn zip_offsets_and_sizes_near_2_pow_64() {
        use zipnn_wasm::format::tensors;
        for bad in [u64::MAX, u64::MAX - 1, u64::MAX - 7] {
            let z = zip_with_zip64_locator(bad);
            assert_eq!(tensors::detect(&z), None);
            let z = zip_with_storage_size(bad);
            assert_eq!(tensors::detect(&z), None);
        }
        // The same builders with sane values do parse (so the inputs above reach the code).
        let z = zip_with_storage_size(16);
        let l = tensors::detect(&z).expect("a zip with one storage");
        assert_eq!(l.tensors.len(), 1);
        let packed = znw::compress(&z, &znw::Options::default()).unwrap();
        assert_eq!(both(&packed, 7, Limits::default()), Ok(z));
    }
}

regression! {
    /// A header with reserved bytes set (or a size given while flagged unknown) behind a valid
    /// checksum parsed, and re-encoded to different bytes (fuzz target `parsers`). Every header
    /// now has exactly one encoding: such headers are `ZNN_CORRUPT`.
    fn header_reserved_bytes_must_be_zero() {
        let file = zipnn_wasm::compress(&[1u8; 100], &Default::default()).unwrap();
        let (_, len) = znw::Header::parse(&file).unwrap();
        let sum = |h: &mut Vec<u8>| {
            let s = znw::header::checksum(&h[..len - 4]).to_le_bytes();
            h[len - 4..len].copy_from_slice(&s);
        };
        // Bytes 10-11 and 29-31 are reserved; 16-23 is the size, which must be 0 when unknown.
        for (at, flags) in [(10, None), (11, None), (29, None), (31, None), (16, Some(0u8))] {
            let mut h = file.clone();
            h[at] ^= 0x40;
            if let Some(f) = flags {
                h[9] = f;
            }
            sum(&mut h);
            let e = znw::Header::parse(&h).unwrap_err();
            assert_eq!(e.code(), "ZNN_CORRUPT", "byte {at}: {e}");
            assert_eq!(both(&h, 7, Limits::default()), Err("ZNN_CORRUPT"));
        }
    }
}
