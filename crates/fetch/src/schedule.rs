//! The fetch scheduler of `postern serve`: every tick it asks the store which servers are due
//! (active, enabled, interval passed since their last poll, lease free — by priority; at start,
//! every active and enabled server) and polls
//! each one in its own task, one task per server on this node; the lease keeps other nodes off.
//! An IMAP server that offers IDLE keeps its task: its connection waits in IDLE and is polled
//! again as soon as the server announces new mail (seconds, not minutes), and at least once per
//! interval.
//!
//! How it fails: a failing database is logged and tried again at the next tick; the errors of a
//! mailbox are kept on its server row by the poll itself.

use crate::{FetchError, Fetcher};
use postern_model::IncomingServerId;
use postern_store::now_ms;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The scheduler's access to the store, logged once per outage.
static OUTAGE: postern_store::Outage = postern_store::Outage::new("the fetch scheduler");

/// Runs the scheduler until `cancel` is cancelled; checks for due servers every `tick`. Returns
/// after every poll it started has ended.
pub async fn run(fetcher: Fetcher, tick: Duration, cancel: CancellationToken) {
    let running: Arc<Mutex<HashSet<IncomingServerId>>> = Arc::default();
    let tasks = tokio_util::task::TaskTracker::new();
    tracing::info!(owner = fetcher.owner(), "fetch scheduler started");
    let mut first = true;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(tick) => {}
        }
        // the first pass polls every enabled server (and starts the IDLE watches) at once,
        // whenever it was polled last
        let now = if first { i64::MAX / 2 } else { now_ms() };
        first = false;
        let due = match due(&fetcher, now).await {
            Ok(d) => {
                OUTAGE.ok();
                d
            }
            Err(e) => {
                // once per outage, not once per tick
                OUTAGE.failed(&e);
                continue;
            }
        };
        for id in due {
            if !running.lock().expect("running set").insert(id) {
                continue;
            }
            let (fetcher, running, cancel) = (fetcher.clone(), running.clone(), cancel.clone());
            tasks.spawn(async move {
                match fetcher.poll_server(id, Some(&cancel)).await {
                    Ok(report) => tracing::info!(
                        server = %report.server,
                        fetched = report.fetched,
                        accepted = report.accepted,
                        duplicates = report.duplicates,
                        failed = report.failed,
                        unprocessable = report.unprocessable,
                        error = report.error.as_deref().unwrap_or(""),
                        "poll done"
                    ),
                    Err(FetchError::Busy(name)) => {
                        tracing::debug!(server = %name, "polled by another node")
                    }
                    Err(e) => tracing::error!(server = id.get(), error = %e, "poll failed"),
                }
                running.lock().expect("running set").remove(&id);
            });
        }
    }
    tasks.close();
    tasks.wait().await;
    tracing::info!("fetch scheduler stopped");
}

async fn due(fetcher: &Fetcher, now: i64) -> Result<Vec<IncomingServerId>, FetchError> {
    let mut tx = fetcher.gateway.store().read().await?;
    Ok(tx.due_incoming_servers(now).await?)
}
