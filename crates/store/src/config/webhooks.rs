//! Webhooks, the HTTP endpoints called on events ([`Webhook`], [`WebhookInput`],
//! [`WEBHOOK_EVENTS`]), their write-only signing secret and their methods on [`Tx`].

use super::{Json, required, secret_update, unique};
use crate::{StoreError, Tx, now_ms, on};
use postern_model::{Secret, WebhookId};
use serde::{Deserialize, Serialize};

/// The events a webhook may subscribe to: the types of DESIGN.md's "Webhooks and events".
pub const WEBHOOK_EVENTS: &[&str] = &[
    "record.created",
    "message.received",
    "message.posted",
    "mail.sent",
    "mail.failed",
    "notification.bounced",
    "incoming_server.failed",
    "outgoing_server.failed",
    "raw_message.unprocessable",
];

/// An HTTP endpoint called on events. The signing secret is never part of this view.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Webhook {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: WebhookId,
    /// Unique name (the URL when none was given).
    pub name: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// Subscribed events (every event when empty).
    #[sqlx(try_from = "String")]
    pub events: Json,
    /// True when a signing secret is stored.
    pub has_secret: bool,
    /// Inactive webhooks are not called.
    pub active: bool,
    /// Creation time (epoch ms).
    pub created_at: i64,
    /// The signing secret generated on create, shown in that answer only (never read back).
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl Webhook {
    /// The input that would produce this row; the secret is left out (unchanged).
    pub fn to_input(&self) -> WebhookInput {
        WebhookInput {
            name: self.name.clone(),
            url: self.url.clone(),
            description: Some(self.description.clone()),
            events: serde_json::from_value(self.events.0.clone()).unwrap_or_default(),
            secret: None,
            active: Some(self.active),
        }
    }
}

/// What is given to create or change a webhook.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Unique name; the URL when empty (a file or API client that gives none).
    #[serde(default)]
    pub name: String,
    /// Target URL.
    pub url: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Events, from [`WEBHOOK_EVENTS`]; none means every event.
    #[serde(default)]
    pub events: Vec<String>,
    /// Write-only HMAC key. An empty string clears it.
    #[serde(default, skip_serializing)]
    pub secret: Option<Secret>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
}

/// An `http(s)://` URL without white space, and events of [`WEBHOOK_EVENTS`].
fn check_url_and_events(url: &str, events: &[String]) -> Result<(), StoreError> {
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(char::is_whitespace)
    {
        return Err(StoreError::invalid(
            "url",
            format!("`{url}` is not an http:// or https:// URL"),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        if !WEBHOOK_EVENTS.contains(&e.as_str()) {
            return Err(StoreError::invalid(
                format!("events[{i}]"),
                format!(
                    "unknown event `{e}`, expected one of: {}",
                    WEBHOOK_EVENTS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// How long a replaced secret keeps signing beside the new one (DESIGN.md: several signatures
/// during a rotation), so that a receiver can switch to the new one without losing events.
pub const SECRET_OVERLAP_MS: i64 = 24 * 3600 * 1000;

/// A new signing secret: `whsec_` and 24 random bytes in base64 (Standard Webhooks).
pub fn new_signing_secret() -> String {
    use base64::Engine;
    let bytes = crate::random_bytes(24);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

const WEBHOOK_SELECT: &str = "SELECT id, name, url, description, events, (secret IS NOT NULL) AS has_secret, active, created_at FROM webhooks";

const WEBHOOK_BY_NAME: &str = "SELECT id FROM webhooks WHERE name = $1";

impl Tx {
    /// The webhook named `name`, if any.
    pub async fn find_webhook(&mut self, name: &str) -> Result<Option<WebhookId>, StoreError> {
        self.find_id(WEBHOOK_BY_NAME, name).await
    }

    async fn write_webhook(
        &mut self,
        input: &WebhookInput,
        id: Option<WebhookId>,
    ) -> Result<WebhookId, StoreError> {
        let url = required("url", &input.url)?;
        let name = match input.name.trim() {
            "" => url.clone(),
            _ => required("name", &input.name)?,
        };
        let description = input.description.as_deref().unwrap_or("").trim().to_owned();
        unique(self.find_webhook(&name).await?, id, "webhook", &name)?;
        check_url_and_events(&url, &input.events)?;
        let events = serde_json::to_string(&input.events).unwrap_or_else(|_| "[]".into());
        let old: Option<String> = match id {
            Some(id) => on!(self, |c| sqlx::query_scalar(
                "SELECT secret FROM webhooks WHERE id = $1"
            )
            .bind(id.get())
            .fetch_one(c)
            .await)?,
            None => None,
        };
        let secret = match (id, &input.secret) {
            (None, None) => Some(new_signing_secret()),
            _ => secret_update(&input.secret, old.clone()),
        };
        // A rotation: the replaced secret keeps signing beside the new one for a day.
        let previous = old.filter(|o| secret.as_ref().is_some_and(|s| s != o));
        let q = match id {
            None => {
                "INSERT INTO webhooks (name, url, events, secret, active, created_at, description) VALUES ($1, $2, $3, $4, $5, $6, $8) RETURNING id"
            }
            Some(_) => {
                "UPDATE webhooks SET name = $1, url = $2, events = $3, secret = $4, active = $5, description = $8 WHERE id = $7 AND $6 = $6 RETURNING id"
            }
        };
        let new_id: i64 = on!(self, |c| sqlx::query_scalar(q)
            .bind(&name)
            .bind(&url)
            .bind(&events)
            .bind(&secret)
            .bind(input.active.unwrap_or(true))
            .bind(now_ms())
            .bind(id.map(|i| i.get()).unwrap_or(0))
            .bind(&description)
            .fetch_one(c)
            .await)
        .map_err(|e| StoreError::from_write(e, "webhook"))?;
        if let Some(previous) = previous {
            on!(self, |c| sqlx::query(
                "UPDATE webhooks SET previous_secret = $1, previous_secret_until = $2 WHERE id = $3"
            )
            .bind(&previous)
            .bind(now_ms() + SECRET_OVERLAP_MS)
            .bind(new_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        self.forget_subscriptions();
        Ok(WebhookId(new_id))
    }
}

// An upsert finds the webhook of the same name (or URL, without name). The secret is write-only.
super::config_table!(
    Webhook,
    WebhookInput,
    WebhookId,
    "webhook",
    "webhooks",
    WEBHOOK_SELECT,
    "id",
    write_webhook,
    |tx, input| {
        let key = if input.name.trim().is_empty() {
            &input.url
        } else {
            &input.name
        };
        tx.find_webhook(key).await
    },
    secret "secret" secret,
    {
        /// A secret generated on create is answered this once.
        async fn created(tx: &mut Tx, id: WebhookId, input: &WebhookInput) -> Result<Self, StoreError> {
            let mut created = tx.get::<Webhook>(id).await?;
            if input.secret.is_none() {
                created.secret = on!(tx, |c| sqlx::query_scalar(
                    "SELECT secret FROM webhooks WHERE id = $1"
                )
                .bind(id.get())
                .fetch_one(c)
                .await)?;
            }
            Ok(created)
        }

        async fn remove(tx: &mut Tx, row: &Self) -> Result<(), StoreError> {
            tx.forget_subscriptions();
            tx.delete_row(Self::DELETE, row.id.get(), Self::WHAT).await
        }
    }
);
