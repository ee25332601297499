//! Splitting a header or a free text into (name, address) pairs, as Odoo's
//! `odoo/tools/mail.py` does (`email_split_tuples` and the helpers built on it).

use super::format::formataddr;
use super::getaddresses::{getaddresses, py_strip};
use super::normalize::{email_normalize_first, normalize_one};
use super::patterns::email_re_findall;

/// The (display name, address) pairs found in `text` (a header value or an address list),
/// exactly as Odoo's `email_split_tuples`: Python's `getaddresses`, then only addresses
/// holding an `@`; when one of them starts with `@` (`'@gmail.com'`), every match of the
/// plain regex `[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,63}` instead (if any); and a
/// nameless address with spaces (`Name email@x`) is split again into name and address.
///
/// RFC 2047 encoded words are not decoded (Odoo decodes headers before calling it).
pub fn email_split_tuples(text: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = getaddresses(text)
        .into_iter()
        .filter(|(_, addr)| addr.contains('@'))
        .collect();
    if pairs.iter().any(|(_, addr)| addr.starts_with('@')) {
        let found = email_re_findall(text);
        if !found.is_empty() {
            pairs = found
                .into_iter()
                .map(|addr| (String::new(), addr))
                .collect();
        }
    }
    pairs.into_iter().map(parse_based_on_spaces).collect()
}

/// Odoo's `_parse_based_on_spaces`: `('', 'name email@x')` → `('name', 'email@x')`.
fn parse_based_on_spaces((name, email): (String, String)) -> (String, String) {
    if !name.is_empty() || !email.contains(' ') {
        return (name, email);
    }
    let mut name_parts = Vec::new();
    let mut found = None;
    for (_, addr) in getaddresses(&email.replace(' ', ",")) {
        if addr.contains('@') {
            found = Some(addr);
        } else if !addr.is_empty() {
            name_parts.push(addr);
        }
    }
    match found {
        Some(addr) => (name_parts.join(" "), addr),
        None => (name, email),
    }
}

/// The addresses found in `text` (Odoo's `email_split`).
pub fn email_split(text: &str) -> Vec<String> {
    email_split_tuples(text)
        .into_iter()
        .map(|(_, addr)| addr)
        .collect()
}

/// Each pair found in `text`, formatted with [`formataddr`] (Odoo's `email_split_and_format`).
pub fn email_split_and_format(text: &str) -> Vec<String> {
    email_split_tuples(text)
        .iter()
        .map(|(name, addr)| formataddr(name, addr))
        .collect()
}

/// Like [`email_split_and_format`] with each address normalised
/// (Odoo's `email_split_and_format_normalize`).
pub fn email_split_and_format_normalize(text: &str) -> Vec<String> {
    let pairs = email_split_tuples(text);
    pairs
        .iter()
        .map(|(name, addr)| formataddr(name, &normalize_one(addr)))
        .collect()
}

/// `(name, address)` of a contact typed as text (Odoo's `parse_contact_from_email`):
/// `Raoul <raoul@grosbedon.fr>`, `"Raoul le Grand" <raoul@grosbedon.fr>` or
/// `Raoul raoul@grosbedon.fr`; the address is normalised when possible. Without any
/// address the whole text is the name; blank text gives two empty strings.
pub fn parse_contact_from_email(text: &str) -> (String, String) {
    if py_strip(text).is_empty() {
        return (String::new(), String::new());
    }
    match email_split_tuples(text).into_iter().next() {
        Some((name, email)) if !email.is_empty() => {
            let normalized = email_normalize_first(&email).unwrap_or(email);
            (name, normalized)
        }
        _ => (text.to_owned(), String::new()),
    }
}
