//! Kills: `postern serve` (the real binary) killed with SIGKILL at random moments while 8 SMTP
//! senders, the API, the delivery runner (to the testkit's capture sink), the fetcher (an IMAP
//! mailbox of the private Dovecot, watched with IDLE) and the webhook sender (to a receiver
//! of the test) are all busy; started again each time on the same database. Afterwards:
//! every message answered `250` is stored exactly once, every fetched message once, every
//! queued mail reached the sink at least once (the re-sends are counted), every event reached
//! its webhook. On SQLite and on PostgreSQL.
//!
//! Its size comes from the environment, so that the suite runs a short version and
//! `scripts/chaos.sh --long` the long one: `POSTERN_CHAOS_KILLS` (3), `POSTERN_CHAOS_UP_MS`
//! (the longest a node lives between two kills, 1500; each life is random between a third of
//! it and all of it), `POSTERN_CHAOS_SENDERS` (8). The figures are printed (`--nocapture`).

mod support;

use postern_testkit::{database, dovecot, drop_database, sink};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::node::{config, settle, start};
use support::{Load, Nodes, Receiver};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A random duration between a third of `up_ms` and `up_ms`.
fn random_life(up_ms: u64) -> Duration {
    let r = postern_store::random_unit();
    Duration::from_millis(up_ms / 3 + (r * (up_ms - up_ms / 3) as f64) as u64)
}

async fn killed_again_and_again(postgres: bool, imap_user: &str) {
    let (kills, up_ms) = (
        knob("POSTERN_CHAOS_KILLS", 3),
        knob("POSTERN_CHAOS_UP_MS", 1500),
    );
    let senders = knob("POSTERN_CHAOS_SENDERS", 8) as usize;
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let sink = sink::start(sink::Behaviour::default()).await;
    let (receiver, hook) = Receiver::start().await;
    let maildir = dovecot::maildir(imap_user);
    let cfg = config(dir.path(), sink.port, Some(imap_user));
    let mut node = start(dir.path(), &db, &cfg, &[]).await;
    let (status, body) = node
        .post(
            "/api/v1/webhooks",
            json!({"url": hook, "events": ["record.created", "mail.sent"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let nodes = Arc::new(Nodes::default());
    nodes.set(0, &node.smtp, &node.base);
    let load = Load::start(nodes.clone(), senders, Some(maildir.clone()));
    for _ in 0..kills {
        tokio::time::sleep(random_life(up_ms)).await;
        node.kill();
        node = start(dir.path(), &db, &cfg, &[]).await;
        nodes.set(0, &node.smtp, &node.base);
    }
    tokio::time::sleep(random_life(up_ms)).await;
    let ledger = load.stop().await;
    let queued = ledger.queued.lock().unwrap().len();
    settle(&node, &maildir, queued).await;
    let figures = ledger.check(&node, &sink, Some(&receiver)).await;
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    eprintln!(
        "chaos on {backend}: {kills} kills survived; {figures}; refusals {:?}",
        ledger.refusals.lock().unwrap()
    );
    assert!(
        figures.acked > 0 && figures.fed > 0 && figures.queued > 0,
        "{figures}"
    );
    assert_eq!(
        (
            figures.lost,
            figures.duplicated,
            figures.undelivered,
            figures.events_missing
        ),
        (0, 0, 0, 0),
        "{figures}"
    );
    drop(node);
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_again_and_again_loses_nothing_sqlite() {
    killed_again_and_again(false, "fetch27").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_again_and_again_loses_nothing_postgres() {
    killed_again_and_again(true, "fetch28").await;
}
