//! Test support for Postern's test crates, a dev-dependency only: the fixtures that more than
//! one test crate needs, written once.
//!
//! - [`templates`]: Odoo's raw test messages and their `str.format` filler;
//! - [`dovecot`]: the private Dovecot that `scripts/test.sh` starts (maildirs, delivery);
//! - [`clients`]: mail sent by swaks or by Python's `smtplib`, as a user would;
//! - [`hostile`]: generated hostile messages (deep, wide, long, broken);
//! - [`run`], [`unique`], [`free_port`], [`is_root`]: the small change of every test crate;
//!
//! and behind features, so that a test crate compiles only what it uses (the parser's tests no
//! store, the store's tests no HTTP client):
//!
//! - `db` (default): fresh databases (SQLite in a directory, or a new PostgreSQL database on
//!   the server of `POSTERN_TEST_DATABASE_URL`), migrated stores, seeded aliases, reads; a
//!   private PostgreSQL cluster a test may stop and start ([`private_pg`]);
//! - `serve` (default): `Serve`, a running `postern serve` on loopback ports, its banner read,
//!   its API called with the token, stopped with SIGTERM when dropped;
//! - `postfix` (default): Postfix's `smtp-sink`, and a private Postfix instance relaying to
//!   LMTP;
//! - `sink`: a capture SMTP server (TLS, AUTH, refusals on demand);
//! - `dns`: an authoritative DNS server on loopback serving the test's zones;
//! - `async` (with `db`, `serve` and `sink`): `eventually`, `clients::python` (tokio), `smtp`
//!   (a plain SMTP client that sends what the test says).
//!
//! Nothing here stands in for a server the product talks to: these start or drive the real
//! ones.
#![warn(missing_docs)]

pub mod clients;
#[cfg(feature = "db")]
pub mod db;
#[cfg(feature = "dns")]
pub mod dns;
pub mod dovecot;
pub mod hostile;
#[cfg(feature = "oidc")]
pub mod oidc;
#[cfg(feature = "postfix")]
pub mod postfix;
#[cfg(feature = "db")]
pub mod private_pg;
#[cfg(feature = "serve")]
mod serve;
#[cfg(feature = "sink")]
pub mod sink;
#[cfg(feature = "async")]
pub mod smtp;
pub mod templates;

pub use clients::swaks;
#[cfg(feature = "db")]
pub use db::{TestDb, database, drop_database, postgres_admin_url};
#[cfg(feature = "serve")]
pub use serve::Serve;

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A number that no other call of this test run gets.
pub fn next() -> u32 {
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// A name unique in this test run (process id and a counter).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), next())
}

/// A port of 127.0.0.1 free a moment ago (someone else may take it before the caller binds).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// Runs `cmd` with `stdin` written to its standard input (closed at once when `None`); its
/// exit code (-1 when killed by a signal), standard output and standard error.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    output(child.wait_with_output().unwrap())
}

/// An output as (exit code, -1 when killed by a signal; standard output; standard error).
pub fn output(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[cfg(feature = "async")]
/// Polls `check` every 50 ms until it gives `Some`, for at most `seconds`; panics with `what`
/// otherwise.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    seconds: u64,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {seconds} s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
