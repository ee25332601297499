//! postern-mime — the parsed view of a message, built on `mail-parser`: the routing headers
//! (Message-Id, X-Postern-Message-Id / X-Odoo-Message-Id, In-Reply-To, unfolded References,
//! From, To, Cc, Delivered-To, Resent-*, Return-Path, Subject, Date), the body as HTML and the
//! attachments as the behaviour reference §3.4 describes, bounce/DSN analysis (§3.3) and
//! auto-reply detection.
//!
//! Owns: turning bytes into that view. Must not: touch a database, a socket, the clock or the
//! environment, or decide where a message goes (that is `postern-routing`).
//!
//! Status: the crate exists so that the layout of DESIGN.md holds; its content lands with the
//! inbound issue (#3).
#![warn(missing_docs)]
