//! Throughput of `postern_mime::parse` on one core: every reference template
//! (`tests/templates/*.eml.tmpl`) filled with plain values, parsed in a timed loop; prints the
//! messages per second of each template, of the whole set, and of the mix the gateway
//! benchmark uses (`crates/gateway/benches/gateway.rs`).
//!
//! `cargo bench -p postern-mime --bench parse`; `BENCH_SECONDS` (default 0.5) is the time spent
//! on each template, `BENCH_ITERATIONS` a fixed number of rounds instead (for profilers),
//! `BENCH_ONLY` a comma-separated list of templates to run alone.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// The templates of the gateway benchmark's parse + decide mix.
const GATEWAY_MIX: &[&str] = &[
    "MAIL_TEMPLATE",
    "MAIL_TEMPLATE_PLAINTEXT",
    "MAIL_TEMPLATE_HTML",
    "MAIL_MULTIPART_MIXED",
    "MAIL_MULTIPART_MIXED_TWO",
    "MAIL_SINGLE_BINARY",
    "MAIL_MULTIPART_IMAGE",
    "MAIL_BOUNCE",
];

/// The value of a placeholder (the gateway benchmark's values, the test helper's otherwise).
fn value(name: &str, template: &str) -> &'static str {
    match name {
        "to" | "email_to" | "delivered_to" => "sales@bench.test",
        "subject" => "Message 1",
        "email_from" => "Sender 1 <sender1@customer.test>",
        "return_path" => "<bounce-back@customer.test>",
        "msg_id" => "<pd.1@bench.test>",
        "date" => "Fri, 10 Aug 2012 14:16:26 +0000",
        "extra" if template == "MAIL_BOUNCE" => "<nothing@bench.test>",
        "charset" => "utf-8",
        "content" => "SGVsbG8gV29ybGQ=",
        "pdf_mime" => "application/pdf",
        _ => "",
    }
}

fn templates() -> Vec<(String, Vec<u8>)> {
    postern_testkit::templates::names()
        .into_iter()
        .map(|name| {
            let text = String::from_utf8(postern_testkit::templates::bytes(&format!(
                "{name}.eml.tmpl"
            )))
            .expect("a UTF-8 template");
            // MAIL_XHTML holds literal CSS braces: Odoo uses it without formatting.
            let raw = if name == "MAIL_XHTML" {
                text
            } else {
                postern_testkit::templates::format(&text, |k| Some(value(k, &name)))
            };
            (name, raw.into_bytes())
        })
        .collect()
}

/// Parses every message of `set` `rounds` times; the elapsed time.
fn run(set: &[&[u8]], rounds: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..rounds {
        for raw in set {
            black_box(postern_mime::parse(black_box(raw)).expect("parses"));
        }
    }
    start.elapsed()
}

/// Messages per second of `set`: a fixed number of rounds, or as many as fit in `seconds`.
fn rate(set: &[&[u8]], seconds: f64, iterations: Option<usize>) -> f64 {
    let rounds = match iterations {
        Some(n) => n,
        None => {
            run(set, 20);
            let probe = run(set, 50).as_secs_f64() / 50.0;
            ((seconds / probe.max(1e-9)) as usize).max(1)
        }
    };
    (rounds * set.len()) as f64 / run(set, rounds).as_secs_f64()
}

fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.5);
    let iterations: Option<usize> = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok());
    let only = std::env::var("BENCH_ONLY").ok();
    let all = templates();
    let selected: Vec<&(String, Vec<u8>)> = all
        .iter()
        .filter(|(name, _)| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n == name))
        })
        .collect();
    println!("| template | bytes | msg/s |\n|---|---:|---:|");
    for (name, raw) in &selected {
        let r = rate(&[raw.as_slice()], seconds, iterations);
        println!("| {name} | {} | {r:.0} |", raw.len());
    }
    if only.is_some() {
        let set: Vec<&[u8]> = selected.iter().map(|(_, raw)| raw.as_slice()).collect();
        println!(
            "| **these {} templates** | | **{:.0}** |",
            set.len(),
            rate(&set, seconds * 4.0, iterations)
        );
        return;
    }
    let every: Vec<&[u8]> = all.iter().map(|(_, raw)| raw.as_slice()).collect();
    let mix: Vec<&[u8]> = all
        .iter()
        .filter(|(name, _)| GATEWAY_MIX.contains(&name.as_str()))
        .map(|(_, raw)| raw.as_slice())
        .collect();
    println!(
        "| **all {} templates** | | **{:.0}** |",
        every.len(),
        rate(&every, seconds * 4.0, iterations)
    );
    println!(
        "| **gateway mix ({} templates)** | | **{:.0}** |",
        mix.len(),
        rate(&mix, seconds * 4.0, iterations)
    );
}
