//! The file header (FORMAT.md §2): sizes, and the segment table naming every tensor.

use super::delta::Realign;
use crate::dtype::DType;
use crate::entropy::block;
use crate::format::{Container, Error, Reader};
use alloc::string::String;
use alloc::vec::Vec;

/// `\x89ZNW\r\n\x1a\n`: a non-ASCII first byte and the CR/LF/^Z trio catch text-mode mangling.
pub const MAGIC: [u8; 8] = [0x89, b'Z', b'N', b'W', 0x0D, 0x0A, 0x1A, 0x0A];
/// The format version this crate writes and reads (header byte 8, FORMAT.md §2).
pub const VERSION: u8 = 1;
/// Bytes before the header length is known: magic, version, flags, reserved, header_len.
pub const PREFIX_LEN: usize = 16;
/// Largest header we accept: bounds what a hostile length can make us buffer.
pub const MAX_HEADER_LEN: u32 = 64 << 20;
/// Largest chunk (decoded bytes) we accept; bounds per-chunk scratch memory.
pub const MAX_CHUNK: u32 = 16 << 20;

/// The decoded segment table of a packed header is at most this many times `header_len`
/// (and at most [`MAX_HEADER_LEN`]): bounds what a small hostile header can make a decoder
/// allocate, well above what real tables reach (about 12x on a BERT-sized model).
pub const MAX_TABLE_EXPANSION: usize = 64;

const FLAG_SIZE_KNOWN: u8 = 1;
const FLAG_DELTA: u8 = 2;
/// The segment entries are one block (FORMAT.md §2.2), offsets relative to the previous end.
const FLAG_PACKED: u8 = 4;
/// A delta's realignment table follows its base fields (FORMAT.md §2.1).
const FLAG_REALIGN: u8 = 8;
/// Bytes of one realignment entry: offset, length, base offset.
const REALIGN_ENTRY: usize = 24;
/// Fewest bytes a segment entry takes (empty name and label, no dimensions).
const MIN_ENTRY: usize = 21;
/// Largest packed table searched for text-like repeats (tens of thousands of tensors); a
/// longer one gets the fast search.
const TEXT_TABLE_MAX: usize = 4 << 20;

/// The base file a delta was made against (FORMAT.md §2.1): decoding needs the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseRef {
    /// Length of the base file in bytes.
    pub len: u64,
    /// XXH3-64 of the whole base file.
    pub checksum: u64,
}

impl BaseRef {
    /// The reference a delta made against `base` stores (its length and XXH3-64).
    pub fn of(base: &[u8]) -> Self {
        BaseRef {
            len: base.len() as u64,
            checksum: super::xxh3::hash(base, 0),
        }
    }
}

/// A named stretch of the original bytes: a tensor, a file header, padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Tensor name; `__header__` for bytes before the first tensor (a safetensors JSON header),
    /// `__padding__` for bytes after a tensor that no tensor holds, empty for a raw file's data.
    pub name: String,
    /// Element type the encoder coded this segment as.
    pub dtype: DType,
    /// The original type's name in its container (`"BF16"`, `"I64"`...), may be empty.
    pub label: String,
    /// Dimensions as the container gives them; empty when it gives none.
    pub shape: Vec<u64>,
    /// Where the segment starts in the decoded file.
    pub offset: u64,
    /// Its length in bytes.
    pub length: u64,
}

/// A `.znw` file header (FORMAT.md §2), as written or as parsed and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Decoded size, when the encoder knew it up front (always, except for streaming encode).
    pub total_size: Option<u64>,
    /// Upper bound on every chunk's decoded length.
    pub max_chunk: u32,
    /// What kind of file the original bytes were (container kind, header byte 28).
    pub container: Container,
    /// The segment table, sorted by offset and not overlapping; empty for a stream encoded
    /// without knowing its size, or where the encoder left the table out.
    pub segments: Vec<Segment>,
    /// Set when the chunks code `data XOR base` (missing bytes of a shorter base count as 0).
    pub base: Option<BaseRef>,
    /// A delta's stretches whose base bytes lie elsewhere, or that are not XORed (sorted).
    pub realign: Vec<Realign>,
}

/// Most segments a header may list (FORMAT.md §2): 16, and one for each 4 bytes of the decoded
/// size; nor more than the header has bytes. Every segment of a real file describes more (a
/// tensor of a few bytes comes with tens of bytes of header naming it; a packed table takes 3.8
/// to 45 bytes a segment), and it ties what a decoder spends on the table to the decoded size,
/// which a caller can bound, and to the header, rather than to a packed table of 64 times it.
pub fn max_segments(total_size: Option<u64>) -> u64 {
    16 + total_size.unwrap_or(0) / 4
}

impl Header {
    /// Appends the header, its segment table packed (FORMAT.md §2.2) when that is smaller. A
    /// table no decoder would take (more than [`max_segments`], or a header over
    /// [`MAX_HEADER_LEN`]) is left out: decoding never needs it.
    /// Returns whether the table was written.
    pub fn write(&self, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let listed = self.segments.len() as u64 <= max_segments(self.total_size);
        self.write_table(out, true, !listed);
        if listed && out.len() - start > MAX_HEADER_LEN as usize {
            out.truncate(start);
            self.write_table(out, true, true);
            return false;
        }
        listed
    }

    fn write_table(&self, out: &mut Vec<u8>, may_pack: bool, omit_segments: bool) {
        let segments: &[Segment] = if omit_segments { &[] } else { &self.segments };
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        let mut flags = 0;
        if self.total_size.is_some() {
            flags |= FLAG_SIZE_KNOWN;
        }
        if self.base.is_some() {
            flags |= FLAG_DELTA;
            if !self.realign.is_empty() {
                flags |= FLAG_REALIGN;
            }
        }
        out.push(flags);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&[0; 4]); // header_len, patched below
        out.extend_from_slice(&self.total_size.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.max_chunk.to_le_bytes());
        out.push(self.container.code());
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut entries = Vec::new();
        put_entries(segments, false, &mut entries);
        // The packed table (names repeat from layer to layer, offsets follow on from the
        // previous segment) wherever it is smaller; the flag byte is patched to say so.
        let mut packed = Vec::new();
        put_entries(segments, true, &mut packed);
        let mut coded = Vec::new();
        if packed.len() <= TEXT_TABLE_MAX {
            block::encode_lz_text(&packed, &mut coded, true);
        } else {
            // Text-deep LZ over tens of MB (a million tiny tensors) took seconds.
            block::encode_lz(&packed, &mut coded, true);
        }
        let header_len = out.len() - start + 4 + coded.len() + 4 + self.delta_len();
        if may_pack
            && 4 + coded.len() < entries.len()
            && packed.len() <= table_cap(header_len)
            && segments.len() <= header_len
        {
            out[start + 9] |= FLAG_PACKED;
            out.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            out.extend_from_slice(&coded);
        } else {
            out.extend_from_slice(&entries);
        }
        if let Some(b) = self.base {
            out.extend_from_slice(&b.len.to_le_bytes());
            out.extend_from_slice(&b.checksum.to_le_bytes());
            if !self.realign.is_empty() {
                out.extend_from_slice(&(self.realign.len() as u32).to_le_bytes());
                for r in &self.realign {
                    out.extend_from_slice(&r.offset.to_le_bytes());
                    out.extend_from_slice(&r.length.to_le_bytes());
                    out.extend_from_slice(&r.base_offset.unwrap_or(u64::MAX).to_le_bytes());
                }
            }
        }
        let len = (out.len() - start + 4) as u32;
        out[start + 12..start + 16].copy_from_slice(&len.to_le_bytes());
        let sum = checksum(&out[start..]);
        out.extend_from_slice(&sum.to_le_bytes());
    }

    /// Bytes of the delta fields: base length and checksum, and the realignment table if any.
    fn delta_len(&self) -> usize {
        match (self.base, self.realign.len()) {
            (None, _) => 0,
            (Some(_), 0) => 16,
            (Some(_), n) => 16 + 4 + n * REALIGN_ENTRY,
        }
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
        Self::parse_limited(buf, u64::MAX)
    }

    /// [`parse`](Self::parse) for a decoder whose output may not exceed `max_output`: a larger
    /// `total_size` is `TooLarge` before the segment table is read, so that a header's claim
    /// cannot make room for more segments than the caller's limit (see [`max_segments`]).
    pub fn parse_limited(buf: &[u8], max_output: u64) -> Result<(Header, usize), Error> {
        let len = Self::len_from_prefix(buf)?;
        let bytes = buf.get(..len).ok_or(Error::Truncated)?;
        let (body, sum) = bytes.split_at(len - 4);
        if checksum(body).to_le_bytes() != sum {
            return Err(Error::Checksum {
                what: "header",
                offset: 0,
            });
        }
        // The checksum held, so a field that runs into it is malformed, not cut short.
        let header = Self::parse_fields(body, len, max_output).map_err(|e| match e {
            Error::Truncated => Error::corrupt("header fields run into its checksum"),
            e => e,
        })?;
        Ok((header, len))
    }

    /// The fields of a header whose checksum held: `body` is the header without its checksum,
    /// `len` the whole header's length.
    fn parse_fields(body: &[u8], len: usize, max_output: u64) -> Result<Header, Error> {
        let mut r = Reader::new(body);
        r.pos = 9;
        let flags = r.u8()?;
        if flags & !(FLAG_SIZE_KNOWN | FLAG_DELTA | FLAG_PACKED | FLAG_REALIGN) != 0
            || flags & (FLAG_DELTA | FLAG_REALIGN) == FLAG_REALIGN
        {
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
        if let Some(t) = total_size.filter(|&t| t > max_output) {
            return Err(Error::TooLarge {
                size: t,
                limit: max_output,
            });
        }
        let n = r.u32()? as usize;
        if n as u64 > max_segments(total_size) || n > len {
            return Err(Error::corrupt(
                "more segments than the header and decoded size allow",
            ));
        }
        let segments = if flags & FLAG_PACKED != 0 {
            let table_len = r.u32()? as usize;
            if table_len > table_cap(len) {
                return Err(Error::corrupt("packed segment table too long"));
            }
            // Checked before allocating: the table holds at least `n` minimal entries.
            if n > table_len / MIN_ENTRY {
                return Err(Error::corrupt("segment count exceeds the segment table"));
            }
            let rest = &body[r.pos..];
            if rest
                .first()
                .is_some_and(|&m| m > block::LZ && m != block::HUF4_WIDE)
            {
                return Err(Error::corrupt("segment table block mode not 0-5 or 11"));
            }
            let mut table = Vec::new();
            table
                .try_reserve_exact(table_len)
                .map_err(|_| Error::corrupt("packed segment table too long"))?;
            table.resize(table_len, 0);
            // The header's checksum held, so a block that ends early is malformed, not cut.
            r.pos += block::decode(rest, &mut table)
                .map_err(|e| Error::corrupt(alloc::format!("segment table: {e:?}")))?;
            let mut t = Reader::new(&table);
            let segments = parse_entries(&mut t, n, true, total_size).map_err(|e| match e {
                Error::Truncated => Error::corrupt("segment table ends inside an entry"),
                e => e,
            })?;
            if t.pos != table.len() {
                return Err(Error::corrupt("segment table has trailing bytes"));
            }
            let tail = 16 * (flags & FLAG_DELTA != 0) as usize;
            if body.len() - r.pos < tail {
                return Err(Error::corrupt("segment table block runs into the checksum"));
            }
            segments
        } else {
            // Each segment takes at least 21 bytes, so `n` cannot make us allocate beyond the header.
            if n > body.len() / MIN_ENTRY {
                return Err(Error::corrupt("segment count exceeds header"));
            }
            parse_entries(&mut r, n, false, total_size)?
        };
        let base = if flags & FLAG_DELTA != 0 {
            Some(BaseRef {
                len: r.u64()?,
                checksum: r.u64()?,
            })
        } else {
            None
        };
        let realign = if flags & FLAG_REALIGN != 0 {
            parse_realign(&mut r, total_size)?
        } else {
            Vec::new()
        };
        if r.pos != body.len() {
            return Err(Error::corrupt("header has trailing bytes"));
        }
        Ok(Header {
            total_size,
            max_chunk,
            container,
            segments,
            base,
            realign,
        })
    }
}

/// A delta's realignment table (FORMAT.md §2.1): the rest of the header before its checksum.
/// Its entries are sorted, do not overlap, are not empty, lie inside the decoded size, and a
/// base offset other than `u64::MAX` (not XORed) leaves room for the length.
fn parse_realign(r: &mut Reader, total_size: Option<u64>) -> Result<Vec<Realign>, Error> {
    let bad = |what| Err(Error::corrupt(alloc::format!("delta realignment: {what}")));
    let Some(total) = total_size else {
        return bad("the decoded size is not given");
    };
    let Ok(n) = r.u32() else {
        return bad("no room for the table");
    };
    let n = n as usize;
    // Checked before allocating: the table is exactly what is left of the header.
    if n == 0 || r.buf.len() - r.pos != n.saturating_mul(REALIGN_ENTRY) {
        return bad("table size does not match the header");
    }
    let mut out = Vec::with_capacity(n);
    let mut end = 0;
    for _ in 0..n {
        let (offset, length, base) = (r.u64()?, r.u64()?, r.u64()?);
        if offset < end || length == 0 {
            return bad("entries out of order, overlapping or empty");
        }
        end = match offset.checked_add(length) {
            Some(e) if e <= total => e,
            _ => return bad("an entry past the decoded size"),
        };
        let base_offset = (base != u64::MAX).then_some(base);
        if base_offset.is_some_and(|b| b.checked_add(length).is_none()) {
            return bad("a base offset past 2^64");
        }
        out.push(Realign {
            offset,
            length,
            base_offset,
        });
    }
    Ok(out)
}

/// Largest decoded segment table a header of `header_len` bytes may pack (FORMAT.md §2.2).
fn table_cap(header_len: usize) -> usize {
    header_len
        .saturating_mul(MAX_TABLE_EXPANSION)
        .min(MAX_HEADER_LEN as usize)
}

/// Appends the segment entries (FORMAT.md §2); `relative`: offsets count from the previous
/// segment's end, as in a packed table (§2.2).
fn put_entries(segments: &[Segment], relative: bool, out: &mut Vec<u8>) {
    let mut prev_end = 0u64;
    for s in segments {
        let name = prefix(&s.name, u16::MAX as usize);
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name);
        out.push(s.dtype.code());
        let label = prefix(&s.label, u8::MAX as usize);
        out.push(label.len() as u8);
        out.extend_from_slice(label);
        let ndim = s.shape.len().min(u8::MAX as usize);
        out.push(ndim as u8);
        for d in &s.shape[..ndim] {
            out.extend_from_slice(&d.to_le_bytes());
        }
        let offset = if relative {
            s.offset.wrapping_sub(prev_end)
        } else {
            s.offset
        };
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&s.length.to_le_bytes());
        prev_end = s.offset.wrapping_add(s.length);
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends between characters: a cut inside
/// one would not parse back as UTF-8.
fn prefix(s: &str, max: usize) -> &[u8] {
    let mut n = s.len().min(max);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s.as_bytes()[..n]
}

/// Reads `n` segment entries; `relative` as in [`put_entries`].
fn parse_entries(
    r: &mut Reader,
    n: usize,
    relative: bool,
    total_size: Option<u64>,
) -> Result<Vec<Segment>, Error> {
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
        let mut offset = r.u64()?;
        if relative {
            offset = offset
                .checked_add(prev_end)
                .ok_or_else(|| Error::corrupt("segment offset"))?;
        }
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
    Ok(segments)
}

fn utf8(b: &[u8]) -> Result<String, Error> {
    core::str::from_utf8(b)
        .map(String::from)
        .map_err(|_| Error::corrupt("name is not UTF-8"))
}

/// The checksum used everywhere in the container: low 32 bits of XXH3-64.
pub fn checksum(data: &[u8]) -> u32 {
    super::xxh3::hash(data, 0) as u32
}

/// Chunk checksum, seeded with the chunk's decoded offset so that reordered or duplicated
/// chunks fail verification even when each one is intact.
pub fn chunk_checksum(data: &[u8], offset: u64) -> u32 {
    super::xxh3::hash(data, offset) as u32
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
            realign: vec![
                Realign {
                    offset: 0,
                    length: 100,
                    base_offset: None,
                },
                Realign {
                    offset: 300,
                    length: 700,
                    base_offset: Some(20),
                },
            ],
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

    /// A BERT-like table: names that differ in a digit, shapes that repeat.
    fn many(n: usize) -> Header {
        let mut segments = Vec::new();
        let mut at = 0;
        for i in 0..n {
            let kind = ["query", "key", "value"][i % 3];
            let (shape, length) = if i % 2 == 0 {
                (vec![384, 384], 384 * 384 * 2)
            } else {
                (vec![384], 384 * 2)
            };
            segments.push(Segment {
                name: alloc::format!("encoder.layer.{}.attention.self.{kind}.weight", i / 3),
                dtype: DType::F16,
                label: "F16".into(),
                shape,
                offset: at + (i as u64 % 5 == 4) as u64 * 8, // some padding gaps
                length,
            });
            at = segments[i].offset + length;
        }
        Header {
            total_size: Some(at),
            max_chunk: 1 << 18,
            container: Container::Safetensors,
            segments,
            base: None,
            realign: Vec::new(),
        }
    }

    /// Writes `h` with its table packed or not, and recomputes nothing else.
    fn bytes_of(h: &Header, pack: bool) -> Vec<u8> {
        let mut buf = Vec::new();
        h.write_table(&mut buf, pack, false);
        buf
    }

    #[test]
    fn packed_table_roundtrip_and_every_flip_detected() {
        for base in [
            None,
            Some(BaseRef {
                len: 5,
                checksum: 9,
            }),
        ] {
            let mut h = many(200);
            h.base = base;
            let (packed, plain) = (bytes_of(&h, true), bytes_of(&h, false));
            assert_eq!(packed[9] & FLAG_PACKED, FLAG_PACKED);
            assert_eq!(plain[9] & FLAG_PACKED, 0);
            assert!(
                packed.len() * 5 < plain.len(),
                "{} vs {}",
                packed.len(),
                plain.len()
            );
            // Both forms decode to the same header (files written before packing still read).
            assert_eq!(Header::parse(&packed), Ok((h.clone(), packed.len())));
            assert_eq!(Header::parse(&plain), Ok((h.clone(), plain.len())));
            for i in 0..packed.len() * 8 {
                let mut b = packed.clone();
                b[i / 8] ^= 1 << (i % 8);
                assert!(Header::parse(&b).is_err(), "flip {i} undetected");
            }
            for cut in 0..packed.len() {
                assert!(Header::parse(&packed[..cut]).is_err());
            }
        }
        // One tiny segment stays plain: a block would cost more than it saves.
        let mut one = sample();
        one.segments.truncate(1);
        assert_eq!(bytes_of(&one, true), bytes_of(&one, false));
    }

    /// A packed header with the given count, decoded length and block, its checksum valid.
    fn forged(n: u32, table_len: u32, block: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        let mut h = many(0);
        h.total_size = None;
        h.write(&mut b);
        b.truncate(32);
        b[9] |= FLAG_PACKED;
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(&table_len.to_le_bytes());
        b.extend_from_slice(block);
        let len = (b.len() + 4) as u32;
        b[12..16].copy_from_slice(&len.to_le_bytes());
        let sum = checksum(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    fn corrupt(buf: &[u8]) -> String {
        match Header::parse(buf) {
            Err(e) => {
                assert_eq!(e.code(), "ZNN_CORRUPT", "{e}");
                alloc::format!("{e}")
            }
            Ok(h) => panic!("accepted {h:?}"),
        }
    }

    /// `sample()` with its realignment table replaced by `entries` (offset, length, base
    /// offset), the header length and checksum made valid.
    fn realigned(entries: &[[u64; 3]]) -> Vec<u8> {
        let mut b = Vec::new();
        let mut h = sample();
        h.realign.clear();
        h.write(&mut b);
        b.truncate(b.len() - 4);
        b[9] |= FLAG_REALIGN;
        b.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for e in entries {
            e.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
        }
        let len = (b.len() + 4) as u32;
        b[12..16].copy_from_slice(&len.to_le_bytes());
        let sum = checksum(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    #[test]
    fn malformed_realignment_tables_are_corrupt() {
        let none = u64::MAX;
        let ok = Header::parse(&realigned(&[[0, 10, none], [10, 5, 3], [990, 10, 1 << 40]]));
        assert_eq!(ok.unwrap().0.realign.len(), 3);
        for bad in [
            &[][..],                  // an empty table is no table
            &[[0, 0, 5]],             // an empty entry
            &[[10, 5, 0], [0, 5, 0]], // out of order
            &[[0, 10, 0], [9, 5, 0]], // overlapping
            &[[995, 10, 0]],          // past the decoded size (1000)
            &[[0, 10, none - 5]],     // a base stretch past 2^64
            &[[none, 1, 0]],          // an end past 2^64
        ] {
            corrupt(&realigned(bad));
        }
        // A count that does not match the bytes left, either way.
        let mut b = realigned(&[[0, 10, 0]]);
        let at = b.len() - 4 - 24 - 4;
        for n in [0u32, 2, u32::MAX] {
            b[at..at + 4].copy_from_slice(&n.to_le_bytes());
            let body = b.len() - 4;
            let sum = checksum(&b[..body]);
            b[body..].copy_from_slice(&sum.to_le_bytes());
            corrupt(&b);
        }
        // A table without the delta flag, or without a decoded size.
        let mut b = realigned(&[[0, 10, 0]]);
        b[9] &= !FLAG_DELTA;
        let body = b.len() - 4;
        let sum = checksum(&b[..body]);
        b[body..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(Header::parse(&b).unwrap_err().code(), "ZNN_UNSUPPORTED");
        let mut b = realigned(&[[0, 10, 0]]);
        b[9] &= !FLAG_SIZE_KNOWN;
        b[16..24].fill(0);
        let sum = checksum(&b[..body]);
        b[body..].copy_from_slice(&sum.to_le_bytes());
        corrupt(&b);
    }

    /// A header lists at most 16 segments and one for each 4 decoded bytes: a packed table of
    /// 64 times the header could otherwise name millions of empty ones for a file of nothing.
    #[test]
    fn segment_count_is_bounded_by_the_decoded_size() {
        let empty = |n: usize, total: Option<u64>| {
            let mut h = many(0);
            h.total_size = total;
            h.segments = (0..n)
                .map(|i| Segment {
                    name: alloc::format!("t{i}"),
                    dtype: DType::Bytes,
                    label: String::new(),
                    shape: vec![],
                    offset: 0,
                    length: 0,
                })
                .collect();
            h
        };
        for (total, most) in [(None, 16), (Some(0), 16), (Some(4000), 1016)] {
            for (n, listed) in [(most, most), (most + 1, 0)] {
                let mut b = Vec::new();
                empty(n, total).write(&mut b);
                // Written without a table a decoder would refuse (decoding never needs it).
                assert_eq!(Header::parse(&b).unwrap().0.segments.len(), listed);
            }
            // A table forged past the bound is refused, packed or not.
            for packed in [false, true] {
                let mut b = Vec::new();
                empty(most + 1, total).write_table(&mut b, packed, false);
                assert!(
                    corrupt(&b).contains("more segments than the header and decoded size allow")
                );
            }
        }
        // A size a header claims does not make room for segments past the caller's limit: the
        // claim is refused first.
        let mut b = Vec::new();
        empty(1016, Some(4000)).write(&mut b);
        let e = Header::parse_limited(&b, 3999).unwrap_err();
        assert_eq!(e.code(), "ZNN_TOO_LARGE");
        // Nor more segments than the header has bytes: 1000 empty entries (21 zero bytes each)
        // from a 2-byte repeat block, under a claimed terabyte.
        let mut b = forged(1000, 21_000, &[block::REPEAT, 0]);
        b[9] |= FLAG_SIZE_KNOWN;
        b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let n = b.len();
        let sum = checksum(&b[..n - 4]);
        b[n - 4..].copy_from_slice(&sum.to_le_bytes());
        assert!(corrupt(&b).contains("more segments than the header and decoded size allow"));
        let mut ok = forged(40, 840, &[block::REPEAT, 0]);
        ok[9] |= FLAG_SIZE_KNOWN;
        ok[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let sum = checksum(&ok[..ok.len() - 4]);
        let n = ok.len();
        ok[n - 4..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(Header::parse(&ok).unwrap().0.segments.len(), 40);
    }

    #[test]
    fn malformed_packed_tables_are_corrupt() {
        // One valid entry: name "a", bytes, no label, no dims, offset 0, length 4.
        let mut entry = vec![1, 0, b'a', 0, 0, 0];
        entry.extend_from_slice(&0u64.to_le_bytes());
        entry.extend_from_slice(&4u64.to_le_bytes());
        let raw = |t: &[u8]| [&[block::RAW][..], t].concat();
        let ok = forged(1, entry.len() as u32, &raw(&entry));
        assert_eq!(Header::parse(&ok).unwrap().0.segments[0].length, 4);
        // A repeat block can claim any length: the cap (64x the header) comes first.
        let cap = table_cap(44 + 2) as u32;
        let huge = forged(0, cap + 1, &[block::REPEAT, 0]);
        assert!(corrupt(&huge).contains("too long"));
        // Within the cap, zeros are entries with empty names: count 0 leaves them over.
        assert!(corrupt(&forged(0, cap, &[block::REPEAT, 0])).contains("trailing"));
        assert!(corrupt(&forged(2, 21, &raw(&[0; 21]))).contains("count"));
        for mode in [6u8, 7, 8, 9, 255] {
            assert!(corrupt(&forged(1, 22, &[mode, 0, 0, 0, 0])).contains("mode"));
        }
        // Blocks that end early, or leave bytes before the checksum.
        corrupt(&forged(1, 22, &raw(&entry[..21])));
        corrupt(&forged(1, 22, &[block::HUF4, 9, 0, 0, 0, 1]));
        corrupt(&forged(1, 22, &[&raw(&entry)[..], &[0]].concat()));
        corrupt(&forged(1, 22, &[]));
        // With the delta flag, a block that takes the bytes of the base fields.
        let mut d = forged(1, 22, &[&raw(&entry)[..], &[0; 15]].concat());
        d[9] |= FLAG_DELTA;
        let n = d.len();
        let sum = checksum(&d[..n - 4]);
        d[n - 4..].copy_from_slice(&sum.to_le_bytes());
        assert!(corrupt(&d).contains("runs into"));
        // An entry cut short by the table's length, and a table longer than its entries.
        assert!(corrupt(&forged(1, 21, &raw(&entry[..21]))).contains("inside an entry"));
        let two = [&entry[..], &[0]].concat();
        assert!(corrupt(&forged(1, 23, &raw(&two))).contains("trailing"));
        // Relative offsets that overflow, or a length past the end of u64.
        let mut e = entry.clone();
        e[6..14].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut big = e.clone();
        big[6..14].copy_from_slice(&1u64.to_le_bytes());
        let twice = [&entry[..], &e[..]].concat();
        corrupt(&forged(2, 44, &raw(&twice)));
        let mut e2 = entry.clone();
        e2[14..22].copy_from_slice(&u64::MAX.to_le_bytes());
        corrupt(&forged(2, 44, &raw(&[&big[..], &e2[..]].concat())));
        // Bad UTF-8 and an unknown dtype inside the packed table.
        let mut u = entry.clone();
        u[2] = 0xFF;
        corrupt(&forged(1, 22, &raw(&u)));
        let mut d = entry.clone();
        d[3] = 200;
        corrupt(&forged(1, 22, &raw(&d)));
    }
}
