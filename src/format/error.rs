use crate::entropy::EntropyError;
use alloc::string::String;
use core::fmt;

/// Why a file could not be decoded (or encoded). Every variant maps to one stable `code()`
/// that the CLI prints and the JS wrapper puts on its `Error` objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input does not start with a magic number we know.
    NotCompressed,
    /// The input ends before the data it announces.
    Truncated,
    /// The input is malformed.
    Corrupt(String),
    /// A checksum does not match: the bytes were changed after compression.
    Checksum {
        /// Which checksum: the header's, a chunk body's, a chunk's decoded bytes...
        what: &'static str,
        /// The decoded offset of the chunk it guards (0 for the header).
        offset: u64,
    },
    /// A valid feature we do not implement (a newer format version, a delta frame without base).
    Unsupported(String),
    /// A size beyond the caller's limit (`limit`), or one that memory could not hold
    /// (`limit == u64::MAX`: see [`Error::no_memory`]).
    TooLarge {
        /// The size asked for, in bytes.
        size: u64,
        /// The limit it passed.
        limit: u64,
    },
    /// Bad arguments from the caller (not from the data).
    InvalidInput(String),
}

impl Error {
    /// Stable machine-readable code, shared by the CLI and the JS API.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotCompressed => "ZNN_NOT_COMPRESSED",
            Error::Truncated => "ZNN_TRUNCATED",
            Error::Corrupt(_) | Error::Checksum { .. } => "ZNN_CORRUPT",
            Error::Unsupported(_) => "ZNN_UNSUPPORTED",
            Error::TooLarge { .. } => "ZNN_TOO_LARGE",
            Error::InvalidInput(_) => "ZNN_INVALID_INPUT",
        }
    }

    pub(crate) fn corrupt(why: impl Into<String>) -> Self {
        Error::Corrupt(why.into())
    }

    /// A caller's output buffer of `len` bytes for a file that decodes to `total`.
    pub fn wrong_size(len: usize, total: u64) -> Self {
        Error::InvalidInput(alloc::format!(
            "output buffer has {len} bytes, the file decodes to {total}"
        ))
    }

    /// An allocation of `size` bytes failed (or cannot be made on this host).
    pub fn no_memory(size: u64) -> Self {
        Error::TooLarge {
            size,
            limit: u64::MAX,
        }
    }
}

impl From<EntropyError> for Error {
    fn from(e: EntropyError) -> Self {
        match e {
            EntropyError::Truncated => Error::Corrupt(String::from("entropy block is truncated")),
            EntropyError::Corrupt(why) => Error::Corrupt(alloc::format!("entropy block: {why}")),
            // A body whose checksum holds has its mode bytes as written: a reserved mode is a
            // newer encoder's. One past the reserved range was read at the wrong place (the
            // chunk head, which no checksum covers, gave the wrong group size).
            EntropyError::UnknownMode(m) if m <= crate::entropy::block::LAST_RESERVED => {
                Error::Unsupported(alloc::format!(
                    "block mode {m} (written by a newer zipnn-wasm; update to read this file)"
                ))
            }
            EntropyError::UnknownMode(m) => {
                Error::Corrupt(alloc::format!("entropy block: unknown block mode {m}"))
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotCompressed => f.write_str("not a compressed file (unknown magic number)"),
            Error::Truncated => f.write_str("input is truncated"),
            Error::Corrupt(why) => write!(f, "input is corrupt: {why}"),
            Error::Checksum { what, offset } => {
                write!(
                    f,
                    "checksum mismatch in {what} at decoded offset {offset}: data is corrupt"
                )
            }
            Error::Unsupported(why) => write!(f, "unsupported: {why}"),
            Error::TooLarge {
                size,
                limit: u64::MAX,
            } => write!(f, "{size} bytes do not fit in memory"),
            Error::TooLarge { size, limit } => {
                write!(f, "decoded size {size} exceeds the limit of {limit} bytes")
            }
            Error::InvalidInput(why) => write!(f, "invalid input: {why}"),
        }
    }
}

/// `core::error::Error` (which `std::error::Error` is): also without `std`.
impl core::error::Error for Error {}
