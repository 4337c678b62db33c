//! The zero-copy streaming path the wasm StreamDecoder uses: the caller holds the input
//! (`push_units` takes only whole units and says how much it used) and the sink takes decoded
//! chunks in place (`Sink::space` / `Sink::commit`).

mod common;

use common::*;
use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::stream::{AutoDecoder, Sink};
use zipnn_wasm::{DType, Error, Limits};

/// A sink that takes chunks in place and records where they were committed.
#[derive(Default, Debug)]
struct InPlace {
    out: Vec<u8>,
    filled: usize,
    commits: Vec<(u64, usize)>,
    copied: usize,
}

impl Sink for InPlace {
    fn data(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        // ZipNN frames still come this way, a chunk at a time.
        assert_eq!(offset, self.filled as u64, "chunks handed over in order");
        self.out.truncate(self.filled);
        self.out.extend_from_slice(bytes);
        self.filled += bytes.len();
        self.copied += bytes.len();
        Ok(())
    }
    fn space(&mut self, len: usize) -> Option<&mut [u8]> {
        // Garbage where the chunk goes: the decoder must overwrite every byte it commits.
        self.out.resize(self.filled, 0);
        self.out.resize(self.filled + len, 0xA5);
        Some(&mut self.out[self.filled..])
    }
    fn commit(&mut self, offset: u64, len: usize) -> Result<(), Error> {
        assert_eq!(offset, self.filled as u64, "chunks committed in order");
        self.commits.push((offset, len));
        self.filled += len;
        Ok(())
    }
}

/// Feeds `packed` as the JS wrapper does: pieces (cut by `cut`) are appended to a buffer the
/// caller owns, `push_units` decodes the whole units in it, the rest waits for more bytes.
/// Checks that nothing complete is left waiting and that the held bytes stay below one unit.
fn staged_decode(
    packed: &[u8],
    mut cut: impl FnMut() -> usize,
) -> Result<(InPlace, usize), (Error, InPlace)> {
    let mut dec = AutoDecoder::new(Limits::default());
    let mut sink = InPlace::default();
    let mut held: Vec<u8> = Vec::new();
    let mut most_held = 0;
    let mut rest = packed;
    while !rest.is_empty() {
        let n = cut().clamp(1, rest.len());
        held.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let used = match dec.push_units(&held, &mut sink) {
            Ok(u) => u,
            Err(e) => return Err((e, sink)),
        };
        assert!(used <= held.len());
        held.drain(..used);
        assert!(
            held.is_empty() || held.len() < dec.unit_len(),
            "{} bytes held, the next unit needs {}",
            held.len(),
            dec.unit_len()
        );
        most_held = most_held.max(held.len());
    }
    dec.finish().map_err(|e| (e, InPlace::default()))?;
    sink.out.truncate(sink.filled);
    Ok((sink, most_held))
}

fn opts(dtype: DType, chunk_size: u32) -> Options {
    Options {
        dtype: DTypeChoice::Fixed(dtype),
        chunk_size,
        verify: false,
        threads: 1,
        tans: false,
    }
}

#[test]
fn any_split_decodes_in_place() {
    let mut rng = Rng(11);
    let data = bf16_weights(&mut rng, 150_001);
    let chunk = 16 << 10;
    let packed = znw::compress(&data, &opts(DType::BF16, chunk)).unwrap();
    let cuts: [&dyn Fn(&mut Rng) -> usize; 5] = [
        &|_| 1,
        &|_| 7,
        &|_| 4096,
        &|r| r.below(70_000) as usize + 1,
        &|_| usize::MAX,
    ];
    for cut in cuts {
        let (sink, most_held) = staged_decode(&packed, || cut(&mut rng)).unwrap();
        assert!(sink.out == data);
        // Every chunk went in place (no copy through `data`), in order, each at most `chunk`.
        assert_eq!(sink.copied, 0);
        assert_eq!(sink.commits.iter().map(|c| c.1).sum::<usize>(), data.len());
        assert!(sink.commits.iter().all(|c| c.1 <= chunk as usize));
        // Held input stays below one record (header aside, which is smaller here).
        assert!(most_held < chunk as usize * 2, "held {most_held}");
    }
}

#[test]
fn every_dtype_and_adversarial_inputs() {
    for (name, data) in adversarial(4096) {
        for dtype in DType::ALL {
            let packed = znw::compress(&data, &opts(dtype, 4096)).unwrap();
            let mut rng = Rng(data.len() as u64 + 3);
            let (sink, _) = staged_decode(&packed, || rng.below(5000) as usize + 1).unwrap();
            assert!(sink.out == data, "{name} as {dtype}");
        }
    }
}

#[test]
fn push_then_push_units_mix() {
    // Bytes an earlier `push` buffered are completed first, then units come from the caller.
    let mut rng = Rng(5);
    let data = bf16_weights(&mut rng, 40_000);
    let packed = znw::compress(&data, &opts(DType::BF16, 8192)).unwrap();
    for split in [3, 16, 100, 5000, packed.len() / 2] {
        let mut dec = AutoDecoder::new(Limits::default());
        let mut sink = InPlace::default();
        dec.push(&packed[..split], &mut sink).unwrap();
        let mut held = packed[split..].to_vec();
        let used = dec.push_units(&held, &mut sink).unwrap();
        held.drain(..used);
        assert!(held.is_empty(), "a whole file leaves nothing");
        dec.finish().unwrap();
        sink.out.truncate(sink.filled);
        assert!(sink.out == data, "split {split}");
    }
}

#[test]
fn zipnn_frames_are_taken_whole() {
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    let mut rng = Rng(9);
    let data = bf16_weights(&mut rng, 300_000);
    // 128 KiB frames of 16 KiB chunks: each frame goes to the sink a chunk at a time.
    let o = ZipnnOptions {
        streaming_log2: Some(17),
        chunk_log2: 14,
        ..ZipnnOptions::new(ZDType::BF16)
    };
    let packed = zipnn::compress(&data, &o).unwrap();
    let (sink, most_held) = staged_decode(&packed, || rng.below(40_000) as usize + 1).unwrap();
    assert!(sink.out == data);
    assert!(
        most_held < 16,
        "only the detection bytes wait outside the decoder"
    );
}

/// A sink that is full once `cap` bytes wait to be drained (as the wasm stream's is).
struct Capped {
    out: Vec<u8>,
    waiting: usize,
    most_waiting: usize,
    cap: usize,
}

impl Sink for Capped {
    fn data(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        assert_eq!(offset, self.out.len() as u64, "chunks handed over in order");
        self.out.extend_from_slice(bytes);
        self.waiting += bytes.len();
        self.most_waiting = self.most_waiting.max(self.waiting);
        Ok(())
    }
    fn full(&self) -> bool {
        self.waiting >= self.cap
    }
}

#[test]
fn a_single_zipnn_frame_pauses_for_a_full_sink() {
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    let mut rng = Rng(13);
    let data = bf16_weights(&mut rng, 400_000);
    // One frame (not streaming) of 16 KiB chunks: 50 chunks.
    let o = ZipnnOptions {
        chunk_log2: 14,
        ..ZipnnOptions::new(ZDType::BF16)
    };
    let packed = zipnn::compress(&data, &o).unwrap();
    for piece in [packed.len(), 1000] {
        let mut dec = AutoDecoder::new(Limits::default());
        let cap = 40_000;
        let mut sink = Capped {
            out: Vec::new(),
            waiting: 0,
            most_waiting: 0,
            cap,
        };
        let (mut pauses, mut held) = (0, Vec::new());
        for p in packed.chunks(piece) {
            held.extend_from_slice(p);
            // As the wasm stream's commit: push, then drain and go on while the decoder is
            // busy or whole units wait.
            loop {
                let used = dec.push_units(&held, &mut sink).unwrap();
                held.drain(..used);
                // A frame part way out counts what the sink has of it.
                assert_eq!(dec.decoded(), sink.out.len() as u64);
                if !dec.busy() {
                    break;
                }
                assert!(sink.full(), "paused only for a full sink");
                pauses += 1;
                sink.waiting = 0;
            }
        }
        assert!(held.is_empty());
        dec.finish().unwrap();
        assert!(sink.out == data, "pieces of {piece}");
        assert!(
            pauses >= data.len() / (cap + (16 << 10)) - 1,
            "{pauses} pauses"
        );
        // At most the cap plus one chunk waited at once.
        assert!(
            sink.most_waiting < cap + (16 << 10),
            "{} waited",
            sink.most_waiting
        );
    }
}

/// A sink that fails from its second chunk on.
struct FailsLater(u64);

impl Sink for FailsLater {
    fn data(&mut self, _: u64, bytes: &[u8]) -> Result<(), Error> {
        if self.0 > 0 {
            return Err(Error::InvalidInput("disk full".into()));
        }
        self.0 += bytes.len() as u64;
        Ok(())
    }
}

/// A sink's error part way through a ZipNN frame, and input after `finish`, are final (every
/// later call returns them), and `decoded` still counts what the sink took.
#[test]
fn zipnn_errors_are_final_and_decoded_counts_what_went_out() {
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    let mut rng = Rng(17);
    let data = bf16_weights(&mut rng, 100_000);
    let o = ZipnnOptions {
        chunk_log2: 14,
        ..ZipnnOptions::new(ZDType::BF16)
    };
    let packed = zipnn::compress(&data, &o).unwrap();
    let mut dec = AutoDecoder::new(Limits::default());
    let mut sink = FailsLater(0);
    let e = dec.push(&packed, &mut sink).unwrap_err();
    assert_eq!(
        (e.to_string(), sink.0),
        ("invalid input: disk full".into(), 16 << 10)
    );
    assert_eq!(dec.decoded(), sink.0);
    assert_eq!(dec.finish().unwrap_err(), e);
    assert_eq!(dec.push(b"", &mut sink).unwrap_err(), e);

    let mut dec = AutoDecoder::new(Limits::default());
    let mut sink = Capped {
        out: Vec::new(),
        waiting: 0,
        most_waiting: 0,
        cap: usize::MAX,
    };
    dec.push(&packed, &mut sink).unwrap();
    dec.finish().unwrap();
    assert!(sink.out == data);
    let e = dec.push(b"x", &mut sink).unwrap_err();
    assert_eq!(e.code(), "ZNN_INVALID_INPUT", "{e}");
    assert_eq!(dec.finish().unwrap_err(), e);
    assert_eq!(dec.push(b"", &mut sink).unwrap_err(), e);
}

#[test]
fn corrupt_chunk_is_never_committed() {
    let mut rng = Rng(21);
    let data = bf16_weights(&mut rng, 100_000);
    let chunk = 8192usize;
    let mut packed = znw::compress(&data, &opts(DType::BF16, chunk as u32)).unwrap();
    // Chunk boundaries (the encoder cuts equal pieces of at most `chunk` bytes).
    let (_, chunks) = znw::index(&packed, &Default::default()).unwrap();
    let ends: Vec<usize> = chunks
        .iter()
        .map(|c| (c.offset + c.head.raw_len as u64) as usize)
        .collect();
    let at = packed.len() / 2;
    packed[at] ^= 0x10;
    let mut rng = Rng(2);
    let (e, sink) = match staged_decode(&packed, || rng.below(3000) as usize + 1) {
        Ok(_) => panic!("a flipped bit decoded"),
        Err(x) => x,
    };
    assert_eq!(e.code(), "ZNN_CORRUPT", "{e}");
    // What was committed is exactly the chunks before the bad one, and correct.
    assert!(sink.filled > 0 && sink.filled < data.len());
    assert!(
        ends.contains(&sink.filled),
        "{} is not a chunk end",
        sink.filled
    );
    assert!(sink.out[..sink.filled] == data[..sink.filled]);
}

#[test]
fn truncated_input_is_reported() {
    let mut rng = Rng(4);
    let data = bf16_weights(&mut rng, 30_000);
    let packed = znw::compress(&data, &opts(DType::BF16, 4096)).unwrap();
    for end in [1, 15, 16, 40, packed.len() / 2, packed.len() - 1] {
        match staged_decode(&packed[..end], || 1000) {
            Err((e, _)) => assert_eq!(e.code(), "ZNN_TRUNCATED", "end {end}: {e}"),
            Ok(_) => panic!("end {end}: a truncated file decoded"),
        }
    }
}

/// `SizedEncoder`: any input, dtype and chunk size, fed in any pieces, decodes back; the header
/// carries the size; input that does not match the size given is an error, never a file.
#[test]
fn sized_encoder_round_trips_and_holds_to_its_size() {
    use zipnn_wasm::stream::SizedEncoder;
    let mut rng = Rng(7);
    let inputs = [
        Vec::new(),
        vec![3u8],
        bf16_weights(&mut rng, 300_001),
        f32_weights(&mut rng, 70_000),
        special_f32(),
    ];
    for data in &inputs {
        for (dtype, chunk) in [
            (DType::BF16, 4u32),
            (DType::F32, 1024),
            (DType::Bytes, 4096),
        ] {
            for cut in [1usize, 1000, 65_536] {
                let threads = if cut == 1000 { 3 } else { 1 };
                let o = Options {
                    threads,
                    ..opts(dtype, chunk)
                };
                let mut enc = SizedEncoder::new(data.len() as u64, o).unwrap();
                let mut out = Vec::new();
                for p in data.chunks(cut) {
                    enc.push(p, &mut out).unwrap();
                }
                enc.finish(&mut out).unwrap();
                assert_eq!(enc.report().unwrap(), znw::inspect(&out).unwrap());
                let (h, _) = znw::Header::parse(&out).unwrap();
                assert_eq!(h.total_size, Some(data.len() as u64));
                assert_eq!(
                    zipnn_wasm::decompress(&out, &Limits::default()).unwrap(),
                    *data
                );
                if cut == 65_536 {
                    // Whole (below the prefix), it is what `compress` writes.
                    assert_eq!(out, znw::compress(data, &opts(dtype, chunk)).unwrap());
                }
            }
        }
    }
    let invalid = |r: Result<(), Error>| matches!(r, Err(Error::InvalidInput(_)));
    let data = rng.bytes(1000);
    let mut out = Vec::new();
    // More than the size given.
    let mut enc = SizedEncoder::new(999, Options::default()).unwrap();
    assert!(invalid(enc.push(&data, &mut out)));
    // Less: the end is refused, and no end record is written.
    let mut enc = SizedEncoder::new(1001, Options::default()).unwrap();
    enc.push(&data, &mut out).unwrap();
    assert!(invalid(enc.finish(&mut out)));
    assert!(enc.report().is_none(), "no report of an unfinished file");
    assert!(zipnn_wasm::decompress(&out, &Limits::default()).is_err());
    // A chunk size the format does not allow.
    assert!(SizedEncoder::new(10, opts(DType::BF16, 6)).is_err());
    // 4-byte chunks of a terabyte: a plan of 2^38 pieces does not fit, an error once the
    // first 32 MiB are in.
    let mut enc = SizedEncoder::new(1 << 40, opts(DType::Bytes, 4)).unwrap();
    let r = enc.push(&vec![0u8; 32 << 20], &mut out);
    assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
}

/// `SizedEncoder::push_draining` hands the records out batch by batch, the push that completes
/// the prefix included, and what it hands out is what `push` writes.
#[test]
fn sized_encoder_drains_each_batch() {
    use zipnn_wasm::stream::SizedEncoder;
    let data = bf16_weights(&mut Rng(17), 600_000);
    let opts = Options {
        chunk_size: 16 << 10,
        ..Options::default()
    };
    // The same prefix on both sides: past a prefix shorter than the file, `Auto` measures
    // each batch anew, which a whole-file plan does not.
    let mut whole = Vec::new();
    let mut enc = SizedEncoder::new(data.len() as u64, opts.clone())
        .unwrap()
        .with_prefix(300_000);
    enc.push(&data, &mut whole).unwrap();
    enc.finish(&mut whole).unwrap();

    let mut enc = SizedEncoder::new(data.len() as u64, opts)
        .unwrap()
        .with_prefix(300_000);
    let (mut drained, mut out, mut most, mut calls) = (Vec::new(), Vec::new(), 0, 0);
    for piece in data.chunks(100_000) {
        let mut drain = |o: &mut Vec<u8>| {
            most = most.max(o.len());
            calls += 1;
            drained.append(o);
            Ok(())
        };
        enc.push_draining(piece, &mut out, &mut drain).unwrap();
        drained.append(&mut out);
    }
    enc.finish(&mut out).unwrap();
    drained.append(&mut out);
    assert!(drained == whole);
    assert!(calls >= 18, "{calls} drains");
    assert!(most < 40 << 10, "at most {most} bytes held");
    assert_eq!(
        zipnn_wasm::decompress(&drained, &Limits::default()).unwrap(),
        data
    );
}

/// `Auto` on a safetensors stream whose JSON header fills the first chunks measures the
/// weights after it, not the header's text: the stream is then as small as with the type given.
#[test]
fn auto_stream_measures_past_a_long_safetensors_header() {
    use zipnn_wasm::stream::{Encoder, VecSink};
    let mut rng = Rng(23);
    let tensors: Vec<(String, Vec<u8>)> = (0..4000)
        .map(|i| {
            (
                format!("model.layers.{i}.mlp.weight"),
                bf16_weights(&mut rng, 4096),
            )
        })
        .collect();
    let list: Vec<(&str, &str, Vec<u64>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, d)| (n.as_str(), "BF16", vec![4096], d.clone()))
        .collect();
    let file = safetensors(&list);
    assert!(file.len() > 30 << 20);
    let code = |choice: DTypeChoice| {
        let mut enc = Encoder::with_choice(choice, 256 << 10).unwrap();
        let mut out = Vec::new();
        for piece in file.chunks(100_000) {
            enc.push(piece, &mut out);
        }
        enc.finish(&mut out);
        out
    };
    let auto = code(DTypeChoice::Auto);
    let given = code(DTypeChoice::Fixed(DType::BF16));
    let mut sink = VecSink::default();
    let mut dec = AutoDecoder::new(Limits::default());
    dec.push(&auto, &mut sink).unwrap();
    dec.finish().unwrap();
    assert!(sink.out == file);
    assert!(
        (auto.len() as f64) < given.len() as f64 * 1.01,
        "auto {} against bf16 {}",
        auto.len(),
        given.len()
    );
}

/// Input after a successful `finish` is an error in every format, never more output: a ZipNN
/// stream (which has no end record) once took the same file twice.
#[test]
fn input_after_finish_is_refused() {
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    use zipnn_wasm::stream::VecSink;
    let mut rng = Rng(11);
    let data = bf16_weights(&mut rng, 50_000);
    let streaming = ZipnnOptions {
        streaming_log2: Some(14),
        ..ZipnnOptions::new(ZDType::BF16)
    };
    let files = [
        znw::compress(&data, &opts(DType::BF16, 16 << 10)).unwrap(),
        zipnn::compress(&data, &streaming).unwrap(),
        zipnn::compress(&data, &ZipnnOptions::new(ZDType::BF16)).unwrap(),
    ];
    for packed in &files {
        let mut dec = AutoDecoder::new(Limits::default());
        let mut sink = VecSink::default();
        dec.push(packed, &mut sink).unwrap();
        dec.finish().unwrap();
        assert!(
            dec.push(packed, &mut sink).is_err(),
            "a second file after finish"
        );
        assert!(
            dec.push(&packed[..1], &mut sink).is_err(),
            "one byte after finish"
        );
        assert!(sink.out == data, "nothing more came out");
    }
}
