//! postern-fetch — the IMAP and POP3 pollers of incoming servers and their schedule: fetch,
//! `accept`, and only then acknowledge (`\Seen`, `DELE`).
//!
//! Owns: the mailbox protocols and the polling state. Must not: route or store messages itself.
//!
//! Status: lands with the incoming-servers issue (#6).
#![warn(missing_docs)]
