//! Group commit for SQLite: one task owns the writing of inbound messages; it takes every message
//! waiting when it starts a transaction (up to [`MAX_BATCH`]), runs each in its own savepoint,
//! commits once — one fsync for the batch — and only then answers each caller.
//!
//! Nothing is acknowledged before it is durable: a caller gets its outcome after the commit that
//! contains its message; if that commit fails, every caller of the batch gets the error (and
//! its sender retries; a message that was in fact stored is then a duplicate). One message that
//! fails rolls back to its savepoint and does not disturb the others.
//!
//! PostgreSQL does not need this: concurrent transactions there share WAL flushes already.

use crate::outcome::AcceptOutcome;
use crate::{Received, apply, lookups};
use postern_mime::ParsedMessage;
use postern_store::{DirectWriter, Packing, Store, StoreError, Tx};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most messages one transaction takes.
pub(crate) const MAX_BATCH: usize = 64;

/// One message waiting for the committer.
pub(crate) struct Job {
    pub raw: Arc<Vec<u8>>,
    /// The raw message packed for storage, when worth it (see `postern_store::Packing`).
    pub packed: Option<postern_store::Packed>,
    pub msg: ParsedMessage,
    pub received: Received,
    pub reply: oneshot::Sender<Result<AcceptOutcome, StoreError>>,
}

/// Starts the committer; it stops when every sender is dropped.
pub(crate) fn spawn(store: Store, hostname: String) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(MAX_BATCH * 4);
    // On the writer's thread, where the direct connection may block.
    let runner = store.clone();
    runner.spawn_next_to_writer(async move {
        // On SQLite, the committer's own connection, called directly from this thread (see
        // `postern_store::DirectWriter`); without it, the store's writer pool.
        let direct = match store.direct_writer() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "no direct SQLite connection for the committer; using the pool");
                None
            }
        };
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            metrics::histogram!("postern_commit_batch_size").record(batch.len() as f64);
            run_batch(&store, direct.as_ref(), &hostname, batch).await;
        }
    });
    tx
}

async fn run_batch(store: &Store, direct: Option<&DirectWriter>, hostname: &str, batch: Vec<Job>) {
    // Optimistic first: the whole batch without savepoints (two statements fewer per message).
    // If any message fails, that transaction is rolled back and the batch runs again with a
    // savepoint per message, so that the failing one does not take the others down.
    let batch = match attempt(store, direct, hostname, batch, false).await {
        Ok(()) => return,
        Err(batch) => batch,
    };
    if let Err(batch) = attempt(store, direct, hostname, batch, true).await {
        fail_all(
            batch,
            &StoreError::Unavailable("the batch could not be applied".into()),
        );
    }
}

/// Runs and commits a batch; answers every caller and returns `Ok`, or gives the batch back
/// untouched (nothing committed, nobody answered) when `safe` is false and a message failed.
/// One message of a batch: decided and applied within the batch's transaction.
async fn decide_and_apply(
    tx: &mut Tx,
    config: &lookups::GatewayConfig,
    hostname: &str,
    job: &Job,
) -> Result<AcceptOutcome, StoreError> {
    let (decision, setup) =
        lookups::decide_in(tx, config, &job.msg, &job.received.envelope).await?;
    let packing = job
        .packed
        .as_ref()
        .map_or(Packing::AsReceived, Packing::Lz4);
    apply::apply(
        tx,
        hostname,
        (&job.raw, packing),
        &job.msg,
        &job.received,
        decision,
        &setup,
    )
    .await
}

async fn attempt(
    store: &Store,
    direct: Option<&DirectWriter>,
    hostname: &str,
    batch: Vec<Job>,
    safe: bool,
) -> Result<(), Vec<Job>> {
    let size = batch.len();
    let begun = match direct {
        Some(d) => d.begin().await,
        None => store.begin().await,
    };
    let mut tx = match begun {
        Ok(tx) => tx,
        Err(e) => {
            fail_all(batch, &e);
            return Ok(());
        }
    };
    // The configuration is read once for the whole batch, inside its transaction.
    let config = match lookups::GatewayConfig::load(&mut tx).await {
        Ok(c) => c,
        Err(e) => {
            fail_all(batch, &e);
            return Ok(());
        }
    };
    let mut results = Vec::with_capacity(size);
    for job in &batch {
        if safe && let Err(e) = tx.savepoint().await {
            fail_all(batch, &e);
            return Ok(());
        }
        let result = decide_and_apply(&mut tx, &config, hostname, job).await;
        if !safe {
            if result.is_err() {
                let _ = tx.rollback().await;
                return Err(batch);
            }
        } else {
            let closed = match &result {
                Ok(_) => tx.release_savepoint().await,
                Err(_) => tx.rollback_to_savepoint().await,
            };
            if let Err(e) = closed {
                fail_all(batch, &e);
                return Ok(());
            }
        }
        results.push(result);
    }
    if let Err(e) = tx.commit().await {
        fail_all(batch, &e);
        return Ok(());
    }
    if size > 1 {
        tracing::debug!(size, safe, "group commit");
    }
    for (job, result) in batch.into_iter().zip(results) {
        // A caller that went away (a dropped SMTP session) is not answered; its message is
        // stored, and its sender's retry will be a duplicate.
        let _ = job.reply.send(result);
    }
    Ok(())
}

fn fail_all(batch: Vec<Job>, e: &StoreError) {
    // each caller reports the failure (the gateway's `STORING` says it once per outage)
    tracing::info!(error = %e, size = batch.len(), "group commit failed; every message of the batch is retried");
    for job in batch {
        let _ = job.reply.send(Err(StoreError::Unavailable(format!(
            "the batch failed: {e}"
        ))));
    }
}
