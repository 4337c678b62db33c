//! Entropy coders: round trips through the public API and interoperability with real zstd.
//!
//! The zstd checks wrap our huff0 output as the literals section of a zstd frame and let the
//! `zstd` CLI decode it, and the other way round extract zstd's Huffman-compressed literals and
//! decode them with ours. They are skipped (with a note) where no `zstd` binary is installed.

use std::io::Write;
use std::process::{Command, Stdio};
use zipnn_wasm::entropy::{fse, huff0, EntropyError};

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Bytes from a skewed distribution over `alphabet` values starting at `base`.
fn skewed(n: usize, alphabet: u64, base: u8, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    (0..n)
        .map(|_| {
            let a = rng.next() % alphabet;
            let b = rng.next() % alphabet;
            base.wrapping_add(a.min(b) as u8)
        })
        .collect()
}

/// Float-exponent-like bytes: 110..=130, peaked at 120.
fn exponents(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed | 1);
    (0..n)
        .map(|_| {
            let r = rng.next();
            // Two-sided geometric, ratio 0.55: ~2.75 bits/symbol like real bf16 exponents.
            let mut mag = 0u8;
            while mag < 10 && rng.next() % 100 < 55 {
                mag += 1;
            }
            if r >> 63 == 0 {
                120 + mag
            } else {
                120 - mag
            }
        })
        .collect()
}

#[test]
fn public_api_roundtrips() {
    let mut rng = XorShift(1);
    let random: Vec<u8> = (0..70_000).map(|_| rng.next() as u8).collect();
    let cases: Vec<Vec<u8>> = vec![
        exponents(16, 1),
        exponents(17, 2),
        exponents(32 << 10, 3),
        exponents(64 << 10, 4),
        exponents(128 << 10, 5),
        exponents(300 << 10, 6),
        skewed(50_000, 200, 0, 7),
        random,
    ];
    for src in &cases {
        let mut dst = vec![0u8; src.len()];
        let mut c = vec![];
        let n = huff0::compress_4x(src, &mut c).expect("huff0 4x");
        assert_eq!(n, c.len());
        huff0::decompress_4x(&c, &mut dst).unwrap();
        assert_eq!(&dst, src);

        // Reusable pieces: one table, the streams decoded separately.
        let table = huff0::EncodeTable::from_counts(&huff0::histogram(src)).unwrap();
        let mut c2 = vec![];
        let d = table.write_description(&mut c2).unwrap();
        table.encode_4x(src, &mut c2).unwrap();
        let (dt, used) = huff0::DecodeTable::read(&c2).unwrap();
        assert_eq!(used, d);
        dst.fill(0);
        dt.decode_4x(&c2[used..], &mut dst).unwrap();
        assert_eq!(&dst, src);
        let est = huff0::estimate_bits(&huff0::histogram(src)).unwrap();
        assert!(est.div_ceil(8) as usize <= c2.len() && c2.len() <= est.div_ceil(8) as usize + 8);

        let mut c3 = vec![];
        fse::compress(src, &mut c3).unwrap();
        dst.fill(0);
        fse::decompress(&c3, &mut dst).unwrap();
        assert_eq!(&dst, src);
    }
}

#[test]
fn fse_beats_huffman_on_exponents() {
    let src = exponents(128 << 10, 42);
    let mut h = vec![];
    let mut f = vec![];
    huff0::compress_4x(&src, &mut h).unwrap();
    fse::compress(&src, &mut f).unwrap();
    let bits = |c: &Vec<u8>| c.len() as f64 * 8.0 / src.len() as f64;
    eprintln!(
        "exponents: huff0 {:.4} bits/byte, fse {:.4} bits/byte",
        bits(&h),
        bits(&f)
    );
    assert!(f.len() < h.len());
}

#[test]
fn errors_are_errors() {
    let mut dst = [0u8; 100];
    assert_eq!(
        huff0::decompress_4x(&[], &mut dst),
        Err(EntropyError::Truncated)
    );
    assert!(fse::decompress(&[], &mut dst).is_err());
}

// ---------------------------------------------------------------------------------------------
// zstd interop

fn zstd_available() -> bool {
    let ok = Command::new("zstd")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("zstd CLI not found: interop checks skipped");
    }
    ok
}

fn run_zstd(args: &[&str], input: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("zstd")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    writer.join().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(out.stdout)
}

/// A one-block zstd frame whose block is just a Huffman-compressed literals section (our
/// payload) and zero sequences, so decoding the frame regenerates the literals.
fn frame_around_literals(payload: &[u8], regen: usize, four_streams: bool) -> Vec<u8> {
    assert!(regen <= 128 << 10);
    let mut f = vec![0x28, 0xB5, 0x2F, 0xFD];
    f.push(0xA0); // single segment, 4-byte frame content size, no checksum, no dictionary
    f.extend_from_slice(&(regen as u32).to_le_bytes());
    let (size_format, bits, hlen) = if !four_streams {
        assert!(regen < 1024 && payload.len() < 1024);
        (0u64, 10, 3)
    } else if regen < 1024 && payload.len() < 1024 {
        (1, 10, 3)
    } else if regen < 1 << 14 && payload.len() < 1 << 14 {
        (2, 14, 4)
    } else {
        (3, 18, 5)
    };
    let header = 2 | size_format << 2 | (regen as u64) << 4 | (payload.len() as u64) << (4 + bits);
    let mut block = header.to_le_bytes()[..hlen].to_vec();
    block.extend_from_slice(payload);
    block.push(0); // no sequences
    let bh = 1 | 2 << 1 | (block.len() as u32) << 3; // last block, compressed
    f.extend_from_slice(&bh.to_le_bytes()[..3]);
    f.extend_from_slice(&block);
    f
}

/// The Huffman-compressed literals of a zstd frame's first block: (payload, regenerated size,
/// four streams?). `None` if that block has no compressed literals.
fn literals_of_frame(frame: &[u8]) -> Option<(Vec<u8>, usize, bool)> {
    assert_eq!(&frame[..4], &[0x28, 0xB5, 0x2F, 0xFD]);
    let fhd = frame[4];
    let single = fhd & 0x20 != 0;
    let mut p = 5 + usize::from(!single);
    p += [0, 1, 2, 4][(fhd & 3) as usize];
    p += match fhd >> 6 {
        0 => usize::from(single),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let bh = u32::from_le_bytes([frame[p], frame[p + 1], frame[p + 2], 0]);
    p += 3;
    if (bh >> 1) & 3 != 2 {
        return None;
    }
    let block = &frame[p..p + (bh >> 3) as usize];
    if block[0] & 3 != 2 {
        return None;
    }
    let sf = (block[0] >> 2) & 3;
    let (bits, hlen) = match sf {
        0 | 1 => (10, 3),
        2 => (14, 4),
        _ => (18, 5),
    };
    let mut h = [0u8; 8];
    h[..hlen].copy_from_slice(&block[..hlen]);
    let v = u64::from_le_bytes(h);
    let mask = (1u64 << bits) - 1;
    let regen = ((v >> 4) & mask) as usize;
    let comp = ((v >> (4 + bits)) & mask) as usize;
    Some((block[hlen..hlen + comp].to_vec(), regen, sf != 0))
}

#[test]
fn zstd_decodes_our_huff0() {
    if !zstd_available() {
        return;
    }
    let mut cases = vec![];
    for (i, n) in [16usize, 17, 100, 255, 1000, 5000, 40_000, 128 << 10]
        .into_iter()
        .enumerate()
    {
        cases.push(exponents(n, i as u64 + 1));
        cases.push(skewed(n, 250, 3, i as u64 + 100)); // > 128 weights: FSE description
        cases.push(skewed(n, 40, 60, i as u64 + 200));
    }
    let mut rng = XorShift(77);
    cases.push((0..100_000).map(|_| rng.next() as u8).collect());
    cases.push((0..=255u8).cycle().take(4096).collect());
    // 192 symbols of 8 bits before a last one of 2: equal weights the encoder skews.
    let mut equal: Vec<u8> = (0..192u8).cycle().take(19_200).collect();
    equal.extend([192u8; 9600]);
    for i in (1..equal.len()).rev() {
        equal.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    cases.push(equal);
    let mut checked = 0;
    for src in &cases {
        let mut c = vec![];
        if huff0::compress_4x(src, &mut c).is_some() {
            let frame = frame_around_literals(&c, src.len(), true);
            let out = run_zstd(&["-d", "-q", "-c"], &frame)
                .unwrap_or_else(|e| panic!("zstd rejected 4x n={}: {e}", src.len()));
            assert_eq!(&out, src, "4x n={}", src.len());
            checked += 1;
        }
        let mut c = vec![];
        if src.len() < 1024 && huff0::compress_1x(src, &mut c).is_some() && c.len() < 1024 {
            let frame = frame_around_literals(&c, src.len(), false);
            let out = run_zstd(&["-d", "-q", "-c"], &frame)
                .unwrap_or_else(|e| panic!("zstd rejected 1x n={}: {e}", src.len()));
            assert_eq!(&out, src, "1x n={}", src.len());
            checked += 1;
        }
    }
    assert!(checked >= 30);
}

#[test]
fn we_decode_zstd_huff0() {
    if !zstd_available() {
        return;
    }
    let mut full = 0;
    let mut seen_fse = false;
    let mut seen_direct = false;
    for (i, n) in [300usize, 2000, 10_000, 60_000, 120_000]
        .into_iter()
        .enumerate()
    {
        for (alphabet, base) in [(64u64, 32u8), (250, 2), (100, 20), (12, 0)] {
            for level in ["-1", "-19"] {
                let src = skewed(n, alphabet, base, (i as u64) << 8 | alphabet);
                let frame =
                    run_zstd(&[level, "-q", "-c", "--zstd=mml=7", "--no-check"], &src).unwrap();
                let Some((payload, regen, four)) = literals_of_frame(&frame) else {
                    continue;
                };
                if payload[0] < 128 {
                    seen_fse = true;
                } else {
                    seen_direct = true;
                }
                let mut dst = vec![0u8; regen];
                if four {
                    huff0::decompress_4x(&payload, &mut dst).unwrap();
                    let (t, used) = huff0::DecodeTable::read(&payload).unwrap();
                    let mut d2 = vec![0u8; regen];
                    t.decode_4x_reference(&payload[used..], &mut d2).unwrap();
                    assert_eq!(d2, dst);
                } else {
                    huff0::decompress_1x(&payload, &mut dst).unwrap();
                }
                if regen == src.len() {
                    // No matches: the literals are the whole input.
                    assert_eq!(dst, src);
                    full += 1;
                }
            }
        }
    }
    assert!(full >= 5, "only {full} frames were literal-only");
    assert!(seen_fse && seen_direct);
}

/// Known answer from real zstd 1.5.4, no CLI needed: the literals section of a real frame
/// (FSE-compressed weights, four streams) must regenerate the input exactly; then our encoder's
/// output for the same input must decode too.
#[test]
fn known_answer_zstd_payload() {
    let mut dst = vec![0u8; ZSTD_KA_INPUT.len()];
    huff0::decompress_4x(&ZSTD_KA_PAYLOAD, &mut dst).unwrap();
    assert_eq!(&dst[..], &ZSTD_KA_INPUT[..]);
    assert!(
        ZSTD_KA_PAYLOAD[0] < 128,
        "fixture uses FSE-compressed weights"
    );
    // Every truncation fails; no single bit flip panics.
    for cut in 0..ZSTD_KA_PAYLOAD.len() {
        assert!(huff0::decompress_4x(&ZSTD_KA_PAYLOAD[..cut], &mut dst).is_err());
    }
    for bit in 0..ZSTD_KA_PAYLOAD.len() * 8 {
        let mut m = ZSTD_KA_PAYLOAD;
        m[bit / 8] ^= 1 << (bit % 8);
        let _ = huff0::decompress_4x(&m, &mut dst);
    }
    let mut ours = vec![];
    huff0::compress_4x(ZSTD_KA_INPUT, &mut ours).unwrap();
    dst.fill(0);
    huff0::decompress_4x(&ours, &mut dst).unwrap();
    assert_eq!(&dst[..], &ZSTD_KA_INPUT[..]);
    eprintln!(
        "400 letters: zstd huff0 {} bytes, ours {} bytes",
        ZSTD_KA_PAYLOAD.len(),
        ours.len()
    );
}

/// Literals section payload written by zstd 1.5.4 (`zstd -19 --zstd=mml=7` on `ZSTD_KA_INPUT`):
/// FSE-compressed weights (header byte 20), jump table, four streams.
const ZSTD_KA_PAYLOAD: [u8; 239] = [
    0x14, 0xa0, 0xa9, 0x0d, 0xed, 0xff, 0x94, 0x22, 0x5d, 0xf9, 0xe5, 0xdb, 0x6e, 0xeb, 0x24, 0x64,
    0x55, 0x55, 0x55, 0x35, 0x71, 0x35, 0x00, 0x34, 0x00, 0x36, 0x00, 0x07, 0xd7, 0xe7, 0x6e, 0xd8,
    0xbb, 0xf5, 0x1a, 0xee, 0xb5, 0x74, 0x02, 0x2f, 0xd5, 0x46, 0x32, 0x4c, 0x27, 0x69, 0x6c, 0xce,
    0x6f, 0xbd, 0x58, 0x6e, 0x62, 0xef, 0x7b, 0x4a, 0xa9, 0x53, 0xd8, 0x16, 0x3a, 0x06, 0xfd, 0xa4,
    0x08, 0x46, 0xc8, 0x90, 0xce, 0xa3, 0x2f, 0x22, 0x26, 0x72, 0x7f, 0xf8, 0xdf, 0x31, 0x0b, 0x63,
    0x8a, 0x1a, 0x9f, 0x6e, 0x9f, 0x16, 0x75, 0xd7, 0x41, 0x21, 0x79, 0xbf, 0x9d, 0x79, 0xd6, 0xc6,
    0x2a, 0x7c, 0xa7, 0x74, 0x80, 0x8e, 0x3c, 0xfe, 0x0c, 0xa8, 0x25, 0xe9, 0x32, 0x50, 0x19, 0x68,
    0xc8, 0x86, 0xd6, 0xdb, 0xc4, 0x3a, 0x6a, 0x5b, 0xc9, 0xfc, 0x77, 0xc3, 0x69, 0x58, 0x6b, 0xc7,
    0x34, 0x53, 0x48, 0x04, 0x95, 0xf7, 0x4c, 0xe7, 0xbc, 0x75, 0x5c, 0x57, 0x68, 0xbd, 0x1d, 0x82,
    0xd1, 0xea, 0xd1, 0x43, 0x04, 0xfd, 0xb2, 0x8c, 0x86, 0x78, 0x1c, 0xf6, 0xa1, 0xe8, 0xa9, 0x61,
    0x2d, 0x55, 0xde, 0x94, 0xee, 0x00, 0x5d, 0x81, 0x3d, 0x92, 0xa6, 0xa9, 0x3b, 0xaa, 0xb2, 0xe1,
    0x4a, 0xe1, 0x26, 0xec, 0xfb, 0x49, 0x1b, 0xd6, 0x93, 0x01, 0x4e, 0x82, 0xfa, 0x57, 0xcd, 0xa5,
    0x68, 0x67, 0x22, 0xc4, 0xe9, 0xa5, 0xd5, 0x4f, 0xc8, 0xcc, 0x77, 0x32, 0x57, 0x18, 0x5b, 0x48,
    0x21, 0x1b, 0x3f, 0xc7, 0x19, 0xa6, 0x63, 0x1a, 0x57, 0x4e, 0x4d, 0x3c, 0xec, 0x3e, 0xba, 0x42,
    0x8a, 0x46, 0xcc, 0x2a, 0x90, 0xe1, 0x0f, 0x43, 0x74, 0xb7, 0xb9, 0x83, 0x14, 0x0d, 0x1f,
];
const ZSTD_KA_INPUT: &[u8; 400] = b"\
    iemoithttihtsokeqistltoeojqlegwuteiyhlasdmcawacsthsketxmtastoedezvcuidunerohiktu\
    dsetjatasseenthcesickiayeoitdsaidoenthttyoasdrcaioshreideldinalnaeovdrbehtitoplf\
    eouetemaieescooeetthoqafessrisutshutierwocreneoctheeketgoaeneaalthazzvpsbrtlfetu\
    useaaxaidrhrwpeeppiidieaohtlqihrcrslegpdtreiahaecasehcuothoatidirlchzssrqdptidlm\
    aoiieirlahltetdpioroeahnoituidhpctnelaqasnmhyoeteddlutereohrhkqooeeiraedrsttafve\
";
