//! From what the server answered to what the outbox records (behaviour reference §9.7): each
//! recipient `sent`, `retry` (4xx, connection trouble) or `exception` (5xx, invalid address);
//! the mail `sent` when someone got it and nobody is left to retry, `outgoing` again with a
//! backoff while a temporary failure lasts (until the maximum age), else `exception`.
//!
//! Pure: the time, the attempt count and the random jitter are given.

use postern_smtp::client::{RcptOutcome, Reply};
use postern_store::{MailRecipient, MailResult, MailState};
use std::time::Duration;

/// Retry schedule: `base · 2^attempt`, at most `max`, ±25 % jitter; given up after `max_age`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
    /// A mail failing for longer than this is given up (`exception`).
    pub max_age: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            max_age: Duration::from_secs(2 * 24 * 3600),
        }
    }
}

impl Backoff {
    /// When to try again after `attempts` failed attempts; `jitter` in `[0, 1)`.
    pub fn next_try(&self, now_ms: i64, attempts: i64, jitter: f64) -> i64 {
        let exp = attempts.clamp(0, 20) as u32;
        let delay = self
            .base
            .as_millis()
            .saturating_mul(1u128 << exp)
            .min(self.max.as_millis()) as f64;
        let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
        now_ms + (delay * factor) as i64
    }

    /// Whether a mail failing since `age_from` should be given up at `now_ms`.
    pub fn expired(&self, age_from: i64, now_ms: i64) -> bool {
        now_ms - age_from >= self.max_age.as_millis() as i64
    }
}

/// The `failure_type` of a refused recipient: a bad address (`5.1.x`) is `mail_email_invalid`,
/// anything else the server said is `mail_smtp`.
pub fn failure_type_of(reply: &Reply) -> &'static str {
    if reply.text.starts_with("5.1.") {
        "mail_email_invalid"
    } else {
        "mail_smtp"
    }
}

/// Where one attempt at a mail left it, before the state is decided.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    /// Recipients already done before this attempt (`sent` or `exception`), kept as they are.
    pub done: Vec<MailRecipient>,
    /// Addresses that hold no valid address (`mail_email_invalid`).
    pub invalid: Vec<String>,
    /// What the server said for each recipient tried.
    pub outcomes: Vec<(String, RcptOutcome)>,
    /// The connection failed before these recipients got an answer (temporary).
    pub untried: Vec<String>,
    /// Why they were not tried.
    pub untried_reason: Option<String>,
}

/// Which mail was tried, through which server, after how many attempts since when.
#[derive(Debug, Clone, Copy)]
pub struct Tried {
    /// The mail.
    pub mail_id: i64,
    /// The server.
    pub server_id: Option<i64>,
    /// Attempts before this one.
    pub attempts_before: i64,
    /// Start of the retry window (epoch ms).
    pub age_from: i64,
}

/// Decides the mail's state and each recipient's status.
pub fn decide(
    tried: Tried,
    attempt: Attempt,
    now_ms: i64,
    backoff: &Backoff,
    jitter: f64,
) -> MailResult {
    let Tried {
        mail_id,
        server_id,
        attempts_before,
        age_from,
    } = tried;
    let give_up = backoff.expired(age_from, now_ms);
    let rcpt = |address: &str, status: &str, reply: Option<String>| MailRecipient {
        mail_id,
        address: address.to_owned(),
        partner_id: None,
        status: status.to_owned(),
        reply,
    };
    let mut recipients: Vec<MailRecipient> = attempt.done.clone();
    let mut first_failure: Option<(String, String)> = None;
    let mut note = |ft: &str, reason: &str| {
        if first_failure.is_none() {
            first_failure = Some((ft.to_owned(), reason.to_owned()));
        }
    };
    for a in &attempt.invalid {
        note("mail_email_invalid", &format!("invalid address: {a}"));
        recipients.push(rcpt(a, "exception", Some("invalid address".into())));
    }
    let mut temporary: Option<String> = None;
    for (address, outcome) in &attempt.outcomes {
        match outcome {
            RcptOutcome::Delivered(r) => {
                recipients.push(rcpt(address, "sent", Some(r.to_string())))
            }
            RcptOutcome::Refused(r) if r.is_permanent() => {
                note(failure_type_of(r), &r.to_string());
                recipients.push(rcpt(address, "exception", Some(r.to_string())));
            }
            RcptOutcome::Refused(r) => {
                temporary.get_or_insert_with(|| r.to_string());
                recipients.push(rcpt(address, "retry", Some(r.to_string())));
            }
        }
    }
    for address in &attempt.untried {
        let reason = attempt
            .untried_reason
            .clone()
            .unwrap_or_else(|| "not tried".into());
        temporary.get_or_insert_with(|| reason.clone());
        recipients.push(rcpt(address, "retry", Some(reason)));
    }
    if let Some(reason) = &temporary
        && give_up
    {
        let reason = format!("gave up after {} attempts: {reason}", attempts_before + 1);
        for r in recipients.iter_mut().filter(|r| r.status == "retry") {
            r.status = "exception".into();
            r.reply = Some(reason.clone());
        }
        note("mail_smtp", &reason);
        temporary = None;
    }
    let any_sent = recipients.iter().any(|r| r.status == "sent");
    let (state, failure_type, failure_reason) = match (&temporary, any_sent, &first_failure) {
        (Some(reason), _, _) => (
            MailState::Retry(backoff.next_try(now_ms, attempts_before, jitter)),
            None,
            Some(reason.clone()),
        ),
        (None, true, failure) => (MailState::Sent, failure.as_ref().map(|f| f.0.clone()), None),
        (None, false, Some((ft, reason))) => {
            (MailState::Exception, Some(ft.clone()), Some(reason.clone()))
        }
        (None, false, None) => (
            MailState::Exception,
            Some("mail_email_missing".into()),
            Some("no recipient".into()),
        ),
    };
    MailResult {
        mail_id,
        state,
        failure_type,
        failure_reason,
        server_id,
        recipients,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> Reply {
        Reply {
            code,
            text: text.into(),
        }
    }

    fn run(attempt: Attempt, age_from: i64) -> MailResult {
        let tried = Tried {
            mail_id: 7,
            server_id: Some(1),
            attempts_before: 2,
            age_from,
        };
        decide(tried, attempt, 10_000_000, &Backoff::default(), 0.5)
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff::default();
        assert_eq!(b.next_try(0, 0, 0.5), 60_000);
        assert_eq!(b.next_try(0, 1, 0.5), 120_000);
        assert_eq!(b.next_try(0, 10, 0.5), 3_600_000);
        assert_eq!(b.next_try(0, 0, 0.0), 45_000);
        assert_eq!(b.next_try(0, 0, 0.999_999), 74_999);
        assert!(b.expired(0, 2 * 24 * 3600 * 1000));
        assert!(!b.expired(1, 2 * 24 * 3600 * 1000));
    }

    #[test]
    fn one_recipient_refused_for_good_the_other_delivered() {
        let r = run(
            Attempt {
                outcomes: vec![
                    ("a@x".into(), RcptOutcome::Delivered(reply(250, "2.0.0 ok"))),
                    (
                        "b@x".into(),
                        RcptOutcome::Refused(reply(550, "5.1.1 unknown user")),
                    ),
                ],
                ..Default::default()
            },
            9_000_000,
        );
        assert_eq!(r.state, MailState::Sent);
        assert_eq!(r.failure_type.as_deref(), Some("mail_email_invalid"));
        let statuses: Vec<&str> = r.recipients.iter().map(|x| x.status.as_str()).collect();
        assert_eq!(statuses, vec!["sent", "exception"]);
    }

    #[test]
    fn temporary_failure_is_retried_then_given_up() {
        let a = Attempt {
            outcomes: vec![(
                "a@x".into(),
                RcptOutcome::Refused(reply(451, "4.3.0 try later")),
            )],
            ..Default::default()
        };
        let r = run(a.clone(), 9_000_000);
        assert!(matches!(r.state, MailState::Retry(t) if t > 10_000_000));
        assert_eq!(r.recipients[0].status, "retry");
        let old = 10_000_000 - Backoff::default().max_age.as_millis() as i64;
        let r = run(a, old);
        assert_eq!(r.state, MailState::Exception);
        assert_eq!(r.failure_type.as_deref(), Some("mail_smtp"));
        assert!(
            r.failure_reason
                .unwrap()
                .starts_with("gave up after 3 attempts: 451")
        );
    }

    #[test]
    fn connection_failure_retries_everyone_and_keeps_what_was_sent() {
        let r = run(
            Attempt {
                done: vec![MailRecipient {
                    mail_id: 7,
                    address: "done@x".into(),
                    partner_id: None,
                    status: "sent".into(),
                    reply: None,
                }],
                untried: vec!["a@x".into()],
                untried_reason: Some("connection refused".into()),
                ..Default::default()
            },
            9_000_000,
        );
        assert!(matches!(r.state, MailState::Retry(_)));
        assert_eq!(r.failure_reason.as_deref(), Some("connection refused"));
        assert_eq!(r.recipients.len(), 2);
    }

    #[test]
    fn nothing_valid_is_an_exception() {
        let r = run(
            Attempt {
                invalid: vec!["bad".into()],
                ..Default::default()
            },
            9_000_000,
        );
        assert_eq!(
            (r.state, r.failure_type.as_deref()),
            (MailState::Exception, Some("mail_email_invalid"))
        );
        let r = run(Attempt::default(), 9_000_000);
        assert_eq!(r.failure_type.as_deref(), Some("mail_email_missing"));
    }
}
