//! The native `zipnn` binary as a user runs it: files and `-`, `--force`, one-line errors with
//! a non-zero exit, progress on stderr only when it is a terminal, `inspect`'s table and its
//! note about a better float type, `test`, and `bench`.

mod common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

fn zipnn(args: &[&str], stdin: Option<&[u8]>) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zipnn"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        // Written from a thread: the child fills its stdout pipe while we still write.
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || pipe.write_all(&input));
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A fresh directory per test (tests run in parallel).
fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `zipnn ARGS` run on a terminal (util-linux `script`, its typescript in `dir`): what the
/// terminal showed is the output's stdout.
fn on_terminal(args: &str, dir: &Path) -> std::process::Output {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("util-linux `script` is needed to run zipnn on a terminal");
    }
    let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_zipnn"));
    Command::new("script")
        .args(["-qec", &cmd])
        .arg(dir.join("typescript"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// One line on stderr, `zipnn: ...`, and the exit code.
#[track_caller]
fn assert_one_line_error(o: &Out, code: i32, contains: &str) {
    assert_eq!(
        o.code, code,
        "exit code; looking for {contains:?}; stderr: {}",
        o.stderr
    );
    assert!(
        o.stderr.starts_with("zipnn: ")
            && o.stderr.ends_with('\n')
            && o.stderr.lines().count() == 1,
        "one-line error expected, got {:?}",
        o.stderr
    );
    assert!(
        o.stderr.contains(contains),
        "{:?} lacks {contains:?}",
        o.stderr
    );
}

#[test]
fn files_round_trip_for_every_dtype_and_odd_lengths() {
    let d = dir("files");
    let mut rng = Rng(71);
    let weights = bf16_weights(&mut rng, 40_001);
    for dtype in [
        "bytes", "bf16", "fp16", "fp32", "fp64", "fp8-e4m3", "fp8-e5m2", "q4_0", "q4_1", "q5_0",
        "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "auto",
    ] {
        // 80 001 bytes: not a multiple of any element size (2, 4, 8, 18 to 34, 84 to 210).
        let src = d.join(format!("{dtype}.bin"));
        std::fs::write(&src, &weights[..80_001]).unwrap();
        let o = zipnn(&["compress", s(&src), "--dtype", dtype], None);
        assert_eq!(o.code, 0, "{dtype}: {}", o.stderr);
        assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{dtype}: quiet");
        let packed = d.join(format!("{dtype}.bin.znw"));
        std::fs::rename(&src, d.join("orig")).unwrap();
        let o = zipnn(&["decompress", s(&packed)], None);
        assert_eq!(o.code, 0, "{dtype}: {}", o.stderr);
        assert!(
            std::fs::read(&src).unwrap() == weights[..80_001],
            "{dtype}: restored file differs"
        );
        std::fs::remove_file(&packed).unwrap();
    }
}

#[test]
fn several_inputs_each_get_their_own_output_and_one_failure_stops_none() {
    let d = dir("several");
    let mut rng = Rng(70);
    // A sharded model: three safetensors files, as model-0000N-of-00003.safetensors.
    let shards: Vec<PathBuf> = (1..=3)
        .map(|k| {
            let p = d.join(format!("model-0000{k}-of-00003.safetensors"));
            let n = 30_000 + k;
            let weights = bf16_weights(&mut rng, n);
            let file = safetensors(&[("w", "BF16", vec![n as u64], weights)]);
            std::fs::write(&p, file).unwrap();
            p
        })
        .collect();
    let names: Vec<&str> = shards.iter().map(|p| s(p)).collect();
    let o = zipnn(&[&["compress"], &names[..]].concat(), None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "quiet");
    let packed: Vec<String> = names.iter().map(|n| format!("{n}.znw")).collect();
    let want: Vec<Vec<u8>> = shards.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for (p, w) in packed.iter().zip(&want) {
        assert!(
            std::fs::metadata(p).unwrap().len() < w.len() as u64,
            "{p} is smaller"
        );
    }
    // The same compress again: each output exists, each is refused, nothing is overwritten.
    let before: Vec<Vec<u8>> = packed.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let o = zipnn(&[&["compress"], &names[..]].concat(), None);
    assert_eq!(o.code, 1);
    let err: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(err.len(), 4, "{}", o.stderr);
    assert!(err[..3]
        .iter()
        .zip(&names)
        .all(|(e, n)| e.starts_with(&format!("zipnn: {n}: "))
            && e.ends_with("already exists (use --force to overwrite)")));
    assert_eq!(err[3], "zipnn: 3 of 3 files failed to compress");
    assert!(packed
        .iter()
        .zip(&before)
        .all(|(p, b)| std::fs::read(p).unwrap() == *b));

    // decompress: the originals back, next to their .znw; a damaged file in the middle is
    // reported and the others are still written.
    for p in &shards {
        std::fs::remove_file(p).unwrap();
    }
    let mut bad = before[1].clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x40;
    std::fs::write(&packed[1], &bad).unwrap();
    let missing = d.join("missing.znw");
    let args = [
        &["decompress"],
        &[
            packed[0].as_str(),
            packed[1].as_str(),
            s(&missing),
            packed[2].as_str(),
        ][..],
    ]
    .concat();
    let o = zipnn(&args, None);
    assert_eq!(o.code, 1);
    let err: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(err.len(), 3, "{}", o.stderr);
    assert!(
        err[0].starts_with(&format!("zipnn: {}: ", packed[1])) && err[0].contains("ZNN_CORRUPT"),
        "{}",
        err[0]
    );
    assert!(
        err[1].starts_with(&format!("zipnn: cannot read {}: ", s(&missing))),
        "{}",
        err[1]
    );
    assert_eq!(err[2], "zipnn: 2 of 4 files failed to decompress");
    assert!(std::fs::read(&shards[0]).unwrap() == want[0]);
    assert!(std::fs::read(&shards[2]).unwrap() == want[2]);
    assert!(!shards[1].exists(), "no output for the damaged file");

    // -o names one output: with several inputs it is a usage error, and nothing is written.
    let o = zipnn(
        &["decompress", &packed[0], &packed[2], "-o", s(&d.join("x"))],
        None,
    );
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("-o takes one input file, not 2"),
        "{}",
        o.stderr
    );
    assert!(!d.join("x").exists());
    // A usage error stops at once, not once per file.
    let o = zipnn(&["compress", names[0], names[1], "--format", "zipnn"], None);
    assert_eq!(o.code, 2);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    // Stdin is read once: it cannot be two inputs, nor the base of several.
    let o = zipnn(&["compress", "-", "-"], Some(b"abc"));
    assert_one_line_error(&o, 2, "'-' (stdin) can be one input only");
    let o = zipnn(
        &["compress", names[0], names[1], "--base", "-"],
        Some(b"abc"),
    );
    assert_one_line_error(&o, 2, "--base - (stdin) takes one input file");
    // An input that names no output (".znw" would decode to "") fails alone.
    let nameless = d.join(".znw");
    std::fs::copy(&packed[0], &nameless).unwrap();
    let o = zipnn(&["decompress", s(&nameless), &packed[2], "--force"], None);
    assert_eq!(o.code, 1);
    let err: Vec<&str> = o.stderr.lines().collect();
    assert!(
        err[0].ends_with("cannot name the output after the input: give one with -o"),
        "{}",
        o.stderr
    );
    assert_eq!(err[1], "zipnn: 1 of 2 files failed to decompress");
    assert!(std::fs::read(&shards[2]).unwrap() == want[2]);
    // A name given with -o is the user's, even one ending in '/'.
    let o = zipnn(
        &[
            "decompress",
            &packed[2],
            "-o",
            &format!("{}/", s(&d.join("nodir"))),
        ],
        None,
    );
    assert_one_line_error(&o, 1, "cannot create");
}

#[test]
fn dash_is_stdin_and_stdout() {
    let d = dir("dash");
    let mut rng = Rng(72);
    let data = f32_weights(&mut rng, 50_000);
    let c = zipnn(&["compress", "-", "--dtype", "fp32"], Some(&data));
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(c.stdout.len() < data.len() * 9 / 10, "fp32 weights shrink");
    let o = zipnn(&["decompress", "-"], Some(&c.stdout));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout == data, "stdin -> stdout round trip");
    // Files on one side, '-' on the other.
    let file = d.join("w.znw");
    let o = zipnn(
        &["compress", "-", "-o", s(&file), "--dtype", "fp32"],
        Some(&data),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.is_empty());
    let o = zipnn(&["decompress", s(&file), "-o", "-"], None);
    assert!(o.code == 0 && o.stdout == data, "file -> stdout");
    let o = zipnn(&["inspect", "-"], Some(&c.stdout));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(String::from_utf8_lossy(&o.stdout).contains("fp32"));
    // Without -o, stdin goes to stdout: no file appears.
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
}

/// `-o /dev/stdout` (a link to the descriptor, however named) while stdout is a file the
/// shell opened: the output goes to that file, and no link is replaced.
#[cfg(target_os = "linux")]
#[test]
fn dev_stdout_is_stdout_where_it_points() {
    let d = dir("dev-stdout");
    let data = f32_weights(&mut Rng(73), 20_000);
    let packed = zipnn(&["compress", "-", "--dtype", "fp32"], Some(&data)).stdout;
    let input = d.join("w.znw");
    std::fs::write(&input, &packed).unwrap();
    let link = d.join("my-stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
    for (name, force) in [
        ("/dev/stdout", false),
        ("/dev/fd/1", false),
        (s(&link), true),
    ] {
        let res = d.join("res.bin");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zipnn"));
        cmd.args(["decompress", s(&input), "-o", name]);
        if force {
            cmd.arg("--force");
        }
        let o = cmd
            .stdout(std::fs::File::create(&res).unwrap())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "-o {name}: {err}");
        assert!(
            std::fs::read(&res).unwrap() == data,
            "-o {name}: the file stdout is open on"
        );
    }
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_dir(&d).unwrap().count(),
        3,
        "no temporary file left"
    );
}

#[test]
fn refuses_to_overwrite_without_force() {
    let d = dir("force");
    let src = d.join("a.bin");
    std::fs::write(&src, [1u8, 2, 3, 4, 5]).unwrap();
    let packed = d.join("a.bin.znw");
    std::fs::write(&packed, b"keep me").unwrap();
    let o = zipnn(&["compress", s(&src)], None);
    assert_one_line_error(&o, 1, "already exists (use --force to overwrite)");
    assert_eq!(std::fs::read(&packed).unwrap(), b"keep me");
    let o = zipnn(&["compress", s(&src), "--force"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // decompress would write a.bin, which exists.
    let o = zipnn(&["decompress", s(&packed)], None);
    assert_one_line_error(&o, 1, "a.bin already exists");
    assert_eq!(std::fs::read(&src).unwrap(), [1, 2, 3, 4, 5]);
    let o = zipnn(&["decompress", s(&packed), "-f"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(std::fs::read(&src).unwrap(), [1, 2, 3, 4, 5]);
    // The input is never the output, even with --force and by another name: `./`, an absolute
    // path, a hard link.
    let link = d.join("link.bin");
    std::fs::hard_link(&src, &link).unwrap();
    let dotted = d.join(".").join("a.bin");
    for other in [&dotted, &std::fs::canonicalize(&src).unwrap(), &link] {
        let o = zipnn(&["compress", s(&src), "-o", s(other), "--force"], None);
        assert_one_line_error(&o, 1, "output would overwrite the input");
        assert_eq!(std::fs::read(&src).unwrap(), [1, 2, 3, 4, 5]);
    }
}

/// Nothing a user already has is lost: not the base of a delta written over, not a file fed
/// on stdin, not a file that happens to bear the temporary output's name.
#[test]
fn never_overwrites_the_base_a_file_on_stdin_or_a_file_named_like_the_temporary() {
    let d = dir("keep");
    let mut rng = Rng(91);
    let base = bf16_weights(&mut rng, 40_000);
    let next: Vec<u8> = base
        .iter()
        .enumerate()
        .map(|(i, &b)| if i % 89 == 0 { b ^ 1 } else { b })
        .collect();
    let (old, new, delta) = (d.join("old.bin"), d.join("new.bin"), d.join("d.znw"));
    std::fs::write(&old, &base).unwrap();
    std::fs::write(&new, &next).unwrap();
    // The delta written over its own base would need itself to decode: both would be lost.
    let o = zipnn(
        &[
            "compress",
            s(&new),
            "--dtype",
            "bf16",
            "--base",
            s(&old),
            "-o",
            s(&old),
            "--force",
        ],
        None,
    );
    assert_one_line_error(&o, 1, "output would overwrite the base file");
    assert_eq!(std::fs::read(&old).unwrap(), base);
    let o = zipnn(
        &[
            "compress",
            s(&new),
            "--dtype",
            "bf16",
            "--base",
            s(&old),
            "-o",
            s(&delta),
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = zipnn(
        &[
            "decompress",
            s(&delta),
            "--base",
            s(&old),
            "-o",
            s(&old),
            "--force",
        ],
        None,
    );
    assert_one_line_error(&o, 1, "output would overwrite the base file");
    assert_eq!(std::fs::read(&old).unwrap(), base);

    // A file on stdin is the input too (Linux names it /dev/stdin).
    let packed = d.join("p.znw");
    assert_eq!(
        zipnn(&["compress", s(&old), "-o", s(&packed)], None).code,
        0
    );
    let before = std::fs::read(&packed).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_zipnn"))
        .args(["decompress", "-", "-o", s(&packed), "--force"])
        .stdin(std::fs::File::open(&packed).unwrap())
        .output()
        .unwrap();
    if cfg!(target_os = "linux") {
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(std::fs::read(&packed).unwrap(), before);
    }

    // A file that bears the name the temporary output would take (`OUT.tmp<pid>.0`) is left
    // alone, even when it is the input.
    let script = format!(
        "cp '{p}' \"$1.tmp$$.0\" && exec '{z}' decompress \"$1.tmp$$.0\" -o \"$1\"",
        p = s(&packed),
        z = env!("CARGO_BIN_EXE_zipnn")
    );
    let res = d.join("res.bin");
    let o = Command::new("sh")
        .args(["-c", &script, "sh", s(&res)])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(std::fs::read(&res).unwrap(), base);
    let kept = std::fs::read_dir(&d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("res.bin.tmp")
        })
        .count();
    assert_eq!(kept, 1, "the file named like the temporary stays");
}

/// An option the command does not read is an error, not silently ignored.
#[test]
fn options_a_command_does_not_read_are_refused() {
    let d = dir("flags");
    let src = d.join("a.bin");
    std::fs::write(&src, [1u8, 2, 3, 4]).unwrap();
    let packed = d.join("a.bin.znw");
    assert_eq!(zipnn(&["compress", s(&src)], None).code, 0);
    for (args, msg) in [
        (
            vec!["inspect", s(&packed), "-o", "r.txt"],
            "-o does not apply to inspect",
        ),
        (
            vec!["bench", s(&src), "--chunk-size", "16"],
            "--chunk-size does not apply to bench",
        ),
        (
            vec!["decompress", s(&packed), "--dtype", "fp32"],
            "--dtype does not apply to decompress",
        ),
        (
            vec!["decompress", s(&packed), "--threads", "2"],
            "--threads does not apply to decompress",
        ),
        (
            vec!["test", s(&packed), "--best"],
            "--best does not apply to test",
        ),
        (
            vec!["compress", s(&src), "--streaming-chunk", "65536"],
            "--streaming-chunk applies to --format zipnn only",
        ),
        (
            vec![
                "compress",
                s(&src),
                "--format",
                "zipnn",
                "--dtype",
                "bf16",
                "--verify",
            ],
            "--verify does not apply to compress",
        ),
        (
            vec!["compress", s(&src), "--chunk-size", "6"],
            "chunk size must be a multiple of 4",
        ),
        (
            vec!["compress", s(&src), "--chunk-size", "0", "--best"],
            "chunk size must be a multiple of 4",
        ),
    ]
    .into_iter()
    .chain(
        // ZipNN's sizes: powers of two in range (512 used to fail later, with status 1).
        [
            (
                "--chunk-size",
                "1000",
                "ZipNN chunk sizes are powers of two",
            ),
            ("--chunk-size", "512", "from 1 KiB to 1 GiB"),
            ("--chunk-size", "2147483648", "from 1 KiB to 1 GiB"),
            ("--streaming-chunk", "128", "from 256 bytes to 1 TiB"),
        ]
        .map(|(flag, n, msg)| {
            let zipnn = ["compress", s(&src), "--format", "zipnn", "--dtype", "bf16"];
            ([&zipnn[..], &[flag, n]].concat(), msg)
        }),
    ) {
        let o = zipnn(&args, None);
        assert_one_line_error(&o, 2, msg);
    }
    assert!(!Path::new("r.txt").exists());
    // Not a usage error: with several inputs, only this file fails.
    let o = zipnn(&["decompress", ".znw"], None);
    assert_one_line_error(&o, 1, "cannot read .znw");
}

/// `--chunk-size` and `--streaming-chunk` read K, M and G (KiB, MiB, GiB) as zstd does: the
/// same file as the number of bytes written out; anything else is a usage error.
#[test]
fn sizes_take_binary_unit_suffixes() {
    let d = dir("sizes");
    let mut rng = Rng(29);
    let src = d.join("w.bin");
    std::fs::write(&src, bf16_weights(&mut rng, 300_000)).unwrap();
    let packed = |flags: &[&str]| {
        let out = d.join("w.out");
        let mut args = vec!["compress", s(&src), "-o", s(&out), "--force"];
        args.extend_from_slice(flags);
        let o = zipnn(&args, None);
        assert_eq!(o.code, 0, "{flags:?}: {}", o.stderr);
        std::fs::read(&out).unwrap()
    };
    let zipnn_fmt = ["--format", "zipnn", "--dtype", "bf16"];
    for (unit, bytes) in [
        ("64K", "65536"),
        ("64k", "65536"),
        ("+64KB", "65536"),
        ("64KiB", "65536"),
        ("1M", "1048576"),
    ] {
        assert!(packed(&["--chunk-size", unit]) == packed(&["--chunk-size", bytes]));
        let with = |n| [&zipnn_fmt[..], &["--streaming-chunk", n]].concat();
        assert!(packed(&with(unit)) == packed(&with(bytes)), "{unit}");
    }
    // The chunk size is what the file says it is (ZipNN's header: log2 at byte 14).
    assert_eq!(
        packed(&[&zipnn_fmt[..], &["--chunk-size", "128k"]].concat())[14],
        17
    );
    for bad in [
        "64Kb", "64KIB", "64KK", "K", "64T", "1e3", "0x100", "4G", " 64",
    ] {
        let o = zipnn(&["compress", s(&src), "--chunk-size", bad], None);
        assert_one_line_error(&o, 2, &format!("bad chunk size {bad:?}"));
    }
    let o = zipnn(
        &[
            &["compress", s(&src)][..],
            &zipnn_fmt,
            &["--streaming-chunk", "2048G"],
        ]
        .concat(),
        None,
    );
    assert_one_line_error(&o, 2, "from 256 bytes to 1 TiB");
}

/// A reader that stops early ends `-o -` quietly, like a process killed by SIGPIPE, and
/// `inspect` refuses what is not compressed from its first bytes (/dev/zero never ends).
#[test]
fn closed_stdout_and_endless_input() {
    let mut rng = Rng(17);
    let data = f32_weights(&mut rng, 2_000_000);
    let c = zipnn(&["compress", "-", "--dtype", "fp32"], Some(&data));
    assert_eq!(c.code, 0, "{}", c.stderr);
    let mut child = Command::new(env!("CARGO_BIN_EXE_zipnn"))
        .args(["decompress", "-", "-o", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let packed = c.stdout.clone();
    std::thread::spawn(move || pipe.write_all(&packed));
    // Read a little, then close our end.
    let mut first = [0u8; 10];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(141),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    if Path::new("/dev/zero").exists() {
        let o = zipnn(&["inspect", "/dev/zero"], None);
        assert_one_line_error(&o, 1, "ZNN_NOT_COMPRESSED");
        // Named, as every command names its input.
        assert!(o
            .stderr
            .starts_with("zipnn: /dev/zero: not a compressed file"));
    }
}

#[test]
fn every_error_is_one_line_with_a_non_zero_exit() {
    let d = dir("errors");
    let mut rng = Rng(73);
    let data = bf16_weights(&mut rng, 100_000);
    let src = d.join("w.bin");
    std::fs::write(&src, &data).unwrap();
    let o = zipnn(&["compress", s(&src), "--dtype", "bf16"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let znw = d.join("w.bin.znw");
    let packed = std::fs::read(&znw).unwrap();

    let mut flipped = packed.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("flipped.znw", flipped, "ZNN_CORRUPT"),
        (
            "cut.znw",
            packed[..packed.len() - 30].to_vec(),
            "ZNN_TRUNCATED",
        ),
        ("plain.znw", data[..5000].to_vec(), "ZNN_NOT_COMPRESSED"),
        ("empty.znw", vec![], "ZNN_"),
    ];
    for (name, bytes, code) in cases {
        let p = d.join(name);
        std::fs::write(&p, &bytes).unwrap();
        let out = d.join(format!("{name}.out"));
        let o = zipnn(&["decompress", s(&p), "-o", s(&out)], None);
        assert_one_line_error(&o, 1, code);
        assert!(!out.exists(), "{name}: no partial output file");
        let o = zipnn(&["decompress", "-"], Some(&bytes));
        assert_one_line_error(&o, 1, code);
        // inspect walks the headers without decoding bodies: a flipped body bit is decompress's to find.
        if name != "flipped.znw" {
            let o = zipnn(&["inspect", s(&p)], None);
            assert_one_line_error(&o, 1, code);
        }
    }
    // No temporary files left behind.
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let missing = d.join("missing.znw");
    assert_one_line_error(&zipnn(&["decompress", s(&missing)], None), 1, "cannot read");
    // The path named once, and no table started for a file that cannot be read.
    for cmd in ["test", "bench", "inspect"] {
        let o = zipnn(&[cmd, s(&missing)], None);
        assert_one_line_error(&o, 1, "cannot read");
        assert_eq!(
            o.stderr.matches("missing.znw").count(),
            1,
            "{cmd}: {}",
            o.stderr
        );
        assert!(o.stdout.is_empty(), "{cmd}");
    }
    assert_one_line_error(
        &zipnn(
            &["compress", s(&src), "-o", s(&d.join("no/such/dir/x"))],
            None,
        ),
        1,
        "cannot create",
    );
    // Usage errors: exit 2, still one line.
    for args in [
        &["frobnicate", "x"][..],
        &["compress", s(&src), "--bogus"],
        &["compress", s(&src), "--dtype", "fp128"],
        // One stdin cannot be the input and the base (this hung, the input holding its lock).
        &["decompress", "-", "--base", "-"],
        &["test", "-", "--base", "-"],
        &["compress", "-", "--base", "-"],
        &["compress"],
        &["compress", s(&src), "-o"],
        &["test", s(&src), "-o", "x"],
        &["bench"],
        &[],
        // ZipNN delta frames are read, not written: refused, not a full frame instead.
        &[
            "compress",
            s(&src),
            "--format",
            "zipnn",
            "--dtype",
            "bf16",
            "--base",
            s(&src),
        ],
    ] {
        let o = zipnn(args, None);
        assert_one_line_error(&o, 2, "");
    }
    assert!(!d.join("w.bin.znn").exists());
    // Help is not an error.
    for args in [&["--help"][..], &["compress", "-h"], &["help"]] {
        let o = zipnn(args, None);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("usage: zipnn compress"));
    }
}

#[test]
fn inspect_prints_the_table_and_suggests_a_float_type() {
    let d = dir("inspect");
    let mut rng = Rng(74);
    let data = bf16_weights(&mut rng, 300_000);
    let src = d.join("raw.bin");
    std::fs::write(&src, &data).unwrap();
    let plain = d.join("plain.znw");
    let typed = d.join("typed.znw");
    assert_eq!(
        zipnn(
            &["compress", s(&src), "-o", s(&plain), "--dtype", "bytes"],
            None
        )
        .code,
        0
    );
    assert_eq!(
        zipnn(
            &["compress", s(&src), "-o", s(&typed), "--dtype", "bf16"],
            None
        )
        .code,
        0
    );
    let o = zipnn(&["inspect", s(&plain)], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = String::from_utf8(o.stdout).unwrap();
    let header = text.lines().nth(1).unwrap();
    for col in ["name", "dtype", "shape", "size", "compressed", "ratio"] {
        assert!(header.contains(col), "column {col} in {header:?}");
    }
    let note = text
        .lines()
        .find(|l| l.starts_with("note: stored as plain bytes"))
        .unwrap_or_else(|| panic!("no note in:\n{text}"));
    assert!(note.contains("--dtype bf16"), "{note}");
    // A file is read at the offsets of its headers, stdin whole: the same report.
    let piped = zipnn(&["inspect", "-"], Some(&std::fs::read(&plain).unwrap()));
    assert_eq!(
        String::from_utf8(piped.stdout).unwrap(),
        text.replacen(s(&plain), "-", 1)
    );

    let o = zipnn(&["inspect", s(&typed)], None);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(!text.contains("note:"), "no note when typed:\n{text}");
    // The segment row: bf16, its size, a compressed size below it, the ratio of the two.
    let row = text.lines().nth(2).unwrap();
    // A raw file's one segment has no name: count columns from the end.
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[cols.len() - 5], "bf16", "{row}");
    let size: f64 = cols[cols.len() - 3].parse().unwrap();
    let comp: f64 = cols[cols.len() - 2].parse().unwrap();
    let ratio: f64 = cols[cols.len() - 1].parse().unwrap();
    assert_eq!(size, data.len() as f64);
    assert!(comp < size * 0.75, "{row}");
    assert!((ratio - comp / size).abs() < 1e-4, "{row}");
    // The same bytes as a NumPy array of uint16: the container names the type, which --dtype
    // cannot change, so no note suggests it.
    let mut h = String::from("{'descr': '<u2', 'fortran_order': False, 'shape': (");
    h += &format!("{},), }}", data.len() / 2);
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(h.len() as u16).to_le_bytes());
    npy.extend_from_slice(h.as_bytes());
    npy.extend_from_slice(&data[..data.len() / 2 * 2]);
    let (np, npz) = (d.join("u16.npy"), d.join("u16.npy.znw"));
    std::fs::write(&np, &npy).unwrap();
    assert_eq!(zipnn(&["compress", s(&np), "-o", s(&npz)], None).code, 0);
    let o = zipnn(&["inspect", s(&npz)], None);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("npy container"), "{text}");
    assert!(!text.contains("note:"), "no note for a container:\n{text}");
}

/// Names come from the file: inspect escapes their control characters (a name cannot break
/// the table's rows or send the terminal an escape sequence) and pads by characters.
#[test]
fn inspect_escapes_names_and_aligns_by_characters() {
    let d = dir("inspect-names");
    let mut rng = Rng(75);
    let t = |name| {
        (
            name,
            "BF16",
            vec![64],
            bf16_weights(&mut Rng(rng.next()), 64),
        )
    };
    // JSON escapes: a newline, an ESC sequence, a tab and a NUL; then plain non-ASCII.
    let names = ["a\\nb", "esc\\u001b[31mred", "t\\tab\\u0000", "ünïcödé ✓"];
    let file = safetensors(&names.map(t));
    let (src, packed) = (d.join("n.safetensors"), d.join("n.znw"));
    std::fs::write(&src, &file).unwrap();
    assert_eq!(
        zipnn(&["compress", s(&src), "-o", s(&packed)], None).code,
        0
    );
    let o = zipnn(&["inspect", s(&packed)], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        !o.stdout.iter().any(|&b| b < 0x20 && b != b'\n'),
        "raw control bytes"
    );
    let text = String::from_utf8(o.stdout).unwrap();
    let table: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("blocks:"))
        .collect();
    assert_eq!(table.len(), 1 + 1 + names.len(), "{text}"); // the header row, __header__, 4 tensors
    for shown in [
        "a\\nb ",
        "esc\\u{1b}[31mred ",
        "t\\tab\\u{0} ",
        "ünïcödé ✓ ",
    ] {
        assert!(
            table.iter().any(|l| l.starts_with(shown)),
            "{shown:?} in\n{text}"
        );
    }
    let widths: Vec<usize> = table.iter().map(|l| l.chars().count()).collect();
    assert!(widths.iter().all(|&w| w == widths[0]), "{widths:?}\n{text}");
}

/// A few bytes get no float-type note (the trial must count the bytes past the last whole
/// element, not call it "about 0.0000"), and an empty file has no ratio: `-` in every report.
#[test]
fn inspect_and_bench_on_empty_and_tiny_files() {
    let d = dir("inspect-tiny");
    for n in 0..=13usize {
        let src = d.join(format!("t{n}.bin"));
        let packed = d.join(format!("t{n}.znw"));
        std::fs::write(
            &src,
            &b"\x17\x80\x3f\x00\xc0\x41\x12\x33\x99\x01\x02\x03\x04"[..n],
        )
        .unwrap();
        assert_eq!(
            zipnn(&["compress", s(&src), "-o", s(&packed)], None).code,
            0
        );
        let o = zipnn(&["inspect", s(&packed)], None);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(!text.contains("note:"), "{n} bytes:\n{text}");
        if n == 0 {
            assert!(text.lines().next().unwrap().contains("ratio -,"), "{text}");
            let o = zipnn(&["bench", s(&src)], None);
            assert_eq!(o.code, 0, "{}", o.stderr);
            let text = String::from_utf8(o.stdout).unwrap();
            assert!(text.contains("| t0.bin | 0.00 | - |"), "{text}");
        }
    }
}

/// Small files of noise, copies of it and zero runs: `--best` cuts chunks around the copies,
/// which there cost more in chunk heads than they save (up to 94 % larger before it kept the
/// default's result as a candidate). It must never be larger than the default.
#[test]
fn best_is_never_larger_than_the_default() {
    let d = dir("best");
    let mut larger = Vec::new();
    for seed in 0..24u64 {
        let mut rng = Rng(1000 + seed);
        let (mut data, mut pool) = (Vec::new(), Vec::<Vec<u8>>::new());
        for _ in 0..3 + rng.below(9) {
            let n = [64, 200, 500, 1024, 3000][rng.below(5) as usize];
            match rng.below(10) {
                0..=3 => {
                    let b: Vec<u8> = (0..n)
                        .map(|_| match rng.below(2) {
                            0 => rng.below(256) as u8,
                            _ => rng.below(8) as u8,
                        })
                        .collect();
                    data.extend_from_slice(&b);
                    pool.push(b);
                }
                4..=6 if !pool.is_empty() => {
                    let b = pool[rng.below(pool.len() as u64) as usize].clone();
                    data.extend_from_slice(&b);
                }
                _ => data.resize(data.len() + n, 0),
            }
        }
        let src = d.join("in.bin");
        std::fs::write(&src, &data).unwrap();
        let size = |extra: &[&str]| {
            let out = d.join("out.znw");
            let mut args = vec!["compress", "-f", s(&src), "-o", s(&out)];
            args.extend_from_slice(extra);
            let o = zipnn(&args, None);
            assert_eq!(o.code, 0, "{}", o.stderr);
            let back = zipnn(&["decompress", s(&out), "-o", "-"], None);
            assert_eq!(back.stdout, data, "seed {seed} {extra:?}");
            std::fs::metadata(&out).unwrap().len()
        };
        // With a chunk size given too, against the default at that size.
        for chunk in [None, Some("4K")] {
            let with = |flags: &[&'static str]| {
                let mut f = flags.to_vec();
                f.extend(chunk.map(|c| ["--chunk-size", c]).iter().flatten());
                size(&f)
            };
            let (default, best) = (with(&[]), with(&["--best"]));
            if best > default {
                larger.push((seed, chunk, data.len(), default, best));
            }
        }
    }
    assert!(
        larger.is_empty(),
        "(seed, --chunk-size, bytes, default, --best): {larger:?}"
    );
}

#[test]
fn bench_reports_ratio_and_speeds_per_file() {
    let d = dir("bench");
    let mut rng = Rng(75);
    let a = d.join("a.bin");
    let b = d.join("b.bin");
    std::fs::write(&a, bf16_weights(&mut rng, 200_000)).unwrap();
    std::fs::write(&b, rng.bytes(100_001)).unwrap();
    let o = zipnn(&["bench", s(&a), s(&b), "--dtype", "bf16"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(2)
        .map(|l| {
            l.split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!((rows[0][0], rows[1][0]), ("a.bin", "b.bin"));
    let ratio = |r: &Vec<&str>| r[2].parse::<f64>().unwrap();
    assert!(ratio(&rows[0]) < 0.75, "bf16 weights: {text}");
    assert!(ratio(&rows[1]) > 0.99, "random bytes: {text}");
    for r in &rows {
        for speed in &r[3..6] {
            assert!(speed.parse::<f64>().unwrap() > 0.0, "{text}");
        }
    }
    // A file that cannot be read is reported, and the others still run.
    let o = zipnn(&["bench", s(&d.join("missing")), s(&a)], None);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let err: Vec<&str> = o.stderr.lines().collect();
    assert!(err[0].contains("cannot read"), "{}", o.stderr);
    assert_eq!(err[1], "zipnn: 1 of 2 files failed the benchmark");
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("| a.bin |"), "{text}");
}

/// Progress goes to stderr only when stderr is a terminal: a pipe gets nothing, a pseudo-terminal
/// (through util-linux `script`) gets the progress line, cleared at the end.
#[test]
fn progress_only_on_a_terminal() {
    let d = dir("progress");
    let mut rng = Rng(76);
    let src = d.join("big.bin");
    let out = d.join("big.znw");
    let args = [
        "compress",
        s(&src),
        "-o",
        s(&out),
        "--best",
        "--threads",
        "1",
        "--force",
    ];
    // Progress shows after 0.5 s, at the end of a batch of chunks: the input grows until
    // compressing it takes well over that on this machine.
    let mut data = f32_weights(&mut rng, 8 << 20);
    loop {
        std::fs::write(&src, &data).unwrap();
        let t = std::time::Instant::now();
        let o = zipnn(&args, None);
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(
            o.stderr.is_empty(),
            "no progress into a pipe: {:?}",
            o.stderr
        );
        if secs > 2.0 {
            break;
        }
        assert!(data.len() < 1 << 30, "compressing 1 GB took {secs} s");
        data.extend_from_within(..);
    }

    let o = on_terminal(&args.join(" "), &d);
    assert!(o.status.success(), "{o:?}");
    let tty = String::from_utf8_lossy(&o.stdout);
    assert!(
        tty.contains("compressing") && tty.contains("MB/s"),
        "progress on the terminal: {tty:?}"
    );
}

/// A named pipe (or a device) as `-o` is written to, not replaced: no `--force` needed, and
/// `--force` must not rename a temporary file over it. (A pipe stands in for /dev/null, which
/// the bug this guards against would replace on the test machine.)
#[test]
fn writes_into_named_pipes() {
    use std::os::unix::fs::FileTypeExt;
    let d = dir("special");
    let mut rng = Rng(77);
    let data = bf16_weights(&mut rng, 30_000);
    let src = d.join("w.bin");
    std::fs::write(&src, &data).unwrap();
    assert_eq!(
        zipnn(&["compress", s(&src), "--dtype", "bf16"], None).code,
        0
    );
    let znw = d.join("w.bin.znw");
    let packed = std::fs::read(&znw).unwrap();
    let cases: [(&str, &[&str], &[u8]); 2] = [
        ("decompress", &[s(&znw)], &data),
        ("compress", &[s(&src), "--dtype", "bf16"], &packed),
    ];
    for (i, (cmd, args, want)) in cases.into_iter().enumerate() {
        for force in [false, true] {
            let fifo = d.join(format!("pipe{i}{force}"));
            assert!(Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success());
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::read(fifo).unwrap())
            };
            let mut all = vec![cmd];
            all.extend_from_slice(args);
            all.extend(["-o", s(&fifo)]);
            if force {
                all.push("--force");
            }
            let o = zipnn(&all, None);
            assert_eq!(o.code, 0, "{all:?}: {}", o.stderr);
            assert!(
                std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
                "{all:?}: the pipe is still a pipe"
            );
            assert!(
                reader.join().unwrap() == want,
                "{all:?}: the reader got the bytes"
            );
        }
    }
}

#[test]
fn inspect_reads_zipnn_files() {
    let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zipnn");
    // A streaming .znn of 5 frames: decompress reads it, so inspect must not say "not compressed".
    let o = zipnn(&["inspect", s(&fx.join("bf16_stream8k.znn"))], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = String::from_utf8(o.stdout).unwrap();
    let first = text.lines().next().unwrap();
    for part in [
        "ZipNN 0.5.4 frames",
        "bfloat16",
        "36000 -> 24227 bytes",
        "5 frame(s)",
        "streaming chunk 8192",
    ] {
        assert!(first.contains(part), "{part:?} in {first:?}");
    }
    assert_eq!(text.lines().count(), 2 + 5, "{text}");
    // A torch frame shows its shape.
    let o = zipnn(&["inspect", s(&fx.join("torch_fp16_2x300x4.znn"))], None);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.lines().nth(2).unwrap().ends_with("[2, 300, 4]"),
        "{text}"
    );
    // .znn.safetensors: each tensor with its original type and shape.
    let o = zipnn(
        &["inspect", s(&fx.join("st_minilm_meta.znn.safetensors"))],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = String::from_utf8(o.stdout).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with("encoder.layer.0.attention.self.query.weight "))
        .unwrap_or_else(|| panic!("no row in:\n{text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], "BF16", "{row}");
    assert!(row.contains("[48, 384]") && row.contains("36864"), "{row}");
    // Its own frame's size (tensors restore in another order than the file holds them).
    assert_eq!(cols[cols.len() - 2], "24519", "{row}");
    assert!(text.contains("5 held as ZipNN frames"), "{text}");
    // A broken frame is an error with its code, not a table.
    let mut bad = std::fs::read(fx.join("bf16_stream8k.znn")).unwrap();
    bad.truncate(bad.len() - 10);
    let o = zipnn(&["inspect", "-"], Some(&bad));
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("ZNN_"), "{}", o.stderr);
}

/// Where chunk `c`'s body checksum is in a `.znw` file, and the chunk's decoded offset.
fn body_sum_at(packed: &[u8], c: usize) -> (usize, u64) {
    let (_, chunks) =
        zipnn_wasm::format::znw::index(packed, &zipnn_wasm::Limits::default()).unwrap();
    let c = &chunks[c];
    (
        c.body_offset as usize - zipnn_wasm::format::znw::chunk::HEAD_LEN + 12,
        c.offset,
    )
}

#[test]
fn test_checks_every_checksum_and_writes_nothing() {
    let d = dir("test");
    let mut rng = Rng(74);
    let data = bf16_weights(&mut rng, 300_000);
    let src = d.join("w.bin");
    std::fs::write(&src, &data).unwrap();
    let o = zipnn(
        &[
            "compress",
            s(&src),
            "--dtype",
            "bf16",
            "--chunk-size",
            "65536",
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let good = d.join("w.bin.znw");
    let packed = std::fs::read(&good).unwrap();
    let o = zipnn(&["test", s(&good)], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let line = format!("{}: OK, {} bytes\n", s(&good), data.len());
    assert_eq!(String::from_utf8_lossy(&o.stdout), line);
    assert_eq!(
        std::fs::read_dir(&d).unwrap().count(),
        2,
        "test wrote a file"
    );
    let o = zipnn(&["test", "-"], Some(&packed));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("-: OK, {} bytes\n", data.len())
    );

    // A changed body checksum cannot change a decoded byte: decompress restores the file (it
    // reads body checksums only when the decoded bytes fail theirs), test reports it.
    let mut p = packed.clone();
    let (at, offset) = body_sum_at(&packed, 2);
    p[at] ^= 0x10;
    let bad = d.join("bad.znw");
    std::fs::write(&bad, &p).unwrap();
    let out = d.join("bad.out");
    let o = zipnn(&["decompress", s(&bad), "-o", s(&out)], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(std::fs::read(&out).unwrap() == data);
    let o = zipnn(&["test", s(&bad)], None);
    let msg = format!("checksum mismatch in chunk body at decoded offset {offset}");
    assert_one_line_error(&o, 1, &msg);
    assert!(o.stdout.is_empty());
    // Several files: one line per failure, then a summary; the good ones still say OK.
    let cut = d.join("cut.znw");
    std::fs::write(&cut, &packed[..packed.len() / 2]).unwrap();
    let o = zipnn(&["test", s(&good), s(&bad), s(&cut)], None);
    assert_eq!(o.code, 1);
    assert_eq!(String::from_utf8_lossy(&o.stdout), line);
    let err: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(err.len(), 3, "{}", o.stderr);
    assert!(err[0].contains("bad.znw") && err[0].contains("ZNN_CORRUPT"));
    assert!(err[1].contains("cut.znw") && err[1].contains("ZNN_TRUNCATED"));
    assert_eq!(err[2], "zipnn: 2 of 3 files failed the test");

    // A delta needs its base, and is decoded from memory: the same check.
    let next: Vec<u8> = data
        .iter()
        .enumerate()
        .map(|(i, &b)| if i % 97 == 0 { b ^ 1 } else { b })
        .collect();
    let src2 = d.join("w2.bin");
    std::fs::write(&src2, &next).unwrap();
    let o = zipnn(
        &[
            "compress",
            s(&src2),
            "--dtype",
            "bf16",
            "--chunk-size",
            "65536",
            "--base",
            s(&src),
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let delta = d.join("w2.bin.znw");
    let o = zipnn(&["test", s(&delta)], None);
    assert_one_line_error(&o, 1, "ZNN_UNSUPPORTED");
    let o = zipnn(&["test", s(&delta), "--base", s(&src)], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let packed = std::fs::read(&delta).unwrap();
    let mut p = packed.clone();
    let (at, offset) = body_sum_at(&packed, 1);
    p[at] ^= 1;
    std::fs::write(&delta, &p).unwrap();
    let o = zipnn(&["test", s(&delta), "--base", s(&src)], None);
    assert_one_line_error(&o, 1, &format!("chunk body at decoded offset {offset}"));

    // ZipNN's files (no checksums of their own): decoded and parsed through.
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zipnn");
    for f in ["bf16_stream8k.znn", "st_minilm_meta.znn.safetensors"] {
        let o = zipnn(&["test", s(&fx.join(f))], None);
        assert_eq!(o.code, 0, "{f}: {}", o.stderr);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains(": decodes, ") && text.contains("no checksums"),
            "{text}"
        );
    }
}

/// `.znn.safetensors` files on disk are restored a tensor at a time (memory for one compressed
/// tensor and one chunk, not the file twice): the same bytes as the library's whole-file decode
/// and as the stdin path, and a file cut short anywhere is one typed error that leaves no
/// output behind, for `decompress` and `test` alike.
#[test]
fn znn_safetensors_files_are_restored_from_disk() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zipnn");
    let d = dir("znn-safetensors");
    for name in [
        "st_minilm_meta.znn.safetensors",
        "st_minilm_nometa.znn.safetensors",
    ] {
        let packed = std::fs::read(fx.join(name)).unwrap();
        let want = zipnn_wasm::decompress(&packed, &zipnn_wasm::Limits::default()).unwrap();
        let out = d.join("out.safetensors");
        let o = zipnn(
            &["decompress", s(&fx.join(name)), "-o", s(&out), "--force"],
            None,
        );
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        assert!(std::fs::read(&out).unwrap() == want, "{name}");
        let o = zipnn(&["decompress", "-", "-o", "-"], Some(&packed));
        assert!(o.code == 0 && o.stdout == want, "{name} through stdin");
        std::fs::remove_file(&out).unwrap();
        let cut = d.join("cut.znn.safetensors");
        for at in [packed.len() / 3, packed.len() / 2, packed.len() - 1] {
            std::fs::write(&cut, &packed[..at]).unwrap();
            let o = zipnn(&["decompress", s(&cut), "-o", s(&out)], None);
            assert_one_line_error(&o, 1, "ZNN_TRUNCATED");
            assert!(!out.exists(), "{name} cut at {at}: output left behind");
            let o = zipnn(&["test", s(&cut)], None);
            assert_one_line_error(&o, 1, "ZNN_TRUNCATED");
        }
    }
}

/// Peak memory of that path and of stdin's, measured: a 24 MB model in three 8 MB bf16
/// tensors, restored to stdout. The test reads the output slowly enough that the child is still running (blocked on
/// the pipe, its last piece unwritten) when its high-water mark is read from /proc. Decoding
/// the file in memory took the compressed and the restored file at once (~40 MB here).
#[cfg(target_os = "linux")]
#[test]
fn znn_safetensors_restore_holds_one_tensor() {
    use std::io::Read;
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    const N: usize = 8 << 20;
    let (mut blobs, mut meta, mut head) = (Vec::new(), Vec::new(), Vec::new());
    let mut seed = 1u32;
    let mut off = 0;
    for t in 0..3 {
        // bf16 weights of a narrow bell: a skewed exponent, random low bits.
        let raw: Vec<u8> = (0..N / 2)
            .flat_map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let e = 0x3C00 + ((seed >> 28) as u16) * 0x80 / 4;
                (e | (seed >> 9) as u16 & 0x807F).to_le_bytes()
            })
            .collect();
        let blob = zipnn::compress(&raw, &ZipnnOptions::new(ZDType::BF16)).unwrap();
        let name = format!("w{t}");
        meta.push(format!(
            r#"\"{name}\": {{\"dtype\": \"bfloat16\", \"shape\": \"[{}]\"}}"#,
            N / 2
        ));
        head.push(format!(
            r#""{name}":{{"dtype":"U8","shape":[{}],"data_offsets":[{off},{}]}}"#,
            blob.len(),
            off + blob.len()
        ));
        off += blob.len();
        blobs.push(blob);
    }
    let json = format!(
        r#"{{"__metadata__":{{"znn_compressed_vectors":"{{{}}}","format":"pt"}},{}}}"#,
        meta.join(", "),
        head.join(",")
    );
    let mut file = (json.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(json.as_bytes());
    blobs.iter().for_each(|b| file.extend_from_slice(b));
    let want = zipnn_wasm::decompress(&file, &zipnn_wasm::Limits::default()).unwrap();
    assert!(want.len() > 3 * N, "the file restores to its three tensors");
    let path = dir("znn-safetensors-memory").join("m.znn.safetensors");
    std::fs::write(&path, &file).unwrap();

    // From disk (read at any offset), and from stdin (as it arrives: the file lists its
    // compressed tensors, so the restored header follows from its JSON header).
    for from_stdin in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zipnn"));
        if from_stdin {
            cmd.args(["decompress", "-", "-o", "-"])
                .stdin(std::fs::File::open(&path).unwrap());
        } else {
            cmd.args(["decompress", s(&path), "-o", "-"])
                .stdin(Stdio::null());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut got = vec![0u8; want.len()];
        // All but the last 1 MiB: the child cannot finish before we read on.
        let hold = want.len() - (1 << 20);
        stdout.read_exact(&mut got[..hold]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let peak_kb: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        stdout.read_exact(&mut got[hold..]).unwrap();
        assert!(child.wait().unwrap().success());
        assert!(got == want);
        let compressed_mb = file.len() >> 20;
        eprintln!(
            "stdin {from_stdin}: peak {} MB restoring {compressed_mb} MB -> {} MB",
            peak_kb >> 10,
            want.len() >> 20
        );
        assert!(
            peak_kb < 20 << 10,
            "stdin {from_stdin}: peak {peak_kb} kB: more than one compressed tensor and a chunk"
        );
    }
}

/// Inputs and outputs that are not regular files, on the paths that decode from memory or
/// from disk: a `.znn.safetensors` file through a named pipe (its bytes read once, not lost to
/// a probe), a pipe that sends 16 bytes of nothing and stays open (refused at once, not read
/// to an end that never comes), and a directory as the output (an error that leaves no
/// temporary file behind).
#[cfg(unix)]
#[test]
fn pipes_and_directories_around_znn_safetensors() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zipnn");
    let packed = std::fs::read(fx.join("st_minilm_meta.znn.safetensors")).unwrap();
    let d = dir("znn-safetensors-special");
    let mkfifo = |p: &Path| {
        assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
    };

    let fifo = d.join("in.znn.safetensors");
    mkfifo(&fifo);
    for _ in 0..5 {
        let writer = {
            let (fifo, packed) = (fifo.clone(), packed.clone());
            std::thread::spawn(move || std::fs::write(fifo, packed))
        };
        let o = zipnn(&["test", s(&fifo)], None);
        assert_eq!(o.code, 0, "{}", o.stderr);
        writer.join().unwrap().unwrap();
    }

    let open = d.join("open");
    mkfifo(&open);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let open = open.clone();
        std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(open).unwrap();
            w.write_all(&[0u8; 16]).unwrap();
            // Kept open (no end of input) until the test is done.
            let _ = rx.recv_timeout(std::time::Duration::from_secs(20));
        })
    };
    let start = std::time::Instant::now();
    let o = zipnn(&["test", s(&open)], None);
    assert_one_line_error(&o, 1, "ZNN_NOT_COMPRESSED");
    assert!(
        start.elapsed().as_secs() < 15,
        "read to the end of an endless input"
    );
    tx.send(()).unwrap();
    holder.join().unwrap();

    let out = d.join("outdir");
    std::fs::create_dir(&out).unwrap();
    let input = fx.join("st_minilm_meta.znn.safetensors");
    let o = zipnn(&["decompress", s(&input), "-o", s(&out), "--force"], None);
    assert_one_line_error(&o, 1, "outdir is a directory");
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// A ZipNN delta decoded with `--base` notes that its base cannot be checked; a frame that is
/// not a delta, given a `--base` anyway, decodes without that note but says the base is not
/// used (as a `.znw` file does). A base of another size than the file is refused, as zipnn
/// refuses it.
#[test]
fn zipnn_base_note_only_for_deltas() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zipnn");
    let d = dir("zipnn-base-note");
    let out = d.join("out.bin");
    let base = fx.join("bf16_delta_byte.base.bin");
    for (name, note) in [("bf16_delta_byte", true), ("bf16_normal_8k", false)] {
        let o = zipnn(
            &[
                "decompress",
                s(&fx.join(format!("{name}.znn"))),
                "--base",
                s(&base),
                "-o",
                s(&out),
                "--force",
            ],
            None,
        );
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(fx.join(format!("{name}.bin"))).unwrap()
        );
        assert_eq!(
            o.stderr.contains("no checksum of their base"),
            note,
            "{name}: {}",
            o.stderr
        );
        assert_eq!(
            o.stderr.contains("is not a delta: --base is not used"),
            !note,
            "{name}: {}",
            o.stderr
        );
    }
    let plain = std::fs::read(fx.join("bf16_delta_byte.base.bin")).unwrap();
    let (longer, shorter) = (d.join("longer.bin"), d.join("shorter.bin"));
    std::fs::write(&longer, [&plain[..], &[0; 100]].concat()).unwrap();
    std::fs::write(&shorter, &plain[..plain.len() - 2]).unwrap();
    let delta = fx.join("bf16_delta_byte.znn");
    for (b, says) in [(&longer, "has more than"), (&shorter, "has")] {
        let o = zipnn(&["test", s(&delta), "--base", s(b)], None);
        assert_one_line_error(&o, 1, says);
        assert!(o.stderr.contains("needs a base of"), "{}", o.stderr);
    }
}

/// `compress --base` takes a base of up to 4 times the file's size plus 256 MiB, and refuses
/// one byte more with the cap in its message (it once refused the cap itself).
#[test]
fn compress_base_cap_is_inclusive() {
    let d = dir("base-cap");
    let file = d.join("file.bin");
    std::fs::write(&file, b"abcd").unwrap();
    let out = d.join("file.znw");
    let cap = 4 * 4 + (256 << 20);
    let mut base = vec![0u8; cap];
    base[..4].copy_from_slice(b"abce");
    let args = [
        "compress",
        s(&file),
        "--base",
        "-",
        "-o",
        s(&out),
        "--force",
    ];
    let o = zipnn(&args, Some(&base));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = zipnn(&["test", s(&out), "--base", "-"], Some(&base));
    assert_eq!(o.code, 0, "{}", o.stderr);
    base.push(0);
    let o = zipnn(&args, Some(&base));
    assert_one_line_error(&o, 1, &format!("has more than {cap} bytes"));
}

/// Ctrl-C, SIGTERM or SIGHUP while an output is being written removes its temporary file (as
/// gzip does), then ends the program as that signal does; without the handler a 300 MB partial
/// file stayed behind, and an exit with 130 after it let a shell loop go on past Ctrl-C.
/// A signal the CLI was started with as ignored stays ignored.
/// SIGXCPU (past the soft `ulimit -t`) too, ending with the status 152 its own end gives (no core).
#[test]
fn a_signal_leaves_no_temporary_file() {
    let d = dir("signals");
    let mut rng = Rng(19);
    let data = f32_weights(&mut rng, 500_000);
    let c = zipnn(&["compress", "-", "--dtype", "fp32"], Some(&data));
    assert_eq!(c.code, 0, "{}", c.stderr);
    if ignored_here("TERM") {
        eprintln!("skipped: this test was started with SIGTERM ignored, as its children are");
        return;
    }
    // Under `nohup` SIGHUP stays ignored (a logout does not end a long compression), as in
    // gzip; the handler of earlier versions caught it regardless.
    let nohup = cfg!(target_os = "linux");
    for (signal, nohup) in [
        ("INT", false),
        ("TERM", false),
        ("HUP", false),
        ("XCPU", false),
        ("HUP", nohup),
    ] {
        let name = format!("out.{signal}{}", if nohup { ".nohup" } else { "" });
        let out = d.join(&name);
        let mut command = Command::new(if nohup {
            "nohup"
        } else {
            env!("CARGO_BIN_EXE_zipnn")
        });
        if nohup {
            command.arg(env!("CARGO_BIN_EXE_zipnn"));
        }
        let mut child = command
            .args(["decompress", "-", "-o", s(&out)])
            .stdout(Stdio::null())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Half the file, and the pipe kept open: decoding waits with its output half written.
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(&c.stdout[..c.stdout.len() / 2]).unwrap();
        let temp = || {
            std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.starts_with(&name))
                .collect::<Vec<_>>()
        };
        let start = std::time::Instant::now();
        while temp().is_empty() && start.elapsed().as_secs() < 30 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(temp().len(), 1, "{signal}: the temporary file was not made");
        send(signal, &child);
        // A signal this test was started with as ignored is ignored by the child too, as the
        // CLI leaves it (a background job of a script ignores SIGINT): SIGTERM ends it then.
        if nohup || ignored_here(signal) {
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert!(
                child.try_wait().unwrap().is_none(),
                "{signal}: inherited as ignored"
            );
            send("TERM", &child);
        }
        let o = child.wait_with_output().unwrap();
        drop(pipe);
        // Ended by the signal, as gzip is (a script's loop stops at Ctrl-C only then); SIGXCPU
        // by an exit with its status (no core dump).
        use std::os::unix::process::ExitStatusExt;
        let by = if nohup || ignored_here(signal) {
            "TERM"
        } else {
            signal
        };
        let status = (o.status.code(), o.status.signal());
        if by == "XCPU" {
            assert_eq!(status, (Some(152), None), "{signal}");
        } else {
            assert_eq!(status, (None, Some(signal_number(by))), "{signal}");
        }
        assert!(temp().is_empty(), "{signal}: left {:?}", temp());
    }
}

fn send(signal: &str, child: &std::process::Child) {
    let kill = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

/// The number of the signals these tests send.
fn signal_number(signal: &str) -> i32 {
    match signal {
        "HUP" => 1,
        "INT" => 2,
        "TERM" => 15,
        "XCPU" => 24,
        _ => panic!("{signal}"),
    }
}

/// Whether this process was started with `signal` ignored (Linux says; elsewhere, no).
fn ignored_here(signal: &str) -> bool {
    let n = signal_number(signal);
    if n == 24 {
        return false;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"));
    mask.and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1 << (n - 1)) != 0)
}

/// Past `ulimit -f` a write fails (the signal no longer ends the program): that output is
/// removed and the next file goes on, as in gzip.
#[cfg(unix)]
#[test]
fn past_the_file_size_limit_one_file_fails_and_the_next_goes_on() {
    let d = dir("ulimit-f");
    let mut rng = Rng(23);
    let (big, small) = (d.join("big.bin"), d.join("small.bin"));
    std::fs::write(&big, f32_weights(&mut rng, 1 << 20)).unwrap();
    std::fs::write(&small, f32_weights(&mut rng, 1000)).unwrap();
    // 200 blocks: 100 or 200 KiB by the shell's unit, far below big's 3.5 MB output.
    let o = Command::new("sh")
        .args(["-c", "ulimit -f 200 && exec \"$0\" compress \"$1\" \"$2\""])
        .args([env!("CARGO_BIN_EXE_zipnn"), s(&big), s(&small)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("big.bin.znw: File too large"), "{err}");
    assert!(err.contains("1 of 2 files failed"), "{err}");
    let mut names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["big.bin", "small.bin", "small.bin.znw"]);
}

/// A large safetensors file is compressed as a stream: the same `.znw` as a whole-file
/// compress, in memory far below the file's size (here under an address-space limit of
/// 250 MB for a 256 MiB file, which a whole-file compress cannot even read).
#[test]
fn a_large_safetensors_file_compresses_as_a_stream_in_bounded_memory() {
    let d = dir("streamed");
    let mut rng = Rng(11);
    let block = bf16_weights(&mut rng, 4 << 20); // 8 MiB of weights, tiled
                                                 // The header, then the data written tensor by tensor (no 256 MiB buffer here).
    let n = 32;
    let entries: Vec<String> = (0..n)
        .map(|i| {
            let (s, e) = (i * block.len(), (i + 1) * block.len());
            format!(
                "\"w{i}\":{{\"dtype\":\"BF16\",\"shape\":[1024,{}],\"data_offsets\":[{s},{e}]}}",
                block.len() / 2048
            )
        })
        .collect();
    let mut json = format!("{{{}}}", entries.join(","));
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut fixed = (json.len() as u64).to_le_bytes().to_vec();
    fixed.extend_from_slice(json.as_bytes());
    let src = d.join("big.safetensors");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&src).unwrap());
        f.write_all(&fixed).unwrap();
        for _ in 0..n {
            f.write_all(&block).unwrap();
        }
    }
    let run = |args: &[&str], stream_above: Option<&str>| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("ulimit -v \"$LIMIT\" && exec \"$@\"")
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_zipnn"))
            .args(args)
            .env("LIMIT", "250000")
            // One malloc arena: the per-thread ones reserve 64 MiB of address space each.
            .env("MALLOC_ARENA_MAX", "1")
            .stdin(Stdio::null());
        if let Some(v) = stream_above {
            c.env("ZIPNN_STREAM_ABOVE", v);
        }
        c.output().unwrap()
    };
    let streamed = d.join("streamed.znw");
    for extra in [&[][..], &["--verify", "--threads", "2"][..]] {
        let mut args = vec!["compress", s(&src), "-o", s(&streamed), "--force"];
        args.extend_from_slice(extra);
        let o = run(&args, Some("1"));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // Read whole, the same file does not fit in that memory.
        let o = run(
            &[
                "compress",
                s(&src),
                "-o",
                s(&d.join("whole.znw")),
                "--force",
            ],
            None,
        );
        assert!(!o.status.success(), "a whole-file compress fit in 250 MB");
    }
    // Without the limit, the whole-file compress writes the same bytes.
    let whole = d.join("whole.znw");
    let o = zipnn(&["compress", s(&src), "-o", s(&whole), "--force"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        std::fs::read(&whole).unwrap() == std::fs::read(&streamed).unwrap(),
        "streamed and whole differ"
    );
    let back = d.join("back.safetensors");
    let o = zipnn(
        &["decompress", s(&streamed), "-o", s(&back), "--force"],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&src).unwrap());
}

/// ZipNN's streaming frames are written one at a time: a 264 MiB raw file (and the same bytes
/// through a pipe) compresses with `--streaming-chunk` under an address-space limit of 250 MB,
/// which the file does not fit in, to exactly what coding the whole buffer at once writes.
#[test]
fn zipnn_streaming_frames_compress_in_bounded_memory() {
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    let d = dir("zipnn-streamed");
    let mut rng = Rng(12);
    let block = bf16_weights(&mut rng, (4 << 20) + 333); // tiled: frames fall across tiles
    let src = d.join("big.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&src).unwrap());
        for _ in 0..33 {
            f.write_all(&block).unwrap();
        }
    }
    let data = std::fs::read(&src).unwrap();
    let mut opts = ZipnnOptions::new(ZDType::BF16);
    opts.streaming_log2 = Some(20);
    let want = zipnn::compress(&data, &opts).unwrap();
    drop(data);
    let out = d.join("big.bin.znn");
    for from_pipe in [false, true] {
        let cmd = if from_pipe {
            "ulimit -v 250000 && cat \"$1\" | exec \"$0\" compress - -o \"$2\" --force --format zipnn --dtype bf16 --streaming-chunk 1048576"
        } else {
            "ulimit -v 250000 && exec \"$0\" compress \"$1\" -o \"$2\" --force --format zipnn --dtype bf16 --streaming-chunk 1048576"
        };
        let o = Command::new("sh")
            .args(["-c", cmd, env!("CARGO_BIN_EXE_zipnn"), s(&src), s(&out)])
            // One malloc arena: the per-thread ones reserve 64 MiB of address space each.
            .env("MALLOC_ARENA_MAX", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            std::fs::read(&out).unwrap() == want,
            "pipe {from_pipe}: not the whole-buffer frames"
        );
    }
}

/// Outputs take the input file's permissions and times, as gzip's and zstd's do: a private
/// model stays private, and `make` sees the output no newer than its source.
#[cfg(unix)]
#[test]
fn outputs_keep_the_inputs_permissions_and_times() {
    use std::os::unix::fs::PermissionsExt;
    let d = dir("meta");
    let src = d.join("private.bin");
    std::fs::write(&src, bf16_weights(&mut Rng(91), 3000)).unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o600)).unwrap();
    let then = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_577_836_800);
    let f = std::fs::File::options().write(true).open(&src).unwrap();
    f.set_times(std::fs::FileTimes::new().set_modified(then))
        .unwrap();
    drop(f);
    let meta = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.permissions().mode() & 0o777, m.modified().unwrap())
    };
    // Another group, where this user may set one (root): the output is in it too.
    use std::os::unix::fs::MetadataExt;
    let group = std::os::unix::fs::chown(&src, None, Some(4321)).is_ok();
    let packed = d.join("private.bin.znw");
    assert_eq!(zipnn(&["compress", s(&src)], None).code, 0);
    assert_eq!(meta(&packed), (0o600, then));
    if group {
        assert_eq!(std::fs::metadata(&packed).unwrap().gid(), 4321);
    }
    let back = d.join("back.bin");
    assert_eq!(
        zipnn(&["decompress", s(&packed), "-o", s(&back)], None).code,
        0
    );
    assert_eq!(meta(&back), (0o600, then));
    // From stdin there is nothing to copy: the default mode, the current time.
    let piped = d.join("piped.znw");
    let o = zipnn(&["compress", "-", "-o", s(&piped)], Some(b"abc"));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_ne!(meta(&piped).1, then);
}

/// The conventions of gzip's and zstd's command lines that scripts rely on.
#[test]
fn command_line_conventions() {
    let d = dir("conventions");
    let o = zipnn(&["--version"], None);
    assert_eq!(o.code, 0);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("zipnn {}", env!("CARGO_PKG_VERSION"))
    );
    // `--` ends the options: a file whose name starts with a dash.
    let dash = d.join("-w.bin");
    std::fs::write(&dash, bf16_weights(&mut Rng(92), 500)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_zipnn"))
        .current_dir(&d)
        .args(["compress", "--", "-w.bin"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert!(d.join("-w.bin.znw").exists());
    // `--name=value` as well as `--name value`; a flag takes no value.
    let packed = d.join("eq.znw");
    let o = zipnn(
        &[
            "compress",
            s(&dash),
            "--threads=2",
            &format!("--output={}", s(&packed)),
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(packed.exists());
    let o = zipnn(&["compress", s(&dash), "--verify=yes", "-o", "-"], None);
    assert_one_line_error(&o, 2, "--verify takes no value");
    // test and inspect take the --force their terminal message asks for.
    for cmd in ["test", "inspect"] {
        let o = zipnn(&[cmd, s(&packed), "--force"], None);
        assert_eq!(o.code, 0, "{cmd}: {}", o.stderr);
    }
    // A compressed name is not compressed again, nor an unknown suffix decoded to a guessed
    // name, unless the output is named.
    let o = zipnn(&["compress", s(&packed)], None);
    assert_one_line_error(&o, 1, "already has the .znw suffix");
    assert!(!d.join("eq.znw.znw").exists());
    let odd = d.join("model.gz");
    std::fs::copy(&packed, &odd).unwrap();
    let o = zipnn(&["decompress", s(&odd)], None);
    assert_one_line_error(&o, 1, "unknown suffix");
    let o = zipnn(
        &["decompress", s(&odd), "-o", s(&d.join("model.bin"))],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    // With one input as with several, the error names the file.
    let bad = d.join("bad.znw");
    std::fs::write(&bad, b"ZNW? not really").unwrap();
    let o = zipnn(&["test", s(&bad)], None);
    assert_one_line_error(&o, 1, &format!("zipnn: {}: ", s(&bad)));
    let o = zipnn(&["decompress", s(&bad), "-o", "-"], None);
    assert_one_line_error(&o, 1, &format!("zipnn: {}: ", s(&bad)));
}

/// A name that is not UTF-8 is a one-line usage error, not a panic, and writes nothing.
#[cfg(unix)]
#[test]
fn a_name_that_is_not_utf8_is_an_error() {
    use std::os::unix::ffi::OsStrExt;
    let d = dir("not-utf8");
    let name = std::ffi::OsStr::from_bytes(b"w\xff.bin");
    std::fs::write(d.join(name), b"abc").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_zipnn"))
        .current_dir(&d)
        .arg("compress")
        .arg(name)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is not valid UTF-8") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
}

/// Compressed data is not written to a terminal, nor read from one, without `--force`.
#[test]
fn no_compressed_data_on_a_terminal() {
    let d = dir("terminal");
    let src = d.join("w.bin");
    std::fs::write(&src, bf16_weights(&mut Rng(93), 500)).unwrap();
    let on_tty = |args: &str| {
        let o = on_terminal(args, &d);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, tty) = on_tty(&format!("compress {} -o -", s(&src)));
    assert_eq!(code, Some(1), "{tty}");
    assert!(tty.contains("not written to a terminal"), "{tty}");
    let (code, tty) = on_tty("decompress -");
    assert_eq!(code, Some(1), "{tty}");
    assert!(tty.contains("not read from a terminal"), "{tty}");
    let (code, tty) = on_tty(&format!("compress {} -o - --force", s(&src)));
    assert_eq!(code, Some(0), "{tty}");
}

/// A name that fits the usual 255-byte limit works, though its temporary name would not (it
/// is cut short); a symbolic link that points nowhere is kept unless --force (as gzip).
#[test]
fn long_names_and_dangling_links_at_the_output() {
    let d = dir("names");
    let mut rng = Rng(5);
    let data = bf16_weights(&mut rng, 20_000);
    let long = d.join(format!("{}é.bin", "m".repeat(242))); // 248 bytes; with .znw 252
    std::fs::write(&long, &data).unwrap();
    let o = zipnn(&["compress", s(&long)], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let packed = d.join(format!("{}é.bin.znw", "m".repeat(242)));
    std::fs::remove_file(&long).unwrap();
    let o = zipnn(&["decompress", s(&packed)], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(std::fs::read(&long).unwrap(), data);
    let names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary left: {names:?}");

    #[cfg(unix)]
    {
        let link = d.join("link.znw");
        std::os::unix::fs::symlink(d.join("nowhere"), &link).unwrap();
        let o = zipnn(&["compress", s(&long), "-o", s(&link)], None);
        assert_one_line_error(&o, 1, "link.znw already exists (use --force to overwrite)");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let o = zipnn(&["compress", s(&long), "-o", s(&link), "--force"], None);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
    }
}

/// A delta whose header claims a base no memory holds, given a real base file: refused as the
/// wrong base, naming both sizes, not as too large for memory (it was, the claim reserved
/// before the file was looked at).
#[test]
fn a_delta_claiming_a_huge_base_is_refused_as_the_wrong_base() {
    use zipnn_wasm::format::znw::Header;
    let d = dir("hugebase");
    let mut rng = Rng(17);
    let base = bf16_weights(&mut rng, 20_000);
    let next: Vec<u8> = base.iter().map(|&b| b ^ 3).collect();
    let (old, new, delta) = (d.join("old.bin"), d.join("new.bin"), d.join("d.znw"));
    std::fs::write(&old, &base).unwrap();
    std::fs::write(&new, &next).unwrap();
    let o = zipnn(
        &["compress", s(&new), "-o", s(&delta), "--base", s(&old)],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let data = std::fs::read(&delta).unwrap();
    let (mut h, used) = Header::parse(&data).unwrap();
    h.base.as_mut().unwrap().len = 1 << 50;
    let mut crafted = Vec::new();
    assert!(h.write(&mut crafted));
    crafted.extend_from_slice(&data[used..]);
    std::fs::write(&delta, &crafted).unwrap();
    let o = zipnn(
        &[
            "decompress",
            s(&delta),
            "-o",
            s(&d.join("out")),
            "--base",
            s(&old),
        ],
        None,
    );
    assert_one_line_error(&o, 1, "is not the one this delta was made against");
    assert!(
        o.stderr.contains(&format!("({} bytes)", base.len())),
        "{}",
        o.stderr
    );
}

/// `decompress --tensor NAME -o OUT`: one tensor's bytes from a `.znw`, a `.znn.safetensors`
/// and a file of ZipNN frames (a frame), each equal to the original's; the typed one-line
/// errors for what it does not take.
#[test]
fn decompress_one_tensor() {
    let d = dir("tensor");
    let mut rng = Rng(21);
    let a = bf16_weights(&mut rng, 300_000);
    let b = f32_weights(&mut rng, 1000);
    let file = safetensors(&[
        ("a", "BF16", vec![300_000], a.clone()),
        ("b", "F32", vec![1000], b.clone()),
    ]);
    let orig = d.join("m.safetensors");
    std::fs::write(&orig, &file).unwrap();
    let packed = d.join("m.safetensors.znw");
    let o = zipnn(&["compress", s(&orig), "--chunk-size", "65536"], None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = zipnn(
        &["decompress", s(&packed), "--tensor", "a", "-o", "-"],
        None,
    );
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert!(o.stdout == a);
    let out = d.join("b.bin");
    let o = zipnn(
        &["decompress", s(&packed), "--tensor=b", "-o", s(&out)],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), b);
    // The output is not overwritten without --force.
    let o = zipnn(
        &["decompress", s(&packed), "--tensor", "b", "-o", s(&out)],
        None,
    );
    assert_one_line_error(&o, 1, "already exists");

    // A zipnn-written .znn.safetensors (tests/fixtures/zipnn) and ZipNN frames of our writer.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zipnn");
    let st = fixtures.join("st_minilm_meta.znn.safetensors");
    let plain = std::fs::read(fixtures.join("st_minilm_meta.safetensors")).unwrap();
    let t = zipnn_wasm::format::safetensors::parse(&plain, plain.len() as u64).unwrap();
    let last = t.tensors.last().unwrap();
    let o = zipnn(
        &["decompress", s(&st), "--tensor", &last.name, "-o", "-"],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout == plain[last.start as usize..last.end as usize]);
    let raw = d.join("a.bin");
    std::fs::write(&raw, &a).unwrap();
    let znn = d.join("a.bin.znn");
    let o = zipnn(
        &[
            "compress",
            s(&raw),
            "--format",
            "zipnn",
            "--dtype",
            "bf16",
            "--streaming-chunk",
            "65536",
        ],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = zipnn(
        &["decompress", s(&znn), "--tensor", "frame 2", "-o", "-"],
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout == a[2 * 65536..3 * 65536]);

    // What it does not take: one-line errors, nothing written.
    let p = s(&packed);
    let o = zipnn(&["decompress", p, "--tensor", "c", "-o", "-"], None);
    assert_one_line_error(&o, 1, "no segment named \"c\"");
    assert!(o.stdout.is_empty());
    assert_one_line_error(
        &zipnn(&["decompress", p, "--tensor", "a"], None),
        2,
        "needs -o",
    );
    let two = zipnn(&["decompress", p, p, "--tensor", "a", "-o", "-"], None);
    assert_one_line_error(&two, 2, "one input");
    let base = zipnn(
        &["decompress", p, "--tensor", "a", "--base", p, "-o", "-"],
        None,
    );
    assert_one_line_error(&base, 2, "--base does not apply");
    let bytes = std::fs::read(&packed).unwrap();
    let o = zipnn(
        &["decompress", "-", "--tensor", "a", "-o", "-"],
        Some(&bytes),
    );
    assert_one_line_error(&o, 1, "not stdin");
    let cut = d.join("cut.znw");
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    let o = zipnn(&["decompress", s(&cut), "--tensor", "a", "-o", "-"], None);
    assert_one_line_error(&o, 1, "truncated");
    assert!(o.stdout.is_empty());
}

/// `--threads 1024` in a 400 MB address space succeeds. It panicked when the OS would not start
/// a thread (the calling thread now does that share), then aborted one run in five, as the
/// threads that did start took the address space the work needed: `--threads` is now held to
/// four per core.
#[test]
fn a_thousand_threads_under_an_address_space_limit() {
    let d = dir("no-threads");
    let mut rng = Rng(31);
    let data = bf16_weights(&mut rng, 600_000);
    let (inp, out, back) = (d.join("w.bin"), d.join("w.znw"), d.join("w.out"));
    std::fs::write(&inp, &data).unwrap();
    let bin = env!("CARGO_BIN_EXE_zipnn");
    let script = format!(
        "ulimit -v 400000 && '{bin}' compress '{}' --dtype bf16 --threads 1024 --chunk-size 4K -o '{}' && '{bin}' bench '{}' --dtype bf16 --threads 1024",
        s(&inp),
        s(&out),
        s(&inp)
    );
    let o = Command::new("bash").args(["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let r = zipnn(&["decompress", s(&out), "-o", s(&back)], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read(&back).unwrap() == data);
}

/// A file that takes the output's name while the output is being written (another program,
/// another zipnn) is kept without --force, as gzip's exclusive create keeps it; with --force it
/// is replaced. No temporary file stays behind either way.
#[test]
fn an_output_name_taken_meanwhile_is_not_replaced_without_force() {
    let d = dir("taken-meanwhile");
    let mut rng = Rng(37);
    let data = bf16_weights(&mut rng, 300_000);
    let out = d.join("w.znw");
    for force in [false, true] {
        let _ = std::fs::remove_file(&out);
        let mut args = vec!["compress", "-", "--dtype", "bf16", "-o", s(&out)];
        if force {
            args.push("--force");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_zipnn"))
            .args(&args)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        // Half the input is more than a pipe holds: once it is taken, zipnn is reading its
        // input, past its check of the output name (free then). The name is taken before the
        // input ends.
        pipe.write_all(&data[..data.len() / 2]).unwrap();
        std::fs::write(&out, b"someone else's file").unwrap();
        pipe.write_all(&data[data.len() / 2..]).unwrap();
        drop(pipe);
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let now = std::fs::read(&out).unwrap();
        if force {
            assert!(o.status.success(), "{err}");
            let back = zipnn(&["decompress", s(&out), "-o", "-"], None);
            assert!(back.stdout == data);
        } else {
            assert_eq!(o.status.code(), Some(1), "{err}");
            assert!(err.contains("appeared while it was being written"), "{err}");
            assert_eq!(now, b"someone else's file");
        }
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
