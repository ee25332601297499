//! System parameters ([`Param`]): their checks on write ([`sanitize_param`]) and their methods on
//! [`Tx`].

use super::Change;
use crate::{StoreError, Tx, on};
use postern_model::address::sanitize_catchall_domain_allowed;
use serde::Serialize;

/// Parameters whose value must be an integer of at least 1 (a loop window or threshold of 0
/// would refuse everything or nothing).
const POSITIVE_PARAMS: &[&str] = &[
    "mail.gateway.loop.minutes",
    "mail.gateway.loop.threshold",
    crate::fetch::PARAM_MAX_FAILURES,
    crate::fetch::PARAM_DISABLE_AFTER_HOURS,
    crate::suppressions::PARAM_SOFT_LIMIT,
    crate::suppressions::PARAM_SOFT_WINDOW_DAYS,
];

/// Parameters whose value is a boolean (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`),
/// stored as `true` or `false`.
const BOOLEAN_PARAMS: &[&str] = &[PARAM_SUBJECT_TOKEN];

/// Parameter: notifications carry a short signed `[#ref]` of their message at the end of the
/// subject, and a reply whose subject keeps it threads by it when every header was lost (off by
/// default: it changes what people read).
pub const PARAM_SUBJECT_TOKEN: &str = "postern.subject_token";

/// Parameters whose value must be a non-negative integer.
const INTEGER_PARAMS: &[&str] = &[
    "mail.gateway.loop.minutes",
    "mail.gateway.loop.threshold",
    "mail.mail.queue.batch.size",
    "mail.session.batch.size",
    "mail.batch_size",
    "mail.mail.force.send.limit",
    "base.default_max_email_size",
    crate::fetch::PARAM_MAX_FAILURES,
    crate::fetch::PARAM_DISABLE_AFTER_HOURS,
    crate::suppressions::PARAM_SOFT_LIMIT,
    crate::suppressions::PARAM_SOFT_WINDOW_DAYS,
    "postern.retention.raw_days",
    "postern.retention.mail_days",
    "postern.retention.fetch_failure_days",
    "postern.retention.unprocessable_days",
];

/// Checks and normalises a parameter value as the reference does on write. `Ok(None)` means
/// "unset the parameter".
pub fn sanitize_param(key: &str, value: &str) -> Result<Option<String>, StoreError> {
    let key = key.trim();
    if key.is_empty() || key.len() > 200 || key.contains(char::is_whitespace) {
        return Err(StoreError::invalid(
            "key",
            format!("`{key}` is not a parameter name"),
        ));
    }
    if key == "mail.catchall.domain.allowed" {
        return sanitize_catchall_domain_allowed(value).map_err(|e| StoreError::invalid(key, e));
    }
    if BOOLEAN_PARAMS.contains(&key) {
        return match value.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "1" | "yes" | "on" => Ok(Some("true".into())),
            "false" | "0" | "no" | "off" => Ok(Some("false".into())),
            v => Err(StoreError::invalid(
                key,
                format!("`{v}` is not a boolean (true or false)"),
            )),
        };
    }
    if INTEGER_PARAMS.contains(&key) {
        let v = value.trim();
        if v.is_empty() {
            return Ok(None);
        }
        let min = if POSITIVE_PARAMS.contains(&key) { 1 } else { 0 };
        return match v.parse::<i64>() {
            Ok(n) if n >= min => Ok(Some(n.to_string())),
            _ if min == 1 => Err(StoreError::invalid(
                key,
                format!("`{v}` is not a positive integer"),
            )),
            _ => Err(StoreError::invalid(
                key,
                format!("`{v}` is not a non-negative integer"),
            )),
        };
    }
    // An empty value unsets the parameter.
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// A system parameter.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Param {
    /// Key, e.g. `mail.gateway.loop.minutes`.
    pub key: String,
    /// Value as text.
    pub value: String,
}

impl Tx {
    /// The value of a parameter, if set.
    pub async fn get_param(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "SELECT value FROM params WHERE key = $1"
        )
        .bind(key)
        .fetch_optional(c)
        .await)?)
    }

    /// Every parameter, by key.
    pub async fn list_params(&mut self) -> Result<Vec<Param>, StoreError> {
        Ok(on!(self, |c| sqlx::query_as::<_, Param>(
            "SELECT key, value FROM params ORDER BY key"
        )
        .fetch_all(c)
        .await)?)
    }

    /// Sets (or, when the sanitised value is empty, unsets) a parameter; returns the stored value.
    pub async fn set_param(
        &mut self,
        key: &str,
        value: &str,
    ) -> Result<(Option<String>, Change), StoreError> {
        let stored = sanitize_param(key, value)?;
        let key = key.trim();
        let before = self.get_param(key).await?;
        if before == stored {
            return Ok((stored, Change::Unchanged));
        }
        match &stored {
            Some(v) => on!(self, |c| {
                sqlx::query(
                "INSERT INTO params (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
            .bind(key)
            .bind(v)
            .execute(c)
            .await.map(|r| r.rows_affected())
            })?,
            None => on!(self, |c| sqlx::query("DELETE FROM params WHERE key = $1")
                .bind(key)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))?,
        };
        let change = if before.is_none() {
            Change::Created
        } else {
            Change::Updated
        };
        Ok((stored, change))
    }
}
