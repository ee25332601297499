//! Fetching what the decision needs (the plan of `postern_routing::plan_lookups`), calling
//! `decide`, then counting for the rate limit and calling `rate_limit`.

use postern_mime::ParsedMessage;
use postern_model::address::email_normalize;
use postern_model::{MessageId, MessageType, RecordId, token};
use postern_routing::{
    AliasInfo, Decision, DomainInfo, Envelope, Lookups, LoopCounts, Outcome, PartnerCandidate,
    RoutingConfig, ThreadMessage, decide, plan_lookups, rate_limit,
};
use postern_store::{AliasRouteRow, StoreError, ThreadMessageRow, Tx, now_ms};

/// What applying the decision needs besides the decision and the configuration.
pub(crate) struct Setup<'c> {
    pub aliases: Vec<AliasRouteRow>,
    pub config: &'c GatewayConfig,
}

fn thread_message(row: ThreadMessageRow) -> ThreadMessage {
    ThreadMessage {
        id: row.id,
        record_id: row.record_id,
        model: row.model,
        internal: row.subtype.as_deref() == Some("note"),
        auto_comment: row.message_type == MessageType::AutoComment,
        author_partner_id: row.author_partner_id,
    }
}

fn alias_info(row: &AliasRouteRow) -> AliasInfo {
    AliasInfo {
        id: row.id,
        alias_name: row.alias_name.clone(),
        domain: row.domain.clone(),
        model: row.model.clone(),
        force_thread_id: row.force_thread_id,
        parent_thread_id: row.parent_thread_id,
        contact: row.contact.parse().unwrap_or_default(),
        incoming_local: row.incoming_local,
        refuse_untrusted: row.refuse_untrusted,
    }
}

/// The configuration the gateway reads for every message, loaded once per transaction (once per
/// batch on SQLite): alias domains, companies, routing and loop parameters.
pub(crate) struct GatewayConfig {
    pub routing: RoutingConfig,
    pub domains: Vec<postern_store::AliasDomain>,
    pub companies: Vec<postern_store::Company>,
    pub loop_minutes: i64,
    pub loop_threshold: i64,
    /// Senders never rate-limited (`gateway_allowed`), normalised.
    pub allowed_senders: Vec<String>,
}

impl GatewayConfig {
    pub(crate) async fn load(tx: &mut Tx) -> Result<GatewayConfig, StoreError> {
        let domains = tx.alias_domains().await?;
        let companies = tx
            .list::<postern_store::Company>(postern_store::PageRequest::all())
            .await?
            .items;
        let params = tx.list_params().await?;
        let param = |key: &str| {
            params
                .iter()
                .find(|p| p.key == key)
                .map(|p| p.value.as_str())
        };
        let int = |key: &str, default: i64| {
            param(key)
                .and_then(|v| v.parse().ok())
                .filter(|n: &i64| *n > 0)
                .unwrap_or(default)
        };
        let routing = RoutingConfig {
            domains: domains
                .iter()
                .map(|d| DomainInfo {
                    name: d.name.clone(),
                    bounce_email: d.bounce_email().to_lowercase(),
                    catchall_email: d.catchall_email().to_lowercase(),
                })
                .collect(),
            catchall_domain_allowed: param("mail.catchall.domain.allowed")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_lowercase)
                .collect(),
        };
        Ok(GatewayConfig {
            routing,
            loop_minutes: int("mail.gateway.loop.minutes", 120),
            loop_threshold: int("mail.gateway.loop.threshold", 20),
            allowed_senders: tx.gateway_allowed_list().await?,
            domains,
            companies,
        })
    }
}

/// Fetches, decides, counts, rate-limits.
pub(crate) async fn decide_in<'c>(
    tx: &mut Tx,
    config: &'c GatewayConfig,
    msg: &ParsedMessage,
    env: &Envelope,
) -> Result<(Decision, Setup<'c>), StoreError> {
    let cfg = &config.routing;
    let plan = plan_lookups(msg, env, cfg);
    let aliases = tx
        .aliases_for_routing(&plan.alias_full_names, &plan.alias_local_parts)
        .await?;
    let mut look = Lookups {
        duplicate: tx.message_id_exists(&plan.dedup_ids).await?,
        aliases: aliases.iter().map(alias_info).collect(),
        ..Default::default()
    };
    if !look.duplicate {
        fill_threads(tx, &plan, &mut look).await?;
        fill_people(tx, &plan, &mut look).await?;
    }
    let decision = decide(msg, env, cfg, &look);
    let mut decision = limit(tx, config, msg, env, decision).await?;
    if !decision.sent.is_empty() {
        let why = match (&msg.no_answer, msg.auto_reply) {
            (_, true) => Some("auto-reply".to_owned()),
            (Some(why), false) => Some(why.clone()),
            (None, false) => None,
        };
        if let Some(why) = why {
            decision.sent.clear();
            decision
                .trace
                .push(format!("{why}: nothing automatic is sent back to it"));
        }
    }
    Ok((decision, Setup { aliases, config }))
}

async fn fill_threads(
    tx: &mut Tx,
    plan: &postern_routing::LookupPlan,
    look: &mut Lookups,
) -> Result<(), StoreError> {
    look.reply_target = match token_target(tx, plan, look).await? {
        Some(t) => Some(t),
        None => tx
            .newest_message_by_ids(&plan.thread_ids)
            .await?
            .map(thread_message),
    };
    if look.reply_target.is_none() {
        look.reply_target = subject_target(tx, plan, look).await?;
    }
    let by_in_reply_to = match &plan.in_reply_to {
        Some(id) => tx.newest_message_by_ids(std::slice::from_ref(id)).await?,
        None => None,
    };
    look.parent = match by_in_reply_to {
        Some(p) => Some(thread_message(p)),
        None => tx
            .newest_message_by_ids(&plan.parent_ids)
            .await?
            .map(thread_message),
    };
    if look.parent.is_none() && look.by_token {
        look.parent = look.reply_target.clone();
    }
    Ok(())
}

/// The message the first genuine reply token of a recipient names (`catchall+<token>@`, the
/// Reply-To of notifications); a token that does not verify, or names no message, is ignored
/// and said so.
async fn token_target(
    tx: &mut Tx,
    plan: &postern_routing::LookupPlan,
    look: &mut Lookups,
) -> Result<Option<postern_routing::ThreadMessage>, StoreError> {
    if plan.reply_tokens.is_empty() {
        return Ok(None);
    }
    let key = tx.gateway_key("reply").await?.unwrap_or_default();
    for (address, tag) in &plan.reply_tokens {
        let genuine = !key.is_empty() && token::verify(&key, "reply", tag, "");
        let found = match token::id_of(tag) {
            Some(id) if genuine => tx.thread_message_by_id(MessageId(id)).await?,
            _ => None,
        };
        match found {
            Some(row) => {
                look.by_token = true;
                look.token_notes
                    .push(format!("reply_token: {address} names message {}", row.id));
                return Ok(Some(thread_message(row)));
            }
            None => look.token_notes.push(format!(
                "reply_token: the token of {address} is forged or names no message: ignored"
            )),
        }
    }
    Ok(None)
}

/// The message the last genuine tag of the subject names (`[#<id>-<mac>]`), for a reply that
/// lost every header and its Reply-To's token; a tag that does not verify is said so.
async fn subject_target(
    tx: &mut Tx,
    plan: &postern_routing::LookupPlan,
    look: &mut Lookups,
) -> Result<Option<postern_routing::ThreadMessage>, StoreError> {
    if plan.subject_tokens.is_empty() {
        return Ok(None);
    }
    let key = tx.gateway_key("subject").await?.unwrap_or_default();
    for tag in &plan.subject_tokens {
        let id = match key.is_empty() {
            true => None,
            false => token::verify_subject_tag(&key, tag),
        };
        let found = match id {
            Some(id) => tx.thread_message_by_id(MessageId(id)).await?,
            None => None,
        };
        match found {
            Some(row) => {
                look.by_subject_token = true;
                look.token_notes
                    .push(format!("subject_token: [#{tag}] names message {}", row.id));
                return Ok(Some(thread_message(row)));
            }
            None => look.token_notes.push(format!(
                "subject_token: [#{tag}] is forged or names no message: ignored"
            )),
        }
    }
    Ok(None)
}

async fn fill_people(
    tx: &mut Tx,
    plan: &postern_routing::LookupPlan,
    look: &mut Lookups,
) -> Result<(), StoreError> {
    if let Some(email) = &plan.author_email {
        // An alias is never an author (§5.1, §13), even when a partner has its address and it
        // is not one of the recipients (asked only when some partner has the address).
        let candidates = match look.aliases.iter().any(|a| a.full_name() == *email) {
            true => Vec::new(),
            false => tx.partners_by_email(email).await?,
        };
        // Asked by full address only, the store gives exactly the aliases of that address.
        let is_alias = !candidates.is_empty()
            && !tx
                .aliases_for_routing(std::slice::from_ref(email), &[])
                .await?
                .is_empty();
        if !is_alias {
            look.author_candidates = candidates
                .into_iter()
                .map(|(id, is_user)| PartnerCandidate { id, is_user })
                .collect();
        }
    }
    let mut records: Vec<RecordId> = look
        .reply_target
        .iter()
        .filter_map(|t| t.record_id)
        .collect();
    for a in &look.aliases {
        records.extend(a.force_thread_id);
        records.extend(a.parent_thread_id);
    }
    records.sort_unstable();
    records.dedup();
    for r in records {
        if tx.record_exists(r).await? {
            look.existing_records.push(r);
            let f = tx.follower_ids(r).await?;
            look.followers.push((r, f));
        }
    }
    Ok(())
}

/// §6.3: counts the sender's records and messages in the window and applies the limit.
async fn limit(
    tx: &mut Tx,
    config: &GatewayConfig,
    msg: &ParsedMessage,
    env: &Envelope,
    decision: Decision,
) -> Result<Decision, StoreError> {
    if decision.outcome != Outcome::Routed {
        return Ok(decision);
    }
    let Some(from) = msg.email_from.as_deref() else {
        return Ok(decision);
    };
    let Some(norm) = email_normalize(from) else {
        return Ok(decision);
    };
    let minutes = config.loop_minutes;
    let threshold = config.loop_threshold;
    let since = now_ms() - minutes * 60_000;
    let mut counts = LoopCounts {
        sender_allowed: config.allowed_senders.contains(&norm),
        ..Default::default()
    };
    if !counts.sender_allowed {
        for r in &decision.routes {
            match r.record_id {
                None if !counts.created.iter().any(|(m, _)| *m == r.model) => {
                    let n = tx
                        .count_records_from(&r.model, &norm, since, threshold)
                        .await?;
                    counts.created.push((r.model.clone(), n));
                }
                Some(record) if !counts.posted.iter().any(|(x, _)| *x == record) => {
                    let n = tx
                        .count_messages_by(
                            record,
                            r.author_partner_id,
                            &[from.to_owned(), norm.clone()],
                            since,
                            threshold,
                        )
                        .await?;
                    counts.posted.push((record, n));
                }
                _ => {}
            }
        }
    }
    let reply_to = postern_routing::reply_address(msg, env);
    Ok(rate_limit(decision, &counts, threshold, &reply_to))
}
