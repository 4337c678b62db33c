//! `RandomAccessFile`: a compressed file read at decoded offsets through a JS reader (the
//! package's `openFile`). Only the chunks a read needs cross into wasm memory, so a model
//! larger than wasm32's 4 GiB can be loaded a tensor at a time.

use super::js_io::{JsReader, JsTarget};
use super::{js_error, limits, stream::header_js};
use crate::format::{open_random_access, RandomAccess};
use crate::Error;
use wasm_bindgen::prelude::*;

/// A compressed file (`.znw`, ZipNN frames, `.znn.safetensors`) opened for reads at decoded
/// offsets.
#[wasm_bindgen]
pub struct RandomAccessFile {
    file: RandomAccess,
    src: JsReader,
}

#[wasm_bindgen]
impl RandomAccessFile {
    /// Opens `size` bytes read through `read(offset, length)` (as `inspectReader`): reads the
    /// header and every record head. `max_output` bounds the decoded size (none, or a
    /// negative one: no bound). What `read` throws is rethrown as it is.
    #[wasm_bindgen(constructor)]
    pub fn new(
        size: f64,
        read: js_sys::Function,
        max_output: Option<f64>,
    ) -> Result<RandomAccessFile, JsValue> {
        let mut src = JsReader::new(size, read).map_err(|e| js_error(&e))?;
        match open_random_access(&mut src, &limits(max_output)) {
            // What `read` threw while the format was told (and an answer was found anyway)
            // is not what a later read's error was.
            Ok(file) => {
                src.thrown = None;
                Ok(RandomAccessFile { file, src })
            }
            Err(e) => Err(src.thrown.take().unwrap_or_else(|| js_error(&e))),
        }
    }

    /// The decoded size.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> f64 {
        self.file.size() as f64
    }

    /// `{ totalSize, container, segments }`, as `StreamDecoder.takeHeader` gives a header.
    pub fn header(&self) -> Result<JsValue, JsValue> {
        let f = &self.file;
        header_js(Some(f.size()), f.container(), f.segments())
    }

    /// Writes the decoded bytes at `offset` into `target`, all of it (a JS `Uint8Array`
    /// outside wasm memory), a chunk at a time.
    #[wasm_bindgen(js_name = readInto)]
    pub fn read_into(&mut self, offset: f64, target: &js_sys::Uint8Array) -> Result<(), JsValue> {
        self.src.thrown = None;
        let r = whole(offset, "offset").and_then(|offset| {
            let len = target.length();
            let mut out = JsTarget::new(target);
            self.file
                .read_with(&mut self.src, offset, len as u64, |at, bytes| {
                    // Within `target`'s first `len` bytes, a u32. The reader may have detached
                    // or shrunk `target` meanwhile: an error, not a TypeError thrown through
                    // wasm (which would leave this object borrowed for good).
                    let (at, end) = (at as u32, at as u32 + bytes.len() as u32);
                    if target.length() < end {
                        return Err(Error::InvalidInput(
                            "the target was detached or shrunk during the read".into(),
                        ));
                    }
                    out.write(at, bytes)
                })
        });
        r.map_err(|e| self.src.thrown.take().unwrap_or_else(|| js_error(&e)))
    }
}

/// A byte offset from JS: a whole number in 0..2^53.
fn whole(x: f64, what: &str) -> Result<u64, Error> {
    if (0.0..=9_007_199_254_740_991.0).contains(&x) && x.fract() == 0.0 {
        Ok(x as u64)
    } else {
        Err(Error::InvalidInput(alloc::format!(
            "{what} must be a whole number of bytes, not {x}"
        )))
    }
}
