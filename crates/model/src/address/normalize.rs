//! Normalising addresses and domains, as Odoo's `odoo/tools/mail.py` does
//! (`email_normalize` and its variants).

use super::split::email_split;

/// Odoo's `_normalize_email`: split at the last `@`; the local part is lower-cased only
/// when it is ASCII (SMTPUTF8 local parts are kept as they are); the domain is lower-cased.
pub(super) fn normalize_one(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) if local.is_ascii() => {
            format!("{}@{}", local.to_ascii_lowercase(), domain.to_lowercase())
        }
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => email.to_lowercase(),
    }
}

/// The normalised address when `text` holds exactly one address, else `None`
/// (Odoo's `email_normalize(text, strict=True)`): `'Name <NaMe@DoMaIn.CoM>'` →
/// `name@domain.com`.
pub fn email_normalize(text: &str) -> Option<String> {
    match email_split(text).as_slice() {
        [one] => Some(normalize_one(one)),
        _ => None,
    }
}

/// The first address of `text`, normalised (Odoo's `email_normalize(text, strict=False)`):
/// how a partner whose e-mail field holds several addresses is found.
pub fn email_normalize_first(text: &str) -> Option<String> {
    email_split(text).first().map(|addr| normalize_one(addr))
}

/// Every address found in `text`, normalised (Odoo's `email_normalize_all`).
pub fn email_normalize_all(text: &str) -> Vec<String> {
    email_split(text)
        .iter()
        .map(|addr| normalize_one(addr))
        .collect()
}

/// The domain of the single address in `text`, normalised (Odoo's `email_domain_extract`:
/// the text between the first and the second `@` of the normalised address).
pub fn email_domain_extract(email: &str) -> Option<String> {
    let normalized = email_normalize(email)?;
    normalized.split('@').nth(1).map(str::to_owned)
}

/// `domain` lower-cased, or `None` when empty or holding an `@`
/// (Odoo's `email_domain_normalize`).
pub fn email_domain_normalize(domain: &str) -> Option<String> {
    (!domain.is_empty() && !domain.contains('@')).then(|| domain.to_lowercase())
}
