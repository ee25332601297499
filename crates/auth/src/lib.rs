//! postern-auth — sender authentication and deliverability, on mail-auth: DKIM keys
//! ([`keys`]: made, encoded, published), DKIM signing of outgoing mail ([`sign`]), the DNS
//! resolver of `[server] dns` ([`resolver`]), the MX hosts of a domain for direct delivery ([`mx`]) and its MTA-STS policy ([`mta_sts`]), the DNS check of an alias domain ([`check`]), SPF/DKIM/DMARC verification of
//! mail arriving over SMTP and LMTP ([`verify`]).
//!
//! Owns: the cryptography and the DNS questions of mail authentication. Must not: store keys
//! (the store does), send mail (the delivery runner signs with [`sign::Signers`] and sends).
//! Opens sockets only to ask DNS.
#![warn(missing_docs)]

pub mod check;
pub mod keys;
pub mod mta_sts;
pub mod mx;
pub mod resolver;
pub mod sign;
pub mod verify;

pub use mx::{MxHost, MxResolver, RouteError};
pub use resolver::DnsSettings;
pub use sign::{Signers, SigningKey};

/// What can go wrong. Never carries a private key.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A key could not be made or read.
    #[error("{0}")]
    Key(String),
    /// Signing failed.
    #[error("DKIM signing failed: {0}")]
    Sign(String),
    /// The resolver could not be set up, or DNS failed.
    #[error("{0}")]
    Dns(String),
}
