//! postern-delivery — the outbox runner: claims due mails with a lease, groups them per
//! (server, envelope sender), sends them over reused connections, retries temporary failures
//! with backoff and writes per-recipient results back to the notifications.
//!
//! Owns: the sending schedule and its state transitions. Must not: compose headers (compose
//! does) or speak SMTP itself (the client in postern-smtp does).
//!
//! Status: lands with the outbound issue (#5).
#![warn(missing_docs)]
