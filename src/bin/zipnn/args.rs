//! The command line: its options, and which of them each command reads.

use zipnn_wasm::format::znw::DTypeChoice;
use zipnn_wasm::DType;

use crate::{usage, Fail};

pub(crate) const USAGE: &str = "\
usage: zipnn compress IN... [-o OUT] [--dtype auto|bf16|fp16|fp32|fp64|fp8-e4m3|fp8-e5m2|bytes|
                                     q4_0|q4_1|q5_0|q5_1|q8_0|q2_k|q3_k|q4_k|q5_k|q6_k]
                            [--chunk-size SIZE] [--threads N] [--verify] [--force]
                            [--best] [--format znw|zipnn] [--streaming-chunk SIZE]
                            [--base BASE]   (code the difference to an earlier checkpoint)
       zipnn decompress IN... [-o OUT] [--force] [--base BASE]
       zipnn decompress IN --tensor NAME -o OUT   (one tensor's bytes, decoding only its chunks)
       zipnn inspect IN
       zipnn test IN... [--base BASE]   (decode, verify every checksum of .znw, write nothing)
       zipnn bench IN... [--dtype D] [--threads N] [--best]
       zipnn --version
--dtype types what no container names (a raw file); auto, the default, measures the grouping.
SIZE is a number of bytes, or of KiB, MiB or GiB with K, M or G after it (64K, 1MiB).
IN and OUT may be '-' for stdin/stdout. Compressed files get the .znw extension
(.znn with --format zipnn, which writes files IBM ZipNN reads; --dtype is then required).
Outputs take the input file's permissions and times; compressed data is not written to
(or read from) a terminal without --force. --name=VALUE works too; -- ends the options.
Several INs (model-*.safetensors) each get their own output (-o takes one IN); a file that
fails is reported and the others still run. --threads is held to four per core.
decompress reads .znw, ZipNN .znn frames and .znn.safetensors; deltas (ours or ZipNN's) need
--base with the same base file.";

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) inputs: Vec<String>,
    pub(crate) output: Option<String>,
    pub(crate) dtype: Option<String>,
    pub(crate) chunk_size: Option<u32>,
    pub(crate) threads: Option<usize>,
    pub(crate) verify: bool,
    pub(crate) best: bool,
    pub(crate) force: bool,
    pub(crate) format: Option<String>,
    pub(crate) streaming_chunk: Option<u64>,
    pub(crate) base: Option<String>,
    pub(crate) tensor: Option<String>,
    pub(crate) help: bool,
}

pub(crate) fn parse(args: &[String]) -> Result<Args, Fail> {
    let mut a = Args::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // `--name=value` as well as `--name value`.
        let (arg, mut inline) = match arg.split_once('=') {
            Some((name, v)) if name.starts_with("--") => (name, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, Fail> {
            inline
                .take()
                .or_else(|| it.next().cloned())
                .map_or_else(|| usage(format!("{name} needs a value")), Ok)
        };
        match arg {
            "-o" | "--output" => a.output = Some(value(arg)?),
            "--dtype" => a.dtype = Some(value(arg)?),
            "--chunk-size" => a.chunk_size = Some(size(value(arg)?, "chunk size")?),
            "--threads" => {
                let n: usize = number(value(arg)?, "thread count")?;
                a.threads = Some(n.min(max_threads()));
            }
            "--format" => a.format = Some(value(arg)?),
            "--base" => a.base = Some(value(arg)?),
            "--tensor" => a.tensor = Some(value(arg)?),
            "--streaming-chunk" => a.streaming_chunk = Some(size(value(arg)?, "streaming chunk")?),
            "--verify" => a.verify = true,
            "--best" => a.best = true,
            "-f" | "--force" => a.force = true,
            "-h" | "--help" => a.help = true,
            // Everything after `--` is a file, even `-name`.
            "--" => a.inputs.extend(it.by_ref().cloned()),
            s if s.starts_with('-') && s != "-" => return usage(format!("unknown option {s}")),
            s => a.inputs.push(s.to_string()),
        }
        if inline.is_some() {
            return usage(format!("{arg} takes no value"));
        }
    }
    Ok(a)
}

/// Refuses an option the command would not read (`bench --chunk-size`, `inspect -o`): silently
/// ignoring it would let a user believe it took effect.
pub(crate) fn check_flags(cmd: &str, a: &Args) -> Result<(), Fail> {
    let zipnn = a.format.as_deref() == Some("zipnn");
    let allowed: &[&str] = match cmd {
        // `--base` with ZipNN's format has an error of its own, with what to do instead.
        "compress" if zipnn => &[
            "-o",
            "--dtype",
            "--chunk-size",
            "--force",
            "--format",
            "--streaming-chunk",
            "--base",
        ],
        "compress" => &[
            "-o",
            "--dtype",
            "--chunk-size",
            "--threads",
            "--verify",
            "--best",
            "--force",
            "--format",
            "--base",
        ],
        "decompress" if a.tensor.is_some() => &["-o", "--force", "--tensor"],
        "decompress" => &["-o", "--force", "--base"],
        // --force: read compressed data from a terminal.
        "test" => &["-o", "--base", "--force"],
        "bench" => &["--dtype", "--threads", "--best"],
        "inspect" => &["--force"],
        _ => return Ok(()),
    };
    let given = [
        ("-o", a.output.is_some()),
        ("--dtype", a.dtype.is_some()),
        ("--chunk-size", a.chunk_size.is_some()),
        ("--threads", a.threads.is_some()),
        ("--verify", a.verify),
        ("--best", a.best),
        ("--force", a.force),
        ("--format", a.format.is_some()),
        ("--streaming-chunk", a.streaming_chunk.is_some()),
        ("--base", a.base.is_some()),
        ("--tensor", a.tensor.is_some()),
    ];
    match given
        .iter()
        .find(|(name, on)| *on && !allowed.contains(name))
    {
        Some((name, _)) if cmd == "compress" && !zipnn && *name == "--streaming-chunk" => {
            usage("--streaming-chunk applies to --format zipnn only")
        }
        Some((name, _)) => {
            let with = if cmd == "compress" && zipnn {
                " --format zipnn"
            } else if cmd == "decompress" && a.tensor.is_some() {
                " --tensor"
            } else {
                ""
            };
            usage(format!("{name} does not apply to {cmd}{with}"))
        }
        // One stdin cannot be read twice: the second read would see nothing (or wait forever).
        None if a.base.as_deref() == Some("-") && a.inputs.iter().any(|i| i == "-") => {
            usage("stdin cannot be both the input and the base")
        }
        None => Ok(()),
    }
}

/// `--dtype`, or `auto` without it.
pub(crate) fn dtype_choice(a: &Args) -> Result<DTypeChoice, Fail> {
    a.dtype
        .as_deref()
        .map_or(Ok(DTypeChoice::Auto), parse_dtype)
}

fn parse_dtype(s: &str) -> Result<DTypeChoice, Fail> {
    if s == "auto" {
        return Ok(DTypeChoice::Auto);
    }
    DType::parse(s)
        .map(DTypeChoice::Fixed)
        .map_or_else(|| usage(format!("unknown dtype {s:?}")), Ok)
}

pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Most threads `--threads` starts: four per core (as zstd holds `-T` to 200). More only cost
/// memory: 1024 of them under `ulimit -v` took the address space that the work then needed,
/// and an allocation failed (an abort) now and then.
fn max_threads() -> usize {
    default_threads().saturating_mul(4)
}

/// `v` as a number, or a usage error naming `what`.
fn number<T: std::str::FromStr>(v: String, what: &str) -> Result<T, Fail> {
    v.parse().or_else(|_| usage(format!("bad {what} {v:?}")))
}

/// A byte count: decimal digits, then optionally `K`, `M` or `G` for KiB, MiB or GiB, maybe
/// spelt out (`64K`, `64KB`, `64KiB`) as zstd reads its sizes; lower case `k`, `m`, `g` too.
fn size<T: TryFrom<u64>>(v: String, what: &str) -> Result<T, Fail> {
    let digits = v.strip_prefix('+').unwrap_or(&v);
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let (n, unit) = digits.split_at(end);
    let shift = match unit.as_bytes() {
        [] => Some(0),
        [u, rest @ ..] if [&b""[..], b"B", b"iB"].contains(&rest) => match u.to_ascii_uppercase() {
            b'K' => Some(10),
            b'M' => Some(20),
            b'G' => Some(30),
            _ => None,
        },
        _ => None,
    };
    let bytes = match (n.parse::<u64>(), shift) {
        (Ok(n), Some(shift)) => n.checked_mul(1 << shift),
        _ => None,
    };
    bytes
        .and_then(|b| T::try_from(b).ok())
        .map_or_else(|| usage(format!("bad {what} {v:?}")), Ok)
}
