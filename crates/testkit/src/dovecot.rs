//! The private Dovecot of `scripts/test.sh`: it exports `POSTERN_TEST_IMAP`,
//! `POSTERN_TEST_IMAPS`, `POSTERN_TEST_POP3`, `POSTERN_TEST_POP3S` (`host:port` each),
//! `POSTERN_TEST_MAILDIRS` (a maildir per user, password `secret`) and
//! `POSTERN_TEST_DOVECOT_CA` (the CA of its certificate). Without it these panic, saying so:
//! the tests that need it fail, they are never skipped.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The value of one of Dovecot's variables.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the private Dovecot that scripts/test.sh starts"
        )
    })
}

/// Host and port of one of Dovecot's listeners (`POSTERN_TEST_IMAP`, ...).
pub fn endpoint(var: &str) -> (String, u16) {
    let v = env(var);
    let (host, port) = v.rsplit_once(':').expect("host:port");
    (host.to_owned(), port.parse().expect("a port"))
}

/// The IMAP port of the private Dovecot.
pub fn imap_port() -> u16 {
    endpoint("POSTERN_TEST_IMAP").1
}

/// The CA file of Dovecot's certificate (for localhost and 127.0.0.1).
pub fn ca_file() -> String {
    env("POSTERN_TEST_DOVECOT_CA")
}

/// A user's maildir, emptied (leftovers of an earlier run of the same test removed).
pub fn maildir(user: &str) -> PathBuf {
    let dir = PathBuf::from(env("POSTERN_TEST_MAILDIRS"))
        .join(user)
        .join("Maildir");
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
    }
    dir
}

/// Delivers `raw` into `maildir` as an MDA does: written in `tmp`, renamed into `new`, under
/// a maildir name (`SECONDS.MMICROSECONDSPpidQn`) that sorts in the order of delivery.
pub fn deliver(maildir: &Path, raw: impl AsRef<[u8]>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let name = format!(
        "{}.M{:06}P{}Q{}.postern-test",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        crate::next()
    );
    let tmp = maildir.join("tmp").join(&name);
    std::fs::write(&tmp, raw).unwrap();
    std::fs::rename(&tmp, maildir.join("new").join(&name)).unwrap();
}

/// (messages not yet seen, messages seen) in `maildir`.
pub fn mailbox(maildir: &Path) -> (usize, usize) {
    let mut unseen = std::fs::read_dir(maildir.join("new")).unwrap().count();
    let mut seen = 0;
    for e in std::fs::read_dir(maildir.join("cur")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        match name.split_once(":2,") {
            Some((_, flags)) if flags.contains('S') => seen += 1,
            _ => unseen += 1,
        }
    }
    (unseen, seen)
}

/// The messages in `maildir`, seen or not.
pub fn count(maildir: &Path) -> usize {
    let (unseen, seen) = mailbox(maildir);
    unseen + seen
}

/// Waits (at most 10 s) until an IMAP session of `user` is in IDLE, as Dovecot's process title
/// says (`verbose_proctitle = yes` in scripts/test.sh's configuration: `imap [USER IP IDLE]`).
#[cfg(feature = "async")]
pub async fn wait_until_idle(user: &str) {
    let title = format!("[{user} ");
    let start = std::time::Instant::now();
    loop {
        let idle = std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
            std::fs::read(p.path().join("cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains(&title) && c.contains("IDLE")
            })
        });
        if idle {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "the IMAP session of {user} never entered IDLE"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
