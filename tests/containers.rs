//! Container awareness: each tensor found and coded with its own type; round trips exact.

mod common;

use common::*;
use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::format::{tensors, Source};
use zipnn_wasm::{DType, Limits};

fn gguf(tensors: &[(&str, u32, Vec<u64>, Vec<u8>)]) -> Vec<u8> {
    let s = |out: &mut Vec<u8>, v: &str| {
        out.extend_from_slice(&(v.len() as u64).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
    };
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&2u64.to_le_bytes());
    s(&mut out, "general.name");
    out.extend_from_slice(&8u32.to_le_bytes());
    s(&mut out, "tiny");
    s(&mut out, "general.alignment");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&64u32.to_le_bytes());
    let mut off = 0u64;
    let mut offsets = Vec::new();
    for (name, t, shape, data) in tensors {
        s(&mut out, name);
        out.extend_from_slice(&(shape.len() as u32).to_le_bytes());
        for d in shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
        offsets.push(off);
        off = (off + data.len() as u64).div_ceil(64) * 64;
    }
    let start = out.len().div_ceil(64) * 64;
    out.resize(start, 0);
    for ((_, _, _, data), o) in tensors.iter().zip(offsets) {
        out.resize(start + o as usize, 0);
        out.extend_from_slice(data);
    }
    out
}

fn check(file: &[u8], want: &[(&str, DType)]) {
    let packed = znw::compress(
        file,
        &Options {
            verify: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert!(zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == file);
    let report = znw::inspect(&packed).unwrap();
    for (name, dtype) in want {
        let s = report
            .segments
            .iter()
            .find(|s| s.name == *name)
            .unwrap_or_else(|| panic!("no segment {name}"));
        assert_eq!(s.dtype, dtype.name(), "{name}");
    }
}

#[test]
fn gguf_tensors_are_found() {
    let mut rng = Rng(31);
    let file = gguf(&[
        ("tok.weight", 0, vec![1000], f32_weights(&mut rng, 1000)),
        ("blk.0.attn", 30, vec![50, 40], bf16_weights(&mut rng, 2000)),
        ("blk.0.q4", 2, vec![64], rng.bytes(36)),
        ("blk.0.f64", 28, vec![20, 25], f64_weights(&mut rng, 500)),
    ]);
    let layout = tensors::detect(&file).unwrap();
    assert_eq!(layout.tensors.len(), 4);
    check(
        &file,
        &[
            ("tok.weight", DType::F32),
            ("blk.0.attn", DType::BF16),
            ("blk.0.q4", DType::Q4_0),
            ("blk.0.f64", DType::F64),
        ],
    );
    // Hostile: a tensor count beyond the file is not a GGUF layout, and still round-trips.
    let mut bad = file.clone();
    bad[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(tensors::detect(&bad).is_none());
    check(&bad, &[]);
}

/// GGUF Q4_1 blocks: a float16 scale and minimum, then 16 bytes of 4-bit weights. Typed Q4_1,
/// they are coded as that block type, which keeps the float16 numbers apart from the weights.
/// Under a type we do not know (bytes to us, as K-quants are), `--best` (`tans`) measures such
/// bytes as a raw file's and finds float groups that keep the scales' high bytes apart, where
/// the default keeps bytes; the block type codes them smaller still.
#[test]
fn best_measures_the_grouping_of_quantised_blocks() {
    let mut rng = Rng(43);
    let mut q4 = Vec::new();
    for _ in 0..16_384 {
        // Positive float16 scales near 0.01 and minimums near -0.1: few distinct high bytes.
        let d = 0x2000 + rng.below(0x400) as u16;
        let m = 0xAC00 + rng.below(0x400) as u16;
        q4.extend_from_slice(&d.to_le_bytes());
        q4.extend_from_slice(&m.to_le_bytes());
        q4.extend(rng.bytes(16));
    }
    let tok = f32_weights(&mut rng, 1000);
    let typed = |t: u32| {
        gguf(&[
            ("tok.weight", 0, vec![1000], tok.clone()),
            ("blk.0.ffn", t, vec![16_384 * 32], q4.clone()),
        ])
    };
    let lim = Limits::default();
    let chunk_dtypes = |file: &[u8], tans: bool| {
        let packed = znw::compress(
            file,
            &Options {
                tans,
                ..Options::default()
            },
        )
        .unwrap();
        assert!(zipnn_wasm::decompress(&packed, &lim).unwrap() == file);
        let (_, chunks) = znw::index(&packed, &lim).unwrap();
        let at = file.len() - q4.len();
        let q4_chunks: Vec<_> = chunks
            .iter()
            .filter(|c| c.offset >= at as u64)
            .map(|c| c.head.dtype)
            .collect();
        (q4_chunks, packed.len())
    };
    // ggml type 99 does not exist: its bytes lie between the tensors we know.
    let unknown = typed(99);
    let (default, default_len) = chunk_dtypes(&unknown, false);
    assert!(default.iter().all(|&d| d == DType::Bytes), "{default:?}");
    let (best, best_len) = chunk_dtypes(&unknown, true);
    assert!(best.iter().all(|&d| d != DType::Bytes), "{best:?}");
    assert!(best_len < default_len, "{best_len} >= {default_len}");
    let (q4_1, q4_1_len) = chunk_dtypes(&typed(3), false);
    assert!(q4_1.iter().all(|&d| d == DType::Q4_1), "{q4_1:?}");
    assert!(q4_1_len < best_len, "{q4_1_len} >= {best_len}");
}

/// A TensorFlow Lite FlatBuffer: one subgraph, tensor i uses buffer i + 1 (buffer 0 is the
/// empty sentinel), each buffer's data 16-byte aligned as the TFLite converter writes them.
fn tflite(tensors: &[(&str, u8, Vec<i32>, Vec<u8>)]) -> Vec<u8> {
    fn put(o: &mut [u8], at: usize, v: u32) {
        o[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn align(o: &mut Vec<u8>, a: usize) {
        o.resize(o.len().div_ceil(a) * a, 0);
    }
    // vtable, then the table (all fields 4-byte slots); returns (table, slot of each field)
    fn table(o: &mut Vec<u8>, present: &[usize], nfields: usize) -> (usize, Vec<usize>) {
        align(o, 4);
        let vt = o.len();
        o.extend_from_slice(&((4 + 2 * nfields) as u16).to_le_bytes());
        o.extend_from_slice(&((4 + 4 * present.len()) as u16).to_le_bytes());
        for f in 0..nfields {
            let off = present
                .iter()
                .position(|&p| p == f)
                .map_or(0, |k| 4 + 4 * k);
            o.extend_from_slice(&(off as u16).to_le_bytes());
        }
        align(o, 4);
        let t = o.len();
        o.extend_from_slice(&((t - vt) as i32).to_le_bytes());
        o.resize(t + 4 + 4 * present.len(), 0);
        (t, (0..present.len()).map(|k| t + 4 + 4 * k).collect())
    }
    // a vector of `n` offsets, pointed to from `from`; returns its first element
    fn offsets(o: &mut Vec<u8>, from: usize, n: usize) -> usize {
        align(o, 4);
        let v = o.len();
        put(o, from, (v - from) as u32);
        o.extend_from_slice(&(n as u32).to_le_bytes());
        o.resize(v + 4 + 4 * n, 0);
        v + 4
    }
    let mut o = vec![0u8; 8];
    o[4..8].copy_from_slice(b"TFL3");
    let (model, ms) = table(&mut o, &[2, 4], 5); // subgraphs, buffers
    put(&mut o, 0, model as u32);
    let sgs = offsets(&mut o, ms[0], 1);
    let (sg, ss) = table(&mut o, &[0], 1);
    put(&mut o, sgs, (sg - sgs) as u32);
    let tv = offsets(&mut o, ss[0], tensors.len());
    for (i, (name, ty, shape, _)) in tensors.iter().enumerate() {
        let (t, ts) = table(&mut o, &[0, 1, 2, 3], 4);
        put(&mut o, tv + 4 * i, (t - tv - 4 * i) as u32);
        o[ts[1]] = *ty;
        put(&mut o, ts[2], i as u32 + 1);
        let sv = o.len();
        put(&mut o, ts[0], (sv - ts[0]) as u32);
        o.extend_from_slice(&(shape.len() as u32).to_le_bytes());
        for d in shape {
            o.extend_from_slice(&d.to_le_bytes());
        }
        let nv = o.len();
        put(&mut o, ts[3], (nv - ts[3]) as u32);
        o.extend_from_slice(&(name.len() as u32).to_le_bytes());
        o.extend_from_slice(name.as_bytes());
    }
    let bv = offsets(&mut o, ms[1], tensors.len() + 1);
    let (b0, _) = table(&mut o, &[], 1);
    put(&mut o, bv, (b0 - bv) as u32);
    for (i, (_, _, _, data)) in tensors.iter().enumerate() {
        let (b, bs) = table(&mut o, &[0], 1);
        put(&mut o, bv + 4 * (i + 1), (b - bv - 4 * (i + 1)) as u32);
        o.resize((o.len() + 4).div_ceil(16) * 16 - 4, 0);
        let dv = o.len();
        put(&mut o, bs[0], (dv - bs[0]) as u32);
        o.extend_from_slice(&(data.len() as u32).to_le_bytes());
        o.extend_from_slice(data);
    }
    o
}

/// Whatever a damaged file is detected as, its tensors are in order, do not overlap and lie
/// inside the file (what `describe` plans its segments from); only safetensors lists empty ones.
fn assert_layout_sound(file: &[u8]) {
    let Some(l) = tensors::detect(file) else {
        return;
    };
    use zipnn_wasm::format::Container;
    let empty_ok = matches!(
        l.container,
        Container::Safetensors | Container::Npz | Container::Npy
    );
    let mut prev = 0;
    for t in &l.tensors {
        let nonempty = t.start < t.end || (empty_ok && t.start == t.end);
        assert!(prev <= t.start && nonempty && t.end <= file.len() as u64);
        prev = t.end;
    }
}

#[test]
fn tflite_buffers_are_found() {
    let mut rng = Rng(41);
    let f16 = bf16_weights(&mut rng, 3000); // 16-bit bit patterns; the label decides
    let file = tflite(&[
        (
            "conv/weights",
            0,
            vec![30, 100],
            f32_weights(&mut rng, 3000),
        ),
        ("dense/weights_fp16", 1, vec![3000], f16),
        ("dense/weights_int8", 9, vec![64, 8], rng.bytes(512)),
        ("dense/bias_f64", 10, vec![500], f64_weights(&mut rng, 500)),
    ]);
    let layout = tensors::detect(&file).unwrap();
    assert_eq!(layout.container, zipnn_wasm::format::Container::Tflite);
    assert_eq!(layout.tensors.len(), 4);
    assert_eq!(layout.tensors[0].shape, [30, 100]);
    assert_eq!(layout.tensors[0].end - layout.tensors[0].start, 12_000);
    check(
        &file,
        &[
            ("conv/weights", DType::F32),
            ("dense/weights_fp16", DType::F16),
            ("dense/weights_int8", DType::Bytes),
            ("dense/bias_f64", DType::F64),
        ],
    );
    // Hostile: damaged offsets, counts and vtables anywhere in the FlatBuffer never panic, and
    // whatever is found lies inside the file; every variant still round-trips.
    let structure = layout.tensors[0].start as usize;
    for i in 0..2000 {
        let mut bad = file.clone();
        let at = rng.below(structure as u64) as usize;
        bad[at] = match i % 3 {
            0 => 0xFF,
            1 => 0,
            _ => rng.next() as u8,
        };
        assert_layout_sound(&bad);
        if i % 200 == 0 {
            check(&bad, &[]);
        }
    }
    // Without the identifier it is not taken for TFLite.
    let mut plain = file.clone();
    plain[4..8].copy_from_slice(b"XXXX");
    assert!(tensors::detect(&plain)
        .is_none_or(|l| l.container != zipnn_wasm::format::Container::Tflite));
}

/// A NumPy `.npy` file (version 1 header, padded to 64 bytes as numpy writes it).
fn npy(descr: &str, shape: &[u64], data: &[u8]) -> Vec<u8> {
    npy_order(descr, shape, data, "False")
}

fn npy_fortran(descr: &str, shape: &[u64], data: &[u8]) -> Vec<u8> {
    npy_order(descr, shape, data, "True")
}

fn npy_order(descr: &str, shape: &[u64], data: &[u8], fortran: &str) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A zip archive of stored (uncompressed) members, as `np.savez` writes it.
fn stored_zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, body) in members {
        let at = out.len() as u32;
        let fixed = |sig: u32| {
            let mut v = sig.to_le_bytes().to_vec();
            v.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method 0, time, date
            v.extend_from_slice(&0u32.to_le_bytes()); // crc (not checked by the parser)
            v.extend_from_slice(&(body.len() as u32).to_le_bytes());
            v.extend_from_slice(&(body.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v
        };
        out.extend(fixed(0x0403_4b50));
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(body);
        let mut c = 0x0201_4b50u32.to_le_bytes().to_vec();
        c.extend_from_slice(&[20, 0]); // made by
        c.extend(fixed(0)[4..].iter());
        c.extend_from_slice(&[0; 8]); // comment len, disk, internal attr, external attr (part)
        c.extend_from_slice(&[0; 4]);
        c.truncate(42);
        c.extend_from_slice(&at.to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        central.extend(c);
    }
    let (cd_at, cd_len) = (out.len() as u32, central.len() as u32);
    out.extend(central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_at.to_le_bytes());
    out.extend_from_slice(&[0; 2]);
    out
}

/// Complex arrays are pairs of floats, and big-endian floats get a measured grouping: both
/// code far smaller than as bytes (they were bytes: 21-28 % larger; these big-endian weights
/// 0.948 of their size, now 0.835).
#[test]
fn complex_and_big_endian_floats_are_grouped() {
    let mut rng = Rng(59);
    let f32s = f32_weights(&mut rng, 50_000);
    let swapped: Vec<u8> = f32s
        .chunks_exact(4)
        .flat_map(|b| [b[3], b[2], b[1], b[0]])
        .collect();
    let f64s = f64_weights(&mut rng, 10_000);
    let file = stored_zip(&[
        ("c.npy", npy("<c8", &[25_000], &f32s)),
        ("be.npy", npy(">f4", &[50_000], &swapped)),
        ("z.npy", npy("<c16", &[5_000], &f64s)),
    ]);
    check(&file, &[("c", DType::F32), ("z", DType::F64)]);
    let st = safetensors(&[
        ("c", "C64", vec![25_000], f32s.clone()),
        ("z", "C128", vec![5_000], f64s.clone()),
    ]);
    check(&st, &[("c", DType::F32), ("z", DType::F64)]);
    let packed = znw::compress(&file, &Options::default()).unwrap();
    let report = znw::inspect(&packed).unwrap();
    let be = report.segments.iter().find(|s| s.name == "be").unwrap();
    assert!(
        be.compressed * 100 < be.length * 85,
        "{} as {}: {} bytes",
        be.length,
        be.dtype,
        be.compressed
    );
}

/// Small float arrays (under 512 bytes) are coded as bytes with their neighbours, so that LZ
/// sees the repeats between them and their near-identical npy headers; each its own float
/// chunk, 100 copies of one 64-element array came out at 0.86 of their size.
#[test]
fn small_float_arrays_share_a_chunk() {
    let mut rng = Rng(61);
    let bias = f32_weights(&mut rng, 64);
    let members: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| (format!("layer{i}.bias.npy"), npy("<f4", &[64], &bias)))
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = members
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    let file = stored_zip(&refs);
    let packed = znw::compress(&file, &Options::default()).unwrap();
    assert!(zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == file);
    assert!(
        packed.len() * 10 < file.len(),
        "{} of {} bytes",
        packed.len(),
        file.len()
    );
    // With chunks of 1 KiB too: a 256-byte array is not a stretch of its own (a quarter chunk)
    // but joins its neighbours.
    let small = Options {
        chunk_size: 1024,
        ..Options::default()
    };
    let packed = znw::compress(&file, &small).unwrap();
    let (_, chunks) = znw::index(&packed, &Limits::default()).unwrap();
    assert!(
        chunks.len() <= file.len() / 1024 + 2,
        "{} chunks",
        chunks.len()
    );
}

#[test]
fn npz_and_npy_arrays_are_found() {
    use zipnn_wasm::format::Container;
    let mut rng = Rng(53);
    let f32s = f32_weights(&mut rng, 6000);
    let f16s = bf16_weights(&mut rng, 5000); // 16-bit patterns; the descr decides
    let ids: Vec<u8> = (0..512u64).flat_map(|i| i.to_le_bytes()).collect();
    let file = stored_zip(&[
        ("dense.weight.npy", npy("<f4", &[60, 100], &f32s)),
        ("emb.npy", npy("<f2", &[5000], &f16s)),
        ("position_ids.npy", npy("<i8", &[1, 512], &ids)),
        ("empty.npy", npy("<f4", &[0, 3], &[])),
        ("cols.npy", npy_fortran("<f4", &[100, 60], &f32s)),
        ("coef.npy", npy("<f8", &[500], &f64_weights(&mut rng, 500))),
    ]);
    let layout = tensors::detect(&file).unwrap();
    assert_eq!(layout.container, Container::Npz);
    assert_eq!(layout.tensors.len(), 6);
    let t = &layout.tensors[0];
    assert_eq!(
        (t.name.as_str(), t.shape.as_slice()),
        ("dense.weight", &[60u64, 100][..])
    );
    assert_eq!(&file[t.start as usize..t.end as usize], &f32s[..]);
    // An empty array is an entry of the archive, as in safetensors; a Fortran-order one keeps
    // its shape.
    let t = &layout.tensors[3];
    assert_eq!(
        (t.name.as_str(), t.shape.as_slice()),
        ("empty", &[0u64, 3][..])
    );
    assert_eq!(t.start, t.end);
    let t = &layout.tensors[4];
    assert_eq!(
        (t.name.as_str(), t.shape.as_slice()),
        ("cols", &[100u64, 60][..])
    );
    assert_eq!(t.label, "<f4 (Fortran order)");
    check(
        &file,
        &[
            ("dense.weight", DType::F32),
            ("emb", DType::F16),
            ("position_ids", DType::Bytes),
            ("empty", DType::F32),
            ("cols", DType::F32),
            ("coef", DType::F64),
        ],
    );
    // A zip of neither .npy arrays nor torch storages is no container; one whose arrays are
    // all deflated (numpy's savez_compressed) is still an npz, of no tensors coded in place.
    assert!(tensors::detect(&stored_zip(&[("readme.txt", b"hello ".repeat(50))])).is_none());
    let mut deflated = stored_zip(&[("mel.npy", npy("<f4", &[4], &f32s[..16]))]);
    let central = deflated.len() - 22 - (46 + "mel.npy".len());
    deflated[central + 10] = 8; // method: deflate
    let layout = tensors::detect(&deflated).unwrap();
    assert_eq!(
        (layout.container, layout.tensors.len()),
        (Container::Npz, 0)
    );

    // One array on its own.
    let one = npy("<f2", &[50, 100], &f16s);
    let layout = tensors::detect(&one).unwrap();
    assert_eq!(layout.container, Container::Npy);
    assert_eq!(layout.tensors[0].end - layout.tensors[0].start, 10_000);
    check(&one, &[("array", DType::F16)]);
    // Hostile headers and directories never panic; what is found lies inside the file.
    for base in [&file, &one] {
        for i in 0..1500 {
            let mut bad = base.clone();
            let at = rng.below(300.min(bad.len() as u64)) as usize;
            let at = if i % 2 == 0 { at } else { bad.len() - 1 - at };
            bad[at] = rng.next() as u8;
            assert_layout_sound(&bad);
            if i % 300 == 0 {
                check(&bad, &[]);
            }
        }
    }
}

#[test]
fn raw_files_get_a_measured_type_with_auto() {
    let mut rng = Rng(37);
    let data = bf16_weights(&mut rng, 200_000);
    let opts = Options {
        dtype: DTypeChoice::Auto,
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    assert_eq!(znw::inspect(&packed).unwrap().segments[0].dtype, "bf16");
    let data = f64_weights(&mut rng, 100_000);
    let packed = znw::compress(&data, &opts).unwrap();
    assert_eq!(znw::inspect(&packed).unwrap().segments[0].dtype, "fp64");
    let random = rng.bytes(100_000);
    let packed = znw::compress(&random, &opts).unwrap();
    assert_eq!(znw::inspect(&packed).unwrap().segments[0].dtype, "bytes");
}

fn model(name: &str) -> Option<Vec<u8>> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name);
    std::fs::read(p).ok().or_else(|| {
        assert!(
            std::env::var("ZIPNN_SKIP_MODELS").is_ok(),
            "models/{name} missing: run scripts/fetch-models.sh"
        );
        None
    })
}

#[test]
fn onnx_initializers_are_found() {
    let Some(file) = model("silero_vad.onnx") else {
        return;
    };
    let layout = tensors::detect(&file).unwrap();
    assert_eq!(layout.container, zipnn_wasm::format::Container::Onnx);
    let floats = layout
        .tensors
        .iter()
        .filter(|t| t.dtype == Some(DType::F32))
        .count();
    assert!(floats > 10, "{floats} float tensors");
    let bytes: u64 = layout.tensors.iter().map(|t| t.end - t.start).sum();
    assert!(
        bytes > file.len() as u64 / 2,
        "tensors cover {bytes} of {} bytes",
        file.len()
    );
}

#[test]
fn pytorch_zip_storages_are_found() {
    let Some(file) = model("english_g2.pth") else {
        return;
    };
    let layout = tensors::detect(&file).unwrap();
    assert_eq!(layout.container, zipnn_wasm::format::Container::PytorchZip);
    assert!(layout.tensors.len() > 20);
    let packed = znw::compress(&file, &Options::default()).unwrap();
    let report = znw::inspect(&packed).unwrap();
    let f32s = report.segments.iter().filter(|s| s.dtype == "fp32").count();
    let all: Vec<_> = report
        .segments
        .iter()
        .map(|s| (s.dtype, s.length))
        .collect();
    assert!(f32s > 20, "storages measured as fp32: {f32s} {all:?}");
    assert!((packed.len() as f64) < 0.84 * file.len() as f64);
    // Named from its pickle: 44 tensors, of which the 16 of two LSTMs are views into one
    // flattened storage each (those keep their member names); the rest hold a storage each.
    let named: Vec<_> = layout
        .tensors
        .iter()
        .filter(|t| !t.name.contains("/data/"))
        .collect();
    assert_eq!(named.len(), layout.tensors.len() - 2);
    // (BatchNorm's step counters are 0-dimensional int64 tensors.)
    for t in &named {
        let scalar = t.name.ends_with("num_batches_tracked") && t.label == "int64";
        assert!(
            t.name.starts_with("module.") && (t.shape.is_empty() == scalar),
            "{t:?}"
        );
    }
    let conv = named
        .iter()
        .find(|t| t.name == "module.FeatureExtraction.ConvNet.18.weight")
        .unwrap();
    assert_eq!(
        (conv.label.as_str(), &conv.shape[..]),
        ("float32", &[256, 256, 2, 2][..])
    );
    assert_eq!(conv.end - conv.start, 256 * 256 * 2 * 2 * 4);
    assert!(layout
        .tensors
        .iter()
        .all(|t| t.label == "float32" || t.label == "int64"));
    // The names are what the file carries and what `--tensor` finds.
    assert!(report
        .segments
        .iter()
        .any(|s| s.name == conv.name && s.shape == conv.shape));
}

#[test]
fn long_names_and_labels_cut_inside_a_character_round_trip() {
    // The segment table stores at most 255 bytes of a label and 65535 of a name: a cut inside
    // a multi-byte character wrote a table the decoder refused as not UTF-8.
    let mut rng = Rng(61);
    let data = f32_weights(&mut rng, 64);
    let descr = format!("<{}é", "f".repeat(253)); // 'é' spans bytes 254..256
    let file = npy(&descr, &[64], &data);
    assert_eq!(tensors::detect(&file).unwrap().tensors[0].label, descr);
    check(&file, &[]);
    let name = format!("{}é", "w".repeat(65_534)); // 'é' spans bytes 65534..65536
    let file = tflite(&[(&name, 0, vec![64], data)]);
    assert_eq!(tensors::detect(&file).unwrap().tensors[0].name, name);
    check(&file, &[]);
}

/// Bytes a reader's tensors hold of their own (names, labels, shapes as `u64`s).
fn held(ts: &[tensors::Tensor]) -> usize {
    ts.iter()
        .map(|t| t.name.len() + t.label.len() + 8 * t.shape.len())
        .sum()
}

/// A protobuf length-delimited field: tag `n`, a varint length, the bytes.
fn pb_field(n: u8, b: &[u8]) -> Vec<u8> {
    let mut f = vec![n << 3 | 2];
    let mut len = b.len();
    while len >= 0x80 {
        f.push(len as u8 | 0x80);
        len >>= 7;
    }
    f.push(len as u8);
    f.extend_from_slice(b);
    f
}

#[test]
fn shared_names_and_shapes_are_not_copied_per_reference() {
    use zipnn_wasm::format::{onnx, tflite, zip};
    let put = |o: &mut Vec<u8>, at: usize, v: u32| o[at..at + 4].copy_from_slice(&v.to_le_bytes());

    // .npz: 1000 directory entries naming one member whose .npy header has 20,000 dimensions.
    let dims = "1, ".repeat(20_000);
    let h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}\n");
    let mut member = b"\x93NUMPY\x02\x00".to_vec();
    member.extend_from_slice(&(h.len() as u32).to_le_bytes());
    member.extend_from_slice(h.as_bytes());
    member.extend_from_slice(&[0; 4]);
    let mut npz = stored_zip(&[("a.npy", member)]);
    let eocd = npz.len() - 22;
    let entry = npz[eocd - 51..eocd].to_vec(); // the one central entry (46 + "a.npy")
    npz.truncate(eocd - 51);
    let cd = npz.len() as u32;
    for _ in 0..1000 {
        npz.extend_from_slice(&entry);
    }
    npz.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    npz.extend_from_slice(&[0; 4]);
    npz.extend_from_slice(&1000u16.to_le_bytes());
    npz.extend_from_slice(&1000u16.to_le_bytes());
    npz.extend_from_slice(&(1000 * 51u32).to_le_bytes());
    npz.extend_from_slice(&cd.to_le_bytes());
    npz.extend_from_slice(&[0; 2]);
    let (_, ts) = zip::tensors(&npz).unwrap();
    assert_eq!(ts.len(), 1);
    assert!(held(&ts) <= 8 * npz.len());

    // TFLite: 2000 tensors, each its own buffer, all naming one 8,000-byte string and one
    // 2,000-dimension shape.
    let (n, dims, name_len) = (2000usize, 2000usize, 8000usize);
    let mut o = vec![0u8; 8];
    o[4..8].copy_from_slice(b"TFL3");
    // model vtable at 8 (subgraphs = field 2, buffers = field 4), table at 24
    for v in [14u16, 12, 0, 0, 4, 0, 8, 0] {
        o.extend_from_slice(&v.to_le_bytes());
    }
    o.extend_from_slice(&16i32.to_le_bytes());
    o.extend_from_slice(&[0; 8]);
    put(&mut o, 0, 24);
    // subgraphs vector at 36 -> subgraph vtable at 44, table at 52 (tensors = field 0)
    o.extend_from_slice(&1u32.to_le_bytes());
    o.extend_from_slice(&(52u32 - 40).to_le_bytes());
    put(&mut o, 28, 36 - 28);
    for v in [6u16, 8, 4, 0] {
        o.extend_from_slice(&v.to_le_bytes());
    }
    o.extend_from_slice(&8i32.to_le_bytes());
    o.extend_from_slice(&4u32.to_le_bytes()); // tensors vector right after: at 60
    o.extend_from_slice(&(n as u32).to_le_bytes());
    o.resize(64 + 4 * n, 0);
    let tvt = o.len(); // tensor vtable: shape, type, buffer, name
    for v in [12u16, 20, 4, 8, 12, 16] {
        o.extend_from_slice(&v.to_le_bytes());
    }
    let tables = o.len();
    let (shape_at, name_at) = (tables + 20 * n, tables + 20 * n + 4 + 4 * dims);
    for i in 0..n {
        let t = o.len();
        put(&mut o, 64 + 4 * i, (t - 64 - 4 * i) as u32);
        o.extend_from_slice(&((t - tvt) as i32).to_le_bytes());
        o.extend_from_slice(&((shape_at - t - 4) as u32).to_le_bytes());
        o.extend_from_slice(&0u32.to_le_bytes());
        o.extend_from_slice(&(i as u32 + 1).to_le_bytes());
        o.extend_from_slice(&((name_at - t - 16) as u32).to_le_bytes());
    }
    o.extend_from_slice(&(dims as u32).to_le_bytes());
    o.extend(std::iter::repeat_n(1u32.to_le_bytes(), dims).flatten());
    o.extend_from_slice(&(name_len as u32).to_le_bytes());
    o.resize(o.len() + name_len, b'w');
    // buffers: n + 1 entries, all one table whose data is 4 bytes
    let bv = o.len();
    put(&mut o, 32, (bv - 32) as u32);
    o.extend_from_slice(&(n as u32 + 1).to_le_bytes());
    let bvt = bv + 4 + 4 * (n + 1);
    for i in 0..=n {
        let slot = bv + 4 + 4 * i;
        o.extend_from_slice(&((bvt + 8 - slot) as u32).to_le_bytes());
    }
    o.extend_from_slice(&[6, 0, 8, 0, 4, 0, 0, 0]);
    o.extend_from_slice(&8i32.to_le_bytes());
    o.extend_from_slice(&4u32.to_le_bytes());
    o.extend_from_slice(&4u32.to_le_bytes());
    o.extend_from_slice(&[1, 2, 3, 4]);
    assert!(tflite::tensors(&o).is_none_or(|ts| held(&ts) <= 8 * o.len()));

    // ONNX: one node with a 60,000-byte name and 1000 unnamed constant tensors.
    let field = pb_field;
    let mut tensor = vec![0x10, 1]; // data_type FLOAT
    tensor.extend(field(9, &[0; 64]));
    let attr = field(5, &field(5, &tensor));
    let mut node = field(3, &vec![b'n'; 60_000]);
    for _ in 0..1000 {
        node.extend_from_slice(&attr);
    }
    let mut model = vec![0x08, 0x08];
    model.extend(field(7, &field(1, &node)));
    let ts = onnx::tensors(&model).unwrap();
    assert_eq!(ts.len(), 1000);
    assert!(held(&ts) <= 8 * model.len());
}

/// ONNX float64 tensors, in raw_data (data_type DOUBLE) and in the packed double_data field,
/// are coded as float64; and float64 groups beat coding the same weights as bytes.
#[test]
fn onnx_doubles_are_float64() {
    use zipnn_wasm::format::onnx;
    let field = pb_field;
    let mut rng = Rng(59);
    let (raw, packed) = (f64_weights(&mut rng, 4000), f64_weights(&mut rng, 4000));
    // dims = [4000] (varint A0 1F), data_type = DOUBLE
    let mut a = vec![0x08, 0xA0, 0x1F, 0x10, 11];
    a.extend(field(8, b"w_raw"));
    a.extend(field(9, &raw));
    let mut b = vec![0x08, 0xA0, 0x1F, 0x10, 11];
    b.extend(field(8, b"w_packed"));
    b.extend(field(10, &packed));
    let mut graph = field(5, &a);
    graph.extend(field(5, &b));
    let mut model = vec![0x08, 0x08];
    model.extend(field(7, &graph));
    let ts = onnx::tensors(&model).unwrap();
    let found: Vec<_> = ts
        .iter()
        .map(|t| (t.name.as_str(), t.label.as_str(), t.dtype, t.end - t.start))
        .collect();
    assert_eq!(
        found,
        [
            ("w_raw", "DOUBLE", Some(DType::F64), 32_000),
            ("w_packed", "DOUBLE", Some(DType::F64), 32_000)
        ]
    );
    check(&model, &[("w_raw", DType::F64), ("w_packed", DType::F64)]);

    let size = |dtype| {
        let opts = Options {
            dtype: DTypeChoice::Fixed(dtype),
            ..Options::default()
        };
        znw::compress(&raw, &opts).unwrap().len() as f64 / raw.len() as f64
    };
    let (grouped, bytes) = (size(DType::F64), size(DType::Bytes));
    assert!(
        grouped < 0.9 && grouped < bytes * 0.96,
        "{grouped} against {bytes}"
    );
}

/// A float64 table whose repeats start past its first 16 KiB (a column-major table: a first
/// column of distinct values, then columns that copy earlier runs) is coded as whole
/// elements, as small as plain bytes code it: split into eight groups its copies cost 40 %
/// more (scipy's levy_stable sample data: 48.5 against 68.1 KB).
#[test]
fn float64_tables_keep_their_copies() {
    let mut rng = Rng(61);
    let distinct = f64_weights(&mut rng, 3000);
    // Copies of 10 elements: 80 bytes whole, 10 in each group (too short for LZ there).
    let runs: Vec<u8> = (0..200)
        .flat_map(|_| {
            let at = 8 * (rng.below(2990) as usize);
            distinct[at..at + 80].to_vec()
        })
        .collect();
    let table = [&distinct[..], &runs[..]].concat();
    let file = npy_fortran("<f8", &[5000, 1], &table);
    let packed = znw::compress(&file, &Options::default()).unwrap();
    assert!(zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == file);
    let bytes = Options {
        dtype: DTypeChoice::Fixed(DType::Bytes),
        ..Options::default()
    };
    let as_bytes = znw::compress(&table, &bytes).unwrap().len();
    assert!(
        packed.len() < as_bytes + 200,
        "{} against {as_bytes} as bytes",
        packed.len()
    );
}

/// A [`Source`] that counts what is read through it.
struct Counted<'a> {
    data: &'a [u8],
    read: usize,
    largest: usize,
}

impl Source for Counted<'_> {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
    fn read(&mut self, pos: u64, len: usize) -> Result<&[u8], zipnn_wasm::Error> {
        self.read += len;
        self.largest = self.largest.max(len);
        self.data
            .get(pos as usize..pos as usize + len)
            .ok_or(zipnn_wasm::Error::Truncated)
    }
}

/// `inspect_source` reports what `inspect` of the whole file does while reading its headers,
/// the record and block heads and at most a 4 MiB sample (a file larger than memory, or than
/// wasm memory, can be inspected): for every format (the 12 MiB files take 8–15 MB packed).
#[test]
fn inspect_source_reads_headers_not_the_file() {
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    let mut rng = Rng(33);
    let w = bf16_weights(&mut rng, 6 << 20);
    let file = safetensors(&[
        ("a", "BF16", vec![3 << 20], w[..6 << 20].to_vec()),
        ("b", "F32", vec![3 << 20], f32_weights(&mut rng, 3 << 20)),
    ]);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/zipnn/st_minilm_meta.znn.safetensors");
    let cases = [
        (
            "safetensors .znw",
            znw::compress(&file, &Options::default()).unwrap(),
            64 << 10,
        ),
        (
            "raw bytes .znw (a sample decoded)",
            znw::compress(
                &w,
                &Options {
                    dtype: DTypeChoice::Fixed(DType::Bytes),
                    ..Options::default()
                },
            )
            .unwrap(),
            9 << 19,
        ),
        (
            "ZipNN frames",
            zipnn::compress(&w, &ZipnnOptions::new(ZDType::BF16)).unwrap(),
            64 << 10,
        ),
        (
            ".znn.safetensors",
            std::fs::read(fixture).unwrap(),
            64 << 10,
        ),
    ];
    for (name, packed, most) in cases {
        let whole = zipnn_wasm::inspect(&packed).unwrap();
        let mut src = Counted {
            data: &packed,
            read: 0,
            largest: 0,
        };
        assert_eq!(
            zipnn_wasm::inspect_source(&mut src).unwrap(),
            whole,
            "{name}"
        );
        assert!(
            src.read < most && src.largest <= 4 << 20,
            "{name}: read {} bytes of {} (at most {} at once)",
            src.read,
            packed.len(),
            src.largest
        );
        if name == "raw bytes .znw (a sample decoded)" {
            assert_eq!(whole.suggestion.unwrap().dtype, "bf16");
        }
    }
    // Not compressed: refused from its first bytes (the first 8 of random data name a "JSON
    // header" of up to 100 MB, which was read), or from a safetensors file's header.
    let mut random = w[..4 << 20].to_vec();
    random[..8].copy_from_slice(&3_000_000u64.to_le_bytes());
    for (name, plain, most) in [("random", &random, 64), ("safetensors", &file, 64 << 10)] {
        let mut src = Counted {
            data: plain,
            read: 0,
            largest: 0,
        };
        let e = zipnn_wasm::inspect_source(&mut src).unwrap_err();
        assert_eq!(e, zipnn_wasm::Error::NotCompressed, "{name}");
        assert!(src.read < most, "{name}: read {} bytes", src.read);
    }
}

/// `inspect_source` walks a file larger than 4 GiB (257 stored chunks of 16 MiB, served a
/// piece at a time): every offset is 64-bit, in wasm32 too (tests/wasm.rs).
#[test]
fn inspect_source_walks_a_file_past_4_gib() {
    use zipnn_wasm::format::Source;
    let mut src = BigZnw::new(257);
    let size = src.size();
    assert!(size > 1 << 32);
    let r = zipnn_wasm::inspect_source(&mut src).unwrap();
    assert_eq!((r.format, r.container), ("znw", "raw"));
    assert_eq!(r.total_size, 257 * BigZnw::CHUNK as u64);
    assert_eq!((r.compressed_size, r.chunks), (size, 257));
    let raw: Vec<_> = r
        .modes
        .iter()
        .map(|m| (m.name, m.blocks, m.bytes))
        .collect();
    assert_eq!(raw, [("raw", 257, 257 * (1 + BigZnw::CHUNK as u64))]);
}
