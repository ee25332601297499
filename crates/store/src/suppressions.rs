//! The suppression list: the addresses Postern does not send to, and the bounces that put them
//! there.
//!
//! A hard bounce suppresses an address for all mail; `postern.bounce.soft_limit` soft bounces
//! within `postern.bounce.soft_window_days` do too. A complaint or an unsubscribe suppresses it
//! for mass mail only ([`SuppressionScope::Mass`]). The delivery runner asks
//! [`Tx::suppressions_of`] before it sends, and never sends to a suppressed address.

use crate::{Page, PageRequest, StoreError, Tx, now_ms, on};
use postern_model::{SuppressionCause, SuppressionId, SuppressionScope, address::email_normalize};
use serde::{Deserialize, Serialize};

/// Parameter: soft bounces within the window that suppress an address.
pub const PARAM_SOFT_LIMIT: &str = "postern.bounce.soft_limit";
/// Parameter: the window of [`PARAM_SOFT_LIMIT`], in days.
pub const PARAM_SOFT_WINDOW_DAYS: &str = "postern.bounce.soft_window_days";
/// Default of [`PARAM_SOFT_LIMIT`].
pub const DEFAULT_SOFT_LIMIT: i64 = 5;
/// Default of [`PARAM_SOFT_WINDOW_DAYS`].
pub const DEFAULT_SOFT_WINDOW_DAYS: i64 = 7;

/// One suppressed address.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Suppression {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: SuppressionId,
    /// The address, normalised.
    pub address: String,
    /// Which mail it no longer gets.
    #[sqlx(try_from = "String")]
    pub scope: SuppressionScope,
    /// Why.
    #[sqlx(try_from = "String")]
    pub cause: SuppressionCause,
    /// The details: the bounce's diagnostic, the complaint's type, the operator's note.
    pub detail: Option<String>,
    /// When (epoch ms).
    pub created_at: i64,
}

impl Suppression {
    /// Whether it stops a mail of the mass stream (`mass`) or of the transactional one.
    pub fn stops(&self, mass: bool) -> bool {
        self.scope == SuppressionScope::All || mass
    }

    /// Why a mail was not sent to the address: `suppressed since 2026-12-04 (hard_bounce:
    /// userunknown: 550 5.1.1 ...)`, the failure reason of its notification.
    pub fn describe(&self) -> String {
        let day = chrono::DateTime::from_timestamp_millis(self.created_at)
            .unwrap_or_default()
            .format("%Y-%m-%d");
        match self.detail.as_deref().filter(|d| !d.is_empty()) {
            Some(detail) => format!("suppressed since {day} ({}: {detail})", self.cause),
            None => format!("suppressed since {day} ({})", self.cause),
        }
    }
}

/// What the API and the CLI give to suppress an address.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionInput {
    /// The address.
    pub address: String,
    /// `all` (default) or `mass`.
    #[serde(default)]
    pub scope: Option<SuppressionScope>,
    /// Why (default `manual`).
    #[serde(default)]
    pub cause: Option<SuppressionCause>,
    /// A note.
    #[serde(default)]
    pub detail: Option<String>,
}

/// One bounce of an address, as the gateway read it from a report.
#[derive(Debug, Clone, Copy)]
pub struct AddressBounce<'a> {
    /// The bounced address (normalised or not).
    pub address: &'a str,
    /// Whether it is hard (see `postern bounce parse`).
    pub hard: bool,
    /// Its reason word (`userunknown`...).
    pub reason: &'a str,
    /// The diagnostic (`550 5.1.1 ... User unknown`).
    pub diagnostic: &'a str,
}

const SELECT: &str = "SELECT id, address, scope, cause, detail, created_at FROM suppressions";

impl Tx {
    /// Keeps a bounce of an address, and suppresses the address when the bounce is hard or when
    /// it is the `soft_limit`-th soft bounce within the window; answers the new suppression.
    pub async fn record_address_bounce(
        &mut self,
        b: &AddressBounce<'_>,
    ) -> Result<Option<Suppression>, StoreError> {
        let Some(address) = email_normalize(b.address) else {
            return Ok(None);
        };
        let now = now_ms();
        on!(self, |c| {
            sqlx::query(
            "INSERT INTO address_bounces (address, hard, reason, created_at) VALUES ($1, $2, $3, $4)"
        )
        .bind(&address)
        .bind(b.hard)
        .bind(b.reason)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        let detail = format!("{}: {}", b.reason, b.diagnostic);
        if b.hard {
            return self
                .suppress_new(
                    &address,
                    SuppressionScope::All,
                    SuppressionCause::HardBounce,
                    &detail,
                )
                .await;
        }
        let limit = self.int_param(PARAM_SOFT_LIMIT, DEFAULT_SOFT_LIMIT).await?;
        let days = self
            .int_param(PARAM_SOFT_WINDOW_DAYS, DEFAULT_SOFT_WINDOW_DAYS)
            .await?;
        let since = now - days.saturating_mul(86_400_000);
        let soft: i64 = on!(self, |c| {
            sqlx::query_scalar(
            "SELECT COUNT(*) FROM address_bounces WHERE address = $1 AND created_at >= $2 AND NOT hard"
        )
        .bind(&address)
        .bind(since)
        .fetch_one(c)
        .await
        })?;
        if soft < limit {
            return Ok(None);
        }
        let detail = format!("{soft} soft bounces in {days} days, the last {detail}");
        self.suppress_new(
            &address,
            SuppressionScope::All,
            SuppressionCause::SoftBounces,
            &detail,
        )
        .await
    }

    /// A positive integer param, or its default.
    async fn int_param(&mut self, key: &str, default: i64) -> Result<i64, StoreError> {
        Ok(self
            .get_param(key)
            .await?
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(default))
    }

    /// Suppresses an address unless it already is for that scope; answers the new row.
    async fn suppress_new(
        &mut self,
        address: &str,
        scope: SuppressionScope,
        cause: SuppressionCause,
        detail: &str,
    ) -> Result<Option<Suppression>, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "INSERT INTO suppressions (address, scope, cause, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (address, scope) DO NOTHING RETURNING id"
        )
        .bind(address)
        .bind(scope.as_str())
        .bind(cause.as_str())
        .bind(detail)
        .bind(now_ms())
        .fetch_optional(c)
        .await)?;
        match id {
            Some(id) => {
                tracing::info!(address, %scope, %cause, "address suppressed");
                Ok(Some(self.get_suppression(SuppressionId(id)).await?))
            }
            None => Ok(None),
        }
    }

    /// Suppresses an address (the API, the CLI, a complaint, an unsubscribe); an address already
    /// suppressed for that scope keeps its first cause. Answers the row.
    pub async fn suppress(&mut self, input: &SuppressionInput) -> Result<Suppression, StoreError> {
        let address = email_normalize(&input.address).ok_or_else(|| {
            StoreError::invalid(
                "address",
                format!("`{}` is not a single e-mail address", input.address),
            )
        })?;
        let scope = input.scope.unwrap_or_default();
        let detail = input.detail.as_deref().unwrap_or("").trim();
        crate::read::no_line_break("detail", detail)?;
        let cause = input.cause.unwrap_or_default();
        if let Some(row) = self.suppress_new(&address, scope, cause, detail).await? {
            return Ok(row);
        }
        let sql = format!("{SELECT} WHERE address = $1 AND scope = $2");
        Ok(on!(self, |c| sqlx::query_as::<_, Suppression>(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(&address)
        .bind(scope.as_str())
        .fetch_one(c)
        .await)?)
    }

    /// One suppression.
    pub async fn get_suppression(&mut self, id: SuppressionId) -> Result<Suppression, StoreError> {
        let sql = format!("{SELECT} WHERE id = $1");
        on!(self, |c| sqlx::query_as::<_, Suppression>(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(id.get())
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("suppression", id))
    }

    /// The suppressions by id; with `address`, only that address's.
    pub async fn list_suppressions(
        &mut self,
        address: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<Suppression>, StoreError> {
        let address =
            address.map(|a| email_normalize(a).unwrap_or_else(|| a.trim().to_lowercase()));
        let sql =
            format!("{SELECT} WHERE id > $1 AND ($3 IS NULL OR address = $3) ORDER BY id LIMIT $2");
        let rows = on!(self, |c| sqlx::query_as::<_, Suppression>(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(page.after)
        .bind(page.limit)
        .bind(&address)
        .fetch_all(c)
        .await)?;
        Ok(page.page(rows, |r| r.id.get()))
    }

    /// Removes a suppression: mail goes to the address again.
    pub async fn delete_suppression(&mut self, id: SuppressionId) -> Result<(), StoreError> {
        self.get_suppression(id).await?;
        on!(self, |c| sqlx::query(
            "DELETE FROM suppressions WHERE id = $1"
        )
        .bind(id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The suppressions of these addresses (normalised or not), for the delivery runner.
    pub async fn suppressions_of(
        &mut self,
        addresses: &[String],
    ) -> Result<Vec<Suppression>, StoreError> {
        let mut wanted: Vec<String> = addresses
            .iter()
            .filter_map(|a| email_normalize(a))
            .collect();
        wanted.sort();
        wanted.dedup();
        let mut found = Vec::new();
        for chunk in wanted.chunks(200) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(",");
            let sql = format!("{SELECT} WHERE address IN ({list})");
            let rows = on!(self, |c| {
                let mut q = sqlx::query_as::<_, Suppression>(sqlx::AssertSqlSafe(sql));
                for a in chunk {
                    q = q.bind(a);
                }
                q.fetch_all(c).await
            })?;
            found.extend(rows);
        }
        Ok(found)
    }
}

impl Tx {
    /// The key of the signed tokens for `purpose` (`verp`), if made already.
    pub async fn gateway_key(&mut self, purpose: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let hex: Option<String> = on!(self, |c| sqlx::query_scalar(
            "SELECT secret FROM gateway_keys WHERE name = $1"
        )
        .bind(purpose)
        .fetch_optional(c)
        .await)?;
        Ok(hex.map(String::into_bytes))
    }

    /// The key for `purpose`, made now (256 random bits) when there is none yet; in a write
    /// transaction. Two nodes making it at once keep the first one written.
    pub async fn ensure_gateway_key(&mut self, purpose: &str) -> Result<Vec<u8>, StoreError> {
        if let Some(key) = self.gateway_key(purpose).await? {
            return Ok(key);
        }
        on!(self, |c| sqlx::query(
            "INSERT INTO gateway_keys (name, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING"
        )
        .bind(purpose)
        .bind(crate::random_hex(32))
        .bind(now_ms())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(self.gateway_key(purpose).await?.unwrap_or_default())
    }
}

impl Tx {
    /// What a VERP token names: the RFC Message-ID of mail `id` and the addresses it was sent
    /// to (its recipients as the runner recorded them); `None` when there is no such mail.
    pub async fn mail_for_verp(
        &mut self,
        id: postern_model::MailId,
    ) -> Result<Option<(String, Vec<String>)>, StoreError> {
        let rfc: Option<String> = on!(self, |c| sqlx::query_scalar(
            "SELECT rfc_message_id FROM mails WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?;
        let Some(rfc) = rfc else { return Ok(None) };
        let rcpts: Vec<String> = on!(self, |c| sqlx::query_scalar(
            "SELECT address FROM mail_recipients WHERE mail_id = $1 ORDER BY address"
        )
        .bind(id)
        .fetch_all(c)
        .await)?;
        Ok(Some((rfc, rcpts)))
    }
}

impl Tx {
    /// A one-click unsubscribe (RFC 8058): the recipient that `token` (of a mass mail's
    /// `List-Unsubscribe`) names is suppressed for mass mail. `None` when the token is forged or
    /// names no mail sent.
    pub async fn unsubscribe(&mut self, token: &str) -> Result<Option<Suppression>, StoreError> {
        let Some(key) = self.gateway_key("unsubscribe").await? else {
            return Ok(None);
        };
        let Some(id) = postern_model::token::id_of(token) else {
            return Ok(None);
        };
        let Some((_, rcpts)) = self.mail_for_verp(postern_model::MailId(id)).await? else {
            return Ok(None);
        };
        let Some(address) = rcpts.into_iter().find(|a| {
            postern_model::token::verify(&key, "unsubscribe", token, &a.to_ascii_lowercase())
        }) else {
            return Ok(None);
        };
        let input = SuppressionInput {
            address,
            scope: Some(SuppressionScope::Mass),
            cause: Some(SuppressionCause::Unsubscribe),
            detail: Some(format!("one-click unsubscribe from mail {id}")),
        };
        self.suppress(&input).await.map(Some)
    }
}
