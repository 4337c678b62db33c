//! Native benchmark on the real-model corpus, against zipnn 0.5.4 measured in the same run.
//!
//!   cargo bench --bench codec -- [--rounds N] [--min-time S] [--no-zipnn] [--parts] [--best] [FILE[:DTYPE]...]
//!
//! Default files: models/minilm.{bf16,fp32,fp16}.safetensors and
//! models/english_g2.pth.f32-stream.bin (fp32). DTYPE (bf16, fp16, fp32) is what zipnn is told
//! and what raw files are coded as; safetensors files code every tensor as its own type.
//!
//! zipnn runs in two helper processes (bench/zipnn_bench.py --serve): one as shipped, one with
//! glibc told to keep freed memory mapped (its "warm memory" mode; the script explains). Every
//! round measures all of our operations, then zipnn's, on one file after the other; a figure is
//! the best call over all rounds. The machine is shared, so rounds interleave and only same-run
//! ratios mean much. `--parts` adds what the decoder is made of (checksums, Huffman, merge).
//! `--best` adds the warm decode of the file compressed with `--best` (tANS, context modes,
//! 1 MiB chunks) and its speed as a fraction of the order-0 file's, measured in the same round.
//!
//! MB/s are original (decoded) bytes / 1e6 / s. Evidence and results: bench/NOTES.md.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use zipnn_wasm::dtype::{self, DType};
use zipnn_wasm::entropy::{block, huff0};
use zipnn_wasm::format::{zipnn, znw};
use zipnn_wasm::{DTypeChoice, Limits, Options};

/// One zipnn helper process.
struct Zipnn {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Zipnn {
    fn start(root: &Path, warm: bool) -> Option<Zipnn> {
        let python = std::env::var_os("ZIPNN_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        let mut cmd = Command::new(python);
        cmd.arg(root.join("bench/zipnn_bench.py"))
            .args(["--serve", "--threads", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if warm {
            cmd.env(
                "GLIBC_TUNABLES",
                "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184",
            );
        }
        let mut child = cmd.spawn().ok()?;
        let stdin = child.stdin.take()?;
        let stdout = BufReader::new(child.stdout.take()?);
        Some(Zipnn {
            child,
            stdin,
            stdout,
        })
    }

    fn call(&mut self, cmd: serde_json::Value) -> serde_json::Value {
        writeln!(self.stdin, "{cmd}").expect("zipnn helper: write");
        self.stdin.flush().expect("zipnn helper: flush");
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("zipnn helper: read");
        serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("zipnn helper answered {line:?} to {cmd}"))
    }

    /// The best call's seconds, and the minor page faults a call.
    fn best(&mut self, op: &str, file: &Path, min_time: f64) -> (f64, f64) {
        let v = self.call(
            serde_json::json!({"op": op, "file": file.to_string_lossy(), "min_time": min_time}),
        );
        let faults = v["faults_per_run"]
            .as_f64()
            .expect("zipnn helper: no faults");
        (v["best"].as_f64().expect("zipnn helper: no time"), faults)
    }
}

impl Drop for Zipnn {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, r#"{{"op": "quit"}}"#);
        let _ = self.child.wait();
    }
}

/// Calls `f` until `min_time` seconds were spent (at least 3 calls); the best call's seconds.
/// `f` returns what it made, dropped after the clock stops (as zipnn's side does).
fn best_of<T>(min_time: f64, mut f: impl FnMut() -> T) -> f64 {
    let (mut best, mut spent, mut runs) = (f64::MAX, 0.0, 0);
    while runs < 3 || spent < min_time {
        let t0 = Instant::now();
        let out = black_box(f());
        let dt = t0.elapsed().as_secs_f64();
        drop(out);
        best = best.min(dt);
        spent += dt;
        runs += 1;
    }
    best
}

struct Row {
    name: &'static str,
    ours: f64,
    /// Index of the zipnn figure this row is compared with.
    vs: Option<usize>,
}

const ZIPNN_ROWS: [&str; 3] = [
    "zipnn compress",
    "zipnn decompress, as shipped",
    "zipnn decompress, warm memory",
];

struct File {
    path: PathBuf,
    zdtype: &'static str,
    data: Vec<u8>,
    packed: Vec<u8>,
    /// The same compressed with `--best`, when asked for.
    best: Option<Vec<u8>>,
    /// zipnn's own compressed file (written by zipnn), when the helper runs.
    znn: Option<Vec<u8>>,
    rows: Vec<Row>,
    zipnn: [f64; 3],
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut rounds = 5;
    let mut min_time = 0.2;
    let mut use_zipnn = true;
    let mut parts = false;
    let mut with_best = false;
    let mut specs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds N")
            }
            "--min-time" => {
                min_time = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--min-time S")
            }
            "--no-zipnn" => use_zipnn = false,
            "--parts" => parts = true,
            "--best" => with_best = true,
            "--bench" => {} // passed by `cargo bench`
            s if s.starts_with("--") => panic!("unknown option {s}"),
            s => specs.push(s.to_string()),
        }
    }
    if specs.is_empty() {
        specs = [
            "models/minilm.bf16.safetensors:bf16",
            "models/minilm.fp32.safetensors:fp32",
            "models/minilm.fp16.safetensors:fp16",
            "models/english_g2.pth.f32-stream.bin:fp32",
        ]
        .map(String::from)
        .to_vec();
    }

    let mut shipped = use_zipnn.then(|| Zipnn::start(&root, false)).flatten();
    let mut warm = use_zipnn.then(|| Zipnn::start(&root, true)).flatten();
    // Ratios are the point: without zipnn only when asked (--no-zipnn).
    assert!(
        !use_zipnn || (shipped.is_some() && warm.is_some()),
        "the zipnn helper did not start (.venv missing? scripts/setup-python.sh), or pass --no-zipnn"
    );

    let mut files = Vec::new();
    for spec in &specs {
        let (p, d) = spec.rsplit_once(':').unwrap_or((spec, "bf16"));
        let path = if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            root.join(p)
        };
        let zdtype = match d {
            "bf16" => "bf16",
            "fp16" => "fp16",
            "fp32" => "fp32",
            _ => panic!("dtype {d}: bf16, fp16 or fp32"),
        };
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let opts = options(zdtype);
        let packed = znw::compress(&data, &opts).expect("compress");
        assert!(znw::decompress(&packed, &Limits::default(), 1).unwrap() == data);
        let best = with_best.then(|| {
            let o = Options {
                tans: true,
                chunk_size: znw::BEST_CHUNK,
                ..opts.clone()
            };
            let b = znw::compress(&data, &o).expect("compress --best");
            assert!(znw::decompress(&b, &Limits::default(), 1).unwrap() == data);
            b
        });
        let mut znn = None;
        if let (Some(s), Some(w)) = (shipped.as_mut(), warm.as_mut()) {
            let save = std::env::temp_dir().join(format!("zipnn-bench-{}.znn", std::process::id()));
            let load = |z: &mut Zipnn, save: Option<&Path>| {
                z.call(serde_json::json!({"op": "load", "file": path.to_string_lossy(), "dtype": zdtype, "save": save.map(|s| s.to_string_lossy())}))
            };
            let info = load(s, Some(&save));
            load(w, None);
            let z = std::fs::read(&save).expect("zipnn's file");
            let _ = std::fs::remove_file(&save);
            eprintln!(
                "{}: ours {:.4}, zipnn {:.4}",
                path.display(),
                packed.len() as f64 / data.len() as f64,
                info["compressed"].as_f64().unwrap_or(0.0) / data.len() as f64
            );
            assert!(zipnn::decompress(&z, None, &Limits::default()).unwrap() == data);
            znn = Some(z);
        }
        files.push(File {
            path,
            zdtype,
            data,
            packed,
            best,
            znn,
            rows: Vec::new(),
            zipnn: [f64::MAX; 3],
        });
    }

    for round in 0..rounds {
        eprint!("round {}/{rounds}\r", round + 1);
        for f in &mut files {
            let results = measure_ours(f, min_time, parts);
            if f.rows.is_empty() {
                f.rows = results;
            } else {
                for (r, x) in f.rows.iter_mut().zip(results) {
                    r.ours = r.ours.min(x.ours);
                }
            }
            if let (Some(s), Some(w)) = (shipped.as_mut(), warm.as_mut()) {
                let (warm, faults) = w.best("decompress", &f.path, min_time);
                // Its "warm memory" must be: else every ratio against it is one against zipnn
                // as shipped (GLIBC_TUNABLES dropped by a ZIPNN_PYTHON wrapper, say).
                let pages = f.data.len() as f64 / 4096.0;
                assert!(
                    faults < 0.1 * pages,
                    "zipnn's warm memory is not warm: {faults:.0} page faults a call for {pages:.0} pages"
                );
                let t = [
                    s.best("compress", &f.path, min_time).0,
                    s.best("decompress", &f.path, min_time).0,
                    warm,
                ];
                for (b, x) in f.zipnn.iter_mut().zip(t) {
                    *b = b.min(x);
                }
            }
        }
    }
    eprintln!();
    for f in &files {
        report(f);
    }
}

fn options(zdtype: &str) -> Options {
    let dtype = match zdtype {
        "bf16" => DType::BF16,
        "fp16" => DType::F16,
        _ => DType::F32,
    };
    Options {
        dtype: DTypeChoice::Fixed(dtype),
        threads: 1,
        ..Options::default()
    }
}

fn measure_ours(f: &File, t: f64, parts: bool) -> Vec<Row> {
    let n = f.data.len();
    let packed = &f.packed[..];
    let limits = Limits::default();
    let mut rows = Vec::new();
    let mut row = |name, ours, vs| rows.push(Row { name, ours, vs });
    let opts = options(f.zdtype);

    row(
        "compress",
        best_of(t, || znw::compress(&f.data, &opts).unwrap()),
        Some(0),
    );
    row(
        "decompress(), fresh Vec",
        best_of(t, || znw::decompress(packed, &limits, 1).unwrap()),
        Some(1),
    );
    row(
        "calloc'd Vec + decompress_into",
        best_of(t, || {
            let mut v = vec![0u8; n];
            znw::decompress_into(packed, &mut v, 1).unwrap();
            v
        }),
        Some(1),
    );
    // Each row that decodes into `out` is checked once after its clock (a fast wrong decode
    // would read as a speed-up).
    let mut out = vec![0u8; n];
    let check = |out: &mut Vec<u8>, what: &str| {
        assert!(*out == f.data, "{what}: wrong bytes");
        out.fill(0);
    };
    let warm1 = best_of(t, || znw::decompress_into(packed, &mut out, 1).unwrap());
    check(&mut out, "decompress_into");
    row("decompress_into, warm", warm1, Some(2));
    if let Some(b) = &f.best {
        // Alternate with the order-0 file so both see the same machine load.
        let (mut t0, mut tb) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            t0 = t0.min(best_of(t / 3.0, || {
                znw::decompress_into(packed, &mut out, 1).unwrap()
            }));
            tb = tb.min(best_of(t / 3.0, || {
                znw::decompress_into(b, &mut out, 1).unwrap()
            }));
        }
        check(&mut out, "--best file: decompress_into");
        row("order-0 file: decompress_into, warm (paired)", t0, Some(2));
        row("--best file: decompress_into, warm (paired)", tb, Some(2));
    }
    let warm2 = best_of(t, || znw::decompress_into(packed, &mut out, 2).unwrap());
    check(&mut out, "decompress_into, 2 threads");
    row("decompress_into, warm, 2 threads", warm2, Some(2));
    if let Some(z) = &f.znn {
        row(
            "zipnn file: decompress(), fresh Vec",
            best_of(t, || zipnn::decompress(z, None, &limits).unwrap()),
            Some(1),
        );
        let h = zipnn::FrameHeader::parse(z).unwrap();
        let frame = best_of(t, || zipnn::decode_frame(z, &h, &mut out).unwrap());
        check(&mut out, "zipnn file: decode_frame");
        row("zipnn file: decode_frame, warm", frame, Some(2));
    }
    // The page-fault bound: first touch of a fresh buffer of the decoded size.
    row(
        "bound: calloc + first write (page faults)",
        best_of(t, || {
            let mut v = vec![0u8; n];
            v.fill(0x55);
            v
        }),
        None,
    );
    row(
        "bound: memset, warm",
        best_of(t, || out.fill(black_box(0x33))),
        None,
    );
    if parts {
        let (_, chunks) = znw::index(packed, &limits).unwrap();
        row(
            "part: XXH3 of bodies + output",
            best_of(t, || {
                let mut s = 0u64;
                for c in &chunks {
                    let body = c.body(packed);
                    let at = c.offset as usize;
                    let dst = &out[at..at + c.head.raw_len as usize];
                    s ^= znw::xxh3::hash(body, 0);
                    s ^= znw::xxh3::hash(dst, c.offset);
                }
                s
            }),
            None,
        );
        let mut scratch = vec![0u8; 1 << 20];
        row(
            "part: entropy blocks only",
            best_of(t, || {
                for c in &chunks {
                    let body = c.body(packed);
                    let groups = c.head.dtype.groups();
                    let k = c.head.raw_len as usize / groups;
                    let mut pos = 0;
                    for _ in 0..groups {
                        pos += block::decode(&body[pos..], &mut scratch[..k]).unwrap();
                    }
                }
            }),
            None,
        );
        let mut split = Vec::new();
        let dt = match f.zdtype {
            "bf16" => DType::BF16,
            "fp16" => DType::F16,
            _ => DType::F32,
        };
        let chunk = 256 << 10;
        let whole = n / chunk * chunk;
        dtype::split(dt, &f.data[..chunk], &mut split);
        row(
            "part: merge (256 KiB chunks)",
            best_of(t, || {
                let k = chunk / dt.size();
                let groups: Vec<&[u8]> = split.chunks_exact(k).collect();
                for d in out[..whole].chunks_exact_mut(chunk) {
                    dtype::merge(dt, &groups, d);
                }
            }) * n as f64
                / whole.max(1) as f64,
            None,
        );
        let mut huf = Vec::new();
        let mut exps = Vec::new();
        for c in &chunks {
            let body = c.body(packed);
            let groups = c.head.dtype.groups();
            let k = c.head.raw_len as usize / groups;
            let mut pos = 0;
            for _ in 0..groups {
                let b = &body[pos..];
                let used = block::decode(b, &mut scratch[..k]).unwrap();
                if b[0] == block::HUF4 {
                    huf.push((&b[5..used], k));
                    exps.extend_from_slice(&scratch[..k]);
                }
                pos += used;
            }
        }
        let huf_bytes: usize = huf.iter().map(|h| h.1).sum();
        let huf_time = best_of(t, || {
            for &(p, k) in &huf {
                huff0::decompress_4x(p, &mut scratch[..k]).unwrap();
            }
        });
        // Reported per decoded file byte like the rest; the line's note gives Huffman's own rate.
        row("part: huff0 blocks only", huf_time, None);
        eprintln!(
            "{}: huff0 decodes {} bytes in {} blocks: {:.0} MB/s of Huffman output",
            f.path.display(),
            huf_bytes,
            huf.len(),
            huf_bytes as f64 / 1e6 / huf_time
        );
    }
    rows
}

fn report(f: &File) {
    let n = f.data.len() as f64;
    let mbs = |s: f64| n / 1e6 / s;
    println!(
        "\n## {} ({:.1} MB, {}; ratio ours {:.4}{})",
        f.path.file_name().unwrap().to_string_lossy(),
        n / 1e6,
        f.zdtype,
        f.packed.len() as f64 / n,
        f.znn
            .as_ref()
            .map(|z| format!(", zipnn {:.4}", z.len() as f64 / n))
            .unwrap_or_default()
    );
    if let Some(b) = &f.best {
        let speed = |name: &str| {
            f.rows
                .iter()
                .find(|r| r.name.starts_with(name))
                .map(|r| r.ours)
        };
        if let (Some(t0), Some(tb)) = (speed("order-0 file"), speed("--best file")) {
            println!(
                "--best: ratio {:.4}, warm decode at {:.2}× the order-0 file's speed",
                b.len() as f64 / n,
                t0 / tb
            );
        }
    }
    println!("| operation | MB/s | vs zipnn | ratio |\n|---|---:|---|---:|");
    for r in &f.rows {
        let (vs, ratio) = match r.vs {
            Some(i) if f.zipnn[i] < f64::MAX => (
                ZIPNN_ROWS[i].trim_start_matches("zipnn "),
                format!("{:.2}×", f.zipnn[i] / r.ours),
            ),
            _ => ("", String::new()),
        };
        println!("| {} | {:.0} | {vs} | {ratio} |", r.name, mbs(r.ours));
    }
    let speed = |name: &str| f.rows.iter().find(|r| r.name == name).map(|r| r.ours);
    if let (Some(one), Some(two)) = (
        speed("decompress_into, warm"),
        speed("decompress_into, warm, 2 threads"),
    ) {
        // (the 2-thread row's ratio above is against zipnn on one thread)
        println!("2 threads vs 1, ours, same run: {:.2}×", one / two);
    }
    for (name, &s) in ZIPNN_ROWS.iter().zip(&f.zipnn) {
        if s < f64::MAX {
            println!("| {name} | {:.0} | | |", mbs(s));
        }
    }
}
