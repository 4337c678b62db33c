//! Entropy coders. Each knows only bytes: no dtype, no container.

/// `with_reused!(Type, |t: &mut Type| ...)` runs the closure with a `Type` of this thread's,
/// reused call after call (with `std`), so that a block does not allocate and zero decoding
/// tables of its own: for small blocks that was most of their cost. Where the thread's is in
/// use (a nested call) or gone (the thread is ending), and without `std`, a fresh one.
macro_rules! with_reused {
    ($t:ty, $f:expr) => {{
        #[cfg(feature = "std")]
        {
            std::thread_local! {
                static REUSED: core::cell::RefCell<$t> = core::cell::RefCell::new(<$t>::default());
            }
            $crate::entropy::run_reused(&REUSED, $f)
        }
        #[cfg(not(feature = "std"))]
        {
            ($f)(&mut <$t>::default())
        }
    }};
}

pub mod bit_io;
pub mod block;
pub mod context;
pub mod fse;
pub mod huff0;
pub mod lz;
pub mod planes;
#[cfg(test)]
mod testdata;
mod varint;

use core::fmt;

/// [`with_reused!`]'s body: `f` with the thread's value from `key`, or a fresh one.
#[cfg(feature = "std")]
pub(crate) fn run_reused<T: Default + 'static, R>(
    key: &'static std::thread::LocalKey<core::cell::RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let mut f = Some(f);
    let shared = key.try_with(|t| match t.try_borrow_mut() {
        Ok(mut t) => f.take().map(|f| f(&mut t)),
        Err(_) => None,
    });
    match (shared, f) {
        (Ok(Some(r)), _) => r,
        (_, Some(f)) => f(&mut T::default()),
        (_, None) => unreachable!("the closure ran but returned nothing"),
    }
}

/// Other work a decoder does a little of as it goes, told about how many symbols of its block
/// it has decoded so far (a guide for pacing, not an exact count). One pacer may serve several
/// blocks, whose counts each start at 0, so a pacer ignores counts it has passed. The chunk
/// decoders use it to bring the raw groups the merge will read into cache while huff0
/// computes (`format::ahead`).
pub trait Pace {
    /// About `symbols` symbols of the current block are decoded (each block counts from 0).
    fn decoded(&mut self, symbols: usize);
}

/// No other work.
impl Pace for () {
    #[inline(always)]
    fn decoded(&mut self, _symbols: usize) {}
}

/// Why an entropy-coded block could not be decoded. Decoders never panic on hostile input;
/// they return one of these instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntropyError {
    /// The block ends before the data it describes.
    Truncated,
    /// The block is malformed (bad table, bad bitstream, sizes that do not add up).
    Corrupt(&'static str),
    /// A block mode this decoder does not know (written by a newer encoder).
    UnknownMode(u8),
}

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntropyError::Truncated => f.write_str("entropy block is truncated"),
            EntropyError::Corrupt(why) => write!(f, "entropy block is corrupt: {why}"),
            EntropyError::UnknownMode(m) => write!(f, "unknown block mode {m}"),
        }
    }
}
