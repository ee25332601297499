//! One node of these tests: its configuration (the alias `sales@example.com`, the capture sink
//! as outgoing server, optionally a mailbox of the private Dovecot), its environment (short
//! leases and retries, so that what a killed node held comes back within seconds), its start,
//! and the waits until it has done all it was given.

use super::TOKEN;
use postern_testkit::{Serve, dovecot, eventually};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_postern");

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
    (
        "POSTERN_WEBHOOK_RETRY_SCHEDULE",
        "200ms,500ms,1s,1s,1s,1s,1s,1s,1s,1s",
    ),
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
        Serve::start(
            BIN,
            &dir,
            TOKEN,
            &envs,
            &["--config", cfg.to_str().unwrap()],
        )
    })
    .await
    .unwrap()
}

/// Waits until the node has done everything it was given: the mailbox read, the outbox
/// empty, `queued` mails sent, and no webhook delivery pending.
pub async fn settle(node: &Serve, maildir: &Path, queued: usize) {
    eventually(120, "every message of the mailbox fetched", || async {
        (dovecot::mailbox(maildir).0 == 0).then_some(())
    })
    .await;
    settle_outbox(node, queued).await;
    settle_webhooks(node).await;
}

/// Waits until the outbox is empty and at least `queued` mails are sent.
pub async fn settle_outbox(node: &Serve, queued: usize) {
    eventually(120, "every queued mail sent", || async {
        let (_, out) = node.get("/api/v1/mail?state=outgoing&limit=1").await;
        let sent = super::ledger::all(node, "/api/v1/mail?state=sent&limit=500").await;
        (out["items"].as_array().is_some_and(|a| a.is_empty()) && sent.len() >= queued)
            .then_some(())
    })
    .await;
}

/// Waits until no delivery of the (first) webhook is pending.
pub async fn settle_webhooks(node: &Serve) {
    eventually(120, "every webhook delivery done", || async {
        let (_, hooks) = node.get("/api/v1/webhooks").await;
        let id = hooks["items"][0]["id"].as_i64()?;
        let deliveries =
            super::ledger::all(node, &format!("/api/v1/webhooks/{id}/deliveries?limit=500")).await;
        let pending = deliveries.iter().any(|d| d["state"] != "delivered");
        (!pending).then_some(())
    })
    .await;
}
