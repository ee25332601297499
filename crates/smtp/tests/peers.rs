//! The listener against real peers over real sockets on 127.0.0.1, on a real store (SQLite in a
//! temporary directory, alias domain `example.com` with the aliases `sales@` and `support@`):
//! a 20 MiB message from Python's `smtplib`, and a private Postfix instance that relays to the
//! LMTP listener.
//!
//! Postfix runs from its own configuration, queue and log in a temporary directory under /tmp
//! (`postfix -c DIR`); /etc/postfix and a system Postfix, if any, are never touched. It needs the
//! Debian package `postfix` (scripts/test.sh installs it) and root; without it the test fails.
//! Every wait is bounded: external commands run under `timeout`, polls give up after 30 s.

use postern_gateway::Gateway;
use postern_smtp::SmtpConfig;
use postern_store::{AliasDomainInput, AliasInput, PageRequest, RecordFilter, Store};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// A listener on a fresh store, stopped (gracefully) by `stop`.
struct Server {
    addr: SocketAddr,
    store: Store,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), postern_smtp::SmtpError>>>,
    dir: tempfile::TempDir,
}

async fn seeded_store(dir: &Path) -> Store {
    let url = format!("sqlite://{}", dir.join("postern.db").display());
    let store = Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.upsert_alias_domain(&AliasDomainInput {
        name: "example.com".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    for (name, model) in [("sales", "crm.lead"), ("support", "helpdesk.ticket")] {
        tx.upsert_alias(&AliasInput {
            alias_name: name.into(),
            alias_domain: Some("example.com".into()),
            model: model.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    store
}

/// Settings for tests: the defaults (25 MiB limit), without STARTTLS.
fn config() -> SmtpConfig {
    SmtpConfig {
        hostname: "mx.example.com".into(),
        tls: None,
        ..Default::default()
    }
}

impl Server {
    async fn start(config: SmtpConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = seeded_store(dir.path()).await;
        let gateway = Gateway::new(store.clone(), "mx.example.com");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(postern_smtp::run(listener, config, gateway, async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            store,
            stop: Some(stop),
            task: Some(task),
            dir,
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops the listener and waits until every session has ended.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            timeout(WAIT, task)
                .await
                .expect("run returns after shutdown")
                .unwrap()
                .unwrap();
        }
    }

    async fn records(&self) -> Vec<postern_store::Record> {
        let mut tx = self.store.read().await.unwrap();
        tx.list_records(&RecordFilter::default(), PageRequest::all())
            .await
            .unwrap()
            .items
    }

    async fn record_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.records().await.into_iter().map(|r| r.name).collect();
        names.sort();
        names
    }

    /// The raw messages stored, newest first, with their bytes.
    async fn raw_messages(&self) -> Vec<(postern_store::RawMessageInfo, Vec<u8>)> {
        let mut tx = self.store.read().await.unwrap();
        let infos = tx
            .list_raw_messages(None, PageRequest::all())
            .await
            .unwrap()
            .items;
        let mut out = Vec::new();
        for info in infos {
            let content = tx.raw_message_content(info.id).await.unwrap();
            out.push((info, content));
        }
        out
    }
}

/// Runs a Python script with `args`, killed after `limit`.
async fn python(script: &str, args: Vec<String>, limit: Duration) -> Output {
    let script = script.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .arg(limit.as_secs().to_string())
            .args(["python3", "-c", &script])
            .args(args)
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "python failed ({}): {out}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

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
    let path = server.dir.path().join("big.eml");
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
    assert_eq!(info.status, "processed", "{:?}", info.error);
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
    let records = server.records().await;
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

const POSTFIX: &str = "/usr/sbin/postfix";

/// A private Postfix instance: configuration in `DIR/etc`, queue in `DIR/queue`, data in
/// `DIR/data`, log in `DIR/postfix.log`. Stopped when dropped (also when a test panics).
struct Postfix {
    dir: tempfile::TempDir,
    smtp_port: u16,
    running: bool,
}

/// Debian's default services (master.cf.dist), none chrooted (the chroot would need copies of
/// /etc files in the queue directory), and no pipe services for users this machine lacks.
const MASTER_CF_SERVICES: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mkdir(path: &Path) {
    std::fs::create_dir(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Postfix {
    /// Configures and starts an instance that accepts mail for `example.com` by SMTP on a free
    /// port of 127.0.0.1 and delivers it by LMTP to 127.0.0.1:`lmtp_port`. Blocking.
    fn start(lmtp_port: u16) -> Postfix {
        assert!(
            Path::new(POSTFIX).exists(),
            "Postfix is not installed ({POSTFIX} is missing): run scripts/test.sh, which installs \
             the Debian package postfix (without a system configuration), then run this test again"
        );
        // Under /tmp, not $TMPDIR: the postfix user must reach the queue, and the sockets'
        // paths must stay short.
        let dir = tempfile::Builder::new()
            .prefix("postern-postfix-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // The configuration and queue directories belong to root; `postfix check` makes the
        // queue's subdirectories and the data directory, owned by the postfix user.
        mkdir(&dir.path().join("etc"));
        mkdir(&dir.path().join("queue"));
        let mut postfix = Postfix {
            dir,
            smtp_port: 0,
            running: false,
        };
        // A free port can be taken by someone else before the master binds it: try a few.
        let mut failures = Vec::new();
        for _ in 0..3 {
            postfix.smtp_port = free_port();
            postfix.write_config(lmtp_port);
            let check = postfix.command("check");
            assert!(
                check.status.success(),
                "postfix check failed (Postfix runs as root): {}{}\nlog:\n{}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr),
                postfix.log()
            );
            // From here on, stop it in any case (`master -w` reports a failed start, but
            // stopping an instance that is not running is harmless).
            postfix.running = true;
            let start = postfix.command("start");
            if start.status.success() {
                return postfix;
            }
            postfix.running = false;
            failures.push(format!(
                "port {}: {}{}",
                postfix.smtp_port,
                String::from_utf8_lossy(&start.stdout),
                String::from_utf8_lossy(&start.stderr)
            ));
        }
        panic!(
            "postfix start failed: {failures:?}\nlog:\n{}",
            postfix.log()
        );
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    fn write_config(&self, lmtp_port: u16) {
        let root = self.dir.path().display();
        let main_cf = format!(
            "compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.postern.test
mydomain = postern.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
virtual_mailbox_domains = example.com
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
smtpd_relay_restrictions = permit_mynetworks, reject
mynetworks = 127.0.0.0/8
smtpd_tls_security_level = none
smtp_tls_security_level = none
lmtp_tls_security_level = none
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
"
        );
        let master_cf = format!(
            "127.0.0.1:{} inet n - n - - smtpd\n{MASTER_CF_SERVICES}",
            self.smtp_port
        );
        std::fs::write(self.config_dir().join("main.cf"), main_cf).unwrap();
        std::fs::write(self.config_dir().join("master.cf"), master_cf).unwrap();
    }

    /// `postfix -c DIR <what>`, killed after 60 s.
    fn command(&self, what: &str) -> Output {
        Command::new("timeout")
            .arg("60")
            .arg(POSTFIX)
            .arg("-c")
            .arg(self.config_dir())
            .arg(what)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {POSTFIX}: {e}"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postfix.log")).unwrap_or_default()
    }

    /// `postfix -c DIR stop`: waits for the master to end (and kills it after 5 s).
    fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            let stop = self.command("stop");
            if !stop.status.success() {
                eprintln!(
                    "postfix stop failed: {}{}",
                    String::from_utf8_lossy(&stop.stdout),
                    String::from_utf8_lossy(&stop.stderr)
                );
            }
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.stop();
    }
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
        if server.records().await.len() == 2 && sent == 2 {
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
