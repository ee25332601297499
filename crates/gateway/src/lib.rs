//! postern-gateway — `accept(raw, envelope, source)` and `explain(...)`: the inbound shell around
//! `postern-routing` and `postern-store`. It parses the message, fetches what the decision needs,
//! calls `decide`, and applies the decision in **one** transaction (raw original, records,
//! messages, attachments, notifications, outbox rows, counters). It answers only after the commit.
//!
//! Owns: the order of those steps and the transaction. Must not: hold SQL (that is the store's),
//! decide routes itself (that is routing's), or open sockets (the listeners call it).
//!
//! Status: lands with the inbound issue (#3).
#![warn(missing_docs)]
