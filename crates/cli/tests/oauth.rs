//! OAuth end to end (issue 19), with real parts only: `postern serve`, a real OpenID Connect
//! provider on loopback (npm's oidc-provider), a private Dovecot that checks XOAUTH2 tokens by
//! introspection at that provider, headless Chromium for Connect, and a webhook receiver.
//!
//! One story, in order: an incoming server with `auth = "oauth"` is connected in the admin UI
//! (the provider's login and consent pages, PKCE and state); a poll logs in to Dovecot with the
//! access token; when less than the margin (60 s) of the token is left, the next poll refreshes
//! it first (the old one still active: before expiry); an access token revoked at the provider
//! (Dovecot refuses the login) is refreshed at once and the poll succeeds; a revoked grant puts
//! the server in the error state with the provider's reason, in the API and the UI, emits
//! `incoming_server.failed` and counts in /metrics. Nothing secret (client secret, refresh and
//! access tokens) is in the log, the API's answers or the errors.

#[path = "support/browser.rs"]
mod browser;

use browser::{Driver, Ui, browser, screenshot_dir};
use postern_testkit::Serve;
use postern_testkit::oidc::{OAuthDovecot, OidcServer};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_postern");
const TOKEN: &str = "test-token-oauth-0123456789";
const PASSWORD: &str = "browser-password-oauth";
const USER: &str = "oauth01";
/// The provider's access tokens live this long: the first is used at once, and is within the
/// 60 s margin 6 s later.
const ACCESS_TTL: u64 = 66;

/// The bodies a webhook endpoint received.
type Received = Arc<Mutex<Vec<Value>>>;

async fn webhook_receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body.0);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// The key of the PostgreSQL runs (`POSTERN_SECRET_KEY`: no node makes one there).
const PG_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The tokens of a server's grant, read from its database and opened with the node's key (as
/// a thief of the database could not).
async fn stored_tokens(story: &Story) -> (Option<String>, Option<String>) {
    let store = postern_store::Store::open(&story.db).await.unwrap();
    let mut tx = store.read().await.unwrap();
    let server = postern_oauth::OAuthServer::Incoming(postern_model::IncomingServerId(story.id));
    let grant = tx.oauth_grant(server).await.unwrap().expect("a grant");
    tx.rollback().await.unwrap();
    store.close().await;
    let env = story.db.starts_with("postgres").then_some(PG_KEY);
    let key = postern_oauth::SecretKey::load(env, story.dir.path(), false).unwrap();
    let open = |sealed: Option<String>, column: &str| {
        sealed.map(|s| {
            let what = format!("incoming-servers/{}/{column}", story.id);
            key.open(&s, &what).unwrap().expose().to_owned()
        })
    };
    (
        open(grant.refresh_token, "refresh_token"),
        open(grant.access_token, "access_token"),
    )
}

async fn fetch(server: &Serve, id: i64) -> (u16, Value) {
    server
        .post(&format!("/api/v1/incoming-servers/{id}/fetch"), json!({}))
        .await
}

fn deliver(dovecot: &OAuthDovecot, subject: &str) {
    let raw = format!(
        "From: someone@example.org\r\nTo: {USER}@example.test\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.org>\r\n\r\nHello.\r\n"
    );
    postern_testkit::dovecot::deliver(&dovecot.maildir(USER), raw);
}

/// The refreshes counted in `/metrics` with `result`.
async fn refreshes(server: &Serve, result: &str) -> u64 {
    let answer = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    metric(&answer.text().await.unwrap(), result)
}

fn metric(text: &str, result: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("postern_oauth_refreshes_total{"))
        .filter(|l| l.contains(&format!("result=\"{result}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// What the story's phases share.
struct Story {
    dir: tempfile::TempDir,
    /// The database's URL.
    db: String,
    server: Serve,
    oidc: OidcServer,
    dovecot: OAuthDovecot,
    id: i64,
    /// Every answer seen (API, UI, webhook, metrics): no secret may be in any.
    answers: Vec<String>,
    /// Every token seen.
    tokens: Vec<String>,
}

impl Story {
    /// The grant's tokens now (both present), remembered.
    async fn tokens(&mut self) -> (String, String) {
        let (refresh, access) = stored_tokens(self).await;
        let (refresh, access) = (refresh.unwrap(), access.unwrap());
        self.tokens.extend([refresh.clone(), access.clone()]);
        (refresh, access)
    }

    /// A mail delivered into the mailbox, then a poll that fetches it.
    async fn poll_gets_one(&self, subject: &str) {
        deliver(&self.dovecot, subject);
        let (status, report) = fetch(&self.server, self.id).await;
        let logs = format!("{}\n{}", self.dovecot.log(), self.oidc.log());
        assert_eq!(status, 200, "{report}\n{logs}");
        assert_eq!(report["fetched"], 1, "{report}");
    }
}

#[tokio::test]
async fn connect_in_chromium_then_imap_over_xoauth2_refreshed_until_revoked_sqlite() {
    the_story(false).await;
}

#[tokio::test]
async fn connect_in_chromium_then_imap_over_xoauth2_refreshed_until_revoked_postgres() {
    the_story(true).await;
}

async fn the_story(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = postern_testkit::db::database(dir.path(), postgres).await;
    let log = dir.path().join("postern.log");
    let (hook, received) = webhook_receiver().await;
    let mut env = vec![
        ("POSTERN_ADMIN_PASSWORD", PASSWORD),
        ("POSTERN_LOG_FILE", log.to_str().unwrap()),
        ("POSTERN_LOG", "debug,sqlx=warn"),
    ];
    if postgres {
        env.push(("POSTERN_SECRET_KEY", PG_KEY));
    }
    let server = Serve::start(BIN, dir.path(), TOKEN, &env, &["--database-url", &db]);
    let oidc = OidcServer::start(&format!("{}/oauth/callback", server.base), ACCESS_TTL);
    let dovecot = OAuthDovecot::start(&oidc, &[USER]);
    let body = json!({"name": "ops", "url": hook, "events": ["incoming_server.failed"]});
    assert_eq!(server.post("/api/v1/webhooks", body).await.0, 201);
    let (id, answers) = create_server(&server, &oidc, dovecot.imap_port).await;
    let tokens = Vec::new();
    let mut story = Story {
        dir,
        db,
        server,
        oidc,
        dovecot,
        id,
        answers,
        tokens,
    };
    let driver = Driver::start();
    let ui = Ui {
        c: browser(&driver).await,
        base: story.server.base.clone(),
        shots: screenshot_dir(),
    };
    connect_in_the_browser(&ui, id).await;
    refreshed_before_expiry_and_after_a_refusal(&mut story).await;
    two_nodes_refresh_once(&mut story).await;
    revoked_grant(&mut story, &ui, &received).await;
    ui.c.close().await.unwrap();
    nothing_secret(&story, &std::fs::read_to_string(&log).unwrap());
    drop(story.server);
    postern_testkit::db::drop_database(&story.db).await;
}

/// Polls with the first token; within the margin, a refresh first (the old token still
/// active: before expiry); a token revoked at the provider, refused by Dovecot, refreshed at
/// once in the same poll.
async fn refreshed_before_expiry_and_after_a_refusal(story: &mut Story) {
    let (refresh0, access0) = story.tokens().await;
    assert!(story.oidc.active(&access0).await);
    story.poll_gets_one("first").await;
    tokio::time::sleep(Duration::from_secs(ACCESS_TTL - 59)).await;
    story.poll_gets_one("second").await;
    let (refresh1, access1) = story.tokens().await;
    assert_ne!(access1, access0, "refreshed");
    assert_ne!(
        refresh1, refresh0,
        "the provider rotates refresh tokens: the new one is kept"
    );
    assert!(
        story.oidc.active(&access0).await,
        "the old token had not expired yet"
    );
    assert_eq!(refreshes(&story.server, "ok").await, 1);
    // a forced 401
    story.oidc.revoke(&access1, "access_token").await;
    assert!(!story.oidc.active(&access1).await);
    story.poll_gets_one("third").await;
    let (_, access2) = story.tokens().await;
    assert_ne!(access2, access1);
    assert_eq!(refreshes(&story.server, "ok").await, 2);
}

/// Two more nodes (OAuth on the same database, in this process) want a token at once when it
/// must be refreshed: one refreshes under the lease, the other waits and takes its token. Two
/// refreshes would have used the same refresh token twice, which the provider (rotating them)
/// takes for a stolen one and answers by revoking the grant.
async fn two_nodes_refresh_once(story: &mut Story) {
    let store = postern_store::Store::open(&story.db).await.unwrap();
    let env = story.db.starts_with("postgres").then_some(PG_KEY);
    let node = || {
        let key = postern_oauth::SecretKey::load(env, story.dir.path(), false).unwrap();
        postern_oauth::OAuth::new(store.clone(), key, &story.server.base)
    };
    let (a, b) = (node(), node());
    let server = postern_oauth::OAuthServer::Incoming(postern_model::IncomingServerId(story.id));
    a.expire(server).await.unwrap();
    let (x, y) = tokio::join!(a.access_token(server), b.access_token(server));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.expose(), y.expose(), "one refresh, its token for both");
    assert!(story.oidc.active(x.expose()).await, "the grant lives on");
    story.tokens.push(x.expose().to_owned());
    store.close().await;
    story.poll_gets_one("after-two-nodes").await;
}

/// The grant revoked at the provider: the next refresh is refused, and the server is in the
/// error state with the provider's reason (API, UI), the webhook told, the metric counted.
async fn revoked_grant(story: &mut Story, ui: &Ui, received: &Received) {
    let (refresh, access) = story.tokens().await;
    story.oidc.revoke(&refresh, "refresh_token").await;
    assert!(
        !story.oidc.active(&access).await,
        "the whole grant is revoked"
    );
    let (status, report) = fetch(&story.server, story.id).await;
    assert_eq!(status, 502, "{report}");
    assert!(
        report["error"]["message"]
            .to_string()
            .contains("invalid_grant"),
        "{report}"
    );
    let (_, item) = story
        .server
        .get(&format!("/api/v1/incoming-servers/{}", story.id))
        .await;
    assert_eq!(item["oauth_state"], "failed", "{item}");
    assert!(
        item["oauth_error"].to_string().contains("invalid_grant"),
        "{item}"
    );
    assert!(
        item["last_error"]
            .to_string()
            .contains("connect the server again"),
        "{item}"
    );
    let path = format!("/incoming-servers/{}", story.id);
    let page = ui
        .until(&path, "invalid_grant", Duration::from_secs(5))
        .await;
    ui.shot("oauth-failed").await;
    let metrics = story
        .server
        .http()
        .get(story.server.url("/metrics"))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert_eq!(metric(&metrics, "failed"), 1, "{metrics}");
    let event = webhook_event(received).await;
    assert_eq!(event["data"]["incoming_server"]["id"], story.id, "{event}");
    story.answers.extend([
        report.to_string(),
        item.to_string(),
        page,
        event.to_string(),
        metrics,
    ]);
}

/// No secret in the log, the answers or the errors; the log is read (it has the refreshes).
fn nothing_secret(story: &Story, log: &str) {
    assert!(
        log.contains("OAuth access token refreshed"),
        "the log is read: {log}"
    );
    assert!(log.contains("access token refused: refreshing it"), "{log}");
    let secrets = story.tokens.iter().chain([&story.oidc.client_secret]);
    for s in secrets {
        assert!(!log.contains(s.as_str()), "a secret in the log");
        for a in &story.answers {
            assert!(!a.contains(s.as_str()), "a secret in an answer: {a}");
        }
    }
}

/// Creates the incoming server over the API; its id, and the answers seen.
async fn create_server(server: &Serve, oidc: &OidcServer, port: u16) -> (i64, Vec<String>) {
    let (status, created) = server
        .post(
            "/api/v1/incoming-servers",
            json!({
                "name": "mailbox", "protocol": "imap", "host": "127.0.0.1", "port": port,
                "encryption": "none", "username": USER, "auth": "oauth", "active": false,
                "oauth": {"provider": "generic", "issuer": oidc.issuer,
                          "client_id": oidc.client_id, "client_secret": oidc.client_secret},
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["oauth"]["has_client_secret"], true, "{created}");
    assert!(created["oauth_state"].is_null());
    let id = created["id"].as_i64().unwrap();
    // a PATCH keeps the settings and the write-only secret
    let path = format!("/api/v1/incoming-servers/{id}");
    let (status, patched) = server.patch(&path, json!({"interval": "10m"})).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["oauth"]["has_client_secret"], true, "{patched}");
    let (status, before) = fetch(server, id).await;
    assert_eq!(status, 502, "not connected yet: {before}");
    assert!(before.to_string().contains("not connected"), "{before}");
    (id, vec![created.to_string(), before.to_string()])
}

/// Signs in, presses Connect, signs in at the provider, consents, and is back on the server's
/// page, connected.
async fn connect_in_the_browser(ui: &Ui, id: i64) {
    ui.open("/login").await;
    ui.fill("input[name=password]", PASSWORD).await;
    ui.click("button[type=submit]").await;
    ui.text("header nav").await;
    ui.open(&format!("/incoming-servers/{id}")).await;
    ui.click("#action-connect").await;
    ui.text("#oauth-go").await;
    ui.shot("oauth-connect").await;
    ui.click("#oauth-continue").await;
    // the provider's own pages: its login, then its consent
    ui.fill("input[name=login]", USER).await;
    ui.fill("input[name=password]", "any password").await;
    ui.shot("oauth-provider-login").await;
    ui.click("button[type=submit]").await;
    ui.text("button[type=submit]").await;
    ui.shot("oauth-provider-consent").await;
    ui.click("button[type=submit]").await;
    let notice = ui.text("#notice").await;
    assert!(notice.starts_with("Connected"), "{notice}");
    let page = ui.c.source().await.unwrap();
    assert!(page.contains("connected"), "{page}");
    ui.shot("oauth-connected").await;
}

/// The `incoming_server.failed` the receiver got with `invalid_grant` (waiting up to 20 s).
async fn webhook_event(received: &Received) -> Value {
    for _ in 0..200 {
        let found = received
            .lock()
            .unwrap()
            .iter()
            .find(|e| {
                e["type"] == "incoming_server.failed"
                    && e["data"]["error"].to_string().contains("invalid_grant")
            })
            .cloned();
        if let Some(e) = found {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no incoming_server.failed event")
}

/// Runs `postern ARGS` with `stdin`; its exit code, stdout and stderr.
fn postern(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("POSTERN_DATABASE_URL")
        .env_remove("POSTERN_SECRET_KEY")
        .envs(env.iter().copied());
    postern_testkit::run(&mut cmd, Some(stdin.as_bytes()))
}

/// A headless install: `postern oauth connect` prints the provider's address; the browser signs
/// in there and ends on the callback address (nothing listens there: the page fails, its
/// address is what counts), which is pasted back; `postern fetch --once` then logs in with the
/// grant.
#[tokio::test]
async fn oauth_connect_on_the_command_line_then_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let public = format!("http://127.0.0.1:{}", postern_testkit::free_port());
    let oidc = OidcServer::start(&format!("{public}/oauth/callback"), 3600);
    let dovecot = OAuthDovecot::start(&oidc, &[USER]);
    let config = cli_config(dir.path(), &public, &oidc, dovecot.imap_port);
    let config = config.to_str().unwrap();
    let env = [("OIDC_SECRET", oidc.client_secret.as_str())];
    let (code, out, err) = postern(dir.path(), &["apply", config], &env, "");
    assert_eq!(code, 0, "{out}{err}");
    let rest = connect_on_the_command_line(dir.path(), config, &env, (&oidc, &public)).await;
    deliver(&dovecot, "by-cli");
    let (code, out, err) = postern(
        dir.path(),
        &[
            "--config", config, "fetch", "--once", "--server", "mailbox", "--json",
        ],
        &env,
        "",
    );
    assert_eq!(code, 0, "{out}{err}\n{}", dovecot.log());
    assert!(
        out.contains("\"fetched\":1") || out.contains("\"fetched\": 1"),
        "{out}"
    );
    let printed = format!("{out}{err}{}", rest.join("\n"));
    assert!(!printed.contains(&oidc.client_secret), "{printed}");
}

/// The configuration of the command-line test: the public address, an `oauth` mailbox on the
/// private Dovecot whose client secret is in `OIDC_SECRET`.
fn cli_config(dir: &Path, public: &str, oidc: &OidcServer, port: u16) -> std::path::PathBuf {
    let config = dir.join("postern.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\npublic_url = \"{public}\"\n\n[[incoming_servers]]\nname = \"mailbox\"\n\
             host = \"127.0.0.1\"\nport = {port}\nencryption = \"none\"\nusername = \"{USER}\"\n\
             auth = \"oauth\"\noauth = {{ provider = \"generic\", issuer = \"{}\", \
             client_id = \"postern\", client_secret_env = \"OIDC_SECRET\" }}\n",
            oidc.issuer
        ),
    )
    .unwrap();
    config
}

/// `postern oauth connect mailbox`: the address it prints, signed in at in Chromium, the
/// address the browser ends on pasted back; what it printed after that.
async fn connect_on_the_command_line(
    dir: &Path,
    config: &str,
    env: &[(&str, &str)],
    (oidc, public): (&OidcServer, &str),
) -> Vec<String> {
    let mut connect = std::process::Command::new(BIN)
        .args([
            "--config",
            config,
            "oauth",
            "connect",
            "mailbox",
            "--data-dir",
        ])
        .arg(dir)
        .env_remove("POSTERN_DATABASE_URL")
        .env_remove("POSTERN_SECRET_KEY")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(connect.stdout.take().unwrap()));
    let url = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with(&oidc.issuer))
        .expect("the provider's address");
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("state="),
        "{url}"
    );
    let back = sign_in_at_the_provider(&url).await;
    assert!(
        back.starts_with(&format!("{public}/oauth/callback?code=")),
        "{back}"
    );
    std::io::Write::write_all(
        &mut connect.stdin.take().unwrap(),
        format!("{back}\n").as_bytes(),
    )
    .unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = connect.wait().unwrap();
    assert!(status.success(), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("`mailbox` is connected")),
        "{rest:?}"
    );
    rest
}

/// Chromium signs in at the provider and consents; the address it ends on.
async fn sign_in_at_the_provider(url: &str) -> String {
    let driver = Driver::start();
    let ui = Ui {
        c: browser(&driver).await,
        base: String::new(),
        shots: screenshot_dir(),
    };
    ui.c.goto(url).await.unwrap();
    ui.fill("input[name=login]", USER).await;
    ui.fill("input[name=password]", "any password").await;
    ui.click("button[type=submit]").await;
    ui.text("button[type=submit]").await;
    ui.click("button[type=submit]").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = ui.c.current_url().await.unwrap().to_string();
        if now.contains("/oauth/callback") {
            ui.c.close().await.unwrap();
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never sent back: {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// On PostgreSQL no node makes a key (the nodes must share one): a server configured for OAuth
/// and no key is a clear start-up error; with `POSTERN_SECRET_KEY` it starts.
#[tokio::test]
async fn an_oauth_server_without_a_key_stops_serve_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = postern_testkit::db::new_postgres_database().await;
    let config = dir.path().join("postern.toml");
    std::fs::write(
        &config,
        "[server]\nhttp_listen = \"127.0.0.1:0\"\nsmtp_listen = \"\"\n\n[[outgoing_servers]]\n\
         name = \"m365\"\nhost = \"smtp.office365.com\"\nport = 587\nusername = \"a@example.com\"\n\
         auth = \"oauth\"\noauth = { provider = \"microsoft\", client_id = \"id\" }\n",
    )
    .unwrap();
    let args = [
        "--database-url",
        &url,
        "--config",
        config.to_str().unwrap(),
        "serve",
    ];
    let (code, out, err) = postern(dir.path(), &args, &[], "");
    assert_eq!(code, 78, "{out}{err}");
    assert!(
        err.contains("POSTERN_SECRET_KEY") && err.contains("OAuth"),
        "{err}"
    );
    assert!(
        !dir.path().join("secret.key").exists(),
        "no key made on PostgreSQL"
    );
    postern_testkit::db::drop_database(&url).await;
}
