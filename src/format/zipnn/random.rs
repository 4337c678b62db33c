//! Reads at decoded offsets of ZipNN's files, as `znw::RandomAccess` reads ours: the frame
//! headers are read once (and a `.znn.safetensors` file's JSON header), a frame's chunk tables
//! when a read first reaches that frame, and a read decodes only the chunks that hold its bytes.
//! ZipNN's files carry no checksums: what a whole decode cannot tell, a read cannot either.

use super::safetensors::{plan, Plan};
use super::{decode_chunks_from, frames_from, missing_base, FrameHeader, FrameLayout, FrameSource};
use crate::format::safetensors as st;
use crate::format::znw::Segment;
use crate::format::{grow, range_end, to_usize, Container, Error, Limits, Source};
use crate::DType;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

/// Where one stretch of the decoded file comes from.
#[derive(Debug)]
enum Part {
    /// The restored safetensors header (`RandomAccess::restored`).
    Restored,
    /// Bytes of the file at this position, as they are (a tensor zipnn left uncompressed).
    Copied(u64),
    /// The frame at this position.
    Frame(u64, FrameHeader),
}

#[derive(Debug)]
struct Stretch {
    /// Decoded offset.
    offset: u64,
    len: u64,
    part: Part,
}

/// A ZipNN file (frames, or `.znn.safetensors`) opened for reads at decoded offsets.
#[derive(Debug)]
pub struct RandomAccess {
    stretches: Vec<Stretch>,
    segments: Vec<Segment>,
    container: Container,
    restored: Vec<u8>,
    /// The frame (stretch index) whose chunk tables `layout` holds.
    layout: Option<(usize, FrameLayout)>,
    /// The (stretch, chunk) whose decoded bytes are in `buf`.
    cached: Option<(usize, usize)>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    io: Vec<u8>,
}

impl RandomAccess {
    /// Opens a file of ZipNN frames (one, or a streaming sequence): reads every frame header.
    /// Delta frames need their base: `Unsupported`.
    pub fn open_frames<S: Source + ?Sized>(src: &mut S, limits: &Limits) -> Result<Self, Error> {
        let (frames, _) = frames_from(src, limits)?;
        let (mut stretches, mut segments) = (Vec::new(), Vec::new());
        let mut offset = 0;
        for (i, f) in frames.into_iter().enumerate() {
            if f.header.delta != 0 {
                return Err(missing_base());
            }
            let len = f.header.orig_len;
            // As `inspect` names them: a frame is a stretch of the output, not a tensor.
            segments.push(Segment {
                name: alloc::format!("frame {i}"),
                dtype: f.header.dtype.to_dtype(),
                label: String::from(f.header.dtype.torch_name()),
                shape: f.header.shape.clone().unwrap_or_default(),
                offset,
                length: len,
            });
            stretches.push(Stretch {
                offset,
                len,
                part: Part::Frame(f.pos, f.header),
            });
            offset += len;
        }
        Ok(Self::new(stretches, segments, Container::Raw, Vec::new()))
    }

    /// Opens a `.znn.safetensors` file: reads its header and each compressed tensor's frame
    /// header, and restores the original JSON header, as a whole decode does.
    pub fn open_safetensors<S: Source + ?Sized>(
        src: &mut S,
        limits: &Limits,
    ) -> Result<Self, Error> {
        let Plan {
            header,
            pieces,
            total,
        } = plan(src, limits)?;
        let restored = st::parse(&header, total)?;
        let mut segments = alloc::vec![Segment {
            name: String::from("__header__"),
            dtype: DType::Bytes,
            label: String::from("JSON"),
            shape: Vec::new(),
            offset: 0,
            length: header.len() as u64,
        }];
        let mut stretches = alloc::vec![Stretch {
            offset: 0,
            len: header.len() as u64,
            part: Part::Restored,
        }];
        // A whole decode writes the header, then the plan's pieces back to back: their bytes
        // are there, whatever order the header gives tensors that share an offset (empty ones).
        if pieces.len() != restored.tensors.len() {
            return Err(Error::corrupt("tensor missing from the restored header"));
        }
        let mut listed: BTreeMap<String, st::TensorInfo> = restored
            .tensors
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let mut offset = header.len() as u64;
        for p in pieces {
            let t = listed
                .remove(&p.name)
                .filter(|t| t.end - t.start == p.len)
                .ok_or_else(|| Error::corrupt("tensor missing from the restored header"))?;
            let (dtype, part) = match p.frame {
                Some(h) => (h.dtype.to_dtype(), Part::Frame(p.start, h)),
                None => (DType::Bytes, Part::Copied(p.start)),
            };
            segments.push(Segment {
                name: p.name,
                dtype,
                label: t.dtype,
                shape: t.shape,
                offset,
                length: p.len,
            });
            stretches.push(Stretch {
                offset,
                len: p.len,
                part,
            });
            offset += p.len;
        }
        Ok(Self::new(
            stretches,
            segments,
            Container::Safetensors,
            header,
        ))
    }

    fn new(
        stretches: Vec<Stretch>,
        segments: Vec<Segment>,
        container: Container,
        restored: Vec<u8>,
    ) -> Self {
        RandomAccess {
            stretches,
            segments,
            container,
            restored,
            layout: None,
            cached: None,
            buf: Vec::new(),
            scratch: Vec::new(),
            io: Vec::new(),
        }
    }

    /// The decoded size.
    pub fn size(&self) -> u64 {
        self.stretches.last().map_or(0, |s| s.offset + s.len)
    }

    /// Each frame (`frame 0`...) of a file of frames; each tensor of a restored
    /// `.znn.safetensors` file, after its `__header__`.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// What the decoded file is: safetensors, or raw bytes for a file of frames.
    pub fn container(&self) -> Container {
        self.container
    }

    /// `len` decoded bytes at `offset`, handed to `emit(position in the range, bytes)` a piece
    /// at a time, in order: see [`crate::format::znw::RandomAccess::read_with`].
    pub fn read_with<S: Source + ?Sized>(
        &mut self,
        src: &mut S,
        offset: u64,
        len: u64,
        mut emit: impl FnMut(u64, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let end = range_end(offset, len, self.size())?;
        let mut i = self
            .stretches
            .partition_point(|s| s.offset + s.len <= offset);
        let mut at = offset;
        while at < end {
            let (s_off, s_len) = (self.stretches[i].offset, self.stretches[i].len);
            let rel = at - s_off;
            let want = (end - at).min(s_len - rel);
            match self.stretches[i].part {
                Part::Restored => {
                    let r = to_usize(rel)?..to_usize(rel + want)?;
                    emit(at - offset, &self.restored[r])?;
                }
                Part::Copied(pos) => {
                    // In pieces of at most a chunk's worth: a tensor may be larger than memory.
                    let mut done = 0;
                    while done < want {
                        let n = (want - done).min(COPY_PIECE) as usize;
                        emit(at - offset + done, src.read(pos + rel + done, n)?)?;
                        done += n as u64;
                    }
                }
                Part::Frame(..) => {
                    let mut done = 0;
                    while done < want {
                        let (c, chunk, bytes) = self.chunk_at(src, i, rel + done)?;
                        let from = (rel + done - c * chunk) as usize;
                        let n = (want - done).min((bytes.len() - from) as u64) as usize;
                        emit(at - offset + done, &bytes[from..from + n])?;
                        done += n as u64;
                    }
                }
            }
            at += want;
            i += 1;
        }
        Ok(())
    }

    /// The chunk of frame stretch `i` that holds decoded byte `rel` of the frame: its index,
    /// the frame's chunk size and its decoded bytes (decoded now unless they are the last).
    fn chunk_at<S: Source + ?Sized>(
        &mut self,
        src: &mut S,
        i: usize,
        rel: u64,
    ) -> Result<(u64, u64, &[u8]), Error> {
        let Part::Frame(pos, ref h) = self.stretches[i].part else {
            unreachable!("chunk_at of a frame")
        };
        let frame_len = to_usize(h.frame_len)?;
        if self.layout.as_ref().is_none_or(|(j, _)| *j != i) {
            self.layout = None;
            let mut frame = FrameAt::new(src, pos, frame_len, &mut self.io);
            self.layout = Some((i, FrameLayout::read(&mut frame, h, h.orig_len)?));
        }
        let Some((_, layout)) = &self.layout else {
            unreachable!("read above")
        };
        let chunk = layout.chunk as u64;
        let c = to_usize(rel / chunk)?;
        let len = to_usize(layout.output_len(c..c + 1))?;
        if self.cached != Some((i, c)) {
            // Not valid again until this chunk has decoded.
            self.cached = None;
            let out = &mut grow(&mut self.buf, len)?[..len];
            let mut frame = FrameAt::new(src, pos, frame_len, &mut self.io);
            decode_chunks_from(&mut frame, h, layout, c..c + 1, out, &mut self.scratch)?;
            self.cached = Some((i, c));
        }
        Ok((c as u64, chunk, &self.buf[..len]))
    }
}

/// Largest piece of a stored tensor read at once.
const COPY_PIECE: u64 = 1 << 20;

/// A frame read through a [`Source`]: the ranges a chunk needs copied into one buffer.
struct FrameAt<'a, S: ?Sized> {
    src: &'a mut S,
    pos: u64,
    len: usize,
    buf: &'a mut Vec<u8>,
}

impl<'a, S: Source + ?Sized> FrameAt<'a, S> {
    fn new(src: &'a mut S, pos: u64, len: usize, buf: &'a mut Vec<u8>) -> Self {
        FrameAt { src, pos, len, buf }
    }
}

impl<S: Source + ?Sized> FrameSource for FrameAt<'_, S> {
    fn size(&self) -> usize {
        self.len
    }
    fn read<'b>(&'b mut self, ranges: &[Range<usize>], out: &mut [&'b [u8]]) -> Result<(), Error> {
        // One range (a frame's tables) is the source's own bytes: no second copy of them.
        if let ([r], [o]) = (ranges, &mut *out) {
            *o = self.src.read(self.pos + r.start as u64, r.len())?;
            return Ok(());
        }
        let total = ranges.iter().map(|r| r.len()).sum();
        grow(self.buf, total)?;
        let mut at = 0;
        for r in ranges {
            let bytes = self.src.read(self.pos + r.start as u64, r.len())?;
            self.buf[at..at + r.len()].copy_from_slice(bytes);
            at += r.len();
        }
        let mut at = 0;
        for (o, r) in out.iter_mut().zip(ranges) {
            *o = &self.buf[at..at + r.len()];
            at += r.len();
        }
        Ok(())
    }
}
