//! `mail.alias` and `mail.alias.domain`: the dot-atom check and the sanitising of alias names
//! and of `mail.catchall.domain.allowed`, as Odoo does them.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

use super::AddressError;
use super::getaddresses::py_strip;

/// RFC 5322 `atext`, as in Odoo's `mail_alias.atext`.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// Whether `s` matches Odoo's dot-atom regex `^atext+(\.atext+)*$` (alias names and
/// alias-domain names): non-empty ASCII atoms separated by single dots.
///
/// Python's `$` also matches before a final `\n`, so Odoo accepts `"example.com\n"`;
/// this function does not (a line break must never reach a header).
pub fn is_dot_atom(s: &str) -> bool {
    s.split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// Odoo's `mail.alias._sanitize_alias_name(name, is_email)` (§1.3): strip; remove accents
/// (NFKD without combining marks); lower-case; keep what precedes the first `@`; drop
/// leading and trailing dots and collapse runs of dots; replace every run of characters
/// outside ``[\w!#$%&'*+\-/=?^_`{|}~.]`` by `-`; replace each remaining non-ASCII
/// character (a Unicode word character) by `?`. `None` when nothing is left. With
/// `is_email`, the lower-cased text after the first `@` of the stripped input is put back.
///
/// Without `is_email` the result is always a dot-atom (see [`is_dot_atom`]).
pub fn sanitize_alias_name(name: &str, is_email: bool) -> Option<String> {
    let stripped = py_strip(name);
    let lowered: String = remove_accents(stripped).to_lowercase();
    let left = lowered.split('@').next().unwrap_or("");
    let sanitized: String = replace_invalid_runs(&collapse_dots(left))
        .chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect();
    if py_strip(&sanitized).is_empty() {
        return None;
    }
    let right = stripped
        .to_lowercase()
        .split_once('@')
        .map(|(_, r)| r.to_owned());
    match right {
        Some(right) if is_email && !right.is_empty() => Some(format!("{sanitized}@{right}")),
        _ => Some(sanitized),
    }
}

/// Odoo's `tools.remove_accents`: NFKD, then drop every character with a non-zero
/// canonical combining class (`unicodedata.combining`).
fn remove_accents(s: &str) -> String {
    s.nfkd()
        .filter(|c| canonical_combining_class(*c) == 0)
        .collect()
}

/// `re.sub(r'^\.+|\.+$|\.+(?=\.)', '', s)`: no leading or trailing dot, no double dot.
/// Python's `$` also matches before a final `\n`, so dots there go too.
fn collapse_dots(s: &str) -> String {
    let (body, final_newline) = s.strip_suffix('\n').map_or((s, ""), |body| (body, "\n"));
    let mut out = String::with_capacity(s.len());
    for c in body.trim_matches('.').chars() {
        if !(c == '.' && out.ends_with('.')) {
            out.push(c);
        }
    }
    out + final_newline
}

/// `re.sub(r'[^\w!#$%&\'*+\-/=?^_`{|}~.]+', '-', s)` with Python's Unicode `\w`.
fn replace_invalid_runs(s: &str) -> String {
    let allowed = |c: char| is_py_word(c) || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if allowed(c) {
            out.push(c);
        } else if !in_run {
            out.push('-');
        }
        in_run = !allowed(c);
    }
    out
}

/// Python's `re` Unicode `\w` (`str.isalnum()` or `_`). Rust's `is_alphanumeric` is wider:
/// it also accepts the marks and symbols that are `Other_Alphabetic` (Indic vowel signs,
/// ...), which Python's `\w` rejects; [`ALNUM_NOT_PY_WORD`] lists them. Exact for the
/// characters NFKD leaves as they are, the only ones [`sanitize_alias_name`] asks about.
pub(super) fn is_py_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    c.is_alphanumeric() && !in_ranges(ALNUM_NOT_PY_WORD, c)
}

fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    let cp = u32::from(c);
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Odoo's sanitising of `mail.catchall.domain.allowed` (`_sanitize_allowed_domains`, run
/// by `set_param`): split on `,`, strip, lower-case, drop empty entries, join with `,`.
/// An empty value clears the parameter (`Ok(None)`); a value without any domain
/// (`,`, `, ,`, `" "`) is refused.
pub fn sanitize_catchall_domain_allowed(value: &str) -> Result<Option<String>, AddressError> {
    if value.is_empty() {
        return Ok(None);
    }
    let domains: Vec<String> = value
        .split(',')
        .map(py_strip)
        .filter(|d| !d.is_empty())
        .map(str::to_lowercase)
        .collect();
    if domains.is_empty() {
        return Err(AddressError::InvalidAllowedDomains(value.to_owned()));
    }
    Ok(Some(domains.join(",")))
}

/// Code points (canonical combining class 0, without decomposition, assigned in Unicode
/// 14) that Rust's `char::is_alphanumeric` accepts and Python 3.11's `re` `\w` rejects:
/// `Other_Alphabetic` spacing and non-spacing marks and symbols. Generated with Python
/// 3.11 `unicodedata` (Unicode 14.0); adjacent ranges merged over code points that no
/// side calls a word character. Sorted, for binary search.
#[rustfmt::skip]
pub(super) const ALNUM_NOT_PY_WORD: &[(u32, u32)] = &[
    (0x07A6, 0x07B0), (0x0900, 0x0903), (0x093A, 0x093B), (0x093E, 0x094F), (0x0955, 0x0957),
    (0x0962, 0x0963), (0x0981, 0x0983), (0x09BE, 0x09C8), (0x09D7, 0x09D7), (0x09E2, 0x09E3),
    (0x0A01, 0x0A03), (0x0A3E, 0x0A51), (0x0A70, 0x0A71), (0x0A75, 0x0A83), (0x0ABE, 0x0ACC),
    (0x0AE2, 0x0AE3), (0x0AFA, 0x0B03), (0x0B3E, 0x0B57), (0x0B62, 0x0B63), (0x0B82, 0x0B82),
    (0x0BBE, 0x0BC8), (0x0BD7, 0x0BD7), (0x0C00, 0x0C04), (0x0C3E, 0x0C4C), (0x0C62, 0x0C63),
    (0x0C81, 0x0C83), (0x0CBE, 0x0CD6), (0x0CE2, 0x0CE3), (0x0D00, 0x0D03), (0x0D3E, 0x0D48),
    (0x0D57, 0x0D57), (0x0D62, 0x0D63), (0x0D81, 0x0D83), (0x0DCF, 0x0DDF), (0x0DF2, 0x0DF3),
    (0x0E31, 0x0E31), (0x0E34, 0x0E37), (0x0E4D, 0x0E4D), (0x0EB1, 0x0EB1), (0x0EB4, 0x0EBC),
    (0x0ECD, 0x0ECD), (0x0F7E, 0x0F7F), (0x0F8D, 0x0FBC), (0x102B, 0x103E), (0x1056, 0x1059),
    (0x105E, 0x1060), (0x1062, 0x1064), (0x1067, 0x106D), (0x1071, 0x1074), (0x1082, 0x108C),
    (0x108F, 0x108F), (0x109A, 0x109D), (0x1712, 0x1713), (0x1732, 0x1733), (0x1752, 0x1753),
    (0x1772, 0x1773), (0x17B6, 0x17C8), (0x1885, 0x1886), (0x1920, 0x1938), (0x1A19, 0x1A1B),
    (0x1A55, 0x1A74), (0x1B00, 0x1B04), (0x1B35, 0x1B42), (0x1B80, 0x1B82), (0x1BA1, 0x1BAD),
    (0x1BE7, 0x1BF1), (0x1C24, 0x1C36), (0xA802, 0xA802), (0xA80B, 0xA80B), (0xA823, 0xA827),
    (0xA880, 0xA881), (0xA8B4, 0xA8C5), (0xA8FF, 0xA8FF), (0xA926, 0xA92A), (0xA947, 0xA952),
    (0xA980, 0xA983), (0xA9B4, 0xA9BF), (0xA9E5, 0xA9E5), (0xAA29, 0xAA36), (0xAA43, 0xAA43),
    (0xAA4C, 0xAA4D), (0xAA7B, 0xAA7D), (0xAAEB, 0xAAEF), (0xAAF5, 0xAAF5), (0xABE3, 0xABEA),
    (0x10A01, 0x10A0E), (0x11000, 0x11002), (0x11038, 0x11045), (0x11073, 0x11074),
    (0x11080, 0x11082), (0x110B0, 0x110C2), (0x11127, 0x11132), (0x11145, 0x11146),
    (0x11180, 0x11182), (0x111B3, 0x111BF), (0x111CE, 0x111CF), (0x1122C, 0x1123E),
    (0x112DF, 0x112E8), (0x11300, 0x11303), (0x1133E, 0x11348), (0x11357, 0x11357),
    (0x11362, 0x11363), (0x11435, 0x11445), (0x114B0, 0x114C1), (0x115AF, 0x115BE),
    (0x115DC, 0x115DD), (0x11630, 0x11640), (0x116AB, 0x116B5), (0x1171D, 0x1172A),
    (0x1182C, 0x11838), (0x11930, 0x1193C), (0x11940, 0x11940), (0x11942, 0x11942),
    (0x119D1, 0x119DF), (0x119E4, 0x119E4), (0x11A01, 0x11A0A), (0x11A35, 0x11A39),
    (0x11A3B, 0x11A3E), (0x11A51, 0x11A5B), (0x11A8A, 0x11A97), (0x11C2F, 0x11C3E),
    (0x11C92, 0x11CB6), (0x11D31, 0x11D43), (0x11D47, 0x11D47), (0x11D8A, 0x11D96),
    (0x11EF3, 0x11EF6), (0x16F4F, 0x16F4F), (0x16F51, 0x16F92), (0x1F150, 0x1F189),
];
