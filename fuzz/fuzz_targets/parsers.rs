//! The container parsers: `format::safetensors::parse`, `format::pickle::tensors`, `format::znw::Header::parse` (which
//! must re-encode to the same header, and to the same bytes when both tables are plain), record heads, `format::znw::index` and `inspect`, and
//! the ZipNN frame header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zipnn_wasm::format::znw::{self, Header, Record};
use zipnn_wasm::format::{pickle, safetensors, zipnn};
use zipnn_wasm_fuzz::*;

fuzz_target!(|data: &[u8]| {
    let mut c = Ctl::new(data);
    let slack = c.u16() as u64;
    let max_chunk = c.u16() as u32 + 1;
    let buf = c.rest();
    // inspect decodes a sample of up to 4 MiB plus one chunk (<= 16 MiB) and trial-encodes it.
    begin_with(buf.len(), 64 << 20);

    for file_len in [buf.len() as u64, buf.len() as u64 + slack] {
        if let Ok(l) = safetensors::parse(buf, file_len) {
            assert!(l.data_start <= file_len);
            let mut prev = l.data_start;
            for t in &l.tensors {
                assert!(prev <= t.start && t.start <= t.end && t.end <= file_len);
                prev = t.end;
            }
        }
    }

    if let Ok((h, len)) = Header::parse(buf) {
        assert!(len <= buf.len());
        assert_eq!(Header::len_from_prefix(buf).ok(), Some(len));
        let mut again = Vec::new();
        h.write(&mut again);
        assert_eq!(Header::parse(&again).ok(), Some((h, again.len())));
        // A plain segment table has one encoding; a packed one (flag bit 2) may use any block.
        if buf[9] & 4 == 0 && again[9] & 4 == 0 {
            assert!(
                again == buf[..len],
                "header does not re-encode to the same bytes"
            );
        }
    }
    if let Ok(Record::Chunk(head)) = Record::parse(buf, max_chunk, 0) {
        assert!(head.raw_len >= 1 && head.raw_len <= max_chunk);
    }
    let lim = limits();
    match znw::index(buf, &lim) {
        Ok((h, chunks)) => {
            let mut at = 0u64;
            for ch in &chunks {
                assert_eq!(ch.offset, at);
                assert!(ch.body_offset + ch.head.body_len as u64 <= buf.len() as u64);
                assert!(ch.head.raw_len <= h.max_chunk);
                at += ch.head.raw_len as u64;
            }
            assert!(at <= lim.max_output);
            match znw::inspect(buf) {
                Ok(r) => assert_eq!(r.total_size, at),
                Err(e) => check_error(&e, DATA_ERRORS),
            }
        }
        Err(e) => check_error(&e, DATA_ERRORS),
    }
    if let Ok(h) = zipnn::FrameHeader::parse(buf) {
        assert!(h.header_len <= buf.len());
    }
    // A PyTorch checkpoint's pickle: read, never run; what it yields comes from its bytes.
    let mut room = pickle::room(buf.len());
    if let Some(ts) = pickle::tensors(buf, &mut room) {
        for t in &ts {
            assert!(!t.covers(slack) || t.offset == 0);
        }
    } else {
        // Nothing is taken from the room on None.
        assert_eq!(room, pickle::room(buf.len()));
    }
});
