//! The file header (FORMAT.md §2): sizes, and the segment table naming every tensor.

use crate::dtype::DType;
use crate::format::{Container, Error, Reader};
use alloc::string::String;
use alloc::vec::Vec;

/// `\x89ZNW\r\n\x1a\n`: a non-ASCII first byte and the CR/LF/^Z trio catch text-mode mangling.
pub const MAGIC: [u8; 8] = [0x89, b'Z', b'N', b'W', 0x0D, 0x0A, 0x1A, 0x0A];
pub const VERSION: u8 = 1;
/// Bytes before the header length is known: magic, version, flags, reserved, header_len.
pub const PREFIX_LEN: usize = 16;
/// Largest header we accept: bounds what a hostile length can make us buffer.
pub const MAX_HEADER_LEN: u32 = 64 << 20;
/// Largest chunk (decoded bytes) we accept; bounds per-chunk scratch memory.
pub const MAX_CHUNK: u32 = 16 << 20;

const FLAG_SIZE_KNOWN: u8 = 1;
const FLAG_DELTA: u8 = 2;

/// The base file a delta was made against (FORMAT.md §2.1): decoding needs the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseRef {
    pub len: u64,
    /// XXH3-64 of the whole base file.
    pub checksum: u64,
}

impl BaseRef {
    pub fn of(base: &[u8]) -> Self {
        BaseRef {
            len: base.len() as u64,
            checksum: xxhash_rust::xxh3::xxh3_64(base),
        }
    }
}

/// A named stretch of the original bytes: a tensor, a file header, padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    /// Element type the encoder coded this segment as.
    pub dtype: DType,
    /// The original type's name in its container (`"BF16"`, `"I64"`...), may be empty.
    pub label: String,
    pub shape: Vec<u64>,
    pub offset: u64,
    pub length: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Decoded size, when the encoder knew it up front (always, except for streaming encode).
    pub total_size: Option<u64>,
    /// Upper bound on every chunk's decoded length.
    pub max_chunk: u32,
    pub container: Container,
    pub segments: Vec<Segment>,
    /// Set when the chunks code `data XOR base` (missing bytes of a shorter base count as 0).
    pub base: Option<BaseRef>,
}

impl Header {
    pub fn write(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        let mut flags = 0;
        if self.total_size.is_some() {
            flags |= FLAG_SIZE_KNOWN;
        }
        if self.base.is_some() {
            flags |= FLAG_DELTA;
        }
        out.push(flags);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&[0; 4]); // header_len, patched below
        out.extend_from_slice(&self.total_size.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.max_chunk.to_le_bytes());
        out.push(self.container.code());
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        for s in &self.segments {
            let name = &s.name.as_bytes()[..s.name.len().min(u16::MAX as usize)];
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name);
            out.push(s.dtype.code());
            let label = &s.label.as_bytes()[..s.label.len().min(u8::MAX as usize)];
            out.push(label.len() as u8);
            out.extend_from_slice(label);
            let ndim = s.shape.len().min(u8::MAX as usize);
            out.push(ndim as u8);
            for d in &s.shape[..ndim] {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&s.offset.to_le_bytes());
            out.extend_from_slice(&s.length.to_le_bytes());
        }
        if let Some(b) = self.base {
            out.extend_from_slice(&b.len.to_le_bytes());
            out.extend_from_slice(&b.checksum.to_le_bytes());
        }
        let len = (out.len() - start + 4) as u32;
        out[start + 12..start + 16].copy_from_slice(&len.to_le_bytes());
        let sum = checksum(&out[start..]);
        out.extend_from_slice(&sum.to_le_bytes());
    }

    /// How many bytes the whole header has, from its first `PREFIX_LEN` bytes.
    pub fn len_from_prefix(prefix: &[u8]) -> Result<usize, Error> {
        if prefix.len() < PREFIX_LEN {
            return Err(Error::Truncated);
        }
        if prefix[..8] != MAGIC {
            return Err(Error::NotCompressed);
        }
        if prefix[8] != VERSION {
            return Err(Error::Unsupported(alloc::format!(
                "container version {} (this decoder reads version {VERSION})",
                prefix[8]
            )));
        }
        let len = u32::from_le_bytes([prefix[12], prefix[13], prefix[14], prefix[15]]);
        if !(40..=MAX_HEADER_LEN).contains(&len) {
            return Err(Error::corrupt("header length out of range"));
        }
        Ok(len as usize)
    }

    /// Parses and verifies a header from the front of `buf`; returns it and its length.
    pub fn parse(buf: &[u8]) -> Result<(Header, usize), Error> {
        let len = Self::len_from_prefix(buf)?;
        let bytes = buf.get(..len).ok_or(Error::Truncated)?;
        let (body, sum) = bytes.split_at(len - 4);
        if checksum(body).to_le_bytes() != sum {
            return Err(Error::Checksum {
                what: "header",
                offset: 0,
            });
        }
        let mut r = Reader::new(body);
        r.pos = 9;
        let flags = r.u8()?;
        if flags & !(FLAG_SIZE_KNOWN | FLAG_DELTA) != 0 {
            return Err(Error::Unsupported(alloc::format!(
                "header flags {flags:#x}"
            )));
        }
        // Reserved bytes and an unused size must be 0, so that every header has exactly one
        // encoding and a later version can give them a meaning.
        if r.u16()? != 0 {
            return Err(Error::corrupt("reserved header bits set"));
        }
        r.pos = PREFIX_LEN;
        let total = r.u64()?;
        let total_size = (flags & FLAG_SIZE_KNOWN != 0).then_some(total);
        if total_size.is_none() && total != 0 {
            return Err(Error::corrupt("total size given but flagged unknown"));
        }
        let max_chunk = r.u32()?;
        if max_chunk == 0 || max_chunk > MAX_CHUNK {
            return Err(Error::corrupt("chunk size out of range"));
        }
        let container = Container::from_code(r.u8()?)
            .ok_or_else(|| Error::Unsupported("unknown container kind".into()))?;
        if r.bytes(3)? != [0, 0, 0] {
            return Err(Error::corrupt("reserved header bits set"));
        }
        let n = r.u32()? as usize;
        // Each segment takes at least 21 bytes, so `n` cannot make us allocate beyond the header.
        if n > body.len() / 21 {
            return Err(Error::corrupt("segment count exceeds header"));
        }
        let mut segments = Vec::with_capacity(n);
        let mut prev_end = 0u64;
        for _ in 0..n {
            let name_len = r.u16()? as usize;
            let name = utf8(r.bytes(name_len)?)?;
            let dtype =
                DType::from_code(r.u8()?).ok_or_else(|| Error::corrupt("unknown segment dtype"))?;
            let label_len = r.u8()? as usize;
            let label = utf8(r.bytes(label_len)?)?;
            let ndim = r.u8()? as usize;
            let mut shape = Vec::with_capacity(ndim);
            for _ in 0..ndim {
                shape.push(r.u64()?);
            }
            let offset = r.u64()?;
            let length = r.u64()?;
            let end = offset
                .checked_add(length)
                .ok_or_else(|| Error::corrupt("segment end"))?;
            if offset < prev_end || total_size.is_some_and(|t| end > t) {
                return Err(Error::corrupt("segments overlap or exceed the file"));
            }
            prev_end = end;
            segments.push(Segment {
                name,
                dtype,
                label,
                shape,
                offset,
                length,
            });
        }
        let base = if flags & FLAG_DELTA != 0 {
            Some(BaseRef {
                len: r.u64()?,
                checksum: r.u64()?,
            })
        } else {
            None
        };
        if r.pos != body.len() {
            return Err(Error::corrupt("header has trailing bytes"));
        }
        Ok((
            Header {
                total_size,
                max_chunk,
                container,
                segments,
                base,
            },
            len,
        ))
    }
}

fn utf8(b: &[u8]) -> Result<String, Error> {
    core::str::from_utf8(b)
        .map(String::from)
        .map_err(|_| Error::corrupt("name is not UTF-8"))
}

/// The checksum used everywhere in the container: low 32 bits of XXH3-64.
pub fn checksum(data: &[u8]) -> u32 {
    xxhash_rust::xxh3::xxh3_64(data) as u32
}

/// Chunk checksum, seeded with the chunk's decoded offset so that reordered or duplicated
/// chunks fail verification even when each one is intact.
pub fn chunk_checksum(data: &[u8], offset: u64) -> u32 {
    xxhash_rust::xxh3::xxh3_64_with_seed(data, offset) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> Header {
        Header {
            total_size: Some(1000),
            max_chunk: 1 << 18,
            container: Container::Safetensors,
            segments: vec![
                Segment {
                    name: "__header__".into(),
                    dtype: DType::Bytes,
                    label: String::new(),
                    shape: vec![],
                    offset: 0,
                    length: 100,
                },
                Segment {
                    name: "w".into(),
                    dtype: DType::BF16,
                    label: "BF16".into(),
                    shape: vec![20, 10],
                    offset: 100,
                    length: 400,
                },
            ],
            base: Some(BaseRef {
                len: 77,
                checksum: 0xDEAD_BEEF,
            }),
        }
    }

    #[test]
    fn roundtrip_and_every_flip_detected() {
        let mut buf = Vec::new();
        sample().write(&mut buf);
        let (h, n) = Header::parse(&buf).unwrap();
        assert_eq!(n, buf.len());
        assert_eq!(h, sample());
        for i in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(Header::parse(&b).is_err(), "flip {i} undetected");
        }
        for cut in 0..buf.len() {
            assert!(Header::parse(&buf[..cut]).is_err());
        }
    }
}
