//! E-mail address helpers with Odoo's exact semantics: splitting a header or a free text
//! into (name, address) pairs, normalising, formatting, IDNA for the envelope, the
//! dot-atom check and the sanitising of alias names and of `mail.catchall.domain.allowed`
//! (behaviour reference §1.1, §1.3, §1.4, §9.5 and §13.1).
//!
//! Pure: no I/O, no clock, no environment. Every function is total (no panics on any input).
//!
//! Odoo builds these tools on Python's `email.utils.getaddresses` (the non-strict parser of
//! `email._parseaddr`, the one Odoo 17/18 run on) and on a few `re` patterns. Odoo's
//! behaviour *is* those quirks (`Name email@x` read as one address with a space, comments
//! kept as names, `'@gmail.com'` answers, ...), and no Rust crate reproduces them, so the
//! parser is a hand-written port of `_parseaddr.AddrlistClass`, and the two regular
//! expressions are hand-written matchers with the same leftmost, greedy, backtracking
//! results (no `regex` dependency needed).
//!
//! The submodules, by concern (every public item is re-exported here):
//! - `getaddresses`: the port of Python's parser, and Python's `str.strip()`;
//! - `patterns`: the two regular expressions;
//! - `split`: (name, address) pairs from a text (`email_split_tuples` and its kin);
//! - `normalize`: normalised addresses and domains (`email_normalize` and its kin);
//! - `format`: `formataddr`, `formataddr_ascii` and the helpers that build on them;
//! - `idn`: IDNA encoding of a domain for the envelope;
//! - `alias`: the dot-atom check and the sanitising of alias names and allowed domains;
//! - here: [`AddressError`] and the [`EmailAddress`] newtype.

mod alias;
mod format;
mod getaddresses;
mod idn;
mod normalize;
mod patterns;
mod split;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use alias::{is_dot_atom, sanitize_alias_name, sanitize_catchall_domain_allowed};
pub use format::{
    email_ascii_domain, encapsulate_email, extract_rfc2822_addresses, formataddr, formataddr_ascii,
    xtext,
};
pub use normalize::{
    email_domain_extract, email_domain_normalize, email_normalize, email_normalize_all,
    email_normalize_first,
};
pub use split::{
    email_split, email_split_and_format, email_split_and_format_normalize, email_split_tuples,
    parse_contact_from_email,
};

use format::rpartition_at;
use normalize::normalize_one;

/// Why an address, or an address-related setting, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The text holds no e-mail address (nothing with an `@`).
    #[error("no e-mail address found in {0:?}")]
    NoAddress(String),
    /// The text holds several addresses where exactly one is expected.
    #[error("expected exactly one e-mail address in {input:?}, found {count}")]
    SeveralAddresses {
        /// The text as given.
        input: String,
        /// How many addresses were found.
        count: usize,
    },
    /// The address found is not usable as an [`EmailAddress`]: it holds a control character,
    /// or normalising it again would change it (garbage that Odoo's parser mangles).
    #[error("{0:?} is not a usable e-mail address")]
    Malformed(String),
    /// The domain is not ASCII and cannot be IDNA-encoded.
    #[error("the domain {0:?} cannot be IDNA-encoded")]
    Idna(String),
    /// `mail.catchall.domain.allowed` holds no domain at all (Odoo's exact text).
    #[error(
        "Value {0} for `mail.catchall.domain.allowed` cannot be validated.\n\
         It should be a comma separated list of domains e.g. example.com,example.org."
    )]
    InvalidAllowedDomains(String),
}

// ---------------------------------------------------------------------------------------
// EmailAddress
// ---------------------------------------------------------------------------------------

/// One e-mail address, normalised the Odoo way ([`email_normalize`]): what routing
/// compares (alias full names, partner e-mails, from filters). Always holds an `@`, no
/// control character, and is a fixed point of [`email_normalize`], so that its serialised
/// form always deserialises back to the same value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses text holding exactly one address (`Name <NaMe@DoMaIn.CoM>` is accepted and
    /// gives `name@domain.com`).
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let normalized = match email_split(text).as_slice() {
            [one] => normalize_one(one),
            [] => return Err(AddressError::NoAddress(text.to_owned())),
            many => {
                let count = many.len();
                let input = text.to_owned();
                return Err(AddressError::SeveralAddresses { input, count });
            }
        };
        let stable = email_normalize(&normalized).as_deref() == Some(normalized.as_str());
        if !stable || normalized.chars().any(char::is_control) {
            return Err(AddressError::Malformed(normalized));
        }
        Ok(Self(normalized))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What precedes the last `@`.
    pub fn local_part(&self) -> &str {
        rpartition_at(&self.0).0
    }

    /// What follows the last `@` (lower-case).
    pub fn domain(&self) -> &str {
        rpartition_at(&self.0).1
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EmailAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = AddressError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
