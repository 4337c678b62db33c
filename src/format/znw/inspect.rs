//! What a compressed file holds, per segment, without decoding more than a sample (the
//! chunks that hold its first 4 MiB, for a raw file stored as bytes).

use super::{chunk, decoded_total, index_source, ChunkInfo, Header};
use crate::dtype::DType;
use crate::format::report::{DeltaReport, ModeReport, Report, SegmentReport, Suggestion};
use crate::format::{Container, Error, Limits, Source};
use alloc::vec::Vec;

/// Name of a block mode (FORMAT.md §3.2).
pub fn mode_name(mode: u8) -> &'static str {
    match mode {
        0 => "raw",
        1 => "repeat",
        2 => "huff0",
        11 => "huff0 (wide streams)",
        3 => "tANS",
        4 => "sparse",
        5 => "lz",
        6 => "context: exponent history",
        7 => "context: mantissa given exponent",
        8 => "context: split exponent/mantissa",
        9 => "context: mantissa and sign given exponent, column",
        10 => "context: mantissa and sign given exponent, neighbour",
        12 => "bit planes (high bits coded, low bits stored)",
        _ => "unknown",
    }
}

fn modes<S: Source + ?Sized>(src: &mut S, chunks: &[ChunkInfo]) -> Result<Vec<ModeReport>, Error> {
    let mut by_mode: Vec<ModeReport> = Vec::new();
    for c in chunks {
        let blocks = chunk::block_modes_in(&c.head, src, c.body_offset, c.head.body_len as usize)?;
        add_modes(&mut by_mode, blocks);
    }
    by_mode.sort_by_key(|m| m.mode);
    Ok(by_mode)
}

/// Adds a chunk's blocks to `by_mode`.
pub(crate) fn count_modes(by_mode: &mut Vec<ModeReport>, head: &chunk::ChunkHead, body: &[u8]) {
    add_modes(by_mode, chunk::block_modes(head, body));
}

/// Adds blocks (mode, coded size) to `by_mode`.
fn add_modes(by_mode: &mut Vec<ModeReport>, blocks: Vec<(u8, usize)>) {
    for (mode, len) in blocks {
        match by_mode.iter_mut().find(|m| m.mode == mode) {
            Some(m) => {
                m.blocks += 1;
                m.bytes += len as u64;
            }
            None => by_mode.push(ModeReport {
                mode,
                name: mode_name(mode),
                blocks: 1,
                bytes: len as u64,
            }),
        }
    }
}

/// Sample size decoded to look for a better element type.
pub(crate) const SAMPLE: usize = 4 << 20;

/// What a `.znw` file holds: its segments with the bytes each takes, the block modes its
/// chunks use, a better element type for a raw file stored as bytes, and a delta's base.
pub fn inspect(data: &[u8]) -> Result<Report, Error> {
    inspect_source(&mut &data[..])
}

/// [`inspect`] over any [`Source`]: reads the header, the record heads, each block's mode and
/// length and (for a raw file stored as bytes) the chunks of a 4 MiB sample; never the whole
/// file at once.
pub fn inspect_source<S: Source + ?Sized>(src: &mut S) -> Result<Report, Error> {
    let (header, chunks) = index_source(src, &Limits::default())?;
    let total = decoded_total(&chunks);
    let mut segments = segment_reports(&header);
    let mut spread = Attribution::default();
    for c in &chunks {
        let rec = (chunk::HEAD_LEN + c.head.body_len as usize) as u64;
        spread.add(&mut segments, c.offset, c.head.raw_len as u64, rec);
    }
    let suggestion = suggest(src, &header, &chunks)?;
    let modes = modes(src, &chunks)?;
    let delta = header.base.map(|b| {
        let bytes = |moved: bool| {
            (header.realign.iter())
                .filter(|r| r.base_offset.is_some() == moved)
                .map(|r| r.length)
                .sum()
        };
        DeltaReport {
            base_size: b.len,
            base_xxh3: b.checksum,
            moved: bytes(true),
            unxored: bytes(false),
        }
    });
    Ok(Report {
        format: "znw",
        container: header.container.name(),
        total_size: total,
        compressed_size: src.size(),
        chunk_size: header.max_chunk.into(),
        chunks: chunks.len(),
        segments,
        suggestion,
        modes,
        delta,
        zipnn: None,
    })
}

/// The header's segments, with nothing compressed attributed yet.
pub(crate) fn segment_reports(header: &Header) -> Vec<SegmentReport> {
    header
        .segments
        .iter()
        .map(|s| SegmentReport {
            name: s.name.clone(),
            dtype: s.dtype.name(),
            label: s.label.clone(),
            shape: s.shape.clone(),
            offset: s.offset,
            length: s.length,
            compressed: 0,
        })
        .collect()
}

/// Spreads chunks' record sizes over the segments they overlap, a chunk at a time in file
/// order (chunks shared by several segments are split in proportion to the bytes each holds).
#[derive(Default)]
pub(crate) struct Attribution {
    first: usize,
}

impl Attribution {
    /// The chunk of `raw_len` decoded bytes at decoded offset `cs`, `rec` bytes in the file.
    pub(crate) fn add(&mut self, segments: &mut [SegmentReport], cs: u64, raw_len: u64, rec: u64) {
        let ce = cs + raw_len;
        if raw_len == 0 {
            return;
        }
        while self.first < segments.len()
            && segments[self.first].offset + segments[self.first].length <= cs
        {
            self.first += 1;
        }
        for s in segments[self.first..].iter_mut() {
            if s.offset >= ce {
                break;
            }
            let overlap = (s.offset + s.length)
                .min(ce)
                .saturating_sub(s.offset.max(cs));
            s.compressed += rec * overlap / (ce - cs);
        }
    }
}

/// For a raw file coded entirely as bytes, trial-compress a decoded sample as each float
/// type. A container's types come from the container, whatever `--dtype` says: no note.
fn suggest<S: Source + ?Sized>(
    src: &mut S,
    header: &Header,
    chunks: &[ChunkInfo],
) -> Result<Option<Suggestion>, Error> {
    if header.container != Container::Raw
        || chunks.is_empty()
        || chunks.iter().any(|c| c.head.dtype != DType::Bytes)
    {
        return Ok(None);
    }
    let mut sample = Vec::new();
    let mut stored = 0usize;
    let mut scratch = Vec::new();
    for c in chunks {
        if sample.len() >= SAMPLE {
            break;
        }
        let at = sample.len();
        sample.resize(at + c.head.raw_len as usize, 0);
        let body = src.read(c.body_offset, c.head.body_len as usize)?;
        chunk::decode(&c.head, body, c.offset, &mut sample[at..], &mut scratch)?;
        stored += chunk::HEAD_LEN + body.len();
    }
    Ok(suggest_from(
        &sample,
        stored,
        header.max_chunk,
        &mut scratch,
    ))
}

/// [`suggest`] from the decoded sample and the bytes its chunks take in the file.
pub(crate) fn suggest_from(
    sample: &[u8],
    stored: usize,
    max_chunk: u32,
    scratch: &mut Vec<u8>,
) -> Option<Suggestion> {
    let current_ratio = stored as f64 / sample.len() as f64;
    // The sample is whole chunks (one may be 16 MiB); the trials take its first SAMPLE bytes.
    let sample = &sample[..sample.len().min(SAMPLE)];
    let mut best: Option<Suggestion> = None;
    for dtype in [DType::BF16, DType::F16, DType::F32, DType::F64] {
        let size = chunk::trial_size(sample, dtype, 0, max_chunk as usize, scratch);
        let ratio = size as f64 / sample.len() as f64;
        // Only worth a note when it saves at least 1% of the file.
        if ratio < current_ratio - 0.01 && best.as_ref().is_none_or(|b| ratio < b.ratio) {
            best = Some(Suggestion {
                dtype: dtype.name(),
                ratio,
                current_ratio,
            });
        }
    }
    best
}
