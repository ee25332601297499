//! Who gets what when a message is posted on a record (behaviour reference §9.2–§9.4): the
//! followers notified by e-mail or in their inbox, the mails to queue with their headers
//! (`References`, `X-Msg-To-Add`, `X-Postern-Message-Id`, Return-Path), the author's From and
//! the Reply-To of the record.
//!
//! Postern queues one mail per e-mail recipient (Odoo's `mail.mail` holds up to 50 partners and
//! still sends one e-mail to each): what reaches each recipient is the same, and the result of
//! each delivery lands on that partner's notification without a lookup.
//!
//! Pure: the followers, the record and the addresses are given.

use postern_model::PartnerId;
use postern_model::address::{email_normalize, email_normalize_all, formataddr};

/// A partner who may be notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Partner id.
    pub partner_id: PartnerId,
    /// Name.
    pub name: String,
    /// E-mail as stored (may be empty or invalid).
    pub email: Option<String>,
    /// Internal user (else external: a customer, whose address goes in `X-Msg-To-Add`).
    pub is_user: bool,
    /// `inbox` users are notified in Postern, not by e-mail.
    pub inbox: bool,
    /// Archived partners are never notified.
    pub active: bool,
}

/// The plan: notifications in the inbox, mails to queue, partners with no usable address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Partners notified in their inbox (status `sent` at once).
    pub inbox: Vec<PartnerId>,
    /// One mail per e-mail recipient: (partner id, formatted To).
    pub emails: Vec<(PartnerId, String)>,
    /// Partners to notify by e-mail without a valid address (`exception`, `mail_email_invalid`).
    pub invalid: Vec<PartnerId>,
    /// The References header of the mails.
    pub references: String,
    /// `X-Msg-To-Add`: every external recipient, so that Reply-All includes the customers.
    pub to_add: Option<String>,
}

/// Plans the notifications of a message: `followers` (already filtered by subtype) and the
/// explicit `partner_ids`, minus the author and inactive partners.
pub fn plan(
    candidates: &[Candidate],
    author_partner_id: Option<PartnerId>,
    message_id: &str,
    parent_message_id: Option<&str>,
) -> Plan {
    let mut plan = Plan {
        references: match parent_message_id {
            Some(p) if p != message_id => format!("{p} {message_id}"),
            _ => message_id.to_owned(),
        },
        ..Plan::default()
    };
    let mut seen = Vec::new();
    let mut external = Vec::new();
    for c in candidates {
        if Some(c.partner_id) == author_partner_id || !c.active || seen.contains(&c.partner_id) {
            continue;
        }
        seen.push(c.partner_id);
        if c.is_user && c.inbox {
            plan.inbox.push(c.partner_id);
            continue;
        }
        // §9.3: one mail per partner, addressed to every address of its e-mail field
        // (`"A" <a@x>, b@x` receives one mail to both).
        let emails = c
            .email
            .as_deref()
            .map(email_normalize_all)
            .unwrap_or_default();
        if emails.is_empty() {
            plan.invalid.push(c.partner_id);
            continue;
        }
        let formatted: Vec<String> = emails.iter().map(|e| formataddr(&c.name, e)).collect();
        let formatted = formatted.join(", ");
        if !c.is_user {
            external.push(formatted.clone());
        }
        plan.emails.push((c.partner_id, formatted));
    }
    if !external.is_empty() {
        plan.to_add = Some(external.join(", "));
    }
    plan
}

/// The headers every mail of a notification carries.
pub fn notification_headers(plan: &Plan, message_id: &str) -> Vec<(String, String)> {
    let mut h = vec![
        ("References".to_owned(), plan.references.clone()),
        ("X-Postern-Message-Id".to_owned(), message_id.to_owned()),
    ];
    if let Some(add) = &plan.to_add {
        h.push(("X-Msg-To-Add".to_owned(), add.clone()));
    }
    h
}

/// Longest formatted Reply-To kept with a display name (§9.4).
const MAX_REPLY_TO: usize = 68;

/// Reply-To of a record's messages (§9.4, 17.0/18.0 naming): the record's own alias (an alias
/// whose parent is the record), else its company's catchall, else the author's From.
/// With an address of the first two kinds the name is `"{company} {record}"`, shortened to the
/// record (or company) name, then to the bare address, to stay within 68 characters.
pub fn reply_to(
    record_alias: Option<&str>,
    company_catchall: Option<&str>,
    company_name: &str,
    record_name: &str,
    author_from: Option<&str>,
) -> Option<String> {
    let Some(email) = record_alias.or(company_catchall).filter(|e| !e.is_empty()) else {
        return author_from.map(str::to_owned);
    };
    if email.len() >= MAX_REPLY_TO {
        return Some(email.to_owned());
    }
    let full = format!("{company_name} {record_name}");
    let full = full.trim();
    let formatted = formataddr(full, email);
    if formatted.len() <= MAX_REPLY_TO {
        return Some(formatted);
    }
    let short = if record_name.is_empty() {
        company_name
    } else {
        record_name
    };
    let formatted = formataddr(short, email);
    if formatted.len() <= MAX_REPLY_TO {
        return Some(formatted);
    }
    Some(email.to_owned())
}

/// The From of a message posted by a partner: `"Name" <email>` (§9.3), else the given text.
pub fn author_from(
    name: Option<&str>,
    email: Option<&str>,
    fallback: Option<&str>,
) -> Option<String> {
    match (name, email.and_then(email_normalize)) {
        (Some(n), Some(e)) => Some(formataddr(n, &e)),
        (None, Some(e)) => Some(e),
        _ => fallback.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: i64, name: &str, email: &str, is_user: bool, inbox: bool) -> Candidate {
        Candidate {
            partner_id: PartnerId(id),
            name: name.into(),
            email: (!email.is_empty()).then(|| email.to_owned()),
            is_user,
            inbox,
            active: true,
        }
    }

    #[test]
    fn a_partner_with_several_addresses_gets_one_mail_to_all_of_them() {
        let p = plan(
            &[c(
                4,
                "Multi",
                "\"A\" <A@Example.com>, b@example.com",
                false,
                false,
            )],
            None,
            "<m@x>",
            None,
        );
        assert_eq!(
            p.emails,
            vec![(
                PartnerId(4),
                "\"Multi\" <a@example.com>, \"Multi\" <b@example.com>".to_owned()
            )]
        );
        assert!(p.invalid.is_empty());
    }

    #[test]
    fn three_followers_one_inbox_two_email_one_external() {
        let followers = vec![
            c(1, "Ines Inbox", "ines@example.com", true, true),
            c(2, "Eva Employee", "eva@example.com", true, false),
            c(
                3,
                "Robert Customer",
                "Robert@Customer.example",
                false,
                false,
            ),
            c(4, "Author", "author@example.com", true, false),
        ];
        let p = plan(&followers, Some(PartnerId(4)), "<m2@x>", Some("<m1@x>"));
        assert_eq!(p.inbox, vec![PartnerId(1)]);
        assert_eq!(
            p.emails,
            vec![
                (
                    PartnerId(2),
                    "\"Eva Employee\" <eva@example.com>".to_owned()
                ),
                (
                    PartnerId(3),
                    "\"Robert Customer\" <robert@customer.example>".to_owned()
                )
            ]
        );
        assert_eq!(p.references, "<m1@x> <m2@x>");
        assert_eq!(
            p.to_add.as_deref(),
            Some("\"Robert Customer\" <robert@customer.example>")
        );
        let h = notification_headers(&p, "<m2@x>");
        assert!(
            h.iter()
                .any(|(n, v)| n == "X-Postern-Message-Id" && v == "<m2@x>")
        );
    }

    #[test]
    fn j130_invalid_addresses_and_inactive_partners() {
        let mut gone = c(3, "Gone", "gone@example.com", false, false);
        gone.active = false;
        let p = plan(
            &[
                c(1, "Void", "", false, false),
                c(2, "Bad", "not-an-email", false, false),
                gone,
            ],
            None,
            "<m@x>",
            None,
        );
        assert_eq!(p.invalid, vec![PartnerId(1), PartnerId(2)]);
        assert!(p.emails.is_empty());
        assert_eq!(p.references, "<m@x>");
    }

    #[test]
    fn reply_to_order_and_length() {
        assert_eq!(
            reply_to(
                None,
                Some("catchall.test@test.mycompany.com"),
                "YourCompany",
                "Test",
                None
            )
            .as_deref(),
            Some("\"YourCompany Test\" <catchall.test@test.mycompany.com>")
        );
        assert_eq!(
            reply_to(
                Some("project@test.mycompany.com"),
                Some("c@x.com"),
                "Co",
                "Rec",
                None
            )
            .as_deref(),
            Some("\"Co Rec\" <project@test.mycompany.com>")
        );
        assert_eq!(
            reply_to(None, None, "Co", "Rec", Some("\"A\" <a@b.c>")).as_deref(),
            Some("\"A\" <a@b.c>")
        );
        let long = "A record name that is long enough to push the whole thing over";
        assert_eq!(
            reply_to(None, Some("catchall@example.com"), "Company", long, None).as_deref(),
            Some("catchall@example.com")
        );
        assert_eq!(
            reply_to(
                None,
                Some("catchall@example.com"),
                "A Company With A Really Very Long Name Indeed",
                "Short",
                None
            )
            .as_deref(),
            Some("\"Short\" <catchall@example.com>")
        );
    }

    #[test]
    fn author_from_formats() {
        assert_eq!(
            author_from(Some("Eva"), Some("EVA@example.com"), None).as_deref(),
            Some("\"Eva\" <eva@example.com>")
        );
        assert_eq!(author_from(None, None, Some("x@y")).as_deref(), Some("x@y"));
    }
}
