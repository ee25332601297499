//! The listener against real peers over real sockets on 127.0.0.1, on a real store (SQLite in a
//! temporary directory, alias domain `example.com` with the aliases `sales@` and `support@`):
//! a 20 MiB message from Python's `smtplib`, and a private Postfix instance that relays to the
//! LMTP listener.
//!
//! Postfix runs from its own configuration, queue and log in a temporary directory under /tmp
//! (`postfix -c DIR`); /etc/postfix and a system Postfix, if any, are never touched. It needs the
//! Debian package `postfix` (scripts/test.sh installs it) and root; without it the test fails.
//! Every wait is bounded: external commands run under `timeout`, polls give up after 30 s.

mod support;

use postern_smtp::SmtpConfig;
use postern_store::PageRequest;
use postern_testkit::clients::{python, stdout};
use postern_testkit::postfix::Postfix;
use std::time::{Duration, Instant};
use support::{Server, config};

/// `n` pseudo-random bytes (a fixed LCG): the same on every run, and not compressible.
fn noise(n: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}

/// Base64 (RFC 2045) in lines of 76 characters, each ended by CRLF.
fn base64_lines(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() / 57 * 78 + 80);
    for line in data.chunks(57) {
        for chunk in line.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out.push_str("\r\n");
    }
    out
}

#[tokio::test]
async fn a_20_mb_message_is_stored() {
    let mut server = Server::start(config()).await;
    assert_eq!(config().max_message_size, 25 * 1024 * 1024, "the default");
    // 15 MiB of data: 20 MiB of base64, 20.5 MiB with the line ends.
    let attachment = noise(15 * 1024 * 1024);
    let message = format!(
        "From: Alice <alice@example.org>\r\nTo: sales@example.com\r\nSubject: Big attachment\r\n\
         Message-ID: <big-20mb@example.org>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe figures are attached.\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"figures.bin\"\r\n\
         Content-Disposition: attachment; filename=\"figures.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}--b1--\r\n",
        base64_lines(&attachment)
    );
    assert!(message.len() > 20 * 1024 * 1024, "{}", message.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.eml");
    std::fs::write(&path, &message).unwrap();

    // smtplib announces SIZE= in MAIL FROM; the 250 to DATA comes after the commit.
    let script = r#"
import smtplib, sys
port, path = int(sys.argv[1]), sys.argv[2]
data = open(path, 'rb').read()
s = smtplib.SMTP('127.0.0.1', port, timeout=30)
s.ehlo('client.example.org')
print('size', s.esmtp_features.get('size'))
print('mail', s.mail('alice@example.org', ['SIZE=%d' % len(data)]))
print('rcpt', s.rcpt('sales@example.com'))
print('data', s.data(data))
s.quit()
"#;
    let started = Instant::now();
    let out = python(
        script,
        vec![server.port().to_string(), path.display().to_string()],
        Duration::from_secs(60),
    )
    .await;
    let out = stdout(&out);
    let elapsed = started.elapsed();
    assert!(out.contains("size 26214400"), "{out}");
    assert!(out.contains("mail (250, b'2.1.0"), "{out}");
    assert!(out.contains("rcpt (250, b'2.1.5"), "{out}");
    assert!(
        out.contains("data (250, b'2.0.0 OK ") && out.contains("(routed)"),
        "{out}"
    );
    eprintln!("20 MiB message: 250 after {elapsed:?}");

    // The raw message is stored whole: our two trace headers, then every byte sent.
    let raw = server.raw_messages().await;
    assert_eq!(raw.len(), 1);
    let (info, content) = &raw[0];
    assert_eq!(info.status.as_str(), "processed", "{:?}", info.error);
    assert_eq!(usize::try_from(info.size).unwrap(), content.len());
    assert!(content.starts_with(b"Return-Path: <alice@example.org>\r\nReceived: "));
    assert!(
        content.ends_with(message.as_bytes()),
        "stored {} bytes for a message of {}",
        content.len(),
        message.len()
    );
    assert!(content.len() - message.len() < 1024, "{}", content.len());

    // And the attachment, decoded, on the message of the record.
    let records = postern_testkit::db::records(&server.store).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].name, "Big attachment");
    let mut tx = server.store.read().await.unwrap();
    let thread = tx
        .record_messages(records[0].id, PageRequest::all())
        .await
        .unwrap()
        .items;
    assert_eq!(thread.len(), 1);
    let attachments = &thread[0].attachments;
    assert_eq!(attachments.len(), 1, "{attachments:?}");
    assert_eq!(attachments[0].filename, "figures.bin");
    assert_eq!(
        usize::try_from(attachments[0].size).unwrap(),
        attachment.len()
    );
    let (_, bytes) = tx.attachment_content(attachments[0].id).await.unwrap();
    assert!(bytes == attachment, "the attachment differs");
    drop(tx);
    server.stop().await;
}

#[tokio::test]
async fn postfix_delivers_to_the_lmtp_listener() {
    let mut server = Server::start(SmtpConfig {
        lmtp: true,
        ..config()
    })
    .await;
    let lmtp_port = server.port();
    let postfix = tokio::task::spawn_blocking(move || Postfix::start(lmtp_port))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));

    let script = r#"
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.ehlo('client.example.org')
m = (b"From: Alice <alice@example.org>\r\nTo: sales@example.com, support@example.com\r\n"
     b"Subject: Via Postfix\r\nMessage-ID: <postfix-1@example.org>\r\n\r\nHello\r\n")
print('refused', s.sendmail('alice@example.org', ['sales@example.com', 'support@example.com'], m))
s.quit()
"#;
    let out = python(
        script,
        vec![postfix.smtp_port.to_string()],
        Duration::from_secs(30),
    )
    .await;
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("refused {}"),
        "Postfix did not accept the message: {}{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        postfix.log()
    );

    // Postfix queues it, then delivers it over LMTP: wait until it is stored and Postfix has
    // logged both deliveries as sent.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sent = postfix.log().matches("status=sent").count();
        if server.record_names().await.len() == 2 && sent == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered within 30 s: records {:?}\nPostfix log:\n{}",
            server.record_names().await,
            postfix.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = postfix.log();
    let relay = format!("relay=127.0.0.1[127.0.0.1]:{lmtp_port}");
    for rcpt in ["sales@example.com", "support@example.com"] {
        assert!(
            log.lines().any(|l| l.contains(&format!("to=<{rcpt}>"))
                && l.contains(&relay)
                && l.contains("status=sent (250 2.0.0 OK ")
                && l.contains("(routed)")),
            "{rcpt}: {log}"
        );
    }
    assert_eq!(server.record_names().await, ["Via Postfix", "Via Postfix"]);
    let raw = server.raw_messages().await;
    assert_eq!(raw.len(), 1, "one LMTP transaction for both recipients");
    let (info, content) = &raw[0];
    assert_eq!(info.source, "lmtp");
    assert_eq!(info.envelope_sender.as_deref(), Some("alice@example.org"));
    let content = String::from_utf8_lossy(content);
    assert!(
        content.contains("\tby mx.example.com (Postern) with LMTP id "),
        "{content}"
    );
    assert!(
        content.contains("\tby mta.postern.test (Postfix) with ESMTP id "),
        "{content}"
    );

    tokio::task::spawn_blocking(move || drop(postfix))
        .await
        .unwrap();
    server.stop().await;
}
