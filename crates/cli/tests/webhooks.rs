//! Webhooks end to end: the real binary, a real HTTP receiver written here, mail by SMTP
//! (swaks) and by IMAP (the private Dovecot of scripts/test.sh), on SQLite and PostgreSQL.
//!
//! The receiver answers 500, 500, then 200: the test sees three POSTs of one `webhook-id`
//! whose signatures verify, one record, and a `message.received` payload whose
//! `stripped_text` holds the new lines only; the deliveries endpoint shows the three tries.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use postern_testkit::{Serve, database, dovecot, eventually, swaks};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "webhook-test-token-0123456789";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// An HTTP receiver on a loopback port: answers the statuses of `script` in turn (then 200),
/// or never answers when `hang`.
#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Vec<u16>>>,
    hang: bool,
}

impl Receiver {
    async fn start(script: &[u16], hang: bool) -> (Receiver, String) {
        let r = Receiver {
            got: Arc::default(),
            script: Arc::new(Mutex::new(script.iter().rev().copied().collect())),
            hang,
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    r.got.lock().unwrap().push(Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body,
    });
    if r.hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let status = r.script.lock().unwrap().pop().unwrap_or(200);
    (
        StatusCode::from_u16(status).unwrap(),
        format!("answer {status}"),
    )
}

/// Verifies a `webhook-signature` as a receiver must (Standard Webhooks).
fn verifies(secret: &str, r: &Received) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    r.signature.split(' ').any(|s| s == expected)
}

const REPLY: &str = "Yes, Thursday at 10 works for us.\r\nSee you then.\r\n\r\n\
On Tue, 1 Dec 2026 at 09:12, Sales <sales@example.com> wrote:\r\n\
> Would Thursday suit you for the demo?\r\n> Best regards\r\n";

fn message(to: &str) -> String {
    format!(
        "From: Robert Customer <robert@customer.example>\r\nTo: {to}\r\nCc: Carol <carol@customer.example>\r\n\
         Subject: Demo on Thursday\r\nMessage-ID: <{}@customer.example>\r\n\r\n{REPLY}",
        postern_testkit::unique("demo")
    )
}

fn config(dir: &std::path::Path, imap_user: Option<&str>) -> std::path::PathBuf {
    let mut text = String::from(
        r#"
[server]
hostname = "postern.test"
[[alias_domains]]
name = "example.com"
[[aliases]]
alias_name = "sales"
alias_domain = "example.com"
model = "crm.lead"
"#,
    );
    if let Some(user) = imap_user {
        text.push_str(&format!(
            r#"
[[incoming_servers]]
name = "support"
protocol = "imap"
host = "localhost"
port = {}
encryption = "starttls_strict"
username = "{user}"
password_env = "SUPPORT_IMAP_PASSWORD"
model = "crm.lead"
interval = "1h"
active = false
"#,
            dovecot::imap_port()
        ));
    }
    let path = dir.join("postern.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Smtp,
    Imap(&'static str),
}

async fn serve(dir: &std::path::Path, db: &str, way: Way, extra: &[(&str, &str)]) -> Serve {
    let cfg = config(
        dir,
        match way {
            Way::Imap(user) => Some(user),
            Way::Smtp => None,
        },
    );
    let mut envs = vec![
        ("POSTERN_DATABASE_URL", db),
        ("POSTERN_WEBHOOK_RETRY_SCHEDULE", "100ms,100ms,100ms"),
        ("POSTERN_WEBHOOK_POLL_MS", "20"),
        ("SUPPORT_IMAP_PASSWORD", "secret"),
    ];
    let ca;
    if matches!(way, Way::Imap(_)) {
        ca = dovecot::env("POSTERN_TEST_DOVECOT_CA");
        envs.push(("SSL_CERT_FILE", &ca));
    }
    envs.extend_from_slice(extra);
    Serve::start(BIN, dir, TOKEN, &envs, &["--config", cfg.to_str().unwrap()])
}

async fn retried_until_delivered(postgres: bool, way: Way) {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    let (receiver, url) = Receiver::start(&[500, 500, 200], false).await;
    let s = serve(dir.path(), &db, way, &[]).await;
    let (status, hook) = s
        .post(
            "/api/v1/webhooks",
            json!({"url": url, "events": ["message.received"], "description": "CRM"}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"]
        .as_str()
        .expect("the secret, shown once")
        .to_owned();
    let (_, again) = s.get(&format!("/api/v1/webhooks/{}", hook["id"])).await;
    assert!(
        again.get("secret").is_none() && again["has_secret"] == true,
        "{again}"
    );

    match way {
        Way::Smtp => {
            let t = swaks(
                &s.smtp,
                "robert@customer.example",
                "sales+1234@example.com",
                &message("Sales <sales+1234@example.com>"),
            );
            assert!(t.contains("250 2.0.0"), "{t}");
        }
        Way::Imap(user) => {
            dovecot::deliver(
                &dovecot::maildir(user),
                message("Sales <sales+1234@example.com>"),
            );
            let (status, polled) = s.post("/api/v1/incoming-servers/1/fetch", json!({})).await;
            assert_eq!((status, &polled["accepted"]), (200, &json!(1)), "{polled}");
        }
    }
    let got = eventually(20, "three tries", || async {
        let g = receiver.got();
        (g.len() >= 3).then_some(g)
    })
    .await;
    assert_eq!(got.len(), 3, "delivered on the third try, then no more");
    assert!(
        got.iter()
            .all(|r| r.id == got[0].id && r.id.starts_with("evt_")),
        "one webhook-id"
    );
    assert!(
        got.iter().all(|r| verifies(&secret, r)),
        "every signature verifies"
    );
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "the same body on every try"
    );

    let event: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(event["type"], "message.received");
    let data = &event["data"];
    assert_eq!(
        data["stripped_text"].as_str().map(str::trim),
        Some("Yes, Thursday at 10 works for us.\nSee you then."),
        "{data}"
    );
    assert!(
        data["text"]
            .as_str()
            .unwrap()
            .contains("> Would Thursday suit you")
    );
    assert_eq!(data["record"]["name"], "Demo on Thursday");
    assert_eq!(
        data["from"],
        json!({"name": "Robert Customer", "email": "robert@customer.example"})
    );
    assert_eq!(data["cc"][0]["email"], "carol@customer.example");
    assert_eq!(data["alias"], "sales@example.com", "{data}");
    assert_eq!(data["via"], "alias");
    assert_eq!(data["mailbox_hash"], "1234", "{data}");
    if way == Way::Smtp {
        assert_eq!(data["envelope"]["mail_from"], "robert@customer.example");
        assert_eq!(
            data["envelope"]["rcpt_to"],
            json!(["sales+1234@example.com"])
        );
    }

    let (_, records) = s.get("/api/v1/records?model=crm.lead").await;
    assert_eq!(
        records["items"].as_array().unwrap().len(),
        1,
        "one record: {records}"
    );
    let message_id = data["message"]["id"].as_i64().unwrap();
    let (_, shown) = s.get(&format!("/api/v1/messages/{message_id}")).await;
    assert_eq!(
        shown["stripped_text"], data["stripped_text"],
        "the same payload in the API"
    );
    assert_eq!(shown["mailbox_hash"], "1234");

    // The receiver has answered the third try; the sender records it just after.
    let deliveries = eventually(20, "the third try recorded", || async {
        let (_, deliveries) = s
            .get(&format!("/api/v1/webhooks/{}/deliveries", hook["id"]))
            .await;
        (deliveries["items"][0]["state"] != "pending").then_some(deliveries)
    })
    .await;
    let d = &deliveries["items"][0];
    assert_eq!(
        (&d["state"], &d["attempts"], &d["event_id"]),
        (&json!("delivered"), &json!(3), &json!(got[0].id)),
        "{deliveries}"
    );
    let statuses: Vec<&Value> = d["tries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["status"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
    assert_eq!(d["tries"][0]["response"], "answer 500");

    // A replay sends the same event again, under the same id.
    let (status, replay) = s
        .post(
            &format!("/api/v1/webhook-deliveries/{}/retry", d["id"]),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &replay["state"]),
        (202, &json!("pending")),
        "{replay}"
    );
    let again = eventually(10, "the replay", || async {
        let g = receiver.got();
        (g.len() >= 4).then_some(g)
    })
    .await;
    assert_eq!(again[3].id, got[0].id);
    let metrics = reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("postern_webhook_deliveries_total{result=\"delivered\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("postern_webhook_deliveries_total{result=\"retry\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn webhook_retried_until_delivered_smtp_sqlite() {
    retried_until_delivered(false, Way::Smtp).await;
}

#[tokio::test]
async fn webhook_retried_until_delivered_smtp_postgres() {
    retried_until_delivered(true, Way::Smtp).await;
}

#[tokio::test]
async fn webhook_retried_until_delivered_imap_sqlite() {
    retried_until_delivered(false, Way::Imap("fetch37")).await;
}

#[tokio::test]
async fn webhook_retried_until_delivered_imap_postgres() {
    retried_until_delivered(true, Way::Imap("fetch38")).await;
}

/// A receiver that never answers stalls nothing: mail keeps being accepted, and its tries
/// time out and are retried. A 410 disables the endpoint.
#[tokio::test]
async fn a_hanging_receiver_stalls_no_mail_and_410_disables() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), false).await;
    let (hanging, url) = Receiver::start(&[], true).await;
    let (gone, gone_url) = Receiver::start(&[410], false).await;
    let s = serve(
        dir.path(),
        &db,
        Way::Smtp,
        &[("POSTERN_WEBHOOK_TIMEOUT_SECONDS", "1")],
    )
    .await;
    let (status, _) = s
        .post(
            "/api/v1/webhooks",
            json!({"url": url, "events": ["record.created"]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, gone_hook) = s
        .post(
            "/api/v1/webhooks",
            json!({"url": gone_url, "events": ["record.created"]}),
        )
        .await;
    assert_eq!(status, 201);
    let lead =
        |i: usize| message("sales@example.com").replace("Demo on Thursday", &format!("Lead {i}"));
    let t = swaks(
        &s.smtp,
        "robert@customer.example",
        "sales@example.com",
        &lead(0),
    );
    assert!(t.contains("250 2.0.0"), "{t}");
    eventually(10, "the 410", || async {
        (!gone.got().is_empty()).then_some(())
    })
    .await;
    let (_, hook) = eventually(10, "the endpoint disabled", || async {
        let (status, hook) = s
            .get(&format!("/api/v1/webhooks/{}", gone_hook["id"]))
            .await;
        (hook["active"] == false).then_some((status, hook))
    })
    .await;
    assert_eq!(hook["active"], false, "410 disabled it: {hook}");
    for i in 1..10 {
        let t = swaks(
            &s.smtp,
            "robert@customer.example",
            "sales@example.com",
            &lead(i),
        );
        assert!(
            t.contains("250 2.0.0"),
            "accepted while the receiver hangs: {t}"
        );
    }
    let (_, records) = s.get("/api/v1/records?model=crm.lead").await;
    assert_eq!(records["items"].as_array().unwrap().len(), 10);
    eventually(20, "a retry after the timeout", || async {
        (hanging.got().len() > 10).then_some(())
    })
    .await;
    assert_eq!(gone.got().len(), 1, "a disabled endpoint is called no more");
    let (_, deliveries) = s
        .get(&format!(
            "/api/v1/webhooks/{}/deliveries?limit=100",
            gone_hook["id"]
        ))
        .await;
    let failed = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["state"] == "failed")
        .count();
    assert_eq!(failed, 1, "{deliveries}");
    let (status, err) = s
        .post("/api/v1/webhooks", json!({"url": "ftp://x.test/"}))
        .await;
    assert_eq!(
        (status, &err["error"]["code"]),
        (422, &json!("invalid")),
        "{err}"
    );
}

/// The payload fields that depend on the mail only (not on the way in, the ids or the time).
/// `text` is compared without its trailing line breaks: swaks sends a data file without its
/// last one, so the message that came by SMTP is one line end shorter.
fn mail_fields(payload: &Value) -> Value {
    let keep = [
        "from",
        "to",
        "cc",
        "subject",
        "text",
        "html",
        "stripped_text",
        "via",
        "alias",
        "mailbox_hash",
    ];
    let mut fields: serde_json::Map<String, Value> = keep
        .iter()
        .map(|k| (k.to_string(), payload[*k].clone()))
        .collect();
    if let Some(text) = payload["text"].as_str() {
        fields.insert("text".into(), json!(text.trim_end()));
    }
    fields.into()
}

/// The same mail by SMTP, the pipe (`postern ingest`), `POST /api/v1/ingest` and IMAP gives the
/// same inbound payload.
#[tokio::test]
async fn the_same_mail_gives_the_same_payload_whatever_the_way_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), false).await;
    let user = "fetch39";
    let s = serve(dir.path(), &db, Way::Imap(user), &[]).await;
    let to = "Sales <sales+77@example.com>";
    // SMTP
    let t = swaks(
        &s.smtp,
        "robert@customer.example",
        "sales+77@example.com",
        &message(to),
    );
    assert!(t.contains("250 2.0.0"), "{t}");
    // the pipe
    let mut pipe = std::process::Command::new(BIN)
        .args([
            "ingest",
            "--sender",
            "robert@customer.example",
            "--rcpt",
            "sales+77@example.com",
        ])
        .args(["--database-url", &db, "--data-dir"])
        .arg(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut pipe.stdin.take().unwrap(), message(to).as_bytes()).unwrap();
    assert!(pipe.wait().unwrap().success());
    // HTTP
    let answer = reqwest::Client::new()
        .post(
            s.url("/api/v1/ingest?rcpt=sales%2B77%40example.com&sender=robert%40customer.example"),
        )
        .bearer_auth(TOKEN)
        .header("content-type", "message/rfc822")
        .body(message(to))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // IMAP
    dovecot::deliver(&dovecot::maildir(user), message(to));
    let (status, polled) = s.post("/api/v1/incoming-servers/1/fetch", json!({})).await;
    assert_eq!((status, &polled["accepted"]), (200, &json!(1)), "{polled}");

    let mut payloads = Vec::new();
    for id in 1..=4 {
        let (status, m) = s.get(&format!("/api/v1/messages/{id}")).await;
        assert_eq!(status, 200, "{m}");
        payloads.push((m["envelope"]["source"].clone(), mail_fields(&m)));
    }
    let sources: Vec<&Value> = payloads.iter().map(|(s, _)| s).collect();
    assert_eq!(
        sources,
        [
            &json!("smtp"),
            &json!("pipe"),
            &json!("http"),
            &json!("imap")
        ]
    );
    assert_eq!(payloads[0].1["mailbox_hash"], "77", "{}", payloads[0].1);
    for (source, p) in &payloads[1..] {
        assert_eq!(p, &payloads[0].1, "by {source}");
    }
}

/// Two nodes on one PostgreSQL database deliver each event once.
#[tokio::test]
async fn two_nodes_deliver_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), true).await;
    let (receiver, url) = Receiver::start(&[], false).await;
    let a = serve(dir.path(), &db, Way::Smtp, &[]).await;
    let other = tempfile::tempdir().unwrap();
    let b = serve(other.path(), &db, Way::Smtp, &[]).await;
    let (status, _) = a
        .post(
            "/api/v1/webhooks",
            json!({"url": url, "events": ["record.created"]}),
        )
        .await;
    assert_eq!(status, 201);
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        let raw = message("sales@example.com").replace("Demo on Thursday", &format!("Lead {i}"));
        let t = swaks(
            &node.smtp,
            "robert@customer.example",
            "sales@example.com",
            &raw,
        );
        assert!(t.contains("250 2.0.0"), "{t}");
    }
    let got = eventually(20, "twenty events", || async {
        let g = receiver.got();
        (g.len() >= 20).then_some(g)
    })
    .await;
    // Every delivery recorded as done in one attempt: no node sends an event again after this.
    let hooks = eventually(20, "twenty deliveries recorded", || async {
        let (_, page) = a.get("/api/v1/webhooks/1/deliveries?limit=100").await;
        let items = page["items"].as_array()?.clone();
        (items.len() == 20 && items.iter().all(|d| d["state"] != "pending")).then_some(items)
    })
    .await;
    assert!(
        hooks
            .iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1),
        "{hooks:?}"
    );
    let got_after = receiver.got();
    let mut ids: Vec<&str> = got_after.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (got.len(), got_after.len(), ids.len()),
        (20, 20, 20),
        "each event once"
    );
}

/// Every event type of the contract reaches a webhook that takes them all, each with its data:
/// a record and a message created by the API, the notification sent (to an SMTP server written
/// in the test), its bounce, a mail whose recipient that server refuses, mail by SMTP, an
/// unparseable message, a mailbox that cannot be polled.
#[tokio::test]
async fn every_event_type_reaches_the_webhook() {
    let sink = postern_testkit::sink::start(postern_testkit::sink::Behaviour {
        reject_rcpt: vec!["zoe@customer.example".into()],
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), false).await;
    let (receiver, url) = Receiver::start(&[], false).await;
    let s = serve(
        dir.path(),
        &db,
        Way::Smtp,
        &[("POSTERN_DELIVERY_POLL_MS", "50")],
    )
    .await;
    let post = |path: &'static str, body: Value| {
        let s = &s;
        async move {
            let (status, v) = s.post(path, body).await;
            assert!((200..300).contains(&status), "{path}: {status} {v}");
            v
        }
    };
    post("/api/v1/webhooks", json!({"url": url})).await;
    post(
        "/api/v1/outgoing-servers",
        json!({"name": "sink", "host": "127.0.0.1", "port": sink.port, "encryption": "none"}),
    )
    .await;
    let robert = post(
        "/api/v1/partners",
        json!({"name": "Robert", "email": "robert@customer.example"}),
    )
    .await["id"]
        .clone();
    let record = post(
        "/api/v1/records",
        json!({"model": "helpdesk.ticket", "name": "Printer", "follower_partner_ids": [robert]}),
    )
    .await;
    let (_, posted) = s
        .post(
            &format!("/api/v1/records/{}/messages", record["id"]),
            json!({"subject": "On it", "body_text": "A technician is coming."}),
        )
        .await;
    let rfc_id = posted["message_id"].as_str().unwrap().to_owned();
    eventually(20, "the notification sent", || async {
        (!sink.messages().is_empty()).then_some(())
    })
    .await;
    let dsn = format!(
        "From: MAILER-DAEMON@customer.example\r\nTo: bounce@example.com\r\nSubject: Undelivered Mail\r\n\
         Message-ID: <dsn-hook-1@customer.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n\
         --r\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\
         --r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n\
         Final-Recipient: rfc822; robert@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n\
         --r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {rfc_id}\r\nSubject: On it\r\n\r\n--r--\r\n"
    );
    let http = reqwest::Client::new();
    let ingest = |body: String| {
        http.post(s.url("/api/v1/ingest?rcpt=bounce%40example.com"))
            .bearer_auth(TOKEN)
            .header("content-type", "message/rfc822")
            .body(body)
            .send()
    };
    assert_eq!(ingest(dsn).await.unwrap().status(), 200);
    let t = swaks(
        &s.smtp,
        "robert@customer.example",
        "sales@example.com",
        &message("sales@example.com"),
    );
    assert!(t.contains("250 2.0.0"), "{t}");
    post(
        "/api/v1/mail",
        json!({"to": ["zoe@customer.example"], "subject": "Refused", "body_text": "x"}),
    )
    .await;
    let refused = ingest("\r\n\r\n".into()).await.unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    let mailbox = post(
        "/api/v1/incoming-servers",
        json!({"name": "closed", "protocol": "imap", "host": "127.0.0.1", "port": 1,
               "encryption": "none", "username": "u", "password": "p", "model": "crm.lead"}),
    )
    .await;
    let (status, _) = s
        .post(
            &format!("/api/v1/incoming-servers/{}/fetch", mailbox["id"]),
            json!({}),
        )
        .await;
    assert!(status >= 400, "a closed port cannot be polled: {status}");

    let expected = [
        "record.created",
        "message.posted",
        "mail.sent",
        "notification.bounced",
        "message.received",
        "mail.failed",
        "raw_message.unprocessable",
        "incoming_server.failed",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let events = loop {
        let events: Vec<Value> = receiver
            .got()
            .iter()
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect();
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|t| !events.iter().any(|e| e["type"] == *t))
            .collect();
        if missing.is_empty() {
            break events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "missing {missing:?}; got {:?}",
            events.iter().map(|e| &e["type"]).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let of = |t: &str| events.iter().find(|e| e["type"] == t).unwrap()["data"].clone();
    assert_eq!(of("record.created")["record"]["name"], "Printer");
    assert_eq!(
        of("message.posted")["message"]["message_id"],
        rfc_id.as_str()
    );
    assert_eq!(of("mail.sent")["mail"]["state"], "sent");
    assert_eq!(of("notification.bounced")["partner_id"], robert);
    assert_eq!(
        of("notification.bounced")["message"]["message_id"],
        rfc_id.as_str()
    );
    let failed = of("mail.failed");
    assert_eq!(
        (&failed["mail"]["state"], &failed["mail"]["subject"]),
        (&json!("exception"), &json!("Refused")),
        "{failed}"
    );
    assert_eq!(
        failed["mail"]["failure_type"], "mail_email_invalid",
        "{failed}"
    );
    assert!(
        of("raw_message.unprocessable")["raw_message_id"]
            .as_i64()
            .is_some()
    );
    assert_eq!(
        of("incoming_server.failed")["incoming_server"]["name"],
        "closed"
    );
    assert!(
        of("incoming_server.failed")["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert_eq!(of("message.received")["alias"], "sales@example.com");
}

/// A secret rotation: after the secret is changed, each delivery carries two signatures, one
/// by the new secret and one by the replaced one (which signs for a day), space-separated.
#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), false).await;
    let (receiver, url) = Receiver::start(&[], false).await;
    let s = serve(dir.path(), &db, Way::Smtp, &[]).await;
    let (old, new) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_C2VjcmV0LXR3by1mb3ItdGhlLXJvdGF0aW9u",
    );
    let (status, hook) = s
        .post(
            "/api/v1/webhooks",
            json!({"url": url, "events": ["record.created"], "secret": old}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    assert!(
        hook.get("secret").is_none(),
        "a given secret is not echoed: {hook}"
    );
    let (status, changed) = s
        .patch(
            &format!("/api/v1/webhooks/{}", hook["id"]),
            json!({"secret": new}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    let (status, _) = s
        .post(
            "/api/v1/records",
            json!({"model": "crm.lead", "name": "Rotated"}),
        )
        .await;
    assert_eq!(status, 201);
    let got = eventually(10, "the event", || async {
        receiver.got().into_iter().next()
    })
    .await;
    assert_eq!(got.signature.split(' ').count(), 2, "{}", got.signature);
    assert!(verifies(new, &got), "signed by the new secret");
    assert!(verifies(old, &got), "and by the replaced one");
}
