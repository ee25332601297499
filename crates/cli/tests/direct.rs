//! Direct delivery (an outgoing server of kind `mx`) and send limits, end to end: the real
//! binary, a real DNS server on loopback (`postern_testkit::dns`, hickory-server) serving the
//! test domains' zones, and a capture SMTP sink (offering STARTTLS) standing for every MX host
//! on 127.0.0.1 — the server's `port` is the MX port.
//!
//! - A mail to `user@dest.test`, whose MX names a host with an A record of 127.0.0.1, reaches the
//!   sink over STARTTLS; a domain without MX falls back to its A record; a mail to two domains
//!   reaches both.
//!   dest.test publishes an MTA-STS record whose policy cannot be fetched (nothing serves HTTPS
//!   on 127.0.0.1): delivered as without a policy (RFC 8461 section 5).
//! - A null MX (RFC 7505) fails for good, with the reason; so does a domain that does not exist.
//! - `postern server test` on the mx server finds the MX host and says that port 25 outward is
//!   often blocked.
//! - A relay with `limit_per_hour = 2`: of five mails, the two transactional ones go first and
//!   two in all; the others wait (`outgoing`, `waiting_reason`, `next_try_at` an hour ahead),
//!   on SQLite and PostgreSQL.

use postern_testkit::dns::{DnsServer, Zone};
use postern_testkit::sink::{self, Behaviour, Sink};
use postern_testkit::{Serve, database, drop_database, eventually};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "direct-delivery-test-token-0123456789";

fn zones() -> Vec<Zone> {
    vec![
        Zone::new("example.com", "@ IN MX 10 mail\nmail IN A 127.0.0.1\n"),
        Zone::new(
            "dest.test",
            "@ IN MX 20 mx2\n@ IN MX 10 mx1\nmx1 IN A 127.0.0.1\nmx2 IN A 127.0.0.2\n\
             _mta-sts IN TXT \"v=STSv1; id=1\"\nmta-sts IN A 127.0.0.1\n",
        ),
        Zone::new("nullmx.test", "@ IN MX 0 .\n"),
        Zone::new("nomx.test", "@ IN A 127.0.0.1\n"),
    ]
}

/// The configuration: example.com, and the outgoing server `servers` gives, asking `dns`.
fn config(dir: &Path, dns: &DnsServer, servers: &str) -> std::path::PathBuf {
    let cfg = dir.join("postern.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nhostname = \"mail.example.com\"\n{}\ndns_timeout = \"2s\"\n\n\
             [[alias_domains]]\nname = \"example.com\"\n\
             [[companies]]\nname = \"Example\"\nemail = \"info@example.com\"\nalias_domain = \"example.com\"\n\
             {servers}",
            dns.config_line()
        ),
    )
    .unwrap();
    cfg
}

fn start(dir: &Path, db: &str, cfg: &Path) -> Serve {
    let envs = [
        ("POSTERN_DATABASE_URL", db),
        ("POSTERN_DELIVERY_POLL_MS", "50"),
        ("POSTERN_DELIVERY_TIMEOUT_SECONDS", "5"),
    ];
    Serve::start(BIN, dir, TOKEN, &envs, &["--config", cfg.to_str().unwrap()])
}

/// Queues a mail from info@example.com to `to`; its id.
async fn send(s: &Serve, to: &[&str], stream: &str) -> i64 {
    queue(s, to, stream, None).await
}

/// Queues a mail, not to go before `at` (RFC 3339) when given; its id.
async fn queue(s: &Serve, to: &[&str], stream: &str, at: Option<&str>) -> i64 {
    let (st, mail) = s
        .post(
            "/api/v1/mail",
            json!({"from": "info@example.com", "to": to, "subject": format!("To {}", to.join(" ")),
                   "body_text": "Hello.", "stream": stream, "scheduled_date": at}),
        )
        .await;
    assert_eq!(st, 201, "{mail}");
    mail["id"].as_i64().unwrap()
}

/// The mail once it is no longer `outgoing`.
async fn settled(s: &Serve, id: i64) -> Value {
    eventually(30, &format!("mail {id} sent or failed"), || async move {
        let (_, m) = s.get(&format!("/api/v1/mail/{id}")).await;
        (m["state"] != "outgoing").then_some(m)
    })
    .await
}

fn delivered_to(sink: &Sink, rcpt: &str) -> Option<sink::Captured> {
    sink.messages()
        .into_iter()
        .find(|m| m.rcpts.iter().any(|r| r == rcpt))
}

// Multi-threaded: the sink must answer while the test waits for `server test`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_delivery_by_mx_with_fallback_and_null_mx() {
    let mx = sink::start(Behaviour {
        starttls: true,
        ..Default::default()
    })
    .await;
    let dns = DnsServer::start(&zones());
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), false).await;
    let cfg = config(
        dir.path(),
        &dns,
        &format!(
            "[[outgoing_servers]]\nname = \"direct\"\nkind = \"mx\"\nport = {}\n",
            mx.port
        ),
    );
    let s = start(dir.path(), &db, &cfg);

    let by_mx = send(&s, &["alice@dest.test"], "transactional").await;
    let by_a = send(&s, &["carol@nomx.test"], "transactional").await;
    let null = send(&s, &["bob@nullmx.test"], "transactional").await;
    let nowhere = send(&s, &["dan@nosuch.test"], "transactional").await;
    let two = send(&s, &["erin@dest.test", "fred@nomx.test"], "transactional").await;

    let m = settled(&s, by_mx).await;
    assert_eq!(m["state"], "sent", "{m}");
    let got = delivered_to(&mx, "alice@dest.test").expect("alice's mail at the MX host");
    assert!(got.tls, "STARTTLS offered by the MX host, and used");
    assert!(got.data.contains("Subject: To alice@dest.test"));
    assert!(
        got.mail_from.starts_with("bounce+"),
        "VERP: {}",
        got.mail_from
    );

    assert_eq!(settled(&s, by_a).await["state"], "sent");
    assert!(
        delivered_to(&mx, "carol@nomx.test").is_some(),
        "no MX: the A record"
    );

    let m = settled(&s, two).await;
    assert_eq!(m["state"], "sent", "{m}");
    assert!(delivered_to(&mx, "erin@dest.test").is_some());
    assert!(delivered_to(&mx, "fred@nomx.test").is_some());

    let m = settled(&s, null).await;
    assert_eq!(m["state"], "exception", "{m}");
    let reason = m["failure_reason"].as_str().unwrap();
    assert!(
        reason.contains("nullmx.test accepts no mail: it publishes a null MX (RFC 7505)"),
        "{reason}"
    );
    assert!(reason.starts_with("550 5.1.2"), "{reason}");
    let m = settled(&s, nowhere).await;
    assert_eq!(m["state"], "exception", "{m}");
    assert!(
        m["failure_reason"]
            .as_str()
            .unwrap()
            .contains("nosuch.test does not exist"),
        "{m}"
    );
    assert!(delivered_to(&mx, "bob@nullmx.test").is_none());

    // The connection test asks DNS for example.com's MX host and warns about port 25.
    let (code, out, err) = postern_testkit::run(
        Command::new(BIN)
            .args(["--data-dir"])
            .arg(dir.path())
            .args(["--config", cfg.to_str().unwrap()])
            .args(["server", "test", "direct", "--timeout", "5"])
            .env("POSTERN_DATABASE_URL", &db),
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("mail.example.com"), "{out}");
    assert!(
        err.contains("port 25 of the recipients' MX hosts, which many hosting providers"),
        "{err}"
    );
    drop(s);
    drop_database(&db).await;
}

/// Five mails through a relay allowing two an hour: transactional first, the rest wait.
async fn send_limits_hold_mail_back(postgres: bool) {
    let relay = sink::start(Behaviour::default()).await;
    let dns = DnsServer::start(&zones());
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let cfg = config(
        dir.path(),
        &dns,
        &format!(
            "[[outgoing_servers]]\nname = \"relay\"\nhost = \"127.0.0.1\"\nport = {}\nlimit_per_hour = 2\n",
            relay.port
        ),
    );
    let s = start(dir.path(), &db, &cfg);
    // Every mail due at the same time, a few seconds ahead, so that one claim sees them all
    // (mass ones queued first).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let at = chrono::DateTime::from_timestamp_millis(now.as_millis() as i64 + 4000)
        .unwrap()
        .to_rfc3339();
    let at = Some(at.as_str());
    let mass: Vec<i64> = vec![
        queue(&s, &["m1@dest.test"], "mass", at).await,
        queue(&s, &["m2@dest.test"], "mass", at).await,
        queue(&s, &["m3@dest.test"], "mass", at).await,
    ];
    let transactional = vec![
        queue(&s, &["t1@dest.test"], "transactional", at).await,
        queue(&s, &["t2@dest.test"], "transactional", at).await,
    ];
    assert!(relay.messages().is_empty(), "nothing due yet");
    eventually(30, "two mails through the relay", || async {
        (relay.messages().len() >= 2).then_some(())
    })
    .await;
    let mut waiting = 0;
    let mut sent = Vec::new();
    let s = &s;
    for id in mass.iter().chain(&transactional) {
        let m = eventually(30, "each mail sent or waiting", || async move {
            let (_, m) = s.get(&format!("/api/v1/mail/{id}")).await;
            (m["state"] == "sent" || !m["waiting_reason"].is_null()).then_some(m)
        })
        .await;
        if m["state"] == "sent" {
            sent.push(*id);
        } else {
            waiting += 1;
            assert_eq!(m["state"], "outgoing", "{m}");
            assert_eq!(m["attempts"], 0, "waiting is not an attempt: {m}");
            assert_eq!(
                m["waiting_reason"],
                "send limit of server `relay`: 2 mails per hour reached"
            );
            let next = m["next_try_at"].as_str().unwrap();
            let created = m["created_at"].as_str().unwrap();
            assert!(next > created, "{m}");
        }
    }
    assert_eq!(sent, transactional, "the transactional mails go first");
    assert_eq!(waiting, 3);
    assert_eq!(relay.messages().len(), 2);
    drop_database(&db).await;
}

#[tokio::test]
async fn send_limits_hold_mail_back_sqlite() {
    send_limits_hold_mail_back(false).await;
}

#[tokio::test]
async fn send_limits_hold_mail_back_postgres() {
    send_limits_hold_mail_back(true).await;
}
