//! Several nodes on one PostgreSQL database: three `postern serve` processes (the real binary)
//! share one database, as behind a load balancer or several MX records (docs/scaling.md).
//! Under the load of `support` (8 SMTP senders and the API, round robin over the three; a
//! mailbox of the private Dovecot fed all along; a webhook receiver):
//!
//! - mail sent to any of them is stored once each;
//! - each outgoing mail is delivered once (the outbox's claims: `FOR UPDATE SKIP LOCKED`);
//! - the incoming server is polled by one node at a time (its lease), and when that node is
//!   killed in the middle of its IDLE watch, another takes it over once the lease has run out,
//!   and nothing fetched is lost or stored twice (then, the killed node's claims come back
//!   after their leases: at least once);
//! - the loop limit (records per sender) holds across nodes;
//! - each webhook event is delivered once.

mod support;

use postern_testkit::{Serve, database, dovecot, drop_database, eventually, sink};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use support::node::{config, settle, start};
use support::{Load, Nodes, Receiver};

/// Leases long enough that no claim runs out on a busy machine (a mail or event sent twice
/// would then be a lease too short, not a fault of the claims), short enough that what the
/// killed node held comes back within the test; the incoming server's short, so that the
/// take-over comes within seconds.
const ENVS: &[(&str, &str)] = &[
    ("POSTERN_DELIVERY_LEASE_SECONDS", "60"),
    ("POSTERN_WEBHOOK_LEASE_SECONDS", "20"),
    ("POSTERN_WEBHOOK_TIMEOUT_SECONDS", "10"),
    ("POSTERN_FETCH_LEASE_SECONDS", "4"),
];

/// Who holds the lease of the incoming server `support` (its owner is `HOST-PID-RANDOM`).
async fn lease_owner_pid(db: &str) -> Option<u32> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(db).await.unwrap();
    let owner: Option<Option<String>> = sqlx::query_scalar(
        "SELECT lease_owner FROM incoming_servers WHERE name = 'support' \
         AND lease_until > (extract(epoch from now()) * 1000)::bigint",
    )
    .fetch_optional(&mut c)
    .await
    .unwrap();
    owner.flatten()?.rsplit('-').nth(1)?.parse().ok()
}

/// Sends `n` messages from one sender, one after the other, round robin over the nodes; how
/// many were taken (250) and refused by the loop limit (550 5.7.1).
async fn one_sender(nodes: &Nodes, n: usize) -> (usize, usize) {
    let (mut taken, mut refused) = (0, 0);
    for i in 0..n {
        let (smtp, _) = nodes.next();
        let raw = format!(
            "From: Looping <looper@customer.example>\r\nTo: sales@example.com\r\nSubject: loop-{i}\r\n\
             Message-ID: <loop-{i}@customer.example>\r\n\r\nAgain.\r\n"
        );
        let out = tokio::task::block_in_place(|| {
            postern_testkit::swaks(&smtp, "looper@customer.example", "sales@example.com", &raw)
        });
        if out.contains("<-  250 2.0.0 OK") {
            taken += 1;
        } else {
            assert!(out.contains("<** 550 5.7.1 the sender created"), "{out}");
            refused += 1;
        }
    }
    (taken, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_on_one_postgres_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), true).await;
    let sink = sink::start(sink::Behaviour::default()).await;
    let (receiver, hook) = Receiver::start().await;
    let maildir = dovecot::maildir("fetch29");
    let cfg = config(dir.path(), sink.port, Some("fetch29"));
    let nodes = Arc::new(Nodes::default());
    let mut running: Vec<Serve> = Vec::new();
    for i in 0..3 {
        // a data directory each (its API token file, its spool); one database
        let own = dir.path().join(format!("node{i}"));
        std::fs::create_dir_all(&own).unwrap();
        let node = start(&own, &db, &cfg, ENVS).await;
        nodes.set(i, &node.smtp, &node.base);
        running.push(node);
    }
    let (status, body) = running[0]
        .post(
            "/api/v1/webhooks",
            json!({"url": hook, "events": ["record.created", "mail.sent"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = running[1]
        .call(
            reqwest::Method::PUT,
            "/api/v1/params/mail.gateway.loop.threshold",
            Some(json!({"value": "5"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // 1. all three busy: stored once, delivered once, each event once
    let load = Load::start(nodes.clone(), 8, Some(maildir.clone()));
    eventually(60, "sixty messages taken", || async {
        (load.ledger.acked.lock().unwrap().len() >= 60).then_some(())
    })
    .await;
    let (taken, refused) = one_sender(&nodes, 8).await;
    let ledger = load.stop().await;
    let queued = ledger.queued.lock().unwrap().len();
    settle(&running[0], &maildir, queued).await;
    let figures = ledger.check(&running[0], &sink, Some(&receiver)).await;
    let records = support::ledger::all(&running[0], "/api/v1/records?limit=500").await;
    let loops = records
        .iter()
        .filter(|r| r["name"].as_str().unwrap_or("").starts_with("loop-"))
        .count();
    eprintln!(
        "three nodes on PostgreSQL: {figures}; loop limit 5: of 8 messages from one sender {taken} taken, \
         {refused} refused, {loops} records"
    );
    assert_eq!(
        (
            figures.lost,
            figures.duplicated,
            figures.undelivered,
            figures.resent
        ),
        (0, 0, 0, 0),
        "stored once, delivered once: {figures}"
    );
    assert_eq!(
        (figures.events_missing, figures.events_resent),
        (0, 0),
        "each event once: {figures}"
    );
    assert_eq!(
        (taken, refused, loops),
        (5, 3, 5),
        "the loop limit across nodes"
    );

    // 2. the node polling the mailbox killed in the middle of its watch: another takes over
    let holder = eventually(30, "a node holds the mailbox's lease", || {
        lease_owner_pid(&db)
    })
    .await;
    let victim = running
        .iter()
        .position(|n| n.pid() == holder)
        .expect("the holder is one of ours");
    let fed = |from: usize| {
        for i in from..from + 20 {
            let id = format!("takeover-{i}");
            dovecot::deliver(&maildir, support::message(&id));
            ledger.fed.lock().unwrap().push(id);
        }
    };
    fed(0);
    running[victim].kill();
    let killed_at = Instant::now();
    fed(20);
    let survivor = (victim + 1) % 3;
    let taker = eventually(60, "another node takes the mailbox over", || async {
        lease_owner_pid(&db).await.filter(|pid| *pid != holder)
    })
    .await;
    let taken_after = killed_at.elapsed();
    settle(&running[survivor], &maildir, queued).await;
    let figures = ledger
        .check(&running[survivor], &sink, Some(&receiver))
        .await;
    eprintln!(
        "three nodes on PostgreSQL, the mailbox's node (pid {holder}) killed, taken over by pid {taker} after \
         {:.1} s (lease 4 s): {figures}",
        taken_after.as_secs_f64()
    );
    assert_eq!(
        (figures.lost, figures.duplicated, figures.events_missing),
        (0, 0, 0),
        "{figures}"
    );
    drop(running);
    drop_database(&db).await;
}
