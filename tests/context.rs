//! Context-modelled block modes (6: exponents given earlier exponents, 7: top mantissa bits
//! given the exponent): round trips through the coder and the container, edge cases, and
//! corrupt input giving typed errors.

mod common;

use common::*;
use zipnn_wasm::entropy::{block, context, EntropyError};
use zipnn_wasm::format::znw::{self, chunk, DTypeChoice, Options};
use zipnn_wasm::{DType, Error, Limits};

/// Exponent and sign+mantissa groups of bf16 weights whose scale changes per row of `row`
/// elements (like embedding rows), so that the history context has something to find.
fn groups(n: usize, row: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng(seed);
    let mut e = Vec::with_capacity(n);
    let mut m = Vec::with_capacity(n);
    let mut sigma = 0.02f32;
    for i in 0..n {
        if i % row == 0 {
            sigma = 0.002 * (1 + rng.below(30)) as f32;
        }
        let col_scale = if (i % row).is_multiple_of(7) {
            4.0
        } else {
            1.0
        };
        let b = (rng.gauss(sigma) * col_scale).to_bits();
        let h = (b >> 16) as u16;
        m.push((h & 0x7F) as u8 | ((h >> 8) as u8 & 0x80));
        e.push((h >> 7) as u8);
    }
    (e, m)
}

fn history_roundtrip(src: &[u8], stride: usize) -> Option<usize> {
    let mut out = vec![0xEE]; // existing content is kept
    let len = context::encode_history(src, stride, &mut out)?;
    assert_eq!(out.len(), 1 + len);
    let mut back = vec![0x55; src.len()];
    context::decode_history(&out[1..], &mut back).unwrap();
    assert_eq!(back, src);
    Some(len)
}

fn given_roundtrip(src: &[u8], companion: &[u8]) -> Option<usize> {
    let mut out = Vec::new();
    let len = context::encode_given(src, companion, &mut out)?;
    assert_eq!(out.len(), len);
    let mut back = vec![0x55; src.len()];
    context::decode_given(&out, companion, &mut back).unwrap();
    assert_eq!(back, src);
    Some(len)
}

#[test]
fn history_mode_roundtrips_and_beats_order0() {
    let (e, _) = groups(200_000, 384, 1);
    let mut order0 = Vec::new();
    block::encode(&e, &mut order0, true);
    let plain = history_roundtrip(&e, 0).unwrap();
    let strided = history_roundtrip(&e, 384).unwrap();
    // Row scales are what the window context sees; columns what the stride adds.
    assert!(plain + 5 < order0.len(), "{plain} vs {}", order0.len());
    assert!(strided <= plain, "{strided} vs {plain}");
}

#[test]
fn given_mode_roundtrips_and_beats_order0() {
    let (e, m) = groups(150_001, 384, 2);
    let mut order0 = Vec::new();
    block::encode(&m, &mut order0, true);
    let given = given_roundtrip(&m, &e).unwrap();
    assert!(given < order0.len(), "{given} vs {}", order0.len());
}

#[test]
fn edge_cases_roundtrip() {
    // All zero, one value, two values, odd lengths around the four-stream split, a stride
    // longer than a segment, the smallest input accepted.
    let n = context::MIN_INPUT;
    let cases: Vec<Vec<u8>> = vec![
        vec![0; n],
        vec![127; n + 1],
        (0..n + 2).map(|i| 120 + (i % 2) as u8).collect(),
        (0..n + 3).map(|i| (i * 7 % 256) as u8).collect(),
        (0..5003).map(|i| 100 + (i % 40) as u8).collect(),
        (0..4099)
            .map(|i| if i % 97 == 0 { 255 } else { 0 })
            .collect(),
    ];
    for c in &cases {
        for stride in [0, 1, 3, 100, c.len() / 30, c.len()] {
            history_roundtrip(c, stride);
        }
        let companion: Vec<u8> = c.iter().map(|&b| b.wrapping_mul(3)).collect();
        given_roundtrip(c, &companion);
        given_roundtrip(c, &vec![0; c.len()]);
    }
    // Companion values 0 and 255 both with mantissas of their own (the map's span limit).
    let companion: Vec<u8> = (0..6000).map(|i| [0u8, 255, 120][i % 3]).collect();
    let skew: Vec<u8> = (0..6000)
        .map(|i| match i % 3 {
            0 => (i % 5) as u8,
            1 => 0x70 | (i % 3) as u8,
            _ => (i * 37 % 256) as u8,
        })
        .collect();
    given_roundtrip(&skew, &companion).unwrap();
    // Below the minimum the encoders decline (the chunk then keeps its order-0 block).
    let mut out = Vec::new();
    assert_eq!(context::encode_history(&[1; 1023], 0, &mut out), None);
    assert_eq!(
        context::encode_given(&[1; 1023], &[1; 1023], &mut out),
        None
    );
    assert_eq!(
        context::encode_given(&[1; 2000], &[1; 1999], &mut out),
        None
    );
    assert!(out.is_empty());
}

/// Mode bytes of every block of every chunk in a `.znw` file.
fn modes(packed: &[u8]) -> Vec<u8> {
    let (_, chunks) = znw::index(packed, &Limits::default()).unwrap();
    chunks
        .iter()
        .flat_map(|c| {
            let body = c.body(packed);
            chunk::block_modes(&c.head, body).into_iter().map(|m| m.0)
        })
        .collect()
}

fn best() -> Options {
    Options {
        dtype: DTypeChoice::Auto,
        tans: true,
        ..Options::default()
    }
}

#[test]
fn container_uses_context_modes_for_floats() {
    let mut rng = Rng(5);
    let bf16 = bf16_weights(&mut rng, 300_000);
    let f32s = f32_weights(&mut rng, 100_000);
    let (e, m) = groups(262_144, 512, 7);
    let scaled: Vec<u8> = e
        .iter()
        .zip(&m)
        .flat_map(|(&e, &m)| {
            let hi = (m & 0x80) | (e >> 1);
            let lo = (e & 1) << 7 | (m & 0x7F);
            [lo, hi]
        })
        .collect();
    let file = safetensors(&[
        ("a", "BF16", vec![600, 500], bf16),
        ("b", "F32", vec![100, 1000], f32s),
        ("rows", "BF16", vec![512, 512], scaled),
        ("tiny", "BF16", vec![3], vec![1, 2, 3, 4, 5, 6]),
    ]);
    let packed = znw::compress(&file, &best()).unwrap();
    let used = modes(&packed);
    assert!(used.contains(&context::HISTORY), "{used:?}");
    assert!(used.contains(&context::GIVEN), "{used:?}");
    assert_eq!(
        zipnn_wasm::decompress(&packed, &Limits::default()).unwrap(),
        file
    );
    // Default options never use them (order-0 decode speed).
    let fast = znw::compress(
        &file,
        &Options {
            tans: false,
            ..best()
        },
    )
    .unwrap();
    assert!(!modes(&fast).iter().any(|&m| m >= context::HISTORY));
    assert!(packed.len() < fast.len());
    let report = znw::inspect(&packed).unwrap();
    assert!(report.modes.iter().any(|m| m.mode == context::GIVEN));
}

#[test]
fn odd_and_special_float_data_roundtrips_with_context_modes() {
    let mut rng = Rng(9);
    let mut data = Vec::new();
    for _ in 0..300 {
        data.extend_from_slice(&special_16());
    }
    data.extend_from_slice(&bf16_weights(&mut rng, 20_001));
    for dtype in [DType::BF16, DType::F16, DType::F32] {
        let whole = data.len() / 4 * 4;
        for chunk_size in [2048u32, 4096 + 4, 65536] {
            let opts = Options {
                dtype: DTypeChoice::Fixed(dtype),
                chunk_size,
                tans: true,
                verify: true,
                ..Options::default()
            };
            let packed = znw::compress(&data[..whole], &opts).unwrap();
            assert_eq!(
                zipnn_wasm::decompress(&packed, &Limits::default()).unwrap(),
                &data[..whole],
                "{dtype} {chunk_size}"
            );
        }
    }
}

#[test]
fn corrupt_context_payloads_give_typed_errors() {
    let (e, m) = groups(20_000, 256, 11);
    let mut hist = Vec::new();
    context::encode_history(&e, 256, &mut hist).unwrap();
    let mut given = Vec::new();
    context::encode_given(&m, &e, &mut given).unwrap();
    let mut back = vec![0u8; e.len()];
    // Every truncation fails (never panics); so does every single-byte change of the
    // context description and table headers, or it decodes to something (caught by the chunk
    // checksum).
    for cut in (0..hist.len()).step_by(97) {
        assert!(context::decode_history(&hist[..cut], &mut back).is_err());
    }
    for cut in (0..given.len()).step_by(97) {
        assert!(context::decode_given(&given[..cut], &e, &mut back).is_err());
    }
    for at in 0..64.min(hist.len()) {
        for x in [1u8, 0x80, 0xFF] {
            let mut bad = hist.clone();
            bad[at] ^= x;
            let _ = context::decode_history(&bad, &mut back);
            let mut bad = given.clone();
            bad[at] ^= x;
            let _ = context::decode_given(&bad, &e, &mut back);
        }
    }
    // Specific malformed descriptions.
    let mut bad = hist.clone();
    bad[0] = 9; // window log above 8
    assert!(matches!(
        context::decode_history(&bad, &mut back),
        Err(EntropyError::Corrupt(_))
    ));
    let mut bad = given.clone();
    bad[0] = 7; // no coded bits left
    assert!(matches!(
        context::decode_given(&bad, &e, &mut back),
        Err(EntropyError::Corrupt(_))
    ));
    assert!(matches!(
        context::decode_given(&given, &e[1..], &mut back),
        Err(EntropyError::Corrupt(_))
    ));
    // Mode 7 needs its chunk's exponents: on its own it is corrupt, not unknown.
    let mut block7 = vec![context::GIVEN];
    block7.extend_from_slice(&(given.len() as u32).to_le_bytes());
    block7.extend_from_slice(&given);
    assert!(matches!(
        block::decode(&block7, &mut back),
        Err(EntropyError::Corrupt(_))
    ));
}

/// The body checksum FORMAT.md §3 gives a chunk body: low 32 bits of XXH3-64.
fn sum(b: &[u8]) -> u32 {
    (xxhash_rust::xxh3::xxh3_64(b) & 0xFFFF_FFFF) as u32
}

/// Past the body checksum (recomputed), a changed byte of chunk `c` (body `body`) anywhere
/// must give a typed error or be caught by the decoded-bytes checksum: never a panic, never
/// wrong bytes. `Unsupported` only where a block's mode byte sits (a newer mode).
fn assert_flips_caught(c: &znw::ChunkInfo, body: &[u8]) {
    let head = c.head;
    let mode_at: Vec<usize> = chunk::block_modes(&head, body)
        .iter()
        .scan(0, |pos, &(_, len)| {
            let at = *pos;
            *pos += len;
            Some(at)
        })
        .collect();
    let mut dst = vec![0u8; head.raw_len as usize];
    let mut scratch = Vec::new();
    for at in (0..body.len()).step_by(body.len() / 300 + 1) {
        let mut bad = body.to_vec();
        bad[at] ^= 0x5A;
        let mut h = head;
        h.body_checksum = sum(&bad);
        match chunk::decode(&h, &bad, c.offset, &mut dst, &mut scratch) {
            Err(Error::Corrupt(_) | Error::Checksum { .. } | Error::Truncated) => {}
            Err(Error::Unsupported(_)) if mode_at.contains(&at) => {}
            Err(other) => panic!("byte {at}: unexpected {other:?}"),
            Ok(()) => panic!("byte {at}: changed body decoded"),
        }
    }
}

#[test]
fn corrupt_context_chunks_give_typed_errors() {
    let (e, m) = groups(40_000, 200, 13);
    let data: Vec<u8> = e
        .iter()
        .zip(&m)
        .flat_map(|(&e, &m)| [(e & 1) << 7 | (m & 0x7F), (m & 0x80) | (e >> 1)])
        .collect();
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        chunk_size: 32768,
        tans: true,
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    let used = modes(&packed);
    assert!(used.contains(&context::GIVEN) && used.contains(&context::HISTORY));
    let (_, chunks) = znw::index(&packed, &Limits::default()).unwrap();
    let c = &chunks[1];
    let head = c.head;
    let body = c.body(&packed);
    let mut dst = vec![0u8; head.raw_len as usize];
    let mut scratch = Vec::new();
    chunk::decode(&head, body, c.offset, &mut dst, &mut scratch).unwrap();
    assert_flips_caught(c, body);
    // A mode-7 block moved to the exponent group is rejected as corrupt.
    let blocks = chunk::block_modes(&head, body);
    assert_eq!(blocks[0].0, context::GIVEN);
    let (g0, g1) = body.split_at(blocks[0].1);
    let mut swapped = g1.to_vec();
    swapped.extend_from_slice(g0);
    let mut h = head;
    h.body_checksum = sum(&swapped);
    assert!(matches!(
        chunk::decode(&h, &swapped, c.offset, &mut dst, &mut scratch),
        Err(Error::Corrupt(_))
    ));
}

#[test]
fn raw_floats_after_a_few_bytes_are_found_and_roundtrip() {
    let mut rng = Rng(17);
    for skip in [0usize, 1, 2, 3] {
        let mut data = vec![0x80u8; skip];
        data.extend_from_slice(&f32_weights(&mut rng, 200_000));
        let header = znw::describe(&data, DTypeChoice::Auto, znw::DEFAULT_CHUNK);
        let float = header.segments.last().unwrap();
        assert_eq!(
            (float.dtype, float.offset),
            (DType::F32, skip as u64),
            "{skip}"
        );
        let packed = znw::compress(&data, &best()).unwrap();
        assert_eq!(
            zipnn_wasm::decompress(&packed, &Limits::default()).unwrap(),
            data
        );
        assert!(
            packed.len() < data.len() * 87 / 100,
            "{skip}: {}",
            packed.len()
        );
    }
}

/// Exponent-like bytes whose level is set by the column (`i % stride`), plus noise, so that
/// the encoder picks the column context; lengths that are not multiples of 4, 8 or the
/// stride, so that the decoder's row runs end at every kind of boundary.
#[test]
fn column_context_roundtrips_at_row_run_boundaries() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut used_column = 0;
    for (stride, n) in [
        (4usize, 40_003usize),
        (5, 20_001),
        (7, 30_002),
        (64, 100_001),
        (383, 160_007),
        (1000, 200_000),
    ] {
        // A random level per column: a level set by a formula in the column (such as
        // `c * 37 % 23`) follows from the previous byte's, and the previous-byte context wins.
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let levels: Vec<u8> = (0..stride).map(|_| 100 + (next() % 23) as u8).collect();
        let src: Vec<u8> = (0..n)
            .map(|i| levels[i % stride] + (next() % 4) as u8)
            .collect();
        let mut out = Vec::new();
        context::encode_history(&src, stride, &mut out).unwrap();
        let nt = out[2] as usize;
        let at = 3 + 2 * nt;
        let s = u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) as usize;
        if s > 0 {
            assert_eq!(s, stride);
            used_column += 1;
        }
        history_roundtrip(&src, stride).unwrap();
    }
    // (Strides 4 and 5 repeat within the window, which then wins; 7, 64 and 383 use columns.)
    assert!(used_column >= 3, "column context used {used_column} times");
}

/// The float16 last group (5-bit exponent, top 3 mantissa bits) of `f16_rows`.
fn f16_high_group(data: &[u8]) -> Vec<u8> {
    data.chunks_exact(2)
        .map(|p| p[1] << 1 | p[0] >> 7)
        .collect()
}

fn split_roundtrip(src: &[u8], stride: usize) -> Option<usize> {
    let mut out = vec![0xEE];
    let len = context::encode_split(src, 3, stride, &mut out)?;
    assert_eq!(out.len(), 1 + len);
    let mut back = vec![0x55; src.len()];
    context::decode_split(&out[1..], &mut back).unwrap();
    assert_eq!(back, src);
    // And as a block.
    let mut block = vec![context::SPLIT];
    block.extend_from_slice(&(len as u32).to_le_bytes());
    block.extend_from_slice(&out[1..]);
    back.fill(0);
    assert_eq!(block::decode(&block, &mut back), Ok(block.len()));
    assert_eq!(back, src);
    Some(len)
}

#[test]
fn split_mode_roundtrips_and_beats_whole_byte_history() {
    let g = f16_high_group(&f16_rows(300_000, 384, 21));
    let split = split_roundtrip(&g, 0).unwrap();
    split_roundtrip(&g, 384).unwrap();
    let mut order0 = Vec::new();
    block::encode(&g, &mut order0, true);
    let mut hist = Vec::new();
    context::encode_history(&g, 0, &mut hist).unwrap();
    assert!(split < hist.len(), "{split} vs history {}", hist.len());
    assert!(split < order0.len(), "{split} vs order 0 {}", order0.len());
    // Edge cases: odd lengths, one value, all 8 low-bit splits of random bytes.
    for n in [1024, 1027, 4097] {
        split_roundtrip(&g[..n], 0).unwrap();
    }
    split_roundtrip(&[0x41; 5000], 0).unwrap();
    let noise = Rng(3).bytes(20_000);
    for low in 1..=7 {
        let mut out = Vec::new();
        let len = context::encode_split(&noise, low, 100, &mut out).unwrap();
        let mut back = vec![0; noise.len()];
        context::decode_split(&out[..len], &mut back).unwrap();
        assert_eq!(back, noise, "low {low}");
    }
    let mut out = Vec::new();
    assert_eq!(context::encode_split(&noise, 0, 0, &mut out), None);
    assert_eq!(context::encode_split(&noise, 8, 0, &mut out), None);
    assert_eq!(context::encode_split(&noise[..1023], 3, 0, &mut out), None);
}

#[test]
fn corrupt_split_payloads_give_typed_errors() {
    let g = f16_high_group(&f16_rows(20_000, 256, 23));
    let mut enc = Vec::new();
    context::encode_split(&g, 3, 256, &mut enc).unwrap();
    let mut back = vec![0u8; g.len()];
    // Every truncation fails or, rarely (a cut stream that happens to end at state 0),
    // decodes to other bytes, which the chunk checksum catches; never a panic.
    let mut decoded = 0;
    for cut in 0..enc.len() {
        if context::decode_split(&enc[..cut], &mut back).is_ok() {
            assert!(back != g, "cut {cut} decoded to the original");
            decoded += 1;
        }
    }
    assert!(decoded * 100 < enc.len(), "{decoded} cuts decoded");
    for at in 0..enc.len() {
        for x in [1u8, 0x80, 0xFF] {
            let mut bad = enc.clone();
            bad[at] ^= x;
            let _ = context::decode_split(&bad, &mut back);
        }
    }
    for low in [0u8, 8, 255] {
        let mut bad = enc.clone();
        bad[0] = low;
        assert!(matches!(
            context::decode_split(&bad, &mut back),
            Err(EntropyError::Corrupt(_))
        ));
    }
    // A high part wider than 8 - low bits: history-code full bytes and claim 3 low bits.
    let mut wide = vec![3u8, 0, 0, 0, 0];
    let hlen = context::encode_history(&g, 0, &mut wide).unwrap();
    wide[1..5].copy_from_slice(&(hlen as u32).to_le_bytes());
    wide.extend_from_slice(
        &enc[5 + u32::from_le_bytes([enc[1], enc[2], enc[3], enc[4]]) as usize..],
    );
    assert!(matches!(
        context::decode_split(&wide, &mut back),
        Err(EntropyError::Corrupt(_))
    ));
    // A high-part length past the payload.
    let mut bad = enc.clone();
    bad[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        context::decode_split(&bad, &mut back),
        Err(EntropyError::Truncated)
    );
}

#[test]
fn float16_chunks_use_the_split_mode_and_raw_float16_is_recognised() {
    let data = f16_rows(400_000, 384, 25);
    let file = safetensors(&[(
        "w",
        "F16",
        vec![400_000 / 384, 384],
        data[..400_000 / 384 * 384 * 2].to_vec(),
    )]);
    let packed = znw::compress(&file, &best()).unwrap();
    assert!(modes(&packed).contains(&context::SPLIT));
    assert_eq!(
        zipnn_wasm::decompress(&packed, &Limits::default()).unwrap(),
        file
    );
    // The same weights as a raw stream: `--dtype auto` picks float16 (not bfloat16, whose
    // groups are the same bytes, nor float32) and so the split mode.
    let raw = znw::compress(&data, &best()).unwrap();
    let (header, _) = znw::index(&raw, &Limits::default()).unwrap();
    assert!(
        header.segments.iter().any(|s| s.dtype == DType::F16),
        "{:?}",
        header.segments
    );
    assert!(modes(&raw).contains(&context::SPLIT));
    assert_eq!(
        zipnn_wasm::decompress(&raw, &Limits::default()).unwrap(),
        data
    );
    let report = znw::inspect(&raw).unwrap();
    assert!(report.modes.iter().any(|m| m.mode == context::SPLIT));
}

#[test]
fn corrupt_split_chunks_give_typed_errors() {
    let data = f16_rows(60_000, 300, 27);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::F16),
        chunk_size: 65536,
        tans: true,
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    let (_, chunks) = znw::index(&packed, &Limits::default()).unwrap();
    let c = &chunks[0];
    let head = c.head;
    let body = c.body(&packed);
    assert!(chunk::block_modes(&head, body)
        .iter()
        .any(|m| m.0 == context::SPLIT));
    assert_flips_caught(c, body);
}

fn given_signs_roundtrip(src: &[u8], companion: &[u8], stride: usize) -> Option<usize> {
    let mut out = vec![0xEE]; // existing content is kept
    let len = context::encode_given_signs(src, companion, stride, &mut out)?;
    assert_eq!(out.len(), 1 + len);
    let mut back = vec![0x55; src.len()];
    context::decode_given_signs(&out[1..], companion, &mut back).unwrap();
    assert_eq!(back, src);
    Some(len)
}

#[test]
fn given_signs_mode_roundtrips_and_beats_a_sign_plane() {
    let cols = 384;
    let data = leaning_f16_rows(600, cols, 31);
    let (low, high): (Vec<u8>, Vec<u8>) = {
        let mut g = Vec::new();
        zipnn_wasm::dtype::split(DType::F16, &data, &mut g);
        let n = data.len() / 2;
        (g[..n].to_vec(), g[n..].to_vec())
    };
    let plane = given_roundtrip(&low, &high).unwrap();
    let coded = given_signs_roundtrip(&low, &high, cols).unwrap();
    // The 8 signs above tell a column's lean (ideally ~0.1 bit of the plane's 1 bit here).
    assert!(coded + 1000 < plane, "{coded} vs plane {plane}");
    // Strides that do not divide the length, odd lengths, no rows to look at.
    for (n, stride) in [(40_001, 383), (12_345, 7), (50_000, 1)] {
        given_signs_roundtrip(&low[..n], &high[..n], stride).unwrap();
    }
    // Without rows, or with too few for the column context, only the previous sign is used.
    for (n, stride) in [(100_000, 0), (10_000, 300)] {
        let mut out = Vec::new();
        given_signs_roundtrip(&low[..n], &high[..n], stride).unwrap();
        context::encode_given_signs(&low[..n], &high[..n], stride, &mut out).unwrap();
        let (nw, at) = (out[6] as usize, 7 + 2 * out[6] as usize);
        assert_eq!((nw, &out[at..at + 4]), (1, &[0u8; 4][..]), "{n} {stride}");
    }
    let mut out = Vec::new();
    assert_eq!(
        context::encode_given_signs(&low[..1000], &high[..1000], 1, &mut out),
        None
    );
}

/// Signs that follow the previous sign (neighbouring taps of conv kernels) are coded with
/// the window context, rows or not.
#[test]
fn given_signs_mode_uses_the_previous_sign() {
    let data = f16_rows(100_000, 9, 39);
    let mut g = Vec::new();
    zipnn_wasm::dtype::split(DType::F16, &data, &mut g);
    let (low, high) = g.split_at(data.len() / 2);
    let mut low = low.to_vec();
    let mut rng = Rng(41);
    for i in 1..low.len() {
        let sign = if rng.below(100) < 80 {
            low[i - 1] & 0x80
        } else {
            low[i] & 0x80
        };
        low[i] = low[i] & 0x7F | sign;
    }
    let plane = given_roundtrip(&low, high).unwrap();
    let coded = given_signs_roundtrip(&low, high, 0).unwrap();
    assert!(coded + 3000 < plane, "{coded} vs plane {plane}");
}

#[test]
fn given_signs_chunks_roundtrip_and_corrupt_ones_give_typed_errors() {
    let (rows, cols) = (1200, 384);
    let data = leaning_f16_rows(rows, cols, 33);
    let file = safetensors(&[("emb", "F16", vec![rows as u64, cols as u64], data.clone())]);
    let opts = Options {
        chunk_size: 262_144,
        ..best()
    };
    let packed = znw::compress(&file, &opts).unwrap();
    assert!(modes(&packed).contains(&context::GIVEN_SIGNS));
    assert_eq!(
        zipnn_wasm::decompress(&packed, &Limits::default()).unwrap(),
        file
    );
    let report = znw::inspect(&packed).unwrap();
    assert!(report.modes.iter().any(|m| m.mode == context::GIVEN_SIGNS));
    // Without the rows (a raw stream) the column context cannot be used.
    let raw = znw::compress(&data, &opts).unwrap();
    assert!(
        packed.len() < raw.len(),
        "{} vs {}",
        packed.len(),
        raw.len()
    );

    let (_, chunks) = znw::index(&packed, &Limits::default()).unwrap();
    let c = chunks
        .iter()
        .find(|c| {
            let body = c.body(&packed);
            chunk::block_modes(&c.head, body)
                .iter()
                .any(|m| m.0 == context::GIVEN_SIGNS)
        })
        .unwrap();
    let body = c.body(&packed);
    assert_flips_caught(c, body);
    // Outside a float chunk (no exponents to go by) the block is corrupt.
    let blocks = chunk::block_modes(&c.head, body);
    let block9 = &body[..blocks[0].1];
    assert_eq!(block9[0], context::GIVEN_SIGNS);
    let mut back = vec![0u8; c.head.raw_len as usize / 2];
    assert!(matches!(
        block::decode(block9, &mut back),
        Err(EntropyError::Corrupt(_))
    ));
}

#[test]
fn corrupt_given_signs_payloads_give_typed_errors() {
    let data = leaning_f16_rows(200, 256, 35);
    let mut g = Vec::new();
    zipnn_wasm::dtype::split(DType::F16, &data, &mut g);
    let n = data.len() / 2;
    let (low, high) = g.split_at(n);
    let mut out = Vec::new();
    let len = context::encode_given_signs(low, high, 256, &mut out).unwrap();
    let mut back = vec![0u8; n];
    for cut in (0..len).step_by(7) {
        assert!(context::decode_given_signs(&out[..cut], high, &mut back).is_err());
    }
    // A sign payload that decodes to values other than 0 and 1.
    let mut wide = vec![0u8; n];
    wide[n / 2] = 2;
    let mut hist = Vec::new();
    context::encode_history(&wide, 0, &mut hist).unwrap();
    let mut bad = (hist.len() as u32).to_le_bytes().to_vec();
    bad.extend_from_slice(&hist);
    let slen = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
    bad.extend_from_slice(&out[4 + slen..]);
    assert_eq!(
        context::decode_given_signs(&bad, high, &mut back),
        Err(EntropyError::Corrupt("sign wider than one bit"))
    );
    // A sign length past the payload.
    let mut long = out.clone();
    long[..4].copy_from_slice(&(len as u32).to_le_bytes());
    assert_eq!(
        context::decode_given_signs(&long, high, &mut back),
        Err(EntropyError::Truncated)
    );
}

/// float32 data split into its sign+mantissa group and exponent group.
fn f32_groups(data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut g = Vec::new();
    zipnn_wasm::dtype::split(DType::F32, data, &mut g);
    let n = data.len() / 4;
    (g[2 * n..3 * n].to_vec(), g[3 * n..].to_vec())
}

fn neighbour_roundtrip(src: &[u8], companion: &[u8]) -> Option<usize> {
    let mut out = vec![0xEE]; // existing content is kept
    let len = context::encode_given_neighbour(src, companion, &mut out)?;
    assert_eq!(out.len(), 1 + len);
    let mut back = vec![0x55; src.len()];
    context::decode_given_neighbour(&out[1..], companion, &mut back).unwrap();
    assert_eq!(back, src);
    Some(len)
}

/// Mode 10 finds the kernel rows (period 3) of 3x3 conv weights and codes their signs in
/// fewer bytes than mode 9's previous-sign context and mode 7's plain sign plane.
#[test]
fn neighbour_signs_find_kernel_rows_and_beat_the_other_sign_codings() {
    let (m, e) = f32_groups(&conv3x3_f32(20_000, 43));
    let plane = given_roundtrip(&m, &e).unwrap();
    let previous = given_signs_roundtrip(&m, &e, 0).unwrap();
    let neighbour = neighbour_roundtrip(&m, &e).unwrap();
    assert!(previous + 1000 < plane, "{previous} vs plane {plane}");
    assert!(
        neighbour + 1000 < previous,
        "{neighbour} vs previous sign {previous}"
    );
    let mut out = Vec::new();
    context::encode_given_neighbour(&m, &e, &mut out).unwrap();
    assert_eq!((out[4], out[5]), (3, 0), "period and phase");
    // Starting one element into a kernel row: the same period, another phase.
    out.clear();
    context::encode_given_neighbour(&m[1..], &e[1..], &mut out).unwrap();
    assert_eq!((out[4], out[5]), (3, 1), "period and phase");
}

#[test]
fn neighbour_signs_edge_cases_roundtrip() {
    let (m, e) = f32_groups(&conv3x3_f32(5_000, 45));
    // Odd lengths around the four-stream split, the smallest input accepted.
    for n in [1024, 1025, 1026, 1027, 4099, 40_001] {
        neighbour_roundtrip(&m[..n], &e[..n]).unwrap();
        neighbour_roundtrip(&m[7..n + 7], &e[7..n + 7]).unwrap();
    }
    // Exponents 0 and 255 side by side (the map's span limit), constant, alternating.
    let n = 6001;
    let mut rng = Rng(47);
    let bytes = rng.bytes(n);
    for companion in [
        (0..n).map(|i| [0u8, 255, 120][i % 3]).collect::<Vec<u8>>(),
        vec![0; n],
        vec![255; n],
        (0..n).map(|i| 100 + (i % 2) as u8 * 50).collect(),
        rng.bytes(n),
    ] {
        neighbour_roundtrip(&bytes, &companion).unwrap();
        neighbour_roundtrip(&m[..n], &companion).unwrap();
    }
    let mut out = Vec::new();
    assert_eq!(
        context::encode_given_neighbour(&m[..1023], &e[..1023], &mut out),
        None
    );
    assert_eq!(
        context::encode_given_neighbour(&m[..2000], &e[..1999], &mut out),
        None
    );
    assert!(out.is_empty());
}

#[test]
fn corrupt_neighbour_payloads_give_typed_errors() {
    let (m, e) = f32_groups(&conv3x3_f32(3_000, 49));
    let n = m.len();
    let mut out = Vec::new();
    let len = context::encode_given_neighbour(&m, &e, &mut out).unwrap();
    let mut back = vec![0u8; n];
    // A cut payload gives an error or (a stream end moved into the packed low bits) other
    // bytes, which the chunk checksum catches.
    for cut in (0..len).step_by(7) {
        if context::decode_given_neighbour(&out[..cut], &e, &mut back).is_ok() {
            assert!(back != m, "cut {cut} of {len} decoded to the original");
        }
    }
    for (at, v, what) in [
        (4, 1, "sign period or phase out of range"),
        (5, 3, "sign period or phase out of range"),
        (6, 0, "sign buckets out of range"),
        (6, 5, "sign buckets out of range"),
        (6, 3, "sign tables do not match buckets"),
    ] {
        let mut bad = out.clone();
        bad[at] = v;
        assert_eq!(
            context::decode_given_neighbour(&bad, &e, &mut back),
            Err(EntropyError::Corrupt(what)),
            "byte {at} = {v}"
        );
    }
    // No period: then no phase either.
    let mut bad = out.clone();
    bad[4] = 0;
    bad[5] = 1;
    assert_eq!(
        context::decode_given_neighbour(&bad, &e, &mut back),
        Err(EntropyError::Corrupt("sign period or phase out of range"))
    );
    // A sign length past the payload; a companion of another length.
    let mut long = out.clone();
    long[..4].copy_from_slice(&(len as u32).to_le_bytes());
    assert_eq!(
        context::decode_given_neighbour(&long, &e, &mut back),
        Err(EntropyError::Truncated)
    );
    assert!(matches!(
        context::decode_given_neighbour(&out, &e[1..], &mut back),
        Err(EntropyError::Corrupt(_))
    ));
    // Every changed byte gives an error or other bytes, never a panic.
    let mut rng = Rng(51);
    for _ in 0..400 {
        let mut bad = out.clone();
        let at = rng.below(len as u64) as usize;
        bad[at] ^= 1 << rng.below(8);
        let _ = context::decode_given_neighbour(&bad, &e, &mut back);
    }
}

/// A raw float32 stream of conv kernels: `--best` picks mode 10, the file decodes, and changed
/// bytes of its chunk are caught.
#[test]
fn neighbour_chunks_roundtrip_and_corrupt_ones_give_typed_errors() {
    let data = conv3x3_f32(30_000, 53);
    let opts = Options {
        chunk_size: 1 << 20,
        ..best()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    assert!(modes(&packed).contains(&context::GIVEN_NEIGHBOUR));
    assert_eq!(
        zipnn_wasm::decompress(&packed, &Limits::default()).unwrap(),
        data
    );
    let report = znw::inspect(&packed).unwrap();
    assert!(report
        .modes
        .iter()
        .any(|m| m.mode == context::GIVEN_NEIGHBOUR));
    let (_, chunks) = znw::index(&packed, &Limits::default()).unwrap();
    let c = chunks
        .iter()
        .find(|c| {
            let body = c.body(&packed);
            chunk::block_modes(&c.head, body)
                .iter()
                .any(|m| m.0 == context::GIVEN_NEIGHBOUR)
        })
        .unwrap();
    let body = c.body(&packed);
    assert_flips_caught(c, body);
    // Outside a float chunk (no exponents to go by) the block is corrupt.
    let blocks = chunk::block_modes(&c.head, body);
    let at: usize = blocks[..2].iter().map(|b| b.1).sum();
    let block10 = &body[at..at + blocks[2].1];
    assert_eq!(block10[0], context::GIVEN_NEIGHBOUR);
    let mut back = vec![0u8; c.head.raw_len as usize / 4];
    assert!(matches!(
        block::decode(block10, &mut back),
        Err(EntropyError::Corrupt(_))
    ));
}
