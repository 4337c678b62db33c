//! Both directions against the real zipnn 0.5.4 (Python, in .venv from scripts/setup-python.sh)
//! on the real-model corpus: zipnn-written files decode byte-exact with ours, and files our
//! CLI writes with `--format zipnn` decode byte-exact with zipnn. Skipped with a note when the
//! venv is missing, unless ZIPNN_REQUIRED=1 (set by `make test`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> Option<PathBuf> {
    let py = root().join(".venv/bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .args([
                "-c",
                "import importlib.metadata as m; assert m.version('zipnn') == '0.5.4'",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if !ok && std::env::var("ZIPNN_REQUIRED").is_ok_and(|v| v == "1") {
        panic!("zipnn 0.5.4 is required (ZIPNN_REQUIRED=1) but .venv has none: run scripts/setup-python.sh");
    }
    ok.then_some(py)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn zipnn_py(py: &Path, args: &[&str]) {
    run(Command::new(py)
        .arg(root().join("scripts/zipnn_roundtrip.py"))
        .args(args));
}

fn ours(args: &[&str]) {
    run(Command::new(env!("CARGO_BIN_EXE_zipnn")).args(args));
}

/// zipnn writes `src` (`tmp/TAG.theirs.znn`), we decode it: must give `original`.
fn zipnn_writes(
    py: &Path,
    src: &Path,
    tmp: &Path,
    tag: &str,
    dtype: &str,
    streaming: Option<&str>,
    original: &[u8],
) -> PathBuf {
    let theirs = tmp.join(format!("{tag}.theirs.znn"));
    let mut args = vec!["compress", "--dtype", dtype];
    if let Some(c) = streaming {
        args.extend(["--streaming", c]);
    }
    let (sp, tp) = (path_str(src), path_str(&theirs));
    args.extend([sp.as_str(), tp.as_str()]);
    zipnn_py(py, &args);
    let back = tmp.join(format!("{tag}.theirs.out"));
    ours(&["decompress", &tp, "-o", &path_str(&back), "--force"]);
    assert!(
        std::fs::read(&back).unwrap() == original,
        "{tag}: zipnn → ours differs"
    );
    theirs
}

/// We write `src` as ZipNN (`tmp/TAG.ours.znn`), zipnn decodes it: must give `original`.
fn we_write(
    py: &Path,
    src: &Path,
    tmp: &Path,
    tag: &str,
    dtype: &str,
    streaming: Option<&str>,
    original: &[u8],
) -> PathBuf {
    let mine = tmp.join(format!("{tag}.ours.znn"));
    let (sp, mp) = (path_str(src), path_str(&mine));
    let mut args = vec![
        "compress",
        sp.as_str(),
        "--format",
        "zipnn",
        "--dtype",
        dtype,
        "-o",
        mp.as_str(),
        "--force",
    ];
    if let Some(c) = streaming {
        args.extend(["--streaming-chunk", c]);
    }
    ours(&args);
    let back = tmp.join(format!("{tag}.ours.out"));
    zipnn_py(py, &["decompress", &mp, &path_str(&back)]);
    assert!(
        std::fs::read(&back).unwrap() == original,
        "{tag}: ours → zipnn differs"
    );
    mine
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

#[test]
fn both_directions_on_real_models() {
    let Some(py) = python() else {
        eprintln!("skipped: no .venv with zipnn 0.5.4 (scripts/setup-python.sh)");
        return;
    };
    let models = root().join("models");
    let tmp = root().join("target/interop");
    std::fs::create_dir_all(&tmp).unwrap();
    let corpus = [
        ("minilm.bf16.safetensors", "bf16"),
        ("minilm.fp16.safetensors", "fp16"),
        ("minilm.fp32.safetensors", "fp32"),
        ("english_g2.pth.f32-stream.bin", "fp32"),
        ("silero_vad.onnx.f32-stream.bin", "fp32"),
    ];
    for (name, dtype) in corpus {
        let src = models.join(name);
        let original = std::fs::read(&src).unwrap();
        for streaming in [None, Some("1048576")] {
            let tag = format!("{name}.{}", streaming.unwrap_or("single"));
            let theirs = zipnn_writes(&py, &src, &tmp, &tag, dtype, streaming, &original);
            let mine = we_write(&py, &src, &tmp, &tag, dtype, streaming, &original);
            let (a, b) = (
                std::fs::metadata(&theirs).unwrap().len(),
                std::fs::metadata(&mine).unwrap().len(),
            );
            eprintln!(
                "{tag}: zipnn {a} bytes, ours {b} bytes ({:+.3}%)",
                (b as f64 / a as f64 - 1.0) * 100.0
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Float32 data whose length is not a multiple of 4 (an ONNX or `.pth` file compressed as
/// fp32, as zipnn's users do): zipnn reads what we write and we read what it writes.
#[test]
fn fp32_lengths_not_a_multiple_of_4() {
    let Some(py) = python() else {
        eprintln!("skipped: no .venv with zipnn 0.5.4 (scripts/setup-python.sh)");
        return;
    };
    let tmp = root().join("target/interop-odd");
    std::fs::create_dir_all(&tmp).unwrap();
    let model = std::fs::read(root().join("models/minilm.fp32.safetensors")).unwrap();
    for len in [1, 3, 5, 7, 1001, (1 << 18) + 3] {
        for streaming in [None, Some("262144")] {
            let tag = format!("{len}.{}", streaming.unwrap_or("single"));
            let src = tmp.join(format!("{tag}.bin"));
            std::fs::write(&src, &model[..len]).unwrap();
            we_write(&py, &src, &tmp, &tag, "fp32", streaming, &model[..len]);
            // zipnn 0.5.4 itself crashes (heap corruption) writing some of these lengths past
            // one chunk, e.g. 262,147 bytes, and below 4 bytes writes a frame of a longer
            // length: the other direction only where its writer is sound.
            if (4..=1 << 18).contains(&len) {
                zipnn_writes(&py, &src, &tmp, &tag, "fp32", streaming, &model[..len]);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The extremes of zipnn's own options, which it writes and reads back: chunks of one element
/// (1, 2 or 4 bytes) to 4 GiB, streaming frames of 4 to 128 bytes. Ours decodes them all.
#[test]
fn zipnn_chunk_sizes_at_its_limits() {
    let Some(py) = python() else {
        eprintln!("skipped: no .venv with zipnn 0.5.4 (scripts/setup-python.sh)");
        return;
    };
    let tmp = root().join("target/interop-limits");
    std::fs::create_dir_all(&tmp).unwrap();
    let model = std::fs::read(root().join("models/minilm.bf16.safetensors")).unwrap();
    let data = &model[model.len() - 4096..];
    for (dtype, element) in [("bf16", "2"), ("fp32", "4"), ("fp8_e4m3fn", "1")] {
        let cases: [(&[&str], usize); 9] = [
            (&["--chunk", element], 4096),
            (&["--chunk", "4"], 4096),
            (&["--chunk", "8"], 4096),
            (&["--chunk", "16"], 4096),
            (&["--chunk", "128"], 4096),
            (&["--chunk", "2147483648"], 4096),
            (&["--chunk", "4294967296"], 4096),
            (&["--streaming", "4"], 64),
            (&["--streaming", "128"], 1000),
        ];
        for (opts, len) in cases {
            let tag = format!("{dtype}{}", opts.join(""));
            let (src, theirs, back) = (
                tmp.join(format!("{tag}.bin")),
                tmp.join(format!("{tag}.znn")),
                tmp.join(format!("{tag}.out")),
            );
            std::fs::write(&src, &data[..len]).unwrap();
            let mut args = vec!["compress", "--dtype", dtype];
            args.extend(opts);
            let (sp, tp) = (path_str(&src), path_str(&theirs));
            args.extend([sp.as_str(), tp.as_str()]);
            zipnn_py(&py, &args);
            ours(&["decompress", &tp, "-o", &path_str(&back), "--force"]);
            assert!(
                std::fs::read(&back).unwrap() == data[..len],
                "{tag}: zipnn → ours differs"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
