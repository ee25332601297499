//! The MIME tree of a message: each entity with its header fields, its effective content
//! type, and its content (sub-parts, an embedded message, or transfer-decoded bytes).
//!
//! The header sections, the RFC 2231/2047 parameters, base64, quoted-printable and the
//! charsets come from `mail-parser`. The multipart bodies are split here, as Python's
//! `email.feedparser` splits them (which Odoo's behaviour rests on), because `mail-parser`
//! 0.11 takes a `--boundary` anywhere in a line for a delimiter (its issue #156, fixed only
//! in 1.0, which needs a newer toolchain) and lets an unclosed inner multipart swallow the
//! parts of its parent. Here a delimiter is a whole line: `--boundary`, optionally `--`,
//! optionally trailing blanks (RFC 2046 §5.1.1); an outer delimiter ends the inner parts
//! because each multipart is split inside the slice its parent gave it.
//!
//! Total: any bytes give a tree (nesting is cut at [`MAX_DEPTH`]); decoding errors fall back to
//! lenient decoders or to the raw bytes, never to an error.

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::parsers::MessageStream;

use crate::headers::Headers;

/// Deepest nesting of multiparts and embedded messages that is parsed; deeper entities are
/// kept as opaque leaves.
pub(crate) const MAX_DEPTH: usize = 32;

/// One MIME entity.
#[derive(Debug, Clone)]
pub(crate) struct Entity {
    /// Its header fields.
    pub(crate) headers: Headers,
    /// The effective type, lower-case `type/subtype` (see [`effective_type`]).
    pub(crate) mime: String,
    /// Its content.
    pub(crate) body: Body,
}

/// The content of an entity.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// `multipart/*`: the sub-parts, in order.
    Multipart(Vec<Entity>),
    /// `message/rfc822` or `message/global`: the embedded message's bytes (transfer-decoded)
    /// and its own tree.
    Message(Vec<u8>, Box<Entity>),
    /// Anything else: the transfer-decoded bytes.
    Leaf(Vec<u8>),
}

impl Entity {
    /// Parses a whole message (or embedded message): headers, then the body by its type.
    pub(crate) fn parse(bytes: &[u8]) -> Entity {
        Self::parse_with_default(bytes, "text/plain", 0)
    }

    fn parse_with_default(bytes: &[u8], default_type: &str, depth: usize) -> Entity {
        let (headers, body_start) = Headers::parse(bytes);
        let raw_body = bytes.get(body_start..).unwrap_or_default();
        let mime = effective_type(&headers, default_type);
        let body = if depth >= MAX_DEPTH {
            Body::Leaf(raw_body.to_vec())
        } else if mime.starts_with("multipart/") {
            match headers
                .param("content-type", "boundary")
                .filter(|b| !b.is_empty())
                .and_then(|b| split_multipart(raw_body, b.as_bytes()))
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
                            .map(|p| Self::parse_with_default(p, child_default, depth + 1))
                            .collect(),
                    )
                }
                // No boundary, or no delimiter line: Python keeps the body as text (and Odoo
                // then drops it as a multipart container); it is kept here as a leaf so that
                // the walk in `body` can still turn it into text.
                None => Body::Leaf(raw_body.to_vec()),
            }
        } else if is_embedded_message(&mime) {
            let decoded = transfer_decode(&headers, raw_body);
            let inner = Self::parse_with_default(&decoded, "text/plain", depth + 1);
            Body::Message(decoded, Box::new(inner))
        } else {
            Body::Leaf(transfer_decode(&headers, raw_body))
        };
        Entity {
            headers,
            mime,
            body,
        }
    }

    /// The main type (`text` of `text/plain`).
    pub(crate) fn maintype(&self) -> &str {
        self.mime.split('/').next().unwrap_or_default()
    }

    /// This entity then every entity below it, depth first (Python's `Message.walk`, which
    /// also enters embedded messages).
    pub(crate) fn walk(&self) -> Vec<&Entity> {
        let mut out = Vec::new();
        self.walk_into(&mut out);
        out
    }

    fn walk_into<'a>(&'a self, out: &mut Vec<&'a Entity>) {
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
        normalize_newlines(&decode_text(self.content_bytes(), charset.as_deref()))
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
            .map(|id| id.trim_matches(['<', '>']).trim().to_owned())
            .filter(|id| !id.is_empty())
    }

    /// Whether `Content-Disposition` says `attachment` (any case).
    pub(crate) fn is_attachment_disposition(&self) -> bool {
        self.headers.first("content-disposition").is_some_and(|d| {
            d.trim_start()
                .to_ascii_lowercase()
                .starts_with("attachment")
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
    let maintype = ct.ctype().trim().to_ascii_lowercase();
    let subtype = ct.subtype().map(|s| s.trim().to_ascii_lowercase());
    match (maintype.as_str(), subtype.as_deref()) {
        ("binary", Some("octet-stream")) => "application/octet-stream".to_owned(),
        ("pdf", None) => "application/pdf".to_owned(),
        (m, Some(s)) if !m.is_empty() && !s.is_empty() => format!("{m}/{s}"),
        _ => default.to_owned(),
    }
}

/// Splits a multipart body at its delimiter lines. `None` when no delimiter line is found
/// (the body is then not a multipart at all). The preamble and the epilogue are dropped; a
/// missing close delimiter ends the last part at the end of `body`; the line break before a
/// delimiter belongs to the delimiter (RFC 2046 §5.1.1).
pub(crate) fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Option<Vec<&'a [u8]>> {
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
                parts.push(&body[start..content_end(body, start, pos)]);
            }
            if close {
                return Some(parts);
            }
            current = Some(next);
        }
        pos = next;
    }
    if let Some(start) = current {
        parts.push(&body[start.min(body.len())..]);
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
fn transfer_decode(headers: &Headers, raw: &[u8]) -> Vec<u8> {
    let encoding = headers
        .first("content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "base64" => {
            let (end, decoded) = MessageStream::new(raw).decode_base64_mime(b"");
            if end == usize::MAX {
                lenient_base64(raw)
            } else {
                decoded.into_owned()
            }
        }
        "quoted-printable" => {
            quoted_printable(raw).unwrap_or_else(|| lenient_quoted_printable(raw))
        }
        _ => raw.to_vec(),
    }
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
pub(crate) fn decode_text(bytes: &[u8], charset: Option<&str>) -> String {
    let charset = charset
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let ascii_label = matches!(charset.as_str(), "us-ascii" | "ascii" | "ansi_x3.4-1968");
    if charset.is_empty() || (ascii_label && std::str::from_utf8(bytes).is_ok()) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match charset_decoder(charset.as_bytes()) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// `\r\n` and lone `\r` become `\n`.
pub(crate) fn normalize_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_owned();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

#[cfg(test)]
mod tests {
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

    proptest::proptest! {
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
