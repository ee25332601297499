//! The tables inbound mail writes and the lookups routing asks for: raw originals, records,
//! messages (one per RFC Message-ID), attachments, followers, notifications, the outbox, and
//! the counts of the loop rules. Every lookup here is by an index, so routing a reply costs the
//! same with a thousand stored messages as with a million.

use crate::chunks::{Owner, Packing, pack, split_head};
use crate::{MailCause, MailContent};
use crate::{
    NewMail, NewMessage, NewNotification, NewRawMessage, NewRecordRow, StoreError, Tx, now_ms, on,
};
use postern_model::{
    AliasId, AttachmentId, MailId, MessageId, MessageType, NotificationId, PartnerId, RawMessageId,
    RecordId,
};

/// At most this many addresses or ids are looked up for one message (the rest are ignored), so
/// that a message with ten thousand recipients cannot make one lookup per recipient.
pub const MAX_LOOKUPS: usize = 64;

/// A stored message as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ThreadMessageRow {
    /// Id.
    pub id: MessageId,
    /// Its record.
    pub record_id: Option<RecordId>,
    /// The record's model.
    pub model: Option<String>,
    /// `comment`, `note`...
    pub subtype: Option<String>,
    /// `email`, `comment`, `auto_comment`...
    #[sqlx(try_from = "String")]
    pub message_type: MessageType,
    /// Author.
    pub author_partner_id: Option<PartnerId>,
}

/// An alias as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AliasRouteRow {
    /// Id.
    pub id: AliasId,
    /// Local part.
    pub alias_name: String,
    /// Domain name.
    pub domain: Option<String>,
    /// Model.
    pub model: String,
    /// Forced record.
    pub force_thread_id: Option<RecordId>,
    /// Owner record.
    pub parent_thread_id: Option<RecordId>,
    /// Contact policy.
    pub contact: String,
    /// Local-part matching.
    pub incoming_local: bool,
    /// Refuse mail whose From is not trusted (sender authentication).
    pub refuse_untrusted: bool,
    /// Defaults (JSON).
    pub defaults: String,
    /// `not_tested`, `valid`, `invalid`.
    pub status: String,
}

/// A message as a reply target: its record's model, subtype, type and author.
const THREAD_MESSAGE_SELECT: &str = "SELECT m.id, m.record_id, md.name AS model, m.subtype, m.message_type, \
     m.author_partner_id FROM messages m LEFT JOIN records r ON r.id = m.record_id \
     LEFT JOIN models md ON md.id = r.model_id";

/// What a bounce says of one recipient, pinned on its notifications.
#[derive(Debug, Clone, Default)]
pub struct BounceCause {
    /// The diagnostic (`550 5.1.1 <a@x>: User unknown`), or the notice's text when the report
    /// names none: the notification's `failure_reason`.
    pub diagnostic: String,
    /// The reason word (`userunknown`...), when the report was analysed.
    pub reason: Option<String>,
    /// Whether the bounce is hard.
    pub hard: Option<bool>,
}

impl Tx {
    /// Stores a raw inbound message; returns its id.
    pub async fn insert_raw_message(
        &mut self,
        raw: &NewRawMessage<'_>,
    ) -> Result<RawMessageId, StoreError> {
        // PostgreSQL compresses large values itself.
        let packed_here;
        let packed = match raw.packing {
            _ if self.is_postgres() => None,
            Packing::Lz4(packed) => Some(packed.as_bytes()),
            Packing::AsReceived => None,
            Packing::Later => {
                packed_here = pack(raw.content);
                packed_here.as_ref().map(|p| p.as_bytes())
            }
        };
        let (encoding, (head, rest)) = match packed {
            Some(packed) => (Some("lz4"), (packed, &[][..])),
            None => (None, split_head(raw.content)),
        };
        let id = on!(self, |c| {
            sqlx::query_scalar(
            "INSERT INTO raw_messages (received_at, source, envelope_sender, envelope_rcpts, peer, helo, tls, \
             header_message_id, size, content, status, error, outcome, content_encoding) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id"
        )
        .bind(now_ms())
        .bind(raw.source)
        .bind(raw.envelope_sender)
        .bind(&raw.envelope_rcpts)
        .bind(raw.peer)
        .bind(raw.helo)
        .bind(raw.tls)
        .bind(raw.header_message_id)
        .bind(raw.content.len() as i64)
        .bind(head)
        .bind(raw.status.as_str())
        .bind(raw.error)
        .bind(&raw.outcome)
        .bind(encoding)
        .fetch_one(c)
        .await
        })?;
        self.insert_chunks(Owner::RawMessage, id, rest).await?;
        if matches!(
            raw.status,
            postern_model::RawStatus::Failed | postern_model::RawStatus::Unprocessable
        ) {
            let data = serde_json::json!({"error": raw.error});
            self.emit("raw_message.unprocessable", Some(id), Some(data))
                .await?;
        }
        Ok(RawMessageId(id))
    }

    /// Records the outcome of a raw message once known.
    pub async fn set_raw_message_outcome(
        &mut self,
        id: RawMessageId,
        status: postern_model::RawStatus,
        outcome: &str,
    ) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(
            "UPDATE raw_messages SET status = $1, outcome = $2 WHERE id = $3"
        )
        .bind(status.as_str())
        .bind(outcome)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// True when a message with one of these RFC ids is stored.
    pub async fn message_id_exists(&mut self, ids: &[String]) -> Result<bool, StoreError> {
        for id in ids.iter().take(MAX_LOOKUPS) {
            let found: Option<i64> = on!(self, |c| sqlx::query_scalar(
                "SELECT id FROM messages WHERE message_id = $1"
            )
            .bind(id)
            .fetch_optional(c)
            .await)?;
            if found.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The stored message `id`, as a reply target.
    pub async fn thread_message_by_id(
        &mut self,
        id: MessageId,
    ) -> Result<Option<ThreadMessageRow>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_as::<_, ThreadMessageRow>(sqlx::AssertSqlSafe(format!(
                "{THREAD_MESSAGE_SELECT} WHERE m.id = $1"
            )))
            .bind(id)
            .fetch_optional(c)
            .await
        })?)
    }

    /// The newest stored message (highest id) whose RFC id is one of `ids`, else whose RFC id a
    /// relay rewrote into one of them.
    pub async fn newest_message_by_ids(
        &mut self,
        ids: &[String],
    ) -> Result<Option<ThreadMessageRow>, StoreError> {
        let start = ids.len().saturating_sub(MAX_LOOKUPS);
        let found = self.newest_by_own_ids(&ids[start..]).await?;
        if found.is_some() {
            return Ok(found);
        }
        let ours = self.ids_before_rewriting(&ids[start..]).await?;
        if ours.is_empty() {
            return Ok(None);
        }
        self.newest_by_own_ids(&ours).await
    }

    async fn newest_by_own_ids(
        &mut self,
        ids: &[String],
    ) -> Result<Option<ThreadMessageRow>, StoreError> {
        let mut best: Option<ThreadMessageRow> = None;
        for id in ids {
            let row = on!(self, |c| {
                sqlx::query_as::<_, ThreadMessageRow>(sqlx::AssertSqlSafe(format!(
                    "{THREAD_MESSAGE_SELECT} WHERE m.message_id = $1"
                )))
                .bind(id)
                .fetch_optional(c)
                .await
            })?;
            if let Some(r) = row
                && best.as_ref().is_none_or(|b| r.id > b.id)
            {
                best = Some(r);
            }
        }
        Ok(best)
    }

    /// Our Message-IDs that a relay rewrote into one of `ids` (only their local parts are
    /// compared: the relay's host part varies, `email.amazonses.com`, `eu-west-1.amazonses.com`).
    async fn ids_before_rewriting(&mut self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut ours = Vec::new();
        for id in ids {
            let Some((local, _)) = id.trim_matches(['<', '>']).split_once('@') else {
                continue;
            };
            let found: Option<String> = on!(self, |c| sqlx::query_scalar(
                "SELECT rfc_message_id FROM message_id_aliases WHERE alias = $1"
            )
            .bind(local)
            .fetch_optional(c)
            .await)?;
            ours.extend(found);
        }
        Ok(ours)
    }

    /// Active partners whose normalised e-mail is `email`: (id, is user), by id.
    pub async fn partners_by_email(
        &mut self,
        email: &str,
    ) -> Result<Vec<(PartnerId, bool)>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_as::<_, (PartnerId, bool)>(
            "SELECT id, is_user FROM partners WHERE email_normalized = $1 AND active ORDER BY id LIMIT 64"
        )
        .bind(email)
        .fetch_all(c)
        .await
        })?)
    }

    /// Aliases whose full name is one of `full_names` or, matching on the local part, whose name
    /// is one of `local_parts`.
    pub async fn aliases_for_routing(
        &mut self,
        full_names: &[String],
        local_parts: &[String],
    ) -> Result<Vec<AliasRouteRow>, StoreError> {
        let mut out: Vec<AliasRouteRow> = Vec::new();
        const SELECT: &str = "SELECT a.id, a.alias_name, d.name AS domain, m.name AS model, a.force_thread_id, \
             a.parent_thread_id, a.contact, a.incoming_local, a.refuse_untrusted, a.defaults, a.status \
             FROM aliases a JOIN models m ON m.id = a.model_id LEFT JOIN alias_domains d ON d.id = a.alias_domain_id";
        // One query per recipient: its full name, or (when its local part may be matched alone)
        // an alias with `incoming_local` of that name on any domain.
        let mut covered: Vec<&str> = Vec::new();
        for full in full_names.iter().take(MAX_LOOKUPS) {
            let Some((local, domain)) = full.rsplit_once('@') else {
                continue;
            };
            let by_local = local_parts.iter().any(|l| l == local);
            let rows = if by_local {
                covered.push(local);
                on!(self, |c| sqlx::query_as::<_, AliasRouteRow>(
                    sqlx::AssertSqlSafe(format!(
                        "{SELECT} WHERE a.alias_name = $1 AND (d.name = $2 OR a.incoming_local)"
                    ))
                )
                .bind(local)
                .bind(domain)
                .fetch_all(c)
                .await)?
            } else {
                on!(self, |c| sqlx::query_as::<_, AliasRouteRow>(
                    sqlx::AssertSqlSafe(format!(
                        "{SELECT} WHERE a.alias_name = $1 AND d.name = $2"
                    ))
                )
                .bind(local)
                .bind(domain)
                .fetch_all(c)
                .await)?
            };
            push_new(&mut out, rows);
        }
        for local in local_parts.iter().take(MAX_LOOKUPS) {
            if covered.contains(&local.as_str()) {
                continue;
            }
            let rows = on!(self, |c| sqlx::query_as::<_, AliasRouteRow>(
                sqlx::AssertSqlSafe(format!(
                    "{SELECT} WHERE a.alias_name = $1 AND a.incoming_local"
                ))
            )
            .bind(local)
            .fetch_all(c)
            .await)?;
            push_new(&mut out, rows);
        }
        Ok(out)
    }

    /// Partner ids following a record.
    pub async fn follower_ids(
        &mut self,
        record_id: RecordId,
    ) -> Result<Vec<PartnerId>, StoreError> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "SELECT partner_id FROM followers WHERE record_id = $1 ORDER BY partner_id"
        )
        .bind(record_id)
        .fetch_all(c)
        .await)?)
    }

    /// True when the record exists.
    pub async fn record_exists(&mut self, record_id: RecordId) -> Result<bool, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM records WHERE id = $1"
        )
        .bind(record_id)
        .fetch_optional(c)
        .await)?;
        Ok(id.is_some())
    }

    /// Creates a record; returns its id.
    pub async fn insert_record(&mut self, r: &NewRecordRow<'_>) -> Result<RecordId, StoreError> {
        // The model usually exists: insert in one statement, declaring it first only when not.
        for attempt in 0..2 {
            let id: Option<RecordId> = on!(self, |c| {
                sqlx::query_scalar(
                    "INSERT INTO records (model_id, name, email_from, email_normalized, email_cc, company_id, alias_id, \
                     values_json, created_at) SELECT id, $2, $3, $4, $5, $6, $7, $8, $9 FROM models WHERE name = $1 \
                     RETURNING id",
                )
                .bind(r.model)
                .bind(r.name)
                .bind(r.email_from)
                .bind(r.email_normalized)
                .bind(r.email_cc)
                .bind(r.company_id)
                .bind(r.alias_id)
                .bind(r.values_json)
                .bind(now_ms())
                .fetch_optional(c)
                .await
            })?;
            match id {
                Some(id) => {
                    self.emit("record.created", Some(id), None).await?;
                    return Ok(id);
                }
                None if attempt == 0 => {
                    self.ensure_model("model", r.model).await?;
                }
                None => break,
            }
        }
        Err(StoreError::not_found("model", r.model))
    }

    /// The `email_cc` of a record.
    pub async fn record_email_cc(
        &mut self,
        record_id: RecordId,
    ) -> Result<Option<String>, StoreError> {
        let v: Option<Option<String>> = on!(self, |c| sqlx::query_scalar(
            "SELECT email_cc FROM records WHERE id = $1"
        )
        .bind(record_id)
        .fetch_optional(c)
        .await)?;
        Ok(v.flatten())
    }

    /// Replaces the `email_cc` of a record.
    pub async fn set_record_email_cc(
        &mut self,
        record_id: RecordId,
        cc: &str,
    ) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(
            "UPDATE records SET email_cc = $1 WHERE id = $2"
        )
        .bind(cc)
        .bind(record_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The first message of a record (the root of its flat thread).
    pub async fn thread_root(
        &mut self,
        record_id: RecordId,
    ) -> Result<Option<MessageId>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_scalar(
            "SELECT id FROM messages WHERE record_id = $1 AND message_type <> 'user_notification' ORDER BY id LIMIT 1"
        )
        .bind(record_id)
        .fetch_optional(c)
        .await
        })?)
    }

    /// Stores a message of a thread; returns its id. A Message-ID already stored is a
    /// `Conflict` (the unique index decides between concurrent writers).
    pub async fn insert_message(&mut self, m: &NewMessage<'_>) -> Result<MessageId, StoreError> {
        let id = on!(self, |c| sqlx::query_scalar(
            "INSERT INTO messages (message_id, record_id, parent_id, subtype, message_type, author_partner_id, email_from, \
             subject, body_html, date, incoming_email_to, incoming_email_cc, raw_message_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id"
        )
        .bind(m.message_id)
        .bind(m.record_id)
        .bind(m.parent_id)
        .bind(m.subtype)
        .bind(m.message_type.as_str())
        .bind(m.author_partner_id)
        .bind(m.email_from)
        .bind(m.subject)
        .bind(m.body_html)
        .bind(m.date)
        .bind(m.incoming_email_to)
        .bind(m.incoming_email_cc)
        .bind(m.raw_message_id)
        .bind(now_ms())
        .fetch_one(c)
        .await)
        .map_err(|e| StoreError::from_write(e, "message"))?;
        if m.message_type != MessageType::UserNotification {
            let event = match m.raw_message_id {
                Some(_) => "message.received",
                None => "message.posted",
            };
            self.emit(event, Some(id), None).await?;
        }
        Ok(MessageId(id))
    }

    /// Replaces the body of a message (its inline images pointed at their stored attachments).
    pub async fn set_message_body(
        &mut self,
        id: MessageId,
        body_html: &str,
    ) -> Result<(), StoreError> {
        on!(self, |c| {
            sqlx::query("UPDATE messages SET body_html = $1 WHERE id = $2")
                .bind(body_html)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Stores an attachment of a message; returns its id.
    pub async fn insert_attachment(
        &mut self,
        message_id: MessageId,
        record_id: Option<RecordId>,
        filename: &str,
        mimetype: &str,
        content_id: Option<&str>,
        content: &[u8],
    ) -> Result<AttachmentId, StoreError> {
        let (head, rest) = split_head(content);
        let id = on!(self, |c| {
            sqlx::query_scalar(
            "INSERT INTO attachments (message_id, record_id, filename, mimetype, content_id, size, content, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
        )
        .bind(message_id)
        .bind(record_id)
        .bind(filename)
        .bind(mimetype)
        .bind(content_id)
        .bind(content.len() as i64)
        .bind(head)
        .bind(now_ms())
        .fetch_one(c)
        .await
        })?;
        self.insert_chunks(Owner::Attachment, id, rest).await?;
        Ok(AttachmentId(id))
    }

    /// Links recognised recipient partners to a message (`partner_ids`).
    pub async fn add_message_partners(
        &mut self,
        message_id: MessageId,
        partners: &[PartnerId],
    ) -> Result<(), StoreError> {
        for p in partners {
            on!(self, |c| {
                sqlx::query(
                "INSERT INTO message_partners (message_id, partner_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            )
            .bind(message_id)
            .bind(p)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Subscribes a partner to a record (no change when already following).
    pub async fn add_follower(
        &mut self,
        record_id: RecordId,
        partner_id: PartnerId,
        subtypes: &[String],
    ) -> Result<bool, StoreError> {
        let subtypes = serde_json::to_string(subtypes).unwrap_or_else(|_| "[]".into());
        let n = on!(self, |c| {
            sqlx::query(
            "INSERT INTO followers (record_id, partner_id, subtypes) VALUES ($1, $2, $3) ON CONFLICT (record_id, partner_id) DO NOTHING"
        )
        .bind(record_id)
        .bind(partner_id)
        .bind(subtypes)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Followers of a record with what notification needs: (partner id, subtypes JSON, name,
    /// email, is user, notification preference, active).
    pub async fn followers_for_notification(
        &mut self,
        record_id: RecordId,
    ) -> Result<Vec<FollowerRow>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_as::<_, FollowerRow>(
            "SELECT f.partner_id, f.subtypes, p.name, p.email, p.email_normalized, p.is_user, p.notification, p.active \
             FROM followers f JOIN partners p ON p.id = f.partner_id WHERE f.record_id = $1 ORDER BY f.partner_id"
        )
        .bind(record_id)
        .fetch_all(c)
        .await
        })?)
    }

    /// One partner as notification needs it.
    pub async fn partner_for_notification(
        &mut self,
        partner_id: PartnerId,
    ) -> Result<Option<FollowerRow>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_as::<_, FollowerRow>(
            "SELECT p.id AS partner_id, '[\"comment\",\"note\"]' AS subtypes, p.name, p.email, p.email_normalized, p.is_user, \
             p.notification, p.active FROM partners p WHERE p.id = $1"
        )
        .bind(partner_id)
        .fetch_optional(c)
        .await
        })?)
    }

    /// Creates a notification; returns its id.
    pub async fn insert_notification(
        &mut self,
        n: &NewNotification,
    ) -> Result<NotificationId, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_scalar(
            "INSERT INTO notifications (message_id, partner_id, notification_type, status, mail_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
        )
        .bind(n.message_id)
        .bind(n.partner_id)
        .bind(n.notification_type.as_str())
        .bind(n.status.as_str())
        .bind(n.mail_id)
        .bind(now_ms())
        .fetch_one(c)
        .await
        })?)
    }

    /// Queues a mail for `cause` (which decides its stream, Return-Path and automatic
    /// headers); returns its id. Every mail of the gateway and the API is queued here.
    pub async fn enqueue(
        &mut self,
        cause: &MailCause,
        content: MailContent,
    ) -> Result<MailId, StoreError> {
        self.insert_mail(&cause.row(content)).await
    }

    /// Puts a mail in the outbox as given; returns its id (the row of [`Tx::enqueue`], and
    /// tests that need a row of their own).
    pub async fn insert_mail(&mut self, m: &NewMail) -> Result<MailId, StoreError> {
        let now = now_ms();
        Ok(on!(self, |c| {
            sqlx::query_scalar(
            "INSERT INTO mails (state, stream, kind, message_id, record_id, rfc_message_id, email_from, email_to, email_cc, \
             reply_to, return_path, subject, body_html, body_text, headers, scheduled_date, next_try_at, created_at) \
             VALUES ('outgoing', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id"
        )
        .bind(m.stream.as_str())
        .bind(&m.kind)
        .bind(m.message_id)
        .bind(m.record_id)
        .bind(&m.rfc_message_id)
        .bind(&m.email_from)
        .bind(serde_json::to_string(&m.email_to).unwrap_or_default())
        .bind(serde_json::to_string(&m.email_cc).unwrap_or_default())
        .bind(&m.reply_to)
        .bind(&m.return_path)
        .bind(&m.subject)
        .bind(&m.body_html)
        .bind(&m.body_text)
        .bind(m.headers.to_string())
        .bind(m.scheduled_date)
        .bind(m.scheduled_date.unwrap_or(now))
        .bind(now)
        .fetch_one(c)
        .await
        })?)
    }

    /// Records of `model` with `email_normalized` created since `since` (loop rule, §6.3),
    /// counted up to `cap` (the rule only needs to know whether the threshold is reached).
    pub async fn count_records_from(
        &mut self,
        model: &str,
        email_normalized: &str,
        since: i64,
        cap: i64,
    ) -> Result<i64, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM records r JOIN models m ON m.id = r.model_id \
             WHERE m.name = $1 AND r.email_normalized = $2 AND r.created_at >= $3 LIMIT $4) AS capped"
        )
        .bind(model)
        .bind(email_normalized)
        .bind(since)
        .bind(cap)
        .fetch_one(c)
        .await
        })?)
    }

    /// Messages on a record by an author (or, without author, with that From) since `since`,
    /// counted up to `cap`.
    pub async fn count_messages_by(
        &mut self,
        record_id: RecordId,
        author: Option<PartnerId>,
        email_from: &[String],
        since: i64,
        cap: i64,
    ) -> Result<i64, StoreError> {
        match author {
            Some(a) => Ok(on!(self, |c| {
                sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE record_id = $1 AND author_partner_id = $2 \
                 AND created_at >= $3 LIMIT $4) AS capped"
            )
            .bind(record_id)
            .bind(a)
            .bind(since)
            .bind(cap)
            .fetch_one(c)
            .await
            })?),
            None => {
                let mut n = 0;
                for e in email_from.iter().take(2) {
                    let k: i64 = on!(self, |c| {
                        sqlx::query_scalar(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE record_id = $1 AND email_from = $2 \
                         AND created_at >= $3 LIMIT $4) AS capped"
                    )
                    .bind(record_id)
                    .bind(e)
                    .bind(since)
                    .bind(cap)
                    .fetch_one(c)
                    .await
                    })?;
                    n += k;
                }
                Ok(n)
            }
        }
    }

    /// Every address of the gateway's allowed list (no rate limit for them), normalised.
    pub async fn gateway_allowed_list(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "SELECT email_normalized FROM gateway_allowed ORDER BY id"
        )
        .fetch_all(c)
        .await)?)
    }

    /// Adds an address to the gateway's allowed list (`mail.gateway.allowed`: never rate-limited).
    pub async fn upsert_gateway_allowed(
        &mut self,
        email: &str,
    ) -> Result<crate::Change, StoreError> {
        let Some(norm) = postern_model::address::email_normalize(email) else {
            return Err(StoreError::invalid(
                "email",
                format!("`{email}` is not a single e-mail address"),
            ));
        };
        let n = on!(self, |c| {
            sqlx::query(
            "INSERT INTO gateway_allowed (email, email_normalized) VALUES ($1, $2) ON CONFLICT (email_normalized) DO NOTHING"
        )
        .bind(email.trim())
        .bind(&norm)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(if n > 0 {
            crate::Change::Created
        } else {
            crate::Change::Unchanged
        })
    }

    /// True when the address is in the gateway's allowed list (no rate limit).
    pub async fn gateway_allowed(&mut self, email_normalized: &str) -> Result<bool, StoreError> {
        let id: Option<i64> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM gateway_allowed WHERE email_normalized = $1"
        )
        .bind(email_normalized)
        .fetch_optional(c)
        .await)?;
        Ok(id.is_some())
    }

    /// Bounce counting (§7 1b): +1 on partners and records with this e-mail; returns the partner ids.
    pub async fn count_bounce(
        &mut self,
        email_normalized: &str,
    ) -> Result<Vec<PartnerId>, StoreError> {
        let partners: Vec<PartnerId> = on!(self, |c| {
            sqlx::query_scalar(
            "UPDATE partners SET message_bounce = message_bounce + 1 WHERE email_normalized = $1 RETURNING id"
        )
        .bind(email_normalized)
        .fetch_all(c)
        .await
        })?;
        on!(self, |c| sqlx::query(
            "UPDATE records SET message_bounce = message_bounce + 1 WHERE email_normalized = $1"
        )
        .bind(email_normalized)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(partners)
    }

    /// Bounce counting on the bounced message's record when not counted by address (§7 1c).
    pub async fn count_bounce_on_record(&mut self, record_id: RecordId) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(
            "UPDATE records SET message_bounce = message_bounce + 1 WHERE id = $1"
        )
        .bind(record_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Partners notified of a message.
    pub async fn notified_partners(
        &mut self,
        message_id: MessageId,
    ) -> Result<Vec<(PartnerId, Option<String>)>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_as::<_, (PartnerId, Option<String>)>(
            "SELECT n.partner_id, p.email FROM notifications n JOIN partners p ON p.id = n.partner_id WHERE n.message_id = $1"
        )
        .bind(message_id)
        .fetch_all(c)
        .await
        })?)
    }

    /// Marks the notifications of `message_id` for `partners` bounced (the red envelope, §7 1d).
    pub async fn bounce_notifications(
        &mut self,
        message_id: MessageId,
        partners: &[PartnerId],
        cause: &BounceCause,
    ) -> Result<(), StoreError> {
        for p in partners {
            on!(self, |c| {
                sqlx::query(
                "UPDATE notifications SET status = 'bounce', failure_type = 'mail_bounce', failure_reason = $1, \
                 bounce_reason = $4, bounce_hard = $5 WHERE message_id = $2 AND partner_id = $3"
            )
            .bind(&cause.diagnostic)
            .bind(message_id)
            .bind(p)
            .bind(&cause.reason)
            .bind(cause.hard)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
            })?;
            let data = serde_json::json!({"partner_id": p, "failure_type": "mail_bounce",
                "failure_reason": cause.diagnostic, "bounce_reason": cause.reason, "bounce_hard": cause.hard});
            self.emit("notification.bounced", Some(message_id), Some(data))
                .await?;
        }
        Ok(())
    }

    /// The RFC Message-ID of a stored message.
    pub async fn message_rfc_id(&mut self, id: MessageId) -> Result<Option<String>, StoreError> {
        Ok(on!(self, |c| sqlx::query_scalar(
            "SELECT message_id FROM messages WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?)
    }

    /// The normalised e-mail of a record.
    pub async fn record_email_normalized(
        &mut self,
        id: RecordId,
    ) -> Result<Option<String>, StoreError> {
        let v: Option<Option<String>> = on!(self, |c| sqlx::query_scalar(
            "SELECT email_normalized FROM records WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?;
        Ok(v.flatten())
    }

    /// The text an alias sends to refused senders.
    pub async fn alias_bounced_content(
        &mut self,
        id: AliasId,
    ) -> Result<Option<String>, StoreError> {
        let v: Option<Option<String>> = on!(self, |c| sqlx::query_scalar(
            "SELECT bounced_content FROM aliases WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?;
        Ok(v.flatten())
    }

    /// Resets the bounce counters of an address that wrote normally (§4.1).
    pub async fn reset_bounce(&mut self, email_normalized: &str) -> Result<(), StoreError> {
        on!(self, |c| {
            sqlx::query("UPDATE partners SET message_bounce = 0 WHERE email_normalized = $1 AND message_bounce > 0")
            .bind(email_normalized)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}

fn push_new(out: &mut Vec<AliasRouteRow>, rows: Vec<AliasRouteRow>) {
    for r in rows {
        if !out.iter().any(|o| o.id == r.id) {
            out.push(r);
        }
    }
}

/// A follower (or explicit recipient) as notification needs it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FollowerRow {
    /// Partner id.
    pub partner_id: PartnerId,
    /// Subscribed subtypes (JSON list).
    pub subtypes: String,
    /// Name.
    pub name: String,
    /// E-mail as given.
    pub email: Option<String>,
    /// Normalised e-mail.
    pub email_normalized: Option<String>,
    /// Internal user.
    pub is_user: bool,
    /// `email` / `inbox`.
    pub notification: String,
    /// Active.
    pub active: bool,
}

impl Tx {
    /// Benchmarks and scale tests only: adds `n` messages `<seed-{record}-{i}@bench.invalid>` to a
    /// record in one statement.
    pub async fn seed_messages_for_bench(
        &mut self,
        record_id: RecordId,
        n: i64,
    ) -> Result<u64, StoreError> {
        let now = now_ms();
        let sql = match self.inner {
            crate::TxInner::Postgres(_) => {
                "INSERT INTO messages (message_id, record_id, subtype, message_type, body_html, date, created_at) \
                 SELECT '<seed-' || $2 || '-' || x || '@bench.invalid>', $2, 'comment', 'email', '', $3, $3 FROM generate_series(1, $1) AS x"
            }
            crate::TxInner::Sqlite(_) | crate::TxInner::Direct(_) => {
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1) \
                 INSERT INTO messages (message_id, record_id, subtype, message_type, body_html, date, created_at) \
                 SELECT '<seed-' || $2 || '-' || x || '@bench.invalid>', $2, 'comment', 'email', '', $3, $3 FROM c"
            }
        };
        let affected = on!(self, |c| sqlx::query(sql)
            .bind(n)
            .bind(record_id)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(affected)
    }
}
