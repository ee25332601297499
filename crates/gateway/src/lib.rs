//! postern-gateway — `accept(raw, envelope, source)` and `explain(...)`: the inbound shell around
//! `postern-routing` and `postern-store`.
//!
//! `accept` parses the message, fetches what the decision needs, calls `decide`, counts for the
//! rate limit, and applies the decision in **one** transaction: the raw original, records,
//! messages, attachments, followers, notifications, outbox rows, bounce counters, alias status.
//! It returns only after the commit, so whoever called it may acknowledge the message.
//!
//! How it fails: a message that cannot be parsed is stored raw with its error and reported as
//! [`AcceptError::Unparseable`] (permanent). A failure while applying rolls the transaction back,
//! stores the raw message with the error in a second transaction (best effort), and is reported
//! as [`AcceptError::Temporary`]: the caller makes the sender retry, and a retry of a message
//! that was in fact stored is a duplicate. A concurrent writer storing the same Message-ID first
//! makes this one a duplicate.
//!
//! Author subscription (behaviour reference §14): Postern follows 17.0 — a recognised, active
//! author of an incoming e-mail becomes a follower of the record, whether internal or not, so
//! that the record's replies reach them.
#![warn(missing_docs)]

mod apply;
mod commit;
mod dsn;
mod lookups;
mod notifications;
mod outcome;
pub mod post;

pub use outcome::{AcceptOutcome, BounceSummary, RouteOutcome, SenderAuth};
/// The envelope and the outcome words, as the ways in use them (they need not reach into
/// `postern-routing`).
pub use postern_routing::{DsnRequest, Envelope, Outcome, UNTRUSTED_REFUSAL};

use postern_mime::ParsedMessage;
use postern_model::{RawMessageId, RawStatus, Source};
use postern_store::{NewRawMessage, Packing, Store, StoreError};
use std::borrow::Cow;
use std::sync::Arc;

/// Storing inbound mail: a store that fails (a full disk, a database gone) is logged once per
/// outage, not once per message (each message's fate is at info level).
static STORING: postern_store::Outage = postern_store::Outage::new("storing inbound mail");

/// Why a message was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Not an e-mail message. It was stored raw, with the reason (permanent: do not retry).
    #[error("unparseable message (kept as raw message {raw_message_id}): {reason}")]
    Unparseable {
        /// Why.
        reason: String,
        /// Where it was kept (0 when even that failed).
        raw_message_id: RawMessageId,
    },
    /// The database failed; nothing was applied. Retry later.
    #[error("temporary failure: {0}")]
    Temporary(#[from] StoreError),
}

/// Where a message came from, beyond its bytes.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// The envelope (sender, recipients, fallback model).
    pub envelope: Envelope,
    /// Which way in.
    pub source: Source,
    /// Peer address (network sources).
    pub peer: Option<String>,
    /// HELO/EHLO name.
    pub helo: Option<String>,
    /// Over TLS.
    pub tls: bool,
    /// The way in can refuse the message itself (an SMTP/LMTP reply): a refusal (no route,
    /// catchall, contact policy, invalid alias, rate limit) queues no mail back — the caller
    /// answers 5xx with the explanation instead (DESIGN.md, "goes further" 1).
    pub refuse_in_session: bool,
    /// Attach the original message to the messages it made (an incoming server's
    /// `keep_original`, the reference's `save_original`).
    pub keep_original: bool,
    /// Drop the attachments (an incoming server with `attachments = false`, the reference's
    /// `strip_attachments`).
    pub strip_attachments: bool,
}

/// The inbound gateway.
#[derive(Clone)]
pub struct Gateway {
    store: Store,
    hostname: String,
    /// The group committer (SQLite only).
    committer: Option<tokio::sync::mpsc::Sender<commit::Job>>,
    /// The domains `RCPT` accepts, as last read (see [`Gateway::accepts_recipient`]).
    rcpt_domains: Arc<std::sync::Mutex<Option<RcptDomains>>>,
    /// Messages this process has accepted (see [`Gateway::intake`]).
    intake: Intake,
    /// The authserv-ids whose `Authentication-Results` are trusted (lower-case).
    trusted_authserv_ids: Arc<Vec<String>>,
    /// The limits of a message's structure (`[limits]`).
    limits: postern_mime::Limits,
}

/// How many messages a process's gateway has accepted: a counter that background work (the
/// webhook sender) samples to give way to the mail intake while it is busy.
#[derive(Clone, Debug, Default)]
pub struct Intake(Arc<std::sync::atomic::AtomicU64>);

impl Intake {
    /// Messages accepted so far.
    pub fn count(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn add(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The domains mail may be addressed to: alias domains and `mail.catchall.domain.allowed`,
/// and the addresses found acceptable since they were read.
struct RcptDomains {
    read_at: std::time::Instant,
    domains: Vec<String>,
    allowed: Vec<String>,
    accepted: std::collections::HashSet<String>,
}

impl RcptDomains {
    fn serves(&self, domain: &str) -> bool {
        self.domains.iter().any(|n| n == domain) || self.allowed.iter().any(|n| n == domain)
    }
}

/// The most addresses kept as accepted between two reads of the configuration.
const RCPT_ACCEPTED_MAX: usize = 4096;

/// How `RCPT` judges the local part of an address of a served domain (`[server]
/// recipient_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecipientCheck {
    /// Only addresses that an alias, the catchall, the bounce address or `postmaster` could
    /// accept (the default).
    #[default]
    Alias,
    /// Any address of a served domain; the decision after `DATA` judges it (Odoo's behaviour:
    /// a reply reaches its thread whatever address it was sent to).
    Domain,
}

/// The answer to `RCPT TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcptVerdict {
    /// Accept it (the decision after `DATA` may still refuse the message).
    Accept,
    /// Not a domain of ours: relaying denied (`550 5.7.1`).
    NotOurs,
    /// A domain of ours, but nothing could ever accept this address (`550 5.1.1`).
    NoSuchUser,
}

/// How long a positive `RCPT` answer may come from the domains as last read.
const RCPT_DOMAINS_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl Gateway {
    /// A gateway on `store`; `hostname` is the right part of the Message-IDs it makes. On
    /// SQLite it starts the group committer (so it must be called within a tokio runtime).
    pub fn new(store: Store, hostname: impl Into<String>) -> Gateway {
        let hostname = hostname.into();
        let committer = match store.backend() {
            postern_store::Backend::Sqlite => Some(commit::spawn(store.clone(), hostname.clone())),
            postern_store::Backend::Postgres => None,
        };
        Gateway {
            store,
            hostname,
            committer,
            rcpt_domains: Arc::default(),
            intake: Intake::default(),
            trusted_authserv_ids: Arc::default(),
            limits: postern_mime::Limits::default(),
        }
    }

    /// Refuses messages whose structure passes these limits (header fields, header bytes,
    /// MIME depth and parts): they are kept raw with the reason, as unparseable ones are.
    pub fn with_limits(mut self, limits: postern_mime::Limits) -> Gateway {
        self.limits = limits;
        self
    }

    /// Trusts the `Authentication-Results` of these hosts (their authserv-ids, e.g. the MTA in
    /// front of Postern that verifies SPF, DKIM and DMARC) for mail that Postern did not verify
    /// itself; every other host's fields are ignored.
    pub fn with_trusted_authserv_ids(mut self, ids: &[String]) -> Gateway {
        self.trusted_authserv_ids =
            Arc::new(ids.iter().map(|i| i.trim().to_ascii_lowercase()).collect());
        self
    }

    /// `received` with the verdict of the first `Authentication-Results` of a trusted host, for
    /// mail that Postern did not verify itself (it has no note of sender authentication).
    fn with_trusted_verdict<'r>(&self, raw: &[u8], received: &'r Received) -> Cow<'r, Received> {
        if self.trusted_authserv_ids.is_empty() || received.envelope.auth_note.is_some() {
            return Cow::Borrowed(received);
        }
        let found = postern_mime::authentication_results(raw);
        let trusted = found
            .iter()
            .find(|r| self.trusted_authserv_ids.contains(&r.authserv_id));
        let mut received = received.clone();
        let env = &mut received.envelope;
        match trusted {
            Some(r) => {
                let dmarc = r.dmarc.as_deref().unwrap_or("none");
                env.from_untrusted = dmarc == "fail";
                let meaning = match env.from_untrusted {
                    true => ": the From is not trusted",
                    false => "",
                };
                env.auth_note = Some(format!(
                    "sender authentication by {}: DMARC {dmarc}{meaning}",
                    r.authserv_id
                ));
            }
            None => {
                env.auth_note = Some(format!(
                    "sender authentication: no Authentication-Results of a trusted host ({})",
                    self.trusted_authserv_ids.join(", ")
                ));
            }
        }
        Cow::Owned(received)
    }

    /// The host name in the Message-IDs it makes.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether mail for `address` may be accepted at all (at `RCPT` time): its domain is an
    /// alias domain or in `mail.catchall.domain.allowed`, or an alias matching on the local part
    /// alone (`incoming_local`) has its name. Anything else would make Postern an open relay.
    /// This is [`Gateway::check_recipient`] with [`RecipientCheck::Domain`].
    pub async fn accepts_recipient(&self, address: &str) -> Result<bool, StoreError> {
        let verdict = self
            .check_recipient(address, RecipientCheck::Domain)
            .await?;
        Ok(verdict == RcptVerdict::Accept)
    }

    /// What `RCPT TO:<address>` gets.
    ///
    /// 1. The domain: an alias domain or in `mail.catchall.domain.allowed` (else
    ///    [`RcptVerdict::NotOurs`], unless an `incoming_local` alias has the local part's name).
    /// 2. With [`RecipientCheck::Alias`], the local part of a served domain: an alias of that
    ///    full address, an `incoming_local` alias of that name, the domain's catchall or bounce
    ///    address (also with a `+tag`: reply tokens and VERP), or `postmaster` (RFC 5321
    ///    §4.5.1). Anything else could never be routed to an alias, so it is
    ///    [`RcptVerdict::NoSuchUser`] now rather than a refusal after `DATA` (which a front MTA
    ///    turns into backscatter). The catchall and bounce addresses are judged after `DATA`:
    ///    only the content says whether a mail is a reply or a bounce.
    ///
    /// A positive answer read in the last second is given again without reading the database
    /// (an SMTP client sends a recipient per message, and each read was a quarter of the
    /// listener's CPU); any other answer reads it afresh, so that a domain or alias just added is
    /// never refused. One just removed may pass `RCPT` for that second: the decision after
    /// `DATA`, on the configuration of its own transaction, refuses the message then.
    pub async fn check_recipient(
        &self,
        address: &str,
        check: RecipientCheck,
    ) -> Result<RcptVerdict, StoreError> {
        let Some(norm) = postern_model::address::email_normalize(address) else {
            return Ok(RcptVerdict::NotOurs);
        };
        let Some((local, domain)) = norm.rsplit_once('@') else {
            return Ok(RcptVerdict::NotOurs);
        };
        if let Ok(cached) = self.rcpt_domains.lock()
            && let Some(d) = cached.as_ref()
            && d.read_at.elapsed() < RCPT_DOMAINS_TTL
            && d.serves(domain)
            && (check == RecipientCheck::Domain || d.accepted.contains(&norm))
        {
            return Ok(RcptVerdict::Accept);
        }
        let mut tx = self.store.read().await?;
        let config = lookups::GatewayConfig::load(&mut tx).await?;
        let mut fresh = RcptDomains {
            read_at: std::time::Instant::now(),
            domains: config.domains.iter().map(|d| d.name.clone()).collect(),
            allowed: config.routing.catchall_domain_allowed.clone(),
            accepted: std::collections::HashSet::new(),
        };
        let served = fresh.serves(domain);
        let restricted = !fresh.allowed.is_empty();
        let verdict = if !served && restricted {
            RcptVerdict::NotOurs
        } else {
            let aliases = Self::aliases_taking(&mut tx, &norm, local).await?;
            let by_alias = aliases
                .iter()
                .any(|a| a.incoming_local || a.domain.as_deref().is_some_and(|d| d == domain));
            if !served {
                // Only an `incoming_local` alias takes mail of a domain that is not ours.
                match aliases.iter().any(|a| a.incoming_local) {
                    true => RcptVerdict::Accept,
                    false => RcptVerdict::NotOurs,
                }
            } else if check == RecipientCheck::Domain || by_alias {
                RcptVerdict::Accept
            } else {
                let base = local.split_once('+').map_or(local, |(base, _)| base);
                let special = format!("{base}@{domain}");
                let gateway_address = config.routing.domains.iter().any(|d| {
                    d.name == domain && (d.catchall_email == special || d.bounce_email == special)
                });
                match gateway_address || local == "postmaster" {
                    true => RcptVerdict::Accept,
                    false => RcptVerdict::NoSuchUser,
                }
            }
        };
        if verdict == RcptVerdict::Accept {
            fresh.accepted.insert(norm);
        }
        if let Ok(mut cached) = self.rcpt_domains.lock() {
            // Addresses accepted within the same second are kept with the snapshot.
            if let Some(old) = cached.as_ref()
                && old.read_at.elapsed() < RCPT_DOMAINS_TTL
                && old.domains == fresh.domains
                && old.allowed == fresh.allowed
                && old.accepted.len() < RCPT_ACCEPTED_MAX
            {
                fresh.accepted.extend(old.accepted.iter().cloned());
                fresh.read_at = old.read_at;
            }
            *cached = Some(fresh);
        }
        Ok(verdict)
    }

    /// The aliases that could take `norm` (local part `local`): by its whole address, by its
    /// local part (`incoming_local`), and without its `+tag` (`sales+tag@` reaches the alias
    /// `sales`, routing's `plus_base`).
    async fn aliases_taking(
        tx: &mut postern_store::Tx,
        norm: &str,
        local: &str,
    ) -> Result<Vec<postern_store::AliasRouteRow>, StoreError> {
        let mut names = vec![norm.to_owned()];
        let mut locals = vec![local.to_owned()];
        if let Some(base) = postern_routing::plus_base(norm) {
            locals.push(base.split_once('@').map_or("", |(l, _)| l).to_owned());
            names.push(base);
        }
        tx.aliases_for_routing(&names, &locals).await
    }

    /// What `RCPT TO:<Postmaster>` without a domain stands for (RFC 5321 §4.5.1: a server must
    /// accept it): `postmaster@` the first alias domain (by sequence); `None` without any. The
    /// decision after `DATA` routes it like any address of that domain: an alias named
    /// `postmaster` receives it.
    pub async fn postmaster(&self) -> Result<Option<String>, StoreError> {
        let mut tx = self.store.read().await?;
        let domains = tx.alias_domains().await?;
        Ok(domains.first().map(|d| format!("postmaster@{}", d.name)))
    }

    /// Accepts one message: decides and applies, durably, before returning.
    pub async fn accept(
        &self,
        raw: &[u8],
        received: &Received,
    ) -> Result<AcceptOutcome, AcceptError> {
        self.accept_owned(raw.to_vec(), received).await
    }

    /// The counter of the messages this gateway accepted.
    pub fn intake(&self) -> Intake {
        self.intake.clone()
    }

    /// [`Gateway::accept`] of a message the caller hands over: it is parsed and stored without
    /// being copied (what the SMTP listener uses, for messages of tens of megabytes).
    pub async fn accept_owned(
        &self,
        raw: Vec<u8>,
        received: &Received,
    ) -> Result<AcceptOutcome, AcceptError> {
        let started = std::time::Instant::now();
        let result = self.accept_counted(raw, received).await;
        // `postern_messages_accepted_total{source, outcome}`, the refusals among them, failures,
        // and the time to a durable answer (the metrics of /metrics).
        let source = received.source.as_str();
        let outcome = match &result {
            Ok(o) => o.outcome.as_str(),
            Err(AcceptError::Unparseable { .. }) => "unparseable",
            Err(AcceptError::Temporary(_)) => "temporary_failure",
        };
        metrics::counter!("postern_messages_accepted_total", "source" => source, "outcome" => outcome)
            .increment(1);
        self.intake.add();
        if let Ok(o) = &result
            && o.outcome.is_refusal()
        {
            metrics::counter!("postern_refusals_total", "source" => source, "outcome" => outcome)
                .increment(1);
        }
        metrics::histogram!("postern_accept_seconds", "source" => source)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn accept_counted(
        &self,
        raw: Vec<u8>,
        received: &Received,
    ) -> Result<AcceptOutcome, AcceptError> {
        let mut msg = match postern_mime::parse_within(&raw, &self.limits) {
            Ok(m) => m,
            Err(e) => return Err(self.keep_unparseable(&raw, received, &e.to_string()).await),
        };
        if received.strip_attachments {
            msg.attachments.clear();
        }
        let verdict = self.with_trusted_verdict(&raw, received);
        let received = &*verdict;
        let message_id = msg.message_id.clone();
        let raw = Arc::new(raw);
        let result = match &self.committer {
            Some(committer) => {
                self.accept_batched(committer, raw.clone(), msg, received)
                    .await
            }
            None => self.accept_parsed(&raw, &msg, received).await,
        };
        match result {
            Ok(outcome) => {
                STORING.ok();
                Ok(outcome)
            }
            Err(e) if is_duplicate_race(&e) => {
                tracing::info!(message_id = ?message_id, "stored concurrently by another writer: duplicate");
                Ok(AcceptOutcome::duplicate(message_id.as_deref()))
            }
            Err(e) => {
                // the fault once (a full disk, a database gone), each message's fate at info
                STORING.failed(&e);
                tracing::info!(error = %e, message_id = ?message_id, "accept failed; keeping the raw message");
                self.keep_failed(&raw, received, message_id.as_deref(), &e.to_string())
                    .await;
                Err(AcceptError::Temporary(e))
            }
        }
    }

    /// The decision `accept` would take, with its trace; changes nothing.
    pub async fn explain(
        &self,
        raw: &[u8],
        received: &Received,
    ) -> Result<AcceptOutcome, AcceptError> {
        let msg = postern_mime::parse_within(raw, &self.limits).map_err(|e| {
            AcceptError::Unparseable {
                reason: e.to_string(),
                raw_message_id: RawMessageId(0),
            }
        })?;
        let verdict = self.with_trusted_verdict(raw, received);
        let received = &*verdict;
        let mut tx = self.store.read().await?;
        let config = lookups::GatewayConfig::load(&mut tx).await?;
        let (decision, _) = lookups::decide_in(&mut tx, &config, &msg, &received.envelope).await?;
        tx.rollback().await?;
        let mut outcome = AcceptOutcome::from_decision(&decision, vec![], vec![], None);
        outcome.auth = SenderAuth::of(&received.envelope);
        Ok(outcome)
    }

    async fn accept_batched(
        &self,
        committer: &tokio::sync::mpsc::Sender<commit::Job>,
        raw: Arc<Vec<u8>>,
        msg: ParsedMessage,
        received: &Received,
    ) -> Result<AcceptOutcome, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        // Here, in the caller's task, rather than on the committer's thread (see `Packing`).
        let packed = postern_store::pack(&raw);
        let job = commit::Job {
            raw,
            packed,
            msg,
            received: received.clone(),
            reply,
        };
        if committer.send(job).await.is_err() {
            return Err(StoreError::Unavailable("the committer stopped".into()));
        }
        let outcome = answer
            .await
            .map_err(|_| StoreError::Unavailable("the committer stopped".into()))??;
        tracing::info!(outcome = ?outcome.outcome, routes = outcome.routes.len(), "message accepted");
        Ok(outcome)
    }

    async fn accept_parsed(
        &self,
        raw: &[u8],
        msg: &ParsedMessage,
        received: &Received,
    ) -> Result<AcceptOutcome, StoreError> {
        let mut tx = self.store.begin().await?;
        let config = lookups::GatewayConfig::load(&mut tx).await?;
        let (decision, setup) =
            lookups::decide_in(&mut tx, &config, msg, &received.envelope).await?;
        let outcome = apply::apply(
            &mut tx,
            &self.hostname,
            (raw, Packing::Later),
            msg,
            received,
            decision,
            &setup,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            message_id = ?msg.message_id,
            outcome = ?outcome.outcome,
            routes = outcome.routes.len(),
            "message accepted"
        );
        Ok(outcome)
    }

    async fn keep_unparseable(&self, raw: &[u8], received: &Received, reason: &str) -> AcceptError {
        tracing::warn!(reason, size = raw.len(), "unparseable message kept raw");
        let id = self
            .store_raw(raw, received, None, RawStatus::Failed, reason)
            .await
            .unwrap_or(RawMessageId(0));
        AcceptError::Unparseable {
            reason: reason.to_owned(),
            raw_message_id: id,
        }
    }

    async fn keep_failed(
        &self,
        raw: &[u8],
        received: &Received,
        message_id: Option<&str>,
        error: &str,
    ) {
        if let Err(e) = self
            .store_raw(raw, received, message_id, RawStatus::Failed, error)
            .await
        {
            // the store is failing: said once by `STORING`
            tracing::info!(error = %e, "could not keep the raw message either; the sender must retry");
        }
    }

    async fn store_raw(
        &self,
        raw: &[u8],
        received: &Received,
        message_id: Option<&str>,
        status: RawStatus,
        error: &str,
    ) -> Result<RawMessageId, StoreError> {
        let mut tx = self.store.begin().await?;
        let id = tx
            .insert_raw_message(&raw_row(
                raw,
                Packing::Later,
                received,
                message_id,
                status,
                Some(error),
            ))
            .await?;
        tx.commit().await?;
        Ok(id)
    }
}

pub(crate) fn raw_row<'a>(
    raw: &'a [u8],
    packing: Packing<'a>,
    received: &'a Received,
    message_id: Option<&'a str>,
    status: RawStatus,
    error: Option<&'a str>,
) -> NewRawMessage<'a> {
    NewRawMessage {
        source: received.source.as_str(),
        envelope_sender: received.envelope.mail_from.as_deref(),
        envelope_rcpts: serde_json::to_string(&received.envelope.rcpt_to)
            .unwrap_or_else(|_| "[]".into()),
        peer: received.peer.as_deref(),
        helo: received.helo.as_deref(),
        tls: received.tls,
        header_message_id: message_id,
        content: raw,
        packing,
        status,
        error,
        outcome: None,
    }
}

fn is_duplicate_race(e: &StoreError) -> bool {
    matches!(e, StoreError::DuplicateMessage(_))
}
