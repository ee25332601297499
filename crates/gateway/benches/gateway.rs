//! Inbound throughput: parse + decide without I/O (one core; and with the body read, whose HTML
//! is cleaned only then, as for a message that is posted), `accept` with durable commits on
//! SQLite and PostgreSQL with concurrent callers, and the cost of routing a reply with 1,000
//! versus 1,000,000 stored messages. Run with `scripts/bench.sh` (see BENCHMARKS.md); it prints a
//! Markdown table.
//!
//! Inputs: the reference's raw templates (`crates/mime/tests/templates/`), filled with the
//! defaults of Odoo's test helper, each message with its own Message-ID. `BENCH_QUICK=1` stops
//! after the SQLite accept runs, `BENCH_PARSE_ONLY=1` after parse + decide
//! (`BENCH_PARSE_SECONDS`, default 3, is how long that one runs); both for profiling.

use postern_gateway::{Gateway, Received};
use postern_routing::{
    AliasInfo, DomainInfo, Envelope, Lookups, RoutingConfig, decide, plan_lookups,
};
use postern_store::{Alias, AliasDomain, AliasDomainInput, AliasInput, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const TEMPLATES: &[&str] = &[
    "MAIL_TEMPLATE",
    "MAIL_TEMPLATE_PLAINTEXT",
    "MAIL_TEMPLATE_HTML",
    "MAIL_MULTIPART_MIXED",
    "MAIL_MULTIPART_MIXED_TWO",
    "MAIL_SINGLE_BINARY",
    "MAIL_MULTIPART_IMAGE",
    "MAIL_BOUNCE",
];

fn fill(template: &str, vars: &BTreeMap<&str, String>) -> String {
    postern_testkit::templates::format(template, |name| {
        Some(vars.get(name).map_or("", String::as_str))
    })
}

/// `n` messages to `to`, cycling through the templates, each with its own Message-ID.
fn corpus(n: usize, to: &str, tag: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mime/tests/templates");
    let texts: Vec<(&str, String)> = TEMPLATES
        .iter()
        .filter_map(|t| {
            Some((
                *t,
                std::fs::read_to_string(dir.join(format!("{t}.eml.tmpl"))).ok()?,
            ))
        })
        .collect();
    assert!(
        !texts.is_empty(),
        "templates not found in {}",
        dir.display()
    );
    (0..n)
        .map(|i| {
            let mut vars = BTreeMap::new();
            vars.insert("to", to.to_owned());
            vars.insert("email_to", to.to_owned());
            vars.insert("delivered_to", to.to_owned());
            vars.insert("subject", format!("Message {i}"));
            vars.insert(
                "email_from",
                format!("Sender {} <sender{}@customer.test>", i % 97, i % 97),
            );
            vars.insert("return_path", "<bounce-back@customer.test>".to_owned());
            vars.insert("msg_id", format!("<{tag}.{i}@bench.test>"));
            vars.insert("date", "Fri, 10 Aug 2012 14:16:26 +0000".to_owned());
            let (name, text) = &texts[i % texts.len()];
            // MAIL_BOUNCE's {extra} is the embedded original's Message-Id; elsewhere, extra headers.
            let extra = if *name == "MAIL_BOUNCE" {
                "<nothing@bench.test>"
            } else {
                ""
            };
            vars.insert("extra", extra.to_owned());
            vars.insert("charset", "utf-8".to_owned());
            vars.insert("pdf_mime", "application/pdf".to_owned());
            with_message_id(&fill(text, &vars), &format!("<{tag}.{i}@bench.test>")).into_bytes()
        })
        .collect()
}

/// Some templates carry a fixed Message-ID: give each message its own.
fn with_message_id(text: &str, id: &str) -> String {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines: Vec<String> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("message-id:"))
        .map(str::to_owned)
        .collect();
    lines.insert(0, format!("Message-ID: {id}"));
    format!("{}\n\n{body}", lines.join("\n"))
}

/// Messages per second through parse + decide, one core; `with_body`: reading the body too
/// (its HTML cleaned, what a posted message costs more).
fn parse_and_decide(messages: &[Vec<u8>], with_body: bool) -> f64 {
    let cfg = RoutingConfig {
        domains: vec![DomainInfo {
            name: "bench.test".into(),
            bounce_email: "bounce@bench.test".into(),
            catchall_email: "catchall@bench.test".into(),
        }],
        catchall_domain_allowed: vec![],
    };
    let look = Lookups {
        aliases: vec![AliasInfo {
            id: postern_model::ids::AliasId(1),
            alias_name: "sales".into(),
            domain: Some("bench.test".into()),
            model: "crm.lead".into(),
            force_thread_id: None,
            parent_thread_id: None,
            contact: Default::default(),
            incoming_local: false,
            refuse_untrusted: false,
        }],
        ..Default::default()
    };
    let env = Envelope::default();
    let round = || {
        let mut routed = 0usize;
        for raw in messages {
            let msg = postern_mime::parse(raw).expect("parse");
            let _plan = plan_lookups(&msg, &env, &cfg);
            routed += decide(&msg, &env, &cfg, &look).routes.len();
            if with_body {
                routed += usize::from(!std::hint::black_box(msg.body_html.as_str()).is_empty());
            }
        }
        assert!(routed > 0);
    };
    // One round to warm the caches and the allocator, then whole rounds for at least
    // `BENCH_PARSE_SECONDS` (default 3) so that the figure is not a few milliseconds' worth.
    round();
    let budget = Duration::from_secs_f64(
        std::env::var("BENCH_PARSE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3.0),
    );
    let start = Instant::now();
    let mut rounds = 0usize;
    while rounds == 0 || start.elapsed() < budget {
        round();
        rounds += 1;
    }
    (rounds * messages.len()) as f64 / start.elapsed().as_secs_f64()
}

async fn prepare(store: &Store) {
    store.migrate().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.upsert::<AliasDomain>(&AliasDomainInput {
        name: "bench.test".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    tx.upsert::<Alias>(&AliasInput {
        alias_name: "sales".into(),
        alias_domain: Some("bench.test".into()),
        model: "crm.lead".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // The rate limit is for real senders, not for a benchmark.
    tx.set_param("mail.gateway.loop.threshold", "1000000000")
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// `accept` of every message by `callers` concurrent tasks; messages per second.
async fn accept_rate(gateway: &Gateway, messages: Vec<Vec<u8>>, callers: usize) -> f64 {
    let total = messages.len();
    let chunks: Vec<Vec<Vec<u8>>> = {
        let mut c: Vec<Vec<Vec<u8>>> = (0..callers).map(|_| Vec::new()).collect();
        for (i, m) in messages.into_iter().enumerate() {
            c[i % callers].push(m);
        }
        c
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let g = gateway.clone();
        tasks.push(tokio::spawn(async move {
            // Some templates have fixed recipients: the envelope names the alias, as an MTA would.
            let received = Received {
                envelope: Envelope {
                    rcpt_to: vec!["sales@bench.test".into()],
                    ..Default::default()
                },
                ..Default::default()
            };
            for raw in chunk {
                let o = g.accept(&raw, &received).await.expect("accept");
                assert!(
                    !o.message_ids.is_empty() || o.bounce.is_some(),
                    "{:?}",
                    o.trace
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Time of `explain` for a reply to the newest message of a record holding `n` messages (the
/// best mean of five rounds of 200, after a warm-up round).
async fn reply_cost(store: &Store, gateway: &Gateway, n: i64) -> Duration {
    let mut tx = store.begin().await.unwrap();
    let first = corpus(1, "sales@bench.test", &format!("scale{n}"));
    drop(tx);
    let outcome = gateway
        .accept(&first[0], &Received::default())
        .await
        .unwrap();
    let record = outcome.routes[0].record_id.unwrap();
    tx = store.begin().await.unwrap();
    tx.seed_messages_for_bench(record, n).await.unwrap();
    tx.commit().await.unwrap();
    let reply = format!(
        "From: a@customer.test\r\nTo: nobody@bench.test\r\nSubject: Re\r\nMessage-ID: <reply.{n}@bench.test>\r\n\
         In-Reply-To: <seed-{record}-{n}@bench.invalid>\r\nReferences: <seed-{record}-1@bench.invalid> <seed-{record}-{n}@bench.invalid>\r\n\r\nreply\r\n"
    );
    // A warm-up round (the seeding just wrote a million rows), then the best of five rounds:
    // the figure is the cost of the lookups, not of whatever else the machine did meanwhile.
    let round = |runs: u32| {
        let reply = reply.clone();
        async move {
            let start = Instant::now();
            for _ in 0..runs {
                let o = gateway
                    .explain(reply.as_bytes(), &Received::default())
                    .await
                    .unwrap();
                assert_eq!(o.routes[0].record_id, Some(record));
            }
            start.elapsed() / runs
        }
    };
    round(100).await;
    let mut best = Duration::MAX;
    for _ in 0..5 {
        best = best.min(round(200).await);
    }
    best
}

fn row(name: &str, value: String) {
    println!("| {name} | {value} |");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let callers: usize = std::env::var("BENCH_CALLERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    println!("| measure | result |\n|---|---|");
    let sample = corpus(TEMPLATES.len() * 50, "sales@bench.test", "pd");
    row(
        "parse + decide, one core (msg/s)",
        format!("{:.0}", parse_and_decide(&sample, false)),
    );
    row(
        "parse + decide + body (HTML cleaned), one core (msg/s)",
        format!("{:.0}", parse_and_decide(&sample, true)),
    );
    if std::env::var_os("BENCH_PARSE_ONLY").is_some() {
        return;
    }
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/bench.db", dir.path().display()))
            .await
            .unwrap();
        prepare(&store).await;
        let gateway = Gateway::new(store.clone(), "bench.test");
        let rate = accept_rate(&gateway, corpus(n, "sales@bench.test", "sq1"), 1).await;
        row(
            &format!("accept, SQLite, 1 caller, {n} msgs (msg/s)"),
            format!("{rate:.0}"),
        );
        let rate = accept_rate(&gateway, corpus(n, "sales@bench.test", "sqn"), callers).await;
        row(
            &format!("accept, SQLite, {callers} callers, {n} msgs (msg/s)"),
            format!("{rate:.0}"),
        );
        let small = reply_cost(&store, &gateway, 1_000).await;
        let large = reply_cost(&store, &gateway, 1_000_000).await;
        row(
            "route a reply, SQLite, record with 1,000 messages",
            format!("{small:?}"),
        );
        row(
            "route a reply, SQLite, record with 1,000,000 messages",
            format!("{large:?}"),
        );

        let admin = std::env::var("POSTERN_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        match Store::open(&admin).await {
            Ok(a) => {
                let name = format!("postern_bench_{}", std::process::id());
                a.create_database_for_tests(&name).await.unwrap();
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
                let pg = Store::open(&format!("{base}/{name}")).await.unwrap();
                prepare(&pg).await;
                let g = Gateway::new(pg.clone(), "bench.test");
                let rate = accept_rate(&g, corpus(n, "sales@bench.test", "pg1"), 1).await;
                row(
                    &format!("accept, PostgreSQL, 1 caller, {n} msgs (msg/s)"),
                    format!("{rate:.0}"),
                );
                let rate = accept_rate(&g, corpus(n, "sales@bench.test", "pgn"), callers).await;
                row(
                    &format!("accept, PostgreSQL, {callers} callers, {n} msgs (msg/s)"),
                    format!("{rate:.0}"),
                );
                let small = reply_cost(&pg, &g, 1_000).await;
                let large = reply_cost(&pg, &g, 1_000_000).await;
                row(
                    "route a reply, PostgreSQL, record with 1,000 messages",
                    format!("{small:?}"),
                );
                row(
                    "route a reply, PostgreSQL, record with 1,000,000 messages",
                    format!("{large:?}"),
                );
                pg.close().await;
                a.drop_database_for_tests(&name).await.unwrap();
                a.close().await;
            }
            Err(e) => row("PostgreSQL", format!("not measured: {e}")),
        }
    });
}
