//! Message-IDs of what Postern sends (behaviour reference §9.1), in Postern's own form:
//! `<{token}.{millis}-postern-{tag}@{hostname}>`.
//!
//! The tag says what the id belongs to, as Odoo's `_get_message_id` does: `{record}-{model}` for a
//! message of a record's thread, `private` for a message outside any thread, `reply_to` for a
//! message whose answers must start a new thread (reply detection skips such ids, §4.2),
//! `message-notify` for a notification that is not part of the thread, and the loop tag of the
//! gateway's own refusals (§6.2). All mails made for one message share its Message-ID.
//!
//! Pure: the random token and the time are given by the caller.

use crate::gateway_mail::LOOP_TAG;

/// What a generated Message-ID is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTag<'a> {
    /// A message posted in a record's thread.
    Thread {
        /// The record id.
        record_id: postern_model::RecordId,
        /// Its model (`crm.lead`).
        model: &'a str,
    },
    /// A message outside any thread (a mail sent through `/api/v1/mail` without record).
    Private,
    /// Answers must create a new record through the alias in Reply-To (`reply_to_force_new`).
    ReplyTo,
    /// A notification outside the thread (`message_notify`).
    MessageNotify,
    /// The gateway's own refusals and rate-limit notices: answers to them are dropped.
    Loop,
}

impl IdTag<'_> {
    fn render(&self) -> String {
        match self {
            IdTag::Thread { record_id, model } => format!("{record_id}-{}", clean(model)),
            IdTag::Private => "private".into(),
            IdTag::ReplyTo => "reply_to".into(),
            IdTag::MessageNotify => "message-notify".into(),
            IdTag::Loop => LOOP_TAG.into(),
        }
    }
}

/// Keeps what may appear in the left part of a Message-ID (dot-atom text).
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(*c))
        .collect()
}

/// A new Message-ID. `token` is the caller's random part (hex or digits), `time_ms` the current
/// time; both make it unique, the tag makes it meaningful.
pub fn generate(tag: IdTag<'_>, token: &str, time_ms: i64, hostname: &str) -> String {
    let host = clean(hostname);
    let host = if host.is_empty() {
        "localhost".to_owned()
    } else {
        host
    };
    format!(
        "<{}.{time_ms}-postern-{}@{host}>",
        clean(token),
        tag.render()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids_carry_the_record() {
        let id = generate(
            IdTag::Thread {
                record_id: postern_model::RecordId(12),
                model: "crm.lead",
            },
            "0123456789abcdef",
            1_700_000_000_123,
            "mail.example.com",
        );
        assert_eq!(
            id,
            "<0123456789abcdef.1700000000123-postern-12-crm.lead@mail.example.com>"
        );
    }

    #[test]
    fn variants() {
        let g = |t| generate(t, "t", 1, "h");
        assert_eq!(g(IdTag::Private), "<t.1-postern-private@h>");
        assert!(g(IdTag::ReplyTo).contains("reply_to"));
        assert!(g(IdTag::MessageNotify).contains("-message-notify@"));
        // Recognised as one of the gateway's own refusals (§6.2), like the gateway's ids.
        assert!(g(IdTag::Loop).contains("-loop-detection-bounce-email@"));
    }

    #[test]
    fn nothing_breaks_the_header() {
        let id = generate(
            IdTag::Thread {
                record_id: postern_model::RecordId(1),
                model: "a b>\r\nX: y",
            },
            "t<>",
            1,
            "h\r\n",
        );
        assert_eq!(id, "<t.1-postern-1-abX:y@h>".replace(':', ""));
    }
}
