//! The polling state of incoming servers (the IMAP/POP3 fetcher's side of `incoming_servers`):
//! what a poll needs to log in (the password included, which no API view carries), which servers
//! are due, the lease that lets one node at a time poll a server, the outcome of each poll
//! (last success, last error, error count, disabling after failures that last too long), and the
//! failures of each fetched message, so that a poison message is given up after a few tries.
//!
//! The lease is a row update, `lease_owner`/`lease_until`, taken only when free or expired: it
//! works the same on SQLite and PostgreSQL, and a node that dies lets its lease expire.

use crate::{StoreError, Tx, now_ms, on};
use postern_model::{Encryption, FetchAuth, FetchProtocol, IncomingServerId, Secret};

/// Parameter: failures of one message before it is kept as unprocessable and acknowledged.
pub const PARAM_MAX_FAILURES: &str = "postern.fetch.max_failures";
/// Parameter: hours of uninterrupted failures after which a server is disabled.
pub const PARAM_DISABLE_AFTER_HOURS: &str = "postern.fetch.disable_after_hours";
/// Default of [`PARAM_MAX_FAILURES`].
pub const DEFAULT_MAX_FAILURES: i64 = 3;
/// Default of [`PARAM_DISABLE_AFTER_HOURS`] (5 days, as the reference).
pub const DEFAULT_DISABLE_AFTER_HOURS: i64 = 120;

/// Everything a poll needs about one incoming server, the password included. Never serialised.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FetchTarget {
    /// Id.
    #[sqlx(try_from = "i64")]
    pub id: IncomingServerId,
    /// Unique name.
    pub name: String,
    /// `imap` or `pop3`.
    #[sqlx(try_from = "String")]
    pub protocol: FetchProtocol,
    /// Host.
    pub host: String,
    /// TCP port.
    pub port: i64,
    /// Transport security.
    #[sqlx(try_from = "String")]
    pub encryption: Encryption,
    /// How to log in.
    #[sqlx(try_from = "String")]
    pub auth: FetchAuth,
    /// Login.
    pub username: String,
    /// Stored password or token.
    #[sqlx(try_from = "Option<String>")]
    pub password: StoredSecret,
    /// Environment variable holding the password or token (wins over the stored one).
    pub password_env: Option<String>,
    /// Fallback model.
    pub model: Option<String>,
    /// Seconds between polls.
    pub interval_seconds: i64,
    /// Order of polling (lowest first).
    pub priority: i64,
    /// Keep the original as an attachment.
    pub keep_original: bool,
    /// Keep attachments.
    pub attachments: bool,
    /// At most this many messages per poll.
    pub max_messages: i64,
    /// Archived servers are not polled.
    pub active: bool,
    /// Disabled after failing too long (epoch ms).
    pub disabled_at: Option<i64>,
}

/// A stored secret column (absent when `NULL`).
#[derive(Debug, Clone, Default)]
pub struct StoredSecret(pub Option<Secret>);

impl From<Option<String>> for StoredSecret {
    fn from(v: Option<String>) -> Self {
        StoredSecret(v.map(Secret::new))
    }
}

/// The fetcher's knobs, from the params table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchParams {
    /// Failures of one message before it is given up.
    pub max_failures: i64,
    /// Milliseconds of uninterrupted failures before a server is disabled.
    pub disable_after_ms: i64,
}

const TARGET_SELECT: &str = "SELECT s.id, s.name, s.protocol, s.host, s.port, s.encryption, s.auth, s.username, \
     s.password, s.password_env, m.name AS model, s.interval_seconds, s.priority, s.keep_original, s.attachments, \
     s.max_messages, s.active, s.disabled_at FROM incoming_servers s LEFT JOIN models m ON m.id = s.model_id";

impl Tx {
    /// The server `id`, with its credentials.
    pub async fn fetch_target(&mut self, id: IncomingServerId) -> Result<FetchTarget, StoreError> {
        on!(self, |c| sqlx::query_as::<_, FetchTarget>(
            sqlx::AssertSqlSafe(format!("{TARGET_SELECT} WHERE s.id = $1"))
        )
        .bind(id.get())
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("incoming server", id))
    }

    /// Active, enabled servers that no node holds and whose interval has passed since their
    /// last poll — or whose last poll never ended: its lease ran out without being given back
    /// (the node died in the middle of it, an IMAP IDLE watch among them), and another node
    /// takes it over at once, whatever the interval. By priority then id.
    pub async fn due_incoming_servers(
        &mut self,
        now: i64,
    ) -> Result<Vec<IncomingServerId>, StoreError> {
        let ids: Vec<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM incoming_servers WHERE active AND disabled_at IS NULL \
             AND (last_poll_at IS NULL OR last_poll_at + interval_seconds * 1000 <= $1 \
                  OR lease_owner IS NOT NULL) \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY priority, id"
        )
        .bind(now)
        .fetch_all(c)
        .await)?;
        Ok(ids.into_iter().map(IncomingServerId).collect())
    }

    /// Takes (or renews) the lease of server `id` for `owner` until `until`: true when this
    /// owner holds it now. Another owner's lease that has not expired is never taken.
    pub async fn take_fetch_lease(
        &mut self,
        id: IncomingServerId,
        owner: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        let n = on!(self, |c| {
            sqlx::query(
            "UPDATE incoming_servers SET lease_owner = $1, lease_until = $2 WHERE id = $3 \
             AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until IS NULL OR lease_until < $4)"
        )
        .bind(owner)
        .bind(until)
        .bind(id.get())
        .bind(now_ms())
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Gives the lease back (when `owner` still holds it).
    pub async fn release_fetch_lease(
        &mut self,
        id: IncomingServerId,
        owner: &str,
    ) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(
            "UPDATE incoming_servers SET lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2"
        )
        .bind(id.get())
        .bind(owner)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A poll that reached the mailbox: clears the error state (and a disabling).
    pub async fn record_fetch_success(
        &mut self,
        id: IncomingServerId,
        now: i64,
    ) -> Result<(), StoreError> {
        on!(self, |c| {
            sqlx::query(
            "UPDATE incoming_servers SET last_poll_at = $1, last_success_at = $1, last_error = NULL, \
             last_error_at = NULL, first_error_at = NULL, error_count = 0, disabled_at = NULL WHERE id = $2"
        )
        .bind(now)
        .bind(id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// A poll that failed (connection, TLS, login, mailbox): counts it, and disables the server
    /// when its failures have lasted longer than `disable_after_ms`. Returns true when this
    /// failure disabled it.
    pub async fn record_fetch_error(
        &mut self,
        id: IncomingServerId,
        now: i64,
        error: &str,
        disable_after_ms: i64,
    ) -> Result<bool, StoreError> {
        let first: Option<i64> = on!(self, |c| {
            sqlx::query_scalar(
            "UPDATE incoming_servers SET last_poll_at = $1, last_error = $2, last_error_at = $1, \
             first_error_at = COALESCE(first_error_at, $1), error_count = error_count + 1 \
             WHERE id = $3 RETURNING first_error_at"
        )
        .bind(now)
        .bind(error)
        .bind(id.get())
        .fetch_optional(c)
        .await
        })?;
        let Some(first) = first else {
            return Err(StoreError::not_found("incoming server", id));
        };
        let disabling = now - first > disable_after_ms;
        let data = serde_json::json!({"error": error, "disabled": disabling});
        self.emit("incoming_server.failed", Some(id.get()), Some(data))
            .await?;
        if !disabling {
            return Ok(false);
        }
        let hours = (now - first) / 3_600_000;
        let text = format!("disabled after failing for {hours} hours; last error: {error}");
        let n = on!(self, |c| sqlx::query(
            "UPDATE incoming_servers SET disabled_at = $1, last_error = $2 \
             WHERE id = $3 AND disabled_at IS NULL"
        )
        .bind(now)
        .bind(&text)
        .bind(id.get())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Counts one more failure of the message `key` of server `id`; returns how many it has had.
    pub async fn count_message_failure(
        &mut self,
        id: IncomingServerId,
        key: &str,
        error: &str,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        Ok(on!(self, |c| {
            sqlx::query_scalar(
            "INSERT INTO fetch_failures (server_id, message_key, failures, last_error, first_failed_at, last_failed_at) \
             VALUES ($1, $2, 1, $3, $4, $4) ON CONFLICT (server_id, message_key) DO UPDATE SET \
             failures = fetch_failures.failures + 1, last_error = excluded.last_error, \
             last_failed_at = excluded.last_failed_at RETURNING failures"
        )
        .bind(id.get())
        .bind(key)
        .bind(error)
        .bind(now)
        .fetch_one(c)
        .await
        })?)
    }

    /// Keys of the messages of server `id` that failed and wait for another try.
    pub async fn failing_message_keys(
        &mut self,
        id: IncomingServerId,
    ) -> Result<Vec<String>, StoreError> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "SELECT message_key FROM fetch_failures WHERE server_id = $1"
        )
        .bind(id.get())
        .fetch_all(c)
        .await)?)
    }

    /// Forgets the failures of the message `key` (accepted, or given up).
    pub async fn clear_message_failures(
        &mut self,
        id: IncomingServerId,
        key: &str,
    ) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(
            "DELETE FROM fetch_failures WHERE server_id = $1 AND message_key = $2"
        )
        .bind(id.get())
        .bind(key)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The fetcher's parameters, with their defaults.
    pub async fn fetch_params(&mut self) -> Result<FetchParams, StoreError> {
        let int = |v: Option<String>, default: i64| {
            v.and_then(|v| v.parse::<i64>().ok())
                .filter(|n| *n >= 1)
                .unwrap_or(default)
        };
        let max_failures = int(
            self.get_param(PARAM_MAX_FAILURES).await?,
            DEFAULT_MAX_FAILURES,
        );
        let hours = int(
            self.get_param(PARAM_DISABLE_AFTER_HOURS).await?,
            DEFAULT_DISABLE_AFTER_HOURS,
        );
        Ok(FetchParams {
            max_failures,
            disable_after_ms: hours.saturating_mul(3_600_000),
        })
    }
}
