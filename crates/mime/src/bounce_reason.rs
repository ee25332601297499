//! Why a recipient bounced, in a fixed vocabulary (the reason names of sisimai, which many
//! bounce processors share): inferred from the diagnostic text (the usual wording of MTAs),
//! then from the RFC 3463 enhanced status code (class.subject.detail), then from the SMTP
//! reply code (RFC 5321 §4.2.3).
//!
//! The text comes first because the codes are often generic (`5.7.1`, `550`, `5.0.0`) while
//! the text says what happened ("mailbox full", "listed at zen.spamhaus.org"). A precise
//! status that names the address itself (`x.1.1` bad mailbox, `x.1.2` bad host) wins over
//! the text, which then often only repeats it in the receiving system's own words, except
//! for a few wordings that name their cause beyond doubt where the status is borrowed (a local
//! delivery program's output, a provider's catch-all `5.1.1` for a rate limit). Last, what
//! the text says about the stage of the refusal refines the reason (`refine`: "user unknown"
//! after the data is a filter's, a generic refusal of the greeting blocks the host...).
//!
//! **Hard or soft** follows the reason: an address that does not exist or moved
//! (`userunknown`, `hostunknown`, `hasmoved`), or a domain that accepts no mail at all
//! (`notaccept`, RFC 7505 null MX) with a permanent status, is hard: sending again cannot
//! succeed. Everything else (a full mailbox, a policy or reputation block, a delay) is soft.

use std::cell::OnceCell;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use serde::Serialize;

use crate::bounce_phrases::{OVERRIDING, PHRASES};
use crate::bounce_text::contains_any;

/// The reason a recipient bounced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// The mailbox does not exist (RFC 3463 x.1.1).
    UserUnknown,
    /// The domain or host does not exist or has no mail route (x.1.2, x.4.4).
    HostUnknown,
    /// The address moved and has a new one (x.1.6).
    HasMoved,
    /// The domain accepts no mail at all (null MX, RFC 7505; x.1.10, x.3.2).
    NotAccept,
    /// The mailbox is full or over quota (x.2.2).
    MailboxFull,
    /// The receiving system is out of storage (x.3.1).
    SystemFull,
    /// The mailbox exists but is disabled or suspended (x.2.1).
    Suspend,
    /// The message is larger than the receiver accepts (x.3.4, x.2.3 per message).
    MesgTooBig,
    /// An administrative limit other than size was exceeded (x.5.3 too many recipients).
    ExceedLimit,
    /// The recipient's own filter or settings refused the message.
    Filtered,
    /// The sender (envelope or From) was refused.
    Rejected,
    /// The sending host or its IP address is blocked (block lists, connection refused).
    Blocked,
    /// The sending host has no reverse DNS (PTR) or it does not match.
    RequirePtr,
    /// SPF, DKIM or DMARC failed (x.7.23, x.7.26).
    AuthFailure,
    /// The sender's reputation is too low to be accepted.
    BadReputation,
    /// The content was judged to be spam.
    SpamDetected,
    /// The content carries a virus.
    VirusDetected,
    /// The receiver's policy refused the message (x.7.x without more detail).
    PolicyViolation,
    /// The message does not comply with RFC 5322 (bad or duplicate headers, bare LF).
    NotCompliantRfc,
    /// The content is refused as malformed or not allowed (x.6.x).
    ContentError,
    /// Authentication or TLS was required or failed (x.7.0, x.7.8, x.7.10, x.7.11).
    SecurityError,
    /// The relay refused to relay for this sender (x.7.1 "relay access denied").
    NoRelaying,
    /// Too many connections at once.
    TooManyConn,
    /// Too many messages too fast (rate limiting).
    Speeding,
    /// Delivery was attempted for too long and given up (x.4.7).
    Expired,
    /// The network failed: connection refused, reset or timed out, routing loop (x.4.x).
    NetworkError,
    /// The receiving system failed (x.3.x, x.0.0 with "system error" wording).
    SystemError,
    /// The local delivery program failed (a pipe, procmail).
    MailerError,
    /// An SMTP command was malformed or out of sequence (x.5.x).
    SyntaxError,
    /// An abuse or complaint report (ARF, RFC 5965), not a delivery failure.
    Feedback,
    /// An automatic reply (RFC 3834): the recipient is away, the mail was delivered.
    Vacation,
    /// The report says nothing about why.
    #[default]
    Undefined,
}

impl Reason {
    /// The reason's name, as printed (`userunknown`).
    pub fn as_str(self) -> &'static str {
        use Reason::*;
        match self {
            UserUnknown => "userunknown",
            HostUnknown => "hostunknown",
            HasMoved => "hasmoved",
            NotAccept => "notaccept",
            MailboxFull => "mailboxfull",
            SystemFull => "systemfull",
            Suspend => "suspend",
            MesgTooBig => "mesgtoobig",
            ExceedLimit => "exceedlimit",
            Filtered => "filtered",
            Rejected => "rejected",
            Blocked => "blocked",
            RequirePtr => "requireptr",
            AuthFailure => "authfailure",
            BadReputation => "badreputation",
            SpamDetected => "spamdetected",
            VirusDetected => "virusdetected",
            PolicyViolation => "policyviolation",
            NotCompliantRfc => "notcompliantrfc",
            ContentError => "contenterror",
            SecurityError => "securityerror",
            NoRelaying => "norelaying",
            TooManyConn => "toomanyconn",
            Speeding => "speeding",
            Expired => "expired",
            NetworkError => "networkerror",
            SystemError => "systemerror",
            MailerError => "mailererror",
            SyntaxError => "syntaxerror",
            Feedback => "feedback",
            Vacation => "vacation",
            Undefined => "undefined",
        }
    }

    /// Whether a bounce for this reason with this status is hard (this module's rule).
    pub fn is_hard(self, status: &str) -> bool {
        match self {
            Reason::UserUnknown | Reason::HostUnknown | Reason::HasMoved => true,
            Reason::NotAccept => !status.starts_with('4'),
            _ => false,
        }
    }
}

/// What kind of report a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Delivery failed for at least one recipient.
    Failure,
    /// Delivery is delayed (every recipient `Action: delayed` or a 4.x.x status) and still
    /// being tried.
    Delay,
    /// An automatic reply (out of office, autoresponder).
    AutoReply,
    /// An abuse or complaint report (ARF, RFC 5965).
    Feedback,
}

impl ReportKind {
    /// The kind's name, as printed (`auto_reply`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Failure => "failure",
            ReportKind::Delay => "delay",
            ReportKind::AutoReply => "auto_reply",
            ReportKind::Feedback => "feedback",
        }
    }
}

/// The reason for one recipient: its `status` (`5.1.1`, may be empty), `reply_code` (`550`,
/// may be empty) and `diagnostic` (its Diagnostic-Code or the lines of the notice about it).
pub fn classify(status: &str, reply_code: &str, diagnostic: &str) -> Reason {
    classify_in(status, reply_code, diagnostic, &Notice::new(""), "")
}

/// The whole text of a notice, lower-cased (with white space collapsed, see [`lower_text`])
/// on first use and then kept: every recipient of the notice reads the same text.
pub(crate) struct Notice<'a> {
    text: &'a str,
    lower: OnceCell<String>,
}

impl<'a> Notice<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Notice {
            text,
            lower: OnceCell::new(),
        }
    }

    /// The text lower-cased, white space runs as one space, URLs cut to their host.
    pub(crate) fn lower(&self) -> &str {
        self.lower
            .get_or_init(|| lower_text(&crate::bounce_text::collapse(self.text)))
    }
}

/// [`classify`], reading the whole `notice` when the recipient's own text names no cause,
/// and with its `action`: a temporary failure given up (`Action: failed` with a 4.x.x
/// status) for a network cause or none is `expired`.
pub(crate) fn classify_in(
    status: &str,
    reply_code: &str,
    diagnostic: &str,
    notice: &Notice<'_>,
    action: &str,
) -> Reason {
    let diagnostic = lower_text(diagnostic);
    let certain = certain_status(status);
    let own = from_text(&diagnostic);
    // A few wordings are precise enough to win over any status (the status is then borrowed:
    // a local delivery program's exit code, a provider's catch-all `5.1.1`).
    let from_diagnostic = match own {
        Some((reason, true)) => Some(reason),
        _ => certain.or(own.map(|(reason, _)| reason)),
    };
    // The notice is read (lower-cased) only when the recipient's own text says nothing, or
    // says something that the stage of the refusal changes (the notice may tell which
    // command it answered).
    let notice = match (from_diagnostic, certain) {
        (None, _) => Some(notice.lower()),
        (Some(reason), None) if stage_matters(reason) => Some(notice.lower()),
        _ => None,
    };
    let from_notice = match from_diagnostic {
        None => notice.and_then(from_text).map(|(r, _)| r),
        Some(_) => None,
    };
    // Whether the reason comes from wording rather than from a code.
    let worded = match own {
        Some((_, true)) => true,
        Some(_) => certain.is_none(),
        None => certain.is_none() && from_notice.is_some(),
    };
    let reason = from_diagnostic
        .or(from_notice)
        .or_else(|| from_status(status))
        .or_else(|| from_reply_code(reply_code))
        .unwrap_or_default();
    let texts = Texts {
        diagnostic: &diagnostic,
        notice: notice.unwrap_or_default(),
        action,
    };
    refine(reason, worded, status, &texts)
}

/// The recipient's own text and the notice's, lower-cased (the notice empty when not read),
/// and the recipient's `Action`.
struct Texts<'t> {
    diagnostic: &'t str,
    notice: &'t str,
    action: &'t str,
}

impl Texts<'_> {
    fn any(&self, test: impl Fn(&str) -> bool) -> bool {
        test(self.diagnostic) || test(self.notice)
    }
}

/// The reasons that the stage of the refusal (which SMTP command it answered) or the thing
/// named missing can change ([`refine`]).
fn stage_matters(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::UserUnknown
            | Reason::Rejected
            | Reason::Filtered
            | Reason::PolicyViolation
            | Reason::Undefined
    )
}

/// What the text says about the refusal beyond its words for the cause:
///
/// * a temporary failure given up (`Action: failed` with a 4.x.x status) for a network cause
///   or none has `expired`;
/// * a host or domain named as missing (`neko.example.com does not exist`, `host mx.example
///   not found`) is `hostunknown`, not an unknown user;
/// * a notice that names no cause but the number of attempts it made (`Delivery failed 20
///   attempts`) gave up after its retry time: `expired`;
/// * "user unknown" is a filter's words (content filters and per-recipient rules often answer
///   so, to hide which addresses exist), `filtered` and soft, when the refusal came after the
///   message data (the address had been accepted at `RCPT TO`), or when the status is a
///   security or policy one (x.7.x: RFC 3463 says x.7.1 "can be the result of per-host or
///   per-recipient filtering") and nothing says it answered `RCPT TO`, where the address
///   itself is judged. A precise x.1.1 was decided before and stays;
/// * a refusal with no precise cause that answered the connection or `EHLO`/`HELO` (before
///   any sender or recipient was named) refuses the sending host: `blocked`.
fn refine(reason: Reason, worded: bool, status: &str, texts: &Texts<'_>) -> Reason {
    let given_up = |action: &str| status.starts_with('4') && action == "failed";
    let policy_status = split_status(status).is_some_and(|(_, subject, _)| subject == 7);
    match reason {
        Reason::NetworkError | Reason::Undefined if given_up(texts.action) => Reason::Expired,
        Reason::Undefined if texts.any(gave_up_after_attempts) => Reason::Expired,
        Reason::UserUnknown if worded && texts.any(names_missing_domain) => Reason::HostUnknown,
        Reason::UserUnknown
            if worded && (texts.any(after_data) || policy_status && !texts.any(answered_rcpt)) =>
        {
            Reason::Filtered
        }
        Reason::Rejected | Reason::Filtered | Reason::PolicyViolation | Reason::Undefined
            if texts.any(answered_greeting) =>
        {
            Reason::Blocked
        }
        reason => reason,
    }
}

/// Lower-case, with typographic apostrophes as ASCII ones (`wasn’t found`), and URLs cut to
/// their host (a link's path is not wording: `.../reason/#filtered`; its host may be, such
/// as a block list's).
fn lower_text(text: &str) -> String {
    let mut lower = text.to_lowercase();
    if lower.contains('\u{2019}') {
        lower = lower.replace('\u{2019}', "'");
    }
    let mut out = String::with_capacity(lower.len());
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("http") {
        out.push_str(&rest[..at]);
        let url = &rest[at..];
        if let Some(after) = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
        {
            let host_end = after
                .find(|c: char| c.is_whitespace() || "/?#>\")".contains(c))
                .unwrap_or(after.len());
            out.push_str(&after[..host_end]);
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            rest = &after[end..];
        } else {
            out.push_str("http");
            rest = &url[4..];
        }
    }
    out.push_str(rest);
    out
}

/// Whether the text says the refusal answered `RCPT TO` (Exim `after RCPT TO`, Postfix `in
/// reply to RCPT TO command`, Sendmail `>>> RCPT To`; Postfix's and Exchange Online's
/// `Recipient address rejected`, which their RCPT TO restrictions write), not the message
/// data after it.
fn answered_rcpt(lower: &str) -> bool {
    (lower.contains("rcpt") || lower.contains("recipient address rejected")) && !after_data(lower)
}

/// Whether the text says the reply came after the message data (Postfix `in reply to end of
/// DATA command`, Exim `after end of data`, `SMTP command DATA`).
fn after_data(lower: &str) -> bool {
    contains_any(
        lower,
        &[
            "in reply to end of data",
            "in reply to data",
            "after end of data",
            "after data",
            "smtp command data",
            "command data",
            ">>> data",
        ],
    )
}

/// Whether the text says the refusal answered the connection or the greeting (Exim `after
/// initial connection`, `after EHLO`; Postfix `in reply to EHLO command`).
fn answered_greeting(lower: &str) -> bool {
    contains_any(
        lower,
        &[
            "after initial connection",
            "after connection",
            "after ehlo",
            "after helo",
            "in reply to ehlo",
            "in reply to helo",
            "in reply to the initial",
        ],
    )
}

/// Whether the text counts the attempts made (`failed 20 attempts`, `after 5 attempts`).
fn gave_up_after_attempts(lower: &str) -> bool {
    lower.match_indices(" attempts").any(|(at, _)| {
        lower[..at]
            .split_whitespace()
            .next_back()
            .is_some_and(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Whether the text names a host or domain as the thing not found or not existing: a dotted
/// name (no `@`, an alphabetic top label) after the word `host` or `domain`, or of three
/// labels or more (`553 neko.example.com does not exist`, `host mx.example.org not found`).
/// A name of two labels alone may be a local part (`mailbox john.smith does not exist`), and
/// a name after `mailbox`, `user`, `account`... is one.
fn names_missing_domain(lower: &str) -> bool {
    [" does not exist", " doesn't exist", " not found"]
        .iter()
        .any(|needle| {
            lower.match_indices(needle).any(|(at, _)| {
                let mut before = lower[..at].split_whitespace().rev();
                let name = before.next().unwrap_or_default();
                let labels = host_labels(name.trim_matches(|c: char| "<>()[]\"'".contains(c)));
                let named_as = before.next().unwrap_or_default();
                match named_as {
                    "host" | "domain" | "hostname" => labels >= 2,
                    "mailbox" | "user" | "account" | "address" | "recipient" | "alias" => false,
                    _ => labels >= 3,
                }
            })
        })
}

/// The number of labels of `word` when it reads as a host name (letters, digits and `-`
/// between dots, an alphabetic top label), else 0.
fn host_labels(word: &str) -> usize {
    let labels: Vec<&str> = word.split('.').collect();
    let valid = labels
        .iter()
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_alphabetic()));
    if valid { labels.len() } else { 0 }
}

/// The statuses precise enough to be certain whatever the text adds (which then mostly
/// repeats them in the receiving system's words): the address itself (unknown mailbox or
/// host, moved), the sender refused, a full mailbox, a delivery time expired, the
/// authentication and reverse-DNS statuses of RFC 7372, a disabled account.
fn certain_status(status: &str) -> Option<Reason> {
    let (_, subject, detail) = split_status(status)?;
    let reason = match (subject, detail) {
        (1, 1) => Reason::UserUnknown,
        (1, 2) => Reason::HostUnknown,
        (1, 6) => Reason::HasMoved,
        (1, 7) | (1, 8) => Reason::Rejected,
        (2, 2) => Reason::MailboxFull,
        (4, 7) => Reason::Expired,
        (7, 13) => Reason::Suspend,
        (7, 23) | (7, 26) => Reason::AuthFailure,
        (7, 25) => Reason::RequirePtr,
        _ => return None,
    };
    Some(reason)
}

fn split_status(status: &str) -> Option<(u16, u16, u16)> {
    let mut parts = status.trim().split('.').map(|p| p.parse::<u16>().ok());
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Some(c)), Some(Some(s)), Some(Some(d)), None) => Some((c, s, d)),
        _ => None,
    }
}

/// The first group of [`PHRASES`] (in table order) with a phrase in `lower`, and whether it
/// is one of the [`OVERRIDING`] groups: every phrase is searched in one pass (Aho-Corasick,
/// overlapping matches), the lowest group wins.
fn from_text(lower: &str) -> Option<(Reason, bool)> {
    if lower.trim().is_empty() {
        return None;
    }
    let (automaton, groups) = phrase_automaton();
    automaton
        .find_overlapping_iter(lower)
        .map(|m| groups[m.pattern().as_usize()])
        .min()
        .map(|group| (PHRASES[group].0, group < OVERRIDING))
}

/// The automaton of every phrase, and the group of each pattern, built once.
fn phrase_automaton() -> &'static (AhoCorasick, Vec<usize>) {
    static AUTOMATON: OnceLock<(AhoCorasick, Vec<usize>)> = OnceLock::new();
    AUTOMATON.get_or_init(|| {
        let mut patterns = Vec::new();
        let mut groups = Vec::new();
        for (group, (_, phrases)) in PHRASES.iter().enumerate() {
            for phrase in *phrases {
                patterns.push(*phrase);
                groups.push(group);
            }
        }
        let automaton = AhoCorasick::new(patterns).expect("the phrases build an automaton");
        (automaton, groups)
    })
}

/// RFC 3463 subject and detail (and the later registry entries: RFC 7372, RFC 7505, RFC 8098),
/// for the statuses that name a cause; `None` for the generic ones (`x.0.0`, `x.7.1`...).
fn from_status(status: &str) -> Option<Reason> {
    use Reason::*;
    let (_, subject, detail) = split_status(status)?;
    let reason = match (subject, detail) {
        (1, 3) | (1, 4) | (1, 5) => UserUnknown,
        (1, 10) => NotAccept,
        (2, 1) => Suspend,
        (2, 2) => MailboxFull,
        (2, 3) => ExceedLimit,
        (2, 4) => SystemError,
        (3, 1) => SystemFull,
        (3, 2) => NotAccept,
        (3, 4) => MesgTooBig,
        (3, _) => SystemError,
        (4, 1) | (4, 2) => NetworkError,
        (4, 3) => SystemError,
        (4, 4) => HostUnknown,
        (4, 6) => NetworkError,
        (4, 7) => Expired,
        (4, _) => NetworkError,
        (5, 3) => ExceedLimit,
        (5, _) => SyntaxError,
        (6, _) => ContentError,
        (7, 0) | (7, 4) | (7, 5) | (7, 8) | (7, 9) | (7, 10) | (7, 11) => SecurityError,
        (7, 7) => ContentError,
        (7, 23) | (7, 24) | (7, 26) => AuthFailure,
        (7, 25) => RequirePtr,
        (7, 27) => NotAccept,
        (7, 1) | (7, _) => PolicyViolation,

        _ => return None,
    };
    Some(reason)
}

/// RFC 5321 reply codes that name a cause.
fn from_reply_code(code: &str) -> Option<Reason> {
    match code {
        "421" => Some(Reason::TooManyConn),
        "451" => Some(Reason::SystemError),
        "452" => Some(Reason::MailboxFull),
        "552" => Some(Reason::MailboxFull),
        "553" => Some(Reason::UserUnknown),
        "500" | "501" | "502" | "503" | "504" => Some(Reason::SyntaxError),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_notice(status: &str, reply_code: &str, diagnostic: &str, notice: &str) -> Reason {
        classify_in(status, reply_code, diagnostic, &Notice::new(notice), "")
    }

    #[test]
    fn status_naming_the_address_wins() {
        assert_eq!(
            classify("5.1.1", "550", "mailbox full"),
            Reason::UserUnknown
        );
        assert_eq!(classify("5.1.2", "", ""), Reason::HostUnknown);
        assert_eq!(classify("5.1.10", "", ""), Reason::NotAccept);
    }

    #[test]
    fn text_then_status_then_reply_code() {
        assert_eq!(
            classify(
                "5.7.1",
                "554",
                "Client host [192.0.2.1] blocked using zen.spamhaus.org"
            ),
            Reason::Blocked
        );
        assert_eq!(
            classify("5.0.0", "550", "Relay access denied"),
            Reason::NoRelaying
        );
        assert_eq!(classify("4.4.7", "", ""), Reason::Expired);
        assert_eq!(classify("5.2.2", "", "over"), Reason::MailboxFull);
        assert_eq!(classify("", "552", ""), Reason::MailboxFull);
        assert_eq!(classify("", "", ""), Reason::Undefined);
    }

    #[test]
    fn overriding_wording_wins_over_a_borrowed_status() {
        assert_eq!(
            classify(
                "5.1.1",
                "",
                "procmail: Couldn't create \"/var/spool/mail/x\""
            ),
            Reason::MailerError
        );
        assert_eq!(
            classify(
                "5.1.1",
                "550",
                "550 5.1.1 Refused due to recipient preferences"
            ),
            Reason::Filtered
        );
        assert_eq!(
            classify(
                "5.1.1",
                "550",
                "550 5.1.1 192.0.2.1 has sent to too many recipients this hour"
            ),
            Reason::Speeding
        );
    }

    #[test]
    fn a_missing_host_is_not_an_unknown_user() {
        assert_eq!(
            classify("", "553", "553 mx.example.com does not exist"),
            Reason::HostUnknown
        );
        assert_eq!(
            in_notice(
                "5.0.0",
                "",
                "",
                "DNS lookup failure: host mx.example.org not found"
            ),
            Reason::HostUnknown
        );
        assert_eq!(
            classify("", "550", "550 user@example.com does not exist"),
            Reason::UserUnknown
        );
        assert!(!names_missing_domain("192.0.2.1 not found"));
        assert!(!names_missing_domain("mailbox john.smith does not exist"));
        assert!(!names_missing_domain("john.smith does not exist"));
        assert!(names_missing_domain("domain example.com not found"));
        assert!(!names_missing_domain(
            "mailbox first.middle.last does not exist"
        ));
    }

    #[test]
    fn user_unknown_under_a_policy_status_or_after_data_is_a_filter() {
        assert_eq!(
            classify("5.7.1", "550", "550 5.7.1 550 User Unknown"),
            Reason::Filtered
        );
        let rcpt = "SMTP error from remote mail server after RCPT TO:<a@example.ch>";
        assert_eq!(
            in_notice(
                "5.7.1",
                "554",
                "Recipient address rejected: Access denied",
                rcpt
            ),
            Reason::UserUnknown
        );
        assert_eq!(
            in_notice("", "550", "550 User unknown", "after end of data"),
            Reason::Filtered
        );
        assert_eq!(
            classify("5.7.1", "554", "Recipient address rejected: Access denied"),
            Reason::UserUnknown
        );
        assert_eq!(classify("", "550", "550 User unknown"), Reason::UserUnknown);
    }

    #[test]
    fn a_generic_refusal_of_the_greeting_blocks_the_host() {
        let notice = "SMTP error from remote mail server after EHLO mx.example.com:\n550 Rejected";
        assert_eq!(
            classify_in(
                "5.0.0",
                "550",
                "550 Rejected",
                &Notice::new(notice),
                "failed"
            ),
            Reason::Blocked
        );
        assert_eq!(
            in_notice("", "550", "after initial connection: 550 Access denied", ""),
            Reason::Blocked
        );
        assert_eq!(
            in_notice("", "550", "after initial connection: 550 Mailbox full", ""),
            Reason::MailboxFull
        );
    }

    #[test]
    fn attempts_counted_and_given_up_expire() {
        assert_eq!(
            in_notice(
                "5.0.0",
                "",
                "",
                "Delivery failed 20 attempts: a@example.com"
            ),
            Reason::Expired
        );
        assert_eq!(
            in_notice("5.0.0", "", "", "many attempts"),
            Reason::Undefined
        );
        assert_eq!(
            classify_in(
                "4.4.1",
                "",
                "connection timed out",
                &Notice::new(""),
                "failed"
            ),
            Reason::Expired
        );
    }

    #[test]
    fn provider_and_relay_wording() {
        assert_eq!(
            classify(
                "",
                "554",
                "554 Transaction failed: Duplicate header 'DKIM-Signature'."
            ),
            Reason::ContentError
        );
        assert_eq!(
            classify(
                "",
                "554",
                "554 Message rejected: Email address is not verified."
            ),
            Reason::NoRelaying
        );
        assert_eq!(
            classify(
                "5.1.0",
                "550",
                "550 5.1.0 <a@example.com> sender rejected. AUP#CDRBL"
            ),
            Reason::Blocked
        );
        assert_eq!(
            classify("", "550", "Client host 192.0.2.1 listed in RBL"),
            Reason::Blocked
        );
        assert_eq!(
            classify(
                "5.2.0",
                "550",
                "550 5.2.0 Mail rejete. Mail rejected. ofr_506 [506]"
            ),
            Reason::SpamDetected
        );
        assert_eq!(classify("", "", "a garbled line"), Reason::Undefined);
        assert_eq!(
            classify(
                "",
                "550",
                "you are sending from an address that has been blacklisted"
            ),
            Reason::Rejected
        );
        assert_eq!(
            classify("", "554", "your IP address has been blacklisted"),
            Reason::Blocked
        );
    }

    #[test]
    fn japanese_wording() {
        assert_eq!(
            classify(
                "5.0.0",
                "",
                "ユーザー Neko は Domino ディレクトリには見つかりません。"
            ),
            Reason::UserUnknown
        );
        assert_eq!(
            classify("", "", "ディレクトリのリストにありません"),
            Reason::UserUnknown
        );
        assert_eq!(
            classify("", "", "メールボックスがいっぱいです"),
            Reason::MailboxFull
        );
        assert_eq!(
            classify("", "", "ホストが見つかりません"),
            Reason::HostUnknown
        );
    }

    #[test]
    fn hard_follows_the_reason() {
        assert!(Reason::UserUnknown.is_hard("4.1.1"));
        assert!(Reason::HostUnknown.is_hard("5.1.2"));
        assert!(Reason::NotAccept.is_hard("5.1.10"));
        assert!(!Reason::NotAccept.is_hard("4.3.2"));
        assert!(!Reason::MailboxFull.is_hard("5.2.2"));
        assert!(!Reason::Blocked.is_hard("5.7.1"));
        assert_eq!(Reason::UserUnknown.as_str(), "userunknown");
    }
}
