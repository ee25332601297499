//! The decision itself: §2.1 (order of processing), §4 (routing steps), §4.8 (contact policies),
//! §6.3 (sender rate limit). Each step is a function; each writes what it saw to the trace.

use crate::types::*;
use crate::{LOOP_TAG, MAX_REFERENCES, REPLY_TO_TAG};
use postern_mime::ParsedMessage;
use postern_model::address::{email_normalize, email_split};
use postern_model::{AliasContact, AliasId, PartnerId, RecordId};

/// The addresses of a message that routing compares, lower-cased (§4.0).
struct Addresses {
    /// Delivered-To + To + envelope recipients.
    to: Vec<String>,
    /// Delivered-To, To, Cc, Resent-To, Resent-Cc + envelope recipients.
    rcpt: Vec<String>,
}

fn addresses(msg: &ParsedMessage, env: &Envelope) -> Addresses {
    // The parser already split the headers' addresses; only the envelope is split here.
    let with_envelope = |list: &[String]| -> Vec<String> {
        let mut out = list.to_vec();
        for item in &env.rcpt_to {
            for a in email_split(item) {
                let a = a.to_lowercase();
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    };
    Addresses {
        to: with_envelope(&msg.to_addresses),
        rcpt: with_envelope(&msg.recipient_addresses),
    }
}

/// The local part of `email` when its domain may be matched on local part (§4.0 `local()`).
fn local_part<'a>(email: &'a str, allowed: &[String]) -> Option<&'a str> {
    let (left, domain) = email.rsplit_once('@')?;
    if !allowed.is_empty() && !allowed.iter().any(|d| d == domain) {
        return None;
    }
    Some(left)
}

/// The address without its `+tag` (`sales+1234@example.com` gives `sales@example.com`), when
/// it has one. Plus addressing: the alias `sales` takes mail to `sales+anything@` its domain,
/// unless an alias holds the whole name (a Postern extension; the reference matches whole
/// names only). The tag reaches the application as the payload's `mailbox_hash`.
pub fn plus_base(email: &str) -> Option<String> {
    let (local, domain) = email.rsplit_once('@')?;
    let (base, tag) = local.split_once('+')?;
    (!base.is_empty() && !tag.is_empty()).then(|| format!("{base}@{domain}"))
}

/// `mail.catchall.domain.allowed` extended with every alias domain (§4.0), or empty if unset.
fn allowed_domains(cfg: &RoutingConfig) -> Vec<String> {
    if cfg.catchall_domain_allowed.is_empty() {
        return Vec::new();
    }
    let mut v = cfg.catchall_domain_allowed.clone();
    v.extend(cfg.domains.iter().map(|d| d.name.clone()));
    v
}

/// The ids reply detection looks at: References (or In-Reply-To), without `reply_to` ids, the
/// last 32.
fn thread_ids(msg: &ParsedMessage) -> Vec<String> {
    let ids: Vec<String> = if !msg.references.is_empty() {
        msg.references.clone()
    } else {
        msg.in_reply_to.iter().cloned().collect()
    };
    let kept: Vec<String> = ids
        .into_iter()
        .filter(|id| !id.contains(REPLY_TO_TAG))
        .collect();
    let start = kept.len().saturating_sub(MAX_REFERENCES);
    kept[start..].to_vec()
}

/// What the shell must fetch for `msg`.
pub fn plan_lookups(msg: &ParsedMessage, env: &Envelope, cfg: &RoutingConfig) -> LookupPlan {
    let a = addresses(msg, env);
    let allowed = allowed_domains(cfg);
    let mut full_names = a.rcpt.clone();
    for base in a.rcpt.iter().filter_map(|r| plus_base(r)) {
        if !full_names.contains(&base) {
            full_names.push(base);
        }
    }
    let mut local_parts: Vec<String> = Vec::new();
    for r in &full_names {
        if let Some(l) = local_part(r, &allowed)
            && !local_parts.iter().any(|x| x == l)
        {
            local_parts.push(l.to_owned());
        }
    }
    let start = msg.references.len().saturating_sub(MAX_REFERENCES);
    LookupPlan {
        dedup_ids: msg
            .message_id
            .iter()
            .chain(msg.x_message_id.iter())
            .cloned()
            .collect(),
        thread_ids: thread_ids(msg),
        in_reply_to: msg.in_reply_to.clone(),
        parent_ids: msg.references[start..].to_vec(),
        // An untrusted From (sender authentication) is nobody we know.
        author_email: match env.from_untrusted {
            true => None,
            false => msg.email_from.as_deref().and_then(email_normalize),
        },
        alias_full_names: full_names,
        alias_local_parts: local_parts,
        reply_tokens: a
            .rcpt
            .iter()
            .filter_map(|r| {
                let (local, _) = r.rsplit_once('@')?;
                let (_, tag) = local.split_once('+')?;
                postern_model::token::id_of(tag).map(|_| (r.clone(), tag.to_owned()))
            })
            .collect(),
        subject_tokens: postern_model::token::subject_tags(msg.subject.as_deref().unwrap_or(""))
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

/// The working state of one decision.
struct Ctx<'a> {
    msg: &'a ParsedMessage,
    env: &'a Envelope,
    cfg: &'a RoutingConfig,
    look: &'a Lookups,
    addr: Addresses,
    allowed: Vec<String>,
    trace: Vec<String>,
}

impl Ctx<'_> {
    fn note(&mut self, line: impl Into<String>) {
        self.trace.push(line.into());
    }

    fn finish(
        &mut self,
        outcome: Outcome,
        routes: Vec<Route>,
        mut sent: Vec<Send>,
        invalid: Vec<AliasId>,
    ) -> Decision {
        if sent.iter().any(|s| s.to.is_empty()) {
            sent.retain(|s| !s.to.is_empty());
            self.note("null reverse-path (a bounce or an automatic message): nothing is sent back");
        }
        Decision {
            outcome,
            routes,
            sent,
            invalid_aliases: invalid,
            trace: std::mem::take(&mut self.trace),
        }
    }

    /// Where refusals go (§8.1): see [`reply_address`].
    fn reply_address(&self) -> String {
        reply_address(self.msg, self.env)
    }

    fn is_catchall(&self, email: &str) -> bool {
        self.cfg.domains.iter().any(|d| d.catchall_email == email)
    }

    fn alias_matches(&self, alias: &AliasInfo, list: &[String]) -> bool {
        let full = alias.full_name();
        let takes = |r: &str| {
            r == full
                || (alias.incoming_local
                    && local_part(r, &self.allowed) == Some(alias.alias_name.as_str()))
        };
        list.iter().any(|r| {
            takes(r)
                || (plus_base(r).is_some_and(|base| takes(&base))
                    && !self.look.aliases.iter().any(|a| a.full_name() == *r))
        })
    }
}

/// The decision for `msg` (§2.1 and §4), given what the shell fetched.
pub fn decide(
    msg: &ParsedMessage,
    env: &Envelope,
    cfg: &RoutingConfig,
    look: &Lookups,
) -> Decision {
    let mut cx = Ctx {
        msg,
        env,
        cfg,
        look,
        addr: addresses(msg, env),
        allowed: allowed_domains(cfg),
        trace: Vec::new(),
    };
    cx.note(format!(
        "message {} from {} to [{}]",
        msg.message_id.as_deref().unwrap_or("(no Message-Id)"),
        msg.email_from.as_deref().unwrap_or("(no From)"),
        cx.addr.rcpt.join(", ")
    ));
    if let Some(note) = &env.auth_note {
        cx.note(note.clone());
    }
    if look.duplicate {
        cx.note("duplicate: a message with this Message-Id (or X-Postern/X-Odoo-Message-Id) is already stored; ignored");
        return cx.finish(Outcome::Duplicate, vec![], vec![], vec![]);
    }
    if let Some(id) = msg
        .references
        .iter()
        .chain(msg.in_reply_to.iter())
        .find(|id| id.contains(LOOP_TAG))
    {
        cx.note(format!(
            "loop: it refers to {id}, one of our own refusal mails; ignored silently"
        ));
        return cx.finish(Outcome::LoopIgnored, vec![], vec![], vec![]);
    }
    if let Some(reason) = bounce_reason(&cx) {
        cx.note(format!("bounce: {reason}"));
        return cx.finish(Outcome::BounceProcessed, vec![], vec![], vec![]);
    }
    if let Some(decision) = route_reply(&mut cx) {
        return decision;
    }
    if msg.auto_reply {
        // DESIGN.md "goes further" 4: an automatic reply is threaded when it answers one of our
        // messages, but never creates a record and never gets an answer.
        cx.note("auto-reply (Auto-Submitted, Precedence, X-Autoreply...) that answers no stored message: ignored");
        return cx.finish(Outcome::LoopIgnored, vec![], vec![], vec![]);
    }
    route_new(cx)
}

/// §3.3: why the message is a bounce, if it is one.
fn bounce_reason(cx: &Ctx) -> Option<String> {
    for to in &cx.addr.to {
        if cx.cfg.domains.iter().any(|d| d.bounce_email == *to) {
            return Some(format!("sent to the bounce address {to}"));
        }
        let base = plus_base(to);
        if cx
            .cfg
            .domains
            .iter()
            .any(|d| base.as_deref() == Some(d.bounce_email.as_str()))
        {
            return Some(format!(
                "sent to {to}, a VERP return path of the bounce address"
            ));
        }
    }
    let signs = &cx.msg.bounce_signs;
    if signs.from_mailer_daemon {
        return Some("From is MAILER-DAEMON".into());
    }
    if signs.delivery_report {
        return Some("a delivery report (multipart/report)".into());
    }
    None
}

/// §4.2: a reply to a message of a thread. `Some` when decided here.
fn route_reply(cx: &mut Ctx) -> Option<Decision> {
    for note in &cx.look.token_notes {
        cx.note(note.clone());
    }
    let ids = thread_ids(cx.msg);
    let target = cx.look.reply_target.clone();
    let by_token = cx.look.by_token || cx.look.by_subject_token;
    let (Some(t), false) = (target, ids.is_empty() && !by_token) else {
        if !ids.is_empty() {
            cx.note(format!(
                "reply: none of the {} referenced ids is a stored message",
                ids.len()
            ));
        }
        return None;
    };
    let (Some(model), Some(record)) = (t.model.clone(), t.record_id) else {
        cx.note(format!(
            "reply: message {} is not on a record; not a reply",
            t.id
        ));
        return None;
    };
    if is_forward(cx, &t, &model, record) {
        return None;
    }
    cx.note(format!("reply: to message {} on {model} #{record}", t.id));
    let alias = cx
        .look
        .aliases
        .iter()
        .find(|a| a.model == model && cx.alias_matches(a, &cx.addr.rcpt))
        .cloned();
    let author = pick_author(cx.look, Some(record));
    if let Some(a) = &alias {
        match check_contact(cx, a, Some(record), author) {
            ContactCheck::Ok => {}
            ContactCheck::Refused(reason) | ContactCheck::Invalid(reason) => {
                // raise_exception=False: the refusal mail is sent, nothing is posted.
                cx.note(format!("refused by alias {}: {reason}", a.full_name()));
                let send = refusal(cx, SendKind::AliasRefusal, a, reason);
                return Some(cx.finish(Outcome::AliasRefused, vec![], vec![send], vec![]));
            }
        }
    }
    let (subtype, partner_ids) = reply_subtype(cx);
    let route = Route {
        action: Action::Post,
        model,
        record_id: Some(record),
        alias: alias.as_ref().map(AliasInfo::full_name),
        alias_id: alias.as_ref().map(|a| a.id),
        via: match (cx.look.by_token, cx.look.by_subject_token) {
            (true, _) => Via::ReplyToken,
            (false, true) => Via::SubjectToken,
            (false, false) => Via::Reply,
        },
        author_partner_id: author,
        parent_id: cx.look.parent.as_ref().map(|p| p.id),
        subtype,
        partner_ids,
    };
    Some(cx.finish(Outcome::Routed, vec![route], vec![], vec![]))
}

/// §4.2 step 3: a forward, when To holds an alias of another model than the target's: the
/// recipients are narrowed to those aliases' addresses, for §4.3.
fn is_forward(cx: &mut Ctx, t: &ThreadMessage, model: &str, record: RecordId) -> bool {
    let forward: Vec<&AliasInfo> = cx
        .look
        .aliases
        .iter()
        .filter(|a| a.model != model && cx.alias_matches(a, &cx.addr.to))
        .collect();
    if !forward.is_empty() {
        let names: Vec<String> = forward.iter().map(|a| a.full_name()).collect();
        cx.note(format!(
            "forward: replies to message {} on {model} #{record}, but To holds the alias(es) {} of another model: routed as new mail",
            t.id,
            names.join(", ")
        ));
        let keep: Vec<String> = cx
            .addr
            .rcpt
            .iter()
            .filter(|r| {
                forward
                    .iter()
                    .any(|a| cx.alias_matches(a, std::slice::from_ref(r)))
            })
            .cloned()
            .collect();
        cx.addr.rcpt = keep;
        return true;
    }
    false
}

/// §5 step 4: a reply to an internal note stays a note and notifies the note's author; replies
/// to bot messages are public.
fn reply_subtype(cx: &mut Ctx) -> (&'static str, Vec<PartnerId>) {
    match &cx.look.parent {
        Some(p) if p.internal && !p.auto_comment => {
            cx.note(format!(
                "reply to the internal note {}: stays internal, its author is notified",
                p.id
            ));
            ("note", p.author_partner_id.into_iter().collect())
        }
        _ => ("comment", vec![]),
    }
}

/// §4.3–§4.6: new mail to aliases, fallback model, catchall, no route.
fn route_new(mut cx: Ctx) -> Decision {
    if cx.addr.rcpt.is_empty() && cx.env.model.is_none() {
        cx.note("no recipient and no fallback model");
        return no_route(cx);
    }
    if !cx.addr.rcpt.is_empty() {
        if !cx.addr.to.is_empty() && cx.addr.to.iter().all(|t| cx.is_catchall(t)) {
            cx.note(format!(
                "direct write to the catchall address {}: refused",
                cx.addr.to.join(", ")
            ));
            return catchall_refusal(cx);
        }
        let mut matched: Vec<AliasInfo> = cx
            .look
            .aliases
            .iter()
            .filter(|a| cx.alias_matches(a, &cx.addr.rcpt))
            .cloned()
            .collect();
        matched.sort_by(|a, b| {
            (a.model.as_str(), a.alias_name.as_str())
                .cmp(&(b.model.as_str(), b.alias_name.as_str()))
        });
        if !matched.is_empty() {
            return route_aliases(cx, matched);
        }
        cx.note("no alias matches the recipients");
    }
    if let Some(model) = cx.env.model.clone() {
        cx.note(format!("fallback model {model}: a record is created"));
        let author = pick_author(cx.look, None);
        let route = Route {
            action: Action::Create,
            model,
            record_id: None,
            alias: None,
            alias_id: None,
            via: Via::FallbackModel,
            author_partner_id: author,
            parent_id: None,
            subtype: "comment",
            partner_ids: vec![],
        };
        return cx.finish(Outcome::Routed, vec![route], vec![], vec![]);
    }
    if cx.addr.to.iter().any(|t| cx.is_catchall(t)) {
        cx.note("written to the catchall address and to addresses that route nowhere: refused");
        return catchall_refusal(cx);
    }
    no_route(cx)
}

fn no_route(mut cx: Ctx) -> Decision {
    cx.note(format!(
        "no possible route for the message from {} to {}: create an alias or give a fallback model",
        cx.msg.email_from.as_deref().unwrap_or("?"),
        if cx.addr.to.is_empty() {
            "(nobody)".to_owned()
        } else {
            cx.addr.to.join(", ")
        }
    ));
    cx.finish(Outcome::NoRoute, vec![], vec![], vec![])
}

fn catchall_refusal(mut cx: Ctx) -> Decision {
    let send = Send {
        kind: SendKind::CatchallBounce,
        to: cx.reply_address(),
        alias_id: None,
        alias: None,
        reason: "this address collects replies and cannot be written to directly".into(),
    };
    cx.finish(Outcome::CatchallRefused, vec![], vec![send], vec![])
}

/// §4.3 step 4: one route per matching alias, each checked (§4.8).
fn route_aliases(mut cx: Ctx, aliases: Vec<AliasInfo>) -> Decision {
    let mut routes = Vec::new();
    let mut sent = Vec::new();
    let mut invalid = Vec::new();
    for a in &aliases {
        let forced = a.force_thread_id.filter(|r| {
            let exists = cx.look.existing_records.contains(r);
            if !exists {
                cx.trace.push(format!(
                    "alias {}: its record #{r} is gone; a record is created instead",
                    a.full_name()
                ));
            }
            exists
        });
        let author = pick_author(cx.look, forced.or(a.parent_thread_id));
        match check_contact(&cx, a, forced, author) {
            ContactCheck::Ok => {}
            ContactCheck::Refused(reason) => {
                cx.note(format!("alias {}: refused, {reason}", a.full_name()));
                sent.push(refusal(&cx, SendKind::AliasRefusal, a, reason));
                continue;
            }
            ContactCheck::Invalid(reason) => {
                cx.note(format!(
                    "alias {}: misconfigured, {reason}; marked invalid",
                    a.full_name()
                ));
                sent.push(refusal(&cx, SendKind::AliasInvalid, a, reason));
                invalid.push(a.id);
                continue;
            }
        }
        let (action, via) = if forced.is_some() {
            (Action::Post, Via::ForcedThread)
        } else {
            (Action::Create, Via::Alias)
        };
        cx.note(match forced {
            Some(r) => format!("alias {}: posted on {} #{r}", a.full_name(), a.model),
            None => format!("alias {}: creates a {} record", a.full_name(), a.model),
        });
        routes.push(Route {
            action,
            model: a.model.clone(),
            record_id: forced,
            alias: Some(a.full_name()),
            alias_id: Some(a.id),
            via,
            author_partner_id: author,
            parent_id: None,
            subtype: "comment",
            partner_ids: vec![],
        });
    }
    let outcome = match (routes.is_empty(), invalid.is_empty()) {
        (false, _) => Outcome::Routed,
        (true, false) => Outcome::AliasInvalid,
        (true, true) => Outcome::AliasRefused,
    };
    cx.finish(outcome, routes, sent, invalid)
}

enum ContactCheck {
    Ok,
    Refused(String),
    Invalid(String),
}

/// §4.8 step 4: the alias's contact policy.
fn check_contact(
    cx: &Ctx,
    alias: &AliasInfo,
    record: Option<RecordId>,
    author: Option<PartnerId>,
) -> ContactCheck {
    if alias.refuse_untrusted && cx.env.from_untrusted {
        return ContactCheck::Refused(crate::UNTRUSTED_REFUSAL.into());
    }
    match alias.contact {
        AliasContact::Everyone => ContactCheck::Ok,
        AliasContact::Partners if author.is_some() => ContactCheck::Ok,
        AliasContact::Partners => ContactCheck::Refused("restricted to known authors".into()),
        AliasContact::Followers => {
            let Some(object) = record.or(alias.parent_thread_id) else {
                return ContactCheck::Invalid(
                    "incorrectly configured alias (unknown reference record)".into(),
                );
            };
            match author {
                Some(p) if cx.look.followers_of(object).contains(&p) => ContactCheck::Ok,
                _ => ContactCheck::Refused("restricted to followers".into()),
            }
        }
    }
}

fn refusal(cx: &Ctx, kind: SendKind, alias: &AliasInfo, reason: String) -> Send {
    Send {
        kind,
        to: cx.reply_address(),
        alias_id: Some(alias.id),
        alias: Some(alias.full_name()),
        reason,
    }
}

/// §5.1: among the partners with the author's e-mail, a follower of the context record first,
/// then an internal user, then the lowest id.
fn pick_author(look: &Lookups, context: Option<RecordId>) -> Option<PartnerId> {
    let followers = context.map(|r| look.followers_of(r)).unwrap_or(&[]);
    look.author_candidates
        .iter()
        .min_by_key(|p| (!followers.contains(&p.id), !p.is_user, p.id))
        .map(|p| p.id)
}

/// Where a refusal of `msg` goes (§8.1): the envelope sender, else the `Return-Path`, else the
/// From. A null reverse-path (`MAIL FROM:<>`, `Return-Path: <>`) gets nothing: it marks a bounce
/// or an automatic message, which is never answered automatically (RFC 5321 §4.5.5, RFC 3834
/// §2). The reference ends the same way: its refusal to `<>` cannot be sent. `""` = send nothing.
pub fn reply_address(msg: &ParsedMessage, env: &Envelope) -> String {
    match (&env.mail_from, &msg.return_path) {
        (Some(s), _) if !s.is_empty() => s.clone(),
        (Some(_), _) => String::new(),
        (None, Some(rp)) if !rp.is_empty() => rp.clone(),
        (None, Some(_)) => String::new(),
        (None, None) => msg.email_from.clone().unwrap_or_default(),
    }
}

/// §6.3: drops the whole message when, for any model or record of the decision, the sender is at
/// or over `threshold` within the window the shell counted in.
pub fn rate_limit(
    decision: Decision,
    counts: &LoopCounts,
    threshold: i64,
    reply_to: &str,
) -> Decision {
    if decision.outcome != Outcome::Routed || counts.sender_allowed {
        return decision;
    }
    let over_model = counts.created.iter().find(|(_, n)| *n >= threshold);
    let over_record = counts.posted.iter().find(|(_, n)| *n >= threshold);
    let reason = match (over_model, over_record) {
        (Some((model, n)), _) => {
            format!("the sender created {n} {model} records in the window (limit {threshold})")
        }
        (None, Some((record, n))) => format!(
            "the sender posted {n} messages on record #{record} in the window (limit {threshold})"
        ),
        (None, None) => return decision,
    };
    let mut trace = decision.trace;
    trace.push(format!("rate limit: {reason}; nothing is stored"));
    let sent = match reply_to.is_empty() {
        true => {
            trace.push("null reverse-path: nothing is sent back".into());
            vec![]
        }
        false => vec![Send {
            kind: SendKind::RateLimit,
            to: reply_to.to_owned(),
            alias_id: None,
            alias: None,
            reason,
        }],
    };
    Decision {
        outcome: Outcome::RateLimited,
        routes: vec![],
        sent,
        invalid_aliases: vec![],
        trace,
    }
}
