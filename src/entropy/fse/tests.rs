use super::ncount::log2_q24;
use super::*;
use crate::entropy::testdata::{peaked, XorShift};
use alloc::vec;

fn roundtrip(src: &[u8]) -> Option<usize> {
    let mut out = vec![0xAA]; // existing content must be kept
    let n = compress(src, &mut out)?;
    assert_eq!(out.len(), n + 1);
    let mut dst = vec![0u8; src.len()];
    decompress(&out[1..], &mut dst).unwrap();
    assert_eq!(dst, src);
    Some(n)
}

#[test]
fn log2_is_accurate() {
    for x in [1u64, 2, 3, 5, 7, 100, 4095, 4096, 1 << 40] {
        let exact = (x as f64).log2();
        let got = log2_q24(x) as f64 / (1u64 << 24) as f64;
        assert!((exact - got).abs() < 1e-6, "{x}: {exact} vs {got}");
    }
}

#[test]
fn ncount_roundtrip_all_logs() {
    let mut rng = XorShift(7);
    for log in MIN_TABLE_LOG..=MAX_TABLE_LOG {
        for _ in 0..50 {
            let mut counts = [0u32; 256];
            let k = 2 + (rng.next() % 60) as usize;
            for _ in 0..k {
                counts[(rng.next() % 256) as usize] += 1 + (rng.next() % 1000) as u32;
            }
            let distinct = counts.iter().filter(|&&c| c > 0).count();
            if distinct > 1 << log || distinct < 2 {
                continue;
            }
            let total = counts.iter().map(|&c| c as u64).sum();
            let norm = normalize(&counts, total, log);
            let sum: i32 = norm.counts.iter().map(|&c| c as i32).sum();
            assert_eq!(sum, 1 << log);
            let mut buf = vec![];
            write_ncount(&norm, &mut buf);
            buf.push(0x5A); // trailing bytes are not part of the header
            let (back, used) = read_ncount(&buf, MAX_TABLE_LOG).unwrap();
            assert_eq!(used, buf.len() - 1);
            assert_eq!(back.counts, norm.counts);
            assert_eq!(back.log, log);
        }
    }
}

#[test]
fn ncount_rfc_low_probability_and_zero_runs() {
    // Hand-built: log 5, probabilities [-1, 0 x 7, 31] -> sum 32.
    let mut norm = NormCounts {
        log: 5,
        counts: [0; 256],
        symbols: 9,
    };
    norm.counts[0] = -1;
    norm.counts[8] = 31;
    // write_ncount must cope with -1 too (used only for testing the reader).
    let mut buf = vec![];
    write_ncount(&norm, &mut buf);
    let (back, _) = read_ncount(&buf, 12).unwrap();
    assert_eq!(back.counts, norm.counts);
    let mut dt = DecodeTable::new();
    dt.build(&back).unwrap();
    // The -1 symbol sits in the last cell with a full reset.
    let e = dt.entry(31);
    assert_eq!((e & 0xff, (e >> 8) & 0xff, e >> 16), (0, 5, 0));
}

#[test]
fn sizes() {
    for n in [0usize, 1, 2, 15] {
        assert_eq!(roundtrip(&peaked(n, 1)), None);
    }
    for n in [
        16usize,
        17,
        18,
        19,
        20,
        100,
        1000,
        32 << 10,
        64 << 10,
        128 << 10,
        300 << 10,
    ] {
        roundtrip(&peaked(n, n as u64)).unwrap();
    }
}

#[test]
fn single_symbol_is_none() {
    assert_eq!(roundtrip(&[7u8; 1000]), None);
}

#[test]
fn two_symbols_and_uniform() {
    let mut rng = XorShift(3);
    let two: Vec<u8> = (0..5000)
        .map(|_| {
            if rng.next().is_multiple_of(10) {
                1
            } else {
                200
            }
        })
        .collect();
    roundtrip(&two).unwrap();
    let all: Vec<u8> = (0..100_000).map(|_| rng.next() as u8).collect();
    roundtrip(&all).unwrap();
    let seq: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    roundtrip(&seq).unwrap();
}

#[test]
fn peaked_is_near_entropy() {
    let src = peaked(128 << 10, 11);
    let counts = histogram(&src);
    let n = src.len() as f64;
    let h: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| -(c as f64) * (c as f64 / n).log2())
        .sum();
    let size = roundtrip(&src).unwrap();
    let bits_per = size as f64 * 8.0 / n;
    let h_per = h / n;
    assert!(bits_per < h_per + 0.01, "fse {bits_per} vs entropy {h_per}");
}

#[test]
fn weights_roundtrip() {
    let mut rng = XorShift(5);
    for n in 2..=255usize {
        for _ in 0..4 {
            let maxw = 2 + rng.next() % 10;
            let w: Vec<u8> = (0..n).map(|_| (rng.next() % (maxw + 1)) as u8).collect();
            let mut buf = vec![];
            let Some(len) = encode_huff_weights(&w, &mut buf) else {
                assert!(w.iter().all(|&x| x == w[0]));
                continue;
            };
            assert_eq!(len, buf.len());
            let mut back = [0u8; 256];
            let got = decode_huff_weights(&buf, &mut back).unwrap();
            assert_eq!(&back[..got], &w[..], "n={n}");
        }
    }
}

/// Oracle: the format decoded the plain way, one checked read at a time.
fn reference_decompress(src: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    let (norm, hlen) = read_ncount(src, MAX_TABLE_LOG)?;
    let mut t = DecodeTable::new();
    t.build(&norm)?;
    let src = &src[hlen..];
    let mut p = 0;
    let mut sizes = [0usize; 3];
    for s in &mut sizes {
        *s = crate::entropy::varint::get(src, &mut p)?;
    }
    let mut body = &src[p..];
    let seg = dst.len().div_ceil(4);
    if 3 * seg > dst.len() {
        return Err(EntropyError::Corrupt("small"));
    }
    for (k, d) in dst
        .chunks_mut(seg.max(1))
        .chain(core::iter::repeat_with(|| &mut [][..]))
        .take(4)
        .enumerate()
    {
        let len = if k < 3 { sizes[k] } else { body.len() };
        if len > body.len() {
            return Err(EntropyError::Truncated);
        }
        let (stream, rest) = body.split_at(len);
        body = rest;
        let mut r = BackwardReader::new(stream)?;
        let mut state = r.read(t.log) as usize;
        for o in d.iter_mut() {
            let e = t.entry(state);
            *o = e as u8;
            state = (e >> 16) as usize + r.read((e >> 8) & 0xff) as usize;
        }
        if state != 0 || !r.is_exhausted() {
            return Err(EntropyError::Corrupt("end"));
        }
    }
    Ok(())
}

#[test]
fn fast_path_matches_reference_on_corruption() {
    let src = peaked(5000, 21);
    let mut c = vec![];
    compress(&src, &mut c).unwrap();
    let mut dst = vec![0u8; src.len()];
    reference_decompress(&c, &mut dst).unwrap();
    assert_eq!(dst, src);
    let (_, hlen) = read_ncount(&c, MAX_TABLE_LOG).unwrap();
    let mut rng = XorShift(8);
    let mut oks = 0;
    for _ in 0..3000 {
        let mut m = c.clone();
        for _ in 0..1 + rng.next() % 2 {
            let i = hlen + 6 + (rng.next() as usize % (m.len() - hlen - 6));
            m[i] ^= 1 << (rng.next() % 8);
        }
        let mut a = vec![0u8; src.len()];
        let mut b = vec![0u8; src.len()];
        let ra = decompress(&m, &mut a);
        let rb = reference_decompress(&m, &mut b);
        assert_eq!(ra.is_ok(), rb.is_ok());
        if ra.is_ok() {
            assert_eq!(a, b);
            oks += 1;
        }
    }
    // The final-state and exact-end checks catch most corruptions, not all: tANS decoding
    // resynchronises after an error, so integrity is the container checksum's job.
    assert!(oks < 300, "{oks} corruptions went unnoticed");
}

#[test]
fn hostile_inputs_never_panic() {
    let src = peaked(3000, 9);
    let mut c = vec![];
    compress(&src, &mut c).unwrap();
    let mut dst = vec![0u8; src.len()];
    for cut in 0..c.len() {
        assert!(decompress(&c[..cut], &mut dst).is_err());
    }
    let small = peaked(40, 2);
    let mut c = vec![];
    compress(&small, &mut c).unwrap();
    let mut dst = vec![0u8; small.len()];
    for bit in 0..c.len() * 8 {
        let mut m = c.clone();
        m[bit / 8] ^= 1 << (bit % 8);
        let _ = decompress(&m, &mut dst);
    }
    let mut rng = XorShift(0xdead_beef);
    let mut weights = [0u8; 256];
    for i in 0..100_000 {
        let len = (rng.next() % 64) as usize;
        let junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut dst = vec![0u8; (i % 97) as usize];
        let _ = decompress(&junk, &mut dst);
        let _ = decode_huff_weights(&junk, &mut weights);
    }
}

/// A table costs its cells to build: a block must have symbols enough to pay for it.
#[test]
fn tables_too_large_for_their_block_are_refused() {
    let mut counts = [0u32; 256];
    counts[..2].copy_from_slice(&[3, 1]);
    for (log, n, refused) in [
        (12, 255, true),
        (12, 256, false),
        (9, 32, false),
        (9, 31, true),
        (5, 1, false),
    ] {
        let mut src = Vec::new();
        write_ncount(&normalize(&counts, 4, log), &mut src);
        let r = decompress(&src, &mut vec![0u8; n]);
        assert_eq!(
            r == Err(EntropyError::Corrupt("tANS table too large for its block")),
            refused,
            "log {log}, {n} symbols: {r:?}"
        );
    }
    // The encoder keeps to it: 16 symbols get a table of at most 256 cells.
    let src: Vec<u8> = (0..16).map(|i| (i % 3) as u8).collect();
    let mut out = Vec::new();
    compress(&src, &mut out).unwrap();
    assert!(read_ncount(&out, MAX_TABLE_LOG).unwrap().0.log <= 8);
}

#[test]
fn histogram_counts_every_byte_at_every_length() {
    // Lengths around the eight-byte loads, runs and mixed bytes; each table takes byte i % 4.
    let mut rng = XorShift(7);
    let data: Vec<u8> = (0..300)
        .map(|i| if i % 7 < 3 { 9 } else { rng.next() as u8 })
        .collect();
    for len in 0..data.len() {
        for at in [0, 1, 5] {
            let src = &data[at.min(len)..len];
            let mut naive = [0u32; 256];
            let mut tables = [[0u32; 256]; 4];
            for (i, &b) in src.iter().enumerate() {
                naive[b as usize] += 1;
                tables[i % 4][b as usize] += 1;
            }
            assert_eq!(histogram(src), naive, "len {len} at {at}");
            let mut got = [[0u32; 256]; 4];
            super::count_into(src, &mut got);
            assert_eq!(got, tables, "len {len} at {at}");
        }
    }
}
