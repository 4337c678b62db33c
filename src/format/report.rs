//! What a compressed file holds, as `inspect` reports it: the same shape for `.znw` files
//! ([`znw::inspect`](fn@super::znw::inspect)), ZipNN frames and `.znn.safetensors` files.

use alloc::string::String;
use alloc::vec::Vec;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentReport {
    pub name: String,
    pub dtype: &'static str,
    pub label: String,
    pub shape: Vec<u64>,
    pub offset: u64,
    pub length: u64,
    /// Compressed bytes attributed to this segment (chunks shared by several segments are
    /// split in proportion to the bytes each holds).
    pub compressed: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestion {
    pub dtype: &'static str,
    /// Ratio the suggested type reached on the sample, and the ratio of the sample as stored.
    pub ratio: f64,
    pub current_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    pub format: &'static str,
    pub container: &'static str,
    pub total_size: u64,
    pub compressed_size: u64,
    pub chunk_size: u64,
    pub chunks: usize,
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

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FrameReport {
    pub offset: u64,
    pub length: u64,
    /// The frame holds its data XORed with a base, which decoding needs.
    pub delta: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeltaReport {
    /// The base file it was made against: its length and XXH3-64.
    pub base_size: u64,
    pub base_xxh3: u64,
    /// Decoded bytes XORed with base bytes at another offset (moved tensors), and bytes coded
    /// as they are (FORMAT.md §2.1).
    pub moved: u64,
    pub unxored: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModeReport {
    pub mode: u8,
    pub name: &'static str,
    pub blocks: u64,
    pub bytes: u64,
}
