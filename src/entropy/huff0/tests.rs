extern crate std;
use super::decode::*;
use super::encode::*;
use super::*;
use crate::entropy::testdata::{peaked, XorShift};
use alloc::vec;
use alloc::vec::Vec;

/// Round trip through both 4x decoders and 1x; returns the 4x size.
fn roundtrip(src: &[u8]) -> Option<usize> {
    let mut out = vec![0x55];
    let n = compress_4x(src, &mut out)?;
    assert_eq!(out.len(), n + 1);
    let mut dst = vec![0u8; src.len()];
    decompress_4x(&out[1..], &mut dst).unwrap();
    assert_eq!(dst, src);
    let (t, used) = DecodeTable::read(&out[1..]).unwrap();
    let mut dst2 = vec![0u8; src.len()];
    t.decode_4x_reference(&out[1 + used..], &mut dst2).unwrap();
    assert_eq!(dst2, src);

    let mut one = vec![];
    compress_1x(src, &mut one).unwrap();
    let mut dst3 = vec![0u8; src.len()];
    decompress_1x(&one, &mut dst3).unwrap();
    assert_eq!(dst3, src);
    Some(n)
}

#[test]
fn small_sizes() {
    for n in [0usize, 1, 2, 15] {
        assert_eq!(roundtrip(&peaked(n, 1)), None, "n={n}");
    }
    for n in [16usize, 17, 18, 19, 20, 21, 33, 100, 257] {
        roundtrip(&peaked(n, n as u64)).unwrap();
    }
}

/// Blocks either side of the size from which the multi-symbol table is built decode alike,
/// with zstd's u16 jump table and with mode 11's u32 one, and refuse the same damage: the
/// block decoder (single-symbol below the threshold), the multi-symbol table at any size, and
/// the reference.
#[test]
fn blocks_around_the_multi_symbol_threshold() {
    for n in [16usize, 100, 255, 256, 257, 1024, 5000] {
        let src = peaked(n, 5 + n as u64);
        roundtrip(&src).unwrap();
        let mut wide = vec![];
        compress_4x_wide_below(&src, &histogram(&src), usize::MAX, &mut wide).unwrap();
        let mut dst = vec![0u8; n];
        decompress_4x_wide(&wide, &mut dst).unwrap();
        assert_eq!(dst, src, "n={n}");
        // A flipped bit is refused, or decodes as the reference decoder decodes it.
        let mut narrow = vec![];
        compress_4x(&src, &mut narrow).unwrap();
        for bit in (0..narrow.len() * 8).step_by(7) {
            let mut m = narrow.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            let mut a = vec![0u8; n];
            let ra = decompress_4x(&m, &mut a);
            let Ok((t, used)) = DecodeTable::read(&m) else {
                assert!(ra.is_err(), "n={n} bit={bit}");
                continue;
            };
            let mut b = vec![0u8; n];
            let rb = t.decode_4x_reference(&m[used..], &mut b);
            let mut c = vec![0u8; n];
            let rc = t.decode_4x(&m[used..], &mut c);
            assert_eq!(ra.is_ok(), rb.is_ok(), "n={n} bit={bit}");
            assert_eq!(rc.is_ok(), rb.is_ok(), "n={n} bit={bit}");
            if ra.is_ok() {
                assert_eq!(a, b, "n={n} bit={bit}");
                assert_eq!(c, b, "n={n} bit={bit}");
            }
        }
    }
}

#[test]
fn big_sizes() {
    for n in [32usize << 10, 64 << 10, 128 << 10, 300 << 10] {
        let src = peaked(n, 77);
        let size = roundtrip(&src).unwrap();
        assert!(size < n / 2);
    }
}

#[test]
fn a_symbol_without_a_code_refuses_the_block() {
    // Counts that miss a symbol the data holds: the writer must notice (at any position,
    // in any of the four streams) and leave `out` as it was.
    let src = peaked(40_000, 9);
    let mut counts = histogram(&src);
    let rare = (0..=255u8)
        .filter(|&s| counts[s as usize] > 0)
        .min_by_key(|&s| counts[s as usize])
        .unwrap();
    counts[rare as usize] = 0;
    let table = EncodeTable::from_counts(&counts).unwrap();
    for k in [0usize, 1, 5, 39_999] {
        let mut s = src.clone();
        s[k] = rare;
        let mut out = vec![7u8; 3];
        assert_eq!(table.encode_4x(&s, &mut out), None, "at {k}");
        assert_eq!(table.encode_1x(&s, &mut out), None, "at {k}");
        assert_eq!(out, [7, 7, 7]);
    }
}

#[test]
fn single_symbol_is_none() {
    let mut out = vec![];
    assert_eq!(compress_4x(&[9u8; 500], &mut out), None);
    assert_eq!(compress_1x(&[9u8; 500], &mut out), None);
    assert!(out.is_empty());
}

#[test]
fn two_symbols() {
    let mut rng = XorShift(17);
    let src: Vec<u8> = (0..10_000)
        .map(|_| if rng.next().is_multiple_of(7) { 0 } else { 255 })
        .collect();
    let size = roundtrip(&src).unwrap();
    assert!(size < 10_000 / 8 + 64);
}

#[test]
fn all_byte_values() {
    // Exactly uniform 256 symbols: the optimal code gives all one length (255 equal weights,
    // which no description can carry; zstd gives up here), so the encoder skews it slightly.
    let uniform: Vec<u8> = (0..=255u8).cycle().take(8192).collect();
    let size = roundtrip(&uniform).unwrap();
    assert!(size < 8192 + 200);
    // Random bytes: not perfectly uniform, so some lengths differ and FSE weights work.
    let mut rng = XorShift(23);
    let random: Vec<u8> = (0..100_000).map(|_| rng.next() as u8).collect();
    roundtrip(&random).unwrap();
    // All values present but skewed.
    let mut skewed = peaked(50_000, 5);
    skewed.extend(0..=255u8);
    roundtrip(&skewed).unwrap();
}

/// Over 128 symbols of one length before a last one of another: their equal weights fit
/// neither description form, and such blocks were once stored as they are.
#[test]
fn many_equal_weights_before_the_last_symbol() {
    let mut rng = XorShift(5);
    for k in [129usize, 192, 224, 240, 255] {
        // k equally frequent symbols, and symbol k as frequent as half of them together.
        let mut src: Vec<u8> = (0..k as u8).cycle().take(100 * k).collect();
        src.extend(core::iter::repeat_n(k as u8, 50 * k));
        for i in (1..src.len()).rev() {
            src.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        let size = roundtrip(&src).unwrap_or_else(|| panic!("k={k}: not coded"));
        assert!(size < src.len() * 9 / 10, "k={k}: {size} of {}", src.len());
    }
}

#[test]
fn random_alphabets() {
    let mut rng = XorShift(99);
    for round in 0..300 {
        let alphabet = 2 + (rng.next() % 254) as usize;
        let n = 16 + (rng.next() % 5000) as usize;
        let shift = rng.next() % 8;
        let src: Vec<u8> = (0..n)
            .map(|_| {
                let r = rng.next();
                ((r % alphabet as u64) >> (r >> 60 & shift)) as u8
            })
            .collect();
        if histogram(&src).iter().filter(|&&c| c > 0).count() < 2 {
            continue;
        }
        let _ = roundtrip(&src).unwrap_or_else(|| panic!("round {round}"));
    }
}

#[test]
fn lengths_are_optimal_and_limited() {
    // Fibonacci counts force long codes; the limit must hold and the code stay complete.
    let mut counts = [0u32; 256];
    let (mut a, mut b) = (1u32, 1u32);
    for c in counts.iter_mut().take(30) {
        *c = a;
        (a, b) = (b, a + b);
    }
    for max in 5..=11 {
        let lens = limited_code_lengths(&counts, max).unwrap();
        let kraft: u64 = lens
            .iter()
            .filter(|&&l| l > 0)
            .map(|&l| 1u64 << (max - l as u32))
            .sum();
        assert_eq!(kraft, 1 << max);
        assert!(lens.iter().all(|&l| l as u32 <= max));
    }
    // Unlimited case equals plain Huffman cost on a small example: counts 1,1,2,4 -> 3,3,2,1.
    let mut c = [0u32; 256];
    c[..4].copy_from_slice(&[1, 1, 2, 4]);
    let lens = limited_code_lengths(&c, 11).unwrap();
    assert_eq!(&lens[..4], &[3, 3, 2, 1]);
}

/// Hand-built payload, direct weights: symbols 0,1,2 with weights 2,1,(1 implied) give
/// codes 0:'1', 1:'00', 2:'01'. Stream for [0,1,2,0]: bits read 1,00,01,1 -> byte 0x63.
#[test]
fn known_answer_direct_weights() {
    let payload = [0x81, 0x21, 0x63];
    let mut dst = [0u8; 4];
    decompress_1x(&payload, &mut dst).unwrap();
    assert_eq!(dst, [0, 1, 2, 0]);
    // And our encoder produces exactly these bytes for the same code.
    let mut counts = [0u32; 256];
    counts[..3].copy_from_slice(&[2, 1, 1]);
    let t = EncodeTable::from_counts(&counts).unwrap();
    let mut out = vec![];
    t.write_description(&mut out).unwrap();
    t.encode_1x(&[0, 1, 2, 0], &mut out).unwrap();
    assert_eq!(out, payload);
    // Padding marker missing / trailing bit left over are rejected.
    assert!(decompress_1x(&[0x81, 0x21, 0x00], &mut dst).is_err());
    assert!(decompress_1x(&[0x81, 0x21, 0xC6], &mut dst).is_err());
    let mut dst5 = [0u8; 5];
    assert!(decompress_1x(&payload, &mut dst5).is_err());
}

#[test]
fn fse_weights_are_used_for_large_alphabets() {
    // 200 symbols with varied lengths: more than 128 weights -> FSE description.
    let mut rng = XorShift(31);
    let src: Vec<u8> = (0..60_000)
        .map(|_| ((rng.next() % 200) >> (rng.next() % 3)) as u8)
        .collect();
    let t = EncodeTable::from_counts(&histogram(&src)).unwrap();
    let mut d = vec![];
    t.write_description(&mut d).unwrap();
    assert!(d[0] < 128);
    roundtrip(&src).unwrap();
}

#[test]
fn rejects_bad_weights() {
    let mut dst = [0u8; 32];
    // Weights 1,1,1 -> total 3 -> rest 1, but then ones = 4 fine; weights 2,2,1: total 5,
    // rest 3 not a power of two.
    assert!(decompress_1x(&[0x82, 0x22, 0x10, 0x01], &mut dst).is_err());
    // Weight 12 > 11.
    assert!(decompress_1x(&[0x81, 0xC0, 0x01], &mut dst).is_err());
    // Weights 2 + implied 2: no weight-1 codes (zstd rejects this too).
    assert!(decompress_1x(&[0x80, 0x20, 0x01], &mut dst).is_err());
    // FSE header byte 0 and truncated descriptions.
    assert!(decompress_1x(&[0x00, 0x01], &mut dst).is_err());
    assert!(decompress_1x(&[0x90], &mut dst).is_err());
    assert!(decompress_1x(&[], &mut dst).is_err());
}

#[test]
fn hostile_inputs_never_panic() {
    for (seed, n) in [(1u64, 40usize), (2, 300), (3, 20)] {
        let src = peaked(n, seed);
        for four in [true, false] {
            let mut c = vec![];
            if four {
                compress_4x(&src, &mut c).unwrap();
            } else {
                compress_1x(&src, &mut c).unwrap();
            }
            let dec = |c: &[u8], d: &mut [u8]| {
                if four {
                    decompress_4x(c, d)
                } else {
                    decompress_1x(c, d)
                }
            };
            let mut dst = vec![0u8; n];
            for cut in 0..c.len() {
                assert!(
                    dec(&c[..cut], &mut dst).is_err(),
                    "cut {cut} of {}",
                    c.len()
                );
            }
            for bit in 0..c.len() * 8 {
                let mut m = c.clone();
                m[bit / 8] ^= 1 << (bit % 8);
                let _ = dec(&m, &mut dst);
                let (Ok((t, used)), true) = (DecodeTable::read(&m), four) else {
                    continue;
                };
                let mut d2 = vec![0u8; n];
                let a = t.decode_4x(&m[used..], &mut dst);
                let b = t.decode_4x_reference(&m[used..], &mut d2);
                assert_eq!(a.is_ok(), b.is_ok());
                if a.is_ok() {
                    assert_eq!(dst, d2);
                }
            }
        }
    }
    let mut rng = XorShift(0xfeed);
    for i in 0..100_000u32 {
        let len = (rng.next() % 80) as usize;
        let mut junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if i % 2 == 0 && !junk.is_empty() {
            junk[0] = 128 + (junk[0] % 40); // direct weights: reach the stream decoders more often
        }
        let mut dst = vec![0u8; (rng.next() % 200) as usize];
        let _ = decompress_4x(&junk, &mut dst);
        let _ = decompress_1x(&junk, &mut dst);
    }
}

/// The multi-symbol table is what decoding each window greedily with the single-symbol
/// table gives (the straightforward construction), for many trees and every lookup limit.
#[test]
fn if_smaller_refuses_only_blocks_that_cannot_shrink() {
    let mut rng = XorShift(31);
    for round in 0..60 {
        // From uniform bytes (never smaller) to skewed ones (always smaller).
        let shift = round % 6;
        let src: Vec<u8> = (0..20_000).map(|_| (rng.next() as u8) >> shift).collect();
        let counts = histogram(&src);
        let (mut all, mut some) = (vec![], vec![]);
        let full = compress_4x_with_counts(&src, &counts, &mut all);
        match compress_4x_if_smaller(&src, &counts, &mut some) {
            Some(n) => assert_eq!((Some(n), &some), (full, &all), "round {round}"),
            None => {
                assert!(some.is_empty());
                assert!(full.is_none_or(|n| n >= src.len()), "round {round}");
            }
        }
        if shift >= 2 {
            assert!(
                !some.is_empty(),
                "round {round}: a skewed block was refused"
            );
        }
    }
}

/// A [`Code`] built once (for an estimate, then reused to encode) writes what the one-shot
/// functions write, in both jump-table widths, and the limit and the estimate see the same
/// description and payload as the block written.
#[test]
fn a_code_built_once_encodes_as_the_one_shot_functions() {
    for (round, n) in [20usize, 300, 5000, 70_000].into_iter().enumerate() {
        let src = peaked(n, 90 + round as u64);
        let counts = histogram(&src);
        let code = Code::new(&counts).unwrap();
        let (mut once, mut oneshot) = (vec![7], vec![7]);
        let len = code.compress_4x_below(&src, &counts, Jump::U16, usize::MAX, &mut once);
        assert_eq!(
            len,
            compress_4x_below(&src, &counts, usize::MAX, &mut oneshot)
        );
        assert_eq!(once, oneshot, "n={n}");
        let (mut wide, mut wide_oneshot) = (vec![], vec![]);
        let wide_len = code.compress_4x_below(&src, &counts, Jump::U32, usize::MAX, &mut wide);
        assert_eq!(
            wide_len,
            compress_4x_wide_below(&src, &counts, usize::MAX, &mut wide_oneshot)
        );
        assert_eq!(wide, wide_oneshot, "n={n}");
        let est = code.estimate_bits(&counts).unwrap();
        assert_eq!(Some(est), estimate_bits(&counts));
        // The estimate leaves out only the padding of the four streams (up to a byte each).
        let len = len.unwrap() as u64;
        assert!(
            8 * len >= est && 8 * len < est + 4 * 8,
            "n={n}: {len} bytes, estimate {est} bits"
        );
        // A limit the block cannot come in under refuses it without writing anything.
        let mut refused = vec![];
        let payload_bytes = est / 8 - 6;
        assert_eq!(
            code.compress_4x_below(
                &src,
                &counts,
                Jump::U16,
                payload_bytes as usize,
                &mut refused
            ),
            None
        );
        assert!(refused.is_empty());
    }
}

#[test]
fn multi_table_is_greedy_decoding() {
    let mut rng = XorShift(12);
    let mut t = DecodeTable::new();
    for round in 0..200 {
        let alphabet = 2 + (rng.next() % 200) as usize;
        let src: Vec<u8> = (0..4000)
            .map(|_| {
                let r = rng.next();
                ((r % alphabet as u64) >> (r >> 60 & (round % 8))) as u8
            })
            .collect();
        let mut c = vec![];
        if compress_4x(&src, &mut c).is_none() {
            continue;
        }
        for max in 1..=MULTI_MAX {
            t.read_into_limited(&c, max).unwrap();
            for i in 0..LOOKUP_SIZE {
                let (mut used, mut syms, mut count) = (0u32, 0u64, 0u32);
                while count < max {
                    let e = t.single[(i << used) & (LOOKUP_SIZE - 1)];
                    let len = (e >> 8) as u32;
                    if used + len > LOOKUP_BITS {
                        break;
                    }
                    syms |= ((e & 0xff) as u64) << (8 * count);
                    count += 1;
                    used += len;
                }
                let want = (used as u64) << MULTI_USED_SHIFT
                    | syms << MULTI_SYMS_SHIFT
                    | (count as u64) << MULTI_COUNT_SHIFT;
                assert_eq!(t.multi[i], want, "round {round}, max {max}, window {i}");
            }
        }
    }
}

/// The dispatched decoder (on x86-64 with BMI2: the copy compiled for it, see `bmi2.rs`) and
/// the portable one called directly give the same bytes and the same errors, on intact and
/// damaged streams of sizes that reach the four-stream loop, the one-stream loop and the tails.
#[test]
fn bmi2_and_portable_loops_agree() {
    let mut rng = XorShift(39);
    for (i, n) in [256, 1000, 4099, 20_000, 65_536].into_iter().enumerate() {
        let src = match i % 2 {
            0 => peaked(n, i as u64),
            _ => (0..n).map(|_| (rng.next() % 97) as u8).collect(),
        };
        let mut c = vec![];
        compress_4x(&src, &mut c).unwrap();
        let (t, used) = DecodeTable::read(&c).unwrap();
        for damaged in 0..200 {
            let mut body = c[used..].to_vec();
            for _ in 0..damaged.min(1 + rng.next() % 3) {
                let k = 6 + (rng.next() as usize % (body.len() - 6));
                body[k] ^= 1 << (rng.next() % 8);
            }
            let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
            let ra = t.decode_4x(&body, &mut a);
            let rb = t.decode_4x_jump(&body, &mut b, Jump::U16, &mut ());
            assert_eq!(ra, rb, "size {n}, damage {damaged}");
            assert_eq!(a, b, "size {n}, damage {damaged}");
            if damaged == 0 {
                assert_eq!(a, src);
            }
        }
    }
}

/// Trees of long codes only (bytes near 8 bits, as quantised weights) decode through the
/// single-symbol loop, which must agree with the reference at every length (the loop, then
/// each stream's multi-symbol finish, then the checked tail) and on damaged streams.
#[test]
fn long_codes_take_the_single_symbol_loop() {
    let mut rng = XorShift(69);
    // (alphabet, whether the loop is expected): 256 and 97 near-uniform values have no code
    // under 6 bits; 12 values (3.6 bits) and bf16-like exponents give several a lookup.
    for (alphabet, single) in [(256u64, true), (97, true), (12, false)] {
        for n in (1..=400).chain([4099, 65_536]) {
            let src: Vec<u8> = (0..n).map(|_| (rng.next() % alphabet) as u8).collect();
            let mut c = vec![];
            let Some(_) = compress_4x(&src, &mut c) else {
                continue;
            };
            let (t, used) = DecodeTable::read(&c).unwrap();
            if n >= 4099 {
                assert_eq!(t.one_per_lookup(), single, "alphabet {alphabet}");
            }
            let mut a = vec![0u8; n];
            t.decode_4x(&c[used..], &mut a).unwrap();
            assert_eq!(a, src, "alphabet {alphabet}, size {n}");
            if n < 4099 {
                continue;
            }
            for _ in 0..300 {
                let mut body = c[used..].to_vec();
                for _ in 0..1 + rng.next() % 3 {
                    let k = 6 + (rng.next() as usize % (body.len() - 6));
                    body[k] ^= 1 << (rng.next() % 8);
                }
                let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
                let ra = t.decode_4x(&body, &mut a);
                let rb = t.decode_4x_reference(&body, &mut b);
                assert_eq!(ra.is_ok(), rb.is_ok(), "alphabet {alphabet}, size {n}");
                if ra.is_ok() {
                    assert_eq!(a, b, "alphabet {alphabet}, size {n}");
                }
            }
        }
    }
    let (t, _) = DecodeTable::read(&{
        let mut c = vec![];
        compress_4x(&peaked(65_536, 3), &mut c).unwrap();
        c
    })
    .unwrap();
    assert!(!t.one_per_lookup());
}

#[test]
fn multi_matches_single_on_corrupted_streams() {
    // Random stream bytes under a valid table: both decoders must agree on success and output.
    let src = peaked(4000, 8);
    let mut c = vec![];
    compress_4x(&src, &mut c).unwrap();
    let (t, used) = DecodeTable::read(&c).unwrap();
    let mut rng = XorShift(4);
    let mut agree_ok = 0;
    for _ in 0..2000 {
        let mut body = c[used..].to_vec();
        for _ in 0..1 + rng.next() % 3 {
            let i = 6 + (rng.next() as usize % (body.len() - 6));
            body[i] ^= 1 << (rng.next() % 8);
        }
        let mut a = vec![0u8; src.len()];
        let mut b = vec![0u8; src.len()];
        let ra = t.decode_4x(&body, &mut a);
        let rb = t.decode_4x_reference(&body, &mut b);
        assert_eq!(ra.is_ok(), rb.is_ok());
        if ra.is_ok() {
            assert_eq!(a, b);
            agree_ok += 1;
        }
    }
    let _ = agree_ok;
}

#[test]
#[ignore]
fn throughput() {
    use std::time::Instant;
    let n = 128 << 10;
    let chunks = 64;
    let data: Vec<Vec<u8>> = (0..chunks).map(|i| peaked(n, i as u64)).collect();
    let comp: Vec<Vec<u8>> = data
        .iter()
        .map(|d| {
            let mut c = vec![];
            compress_4x(d, &mut c).unwrap();
            c
        })
        .collect();
    let ratio = comp.iter().map(|c| c.len()).sum::<usize>() as f64 / (n * chunks) as f64;
    let mut dst = vec![0u8; n];
    let mut table = DecodeTable::new();
    {
        // Calibration: memcpy, and decoding one chunk repeatedly with its table prebuilt.
        let mut best = f64::MAX;
        for _ in 0..20 {
            let t0 = Instant::now();
            for d in &data {
                dst.copy_from_slice(std::hint::black_box(d));
            }
            best = best.min(t0.elapsed().as_secs_f64());
        }
        std::println!("memcpy: {:.0} MB/s", (n * chunks) as f64 / best / 1e6);
        let used = table.read_into(&comp[0]).unwrap();
        let mut best = f64::MAX;
        for _ in 0..20 {
            let t0 = Instant::now();
            for _ in 0..chunks {
                table
                    .decode_4x(std::hint::black_box(&comp[0][used..]), &mut dst)
                    .unwrap();
            }
            best = best.min(t0.elapsed().as_secs_f64());
        }
        std::println!(
            "huff0 4x decode, table prebuilt: {:.0} MB/s",
            (n * chunks) as f64 / best / 1e6
        );
        let mut best = f64::MAX;
        for _ in 0..20 {
            let t0 = Instant::now();
            for _ in 0..chunks {
                table.read_into(std::hint::black_box(&comp[0])).unwrap();
            }
            best = best.min(t0.elapsed().as_secs_f64());
        }
        std::println!("huff0 table build: {:.1} us", best / chunks as f64 * 1e6);
    }
    // Variants alternate within each repetition so that load from other processes on this
    // shared machine hits them alike; the best repetition of each is reported.
    let variants = [
        ("reference", 0),
        ("1 symbol/lookup", 1),
        ("2 symbols/lookup", 2),
        ("4 symbols/lookup", 4),
        ("5 symbols/lookup", 5),
    ];
    let mut best = [f64::MAX; 5];
    for _ in 0..15 {
        for (v, &(_, per_lookup)) in variants.iter().enumerate() {
            let t0 = Instant::now();
            for c in &comp {
                let used = table.read_into_limited(c, per_lookup).unwrap();
                if per_lookup == 0 {
                    table.decode_4x_reference(&c[used..], &mut dst).unwrap();
                } else {
                    table.decode_4x(&c[used..], &mut dst).unwrap();
                }
            }
            best[v] = best[v].min(t0.elapsed().as_secs_f64());
        }
    }
    for (v, (name, _)) in variants.iter().enumerate() {
        std::println!(
            "huff0 4x decode incl. table build, {name}: {:.0} MB/s (ratio {:.4}, {:.3} bits/sym)",
            (n * chunks) as f64 / best[v] / 1e6,
            ratio,
            ratio * 8.0
        );
    }
    let t0 = Instant::now();
    let mut c = vec![];
    for d in &data {
        c.clear();
        compress_4x(d, &mut c).unwrap();
    }
    std::println!(
        "huff0 4x encode: {:.0} MB/s",
        (n * chunks) as f64 / t0.elapsed().as_secs_f64() / 1e6
    );

    let fcomp: Vec<Vec<u8>> = data
        .iter()
        .map(|d| {
            let mut c = vec![];
            fse::compress(d, &mut c).unwrap();
            c
        })
        .collect();
    let fratio = fcomp.iter().map(|c| c.len()).sum::<usize>() as f64 / (n * chunks) as f64;
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t0 = Instant::now();
        for c in &fcomp {
            fse::decompress(c, &mut dst).unwrap();
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    std::println!(
        "fse decode: {:.0} MB/s (ratio {:.4}, {:.3} bits/sym)",
        (n * chunks) as f64 / best / 1e6,
        fratio,
        fratio * 8.0
    );
    let t0 = Instant::now();
    for d in &data {
        c.clear();
        fse::compress(d, &mut c).unwrap();
    }
    std::println!(
        "fse encode: {:.0} MB/s",
        (n * chunks) as f64 / t0.elapsed().as_secs_f64() / 1e6
    );
}

/// Huffman's two-queue code and package-merge give the same lengths wherever Huffman's keeps
/// to the limit (so `limited_code_lengths` takes the cheap one there, and files do not
/// change): on histograms of many shapes, from flat to steep, with ties everywhere (counts
/// of 0–3). A one-off run on 94,000 histograms of the model files' byte groups, with 0–3 low
/// bits dropped, agreed as well (bench/NOTES.md, session 65). Where Huffman's code is too
/// long, `limited_code_lengths` must be package-merge's.
#[test]
fn huffman_and_package_merge_agree() {
    let mut rng = XorShift(5);
    let (mut agreed, mut too_long) = (0, 0);
    for round in 0..20_000u32 {
        let mut counts = [0u32; 256];
        let k = 2 + (rng.next() % 255) as usize;
        for (i, c) in counts.iter_mut().take(k).enumerate() {
            *c = match round % 4 {
                0 => (rng.next() % 1000) as u32,
                1 => (100_000 >> (i % 17)) as u32 + (rng.next() % 3) as u32,
                2 => (rng.next() % 4) as u32,
                _ => (1e6 / ((i + 1) as f64).powf(1.5)) as u32 + (rng.next() % 2) as u32,
            };
        }
        let mut leaves: Vec<(u64, u8)> = (0..256)
            .filter(|&s| counts[s] > 0)
            .map(|s| (counts[s] as u64, s as u8))
            .collect();
        if leaves.len() < 2 {
            continue;
        }
        leaves.sort_unstable();
        let weights: Vec<u64> = leaves.iter().map(|l| l.0).collect();
        let by_symbol = |sorted: &[u8]| {
            let mut lens = [0u8; 256];
            for (&l, &(_, s)) in sorted.iter().zip(&leaves) {
                lens[s as usize] = l;
            }
            lens
        };
        let merged = by_symbol(&package_merge(&weights, 11).unwrap());
        assert_eq!(
            limited_code_lengths(&counts, 11),
            Some(merged),
            "round {round}"
        );
        let mut huffman = vec![0u8; weights.len()];
        huffman_lengths(&weights, &mut huffman);
        if huffman.iter().all(|&l| l <= 11) {
            assert_eq!(by_symbol(&huffman), merged, "round {round}");
            agreed += 1;
        } else {
            too_long += 1;
        }
    }
    // Both branches are exercised.
    assert!(agreed > 5_000 && too_long > 5_000, "{agreed} {too_long}");
}

/// Package-merge as the textbook states it, every item a (weight, leaves inside) pair and a
/// stable merge with leaves first on ties: `package_merge`'s two-ended merge over bit flags
/// must give the very same lengths, at every limit from the least the weights allow to 11
/// (most of them binding: shorter than Huffman's longest code).
#[test]
fn package_merge_matches_the_textbook() {
    fn textbook(weights: &[u64], max_bits: u32) -> Option<Vec<u8>> {
        let n = weights.len();
        let leaves: Vec<(u64, Vec<usize>)> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| (w, vec![i]))
            .collect();
        let mut list = leaves.clone();
        for _ in 1..max_bits {
            let packages: Vec<(u64, Vec<usize>)> = list
                .chunks_exact(2)
                .map(|p| (p[0].0 + p[1].0, [&p[0].1[..], &p[1].1[..]].concat()))
                .collect();
            let (mut a, mut b) = (leaves.iter().peekable(), packages.into_iter().peekable());
            let mut merged = Vec::new();
            loop {
                let take_leaf = match (a.peek(), b.peek()) {
                    (Some(l), Some(p)) => l.0 <= p.0,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break,
                };
                merged.push(if take_leaf {
                    a.next().unwrap().clone()
                } else {
                    b.next().unwrap()
                });
            }
            list = merged;
        }
        if list.len() < 2 * n - 2 {
            return None;
        }
        let mut lens = vec![0u8; n];
        for item in &list[..2 * n - 2] {
            for &i in &item.1 {
                lens[i] += 1;
            }
        }
        Some(lens)
    }
    let mut rng = XorShift(17);
    let (mut cases, mut binding) = (0, 0);
    for round in 0..400u32 {
        let n = 2 + (rng.next() % 255) as usize;
        let mut weights: Vec<u64> = (0..n)
            .map(|i| match round % 4 {
                0 => 1 + rng.next() % 1000,
                1 => (100_000 >> (i % 17)) + rng.next() % 3,
                2 => 1 + rng.next() % 4,
                _ => (1e6 / ((i + 1) as f64).powf(1.5)) as u64 + 1 + rng.next() % 2,
            })
            .collect();
        weights.sort_unstable();
        let mut huffman = vec![0u8; n];
        huffman_lengths(&weights, &mut huffman);
        let longest = u32::from(*huffman.iter().max().unwrap());
        for max_bits in n.next_power_of_two().trailing_zeros()..=11 {
            let want = textbook(&weights, max_bits);
            let got = package_merge(&weights, max_bits).map(|l| l[..n].to_vec());
            assert_eq!(got, want, "round {round}, {n} weights, limit {max_bits}");
            cases += 1;
            binding += (longest > max_bits) as usize;
        }
    }
    assert!(binding > cases / 2, "{binding} of {cases}");
}
