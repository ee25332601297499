//! `postern bounce parse` through the real binary: a corpus bounce (file and stdin), an ARF
//! complaint, an automatic reply, ordinary mail, a non-message (65) and a missing file (66).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_postern");

fn corpus(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mime/tests/bounces/emails")
        .join(file)
}

/// Runs `postern bounce parse ARGS` with `stdin`; returns (exit code, stdout, stderr).
fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(BIN)
        .args(["bounce", "parse"])
        .args(args)
        .current_dir(dir.path())
        .env_remove("POSTERN_DATABASE_URL")
        .env_remove("POSTERN_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("postern runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("postern exits");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str], stdin: &[u8]) -> serde_json::Value {
    let (code, out, err) = run(args, stdin);
    assert_eq!(code, 0, "stderr: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_postfix_bounce_from_a_file_and_from_stdin() {
    let file = corpus("lhost-postfix-05.eml");
    let from_file = json(&[file.to_str().expect("utf-8 path"), "--json"], b"");
    let from_stdin = json(&["--json"], &std::fs::read(&file).expect("corpus file"));
    assert_eq!(from_file, from_stdin);
    assert_eq!(from_file["bounce"], true);
    let recipients = from_file["recipients"].as_array().expect("recipients");
    assert_eq!(recipients.len(), 1, "{from_file}");
    let r = &recipients[0];
    assert_eq!(r["reason"], "userunknown", "{r}");
    assert_eq!(r["hard"], true);
    assert!(
        r["status"].as_str().expect("status").ends_with(".1.1"),
        "{r}"
    );
    assert!(r["address"].as_str().expect("address").contains('@'));
    assert!(
        r["diagnostic"]
            .as_str()
            .expect("diagnostic")
            .to_lowercase()
            .contains("user unknown"),
        "{r}"
    );
    assert!(
        !from_file["original_message_ids"]
            .as_array()
            .expect("ids")
            .is_empty()
    );
}

#[test]
fn the_human_form_names_reason_and_hardness() {
    let file = corpus("lhost-postfix-05.eml");
    let (code, out, _) = run(&[file.to_str().expect("utf-8 path")], b"");
    assert_eq!(code, 0);
    assert!(
        out.starts_with("delay: 1 recipient(s)") || out.starts_with("failure: 1 recipient(s)"),
        "{out}"
    );
    assert!(out.contains(" userunknown hard "), "{out}");
}

const ARF: &str = "From: <abuse@isp.example>\r
To: <bounce@sender.example>\r
Subject: FW: Earn money\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=feedback-report; boundary=\"part1\"\r
\r
--part1\r
Content-Type: text/plain\r
\r
This is an email abuse report for an email message received from IP 192.0.2.1.\r
--part1\r
Content-Type: message/feedback-report\r
\r
Feedback-Type: abuse\r
User-Agent: SomeGenerator/1.0\r
Version: 1\r
Original-Mail-From: <bounce@sender.example>\r
Original-Rcpt-To: <user@isp.example>\r
\r
--part1\r
Content-Type: message/rfc822\r
\r
From: <news@sender.example>\r
To: <user@isp.example>\r
Subject: Earn money\r
Message-ID: <8787KJKJ3K4J3K4J3K4J3.mail@sender.example>\r
\r
Spam spam spam\r
--part1--\r
";

#[test]
fn an_arf_complaint_is_feedback() {
    let v = json(&["--json"], ARF.as_bytes());
    assert_eq!(v["bounce"], false);
    assert_eq!(v["kind"], "feedback");
    assert_eq!(v["feedback_type"], "abuse");
    assert_eq!(v["recipients"][0]["address"], "user@isp.example");
    assert_eq!(v["recipients"][0]["reason"], "feedback");
    assert_eq!(v["recipients"][0]["hard"], false);
    assert_eq!(
        v["original_message_ids"],
        serde_json::json!(["<8787KJKJ3K4J3K4J3K4J3.mail@sender.example>"])
    );
}

#[test]
fn an_out_of_office_is_an_auto_reply_and_plain_mail_is_nothing() {
    let ooo = "From: Ann <ann@example.org>\nTo: <sales@example.com>\nSubject: Out of office\n\
               Auto-Submitted: auto-replied\nMessage-ID: <r1@example.org>\n\nBack on Monday.\n";
    let v = json(&["--json"], ooo.as_bytes());
    assert_eq!(v["bounce"], false);
    assert_eq!(v["kind"], "auto_reply");
    assert_eq!(v["recipients"][0]["address"], "ann@example.org");
    assert_eq!(v["recipients"][0]["reason"], "vacation");

    let mail = "From: Ann <ann@example.org>\nTo: <sales@example.com>\nSubject: Quote\n\nHello\n";
    let v = json(&["--json"], mail.as_bytes());
    assert_eq!(v["bounce"], false);
    assert_eq!(v["kind"], serde_json::Value::Null);
    assert_eq!(v["recipients"], serde_json::json!([]));
}

#[test]
fn not_a_message_is_65_and_a_missing_file_is_66() {
    let (code, out, err) = run(&["--json"], b"\n\n   \n");
    assert_eq!(code, 65, "{out} {err}");
    assert!(err.contains("not an e-mail message"), "{err}");
    let (code, _, err) = run(&["/nonexistent/bounce.eml"], b"");
    assert_eq!(code, 66);
    assert!(err.contains("cannot read"), "{err}");
}
