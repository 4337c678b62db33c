//! `zipnn`: the native command-line tool. A thin shell over the library: argument parsing,
//! files and stdin/stdout, progress on a terminal, one-line errors with a non-zero exit.
//!
//! `args` reads the command line, `input` and `output` handle files (an output is written
//! to a temporary file and renamed into place), and one module per command does the work.

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Instant;

use zipnn_wasm::Error;

/// Prints a line to stdout; a closed pipe (`zipnn inspect X | head`) ends the program quietly
/// instead of panicking like `println!`.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::stdout_error)?
    }};
}

mod args;
mod bench;
mod compress;
mod decompress;
mod input;
mod inspect;
mod output;

use args::{check_flags, parse, Args, USAGE};

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
    output::remove_temp_files_on_signal();
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
        "compress" => inputs()
            .and_then(|()| each_input(&a, "failed to compress", |i| compress::compress(i, &a))),
        "decompress" if a.tensor.is_some() => {
            one_input()?;
            if a.output.is_none() {
                return usage("--tensor needs -o OUT ('-' for stdout)");
            }
            each_input(&a, "failed to decompress", |i| decompress::extract(i, &a))
        }
        "decompress" => inputs().and_then(|()| {
            each_input(&a, "failed to decompress", |i| {
                decompress::decompress(i, &a)
            })
        }),
        // Named as the other commands name their input (and gzip -l).
        "inspect" => {
            one_input()?;
            each_input(&a, "failed to inspect", |i| inspect::inspect(i, &a))
        }
        "test" if a.output.is_some() => usage("test writes nothing: -o does not apply"),
        "test" => inputs().and_then(|()| decompress::test(&a)),
        "bench" if !a.inputs.is_empty() => bench::bench(&a),
        "bench" => usage("missing input file"),
        "help" | "-h" | "--help" => {
            outln!("{USAGE}");
            Ok(())
        }
        other => usage(format!("unknown command {other:?}")),
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
