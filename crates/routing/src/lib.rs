//! postern-routing — the routing decision, as data.
//!
//! The shell (`postern-gateway`) calls, in order:
//! 1. [`plan_lookups`]: from the parsed message and the envelope, what must be fetched from the
//!    store (ids to deduplicate on, ids to look threads up by, the author's address, the alias
//!    names that could match);
//! 2. [`decide`]: with what was fetched ([`Lookups`]) and the configuration ([`RoutingConfig`]),
//!    the [`Decision`] of the behaviour reference §2.1 and §4: duplicate, loop tag, bounce,
//!    reply, forward, direct write to the catchall, aliases, fallback model, no route — with a
//!    human-readable trace of every step taken;
//! 3. [`rate_limit`]: with the per-sender counts of §6 that the shell counted for the routes of
//!    the decision, whether the sender is over the limit.
//!
//! Pure: no database, no sockets, no clock (the loop window is applied by the shell's count), no
//! environment. The same decision answers `postern route explain`.
#![warn(missing_docs)]

mod decide;
mod types;

pub use decide::{decide, plan_lookups, plus_base, rate_limit, reply_address};
pub use types::*;

/// The tag of the id of Postern's (and Odoo's) own refusal and rate-limit mails: a message that
/// references such an id answers one of them and is dropped (§6.2).
pub const LOOP_TAG: &str = "-loop-detection-bounce-email@";

/// Message ids containing this tag were generated for "reply in a new thread" and are ignored by
/// reply detection (§4.2).
pub const REPLY_TO_TAG: &str = "reply_to";

/// How many trailing references reply detection considers (§4.2).
pub const MAX_REFERENCES: usize = 32;

/// The reason of a refusal by an alias that refuses untrusted senders (`refuse_untrusted`):
/// SMTP answers it `550 5.7.26` (RFC 7372: multiple authentication checks failed), and nothing
/// is mailed back.
pub const UNTRUSTED_REFUSAL: &str =
    "the sender is not authenticated: DMARC fails for the domain of its From";
