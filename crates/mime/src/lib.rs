//! postern-mime — the parsed view of a message, built on `mail-parser`: the routing headers
//! (Message-Id, X-Postern-Message-Id / X-Odoo-Message-Id, In-Reply-To, unfolded References,
//! From, To, Cc, Delivered-To, Resent-*, Return-Path, Subject, Date), the body as HTML and the
//! attachments as the behaviour reference §3.4 describes, bounce/DSN analysis (§3.3) and
//! auto-reply detection.
//!
//! Owns: turning bytes into that view. Must not: touch a database, a socket, the clock or the
//! environment, or decide where a message goes (that is `postern-routing`). Whether a message
//! is a bounce by its *recipient* (the bounce address of an alias domain, rule 1 of §3.3) needs
//! the configuration, so routing decides that; this crate gives every other sign.
#![warn(missing_docs)]

use serde::Serialize;

/// Why a message could not be parsed at all (it is still stored raw, with this error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing that looks like a message: empty, or no header at all.
    #[error("not an e-mail message: {0}")]
    NotAMessage(String),
}

/// The parsed view of one inbound message: everything routing and storing need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedMessage {
    /// `Message-Id` stripped of surrounding white space, with its `<>`; `None` when absent
    /// (the gateway then makes one up).
    pub message_id: Option<String>,
    /// `X-Postern-Message-Id`, else `X-Odoo-Message-Id`, stripped; `None` when absent or empty.
    pub x_message_id: Option<String>,
    /// `In-Reply-To`, stripped; `None` when absent or empty.
    pub in_reply_to: Option<String>,
    /// Every `<id>` of the `References` headers (all occurrences), unfolded (§3.1: white space
    /// inside a token removed), in order, with their `<>`.
    pub references: Vec<String>,
    /// Decoded Subject (RFC 2047), several Subject headers joined with a space; `None` if absent.
    pub subject: Option<String>,
    /// The From value as Odoo stores it: the first address of `email_split_and_format(From)`,
    /// or the raw From when nothing parses; `None` without From.
    pub email_from: Option<String>,
    /// Formatted addresses of `Delivered-To` and `To`, each once, in order of appearance.
    pub to: Vec<String>,
    /// Formatted addresses of `Cc`, each once, in order of appearance.
    pub cc: Vec<String>,
    /// Formatted addresses of `Delivered-To`, `To`, `Cc`, `Resent-To`, `Resent-Cc`, each once,
    /// in order of appearance.
    pub recipients: Vec<String>,
    /// `Return-Path` address (without `<>`), `Some("")` for the null sender `<>`.
    pub return_path: Option<String>,
    /// `Date` as Unix epoch milliseconds (UTC); `None` when absent or unparseable.
    pub date: Option<i64>,
    /// The body as HTML (§3.4): plain text becomes `<pre>`, alternatives keep the HTML.
    pub body_html: String,
    /// The attachments, in order.
    pub attachments: Vec<Attachment>,
    /// Signs that the message is a delivery report (rules 2 and 3 of §3.3).
    pub bounce_signs: BounceSigns,
    /// What the delivery report says, when there is one (also filled for rule-1 bounces:
    /// routing decides whether the message is a bounce, and then uses this).
    pub dsn: Dsn,
    /// Signs of an automatic reply (RFC 3834 `Auto-Submitted`, `Precedence`, `X-Autoreply`...).
    pub auto_reply: bool,
}

/// One attachment of a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// File name (decoded, RFC 2231/2047), `attachment` when none.
    pub filename: String,
    /// MIME type, lower-case (`application/pdf`; `binary/octet-stream` becomes
    /// `application/octet-stream`).
    pub mimetype: String,
    /// `Content-ID` without `<>`, for inline images referenced by `cid:`.
    pub content_id: Option<String>,
    /// The decoded content (for `message/rfc822`, the embedded message's bytes).
    #[serde(skip)]
    pub content: Vec<u8>,
}

/// Signs that a message is a bounce, other than its recipient (§3.3 rules 2 and 3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BounceSigns {
    /// The local part of the first From address is `mailer-daemon` (any case).
    pub from_mailer_daemon: bool,
    /// Top-level type `multipart/report`, or a content type containing
    /// `report-type=delivery-status`.
    pub delivery_report: bool,
}

/// What a delivery report says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dsn {
    /// The bounced recipients, in the order of the report.
    pub recipients: Vec<BouncedRecipient>,
    /// Message ids of the original message (`Message-Id`, `X-Postern-Message-Id`,
    /// `X-Odoo-Message-Id`, `X-Microsoft-Original-Message-ID` of the embedded `message/rfc822`
    /// or `text/rfc822-headers` part, else of the first sub-part of the report), unfolded.
    pub original_message_ids: Vec<String>,
    /// The human-readable part of the report as plain text (for `failure_reason`).
    pub human_text: String,
}

/// One recipient of a delivery report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BouncedRecipient {
    /// The address, normalised (`Final-Recipient: rfc822; x@y` gives `x@y`).
    pub address: String,
    /// RFC 3463 status (`5.1.1`), empty when unknown.
    pub status: String,
    /// SMTP reply code (`550`), empty when unknown.
    pub reply_code: String,
    /// Diagnostic text.
    pub reason: String,
    /// A permanent failure (5.x.x) of the address itself (unknown user or host) rather than
    /// of this one message.
    pub hard: bool,
}
