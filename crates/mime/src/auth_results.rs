//! The `Authentication-Results` fields of a message (RFC 8601): who verified it (the
//! authserv-id) and what DMARC said. Postern trusts the verdict of a host whose authserv-id the
//! configuration names (an MTA in front of Postern that verifies, e.g. with OpenDMARC), and
//! ignores every other one: anybody can write such a field.
//!
//! [`without_auth_results`] removes the fields that claim a given authserv-id (ours, before we
//! add our own verdict).
//!
//! Only what the trust decision needs is read: the authserv-id, the `dmarc=` result and its
//! `header.from`. Comments (nested ones too) are dropped; a field that does not parse gives an
//! empty authserv-id, which no configuration names.

use crate::headers::Headers;

/// One `Authentication-Results` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    /// Who verified (lower-case).
    pub authserv_id: String,
    /// The `dmarc=` result (lower-case: `pass`, `fail`, `none`, `temperror`, ...), if any.
    pub dmarc: Option<String>,
    /// The `header.from` of the `dmarc` result, if any.
    pub header_from: Option<String>,
}

/// Every `Authentication-Results` field of the message's header, top first (the nearest hop
/// first).
pub fn authentication_results(raw: &[u8]) -> Vec<AuthResults> {
    let (headers, _) = Headers::parse(raw);
    headers
        .raw_all("authentication-results")
        .map(parse_auth_results)
        .collect()
}

/// One field's value.
pub fn parse_auth_results(value: &str) -> AuthResults {
    let text = without_comments(value);
    let mut parts = text.split(';');
    let authserv_id = parts
        .next()
        .and_then(|p| p.split_whitespace().next())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut out = AuthResults {
        authserv_id,
        dmarc: None,
        header_from: None,
    };
    for part in parts {
        let mut words = part.split_whitespace();
        let Some(("dmarc", result)) = words
            .next()
            .and_then(|w| w.split_once('='))
            .map(|(m, r)| (m.trim(), r))
        else {
            continue;
        };
        out.dmarc = Some(result.to_ascii_lowercase());
        out.header_from = words
            .filter_map(|w| w.split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("header.from"))
            .map(|(_, v)| v.trim_matches('"').to_ascii_lowercase());
        break;
    }
    out
}

/// `raw` without the `Authentication-Results` fields of its header section that bear
/// `authserv_id` (any case): a receiving host removes the fields that claim to be its own
/// before adding its verdict (RFC 8601 §5), or a forger could write it. `None` when there is
/// none (nothing is copied).
pub fn without_auth_results(raw: &[u8], authserv_id: &str) -> Option<Vec<u8>> {
    let fields = header_fields(raw);
    let claims = |f: &std::ops::Range<usize>| {
        let field = String::from_utf8_lossy(&raw[f.clone()]);
        let Some((name, value)) = field.split_once(':') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("authentication-results")
            && parse_auth_results(&value.replace(['\r', '\n'], ""))
                .authserv_id
                .eq_ignore_ascii_case(authserv_id)
    };
    if !fields.iter().any(claims) {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    for f in fields.iter().filter(|f| claims(f)) {
        out.extend_from_slice(&raw[at..f.start]);
        at = f.end;
    }
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

/// The byte ranges of the fields of the header section (each with its continuation lines and
/// line ends), up to the blank line.
fn header_fields(raw: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut fields: Vec<std::ops::Range<usize>> = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let end = raw[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| at + i + 1);
        let line = &raw[at..end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        match (line.first(), fields.last_mut()) {
            (Some(b' ' | b'\t'), Some(last)) => last.end = end,
            _ => fields.push(at..end),
        }
        at = end;
    }
    fields
}

/// The value without its comments (`(...)`, nested, `\` quoting).
fn without_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut escaped) = (0usize, false);
    for c in value.chars() {
        match (depth, escaped, c) {
            (_, true, _) => escaped = false,
            (d, false, '\\') if d > 0 => escaped = true,
            (_, false, '(') => depth += 1,
            (d, false, ')') if d > 0 => depth -= 1,
            (0, false, c) => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_authserv_id_and_dmarc() {
        let raw =
            b"Authentication-Results: mx.example.net 1; spf=pass smtp.mailfrom=a.example;\r\n \
            dkim=none; dmarc=FAIL (p=reject (nested) dis=none) header.from=\"A.example\"\r\n\
            Authentication-Results: (comment) other.example; dmarc=pass header.from=a.example\r\n\
            Subject: x\r\n\r\nbody\r\n";
        let found = authentication_results(raw);
        assert_eq!(
            found,
            [
                AuthResults {
                    authserv_id: "mx.example.net".into(),
                    dmarc: Some("fail".into()),
                    header_from: Some("a.example".into()),
                },
                AuthResults {
                    authserv_id: "other.example".into(),
                    dmarc: Some("pass".into()),
                    header_from: Some("a.example".into()),
                },
            ]
        );
    }

    #[test]
    fn fields_claiming_our_id_are_removed() {
        let raw = b"Received: from x\r\nAuthentication-Results: MX.example.com;\r\n \
            dmarc=pass header.from=a.example\r\nAuthentication-Results: other.example; dmarc=fail\r\n\
            Subject: x\r\n\r\nAuthentication-Results: mx.example.com; body line\r\n";
        let out = without_auth_results(raw, "mx.example.com").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Received: from x\r\nAuthentication-Results: other.example; dmarc=fail\r\n\
             Subject: x\r\n\r\nAuthentication-Results: mx.example.com; body line\r\n"
        );
        assert_eq!(without_auth_results(raw, "nobody.example"), None);
        assert_eq!(without_auth_results(b"", "mx.example.com"), None);
    }

    #[test]
    fn odd_fields_give_nothing_usable() {
        assert_eq!(parse_auth_results("").authserv_id, "");
        let none = parse_auth_results("mx.example.net; none");
        assert_eq!((none.dmarc, none.header_from), (None, None));
        assert_eq!(parse_auth_results("((x);").authserv_id, "");
        assert!(authentication_results(b"Subject: x\r\n\r\n").is_empty());
    }
}
