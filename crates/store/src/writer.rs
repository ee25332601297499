//! The thread of SQLite's writer: the writer connection and the work that writes most (the
//! gateway's group committer) run side by side on one CPU.
//!
//! Why: sqlx runs each SQLite connection on a worker thread of its own, hands every statement
//! to it and every result back — two thread wake-ups per statement, a dozen statements per
//! accepted message. When the caller and the worker sit on different CPUs, each wake-up is an
//! inter-processor interrupt (on a virtual machine, an exit to the hypervisor), and accepting
//! mail spent more time waking threads than running SQL. On one CPU a wake-up is a plain
//! context switch. So the store starts a thread with a single-threaded tokio runtime, pinned to
//! one CPU (the last one the process may use), opens the writer connection from it — the
//! connection's worker thread inherits the pin — and runs there whatever
//! [`crate::Store::spawn_next_to_writer`] is given. Measured on the 2-core machine of
//! BENCHMARKS.md: see "SQLite writer thread" there.
//!
//! `POSTERN_SQLITE_PIN=0` turns the pinning off (the thread stays); with one CPU there is
//! nothing to pin.

use crate::StoreError;
use std::future::Future;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The writer thread; it stops when this is dropped (when the last clone of the store goes).
pub(crate) struct WriterThread {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

impl WriterThread {
    /// Starts the thread and its runtime.
    pub(crate) fn start() -> Result<WriterThread, StoreError> {
        let core = pin_target();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("postern-sqlite-writer".into())
            .spawn(move || {
                if let Some(core) = core
                    && !core_affinity::set_for_current(core)
                {
                    tracing::debug!("could not pin the SQLite writer thread; it runs unpinned");
                }
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => {
                        let _ = ready_tx.send(Ok(runtime.handle().clone()));
                        runtime.block_on(async {
                            let _ = stop_rx.await;
                        });
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        let handle = ready_rx
            .recv()
            .map_err(|_| StoreError::Unavailable("the writer thread did not start".into()))?
            .map_err(|e| StoreError::Unavailable(format!("the writer thread's runtime: {e}")))?;
        Ok(WriterThread {
            handle,
            _stop: stop_tx,
        })
    }

    /// Runs `future` on the writer thread.
    pub(crate) fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs `future` on the writer thread and waits for its result.
    pub(crate) async fn run<F>(&self, future: F) -> Result<F::Output, StoreError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn(future)
            .await
            .map_err(|e| StoreError::Unavailable(format!("the writer thread failed: {e}")))
    }
}

/// The CPU to pin to: the last one this process may run on, if it may run on several and
/// `POSTERN_SQLITE_PIN` is not `0`.
fn pin_target() -> Option<core_affinity::CoreId> {
    if std::env::var("POSTERN_SQLITE_PIN").is_ok_and(|v| v == "0") {
        return None;
    }
    let cores = core_affinity::get_core_ids()?;
    if cores.len() < 2 {
        return None;
    }
    cores.last().copied()
}
