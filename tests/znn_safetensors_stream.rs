//! `.znn.safetensors` files that list their compressed tensors, restored as a stream
//! (`stream::ZnnSafetensorsDecoder`, through `AutoDecoder::znn_safetensors`): the same bytes as
//! the whole-file decoder for any cutting of the input, a sink that pauses, files cut short,
//! longer or damaged (then an error, and only a prefix of the right bytes before it).

use std::path::PathBuf;
use zipnn_wasm::format::safetensors as st;
use zipnn_wasm::format::znw::Header;
use zipnn_wasm::stream::{AutoDecoder, Sink};
use zipnn_wasm::{Error, Limits};

fn fixture(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zipnn");
    std::fs::read(dir.join(name)).unwrap()
}

/// Collects what the decoder hands out; "full" once `cap` bytes wait (drained by the driver).
#[derive(Default)]
struct Collect {
    out: Vec<u8>,
    header: Option<Header>,
    waiting: usize,
    cap: Option<usize>,
}

impl Sink for Collect {
    fn header(&mut self, h: &Header) -> Result<(), Error> {
        assert!(self.header.is_none() && self.out.is_empty());
        self.header = Some(h.clone());
        Ok(())
    }
    fn data(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        assert_eq!(offset, self.out.len() as u64, "data out of order");
        self.out.extend_from_slice(bytes);
        self.waiting += bytes.len();
        Ok(())
    }
    fn full(&self) -> bool {
        self.cap.is_some_and(|c| self.waiting >= c)
    }
}

/// Feeds `file` in pieces of the lengths `cut` gives, as the wasm StreamDecoder does with
/// `push_units` (keeping what was not used); with `cap`, the sink pauses the decoder.
fn stream(
    file: &[u8],
    mut cut: impl FnMut() -> usize,
    cap: Option<usize>,
) -> (Result<(), Error>, Collect) {
    let mut dec = AutoDecoder::znn_safetensors(Limits::default());
    let mut sink = Collect {
        cap,
        ..Collect::default()
    };
    let mut held: Vec<u8> = Vec::new();
    let mut at = 0;
    let r = (|| {
        loop {
            let n = cut().max(1).min(file.len() - at);
            held.extend_from_slice(&file[at..at + n]);
            at += n;
            loop {
                sink.waiting = 0; // drained
                let used = dec.push_units(&held, &mut sink)?;
                held.drain(..used);
                if !dec.busy() && (held.is_empty() || used == 0 && !sink.full()) {
                    break;
                }
            }
            if at == file.len() {
                assert!(held.is_empty(), "input left over");
                return dec.finish();
            }
        }
    })();
    (r, sink)
}

fn whole(file: &[u8]) -> Result<Vec<u8>, Error> {
    zipnn_wasm::decompress(file, &Limits::default())
}

/// A safetensors file of `tensors` (name, dtype, shape, bytes) with `meta` as
/// `znn_compressed_vectors`, and `gap` bytes of padding before each tensor's data.
fn znn_file(tensors: &[(&str, &str, Vec<u64>, Vec<u8>)], meta: &str, gap: usize) -> Vec<u8> {
    let mut obj = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        data.extend(std::iter::repeat_n(0x5a, gap));
        let start = data.len();
        data.extend_from_slice(bytes);
        obj.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    obj.insert(
        "__metadata__".into(),
        serde_json::json!({ "znn_compressed_vectors": meta, "format": "pt" }),
    );
    let json = serde_json::to_vec(&obj).unwrap();
    let mut f = (json.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(&json);
    f.extend_from_slice(&data);
    f
}

/// Frames from zipnn's own fixtures (several chunks, every dtype) as compressed tensors, with
/// tensors stored as they are between them, padding between all, and empty tensors last.
fn composed(gap: usize) -> Vec<u8> {
    let frames = [
        ("a.bf16", "bf16_3chunks_mixed", "bfloat16", 2),
        ("b.fp32", "fp32_chunk64k_3chunks", "float32", 4),
        ("c.e4m3", "e4m3_2chunks", "float8_e4m3fn", 1),
        ("d.bf16", "bf16_chunk4k", "bfloat16", 2),
        ("e.fp16", "fp16_minilm_16k", "float16", 2),
        ("f.empty", "bf16_empty", "bfloat16", 2),
    ];
    let mut tensors = Vec::new();
    let mut meta = serde_json::Map::new();
    for (i, (name, fx, torch, size)) in frames.iter().enumerate() {
        let frame = fixture(&format!("{fx}.znn"));
        let elems = fixture(&format!("{fx}.bin")).len() / size;
        meta.insert(
            name.to_string(),
            serde_json::json!({"dtype": torch, "shape": format!("[{elems}]")}),
        );
        tensors.push((*name, "U8", vec![frame.len() as u64], frame));
        let raw: Vec<u8> = (0..1000 * i).map(|j| (j * 7 + i) as u8).collect();
        tensors.push((
            ["r0", "r1", "r2", "r3", "r4", "r5"][i],
            "U8",
            vec![raw.len() as u64],
            raw,
        ));
    }
    tensors.push(("z.empty", "F32", vec![0], Vec::new()));
    znn_file(&tensors, &serde_json::to_string(&meta).unwrap(), gap)
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "st_minilm_meta".into(),
            fixture("st_minilm_meta.znn.safetensors"),
        ),
        ("composed".into(), composed(0)),
        ("composed with padding".into(), composed(13)),
    ]
}

#[test]
fn any_cutting_gives_the_whole_file_decoders_bytes() {
    for (name, file) in inputs() {
        let want = whole(&file).unwrap();
        let mut seed = 1u64;
        let mut random = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            1 + (seed >> 33) as usize % 70_000
        };
        let cuts: [&mut dyn FnMut() -> usize; 5] = [
            &mut || file.len(),
            &mut || 1,
            &mut || 7,
            &mut || 4096,
            &mut random,
        ];
        for (i, cut) in cuts.into_iter().enumerate() {
            for cap in [None, Some(1), Some(100_000)] {
                let (r, sink) = stream(&file, &mut *cut, cap);
                r.unwrap_or_else(|e| panic!("{name}, cutting {i}, cap {cap:?}: {e}"));
                assert!(
                    sink.out == want,
                    "{name}, cutting {i}, cap {cap:?}: bytes differ"
                );
                // The tensor table is known from the JSON header: the restored file's.
                let h = sink.header.unwrap();
                assert_eq!(h.total_size, Some(want.len() as u64));
                let restored = st::parse(&want, want.len() as u64).unwrap();
                let named: Vec<_> = h
                    .segments
                    .iter()
                    .skip(1)
                    .map(|s| (&s.name, &s.label, &s.shape, s.offset, s.length))
                    .collect();
                let expect: Vec<_> = restored
                    .tensors
                    .iter()
                    .map(|t| (&t.name, &t.dtype, &t.shape, t.start, t.end - t.start))
                    .collect();
                assert_eq!(named, expect, "{name}");
                assert_eq!(
                    (h.segments[0].offset, h.segments[0].length),
                    (0, restored.data_start)
                );
            }
        }
    }
}

#[test]
fn output_comes_before_the_input_ends() {
    // The header as soon as the JSON is in, then each tensor once it is complete (stored bytes
    // as they come): all but the last byte of the last stored tensor before the input ends.
    let file = composed(0);
    let want = whole(&file).unwrap();
    let mut dec = AutoDecoder::znn_safetensors(Limits::default());
    let mut sink = Collect::default();
    let json_end = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    dec.push(&file[..json_end], &mut sink).unwrap();
    let restored = st::parse(&want, want.len() as u64).unwrap();
    assert_eq!(sink.out.len() as u64, restored.data_start);
    assert!(sink.header.is_some());
    dec.push(&file[json_end..file.len() - 1], &mut sink)
        .unwrap();
    assert_eq!(sink.out.len(), want.len() - 1);
    assert!(want.starts_with(&sink.out));
    dec.push(&file[file.len() - 1..], &mut sink).unwrap();
    dec.finish().unwrap();
    assert!(sink.out == want);
}

#[test]
fn cut_short_or_longer_is_an_error_after_right_bytes_only() {
    for (name, file) in inputs() {
        let want = whole(&file).unwrap();
        let step = (file.len() / 300).max(1);
        for len in (0..file.len()).step_by(step).chain([file.len() - 1]) {
            let (r, sink) = stream(&file[..len], || 5000, None);
            assert_eq!(
                r.map_err(|e| e.code()),
                Err("ZNN_TRUNCATED"),
                "{name} cut at {len}"
            );
            assert!(
                want.starts_with(&sink.out),
                "{name} cut at {len}: wrong bytes out"
            );
        }
        let mut longer = file.clone();
        longer.push(0);
        let (r, _) = stream(&longer, || 3000, None);
        let e = r.unwrap_err();
        let w = whole(&longer).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string()),
            (w.code(), w.to_string()),
            "{name}"
        );
    }
}

#[test]
fn damage_is_found_as_the_whole_file_decoder_finds_it() {
    let mut errors = 0;
    for (name, file) in inputs() {
        let step = (file.len() / 400).max(1);
        for at in (0..file.len()).step_by(step) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = file.clone();
                bad[at] ^= flip;
                let (r, sink) = stream(&bad, || 2000, None);
                match (&r, whole(&bad)) {
                    // No checksums in ZipNN's format: most changed bytes in a frame "decode".
                    (Ok(()), Ok(out)) => assert!(sink.out == out, "{name} @{at}^{flip:#x}"),
                    // The streaming decoder meets damage in file order, the whole-file one
                    // checks every frame header first; with one byte changed they say the
                    // same, except that a JSON header damaged past reading is "not compressed"
                    // to the whole-file decoder, which must recognise the format (the stream
                    // was told it).
                    (Err(e), Err(w)) => {
                        assert!(
                            e.code() == w.code()
                                || w.code() == "ZNN_NOT_COMPRESSED" && e.code() == "ZNN_CORRUPT",
                            "{name} @{at}^{flip:#x}: stream {e}, whole {w}"
                        );
                        errors += 1;
                    }
                    (r, w) => panic!(
                        "{name} @{at}^{flip:#x}: stream {r:?}, whole {:?}",
                        w.map(|o| o.len())
                    ),
                }
            }
        }
    }
    assert!(errors > 500, "{errors}");
}

#[test]
fn a_file_without_the_list_is_refused_with_a_reason() {
    let file = fixture("st_minilm_nometa.znn.safetensors");
    let (r, sink) = stream(&file, || 4096, None);
    let e = r.unwrap_err();
    assert_eq!(e.code(), "ZNN_INVALID_INPUT");
    assert!(e.to_string().contains("decode it whole"), "{e}");
    assert!(sink.out.is_empty());
}

#[test]
fn a_listed_tensor_of_no_bytes_is_refused_as_the_whole_file_decoder_refuses_it() {
    // Listed as compressed but empty: no frame to read, at the end of the file or before others.
    let frame = fixture("bf16_normal_8k.znn");
    let meta = r#"{"a": {"dtype": "bfloat16", "shape": "[0]"}, "b": {"dtype": "bfloat16", "shape": "[4096]"}}"#;
    for tensors in [
        vec![("a", "U8", vec![0], Vec::new())],
        vec![
            ("a", "U8", vec![0], Vec::new()),
            ("b", "U8", vec![frame.len() as u64], frame.clone()),
        ],
    ] {
        let file = znn_file(&tensors, meta, 0);
        let (r, sink) = stream(&file, || 100, None);
        let (e, w) = (r.unwrap_err(), whole(&file).unwrap_err());
        assert_eq!((e.code(), e.to_string()), (w.code(), w.to_string()));
        assert!(sink.out.len() < 200, "only the restored header came out");
    }
}

/// A listed tensor that ends inside its frame header (a 10-byte tensor, or a 40-byte one whose
/// header's shape block needs 46 more bytes): the file is all there, so both decoders call it
/// damage, not a file cut short.
#[test]
fn a_frame_header_past_its_tensor_is_corrupt_not_truncated() {
    let meta = r#"{"t": {"dtype": "float32", "shape": "[1]"}}"#;
    let short = fixture("bf16_normal_8k.znn")[..10].to_vec();
    let mut shaped = b"ZN\x00\x05\x04\xdc\x01\x00\x02\x00\x00\x00\x00\x00\x11\x01".to_vec();
    shaped.extend_from_slice(&[4, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0]);
    shaped.extend_from_slice(&[5, 1, 1, 1, 1, 1, 1, 1]);
    for frame in [short, shaped] {
        let file = znn_file(&[("t", "U8", vec![frame.len() as u64], frame)], meta, 0);
        let (r, _) = stream(&file, || 7, None);
        let (e, w) = (r.unwrap_err(), whole(&file).unwrap_err());
        assert_eq!((e.code(), e.to_string()), (w.code(), w.to_string()));
        assert_eq!(e.code(), "ZNN_CORRUPT", "{e}");
    }
}

/// Read at offsets (`format::open_random_access`), a file restores as a whole decode restores
/// it: here tensors of no bytes and of different types share an offset, which the restored
/// header lists in another order than the file's (by type, then name).
#[test]
fn reads_at_offsets_give_the_whole_decodes_bytes_and_tensors() {
    let frame = fixture("bf16_normal_8k.znn");
    let meta = r#"{"m": {"dtype": "bfloat16", "shape": "[4096]"}}"#;
    let mut inputs = inputs();
    let file = znn_file(
        &[
            ("a.empty", "F32", vec![0], Vec::new()),
            ("b.empty", "BF16", vec![0], Vec::new()),
            ("c.empty", "I64", vec![0, 3], Vec::new()),
            ("m", "U8", vec![frame.len() as u64], frame),
            ("n", "F16", vec![3], vec![1, 2, 3, 4, 5, 6]),
            ("o.empty", "U8", vec![0], Vec::new()),
        ],
        meta,
        0,
    );
    inputs.push(("empty tensors of several types".into(), file));
    for (name, file) in inputs {
        let want = whole(&file).unwrap();
        let mut src: &[u8] = &file;
        let mut ra = zipnn_wasm::format::open_random_access(&mut src, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut got = vec![0; want.len()];
        ra.read_at(&mut src, 0, &mut got).unwrap();
        assert!(got == want, "{name}");
        let header = st::parse(&want, want.len() as u64).unwrap();
        let segs = ra.segments().to_vec();
        assert_eq!(segs.len(), header.tensors.len() + 1, "{name}");
        for t in &header.tensors {
            let s = segs.iter().find(|s| s.name == t.name).unwrap();
            assert_eq!(
                (&s.label, &s.shape),
                (&t.dtype, &t.shape),
                "{name}: {}",
                t.name
            );
            let mut dst = vec![0; s.length as usize];
            ra.read_at(&mut src, s.offset, &mut dst).unwrap();
            assert!(
                dst == want[t.start as usize..t.end as usize],
                "{name}: {}",
                t.name
            );
        }
    }
}
