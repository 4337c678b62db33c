//! Shared by every fuzz target: a heap budget enforced by the global allocator, the decoding
//! limits the targets use, control-byte parsing and error-code checks.
//!
//! The heap budget turns "allocates more than the declared output plus a fixed bound" into a
//! crash libFuzzer records, whatever sanitizer (or none) the target is built with: every Rust
//! allocation is counted, and one that takes the live heap past
//! `HEAP_FIXED + HEAP_PER_INPUT_BYTE * input length` (plus what was live before the input)
//! prints the numbers and aborts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use zipnn_wasm::format::znw::{DTypeChoice, Options};
use zipnn_wasm::{DType, Error, Limits};

// Five bits of a control byte pick a dtype or auto (`options`): room for 31 dtypes.
const _: () = assert!(DType::ALL.len() < 32);

/// `.znw` encoder options from a control byte: its low four bits and bit 7 pick each dtype or
/// auto, bit 4 verifies, bit 5 takes 2 threads, bit 6 allows tANS.
pub fn options(d: u8, chunk_size: u32) -> Options {
    let dtype = match DType::ALL.get((d & 15 | (d & 0x80) >> 3) as usize) {
        Some(&t) => DTypeChoice::Fixed(t),
        None => DTypeChoice::Auto,
    };
    Options {
        dtype,
        chunk_size,
        verify: d & 0x10 != 0,
        threads: if d & 0x20 != 0 { 2 } else { 1 },
        tans: d & 0x40 != 0,
    }
}

/// Largest decoded size the decoding targets accept (`Limits::max_output`).
pub const MAX_OUT: u64 = 4 << 20;
/// Fixed part of the heap budget: output, one chunk of scratch and one decoded chunk, each at
/// most `MAX_OUT`, plus 4 MiB of tables and bookkeeping.
pub const HEAP_FIXED: usize = 4 * MAX_OUT as usize + (4 << 20);
/// Per-input-byte part: parsed JSON trees, record indexes, compressor output and copies.
pub const HEAP_PER_INPUT_BYTE: usize = 64;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Counts live heap bytes and aborts past the budget set by [`begin`].
pub struct Budgeted;

#[global_allocator]
static ALLOC: Budgeted = Budgeted;

fn grow(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
    let cap = CAP.load(Relaxed);
    if now > cap {
        over_budget(by, now, cap);
    }
}

#[cold]
fn over_budget(size: usize, live: usize, cap: usize) -> ! {
    // No allocation here: format into a stack buffer.
    let mut buf = [0u8; 160];
    let mut w = &mut buf[..];
    let _ = write!(
        w,
        "\n==fuzz heap budget exceeded: allocation of {size} bytes, live {live} > cap {cap}\n"
    );
    let left = w.len();
    let n = buf.len() - left;
    let _ = std::io::stderr().write_all(&buf[..n]);
    std::process::abort();
}

unsafe impl GlobalAlloc for Budgeted {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grow(l.size());
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        grow(l.size());
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            grow(new - l.size());
        } else {
            LIVE.fetch_sub(l.size() - new, Relaxed);
        }
        System.realloc(p, l, new)
    }
}

/// Starts one input: the heap may grow by the budget for `input_len` bytes from here.
pub fn begin(input_len: usize) {
    begin_with(input_len, HEAP_FIXED);
}

/// As [`begin`] with another fixed part.
pub fn begin_with(input_len: usize, fixed: usize) {
    let live = LIVE.load(Relaxed);
    PEAK.store(live, Relaxed);
    let cap = input_len
        .saturating_mul(HEAP_PER_INPUT_BYTE)
        .saturating_add(fixed)
        .saturating_add(live);
    CAP.store(cap, Relaxed);
}

/// Highest live heap since [`begin`].
pub fn peak() -> usize {
    PEAK.load(Relaxed)
}

/// The limits every decoding target uses.
pub fn limits() -> Limits {
    Limits {
        max_output: MAX_OUT,
    }
}

/// Error codes a decoder may return for bad data (never `ZNN_INVALID_INPUT`: that one is for
/// bad arguments).
pub const DATA_ERRORS: &[&str] = &[
    "ZNN_NOT_COMPRESSED",
    "ZNN_TRUNCATED",
    "ZNN_CORRUPT",
    "ZNN_UNSUPPORTED",
    "ZNN_TOO_LARGE",
];

/// Asserts that `e` has one of the `allowed` codes and formats without panicking.
pub fn check_error(e: &Error, allowed: &[&str]) {
    let code = e.code();
    assert!(allowed.contains(&code), "unexpected error code {code}: {e}");
    let _ = e.to_string();
}

/// Reads control bytes from the front of a fuzz input; missing bytes read as 0.
pub struct Ctl<'a> {
    data: &'a [u8],
}

impl<'a> Ctl<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Ctl { data }
    }
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
    /// An output length up to 1 MiB: 0..32767 directly, or (15 bits) << 5 when the top bit
    /// of the u16 is set.
    pub fn out_len(&mut self) -> usize {
        let v = self.u16() as usize;
        if v & 0x8000 != 0 {
            (v & 0x7FFF) << 5
        } else {
            v
        }
    }
    /// A list of up to 15 input split sizes (0 = an empty push), 0..=199 directly, above that
    /// powers of two up to 1 MiB.
    pub fn splits(&mut self) -> Vec<usize> {
        let k = (self.u8() % 16) as usize;
        (0..k)
            .map(|_| match self.u8() as usize {
                s @ 0..=199 => s,
                s => 1 << (s - 200).min(20),
            })
            .collect()
    }
    /// Up to 7 (position, xor mask) pairs.
    pub fn flips(&mut self) -> Vec<(usize, u8)> {
        let k = (self.u8() % 8) as usize;
        (0..k)
            .map(|_| (self.u16() as usize, self.u8().max(1)))
            .collect()
    }
}

/// Applies `flips` (positions taken modulo the length) to `buf`.
pub fn apply_flips(buf: &mut [u8], flips: &[(usize, u8)]) {
    if buf.is_empty() {
        return;
    }
    let n = buf.len();
    for &(at, x) in flips {
        buf[at % n] ^= x;
    }
}

/// Cuts `data` into pieces of the given sizes, cycling through them (one piece when empty).
pub fn pieces<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    // Empty pieces are allowed but bounded, so all-zero sizes still make progress.
    let mut empties = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        i += 1;
        if n == 0 {
            empties += 1;
            if empties > 64 || sizes.iter().all(|&s| s == 0) {
                out.push(rest);
                break;
            }
        }
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Recomputes the header, chunk-body and end-record checksums of a `.znw` file in place (the
/// decoded-bytes checksums cannot be fixed without decoding), so that mutated files get past
/// the checksums into the structure and entropy decoders. Returns whether anything changed.
pub fn fix_znw_checksums(buf: &mut [u8]) -> bool {
    use zipnn_wasm::format::znw::{header::checksum, MAGIC};
    let before = buf.to_vec();
    let u32at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    if buf.len() < 16 || !buf.starts_with(&MAGIC) {
        return false;
    }
    let hl = u32at(buf, 12) as usize;
    if hl < 40 || hl > buf.len() {
        return false;
    }
    let sum = checksum(&buf[..hl - 4]);
    buf[hl - 4..hl].copy_from_slice(&sum.to_le_bytes());
    let mut pos = hl;
    while pos < buf.len() {
        match buf[pos] {
            b'C' if pos + 20 <= buf.len() => {
                let end = pos + 20 + u32at(buf, pos + 8) as usize;
                if end > buf.len() {
                    break;
                }
                let sum = checksum(&buf[pos + 20..end]);
                buf[pos + 12..pos + 16].copy_from_slice(&sum.to_le_bytes());
                pos = end;
            }
            b'E' if pos + 24 <= buf.len() => {
                let sum = checksum(&buf[pos..pos + 20]);
                buf[pos + 20..pos + 24].copy_from_slice(&sum.to_le_bytes());
                break;
            }
            _ => break,
        }
    }
    *buf != *before
}
