//! Posting: a message on a record from the application (which notifies its followers through
//! the one notification path of `notifications.rs`, §9.2) and one email (`POST /api/v1/mail`).
//! compose decides (Message-ID, who is notified how, Reply-To, From, headers); this module
//! writes the message, its attachments, its notifications and the outbox rows in one
//! transaction, as `accept` does for incoming mail. The delivery runner sends them.

use postern_compose::message_id::{self, IdTag};
use postern_compose::notify;
use postern_model::address::{email_normalize, formataddr};
use postern_model::{MailId, MailStream, MessageId, MessageType, PartnerId, RecordId};
use postern_store::{MailCause, MailContent, NewMessage, Store, StoreError, now_ms};

/// A file given with a message or a mail.
#[derive(Debug, Clone)]
pub struct FileInput {
    /// File name.
    pub filename: String,
    /// MIME type.
    pub mimetype: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// `POST /api/v1/records/{id}/messages`.
#[derive(Debug, Clone, Default)]
pub struct PostInput {
    /// Subject (the record's name when absent).
    pub subject: Option<String>,
    /// HTML body.
    pub body_html: Option<String>,
    /// Text body (escaped into HTML when no HTML is given).
    pub body_text: Option<String>,
    /// `comment` (default; followers of `comment` notified) or `note` (internal users only).
    pub subtype: Option<String>,
    /// The author.
    pub author_partner_id: Option<PartnerId>,
    /// Partners notified besides the followers.
    pub partner_ids: Vec<PartnerId>,
    /// Attached files.
    pub attachments: Vec<FileInput>,
}

/// `POST /api/v1/mail`.
#[derive(Debug, Clone, Default)]
pub struct MailInput {
    /// From (the default From of the alias domain when absent).
    pub from: Option<String>,
    /// To.
    pub to: Vec<String>,
    /// Cc.
    pub cc: Vec<String>,
    /// Subject.
    pub subject: String,
    /// HTML body.
    pub body_html: Option<String>,
    /// Text body.
    pub body_text: Option<String>,
    /// `transactional` (default) or `mass`.
    pub stream: Option<String>,
    /// The record it belongs to.
    pub record_id: Option<RecordId>,
    /// Attached files.
    pub attachments: Vec<FileInput>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Not before (epoch ms).
    pub scheduled_date: Option<i64>,
}

fn token() -> String {
    postern_store::random_hex(8)
}

fn html_of(html: Option<&str>, text: Option<&str>) -> String {
    match (html, text) {
        (Some(h), _) if !h.trim().is_empty() => h.to_owned(),
        (_, Some(t)) => format!(
            "<p>{}</p>",
            postern_compose::html::escape(t).replace('\n', "<br>")
        ),
        _ => String::new(),
    }
}

/// Posts a message on `record_id` and queues the notifications of its followers (and of
/// `partner_ids`); returns the message id.
pub async fn post_message(
    store: &Store,
    hostname: &str,
    record_id: RecordId,
    input: &PostInput,
) -> Result<MessageId, StoreError> {
    let (subtype, body) = check_post(input)?;
    let mut tx = store.begin().await?;
    let record = tx.get_record(record_id).await?;
    let author = match input.author_partner_id {
        Some(id) => Some(tx.get::<postern_store::Partner>(id).await?),
        None => None,
    };
    let author_from = author
        .as_ref()
        .and_then(|a| notify::author_from(Some(&a.name), a.email.as_deref(), None));
    let now = now_ms();
    let mid = message_id::generate(
        IdTag::Thread {
            record_id,
            model: &record.model,
        },
        &token(),
        now,
        hostname,
    );
    let parent = tx.thread_root(record_id).await?;
    let parent_rfc = match parent {
        Some(p) => tx.message_rfc_id(p).await?,
        None => None,
    };
    let subject = input.subject.clone().unwrap_or_else(|| record.name.clone());
    let message = tx
        .insert_message(&NewMessage {
            message_id: &mid,
            record_id: Some(record_id),
            parent_id: parent,
            subtype,
            message_type: MessageType::Comment,
            author_partner_id: input.author_partner_id,
            email_from: author_from.as_deref(),
            subject: Some(&subject),
            body_html: &body,
            date: now,
            incoming_email_to: None,
            incoming_email_cc: None,
            raw_message_id: None,
        })
        .await?;
    for f in &input.attachments {
        tx.insert_attachment(
            message,
            Some(record_id),
            &f.filename,
            &f.mimetype,
            None,
            &f.content,
        )
        .await?;
    }
    tx.add_message_partners(message, &input.partner_ids).await?;
    let posted = crate::notifications::Posted {
        id: message,
        rfc_id: &mid,
        parent_rfc: parent_rfc.as_deref(),
        record_id,
        subtype,
        author_partner_id: input.author_partner_id,
        email_from: author_from.as_deref(),
        subject: &subject,
        body_html: &body,
        partner_ids: &input.partner_ids,
        got_it: &[],
        created: false,
    };
    notify_posted(&mut tx, &posted).await?;
    tx.commit().await?;
    Ok(message)
}

/// Notifies the followers of a message posted through the API.
async fn notify_posted(
    tx: &mut postern_store::Tx,
    posted: &crate::notifications::Posted<'_>,
) -> Result<(), StoreError> {
    let (companies, domains) = crate::notifications::read_directory(tx).await?;
    let directory = crate::notifications::Directory {
        companies: &companies,
        domains: &domains,
    };
    let queued = crate::notifications::notify_followers(tx, posted, &directory).await?;
    tracing::info!(message_id = %posted.rfc_id, record_id = posted.record_id.get(), emails = queued.emails, inbox = queued.inbox, "message posted");
    Ok(())
}

/// Queues one email; returns the mail id. Its Message-ID names the record when one is given.
pub async fn queue_mail(
    store: &Store,
    hostname: &str,
    input: &MailInput,
) -> Result<MailId, StoreError> {
    let stream = check_mail(input)?;
    let mut tx = store.begin().await?;
    let record = match input.record_id {
        Some(id) => Some(tx.get_record(id).await?),
        None => None,
    };
    let (companies, domains) = crate::notifications::read_directory(&mut tx).await?;
    let directory = crate::notifications::Directory {
        companies: &companies,
        domains: &domains,
    };
    let (_, domain) = directory.company_domain(record.as_ref().and_then(|r| r.company_id))?;
    let from = match &input.from {
        Some(f) if !f.trim().is_empty() => f.clone(),
        _ => domain
            .as_ref()
            .map(|d| d.default_from_email())
            .ok_or_else(|| {
                StoreError::invalid("from", "no From given and no alias domain to send from")
            })?,
    };
    let now = now_ms();
    let tag = match &record {
        Some(r) => IdTag::Thread {
            record_id: r.id,
            model: &r.model,
        },
        None => IdTag::Private,
    };
    let mid = message_id::generate(tag, &token(), now, hostname);
    let body = html_of(input.body_html.as_deref(), input.body_text.as_deref());
    let message = match record.is_some() || !input.attachments.is_empty() {
        true => Some(store_sent_message(&mut tx, input, &mid, &from, &body, now).await?),
        false => None,
    };
    let mut headers = serde_json::Map::new();
    for (k, v) in &input.headers {
        headers.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    let cause = MailCause::Api {
        stream,
        bounce: domain.map(|d| d.bounce_email()),
    };
    let content = MailContent {
        message_id: message,
        record_id: input.record_id,
        rfc_message_id: mid,
        email_from: from,
        email_to: input.to.iter().map(|t| normalize_formatting(t)).collect(),
        email_cc: input.cc.clone(),
        subject: input.subject.clone(),
        body_html: input.body_html.clone(),
        body_text: input.body_text.clone(),
        headers,
        scheduled_date: input.scheduled_date,
        ..Default::default()
    };
    let id = tx.enqueue(&cause, content).await?;
    tx.commit().await?;
    Ok(id)
}

/// The message of a mail sent from the API on a record (or with attachments), with its
/// attachments; gives its id.
async fn store_sent_message(
    tx: &mut postern_store::Tx,
    input: &MailInput,
    mid: &str,
    from: &str,
    body: &str,
    now: i64,
) -> Result<MessageId, StoreError> {
    let id = tx
        .insert_message(&NewMessage {
            message_id: mid,
            record_id: input.record_id,
            parent_id: None,
            subtype: "comment",
            message_type: MessageType::EmailOutgoing,
            author_partner_id: None,
            email_from: Some(from),
            subject: Some(&input.subject),
            body_html: body,
            date: now,
            incoming_email_to: Some(&input.to.join(", ")),
            incoming_email_cc: (!input.cc.is_empty())
                .then(|| input.cc.join(", "))
                .as_deref(),
            raw_message_id: None,
        })
        .await?;
    for f in &input.attachments {
        tx.insert_attachment(
            id,
            input.record_id,
            &f.filename,
            &f.mimetype,
            None,
            &f.content,
        )
        .await?;
    }
    Ok(id)
}

/// What a posted message must hold before anything is written; gives its subtype and body.
fn check_post(input: &PostInput) -> Result<(&str, String), StoreError> {
    let subtype = input.subtype.as_deref().unwrap_or("comment");
    if subtype != "comment" && subtype != "note" {
        return Err(StoreError::invalid(
            "subtype",
            "expected `comment` or `note`",
        ));
    }
    let body = html_of(input.body_html.as_deref(), input.body_text.as_deref());
    if body.is_empty() && input.attachments.is_empty() {
        return Err(StoreError::invalid(
            "body_html",
            "a message needs a body or an attachment",
        ));
    }
    Ok((subtype, body))
}

/// What `POST /api/v1/mail` must hold before anything is written; gives the stream.
fn check_mail(input: &MailInput) -> Result<MailStream, StoreError> {
    let stream = match input.stream.as_deref() {
        None => MailStream::Transactional,
        Some(s) => s
            .parse()
            .map_err(|_| StoreError::invalid("stream", "expected `transactional` or `mass`"))?,
    };
    if input
        .to
        .iter()
        .chain(&input.cc)
        .all(|a| a.trim().is_empty())
    {
        return Err(StoreError::invalid(
            "to",
            "at least one recipient is needed",
        ));
    }
    for (name, value) in &input.headers {
        if name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            || value.contains(['\r', '\n'])
        {
            return Err(StoreError::invalid(
                "headers",
                format!("`{name}` is not a valid header"),
            ));
        }
    }
    Ok(stream)
}

/// A To item as given, its address lower-cased when it is a single address (J124 keeps the
/// formatting of To).
fn normalize_formatting(item: &str) -> String {
    let parts = postern_model::address::email_split_tuples(item);
    match parts.as_slice() {
        [(name, addr)] => match email_normalize(addr) {
            Some(n) => formataddr(name, &n).trim_start_matches("\"\" ").to_owned(),
            None => item.to_owned(),
        },
        _ => item.to_owned(),
    }
}
