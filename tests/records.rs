//! `znw::index_records`: a run of whole chunk records cut from a file (what one worker of the
//! JS pool decodes) indexes and decodes to exactly its part of the original; anything else
//! is a typed error.

mod common;

use common::*;
use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::{DType, Error, Limits};

struct File {
    data: Vec<u8>,
    packed: Vec<u8>,
    chunks: Vec<znw::ChunkInfo>,
    max_chunk: u32,
}

fn file() -> File {
    let data = bf16_weights(&mut Rng(7), 300_000); // 600 kB: 10 chunks of 64 KiB
    let opts = Options {
        dtype: DTypeChoice::Fixed(DType::BF16),
        chunk_size: 64 << 10,
        ..Options::default()
    };
    let packed = znw::compress(&data, &opts).unwrap();
    let (header, chunks) = znw::index(&packed, &Limits::default()).unwrap();
    assert!(chunks.len() >= 9);
    File {
        data,
        packed,
        chunks,
        max_chunk: header.max_chunk,
    }
}

impl File {
    /// Bytes of records `a..b`, their decoded offset and length.
    fn run(&self, a: usize, b: usize) -> (&[u8], u64, u64) {
        let start = self.chunks[a].body_offset as usize - znw::chunk::HEAD_LEN;
        let end =
            self.chunks[b - 1].body_offset as usize + self.chunks[b - 1].head.body_len as usize;
        let off = self.chunks[a].offset;
        let len = self.chunks[b - 1].offset + self.chunks[b - 1].head.raw_len as u64 - off;
        (&self.packed[start..end], off, len)
    }

    fn decode(&self, mut rec: &[u8], off: u64, len: u64) -> Result<Vec<u8>, Error> {
        let chunks = znw::index_records(&mut rec, off, len, self.max_chunk)?;
        let mut out = vec![0u8; len as usize];
        znw::decode_source(&mut rec, &chunks, |at, bytes| {
            let a = (at - off) as usize;
            out[a..a + bytes.len()].copy_from_slice(bytes);
            Ok(())
        })?;
        Ok(out)
    }
}

#[test]
fn runs_decode_to_their_part_of_the_original() {
    let f = file();
    let n = f.chunks.len();
    for (a, b) in [(0, n), (0, 1), (3, 7), (n - 1, n), (1, n)] {
        let (rec, off, len) = f.run(a, b);
        let out = f.decode(rec, off, len).unwrap();
        assert_eq!(
            out,
            &f.data[off as usize..(off + len) as usize],
            "records {a}..{b}"
        );
    }
}

#[test]
fn bad_runs_are_typed_errors() {
    let f = file();
    let (rec, off, len) = f.run(3, 7);
    let code = |r: Result<Vec<u8>, Error>| r.unwrap_err().code();
    // A flipped bit in the middle: the checksum of the decoded bytes, then the body's.
    let mut bad = rec.to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    assert_eq!(code(f.decode(&bad, off, len)), "ZNN_CORRUPT");
    // The wrong decoded offset: the seeded checksum of the decoded bytes.
    assert_eq!(code(f.decode(rec, off + 65536, len)), "ZNN_CORRUPT");
    // The caller's length does not match the records.
    assert_eq!(code(f.decode(rec, off, len - 2)), "ZNN_INVALID_INPUT");
    assert_eq!(code(f.decode(rec, off, len + 2)), "ZNN_INVALID_INPUT");
    // Cut inside a record.
    assert_eq!(
        code(f.decode(&rec[..rec.len() - 5], off, len)),
        "ZNN_TRUNCATED"
    );
    assert_eq!(
        code(f.decode(&rec[..rec.len() - (rec.len() - 10)], off, len)),
        "ZNN_TRUNCATED"
    );
    // Not starting at a record; the end record inside a run.
    assert_eq!(code(f.decode(&rec[1..], off, len)), "ZNN_CORRUPT");
    let n = f.chunks.len();
    let (last, loff, llen) = f.run(n - 1, n);
    let start = f.packed.len() - last.len() - znw::chunk::END_LEN;
    assert_eq!(
        code(f.decode(&f.packed[start..], loff, llen)),
        "ZNN_CORRUPT"
    );
    // max_chunk out of range, or smaller than the chunks.
    let mut r = rec;
    for m in [0, (16 << 20) + 1] {
        let e = znw::index_records(&mut r, off, len, m).unwrap_err();
        assert_eq!(e.code(), "ZNN_INVALID_INPUT");
    }
    let e = znw::index_records(&mut r, off, len, 1024).unwrap_err();
    assert_eq!(e.code(), "ZNN_CORRUPT");
    // An offset near the top of u64 neither overflows nor panics.
    let e = znw::index_records(&mut r, u64::MAX - 4, 4, f.max_chunk).unwrap_err();
    assert_eq!(e.code(), "ZNN_INVALID_INPUT");
    // Nothing to decode.
    assert_eq!(f.decode(&[], off, 0).unwrap(), Vec::<u8>::new());
}
