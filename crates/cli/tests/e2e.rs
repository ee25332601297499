//! End-to-end tests of the `postern` binary: `serve` over real HTTP on a loopback port, `apply`
//! and `migrate` as a user runs them, on SQLite and on PostgreSQL (the server of
//! `POSTERN_TEST_DATABASE_URL`, started by scripts/test.sh).

use postern_testkit::clients::swaks_with;
use postern_testkit::postfix::{SmtpSink, header};
use postern_testkit::{Serve, drop_database};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/example.toml");
const TOKEN: &str = "test-token-0123456789";

/// `serve` on `data_dir` with the test token and `envs`.
fn serve(data_dir: &Path, envs: &[(&str, &str)]) -> Serve {
    Serve::start(BIN, data_dir, TOKEN, envs, &[])
}

#[tokio::test]
async fn first_start_creates_data_dir_domain_company_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("postern-data");
    let mut server = Serve::start_without_token(BIN, &data, &[], &[]);
    assert!(data.join("postern.db").exists());
    let token = std::fs::read_to_string(data.join("api-token")).unwrap();
    let token = token.trim();
    assert_eq!(token.len(), 48);
    assert!(
        server.banner.iter().any(|l| l.contains(token)),
        "token printed at start"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("api-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "token file readable by others: {mode:o}");
    }
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let unauth = reqwest::get(server.url("/api/v1/alias-domains"))
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    let body: Value = unauth.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let domains: Value = server
        .http()
        .get(server.url("/api/v1/alias-domains"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(domains["items"][0]["name"], "localhost");
    assert_eq!(domains["items"][0]["catchall_email"], "catchall@localhost");
    let companies: Value = server
        .http()
        .get(server.url("/api/v1/companies"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(companies["items"][0]["alias_domain"], "localhost");
    // `ingest --url` (an MTA's pipe) finds the token in the data directory when its
    // environment has none.
    let eml = data.join("m.eml");
    std::fs::write(
        &eml,
        mail("sales@localhost", "By URL", "<url-1@customer.test>"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["ingest", "--url", &server.base, "--data-dir"])
        .arg(&data)
        .arg(&eml)
        .env_remove("POSTERN_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let outcome: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["outcome"], "routed");
    assert!(server.stop().success(), "clean exit on SIGTERM");
    // The second start reuses the token and creates nothing more.
    let server = Serve::start_without_token(BIN, &data, &[], &[]);
    assert!(server.banner.iter().any(|l| l.contains(token)));
    let (_, domains) = server
        .call(reqwest::Method::GET, "/api/v1/alias-domains", None)
        .await;
    assert_eq!(
        domains["error"]["code"], "unauthorized",
        "the test token is not the generated one"
    );
}

#[tokio::test]
async fn configuration_api_crud_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &[]);
    let (st, d) = s
        .post("/api/v1/alias-domains", json!({"name": "example.com"}))
        .await;
    assert_eq!(st, 201, "{d}");
    assert_eq!(d["bounce_email"], "bounce@example.com");
    let (st, a) = s
        .post(
            "/api/v1/aliases",
            json!({"alias_name": "Sales Team", "alias_domain": "example.com", "model": "crm.lead", "defaults": {"team": "direct"}}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["alias_name"], "sales-team");
    assert_eq!(a["alias_full_name"], "sales-team@example.com");
    assert_eq!(a["status"], "not_tested");
    let id = a["id"].as_i64().unwrap();

    // Bad input: each gets a 4xx with the error shape, and nothing changes.
    let (_, before) = s.get("/api/v1/aliases").await;
    let cases = [
        (
            json!({"alias_name": "x", "model": "crm.lead", "modle": 1}),
            422,
            "unknown field",
        ),
        (
            json!({"alias_name": 3, "model": "crm.lead"}),
            422,
            "invalid type",
        ),
        (
            json!({"alias_name": "x", "model": "crm.lead", "contact": "all"}),
            422,
            "unknown variant",
        ),
        (
            json!({"alias_name": "sales team", "alias_domain": "example.com", "model": "crm.lead"}),
            409,
            "already exists",
        ),
        (
            json!({"alias_name": "catchall", "alias_domain": "example.com", "model": "crm.lead"}),
            422,
            "catchall address",
        ),
        (
            json!({"alias_name": "bounce", "alias_domain": "example.com", "model": "crm.lead"}),
            422,
            "bounce address",
        ),
        (
            json!({"alias_name": "x", "alias_domain": "nowhere.test", "model": "crm.lead"}),
            422,
            "no alias domain",
        ),
    ];
    for (body, status, text) in cases {
        let (st, err) = s.post("/api/v1/aliases", body.clone()).await;
        assert_eq!(st, status, "{body} -> {err}");
        let msg = err["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(text), "{body} -> {msg}");
    }
    let raw = s
        .request(reqwest::Method::POST, "/api/v1/aliases")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let (_, after) = s.get("/api/v1/aliases").await;
    assert_eq!(before, after, "refused requests changed nothing");

    // PATCH merges; an unknown field is refused; null clears an optional field.
    let (st, p) = s
        .patch(
            &format!("/api/v1/aliases/{id}"),
            json!({"contact": "partners"}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(
        (p["contact"].as_str(), p["model"].as_str()),
        (Some("partners"), Some("crm.lead"))
    );
    let (st, _) = s
        .patch(&format!("/api/v1/aliases/{id}"), json!({"colour": "red"}))
        .await;
    assert_eq!(st, 422);
    let (st, _) = s
        .patch(
            &format!("/api/v1/aliases/{id}"),
            json!({"alias_name": "catchall"}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, _) = s.get("/api/v1/aliases/999999").await;
    assert_eq!(st, 404);
    let (st, _) = s.get("/api/v1/aliases/abc").await;
    assert_eq!(st, 400);
    let (st, e) = s.get("/api/v1/aliases?limit=0").await;
    assert_eq!(st, 422, "{e}");

    // Servers: the password is write-only.
    let (st, srv) = s
        .post(
            "/api/v1/outgoing-servers",
            json!({"name": "relay", "host": "127.0.0.1", "port": 2526, "username": "u", "password": "hunter2"}),
        )
        .await;
    assert_eq!(st, 201, "{srv}");
    assert_eq!(srv["has_password"], true);
    assert!(!srv.to_string().contains("hunter2"));
    let (_, list) = s.get("/api/v1/outgoing-servers").await;
    assert!(!list.to_string().contains("hunter2"));
    let (st, dup) = s
        .post(
            "/api/v1/outgoing-servers",
            json!({"name": "relay", "host": "h"}),
        )
        .await;
    assert_eq!(st, 409, "{dup}");

    // Params are sanitised on write.
    let (st, v) = s
        .call(
            reqwest::Method::PUT,
            "/api/v1/params/mail.catchall.domain.allowed",
            Some(json!({"value": "Hello.COM, bonjour.com"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["value"], "hello.com,bonjour.com");
    let (st, _) = s
        .call(
            reqwest::Method::PUT,
            "/api/v1/params/mail.catchall.domain.allowed",
            Some(json!({"value": ", ,"})),
        )
        .await;
    assert_eq!(st, 422);

    // Delete: refused while in use, then allowed.
    let did = d["id"].as_i64().unwrap();
    let (st, _) = s
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/alias-domains/{did}"),
            None,
        )
        .await;
    assert_eq!(st, 409);
    let (st, _) = s
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/aliases/{id}"),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/alias-domains/{did}"),
            None,
        )
        .await;
    assert_eq!(st, 204);
}

/// Runs `postern ARGS --data-dir DIR [--database-url URL]` with `stdin`.
fn postern_with(
    args: &[&str],
    data_dir: &Path,
    db: Option<&str>,
    stdin: Option<&[u8]>,
) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("POSTERN_DATABASE_URL");
    if let Some(url) = db {
        cmd.args(["--database-url", url]);
    }
    postern_testkit::run(&mut cmd, stdin)
}

fn postern(args: &[&str], data_dir: &Path, db: Option<&str>) -> (i32, String, String) {
    postern_with(args, data_dir, db, None)
}

const BROKEN: &str = r#"
[[alias_domains]]
name = "bad domain"
[[aliases]]
alias_name = "catchall"
alias_domain = "example.com"
model = "crm.lead"
[[aliases]]
alias_name = "x"
model = "Bad Model"
contact = "all"
[[companies]]
name = "C"
alias_domain = "nowhere.test"
[[outgoing_servers]]
name = "r"
host = "h"
prot = 25
"#;

fn apply_twice_then_broken(data: &Path, db: Option<&str>) {
    let (code, out1, err) = postern(&["apply", EXAMPLE], data, db);
    assert_eq!(code, 0, "{err}");
    assert!(out1.contains("aliases: 1 created"), "{out1}");
    let (code, out2, err) = postern(&["apply", EXAMPLE], data, db);
    assert_eq!(code, 0, "{err}");
    assert!(out2.contains("(no change)"), "{out2}");
    assert!(
        out2.contains("aliases: 0 created, 0 updated, 1 unchanged"),
        "{out2}"
    );

    let broken = data.join("broken.toml");
    std::fs::write(&broken, BROKEN).unwrap();
    let (code, _, err) = postern(&["apply", broken.to_str().unwrap()], data, db);
    assert_eq!(code, 78, "EX_CONFIG: {err}");
    for expected in [
        "alias_domains[0].name: `bad domain` is not a domain name",
        "aliases[0].alias_name: `catchall@example.com` is the catchall address",
        "aliases[1].contact: unknown variant `all`",
        "aliases[1].model: `Bad Model` is not a model name",
        "companies[0].alias_domain: no alias domain named `nowhere.test`",
        "outgoing_servers[0].prot: unknown field `prot`",
        "6 error(s)",
        "nothing was applied",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    // Nothing of the broken file was applied: the example applies with no change.
    let (_, out3, _) = postern(&["apply", EXAMPLE], data, db);
    assert!(out3.contains("(no change)"), "{out3}");
    assert!(!out3.contains("companies: 1 created"), "{out3}");
}

#[test]
fn apply_is_idempotent_and_lists_every_error_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    apply_twice_then_broken(dir.path(), None);
}

/// Runs `f` with the URL of a fresh PostgreSQL database, dropped afterwards (left behind, for
/// a look, when `f` panics).
fn with_postgres(f: impl FnOnce(&str)) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(postern_testkit::db::new_postgres_database());
    f(&url);
    rt.block_on(drop_database(&url));
}

#[test]
fn apply_is_idempotent_and_lists_every_error_postgres() {
    let dir = tempfile::tempdir().unwrap();
    with_postgres(|url| {
        let (code, out, err) = postern(&["migrate"], dir.path(), Some(url));
        assert_eq!(code, 0, "{out}{err}");
        apply_twice_then_broken(dir.path(), Some(url));
    });
    assert!(
        !dir.path().join("postern.db").exists(),
        "no SQLite file when PostgreSQL is used"
    );
}

#[test]
fn unreadable_config_and_bad_database_url() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = postern(&["apply", "/nonexistent/x.toml"], dir.path(), None);
    assert_eq!(code, 78, "{err}");
    let (code, _, err) = postern(&["migrate"], dir.path(), Some("mysql://x"));
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("unsupported database URL"), "{err}");
    let (code, _, err) = postern(
        &["migrate"],
        dir.path(),
        Some("postgres://postgres:pw@127.0.0.1:1/x"),
    );
    assert_eq!(
        code, 75,
        "a database that does not answer is temporary: {err}"
    );
    assert!(!err.contains(":pw@"), "password shown: {err}");
}

const SALES_CONFIG: &str = r#"
[[alias_domains]]
name = "example.com"
[[companies]]
name = "Example"
email = "info@example.com"
[[aliases]]
alias_name = "sales"
alias_domain = "example.com"
model = "crm.lead"
defaults = { team = "direct" }
"#;

fn mail(to: &str, subject: &str, message_id: &str) -> String {
    format!(
        "From: \"Sylvie\" <sylvie@customer.test>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\
         Date: Fri, 10 Aug 2012 14:16:26 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease call me.\r\n\
         --b\r\nContent-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\n\r\n\
         some notes\r\n--b--\r\n"
    )
}

fn ingest(data: &Path, db: Option<&str>, args: &[&str], input: &[u8]) -> (i32, String, String) {
    let args: Vec<&str> = ["ingest"].into_iter().chain(args.iter().copied()).collect();
    postern_with(&args, data, db, Some(input))
}

#[test]
fn ingest_pipe_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let cfg = data.join("c.toml");
    std::fs::write(&cfg, SALES_CONFIG).unwrap();
    assert_eq!(postern(&["apply", cfg.to_str().unwrap()], data, None).0, 0);
    let m = mail("sales@example.com", "Quote", "<q1@customer.test>");
    let (code, out, err) = ingest(data, None, &[], m.as_bytes());
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["outcome"], "routed");
    assert_eq!(v["routes"][0]["action"], "create");
    assert_eq!(v["routes"][0]["record_id"], 1);
    // The same message twice: stored once, exit 0 both times.
    let (code, out, _) = ingest(data, None, &[], m.as_bytes());
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["outcome"],
        "duplicate"
    );
    // The envelope recipient counts as a recipient (an MTA's ${recipient}).
    let (code, out, _) = ingest(
        data,
        None,
        &["--rcpt", "sales@example.com"],
        mail("someone@else.test", "Via envelope", "<q2@customer.test>").as_bytes(),
    );
    assert_eq!(code, 0, "{out}");
    // No route: 67, so that the MTA bounces. The MTA copies what the command printed into the
    // bounce, for a stranger: one line, status and reason, nothing of the trace.
    let lost = mail("nobody@example.com", "Lost", "<q3@customer.test>");
    let (code, out, err) = ingest(data, None, &[], lost.as_bytes());
    assert_eq!(code, 67);
    assert_eq!(out, "5.1.1 no such recipient\n");
    assert_eq!(err, "", "no log on a pipe's stderr unless it is a terminal");
    // --json: the outcome JSON, for scripts, whatever the exit code.
    let (code, out, _) = ingest(data, None, &["--json"], lost.as_bytes());
    assert_eq!(code, 67);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["outcome"],
        "no_route"
    );
    // --log-file: the details are for the admin, there.
    let log = data.join("ingest.log");
    let log_arg = format!("--log-file={}", log.display());
    let (code, out, _) = ingest(data, None, &[&log_arg], lost.as_bytes());
    assert_eq!((code, out.as_str()), (67, "5.1.1 no such recipient\n"));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("create an alias"), "{logged}");
    // Not a message: 65, kept raw with its error.
    let (code, out, err) = ingest(data, None, &[&log_arg], b"");
    assert_eq!(code, 65, "{err}");
    assert_eq!(out, "5.6.0 not an e-mail message\n");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("kept as raw message"), "{logged}");
    // A database that does not answer: 75, so that the MTA retries; its URL is not shown.
    let (code, out, err) = ingest(
        data,
        Some("postgres://postgres:hunter2@127.0.0.1:1/x"),
        &[&log_arg],
        m.as_bytes(),
    );
    assert_eq!(code, 75, "{err}");
    assert_eq!(out, "4.3.0 temporary failure, try again later\n");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("hunter2"));
    // Over max_message_size (1 MiB in this configuration, as a TOML integer): 65, the MTA
    // bounces at once rather than retrying for days.
    let small = data.join("small.toml");
    std::fs::write(&small, "[server]\nmax_message_size = 1048576\n").unwrap();
    let big = format!("{m}{}", "x".repeat(1 << 20));
    let config_arg = format!("--config={}", small.display());
    let (code, out, _) = ingest(data, None, &[&config_arg], big.as_bytes());
    assert_eq!((code, out.as_str()), (65, "5.3.4 message too large\n"));
    // route explain: the decision, nothing stored.
    let file = data.join("m.eml");
    std::fs::write(
        &file,
        mail("sales@example.com", "Explained", "<q4@customer.test>"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "route",
            "explain",
            file.to_str().unwrap(),
            "--json",
            "--data-dir",
        ])
        .arg(data)
        .env_remove("POSTERN_DATABASE_URL")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "routed");
    assert!(
        v["trace"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("alias sales@example.com"))
    );
    let (code, out, _) = ingest(data, None, &[file.to_str().unwrap()], b"");
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["outcome"],
        "routed",
        "explain stored nothing"
    );
}

#[tokio::test]
async fn http_ingest_and_the_read_side() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, SALES_CONFIG).unwrap();
    assert_eq!(
        postern(&["apply", cfg.to_str().unwrap()], dir.path(), None).0,
        0
    );
    let s = serve(dir.path(), &[]);
    let post_raw = |path: &str, body: String| {
        s.request(reqwest::Method::POST, path)
            .header("content-type", "message/rfc822")
            .body(body)
            .send()
    };
    // explain first: nothing is stored.
    let r = post_raw(
        "/api/v1/route/explain",
        mail("sales@example.com", "Quote", "<h1@customer.test>"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["outcome"], "routed");
    let (_, records) = s.get("/api/v1/records?model=crm.lead").await;
    assert_eq!(records["items"].as_array().unwrap().len(), 0);
    // ingest stores.
    let r = post_raw(
        "/api/v1/ingest",
        mail("sales@example.com", "Quote", "<h1@customer.test>"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let record = v["routes"][0]["record_id"].as_i64().unwrap();
    let message = v["message_ids"][0].as_i64().unwrap();
    let (_, rec) = s.get(&format!("/api/v1/records/{record}")).await;
    assert_eq!(rec["name"], "Quote");
    assert_eq!(rec["values"]["team"], "direct");
    assert_eq!(rec["email_from"], "\"Sylvie\" <sylvie@customer.test>");
    let (_, thread) = s.get(&format!("/api/v1/records/{record}/messages")).await;
    assert_eq!(thread["items"][0]["id"], message);
    let (_, m) = s.get(&format!("/api/v1/messages/{message}")).await;
    assert_eq!(m["message_id"], "<h1@customer.test>");
    assert!(m["body_html"].as_str().unwrap().contains("Please call me."));
    assert_eq!(m["attachments"][0]["filename"], "notes.txt");
    let url = m["attachments"][0]["url"].as_str().unwrap().to_owned();
    let att = s.request(reqwest::Method::GET, &url).send().await.unwrap();
    assert_eq!(att.status(), 200);
    assert_eq!(att.text().await.unwrap().trim(), "some notes");
    // Filters.
    let (_, by_from) = s
        .get("/api/v1/records?email_from=SYLVIE@customer.test")
        .await;
    assert_eq!(by_from["items"].as_array().unwrap().len(), 1);
    // Followers can be added and removed.
    let (st, p) = s
        .post(
            "/api/v1/partners",
            json!({"name": "Eva", "email": "eva@example.com", "user": true}),
        )
        .await;
    assert_eq!(st, 201);
    let pid = p["id"].as_i64().unwrap();
    let (st, f) = s
        .post(
            &format!("/api/v1/records/{record}/followers"),
            json!({"partner_id": pid}),
        )
        .await;
    assert_eq!(st, 201, "{f}");
    assert_eq!(f["items"][0]["partner_id"], pid);
    let (st, _) = s
        .post(
            &format!("/api/v1/records/{record}/followers"),
            json!({"partner_id": pid, "subtypes": ["gossip"]}),
        )
        .await;
    assert_eq!(st, 422);
    // A reply by a follower notifies nobody else; a reply from the customer notifies Eva (e-mail).
    let reply = mail("nobody@example.com", "Re: Quote", "<h2@customer.test>").replace(
        "Message-ID: <h2@customer.test>",
        "Message-ID: <h2@customer.test>\r\nIn-Reply-To: <h1@customer.test>",
    );
    let r = post_raw("/api/v1/ingest", reply).await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["routes"][0]["via"], "reply");
    let reply_id = v["message_ids"][0].as_i64().unwrap();
    let (_, m) = s.get(&format!("/api/v1/messages/{reply_id}")).await;
    assert_eq!(m["parent_id"], message);
    assert_eq!(m["notifications"][0]["partner_id"], pid);
    assert_eq!(m["notifications"][0]["status"], "ready");
    let (_, mails) = s.get("/api/v1/mail?state=outgoing").await;
    let notif = mails["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "notification")
        .unwrap()
        .clone();
    assert_eq!(notif["to"][0], "\"Eva\" <eva@example.com>");
    assert_eq!(notif["message_id"], "<h2@customer.test>");
    // No route: 422 with the outcome; not an e-mail: 400, kept and listed.
    let r = post_raw(
        "/api/v1/ingest",
        mail("nobody@example.com", "Lost", "<h3@customer.test>"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "no_route");
    let r = post_raw("/api/v1/ingest", String::new()).await.unwrap();
    assert_eq!(r.status(), 400);
    let (_, failed) = s.get("/api/v1/raw-messages?status=failed").await;
    assert_eq!(failed["items"].as_array().unwrap().len(), 1, "{failed}");
    assert!(
        failed["items"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not an e-mail")
    );
    // The envelope from the query string.
    let r = post_raw(
        "/api/v1/ingest?rcpt=sales%40example.com&sender=x%40y.test",
        mail("a@b.test", "Env", "<h4@customer.test>"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = post_raw(
        "/api/v1/ingest?colour=red",
        mail("a@b.test", "Env", "<h5@customer.test>"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn first_start_mail_by_smtp_becomes_a_record() {
    // The README's tour: serve, swaks to sales@localhost, the record in the API.
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &[]);
    let out = swaks_with(&[
        "--to",
        "sales@localhost",
        "--from",
        "customer@example.org",
        "--server",
        &s.smtp,
        "--header",
        "Subject: Hello from swaks",
        "--body",
        &"Order 42 has shipped.\n".repeat(100),
    ]);
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(transcript.contains("250 2.0.0"), "{transcript}");
    let (_, records) = s.get("/api/v1/records?model=crm.lead").await;
    assert_eq!(records["items"][0]["name"], "Hello from swaks", "{records}");
    // The raw original (stored packed: it shrinks) comes back whole, trace headers on top.
    let (_, raws) = s.get("/api/v1/raw-messages").await;
    let (id, size) = (&raws["items"][0]["id"], &raws["items"][0]["size"]);
    let (status, content) = s.get(&format!("/api/v1/raw-messages/{id}/content")).await;
    let content = content.as_str().unwrap_or_default();
    assert_eq!(status, 200);
    assert_eq!(Some(content.len() as u64), size.as_u64(), "{raws}");
    assert!(content.starts_with("Return-Path: <customer@example.org>\r\nReceived: from "));
    assert_eq!(content.matches("Order 42 has shipped.\r\n").count(), 100);
    // A relay attempt is refused at RCPT.
    let out = swaks_with(&["--to", "someone@elsewhere.test", "--server", &s.smtp]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("550 5.7.1"));
    // A mail to the catchall is refused after DATA: counted as a refusal.
    let out = swaks_with(&["--to", "catchall@localhost", "--server", &s.smtp]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("550 5.7.1"));
    // /metrics: Prometheus text, without a token.
    let r = reqwest::get(s.url("/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for line in [
        "postern_messages_accepted_total{source=\"smtp\",outcome=\"routed\"} 1",
        "postern_messages_accepted_total{source=\"smtp\",outcome=\"catchall_refused\"} 1",
        "postern_refusals_total{source=\"smtp\",outcome=\"catchall_refused\"} 1",
        "postern_accept_seconds_count{source=\"smtp\"} 2",
        "# HELP postern_messages_accepted_total",
        "# TYPE postern_accept_seconds histogram",
        "postern_commit_batch_size_count",
    ] {
        assert!(
            text.contains(line),
            "{line} is missing from /metrics:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Outbound (issue 5): Postfix's smtp-sink (installed by scripts/test.sh) as the relay.

fn outbound_config(port: u16) -> String {
    format!(
        r#"
[[alias_domains]]
name = "example.com"
[[companies]]
name = "Example"
email = "info@example.com"
alias_domain = "example.com"
[[aliases]]
alias_name = "sales"
alias_domain = "example.com"
model = "crm.lead"
[[partners]]
name = "Ines Inbox"
email = "ines@example.com"
user = true
notification = "inbox"
[[partners]]
name = "Eva Employee"
email = "eva@example.com"
user = true
notification = "email"
[[partners]]
name = "Alice Author"
email = "alice@example.com"
user = true
[[partners]]
name = "Robert Customer"
email = "robert@customer.example"
[[outgoing_servers]]
name = "sink"
host = "127.0.0.1"
port = {port}
from_filter = "example.com"
"#
    )
}

/// The envelope sender is a VERP return path of the bounce address: `bounce+<token>@`.
fn assert_verp(m: &str) {
    // `<address>` and the parameters (`RET=HDRS`: the sink offers DSN).
    let args = header(m, "X-Mail-Args").unwrap_or_default();
    let from = args.split(' ').next().unwrap_or_default();
    // The relay offers DSN (RFC 3461): a failure report returns the headers only, and names
    // the recipient as Postern gave it.
    assert!(args.ends_with(" RET=HDRS"), "{m}");
    let rcpt = header(m, "X-Rcpt-Args").unwrap_or_default();
    assert!(rcpt.contains(" NOTIFY=FAILURE,DELAY ORCPT=rfc822;"), "{m}");
    assert!(
        from.starts_with("<bounce+") && from.ends_with("@example.com>") && from.len() < 50,
        "envelope: a VERP return path of the bounce address\n{m}"
    );
}

async fn wait_outbox_empty(s: &Serve, seconds: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let (_, out) = s.get("/api/v1/mail?state=outgoing").await;
        if out["items"].as_array().is_some_and(|a| a.is_empty()) {
            return;
        }
        assert!(Instant::now() < deadline, "the outbox did not drain: {out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn three_followers_get_what_the_reference_says_and_a_reply_threads_back() {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("postern.toml");
    std::fs::write(&cfg, outbound_config(sink.port)).unwrap();
    let (code, _, err) = postern(&["apply", cfg.to_str().unwrap()], dir.path(), None);
    assert_eq!(code, 0, "{err}");
    // Robert writes to sales@: a record, Robert its follower (a known author).
    let first = "From: \"Robert Customer\" <robert@customer.example>\r\nTo: sales@example.com\r\n\
                 Subject: Need a quote\r\nMessage-ID: <q1@customer.example>\r\n\r\nHello\r\n";
    let (code, out, err) = ingest(
        dir.path(),
        None,
        &["--rcpt", "sales@example.com"],
        first.as_bytes(),
    );
    assert_eq!(code, 0, "{out}{err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    let record = outcome["routes"][0]["record_id"].as_i64().unwrap();

    let envs = [("POSTERN_DELIVERY_POLL_MS", "50")];
    let s = serve(dir.path(), &envs);
    let (_, partners) = s.get("/api/v1/partners").await;
    let id_of = |name: &str| {
        partners["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    for p in ["Ines Inbox", "Eva Employee"] {
        let (st, body) = s
            .post(
                &format!("/api/v1/records/{record}/followers"),
                json!({"partner_id": id_of(p)}),
            )
            .await;
        assert!(st == 200 || st == 201, "{st} {body}");
    }
    let (st, posted) = s
        .post(
            &format!("/api/v1/records/{record}/messages"),
            json!({"author_partner_id": id_of("Alice Author"), "subject": "Our offer", "body_html": "<p>Our <b>offer</b></p>"}),
        )
        .await;
    assert_eq!(st, 201, "{posted}");
    let rfc_id = posted["message_id"].as_str().unwrap().to_owned();
    assert!(
        rfc_id.contains(&format!("-postern-{record}-crm.lead@")),
        "{rfc_id}"
    );
    wait_outbox_empty(&s, 20).await;

    let got = sink.messages();
    assert_eq!(
        got.len(),
        2,
        "one e-mail each to Eva and Robert, none to Ines (inbox): {got:#?}"
    );
    let to = |addr: &str| {
        got.iter()
            .find(|m| header(m, "X-Rcpt-Args").is_some_and(|r| r.starts_with(&format!("<{addr}>"))))
            .unwrap()
    };
    let (eva, robert) = (to("eva@example.com"), to("robert@customer.example"));
    for m in [eva, robert] {
        assert_verp(m);
        assert_eq!(
            header(m, "From").as_deref(),
            Some("\"Alice Author\" <alice@example.com>"),
            "{m}"
        );
        let reply_to = header(m, "Reply-To").unwrap_or_default();
        assert!(
            reply_to.starts_with("\"Example Need a quote\" <catchall+")
                && reply_to.ends_with("@example.com>"),
            "the catchall with a reply token: {m}"
        );
        assert_eq!(
            header(m, "Return-Path").as_deref(),
            Some("<bounce@example.com>"),
            "{m}"
        );
        assert_eq!(
            header(m, "Message-ID").as_deref(),
            Some(rfc_id.as_str()),
            "{m}"
        );
        assert_eq!(
            header(m, "X-Postern-Message-Id").as_deref(),
            Some(rfc_id.as_str()),
            "{m}"
        );
        assert!(header(m, "References").unwrap().ends_with(&rfc_id), "{m}");
    }
    assert!(
        header(eva, "To")
            .unwrap()
            .contains("robert@customer.example"),
        "Reply-All reaches the customer (X-Msg-To-Add)\n{eva}"
    );
    assert!(!header(robert, "To").unwrap().contains("eva@"), "{robert}");
    let (_, message) = s.get(&format!("/api/v1/messages/{}", posted["id"])).await;
    let statuses: Vec<(i64, String, String)> = message["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["partner_id"].as_i64().unwrap(),
                n["notification_type"].as_str().unwrap().to_owned(),
                n["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (p, kind) in [
        ("Ines Inbox", "inbox"),
        ("Eva Employee", "email"),
        ("Robert Customer", "email"),
    ] {
        assert!(
            statuses.contains(&(id_of(p), kind.to_owned(), "sent".to_owned())),
            "{p}: {statuses:?}"
        );
    }
    drop(s);

    // Robert answers the e-mail he got: the reply lands on the same record.
    let reply = format!(
        "From: \"Robert Customer\" <robert@customer.example>\r\nTo: catchall@example.com\r\nSubject: Re: Our offer\r\n\
         Message-ID: <r1@customer.example>\r\nIn-Reply-To: {rfc_id}\r\nReferences: {rfc_id}\r\n\r\nDeal.\r\n"
    );
    let (code, out, err) = ingest(
        dir.path(),
        None,
        &["--rcpt", "catchall@example.com"],
        reply.as_bytes(),
    );
    assert_eq!(code, 0, "{out}{err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        outcome["routes"][0]["record_id"].as_i64(),
        Some(record),
        "{outcome}"
    );
    assert_eq!(outcome["routes"][0]["via"], "reply", "{outcome}");

    // The gateway queued the followers' notifications of the reply, and a mail written straight
    // to the catchall gets its bounce: the runner sends what the gateway stored.
    let direct = "From: stranger@elsewhere.example\r\nTo: catchall@example.com\r\nSubject: Hi\r\n\
                  Message-ID: <d1@elsewhere.example>\r\n\r\nHello?\r\n";
    let (code, out, err) = ingest(
        dir.path(),
        None,
        &["--rcpt", "catchall@example.com"],
        direct.as_bytes(),
    );
    assert_eq!(code, 0, "{out}{err}");
    let s = serve(dir.path(), &envs);
    wait_outbox_empty(&s, 20).await;
    let got = sink.messages();
    let eva = got
        .iter()
        .find(|m| {
            header(m, "X-Rcpt-Args").is_some_and(|r| r.starts_with("<eva@example.com>"))
                && m.contains("Deal.")
        })
        .unwrap_or_else(|| panic!("no notification of the reply for Eva: {got:#?}"));
    assert_eq!(
        header(eva, "From").as_deref(),
        Some("\"Robert Customer\" <notifications@example.com>"),
        "a customer's From is sent as the notifications address (§9.5)\n{eva}"
    );
    assert_verp(eva);
    assert_eq!(
        header(eva, "Message-ID").as_deref(),
        Some("<r1@customer.example>"),
        "{eva}"
    );
    let bounce = got
        .iter()
        .find(|m| {
            header(m, "X-Rcpt-Args").is_some_and(|r| r.starts_with("<stranger@elsewhere.example>"))
        })
        .unwrap_or_else(|| panic!("no catchall bounce: {got:#?}"));
    assert_eq!(
        header(bounce, "X-Mail-Args").as_deref(),
        Some("<>"),
        "null sender\n{bounce}"
    );
    assert!(
        header(bounce, "Message-ID")
            .unwrap()
            .contains("-loop-detection-bounce-email@"),
        "{bounce}"
    );
}

/// Queues `n` mails straight into the store (as a busy application would have).
fn queue_mails(db: &str, n: usize) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = postern_store::Store::open(db).await.unwrap();
        store.migrate().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let id = format!("<kill{i}.1-postern-private@postern.test>");
            tx.insert_mail(&postern_store::NewMail {
                stream: postern_model::MailStream::Transactional,
                rfc_message_id: id.clone(),
                email_from: "app@example.com".into(),
                email_to: vec![format!("user{i}@customer.example")],
                subject: format!("mail {i}"),
                body_text: Some("hello".into()),
                headers: json!({}),
                ..Default::default()
            })
            .await
            .unwrap();
            ids.push(id);
        }
        tx.commit().await.unwrap();
        store.close().await;
        ids
    })
}

fn killed_mid_batch_then_restarted(db: Option<&str>) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("postern.toml");
    std::fs::write(&cfg, outbound_config(sink.port)).unwrap();
    let (code, _, err) = postern(&["apply", cfg.to_str().unwrap()], dir.path(), db);
    assert_eq!(code, 0, "{err}");
    let url = db
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}/postern.db", dir.path().display()));
    let ids = queue_mails(&url, 3000);
    let envs = [
        ("POSTERN_DELIVERY_LEASE_SECONDS", "2"),
        ("POSTERN_DELIVERY_BATCH", "300"),
        ("POSTERN_DELIVERY_POLL_MS", "100"),
        ("POSTERN_DATABASE_URL", url.as_str()),
    ];
    let mut s = serve(dir.path(), &envs);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.messages().len() < 200 {
        assert!(Instant::now() < deadline, "nothing delivered");
        std::thread::sleep(Duration::from_millis(5));
    }
    s.kill(); // SIGKILL: no chance to finish anything
    let at_kill = sink.messages().len();
    assert!(
        at_kill < ids.len(),
        "killed after the end ({at_kill}); the test proves nothing"
    );
    let s = serve(dir.path(), &envs);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(wait_outbox_empty(&s, 60));
    let got = sink.messages();
    let mut seen = std::collections::HashMap::new();
    for m in &got {
        *seen
            .entry(header(m, "Message-ID").unwrap_or_default())
            .or_insert(0) += 1;
    }
    let lost: Vec<&String> = ids.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} mails lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    let (_, sent) = rt.block_on(s.get("/api/v1/mail?state=sent&limit=1000"));
    assert_eq!(sent["items"].as_array().unwrap().len(), 1000);
    eprintln!(
        "killed after {at_kill} of {} deliveries; after restart every mail delivered, {} sent twice (at least once)",
        ids.len(),
        got.len() - ids.len()
    );
}

#[test]
fn killed_mid_batch_then_restarted_delivers_every_mail_sqlite() {
    killed_mid_batch_then_restarted(None);
}

#[test]
fn killed_mid_batch_then_restarted_delivers_every_mail_postgres() {
    with_postgres(|url| killed_mid_batch_then_restarted(Some(url)));
}

#[tokio::test]
async fn mail_api_failures_queue_and_server_test() {
    let sink = SmtpSink::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("postern.toml");
    // Everything goes through a server nobody listens on; failures are given up at once.
    std::fs::write(&cfg, outbound_config(dead)).unwrap();
    let (code, _, err) = postern(&["apply", cfg.to_str().unwrap()], dir.path(), None);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = postern(
        &["server", "test", "sink", "--timeout", "3"],
        dir.path(),
        None,
    );
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("could not connect to 127.0.0.1:"), "{err}");

    let envs = [
        ("POSTERN_DELIVERY_POLL_MS", "50"),
        ("POSTERN_DELIVERY_MAX_AGE_MINUTES", "0"),
    ];
    let s = serve(dir.path(), &envs);
    let (st, bad) = s
        .post("/api/v1/mail", json!({"to": [], "subject": "x"}))
        .await;
    assert_eq!(
        (st, bad["error"]["code"].as_str()),
        (422, Some("invalid")),
        "{bad}"
    );
    let (st, bad) = s
        .post(
            "/api/v1/mail",
            json!({"to": ["a@b.example"], "scheduled_date": "soon"}),
        )
        .await;
    assert_eq!(st, 422, "{bad}");
    let (st, mail) = s
        .post(
            "/api/v1/mail",
            json!({"to": ["\"Zoé\" <zoe@customer.example>"], "subject": "Invoice", "body_html": "<p>Invoice</p>",
                   "headers": {"X-Invoice": "42"}, "attachments": [{"filename": "i.txt", "content": "aGVsbG8="}],
                   "scheduled_date": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(st, 201, "{mail}");
    assert_eq!(mail["state"], "outgoing");
    assert_eq!(
        mail["from"], "notifications@example.com",
        "the default From of the alias domain"
    );
    let id = mail["id"].as_i64().unwrap();
    // A follower's notification fails too: the red envelope.
    let first = "From: robert@customer.example\r\nTo: sales@example.com\r\nSubject: Hi\r\nMessage-ID: <f1@customer.example>\r\n\r\nx\r\n";
    let (_, out, _) = ingest(
        dir.path(),
        None,
        &["--rcpt", "sales@example.com"],
        first.as_bytes(),
    );
    let record = serde_json::from_str::<Value>(&out).unwrap()["routes"][0]["record_id"]
        .as_i64()
        .unwrap();
    let (st, posted) = s
        .post(
            &format!("/api/v1/records/{record}/messages"),
            json!({"body_text": "Noted"}),
        )
        .await;
    assert_eq!(st, 201, "{posted}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let failures = loop {
        let (_, f) = s.get("/api/v1/failures").await;
        let (_, m) = s.get(&format!("/api/v1/mail/{id}")).await;
        if m["state"] == "exception" && f["items"].as_array().is_some_and(|a| !a.is_empty()) {
            assert_eq!(m["failure_type"], "mail_smtp", "{m}");
            break f;
        }
        assert!(Instant::now() < deadline, "no failure recorded: {m} {f}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let n = &failures["items"][0]["notifications"][0];
    assert_eq!(
        (n["status"].as_str(), n["failure_type"].as_str()),
        (Some("exception"), Some("mail_smtp")),
        "{failures}"
    );

    // The operator fixes the server and retries from the command line.
    std::fs::write(&cfg, outbound_config(sink.port)).unwrap();
    let (code, _, err) = postern(&["apply", cfg.to_str().unwrap()], dir.path(), None);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = postern(&["server", "test", "sink"], dir.path(), None);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Connection Test Successful!"), "{out}");
    let (st, t) = s.post("/api/v1/outgoing-servers/1/test", json!({})).await;
    assert_eq!((st, t["ok"].as_bool()), (200, Some(true)), "{t}");
    let (code, out, _) = postern(&["queue", "list", "--state", "exception"], dir.path(), None);
    assert_eq!(code, 0);
    assert!(
        out.contains("zoe@customer.example") && out.contains("[mail_smtp]"),
        "{out}"
    );
    let (code, out, err) = postern(&["queue", "retry", &id.to_string()], dir.path(), None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("queued again"));
    wait_outbox_empty(&s, 20).await;
    let got = sink.messages();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].contains("X-Invoice: 42") && got[0].contains("filename=\"i.txt\""),
        "{}",
        got[0]
    );
    let (_, rcpts) = s.get(&format!("/api/v1/mail/{id}/recipients")).await;
    assert_eq!(
        rcpts["items"][0]["address"], "zoe@customer.example",
        "{rcpts}"
    );
    assert_eq!(rcpts["items"][0]["status"], "sent", "{rcpts}");
    let (code, _, err) = postern(&["queue", "cancel", &id.to_string()], dir.path(), None);
    assert_eq!(code, 65, "a sent mail cannot be cancelled: {err}");
    let (code, _, err) = postern(&["queue", "retry", "999999"], dir.path(), None);
    assert_eq!(code, 66, "no such mail: {err}");
    let (code, out, _) = postern(&["queue", "list", "--json"], dir.path(), None);
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(&out).unwrap();
    let created = listed[0]["created_at"].as_str().unwrap_or_default();
    assert!(
        created.len() == 24 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "RFC 3339 times, as in the API: {out}"
    );
    assert_eq!(listed[0]["scheduled_date"], "2020-01-01T00:00:00.000Z");
    let (code, out, _) = postern(&["queue", "list"], dir.path(), None);
    assert_eq!(code, 0);
    assert!(out.contains("1 sent"), "{out}");
}

#[test]
fn apply_warns_about_port_25() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[[outgoing_servers]]\nname = \"relay\"\nhost = \"127.0.0.1\"\n[[outgoing_servers]]\nname = \"tls\"\nhost = \"127.0.0.1\"\nencryption = \"ssl\"\n",
    )
    .unwrap();
    let (code, _, err) = postern(&["apply", cfg.to_str().unwrap()], dir.path(), None);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("outgoing server `relay` uses port 25"),
        "{err}"
    );
    assert!(!err.contains("`tls`"), "465 is fine: {err}");
}

// ---------------------------------------------------------------------------------------------
// Running behind an MTA (issue 12).

#[tokio::test]
async fn api_errors_are_json_and_a_message_too_large_bounces() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("postern.toml");
    // A size in bytes, as a TOML integer.
    std::fs::write(
        &cfg,
        "[server]\nmax_message_size = 1048576\n[[alias_domains]]\nname = \"example.com\"\n\
         [[aliases]]\nalias_name = \"help\"\nalias_domain = \"example.com\"\nmodel = \"helpdesk.ticket\"\n",
    )
    .unwrap();
    let config = format!("--config={}", cfg.display());
    let s = Serve::start(BIN, dir.path(), TOKEN, &[], &[&config]);
    // The banner suggests an alias that exists.
    assert!(
        s.banner
            .iter()
            .any(|l| l.contains("swaks --to help@example.com --server")),
        "{:?}",
        s.banner
    );
    let big = format!(
        "{}{}",
        mail("help@example.com", "Big", "<big@customer.test>"),
        "x".repeat(1 << 20)
    );
    let r = s
        .request(reqwest::Method::POST, "/api/v1/ingest")
        .header("content-type", "message/rfc822")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large", "{body}");
    // `ingest --url` turns it into 65: the MTA bounces instead of retrying for days.
    let (code, out, _) = postern_testkit::run(
        Command::new(BIN)
            .args(["ingest", "--url", &s.base, "--rcpt", "help@example.com"])
            .env("POSTERN_API_TOKEN", TOKEN),
        Some(big.as_bytes()),
    );
    assert_eq!(code, 65);
    assert_eq!(out, "5.3.4 message too large\n");
    // A wrong method, an unknown path: the JSON error shape.
    let r = s
        .request(reqwest::Method::PUT, "/api/v1/aliases")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET,HEAD,POST");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    // Times are RFC 3339 everywhere, configuration included.
    let (_, aliases) = s.get("/api/v1/aliases").await;
    let created = aliases["items"][0]["created_at"]
        .as_str()
        .unwrap_or_default();
    assert!(created.ends_with('Z') && created.len() == 24, "{aliases}");
    let (st, body) = s.get("/api/v1/no-such-thing").await;
    assert_eq!((st, &body["error"]["code"]), (404, &json!("not_found")));
    // The API token is still needed, and its error is JSON too.
    let r = reqwest::get(s.url("/api/v1/aliases")).await.unwrap();
    assert_eq!(r.status(), 401);
    // A line break in a field bound for a header is refused (it would add a header of its own,
    // a hidden Bcc), and nothing is written.
    for (body, field) in [
        (
            json!({"to": ["a@b.example\r\nBcc: evil@x.test"], "subject": "x"}),
            "to[0]",
        ),
        (
            json!({"to": ["a@b.example"], "subject": "x\nBcc: evil@x.test"}),
            "subject",
        ),
        (
            json!({"to": ["a@b.example"], "headers": {"X-A": "1\r\nBcc: evil@x.test"}}),
            "headers.X-A",
        ),
        (
            json!({"to": ["a@b.example"], "from": "me@example.com\r\nBcc: evil@x.test"}),
            "from",
        ),
    ] {
        let (st, e) = s.post("/api/v1/mail", body).await;
        assert_eq!(
            (st, e["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{e}"
        );
        assert!(
            e["error"]["message"].as_str().unwrap().starts_with(field),
            "{e}"
        );
    }
    let (_, mails) = s.get("/api/v1/mail").await;
    assert_eq!(mails["items"], json!([]), "nothing queued");
    let (st, e) = s
        .post(
            "/api/v1/partners",
            json!({"name": "Eve\r\nBcc: evil@x.test", "email": "eve@example.com"}),
        )
        .await;
    assert_eq!(st, 422, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line break"),
        "{e}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn lmtp_unix_socket_has_the_mode_and_group_asked_for() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("lmtp.sock");
    // The group of the user running the test: any user may give a socket its own group.
    let gid = std::fs::metadata(dir.path()).unwrap().gid();
    let cfg = dir.path().join("postern.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlmtp_listen = \"unix:{}\"\nlmtp_socket_mode = \"0660\"\nlmtp_socket_group = \"{gid}\"\n",
            socket.display()
        ),
    )
    .unwrap();
    let config = format!("--config={}", cfg.display());
    let s = Serve::start(BIN, dir.path(), TOKEN, &[], &[&config]);
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).lines();
    let greeting = lines.next_line().await.unwrap().unwrap();
    assert!(greeting.starts_with("220 "), "{greeting}");
    write.write_all(b"LHLO client.test\r\n").await.unwrap();
    let reply = lines.next_line().await.unwrap().unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    drop(s);
    // A group that does not exist is a clear start-up error.
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlmtp_listen = \"unix:{}\"\nlmtp_socket_group = \"no-such-group-postern\"\n",
            socket.display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--http-listen", "127.0.0.1:0", "--smtp-listen", ""])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("POSTERN_DATABASE_URL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("no group named `no-such-group-postern`"),
        "{err}"
    );
}

/// `serve` as a user who cannot write the data directory stops at once and says why; the pipe
/// as that user answers "try again later" and keeps the reason for the log.
#[test]
fn a_data_directory_that_cannot_be_written_is_a_clear_error() {
    let dir = tempfile::Builder::new()
        .prefix("postern-ro-")
        .tempdir_in("/tmp")
        .unwrap();
    let data = dir.path().join("data");
    // Made (with its database) by the owner.
    let (code, _, err) = postern(&["migrate"], &data, None);
    assert_eq!(code, 0, "{err}");
    let root = postern_testkit::is_root();
    // Another user: `nobody` when we are root (root may write anything); else read-only modes.
    let run_as: Vec<&str> = if root {
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&data, PermissionsExt::from_mode(0o755)).unwrap();
        vec!["runuser", "-u", "nobody", "--"]
    } else {
        std::fs::set_permissions(&data, PermissionsExt::from_mode(0o555)).unwrap();
        vec![]
    };
    use std::os::unix::fs::PermissionsExt;
    let bin_dir = tempfile::Builder::new()
        .prefix("postern-bin-")
        .tempdir_in("/tmp")
        .unwrap();
    // A copy of the binary that the other user can run (the target directory may be private).
    let bin = bin_dir.path().join("postern");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(bin_dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, PermissionsExt::from_mode(0o755)).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(run_as.first().copied().unwrap_or(bin.to_str().unwrap()));
        if !run_as.is_empty() {
            cmd.args(&run_as[1..]).arg(&bin);
        }
        cmd.args(args)
            .arg("--data-dir")
            .arg(&data)
            .current_dir(dir.path())
            .env_remove("POSTERN_DATABASE_URL")
            .env_remove("POSTERN_API_TOKEN")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["serve", "--http-listen", "127.0.0.1:0", "--smtp-listen", ""]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(73), "{err}");
    assert!(
        err.contains("cannot be written by the user running postern")
            && err.contains(&data.display().to_string()),
        "{err}"
    );
    let out = run(&["ingest", "--rcpt", "sales@localhost"]);
    assert_eq!(out.status.code(), Some(75));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "4.3.0 temporary failure, try again later\n"
    );
    if !root {
        std::fs::set_permissions(&data, PermissionsExt::from_mode(0o755)).unwrap();
    }
}

/// `POST /api/v1/records`: a record the application opens threads like one an alias created —
/// its notification goes out, the reply comes back to it, the bounce is pinned on its message.
/// `PATCH` changes its name and merges its values.
#[tokio::test]
async fn a_record_created_by_the_api_threads_replies_and_bounces() {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("postern.toml");
    std::fs::write(&cfg, outbound_config(sink.port)).unwrap();
    let (code, _, err) = postern(&["apply", cfg.to_str().unwrap()], dir.path(), None);
    assert_eq!(code, 0, "{err}");
    let envs = [("POSTERN_DELIVERY_POLL_MS", "50")];
    let s = serve(dir.path(), &envs);
    let (_, partners) = s.get("/api/v1/partners").await;
    let robert = partners["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Robert Customer")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    // Bad input is refused whole, with the field at fault.
    for (body, field) in [
        (
            json!({"model": "helpdesk.ticket", "name": "x\r\nBcc: evil@x.test"}),
            "name",
        ),
        (
            json!({"model": "helpdesk.ticket", "name": "x", "follower_partner_ids": [999]}),
            "follower_partner_ids[0]",
        ),
        (
            json!({"model": "helpdesk.ticket", "name": "x", "values": [1]}),
            "values",
        ),
        (
            json!({"model": "helpdesk.ticket", "name": "x", "email_from": "nobody"}),
            "email_from",
        ),
        (
            json!({"model": "helpdesk.ticket", "name": "x", "company_id": 77}),
            "company_id",
        ),
    ] {
        let (st, e) = s.post("/api/v1/records", body).await;
        assert_eq!(st, 422, "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(field),
            "{e}"
        );
    }
    let (_, list) = s.get("/api/v1/records?model=helpdesk.ticket").await;
    assert_eq!(list["items"], json!([]), "nothing half-written");
    let (st, record) = s
        .post(
            "/api/v1/records",
            json!({"model": "helpdesk.ticket", "name": "Printer on fire",
                   "email_from": "\"Robert Customer\" <robert@customer.example>",
                   "values": {"priority": "high", "team": "L1"}, "follower_partner_ids": [robert]}),
        )
        .await;
    assert_eq!(st, 201, "{record}");
    let id = record["id"].as_i64().unwrap();
    assert_eq!(record["model"], "helpdesk.ticket");
    assert!(record["created_at"].as_str().unwrap().ends_with('Z'));
    let (st, patched) = s
        .patch(
            &format!("/api/v1/records/{id}"),
            json!({"name": "Printer still on fire", "values": {"team": null, "sla": 4}}),
        )
        .await;
    assert_eq!(st, 200, "{patched}");
    assert_eq!(patched["name"], "Printer still on fire");
    assert_eq!(patched["values"], json!({"priority": "high", "sla": 4}));
    let (_, followers) = s.get(&format!("/api/v1/records/{id}/followers")).await;
    assert_eq!(followers["items"][0]["partner_id"], robert, "{followers}");

    // The application answers on its record: Robert is notified by e-mail.
    let (st, posted) = s
        .post(
            &format!("/api/v1/records/{id}/messages"),
            json!({"subject": "We are on it", "body_text": "A technician is coming."}),
        )
        .await;
    assert_eq!(st, 201, "{posted}");
    let rfc_id = posted["message_id"].as_str().unwrap().to_owned();
    assert!(
        rfc_id.contains(&format!("-postern-{id}-helpdesk.ticket@")),
        "{rfc_id}"
    );
    wait_outbox_empty(&s, 20).await;
    let got = sink.messages();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(
        header(&got[0], "Message-ID").as_deref(),
        Some(rfc_id.as_str())
    );
    drop(s);

    // Robert's reply comes back to the record, whatever address it was written to.
    let reply = format!(
        "From: \"Robert Customer\" <robert@customer.example>\r\nTo: catchall@example.com\r\n\
         Subject: Re: We are on it\r\nMessage-ID: <r-api-1@customer.example>\r\n\
         In-Reply-To: {rfc_id}\r\nReferences: {rfc_id}\r\n\r\nThank you.\r\n"
    );
    let (code, out, err) = ingest(dir.path(), None, &[], reply.as_bytes());
    assert_eq!(code, 0, "{out}{err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        outcome["routes"][0]["record_id"].as_i64(),
        Some(id),
        "{out}"
    );
    assert_eq!(outcome["routes"][0]["via"], "reply", "{out}");

    // A delivery report for the notification is pinned on the message it belongs to.
    let dsn = format!(
        "From: MAILER-DAEMON@customer.example\r\nTo: bounce@example.com\r\nSubject: Undelivered Mail\r\n\
         Message-ID: <dsn-api-1@customer.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n\
         --r\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\
         --r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n\
         Final-Recipient: rfc822; robert@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n\
         --r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {rfc_id}\r\nSubject: We are on it\r\n\r\n--r--\r\n"
    );
    let (code, out, err) = ingest(dir.path(), None, &[], dsn.as_bytes());
    assert_eq!(code, 0, "{out}{err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["outcome"], "bounce_processed", "{out}");
    let s = serve(dir.path(), &[]);
    let (_, message) = s.get(&format!("/api/v1/messages/{}", posted["id"])).await;
    let n = &message["notifications"][0];
    assert_eq!(
        (n["partner_id"].as_i64(), n["status"].as_str()),
        (Some(robert), Some("bounce")),
        "{message}"
    );
}

/// A mail that waits because no outgoing server exists is sent as soon as one is added, not
/// after its backoff (a minute or more).
#[tokio::test]
async fn a_mail_waiting_for_a_server_leaves_when_one_is_added() {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let envs = [("POSTERN_DELIVERY_POLL_MS", "50")];
    let s = serve(dir.path(), &envs);
    let (st, mail) = s
        .post(
            "/api/v1/mail",
            json!({"to": ["zoe@customer.example"], "subject": "Waiting", "body_text": "x"}),
        )
        .await;
    assert_eq!(st, 201, "{mail}");
    let id = mail["id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, m) = s.get(&format!("/api/v1/mail/{id}")).await;
        if m["failure_reason"] == "no outgoing server is configured" {
            assert_eq!(m["state"], "outgoing", "it waits: {m}");
            break;
        }
        assert!(Instant::now() < deadline, "not deferred: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (st, server) = s
        .post(
            "/api/v1/outgoing-servers",
            json!({"name": "sink", "host": "127.0.0.1", "port": sink.port, "encryption": "none"}),
        )
        .await;
    assert_eq!(st, 201, "{server}");
    // Within 10 s: its backoff alone would keep it waiting 30 s at least.
    wait_outbox_empty(&s, 10).await;
    let (_, m) = s.get(&format!("/api/v1/mail/{id}")).await;
    assert_eq!(m["state"], "sent", "{m}");
    assert_eq!(sink.messages().len(), 1);
}

/// Case H110 through the binary: a To whose domain is in Unicode leaves with the domain in
/// IDNA A-labels, in the envelope and in the header (the From of another domain is rewritten
/// to the notifications address, §9.5; its header form is the unit test
/// `h110_header_domains_in_idna`); on both databases.
async fn unicode_domains_leave_in_idna(postgres: bool) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let db = postern_testkit::database(dir.path(), postgres).await;
    let envs = [
        ("POSTERN_DELIVERY_POLL_MS", "50"),
        ("POSTERN_DATABASE_URL", db.as_str()),
    ];
    let s = serve(dir.path(), &envs);
    let (st, server) = s
        .post(
            "/api/v1/outgoing-servers",
            json!({"name": "sink", "host": "127.0.0.1", "port": sink.port, "encryption": "none"}),
        )
        .await;
    assert_eq!(st, 201, "{server}");
    let (st, mail) = s
        .post(
            "/api/v1/mail",
            json!({"from": "test@ééééééé.com", "to": ["dest@éxample.com"], "subject": "IDNA", "body_text": "x"}),
        )
        .await;
    assert_eq!(st, 201, "{mail}");
    wait_outbox_empty(&s, 10).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    let to = header(m, "To").unwrap_or_default();
    assert_eq!(to, "<dest@xn--xample-9ua.com>", "{m}");
    assert!(
        m.contains("X-Rcpt-Args: <dest@xn--xample-9ua.com>"),
        "the envelope: {m}"
    );
    assert!(
        !m.contains("=?utf-8?b?"),
        "no encoded-word in an address: {m}"
    );
}

#[tokio::test]
async fn unicode_domains_leave_in_idna_sqlite() {
    unicode_domains_leave_in_idna(false).await;
}

#[tokio::test]
async fn unicode_domains_leave_in_idna_postgres() {
    unicode_domains_leave_in_idna(true).await;
}
