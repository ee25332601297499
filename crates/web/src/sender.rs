//! The webhook sender: delivers the events of the store's queue (`postern_store` `events`) to
//! their endpoints on the Standard Webhooks scheme (DESIGN.md, "Webhooks and events").
//!
//! Each round claims due deliveries with a lease (several nodes on PostgreSQL deliver each
//! event once), builds the bodies from the stored rows (on a reader connection), sends the
//! requests concurrently with a timeout, and writes the tries back in one transaction: a body
//! whose try failed is frozen with its delivery, so that every retry sends the same bytes under
//! the same `webhook-id`. A 2xx is delivered; 410 Gone
//! disables the endpoint; anything else, or no answer in time, is tried again on the schedule
//! (by default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight tries over 27 hours), then given
//! up. A crash between sending and recording sends again when the lease runs out: at least
//! once. The sender runs beside the mail intake and never holds the write lock while it waits
//! for an endpoint, so a receiver that hangs slows nothing but its own deliveries.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use postern_store::{
    DeliveryTry, DueDelivery, MAX_RESPONSE_KEPT, NextStep, Store, StoreError, now_ms,
};
use sha2::Sha256;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the sender works in this process.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// This node's name in leases.
    pub node: String,
    /// How long a claimed delivery is held before another node may take it.
    pub lease: Duration,
    /// Deliveries claimed at once.
    pub batch: i64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long an endpoint has to answer (DESIGN.md: 15 s).
    pub timeout: Duration,
    /// The longest sleep when nothing is due.
    pub poll: Duration,
    /// The delay after each failed try; given up after the last.
    pub schedule: Vec<Duration>,
    /// While this process accepts at least `busy_rate` messages a second, deliveries wait for
    /// the intake to calm down — at most this long after they became due.
    pub defer_while_busy: Duration,
    /// Messages a second that make the intake busy.
    pub busy_rate: u64,
    /// Deliveries done (delivered or given up) are deleted, with their tries, after this long.
    pub retention: Duration,
}

impl WebhookConfig {
    /// The defaults, for a node named after `hostname`.
    pub fn new(hostname: &str) -> WebhookConfig {
        WebhookConfig {
            node: format!(
                "{hostname}-{}-{}",
                std::process::id(),
                postern_store::random_hex(4)
            ),
            lease: Duration::from_secs(60),
            batch: 200,
            concurrency: 32,
            timeout: Duration::from_secs(15),
            poll: Duration::from_millis(250),
            schedule: default_schedule(),
            defer_while_busy: Duration::from_secs(10),
            busy_rate: 100,
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: retried for 27 h 35 min after the first try.
pub fn default_schedule() -> Vec<Duration> {
    [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

/// The HTTP client of the sender: verifying TLS with `tls`, no redirects (a webhook URL is
/// what the operator gave), the timeout of `cfg`.
pub fn client(cfg: &WebhookConfig, tls: rustls::ClientConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Postern-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client's settings are valid")
}

/// The webhook sender's access to the store, logged once per outage.
static OUTAGE: postern_store::Outage = postern_store::Outage::new("the webhook sender");

/// Delivers until `shutdown` completes. With `intake` (the gateway's counter of accepted
/// messages), deliveries give way to a busy intake for at most `cfg.defer_while_busy`: mail is
/// accepted first, and the events wait in their durable queue meanwhile.
pub async fn run(
    store: Store,
    cfg: WebhookConfig,
    client: reqwest::Client,
    intake: Option<postern_gateway::Intake>,
    shutdown: impl Future,
) {
    tokio::pin!(shutdown);
    let mut busy = Busy::new(intake, &cfg);
    let mut purged_at: Option<Instant> = None;
    loop {
        if purged_at.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            purge(&store, cfg.retention).await;
            purged_at = Some(Instant::now());
        }
        if busy.should_wait(&store).await {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(cfg.poll) => continue,
            }
        }
        let full = match run_once(&store, &cfg, &client).await {
            Ok(n) => {
                OUTAGE.ok();
                n as i64 >= cfg.batch
            }
            Err(e) => {
                // once per outage, not once per poll; the round's deliveries come back when
                // their lease runs out
                OUTAGE.failed(&e);
                false
            }
        };
        if full {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = std::future::ready(()) => continue,
            }
        }
        let wait = next_wait(&store, cfg.poll).await;
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("webhook sender stopped");
}

/// Whether the intake is busy: the gateway's counter, measured over windows of 200 ms (and at
/// least 20 messages, so that a few mails never count as busy).
struct Busy {
    intake: Option<postern_gateway::Intake>,
    seen: u64,
    at: Instant,
    busy: bool,
    rate: u64,
    defer: Duration,
}

impl Busy {
    fn new(intake: Option<postern_gateway::Intake>, cfg: &WebhookConfig) -> Busy {
        let seen = intake.as_ref().map_or(0, |i| i.count());
        Busy {
            intake,
            seen,
            at: Instant::now(),
            busy: false,
            rate: cfg.busy_rate,
            defer: cfg.defer_while_busy,
        }
    }

    /// True while the intake accepted `rate` messages a second or more over the last window,
    /// and the oldest due delivery has waited less than `defer`.
    async fn should_wait(&mut self, store: &Store) -> bool {
        let Some(intake) = &self.intake else {
            return false;
        };
        let elapsed = self.at.elapsed();
        if elapsed >= Duration::from_millis(200) {
            let (count, seconds) = (intake.count(), elapsed.as_secs_f64());
            let accepted = (count - self.seen) as f64;
            self.busy = accepted >= 20.0 && accepted / seconds >= self.rate as f64;
            (self.seen, self.at) = (count, Instant::now());
        }
        if !self.busy || self.defer.is_zero() {
            return false;
        }
        let due = match store.read().await {
            Ok(mut tx) => tx.next_delivery_due().await.ok().flatten(),
            Err(_) => None,
        };
        due.is_some_and(|at| now_ms() - at < self.defer.as_millis() as i64)
    }
}

/// How often done deliveries older than the retention are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

async fn purge(store: &Store, retention: Duration) {
    let before = now_ms() - retention.as_millis() as i64;
    let result = async {
        let mut tx = store.begin().await?;
        let n = tx.purge_webhook_deliveries(before).await?;
        tx.commit().await?;
        Ok::<u64, StoreError>(n)
    }
    .await;
    match result {
        Ok(0) => {}
        Ok(n) => tracing::info!(deliveries = n, "old webhook deliveries deleted"),
        Err(e) => tracing::warn!(error = %e, "could not delete old webhook deliveries"),
    }
}

async fn next_wait(store: &Store, poll: Duration) -> Duration {
    let next = match store.read().await {
        Ok(mut tx) => tx.next_delivery_due().await.ok().flatten(),
        Err(_) => None,
    };
    match next {
        Some(at) => Duration::from_millis((at - now_ms()).clamp(5, poll.as_millis() as i64) as u64),
        None => poll,
    }
}

/// One round: claims, sends, records; returns how many deliveries were claimed.
pub async fn run_once(
    store: &Store,
    cfg: &WebhookConfig,
    client: &reqwest::Client,
) -> Result<usize, StoreError> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    let claimed = tx
        .claim_due_deliveries(&cfg.node, now, cfg.lease.as_millis() as i64, cfg.batch)
        .await?;
    tx.commit().await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let bodies = bodies(store, &claimed).await?;
    let limit = Arc::new(tokio::sync::Semaphore::new(cfg.concurrency.max(1)));
    let mut sends = tokio::task::JoinSet::new();
    for (d, body) in claimed.iter().cloned().zip(bodies) {
        let (client, limit, schedule) = (client.clone(), limit.clone(), cfg.schedule.clone());
        sends.spawn(async move {
            let _permit = limit.acquire_owned().await;
            send(&client, &d, &body, &schedule).await
        });
    }
    let mut tries = Vec::with_capacity(claimed.len());
    while let Some(t) = sends.join_next().await {
        match t {
            Ok(t) => tries.push(t),
            Err(e) => {
                tracing::error!(error = %e, "a webhook try panicked; retried after the lease")
            }
        }
    }
    let mut tx = store.begin().await?;
    tx.record_delivery_tries(&tries).await?;
    tx.commit().await?;
    Ok(claimed.len())
}

/// The body of each claimed delivery, built on a reader (the writer is the mail intake's).
async fn bodies(store: &Store, claimed: &[DueDelivery]) -> Result<Vec<String>, StoreError> {
    let mut tx = store.read().await?;
    let bodies = crate::payload::event_bodies(&mut tx, claimed).await?;
    tx.rollback().await?;
    Ok(bodies)
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key being the base64 after
/// `whsec_` (a secret without the prefix is used as given).
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = match secret.strip_prefix("whsec_") {
        Some(k) => b64.decode(k).unwrap_or_else(|_| k.as_bytes().to_vec()),
        None => secret.as_bytes().to_vec(),
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", b64.encode(mac.finalize().into_bytes()))
}

/// One try of one delivery.
async fn send(
    client: &reqwest::Client,
    d: &DueDelivery,
    body: &str,
    schedule: &[Duration],
) -> DeliveryTry {
    let attempted_at = now_ms();
    let timestamp = attempted_at / 1000;
    let mut request = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.event_key)
        .header("webhook-timestamp", timestamp.to_string());
    // During a rotation the replaced secret signs too: one signature per secret.
    let signatures: Vec<String> = [d.secret.as_deref(), d.previous_secret.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(|secret| signature(secret, &d.event_key, timestamp, body))
        .collect();
    if !signatures.is_empty() {
        request = request.header("webhook-signature", signatures.join(" "));
    }
    let started = Instant::now();
    let (status, response, error) = match request.body(body.to_owned()).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (Some(status), Some(read_kept(r).await), None)
        }
        Err(e) => (None, None, Some(describe(&e))),
    };
    let duration_ms = started.elapsed().as_millis() as i64;
    let next = next_step(status, d.attempts, schedule, attempted_at);
    let result = match next {
        NextStep::Delivered => "delivered",
        NextStep::RetryAt(_) => "retry",
        NextStep::GiveUp => "failed",
        NextStep::Disable => "disabled",
    };
    metrics::counter!("postern_webhook_deliveries_total", "result" => result).increment(1);
    metrics::histogram!("postern_webhook_seconds").record(duration_ms as f64 / 1000.0);
    DeliveryTry {
        delivery_id: d.id,
        webhook_id: d.webhook_id,
        attempted_at,
        duration_ms,
        status,
        response,
        error,
        next,
        // Frozen for the retries (a delivery that has one keeps it).
        body: (next != NextStep::Delivered && d.payload.is_none()).then(|| body.to_owned()),
    }
}

/// What follows a try that gave `status` (none: no answer), `tries_before` tries having been
/// made before it.
pub fn next_step(
    status: Option<u16>,
    tries_before: i64,
    schedule: &[Duration],
    now: i64,
) -> NextStep {
    match status {
        Some(s) if (200..300).contains(&s) => NextStep::Delivered,
        Some(410) => NextStep::Disable,
        _ => match schedule.get(usize::try_from(tries_before).unwrap_or(usize::MAX)) {
            Some(delay) => NextStep::RetryAt(now + delay.as_millis() as i64),
            None => NextStep::GiveUp,
        },
    }
}

/// At most [`MAX_RESPONSE_KEPT`] bytes of the answer's body (the rest is not read).
async fn read_kept(mut r: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < MAX_RESPONSE_KEPT {
        match r.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(MAX_RESPONSE_KEPT);
    String::from_utf8_lossy(&kept).into_owned()
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if e.is_timeout() {
        "no answer in time".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_of_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification (spec/standard-webhooks.md).
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn the_schedule_decides_what_follows() {
        let s = default_schedule();
        assert_eq!(next_step(Some(204), 0, &s, 0), NextStep::Delivered);
        assert_eq!(next_step(Some(410), 3, &s, 0), NextStep::Disable);
        assert_eq!(next_step(Some(500), 0, &s, 1000), NextStep::RetryAt(6000));
        assert_eq!(next_step(None, 1, &s, 0), NextStep::RetryAt(300_000));
        assert_eq!(next_step(Some(301), 7, &s, 0), NextStep::GiveUp);
        let total: Duration = s.iter().sum();
        assert!(
            total >= Duration::from_secs(24 * 3600),
            "retried for at least 24 h"
        );
    }
}
