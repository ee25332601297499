//! Retention through the real binary, on SQLite and PostgreSQL: rows made old (their times set
//! back in the database, as the days would) are counted by `postern prune --dry-run` and removed
//! by `postern prune` as the `postern.retention.*` params say: the bytes of raw originals (their
//! content then answers 410, their messages stay), sent mails; a kind kept for ever (`0`) stays.
//! `serve` prunes on its own too. `DELETE /api/v1/records/{id}` removes a record, its thread
//! and its raw originals, and nothing of another record. A new SQLite database gives freed
//! pages back (incremental vacuum).

use postern_testkit::postfix::SmtpSink;
use postern_testkit::{Serve, database, drop_database, eventually};
use serde_json::{Value, json};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "retention-test-token-0123456789";
const DAY_MS: i64 = 86_400_000;

fn start(dir: &Path, db: &str, sink: &SmtpSink, prune_every: &str) -> Serve {
    let cfg = dir.join("postern.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[alias_domains]]\nname = \"example.com\"\n[[aliases]]\nalias_name = \"sales\"\n\
             alias_domain = \"example.com\"\nmodel = \"crm.lead\"\n[[outgoing_servers]]\n\
             name = \"sink\"\nhost = \"127.0.0.1\"\nport = {}\n",
            sink.port
        ),
    )
    .unwrap();
    let envs = [
        ("POSTERN_DATABASE_URL", db),
        ("POSTERN_DELIVERY_POLL_MS", "50"),
        ("POSTERN_PRUNE_INTERVAL_SECONDS", prune_every),
    ];
    Serve::start(BIN, dir, TOKEN, &envs, &["--config", cfg.to_str().unwrap()])
}

/// Runs one statement on the test's database; the rows it changed.
async fn exec(db: &str, sql: &str) -> u64 {
    use sqlx::Connection;
    if db.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut c)
            .await
            .unwrap()
            .rows_affected()
    } else {
        let mut c = sqlx::PgConnection::connect(db).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut c)
            .await
            .unwrap()
            .rows_affected()
    }
}

async fn count(db: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    if db.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(db).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

/// Sets every time of raw messages and mails back by `days`.
async fn age(db: &str, days: i64) {
    let back = days * DAY_MS;
    exec(
        db,
        &format!("UPDATE raw_messages SET received_at = received_at - {back}"),
    )
    .await;
    exec(
        db,
        &format!(
            "UPDATE mails SET created_at = created_at - {back}, \
             sent_at = sent_at - {back} WHERE sent_at IS NOT NULL"
        ),
    )
    .await;
}

fn prune(dir: &Path, db: &str, args: &[&str]) -> Value {
    let out = std::process::Command::new(BIN)
        .arg("prune")
        .args(args)
        .args(["--json", "--data-dir", dir.to_str().unwrap()])
        .env("POSTERN_DATABASE_URL", db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn ingest(s: &Serve, subject: &str) -> Value {
    let raw = format!(
        "From: Carl <carl@customer.example>\r\nTo: sales@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{}@customer.example>\r\n\r\nHello.\r\n",
        subject.replace(' ', "-")
    );
    s.ingest("sales@example.com", raw).await
}

async fn raw_status(s: &Serve, raw: i64) -> u16 {
    s.request(
        reqwest::Method::GET,
        &format!("/api/v1/raw-messages/{raw}/content"),
    )
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

async fn retention(postgres: bool) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let s = start(dir.path(), &db, &sink, "3600");
    if !postgres {
        assert_eq!(count(&db, "PRAGMA auto_vacuum").await, 2, "incremental");
    }
    let first = ingest(&s, "First order").await;
    let second = ingest(&s, "Second order").await;
    let (r1, r2) = (
        first["routes"][0]["record_id"].as_i64().unwrap(),
        second["routes"][0]["record_id"].as_i64().unwrap(),
    );
    let (st, mail) = s
        .post(
            "/api/v1/mail",
            json!({"to": ["robert@customer.example"], "subject": "Offer", "body_html": "<p>x</p>"}),
        )
        .await;
    assert!(st == 201 || st == 202, "{mail}");
    eventually(20, "the mail is sent", || async {
        (!sink.messages().is_empty()).then_some(())
    })
    .await;
    let failed = s
        .request(
            reqwest::Method::POST,
            "/api/v1/ingest?rcpt=sales@example.com",
        )
        .header("Content-Type", "message/rfc822")
        .body("not a message at all")
        .send()
        .await
        .unwrap();
    assert!(!failed.status().is_success());
    let raws = count(&db, "SELECT COUNT(*) FROM raw_messages").await;
    assert_eq!(raws, 3, "two messages and the failed one");
    let raw1 = count(
        &db,
        &format!("SELECT raw_message_id FROM messages WHERE record_id = {r1}"),
    )
    .await;

    // Nothing is due while it is young.
    let due = prune(dir.path(), &db, &["--dry-run"]);
    assert_eq!(due["removed"]["raw_content"], 0, "{due}");
    // 40 days later: the raw bytes (30 days) and the sent mail (30 days) are due; the failed
    // raw message (90 days) is not.
    age(&db, 40).await;
    let due = prune(dir.path(), &db, &["--dry-run"]);
    assert_eq!(due["removed"]["raw_content"], 2, "{due}");
    assert_eq!(due["removed"]["mails"], 1, "{due}");
    assert_eq!(due["removed"]["unprocessable"], 0, "{due}");
    assert_eq!(raw_status(&s, raw1).await, 200, "a dry run removes nothing");
    // Raw bytes kept for ever: `0`.
    let put = s
        .request(
            reqwest::Method::PUT,
            "/api/v1/params/postern.retention.raw_days",
        )
        .json(&json!({"value": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let done = prune(dir.path(), &db, &[]);
    assert_eq!(done["removed"]["raw_content"], 0, "{done}");
    assert_eq!(done["removed"]["mails"], 1, "{done}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM mails").await, 0);
    let (st, _) = s.get(&format!("/api/v1/mail/{}", mail["id"])).await;
    assert_eq!(st, 404);
    // Back to 30 days: the bytes go; the message and its thread stay; the content is 410.
    s.request(
        reqwest::Method::DELETE,
        "/api/v1/params/postern.retention.raw_days",
    )
    .send()
    .await
    .unwrap();
    let done = prune(dir.path(), &db, &[]);
    assert_eq!(done["removed"]["raw_content"], 2, "{done}");
    assert_eq!(raw_status(&s, raw1).await, 410);
    let (_, thread) = s.get(&format!("/api/v1/records/{r1}/messages")).await;
    assert_eq!(thread["items"].as_array().unwrap().len(), 1, "{thread}");

    // The application deletes a record: its thread and raw originals go, the other stays.
    let del = s
        .request(reqwest::Method::DELETE, &format!("/api/v1/records/{r1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    assert_eq!(s.get(&format!("/api/v1/records/{r1}")).await.0, 404);
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM raw_messages WHERE id = {raw1}")
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM messages WHERE record_id = {r1}")
        )
        .await,
        0
    );
    assert_eq!(s.get(&format!("/api/v1/records/{r2}")).await.0, 200);
    let del = s
        .request(reqwest::Method::DELETE, &format!("/api/v1/records/{r1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 404);
    drop(s);

    // `serve` prunes by itself (here every second): a third message, made old, loses its bytes.
    let s = start(dir.path(), &db, &sink, "1");
    let third = ingest(&s, "Third order").await;
    let r3 = third["routes"][0]["record_id"].as_i64().unwrap();
    let raw3 = count(
        &db,
        &format!("SELECT raw_message_id FROM messages WHERE record_id = {r3}"),
    )
    .await;
    age(&db, 40).await;
    eventually(20, "serve prunes the bytes", || async {
        (raw_status(&s, raw3).await == 410).then_some(())
    })
    .await;
    drop(s);
    drop_database(&db).await;
}

#[tokio::test]
async fn old_rows_are_pruned_and_a_record_can_be_deleted_sqlite() {
    retention(false).await;
}

#[tokio::test]
async fn old_rows_are_pruned_and_a_record_can_be_deleted_postgres() {
    retention(true).await;
}
