//! The public Rust API used the way a dependent crate might, misuse included: each case here
//! once broke its documented contract (a panic, memory not bounded by `Limits`, a file its own
//! decoder refused, an error that did not stick, a wrong error code).

mod common;

use common::*;
use zipnn_wasm::format::zipnn::{self, FrameHeader, FrameLayout, ZDType, ZipnnOptions};
use zipnn_wasm::stream::{AutoDecoder, Decoder, Encoder, Sink};
use zipnn_wasm::{DType, DTypeChoice, Error, Limits, Options};

fn weights(n: usize) -> Vec<u8> {
    bf16_weights(&mut Rng(5), n)
}

/// fp8 chunks are cut at 128 KiB whatever chunk size the header records, by readers and by
/// zipnn: the writer cut them at the recorded size, and its own decoder refused the file.
#[test]
fn zipnn_fp8_frames_with_big_chunk_sizes_decode_back() {
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 27) as u8)
        .collect();
    for dtype in [ZDType::F8E4M3, ZDType::F8E5M2] {
        for log2 in [17, 18, 20, 30] {
            let opts = ZipnnOptions {
                chunk_log2: log2,
                ..ZipnnOptions::new(dtype)
            };
            let packed = zipnn::compress(&data, &opts).unwrap();
            let back = zipnn::decompress(&packed, None, &Limits::default());
            assert!(back.as_deref() == Ok(&data[..]), "chunk_log2 {log2}");
        }
    }
}

/// A streaming decoder buffers a whole ZipNN frame: a header claiming a frame far longer than
/// its data could code to is refused at once, not buffered up to what arrives.
#[test]
fn zipnn_frame_length_is_bounded_by_its_data() {
    let packed = zipnn::compress(&weights(512), &ZipnnOptions::new(ZDType::BF16)).unwrap();
    let mut bad = packed.clone();
    bad[24..32].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let mut dec = AutoDecoder::new(Limits {
        max_output: 1 << 20,
    });
    let mut sink = zipnn_wasm::stream::VecSink::default();
    assert!(matches!(dec.push(&bad, &mut sink), Err(Error::Corrupt(_))));
    // Whole, the file is shorter than its frame says.
    assert!(zipnn::decompress(&bad, None, &Limits::default()).is_err());
    // The real length decodes, streamed or whole.
    let mut dec = AutoDecoder::new(Limits::default());
    let mut sink = zipnn_wasm::stream::VecSink::default();
    dec.push(&packed, &mut sink).unwrap();
    dec.finish().unwrap();
    assert_eq!(sink.out, weights(512));
}

/// A ZipNN frame of no decoded bytes is its header alone. zipnn's whole-buffer modes
/// (`method="ZSTD"`, LZ4 or SNAPPY with a byte_reorder of its own) write `orig_len` 0, a second
/// header and the compressed buffer: refused as unsupported on every path, naming the method,
/// small or large (a small one decoded to nothing without an error); other data after such a
/// header is damage.
#[test]
fn zipnn_frames_of_no_decoded_bytes_hold_nothing() {
    use zipnn_wasm::stream::VecSink;
    let frame = |method: u8, data: &[u8]| {
        let mut h = b"ZN\x00\x05\x04\x0a\x01".to_vec();
        h.extend_from_slice(&[method, 1, 0, 0, 0, 0, 0, 18, 6]);
        h.extend_from_slice(&0u64.to_le_bytes());
        h.extend_from_slice(&(32 + data.len() as u64).to_le_bytes());
        let mut f = h.clone();
        f.extend_from_slice(data);
        f
    };
    let mut whole_buffer = frame(2, &[]);
    whole_buffer[24..32].fill(0); // the second header's frame_len, as zipnn writes it
    whole_buffer.extend_from_slice(&[
        0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x05, 0x29, 0, 0, 1, 2, 3, 4, 5,
    ]);
    let lim = Limits::default();
    for (name, data, unsupported) in [
        (
            "small ZSTD",
            frame(2, &whole_buffer),
            Some("whole-buffer ZSTD mode"),
        ),
        (
            "large ZSTD",
            frame(2, &vec![7; 300_000]),
            Some("whole-buffer ZSTD mode"),
        ),
        ("LZ4", frame(3, &[9; 100]), Some("whole-buffer LZ4 mode")),
        (
            "SNAPPY",
            frame(4, &[9; 100]),
            Some("whole-buffer SNAPPY mode"),
        ),
        ("Huffman with data", frame(1, &[1, 2, 3]), None),
    ] {
        let mut dec = AutoDecoder::new(lim);
        let mut sink = VecSink::default();
        let stream = dec.push(&data, &mut sink).and_then(|_| dec.finish());
        for (path, e) in [
            ("decompress", zipnn_wasm::decompress(&data, &lim).err()),
            ("inspect", zipnn_wasm::inspect(&data).err()),
            ("stream", stream.err()),
        ] {
            let ok = match (&e, unsupported) {
                (Some(Error::Unsupported(m)), Some(want)) => m.contains(want),
                (Some(Error::Corrupt(_)), None) => true,
                _ => false,
            };
            assert!(ok, "{name}, {path}: {e:?}");
        }
    }
    // An empty input is a header alone, and decodes to nothing.
    let empty = frame(0, &[]);
    assert_eq!(zipnn_wasm::decompress(&empty, &lim).unwrap(), b"");
}

/// `Sink::space` may hand out more room than asked for: the front of it is used.
#[test]
fn a_sink_may_offer_more_space_than_a_chunk() {
    struct Room {
        buf: Vec<u8>,
        at: usize,
    }
    impl Sink for Room {
        fn space(&mut self, _len: usize) -> Option<&mut [u8]> {
            Some(&mut self.buf[self.at..])
        }
        fn commit(&mut self, _offset: u64, len: usize) -> Result<(), Error> {
            self.at += len;
            Ok(())
        }
        fn data(&mut self, _offset: u64, bytes: &[u8]) -> Result<(), Error> {
            self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
            self.at += bytes.len();
            Ok(())
        }
    }
    let data = weights(300_000);
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        chunk_size: 64 << 10,
        ..Options::default()
    };
    let packed = zipnn_wasm::compress(&data, &opts).unwrap();
    let mut room = Room {
        buf: vec![0; data.len() + 12345],
        at: 0,
    };
    let mut dec = Decoder::new(Limits::default());
    dec.push(&packed, &mut room).unwrap();
    dec.finish().unwrap();
    assert_eq!(room.at, data.len());
    assert!(room.buf[..data.len()] == data[..]);
}

/// Any thread count works (more than the system has are fewer threads, not a panic).
#[test]
fn any_thread_count_compresses_and_decodes() {
    let data = weights(100_000);
    for threads in [0, 3, 1 << 59, usize::MAX] {
        let opts = Options {
            dtype: DTypeChoice::Fixed(DType::BF16),
            chunk_size: 4096,
            threads,
            ..Options::default()
        };
        let packed = zipnn_wasm::compress(&data, &opts).unwrap();
        let back = zipnn_wasm::format::znw::decompress(&packed, &Limits::default(), threads);
        assert!(back.as_deref() == Ok(&data[..]), "threads {threads}");
    }
}

/// After bytes that name no format, `AutoDecoder` keeps saying so, as `Decoder` does.
#[test]
fn auto_decoder_errors_stick() {
    let packed = zipnn_wasm::compress(&weights(1000), &Options::default()).unwrap();
    let mut dec = AutoDecoder::new(Limits::default());
    let mut sink = zipnn_wasm::stream::VecSink::default();
    assert_eq!(
        dec.push(b"PK\x03\x04 not ours", &mut sink),
        Err(Error::NotCompressed)
    );
    assert_eq!(dec.push(&packed, &mut sink), Err(Error::NotCompressed));
    assert_eq!(dec.finish(), Err(Error::NotCompressed));
    assert!(sink.out.is_empty());
}

/// `finish` writes the end record once; pushing after it is a documented panic.
#[test]
fn encoder_finish_is_once() {
    let data = weights(5000);
    let mut enc = Encoder::new(DType::BF16, 4096).unwrap();
    let mut out = Vec::new();
    enc.push(&data, &mut out);
    enc.finish(&mut out);
    let len = out.len();
    enc.finish(&mut out);
    assert_eq!(out.len(), len);
    assert!(zipnn_wasm::decompress(&out, &Limits::default()).as_deref() == Ok(&data[..]));
    let late = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| enc.push(&data, &mut out)));
    assert!(late.is_err());
}

/// A caller's wrong output size or stream index is `InvalidInput`, not a panic or a silent
/// write of other bytes.
#[test]
fn zipnn_frame_api_checks_its_arguments() {
    let data = weights(200_000);
    let packed = zipnn::compress(&data, &ZipnnOptions::new(ZDType::BF16)).unwrap();
    let h = FrameHeader::parse(&packed).unwrap();
    for len in [0, data.len() - 2, data.len() + 2, 50 * data.len()] {
        let mut dst = vec![0u8; len];
        let r = zipnn::decode_frame(&packed, &h, &mut dst);
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "dst of {len}: {r:?}"
        );
    }
    let mut dst = vec![0u8; data.len()];
    zipnn::decode_frame(&packed, &h, &mut dst).unwrap();
    assert!(dst == data);
    let layout = FrameLayout::read(&mut &packed[..], &h, data.len() as u64).unwrap();
    assert!(layout.stream_span(1, 0..1).is_ok());
    for (b, chunks) in [
        (2, 0..1),
        (4, 0..1),
        (1, 0..usize::MAX),
        (0, layout.chunks..layout.chunks + 1),
    ] {
        let r = layout.stream_span(b, chunks.clone());
        assert!(
            matches!(r, Err(Error::InvalidInput(_))),
            "stream {b} chunks {chunks:?}: {r:?}"
        );
    }
}

/// Short input is the start of a file cut short where it begins like one (a prefix of a magic
/// number, shorter than what tells the formats apart), else "not compressed": the same to
/// `inspect`, `decompress`, `decompress_into`, `decoded_len` and the streaming decoder.
#[test]
fn short_input_is_truncated_or_not_compressed_on_every_path() {
    use zipnn_wasm::stream::VecSink;
    let packed = zipnn_wasm::compress(&weights(1000), &Options::default()).unwrap();
    let cases: [(&[u8], Error); 7] = [
        (b"", Error::NotCompressed),
        (b"abc", Error::NotCompressed),
        (b"fifteen bytes!!", Error::NotCompressed),
        (b"Z", Error::Truncated),
        (b"ZN\x00\x05", Error::Truncated),
        (&packed[..5], Error::Truncated),
        (&packed[..1], Error::Truncated),
    ];
    for (input, want) in cases {
        let lim = Limits::default();
        let mut dec = AutoDecoder::new(lim);
        let stream = dec
            .push(input, &mut VecSink::default())
            .and_then(|_| dec.finish());
        let got = [
            zipnn_wasm::inspect(input).err(),
            zipnn_wasm::decompress(input, &lim).err(),
            zipnn_wasm::decompress_into(input, &mut []).err(),
            zipnn_wasm::decoded_len(input, &lim).err(),
            stream.err(),
        ];
        assert!(
            got.iter().all(|e| e.as_ref() == Some(&want)),
            "{input:?}: {got:?}"
        );
    }
}

/// An `AutoDecoder` whose input ended before its format was known keeps that error, as the
/// format decoders keep theirs; a threads count beyond reason is taken as the most there are;
/// `decompress_to_vec` leaves only the file in the vector.
#[test]
fn errors_stick_threads_are_bounded_and_vectors_hold_the_file() {
    let mut sink = zipnn_wasm::stream::VecSink::default();
    let mut dec = AutoDecoder::new(Limits::default());
    dec.push(&zipnn_wasm::format::znw::MAGIC[..3], &mut sink)
        .unwrap();
    assert_eq!(dec.finish(), Err(Error::Truncated));
    assert_eq!(dec.push(b"more", &mut sink), Err(Error::Truncated));
    assert_eq!(dec.finish(), Err(Error::Truncated));

    let data = weights(100_000);
    for threads in [usize::MAX, 1 << 59] {
        let opts = Options {
            threads,
            chunk_size: 4096,
            ..Options::default()
        };
        let mut enc = zipnn_wasm::stream::SizedEncoder::new(data.len() as u64, opts).unwrap();
        let mut packed = Vec::new();
        enc.push(&data, &mut packed).unwrap();
        enc.finish(&mut packed).unwrap();
        assert!(zipnn_wasm::decompress(&packed, &Limits::default()).unwrap() == data);
    }

    let big = zipnn_wasm::compress(&weights(50_000), &Options::default()).unwrap();
    let small = zipnn_wasm::compress(&data[..1000], &Options::default()).unwrap();
    let mut v = Vec::new();
    zipnn_wasm::decompress_to_vec(&big, &mut v, &Limits::default()).unwrap();
    let n = zipnn_wasm::decompress_to_vec(&small, &mut v, &Limits::default()).unwrap();
    assert_eq!((n, v.as_slice()), (1000, &data[..1000]));
}

/// The streaming coders print their state and progress (`{:?}` in a log line).
#[test]
fn streaming_coders_are_debug() {
    let packed = zipnn_wasm::compress(&weights(5000), &Options::default()).unwrap();
    let mut dec = AutoDecoder::new(Limits::default());
    assert!(format!("{dec:?}").contains("format: None"));
    dec.push(&packed, &mut zipnn_wasm::stream::VecSink::default())
        .unwrap();
    let s = format!("{dec:?}");
    assert!(
        s.contains("format: Some(Znw)") && s.contains("decoded: 10000"),
        "{s}"
    );
    let enc = Encoder::new(DType::BF16, 4096).unwrap();
    assert!(format!("{enc:?}").starts_with("Encoder {"));
}
