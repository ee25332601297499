//! postern-delivery — the outbox runner: claims due mails with a lease, groups them per
//! (server, envelope sender), sends them over reused connections, retries temporary failures
//! with backoff and jitter, and writes per-recipient results back to the notifications.
//!
//! Owns: the sending schedule and its state transitions. Must not: compose headers (compose
//! does) or speak SMTP itself (the client in postern-smtp does).
//!
//! Actors: [`run`] loops until its shutdown future completes (the caller owns it, so tests
//! stop it at will); [`run_once`] is one batch; [`test_server`] is the connection test of
//! `postern server test` and `POST /api/v1/outgoing-servers/{id}/test`; [`check_dns`] is the
//! DNS check of an alias domain (`postern dns check`). Mail whose From domain has a DKIM key
//! is signed just before it is sent (postern-auth).
//!
//! Settings read: `mass_mailing.mail_server` (name or id of the dedicated server of the `mass`
//! stream), `mail.default.from_filter`; the [`DeliveryConfig`] (lease, batch size, parallel
//! connections, timeout, backoff and maximum age) comes from the binary.
#![warn(missing_docs)]

mod dns;
mod limits;
mod mx;
mod oauth;
pub mod outcome;

pub mod prepare;
mod runner;

pub use dns::check_dns;
pub use outcome::Backoff;
pub use runner::{BatchStats, run_once};

use postern_model::{Encryption, OutgoingServerId, Secret};
use postern_smtp::client::{self, ClientSettings, Credentials};
use postern_store::{DeliveryServer, Store, StoreError};
use std::future::Future;
use std::time::Duration;

/// Why the runner stopped a batch.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The database failed; the claimed mails come back when their lease runs out.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The DNS resolver could not be set up (the DNS check).
    #[error(transparent)]
    Auth(#[from] postern_auth::AuthError),
}

/// How the runner works.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Our name in EHLO.
    pub hostname: String,
    /// Who holds the leases (unique per process).
    pub node: String,
    /// How long a claim holds a mail (longer than a batch takes).
    pub lease: Duration,
    /// Longest sleep when nothing is due.
    pub poll: Duration,
    /// Mails claimed at once.
    pub batch: i64,
    /// Parallel connections per batch.
    pub connections: usize,
    /// SMTP timeout (connection and each command).
    pub timeout: Duration,
    /// Results recorded per transaction.
    pub commit_every: usize,
    /// Retry schedule and maximum age.
    pub backoff: Backoff,
    /// The HTTP server's address as recipients reach it: mass mail carries a one-click
    /// unsubscribe link under it (RFC 8058). `None`: no link.
    pub public_url: Option<String>,
    /// The resolver of direct delivery (servers of kind `mx`): `[server] dns`.
    pub dns: postern_auth::MxResolver,
    /// Access tokens of the servers with `auth = "oauth"` (`None`: no secret key, and such
    /// servers' mails wait).
    pub oauth: Option<postern_oauth::OAuth>,
}

impl DeliveryConfig {
    /// Defaults: 5 min leases, 1 s poll, 500 mails a batch, 8 connections, 60 s timeout,
    /// results committed 200 at a time, retries from 1 min to 1 h for 2 days.
    pub fn new(hostname: &str) -> DeliveryConfig {
        let tag = postern_store::random_hex(6);
        DeliveryConfig {
            hostname: hostname.to_owned(),
            node: format!("{hostname}-{}-{tag}", std::process::id()),
            lease: Duration::from_secs(300),
            poll: Duration::from_secs(1),
            batch: 500,
            connections: 8,
            timeout: Duration::from_secs(60),
            commit_every: 200,
            backoff: Backoff::default(),
            public_url: None,
            dns: postern_auth::MxResolver::new(postern_auth::DnsSettings::default()),
            oauth: None,
        }
    }
}

/// The client settings of a server: its password from `password_env` (preferred) or the
/// stored one. Fails when the encryption is unknown or the variable is not set.
pub fn server_settings(
    s: &DeliveryServer,
    hostname: &str,
    timeout: Duration,
) -> Result<ClientSettings, String> {
    let encryption: Encryption = s.encryption.parse().map_err(|e| format!("{e}"))?;
    let port = u16::try_from(s.port).map_err(|_| format!("port {} is out of range", s.port))?;
    let secret = match &s.password_env {
        Some(var) if !var.is_empty() => Some(Secret::new(std::env::var(var).map_err(|_| {
            format!(
                "the password of server `{}` is in ${var}, which is not set",
                s.name
            )
        })?)),
        _ => s.password.0.clone(),
    };
    let credentials = match (&s.username, secret) {
        (Some(user), Some(secret)) if !user.is_empty() => Some(if s.auth == "xoauth2" {
            Credentials::XOAuth2 {
                username: user.clone(),
                token: secret,
            }
        } else {
            Credentials::Password {
                username: user.clone(),
                password: secret,
            }
        }),
        _ => None,
    };
    Ok(ClientSettings {
        host: s.host.clone(),
        port,
        encryption,
        credentials,
        timeout,
        helo: hostname.to_owned(),
        address: None,
        // Direct delivery: STARTTLS whenever an MX host offers it, unless required anyway.
        opportunistic_tls: s.kind == postern_model::ServerKind::Mx,
    })
}

/// The settings of an `oauth` server with a fresh access token (refreshed when it must be), or
/// the failed step saying why there is none.
async fn with_access_token(
    server: &DeliveryServer,
    mut settings: ClientSettings,
    oauth: Option<&postern_oauth::OAuth>,
) -> Result<ClientSettings, TestStep> {
    let what = "get an OAuth access token";
    let Some(oauth) = oauth else {
        let why = "OAuth is not set up on this node (no secret key)";
        return Err(TestStep::new(what, false, why));
    };
    match oauth
        .access_token(postern_oauth::OAuthServer::Outgoing(server.id))
        .await
    {
        Ok(token) => {
            settings.credentials = Some(Credentials::XOAuth2 {
                username: server.username.clone().unwrap_or_default(),
                token,
            });
            Ok(settings)
        }
        Err(e) => Err(TestStep::new(what, false, e.to_string())),
    }
}

/// The delivery runner's access to the store, logged once per outage.
static OUTAGE: postern_store::Outage = postern_store::Outage::new("the delivery runner");

/// Delivers until `shutdown` completes: a batch after another while mails are due, else a
/// sleep until the next one is due (at most `poll`). A batch in progress is finished first.
pub async fn run(store: Store, cfg: DeliveryConfig, shutdown: impl Future) {
    tokio::pin!(shutdown);
    warn_port_25(&store).await;
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = std::future::ready(()) => {}
        }
        let full = match run_once(&store, &cfg).await {
            Ok(stats) => {
                OUTAGE.ok();
                stats.claimed as i64 >= cfg.batch
            }
            Err(e) => {
                // once per outage (a database gone, a full disk), not once per poll; the
                // batch's mails come back when their lease runs out
                OUTAGE.failed(&e);
                false
            }
        };
        if full {
            continue;
        }
        let wait = next_wait(&store, cfg.poll).await;
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("delivery runner stopped");
}

async fn next_wait(store: &Store, poll: Duration) -> Duration {
    let next = match store.read().await {
        Ok(mut tx) => tx.next_due_time().await.ok().flatten(),
        Err(_) => None,
    };
    match next {
        Some(at) => Duration::from_millis(
            (at - postern_store::now_ms()).clamp(10, poll.as_millis() as i64) as u64,
        ),
        None => poll,
    }
}

async fn warn_port_25(store: &Store) {
    let Ok(mut tx) = store.read().await else {
        return;
    };
    if let Ok(servers) = tx.delivery_servers(false).await {
        for s in servers {
            if let Some(w) = server_warning(&s) {
                tracing::warn!(server = %s.name, "{w}");
            }
        }
    }
}

/// A word about a server's port: 25 is blocked by many hosts (465, 587 or 2525 are the usual
/// choices).
pub fn port_warning(port: i64) -> Option<String> {
    u16::try_from(port).ok().and_then(client::port_warning)
}

/// What `server test` and the runner's start say of direct delivery.
pub const MX_PORT_WARNING: &str = "direct delivery (kind mx) connects to port 25 of the \
     recipients' MX hosts, which many hosting providers and home networks block outward: if \
     connections time out, ask the provider to open port 25 or send through a relay (kind relay)";

/// The warning a server deserves: direct delivery's port 25, or a relay on port 25.
fn server_warning(s: &DeliveryServer) -> Option<String> {
    match s.kind {
        postern_model::ServerKind::Mx => Some(MX_PORT_WARNING.to_owned()),
        postern_model::ServerKind::Relay => port_warning(s.port),
    }
}

/// The result of a connection test, as shown by the CLI and the API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestResult {
    /// Whether the server would take mail from the test sender.
    pub ok: bool,
    /// What happened, in words.
    pub message: String,
    /// The sender used for `MAIL FROM`.
    pub test_from: String,
    /// Advice (port 25).
    pub warnings: Vec<String>,
    /// The server's SIZE limit, if it says.
    pub max_size: Option<usize>,
    /// Each step of the test in order, with its answer; the last one failed when `ok` is false.
    pub steps: Vec<TestStep>,
}

/// One step of a connection test (connect, TLS, EHLO, AUTH, MAIL FROM, RCPT TO, DATA).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestStep {
    /// What was done (`MAIL FROM:<x@example.com>`).
    pub step: String,
    /// Whether it worked.
    pub ok: bool,
    /// The server's answer, or what went wrong.
    pub answer: String,
}

impl TestStep {
    pub(crate) fn new(step: impl Into<String>, ok: bool, answer: impl Into<String>) -> TestStep {
        TestStep {
            step: step.into(),
            ok,
            answer: answer.into(),
        }
    }
}

/// The steps of a connection test from its outcome: those of the session up to `AUTH` (a
/// failure there is one failed step whose text names the stage), then the server's replies to
/// `MAIL FROM`, `RCPT TO` and `DATA`.
fn test_steps(
    settings: &ClientSettings,
    test_from: &str,
    rcpt: &str,
    outcome: &Result<client::TestReport, client::TestFailure>,
) -> Vec<TestStep> {
    use client::TestFailure;
    let session = || {
        let mut v = vec![TestStep::new(
            format!("connect to {}:{}", settings.host, settings.port),
            true,
            "connected",
        )];
        let tls = match settings.encryption {
            Encryption::Ssl | Encryption::SslStrict => Some("TLS (implicit)"),
            Encryption::Starttls | Encryption::StarttlsStrict => Some("STARTTLS"),
            Encryption::None => None,
        };
        v.extend(tls.map(|t| TestStep::new(t, true, "secured")));
        v.push(TestStep::new(
            format!("EHLO {}", settings.helo),
            true,
            "250",
        ));
        if settings.credentials.is_some() {
            v.push(TestStep::new("AUTH", true, "235 logged in"));
        }
        v
    };
    let mail = format!("MAIL FROM:<{test_from}>");
    let rcpt_step = format!("RCPT TO:<{rcpt}>");
    match outcome {
        Ok(report) => {
            let mut v = session();
            for (step, reply) in [mail, rcpt_step, "DATA".into()]
                .into_iter()
                .zip(&report.replies)
            {
                v.push(TestStep::new(step, true, reply.to_string()));
            }
            v
        }
        Err(TestFailure::Client(e)) => vec![TestStep::new(
            "connect, TLS, EHLO, AUTH",
            false,
            e.to_string(),
        )],
        Err(TestFailure::SenderRefused(_, r)) => {
            let mut v = session();
            v.push(TestStep::new(mail, false, r.to_string()));
            v
        }
        Err(TestFailure::RecipientRefused(_, r)) => {
            let mut v = session();
            v.push(TestStep::new(mail, true, "250"));
            v.push(TestStep::new(rcpt_step, false, r.to_string()));
            v
        }
        Err(TestFailure::DataRefused(r)) => {
            let mut v = session();
            v.push(TestStep::new(mail, true, "250"));
            v.push(TestStep::new(rcpt_step, true, "250"));
            v.push(TestStep::new("DATA", false, r.to_string()));
            v
        }
    }
}

/// The sender of a connection test (§9.6): the first full address of the filter; else the
/// default From of an alias domain in the filter; else `postern@` its first domain; without a
/// usable filter, the default alias domain's default From.
pub fn test_sender(from_filter: Option<&str>, domains: &[postern_store::AliasDomain]) -> String {
    let entries: Vec<String> = from_filter
        .unwrap_or("")
        .split(',')
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .collect();
    if let Some(full) = entries.iter().find(|e| e.contains('@')) {
        return full.clone();
    }
    if let Some(d) = domains.iter().find(|d| entries.contains(&d.name)) {
        return d.default_from_email();
    }
    if let Some(first) = entries.first() {
        return format!("postern@{first}");
    }
    domains
        .first()
        .map(|d| d.default_from_email())
        .unwrap_or_else(|| "postern@localhost".to_owned())
}

/// Which server and which From a mail from `from` would go out with now, and why (route explain
/// for outgoing mail): [`prepare::explain_outgoing`] on the servers and alias domains stored.
pub async fn explain_outgoing(
    store: &Store,
    from: &str,
    stream: postern_model::MailStream,
) -> Result<prepare::OutgoingExplained, DeliveryError> {
    let ctx = runner::load_context(store, &DeliveryConfig::new("localhost")).await?;
    Ok(prepare::explain_outgoing(from, stream, &ctx))
}

/// Test Connection of the outgoing server `id` (archived servers too): connect, EHLO,
/// TLS, AUTH, MAIL FROM the test sender, RCPT TO its domain's postmaster, DATA → 354; nothing
/// is sent. An `mx` server first asks `dns` for the MX hosts of that domain and tests the
/// first one.
pub async fn test_server(
    store: &Store,
    id: OutgoingServerId,
    (hostname, timeout): (&str, Duration),
    (dns, oauth): (&postern_auth::DnsSettings, Option<&postern_oauth::OAuth>),
) -> Result<TestResult, StoreError> {
    let mut tx = store.read().await?;
    let server = tx
        .delivery_servers(true)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| StoreError::not_found("outgoing server", id))?;
    let domains = tx.alias_domains().await?;
    tx.rollback().await?;
    let test_from = test_sender(server.from_filter.as_deref(), &domains);
    let rcpt = format!(
        "postmaster@{}",
        test_from.rsplit('@').next().unwrap_or("localhost")
    );
    let mut warnings: Vec<String> = server_warning(&server).into_iter().collect();
    let mut steps = Vec::new();
    let settings = match server_settings(&server, hostname, timeout) {
        Ok(s) if server.kind == postern_model::ServerKind::Mx => {
            let domain = rcpt.rsplit('@').next().unwrap_or_default();
            let resolver = postern_auth::MxResolver::new(dns.clone());
            mx::first_host(&resolver, s, domain).await.map(|(s, step)| {
                steps.push(step);
                s
            })
        }
        Ok(s) if server.auth == "oauth" => with_access_token(&server, s, oauth).await,
        Ok(s) => Ok(s),
        Err(e) => Err(TestStep::new("read the server's settings", false, e)),
    };
    let settings = match settings {
        Ok(s) => s,
        Err(step) => {
            return Ok(TestResult {
                ok: false,
                message: step.answer.clone(),
                steps: vec![step],
                test_from,
                warnings,
                max_size: None,
            });
        }
    };
    if matches!(settings.encryption, Encryption::None) && settings.credentials.is_some() {
        warnings.push("the password is sent in clear text (encryption `none`)".into());
    }
    let outcome = client::test_connection(&settings, &test_from, &rcpt).await;
    steps.extend(test_steps(&settings, &test_from, &rcpt, &outcome));
    Ok(match outcome {
        Ok(report) => TestResult {
            steps,
            ok: true,
            message: format!(
                "Connection Test Successful! {}:{} accepts mail from <{test_from}>",
                settings.host, settings.port
            ),
            test_from,
            warnings,
            max_size: report.max_size,
        },
        Err(e) => TestResult {
            steps,
            ok: false,
            message: e.to_string(),
            test_from,
            warnings,
            max_size: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_model::AliasDomainId;
    use postern_store::AliasDomain;

    fn domain(name: &str, default_from: &str) -> AliasDomain {
        AliasDomain {
            id: AliasDomainId(1),
            name: name.into(),
            bounce_alias: "bounce".into(),
            catchall_alias: "catchall".into(),
            default_from: default_from.into(),
            sequence: 1,
            verp: false,
            created_at: 0,
        }
    }

    /// I118 `get_test_email_from`.
    #[test]
    fn i118_test_sender() {
        let d = vec![domain("test.mycompany.com", "notifications")];
        assert_eq!(
            test_sender(Some("dummy.com, full_email@example_2.com, dummy2.com"), &d),
            "full_email@example_2.com"
        );
        assert_eq!(
            test_sender(Some("test.mycompany.com"), &d),
            "notifications@test.mycompany.com"
        );
        assert_eq!(
            test_sender(Some("test.mycompany.com, example_2.com"), &d),
            "notifications@test.mycompany.com"
        );
        assert_eq!(test_sender(Some("other.com"), &d), "postern@other.com");
        for blank in [None, Some(""), Some(",")] {
            assert_eq!(test_sender(blank, &d), "notifications@test.mycompany.com");
        }
        assert_eq!(test_sender(None, &[]), "postern@localhost");
    }
}
