//! The delivery runner against capture SMTP servers over real sockets (`postern_testkit::sink`),
//! on SQLite and on PostgreSQL (`POSTERN_TEST_DATABASE_URL`, started by scripts/test.sh).

use postern_delivery::{Backoff, DeliveryConfig, run_once, test_server};
use postern_model::{
    Encryption, MailId, MailState, MailStream, MessageId, NotificationStatus, NotificationType,
    OutgoingServerId, PartnerId, Secret,
};
use postern_store::*;
use postern_testkit::TestDb;
use postern_testkit::db::comment;
use postern_testkit::sink::{self, Behaviour};
use std::time::Duration;

/// Declares `name::sqlite` and `name::postgres`.
macro_rules! both {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            use super::*;
            async fn run($store: Store) $body
            #[tokio::test]
            async fn sqlite() {
                let db = TestDb::sqlite().await;
                run(db.store.clone()).await;
                db.finish().await;
            }
            #[tokio::test]
            async fn postgres() {
                let db = TestDb::postgres().await;
                run(db.store.clone()).await;
                db.finish().await;
            }
        }
    };
}

fn config() -> DeliveryConfig {
    let mut c = DeliveryConfig::new("postern.test");
    c.timeout = Duration::from_secs(5);
    c.backoff = Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_millis(200),
        max_age: Duration::from_secs(60),
    };
    c
}

/// The gateway fixture's domain and company; a server with `filter` on the sink's port.
async fn setup(
    store: &Store,
    port: u16,
    filter: Option<&str>,
    enc: Encryption,
    auth: Option<(&str, &str)>,
) -> OutgoingServerId {
    let mut tx = store.begin().await.unwrap();
    tx.create::<AliasDomain>(&AliasDomainInput {
        name: "test.mycompany.com".into(),
        bounce_alias: Some("bounce.test".into()),
        catchall_alias: Some("catchall.test".into()),
        default_from: Some("notifications.test".into()),
        sequence: Some(1),
        // The reference's Return-Path (`bounce.test@...`): these cases are its own. VERP has
        // tests of its own.
        verp: Some(false),
    })
    .await
    .unwrap();
    tx.create::<Company>(&CompanyInput {
        name: "YourCompany".into(),
        email: None,
        alias_domain: None,
    })
    .await
    .unwrap();
    let s = add_server(&mut tx, "sink", port, filter, enc, auth).await;
    tx.commit().await.unwrap();
    s
}

async fn add_server(
    tx: &mut Tx,
    name: &str,
    port: u16,
    filter: Option<&str>,
    enc: Encryption,
    auth: Option<(&str, &str)>,
) -> OutgoingServerId {
    tx.create::<OutgoingServer>(&OutgoingServerInput {
        name: name.into(),
        host: "localhost".into(),
        port: Some(port.into()),
        encryption: Some(enc),
        username: auth.map(|a| a.0.to_owned()),
        password: auth.map(|a| Secret::new(a.1)),
        from_filter: filter.map(str::to_owned),
        ..Default::default()
    })
    .await
    .unwrap()
    .id
}

/// **Test Connection** of the server `id`, each step waiting at most `seconds`.
async fn test_connection(
    store: &Store,
    id: OutgoingServerId,
    seconds: u64,
) -> postern_delivery::TestResult {
    let limits = ("postern.test", Duration::from_secs(seconds));
    test_server(store, id, limits, (&Default::default(), None))
        .await
        .unwrap()
}

/// A message on a record, a partner per address, one notification mail per partner.
async fn notify(store: &Store, from: &str, to: &[&str]) -> (MessageId, Vec<(MailId, PartnerId)>) {
    let mut tx = store.begin().await.unwrap();
    let record = tx
        .insert_record(&NewRecordRow {
            model: "crm.lead",
            name: "Lead",
            values_json: "{}",
            ..Default::default()
        })
        .await
        .unwrap();
    let mid = format!("<{}.1-postern-{record}-crm.lead@postern.test>", to.len());
    let message = tx
        .insert_message(&NewMessage {
            email_from: Some(from),
            subject: Some("Quote"),
            ..comment(&mid, Some(record), "<p>Here is the <b>quote</b></p>")
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    for a in to {
        let p = tx
            .create::<Partner>(&PartnerInput {
                name: format!("P {a}"),
                email: Some((*a).into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .id;
        let mail = tx
            .insert_mail(&NewMail {
                stream: MailStream::Transactional,
                kind: Some("notification".into()),
                message_id: Some(message),
                record_id: Some(record),
                rfc_message_id: mid.clone(),
                email_from: from.into(),
                email_to: vec![format!("\"P\" <{a}>")],
                reply_to: Some("\"YourCompany Lead\" <catchall.test@test.mycompany.com>".into()),
                return_path: Some("bounce.test@test.mycompany.com".into()),
                subject: "Quote".into(),
                body_html: Some("<p>Here is the <b>quote</b></p>".into()),
                headers: serde_json::json!({"References": mid, "X-Postern-Message-Id": mid}),
                ..Default::default()
            })
            .await
            .unwrap();
        tx.insert_notification(&NewNotification {
            message_id: message,
            partner_id: p,
            notification_type: NotificationType::Email,
            status: NotificationStatus::Ready,
            mail_id: Some(mail),
        })
        .await
        .unwrap();
        out.push((mail, p));
    }
    tx.commit().await.unwrap();
    (message, out)
}

async fn notification(store: &Store, message: MessageId, partner: PartnerId) -> Notification {
    let mut tx = store.read().await.unwrap();
    tx.get_message(message)
        .await
        .unwrap()
        .notifications
        .unwrap_or_default()
        .into_iter()
        .find(|n| n.partner_id == partner)
        .unwrap()
}

async fn mail(store: &Store, id: MailId) -> Mail {
    store.read().await.unwrap().get_mail(id).await.unwrap()
}

async fn drain(store: &Store, cfg: &DeliveryConfig) {
    for _ in 0..40 {
        run_once(store, cfg).await.unwrap();
        let mut tx = store.read().await.unwrap();
        if tx
            .list_mails(Some("outgoing"), PageRequest::all())
            .await
            .unwrap()
            .items
            .is_empty()
        {
            return;
        }
        drop(tx);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    panic!("the outbox did not drain");
}

both!(
    delivers_once_with_headers_envelope_and_reused_connections,
    |store| {
        let sink = sink::start(Behaviour::default()).await;
        setup(
            &store,
            sink.port,
            Some("test.mycompany.com"),
            Encryption::None,
            None,
        )
        .await;
        let (message, mails) = notify(
            &store,
            "\"Eva\" <eva@elsewhere.example>",
            &[
                "a@customer.example",
                "b@customer.example",
                "c@customer.example",
            ],
        )
        .await;
        // A refusal of the gateway: null envelope sender.
        let mut tx = store.begin().await.unwrap();
        let refusal = tx
            .insert_mail(&NewMail {
                stream: MailStream::Transactional,
                kind: Some("alias_refusal".into()),
                rfc_message_id: "<r1-alias-refusal@postern.test>".into(),
                email_from: "\"MAILER-DAEMON\" <bounce.test@test.mycompany.com>".into(),
                email_to: vec!["sender@elsewhere.example".into()],
                return_path: Some(String::new()),
                subject: "Re: hello".into(),
                body_html: Some("<p>refused</p>".into()),
                headers: serde_json::json!({"Auto-Submitted": "auto-replied"}),
                ..Default::default()
            })
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let stats = run_once(&store, &config()).await.unwrap();
        assert_eq!((stats.claimed, stats.sent), (4, 4));
        let got = sink.messages();
        assert_eq!(got.len(), 4, "each mail arrives once");
        let to_a = got
            .iter()
            .find(|m| m.rcpts == ["a@customer.example"])
            .unwrap();
        assert_eq!(
            to_a.mail_from, "bounce.test@test.mycompany.com",
            "the domain server allows the bounce address"
        );
        for h in [
            "From: \"Eva\" <notifications.test@test.mycompany.com>",
            "Reply-To: \"YourCompany Lead\" <catchall.test@test.mycompany.com>",
            "Return-Path: <bounce.test@test.mycompany.com>",
            "Message-ID: <3.1-postern-",
            "X-Postern-Message-Id: <3.1-postern-",
            "References: <3.1-postern-",
            "Subject: Quote",
        ] {
            assert!(to_a.data.contains(h), "{h} in\n{}", to_a.data);
        }
        assert!(
            to_a.data.contains("Here is the quote"),
            "text alternative:\n{}",
            to_a.data
        );
        let r = got
            .iter()
            .find(|m| m.rcpts == ["sender@elsewhere.example"])
            .unwrap();
        assert_eq!(r.mail_from, "", "refusals go out with the null sender");
        assert!(r.data.contains("Auto-Submitted: auto-replied"));
        assert!(
            sink.connections.load(std::sync::atomic::Ordering::SeqCst) <= 2,
            "one connection per (server, sender) group"
        );
        for (m, p) in &mails {
            assert_eq!(mail(&store, *m).await.state, MailState::Sent);
            assert_eq!(
                notification(&store, message, *p).await.status,
                NotificationStatus::Sent
            );
        }
        assert_eq!(mail(&store, refusal).await.state, MailState::Sent);
        assert_eq!(
            run_once(&store, &config()).await.unwrap().claimed,
            0,
            "nothing sent twice"
        );
    }
);

both!(a_refused_recipient_fails_alone, |store| {
    let sink = sink::start(Behaviour {
        reject_rcpt: vec!["nobody@customer.example".into()],
        ..Default::default()
    })
    .await;
    setup(&store, sink.port, None, Encryption::None, None).await;
    let (message, mails) = notify(
        &store,
        "eva@test.mycompany.com",
        &["ok@customer.example", "nobody@customer.example"],
    )
    .await;
    // One mail with both addresses too.
    let mut tx = store.begin().await.unwrap();
    let both = tx
        .insert_mail(&NewMail {
            stream: MailStream::Transactional,
            rfc_message_id: "<both@postern.test>".into(),
            email_from: "eva@test.mycompany.com".into(),
            email_to: vec![
                "ok@customer.example".into(),
                "nobody@customer.example".into(),
                "not an address".into(),
            ],
            subject: "x".into(),
            body_text: Some("plain".into()),
            headers: serde_json::json!({}),
            ..Default::default()
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    run_once(&store, &config()).await.unwrap();
    let got = sink.messages();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter()
            .any(|m| m.rcpts == ["ok@customer.example"] && m.data.contains("both@postern.test"))
    );
    let n_ok = notification(&store, message, mails[0].1).await;
    let n_bad = notification(&store, message, mails[1].1).await;
    assert_eq!(n_ok.status, NotificationStatus::Sent);
    assert_eq!(
        (n_bad.status.as_str(), n_bad.failure_type.as_deref()),
        ("exception", Some("mail_email_invalid")),
        "the red envelope on the refused partner"
    );
    assert!(n_bad.failure_reason.unwrap().contains("550 5.1.1"));
    assert_eq!(mail(&store, mails[1].0).await.state, MailState::Exception);
    let m = mail(&store, both).await;
    assert_eq!(m.state, MailState::Sent, "someone got it");
    let mut tx = store.read().await.unwrap();
    let rcpts = tx.mail_recipients(both).await.unwrap();
    let st: Vec<(&str, &str)> = rcpts
        .iter()
        .map(|r| (r.address.as_str(), r.status.as_str()))
        .collect();
    assert!(
        st.contains(&("ok@customer.example", "sent"))
            && st.contains(&("nobody@customer.example", "exception"))
            && st.contains(&("not an address", "exception")),
        "{st:?}"
    );
});

both!(temporary_failures_are_retried_until_delivered, |store| {
    let sink = sink::start(Behaviour {
        drop_first: 1,
        tempfail_first: 2,
        ..Default::default()
    })
    .await;
    setup(&store, sink.port, None, Encryption::None, None).await;
    let (message, mails) = notify(&store, "eva@test.mycompany.com", &["a@customer.example"]).await;
    let cfg = config();
    let first = run_once(&store, &cfg).await.unwrap();
    assert_eq!(first.retried, 1, "a dropped connection is temporary");
    let m = mail(&store, mails[0].0).await;
    assert_eq!(m.state, MailState::Outgoing);
    assert!(m.failure_reason.unwrap().contains("closed the connection"));
    assert_eq!(
        notification(&store, message, mails[0].1).await.status,
        NotificationStatus::Ready
    );
    drain(&store, &cfg).await;
    assert_eq!(sink.messages().len(), 1, "delivered exactly once");
    assert_eq!(mail(&store, mails[0].0).await.state, MailState::Sent);
    assert_eq!(
        notification(&store, message, mails[0].1).await.status,
        NotificationStatus::Sent
    );
});

both!(gives_up_after_the_maximum_age, |store| {
    let sink = sink::start(Behaviour {
        tempfail_first: 1000,
        ..Default::default()
    })
    .await;
    setup(&store, sink.port, None, Encryption::None, None).await;
    let (message, mails) = notify(&store, "eva@test.mycompany.com", &["a@customer.example"]).await;
    let mut cfg = config();
    cfg.backoff.max_age = Duration::ZERO;
    run_once(&store, &cfg).await.unwrap();
    let m = mail(&store, mails[0].0).await;
    assert_eq!(
        (m.state.as_str(), m.failure_type.as_deref()),
        ("exception", Some("mail_smtp"))
    );
    let n = notification(&store, message, mails[0].1).await;
    assert_eq!(
        (n.status.as_str(), n.failure_type.as_deref()),
        ("exception", Some("mail_smtp"))
    );
    assert!(n.failure_reason.unwrap().contains("451 4.3.0"));
});

both!(size_is_honoured_before_sending, |store| {
    let sink = sink::start(Behaviour {
        size: Some(500),
        ..Default::default()
    })
    .await;
    setup(&store, sink.port, None, Encryption::None, None).await;
    let (_, mails) = notify(&store, "eva@test.mycompany.com", &["a@customer.example"]).await;
    run_once(&store, &config()).await.unwrap();
    assert!(sink.messages().is_empty());
    let m = mail(&store, mails[0].0).await;
    assert_eq!(m.state, MailState::Exception);
    assert!(m.failure_reason.unwrap().contains("SIZE 500"));
});

both!(
    mass_mail_waits_for_transactional_and_uses_its_server,
    |store| {
        let main = sink::start(Behaviour::default()).await;
        let mass = sink::start(Behaviour::default()).await;
        setup(&store, main.port, None, Encryption::None, None).await;
        let mut tx = store.begin().await.unwrap();
        add_server(
            &mut tx,
            "bulk",
            mass.port,
            Some("news.example"),
            Encryption::None,
            None,
        )
        .await;
        tx.set_param("mass_mailing.mail_server", "bulk")
            .await
            .unwrap();
        let mut ids = Vec::new();
        for stream in [MailStream::Mass, MailStream::Transactional] {
            ids.push(
                tx.insert_mail(&NewMail {
                    stream,
                    rfc_message_id: format!("<{stream}@postern.test>"),
                    email_from: "hello@test.mycompany.com".into(),
                    email_to: vec!["a@customer.example".into()],
                    subject: stream.as_str().into(),
                    body_text: Some("x".into()),
                    headers: serde_json::json!({}),
                    ..Default::default()
                })
                .await
                .unwrap(),
            );
        }
        tx.commit().await.unwrap();
        let mut cfg = config();
        cfg.batch = 1;
        run_once(&store, &cfg).await.unwrap();
        assert_eq!(main.messages().len(), 1, "transactional first");
        assert!(mass.messages().is_empty());
        run_once(&store, &cfg).await.unwrap();
        let m = mass.messages();
        assert_eq!(m.len(), 1, "mass mail through the dedicated server");
        assert_eq!(
            m[0].mail_from, "hello@test.mycompany.com",
            "a forced server keeps the From"
        );
    }
);

both!(starttls_ssl_auth_and_the_connection_test, |store| {
    let auth = Some(("user@test.mycompany.com".to_owned(), "s3cret".to_owned()));
    let tls = sink::start(Behaviour {
        starttls: true,
        auth: auth.clone(),
        ..Default::default()
    })
    .await;
    let ssl = sink::start(Behaviour {
        implicit_tls: true,
        auth: auth.clone(),
        ..Default::default()
    })
    .await;
    let good = Some(("user@test.mycompany.com", "s3cret"));
    let starttls = setup(
        &store,
        tls.port,
        Some("test.mycompany.com"),
        Encryption::Starttls,
        good,
    )
    .await;
    let mut tx = store.begin().await.unwrap();
    let strict = add_server(
        &mut tx,
        "strict",
        tls.port,
        None,
        Encryption::StarttlsStrict,
        good,
    )
    .await;
    let wrong = add_server(
        &mut tx,
        "wrong",
        tls.port,
        None,
        Encryption::Starttls,
        Some(("user@test.mycompany.com", "nope")),
    )
    .await;
    let implicit = add_server(&mut tx, "implicit", ssl.port, None, Encryption::Ssl, good).await;
    let oauth = add_server(&mut tx, "oauth", ssl.port, None, Encryption::Ssl, good).await;
    tx.set_outgoing_server_auth(oauth, "xoauth2").await.unwrap();
    let plain_to_tls = add_server(
        &mut tx,
        "plain-to-465",
        ssl.port,
        None,
        Encryption::None,
        None,
    )
    .await;
    let nothing = add_server(&mut tx, "nothing", 1, None, Encryption::None, None).await;
    let port25 = add_server(&mut tx, "port25", 25, None, Encryption::None, None).await;
    tx.commit().await.unwrap();
    let t = |id| test_connection(&store, id, 3);
    let ok = t(starttls).await;
    assert!(ok.ok, "{ok:?}");
    assert_eq!(ok.test_from, "notifications.test@test.mycompany.com");
    assert!(ok.message.starts_with("Connection Test Successful!"));
    assert!(t(implicit).await.ok);
    assert!(t(oauth).await.ok, "XOAUTH2");
    let e = t(strict).await;
    assert!(!e.ok && e.message.contains("TLS handshake failed"), "{e:?}");
    let e = t(wrong).await;
    assert!(
        !e.ok && e.message.contains("authentication failed: 535"),
        "{e:?}"
    );
    let e = t(plain_to_tls).await;
    assert!(
        !e.ok && (e.message.contains("closed the connection") || e.message.contains("no response")),
        "{e:?}"
    );
    let e = t(nothing).await;
    assert!(
        !e.ok && e.message.contains("could not connect to localhost:1"),
        "{e:?}"
    );
    let w = t(port25).await;
    assert!(w.warnings.iter().any(|w| w.contains("port 25")), "{w:?}");

    // Delivery through STARTTLS + AUTH: the domain server is chosen by its filter.
    let (_, mails) = notify(
        &store,
        "someone@test.mycompany.com",
        &["a@customer.example"],
    )
    .await;
    run_once(&store, &config()).await.unwrap();
    let got = tls.messages();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls && got[0].user.as_deref() == Some("user@test.mycompany.com"));
    assert_eq!(mail(&store, mails[0].0).await.server, Some(starttls));
});

both!(scheduled_mail_waits_for_its_date, |store| {
    let sink = sink::start(Behaviour::default()).await;
    setup(&store, sink.port, None, Encryption::None, None).await;
    let scheduled = now_ms() + 400;
    let mut tx = store.begin().await.unwrap();
    let later = tx
        .insert_mail(&NewMail {
            stream: MailStream::Transactional,
            rfc_message_id: "<later@postern.test>".into(),
            email_from: "hello@test.mycompany.com".into(),
            email_to: vec!["a@customer.example".into()],
            subject: "later".into(),
            body_text: Some("x".into()),
            headers: serde_json::json!({}),
            scheduled_date: Some(scheduled),
            ..Default::default()
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        run_once(&store, &config()).await.unwrap().claimed,
        0,
        "not before its date"
    );
    // Sent by the first run at or after its date (runs every 20 ms until then, at most 10 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let sent_by = loop {
        let sent = run_once(&store, &config()).await.unwrap().sent;
        let finished = now_ms();
        if sent == 1 {
            break finished;
        }
        assert!(std::time::Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // A run that ended before the date cannot have sent it.
    assert!(
        sent_by >= scheduled,
        "sent {} ms early",
        scheduled - sent_by
    );
    assert_eq!(mail(&store, later).await.state, MailState::Sent);
    assert_eq!(sink.messages().len(), 1);
});

both!(two_nodes_share_the_outbox_without_sending_twice, |store| {
    let sink = sink::start(Behaviour::default()).await;
    setup(&store, sink.port, None, Encryption::None, None).await;
    let mut tx = store.begin().await.unwrap();
    for i in 0..300 {
        tx.insert_mail(&NewMail {
            stream: MailStream::Transactional,
            rfc_message_id: format!("<n{i}@postern.test>"),
            email_from: "hello@test.mycompany.com".into(),
            email_to: vec![format!("r{i}@customer.example")],
            subject: "x".into(),
            body_text: Some("x".into()),
            headers: serde_json::json!({}),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let node = |name: &str| {
        let store = store.clone();
        let mut cfg = config();
        cfg.node = name.into();
        cfg.batch = 40;
        async move {
            let mut sent = 0;
            for _ in 0..100 {
                let s = run_once(&store, &cfg).await.unwrap();
                sent += s.sent;
                if s.claimed == 0 {
                    break;
                }
            }
            sent
        }
    };
    let (a, b) = tokio::join!(node("node-a"), node("node-b"));
    assert_eq!(a + b, 300, "a: {a}, b: {b}");
    assert!(a > 0 && b > 0, "both nodes worked: {a} / {b}");
    let got = sink.messages();
    assert_eq!(got.len(), 300, "each mail sent once");
});

/// The TXT record of a key, as a zone file writes it (strings of at most 255 bytes).
fn dkim_zone_record(selector: &str, key: &postern_auth::keys::GeneratedKey) -> String {
    let txt = postern_auth::keys::txt_record(key.algorithm, &key.public_key);
    let line = postern_auth::keys::zone_line(selector, "test.mycompany.com", &txt);
    line.replace(". IN TXT", ". 60 IN TXT")
}

/// Verifies every DKIM signature of `message` with Python's dkimpy, asking `dns` for the keys
/// (dnspython); the verdict of each signature, in order.
fn dkimpy_verdicts(message: &str, dns: std::net::SocketAddr) -> Vec<bool> {
    let script = format!(
        r#"
import sys, dkim, dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["{ip}"]
r.port = {port}
def txt(name, timeout=5):
    answer = r.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
    return b"".join(b"".join(rr.strings) for rr in answer)
message = sys.stdin.buffer.read()
d = dkim.DKIM(message)
n = sum(1 for h in dkim.rfc822_parse(message)[0] if h[0].lower() == b"dkim-signature")
print(" ".join(str(d.verify(idx=i, dnsfunc=txt)) for i in range(n)))
"#,
        ip = dns.ip(),
        port = dns.port()
    );
    let (code, out, err) = postern_testkit::run(
        std::process::Command::new("/usr/bin/python3").args(["-c", &script]),
        Some(message.as_bytes()),
    );
    assert_eq!(code, 0, "dkimpy failed: {err}");
    out.split_whitespace().map(|v| v == "True").collect()
}

both!(
    dkim_signed_mail_verifies_with_mail_auth_and_dkimpy,
    |store| {
        use postern_auth::keys::generate;
        use postern_model::DkimAlgorithm;
        use postern_testkit::dns::{DnsServer, Zone};
        let sink = sink::start(Behaviour::default()).await;
        setup(
            &store,
            sink.port,
            Some("test.mycompany.com,nokey.example"),
            Encryption::None,
            None,
        )
        .await;
        // A rotation: the old RSA key and the new Ed25519 one live at once; both sign.
        let old = generate(DkimAlgorithm::Rsa2048).unwrap();
        let new = generate(DkimAlgorithm::Ed25519).unwrap();
        let mut tx = store.begin().await.unwrap();
        let domain = tx
            .find_alias_domain("test.mycompany.com")
            .await
            .unwrap()
            .unwrap();
        for (selector, key) in [("old", &old), ("new", &new)] {
            let stored = NewDkimKey {
                selector: selector.into(),
                algorithm: key.algorithm,
                private_key: key.private_key.clone(),
                public_key: key.public_key.clone(),
                key_file: None,
            };
            tx.add_dkim_key(domain, &stored).await.unwrap();
        }
        tx.commit().await.unwrap();
        notify(
            &store,
            "\"Eva\" <eva@test.mycompany.com>",
            &["bob@customer.example"],
        )
        .await;
        // From an alias domain without a key: sent unsigned.
        let mut tx = store.begin().await.unwrap();
        let input = AliasDomainInput {
            name: "nokey.example".into(),
            ..Default::default()
        };
        tx.create::<postern_store::AliasDomain>(&input)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        notify(
            &store,
            "\"Eva\" <eva@nokey.example>",
            &["carl@customer.example"],
        )
        .await;
        drain(&store, &config()).await;
        let captured = sink.messages();
        let signed = captured
            .iter()
            .find(|m| m.rcpts == ["bob@customer.example"])
            .unwrap();
        let unsigned = captured
            .iter()
            .find(|m| m.rcpts == ["carl@customer.example"])
            .unwrap();
        assert!(
            !unsigned.data.contains("DKIM-Signature"),
            "{}",
            unsigned.data
        );
        assert!(
            signed.data.starts_with("DKIM-Signature:"),
            "{}",
            signed.data
        );

        let dns = DnsServer::start(&[Zone::new(
            "test.mycompany.com",
            &format!(
                "{}\n{}",
                dkim_zone_record("old", &old),
                dkim_zone_record("new", &new)
            ),
        )]);
        let settings = postern_auth::DnsSettings {
            servers: vec![dns.addr],
            ..Default::default()
        };
        let authenticator = settings.authenticator().unwrap();
        let parsed = mail_auth::AuthenticatedMessage::parse(signed.data.as_bytes()).unwrap();
        let results = authenticator.verify_dkim(&parsed).await;
        let verdicts: Vec<_> = results.iter().map(|r| r.result().clone()).collect();
        assert_eq!(
            verdicts,
            [mail_auth::DkimResult::Pass, mail_auth::DkimResult::Pass],
            "{}",
            signed.data
        );
        assert_eq!(
            dkimpy_verdicts(&signed.data, dns.addr),
            [true, true],
            "{}",
            signed.data
        );
    }
);

/// `openssl ARGS` (installed by scripts/test.sh), which must succeed.
fn openssl(args: &[&str]) {
    let (code, _, err) =
        postern_testkit::run(std::process::Command::new("openssl").args(args), None);
    assert_eq!(code, 0, "openssl {args:?}: {err}");
}

both!(
    dkim_keys_kept_in_files_sign_and_a_lost_file_leaves_only_its_signature_out,
    |store| {
        use postern_testkit::dns::{DnsServer, Zone};
        let sink = sink::start(Behaviour::default()).await;
        setup(&store, sink.port, None, Encryption::None, None).await;
        // As OpenDKIM's opendkim-genkey writes RSA (PKCS#1) and OpenSSL writes Ed25519 (PKCS#8 v1).
        let dir = tempfile::tempdir().unwrap();
        let rsa = dir.path().join("rsa.private");
        let ed = dir.path().join("ed25519.pem");
        openssl(&[
            "genrsa",
            "-traditional",
            "-out",
            rsa.to_str().unwrap(),
            "2048",
        ]);
        openssl(&[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            ed.to_str().unwrap(),
        ]);
        assert!(
            std::fs::read_to_string(&rsa)
                .unwrap()
                .starts_with("-----BEGIN RSA PRIVATE KEY")
        );
        let mut published = Vec::new();
        let mut tx = store.begin().await.unwrap();
        for (selector, file) in [("filersa", &rsa), ("fileed", &ed)] {
            let read = postern_auth::keys::read_key_file(file).unwrap();
            let key = NewDkimKey {
                selector: selector.into(),
                algorithm: read.algorithm,
                private_key: postern_model::Secret::new(String::new()),
                public_key: read.public_key.clone(),
                key_file: Some(file.display().to_string()),
            };
            let (_, change) = tx
                .put_dkim_key_file("test.mycompany.com", &key)
                .await
                .unwrap();
            assert_eq!(change, postern_store::Change::Created);
            let (_, again) = tx
                .put_dkim_key_file("test.mycompany.com", &key)
                .await
                .unwrap();
            assert_eq!(again, postern_store::Change::Unchanged);
            published.push(dkim_zone_record(selector, &read));
        }
        tx.commit().await.unwrap();
        let dns = DnsServer::start(&[Zone::new("test.mycompany.com", &published.join("\n"))]);

        notify(
            &store,
            "\"Eva\" <eva@test.mycompany.com>",
            &["bob@customer.example"],
        )
        .await;
        drain(&store, &config()).await;
        // The Ed25519 file goes away: the next mail is signed with the RSA key alone.
        std::fs::remove_file(&ed).unwrap();
        notify(
            &store,
            "\"Eva\" <eva@test.mycompany.com>",
            &["carl@customer.example"],
        )
        .await;
        drain(&store, &config()).await;
        let captured = sink.messages();
        for (rcpt, signatures) in [("bob@customer.example", 2), ("carl@customer.example", 1)] {
            let mail = captured.iter().find(|m| m.rcpts == [rcpt]).unwrap();
            assert_eq!(
                dkimpy_verdicts(&mail.data, dns.addr),
                vec![true; signatures],
                "{}",
                mail.data
            );
        }
    }
);

/// The private Dovecot's first user (password `secret`), for Postfix's SASL.
fn dovecot_user() -> String {
    let users = std::env::var("POSTERN_TEST_DOVECOT_USERS")
        .expect("POSTERN_TEST_DOVECOT_USERS: the private Dovecot of scripts/test.sh");
    users.split_whitespace().next().unwrap().to_owned()
}

/// A private Postfix that relays only for clients that authenticated (SASL checked by the
/// private Dovecot of scripts/test.sh), offers STARTTLS and AUTH only after it, and hands what
/// it relays to an LMTP `smtp-sink`.
fn submission_postfix(
    sink: &postern_testkit::postfix::SmtpSink,
) -> (postern_testkit::postfix::Postfix, tempfile::TempDir) {
    let auth = std::env::var("POSTERN_TEST_DOVECOT_AUTH")
        .expect("POSTERN_TEST_DOVECOT_AUTH: the private Dovecot of scripts/test.sh");
    let certs = tempfile::Builder::new()
        .prefix("postern-postfix-tls-")
        .tempdir_in("/tmp")
        .unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let (code, _, err) = postern_testkit::run(
        std::process::Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ]),
        None,
    );
    assert_eq!(code, 0, "openssl: {err}");
    let extra = format!(
        "smtpd_tls_security_level = may\n\
         smtpd_tls_cert_file = {cert}\n\
         smtpd_tls_key_file = {key}\n\
         smtpd_tls_auth_only = yes\n\
         smtpd_tls_received_header = yes\n\
         smtpd_sasl_auth_enable = yes\n\
         smtpd_sasl_type = dovecot\n\
         smtpd_sasl_path = {auth}\n\
         smtpd_sasl_authenticated_header = yes\n\
         mynetworks =\n\
         smtpd_relay_restrictions = permit_sasl_authenticated, reject\n\
         default_transport = lmtp:inet:127.0.0.1:{port}\n",
        cert = cert.display(),
        key = key.display(),
        port = sink.port,
    );
    (
        postern_testkit::postfix::Postfix::start_with(sink.port, &extra),
        certs,
    )
}

/// The outbound client against a real Postfix with STARTTLS and SASL (Dovecot's): a mail sent
/// with the right password arrives having come through TLS and AUTH (Postfix says so in its
/// Received header); a wrong password is Postfix's 535 in the mail's failure; without TLS,
/// Postfix offers no AUTH and the client says so rather than sending unauthenticated.
#[tokio::test(flavor = "multi_thread")]
async fn starttls_and_auth_against_postfix_with_dovecot_sasl() {
    let sink = postern_testkit::postfix::SmtpSink::start_lmtp();
    let (postfix, _certs) = tokio::task::block_in_place(|| submission_postfix(&sink));
    let user = dovecot_user();
    let db = TestDb::sqlite().await;
    let store = db.store.clone();
    let good = setup(
        &store,
        postfix.smtp_port,
        None,
        Encryption::Starttls,
        Some((&user, "secret")),
    )
    .await;
    let mut tx = store.begin().await.unwrap();
    let port = postfix.smtp_port;
    let wrong = add_server(
        &mut tx,
        "wrong",
        port,
        None,
        Encryption::Starttls,
        Some((&user, "not-it")),
    )
    .await;
    let clear = add_server(
        &mut tx,
        "clear",
        port,
        None,
        Encryption::None,
        Some((&user, "secret")),
    )
    .await;
    tx.commit().await.unwrap();
    let t = |id| test_connection(&store, id, 10);
    let ok = t(good).await;
    assert!(ok.ok, "{ok:?}\n{}", postfix.log());
    let e = t(wrong).await;
    assert!(!e.ok && e.message.contains("535"), "{e:?}");
    let e = t(clear).await;
    assert!(!e.ok && e.message.contains("no AUTH mechanism"), "{e:?}");

    // A real mail, through the good server alone.
    let mut tx = store.begin().await.unwrap();
    for id in [wrong, clear] {
        tx.delete::<OutgoingServer>(id).await.unwrap();
    }
    tx.commit().await.unwrap();
    let (_, mails) = notify(
        &store,
        "someone@test.mycompany.com",
        &["bob@customer.example"],
    )
    .await;
    drain(&store, &config()).await;
    assert_eq!(mail(&store, mails[0].0).await.state, MailState::Sent);
    let got = postern_testkit::eventually(20, "the mail relayed by Postfix", || async {
        sink.messages().into_iter().next()
    })
    .await;
    let received = got
        .lines()
        .skip_while(|l| !l.starts_with("Received:"))
        .take_while(|l| l.starts_with("Received:") || l.starts_with(['\t', ' ']))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(received.contains("using TLS"), "{received}\n{got}");
    assert!(
        got.contains(&format!("Authenticated sender: {user}")),
        "{got}"
    );
    assert!(got.contains("X-Rcpt-Args: <bob@customer.example>"), "{got}");
    drop(postfix);
    db.finish().await;
}

/// An outgoing server with `auth = "oauth"` (the provider is not asked: the grant is written
/// as Connect writes it, sealed with the same key).
async fn oauth_server(store: &Store, port: u16) -> (OutgoingServerId, postern_oauth::OAuth) {
    let mut tx = store.begin().await.unwrap();
    let id = tx
        .create::<OutgoingServer>(&OutgoingServerInput {
            name: "m365".into(),
            host: "localhost".into(),
            port: Some(port.into()),
            encryption: Some(Encryption::None),
            username: Some("user@test.mycompany.com".into()),
            auth: Some("oauth".into()),
            oauth: Some(postern_model::OAuthSettings {
                provider: postern_model::OAuthProvider::Microsoft,
                client_id: "client".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    tx.commit().await.unwrap();
    let key = postern_oauth::SecretKey::from_bytes(&[7; 32]).unwrap();
    let oauth = postern_oauth::OAuth::new(store.clone(), key, "http://127.0.0.1:8025");
    (id, oauth)
}

/// Connect's result: a grant whose access token is `token`, valid for an hour.
async fn connect_grant(store: &Store, id: OutgoingServerId, token: &str) {
    let key = postern_oauth::SecretKey::from_bytes(&[7; 32]).unwrap();
    let what = |c: &str| format!("outgoing-servers/{}/{c}", id.get());
    let tokens = SealedTokens {
        refresh_token: Some(key.seal("refresh", &what("refresh_token"))),
        access_token: key.seal(token, &what("access_token")),
        expires_at: now_ms() + 3_600_000,
    };
    let mut tx = store.begin().await.unwrap();
    tx.connect_oauth_grant(OAuthServer::Outgoing(id), &tokens)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

both!(oauth_server_mail_waits_for_reconnect_not_failed, |store| {
    let sink = sink::start(Behaviour {
        auth: Some(("user@test.mycompany.com".into(), "access-1".into())),
        ..Default::default()
    })
    .await;
    setup(&store, 1, Some("nowhere.example"), Encryption::None, None).await;
    let (id, oauth) = oauth_server(&store, sink.port).await;
    let mut tx = store.begin().await.unwrap();
    tx.create::<Webhook>(&WebhookInput {
        name: "ops".into(),
        url: "http://127.0.0.1:1/hook".into(),
        events: vec!["outgoing_server.failed".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut cfg = config();
    cfg.oauth = Some(oauth);
    // connected: the mail goes with the grant's access token (XOAUTH2)
    connect_grant(&store, id, "access-1").await;
    let (_, mails) = notify(
        &store,
        "someone@test.mycompany.com",
        &["a@customer.example"],
    )
    .await;
    run_once(&store, &cfg).await.unwrap();
    assert_eq!(mail(&store, mails[0].0).await.state, MailState::Sent);
    assert_eq!(
        sink.messages()[0].user.as_deref(),
        Some("user@test.mycompany.com")
    );
    // Test Connection logs in with the grant's access token too
    let hostname = ("postern.test", Duration::from_secs(3));
    let dns = Default::default();
    let tested = test_server(&store, id, hostname, (&dns, cfg.oauth.as_ref())).await;
    assert!(tested.unwrap().ok, "Test Connection with the access token");

    // the grant failed (as a refused refresh leaves it): the mail waits, not attempted
    let mut tx = store.begin().await.unwrap();
    let reason = "the provider refused the refresh: invalid_grant: grant revoked";
    tx.fail_oauth_grant(OAuthServer::Outgoing(id), reason)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (_, mails) = notify(
        &store,
        "someone@test.mycompany.com",
        &["b@customer.example"],
    )
    .await;
    run_once(&store, &cfg).await.unwrap();
    let waiting = mail(&store, mails[0].0).await;
    assert_eq!(waiting.state, MailState::Outgoing);
    assert_eq!(waiting.attempts, 0, "not an attempt");
    let why = waiting.waiting_reason.unwrap();
    assert!(
        why.starts_with(OAUTH_WAITING) && why.contains("invalid_grant"),
        "{why}"
    );
    let mut tx = store.read().await.unwrap();
    let server = tx.get::<OutgoingServer>(id).await.unwrap();
    assert_eq!(server.oauth_state.as_deref(), Some("failed"));
    let page = PageRequest {
        after: 0,
        limit: 10,
    };
    let hooks = tx.list::<Webhook>(page).await.unwrap();
    let events = tx
        .webhook_deliveries(hooks.items[0].id, page)
        .await
        .unwrap();
    assert_eq!(events.items[0].event_type, "outgoing_server.failed");
    drop(tx);
    let tested = test_server(&store, id, hostname, (&dns, cfg.oauth.as_ref())).await;
    let tested = tested.unwrap();
    assert!(
        !tested.ok && tested.message.contains("invalid_grant"),
        "{tested:?}"
    );
    // still waiting after more batches (and well past the test's retry window)
    run_once(&store, &cfg).await.unwrap();
    assert_eq!(mail(&store, mails[0].0).await.state, MailState::Outgoing);

    // connected again: the mail is due at once, and sent
    connect_grant(&store, id, "access-1").await;
    run_once(&store, &cfg).await.unwrap();
    assert_eq!(mail(&store, mails[0].0).await.state, MailState::Sent);
    assert_eq!(sink.messages().len(), 2);
});
