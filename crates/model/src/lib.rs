//! The vocabulary of Postern (see DESIGN.md): ids as newtypes, the closed sets of words
//! (alias contact policy, notification status, encryption, ...) as enums, and the e-mail
//! address helpers with Odoo's semantics.
//!
//! This crate is pure: no I/O, no clock, no environment, no SQL. Every other crate depends on
//! it; it depends on no other Postern crate.
#![warn(missing_docs)]

pub mod address;
mod filename;
pub use filename::safe_filename;
pub mod ids;
pub mod oauth;
pub mod secret;
pub mod token;
pub mod vocab;

pub use address::{AddressError, EmailAddress};
pub use ids::*;
pub use oauth::OAuthSettings;
pub use secret::Secret;
pub use vocab::*;

/// The largest message accepted by default, whatever the way in (`[server] max_message_size`):
/// 25 MiB, the limit most providers take.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 25 * 1024 * 1024;
