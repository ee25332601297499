//! The MIME tree of a message: each entity with its header fields, its effective content
//! type, and its content (sub-parts, an embedded message, or transfer-decoded bytes).
//!
//! The RFC 2231/2047 parameters and the charsets come from `mail-parser`; the header
//! sections are split (`headers`) and base64 and quoted-printable decoded here exactly as
//! `mail-parser` does (checked against it by the tests), only faster: a message is read
//! without copying (the tree borrows the message's bytes; only transfer-decoded content is
//! owned) and checked as UTF-8 once. The multipart bodies are split here, as Python's
//! `email.feedparser` splits them (which Odoo's behaviour rests on), because `mail-parser`
//! 0.11 takes a `--boundary` anywhere in a line for a delimiter (its issue #156, fixed only
//! in 1.0, which needs a newer toolchain) and lets an unclosed inner multipart swallow the
//! parts of its parent. Here a delimiter is a whole line: `--boundary`, optionally `--`,
//! optionally trailing blanks (RFC 2046 §5.1.1); an outer delimiter ends the inner parts
//! because each multipart is split inside the slice its parent gave it.
//!
//! Total: any bytes give a tree (nesting is cut at [`MAX_DEPTH`]); decoding errors fall back to
//! lenient decoders or to the raw bytes, never to an error.

use std::borrow::Cow;
use std::ops::Range;

use mail_parser::decoders::charsets::map::charset_decoder;

use crate::headers::{Headers, find_byte_pair};

/// Deepest nesting of multiparts and embedded messages that is parsed; deeper entities are
/// kept as opaque leaves.
pub(crate) const MAX_DEPTH: usize = 32;

/// One MIME entity. Its content borrows the bytes of the message when no transfer encoding
/// had to be undone (`'a`).
#[derive(Debug, Clone)]
pub(crate) struct Entity<'a> {
    /// Its header fields.
    pub(crate) headers: Headers,
    /// The effective type, lower-case `type/subtype` (see [`effective_type`]).
    pub(crate) mime: String,
    /// Its content.
    pub(crate) body: Body<'a>,
}

/// The content of an entity.
#[derive(Debug, Clone)]
pub(crate) enum Body<'a> {
    /// `multipart/*`: the sub-parts, in order.
    Multipart(Vec<Entity<'a>>),
    /// `message/rfc822` or `message/global`: the embedded message's bytes (transfer-decoded)
    /// and its own tree.
    Message(Cow<'a, [u8]>, Box<Entity<'a>>),
    /// Anything else: the transfer-decoded bytes.
    Leaf(Cow<'a, [u8]>),
}

impl<'a> Entity<'a> {
    /// Parses a whole message (or embedded message): headers, then the body by its type.
    pub(crate) fn parse(bytes: &'a [u8]) -> Entity<'a> {
        // Checked as UTF-8 once: every part is then a slice of that text.
        let text = std::str::from_utf8(bytes).ok();
        Self::parse_with_default(bytes, text, "text/plain", 0)
    }

    /// `text`: `bytes` as UTF-8, when they are.
    fn parse_with_default(
        bytes: &'a [u8],
        text: Option<&'a str>,
        default_type: &str,
        depth: usize,
    ) -> Entity<'a> {
        let (headers, body_start) = Headers::parse_text(bytes, text);
        let raw_body = bytes.get(body_start..).unwrap_or_default();
        let body_text = text.and_then(|t| t.get(body_start..));
        let mime = effective_type(&headers, default_type);
        let body = if depth >= MAX_DEPTH {
            Body::Leaf(Cow::Borrowed(raw_body))
        } else if mime.starts_with("multipart/") {
            match headers
                .param("content-type", "boundary")
                .filter(|b| !b.is_empty())
                .and_then(|b| split_multipart_ranges(raw_body, b.as_bytes()))
            {
                Some(parts) => {
                    let child_default = if mime == "multipart/digest" {
                        "message/rfc822"
                    } else {
                        "text/plain"
                    };
                    Body::Multipart(
                        parts
                            .into_iter()
                            .map(|r| {
                                let text = body_text.and_then(|t| t.get(r.clone()));
                                let part = &raw_body[r];
                                Self::parse_with_default(part, text, child_default, depth + 1)
                            })
                            .collect(),
                    )
                }
                // No boundary, or no delimiter line: Python keeps the body as text (and Odoo
                // then drops it as a multipart container); it is kept here as a leaf so that
                // the walk in `body` can still turn it into text.
                None => Body::Leaf(Cow::Borrowed(raw_body)),
            }
        } else if is_embedded_message(&mime) {
            match transfer_decode(&headers, raw_body) {
                // Not encoded: the body itself.
                Cow::Borrowed(decoded) => {
                    let inner =
                        Self::parse_with_default(decoded, body_text, "text/plain", depth + 1);
                    Body::Message(Cow::Borrowed(decoded), Box::new(inner))
                }
                // Decoded bytes are the entity's own: the tree below them is copied out.
                Cow::Owned(decoded) => {
                    let text = std::str::from_utf8(&decoded).ok();
                    let inner = Entity::parse_with_default(&decoded, text, "text/plain", depth + 1)
                        .into_owned();
                    Body::Message(Cow::Owned(decoded), Box::new(inner))
                }
            }
        } else {
            Body::Leaf(transfer_decode(&headers, raw_body))
        };
        Entity {
            headers,
            mime,
            body,
        }
    }

    /// The same entity owning all its content.
    fn into_owned(self) -> Entity<'static> {
        let body = match self.body {
            Body::Multipart(parts) => {
                Body::Multipart(parts.into_iter().map(Entity::into_owned).collect())
            }
            Body::Message(bytes, inner) => {
                Body::Message(Cow::Owned(bytes.into_owned()), Box::new(inner.into_owned()))
            }
            Body::Leaf(bytes) => Body::Leaf(Cow::Owned(bytes.into_owned())),
        };
        Entity {
            headers: self.headers,
            mime: self.mime,
            body,
        }
    }

    /// The main type (`text` of `text/plain`).
    pub(crate) fn maintype(&self) -> &str {
        self.mime.split('/').next().unwrap_or_default()
    }

    /// This entity then every entity below it, depth first (Python's `Message.walk`, which
    /// also enters embedded messages).
    pub(crate) fn walk(&self) -> Vec<&Entity<'a>> {
        let mut out = Vec::new();
        self.walk_into(&mut out);
        out
    }

    fn walk_into<'s>(&'s self, out: &mut Vec<&'s Entity<'a>>) {
        out.push(self);
        match &self.body {
            Body::Multipart(parts) => parts.iter().for_each(|p| p.walk_into(out)),
            Body::Message(_, inner) => inner.walk_into(out),
            Body::Leaf(_) => {}
        }
    }

    /// The content bytes: the leaf's decoded bytes, or the embedded message's bytes.
    pub(crate) fn content_bytes(&self) -> &[u8] {
        match &self.body {
            Body::Leaf(bytes) | Body::Message(bytes, _) => bytes,
            Body::Multipart(_) => &[],
        }
    }

    /// The content as text: decoded with the declared charset (see [`decode_text`]), line
    /// breaks normalised to `\n`.
    pub(crate) fn text(&self) -> String {
        let charset = self.headers.param("content-type", "charset");
        normalize_newlines(decode_text(self.content_bytes(), charset.as_deref()))
    }

    /// [`Entity::text`] of at most `limit` bytes of the content, and whether there was more
    /// (what the body needs: it is clipped anyway, and a huge text is not decoded whole).
    pub(crate) fn text_prefix(&self, limit: usize) -> (String, bool) {
        let bytes = self.content_bytes();
        let cut = bytes.len() > limit;
        let bytes = &bytes[..bytes.len().min(limit)];
        let charset = self.headers.param("content-type", "charset");
        (
            without_nul(normalize_newlines(decode_text(bytes, charset.as_deref()))),
            cut,
        )
    }

    /// The file name: `filename` of `Content-Disposition`, else `name` of `Content-Type`
    /// (RFC 2231 and RFC 2047 decoded), stripped; `None` when absent or blank (Python's
    /// `get_filename`).
    pub(crate) fn filename(&self) -> Option<String> {
        self.headers
            .param("content-disposition", "filename")
            .or_else(|| self.headers.param("content-type", "name"))
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
    }

    /// `Content-ID` without white space and without the surrounding `<>`.
    pub(crate) fn content_id(&self) -> Option<String> {
        self.headers
            .first("content-id")
            .map(|id| id.trim_matches(['<', '>']).trim())
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    }

    /// Whether `Content-Disposition` says `attachment` (any case).
    pub(crate) fn is_attachment_disposition(&self) -> bool {
        self.headers.first("content-disposition").is_some_and(|d| {
            d.as_bytes()
                .get(..b"attachment".len())
                .is_some_and(|start| start.eq_ignore_ascii_case(b"attachment"))
        })
    }
}

/// `message/rfc822` and `message/global` hold a message that is parsed and walked into;
/// other `message/*` types (delivery-status, disposition-notification, partial...) are leaves.
pub(crate) fn is_embedded_message(mime: &str) -> bool {
    mime == "message/rfc822" || mime == "message/global"
}

/// The effective content type, lower-case: the declared `type/subtype`; `default` (text/plain,
/// or message/rfc822 inside multipart/digest) when absent or invalid (no sub-type), as
/// Python's `get_content_type`; with Odoo's two repairs: `binary/octet-stream` →
/// `application/octet-stream`, and a bare `pdf` type (`Content-Type: pdf;`) → `application/pdf`.
fn effective_type(headers: &Headers, default: &str) -> String {
    let Some(ct) = &headers.content_type else {
        return default.to_owned();
    };
    let maintype = ct.ctype().trim();
    let subtype = ct.subtype().map(str::trim);
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match subtype {
        Some(s) if is(maintype, "binary") && is(s, "octet-stream") => {
            "application/octet-stream".to_owned()
        }
        None if is(maintype, "pdf") => "application/pdf".to_owned(),
        Some(s) if !maintype.is_empty() && !s.is_empty() => {
            let mut mime = String::with_capacity(maintype.len() + s.len() + 1);
            mime.push_str(maintype);
            mime.push('/');
            mime.push_str(s);
            mime.make_ascii_lowercase();
            mime
        }
        _ => default.to_owned(),
    }
}

/// Splits a multipart body at its delimiter lines. `None` when no delimiter line is found
/// (the body is then not a multipart at all). The preamble and the epilogue are dropped; a
/// missing close delimiter ends the last part at the end of `body`; the line break before a
/// delimiter belongs to the delimiter (RFC 2046 §5.1.1).
#[cfg(test)]
pub(crate) fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Option<Vec<&'a [u8]>> {
    let ranges = split_multipart_ranges(body, boundary)?;
    Some(ranges.into_iter().map(|r| &body[r]).collect())
}

/// [`split_multipart`] giving the parts as ranges of `body`.
fn split_multipart_ranges(body: &[u8], boundary: &[u8]) -> Option<Vec<Range<usize>>> {
    let mut parts = Vec::new();
    let mut current: Option<usize> = None;
    let mut found = false;
    // Only lines starting with `-` can be delimiters: the dashes are searched, not the lines.
    let mut from = 0;
    while let Some(pos) = find_byte_pair(body, from, b'-', b'-') {
        if pos > 0 && body[pos - 1] != b'\n' {
            from = pos + 1;
            continue;
        }
        let line_end = find_byte_pair(body, pos, b'\n', b'\n').unwrap_or(body.len());
        let next = (line_end + 1).min(body.len());
        if let Some(close) = delimiter(&body[pos..line_end], boundary) {
            found = true;
            if let Some(start) = current {
                parts.push(start..content_end(body, start, pos));
            }
            if close {
                return Some(parts);
            }
            current = Some(next);
        }
        from = next.max(pos + 1);
    }
    if let Some(start) = current {
        parts.push(start.min(body.len())..body.len());
    }
    found.then_some(parts)
}

/// Whether `line` is a delimiter of `boundary`: `Some(true)` for the close delimiter.
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (close, rest) = match rest.strip_prefix(b"--") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    rest.iter()
        .all(|&b| matches!(b, b' ' | b'\t' | b'\r'))
        .then_some(close)
}

/// The end of a part's content that a delimiter line at `delimiter_start` closes.
fn content_end(body: &[u8], start: usize, delimiter_start: usize) -> usize {
    let mut end = delimiter_start;
    if end > start && body[end - 1] == b'\n' {
        end -= 1;
        if end > start && body[end - 1] == b'\r' {
            end -= 1;
        }
    }
    end.max(start)
}

/// Undoes `Content-Transfer-Encoding`: base64 and quoted-printable with `mail-parser`'s MIME
/// decoders, else with lenient decoders (as Python's, which never fail); any other encoding
/// (7bit, 8bit, binary, unknown) gives the bytes as they are.
fn transfer_decode<'a>(headers: &Headers, raw: &'a [u8]) -> Cow<'a, [u8]> {
    let encoding = headers
        .first("content-transfer-encoding")
        .unwrap_or_default();
    let is = |name: &str| encoding.eq_ignore_ascii_case(name);
    match () {
        () if is("base64") => Cow::Owned(base64_mime(raw).unwrap_or_else(|| lenient_base64(raw))),
        () if is("quoted-printable") => {
            Cow::Owned(quoted_printable(raw).unwrap_or_else(|| lenient_quoted_printable(raw)))
        }
        _ => Cow::Borrowed(raw),
    }
}

/// Base64 exactly as `mail-parser`'s MIME decoder (`decode_base64_mime` without a boundary)
/// reads a whole part, four characters at a time where it can: blanks and line breaks are
/// skipped, a `=` writes the bytes of an unfinished group (a lone sextet gives its six bits as
/// a byte) and starts a new one, an unfinished group at the end is dropped. `None` where
/// `mail-parser` fails: any other byte outside the alphabet, or `--`.
fn base64_mime(raw: &[u8]) -> Option<Vec<u8>> {
    const INVALID: u8 = 0xff;
    const fn table() -> [u8; 256] {
        let mut t = [INVALID; 256];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut i = 0;
        while i < 64 {
            t[alphabet[i] as usize] = i as u8;
            i += 1;
        }
        t
    }
    static DECODE: [u8; 256] = table();
    let sextet = |b: u8| DECODE[usize::from(b)];
    let mut out = Vec::with_capacity(raw.len() / 4 * 3);
    let mut group: u32 = 0;
    let mut count = 0;
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if count == 0
            && let Some(&[a, b, c, d]) = raw.get(i..i + 4)
        {
            let (a, b, c, d) = (sextet(a), sextet(b), sextet(c), sextet(d));
            if (a | b | c | d) & 0xc0 == 0 {
                let word =
                    u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
                out.extend_from_slice(&word.to_be_bytes()[1..]);
                i += 4;
                continue;
            }
        }
        match sextet(b) {
            INVALID => match b {
                b'=' => {
                    match count {
                        1 => out.push((group << 2) as u8),
                        2 => out.push((group >> 4) as u8),
                        3 => out.extend_from_slice(&[(group >> 10) as u8, (group >> 2) as u8]),
                        _ => {}
                    }
                    group = 0;
                    count = 0;
                }
                b'\n' | b' ' | b'\t' | b'\r' => {}
                b'-' if i == 0 || raw[i - 1] != b'-' => {}
                _ => return None,
            },
            value => {
                group = group << 6 | u32::from(value);
                count += 1;
                if count == 4 {
                    out.extend_from_slice(&group.to_be_bytes()[1..]);
                    group = 0;
                    count = 0;
                }
            }
        }
        i += 1;
    }
    Some(out)
}

/// Quoted-printable exactly as `mail-parser`'s MIME decoder (`decode_quoted_printable_mime`
/// without a boundary) reads a whole part, written here to copy runs of literal bytes at once
/// instead of byte by byte: `=XX` decoded (either case), `=` before the line break a soft
/// break, white space at the end of a line dropped, `\r` dropped (and once one is seen, line
/// breaks are written `\r\n`), an `=` that is neither kept as it is with what follows.
/// `None` where `mail-parser` fails (an `=` right after an unfinished `=` or `=X`).
fn quoted_printable(raw: &[u8]) -> Option<Vec<u8>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Literal,
        Equals,
        /// After `=` and one hex digit (its value).
        Hex(u8),
    }
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut state = State::Literal;
    let mut trailing_blanks = 0;
    let mut line_break: &[u8] = b"\n";
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match (b, state) {
            (b'=', State::Literal) => state = State::Equals,
            (b'=', _) => return None,
            (b'\n', State::Equals) => {
                state = State::Literal;
                trailing_blanks = 0;
            }
            (b'\n', _) => {
                out.truncate(out.len() - trailing_blanks);
                out.extend_from_slice(line_break);
                trailing_blanks = 0;
            }
            (b'\r', _) => line_break = b"\r\n",
            (_, State::Literal) => {
                let run = raw[i..]
                    .iter()
                    .position(|&c| matches!(c, b'=' | b'\n' | b'\r'))
                    .map_or(&raw[i..], |n| &raw[i..i + n]);
                out.extend_from_slice(run);
                let blanks = run
                    .iter()
                    .rev()
                    .take_while(|c| c.is_ascii_whitespace())
                    .count();
                trailing_blanks = if blanks == run.len() {
                    trailing_blanks + blanks
                } else {
                    blanks
                };
                i += run.len();
                continue;
            }
            (_, State::Equals) => match hex(b) {
                Some(high) => state = State::Hex(high),
                None if b.is_ascii_whitespace() => {}
                None => {
                    state = State::Literal;
                    out.extend_from_slice(&[b'=', b]);
                    trailing_blanks = 0;
                }
            },
            (_, State::Hex(high)) => {
                state = State::Literal;
                trailing_blanks = 0;
                match hex(b) {
                    Some(low) => out.push((high << 4) | low),
                    // The byte before: the first digit, or a line break read in between.
                    None => out.extend_from_slice(&[b'=', raw[i - 1], b]),
                }
            }
        }
        i += 1;
    }
    Some(out)
}

/// Base64 that skips every byte outside the alphabet and stops at the padding (Python's
/// non-strict `binascii.a2b_base64`).
fn lenient_base64(raw: &[u8]) -> Vec<u8> {
    fn value(b: u8) -> Option<u32> {
        match b {
            b'A'..=b'Z' => Some(u32::from(b - b'A')),
            b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(raw.len() / 4 * 3);
    let mut group = 0u32;
    let mut count = 0;
    for &b in raw {
        if b == b'=' {
            break;
        }
        let Some(v) = value(b) else { continue };
        group = (group << 6) | v;
        count += 1;
        if count == 4 {
            out.extend_from_slice(&group.to_be_bytes()[1..]);
            group = 0;
            count = 0;
        }
    }
    match count {
        2 => out.push((group >> 4) as u8),
        3 => out.extend_from_slice(&((group >> 2) as u16).to_be_bytes()),
        _ => {}
    }
    out
}

/// Quoted-printable where a `=` not followed by two hex digits stays as it is, `=` at the end
/// of a line is a soft break, and trailing blanks are dropped (Python's `quopri`).
fn lenient_quoted_printable(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let has_newline = line.ends_with(b"\n");
        let content = line.trim_ascii_end();
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(c) => (c, true),
            None => (content, false),
        };
        let mut i = 0;
        while i < content.len() {
            let hex = |j: usize| content.get(j).and_then(|&b| (b as char).to_digit(16));
            match (content[i], hex(i + 1), hex(i + 2)) {
                (b'=', Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                (b, _, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        if has_newline && !soft {
            out.push(b'\n');
        }
    }
    out
}

/// Decodes text with its declared charset through `mail-parser`'s charset table: no charset
/// or an unknown one → UTF-8 (Odoo forces UTF-8 on a `text/*` part without charset); a
/// declared `us-ascii` on valid UTF-8 → UTF-8 (a common mislabel, read by Python as `\u{fffd}`).
/// Undecodable bytes become U+FFFD.
pub(crate) fn decode_text<'b>(bytes: &'b [u8], charset: Option<&str>) -> Cow<'b, str> {
    let charset = charset.map(str::trim).unwrap_or_default();
    let ascii_label = ["us-ascii", "ascii", "ansi_x3.4-1968"]
        .iter()
        .any(|label| charset.eq_ignore_ascii_case(label));
    if charset.is_empty() || (ascii_label && std::str::from_utf8(bytes).is_ok()) {
        return utf8_lossy(bytes);
    }
    // `charset_decoder` reads the label in any ASCII case.
    match charset_decoder(charset.as_bytes()) {
        Some(decode) => Cow::Owned(decode(bytes)),
        None => utf8_lossy(bytes),
    }
}

/// `String::from_utf8_lossy(bytes)`: borrowed when the bytes are valid UTF-8 (nearly every
/// text), so that a large body is not copied before its line ends are normalised.
fn utf8_lossy(bytes: &[u8]) -> Cow<'_, str> {
    // `from_utf8` first: it checks valid text several times faster than `from_utf8_lossy`'s
    // chunk by chunk walk (3% of the SMTP listener's CPU with 100 KiB messages).
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// `text` with each NUL character replaced by U+FFFD, as HTML parsing does: a NUL is no text,
/// and PostgreSQL refuses it in a `TEXT` column (a message holding one could never be stored).
pub(crate) fn without_nul(text: String) -> String {
    if memchr::memchr(0, text.as_bytes()).is_none() {
        return text;
    }
    text.replace('\0', "\u{fffd}")
}

/// `\r\n` and lone `\r` become `\n`, in one pass into a string of the right size (the `\r`
/// found with `memchr`'s vector search).
pub(crate) fn normalize_newlines(text: Cow<'_, str>) -> String {
    let bytes = text.as_bytes();
    let mut crs = memchr::memchr_iter(b'\r', bytes).peekable();
    if crs.peek().is_none() {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    for at in crs {
        // `\r` is ASCII: `at` is a character boundary.
        out.push_str(&text[start..at]);
        out.push('\n');
        start = at + 1;
        if bytes.get(start) == Some(&b'\n') {
            start += 1;
        }
    }
    out.push_str(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use mail_parser::parsers::MessageStream;

    use super::*;

    #[test]
    fn delimiters_are_whole_lines() {
        let body = b"preamble\n--b\nA: 1\n\none --b two\n--b\n\ntwo\n--b--\nepilogue";
        let parts = split_multipart(body, b"b").unwrap_or_default();
        assert_eq!(parts, vec![&b"A: 1\n\none --b two"[..], &b"\ntwo"[..]]);
    }

    #[test]
    fn a_boundary_prefix_is_not_a_delimiter() {
        let body = b"--b\r\nx\r\n--bb\r\ny\r\n--b-- \r\n";
        let parts = split_multipart(body, b"b").unwrap_or_default();
        assert_eq!(parts, vec![&b"x\r\n--bb\r\ny"[..]]);
    }

    /// The line-by-line reading the dash search replaces.
    fn split_by_lines(body: &[u8], boundary: &[u8]) -> Option<Vec<Range<usize>>> {
        let mut parts = Vec::new();
        let mut current: Option<usize> = None;
        let mut found = false;
        let mut pos = 0;
        while pos < body.len() {
            let line_end = body[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(body.len(), |i| pos + i);
            let next = (line_end + 1).min(body.len());
            if let Some(close) = delimiter(&body[pos..line_end], boundary) {
                found = true;
                if let Some(start) = current {
                    parts.push(start..content_end(body, start, pos));
                }
                if close {
                    return Some(parts);
                }
                current = Some(next);
            }
            pos = next;
        }
        if let Some(start) = current {
            parts.push(start.min(body.len())..body.len());
        }
        found.then_some(parts)
    }

    proptest::proptest! {
        #[test]
        fn multiparts_are_split_as_line_by_line(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "--b", "--b--", "--", "-", "b", "x", "\n", "\r\n", " ", "\t", "--bb", "-b",
                ]),
                0..24,
            )
        ) {
            let body = parts.concat();
            proptest::prop_assert_eq!(
                split_multipart_ranges(body.as_bytes(), b"b"),
                split_by_lines(body.as_bytes(), b"b")
            );
        }
    }

    #[test]
    fn unclosed_and_missing() {
        assert_eq!(
            split_multipart(b"--b\nlast", b"b").unwrap_or_default(),
            vec![&b"last"[..]]
        );
        assert_eq!(split_multipart(b"no delimiter", b"b"), None);
        assert_eq!(
            split_multipart(b"--b\n--b\n--b--", b"b").unwrap_or_default(),
            vec![&b""[..], &b""[..]]
        );
    }

    /// `mail-parser`'s own reading, which [`quoted_printable`] must give byte for byte.
    fn mail_parser_quoted_printable(raw: &[u8]) -> Option<Vec<u8>> {
        let (end, decoded) = MessageStream::new(raw).decode_quoted_printable_mime(b"");
        (end != usize::MAX).then(|| decoded.into_owned())
    }

    #[test]
    fn quoted_printable_is_mail_parsers() {
        for raw in [
            &b""[..],
            b"plain",
            b"a=3D=c3=A9 \r\nb=\r\nc=zz",
            b"x  \t\ny \n=\n  =\n",
            b"=A\nB",
            b"=A\r\n=",
            b"==",
            b"=A=",
            b"= \t\nz",
            b"=\x0c=41",
            b"=g=",
            b"caf\xe9 \r",
        ] {
            assert_eq!(
                quoted_printable(raw),
                mail_parser_quoted_printable(raw),
                "{raw:?}"
            );
        }
    }

    fn mail_parser_base64(raw: &[u8]) -> Option<Vec<u8>> {
        let (end, decoded) = MessageStream::new(raw).decode_base64_mime(b"");
        (end != usize::MAX).then(|| decoded.into_owned())
    }

    #[test]
    fn base64_is_mail_parsers() {
        for raw in [
            &b""[..],
            b"SGVsbG8=",
            b"SGVsbG8gV29ybGQ=\r\n",
            b"SGk",
            b"S=Gk=",
            b"SGVs\nbG8-x",
            b"SGVs--bG8",
            b"SG!k",
            b"S\t G\r\nV\x00",
            b"-",
            b"====",
        ] {
            assert_eq!(base64_mime(raw), mail_parser_base64(raw), "{raw:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn base64_is_mail_parsers_on_any_bytes(
            raw in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => proptest::sample::select(
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".to_vec()
                    ),
                    2 => proptest::sample::select(b"=\r\n \t-".to_vec()),
                    1 => proptest::prelude::any::<u8>(),
                ],
                0..64,
            )
        ) {
            proptest::prop_assert_eq!(base64_mime(&raw), mail_parser_base64(&raw));
        }

        #[test]
        fn quoted_printable_is_mail_parsers_on_any_bytes(
            raw in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"=\r\n \t\x0caAfFgG09-".to_vec()),
                    proptest::prelude::any::<u8>(),
                ],
                0..64,
            )
        ) {
            proptest::prop_assert_eq!(quoted_printable(&raw), mail_parser_quoted_printable(&raw));
        }
    }

    #[test]
    fn lenient_decoders() {
        assert_eq!(lenient_base64(b"SGVs!bG8=\n"), b"Hello");
        assert_eq!(lenient_base64(b"SGk"), b"Hi");
        assert_eq!(
            lenient_quoted_printable(b"a==3D=C3=A9 \r\nb=\r\nc=zz"),
            "a=\u{3d}é\nbc=zz".as_bytes()
        );
    }

    proptest::proptest! {
        #[test]
        fn newlines_are_normalised_as_two_replacements_would(text in "[ab\r\n]{0,40}") {
            let expected = text.replace("\r\n", "\n").replace('\r', "\n");
            proptest::prop_assert_eq!(normalize_newlines(Cow::Borrowed(&text)), expected);
        }
    }

    #[test]
    fn charsets() {
        assert_eq!(decode_text(b"caf\xc3\xa9", None), "café");
        assert_eq!(decode_text(b"caf\xc3\xa9", Some("US-ASCII")), "café");
        assert_eq!(decode_text(b"caf\xe9", Some("iso-8859-1")), "café");
        assert_eq!(decode_text(b"\xc3\xe8\xd2\xa7", Some("windows-874")), "ร่าง");
        assert_eq!(decode_text(b"x\xff", Some("x-unknown")), "x\u{fffd}");
    }

    #[test]
    fn types() {
        let (h, _) = Headers::parse(b"Content-Type: pdf; name=a.pdf\n\n");
        assert_eq!(effective_type(&h, "text/plain"), "application/pdf");
        let (h, _) = Headers::parse(b"Content-Type: binary/octet-stream\n\n");
        assert_eq!(effective_type(&h, "text/plain"), "application/octet-stream");
        let (h, _) = Headers::parse(b"Content-Type: image\n\n");
        assert_eq!(effective_type(&h, "text/plain"), "text/plain");
        let (h, _) = Headers::parse(b"Content-Type: Text/HTML\n\n");
        assert_eq!(effective_type(&h, "text/plain"), "text/html");
    }
}
