//! The golden cases: every file `tests/cases/*.toml` (at the root of the workspace) is one case
//! from the behaviour reference's test catalogue (`odoo-cases.md`), run end to end through the
//! real binary: `postern apply` of the case's configuration, then `postern ingest` of each step's
//! message (a raw template of `crates/mime/tests/templates/` filled with the step's values), the
//! outcome JSON (`--json`: printed whatever the exit code) and exit code compared with what the step expects, then the database checked.
//!
//! A case file:
//! ```toml
//! reference = "odoo-cases.md 49 write_to_catchall"
//! fixture = "gateway"          # tests/cases/fixtures/gateway.toml, applied first
//! config = """ ...TOML... """   # optional, applied after the fixture
//! [[steps]]
//! template = "MAIL_TEMPLATE"
//! vars = { to = "catchall.test@test.mycompany.com", subject = "Should Bounce" }
//! rcpt = ["..."]                # envelope recipients (optional)
//! model = "..."                 # fallback model (optional)
//! exit = 0                      # expected exit code (default 0)
//! [steps.expect]                # a subset of the outcome JSON
//! outcome = "catchall_refused"
//! sent = [{ kind = "catchall_bounce", to = "whatever-2a840@postmaster.twitter.com" }]
//! [steps.check]                 # database checks after the step (see `Check`)
//! ```
//! TOML has no null: `"<null>"` expects one. Where Postern deliberately differs from the
//! reference, the case says why in `differs`.

use postern_store::{PageRequest, RecordFilter, Store};
use postern_testkit::{database, drop_database, templates};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_postern");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    reference: String,
    #[serde(default)]
    differs: Option<String>,
    #[serde(default)]
    fixture: Option<String>,
    #[serde(default)]
    config: Option<String>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    rcpt: Vec<String>,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    exit: Option<i32>,
    #[serde(default)]
    expect: Option<Value>,
    #[serde(default)]
    check: Option<Check>,
}

/// Database checks after a step.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Check {
    /// Number of records of a model: `{ "mail.test.gateway" = 1 }`.
    #[serde(default)]
    records: BTreeMap<String, usize>,
    /// The newest record of `model` has these fields (subset of the API's record JSON).
    #[serde(default)]
    record: Option<Value>,
    /// Messages on the record named `name`: `{ name = "Test", count = 2 }`.
    #[serde(default)]
    thread: Option<ThreadCheck>,
    /// Mails in the outbox, by kind: `{ catchall_bounce = 1 }`.
    #[serde(default)]
    mails: BTreeMap<String, usize>,
    /// The newest mail of the outbox has these fields (subset of the API's mail JSON);
    /// `body_contains` checks the HTML body.
    #[serde(default)]
    last_mail: Option<Value>,
    /// Alias status by full name.
    #[serde(default)]
    alias_status: BTreeMap<String, String>,
    /// Bounce counters of partners by e-mail and of records by name.
    #[serde(default)]
    partner_bounce: BTreeMap<String, i64>,
    #[serde(default)]
    record_bounce: BTreeMap<String, i64>,
    /// Followers (partner e-mails) of the record named by key.
    #[serde(default)]
    followers: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThreadCheck {
    name: String,
    count: usize,
    /// The newest message has these fields (subset of the API's message JSON); `body_contains`
    /// and `body_lacks` (a string or a list) check the body.
    #[serde(default)]
    last: Option<Value>,
}

fn message_bytes(step: &Step, n: usize) -> Vec<u8> {
    let mut vars: BTreeMap<&str, &str> = templates::ODOO_DEFAULTS.iter().copied().collect();
    vars.extend([("charset", "utf-8"), ("content", "")]);
    // Each step gets its own Message-ID unless the case gives one.
    let msg_id = format!("<step{n}.{}-test@iron.sky>", std::process::id());
    vars.insert("msg_id", &msg_id);
    vars.extend(step.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Some(raw) = &step.raw {
        return templates::format(raw, |k| vars.get(k).copied()).into_bytes();
    }
    let name = step
        .template
        .as_deref()
        .expect("a step needs `template` or `raw`");
    templates::render(name, &vars)
}

/// `expected` is a subset of `actual`: objects by key, arrays element by element (same length).
fn assert_subset(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                if k == "body_contains" || k == "body_lacks" {
                    let body = a.get("body_html").and_then(Value::as_str).unwrap_or("");
                    // One string or a list of them.
                    let wanted: Vec<&str> = match v {
                        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                        v => vec![v.as_str().unwrap()],
                    };
                    for want in wanted {
                        assert_eq!(
                            body.contains(want),
                            k == "body_contains",
                            "{path}.body_html, {k} {want:?}: {body}"
                        );
                    }
                    continue;
                }
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} missing in {actual}"));
                assert_subset(v, av, &format!("{path}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(
                e.len(),
                a.len(),
                "{path}: expected {expected}, got {actual}"
            );
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                assert_subset(ev, av, &format!("{path}[{i}]"));
            }
        }
        // TOML has no null: the string "<null>" expects one.
        (Value::String(e), _) if e == "<null>" => {
            assert!(actual.is_null(), "{path}: expected null, got {actual}")
        }
        // Postern's Reply-To carries a signed reply token (`catchall+<token>@`) where the
        // reference has the bare address: the rest must be the reference's.
        (Value::String(e), Value::String(a)) if a.contains('+') && !e.contains('+') => {
            assert_eq!(e, &without_reply_token(a), "{path} (reply token aside)")
        }
        _ => assert_eq!(expected, actual, "{path}"),
    }
}

/// `a` without the reply tokens of its addresses (`+<base 36>-<16 hex>` before an `@`).
fn without_reply_token(a: &str) -> String {
    let mut out = String::with_capacity(a.len());
    let mut rest = a;
    while let Some(plus) = rest.find('+') {
        out.push_str(&rest[..plus]);
        let after = &rest[plus + 1..];
        let tag_end = after.find('@').unwrap_or(after.len());
        if postern_model::token::id_of(&after[..tag_end]).is_some() {
            rest = &after[tag_end..];
        } else {
            out.push('+');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Runs `postern ARGS --data-dir DATA` on the database `db`, with `stdin`.
fn postern(args: &[&str], data: &Path, db: &str, stdin: Option<&[u8]>) -> (i32, String, String) {
    postern_testkit::run(
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .env("POSTERN_DATABASE_URL", db)
            .env("POSTERN_HOSTNAME", "postern.test"),
        stdin,
    )
}

fn apply_text(data: &Path, db: &str, name: &str, text: &str) {
    let file = data.join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let (code, out, err) = postern(&["apply", file.to_str().unwrap()], data, db, None);
    assert_eq!(code, 0, "apply {name}: {out}{err}");
}

async fn run_checks(store: &Store, check: &Check, label: &str) {
    let mut tx = store.read().await.unwrap();
    for (model, count) in &check.records {
        let filter = RecordFilter {
            model: Some(model.clone()),
            ..Default::default()
        };
        let n = tx
            .list_records(&filter, PageRequest::all())
            .await
            .unwrap()
            .items
            .len();
        assert_eq!(n, *count, "{label}: records of {model}");
    }
    if let Some(expect) = &check.record {
        let model = expect["model"]
            .as_str()
            .expect("check.record needs model")
            .to_owned();
        let filter = RecordFilter {
            model: Some(model),
            ..Default::default()
        };
        let last = tx
            .list_records(&filter, PageRequest::all())
            .await
            .unwrap()
            .items
            .pop()
            .expect("a record");
        assert_subset(
            expect,
            &serde_json::to_value(&last).unwrap(),
            &format!("{label}: record"),
        );
    }
    if let Some(t) = &check.thread {
        let record = record_named(&mut tx, &t.name).await;
        let messages = tx
            .record_messages(record, PageRequest::all())
            .await
            .unwrap()
            .items;
        assert_eq!(messages.len(), t.count, "{label}: messages on {}", t.name);
        if let Some(last) = &t.last {
            let m = tx.get_message(messages.last().unwrap().id).await.unwrap();
            assert_subset(
                last,
                &serde_json::to_value(&m).unwrap(),
                &format!("{label}: last message"),
            );
        }
    }
    let mails = tx.list_mails(None, PageRequest::all()).await.unwrap().items;
    for (kind, count) in &check.mails {
        let n = mails
            .iter()
            .filter(|m| m.kind.as_deref() == Some(kind))
            .count();
        assert_eq!(n, *count, "{label}: mails of kind {kind}");
    }
    if let Some(expect) = &check.last_mail {
        let last = mails.last().expect("a mail in the outbox");
        assert_subset(
            expect,
            &serde_json::to_value(last).unwrap(),
            &format!("{label}: last mail"),
        );
    }
    for (full, status) in &check.alias_status {
        let aliases = tx
            .list::<postern_store::Alias>(PageRequest::all())
            .await
            .unwrap()
            .items;
        let a = aliases
            .iter()
            .find(|a| a.full_name() == *full)
            .expect("alias");
        assert_eq!(a.status.as_str(), status, "{label}: status of {full}");
    }
    for (email, count) in &check.partner_bounce {
        let partners = tx
            .list::<postern_store::Partner>(PageRequest::all())
            .await
            .unwrap()
            .items;
        let p = partners
            .iter()
            .find(|p| p.email_normalized.as_deref() == Some(email))
            .expect("partner");
        assert_eq!(p.message_bounce, *count, "{label}: bounces of {email}");
    }
    for (name, count) in &check.record_bounce {
        let id = record_named(&mut tx, name).await;
        assert_eq!(
            tx.get_record(id).await.unwrap().message_bounce,
            *count,
            "{label}: bounces of record {name}"
        );
    }
    for (name, emails) in &check.followers {
        let id = record_named(&mut tx, name).await;
        let got: Vec<String> = tx
            .list_followers(id)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|f| f.email)
            .collect();
        assert_eq!(&got, emails, "{label}: followers of {name}");
    }
}

async fn record_named(tx: &mut postern_store::Tx, name: &str) -> postern_model::RecordId {
    let filter = RecordFilter {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    let items = tx
        .list_records(&filter, PageRequest::all())
        .await
        .unwrap()
        .items;
    items
        .first()
        .unwrap_or_else(|| panic!("no record named {name:?}"))
        .id
}

async fn run_case(path: &Path, postgres: bool) {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let case: Case = toml::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let db = database(data, postgres).await;
    let (code, out, err) = postern(&["migrate"], data, &db, None);
    assert_eq!(code, 0, "{name}: migrate: {out}{err}");
    if let Some(f) = &case.fixture {
        let text =
            std::fs::read_to_string(root().join(format!("tests/cases/fixtures/{f}.toml"))).unwrap();
        apply_text(data, &db, "fixture", &text);
    }
    if let Some(c) = &case.config {
        apply_text(data, &db, "config", c);
    }
    let store = Store::open(&db).await.unwrap();
    for (i, step) in case.steps.iter().enumerate() {
        let label = format!("{name} step {} ({})", i + 1, case.reference);
        let raw = message_bytes(step, i);
        let mut args: Vec<String> = vec!["ingest".into(), "--json".into()];
        for r in &step.rcpt {
            args.push("--rcpt".into());
            args.push(r.clone());
        }
        if let Some(s) = &step.sender {
            args.extend(["--sender".into(), s.clone()]);
        }
        if let Some(m) = &step.model {
            args.extend(["--model".into(), m.clone()]);
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = postern(&argv, data, &db, Some(&raw));
        assert_eq!(
            code,
            step.exit.unwrap_or(0),
            "{label}: exit code\nstdout: {out}\nstderr: {err}"
        );
        if let Some(expect) = &step.expect {
            let actual: Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{label}: {e}: {out}"));
            assert_subset(expect, &actual, &label);
        }
        if let Some(check) = &step.check {
            run_checks(&store, check, &label).await;
        }
    }
    store.close().await;
    drop_database(&db).await;
    if let Some(why) = case.differs {
        println!("{name}: differs from the reference on purpose: {why}");
    }
}

#[tokio::test]
async fn golden_cases_sqlite() {
    golden_cases(false).await;
}

#[tokio::test]
async fn golden_cases_postgres() {
    golden_cases(true).await;
}

async fn golden_cases(postgres: bool) {
    let dir = root().join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the golden cases in {}",
        dir.display()
    );
    let only = std::env::var("POSTERN_CASE").ok();
    let mut failed = Vec::new();
    let mut ran = 0;
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        ran += 1;
        // Each case in its own task so that one failure names itself and the others still run.
        let path = f.clone();
        let result = tokio::spawn(async move { run_case(&path, postgres).await }).await;
        match result {
            Ok(()) => println!("case {name}: ok"),
            Err(e) => {
                println!("case {name}: FAILED");
                failed.push((name, e));
            }
        }
    }
    // A filter that matches nothing is a mistake, not a pass.
    assert!(ran > 0, "POSTERN_CASE={only:?} matches no golden case");
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
        panic!(
            "{} golden case(s) failed: {}",
            failed.len(),
            names.join(", ")
        );
    }
}
