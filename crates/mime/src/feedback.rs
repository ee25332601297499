//! The kind of a report ([`ReportKind`]), and the recipients of the reports that are not
//! delivery failures: an ARF complaint (RFC 5965: a `multipart/report;
//! report-type=feedback-report` with a `message/feedback-report` part) names the address
//! that complained in `Original-Rcpt-To` (else `Removal-Recipient`, else the To of the
//! returned message); an automatic reply (RFC 3834) names its author.

use crate::addresses::email_normalize_all;
use crate::bounce_reason::{Reason, ReportKind};
use crate::entity::{Body, Entity, is_embedded_message};
use crate::headers::Headers;
use crate::{BounceSigns, BouncedRecipient, Dsn, RecipientSource};

/// Sets `dsn.kind` (and, for a complaint or an automatic reply, its recipients).
pub(crate) fn complete(
    root: &Entity,
    dsn: &mut Dsn,
    signs: BounceSigns,
    auto_reply: bool,
    email_from: Option<&str>,
) {
    let walk = root.walk();
    if let Some(part) = walk.iter().find(|e| e.mime == "message/feedback-report") {
        let fields = Headers::parse(part.text().trim_start().as_bytes()).0;
        dsn.feedback_type = fields
            .first("feedback-type")
            .map(|v| v.trim().to_ascii_lowercase());
        dsn.recipients = complainants(&fields, &walk);
        dsn.kind = Some(ReportKind::Feedback);
        return;
    }
    if !dsn.recipients.is_empty() {
        let delayed = dsn
            .recipients
            .iter()
            .all(|r| r.action == "delayed" || r.status.starts_with('4'));
        dsn.kind = Some(if delayed {
            ReportKind::Delay
        } else {
            ReportKind::Failure
        });
    } else if signs.delivery_report || signs.from_mailer_daemon {
        dsn.kind = Some(ReportKind::Failure);
    } else if auto_reply {
        dsn.kind = Some(ReportKind::AutoReply);
        dsn.recipients = email_from
            .map(email_normalize_all)
            .unwrap_or_default()
            .into_iter()
            .take(1)
            .map(|address| recipient(address, Reason::Vacation))
            .collect();
    }
}

/// The addresses an ARF report names as the complaining recipient.
fn complainants(fields: &Headers, walk: &[&Entity]) -> Vec<BouncedRecipient> {
    let named = ["original-rcpt-to", "removal-recipient"]
        .iter()
        .find_map(|name| {
            let all = email_normalize_all(&fields.joined_raw(name, ", ")?);
            (!all.is_empty()).then_some(all)
        });
    let addresses = named.unwrap_or_else(|| {
        walk.iter()
            .find(|e| is_embedded_message(&e.mime))
            .and_then(|e| match &e.body {
                Body::Message(_, inner) => inner.headers.joined_addresses("to"),
                _ => None,
            })
            .map(|to| email_normalize_all(&to))
            .unwrap_or_default()
    });
    addresses
        .into_iter()
        .map(|address| recipient(address, Reason::Feedback))
        .collect()
}

fn recipient(address: String, category: Reason) -> BouncedRecipient {
    BouncedRecipient {
        address,
        category,
        source: RecipientSource::Report,
        ..BouncedRecipient::default()
    }
}
