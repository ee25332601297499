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

use postern_testkit::{Serve, database, dovecot, drop_database, eventually, sink};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::{Load, Nodes, Receiver, TOKEN};

const BIN: &str = env!("CARGO_BIN_EXE_postern");

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The configuration of the node: the alias, the sink as outgoing server, the mailbox.
pub fn config(dir: &Path, sink_port: u16, imap_user: Option<&str>) -> std::path::PathBuf {
    let mut text = format!(
        r#"
[server]
hostname = "postern.test"
[[alias_domains]]
name = "example.com"
[[aliases]]
alias_name = "sales"
alias_domain = "example.com"
model = "crm.lead"
[[outgoing_servers]]
name = "sink"
host = "127.0.0.1"
port = {sink_port}
encryption = "none"
[params]
"mail.gateway.loop.threshold" = 1000000
"#
    );
    if let Some(user) = imap_user {
        text.push_str(&format!(
            r#"
[[incoming_servers]]
name = "support"
protocol = "imap"
host = "127.0.0.1"
port = {}
encryption = "none"
username = "{user}"
password_env = "SUPPORT_IMAP_PASSWORD"
model = "crm.lead"
interval = "10s"
"#,
            dovecot::imap_port()
        ));
    }
    let path = dir.join("postern.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The environment of every node of these tests: short leases and retries, so that what a
/// killed node held comes back within seconds.
pub const ENVS: &[(&str, &str)] = &[
    ("SUPPORT_IMAP_PASSWORD", "secret"),
    ("POSTERN_DELIVERY_LEASE_SECONDS", "3"),
    ("POSTERN_DELIVERY_POLL_MS", "100"),
    ("POSTERN_DELIVERY_RETRY_BASE_MS", "200"),
    ("POSTERN_DELIVERY_RETRY_MAX_MS", "1000"),
    ("POSTERN_FETCH_LEASE_SECONDS", "3"),
    ("POSTERN_WEBHOOK_LEASE_SECONDS", "4"),
    ("POSTERN_WEBHOOK_TIMEOUT_SECONDS", "2"),
    ("POSTERN_WEBHOOK_POLL_MS", "50"),
    ("POSTERN_WEBHOOK_RETRY_SCHEDULE", "200ms,500ms,1s,1s,1s,1s,1s,1s,1s,1s"),
    ("POSTERN_WEBHOOK_DEFER_SECONDS", "0"),
];

/// Starts a node on `db` (off the runtime's threads: it waits for the banner).
pub async fn start(dir: &Path, db: &str, cfg: &Path, extra: &[(&str, &str)]) -> Serve {
    let (dir, db, cfg) = (dir.to_owned(), db.to_owned(), cfg.to_owned());
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut envs: Vec<(&str, &str)> = ENVS.to_vec();
        envs.push(("POSTERN_DATABASE_URL", &db));
        envs.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Serve::start(BIN, &dir, TOKEN, &envs, &["--config", cfg.to_str().unwrap()])
    })
    .await
    .unwrap()
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
    let figures = ledger.check(&node, &sink, &receiver).await;
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    eprintln!(
        "chaos on {backend}: {kills} kills survived; {figures}; refusals {:?}",
        ledger.refusals.lock().unwrap()
    );
    assert!(figures.acked > 0 && figures.fed > 0 && figures.queued > 0, "{figures}");
    assert_eq!(
        (figures.lost, figures.duplicated, figures.undelivered, figures.events_missing),
        (0, 0, 0, 0),
        "{figures}"
    );
    drop(node);
    drop_database(&db).await;
}

/// Waits until the node has done everything it was given: the mailbox read, the outbox
/// empty, `queued` mails sent, and no webhook delivery pending.
pub async fn settle(node: &Serve, maildir: &Path, queued: usize) {
    eventually(120, "every message of the mailbox fetched", || async {
        (dovecot::mailbox(maildir).0 == 0).then_some(())
    })
    .await;
    eventually(120, "every queued mail sent", || async {
        let (_, out) = node.get("/api/v1/mail?state=outgoing&limit=1").await;
        let sent = support::ledger::all(node, "/api/v1/mail?state=sent&limit=500").await;
        (out["items"].as_array().is_some_and(|a| a.is_empty()) && sent.len() >= queued)
            .then_some(())
    })
    .await;
    eventually(120, "every webhook delivery done", || async {
        let (_, hooks) = node.get("/api/v1/webhooks").await;
        let id = hooks["items"][0]["id"].as_i64()?;
        let deliveries = support::ledger::all(
            node,
            &format!("/api/v1/webhooks/{id}/deliveries?limit=500"),
        )
        .await;
        let pending = deliveries.iter().any(|d| d["state"] != "delivered");
        (!pending).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_again_and_again_loses_nothing_sqlite() {
    killed_again_and_again(false, "fetch27").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_again_and_again_loses_nothing_postgres() {
    killed_again_and_again(true, "fetch28").await;
}
