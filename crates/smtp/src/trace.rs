//! The trace headers an MTA puts on top of a message it accepts (RFC 5321 §4.4): `Return-Path:`
//! from `MAIL FROM`, and `Received:` with the peer, its HELO name, the protocol, our id, the
//! recipient when there is one, and the date. Also the RFC 5322 date they need.
//!
//! Pure: the time is passed in (the session reads the clock). Everything that came from the
//! peer is cleaned so that it cannot break the header (no CR/LF, no comment or `;` tricks).

use std::fmt::Write as _;

/// What goes into the trace headers of one message.
#[derive(Debug, Clone)]
pub(crate) struct Trace<'a> {
    /// `MAIL FROM` (`""` for the null sender).
    pub mail_from: &'a str,
    /// Accepted recipients.
    pub rcpt_to: &'a [String],
    /// The HELO/EHLO/LHLO name.
    pub helo: &'a str,
    /// The peer's IP address, when it came over TCP.
    pub peer_ip: Option<std::net::IpAddr>,
    /// Our hostname.
    pub hostname: &'a str,
    /// `ESMTP`, `ESMTPS`, `LMTP`, ... (RFC 3848 / RFC 6531 `with` keywords).
    pub protocol: &'static str,
    /// Our id of the message.
    pub id: &'a str,
    /// Seconds since the Unix epoch, UTC.
    pub unix_time: i64,
}

/// The `with` keyword of `Received:` (RFC 3848, RFC 6531 §3.7.3).
pub(crate) fn protocol(lmtp: bool, esmtp: bool, tls: bool, smtputf8: bool) -> &'static str {
    match (lmtp, esmtp, smtputf8, tls) {
        (true, _, false, false) => "LMTP",
        (true, _, false, true) => "LMTPS",
        (true, _, true, false) => "UTF8LMTP",
        (true, _, true, true) => "UTF8LMTPS",
        (false, false, _, _) => "SMTP",
        (false, true, false, false) => "ESMTP",
        (false, true, false, true) => "ESMTPS",
        (false, true, true, false) => "UTF8SMTP",
        (false, true, true, true) => "UTF8SMTPS",
    }
}

/// `Return-Path:` and `Received:`, folded, each line ending with CRLF.
pub(crate) fn headers(t: &Trace<'_>) -> String {
    let mut h = String::with_capacity(256);
    let _ = write!(h, "Return-Path: <{}>\r\n", clean_address(t.mail_from));
    let _ = write!(h, "Received: from {}", clean_name(t.helo));
    match t.peer_ip {
        Some(std::net::IpAddr::V4(ip)) => {
            let _ = write!(h, " ([{ip}])");
        }
        Some(std::net::IpAddr::V6(ip)) => {
            let _ = write!(h, " ([IPv6:{ip}])");
        }
        None => h.push_str(" (localhost)"),
    }
    let _ = write!(
        h,
        "\r\n\tby {} (Postern) with {} id {}",
        clean_name(t.hostname),
        t.protocol,
        t.id
    );
    if let [one] = t.rcpt_to {
        let _ = write!(h, "\r\n\tfor <{}>", clean_address(one));
    }
    let _ = write!(h, ";\r\n\t{}\r\n", rfc5322_date(t.unix_time));
    h
}

/// A domain or HELO name as it may appear in a header: letters, digits, `.-_:[]`; anything
/// else becomes `_` (so a peer cannot open a comment or end the clause with `;`).
fn clean_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .take(255)
        .map(|c| {
            if c.is_alphanumeric() || ".-_:[]".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned
    }
}

/// An address as smtp-proto parsed it, without the characters that could end the angle
/// brackets or the line.
fn clean_address(address: &str) -> String {
    address
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '<' | '>'))
        .collect()
}

/// `Sat, 22 Nov 2026 03:16:00 +0000` (RFC 5322 §3.3) for a Unix time, in UTC.
pub(crate) fn rfc5322_date(unix_time: i64) -> String {
    chrono::DateTime::from_timestamp(unix_time, 0)
        .unwrap_or_default()
        .to_rfc2822()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let table = [
            (0, "Thu, 1 Jan 1970 00:00:00 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 +0000"),
            (1_709_164_799, "Wed, 28 Feb 2024 23:59:59 +0000"),
            (1_709_251_200, "Fri, 1 Mar 2024 00:00:00 +0000"),
            (4_102_444_800, "Fri, 1 Jan 2100 00:00:00 +0000"),
            (-1, "Wed, 31 Dec 1969 23:59:59 +0000"),
        ];
        for (t, want) in table {
            assert_eq!(rfc5322_date(t), want, "{t}");
        }
    }

    #[test]
    fn protocols() {
        assert_eq!(protocol(false, true, false, false), "ESMTP");
        assert_eq!(protocol(false, true, true, false), "ESMTPS");
        assert_eq!(protocol(false, false, false, false), "SMTP");
        assert_eq!(protocol(true, true, false, false), "LMTP");
        assert_eq!(protocol(false, true, true, true), "UTF8SMTPS");
    }

    fn trace<'a>(rcpt: &'a [String], helo: &'a str, from: &'a str) -> Trace<'a> {
        Trace {
            mail_from: from,
            rcpt_to: rcpt,
            helo,
            peer_ip: Some("192.0.2.7".parse().unwrap()),
            hostname: "mx.example.com",
            protocol: "ESMTPS",
            id: "0123ABCD",
            unix_time: 1_700_000_000,
        }
    }

    #[test]
    fn headers_of_one_recipient() {
        let rcpt = vec!["sales@example.com".to_owned()];
        assert_eq!(
            headers(&trace(&rcpt, "client.example.org", "a@example.org")),
            "Return-Path: <a@example.org>\r\n\
             Received: from client.example.org ([192.0.2.7])\r\n\
             \tby mx.example.com (Postern) with ESMTPS id 0123ABCD\r\n\
             \tfor <sales@example.com>;\r\n\
             \tTue, 14 Nov 2023 22:13:20 +0000\r\n"
        );
    }

    #[test]
    fn headers_of_several_recipients_and_null_sender() {
        let rcpt = vec!["a@example.com".to_owned(), "b@example.com".to_owned()];
        let h = headers(&trace(&rcpt, "x", ""));
        assert!(h.starts_with("Return-Path: <>\r\n"), "{h}");
        assert!(!h.contains("for <"), "{h}");
    }

    #[test]
    fn peer_text_cannot_break_the_header() {
        let rcpt = vec!["s@example.com>\r\nX-Evil: 1".to_owned()];
        let h = headers(&trace(
            &rcpt,
            "evil (x); by\r\nX-Evil: 1",
            "a>\r\nX-Evil: 1",
        ));
        assert!(!h.contains("\r\nX-Evil"), "{h}");
        assert!(h.contains("from evil__x___by__X-Evil:_1 "), "{h}");
        assert_eq!(h.matches(';').count(), 1, "{h}");
    }
}
