//! IDNA encoding of a domain for the SMTP envelope, as Python's `idna.encode`, which Odoo's
//! `formataddr(..., charset='ascii')` calls.

use unicode_normalization::char::canonical_combining_class;

use super::AddressError;

/// Python's `idna.encode(domain)` (IDNA 2008, without UTS-46 mapping), as Odoo's
/// `formataddr` calls it: labels split on the four Unicode full stops; ASCII labels kept
/// as they are (case included) once checked as LDH (or as a valid `xn--` A-label);
/// other labels must be non-empty, NFC, free of upper case and of anything UTS-46 would
/// map, made of letters, digits, marks and `-` (no leading mark, no `-` first, last or
/// 3rd-4th), then Punycode-encoded; a label is at most 63 bytes, the domain 253 (254
/// with the root dot). The exact IDNA 2008 tables (CONTEXTJ, CONTEXTO, bidi) are
/// approximated by these rules.
pub(super) fn idna_encode(domain: &str) -> Result<String, AddressError> {
    let error = || AddressError::Idna(domain.to_owned());
    let mut labels: Vec<&str> = domain
        .split(['.', '\u{3002}', '\u{ff0e}', '\u{ff61}'])
        .collect();
    let root_dot = labels.len() > 1 && labels.last() == Some(&"");
    if root_dot {
        labels.pop();
    }
    let mut encoded = labels
        .iter()
        .map(|l| idna_label(l))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(error)?;
    if root_dot {
        encoded.push(String::new());
    }
    let encoded = encoded.join(".");
    let max_len = if root_dot { 254 } else { 253 };
    if encoded.len() > max_len {
        Err(error())
    } else {
        Ok(encoded)
    }
}

/// One label of [`idna_encode`]; `None` when Python's `idna` would refuse it.
fn idna_label(label: &str) -> Option<String> {
    let encoded = if label.is_ascii() {
        ascii_label_ok(label).then(|| label.to_owned())?
    } else if u_label_ok(label) {
        format!("xn--{}", idna::punycode::encode_str(label)?)
    } else {
        return None;
    };
    (encoded.len() <= 63).then_some(encoded)
}

/// An ASCII label: LDH, or an `xn--` label whose Punycode decodes to a valid U-label.
fn ascii_label_ok(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    match lower.strip_prefix("xn--") {
        Some(puny) => {
            !puny.is_empty()
                && !puny.ends_with('-')
                && idna::punycode::decode_to_string(puny).is_some_and(|u| u_label_ok(&u))
        }
        None => {
            hyphens_ok(&lower)
                && lower
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }
    }
}

/// A Unicode label (see [`idna_encode`]).
fn u_label_ok(label: &str) -> bool {
    let (mapped, result) = idna::domain_to_unicode(label);
    let valid_char = |c: char| c.is_alphanumeric() || c == '-' || canonical_combining_class(c) != 0;
    result.is_ok()
        && mapped == label
        && hyphens_ok(label)
        && label
            .chars()
            .next()
            .is_some_and(|c| canonical_combining_class(c) == 0)
        && label.chars().all(valid_char)
}

/// Non-empty, no `-` first or last, no `--` in 3rd and 4th position.
fn hyphens_ok(label: &str) -> bool {
    let third_fourth: String = label.chars().skip(2).take(2).collect();
    !label.is_empty() && !label.starts_with('-') && !label.ends_with('-') && third_fourth != "--"
}
