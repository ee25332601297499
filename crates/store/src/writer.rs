//! The thread of SQLite's direct writer: the gateway's group committer calls SQLite directly and
//! blocks on it (statements, the fsync of each commit), so it runs on a thread of its own, with a
//! single-threaded tokio runtime for the rest of its work (its queue, its answers), and never
//! holds up the runtime that serves the network. [`crate::Store::spawn_next_to_writer`] runs a
//! future there.
//!
//! Pinning this thread (and, before the direct connection, sqlx's worker thread) to one CPU was
//! measured too: it doubled accept while every statement was a hand-off between two threads, and
//! made no difference once there were none, so it is not done.

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
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("postern-sqlite-writer".into())
            .spawn(move || {
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
}
