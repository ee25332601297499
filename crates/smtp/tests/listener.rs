//! The SMTP and LMTP listener over real sockets on 127.0.0.1, against a real store (SQLite in a
//! temporary directory, alias domain `example.com` with the aliases `sales@` and `support@`).
//!
//! Clients: Python's `smtplib` (inline scripts), `swaks`, and a raw TCP client for the protocol
//! edge cases (pipelining, smuggling, a client that vanishes mid-DATA, LMTP replies). Every
//! wait is bounded: raw reads time out after 10 s, external clients are run under `timeout 30`.

mod support;

use postern_gateway::Gateway;
use postern_smtp::{SmtpConfig, TlsConfig};
use postern_store::{Alias, AliasInput, PageRequest};
use postern_testkit::clients::{self, stdout};
use std::process::Output;
use std::time::Duration;
use support::{Server, WAIT, config, seeded_store};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::timeout;

/// A raw client connected to `server`.
async fn client(server: &Server) -> Client {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    Client::new(Box::new(stream)).await
}

/// Mails in the outbox.
async fn mail_count(server: &Server) -> usize {
    let mut tx = server.store.read().await.unwrap();
    let page = PageRequest::all();
    tx.list_mails(None, page).await.unwrap().items.len()
}

/// The raw messages stored, newest first, with their content as text.
async fn raw_messages(server: &Server) -> Vec<(postern_store::RawMessageInfo, String)> {
    let raw = server.raw_messages().await;
    raw.into_iter()
        .map(|(info, content)| (info, String::from_utf8_lossy(&content).into_owned()))
        .collect()
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A raw SMTP client: sends bytes as given, reads whole replies.
struct Client {
    stream: Box<dyn Io>,
    buf: Vec<u8>,
    greeting: String,
}

impl Client {
    async fn new(stream: Box<dyn Io>) -> Client {
        let mut c = Client {
            stream,
            buf: Vec::new(),
            greeting: String::new(),
        };
        c.greeting = c.replies(1).await.remove(0);
        c
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// Reads `n` replies (a multi-line reply counts once).
    async fn replies(&mut self, n: usize) -> Vec<String> {
        let mut replies = Vec::new();
        let mut current = String::new();
        while replies.len() < n {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line).into_owned();
                let more = line.as_bytes().get(3) == Some(&b'-');
                current.push_str(&line);
                if !more {
                    replies.push(std::mem::take(&mut current));
                }
                continue;
            }
            let mut chunk = [0u8; 4096];
            let read = timeout(WAIT, self.stream.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("no reply in time; so far {replies:?}"))
                .unwrap();
            assert!(read > 0, "connection closed; so far {replies:?}");
            self.buf.extend_from_slice(&chunk[..read]);
        }
        replies
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.replies(1).await.remove(0)
    }

    /// The server closes the connection (after what is already buffered).
    async fn expect_closed(&mut self) {
        let mut chunk = [0u8; 1024];
        loop {
            let read = timeout(WAIT, self.stream.read(&mut chunk))
                .await
                .expect("the server closes the connection in time");
            match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

fn code(reply: &str) -> &str {
    &reply[..reply.len().min(9)]
}

fn message(subject: &str, message_id: &str, to: &str) -> String {
    format!(
        "From: Alice <alice@example.org>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\nHello\r\n"
    )
}

/// Runs a Python script with the port as its argument, bounded in time.
async fn python(script: &str, port: u16) -> Output {
    clients::python(script, vec![port.to_string()], Duration::from_secs(30)).await
}

const PY_PRELUDE: &str = r#"
import smtplib, ssl, sys
port = int(sys.argv[1])
def msg(subject, mid, to="sales@example.com"):
    return ("From: Alice <alice@example.org>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nHello\r\n" % (to, subject, mid)).encode()
"#;

#[tokio::test]
async fn message_to_alias_is_stored_before_250() {
    let mut server = Server::start(config()).await;
    let script = format!(
        "{PY_PRELUDE}
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
s.ehlo('client.example.org')
print('features', sorted(s.esmtp_features))
print('refused', s.sendmail('alice@example.org', ['sales@example.com'], msg('Big deal', 'deal-1@example.org')))
s.quit()
"
    );
    let out = stdout(&python(&script, server.port()).await);
    assert!(out.contains("refused {}"), "{out}");
    for feature in [
        "pipelining",
        "size",
        "8bitmime",
        "smtputf8",
        "enhancedstatuscodes",
        "chunking",
    ] {
        assert!(out.contains(&format!("'{feature}'")), "{feature}: {out}");
    }
    assert!(!out.contains("'starttls'"), "no TLS configured: {out}");
    // sendmail returned: the record is there.
    assert_eq!(server.record_names().await, vec!["Big deal"]);
    let raw = raw_messages(&server).await;
    assert_eq!(raw.len(), 1);
    let (info, content) = &raw[0];
    assert_eq!(info.source, "smtp");
    assert_eq!(info.envelope_sender.as_deref(), Some("alice@example.org"));
    assert!(
        content.starts_with("Return-Path: <alice@example.org>\r\nReceived: from client.example.org ([127.0.0.1])\r\n\tby mx.example.com (Postern) with ESMTP id "),
        "{content}"
    );
    assert!(
        content.contains("\r\n\tfor <sales@example.com>;\r\n\t"),
        "{content}"
    );
    assert!(content.contains(" +0000\r\nFrom: Alice"), "{content}");
    server.stop().await;
}

#[tokio::test]
async fn pipelined_commands_get_their_replies_in_order() {
    let mut server = Server::start(config()).await;
    let mut c = client(&server).await;
    assert!(
        c.greeting.starts_with("220 mx.example.com ESMTP"),
        "{}",
        c.greeting
    );
    let ehlo = c.cmd("EHLO client.example.org").await;
    assert!(ehlo.contains("250-PIPELINING\r\n"), "{ehlo}");
    // One write with the whole envelope, DATA last (RFC 2920).
    c.send(
        b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<sales@example.com>\r\n\
          RCPT TO:<someone@elsewhere.org>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n",
    )
    .await;
    let replies = c.replies(5).await;
    let codes: Vec<&str> = replies.iter().map(|r| code(r)).collect();
    assert_eq!(
        codes,
        [
            "250 2.1.0",
            "250 2.1.5",
            "550 5.7.1",
            "250 2.1.5",
            "354 end d"
        ],
        "{replies:?}"
    );
    // The message, the next transaction and QUIT in one write.
    let mut batch = message("Pipelined", "pipe-1@example.org", "sales@example.com");
    batch.push_str(".\r\nRSET\r\nNOOP\r\nQUIT\r\n");
    c.send(batch.as_bytes()).await;
    let replies = c.replies(4).await;
    let codes: Vec<&str> = replies.iter().map(|r| code(r)).collect();
    assert_eq!(
        codes,
        ["250 2.0.0", "250 2.0.0", "250 2.0.0", "221 2.0.0"],
        "{replies:?}"
    );
    assert!(replies[0].contains("(routed)"), "{replies:?}");
    c.expect_closed().await;
    let mut names = server.record_names().await;
    names.sort();
    assert_eq!(names, ["Pipelined", "Pipelined"], "one record per alias");
    server.stop().await;
}

#[tokio::test]
async fn over_size_is_552_at_mail_and_after_data() {
    let mut server = Server::start(SmtpConfig {
        max_message_size: 1000,
        ..config()
    })
    .await;
    // smtplib announces SIZE=... in MAIL FROM: refused before the data.
    let script = format!(
        "{PY_PRELUDE}
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
try:
    s.sendmail('alice@example.org', ['sales@example.com'], msg('Big', 'big-1@example.org') + b'x' * 5000)
    print('accepted')
except smtplib.SMTPSenderRefused as e:
    print('refused', e.smtp_code, e.smtp_error.decode())
s.quit()
"
    );
    let out = stdout(&python(&script, server.port()).await);
    assert!(out.contains("refused 552 5.3.4"), "{out}");

    // Without SIZE: the data is read to its end, refused, and the session goes on.
    let mut c = client(&server).await;
    c.cmd("EHLO client.example.org").await;
    assert_eq!(
        code(&c.cmd("MAIL FROM:<alice@example.org>").await),
        "250 2.1.0"
    );
    assert_eq!(
        code(&c.cmd("RCPT TO:<sales@example.com>").await),
        "250 2.1.5"
    );
    assert_eq!(code(&c.cmd("DATA").await), "354 end d");
    let mut big = message("Too big", "big-2@example.org", "sales@example.com");
    for _ in 0..100 {
        big.push_str(&"y".repeat(70));
        big.push_str("\r\n");
    }
    big.push_str(".\r\n");
    c.send(big.as_bytes()).await;
    let reply = c.replies(1).await.remove(0);
    assert_eq!(code(&reply), "552 5.3.4", "{reply}");
    assert_eq!(code(&c.cmd("NOOP").await), "250 2.0.0");
    // A message within the limit still goes through on the same connection.
    c.cmd("MAIL FROM:<alice@example.org>").await;
    c.cmd("RCPT TO:<sales@example.com>").await;
    c.cmd("DATA").await;
    let small = message("Small", "small-1@example.org", "sales@example.com") + ".\r\n";
    c.send(small.as_bytes()).await;
    assert_eq!(code(&c.replies(1).await[0]), "250 2.0.0");
    assert_eq!(server.record_names().await, vec!["Small"]);
    server.stop().await;
}

/// RFC 5321 §4.5.1: `RCPT TO:<Postmaster>` without a domain is accepted, as `postmaster@` the
/// first alias domain, and routed like it (here to an alias named `postmaster`); `RCPT TO:<>`
/// (which smtp-proto reads the same way) is refused.
#[tokio::test]
async fn postmaster_without_a_domain_is_accepted() {
    let mut server = Server::start(config()).await;
    let mut tx = server.store.begin().await.unwrap();
    tx.upsert::<Alias>(&AliasInput {
        alias_name: "postmaster".into(),
        alias_domain: Some("example.com".into()),
        model: "helpdesk.ticket".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut c = client(&server).await;
    c.cmd("EHLO client.example.org").await;
    c.cmd("MAIL FROM:<alice@example.org>").await;
    assert_eq!(code(&c.cmd("RCPT TO:<>").await), "501 5.1.3");
    assert_eq!(code(&c.cmd("RCPT TO:<PostMaster>").await), "250 2.1.5");
    assert_eq!(code(&c.cmd("DATA").await), "354 end d");
    let mail = message("Your server", "pm-1@example.org", "<postmaster>") + ".\r\n";
    c.send(mail.as_bytes()).await;
    let reply = c.replies(1).await.remove(0);
    assert_eq!(code(&reply), "250 2.0.0", "{reply}");
    assert_eq!(server.record_names().await, vec!["Your server"]);
    let raw = raw_messages(&server).await;
    assert!(
        raw[0].1.contains("for <postmaster@example.com>"),
        "{}",
        raw[0].1
    );
    server.stop().await;
}

#[tokio::test]
async fn open_relay_attempt_is_550_at_rcpt() {
    let mut server = Server::start(config()).await;
    let script = format!(
        "{PY_PRELUDE}
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
try:
    s.sendmail('spammer@example.net', ['victim@elsewhere.org'], msg('Spam', 'spam-1@example.net', 'victim@elsewhere.org'))
    print('accepted')
except smtplib.SMTPRecipientsRefused as e:
    for rcpt, (code, text) in e.recipients.items():
        print('refused', rcpt, code, text.decode())
s.quit()
"
    );
    let out = stdout(&python(&script, server.port()).await);
    assert!(
        out.contains("refused victim@elsewhere.org 550 5.7.1 relaying denied"),
        "{out}"
    );
    assert!(server.record_names().await.is_empty());
    assert!(raw_messages(&server).await.is_empty());
    server.stop().await;
}

const PY_SEND_CATCHALL: &str = r#"
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
try:
    s.sendmail('alice@example.org', ['catchall@example.com'], msg('Direct', 'direct-1@example.org', 'catchall@example.com'))
    print('accepted')
except smtplib.SMTPDataError as e:
    print('refused', e.smtp_code, e.smtp_error.decode())
s.quit()
"#;

#[tokio::test]
async fn catchall_direct_write_is_refused_in_session() {
    let mut server = Server::start(config()).await;
    let out = stdout(&python(&format!("{PY_PRELUDE}{PY_SEND_CATCHALL}"), server.port()).await);
    assert!(
        out.contains(
            "refused 550 5.7.1 this address collects replies and cannot be written to directly"
        ),
        "{out}"
    );
    assert_eq!(mail_count(&server).await, 0, "no bounce mail queued");
    assert!(server.record_names().await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn catchall_direct_write_accept_then_bounce_when_switched_off() {
    // `odoo_bounce_mails`: Odoo's behaviour, 250 and a bounce mail in the outbox.
    let mut server = Server::start(SmtpConfig {
        refuse_in_session: false,
        ..config()
    })
    .await;
    let out = stdout(&python(&format!("{PY_PRELUDE}{PY_SEND_CATCHALL}"), server.port()).await);
    assert!(out.contains("accepted"), "{out}");
    assert_eq!(mail_count(&server).await, 1, "the bounce mail is queued");
    server.stop().await;
}

#[tokio::test]
async fn unknown_local_part_is_550_5_1_1_at_rcpt() {
    let mut server = Server::start(config()).await;
    let mut c = client(&server).await;
    c.cmd("EHLO client.example.org").await;
    c.cmd("MAIL FROM:<alice@example.org>").await;
    // The domain is ours, but no alias, catchall, bounce or postmaster rule could take it.
    let reply = c.cmd("RCPT TO:<nobody@example.com>").await;
    assert_eq!(code(&reply), "550 5.1.1", "{reply}");
    // What some rule could accept passes RCPT; the catchall and bounce are judged after DATA.
    for rcpt in [
        "sales@example.com",
        "SALES@Example.Com",
        "catchall@example.com",
        "catchall+a1b2c3@example.com",
        "bounce@example.com",
        "bounce+42-crm.lead-7@example.com",
        "postmaster@example.com",
        "Postmaster",
    ] {
        let reply = c.cmd(&format!("RCPT TO:<{rcpt}>")).await;
        assert_eq!(code(&reply), "250 2.1.5", "{rcpt}: {reply}");
    }
    // Plus addressing: `sales+tag` reaches the alias `sales`; `nobody+tag` is nobody.
    let reply = c.cmd("RCPT TO:<sales+tag@example.com>").await;
    assert_eq!(code(&reply), "250 2.1.5", "{reply}");
    let reply = c.cmd("RCPT TO:<nobody+tag@example.com>").await;
    assert_eq!(code(&reply), "550 5.1.1", "{reply}");
    // Another domain is still relaying.
    let reply = c.cmd("RCPT TO:<nobody@elsewhere.org>").await;
    assert_eq!(code(&reply), "550 5.7.1", "{reply}");
    c.cmd("QUIT").await;
    assert!(raw_messages(&server).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_alias_created_is_accepted_at_rcpt_at_once() {
    let mut server = Server::start(config()).await;
    let mut c = client(&server).await;
    c.cmd("EHLO client.example.org").await;
    c.cmd("MAIL FROM:<alice@example.org>").await;
    assert_eq!(
        code(&c.cmd("RCPT TO:<jobs@example.com>").await),
        "550 5.1.1"
    );
    let mut tx = server.store.begin().await.unwrap();
    tx.upsert::<Alias>(&AliasInput {
        alias_name: "jobs".into(),
        alias_domain: Some("example.com".into()),
        model: "hr.applicant".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // A refusal is never cached: the new alias passes at once.
    assert_eq!(
        code(&c.cmd("RCPT TO:<jobs@example.com>").await),
        "250 2.1.5"
    );
    c.cmd("QUIT").await;
    server.stop().await;
}

#[tokio::test]
async fn unknown_local_part_is_550_5_1_1_after_data_with_domain_check() {
    // `recipient_check = "domain"`: Odoo's behaviour, every address of the domain passes RCPT
    // and the gateway finds no route for the message after DATA.
    let mut server = Server::start(SmtpConfig {
        recipient_check: postern_gateway::RecipientCheck::Domain,
        ..config()
    })
    .await;
    let mut c = client(&server).await;
    c.cmd("EHLO client.example.org").await;
    c.cmd("MAIL FROM:<alice@example.org>").await;
    assert_eq!(
        code(&c.cmd("RCPT TO:<nobody@example.com>").await),
        "250 2.1.5"
    );
    c.cmd("DATA").await;
    let m = message("Lost", "lost-1@example.org", "nobody@example.com") + ".\r\n";
    c.send(m.as_bytes()).await;
    let reply = c.replies(1).await.remove(0);
    assert_eq!(code(&reply), "550 5.1.1", "{reply}");
    assert_eq!(mail_count(&server).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn duplicate_is_acknowledged_and_stored_once() {
    let mut server = Server::start(config()).await;
    let script = format!(
        "{PY_PRELUDE}
for i in range(2):
    s = smtplib.SMTP('127.0.0.1', port, timeout=10)
    s.ehlo('client.example.org')
    s.mail('alice@example.org')
    s.rcpt('sales@example.com')
    print('reply', s.data(msg('Twice', 'twice-1@example.org')))
    s.quit()
"
    );
    let out = stdout(&python(&script, server.port()).await);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("reply")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("(250,") && lines[0].contains("(routed)"),
        "{out}"
    );
    assert!(
        lines[1].contains("(250,") && lines[1].contains("(duplicate)"),
        "{out}"
    );
    assert_eq!(server.record_names().await, vec!["Twice"]);
    server.stop().await;
}

#[tokio::test]
async fn smuggled_end_of_data_does_not_end_the_message() {
    let mut server = Server::start(config()).await;
    for (i, fake_end) in ["\n.\r\n", "\r.\r\n", "\r\n.\n", "\n.\n"]
        .iter()
        .enumerate()
    {
        let mut c = client(&server).await;
        c.cmd("EHLO client.example.org").await;
        c.cmd("MAIL FROM:<alice@example.org>").await;
        c.cmd("RCPT TO:<sales@example.com>").await;
        assert_eq!(code(&c.cmd("DATA").await), "354 end d");
        let data = format!(
            "From: alice@example.org\r\nTo: sales@example.com\r\nSubject: Carrier {i}\r\n\
             Message-ID: <carrier-{i}@example.org>\r\n\r\nhello{fake_end}\
             MAIL FROM:<evil@example.net>\r\nRCPT TO:<sales@example.com>\r\nDATA\r\n\
             From: evil@example.net\r\nSubject: Smuggled {i}\r\nMessage-ID: <smuggled-{i}@example.net>\r\n\r\n\
             x\r\n.\r\n"
        );
        c.send(data.as_bytes()).await;
        c.send(b"QUIT\r\n").await;
        let replies = c.replies(2).await;
        assert_eq!(code(&replies[0]), "250 2.0.0", "{fake_end:?}: {replies:?}");
        assert_eq!(code(&replies[1]), "221 2.0.0", "{fake_end:?}: {replies:?}");
        c.expect_closed().await;
    }
    let names = server.record_names().await;
    assert_eq!(names, ["Carrier 0", "Carrier 1", "Carrier 2", "Carrier 3"]);
    let raw = raw_messages(&server).await;
    assert_eq!(raw.len(), 4);
    for (_, content) in &raw {
        assert!(
            content.contains("MAIL FROM:<evil@example.net>"),
            "{content}"
        );
    }
    server.stop().await;
}

/// Regression (fuzz target `smtp_data`, crash-f60c2ba7): smtp-proto ends DATA at CRLF `.` CR
/// CRLF (any number of CRs) too. Such an end is refused and the session closed, so that what
/// follows is never read as a second, smuggled transaction; nothing is stored.
#[tokio::test]
async fn end_of_data_with_a_bare_cr_is_refused_and_closes() {
    let mut server = Server::start(config()).await;
    for (i, fake_end) in ["\r\n.\r\r\n", "\r\n.\r\r\r\n"].iter().enumerate() {
        let mut c = client(&server).await;
        c.cmd("EHLO client.example.org").await;
        c.cmd("MAIL FROM:<alice@example.org>").await;
        c.cmd("RCPT TO:<sales@example.com>").await;
        assert_eq!(code(&c.cmd("DATA").await), "354 end d");
        let data = format!(
            "From: alice@example.org\r\nTo: sales@example.com\r\nSubject: Carrier {i}\r\n\
             Message-ID: <cr-carrier-{i}@example.org>\r\n\r\nhello{fake_end}\
             MAIL FROM:<evil@example.net>\r\nRCPT TO:<sales@example.com>\r\nDATA\r\n\
             From: evil@example.net\r\nSubject: Smuggled {i}\r\n\r\nx\r\n.\r\n"
        );
        c.send(data.as_bytes()).await;
        let replies = c.replies(1).await;
        assert_eq!(code(&replies[0]), "554 5.5.2", "{fake_end:?}: {replies:?}");
        c.expect_closed().await;
    }
    assert!(server.record_names().await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn client_gone_mid_data_stores_nothing() {
    let mut server = Server::start(config()).await;
    let mut c = client(&server).await;
    c.cmd("EHLO client.example.org").await;
    c.cmd("MAIL FROM:<alice@example.org>").await;
    c.cmd("RCPT TO:<sales@example.com>").await;
    c.cmd("DATA").await;
    c.send(b"From: alice@example.org\r\nSubject: Half\r\nMessage-ID: <half@example.org>\r\n\r\nthe first half\r\n")
        .await;
    drop(c);
    // The session has ended once the listener can stop (it waits for every session).
    server.stop().await;
    assert!(server.record_names().await.is_empty());
    assert!(raw_messages(&server).await.is_empty());
}

#[tokio::test]
async fn too_many_recipients_is_452() {
    let mut server = Server::start(SmtpConfig {
        max_recipients: 3,
        ..config()
    })
    .await;
    let mut c = client(&server).await;
    c.cmd("EHLO client.example.org").await;
    c.send(
        b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<sales@example.com>\r\nRCPT TO:<support@example.com>\r\n\
          RCPT TO:<sales@example.com>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n",
    )
    .await;
    let replies = c.replies(6).await;
    let codes: Vec<&str> = replies.iter().map(|r| code(r)).collect();
    assert_eq!(
        codes,
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.1.5",
            "250 2.1.5",
            "452 4.5.3",
            "354 end d"
        ],
        "{replies:?}"
    );
    let m = message(
        "Many",
        "many-1@example.org",
        "sales@example.com, support@example.com",
    );
    c.send(format!("{m}.\r\n").as_bytes()).await;
    assert_eq!(code(&c.replies(1).await[0]), "250 2.0.0");
    server.stop().await;
}

/// The LMTP exchange of one message to two recipients: two replies after the data.
async fn lmtp_exchange(c: &mut Client) {
    assert!(
        c.greeting.starts_with("220 mx.example.com LMTP"),
        "{}",
        c.greeting
    );
    assert_eq!(code(&c.cmd("EHLO client.example.org").await), "500 5.5.1");
    let lhlo = c.cmd("LHLO mta.example.org").await;
    assert!(lhlo.contains("250-PIPELINING"), "{lhlo}");
    c.send(
        b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<sales@example.com>\r\n\
          RCPT TO:<support@example.com>\r\nRCPT TO:<x@elsewhere.org>\r\n\
          RCPT TO:<nobody@example.com>\r\nDATA\r\n",
    )
    .await;
    let codes: Vec<String> = c
        .replies(6)
        .await
        .iter()
        .map(|r| code(r).to_owned())
        .collect();
    assert_eq!(
        codes,
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.1.5",
            "550 5.7.1",
            "550 5.1.1",
            "354 end d"
        ]
    );
    let m = message(
        "Both",
        "both-1@example.org",
        "sales@example.com, support@example.com",
    );
    c.send(format!("{m}.\r\n").as_bytes()).await;
    let replies = c.replies(2).await;
    assert!(
        replies.iter().all(|r| r.starts_with("250 2.0.0")),
        "{replies:?}"
    );
    assert_eq!(code(&c.cmd("QUIT").await), "221 2.0.0");
}

#[tokio::test]
async fn lmtp_gives_one_reply_per_recipient() {
    let mut server = Server::start(SmtpConfig {
        lmtp: true,
        ..config()
    })
    .await;
    let mut c = client(&server).await;
    lmtp_exchange(&mut c).await;
    let mut names = server.record_names().await;
    names.sort();
    assert_eq!(names, ["Both", "Both"]);
    let raw = raw_messages(&server).await;
    assert_eq!(raw.len(), 1, "the message is given to the gateway once");
    assert_eq!(raw[0].0.source, "lmtp");
    assert!(raw[0].1.contains(" with LMTP id "), "{}", raw[0].1);
    assert!(!raw[0].1.contains("\tfor <"), "two recipients: no `for`");
    server.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn lmtp_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded_store().await;
    let gateway = Gateway::new(db.store.clone(), "mx.example.com");
    let path = dir.path().join("lmtp.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = SmtpConfig {
        lmtp: true,
        ..config()
    };
    let task = tokio::spawn(postern_smtp::run_unix(
        listener,
        config,
        gateway,
        async move {
            let _ = stopped.await;
        },
    ));
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut c = Client::new(Box::new(stream)).await;
    lmtp_exchange(&mut c).await;
    let _ = stop.send(());
    timeout(WAIT, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn starttls_with_python_smtplib() {
    let mut server = Server::start(SmtpConfig {
        tls: Some(TlsConfig::SelfSigned),
        ..config()
    })
    .await;
    let script = format!(
        "{PY_PRELUDE}
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
s.ehlo('client.example.org')
print('offered', s.has_extn('starttls'))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
print('starttls', s.starttls(context=ctx))
s.ehlo('client.example.org')
print('offered again', s.has_extn('starttls'))
print('refused', s.sendmail('alice@example.org', ['sales@example.com'], msg('Secret', 'tls-1@example.org')))
s.quit()
"
    );
    let out = stdout(&python(&script, server.port()).await);
    assert!(out.contains("offered True"), "{out}");
    assert!(out.contains("starttls (220"), "{out}");
    assert!(out.contains("offered again False"), "{out}");
    assert!(out.contains("refused {}"), "{out}");
    assert_eq!(server.record_names().await, vec!["Secret"]);
    let raw = raw_messages(&server).await;
    assert!(raw[0].1.contains(" with ESMTPS id "), "{}", raw[0].1);
    server.stop().await;
}

#[tokio::test]
async fn starttls_drops_commands_sent_before_the_handshake() {
    let mut server = Server::start(SmtpConfig {
        tls: Some(TlsConfig::SelfSigned),
        ..config()
    })
    .await;
    // Command injection (RFC 3207 §5): a NOOP written with STARTTLS, in clear, must not be
    // answered inside the TLS session; the first reply over TLS is the one to QUIT.
    let script = r#"
import socket, ssl, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
f = s.makefile('rb')
f.readline()
s.sendall(b'EHLO client.example.org\r\n')
while f.readline()[3:4] != b' ':
    pass
s.sendall(b'STARTTLS\r\nNOOP\r\n')
print('starttls', f.readline())
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(s, server_hostname='localhost')
t.sendall(b'QUIT\r\n')
print('first reply over TLS', t.makefile('rb').readline())
"#;
    let out = stdout(&python(script, server.port()).await);
    assert!(out.contains("starttls b'220 2.0.0 "), "{out}");
    assert!(out.contains("first reply over TLS b'221 2.0.0 "), "{out}");
    server.stop().await;
}

#[tokio::test]
async fn swaks_delivers_to_the_alias() {
    let mut server = Server::start(config()).await;
    let port = server.port();
    let out = tokio::task::spawn_blocking(move || {
        clients::swaks_with(&[
            "--to",
            "sales@example.com",
            "--from",
            "bob@example.org",
            "--server",
            &format!("127.0.0.1:{port}"),
            "--header",
            "Subject: Via swaks",
            "--timeout",
            "10",
        ])
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("<-  250 2.0.0 OK"), "{text}");
    assert_eq!(server.record_names().await, vec!["Via swaks"]);
    server.stop().await;
}

#[tokio::test]
async fn chunking_with_bdat() {
    let mut server = Server::start(config()).await;
    let mut c = client(&server).await;
    c.cmd("EHLO client.example.org").await;
    let m = message("Chunked", "chunk-1@example.org", "sales@example.com");
    let (first, second) = m.split_at(40);
    let mut batch = format!(
        "MAIL FROM:<alice@example.org>\r\nRCPT TO:<sales@example.com>\r\nBDAT {}\r\n{first}",
        first.len()
    );
    batch.push_str(&format!("BDAT {} LAST\r\n{second}", second.len()));
    c.send(batch.as_bytes()).await;
    let replies = c.replies(4).await;
    let codes: Vec<&str> = replies.iter().map(|r| code(r)).collect();
    assert_eq!(
        codes,
        ["250 2.1.0", "250 2.1.5", "250 2.0.0", "250 2.0.0"],
        "{replies:?}"
    );
    assert!(replies[3].contains("(routed)"), "{replies:?}");
    // BDAT without a transaction: the chunk is read and thrown away, the session goes on.
    c.send(b"BDAT 5 LAST\r\nhello").await;
    assert_eq!(code(&c.replies(1).await[0]), "503 5.5.1");
    assert_eq!(code(&c.cmd("NOOP").await), "250 2.0.0");
    assert_eq!(server.record_names().await, vec!["Chunked"]);
    server.stop().await;
}

/// Chunks larger than what a session keeps in memory go through the spool file and come back
/// whole, in order; the spool directory is left empty.
#[tokio::test]
async fn large_bdat_chunks_are_spooled_and_stored_whole() {
    let spool = tempfile::tempdir().unwrap();
    let mut server = Server::start(SmtpConfig {
        spool_dir: Some(spool.path().to_owned()),
        ..config()
    })
    .await;
    let mut c = client(&server).await;
    c.cmd("EHLO client.example.org").await;
    let mut m = message(
        "Large chunks",
        "chunks-big@example.org",
        "sales@example.com",
    );
    for i in 0..12_000 {
        m.push_str(&format!(
            "line {i:05} of a long body, in chunks larger than the spill\r\n"
        ));
    }
    assert!(m.len() > 700 * 1024, "{}", m.len());
    let (first, rest) = m.split_at(300 * 1024 + 7);
    let (second, third) = rest.split_at(300 * 1024 + 11);
    let mut batch = "MAIL FROM:<alice@example.org>\r\nRCPT TO:<sales@example.com>\r\n".to_owned();
    batch.push_str(&format!("BDAT {}\r\n{first}", first.len()));
    batch.push_str(&format!("BDAT {}\r\n{second}", second.len()));
    batch.push_str(&format!("BDAT {} LAST\r\n{third}", third.len()));
    c.send(batch.as_bytes()).await;
    let replies = c.replies(5).await;
    let codes: Vec<&str> = replies.iter().map(|r| code(r)).collect();
    assert_eq!(
        codes,
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "250 2.0.0",
            "250 2.0.0"
        ],
        "{replies:?}"
    );
    assert!(replies[4].contains("(routed)"), "{replies:?}");
    let raw = raw_messages(&server).await;
    assert_eq!(raw.len(), 1);
    assert!(
        raw[0].1.ends_with(&m),
        "the stored message is what was sent"
    );
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn protocol_errors_are_replies_and_too_many_close() {
    let mut server = Server::start(config()).await;
    let mut c = client(&server).await;
    assert_eq!(
        code(&c.cmd("MAIL FROM:<alice@example.org>").await),
        "503 5.5.1"
    );
    c.cmd("EHLO client.example.org").await;
    assert_eq!(
        code(&c.cmd("RCPT TO:<sales@example.com>").await),
        "503 5.5.1"
    );
    assert_eq!(code(&c.cmd("DATA").await), "503 5.5.1");
    assert_eq!(code(&c.cmd("MAIL FROM:alice").await), "501 5.5.2");
    assert_eq!(code(&c.cmd("LHLO x").await), "500 5.5.1");
    // A line over 4096 octets, in one write and spread over several.
    let long = format!("NOOP {}\r\n", "a".repeat(5000));
    assert_eq!(code(&c.cmd(long.trim_end()).await), "500 5.5.2");
    c.send(&long.as_bytes()[..3000]).await;
    c.send(&long.as_bytes()[3000..]).await;
    assert_eq!(code(&c.replies(1).await[0]), "500 5.5.2");
    assert_eq!(
        code(&c.cmd("NOOP").await),
        "250 2.0.0",
        "the session goes on"
    );
    assert_eq!(code(&c.cmd("\u{1}\u{2}garbage").await), "500 5.5.1");
    assert_eq!(
        code(&c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==").await),
        "502 5.5.1"
    );
    // That was the 9th bad command; the 10th closes the session.
    c.send(b"FOO\r\n").await;
    let replies = c.replies(2).await;
    assert_eq!(code(&replies[0]), "500 5.5.1");
    assert_eq!(code(&replies[1]), "421 4.7.0");
    c.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_get_421() {
    let mut server = Server::start(SmtpConfig {
        max_connections: 1,
        ..config()
    })
    .await;
    let mut first = client(&server).await;
    let mut second = client(&server).await;
    assert!(
        second.greeting.starts_with("421 4.3.2 "),
        "{}",
        second.greeting
    );
    second.expect_closed().await;
    assert_eq!(code(&first.cmd("QUIT").await), "221 2.0.0");
    first.expect_closed().await;
    // The slot is free again once the first session has ended.
    let mut tries = 0;
    loop {
        let mut third = client(&server).await;
        if third.greeting.starts_with("220 ") {
            third.cmd("QUIT").await;
            break;
        }
        tries += 1;
        assert!(tries < 50, "the slot is never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn idle_client_times_out_with_421() {
    let mut server = Server::start(SmtpConfig {
        command_timeout: Duration::from_millis(300),
        ..config()
    })
    .await;
    let mut c = client(&server).await;
    let reply = c.replies(1).await.remove(0);
    assert_eq!(code(&reply), "421 4.4.2", "{reply}");
    c.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_the_message_in_flight() {
    let mut server = Server::start(config()).await;
    let mut idle = client(&server).await;
    idle.cmd("EHLO idle.example.org").await;
    let mut busy = client(&server).await;
    busy.cmd("EHLO busy.example.org").await;
    busy.cmd("MAIL FROM:<alice@example.org>").await;
    busy.cmd("RCPT TO:<sales@example.com>").await;
    busy.cmd("DATA").await;
    let m = message("In flight", "flight-1@example.org", "sales@example.com");
    busy.send(m.as_bytes()).await;

    let _ = server.stop.take().unwrap().send(());
    let reply = idle.replies(1).await.remove(0);
    assert_eq!(code(&reply), "421 4.3.2", "{reply}");
    idle.expect_closed().await;
    // New connections are no longer accepted (the listener closes at once; 5 s at most).
    postern_testkit::eventually(5, "no longer accepting", || async {
        TcpStream::connect(server.addr).await.is_err().then_some(())
    })
    .await;

    busy.send(b".\r\n").await;
    let reply = busy.replies(1).await.remove(0);
    assert_eq!(code(&reply), "250 2.0.0", "{reply}");
    let reply = busy.replies(1).await.remove(0);
    assert_eq!(code(&reply), "421 4.3.2", "{reply}");
    busy.expect_closed().await;
    server.stop().await;
    assert_eq!(server.record_names().await, vec!["In flight"]);
}

#[tokio::test]
async fn smtputf8_and_8bit_messages() {
    let mut server = Server::start(config()).await;
    let mut c = client(&server).await;
    c.cmd("EHLO client.example.org").await;
    // A UTF-8 address needs the SMTPUTF8 parameter (RFC 6531).
    assert_eq!(
        code(&c.cmd("MAIL FROM:<élodie@exemple.org>").await),
        "553 5.6.7"
    );
    assert_eq!(
        code(
            &c.cmd("MAIL FROM:<élodie@exemple.org> SMTPUTF8 BODY=8BITMIME")
                .await
        ),
        "250 2.1.0"
    );
    assert_eq!(
        code(&c.cmd("RCPT TO:<sales@example.com>").await),
        "250 2.1.5"
    );
    c.cmd("DATA").await;
    let m = "From: Élodie <élodie@exemple.org>\r\nTo: sales@example.com\r\nSubject: Déjà vu\r\n\
             Message-ID: <utf8-1@exemple.org>\r\n\r\nÇa marche.\r\n.\r\n";
    c.send(m.as_bytes()).await;
    let reply = c.replies(1).await.remove(0);
    assert_eq!(code(&reply), "250 2.0.0", "{reply}");
    assert_eq!(server.record_names().await, vec!["Déjà vu"]);
    let raw = raw_messages(&server).await;
    assert!(
        raw[0]
            .1
            .starts_with("Return-Path: <élodie@exemple.org>\r\n"),
        "{}",
        raw[0].1
    );
    assert!(raw[0].1.contains(" with UTF8SMTP id "), "{}", raw[0].1);
    server.stop().await;
}

#[tokio::test]
async fn garbage_never_stops_the_listener() {
    let mut server = Server::start(config()).await;
    // Pseudo-random bytes (a fixed LCG) with line ends here and there, in several writes.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut garbage = Vec::with_capacity(64 * 1024);
    for i in 0..64 * 1024 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let byte = (state >> 33) as u8;
        garbage.push(if i % 97 == 96 { b'\n' } else { byte });
    }
    let mut c = client(&server).await;
    for chunk in garbage.chunks(4000) {
        if c.stream.write_all(chunk).await.is_err() {
            break;
        }
    }
    // The session ends (too many errors) and the listener still serves others.
    c.expect_closed().await;
    let mut other = client(&server).await;
    assert_eq!(
        code(&other.cmd("EHLO client.example.org").await),
        "250-mx.ex"
    );
    assert_eq!(code(&other.cmd("QUIT").await), "221 2.0.0");
    server.stop().await;
}

#[tokio::test]
async fn starttls_with_a_pem_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = rcgen::generate_simple_self_signed(vec!["pem.example.com".to_owned()]).unwrap();
    std::fs::write(&cert, pem("CERTIFICATE", made.cert.der())).unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", &made.signing_key.serialize_der())).unwrap();
    let mut server = Server::start(SmtpConfig {
        tls: Some(TlsConfig::Pem {
            certificate: cert,
            private_key: key,
        }),
        ..config()
    })
    .await;
    let script = format!(
        "{PY_PRELUDE}
s = smtplib.SMTP('127.0.0.1', port, timeout=10)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
der = s.sock.getpeercert(binary_form=True)
print('subject has name', b'pem.example.com' in der)
s.quit()
"
    );
    let out = stdout(&python(&script, server.port()).await);
    assert!(out.contains("subject has name True"), "{out}");
    server.stop().await;
}

#[tokio::test]
async fn bad_settings_fail_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded_store().await;
    let gateway = Gateway::new(db.store.clone(), "mx.example.com");
    let missing = SmtpConfig {
        tls: Some(TlsConfig::Pem {
            certificate: dir.path().join("missing.pem"),
            private_key: dir.path().join("missing.key"),
        }),
        ..config()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = postern_smtp::run(
        listener,
        missing,
        gateway.clone(),
        std::future::pending::<()>(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, postern_smtp::SmtpError::Tls(ref m) if m.contains("missing.pem")),
        "{err}"
    );
    let zero = SmtpConfig {
        max_connections: 0,
        max_recipients: 0,
        ..config()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = postern_smtp::run(listener, zero, gateway, std::future::pending::<()>())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("max_connections") && text.contains("max_recipients"),
        "{text}"
    );
}

/// PEM armour (RFC 7468) around DER bytes.
fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
