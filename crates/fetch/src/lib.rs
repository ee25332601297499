//! postern-fetch — the IMAP and POP3 pollers of incoming servers and their schedule: fetch,
//! `accept`, and only then acknowledge (`\Seen`, `DELE`).
//!
//! Owns: the mailbox protocols ([`imap`](crate::imap) on `async-imap`, a small POP3 client of
//! our own in `pop3`), the TLS variants (`tls`), one poll of one server ([`Fetcher`]) and the
//! scheduler of `postern serve` ([`schedule`]). Must not: route or store messages itself — every
//! message goes through `Gateway::accept`, and the polling state through the store.
//!
//! The rules of a poll (DESIGN.md, "the pipeline"; behaviour reference §11, newest master):
//! - unseen (IMAP) / present (POP3) messages, oldest first, at most `max_messages` per run;
//! - a message is acknowledged (`\Seen`, `DELE`) only after `accept` committed it; a crash in
//!   between fetches it again, and `accept` ignores it as a duplicate (same Message-ID);
//! - a message whose `accept` fails is left in the mailbox and its failures counted; after
//!   `postern.fetch.max_failures` (3) it is kept as an `unprocessable` raw message (bytes and
//!   error, in `/api/v1/raw-messages`) and acknowledged, so one poison message never blocks a
//!   mailbox; a message that cannot be parsed at all is kept so at once (it never will be);
//! - a poll that cannot reach or log in to the mailbox is counted on the server (`last_error`,
//!   `error_count`); failures that go on longer than `postern.fetch.disable_after_hours` (120)
//!   disable the server (`disabled_at`) until a manual fetch succeeds;
//! - one node at a time polls a server: a lease on the server row (`lease_owner`, `lease_until`).
//!
//! Secrets: passwords and tokens are read from the store or the environment for the login and
//! never logged (`Secret`).
#![warn(missing_docs)]

mod imap;
mod pop3;
pub mod schedule;
mod tls;

pub use tls::TlsSettings;

use imap::Imap;
use pop3::Pop3;
use postern_gateway::{AcceptError, Gateway, Received};
use postern_gateway::{Envelope, Outcome};
use postern_model::{Encryption, FetchAuth, FetchProtocol, IncomingServerId, Secret, Source};
use postern_oauth::{OAuth, OAuthServer};
use postern_store::{FetchParams, FetchTarget, NewRawMessage, StoreError, now_ms};
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A lease on a server lasts this long by default; a poll renews it as it goes (at half of it,
/// and at each wake of an IMAP IDLE watch, which waits at most half of it).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

/// Why a poll did not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server could not be reached, or the connection was lost or timed out.
    #[error("connection failed: {0}")]
    Connect(String),
    /// TLS could not be set up (handshake, certificate).
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The server refused the login.
    #[error("login failed: {0}")]
    Auth(String),
    /// No password or token to log in with.
    #[error("no credentials: {0}")]
    Credentials(String),
    /// No OAuth access token: the grant failed (the provider's reason), or the provider is
    /// unavailable.
    #[error("{0}")]
    OAuth(String),
    /// The server answered something unexpected or refused a command.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Another poll of this server is running (on this node or another).
    #[error("incoming server {0} is being polled already")]
    Busy(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The poll was stopped (shutdown) while waiting in IDLE; not an error of the server.
    #[error("stopped")]
    Stopped,
}

/// What one poll of one server did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// The server's id.
    pub server_id: i64,
    /// The server's name.
    pub server: String,
    /// Messages fetched from the mailbox.
    pub fetched: u32,
    /// Stored (routed, or deliberately ignored: loops, bounces, refusals) and acknowledged.
    pub accepted: u32,
    /// Already stored (same Message-ID), acknowledged.
    pub duplicates: u32,
    /// Failed this time, left in the mailbox for the next poll.
    pub failed: u32,
    /// Kept as unprocessable raw messages and acknowledged (poison or unparseable).
    pub unprocessable: u32,
    /// Larger than the maximum message size: not downloaded, left in the mailbox.
    pub too_large: u32,
    /// The error that ended the poll, if any (also kept on the server).
    pub error: Option<String>,
    /// This poll's error disabled the server.
    pub disabled: bool,
}

/// What a poll logs in with.
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) secret: Secret,
    pub(crate) auth: FetchAuth,
}

impl Credentials {
    /// The credentials of an `oauth` server: its login and a fresh access token.
    async fn oauth(target: &FetchTarget, oauth: Option<&OAuth>) -> Result<Credentials, FetchError> {
        let oauth = oauth.ok_or_else(|| {
            FetchError::OAuth("OAuth is not set up on this node (no secret key)".into())
        })?;
        let token = oauth
            .access_token(OAuthServer::Incoming(target.id))
            .await
            .map_err(|e| FetchError::OAuth(e.to_string()))?;
        Ok(Credentials {
            username: target.username.clone(),
            secret: token,
            auth: FetchAuth::Oauth,
        })
    }

    fn of(target: &FetchTarget) -> Result<Credentials, FetchError> {
        let from_env = target
            .password_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
            .map(Secret::new);
        let secret = from_env
            .or_else(|| target.password.0.clone())
            .ok_or_else(|| {
                FetchError::Credentials(match &target.password_env {
                    Some(name) => format!(
                        "the environment variable {name} is not set and no password is stored"
                    ),
                    None => "no password stored and no password_env".into(),
                })
            })?;
        Ok(Credentials {
            username: target.username.clone(),
            secret,
            auth: target.auth,
        })
    }

    /// The XOAUTH2 initial response (before base64).
    pub(crate) fn xoauth2(&self) -> String {
        format!(
            "user={}\x01auth=Bearer {}\x01\x01",
            self.username,
            self.secret.expose()
        )
    }
}

/// Polls incoming servers into the gateway. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    gateway: Gateway,
    tls: TlsSettings,
    owner: String,
    max_message_size: u64,
    lease: Duration,
    oauth: Option<OAuth>,
}

/// The largest message fetched by default (the SMTP listener's default maximum too).
pub use postern_model::DEFAULT_MAX_MESSAGE_SIZE;

enum Verdict {
    Acknowledge,
    Leave,
}

impl Fetcher {
    /// A fetcher feeding `gateway`, connecting with `tls`.
    pub fn new(gateway: Gateway, tls: TlsSettings) -> Fetcher {
        let owner = postern_store::lease_owner();
        Fetcher {
            gateway,
            tls,
            owner,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            lease: DEFAULT_LEASE,
            oauth: None,
        }
    }

    /// Servers with `auth = "oauth"` log in with an access token from `oauth` (without it,
    /// their polls fail, saying so).
    pub fn with_oauth(mut self, oauth: Option<OAuth>) -> Fetcher {
        self.oauth = oauth;
        self
    }

    /// How long a poll holds its server's lease without renewing it ([`DEFAULT_LEASE`]; at
    /// least 2 s): a node that dies in the middle of a poll keeps the others off its server
    /// this long. `serve` reads `POSTERN_FETCH_LEASE_SECONDS`.
    pub fn with_lease(mut self, lease: Duration) -> Fetcher {
        self.lease = lease.max(Duration::from_secs(2));
        self
    }

    /// Messages larger than `bytes` (as the server announces them: IMAP `RFC822.SIZE`, POP3
    /// `LIST`) are not downloaded: they stay in the mailbox, unacknowledged, are counted in the
    /// report (`too_large`) and logged, at every poll, until someone removes them or raises the
    /// limit. `serve` uses `[server] max_message_size`.
    pub fn with_max_message_size(mut self, bytes: u64) -> Fetcher {
        self.max_message_size = bytes;
        self
    }

    /// Who holds the leases this fetcher takes.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Polls server `id` now, whatever its interval, and even when archived or disabled (a
    /// success enables a disabled server again): `POST /incoming-servers/{id}/fetch`.
    pub async fn fetch_now(&self, id: IncomingServerId) -> Result<RunReport, FetchError> {
        self.poll_server(id, None).await
    }

    /// Polls once every active, enabled server (by priority), or only the one named `server`
    /// (whatever its state): `postern fetch --once [--server NAME]`.
    pub async fn fetch_once(&self, server: Option<&str>) -> Result<Vec<RunReport>, FetchError> {
        let store = self.gateway.store();
        let ids = match server {
            Some(name) => {
                let mut tx = store.read().await?;
                let id = tx
                    .find_incoming_server(name)
                    .await?
                    .ok_or_else(|| StoreError::not_found("incoming server", name))?;
                vec![id]
            }
            None => {
                let mut tx = store.read().await?;
                // every enabled server is due "now + forever"
                tx.due_incoming_servers(i64::MAX / 2).await?
            }
        };
        let mut reports = Vec::new();
        for id in ids {
            match self.poll_server(id, None).await {
                Ok(report) => reports.push(report),
                Err(FetchError::Busy(name)) => reports.push(RunReport {
                    server_id: id.get(),
                    error: Some(FetchError::Busy(name.clone()).to_string()),
                    server: name,
                    ..Default::default()
                }),
                Err(e) => return Err(e),
            }
        }
        Ok(reports)
    }

    /// One poll of server `id` under its lease; with `idle`, an IMAP server that offers IDLE is
    /// then watched (polled again at each change, or after its interval) until `idle` is
    /// cancelled or the connection fails. Errors of the mailbox are in the report (and on the
    /// server); `Err` is for a busy server or a failing database.
    pub(crate) async fn poll_server(
        &self,
        id: IncomingServerId,
        idle: Option<&CancellationToken>,
    ) -> Result<RunReport, FetchError> {
        let store = self.gateway.store();
        let mut tx = store.begin().await?;
        let leased = tx
            .take_fetch_lease(id, &self.owner, now_ms() + self.lease.as_millis() as i64)
            .await?;
        let target = tx.fetch_target(id).await?;
        let params = tx.fetch_params().await?;
        tx.commit().await?;
        if !leased {
            return Err(FetchError::Busy(target.name));
        }
        let mut report = RunReport {
            server_id: id.get(),
            server: target.name.clone(),
            ..Default::default()
        };
        let span = tracing::info_span!("fetch", server = %target.name);
        let result = tracing::Instrument::instrument(
            self.poll_target(&target, &params, idle, &mut report),
            span,
        )
        .await;
        let mut tx = store.begin().await?;
        match result {
            Ok(()) | Err(FetchError::Stopped) => tx.record_fetch_success(id, now_ms()).await?,
            Err(e) => {
                let text = e.to_string();
                tracing::warn!(server = %target.name, error = %text, "poll failed");
                report.disabled = tx
                    .record_fetch_error(id, now_ms(), &text, params.disable_after_ms)
                    .await?;
                if report.disabled {
                    tracing::error!(server = %target.name, "incoming server disabled: its polls have failed for too long");
                }
                report.error = Some(text);
            }
        }
        tx.release_fetch_lease(id, &self.owner).await?;
        tx.commit().await?;
        let result = if report.error.is_some() {
            "error"
        } else {
            "ok"
        };
        metrics::counter!("postern_fetch_polls_total", "server" => target.name.clone(), "result" => result)
            .increment(1);
        metrics::counter!("postern_fetch_messages_total", "server" => target.name.clone())
            .increment(u64::from(report.fetched));
        Ok(report)
    }

    async fn poll_target(
        &self,
        target: &FetchTarget,
        params: &FetchParams,
        idle: Option<&CancellationToken>,
        report: &mut RunReport,
    ) -> Result<(), FetchError> {
        let port = u16::try_from(target.port)
            .map_err(|_| FetchError::Connect(format!("bad port {}", target.port)))?;
        let mut run = Run {
            target,
            params,
            max: usize::try_from(target.max_messages.max(1)).unwrap_or(50),
            report,
            lease_renewed: Instant::now(),
        };
        match target.protocol {
            FetchProtocol::Pop3 => {
                let mut pop = self.log_in(target, port, Pop3::connect).await?;
                self.poll_pop3(&mut pop, &mut run).await?;
                pop.quit().await
            }
            FetchProtocol::Imap => {
                let mut imap = self.log_in(target, port, Imap::connect).await?;
                self.poll_imap(&mut imap, &mut run).await?;
                if let Some(cancel) = idle
                    && imap.idle
                {
                    imap = self.watch(imap, &mut run, cancel).await?;
                }
                imap.logout().await
            }
        }
    }

    /// Connects and logs in; an OAuth access token that is refused is refreshed at once and
    /// tried once more (it may have been revoked early, or the clock may lie).
    async fn log_in<'a, C, F>(
        &'a self,
        target: &'a FetchTarget,
        port: u16,
        connect: impl Fn(&'a str, u16, Encryption, &'a TlsSettings, Credentials) -> F,
    ) -> Result<C, FetchError>
    where
        F: Future<Output = Result<C, FetchError>>,
    {
        if target.auth != FetchAuth::Oauth {
            let creds = Credentials::of(target)?;
            return connect(&target.host, port, target.encryption, &self.tls, creds).await;
        }
        let creds = Credentials::oauth(target, self.oauth.as_ref()).await?;
        match connect(&target.host, port, target.encryption, &self.tls, creds).await {
            Err(FetchError::Auth(e)) => {
                tracing::info!(server = %target.name, error = %e, "access token refused: refreshing it");
                if let Some(oauth) = &self.oauth {
                    oauth
                        .expire(OAuthServer::Incoming(target.id))
                        .await
                        .map_err(|e| FetchError::OAuth(e.to_string()))?;
                }
                let creds = Credentials::oauth(target, self.oauth.as_ref()).await?;
                connect(&target.host, port, target.encryption, &self.tls, creds).await
            }
            other => other,
        }
    }

    async fn poll_imap(&self, imap: &mut Imap, run: &mut Run<'_>) -> Result<(), FetchError> {
        let failing = self.failing_keys(run.target.id).await?;
        let uids = imap.unseen(run.max).await?;
        let sizes = imap.sizes(&uids).await?;
        for uid in uids {
            let key = format!("imap:{}:{uid}", imap.uid_validity);
            if let Some(&size) = sizes.get(&uid)
                && self.too_large(run, &key, size.into())
            {
                continue;
            }
            let Some(raw) = imap.fetch(uid).await? else {
                continue; // expunged meanwhile
            };
            let verdict = self
                .deliver(run, &key, failing.contains(&key), &raw)
                .await?;
            if let Verdict::Acknowledge = verdict {
                imap.mark_seen(uid).await?;
            }
            self.keep_lease(run, false).await?;
        }
        Ok(())
    }

    async fn poll_pop3(&self, pop: &mut Pop3, run: &mut Run<'_>) -> Result<(), FetchError> {
        let failing = self.failing_keys(run.target.id).await?;
        let (count, _) = pop.stat().await?;
        if count == 0 {
            return Ok(());
        }
        let uidl = match pop.uidl().await {
            Ok(u) => u,
            // UIDL is optional (RFC 1939): without it a message is known by a hash of its bytes
            Err(FetchError::Protocol(e)) => {
                tracing::debug!(error = %e, "no UIDL");
                vec![]
            }
            Err(e) => return Err(e),
        };
        let last = count.min(u32::try_from(run.max).unwrap_or(u32::MAX));
        let sizes = pop.list().await?;
        for n in 1..=last {
            if let Some(&(_, size)) = sizes.iter().find(|(m, _)| *m == n)
                && self.too_large(run, &format!("pop3:#{n}"), size)
            {
                continue;
            }
            let raw = pop.retr(n).await?;
            let key = match uidl.iter().find(|(m, _)| *m == n) {
                Some((_, uid)) => format!("pop3:{uid}"),
                None => format!("pop3-fnv:{:016x}", fnv1a(&raw)),
            };
            let verdict = self
                .deliver(run, &key, failing.contains(&key), &raw)
                .await?;
            if let Verdict::Acknowledge = verdict {
                pop.dele(n).await?;
            }
            self.keep_lease(run, false).await?;
        }
        Ok(())
    }

    /// Renews the lease once half of it has passed (or now, with `now`); a lease lost (this
    /// node was too slow and another took the server) ends the poll.
    async fn keep_lease(&self, run: &mut Run<'_>, now: bool) -> Result<(), FetchError> {
        if !now && run.lease_renewed.elapsed() < self.lease / 2 {
            return Ok(());
        }
        let mut tx = self.gateway.store().begin().await?;
        let kept = tx
            .take_fetch_lease(
                run.target.id,
                &self.owner,
                now_ms() + self.lease.as_millis() as i64,
            )
            .await?;
        tx.commit().await?;
        if !kept {
            return Err(FetchError::Busy(run.target.name.clone()));
        }
        run.lease_renewed = Instant::now();
        Ok(())
    }

    /// IMAP IDLE: waits for news, polls again, until cancelled. Each wake renews the lease and
    /// re-reads the server: a server archived, disabled or pointed elsewhere (host, login...)
    /// stops being watched.
    async fn watch(
        &self,
        mut imap: Imap,
        run: &mut Run<'_>,
        cancel: &CancellationToken,
    ) -> Result<Imap, FetchError> {
        let store = self.gateway.store();
        let name = &run.target.name;
        // woken at least twice per lease, to renew it before another node may take the server
        let wait = Duration::from_secs(run.target.interval_seconds.clamp(10, 240) as u64)
            .min(self.lease / 2);
        tracing::info!(server = %name, "watching INBOX with IDLE");
        // the first poll succeeded: say so now, the watch may last long
        let mut tx = store.begin().await?;
        tx.record_fetch_success(run.target.id, now_ms()).await?;
        tx.commit().await?;
        loop {
            // stopping (serve shuts down) is not an error of the server
            let (back, _news) = tokio::select! {
                r = imap.idle(wait) => r?,
                _ = cancel.cancelled() => {
                    tracing::info!(server = %name, "IDLE ended: stopping");
                    return Err(FetchError::Stopped);
                }
            };
            imap = back;
            self.keep_lease(run, true).await?;
            let mut tx = store.begin().await?;
            let now = tx.fetch_target(run.target.id).await?;
            tx.record_fetch_success(run.target.id, now_ms()).await?;
            tx.commit().await?;
            if !now.active
                || now.disabled_at.is_some()
                || !same_mailbox(run.target, &now)
                || cancel.is_cancelled()
            {
                // the next poll (after the interval) uses the new settings
                return Ok(imap);
            }
            self.poll_imap(&mut imap, run).await?;
        }
    }

    async fn failing_keys(&self, id: IncomingServerId) -> Result<HashSet<String>, FetchError> {
        let mut tx = self.gateway.store().read().await?;
        Ok(tx.failing_message_keys(id).await?.into_iter().collect())
    }

    async fn forget_failures(
        &self,
        id: IncomingServerId,
        key: &str,
        failed_before: bool,
    ) -> Result<(), FetchError> {
        if failed_before {
            let mut tx = self.gateway.store().begin().await?;
            tx.clear_message_failures(id, key).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Whether a message of `size` bytes is over the limit (then counted and logged).
    fn too_large(&self, run: &mut Run<'_>, key: &str, size: u64) -> bool {
        if size <= self.max_message_size {
            return false;
        }
        run.report.too_large += 1;
        tracing::warn!(
            server = %run.report.server,
            message = key,
            size,
            max = self.max_message_size,
            "message larger than the maximum size: left in the mailbox, not fetched"
        );
        true
    }

    /// `accept`s one message and says whether to acknowledge it.
    async fn deliver(
        &self,
        run: &mut Run<'_>,
        key: &str,
        failed_before: bool,
        raw: &[u8],
    ) -> Result<Verdict, FetchError> {
        let target = run.target;
        run.report.fetched += 1;
        let received = received_from(target);
        match self.gateway.accept(raw, &received).await {
            Ok(outcome) => {
                if outcome.outcome == Outcome::Duplicate {
                    run.report.duplicates += 1;
                } else {
                    run.report.accepted += 1;
                }
                self.forget_failures(target.id, key, failed_before).await?;
                Ok(Verdict::Acknowledge)
            }
            Err(AcceptError::Unparseable { reason, .. }) => {
                // kept raw by accept, with its reason; it never will parse
                tracing::warn!(key, reason, "unparseable message kept raw and acknowledged");
                run.report.unprocessable += 1;
                self.forget_failures(target.id, key, failed_before).await?;
                Ok(Verdict::Acknowledge)
            }
            Err(AcceptError::Temporary(e)) => {
                self.count_failure(run, key, raw, &received, e.to_string())
                    .await
            }
        }
    }

    /// Counts a failed `accept`: the message is left for the next poll, or kept as poison.
    async fn count_failure(
        &self,
        run: &mut Run<'_>,
        key: &str,
        raw: &[u8],
        received: &Received,
        error: String,
    ) -> Result<Verdict, FetchError> {
        let target = run.target;
        let mut tx = self.gateway.store().begin().await?;
        let failures = tx.count_message_failure(target.id, key, &error).await?;
        if failures < run.params.max_failures {
            tx.commit().await?;
            tracing::warn!(
                key,
                failures,
                error,
                "message failed; left for the next poll"
            );
            run.report.failed += 1;
            return Ok(Verdict::Leave);
        }
        let why = format!("given up after {failures} failures: {error}");
        tx.insert_raw_message(&NewRawMessage {
            source: received.source.as_str(),
            envelope_rcpts: "[]".into(),
            peer: received.peer.as_deref(),
            tls: received.tls,
            content: raw,
            status: postern_model::RawStatus::Unprocessable,
            error: Some(&why),
            ..Default::default()
        })
        .await?;
        tx.clear_message_failures(target.id, key).await?;
        tx.commit().await?;
        tracing::error!(
            key,
            failures,
            error,
            "poison message kept as unprocessable and acknowledged"
        );
        run.report.unprocessable += 1;
        Ok(Verdict::Acknowledge)
    }
}

/// What `accept` is told of a message fetched from `target`.
fn received_from(target: &FetchTarget) -> Received {
    let source = match target.protocol {
        FetchProtocol::Imap => Source::Imap,
        FetchProtocol::Pop3 => Source::Pop3,
    };
    Received {
        envelope: Envelope {
            mail_from: None,
            rcpt_to: vec![],
            model: target.model.clone(),
            ..Default::default()
        },
        source,
        peer: Some(format!("{}:{}", target.host, target.port)),
        tls: target.encryption != postern_model::Encryption::None,
        keep_original: target.keep_original,
        strip_attachments: !target.attachments,
        ..Default::default()
    }
}

/// One poll in progress: its server, knobs, report, and when its lease was last renewed.
struct Run<'a> {
    target: &'a FetchTarget,
    params: &'a FetchParams,
    max: usize,
    report: &'a mut RunReport,
    lease_renewed: Instant,
}

/// True when `b` still logs in to the same mailbox as `a` (an IDLE watch ends otherwise).
fn same_mailbox(a: &FetchTarget, b: &FetchTarget) -> bool {
    (
        &a.host,
        a.port,
        a.protocol,
        a.encryption,
        a.auth,
        &a.username,
        &a.password_env,
    ) == (
        &b.host,
        b.port,
        b.protocol,
        b.encryption,
        b.auth,
        &b.username,
        &b.password_env,
    ) && a.password.0 == b.password.0
}

/// 64-bit FNV-1a: a stable key for a POP3 message when the server has no UIDL.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn xoauth2_initial_response() {
        let c = Credentials {
            username: "u@example.com".into(),
            secret: Secret::new("tok"),
            auth: FetchAuth::Xoauth2,
        };
        assert_eq!(c.xoauth2(), "user=u@example.com\x01auth=Bearer tok\x01\x01");
    }
}
