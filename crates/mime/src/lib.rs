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
//!
//! Modules: `headers` reads header fields (unfolding, RFC 2047, addresses, ids, dates),
//! `addresses` splits the address fields once per message, `entity` builds the MIME tree
//! (with `mail-parser`'s field parsers and its decoders' exact behaviour), `body` turns it into
//! the HTML body and the attachments (§3.4), `bounce` and `bounce_text` read delivery reports
//! (§3.3 and further), `autoreply` recognises automatic replies, `reply` strips the quoted
//! history and the signature from the text of a reply (`stripped_text`).
//!
//! Speed (`cargo bench -p postern-mime --bench parse`): a message is parsed once, without
//! copying its bytes, with one allocation per header section for its fields; the address
//! fields are split once (plain lists without the general parser); the delivery-report
//! analysis runs only for messages that look like reports (bounce signs, failure-notice
//! sender or subject, report or embedded-message parts) and reads each source once.
#![warn(missing_docs)]

mod addresses;
mod auth_results;
pub use auth_results::{
    AuthResults, authentication_results, parse_auth_results, without_auth_results,
};
mod autoreply;
mod body;
pub use body::{BodyHtml, MAX_BODY};
mod bounce;
mod bounce_phrases;
mod bounce_reason;
pub use bounce_reason::{Reason, ReportKind, classify};
mod bounce_text;
mod entity;
mod feedback;
mod headers;
mod limits;
pub use limits::Limits;
mod reply;
pub use reply::stripped_text;
mod sanitize;

/// `html` cleaned as an incoming mail's body is (the reference's `html_sanitize`), with no
/// `cid:` image kept: for showing stored HTML again (the admin UI's chatter).
pub fn sanitize_html(html: &str) -> String {
    sanitize::html(html, &[])
}
mod texts;
pub use texts::{Texts, texts};

use serde::Serialize;

pub use headers::unfold_references;

/// Why a message could not be parsed at all (it is still stored raw, with this error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing that looks like a message: empty, or no header at all.
    #[error("not an e-mail message: {0}")]
    NotAMessage(String),
    /// Its structure passes one of the [`Limits`]: too many header fields or parts, too
    /// large a header section, too deep a nesting.
    #[error("over a limit: {0}")]
    OverLimit(String),
}

/// The parsed view of one inbound message: everything routing and storing need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedMessage {
    /// `Message-Id` (the first one) unfolded and stripped of surrounding white space, with its
    /// `<>`; `None` when absent or empty (the gateway then makes one up).
    pub message_id: Option<String>,
    /// `X-Postern-Message-Id`, else `X-Odoo-Message-Id`, else `X-Microsoft-Original-Message-ID`
    /// (the id Outlook.com replaced), stripped; `None` when absent or empty.
    pub x_message_id: Option<String>,
    /// `In-Reply-To` (every occurrence, joined with a space), stripped; `None` when absent or
    /// empty.
    pub in_reply_to: Option<String>,
    /// Every `<id>` of the `References` headers (all occurrences), unfolded (§3.1: white space
    /// inside a token removed), in order, with their `<>`.
    pub references: Vec<String>,
    /// Decoded Subject (RFC 2047), several Subject headers joined with a space; `None` if absent.
    pub subject: Option<String>,
    /// The From value as Odoo stores it: the first address of `email_split_and_format(From)`
    /// (every From field, RFC 2047 decoded, joined with `,`), or the decoded From when nothing
    /// parses (`robert`); `None` without From, or with a blank one.
    pub email_from: Option<String>,
    /// Formatted addresses of `Delivered-To` and `To`, each once, in order of appearance
    /// (every `Delivered-To` first, then every `To`; Odoo uses a set, in no order).
    pub to: Vec<String>,
    /// Formatted addresses of `Cc`, each once, in order of appearance.
    pub cc: Vec<String>,
    /// Formatted addresses of `Delivered-To`, `To`, `Cc`, `Resent-To`, `Resent-Cc`, each once,
    /// in order of appearance (field by field, in that order).
    pub recipients: Vec<String>,
    /// The bare addresses of `to`, lower-cased, each once, in order (what routing compares).
    pub to_addresses: Vec<String>,
    /// The bare addresses of `recipients`, lower-cased, each once, in order.
    pub recipient_addresses: Vec<String>,
    /// `Return-Path` address (without `<>`), `Some("")` for the null sender `<>`.
    pub return_path: Option<String>,
    /// `Date` as Unix epoch milliseconds (UTC); `None` when absent or unparseable.
    pub date: Option<i64>,
    /// The body as HTML (§3.4): plain text becomes `<pre>`, alternatives keep the HTML,
    /// cleaned as the reference's `html_sanitize` cleans it (when first read: [`BodyHtml`]).
    pub body_html: BodyHtml,
    /// The attachments, in order.
    pub attachments: Vec<Attachment>,
    /// Signs that the message is a delivery report (rules 2 and 3 of §3.3).
    pub bounce_signs: BounceSigns,
    /// What the delivery report says. Filled when the message looks like a report or a failure
    /// notice (a bounce sign, a `message/delivery-status` part, a null or MAILER-DAEMON
    /// Return-Path, a postmaster/mailer-daemon sender, a failure-notice subject), and, for its
    /// report parts and original ids only, when it embeds a `message/rfc822` or
    /// `text/rfc822-headers` part; empty otherwise. Routing decides whether the message is a
    /// bounce (rule 1 included), and then uses this.
    pub dsn: Dsn,
    /// Signs of an automatic reply: `Auto-Submitted` other than `no`, `Precedence:
    /// auto_reply`, `X-Autoreply`, `X-Autorespond`, `X-Autogenerated: Reply` (header fields
    /// only; bulk and list mail are not auto-replies).
    pub auto_reply: bool,
    /// Why nothing automatic may be sent back to the message, if it may not: it asks for none
    /// (`X-Auto-Response-Suppress: All`, `AutoReply`, `NDR`, `OOF`), or it is list or bulk
    /// mail (`Precedence: bulk/junk/list`, `List-Id`; RFC 3834 §2).
    pub no_answer: Option<String>,
}

/// One attachment of a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// File name (decoded, RFC 2231/2047), `attachment` when none.
    pub filename: String,
    /// MIME type, lower-case (`application/pdf`; `binary/octet-stream` becomes
    /// `application/octet-stream`).
    pub mimetype: String,
    /// `Content-ID` without `<>`, for inline images referenced by `cid:` (set whenever the part
    /// has one).
    pub content_id: Option<String>,
    /// The decoded content (for `message/rfc822`, the embedded message's bytes). Only the
    /// transfer encoding is undone: a text attachment keeps the bytes of its own charset.
    #[serde(skip)]
    pub content: Vec<u8>,
}

/// Signs that a message is a bounce, other than its recipient (§3.3 rules 2 and 3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BounceSigns {
    /// The local part of the first From address is `mailer-daemon` (any case).
    pub from_mailer_daemon: bool,
    /// Top-level type `multipart/report`, or a top-level `Content-Type` containing
    /// `report-type=delivery-status` (also when malformed, `multipart/report: report-type=...`).
    pub delivery_report: bool,
}

/// What a delivery report says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dsn {
    /// The bounced recipients, in the order of the report: every per-recipient block of the
    /// `message/delivery-status` part (Odoo reads only the first), else `X-Failed-Recipients`,
    /// else the recipients named in the human-readable text, else the single recipient of
    /// the returned message. Empty when the message does not look like a report at all.
    pub recipients: Vec<BouncedRecipient>,
    /// Message ids of the original message (`Message-Id`, `X-Postern-Message-Id`,
    /// `X-Odoo-Message-Id`, `X-Microsoft-Original-Message-ID` of the embedded `message/rfc822`
    /// or `text/rfc822-headers` part, else of the first sub-part of the report, else of a
    /// message returned inline in the text), unfolded, each once. Not the report's own
    /// In-Reply-To/References: routing adds those when these ids find nothing (§3.3).
    pub original_message_ids: Vec<String>,
    /// Odoo's own `bounced_email`: the `Final-Recipient` of the second header block of the
    /// first `message/delivery-status` part (its first per-recipient block), when it holds a
    /// `;`, the text after it normalised (exactly one address, else `None`). For processing
    /// bounces exactly as Odoo does; `recipients` goes further.
    pub final_recipient: Option<String>,
    /// The human-readable part of the report as plain text (for `failure_reason`): its first
    /// text part (HTML converted), without the message returned inline after it, trimmed.
    pub human_text: String,
    /// What kind of report the message is: a failure or a delay (a delivery report or a
    /// failure notice, from its `Action`s or statuses), an ARF complaint (`feedback`, RFC
    /// 5965), an automatic reply (`auto_reply`, RFC 3834); `None` for other messages.
    #[serde(skip_serializing)]
    pub kind: Option<ReportKind>,
    /// The ARF `Feedback-Type` (`abuse`, `fraud`...), lower-case, for a feedback report.
    #[serde(skip_serializing)]
    pub feedback_type: Option<String>,
}

/// One recipient of a delivery report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BouncedRecipient {
    /// The address, normalised (`Final-Recipient: rfc822; x@y` gives `x@y`).
    pub address: String,
    /// RFC 3463 status (`5.1.1`), empty when unknown. As written in the report, or taken from
    /// the diagnostic when the report only says `x.0.0`; when the report has none, inferred
    /// as `x.0.0` from the reply code's class, else from `Action`, else from the wording of
    /// the notice (temporary failure: `4.0.0`, failed delivery: `5.0.0`).
    pub status: String,
    /// SMTP reply code (`550`, a 4xx or 5xx), empty when unknown.
    pub reply_code: String,
    /// Diagnostic text: the `Diagnostic-Code` after its type (`smtp;`), white space
    /// collapsed; else the lines of the notice that describe this recipient (at most 500
    /// characters); empty when nothing describes it.
    pub reason: String,
    /// Why it bounced, in a fixed vocabulary ([`classify`]: from the diagnostic text, the
    /// status and the reply code). Not serialised yet: the gateway keeps this struct in the
    /// stored outcome of a bounce, whose shape changes in a later step
    /// (`postern bounce parse` prints it).
    #[serde(skip_serializing)]
    pub category: Reason,
    /// Sending to this address again cannot succeed: the address itself is unknown, moved,
    /// or its domain accepts no mail ([`Reason::is_hard`]); everything else is soft.
    pub hard: bool,
    /// The RFC 3464 `Action` of the report (`failed`, `delayed`...), lower-case; empty when
    /// the report has none (a notice written for humans). Success reports (`delivered`,
    /// `relayed`, `expanded`) are never listed.
    pub action: String,
    /// Where the recipient was found.
    pub source: RecipientSource,
}

/// Where a bounced recipient was found, from the most to the least reliable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientSource {
    /// A per-recipient block of the `message/delivery-status` part (`Final-Recipient`, else
    /// `Original-Recipient`), or the same fields written in a text part.
    #[default]
    Report,
    /// The `X-Failed-Recipients` header field (Exim, Gmail).
    Header,
    /// The human-readable text of the notice (`bounce_text`).
    Text,
    /// The one recipient (To, no Cc) of the returned message, when nothing else names one.
    ReturnedMessage,
}

/// Parses one raw message (CRLF or bare LF line ends; a leading mbox `From ` line is skipped).
///
/// Fails only when `raw` holds no header field at all, or passes one of the default
/// [`Limits`]; anything else gives a best-effort view (never a panic), with `None`/empty values
/// for what is missing or unreadable.
pub fn parse(raw: &[u8]) -> Result<ParsedMessage, ParseError> {
    parse_within(raw, &Limits::default())
}

/// [`parse`] with these limits of the message's structure.
pub fn parse_within(raw: &[u8], limits: &Limits) -> Result<ParsedMessage, ParseError> {
    let raw = skip_mbox_line(raw);
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::NotAMessage("empty message".to_owned()));
    }
    let root = entity::Entity::parse(raw);
    if root.headers.is_empty() {
        return Err(ParseError::NotAMessage("no header field".to_owned()));
    }
    limits::check(&root, limits)?;
    let h = &root.headers;
    let addresses = addresses::Addresses::new(h);
    let email_from = addresses.field("from").and_then(|from| {
        let value = addresses
            .formatted_field("from")
            .and_then(|formatted| formatted.first().cloned())
            .unwrap_or_else(|| from.to_string());
        (!value.trim().is_empty()).then_some(value)
    });
    let bounce_signs = bounce::signs(&root, email_from.as_deref());
    let mut dsn = bounce::analyse(&root, bounce_signs, &addresses);
    let subject = h.joined_text("subject", " ");
    let auto_reply = autoreply::is_auto_reply(h, subject.as_deref().unwrap_or_default());
    feedback::complete(
        &root,
        &mut dsn,
        bounce_signs,
        auto_reply,
        email_from.as_deref(),
    );
    let is_report = bounce_signs.from_mailer_daemon || bounce_signs.delivery_report;
    let (body_html, attachments) = body::extract(&root, is_report);
    Ok(ParsedMessage {
        message_id: h
            .first("message-id")
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        x_message_id: [
            "x-postern-message-id",
            "x-odoo-message-id",
            "x-microsoft-original-message-id",
        ]
        .iter()
        .find_map(|name| h.first(name).filter(|v| !v.is_empty()))
        .map(str::to_owned),
        in_reply_to: h
            .joined_raw("in-reply-to", " ")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
        references: h
            .joined_raw("references", " ")
            .map(|v| unfold_references(&v))
            .unwrap_or_default(),
        subject,
        email_from,
        to: formatted_addresses(&addresses, &["delivered-to", "to"]),
        cc: formatted_addresses(&addresses, &["cc"]),
        recipients: formatted_addresses(
            &addresses,
            &["delivered-to", "to", "cc", "resent-to", "resent-cc"],
        ),
        to_addresses: bare_addresses(&addresses, &["delivered-to", "to"]),
        recipient_addresses: bare_addresses(
            &addresses,
            &["delivered-to", "to", "cc", "resent-to", "resent-cc"],
        ),
        return_path: h.first("return-path").map(headers::return_path_address),
        date: h.first("date").and_then(headers::parse_date),
        body_html,
        attachments,
        bounce_signs,
        dsn,
        auto_reply,
        no_answer: autoreply::no_answer(h),
    })
}

/// `email_split_and_format` of each field (all its occurrences joined), each address once.
fn formatted_addresses(
    addresses: &addresses::Addresses<'_>,
    names: &[&'static str],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let Some(formatted) = addresses.formatted_field(name) else {
            continue;
        };
        for address in formatted.iter() {
            if !out.contains(address) {
                out.push(address.clone());
            }
        }
    }
    out
}

/// `email_split` of each field, lower-cased, each address once.
fn bare_addresses(addresses: &addresses::Addresses<'_>, names: &[&'static str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        for address in addresses.split_field(name) {
            let a = address.to_lowercase();
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// Drops a first line `From sender date` (mbox separator), which is not a header field.
fn skip_mbox_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        let end = raw
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| i + 1);
        &raw[end..]
    } else {
        raw
    }
}
