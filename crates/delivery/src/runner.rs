//! The delivery loop: claim a batch of due mails (with a lease), prepare them, group them per
//! (server, envelope sender), send each group over a few reused connections in parallel, and
//! write the results back in batched transactions.
//!
//! How it fails: a server that cannot be reached, or answers 4xx, leaves the mail `outgoing`
//! with a backoff; a store that fails stops the batch, and the leases run out so that the mails
//! are claimed again (by this node or another). A crash between sending and recording sends
//! those mails again after the lease: at least once, never lost.

use crate::mx::{self, MxServer};
use crate::outcome::{self, Attempt, Backoff};
use crate::prepare::{self, Context, Preparation, Prepared};
use crate::{DeliveryConfig, DeliveryError, server_settings};
use postern_auth::Signers;
use postern_compose::build::Attachment;
use postern_model::address::email_normalize;
use postern_model::{MessageId, OutgoingServerId, ServerKind};
use postern_smtp::client::{ClientError, ClientSettings, Connection};
use postern_store::{AttemptState, DeliveryServer, MailResult, Store, now_ms};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Longest time a delivered mail waits before its result is committed.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Mails claimed.
    pub claimed: usize,
    /// Mails now `sent`.
    pub sent: usize,
    /// Mails to be tried again.
    pub retried: usize,
    /// Mails in `exception`.
    pub failed: usize,
    /// Mails held back by a send limit of their server (not tried; due when it allows).
    pub waiting: usize,
}

/// Reads what preparing needs: servers, alias domains, the gateway company's domain, params.
pub(crate) async fn load_context(
    store: &Store,
    cfg: &DeliveryConfig,
) -> Result<Context, DeliveryError> {
    let mut tx = store.read().await?;
    let servers = tx.delivery_servers(false).await?;
    let domains = tx.alias_domains().await?;
    let company_domain = tx.first_company().await?.and_then(|c| c.alias_domain);
    let default_domain = company_domain
        .and_then(|n| domains.iter().find(|d| d.name == n).cloned())
        .or_else(|| domains.first().cloned());
    let mass = tx.get_param("mass_mailing.mail_server").await?;
    let mass_server = mass.and_then(|name| {
        servers
            .iter()
            .find(|s| s.name == name || s.id.to_string() == name)
            .map(|s| s.id)
    });
    let default_filter = tx.get_param("mail.default.from_filter").await?;
    tx.rollback().await?;
    let verp_key = gateway_key(store, "verp").await?;
    let unsubscribe = match &cfg.public_url {
        Some(base) => Some((gateway_key(store, "unsubscribe").await?, base.clone())),
        None => None,
    };
    Ok(Context {
        servers,
        domains,
        default_domain,
        mass_server,
        default_filter,
        verp_key: Some(verp_key),
        unsubscribe,
    })
}

/// The store's key for `purpose`, made on first use.
async fn gateway_key(store: &Store, purpose: &str) -> Result<Arc<[u8]>, DeliveryError> {
    let mut tx = store.read().await?;
    let key = tx.gateway_key(purpose).await?;
    tx.rollback().await?;
    if let Some(k) = key {
        return Ok(k.into());
    }
    let mut tx = store.begin().await?;
    let k = tx.ensure_gateway_key(purpose).await?;
    tx.commit().await?;
    Ok(k.into())
}

fn jitter() -> f64 {
    postern_store::random_unit()
}

/// Claims one batch and delivers it. Returns what happened.
pub async fn run_once(store: &Store, cfg: &DeliveryConfig) -> Result<BatchStats, DeliveryError> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    let claimed = tx
        .claim_due_mails(&cfg.node, now, cfg.lease.as_millis() as i64, cfg.batch)
        .await?;
    tx.commit().await?;
    let mut stats = BatchStats {
        claimed: claimed.len(),
        ..Default::default()
    };
    if claimed.is_empty() {
        return Ok(stats);
    }
    let ctx = load_context(store, cfg).await?;
    let signers = Arc::new(load_signers(store).await?);
    let mut results = Vec::new();
    let mut ready = Vec::new();
    {
        let mut tx = store.read().await?;
        for mail in &claimed {
            let stored = if mail.attempts > 0 {
                tx.mail_recipients(mail.id).await?
            } else {
                Vec::new()
            };
            match prepare::prepare(mail, &stored, &ctx, now, &cfg.backoff) {
                Preparation::Send(p) => ready.push(p),
                Preparation::Done(r) => results.push(r),
            }
        }
        ready = skip_suppressed(&mut tx, ready, &cfg.backoff, &mut results).await?;
        tx.rollback().await?;
    }
    let before = ready.len();
    ready = crate::limits::hold_back(store, ready, &ctx.servers, now).await?;
    let tokens = crate::oauth::tokens(store, cfg.oauth.as_ref(), &ctx.servers, &mut ready).await?;
    stats.waiting = before - ready.len();
    let (sender, mut receiver) = mpsc::channel::<MailResult>(1024);
    let shared = Arc::new(Shared::new(
        store,
        signers,
        (&ctx.servers, &tokens),
        cfg,
        sender,
    ));
    let chunks = group(ready, cfg.connections, &shared.mx);
    let workers = spawn_workers(shared, chunks, cfg.connections);
    let mut pending = results;
    // Results are committed by the hundred, and at least every 100 ms: what a crash can make
    // the next node send again is what was delivered since the last commit.
    let mut last = std::time::Instant::now();
    loop {
        let next = tokio::time::timeout(FLUSH_EVERY, receiver.recv()).await;
        match next {
            Ok(Some(r)) => pending.push(r),
            Ok(None) => break,
            Err(_) => {}
        }
        if pending.len() >= cfg.commit_every || last.elapsed() >= FLUSH_EVERY {
            record(store, &mut pending, &mut stats).await?;
            last = std::time::Instant::now();
        }
    }
    record(store, &mut pending, &mut stats).await?;
    for w in workers {
        let _ = w.await;
    }
    Ok(stats)
}

async fn record(
    store: &Store,
    pending: &mut Vec<MailResult>,
    stats: &mut BatchStats,
) -> Result<(), DeliveryError> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    tx.record_mail_results(pending).await?;
    tx.commit().await?;
    for r in pending.drain(..) {
        match r.state {
            AttemptState::Sent => {
                stats.sent += 1;
                metrics::counter!("postern_mails_total", "result" => "sent").increment(1);
                tracing::info!(mail_id = r.mail_id.get(), server_id = ?r.server_id, "mail sent");
            }
            AttemptState::Retry(at) => {
                stats.retried += 1;
                metrics::counter!("postern_mails_total", "result" => "deferred").increment(1);
                tracing::info!(mail_id = r.mail_id.get(), next_try_at = at, reason = ?r.failure_reason, "mail deferred");
            }
            AttemptState::Exception => {
                stats.failed += 1;
                metrics::counter!("postern_mails_total", "result" => "failed").increment(1);
                tracing::info!(mail_id = r.mail_id.get(), failure_type = ?r.failure_type, reason = ?r.failure_reason, "mail failed");
            }
        }
    }
    Ok(())
}

/// A share of a group: mails with the same server and envelope sender.
struct Chunk {
    server_id: OutgoingServerId,
    mails: Vec<Prepared>,
}

/// Groups per (server, envelope sender) — and, for an mx server, per destination domain, so
/// that a domain's mails share a connection —, transactional groups first, each group cut in
/// up to `connections` chunks (so that a large group uses several connections at once).
fn group(
    ready: Vec<Prepared>,
    connections: usize,
    mx: &HashMap<OutgoingServerId, MxServer>,
) -> VecDeque<Chunk> {
    type Key = (bool, OutgoingServerId, String, String);
    let mut order: Vec<Key> = Vec::new();
    let mut groups: HashMap<Key, Vec<Prepared>> = HashMap::new();
    for p in ready {
        let domain = match mx.contains_key(&p.server_id) {
            true => mx::first_domain(&p.rcpts),
            false => String::new(),
        };
        let key = (p.mass, p.server_id, p.mail_from.clone(), domain);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(p);
    }
    order.sort_by_key(|k| k.0);
    let mut chunks = VecDeque::new();
    for key in order {
        let mut mails = groups.remove(&key).unwrap_or_default();
        let size = mails.len().div_ceil(connections.max(1)).max(25);
        while !mails.is_empty() {
            let rest = mails.split_off(size.min(mails.len()));
            chunks.push_back(Chunk {
                server_id: key.1,
                mails,
            });
            mails = rest;
        }
    }
    chunks
}

/// What every worker of a batch shares.
struct Shared {
    store: Store,
    signers: Arc<Signers>,
    /// Each server's client settings (or why there are none).
    settings: HashMap<OutgoingServerId, Result<ClientSettings, String>>,
    /// The servers of kind `mx` (with settings).
    mx: HashMap<OutgoingServerId, MxServer>,
    direct: mx::Direct,
    sender: mpsc::Sender<MailResult>,
    backoff: Backoff,
    oauth: Option<postern_oauth::OAuth>,
}

/// The access token of each `oauth` server, or why there is none.
type Tokens = HashMap<OutgoingServerId, Result<postern_model::Secret, String>>;

/// The client settings of a server, logging in with its access token when it is an `oauth` one.
fn settings_of(
    s: &DeliveryServer,
    cfg: &DeliveryConfig,
    tokens: &Tokens,
) -> Result<ClientSettings, String> {
    let mut settings = server_settings(s, &cfg.hostname, cfg.timeout)?;
    if s.auth == "oauth" {
        let token = tokens
            .get(&s.id)
            .cloned()
            .unwrap_or_else(|| Err("no OAuth access token".into()))?;
        settings.credentials = Some(postern_smtp::client::Credentials::XOAuth2 {
            username: s.username.clone().unwrap_or_default(),
            token,
        });
    }
    Ok(settings)
}

impl Shared {
    fn new(
        store: &Store,
        signers: Arc<Signers>,
        (servers, tokens): (&[DeliveryServer], &Tokens),
        cfg: &DeliveryConfig,
        sender: mpsc::Sender<MailResult>,
    ) -> Shared {
        let settings: HashMap<OutgoingServerId, Result<ClientSettings, String>> = servers
            .iter()
            .map(|s| (s.id, settings_of(s, cfg, tokens)))
            .collect();
        let mx = servers
            .iter()
            .filter(|s| s.kind == ServerKind::Mx)
            .filter_map(|s| {
                let settings = settings.get(&s.id)?.as_ref().ok()?.clone();
                let per_domain = usize::try_from(s.connections_per_domain).unwrap_or(1);
                Some((
                    s.id,
                    MxServer {
                        id: s.id,
                        settings,
                        per_domain,
                    },
                ))
            })
            .collect();
        Shared {
            store: store.clone(),
            signers,
            settings,
            mx,
            direct: mx::Direct::new(cfg.dns.clone()),
            sender,
            backoff: cfg.backoff,
            oauth: cfg.oauth.clone(),
        }
    }
}

fn spawn_workers(
    shared: Arc<Shared>,
    chunks: VecDeque<Chunk>,
    connections: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let n = connections.max(1).min(chunks.len());
    let queue = Arc::new(Mutex::new(chunks));
    (0..n)
        .map(|_| tokio::spawn(work(shared.clone(), queue.clone())))
        .collect()
}

/// One worker: takes chunks until none is left, keeping its connection (to a relay, or to
/// each destination domain) for the next chunk.
async fn work(sh: Arc<Shared>, queue: Arc<Mutex<VecDeque<Chunk>>>) {
    let mut current: Option<(OutgoingServerId, Connection)> = None;
    let mut open = mx::Open::default();
    loop {
        let chunk = queue.lock().ok().and_then(|mut q| q.pop_front());
        let Some(chunk) = chunk else { break };
        if let Some(server) = sh.mx.get(&chunk.server_id) {
            if !send_chunk_mx(&sh, server, chunk, &mut open).await {
                break;
            }
            continue;
        }
        let s = sh
            .settings
            .get(&chunk.server_id)
            .cloned()
            .unwrap_or_else(|| Err("the server was removed".into()));
        let conn = match current.take() {
            Some((id, c)) if id == chunk.server_id => Some(c),
            Some((_, c)) => {
                c.quit().await;
                None
            }
            None => None,
        };
        current = send_chunk(&sh, chunk, s, conn).await;
    }
    if let Some((_, c)) = current {
        c.quit().await;
    }
    open.close_all().await;
}

/// Sends the mails of a chunk of an mx server, each to its recipients' domains; false when the
/// results can no longer be handed over.
async fn send_chunk_mx(sh: &Shared, server: &MxServer, chunk: Chunk, open: &mut mx::Open) -> bool {
    for p in chunk.mails {
        let result = match message_bytes((&sh.store, &sh.signers), &p).await {
            Ok(bytes) => {
                let outcomes = mx::send(&sh.direct, open, server, &p, &bytes).await;
                decide(p, outcomes, &sh.backoff)
            }
            Err(e) => untried(&p, e.to_string(), &sh.backoff),
        };
        if sh.sender.send(result).await.is_err() {
            return false;
        }
    }
    true
}

/// Sends the mails of a chunk over one connection (reopened once if it breaks); returns the
/// connection, still open, for the worker's next chunk.
async fn send_chunk(
    sh: &Shared,
    chunk: Chunk,
    settings: Result<ClientSettings, String>,
    mut conn: Option<Connection>,
) -> Option<(OutgoingServerId, Connection)> {
    let (store, signers, sender, backoff) = (&sh.store, &*sh.signers, &sh.sender, &sh.backoff);
    let server_id = chunk.server_id;
    let mut broken: Option<String> = None;
    for p in chunk.mails {
        let result = match (&settings, &broken) {
            (Err(e), _) => untried(&p, e.clone(), backoff),
            (_, Some(reason)) => untried(&p, reason.clone(), backoff),
            (Ok(s), None) => match send_one((store, signers), s, &mut conn, &p).await {
                Ok(outcomes) => decide(p, outcomes, backoff),
                Err(e) => {
                    if let (
                        ClientError::Auth(_),
                        Some(postern_smtp::client::Credentials::XOAuth2 { .. }),
                    ) = (&e, &s.credentials)
                    {
                        crate::oauth::refused(sh.oauth.as_ref(), server_id).await;
                    }
                    let reason = e.to_string();
                    tracing::warn!(server_id = server_id.get(), error = %reason, "delivery connection failed");
                    broken = Some(reason.clone());
                    untried(&p, reason, backoff)
                }
            },
        };
        if sender.send(result).await.is_err() {
            return None;
        }
    }
    conn.map(|c| (server_id, c))
}

/// The bytes of a mail, its attachments read, DKIM-signed.
async fn message_bytes(
    (store, signers): (&Store, &Signers),
    p: &Prepared,
) -> Result<Vec<u8>, ClientError> {
    match attachments(store, p.attachments_of).await {
        Ok(files) => Ok(signed(signers, p, p.parts.bytes(&files))),
        Err(e) => Err(ClientError::Protocol(
            "reading the attachments",
            e.to_string(),
        )),
    }
}

/// Sends one mail; a connection that broke after earlier use is reopened once.
async fn send_one(
    (store, signers): (&Store, &Signers),
    s: &ClientSettings,
    conn: &mut Option<Connection>,
    p: &Prepared,
) -> Result<Vec<(String, postern_smtp::client::RcptOutcome)>, ClientError> {
    let bytes = message_bytes((store, signers), p).await?;
    let reused = conn.is_some();
    if conn.is_none() {
        *conn = Some(Connection::open(s).await?);
    }
    let Some(c) = conn.as_mut() else {
        return Err(ClientError::Closed("connecting"));
    };
    match transactions(c, p, &p.rcpts, &bytes).await {
        Ok(o) => Ok(o),
        Err(_) if reused => {
            *conn = None;
            let mut fresh = Connection::open(s).await?;
            let r = transactions(&mut fresh, p, &p.rcpts, &bytes).await;
            if r.is_ok() {
                *conn = Some(fresh);
            }
            r
        }
        Err(e) => {
            *conn = None;
            Err(e)
        }
    }
}

/// One SMTP transaction for `rcpts` (recipients of the mail), or, with VERP, one per
/// recipient, each with its own return path.
pub(crate) async fn transactions(
    c: &mut Connection,
    p: &Prepared,
    rcpts: &[String],
    bytes: &[u8],
) -> Result<Vec<(String, postern_smtp::client::RcptOutcome)>, ClientError> {
    if p.verp.is_none() {
        return c.send(&p.mail_from, rcpts, bytes).await;
    }
    let mut outcomes = Vec::with_capacity(rcpts.len());
    for (i, rcpt) in rcpts.iter().enumerate() {
        let one = std::slice::from_ref(rcpt);
        match c.send(&p.mail_from_for(rcpt), one, bytes).await {
            Ok(o) => outcomes.extend(o),
            // Nothing delivered yet: the whole mail is retried (on a fresh connection first).
            Err(e) if i == 0 => return Err(e),
            // Some recipients got it: they stay delivered, the rest is tried again later.
            Err(e) => {
                let reply = postern_smtp::client::Reply {
                    code: 451,
                    text: format!("4.4.2 not tried: {e}"),
                };
                for r in &rcpts[i..] {
                    outcomes.push((
                        r.clone(),
                        postern_smtp::client::RcptOutcome::Refused(reply.clone()),
                    ));
                }
                break;
            }
        }
    }
    Ok(outcomes)
}

/// The DKIM signers of every alias domain with a key; a key that cannot be read is logged and
/// left out (its domain's mail goes out unsigned rather than not at all).
async fn load_signers(store: &Store) -> Result<Signers, DeliveryError> {
    let mut tx = store.read().await?;
    let keys = tx.dkim_signing_keys().await?;
    tx.rollback().await?;
    let mut errors = Vec::new();
    let mut usable = Vec::new();
    for k in keys {
        // A key of the configuration lives in its file, read at each load (a replaced file
        // is used from the next run on).
        let (algorithm, private_key) = match &k.key_file {
            None => (k.algorithm, k.private_key),
            Some(file) => match postern_auth::keys::read_key_file(std::path::Path::new(file)) {
                Ok(read) => (read.algorithm, read.private_key),
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            },
        };
        usable.push(postern_auth::SigningKey {
            domain: k.domain,
            selector: k.selector,
            algorithm,
            private_key,
        });
    }
    let (signers, unreadable) = Signers::new(usable);
    errors.extend(unreadable);
    // Logged once while it lasts (the keys are loaded for each batch), and when it ends.
    if errors.is_empty() {
        DKIM_KEYS.ok();
    }
    for e in errors {
        DKIM_KEYS.failed(&format!("{e}; its domain's mail goes out unsigned"));
    }
    Ok(signers)
}

/// The reading of the DKIM keys, for a key that cannot be read (a key file gone or replaced
/// by something else).
static DKIM_KEYS: postern_store::Outage = postern_store::Outage::new("reading the DKIM keys");

/// The message with the DKIM signatures of its From domain in front, made on the final bytes,
/// after every header change. A failed signature is logged and the mail goes out unsigned.
fn signed(signers: &Signers, p: &Prepared, bytes: Vec<u8>) -> Vec<u8> {
    let Some(domain) = p.parts.from_domain().filter(|_| !signers.is_empty()) else {
        return bytes;
    };
    match signers.sign(&domain, &bytes) {
        Ok(headers) if headers.is_empty() => bytes,
        Ok(headers) => [headers.into_bytes(), bytes].concat(),
        Err(e) => {
            tracing::error!(mail_id = p.mail_id.get(), error = %e, "mail sent unsigned");
            bytes
        }
    }
}

/// The files of the thread message a mail carries.
async fn attachments(
    store: &Store,
    message: Option<MessageId>,
) -> Result<Vec<Attachment>, DeliveryError> {
    let Some(m) = message else {
        return Ok(Vec::new());
    };
    let mut tx = store.read().await?;
    let files = tx.mail_attachments(m).await?;
    tx.rollback().await?;
    Ok(files
        .into_iter()
        .map(|(filename, mimetype, content)| Attachment {
            filename,
            mimetype,
            content,
        })
        .collect())
}

/// Takes the addresses on the suppression list out of the recipients to try (a mass mail also
/// skips those suppressed for mass mail only); a mail left with none is done without a
/// connection.
async fn skip_suppressed(
    tx: &mut postern_store::Tx,
    ready: Vec<Prepared>,
    backoff: &Backoff,
    done: &mut Vec<MailResult>,
) -> Result<Vec<Prepared>, DeliveryError> {
    let addresses: Vec<String> = ready.iter().flat_map(|p| p.rcpts.clone()).collect();
    let found = tx.suppressions_of(&addresses).await?;
    if found.is_empty() {
        return Ok(ready);
    }
    let mut kept = Vec::with_capacity(ready.len());
    for mut p in ready {
        let mut send = Vec::new();
        for a in std::mem::take(&mut p.rcpts) {
            let norm = email_normalize(&a).unwrap_or_default();
            match found.iter().find(|s| s.address == norm && s.stops(p.mass)) {
                Some(s) => p.attempt.suppressed.push((a, s.describe())),
                None => send.push(a),
            }
        }
        p.rcpts = send;
        if p.rcpts.is_empty() {
            done.push(decide(p, Vec::new(), backoff));
        } else {
            kept.push(p);
        }
    }
    Ok(kept)
}

fn decide(
    p: Prepared,
    outcomes: Vec<(String, postern_smtp::client::RcptOutcome)>,
    backoff: &Backoff,
) -> MailResult {
    let t = tried(&p);
    let attempt = Attempt {
        outcomes,
        ..p.attempt
    };
    outcome::decide(t, attempt, now_ms(), backoff, jitter())
}

fn tried(p: &Prepared) -> outcome::Tried {
    outcome::Tried {
        mail_id: p.mail_id,
        server_id: Some(p.server_id),
        attempts_before: p.attempts,
        age_from: p.age_from,
    }
}

fn untried(p: &Prepared, reason: String, backoff: &Backoff) -> MailResult {
    let attempt = Attempt {
        untried: p.rcpts.clone(),
        untried_reason: Some(reason),
        ..p.attempt.clone()
    };
    outcome::decide(tried(p), attempt, now_ms(), backoff, jitter())
}
