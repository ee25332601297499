//! The mails the gateway sends back on its own behalf (behaviour reference §8 and §6.3): the
//! catchall bounce, the alias refusal, the invalid-alias notice and the rate-limit notice.
//!
//! All of them: From `"MAILER-DAEMON" <bounce@domain>` (the gateway company's bounce address),
//! To the incoming Return-Path (else its From), Subject `Re: <subject>`, `Auto-Submitted:
//! auto-replied`. The catchall bounce and the rate-limit notice carry a Message-ID with the loop
//! tag and reference it, so that an answer to them is recognised and dropped; the alias refusals
//! reference only the incoming message (as in the reference).
//!
//! Postern differs from the reference in one place on purpose: the catchall text names the
//! sender and quotes the body (Odoo's template renders those empty, a quirk of header lookups).

use crate::html::{escape, is_html_empty};
use postern_model::address::formataddr;

/// The tag in the id of loop-protected mails (same as the reference, so that answers to Odoo's
/// own refusals are recognised too).
pub const LOOP_TAG: &str = "loop-detection-bounce-email";

/// What the gateway knows when it writes back.
#[derive(Debug, Clone, Default)]
pub struct Incoming<'a> {
    /// Message-Id of the incoming message, with `<>`.
    pub message_id: &'a str,
    /// Its Subject.
    pub subject: Option<&'a str>,
    /// Its From, as stored.
    pub email_from: Option<&'a str>,
    /// Its To, as received.
    pub to: &'a str,
    /// Its body (HTML), quoted in refusals.
    pub body_html: &'a str,
}

/// The gateway's own company.
#[derive(Debug, Clone, Default)]
pub struct Sender<'a> {
    /// Company name.
    pub company: &'a str,
    /// Company e-mail (may be empty).
    pub company_email: &'a str,
    /// The bounce address (`bounce@domain`) the mails come from.
    pub bounce_email: &'a str,
    /// Host name, right part of generated Message-IDs.
    pub hostname: &'a str,
}

/// One mail to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayMail {
    /// From header.
    pub from: String,
    /// To.
    pub to: String,
    /// Reply-To, when any.
    pub reply_to: Option<String>,
    /// Subject.
    pub subject: String,
    /// Message-ID.
    pub message_id: String,
    /// References header.
    pub references: String,
    /// HTML body.
    pub body_html: String,
}

fn reply_subject(incoming: &Incoming) -> String {
    format!("Re: {}", incoming.subject.unwrap_or("None"))
}

fn base(
    incoming: &Incoming,
    sender: &Sender,
    to: &str,
    body_html: String,
    message_id: String,
    references: String,
) -> GatewayMail {
    GatewayMail {
        from: formataddr("MAILER-DAEMON", sender.bounce_email),
        to: to.to_owned(),
        reply_to: None,
        subject: reply_subject(incoming),
        message_id,
        references,
        body_html,
    }
}

/// A Message-ID carrying the loop tag; `token` makes it unique (the caller's random part).
pub fn loop_message_id(token: &str, hostname: &str) -> String {
    format!("<{token}-{LOOP_TAG}@{hostname}>")
}

fn contact(sender: &Sender) -> String {
    if sender.company_email.is_empty() {
        escape(sender.company)
    } else {
        escape(sender.company_email)
    }
}

/// §8.2: "this address collects replies".
pub fn catchall_bounce(incoming: &Incoming, sender: &Sender, to: &str, token: &str) -> GatewayMail {
    let id = loop_message_id(token, sender.hostname);
    let body = format!(
        "<div><p>Hello {from},</p><p>The email sent to {dest} cannot be processed. This address is used to collect \
         replies and should not be used to directly contact {company}.</p><p>Please contact us instead using {contact}</p>\
         <p>Regards,</p><p>The {company} team.</p></div><blockquote>{quoted}</blockquote>",
        from = escape(incoming.email_from.unwrap_or("")),
        dest = escape(incoming.to),
        company = escape(sender.company),
        contact = contact(sender),
        quoted = incoming.body_html,
    );
    let mut m = base(
        incoming,
        sender,
        to,
        body,
        id.clone(),
        format!("{} {id}", incoming.message_id),
    );
    if !sender.company_email.is_empty() {
        m.reply_to = Some(sender.company_email.to_owned());
    }
    m
}

/// §8.3: refused by the alias's contact policy. `bounced_content` is the alias's own text, used
/// unless it is empty HTML; `followers` says which default text applies.
pub fn alias_refusal(
    incoming: &Incoming,
    sender: &Sender,
    to: &str,
    alias: &str,
    bounced_content: Option<&str>,
    followers: bool,
    token: &str,
) -> GatewayMail {
    let text = match bounced_content {
        Some(c) if !is_html_empty(c) => c.to_owned(),
        _ => format!(
            "<p>Dear Sender,<br /><br />The message below could not be accepted by the address {alias}. Only {who} are \
             allowed to contact it.<br /><br />Please make sure you are using the correct address or contact us at \
             {contact} instead.<br /><br />Kind Regards</p>",
            alias = escape(alias),
            who = if followers {
                "some specific addresses"
            } else {
                "addresses linked to registered partners"
            },
            contact = contact(sender),
        ),
    };
    security_wrapped(incoming, sender, to, &text, token)
}

/// §8.3: the alias is misconfigured.
pub fn alias_invalid(
    incoming: &Incoming,
    sender: &Sender,
    to: &str,
    alias: &str,
    token: &str,
) -> GatewayMail {
    let text = format!(
        "<p>Dear Sender,<br /><br />The message below could not be accepted by the address {alias}. Please try again \
         later or contact {company} instead.<br /><br />Kind Regards</p>",
        alias = escape(alias),
        company = escape(sender.company),
    );
    security_wrapped(incoming, sender, to, &text, token)
}

fn security_wrapped(
    incoming: &Incoming,
    sender: &Sender,
    to: &str,
    text: &str,
    token: &str,
) -> GatewayMail {
    let body = format!(
        "<div>{text}</div><blockquote>{}</blockquote>",
        incoming.body_html
    );
    let id = format!("<{token}-alias-refusal@{}>", sender.hostname);
    base(
        incoming,
        sender,
        to,
        body,
        id,
        incoming.message_id.to_owned(),
    )
}

/// §6.3: the sender wrote too often.
pub fn rate_limit(incoming: &Incoming, sender: &Sender, to: &str, token: &str) -> GatewayMail {
    let id = loop_message_id(token, sender.hostname);
    let body = format!(
        "<p>Dear Sender,<br /><br />The message below could not be accepted by the address {dest} because you have \
         contacted it too many times in the last few minutes.<br /><br />Please try again later.<br /><br />Kind \
         Regards</p><blockquote>{quoted}</blockquote>",
        dest = escape(incoming.to),
        quoted = incoming.body_html,
    );
    base(
        incoming,
        sender,
        to,
        body,
        id.clone(),
        format!("{} {id}", incoming.message_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (Incoming<'static>, Sender<'static>) {
        (
            Incoming {
                message_id: "<m1@example.org>",
                subject: Some("Should Bounce"),
                email_from: Some("\"Sylvie Lelitre\" <test.sylvie.lelitre@agrolait.com>"),
                to: "groups@test.mycompany.com",
                body_html: "<p>hi</p>",
            },
            Sender {
                company: "YourCompany",
                company_email: "info@yourcompany.example.com",
                bounce_email: "bounce.test@test.mycompany.com",
                hostname: "postern.test",
            },
        )
    }

    #[test]
    fn refusal_uses_mailer_daemon_and_default_text() {
        let (i, s) = fixture();
        let m = alias_refusal(
            &i,
            &s,
            "whatever-2a840@postmaster.twitter.com",
            "groups@test.mycompany.com",
            Some("<p><br></p>"),
            false,
            "t1",
        );
        assert_eq!(m.from, "\"MAILER-DAEMON\" <bounce.test@test.mycompany.com>");
        assert_eq!(m.to, "whatever-2a840@postmaster.twitter.com");
        assert_eq!(m.subject, "Re: Should Bounce");
        assert!(m.body_html.contains(
            "<p>Dear Sender,<br /><br />The message below could not be accepted by the address groups@test.mycompany.com"
        ));
        assert_eq!(m.references, "<m1@example.org>");
        assert!(
            !m.message_id.contains(LOOP_TAG),
            "alias refusals carry no loop tag (reference §6.2)"
        );
        let custom = alias_refusal(
            &i,
            &s,
            "x@y",
            "a@b",
            Some("<p>What Is Dead May Never Die</p>"),
            false,
            "t2",
        );
        assert!(custom.body_html.contains("What Is Dead May Never Die"));
    }

    #[test]
    fn catchall_and_rate_limit_carry_the_loop_tag() {
        let (i, s) = fixture();
        for m in [
            catchall_bounce(&i, &s, "x@y", "t3"),
            rate_limit(&i, &s, "x@y", "t4"),
        ] {
            assert!(
                m.message_id.contains("-loop-detection-bounce-email@"),
                "{}",
                m.message_id
            );
            assert_eq!(m.references, format!("<m1@example.org> {}", m.message_id));
        }
        let limit = rate_limit(&i, &s, "x@y", "t5");
        assert!(
            limit
                .body_html
                .contains("because you have contacted it too many times in the last few minutes")
        );
        assert_eq!(
            catchall_bounce(&i, &s, "x@y", "t6").reply_to.as_deref(),
            Some("info@yourcompany.example.com")
        );
    }

    #[test]
    fn subject_without_subject() {
        let (mut i, s) = fixture();
        i.subject = None;
        assert_eq!(alias_invalid(&i, &s, "x@y", "a@b", "t").subject, "Re: None");
    }
}
