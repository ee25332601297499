//! The soak (issue 18, point 10): `postern serve` takes SMTP mail at half the peak rate it
//! showed a moment before, for a while, and must stay flat: resident memory and open files
//! sampled along the way, every message answered 250 stored once, and no error or warning in
//! its log.
//!
//! Short in scripts/test.sh (`POSTERN_SOAK_SECONDS`, default 20: only that nothing is lost and
//! nothing is logged, the curve printed); long by hand with `scripts/soak.sh` (600 s), where
//! memory and open files at the end must be within 10 % of what they were once warm (after the
//! first fifth of the run). `POSTERN_SOAK_RATE` sets the rate instead of measuring the peak;
//! `POSTERN_SOAK_BACKEND=postgres` soaks on PostgreSQL. The figures: RELIABILITY.md.

mod support;

use postern_testkit::{database, drop_database};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::node::{config, start};
use support::send_smtp;

fn env_number(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Resident memory (KiB) and open files of the process `pid`.
fn sample(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let files = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (rss, files)
}

/// Senders sharing `sent`: each sends its next message at its own pace (`gap` between two),
/// or as fast as it can (`gap` zero), until `stop`. Messages refused are counted in `refused`.
fn senders(
    smtp: &str,
    tag: &str,
    count: usize,
    gap: Duration,
    stop: &Arc<AtomicBool>,
    counters: &Arc<(AtomicUsize, AtomicUsize)>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count)
        .map(|i| {
            let (smtp, tag) = (smtp.to_owned(), tag.to_owned());
            let (stop, counters) = (stop.clone(), counters.clone());
            tokio::spawn(async move {
                let mut next = Instant::now();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    match send_smtp(&smtp, &format!("{tag}-{i}-{n}")).await {
                        Ok(()) => counters.0.fetch_add(1, Ordering::Relaxed),
                        Err(_) => counters.1.fetch_add(1, Ordering::Relaxed),
                    };
                    next += gap;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        tokio::time::sleep(wait).await;
                    }
                }
            })
        })
        .collect()
}

/// One point of the curve: seconds since the start, resident memory (KiB), open files, and
/// messages answered 250 so far.
type Point = (u64, u64, usize, usize);

/// Runs senders for `seconds`, sampling the process `pid` every `every` when given; (messages
/// answered 250, refused, the samples).
async fn load(
    smtp: &str,
    tag: &str,
    (count, gap): (usize, Duration),
    seconds: f64,
    sampled: Option<(u32, Duration)>,
) -> (usize, usize, Vec<Point>) {
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let tasks = senders(smtp, tag, count, gap, &stop, &counters);
    let start = Instant::now();
    let mut curve = Vec::new();
    match sampled {
        None => tokio::time::sleep(Duration::from_secs_f64(seconds)).await,
        Some((pid, every)) => {
            while start.elapsed().as_secs_f64() < seconds {
                tokio::time::sleep(every).await;
                let (rss, files) = sample(pid);
                let acked = counters.0.load(Ordering::Relaxed);
                curve.push((start.elapsed().as_secs(), rss, files, acked));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    (
        counters.0.load(Ordering::Relaxed),
        counters.1.load(Ordering::Relaxed),
        curve,
    )
}

/// The records in the database `db` (asked directly: the API pages, and a count is all this
/// needs).
async fn records(db: &str) -> i64 {
    use sqlx::Connection;
    const COUNT: &str = "SELECT count(*) FROM records";
    if db.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db).await.unwrap();
        sqlx::query_scalar(COUNT).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(db).await.unwrap();
        sqlx::query_scalar(COUNT).fetch_one(&mut c).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_soak_at_half_the_peak_stays_flat() {
    let seconds = env_number("POSTERN_SOAK_SECONDS").unwrap_or(20.0);
    let postgres = std::env::var("POSTERN_SOAK_BACKEND").is_ok_and(|b| b == "postgres");
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await;
    // Nothing goes out: the outgoing server is never asked.
    let cfg = config(dir.path(), 9, None);
    let log = dir.path().join("postern.log");
    let node = start(
        dir.path(),
        &db,
        &cfg,
        &[("POSTERN_LOG_FILE", log.to_str().unwrap())],
    )
    .await;
    let senders_count = 8;
    let (peak, rate) = match env_number("POSTERN_SOAK_RATE") {
        Some(rate) => (None, rate),
        None => {
            let (sent, _, _) = load(&node.smtp, "peak", (16, Duration::ZERO), 5.0, None).await;
            let peak = sent as f64 / 5.0;
            (Some(peak), peak / 2.0)
        }
    };
    let stored_before = records(&db).await;
    let gap = Duration::from_secs_f64(senders_count as f64 / rate.max(1.0));
    let every = Duration::from_secs_f64((seconds / 20.0).max(1.0));
    let (acked, refused, curve) = load(
        &node.smtp,
        "soak",
        (senders_count, gap),
        seconds,
        Some((node.pid(), every)),
    )
    .await;
    let stored = records(&db).await - stored_before;
    let complaints: Vec<String> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .filter(|l| !l.contains("no TLS certificate configured"))
        .map(str::to_owned)
        .collect();
    let warm = curve[curve.len() / 5];
    let last = *curve.last().unwrap();
    eprintln!(
        "soak on {}: {seconds} s at {rate:.0} msg/s (peak {}), {acked} answered 250, {refused} \
         refused, {stored} stored; resident memory {} -> {} KiB and open files {} -> {} from \
         warm to the end\n| s | RSS KiB | open files | messages |\n|---:|---:|---:|---:|\n{}",
        if postgres { "PostgreSQL" } else { "SQLite" },
        peak.map_or("not measured".into(), |p| format!("{p:.0} msg/s")),
        warm.1,
        last.1,
        warm.2,
        last.2,
        curve
            .iter()
            .map(|(s, rss, files, n)| format!("| {s} | {rss} | {files} | {n} |"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(stored, acked as i64, "every 250 stored once");
    assert_eq!(refused, 0, "nothing refused at half the peak");
    assert!(
        complaints.is_empty(),
        "the log complains:\n{}",
        complaints.join("\n")
    );
    if seconds >= 300.0 {
        let within = |a: f64, b: f64| b <= a * 1.10;
        assert!(
            within(warm.1 as f64, last.1 as f64) && within(warm.2 as f64, last.2 as f64),
            "memory or open files grew more than 10 % once warm"
        );
    }
    drop(node);
    drop_database(&db).await;
}
