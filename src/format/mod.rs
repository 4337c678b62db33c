//! Container formats: our `.znw` container, ZipNN's frames, and the tensor-file parsers that
//! tell the encoder where each tensor starts and which element type it has.

mod ahead;
pub mod gguf;
mod json;
pub mod npy;
pub mod onnx;
pub mod pickle;
pub mod random;
pub mod safetensors;
pub mod tensors;
pub mod tflite;
pub mod zip;
pub mod zipnn;
pub mod znw;

mod error;
pub mod report;
mod source;
pub use error::Error;
pub use random::{open_random_access, RandomAccess};
pub use source::Source;

/// Caller-set bounds for decoding untrusted input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest decoded size accepted; checked against the header before anything is allocated.
    pub max_output: u64,
}

/// No bound: every allocation sized by a header is fallible (`try_reserve`), so a size that
/// does not fit in memory (or in wasm32's 4 GiB) is a `TooLarge` error, not an abort, and
/// streaming decoders hold only a chunk at a time, whatever the file's size.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output: u64::MAX,
        }
    }
}

/// What kind of file the original bytes were, as far as the encoder understood them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// No container we parse: the bytes as given (FORMAT.md §2 kind 0).
    Raw,
    /// A safetensors file (JSON header, then tensors).
    Safetensors,
    /// An ONNX model (protobuf).
    Onnx,
    /// `torch.save` / TorchScript zip archives.
    PytorchZip,
    /// A GGUF file (llama.cpp).
    Gguf,
    /// TensorFlow Lite FlatBuffers.
    Tflite,
    /// NumPy `.npz` archives (zips of `.npy` arrays).
    Npz,
    /// One NumPy `.npy` array.
    Npy,
}

impl Container {
    /// The container kind stored at header offset 28 (FORMAT.md §2).
    pub const fn code(self) -> u8 {
        match self {
            Container::Raw => 0,
            Container::Safetensors => 1,
            Container::Onnx => 2,
            Container::PytorchZip => 3,
            Container::Gguf => 4,
            Container::Tflite => 5,
            Container::Npz => 6,
            Container::Npy => 7,
        }
    }
    /// The container of a kind code ([`Container::code`]); `None` for an unknown one.
    pub const fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => Container::Raw,
            1 => Container::Safetensors,
            2 => Container::Onnx,
            3 => Container::PytorchZip,
            4 => Container::Gguf,
            5 => Container::Tflite,
            6 => Container::Npz,
            7 => Container::Npy,
            _ => return None,
        })
    }
    /// Short lowercase name, as `inspect` reports it (`"raw"`, `"pytorch-zip"`...).
    pub const fn name(self) -> &'static str {
        match self {
            Container::Raw => "raw",
            Container::Safetensors => "safetensors",
            Container::Onnx => "onnx",
            Container::PytorchZip => "pytorch-zip",
            Container::Gguf => "gguf",
            Container::Tflite => "tflite",
            Container::Npz => "npz",
            Container::Npy => "npy",
        }
    }
}

/// Converts a size read from a file to `usize`, rejecting what the host cannot address
/// (wasm32's `usize` is 4 bytes) instead of truncating it.
pub fn to_usize(v: u64) -> Result<usize, Error> {
    usize::try_from(v).map_err(|_| Error::TooLarge {
        size: v,
        limit: usize::MAX as u64,
    })
}

/// The first `len` bytes of `buf`, grown (zero-filled) to hold them if it is shorter; a refused
/// allocation is `TooLarge`, not an abort. For buffers reused chunk after chunk: only growth is
/// zeroed, once.
pub fn grow(buf: &mut alloc::vec::Vec<u8>, len: usize) -> Result<&mut [u8], Error> {
    if buf.len() < len {
        buf.try_reserve_exact(len - buf.len())
            .map_err(|_| Error::no_memory(len as u64))?;
        buf.resize(len, 0);
    }
    Ok(&mut buf[..len])
}

/// Where a read of `len` bytes at `offset` ends, if within a decoded file of `size` bytes;
/// else `InvalidInput` (the caller's range, not the data, is wrong).
pub(crate) fn range_end(offset: u64, len: u64, size: u64) -> Result<u64, Error> {
    offset
        .checked_add(len)
        .filter(|&e| e <= size)
        .ok_or_else(|| {
            Error::InvalidInput(alloc::format!(
                "{len} bytes at {offset} reach past the decoded size, {size}"
            ))
        })
}

/// The `emit` of a read at offsets (`read_with`) that fills `dst`, the whole range.
pub(crate) fn fill(dst: &mut [u8]) -> impl FnMut(u64, &[u8]) -> Result<(), Error> + '_ {
    // `at` counts from the range's start, within `dst.len()`.
    |at, bytes| {
        dst[at as usize..][..bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
}

/// `list.push(x)`, or `TooLarge` where the list cannot grow: an index of records read in
/// pieces may list more than memory holds (in wasm32, 2^25 chunk records), and must not abort.
pub(crate) fn push_fallible<T>(list: &mut alloc::vec::Vec<T>, x: T) -> Result<(), Error> {
    list.try_reserve(1).map_err(|_| {
        Error::no_memory((list.len() as u64 + 1).saturating_mul(core::mem::size_of::<T>() as u64))
    })?;
    list.push(x);
    Ok(())
}

/// How a decoder into a vector takes memory for a file of `total` decoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reserve {
    /// All of `total` at once: a fresh vector, never reallocated (natively taken zeroed, see
    /// [`Output::new`]).
    All,
    /// Only as decoding gets there ([`reserve_toward`] `total`): a reused vector, which a
    /// header promising more than its data holds must not grow far (wasm memory never shrinks).
    AsDecoded,
}

/// The output vector of a decode of `total` bytes into the front of `out`.
pub(crate) struct Output<'a> {
    pub out: &'a mut alloc::vec::Vec<u8>,
    pub total: usize,
}

impl<'a> Output<'a> {
    pub fn new(
        out: &'a mut alloc::vec::Vec<u8>,
        total: u64,
        reserve: Reserve,
    ) -> Result<Self, Error> {
        let t = to_usize(total)?;
        if reserve == Reserve::All {
            // A fallible reservation first: too large a size is an error, not an abort.
            out.try_reserve_exact(t.saturating_sub(out.len()))
                .map_err(|_| Error::no_memory(total))?;
            // On a hosted OS, take the output zeroed from the allocator instead: a large
            // zeroed block (glibc: above its mmap threshold, 32 MiB at most) is fresh pages the
            // kernel zeroes on first touch, so the decoder's write is each byte's only one;
            // `slot` zero-fills a chunk at a time before the decoder writes it (fresh native
            // decodes of minilm 6–16 % slower, bench/NOTES.md). `vec!` cannot fail softly, so
            // the reservation above stands in for it and is released just before; only memory
            // taken by another thread in between could still make it abort. Not in wasm32,
            // where dlmalloc zero-fills every calloc and memory is better grown as decoded.
            #[cfg(not(target_arch = "wasm32"))]
            {
                *out = alloc::vec::Vec::new();
                *out = alloc::vec![0; t];
            }
        }
        Ok(Output { out, total: t })
    }

    /// `out[at..at + len]`, growing `out` (zero-filled) only up to there: a reused vector is
    /// written in place and grown only as far as decoding has got.
    pub fn slot(&mut self, at: usize, len: usize) -> Result<&mut [u8], Error> {
        let end = at.checked_add(len).filter(|&e| e <= self.total);
        let end = end.ok_or_else(|| Error::corrupt("data past the decoded size"))?;
        if self.out.len() < end {
            reserve_toward(self.out, end, self.total)?;
            self.out.resize(end, 0);
        }
        Ok(&mut self.out[at..end])
    }
}

/// Room in `buf` for `need` bytes, on the way to at most `most`: the capacity doubles, and
/// goes to `most` at once from a sixteenth of it, so it is never more than 16 times what is
/// needed. A header's claim is taken whole only once its data has started to bear it out
/// (wasm memory never shrinks), and a large output is not copied from block to block all the
/// way up: in wasm every step leaves its old block behind, and a 1.43 GB model grown by
/// doubling took 3.5 GB. A refused allocation is an error, not an abort.
pub(crate) fn reserve_toward(
    buf: &mut alloc::vec::Vec<u8>,
    need: usize,
    most: usize,
) -> Result<(), Error> {
    if need > buf.capacity() {
        let want = if need.saturating_mul(16) >= most {
            most.max(need)
        } else {
            buf.capacity().saturating_mul(2).min(most).max(need)
        };
        buf.try_reserve_exact(want - buf.len())
            .map_err(|_| Error::no_memory(want as u64))?;
    }
    Ok(())
}

/// Little-endian readers over a byte slice that fail with `Truncated` instead of panicking.
pub(crate) struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(Error::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}
