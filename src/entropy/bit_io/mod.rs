//! Bit-level I/O in the zstd style (RFC 8878 §4.1).
//!
//! * [`BitWriter`] writes a bitstream *forward*, LSB-first: the first field written occupies the
//!   lowest bits of the first byte. [`BitWriter::finish`] appends a single `1` bit (the end
//!   marker) and pads the final byte with zeros, so the last byte of a stream is never zero.
//! * [`BackwardReader`] reads such a stream *backward*: it finds the end marker in the last byte
//!   and then returns the most recently written bits first. A field of `n` bits written with
//!   value `v` reads back as `v` (its MSB comes out first). Entropy encoders therefore write
//!   their symbols in reverse order.
//! * [`ForwardReader`] reads a forward LSB-first stream (used for FSE table headers).
//!
//! None of the readers can panic or index out of bounds on any input: bits past the start of a
//! backward stream (or past the end of a forward one) read as zero and are recorded as overrun.

use super::EntropyError;
use alloc::vec::Vec;

/// Forward LSB-first bit writer appending to a `Vec<u8>`.
///
/// Bits accumulate in a 64-bit container; [`flush`](Self::flush) stores the whole container
/// (a fixed 8-byte store into already-sized memory) and advances by the complete bytes. The
/// vector is grown ahead with zeros and trimmed by [`finish`](Self::finish) /
/// [`finish_unmarked`](Self::finish_unmarked), one of which must end every writer.
/// Callers that write several fields between flushes must keep the pending total at most 64
/// bits: after a flush at most 7 bits are pending, so 57 more bits may be added safely.
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    pos: usize,
    acc: u64,
    nbits: u32,
}

impl<'a> BitWriter<'a> {
    /// A writer appending to `out` (existing contents are kept).
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        let pos = out.len();
        BitWriter {
            out,
            start: pos,
            pos,
            acc: 0,
            nbits: 0,
        }
    }

    /// Adds the low `n` bits of `value` (`n <= 57`, `value < 2^n`, at most 64 bits pending).
    #[inline(always)]
    pub fn add_bits(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 57 && self.nbits + n <= 64);
        debug_assert!(n == 64 || value >> n == 0);
        // `nbits < 64` holds whenever bits can still be added, so the shift is in range.
        self.acc |= value << (self.nbits & 63);
        self.nbits += n;
    }

    /// Moves all complete bytes to the output; at most 7 bits stay pending.
    #[inline(always)]
    pub fn flush(&mut self) {
        if self.out.len() < self.pos + 8 {
            self.grow();
        }
        if let Some(w) = self.out.get_mut(self.pos..self.pos + 8) {
            w.copy_from_slice(&self.acc.to_le_bytes());
        }
        let nbytes = self.nbits >> 3;
        self.pos += nbytes as usize;
        // nbytes may be 8: shift in two steps so the amount stays below 64.
        self.acc = (self.acc >> (nbytes * 4)) >> (nbytes * 4);
        self.nbits &= 7;
    }

    #[cold]
    fn grow(&mut self) {
        let written = self.pos - self.start;
        self.out.resize(self.pos + 8 + (written / 2).max(1024), 0);
    }

    /// Appends the end marker (one `1` bit), pads to a byte and flushes.
    pub fn finish(mut self) {
        self.flush();
        self.add_bits(1, 1);
        self.finish_unmarked();
    }

    /// Pads the pending bits to a whole byte with zeros and flushes, without an end marker
    /// (for forward-read headers such as FSE normalized counts).
    pub fn finish_unmarked(mut self) {
        self.nbits = self.nbits.div_ceil(8) * 8;
        self.flush();
        self.out.truncate(self.pos);
    }
}

/// Reads the 8 bytes ending at `end` as a little-endian word; bytes before index 0 read as 0.
#[inline(always)]
fn load_before(src: &[u8], end: usize) -> u64 {
    match src.get(..end).and_then(|s| s.last_chunk::<8>()) {
        Some(w) => u64::from_le_bytes(*w),
        None => {
            // Fewer than 8 bytes before `end`: place them in the top bytes of the word.
            let head = &src[..end.min(src.len())];
            let mut w = [0u8; 8];
            w[8 - head.len()..].copy_from_slice(head);
            u64::from_le_bytes(w)
        }
    }
}

/// Backward bit reader for a zstd-style stream (end marker in the last byte).
///
/// `bits` holds the unread bits left-aligned (the next bit to read is bit 63); only the top
/// `nbits` are counted as loaded. Bits below those are either the stream's following bits or
/// zero (past the stream start), never garbage, so peeking past `nbits` is harmless.
/// `src[..pos]` are the bytes not yet loaded.
#[derive(Clone, Copy)]
pub struct BackwardReader<'a> {
    src: &'a [u8],
    pos: usize,
    bits: u64,
    nbits: u32,
    overrun: bool,
}

impl<'a> BackwardReader<'a> {
    /// Starts reading `src` from its end. Fails if `src` is empty or its last byte is zero
    /// (no end marker).
    pub fn new(src: &'a [u8]) -> Result<Self, EntropyError> {
        let last = *src.last().ok_or(EntropyError::Truncated)?;
        if last == 0 {
            return Err(EntropyError::Corrupt("bitstream end marker missing"));
        }
        let mut r = BackwardReader {
            src,
            pos: src.len(),
            bits: 0,
            nbits: 0,
            overrun: false,
        };
        let skip = last.leading_zeros() + 1;
        r.bits = load_before(src, r.pos);
        let taken = r.pos.min(8);
        r.pos -= taken;
        // taken*8 >= 8 >= skip, and the result is at most 63: the invariant `nbits <= 63`.
        r.nbits = taken as u32 * 8 - skip;
        r.bits <<= skip;
        Ok(r)
    }

    /// Bits not yet consumed (loaded or not).
    #[inline(always)]
    pub fn bits_remaining(&self) -> usize {
        self.pos * 8 + self.nbits as usize
    }

    /// Bits currently loaded in the container.
    #[inline(always)]
    pub fn loaded(&self) -> u32 {
        self.nbits
    }

    /// True when at least 8 unloaded bytes remain, so [`refill_fast`](Self::refill_fast) is allowed.
    #[inline(always)]
    pub fn can_refill_fast(&self) -> bool {
        self.pos >= 8
    }

    /// Loads whole bytes until at least 56 bits are loaded. Requires [`can_refill_fast`](Self::can_refill_fast).
    #[inline(always)]
    pub fn refill_fast(&mut self) {
        debug_assert!(self.pos >= 8 && self.nbits <= 63);
        let w = match self.src.get(..self.pos).and_then(|s| s.last_chunk::<8>()) {
            Some(w) => u64::from_le_bytes(*w),
            None => 0, // unreachable when the precondition holds
        };
        self.bits |= w >> self.nbits;
        self.pos -= ((63 - self.nbits) >> 3) as usize;
        self.nbits |= 56;
    }

    /// Loads as many bytes as fit (up to 63 loaded bits) or as remain. Never fails.
    #[inline(always)]
    pub fn refill(&mut self) {
        if self.pos >= 8 {
            self.refill_fast();
        } else {
            self.refill_slow();
        }
    }

    #[inline(never)]
    fn refill_slow(&mut self) {
        let take = (((63 - self.nbits) >> 3) as usize).min(self.pos);
        if take == 0 {
            return;
        }
        self.bits |= load_before(self.src, self.pos) >> self.nbits;
        self.pos -= take;
        self.nbits += take as u32 * 8;
    }

    /// The next `n` bits (`n <= 56`) without consuming them; zero-extended past the stream start.
    #[inline(always)]
    pub fn peek(&self, n: u32) -> u64 {
        // Two shifts so that n == 0 yields 0 instead of an out-of-range shift.
        (self.bits >> 1) >> (63 - n)
    }

    /// The top 11 bits (the lookup window of the Huffman decoders).
    #[inline(always)]
    pub fn peek11(&self) -> usize {
        (self.bits >> 53) as usize
    }

    /// Consumes `n <= nbits` loaded bits (the hot-loop variant: the caller guarantees it).
    #[inline(always)]
    pub fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.nbits);
        self.bits <<= n & 63;
        self.nbits -= n;
    }

    /// Consumes `n <= 56` bits, refilling first if needed. Consuming past the start of the
    /// stream sets the overrun flag (see [`overrun`](Self::overrun)) and leaves the reader empty.
    #[inline(always)]
    pub fn consume_checked(&mut self, n: u32) {
        if n > self.nbits {
            self.refill();
            if n > self.nbits {
                self.overrun = true;
                self.bits = 0;
                self.nbits = 0;
                return;
            }
        }
        self.consume(n);
    }

    /// Reads `n <= 56` bits, zero-extended past the stream start (which sets the overrun flag).
    #[inline(always)]
    pub fn read(&mut self, n: u32) -> u64 {
        if n > self.nbits {
            self.refill();
        }
        let v = self.peek(n);
        self.consume_checked(n);
        v
    }

    /// The reader in *marked* form for hot loops: the loaded bits left-aligned with a single
    /// `1` bit right below them (so the count needs no register of its own), and `pos`.
    /// Resume with [`set_marked`](Self::set_marked); refill with [`refill_marked`].
    #[inline(always)]
    pub fn marked(&self) -> (u64, usize) {
        // nbits <= 63, so the marker fits; bits below the valid ones are cleared.
        let keep = !(u64::MAX >> self.nbits);
        ((self.bits & keep) | (1u64 << (63 - self.nbits)), self.pos)
    }

    /// Takes back the state of a hot loop (see [`marked`](Self::marked)).
    #[inline(always)]
    pub fn set_marked(&mut self, bits: u64, pos: usize) {
        debug_assert!(bits != 0 && pos <= self.src.len());
        let tz = bits.trailing_zeros();
        self.nbits = 63 - tz;
        self.bits = bits & bits.wrapping_sub(1); // drop the marker
        self.pos = pos;
    }

    /// Moves the reader so that `remaining` bits (at most all of them) are left to read: the
    /// inverse of [`bits_remaining`](Self::bits_remaining). Leaves a hot loop's [`lane`] form.
    pub fn seek_remaining(&mut self, remaining: usize) {
        let remaining = remaining.min(self.src.len() * 8);
        self.pos = remaining / 8;
        self.nbits = (remaining % 8) as u32;
        // The low `nbits` bits of the partly read byte, left-aligned; zeros below them.
        self.bits = match self.src.get(self.pos) {
            Some(&b) if self.nbits > 0 => ((b as u64) << 56) << (8 - self.nbits),
            _ => 0,
        };
        self.overrun = false;
    }

    /// True once a read went past the start of the stream.
    #[inline(always)]
    pub fn overrun(&self) -> bool {
        self.overrun
    }

    /// True when every bit was consumed exactly: nothing left, nothing over-read.
    #[inline(always)]
    pub fn is_exhausted(&self) -> bool {
        self.pos == 0 && self.nbits == 0 && !self.overrun
    }
}

/// Refills a marked reader (see [`BackwardReader::marked`]) whose next unloaded byte is
/// `src[pos - 1]`; requires `pos >= 8` (else nothing is loaded). Afterwards 56..=63 bits are
/// loaded. Branch-free apart from the bounds check.
#[inline(always)]
pub fn refill_marked(src: &[u8], bits: &mut u64, pos: &mut usize) {
    let Some(w) = src.get(..*pos).and_then(|s| s.last_chunk::<8>()) else {
        return;
    };
    let w = u64::from_le_bytes(*w);
    let tz = bits.trailing_zeros(); // marker position: 63 - tz bits are loaded
    let b = (*bits & bits.wrapping_sub(1)) | (w >> (63 - tz));
    *pos -= (tz >> 3) as usize;
    let m = tz & 7; // new marker position
    *bits = (b | (1u64 << m)) & (u64::MAX << m);
}

/// The form of a backward stream in the hot decoding loops, as in zstd's fast Huffman loops:
/// one stream of several that share the slice `src`, its bytes from `start` on. With `w` the
/// eight bytes `src[end - 8..end]` as a little-endian word, the state is `bits = (w | 1) << t`
/// for the `t` (0..=63) top bits of `w` already consumed. The `1` marks where the unconsumed
/// bits end: `trailing_zeros(bits) == t`, so no bit count is kept; the `63 - t` bits above the
/// marker are loaded (bit 0 of `w` is not: it is read after the next refill). A lookup peeks at
/// the top bits and consumes with `bits <<= n`; a refill moves `end` back by the whole bytes
/// consumed and reloads, leaving at least 56 bits loaded. The state is `(bits, end)`.
pub mod lane {
    /// Enters the form for a stream at `src[start..]` with `remaining` bits left to read
    /// (e.g. [`BackwardReader::bits_remaining`](super::BackwardReader::bits_remaining)).
    /// `None` if fewer than 8 bytes hold them.
    #[inline]
    pub fn enter(src: &[u8], start: usize, remaining: usize) -> Option<(u64, usize)> {
        let end = start + remaining.div_ceil(8);
        if end < start + 8 {
            return None;
        }
        let t = (end - start) * 8 - remaining; // 0..=7: the top bits that are not data
        let w = u64::from_le_bytes(*src.get(..end)?.last_chunk::<8>()?);
        Some(((w | 1) << t, end))
    }

    /// Reloads after up to 56 bits were consumed since the last (re)load; afterwards at least
    /// 56 bits are loaded. Requires `end >= start + 15` (so the new word is still inside the
    /// stream, checked by the caller); outside `src` it does nothing.
    #[inline(always)]
    pub fn refill(src: &[u8], bits: &mut u64, end: &mut usize) {
        let t = bits.trailing_zeros();
        let new_end = end.wrapping_sub((t >> 3) as usize);
        if let Some(w) = src.get(..new_end).and_then(|s| s.last_chunk::<8>()) {
            *end = new_end;
            *bits = (u64::from_le_bytes(*w) | 1) << (t & 7);
        }
    }

    /// Bits of the stream at `src[start..]` not consumed yet.
    #[inline]
    pub fn remaining(start: usize, bits: u64, end: usize) -> usize {
        (end - start) * 8 - bits.trailing_zeros() as usize
    }
}

/// Forward LSB-first reader over a byte slice; bits past the end read as zero.
pub struct ForwardReader<'a> {
    src: &'a [u8],
    bitpos: usize,
}

impl<'a> ForwardReader<'a> {
    /// A reader at the first bit (the lowest bit of `src[0]`).
    pub fn new(src: &'a [u8]) -> Self {
        ForwardReader { src, bitpos: 0 }
    }

    /// The next `n <= 32` bits without consuming them.
    #[inline]
    pub fn peek(&self, n: u32) -> u32 {
        debug_assert!(n <= 32);
        let byte = self.bitpos >> 3;
        let mut w = [0u8; 8];
        if let Some(tail) = self.src.get(byte..) {
            let k = tail.len().min(8);
            w[..k].copy_from_slice(&tail[..k]);
        }
        let v = u64::from_le_bytes(w) >> (self.bitpos & 7);
        (v & ((1u64 << n) - 1)) as u32
    }

    /// Consumes `n` bits; going past the end is allowed (see [`ForwardReader::is_overrun`]).
    #[inline]
    pub fn skip(&mut self, n: u32) {
        self.bitpos += n as usize;
    }

    /// The next `n <= 32` bits, consumed (zeros past the end).
    #[inline]
    pub fn read(&mut self, n: u32) -> u32 {
        let v = self.peek(n);
        self.skip(n);
        v
    }

    /// Bytes spanned by the bits consumed so far.
    pub fn bytes_consumed(&self) -> usize {
        self.bitpos.div_ceil(8)
    }

    /// Whether more bits were consumed than `src` holds (a malformed stream).
    pub fn is_overrun(&self) -> bool {
        self.bitpos > self.src.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::testdata::XorShift;
    use alloc::vec;

    #[test]
    fn roundtrip_random_fields() {
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for len in [0usize, 1, 2, 7, 8, 9, 31, 100, 1000] {
            let fields: Vec<(u64, u32)> = (0..len)
                .map(|_| {
                    let n = (rng.next() % 57) as u32;
                    let v = if n == 0 {
                        0
                    } else {
                        rng.next() & ((1u64 << n) - 1)
                    };
                    (v, n)
                })
                .collect();
            let mut out = vec![];
            let mut w = BitWriter::new(&mut out);
            for &(v, n) in &fields {
                w.add_bits(v, n);
                w.flush();
            }
            w.finish();
            let total: u32 = fields.iter().map(|f| f.1).sum();
            assert_eq!(out.len(), (total as usize + 1).div_ceil(8));
            let mut r = BackwardReader::new(&out).unwrap();
            assert_eq!(r.bits_remaining(), total as usize);
            for &(v, n) in fields.iter().rev() {
                assert_eq!(r.read(n), v);
            }
            assert!(r.is_exhausted());
            // Reading on yields zeros and flags the overrun.
            assert_eq!(r.read(13), 0);
            assert!(r.overrun() && !r.is_exhausted());
        }
    }

    #[test]
    fn fast_refill_matches_slow() {
        let mut rng = XorShift(99);
        let data: Vec<u8> = (0..200).map(|_| rng.next() as u8 | 1).collect();
        let mut a = BackwardReader::new(&data).unwrap();
        let mut b = a;
        let mut n = 0;
        while a.bits_remaining() > 0 {
            let k = (n % 11 + 1).min(a.bits_remaining() as u32);
            if a.can_refill_fast() {
                a.refill_fast();
            } else {
                a.refill();
            }
            b.refill_slow();
            assert_eq!(a.peek(k), b.peek(k));
            a.consume_checked(k);
            b.consume_checked(k);
            n += 1;
        }
        assert!(a.is_exhausted() && b.is_exhausted());
    }

    #[test]
    fn marked_form_matches() {
        let mut rng = XorShift(5);
        let data: Vec<u8> = (0..300).map(|_| rng.next() as u8 | 0x80).collect();
        let mut a = BackwardReader::new(&data).unwrap();
        let mut b = a;
        let mut n = 0u32;
        while a.can_refill_fast() {
            let (mut bits, mut pos) = a.marked();
            refill_marked(&data, &mut bits, &mut pos);
            let mut vals = vec![];
            for i in 0..5 {
                let k = (n + i) % 11 + 1;
                vals.push((bits >> (64 - k), k));
                bits <<= k;
            }
            a.set_marked(bits, pos);
            for (v, k) in vals {
                assert_eq!(b.read(k), v);
            }
            assert_eq!(a.bits_remaining(), b.bits_remaining());
            n += 1;
        }
        while a.bits_remaining() > 0 {
            assert_eq!(a.read(1), b.read(1));
        }
        assert!(a.is_exhausted());
    }

    #[test]
    fn lane_form_matches() {
        let mut rng = XorShift(77);
        // Two streams back to back; the lane reads the second one.
        let data: Vec<u8> = (0..400).map(|_| rng.next() as u8 | 0x80).collect();
        let start = 123;
        let stream = &data[start..];
        let mut a = BackwardReader::new(stream).unwrap();
        let mut b = a;
        let (mut bits, mut end) = lane::enter(&data, start, a.bits_remaining()).unwrap();
        let mut n = 0u32;
        while end >= start + 15 {
            let mut vals = vec![];
            for i in 0..5 {
                let k = (n + i) % 11 + 1;
                vals.push((bits >> (64 - k), k));
                bits <<= k;
            }
            lane::refill(&data, &mut bits, &mut end);
            for (v, k) in vals {
                assert_eq!(b.read(k), v);
            }
            assert_eq!(lane::remaining(start, bits, end), b.bits_remaining());
            n += 1;
        }
        a.seek_remaining(lane::remaining(start, bits, end));
        while a.bits_remaining() > 0 {
            assert_eq!(a.read(1), b.read(1));
        }
        assert!(a.is_exhausted() && b.is_exhausted());
    }

    #[test]
    fn rejects_missing_marker() {
        assert_eq!(
            BackwardReader::new(&[]).err(),
            Some(EntropyError::Truncated)
        );
        assert!(BackwardReader::new(&[1, 0]).is_err());
        let r = BackwardReader::new(&[0xff, 0x01]).unwrap();
        assert_eq!(r.bits_remaining(), 8);
    }

    #[test]
    fn forward_reader_zero_extends() {
        let mut r = ForwardReader::new(&[0xA5, 0x01]);
        assert_eq!(r.read(4), 0x5);
        assert_eq!(r.read(8), 0x1A);
        assert_eq!(r.read(16), 0);
        assert!(r.is_overrun());
    }
}
