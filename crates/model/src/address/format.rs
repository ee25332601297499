//! Formatting (name, address) pairs for headers and for the SMTP envelope, as Odoo's
//! `formataddr`, `extract_rfc2822_addresses` and `encapsulate_email` do.

use super::AddressError;
use super::getaddresses::getaddresses;
use super::idn::idna_encode;
use super::patterns::rfc2822_candidates;

/// Odoo's `formataddr((name, address))`, i.e. with its default `charset='utf-8'`. Every
/// Rust string is encodable in UTF-8, so nothing is encoded: no name →
/// `local@domain`; a name → `"name" <local@domain>` with `\` and `"` escaped, the name
/// being **always** quoted (unlike Python's own `email.utils.formataddr`). The address
/// is split at its last `@`; an address without `@` gives `@address`, as in Odoo.
///
/// For an ASCII-only header or envelope use [`formataddr_ascii`].
pub fn formataddr(name: &str, address: &str) -> String {
    let (local, domain) = rpartition_at(address);
    format_pair(name, local, domain)
}

/// Odoo's `formataddr((name, address), charset='ascii')`, as used to build the SMTP
/// envelope: a non-ASCII domain is IDNA-encoded (`joe@examplé.com` →
/// `joe@xn--exampl-gva.com`), a non-ASCII name becomes `=?utf-8?b?<base64>?=` (not
/// quoted), an ASCII name is quoted and escaped as in [`formataddr`]. The local part is
/// left as it is (non-ASCII needs SMTPUTF8). Fails when the domain cannot be IDNA-encoded.
pub fn formataddr_ascii(name: &str, address: &str) -> Result<String, AddressError> {
    let (local, domain) = rpartition_at(address);
    let domain = if domain.is_ascii() {
        domain.to_owned()
    } else {
        idna_encode(domain)?
    };
    if name.is_empty() || name.is_ascii() {
        return Ok(format_pair(name, local, &domain));
    }
    let encoded = base64_encode(name.as_bytes());
    Ok(format!("=?utf-8?b?{encoded}?= <{local}@{domain}>"))
}

/// `address` with its domain in IDNA A-labels, for a header field (`test@ééééééé.com` gives
/// `test@xn--9caaaaaaa.com`): what a header may hold without SMTPUTF8 (RFC 5322, RFC 5890).
/// The reference writes an RFC 2047 encoded-word inside the domain instead
/// (`test@=?utf-8?b?…?=.com`, case H110), which RFC 2047 §5 forbids in an addr-spec and no
/// client decodes. An ASCII domain, or one that does not encode, is left as it is.
pub fn email_ascii_domain(address: &str) -> String {
    let (local, domain) = rpartition_at(address);
    if domain.is_ascii() || local.is_empty() {
        return address.to_owned();
    }
    match idna_encode(domain) {
        Ok(domain) => format!("{local}@{domain}"),
        Err(_) => address.to_owned(),
    }
}

/// Python's `address.rpartition('@')` without the separator.
pub(super) fn rpartition_at(address: &str) -> (&str, &str) {
    address.rsplit_once('@').unwrap_or(("", address))
}

fn format_pair(name: &str, local: &str, domain: &str) -> String {
    if name.is_empty() {
        return format!("{local}@{domain}");
    }
    let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\" <{local}@{domain}>")
}

/// Standard base64 with padding (RFC 4648), as Python's `base64.b64encode`.
pub(super) fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let group = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(
                    ALPHABET[((group >> (18 - 6 * i)) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The SMTP recipients Odoo finds in a `To`/`Cc`/`Bcc` value (`extract_rfc2822_addresses`
/// of `ir_mail_server`): every match of `([^" ,<@]+@[^>" ,]+)`, formatted with
/// [`formataddr_ascii`] (IDNA domain); candidates whose domain cannot be encoded are skipped.
pub fn extract_rfc2822_addresses(text: &str) -> Vec<String> {
    let candidates = rfc2822_candidates(text);
    candidates
        .iter()
        .filter_map(|c| formataddr_ascii("", c).ok())
        .collect()
}

/// Odoo's `encapsulate_email(old, new)`, used when the From of an outgoing mail is
/// rewritten to the notifications address: `"Admin" <admin@gmail.com>` and
/// `notifications@odoo.com` give `"Admin" <notifications@odoo.com>`; without a display
/// name the old local part is the name. An empty `old` is returned as it is; an empty
/// `new` gives `None`.
pub fn encapsulate_email(old: &str, new: &str) -> Option<String> {
    let Some((old_name, old_email)) = getaddresses(old).into_iter().next() else {
        return Some(old.to_owned());
    };
    let (_, new_email) = getaddresses(new).into_iter().next()?;
    let name = if old_name.is_empty() {
        old_email.split('@').next().unwrap_or("")
    } else {
        &old_name
    };
    Some(formataddr(name, &new_email))
}

/// xtext (RFC 3461 §4), as `ENVID`, `ORCPT` and the fields of a delivery status carry
/// addresses and ids: `+`, `=`, controls, space and non-ASCII bytes as `+XX`.
pub fn xtext(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'!'..=b'~' if b != b'+' && b != b'=' => (b as char).to_string(),
            _ => format!("+{b:02X}"),
        })
        .collect()
}
