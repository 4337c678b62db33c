//! The encoder's container readers (`format::{gguf, zip, npy, tflite, onnx}` and
//! `tensors::detect`, which `znw::describe` plans the segments from): hostile bytes give `None`
//! or tensors whose sizes agree with their types; the detected layout is sorted, not
//! overlapping and inside the file; a small input that parses compresses and decompresses to
//! exactly its bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::tensors::{self, Tensor};
use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::format::{gguf, npy, onnx, tflite, zip, Container};
use zipnn_wasm::{DType, Limits};
use zipnn_wasm_fuzz::*;

/// Largest input that gets a round trip (compressing costs ~30x a parse).
const ROUND_TRIP_MAX: usize = 16 << 10;

fn elements(t: &Tensor) -> Option<u64> {
    t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
}

fn ordered(ts: &[Tensor]) -> bool {
    ts.iter().all(|t| t.start <= t.end)
}

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let ctl = c.u8();
    let buf = c.rest();
    begin(buf.len());
    let len = buf.len() as u64;

    if let Some(ts) = gguf::tensors(buf) {
        assert!(ordered(&ts));
        // Float types are one element per block: the range is exactly shape x element size.
        for t in &ts {
            let size = match t.label.as_str() {
                "F32" => 4,
                "F16" | "BF16" => 2,
                _ => continue,
            };
            assert_eq!(Some(t.end - t.start), elements(t).map(|n| n * size));
        }
    }
    if let Some((container, ts)) = zip::tensors(buf) {
        assert!(matches!(container, Container::PytorchZip | Container::Npz));
        assert!(ordered(&ts));
    }
    if let Some(t) = npy::array(buf, 0, buf.len(), String::new()) {
        assert!(10 <= t.start && t.start <= t.end && t.end == len);
    }
    // A member in the middle, as an .npz entry would be.
    let (at, end) = (
        ctl as usize % 16,
        buf.len().saturating_sub(ctl as usize / 16),
    );
    if let Some(t) = npy::array(buf, at, end, String::new()) {
        assert!(at as u64 + 10 <= t.start && t.start <= t.end && t.end == end as u64);
    }
    if let Some(ts) = tflite::tensors(buf) {
        assert!(ordered(&ts));
    }
    if let Some(ts) = onnx::tensors(buf) {
        // ONNX data is always a field's bytes in the file.
        assert!(ts.iter().all(|t| t.start <= t.end && t.end <= len));
    }

    let Some(layout) = tensors::detect(buf) else {
        return;
    };
    // Empty ranges only where the container lists them as entries (`detect` keeps those: a
    // safetensors, npz or npy tensor of no bytes, also one whose shape promised some).
    let keep_empty = matches!(
        layout.container,
        Container::Safetensors | Container::Npz | Container::Npy
    );
    let mut prev = 0;
    for t in &layout.tensors {
        assert!(prev <= t.start && t.start <= t.end && t.end <= len);
        assert!(t.start < t.end || keep_empty);
        prev = t.end;
    }
    // Bit 2 of the control byte asks for the round trip: the parse-only inputs stay fast.
    if ctl & 4 == 0 || buf.len() > ROUND_TRIP_MAX {
        return;
    }
    let dtype = if ctl & 1 == 0 {
        DTypeChoice::Auto
    } else {
        DTypeChoice::Fixed(DType::Bytes)
    };
    let opts = Options {
        dtype,
        chunk_size: 4096,
        // tANS is left to roundtrip_znw: choosing its tables would take most of the time here.
        ..Options::default()
    };
    let packed = znw::compress(buf, &opts).expect("compress failed");
    let (h, _) = znw::Header::parse(&packed).expect("header of our own file");
    assert_eq!(h.container, layout.container);
    let lim = Limits { max_output: len };
    let out = zipnn_wasm::decompress(&packed, &lim).expect("decompress of our own file");
    assert!(out == buf, "round trip differs");
});
