//! Mode 6 ([`HISTORY`](super::HISTORY)): a byte stream coded with its context taken from the
//! sum of the previous `W` bytes of the same stream (or of the same column in the rows above).

use super::{
    decode_streams, encode_streams, estimate, read_tables, Context, DecodeTables, Open, MAX_TABLES,
    MAX_WINDOW_LOG, MIN_INPUT,
};
use crate::entropy::EntropyError;
use alloc::vec;
use alloc::vec::Vec;

/// Rows summed by the column context.
pub(super) const COLUMN_ROWS: usize = 8;

/// History context. Two sums over earlier bytes `v(j)` of the same segment (`init` for
/// positions before its start): the *window* sum of the previous `1 << w` bytes, shifted right
/// by `w - 4` when `w > 4`, and, with a row length `stride > 0`, the *column* sum of the bytes
/// `stride, 2·stride, …, 8·stride` positions back (the same column of the previous 8 rows of
/// a matrix). Each goes through its thresholds to a bucket; the table is
/// `window bucket × column buckets + column bucket`.
struct History {
    w: u32,
    init: u32,
    shift: u32,
    wlut: Vec<u8>,
    stride: usize,
    clut: Vec<u8>,
    /// Number of column buckets (1 without a stride).
    ncol: usize,
    win: [u32; 4],
    /// Column sums of the block's positions so far.
    col: Vec<u16>,
}

/// Lookup table of `len` entries: bucket = number of thresholds <= index.
fn threshold_lut(thresholds: &[u16], len: usize) -> Result<Vec<u8>, EntropyError> {
    let mut lut = vec![0u8; len];
    let mut prev = 0u16;
    for (k, &t) in thresholds.iter().enumerate() {
        if t <= prev || t as usize >= len {
            return Err(EntropyError::Corrupt("context thresholds out of order"));
        }
        prev = t;
        for x in &mut lut[t as usize..] {
            *x = k as u8 + 1;
        }
    }
    Ok(lut)
}

impl History {
    fn new(
        w: u8,
        init: u8,
        wt: &[u16],
        stride: usize,
        ct: &[u16],
        n: usize,
    ) -> Result<Self, EntropyError> {
        if w > MAX_WINDOW_LOG {
            return Err(EntropyError::Corrupt("history window too large"));
        }
        let w = w as u32;
        let shift = w.saturating_sub(4);
        let wlut = threshold_lut(wt, ((255usize << w) >> shift) + 1)?;
        let (clut, col) = if stride > 0 {
            (threshold_lut(ct, 255 * COLUMN_ROWS + 1)?, vec![0u16; n])
        } else if ct.is_empty() {
            (vec![0u8; 1], Vec::new())
        } else {
            return Err(EntropyError::Corrupt("column thresholds without a stride"));
        };
        Ok(History {
            w,
            init: init as u32,
            shift,
            wlut,
            stride,
            clut,
            ncol: ct.len() + 1,
            win: [(init as u32) << w; 4],
            col,
        })
    }

    /// The window sum (shifted) and column sum of position `i`; updates the running state.
    #[inline(always)]
    fn sums(&mut self, k: usize, i: usize, out: &[u8], seg_start: usize) -> (usize, usize) {
        if i > seg_start {
            let back = 1usize << self.w;
            let old = if i > seg_start + back {
                out[i - 1 - back] as u32
            } else {
                self.init
            };
            self.win[k] = self.win[k] + out[i - 1] as u32 - old;
        } else {
            self.win[k] = self.init << self.w;
        }
        let mut c = 0;
        if self.stride > 0 {
            let s = self.stride;
            c = if i >= seg_start + s {
                let far = if i >= seg_start + (COLUMN_ROWS + 1) * s {
                    out[i - (COLUMN_ROWS + 1) * s] as u32
                } else {
                    self.init
                };
                self.col[i - s] as u32 + out[i - s] as u32 - far
            } else {
                self.init * COLUMN_ROWS as u32
            };
            self.col[i] = c as u16;
        }
        ((self.win[k] >> self.shift) as usize, c as usize)
    }
}

impl Context for History {
    #[inline(always)]
    fn table(&mut self, k: usize, i: usize, out: &[u8], seg_start: usize) -> usize {
        let (a, c) = self.sums(k, i, out, seg_start);
        // The sums never exceed the tables' ranges; `get` keeps that panic-free regardless.
        *self.wlut.get(a).unwrap_or(&0) as usize * self.ncol
            + *self.clut.get(c).unwrap_or(&0) as usize
    }
}

/// Window and column sums of every position, computed exactly as the decoder does.
fn history_sums(src: &[u8], w: u8, init: u8, stride: usize) -> (Vec<u16>, Vec<u16>) {
    let Ok(mut h) = History::new(w, init, &[], stride, &[], src.len()) else {
        return (Vec::new(), Vec::new());
    };
    // Any thresholds give the same sums; the decoder's thresholds are chosen from them.
    let seg = src.len().div_ceil(4);
    let (mut a, mut c) = (Vec::with_capacity(src.len()), Vec::with_capacity(src.len()));
    for (k, start) in (0..src.len()).step_by(seg).enumerate() {
        for i in start..(start + seg).min(src.len()) {
            let (x, y) = h.sums(k, i, src, start);
            a.push(x as u16);
            c.push(y as u16);
        }
    }
    (a, c)
}

/// Thresholds splitting `q` (values `<= max`) into up to `buckets` groups of similar size.
fn quantile_thresholds(q: &[u16], max: usize, buckets: usize) -> Vec<u16> {
    let mut hist = vec![0u32; max + 1];
    for &v in q {
        hist[(v as usize).min(max)] += 1;
    }
    let mut t = Vec::new();
    let mut acc = 0u64;
    let n = q.len() as u64;
    for (v, &c) in hist.iter().enumerate() {
        let k = t.len() as u64 + 1;
        if acc >= k * n / buckets as u64 && v > 0 && t.len() + 1 < buckets {
            t.push(v as u16);
        }
        acc += c as u64;
    }
    t
}

/// Encodes `src` as a [`HISTORY`](super::HISTORY) payload (without the mode byte and length), appending to
/// `out`; returns its size, or `None` if the input is too small or no candidate fits. `stride`
/// is the row length of the tensor `src` belongs to (0 if unknown or several).
pub fn encode_history(src: &[u8], stride: usize, out: &mut Vec<u8>) -> Option<usize> {
    let n = src.len();
    if !(MIN_INPUT..=u32::MAX as usize).contains(&n) {
        return None;
    }
    // The most frequent byte stands in for history before a segment starts.
    let hist = crate::entropy::fse::histogram(src);
    let init = (0..256).max_by_key(|&s| hist[s]).unwrap_or(0) as u8;
    // Column context only when a segment holds enough rows for it to matter.
    let stride = if stride > 0 && stride <= u32::MAX as usize && 4 * (COLUMN_ROWS + 2) * stride <= n
    {
        stride
    } else {
        0
    };
    // (window log, window buckets, column buckets). Measured on transformer and conv weights:
    // a window of 128 tracks a row's magnitude, the column sum a column's (minilm BF16:
    // 0.020 and a further 0.009 bit/weight below order 0).
    let mut candidates = alloc::vec![
        (0u8, 4usize, 1usize),
        // The previous byte alone, finer: quantised uint8 weights (an ONNX quint8 model: 2.8 %
        // smaller with these, 1.5 % with the 4 buckets only; floats never picked them).
        (0, 8, 1),
        (0, 16, 1),
        (5, 8, 1),
        (7, 4, 1),
        (7, 8, 1),
        (7, 12, 1),
        (7, 16, 1),
        (8, 16, 1)
    ];
    if stride > 0 {
        candidates.extend_from_slice(&[(7, 4, 4), (7, 4, 3), (7, 3, 3), (7, 8, 2)]);
    }
    // Zero runs (float32 low bytes of rows that are exactly float16): "the last 8 / 32 bytes
    // were all 0" or not, by the threshold 1 (window buckets 0 stands for it).
    if hist[0] as usize * 64 > n {
        candidates.extend_from_slice(&[(3, 0, 1), (5, 0, 1)]);
    }
    let mut sums = Sums::new(src, init, stride);
    let mut choices = Vec::with_capacity(candidates.len());
    for (w, wb, cb) in candidates {
        let (a, c) = sums.get(w);
        let shift = (w as u32).saturating_sub(4);
        let wt = if wb == 0 {
            alloc::vec![1]
        } else {
            quantile_thresholds(a, (255usize << w) >> shift, wb)
        };
        let (st, ct) = if cb > 1 {
            (stride, quantile_thresholds(c, 255 * COLUMN_ROWS, cb))
        } else {
            (0, Vec::new())
        };
        choices.push(HistoryChoice { w, st, wt, ct });
    }
    encode_history_best(src, init, &mut sums, choices, out)
}

/// Window and column sums per window log, computed once ([`history_sums`] with one stride).
pub(super) struct Sums<'a> {
    src: &'a [u8],
    init: u8,
    stride: usize,
    by_log: Vec<(u8, Vec<u16>, Vec<u16>)>,
}

impl<'a> Sums<'a> {
    pub(super) fn new(src: &'a [u8], init: u8, stride: usize) -> Self {
        Sums {
            src,
            init,
            stride,
            by_log: Vec::new(),
        }
    }

    fn get(&mut self, w: u8) -> (&[u16], &[u16]) {
        let at = match self.by_log.iter().position(|s| s.0 == w) {
            Some(at) => at,
            None => {
                let (a, c) = history_sums(self.src, w, self.init, self.stride);
                self.by_log.push((w, a, c));
                self.by_log.len() - 1
            }
        };
        let (_, a, c) = &self.by_log[at];
        (a, c)
    }
}

/// One candidate context for [`HISTORY`](super::HISTORY): window log, stride (0: none) and thresholds.
pub(super) struct HistoryChoice {
    pub(super) w: u8,
    pub(super) st: usize,
    pub(super) wt: Vec<u16>,
    pub(super) ct: Vec<u16>,
}

/// Writes `src` as a [`HISTORY`](super::HISTORY) payload with whichever of `choices` gives the smallest
/// estimated size; returns the payload's size.
/// (A choice's stride is 0 or the one `sums` were computed with.)
pub(super) fn encode_history_best(
    src: &[u8],
    init: u8,
    sums: &mut Sums<'_>,
    choices: Vec<HistoryChoice>,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let mut best: Option<(u64, HistoryChoice, Vec<u8>)> = None;
    for ch in choices {
        debug_assert!(ch.st == 0 || ch.st == sums.stride);
        let (a, c) = sums.get(ch.w);
        let h = History::new(ch.w, init, &ch.wt, ch.st, &ch.ct, 0).ok()?;
        let ncol = ch.ct.len() + 1;
        let ctxs: Vec<u8> = a
            .iter()
            .zip(c)
            .map(|(&x, &y)| {
                h.wlut[x as usize] * ncol as u8 + if ch.st > 0 { h.clut[y as usize] } else { 0 }
            })
            .collect();
        let tables = (ch.wt.len() + 1) * ncol;
        let bits = estimate(src, &ctxs, tables) + 16 * (ch.wt.len() + ch.ct.len()) as u64;
        if best.as_ref().is_none_or(|b| bits < b.0) {
            best = Some((bits, ch, ctxs));
        }
    }
    let (_, ch, ctxs) = best?;
    let start = out.len();
    out.extend_from_slice(&[ch.w, init, ch.wt.len() as u8]);
    for v in &ch.wt {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(ch.st as u32).to_le_bytes());
    if ch.st > 0 {
        out.push(ch.ct.len() as u8);
        for v in &ch.ct {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    encode_streams(src, &ctxs, (ch.wt.len() + 1) * (ch.ct.len() + 1), out)?;
    Some(out.len() - start)
}

/// Reads `count` u16 thresholds at `src[*pos..]`.
fn read_thresholds(src: &[u8], pos: &mut usize, count: usize) -> Result<Vec<u16>, EntropyError> {
    if count >= MAX_TABLES {
        return Err(EntropyError::Corrupt("too many context thresholds"));
    }
    let raw = src
        .get(*pos..*pos + 2 * count)
        .ok_or(EntropyError::Truncated)?;
    *pos += 2 * count;
    Ok(raw
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect())
}

/// Decodes a [`HISTORY`](super::HISTORY) payload into `dst` (whose length is the decoded length).
pub fn decode_history(src: &[u8], dst: &mut [u8]) -> Result<(), EntropyError> {
    let [w, init, nt] = *src.first_chunk::<3>().ok_or(EntropyError::Truncated)?;
    let mut pos = 3;
    let wt = read_thresholds(src, &mut pos, nt as usize)?;
    let stride = src.get(pos..pos + 4).ok_or(EntropyError::Truncated)?;
    let stride = u32::from_le_bytes([stride[0], stride[1], stride[2], stride[3]]) as usize;
    pos += 4;
    let ct = if stride > 0 {
        let nc = *src.get(pos).ok_or(EntropyError::Truncated)?;
        pos += 1;
        read_thresholds(src, &mut pos, nc as usize)?
    } else {
        Vec::new()
    };
    if (wt.len() + 1) * (ct.len() + 1) > MAX_TABLES {
        return Err(EntropyError::Corrupt("too many history contexts"));
    }
    // A stride longer than the block would only ever read `init`: reject, and bound the
    // column buffer by the block.
    if stride > dst.len() {
        return Err(EntropyError::Corrupt(
            "history stride longer than the block",
        ));
    }
    let mut h = History::new(w, init, &wt, stride, &ct, dst.len())?;
    let (tables, used) = read_tables(&src[pos..], dst.len())?;
    if tables.count != (wt.len() + 1) * (ct.len() + 1) {
        return Err(EntropyError::Corrupt(
            "history tables do not match thresholds",
        ));
    }
    let back = 1usize << h.w;
    let first_hot = (back + 1).max((COLUMN_ROWS + 1) * stride);
    let log = tables.log;
    // Bucket lookups pre-scaled to table bases; fixed sizes so masked indexes need no checks.
    let mut wl = [0u16; 4096];
    for (d, &b) in wl.iter_mut().zip(&h.wlut) {
        *d = ((b as usize * h.ncol) << log) as u16;
    }
    let mut cl = [0u16; 2048];
    for (d, &b) in cl.iter_mut().zip(&h.clut) {
        *d = (b as u16) << log;
    }
    let tail = dst.len() - 3 * dst.len().div_ceil(4);
    let t = &tables;
    decode_streams(
        t,
        &mut h,
        &src[pos + used..],
        dst,
        first_hot,
        |h, o, s, j, dst| {
            if stride > 0 {
                history_hot::<true>(t, h, &wl, &cl, o, s, j, tail, dst)
            } else {
                history_hot::<false>(t, h, &wl, &cl, o, s, j, tail, dst)
            }
        },
    )
}

/// The hot loop of [`HISTORY`](super::HISTORY) for positions whose window and column reach no further back
/// than the segment start: no `init` cases, sums kept in locals.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn history_hot<const COL: bool>(
    t: &DecodeTables,
    h: &mut History,
    wl: &[u16; 4096],
    cl: &[u16; 2048],
    o: &mut Open<'_>,
    s: &mut [usize; 4],
    j: usize,
    tail: usize,
    dst: &mut [u8],
) -> usize {
    let back = 1usize << h.w;
    let shift = h.shift;
    let stride = h.stride;
    let far = (COLUMN_ROWS + 1) * stride;
    let mut win = h.win;
    if !COL {
        let j = hot_loop!(t, o, s, j, tail, dst, |k, i, prev| {
            let _ = k;
            win[k] = win[k] + prev - dst[i - 1 - back] as u32;
            wl[(win[k] >> shift) as usize & 4095] as usize
        });
        h.win = win;
        return j;
    }
    // The column sums of a run of up to `stride` positions only reach back before the run:
    // compute their table bases in a pass of their own (off the decoding chain), then decode
    // the run.
    let seg = o.seg;
    let col: &mut [u16] = &mut h.col;
    let mut cb = vec![0u16; 4 * stride];
    let mut j = j;
    while j + 4 <= tail {
        let end = (j + stride).min(tail);
        for k in 0..4 {
            let run = &mut cb[k * stride..k * stride + (end - j)];
            for (x, i) in run.iter_mut().zip(k * seg + j..) {
                let c = col[i - stride] as u32 + dst[i - stride] as u32 - dst[i - far] as u32;
                col[i] = c as u16;
                *x = cl[c as usize & 2047];
            }
        }
        let run = j;
        let next = hot_loop!(t, o, s, j, end, dst, |k, i, prev| {
            win[k] = win[k] + prev - dst[i - 1 - back] as u32;
            wl[(win[k] >> shift) as usize & 4095] as usize
                + cb[k * stride + (i - k * seg - run)] as usize
        });
        if next < end {
            j = next; // a stream ran short: the general path goes on (and redoes the sums)
            break;
        }
        j = end;
    }
    h.win = win;
    j
}
