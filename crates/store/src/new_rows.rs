//! What the inbound path writes, one struct per insert: a raw message, a record, a message, a
//! notification, a mail of the outbox (the parameters of [`Tx`](crate::Tx)'s `insert_*`).

use crate::chunks::Packing;
use postern_model::{
    AliasId, CompanyId, MailId, MailStream, MessageId, MessageType, NotificationStatus,
    NotificationType, PartnerId, RawMessageId, RecordId,
};
use serde::Serialize;

/// A raw inbound message as received, kept whatever happens to it.
#[derive(Debug, Clone, Default)]
pub struct NewRawMessage<'a> {
    /// `smtp`, `lmtp`, `pipe`, `imap`, `pop3`, `http`.
    pub source: &'a str,
    /// Envelope sender.
    pub envelope_sender: Option<&'a str>,
    /// Envelope recipients (JSON list).
    pub envelope_rcpts: String,
    /// Peer address, HELO, TLS (network sources).
    pub peer: Option<&'a str>,
    /// HELO/EHLO name.
    pub helo: Option<&'a str>,
    /// The session used TLS.
    pub tls: bool,
    /// Message-Id header, when it has one.
    pub header_message_id: Option<&'a str>,
    /// The bytes.
    pub content: &'a [u8],
    /// Whether they were packed already (see [`Packing`]).
    pub packing: Packing<'a>,
    /// `processed`, `failed` (could not be parsed or applied), `ignored`.
    pub status: postern_model::RawStatus,
    /// Why it failed.
    pub error: Option<&'a str>,
    /// The outcome JSON.
    pub outcome: Option<String>,
}

/// A new message of a thread.
#[derive(Debug, Clone, Default)]
pub struct NewMessage<'a> {
    /// RFC Message-ID (unique).
    pub message_id: &'a str,
    /// Record.
    pub record_id: Option<RecordId>,
    /// Parent message.
    pub parent_id: Option<MessageId>,
    /// `comment` / `note`.
    pub subtype: &'a str,
    /// `email`, `comment`, ...
    pub message_type: MessageType,
    /// Author.
    pub author_partner_id: Option<PartnerId>,
    /// From as stored (formatted).
    pub email_from: Option<&'a str>,
    /// Subject.
    pub subject: Option<&'a str>,
    /// Body (HTML).
    pub body_html: &'a str,
    /// Date (epoch ms).
    pub date: i64,
    /// To as received.
    pub incoming_email_to: Option<&'a str>,
    /// Cc as received.
    pub incoming_email_cc: Option<&'a str>,
    /// The raw original.
    pub raw_message_id: Option<RawMessageId>,
}

/// A new record, as the gateway (an alias) or the API creates it.
#[derive(Debug, Clone, Default)]
pub struct NewRecordRow<'a> {
    /// Model name (declared when new).
    pub model: &'a str,
    /// Name (the Subject of the mail that creates it).
    pub name: &'a str,
    /// From as given.
    pub email_from: Option<&'a str>,
    /// Normalised From (what the rate limit and bounces look up).
    pub email_normalized: Option<&'a str>,
    /// Cc kept on the record.
    pub email_cc: Option<&'a str>,
    /// Company.
    pub company_id: Option<CompanyId>,
    /// The alias that created it.
    pub alias_id: Option<AliasId>,
    /// Values (a JSON object).
    pub values_json: &'a str,
}

/// A new notification: one partner x one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewNotification {
    /// The message notified.
    pub message_id: MessageId,
    /// The partner notified.
    pub partner_id: PartnerId,
    /// By e-mail or in the inbox.
    pub notification_type: NotificationType,
    /// Its state.
    pub status: NotificationStatus,
    /// The outbox mail that carries it.
    pub mail_id: Option<MailId>,
}

/// A mail to put in the outbox.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewMail {
    /// `transactional` / `mass`.
    pub stream: MailStream,
    /// Why it exists (`catchall_bounce`, `notification`, ...).
    pub kind: Option<String>,
    /// The message it notifies.
    pub message_id: Option<MessageId>,
    /// The record concerned.
    pub record_id: Option<RecordId>,
    /// Its Message-ID.
    pub rfc_message_id: String,
    /// From.
    pub email_from: String,
    /// To.
    pub email_to: Vec<String>,
    /// Cc.
    pub email_cc: Vec<String>,
    /// Reply-To.
    pub reply_to: Option<String>,
    /// Envelope sender / Return-Path.
    pub return_path: Option<String>,
    /// Subject.
    pub subject: String,
    /// HTML body.
    pub body_html: Option<String>,
    /// Text body.
    pub body_text: Option<String>,
    /// Extra headers (JSON object).
    pub headers: serde_json::Value,
    /// Send after this time (epoch ms).
    pub scheduled_date: Option<i64>,
}

/// Why a mail is queued. The cause decides what no caller should write by hand: the stream,
/// the Return-Path (the envelope sender) and the headers that mark an automatic mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailCause {
    /// A message notified to one partner: transactional; its bounces come back to the bounce
    /// address of its domain (none without an alias domain).
    Notification {
        /// The domain's bounce address.
        bounce: Option<String>,
    },
    /// What the gateway sends back to a sender (`catchall_bounce`, `alias_refusal`,
    /// `alias_invalid`, `rate_limit`): transactional, a null Return-Path (`<>`: an answer to it
    /// is never answered back), `Auto-Submitted: auto-replied` (RFC 3834) and
    /// `X-Auto-Response-Suppress: All` (Exchange's: no out-of-office to it).
    GatewayReply {
        /// Which (the `sent[].kind` of the outcome).
        kind: String,
    },
    /// A mail of `POST /api/v1/mail`, in the stream it asked for; its bounces come back to the
    /// bounce address of its domain.
    Api {
        /// `transactional` or `mass`.
        stream: MailStream,
        /// The domain's bounce address.
        bounce: Option<String>,
    },
}

/// What a mail to queue says: everything its [`MailCause`] does not decide.
#[derive(Debug, Clone, Default)]
pub struct MailContent {
    /// The message it carries or notifies.
    pub message_id: Option<MessageId>,
    /// The record concerned.
    pub record_id: Option<RecordId>,
    /// Its Message-ID.
    pub rfc_message_id: String,
    /// From.
    pub email_from: String,
    /// To.
    pub email_to: Vec<String>,
    /// Cc.
    pub email_cc: Vec<String>,
    /// Reply-To.
    pub reply_to: Option<String>,
    /// Subject.
    pub subject: String,
    /// HTML body.
    pub body_html: Option<String>,
    /// Text body.
    pub body_text: Option<String>,
    /// Other headers (`References`, the API's own, a notification's helpers).
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// Send after this time (epoch ms).
    pub scheduled_date: Option<i64>,
}

impl MailCause {
    /// The outbox row of `content` sent for this cause.
    pub fn row(&self, content: MailContent) -> NewMail {
        let (stream, kind, return_path) = match self {
            MailCause::Notification { bounce } => (
                MailStream::Transactional,
                "notification".to_owned(),
                bounce.clone(),
            ),
            MailCause::GatewayReply { kind } => {
                (MailStream::Transactional, kind.clone(), Some(String::new()))
            }
            MailCause::Api { stream, bounce } => (*stream, "api".to_owned(), bounce.clone()),
        };
        let mut headers = content.headers;
        if matches!(self, MailCause::GatewayReply { .. }) {
            headers.insert("Auto-Submitted".into(), "auto-replied".into());
            // Exchange and Outlook answer nothing automatic (no out-of-office) to it.
            headers.insert("X-Auto-Response-Suppress".into(), "All".into());
        }
        NewMail {
            stream,
            kind: Some(kind),
            message_id: content.message_id,
            record_id: content.record_id,
            rfc_message_id: content.rfc_message_id,
            email_from: content.email_from,
            email_to: content.email_to,
            email_cc: content.email_cc,
            reply_to: content.reply_to,
            return_path,
            subject: content.subject,
            body_html: content.body_html,
            body_text: content.body_text,
            headers: serde_json::Value::Object(headers),
            scheduled_date: content.scheduled_date,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_decides_stream_return_path_and_automatic_headers() {
        let content = || MailContent {
            rfc_message_id: "<m@x>".into(),
            email_to: vec!["a@x".into()],
            ..Default::default()
        };
        let reply = MailCause::GatewayReply {
            kind: "catchall_bounce".into(),
        }
        .row(content());
        assert_eq!(
            reply.return_path.as_deref(),
            Some(""),
            "a null reverse-path"
        );
        assert_eq!(reply.headers["Auto-Submitted"], "auto-replied");
        assert_eq!(reply.headers["X-Auto-Response-Suppress"], "All");
        assert_eq!(reply.kind.as_deref(), Some("catchall_bounce"));
        let note = MailCause::Notification {
            bounce: Some("bounce@x".into()),
        }
        .row(content());
        assert_eq!(
            (note.stream, note.return_path.as_deref()),
            (MailStream::Transactional, Some("bounce@x"))
        );
        assert!(note.headers.get("Auto-Submitted").is_none());
        let api = MailCause::Api {
            stream: MailStream::Mass,
            bounce: None,
        }
        .row(content());
        assert_eq!(
            (api.stream, api.kind.as_deref()),
            (MailStream::Mass, Some("api"))
        );
    }
}
