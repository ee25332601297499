//! Header fields of one entity (the message itself, a MIME part, an embedded message or a
//! `text/rfc822-headers` block), read the way Odoo reads them through Python's
//! `email.policy.SMTP`: every occurrence of a field, unfolded (CR and LF removed, the white
//! space of continuation lines kept), RFC 2047 encoded words decoded in unstructured and
//! address fields, several occurrences joined (Odoo's `decode_message_header`).
//!
//! `mail-parser` splits the header section into fields, parses the MIME fields
//! (`Content-Type` and `Content-Disposition` with RFC 2231 parameters, `Content-ID`) and
//! decodes each encoded word; every other field is kept raw so that this module decides
//! exactly how it is read. Trusts nothing: any byte sequence gives some (possibly empty)
//! header block, never a panic.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use mail_parser::parsers::MessageStream;
use mail_parser::{ContentType, DateTime, HeaderName, HeaderValue, MessageParser};

/// `mail-parser` configured to parse the MIME fields and to skip every other field: only its
/// extent matters (the raw value is read from the bytes), so no value is built for it. Skipping
/// consumes exactly what the raw parser would (up to the line break not followed by white
/// space).
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_mime_headers()
        .default_header_ignore()
});

/// The fields of one header section.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers {
    /// Every lower-case name and raw value, one after the other (one allocation for the
    /// section); `fields` holds their ranges.
    text: String,
    /// `(lower-case name, raw value)` as ranges of `text`: the value as written after the
    /// colon, folding kept.
    fields: Vec<(Range<usize>, Range<usize>)>,
    /// The first `Content-Type`, parsed (type and sub-type lower-case, RFC 2231 decoded).
    pub(crate) content_type: Option<ContentType<'static>>,
    /// The first `Content-Disposition`, parsed like `Content-Type`.
    pub(crate) content_disposition: Option<ContentType<'static>>,
}

impl Headers {
    /// Splits `bytes` into its header section and its body: returns the fields and the offset
    /// of the body. A first line that is not a header field (nor blank) means "no header at
    /// all", as for Python (the whole entity is body).
    pub(crate) fn parse(bytes: &[u8]) -> (Headers, usize) {
        if !starts_with_field(bytes) {
            let body_start = if bytes.starts_with(b"\r\n") {
                2
            } else {
                usize::from(bytes.starts_with(b"\n"))
            };
            return (Headers::default(), body_start);
        }
        let mut stream = MessageStream::new(bytes);
        let mut parsed = Vec::new();
        let complete = stream.parse_headers(&PARSER, &mut parsed);
        let body_start = if complete {
            stream.offset()
        } else {
            bytes.len()
        };
        let mut headers = Headers {
            text: String::with_capacity(body_start + 16),
            fields: Vec::with_capacity(parsed.len()),
            ..Headers::default()
        };
        let mut other = None;
        for header in parsed {
            let start = header.offset_start as usize;
            let end = (header.offset_end as usize).min(bytes.len());
            let raw = bytes.get(start..end).unwrap_or_default();
            let slot = match header.name {
                HeaderName::ContentType => &mut headers.content_type,
                HeaderName::ContentDisposition => &mut headers.content_disposition,
                _ => &mut other,
            };
            if slot.is_none()
                && matches!(header.value, HeaderValue::ContentType(_))
                && let HeaderValue::ContentType(ct) = header.value.into_owned()
            {
                *slot = Some(ct);
            }
            let name_start = headers.text.len();
            headers.text.push_str(header.name.as_str());
            headers.text[name_start..].make_ascii_lowercase();
            let value_start = headers.text.len();
            match std::str::from_utf8(raw) {
                Ok(value) => headers.text.push_str(value),
                Err(_) => headers.text.push_str(&String::from_utf8_lossy(raw)),
            }
            let value_end = headers.text.len();
            headers
                .fields
                .push((name_start..value_start, value_start..value_end));
        }
        (headers, body_start)
    }

    /// Whether the section holds no field at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether a field `name` (any case) is present, even empty.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.raw_all(name).next().is_some()
    }

    /// The raw values of every `name` field, in order.
    pub(crate) fn raw_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| self.slice(n).eq_ignore_ascii_case(name))
            .map(|(_, v)| self.slice(v))
    }

    fn slice(&self, range: &Range<usize>) -> &str {
        self.text.get(range.clone()).unwrap_or_default()
    }

    /// The first `name` field, unfolded and stripped (Python's `message.get(name).strip()`).
    pub(crate) fn first(&self, name: &str) -> Option<String> {
        self.raw_all(name)
            .next()
            .map(|v| unfold(v).trim().to_owned())
    }

    /// Every non-empty `name` field, unfolded and stripped, joined with `separator`; `None`
    /// when there is no such field (Odoo's `decode_message_header`, without RFC 2047).
    pub(crate) fn joined_raw(&self, name: &str, separator: &str) -> Option<String> {
        self.joined(name, separator, |v| v.to_owned())
    }

    /// Like [`Headers::joined_raw`] with RFC 2047 encoded words decoded (unstructured fields
    /// such as Subject).
    pub(crate) fn joined_text(&self, name: &str, separator: &str) -> Option<String> {
        self.joined(name, separator, |v| decode_encoded_words(v, false))
    }

    /// Like [`Headers::joined_text`] for address fields: a decoded display name holding a
    /// special character (`,` `<` `@`...) is quoted, as Python's address header would render
    /// it, so that splitting the result into addresses still sees one address.
    pub(crate) fn joined_addresses(&self, name: &str) -> Option<String> {
        self.joined(name, ",", |v| decode_encoded_words(v, true))
    }

    fn joined(&self, name: &str, separator: &str, read: impl Fn(&str) -> String) -> Option<String> {
        let mut values = self.raw_all(name).peekable();
        values.peek()?;
        let parts: Vec<String> = values
            .map(|v| read(unfold(v).trim()))
            .filter(|v| !v.is_empty())
            .collect();
        Some(parts.join(separator))
    }

    /// A `Content-Type` or `Content-Disposition` parameter (lower-case `name`), else `None`.
    pub(crate) fn param(&self, field: &str, name: &str) -> Option<String> {
        let parsed = if field.eq_ignore_ascii_case("content-type") {
            self.content_type.as_ref()
        } else {
            self.content_disposition.as_ref()
        };
        let from_parser = parsed.and_then(|ct| {
            ct.attributes()?
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .map(|a| a.value.to_string())
        });
        from_parser.or_else(|| {
            // `Content-Disposition: filename=x.pdf` (no disposition type) is read by Python as
            // a parameter, while `mail-parser` takes it for the type: look in the raw value.
            let raw = unfold(self.raw_all(field).next()?);
            raw_param(&raw, name)
        })
    }
}

/// Whether `bytes` starts with something shaped like a header field (`name:`), or is an
/// empty header section. Leading white space is not a field.
fn starts_with_field(bytes: &[u8]) -> bool {
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let line = &bytes[..line_end];
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = &line[..colon];
    let name = name.trim_ascii_end();
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_graphic())
}

/// `name=value` or `name="value"` in a raw parameter list (`;`-separated), case-insensitive.
fn raw_param(raw: &str, name: &str) -> Option<String> {
    raw.split(';').find_map(|item| {
        let (key, value) = item.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case(name) {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Some(decode_encoded_words(value, false))
    })
}

/// Removes the line breaks of a folded value (CR and LF; the white space that starts each
/// continuation line stays), as Python's `email.policy` does when a header is read.
pub(crate) fn unfold(value: &str) -> Cow<'_, str> {
    let is_break = |b: &u8| matches!(b, b'\r' | b'\n');
    if !value.as_bytes().iter().any(is_break) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    // CR and LF are ASCII: every piece between them is whole UTF-8.
    for piece in value.split(['\r', '\n']) {
        out.push_str(piece);
    }
    Cow::Owned(out)
}

/// Decodes the RFC 2047 encoded words of `value` with `mail-parser`'s decoder (every charset
/// it knows, `iso-8859-8-i` and `windows-874` included; an unknown charset is read as
/// UTF-8). White space between two adjacent encoded words is dropped (RFC 2047 §6.2). With
/// `quote_specials`, a decoded word holding an RFC 5322 special outside a quoted string is
/// put in double quotes.
pub(crate) fn decode_encoded_words(value: &str, quote_specials: bool) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut after_word = false;
    let mut in_quotes = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        let mut stream = MessageStream::new(&candidate.as_bytes()[1..]);
        let word = stream
            .decode_rfc2047()
            .and_then(|decoded| Some((decoded, candidate.get(1 + stream.offset()..)?)));
        let Some((decoded, after)) = word else {
            out.push_str(before);
            out.push_str("=?");
            in_quotes ^= count_quotes(before) % 2 == 1;
            rest = &candidate[2..];
            after_word = false;
            continue;
        };
        if !(after_word && before.chars().all(char::is_whitespace)) {
            out.push_str(before);
            in_quotes ^= count_quotes(before) % 2 == 1;
        }
        if quote_specials && !in_quotes && decoded.contains(is_special) {
            out.push('"');
            out.push_str(&decoded.replace('\\', "\\\\").replace('"', "\\\""));
            out.push('"');
        } else {
            out.push_str(&decoded);
        }
        rest = after;
        after_word = true;
    }
    out.push_str(rest);
    out
}

fn count_quotes(text: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => count += 1,
            _ => {}
        }
    }
    count
}

fn is_special(c: char) -> bool {
    "()<>@,;:\\\".[]".contains(c)
}

/// Every `<id>` token of a Message-Id, In-Reply-To or References value, with the white space
/// (`\r`, `\n`, `\t`, space) inside each token removed and its `<>` kept (Odoo's
/// `unfold_references`, behaviour reference §3.1): `<a.b\r\n  c@d>` gives `<a.bc@d>`.
pub fn unfold_references(value: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        match after.find(['<', '>']) {
            Some(i) if after.as_bytes()[i] == b'>' && i > 0 => {
                let inner: String = after[..i]
                    .chars()
                    .filter(|c| !matches!(c, '\r' | '\n' | '\t' | ' '))
                    .collect();
                ids.push(format!("<{inner}>"));
                rest = &after[i + 1..];
            }
            Some(i) => rest = &after[i..],
            None => break,
        }
    }
    ids
}

/// The address of a `Return-Path` value: the text between `<` and `>` (`""` for `<>`), or
/// the stripped value when it has no angle brackets.
pub(crate) fn return_path_address(value: &str) -> String {
    let value = value.trim();
    match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => value[open + 1..close].trim().to_owned(),
        _ => value.to_owned(),
    }
}

/// A `Date` value as Unix epoch milliseconds (UTC): RFC 5322 first, then RFC 3339, with
/// `mail-parser`'s lenient parsers; `None` when neither gives a valid date.
pub(crate) fn parse_date(value: &str) -> Option<i64> {
    [
        DateTime::parse_rfc822(value),
        DateTime::parse_rfc3339(value),
    ]
    .into_iter()
    .flatten()
    .find(DateTime::is_valid)
    .map(|date| date.to_timestamp().saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfold_references_repairs_folded_ids() {
        assert_eq!(
            unfold_references(
                "<2233@a.com>\r\n\t<3edss_dsa@b.com> <ThisIsTooMuchFake.Monster\r\n  Email.789@agrolait.com>"
            ),
            vec![
                "<2233@a.com>",
                "<3edss_dsa@b.com>",
                "<ThisIsTooMuchFake.MonsterEmail.789@agrolait.com>"
            ]
        );
        assert_eq!(unfold_references("no id, <> <a<b@c> d>"), vec!["<b@c>"]);
        assert!(unfold_references("").is_empty());
    }

    #[test]
    fn encoded_words_are_decoded_and_joined() {
        assert_eq!(
            decode_encoded_words(
                "=?UTF-8?Q?Fr=C3=A9d=C3=A9ric?= =?UTF-8?Q?_BLACHON?= <a@b>",
                false
            ),
            "Frédéric BLACHON <a@b>"
        );
        assert_eq!(
            decode_encoded_words("Re: =?utf-8?q?x?= y", false),
            "Re: x y"
        );
        assert_eq!(decode_encoded_words("=?broken", false), "=?broken");
        assert_eq!(
            decode_encoded_words("=?utf-8?q?Doe=2C_John?= <j@x.com>", true),
            "\"Doe, John\" <j@x.com>"
        );
        assert_eq!(
            decode_encoded_words("\"=?utf-8?q?Doe=2C_John?=\" <j@x.com>", true),
            "\"Doe, John\" <j@x.com>"
        );
    }

    #[test]
    fn headers_are_read_like_python() {
        let raw = b"Subject: =?utf-8?q?Hello?=\n  world\nSubject: again\nX-Empty:\nReturn-Path: <>\n\nbody";
        let (headers, body) = Headers::parse(raw);
        assert_eq!(&raw[body..], b"body");
        assert_eq!(
            headers.joined_text("subject", " ").as_deref(),
            Some("Hello  world again")
        );
        assert_eq!(headers.joined_raw("x-empty", ",").as_deref(), Some(""));
        assert_eq!(headers.joined_raw("x-absent", ","), None);
        assert_eq!(
            return_path_address(&headers.first("return-path").unwrap_or_default()),
            ""
        );
        assert_eq!(return_path_address(" <MAILER-DAEMON> "), "MAILER-DAEMON");
        assert_eq!(return_path_address("bounce@x.com"), "bounce@x.com");
    }

    #[test]
    fn a_body_without_header_is_all_body() {
        let (headers, body) = Headers::parse(b"hello\n--x--\n");
        assert!(headers.is_empty());
        assert_eq!(body, 0);
        let (headers, body) = Headers::parse(b"\nhello");
        assert!(headers.is_empty());
        assert_eq!(body, 1);
    }

    #[test]
    fn raw_parameters_are_a_fallback() {
        let (headers, _) = Headers::parse(b"Content-Disposition: filename=thetruth.pdf\n\n");
        assert_eq!(
            headers.param("content-disposition", "filename").as_deref(),
            Some("thetruth.pdf")
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("Fri, 10 Aug 2012 14:16:26 +0000"),
            Some(1_344_608_186_000)
        );
        assert_eq!(
            parse_date("Thu, 8 Jul 2021 12:30:11 +0200 (CEST)"),
            Some(1_625_740_211_000)
        );
        assert_eq!(parse_date("garbage"), None);
        assert_eq!(parse_date(""), None);
    }
}
