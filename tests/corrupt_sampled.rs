//! Corruption detection on a large real file (tests/corrupt.rs does every bit of a small one):
//! models/minilm.bf16.safetensors (45 MB) compressed, then 2000 random single-bit flips and
//! 200 random truncation points. Every cut must fail with a typed error; every flip too, or
//! decode to the original bytes (a flip in a body checksum, or in bits the entropy decoders
//! ignore: decoders read a body checksum only when something else fails, FORMAT.md §3) and
//! then fail the integrity check (`znw::check_bodies`, what `zipnn test` runs).
//!
//! A flip is judged as the whole-file decoder would: it fails if the record walk (`index`)
//! fails or if any chunk whose record changed fails to decode; chunks whose record bytes are
//! untouched decode as before, so they are skipped. The first flips and cuts are also run
//! through the full whole-file and streaming decoders to check that shortcut.

use std::path::PathBuf;
use zipnn_wasm::format::znw::{self, chunk, ChunkInfo, Options};
use zipnn_wasm::stream::{Decoder, Sink};
use zipnn_wasm::{Error, Limits};

const FLIPS: usize = 2000;
const CUTS: usize = 200;
/// How many of each also go through the full decoders.
const FULL: usize = 12;

fn model() -> Option<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    if !dir.join("SHA256SUMS").exists() {
        if std::env::var("ZIPNN_SKIP_MODELS").is_ok() {
            return None;
        }
        panic!("models/ is missing: run scripts/fetch-models.sh (or set ZIPNN_SKIP_MODELS=1)");
    }
    Some(std::fs::read(dir.join("minilm.bf16.safetensors")).expect("minilm.bf16.safetensors"))
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as usize % n
    }
}

const TYPED: &[&str] = &[
    "ZNN_CORRUPT",
    "ZNN_TRUNCATED",
    "ZNN_NOT_COMPRESSED",
    "ZNN_UNSUPPORTED",
    "ZNN_TOO_LARGE",
];

struct Discard;
impl Sink for Discard {
    fn data(&mut self, _: u64, _: &[u8]) -> Result<(), Error> {
        Ok(())
    }
}

fn streamed(file: &[u8]) -> Result<(), Error> {
    let mut dec = Decoder::new(Limits::default());
    file.chunks(1 << 20)
        .try_for_each(|p| dec.push(p, &mut Discard))
        .and_then(|_| dec.finish())
}

/// The whole-file decoder's verdict on `p` (the original with the bit at byte `at` flipped).
fn verdict(p: &[u8], at: usize, orig: &[ChunkInfo], data: &[u8]) -> Result<(), Error> {
    let (_, chunks) = znw::index(p, &Limits::default())?;
    assert_eq!(
        chunks.len(),
        orig.len(),
        "index accepted a different chunk count"
    );
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    for (c, o) in chunks.iter().zip(orig) {
        let rec = c.body_offset as usize - chunk::HEAD_LEN
            ..c.body_offset as usize + c.head.body_len as usize;
        if c == o && !rec.contains(&at) {
            continue; // untouched record: decodes exactly as before
        }
        out.resize(c.head.raw_len as usize, 0);
        let body = c.body(p);
        chunk::decode(&c.head, body, c.offset, &mut out, &mut scratch)?;
        let want = &data[c.offset as usize..c.offset as usize + out.len()];
        assert!(
            out == want,
            "flip at byte {at}: a chunk decoded to wrong bytes"
        );
    }
    Ok(())
}

#[test]
fn sampled_bit_flips_and_truncations_on_a_real_model() {
    let Some(data) = model() else { return };
    let packed = znw::compress(
        &data,
        &Options {
            threads: 2,
            ..Options::default()
        },
    )
    .unwrap();
    let (_, orig) = znw::index(&packed, &Limits::default()).unwrap();
    let mut rng = Rng(0x5EED_F11B);

    let (mut detected, mut harmless) = (0, 0);
    let mut p = packed.clone();
    for i in 0..FLIPS {
        let bit = rng.below(packed.len() * 8);
        let at = bit / 8;
        p[at] ^= 1 << (bit % 8);
        let r = verdict(&p, at, &orig, &data);
        if i < FULL {
            let whole = zipnn_wasm::decompress(&p, &Limits::default());
            assert_eq!(whole.is_err(), r.is_err(), "flip {bit}: shortcut disagrees");
            assert_eq!(
                streamed(&p).is_err(),
                r.is_err(),
                "flip {bit}: streaming disagrees"
            );
        }
        match r {
            Err(e) => {
                assert!(TYPED.contains(&e.code()), "flip {bit}: {e}");
                detected += 1;
            }
            // `verdict` checked that the chunk decoded to the original bytes.
            Ok(()) if znw::check_bodies(&p).is_err() => harmless += 1,
            Ok(()) => eprintln!("flip of bit {bit} (byte {at}) not detected"),
        }
        p[at] ^= 1 << (bit % 8);
    }

    let mut cut_detected = 0;
    let end_record = packed.len() - chunk::END_LEN;
    let mut cuts: Vec<usize> = (0..CUTS - 1).map(|_| rng.below(packed.len())).collect();
    cuts.push(end_record); // every chunk intact, no end record
    cuts.sort_unstable();
    for (i, &cut) in cuts.iter().enumerate() {
        let t = &packed[..cut];
        let whole = zipnn_wasm::decompress(t, &Limits::default());
        match &whole {
            Err(e) => {
                assert!(TYPED.contains(&e.code()), "cut {cut}: {e}");
                cut_detected += 1;
            }
            Ok(_) => eprintln!("truncation at {cut} not detected"),
        }
        if i % (CUTS / FULL) == 0 || cut == end_record {
            assert_eq!(
                streamed(t).map_err(|e| e.code()),
                Err("ZNN_TRUNCATED"),
                "cut {cut} streamed"
            );
        }
    }
    eprintln!(
        "minilm.bf16.safetensors -> {} bytes: {detected}/{FLIPS} bit flips detected by \
         decoding, {harmless} decoded intact and caught by the integrity check; \
         {cut_detected}/{CUTS} truncations detected",
        packed.len()
    );
    assert_eq!(detected + harmless, FLIPS, "undetected bit flips");
    assert_eq!(cut_detected, CUTS, "undetected truncations");
}
