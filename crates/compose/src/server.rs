//! Which outgoing server sends a mail, and with which From and envelope sender (behaviour
//! reference §9.5): `from_filter` matching, the six passes of `_find_mail_server`, the From
//! rewrite to the notifications address (`"Name" <notifications@domain>`) and the envelope rule
//! (the bounce address when the server's filter allows it, else the From).
//!
//! Pure: the servers, the notifications address and the bounce address are given.

use postern_model::OutgoingServerId;
use postern_model::address::{
    email_domain_extract, email_normalize, encapsulate_email, extract_rfc2822_addresses,
};

/// An outgoing server as the choice needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRef {
    /// Its id.
    pub id: OutgoingServerId,
    /// Its name (second sort key).
    pub name: String,
    /// Comma-separated addresses or domains it may send as; `None` sends as anyone.
    pub from_filter: Option<String>,
    /// Priority: lowest first.
    pub sequence: i64,
}

/// Which pass of §9.5 chose the server (for `route explain`-like traces and the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// 1: the From address is in a filter.
    ExactFrom,
    /// 2: the From domain is in a filter.
    FromDomain,
    /// 3: the notifications address is in a filter.
    ExactNotifications,
    /// 4: the notifications domain is in a filter.
    NotificationsDomain,
    /// 5: the first server without filter.
    NoFilter,
    /// 6: the first server at all (the From will probably be refused or marked as spoofed).
    First,
    /// 7: no server at all; the default filter (`mail.default.from_filter`) decided the From.
    NoServer,
}

/// The result of the choice: the server (none when there is none at all) and the From to
/// send as (`None` when neither a From nor a notifications address exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Id of the chosen server.
    pub server: Option<OutgoingServerId>,
    /// Address (possibly formatted) to send as, before encapsulation.
    pub smtp_from: Option<String>,
    /// Which pass decided.
    pub pass: Pass,
}

/// `_match_from_filter`: an empty filter matches everything; an entry with `@` matches the
/// normalised address, an entry without matches its domain exactly (no sub-domains). A display
/// name holding an address is ignored.
pub fn match_from_filter(email: &str, from_filter: Option<&str>) -> bool {
    let Some(filter) = from_filter.filter(|f| !f.trim().is_empty()) else {
        return true;
    };
    let Some(normalized) = email_normalize(email) else {
        return false;
    };
    let domain = email_domain_extract(&normalized).unwrap_or_default();
    filter
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry.contains('@') {
                email_normalize(entry).as_deref() == Some(normalized.as_str())
            } else {
                entry.to_lowercase() == domain
            }
        })
}

fn filter_entries(filter: &str) -> impl Iterator<Item = String> + '_ {
    filter
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_lowercase)
}

/// The first server (in order) having an entry equal to `needle` (a normalised address or a
/// lower-case domain).
fn first_with_entry<'a>(
    servers: &[&'a ServerRef],
    needle: &str,
    address: bool,
) -> Option<&'a ServerRef> {
    servers.iter().copied().find(|s| {
        s.from_filter.as_deref().is_some_and(|f| {
            filter_entries(f).any(|e| {
                if address {
                    e.contains('@') && email_normalize(&e).as_deref() == Some(needle)
                } else {
                    !e.contains('@') && e == needle
                }
            })
        })
    })
}

/// `_find_mail_server(email_from)`: each pass scans every server (by sequence, then name)
/// before the next pass, so an exact-address match on a later server beats a domain match on
/// an earlier one. `notifications_email` is the alias domain's default From; `default_filter`
/// is `mail.default.from_filter`, used only when there is no server at all.
pub fn find_mail_server(
    email_from: Option<&str>,
    servers: &[ServerRef],
    notifications_email: Option<&str>,
    default_filter: Option<&str>,
) -> Choice {
    let mut ordered: Vec<&ServerRef> = servers.iter().collect();
    ordered.sort_by(|a, b| (a.sequence, &a.name, a.id).cmp(&(b.sequence, &b.name, b.id)));
    let from_norm = email_from.and_then(email_normalize);
    let notif_norm = notifications_email.and_then(email_normalize);
    let as_from = || email_from.map(str::to_owned);
    let as_notif = || notifications_email.map(str::to_owned);
    let choose = |s: &ServerRef, smtp_from: Option<String>, pass| Choice {
        server: Some(s.id),
        smtp_from,
        pass,
    };
    if let Some(from) = &from_norm {
        if let Some(s) = first_with_entry(&ordered, from, true) {
            return choose(s, as_from(), Pass::ExactFrom);
        }
        let domain = email_domain_extract(from).unwrap_or_default();
        if let Some(s) = first_with_entry(&ordered, &domain, false) {
            return choose(s, as_from(), Pass::FromDomain);
        }
    }
    if let Some(notif) = &notif_norm {
        if let Some(s) = first_with_entry(&ordered, notif, true) {
            return choose(s, as_notif(), Pass::ExactNotifications);
        }
        let domain = email_domain_extract(notif).unwrap_or_default();
        if let Some(s) = first_with_entry(&ordered, &domain, false) {
            return choose(s, as_notif(), Pass::NotificationsDomain);
        }
    }
    let fallback = as_notif().or_else(as_from);
    if let Some(s) = ordered
        .iter()
        .find(|s| s.from_filter.as_deref().is_none_or(|f| f.trim().is_empty()))
    {
        return choose(s, fallback, Pass::NoFilter);
    }
    if let Some(s) = ordered.first() {
        return choose(s, fallback, Pass::First);
    }
    let smtp_from = match (email_from, notifications_email) {
        (Some(f), _) if default_filter.is_some() && match_from_filter(f, default_filter) => {
            Some(f.to_owned())
        }
        (_, Some(n)) if default_filter.is_some() && match_from_filter(n, default_filter) => {
            Some(n.to_owned())
        }
        _ => fallback,
    };
    Choice {
        server: None,
        smtp_from,
        pass: Pass::NoServer,
    }
}

/// Why a mail cannot be sent as it is (failure types of §9.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromError {
    /// `mail_from_missing`: neither a From nor a bounce address.
    Missing,
    /// `mail_from_invalid`: the envelope sender holds no plain ASCII address.
    Malformed(String),
}

impl FromError {
    /// The `failure_type` of the mail and its notifications.
    pub fn failure_type(&self) -> &'static str {
        match self {
            FromError::Missing => "mail_from_missing",
            FromError::Malformed(_) => "mail_from_invalid",
        }
    }

    /// The `failure_reason`, with the reference's texts.
    pub fn reason(&self) -> String {
        match self {
            FromError::Missing => "You must either provide a sender address explicitly or configure using the combination of \
                 `mail.catchall.domain` and `mail.default.from` ICPs, in the server configuration file or with the \
                 --email-from startup parameter."
                .to_owned(),
            FromError::Malformed(from) => format!(
                "Malformed 'Return-Path' or 'From' address: {from} - It should contain one valid plain ASCII email"
            ),
        }
    }
}

/// What goes on the wire: the From header and the envelope sender (`""` is the null sender).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sending {
    /// The From header (rewritten when the server may not send as the author).
    pub header_from: String,
    /// MAIL FROM, a plain ASCII address or `""`.
    pub mail_from: String,
}

/// `_prepare_email_message` (§9.5 steps 1–8). `bounce` is the mail's Return-Path (`Some("")`
/// asks for the null sender, as refusals must), else the alias domain's bounce address;
/// `choice` is [`find_mail_server`]'s `smtp_from`; `server_filter` the chosen server's filter
/// (or `mail.default.from_filter` without server).
pub fn prepare_sending(
    header_from: Option<&str>,
    bounce: Option<&str>,
    choice_from: Option<&str>,
    notifications_email: Option<&str>,
    server_filter: Option<&str>,
) -> Result<Sending, FromError> {
    let header_from = header_from.filter(|f| !f.trim().is_empty());
    let null_sender = bounce == Some("");
    let bounce = bounce.filter(|b| !b.is_empty());
    let bounce_address = bounce.or(header_from);
    let mut smtp_from = header_from
        .or(bounce_address)
        .or(choice_from)
        .ok_or(FromError::Missing)?
        .to_owned();
    if let Some(c) = choice_from {
        smtp_from = c.to_owned();
    }
    let notif = notifications_email.and_then(email_normalize);
    if let (Some(n), Some(from)) = (&notif, header_from)
        && email_normalize(&smtp_from).as_ref() == Some(n)
        && email_normalize(from).as_ref() != Some(n)
        && let Some(wrapped) = encapsulate_email(from, n)
    {
        smtp_from = wrapped;
    }
    let header = smtp_from.clone();
    if null_sender {
        return Ok(Sending {
            header_from: header,
            mail_from: String::new(),
        });
    }
    let envelope_source = match bounce_address {
        Some(b) if match_from_filter(b, server_filter) => b.to_owned(),
        _ => smtp_from,
    };
    let mail_from = extract_rfc2822_addresses(&envelope_source)
        .into_iter()
        .rfind(|a| a.is_ascii())
        .ok_or_else(|| FromError::Malformed(envelope_source.clone()))?;
    Ok(Sending {
        header_from: header,
        mail_from,
    })
}

/// The default From of an alias domain: `default_from` is a local part, or a full address
/// used as it is (§9.8).
pub fn default_from_email(default_from: &str, domain: &str) -> String {
    if default_from.contains('@') {
        default_from.to_owned()
    } else {
        format!("{default_from}@{domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTIF: &str = "notifications.test@test.mycompany.com";
    const BOUNCE: &str = "bounce.test@test.mycompany.com";

    fn server(id: i64, filter: Option<&str>, sequence: i64) -> ServerRef {
        ServerRef {
            id: OutgoingServerId(id),
            name: format!("s{id}"),
            from_filter: filter.map(str::to_owned),
            sequence,
        }
    }

    /// The gateway fixture's servers (odoo-cases.md): domain (1), user (2), notifications (3),
    /// no filter (4).
    fn fixture() -> Vec<ServerRef> {
        vec![
            server(1, Some("test.mycompany.com"), 0),
            server(2, Some("specific_user@test.mycompany.com"), 1),
            server(3, Some(NOTIF), 2),
            server(4, None, 3),
        ]
    }

    /// Runs the whole of §9.5 for one From: (server, header From, envelope).
    fn send(
        from: Option<&str>,
        servers: &[ServerRef],
        notif: Option<&str>,
        bounce: Option<&str>,
        default_filter: Option<&str>,
    ) -> (Option<i64>, String, String) {
        let c = find_mail_server(from, servers, notif, default_filter);
        let filter = match c.server {
            Some(id) => servers
                .iter()
                .find(|s| s.id == id)
                .and_then(|s| s.from_filter.clone()),
            None => default_filter.map(str::to_owned),
        };
        let s = prepare_sending(
            from,
            bounce,
            c.smtp_from.as_deref(),
            notif,
            filter.as_deref(),
        )
        .unwrap();
        (
            c.server.map(OutgoingServerId::get),
            s.header_from,
            s.mail_from,
        )
    }

    // --- §9.5 worked examples, one test per row ---

    #[test]
    fn row1_specific_user_keeps_from_and_envelope() {
        let r = send(
            Some("specific_user@test.mycompany.com"),
            &fixture(),
            Some(NOTIF),
            Some(BOUNCE),
            None,
        );
        assert_eq!(
            r,
            (
                Some(2),
                "specific_user@test.mycompany.com".into(),
                "specific_user@test.mycompany.com".into()
            )
        );
    }

    #[test]
    fn row2_unknown_domain_with_name_goes_through_notifications() {
        let r = send(
            Some("\"Name\" <test@unknown_domain.com>"),
            &fixture(),
            Some(NOTIF),
            Some(BOUNCE),
            None,
        );
        assert_eq!(
            r,
            (
                Some(3),
                "\"Name\" <notifications.test@test.mycompany.com>".into(),
                NOTIF.into()
            )
        );
    }

    #[test]
    fn row3_unknown_domain_without_name_takes_the_local_part() {
        let r = send(
            Some("test@unknown_domain.com"),
            &fixture(),
            Some(NOTIF),
            Some(BOUNCE),
            None,
        );
        assert_eq!(
            r,
            (
                Some(3),
                "\"test\" <notifications.test@test.mycompany.com>".into(),
                NOTIF.into()
            )
        );
    }

    #[test]
    fn row4_our_domain_keeps_from_envelope_is_bounce() {
        let r = send(
            Some("\"Name\" <unknown_name@test.mycompany.com>"),
            &fixture(),
            Some(NOTIF),
            Some(BOUNCE),
            None,
        );
        assert_eq!(
            r,
            (
                Some(1),
                "\"Name\" <unknown_name@test.mycompany.com>".into(),
                BOUNCE.into()
            )
        );
    }

    #[test]
    fn row5_no_from_is_the_notifications_address() {
        let c = find_mail_server(None, &fixture(), Some(NOTIF), None);
        assert_eq!(
            (c.server, c.pass),
            (Some(OutgoingServerId(3)), Pass::ExactNotifications)
        );
        let s = prepare_sending(
            None,
            Some(BOUNCE),
            c.smtp_from.as_deref(),
            Some(NOTIF),
            Some(NOTIF),
        )
        .unwrap();
        assert_eq!(s.header_from, NOTIF);
    }

    #[test]
    fn row6_without_notifications_server_the_domain_server_rewrites() {
        let servers: Vec<ServerRef> = fixture()
            .into_iter()
            .filter(|s| s.id != OutgoingServerId(3))
            .collect();
        let r = send(
            Some("\"Name\" <test@unknown_domain.com>"),
            &servers,
            Some(NOTIF),
            Some(BOUNCE),
            None,
        );
        assert_eq!(
            r,
            (
                Some(1),
                "\"Name\" <notifications.test@test.mycompany.com>".into(),
                BOUNCE.into()
            )
        );
    }

    #[test]
    fn row7_all_filters_elsewhere_first_server_and_custom_default_from() {
        let servers: Vec<ServerRef> = fixture()
            .into_iter()
            .map(|mut s| {
                s.from_filter = Some("random.domain".into());
                s
            })
            .collect();
        let r = send(
            Some("specific_user@test.mycompany.com"),
            &servers,
            Some("test@custom_domain.com"),
            Some(BOUNCE),
            None,
        );
        assert_eq!(
            r,
            (
                Some(1),
                "\"specific_user\" <test@custom_domain.com>".into(),
                "test@custom_domain.com".into()
            )
        );
    }

    #[test]
    fn row8_no_servers_default_filter() {
        let r = send(
            Some("test@unknown_domain.com"),
            &[],
            Some(NOTIF),
            Some(BOUNCE),
            Some("dummy@example.com, test.mycompany.com, dummy2@example.com"),
        );
        assert_eq!(
            r,
            (
                None,
                "\"test\" <notifications.test@test.mycompany.com>".into(),
                BOUNCE.into()
            )
        );
    }

    #[test]
    fn without_alias_domain_the_no_filter_server_sends_the_original_from() {
        // Base-only (H107): no notifications address, "spoofing".
        let c = find_mail_server(
            Some("\"Test\" <test@unknown_domain.com>"),
            &fixture(),
            None,
            None,
        );
        assert_eq!(c.server, Some(OutgoingServerId(4)));
        assert_eq!(
            c.smtp_from.as_deref(),
            Some("\"Test\" <test@unknown_domain.com>")
        );
    }

    // --- H106 match_from_filter ---

    #[test]
    fn h106_match_from_filter() {
        let a = "admin@mail.example.com";
        for (email, filter) in [
            (a, Some("mail.example.com")),
            (a, Some("mail.EXAMPLE.com")),
            (a, Some("admin@mail.example.com")),
            (a, None),
            (
                "\"fake@test.mycompany.com\" <admin@mail.example.com>",
                Some("mail.example.com"),
            ),
            (
                "\"fake@test.mycompany.com\" <ADMIN@mail.example.com>",
                Some("mail.example.com"),
            ),
            (
                "\"fake@test.mycompany.com\" <ADMIN@mail.example.com>",
                Some("test.mycompany.com, mail.example.com, test2.com"),
            ),
        ] {
            assert!(match_from_filter(email, filter), "{email} / {filter:?}");
        }
        for (email, filter) in [
            (a, "test@mail.example.com"),
            (a, "test.mycompany.com"),
            (a, "mail.éxample.com"),
            ("admin@mmail.example.com", "mail.example.com"),
            (a, "mmail.example.com"),
            (
                "\"admin@mail.example.com\" <fake@test.mycompany.com>",
                "mail.example.com",
            ),
            (
                "\"fake@test.mycompany.com\" <ADMIN@mail.example.com>",
                "test.mycompany.com, wrong.mail.example.com, test3.com",
            ),
        ] {
            assert!(
                !match_from_filter(email, Some(filter)),
                "{email} / {filter}"
            );
        }
    }

    // --- H107 / I119 priorities ---

    #[test]
    fn h107_priorities_base() {
        let s = fixture();
        let pick = |f: &str| find_mail_server(Some(f), &s, None, None);
        assert_eq!(
            pick("specific_user@test.mycompany.com").server,
            Some(OutgoingServerId(2))
        );
        assert_eq!(
            pick("specific_user@test.mycompany.com")
                .smtp_from
                .as_deref(),
            Some("specific_user@test.mycompany.com")
        );
        assert_eq!(
            pick("unknown_email@test.mycompany.com").server,
            Some(OutgoingServerId(1))
        );
        assert_eq!(
            pick("\"Test\" <test@unknown_domain.com>").server,
            Some(OutgoingServerId(4))
        );
    }

    #[test]
    fn i119_priorities_mail() {
        let mut s = fixture();
        s[1].from_filter =
            Some("domain1.com, specific_user@test.mycompany.com, domain2.com".into());
        let pick = |f: Option<&str>| find_mail_server(f, &s, Some(NOTIF), None);
        for f in [
            "specific_user@test.mycompany.com",
            "\"Name name@strange.name\" <specific_user@test.mycompany.com>",
            "SPECIFIC_USER@test.mycompany.com",
            "specific_user@test.MYCOMPANY.com",
            "\"Example\" <test@domain2.com>",
            "test@domain1.com",
        ] {
            let c = pick(Some(f));
            assert_eq!(
                (c.server, c.smtp_from.as_deref()),
                (Some(OutgoingServerId(2)), Some(f)),
                "{f}"
            );
        }
        for f in [
            "unknown_email@test.mycompany.com",
            "unknown_email@TEST.MYCOMPANY.COM",
            "\"Formatted\" <unknown_email@test.mycompany.com>",
        ] {
            assert_eq!(pick(Some(f)).server, Some(OutgoingServerId(1)), "{f}");
        }
        for f in [Some("\"Test\" <test@unknown_domain.com>"), None] {
            let c = pick(f);
            assert_eq!(
                (c.server, c.smtp_from.as_deref()),
                (Some(OutgoingServerId(3)), Some(NOTIF)),
                "{f:?}"
            );
        }
    }

    #[test]
    fn exact_address_on_a_later_server_beats_an_earlier_domain() {
        let s = vec![
            server(1, Some("example.com"), 1),
            server(2, Some("a@example.com"), 9),
        ];
        assert_eq!(
            find_mail_server(Some("a@example.com"), &s, None, None).server,
            Some(OutgoingServerId(2))
        );
    }

    #[test]
    fn ties_on_sequence_go_by_name() {
        let mut s = vec![server(1, None, 5), server(2, None, 5)];
        s[0].name = "zulu".into();
        s[1].name = "alpha".into();
        assert_eq!(
            find_mail_server(Some("x@y.z"), &s, None, None).server,
            Some(OutgoingServerId(2))
        );
    }

    // --- H109 context force ---

    #[test]
    fn h109_context_notifications_and_bounce() {
        let s = vec![server(1, Some("context.example.com"), 10)];
        let r = send(
            Some("\"Name\" <test@unknown_domain.com>"),
            &s,
            Some("notification@context.example.com"),
            Some("bounce@context.example.com"),
            None,
        );
        assert_eq!(
            r,
            (
                Some(1),
                "\"Name\" <notification@context.example.com>".into(),
                "bounce@context.example.com".into()
            )
        );
    }

    // --- H110 IDNA envelope ---

    #[test]
    fn h110_envelope_is_idna_encoded() {
        let s = prepare_sending(Some("test@ééééééé.com"), None, None, None, None).unwrap();
        assert_eq!(s.mail_from, "test@xn--9caaaaaaa.com");
    }

    // --- J128 exceptions origin ---

    #[test]
    fn j128_missing_and_malformed_from() {
        assert_eq!(
            prepare_sending(None, None, None, None, None),
            Err(FromError::Missing)
        );
        assert_eq!(FromError::Missing.failure_type(), "mail_from_missing");
        for from in ["robert", "strange@example¢¡.com"] {
            let e = prepare_sending(Some(from), None, None, None, None).unwrap_err();
            assert_eq!(e.failure_type(), "mail_from_invalid", "{from}");
            assert!(
                e.reason()
                    .starts_with("Malformed 'Return-Path' or 'From' address: ")
            );
        }
    }

    #[test]
    fn null_sender_for_refusals() {
        let s = prepare_sending(
            Some("\"MAILER-DAEMON\" <bounce@example.com>"),
            Some(""),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(s.mail_from, "");
    }

    // --- I115/I116 default addresses ---

    #[test]
    fn default_from_as_local_part_or_full_address() {
        assert_eq!(
            default_from_email("notifications.test", "test.mycompany.com"),
            NOTIF
        );
        assert_eq!(
            default_from_email("test@custom_domain.com", "test.mycompany.com"),
            "test@custom_domain.com"
        );
        assert_eq!(
            default_from_email("icp", "test.mycompany.com"),
            "icp@test.mycompany.com"
        );
    }

    // --- J134: grouping of 4 senders gives 4 (server, from) pairs ---

    #[test]
    fn j134_send_server_grouping() {
        let mut s = fixture();
        s.push(server(5, Some("test_2.com"), 4));
        let mut pairs: Vec<(Option<OutgoingServerId>, Option<String>)> = [
            "test@unknown_domain.com",
            "test_2@unknown_domain.com",
            "user_1@test_2.com",
            "user_2@test_2.com",
        ]
        .iter()
        .map(|f| {
            let c = find_mail_server(Some(f), &s, Some(NOTIF), None);
            let sending = prepare_sending(
                Some(f),
                Some(BOUNCE),
                c.smtp_from.as_deref(),
                Some(NOTIF),
                None,
            )
            .unwrap();
            (c.server, Some(sending.header_from))
        })
        .collect();
        assert_eq!(
            pairs[0].1.as_deref(),
            Some("\"test\" <notifications.test@test.mycompany.com>")
        );
        assert_eq!(
            pairs[1].1.as_deref(),
            Some("\"test_2\" <notifications.test@test.mycompany.com>")
        );
        assert_eq!(
            pairs[2],
            (Some(OutgoingServerId(5)), Some("user_1@test_2.com".into()))
        );
        pairs.dedup_by_key(|p| p.0);
        assert_eq!(pairs.len(), 2, "two servers: notifications and test_2.com");
    }
}
