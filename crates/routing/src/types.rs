//! What goes into the decision (configuration, envelope, lookups) and what comes out of it.

use postern_model::{AliasContact, AliasId, MessageId, PartnerId, RecordId};
use serde::Serialize;

/// The configuration routing reads: alias domains and the gateway parameters.
#[derive(Debug, Clone, Default)]
pub struct RoutingConfig {
    /// Every alias domain (inbound routing considers them all at once, §10).
    pub domains: Vec<DomainInfo>,
    /// `mail.catchall.domain.allowed`, split and lower-cased (empty: unset).
    pub catchall_domain_allowed: Vec<String>,
}

/// The addresses of one alias domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainInfo {
    /// Domain name, lower-case.
    pub name: String,
    /// `bounce@domain`, lower-case.
    pub bounce_email: String,
    /// `catchall@domain`, lower-case.
    pub catchall_email: String,
}

/// The SMTP envelope of an inbound message, when there is one.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// `MAIL FROM` (`--sender`), `Some("")` for the null sender.
    pub mail_from: Option<String>,
    /// `RCPT TO` (`--rcpt`): counted as `Delivered-To` recipients.
    pub rcpt_to: Vec<String>,
    /// Fallback model (`--model`, or an incoming server's model).
    pub model: Option<String>,
    /// Sender authentication (SMTP): the From is not trusted (DMARC fails), so its author is
    /// not recognised as a partner: no `partners`/`followers` alias lets it in, it authors
    /// nothing, and its notifications go out as from an unknown sender.
    pub from_untrusted: bool,
    /// Sender authentication's line for the trace (what DMARC said), when the mail was verified.
    pub auth_note: Option<String>,
    /// What the SMTP/LMTP client asked of delivery status notifications (RFC 3461).
    pub dsn: DsnRequest,
}

/// The DSN parameters of one mail transaction (RFC 3461): `ENVID` and `RET` of `MAIL`, and the
/// recipients whose `NOTIFY` asks for `SUCCESS`, each with its `ORCPT`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DsnRequest {
    /// `ENVID`, decoded from xtext.
    pub env_id: Option<String>,
    /// The recipients whose `NOTIFY` holds `SUCCESS`, with their `ORCPT` (`rfc822;addr`).
    pub success: Vec<(String, Option<String>)>,
}

/// What the shell must fetch before [`crate::decide`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupPlan {
    /// Is there a stored message whose `message_id` is one of these? (deduplication)
    pub dedup_ids: Vec<String>,
    /// The newest stored message whose `message_id` is one of these (reply detection, §4.2).
    pub thread_ids: Vec<String>,
    /// The stored message with this `message_id` (`In-Reply-To`, parent rule 1 of §3.2).
    pub in_reply_to: Option<String>,
    /// Else the newest stored message with one of these ids (parent rule 2 of §3.2).
    pub parent_ids: Vec<String>,
    /// The partners whose normalised e-mail is this (author recognition).
    pub author_email: Option<String>,
    /// Aliases whose full name is one of these ...
    pub alias_full_names: Vec<String>,
    /// ... or whose name is one of these and that match on the local part alone.
    pub alias_local_parts: Vec<String>,
    /// The `+tags` of the recipients that have the shape of a reply token
    /// (`catchall+<token>@`), with their address: the shell checks their signature and finds
    /// the message each names, before the headers are looked at.
    pub reply_tokens: Vec<(String, String)>,
    /// The tokens of the subject's tags (`[#<id>-<mac>]`, `postern.subject_token`), the last
    /// first: the shell checks them when neither a reply token nor the headers found a thread.
    pub subject_tokens: Vec<String>,
}

/// A stored message found by a lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadMessage {
    /// Its id.
    pub id: MessageId,
    /// The record of its thread, if it is on one.
    pub record_id: Option<RecordId>,
    /// The model of that record.
    pub model: Option<String>,
    /// Its subtype is internal (`note`).
    pub internal: bool,
    /// It was posted by a bot (`auto_comment`): replies to it are public.
    pub auto_comment: bool,
    /// Its author.
    pub author_partner_id: Option<PartnerId>,
}

/// An alias that may match a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasInfo {
    /// Id.
    pub id: AliasId,
    /// Local part.
    pub alias_name: String,
    /// Domain, `None` for an alias without domain.
    pub domain: Option<String>,
    /// Model records are created in.
    pub model: String,
    /// Post on this record instead of creating one.
    pub force_thread_id: Option<RecordId>,
    /// Owner record (for the followers policy).
    pub parent_thread_id: Option<RecordId>,
    /// Who may write.
    pub contact: AliasContact,
    /// Match on the local part alone.
    pub incoming_local: bool,
    /// Refuse mail whose From is not trusted (sender authentication).
    pub refuse_untrusted: bool,
}

impl AliasInfo {
    /// `name@domain`, or the name alone.
    pub fn full_name(&self) -> String {
        match &self.domain {
            Some(d) => format!("{}@{d}", self.alias_name),
            None => self.alias_name.clone(),
        }
    }
}

/// A partner whose e-mail is the author's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartnerCandidate {
    /// Id.
    pub id: PartnerId,
    /// An internal user.
    pub is_user: bool,
}

/// What the shell fetched for [`crate::decide`], following the [`LookupPlan`].
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    /// A message with one of `dedup_ids` exists.
    pub duplicate: bool,
    /// The newest message with one of `thread_ids`, or the message a genuine reply token
    /// names (then `by_token`).
    pub reply_target: Option<ThreadMessage>,
    /// `reply_target` is the message a genuine reply token of a recipient names.
    pub by_token: bool,
    /// `reply_target` is the message a genuine tag of the subject names (and nothing else
    /// found one).
    pub by_subject_token: bool,
    /// What the reply tokens said (`reply token of ... names message 12`, `... is forged:
    /// ignored`), for the trace.
    pub token_notes: Vec<String>,
    /// The parent by §3.2.
    pub parent: Option<ThreadMessage>,
    /// Active partners with the author's e-mail, by id (archived ones are never authors).
    pub author_candidates: Vec<PartnerCandidate>,
    /// Aliases matching `alias_full_names` / `alias_local_parts`.
    pub aliases: Vec<AliasInfo>,
    /// Followers (partner ids) of the records that contact checks may look at: the reply
    /// target's record, and the forced and parent records of the matched aliases.
    pub followers: Vec<(RecordId, Vec<PartnerId>)>,
    /// Records that exist among those the aliases force or own (a forced record that is gone
    /// makes the route create instead, §4.8).
    pub existing_records: Vec<RecordId>,
}

impl Lookups {
    pub(crate) fn followers_of(&self, record: RecordId) -> &[PartnerId] {
        self.followers
            .iter()
            .find(|(r, _)| *r == record)
            .map_or(&[], |(_, f)| f.as_slice())
    }
}

/// The outcome of a decision (the contract's `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Posted or created somewhere.
    Routed,
    /// Already stored (same Message-ID): ignored.
    Duplicate,
    /// Answers one of our refusal mails: ignored.
    LoopIgnored,
    /// A delivery report: counted, pinned on the original message.
    BounceProcessed,
    /// Written to the catchall address: refused.
    CatchallRefused,
    /// Refused by an alias's contact policy.
    AliasRefused,
    /// The alias is misconfigured.
    AliasInvalid,
    /// The sender wrote too often.
    RateLimited,
    /// Nowhere to go.
    NoRoute,
}

impl Outcome {
    /// The contract's word (`routed`, `no_route`, ...), as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Routed => "routed",
            Outcome::Duplicate => "duplicate",
            Outcome::LoopIgnored => "loop_ignored",
            Outcome::BounceProcessed => "bounce_processed",
            Outcome::CatchallRefused => "catchall_refused",
            Outcome::AliasRefused => "alias_refused",
            Outcome::AliasInvalid => "alias_invalid",
            Outcome::RateLimited => "rate_limited",
            Outcome::NoRoute => "no_route",
        }
    }

    /// True when the message is refused (an SMTP listener answers 5xx).
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            Outcome::CatchallRefused
                | Outcome::AliasRefused
                | Outcome::AliasInvalid
                | Outcome::RateLimited
                | Outcome::NoRoute
        )
    }
}

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Creates a record.
    Create,
    /// Posts on an existing record.
    Post,
}

/// Why a route was taken (the contract's `via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A reply to a message of the thread.
    Reply,
    /// An alias creates a record.
    Alias,
    /// An alias posts on its forced record.
    ForcedThread,
    /// The fallback model.
    FallbackModel,
    /// A reply found by the signed token of its Reply-To (`catchall+<token>@`), whatever its
    /// headers say.
    ReplyToken,
    /// A reply found by the signed tag of its subject (`[#<id>-<mac>]`,
    /// `postern.subject_token`), when neither its Reply-To's token nor its headers found one.
    SubjectToken,
}

/// One destination of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Create or post.
    pub action: Action,
    /// The model.
    pub model: String,
    /// The record posted on (`None` when creating).
    pub record_id: Option<RecordId>,
    /// The alias's full name, when routed through one.
    pub alias: Option<String>,
    /// The alias's id.
    #[serde(skip)]
    pub alias_id: Option<AliasId>,
    /// Why.
    pub via: Via,
    /// The author recognised for this route.
    #[serde(skip)]
    pub author_partner_id: Option<PartnerId>,
    /// The parent message (replies only; flattened to the root by the shell).
    #[serde(skip)]
    pub parent_id: Option<MessageId>,
    /// `note` for a reply to an internal note, else `comment`.
    #[serde(skip)]
    pub subtype: &'static str,
    /// Partners to notify explicitly (the parent's author for a reply to a note).
    #[serde(skip)]
    pub partner_ids: Vec<PartnerId>,
}

/// The kinds of mail the gateway sends back (the contract's `sent[].kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendKind {
    /// "This address collects replies" (§8.2).
    CatchallBounce,
    /// Contact policy refusal (§8.3).
    AliasRefusal,
    /// Misconfigured alias notice (§8.3).
    AliasInvalid,
    /// Too many mails (§6.3).
    RateLimit,
}

/// A mail the gateway must send back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Send {
    /// Which.
    pub kind: SendKind,
    /// To: the Return-Path, else the From.
    pub to: String,
    /// The alias concerned (refusals).
    #[serde(skip)]
    pub alias_id: Option<AliasId>,
    /// Its full name, for the text.
    #[serde(skip)]
    pub alias: Option<String>,
    /// The refusal's reason (for the log and the SMTP reply).
    #[serde(skip)]
    pub reason: String,
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// What happens.
    pub outcome: Outcome,
    /// Where it goes (empty unless routed).
    pub routes: Vec<Route>,
    /// What is sent back.
    pub sent: Vec<Send>,
    /// Aliases to mark `invalid`.
    #[serde(skip)]
    pub invalid_aliases: Vec<AliasId>,
    /// Every step taken, for humans.
    pub trace: Vec<String>,
}

/// Counts the shell makes for [`crate::rate_limit`], within the loop window, for the routes of a
/// decision.
#[derive(Debug, Clone, Default)]
pub struct LoopCounts {
    /// The sender is in the allowed list (`gateway_allowed`): no limit.
    pub sender_allowed: bool,
    /// Per model with creation routes: records of that model with the sender's e-mail.
    pub created: Vec<(String, i64)>,
    /// Per record with post routes: messages by the sender on it.
    pub posted: Vec<(RecordId, i64)>,
}
