//! The answers at the edges, through the real binary, on SQLite and PostgreSQL:
//! - `apply --check` reports every error of a file and changes nothing;
//! - the API answers a JSON route given another content type with 415, and `ingest --url`
//!   turns a refused token into exit 77 with one line safe to show a sender;
//! - LMTP (`[server] lmtp_listen` on TCP) through `serve`: one reply per recipient after DATA;
//! - with the database gone (PostgreSQL refusing every connection): `/healthz` and
//!   `/api/v1/ingest` answer 503, `ingest --url` exits 75, SMTP and LMTP answer `451 4.3.0` and
//!   never `250`; once the database is back, everything works again without a restart, and
//!   nothing offered during the outage was stored.

use postern_testkit::smtp::{Smtp, dot_stuffed};
use postern_testkit::{Serve, database, drop_database, eventually, free_port};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/example.toml");
const TOKEN: &str = "answers-test-token-0123456789";

/// `serve` on `db` with an LMTP listener on `lmtp_port` and the alias `sales@example.com`.
fn start(dir: &Path, db: &str, lmtp_port: u16) -> Serve {
    let cfg = dir.join("postern.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[server]
lmtp_listen = "127.0.0.1:{lmtp_port}"
[[alias_domains]]
name = "example.com"
[[aliases]]
alias_name = "sales"
alias_domain = "example.com"
model = "crm.lead"
"#
        ),
    )
    .unwrap();
    Serve::start(
        BIN,
        dir,
        TOKEN,
        &[("POSTERN_DATABASE_URL", db)],
        &["--config", cfg.to_str().unwrap()],
    )
}

fn mail(id: &str) -> String {
    format!(
        "From: Customer <customer@elsewhere.example>\r\nTo: sales@example.com\r\n\
         Subject: Quote {id}\r\nMessage-ID: <{id}@elsewhere.example>\r\n\
         Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n\r\nPlease send a quote.\r\n"
    )
}

/// `postern ARGS --data-dir DIR` with `envs` and `stdin`: (exit code, stdout, stderr).
fn postern(
    args: &[&str],
    dir: &Path,
    envs: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("POSTERN_DATABASE_URL")
        .env_remove("POSTERN_API_TOKEN");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    tokio::task::block_in_place(|| postern_testkit::run(&mut cmd, stdin))
}

/// One SMTP or LMTP conversation (`hello` is `EHLO` or `LHLO`) with the testkit's plain
/// client: the last line of each reply, in order — greeting, hello, MAIL, each RCPT, then
/// (when DATA got 354) the replies after the final dot, one per accepted recipient for LMTP.
/// A connection that ends early gives empty replies.
async fn converse(addr: &str, hello: &str, rcpts: &[&str], message: &str) -> Vec<String> {
    let last = |reply: String| reply.lines().last().unwrap_or_default().to_owned();
    let (mut c, greeting) = Smtp::connect(addr).await;
    let mut replies = vec![last(greeting)];
    replies.push(last(c.command(&format!("{hello} client.test")).await));
    replies.push(last(
        c.command("MAIL FROM:<customer@elsewhere.example>").await,
    ));
    let mut accepted = 0;
    for rcpt in rcpts {
        let reply = last(c.command(&format!("RCPT TO:<{rcpt}>")).await);
        accepted += usize::from(reply.starts_with("250"));
        replies.push(reply);
    }
    let data = last(c.command("DATA").await);
    let go = data.starts_with("354");
    replies.push(data);
    if go {
        c.send(&dot_stuffed(message.as_bytes())).await;
        let answers = if hello == "LHLO" { accepted } else { 1 };
        for _ in 0..answers {
            replies.push(last(c.reply().await));
        }
    }
    c.send_line("QUIT").await;
    replies
}

async fn records(s: &Serve) -> Vec<Value> {
    let (status, page) = s.get("/api/v1/records?model=crm.lead").await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn lmtp_answers(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let lmtp_port = free_port();
    let s = start(dir.path(), &db, lmtp_port);
    let lmtp = format!("127.0.0.1:{lmtp_port}");
    let replies = converse(
        &lmtp,
        "LHLO",
        &["sales@example.com", "nobody@nowhere.example"],
        &mail("lmtp-1"),
    )
    .await;
    let codes: Vec<&str> = replies.iter().map(|r| &r[..3.min(r.len())]).collect();
    // greeting, LHLO, MAIL, the alias accepted, a stranger's domain refused, DATA, and one
    // answer after the dot: for the one recipient accepted.
    assert_eq!(
        codes,
        ["220", "250", "250", "250", "550", "354", "250"],
        "{replies:#?}"
    );
    let records = records(&s).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["name"], "Quote lmtp-1");
    drop(s);
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lmtp_through_serve_answers_each_recipient_sqlite() {
    lmtp_answers(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lmtp_through_serve_answers_each_recipient_postgres() {
    lmtp_answers(true).await;
}

/// A file with an error in each section that can have one.
const BROKEN: &str = r#"
[[alias_domains]]
name = "bad domain"
[[aliases]]
alias_name = "x"
model = "Bad Model"
[[outgoing_servers]]
name = "r"
host = "h"
prot = 25
"#;

async fn apply_check(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let envs = [("POSTERN_DATABASE_URL", db.as_str())];
    let (code, out, err) = postern(&["apply", "--check", EXAMPLE], dir.path(), &envs, None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok (nothing applied: --check)"), "{out}");
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, BROKEN).unwrap();
    let (code, out, err) = postern(
        &["apply", "--check", broken.to_str().unwrap()],
        dir.path(),
        &envs,
        None,
    );
    assert_eq!(code, 78, "{out}{err}");
    for error in ["bad domain", "Bad Model", "prot"] {
        assert!(err.contains(error), "{error} not reported: {err}");
    }
    // Nothing of either file was applied: the real apply creates every item of the example.
    let (code, out, err) = postern(&["apply", EXAMPLE], dir.path(), &envs, None);
    assert_eq!(code, 0, "{out}{err}");
    let created: usize = out
        .lines()
        .filter_map(|l| {
            l.split_once(": ")?
                .1
                .split_once(" created")?
                .0
                .parse::<usize>()
                .ok()
        })
        .sum();
    let unchanged: usize = out
        .lines()
        .filter_map(|l| {
            l.rsplit_once(", ")?
                .1
                .strip_suffix(" unchanged")?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(created >= 4 && unchanged == 0, "{out}");
    drop_database(&db).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_check_reports_and_changes_nothing_sqlite() {
    apply_check(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_check_reports_and_changes_nothing_postgres() {
    apply_check(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_content_type_is_415_and_a_refused_token_exits_77() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), false).await;
    let s = start(dir.path(), &db, free_port());
    let r = s
        .request(reqwest::Method::POST, "/api/v1/aliases")
        .header("content-type", "text/plain")
        .body(r#"{"alias_name": "x", "model": "crm.lead"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type", "{body}");
    let (code, out, err) = postern(
        &["ingest", "--url", &s.base, "--rcpt", "sales@example.com"],
        dir.path(),
        &[("POSTERN_API_TOKEN", "not-the-token-0123456789")],
        Some(mail("token-1").as_bytes()),
    );
    assert_eq!(
        (code, out.as_str()),
        (77, "5.7.1 delivery not authorized\n")
    );
    assert!(
        !err.contains("not-the-token"),
        "the token is not echoed: {err}"
    );
    assert!(records(&s).await.is_empty());
}

/// Runs SQL on the test server as its admin.
async fn admin_sql(sql: &str) {
    use sqlx::Connection;
    let url = std::env::var("POSTERN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

/// The database of `url` refuses new connections and loses the ones it had (`gone`), or
/// takes them again.
async fn database_gone(url: &str, gone: bool) {
    let name = url.rsplit_once('/').unwrap().1;
    admin_sql(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {}",
        !gone
    ))
    .await;
    if gone {
        admin_sql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_gone_is_503_451_and_75_then_all_works_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), true).await;
    let lmtp_port = free_port();
    let s = start(dir.path(), &db, lmtp_port);
    let lmtp = format!("127.0.0.1:{lmtp_port}");
    let replies = converse(&s.smtp, "EHLO", &["sales@example.com"], &mail("before")).await;
    assert!(replies.last().unwrap().starts_with("250"), "{replies:?}");

    database_gone(&db, true).await;
    let ingest_url = |id: &str| {
        postern(
            &["ingest", "--url", &s.base, "--rcpt", "sales@example.com"],
            dir.path(),
            &[("POSTERN_API_TOKEN", TOKEN)],
            Some(mail(id).as_bytes()),
        )
    };
    let health = async {
        eventually(60, "/healthz says the database is away", || async {
            let r = reqwest::get(s.url("/healthz")).await.ok()?;
            (r.status() == 503).then_some(r.json::<Value>().await.unwrap())
        })
        .await
    };
    let ingest = async {
        s.request(
            reqwest::Method::POST,
            "/api/v1/ingest?rcpt=sales@example.com",
        )
        .header("content-type", "message/rfc822")
        .body(mail("during-http"))
        .send()
        .await
        .unwrap()
        .status()
    };
    let (during_smtp, during_lmtp) = (mail("during-smtp"), mail("during-lmtp"));
    let smtp = converse(&s.smtp, "EHLO", &["sales@example.com"], &during_smtp);
    let lmtp_during = converse(&lmtp, "LHLO", &["sales@example.com"], &during_lmtp);
    let (health, ingest, smtp, lmtp_during) = tokio::join!(health, ingest, smtp, lmtp_during);
    eprintln!(
        "during the outage: smtp {smtp:?}, lmtp {lmtp_during:?}, ingest {ingest}, health {health}"
    );
    assert_eq!(health["reason"], "database", "{health}");
    assert_eq!(ingest, 503);
    for replies in [&smtp, &lmtp_during] {
        assert!(
            replies.iter().any(|r| r.starts_with("451 4.3.0")),
            "{replies:?}"
        );
        // greeting, hello, MAIL, RCPT, DATA: what follows the final dot is never a 250
        assert!(
            !replies.iter().skip(5).any(|r| r.starts_with("250")),
            "never 250 for what was not stored: {replies:?}"
        );
    }
    assert_eq!(
        ingest_url("during-pipe"),
        (
            75,
            "4.3.0 temporary failure, try again later\n".into(),
            String::new()
        )
    );

    database_gone(&db, false).await;
    eventually(60, "/healthz is well again", || async {
        let r = reqwest::get(s.url("/healthz")).await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    assert_eq!(ingest_url("after-pipe").0, 0);
    let replies = converse(&lmtp, "LHLO", &["sales@example.com"], &mail("after-lmtp")).await;
    assert!(replies.last().unwrap().starts_with("250"), "{replies:?}");
    let mut names: Vec<String> = records(&s)
        .await
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["Quote after-lmtp", "Quote after-pipe", "Quote before"]
    );
    drop(s);
    drop_database(&db).await;
}
