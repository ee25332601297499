//! Security tests through `postern serve` over real sockets (issue 18, point 5): no open relay
//! whatever the address trick, no header injection through any API field, attachment names
//! without paths or control characters in storage and in downloads, and the known secrets
//! (the API token, the admin password, outgoing and incoming server passwords) in no log line,
//! no API answer and no error.

use postern_testkit::Serve;
use postern_testkit::sink::{self, Behaviour};
use postern_testkit::smtp::Smtp;
use serde_json::{Value, json};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "sec-api-token-7f3a9c1e5b2d46801a";
const SALES: &str = "sales@example.com";

/// `serve` with the alias `sales@example.com`, `extra` in its configuration (after the alias),
/// `envs` and `args` (before `serve`).
fn serve(dir: &Path, server: &str, extra: &str, envs: &[(&str, &str)], args: &[&str]) -> Serve {
    let config = dir.join("postern.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhostname = \"mx.example.com\"\n{server}\n\
             [[alias_domains]]\nname = \"example.com\"\n\
             [[aliases]]\nalias_name = \"sales\"\nalias_domain = \"example.com\"\nmodel = \"crm.lead\"\n\
             {extra}"
        ),
    )
    .unwrap();
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    Serve::start(BIN, &dir.join("data"), TOKEN, envs, &all)
}

async fn items(s: &Serve, path: &str) -> Vec<Value> {
    let (status, page) = s.get(path).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

/// Addresses that would make a careless server relay to `evil.test` (or to any domain but
/// ours).
const RELAY_TRICKS: &[&str] = &[
    "victim@evil.test",
    "victim%evil.test@example.com",
    "evil.test!victim@example.com",
    "victim%evil.test",
    "evil.test!victim",
    "@example.com:victim@evil.test",
    "@example.com,@mx.example.com:victim@evil.test",
    "\"victim@evil.test\"@example.com",
    "\"victim@evil.test\"",
    "victim@evil.test.",
    "victim@[192.0.2.1]",
    "victim@[IPv6:2001:db8::1]",
    "sales@exаmple.com",
    "sales@xn--exmple-4nf.com",
    "sales@example.com.evil.test",
    "sales@evil.test@example.com",
    "victim@evil.test\u{0}@example.com",
    "postmaster@evil.test",
];

/// Sends one message to each trick that `RCPT` accepts; returns the replies to `RCPT`.
async fn try_tricks(s: &Serve) -> Vec<(String, String)> {
    let mut replies = Vec::new();
    for trick in RELAY_TRICKS {
        let mut c = Smtp::ehlo(&s.smtp).await;
        assert!(
            c.command("MAIL FROM:<a@customer.test>")
                .await
                .starts_with("250")
        );
        let rcpt = c.command(&format!("RCPT TO:<{trick}>")).await;
        if rcpt.starts_with("250") {
            // Accepted at RCPT (domain check): judged on the content after the data.
            let data = c.command("DATA").await;
            assert!(data.starts_with("354"), "{data}");
            c.send(
                format!(
                    "From: a@customer.test\r\nTo: {trick}\r\nSubject: relay?\r\n\
                     Message-ID: <relay-{}@customer.test>\r\n\r\nrelay me\r\n.\r\n",
                    replies.len()
                )
                .as_bytes(),
            )
            .await;
            let after = c.reply().await;
            replies.push((trick.to_string(), format!("{rcpt} / {after}")));
        } else {
            replies.push((trick.to_string(), rcpt));
        }
    }
    replies
}

/// No trick makes Postern relay: every address outside our domain is refused at `RCPT`, and
/// whatever is accepted is stored here and mails nothing to anybody (the outbox stays empty),
/// with either recipient check. `postmaster` without a domain is accepted (RFC 5321 §4.5.1)
/// and kept here.
#[tokio::test]
async fn no_open_relay_under_any_trick() {
    for check in ["alias", "domain"] {
        let dir = tempfile::tempdir().unwrap();
        let s = serve(
            dir.path(),
            &format!("recipient_check = \"{check}\""),
            "",
            &[],
            &[],
        );
        for (trick, reply) in try_tricks(&s).await {
            let relayed = reply.starts_with("250") && reply.contains("/ 250");
            assert!(!relayed, "{check}: {trick} was accepted: {reply}");
            assert!(reply.contains("5"), "{check}: {trick}: {reply}");
        }
        let mut c = Smtp::ehlo(&s.smtp).await;
        let r = c
            .mail(
                "a@customer.test",
                &["postmaster"],
                b"From: a@customer.test\r\nTo: postmaster\r\nSubject: hi\r\n\r\nhello\r\n",
            )
            .await;
        assert!(r.starts_with("250") || r.starts_with("550"), "{r}");
        let mails = items(&s, "/api/v1/mail").await;
        assert!(mails.is_empty(), "{check}: nothing mailed: {mails:?}");
    }
}

/// A line break in any API field that ends in a header of a mail is refused (400 or 422), or
/// (a name the store sanitises anyway, as an alias domain's `default_from`) taken out: nothing
/// is written with it. The fields of `POST /mail`, of a message posted on a record, and the
/// names and addresses of the configuration that go into From, To and Reply-To.
#[tokio::test]
async fn header_injection_through_every_api_field_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), "", "", &[], &[]);
    let (st, record) = s
        .post("/api/v1/records", json!({"model": "crm.lead", "name": "R"}))
        .await;
    assert_eq!(st, 201, "{record}");
    let messages = format!("/api/v1/records/{}/messages", record["id"]);
    let file = |name: &str| json!([{"filename": name, "content": "aGk="}]);
    let evil = "x\r\nBcc: evil@evil.test";
    let lf = "x\nBcc: evil@evil.test";
    let cr = "x\rBcc: evil@evil.test";
    let to = json!(["a@customer.test"]);
    let cases: Vec<(&str, Value)> = vec![
        ("/api/v1/mail", json!({"to": to, "subject": evil})),
        ("/api/v1/mail", json!({"to": to, "subject": lf})),
        ("/api/v1/mail", json!({"to": to, "subject": cr})),
        ("/api/v1/mail", json!({"to": [evil]})),
        ("/api/v1/mail", json!({"to": to, "cc": [evil]})),
        ("/api/v1/mail", json!({"to": to, "from": evil})),
        ("/api/v1/mail", json!({"to": to, "headers": {"X-A": evil}})),
        ("/api/v1/mail", json!({"to": to, "headers": {evil: "1"}})),
        ("/api/v1/mail", json!({"to": to, "attachments": file(evil)})),
        (&messages, json!({"body_text": "b", "subject": evil})),
        (
            &messages,
            json!({"body_text": "b", "attachments": file(evil)}),
        ),
        (
            "/api/v1/records",
            json!({"model": "crm.lead", "name": evil}),
        ),
        (
            "/api/v1/records",
            json!({"model": "crm.lead", "name": "n", "email_from": evil}),
        ),
        (
            "/api/v1/records",
            json!({"model": "crm.lead", "name": "n", "email_cc": evil}),
        ),
        (
            "/api/v1/partners",
            json!({"name": evil, "email": "p@customer.test"}),
        ),
        ("/api/v1/partners", json!({"name": "P", "email": evil})),
        (
            "/api/v1/companies",
            json!({"name": evil, "email": "c@example.com"}),
        ),
        ("/api/v1/companies", json!({"name": "C", "email": evil})),
        ("/api/v1/alias-domains", json!({"name": evil})),
        (
            "/api/v1/alias-domains",
            json!({"name": "other.test", "default_from": evil}),
        ),
        (
            "/api/v1/aliases",
            json!({"alias_name": evil, "alias_domain": "example.com", "model": "crm.lead"}),
        ),
    ];
    for (path, body) in &cases {
        let (status, answer) = s.post(path, body.clone()).await;
        let refused = status == 400 || status == 422;
        let one_line = status == 201
            && !answer.to_string().contains("\\r")
            && !answer.to_string().contains("\\n");
        assert!(refused || one_line, "{path} {body}: {status} {answer}");
    }
    assert!(items(&s, "/api/v1/mail").await.is_empty(), "nothing queued");
    let records = items(&s, "/api/v1/records").await;
    assert_eq!(records.len(), 1, "only the test's record: {records:?}");
    let (_, thread) = s.get(&messages).await;
    assert_eq!(thread["items"], json!([]), "nothing posted: {thread}");
}

/// Attachment names with paths and control characters: stored without them (mail by SMTP and
/// messages posted by the API), and every download is `Content-Disposition: attachment` with
/// a safe name, whatever the type (an HTML attachment is never rendered in the API's origin).
#[tokio::test]
async fn attachment_names_lose_paths_and_control_characters_sqlite() {
    attachment_names(false).await;
}

#[tokio::test]
async fn attachment_names_lose_paths_and_control_characters_postgres() {
    attachment_names(true).await;
}

async fn attachment_names(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = postern_testkit::database(dir.path(), postgres).await;
    let s = serve(dir.path(), "", "", &[("POSTERN_DATABASE_URL", &db)], &[]);
    // The Content-Disposition parameter as written, and the name kept.
    let names = [
        ("filename=\"../../etc/passwd\"", "passwd"),
        ("filename*=UTF-8''..%5C..%5Cboot.ini", "boot.ini"),
        ("filename=\"a\u{1}b\u{1b}[31m.html\"", "a_b_[31m.html"),
        ("filename*=UTF-8''%2E%2E", "attachment"),
        ("filename*=UTF-8''new%0D%0Aline%00.txt", "new__line_.txt"),
    ];
    let mut raw = String::from(
        "From: a@customer.test\r\nTo: sales@example.com\r\nSubject: files\r\n\
         Message-ID: <files@customer.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n--p\r\n\
         Content-Type: text/plain\r\n\r\nsee attached\r\n",
    );
    for (given, _) in &names {
        raw.push_str(&format!(
            "--p\r\nContent-Type: text/html\r\n\
             Content-Disposition: attachment; {given}\r\n\r\n<script>alert(1)</script>\r\n"
        ));
    }
    raw.push_str("--p--\r\n");
    let mut c = Smtp::ehlo(&s.smtp).await;
    let r = c.mail("a@customer.test", &[SALES], raw.as_bytes()).await;
    assert!(r.starts_with("250"), "{r}");
    let records = items(&s, "/api/v1/records?model=crm.lead").await;
    let thread = format!("/api/v1/records/{}/messages", records[0]["id"]);
    let (st, posted) = s
        .post(
            &thread,
            json!({"body_text": "b", "attachments": [
                {"filename": "../../../root/.ssh/id_rsa", "content": "aGk=", "mimetype": "text/html"}
            ]}),
        )
        .await;
    assert_eq!(st, 201, "{posted}");
    let messages = items(&s, &thread).await;
    let stored: Vec<Value> = messages
        .iter()
        .flat_map(|m| m["attachments"].as_array().cloned().unwrap_or_default())
        .collect();
    let mut expected: Vec<&str> = names.iter().map(|(_, kept)| *kept).collect();
    expected.push("id_rsa");
    let mut got: Vec<&str> = stored
        .iter()
        .map(|a| a["filename"].as_str().unwrap())
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{stored:?}");
    for a in &stored {
        let r = s
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/attachments/{}", a["id"]),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let disposition = r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            disposition.starts_with("attachment; filename=\""),
            "{disposition}"
        );
        assert!(
            !disposition.contains('/')
                && !disposition.contains("..\\")
                && !disposition.contains('\u{1b}'),
            "{disposition}"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }
    drop(s);
    postern_testkit::drop_database(&db).await;
}

const ADMIN: &str = "admin-pass-Zq8rT2wXy5";
const RELAY: &str = "relay-pass-Kp4mN7vBq1";
const WRONG: &str = "wrong-pass-Hx9cD3eFs6";
const IMAP: &str = "imap-pass-Lw2gJ8uTn3";

/// Every form a secret could take in a log or an answer: as is, and in base64 as AUTH PLAIN
/// and AUTH LOGIN send it.
fn secret_forms() -> Vec<(String, String)> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut forms = Vec::new();
    for (name, secret) in [("API token", TOKEN), ("admin password", ADMIN)] {
        forms.push((name.to_owned(), secret.to_owned()));
    }
    for (name, user, secret) in [
        ("relay password", "postern", RELAY),
        ("wrong password", "postern", WRONG),
        ("IMAP password", "support", IMAP),
    ] {
        forms.push((name.to_owned(), secret.to_owned()));
        forms.push((format!("{name} (LOGIN)"), b64(secret)));
        forms.push((
            format!("{name} (PLAIN)"),
            b64(&format!("\0{user}\0{secret}")),
        ));
    }
    forms
}

/// Signs in to the admin UI with `password`; the answer's status and body.
async fn ui_login(s: &Serve, password: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client.get(s.url("/login")).send().await.unwrap();
    let cookie = form.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = form.text().await.unwrap();
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &page[at..at + page[at..].find('"').unwrap()];
    let r = client
        .post(s.url("/login"))
        .header("cookie", cookie)
        .form(&[
            ("csrf", csrf),
            ("next", "/"),
            ("login", "admin"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The binary runs with known secrets, logging at debug level to a file; the API, the UI,
/// the connection test, delivery (with a good and a wrong password) and a failing fetch are
/// used; then no secret, in any form, is in a log line, an API answer or an error.
#[tokio::test]
async fn secrets_are_in_no_log_line_answer_or_error() {
    let sink = sink::start(Behaviour {
        starttls: true,
        auth: Some(("postern".into(), RELAY.into())),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("postern.log");
    let closed = postern_testkit::free_port();
    let extra = format!(
        "[[outgoing_servers]]\nname = \"relay\"\nhost = \"127.0.0.1\"\nport = {}\n\
         encryption = \"starttls\"\nusername = \"postern\"\npassword_env = \"RELAY_PASSWORD\"\n\
         from_filter = \"example.com\"\nsequence = 10\n\
         [[outgoing_servers]]\nname = \"broken\"\nhost = \"127.0.0.1\"\nport = {}\n\
         encryption = \"starttls\"\nusername = \"postern\"\npassword_env = \"WRONG_PASSWORD\"\n\
         from_filter = \"other.test\"\nsequence = 20\n\
         [[incoming_servers]]\nname = \"support\"\nprotocol = \"imap\"\nhost = \"127.0.0.1\"\n\
         port = {closed}\nencryption = \"none\"\nusername = \"support\"\n\
         password_env = \"IMAP_PASSWORD\"\nmodel = \"crm.lead\"\ninterval = \"1h\"\n",
        sink.port, sink.port
    );
    let envs = [
        ("POSTERN_ADMIN_PASSWORD", ADMIN),
        ("RELAY_PASSWORD", RELAY),
        ("WRONG_PASSWORD", WRONG),
        ("IMAP_PASSWORD", IMAP),
        ("POSTERN_LOG", "debug"),
        ("POSTERN_DELIVERY_POLL_MS", "100"),
    ];
    let mut s = serve(
        dir.path(),
        "",
        &extra,
        &envs,
        &["--log-file", log.to_str().unwrap()],
    );
    let mut answers: Vec<String> = s.banner.clone();
    fn keep(answers: &mut Vec<String>, what: &str, status: u16, body: &Value) {
        answers.push(format!("{what} {status} {body}"));
    }
    for path in [
        "/api/v1/outgoing-servers",
        "/api/v1/incoming-servers",
        "/api/v1/outgoing-servers/1",
        "/api/v1/outgoing-servers/2",
        "/api/v1/incoming-servers/1",
        "/api/v1/alias-domains",
        "/api/v1/companies",
        "/api/v1/webhooks",
        "/api/v1/openapi.json",
    ] {
        let (st, body) = s.get(path).await;
        keep(&mut answers, path, st, &body);
    }
    for path in [
        "/api/v1/outgoing-servers/1/test",
        "/api/v1/outgoing-servers/2/test",
        "/api/v1/incoming-servers/1/fetch",
    ] {
        let (st, body) = s.post(path, json!({})).await;
        keep(&mut answers, path, st, &body);
    }
    // A wrong token, and the right one with something after it.
    for token in ["nope", &format!("{TOKEN}x")] {
        let r = s
            .http()
            .get(s.url("/api/v1/outgoing-servers"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let headers = format!("{:?}", r.headers());
        answers.push(format!("{headers} {}", r.text().await.unwrap()));
    }
    // Mail through the relay (good password) and through the broken server (wrong one).
    let (st, good) = s
        .post(
            "/api/v1/mail",
            json!({"from": "info@example.com", "to": ["c@customer.test"], "subject": "s", "body_text": "b"}),
        )
        .await;
    keep(&mut answers, "mail", st, &good);
    let (st, bad) = s
        .post(
            "/api/v1/mail",
            json!({"from": "info@other.test", "to": ["c@customer.test"], "subject": "s", "body_text": "b"}),
        )
        .await;
    keep(&mut answers, "mail", st, &bad);
    postern_testkit::eventually(60, "the good mail reaches the sink", || async {
        (!sink.messages().is_empty()).then_some(())
    })
    .await;
    assert_eq!(sink.messages()[0].user.as_deref(), Some("postern"));
    let bad_path = format!("/api/v1/mail/{}", bad["id"]);
    let failed = postern_testkit::eventually(60, "the wrong password is tried", || async {
        let (_, m) = s.get(&bad_path).await;
        m["failure_reason"].as_str().is_some().then_some(m)
    })
    .await;
    keep(&mut answers, "failed mail", 200, &failed);
    let (st, list) = s.get("/api/v1/mail").await;
    keep(&mut answers, "mails", st, &list);
    for password in ["not-it", ADMIN] {
        let (st, page) = ui_login(&s, password).await;
        answers.push(format!("login {st} {page}"));
    }
    s.stop();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.lines().count() > 20 && log.contains("DEBUG"),
        "a debug log was written: {log}"
    );
    for (name, form) in secret_forms() {
        for (i, line) in log.lines().enumerate() {
            assert!(
                !line.contains(&form),
                "{name} in log line {}: {line}",
                i + 1
            );
        }
        for a in &answers {
            assert!(!a.contains(&form), "{name} in an answer: {a}");
        }
    }
}
