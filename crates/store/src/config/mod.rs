//! The configuration tables: alias domains, companies, models, aliases, partners, outgoing and
//! incoming servers, webhooks and params. Each has a stored view (`Alias`), an input
//! (`AliasInput`, what the config file and the API give) and `list/get/create/update/delete/upsert`
//! methods on [`Tx`]. Inputs name their references (`alias_domain = "example.com"`), as the
//! config file does; the store resolves them and answers with a clear error when they dangle.
//!
//! The rules of the behaviour reference (§1.1, §1.3) are enforced here, before writing, so that a
//! broken input is refused with the field at fault and nothing is half-written.
//!
//! One file a table; this one holds what they share: [`Change`], [`Json`], the `upsert!` macro,
//! the field checks (`required`, `optional`, `valid_email`, `port`, ...) and the two statements
//! most tables run alike (a row's id by name, the `DELETE` of a row by id).

use crate::{StoreError, Tx, on};
use postern_model::Secret;
use postern_model::address::{email_normalize, is_dot_atom, sanitize_alias_name};
use serde::{Deserialize, Serialize};

/// What an upsert did: `postern apply` reports it per item, and a second apply of the same file
/// reports only `Unchanged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The row did not exist.
    Created,
    /// The row existed and some value changed.
    Updated,
    /// The row existed with the same values.
    Unchanged,
}

/// A JSON value stored as text (alias defaults, record values, lists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Json(pub serde_json::Value);

impl TryFrom<String> for Json {
    type Error = serde_json::Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        serde_json::from_str(&s).map(Json)
    }
}

impl Json {
    fn text(&self) -> String {
        self.0.to_string()
    }
}

/// Runs an upsert: update the row found by `existing`, or create it, and say which. With a
/// `$secret` table and column, a changed secret (invisible in the view) also counts as a change.
macro_rules! upsert {
    ($tx:expr, $existing:expr, $input:expr, $create:ident, $update:ident, $get:ident) => {
        upsert!(
            $tx,
            $existing,
            $input,
            $create,
            $update,
            $get,
            None::<(&'static str, &Option<postern_model::Secret>)>
        )
    };
    ($tx:expr, $existing:expr, $input:expr, $create:ident, $update:ident, $get:ident, $secret:expr) => {{
        match $existing {
            None => Ok(($tx.$create($input).await?, $crate::config::Change::Created)),
            Some(id) => {
                let before = $tx.$get(id).await?;
                let secret_changed = match $secret {
                    Some((query, given)) => {
                        let old: Option<String> = on!($tx, |c| sqlx::query_scalar(query)
                            .bind(id.get())
                            .fetch_one(c)
                            .await)?;
                        $crate::config::secret_update(given, old.clone()) != old
                    }
                    None => false,
                };
                let after = $tx.$update(id, $input).await?;
                let change = if before == after && !secret_changed {
                    $crate::config::Change::Unchanged
                } else {
                    $crate::config::Change::Updated
                };
                Ok((after, change))
            }
        }
    }};
}

mod alias_domains;
mod aliases;
mod companies;
mod dkim_keys;
mod incoming_servers;
mod models;
mod outgoing_servers;
mod params;
mod partners;
mod webhooks;

pub use alias_domains::{AliasDomain, AliasDomainInput};
pub use aliases::{Alias, AliasInput};
pub use companies::{Company, CompanyInput};
pub use dkim_keys::{DKIM_KEYS_KEPT, DkimKey, DkimSigningKey, NewDkimKey};
pub use incoming_servers::{IncomingServer, IncomingServerInput, Interval, parse_duration_secs};
pub use models::{Model, ModelInput};
pub use outgoing_servers::{OutgoingServer, OutgoingServerInput};
pub use params::{Param, sanitize_param};
pub use partners::{Partner, PartnerInput};
pub use webhooks::{WEBHOOK_EVENTS, Webhook, WebhookInput};

/// A required one-line text: names, hosts, user names and URLs end up in headers, banners and
/// logs, where a line break (CR or LF) would start a line of its own.
fn required(field: &str, value: &str) -> Result<String, StoreError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(StoreError::invalid(field, "is required"));
    }
    crate::read::no_line_break(field, v)?;
    Ok(v.to_owned())
}

fn optional(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn valid_email(field: &str, value: &Option<String>) -> Result<Option<String>, StoreError> {
    let value = optional(value);
    if let Some(v) = &value {
        crate::read::no_line_break(field, v)?;
    }
    match value {
        None => Ok(None),
        Some(v) if email_normalize(&v).is_some() => Ok(Some(v)),
        Some(v) => Err(StoreError::invalid(
            field,
            format!("`{v}` is not a single e-mail address"),
        )),
    }
}

fn sanitized_alias(field: &str, value: &str) -> Result<String, StoreError> {
    let name = sanitize_alias_name(value, false)
        .ok_or_else(|| StoreError::invalid(field, format!("`{value}` is empty once sanitised")))?;
    if !is_dot_atom(&name) {
        return Err(StoreError::invalid(
            field,
            format!("`{name}` (from `{value}`) is not a valid local part (dot-atom)"),
        ));
    }
    Ok(name)
}

fn port(field: &str, value: Option<i64>, default: i64) -> Result<i64, StoreError> {
    match value {
        None => Ok(default),
        Some(p) if (1..=65535).contains(&p) => Ok(p),
        Some(p) => Err(StoreError::invalid(
            field,
            format!("{p} is not a TCP port (1-65535)"),
        )),
    }
}

/// Replaces a stored secret only when the input carries one; an empty string clears it.
fn secret_update(new: &Option<Secret>, old: Option<String>) -> Option<String> {
    match new {
        None => old,
        Some(s) if s.expose().is_empty() => None,
        Some(s) => Some(s.expose().to_owned()),
    }
}

fn valid_env_name(field: &str, value: &Option<String>) -> Result<Option<String>, StoreError> {
    match optional(value) {
        None => Ok(None),
        Some(v)
            if v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !v.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Ok(Some(v))
        }
        Some(v) => Err(StoreError::invalid(
            field,
            format!("`{v}` is not an environment variable name"),
        )),
    }
}

fn valid_host(value: &str) -> Result<String, StoreError> {
    let host = required("host", value)?;
    if host
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return Err(StoreError::invalid(
            "host",
            format!("`{host}` is not a host name or address"),
        ));
    }
    Ok(host)
}

impl Tx {
    /// Runs `sql`, the `SELECT id` of the row of one table whose unique name is `name`.
    async fn find_id(&mut self, sql: &'static str, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(on!(self, |c| sqlx::query_scalar(sql)
            .bind(name)
            .fetch_optional(c)
            .await)?)
    }

    /// Runs `sql`, the `DELETE` of the row `id` of one table; a failure is reported as a write
    /// of `what` (the `delete_*` methods, once they have checked that the row exists).
    async fn delete_row(
        &mut self,
        sql: &'static str,
        id: i64,
        what: &str,
    ) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(sql)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, what))?;
        Ok(())
    }
}
