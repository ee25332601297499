//! Faults on the way out and below, through the real binary: the SMTP sink stalls, answers
//! 421 or 451, drops the connection in DATA, refuses a recipient; the webhook receiver hangs;
//! PostgreSQL is stopped under load and started again (a private cluster of the test); the
//! disk of SQLite's data directory fills up (a tmpfs of 4 MB).
//!
//! What must hold: Postern answers `451 4.3.0` where it cannot store, and never `250` for what
//! it did not store; it keeps serving what it can (reads, mail to the queue, the health
//! check); it recovers on its own once the fault is gone; and its log says what happened
//! once per fault and component, not once per message or per poll.

mod support;

use postern_testkit::private_pg::PrivatePostgres;
use postern_testkit::{Serve, database, drop_database, eventually, sink};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use support::node as chaos;
use support::{Load, Nodes, Receiver, send_smtp};

/// The log's lines at WARN or ERROR level that contain `what`.
fn complaints(log: &Path, what: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| (l.contains(" WARN ") || l.contains(" ERROR ")) && l.contains(what))
        .map(str::to_owned)
        .collect()
}

async fn outbound_faults(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let sink = sink::start(sink::Behaviour {
        stall_first: 1,
        close_421_first: 2,
        tempfail_first: 2,
        drop_in_data_first: 2,
        reject_rcpt: vec!["nobody@customer.example".into()],
        ..Default::default()
    })
    .await;
    let (receiver, hook) = Receiver::start().await;
    receiver
        .hang
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let cfg = chaos::config(dir.path(), sink.port, None);
    let log = dir.path().join("postern.log");
    let log_env = log.to_str().unwrap();
    let node = chaos::start(
        dir.path(),
        &db,
        &cfg,
        &[
            ("POSTERN_DELIVERY_TIMEOUT_SECONDS", "2"),
            ("POSTERN_LOG_FILE", log_env),
        ],
    )
    .await;
    let (status, body) = node
        .post(
            "/api/v1/webhooks",
            json!({"url": hook, "events": ["record.created", "mail.sent"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut queued = Vec::new();
    for i in 0..10 {
        let mut to = vec![format!("rcpt{i}@customer.example")];
        if i == 0 {
            to.push("nobody@customer.example".into());
        }
        let (status, mail) = node
            .post(
                "/api/v1/mail",
                json!({"to": to, "subject": format!("fault-{i}"), "body_text": "Hi"}),
            )
            .await;
        assert_eq!(status, 201, "{mail}");
        queued.push(mail["id"].as_i64().unwrap());
    }
    // the receiver hangs: mail keeps coming in and being stored meanwhile
    for i in 0..5 {
        send_smtp(&node.smtp, &format!("hung-{i}"))
            .await
            .expect("250 while the webhook hangs");
    }
    chaos::settle_outbox(&node, queued.len()).await;
    receiver
        .hang
        .store(false, std::sync::atomic::Ordering::SeqCst);
    chaos::settle_webhooks(&node).await;
    let (_, first) = node
        .get(&format!("/api/v1/mail/{}/recipients", queued[0]))
        .await;
    let refused = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "nobody@customer.example")
        .cloned();
    assert!(
        refused.as_ref().is_some_and(|r| r["status"] == "exception"),
        "the refused recipient: {first}"
    );
    let got = sink.messages();
    for i in 0..10 {
        let subject = format!("fault-{i}");
        assert!(
            got.iter()
                .any(|m| support::ledger::header(&m.data, "Subject") == subject),
            "{subject} never delivered"
        );
    }
    let ledger = support::Ledger::default();
    ledger
        .acked
        .lock()
        .unwrap()
        .extend((0..5).map(|i| format!("hung-{i}")));
    let figures = ledger.check(&node, &sink, Some(&receiver)).await;
    assert_eq!(
        (figures.lost, figures.duplicated, figures.events_missing),
        (0, 0, 0),
        "{figures}"
    );
    eprintln!(
        "outbound faults ({}): stall 1, 421 2, 451 2, cut in DATA 2, refused recipient 1, webhook hung; \
         all recovered; {} deliveries for 10 mails; log complaints {}",
        if postgres { "PostgreSQL" } else { "SQLite" },
        got.len(),
        complaints(&log, "").len()
    );
    drop(node);
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbound_faults_recovered_sqlite() {
    outbound_faults(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbound_faults_recovered_postgres() {
    outbound_faults(true).await;
}

/// Sends `id` until it gets an answer that is not a connection error: `Ok` (250) or the
/// reply code of the refusal.
async fn answer(smtp: &str, id: &str) -> Result<(), String> {
    send_smtp(smtp, id)
        .await
        .map_err(|e| support::reply_code(&e))
}

/// Waits until every component named failing in `complaints` has logged that it recovered
/// (the API's database says so at the next health check, as a load balancer's).
async fn recovered(node: &Serve, log: &Path, complaints: &[String]) {
    let failing: Vec<String> = complaints
        .iter()
        .filter_map(|l| {
            l.split("component=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect();
    for component in failing {
        eventually(60, &format!("{component} recovered"), || async {
            let _ = reqwest::get(node.url("/healthz")).await;
            let text = std::fs::read_to_string(log).unwrap_or_default();
            text.lines()
                .any(|l| {
                    l.contains("has recovered") && l.contains(&format!("component=\"{component}\""))
                })
                .then_some(())
        })
        .await;
    }
}

/// Mounts a tmpfs of `size` on `dir`; a test that cannot fails loudly (it needs root).
fn mount_tmpfs(dir: &Path, size: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output()
        .expect("run mount");
    assert!(
        out.status.success(),
        "FAULT TEST NOT RUN: cannot mount a tmpfs on {} (run as root, e.g. in scripts/test.sh's container): {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Unmounts `dir` when dropped (lazily, if the node still has files open).
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0)
            .status();
    }
}

/// Fills the file system of `dir` with `filler` until it is full.
fn fill(filler: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(filler).unwrap();
    let chunk = vec![0x5a_u8; 16 * 1024];
    while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disk_full_answers_451_keeps_serving_and_recovers_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    mount_tmpfs(&data, "4m");
    let _mounted = Mounted(&data);
    let sink = sink::start(sink::Behaviour::default()).await;
    let cfg = chaos::config(dir.path(), sink.port, None);
    let log = dir.path().join("postern.log");
    let db = format!("sqlite://{}/postern.db", data.display());
    let node = chaos::start(
        &data,
        &db,
        &cfg,
        &[("POSTERN_LOG_FILE", log.to_str().unwrap())],
    )
    .await;
    answer(&node.smtp, "before-0").await.expect("250 with room");
    let filler = data.join("filler");
    fill(&filler);
    let before = complaints(&log, "").len();
    let mut refused = Vec::new();
    // what still fits (in the WAL's pages) is stored and acknowledged; then only 451s
    let mut sent = 0;
    while refused.len() < 10 && sent < 300 {
        if let Err(code) = answer(&node.smtp, &format!("full-{sent}")).await {
            refused.push((sent, code));
        }
        sent += 1;
    }
    assert!(
        !refused.is_empty(),
        "the disk is full, yet every message got 250"
    );
    assert!(refused.iter().all(|(_, c)| c == "451 4.3.0"), "{refused:?}");
    // a message too large to stay in memory is spooled to the data directory: full too
    let mut big = support::message("full-big");
    big.push_str(
        &"This line makes the message large enough to be spooled to disk.\r\n".repeat(6000),
    );
    let spooled = support::send_raw(&node.smtp, "full-big", &big).await;
    let spooled = spooled.map_err(|e| support::reply_code(&e));
    assert_eq!(
        spooled,
        Err("451 4.3.0".to_owned()),
        "a message that cannot be spooled"
    );
    // what it can still do: the health check, reads
    let (status, _) = node.get("/api/v1/records?limit=5").await;
    assert_eq!(status, 200);
    let health = reqwest::get(node.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let during = complaints(&log, "");
    assert!(
        during.len() - before <= 3,
        "the log complains once per message, not once per fault:\n{}",
        during[before..].join("\n")
    );
    std::fs::remove_file(&filler).unwrap();
    // it recovers on its own: the senders' retries are stored, once each
    for (i, _) in &refused {
        eventually(30, "a retry after the disk was freed gets 250", || async {
            answer(&node.smtp, &format!("full-{i}")).await.ok()
        })
        .await;
    }
    // the other components recover too: a mail queued now is sent, and each component that
    // said it was failing says it has recovered
    let (status, mail) = node
        .post("/api/v1/mail", json!({"to": ["after@customer.example"], "subject": "after-the-fault", "body_text": "Hi"}))
        .await;
    assert_eq!(status, 201, "{mail}");
    chaos::settle_outbox(&node, 1).await;
    recovered(&node, &log, &during[before..]).await;
    eventually(
        30,
        "the large message taken after the disk was freed",
        || async { support::send_raw(&node.smtp, "full-big", &big).await.ok() },
    )
    .await;
    let ledger = support::Ledger::default();
    ledger.acked.lock().unwrap().push("full-big".to_owned());
    ledger.acked.lock().unwrap().extend(
        (0..sent)
            .map(|i| format!("full-{i}"))
            .chain(["before-0".to_owned()]),
    );
    let figures = ledger.check(&node, &sink, None).await;
    assert_eq!((figures.lost, figures.duplicated), (0, 0), "{figures}");
    eprintln!(
        "disk full (SQLite on a 4 MB tmpfs): {} of {sent} messages answered 451 4.3.0, the rest 250; after freeing \
         the disk all {} stored once; log complaints during the fault:\n{}",
        refused.len(),
        sent + 1,
        during[before..].join("\n")
    );
    drop(node);
}

/// A new database on the private cluster; its URL.
async fn private_database(pg: &PrivatePostgres) -> String {
    let store = postern_store::Store::open(&pg.admin_url).await.unwrap();
    store
        .create_database_for_tests("postern_faults")
        .await
        .unwrap();
    store.close().await;
    let (base, _) = pg.admin_url.rsplit_once('/').unwrap();
    format!("{base}/postern_faults")
}

/// Waits until the load has `n` messages acknowledged.
async fn acked(load: &Load, n: usize, what: &str) {
    eventually(90, what, || async {
        (load.ledger.acked.lock().unwrap().len() >= n).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_under_load_answers_451_and_recovers() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await
        .unwrap();
    let db = private_database(&pg).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = sink::start(sink::Behaviour::default()).await;
    let cfg = chaos::config(dir.path(), sink.port, None);
    let log = dir.path().join("postern.log");
    let node = chaos::start(
        dir.path(),
        &db,
        &cfg,
        &[("POSTERN_LOG_FILE", log.to_str().unwrap())],
    )
    .await;
    let nodes = Arc::new(Nodes::default());
    nodes.set(0, &node.smtp, &node.base);
    let load = Load::start(nodes, 4, None);
    acked(&load, 20, "mail stored before the stop").await;
    let before = complaints(&log, "").len();
    tokio::task::block_in_place(|| pg.stop());
    eventually(60, "451 4.3.0 while PostgreSQL is down", || async {
        load.ledger
            .refusals
            .lock()
            .unwrap()
            .contains_key("451 4.3.0")
            .then_some(())
    })
    .await;
    // what it can still do without its database
    let health = reqwest::get(node.url("/healthz")).await.unwrap();
    let during = complaints(&log, "");
    tokio::task::block_in_place(|| pg.start_again());
    let n = load.ledger.acked.lock().unwrap().len();
    acked(
        &load,
        n + 20,
        "mail stored again after the start, without a restart of postern",
    )
    .await;
    let ledger = load.stop().await;
    let queued = ledger.queued.lock().unwrap().len();
    chaos::settle_outbox(&node, queued).await;
    let figures = ledger.check(&node, &sink, None).await;
    recovered(&node, &log, &during[before..]).await;
    let refusals = ledger.refusals.lock().unwrap().clone();
    eprintln!(
        "PostgreSQL stopped under load and started again: {figures}; refusals {refusals:?}; \
         health during the outage {}; log complaints during the outage:\n{}",
        health.status(),
        during[before..].join("\n")
    );
    assert_eq!(
        (figures.lost, figures.duplicated, figures.undelivered),
        (0, 0, 0),
        "{figures}"
    );
    assert!(
        refusals
            .keys()
            .all(|k| k == "451 4.3.0" || k.starts_with("POST /mail") || k.starts_with("I/O")),
        "only 451 4.3.0 (or a connection cut) while the database is away: {refusals:?}"
    );
    // Postern's own components: once each; sqlx's pool says a line per pooled connection
    // that the server cut (at most its 16 connections, twice), never one per message or poll
    let (ours, pool): (Vec<&String>, Vec<&String>) = during[before..]
        .iter()
        .partition(|l| l.contains(" postern_"));
    let components: std::collections::HashSet<&str> = ours
        .iter()
        .filter_map(|l| l.split("component=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        components.len() == ours.len() && pool.len() <= 32,
        "the log complains once per fault and component, not per message or poll:\n{}",
        during[before..].join("\n")
    );
    drop(node);
}
