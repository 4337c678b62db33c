//! `zipnn`: the native command-line tool. A thin shell over the library: argument parsing,
//! files and stdin/stdout, progress on a terminal, one-line errors with a non-zero exit.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use zipnn_wasm::format::znw::{self, DTypeChoice, Options};
use zipnn_wasm::stream::{AutoDecoder, Sink};
use zipnn_wasm::{DType, Error, Format, Limits};

const USAGE: &str = "\
usage: zipnn compress IN... [-o OUT] [--dtype auto|bf16|fp16|fp32|fp64|fp8-e4m3|fp8-e5m2|bytes]
                            [--chunk-size BYTES] [--threads N] [--verify] [--force]
                            [--best] [--format znw|zipnn] [--streaming-chunk BYTES]
                            [--base BASE]   (code the difference to an earlier checkpoint)
       zipnn decompress IN... [-o OUT] [--force] [--base BASE]
       zipnn inspect IN
       zipnn test IN... [--base BASE]   (decode, verify every checksum of .znw, write nothing)
       zipnn bench IN... [--dtype D] [--threads N] [--best]
       zipnn --version
--dtype types what no container names (a raw file); auto, the default, measures the grouping.
IN and OUT may be '-' for stdin/stdout. Compressed files get the .znw extension
(.znn with --format zipnn, which writes files IBM ZipNN reads; --dtype is then required).
Outputs take the input file's permissions and times; compressed data is not written to
(or read from) a terminal without --force. --name=VALUE works too; -- ends the options.
Several INs (model-*.safetensors) each get their own output (-o takes one IN); a file that
fails is reported and the others still run.
decompress reads .znw, ZipNN .znn frames and .znn.safetensors; deltas (ours or ZipNN's) need
--base with the same base file.";

/// Prints a line to stdout; a closed pipe (`zipnn inspect X | head`) ends the program quietly
/// instead of panicking like `println!`.
macro_rules! outln {
    ($($arg:tt)*) => {
        writeln!(io::stdout().lock(), $($arg)*).map_err(stdout_error)?
    };
}

fn stdout_error(e: io::Error) -> Fail {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Fail {
            msg: String::new(),
            usage: false,
        }
    } else {
        Fail {
            msg: format!("cannot write to stdout: {e}"),
            usage: false,
        }
    }
}

/// A CLI failure: printed as one line, exit code 1 (2 for usage errors); an empty message means
/// stdout was closed by the reader, which exits like a process killed by SIGPIPE.
struct Fail {
    msg: String,
    usage: bool,
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail {
            msg: format!("{} ({})", e, e.code()),
            usage: false,
        }
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail {
        msg: msg.into(),
        usage: false,
    })
}

fn usage<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail {
        msg: msg.into(),
        usage: true,
    })
}

fn main() -> ExitCode {
    remove_temp_files_on_signal();
    let args = std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string().or_else(|a| {
                usage(format!(
                    "{} is not valid UTF-8: zipnn takes names it can print (rename the file, or use stdin and stdout)",
                    a.to_string_lossy()
                ))
            })
        })
        .collect::<Result<Vec<String>, Fail>>();
    match args.and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if f.msg.is_empty() => ExitCode::from(141),
        Err(f) => {
            // One line, whatever the error: the usage text is one `zipnn --help` away.
            if f.usage {
                eprintln!("zipnn: {} (zipnn --help for usage)", f.msg);
                ExitCode::from(2)
            } else {
                eprintln!("zipnn: {}", f.msg);
                ExitCode::FAILURE
            }
        }
    }
}

#[derive(Default)]
struct Args {
    inputs: Vec<String>,
    output: Option<String>,
    dtype: Option<String>,
    chunk_size: Option<u32>,
    threads: Option<usize>,
    verify: bool,
    best: bool,
    force: bool,
    format: Option<String>,
    streaming_chunk: Option<u64>,
    base: Option<String>,
    help: bool,
}

fn parse(args: &[String]) -> Result<Args, Fail> {
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
            "--chunk-size" => {
                let v = value(arg)?;
                a.chunk_size = Some(
                    v.parse()
                        .or_else(|_| usage(format!("bad chunk size {v:?}")))?,
                );
            }
            "--threads" => {
                let v = value(arg)?;
                a.threads = Some(
                    v.parse()
                        .or_else(|_| usage(format!("bad thread count {v:?}")))?,
                );
            }
            "--format" => a.format = Some(value(arg)?),
            "--base" => a.base = Some(value(arg)?),
            "--streaming-chunk" => {
                let v = value(arg)?;
                a.streaming_chunk = Some(
                    v.parse()
                        .or_else(|_| usage(format!("bad streaming chunk {v:?}")))?,
                );
            }
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

fn run(args: &[String]) -> Result<(), Fail> {
    let Some((cmd, rest)) = args.split_first() else {
        return usage("missing command");
    };
    if matches!(cmd.as_str(), "-V" | "--version" | "version") {
        outln!("zipnn {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let a = parse(rest)?;
    if a.help {
        outln!("{USAGE}");
        return Ok(());
    }
    check_flags(cmd, &a)?;
    let one_input = || -> Result<&str, Fail> {
        match a.inputs.as_slice() {
            [one] => Ok(one.as_str()),
            [] => usage("missing input file"),
            _ => usage("expected one input file"),
        }
    };
    // What several inputs cannot share: one output, or stdin (read once).
    let inputs = || {
        let n = a.inputs.len();
        if n == 0 {
            return usage("missing input file");
        }
        if n > 1 && a.output.is_some() {
            return usage(format!("-o takes one input file, not {n}"));
        }
        if a.inputs.iter().filter(|i| *i == "-").count() > 1 {
            return usage("'-' (stdin) can be one input only");
        }
        if n > 1 && a.base.as_deref() == Some("-") {
            return usage("--base - (stdin) takes one input file");
        }
        Ok(())
    };
    match cmd.as_str() {
        "compress" => {
            inputs().and_then(|()| each_input(&a, "failed to compress", |i| compress(i, &a)))
        }
        "decompress" => {
            inputs().and_then(|()| each_input(&a, "failed to decompress", |i| decompress(i, &a)))
        }
        // Named as the other commands name their input (and gzip -l).
        "inspect" => {
            one_input()?;
            each_input(&a, "failed to inspect", |i| inspect(i, &a))
        }
        "test" if a.output.is_some() => usage("test writes nothing: -o does not apply"),
        "test" => inputs().and_then(|()| test(&a)),
        "bench" if !a.inputs.is_empty() => bench(&a),
        "bench" => usage("missing input file"),
        "help" | "-h" | "--help" => {
            outln!("{USAGE}");
            Ok(())
        }
        other => usage(format!("unknown command {other:?}")),
    }
}

/// Refuses an option the command would not read (`bench --chunk-size`, `inspect -o`): silently
/// ignoring it would let a user believe it took effect.
fn check_flags(cmd: &str, a: &Args) -> Result<(), Fail> {
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

/// Whether `f` is [`read_input`]'s error for `path` (which names the file itself).
fn read_error(f: &Fail, path: &str) -> bool {
    f.msg.starts_with(&format!("cannot read {path}: "))
}

/// `f`'s message naming `input` (once: a read error names it already).
fn naming(input: &str, f: &Fail) -> String {
    if read_error(f, input) {
        f.msg.clone()
    } else if input == "-" {
        format!("stdin: {}", f.msg)
    } else {
        format!("{input}: {}", f.msg)
    }
}

fn read_input(path: &str) -> Result<Vec<u8>, Fail> {
    let mut buf = Vec::new();
    let r = if path == "-" {
        io::stdin().lock().read_to_end(&mut buf)
    } else {
        File::open(path).and_then(|mut f| f.read_to_end(&mut buf))
    };
    r.or_else(|e| fail(format!("cannot read {path}: {e}")))?;
    Ok(buf)
}

/// At most `cap` bytes of a file (`-`: stdin), with room for `expect` taken first (a size
/// no memory holds fails at once, before anything is read).
fn read_capped(path: &str, cap: u64, expect: u64) -> Result<Vec<u8>, Fail> {
    let mut buf = Vec::new();
    let room = usize::try_from(expect).unwrap_or(usize::MAX);
    buf.try_reserve_exact(room)
        .map_err(|_| Error::no_memory(expect))?;
    let r = if path == "-" {
        io::stdin().lock().take(cap).read_to_end(&mut buf)
    } else {
        File::open(path).and_then(|f| f.take(cap).read_to_end(&mut buf))
    };
    r.or_else(|e| fail(format!("cannot read {path}: {e}")))?;
    Ok(buf)
}

/// Compressed data is neither written to nor read from a terminal unless forced, as gzip
/// and zstd refuse: on a terminal it is garbage, and from one the program would just wait.
fn refuse_terminal(a: &Args, input: &str, out: &str, compressing: bool) -> Result<(), Fail> {
    if a.force {
        return Ok(());
    }
    if compressing && out == "-" && io::stdout().is_terminal() {
        return fail("compressed data not written to a terminal (use --force to write it)");
    }
    if !compressing && input == "-" && io::stdin().is_terminal() {
        return fail("compressed data not read from a terminal (use --force to read it)");
    }
    Ok(())
}

/// Picks the output path (`-` for stdout) and refuses to clobber without `--force`.
fn output_path(input: &str, a: &Args, derive: impl Fn(&str) -> String) -> Result<String, Fail> {
    let out = match (&a.output, input) {
        (Some(o), _) => o.clone(),
        (None, "-") => "-".to_string(),
        (None, i) => derive(i),
    };
    // `.znw` or `dir/.znw` would decode to a file with no name.
    if a.output.is_none() && (out.is_empty() || out.ends_with(std::path::is_separator)) {
        return fail("cannot name the output after the input: give one with -o");
    }
    // The input never, by whatever path it is named (`./m`, an absolute path, a hard link),
    // nor a file on stdin, nor the base of a delta (the output would then need itself).
    // Only a regular file can be lost this way: a device (/dev/null, a terminal) is written to.
    let meta = (out != "-").then(|| fs::metadata(&out).ok()).flatten();
    let out_file = meta.as_ref().is_some_and(|m| m.is_file());
    let stdin = if cfg!(target_os = "linux") {
        "/dev/stdin"
    } else {
        "-"
    };
    let named = if input == "-" { stdin } else { input };
    if (out != "-" && input != "-" && out == input) || (out_file && same_file(named, &out)) {
        return fail("output would overwrite the input");
    }
    if let Some(base) = a.base.as_deref().filter(|&b| b != "-" && out != "-") {
        if out == base || (out_file && same_file(base, &out)) {
            return fail("output would overwrite the base file");
        }
    }
    // Refused before any work: the rename at the end would fail.
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        return fail(format!("{out} is a directory"));
    }
    if Path::new(&out).file_name().is_some_and(|n| n.len() > 255) {
        return fail(format!("cannot create {out}: File name too long"));
    }
    // A symbolic link that points nowhere is there too (as gzip has it).
    let dangling = out != "-"
        && meta.is_none()
        && fs::symlink_metadata(&out).is_ok_and(|m| m.file_type().is_symlink());
    if (out_file || dangling) && !a.force {
        return fail(format!("{out} already exists (use --force to overwrite)"));
    }
    Ok(out)
}

/// Whether two existing paths name the same file.
fn same_file(a: &str, b: &str) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (fs::metadata(a), fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Temporary output files being written: removed when a signal ends the program (Ctrl-C,
/// SIGTERM, SIGHUP, SIGXCPU), as `Output`'s drop removes them on an error, so that an interrupted run
/// leaves no partial file behind (as gzip and zstd).
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn remove_temp_files_on_signal() {
    // Without a handler (it cannot be installed, or a wasm32 build has no signals) a signal
    // ends the program as before.
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXCPU, SIGXFSZ};
        // Past `ulimit -f` a write then fails (EFBIG): that file's output is removed as on any
        // error, and the next file goes on.
        let _ = signal_hook::flag::register(
            SIGXFSZ,
            std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        );
        // A signal inherited as ignored stays ignored, as in gzip: `nohup` ignores SIGHUP,
        // and a shell script's `cmd &` SIGINT.
        let ignored = inherited_ignored();
        let mut ends: Vec<i32> = [SIGINT, SIGTERM, SIGHUP]
            .into_iter()
            .filter(|&s| ignored & (1 << (s - 1)) == 0)
            .collect();
        // Past the soft `ulimit -t`: the end the signal would make (128 + 24), files removed.
        ends.push(SIGXCPU);
        if let Ok(mut signals) = signal_hook::iterator::Signals::new(ends) {
            std::thread::spawn(move || {
                if let Some(s) = signals.forever().next() {
                    remove_temp_files_and_exit(if s == SIGXCPU { 152 } else { 130 });
                }
            });
        }
    }
    #[cfg(windows)]
    let _ = ctrlc::set_handler(|| remove_temp_files_and_exit(130));
}

/// The signals this process was started with as ignored (bit `n - 1` for signal `n`), as
/// Linux reports them; none where it does not (then every signal gets its handler: asking
/// the kernel elsewhere takes `sigaction`, which is `unsafe`).
#[cfg(unix)]
fn inherited_ignored() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0)
}

fn remove_temp_files_and_exit(code: i32) -> ! {
    // The lock is held until the exit: no temporary file is created meanwhile (`Output`
    // creates and lists each one under it).
    let files = TEMP_FILES.lock().unwrap_or_else(|e| e.into_inner());
    for f in files.iter() {
        let _ = fs::remove_file(f);
    }
    std::process::exit(code);
}

/// `{path}.tmp{pid}.{n}`, with the file name cut short where the suffix would take it past 255
/// bytes, the usual limit on a name: an output whose own name fits must not fail on its
/// temporary's.
fn temp_name(path: &str, n: u32) -> PathBuf {
    let suffix = format!(".tmp{}.{n}", std::process::id());
    let p = Path::new(path);
    let name = match p.file_name().and_then(|f| f.to_str()) {
        Some(name) if name.len() + suffix.len() > 255 && !path.ends_with('/') => name,
        _ => return PathBuf::from(format!("{path}{suffix}")),
    };
    let mut keep = 255 - suffix.len();
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    p.with_file_name(format!("{}{suffix}", &name[..keep]))
}

/// Takes a temporary file off the list (renamed into place, or removed).
fn forget_temp_file(tmp: &PathBuf) {
    let mut files = TEMP_FILES.lock().unwrap_or_else(|e| e.into_inner());
    files.retain(|f| f != tmp);
}

/// Writes through a temporary file and renames, so a failure never leaves a partial output.
/// A file made from a file on disk takes its permissions and times, as gzip's and zstd's do
/// (a private model stays private).
struct Output {
    path: String,
    tmp: Option<PathBuf>,
    w: Option<Box<dyn Write>>,
    /// The file being written, for the metadata set before it is renamed into place.
    file: Option<File>,
    like: Option<fs::Metadata>,
}

impl Output {
    /// An output at `path` ('-': stdout) made from `input` ('-': stdin).
    fn create(path: &str, input: &str) -> Result<Self, Fail> {
        let like = (input != "-")
            .then(|| fs::metadata(input).ok().filter(|m| m.is_file()))
            .flatten();
        if path == "-" {
            return Ok(Output {
                path: path.into(),
                tmp: None,
                w: Some(Box::new(BufWriter::new(io::stdout().lock()))),
                file: None,
                like: None,
            });
        }
        // A device or pipe is written in place: renaming a temporary file over it would
        // replace /dev/null itself.
        if fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let f = fs::OpenOptions::new()
                .write(true)
                .open(path)
                .or_else(|e| fail(format!("cannot write {path}: {e}")))?;
            return Ok(Output {
                path: path.into(),
                tmp: None,
                w: Some(Box::new(BufWriter::with_capacity(1 << 20, f))),
                file: None,
                like: None,
            });
        }
        // A new file of a name nobody uses: never one that happens to exist (even the input).
        // Created and listed under the lock, so that a signal sees every file that exists.
        let mut files = TEMP_FILES.lock().unwrap_or_else(|e| e.into_inner());
        let (tmp, f) = (0u32..)
            .map(|n| temp_name(path, n))
            .map(|tmp| {
                let mut o = fs::OpenOptions::new();
                o.write(true).create_new(true);
                // Owner only while it is written: its group and mode are the input's at the end.
                #[cfg(unix)]
                if let Some(m) = &like {
                    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
                    o.mode(m.permissions().mode() & 0o600);
                }
                let f = o.open(&tmp);
                (tmp, f)
            })
            .find(|(_, f)| !matches!(f, Err(e) if e.kind() == io::ErrorKind::AlreadyExists))
            .expect("an unbounded range");
        let f = f.or_else(|e| fail(format!("cannot create {path}: {e}")))?;
        files.push(tmp.clone());
        drop(files);
        let file = f
            .try_clone()
            .or_else(|e| fail(format!("cannot create {path}: {e}")))?;
        Ok(Output {
            path: path.into(),
            tmp: Some(tmp),
            w: Some(Box::new(BufWriter::with_capacity(1 << 20, f))),
            file: Some(file),
            like,
        })
    }
    fn write(&mut self, b: &[u8]) -> Result<(), Fail> {
        let r = match self.w.as_mut() {
            Some(w) => w.write_all(b),
            None => Ok(()),
        };
        r.map_err(|e| self.error(e))
    }
    /// A closed stdout (`zipnn decompress m.znw -o - | head -c 10`) ends the program quietly.
    fn error(&self, e: io::Error) -> Fail {
        if self.path == "-" {
            stdout_error(e)
        } else {
            Fail {
                msg: format!("cannot write {}: {e}", self.path),
                usage: false,
            }
        }
    }
    fn commit(mut self) -> Result<(), Fail> {
        if let Some(mut w) = self.w.take() {
            w.flush().map_err(|e| self.error(e))?;
        }
        let Some(tmp) = self.tmp.clone() else {
            return Ok(());
        };
        let cannot = |e: io::Error| Fail {
            msg: format!("cannot write {}: {e}", self.path),
            usage: false,
        };
        if let (Some(f), Some(m)) = (&self.file, &self.like) {
            #[cfg(unix)]
            let perms = {
                use std::os::unix::fs::PermissionsExt;
                fs::Permissions::from_mode(m.permissions().mode() & 0o777)
            };
            #[cfg(not(unix))]
            let perms = m.permissions();
            // Best effort, as gzip's: a file system without owners, modes or times (FAT)
            // still gets the output. The group before the mode, so that the group bits apply
            // to the input's group (and the owner too, where allowed: as root).
            #[cfg(unix)]
            {
                use std::os::unix::fs::{fchown, MetadataExt};
                if fchown(f, Some(m.uid()), Some(m.gid())).is_err() {
                    let _ = fchown(f, None, Some(m.gid()));
                }
            }
            let _ = f.set_permissions(perms);
            let mut times = fs::FileTimes::new();
            if let Ok(t) = m.modified() {
                times = times.set_modified(t);
            }
            if let Ok(t) = m.accessed() {
                times = times.set_accessed(t);
            }
            let _ = f.set_times(times);
        }
        // Closed before it takes the name.
        drop(self.file.take());
        // Renamed under the lock a signal's handler holds until the program ends: either the
        // handler removes the temporary file first and this never runs, or the output is
        // complete when it takes its name.
        let mut files = TEMP_FILES.lock().unwrap_or_else(|e| e.into_inner());
        // On failure `tmp` stays set, so that Drop removes the temporary file.
        fs::rename(&tmp, &self.path).map_err(cannot)?;
        files.retain(|f| *f != tmp);
        self.tmp = None;
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            let _ = fs::remove_file(tmp);
            forget_temp_file(tmp);
        }
    }
}

/// Progress on stderr, only when it is a terminal and the work takes a while.
struct Progress {
    on: bool,
    start: Instant,
    last: Instant,
    total: u64,
    verb: &'static str,
}

impl Progress {
    fn new(verb: &'static str, total: u64) -> Self {
        let now = Instant::now();
        Progress {
            on: io::stderr().is_terminal(),
            start: now,
            last: now,
            total,
            verb,
        }
    }
    fn update(&mut self, done: u64) {
        if !self.on
            || self.last.elapsed().as_millis() < 200
            || self.start.elapsed().as_millis() < 500
        {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64();
        let pct = if self.total > 0 {
            format!("{:5.1}%", done as f64 * 100.0 / self.total as f64)
        } else {
            String::new()
        };
        eprint!(
            "\r{} {pct} {:.0} MB at {:.0} MB/s   ",
            self.verb,
            done as f64 / 1e6,
            done as f64 / 1e6 / secs
        );
    }
    fn done(&self) {
        if self.on && self.start.elapsed().as_millis() >= 500 {
            eprint!("\r{:60}\r", "");
        }
    }
}

/// The chunk size when none is given: `--best` codes raw files in longer chunks.
fn default_chunk(best: bool, data: &[u8]) -> u32 {
    if !best {
        znw::DEFAULT_CHUNK
    } else if zipnn_wasm::format::tensors::detect(data).is_none() {
        znw::BEST_RAW_CHUNK
    } else {
        znw::BEST_CHUNK
    }
}

fn compress(input: &str, a: &Args) -> Result<(), Fail> {
    let dtype = dtype_choice(a)?;
    match a.format.as_deref() {
        None | Some("znw") => {}
        // ZipNN delta frames are read (`decompress --base`) but not written: a delta goes
        // into `.znw`, whose chunks code the XOR stream far better than ZipNN's Huffman floor.
        Some("zipnn") if a.base.is_some() => return usage(
            "--base writes .znw deltas; ZipNN delta frames are not written (drop --format zipnn)",
        ),
        Some("zipnn") => return compress_zipnn(input, a, dtype),
        Some(f) => return usage(format!("unknown format {f:?} (znw or zipnn)")),
    }
    // A chunk size the format cannot hold is a usage error (exit 2), as a bad --dtype is.
    if let Some(Err(e)) = a.chunk_size.map(znw::check_chunk_size) {
        return usage(e.to_string());
    }
    already_compressed(input, a, znw::EXTENSION)?;
    let out_path = output_path(input, a, |i| format!("{i}.{}", znw::EXTENSION))?;
    refuse_terminal(a, input, &out_path, true)?;
    if a.base.is_none() && !a.best && compress_streamed(input, &out_path, a, dtype)? {
        return Ok(());
    }
    let data = read_input(input)?;
    let opts = Options {
        dtype,
        chunk_size: a.chunk_size.unwrap_or(default_chunk(a.best, &data)),
        verify: a.verify,
        threads: a.threads.unwrap_or_else(default_threads),
        tans: a.best,
    };
    // A base far larger than the file cannot be an earlier checkpoint of it (nor /dev/zero):
    // it is refused once that much is read, not held whole.
    let cap = (data.len() as u64)
        .saturating_mul(4)
        .saturating_add(256 << 20);
    let base = match a.base.as_deref() {
        Some(path) => match read_capped(path, cap, 0)? {
            b if b.len() as u64 >= cap => {
                return Err(Error::InvalidInput(format!(
                    "the base file {path} has more than {cap} bytes (4 times the size of the file, plus 256 MiB): not an earlier checkpoint of it"
                ))
                .into())
            }
            b => Some(b),
        },
        None => None,
    };
    let run = |opts: &Options, progress: &mut dyn FnMut(u64)| match &base {
        Some(base) => znw::compress_delta(&data, base, opts, progress),
        None => znw::compress_with_progress(&data, opts, progress),
    };
    let mut progress = Progress::new("compressing", data.len() as u64);
    let mut packed = run(&opts, &mut |done| progress.update(done))?;
    progress.done();
    // --best tries more and keeps what is smallest, and the default's result is one more
    // candidate: --best's chunks (cut around copies, longer in raw files) can lose to the
    // default's, by 0.2-0.5 % on some TF.js weight shards and by far more on small files with
    // copies, where the extra chunk heads cost more than the cuts save. Its second pass is
    // the default's, a fraction of --best's time. Not when a chunk size was given.
    if a.best && a.chunk_size.is_none() {
        let default = Options {
            chunk_size: znw::DEFAULT_CHUNK,
            tans: false,
            ..opts
        };
        let plain = run(&default, &mut |_| {})?;
        if plain.len() < packed.len() {
            packed = plain;
        }
    }
    // The input's memory is handed back before the output takes its name: a signal after
    // that finds the work done.
    drop((data, base));
    let mut out = Output::create(&out_path, input)?;
    out.write(&packed)?;
    out.commit()
}

/// A file named as compressed (`m.znw`) is not compressed again into `m.znw.znw` unless the
/// output is named, as gzip and zstd skip theirs: it is most likely a slip of the command.
fn already_compressed(input: &str, a: &Args, ext: &str) -> Result<(), Fail> {
    if a.output.is_none() && input.ends_with(&format!(".{ext}")) {
        return fail(format!(
            "already has the .{ext} suffix: give the output a name with -o to compress it again"
        ));
    }
    Ok(())
}

/// Files from this size on whose first bytes give their tensor table (safetensors, GGUF)
/// are read and compressed a piece at a time: the same output, in bounded memory.
/// `ZIPNN_STREAM_ABOVE` (bytes) sets it, for tests.
const STREAM_ABOVE: u64 = 1 << 30;

/// Compresses a large safetensors or GGUF file as a stream ([`SizedEncoder`]), or returns
/// false (having written nothing) when `input` is not one.
fn compress_streamed(
    input: &str,
    out_path: &str,
    a: &Args,
    dtype: DTypeChoice,
) -> Result<bool, Fail> {
    use zipnn_wasm::format::{tensors, Container};
    use zipnn_wasm::stream::{sized, SizedEncoder};
    let above = std::env::var("ZIPNN_STREAM_ABOVE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(STREAM_ABOVE);
    let size = match fs::metadata(input) {
        Ok(m) if m.is_file() && m.len() >= above => m.len(),
        _ => return Ok(false),
    };
    let cannot = |e: io::Error| Fail {
        msg: format!("cannot read {input}: {e}"),
        usage: false,
    };
    let mut f = File::open(input).map_err(cannot)?;
    // The first bytes, as many as the encoder reads before it writes the header.
    let mut head = Vec::new();
    (&mut f).take(16).read_to_end(&mut head).map_err(cannot)?;
    let want = sized::prefix_len(&head, size) as u64;
    (&mut f)
        .take(want - head.len() as u64)
        .read_to_end(&mut head)
        .map_err(cannot)?;
    let layout = tensors::detect_prefix(&head, size);
    if !layout.is_some_and(|l| matches!(l.container, Container::Safetensors | Container::Gguf)) {
        return Ok(false);
    }
    let opts = Options {
        dtype,
        chunk_size: a.chunk_size.unwrap_or(znw::DEFAULT_CHUNK),
        verify: a.verify,
        threads: a.threads.unwrap_or_else(default_threads),
        tans: false,
    };
    let mut enc = SizedEncoder::new(size, opts)?;
    let mut out = Output::create(out_path, input)?;
    let mut progress = Progress::new("compressing", size);
    // A file that changes size while it is read ends short or long: an error, not a file.
    let changed = |e: Error| match e {
        Error::InvalidInput(_) => Fail {
            msg: "changed size while it was read".into(),
            usage: false,
        },
        e => e.into(),
    };
    let (mut packed, mut buf) = (Vec::new(), vec![0u8; 8 << 20]);
    enc.push(&head, &mut packed).map_err(changed)?;
    let mut done = head.len() as u64;
    loop {
        out.write(&packed)?;
        packed.clear();
        progress.update(done);
        let n = f.read(&mut buf).map_err(cannot)?;
        if n == 0 {
            break;
        }
        enc.push(&buf[..n], &mut packed).map_err(changed)?;
        done += n as u64;
    }
    enc.finish(&mut packed).map_err(changed)?;
    out.write(&packed)?;
    progress.done();
    out.commit()?;
    Ok(true)
}

/// Writes ZipNN frames (single, or streaming with `--streaming-chunk`).
fn compress_zipnn(input: &str, a: &Args, dtype: DTypeChoice) -> Result<(), Fail> {
    use zipnn_wasm::format::zipnn::{self, ZDType, ZipnnOptions};
    let DTypeChoice::Fixed(d) = dtype else {
        return usage("--format zipnn needs --dtype bf16, fp16, fp32, fp8-e4m3 or fp8-e5m2");
    };
    let zd = ZDType::from_dtype(d).map_or_else(
        || usage("ZipNN codes bf16, fp16, fp32, fp8-e4m3 and fp8-e5m2 only: pick one of those"),
        Ok,
    )?;
    let mut o = ZipnnOptions::new(zd);
    if let Some(c) = a.chunk_size {
        if !c.is_power_of_two() || !(1 << 10..=1 << 30).contains(&c) {
            return usage("ZipNN chunk sizes are powers of two from 1 KiB to 1 GiB");
        }
        o.chunk_log2 = c.trailing_zeros() as u8;
    }
    if let Some(s) = a.streaming_chunk {
        if !s.is_power_of_two() || !(1 << 8..=1 << 40).contains(&s) {
            return usage("ZipNN streaming chunks are powers of two from 256 bytes to 1 TiB");
        }
        o.streaming_log2 = Some(s.trailing_zeros() as u8);
    }
    already_compressed(input, a, "znn")?;
    let out_path = output_path(input, a, |i| format!("{i}.znn"))?;
    refuse_terminal(a, input, &out_path, true)?;
    let data = read_input(input)?;
    let packed = zipnn::compress(&data, &o)?;
    let mut out = Output::create(&out_path, input)?;
    out.write(&packed)?;
    out.commit()
}

/// What neither the push decoder nor [`decode_znn_safetensors`] takes (`.znn.safetensors` from
/// stdin, deltas, which need their base) is decoded from memory. Returns the compressed and the
/// decoded bytes.
fn decode_whole(
    input: &str,
    first: Vec<u8>,
    rest: &mut dyn Read,
    a: &Args,
) -> Result<(Vec<u8>, Vec<u8>), Fail> {
    let data = read_rest(input, first, rest)?;
    let base = match a.base.as_deref() {
        Some(path) => read_base(path, input, &data)?,
        None => None,
    };
    let plain = match &base {
        Some(b) => zipnn_wasm::decompress_with_base(&data, b, &Limits::default())?,
        None => zipnn_wasm::decompress(&data, &Limits::default())?,
    };
    // Our deltas name their base by size and checksum; ZipNN's name nothing, so a wrong base
    // of the right size decodes to wrong bytes.
    if base.is_some() && zipnn_wasm::detect(&data) == Format::Zipnn {
        eprintln!("zipnn: note: ZipNN deltas carry no checksum of their base: a wrong one would go unnoticed");
    }
    Ok((data, plain))
}

/// The base for decoding `data`, read no further than the size it must have: a longer file
/// (or /dev/zero) is refused without being read whole. `None` for a file that is no delta
/// (said on stderr: `--base` is then not used).
fn read_base(path: &str, input: &str, data: &[u8]) -> Result<Option<Vec<u8>>, Fail> {
    use zipnn_wasm::format::zipnn;
    // The size the base must have; a file that does not parse reads none (its error follows).
    let need = match zipnn_wasm::detect(data) {
        Format::Znw => match znw::Header::parse(data) {
            Ok((h, _)) => Some(h.base.map(|b| b.len)),
            Err(_) => return Ok(None),
        },
        Format::Zipnn => match zipnn::frames(data, &Limits::default()) {
            Ok((frames, total)) => {
                Some(frames.iter().any(|f| f.header.delta != 0).then_some(total))
            }
            Err(_) => return Ok(None),
        },
        _ => None,
    };
    let cap = match need {
        Some(None) => {
            eprintln!("zipnn: note: {input} is not a delta: --base is not used");
            return Ok(None);
        }
        Some(Some(n)) => n.saturating_add(1),
        None => u64::MAX,
    };
    // Room for the size named, taken first: a size no memory holds is refused before reading.
    let buf = read_capped(path, cap, if need.is_some() { cap } else { 0 })?;
    if let Some(Some(n)) = need {
        let zipnn = zipnn_wasm::detect(data) == Format::Zipnn;
        // zipnn itself refuses a base of another size than the file.
        if buf.len() as u64 > n || (zipnn && buf.len() as u64 != n) {
            let got = if buf.len() as u64 > n {
                format!("more than {n}")
            } else {
                buf.len().to_string()
            };
            return Err(Error::InvalidInput(format!(
                "the base file given has {got} bytes; the delta needs a base of {n} bytes"
            ))
            .into());
        }
    }
    Ok(Some(buf))
}

/// The whole of a compressed input whose `first` bytes were read. Past its first 16 bytes,
/// only a `.znn.safetensors` file (an 8-byte length, then a JSON object) can still turn out to
/// be compressed: anything else is refused before it is read to its end (which for /dev/zero
/// never comes).
fn read_rest(input: &str, first: Vec<u8>, rest: &mut dyn Read) -> Result<Vec<u8>, Fail> {
    if first.len() >= 16 && zipnn_wasm::detect(&first) == Format::Unknown && first[8] != b'{' {
        return Err(Error::NotCompressed.into());
    }
    let mut data = first;
    rest.read_to_end(&mut data)
        .or_else(|e| fail(format!("cannot read {input}: {e}")))?;
    Ok(data)
}

/// `--dtype`, or `auto` without it.
fn dtype_choice(a: &Args) -> Result<DTypeChoice, Fail> {
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

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Streams the input through the push decoder straight to the output: bounded memory for
/// any file size, and nothing unverified reaches the output.
fn decompress(input: &str, a: &Args) -> Result<(), Fail> {
    // X.znw, X.znn -> X; X.znn.safetensors -> X.safetensors.
    let restored = |i: &str| {
        i.strip_suffix(&format!(".{}", znw::EXTENSION))
            .or_else(|| i.strip_suffix(".znn"))
            .map(str::to_string)
            .or_else(|| {
                i.strip_suffix(".znn.safetensors")
                    .map(|s| format!("{s}.safetensors"))
            })
    };
    // An output named after an input of unknown suffix is not guessed (gzip skips such files).
    if input != "-" && a.output.is_none() {
        fs::metadata(input).or_else(|e| fail(format!("cannot read {input}: {e}")))?;
        if restored(input).is_none() {
            return fail(
                "unknown suffix (not .znw, .znn or .znn.safetensors): give the output a name with -o",
            );
        }
    }
    let out_path = output_path(input, a, |i| restored(i).unwrap_or_default())?;
    refuse_terminal(a, input, &out_path, false)?;
    if let Some(mut src) = znn_safetensors_file(input, a)? {
        let mut out = Output::create(&out_path, input)?;
        decode_znn_safetensors(&mut src, Some(&mut out))?;
        return out.commit();
    }
    let (mut reader, first) = open_input(input)?;
    let (first, listed) = listed_header(input, first, &mut reader)?;
    if listed && a.base.is_none() {
        let mut out = Output::create(&out_path, input)?;
        let dec = AutoDecoder::znn_safetensors(Limits::default());
        stream_decode(input, reader, first, dec, Some(&mut out), "decompressing")?;
        return out.commit();
    }
    if !streamable(&first) || a.base.is_some() {
        let (_, plain) = decode_whole(input, first, &mut reader, a)?;
        let mut out = Output::create(&out_path, input)?;
        out.write(&plain)?;
        return out.commit();
    }
    let mut out = Output::create(&out_path, input)?;
    let dec = AutoDecoder::new(Limits::default());
    stream_decode(input, reader, first, dec, Some(&mut out), "decompressing")?;
    out.commit()
}

/// Runs `one` on each input as gzip and zstd do: a file that fails is reported on its own
/// line and the others still run; the error at the end counts the failures. With one input,
/// its error is the one line. Usage errors and an interrupted output stop at once.
fn each_input(
    a: &Args,
    failed_to: &str,
    mut one: impl FnMut(&str) -> Result<(), Fail>,
) -> Result<(), Fail> {
    if let [input] = a.inputs.as_slice() {
        return one(input).map_err(|f| match f {
            f if f.msg.is_empty() || f.usage => f,
            f => Fail {
                msg: naming(input, &f),
                usage: false,
            },
        });
    }
    let mut failed = 0;
    for input in &a.inputs {
        let Err(f) = one(input) else { continue };
        if f.msg.is_empty() || f.usage {
            return Err(f);
        }
        eprintln!("zipnn: {}", naming(input, &f));
        failed += 1;
    }
    match failed {
        0 => Ok(()),
        n => fail(format!("{n} of {} files {failed_to}", a.inputs.len())),
    }
}

/// Checks each input as `gzip -t` does: decodes it, verifying every checksum (the chunk body
/// checksums too, which a decode reads only when something else fails), and writes nothing.
fn test(a: &Args) -> Result<(), Fail> {
    let one = |input: &str| {
        match test_one(input, a) {
            Ok((n, true)) => outln!("{input}: OK, {n} bytes"),
            // Nothing to verify: a damaged ZipNN file can decode to other bytes.
            Ok((n, false)) => {
                outln!("{input}: decodes, {n} bytes (ZipNN files carry no checksums)")
            }
            Err(f) => return Err(f),
        }
        Ok(())
    };
    each_input(a, "failed the test", one)
}

/// Decoded size of `input` once every check passed, and whether it had checksums to check
/// (`.znw`) or only decoded (ZipNN's files).
fn test_one(input: &str, a: &Args) -> Result<(u64, bool), Fail> {
    refuse_terminal(a, input, "", false)?;
    if let Some(mut src) = znn_safetensors_file(input, a)? {
        return Ok((decode_znn_safetensors(&mut src, None)?, false));
    }
    let (mut reader, first) = open_input(input)?;
    let (first, listed) = listed_header(input, first, &mut reader)?;
    if listed && a.base.is_none() {
        let dec = AutoDecoder::znn_safetensors(Limits::default());
        return Ok((
            stream_decode(input, reader, first, dec, None, "testing")?,
            false,
        ));
    }
    if !streamable(&first) || a.base.is_some() {
        let (data, plain) = decode_whole(input, first, &mut reader, a)?;
        let znw = zipnn_wasm::detect(&data) == Format::Znw;
        if znw {
            znw::check_bodies(&data)?;
        }
        return Ok((plain.len() as u64, znw));
    }
    let znw = zipnn_wasm::detect(&first) == Format::Znw;
    let dec = AutoDecoder::checking_bodies(Limits::default());
    Ok((
        stream_decode(input, reader, first, dec, None, "testing")?,
        znw,
    ))
}

/// A file on disk read at any offset, for the decoders that index before they decode.
struct FileSource {
    path: String,
    file: File,
    size: usize,
    buf: Vec<u8>,
    /// The read error behind the `Error` the last read returned, to report instead of it.
    failed: Option<Fail>,
}

impl znw::Source for FileSource {
    fn size(&self) -> usize {
        self.size
    }
    fn read(&mut self, pos: usize, len: usize) -> Result<&[u8], Error> {
        use std::io::{Seek, SeekFrom};
        pos.checked_add(len)
            .filter(|&end| end <= self.size)
            .ok_or(Error::Truncated)?;
        self.failed = None;
        let buf = zipnn_wasm::format::grow(&mut self.buf, len)?;
        if let Err(e) = self
            .file
            .seek(SeekFrom::Start(pos as u64))
            .and_then(|_| self.file.read_exact(buf))
        {
            // Shorter than when it was opened: cut while being read.
            if e.kind() == io::ErrorKind::UnexpectedEof {
                return Err(Error::Truncated);
            }
            self.failed = Some(Fail {
                msg: format!("cannot read {}: {e}", self.path),
                usage: false,
            });
            return Err(Error::Truncated);
        }
        Ok(buf)
    }
}

impl FileSource {
    /// `e`, or the read error that caused it.
    fn fail(&mut self, e: Error) -> Fail {
        self.failed.take().unwrap_or_else(|| e.into())
    }
}

/// `input` opened for [`decode_znn_safetensors`] when it is a `.znn.safetensors` file on disk
/// (not stdin, no `--base`); `None` for anything else.
fn znn_safetensors_file(input: &str, a: &Args) -> Result<Option<FileSource>, Fail> {
    use zipnn_wasm::format::zipnn::safetensors::is_znn_safetensors_source;
    if input == "-" || a.base.is_some() {
        return Ok(None);
    }
    // The type first, without opening: opening and closing a named pipe would lose its data.
    if !fs::metadata(input).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let file = File::open(input).or_else(|e| fail(format!("cannot read {input}: {e}")))?;
    let meta = file
        .metadata()
        .or_else(|e| fail(format!("cannot read {input}: {e}")))?;
    let mut src = FileSource {
        path: input.into(),
        file,
        size: usize::try_from(meta.len()).unwrap_or(usize::MAX),
        buf: Vec::new(),
        failed: None,
    };
    Ok(is_znn_safetensors_source(&mut src).then_some(src))
}

/// A `.znn.safetensors` file (what ZipNN's `compress_safetensors` writes, the form of ZipNN
/// models on model hubs) restored from disk a tensor at a time into `out` (`None`: decoded and
/// discarded, for `test`): memory holds one compressed tensor and one chunk, where decoding in
/// memory held the whole file twice. Returns the restored size.
fn decode_znn_safetensors(src: &mut FileSource, mut out: Option<&mut Output>) -> Result<u64, Fail> {
    use zipnn_wasm::format::to_usize;
    use zipnn_wasm::format::zipnn::{self, safetensors, ChunkOut};
    use znw::Source;
    /// A frame's chunks decoded into one buffer and written out as each is done.
    struct Chunks<'o, 'p> {
        out: &'o mut Option<&'p mut Output>,
        len: usize,
        buf: Vec<u8>,
        failed: Option<Fail>,
    }
    impl ChunkOut for Chunks<'_, '_> {
        fn total(&self) -> usize {
            self.len
        }
        fn slot(&mut self, _start: usize, len: usize) -> Result<&mut [u8], Error> {
            zipnn_wasm::format::grow(&mut self.buf, len)
        }
        fn done(&mut self, _start: usize, len: usize) -> Result<(), Error> {
            if let Some(out) = self.out.as_mut() {
                if let Err(f) = out.write(&self.buf[..len]) {
                    self.failed = Some(f);
                    return Err(Error::InvalidInput("output write failed".into()));
                }
            }
            Ok(())
        }
    }
    let plan = safetensors::plan(src, &Limits::default()).map_err(|e| src.fail(e))?;
    if let Some(out) = out.as_mut() {
        out.write(&plan.header)?;
    }
    let mut chunks = Chunks {
        out: &mut out,
        len: 0,
        buf: Vec::new(),
        failed: None,
    };
    let mut scratch = Vec::new();
    let verb = if chunks.out.is_some() {
        "decompressing"
    } else {
        "testing"
    };
    let mut progress = Progress::new(verb, src.size as u64);
    // Input read so far: the pieces come in the restored file's order, which may not be the
    // input's.
    let mut done = 0;
    for p in &plan.pieces {
        progress.update(done);
        done += p.end - p.start;
        let (start, end) = (to_usize(p.start)?, to_usize(p.end)?);
        match &p.frame {
            // A tensor stored as it is: copied a MiB at a time.
            None => {
                let mut at = start;
                while at < end {
                    let n = (end - at).min(1 << 20);
                    let bytes = match src.read(at, n) {
                        Ok(bytes) => bytes,
                        Err(e) => return Err(src.fail(e)),
                    };
                    if let Some(out) = chunks.out.as_mut() {
                        out.write(bytes)?;
                    }
                    at += n;
                }
            }
            Some(h) => {
                chunks.len = usize::try_from(p.len).map_err(|_| Error::TooLarge {
                    size: p.len,
                    limit: usize::MAX as u64,
                })?;
                let frame = match src.read(start, end - start) {
                    Ok(frame) => frame,
                    Err(e) => return Err(src.fail(e)),
                };
                if let Err(e) = zipnn::decode_frame_with(frame, h, &mut chunks, &mut scratch) {
                    return Err(chunks.failed.take().unwrap_or_else(|| e.into()));
                }
            }
        }
    }
    progress.done();
    Ok(plan.total)
}

/// Opens `input` ('-': stdin) and reads its first bytes, enough to tell the format.
fn open_input(input: &str) -> Result<(Box<dyn Read>, Vec<u8>), Fail> {
    let mut reader: Box<dyn Read> = if input == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(input).or_else(|e| fail(format!("cannot read {input}: {e}")))?)
    };
    let mut first = vec![0u8; 16];
    let n = read_full(&mut reader, &mut first)
        .or_else(|e| fail(format!("cannot read {input}: {e}")))?;
    first.truncate(n);
    Ok((reader, first))
}

/// For input that is not on disk (stdin, a pipe) and starts like a safetensors file: `first`
/// grown to its whole JSON header, and whether that header lists compressed tensors (a
/// `.znn.safetensors` file that then streams a tensor at a time; without the list only the
/// whole file tells which tensors are frames). Anything else comes back as it was.
fn listed_header(
    input: &str,
    first: Vec<u8>,
    reader: &mut dyn Read,
) -> Result<(Vec<u8>, bool), Fail> {
    use zipnn_wasm::format::safetensors::MAX_HEADER;
    if first.len() < 16 || streamable(&first) || first[8] != b'{' {
        return Ok((first, false));
    }
    let n = u64::from_le_bytes(first[..8].try_into().unwrap_or([0; 8]));
    if !(2..=MAX_HEADER).contains(&n) {
        return Ok((first, false));
    }
    // Grown as bytes come (a header length is only a claim until they do).
    let mut head = first;
    let want = (8 + n).saturating_sub(head.len() as u64);
    reader
        .take(want)
        .read_to_end(&mut head)
        .or_else(|e| fail(format!("cannot read {input}: {e}")))?;
    let listed = zipnn_wasm::format::zipnn::safetensors::lists_compressed(&head);
    Ok((head, listed))
}

/// Whether a file starting with `first` can go through the push decoder.
fn streamable(first: &[u8]) -> bool {
    matches!(zipnn_wasm::detect(first), Format::Znw | Format::Zipnn)
}

/// Pushes `first`, then the rest of `reader`, through `dec` into `out` (`None`: discarded),
/// with progress on a terminal. Returns the decoded size.
fn stream_decode(
    input: &str,
    mut reader: Box<dyn Read>,
    first: Vec<u8>,
    mut dec: AutoDecoder,
    out: Option<&mut Output>,
    label: &'static str,
) -> Result<u64, Fail> {
    struct W<'a>(Option<&'a mut Output>, Option<Fail>);
    impl Sink for W<'_> {
        fn data(&mut self, _offset: u64, bytes: &[u8]) -> Result<(), Error> {
            let Some(out) = self.0.as_mut() else {
                return Ok(());
            };
            if let Err(f) = out.write(bytes) {
                self.1 = Some(f);
                return Err(Error::InvalidInput("output write failed".into()));
            }
            Ok(())
        }
    }
    let total_in = fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    let mut progress = Progress::new(label, total_in);
    let mut sink = W(out, None);
    let mut buf = vec![0u8; 4 << 20];
    let feed = |dec: &mut AutoDecoder, bytes: &[u8], sink: &mut W| -> Result<(), Fail> {
        dec.push(bytes, sink)
            .map_err(|e| sink.1.take().unwrap_or_else(|| e.into()))
    };
    feed(&mut dec, &first, &mut sink)?;
    let mut consumed = first.len() as u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return fail(format!("cannot read {input}: {e}")),
        };
        feed(&mut dec, &buf[..n], &mut sink)?;
        consumed += n as u64;
        progress.update(consumed);
    }
    dec.finish()?;
    progress.done();
    Ok(dec.decoded())
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// `compressed / original` to four places; `-` for an empty original, where no ratio exists
/// (every report prints the same thing for it).
fn ratio(compressed: u64, original: u64) -> String {
    if original == 0 {
        "-".into()
    } else {
        format!("{:.4}", compressed as f64 / original as f64)
    }
}

/// ZipNN frames (`.znn`): a summary from the frame headers, then one line per frame (the npm
/// CLI prints the same lines).
fn inspect_zipnn(input: &str, r: &zipnn_wasm::format::znw::Report) -> Result<(), Fail> {
    let Some(z) = &r.zipnn else { return Ok(()) };
    let streaming = match z.streaming_chunk {
        Some(c) => format!("streaming chunk {c} bytes"),
        None => "not streaming".into(),
    };
    let v = z.version;
    outln!(
        "{input}: ZipNN {}.{}.{} frames, {}, {} -> {} bytes, ratio {}, {} frame(s), {streaming}, chunks of {} bytes",
        v[0],
        v[1],
        v[2],
        r.segments.first().map_or("", |s| &s.label),
        r.total_size,
        r.compressed_size,
        ratio(r.compressed_size, r.total_size),
        z.frames.len(),
        r.chunk_size
    );
    outln!(
        "{:>12}  {:>12}  {:>12}  {:>6}  shape",
        "offset",
        "size",
        "compressed",
        "ratio"
    );
    const SHOWN: usize = 16;
    for (f, s) in z.frames.iter().zip(&r.segments).take(SHOWN) {
        let shape = if s.shape.is_empty() {
            String::new()
        } else {
            format!("{:?}", s.shape)
        };
        let delta = if f.delta { "  (delta)" } else { "" };
        let line = format!(
            "{:>12}  {:>12}  {:>12}  {:>6}  {shape}{delta}",
            f.offset,
            s.length,
            f.length,
            ratio(f.length, s.length)
        );
        outln!("{}", line.trim_end());
    }
    if z.frames.len() > SHOWN {
        outln!("... {} more frames", z.frames.len() - SHOWN);
    }
    Ok(())
}

fn inspect(input: &str, a: &Args) -> Result<(), Fail> {
    refuse_terminal(a, input, "", false)?;
    let (mut rest, first) = open_input(input)?;
    let data = read_rest(input, first, &mut rest)?;
    let r = zipnn_wasm::inspect(&data)?;
    if r.zipnn.is_some() {
        return inspect_zipnn(input, &r);
    }
    // .znn.safetensors: each tensor with its original type and shape (`dtype` its frame's).
    if r.format == "znn-safetensors" {
        outln!(
            "{input}: ZipNN .znn.safetensors, {} -> {} bytes, ratio {}, {} tensors, {} held as ZipNN frames",
            r.total_size,
            r.compressed_size,
            ratio(r.compressed_size, r.total_size),
            r.segments.len() - 1,
            r.chunks
        );
    } else {
        outln!(
            "{input}: {} container, {} -> {} bytes, ratio {}, {} chunks of up to {} bytes",
            r.container,
            r.total_size,
            r.compressed_size,
            ratio(r.compressed_size, r.total_size),
            r.chunks,
            r.chunk_size
        );
    }
    let width = r
        .segments
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    outln!(
        "{:width$}  {:8}  {:>18}  {:>12}  {:>12}  {:>6}",
        "name",
        "dtype",
        "shape",
        "size",
        "compressed",
        "ratio"
    );
    for s in &r.segments {
        let dtype = if s.label.is_empty() {
            s.dtype.to_string()
        } else {
            s.label.clone()
        };
        let shape = format!("{:?}", s.shape);
        outln!(
            "{:width$}  {:8}  {:>18}  {:>12}  {:>12}  {:>6}",
            s.name,
            dtype,
            shape,
            s.length,
            s.compressed,
            ratio(s.compressed, s.length)
        );
    }
    // Which coders the encoder chose (context modes decode slower than order 0).
    let blocks: Vec<String> = r
        .modes
        .iter()
        .map(|m| format!("{} {} ({} bytes)", m.name, m.blocks, m.bytes))
        .collect();
    if !blocks.is_empty() {
        outln!("blocks: {}", blocks.join(", "));
    }
    if let Some(d) = &r.delta {
        outln!(
            "delta against a base of {} bytes (XXH3 {:016x}): decompress and test need it (--base); {} bytes XORed with tensors that moved, {} coded as they are",
            d.base_size, d.base_xxh3, d.moved, d.unxored
        );
    }
    if let Some(s) = &r.suggestion {
        outln!(
            "note: stored as plain bytes (ratio {:.4} on a sample); --dtype {} would give about {:.4}",
            s.current_ratio, s.dtype, s.ratio
        );
    }
    Ok(())
}

fn bench(a: &Args) -> Result<(), Fail> {
    let threads = a.threads.unwrap_or(1);
    let dtype = dtype_choice(a)?;
    // The table starts once there is a row for it: a first file that cannot be read is
    // the one line of output.
    let mut started = false;
    let one = |input: &str| {
        let data = read_input(input)?;
        if !started {
            outln!("| file | MB | ratio | compress MB/s | decompress MB/s (warm) | decompress MB/s (fresh) |");
            outln!("|---|---:|---:|---:|---:|---:|");
            started = true;
        }
        let opts = Options {
            dtype,
            threads,
            tans: a.best,
            chunk_size: default_chunk(a.best, &data),
            ..Options::default()
        };
        let mb = data.len() as f64 / 1e6;
        let (mut packed, mut tc) = (Vec::new(), f64::MAX);
        for _ in 0..3 {
            let t = Instant::now();
            packed = znw::compress(&data, &opts)?;
            tc = tc.min(t.elapsed().as_secs_f64());
        }
        let mut warm = vec![0u8; data.len()];
        let (mut tw, mut tf) = (f64::MAX, f64::MAX);
        for _ in 0..5 {
            let t = Instant::now();
            znw::decompress_into(&packed, &mut warm, threads)?;
            tw = tw.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let fresh = znw::decompress(&packed, &Limits::default(), threads)?;
            tf = tf.min(t.elapsed().as_secs_f64());
            if fresh != data || warm != data {
                return fail("round trip mismatch");
            }
        }
        let name = Path::new(input)
            .file_name()
            .map_or(input.to_string(), |n| n.to_string_lossy().into_owned());
        outln!(
            "| {name} | {mb:.2} | {} | {:.0} | {:.0} | {:.0} |",
            ratio(packed.len() as u64, data.len() as u64),
            mb / tc,
            mb / tw,
            mb / tf
        );
        Ok(())
    };
    each_input(a, "failed the benchmark", one)
}
