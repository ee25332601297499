//! Test support for Postern's test crates, a dev-dependency only: the fixtures that more than
//! one test crate needs, written once.
//!
//! - [`Serve`]: a running `postern serve` on loopback ports, its banner read, its API called
//!   with the token, stopped with SIGTERM when dropped;
//! - [`database`]: a fresh database, SQLite in a directory or a new PostgreSQL database on the
//!   server of `POSTERN_TEST_DATABASE_URL`;
//! - [`dovecot`]: the private Dovecot that `scripts/test.sh` starts (maildirs, delivery);
//! - [`swaks`]: one message over SMTP with swaks, as an admin would send it.
//!
//! Nothing here stands in for a server the product talks to: these start or drive the real
//! ones.
#![warn(missing_docs)]

pub mod dovecot;
mod serve;

pub use serve::Serve;

use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name unique in this test run (process id and a counter).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// The PostgreSQL server of the tests (`POSTERN_TEST_DATABASE_URL`, else the local default).
pub fn postgres_admin_url() -> String {
    std::env::var("POSTERN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The URL of a fresh database: `postern.db` in `dir`, or a new database on the PostgreSQL
/// server of the tests.
pub async fn database(dir: &std::path::Path, postgres: bool) -> String {
    if !postgres {
        return format!("sqlite://{}/postern.db", dir.display());
    }
    let admin = postgres_admin_url();
    let name = unique("postern_test");
    let store = postern_store::Store::open(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} does not answer ({e})"));
    store.create_database_for_tests(&name).await.unwrap();
    store.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
    format!("{base}/{name}")
}

/// Sends `raw` (a whole message) over SMTP to `server` (`host:port`) with swaks, envelope
/// `from` → `to`; returns swaks' transcript. Panics when swaks is missing (scripts/test.sh
/// installs it).
pub fn swaks(server: &str, from: &str, to: &str, raw: &str) -> String {
    let file = std::env::temp_dir().join(format!("{}.eml", unique("postern_swaks")));
    std::fs::write(&file, raw).unwrap();
    let out = std::process::Command::new("swaks")
        .args(["--server", server, "--from", from, "--to", to, "--data"])
        .arg(&file)
        .output()
        .expect("swaks (installed by scripts/test.sh)");
    let _ = std::fs::remove_file(&file);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `check` every 50 ms until it gives `Some`, for at most `seconds`; panics with `what`
/// otherwise.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    seconds: u64,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not within {seconds} s: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
