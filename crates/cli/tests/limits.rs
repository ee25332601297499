//! The limits of `[limits]` and generated hostile mail, through `postern serve` over real
//! sockets (issue 18, points 3 and 4): each limit answers with its documented reply, and each
//! hostile message is stored, or refused in the session with its reason and kept raw — never
//! lost after a `250`.

use postern_testkit::Serve;
use postern_testkit::hostile;
use postern_testkit::smtp::Smtp;
use serde_json::{Value, json};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "limits-token-0123456789";
const SALES: &str = "sales@example.com";

/// `serve` with the alias `sales@example.com` and `extra` appended to its configuration.
fn serve(dir: &Path, extra: &str) -> Serve {
    serve_on(dir, extra, None)
}

/// [`serve`] on the database `db` (default: SQLite in the data directory).
fn serve_on(dir: &Path, extra: &str, db: Option<&str>) -> Serve {
    let config = dir.join("postern.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhostname = \"mx.example.com\"\n{extra}\n\
             [[alias_domains]]\nname = \"example.com\"\n\
             [[aliases]]\nalias_name = \"sales\"\nalias_domain = \"example.com\"\nmodel = \"crm.lead\"\n"
        ),
    )
    .unwrap();
    let data = dir.join("data");
    let envs: Vec<(&str, &str)> = db
        .map(|db| ("POSTERN_DATABASE_URL", db))
        .into_iter()
        .collect();
    Serve::start(
        BIN,
        &data,
        TOKEN,
        &envs,
        &["--config", config.to_str().unwrap()],
    )
}

async fn items(s: &Serve, path: &str) -> Vec<Value> {
    let (status, page) = s.get(path).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

/// Each hostile message: stored (a record), or refused with `554 5.6.0` and its reason and
/// kept raw with it.
#[tokio::test]
async fn hostile_mail_is_stored_or_refused_with_its_reason_never_lost_sqlite() {
    hostile_mail(false).await;
}

#[tokio::test]
async fn hostile_mail_is_stored_or_refused_with_its_reason_never_lost_postgres() {
    hostile_mail(true).await;
}

async fn hostile_mail(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = postern_testkit::database(dir.path(), postgres).await;
    let s = serve_on(dir.path(), "", Some(&db));
    let refused: [(&str, Vec<u8>, &str); 4] = [
        (
            "MIME nested 1,000 deep",
            hostile::nested(1000, SALES),
            "nested more than 20 levels",
        ),
        (
            "100,000 headers",
            hostile::many_headers(100_000, SALES),
            "header fields in one header section",
        ),
        (
            "a 10 MB header line",
            hostile::long_header_line(10 << 20, SALES),
            "max_header_bytes",
        ),
        (
            "50,000 parts",
            hostile::many_parts(50_000, SALES),
            "more than 1000 MIME parts",
        ),
    ];
    let mut c = Smtp::ehlo(&s.smtp).await;
    for (case, raw, reason) in &refused {
        let reply = c.mail("hostile@customer.test", &[SALES], raw).await;
        assert!(
            reply.starts_with("554 5.6.0 ") && reply.contains(reason),
            "{case}: {reply}"
        );
    }
    let stored: [(&str, Vec<u8>); 3] = [
        ("broken base64", hostile::broken_base64(SALES)),
        ("unknown charsets", hostile::unknown_charsets(SALES)),
        ("NUL bytes", hostile::nul_bytes(SALES)),
    ];
    for (case, raw) in &stored {
        let reply = c.mail("hostile@customer.test", &[SALES], raw).await;
        assert!(reply.starts_with("250 "), "{case}: {reply}");
    }
    assert!(c.command("QUIT").await.starts_with("221"));
    // Every refusal is kept raw with its reason; every 250 made a record.
    let failed = items(&s, "/api/v1/raw-messages?status=failed").await;
    assert_eq!(failed.len(), refused.len(), "{failed:?}");
    for (case, _, reason) in &refused {
        assert!(
            failed
                .iter()
                .any(|r| r["error"].as_str().is_some_and(|e| e.contains(reason))),
            "{case} kept raw with its reason: {failed:?}"
        );
    }
    let records = items(&s, "/api/v1/records?model=crm.lead").await;
    assert_eq!(records.len(), stored.len(), "{records:?}");
    // The attachment of the broken base64 is served, whatever its bytes became.
    let messages = items(&s, "/api/v1/raw-messages").await;
    assert_eq!(messages.len(), refused.len() + stored.len());
    drop(s);
    postern_testkit::drop_database(&db).await;
}

/// `[limits]` of the SMTP listener: recipients, errors and commands per session, each answered
/// as docs/configuration.md says.
#[tokio::test]
async fn smtp_limits_answer_their_replies() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(
        dir.path(),
        "[limits]\nmax_recipients = 2\nmax_errors = 3\nmax_commands = 8\n",
    );
    // Recipients: the third is 452 4.5.3.
    let mut c = Smtp::ehlo(&s.smtp).await;
    assert!(
        c.command("MAIL FROM:<a@customer.test>")
            .await
            .starts_with("250")
    );
    for _ in 0..2 {
        assert!(
            c.command(&format!("RCPT TO:<{SALES}>"))
                .await
                .starts_with("250")
        );
    }
    let r = c.command(&format!("RCPT TO:<{SALES}>")).await;
    assert!(r.starts_with("452 4.5.3"), "{r}");
    drop(c);
    // Errors: the third refused command ends the session with 421 4.7.0.
    let mut c = Smtp::ehlo(&s.smtp).await;
    assert!(c.command("BOGUS").await.starts_with("5"));
    assert!(c.command("BOGUS").await.starts_with("5"));
    assert!(c.command("BOGUS").await.starts_with("500"));
    let r = c.reply().await;
    assert!(
        r.starts_with("421 4.7.0") && r.contains("too many errors"),
        "{r}"
    );
    assert_eq!(c.reply().await, "", "closed");
    // Commands: the ninth line since the session began (EHLO counted) or since the last
    // message's data is 421 4.7.0; a message resets the count.
    let mut c = Smtp::ehlo(&s.smtp).await;
    for _ in 0..4 {
        assert!(c.command("NOOP").await.starts_with("250"));
    }
    let raw = b"From: a@customer.test\r\nSubject: between\r\n\r\nhi\r\n";
    assert!(
        c.mail("a@customer.test", &[SALES], raw)
            .await
            .starts_with("250")
    );
    for _ in 0..8 {
        assert!(c.command("NOOP").await.starts_with("250"));
    }
    let r = c.command("NOOP").await;
    assert!(
        r.starts_with("421 4.7.0") && r.contains("too many commands"),
        "{r}"
    );
    assert_eq!(c.reply().await, "", "closed");
}

/// Connections from one address: the fourth at once is 421 4.7.0; the limit in all is higher.
#[tokio::test]
async fn smtp_connections_per_ip_over_the_limit_get_421() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(
        dir.path(),
        "[limits]\nmax_connections = 10\nmax_connections_per_ip = 3\n",
    );
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Smtp::ehlo(&s.smtp).await);
    }
    let (mut fourth, greeting) = Smtp::connect(&s.smtp).await;
    assert!(greeting.starts_with("421 4.7.0"), "{greeting}");
    assert_eq!(fourth.reply().await, "", "closed");
    // One leaves: its place is free again once its session has ended.
    assert!(open.pop().unwrap().command("QUIT").await.starts_with("221"));
    postern_testkit::eventually(30, "a place for one more", || async {
        let (_c, greeting) = Smtp::connect(&s.smtp).await;
        greeting.starts_with("220").then_some(())
    })
    .await;
}

/// The command timeout (RFC 5321 §4.5.3.2's server timeout; 5 minutes by default): a silent
/// client gets 421 4.4.2 and is closed (waited for, not timed).
#[tokio::test]
async fn silent_client_gets_421_after_the_command_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), "[limits]\ncommand_timeout = \"1s\"\n");
    let mut c = Smtp::ehlo(&s.smtp).await;
    let r = c.reply().await;
    assert!(r.starts_with("421 4.4.2") && r.contains("timeout"), "{r}");
    assert_eq!(c.reply().await, "", "closed");
}

/// `max_connections` in all: from two addresses of 127/8, the fifth session is 421 4.3.2.
#[tokio::test]
async fn smtp_connections_in_all_over_the_limit_get_421() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(
        dir.path(),
        "[limits]\nmax_connections = 2\nmax_connections_per_ip = 2\n",
    );
    let _one = Smtp::ehlo(&s.smtp).await;
    let _two = Smtp::ehlo(&s.smtp).await;
    let (_, greeting) = Smtp::connect(&s.smtp).await;
    assert!(greeting.starts_with("421 4.3.2"), "{greeting}");
}

/// Header count and size and MIME limits are the file's, not only the defaults.
#[tokio::test]
async fn message_limits_follow_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(
        dir.path(),
        "[limits]\nmax_header_fields = 20\nmax_header_size = \"2KB\"\nmax_mime_depth = 3\nmax_mime_parts = 10\n",
    );
    let mut c = Smtp::ehlo(&s.smtp).await;
    let cases: [(Vec<u8>, &str); 4] = [
        (
            hostile::many_headers(30, SALES),
            "more than 20 (max_header_fields)",
        ),
        (
            hostile::long_header_line(4096, SALES),
            "more than 2048 (max_header_bytes)",
        ),
        (hostile::nested(4, SALES), "nested more than 3 levels deep"),
        (hostile::many_parts(10, SALES), "more than 10 MIME parts"),
    ];
    for (raw, reason) in &cases {
        let r = c.mail("a@customer.test", &[SALES], raw).await;
        assert!(
            r.starts_with("554 5.6.0") && r.contains(reason),
            "{reason}: {r}"
        );
    }
    let r = c
        .mail("a@customer.test", &[SALES], &hostile::nested(3, SALES))
        .await;
    assert!(r.starts_with("250 "), "{r}");
}

/// The API: a body over `api_max_body` is 413; more requests a second than
/// `api_requests_per_second` from one token get 429 with `Retry-After`.
#[tokio::test]
async fn api_body_and_rate_limits() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(
        dir.path(),
        "[limits]\napi_max_body = \"1KB\"\napi_requests_per_second = 3\n",
    );
    let big = json!({"name": "x".repeat(2000), "model": "crm.lead"});
    let (status, answer) = s.post("/api/v1/records", big).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"]["code"], "too_large");
    let mut limited = None;
    for _ in 0..20 {
        let r = s
            .request(reqwest::Method::GET, "/api/v1/alias-domains")
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("20 requests at once pass 3 a second");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Without the token: 401, not counted as the token's.
    let r = s
        .http()
        .get(s.url("/api/v1/alias-domains"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
