//! Routing on parsed input: any message parsed, its lookups planned, answered as a store with
//! an alias for every address the plan asks about (and an author, and a thread) would answer,
//! then decided twice. Never a panic; the decision is deterministic and serializes to the
//! outcome's JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern_model::{AliasContact, AliasId, MessageId, PartnerId, RecordId};
use postern_routing::*;

fn config() -> RoutingConfig {
    RoutingConfig {
        domains: vec![DomainInfo {
            name: "example.com".into(),
            bounce_email: "bounce@example.com".into(),
            catchall_email: "catchall@example.com".into(),
        }],
        catchall_domain_allowed: vec![],
    }
}

/// What a store holding an alias for each name of the plan, an author and a thread answers;
/// `flavour` (a byte of the input) picks the contact policy and which lookups find something.
fn lookups(plan: &LookupPlan, flavour: u8) -> Lookups {
    let contact = match flavour % 3 {
        0 => AliasContact::Everyone,
        1 => AliasContact::Partners,
        _ => AliasContact::Followers,
    };
    let aliases = plan
        .alias_full_names
        .iter()
        .chain(&plan.alias_local_parts)
        .enumerate()
        .map(|(i, name)| {
            let (local, domain) = match name.split_once('@') {
                Some((l, d)) => (l.to_owned(), Some(d.to_owned())),
                None => (name.clone(), None),
            };
            AliasInfo {
                id: AliasId(i as i64 + 1),
                alias_name: local,
                domain,
                model: "crm.lead".into(),
                force_thread_id: (flavour & 4 != 0).then_some(RecordId(7)),
                parent_thread_id: (flavour & 8 != 0).then_some(RecordId(8)),
                contact,
                incoming_local: flavour & 16 != 0,
                refuse_untrusted: flavour & 32 != 0,
            }
        })
        .collect();
    let thread = ThreadMessage {
        id: MessageId(3),
        record_id: Some(RecordId(7)),
        model: Some("crm.lead".into()),
        internal: flavour & 64 != 0,
        auto_comment: false,
        author_partner_id: Some(PartnerId(2)),
    };
    let found = !plan.thread_ids.is_empty() && flavour & 128 != 0;
    Lookups {
        duplicate: !plan.dedup_ids.is_empty() && flavour == 255,
        reply_target: found.then(|| thread.clone()),
        by_token: false,
        // A subject tag found the thread when nothing else did.
        by_subject_token: found && !plan.subject_tokens.is_empty() && flavour & 16 != 0,
        token_notes: vec![],
        parent: found.then_some(thread),
        author_candidates: plan
            .author_email
            .iter()
            .map(|_| PartnerCandidate {
                id: PartnerId(2),
                is_user: flavour & 2 != 0,
            })
            .collect(),
        aliases,
        followers: vec![(RecordId(7), vec![PartnerId(2)])],
        existing_records: vec![RecordId(7), RecordId(8)],
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flavour, raw)) = data.split_first() else {
        return;
    };
    let Ok(msg) = postern_mime::parse(raw) else {
        return;
    };
    let cfg = config();
    let env = Envelope {
        mail_from: Some(String::new()).filter(|_| flavour & 1 != 0),
        rcpt_to: msg.recipient_addresses.clone(),
        ..Envelope::default()
    };
    let plan = plan_lookups(&msg, &env, &cfg);
    let look = lookups(&plan, flavour);
    let first = decide(&msg, &env, &cfg, &look);
    let second = decide(&msg, &env, &cfg, &look);
    assert_eq!(first, second, "decide is deterministic");
    serde_json::to_string(&first).expect("the decision is JSON");
    let counts = LoopCounts::default();
    let limited = rate_limit(first, &counts, 20, "catchall@example.com");
    serde_json::to_string(&limited).expect("the decision is JSON");
});
