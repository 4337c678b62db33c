//! Decoding and encoding tables built from normalized counts.

use super::{EntropyError, NormCounts, MAX_TABLE_SIZE, MIN_TABLE_LOG};
use crate::entropy::bit_io::BitWriter;
use alloc::boxed::Box;

/// Places symbols in the table as RFC 8878 §4.1.1 prescribes: `-1` symbols from the top down,
/// the others spread with step `(size >> 1) + (size >> 3) + 3`, skipping the `-1` cells.
pub(crate) fn spread_symbols(
    norm: &NormCounts,
    table_symbol: &mut [u8],
) -> Result<(), EntropyError> {
    let size = 1usize << norm.log;
    let mask = size - 1;
    let mut high = size; // cells >= high hold "less than one" symbols
    for (s, &c) in norm.counts[..norm.symbols].iter().enumerate() {
        if c == -1 {
            high = high
                .checked_sub(1)
                .ok_or(EntropyError::Corrupt("FSE table overfull"))?;
            table_symbol[high] = s as u8;
        }
    }
    let step = (size >> 1) + (size >> 3) + 3;
    let mut pos = 0usize;
    for (s, &c) in norm.counts[..norm.symbols].iter().enumerate() {
        for _ in 0..c.max(0) {
            table_symbol[pos] = s as u8;
            loop {
                pos = (pos + step) & mask;
                if pos < high {
                    break;
                }
            }
        }
    }
    if pos != 0 {
        return Err(EntropyError::Corrupt("FSE symbol spread does not close"));
    }
    Ok(())
}

/// FSE decoding table. Entry: symbol (bits 0..8), number of bits (8..16), baseline (16..32).
pub(crate) struct DecodeTable {
    pub log: u32,
    entries: Box<[u32; MAX_TABLE_SIZE]>,
    /// The same with `63 - nb` in bits 0..8 (the byte decoder's hot loop).
    pub(super) fast: Box<[u32; MAX_TABLE_SIZE]>,
    /// Work space of [`build`](Self::build): each cell's symbol.
    sym: Box<[u8; MAX_TABLE_SIZE]>,
}

impl Default for DecodeTable {
    fn default() -> Self {
        Self::new()
    }
}

impl DecodeTable {
    pub fn new() -> Self {
        DecodeTable {
            log: MIN_TABLE_LOG,
            entries: Box::new([0; MAX_TABLE_SIZE]),
            fast: Box::new([0; MAX_TABLE_SIZE]),
            sym: Box::new([0; MAX_TABLE_SIZE]),
        }
    }

    /// Builds the table for `norm` (as read by [`read_ncount`](super::ncount::read_ncount), so
    /// sums are already checked).
    pub fn build(&mut self, norm: &NormCounts) -> Result<(), EntropyError> {
        let size = 1usize << norm.log;
        build_entries(norm, &mut self.sym[..size], &mut self.entries[..size])?;
        for (f, &e) in self.fast[..size].iter_mut().zip(self.entries.iter()) {
            *f = (63 - ((e >> 8) & 0xff)) | (e & 0xff) << 8 | (e & 0xffff_0000);
        }
        self.log = norm.log;
        Ok(())
    }

    #[inline(always)]
    pub(super) fn entry(&self, state: usize) -> u32 {
        self.entries[state & (MAX_TABLE_SIZE - 1)]
    }
}

/// Fills `entries` (`1 << norm.log` of them, layout of [`DecodeTable`]) using `sym` as work
/// space of the same size.
pub(super) fn build_entries(
    norm: &NormCounts,
    sym: &mut [u8],
    entries: &mut [u32],
) -> Result<(), EntropyError> {
    let size = 1usize << norm.log;
    spread_symbols(norm, sym)?;
    let mut next = [0u32; 256];
    for (n, &c) in next.iter_mut().zip(norm.counts.iter()) {
        *n = if c == -1 { 1 } else { c.max(0) as u32 };
    }
    for (e, &s) in entries.iter_mut().zip(sym.iter()) {
        let x = next[s as usize];
        next[s as usize] += 1;
        let nb = norm.log - (31 - x.leading_zeros());
        let base = (x << nb) - size as u32;
        *e = s as u32 | nb << 8 | base << 16;
    }
    Ok(())
}

#[derive(Clone, Copy, Default)]
struct SymbolTransform {
    max_bits: u32,
    /// States (offset by the table size) at or above this use `max_bits`, below `max_bits - 1`.
    threshold: u32,
    /// Index shift into the state table: cumulative count minus own count.
    delta: i32,
}

/// FSE encoding table (states are kept offset by the table size, in `[size, 2 * size)`),
/// for tables of up to `SIZE` cells: huff0's weight descriptions (64 cells at most, one
/// built for every Huffman code the chunk coder weighs) need not clear 4096.
pub(crate) struct EncodeTable<const SIZE: usize = MAX_TABLE_SIZE> {
    pub(super) log: u32,
    states: [u16; SIZE],
    symbols: [SymbolTransform; 256],
    cumul: [u16; 257],
}

impl<const SIZE: usize> EncodeTable<SIZE> {
    /// Panics if `norm`'s table has more than `SIZE` cells (`SIZE` is a power of two).
    pub fn build(norm: &NormCounts) -> Self {
        let size = 1usize << norm.log;
        assert!(
            size <= SIZE && SIZE.is_power_of_two(),
            "FSE table larger than its type"
        );
        let mut sym = [0u8; SIZE];
        // The normalizer only produces valid counts, so the spread cannot fail.
        let _ = spread_symbols(norm, &mut sym[..size]);
        let mut cumul = [0u16; 257];
        let mut symbols = [SymbolTransform::default(); 256];
        // Symbols past `norm.symbols` have no cells (huff0's weight tables have at most 12).
        let listed = norm.symbols.min(256);
        for (s, &c) in norm.counts[..listed].iter().enumerate() {
            let c = match c {
                -1 => 1,
                c => c.max(0) as u32,
            };
            cumul[s + 1] = cumul[s] + c as u16;
            if c > 0 {
                let max_bits = if c == 1 {
                    norm.log
                } else {
                    norm.log - (31 - (c - 1).leading_zeros())
                };
                symbols[s] = SymbolTransform {
                    max_bits,
                    threshold: c << max_bits,
                    delta: cumul[s] as i32 - c as i32,
                };
            }
        }
        let total = cumul[listed];
        cumul[listed + 1..].fill(total);
        let mut states = [0u16; SIZE];
        let mut fill = cumul;
        for (u, &s) in sym[..size].iter().enumerate() {
            states[fill[s as usize] as usize] = (size + u) as u16;
            fill[s as usize] += 1;
        }
        EncodeTable {
            log: norm.log,
            states,
            symbols,
            cumul,
        }
    }

    /// The state of symbol `s` whose decoder reads the most bits (so a final update always
    /// overflows: needed by the huff0 weight streams' end rule).
    pub(super) fn init_state(&self, s: u8) -> u32 {
        self.states[self.cumul[s as usize] as usize & (SIZE - 1)] as u32
    }

    /// Encodes `s` from state `x`, writing the bits the decoder will read. At most `log` bits.
    #[inline(always)]
    pub(crate) fn encode(&self, w: &mut BitWriter, x: &mut u32, s: u8) {
        let t = self.symbols[s as usize];
        let nb = t.max_bits - (*x < t.threshold) as u32;
        w.add_bits((*x & ((1 << nb) - 1)) as u64, nb);
        let idx = ((*x >> nb) as i32 + t.delta) as usize;
        *x = self.states[idx & (SIZE - 1)] as u32;
    }
}
