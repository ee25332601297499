//! The body as HTML and the attachments, as Odoo's `_message_parse_extract_payload`
//! (behaviour reference §3.4): a single text entity is the body (`text/plain` in a `<pre>`);
//! otherwise every entity is walked, depth first and into embedded messages, with the
//! `alternative` / `mixed` / `html` flags deciding which text parts make the body and which
//! become attachments.
//!
//! A body with HTML in it is cleaned as Odoo's `html_sanitize` cleans it (`sanitize.rs`); the
//! raw message keeps everything. Differences from Odoo, on purpose: no `o_mail_notification`
//! stripping and no `data-filename` on `cid:` images (the gateway points them at the stored
//! attachment instead); text attachments keep their transfer-decoded bytes instead of being decoded and
//! re-encoded (Odoo's round trip replaces undecodable bytes with U+FFFD); a `text/*` entity
//! other than plain/HTML that is the whole message is put in a `<pre>` (Odoo inserts it raw);
//! a `multipart/*` entity without any delimiter line is read as text instead of being dropped;
//! `Content-Disposition: ATTACHMENT` is recognised in any case; a body over [`MAX_BODY`] is
//! clipped with a note (the raw message keeps all of it).

use crate::Attachment;
use crate::entity::{Body, Entity};

/// Extracts the body and the attachments of `root`. With `first_body_only` (the message is a
/// delivery report), the walk stops as soon as a body exists (Odoo keeps only the first body
/// of a bounce, not the returned message). HTML of the sender is cleaned when the body is
/// first read ([`BodyHtml`]), not here.
pub(crate) fn extract(root: &Entity, first_body_only: bool) -> (BodyHtml, Vec<Attachment>) {
    if root.maintype() == "text" || is_multipart_without_parts(root) {
        let (text, cut) = root.text_prefix(MAX_BODY);
        let body = if root.mime == "text/html" {
            BodyHtml::to_clean(text, Vec::new(), cut)
        } else {
            BodyHtml::ready(clip(append_content_to_html("", &text, true), cut))
        };
        return (body, Vec::new());
    }
    let mut walk = Walk::default();
    for part in root.walk() {
        if first_body_only && !walk.body.is_empty() {
            break;
        }
        walk.visit(part);
    }
    let body = if walk.html {
        // Only HTML of the sender needs it: `<pre>` blocks are escaped text already.
        let cids = walk
            .attachments
            .iter()
            .filter_map(|a| a.content_id.clone())
            .collect();
        BodyHtml::to_clean(walk.body, cids, walk.cut)
    } else {
        BodyHtml::ready(clip(walk.body, walk.cut))
    };
    (body, walk.attachments)
}

/// The body of a message as HTML (§3.4), read as a `str` (`Deref`).
///
/// HTML written by the sender is cleaned (`sanitize.rs`, the reference's `html_sanitize`) the
/// first time the body is read, not when the message is parsed: cleaning costs more than the
/// rest of the parse together, and most of the mail that routing decides on is never posted
/// (bounces, auto-replies, duplicates, loops, refusals). Nothing can read the uncleaned HTML:
/// the only way to the text is through the cleaning.
#[derive(Clone)]
pub struct BodyHtml {
    /// The body, once clean (and clipped to [`MAX_BODY`]).
    clean: std::sync::OnceLock<String>,
    /// The HTML still to clean, with the Content-IDs of the message's attachments (its own
    /// `cid:` images) and whether a text of it was cut; `None` once clean.
    dirty: Option<(String, Vec<String>, bool)>,
}

impl BodyHtml {
    /// A body that is clean already.
    fn ready(body: String) -> BodyHtml {
        BodyHtml {
            clean: std::sync::OnceLock::from(body),
            dirty: None,
        }
    }

    /// A body of the sender's HTML, cleaned when first read.
    fn to_clean(html: String, cids: Vec<String>, cut: bool) -> BodyHtml {
        BodyHtml {
            clean: std::sync::OnceLock::new(),
            dirty: Some((html, cids, cut)),
        }
    }

    /// The clean body.
    pub fn as_str(&self) -> &str {
        self.clean.get_or_init(|| match &self.dirty {
            Some((html, cids, cut)) => {
                let cids: Vec<&str> = cids.iter().map(String::as_str).collect();
                clip(crate::sanitize::html(html, &cids), *cut)
            }
            None => String::new(),
        })
    }
}

impl std::ops::Deref for BodyHtml {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for BodyHtml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for BodyHtml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for BodyHtml {
    fn eq(&self, other: &BodyHtml) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<str> for BodyHtml {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for BodyHtml {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for BodyHtml {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The largest body kept, in bytes. Postern differs from Odoo here, on purpose: a body of tens
/// of megabytes (a log pasted into a mail, a text file sent as the body) is useless to read in
/// a thread and would cost several times its size in memory at every step; such a body is
/// clipped, with a note, like the web mail clients do — and nothing is lost, since the whole
/// message is kept as its raw message.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// The note that ends a clipped body.
const CLIPPED_NOTE: &str = "\n<p><em>[This message was clipped: its body is larger than 2 MiB. \
The complete original is kept with the message (its raw message).]</em></p>\n";

/// `text` cut at `limit` bytes (at a character boundary), and whether it was cut.
fn clip_at(text: &str, limit: usize) -> (&str, bool) {
    if text.len() <= limit {
        return (text, false);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// The body, clipped to [`MAX_BODY`] with the note when it is larger or when a text of it was
/// `cut` already.
fn clip(mut body: String, cut: bool) -> String {
    let (kept, longer) = clip_at(&body, MAX_BODY);
    if cut || longer {
        let end = kept.len();
        body.truncate(end);
        body.push_str(CLIPPED_NOTE);
        body.shrink_to_fit();
    }
    body
}

fn is_multipart_without_parts(entity: &Entity) -> bool {
    entity.maintype() == "multipart" && matches!(entity.body, Body::Leaf(_))
}

/// The state of Odoo's walk.
#[derive(Default)]
struct Walk {
    body: String,
    attachments: Vec<Attachment>,
    alternative: bool,
    mixed: bool,
    html: bool,
    /// A text part was longer than the body may be: the body will be clipped.
    cut: bool,
}

impl Walk {
    /// The text of a part that goes into the body: at most [`MAX_BODY`] bytes of it.
    fn text(&mut self, part: &Entity) -> String {
        let (text, cut) = part.text_prefix(MAX_BODY);
        self.cut |= cut;
        text
    }

    fn visit(&mut self, part: &Entity) {
        match part.mime.as_str() {
            "multipart/alternative" => self.alternative = true,
            "multipart/mixed" => self.mixed = true,
            _ => {}
        }
        if part.maintype() == "multipart" {
            if is_multipart_without_parts(part) {
                let text = self.text(part);
                self.add_plain(&text);
            }
            return;
        }
        let filename = part.filename();
        let content_id = part.content_id();
        if filename.is_some() && content_id.is_some() {
            // Odoo step 0: inline attachment, matched by `cid:`.
            return self.attach(part, filename);
        }
        if filename.is_some() || part.is_attachment_disposition() {
            return self.attach(part, filename);
        }
        match part.mime.as_str() {
            // Odoo: `text/plain and not (alternative and body)`.
            "text/plain" if !self.alternative || self.body.is_empty() => {
                let text = self.text(part);
                self.add_plain(&text);
            }
            "text/html" => {
                let content = self.text(part);
                if self.alternative && !(self.html && self.mixed) {
                    self.body = content.clone();
                } else {
                    self.body = append_content_to_html(&self.body, &content, false);
                }
                self.html = self.html || !content.is_empty();
            }
            _ => self.attach(part, filename),
        }
    }

    fn add_plain(&mut self, text: &str) {
        self.body = append_content_to_html(&self.body, text, true);
    }

    fn attach(&mut self, part: &Entity, filename: Option<String>) {
        self.attachments.push(Attachment {
            filename: filename.map_or_else(
                || "attachment".to_owned(),
                |f| postern_model::safe_filename(&f),
            ),
            mimetype: part.mime.clone(),
            content_id: part.content_id(),
            content: part.content_bytes().to_vec(),
        });
    }
}

/// Odoo's `append_content_to_html(html, content, plaintext, preserve=True)`: plain text
/// becomes `\n<pre>…</pre>\n` (HTML-escaped), HTML loses its `<html>`, `<body>`, `<head>`
/// and `<!DOCTYPE>` tags and is wrapped in `\n…\n`; the tags of `html` are lower-cased and
/// the content goes before its `</body>` (else `</html>`, else at the end).
pub(crate) fn append_content_to_html(html: &str, content: &str, plaintext: bool) -> String {
    let mut block = String::with_capacity(content.len() + content.len() / 8 + 16);
    if plaintext {
        block.push_str("\n<pre>");
        push_html_escaped(&mut block, content);
        block.push_str("</pre>\n");
    } else {
        block.push('\n');
        block.push_str(&strip_document_tags(content));
        block.push('\n');
    }
    if html.is_empty() {
        return block;
    }
    let mut html = lowercase_tags(html);
    match html.find("</body>").or_else(|| html.find("</html>")) {
        Some(at) => {
            html.insert_str(at, &block);
            html
        }
        None => html + &block,
    }
}

/// Appends `text` escaped as `markupsafe.escape` does (`&`, `<`, `>`, `"` and `'`), copying
/// the runs between those characters at once. The next special is found with `memchr` (vector
/// instructions; a byte-by-byte loop was 5% of the listener's CPU with 100 KiB text bodies).
fn push_html_escaped(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let end = bytes.len();
    let find3 =
        |from: usize| memchr::memchr3(b'&', b'<', b'>', &bytes[from..]).map_or(end, |p| from + p);
    let find2 =
        |from: usize| memchr::memchr2(b'"', b'\'', &bytes[from..]).map_or(end, |p| from + p);
    let (mut next3, mut next2) = (find3(0), find2(0));
    let mut start = 0;
    loop {
        let i = next3.min(next2);
        if i == end {
            break;
        }
        if let Some(escaped) = html_escape(bytes[i]) {
            // The specials are ASCII: `i` is a character boundary.
            out.push_str(&text[start..i]);
            out.push_str(escaped);
            start = i + 1;
        }
        if i == next3 {
            next3 = find3(i + 1);
        } else {
            next2 = find2(i + 1);
        }
    }
    out.push_str(&text[start..]);
}

/// What `markupsafe.escape` makes of `b`, when it is one of its specials.
fn html_escape(b: u8) -> Option<&'static str> {
    match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'"' => Some("&#34;"),
        b'\'' => Some("&#39;"),
        _ => None,
    }
}

/// Removes every match of Odoo's `(?i)</?(?:html|body|head|!\s*DOCTYPE)[^>]*>` (which also
/// takes `<header>`: the pattern has no word boundary, and neither has this function).
fn strip_document_tags(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let tag = &rest[open..];
        match document_tag_len(tag) {
            Some(len) => rest = &tag[len..],
            None => {
                out.push('<');
                rest = &tag[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The length of the document tag `tag` starts with, if it starts with one.
fn document_tag_len(tag: &str) -> Option<usize> {
    let after = tag.strip_prefix('<')?;
    let after = after.strip_prefix('/').unwrap_or(after);
    let lower: String = after
        .chars()
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    let name_ok = ["html", "body", "head"]
        .iter()
        .any(|n| lower.starts_with(n))
        || {
            lower
                .strip_prefix('!')
                .is_some_and(|r| r.trim_start().starts_with("doctype"))
        };
    if !name_ok {
        return None;
    }
    tag.find('>').map(|close| close + 1)
}

/// Odoo's `re.sub(r'(</?)(\w+)([ >])', lower-case the name, html)`.
fn lowercase_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open + 1]);
        let mut after = &rest[open + 1..];
        if let Some(stripped) = after.strip_prefix('/') {
            out.push('/');
            after = stripped;
        }
        let name_len: usize = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .map(char::len_utf8)
            .sum();
        let (name, tail) = after.split_at(name_len);
        if name_len > 0 && (tail.starts_with(' ') || tail.starts_with('>')) {
            out.push_str(&name.to_lowercase());
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The `memchr` escape gives what escaping character by character gives.
        #[test]
        fn escaping_by_search_gives_the_escaped_text(
            text in "[a<>&\"'é\n ]{0,200}",
            pad in 0usize..70,
        ) {
            let text = format!("{}{text}", "x".repeat(pad));
            let mut expected = String::new();
            for c in text.chars() {
                match c {
                    '&' => expected.push_str("&amp;"),
                    '<' => expected.push_str("&lt;"),
                    '>' => expected.push_str("&gt;"),
                    '"' => expected.push_str("&#34;"),
                    '\'' => expected.push_str("&#39;"),
                    c => expected.push(c),
                }
            }
            let mut got = String::new();
            push_html_escaped(&mut got, &text);
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn plain_text_is_a_pre_block() {
        assert_eq!(
            append_content_to_html("", "a < b & \"c\" 'd'", true),
            "\n<pre>a &lt; b &amp; &#34;c&#34; &#39;d&#39;</pre>\n"
        );
    }

    #[test]
    fn html_is_inserted_before_body_end_and_stripped() {
        let html = "<HTML><BODY>First</BODY></HTML>";
        let got = append_content_to_html(
            html,
            "<!DOCTYPE html><html><head></head><body>Second</body></html>",
            false,
        );
        assert_eq!(got, "<html><body>First\nSecond\n</body></html>");
        assert_eq!(
            strip_document_tags("<header>x</header><p>y</p>"),
            "x<p>y</p>"
        );
        assert_eq!(strip_document_tags("a < b <html"), "a < b <html");
    }

    #[test]
    fn tag_lowercasing_follows_the_regex() {
        assert_eq!(
            lowercase_tags("<P>x</P><BR/><Div class=A>"),
            "<p>x</p><BR/><div class=A>"
        );
        assert_eq!(lowercase_tags("<"), "<");
        assert_eq!(lowercase_tags("<É>"), "<é>");
    }

    #[test]
    fn a_huge_plain_body_is_clipped_with_a_note_and_a_small_one_is_not() {
        let text = "é<b>\n".repeat(MAX_BODY / 3);
        let raw = format!("Subject: big\nContent-Type: text/plain; charset=utf-8\n\n{text}");
        let parsed = crate::parse(raw.as_bytes()).unwrap();
        assert!(parsed.body_html.len() <= MAX_BODY + CLIPPED_NOTE.len());
        assert!(parsed.body_html.starts_with("\n<pre>é&lt;b&gt;\n"));
        assert!(parsed.body_html.ends_with(CLIPPED_NOTE));

        let small = "Subject: s\nContent-Type: text/plain\n\nhello\n";
        let parsed = crate::parse(small.as_bytes()).unwrap();
        assert_eq!(parsed.body_html, "\n<pre>hello\n</pre>\n");
    }

    #[test]
    fn a_huge_html_body_is_clipped_at_a_character_boundary() {
        let html = format!("<p>{}</p>", "€".repeat(MAX_BODY / 2));
        let raw = format!("Subject: big\nContent-Type: text/html; charset=utf-8\n\n{html}");
        let parsed = crate::parse(raw.as_bytes()).unwrap();
        let kept = parsed
            .body_html
            .strip_suffix(CLIPPED_NOTE)
            .expect("the note");
        assert!(kept.len() <= MAX_BODY && kept.len() > MAX_BODY - 3);
        assert!(html.starts_with(kept));
    }

    #[test]
    fn a_text_part_cut_before_decoding_still_gets_the_note() {
        // CRLF lines shrink when normalised: the kept text is under the limit, yet the part
        // was longer than it.
        let text = "ab\r\n".repeat(MAX_BODY / 4 + 1000);
        let raw = format!(
            "Subject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\n{text}--b--\r\n"
        );
        let parsed = crate::parse(raw.as_bytes()).unwrap();
        assert!(parsed.body_html.len() < MAX_BODY);
        assert!(
            parsed.body_html.ends_with(CLIPPED_NOTE),
            "{}",
            &parsed.body_html[..40]
        );
    }

    #[test]
    fn nul_characters_become_replacement_characters() {
        let parsed = crate::parse(
            b"From: A\0B <a@example.com>\r\nSubject: x\0y\r\nX-Nul: a\0b\r\n\r\nbefore\0after\r\n",
        )
        .unwrap();
        assert_eq!(parsed.subject.as_deref(), Some("x\u{fffd}y"));
        assert!(parsed.email_from.as_deref().unwrap().contains('\u{fffd}'));
        assert_eq!(parsed.body_html, "\n<pre>before\u{fffd}after\n</pre>\n");
    }
}
