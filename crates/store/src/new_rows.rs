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
    pub status: &'a str,
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
