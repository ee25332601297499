//! The RFC 5322 bytes of an outgoing mail (behaviour reference §9.3), built with mail-builder:
//! `multipart/alternative` (text, then HTML) with attachments in a `multipart/mixed`; the
//! helper headers consumed on the way (`X-Msg-To-Add` appended to To, `X-Forge-To` replacing
//! it, `Bcc` removed); `X-Postern-Message-Id` always; custom headers overriding the others.
//!
//! Message-ID, In-Reply-To and References are written on one line each, never folded (MTAs
//! rewrite Message-IDs they find malformed, H101). Every header value is checked for CR/LF so
//! nothing given by an API caller can add a header.
//!
//! Pure: the date is given.

use crate::html::html_to_text;
use mail_builder::MessageBuilder;
use mail_builder::headers::HeaderType;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::{BodyPart, MimePart};
use postern_model::address::{
    email_ascii_domain, email_normalize, email_split_tuples, extract_rfc2822_addresses,
};

/// One file attached to a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name.
    pub filename: String,
    /// MIME type (`application/pdf`).
    pub mimetype: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// What a mail is made of when it leaves.
#[derive(Debug, Clone, Default)]
pub struct Outgoing<'a> {
    /// From header (already rewritten by the server choice).
    pub from: &'a str,
    /// To (formatted addresses).
    pub to: &'a [String],
    /// Cc.
    pub cc: &'a [String],
    /// Reply-To; the From when empty (build_email always sets one).
    pub reply_to: Option<&'a str>,
    /// Subject.
    pub subject: &'a str,
    /// Message-ID with `<>`.
    pub message_id: &'a str,
    /// HTML body.
    pub body_html: Option<&'a str>,
    /// Text body; derived from the HTML when absent.
    pub body_text: Option<&'a str>,
    /// Return-Path header (the bounce address), when any.
    pub return_path: Option<&'a str>,
    /// Extra headers, in order; they replace standard headers of the same name.
    pub headers: &'a [(String, String)],
    /// Attached files.
    pub attachments: &'a [Attachment],
    /// Date, epoch milliseconds.
    pub date_ms: i64,
}

/// Headers written by hand, never folded.
const ID_HEADERS: &[&str] = &["message-id", "in-reply-to", "references", "resent-msg-id"];
/// Helper headers consumed at send time (§9.3, and [`DELIVERY_STATUS`]).
const HELPERS: &[&str] = &[
    "x-msg-to-add",
    "x-forge-to",
    "x-msg-to-consolidate",
    "bcc",
    "x-postern-delivery-status",
];

/// The helper header that carries the report of a delivery status notification (RFC 3464):
/// the mail is then a `multipart/report; report-type=delivery-status` of its text and this
/// `message/delivery-status` part. Never written as a header.
pub const DELIVERY_STATUS: &str = "X-Postern-Delivery-Status";

fn safe(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '\r' && *c != '\n' && *c != '\0')
        .collect()
}

fn header_name_ok(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

fn address_list(items: &[String]) -> Address<'static> {
    let mut out = Vec::new();
    for item in items {
        for (name, email) in email_split_tuples(item) {
            let name = safe(&name);
            out.push(Address::new_address(
                (!name.is_empty()).then_some(name),
                safe(&email_ascii_domain(&email)),
            ));
        }
    }
    Address::new_list(out)
}

fn custom<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The To header after the helpers: `X-Forge-To` replaces it, `X-Msg-To-Add` appends the
/// addresses not already present.
fn visible_to(mail: &Outgoing) -> Vec<String> {
    let mut to: Vec<String> = match custom(mail.headers, "X-Forge-To") {
        Some(forged) => vec![forged.to_owned()],
        None => mail.to.to_vec(),
    };
    if let Some(add) = custom(mail.headers, "X-Msg-To-Add") {
        let present: Vec<String> = to
            .iter()
            .flat_map(|t| email_split_tuples(t))
            .filter_map(|(_, a)| email_normalize(&a))
            .collect();
        for (name, email) in email_split_tuples(add) {
            if email_normalize(&email).is_some_and(|n| !present.contains(&n)) {
                to.push(postern_model::address::formataddr(&name, &email));
            }
        }
    }
    to
}

fn body(mail: &Outgoing) -> MimePart<'static> {
    let html = mail.body_html.filter(|h| !h.trim().is_empty());
    let text = match (mail.body_text, html) {
        (Some(t), _) => t.to_owned(),
        (None, Some(h)) => html_to_text(h),
        (None, None) => String::new(),
    };
    let text_part = MimePart::new("text/plain", BodyPart::Text(text.into()));
    let report = mail
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(DELIVERY_STATUS));
    if let Some((_, report)) = report {
        let status = MimePart::new(
            "message/delivery-status",
            BodyPart::Text(report.clone().into()),
        )
        .transfer_encoding("7bit");
        return MimePart::new(
            ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
            vec![text_part, status],
        );
    }
    let main = match html {
        Some(h) => MimePart::new(
            "multipart/alternative",
            vec![
                text_part,
                MimePart::new("text/html", BodyPart::Text(h.to_owned().into())),
            ],
        ),
        None => text_part,
    };
    if mail.attachments.is_empty() {
        return main;
    }
    let mut parts = vec![main];
    for a in mail.attachments {
        let part = if a.mimetype.eq_ignore_ascii_case("message/rfc822") {
            // A forwarded message keeps 7bit/8bit: base64 is not allowed for message/rfc822 (H113).
            let encoding = if a.content.is_ascii() { "7bit" } else { "8bit" };
            MimePart::new("message/rfc822", BodyPart::Binary(a.content.clone().into()))
                .transfer_encoding(encoding)
                .attachment(safe(&a.filename))
        } else {
            MimePart::new(
                safe(&a.mimetype),
                BodyPart::Binary(a.content.clone().into()),
            )
            .attachment(safe(&a.filename))
        };
        parts.push(part);
    }
    MimePart::new("multipart/mixed", parts)
}

/// The message as bytes, CRLF line ends: the ID headers written by hand, then what
/// mail-builder writes (the standard headers that no custom header overrides, the custom
/// headers, the body).
pub fn build(mail: &Outgoing) -> Vec<u8> {
    let mut out = id_lines(mail).into_bytes();
    let mut b = MessageBuilder::new();
    // mail-builder writes a Message-ID of its own unless it sees one: hand it ours (one token,
    // nothing to fold) and drop the line it writes, keeping the one written above.
    b = b.header("Message-ID", HeaderType::Raw(Raw::new("x")));
    b = standard_headers(b, mail);
    b = custom_headers(b, mail);
    b = b.body(body(mail));
    let built = b.write_to_vec().unwrap_or_default();
    // Drop the placeholder Message-ID line (the first line mail-builder wrote).
    let text = built.as_slice();
    let skip = text
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(0, |p| p + 2);
    out.extend_from_slice(&text[skip..]);
    out
}

/// The ID header lines, written by hand and never folded: Message-ID, then the custom
/// In-Reply-To, References and Resent-Msg-Id in their order; blank values are left out.
fn id_lines(mail: &Outgoing) -> String {
    let mut id_lines = String::new();
    let mut write_id = |name: &str, value: &str| {
        let v = safe(value);
        if !v.trim().is_empty() {
            id_lines.push_str(&format!("{name}: {}\r\n", v.trim()));
        }
    };
    write_id("Message-ID", mail.message_id);
    for (name, value) in mail.headers {
        let lower = name.to_ascii_lowercase();
        if ID_HEADERS.contains(&lower.as_str()) && lower != "message-id" {
            write_id(name, value);
        }
    }
    id_lines
}

/// The standard headers, in this order, each unless a custom header overrides it: Date,
/// From, To (after the helpers), Cc (addresses only), Reply-To (the From when empty),
/// Subject, Return-Path (when given) and X-Postern-Message-Id.
fn standard_headers<'x>(mut b: MessageBuilder<'x>, mail: &Outgoing) -> MessageBuilder<'x> {
    let overridden = |n: &str| custom(mail.headers, n).is_some();
    if !overridden("Date") {
        b = b.date(Date::new(mail.date_ms.div_euclid(1000)));
    }
    if !overridden("From") {
        b = b.from(address_list(&[mail.from.to_owned()]));
    }
    let to = visible_to(mail);
    if !overridden("To") && !to.is_empty() {
        b = b.to(address_list(&to));
    }
    if !overridden("Cc") && !mail.cc.is_empty() {
        // The reference writes the Cc addresses without their names (case J124,
        // `recipients_formatting`: "CC formatting removed"); To keeps them.
        let bare: Vec<String> = mail
            .cc
            .iter()
            .flat_map(|c| email_split_tuples(c))
            .map(|(_, email)| email)
            .collect();
        b = b.cc(address_list(&bare));
    }
    if !overridden("Reply-To") {
        let reply_to = mail
            .reply_to
            .filter(|r| !r.trim().is_empty())
            .unwrap_or(mail.from);
        b = b.reply_to(address_list(&[reply_to.to_owned()]));
    }
    if !overridden("Subject") {
        b = b.subject(Text::new(safe(mail.subject)));
    }
    if let Some(rp) = mail.return_path.filter(|r| !r.is_empty())
        && !overridden("Return-Path")
    {
        b = b.header(
            "Return-Path",
            HeaderType::Raw(Raw::new(format!("<{}>", safe(rp)))),
        );
    }
    if !overridden("X-Postern-Message-Id") {
        b = b.header(
            "X-Postern-Message-Id",
            HeaderType::Raw(Raw::new(safe(mail.message_id))),
        );
    }
    b
}

/// The custom headers, in order, but the ID headers (written by hand), the helpers consumed
/// at send time and those whose name is not a valid field name.
fn custom_headers<'x>(mut b: MessageBuilder<'x>, mail: &Outgoing) -> MessageBuilder<'x> {
    for (name, value) in mail.headers {
        let lower = name.to_ascii_lowercase();
        if ID_HEADERS.contains(&lower.as_str()) || HELPERS.contains(&lower.as_str()) {
            continue;
        }
        if !header_name_ok(name) {
            continue;
        }
        b = b.header(name.clone(), HeaderType::Text(Text::new(safe(value))));
    }
    b
}

/// The SMTP recipients of a mail (§9.5 step 3): every address of To, Cc and Bcc, IDNA-encoded,
/// deduplicated; the items that hold no valid address are returned apart (they make the
/// `mail_email_invalid` failures).
pub fn smtp_recipients(to: &[String], cc: &[String], bcc: &[String]) -> (Vec<String>, Vec<String>) {
    let mut valid: Vec<String> = Vec::new();
    let mut invalid = Vec::new();
    for item in to.iter().chain(cc).chain(bcc) {
        let found: Vec<String> = extract_rfc2822_addresses(item)
            .into_iter()
            .filter(|a| email_normalize(a).is_some())
            .collect();
        if found.is_empty() {
            invalid.push(item.clone());
        }
        for a in found {
            if !valid.iter().any(|v| v.eq_ignore_ascii_case(&a)) {
                valid.push(a);
            }
        }
    }
    (valid, invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn a_delivery_status_notification_is_a_multipart_report() {
        let to = vec!["sender@example.org".to_owned()];
        let report = "Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; \
                      sales@example.com\r\nAction: delivered\r\nStatus: 2.0.0\r\n";
        let headers = vec![(DELIVERY_STATUS.to_owned(), report.to_owned())];
        let m = text(&build(&sample(&to, &headers)));
        assert!(m.contains("multipart/report"), "{m}");
        assert!(m.contains("report-type=\"delivery-status\""), "{m}");
        assert!(m.contains("Content-Type: message/delivery-status"), "{m}");
        assert!(m.contains("Action: delivered\r\nStatus: 2.0.0"), "{m}");
        assert!(!m.contains("X-Postern-Delivery-Status:"), "a helper: {m}");
        assert_eq!(
            m.matches("Content-Type: ").count(),
            3,
            "the report, its text, its status"
        );
    }

    fn sample<'a>(to: &'a [String], headers: &'a [(String, String)]) -> Outgoing<'a> {
        Outgoing {
            from: "\"Joé Doe\" <joe@example.com>",
            to,
            cc: &[],
            reply_to: None,
            subject: "Hello",
            message_id: "<a-very-long-message-id-made-of-many-characters-0123456789.0123456789-postern-12-crm.lead@example.com>",
            body_html: Some("<p>content</p>"),
            body_text: None,
            return_path: Some("bounce@example.com"),
            headers,
            attachments: &[],
            date_ms: 1_700_000_000_000,
        }
    }

    /// Case H110 (`send_email_IDNA`): a domain in Unicode is written in IDNA A-labels in the
    /// header, as in the envelope; the reference's encoded-word inside the domain is not
    /// valid RFC 2047.
    #[test]
    fn h110_header_domains_in_idna() {
        let to = vec!["dest@éxample.com".to_owned()];
        let mut mail = sample(&to, &[]);
        mail.from = "test@ééééééé.com";
        let m = text(&build(&mail));
        assert!(
            m.contains("From: <test@xn--9caaaaaaa.com>\r\n")
                || m.contains("From: test@xn--9caaaaaaa.com\r\n"),
            "{m}"
        );
        assert!(
            m.contains("To: <dest@xn--xample-9ua.com>\r\n")
                || m.contains("To: dest@xn--xample-9ua.com\r\n"),
            "{m}"
        );
        assert!(!m.contains("=?utf-8?b?w6nDqcOpw6nDqcOpw6k=?="), "{m}");
    }

    /// Case J124 (`recipients_formatting`): the From keeps its name, To keeps its formatting,
    /// Cc loses the names.
    #[test]
    fn j124_cc_without_names_to_and_from_formatted() {
        let to = vec!["\"Ignasse\" <ignasse@example.com>".to_owned()];
        let cc = vec![
            "\"Cécile\" <cecile@example.com>, raoul@example.com".to_owned(),
            "Robert <robert@example.com>".to_owned(),
        ];
        let mut mail = sample(&to, &[]);
        mail.from = "\"Ignasse\" <test.from@example.com>";
        mail.cc = &cc;
        let m = text(&build(&mail));
        assert!(
            m.contains("From: \"Ignasse\" <test.from@example.com>\r\n"),
            "{m}"
        );
        assert!(
            m.contains("To: \"Ignasse\" <ignasse@example.com>\r\n"),
            "{m}"
        );
        assert!(
            m.contains("Cc: <cecile@example.com>, <raoul@example.com>, <robert@example.com>\r\n")
                || m.contains("Cc: cecile@example.com, raoul@example.com, robert@example.com\r\n"),
            "{m}"
        );
    }

    #[test]
    fn h101_ids_on_one_line_and_encoded_names() {
        let to = vec!["\"Joé Doe\" <joe@example.com>".to_owned()];
        let refs = "<a-very-long-parent-id-0123456789-0123456789-0123456789@example.com> <a-very-long-message-id-made-of-many-characters-0123456789@example.com>";
        let headers = vec![("References".to_owned(), refs.to_owned())];
        let m = text(&build(&sample(&to, &headers)));
        assert!(
            m.contains(&format!("\r\nReferences: {refs}\r\n"))
                || m.starts_with(&format!("References: {refs}")),
            "{m}"
        );
        assert!(m.starts_with("Message-ID: <a-very-long-message-id-made-of-many-characters-0123456789.0123456789-postern-12-crm.lead@example.com>\r\n"));
        assert_eq!(m.matches("Message-ID:").count(), 1, "{m}");
        assert!(m.contains("From: =?utf-8?"), "{m}");
        assert!(m.contains("X-Postern-Message-Id: <a-very-long"), "{m}");
        assert!(
            m.contains("Reply-To: "),
            "Reply-To defaults to the From: {m}"
        );
        assert!(m.contains("Return-Path: <bounce@example.com>"), "{m}");
        assert!(m.contains("multipart/alternative"), "{m}");
        assert!(m.contains("text/plain") && m.contains("text/html"), "{m}");
    }

    /// The hand-written ID lines first, then the standard headers in a fixed order, then the
    /// custom ones in theirs.
    #[test]
    fn headers_in_their_order() {
        let to = vec!["a@example.com".to_owned()];
        let cc = vec!["c@example.com".to_owned()];
        let headers = vec![
            ("X-Custom".to_owned(), "1".to_owned()),
            ("References".to_owned(), "<r@example.com>".to_owned()),
            ("X-Other".to_owned(), "2".to_owned()),
            ("In-Reply-To".to_owned(), "<p@example.com>".to_owned()),
        ];
        let mut mail = sample(&to, &headers);
        mail.cc = &cc;
        let m = text(&build(&mail));
        let section = m.split("\r\n\r\n").next().unwrap_or_default();
        let names: Vec<&str> = section
            .split("\r\n")
            .filter(|l| !l.starts_with([' ', '\t']))
            .filter_map(|l| l.split_once(':').map(|(name, _)| name))
            .filter(|n| !n.eq_ignore_ascii_case("MIME-Version") && !n.starts_with("Content-"))
            .collect();
        assert_eq!(
            names,
            [
                "Message-ID",
                "References",
                "In-Reply-To",
                "Date",
                "From",
                "To",
                "Cc",
                "Reply-To",
                "Subject",
                "Return-Path",
                "X-Postern-Message-Id",
                "X-Custom",
                "X-Other",
            ],
            "{m}"
        );
    }

    #[test]
    fn x_msg_to_add_is_appended_to_to_and_consumed() {
        let to = vec!["\"Eva\" <eva@example.com>".to_owned()];
        let headers = vec![(
            "X-Msg-To-Add".to_owned(),
            "\"Eva\" <eva@example.com>, \"Robert\" <robert@customer.example>".to_owned(),
        )];
        let m = text(&build(&sample(&to, &headers)));
        let to_line = m.lines().find(|l| l.starts_with("To: ")).unwrap();
        assert!(to_line.contains("robert@customer.example"), "{to_line}");
        assert_eq!(m.matches("eva@example.com").count(), 1, "{m}");
        assert!(!m.contains("X-Msg-To-Add"));
    }

    #[test]
    fn j121_custom_headers_and_no_injection() {
        let to = vec!["a@example.com".to_owned()];
        let headers = vec![
            (
                "X-Custom".to_owned(),
                "value\r\nBcc: evil@example.com".to_owned(),
            ),
            ("Bad Name".to_owned(), "x".to_owned()),
            ("Subject".to_owned(), "Overridden".to_owned()),
        ];
        let m = text(&build(&sample(&to, &headers)));
        assert!(m.contains("X-Custom: valueBcc: evil@example.com"), "{m}");
        assert!(!m.contains("\r\nBcc:"));
        assert!(!m.contains("Bad Name"));
        assert!(
            m.contains("Subject: Overridden") && !m.contains("Subject: Hello"),
            "{m}"
        );
    }

    #[test]
    fn attachments_and_eml() {
        let to = vec!["a@example.com".to_owned()];
        let atts = vec![
            Attachment {
                filename: "report.pdf".into(),
                mimetype: "application/pdf".into(),
                content: vec![0, 1, 2, 3, 255],
            },
            Attachment {
                filename: "fwd.eml".into(),
                mimetype: "message/rfc822".into(),
                content: "Subject: é\r\n\r\nhi\r\n".as_bytes().to_vec(),
            },
        ];
        let mut mail = sample(&to, &[]);
        mail.attachments = &atts;
        let m = text(&build(&mail));
        assert!(m.contains("multipart/mixed"), "{m}");
        assert!(m.contains("report.pdf") && m.contains("base64"), "{m}");
        assert!(m.contains("Content-Transfer-Encoding: 8bit"), "{m}");
    }

    #[test]
    fn recipients_j130_j137() {
        let (ok, bad) = smtp_recipients(
            &[
                "\"Valid\" <valid@example.com>".into(),
                "not an address".into(),
                "".into(),
            ],
            &["test.😊@example.com".into(), "VALID@example.com".into()],
            &[],
        );
        assert_eq!(ok, vec!["valid@example.com", "test.😊@example.com"]);
        assert_eq!(bad.len(), 2);
    }
}
