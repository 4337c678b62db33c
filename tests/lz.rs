//! The LZ path end to end: chunks with repeated or sign-mirrored tensors (an STFT basis, as in
//! silero VAD) take block mode 5 and the plain-groups chunk flag, decode through every reader,
//! and a flag where it may not be is rejected.

mod common;

use common::{f32_weights, Rng};
use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::stream::{Decoder, VecSink};
use zipnn_wasm::{DType, Limits};

fn opts(dtype: DType, tans: bool) -> Options {
    Options {
        dtype: DTypeChoice::Fixed(dtype),
        chunk_size: 256 << 10,
        verify: true,
        threads: 1,
        tans,
    }
}

/// A real-valued DFT basis like `stft_conv.weight`: row `k` is cos(2πkn/N) (the first half)
/// or sin (the second half); rows `k` and `N − k` agree up to sign, element by element.
fn stft_basis(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for k in 0..=n / 2 {
        for t in 0..n {
            let a = 2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
            out.extend_from_slice(&(a.cos() as f32 * 0.5).to_le_bytes());
        }
    }
    for k in 0..=n / 2 {
        for t in 0..n {
            let a = 2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
            out.extend_from_slice(&(-a.sin() as f32 * 0.5).to_le_bytes());
        }
    }
    out
}

/// (flag byte, block modes) of each chunk record of a `.znw` file.
fn chunk_flags(packed: &[u8]) -> Vec<u8> {
    let mut pos = u32::from_le_bytes(packed[12..16].try_into().unwrap()) as usize;
    let mut flags = Vec::new();
    while packed[pos] == b'C' {
        flags.push(packed[pos + 2]);
        let body = u32::from_le_bytes(packed[pos + 8..pos + 12].try_into().unwrap()) as usize;
        pos += 20 + body;
    }
    flags
}

fn decode_all_ways(packed: &[u8], want: &[u8]) {
    assert_eq!(
        znw::decompress(packed, &Limits::default(), 1).unwrap(),
        want
    );
    assert_eq!(
        znw::decompress(packed, &Limits::default(), 2).unwrap(),
        want
    );
    let mut dec = Decoder::new(Limits::default());
    let mut sink = VecSink::default();
    for piece in packed.chunks(777) {
        dec.push(piece, &mut sink).unwrap();
    }
    dec.finish().unwrap();
    assert_eq!(sink.out, want);
}

#[test]
fn stft_basis_uses_plain_groups_and_lz() {
    let data = stft_basis(256);
    let plain_size = {
        // The same values with the repeats destroyed: each row XORed with its own noise word.
        let mut d = data.clone();
        for (i, x) in d.chunks_exact_mut(4).enumerate() {
            x[0] ^= (i.wrapping_mul(2_654_435_761) >> 7) as u8;
            x[1] ^= (i.wrapping_mul(40_503) >> 3) as u8;
        }
        znw::compress(&d, &opts(DType::F32, false)).unwrap().len()
    };
    for tans in [false, true] {
        let packed = znw::compress(&data, &opts(DType::F32, tans)).unwrap();
        let flags = chunk_flags(&packed);
        assert!(flags.contains(&1), "no chunk took plain groups: {flags:?}");
        assert!(
            packed.len() * 10 < plain_size * 7,
            "{} vs {plain_size}",
            packed.len()
        );
        decode_all_ways(&packed, &data);
    }
}

#[test]
fn repeated_tensors_in_every_dtype() {
    // A block of noise stored three times: every dtype finds the copies (whole elements of
    // each: 67,320 bytes, a multiple of 8 and of the legacy ggml blocks' 18 to 34, rounded up
    // to whole K-quant blocks).
    let noise = Rng(0x9E37_79B9_7F4A_7C15).bytes(68_000);
    for dtype in DType::ALL {
        let unit = 67_320usize.div_ceil(dtype.size()) * dtype.size();
        let mut data = noise[..unit].to_vec();
        data.extend_from_within(..);
        data.extend_from_within(..unit);
        let packed = znw::compress(&data, &opts(dtype, false)).unwrap();
        assert!(packed.len() < unit + 4_680, "{dtype:?}: {}", packed.len());
        decode_all_ways(&packed, &data);
    }
}

#[test]
fn plain_flag_where_it_may_not_be_is_rejected() {
    let data = stft_basis(64);
    let packed = znw::compress(&data, &opts(DType::Bytes, false)).unwrap();
    let at = u32::from_le_bytes(packed[12..16].try_into().unwrap()) as usize;
    for (byte, value) in [(2, 1u8), (2, 2), (3, 1)] {
        let mut bad = packed.clone();
        bad[at + byte] = value;
        assert!(znw::decompress(&bad, &Limits::default(), 1).is_err());
    }
    // On a float chunk the flag is legal, but flipping it changes the bytes: checksum error.
    let packed = znw::compress(&data, &opts(DType::F32, false)).unwrap();
    let mut bad = packed.clone();
    bad[at + 2] ^= 1;
    assert!(znw::decompress(&bad, &Limits::default(), 1).is_err());
    // A Q8_0 block's groups are not one byte of each element: the flag is malformed there.
    let blocks = Rng(7).bytes(34 * 100);
    let mut bad = znw::compress(&blocks, &opts(DType::Q8_0, false)).unwrap();
    assert_eq!(bad[at + 1], DType::Q8_0.code());
    bad[at + 2] = 1;
    let e = znw::decompress(&bad, &Limits::default(), 1).unwrap_err();
    assert!(e.to_string().contains("plain groups flag"), "{e}");
}

/// `--best` also finds a copy covering 1/256 of a float chunk (two equal 4 KiB bias vectors
/// among LSTM weights); the default encoder leaves it (1/64 at least).
#[test]
fn best_finds_rarer_copies() {
    let mut data = Rng(0x1234_5678_9ABC_DEF1).bytes((256 << 10) - 4096);
    data.extend_from_within(100_000..100_000 + 4096);
    let best = znw::compress(&data, &opts(DType::F32, true)).unwrap();
    let fast = znw::compress(&data, &opts(DType::F32, false)).unwrap();
    assert!(
        best.len() + 3000 < fast.len(),
        "{} vs {}",
        best.len(),
        fast.len()
    );
    assert!(fast.len() > data.len(), "{}", fast.len());
    decode_all_ways(&best, &data);
    decode_all_ways(&fast, &data);
}

/// `--best` cuts a float piece around a copy of its own bytes (the source and the copy become
/// a chunk of their own, the rest keeps its chunks); the default encoder does not.
#[test]
fn best_cuts_pieces_around_copies() {
    // Trained-like float32 weights, then a 4 KiB vector stored twice.
    let mut rng = Rng(0x0F1E_2D3C_4B5A_6978);
    let mut data = f32_weights(&mut rng, 200_000);
    let vector = f32_weights(&mut rng, 1024);
    data.extend_from_slice(&vector);
    data.extend_from_slice(&vector);
    data.extend(f32_weights(&mut rng, 1000));
    let mut o = opts(DType::F32, true);
    o.chunk_size = 1 << 20;
    let best = znw::compress(&data, &o).unwrap();
    let (_, chunks) = znw::index(&best, &Limits::default()).unwrap();
    let cuts: Vec<u64> = chunks.iter().map(|c| c.offset).collect();
    assert_eq!(cuts, [0, 800_000, 800_000 + 8192], "{cuts:?}");
    decode_all_ways(&best, &data);
    o.tans = false;
    let fast = znw::compress(&data, &o).unwrap();
    assert_eq!(znw::index(&fast, &Limits::default()).unwrap().1.len(), 1);
    decode_all_ways(&fast, &data);
}

/// An LZ block may hold only modes 0–4 (FORMAT.md §3.5). A literal block in a context mode,
/// which decodes fine on its own, must be refused there, as a decoder written from the format
/// would refuse it.
#[test]
fn context_modes_inside_lz_are_refused() {
    use zipnn_wasm::entropy::{block, context};
    // Skewed bytes with some structure, so that the history coder accepts them.
    let lits: Vec<u8> = (0..4096u32)
        .map(|i| (120 + (i.wrapping_mul(2654435761) >> 29) % 5 + (i / 512) % 3) as u8)
        .collect();
    let mut p = Vec::new();
    context::encode_history(&lits, 0, &mut p).expect("the history coder takes these bytes");
    let mut hist = vec![context::HISTORY];
    hist.extend_from_slice(&(p.len() as u32).to_le_bytes());
    hist.extend_from_slice(&p);
    // On its own the block decodes.
    let mut out = vec![0u8; lits.len()];
    assert_eq!(block::decode(&hist, &mut out).unwrap(), hist.len());
    assert_eq!(out, lits);
    // As the literals of an LZ block with no sequences: nseq 0, nlit 4096 (LEB128), the
    // literals, then three empty raw streams.
    let mut payload = vec![0x00, 0x80, 0x20];
    payload.extend_from_slice(&hist);
    payload.extend_from_slice(&[0, block::RAW, 0, block::RAW, 0, block::RAW]);
    let mut lz = vec![block::LZ];
    lz.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    lz.extend_from_slice(&payload);
    let err = block::decode(&lz, &mut out).unwrap_err();
    assert!(
        format!("{err}").contains("not allowed in a nested block"),
        "{err}"
    );
    // The same LZ block with the literals raw decodes: only the nested mode was wrong.
    let mut payload = vec![0x00, 0x80, 0x20, block::RAW];
    payload.extend_from_slice(&lits);
    payload.extend_from_slice(&[0, block::RAW, 0, block::RAW, 0, block::RAW]);
    let mut lz = vec![block::LZ];
    lz.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    lz.extend_from_slice(&payload);
    out.fill(0);
    assert_eq!(block::decode(&lz, &mut out).unwrap(), lz.len());
    assert_eq!(out, lits);
}
