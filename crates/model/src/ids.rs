//! Database ids as newtypes, so that a record id is never passed where a message id is meant.
//!
//! Every id is a positive 64-bit integer assigned by the store. They serialise as plain
//! numbers in JSON (the API contract says `"record_id": 12`) and, with the `sqlx` feature, as
//! the integer in the database.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(pub i64);

        impl $name {
            /// The raw integer, for the store and for URLs.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(v: i64) -> Self {
                Self(v)
            }
        }

        impl From<$name> for i64 {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    )*};
}

id_type!(
    /// An alias domain (`mail.alias.domain`).
    AliasDomainId,
    /// A company.
    CompanyId,
    /// A model (kind of record), e.g. `crm.lead`.
    ModelId,
    /// An alias.
    AliasId,
    /// A partner (contact or user).
    PartnerId,
    /// A record of some model.
    RecordId,
    /// A stored message of a thread (not the RFC Message-ID, which is a string).
    MessageId,
    /// An attachment of a message.
    AttachmentId,
    /// A notification (one partner x one message).
    NotificationId,
    /// A mail of the outbox.
    MailId,
    /// An outgoing SMTP server.
    OutgoingServerId,
    /// An incoming IMAP/POP3 server.
    IncomingServerId,
    /// A webhook subscription.
    WebhookId,
    /// One event to deliver to one webhook.
    WebhookDeliveryId,
    /// The raw original of an inbound message as received.
    RawMessageId,
    /// An address on the suppression list.
    SuppressionId,
    /// A DKIM key of an alias domain.
    DkimKeyId,
);
