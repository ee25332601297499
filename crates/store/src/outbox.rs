//! The outbox as the delivery runner sees it: claiming due mails with a lease, the servers to
//! send through, writing back what happened to each mail, each recipient and each
//! notification (the red envelope), and the operator's `retry` and `cancel`.
//!
//! Claiming: a mail is due when it is `outgoing`, its `next_try_at` has come and no live lease
//! holds it. A claim sets `lease_owner` and `lease_until`; a runner that dies leaves the lease to
//! expire and another claim takes the mail again (at least once: a mail sent just before a crash
//! may go out twice, never zero times). On PostgreSQL the claim is
//! `SELECT … FOR UPDATE SKIP LOCKED` inside an `UPDATE`, so several nodes claim disjoint
//! batches; on SQLite the single writer serialises claims. Transactional mail is claimed before
//! mass mail, then by due time.

use crate::{StoreError, Tx, TxInner, now_ms, on};
use postern_model::{
    MailId, MailStream, MessageId, NotificationStatus, OutgoingServerId, PartnerId,
    RecipientStatus, RecordId, Secret,
};

/// A mail as the runner needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxMail {
    /// Id.
    pub id: MailId,
    /// `transactional` / `mass`.
    #[sqlx(try_from = "String")]
    pub stream: MailStream,
    /// Why it exists.
    pub kind: Option<String>,
    /// The thread message it carries (its attachments go with it).
    pub message_id: Option<MessageId>,
    /// The record concerned.
    pub record_id: Option<RecordId>,
    /// RFC Message-ID.
    pub rfc_message_id: String,
    /// From as stored.
    pub email_from: String,
    /// To (JSON list of formatted addresses).
    pub email_to: String,
    /// Cc (JSON list).
    pub email_cc: String,
    /// Reply-To.
    pub reply_to: Option<String>,
    /// Bounce address; `""` asks for the null sender.
    pub return_path: Option<String>,
    /// Subject.
    pub subject: String,
    /// HTML body.
    pub body_html: Option<String>,
    /// Text body.
    pub body_text: Option<String>,
    /// Extra headers (JSON object).
    pub headers: String,
    /// A forced server (mass mail's dedicated server, or chosen by the caller).
    pub server_id: Option<OutgoingServerId>,
    /// Attempts made so far.
    pub attempts: i64,
    /// Creation time, or the last `queue retry` (epoch ms): retries stop when the mail has been
    /// failing for longer than the maximum age.
    pub age_from: i64,
}

const OUTBOX_COLUMNS: &str = "id, stream, kind, message_id, record_id, rfc_message_id, email_from, email_to, \
     email_cc, reply_to, return_path, subject, body_html, body_text, headers, server_id, attempts, COALESCE(retry_since, created_at) AS age_from";

/// An outgoing server with what the client needs to log in. Never serialised.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryServer {
    /// Id.
    pub id: OutgoingServerId,
    /// Name.
    pub name: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: i64,
    /// `none`, `starttls`, `ssl`, `starttls_strict`, `ssl_strict`.
    pub encryption: String,
    /// AUTH user.
    pub username: Option<String>,
    /// Stored password (prefer `password_env`).
    #[sqlx(try_from = "Option<String>")]
    pub password: OptSecret,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// From filter.
    pub from_filter: Option<String>,
    /// Priority.
    pub sequence: i64,
    /// Archived servers are only used by the connection test.
    pub active: bool,
    /// `password` (PLAIN/LOGIN) or `xoauth2` (the password is the OAuth2 access token).
    pub auth: String,
    /// `relay` or `mx` (direct delivery).
    #[sqlx(try_from = "String")]
    pub kind: postern_model::ServerKind,
    /// Direct delivery: connections open at once to one destination domain.
    pub connections_per_domain: i64,
    /// Send limits: per second, per hour, per day (`None`: no limit).
    pub limit_per_second: Option<i64>,
    /// Per hour.
    pub limit_per_hour: Option<i64>,
    /// Per day.
    pub limit_per_day: Option<i64>,
}

/// An optional secret read from a row.
#[derive(Debug, Clone, Default)]
pub struct OptSecret(pub Option<Secret>);

impl From<Option<String>> for OptSecret {
    fn from(v: Option<String>) -> Self {
        OptSecret(v.map(Secret::new))
    }
}

const SERVER_COLUMNS: &str = "id, name, host, port, encryption, username, password, password_env, from_filter, \
     sequence, active, auth, kind, connections_per_domain, limit_per_second, limit_per_hour, limit_per_day";

/// One recipient of a mail and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailRecipient {
    /// The mail.
    pub mail_id: MailId,
    /// SMTP address.
    pub address: String,
    /// Partner, when known.
    pub partner_id: Option<PartnerId>,
    /// `ready`, `retry` (temporary failure), `sent`, `exception`.
    #[sqlx(try_from = "String")]
    pub status: postern_model::RecipientStatus,
    /// The server's reply, or why it was not sent.
    pub reply: Option<String>,
}

/// Where a mail stands after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptState {
    /// At least one recipient accepted it and none is left to retry.
    Sent,
    /// Failed for good.
    Exception,
    /// Try again at this time (epoch ms).
    Retry(i64),
}

/// The result of one attempt at one mail.
#[derive(Debug, Clone)]
pub struct MailResult {
    /// The mail.
    pub mail_id: MailId,
    /// Its new state.
    pub state: AttemptState,
    /// `mail_smtp`, `mail_email_invalid`, `mail_from_invalid`, ...
    pub failure_type: Option<String>,
    /// The server's words, or ours.
    pub failure_reason: Option<String>,
    /// The server used.
    pub server_id: Option<OutgoingServerId>,
    /// Every recipient with its status (replaces what was stored).
    pub recipients: Vec<MailRecipient>,
}

/// The Message-ID a relay gave the mail, from its answer to the data (the local part, the key of
/// `message_id_aliases`): a bracketed `<id@host>` (other than ours), or the token after `Ok`
/// when it is long enough to be an id (Amazon SES: `250 Ok 0100018c...-000000`, sent on as
/// `<0100018c...-000000@email.amazonses.com>`). A queue id (`queued as 4ABC123`) is none.
pub fn rewritten_message_id(reply: &str, ours: &str) -> Option<String> {
    let ours = ours.trim_matches(['<', '>']);
    if let Some(start) = reply.find('<')
        && let Some(len) = reply[start..].find('>')
    {
        let id = &reply[start + 1..start + len];
        return match id.split_once('@') {
            Some((local, _)) if id != ours && local.len() >= 8 => Some(local.to_owned()),
            _ => None,
        };
    }
    let mut words = reply.split_whitespace();
    words.find(|w| w.eq_ignore_ascii_case("ok") || w.eq_ignore_ascii_case("ok:"))?;
    let token = words.next()?;
    let id_like = token.len() >= 20
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && token.bytes().any(|b| b.is_ascii_digit());
    id_like.then(|| token.to_owned())
}

/// The failure reason of a mail that waits because no outgoing server exists (not the mail's
/// fault): such mails are due again as soon as a server is added or activated.
pub const NO_SERVER_REASON: &str = "no outgoing server is configured";

impl Tx {
    /// Makes the mails that wait for an outgoing server due now (a server was added or
    /// activated), instead of waiting out their backoff; returns how many.
    pub async fn wake_mails_waiting_for_a_server(&mut self) -> Result<u64, StoreError> {
        let now = now_ms();
        let n = on!(self, |c| {
            sqlx::query(
                "UPDATE mails SET next_try_at = $1 WHERE state = 'outgoing' AND failure_reason = $2 \
                 AND next_try_at > $1",
            )
            .bind(now)
            .bind(NO_SERVER_REASON)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n > 0 {
            tracing::info!(
                mails = n,
                "an outgoing server is available: the mails waiting for one are due now"
            );
        }
        Ok(n)
    }

    /// Claims up to `limit` due mails for `owner` until `now + lease_ms`; returns them
    /// (transactional first, then by due time).
    pub async fn claim_due_mails(
        &mut self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        const DUE: &str = "state = 'outgoing' AND next_try_at <= $1 AND (lease_until IS NULL OR lease_until < $1)";
        const ORDER: &str = "CASE WHEN stream = 'mass' THEN 1 ELSE 0 END, next_try_at, id";
        let sql = match self.inner {
            TxInner::Postgres(_) => format!(
                "WITH picked AS (SELECT id AS picked_id FROM mails WHERE {DUE} ORDER BY {ORDER} LIMIT $4 \
                 FOR UPDATE SKIP LOCKED) \
                 UPDATE mails SET lease_owner = $2, lease_until = $3 FROM picked WHERE mails.id = picked.picked_id \
                 RETURNING {OUTBOX_COLUMNS}"
            ),
            TxInner::Sqlite(_) | TxInner::Direct(_) => format!(
                "UPDATE mails SET lease_owner = $2, lease_until = $3 WHERE id IN \
                 (SELECT id FROM mails WHERE {DUE} ORDER BY {ORDER} LIMIT $4) RETURNING {OUTBOX_COLUMNS}"
            ),
        };
        let rows = on!(self, |c| {
            sqlx::query_as::<_, OutboxMail>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(now)
                .bind(owner)
                .bind(now + lease_ms)
                .bind(limit)
                .fetch_all(c)
                .await
        })?;
        let mut rows = rows;
        rows.sort_by_key(|m| (m.stream == MailStream::Mass, m.id));
        Ok(rows)
    }

    /// The earliest time a mail becomes due (for the runner's sleep), if any mail is outgoing.
    pub async fn next_due_time(&mut self) -> Result<Option<i64>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > next_try_at THEN lease_until ELSE next_try_at END) \
             FROM mails WHERE state = 'outgoing'"
        )
        .fetch_one(c)
        .await
        })?)
    }

    /// The stored recipients of these mails (empty for mails never tried).
    pub async fn mail_recipients(
        &mut self,
        mail_id: MailId,
    ) -> Result<Vec<MailRecipient>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_as::<_, MailRecipient>(
            "SELECT mail_id, address, partner_id, status, reply FROM mail_recipients WHERE mail_id = $1 ORDER BY id"
        )
        .bind(mail_id)
        .fetch_all(c)
        .await
        })?)
    }

    /// The files of the message a mail carries: (filename, mimetype, content).
    pub async fn mail_attachments(
        &mut self,
        message_id: MessageId,
    ) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_as::<_, (String, String, Vec<u8>)>(
            "SELECT filename, mimetype, content FROM attachments WHERE message_id = $1 ORDER BY id"
        )
        .bind(message_id)
        .fetch_all(c)
        .await
        })?)
    }

    /// Outgoing servers (active ones, unless `include_archived`), by sequence then name.
    pub async fn delivery_servers(
        &mut self,
        include_archived: bool,
    ) -> Result<Vec<DeliveryServer>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_as::<_, DeliveryServer>(
            sqlx::AssertSqlSafe(format!(
                "SELECT {SERVER_COLUMNS} FROM outgoing_servers WHERE active OR $1 ORDER BY sequence, name"
            ))
        )
        .bind(include_archived)
        .fetch_all(c)
        .await
        })?)
    }

    /// Sets how an outgoing server logs in (`password` or `xoauth2`).
    pub async fn set_outgoing_server_auth(
        &mut self,
        id: OutgoingServerId,
        auth: &str,
    ) -> Result<(), StoreError> {
        if !matches!(auth, "password" | "xoauth2" | "oauth") {
            return Err(StoreError::invalid(
                "auth",
                "expected `password`, `xoauth2` or `oauth`",
            ));
        }
        let n = on!(self, |c| sqlx::query(
            "UPDATE outgoing_servers SET auth = $1 WHERE id = $2"
        )
        .bind(auth)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::not_found("outgoing server", id));
        }
        Ok(())
    }

    /// Writes the results of an attempt: the mail's state, its recipients, and the status of
    /// the notifications it carries (`sent`, or `exception` with the failure for the partners
    /// refused). A mail that is retried leaves its notifications `ready`.
    pub async fn record_mail_results(&mut self, results: &[MailResult]) -> Result<(), StoreError> {
        let now = now_ms();
        // The common case (sent to everyone) in a few statements for the whole batch.
        let (plain, other): (Vec<&MailResult>, Vec<&MailResult>) = results.iter().partition(|r| {
            r.state == AttemptState::Sent
                && r.failure_type.is_none()
                && r.recipients
                    .iter()
                    .all(|x| x.status == RecipientStatus::Sent)
        });
        for chunk in plain.chunks(500) {
            self.record_sent(chunk, now).await?;
        }
        for r in results {
            for rcpt in r
                .recipients
                .iter()
                .filter(|x| x.status == RecipientStatus::Sent)
            {
                self.keep_rewritten_id(r.mail_id, rcpt.reply.as_deref())
                    .await?;
            }
        }
        for r in other {
            self.record_one(r, now).await?;
        }
        Ok(())
    }

    async fn record_sent(&mut self, results: &[&MailResult], now: i64) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        // Integers only: formatting them into the statement is safe.
        let ids = results
            .iter()
            .map(|r| r.mail_id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        for sql in [
            format!(
                "UPDATE mails SET state = 'sent', failure_type = NULL, failure_reason = NULL, waiting_reason = NULL, \
                 attempts = attempts + 1, next_try_at = {now}, sent_at = {now}, lease_owner = NULL, lease_until = NULL WHERE id IN ({ids})"
            ),
            format!("DELETE FROM mail_recipients WHERE mail_id IN ({ids})"),
            format!(
                "UPDATE notifications SET status = 'sent', failure_type = NULL, failure_reason = NULL \
                 WHERE mail_id IN ({ids}) AND status NOT IN ('sent', 'canceled', 'bounce')"
            ),
        ] {
            on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(c)
                .await
                .map(|x| x.rows_affected()))?;
        }
        for servers in results.chunk_by(|a, b| a.server_id == b.server_id) {
            if let Some(server) = servers[0].server_id {
                let ids = servers
                    .iter()
                    .map(|r| r.mail_id.to_string())
                    .collect::<Vec<_>>()
                    .join(",");
                on!(self, |c| sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE mails SET server_id = {server} WHERE id IN ({ids})"
                )))
                .execute(c)
                .await
                .map(|x| x.rows_affected()))?;
            }
        }
        for r in results {
            self.emit("mail.sent", Some(r.mail_id), None).await?;
        }
        let rows: Vec<&MailRecipient> = results.iter().flat_map(|r| &r.recipients).collect();
        for chunk in rows.chunks(200) {
            let values = (0..chunk.len())
                .map(|i| {
                    format!(
                        "(${}, ${}, ${}, ${}, ${})",
                        i * 5 + 1,
                        i * 5 + 2,
                        i * 5 + 3,
                        i * 5 + 4,
                        i * 5 + 5
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO mail_recipients (mail_id, address, partner_id, status, reply) VALUES {values}"
            );
            on!(self, |c| {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for r in chunk {
                    q = q
                        .bind(r.mail_id)
                        .bind(&r.address)
                        .bind(r.partner_id)
                        .bind(r.status.as_str())
                        .bind(&r.reply);
                }
                q.execute(c).await.map(|x| x.rows_affected())
            })?;
        }
        Ok(())
    }

    async fn record_one(&mut self, r: &MailResult, now: i64) -> Result<(), StoreError> {
        let (state, next_try, sent_at) = match r.state {
            AttemptState::Sent => ("sent", now, Some(now)),
            AttemptState::Exception => ("exception", now, None),
            AttemptState::Retry(at) => ("outgoing", at, None),
        };
        on!(self, |c| {
            sqlx::query(
            "UPDATE mails SET state = $2, failure_type = $3, failure_reason = $4, server_id = COALESCE($5, server_id), \
             attempts = attempts + 1, next_try_at = $6, sent_at = $7, lease_owner = NULL, lease_until = NULL, \
             waiting_reason = NULL WHERE id = $1"
        )
        .bind(r.mail_id)
        .bind(state)
        .bind(&r.failure_type)
        .bind(&r.failure_reason)
        .bind(r.server_id)
        .bind(next_try)
        .bind(sent_at)
        .execute(c)
        .await
        .map(|x| x.rows_affected())
        })?;
        match r.state {
            AttemptState::Sent => self.emit("mail.sent", Some(r.mail_id), None).await?,
            AttemptState::Exception => self.emit("mail.failed", Some(r.mail_id), None).await?,
            AttemptState::Retry(_) => {}
        }
        on!(self, |c| sqlx::query(
            "DELETE FROM mail_recipients WHERE mail_id = $1"
        )
        .bind(r.mail_id)
        .execute(c)
        .await
        .map(|x| x.rows_affected()))?;
        for rcpt in &r.recipients {
            on!(self, |c| {
                sqlx::query(
                "INSERT INTO mail_recipients (mail_id, address, partner_id, status, reply) VALUES ($1, $2, $3, $4, $5)"
            )
            .bind(r.mail_id)
            .bind(&rcpt.address)
            .bind(rcpt.partner_id)
            .bind(rcpt.status.as_str())
            .bind(&rcpt.reply)
            .execute(c)
            .await
            .map(|x| x.rows_affected())
            })?;
        }
        self.notifications_after(r).await
    }

    /// Keeps the Message-ID a relay gave mail `id` (see [`rewritten_message_id`]).
    async fn keep_rewritten_id(
        &mut self,
        id: MailId,
        reply: Option<&str>,
    ) -> Result<(), StoreError> {
        // Most answers name no id: nothing to read then.
        let Some(reply) = reply.filter(|r| rewritten_message_id(r, "").is_some()) else {
            return Ok(());
        };
        let ours: Option<String> = on!(self, |c| sqlx::query_scalar(
            "SELECT rfc_message_id FROM mails WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?;
        let Some(ours) = ours else { return Ok(()) };
        let Some(alias) = rewritten_message_id(reply, &ours) else {
            return Ok(());
        };
        on!(self, |c| {
            sqlx::query(
            "INSERT INTO message_id_aliases (alias, rfc_message_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (alias) DO NOTHING"
        )
        .bind(&alias)
        .bind(&ours)
        .bind(now_ms())
        .execute(c)
        .await
        .map(|x| x.rows_affected())
        })?;
        Ok(())
    }

    /// The notifications of a mail after an attempt: sent, or failed with the mail's failure,
    /// or, for a recipient alone, with its own (`suppressed`).
    async fn notifications_after(&mut self, r: &MailResult) -> Result<(), StoreError> {
        match r.state {
            AttemptState::Retry(_) => Ok(()),
            AttemptState::Sent => {
                self.set_notifications(r.mail_id, None, NotificationStatus::Sent, None, None)
                    .await?;
                for rcpt in &r.recipients {
                    let ft = match rcpt.status {
                        RecipientStatus::Exception => {
                            r.failure_type.as_deref().unwrap_or("mail_smtp")
                        }
                        RecipientStatus::Suppressed => "suppressed",
                        _ => continue,
                    };
                    self.set_notifications(
                        r.mail_id,
                        Some(&rcpt.address),
                        NotificationStatus::Exception,
                        Some(ft),
                        rcpt.reply.as_deref(),
                    )
                    .await?;
                }
                Ok(())
            }
            AttemptState::Exception => {
                self.set_notifications(
                    r.mail_id,
                    None,
                    NotificationStatus::Exception,
                    Some(r.failure_type.as_deref().unwrap_or("unknown")),
                    r.failure_reason.as_deref(),
                )
                .await
            }
        }
    }

    /// Sets the notifications of a mail (all of them, or those of the partners at `address`)
    /// that are not final yet (`sent`, `canceled`, `bounce` stay as they are).
    async fn set_notifications(
        &mut self,
        mail_id: MailId,
        address: Option<&str>,
        status: NotificationStatus,
        failure_type: Option<&str>,
        failure_reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let protected = if status == NotificationStatus::Sent {
            "('sent', 'canceled', 'bounce')"
        } else {
            "('canceled', 'bounce')"
        };
        let address = address.map(|a| a.to_lowercase());
        on!(self, |c| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE notifications SET status = $2, failure_type = $3, failure_reason = $4 \
             WHERE mail_id = $1 AND status NOT IN {protected} \
             AND ($5 IS NULL OR partner_id IN (SELECT id FROM partners WHERE email_normalized = $5))"
        )))
        .bind(mail_id)
        .bind(status.as_str())
        .bind(failure_type)
        .bind(failure_reason)
        .bind(address)
        .execute(c)
        .await
        .map(|x| x.rows_affected())
        })?;
        Ok(())
    }

    /// `postern queue retry`: an `exception` (or `cancel`) mail goes back to `outgoing`, due now,
    /// its failed recipients and notifications ready again. A sent mail is not sent twice.
    pub async fn retry_mail(&mut self, id: MailId) -> Result<(), StoreError> {
        let state = self.mail_state(id).await?;
        if state == "sent" {
            return Err(StoreError::Conflict(format!("mail {id} was sent already")));
        }
        on!(self, |c| {
            sqlx::query(
            "UPDATE mails SET state = 'outgoing', failure_type = NULL, failure_reason = NULL, waiting_reason = NULL, next_try_at = $2, \
             retry_since = $2, lease_owner = NULL, lease_until = NULL WHERE id = $1"
        )
        .bind(id)
        .bind(now_ms())
        .execute(c)
        .await
        .map(|x| x.rows_affected())
        })?;
        on!(self, |c| sqlx::query(
            "UPDATE mail_recipients SET status = 'ready' WHERE mail_id = $1 AND status <> 'sent'"
        )
        .bind(id)
        .execute(c)
        .await
        .map(|x| x.rows_affected()))?;
        on!(self, |c| sqlx::query(
            "UPDATE notifications SET status = 'ready', failure_type = NULL, failure_reason = NULL \
             WHERE mail_id = $1 AND status IN ('exception', 'canceled')"
        )
        .bind(id)
        .execute(c)
        .await
        .map(|x| x.rows_affected()))?;
        Ok(())
    }

    /// `postern queue cancel`: a mail not sent yet is cancelled, with its notifications.
    pub async fn cancel_mail(&mut self, id: MailId) -> Result<(), StoreError> {
        let state = self.mail_state(id).await?;
        if state == "sent" {
            return Err(StoreError::Conflict(format!("mail {id} was sent already")));
        }
        on!(self, |c| {
            sqlx::query(
            "UPDATE mails SET state = 'cancel', waiting_reason = NULL, lease_owner = NULL, lease_until = NULL WHERE id = $1"
        )
        .bind(id)
        .execute(c)
        .await
        .map(|x| x.rows_affected())
        })?;
        on!(self, |c| {
            sqlx::query(
            "UPDATE notifications SET status = 'canceled' WHERE mail_id = $1 AND status IN ('ready', 'exception')"
        )
        .bind(id)
        .execute(c)
        .await
        .map(|x| x.rows_affected())
        })?;
        Ok(())
    }

    async fn mail_state(&mut self, id: MailId) -> Result<String, StoreError> {
        on!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT state FROM mails WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("mail", id))
    }

    /// How many mails are in each state (for `queue list` and metrics).
    pub async fn mail_counts(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on!(self, |c| sqlx::query_as::<_, (String, i64)>(
            "SELECT state, COUNT(*) FROM mails GROUP BY state ORDER BY state"
        )
        .fetch_all(c)
        .await)?)
    }

    /// The address of a record's own alias (an alias whose parent is the record), if any.
    pub async fn record_alias_email(
        &mut self,
        model: &str,
        record_id: RecordId,
    ) -> Result<Option<String>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_scalar::<_, String>(
            "SELECT a.alias_name || '@' || d.name FROM aliases a JOIN alias_domains d ON d.id = a.alias_domain_id \
             JOIN models m ON m.id = a.parent_model_id WHERE m.name = $1 AND a.parent_thread_id = $2 ORDER BY a.id LIMIT 1"
        )
        .bind(model)
        .bind(record_id)
        .fetch_optional(c)
        .await
        })?)
    }

    /// Marks a partner's notification of a message as failed before any sending (no usable
    /// address).
    pub async fn fail_notification(
        &mut self,
        message_id: MessageId,
        partner_id: PartnerId,
        failure_type: &str,
        failure_reason: &str,
    ) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(
            "UPDATE notifications SET status = 'exception', failure_type = $3, failure_reason = $4 \
             WHERE message_id = $1 AND partner_id = $2"
        )
        .bind(message_id)
        .bind(partner_id)
        .bind(failure_type)
        .bind(failure_reason)
        .execute(c)
        .await
        .map(|x| x.rows_affected()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::rewritten_message_id;

    #[test]
    fn the_id_a_relay_gave() {
        let ours = "<abc.123-postern-1-crm.lead@example.com>";
        let ses = "250 Ok 0100018c1f2b3c4d-5e6f7a8b-1c2d-4e5f-9a0b-1c2d3e4f5a6b-000000";
        assert_eq!(
            rewritten_message_id(ses, ours).as_deref(),
            Some("0100018c1f2b3c4d-5e6f7a8b-1c2d-4e5f-9a0b-1c2d3e4f5a6b-000000")
        );
        assert_eq!(
            rewritten_message_id("250 2.0.0 <x1y2z3w4v5@mx.relay.example> queued", ours).as_deref(),
            Some("x1y2z3w4v5")
        );
        // Our own id answered back, a Postfix queue id, Gmail's answer: none.
        assert_eq!(
            rewritten_message_id(&format!("250 2.6.0 {ours} Queued"), ours),
            None
        );
        assert_eq!(
            rewritten_message_id("250 2.0.0 Ok: queued as 4ABC123DEF", ours),
            None
        );
        assert_eq!(
            rewritten_message_id("250 2.0.0 OK  1701234567 a1b2c3d4e5f6.123 - gsmtp", ours),
            None
        );
    }
}
