//! Signed tokens that Postern puts in addresses, so that what comes back to them can be trusted:
//! the VERP return path (`bounce+<token>@domain`, RFC 5321's reverse-path made per recipient),
//! which names the mail and the recipient a bounce is about even when the bounce says nothing.
//!
//! A token is `<id>-<mac>`: the id in base 36, and the first 64 bits of an HMAC-SHA256 (hex) over
//! the purpose, the id and what it names, with a key of the store's. Short (about 20
//! characters), lower-case letters, digits and `-`: a valid local part everywhere, and it
//! survives relays that lower-case addresses.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Hex digits of the MAC (64 bits).
const MAC_HEX: usize = 16;

fn mac(key: &[u8], purpose: &str, id: i64, subject: &str) -> String {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key size");
    for part in [
        purpose.as_bytes(),
        b"\0",
        id.to_string().as_bytes(),
        b"\0",
        subject.as_bytes(),
    ] {
        m.update(part);
    }
    let bytes = m.finalize().into_bytes();
    bytes[..MAC_HEX / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The token of `id` for `subject` (an address, lower-case) and `purpose` (`verp`).
pub fn sign(key: &[u8], purpose: &str, id: i64, subject: &str) -> String {
    let id = id.max(0);
    format!(
        "{}-{}",
        base36(id.unsigned_abs()),
        mac(key, purpose, id, subject)
    )
}

/// The id a token names, if it has the shape of one (its MAC is not checked here).
pub fn id_of(token: &str) -> Option<i64> {
    let (id, mac) = token.split_once('-')?;
    if mac.len() != MAC_HEX || !mac.bytes().all(|b| b.is_ascii_hexdigit()) || id.len() > 13 {
        return None;
    }
    i64::from_str_radix(&id.to_ascii_lowercase(), 36).ok()
}

/// Whether `token` is the token of its id for `subject` and `purpose` (constant time).
pub fn verify(key: &[u8], purpose: &str, token: &str, subject: &str) -> bool {
    let Some(id) = id_of(token) else {
        return false;
    };
    same(
        &sign(key, purpose, id, subject),
        &token.to_ascii_lowercase(),
    )
}

/// Whether `a` and `b` are equal, in a time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Hex digits of the MAC of a subject tag (32 bits): short enough to sit in a subject, and a
/// guess is still one in four billion. A tag only threads a reply that nothing else threads.
const SUBJECT_MAC_HEX: usize = 8;

/// The subject tag of message `id`: `[#<id>-<mac>]`, the id in base 36 and a 32-bit MAC (the
/// purpose is `subject`).
pub fn subject_tag(key: &[u8], id: i64) -> String {
    let id = id.max(0);
    let full = mac(key, "subject", id, "");
    format!(
        "[#{}-{}]",
        base36(id.unsigned_abs()),
        &full[..SUBJECT_MAC_HEX]
    )
}

/// The tokens of every subject tag in `subject` (`<id>-<mac>`, without `[#` and `]`), last
/// first (a reply to a reply keeps the newest at the end).
pub fn subject_tags(subject: &str) -> Vec<&str> {
    let mut out: Vec<&str> = subject
        .split("[#")
        .skip(1)
        .filter_map(|rest| {
            let token = &rest[..rest.find(']')?];
            let (id, mac) = token.split_once('-')?;
            (mac.len() == SUBJECT_MAC_HEX
                && mac.bytes().all(|b| b.is_ascii_hexdigit())
                && !id.is_empty()
                && id.len() <= 13
                && id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then_some(token)
        })
        .collect();
    out.reverse();
    out
}

/// The message a subject tag's token names, when its MAC is right (constant time).
pub fn verify_subject_tag(key: &[u8], token: &str) -> Option<i64> {
    let (id, _) = token.split_once('-')?;
    let id = i64::from_str_radix(&id.to_ascii_lowercase(), 36).ok()?;
    let want = subject_tag(key, id);
    let want = want.trim_start_matches("[#").trim_end_matches(']');
    same(want, &token.to_ascii_lowercase()).then_some(id)
}

/// The VERP return path of mail `mail` to `rcpt`: `<local>+<token>@<domain>` for the bounce
/// address `local@domain`.
pub fn verp_address(key: &[u8], bounce: &str, mail: i64, rcpt: &str) -> String {
    let (local, domain) = bounce.rsplit_once('@').unwrap_or((bounce, ""));
    let token = sign(key, "verp", mail, &rcpt.to_ascii_lowercase());
    format!("{local}+{token}@{domain}")
}

/// The token of a VERP address of the bounce address `bounce` (`bounce+<token>@domain`), if
/// `address` is one.
pub fn verp_token<'a>(address: &'a str, bounce: &str) -> Option<&'a str> {
    let (local, domain) = address.rsplit_once('@')?;
    let (b_local, b_domain) = bounce.rsplit_once('@')?;
    let (base, token) = local.split_once('+')?;
    (base.eq_ignore_ascii_case(b_local) && domain.eq_ignore_ascii_case(b_domain)).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_subject_tag_round_trips() {
        let tag = subject_tag(b"key", 4711);
        assert!(tag.starts_with("[#3mv-") && tag.len() == 15, "{tag}");
        let subject = format!("RE: AW: Our offer {tag}");
        let found = subject_tags(&subject);
        assert_eq!(found.len(), 1);
        assert_eq!(verify_subject_tag(b"key", found[0]), Some(4711));
        assert_eq!(verify_subject_tag(b"other", found[0]), None, "another key");
        let forged = found[0].replace("3mv", "3mw");
        assert_eq!(verify_subject_tag(b"key", &forged), None, "another id");
        assert_eq!(
            verify_subject_tag(b"key", &found[0].to_ascii_uppercase()),
            Some(4711),
            "a client that upper-cases the subject"
        );
        assert!(subject_tags("[#] [#ab] [#x-123] [#a b-12345678]").is_empty());
        let two = format!("{} {}", subject_tag(b"key", 1), subject_tag(b"key", 2));
        let tags = subject_tags(&two);
        assert_eq!(
            verify_subject_tag(b"key", tags[0]),
            Some(2),
            "the last first"
        );
    }

    #[test]
    fn a_verp_address_round_trips() {
        let a = verp_address(
            b"key",
            "bounce@example.com",
            4711,
            "Robert@Customer.example",
        );
        assert!(
            a.starts_with("bounce+3mv-") && a.ends_with("@example.com"),
            "{a}"
        );
        assert!(a.len() < 50, "short: {a}");
        let t = verp_token(&a, "bounce@example.com").unwrap();
        assert_eq!(id_of(t), Some(4711));
        assert!(verify(b"key", "verp", t, "robert@customer.example"));
        assert!(
            !verify(b"key", "verp", t, "carla@customer.example"),
            "another recipient"
        );
        assert!(
            !verify(b"other", "verp", t, "robert@customer.example"),
            "another key"
        );
        assert!(
            !verify(b"key", "reply", t, "robert@customer.example"),
            "another purpose"
        );
        // A relay that upper-cases the address keeps it valid.
        assert!(verify(
            b"key",
            "verp",
            &t.to_ascii_uppercase(),
            "robert@customer.example"
        ));
    }

    #[test]
    fn forged_and_foreign_addresses() {
        assert_eq!(verp_token("bounce@example.com", "bounce@example.com"), None);
        assert_eq!(
            verp_token("sales+x@example.com", "bounce@example.com"),
            None
        );
        assert_eq!(
            verp_token("bounce+x@other.example", "bounce@example.com"),
            None
        );
        assert_eq!(id_of("3mv-0123456789abcdef"), Some(4711));
        assert_eq!(id_of("3nj-0123"), None);
        assert_eq!(id_of("3nj"), None);
        assert!(!verify(
            b"key",
            "verp",
            "3mv-0123456789abcdef",
            "robert@customer.example"
        ));
    }

    proptest! {
        #[test]
        fn any_id_and_address_verify(id in 0i64..i64::MAX, rcpt in "[a-z0-9.]{1,20}@[a-z]{1,10}\\.example") {
            let t = sign(b"k", "verp", id, &rcpt);
            prop_assert_eq!(id_of(&t), Some(id));
            prop_assert!(verify(b"k", "verp", &t, &rcpt));
        }

        #[test]
        fn garbage_never_verifies_nor_panics(t in "\\PC{0,40}") {
            let _ = id_of(&t);
            prop_assert!(!verify(b"k", "verp", &t, "a@b.example") || t == sign(b"k", "verp", id_of(&t).unwrap_or(-1), "a@b.example"));
        }
    }
}
