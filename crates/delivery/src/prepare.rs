//! Turning an outbox row into what goes on the wire: the server (forced, the mass-mail
//! server, or chosen by `from_filter`), the From and the envelope sender (§9.5), the recipients
//! still to serve, and the parts of the message (§9.3), built into bytes by [`Parts::bytes`] just
//! before sending (so that a batch never holds every message, attachments included, at once).
//! No I/O: the caller fetched the row, its stored recipients and the [`Context`].

use crate::outcome::{self, Attempt, Backoff};
use postern_compose::build::{self, Attachment, Outgoing};
use postern_compose::server::{self, ServerRef};
use postern_model::address::{email_domain_extract, email_normalize_first};
use postern_model::{MailId, MailStream, MessageId, OutgoingServerId, RecipientStatus};
use postern_store::{
    AliasDomain, AttemptState, DeliveryServer, MailRecipient, MailResult, OutboxMail,
};

/// What every mail of a batch is prepared with.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Active outgoing servers, by sequence then name.
    pub servers: Vec<DeliveryServer>,
    /// Alias domains.
    pub domains: Vec<AliasDomain>,
    /// The alias domain of the gateway's own company (else the first).
    pub default_domain: Option<AliasDomain>,
    /// `mass_mailing.mail_server`: the dedicated server of the `mass` stream.
    pub mass_server: Option<OutgoingServerId>,
    /// `mail.default.from_filter`, used when there is no server at all.
    pub default_filter: Option<String>,
    /// The key of VERP tokens (`None`: no VERP).
    pub verp_key: Option<std::sync::Arc<[u8]>>,
    /// The key of unsubscribe tokens and the public URL they go under (`None`: mass mail
    /// carries no unsubscribe link).
    pub unsubscribe: Option<(std::sync::Arc<[u8]>, String)>,
}

impl Context {
    fn refs(&self) -> Vec<ServerRef> {
        self.servers
            .iter()
            .map(|s| ServerRef {
                id: s.id,
                name: s.name.clone(),
                from_filter: s.from_filter.clone(),
                sequence: s.sequence,
            })
            .collect()
    }

    /// The alias domain of a mail: the one whose bounce address is its Return-Path (the
    /// record's domain, chosen when the mail was queued), else the default one.
    fn domain_of(&self, return_path: Option<&str>) -> Option<&AliasDomain> {
        return_path
            .filter(|r| !r.is_empty())
            .and_then(|rp| {
                self.domains
                    .iter()
                    .find(|d| d.bounce_email().eq_ignore_ascii_case(rp))
            })
            .or(self.default_domain.as_ref())
    }
}

/// A mail ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The row.
    pub mail_id: MailId,
    /// The server.
    pub server_id: OutgoingServerId,
    /// MAIL FROM (`""` for the null sender).
    pub mail_from: String,
    /// The recipients to try now.
    pub rcpts: Vec<String>,
    /// The message, to build with its attachments.
    pub parts: Parts,
    /// The thread message whose files are attached, if any.
    pub attachments_of: Option<MessageId>,
    /// Recipients served by an earlier attempt, and invalid ones.
    pub attempt: Attempt,
    /// Attempts before this one.
    pub attempts: i64,
    /// Start of the retry window.
    pub age_from: i64,
    /// `mass` mails yield to transactional ones.
    pub mass: bool,
    /// Sent with a VERP return path per recipient (`bounce+<token>@domain`): the bounce address
    /// and the key. `None`: `mail_from` for every recipient.
    pub verp: Option<Verp>,
}

/// What a VERP return path is made of.
#[derive(Debug, Clone)]
pub struct Verp {
    /// The bounce address the return path extends (`bounce@domain`).
    pub bounce: String,
    /// The key of the tokens.
    pub key: std::sync::Arc<[u8]>,
}

impl Prepared {
    /// The MAIL FROM of the transaction to `rcpt`.
    pub fn mail_from_for(&self, rcpt: &str) -> String {
        match &self.verp {
            Some(v) => {
                postern_model::token::verp_address(&v.key, &v.bounce, self.mail_id.get(), rcpt)
            }
            None => self.mail_from.clone(),
        }
    }
}

/// `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 2369, RFC 8058) of a mass mail: a
/// one-click `POST` to a signed URL of the HTTP server suppresses `rcpt` for mass mail. A mass
/// mail goes to one recipient (the link names the first).
pub fn unsubscribe_headers(
    key: &[u8],
    base: &str,
    mail: MailId,
    rcpt: &str,
) -> [(String, String); 2] {
    let token =
        postern_model::token::sign(key, "unsubscribe", mail.get(), &rcpt.to_ascii_lowercase());
    [
        (
            "List-Unsubscribe".into(),
            format!("<{base}/unsubscribe/{token}>"),
        ),
        (
            "List-Unsubscribe-Post".into(),
            "List-Unsubscribe=One-Click".into(),
        ),
    ]
}

/// VERP for a mail whose return path is the bounce address of an alias domain that has VERP on,
/// when the store has a key.
fn verp_of(ctx: &Context, mail_from: &str) -> Option<Verp> {
    let key = ctx.verp_key.clone()?;
    ctx.domains
        .iter()
        .find(|d| d.verp && d.bounce_email().eq_ignore_ascii_case(mail_from))
        .map(|d| Verp {
            bounce: d.bounce_email(),
            key,
        })
}

/// Either ready to send, or already decided (no server, bad From, no valid recipient).
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Preparation {
    /// Send it.
    Send(Prepared),
    /// Nothing to send: record this.
    Done(MailResult),
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Custom headers: a JSON object of strings; anything else is ignored (J121).
fn json_headers(text: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Number(n) => Some((k, n.to_string())),
                _ => None,
            })
            .collect(),
        _ => {
            if !text.trim().is_empty() && text.trim() != "{}" {
                tracing::warn!("mail headers are not a JSON object; ignored");
            }
            Vec::new()
        }
    }
}

fn done(mail: &OutboxMail, state: AttemptState, failure_type: &str, reason: String) -> Preparation {
    Preparation::Done(MailResult {
        mail_id: mail.id,
        state,
        failure_type: Some(failure_type.to_owned()),
        failure_reason: Some(reason),
        server_id: None,
        recipients: Vec::new(),
    })
}

/// Prepares one mail. `stored` are its recipients from earlier attempts (empty the first time).
pub fn prepare(
    mail: &OutboxMail,
    stored: &[MailRecipient],
    ctx: &Context,
    now_ms: i64,
    backoff: &Backoff,
) -> Preparation {
    let to = json_list(&mail.email_to);
    let cc = json_list(&mail.email_cc);
    let headers = json_headers(&mail.headers);
    let domain = ctx.domain_of(mail.return_path.as_deref());
    let notifications = domain.map(|d| d.default_from_email());
    let bounce = match mail.return_path.as_deref() {
        Some(rp) => Some(rp.to_owned()),
        None => domain.map(|d| d.bounce_email()),
    };
    let from = Some(mail.email_from.as_str()).filter(|f| !f.trim().is_empty());
    let (server_id, choice_from, _) = choose_server(
        mail.server_id,
        mail.stream,
        ctx,
        from,
        notifications.as_deref(),
    );
    let Some(server_id) = server_id else {
        return no_server(mail, now_ms, backoff);
    };
    let filter = ctx
        .servers
        .iter()
        .find(|s| s.id == server_id)
        .and_then(|s| s.from_filter.clone());
    let sending = match server::prepare_sending(
        from,
        bounce.as_deref(),
        choice_from.as_deref(),
        notifications.as_deref(),
        filter.as_deref(),
    ) {
        Ok(s) => s,
        Err(e) => return done(mail, AttemptState::Exception, e.failure_type(), e.reason()),
    };
    let (rcpts, attempt) = recipients(&to, &cc, &headers, stored);
    if rcpts.is_empty() {
        return no_recipient(mail, server_id, attempt, now_ms, backoff);
    }
    let mut headers = headers;
    if mail.stream == MailStream::Mass
        && let (Some((key, base)), Some(first)) = (&ctx.unsubscribe, rcpts.first())
    {
        headers.extend(unsubscribe_headers(key, base, mail.id, first));
    }
    let parts = Parts {
        from: sending.header_from,
        to,
        cc,
        reply_to: mail.reply_to.clone(),
        subject: mail.subject.clone(),
        message_id: mail.rfc_message_id.clone(),
        body_html: mail.body_html.clone(),
        body_text: mail.body_text.clone(),
        return_path: bounce,
        headers,
        date_ms: now_ms,
    };
    let verp = verp_of(ctx, &sending.mail_from);
    Preparation::Send(Prepared {
        mail_id: mail.id,
        server_id,
        mail_from: sending.mail_from,
        rcpts,
        parts,
        attachments_of: mail.message_id,
        attempt,
        attempts: mail.attempts,
        age_from: mail.age_from,
        mass: mail.stream == MailStream::Mass,
        verp,
    })
}

/// The mail's server, if any (`forced` on the mail, the `mass` one, else by `from_filter`), its
/// From, and why (the pass of §9.5 that chose, `None` for a forced server).
fn choose_server(
    forced: Option<OutgoingServerId>,
    stream: MailStream,
    ctx: &Context,
    from: Option<&str>,
    notifications: Option<&str>,
) -> (
    Option<OutgoingServerId>,
    Option<String>,
    Option<server::Pass>,
) {
    let forced = forced
        .or_else(|| {
            (stream == MailStream::Mass)
                .then_some(ctx.mass_server)
                .flatten()
        })
        .filter(|id| ctx.servers.iter().any(|s| s.id == *id));
    match forced {
        Some(id) => (Some(id), from.map(str::to_owned), None),
        None => {
            let c = server::find_mail_server(
                from,
                &ctx.refs(),
                notifications,
                ctx.default_filter.as_deref(),
            );
            (c.server, c.smtp_from, Some(c.pass))
        }
    }
}

/// Which server and which From a mail from `from` in `stream` would go out with, and why:
/// route explain for outgoing mail (the admin UI). The same steps as [`prepare`], for a mail
/// that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutgoingExplained {
    /// The server chosen (its name), none when there is none.
    pub server: Option<String>,
    /// Why that server, in words.
    pub why: String,
    /// The From header it would carry (rewritten when the server may not send as the author).
    pub header_from: Option<String>,
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: Option<String>,
    /// Why it could not be sent, when it could not.
    pub error: Option<String>,
}

/// See [`OutgoingExplained`].
pub fn explain_outgoing(from: &str, stream: MailStream, ctx: &Context) -> OutgoingExplained {
    let domain = ctx.domain_of(None);
    let notifications = domain.map(|d| d.default_from_email());
    let bounce = domain.map(|d| d.bounce_email());
    let from = Some(from).filter(|f| !f.trim().is_empty());
    let (id, choice_from, pass) = choose_server(None, stream, ctx, from, notifications.as_deref());
    let server = id.and_then(|id| ctx.servers.iter().find(|s| s.id == id));
    let why = match pass {
        None => "the server of the mass stream (mass_mailing.mail_server)".to_owned(),
        Some(p) => pass_words(p).to_owned(),
    };
    let filter = server.and_then(|s| s.from_filter.clone());
    let sending = server::prepare_sending(
        from,
        bounce.as_deref(),
        choice_from.as_deref(),
        notifications.as_deref(),
        filter.as_deref().or(ctx.default_filter.as_deref()),
    );
    let (header_from, mail_from, error) = match (server, sending) {
        (None, _) => (None, None, Some(postern_store::NO_SERVER_REASON.to_owned())),
        (Some(_), Ok(s)) => (Some(s.header_from), Some(s.mail_from), None),
        (Some(_), Err(e)) => (None, None, Some(e.reason())),
    };
    OutgoingExplained {
        server: server.map(|s| s.name.clone()),
        why,
        header_from,
        mail_from,
        error,
    }
}

/// A pass of the server choice (§9.5), in words.
fn pass_words(pass: server::Pass) -> &'static str {
    use server::Pass;
    match pass {
        Pass::ExactFrom => "its from_filter names the From address",
        Pass::FromDomain => "its from_filter names the From's domain",
        Pass::ExactNotifications => {
            "no filter takes the From; its from_filter names the default From, which is used"
        }
        Pass::NotificationsDomain => {
            "no filter takes the From; its from_filter names the default From's domain, which is used"
        }
        Pass::NoFilter => "no filter takes the From: the first server without a from_filter",
        Pass::First => {
            "no filter takes the From and every server has one: the first server (the From may be refused)"
        }
        Pass::NoServer => "there is no active outgoing server",
    }
}

/// No outgoing server, not the mail's fault: it waits for one (`retry`) until its maximum age.
fn no_server(mail: &OutboxMail, now_ms: i64, backoff: &Backoff) -> Preparation {
    let reason = postern_store::NO_SERVER_REASON.to_owned();
    if backoff.expired(mail.age_from, now_ms) {
        done(mail, AttemptState::Exception, "mail_smtp", reason)
    } else {
        done(
            mail,
            AttemptState::Retry(backoff.next_try(now_ms, mail.attempts, 0.5)),
            "mail_smtp",
            reason,
        )
    }
}

/// No recipient left to try: the mail's state is decided from the attempt as it stands.
fn no_recipient(
    mail: &OutboxMail,
    server_id: OutgoingServerId,
    attempt: Attempt,
    now_ms: i64,
    backoff: &Backoff,
) -> Preparation {
    Preparation::Done(outcome::decide(
        outcome::Tried {
            mail_id: mail.id,
            server_id: Some(server_id),
            attempts_before: mail.attempts,
            age_from: mail.age_from,
        },
        attempt,
        now_ms,
        backoff,
        0.5,
    ))
}

/// What a message is made of, owned, until it is built.
#[derive(Debug, Clone)]
pub struct Parts {
    from: String,
    to: Vec<String>,
    cc: Vec<String>,
    reply_to: Option<String>,
    subject: String,
    message_id: String,
    body_html: Option<String>,
    body_text: Option<String>,
    return_path: Option<String>,
    headers: Vec<(String, String)>,
    date_ms: i64,
}

impl Parts {
    /// The domain of the From address (lower-case), which DKIM signs for.
    pub fn from_domain(&self) -> Option<String> {
        email_normalize_first(&self.from).and_then(|e| email_domain_extract(&e))
    }

    /// The RFC 5322 bytes, with these files attached.
    pub fn bytes(&self, attachments: &[Attachment]) -> Vec<u8> {
        build::build(&Outgoing {
            from: &self.from,
            to: &self.to,
            cc: &self.cc,
            reply_to: self.reply_to.as_deref(),
            subject: &self.subject,
            message_id: &self.message_id,
            body_html: self.body_html.as_deref(),
            body_text: self.body_text.as_deref(),
            return_path: self.return_path.as_deref(),
            headers: &self.headers,
            attachments,
            date_ms: self.date_ms,
        })
    }
}

/// The recipients to try: those stored as `ready`/`retry`, or, the first time, every address
/// of To, Cc and `Bcc`; the ones already done and the invalid ones go in the attempt.
fn recipients(
    to: &[String],
    cc: &[String],
    headers: &[(String, String)],
    stored: &[MailRecipient],
) -> (Vec<String>, Attempt) {
    let mut attempt = Attempt::default();
    if !stored.is_empty() {
        let mut rcpts = Vec::new();
        for r in stored {
            if matches!(r.status, RecipientStatus::Ready | RecipientStatus::Retry) {
                rcpts.push(r.address.clone());
            } else {
                attempt.done.push(r.clone());
            }
        }
        return (rcpts, attempt);
    }
    let bcc: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("bcc"))
        .map(|(_, v)| v.clone())
        .collect();
    let (valid, invalid) = build::smtp_recipients(to, cc, &bcc);
    attempt.invalid = invalid;
    (valid, attempt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_model::AliasDomainId;

    fn domain() -> AliasDomain {
        AliasDomain {
            id: AliasDomainId(1),
            name: "test.mycompany.com".into(),
            bounce_alias: "bounce.test".into(),
            catchall_alias: "catchall.test".into(),
            default_from: "notifications.test".into(),
            sequence: 1,
            verp: false,
            created_at: 0,
        }
    }

    fn server(id: i64, filter: Option<&str>) -> DeliveryServer {
        DeliveryServer {
            id: OutgoingServerId(id),
            name: format!("s{id}"),
            host: "127.0.0.1".into(),
            port: 2525,
            encryption: "none".into(),
            username: None,
            password: Default::default(),
            password_env: None,
            from_filter: filter.map(str::to_owned),
            sequence: id,
            active: true,
            auth: "password".into(),
            kind: Default::default(),
            connections_per_domain: 2,
            limit_per_second: None,
            limit_per_hour: None,
            limit_per_day: None,
        }
    }

    fn mail(from: &str, to: &[&str]) -> OutboxMail {
        OutboxMail {
            id: MailId(1),
            stream: MailStream::Transactional,
            kind: None,
            message_id: None,
            record_id: None,
            rfc_message_id: "<m@x>".into(),
            email_from: from.into(),
            email_to: serde_json::to_string(to).unwrap(),
            email_cc: "[]".into(),
            reply_to: None,
            return_path: None,
            subject: "s".into(),
            body_html: Some("<p>b</p>".into()),
            body_text: None,
            headers: "{\"X-Msg-To-Add\": \"c@x.com\"}".into(),
            server_id: None,
            attempts: 0,
            age_from: 0,
        }
    }

    fn ctx(servers: Vec<DeliveryServer>) -> Context {
        Context {
            servers,
            domains: vec![domain()],
            default_domain: Some(domain()),
            ..Default::default()
        }
    }

    #[test]
    fn unknown_sender_goes_through_the_domain_server_as_notifications() {
        let p = prepare(
            &mail("\"Eva\" <eva@elsewhere.example>", &["a@x.com", "broken"]),
            &[],
            &ctx(vec![server(1, Some("test.mycompany.com")), server(2, None)]),
            1,
            &Backoff::default(),
        );
        let Preparation::Send(p) = p else {
            panic!("{p:?}")
        };
        assert_eq!(p.server_id, OutgoingServerId(1));
        assert_eq!(p.mail_from, "bounce.test@test.mycompany.com");
        assert_eq!(
            p.rcpts,
            vec!["a@x.com"],
            "X-Msg-To-Add is not an SMTP recipient"
        );
        assert_eq!(p.attempt.invalid, vec!["broken"]);
        let text = String::from_utf8_lossy(&p.parts.bytes(&[])).into_owned();
        assert!(
            text.contains("From: \"Eva\" <notifications.test@test.mycompany.com>"),
            "{text}"
        );
    }

    #[test]
    fn outgoing_explained_as_prepare_would_send_it() {
        let c = ctx(vec![server(1, Some("test.mycompany.com")), server(2, None)]);
        let e = explain_outgoing(
            "\"Eva\" <eva@elsewhere.example>",
            MailStream::Transactional,
            &c,
        );
        assert_eq!(e.server.as_deref(), Some("s1"));
        assert!(e.why.contains("default From's domain"), "{}", e.why);
        assert_eq!(
            e.header_from.as_deref(),
            Some("\"Eva\" <notifications.test@test.mycompany.com>")
        );
        assert_eq!(
            e.mail_from.as_deref(),
            Some("bounce.test@test.mycompany.com")
        );
        let own = explain_outgoing("sam@test.mycompany.com", MailStream::Transactional, &c);
        assert!(own.why.contains("From's domain"), "{}", own.why);
        assert_eq!(own.header_from.as_deref(), Some("sam@test.mycompany.com"));
        let none = explain_outgoing(
            "sam@test.mycompany.com",
            MailStream::Transactional,
            &ctx(vec![]),
        );
        assert_eq!((none.server, none.error.is_some()), (None, true));
    }

    #[test]
    fn mass_mail_uses_the_dedicated_server_with_its_own_from() {
        let mut m = mail("news@elsewhere.example", &["a@x.com"]);
        m.stream = MailStream::Mass;
        let mut c = ctx(vec![
            server(1, Some("test.mycompany.com")),
            server(2, Some("other.example")),
        ]);
        c.mass_server = Some(OutgoingServerId(2));
        let Preparation::Send(p) = prepare(&m, &[], &c, 1, &Backoff::default()) else {
            panic!()
        };
        assert_eq!(p.server_id, OutgoingServerId(2));
        assert_eq!(p.mail_from, "news@elsewhere.example");
        assert!(p.mass);
    }

    #[test]
    fn refusal_mails_keep_the_null_sender() {
        let mut m = mail(
            "\"MAILER-DAEMON\" <bounce.test@test.mycompany.com>",
            &["x@y.com"],
        );
        m.return_path = Some(String::new());
        let Preparation::Send(p) =
            prepare(&m, &[], &ctx(vec![server(1, None)]), 1, &Backoff::default())
        else {
            panic!()
        };
        assert_eq!(p.mail_from, "");
    }

    #[test]
    fn no_server_waits_bad_from_fails() {
        let p = prepare(
            &mail("a@b.c", &["x@y.com"]),
            &[],
            &ctx(vec![]),
            1,
            &Backoff::default(),
        );
        assert!(matches!(
            p,
            Preparation::Done(MailResult {
                state: AttemptState::Retry(_),
                ..
            })
        ));
        let mut c = ctx(vec![server(1, None)]);
        c.domains.clear();
        c.default_domain = None;
        let p = prepare(
            &mail("robert", &["x@y.com"]),
            &[],
            &c,
            1,
            &Backoff::default(),
        );
        let Preparation::Done(r) = p else { panic!() };
        assert_eq!(
            (r.state, r.failure_type.as_deref()),
            (AttemptState::Exception, Some("mail_from_invalid"))
        );
    }

    /// J121: headers that are not a JSON object of strings are ignored, the mail still sent.
    #[test]
    fn j121_bad_headers_are_ignored() {
        for h in [
            "[\"not_a_dict\"]",
            "\"alsonotadict\"",
            "{'invaliddict'}",
            "",
        ] {
            assert!(json_headers(h).is_empty(), "{h}");
        }
        assert_eq!(
            json_headers("{\"X-A\": \"1\", \"X-B\": 2, \"X-C\": []}").len(),
            2
        );
        let mut m = mail("a@test.mycompany.com", &["x@y.com"]);
        m.headers = "['not_a_dict']".into();
        let p = prepare(&m, &[], &ctx(vec![server(1, None)]), 1, &Backoff::default());
        assert!(matches!(p, Preparation::Send(_)));
    }

    #[test]
    fn a_retry_only_tries_the_recipients_left() {
        let stored = vec![
            MailRecipient {
                mail_id: MailId(1),
                address: "a@x.com".into(),
                partner_id: None,
                status: RecipientStatus::Sent,
                reply: None,
            },
            MailRecipient {
                mail_id: MailId(1),
                address: "b@x.com".into(),
                partner_id: None,
                status: RecipientStatus::Retry,
                reply: None,
            },
        ];
        let Preparation::Send(p) = prepare(
            &mail("a@test.mycompany.com", &["a@x.com", "b@x.com"]),
            &stored,
            &ctx(vec![server(1, None)]),
            1,
            &Backoff::default(),
        ) else {
            panic!()
        };
        assert_eq!(p.rcpts, vec!["b@x.com"]);
        assert_eq!(p.attempt.done.len(), 1);
    }
}
