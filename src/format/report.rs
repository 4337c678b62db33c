//! What a compressed file holds, as `inspect` reports it: the same shape for `.znw` files
//! ([`znw::inspect`](fn@super::znw::inspect)), ZipNN frames and `.znn.safetensors` files.

use alloc::string::String;
use alloc::vec::Vec;

/// One segment: a `.znw` header's segment, a ZipNN frame, or a tensor (or the JSON header) of
/// the file a `.znn.safetensors` file restores to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentReport {
    /// The segment's name (FORMAT.md §2); `frame N` for a ZipNN frame.
    pub name: String,
    /// The element type it is coded as, by [`DType::name`](crate::DType::name) (`"bf16"`,
    /// `"bytes"`...).
    pub dtype: &'static str,
    /// The type's name in its container (`"BF16"`, `"JSON"`; torch's name for a ZipNN frame);
    /// may be empty.
    pub label: String,
    /// Dimensions; empty when none is known.
    pub shape: Vec<u64>,
    /// Where it starts in the decoded file.
    pub offset: u64,
    /// Its decoded length in bytes.
    pub length: u64,
    /// Compressed bytes attributed to this segment (chunks shared by several segments are
    /// split in proportion to the bytes each holds).
    pub compressed: u64,
}

/// A float type under which a raw file stored as bytes would take at least 1% of its decoded
/// size less, from trial compression of its first 4 MiB.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestion {
    /// The type, by [`DType::name`](crate::DType::name): `"bf16"`, `"fp16"`, `"fp32"` or
    /// `"fp64"`.
    pub dtype: &'static str,
    /// Compressed over decoded bytes that the suggested type reached on the sample (lower is
    /// smaller).
    pub ratio: f64,
    /// The same ratio for the sample as stored (its chunk records over its decoded bytes).
    pub current_ratio: f64,
}

/// What a compressed file holds, as [`inspect`](crate::inspect) reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// The compressed format: `"znw"`, `"zipnn"` or `"znn-safetensors"`.
    pub format: &'static str,
    /// What the original bytes were, by [`Container::name`](super::Container::name) (`"raw"`
    /// for ZipNN frames, `"safetensors"` for a `.znn.safetensors` file).
    pub container: &'static str,
    /// Decoded size in bytes.
    pub total_size: u64,
    /// Size of the compressed file in bytes.
    pub compressed_size: u64,
    /// Decoded bytes per chunk: a `.znw` header's `max_chunk`; for ZipNN frames, 2^`chunk_log2`
    /// as the first frame records it (fp8 frames decode in chunks of at most 128 KiB); in a
    /// `.znn.safetensors` file the largest any frame records (0 without frames).
    pub chunk_size: u64,
    /// Chunk records of a `.znw` file, frames of a ZipNN file, tensors held as frames in a
    /// `.znn.safetensors` file.
    pub chunks: usize,
    /// The segments, sorted by decoded offset.
    pub segments: Vec<SegmentReport>,
    /// For files stored as plain bytes: a float type that would compress the data better.
    pub suggestion: Option<Suggestion>,
    /// Which block coders the encoder chose: per mode, the number of blocks and their bytes.
    pub modes: Vec<ModeReport>,
    /// Set for a delta, which decodes only with its base.
    pub delta: Option<DeltaReport>,
    /// Set for ZipNN frames (`format` "zipnn"), whose segments are their frames.
    pub zipnn: Option<ZipnnReport>,
}

/// What ZipNN frame headers say beyond the segments.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ZipnnReport {
    /// The zipnn version that wrote the first frame.
    pub version: [u8; 3],
    /// The streaming chunk of a file of streaming frames.
    pub streaming_chunk: Option<u64>,
    /// Each frame's place in the file (its segment holds its place in the output).
    pub frames: Vec<FrameReport>,
}

/// Where one ZipNN frame is in the compressed file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FrameReport {
    /// Offset of the frame's first byte.
    pub offset: u64,
    /// Bytes of the whole frame, header included.
    pub length: u64,
    /// The frame holds its data XORed with a base, which decoding needs.
    pub delta: bool,
}

/// What a `.znw` delta says about its base (FORMAT.md §2.1).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeltaReport {
    /// Length of the base file it was made against.
    pub base_size: u64,
    /// XXH3-64 of that base file.
    pub base_xxh3: u64,
    /// Decoded bytes XORed with base bytes at another offset (moved tensors).
    pub moved: u64,
    /// Decoded bytes coded as they are, not XORed.
    pub unxored: u64,
}

/// The blocks of one mode (FORMAT.md §3.2) in a `.znw` file's chunks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModeReport {
    /// The block mode byte.
    pub mode: u8,
    /// Its name (`"raw"`, `"huff0"`, `"tANS"`, `"context: exponent history"`...).
    pub name: &'static str,
    /// Number of blocks of this mode.
    pub blocks: u64,
    /// Bytes those blocks take, mode byte and length field included.
    pub bytes: u64,
}
