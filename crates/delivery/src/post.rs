//! The outbound shell: posting a message on a record (which notifies its followers, §9.2) and
//! queueing one email (`POST /api/v1/mail`). compose decides (Message-ID, who is notified how,
//! Reply-To, From, headers); this module reads what compose needs and writes the message, its
//! attachments, its notifications and the outbox rows in one transaction. The runner sends them.

use postern_compose::message_id::{self, IdTag};
use postern_compose::notify::{self, Candidate};
use postern_model::PartnerId;
use postern_model::address::{email_normalize, formataddr};
use postern_store::{AliasDomain, NewMail, NewMessage, Store, StoreError, Tx, now_ms};

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
    pub author_partner_id: Option<i64>,
    /// Partners notified besides the followers.
    pub partner_ids: Vec<i64>,
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
    pub record_id: Option<i64>,
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

/// The alias domain and name of a company (the gateway's own when `company_id` is none).
async fn company_domain(
    tx: &mut Tx,
    company_id: Option<i64>,
) -> Result<(String, Option<AliasDomain>), StoreError> {
    let company = match company_id {
        Some(id) => Some(tx.get_company(postern_model::CompanyId(id)).await?),
        None => tx.first_company().await?,
    };
    let domains = tx.alias_domains().await?;
    let domain = company
        .as_ref()
        .and_then(|c| c.alias_domain.as_deref())
        .and_then(|n| domains.iter().find(|d| d.name == n).cloned())
        .or_else(|| domains.first().cloned());
    Ok((company.map(|c| c.name).unwrap_or_default(), domain))
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
    record_id: i64,
    input: &PostInput,
) -> Result<i64, StoreError> {
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
    let mut tx = store.begin().await?;
    let record = tx.get_record(record_id).await?;
    let author = match input.author_partner_id {
        Some(id) => Some(tx.get_partner(PartnerId(id)).await?),
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
            message_type: "comment",
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
    let candidates = candidates(&mut tx, record_id, subtype, &input.partner_ids).await?;
    let plan = notify::plan(
        &candidates,
        input.author_partner_id,
        &mid,
        parent_rfc.as_deref(),
    );
    let (company, domain) = company_domain(&mut tx, record.company_id).await?;
    let alias = tx.record_alias_email(&record.model, record_id).await?;
    let reply_to = notify::reply_to(
        alias.as_deref(),
        domain.as_ref().map(|d| d.catchall_email()).as_deref(),
        &company,
        &record.name,
        author_from.as_deref(),
    );
    let headers: serde_json::Map<String, serde_json::Value> =
        notify::notification_headers(&plan, &mid)
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
    for p in &plan.inbox {
        tx.insert_notification(message, *p, "inbox", "sent", None)
            .await?;
    }
    for (partner, to) in &plan.emails {
        let mail = tx
            .insert_mail(&NewMail {
                stream: "transactional".into(),
                kind: Some("notification".into()),
                message_id: Some(message),
                record_id: Some(record_id),
                rfc_message_id: mid.clone(),
                email_from: author_from.clone().unwrap_or_default(),
                email_to: vec![to.clone()],
                email_cc: vec![],
                reply_to: reply_to.clone(),
                return_path: domain.as_ref().map(|d| d.bounce_email()),
                subject: subject.clone(),
                body_html: Some(body.clone()),
                body_text: None,
                headers: serde_json::Value::Object(headers.clone()),
                scheduled_date: None,
            })
            .await?;
        tx.insert_notification(message, *partner, "email", "ready", Some(mail))
            .await?;
    }
    for p in &plan.invalid {
        tx.insert_notification(message, *p, "email", "exception", None)
            .await?;
        tx.fail_notification(message, *p, "mail_email_invalid", "no valid e-mail address")
            .await?;
    }
    tx.commit().await?;
    tracing::info!(message_id = %mid, record_id, emails = plan.emails.len(), inbox = plan.inbox.len(), "message posted");
    Ok(message)
}

/// Followers of the record for `subtype` (a note reaches internal users only), then the
/// explicit partners.
async fn candidates(
    tx: &mut Tx,
    record_id: i64,
    subtype: &str,
    partner_ids: &[i64],
) -> Result<Vec<Candidate>, StoreError> {
    let mut rows = tx.followers_for_notification(record_id).await?;
    rows.retain(|f| {
        let subtypes: Vec<String> = serde_json::from_str(&f.subtypes).unwrap_or_default();
        subtypes.iter().any(|s| s == subtype) && (subtype != "note" || f.is_user)
    });
    for p in partner_ids {
        if !rows.iter().any(|f| f.partner_id == *p) {
            match tx.partner_for_notification(*p).await? {
                Some(row) => rows.push(row),
                None => return Err(StoreError::not_found("partner", *p)),
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|f| Candidate {
            partner_id: f.partner_id,
            name: f.name,
            email: f.email.or(f.email_normalized),
            is_user: f.is_user,
            inbox: f.notification == "inbox",
            active: f.active,
        })
        .collect())
}

/// Queues one email; returns the mail id. Its Message-ID names the record when one is given.
pub async fn queue_mail(
    store: &Store,
    hostname: &str,
    input: &MailInput,
) -> Result<i64, StoreError> {
    let stream = input.stream.as_deref().unwrap_or("transactional");
    if stream != "transactional" && stream != "mass" {
        return Err(StoreError::invalid(
            "stream",
            "expected `transactional` or `mass`",
        ));
    }
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
    let mut tx = store.begin().await?;
    let record = match input.record_id {
        Some(id) => Some(tx.get_record(id).await?),
        None => None,
    };
    let (_, domain) = company_domain(&mut tx, record.as_ref().and_then(|r| r.company_id)).await?;
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
    let message = if record.is_some() || !input.attachments.is_empty() {
        let id = tx
            .insert_message(&NewMessage {
                message_id: &mid,
                record_id: input.record_id,
                parent_id: None,
                subtype: "comment",
                message_type: "email_outgoing",
                author_partner_id: None,
                email_from: Some(&from),
                subject: Some(&input.subject),
                body_html: &body,
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
        Some(id)
    } else {
        None
    };
    let mut headers = serde_json::Map::new();
    for (k, v) in &input.headers {
        headers.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    let id = tx
        .insert_mail(&NewMail {
            stream: stream.into(),
            kind: Some("api".into()),
            message_id: message,
            record_id: input.record_id,
            rfc_message_id: mid,
            email_from: from,
            email_to: input.to.iter().map(|t| normalize_formatting(t)).collect(),
            email_cc: input.cc.clone(),
            reply_to: None,
            return_path: domain.as_ref().map(|d| d.bounce_email()),
            subject: input.subject.clone(),
            body_html: input.body_html.clone(),
            body_text: input.body_text.clone(),
            headers: serde_json::Value::Object(headers),
            scheduled_date: input.scheduled_date,
        })
        .await?;
    tx.commit().await?;
    Ok(id)
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
