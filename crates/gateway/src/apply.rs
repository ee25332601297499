//! Applying a decision inside the caller's transaction: the raw original, each route (record,
//! message, attachments, recipients, author subscription, follower notifications), the mails sent
//! back, the bounce bookkeeping, the alias status.

use crate::lookups::Setup;
use crate::outcome::{AcceptOutcome, BounceSummary};
use crate::{Received, raw_row};
use postern_compose::gateway_mail::{self, GatewayMail, Incoming, Sender};
use postern_mime::ParsedMessage;
use postern_model::address::{email_normalize, email_split, email_split_tuples, formataddr};
use postern_model::{
    AliasId, AliasStatus, AttachmentId, CompanyId, MailId, MessageId, MessageType, PartnerId,
    RawMessageId, RecordId, SuppressionCause, SuppressionScope, token,
};
use postern_routing::{Action, Decision, Outcome, Route, SendKind};
use postern_store::{
    AddressBounce, BounceCause, MailCause, MailContent, NewMessage, NewRecordRow, Packing,
    StoreError, Suppression, SuppressionInput, ThreadMessageRow, Tx, now_ms,
};
use sha2::Digest;

/// The Message-ID of the stored message: the header's, else one derived from the content, so that
/// a retry of the same bytes is still recognised as a duplicate.
pub(crate) fn effective_message_id(msg: &ParsedMessage, raw: &[u8], hostname: &str) -> String {
    match &msg.message_id {
        Some(id) => id.clone(),
        None => {
            let digest = sha2::Sha256::digest(raw);
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("<{hex}.no-message-id@{hostname}>")
        }
    }
}

fn random_token() -> String {
    postern_store::random_hex(12)
}

/// Every route of a routed message: its record and message each (and the original attached
/// when the incoming server keeps it); then the sender's bounce counter is reset (§4.1).
#[allow(clippy::too_many_arguments)]
async fn apply_routes(
    tx: &mut Tx,
    msg: &ParsedMessage,
    raw: &[u8],
    received: &Received,
    mid: &str,
    raw_id: RawMessageId,
    decision: &Decision,
    setup: &Setup<'_>,
) -> Result<(Vec<RecordId>, Vec<MessageId>), StoreError> {
    let mut record_ids = Vec::new();
    let mut message_ids = Vec::new();
    for (i, route) in decision.routes.iter().enumerate() {
        let (record, message) = apply_route(tx, msg, mid, i, route, raw_id, setup).await?;
        record_ids.push(record);
        message_ids.push(message);
        if received.keep_original {
            // The reference's `save_original` (incoming servers' `keep_original`).
            tx.insert_attachment(
                message,
                Some(record),
                "original_email.eml",
                "message/rfc822",
                None,
                raw,
            )
            .await?;
        }
    }
    if decision.outcome == Outcome::Routed
        && let Some(norm) = msg.email_from.as_deref().and_then(email_normalize)
    {
        // Only a known partner can have a bounce counter to reset.
        if decision
            .routes
            .iter()
            .any(|r| r.author_partner_id.is_some())
        {
            tx.reset_bounce(&norm).await?;
        }
    }
    Ok((record_ids, message_ids))
}

pub(crate) async fn apply(
    tx: &mut Tx,
    hostname: &str,
    (raw, packing): (&[u8], Packing<'_>),
    msg: &ParsedMessage,
    received: &Received,
    decision: Decision,
    setup: &Setup<'_>,
) -> Result<AcceptOutcome, StoreError> {
    if matches!(decision.outcome, Outcome::Duplicate | Outcome::LoopIgnored) {
        return Ok(AcceptOutcome::from_decision(
            &decision,
            vec![],
            vec![],
            None,
        ));
    }
    let mid = effective_message_id(msg, raw, hostname);
    let status = if decision.outcome == Outcome::Routed {
        postern_model::RawStatus::Processed
    } else {
        postern_model::RawStatus::Ignored
    };
    let mut row = raw_row(raw, packing, received, Some(&mid), status, None);
    // A routed message keeps its routes (alias, via) and its sender authentication from the
    // start, for the inbound payload; the others get their whole outcome below.
    if decision.outcome == Outcome::Routed {
        row.outcome = serde_json::to_string(
            &serde_json::json!({"outcome": "routed", "routes": decision.routes,
                "auth": crate::SenderAuth::of(&received.envelope)}),
        )
        .ok();
    }
    let raw_id = tx.insert_raw_message(&row).await?;
    let (record_ids, message_ids) =
        apply_routes(tx, msg, raw, received, &mid, raw_id, &decision, setup).await?;
    let bounce = match decision.outcome {
        Outcome::BounceProcessed => Some(apply_bounce(tx, msg, received).await?),
        _ => None,
    };
    let mut decision = decision;
    if let Some(note) = bounce.as_ref().and_then(|b| b.verp.clone()) {
        decision.trace.push(note);
    }
    let in_session_reason = answer(tx, hostname, msg, &mid, received, &mut decision, setup).await?;
    for alias in &decision.invalid_aliases {
        tx.set_alias_status(*alias, AliasStatus::Invalid).await?;
    }
    let mut outcome = AcceptOutcome::from_decision(&decision, record_ids, message_ids, bounce);
    outcome.auth = crate::SenderAuth::of(&received.envelope);
    if in_session_reason.is_some() {
        outcome.refusal = in_session_reason;
    }
    let json = serde_json::to_string(&outcome).unwrap_or_default();
    // The outcome of a routed message is its records and messages; the others keep theirs for a
    // later look (why was this refused?).
    if decision.outcome != Outcome::Routed {
        tx.set_raw_message_outcome(raw_id, status, &json).await?;
    }
    Ok(outcome)
}

/// What goes back to the sender: nothing when the way in refuses in its session (the reason is
/// answered, and returned here); else the mails of the decision (no refusal to a sender who is
/// not authenticated), and the "delivered" report a DSN asked for.
async fn answer(
    tx: &mut Tx,
    hostname: &str,
    msg: &ParsedMessage,
    mid: &str,
    received: &Received,
    decision: &mut Decision,
    setup: &Setup<'_>,
) -> Result<Option<String>, StoreError> {
    if received.refuse_in_session && decision.outcome.is_refusal() {
        tracing::info!(outcome = ?decision.outcome, "refused in session: no mail sent back");
        let reason = decision.sent.first().map(|s| s.reason.clone());
        decision.sent.clear();
        decision
            .trace
            .push("refused in the session: no mail sent back".into());
        return Ok(reason);
    }
    // An untrusted sender's From is likely forged: a refusal would go to someone else.
    let before = decision.sent.len();
    decision
        .sent
        .retain(|s| s.reason != postern_routing::UNTRUSTED_REFUSAL);
    if decision.sent.len() < before {
        decision
            .trace
            .push("the sender is not authenticated: no refusal mailed back".into());
    }
    send_back(tx, hostname, msg, mid, decision, setup).await?;
    if !decision.outcome.is_refusal() {
        crate::dsn::report_delivered(tx, hostname, msg, mid, &received.envelope, setup).await?;
    }
    Ok(None)
}

/// Creates or finds the record, stores the message on it; returns (record id, message id).
#[allow(clippy::too_many_arguments)]
async fn apply_route(
    tx: &mut Tx,
    msg: &ParsedMessage,
    mid: &str,
    index: usize,
    route: &Route,
    raw_id: RawMessageId,
    setup: &Setup<'_>,
) -> Result<(RecordId, MessageId), StoreError> {
    let (record, created) = match (route.action, route.record_id) {
        (Action::Post, Some(r)) => {
            merge_cc(tx, r, &msg.cc).await?;
            (r, false)
        }
        _ => (create_record(tx, msg, route, setup).await?, true),
    };
    // One message per route: the first keeps the Message-ID, the others get a derived one
    // (the id is unique in the store; a retry still finds the first).
    let message_id = if index == 0 {
        mid.to_owned()
    } else {
        format!("<route{index}.{}", mid.trim_start_matches('<'))
    };
    // Flat threading (§5.2): every message of a record hangs on its first one.
    let parent = if created {
        None
    } else {
        tx.thread_root(record).await?
    };
    let incoming_to = incoming_to(msg, setup);
    let cc = msg.cc.join(", ");
    let id = tx
        .insert_message(&NewMessage {
            message_id: &message_id,
            record_id: Some(record),
            parent_id: parent,
            subtype: route.subtype,
            message_type: MessageType::Email,
            author_partner_id: route.author_partner_id,
            email_from: msg.email_from.as_deref(),
            subject: msg.subject.as_deref(),
            body_html: &msg.body_html,
            date: msg.date.unwrap_or_else(now_ms),
            incoming_email_to: Some(&incoming_to),
            incoming_email_cc: (!cc.is_empty()).then_some(cc.as_str()),
            raw_message_id: Some(raw_id),
        })
        .await?;
    store_attachments(tx, msg, id, record).await?;
    let recipients = recognised_recipients(tx, msg, setup).await?;
    tx.add_message_partners(id, &recipients).await?;
    if let Some(author) = route.author_partner_id {
        tx.add_follower(record, author, &["comment".to_owned()])
            .await?;
    }
    mark_alias_valid(tx, route, setup).await?;
    crate::apply::notify(
        tx,
        msg,
        &message_id,
        id,
        record,
        created,
        parent,
        route,
        setup,
    )
    .await?;
    Ok((record, id))
}

/// An alias that created a record is valid (§4.8); said once.
async fn mark_alias_valid(tx: &mut Tx, route: &Route, setup: &Setup<'_>) -> Result<(), StoreError> {
    let already_valid = |id: AliasId| {
        setup
            .aliases
            .iter()
            .any(|a| a.id == id && a.status == "valid")
    };
    if let Some(alias) = route.alias_id
        && route.action == Action::Create
        && !already_valid(alias)
    {
        tx.set_alias_status(alias, AliasStatus::Valid).await?;
    }
    Ok(())
}

async fn create_record(
    tx: &mut Tx,
    msg: &ParsedMessage,
    route: &Route,
    setup: &Setup<'_>,
) -> Result<RecordId, StoreError> {
    let alias = route
        .alias_id
        .and_then(|id| setup.aliases.iter().find(|a| a.id == id));
    let values = alias.map_or("{}", |a| a.defaults.as_str());
    let company = company_for(setup, alias.and_then(|a| a.domain.as_deref()));
    let from = msg.email_from.as_deref();
    let cc = msg.cc.join(", ");
    tx.insert_record(&NewRecordRow {
        model: &route.model,
        name: msg.subject.as_deref().unwrap_or(""),
        email_from: from,
        email_normalized: from.and_then(email_normalize).as_deref(),
        email_cc: (!cc.is_empty()).then_some(cc.as_str()),
        company_id: company,
        alias_id: route.alias_id,
        values_json: values,
    })
    .await
}

/// The company of the alias's domain, else the gateway's own (the first).
fn company_for(setup: &Setup<'_>, domain: Option<&str>) -> Option<CompanyId> {
    let companies = &setup.config.companies;
    let by_domain = domain.and_then(|d| {
        companies
            .iter()
            .find(|c| c.alias_domain.as_deref() == Some(d))
    });
    by_domain.or(companies.first()).map(|c| c.id)
}

/// `email_cc` collects the Cc of the mail posted on a record: unique by address, existing
/// formatting kept (case 95).
async fn merge_cc(tx: &mut Tx, record: RecordId, cc: &[String]) -> Result<(), StoreError> {
    if cc.is_empty() {
        return Ok(());
    }
    let current = tx.record_email_cc(record).await?.unwrap_or_default();
    let mut items: Vec<(String, String)> = email_split_tuples(&current)
        .into_iter()
        .map(|(n, a)| (formataddr(&n, &a), a.to_lowercase()))
        .collect();
    for c in cc {
        for (n, a) in email_split_tuples(c) {
            if !items.iter().any(|(_, x)| *x == a.to_lowercase()) {
                items.push((formataddr(&n, &a), a.to_lowercase()));
            }
        }
    }
    let merged: Vec<String> = items.into_iter().map(|(f, _)| f).collect();
    tx.set_record_email_cc(record, &merged.join(", ")).await
}

/// To as received, without the aliases and catchall addresses it was routed through.
fn incoming_to(msg: &ParsedMessage, setup: &Setup<'_>) -> String {
    let ours = |addr: &str| {
        let a = addr.to_lowercase();
        setup
            .config
            .routing
            .domains
            .iter()
            .any(|d| d.catchall_email == a)
            || setup.aliases.iter().any(|x| {
                x.domain
                    .as_ref()
                    .is_some_and(|d| format!("{}@{d}", x.alias_name) == a)
            })
    };
    msg.to
        .iter()
        .filter(|t| email_split(t).first().is_none_or(|a| !ours(a)))
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

/// Partners recognised among the recipients (§5.1, no creation; never an alias address).
async fn recognised_recipients(
    tx: &mut Tx,
    msg: &ParsedMessage,
    setup: &Setup<'_>,
) -> Result<Vec<PartnerId>, StoreError> {
    let mut out = Vec::new();
    for r in msg.recipients.iter().take(postern_store::MAX_LOOKUPS) {
        let Some(norm) = email_normalize(r) else {
            continue;
        };
        let is_alias = setup.aliases.iter().any(|a| {
            a.domain
                .as_ref()
                .is_some_and(|d| format!("{}@{d}", a.alias_name) == norm)
        });
        if is_alias {
            continue;
        }
        let best = tx
            .partners_by_email(&norm)
            .await?
            .into_iter()
            .min_by_key(|(id, user)| (!user, *id));
        if let Some((id, _)) = best
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    Ok(out)
}

/// §5.3: followers (and explicit partners) are notified, except the author, inactive partners
/// and those who got the original mail (in its To or Cc) — through the one notification path,
/// as a message posted by the API.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn notify(
    tx: &mut Tx,
    msg: &ParsedMessage,
    message_id: &str,
    id: MessageId,
    record: RecordId,
    created: bool,
    parent: Option<MessageId>,
    route: &Route,
    setup: &Setup<'_>,
) -> Result<(), StoreError> {
    let got_it: Vec<String> = msg
        .to
        .iter()
        .chain(msg.cc.iter())
        .filter_map(|a| email_normalize(a))
        .collect();
    let parent_rfc = match parent {
        Some(p) => tx.message_rfc_id(p).await?,
        None => None,
    };
    let posted = crate::notifications::Posted {
        id,
        rfc_id: message_id,
        parent_rfc: parent_rfc.as_deref(),
        record_id: record,
        subtype: route.subtype,
        author_partner_id: route.author_partner_id,
        email_from: msg.email_from.as_deref(),
        subject: msg.subject.as_deref().unwrap_or_default(),
        body_html: &msg.body_html,
        partner_ids: &route.partner_ids,
        got_it: &got_it,
        created,
    };
    // The batch's configuration: no company or domain is read again per message.
    let directory = crate::notifications::Directory {
        companies: &setup.config.companies,
        domains: &setup.config.domains,
    };
    crate::notifications::notify_followers(tx, &posted, &directory).await?;
    Ok(())
}

/// §7: counts the bounce on the address, pins it on the original message's notifications. A
/// VERP return path (`bounce+<token>@domain`) names the mail and the recipient when the report
/// does not.
async fn apply_bounce(
    tx: &mut Tx,
    msg: &ParsedMessage,
    received: &Received,
) -> Result<BounceSummary, StoreError> {
    let dsn = &msg.dsn;
    let verp = verp_hit(tx, msg, received).await?;
    let (mut original, ids) = original_of(tx, msg, verp.as_ref()).await?;
    let notice = if dsn.human_text.is_empty() {
        "bounced".to_owned()
    } else {
        dsn.human_text.chars().take(2000).collect()
    };
    // (address, whether it counts as a bounce — a delay does not — and what to pin on its
    // notifications)
    let mut recipients: Vec<(String, bool, BounceCause)> = dsn
        .recipients
        .iter()
        .filter(|r| !r.address.is_empty())
        .map(|r| {
            (
                r.address.clone(),
                !r.status.starts_with('4'),
                cause_of(r, &notice),
            )
        })
        .collect();
    if recipients.is_empty() {
        let unsaid = BounceCause {
            diagnostic: notice.clone(),
            ..Default::default()
        };
        if let Some((_, address)) = verp.as_ref().and_then(|v| v.found.as_ref()) {
            // No Final-Recipient: the one the VERP return path names.
            recipients.push((address.clone(), true, unsaid));
        } else if let Some(o) = &original {
            // Else the one partner the original was sent to, if there is exactly one.
            let notified = tx.notified_partners(o.id).await?;
            if let [(_, Some(email))] = notified.as_slice()
                && let Some(norm) = email_normalize(email)
            {
                recipients.push((norm, true, unsaid));
            }
        }
    }
    let (pinned, suppressed) = pin_bounce(tx, dsn, original.as_ref(), &recipients).await?;
    Ok(BounceSummary {
        recipients: dsn.recipients.clone(),
        original_message_ids: ids,
        message_id: original.take().map(|o| o.id),
        partner_ids: pinned,
        suppressed,
        verp: verp.map(|v| v.note),
    })
}

/// The original message a bounce is about: the one its VERP return path names, else by the ids
/// the report quotes, else by its own In-Reply-To and References; with every id tried.
async fn original_of(
    tx: &mut Tx,
    msg: &ParsedMessage,
    verp: Option<&VerpHit>,
) -> Result<(Option<ThreadMessageRow>, Vec<String>), StoreError> {
    let mut ids = msg.dsn.original_message_ids.clone();
    if let Some((rfc, _)) = verp.and_then(|v| v.found.as_ref()) {
        let found = tx.newest_message_by_ids(std::slice::from_ref(rfc)).await?;
        if found.is_some() {
            ids.insert(0, rfc.clone());
            return Ok((found, ids));
        }
    }
    let mut original = tx.newest_message_by_ids(&ids).await?;
    if original.is_none() {
        let parent_ids: Vec<String> = msg
            .in_reply_to
            .iter()
            .chain(&msg.references)
            .cloned()
            .collect();
        original = tx.newest_message_by_ids(&parent_ids).await?;
        ids.extend(parent_ids);
    }
    Ok((original, ids))
}

/// What a VERP return path of a bounce says: the note for the trace, and the mail's RFC
/// Message-ID and the recipient it names when its token is genuine.
struct VerpHit {
    note: String,
    found: Option<(String, String)>,
}

/// The VERP return path among the bounce's envelope recipients and To, checked against the
/// store's key and the mail's recipients. A forged or unknown token is said so, and the bounce
/// is processed as an ordinary one.
async fn verp_hit(
    tx: &mut Tx,
    msg: &ParsedMessage,
    received: &Received,
) -> Result<Option<VerpHit>, StoreError> {
    let domains = tx.alias_domains().await?;
    let candidates = received.envelope.rcpt_to.iter().chain(&msg.to_addresses);
    for addr in candidates {
        let Some(token) = domains
            .iter()
            .find_map(|d| token::verp_token(addr, &d.bounce_email()))
        else {
            continue;
        };
        let key = tx.gateway_key("verp").await?.unwrap_or_default();
        let mail = match token::id_of(token) {
            Some(id) => tx.mail_for_verp(MailId(id)).await?,
            None => None,
        };
        let named = mail.and_then(|(rfc, rcpts)| {
            rcpts
                .into_iter()
                .find(|a| !key.is_empty() && token::verify(&key, "verp", token, &a.to_lowercase()))
                .map(|a| (rfc, a))
        });
        let note = match &named {
            Some((rfc, a)) => format!("VERP: {addr} names the mail {rfc} to {a}"),
            None => format!(
                "VERP: the token of {addr} is forged or names no mail sent: an ordinary bounce"
            ),
        };
        return Ok(Some(VerpHit { note, found: named }));
    }
    Ok(None)
}

/// Counts the bounce on each recipient's address and pins it on the original message's
/// notifications; a hard one (or too many soft ones) suppresses the address, a complaint
/// suppresses it for mass mail. Answers the partners pinned and the addresses suppressed.
async fn pin_bounce(
    tx: &mut Tx,
    dsn: &postern_mime::Dsn,
    original: Option<&ThreadMessageRow>,
    recipients: &[(String, bool, BounceCause)],
) -> Result<(Vec<PartnerId>, Vec<String>), StoreError> {
    let complaint = dsn.kind == Some(postern_mime::ReportKind::Feedback);
    let (mut pinned, mut suppressed) = (Vec::new(), Vec::new());
    let mut counted_records = false;
    for (address, counts, cause) in recipients {
        if complaint {
            // An ARF complaint: the recipient called the mail spam; no more mass mail to them.
            let s = complain(tx, address, dsn.feedback_type.as_deref()).await?;
            suppressed.push(s.address);
            continue;
        }
        let partners = if *counts {
            tx.count_bounce(address).await?
        } else {
            tx.partners_by_email(address)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        if *counts && let Some(hard) = cause.hard {
            let bounce = AddressBounce {
                address,
                hard,
                reason: cause.reason.as_deref().unwrap_or(""),
                diagnostic: &cause.diagnostic,
            };
            let new = tx.record_address_bounce(&bounce).await?;
            suppressed.extend(new.map(|s| s.address));
        }
        counted_records |= *counts;
        if let Some(o) = original {
            tx.bounce_notifications(o.id, &partners, cause).await?;
            pinned.extend(partners);
        }
    }
    if let Some(o) = original
        && let Some(record) = o.record_id
        && counted_records
        && !record_has_address(tx, record, recipients).await?
    {
        tx.count_bounce_on_record(record).await?;
    }
    Ok((pinned, suppressed))
}

/// Suppresses `address` for mass mail after a complaint (ARF `Feedback-Type`, RFC 5965).
async fn complain(
    tx: &mut Tx,
    address: &str,
    feedback_type: Option<&str>,
) -> Result<Suppression, StoreError> {
    let input = SuppressionInput {
        address: address.to_owned(),
        scope: Some(SuppressionScope::Mass),
        cause: Some(SuppressionCause::Complaint),
        detail: Some(format!(
            "feedback report: {}",
            feedback_type.unwrap_or("abuse")
        )),
    };
    tx.suppress(&input).await
}

/// What a bounce pins on a recipient's notifications: the diagnostic (with its reply code and
/// status when its text does not hold them), else the notice's text; the reason and hardness
/// of the analysis.
fn cause_of(r: &postern_mime::BouncedRecipient, notice: &str) -> BounceCause {
    let text = r.reason.trim();
    if text.is_empty() {
        return BounceCause {
            diagnostic: notice.to_owned(),
            reason: Some(r.category.as_str().to_owned()),
            hard: Some(r.hard),
        };
    }
    let mut diagnostic = String::new();
    for part in [&r.reply_code, &r.status] {
        if !part.is_empty() && !text.contains(part.as_str()) {
            diagnostic.push_str(part);
            diagnostic.push(' ');
        }
    }
    diagnostic.push_str(text);
    BounceCause {
        diagnostic,
        reason: Some(r.category.as_str().to_owned()),
        hard: Some(r.hard),
    }
}

async fn record_has_address(
    tx: &mut Tx,
    record: RecordId,
    recipients: &[(String, bool, BounceCause)],
) -> Result<bool, StoreError> {
    let rec_email = tx.record_email_normalized(record).await?;
    Ok(rec_email.is_some_and(|e| recipients.iter().any(|(a, _, _)| *a == e)))
}

/// The mails the decision sends back, in the outbox.
async fn send_back(
    tx: &mut Tx,
    hostname: &str,
    msg: &ParsedMessage,
    mid: &str,
    decision: &Decision,
    setup: &Setup<'_>,
) -> Result<(), StoreError> {
    if decision.sent.is_empty() {
        return Ok(());
    }
    let (company, bounce_email) = gateway_sender(setup, hostname)?;
    let sender = Sender {
        company: company.as_ref().map_or("Postern", |c| c.name.as_str()),
        company_email: company
            .as_ref()
            .and_then(|c| c.email.as_deref())
            .unwrap_or(""),
        bounce_email: &bounce_email,
        hostname,
    };
    let to_header = msg.to.join(", ");
    let incoming = Incoming {
        message_id: mid,
        subject: msg.subject.as_deref(),
        email_from: msg.email_from.as_deref(),
        to: &to_header,
        body_html: &msg.body_html,
    };
    for s in &decision.sent {
        if s.to.is_empty() {
            tracing::info!(kind = ?s.kind, "no address to send the refusal to (null Return-Path); not sent");
            continue;
        }
        let token = random_token();
        let alias = s.alias.as_deref().unwrap_or("");
        let row = s
            .alias_id
            .and_then(|id| setup.aliases.iter().find(|a| a.id == id));
        let mail = match s.kind {
            SendKind::CatchallBounce => {
                gateway_mail::catchall_bounce(&incoming, &sender, &s.to, &token)
            }
            SendKind::RateLimit => gateway_mail::rate_limit(&incoming, &sender, &s.to, &token),
            SendKind::AliasInvalid => {
                gateway_mail::alias_invalid(&incoming, &sender, &s.to, alias, &token)
            }
            SendKind::AliasRefusal => {
                let bounced = match row {
                    Some(r) => tx.alias_bounced_content(r.id).await?,
                    None => None,
                };
                let followers = row.is_some_and(|r| r.contact == "followers");
                gateway_mail::alias_refusal(
                    &incoming,
                    &sender,
                    &s.to,
                    alias,
                    bounced.as_deref(),
                    followers,
                    &token,
                )
            }
        };
        let kind = serde_json::to_value(s.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        tx.enqueue(&MailCause::GatewayReply { kind }, content_of(mail))
            .await?;
    }
    Ok(())
}

/// The gateway's own company, and the bounce address its automatic mail comes from (that of its
/// alias domain, else `mailer-daemon@<hostname>`).
pub(crate) fn gateway_sender<'s>(
    setup: &'s Setup<'_>,
    hostname: &str,
) -> Result<(Option<&'s postern_store::Company>, String), StoreError> {
    let directory = crate::notifications::Directory {
        companies: &setup.config.companies,
        domains: &setup.config.domains,
    };
    let (company, domain) = directory.company_domain(None)?;
    let bounce = domain
        .map(|d| d.bounce_email())
        .unwrap_or_else(|| format!("mailer-daemon@{hostname}"));
    Ok((company, bounce))
}

/// What a mail the gateway sends back says (its cause decides the rest).
fn content_of(m: GatewayMail) -> MailContent {
    let mut headers = serde_json::Map::new();
    headers.insert("References".into(), m.references.into());
    MailContent {
        rfc_message_id: m.message_id,
        email_from: m.from,
        email_to: vec![m.to],
        reply_to: m.reply_to,
        subject: m.subject,
        body_html: Some(m.body_html),
        headers,
        ..Default::default()
    }
}

/// The attachments of a stored message; its inline images (`cid:`) then point at them.
async fn store_attachments(
    tx: &mut Tx,
    msg: &ParsedMessage,
    id: MessageId,
    record: RecordId,
) -> Result<(), StoreError> {
    let mut inline: Vec<(&str, AttachmentId)> = Vec::new();
    for a in &msg.attachments {
        let attachment = tx
            .insert_attachment(
                id,
                Some(record),
                &a.filename,
                &a.mimetype,
                a.content_id.as_deref(),
                &a.content,
            )
            .await?;
        if let Some(cid) = a.content_id.as_deref() {
            inline.push((cid, attachment));
        }
    }
    if let Some(body) = inline_images(&msg.body_html, &inline) {
        tx.set_message_body(id, &body).await?;
    }
    Ok(())
}

/// The body with every `<img src="cid:X">` pointing at the stored attachment of Content-ID `X`
/// (`/api/v1/attachments/{id}`), as the reference points them at `/web/image/{id}` (§3.4);
/// `None` when there is none. The body was sanitized when parsed: it keeps only the `cid:`
/// images of its own attachments, each written `src="cid:X"` by the serializer.
fn inline_images(body: &str, inline: &[(&str, AttachmentId)]) -> Option<String> {
    if inline.is_empty() || !body.contains("=\"cid:") {
        return None;
    }
    let mut out = body.to_owned();
    for (cid, id) in inline {
        let cid = cid.trim_matches(['<', '>']);
        let url = format!("=\"/api/v1/attachments/{id}\"");
        // The Content-ID is matched without regard to case, as the sanitizer matched it.
        let mut from = 0;
        while let Some(at) = out[from..].find("=\"cid:").map(|i| i + from) {
            let start = at + "=\"cid:".len();
            let end = out[start..].find('"').map_or(out.len(), |i| i + start);
            if out[start..end].eq_ignore_ascii_case(cid) {
                out.replace_range(at..(end + 1).min(out.len()), &url);
                from = at + url.len();
            } else {
                from = end;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod inline_tests {
    use super::{AttachmentId, inline_images};

    #[test]
    fn cid_images_point_at_their_attachments() {
        let body = "<p><img src=\"cid:Logo@X\" alt=\"a\"><img src=\"cid:chart@x\"></p>";
        assert_eq!(
            inline_images(
                body,
                &[("<logo@x>", AttachmentId(7)), ("chart@x", AttachmentId(8))]
            )
            .unwrap(),
            "<p><img src=\"/api/v1/attachments/7\" alt=\"a\"><img src=\"/api/v1/attachments/8\"></p>"
        );
        assert_eq!(
            inline_images("<p>no image</p>", &[("logo@x", AttachmentId(7))]),
            None
        );
        assert_eq!(inline_images(body, &[]), None);
    }
}
