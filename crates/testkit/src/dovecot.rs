//! The private Dovecot of `scripts/test.sh`: it exports `POSTERN_TEST_IMAP` (`host:port`),
//! `POSTERN_TEST_MAILDIRS` (a maildir per user, password `secret`) and
//! `POSTERN_TEST_DOVECOT_CA` (the CA of its certificate). Without it these panic, saying so.

use std::path::{Path, PathBuf};

/// The value of one of Dovecot's variables.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the private Dovecot that scripts/test.sh starts"
        )
    })
}

/// The IMAP port of the private Dovecot.
pub fn imap_port() -> u16 {
    let imap = env("POSTERN_TEST_IMAP");
    imap.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// A user's maildir, emptied.
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

/// Delivers `raw` into `maildir` as an MTA would (written in `tmp`, renamed into `new`).
pub fn deliver(maildir: &Path, raw: &str) {
    let name = format!("{}.postern-test", crate::unique("M"));
    std::fs::write(maildir.join("tmp").join(&name), raw).unwrap();
    std::fs::rename(
        maildir.join("tmp").join(&name),
        maildir.join("new").join(&name),
    )
    .unwrap();
}
