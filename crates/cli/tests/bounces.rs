//! Bounces that name their cause, and the suppression list, end to end: the real binary, mail
//! relayed to Postfix's `smtp-sink`, a delivery report fed back through `/api/v1/ingest`, on
//! SQLite and PostgreSQL.
//!
//! A hard bounce (`550 5.1.1`) marks the notification with the diagnostic, `userunknown` and
//! hard; it puts the address on the suppression list; the next mail to it is not sent (the sink
//! sees no RCPT for it) and its notification fails as `suppressed`; once removed from the list,
//! mail goes again. A bounce with no report at all that reaches a VERP return path
//! (`bounce+<token>@`) marks the notification of the recipient it names, and a forged token is
//! said so in the trace. A reply whose client dropped every header but kept the Reply-To
//! (`catchall+<token>@`) threads by its token (`via` `reply_token`); a forged token does not.

use postern_testkit::postfix::{SmtpSink, header};
use postern_testkit::{Serve, database, drop_database, eventually};
use serde_json::{Value, json};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "suppression-test-token-0123456789";

fn config(dir: &Path, port: u16) -> std::path::PathBuf {
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
[[partners]]
name = "Alice Author"
email = "alice@example.com"
user = true
[[partners]]
name = "Robert Customer"
email = "robert@customer.example"
[[partners]]
name = "Carla Customer"
email = "carla@customer.example"
[[outgoing_servers]]
name = "sink"
host = "127.0.0.1"
port = {port}
"#
        ),
    )
    .unwrap();
    cfg
}

/// A delivery report (RFC 3464) for `rcpt` about the message `original`.
fn dsn(rcpt: &str, original: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.customer.example\r\nTo: bounce@example.com\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-{n}@mx.customer.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message \
         could not be delivered.\r\n\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n\
         Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in \
         local recipient table\r\n\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {original}\r\n\
         From: alice@example.com\r\nTo: {rcpt}\r\nSubject: Our offer\r\n\r\n--b--\r\n",
        n = original.trim_matches(['<', '>']).replace('@', "-"),
    )
}

/// Posts `text` on `record`, notifying its followers; answers the message.
async fn post(s: &Serve, record: i64, alice: i64, subject: &str) -> Value {
    let (st, posted) = s
        .post(
            &format!("/api/v1/records/{record}/messages"),
            json!({"author_partner_id": alice, "subject": subject, "body_html": "<p>Hello</p>"}),
        )
        .await;
    assert_eq!(st, 201, "{posted}");
    posted
}

/// The notification of `partner` on message `id`, once it is no longer `ready`.
async fn notification(s: &Serve, record: i64, id: i64, partner: i64) -> Value {
    eventually(20, "the notification is final", || async {
        let (_, page) = s.get(&format!("/api/v1/records/{record}/messages")).await;
        let m = page["items"].as_array()?.iter().find(|m| m["id"] == id)?;
        let n = m["notifications"]
            .as_array()?
            .iter()
            .find(|n| n["partner_id"] == partner)?
            .clone();
        (n["status"] != "ready").then_some(n)
    })
    .await
}

fn rcpts(sink: &SmtpSink, addr: &str) -> usize {
    sink.messages()
        .iter()
        .filter(|m| header(m, "X-Rcpt-Args").is_some_and(|r| r.contains(addr)))
        .count()
}

fn start(dir: &Path, db: &str, sink: &SmtpSink) -> Serve {
    let cfg = config(dir, sink.port);
    let envs = [
        ("POSTERN_DATABASE_URL", db),
        ("POSTERN_DELIVERY_POLL_MS", "50"),
    ];
    Serve::start(BIN, dir, TOKEN, &envs, &["--config", cfg.to_str().unwrap()])
}

/// A record followed by the partners of `emails`; answers it, Alice's id (the author) and
/// theirs.
async fn record_followed_by(s: &Serve, emails: &[&str]) -> (i64, i64, Vec<i64>) {
    let (_, partners) = s.get("/api/v1/partners").await;
    let id_of = |email: &str| {
        partners["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["email"] == email)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (st, rec) = s
        .post(
            "/api/v1/records",
            json!({"model": "crm.lead", "name": "Quote"}),
        )
        .await;
    assert_eq!(st, 201, "{rec}");
    let record = rec["id"].as_i64().unwrap();
    let mut ids = Vec::new();
    for email in emails {
        let id = id_of(email);
        let (st, body) = s
            .post(
                &format!("/api/v1/records/{record}/followers"),
                json!({"partner_id": id}),
            )
            .await;
        assert!(st == 200 || st == 201, "{st} {body}");
        ids.push(id);
    }
    (record, id_of("alice@example.com"), ids)
}

/// The envelope sender of the mail the sink got for `addr`.
fn mail_from_to(sink: &SmtpSink, addr: &str) -> String {
    let got = sink.messages();
    let m = got
        .iter()
        .find(|m| header(m, "X-Rcpt-Args").is_some_and(|r| r.contains(addr)))
        .unwrap_or_else(|| panic!("no mail to {addr}: {got:#?}"));
    // `<address>` and the parameters (`RET=HDRS`: the relay offers DSN).
    let from = header(m, "X-Mail-Args").unwrap();
    from.split(['<', '>']).nth(1).unwrap_or_default().to_owned()
}

async fn verp_names_the_recipient(postgres: bool) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let s = start(dir.path(), &db, &sink);
    let followers = ["robert@customer.example", "carla@customer.example"];
    let (record, alice, ids) = record_followed_by(&s, &followers).await;
    let posted = post(&s, record, alice, "Our offer").await;
    let message = posted["id"].as_i64().unwrap();
    for id in &ids {
        assert_eq!(
            notification(&s, record, message, *id).await["status"],
            "sent"
        );
    }
    let (robert_path, carla_path) = (
        mail_from_to(&sink, "robert@customer.example"),
        mail_from_to(&sink, "carla@customer.example"),
    );
    assert!(carla_path.starts_with("bounce+") && carla_path.ends_with("@example.com"));
    assert_ne!(robert_path, carla_path, "one return path per recipient");

    // A forged token: said so, and nothing is pinned (the notice names nothing else).
    let mut forged = carla_path.clone();
    let last = forged.find('@').unwrap() - 1;
    let flip = if &forged[last..=last] == "0" {
        "1"
    } else {
        "0"
    };
    forged.replace_range(last..=last, flip);
    let notice = |to: &str, n: u8| {
        format!(
            "From: postmaster@customer.example\r\nTo: {to}\r\nSubject: failure notice\r\n\
             Message-ID: <n-{}@customer.example>\r\n\r\nSorry, your message could not be \
             delivered.\r\n",
            n
        )
    };
    let outcome = s.ingest(&forged, notice(&forged, 1)).await;
    assert_eq!(outcome["outcome"], "bounce_processed", "{outcome}");
    let trace = outcome["trace"].to_string();
    assert!(trace.contains("forged"), "{outcome}");
    assert_eq!(
        notification(&s, record, message, ids[1]).await["status"],
        "sent"
    );

    // The genuine one: no report, no headers of the original, no Message-ID cited; the return
    // path alone names Carla's mail.
    let outcome = s.ingest(&carla_path, notice(&carla_path, 2)).await;
    assert_eq!(outcome["outcome"], "bounce_processed", "{outcome}");
    assert!(outcome["trace"].to_string().contains("VERP: "), "{outcome}");
    let carla = notification(&s, record, message, ids[1]).await;
    assert_eq!(carla["status"], "bounce", "{carla}");
    let robert = notification(&s, record, message, ids[0]).await;
    assert_eq!(
        robert["status"], "sent",
        "Robert's mail did not bounce: {robert}"
    );
    drop(s);
    drop_database(&db).await;
}

#[tokio::test]
async fn a_bounce_to_a_verp_address_marks_the_right_notification_sqlite() {
    verp_names_the_recipient(false).await;
}

#[tokio::test]
async fn a_bounce_to_a_verp_address_marks_the_right_notification_postgres() {
    verp_names_the_recipient(true).await;
}

async fn reply_token_threads(postgres: bool) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let s = start(dir.path(), &db, &sink);
    let (record, alice, ids) = record_followed_by(&s, &["robert@customer.example"]).await;
    let posted = post(&s, record, alice, "Our offer").await;
    let message = posted["id"].as_i64().unwrap();
    assert_eq!(
        notification(&s, record, message, ids[0]).await["status"],
        "sent"
    );
    let got = sink.messages();
    let reply_to = header(&got[0], "Reply-To").unwrap();
    let address = reply_to
        .rsplit_once('<')
        .map_or(reply_to.as_str(), |(_, a)| a)
        .trim_end_matches('>')
        .to_owned();
    assert!(address.starts_with("catchall+"), "{reply_to}");

    // The client kept nothing of the original but the Reply-To: no In-Reply-To, no References,
    // another subject.
    let reply = |to: &str, n: u8| {
        format!(
            "From: Robert Customer <robert@customer.example>\r\nTo: {to}\r\n\
             Subject: my answer\r\nMessage-ID: <answer-{n}@customer.example>\r\n\r\n\
             Yes, thank you.\r\n"
        )
    };
    let outcome = s.ingest(&address, reply(&address, 1)).await;
    assert_eq!(outcome["outcome"], "routed", "{outcome}");
    assert_eq!(outcome["routes"][0]["via"], "reply_token", "{outcome}");
    assert_eq!(outcome["routes"][0]["record_id"], record, "{outcome}");

    // A forged token: said so, and the mail does not join the thread.
    let forged = address.replacen("catchall+", "catchall+1", 1);
    let outcome = s.ingest(&forged, reply(&forged, 2)).await;
    assert!(outcome["trace"].to_string().contains("forged"), "{outcome}");
    assert_ne!(outcome["routes"][0]["record_id"], record, "{outcome}");
    let (_, thread) = s.get(&format!("/api/v1/records/{record}/messages")).await;
    assert_eq!(thread["items"].as_array().unwrap().len(), 2, "{thread}");
    drop(s);
    drop_database(&db).await;
}

#[tokio::test]
async fn a_reply_with_only_the_reply_to_threads_sqlite() {
    reply_token_threads(false).await;
}

#[tokio::test]
async fn a_reply_with_only_the_reply_to_threads_postgres() {
    reply_token_threads(true).await;
}

async fn subject_token_threads(postgres: bool) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let s = start(dir.path(), &db, &sink);
    let put = |value: Value| {
        s.request(reqwest::Method::PUT, "/api/v1/params/postern.subject_token")
            .json(&json!({ "value": value }))
            .send()
    };
    assert_eq!(put(json!("maybe")).await.unwrap().status(), 422);
    assert_eq!(put(json!("on")).await.unwrap().status(), 200);
    let (_, stored) = s.get("/api/v1/params/postern.subject_token").await;
    assert_eq!(stored["value"], "true", "{stored}");
    let (record, alice, ids) = record_followed_by(&s, &["robert@customer.example"]).await;
    let posted = post(&s, record, alice, "Our offer").await;
    let message = posted["id"].as_i64().unwrap();
    assert_eq!(
        notification(&s, record, message, ids[0]).await["status"],
        "sent"
    );
    let subject = header(&sink.messages()[0], "Subject").unwrap();
    let tag = subject
        .strip_prefix("Our offer ")
        .unwrap_or_else(|| panic!("{subject}"));
    assert!(
        tag.starts_with("[#") && tag.ends_with(']') && tag.len() <= 22,
        "{subject}"
    );

    // The client dropped every header and wrote to the plain catchall; the subject kept the tag.
    let reply = |subject: &str, n: u8| {
        format!(
            "From: Robert Customer <robert@customer.example>\r\nTo: catchall@example.com\r\n\
             Subject: {subject}\r\nMessage-ID: <tagged-{n}@customer.example>\r\n\r\nYes.\r\n"
        )
    };
    let outcome = s
        .ingest("catchall@example.com", reply(&format!("AW: {subject}"), 1))
        .await;
    assert_eq!(outcome["outcome"], "routed", "{outcome}");
    assert_eq!(outcome["routes"][0]["via"], "subject_token", "{outcome}");
    assert_eq!(outcome["routes"][0]["record_id"], record, "{outcome}");

    // A forged tag is said so, and threads nothing.
    let forged = subject.replace("[#", "[#1");
    let outcome = s
        .ingest("catchall@example.com", reply(&format!("Re: {forged}"), 2))
        .await;
    assert!(outcome["trace"].to_string().contains("forged"), "{outcome}");
    assert_ne!(outcome["routes"][0]["via"], "subject_token", "{outcome}");
    let (_, thread) = s.get(&format!("/api/v1/records/{record}/messages")).await;
    assert_eq!(thread["items"].as_array().unwrap().len(), 2, "{thread}");
    drop(s);
    drop_database(&db).await;
}

#[tokio::test]
async fn a_reply_with_only_the_subject_tag_threads_sqlite() {
    subject_token_threads(false).await;
}

#[tokio::test]
async fn a_reply_with_only_the_subject_tag_threads_postgres() {
    subject_token_threads(true).await;
}

/// Sends a mail of `stream` to `to` through `/api/v1/mail`.
async fn send(s: &Serve, to: &str, subject: &str, stream: &str) {
    let (st, body) = s
        .post(
            "/api/v1/mail",
            json!({"to": [to], "subject": subject, "body_html": "<p>News</p>", "stream": stream}),
        )
        .await;
    assert!(st == 201 || st == 202, "{st} {body}");
}

async fn one_click_unsubscribe(postgres: bool) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let s = start(dir.path(), &db, &sink);
    let carla = "carla@customer.example";
    send(&s, carla, "Newsletter 1", "mass").await;
    let first = eventually(20, "the newsletter reaches the sink", || async {
        sink.messages()
            .into_iter()
            .find(|m| header(m, "Subject").as_deref() == Some("Newsletter 1"))
    })
    .await;
    assert_eq!(
        header(&first, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click"),
        "{first}"
    );
    let link = header(&first, "List-Unsubscribe").unwrap();
    let url = link.trim_matches(['<', '>']);
    assert!(url.starts_with(&s.url("/unsubscribe/")), "{link}");
    // GET shows a button and changes nothing; a forged link is 404; the POST unsubscribes.
    let page = s.http().get(url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let (_, none) = s.get("/api/v1/suppressions").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0, "{none}");
    let forged = format!("{}0", &url[..url.len() - 1]).replace("/unsubscribe/", "/unsubscribe/1");
    let one_click = |u: String| {
        s.http()
            .post(u)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
    };
    assert_eq!(one_click(forged).await.unwrap().status().as_u16(), 404);
    assert_eq!(
        one_click(url.to_owned()).await.unwrap().status().as_u16(),
        200
    );
    let (_, list) = s.get("/api/v1/suppressions").await;
    assert_eq!(list["items"][0]["scope"], "mass", "{list}");
    assert_eq!(list["items"][0]["cause"], "unsubscribe", "{list}");

    // The next newsletter does not go to Carla; a transactional mail does.
    send(&s, carla, "Newsletter 2", "mass").await;
    send(&s, carla, "Your invoice", "transactional").await;
    eventually(20, "the invoice reaches the sink", || async {
        sink.messages()
            .iter()
            .any(|m| header(m, "Subject").as_deref() == Some("Your invoice"))
            .then_some(())
    })
    .await;
    eventually(20, "the second newsletter is done", || async {
        let (_, out) = s.get("/api/v1/mail?state=exception").await;
        let failed = out["items"]
            .as_array()?
            .iter()
            .any(|m| m["subject"] == "Newsletter 2");
        failed.then_some(())
    })
    .await;
    assert!(
        !sink
            .messages()
            .iter()
            .any(|m| header(m, "Subject").as_deref() == Some("Newsletter 2")),
        "no second newsletter at the sink"
    );
    drop(s);
    drop_database(&db).await;
}

#[tokio::test]
async fn a_one_click_unsubscribe_stops_mass_mail_only_sqlite() {
    one_click_unsubscribe(false).await;
}

#[tokio::test]
async fn a_one_click_unsubscribe_stops_mass_mail_only_postgres() {
    one_click_unsubscribe(true).await;
}

/// A relay that rewrites Message-IDs (Amazon SES: `250 Ok <id>`, the mail leaves as
/// `<id@email.amazonses.com>`): a reply that cites only the rewritten id threads.
async fn rewritten_id_threads(postgres: bool) {
    const SES_ID: &str = "0100018c1f2b3c4d-5e6f7a8b-1c2d-4e5f-9a0b-1c2d3e4f5a6b-000000";
    let relay = postern_testkit::sink::start(postern_testkit::sink::Behaviour {
        data_reply: Some(format!("250 Ok {SES_ID}")),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let cfg = config(dir.path(), relay.port);
    let envs = [
        ("POSTERN_DATABASE_URL", db.as_str()),
        ("POSTERN_DELIVERY_POLL_MS", "50"),
    ];
    let s = Serve::start(
        BIN,
        dir.path(),
        TOKEN,
        &envs,
        &["--config", cfg.to_str().unwrap()],
    );
    let (record, alice, ids) = record_followed_by(&s, &["robert@customer.example"]).await;
    let posted = post(&s, record, alice, "Our offer").await;
    let message = posted["id"].as_i64().unwrap();
    assert_eq!(
        notification(&s, record, message, ids[0]).await["status"],
        "sent"
    );
    assert_eq!(relay.messages().len(), 1);
    // Robert's client answers the id it got, SES's, and nothing else of ours.
    let reply = format!(
        "From: Robert Customer <robert@customer.example>\r\nTo: someone@customer.example\r\n\
         Subject: Re: Our offer\r\nMessage-ID: <r1@customer.example>\r\n\
         In-Reply-To: <{SES_ID}@email.amazonses.com>\r\n\
         References: <{SES_ID}@email.amazonses.com>\r\n\r\nYes.\r\n"
    );
    let outcome = s.ingest("catchall@example.com", reply).await;
    assert_eq!(outcome["outcome"], "routed", "{outcome}");
    assert_eq!(outcome["routes"][0]["via"], "reply", "{outcome}");
    assert_eq!(outcome["routes"][0]["record_id"], record, "{outcome}");
    drop(s);
    drop_database(&db).await;
}

#[tokio::test]
async fn a_reply_citing_only_the_relays_rewritten_id_threads_sqlite() {
    rewritten_id_threads(false).await;
}

#[tokio::test]
async fn a_reply_citing_only_the_relays_rewritten_id_threads_postgres() {
    rewritten_id_threads(true).await;
}

async fn hard_bounce_suppresses(postgres: bool) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let s = start(dir.path(), &db, &sink);
    let (record, alice, ids) = record_followed_by(&s, &["robert@customer.example"]).await;
    let robert = ids[0];

    // 1. A first mail reaches Robert; his server bounces it: 550 5.1.1.
    let first = post(&s, record, alice, "Our offer").await;
    let sent = notification(&s, record, first["id"].as_i64().unwrap(), robert).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(rcpts(&sink, "robert@customer.example"), 1);
    let report = dsn(
        "robert@customer.example",
        first["message_id"].as_str().unwrap(),
    );
    let outcome = s.ingest("bounce@example.com", report).await;
    assert_eq!(outcome["outcome"], "bounce_processed", "{outcome}");

    // 2. The notification names the cause: the diagnostic, its reason, hard.
    let bounced = notification(&s, record, first["id"].as_i64().unwrap(), robert).await;
    assert_eq!(bounced["status"], "bounce", "{bounced}");
    let reason = bounced["failure_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("550 5.1.1") && reason.contains("User unknown"),
        "{bounced}"
    );
    assert_eq!(bounced["bounce_reason"], "userunknown", "{bounced}");
    assert_eq!(bounced["bounce_hard"], true, "{bounced}");

    // 3. Robert is suppressed, for all mail.
    let (_, list) = s
        .get("/api/v1/suppressions?address=Robert@Customer.example")
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["scope"], "all");
    assert_eq!(items[0]["cause"], "hard_bounce");
    assert!(
        items[0]["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{list}"
    );

    // 4. The next mail is not sent to him: no RCPT at the sink; the notification says why.
    let second = post(&s, record, alice, "Our offer, again").await;
    let failed = notification(&s, record, second["id"].as_i64().unwrap(), robert).await;
    assert_eq!(failed["status"], "exception", "{failed}");
    assert_eq!(failed["failure_type"], "suppressed", "{failed}");
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .starts_with("suppressed since "),
        "{failed}"
    );
    assert_eq!(
        rcpts(&sink, "robert@customer.example"),
        1,
        "no RCPT for a suppressed address"
    );

    // 5. Removed from the list, he gets mail again.
    let id = items[0]["id"].as_i64().unwrap();
    let (st, _) = s
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/suppressions/{id}"),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s.get(&format!("/api/v1/suppressions/{id}")).await;
    assert_eq!(st, 404);
    let third = post(&s, record, alice, "Our offer, third").await;
    let sent = notification(&s, record, third["id"].as_i64().unwrap(), robert).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(rcpts(&sink, "robert@customer.example"), 2);
    drop(s);
    drop_database(&db).await;
}

#[tokio::test]
async fn a_hard_bounce_suppresses_the_next_mail_sqlite() {
    hard_bounce_suppresses(false).await;
}

#[tokio::test]
async fn a_hard_bounce_suppresses_the_next_mail_postgres() {
    hard_bounce_suppresses(true).await;
}

/// `postern suppression add|list|remove`, and the API's checks.
#[tokio::test]
async fn the_list_from_the_command_line_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .args(["--data-dir", data])
            .env_remove("POSTERN_DATABASE_URL")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&["migrate"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&["suppression", "add", "Eve@Example.org", "--scope", "mass"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("eve@example.org (mass)"), "{out}");
    let (code, out, _) = run(&["suppression", "list", "--json"]);
    assert_eq!(code, 0);
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["address"], "eve@example.org");
    assert_eq!(rows[0]["cause"], "manual");
    let (code, _, err) = run(&["suppression", "add", "not an address"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("address"), "{err}");
    let id = rows[0]["id"].as_i64().unwrap().to_string();
    let (code, _, _) = run(&["suppression", "remove", &id]);
    assert_eq!(code, 0);
    let (code, _, err) = run(&["suppression", "remove", &id]);
    assert_eq!(code, 66, "{err}");

    let s = Serve::start(BIN, dir.path(), TOKEN, &[], &[]);
    let mut body = Value::Null;
    for (input, want) in [
        (json!({"address": "x"}), 422),
        (json!({"address": "a@b.example", "colour": "red"}), 422),
        (json!({"address": "A@b.example", "scope": "mass"}), 201),
    ] {
        let (st, answer) = s.post("/api/v1/suppressions", input).await;
        assert_eq!(st, want, "{answer}");
        body = answer;
    }
    assert_eq!(body["address"], "a@b.example");
    let (st, _) = s
        .http()
        .get(s.url("/api/v1/suppressions"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(st, 401, "the list needs the token");
}
