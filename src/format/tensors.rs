//! Where the tensors are in a model file, whatever its container: the encoder codes each
//! tensor with its own element type and everything else as bytes. Each parser only reads; a
//! file any parser rejects is treated as raw bytes, never as an error.

use super::{gguf, npy, onnx, safetensors, tflite, zip, Container};
use crate::dtype::{self, DType};
use crate::entropy::block;
use alloc::string::String;
use alloc::vec::Vec;

/// One tensor's bytes in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// The tensor's name in its container (`"array"` for a lone `.npy` array).
    pub name: String,
    /// The type's name in its container (`BF16`, `FLOAT`, `Q4_K`, ...).
    pub label: String,
    /// The coding type; `None` when the container does not say (PyTorch storages): the encoder
    /// then measures which grouping compresses best.
    pub dtype: Option<DType>,
    /// Dimensions as the container lists them; empty when it gives none (PyTorch storages).
    pub shape: Vec<u64>,
    /// Offset of the tensor's first byte in the file.
    pub start: u64,
    /// Offset just past its last byte (`end - start` bytes).
    pub end: u64,
}

/// Most dimensions a tensor's shape keeps: NumPy's limit, far past any model's. A longer list
/// in a file is damaged or hostile, and holding it took 8 bytes a dimension for the one or two
/// the file spends on each (a 140 MB ONNX file overran wasm32's address space): such a
/// tensor keeps no shape. Its bytes are coded as before.
pub const MAX_RANK: usize = 64;

/// The dimensions `dims` gives, as a shape: none past [`MAX_RANK`] (which stops the reading).
pub(crate) fn shape(dims: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let mut shape: Vec<u64> = dims.into_iter().take(MAX_RANK + 1).collect();
    if shape.len() > MAX_RANK {
        shape = Vec::new();
    }
    shape
}

/// A model file's container and the tensors found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The kind of file the tensors were found in.
    pub container: Container,
    /// Sorted by `start`, not overlapping, inside the file.
    pub tensors: Vec<Tensor>,
}

/// Finds the container and its tensors, or `None` for a file of no known container.
pub fn detect(data: &[u8]) -> Option<Layout> {
    detect_prefix(data, data.len() as u64)
}

/// [`detect`] from the first bytes of a file of `total` bytes (a file being read as a
/// stream). Short of the whole file, only containers that say where their tensors are at
/// their start are found: safetensors (whose JSON header `prefix` must hold) and GGUF (its
/// tensor table).
pub fn detect_prefix(prefix: &[u8], total: u64) -> Option<Layout> {
    let data = prefix;
    let whole = data.len() as u64 == total;
    let (container, mut tensors) = if let Ok(l) = safetensors::parse(data, total) {
        let t = l.tensors.into_iter().map(|t| Tensor {
            dtype: Some(DType::from_safetensors(&t.dtype)),
            name: t.name,
            label: t.dtype,
            shape: shape(t.shape),
            start: t.start,
            end: t.end,
        });
        (Container::Safetensors, t.collect())
    } else if let Some(t) = gguf::tensors(data) {
        (Container::Gguf, t)
    } else if !whole {
        return None;
    } else if let Some((c, t)) = zip::tensors(data) {
        (c, t)
    } else if let Some(t) = npy::array(data, 0, data.len(), String::from("array")) {
        (Container::Npy, alloc::vec![t])
    } else if let Some(t) = tflite::tensors(data) {
        (Container::Tflite, t)
    } else if let Some(t) = onnx::tensors(data) {
        (Container::Onnx, t)
    } else {
        return None;
    };
    // A safetensors file's and an npz archive's zero-size tensors stay: they are entries of
    // its tensor map, which loaders rebuild from the segments. Elsewhere an empty range is no
    // weight (damaged files or a TFLite model's activations).
    let keep_empty = matches!(
        container,
        Container::Safetensors | Container::Npz | Container::Npy
    );
    tensors.retain(|t| (t.end > t.start || (keep_empty && t.end == t.start)) && t.end <= total);
    tensors.sort_by_key(|t| (t.start, t.end));
    // Drop any tensor overlapping its predecessor (hostile or odd files): never an error.
    let mut clean: Vec<Tensor> = Vec::with_capacity(tensors.len());
    for t in tensors {
        if clean.last().is_none_or(|p| p.end <= t.start) {
            clean.push(t);
        }
    }
    Some(Layout {
        container,
        tensors: clean,
    })
}

/// The groupings a guess tries first, narrowest first; float64 comes after them.
const NARROW: [DType; 3] = [DType::BF16, DType::F16, DType::F32];

/// Smallest data whose guess the chunk coder confirms.
const CODER_TRIAL_MIN: usize = 4096;
/// Below [`CODER_TRIAL_MIN`], a float type must code this much of bytes' size at order 0.
const SMALL_FLOAT_MARGIN: f64 = 0.9;

/// Bytes sampled to guess an element type: a few windows spread over the data.
const SAMPLE_WINDOWS: usize = 8;
const WINDOW: usize = 32 << 10;

/// The byte grouping that makes `data` smallest under an order-0 coder, measured on a sample.
/// Float groupings must beat plain bytes by 1% there, or by 1% in the chunk coder where they
/// win by less, and in the chunk coder in any case.
pub fn guess_dtype(data: &[u8]) -> DType {
    guess(data, false).1
}

/// [`guess_dtype`] for a file of unknown structure, whose floats may start at any byte: also
/// tries every phase (bytes to skip) below the element size. Returns (phase, type); a phase
/// must beat phase 0 by 0.2% to be chosen. A legacy PyTorch checkpoint (pickle, then raw
/// storages) measured 0.8327 at phase 2 against 0.8371 at phase 0.
pub fn guess_layout(data: &[u8]) -> (usize, DType) {
    guess(data, true)
}

fn guess(data: &[u8], phases: bool) -> (usize, DType) {
    if data.len() < 256 {
        return (0, DType::Bytes);
    }
    let sample = windows(data, false).unwrap_or_else(|| data.to_vec());
    let mut scratch = Vec::new();
    let mut cost = |dtype: DType, phase: usize| order0_cost(&sample[phase..], dtype, &mut scratch);
    let bytes = cost(DType::Bytes, 0);
    let mut best = (0, DType::Bytes, bytes * 0.99);
    let narrow = NARROW.map(|d| (d, cost(d, 0)));
    for (d, c) in narrow {
        // float16 data grouped as float32 costs about the same at order 0 (two halves side by
        // side), but only float16 groups give the context modes the 5-bit exponent: a wider
        // type must win clearly (real float32 wins by far more).
        let margin = if d == DType::F32 && best.1 != DType::Bytes {
            0.998
        } else {
            1.0
        };
        if c < best.2 * margin {
            best = (0, d, c);
        }
    }
    // A float grouping that wins at order 0 by less than the 1 % asked of it gets the chunk
    // coder's word instead: a dlib model of float32 weights read 0.5 % cheaper as float32 at
    // order 0 and coded 4.7 % smaller.
    // The coder's trials (here and at the end) not below 4 KiB, where they cost more than
    // they can find: 39 k storages of 256 bytes in a PyTorch checkpoint compressed at 4 MB/s.
    if best.1 == DType::Bytes && data.len() >= CODER_TRIAL_MIN {
        let (d, c) = narrow
            .into_iter()
            .fold((DType::Bytes, bytes), |a, b| if b.1 < a.1 { b } else { a });
        if d != DType::Bytes && smaller(&sample, (0, d), (0, DType::Bytes), 0.99) {
            best = (0, d, c);
        }
    }
    if best.1 == DType::BF16 && best.0 == 0 {
        best.1 = half_type(&sample);
    }
    // Whether a 2-byte grouping won at order 0: if a wider one displaces it and then fails in
    // the coder, it is tried there before bytes. An int16 table (MeCab's matrix.bin) read 3 %
    // cheaper as float32 than as bfloat16 at order 0, coded as float32 no smaller than bytes,
    // and as float16 28 % smaller.
    let half = narrow[0].1 < bytes * 0.99;
    if phases {
        let best0 = best;
        let at0 = best.2 * 0.998;
        for d in NARROW {
            for phase in 1..d.size() {
                let c = cost(d, phase);
                if c < at0 && c < best.2 {
                    best = (phase, d, c);
                }
            }
        }
        // And in the coder: a TF checkpoint's float32 variables read 0.5 % cheaper at phase 2
        // at order 0, coded the same on the sample, and 5.6 % larger in the whole file.
        if best.0 != 0
            && best0.1 != DType::Bytes
            && !smaller(&sample, (best.0, best.1), (0, best0.1), 1.0)
        {
            best = best0;
        }
    }
    // float64 last, and only where the chunk coder confirms it by 2 %: on a small sample its
    // eight groups of few symbols each look cheaper at order 0 than they code (the 1 KiB
    // float32 storages of a PyTorch checkpoint), and a TF.js shard of uint8 and float32
    // weights came out 0.35 % larger as float64 than as bytes. Real float64 gains 5-15 %.
    // Only on 4 KiB or more (eight groups of 512: fewer bytes are noise), and a phase other
    // than 0 only where the coder prefers it to phase 0 too.
    if sample.len() >= 4096 {
        let f64_phases = if phases { DType::F64.size() } else { 1 };
        let at0 = cost(DType::F64, 0);
        let mut wide = (0, DType::F64, at0);
        for phase in 1..f64_phases {
            let c = cost(DType::F64, phase);
            if c < at0 * 0.998 && c < wide.2 {
                wide = (phase, DType::F64, c);
            }
        }
        // A phase the coder does not confirm leaves float64 at phase 0 (not float64 out: an
        // upcast float32 file read 0.2 % cheaper at phase 2, and coded 30 % smaller at phase 0
        // than as float32).
        if wide.0 != 0 && !smaller(&sample, (wide.0, wide.1), (0, wide.1), 0.98) {
            wide = (0, DType::F64, at0);
        }
        let margin = if best.1 == DType::Bytes { 1.0 } else { 0.998 };
        // A second sample, between the first one's windows, must agree: in a TF.js shard of
        // mixed tensors the first said float64 by 11 %, three others said bytes by 4-9 %.
        let confirm = |s: &[u8]| smaller(s, (wide.0, wide.1), (best.0, best.1), 0.98);
        if wide.2 < best.2 * margin
            && confirm(&sample)
            && windows(data, true).is_none_or(|s| confirm(&s))
        {
            best = wide;
        }
    }
    // Below CODER_TRIAL_MIN a clear order-0 win stands in for the coder's word (text of a
    // few KiB reads cheaper grouped at order 0, and codes far smaller as bytes).
    let confirmed = |phase, d| match data.len() >= CODER_TRIAL_MIN {
        true => smaller(&sample, (phase, d), (0, DType::Bytes), 1.0),
        false => best.2 < SMALL_FLOAT_MARGIN * bytes,
    };
    match best {
        (phase, d, _) if d != DType::Bytes && !confirmed(phase, d) => {
            match (d.size() > 2 && half).then(|| half_type(&sample)) {
                Some(h) if confirmed(0, h) => (0, h),
                _ => (0, DType::Bytes),
            }
        }
        (phase, d, _) => (phase, d),
    }
}

/// bfloat16 or float16 for data that groups as 2-byte floats: they share one byte transform,
/// so their order-0 costs tie; the last group tells them apart. In bfloat16 it is the 8-bit
/// exponent, whose low 3 bits follow from its top 5 (exponents cluster); in float16 those are
/// the top mantissa bits, near 3 bits of noise given the 5-bit exponent.
fn half_type(sample: &[u8]) -> DType {
    let hi: Vec<u8> = sample
        .chunks_exact(2)
        .map(|p| p[1] << 1 | p[0] >> 7)
        .collect();
    let top: Vec<u8> = hi.iter().map(|&b| b >> 3).collect();
    let h = |g: &[u8]| block::entropy_bits(&block::histogram(g), g.len());
    if h(&hi) - h(&top) > 2.5 * hi.len() as f64 {
        DType::F16
    } else {
        DType::BF16
    }
}

/// Bits per byte of `s` grouped as `dtype`, each group coded at order 0.
fn order0_cost(s: &[u8], dtype: DType, scratch: &mut Vec<u8>) -> f64 {
    let whole = s.len() / dtype.size() * dtype.size();
    dtype::split(dtype, &s[..whole], scratch);
    let n = whole / dtype.size();
    (0..dtype.groups())
        .map(|g| &scratch[dtype.group_range(g, n)])
        .map(|g| block::entropy_bits(&block::histogram(g), g.len()))
        .sum::<f64>()
        / whole as f64
}

/// The phase (bytes to skip) at which `data` groups best as `dtype`: one that beats phase 0
/// by 0.2 % at order 0 and that the chunk coder confirms, as in [`guess_layout`], else 0
/// (order 0 alone misleads: upcast float32 as float64 read 0.2 % cheaper at phase 2 and
/// coded 1.6 % larger). For data already known to be of that type: most of the time no
/// phase wins at order 0, and that is a fraction of a guess's time.
pub fn best_phase(data: &[u8], dtype: DType) -> usize {
    if data.len() < 256 {
        return 0;
    }
    let mut scratch = Vec::new();
    let at0 = order0_cost(data, dtype, &mut scratch) * 0.998;
    let mut best = (0, at0);
    for phase in 1..dtype.size() {
        let c = order0_cost(&data[phase..], dtype, &mut scratch);
        if c < best.1 {
            best = (phase, c);
        }
    }
    match best.0 {
        0 => 0,
        p if smaller(data, (p, dtype), (0, dtype), 1.0) => p,
        _ => 0,
    }
}

/// [`SAMPLE_WINDOWS`] windows spread over `data` (`between`: the ones halfway between
/// those), or `None` if `data` is no larger than a sample.
fn windows(data: &[u8], between: bool) -> Option<Vec<u8>> {
    if data.len() <= SAMPLE_WINDOWS * WINDOW {
        return None;
    }
    // Windows a whole number of the widest elements apart, so that a phase means the same in
    // each.
    let w = DType::F64.size();
    let step = (data.len() - WINDOW) / (SAMPLE_WINDOWS - 1) / w * w;
    let (shift, n) = if between {
        (step / 2 / w * w, SAMPLE_WINDOWS - 1)
    } else {
        (0, SAMPLE_WINDOWS)
    };
    Some(
        (0..n)
            .flat_map(|i| &data[shift + i * step..][..WINDOW])
            .copied()
            .collect(),
    )
}

/// Whether the chunk coder makes `sample` smaller as `a` (phase, type) than `margin` times
/// its size as `b`. The order-0 estimate cannot see repeats, which bytes mode's LZ finds: an
/// executable (node, 99 MB) guessed as floats came out 32 % larger than as bytes.
fn smaller(sample: &[u8], a: (usize, DType), b: (usize, DType), margin: f64) -> bool {
    use super::znw::chunk::trial_size;
    let mut scratch = Vec::new();
    // The sample is at most one default chunk: coded as one.
    let a = trial_size(sample, a.1, a.0, usize::MAX, &mut scratch);
    (a as f64) < margin * trial_size(sample, b.1, b.0, usize::MAX, &mut scratch) as f64
}
