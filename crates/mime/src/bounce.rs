//! Delivery reports: the signs that a message is a bounce (rules 2 and 3 of behaviour
//! reference §3.3; rule 1, the bounce address as recipient, is routing's), and what a report
//! says: every bounced recipient with its status, reply code, reason and hard/soft, the
//! message ids of the returned original message, and the human-readable text.
//!
//! Sources, in order: the RFC 3464 `message/delivery-status` part (or RFC 6533
//! `message/global-delivery-status`; every per-recipient block, where Odoo reads only the
//! first); the same fields written inline in a text part; `X-Failed-Recipients`; then the
//! human-readable text (`bounce_text`). The original ids come from the first
//! `message/rfc822` / `text/rfc822-headers` entity, else the first sub-part of the
//! `multipart/report` (Odoo's order), else from a message returned inline in the text.
//!
//! A message is analysed when it looks like a failure notice (a bounce sign, a
//! delivery-status part, a null or mailer-daemon Return-Path, a postmaster/mailer-daemon
//! sender, a subject such as "Undelivered Mail Returned to Sender"), or when it merely embeds
//! a message or headers part: then only its report parts and the returned message's ids are
//! read, no recipient is guessed from its text (a forwarded message is not a bounce). Other
//! messages get an empty [`Dsn`].
//!
//! **Reason and hard bounce rule**: each recipient gets a reason from a fixed vocabulary and
//! `hard` from that reason (`bounce_reason`): an unknown mailbox or host, a moved address or a
//! domain that accepts no mail is hard; everything else (mailbox full, policy, spam, delays,
//! unknown cause) is soft. Success reports (`Action: delivered`,
//! `relayed`, `expanded`, status 2.x.x) are not bounces and are left out.

use std::borrow::Cow;
use std::cell::OnceCell;

use crate::addresses::{Addresses, email_normalize, email_normalize_all, email_split};
use crate::bounce_reason::{Notice, classify_in};
use crate::bounce_text::{self, TextRecipient, collapse, find_reply_code, find_status};
use crate::entity::{Body, Entity, decode_text, is_embedded_message};
use crate::headers::{Headers, unfold_references};
use crate::{BounceSigns, BouncedRecipient, Dsn, RecipientSource};

/// The headers carrying the id of the returned message, in the order they are read.
const ORIGINAL_ID_HEADERS: &[&str] = &[
    "message-id",
    "x-postern-message-id",
    "x-odoo-message-id",
    "x-microsoft-original-message-id",
];

/// Rules 2 and 3 of §3.3.
pub(crate) fn signs(root: &Entity, email_from: Option<&str>) -> BounceSigns {
    let from_mailer_daemon = email_from
        .filter(|from| may_name_mailer_daemon(from))
        .and_then(|from| email_split(from).into_iter().next())
        .is_some_and(|addr| {
            addr.split('@')
                .next()
                .is_some_and(|local| local.eq_ignore_ascii_case("mailer-daemon"))
        });
    BounceSigns {
        from_mailer_daemon,
        delivery_report: is_report(&root.mime)
            || says_delivery_status(root.headers.first("content-type").unwrap_or_default()),
    }
}

/// Whether an address split from `text` could have `mailer-daemon` as its local part: the
/// splitter builds every address from the characters of the text, in order (it only drops
/// comments, quotes, escapes and white space, or adds quotes and escapes), so the letters of
/// `mailer-daemon` (any case) must appear in `text` in that order. Saves splitting the sender
/// a second time for almost every message.
fn may_name_mailer_daemon(text: &str) -> bool {
    let mut wanted = b"mailer-daemon".iter().peekable();
    for b in text.bytes() {
        if wanted.next_if(|w| b.eq_ignore_ascii_case(w)).is_some() && wanted.peek().is_none() {
            return true;
        }
    }
    false
}

/// Whether a `Content-Type` value holds `report-type=delivery-status` once white space and
/// quotes are removed, in any ASCII case (also when malformed). Reads the value once, without
/// building the filtered copy: the last characters kept are compared when a `s` ends them.
fn says_delivery_status(content_type: &str) -> bool {
    const NEEDLE: &[u8] = b"report-type=delivery-status";
    let mut window = [0u8; NEEDLE.len()];
    let mut seen = 0usize;
    for c in content_type
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
    {
        // A character outside ASCII never matches: it breaks the window like any other.
        let b = if c.is_ascii() {
            c.to_ascii_lowercase() as u8
        } else {
            0
        };
        window.copy_within(1.., 0);
        window[NEEDLE.len() - 1] = b;
        seen += 1;
        if b == b's' && seen >= NEEDLE.len() && window == *NEEDLE {
            return true;
        }
    }
    false
}

fn is_report(mime: &str) -> bool {
    mime.starts_with("multipart/report")
}

fn is_delivery_status(mime: &str) -> bool {
    mime == "message/delivery-status" || mime == "message/global-delivery-status"
}

fn is_headers_part(mime: &str) -> bool {
    mime == "text/rfc822-headers" || mime == "message/global-headers"
}

/// What the report says, or an empty [`Dsn`] for a message that does not look like one.
///
/// Each source is read once: the entities are listed once, the first delivery-status part
/// decoded and split into blocks once, the texts collected once, the returned message found
/// once.
pub(crate) fn analyse(root: &Entity, signs: BounceSigns, addresses: &Addresses<'_>) -> Dsn {
    let walk = root.walk();
    let notice = signs.from_mailer_daemon
        || signs.delivery_report
        || walk.iter().any(|e| is_delivery_status(&e.mime))
        || looks_like_notice(&root.headers, addresses);
    if !notice && !walk.iter().any(|e| is_report_structure(&e.mime)) {
        return Dsn::default();
    }
    let delivery_status = walk
        .iter()
        .find(|e| is_delivery_status(&e.mime))
        .map(|e| e.text());
    let delivery_blocks = delivery_status.as_deref().map(field_blocks);
    let mut plain = Vec::new();
    let mut html = Vec::new();
    collect_texts(root, &mut plain, &mut html);
    // Without a delivery-status part, DSN fields written in a text part.
    let inline_blocks = match delivery_blocks {
        Some(_) => None,
        None => plain
            .iter()
            .find(|t| has_inline_fields(t))
            .map(|t| field_blocks(t)),
    };
    let report_blocks = delivery_blocks.as_deref().or(inline_blocks.as_deref());
    let texts = human_texts(plain, &html);
    let first_text = texts.first().map(String::as_str).unwrap_or_default();
    let all_text = texts.join("\n");
    let (human, first_original) = bounce_text::split_original(first_text);
    // With one text, the whole notice is that text: split once.
    let (all_human, all_original) = if texts.len() > 1 {
        bounce_text::split_original(&all_text)
    } else {
        (human, first_original)
    };
    let original = original_headers(&walk);
    // A message that only embeds another one (a forward) is read for its report parts and
    // ids, not for recipients guessed from its text.
    let from_text = || {
        if notice {
            recipients_in_text(all_human, addresses)
        } else {
            Vec::new()
        }
    };
    let (mut recipients, orphans) = found_recipients(report_blocks, &root.headers, from_text);
    if recipients.is_empty() && notice {
        recipients = sole_original_recipient(original.as_deref(), all_original)
            .into_iter()
            .collect();
    }
    complete(&mut recipients, orphans, all_human);
    Dsn {
        recipients,
        original_message_ids: original_message_ids(original.as_deref(), all_original),
        final_recipient: delivery_blocks.as_deref().and_then(odoo_final_recipient),
        human_text: human.trim().to_owned(),
        ..Dsn::default()
    }
}

/// The recipients that the human-readable text of a notice names as failed, leaving out the
/// notice's own addresses (its author side, and the original sender among the others).
fn recipients_in_text(human: &str, addresses: &Addresses<'_>) -> Vec<TextRecipient> {
    let author = addresses_of(addresses, &["from", "sender", "reply-to", "return-path"]);
    let mut own = author.clone();
    own.extend(addresses_of(addresses, &["to", "cc", "delivered-to"]));
    bounce_text::find_recipients_in(human, &author, &own)
}

/// The bounced recipients from the first source that names any: the report's blocks (with
/// the statuses of its blocks without an address, as orphans), else `X-Failed-Recipients`,
/// else the text (`from_text`), which also completes what the first two leave empty. The
/// text is read only when it is needed: a report whose every recipient has its status, reply
/// code and diagnostic needs nothing from it.
fn found_recipients(
    report_blocks: Option<&[Block]>,
    headers: &Headers,
    from_text: impl Fn() -> Vec<TextRecipient>,
) -> (Vec<BouncedRecipient>, Vec<Orphan>) {
    let text = OnceCell::new();
    let text = || text.get_or_init(&from_text);
    let (mut recipients, orphans) = report_recipients(report_blocks);
    if recipients.is_empty() {
        recipients = failed_recipients_header(headers);
    }
    if recipients.iter().any(is_incomplete) {
        fill_from_text(&mut recipients, text());
    }
    if recipients.is_empty() {
        recipients = text()
            .iter()
            .map(|t| BouncedRecipient {
                address: t.address.clone(),
                status: t.status.clone(),
                reply_code: t.reply_code.clone(),
                reason: t.reason.clone(),
                source: RecipientSource::Text,
                ..BouncedRecipient::default()
            })
            .collect();
    }
    (recipients, orphans)
}

/// Whether the text could add to a recipient: its status, reply code or diagnostic is empty.
fn is_incomplete(r: &BouncedRecipient) -> bool {
    r.status.is_empty() || r.reply_code.is_empty() || r.reason.is_empty()
}

/// Completes each recipient with what the text says about the same address.
fn fill_from_text(recipients: &mut [BouncedRecipient], from_text: &[TextRecipient]) {
    for r in recipients {
        if let Some(t) = from_text.iter().find(|t| t.address == r.address) {
            fill(r, &t.status, &t.reply_code, &t.reason);
        }
    }
}

/// Gives the orphan statuses, in order, to the recipients without status nor reply code,
/// completes every recipient ([`finish`], against the whole `notice` text) and drops the
/// success reports.
fn complete(recipients: &mut Vec<BouncedRecipient>, orphans: Vec<Orphan>, notice: &str) {
    let notice = Notice::new(notice);
    let mut orphans = orphans.into_iter();
    for r in recipients.iter_mut() {
        if r.status.is_empty()
            && r.reply_code.is_empty()
            && let Some(o) = orphans.next()
        {
            fill(r, &o.status, &o.reply_code, &o.reason);
            r.action.clone_from(&o.action);
        }
        finish(r, &notice);
    }
    recipients.retain(|r| !is_success(r));
}

fn fill(r: &mut BouncedRecipient, status: &str, reply_code: &str, reason: &str) {
    if r.status.is_empty() {
        r.status = status.to_owned();
    }
    if r.reply_code.is_empty() {
        r.reply_code = reply_code.to_owned();
    }
    if r.reason.is_empty() {
        r.reason = reason.to_owned();
    }
}

/// Completes a recipient: a status inferred when none is written (from the reply code class,
/// else from the action, else from the wording of the notice), its reason (from its own
/// text, else from the notice's) and `hard`.
fn finish(r: &mut BouncedRecipient, notice: &Notice<'_>) {
    if r.status.is_empty() {
        r.status = inferred_status(r, notice).unwrap_or_default();
    }
    r.category = classify_in(&r.status, &r.reply_code, &r.reason, notice, &r.action);
    r.hard = r.category.is_hard(&r.status);
}

fn inferred_status(r: &BouncedRecipient, notice: &Notice<'_>) -> Option<String> {
    let class = match r.reply_code.as_bytes().first() {
        Some(c @ (b'2' | b'4' | b'5')) => Some(*c as char),
        _ => match r.action.as_str() {
            "failed" => Some('5'),
            "delayed" => Some('4'),
            "delivered" | "relayed" | "expanded" => Some('2'),
            _ => wording_class(&r.reason, notice),
        },
    };
    class.map(|c| format!("{c}.0.0"))
}

/// `4` when the recipient's text (`reason`) or the notice says the failure is temporary (a
/// delay warning), else `5`: a notice that returns a message reports that it was not
/// delivered.
fn wording_class(reason: &str, notice: &Notice<'_>) -> Option<char> {
    let temporary = [
        "temporar",
        "delayed",
        "will retry",
        "will be retried",
        "still trying",
        "not yet been delivered",
    ];
    let said = |lower: &str| bounce_text::contains_any(lower, &temporary);
    if said(&collapse(reason).to_lowercase()) || said(notice.lower()) {
        Some('4')
    } else {
        Some('5')
    }
}

fn is_success(r: &BouncedRecipient) -> bool {
    r.status.starts_with('2') || matches!(r.action.as_str(), "delivered" | "relayed" | "expanded")
}

/// A delivery-status part, an embedded message or headers part, or a `multipart/report`:
/// a message holding one is read for its report parts and original ids.
fn is_report_structure(mime: &str) -> bool {
    is_report(mime)
        || is_delivery_status(mime)
        || is_embedded_message(mime)
        || is_headers_part(mime)
}

/// A null or mailer-daemon Return-Path, a postmaster / mailer-daemon sender, or a subject
/// that failure notices use.
fn looks_like_notice(headers: &Headers, addresses: &Addresses<'_>) -> bool {
    let null_sender = headers.first("return-path").is_some_and(|v| {
        let rp = crate::headers::return_path_address(v);
        rp.is_empty() || starts_with_ascii_ci(&rp, "mailer-daemon")
    });
    if null_sender {
        return true;
    }
    let from = addresses.field("from").unwrap_or_default();
    let service_sender = from.trim_end().ends_with("<>")
        || contains_ascii_ci(&from, &["mailer-daemon", "mail delivery"])
        || addresses.split_field("from").first().is_some_and(|addr| {
            let local: String = addr
                .split('@')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphabetic())
                .collect();
            matches!(local.as_str(), "mailerdaemon" | "postmaster" | "maildaemon")
        });
    if service_sender {
        return true;
    }
    // The subject lower-cased (Unicode) holds one of these exactly when the subject holds it in
    // any ASCII case: no character outside ASCII lower-cases into these words (only U+212A
    // gives `k`, and U+0130 gives `i` followed by U+0307).
    let subject = headers.joined_text("subject", " ").unwrap_or_default();
    contains_ascii_ci(
        &subject,
        &[
            "undeliverable",
            "undelivered mail",
            "delivery status notification",
            "delivery failure",
            "failure notice",
            "returned mail",
            "mail delivery failed",
            "delivery has failed",
            "non remis",
            "non-delivery",
            "nondelivery",
        ],
    )
}

/// Whether `text` starts with `prefix` (lower-case ASCII) in any ASCII case.
fn starts_with_ascii_ci(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Whether `text` holds one of `needles` (lower-case ASCII) in any ASCII case.
fn contains_ascii_ci(text: &str, needles: &[&str]) -> bool {
    let lower = text.to_ascii_lowercase();
    bounce_text::contains_any(&lower, needles)
}

/// The addresses of some of the notice's own header fields, normalised: the author side
/// (never a failed recipient) or every field (the original sender is among them).
fn addresses_of(addresses: &Addresses<'_>, names: &[&'static str]) -> Vec<String> {
    let mut found = Vec::new();
    for name in names {
        if let Some(normalized) = addresses.normalized_field(name) {
            found.extend(normalized);
        }
    }
    found
}

/// The texts written for humans: the `text/plain` parts outside embedded messages, before
/// the returned message (or the `text/html` ones as text when there is no plain one), as
/// [`collect_texts`] gathers them.
fn human_texts(plain: Vec<String>, html: &[String]) -> Vec<String> {
    if plain.is_empty() {
        html.iter()
            .map(|h| mail_parser::decoders::html::html_to_text(h))
            .collect()
    } else {
        plain
    }
}

/// Returns `false` once the returned message is reached (the walk stops there).
fn collect_texts(entity: &Entity, plain: &mut Vec<String>, html: &mut Vec<String>) -> bool {
    if is_embedded_message(&entity.mime) || is_headers_part(&entity.mime) {
        return false;
    }
    match &entity.body {
        Body::Multipart(parts) => parts.iter().all(|p| collect_texts(p, plain, html)),
        Body::Message(..) => false,
        Body::Leaf(_) => {
            match entity.mime.as_str() {
                "text/plain" => plain.push(entity.text()),
                "text/html" => html.push(entity.text()),
                m if m.starts_with("multipart/") => plain.push(entity.text()),
                _ => {}
            }
            true
        }
    }
}

/// A recipient block's status before completion, kept when it names no address.
#[derive(Debug, Default)]
struct Orphan {
    status: String,
    reply_code: String,
    reason: String,
    action: String,
}

/// The per-recipient blocks of the first delivery-status part, or of DSN fields written
/// inline in a text part (`blocks`, split by [`field_blocks`]): the recipients with an
/// address, and the statuses of the blocks without one (matched to recipients found
/// elsewhere, in order).
fn report_recipients(blocks: Option<&[Block]>) -> (Vec<BouncedRecipient>, Vec<Orphan>) {
    let Some(blocks) = blocks else {
        return (Vec::new(), Vec::new());
    };
    let mut recipients = Vec::new();
    let mut orphans = Vec::new();
    for block in blocks {
        let field = |name: &str| {
            block
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let address = [
            "final-recipient",
            "original-recipient",
            "x-actual-recipient",
        ]
        .iter()
        .find_map(|n| field(n).and_then(recipient_address));
        let diagnostic = field("diagnostic-code")
            .map(diagnostic_text)
            .unwrap_or_default();
        let written_status = field("status").and_then(find_status).unwrap_or_default();
        let diagnostic_status = find_status(&diagnostic).unwrap_or_default();
        let status = better_status(&written_status, &diagnostic_status);
        let reply_code = find_reply_code(&diagnostic)
            .or_else(|| field("status").and_then(find_reply_code))
            .unwrap_or_default();
        let action = field("action")
            .and_then(|a| a.split_whitespace().next())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let is_recipient_block = address.is_some()
            || field("status").is_some()
            || field("action").is_some()
            || field("diagnostic-code").is_some();
        if !is_recipient_block {
            continue;
        }
        match address {
            Some(address) => recipients.push(BouncedRecipient {
                address,
                status,
                reply_code,
                reason: diagnostic,
                category: Default::default(),
                hard: false,
                action,
                source: RecipientSource::Report,
            }),
            None => orphans.push(Orphan {
                status,
                reply_code,
                reason: diagnostic,
                action,
            }),
        }
    }
    (recipients, orphans)
}

fn has_inline_fields(text: &str) -> bool {
    text.lines().any(|l| {
        let lower = l.trim_start().to_ascii_lowercase();
        lower.starts_with("final-recipient:") || lower.starts_with("original-recipient:")
    })
}

/// The written status, unless it is a bare `x.0.0` and the diagnostic gives a more precise
/// one of the same class (`Status: 5.0.0`, `Diagnostic-Code: smtp; 550 5.1.1 ...`).
fn better_status(written: &str, diagnostic: &str) -> String {
    let generic = written.len() == 5 && written.ends_with(".0.0");
    if written.is_empty() || (generic && diagnostic.get(..1) == written.get(..1)) {
        if diagnostic.is_empty() {
            written.to_owned()
        } else {
            diagnostic.to_owned()
        }
    } else {
        written.to_owned()
    }
}

/// Odoo's `bounced_email` (§3.3): second block of the first delivery-status part (its
/// `blocks`), its `Final-Recipient` split at the first `;`, `email_normalize` (strict) of the
/// rest.
fn odoo_final_recipient(blocks: &[Block]) -> Option<String> {
    let value = blocks
        .get(1)?
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("final-recipient"))
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let (_, address) = value.split_once(';')?;
    email_normalize(address.trim())
}

/// `rfc822; Name <x@y>` → `x@y`, normalised; a value without type is read whole. Odoo's
/// `email_normalize(value.split(';', 1)[1].strip())`, falling back to the first address
/// found, then to the bare value when it holds an `@`.
fn recipient_address(value: &str) -> Option<String> {
    let address = value.split_once(';').map_or(value, |(_, a)| a).trim();
    if address.is_empty() {
        return None;
    }
    email_normalize(address)
        .or_else(|| email_normalize_all(address).into_iter().next())
        .or_else(|| {
            let bare = address.trim_matches(['<', '>', ' ']);
            bare.contains('@').then(|| bare.to_lowercase())
        })
}

/// `smtp; 550 5.1.1 <x@y>... User unknown` → `550 5.1.1 <x@y>... User unknown`. Text in
/// 7-bit ISO-2022-JP (RFC 1468; its escape sequences name it: Lotus Notes / Domino write
/// Japanese so in a delivery-status part that declares no charset) is decoded.
fn diagnostic_text(value: &str) -> String {
    let text = value.split_once(';').map_or(value, |(_, t)| t);
    if text.contains("\u{1b}$") {
        collapse(&decode_text(text.as_bytes(), Some("iso-2022-jp")))
    } else {
        collapse(text)
    }
}

/// Splits DSN text into blocks (separated by blank lines) of `(name, unfolded value)` fields;
/// lines that are not fields are ignored.
/// The `(name, unfolded value)` fields of one block of DSN text.
type Block = Vec<(String, String)>;

fn field_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut block: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !block.is_empty() {
                blocks.push(std::mem::take(&mut block));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = block.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if !name.is_empty() && !name.contains(' ') {
                block.push((name.to_owned(), value.trim().to_owned()));
            }
        }
    }
    if !block.is_empty() {
        blocks.push(block);
    }
    blocks
}

/// `X-Failed-Recipients` (Exim, Gmail): the bounced addresses, without details.
fn failed_recipients_header(headers: &Headers) -> Vec<BouncedRecipient> {
    headers
        .joined_addresses("x-failed-recipients")
        .map(|v| email_normalize_all(&v))
        .unwrap_or_default()
        .into_iter()
        .map(|address| BouncedRecipient {
            address,
            source: RecipientSource::Header,
            ..BouncedRecipient::default()
        })
        .collect()
}

/// The one recipient of the returned message (its To, with no Cc), when nothing else names
/// the failed recipient: a message sent to one address bounced for that address. `original`
/// is the header section of the returned message, if found ([`original_headers`]); else the
/// message returned inline after the notice (`returned`, [`bounce_text::split_original`]) is
/// read.
fn sole_original_recipient(original: Option<&Headers>, returned: &str) -> Option<BouncedRecipient> {
    let parsed;
    let headers = match original {
        Some(headers) => headers,
        None => {
            let start = returned.find(|c: char| c.is_ascii_alphabetic())?;
            let header_text = &returned[start..];
            let first_field = header_text.lines().position(is_field_line)?;
            let text: String = header_text
                .lines()
                .skip(first_field)
                .collect::<Vec<_>>()
                .join("\n");
            parsed = Headers::parse(text.as_bytes()).0;
            &parsed
        }
    };
    if headers.contains("cc") {
        return None;
    }
    let to = email_normalize_all(&headers.joined_addresses("to")?);
    match to.as_slice() {
        [one] => Some(BouncedRecipient {
            address: one.clone(),
            source: RecipientSource::ReturnedMessage,
            ..BouncedRecipient::default()
        }),
        _ => None,
    }
}

/// `Name: value` with a name of printable characters and no space.
fn is_field_line(line: &str) -> bool {
    line.split_once(':')
        .is_some_and(|(name, _)| !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()))
}

/// The header section of the returned message (§3.3): the first `message/rfc822` (its
/// embedded message) or `text/rfc822-headers` entity, else the first sub-part of the first
/// `multipart/report` (`walk` lists every entity, [`Entity::walk`]).
fn original_headers<'a>(walk: &[&'a Entity]) -> Option<Cow<'a, Headers>> {
    let part = walk
        .iter()
        .find(|e| is_embedded_message(&e.mime) || is_headers_part(&e.mime));
    match part.map(|p| &p.body) {
        Some(Body::Message(_, inner)) => Some(Cow::Borrowed(&inner.headers)),
        Some(Body::Leaf(bytes)) => Some(Cow::Owned(Headers::parse(bytes).0)),
        Some(Body::Multipart(_)) => None,
        None => walk
            .iter()
            .find(|e| is_report(&e.mime))
            .and_then(|report| match &report.body {
                Body::Multipart(parts) => parts.first().map(|p| Cow::Borrowed(&p.headers)),
                _ => None,
            }),
    }
}

/// The ids of the returned message: `Message-Id`, `X-Postern-Message-Id`,
/// `X-Odoo-Message-Id`, `X-Microsoft-Original-Message-ID` of its header section, each
/// unfolded, without duplicates; when it names none, the same fields of a message returned
/// inline in the notice's text.
fn original_message_ids(original: Option<&Headers>, returned: &str) -> Vec<String> {
    let mut ids = original.map(ids_of).unwrap_or_default();
    if ids.is_empty() {
        for line in returned.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if ORIGINAL_ID_HEADERS
                .iter()
                .any(|h| name.trim().eq_ignore_ascii_case(h))
            {
                push_unique(&mut ids, unfold_references(value));
            }
        }
    }
    ids
}

fn ids_of(headers: &Headers) -> Vec<String> {
    let mut ids = Vec::new();
    for name in ORIGINAL_ID_HEADERS {
        if let Some(value) = headers.joined_raw(name, " ") {
            push_unique(&mut ids, unfold_references(&value));
        }
    }
    ids
}

fn push_unique(ids: &mut Vec<String>, more: Vec<String>) {
    for id in more {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use postern_model::address::email_split;

    use super::*;

    #[test]
    fn delivery_status_content_type() {
        for (value, expected) in [
            (
                "multipart/report; report-type=delivery-status; boundary=x",
                true,
            ),
            ("multipart/report: report-type=\"Delivery-Status\"", true),
            ("multipart/mixed; report - type = delivery - status", true),
            ("multipart/report; report-type=delivery-statu", false),
            ("report-type=\u{e9}delivery-status", false),
            ("\u{e9}report-type=delivery-status", true),
            ("report-type=delivery\u{e9}-status", false),
            ("", false),
        ] {
            let filtered: String = value
                .to_ascii_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '"')
                .collect();
            assert_eq!(
                filtered.contains("report-type=delivery-status"),
                expected,
                "{value}"
            );
            assert_eq!(says_delivery_status(value), expected, "{value}");
        }
    }

    #[test]
    fn mailer_daemon_prefilter() {
        for text in [
            "MAILER-DAEMON@x.example",
            "\"Mail Delivery System\" <mailer-daemon@x.example>",
            "mailer(comment)-daemon@x.example",
            "\"mailer\\-daemon\"",
        ] {
            assert!(may_name_mailer_daemon(text), "{text}");
        }
        for text in ["", "mailer-daemo@x.example", "\"Sender\" <s@x.example>"] {
            assert!(!may_name_mailer_daemon(text), "{text}");
        }
    }

    proptest::proptest! {
        /// The prefilter never hides a mailer-daemon address that splitting would find.
        #[test]
        fn mailer_daemon_prefilter_is_sound(
            text in "[ \"\\\\()<>@,;:.a-zA-Z-]{0,40}",
        ) {
            let daemon = email_split(&text).into_iter().next().is_some_and(|addr| {
                addr.split('@').next().is_some_and(|l| l.eq_ignore_ascii_case("mailer-daemon"))
            });
            proptest::prop_assert!(!daemon || may_name_mailer_daemon(&text));
        }

        #[test]
        fn mailer_daemon_prefilter_is_sound_near_the_name(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "mailer", "MAILER", "-", "daemon", "Daemon", "mailer-daemon", "(", ")", "\"",
                    "\\", "<", ">", "@", "x.example", " ", ",", ";", ":", ".", "m", "a", "i",
                ]),
                0..12,
            ),
        ) {
            let text = parts.concat();
            let daemon = email_split(&text).into_iter().next().is_some_and(|addr| {
                addr.split('@').next().is_some_and(|l| l.eq_ignore_ascii_case("mailer-daemon"))
            });
            proptest::prop_assert!(!daemon || may_name_mailer_daemon(&text), "{}", text);
        }
    }

    #[test]
    fn recipient_addresses() {
        assert_eq!(
            recipient_address("rfc822; Kijitora@Example.JP").as_deref(),
            Some("kijitora@example.jp")
        );
        assert_eq!(
            recipient_address("rfc822; Sylvie Lelitre <test.sylvie.lelitre@agrolait.com>")
                .as_deref(),
            Some("test.sylvie.lelitre@agrolait.com")
        );
        assert_eq!(
            recipient_address("<a@b.example>").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(recipient_address("rfc822;"), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(better_status("5.0.0", "5.1.1"), "5.1.1");
        assert_eq!(better_status("5.0.0", "4.2.2"), "5.0.0");
        assert_eq!(better_status("5.2.2", "5.1.1"), "5.2.2");
        assert_eq!(better_status("", "4.4.1"), "4.4.1");
        assert_eq!(
            diagnostic_text("smtp; 550 5.1.1\n   unknown"),
            "550 5.1.1 unknown"
        );
    }

    #[test]
    fn iso_2022_jp_diagnostics_are_decoded() {
        // "ユーザー" in 7-bit ISO-2022-JP, as Lotus Domino writes it in a Diagnostic-Code.
        assert_eq!(
            diagnostic_text("X-Notes; \u{1b}$B%f!<%6!<\u{1b}(B Neko"),
            "ユーザー Neko"
        );
        assert_eq!(diagnostic_text("smtp; 550 plain"), "550 plain");
    }

    #[test]
    fn blocks() {
        let blocks = field_blocks(
            "Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b.c\nDiagnostic-Code: smtp; 550\n  no such user\nnot a field line\n",
        );
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks[1][1],
            (
                "Diagnostic-Code".to_owned(),
                "smtp; 550 no such user".to_owned()
            )
        );
    }
}
