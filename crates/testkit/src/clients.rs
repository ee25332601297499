//! Real mail clients, run as an admin or an application would run them: swaks, and Python's
//! `smtplib` in inline scripts. Every run is bounded in time (`timeout`); a client that is not
//! installed fails the test (scripts/test.sh installs them).

use std::process::{Command, Output};

/// Runs `swaks ARGS` under `timeout 30`; its output. Panics when swaks is missing.
pub fn swaks_with(args: &[&str]) -> Output {
    let out = Command::new("timeout")
        .args(["30", "swaks"])
        .args(args)
        .output()
        .expect("timeout (coreutils)");
    assert_ne!(
        out.status.code(),
        Some(127),
        "swaks is not installed (scripts/test.sh installs it)"
    );
    out
}

/// Sends `raw` (a whole message) over SMTP to `server` (`host:port`) with swaks, envelope
/// `from` → `to`; returns swaks' transcript.
pub fn swaks(server: &str, from: &str, to: &str, raw: &str) -> String {
    let file = std::env::temp_dir().join(format!("{}.eml", crate::unique("postern_swaks")));
    std::fs::write(&file, raw).unwrap();
    let path = file.to_str().unwrap();
    let out = swaks_with(&[
        "--server", server, "--from", from, "--to", to, "--data", path,
    ]);
    let _ = std::fs::remove_file(&file);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(feature = "async")]
/// Runs the Python script `script` with `args` (`sys.argv[1:]`), killed after `limit`; from
/// async tests (it runs on a blocking thread).
pub async fn python(script: &str, args: Vec<String>, limit: std::time::Duration) -> Output {
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

/// The standard output of a Python run, which must have succeeded.
pub fn stdout(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "python failed ({}): {out}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}
