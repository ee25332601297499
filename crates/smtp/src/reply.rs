//! SMTP replies: the fixed ones of the session, and the one a message gets once the gateway has
//! answered (pure: no I/O, no clock).
//!
//! Owns: the reply text sent to peers. Public text is short and generic; the details of a
//! failure go to the log (never a database error to a peer). The one exception is a refusal,
//! whose explanation is meant for the sender (the same text the refusal mail would carry).

use postern_gateway::Outcome;
use postern_gateway::{AcceptError, AcceptOutcome};
use std::fmt::Write as _;

/// The longest reply text we put on one line (RFC 5321 §4.5.3.1.5 allows 512 octets per line,
/// code included).
const MAX_TEXT: usize = 400;

/// One reply: a code, an enhanced status code (RFC 3463), a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub code: u16,
    pub status: Option<(u8, u8, u8)>,
    pub text: String,
}

impl Reply {
    /// A reply with an enhanced status code.
    pub fn new(code: u16, status: (u8, u8, u8), text: impl Into<String>) -> Reply {
        Reply {
            code,
            status: Some(status),
            text: text.into(),
        }
    }

    /// A reply without one (the greeting and the 421 of a refused connection, RFC 2034 §3).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status: None,
            text: text.into(),
        }
    }

    /// Appends the reply in wire form: one line, whatever the text holds.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut s = format!("{} ", self.code);
        if let Some((a, b, c)) = self.status {
            let _ = write!(s, "{a}.{b}.{c} ");
        }
        s.push_str(&clean_text(&self.text));
        s.push_str("\r\n");
        out.extend_from_slice(s.as_bytes());
    }

    /// The wire form.
    #[cfg(test)]
    pub fn to_wire(&self) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out);
        String::from_utf8(out).unwrap()
    }
}

/// Text a peer can be sent on one reply line: printable ASCII (anything else becomes `?`, runs
/// of white space one space), at most [`MAX_TEXT`] characters.
pub(crate) fn clean_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TEXT));
    let mut space = false;
    for ch in text.trim().chars() {
        if out.len() >= MAX_TEXT {
            out.push_str("...");
            break;
        }
        if ch.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(if ch.is_ascii_graphic() { ch } else { '?' });
    }
    out
}

/// The reply to a message once the gateway has answered (after DATA, or the last BDAT).
///
/// A refusal is a 5xx with its explanation only when `refuse_in_session`; otherwise the
/// gateway has queued the bounce mail (Odoo's accept-then-bounce) and the message is
/// acknowledged. `Temporary` is `451`: nothing was applied and the sender retries.
pub(crate) fn delivery(
    result: &Result<AcceptOutcome, AcceptError>,
    refuse_in_session: bool,
    queue_id: &str,
) -> Reply {
    match result {
        Ok(o) if refuse_in_session && o.outcome.is_refusal() => {
            let why = o
                .refusal
                .as_deref()
                .unwrap_or("the message is refused by the gateway");
            let status = match o.outcome {
                Outcome::NoRoute => (5, 1, 1),
                _ if why == postern_gateway::UNTRUSTED_REFUSAL => (5, 7, 26),
                _ => (5, 7, 1),
            };
            Reply::new(550, status, why)
        }
        Ok(o) => Reply::new(
            250,
            (2, 0, 0),
            format!("OK {queue_id} ({})", o.outcome.as_str()),
        ),
        // The reason is the parser's own words (no stored data, no secret): what a sender
        // needs to know why a message built by a program is refused.
        Err(AcceptError::Unparseable { reason, .. }) => Reply::new(
            554,
            (5, 6, 0),
            format!("message content could not be taken as an e-mail: {reason}"),
        ),
        Err(AcceptError::Temporary(_)) => Reply::new(
            451,
            (4, 3, 0),
            "temporary failure storing the message, try again later",
        ),
    }
}

/// The reply to a command that smtp-proto could not parse.
pub(crate) fn parse_error(e: &smtp_proto::Error) -> Reply {
    use smtp_proto::Error as E;
    match e {
        E::UnknownCommand => Reply::new(500, (5, 5, 1), "command unrecognized"),
        E::InvalidSenderAddress => Reply::new(501, (5, 1, 7), "bad sender address syntax"),
        E::InvalidRecipientAddress => Reply::new(501, (5, 1, 3), "bad recipient address syntax"),
        E::SyntaxError { syntax } => Reply::new(501, (5, 5, 2), format!("syntax: {syntax}")),
        E::InvalidParameter { param } => {
            Reply::new(501, (5, 5, 4), format!("invalid parameter {param}"))
        }
        E::UnsupportedParameter { param } => {
            Reply::new(555, (5, 5, 4), format!("unsupported parameter {param}"))
        }
        E::ResponseTooLong => Reply::new(500, (5, 5, 2), "line too long"),
        E::NeedsMoreData { .. } | E::InvalidResponse { .. } => {
            Reply::new(500, (5, 5, 2), "syntax error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_store::StoreError;

    fn outcome(outcome: Outcome, refusal: Option<&str>) -> AcceptOutcome {
        AcceptOutcome {
            outcome,
            routes: vec![],
            sent: vec![],
            bounce: None,
            message_ids: vec![],
            refusal: refusal.map(str::to_owned),
            trace: vec![],
            auth: None,
        }
    }

    #[test]
    fn wire_form() {
        assert_eq!(
            Reply::new(250, (2, 1, 0), "OK").to_wire(),
            "250 2.1.0 OK\r\n"
        );
        assert_eq!(Reply::plain(220, "mx ESMTP").to_wire(), "220 mx ESMTP\r\n");
        assert_eq!(
            Reply::new(550, (5, 7, 1), "one\r\ntwo").to_wire(),
            "550 5.7.1 one two\r\n"
        );
    }

    #[test]
    fn text_is_one_clean_ascii_line() {
        assert_eq!(clean_text("  a\r\n\tb  "), "a b");
        assert_eq!(clean_text("refusée"), "refus?e");
        assert_eq!(clean_text("x\u{0}y"), "x?y");
        let long = clean_text(&"a".repeat(1000));
        assert!(long.len() <= MAX_TEXT + 3 && long.ends_with("..."));
    }

    #[test]
    fn replies_after_data() {
        let table: &[(Outcome, Option<&str>, bool, &str)] = &[
            (Outcome::Routed, None, true, "250 2.0.0 OK Q1 (routed)"),
            (
                Outcome::Duplicate,
                None,
                true,
                "250 2.0.0 OK Q1 (duplicate)",
            ),
            (
                Outcome::LoopIgnored,
                None,
                true,
                "250 2.0.0 OK Q1 (loop_ignored)",
            ),
            (
                Outcome::BounceProcessed,
                None,
                true,
                "250 2.0.0 OK Q1 (bounce_processed)",
            ),
            (
                Outcome::NoRoute,
                Some("no alias"),
                true,
                "550 5.1.1 no alias",
            ),
            (
                Outcome::CatchallRefused,
                Some("collects replies"),
                true,
                "550 5.7.1 collects replies",
            ),
            (
                Outcome::AliasRefused,
                Some("followers"),
                true,
                "550 5.7.1 followers",
            ),
            (Outcome::AliasInvalid, Some("bad"), true, "550 5.7.1 bad"),
            (
                Outcome::AliasRefused,
                Some(postern_gateway::UNTRUSTED_REFUSAL),
                true,
                "550 5.7.26 the sender is not authenticated: DMARC fails for the domain of its From",
            ),
            (
                Outcome::RateLimited,
                Some("too many"),
                true,
                "550 5.7.1 too many",
            ),
            (
                Outcome::RateLimited,
                None,
                true,
                "550 5.7.1 the message is refused by the gateway",
            ),
            // Odoo's accept-then-bounce: the bounce mail is queued, the message acknowledged.
            (
                Outcome::NoRoute,
                Some("no alias"),
                false,
                "250 2.0.0 OK Q1 (no_route)",
            ),
            (
                Outcome::CatchallRefused,
                Some("x"),
                false,
                "250 2.0.0 OK Q1 (catchall_refused)",
            ),
        ];
        for (o, refusal, in_session, want) in table {
            let got = delivery(&Ok(outcome(*o, *refusal)), *in_session, "Q1").to_wire();
            assert_eq!(got, format!("{want}\r\n"), "{o:?} {in_session}");
        }
    }

    #[test]
    fn replies_to_gateway_errors() {
        let unparseable = Err(AcceptError::Unparseable {
            reason: "x".into(),
            raw_message_id: postern_model::RawMessageId(1),
        });
        assert!(
            delivery(&unparseable, true, "Q")
                .to_wire()
                .starts_with("554 5.6.0 ")
        );
        let temporary = Err(AcceptError::Temporary(StoreError::Unavailable(
            "secret db detail".into(),
        )));
        let wire = delivery(&temporary, true, "Q").to_wire();
        assert!(wire.starts_with("451 4.3.0 "), "{wire}");
        assert!(!wire.contains("secret"), "details stay in the log: {wire}");
    }

    #[test]
    fn parse_errors_are_5xx() {
        use smtp_proto::Error as E;
        for e in [
            E::UnknownCommand,
            E::InvalidSenderAddress,
            E::InvalidRecipientAddress,
            E::SyntaxError { syntax: "x" },
            E::InvalidParameter { param: "SIZE" },
            E::UnsupportedParameter {
                param: "FOO\r\nBAR".into(),
            },
            E::ResponseTooLong,
        ] {
            let r = parse_error(&e);
            assert!((500..600).contains(&r.code), "{e:?}");
            assert_eq!(r.to_wire().matches("\r\n").count(), 1, "{e:?}");
        }
    }
}
