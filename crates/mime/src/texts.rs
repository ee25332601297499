//! The texts of a message as an application reads them (the inbound payload's `text` and
//! `html`): the first `text/plain` and the first `text/html` entity that are not attachments,
//! decoded with their charset, each at most [`MAX_BODY`](crate::MAX_BODY) bytes. The body that
//! the thread shows is [`ParsedMessage::body_html`](crate::ParsedMessage); this is the plain
//! text next to it, which the HTML body of a `multipart/alternative` message does not give.

use crate::entity::Entity;

/// The plain text and the HTML of a message, when it has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Texts {
    /// The first `text/plain` part (or the whole message when it is plain text).
    pub text: Option<String>,
    /// The first `text/html` part, as sent (not sanitized: the stored body is).
    pub html: Option<String>,
}

/// The texts of `raw` (empty when it holds none, or no header at all).
pub fn texts(raw: &[u8]) -> Texts {
    let root = Entity::parse(raw);
    let mut out = Texts::default();
    for part in root.walk() {
        if part.is_attachment_disposition() || part.maintype() != "text" {
            continue;
        }
        let slot = match part.mime.as_str() {
            "text/plain" => &mut out.text,
            "text/html" => &mut out.html,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(part.text_prefix(crate::MAX_BODY).0);
        }
        if out.text.is_some() && out.html.is_some() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_html_alternatives() {
        let raw = b"From: a@x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Caf=C3=A9 ok\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Caf&eacute;</p>\r\n--b--\r\n";
        let t = texts(raw);
        assert_eq!(t.text.as_deref().map(str::trim), Some("Café ok"));
        assert_eq!(t.html.as_deref().map(str::trim), Some("<p>Caf&eacute;</p>"));
    }

    #[test]
    fn a_plain_message_and_attachments() {
        let t = texts(b"From: a@x\r\nSubject: s\r\n\r\nhello\r\n");
        assert_eq!(t.text.as_deref().map(str::trim), Some("hello"));
        assert_eq!(t.html, None);
        let raw = b"From: a@x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nfile\r\n--b--\r\n";
        assert_eq!(texts(raw), Texts::default());
    }
}
