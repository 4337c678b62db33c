//! Delta against a base checkpoint: `data XOR base` per chunk, sparse and repeat blocks for the
//! unchanged bytes; decoding needs the very same base and says so when it is missing or wrong.

mod common;

use common::*;
use zipnn_wasm::format::znw::{self, Options};
use zipnn_wasm::stream::{AutoDecoder, VecSink};
use zipnn_wasm::Limits;

fn opts() -> Options {
    Options {
        verify: true,
        ..Options::default()
    }
}

#[test]
fn nearly_unchanged_checkpoint_costs_almost_nothing() {
    let mut rng = Rng(41);
    let tensors = vec![
        (
            "a",
            "BF16",
            vec![1000, 300],
            bf16_weights(&mut rng, 300_000),
        ),
        ("b", "F32", vec![50_000], f32_weights(&mut rng, 50_000)),
    ];
    let base = safetensors(&tensors);
    // One weight in a thousand updated.
    let mut new = base.clone();
    let data_start = new.len() - 800_000;
    for i in (data_start..new.len() - 4).step_by(2003) {
        new[i] ^= 0x15;
    }
    let full = znw::compress(&new, &opts()).unwrap();
    let delta = znw::compress_delta(&new, &base, &opts(), &mut |_| {}).unwrap();
    eprintln!(
        "full {} bytes, delta {} bytes of {}",
        full.len(),
        delta.len(),
        new.len()
    );
    assert!(delta.len() * 50 < new.len(), "delta {} bytes", delta.len());
    assert_eq!(
        zipnn_wasm::decompress_with_base(&delta, &base, &Limits::default()).unwrap(),
        new
    );

    // Identical: a few bytes per chunk.
    let same = znw::compress_delta(&base, &base, &opts(), &mut |_| {}).unwrap();
    assert!(same.len() < 2000, "{} bytes", same.len());
    assert_eq!(
        zipnn_wasm::decompress_with_base(&same, &base, &Limits::default()).unwrap(),
        base
    );
}

/// Tensors that moved (a longer header, a tensor added before them, the order changed) XOR
/// with their twins where those lie; bytes of no twin, and bases that match nothing, code as
/// they are: a delta is never much larger than the plain file.
#[test]
fn moved_tensors_find_their_twins_and_bad_bases_cost_little() {
    let mut rng = Rng(59);
    let a = ("a", "BF16", vec![600, 500], bf16_weights(&mut rng, 300_000));
    let b = ("b", "F32", vec![80_000], f32_weights(&mut rng, 80_000));
    let extra = ("extra", "F32", vec![3], f32_weights(&mut rng, 3));
    let base = safetensors(&[a.clone(), b.clone()]);
    let mut grown = a.clone();
    grown.2[0] += 1;
    grown.3.extend_from_slice(&bf16_weights(&mut rng, 500));
    let check = |new: &[u8], base: &[u8], most: usize| {
        let plain = znw::compress(new, &opts()).unwrap();
        let delta = znw::compress_delta(new, base, &opts(), &mut |_| {}).unwrap();
        assert!(
            delta.len() <= most,
            "delta {} bytes, plain {}",
            delta.len(),
            plain.len()
        );
        assert!(delta.len() <= plain.len() + plain.len() / 100 + 200);
        assert_eq!(
            zipnn_wasm::decompress_with_base(&delta, base, &Limits::default()).unwrap(),
            new
        );
        delta.len()
    };
    check(&safetensors(&[b.clone(), a.clone()]), &base, 3000);
    check(&safetensors(&[extra, a.clone(), b.clone()]), &base, 3000);
    // The grown tensor's first 600 rows XOR with the old ones; its new row costs what it does.
    check(&safetensors(&[grown, b.clone()]), &base, 5000);
    // Bases that match nothing: three bytes in front, or other weights altogether.
    let plain = znw::compress(&base, &opts()).unwrap().len();
    let shifted = [&[1, 2, 3][..], &base].concat();
    check(&base, &shifted, plain + plain / 100);
    check(
        &base,
        &bf16_weights(&mut rng, base.len() / 2),
        plain + plain / 100,
    );
    // Twins of other weights: their XOR codes larger than the weights themselves.
    let other = safetensors(&[
        ("a", "BF16", vec![600, 500], bf16_weights(&mut rng, 300_000)),
        ("b", "F32", vec![80_000], f32_weights(&mut rng, 80_000)),
    ]);
    check(&base, &other, plain + plain / 100);
    // A renamed tensor (no twin) and a file that no longer parses keep the bytes at their own
    // offset: still the same bytes.
    let renamed = safetensors(&[("A", a.1, a.2.clone(), a.3.clone()), b.clone()]);
    check(&renamed, &base, 3000);
    let mut damaged = base.clone();
    damaged[3] ^= 0x40; // the header's length: not a safetensors file any more
    check(&damaged, &base, 3000);
    // Text that LZ codes small, against a base shifted by 3 bytes: XORed it codes far larger.
    let words: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("w{}x{}", i * 7919 % 1000, i % 13).into_bytes())
        .collect();
    let text: Vec<u8> = (0..100_000)
        .flat_map(|_| [words[rng.next() as usize % 300].clone(), vec![b' ']].concat())
        .collect();
    let plain_text = znw::compress(&text, &opts()).unwrap().len();
    check(
        &text,
        &[&b"abc"[..], &text].concat(),
        plain_text + plain_text / 100,
    );
    // Many tiny tensors that moved: not worth an entry each (24 bytes) in the header.
    let tiny: Vec<_> = (0..3000)
        .map(|i| (format!("t{i:05}"), rng.bytes(2)))
        .collect();
    let as_st = |ts: &[&(String, Vec<u8>)]| {
        let list: Vec<_> = ts
            .iter()
            .map(|(n, d)| (n.as_str(), "F16", vec![1], d.clone()))
            .collect();
        safetensors(&list)
    };
    let all: Vec<_> = tiny.iter().collect();
    let half: Vec<_> = tiny.iter().step_by(2).collect();
    let (new, old) = (as_st(&all), as_st(&half));
    let plain = znw::compress(&new, &opts()).unwrap().len();
    check(&new, &old, plain + plain / 100);
}

#[test]
fn missing_or_wrong_base_is_a_clear_error() {
    let mut rng = Rng(43);
    let base = bf16_weights(&mut rng, 50_000);
    let new: Vec<u8> = base.iter().map(|b| b ^ 1).collect();
    let delta = znw::compress_delta(&new, &base, &opts(), &mut |_| {}).unwrap();
    let e = zipnn_wasm::decompress(&delta, &Limits::default()).unwrap_err();
    assert_eq!(e.code(), "ZNN_UNSUPPORTED");
    assert!(e.to_string().contains("base"), "{e}");
    let mut other = base.clone();
    other[10] ^= 1;
    let e = zipnn_wasm::decompress_with_base(&delta, &other, &Limits::default()).unwrap_err();
    assert_eq!(e.code(), "ZNN_INVALID_INPUT");
    let e = zipnn_wasm::decompress_with_base(&delta, &base[..100], &Limits::default()).unwrap_err();
    assert_eq!(e.code(), "ZNN_INVALID_INPUT");
    let mut dec = AutoDecoder::new(Limits::default());
    let e = dec.push(&delta, &mut VecSink::default()).unwrap_err();
    assert_eq!(e.code(), "ZNN_UNSUPPORTED");
    let mut dst = vec![0u8; new.len()];
    assert_eq!(
        znw::decompress_into(&delta, &mut dst, 1)
            .unwrap_err()
            .code(),
        "ZNN_UNSUPPORTED"
    );
}

#[test]
fn base_of_another_length() {
    let mut rng = Rng(47);
    let base = rng.bytes(10_000);
    let mut new = base[..6000].to_vec();
    new.extend_from_slice(&rng.bytes(9000));
    for b in [&base[..], &base[..10], &[][..]] {
        let delta = znw::compress_delta(&new, b, &opts(), &mut |_| {}).unwrap();
        assert_eq!(
            zipnn_wasm::decompress_with_base(&delta, b, &Limits::default()).unwrap(),
            new
        );
    }
}

#[test]
fn cli_roundtrip_with_base() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/delta-test");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(53);
    let base = bf16_weights(&mut rng, 100_000);
    let mut new = base.clone();
    new[5000] ^= 0x40;
    let (bp, np, zp, op) = (
        dir.join("base.bin"),
        dir.join("new.bin"),
        dir.join("new.znw"),
        dir.join("out.bin"),
    );
    std::fs::write(&bp, &base).unwrap();
    std::fs::write(&np, &new).unwrap();
    let zipnn = env!("CARGO_BIN_EXE_zipnn");
    let run = |args: &[&std::path::Path]| {
        std::process::Command::new(zipnn)
            .args(args)
            .output()
            .unwrap()
    };
    let s = |p: &std::path::Path| p.as_os_str().to_owned();
    let ok = std::process::Command::new(zipnn)
        .args([
            s(&std::path::PathBuf::from("compress")),
            s(&np),
            "--base".into(),
            s(&bp),
            "-o".into(),
            s(&zp),
            "--force".into(),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(std::fs::metadata(&zp).unwrap().len() < 200);
    let out = run(&[
        std::path::Path::new("decompress"),
        &zp,
        std::path::Path::new("-o"),
        &op,
        std::path::Path::new("--force"),
    ]);
    assert!(!out.status.success(), "decoded a delta without its base");
    assert!(String::from_utf8_lossy(&out.stderr).contains("base"));
    let out = run(&[
        std::path::Path::new("decompress"),
        &zp,
        std::path::Path::new("--base"),
        &bp,
        std::path::Path::new("-o"),
        &op,
        std::path::Path::new("--force"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&op).unwrap(), new);
    let p = std::path::Path::new;
    // inspect says what it is and what it needs.
    let out = run(&[p("inspect"), &zp]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("delta against a base of {} bytes", base.len())),
        "{text}"
    );
    // A base longer than the one named is refused before it is read whole (/dev/zero ends).
    let out = run(&[p("test"), &zp, p("--base"), p("/dev/zero")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("has more than 200000 bytes") && err.contains("ZNN_INVALID_INPUT"),
        "{err}"
    );
    // A delta naming a base no memory holds is refused before anything is read.
    let mut huge = std::fs::read(&zp).unwrap();
    let hl = znw::Header::len_from_prefix(&huge).unwrap();
    assert_eq!(
        huge[9] & 8,
        0,
        "no realignment table: the base fields end the header"
    );
    huge[hl - 20..hl - 12].copy_from_slice(&u64::MAX.to_le_bytes());
    let sum = znw::header::checksum(&huge[..hl - 4]);
    huge[hl - 4..hl].copy_from_slice(&sum.to_le_bytes());
    let hp = dir.join("huge.znw");
    std::fs::write(&hp, &huge).unwrap();
    let out = run(&[p("test"), &hp, p("--base"), p("/dev/zero")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ZNN_TOO_LARGE"), "{err}");
    // A base far larger than the file (here endless) is refused once that much is read.
    let out = run(&[
        p("compress"),
        &np,
        p("--base"),
        p("/dev/zero"),
        p("-o"),
        &op,
        p("--force"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not an earlier checkpoint of it"), "{err}");
    // A file that is no delta decodes without its --base, and says the base is not used.
    let plain = dir.join("plain.znw");
    std::fs::write(&plain, znw::compress(&new, &opts()).unwrap()).unwrap();
    let out = run(&[p("test"), &plain, p("--base"), p("/dev/zero")]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a delta: --base is not used"), "{err}");
}

/// A delta of tiny chunks, every other one coded as it is, lists more stretches than a header
/// holds (2.9 million entries of 24 bytes): it once wrote a header no decoder reads. All its
/// pieces are XORed instead, and it decodes.
#[test]
fn a_delta_with_more_realignments_than_a_header_holds_is_still_readable() {
    let pieces = 5_800_000usize;
    let base = [0u8, 1, 2, 3].repeat(pieces);
    let mut data = base.clone();
    for piece in data.chunks_exact_mut(8) {
        piece[..4].copy_from_slice(&[7, 7, 7, 7]); // codes smaller as it is than XORed
    }
    let o = Options {
        chunk_size: 4,
        dtype: zipnn_wasm::DTypeChoice::Fixed(zipnn_wasm::DType::Bytes),
        ..Options::default()
    };
    let delta = znw::compress_delta(&data, &base, &o, &mut |_| {}).unwrap();
    let header_len = u32::from_le_bytes(delta[12..16].try_into().unwrap());
    assert!(header_len < 1 << 20, "{header_len}");
    let back = znw::decompress_with_base(&delta, Some(&base), &Limits::default(), 1).unwrap();
    assert!(back == data);
}
