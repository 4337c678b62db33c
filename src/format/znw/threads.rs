//! Work spread over scoped threads that still gets done when the OS will not start a thread
//! (a pids or process limit, too little address space for a stack): the job then runs on the
//! calling thread when it is joined, instead of `std::thread::Scope::spawn`'s panic.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{Builder, Scope, ScopedJoinHandle};

/// A job started with [`start`]: running on a thread of its own, or waiting to run here.
pub(super) enum Job<'scope, T, F> {
    Thread(ScopedJoinHandle<'scope, Option<T>>),
    Here(Arc<Mutex<Option<F>>>),
}

/// Starts `f` on a new thread of `s` if one can be started.
pub(super) fn start<'scope, 'env, T, F>(s: &'scope Scope<'scope, 'env>, f: F) -> Job<'scope, T, F>
where
    T: Send + 'scope,
    F: FnOnce() -> T + Send + 'scope,
{
    // The job stays reachable from here: a refused spawn drops only the thread's handle to it.
    let job = Arc::new(Mutex::new(Some(f)));
    let theirs = Arc::clone(&job);
    let run = move || {
        let f = theirs.lock().unwrap_or_else(PoisonError::into_inner).take();
        f.map(|f| f())
    };
    match Builder::new().spawn_scoped(s, run) {
        Ok(h) => Job::Thread(h),
        Err(_) => Job::Here(job),
    }
}

impl<T, F: FnOnce() -> T> Job<'_, T, F> {
    /// The job's result, once it has run (here, if it got no thread).
    pub fn join(self) -> T {
        let f = match self {
            Job::Thread(h) => match h.join() {
                Ok(Some(r)) => return r,
                Ok(None) => unreachable!("a started thread takes its job before anyone else"),
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Job::Here(job) => job.lock().unwrap_or_else(PoisonError::into_inner).take(),
        };
        f.expect("a job with no thread is run only here")()
    }
}
