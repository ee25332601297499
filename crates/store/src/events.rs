//! Webhook events: a durable queue written in the transaction of the change each event reports.
//!
//! The store's own methods emit them, so that no caller can forget one: `insert_record`
//! (`record.created`), `insert_message` (`message.received` for a message that came by mail,
//! `message.posted` otherwise), the outbox's results (`mail.sent`, `mail.failed`),
//! `bounce_notifications` (`notification.bounced`), `record_fetch_error`
//! (`incoming_server.failed`) and `insert_raw_message` (`raw_message.unprocessable`).
//!
//! An event is written only when an active webhook subscribes to its type (a webhook with no
//! events subscribes to all): one `webhook_deliveries` row per endpoint, all with the event's
//! `event_key` (the `webhook-id`), in one statement. The subscriptions are read once per
//! transaction. The body is built by the sender from the stored rows at the first try, and
//! frozen in the row when that try fails, so that every retry sends the same bytes.
//!
//! The sender (`postern-web`) claims due deliveries with a lease, as the outbox runner claims
//! mails (PostgreSQL: `FOR UPDATE SKIP LOCKED`, several nodes deliver each event once), and
//! writes every try to `webhook_attempts`.

use crate::{Page, PageRequest, StoreError, Tx, TxInner, now_ms, on, random_hex};
use postern_model::{WebhookDeliveryId, WebhookId};
use serde::Serialize;

/// The answer body kept per try.
pub const MAX_RESPONSE_KEPT: usize = 4096;

/// An active webhook and the event types it takes (all when empty).
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    id: WebhookId,
    events: Vec<String>,
}

impl Subscription {
    fn takes(&self, event_type: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event_type)
    }
}

/// A delivery claimed by a sender: the endpoint, the event and its frozen body if built.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    /// The delivery's id.
    pub id: WebhookDeliveryId,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// Its URL.
    pub url: String,
    /// Its signing secret (`whsec_…`), if any.
    pub secret: Option<String>,
    /// The secret it replaced, while that one still signs (a rotation).
    pub previous_secret: Option<String>,
    /// The `webhook-id` header.
    pub event_key: String,
    /// `record.created`, …
    pub event_type: String,
    /// The record, message, mail, … the event is about.
    pub subject_id: Option<i64>,
    /// What the event carries beyond its subject (JSON), if anything.
    pub data: Option<String>,
    /// The body, once built.
    pub payload: Option<String>,
    /// When the event happened (epoch ms).
    pub created_at: i64,
    /// Tries so far.
    pub attempts: i64,
}

/// What one try gave.
#[derive(Debug, Clone)]
pub struct DeliveryTry {
    /// The delivery.
    pub delivery_id: WebhookDeliveryId,
    /// Its endpoint.
    pub webhook_id: WebhookId,
    /// When the try began (epoch ms).
    pub attempted_at: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// The answer's body, cut to [`MAX_RESPONSE_KEPT`].
    pub response: Option<String>,
    /// Why no answer came (timeout, connection refused, …).
    pub error: Option<String>,
    /// What follows.
    pub next: NextStep,
    /// The body sent, kept when the delivery is tried again (frozen: a delivery already
    /// frozen keeps its own).
    pub body: Option<String>,
}

/// What follows a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// A 2xx: delivered.
    Delivered,
    /// Tried again at this time (epoch ms).
    RetryAt(i64),
    /// Given up (retries exhausted).
    GiveUp,
    /// The endpoint answered 410 Gone: it is disabled, and this delivery given up.
    Disable,
}

/// One delivery as the API shows it, with every try.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WebhookDelivery {
    /// Id (for `POST /api/v1/webhook-deliveries/{id}/retry`).
    pub id: WebhookDeliveryId,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// The `webhook-id` header sent.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    #[sqlx(try_from = "String")]
    pub state: postern_model::DeliveryState,
    /// Tries so far.
    pub attempts: i64,
    /// When the next try is due (epoch ms), while pending.
    pub next_try_at: i64,
    /// The last HTTP status received.
    pub last_status: Option<i64>,
    /// The last error (no answer, or why it was given up).
    pub last_error: Option<String>,
    /// When the event happened (epoch ms).
    pub created_at: i64,
    /// When a 2xx came (epoch ms).
    pub delivered_at: Option<i64>,
    /// Every try, oldest first.
    #[sqlx(skip)]
    pub tries: Vec<WebhookAttempt>,
}

/// One try of a delivery.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WebhookAttempt {
    /// When it began (epoch ms).
    pub attempted_at: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// The HTTP status, when an answer came.
    pub status: Option<i64>,
    /// The answer's body (at most 4 KiB).
    pub response: Option<String>,
    /// Why no answer came.
    pub error: Option<String>,
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.webhook_id, d.event_key AS event_id, d.event_type, d.state, d.attempts, \
     d.next_try_at, d.last_status, d.last_error, d.created_at, d.delivered_at FROM webhook_deliveries d";

const DUE_SELECT: &str = "SELECT d.id, d.webhook_id, w.url, w.secret, \
     CASE WHEN w.previous_secret_until > $1 THEN w.previous_secret END AS previous_secret, d.event_key, d.event_type, \
     d.subject_id, d.data, d.payload, d.created_at, d.attempts \
     FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id";

impl Tx {
    /// Writes an event of `event_type` about `subject` for every active webhook that takes
    /// it, in this transaction; nothing when none does.
    pub(crate) async fn emit(
        &mut self,
        event_type: &str,
        subject: Option<impl Into<i64>>,
        data: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        let subject: Option<i64> = subject.map(Into::into);
        let endpoints: Vec<WebhookId> = self
            .subscriptions()
            .await?
            .iter()
            .filter(|s| s.takes(event_type))
            .map(|s| s.id)
            .collect();
        if endpoints.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let key = format!("evt_{}", random_hex(16));
        let data = data.map(|d| d.to_string());
        // One row per endpoint, in one statement (usually one endpoint).
        let values = (0..endpoints.len())
            .map(|i| format!("(${}, $1, $2, $3, $4, $5, $5)", i + 6))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO webhook_deliveries (webhook_id, event_key, event_type, subject_id, data, next_try_at, \
             created_at) VALUES {values}"
        );
        on!(self, |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&key)
                .bind(event_type)
                .bind(subject)
                .bind(&data)
                .bind(now);
            for e in &endpoints {
                q = q.bind(*e);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The active webhooks, read once per transaction.
    async fn subscriptions(&mut self) -> Result<&[Subscription], StoreError> {
        if self.subscriptions.is_none() {
            let rows: Vec<(WebhookId, String)> = on!(self, |c| sqlx::query_as(
                "SELECT id, events FROM webhooks WHERE active = $1"
            )
            .bind(true)
            .fetch_all(c)
            .await)?;
            self.subscriptions = Some(
                rows.into_iter()
                    .map(|(id, events)| Subscription {
                        id,
                        events: serde_json::from_str(&events).unwrap_or_default(),
                    })
                    .collect(),
            );
        }
        Ok(self.subscriptions.as_deref().unwrap_or_default())
    }

    /// Forgets the subscriptions read by this transaction (a webhook was written).
    pub(crate) fn forget_subscriptions(&mut self) {
        self.subscriptions = None;
    }

    /// Claims up to `limit` due deliveries of active webhooks for `owner` until
    /// `now + lease_ms`, oldest first.
    pub async fn claim_due_deliveries(
        &mut self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        const DUE: &str = "d.state = 'pending' AND d.next_try_at <= $1 \
             AND (d.lease_until IS NULL OR d.lease_until < $1) AND w.active = $5";
        let pick = format!(
            "SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE {DUE} ORDER BY d.next_try_at, d.id LIMIT $4"
        );
        let sql = match self.inner {
            TxInner::Postgres(_) => format!(
                "WITH picked AS ({pick} FOR UPDATE OF d SKIP LOCKED) \
                 UPDATE webhook_deliveries SET lease_owner = $2, lease_until = $3 \
                 FROM picked WHERE webhook_deliveries.id = picked.id RETURNING webhook_deliveries.id"
            ),
            TxInner::Sqlite(_) | TxInner::Direct(_) => format!(
                "UPDATE webhook_deliveries SET lease_owner = $2, lease_until = $3 WHERE id IN ({pick}) \
                 RETURNING id"
            ),
        };
        let ids: Vec<WebhookDeliveryId> = on!(self, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(now)
        .bind(owner)
        .bind(now + lease_ms)
        .bind(limit)
        .bind(true)
        .fetch_all(c)
        .await)?;
        if ids.is_empty() {
            return Ok(vec![]);
        }
        // Integers only: formatting them into the statement is safe.
        let list = ids
            .iter()
            .map(|i| i.get().to_string())
            .collect::<Vec<_>>()
            .join(",");
        Ok(on!(self, |c| sqlx::query_as::<_, DueDelivery>(
            sqlx::AssertSqlSafe(format!("{DUE_SELECT} WHERE d.id IN ({list}) ORDER BY d.id"))
        )
        .bind(now)
        .fetch_all(c)
        .await)?)
    }

    /// Writes the results of tries: each try, its delivery's state, and the endpoints that
    /// answered 410 disabled. The common case (delivered) in a few statements for the batch.
    pub async fn record_delivery_tries(&mut self, tries: &[DeliveryTry]) -> Result<(), StoreError> {
        for chunk in tries.chunks(100) {
            self.insert_attempts(chunk).await?;
        }
        let (delivered, other): (Vec<&DeliveryTry>, Vec<&DeliveryTry>) =
            tries.iter().partition(|t| t.next == NextStep::Delivered);
        for chunk in delivered.chunks(500) {
            // Integers only: formatting them into the statement is safe.
            let ids = chunk
                .iter()
                .map(|t| t.delivery_id.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let at = chunk
                .iter()
                .map(|t| t.attempted_at + t.duration_ms)
                .max()
                .unwrap_or(0);
            on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, \
                 last_status = 200, last_error = NULL, delivered_at = $1, lease_owner = NULL, \
                 lease_until = NULL WHERE id IN ({ids})"
            )))
            .bind(at)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
            // The exact status of each (a 2xx other than 200 is rare).
            for t in chunk.iter().filter(|t| t.status != Some(200)) {
                on!(self, |c| sqlx::query(
                    "UPDATE webhook_deliveries SET last_status = $1 WHERE id = $2"
                )
                .bind(t.status.map(i64::from))
                .bind(t.delivery_id)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))?;
            }
        }
        for t in other {
            self.record_failed_try(t).await?;
        }
        Ok(())
    }

    async fn insert_attempts(&mut self, tries: &[DeliveryTry]) -> Result<(), StoreError> {
        if tries.is_empty() {
            return Ok(());
        }
        let values = (0..tries.len())
            .map(|i| {
                let b = i * 6;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO webhook_attempts (delivery_id, attempted_at, duration_ms, status, response, error) \
             VALUES {values}"
        );
        on!(self, |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for t in tries {
                q = q
                    .bind(t.delivery_id)
                    .bind(t.attempted_at)
                    .bind(t.duration_ms)
                    .bind(t.status.map(i64::from))
                    .bind(t.response.as_deref().map(cut_response))
                    .bind(&t.error);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    async fn record_failed_try(&mut self, t: &DeliveryTry) -> Result<(), StoreError> {
        let (state, next, error) = match t.next {
            NextStep::Delivered => return Ok(()),
            NextStep::RetryAt(at) => (
                "pending",
                at,
                t.error.clone().or_else(|| Some(status_text(t.status))),
            ),
            NextStep::GiveUp => (
                "failed",
                t.attempted_at,
                Some(format!(
                    "given up after its last retry: {}",
                    t.error.clone().unwrap_or_else(|| status_text(t.status))
                )),
            ),
            NextStep::Disable => (
                "failed",
                t.attempted_at,
                Some("the endpoint answered 410 Gone: the webhook is disabled".to_owned()),
            ),
        };
        on!(self, |c| {
            sqlx::query(
            "UPDATE webhook_deliveries SET state = $2, next_try_at = $3, attempts = attempts + 1, \
             last_status = $4, last_error = $5, payload = COALESCE(payload, $6), lease_owner = NULL, \
             lease_until = NULL WHERE id = $1"
        )
        .bind(t.delivery_id)
        .bind(state)
        .bind(next)
        .bind(t.status.map(i64::from))
        .bind(error)
        .bind(&t.body)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        if t.next == NextStep::Disable {
            tracing::warn!(
                webhook = t.webhook_id.get(),
                "webhook endpoint answered 410 Gone: disabled"
            );
            on!(self, |c| sqlx::query(
                "UPDATE webhooks SET active = $1 WHERE id = $2"
            )
            .bind(false)
            .bind(t.webhook_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    /// The earliest time a pending delivery of an active webhook becomes due, if any.
    pub async fn next_delivery_due(&mut self) -> Result<Option<i64>, StoreError> {
        Ok(on!(self, |c| sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MIN(CASE WHEN d.lease_until IS NOT NULL AND d.lease_until > d.next_try_at \
             THEN d.lease_until ELSE d.next_try_at END) \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.state = 'pending' AND w.active = $1"
        )
        .bind(true)
        .fetch_one(c)
        .await)?)
    }

    /// The deliveries of a webhook, newest first, each with its tries.
    pub async fn webhook_deliveries(
        &mut self,
        webhook: WebhookId,
        page: PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        self.get::<crate::Webhook>(webhook).await?;
        let before = if page.after > 0 { page.after } else { i64::MAX };
        let mut rows: Vec<WebhookDelivery> = on!(self, |c| {
            sqlx::query_as(sqlx::AssertSqlSafe(
            format!("{DELIVERY_SELECT} WHERE d.webhook_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3")
        ))
        .bind(webhook.get())
        .bind(before)
        .bind(page.limit)
        .fetch_all(c)
        .await
        })?;
        for d in &mut rows {
            d.tries = self.delivery_tries(d.id).await?;
        }
        Ok(page.page(rows, |d| d.id))
    }

    /// One delivery with its tries.
    pub async fn get_webhook_delivery(
        &mut self,
        id: WebhookDeliveryId,
    ) -> Result<WebhookDelivery, StoreError> {
        let mut d: WebhookDelivery = on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DELIVERY_SELECT} WHERE d.id = $1"
        )))
        .bind(id)
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("webhook delivery", id))?;
        d.tries = self.delivery_tries(id).await?;
        Ok(d)
    }

    async fn delivery_tries(
        &mut self,
        id: WebhookDeliveryId,
    ) -> Result<Vec<WebhookAttempt>, StoreError> {
        Ok(on!(self, |c| sqlx::query_as(
            "SELECT attempted_at, duration_ms, status, response, error FROM webhook_attempts \
             WHERE delivery_id = $1 ORDER BY id"
        )
        .bind(id)
        .fetch_all(c)
        .await)?)
    }

    /// Replays a delivery now, whatever its state (same event, same `webhook-id`, and the
    /// same body when one was frozen). Its tries keep counting: a replay of a delivery whose
    /// retries were used up is one more try.
    pub async fn retry_webhook_delivery(
        &mut self,
        id: WebhookDeliveryId,
    ) -> Result<WebhookDelivery, StoreError> {
        self.get_webhook_delivery(id).await?;
        on!(self, |c| {
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'pending', next_try_at = $2, \
             lease_owner = NULL, lease_until = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(now_ms())
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        self.get_webhook_delivery(id).await
    }

    /// Deletes the deliveries that are done (delivered or given up) and older than `before`
    /// (epoch ms), with their tries; returns how many. Pending ones are kept whatever their age.
    pub async fn purge_webhook_deliveries(&mut self, before: i64) -> Result<u64, StoreError> {
        on!(self, |c| sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries \
             WHERE state IN ('delivered', 'failed') AND created_at < $1)"
        )
        .bind(before)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(on!(self, |c| {
            sqlx::query(
            "DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'failed') AND created_at < $1"
        )
        .bind(before)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?)
    }

    /// Pending deliveries of active webhooks and the age of the oldest (ms), for `/metrics`.
    pub async fn webhook_queue(&mut self, now: i64) -> Result<(i64, i64), StoreError> {
        let (n, oldest): (i64, Option<i64>) = on!(self, |c| sqlx::query_as(
            "SELECT COUNT(*), MIN(d.created_at) FROM webhook_deliveries d \
             JOIN webhooks w ON w.id = d.webhook_id WHERE d.state = 'pending' AND w.active = $1"
        )
        .bind(true)
        .fetch_one(c)
        .await)?;
        Ok((n, oldest.map_or(0, |t| (now - t).max(0))))
    }
}

fn status_text(status: Option<u16>) -> String {
    status.map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}"))
}

/// Cuts an answer body to [`MAX_RESPONSE_KEPT`] bytes on a character boundary.
fn cut_response(s: &str) -> &str {
    if s.len() <= MAX_RESPONSE_KEPT {
        return s;
    }
    let mut end = MAX_RESPONSE_KEPT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_cut_on_a_character_boundary() {
        let long = "é".repeat(3000);
        let cut = cut_response(&long);
        assert!(cut.len() <= MAX_RESPONSE_KEPT);
        assert_eq!(cut.len(), 4096);
        assert_eq!(cut_response("ok"), "ok");
    }

    #[test]
    fn an_empty_subscription_takes_every_event() {
        let all = Subscription {
            id: WebhookId(1),
            events: vec![],
        };
        let some = Subscription {
            id: WebhookId(2),
            events: vec!["mail.sent".into()],
        };
        assert!(all.takes("record.created"));
        assert!(some.takes("mail.sent"));
        assert!(!some.takes("record.created"));
    }
}
