//! The closed sets of words of the vocabulary: each is an enum whose wire form (JSON, TOML,
//! database) is the lower-case word of DESIGN.md, e.g. `everyone`, `starttls_strict`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The error of parsing a vocabulary word: names the set and lists the accepted words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`, expected one of: {expected}")]
pub struct UnknownWord {
    /// Which set of words (e.g. `alias contact`).
    pub kind: &'static str,
    /// What was given.
    pub value: String,
    /// The accepted words, comma separated.
    pub expected: &'static str,
}

macro_rules! vocab_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal, default = $default:ident,
     { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            /// Every word of the set, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire form of the word.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownWord;
            fn try_from(s: String) -> Result<Self, UnknownWord> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownWord {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: concat!($($word, " "),+).trim_ascii_end(),
                    }),
                }
            }
        }
    };
}

vocab_enum!(
    /// Who may write to an alias (`alias_contact`).
    AliasContact, "alias contact", default = Everyone, {
    /// Anybody.
    Everyone => "everyone",
    /// Only known partners (the author must be recognised).
    Partners => "partners",
    /// Only followers of the target or owner record.
    Followers => "followers",
});

vocab_enum!(
    /// Whether an alias has been seen to work (`alias_status`).
    AliasStatus, "alias status", default = NotTested, {
    /// Nothing routed through it since its last change.
    NotTested => "not_tested",
    /// A record was created through it.
    Valid => "valid",
    /// Its configuration made a message fail.
    Invalid => "invalid",
});

vocab_enum!(
    /// How an internal user wants to be notified.
    NotificationPreference, "notification preference", default = Email, {
    /// By e-mail.
    Email => "email",
    /// In the application's inbox only.
    Inbox => "inbox",
});

vocab_enum!(
    /// Transport security of a server connection.
    Encryption, "encryption", default = None, {
    /// Plain text.
    None => "none",
    /// STARTTLS, certificate not verified.
    Starttls => "starttls",
    /// Implicit TLS, certificate not verified.
    Ssl => "ssl",
    /// STARTTLS with certificate verification.
    StarttlsStrict => "starttls_strict",
    /// Implicit TLS with certificate verification.
    SslStrict => "ssl_strict",
});

vocab_enum!(
    /// What an outgoing server is: a relay Postern hands mail to, or Postern delivering itself
    /// to each recipient domain's MX hosts (direct delivery, for users without a relay).
    ServerKind, "server kind", default = Relay, {
    /// An SMTP relay (host, port, login): every mail goes to it.
    Relay => "relay",
    /// Direct delivery: each recipient domain's MX hosts (RFC 5321 section 5.1), on `port`.
    Mx => "mx",
});

vocab_enum!(
    /// The key algorithm of a DKIM key (`postern dkim generate --algorithm`).
    DkimAlgorithm, "DKIM algorithm", default = Rsa2048, {
    /// RSA, 2048 bits, signed with SHA-256 (`a=rsa-sha256`): every verifier knows it.
    Rsa2048 => "rsa2048",
    /// Ed25519 (`a=ed25519-sha256`, RFC 8463): short keys, not known to every verifier yet.
    Ed25519 => "ed25519",
});

vocab_enum!(
    /// Protocol of an incoming server.
    FetchProtocol, "protocol", default = Imap, {
    /// IMAP4rev1.
    Imap => "imap",
    /// POP3.
    Pop3 => "pop3",
});

vocab_enum!(
    /// How Postern logs in to an incoming server.
    FetchAuth, "auth", default = Login, {
    /// IMAP `LOGIN`, POP3 `USER`/`PASS`.
    Login => "login",
    /// SASL `PLAIN`.
    Plain => "plain",
    /// SASL `XOAUTH2`: the password (or `password_env`) holds the OAuth 2 access token.
    Xoauth2 => "xoauth2",
    /// SASL `XOAUTH2` with an access token that Postern gets and refreshes itself from the
    /// grant made by Connect (the server's `oauth` settings).
    Oauth => "oauth",
});

vocab_enum!(
    /// Who issues the OAuth tokens of a server.
    OAuthProvider, "oauth provider", default = Generic, {
    /// Google (Gmail, Google Workspace).
    Google => "google",
    /// Microsoft identity platform (Microsoft 365, Outlook.com): `tenant` `common` or the
    /// directory's.
    Microsoft => "microsoft",
    /// Any OAuth 2 / OpenID Connect provider, found by `issuer` (OIDC discovery).
    Generic => "generic",
});

vocab_enum!(
    /// Kind of a message of a thread (`message_type`).
    MessageType, "message type", default = Email, {
    /// Received by e-mail.
    Email => "email",
    /// Posted through the API or UI.
    Comment => "comment",
    /// Generated by the system (tracking, log).
    Notification => "notification",
    /// Automatic comment of a bot: replies to it are public.
    AutoComment => "auto_comment",
    /// A notification addressed to one user.
    UserNotification => "user_notification",
    /// Sent from Postern by e-mail (a mail of the API on a record, Odoo's "Outgoing Email").
    EmailOutgoing => "email_outgoing",
});

vocab_enum!(
    /// State of one notification (one partner x one message).
    NotificationStatus, "notification status", default = Ready, {
    /// Not sent yet.
    Ready => "ready",
    /// Handed to the outgoing server.
    Sent => "sent",
    /// A bounce came back for it.
    Bounce => "bounce",
    /// Delivery failed.
    Exception => "exception",
    /// Given up on purpose.
    Canceled => "canceled",
});

vocab_enum!(
    /// Kind of notification: e-mail or inbox.
    NotificationType, "notification type", default = Email, {
    /// Delivered by e-mail.
    Email => "email",
    /// Shown in the inbox.
    Inbox => "inbox",
});

vocab_enum!(
    /// State of a mail of the outbox.
    MailState, "mail state", default = Outgoing, {
    /// Waiting to be sent.
    Outgoing => "outgoing",
    /// Accepted by the outgoing server.
    Sent => "sent",
    /// Failed for good.
    Exception => "exception",
    /// Cancelled by an operator.
    Cancel => "cancel",
});

vocab_enum!(
    /// Where one recipient of a mail of the outbox stands.
    RecipientStatus, "recipient status", default = Ready, {
    /// Not tried yet.
    Ready => "ready",
    /// Refused for now (a temporary failure): tried again.
    Retry => "retry",
    /// Accepted by the outgoing server.
    Sent => "sent",
    /// Refused for good, or given up.
    Exception => "exception",
    /// Not tried: the address is on the suppression list.
    Suppressed => "suppressed",
});

vocab_enum!(
    /// What became of a raw inbound message.
    RawStatus, "raw message status", default = Processed, {
    /// Accepted and applied (or deliberately ignored, as a duplicate or a loop).
    Processed => "processed",
    /// Could not be parsed or applied: kept, and reported.
    Failed => "failed",
    /// Deliberately not applied.
    Ignored => "ignored",
    /// Fetched from a mailbox, failed on every try: kept and acknowledged (a poison message).
    Unprocessable => "unprocessable",
    /// Taken through the gateway again by hand (`POST /api/v1/raw-messages/{id}/retry`), which
    /// stored the attempt as a new raw message.
    Retried => "retried",
});

vocab_enum!(
    /// Where one webhook delivery (one event to one endpoint) stands.
    DeliveryState, "webhook delivery state", default = Pending, {
    /// Not delivered yet: tried (again) when due.
    Pending => "pending",
    /// The endpoint answered 2xx.
    Delivered => "delivered",
    /// Given up (retries spent, or the endpoint answered 410).
    Failed => "failed",
});

vocab_enum!(
    /// Which mail a suppressed address no longer gets.
    SuppressionScope, "suppression scope", default = All, {
    /// No mail at all (a hard bounce, repeated soft bounces, an operator).
    All => "all",
    /// No mass mail (a complaint, an unsubscribe): transactional mail still goes.
    Mass => "mass",
});

vocab_enum!(
    /// Why an address is suppressed.
    SuppressionCause, "suppression cause", default = Manual, {
    /// A bounce said the address cannot receive mail (`userunknown`, `hostunknown`...).
    HardBounce => "hard_bounce",
    /// Soft bounces, as many as `postern.bounce.soft_limit` within the window.
    SoftBounces => "soft_bounces",
    /// A feedback report (ARF, RFC 5965): the recipient called it spam.
    Complaint => "complaint",
    /// A one-click unsubscribe (RFC 8058).
    Unsubscribe => "unsubscribe",
    /// An operator (API or CLI).
    Manual => "manual",
});

vocab_enum!(
    /// The stream of an outgoing mail, which may choose a dedicated server.
    MailStream, "stream", default = Transactional, {
    /// Notifications, replies, single mails: sent first.
    Transactional => "transactional",
    /// Mass mailing.
    Mass => "mass",
});

vocab_enum!(
    /// Where an inbound message came from.
    Source, "source", default = Pipe, {
    /// The SMTP listener.
    Smtp => "smtp",
    /// The LMTP listener.
    Lmtp => "lmtp",
    /// `postern ingest` (MTA pipe).
    Pipe => "pipe",
    /// An IMAP mailbox.
    Imap => "imap",
    /// A POP3 mailbox.
    Pop3 => "pop3",
    /// `POST /api/v1/ingest`.
    Http => "http",
});

/// The subtypes every follower subscription starts with (`comment`: discussions).
pub const DEFAULT_SUBTYPES: &[&str] = &["comment"];

/// Subtypes Postern knows: `comment` (public discussion) and `note` (internal note,
/// notified to internal users only).
pub const KNOWN_SUBTYPES: &[&str] = &["comment", "note"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for e in Encryption::ALL {
            assert_eq!(e.as_str().parse::<Encryption>().unwrap(), *e);
        }
        for c in AliasContact::ALL {
            assert_eq!(c.to_string().parse::<AliasContact>().unwrap(), *c);
        }
    }

    #[test]
    fn unknown_word_lists_the_accepted_ones() {
        let err = "tls".parse::<Encryption>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown encryption `tls`, expected one of: none starttls ssl starttls_strict ssl_strict"
        );
    }
}
