//! Header fields of one entity (the message itself, a MIME part, an embedded message or a
//! `text/rfc822-headers` block), read the way Odoo reads them through Python's
//! `email.policy.SMTP`: every occurrence of a field, unfolded (CR and LF removed, the white
//! space of continuation lines kept), RFC 2047 encoded words decoded in unstructured and
//! address fields, several occurrences joined (Odoo's `decode_message_header`).
//!
//! The section is split into fields exactly as `mail-parser`'s `parse_headers` splits it
//! (same name rules, same field ends; checked against it by the tests), but with a byte search
//! instead of its per-byte iterator and without building values nobody reads; `mail-parser`
//! still parses the MIME fields (`Content-Type` and `Content-Disposition` with RFC 2231
//! parameters; `Content-ID` and the other `Content-*` only delimited by it) and decodes each
//! encoded word. Every other field is kept as written (unfolded once, when the section is
//! read) so that this module decides exactly how it is read. Trusts nothing: any byte
//! sequence gives some (possibly empty) header block, never a panic.

use std::borrow::Cow;
use std::ops::{ControlFlow, Range};

use mail_parser::parsers::MessageStream;
use mail_parser::{ContentType, DateTime, HeaderName, HeaderValue};

/// The fields of one header section.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers {
    /// Every lower-case name and raw value, one after the other (one allocation for the
    /// section); `fields` holds their ranges.
    text: String,
    /// `(lower-case name, value)` as ranges of `text`: the value as written after the colon,
    /// unfolded (its CR and LF removed, [`unfold`]; nothing reads a folded value).
    fields: Vec<(Range<usize>, Range<usize>)>,
    /// A one-word filter of the names present ([`name_bit`] of each): most lookups are for
    /// fields a message does not have, and end here.
    names: u64,
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
        Self::parse_text(bytes, std::str::from_utf8(bytes).ok())
    }

    /// [`Headers::parse`] of `bytes` known to be the UTF-8 `text` (`None` when they are not,
    /// or not known to be).
    pub(crate) fn parse_text(bytes: &[u8], text: Option<&str>) -> (Headers, usize) {
        if !starts_with_field(bytes) {
            let body_start = if bytes.starts_with(b"\r\n") {
                2
            } else {
                usize::from(bytes.starts_with(b"\n"))
            };
            return (Headers::default(), body_start);
        }
        // Valid UTF-8 (nearly always): each name and value is a slice of the text. Else the
        // text up to the first blank line (where the section ends, unless a value runs past
        // it) is checked; a field not inside checked text is read on its own.
        let (bound, section) = match text {
            Some(text) => (text.len(), Some(text)),
            None => {
                let bound = blank_line_end(bytes);
                (bound, std::str::from_utf8(&bytes[..bound]).ok())
            }
        };
        let text_at = |range: Range<usize>| -> Cow<'_, str> {
            match section.and_then(|s| s.get(range.clone())) {
                Some(text) => Cow::Borrowed(text),
                None => String::from_utf8_lossy(bytes.get(range).unwrap_or_default()),
            }
        };
        let mut headers = Headers {
            text: String::with_capacity(bound.min(2048) + 16),
            fields: Vec::with_capacity(16),
            ..Headers::default()
        };
        let end = split_fields(bytes, |field| {
            match (field.mime, field.value) {
                (Some(MimeField::ContentType), Some(ct)) if headers.content_type.is_none() => {
                    headers.content_type = Some(ct);
                }
                (Some(MimeField::ContentDisposition), Some(cd))
                    if headers.content_disposition.is_none() =>
                {
                    headers.content_disposition = Some(cd);
                }
                _ => {}
            }
            let name_start = headers.text.len();
            match &field.canonical {
                Some(canonical) => push_lossy(&mut headers.text, canonical),
                None => headers.text.push_str(&text_at(field.written)),
            }
            headers.text[name_start..].make_ascii_lowercase();
            headers.names |= name_bit(&headers.text.as_bytes()[name_start..]);
            let value_start = headers.text.len();
            match field.single_line_end {
                Some(end) => headers.text.push_str(&text_at(field.value_start..end)),
                None => {
                    let end = field.value_end.min(bytes.len());
                    push_unfolded(&mut headers.text, &text_at(field.value_start..end));
                }
            }
            // A NUL is no text, and PostgreSQL refuses it in a `TEXT` column: U+FFFD.
            if memchr::memchr(0, &headers.text.as_bytes()[value_start..]).is_some() {
                let value = headers.text[value_start..].replace('\0', "\u{fffd}");
                headers.text.truncate(value_start);
                headers.text.push_str(&value);
            }
            let value_end = headers.text.len();
            headers
                .fields
                .push((name_start..value_start, value_start..value_end));
        });
        (headers, end.unwrap_or(bytes.len()))
    }

    /// The number of fields.
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    /// The bytes of the names and unfolded values.
    pub(crate) fn size(&self) -> usize {
        self.text.len()
    }

    /// Whether the section holds no field at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether a field `name` (any case) is present, even empty.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.raw_all(name).next().is_some()
    }

    /// The values of every `name` field, in order: as written, unfolded.
    pub(crate) fn raw_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        // Names are stored lower-case: compared byte for byte with a lower-case query.
        let name: Cow<'n, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        let absent = self.names & name_bit(name.as_bytes()) == 0;
        let fields = if absent { &[][..] } else { &self.fields[..] };
        fields
            .iter()
            .filter(move |(n, _)| self.text.as_bytes().get(n.clone()) == Some(name.as_bytes()))
            .map(|(_, v)| self.slice(v))
    }

    fn slice(&self, range: &Range<usize>) -> &str {
        self.text.get(range.clone()).unwrap_or_default()
    }

    /// The first `name` field, unfolded and stripped (Python's `message.get(name).strip()`).
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.raw_all(name).next().map(str::trim)
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
        let mut joined = String::new();
        for value in values.map(|v| read(v.trim())).filter(|v| !v.is_empty()) {
            if joined.is_empty() {
                joined = value;
            } else {
                joined.push_str(separator);
                joined.push_str(&value);
            }
        }
        Some(joined)
    }

    /// A `Content-Type` or `Content-Disposition` parameter (lower-case `name`), else `None`.
    pub(crate) fn param(&self, field: &str, name: &str) -> Option<Cow<'_, str>> {
        let parsed = if field.eq_ignore_ascii_case("content-type") {
            self.content_type.as_ref()
        } else {
            self.content_disposition.as_ref()
        };
        let from_parser = parsed.and_then(|ct| {
            ct.attributes()?
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .map(|a| Cow::Borrowed(a.value.as_ref()))
        });
        from_parser.or_else(|| {
            // `Content-Disposition: filename=x.pdf` (no disposition type) is read by Python as
            // a parameter, while `mail-parser` takes it for the type: look in the raw value.
            raw_param(self.raw_all(field).next()?, name).map(Cow::Owned)
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

/// Where the first blank line of `bytes` ends (LF LF or LF CR LF), else the end of `bytes`.
fn blank_line_end(bytes: &[u8]) -> usize {
    let mut from = 0;
    while let Some(i) = find_byte_pair(bytes, from, b'\n', b'\n') {
        match bytes.get(i + 1..) {
            Some([b'\n', ..]) => return i + 2,
            Some([b'\r', b'\n', ..]) => return i + 3,
            _ => from = i + 1,
        }
    }
    bytes.len()
}

/// The bit of a lower-case field name in [`Headers`]'s name filter.
fn name_bit(name: &[u8]) -> u64 {
    let (first, last) = (name.first().copied(), name.last().copied());
    let mix =
        name.len() * 31 + usize::from(first.unwrap_or(0)) * 7 + usize::from(last.unwrap_or(0));
    1 << (mix % 64)
}

/// Appends `value` unfolded ([`unfold`]): every reader of a field wants it so.
fn push_unfolded(text: &mut String, value: &str) {
    let bytes = value.as_bytes();
    let mut start = 0;
    while let Some(i) = find_line_break(bytes, start) {
        // CR and LF are ASCII: every piece between them is whole UTF-8.
        text.push_str(value.get(start..i).unwrap_or_default());
        start = i + 1;
    }
    text.push_str(value.get(start..).unwrap_or_default());
}

/// The offset of the first CR or LF at or after `from`, eight bytes at a time.
pub(crate) fn find_line_break(bytes: &[u8], from: usize) -> Option<usize> {
    find_byte_pair(bytes, from, b'\r', b'\n')
}

/// The offset of the first `a` or `b` at or after `from` (a word-at-a-time search: the
/// zero-byte test of `x ^ aaaa…` and `x ^ bbbb…` on each eight-byte word).
pub(crate) fn find_byte_pair(bytes: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(LOW) & !x & HIGH != 0;
    let rest = bytes.get(from..)?;
    let (wa, wb) = (LOW * u64::from(a), LOW * u64::from(b));
    let mut chunks = rest.chunks_exact(8);
    let mut offset = from;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        if has_zero(x ^ wa) || has_zero(x ^ wb) {
            let i = chunk.iter().position(|&c| c == a || c == b).unwrap_or(0);
            return Some(offset + i);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == a || c == b)
        .map(|i| offset + i)
}

fn push_lossy(text: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(value) => text.push_str(value),
        Err(_) => text.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// The MIME fields whose values `mail-parser` parses; every other field is only delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MimeField {
    ContentType,
    ContentDisposition,
    ContentId,
    /// `Content-Description`, `Content-Location`, `Content-Transfer-Encoding`: unstructured.
    Unstructured,
}

/// The longest name `mail-parser` recognises (its `MAX_HEADER_NAME_LEN`).
const MAX_NAME_LEN: usize = 34;

/// One field of a header section, as `mail-parser` delimits it.
#[derive(Debug)]
struct RawField {
    /// The name as written, from its first to its last non-blank byte (offsets).
    written: Range<usize>,
    /// Its canonical spelling (white space inside dropped) when `mail-parser` recognises it
    /// and it is written with blanks inside (`Content -Type`).
    canonical: Option<Vec<u8>>,
    mime: Option<MimeField>,
    /// The value after the colon, up to the line break that ends the field (included), as
    /// offsets in the section; may point past its end (`mail-parser` counts a step at the
    /// end of the input).
    value_start: usize,
    value_end: usize,
    /// The parsed `Content-Type` / `Content-Disposition`.
    value: Option<ContentType<'static>>,
    /// Where the value ends without its line break when it is one line without any other CR
    /// or LF: then it is already unfolded.
    single_line_end: Option<usize>,
}

/// Splits a header section into its fields exactly as `mail-parser`'s
/// `MessageStream::parse_headers` does with a parser that reads the MIME fields and skips
/// every other field (its name rules, its offsets, where each field ends), without building
/// the values of the skipped fields and without its per-byte iterator: lines are found with
/// a byte search. The MIME fields are still read by `mail-parser` itself, from where their
/// value starts, so that their values and their ends are its own. Returns the fields and the
/// offset of the body, `None` when the section does not end with a blank line.
fn split_fields(bytes: &[u8], mut fields: impl FnMut(RawField)) -> Option<usize> {
    // `pos` counts the steps of `mail-parser`'s cursor: one per byte read, and one more for
    // each attempt to read past the end.
    let mut pos = 0;
    loop {
        pos = match skip_to_field(bytes, pos) {
            ControlFlow::Continue(start) => start,
            ControlFlow::Break(end) => return end,
        };
        let name = match plain_name(bytes, pos) {
            Some(name) => {
                pos = name.written.end + 1;
                name
            }
            None => match scan_name(bytes, &mut pos) {
                Some(name) => name,
                // No field on this line: go on with the next one, if any.
                None => {
                    bytes.get(pos)?;
                    continue;
                }
            },
        };
        pos = read_value(
            bytes,
            pos,
            name.mime,
            &mut fields,
            name.written,
            name.canonical,
        );
    }
}

/// Skips the white space before a field (a stray continuation line): where the field starts,
/// or, to stop, the offset of the body after an empty line (`None` at the end of the input).
fn skip_to_field(bytes: &[u8], mut pos: usize) -> ControlFlow<Option<usize>, usize> {
    loop {
        match bytes.get(pos) {
            Some(b'\n') => return ControlFlow::Break(Some(pos + 1)),
            None => return ControlFlow::Break(None),
            Some(b) if !b.is_ascii_whitespace() => return ControlFlow::Continue(pos),
            Some(_) => pos += 1,
        }
    }
}

/// A field name as [`split_fields`] reads it, before its value.
struct FieldName {
    /// The name as written (offsets), from its first to its last non-blank byte.
    written: Range<usize>,
    /// See [`RawField::canonical`].
    canonical: Option<Vec<u8>>,
    /// The MIME field it names, if any.
    mime: Option<MimeField>,
}

/// The name at `pos` when it is written as nearly every name is: no blank, a colon before
/// the end of the line; `None` otherwise (then [`scan_name`] reads it).
fn plain_name(bytes: &[u8], pos: usize) -> Option<FieldName> {
    let colon = find_byte_pair(bytes, pos, b':', b'\n').filter(|&colon| {
        bytes[colon] == b':'
            && colon > pos
            && !bytes[pos..colon].iter().any(u8::is_ascii_whitespace)
    })?;
    let name = &bytes[pos..colon];
    let mime = match name.len() {
        10..=25 => {
            let mut lower = [0u8; 25];
            lower[..name.len()].copy_from_slice(name);
            lower.make_ascii_lowercase();
            mime_field(&lower[..name.len()])
        }
        // No MIME field name is shorter or longer.
        _ => None,
    };
    Some(FieldName {
        written: pos..colon,
        canonical: None,
        mime,
    })
}

/// Reads a name byte by byte as `mail-parser` does: up to the first colon that follows a
/// non-blank byte; blanks inside are dropped from the canonical name; a line break first
/// means no field at all (`None`, as is the end of the input before any name). Moves `pos`
/// past what was read.
fn scan_name(bytes: &[u8], pos: &mut usize) -> Option<FieldName> {
    let mut compact = [0u8; MAX_NAME_LEN];
    let mut len = 0;
    let mut first = None;
    let mut last = 0;
    let mut found_colon = false;
    let mut broken = false;
    while let Some(&b) = bytes.get(*pos) {
        *pos += 1;
        match b {
            b':' if first.is_some() => {
                found_colon = true;
                break;
            }
            b':' => {}
            b'\n' => {
                broken = true;
                break;
            }
            b if !b.is_ascii_whitespace() => {
                first.get_or_insert(*pos - 1);
                last = *pos;
                if let Some(slot) = compact.get_mut(len) {
                    *slot = b.to_ascii_lowercase();
                }
                len += 1;
            }
            _ => {}
        }
    }
    if !found_colon && !broken {
        // The end of the input was read (one more step).
        *pos += 1;
    }
    let first = first.filter(|_| !broken)?;
    let written = &bytes[first..last];
    let canonical = compact.get(..len).filter(|c| is_known_name(c, written));
    let mime = canonical.and_then(mime_field);
    let canonical = canonical
        .filter(|c| written.len() != c.len())
        .map(<[u8]>::to_vec);
    Some(FieldName {
        written: first..last,
        canonical,
        mime,
    })
}

/// Reads the value of a field whose name ends at `pos` (after the colon) as `mail-parser`
/// does, pushes the field, and returns where the next one starts.
fn read_value(
    bytes: &[u8],
    mut pos: usize,
    mime: Option<MimeField>,
    fields: &mut impl FnMut(RawField),
    written: Range<usize>,
    canonical: Option<Vec<u8>>,
) -> usize {
    let value_start = pos;
    let mut value = None;
    let mut single_line_end = None;
    match mime {
        Some(kind) => {
            let mut stream = MessageStream::new(bytes.get(pos..).unwrap_or_default());
            let parsed = match kind {
                MimeField::ContentType | MimeField::ContentDisposition => {
                    stream.parse_content_type()
                }
                MimeField::ContentId => stream.parse_id(),
                MimeField::Unstructured => stream.parse_unstructured(),
            };
            pos += stream.offset();
            if let HeaderValue::ContentType(_) = parsed
                && let HeaderValue::ContentType(ct) = parsed.into_owned()
            {
                value = Some(ct);
            }
        }
        None => (pos, single_line_end) = skip_value(bytes, pos),
    }
    fields(RawField {
        single_line_end,
        written,
        canonical,
        mime,
        value_start,
        value_end: pos,
        value,
    });
    pos
}

/// Whether `mail-parser` takes a name for one it knows: `compact` (lower-case, blanks
/// dropped, at most [`MAX_NAME_LEN`] bytes) is in its table. Only asked of `mail-parser` when
/// `written` holds blanks; otherwise the written name, lower-cased, is the same either way.
fn is_known_name(compact: &[u8], written: &[u8]) -> bool {
    if !written.iter().any(u8::is_ascii_whitespace) {
        return true;
    }
    std::str::from_utf8(compact)
        .ok()
        .and_then(HeaderName::parse)
        .is_some_and(|name| !matches!(name, HeaderName::Other(_)))
}

fn mime_field(compact: &[u8]) -> Option<MimeField> {
    match compact {
        b"content-type" => Some(MimeField::ContentType),
        b"content-disposition" => Some(MimeField::ContentDisposition),
        b"content-id" => Some(MimeField::ContentId),
        b"content-description" | b"content-location" | b"content-transfer-encoding" => {
            Some(MimeField::Unstructured)
        }
        _ => None,
    }
}

/// Where a skipped field ends: after the line break that is not followed by a space or a
/// tab (or one step past the end of the input). Also where its unfolded value ends when it is
/// a single line (no continuation, no CR but the one of a CRLF at its end): `None` otherwise.
fn skip_value(bytes: &[u8], mut pos: usize) -> (usize, Option<usize>) {
    let mut single = true;
    loop {
        let Some(rest) = bytes.get(pos..) else {
            return (pos + 1, None);
        };
        match find_line_break(rest, 0) {
            None => return (bytes.len() + 1, single.then_some(bytes.len())),
            Some(i) if rest[i] == b'\r' => {
                single &= rest.get(i + 1) == Some(&b'\n');
                pos += i + 1;
            }
            Some(i) => {
                let line_end = pos + i;
                pos = line_end + 1;
                if matches!(bytes.get(pos), Some(b' ' | b'\t')) {
                    pos += 1;
                    single = false;
                } else {
                    let end = match line_end.checked_sub(1) {
                        Some(cr) if bytes[cr] == b'\r' => cr,
                        _ => line_end,
                    };
                    return (pos, single.then_some(end));
                }
            }
        }
    }
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
    let mut start = 0;
    for (i, b) in value.bytes().enumerate() {
        if is_break(&b) {
            // CR and LF are ASCII: every piece between them is whole UTF-8.
            out.push_str(value.get(start..i).unwrap_or_default());
            start = i + 1;
        }
    }
    out.push_str(value.get(start..).unwrap_or_default());
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
    use std::sync::LazyLock;

    use mail_parser::MessageParser;
    use proptest::prelude::*;

    use super::*;

    /// What [`Headers::parse`] must give, read with `mail-parser`'s own `parse_headers` (the
    /// MIME fields parsed, every other field raw): `(lower-case name, unfolded raw value)` of
    /// each field, the first `Content-Type` and `Content-Disposition`, the offset of the body.
    type View = (
        Vec<(String, String)>,
        Option<ContentType<'static>>,
        Option<ContentType<'static>>,
        usize,
    );

    fn reference(bytes: &[u8]) -> View {
        static PARSER: LazyLock<MessageParser> =
            LazyLock::new(|| MessageParser::new().with_mime_headers());
        if !starts_with_field(bytes) {
            let (_, body) = Headers::parse(bytes);
            return (Vec::new(), None, None, body);
        }
        let mut stream = MessageStream::new(bytes);
        let mut parsed = Vec::new();
        let complete = stream.parse_headers(&PARSER, &mut parsed);
        let body = if complete {
            stream.offset()
        } else {
            bytes.len()
        };
        let (mut ct, mut cd) = (None, None);
        let mut fields = Vec::new();
        for header in parsed {
            let start = header.offset_start as usize;
            let end = (header.offset_end as usize).min(bytes.len());
            let raw = bytes.get(start..end).unwrap_or_default();
            let name = header.name.as_str().to_ascii_lowercase();
            match (&header.name, header.value.into_owned()) {
                (HeaderName::ContentType, HeaderValue::ContentType(v)) if ct.is_none() => {
                    ct = Some(v);
                }
                (HeaderName::ContentDisposition, HeaderValue::ContentType(v)) if cd.is_none() => {
                    cd = Some(v);
                }
                _ => {}
            }
            // NUL becomes U+FFFD in our view, on purpose (see `parse_text`)
            let value = unfold(&String::from_utf8_lossy(raw)).replace('\0', "\u{fffd}");
            fields.push((name, value));
        }
        (fields, ct, cd, body)
    }

    fn view(bytes: &[u8]) -> View {
        let (headers, body) = Headers::parse(bytes);
        let fields = headers
            .fields
            .iter()
            .map(|(n, v)| (headers.slice(n).to_owned(), headers.slice(v).to_owned()))
            .collect();
        (
            fields,
            headers.content_type,
            headers.content_disposition,
            body,
        )
    }

    proptest! {
        #[test]
        fn byte_search_finds_the_first(
            bytes in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'x'), any::<u8>()], 0..40),
            from in 0usize..45,
        ) {
            let expected = bytes
                .get(from..)
                .and_then(|r| r.iter().position(|&b| b == b'\r' || b == b'\n'))
                .map(|i| from + i);
            prop_assert_eq!(find_line_break(&bytes, from), expected);
        }
    }

    #[test]
    fn fields_are_split_as_mail_parser_splits_them() {
        for raw in [
            &b"Subject: a\n b\nX: \n\nbody"[..],
            b"A: 1\r\n\r\nbody",
            b"A: 1",
            b"A",
            b"A: 1\nB",
            b"A: 1\n:B: 2\n\n",
            b"A: 1\n  B: 2\nno colon\nC: 3\n\n",
            b"Content - Type: text/html; charset=\"x\ny\"\n\n",
            b"Sub ject: x\nCONTENT-TYPE: multipart/mixed; boundary=\"b\"\n\tx=y\n\n",
            b"Content-Type: text/plain; name==?utf-8?q?a\nb?=\nX: y\n\n",
            b"Content-Description: =?utf-8?q?a\nb?= c\nContent-ID: <a\n b>\n\n",
            b"A-very-long-header-name-longer-than-thirty-four-bytes: v\n\n",
            b"Content-Disposition: attachment; filename*=utf-8''a%20b\n\n",
            b"Fr\xc3\xa9: \xff\xfe\n\n",
            b"X:\n",
        ] {
            assert_eq!(
                view(raw),
                reference(raw),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    proptest! {
        #[test]
        fn fields_are_split_as_mail_parser_splits_them_on_any_bytes(
            prefix in proptest::sample::select(vec!["", "Subject: x\n", "Content-Type: ", "A:"]),
            parts in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(vec![
                        "\n", "\r\n", " ", "\t", ":", ";", "=", "\"", "(", ")", "\\", "*", "'",
                        "Content-Type", "content-type", "Content -Type", "Content-Disposition",
                        "Content-ID", "Content-Transfer-Encoding", "Content-Description",
                        "Content-Location", "Subject", "X-Y", "text/plain", "multipart/mixed",
                        "boundary", "charset", "filename*0*", "utf-8''a%20", "=?utf-8?q?a?=",
                        "=?utf-8?b?w6k=?=", "=?", "?=", "<a@b>", "\u{e9}", "\u{fffd}",
                    ]).prop_map(|s| s.as_bytes().to_vec()),
                    proptest::collection::vec(any::<u8>(), 1..4),
                ],
                0..40,
            )
        ) {
            let raw = [prefix.as_bytes().to_vec(), parts.concat()].concat();
            prop_assert_eq!(view(&raw), reference(&raw));
        }
    }

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
            return_path_address(headers.first("return-path").unwrap_or_default()),
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
