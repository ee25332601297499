//! Automatic replies end to end, through the real binary on SQLite and PostgreSQL: an
//! out-of-office to an alias creates nothing and sends nothing, over SMTP and over HTTP (where
//! a refusal would be mailed); list mail and mail that asks for no automatic answer get no
//! refusal; an ordinary mail to the same closed alias gets one, marked as automatic
//! (`Auto-Submitted`, `X-Auto-Response-Suppress: All`, null Return-Path), and it is the only
//! mail that reaches the relay (Postfix's `smtp-sink`). A client that asks for a "delivered"
//! report (DSN, RFC 3461: `NOTIFY=SUCCESS`, `ORCPT`, `ENVID`) gets one (RFC 3464).

use postern_testkit::clients::{python, stdout, swaks};
use postern_testkit::postfix::{SmtpSink, header};
use postern_testkit::{Serve, database, drop_database, eventually};
use serde_json::Value;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "auto-reply-test-token-0123456789";

fn start(dir: &Path, db: &str, sink: &SmtpSink) -> Serve {
    let cfg = dir.join("postern.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[alias_domains]]
name = "example.com"
[[companies]]
name = "Example"
email = "info@example.com"
alias_domain = "example.com"
[[aliases]]
alias_name = "sales"
alias_domain = "example.com"
model = "crm.lead"
[[aliases]]
alias_name = "support"
alias_domain = "example.com"
model = "crm.lead"
[[aliases]]
alias_name = "vip"
alias_domain = "example.com"
model = "crm.lead"
contact = "partners"
[[outgoing_servers]]
name = "sink"
host = "127.0.0.1"
port = {}
"#,
            sink.port
        ),
    )
    .unwrap();
    let envs = [
        ("POSTERN_DATABASE_URL", db),
        ("POSTERN_DELIVERY_POLL_MS", "50"),
    ];
    Serve::start(BIN, dir, TOKEN, &envs, &["--config", cfg.to_str().unwrap()])
}

fn mail(to: &str, subject: &str, id: &str, extra: &str) -> String {
    format!(
        "From: Stranger <stranger@elsewhere.example>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{id}@elsewhere.example>\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\n\
         {extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         I am away until Monday.\r\n"
    )
}

async fn records(s: &Serve) -> usize {
    let (st, page) = s.get("/api/v1/records?model=crm.lead").await;
    assert_eq!(st, 200, "{page}");
    page["items"].as_array().unwrap().len()
}

fn trace(outcome: &Value) -> String {
    outcome["trace"].to_string()
}

async fn auto_replies(postgres: bool) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let s = start(dir.path(), &db, &sink);

    // 1. Over SMTP: Outlook's out-of-office, known by its headers, and one known only by its
    //    subject: accepted (250), and nothing is created.
    let oof = mail(
        "sales@example.com",
        "Automatic reply: Your quote",
        "oof-1",
        "Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n",
    );
    let said = swaks(
        &s.smtp,
        "stranger@elsewhere.example",
        "sales@example.com",
        &oof,
    );
    assert!(
        said.contains("250 2.0.0 OK") && said.contains("(loop_ignored)"),
        "{said}"
    );
    let oof = mail(
        "sales@example.com",
        "Abwesenheitsnotiz: Angebot",
        "oof-2",
        "",
    );
    let said = swaks(
        &s.smtp,
        "stranger@elsewhere.example",
        "sales@example.com",
        &oof,
    );
    assert!(
        said.contains("250 2.0.0 OK") && said.contains("(loop_ignored)"),
        "{said}"
    );

    // 2. Over HTTP, to the closed alias (which mails a refusal to strangers): an out-of-office
    //    gets nothing, nor does list mail, nor mail that asks for no automatic answer.
    let oof = mail("vip@example.com", "Out of Office: Quote", "oof-3", "");
    let out = s.ingest("vip@example.com", oof).await;
    assert_eq!(out["outcome"], "loop_ignored", "{out}");
    assert_eq!(out["sent"], serde_json::json!([]), "{out}");
    for (id, extra, why) in [
        ("list-1", "Precedence: bulk\r\n", "Precedence: bulk"),
        (
            "xars-1",
            "X-Auto-Response-Suppress: All\r\n",
            "X-Auto-Response-Suppress",
        ),
    ] {
        let m = mail("vip@example.com", "A question", id, extra);
        let out = s.ingest("vip@example.com", m).await;
        assert_eq!(out["sent"], serde_json::json!([]), "{out}");
        assert!(trace(&out).contains(why), "{out}");
        assert!(
            trace(&out).contains("nothing automatic is sent back"),
            "{out}"
        );
    }
    assert_eq!(records(&s).await, 0, "nothing became a record");

    // 3. The same question without those headers gets the refusal; it is the only mail the
    //    relay ever sees, and it is marked as automatic.
    let m = mail("vip@example.com", "A question", "plain-1", "");
    let out = s.ingest("vip@example.com", m).await;
    assert_eq!(out["sent"][0]["kind"], "alias_refusal", "{out}");
    let got = eventually(20, "the refusal reaches the relay", || async {
        let got = sink.messages();
        (!got.is_empty()).then_some(got)
    })
    .await;
    let refusal = &got[0];
    assert_eq!(
        header(refusal, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        header(refusal, "X-Auto-Response-Suppress").as_deref(),
        Some("All")
    );
    assert_eq!(header(refusal, "X-Mail-Args").as_deref(), Some("<>"));
    assert_eq!(sink.messages().len(), 1, "nothing else was sent");
    assert_eq!(records(&s).await, 0);
    drop(s);
    drop_database(&db).await;
}

#[tokio::test]
async fn an_out_of_office_creates_nothing_and_sends_nothing_sqlite() {
    auto_replies(false).await;
}

#[tokio::test]
async fn an_out_of_office_creates_nothing_and_sends_nothing_postgres() {
    auto_replies(true).await;
}

/// Python's smtplib: EHLO's `DSN`, then a mail to `sales@` asking for SUCCESS and one to
/// `support@` asking for FAILURE only.
const DSN_CLIENT: &str = r#"
import smtplib, sys
host, port = sys.argv[1].rsplit(":", 1)
s = smtplib.SMTP(host, int(port), timeout=20)
s.ehlo("client.example.org")
print("dsn" if s.has_extn("dsn") else "no dsn")
s.mail("sender@example.org", ["ENVID=QQ42", "RET=HDRS"])
print(s.rcpt("sales@example.com", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Sales+2Bx@example.com"])[0])
print(s.rcpt("support@example.com", ["NOTIFY=FAILURE"])[0])
print(s.data(b"From: sender@example.org\r\nTo: sales@example.com\r\nSubject: Order 12\r\nMessage-ID: <order-12@example.org>\r\n\r\nPlease.\r\n")[0])
s.quit()
"#;

async fn delivered_report(postgres: bool) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let s = start(dir.path(), &db, &sink);
    let out = python(
        DSN_CLIENT,
        vec![s.smtp.clone()],
        std::time::Duration::from_secs(30),
    )
    .await;
    let said = stdout(&out);
    assert_eq!(
        said.lines().collect::<Vec<_>>(),
        ["dsn", "250", "250", "250"],
        "{said}"
    );
    let got = eventually(20, "the report reaches the relay", || async {
        let got = sink.messages();
        (!got.is_empty()).then_some(got)
    })
    .await;
    let report = &got[0];
    assert_eq!(
        header(report, "X-Mail-Args").as_deref(),
        Some("<>"),
        "{report}"
    );
    assert!(
        header(report, "X-Rcpt-Args").is_some_and(|r| r.contains("sender@example.org")),
        "{report}"
    );
    assert!(
        header(report, "Subject").is_some_and(|v| v == "Delivered: Order 12"),
        "{report}"
    );
    for line in [
        "report-type=\"delivery-status\"",
        "Content-Type: message/delivery-status",
        "Original-Envelope-Id: QQ42",
        "Original-Recipient: rfc822;Sales+2Bx@example.com",
        "Final-Recipient: rfc822;sales@example.com",
        "Action: delivered",
        "Status: 2.0.0",
    ] {
        assert!(report.contains(line), "{line}: {report}");
    }
    assert!(
        !report.contains("vip@example.com"),
        "NOTIFY=FAILURE only: {report}"
    );
    assert!(!report.contains("X-Postern-Delivery-Status"), "{report}");
    // The message itself became a record of each alias.
    assert_eq!(records(&s).await, 2);
    assert_eq!(sink.messages().len(), 1, "one report");
    drop(s);
    drop_database(&db).await;
}

#[tokio::test]
async fn a_client_that_asks_for_success_gets_a_delivered_report_sqlite() {
    delivered_report(false).await;
}

#[tokio::test]
async fn a_client_that_asks_for_success_gets_a_delivered_report_postgres() {
    delivered_report(true).await;
}
