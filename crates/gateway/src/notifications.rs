//! The one notification path (§5.3, §9.2–§9.4): whoever posted a message on a record — an
//! incoming mail routed there, or the application through the API — its followers (and the
//! partners named) are notified the same way: `compose::notify::plan` decides who gets an inbox
//! notification, who an e-mail (one mail to all the addresses of a partner, `X-Msg-To-Add` so
//! that Reply-All reaches the customers), and who has no usable address (an exception,
//! `mail_email_invalid`); `NotificationMail` makes every outbox row of a notification, with
//! the Reply-To and the Return-Path of the record's company ([`Directory`]).

use postern_compose::notify::{self, Candidate};
use postern_model::{
    CompanyId, MailId, MessageId, NotificationStatus, NotificationType, PartnerId, RecordId,
};
use postern_store::{
    AliasDomain, Company, MailCause, MailContent, NewNotification, PageRequest, StoreError, Tx,
};

/// A message just written on a record, as its notifications need it.
pub(crate) struct Posted<'a> {
    /// The message's id in the store.
    pub id: MessageId,
    /// Its Message-ID.
    pub rfc_id: &'a str,
    /// The Message-ID of the thread's root (`References`), when it has one.
    pub parent_rfc: Option<&'a str>,
    /// The record (read only when someone is e-mailed).
    pub record_id: RecordId,
    /// `comment` or `note` (a note reaches internal users only).
    pub subtype: &'a str,
    /// The author (never notified).
    pub author_partner_id: Option<PartnerId>,
    /// The From of the notification mails.
    pub email_from: Option<&'a str>,
    /// Subject and body of the mails.
    pub subject: &'a str,
    /// HTML body.
    pub body_html: &'a str,
    /// Partners notified besides the followers.
    pub partner_ids: &'a [PartnerId],
    /// Addresses (normalised) that got the original mail: not notified again.
    pub got_it: &'a [String],
    /// The record was created by this message: it has no follower but its author yet, so the
    /// followers are not read.
    pub created: bool,
}

impl Posted<'_> {
    /// The notification of this message to `partner`: an inbox one is `sent` at once, an
    /// e-mail one `ready` for its mail.
    fn notification(
        &self,
        partner: PartnerId,
        notification_type: NotificationType,
        mail_id: Option<MailId>,
    ) -> NewNotification {
        NewNotification {
            message_id: self.id,
            partner_id: partner,
            notification_type,
            status: match notification_type {
                NotificationType::Inbox => NotificationStatus::Sent,
                NotificationType::Email => NotificationStatus::Ready,
            },
            mail_id,
        }
    }
}

/// What was queued.
#[derive(Debug, Default)]
pub(crate) struct Queued {
    /// Mails queued.
    pub emails: usize,
    /// Inbox notifications.
    pub inbox: usize,
}

/// Notifies the followers of `posted.record` (and `posted.partner_ids`) of the message: inbox
/// notifications, outbox rows, exceptions, in the caller's transaction.
pub(crate) async fn notify_followers(
    tx: &mut Tx,
    posted: &Posted<'_>,
    directory: &Directory<'_>,
) -> Result<Queued, StoreError> {
    let mut people = candidates(tx, posted).await?;
    people.retain(|c| {
        let got = c
            .email
            .as_deref()
            .and_then(postern_model::address::email_normalize_first);
        !got.is_some_and(|e| posted.got_it.contains(&e))
    });
    let plan = notify::plan(
        &people,
        posted.author_partner_id,
        posted.rfc_id,
        posted.parent_rfc,
    );
    for p in &plan.inbox {
        tx.insert_notification(&posted.notification(*p, NotificationType::Inbox, None))
            .await?;
    }
    if !plan.emails.is_empty() {
        let record = tx.get_record(posted.record_id).await?;
        let (company, domain) = directory.company_domain(record.company_id)?;
        let alias = tx.record_alias_email(&record.model, record.id).await?;
        let catchall = domain.map(|d| d.catchall_email());
        let reply_to = notify::reply_to(
            alias.as_deref(),
            catchall.as_deref(),
            company.map_or("", |c| c.name.as_str()),
            &record.name,
            posted.email_from,
        );
        let reply_to = with_reply_token(tx, reply_to, alias.or(catchall), posted.id).await?;
        let headers: serde_json::Map<String, serde_json::Value> =
            notify::notification_headers(&plan, posted.rfc_id)
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
        let template = NotificationMail {
            posted,
            reply_to: reply_to.as_deref(),
            subject: tagged_subject(tx, posted.subject, posted.id).await?,
            headers,
        };
        let cause = MailCause::Notification {
            bounce: domain.map(|d| d.bounce_email()),
        };
        for (partner, to) in &plan.emails {
            let mail = tx.enqueue(&cause, template.to(to)).await?;
            let ready = posted.notification(*partner, NotificationType::Email, Some(mail));
            tx.insert_notification(&ready).await?;
        }
    }
    for p in &plan.invalid {
        tx.insert_notification(&NewNotification {
            status: NotificationStatus::Exception,
            ..posted.notification(*p, NotificationType::Email, None)
        })
        .await?;
        tx.fail_notification(
            posted.id,
            *p,
            "mail_email_invalid",
            "no valid e-mail address",
        )
        .await?;
    }
    Ok(Queued {
        emails: plan.emails.len(),
        inbox: plan.inbox.len(),
    })
}

/// What one notification says: the same for every recipient but `To`.
struct NotificationMail<'a> {
    posted: &'a Posted<'a>,
    reply_to: Option<&'a str>,
    subject: String,
    headers: serde_json::Map<String, serde_json::Value>,
}

impl NotificationMail<'_> {
    fn to(&self, to: &str) -> MailContent {
        let p = self.posted;
        MailContent {
            message_id: Some(p.id),
            record_id: Some(p.record_id),
            rfc_message_id: p.rfc_id.to_owned(),
            email_from: p.email_from.unwrap_or_default().to_owned(),
            email_to: vec![to.to_owned()],
            reply_to: self.reply_to.map(str::to_owned),
            subject: self.subject.clone(),
            body_html: Some(p.body_html.to_owned()),
            headers: self.headers.clone(),
            ..Default::default()
        }
    }
}

/// Followers of the record for the subtype (a note reaches internal users only), then the
/// partners named; an unknown named partner is an error.
async fn candidates(tx: &mut Tx, posted: &Posted<'_>) -> Result<Vec<Candidate>, StoreError> {
    let subtype = posted.subtype;
    let mut rows = match posted.created {
        true => Vec::new(),
        false => tx.followers_for_notification(posted.record_id).await?,
    };
    rows.retain(|f| {
        let subtypes: Vec<String> = serde_json::from_str(&f.subtypes).unwrap_or_default();
        subtypes.iter().any(|s| s == subtype) && (subtype != "note" || f.is_user)
    });
    for p in posted.partner_ids {
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

/// The companies and alias domains a mail is sent in the name of: the configuration an inbound
/// batch has loaded already, or read once by a caller of the API.
pub(crate) struct Directory<'a> {
    /// Every company, by id (the first is the gateway's own).
    pub companies: &'a [Company],
    /// Every alias domain, by sequence.
    pub domains: &'a [AliasDomain],
}

impl<'a> Directory<'a> {
    /// A company (the gateway's own when `company_id` is none) and its alias domain (the first
    /// alias domain when the company has none); an unknown company is an error.
    pub(crate) fn company_domain(
        &self,
        company_id: Option<CompanyId>,
    ) -> Result<(Option<&'a Company>, Option<&'a AliasDomain>), StoreError> {
        let company = match company_id {
            Some(id) => Some(
                self.companies
                    .iter()
                    .find(|c| c.id == id)
                    .ok_or_else(|| StoreError::not_found("company", id))?,
            ),
            None => self.companies.first(),
        };
        let domain = company
            .and_then(|c| c.alias_domain.as_deref())
            .and_then(|n| self.domains.iter().find(|d| d.name == n))
            .or(self.domains.first());
        Ok((company, domain))
    }
}

/// The companies and alias domains, read for a caller that has not loaded them.
pub(crate) async fn read_directory(
    tx: &mut Tx,
) -> Result<(Vec<Company>, Vec<AliasDomain>), StoreError> {
    let companies = tx
        .list::<postern_store::Company>(PageRequest::all())
        .await?
        .items;
    let domains = tx.alias_domains().await?;
    Ok((companies, domains))
}

/// The subject of a notification: with `postern.subject_token` on, the message's signed tag at
/// its end (`Our offer [#3mv-1f3a9c0b]`), the tags of earlier messages taken out.
async fn tagged_subject(
    tx: &mut Tx,
    subject: &str,
    message: MessageId,
) -> Result<String, StoreError> {
    let on = tx.get_param(postern_store::PARAM_SUBJECT_TOKEN).await?;
    if on.as_deref() != Some("true") {
        return Ok(subject.to_owned());
    }
    let key = tx.ensure_gateway_key("subject").await?;
    let old = postern_model::token::subject_tags(subject);
    let mut bare = subject.trim().to_owned();
    if !old.is_empty() {
        for t in old {
            bare = bare.replace(&format!("[#{t}]"), "");
        }
        bare = bare.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let tag = postern_model::token::subject_tag(&key, message.get());
    Ok(match bare.is_empty() {
        true => tag,
        false => format!("{bare} {tag}"),
    })
}

/// The Reply-To with a signed token of the message in its address (`catchall+<token>@`), so
/// that a reply from a client that drops every header still finds its thread. The name was
/// chosen on the bare address, as the reference does; an author's own From stays as it is.
async fn with_reply_token(
    tx: &mut Tx,
    reply_to: Option<String>,
    address: Option<String>,
    message: MessageId,
) -> Result<Option<String>, StoreError> {
    match (reply_to, address) {
        (Some(r), Some(address)) if r.contains(&address) => {
            let key = tx.ensure_gateway_key("reply").await?;
            let t = postern_model::token::sign(&key, "reply", message.get(), "");
            let (local, domain) = address.rsplit_once('@').unwrap_or((&address, ""));
            Ok(Some(r.replacen(
                &address,
                &format!("{local}+{t}@{domain}"),
                1,
            )))
        }
        (r, _) => Ok(r),
    }
}
