//! The address fields of one message, each read once: the decoded field values
//! ([`Headers::joined_addresses`]) and the (name, address) pairs `postern_model`'s
//! `email_split_tuples` finds in a text, remembered for the whole parse. The same fields are
//! read by several parts of the view (From for `email_from`, the bounce signs and the notice
//! heuristics; To, Cc and Delivered-To for `to`, `cc`, `recipients` and the report analysis),
//! and splitting an address list is the most expensive step of reading a header section.
//!
//! Every function here gives exactly what the `postern_model::address` function of the same
//! name gives on the same text: the pairs are its own `email_split_tuples`, and the derived
//! lists are built from them as that module builds them.

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use postern_model::address::email_split_tuples;

use crate::headers::Headers;

/// One address field of the message, read on first use.
struct Field {
    name: &'static str,
    /// [`Headers::joined_addresses`]; `None` without such a field.
    value: Option<Rc<str>>,
    /// `email_split_tuples` of the value.
    pairs: OnceCell<Rc<[(String, String)]>>,
    /// `email_split_and_format` of the value.
    formatted: OnceCell<Rc<[String]>>,
}

/// The memo of one parse: the address fields by name.
pub(crate) struct Addresses<'h> {
    headers: &'h Headers,
    fields: RefCell<Vec<Field>>,
}

impl<'h> Addresses<'h> {
    pub(crate) fn new(headers: &'h Headers) -> Self {
        Addresses {
            headers,
            fields: RefCell::new(Vec::with_capacity(8)),
        }
    }

    /// Runs `read` on the entry of field `name`, read first if needed.
    fn with<T>(&self, name: &'static str, read: impl FnOnce(&Field) -> T) -> T {
        let index = self.fields.borrow().iter().position(|f| f.name == name);
        let index = index.unwrap_or_else(|| {
            let mut fields = self.fields.borrow_mut();
            fields.push(Field {
                name,
                value: self.headers.joined_addresses(name).map(Rc::from),
                pairs: OnceCell::new(),
                formatted: OnceCell::new(),
            });
            fields.len() - 1
        });
        read(&self.fields.borrow()[index])
    }

    /// [`Headers::joined_addresses`] of `name` (lower-case).
    pub(crate) fn field(&self, name: &'static str) -> Option<Rc<str>> {
        self.with(name, |field| field.value.clone())
    }

    fn pairs(field: &Field) -> Option<&Rc<[(String, String)]>> {
        let value = field.value.as_deref()?;
        Some(field.pairs.get_or_init(|| split_tuples(value).into()))
    }

    /// `email_split(field)`: the addresses of field `name`; empty without it.
    pub(crate) fn split_field(&self, name: &'static str) -> Vec<String> {
        self.with(name, |field| {
            Self::pairs(field)
                .map(|pairs| pairs.iter().map(|(_, addr)| addr.clone()).collect())
                .unwrap_or_default()
        })
    }

    /// `email_split_and_format(field)`: each pair of field `name` through `formataddr`;
    /// `None` without the field.
    pub(crate) fn formatted_field(&self, name: &'static str) -> Option<Rc<[String]>> {
        self.with(name, |field| {
            let pairs = Self::pairs(field)?;
            Some(
                field
                    .formatted
                    .get_or_init(|| {
                        pairs
                            .iter()
                            .map(|(name, addr)| format_address(name, addr))
                            .collect()
                    })
                    .clone(),
            )
        })
    }

    /// `email_normalize_all(field)`: each address of field `name` normalised; `None`
    /// without the field.
    pub(crate) fn normalized_field(&self, name: &'static str) -> Option<Vec<String>> {
        self.with(name, |field| {
            Self::pairs(field)
                .map(|pairs| pairs.iter().map(|(_, addr)| normalize_one(addr)).collect())
        })
    }
}

/// `email_split(text)`: the addresses found in `text`.
pub(crate) fn email_split(text: &str) -> Vec<String> {
    split_tuples(text)
        .into_iter()
        .map(|(_, addr)| addr)
        .collect()
}

/// `email_split_tuples(text)`, by the plain reading when it applies.
fn split_tuples(text: &str) -> Vec<(String, String)> {
    simple_split_tuples(text).unwrap_or_else(|| email_split_tuples(text))
}

/// `postern_model::address::email_normalize(text)`: the normalised address when `text` holds
/// exactly one.
pub(crate) fn email_normalize(text: &str) -> Option<String> {
    match split_tuples(text).as_slice() {
        [(_, one)] => Some(normalize_one(one)),
        _ => None,
    }
}

/// `postern_model::address::email_normalize_all(text)`: every address, normalised.
pub(crate) fn email_normalize_all(text: &str) -> Vec<String> {
    split_tuples(text)
        .iter()
        .map(|(_, addr)| normalize_one(addr))
        .collect()
}

/// `email_split_tuples(text)` for the plain address lists most messages carry, read without
/// the general parser (which works on a copy of the text as characters, a string per token):
/// a comma-separated list (blanks around items allowed) whose every item is
///
/// * `addr`, giving `("", addr)`;
/// * `addr (comment)`, giving `(comment, addr)`;
/// * `Display Name <addr>`, giving the words of the name joined by one space;
/// * `"Display Name" <addr>`, giving the name as quoted;
///
/// where `addr` is `local@domain`, the local part of ASCII letters, digits and `._%+-`, the
/// domain of ASCII letters, digits, `.` and `-`; a name word holds no special character
/// (`()<>@,:;"[]\`) but may hold `.` and any non-ASCII character; a quoted name or a comment
/// holds no quote, parenthesis, backslash or line break. That is what the parser gives for
/// them (its tests check it); `None` for anything else (the parser then reads it).
fn simple_split_tuples(text: &str) -> Option<Vec<(String, String)>> {
    let is_blank = |c: char| c == ' ' || c == '\t';
    if text.contains('\\') {
        return None;
    }
    let mut pairs = Vec::new();
    let mut in_quotes = false;
    let items = text.split(|c| {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        c == ',' && !in_quotes
    });
    for item in items {
        let item = item.trim_matches(is_blank);
        let (name, addr) = if let Some(rest) = item.strip_suffix('>') {
            let (phrase, addr) = rest.split_once('<')?;
            let phrase = phrase.trim_end_matches(is_blank);
            let name = match phrase.strip_prefix('"') {
                Some(quoted) => {
                    let inner = quoted.strip_suffix('"')?;
                    if inner.contains(['"', '\r', '\n']) {
                        return None;
                    }
                    inner.to_owned()
                }
                None => {
                    let special = |c: char| "()<>@,:;\"[]\r\n".contains(c);
                    if phrase.is_empty() || phrase.contains(special) {
                        return None;
                    }
                    let mut name = String::with_capacity(phrase.len());
                    for word in phrase.split(is_blank).filter(|w| !w.is_empty()) {
                        if !name.is_empty() {
                            name.push(' ');
                        }
                        name.push_str(word);
                    }
                    name
                }
            };
            (name, addr)
        } else if let Some(rest) = item.strip_suffix(')') {
            let (addr, comment) = rest.split_once('(')?;
            if comment.contains(['(', ')', '"', '\r', '\n']) {
                return None;
            }
            (comment.to_owned(), addr.trim_end_matches(is_blank))
        } else {
            (String::new(), item)
        };
        let (local, domain) = addr.split_once('@')?;
        let local_ok =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
        let domain_ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-');
        if local.is_empty()
            || domain.is_empty()
            || !local.bytes().all(local_ok)
            || !domain.bytes().all(domain_ok)
        {
            return None;
        }
        pairs.push((name, addr.to_owned()));
    }
    Some(pairs)
}

/// `postern_model::address::formataddr(name, address)` (Odoo's `formataddr`, the name always
/// quoted), built without the formatting machinery: the address is split at its last `@`
/// (`@address` when it has none); `local@domain`, or `"name" <local@domain>` with `\` and `"`
/// escaped in the name.
fn format_address(name: &str, address: &str) -> String {
    let (local, domain) = address.rsplit_once('@').unwrap_or(("", address));
    let mut out = String::with_capacity(name.len() + address.len() + 6);
    if !name.is_empty() {
        out.push('"');
        for c in name.chars() {
            if matches!(c, '\\' | '"') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push_str("\" <");
    }
    out.push_str(local);
    out.push('@');
    out.push_str(domain);
    if !name.is_empty() {
        out.push('>');
    }
    out
}

/// Odoo's `_normalize_email`, as `postern_model::address` applies it to each address of
/// `email_normalize_all` (private there): split at the last `@`; the local part is
/// lower-cased only when it is ASCII; the domain is lower-cased.
fn normalize_one(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let mut out = String::with_capacity(email.len());
            out.push_str(local);
            if local.is_ascii() {
                out.make_ascii_lowercase();
            }
            out.push('@');
            if domain.is_ascii() {
                let at = out.len();
                out.push_str(domain);
                out[at..].make_ascii_lowercase();
            } else {
                out.push_str(&domain.to_lowercase());
            }
            out
        }
        None => email.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use postern_model::address::{
        email_normalize_all, email_split, email_split_and_format, email_split_tuples,
    };

    use super::*;

    #[test]
    fn same_as_the_model() {
        for text in [
            "",
            "Sylvie Lelitre <Test.Sylvie@AgroLait.COM>",
            "\"Doe, John\" <J@X.example>, b@c.example",
            "MAILER-DAEMON@mail2.test.ironsky (Mail Delivery System)",
            "name email@x.example",
            "@gmail.com, Real@Gmail.com",
            "Jos\u{e9} <jos\u{e9}@EXAMPL\u{c9}.example>",
            "undisclosed-recipients:;",
            "no address at all",
        ] {
            let raw = format!("To: {text}\n\n");
            let (headers, _) = Headers::parse(raw.as_bytes());
            let memo = Addresses::new(&headers);
            let value = headers.joined_addresses("to").unwrap_or_default();
            assert_eq!(memo.split_field("to"), email_split(&value), "{text}");
            assert_eq!(
                memo.formatted_field("to").as_deref(),
                Some(email_split_and_format(&value).as_slice()),
                "{text}"
            );
            assert_eq!(
                memo.normalized_field("to"),
                Some(email_normalize_all(&value)),
                "{text}"
            );
            assert_eq!(super::email_split(text), email_split(text), "{text}");
            assert_eq!(
                super::email_normalize_all(text),
                email_normalize_all(text),
                "{text}"
            );
            assert_eq!(
                super::email_normalize(text),
                postern_model::address::email_normalize(text),
                "{text}"
            );
            assert_eq!(memo.field("cc"), None);
            assert_eq!(memo.formatted_field("cc"), None);
            assert!(memo.split_field("cc").is_empty());
        }
        for (name, address) in [
            ("", "a@b"),
            ("Name", "a@b"),
            ("Doe, \"J\" \\", "x@y@z"),
            ("", "no-at"),
            ("Fr\u{e9}d", "\u{e9}@\u{e9}.example"),
            ("a", ""),
            ("", "@"),
        ] {
            assert_eq!(
                format_address(name, address),
                postern_model::address::formataddr(name, address)
            );
        }
        for simple in [
            "a@b.example",
            "Sylvie Lelitre <test.sylvie@agrolait.com>",
            "\"Doe, John\" <j.d+x@x-y.example>, b_c%d@c.example",
            " A  B\t<a@b> ,c@d ",
            "\"\" <a@b>",
            "J. Doe <a@b>",
            "Fr\u{e9}d\u{e9}ric <a@b>",
            "MAILER-DAEMON@mail2.test.ironsky (Mail Delivery System)",
            "a@b(c), d@e ( f ), g@h ()",
        ] {
            assert_eq!(
                simple_split_tuples(simple),
                Some(email_split_tuples(simple)),
                "{simple}"
            );
        }
        for other in [
            "",
            "a@b,",
            "<a@b>",
            "a@",
            "@b",
            "a b@c",
            "a (b) <c@d>",
            "a@b (c) d",
        ] {
            assert_eq!(simple_split_tuples(other), None, "{other}");
        }
    }

    const TOKENS: &[&str] = &[
        "a",
        "B",
        "x.y",
        "0",
        "-",
        "_",
        "%",
        "+",
        ".",
        "@",
        "<",
        ">",
        ",",
        " ",
        "\t",
        "\"",
        "\\",
        "(",
        ")",
        ":",
        ";",
        "[",
        "]",
        "\u{e9}",
        "example.com",
        "Name",
        "\r",
        "\n",
        "\u{a0}",
        "\u{2028}",
        "\u{130}",
    ];

    proptest::proptest! {
        /// Where the plain reading answers, it answers as the parser does.
        #[test]
        fn simple_lists_are_split_as_the_parser_splits_them(
            parts in proptest::collection::vec(
                proptest::sample::select(TOKENS),
                0..16,
            )
        ) {
            let text = parts.concat();
            if let Some(pairs) = simple_split_tuples(&text) {
                proptest::prop_assert_eq!(pairs, email_split_tuples(&text), "{}", text);
            }
        }

        /// The same near the shapes it reads: lists of them with a few tokens inserted,
        /// removed or replaced.
        #[test]
        fn near_simple_lists_are_split_as_the_parser_splits_them(
            items in proptest::collection::vec((0..4usize, 0..5usize, 0..6usize, 0..4usize, proptest::bool::ANY), 1..4),
            edits in proptest::collection::vec((0..3usize, 0..64usize, 0..TOKENS.len()), 0..3),
        ) {
            let mut parts: Vec<&str> = Vec::new();
            for (k, (form, name, local, domain, space)) in items.into_iter().enumerate() {
                if k > 0 {
                    parts.push(",");
                    if space {
                        parts.push(" ");
                    }
                }
                let name = ["Jo", "J. Doe", "Fr\u{e9}d\u{e9}ric X", "a  b", ""][name];
                let local = ["a", "x.y", "a+b", "_%-", ".a.", "a..b"][local];
                let domain = ["b", "ex.com", "-x-", "a.b."][domain];
                match form {
                    0 => parts.extend([local, "@", domain]),
                    1 => parts.extend([name, " <", local, "@", domain, ">"]),
                    2 => parts.extend(["\"", name, "\" <", local, "@", domain, ">"]),
                    _ => parts.extend([local, "@", domain, " (", name, ")"]),
                }
            }
            for (kind, at, token) in edits {
                let at = at % (parts.len() + 1);
                match kind {
                    0 => parts.insert(at, TOKENS[token]),
                    1 if at < parts.len() => {
                        parts.remove(at);
                    }
                    _ if at < parts.len() => parts[at] = TOKENS[token],
                    _ => {}
                }
            }
            let text = parts.concat();
            if let Some(pairs) = simple_split_tuples(&text) {
                proptest::prop_assert_eq!(pairs, email_split_tuples(&text), "{}", text);
            }
        }

        #[test]
        fn addresses_are_formatted_as_the_model_formats_them(
            name in "[a-z \"\\\\@<>\u{e9}]{0,8}",
            address in "[a-z@.\"\\\\\u{e9}]{0,10}",
        ) {
            proptest::prop_assert_eq!(
                format_address(&name, &address),
                postern_model::address::formataddr(&name, &address)
            );
        }

        /// The shapes it is meant for are read without the parser, and right.
        #[test]
        fn simple_lists_are_recognised(
            items in proptest::collection::vec(
                (
                    proptest::option::of("[A-Za-z0-9.\u{e9}]{1,6}( {1,2}[A-Za-z0-9.\u{e9}]{1,6}){0,2}"),
                    0..3u8,
                    "[a-z0-9._%+-]{1,8}",
                    "[a-z0-9-]{1,6}(\\.[a-z0-9-]{1,4}){0,2}",
                ),
                1..4,
            )
        ) {
            let text = items
                .iter()
                .map(|(name, form, local, domain)| match (name, form) {
                    (None, _) => format!("{local}@{domain}"),
                    (Some(n), 0) => format!("\"{n}\" <{local}@{domain}>"),
                    (Some(n), 1) => format!("{n} <{local}@{domain}>"),
                    (Some(n), _) => format!("{local}@{domain} ({n})"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let pairs = simple_split_tuples(&text);
            proptest::prop_assert!(pairs.is_some(), "{}", text);
            proptest::prop_assert_eq!(pairs, Some(email_split_tuples(&text)), "{}", text);
        }
    }
}
