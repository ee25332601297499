//! End-to-end tests of fetching with the `postern` binary, against the private Dovecot of
//! `scripts/test.sh` (see `crates/fetch/tests/dovecot.rs` for what it exports; without it these
//! tests fail): an IMAP mailbox declared in the configuration file as the README shows it,
//! polled by `postern fetch --once`, by `postern serve`'s scheduler, and by
//! `POST /api/v1/incoming-servers/{id}/fetch`; on SQLite and on PostgreSQL.

use postern_store::Store;
use postern_testkit::{Serve, database, dovecot};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "fetch-test-token-0123456789";

/// Delivers a message of its own sender into `maildir`.
fn deliver(maildir: &Path, subject: &str) {
    let n = postern_testkit::next();
    let raw = format!(
        "From: Client {n} <client{n}@example.org>\r\nTo: help@elsewhere.example\r\nSubject: {subject}\r\n\
         Message-ID: <cli-{}-{n}@test.example.org>\r\n\r\nPlease help.\r\n",
        std::process::id()
    );
    dovecot::deliver(maildir, raw);
}

/// The configuration a newcomer writes (README): one IMAP mailbox, password from the environment.
fn config(dir: &Path, user: &str, active: bool) -> PathBuf {
    let port = dovecot::imap_port();
    let text = format!(
        r#"
[server]
hostname = "postern.test"
smtp_listen = ""

[[incoming_servers]]
name = "support"
protocol = "imap"
host = "localhost"
port = {port}
encryption = "starttls_strict"
username = "{user}"
password_env = "SUPPORT_IMAP_PASSWORD"
model = "helpdesk.ticket"
interval = "1h"
active = {active}
"#
    );
    let path = dir.join("postern.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `postern` with the environment a deployment gives it.
fn postern(dir: &Path, db: &str, args: &[&str], password: &str) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .args(["--data-dir"])
        .arg(dir)
        .args(["--database-url", db])
        .env_remove("POSTERN_CONFIG")
        .env("SUPPORT_IMAP_PASSWORD", password)
        .env("SSL_CERT_FILE", dovecot::ca_file())
        // the most verbose log, to check that no password is in it
        .env("POSTERN_LOG", "trace")
        .output()
        .expect("run postern");
    postern_testkit::output(out)
}

/// "model name" of every record.
async fn record_names(db: &str) -> Vec<String> {
    let store = Store::open(db).await.unwrap();
    let names = postern_testkit::db::records(&store)
        .await
        .into_iter()
        .map(|r| format!("{} {}", r.model, r.name))
        .collect();
    store.close().await;
    names
}

async fn fetch_once(postgres: bool, user: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let mail = dovecot::maildir(user);
    let cfg = config(dir.path(), user, true);
    let cfg = cfg.to_str().unwrap();
    let (code, out, err) = postern(dir.path(), &db, &["apply", cfg], "secret");
    assert_eq!(code, 0, "{out}{err}");
    deliver(&mail, "Printer on fire");
    deliver(&mail, "Coffee machine");
    let (code, out, err) = postern(dir.path(), &db, &["fetch", "--once", "--json"], "secret");
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("secret"), "a password in the log: {err}");
    let reports: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["server"], "support", "{out}");
    assert_eq!(
        (&reports[0]["fetched"], &reports[0]["accepted"]),
        (&Value::from(2), &Value::from(2)),
        "{out}"
    );
    let mut names = record_names(&db).await;
    names.sort();
    assert_eq!(
        names,
        [
            "helpdesk.ticket Coffee machine",
            "helpdesk.ticket Printer on fire"
        ]
    );
    // a wrong password: exit 75 and the server's error, nothing fetched
    deliver(&mail, "Third");
    let (code, out, err) = postern(
        dir.path(),
        &db,
        &["fetch", "--once", "--server", "support"],
        "not-the-password",
    );
    assert_eq!(code, 75, "{out}{err}");
    assert!(
        out.contains("support: fetched 0") && out.contains("login failed"),
        "{out}"
    );
    assert!(!out.contains("not-the-password") && !err.contains("not-the-password"));
    let (code, _, err) = postern(
        dir.path(),
        &db,
        &["fetch", "--once", "--server", "nope"],
        "x",
    );
    assert_eq!(code, 78, "{err}");
}

#[tokio::test]
async fn fetch_once_from_the_configuration_sqlite() {
    fetch_once(false, "fetch31").await;
}

#[tokio::test]
async fn fetch_once_from_the_configuration_postgres() {
    fetch_once(true, "fetch32").await;
}

/// `postern serve --config` on `db`, with the mailbox's password and Dovecot's CA.
fn start(dir: &Path, db: &str, config: &Path) -> Serve {
    let ca = dovecot::ca_file();
    let envs = [("SUPPORT_IMAP_PASSWORD", "secret"), ("SSL_CERT_FILE", &ca)];
    let args = ["--database-url", db, "--config", config.to_str().unwrap()];
    Serve::start(BIN, dir, TOKEN, &envs, &args)
}

/// `POST path` without a body.
async fn post(serve: &Serve, path: &str) -> (u16, Value) {
    serve.call(reqwest::Method::POST, path, None).await
}

async fn wait_for_records(db: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let names = record_names(db).await;
        if names.len() >= n || Instant::now() > deadline {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn serve_fetches(postgres: bool, user: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let mail = dovecot::maildir(user);
    // archived: the schedule leaves it alone, the API polls it on demand
    let cfg = config(dir.path(), user, false);
    let serve = start(dir.path(), &db, &cfg);
    deliver(&mail, "Fetched on demand");
    let (status, body) = post(&serve, "/api/v1/incoming-servers/1/fetch").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["fetched"], &body["accepted"]),
        (&Value::from(1), &Value::from(1))
    );
    let (status, server) = serve.get("/api/v1/incoming-servers/1").await;
    assert_eq!(status, 200);
    let success = server["last_success_at"].as_str().unwrap_or_default();
    assert!(
        success.ends_with('Z') && success.len() == 24,
        "RFC 3339: {server}"
    );
    assert_eq!(server["error_count"], 0);
    assert!(server.get("password").is_none(), "never returned: {server}");
    let (status, body) = post(&serve, "/api/v1/incoming-servers/99/fetch").await;
    assert_eq!(status, 404, "{body}");
    // polled elsewhere (another node holds the lease): 409
    let store = Store::open(&db).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let id = postern_model::IncomingServerId(1);
    let until = postern_store::now_ms() + 60_000;
    assert!(tx.take_fetch_lease(id, "other-node", until).await.unwrap());
    tx.commit().await.unwrap();
    let (status, body) = post(&serve, "/api/v1/incoming-servers/1/fetch").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &Value::from("busy")),
        "{body}"
    );
    let mut tx = store.begin().await.unwrap();
    tx.release_fetch_lease(id, "other-node").await.unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    // a mailbox that refuses the login: 502, the error and the report, kept on the server
    let wrong = serde_json::json!({
        "name": "wrong", "host": "127.0.0.1", "port": dovecot::imap_port(),
        "encryption": "none", "username": user, "password": "not-it",
    });
    let (status, created) = serve.post("/api/v1/incoming-servers", wrong).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/api/v1/incoming-servers/{}/fetch", created["id"]);
    let (status, body) = post(&serve, &path).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (502, &Value::from("fetch_failed")),
        "{body}"
    );
    assert!(
        body["report"]["error"]
            .as_str()
            .unwrap()
            .starts_with("login failed"),
        "{body}"
    );
    let (_, server) = serve
        .get(&format!("/api/v1/incoming-servers/{}", created["id"]))
        .await;
    assert_eq!(server["error_count"], 1, "{server}");
    assert!(
        server["last_error"]
            .as_str()
            .unwrap()
            .contains("AUTHENTICATIONFAILED"),
        "{server}"
    );
    assert!(!server.to_string().contains("not-it"), "{server}");
    drop(serve);
    // active: `serve` polls it at start, then IDLE brings new mail in seconds
    let cfg = config(dir.path(), user, true);
    let _serve = start(dir.path(), &db, &cfg);
    deliver(&mail, "Fetched on schedule");
    let names = wait_for_records(&db, 2).await;
    assert_eq!(names.len(), 2, "{names:?}");
    dovecot::wait_until_idle(user).await;
    deliver(&mail, "Fetched by IDLE");
    let names = wait_for_records(&db, 3).await;
    assert_eq!(names.len(), 3, "{names:?}");
}

#[tokio::test]
async fn serve_polls_on_schedule_and_on_demand_sqlite() {
    serve_fetches(false, "fetch33").await;
}

#[tokio::test]
async fn serve_polls_on_schedule_and_on_demand_postgres() {
    serve_fetches(true, "fetch34").await;
}

/// A real crash: `postern fetch --once` is killed (SIGKILL) in the middle of a POP3 poll. POP3
/// applies `DELE` only at `QUIT`, so every message it had stored is still in the mailbox — the
/// gap between commit and acknowledgement. The next poll stores the rest and ignores the ones
/// already stored (same Message-ID): no duplicate record, an empty mailbox.
async fn crash_mid_poll(postgres: bool, user: &str) {
    const N: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let mail = dovecot::maildir(user);
    let (_, port) = dovecot::endpoint("POSTERN_TEST_POP3");
    let cfg = dir.path().join("pop.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[incoming_servers]]\nname = \"pop\"\nprotocol = \"pop3\"\nhost = \"127.0.0.1\"\n\
             port = {port}\nencryption = \"none\"\nusername = \"{user}\"\n\
             password_env = \"SUPPORT_IMAP_PASSWORD\"\nmodel = \"helpdesk.ticket\"\nmax_messages = {N}\n"
        ),
    )
    .unwrap();
    let (code, out, err) = postern(dir.path(), &db, &["apply", cfg.to_str().unwrap()], "secret");
    assert_eq!(code, 0, "{out}{err}");
    // (each message has its own sender: one sender's 21st record in two hours is a loop)
    for i in 0..N {
        deliver(&mail, &format!("crash {i}"));
    }
    // (each message has its own sender: one sender's 21st record in two hours is a loop)
    let mut child = Command::new(BIN)
        .args(["fetch", "--once", "--data-dir"])
        .arg(dir.path())
        .args(["--database-url", &db])
        .env("SUPPORT_IMAP_PASSWORD", "secret")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let n = record_names(&db).await.len();
        if n >= 5 || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    child.kill().unwrap(); // SIGKILL: no QUIT, no cleanup
    child.wait().unwrap();
    let stored_at_crash = record_names(&db).await.len();
    assert!(
        (5..N).contains(&stored_at_crash),
        "killed mid-poll ({stored} then {stored_at_crash} of {N} stored)"
    );
    assert_eq!(dovecot::count(&mail), N, "nothing deleted without QUIT");
    // the killed poll's lease keeps other polls off until it expires (5 minutes): end it now,
    // as its expiry would
    let store = Store::open(&db).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let id = tx.find_incoming_server("pop").await.unwrap().unwrap();
    tx.release_fetch_lease(id, &lease_owner(&db).await)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    let (code, out, err) = postern(dir.path(), &db, &["fetch", "--once", "--json"], "secret");
    assert_eq!(code, 0, "{out}{err}");
    let reports: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["fetched"], N, "{out}");
    assert_eq!(reports[0]["duplicates"], stored_at_crash, "{out}");
    assert_eq!(reports[0]["accepted"], N - stored_at_crash, "{out}");
    let names = record_names(&db).await;
    let distinct: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!((names.len(), distinct.len()), (N, N), "no duplicate record");
    assert_eq!(dovecot::count(&mail), 0);
}

/// Who holds the lease of the server `pop` (the killed process).
async fn lease_owner(db: &str) -> String {
    use sqlx::Connection;
    let sql = "SELECT lease_owner FROM incoming_servers WHERE name = 'pop'";
    let owner: Option<String> = if db.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(db).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    };
    owner.expect("the killed poll held the lease")
}

#[tokio::test]
async fn crash_mid_poll_makes_no_duplicate_sqlite() {
    crash_mid_poll(false, "fetch35").await;
}

#[tokio::test]
async fn crash_mid_poll_makes_no_duplicate_postgres() {
    crash_mid_poll(true, "fetch36").await;
}
