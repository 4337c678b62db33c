//! Every fixture written by the real zipnn 0.5.4 (tests/fixtures/zipnn, see its README)
//! decodes byte-exact; our ZipNN writer reproduces files zipnn reads (checked against zipnn
//! itself in tests/zipnn_interop.rs when the Python package is installed).

mod common;

use std::path::{Path, PathBuf};
use zipnn_wasm::format::safetensors as st;
use zipnn_wasm::format::zipnn;
use zipnn_wasm::{Format, Limits};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zipnn")
}

fn manifest() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir().join("MANIFEST.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["fixtures"].as_array().unwrap().clone()
}

fn file(f: &serde_json::Value, kind: &str) -> Option<Vec<u8>> {
    let name = f["files"].get(kind)?["file"].as_str()?;
    let bytes = std::fs::read(dir().join(name)).unwrap();
    assert_eq!(
        bytes.len() as u64,
        f["files"][kind]["bytes"].as_u64().unwrap(),
        "{name}"
    );
    Some(bytes)
}

/// (name, dtype, shape, bytes) of every tensor, in name order.
fn tensors(file: &[u8]) -> Vec<(String, String, Vec<u64>, Vec<u8>)> {
    let l = st::parse(file, file.len() as u64).unwrap();
    let mut v: Vec<_> = l
        .tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.dtype.clone(),
                t.shape.clone(),
                file[t.start as usize..t.end as usize].to_vec(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_fixture_decodes_exactly() {
    let fixtures = manifest();
    assert!(fixtures.len() >= 50, "fixtures missing");
    for f in &fixtures {
        let name = f["name"].as_str().unwrap();
        let packed = file(f, "znn").unwrap();
        let want = file(f, "bin").unwrap();
        if let Some(base) = file(f, "base") {
            let err = zipnn_wasm::decompress(&packed, &Limits::default()).unwrap_err();
            assert_eq!(err.code(), "ZNN_UNSUPPORTED", "{name}: delta without base");
            assert!(err.to_string().contains("base"), "{name}: {err}");
            let got = zipnn::decompress(&packed, Some(&base), &Limits::default()).unwrap();
            assert!(got == want, "{name}: delta decode differs");
            continue;
        }
        if f["files"]["znn"]["file"]
            .as_str()
            .unwrap()
            .ends_with(".safetensors")
        {
            assert_eq!(
                zipnn_wasm::detect(&packed),
                Format::ZipnnSafetensors,
                "{name}"
            );
            let got = zipnn_wasm::decompress(&packed, &Limits::default()).unwrap();
            assert_eq!(tensors(&got), tensors(&want), "{name}: tensors differ");
            // Laid out as zipnn's own restore writes it (the safetensors library's order and
            // JSON), which is the original file: byte for byte.
            assert!(got == want, "{name}: not the original's bytes");
            // The metadata survives, without zipnn's own entry.
            let meta = st::parse(&got, got.len() as u64).unwrap().metadata;
            assert!(
                meta.iter().all(|(k, _)| k != "znn_compressed_vectors"),
                "{name}"
            );
            continue;
        }
        let got = if packed.len() == 32 && want.is_empty() {
            // An empty input is a bare header; detection needs the header only.
            zipnn::decompress(&packed, None, &Limits::default()).unwrap()
        } else {
            assert_eq!(zipnn_wasm::detect(&packed), Format::Zipnn, "{name}");
            zipnn_wasm::decompress(&packed, &Limits::default()).unwrap()
        };
        assert!(
            got == want,
            "{name}: {} bytes decoded, {} expected",
            got.len(),
            want.len()
        );
    }
}

/// `decoded_len` + `decompress_into` (what the wasm `Decompressor` does with its reused
/// buffers) agree with `decompress` on every fixture, a `.znw` of each input too, through one
/// buffer reused from file to file; a buffer of another size is refused.
#[test]
fn every_fixture_decodes_into_a_reused_buffer() {
    let lim = Limits::default();
    let mut buf = Vec::new();
    for f in manifest() {
        let name = f["name"].as_str().unwrap();
        let mut packed = vec![file(&f, "znn").unwrap()];
        let want = file(&f, "bin").unwrap();
        packed.push(zipnn_wasm::compress(&want, &zipnn_wasm::Options::default()).unwrap());
        for p in packed {
            let whole = match zipnn_wasm::decompress(&p, &lim) {
                Ok(w) => w,
                // A bare empty header is not detected as ZipNN.
                Err(e) if e.code() == "ZNN_NOT_COMPRESSED" && want.is_empty() => continue,
                // Deltas need their base, whose size is known.
                Err(e) => {
                    assert_eq!(e.code(), "ZNN_UNSUPPORTED", "{name}: {e}");
                    let n = zipnn_wasm::decoded_len(&p, &lim).unwrap();
                    let e = zipnn_wasm::decompress_into(&p, &mut vec![0; n as usize]).unwrap_err();
                    assert_eq!(e.code(), "ZNN_UNSUPPORTED", "{name}: {e}");
                    continue;
                }
            };
            let n = zipnn_wasm::decoded_len(&p, &lim).unwrap();
            assert_eq!(n, whole.len() as u64, "{name}");
            if buf.len() < whole.len() {
                buf.resize(whole.len(), 0xAA);
            }
            let out = &mut buf[..whole.len()];
            assert_eq!(zipnn_wasm::decompress_into(&p, out).unwrap(), whole.len());
            assert!(*out == whole[..], "{name}: decompress_into differs");
            for wrong in [whole.len() + 1, whole.len().saturating_sub(1)] {
                if wrong == whole.len() {
                    continue;
                }
                let e = zipnn_wasm::decompress_into(&p, &mut vec![0; wrong]).unwrap_err();
                assert_eq!(e.code(), "ZNN_INVALID_INPUT", "{name}: {e}");
            }
            if n > 0 {
                let small = Limits { max_output: n - 1 };
                let e = zipnn_wasm::decoded_len(&p, &small).unwrap_err();
                assert_eq!(e.code(), "ZNN_TOO_LARGE", "{name}: {e}");
            }
        }
    }
}

/// `decompress_over` (the wasm `Decompressor`'s path) writes over one vector file after
/// file, never shrinking it, and grows it only as far as decoding got: a header that promises
/// a gigabyte its data does not hold fails without touching that memory.
#[test]
fn one_vector_reused_file_after_file_and_no_memory_for_empty_promises() {
    let lim = Limits::default();
    let mut out = Vec::new();
    let mut high = 0;
    for f in manifest() {
        let name = f["name"].as_str().unwrap();
        let packed = file(&f, "znn").unwrap();
        let Ok(whole) = zipnn_wasm::decompress(&packed, &lim) else {
            continue;
        };
        out.iter_mut().for_each(|b| *b = 0xAA);
        let n = zipnn_wasm::decompress_over(&packed, &mut out, &lim).unwrap();
        assert_eq!(n, whole.len(), "{name}");
        assert!(out[..n] == whole[..], "{name}");
        high = high.max(n);
        assert_eq!(out.len(), high, "{name}: the vector is never shrunk");
        // `decompress_to_vec` leaves the file alone in the vector.
        let mut reused = out.clone();
        let m = zipnn_wasm::decompress_to_vec(&packed, &mut reused, &lim).unwrap();
        assert!(m == n && reused == whole, "{name}");
    }
    let f = manifest()
        .into_iter()
        .find(|f| f["name"] == "bf16_3chunks_mixed")
        .unwrap();
    let mut p = file(&f, "znn").unwrap();
    p[16..24].copy_from_slice(&(1u64 << 30).to_le_bytes());
    let mut out = Vec::new();
    let e = zipnn_wasm::decompress_over(&p, &mut out, &lim).unwrap_err();
    assert!(matches!(e.code(), "ZNN_CORRUPT" | "ZNN_TRUNCATED"), "{e}");
    assert!(out.len() <= 1 << 20, "{} bytes written", out.len());
    assert!(
        out.capacity() <= 2 << 20,
        "{} bytes reserved",
        out.capacity()
    );
    // A delta frame is refused before anything is decoded.
    let f = manifest()
        .into_iter()
        .find(|f| f["name"] == "bf16_delta_byte")
        .unwrap();
    let mut out = Vec::new();
    let e = zipnn_wasm::decompress_to_vec(&file(&f, "znn").unwrap(), &mut out, &lim).unwrap_err();
    assert_eq!(e.code(), "ZNN_UNSUPPORTED");
    assert!(out.is_empty());
}

#[test]
fn our_writer_roundtrips_every_fixture_input() {
    // zipnn itself reads these files back in tests/zipnn_interop.rs (when installed).
    for f in manifest() {
        let name = f["name"].as_str().unwrap();
        if f["input_format"] != "byte"
            || f["delta"].is_string()
            || f["compression_threshold"] != 0.95
        {
            continue;
        }
        let dtype = match f["dtype"].as_str().unwrap() {
            "bfloat16" => zipnn::ZDType::BF16,
            "float16" => zipnn::ZDType::F16,
            "float32" => zipnn::ZDType::F32,
            _ => continue,
        };
        let want = file(&f, "bin").unwrap();
        if dtype == zipnn::ZDType::F32 && !want.len().is_multiple_of(4) {
            continue;
        }
        let mut o = zipnn::ZipnnOptions::new(dtype);
        o.chunk_log2 = f["compression_chunk"].as_u64().unwrap().trailing_zeros() as u8;
        o.streaming_log2 = f["streaming_chunk"]
            .as_u64()
            .map(|s| s.trailing_zeros() as u8);
        let ours = zipnn::compress(&want, &o).unwrap();
        let back = zipnn_wasm::format::zipnn::decompress(&ours, None, &Limits::default()).unwrap();
        assert!(back == want, "{name}: our ZipNN frames do not round-trip");
    }
}

#[test]
fn hostile_frames_give_typed_errors() {
    let f = manifest()
        .into_iter()
        .find(|f| f["name"] == "bf16_3chunks_mixed")
        .unwrap();
    let packed = file(&f, "znn").unwrap();
    let check = |p: &[u8], what: &str| {
        let e = zipnn::decompress(p, None, &Limits::default()).expect_err(what);
        assert!(
            matches!(
                e.code(),
                "ZNN_CORRUPT"
                    | "ZNN_TRUNCATED"
                    | "ZNN_TOO_LARGE"
                    | "ZNN_UNSUPPORTED"
                    | "ZNN_NOT_COMPRESSED"
            ),
            "{what}: {e}"
        );
    };
    let mut p = packed.clone();
    p[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    check(&p, "orig_len overflow");
    let mut p = packed.clone();
    p[24..32].copy_from_slice(&(packed.len() as u64 + 1).to_le_bytes());
    check(&p, "frame length past the end");
    let mut p = packed.clone();
    p[32] = 7;
    check(&p, "wrong chunk type");
    let mut p = packed.clone();
    p[14] = 9; // 512-byte chunks: the tables no longer fit
    check(&p, "chunk count does not match");
    let mut p = packed.clone();
    p[15] = 99;
    check(&p, "unknown dtype");
    // zipnn writes 0 or 1; anything else would have been decoded as 0 (other bytes, silently).
    let mut p = packed.clone();
    p[6] = 7;
    let e = zipnn::decompress(&p, None, &Limits::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "input is corrupt: ZipNN frame: unknown bit_reorder"
    );
    for cut in (0..packed.len()).step_by(97) {
        check(&packed[..cut], "truncated");
    }
}

#[test]
fn wasm_test_lists_every_fixture() {
    let wasm = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wasm.rs"))
        .unwrap();
    for f in manifest() {
        let name = f["name"].as_str().unwrap();
        assert!(
            wasm.contains(&format!("(\"{name}\", include_bytes!")),
            "tests/wasm.rs misses fixture {name}"
        );
    }
}

#[test]
fn fixtures_stream_through_the_auto_decoder_in_any_split() {
    use zipnn_wasm::stream::{AutoDecoder, VecSink};
    for f in manifest() {
        let name = f["name"].as_str().unwrap();
        let packed = file(&f, "znn").unwrap();
        if file(&f, "base").is_some() || name.starts_with("st_") {
            continue;
        }
        let want = file(&f, "bin").unwrap();
        for split in [1usize, 7, 4096, usize::MAX] {
            let mut dec = AutoDecoder::new(Limits::default());
            let mut sink = VecSink::default();
            for piece in packed.chunks(split.min(packed.len()).max(1)) {
                dec.push(piece, &mut sink)
                    .unwrap_or_else(|e| panic!("{name} split {split}: {e}"));
            }
            dec.finish()
                .unwrap_or_else(|e| panic!("{name} split {split}: {e}"));
            assert!(sink.out == want, "{name} split {split}");
        }
        // Every truncation is reported, never a short success.
        for cut in [1, 16, 31, packed.len() / 2, packed.len() - 1] {
            if cut >= packed.len() {
                continue;
            }
            let mut dec = AutoDecoder::new(Limits::default());
            let r = dec
                .push(&packed[..cut], &mut VecSink::default())
                .and_then(|_| dec.finish());
            assert!(r.is_err(), "{name} cut at {cut} decoded");
        }
    }
}

#[test]
fn auto_decoder_rejects_plain_bytes_at_once_and_delta_frames_clearly() {
    use zipnn_wasm::stream::{AutoDecoder, VecSink};
    let mut dec = AutoDecoder::new(Limits::default());
    let e = dec
        .push(b"{\"not\": \"compressed\"}", &mut VecSink::default())
        .unwrap_err();
    assert_eq!(e.code(), "ZNN_NOT_COMPRESSED");
    let f = manifest()
        .into_iter()
        .find(|f| f["name"] == "bf16_delta_byte")
        .unwrap();
    let mut dec = AutoDecoder::new(Limits::default());
    let e = dec
        .push(&file(&f, "znn").unwrap(), &mut VecSink::default())
        .unwrap_err();
    assert_eq!(e.code(), "ZNN_UNSUPPORTED");
    assert!(e.to_string().contains("base"));
}

/// Found by fuzzing (auto_stream): the stream decoder took an unflagged frame after a
/// streaming first one, which the whole-file decoder refused. Both refuse it now, wherever
/// it sits.
/// Where each frame of a ZipNN file starts (from the frame lengths in their headers).
fn frame_starts(packed: &[u8]) -> Vec<usize> {
    let mut starts = vec![];
    let mut pos = 0;
    while pos < packed.len() {
        starts.push(pos);
        pos += u64::from_le_bytes(packed[pos + 24..pos + 32].try_into().unwrap()) as usize;
    }
    starts
}

#[test]
fn an_unflagged_frame_after_the_first_is_corrupt_on_every_path() {
    use zipnn_wasm::stream::{AutoDecoder, VecSink};
    let f = manifest()
        .into_iter()
        .find(|f| f["name"] == "bf16_stream8k")
        .unwrap();
    let packed = file(&f, "znn").unwrap();
    let starts = frame_starts(&packed);
    assert!(starts.len() >= 3, "the fixture has {} frames", starts.len());
    for &s in &starts[1..] {
        let mut p = packed.clone();
        p[s + 13] = 0;
        let whole = zipnn_wasm::decompress(&p, &Limits::default()).unwrap_err();
        let mut dec = AutoDecoder::new(Limits::default());
        let stream = dec
            .push(&p, &mut VecSink::default())
            .and_then(|_| dec.finish())
            .unwrap_err();
        for e in [whole, stream] {
            assert_eq!(e.code(), "ZNN_CORRUPT", "frame at {s}: {e}");
            assert!(e.to_string().contains("non-streaming"), "{e}");
        }
    }
}

#[test]
fn any_run_of_chunks_decodes_on_its_own() {
    // What the worker pool decodes: chunks c0..c1 of a frame, read through its tables.
    let mut runs = 0;
    for f in manifest() {
        let Some(packed) = file(&f, "znn") else {
            continue;
        };
        let Ok((frames, _)) = zipnn::frames(&packed, &Limits::default()) else {
            continue;
        };
        for fr in frames.iter().filter(|fr| fr.header.delta == 0) {
            let h = &fr.header;
            let mut frame = fr.bytes(&packed);
            let mut whole = vec![0; h.orig_len as usize];
            zipnn::decode_frame(frame, h, &mut whole[..]).unwrap();
            let layout = zipnn::FrameLayout::read(&mut frame, h, h.orig_len).unwrap();
            for per in 1..=layout.chunks.max(1) {
                let mut out = Vec::new();
                for c0 in (0..layout.chunks).step_by(per) {
                    let c = c0..(c0 + per).min(layout.chunks);
                    let mut part = vec![0; layout.output_len(c.clone()) as usize];
                    zipnn::decode_chunks_from(
                        &mut frame,
                        h,
                        &layout,
                        c,
                        &mut part[..],
                        &mut Vec::new(),
                    )
                    .unwrap();
                    out.extend_from_slice(&part);
                    runs += 1;
                }
                assert!(out == whole, "{}: runs of {per} chunks", f["name"]);
            }
            // A range past the last chunk is refused.
            let past = layout.chunks..layout.chunks + 1;
            let e = zipnn::decode_chunks_from(
                &mut frame,
                h,
                &layout,
                past,
                &mut [][..],
                &mut Vec::new(),
            );
            assert_eq!(e.unwrap_err().code(), "ZNN_CORRUPT");
        }
    }
    assert!(runs >= 100, "{runs} runs");
}

/// A `.znn.safetensors` file cut short (an interrupted download) is `Truncated` inside its
/// header (which without source metadata names no key) and once what is left shows what it is
/// (its header names zipnn's key, or a U8 tensor starts with a frame), never "not compressed";
/// a plain safetensors file cut after its header stays plain.
#[test]
fn cut_znn_safetensors_are_truncated_and_longer_ones_corrupt() {
    for name in ["st_minilm_meta", "st_minilm_nometa"] {
        let whole = std::fs::read(dir().join(format!("{name}.znn.safetensors"))).unwrap();
        let header_end = 8 + u64::from_le_bytes(whole[..8].try_into().unwrap()) as usize;
        let key_end = std::str::from_utf8(&whole[8..header_end])
            .unwrap()
            .find(zipnn::safetensors::METADATA_KEY)
            .map(|at| 8 + at + zipnn::safetensors::METADATA_KEY.len());
        // Without the key, the first tensor that is a frame tells (its header must be there).
        let first_frame = st::parse(&whole, whole.len() as u64)
            .unwrap()
            .tensors
            .iter()
            .filter(|t| t.dtype == "U8")
            .map(|t| t.start as usize + zipnn::MAX_HEADER_LEN)
            .min()
            .unwrap();
        let known = key_end.unwrap_or(first_frame);
        for cut in (0..whole.len()).step_by(7).chain([whole.len() - 1]) {
            let e = zipnn_wasm::decompress(&whole[..cut], &Limits::default()).unwrap_err();
            if cut >= known || (9..header_end).contains(&cut) {
                assert_eq!(e.code(), "ZNN_TRUNCATED", "{name} cut at {cut}: {e}");
            } else {
                assert!(
                    matches!(e.code(), "ZNN_TRUNCATED" | "ZNN_NOT_COMPRESSED"),
                    "{name} cut at {cut}: {e}"
                );
            }
        }
        // Bytes after the last tensor would be dropped from the rebuilt file: refused.
        for extra in [&[0u8][..], b"ZN", &[7; 100]] {
            let longer = [&whole[..], extra].concat();
            let e = zipnn_wasm::decompress(&longer, &Limits::default()).unwrap_err();
            assert_eq!(
                e.code(),
                "ZNN_CORRUPT",
                "{name} + {} bytes: {e}",
                extra.len()
            );
        }
        let plain = std::fs::read(dir().join(format!("{name}.safetensors"))).unwrap();
        let e = zipnn_wasm::decompress(&plain[..plain.len() - 1], &Limits::default()).unwrap_err();
        assert_eq!(e.code(), "ZNN_NOT_COMPRESSED", "{name}");
        // Cut inside its header, a plain file is as unreadable as a compressed one.
        let e = zipnn_wasm::decompress(&plain[..100], &Limits::default()).unwrap_err();
        assert_eq!(e.code(), "ZNN_TRUNCATED", "{name}");
    }
    // Fewer bytes than a safetensors length prefix: not compressed, as any short input.
    let e = zipnn_wasm::decompress(b"abc", &Limits::default()).unwrap_err();
    assert_eq!(e.code(), "ZNN_NOT_COMPRESSED");
}

/// A `.znn.safetensors` file whose JSON header no longer parses (a byte of it changed, or its
/// length prefix) but still names zipnn's key is damaged (`Corrupt`), not "not compressed";
/// whole, into a buffer, and through `inspect`.
#[test]
fn damaged_znn_safetensors_headers_are_corrupt() {
    let whole = std::fs::read(dir().join("st_minilm_meta.znn.safetensors")).unwrap();
    let n = u64::from_le_bytes(whole[..8].try_into().unwrap());
    let mut inside = whole.clone();
    inside[8 + n as usize / 2] = b'=';
    let mut longer = whole.clone();
    longer[..8].copy_from_slice(&(n + 100).to_le_bytes());
    let mut shorter = whole.clone();
    shorter[..8].copy_from_slice(&(n - 3).to_le_bytes());
    for (what, bytes) in [
        ("inside", &inside),
        ("longer", &longer),
        ("shorter", &shorter),
    ] {
        assert_eq!(
            zipnn_wasm::detect(bytes),
            zipnn_wasm::Format::ZipnnSafetensors,
            "{what}"
        );
        let e = zipnn_wasm::decompress(bytes, &Limits::default()).unwrap_err();
        assert_eq!(e.code(), "ZNN_CORRUPT", "{what}: {e}");
        let mut out = vec![0; whole.len() * 2];
        let e = zipnn_wasm::decompress_into(bytes, &mut out).unwrap_err();
        assert_eq!(e.code(), "ZNN_CORRUPT", "{what}: {e}");
        let e = zipnn_wasm::inspect(bytes).unwrap_err();
        assert_eq!(e.code(), "ZNN_CORRUPT", "{what}: {e}");
    }
    // Without the `{` where the header starts, the file is not one (as with streamed input).
    let mut brace = whole.clone();
    brace[8] = b' ';
    let e = zipnn_wasm::decompress(&brace, &Limits::default()).unwrap_err();
    assert_eq!(e.code(), "ZNN_NOT_COMPRESSED");
}

/// zipnn's own extremes (tests/fixtures/zipnn/limits): 2-, 8-byte and 4 GiB chunks, 4-byte
/// streaming frames. Read without Python, whole and through the streaming decoder.
#[test]
fn zipnn_limit_fixtures_decode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zipnn/limits");
    for (znn, bin) in [
        ("bf16_64.chunk2.znn", "bf16_64.bin"),
        ("bf16_4k.chunk8.znn", "bf16_4k.bin"),
        ("fp32_4k.chunk4g.znn", "bf16_4k.bin"),
        ("bf16_64.stream4.znn", "bf16_64.bin"),
    ] {
        let packed = std::fs::read(dir.join(znn)).unwrap();
        let want = std::fs::read(dir.join(bin)).unwrap();
        let got = zipnn_wasm::decompress(&packed, &Limits::default()).unwrap();
        assert!(got == want, "{znn}");
        let mut dec = zipnn_wasm::stream::AutoDecoder::new(Limits::default());
        let mut sink = zipnn_wasm::stream::VecSink::default();
        for piece in packed.chunks(7) {
            dec.push(piece, &mut sink).unwrap();
        }
        dec.finish().unwrap();
        assert!(sink.out == want, "{znn} streamed");
    }
}

/// A streaming file's damaged frame headers and bytes after its last frame give the same
/// result from the whole-file and the streaming decoder (in one push and in small pieces):
/// both decode the same bytes or both fail with the same code. Bytes after the last frame
/// are corrupt, or truncated where they could begin a frame.
#[test]
fn whole_and_streaming_decoders_agree_on_damaged_streaming_files() {
    use zipnn_wasm::stream::{AutoDecoder, VecSink};
    let result = |p: &[u8], what: &str| {
        let whole = zipnn_wasm::decompress(p, &Limits::default()).map_err(|e| e.code());
        for piece in [p.len().max(1), 1000, 7] {
            let mut dec = AutoDecoder::new(Limits::default());
            let mut sink = VecSink::default();
            let stream = p
                .chunks(piece)
                .try_for_each(|c| dec.push(c, &mut sink))
                .and_then(|_| dec.finish())
                .map(|_| sink.out)
                .map_err(|e| e.code());
            assert_eq!(stream, whole, "{what}, pieces of {piece}");
        }
        whole
    };
    for name in ["bf16_stream8k", "fp32_stream4k_chunk1k"] {
        let f = manifest().into_iter().find(|f| f["name"] == name).unwrap();
        let packed = file(&f, "znn").unwrap();
        let starts = frame_starts(&packed);
        for &s in starts.iter().take(2).chain(starts.last()) {
            for at in s..s + 40 {
                for x in [0x04, 0x80, 0xFF] {
                    let mut p = packed.clone();
                    p[at] ^= x;
                    let _ = result(&p, &format!("{name}: byte {at} ^ {x:#x}"));
                }
            }
        }
        let with = |tail: &[u8]| [&packed[..], tail].concat();
        assert_eq!(result(&with(b"x"), name), Err("ZNN_CORRUPT"), "{name}");
        assert_eq!(result(&with(&[0; 100]), name), Err("ZNN_CORRUPT"), "{name}");
        assert_eq!(result(&with(b"Z"), name), Err("ZNN_TRUNCATED"), "{name}");
        assert_eq!(
            result(&with(&packed[..20]), name),
            Err("ZNN_TRUNCATED"),
            "{name}"
        );
        // A header of an unknown dtype: unsupported once its 32 bytes are there, cut before.
        let mut unknown = packed[..32].to_vec();
        unknown[15] = 99;
        assert_eq!(result(&with(&unknown), name), Err("ZNN_UNSUPPORTED"));
        assert_eq!(result(&with(&unknown[..20]), name), Err("ZNN_TRUNCATED"));
    }
}

/// Without zipnn's metadata key, only a U8 tensor that is exactly one torch-format frame is
/// taken as compressed: ZipNN files stored as U8 tensors (byte format, streaming, a frame and
/// more) next to real frames are data, handed back as they are.
#[test]
fn zipnn_blobs_beside_frames_pass_through() {
    let file = std::fs::read(dir().join("st_minilm_nometa.znn.safetensors")).unwrap();
    let l = st::parse(&file, file.len() as u64).unwrap();
    let t = l.tensors.iter().find(|t| t.dtype == "U8").unwrap();
    let frame = file[t.start as usize..t.end as usize].to_vec();
    let byte_format = std::fs::read(dir().join("bf16_5elem.znn")).unwrap();
    let streaming = std::fs::read(dir().join("bf16_stream8k.znn")).unwrap();
    let mut numpy_format = frame.clone();
    numpy_format[8] = 3;
    let padded = [&frame[..], &[0; 8]].concat();
    for blob in [byte_format, streaming, numpy_format, padded] {
        let u8s = |b: &[u8]| ("U8", vec![b.len() as u64], b.to_vec());
        let (a, b) = (u8s(&frame), u8s(&blob));
        let packed = common::safetensors(&[("a", a.0, a.1, a.2), ("b", b.0, b.1, b.2)]);
        let out = zipnn_wasm::decompress(&packed, &Limits::default()).unwrap();
        let restored = st::parse(&out, out.len() as u64).unwrap();
        let dtypes: Vec<&str> = restored.tensors.iter().map(|t| t.dtype.as_str()).collect();
        assert_eq!(dtypes, ["BF16", "U8"]);
        let b = &restored.tensors[1];
        assert!(out[b.start as usize..b.end as usize] == blob[..]);
    }
}

/// `inspect` reports a ZipNN frame file frame by frame: the frames tile the decoded output and
/// the file, and the sizes are the decoder's.
#[test]
fn inspect_reports_each_frame() {
    let lim = Limits::default();
    let mut seen = 0;
    for f in manifest() {
        let name = f["name"].as_str().unwrap();
        let packed = file(&f, "znn").unwrap();
        let Ok(whole) = zipnn_wasm::decompress(&packed, &lim) else {
            continue;
        };
        if zipnn_wasm::detect(&packed) != zipnn_wasm::Format::Zipnn {
            continue;
        }
        let r = zipnn_wasm::inspect(&packed).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.format, "zipnn", "{name}");
        assert_eq!(r.total_size, whole.len() as u64, "{name}");
        assert_eq!(r.compressed_size, packed.len() as u64, "{name}");
        assert_eq!(r.chunks, r.segments.len(), "{name}");
        let mut at = 0;
        for s in &r.segments {
            assert_eq!(s.offset, at, "{name}");
            at += s.length;
        }
        assert_eq!(at, r.total_size, "{name}");
        let compressed: u64 = r.segments.iter().map(|s| s.compressed).sum();
        assert_eq!(compressed, r.compressed_size, "{name}");
        seen += 1;
    }
    assert!(seen > 5, "{seen} fixtures");
}

/// Every fixture read at decoded offsets (`format::open_random_access`): the whole file, ranges
/// across chunk and frame edges and random ones equal what zipnn compressed; each segment of a
/// `.znn.safetensors` file is its tensor; deltas need their base.
#[test]
fn every_fixture_reads_at_any_offset() {
    use zipnn_wasm::format::open_random_access;
    for f in &manifest() {
        let name = f["name"].as_str().unwrap();
        let packed = file(f, "znn").unwrap();
        let want = file(f, "bin").unwrap();
        let mut src: &[u8] = &packed;
        let opened = open_random_access(&mut src, &Limits::default());
        if file(f, "base").is_some() {
            let e = opened.unwrap_err();
            assert_eq!(e.code(), "ZNN_UNSUPPORTED", "{name}: delta without base");
            continue;
        }
        if packed.len() == 32 && want.is_empty() {
            // A bare header: the first 16 bytes do not tell it from plain bytes.
            continue;
        }
        let mut ra = opened.unwrap_or_else(|e| panic!("{name}: {e}"));
        let n = want.len() as u64;
        assert_eq!(ra.size(), n, "{name}");
        let mut ranges = vec![(0, n), (n, 0)];
        for edge in [1u64 << 10, 4 << 10, 8 << 10, 64 << 10, 128 << 10, 256 << 10] {
            if edge < n {
                ranges.push((edge - 1, 2.min(n - edge + 1)));
            }
        }
        let mut rng = common::Rng(n);
        for _ in 0..30 {
            let a = rng.below(n + 1);
            ranges.push((a, rng.below(n - a + 1)));
        }
        for (a, len) in ranges {
            let mut dst = vec![0xA5; len as usize];
            ra.read_at(&mut src, a, &mut dst)
                .unwrap_or_else(|e| panic!("{name}: {len} at {a}: {e}"));
            assert!(
                dst == want[a as usize..(a + len) as usize],
                "{name}: {len} at {a}"
            );
        }
        let segs = ra.segments().to_vec();
        let covered: u64 = segs.iter().map(|s| s.length).sum();
        assert_eq!(covered, n, "{name}: segments cover the file");
        if zipnn_wasm::detect(&packed) == Format::ZipnnSafetensors {
            // Each tensor by its segment, as a loader reads one.
            let want = tensors(&want);
            assert_eq!(
                segs.len(),
                want.len() + 1,
                "{name}: the header and each tensor"
            );
            for s in segs.iter().filter(|s| s.name != "__header__") {
                let t = want.iter().find(|t| t.0 == s.name).unwrap();
                assert_eq!((&s.label, &s.shape), (&t.1, &t.2), "{name}: {}", s.name);
                let mut dst = vec![0; s.length as usize];
                ra.read_at(&mut src, s.offset, &mut dst).unwrap();
                assert!(dst == t.3, "{name}: {}", s.name);
            }
        }
    }
}
