//! Table and property tests of `decide`, on hand-built parsed messages (no parser involved).

use postern_mime::{BounceSigns, Dsn, ParsedMessage};
use postern_model::{AliasContact, AliasId, MessageId, PartnerId, RecordId};
use postern_routing::*;
use proptest::prelude::*;

fn msg(to: &[&str]) -> ParsedMessage {
    ParsedMessage {
        message_id: Some("<m1@example.org>".into()),
        x_message_id: None,
        in_reply_to: None,
        references: vec![],
        subject: Some("Hello".into()),
        email_from: Some("\"Sylvie\" <sylvie@example.org>".into()),
        to: to.iter().map(|s| (*s).to_owned()).collect(),
        cc: vec![],
        recipients: to.iter().map(|s| (*s).to_owned()).collect(),
        to_addresses: to.iter().map(|s| s.to_lowercase()).collect(),
        recipient_addresses: to.iter().map(|s| s.to_lowercase()).collect(),
        return_path: Some("sylvie@example.org".into()),
        date: None,
        body_html: "<p>hi</p>".into(),
        attachments: vec![],
        bounce_signs: BounceSigns::default(),
        dsn: Dsn::default(),
        auto_reply: false,
        no_answer: None,
    }
}

fn cfg() -> RoutingConfig {
    RoutingConfig {
        domains: vec![DomainInfo {
            name: "d1.test".into(),
            bounce_email: "bounce@d1.test".into(),
            catchall_email: "catchall@d1.test".into(),
        }],
        catchall_domain_allowed: vec![],
    }
}

fn alias(id: i64, name: &str, model: &str) -> AliasInfo {
    AliasInfo {
        id: AliasId(id),
        alias_name: name.into(),
        domain: Some("d1.test".into()),
        model: model.into(),
        force_thread_id: None,
        parent_thread_id: None,
        contact: AliasContact::Everyone,
        incoming_local: false,
        refuse_untrusted: false,
    }
}

fn run(m: &ParsedMessage, look: &Lookups) -> Decision {
    decide(m, &Envelope::default(), &cfg(), look)
}

#[test]
fn alias_creates_a_record() {
    let look = Lookups {
        aliases: vec![alias(1, "sales", "crm.lead")],
        ..Default::default()
    };
    let d = run(&msg(&["sales@d1.test"]), &look);
    assert_eq!(d.outcome, Outcome::Routed);
    assert_eq!(d.routes.len(), 1);
    assert_eq!(
        (d.routes[0].action, d.routes[0].via),
        (Action::Create, Via::Alias)
    );
    assert!(
        d.trace
            .iter()
            .any(|l| l.contains("creates a crm.lead record")),
        "{:?}",
        d.trace
    );
}

#[test]
fn plus_addressing_reaches_the_alias_unless_an_alias_has_the_whole_name() {
    let sales = alias(1, "sales", "crm.lead");
    let plan = plan_lookups(&msg(&["sales+1234@d1.test"]), &Envelope::default(), &cfg());
    assert!(plan.alias_full_names.contains(&"sales@d1.test".to_owned()));
    let look = Lookups {
        aliases: vec![sales.clone()],
        ..Default::default()
    };
    let d = run(&msg(&["sales+1234@d1.test"]), &look);
    assert_eq!(d.outcome, Outcome::Routed);
    assert_eq!(d.routes[0].alias.as_deref(), Some("sales@d1.test"));
    // An alias with the whole name wins.
    let look = Lookups {
        aliases: vec![sales, alias(2, "sales+vip", "helpdesk.ticket")],
        ..Default::default()
    };
    let d = run(&msg(&["sales+vip@d1.test"]), &look);
    assert_eq!(d.routes.len(), 1, "{:?}", d.routes);
    assert_eq!(d.routes[0].model, "helpdesk.ticket");
    assert_eq!(plus_base("a+b@x"), Some("a@x".to_owned()));
    assert_eq!(plus_base("+b@x"), None);
    assert_eq!(plus_base("a+@x"), None);
    assert_eq!(plus_base("ab@x"), None);
}

#[test]
fn duplicate_first() {
    let look = Lookups {
        duplicate: true,
        aliases: vec![alias(1, "sales", "crm.lead")],
        ..Default::default()
    };
    assert_eq!(
        run(&msg(&["sales@d1.test"]), &look).outcome,
        Outcome::Duplicate
    );
}

#[test]
fn bounce_before_everything_but_duplicates() {
    let look = Lookups {
        aliases: vec![alias(1, "sales", "crm.lead")],
        ..Default::default()
    };
    let d = run(&msg(&["sales@d1.test", "bounce@d1.test"]), &look);
    assert_eq!(d.outcome, Outcome::BounceProcessed);
    let mut m = msg(&["sales@d1.test"]);
    m.bounce_signs.from_mailer_daemon = true;
    assert_eq!(run(&m, &look).outcome, Outcome::BounceProcessed);
}

#[test]
fn catchall_rules() {
    let look = Lookups {
        aliases: vec![alias(1, "sales", "crm.lead")],
        ..Default::default()
    };
    assert_eq!(
        run(&msg(&["catchall@d1.test"]), &look).outcome,
        Outcome::CatchallRefused
    );
    assert_eq!(
        run(&msg(&["catchall@d1.test", "sales@d1.test"]), &look).outcome,
        Outcome::Routed
    );
    assert_eq!(
        run(&msg(&["catchall@d1.test", "nobody@d1.test"]), &look).outcome,
        Outcome::CatchallRefused
    );
    let d = run(&msg(&["nobody@d1.test"]), &look);
    assert_eq!(d.outcome, Outcome::NoRoute);
}

/// A refusal goes to the envelope sender, else the Return-Path, else the From; a null
/// reverse-path (a bounce, an automatic message) gets nothing back (RFC 5321 §4.5.5, RFC 3834).
#[test]
fn refusals_go_to_the_reverse_path_and_never_to_a_null_one() {
    let look = Lookups::default();
    let to = |env: &Envelope, rp: Option<&str>| {
        let mut m = msg(&["catchall@d1.test"]);
        m.return_path = rp.map(str::to_owned);
        let d = decide(&m, env, &cfg(), &look);
        assert_eq!(d.outcome, Outcome::CatchallRefused);
        d.sent.iter().map(|s| s.to.clone()).collect::<Vec<_>>()
    };
    let with_sender = |s: &str| Envelope {
        mail_from: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(
        to(&with_sender("env@example.org"), Some("rp@example.org")),
        ["env@example.org"]
    );
    assert_eq!(
        to(&Envelope::default(), Some("rp@example.org")),
        ["rp@example.org"]
    );
    assert_eq!(
        to(&Envelope::default(), None),
        ["\"Sylvie\" <sylvie@example.org>"]
    );
    assert!(to(&with_sender(""), Some("rp@example.org")).is_empty());
    assert!(to(&Envelope::default(), Some("")).is_empty());
    let mut m = msg(&["catchall@d1.test"]);
    m.return_path = Some(String::new());
    let d = decide(&m, &Envelope::default(), &cfg(), &look);
    assert!(
        d.trace.iter().any(|l| l.contains("null reverse-path")),
        "{:?}",
        d.trace
    );
}

#[test]
fn a_cc_catchall_does_not_refuse() {
    let look = Lookups {
        aliases: vec![alias(1, "sales", "crm.lead")],
        ..Default::default()
    };
    let mut m = msg(&["sales@d1.test"]);
    m.cc = vec!["catchall@d1.test".into()];
    m.recipients.push("catchall@d1.test".into());
    m.recipient_addresses.push("catchall@d1.test".into());
    assert_eq!(run(&m, &look).outcome, Outcome::Routed);
}

#[test]
fn auto_replies_never_create_records() {
    let look = Lookups {
        aliases: vec![alias(1, "sales", "crm.lead")],
        ..Default::default()
    };
    let mut m = msg(&["sales@d1.test"]);
    m.auto_reply = true;
    let d = run(&m, &look);
    assert_eq!(d.outcome, Outcome::LoopIgnored);
    assert!(d.routes.is_empty() && d.sent.is_empty());
    // ... but one that answers a stored message is threaded.
    m.in_reply_to = Some("<ours@x>".into());
    let ours = ThreadMessage {
        id: MessageId(1),
        record_id: Some(RecordId(2)),
        model: Some("crm.lead".into()),
        internal: false,
        auto_comment: false,
        author_partner_id: None,
    };
    let look = Lookups {
        reply_target: Some(ours),
        ..look
    };
    assert_eq!(run(&m, &look).outcome, Outcome::Routed);
}

#[test]
fn reply_to_ids_are_ignored() {
    let mut m = msg(&["nobody@d1.test"]);
    m.references = vec!["<x.reply_to@d1.test>".into()];
    let plan = plan_lookups(&m, &Envelope::default(), &cfg());
    assert!(plan.thread_ids.is_empty());
}

#[test]
fn only_the_last_32_references() {
    let mut m = msg(&["nobody@d1.test"]);
    m.references = (0..40).map(|i| format!("<{i}@x>")).collect();
    let plan = plan_lookups(&m, &Envelope::default(), &cfg());
    assert_eq!(plan.thread_ids.len(), MAX_REFERENCES);
    assert_eq!(plan.thread_ids[0], "<8@x>");
}

#[test]
fn reply_to_a_note_stays_a_note() {
    let mut m = msg(&["nobody@d1.test"]);
    m.in_reply_to = Some("<note@x>".into());
    let note = ThreadMessage {
        id: MessageId(7),
        record_id: Some(RecordId(3)),
        model: Some("crm.lead".into()),
        internal: true,
        auto_comment: false,
        author_partner_id: Some(PartnerId(9)),
    };
    let look = Lookups {
        reply_target: Some(note.clone()),
        parent: Some(note.clone()),
        ..Default::default()
    };
    let d = run(&m, &look);
    assert_eq!(d.routes[0].subtype, "note");
    assert_eq!(d.routes[0].partner_ids, vec![PartnerId(9)]);
    let bot = ThreadMessage {
        auto_comment: true,
        ..note
    };
    let look = Lookups {
        reply_target: Some(bot.clone()),
        parent: Some(bot),
        ..Default::default()
    };
    assert_eq!(run(&m, &look).routes[0].subtype, "comment");
}

#[test]
fn author_priority_follower_then_user_then_lowest_id() {
    let mut a = alias(1, "sales", "crm.lead");
    a.force_thread_id = Some(RecordId(5));
    let look = Lookups {
        aliases: vec![a],
        existing_records: vec![RecordId(5)],
        author_candidates: vec![
            PartnerCandidate {
                id: PartnerId(1),
                is_user: false,
            },
            PartnerCandidate {
                id: PartnerId(2),
                is_user: true,
            },
            PartnerCandidate {
                id: PartnerId(3),
                is_user: false,
            },
        ],
        followers: vec![(RecordId(5), vec![PartnerId(3)])],
        ..Default::default()
    };
    assert_eq!(
        run(&msg(&["sales@d1.test"]), &look).routes[0].author_partner_id,
        Some(PartnerId(3))
    );
    let look = Lookups {
        followers: vec![],
        ..look
    };
    assert_eq!(
        run(&msg(&["sales@d1.test"]), &look).routes[0].author_partner_id,
        Some(PartnerId(2))
    );
}

#[test]
fn rate_limit_drops_everything() {
    let look = Lookups {
        aliases: vec![alias(1, "sales", "crm.lead")],
        ..Default::default()
    };
    let d = run(&msg(&["sales@d1.test"]), &look);
    let counts = LoopCounts {
        created: vec![("crm.lead".into(), 20)],
        ..Default::default()
    };
    let limited = rate_limit(d.clone(), &counts, 20, "sylvie@example.org");
    assert_eq!(limited.outcome, Outcome::RateLimited);
    assert!(limited.routes.is_empty());
    assert_eq!(limited.sent[0].kind, SendKind::RateLimit);
    let allowed = LoopCounts {
        sender_allowed: true,
        ..counts
    };
    assert_eq!(
        rate_limit(d.clone(), &allowed, 20, "x").outcome,
        Outcome::Routed
    );
    let under = LoopCounts {
        created: vec![("crm.lead".into(), 19)],
        ..Default::default()
    };
    assert_eq!(rate_limit(d, &under, 20, "x").outcome, Outcome::Routed);
}

fn arb_address() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("sales@d1.test".to_owned()),
        Just("support@d1.test".to_owned()),
        Just("catchall@d1.test".to_owned()),
        Just("bounce@d1.test".to_owned()),
        Just("nobody@d1.test".to_owned()),
        Just("someone@else.test".to_owned()),
        "[a-z]{1,8}@[a-z]{1,6}\\.test",
    ]
}

proptest! {
    #[test]
    fn decide_is_deterministic_and_well_formed(
        to in proptest::collection::vec(arb_address(), 0..5),
        duplicate in any::<bool>(),
        model in proptest::option::of(Just("fallback.model".to_owned())),
        report in any::<bool>(),
    ) {
        let refs: Vec<&str> = to.iter().map(String::as_str).collect();
        let mut m = msg(&refs);
        m.bounce_signs.delivery_report = report;
        let look = Lookups {
            duplicate,
            aliases: vec![alias(1, "sales", "crm.lead"), alias(2, "support", "helpdesk.ticket")],
            ..Default::default()
        };
        let env = Envelope { model, ..Default::default() };
        let a = decide(&m, &env, &cfg(), &look);
        let b = decide(&m, &env, &cfg(), &look);
        prop_assert_eq!(&a, &b);
        if duplicate {
            prop_assert_eq!(a.outcome, Outcome::Duplicate);
            prop_assert!(a.routes.is_empty() && a.sent.is_empty());
        }
        prop_assert_eq!(a.outcome == Outcome::Routed, !a.routes.is_empty());
        for r in &a.routes {
            prop_assert_eq!(r.action == Action::Post, r.record_id.is_some());
            prop_assert!(!r.model.is_empty());
            prop_assert_eq!(r.via == Via::Alias, r.alias.is_some() && r.action == Action::Create);
        }
        for s in &a.sent {
            prop_assert_eq!(&s.to, "sylvie@example.org");
        }
        prop_assert!(!a.trace.is_empty());
    }
}

#[test]
fn outcome_words_are_the_serialised_ones() {
    for o in [
        Outcome::Routed,
        Outcome::Duplicate,
        Outcome::LoopIgnored,
        Outcome::BounceProcessed,
        Outcome::CatchallRefused,
        Outcome::AliasRefused,
        Outcome::AliasInvalid,
        Outcome::RateLimited,
        Outcome::NoRoute,
    ] {
        assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
    }
}

#[test]
fn an_untrusted_from_is_nobody_we_know_and_the_trace_says_why() {
    let mut m = msg(&["sales@d1.test"]);
    m.email_from = Some("boss@partner.test".into());
    let trusted = plan_lookups(&m, &Envelope::default(), &cfg());
    assert_eq!(trusted.author_email.as_deref(), Some("boss@partner.test"));
    let env = Envelope {
        from_untrusted: true,
        auth_note: Some("sender authentication: DMARC fails for partner.test".into()),
        ..Default::default()
    };
    assert_eq!(plan_lookups(&m, &env, &cfg()).author_email, None);
    let d = decide(&m, &env, &cfg(), &Lookups::default());
    assert!(
        d.trace
            .iter()
            .any(|l| l == "sender authentication: DMARC fails for partner.test"),
        "{:?}",
        d.trace
    );
}
