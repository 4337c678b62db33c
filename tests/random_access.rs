//! Reads at decoded offsets of a `.znw` file (`znw::RandomAccess`): every range equals the
//! original bytes, only the chunks a read needs are read, a damaged chunk fails only the reads
//! that touch it, and offsets past 4 GiB work. Real models: tests/real_models.rs.

mod common;

use common::{bf16_weights, safetensors, BigZnw, Rng};
use zipnn_wasm::format::{znw, Source};
use zipnn_wasm::{DType, DTypeChoice, Error, Limits, Options};

fn opts(chunk_size: u32) -> Options {
    Options {
        chunk_size,
        ..Options::default()
    }
}

/// A source that counts what is read from it.
struct Counting<'a> {
    data: &'a [u8],
    bytes: u64,
}

impl Source for Counting<'_> {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
    fn read(&mut self, pos: u64, len: usize) -> Result<&[u8], Error> {
        self.bytes += len as u64;
        usize::try_from(pos)
            .ok()
            .and_then(|p| self.data.get(p..p.checked_add(len)?))
            .ok_or(Error::Truncated)
    }
}

/// A safetensors file of three bf16 tensors spanning several 64 KiB chunks.
fn model() -> Vec<u8> {
    let mut rng = Rng(7);
    safetensors(&[
        (
            "a.weight",
            "BF16",
            vec![300, 128],
            bf16_weights(&mut rng, 300 * 128),
        ),
        ("b.bias", "BF16", vec![5], bf16_weights(&mut rng, 5)),
        (
            "c.weight",
            "BF16",
            vec![512, 96],
            bf16_weights(&mut rng, 512 * 96),
        ),
    ])
}

#[test]
fn every_range_reads_the_original_bytes() {
    let data = model();
    let packed = znw::compress(&data, &opts(64 << 10)).unwrap();
    let mut src: &[u8] = &packed;
    let mut ra = znw::RandomAccess::open(&mut src, None, &Limits::default()).unwrap();
    assert_eq!(ra.size(), data.len() as u64);
    let n = data.len() as u64;
    let chunk = 64 << 10;
    // Chunk edges, the ends of the file, empty reads, and random ranges.
    let mut ranges = vec![(0, 0), (0, 1), (0, n), (n, 0), (n - 1, 1), (chunk - 1, 2)];
    ranges.extend([
        (chunk, chunk),
        (chunk - 3, chunk + 6),
        (2 * chunk, n - 2 * chunk),
    ]);
    let mut rng = Rng(3);
    for _ in 0..300 {
        let a = rng.next() % n;
        let len = rng.next() % (n - a + 1).min(200_000);
        ranges.push((a, len));
    }
    for (a, len) in ranges {
        let mut dst = vec![0xA5; len as usize];
        ra.read_at(&mut src, a, &mut dst).unwrap();
        assert!(
            dst == data[a as usize..(a + len) as usize],
            "{len} bytes at {a}"
        );
    }
}

#[test]
fn a_tensor_read_reads_only_its_chunks() {
    let data = model();
    let packed = znw::compress(&data, &opts(64 << 10)).unwrap();
    let mut src = Counting {
        data: &packed,
        bytes: 0,
    };
    let mut ra = znw::RandomAccess::open(&mut src, None, &Limits::default()).unwrap();
    let heads = src.bytes;
    assert!(
        heads < 1000,
        "open reads the header and heads only: {heads} bytes"
    );
    let seg = ra
        .header()
        .segments
        .iter()
        .find(|s| s.name == "b.bias")
        .unwrap()
        .clone();
    let mut dst = vec![0; seg.length as usize];
    ra.read_at(&mut src, seg.offset, &mut dst).unwrap();
    let at = seg.offset as usize;
    assert_eq!(dst, data[at..at + dst.len()]);
    // The 10-byte tensor lies in one chunk: one body read, under a tenth of the file.
    let body = src.bytes - heads;
    assert!(
        body > 0 && body < packed.len() as u64 / 10,
        "{body} of {}",
        packed.len()
    );
    // Read again (a parser reading a length, then what it names): from the kept chunk.
    let before = src.bytes;
    ra.read_at(&mut src, seg.offset, &mut dst[..4]).unwrap();
    assert_eq!(src.bytes, before);
}

#[test]
fn reads_past_the_end_are_invalid_input() {
    let data = model();
    let packed = znw::compress(&data, &opts(64 << 10)).unwrap();
    let mut src: &[u8] = &packed;
    let mut ra = znw::RandomAccess::open(&mut src, None, &Limits::default()).unwrap();
    let n = data.len() as u64;
    for (a, len) in [(n, 1), (n - 1, 2), (n + 5, 0), (u64::MAX, 2), (1, u64::MAX)] {
        let e = ra.read_with(&mut src, a, len, |_, _| Ok(())).unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{len} at {a}: {e}");
    }
}

#[test]
fn a_damaged_chunk_fails_only_the_reads_that_need_it() {
    let data = model();
    let packed = znw::compress(&data, &opts(64 << 10)).unwrap();
    let (_, chunks) = znw::index(&packed, &Limits::default()).unwrap();
    assert!(chunks.len() >= 4);
    let bad = chunks[2];
    let mut damaged = packed.clone();
    damaged[bad.body_offset as usize + bad.head.body_len as usize / 2] ^= 0x10;
    let mut src: &[u8] = &damaged;
    let mut ra = znw::RandomAccess::open(&mut src, None, &Limits::default()).unwrap();
    let (start, end) = (bad.offset, bad.offset + bad.head.raw_len as u64);
    let mut read = |ra: &mut znw::RandomAccess, a: u64, len: u64| {
        let mut dst = vec![0; len as usize];
        ra.read_at(&mut src, a, &mut dst).map(|()| dst)
    };
    // The chunks before and after read before and after a read that needs the damaged one
    // (which decodes over the kept chunk's bytes: they must not be served again).
    for (a, len) in [(start - 100, 100), (end, 100)] {
        for _ in 0..2 {
            let ok = read(&mut ra, a, len).unwrap();
            assert_eq!(ok, data[a as usize..(a + len) as usize]);
            let e = read(&mut ra, start + 10, 1).unwrap_err();
            assert!(matches!(e, Error::Checksum { .. }), "{e}");
        }
    }
    let e = read(&mut ra, start - 10, 20).unwrap_err();
    assert!(matches!(e, Error::Checksum { .. }), "{e}");
}

#[test]
fn a_delta_reads_with_its_base_only() {
    let mut rng = Rng(11);
    let base = bf16_weights(&mut rng, 200_000);
    let mut new = base.clone();
    for i in (0..new.len()).step_by(97) {
        new[i] ^= 1;
    }
    let fixed = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        ..opts(64 << 10)
    };
    let delta = znw::compress_delta(&new, &base, &fixed, &mut |_| {}).unwrap();
    let mut src: &[u8] = &delta;
    let e = znw::RandomAccess::open(&mut src, None, &Limits::default()).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    let other = &base[..base.len() - 2];
    let e = znw::RandomAccess::open(&mut src, Some(other), &Limits::default()).unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    let mut ra = znw::RandomAccess::open(&mut src, Some(&base), &Limits::default()).unwrap();
    let mut rng = Rng(5);
    for _ in 0..100 {
        let a = rng.next() % new.len() as u64;
        let len = rng.next() % (new.len() as u64 - a).min(150_000);
        let mut dst = vec![0; len as usize];
        ra.read_at(&mut src, a, &mut dst).unwrap();
        assert!(
            dst == new[a as usize..(a + len) as usize],
            "{len} bytes at {a}"
        );
    }
}

#[test]
fn the_decoded_size_is_bounded_at_open() {
    let data = model();
    let packed = znw::compress(&data, &opts(64 << 10)).unwrap();
    let mut src: &[u8] = &packed;
    let limits = Limits {
        max_output: data.len() as u64 - 1,
    };
    let e = znw::RandomAccess::open(&mut src, None, &limits).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    // A cut file does not open: its end record is missing.
    let mut cut: &[u8] = &packed[..packed.len() - 1];
    let e = znw::RandomAccess::open(&mut cut, None, &Limits::default()).unwrap_err();
    assert!(matches!(e, Error::Truncated | Error::Corrupt(_)), "{e}");
}

/// Offsets past 4 GiB: a read across the 4 GiB line of a 4.3 GB file served a piece at a time
/// (in wasm32 too: tests/wasm.rs).
#[test]
fn reads_across_4_gib() {
    let mut src = BigZnw::new(257);
    let mut ra = znw::RandomAccess::open(&mut src, None, &Limits::default()).unwrap();
    let chunk = BigZnw::CHUNK as u64;
    assert_eq!(ra.size(), 257 * chunk);
    let at = (1u64 << 32) - 50;
    let mut dst = vec![0; 100];
    ra.read_at(&mut src, at, &mut dst).unwrap();
    let c = chunk as usize;
    assert_eq!(dst[..50], src.data[c - 50..]);
    assert_eq!(dst[50..], src.data[..50]);
    let mut last = vec![0; 10];
    ra.read_at(&mut src, 257 * chunk - 10, &mut last).unwrap();
    assert_eq!(last, src.data[c - 10..]);
}
