//! From what the server answered to what the outbox records (behaviour reference §9.7): each
//! recipient `sent`, `retry` (4xx, connection trouble) or `exception` (5xx, invalid address);
//! the mail `sent` when someone got it and nobody is left to retry, `outgoing` again with a
//! backoff while a temporary failure lasts (until the maximum age), else `exception`.
//!
//! Pure: the time, the attempt count and the random jitter are given.

use postern_model::{MailId, OutgoingServerId, RecipientStatus};
use postern_smtp::client::{RcptOutcome, Reply};
use postern_store::{AttemptState, MailRecipient, MailResult};
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
    /// Recipients on the suppression list, not tried, with why (`suppressed since ...`).
    pub suppressed: Vec<(String, String)>,
}

/// Which mail was tried, through which server, after how many attempts since when.
#[derive(Debug, Clone, Copy)]
pub struct Tried {
    /// The mail.
    pub mail_id: MailId,
    /// The server.
    pub server_id: Option<OutgoingServerId>,
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
    let mut statuses = Statuses::of(mail_id, &attempt);
    if backoff.expired(age_from, now_ms) {
        statuses.give_up(attempts_before);
    }
    let (state, failure_type, failure_reason) =
        statuses.mail_state(|| backoff.next_try(now_ms, attempts_before, jitter));
    MailResult {
        mail_id,
        state,
        failure_type,
        failure_reason,
        server_id,
        recipients: statuses.recipients,
    }
}

/// Each recipient's status after an attempt, with the mail's first failures.
struct Statuses {
    /// The mail.
    mail_id: MailId,
    /// Every recipient, done before or tried now.
    recipients: Vec<MailRecipient>,
    /// The first permanent failure: its `failure_type` and reason.
    first_failure: Option<(String, String)>,
    /// The first temporary failure's reason: the mail is to be retried.
    temporary: Option<String>,
}

impl Statuses {
    /// The statuses of `attempt`'s recipients: kept, invalid, as the server answered, untried.
    fn of(mail_id: MailId, attempt: &Attempt) -> Statuses {
        let mut s = Statuses {
            mail_id,
            recipients: attempt.done.clone(),
            first_failure: None,
            temporary: None,
        };
        for (a, why) in &attempt.suppressed {
            s.note("suppressed", why);
            s.push(a, RecipientStatus::Suppressed, Some(why.clone()));
        }
        for a in &attempt.invalid {
            s.note("mail_email_invalid", &format!("invalid address: {a}"));
            s.push(
                a,
                RecipientStatus::Exception,
                Some("invalid address".into()),
            );
        }
        for (address, outcome) in &attempt.outcomes {
            match outcome {
                RcptOutcome::Delivered(r) => {
                    s.push(address, RecipientStatus::Sent, Some(r.to_string()))
                }
                RcptOutcome::Refused(r) if r.is_permanent() => {
                    s.note(failure_type_of(r), &r.to_string());
                    s.push(address, RecipientStatus::Exception, Some(r.to_string()));
                }
                RcptOutcome::Refused(r) => {
                    s.temporary.get_or_insert_with(|| r.to_string());
                    s.push(address, RecipientStatus::Retry, Some(r.to_string()));
                }
            }
        }
        for address in &attempt.untried {
            let reason = attempt
                .untried_reason
                .clone()
                .unwrap_or_else(|| "not tried".into());
            s.temporary.get_or_insert_with(|| reason.clone());
            s.push(address, RecipientStatus::Retry, Some(reason));
        }
        s
    }

    /// Adds a recipient with its status and the reply that explains it.
    fn push(&mut self, address: &str, status: RecipientStatus, reply: Option<String>) {
        self.recipients.push(MailRecipient {
            mail_id: self.mail_id,
            address: address.to_owned(),
            partner_id: None,
            status,
            reply,
        });
    }

    /// Keeps this failure as the mail's unless an earlier one was kept.
    fn note(&mut self, failure_type: &str, reason: &str) {
        if self.first_failure.is_none() {
            self.first_failure = Some((failure_type.to_owned(), reason.to_owned()));
        }
    }

    /// Past the maximum age, the recipients left to retry become exceptions: nothing to retry.
    fn give_up(&mut self, attempts_before: i64) {
        let Some(reason) = &self.temporary else {
            return;
        };
        let reason = format!("gave up after {} attempts: {reason}", attempts_before + 1);
        for r in self
            .recipients
            .iter_mut()
            .filter(|r| r.status == RecipientStatus::Retry)
        {
            r.status = RecipientStatus::Exception;
            r.reply = Some(reason.clone());
        }
        self.note("mail_smtp", &reason);
        self.temporary = None;
    }

    /// The mail's state (`Retry` at `retry_at()` while a failure lasts), `failure_type` and reason.
    fn mail_state(
        &self,
        retry_at: impl FnOnce() -> i64,
    ) -> (AttemptState, Option<String>, Option<String>) {
        let any_sent = self
            .recipients
            .iter()
            .any(|r| r.status == RecipientStatus::Sent);
        match (&self.temporary, any_sent, &self.first_failure) {
            (Some(reason), _, _) => (AttemptState::Retry(retry_at()), None, Some(reason.clone())),
            (None, true, failure) => (
                AttemptState::Sent,
                failure.as_ref().map(|f| f.0.clone()),
                None,
            ),
            (None, false, Some((ft, reason))) => (
                AttemptState::Exception,
                Some(ft.clone()),
                Some(reason.clone()),
            ),
            (None, false, None) => (
                AttemptState::Exception,
                Some("mail_email_missing".into()),
                Some("no recipient".into()),
            ),
        }
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
            mail_id: MailId(7),
            server_id: Some(OutgoingServerId(1)),
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
        assert_eq!(r.state, AttemptState::Sent);
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
        assert!(matches!(r.state, AttemptState::Retry(t) if t > 10_000_000));
        assert_eq!(r.recipients[0].status, RecipientStatus::Retry);
        let old = 10_000_000 - Backoff::default().max_age.as_millis() as i64;
        let r = run(a, old);
        assert_eq!(r.state, AttemptState::Exception);
        assert_eq!(r.failure_type.as_deref(), Some("mail_smtp"));
        assert!(
            r.failure_reason
                .unwrap()
                .starts_with("gave up after 3 attempts: 451")
        );
    }

    #[test]
    fn giving_up_keeps_the_first_permanent_failure_as_the_mails() {
        let old = 10_000_000 - Backoff::default().max_age.as_millis() as i64;
        let r = run(
            Attempt {
                outcomes: vec![
                    (
                        "a@x".into(),
                        RcptOutcome::Refused(reply(550, "5.1.1 unknown user")),
                    ),
                    (
                        "b@x".into(),
                        RcptOutcome::Refused(reply(451, "4.3.0 try later")),
                    ),
                ],
                ..Default::default()
            },
            old,
        );
        assert_eq!(r.state, AttemptState::Exception);
        assert_eq!(r.failure_type.as_deref(), Some("mail_email_invalid"));
        assert!(r.failure_reason.unwrap().starts_with("550"));
        let statuses: Vec<&str> = r.recipients.iter().map(|x| x.status.as_str()).collect();
        assert_eq!(statuses, vec!["exception", "exception"]);
        assert!(
            r.recipients[1]
                .reply
                .as_deref()
                .unwrap()
                .starts_with("gave up after 3 attempts: 451")
        );
    }

    #[test]
    fn connection_failure_retries_everyone_and_keeps_what_was_sent() {
        let r = run(
            Attempt {
                done: vec![MailRecipient {
                    mail_id: MailId(7),
                    address: "done@x".into(),
                    partner_id: None,
                    status: RecipientStatus::Sent,
                    reply: None,
                }],
                untried: vec!["a@x".into()],
                untried_reason: Some("connection refused".into()),
                ..Default::default()
            },
            9_000_000,
        );
        assert!(matches!(r.state, AttemptState::Retry(_)));
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
            (AttemptState::Exception, Some("mail_email_invalid"))
        );
        let r = run(Attempt::default(), 9_000_000);
        assert_eq!(r.failure_type.as_deref(), Some("mail_email_missing"));
    }
}
