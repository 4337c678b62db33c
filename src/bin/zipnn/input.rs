//! Input files and stdin: read whole, capped, or at any offset (`FileSource`), and their first
//! bytes, which tell the format.

use std::fs::{self, File};
use std::io::{self, Read};

use zipnn_wasm::format::Source;
use zipnn_wasm::{Error, Format};

use crate::{fail, Args, Fail};

pub(crate) fn read_input(path: &str) -> Result<Vec<u8>, Fail> {
    let mut buf = Vec::new();
    let r = if path == "-" {
        io::stdin().lock().read_to_end(&mut buf)
    } else {
        File::open(path).and_then(|mut f| f.read_to_end(&mut buf))
    };
    r.or_else(|e| fail(format!("cannot read {path}: {e}")))?;
    Ok(buf)
}

/// At most `cap` bytes of a file (`-`: stdin), with room for `expect` taken first (a size
/// no memory holds fails at once, before anything is read).
pub(crate) fn read_capped(path: &str, cap: u64, expect: u64) -> Result<Vec<u8>, Fail> {
    let mut buf = Vec::new();
    let room = usize::try_from(expect).unwrap_or(usize::MAX);
    buf.try_reserve_exact(room)
        .map_err(|_| Error::no_memory(expect))?;
    let r = if path == "-" {
        io::stdin().lock().take(cap).read_to_end(&mut buf)
    } else {
        File::open(path).and_then(|f| f.take(cap).read_to_end(&mut buf))
    };
    r.or_else(|e| fail(format!("cannot read {path}: {e}")))?;
    Ok(buf)
}

/// The whole of a compressed input whose `first` bytes were read. Past its first 16 bytes,
/// only a `.znn.safetensors` file (an 8-byte length, then a JSON object) can still turn out to
/// be compressed: anything else is refused before it is read to its end (which for /dev/zero
/// never comes).
pub(crate) fn read_rest(input: &str, first: Vec<u8>, rest: &mut dyn Read) -> Result<Vec<u8>, Fail> {
    if first.len() >= 16 && zipnn_wasm::detect(&first) == Format::Unknown && first[8] != b'{' {
        return Err(Error::NotCompressed.into());
    }
    let mut data = first;
    rest.read_to_end(&mut data)
        .or_else(|e| fail(format!("cannot read {input}: {e}")))?;
    Ok(data)
}

/// A file on disk read at any offset, for the decoders that index before they decode.
pub(crate) struct FileSource {
    path: String,
    file: File,
    size: u64,
    buf: Vec<u8>,
    /// The read error behind the `Error` the last read returned, to report instead of it.
    failed: Option<Fail>,
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.size
    }
    fn read(&mut self, pos: u64, len: usize) -> Result<&[u8], Error> {
        use std::io::{Seek, SeekFrom};
        pos.checked_add(len as u64)
            .filter(|&end| end <= self.size)
            .ok_or(Error::Truncated)?;
        self.failed = None;
        let buf = zipnn_wasm::format::grow(&mut self.buf, len)?;
        if let Err(e) = self
            .file
            .seek(SeekFrom::Start(pos))
            .and_then(|_| self.file.read_exact(buf))
        {
            // Shorter than when it was opened: cut while being read.
            if e.kind() == io::ErrorKind::UnexpectedEof {
                return Err(Error::Truncated);
            }
            self.failed = Some(Fail {
                msg: format!("cannot read {}: {e}", self.path),
                usage: false,
            });
            return Err(Error::Truncated);
        }
        Ok(buf)
    }
}

impl FileSource {
    /// `e`, or the read error that caused it.
    pub(crate) fn fail(&mut self, e: Error) -> Fail {
        self.failed.take().unwrap_or_else(|| e.into())
    }
}

/// `input` opened for [`decode_znn_safetensors`] when it is a `.znn.safetensors` file on disk
/// (not stdin, no `--base`); `None` for anything else.
pub(crate) fn znn_safetensors_file(input: &str, a: &Args) -> Result<Option<FileSource>, Fail> {
    use zipnn_wasm::format::zipnn::safetensors::is_znn_safetensors_source;
    if a.base.is_some() {
        return Ok(None);
    }
    Ok(file_source(input)?.and_then(|mut src| is_znn_safetensors_source(&mut src).then_some(src)))
}

/// `input` opened to be read at any offset when it is a regular file; `None` for stdin, a
/// pipe or a device, which are read from start to end.
pub(crate) fn file_source(input: &str) -> Result<Option<FileSource>, Fail> {
    // The type first, without opening: opening and closing a named pipe would lose its data.
    if input == "-" || !fs::metadata(input).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let file = File::open(input).or_else(|e| fail(format!("cannot read {input}: {e}")))?;
    let meta = file
        .metadata()
        .or_else(|e| fail(format!("cannot read {input}: {e}")))?;
    Ok(Some(FileSource {
        path: input.into(),
        file,
        size: meta.len(),
        buf: Vec::new(),
        failed: None,
    }))
}

/// Opens `input` ('-': stdin) and reads its first bytes, enough to tell the format.
pub(crate) fn open_input(input: &str) -> Result<(Box<dyn Read>, Vec<u8>), Fail> {
    let mut reader: Box<dyn Read> = if input == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(input).or_else(|e| fail(format!("cannot read {input}: {e}")))?)
    };
    let mut first = vec![0u8; 16];
    let n = read_full(&mut reader, &mut first)
        .or_else(|e| fail(format!("cannot read {input}: {e}")))?;
    first.truncate(n);
    Ok((reader, first))
}

/// For input that is not on disk (stdin, a pipe) and starts like a safetensors file: `first`
/// grown to its whole JSON header, and whether that header lists compressed tensors (a
/// `.znn.safetensors` file that then streams a tensor at a time; without the list only the
/// whole file tells which tensors are frames). Anything else comes back as it was.
pub(crate) fn listed_header(
    input: &str,
    first: Vec<u8>,
    reader: &mut dyn Read,
) -> Result<(Vec<u8>, bool), Fail> {
    use zipnn_wasm::format::safetensors::MAX_HEADER;
    if first.len() < 16 || streamable(&first) || first[8] != b'{' {
        return Ok((first, false));
    }
    let n = u64::from_le_bytes(first[..8].try_into().unwrap_or([0; 8]));
    if !(2..=MAX_HEADER).contains(&n) {
        return Ok((first, false));
    }
    // Grown as bytes come (a header length is only a claim until they do).
    let mut head = first;
    let want = (8 + n).saturating_sub(head.len() as u64);
    reader
        .take(want)
        .read_to_end(&mut head)
        .or_else(|e| fail(format!("cannot read {input}: {e}")))?;
    let listed = zipnn_wasm::format::zipnn::safetensors::lists_compressed(&head);
    Ok((head, listed))
}

/// Whether a file starting with `first` can go through the push decoder.
pub(crate) fn streamable(first: &[u8]) -> bool {
    matches!(zipnn_wasm::detect(first), Format::Znw | Format::Zipnn)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
