//! postern-compose — what Postern sends, decided without sending it: Message-IDs (§9.1),
//! follower notifications (§9.2), From / Reply-To / Return-Path (§9.3–§9.4), the outgoing
//! server chosen by `from_filter` (§9.5), the bounce and refusal emails of the gateway (§8), and
//! the MIME bodies (mail-builder).
//!
//! Owns: headers, bodies and server choice as data. Must not: open sockets, read the store or
//! the clock (time is passed in).
//!
//! Status: lands with the outbound issue (#5).
#![warn(missing_docs)]
