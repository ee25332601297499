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

use std::cell::RefCell;
use std::rc::Rc;

use postern_model::address::{email_split_tuples, formataddr};

use crate::headers::Headers;

/// Pairs found in a text: `(display name, address)`.
type Pairs = Rc<[(String, String)]>;

/// The memo of one parse: field values by name, pairs by text.
pub(crate) struct Addresses<'h> {
    headers: &'h Headers,
    fields: RefCell<Vec<(&'static str, Option<Rc<str>>)>>,
    pairs: RefCell<Vec<(Rc<str>, Pairs)>>,
    formatted: RefCell<Vec<(Rc<str>, Rc<[String]>)>>,
}

impl<'h> Addresses<'h> {
    pub(crate) fn new(headers: &'h Headers) -> Self {
        Addresses {
            headers,
            fields: RefCell::new(Vec::new()),
            pairs: RefCell::new(Vec::new()),
            formatted: RefCell::new(Vec::new()),
        }
    }

    /// [`Headers::joined_addresses`] of `name` (lower-case).
    pub(crate) fn field(&self, name: &'static str) -> Option<Rc<str>> {
        if let Some((_, value)) = self.fields.borrow().iter().find(|(n, _)| *n == name) {
            return value.clone();
        }
        let value: Option<Rc<str>> = self.headers.joined_addresses(name).map(Rc::from);
        self.fields.borrow_mut().push((name, value.clone()));
        value
    }

    /// `email_split_tuples(text)`.
    pub(crate) fn split_tuples(&self, text: &str) -> Pairs {
        if let Some((_, pairs)) = self.pairs.borrow().iter().find(|(t, _)| **t == *text) {
            return pairs.clone();
        }
        let pairs: Pairs = email_split_tuples(text).into();
        self.pairs
            .borrow_mut()
            .push((Rc::from(text), pairs.clone()));
        pairs
    }

    /// `email_split(text)`: the addresses.
    pub(crate) fn split(&self, text: &str) -> Vec<String> {
        self.split_tuples(text)
            .iter()
            .map(|(_, addr)| addr.clone())
            .collect()
    }

    /// `email_split_and_format(text)`: each pair through `formataddr`.
    pub(crate) fn split_and_format(&self, text: &str) -> Rc<[String]> {
        if let Some((_, formatted)) = self.formatted.borrow().iter().find(|(t, _)| **t == *text) {
            return formatted.clone();
        }
        let formatted: Rc<[String]> = self
            .split_tuples(text)
            .iter()
            .map(|(name, addr)| formataddr(name, addr))
            .collect();
        self.formatted
            .borrow_mut()
            .push((Rc::from(text), formatted.clone()));
        formatted
    }

    /// `email_normalize_all(text)`: each address normalised.
    pub(crate) fn normalize_all(&self, text: &str) -> Vec<String> {
        self.split_tuples(text)
            .iter()
            .map(|(_, addr)| normalize_one(addr))
            .collect()
    }
}

/// Odoo's `_normalize_email`, as `postern_model::address` applies it to each address of
/// `email_normalize_all` (private there): split at the last `@`; the local part is
/// lower-cased only when it is ASCII; the domain is lower-cased.
fn normalize_one(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) if local.is_ascii() => {
            format!("{}@{}", local.to_ascii_lowercase(), domain.to_lowercase())
        }
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => email.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use postern_model::address::{email_normalize_all, email_split, email_split_and_format};

    use super::*;

    #[test]
    fn same_as_the_model() {
        let (headers, _) = Headers::parse(b"From: x@y.example\n\n");
        let memo = Addresses::new(&headers);
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
            assert_eq!(memo.split(text), email_split(text), "{text}");
            assert_eq!(
                *memo.split_and_format(text),
                email_split_and_format(text),
                "{text}"
            );
            assert_eq!(
                memo.normalize_all(text),
                email_normalize_all(text),
                "{text}"
            );
        }
        assert_eq!(memo.field("from").as_deref(), Some("x@y.example"));
        assert_eq!(memo.field("to"), None);
    }
}
