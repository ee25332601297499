//! The bounce corpus (`tests/bounces/`, real delivery reports from sisimai's set-of-emails with
//! the classification sisimai's test suite asserts, see its README): every bounce must be
//! recognised as one (a report, a MAILER-DAEMON sender, or at least one bounced recipient),
//! the non-bounce must not, and the share of bounces for which a recipient has the expected
//! status class is measured, printed, and held above a floor so that it cannot regress.
//!
//! `reasons_and_hard_soft` measures, per expected row (the recipient at the row's index, else
//! the first), the share of bounces with a recipient found, hard/soft agreement and reason
//! agreement, prints the misses by family, and holds floors just under what is reached;
//! `throughput_is_measured` prints reports/s (meaningful with `--release`, never asserted).
//!
//! Only the class digit is compared: many expected statuses are sisimai's own pseudo-codes
//! (`5.0.9xx`), and sisimai derives statuses from wording that a gateway need not mimic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use postern_mime::parse;

/// Files (out of the 307 bounces with an expected status) where a recipient's status has the
/// expected class: the rate reached when this test was written (299, 97.4%). Raise it when it
/// improves. The 8 misses are notices whose own words disagree with sisimai's class: OpenSMTPD
/// delay warnings ("only a temporary failure report") that sisimai counts as permanent, and
/// Exim "permanent error"s (retry timeouts) that sisimai counts as temporary.
const CLASS_FLOOR: usize = 299;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bounces")
}

/// `file` → the expected rows (`None` for the non-bounce).
fn expectations() -> BTreeMap<String, Vec<serde_json::Value>> {
    let text =
        std::fs::read_to_string(corpus_dir().join("expected.jsonl")).expect("expected.jsonl");
    let mut rows: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON row");
        let file = row["file"].as_str().expect("file").to_owned();
        rows.entry(file).or_default().push(row);
    }
    rows
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join("emails").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn bounce_corpus() {
    let expected = expectations();
    let mut not_recognised = Vec::new();
    let mut unparseable = Vec::new();
    let mut with_status = 0;
    let mut class_hits = 0;
    let mut exact_hits = 0;
    let mut class_misses = Vec::new();
    for (file, rows) in &expected {
        let is_bounce = rows
            .iter()
            .all(|r| r.get("bounce") != Some(&serde_json::Value::Bool(false)));
        let msg = match parse(&read(file)) {
            Ok(msg) => msg,
            Err(e) => {
                unparseable.push(format!("{file}: {e}"));
                continue;
            }
        };
        let recognised = msg.bounce_signs.delivery_report
            || msg.bounce_signs.from_mailer_daemon
            || !msg.dsn.recipients.is_empty();
        if !is_bounce {
            assert!(
                !recognised,
                "{file} is not a bounce: {:?} {:?}",
                msg.bounce_signs, msg.dsn
            );
            continue;
        }
        if !recognised {
            not_recognised.push(file.clone());
        }
        let statuses: BTreeSet<&str> = rows
            .iter()
            .filter_map(|r| r["status"].as_str())
            .filter(|s| !s.is_empty())
            .collect();
        if statuses.is_empty() {
            continue;
        }
        with_status += 1;
        let classes: BTreeSet<char> = statuses.iter().filter_map(|s| s.chars().next()).collect();
        let got: Vec<&str> = msg
            .dsn
            .recipients
            .iter()
            .map(|r| r.status.as_str())
            .collect();
        if got
            .iter()
            .any(|s| s.chars().next().is_some_and(|c| classes.contains(&c)))
        {
            class_hits += 1;
        } else {
            class_misses.push(format!("{file}: expected {statuses:?}, got {got:?}"));
        }
        if got.iter().any(|s| statuses.contains(s)) {
            exact_hits += 1;
        }
    }
    println!(
        "bounce corpus: {} files, {with_status} with an expected status",
        expected.len()
    );
    println!(
        "  status class found: {class_hits}/{with_status} ({:.1}%); exact status: {exact_hits}/{with_status} ({:.1}%)",
        100.0 * class_hits as f64 / with_status.max(1) as f64,
        100.0 * exact_hits as f64 / with_status.max(1) as f64,
    );
    for miss in &class_misses {
        println!("  class miss: {miss}");
    }
    assert!(unparseable.is_empty(), "unparseable: {unparseable:#?}");
    assert!(
        not_recognised.is_empty(),
        "not recognised as bounces: {not_recognised:#?}"
    );
    assert!(
        class_hits >= CLASS_FLOOR,
        "status class found for {class_hits} files, below the floor of {CLASS_FLOOR}"
    );
}

/// The supplementary rows (expectations from newer sisimai versions, not checked against the
/// exact bytes): measured and printed only.
#[test]
fn supplementary_corpus_is_measured() {
    let text = std::fs::read_to_string(corpus_dir().join("expected-supplementary.jsonl"))
        .expect("expected-supplementary.jsonl");
    let mut recognised = 0;
    let mut class_hits = 0;
    let mut total = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON row");
        let file = row["file"].as_str().expect("file");
        let msg = parse(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        total += 1;
        if msg.bounce_signs.delivery_report
            || msg.bounce_signs.from_mailer_daemon
            || !msg.dsn.recipients.is_empty()
        {
            recognised += 1;
        }
        let class = row["status"].as_str().and_then(|s| s.chars().next());
        if msg
            .dsn
            .recipients
            .iter()
            .any(|r| r.status.chars().next() == class)
        {
            class_hits += 1;
        }
    }
    println!(
        "supplementary corpus: {recognised}/{total} recognised, status class found for {class_hits}/{total}"
    );
    assert_eq!(recognised, total);
}

/// Detected share (at least one recipient), hard/soft and reason agreement per expected row
/// (the row's recipient taken by its index, else the first), on the dev corpus.
const DETECTED_FLOOR: f64 = 100.0;
const HARD_FLOOR: f64 = 95.0;
const REASON_FLOOR: f64 = 90.9;

/// `lhost-postfix-05.eml` → `lhost-postfix` (for reporting misses by family only).
fn family(file: &str) -> &str {
    file.trim_end_matches(".eml")
        .rsplit_once('-')
        .map_or(file, |(f, _)| f)
}

#[derive(Default)]
struct Tally {
    bounces: usize,
    detected: usize,
    rows: usize,
    hard_hits: usize,
    reason_hits: usize,
    misses: BTreeMap<String, Vec<String>>,
}

impl Tally {
    fn row(&mut self, file: &str, row: &serde_json::Value, msg: &postern_mime::ParsedMessage) {
        let (Some(reason), Some(hard)) = (row["reason"].as_str(), row["hard"].as_bool()) else {
            return;
        };
        if matches!(reason, "delivered") {
            return;
        }
        self.rows += 1;
        let index = row["index"].as_u64().unwrap_or(0) as usize;
        let recipients = &msg.dsn.recipients;
        let Some(got) = recipients.get(index).or(recipients.first()) else {
            self.misses
                .entry(family(file).to_owned())
                .or_default()
                .push(format!("{file}: no recipient"));
            return;
        };
        self.hard_hits += usize::from(got.hard == hard);
        if got.hard != hard {
            println!(
                "  hard miss: {file}: expected {reason}/{hard}, got {}/{}",
                got.category.as_str(),
                got.hard
            );
        }
        if got.category.as_str() == reason {
            self.reason_hits += 1;
        } else {
            let diagnostic: String = got.reason.chars().take(300).collect();
            self.misses
                .entry(family(file).to_owned())
                .or_default()
                .push(format!(
                    "{file}: expected {reason}/{} got {}/{} ({} {}) {diagnostic:?}",
                    row["status"].as_str().unwrap_or_default(),
                    got.category.as_str(),
                    got.status,
                    got.reply_code,
                    got.action,
                ));
        }
    }
}

fn percent(hits: usize, total: usize) -> f64 {
    100.0 * hits as f64 / total.max(1) as f64
}

#[test]
fn reasons_and_hard_soft() {
    let mut tally = Tally::default();
    for (file, rows) in &expectations() {
        if rows
            .iter()
            .any(|r| r.get("bounce") == Some(&serde_json::Value::Bool(false)))
        {
            continue;
        }
        let msg = parse(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        tally.bounces += 1;
        tally.detected += usize::from(!msg.dsn.recipients.is_empty() && msg.dsn.kind.is_some());
        for row in rows {
            tally.row(file, row, &msg);
        }
    }
    let detected = percent(tally.detected, tally.bounces);
    let hard = percent(tally.hard_hits, tally.rows);
    let reason = percent(tally.reason_hits, tally.rows);
    println!(
        "dev corpus: detected {}/{} ({detected:.1}%), hard/soft {}/{} ({hard:.1}%), reason {}/{} ({reason:.1}%)",
        tally.detected, tally.bounces, tally.hard_hits, tally.rows, tally.reason_hits, tally.rows
    );
    println!("reason misses by family:");
    for (family, misses) in &tally.misses {
        println!("  {family}: {}", misses.len());
        for miss in misses {
            println!("    {miss}");
        }
    }
    assert!(detected >= DETECTED_FLOOR, "detected {detected:.1}%");
    assert!(hard >= HARD_FLOOR, "hard/soft agreement {hard:.1}%");
    assert!(reason >= REASON_FLOOR, "reason agreement {reason:.1}%");
}

/// Reports per second on one core (printed, not asserted: machines differ).
#[test]
fn throughput_is_measured() {
    let files: Vec<Vec<u8>> = expectations().keys().map(|f| read(f)).collect();
    // More rounds for a steadier figure (with `perf stat`, say): `POSTERN_BOUNCE_ROUNDS=200`.
    let rounds = std::env::var("POSTERN_BOUNCE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let start = std::time::Instant::now();
    let mut recipients = 0;
    for _ in 0..rounds {
        for raw in &files {
            recipients += parse(raw).map_or(0, |m| m.dsn.recipients.len());
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let reports = rounds * files.len();
    println!(
        "throughput: {reports} reports in {elapsed:.3}s: {:.0} reports/s on one core ({recipients} recipients)",
        reports as f64 / elapsed
    );
    assert!(recipients > 0);
}

/// 256 cases, or `PROPTEST_CASES` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// A failure notice (MAILER-DAEMON, a report content type) around `text` and `status`: the
/// bounce analysis reads all of it (the report fields, the text, the reason tables).
fn notice_around(text: &str, status: &str) -> Vec<u8> {
    format!(
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail Returned to Sender\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n\
         --b\nContent-Type: text/plain; charset=utf-8\n\n{text}\n\
         --b\nContent-Type: message/delivery-status\n\n\
         Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; {text}\n\
         Action: failed\nStatus: {status}\nDiagnostic-Code: smtp; {text}\n--b--\n"
    )
    .into_bytes()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(cases()))]

    /// The bounce analysis never panics on a real bounce with bytes changed, cut or removed,
    /// and what it gives is consistent: hard follows the reason.
    #[test]
    fn corpus_bounces_mutated_never_panic(
        which in 0usize..400,
        edits in proptest::collection::vec(
            (proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>(), 0usize..3),
            1..16,
        ),
    ) {
        let names: Vec<String> = expectations().into_keys().collect();
        let mut raw = read(&names[which % names.len()]);
        for (at, byte, how) in edits {
            let at = at % raw.len().max(1);
            match how {
                0 => {
                    if let Some(b) = raw.get_mut(at) {
                        *b = byte;
                    }
                }
                1 => {
                    let end = (at + usize::from(byte)).min(raw.len());
                    raw.drain(at.min(end)..end);
                }
                _ => raw.truncate(at),
            }
        }
        if let Ok(msg) = parse(&raw) {
            for r in &msg.dsn.recipients {
                proptest::prop_assert_eq!(r.hard, r.category.is_hard(&r.status));
            }
        }
    }

    /// Arbitrary text (any Unicode, ISO-2022-JP escapes, addresses, codes) as the whole
    /// notice, recipient field, diagnostic and status never makes the analysis panic.
    #[test]
    fn arbitrary_notice_text_never_panics(
        text in "(\\PC|\u{1b}\\$B|\u{1b}\\(B|[0-9.@<>: \n]|5\\.1\\.1|550|a@b\\.example|rcpt to:|does not exist){0,80}",
        status in "[0-9.]{0,8}",
    ) {
        let msg = parse(&notice_around(&text, &status));
        if let Ok(msg) = msg {
            for r in &msg.dsn.recipients {
                proptest::prop_assert_eq!(r.hard, r.category.is_hard(&r.status));
            }
        }
        let _ = postern_mime::classify(&status, "550", &text);
    }
}
