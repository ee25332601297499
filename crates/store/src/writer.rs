//! The thread of SQLite's direct writer: the gateway's group committer calls SQLite directly and
//! blocks on it (statements, the fsync of each commit), so it runs on a thread of its own, with a
//! single-threaded tokio runtime for the rest of its work (its queue, its answers), and never
//! holds up the runtime that serves the network. [`crate::Store::spawn_next_to_writer`] starts it;
//! the thread ends with the future it was given.
//!
//! Pinning this thread (and, before the direct connection, sqlx's worker thread) to one CPU was
//! measured too: it doubled accept while every statement was a hand-off between two threads, and
//! made no difference once there were none, so it is not done.

use std::future::Future;

/// Runs `future` to completion on a new thread named `name`. If no runtime can be built for it,
/// the future runs as a task of the current runtime instead (said in the log); if the thread
/// cannot be started, the future is dropped (said in the log) — for the committer, every
/// message then gets a temporary failure, and its sender retries.
pub(crate) fn spawn<F>(name: &str, future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, name, "no runtime for a thread of its own; running on the shared one");
            tokio::spawn(future);
            return;
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || runtime.block_on(future))
    {
        tracing::error!(error = %e, name, "cannot start a thread");
    }
}
