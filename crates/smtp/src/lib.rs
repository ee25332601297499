//! postern-smtp — the SMTP and LMTP listeners (tokio, rustls, smtp-proto) that feed
//! `gateway::accept` and answer only once the message is stored, and the SMTP client the
//! delivery runner sends with.
//!
//! Owns: the protocols, their limits and timeouts. Must not: route or store messages itself,
//! or accept mail for domains that are not ours (never an open relay).
//!
//! Status: lands with the listener issue (#4) and the outbound issue (#5).
#![warn(missing_docs)]
