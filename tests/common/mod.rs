//! Test data shared by the integration tests (native and wasm).
#![allow(dead_code)]

/// xorshift64*: deterministic, dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Approximately normal(0, sigma) via the sum of uniforms.
    pub fn gauss(&mut self, sigma: f32) -> f32 {
        let s: f32 = (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum();
        (s - 2.0) * sigma * 1.732
    }
}

/// Weights like a trained layer's: normal(0, 0.02) as f32 bytes.
pub fn f32_weights(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| rng.gauss(0.02).to_le_bytes()).collect()
}

/// Weights computed in float64: normal(0, 0.02) with all 52 mantissa bits in use.
pub fn f64_weights(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|_| {
            let fine = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            (rng.gauss(0.02) as f64 * (1.0 + fine * 1e-6)).to_le_bytes()
        })
        .collect()
}

/// The same weights rounded to bfloat16 (round to nearest even).
pub fn bf16_weights(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|_| {
            let b = rng.gauss(0.02).to_bits();
            let r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16;
            r.to_le_bytes()
        })
        .collect()
}

/// Special values: ±0, ±Inf, NaNs, subnormals, max/min for 16- and 32-bit floats.
pub fn special_f32() -> Vec<u8> {
    let v: [u32; 12] = [
        0,
        0x8000_0000,
        0x7F80_0000,
        0xFF80_0000,
        0x7FC0_0000,
        0xFFC0_0001,
        0x0000_0001,
        0x807F_FFFF,
        0x7F7F_FFFF,
        0xFF7F_FFFF,
        0x0080_0000,
        0x3F80_0000,
    ];
    v.iter()
        .cycle()
        .take(3000)
        .flat_map(|x| x.to_le_bytes())
        .collect()
}

pub fn special_16() -> Vec<u8> {
    let v: [u16; 10] = [
        0, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7C00, 0xFC00, 0x0001, 0x8001, 0x7E00,
    ];
    v.iter()
        .cycle()
        .take(5001)
        .flat_map(|x| x.to_le_bytes())
        .collect()
}

/// Inputs every codec path must round-trip: sizes around chunk boundaries, degenerate data.
pub fn adversarial(chunk: usize) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(0x5EED);
    let mut v: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        ("one byte".into(), vec![0x42]),
        ("three bytes".into(), vec![1, 2, 3]),
        ("seven bytes".into(), rng.bytes(7)),
        ("all byte values".into(), (0..=255).collect()),
        ("one value repeated".into(), [0x80, 0x3F].repeat(70_000)),
        ("zeros".into(), vec![0; 3 * chunk + 5]),
        ("random".into(), rng.bytes(2 * chunk + 13)),
        ("special f32".into(), special_f32()),
        ("special 16-bit".into(), special_16()),
        (
            "f32 weights".into(),
            f32_weights(&mut rng, 3 * chunk / 4 + 3),
        ),
        ("bf16 weights".into(), bf16_weights(&mut rng, chunk + 1)),
        (
            "two symbols".into(),
            (0..5000).map(|i| if i % 3 == 0 { 7 } else { 9 }).collect(),
        ),
    ];
    for len in [chunk - 1, chunk, chunk + 1, 2 * chunk - 4, 2 * chunk + 2] {
        v.push((
            format!("weights {len} bytes"),
            bf16_weights(&mut rng, len.div_ceil(2))[..len].to_vec(),
        ));
    }
    v
}

/// A minimal safetensors file with the given (name, dtype, shape, data) tensors.
pub fn safetensors(tensors: &[(&str, &str, Vec<u64>, Vec<u8>)]) -> Vec<u8> {
    let mut json = String::from("{\"__metadata__\":{\"format\":\"pt\"}");
    let mut off = 0usize;
    for (name, dtype, shape, data) in tensors {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        json += &format!(
            ",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{off},{}]}}",
            dims.join(","),
            off + data.len()
        );
        off += data.len();
    }
    json.push('}');
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    for t in tensors {
        out.extend_from_slice(&t.3);
    }
    out
}

/// float16 weights (truncated from f32; tiny values flushed to zero) whose scale changes per
/// row of `row` elements; little-endian bytes.
pub fn f16_rows(n: usize, row: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut sigma = 0.02f32;
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        if i % row == 0 {
            sigma = 0.004 * (1 + rng.below(20)) as f32;
        }
        let b = rng.gauss(sigma).to_bits();
        let e = ((b >> 23) & 255) as i32 - 127 + 15;
        let h = if e <= 0 {
            0
        } else {
            ((b >> 16) & 0x8000) | (e as u32) << 10 | (b >> 13) & 0x3FF
        };
        out.extend_from_slice(&(h as u16).to_le_bytes());
    }
    out
}

/// float16 rows of an embedding table whose columns lean to one sign (column `c` is negative
/// with probability 0.5 ± up to 0.3), as word embeddings do per dimension.
pub fn leaning_f16_rows(rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let mut data = f16_rows(rows * cols, cols, seed);
    let mut rng = Rng(seed ^ 0x5151);
    let lean: Vec<u64> = (0..cols).map(|_| 200 + rng.below(600)).collect();
    for (i, v) in data.chunks_exact_mut(2).enumerate() {
        let negative = rng.below(1000) < lean[i % cols];
        v[1] = v[1] & 0x7F | u8::from(negative) << 7;
    }
    data
}

/// float32 weights of 3x3 convolution kernels (9 elements each, rows of 3) whose taps share
/// the kernel's sign where the kernel is large and are noise where it is small, as trained
/// conv kernels are: the sign follows the previous tap, the more so the larger both are.
pub fn conv3x3_f32(kernels: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(36 * kernels);
    for _ in 0..kernels {
        let a = rng.gauss(0.03);
        let rows: [f32; 3] = core::array::from_fn(|_| 1.0 + rng.gauss(0.3));
        for r in rows {
            for _ in 0..3 {
                let v = a * r + rng.gauss(0.01);
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    out
}

/// A `.znw` file of `k` stored chunks of 16 MiB (over 4 GiB from `k` = 257 on), served a piece
/// at a time and never held: its header and first record are real (random bytes, kept as they
/// are), every later record repeats the first one's bytes but for its decoded-bytes checksum,
/// seeded with its own offset, and the end record counts them. Every chunk decodes, to
/// [`BigZnw::data`].
pub struct BigZnw {
    header: Vec<u8>,
    record: Vec<u8>,
    end: Vec<u8>,
    k: u64,
    buf: Vec<u8>,
    /// Each chunk's decoded bytes.
    pub data: Vec<u8>,
    /// The decoded-bytes checksum of the last record read, and its record number.
    check: Option<(u64, [u8; 4])>,
}

impl BigZnw {
    /// Decoded bytes of each chunk.
    pub const CHUNK: usize = 16 << 20;

    pub fn new(k: u64) -> Self {
        use zipnn_wasm::format::znw::chunk;
        let mut enc =
            zipnn_wasm::stream::Encoder::new(zipnn_wasm::DType::Bytes, Self::CHUNK as u32).unwrap();
        let mut one = Vec::new();
        let data = Rng(16).bytes(Self::CHUNK);
        enc.push(&data, &mut one);
        enc.finish(&mut one);
        let h = u32::from_le_bytes(one[12..16].try_into().unwrap()) as usize;
        let record = one[h..one.len() - chunk::END_LEN].to_vec();
        assert_eq!(
            record.len(),
            chunk::HEAD_LEN + 1 + Self::CHUNK,
            "one stored chunk"
        );
        let mut end = Vec::new();
        chunk::write_end(k * Self::CHUNK as u64, k, &mut end);
        BigZnw {
            header: one[..h].to_vec(),
            record,
            end,
            k,
            buf: Vec::new(),
            data,
            check: None,
        }
    }

    /// Record `i`'s decoded-bytes checksum (hashes 16 MiB: kept for the next read).
    fn check(&mut self, i: u64) -> [u8; 4] {
        use zipnn_wasm::format::znw::header::chunk_checksum;
        match self.check {
            Some((j, c)) if j == i => c,
            _ => {
                let c = chunk_checksum(&self.data, i * Self::CHUNK as u64).to_le_bytes();
                self.check = Some((i, c));
                c
            }
        }
    }
}

impl zipnn_wasm::format::Source for BigZnw {
    fn size(&self) -> u64 {
        (self.header.len() + self.end.len()) as u64 + self.k * self.record.len() as u64
    }
    fn read(&mut self, pos: u64, len: usize) -> Result<&[u8], zipnn_wasm::Error> {
        let end = pos + len as u64;
        if end > self.size() {
            return Err(zipnn_wasm::Error::Truncated);
        }
        let (h, r) = (self.header.len() as u64, self.record.len() as u64);
        self.buf.clear();
        let mut p = pos;
        while p < end {
            let (piece, at, record) = if p < h {
                (&self.header, p, None)
            } else if p < h + self.k * r {
                (&self.record, (p - h) % r, Some((p - h) / r))
            } else {
                (&self.end, p - h - self.k * r, None)
            };
            let n = (piece.len() as u64 - at).min(end - p) as usize;
            let from = self.buf.len();
            self.buf.extend_from_slice(&piece[at as usize..][..n]);
            // Bytes 16..20 of a record head: its decoded-bytes checksum.
            if let Some(i) = record.filter(|_| at < 20 && at + n as u64 > 16) {
                let c = self.check(i);
                for (k, &b) in c.iter().enumerate() {
                    let q = 16 + k as u64;
                    if (at..at + n as u64).contains(&q) {
                        self.buf[from + (q - at) as usize] = b;
                    }
                }
            }
            p += n as u64;
        }
        Ok(&self.buf)
    }
}
