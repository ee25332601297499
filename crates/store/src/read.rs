//! The read side of records, threads, notifications, followers, attachments and the outbox, as
//! the API shows them (field names of the contract in DESIGN.md).

use crate::chunks::Owner;
use crate::{Json, Page, PageRequest, StoreError, Tx, on};
use postern_model::{
    AttachmentId, CompanyId, MailId, MailStream, MessageId, MessageType, NotificationStatus,
    NotificationType, OutgoingServerId, PartnerId, RawMessageId, RecordId,
};
use serde::Serialize;

/// A record of some model.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Record {
    /// Id.
    pub id: RecordId,
    /// Model name.
    pub model: String,
    /// Name (from the Subject of the mail that created it).
    pub name: String,
    /// From of that mail.
    pub email_from: Option<String>,
    /// Cc collected from the mails posted on it.
    pub email_cc: Option<String>,
    /// Company.
    pub company_id: Option<CompanyId>,
    /// Values (from alias defaults).
    #[sqlx(try_from = "String", rename = "values_json")]
    pub values: Json,
    /// Bounces received for its address.
    pub message_bounce: i64,
    /// Creation time (epoch ms).
    pub created_at: i64,
}

/// What `POST /api/v1/records` takes.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    /// Model (created when new, like an alias's).
    pub model: String,
    /// Name.
    pub name: String,
    /// The customer's address (how the rate limit and bounces find the record).
    #[serde(default)]
    pub email_from: Option<String>,
    /// Cc kept on the record.
    #[serde(default)]
    pub email_cc: Option<String>,
    /// Company (the gateway's own when absent).
    #[serde(default)]
    pub company_id: Option<CompanyId>,
    /// Values (a JSON object), as an alias's defaults give them.
    #[serde(default)]
    pub values: Option<serde_json::Value>,
    /// Partners who follow the record from the start (comments and notes).
    #[serde(default)]
    pub follower_partner_ids: Vec<PartnerId>,
}

/// A field that ends up in a header holds no line break (a CR or LF would add a header): the one
/// check of the store's one-line fields (records, and the configuration's names and addresses).
pub(crate) fn no_line_break(field: &str, value: &str) -> Result<(), StoreError> {
    match value.contains(['\r', '\n']) {
        true => Err(StoreError::invalid(
            field,
            "must not contain a line break (CR or LF)",
        )),
        false => Ok(()),
    }
}

/// A reference to something that does not exist is an invalid field, not a missing route.
fn as_invalid(e: StoreError, field: &str, id: impl std::fmt::Display) -> StoreError {
    match e {
        StoreError::NotFound { what, .. } => StoreError::invalid(field, format!("no {what} {id}")),
        e => e,
    }
}

/// Filters of the record list.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    /// Model name.
    pub model: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Normalised sender address.
    pub email_from: Option<String>,
}

/// An attachment, without its content.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AttachmentInfo {
    /// Id.
    pub id: AttachmentId,
    /// Message.
    #[serde(skip)]
    pub message_id: Option<MessageId>,
    /// File name.
    pub filename: String,
    /// MIME type.
    pub mimetype: String,
    /// Size in bytes.
    pub size: i64,
    /// `Content-ID` for inline images.
    pub content_id: Option<String>,
}

/// One notification of a message.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Notification {
    /// Message.
    #[serde(skip)]
    pub message_id: MessageId,
    /// Partner.
    pub partner_id: PartnerId,
    /// `email` or `inbox`.
    #[sqlx(try_from = "String")]
    pub notification_type: NotificationType,
    /// `ready`, `sent`, `bounce`, `exception`, `canceled`.
    #[sqlx(try_from = "String")]
    pub status: NotificationStatus,
    /// Why it failed.
    pub failure_type: Option<String>,
    /// Details.
    pub failure_reason: Option<String>,
    /// The outbox mail that carries it.
    pub mail_id: Option<MailId>,
    /// For a bounce: its reason, in the vocabulary of `postern bounce parse` (`userunknown`...).
    pub bounce_reason: Option<String>,
    /// For a bounce: whether it is hard (sending again cannot succeed).
    pub bounce_hard: Option<bool>,
}

/// A message of a thread.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// RFC Message-ID.
    pub message_id: String,
    /// Parent (the thread's first message, threads are flat).
    pub parent_id: Option<MessageId>,
    /// Record.
    pub record_id: Option<RecordId>,
    /// Subject.
    pub subject: Option<String>,
    /// Body (HTML).
    pub body_html: String,
    /// From as received.
    pub email_from: Option<String>,
    /// Author.
    pub author_partner_id: Option<PartnerId>,
    /// `comment` / `note`.
    pub subtype: Option<String>,
    /// `email`, `comment`, ...
    #[sqlx(try_from = "String")]
    pub message_type: MessageType,
    /// Date (epoch ms).
    pub date: i64,
    /// To as received (aliases removed).
    pub incoming_email_to: Option<String>,
    /// Cc as received.
    pub incoming_email_cc: Option<String>,
    /// Recognised recipient partners.
    #[sqlx(skip)]
    pub partner_ids: Vec<PartnerId>,
    /// Attachments.
    #[sqlx(skip)]
    pub attachments: Vec<AttachmentInfo>,
    /// Notifications (on `GET /messages/{id}`, in a record's thread and in failures).
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Vec<Notification>>,
}

/// A follower of a record.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Follower {
    /// Partner.
    pub partner_id: PartnerId,
    /// Partner name.
    pub name: String,
    /// Partner e-mail.
    pub email: Option<String>,
    /// Subtypes (JSON list).
    #[sqlx(try_from = "String")]
    pub subtypes: Json,
}

/// A mail of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Mail {
    /// Id.
    pub id: MailId,
    /// `outgoing`, `sent`, `exception`, `cancel`.
    #[sqlx(try_from = "String")]
    pub state: postern_model::MailState,
    /// Why it exists (`notification`, `catchall_bounce`, ...).
    pub kind: Option<String>,
    /// `transactional` / `mass`.
    #[sqlx(try_from = "String")]
    pub stream: MailStream,
    /// From.
    #[sqlx(rename = "email_from")]
    pub from: String,
    /// To (JSON list).
    #[sqlx(try_from = "String", rename = "email_to")]
    pub to: Json,
    /// Cc (JSON list).
    #[sqlx(try_from = "String", rename = "email_cc")]
    pub cc: Json,
    /// Reply-To.
    pub reply_to: Option<String>,
    /// Envelope sender.
    pub return_path: Option<String>,
    /// Subject.
    pub subject: String,
    /// RFC Message-ID.
    #[sqlx(rename = "rfc_message_id")]
    pub message_id: String,
    /// The thread message it notifies.
    #[sqlx(rename = "message_id")]
    pub thread_message_id: Option<MessageId>,
    /// Record.
    pub record_id: Option<RecordId>,
    /// Outgoing server used.
    #[sqlx(rename = "server_id")]
    pub server: Option<OutgoingServerId>,
    /// Failure kind.
    pub failure_type: Option<String>,
    /// Failure details.
    pub failure_reason: Option<String>,
    /// Not before (epoch ms).
    pub scheduled_date: Option<i64>,
    /// Extra headers (JSON object).
    #[sqlx(try_from = "String")]
    pub headers: Json,
    /// HTML body.
    pub body_html: Option<String>,
    /// Creation time (epoch ms).
    pub created_at: i64,
    /// When the delivery runner tries it next, while `outgoing` (epoch ms).
    pub next_try_at: i64,
    /// Tries so far.
    pub attempts: i64,
    /// Why it waits, while `outgoing` and held back (a send limit of its server), until
    /// `next_try_at`; `None` otherwise.
    pub waiting_reason: Option<String>,
}

pub(crate) const RECORD_SELECT: &str = "SELECT r.id, m.name AS model, r.name, r.email_from, r.email_cc, r.company_id, r.values_json, \
     r.message_bounce, r.created_at FROM records r JOIN models m ON m.id = r.model_id";
pub(crate) const MESSAGE_SELECT: &str = "SELECT id, message_id, parent_id, record_id, subject, body_html, email_from, author_partner_id, \
     subtype, message_type, date, incoming_email_to, incoming_email_cc FROM messages";
const MAIL_SELECT: &str = "SELECT id, state, kind, stream, email_from, email_to, email_cc, reply_to, return_path, subject, \
     rfc_message_id, message_id, record_id, server_id, failure_type, failure_reason, scheduled_date, headers, body_html, \
     created_at, next_try_at, attempts, waiting_reason FROM mails";

impl Tx {
    /// Records matching `filter`, by id.
    pub async fn list_records(
        &mut self,
        filter: &RecordFilter,
        page: PageRequest,
    ) -> Result<Page<Record>, StoreError> {
        let rows = on!(self, |c| {
            sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(format!(
            "{RECORD_SELECT} WHERE r.id > $1 AND ($2 IS NULL OR m.name = $2) AND ($3 IS NULL OR r.name = $3) \
             AND ($4 IS NULL OR r.email_normalized = $4) ORDER BY r.id LIMIT $5"
        )))
        .bind(page.after)
        .bind(&filter.model)
        .bind(&filter.name)
        .bind(&filter.email_from)
        .bind(page.limit)
        .fetch_all(c)
        .await
        })?;
        Ok(page.page(rows, |r| r.id))
    }

    /// One record.
    pub async fn get_record(&mut self, id: RecordId) -> Result<Record, StoreError> {
        on!(self, |c| sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(
            format!("{RECORD_SELECT} WHERE r.id = $1")
        ))
        .bind(id)
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("record", id))
    }

    /// Creates a record from the API (`POST /api/v1/records`): an application opens the ticket
    /// or lead it owns, then mails from it; its mail threads like that of a record an alias
    /// created. Checked before anything is written: the model's name, a name and addresses
    /// without line breaks (they end up in headers), an `email_from` holding an address, an
    /// existing company and existing follower partners. Returns the record's id.
    pub async fn create_record(&mut self, input: &NewRecord) -> Result<RecordId, StoreError> {
        let name = input.name.trim();
        no_line_break("name", name)?;
        let email_from = input
            .email_from
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let email_normalized = match email_from {
            Some(e) => {
                no_line_break("email_from", e)?;
                Some(
                    postern_model::address::email_normalize_first(e).ok_or_else(|| {
                        StoreError::invalid("email_from", format!("`{e}` holds no e-mail address"))
                    })?,
                )
            }
            None => None,
        };
        let email_cc = input
            .email_cc
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        if let Some(cc) = email_cc {
            no_line_break("email_cc", cc)?;
        }
        if let Some(company) = input.company_id {
            self.get::<crate::Company>(company)
                .await
                .map_err(|e| as_invalid(e, "company_id", company))?;
        }
        for (i, p) in input.follower_partner_ids.iter().enumerate() {
            self.get::<crate::Partner>(*p)
                .await
                .map_err(|e| as_invalid(e, &format!("follower_partner_ids[{i}]"), *p))?;
        }
        let values = match &input.values {
            None => "{}".to_owned(),
            Some(v @ serde_json::Value::Object(_)) => v.to_string(),
            Some(_) => return Err(StoreError::invalid("values", "must be a JSON object")),
        };
        self.ensure_model("model", &input.model).await?;
        let id = self
            .insert_record(&crate::NewRecordRow {
                model: input.model.trim(),
                name,
                email_from,
                email_normalized: email_normalized.as_deref(),
                email_cc,
                company_id: input.company_id,
                alias_id: None,
                values_json: &values,
            })
            .await?;
        let subtypes: Vec<String> = postern_model::DEFAULT_SUBTYPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for p in &input.follower_partner_ids {
            self.add_follower(id, *p, &subtypes).await?;
        }
        Ok(id)
    }

    /// Changes a record's name and values (`PATCH /api/v1/records/{id}`): the keys of `values`
    /// are merged into the record's (a key set to `null` is removed).
    pub async fn update_record(
        &mut self,
        id: RecordId,
        name: Option<&str>,
        values: Option<&serde_json::Value>,
    ) -> Result<Record, StoreError> {
        let current = self.get_record(id).await?;
        let name = match name {
            Some(n) => {
                no_line_break("name", n.trim())?;
                n.trim().to_owned()
            }
            None => current.name.clone(),
        };
        let mut merged = match &current.values.0 {
            serde_json::Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        match values {
            None => {}
            Some(serde_json::Value::Object(changes)) => {
                for (k, v) in changes {
                    match v {
                        serde_json::Value::Null => merged.remove(k),
                        v => merged.insert(k.clone(), v.clone()),
                    };
                }
            }
            Some(_) => return Err(StoreError::invalid("values", "must be a JSON object")),
        }
        let values = serde_json::Value::Object(merged).to_string();
        on!(self, |c| {
            sqlx::query("UPDATE records SET name = $1, values_json = $2 WHERE id = $3")
                .bind(&name)
                .bind(&values)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        self.get_record(id).await
    }

    /// The thread of a record, oldest first, each message with its notifications.
    pub async fn record_messages(
        &mut self,
        record_id: RecordId,
        page: PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        self.get_record(record_id).await?;
        let ids: Vec<MessageId> = on!(self, |c| sqlx::query_scalar(
            "SELECT id FROM messages WHERE record_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        )
        .bind(record_id)
        .bind(page.after)
        .bind(page.limit)
        .fetch_all(c)
        .await)?;
        // A page's messages with their partners, attachments and notifications, a statement
        // each for the whole page.
        let mut found = self.messages_by_ids(&ids).await?;
        let rows = ids.iter().filter_map(|id| found.remove(id)).collect();
        Ok(page.page(rows, |m| m.id))
    }

    async fn fill_message(&mut self, m: &mut Message) -> Result<(), StoreError> {
        m.partner_ids = on!(self, |c| sqlx::query_scalar(
            "SELECT partner_id FROM message_partners WHERE message_id = $1 ORDER BY partner_id"
        )
        .bind(m.id)
        .fetch_all(c)
        .await)?;
        m.attachments = on!(self, |c| {
            sqlx::query_as::<_, AttachmentInfo>(
            "SELECT id, message_id, filename, mimetype, size, content_id FROM attachments WHERE message_id = $1 ORDER BY id"
        )
        .bind(m.id)
        .fetch_all(c)
        .await
        })?;
        Ok(())
    }

    async fn notifications_of(
        &mut self,
        message_id: MessageId,
    ) -> Result<Vec<Notification>, StoreError> {
        Ok(on!(self, |c| {
            sqlx::query_as::<_, Notification>(
            "SELECT message_id, partner_id, notification_type, status, failure_type, failure_reason, mail_id, \
             bounce_reason, bounce_hard FROM notifications WHERE message_id = $1 ORDER BY partner_id"
        )
        .bind(message_id)
        .fetch_all(c)
        .await
        })?)
    }

    /// One message, with its notifications.
    pub async fn get_message(&mut self, id: MessageId) -> Result<Message, StoreError> {
        let mut m = on!(self, |c| sqlx::query_as::<_, Message>(sqlx::AssertSqlSafe(
            format!("{MESSAGE_SELECT} WHERE id = $1")
        ))
        .bind(id)
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("message", id))?;
        self.fill_message(&mut m).await?;
        m.notifications = Some(self.notifications_of(id).await?);
        Ok(m)
    }

    /// How many messages have a notification in `bounce` or `exception`, counted up to `max`
    /// (the navbar's red-envelope count).
    pub async fn failure_count(&mut self, max: i64) -> Result<i64, StoreError> {
        Ok(on!(self, |c| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM (SELECT DISTINCT message_id FROM notifications \
             WHERE status IN ('bounce', 'exception') LIMIT $1) AS failed"
        )
        .bind(max)
        .fetch_one(c)
        .await)?)
    }

    /// Messages with a notification in `bounce` or `exception` (the red envelopes), newest first.
    pub async fn failures(&mut self, page: PageRequest) -> Result<Page<Message>, StoreError> {
        let before = if page.after == 0 {
            i64::MAX
        } else {
            page.after
        };
        let ids: Vec<MessageId> = on!(self, |c| {
            sqlx::query_scalar(
            "SELECT DISTINCT message_id FROM notifications WHERE status IN ('bounce', 'exception') AND message_id < $1 \
             ORDER BY message_id DESC LIMIT $2"
        )
        .bind(before)
        .bind(page.limit)
        .fetch_all(c)
        .await
        })?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.get_message(id).await?);
        }
        Ok(page.page(out, |m| m.id))
    }

    /// Followers of a record.
    pub async fn list_followers(
        &mut self,
        record_id: RecordId,
    ) -> Result<Vec<Follower>, StoreError> {
        self.get_record(record_id).await?;
        Ok(on!(self, |c| {
            sqlx::query_as::<_, Follower>(
            "SELECT f.partner_id, p.name, p.email, f.subtypes FROM followers f JOIN partners p ON p.id = f.partner_id \
             WHERE f.record_id = $1 ORDER BY f.partner_id"
        )
        .bind(record_id)
        .fetch_all(c)
        .await
        })?)
    }

    /// Subscribes (or re-subscribes with other subtypes) a partner to a record.
    pub async fn set_follower(
        &mut self,
        record_id: RecordId,
        partner_id: PartnerId,
        subtypes: &[String],
    ) -> Result<(), StoreError> {
        self.get_record(record_id).await?;
        self.get::<crate::Partner>(partner_id).await?;
        for (i, s) in subtypes.iter().enumerate() {
            if !postern_model::KNOWN_SUBTYPES.contains(&s.as_str()) {
                return Err(StoreError::invalid(
                    format!("subtypes[{i}]"),
                    format!(
                        "unknown subtype `{s}`, expected one of: {}",
                        postern_model::KNOWN_SUBTYPES.join(", ")
                    ),
                ));
            }
        }
        let json = serde_json::to_string(subtypes).unwrap_or_else(|_| "[]".into());
        on!(self, |c| sqlx::query(
            "INSERT INTO followers (record_id, partner_id, subtypes) VALUES ($1, $2, $3) \
             ON CONFLICT (record_id, partner_id) DO UPDATE SET subtypes = excluded.subtypes"
        )
        .bind(record_id)
        .bind(partner_id)
        .bind(json)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Unsubscribes a partner; `NotFound` when not following.
    pub async fn remove_follower(
        &mut self,
        record_id: RecordId,
        partner_id: PartnerId,
    ) -> Result<(), StoreError> {
        let n = on!(self, |c| sqlx::query(
            "DELETE FROM followers WHERE record_id = $1 AND partner_id = $2"
        )
        .bind(record_id)
        .bind(partner_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::not_found(
                "follower",
                format!("{partner_id} of record {record_id}"),
            ));
        }
        Ok(())
    }

    /// An attachment's metadata and content.
    pub async fn attachment_content(
        &mut self,
        id: AttachmentId,
    ) -> Result<(AttachmentInfo, Vec<u8>), StoreError> {
        let info = on!(self, |c| sqlx::query_as::<_, AttachmentInfo>(
            "SELECT id, message_id, filename, mimetype, size, content_id FROM attachments WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("attachment", id))?;
        let head: Vec<u8> = on!(self, |c| sqlx::query_scalar(
            "SELECT content FROM attachments WHERE id = $1"
        )
        .bind(id)
        .fetch_one(c)
        .await)?;
        let mut content = with_capacity_for(head, info.size);
        self.append_chunks(Owner::Attachment, id.get(), &mut content)
            .await?;
        Ok((info, content))
    }

    /// Mails of the outbox, by id, optionally in one state.
    pub async fn list_mails(
        &mut self,
        state: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<Mail>, StoreError> {
        let rows = on!(self, |c| {
            sqlx::query_as::<_, Mail>(sqlx::AssertSqlSafe(format!(
                "{MAIL_SELECT} WHERE id > $1 AND ($2 IS NULL OR state = $2) ORDER BY id LIMIT $3"
            )))
            .bind(page.after)
            .bind(state)
            .bind(page.limit)
            .fetch_all(c)
            .await
        })?;
        Ok(page.page(rows, |m| m.id))
    }

    /// One mail of the outbox.
    pub async fn get_mail(&mut self, id: MailId) -> Result<Mail, StoreError> {
        on!(self, |c| sqlx::query_as::<_, Mail>(sqlx::AssertSqlSafe(
            format!("{MAIL_SELECT} WHERE id = $1")
        ))
        .bind(id)
        .fetch_optional(c)
        .await)?
        .ok_or_else(|| StoreError::not_found("mail", id))
    }

    /// Raw inbound messages, newest first, optionally in one status (`failed` lists the
    /// messages that could not be parsed or applied: kept, with their error). `unclaimed` is
    /// not a status but the mail to the bounce or catchall address that was neither a reply nor
    /// a bounce of ours (a bounce pinned on nothing, a catchall refusal, no route): a provider's
    /// "confirm this forwarding address" mail lands there.
    pub async fn list_raw_messages(
        &mut self,
        status: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<RawMessageInfo>, StoreError> {
        let before = if page.after == 0 {
            i64::MAX
        } else {
            page.after
        };
        let rows = on!(self, |c| {
            sqlx::query_as::<_, RawMessageInfo>(
            "SELECT id, received_at, source, envelope_sender, header_message_id, size, status, error FROM raw_messages \
             WHERE id < $1 AND ($2 IS NULL OR status = $2 OR ($2 = 'unclaimed' AND (\
               (outcome LIKE '{\"outcome\":\"bounce_processed\"%' \
                AND (outcome LIKE '%\"bounce\":null%' OR outcome LIKE '%\"message_id\":null%')) \
               OR outcome LIKE '{\"outcome\":\"catchall_refused\"%' \
               OR outcome LIKE '{\"outcome\":\"no_route\"%'))) \
             ORDER BY id DESC LIMIT $3"
        )
        .bind(before)
        .bind(status)
        .bind(page.limit)
        .fetch_all(c)
        .await
        })?;
        Ok(page.page(rows, |r| r.id))
    }

    /// How a raw inbound message came (its way in, envelope sender and recipients), to take it
    /// again ([`Tx::set_raw_message_status`] then marks the old row).
    pub async fn raw_message_envelope(
        &mut self,
        id: RawMessageId,
    ) -> Result<(String, Option<String>, Vec<String>), StoreError> {
        let (source, sender, rcpts): (String, Option<String>, String) = on!(self, |c| {
            sqlx::query_as(
                "SELECT source, envelope_sender, envelope_rcpts FROM raw_messages WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(c)
            .await
        })?
        .ok_or_else(|| StoreError::not_found("raw message", id))?;
        let rcpts = serde_json::from_str(&rcpts).unwrap_or_default();
        Ok((source, sender, rcpts))
    }

    /// Sets the status of a raw inbound message (`retried`: it was taken again as a new one).
    pub async fn set_raw_message_status(
        &mut self,
        id: RawMessageId,
        status: postern_model::RawStatus,
    ) -> Result<(), StoreError> {
        on!(self, |c| sqlx::query(
            "UPDATE raw_messages SET status = $1 WHERE id = $2"
        )
        .bind(status.as_str())
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The bytes of a raw inbound message.
    pub async fn raw_message_content(&mut self, id: RawMessageId) -> Result<Vec<u8>, StoreError> {
        let (head, size, encoding): (Vec<u8>, i64, Option<String>) =
            on!(self, |c| sqlx::query_as(
                "SELECT content, size, content_encoding FROM raw_messages WHERE id = $1"
            )
            .bind(id)
            .fetch_optional(c)
            .await)?
            .ok_or_else(|| StoreError::not_found("raw message", id))?;
        match encoding.as_deref() {
            None => {}
            Some("lz4") => return crate::chunks::unpack(&head, size),
            Some(crate::PRUNED) => {
                return Err(StoreError::Gone(format!(
                    "raw message {id}: its bytes were removed by retention \
                     (postern.retention.raw_days)"
                )));
            }
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "raw message {id}: unknown content encoding {other:?}"
                )));
            }
        }
        let mut content = with_capacity_for(head, size);
        self.append_chunks(Owner::RawMessage, id.get(), &mut content)
            .await?;
        Ok(content)
    }
}

/// Where a message that came by mail came from ([`Tx::origins_by_message_ids`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageOrigin {
    /// The raw message.
    pub raw_message_id: RawMessageId,
    /// The way in (`smtp`, `lmtp`, `pipe`, `http`, `imap`, `pop3`).
    pub source: String,
    /// The envelope sender (`MAIL FROM`), if given.
    pub mail_from: Option<String>,
    /// The envelope recipients (`RCPT TO`).
    pub rcpt_to: Vec<String>,
    /// The outcome of `accept` (its routes say which alias and how).
    pub outcome: serde_json::Value,
}

impl MessageOrigin {
    /// From the columns of its raw message (the recipients and the outcome as stored JSON).
    pub(crate) fn new(
        raw_message_id: RawMessageId,
        source: String,
        mail_from: Option<String>,
        rcpts: &str,
        outcome: Option<&str>,
    ) -> MessageOrigin {
        MessageOrigin {
            raw_message_id,
            source,
            mail_from,
            rcpt_to: serde_json::from_str(rcpts).unwrap_or_default(),
            outcome: outcome
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A raw inbound message, without its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RawMessageInfo {
    /// Id.
    pub id: RawMessageId,
    /// When (epoch ms).
    pub received_at: i64,
    /// Way in.
    pub source: String,
    /// Envelope sender.
    pub envelope_sender: Option<String>,
    /// Message-Id header.
    pub header_message_id: Option<String>,
    /// Bytes.
    pub size: i64,
    /// `processed`, `ignored`, `failed`.
    #[sqlx(try_from = "String")]
    pub status: postern_model::RawStatus,
    /// Why it failed.
    pub error: Option<String>,
}

/// The head of a chunked content in a buffer with room for all of it (`size` bytes).
fn with_capacity_for(head: Vec<u8>, size: i64) -> Vec<u8> {
    let size = usize::try_from(size).unwrap_or(0);
    if size <= head.len() {
        return head;
    }
    let mut content = Vec::with_capacity(size);
    content.extend_from_slice(&head);
    content
}
