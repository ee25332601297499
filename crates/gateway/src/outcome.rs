//! The outcome of `accept` and `explain`, in the JSON shape of the contract (DESIGN.md):
//! `{"outcome", "routes", "sent", "bounce", "message_ids", "trace"}`.

use postern_mime::BouncedRecipient;
use postern_model::{MessageId, PartnerId, RecordId};
use postern_routing::{Action, Decision, Outcome, Send, Via};
use serde::Serialize;

/// One route as reported: what was done where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteOutcome {
    /// `create` or `post`.
    pub action: Action,
    /// The model.
    pub model: String,
    /// The record created or posted on (`null` in `explain` for a creation).
    pub record_id: Option<RecordId>,
    /// The alias routed through.
    pub alias: Option<String>,
    /// Why.
    pub via: Via,
}

/// What a processed bounce said and changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BounceSummary {
    /// The bounced recipients.
    pub recipients: Vec<BouncedRecipient>,
    /// Ids of the original message found in the report.
    pub original_message_ids: Vec<String>,
    /// The stored message the bounce was pinned on, if found.
    pub message_id: Option<MessageId>,
    /// Partners whose notifications were marked bounced.
    pub partner_ids: Vec<PartnerId>,
    /// Addresses this bounce put on the suppression list.
    pub suppressed: Vec<String>,
    /// What its VERP return path said, if it came to one (also in the trace).
    pub verp: Option<String>,
}

/// The outcome of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcceptOutcome {
    /// What happened.
    pub outcome: Outcome,
    /// Where it went.
    pub routes: Vec<RouteOutcome>,
    /// Mails sent back (queued in the outbox).
    pub sent: Vec<Send>,
    /// The bounce, when it was one.
    pub bounce: Option<BounceSummary>,
    /// Ids of the stored messages (one per route).
    pub message_ids: Vec<MessageId>,
    /// For a refusal, the explanation an SMTP/LMTP listener puts in its 5xx reply (the same
    /// reason the refusal mail gives).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Every step of the decision.
    pub trace: Vec<String>,
    /// Sender authentication, when the message was verified (by Postern, or by a trusted host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<SenderAuth>,
}

/// What sender authentication said of a message (the `auth` of the outcome and of the inbound
/// payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SenderAuth {
    /// Whether the From may be recognised as a known partner (false: DMARC fails).
    pub from_trusted: bool,
    /// What was found, as the trace says it.
    pub result: String,
}

impl SenderAuth {
    /// The verdict the envelope carries, if the message was verified.
    pub fn of(envelope: &postern_routing::Envelope) -> Option<SenderAuth> {
        envelope.auth_note.as_ref().map(|note| SenderAuth {
            from_trusted: !envelope.from_untrusted,
            result: note.clone(),
        })
    }
}

impl AcceptOutcome {
    /// The outcome of a decision; `record_ids` fills the ids of created records, route by route.
    pub(crate) fn from_decision(
        d: &Decision,
        record_ids: Vec<RecordId>,
        message_ids: Vec<MessageId>,
        bounce: Option<BounceSummary>,
    ) -> AcceptOutcome {
        let routes = d
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| RouteOutcome {
                action: r.action,
                model: r.model.clone(),
                record_id: record_ids.get(i).copied().or(r.record_id),
                alias: r.alias.clone(),
                via: r.via,
            })
            .collect();
        let refusal = d.outcome.is_refusal().then(|| match d.sent.first() {
            Some(s) => s.reason.clone(),
            None => "no alias or route for this address".to_owned(),
        });
        AcceptOutcome {
            outcome: d.outcome,
            routes,
            sent: d.sent.clone(),
            bounce,
            message_ids,
            refusal,
            trace: d.trace.clone(),
            auth: None,
        }
    }

    /// A message found stored when writing it: another writer was first.
    pub(crate) fn duplicate(message_id: Option<&str>) -> AcceptOutcome {
        AcceptOutcome {
            outcome: Outcome::Duplicate,
            routes: vec![],
            sent: vec![],
            bounce: None,
            message_ids: vec![],
            refusal: None,
            trace: vec![format!(
                "duplicate: {} was stored by a concurrent delivery; ignored",
                message_id.unwrap_or("the message")
            )],
            auth: None,
        }
    }
}
