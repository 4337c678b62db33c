//! Memory limits on hostile input. A counting global allocator measures the peak heap of each
//! decode: headers that claim huge outputs are rejected (`ZNN_TOO_LARGE` / `ZNN_CORRUPT`)
//! before anything of that size is allocated, a caller-set `Limits { max_output }` stops
//! decompression bombs, and when no limit is set the host refusing a huge allocation gives a
//! typed error instead of an abort. The allocator refuses (returns null for) any single
//! allocation above `REFUSE`, like a 128 MiB isolate or a 4 GiB wasm memory would.
//!
//! The tests share the counters, so they take a lock and run one at a time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use zipnn_wasm::dtype::DType;
use zipnn_wasm::format::znw::{self, chunk, header::checksum, Header, Segment};
use zipnn_wasm::format::{zipnn, Container};
use zipnn_wasm::stream::{Decoder, Sink, VecSink};
use zipnn_wasm::{Error, Limits};

const MIB: usize = 1 << 20;
/// Largest single allocation the test host grants.
const REFUSE: usize = 1 << 30;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static A: Counting = Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > REFUSE {
            REFUSED.fetch_add(1, SeqCst);
            return std::ptr::null_mut();
        }
        let p = System.alloc(l);
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), SeqCst) + l.size();
            PEAK.fetch_max(now, SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), SeqCst);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > REFUSE {
            REFUSED.fetch_add(1, SeqCst);
            return std::ptr::null_mut();
        }
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), SeqCst) + new - l.size();
                PEAK.fetch_max(now, SeqCst);
            } else {
                LIVE.fetch_sub(l.size() - new, SeqCst);
            }
        }
        q
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` and returns its result and the heap growth it peaked at (bytes above the live heap
/// when it started).
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(SeqCst);
    PEAK.store(base, SeqCst);
    let r = f();
    (r, PEAK.load(SeqCst) - base)
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn limit(n: usize) -> Limits {
    Limits {
        max_output: n as u64,
    }
}

/// Whole-file and streaming decode (`VecSink`, 4 KiB pushes) of a `.znw` file.
fn decode_znw(file: &[u8], lim: Limits) -> (Result<Vec<u8>, Error>, Result<Vec<u8>, Error>) {
    let whole = zipnn_wasm::decompress(file, &lim);
    let mut dec = Decoder::new(lim);
    let mut sink = VecSink::default();
    let streamed = file
        .chunks(4096)
        .try_for_each(|p| dec.push(p, &mut sink))
        .and_then(|_| dec.finish())
        .map(|_| sink.out);
    (whole, streamed)
}

fn header(total: Option<u64>, max_chunk: u32, segments: Vec<Segment>) -> Vec<u8> {
    let mut out = Vec::new();
    Header {
        total_size: total,
        max_chunk,
        container: Container::Raw,
        segments,
        base: None,
        realign: Vec::new(),
    }
    .write(&mut out);
    out
}

fn code<T: std::fmt::Debug>(r: &Result<T, Error>) -> &'static str {
    r.as_ref().expect_err("hostile input decoded").code()
}

#[test]
fn znw_header_claiming_2_pow_60_bytes() {
    let _g = lock();
    let t = 1u64 << 60;
    let seg = Segment {
        name: "w".into(),
        dtype: DType::BF16,
        label: "BF16".into(),
        shape: vec![1 << 59],
        offset: 0,
        length: t,
    };
    let mut file = header(Some(t), 16 << 20, vec![seg]);
    chunk::write_end(t, 0, &mut file);
    assert!(file.len() < 100, "{} bytes", file.len());
    // With a limit: rejected from the header.
    let ((w, s), peak) = peak_of(|| decode_znw(&file, limit(64 * MIB)));
    assert_eq!((code(&w), code(&s)), ("ZNN_TOO_LARGE", "ZNN_TOO_LARGE"));
    assert!(peak < MIB, "peak {peak}");
    // Without one: the end record does not match the (absent) chunks; nothing big allocated,
    // whole or streamed (`VecSink` grows only as data arrives).
    let ((w, s), peak) = peak_of(|| decode_znw(&file, Limits::default()));
    assert_eq!((code(&w), code(&s)), ("ZNN_CORRUPT", "ZNN_CORRUPT"));
    assert!(peak < MIB, "peak {peak}");
    let (idx, peak) = peak_of(|| znw::index(&file, &Limits::default()));
    assert_eq!(code(&idx), "ZNN_CORRUPT");
    assert!(peak < MIB);
}

/// A header that claims 512 MiB (an allocation the host would grant) and an end record that
/// says so, with no chunk: nothing near the claim is allocated, and the streaming `VecSink`
/// fails as the whole-file decode does.
#[test]
fn znw_claim_the_host_would_grant_is_not_reserved() {
    let _g = lock();
    let t = 512 * MIB as u64;
    let mut file = header(Some(t), 16 << 20, vec![]);
    chunk::write_end(t, 0, &mut file);
    let ((w, s), peak) = peak_of(|| decode_znw(&file, Limits::default()));
    assert_eq!(code(&w), code(&s), "whole {w:?}, streamed {s:?}");
    assert!(peak < MIB, "peak {peak}");
    // Cut before its end record: the stream is truncated, and still nothing big is reserved.
    let cut = &file[..file.len() - 1];
    let ((w, s), peak) = peak_of(|| decode_znw(cut, Limits::default()));
    assert_eq!((code(&w), code(&s)), ("ZNN_TRUNCATED", "ZNN_TRUNCATED"));
    assert!(peak < MIB, "peak {peak}");
}

/// A well-formed bomb: `n` chunks of 16 MiB of zeros, each a 2-byte repeat block, every
/// checksum right. 22 bytes of record per 16 MiB of output.
fn zero_bomb(n: usize, size_known: bool) -> Vec<u8> {
    let raw = 16 << 20;
    let mut file = header(size_known.then_some((n * raw) as u64), raw as u32, vec![]);
    let zeros = vec![0u8; raw];
    let mut scratch = Vec::new();
    for i in 0..n {
        chunk::encode(
            &zeros,
            DType::Bytes,
            (i * raw) as u64,
            false,
            &mut file,
            &mut scratch,
        );
    }
    chunk::write_end((n * raw) as u64, n as u64, &mut file);
    file
}

#[test]
fn znw_bomb_is_stopped_by_the_limit() {
    let _g = lock();
    for size_known in [true, false] {
        let file = zero_bomb(64, size_known); // 1 GiB of output
        assert!(file.len() < 2000, "{} bytes", file.len());
        let lim = limit(64 * MIB);
        let (w, peak_w) = peak_of(|| zipnn_wasm::decompress(&file, &lim));
        assert_eq!(code(&w), "ZNN_TOO_LARGE");
        assert!(peak_w < MIB, "whole-file peak {peak_w}");
        // The streaming decoder (known size: rejected at the header; unknown: after the
        // chunks that fit) holds one chunk at a time.
        let (s, peak_s) = peak_of(|| {
            let mut dec = Decoder::new(lim);
            let mut sink = Discard(0);
            file.chunks(1000)
                .try_for_each(|p| dec.push(p, &mut sink))
                .and_then(|_| dec.finish())
                .map(|_| sink.0)
        });
        assert_eq!(code(&s), "ZNN_TOO_LARGE");
        assert!(
            peak_s <= 2 * 16 * MIB + file.len() + MIB,
            "streaming peak {peak_s}"
        );
        eprintln!(
            "zero bomb ({} bytes -> 1 GiB, size known: {size_known}): whole-file peak {peak_w} B, \
             streaming peak {peak_s} B",
            file.len()
        );
    }
}

struct Discard(u64);
impl Sink for Discard {
    fn data(&mut self, _: u64, b: &[u8]) -> Result<(), Error> {
        self.0 += b.len() as u64;
        Ok(())
    }
}

#[test]
fn znw_hostile_chunk_sizes() {
    let _g = lock();
    // A chunk head claiming 2^32-1 decoded bytes and a 4 GiB body, in a 60-byte file.
    let mut file = header(None, 16 << 20, vec![]);
    file.extend_from_slice(&[b'C', 0, 0, 0]);
    file.extend_from_slice(&u32::MAX.to_le_bytes());
    file.extend_from_slice(&u32::MAX.to_le_bytes());
    file.extend_from_slice(&[0; 8]);
    let ((w, s), peak) = peak_of(|| decode_znw(&file, Limits::default()));
    assert_eq!(code(&w), "ZNN_CORRUPT");
    assert_eq!(code(&s), "ZNN_CORRUPT");
    assert!(peak < MIB, "peak {peak}");
    // max_chunk out of range in the header.
    let mut file = header(None, 16 << 20, vec![]);
    file[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    let n = file.len();
    let sum = checksum(&file[..n - 4]);
    file[n - 4..].copy_from_slice(&sum.to_le_bytes());
    let ((w, s), peak) = peak_of(|| decode_znw(&file, Limits::default()));
    assert_eq!((code(&w), code(&s)), ("ZNN_CORRUPT", "ZNN_CORRUPT"));
    assert!(peak < MIB);
    // header_len of 64 MiB (the maximum) with 100 bytes present: truncated, nothing reserved.
    let mut file = header(None, 1024, vec![]);
    file[12..16].copy_from_slice(&(64u32 << 20).to_le_bytes());
    let ((w, s), peak) = peak_of(|| decode_znw(&file, Limits::default()));
    assert_eq!((code(&w), code(&s)), ("ZNN_TRUNCATED", "ZNN_TRUNCATED"));
    assert!(peak < MIB, "peak {peak}");
}

/// A 32-byte ZipNN frame header (byte input format, bf16, 256 KiB chunks).
fn zn_frame(orig_len: u64, chunk_log2: u8) -> Vec<u8> {
    let mut f = b"ZN".to_vec();
    f.extend_from_slice(&zipnn::VERSION);
    f.extend_from_slice(&[10, 1, 0, 1, 0, 0, 0, 0, 0, chunk_log2, 6]);
    f.extend_from_slice(&orig_len.to_le_bytes());
    f.extend_from_slice(&32u64.to_le_bytes());
    f
}

#[test]
fn zipnn_frame_claiming_2_pow_62_bytes() {
    let _g = lock();
    for (orig, chunk_log2) in [
        (1u64 << 62, 18),
        (1 << 40, 30),
        (3 << 30, 30),
        (1 << 33, 18),
    ] {
        let f = zn_frame(orig, chunk_log2);
        // The frame's tables do not fit in its 32 bytes, which is noticed before allocating
        // anything of the claimed size, and before the limit: a damaged size is "corrupt",
        // not "too large" (which would send a browser user to the CLI for nothing).
        let (r, peak) = peak_of(|| zipnn::decompress(&f, None, &limit(64 * MIB)));
        assert_eq!(code(&r), "ZNN_CORRUPT", "orig {orig}");
        assert!(peak < MIB, "orig {orig}: peak {peak}");
        let (r, peak) = peak_of(|| zipnn_wasm::decompress(&f, &Limits::default()));
        assert_eq!(code(&r), "ZNN_CORRUPT", "orig {orig}");
        assert!(peak < MIB, "orig {orig}: peak {peak}");
    }
}

/// A well-formed ZipNN bomb: bf16, 1 GiB chunks, every (stream, chunk) a 1-byte repeat.
/// 32 + 9 * 2 * chunks + 2 * chunks bytes decode to `chunks` GiB.
fn zn_repeat_bomb(chunks: u64) -> Vec<u8> {
    let mut f = zn_frame(chunks << 30, 30);
    let slots = 2 * chunks;
    f.extend(std::iter::repeat_n(1u8, slots as usize)); // types: huffman-or-repeat
    for _ in 0..2 {
        for c in 1..=chunks {
            f.extend_from_slice(&c.to_le_bytes()); // cumulative sizes: 1 byte per chunk
        }
    }
    f.extend(std::iter::repeat_n(0x3Fu8, slots as usize));
    let n = f.len() as u64;
    f[24..32].copy_from_slice(&n.to_le_bytes());
    f
}

#[test]
fn zipnn_well_formed_bomb() {
    let _g = lock();
    let f = zn_repeat_bomb(3); // 3 GiB from 92 bytes
    assert!(f.len() < 100);
    let (r, peak) = peak_of(|| zipnn::decompress(&f, None, &limit(64 * MIB)));
    assert_eq!(code(&r), "ZNN_TOO_LARGE");
    assert!(peak < MIB, "peak {peak}");
    // No limit: the declared 3 GiB is what gets allocated; this host refuses it: typed error.
    let (r, peak) = peak_of(|| zipnn::decompress(&f, None, &Limits::default()));
    assert_eq!(code(&r), "ZNN_TOO_LARGE");
    assert!(peak < MIB, "peak {peak}");
    eprintln!(
        "zipnn: {} bytes declare 3 GiB; refused with no limit: {r:?}",
        f.len()
    );
    // A small one decodes, and costs its output plus one chunk of scratch.
    let mut f = zn_frame(1 << 20, 18); // 1 MiB in 256 KiB chunks
    f.extend(std::iter::repeat_n(1u8, 8));
    for _ in 0..2 {
        for c in 1..=4u64 {
            f.extend_from_slice(&c.to_le_bytes());
        }
    }
    f.extend(std::iter::repeat_n(0x3Fu8, 8));
    let n = f.len() as u64;
    f[24..32].copy_from_slice(&n.to_le_bytes());
    let (r, peak) = peak_of(|| zipnn::decompress(&f, None, &Limits::default()));
    assert_eq!(r.map(|v| v.len()), Ok(1 << 20));
    assert!(peak <= (1 << 20) + (256 << 10) + 4096, "peak {peak}");
}

/// A safetensors file: `tensors` are (name, dtype, shape, bytes); `meta` is the
/// `znn_compressed_vectors` value, if any.
fn safetensors(tensors: &[(&str, &str, Vec<u64>, Vec<u8>)], meta: Option<&str>) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let s = data.len() as u64;
        data.extend_from_slice(bytes);
        entries.push((
            name.to_string(),
            dtype.to_string(),
            shape.clone(),
            s,
            data.len() as u64,
        ));
    }
    let metadata: Vec<(String, String)> = meta
        .map(|m| vec![("znn_compressed_vectors".to_string(), m.to_string())])
        .unwrap_or_default();
    let mut out = Vec::new();
    zipnn_wasm::format::safetensors::write_header(&entries, &metadata, &mut out);
    out.extend_from_slice(&data);
    out
}

/// A torch-format frame (carries its shape) with empty tables, claiming `orig_len`.
fn zn_torch_frame(orig_len: u64, dims: &[u64]) -> Vec<u8> {
    let mut f = zn_frame(orig_len, 18);
    f[8] = 2; // input format: torch
    f.push(dims.len() as u8);
    for &d in dims {
        f.push(8);
        f.extend_from_slice(&d.to_le_bytes());
    }
    let n = f.len() as u64;
    f[24..32].copy_from_slice(&n.to_le_bytes());
    f
}

#[test]
fn znn_safetensors_claiming_huge_tensors() {
    let _g = lock();
    let dims = [1u64 << 20, 1 << 20]; // 2^40 bf16 elements: 2 TiB
    let frame = zn_torch_frame(1 << 41, &dims);
    let meta = r#"{"w": {"dtype": "bfloat16", "shape": "[1048576, 1048576]"}}"#;
    let file = safetensors(
        &[("w", "U8", vec![frame.len() as u64], frame.clone())],
        Some(meta),
    );
    assert_eq!(
        zipnn_wasm::detect(&file),
        zipnn_wasm::Format::ZipnnSafetensors
    );
    let (r, peak) = peak_of(|| zipnn_wasm::decompress(&file, &limit(64 * MIB)));
    assert_eq!(code(&r), "ZNN_TOO_LARGE");
    assert!(peak < MIB + 64 * file.len(), "peak {peak}");
    let (r, peak) = peak_of(|| zipnn_wasm::decompress(&file, &Limits::default()));
    assert_eq!(code(&r), "ZNN_CORRUPT"); // the frame cannot hold its tables
    assert!(peak < MIB + 64 * file.len(), "peak {peak}");
    // Many tensors that each claim 1 GiB: the sum is checked, not each one.
    let one = zn_torch_frame(1 << 30, &[1 << 29]);
    let names: Vec<String> = (0..64).map(|i| format!("t{i}")).collect();
    let tensors: Vec<_> = names
        .iter()
        .map(|n| (n.as_str(), "U8", vec![one.len() as u64], one.clone()))
        .collect();
    let file = safetensors(&tensors, None);
    let (r, peak) = peak_of(|| zipnn_wasm::decompress(&file, &limit(64 * MIB)));
    assert_eq!(code(&r), "ZNN_TOO_LARGE");
    assert!(peak < MIB + 64 * file.len(), "peak {peak}");
    // A shape whose element count overflows u64, and one that disagrees with the frame.
    for shape in ["[18446744073709551615, 4]", "[3]"] {
        let meta = format!(r#"{{"w": {{"dtype": "bfloat16", "shape": "{shape}"}}}}"#);
        let file = safetensors(
            &[("w", "U8", vec![frame.len() as u64], frame.clone())],
            Some(&meta),
        );
        let (r, peak) = peak_of(|| zipnn_wasm::decompress(&file, &Limits::default()));
        assert_eq!(code(&r), "ZNN_CORRUPT", "{shape}");
        assert!(peak < MIB, "peak {peak}");
    }
}

#[test]
fn safetensors_header_length_out_of_range() {
    let _g = lock();
    for n in [u64::MAX, 1 << 60, 100_000_001, 1 << 31] {
        let mut f = n.to_le_bytes().to_vec();
        f.extend_from_slice(b"{}      ");
        let (r, peak) = peak_of(|| zipnn_wasm::format::safetensors::parse(&f, f.len() as u64));
        assert!(r.is_err());
        assert!(peak < 4096, "peak {peak}");
        // Claiming the file is longer than the buffer given: still no over-read or allocation.
        let (r, peak) = peak_of(|| zipnn_wasm::format::safetensors::parse(&f, u64::MAX));
        assert!(r.is_err());
        assert!(peak < 4096, "peak {peak}");
    }
}

/// Streaming memory: a file with 16 MiB chunks fed in small pieces holds about one record,
/// one decoded chunk and one chunk of scratch, whatever the file size.
#[test]
fn streaming_decoder_memory_is_one_record() {
    let _g = lock();
    // Incompressible bf16 data: raw blocks, body = 16 MiB.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..48 * MIB)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let opts = znw::Options {
        dtype: znw::DTypeChoice::Fixed(DType::BF16),
        chunk_size: 16 << 20,
        ..Default::default()
    };
    let file = znw::compress(&data, &opts).unwrap();
    drop(data);
    for piece in [1000, 65536, 1 << 20] {
        let (r, peak) = peak_of(|| {
            let mut dec = Decoder::new(Limits::default());
            let mut sink = Discard(0);
            file.chunks(piece)
                .try_for_each(|p| dec.push(p, &mut sink))
                .and_then(|_| dec.finish())
                .map(|_| sink.0)
        });
        assert_eq!(r, Ok(48 * MIB as u64));
        eprintln!("streaming 48 MiB in {piece}-byte pieces, 16 MiB chunks: peak {peak} B");
        assert!(peak <= 3 * 16 * MIB + 2 * MIB, "{piece}: peak {peak}");
    }
}

/// Time, too: a `.znn.safetensors` header with tens of thousands of tensors used to look each
/// one up in the `znn_compressed_vectors` list by a scan, quadratic in the tensor count (a
/// 4.7 MB file took 16 s, 24 MB would take minutes). Now a map: well under a second.
#[test]
fn znn_safetensors_with_many_tensors_is_not_quadratic() {
    let _g = lock();
    let n = 60_000;
    let entries: Vec<_> = (0..n)
        .map(|i| (format!("t{i}"), "U8".to_string(), vec![1u64], i, i + 1))
        .collect();
    let listed: Vec<String> = (0..n)
        .map(|i| format!(r#""m{i}": {{"dtype": "bfloat16", "shape": "[1]"}}"#))
        .collect();
    let meta = vec![(
        "znn_compressed_vectors".to_string(),
        format!("{{{}}}", listed.join(", ")),
    )];
    let mut file = Vec::new();
    zipnn_wasm::format::safetensors::write_header(&entries, &meta, &mut file);
    file.extend(std::iter::repeat_n(0u8, n as usize));
    let t = std::time::Instant::now();
    let r = zipnn_wasm::decompress(&file, &Limits::default());
    let secs = t.elapsed().as_secs_f64();
    assert!(r.is_ok(), "{r:?}");
    eprintln!("{n} tensors, {} bytes: decoded in {secs:.2} s", file.len());
    let bound = if cfg!(debug_assertions) { 60.0 } else { 8.0 };
    assert!(secs < bound, "{secs} s");
}

/// A `.znn.safetensors` file that lists its compressed tensors, restored as a stream, holds one
/// compressed tensor and one decoded chunk (and the JSON header), whatever the file's size;
/// tensors stored as they are pass through without being held.
#[test]
fn znn_safetensors_stream_holds_one_tensor() {
    let _g = lock();
    let mut seed = 7u64;
    let mut weights = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                // bf16 weights: a skewed exponent byte, a noisy low byte.
                if i % 2 == 1 {
                    0x3c + (seed >> 62) as u8
                } else {
                    (seed >> 40) as u8
                }
            })
            .collect()
    };
    let opts = zipnn::ZipnnOptions::new(zipnn::ZDType::BF16);
    let mut tensors = Vec::new();
    let mut listed = Vec::new();
    let names: Vec<String> = (0..12).map(|i| format!("w{i:02}")).collect();
    let mut largest = 0;
    for name in &names {
        let frame = zipnn::compress(&weights(4 * MIB), &opts).unwrap();
        largest = largest.max(frame.len());
        listed.push(format!(
            r#""{name}": {{"dtype": "bfloat16", "shape": "[{}]"}}"#,
            2 * MIB
        ));
        tensors.push((name.as_str(), "U8", vec![frame.len() as u64], frame));
    }
    tensors.push(("raw", "U8", vec![16 * MIB as u64], weights(16 * MIB)));
    let meta = format!("{{{}}}", listed.join(", "));
    let file = safetensors(&tensors, Some(&meta));
    drop(tensors);

    struct Count(u64);
    impl Sink for Count {
        fn data(&mut self, _offset: u64, bytes: &[u8]) -> Result<(), Error> {
            self.0 += bytes.len() as u64;
            Ok(())
        }
    }
    let (total, peak) = peak_of(|| {
        let mut dec = zipnn_wasm::stream::AutoDecoder::znn_safetensors(Limits::default());
        let mut sink = Count(0);
        for piece in file.chunks(64 << 10) {
            dec.push(piece, &mut sink).unwrap();
        }
        dec.finish().unwrap();
        sink.0
    });
    assert!(total > 64 * MIB as u64, "{total}");
    assert!(peak < largest + MIB, "peak {peak}, largest frame {largest}");
}

/// A protobuf varint.
fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A protobuf length-delimited field.
fn delimited(field: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(field << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// The container the model parsers find in `file`, the shape of the tensor of `len` bytes
/// they found in it, and the heap they peaked at.
fn parsed(file: &[u8], len: u64) -> (Container, Vec<u64>, usize) {
    let (layout, peak) = peak_of(|| zipnn_wasm::format::tensors::detect(file).unwrap());
    let t = layout.tensors.iter().find(|t| t.end - t.start == len);
    let t = t.unwrap_or_else(|| panic!("{:?}: no tensor of {len} bytes", layout.container));
    (layout.container, t.shape.clone(), peak)
}

/// A shape of millions of dimensions (one or two bytes each in the file) took eight bytes a
/// dimension (a 140 MB ONNX file overran wasm32's address space, a `ZNN_INTERNAL` panic): past
/// 64 dimensions the tensor keeps no shape, and its bytes are still its element type's.
#[test]
fn shapes_of_millions_of_dimensions_are_not_held() {
    let _g = lock();
    let n = 4 << 20;
    // ONNX: a packed `dims` field of 1-byte varints, then the tensor's type, name and data.
    let mut t = delimited(1, &vec![1u8; n]);
    t.extend_from_slice(&[0x10, 0x01]);
    t.extend(delimited(8, b"w"));
    t.extend(delimited(
        9,
        &(0..=255u8).cycle().take(1024).collect::<Vec<_>>(),
    ));
    let mut onnx = vec![0x08, 0x07];
    onnx.extend(delimited(7, &delimited(5, &t)));
    // NumPy: `(1,1,...,1)` in a version 2 header.
    let mut h = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}1), }}",
        "1,".repeat(n - 1)
    );
    h.push_str(&" ".repeat((64 - (h.len() + 13) % 64) % 64));
    h.push('\n');
    let mut npy = b"\x93NUMPY\x02\x00".to_vec();
    npy.extend((h.len() as u32).to_le_bytes());
    npy.extend(h.as_bytes());
    npy.extend(1f32.to_le_bytes());
    // TFLite: one subgraph, one tensor over buffer 1 (64 bytes), its shape a vector of n ones.
    let tflite = tflite_with_shape(n);
    for (file, len, container) in [
        (&onnx, 1024, Container::Onnx),
        (&npy, 4, Container::Npy),
        (&tflite, 64, Container::Tflite),
    ] {
        let (c, shape, peak) = parsed(file, len);
        assert!(
            peak < MIB,
            "{container:?}: peak {peak} for {} bytes",
            file.len()
        );
        assert_eq!((c, shape.len()), (container, 0), "{container:?}");
    }
    // 64 dimensions are kept.
    let shape64 = delimited(1, &[2u8; 64]);
    let mut t = shape64.clone();
    t.extend_from_slice(&[0x10, 0x01]);
    t.extend(delimited(8, b"w"));
    t.extend(delimited(9, &[0; 1024]));
    let mut onnx = vec![0x08, 0x07];
    onnx.extend(delimited(7, &delimited(5, &t)));
    assert_eq!(parsed(&onnx, 1024).1, vec![2; 64]);
}

/// A TFLite flatbuffer: one subgraph with one tensor of shape `n` ones, whose data is buffer 1
/// (64 bytes).
fn tflite_with_shape(n: usize) -> Vec<u8> {
    let (vt_m, m, vt_sg, vt_t, sgv, sg, tv, t) = (8, 24, 36, 44, 56, 64, 72, 80);
    let bv = 92;
    let (b, dv) = (bv + 12, bv + 20);
    let shp = dv + 4 + 64;
    let mut f = vec![0u8; shp];
    let mut at = |p: usize, d: &[u8]| f[p..p + d.len()].copy_from_slice(d);
    let u32s = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let u16s = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    at(0, &u32s(&[m as u32]));
    at(4, b"TFL3");
    // Model: version (unused), subgraphs (field 2), buffers (field 4).
    at(vt_m, &u16s(&[14, 12, 0, 0, 4, 0, 8]));
    at(
        m,
        &u32s(&[
            (m - vt_m) as u32,
            (sgv - (m + 4)) as u32,
            (bv - (m + 8)) as u32,
        ]),
    );
    // SubGraph and Buffer: one field (tensors, data) at 4.
    at(vt_sg, &u16s(&[6, 8, 4]));
    // Tensor: shape (field 0) at 4, buffer (field 2) at 8.
    at(vt_t, &u16s(&[10, 12, 4, 0, 8]));
    at(sgv, &u32s(&[1, (sg - (sgv + 4)) as u32]));
    at(sg, &u32s(&[(sg - vt_sg) as u32, (tv - (sg + 4)) as u32]));
    at(tv, &u32s(&[1, (t - (tv + 4)) as u32]));
    at(t, &u32s(&[(t - vt_t) as u32, (shp - (t + 4)) as u32, 1]));
    at(
        bv,
        &u32s(&[2, (b - (bv + 4)) as u32, (b - (bv + 8)) as u32]),
    );
    at(b, &u32s(&[(b - vt_sg) as u32, (dv - (b + 4)) as u32]));
    at(dv, &u32s(&[64]));
    at(dv + 4, &(0..64u8).collect::<Vec<_>>());
    f.extend(u32s(&[n as u32]));
    f.extend(u32s(&vec![1; n]));
    f
}

/// A zip archive of stored members (classic records: fewer than 65,535 members).
fn stored_zip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in members {
        let at = out.len() as u32;
        let mut fields = vec![20u16, 0, 0, 0, 0];
        let sizes = [0u32, data.len() as u32, data.len() as u32];
        let le16 = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let le32 = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend(le16(&fields));
        out.extend(le32(&sizes));
        out.extend(le16(&[name.len() as u16, 0]));
        out.extend(name.as_bytes());
        out.extend(data);
        fields.insert(0, 20);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(le16(&fields));
        central.extend(le32(&sizes));
        central.extend(le16(&[name.len() as u16, 0, 0, 0, 0]));
        central.extend(le32(&[0, at]));
        central.extend(name.as_bytes());
    }
    let (at, n) = (out.len() as u32, members.len() as u16);
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend(n.to_le_bytes());
    out.extend(n.to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(at.to_le_bytes());
    out.extend([0, 0]);
    out
}

/// Thousands of small pickles, each naming its archive's storage 60 times over (copies out of
/// the memo), took 25 times the file's size: each pickle had a room of its own for what its
/// tensors take, and the many `4096`s of slack added up. The archive's pickles share one.
#[test]
fn many_small_pickles_share_one_room() {
    let _g = lock();
    let x = |s: &[u8]| [&[b'X'][..], &(s.len() as u32).to_le_bytes(), s].concat();
    let mut pickle = b"\x80\x02}(".to_vec();
    pickle.extend(x(b""));
    pickle.extend(b"q\x00ctorch._utils\n_rebuild_tensor_v2\n((");
    pickle.extend(x(b"storage"));
    pickle.extend(b"ctorch\nF\n");
    pickle.extend(x(b"0"));
    pickle.extend(b"tQK\x00))tRq\x01");
    pickle.extend(b"h\x00h\x01".repeat(60));
    pickle.extend(b"u.");
    let mut members = Vec::new();
    for i in 0..20_000 {
        members.push((format!("{i}/data.pkl"), pickle.clone()));
        members.push((format!("{i}/data/0"), vec![0; 4]));
    }
    let file = stored_zip(&members);
    drop(members);
    let (layout, peak) = peak_of(|| zipnn_wasm::format::tensors::detect(&file).unwrap());
    assert_eq!(layout.container, Container::PytorchZip);
    assert_eq!(layout.tensors.len(), 20_000);
    assert!(
        peak < 4 * file.len(),
        "peak {peak} for a file of {} bytes",
        file.len()
    );
}
