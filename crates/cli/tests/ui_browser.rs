//! The admin UI in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver, fantoccini), against a real `postern serve`, swaks and Postfix's smtp-sink.
//! The flow of issue 15: sign in; create an alias domain and an alias; send a mail to the alias
//! over SMTP; see the record and its message; post a reply that goes to the local SMTP sink;
//! feed back a bounce for it; see the red envelope with the reason; press Test Connection and
//! see its steps. A browser that cannot start fails the test (scripts/test.sh installs
//! `chromium` and `chromium-driver`).
//!
//! Screenshots of the main pages go to `$POSTERN_SCREENSHOT_DIR`, else to
//! `target/screenshots/<run>` (the run named by the time it started).

#[path = "support/browser.rs"]
mod browser;

use browser::{Driver, Ui, browser, screenshot_dir};
use fantoccini::Locator;
use postern_testkit::Serve;
use postern_testkit::clients::{swaks, swaks_with};
use postern_testkit::postfix::{SmtpSink, header};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "test-token-0123456789";
const PASSWORD: &str = "browser-password-42";

#[tokio::test]
async fn the_issue_flow_in_chromium() {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(
        BIN,
        dir.path(),
        TOKEN,
        &[("POSTERN_ADMIN_PASSWORD", PASSWORD)],
        &[],
    );
    let driver = Driver::start();
    let ui = Ui {
        c: browser(&driver).await,
        base: server.base.clone(),
        shots: screenshot_dir(),
    };
    sign_in(&ui).await;
    configure(&ui, sink.port).await;
    test_connection(&ui).await;
    explain(&ui).await;
    let record = mail_becomes_a_record(&ui, &server).await;
    reply_and_bounce(&ui, &server, &sink, &record).await;
    ui.c.close().await.unwrap();
}

async fn sign_in(ui: &Ui) {
    ui.open("/records").await;
    assert!(
        ui.c.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/login")
    );
    ui.shot("login").await;
    ui.fill("input[name=password]", PASSWORD).await;
    ui.click("button[type=submit]").await;
    ui.text("header nav").await;
    assert_eq!(ui.text("h1").await, "Records", "back where it was going");
}

/// An alias domain (with its DNS records), an alias, a partner, an outgoing server to the sink.
async fn configure(ui: &Ui, sink_port: u16) {
    ui.create("alias-domains", &[("name", "example.test")])
        .await;
    ui.shot("alias-domains").await;
    ui.open("/alias-domains?q=example.test").await;
    ui.click("table tbody a").await;
    let dns = ui.text("h2 + .scroll").await;
    assert!(
        dns.contains("example.test.") && dns.contains("v=spf1"),
        "{dns}"
    );
    ui.shot("alias-domain").await;
    ui.create(
        "aliases",
        &[
            ("alias_name", "support"),
            ("alias_domain", "example.test"),
            ("model", "helpdesk.ticket"),
        ],
    )
    .await;
    ui.shot("aliases").await;
    ui.create(
        "partners",
        &[("name", "Carl Customer"), ("email", "carl@example.org")],
    )
    .await;
    let port = sink_port.to_string();
    ui.create(
        "outgoing-servers",
        &[
            ("name", "sink"),
            ("host", "127.0.0.1"),
            ("port", &port),
            ("select:encryption", "none"),
        ],
    )
    .await;
}

/// Test Connection on the outgoing server's page: each step with the server's answer.
async fn test_connection(ui: &Ui) {
    ui.open("/outgoing-servers").await;
    ui.click("table tbody a").await;
    ui.click("#action-test").await;
    let result = ui.text("#result").await;
    for step in [
        "connect to 127.0.0.1",
        "EHLO",
        "MAIL FROM:<",
        "RCPT TO:<",
        "DATA",
        "354",
    ] {
        assert!(result.contains(step), "{step} in {result}");
    }
    assert!(result.contains("Connection Test Successful"), "{result}");
    ui.shot("test-connection").await;
}

/// Route explain, pasted then uploaded: the decision and its trace; nothing is stored.
async fn explain(ui: &Ui) {
    ui.open("/explain").await;
    ui.fill("input[name=rcpt]", "support@example.test").await;
    let message =
        "From: dora@example.org\nTo: support@example.test\nSubject: Explain me\n\nHello\n";
    ui.fill("textarea[name=message]", message).await;
    ui.click("form.card button[type=submit]").await;
    let result = ui.text("#result").await;
    assert!(
        result.contains("routed") && result.contains("helpdesk.ticket"),
        "{result}"
    );
    ui.shot("explain").await;
    let file = std::env::temp_dir().join(format!("{}.eml", postern_testkit::unique("ui_explain")));
    std::fs::write(
        &file,
        "From: eve@example.org\r\nTo: nobody@example.test\r\nSubject: x\r\n\r\nx\r\n",
    )
    .unwrap();
    ui.open("/explain").await;
    ui.fill("input[name=rcpt]", "nobody@example.test").await;
    let input = ui.c.find(Locator::Css("input[type=file]")).await.unwrap();
    input.send_keys(file.to_str().unwrap()).await.unwrap();
    ui.click("form.card button[type=submit]").await;
    let result = ui.text("#result").await;
    let _ = std::fs::remove_file(&file);
    assert!(
        result.contains("no_route") || result.contains("catchall"),
        "{result}"
    );
    ui.open("/records").await;
    assert!(
        !ui.c.source().await.unwrap().contains("Explain me"),
        "nothing stored"
    );
}

/// A mail to the alias over SMTP (swaks) becomes a record with its message; the record's path.
async fn mail_becomes_a_record(ui: &Ui, server: &Serve) -> String {
    let raw = "From: Carl Customer <carl@example.org>\r\nTo: support@example.test\r\n\
               Subject: The printer is on fire\r\nMessage-ID: <fire-1@example.org>\r\n\r\n\
               Please send someone.\r\n";
    let out = swaks(
        &server.smtp,
        "carl@example.org",
        "support@example.test",
        raw,
    );
    assert!(out.contains("250"), "{out}");
    ui.until(
        "/records",
        "The printer is on fire",
        Duration::from_secs(10),
    )
    .await;
    ui.shot("records").await;
    ui.click("table tbody a").await;
    let thread = ui.text("#thread").await;
    assert!(thread.contains("Please send someone."), "{thread}");
    let url = ui.c.current_url().await.unwrap();
    url.path().to_owned()
}

/// Carl follows the record; a message posted in the chatter goes to the sink; a bounce for it
/// comes back to the bounce address; the red envelope shows with its reason, on the record,
/// in the navbar and on the failures page.
async fn reply_and_bounce(ui: &Ui, server: &Serve, sink: &SmtpSink, record: &str) {
    let select =
        ui.c.find(Locator::Css("select[name=partner_id]"))
            .await
            .unwrap();
    let carl = select
        .find(Locator::XPath("option[contains(., 'carl@example.org')]"))
        .await
        .unwrap();
    carl.click().await.unwrap();
    ui.click("select[name=partner_id] + button").await;
    assert!(ui.text(".followers").await.contains("carl@example.org"));
    ui.fill("#post textarea[name=body]", "A technician is on the way.")
        .await;
    ui.click("#post button[type=submit]").await;
    assert!(
        ui.text("#thread")
            .await
            .contains("A technician is on the way.")
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        let got = sink.messages();
        if let Some(m) = got
            .iter()
            .find(|m| m.contains("A technician is on the way."))
        {
            break m.clone();
        }
        assert!(
            Instant::now() < deadline,
            "nothing reached the sink: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let id = header(&sent, "Message-ID").expect("a Message-ID");
    let args = header(&sent, "X-Mail-Args").unwrap_or_default();
    let return_path = args
        .split(['<', '>'])
        .nth(1)
        .filter(|a| a.contains('@'))
        .unwrap_or_else(|| panic!("no envelope sender in {args}"))
        .to_owned();
    let dsn = bounce_of(&id, &return_path);
    let file = std::env::temp_dir().join(postern_testkit::unique("ui_dsn"));
    std::fs::write(&file, dsn).unwrap();
    let out = swaks_with(&[
        "--server",
        &server.smtp,
        "--from",
        "MAILER-DAEMON@mx.example.org",
        "--to",
        &return_path,
        "--data",
        file.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let source = ui
        .until(record, "class=\"envelope\"", Duration::from_secs(15))
        .await;
    let failed = ui.text(".notified .failed").await;
    assert!(failed.contains("carl@example.org"), "{failed}");
    assert!(
        failed.contains("bounce"),
        "the failure type and reason: {failed}\n{source}"
    );
    ui.shot("chatter-red-envelope").await;
    // On a phone: the same page, one column.
    ui.c.set_window_size(390, 844).await.unwrap();
    ui.open(record).await;
    ui.shot("phone-chatter").await;
    ui.c.set_window_size(1280, 1000).await.unwrap();
    assert!(ui.text("#failures .envelope").await.contains('1'));
    ui.open("/failures").await;
    assert!(
        ui.text(".notified .failed")
            .await
            .contains("carl@example.org")
    );
    ui.shot("failures").await;
    ui.open("/").await;
    ui.shot("dashboard").await;
}

/// A delivery status notification: `rcpt` does not exist; for the mail `message_id`.
fn bounce_of(message_id: &str, to: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n\
         To: {to}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <dsn-1@mx.example.org>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\n\
         Your message could not be delivered to carl@example.org: user unknown.\r\n\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.example.org\r\n\r\n\
         Final-Recipient: rfc822; carl@example.org\r\n\
         Action: failed\r\n\
         Status: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <carl@example.org>: Recipient address rejected: \
         User unknown in virtual mailbox table\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\n\
         Message-ID: {message_id}\r\n\
         To: carl@example.org\r\n\
         Subject: The printer is on fire\r\n\r\n\
         --B--\r\n"
    )
}
