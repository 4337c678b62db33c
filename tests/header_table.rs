//! The packed segment table (FORMAT.md §2.2): many tensors round trip with their names,
//! files written before it (flag bit 2 clear) still decode, and every change to a packed
//! table behind a valid header checksum gives a typed error or a different table, never a
//! panic. Also built for wasm32 (`scripts/cargo-wasm test --release --test header_table`).

mod common;

use common::*;
use zipnn_wasm::format::znw::{self, header::checksum, Header};
use zipnn_wasm::stream::{Decoder, VecSink};
use zipnn_wasm::{DTypeChoice, Limits, Options};

macro_rules! check {
    ($(#[$m:meta])* fn $name:ident() $body:block) => {
        $(#[$m])*
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        fn $name() $body
    };
}

const PACKED: u8 = 4;

/// A file written by the encoder before tables were packed, and what it decodes to.
const OLD: &[u8] = include_bytes!("fixtures/znw/plain-table.znw");
const OLD_SRC: &[u8] = include_bytes!("fixtures/znw/plain-table.safetensors");

/// Whole and streamed (in `piece`-byte pushes) decode, which must agree.
fn both(file: &[u8], piece: usize) -> Result<Vec<u8>, &'static str> {
    let whole = zipnn_wasm::decompress(file, &Limits::default());
    let mut dec = Decoder::new(Limits::default());
    let mut sink = VecSink::default();
    let streamed = file
        .chunks(piece)
        .try_for_each(|p| dec.push(p, &mut sink))
        .and_then(|_| dec.finish())
        .map(|_| sink.out);
    assert_eq!(
        whole.as_ref().map_err(|e| e.code()),
        streamed.as_ref().map_err(|e| e.code())
    );
    whole.map_err(|e| e.code())
}

/// A safetensors file of `n` small float16 tensors named like a transformer's.
fn many_tensors(n: usize) -> Vec<u8> {
    let mut rng = Rng(7);
    let names: Vec<String> = (0..n)
        .map(|i| {
            let kind = ["query", "key", "value", "dense"][i % 4];
            format!("encoder.layer.{}.attention.self.{kind}.weight", i / 4)
        })
        .collect();
    let tensors: Vec<(&str, &str, Vec<u64>, Vec<u8>)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let rows = 1 + i as u64 % 3;
            let data = bf16_weights(&mut rng, rows as usize * 8);
            (name.as_str(), "F16", vec![rows, 8], data)
        })
        .collect();
    safetensors(&tensors)
}

check! {
    fn files_with_a_plain_table_still_decode() {
        assert_eq!(OLD[9] & PACKED, 0, "the fixture predates packed tables");
        let (h, _) = Header::parse(OLD).unwrap();
        assert_eq!(h.segments.len(), 25);
        assert_eq!(h.segments[1].name, "encoder.layer.0.attention.self.query.weight");
        for piece in [1, 7, 1000, OLD.len()] {
            assert_eq!(both(OLD, piece).as_deref(), Ok(OLD_SRC));
        }
        // Today's encoder packs the same table, and describes the file identically.
        let opts = Options {
            dtype: DTypeChoice::Auto,
            ..Default::default()
        };
        let new = zipnn_wasm::compress(OLD_SRC, &opts).unwrap();
        assert_eq!(new[9] & PACKED, PACKED);
        let (h2, len2) = Header::parse(&new).unwrap();
        assert_eq!(h2, h);
        assert!(len2 * 2 < Header::len_from_prefix(OLD).unwrap(), "{len2}");
        assert_eq!(both(&new, 13).as_deref(), Ok(OLD_SRC));
    }
}

check! {
    fn many_tensors_roundtrip_with_a_packed_table() {
        let src = many_tensors(400);
        let file = zipnn_wasm::compress(&src, &Options::default()).unwrap();
        assert_eq!(file[9] & PACKED, PACKED);
        let (h, len) = Header::parse(&file).unwrap();
        assert_eq!(h.segments.len(), 401);
        assert_eq!(h.segments[400].name, "encoder.layer.99.attention.self.dense.weight");
        assert_eq!(h.segments[400].shape, vec![1, 8]);
        // 400 entries of ~75 bytes each; packed, a few bytes each.
        assert!(len < 400 * 12, "header {len} bytes");
        for piece in [3, 4096, file.len()] {
            assert_eq!(both(&file, piece).as_deref(), Ok(&src[..]));
        }
    }
}

check! {
    fn changed_packed_tables_give_typed_errors() {
        let src = many_tensors(60);
        let file = zipnn_wasm::compress(&src, &Options::default()).unwrap();
        let (h, len) = Header::parse(&file).unwrap();
        assert_eq!(file[9] & PACKED, PACKED);
        // Bytes 32.. are the count, the table length and the block; the checksum is redone so
        // that the table decoder, not the checksum, meets the change.
        let (mut tried, mut same) = (0, 0);
        for at in 32..len - 4 {
            for x in [0x01u8, 0x5A, 0x80, 0xFF] {
                tried += 1;
                let mut bad = file.clone();
                bad[at] ^= x;
                let sum = checksum(&bad[..len - 4]).to_le_bytes();
                bad[len - 4..len].copy_from_slice(&sum);
                match Header::parse(&bad) {
                    Err(e) => assert_eq!(e.code(), "ZNN_CORRUPT", "byte {at} ^ {x:#x}: {e}"),
                    // A changed literal can be another valid table (a changed name); bits a
                    // block decoder ignores (stream padding) change nothing.
                    Ok((h2, _)) => same += (h2 == h) as usize,
                }
            }
        }
        assert!(same * 50 < tried, "{same} of {tried} changes went unnoticed");
        // Without a redone checksum every flip is a checksum error, and every cut truncated.
        for at in (0..len).step_by(3) {
            let mut bad = file.clone();
            bad[at] ^= 0x10;
            assert!(both(&bad, 64).is_err(), "byte {at}");
        }
        for cut in (16..len).step_by(5) {
            assert_eq!(both(&file[..cut], 9), Err("ZNN_TRUNCATED"), "cut {cut}");
        }
    }
}

check! {
    fn znw_inspect_reads_packed_tables() {
        let src = many_tensors(30);
        let file = zipnn_wasm::compress(&src, &Options::default()).unwrap();
        let r = znw::inspect(&file).unwrap();
        assert_eq!(r.segments.len(), 31);
        assert_eq!(r.segments[30].name, "encoder.layer.7.attention.self.key.weight");
        assert_eq!(r.total_size, src.len() as u64);
    }
}

check! {
    fn a_safetensors_json_header_is_a_chunk_of_its_own() {
        let ids: Vec<u8> = (0..64u64).flat_map(|i| i.to_le_bytes()).collect();
        let mut rng = Rng(9);
        let names: Vec<String> = (0..40).map(|i| format!("layer.{i}.weight")).collect();
        let mut tensors = vec![("position_ids", "I64", vec![64], ids)];
        for n in &names {
            tensors.push((n.as_str(), "F16", vec![4, 8], bf16_weights(&mut rng, 32)));
        }
        let src = safetensors(&tensors);
        let (h, _) = Header::parse(&zipnn_wasm::compress(&src, &Options::default()).unwrap()).unwrap();
        let json = &h.segments[0];
        assert_eq!((json.name.as_str(), json.label.as_str()), ("__header__", "JSON"));
        assert!(json.length >= 1024);
        let pieces = znw::plan(&h, src.len() as u64).unwrap();
        assert_eq!((pieces[0].offset, pieces[0].len as u64), (0, json.length));
        // The int64 tensor after it, bytes as well, starts the next chunk.
        assert_eq!(pieces[1].offset, json.length);
        assert_eq!(both(&zipnn_wasm::compress(&src, &Options::default()).unwrap(), 5).as_deref(), Ok(&src[..]));
    }
}
