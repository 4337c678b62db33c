//! Output files: written to a temporary file that is renamed into place when complete, and
//! removed on an error or a signal, so that no run leaves a partial output behind.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{fail, stdout_error, Args, Fail};

/// Picks the output path (`-` for stdout) and refuses to clobber without `--force`.
pub(crate) fn output_path(
    input: &str,
    a: &Args,
    derive: impl Fn(&str) -> String,
) -> Result<String, Fail> {
    let out = match (&a.output, input) {
        (Some(o), _) => o.clone(),
        (None, "-") => "-".to_string(),
        (None, i) => derive(i),
    };
    // `-o /dev/stdout` (or `/dev/fd/1`, or the file stdout was redirected to) is stdout: a
    // temporary file renamed over that name would replace the link, and leave what the shell
    // opened for stdout empty. Only a name given with -o: a derived one is a file to write.
    let out = if a.output.is_some() && out != "-" && is_stdout(&out) {
        "-".to_string()
    } else {
        out
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

/// Whether `path` names the file this process's stdout is open on.
fn is_stdout(path: &str) -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let stdout = io::stdout().as_fd().try_clone_to_owned().map(File::from);
        match (stdout.and_then(|f| f.metadata()), fs::metadata(path)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
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

pub(crate) fn remove_temp_files_on_signal() {
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
            // No thread (a process limit): signals end the process, without the clean-up.
            let _ = std::thread::Builder::new().spawn(move || {
                if let Some(s) = signals.forever().next() {
                    remove_temp_files_and_exit(s);
                }
            });
        }
    }
    #[cfg(windows)]
    let _ = ctrlc::set_handler(|| remove_temp_files_and_exit(2));
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

/// Removes the temporary files, then ends the program as `signal` (SIGINT where Windows says
/// Ctrl-C) would have without a handler.
#[cfg(any(unix, windows))]
fn remove_temp_files_and_exit(signal: i32) -> ! {
    // The lock is held until the exit: no temporary file is created meanwhile (`Output`
    // creates and lists each one under it).
    let files = TEMP_FILES.lock().unwrap_or_else(|e| e.into_inner());
    for f in files.iter() {
        let _ = fs::remove_file(f);
    }
    // Ended by the signal itself, as gzip is: a shell script's loop stops at Ctrl-C only when
    // its command died of SIGINT (an exit status of 130 says the command dealt with it, and
    // the loop went on to the next file). SIGXCPU's own end would dump the core of a process
    // that may hold a whole model: an exit with the status the shell would show instead.
    #[cfg(unix)]
    if signal != signal_hook::consts::SIGXCPU {
        let _ = signal_hook::low_level::emulate_default_handler(signal);
    }
    std::process::exit(128 + signal);
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
pub(crate) struct Output {
    path: String,
    tmp: Option<PathBuf>,
    w: Option<Box<dyn Write>>,
    /// The file being written, for the metadata set before it is renamed into place.
    file: Option<File>,
    like: Option<fs::Metadata>,
    /// --force: whatever has the name at the end is replaced. Without it the name was free
    /// when it was checked, and a file that takes it meanwhile is kept.
    replace: bool,
}

impl Output {
    /// An output at `path` ('-': stdout) made from `input` ('-': stdin); `force`: --force.
    pub(crate) fn create(path: &str, input: &str, force: bool) -> Result<Self, Fail> {
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
                replace: true,
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
                replace: true,
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
            replace: force,
        })
    }
    pub(crate) fn write(&mut self, b: &[u8]) -> Result<(), Fail> {
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
    pub(crate) fn commit(mut self) -> Result<(), Fail> {
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
        if self.replace {
            fs::rename(&tmp, &self.path).map_err(cannot)?;
        } else {
            // The name was free when it was checked: a file that took it meanwhile (another
            // program, another zipnn) is not replaced. A hard link fails where the name is
            // taken, where a rename would replace it.
            let taken = || Fail {
                msg: format!(
                    "{} appeared while it was being written and is left as it is {}",
                    self.path, "(use --force to overwrite)"
                ),
                usage: false,
            };
            match fs::hard_link(&tmp, &self.path) {
                // The output is in place: the temporary name goes (a failure there leaves a
                // second name for a complete file, not a failed run).
                Ok(()) => {
                    let _ = fs::remove_file(&tmp);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(taken()),
                // No hard links on this file system: check, then rename.
                Err(_) if fs::symlink_metadata(&self.path).is_ok() => return Err(taken()),
                Err(_) => fs::rename(&tmp, &self.path).map_err(cannot)?,
            }
        }
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
