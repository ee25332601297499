//! postern-compose — what Postern sends, decided without sending it: Message-IDs (§9.1),
//! follower notifications (§9.2), From / Reply-To / Return-Path (§9.3–§9.4), the outgoing
//! server chosen by `from_filter` (§9.5), the bounce and refusal emails of the gateway (§8), and
//! the MIME bodies.
//!
//! Owns: headers, bodies and server choice as data. Must not: open sockets, read the store or
//! the clock (time and unique tokens are passed in).
#![warn(missing_docs)]

pub mod build;
pub mod gateway_mail;
pub mod html;
pub mod message_id;
pub mod notify;
pub mod server;
