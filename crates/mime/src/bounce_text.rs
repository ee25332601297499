//! Bounces written for humans: the failed recipients, SMTP codes and reasons found in the text
//! of a failure notice that has no usable `message/delivery-status` part (qmail, Exim,
//! Sendmail and Postfix without DSN, Exchange, Notes, gateways...), and the message returned
//! inline after it.
//!
//! Built on the general shape of such notices rather than on any one MTA's wording: the text
//! stops where the returned message starts (a line announcing the original message, or a
//! paragraph starting with `Received:`/`Return-Path:`... headers); a failed recipient is an
//! address that starts a line (`user@x`, `<user@x>:`, `"user@x"`), or that follows a label
//! naming a recipient/user/address/mailbox (`Unknown user: user@x`), or `RCPT TO:<user@x>`,
//! or follows "to" in a sentence about a failure (`error delivering your mail to <user@x>`);
//! its details are the lines that follow, up to the next recipient: the first RFC 3463
//! status (`5.1.1`) and the first SMTP reply code (`550`) found there, and the text itself as
//! the reason.
//!
//! Trusts nothing, never panics; pure string scanning.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use crate::addresses::email_normalize;

/// How many lines after a recipient line still describe it.
const BLOCK_LINES: usize = 15;
/// Longest reason kept, in characters.
const MAX_REASON: usize = 500;

/// One recipient found in the text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TextRecipient {
    /// Normalised address.
    pub(crate) address: String,
    /// RFC 3463 status found near it, or empty.
    pub(crate) status: String,
    /// SMTP reply code found near it, or empty.
    pub(crate) reply_code: String,
    /// The text describing the failure, white space collapsed.
    pub(crate) reason: String,
}

/// Splits a notice into the part written for humans and the returned message after it.
pub(crate) fn split_original(text: &str) -> (&str, &str) {
    // The lines that may announce the original hold one of its words: they are found in one
    // search of the whole text, and only they are read further.
    let mut words = announcing_words()
        .find_iter(text)
        .map(|m| m.start())
        .peekable();
    let mut offset = 0;
    let mut previous_blank = true;
    for line in text.split_inclusive('\n') {
        let end = offset + line.len();
        while words.next_if(|&at| at < offset).is_some() {}
        let may_announce = words.peek().is_some_and(|&at| at < end);
        if (may_announce && announces_original(line))
            || (previous_blank && starts_header_block(line))
        {
            return text.split_at(offset);
        }
        previous_blank = line.trim().is_empty();
        offset = end;
    }
    (text, "")
}

/// Every phrase of [`announces_original`] holds one of these words (any ASCII case).
const ANNOUNCING_WORDS: &[&str] = &[
    "origina",
    "returned",
    "undelivered",
    "unsent",
    "copy",
    "follow",
];

fn announcing_words() -> &'static AhoCorasick {
    static WORDS: OnceLock<AhoCorasick> = OnceLock::new();
    WORDS.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(ANNOUNCING_WORDS)
            .expect("the words build an automaton")
    })
}

/// A short line such as `------ This is a copy of the message, including all the headers.`,
/// `Original message follows.`, `------- Returned Message --------` or `Included is a copy of
/// the message header:`. A phrase inside the line counts only on a decorated line or one that
/// announces what follows with a colon (Postfix's "delete your own text from the attached
/// returned message." is not the returned message yet); a line starting with one must be a
/// short title or sentence (Sendmail's "The original message was received at <date>" starts
/// the notice).
fn announces_original(line: &str) -> bool {
    const PHRASES: &[&str] = &[
        "original message",
        "original mail",
        "returned message",
        "returned mail",
        "undelivered message",
        "unsent message",
        "this is a copy of",
        "below this line is a copy",
        "a copy of the original",
        "copy of the message",
        "copy of your message",
        "message headers follow",
        "headers of the original",
        "header of the original",
        "the original message",
        "rest of message follows",
    ];
    let line = line.trim();
    // Every phrase holds one of these words; lower-casing never makes one appear (the only
    // characters outside ASCII that lower-case into ASCII give `k` and `i` + U+0307), so a
    // line without any of them (any ASCII case) cannot announce anything: most lines stop here.
    if !announcing_words().is_match(line) {
        return false;
    }
    let decorated = line.starts_with(['-', '=', '_', '*', '#']);
    let announcing = line.ends_with(':');
    let trimmed = line
        .trim_matches(|c: char| "-=_*#<>[]() \t:.".contains(c))
        .to_lowercase();
    let words = trimmed.split_whitespace().count();
    let starts = PHRASES.iter().any(|p| trimmed.starts_with(p));
    let contains = contains_any(&trimmed, PHRASES);
    trimmed.chars().count() <= 80
        && ((decorated || announcing) && contains
            || starts && (words <= 4 || line.ends_with('.') && words <= 8))
}

/// A line starting the header section of a returned message.
fn starts_header_block(line: &str) -> bool {
    const NAMES: &[&str] = &[
        "received:",
        "return-path:",
        "dkim-signature:",
        "message-id:",
        "mime-version:",
        "authentication-results:",
        "delivered-to:",
        "arc-seal:",
    ];
    NAMES.iter().any(|n| {
        line.as_bytes()
            .get(..n.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(n.as_bytes()))
    })
}

/// Whether `haystack` holds one of `needles` (`needles.iter().any(|n| haystack.contains(n))`
/// in one pass, without a searcher per needle).
pub(crate) fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    let mut firsts = [false; 256];
    for n in needles {
        match n.as_bytes().first() {
            Some(&f) => firsts[usize::from(f)] = true,
            None => return true,
        }
    }
    let bytes = haystack.as_bytes();
    (0..bytes.len()).any(|i| {
        firsts[usize::from(bytes[i])]
            && needles.iter().any(|n| bytes[i..].starts_with(n.as_bytes()))
    })
}

/// How an address was found on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// It starts the line (maybe after an SMTP reply code), follows `RCPT TO:`, or follows a
    /// label naming a recipient: it names a recipient by the shape of the notice.
    Named,
    /// It follows the word "to" in a sentence about a failure ("error delivering your mail
    /// to <x>"): weaker, it could also be the original sender.
    InSentence,
}

/// The failed recipients of a notice, in order, each once. Addresses in `author` (the
/// notice's From, Sender, Reply-To, Return-Path) are never recipients; an address found in a
/// sentence must also not be one of `own` (every address of the notice's header) nor a
/// postmaster / mailer-daemon.
#[cfg(test)]
pub(crate) fn find_recipients(text: &str, author: &[String], own: &[String]) -> Vec<TextRecipient> {
    find_recipients_in(split_original(text).0, author, own)
}

/// [`find_recipients`] of a notice already split: `human` is the part before the returned
/// message ([`split_original`]).
pub(crate) fn find_recipients_in(
    human: &str,
    author: &[String],
    own: &[String],
) -> Vec<TextRecipient> {
    let lines: Vec<&str> = human.lines().collect();
    let starts: Vec<(usize, String, usize)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let (address, rest_at, how) = recipient_on_line(line)?;
            let normalized = email_normalize(&address)?;
            let local = normalized.split('@').next().unwrap_or_default();
            let service = matches!(local, "postmaster" | "mailer-daemon" | "mailerdaemon");
            let excluded = author.contains(&normalized)
                || (how == Found::InSentence && (service || own.contains(&normalized)));
            (!excluded).then_some((i, normalized, rest_at))
        })
        .collect();
    let mut found: Vec<TextRecipient> = Vec::new();
    for (n, (i, address, rest_at)) in starts.iter().enumerate() {
        let next = starts.get(n + 1).map_or(lines.len(), |s| s.0);
        let end = next.min(i + BLOCK_LINES).max(i + 1);
        let mut block = vec![lines[*i].get(*rest_at..).unwrap_or_default()];
        block.extend(lines[i + 1..end].iter().copied());
        let details = details(&block);
        match found.iter_mut().find(|r| r.address == *address) {
            Some(known) => merge(known, details),
            None => found.push(TextRecipient {
                address: address.clone(),
                ..details
            }),
        }
    }
    if found
        .iter()
        .any(|r| r.status.is_empty() && r.reply_code.is_empty())
    {
        let (status, reply_code) = codes(&lines);
        for r in &mut found {
            if r.status.is_empty() && r.reply_code.is_empty() {
                r.status.clone_from(&status);
                r.reply_code.clone_from(&reply_code);
            }
        }
    }
    found
}

/// The first failure status and the first failure reply code of `lines` (each may be empty).
fn codes(lines: &[&str]) -> (String, String) {
    (
        lines
            .iter()
            .find_map(|l| find_failure_status(l))
            .unwrap_or_default(),
        lines
            .iter()
            .find_map(|l| find_reply_code(l))
            .unwrap_or_default(),
    )
}

fn merge(known: &mut TextRecipient, more: TextRecipient) {
    if known.status.is_empty() {
        known.status = more.status;
    }
    if known.reply_code.is_empty() {
        known.reply_code = more.reply_code;
    }
    // The same address named again (`... to <x@y>.` then `550 5.2.1 <x@y>: User unknown`):
    // what follows it also describes it.
    if known.reason.is_empty() {
        known.reason = more.reason;
    } else if !more.reason.is_empty() && !known.reason.contains(&more.reason) {
        let joined = format!("{} {}", known.reason, more.reason);
        known.reason = joined.chars().take(MAX_REASON).collect();
    }
}

/// Status, reply code and reason of the lines describing one recipient.
fn details(block: &[&str]) -> TextRecipient {
    let mut words = String::new();
    for line in block {
        push_words(&mut words, line);
    }
    let reason = words
        .trim_matches(|c: char| c.is_whitespace() || ":>()-".contains(c))
        .chars()
        .take(MAX_REASON)
        .collect();
    let (status, reply_code) = codes(block);
    TextRecipient {
        address: String::new(),
        status,
        reply_code,
        reason,
    }
}

/// White space runs become one space.
pub(crate) fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_words(&mut out, text);
    out
}

/// Appends the words of `text` to `out`, one space between words (and before the first one
/// when `out` is not empty).
fn push_words(out: &mut String, text: &str) {
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// If `line` names a failed recipient: the address, the byte offset where the rest of the
/// line (its details) starts, and how it was found.
fn recipient_on_line(line: &str) -> Option<(String, usize, Found)> {
    // Every way below finds an address (`address_at`), which holds an `@`: most lines of a
    // notice have none and stop here, with one vector search.
    memchr::memchr(b'@', line.as_bytes())?;
    let trimmed = strip_bullet(line.trim_start());
    let indent = line.len() - trimmed.len();
    let after_code = skip_reply_code(trimmed);
    let code_len = trimmed.len() - after_code.len();
    if let Some((address, end)) = address_at(after_code) {
        return Some((address, indent + code_len + end, Found::Named));
    }
    if let Some(at) = find_ascii_ci(trimmed, "rcpt to:") {
        let after = &trimmed[at + 8..];
        let after_trim = after.trim_start();
        let skipped = after.len() - after_trim.len();
        if let Some((address, end)) = address_at(after_trim) {
            return Some((address, indent + at + 8 + skipped + end, Found::Named));
        }
    }
    if let Some((label, value)) = trimmed.split_once(':') {
        let label_lower = label.to_lowercase();
        let labelled = label.split_whitespace().count() <= MAX_LABEL_WORDS
            && contains_any(&label_lower, LABEL_WORDS);
        let value_trim = value.trim_start();
        let skipped = value.len() - value_trim.len();
        if labelled && let Some((address, end)) = address_at(value_trim) {
            return Some((
                address,
                indent + label.len() + 1 + skipped + end,
                Found::Named,
            ));
        }
    }
    in_sentence(line).map(|(address, end)| (address, end, Found::InSentence))
}

/// `- x@y`, `-- x@y`, `* x@y`, `• x@y`, `>>> x@y`: the text after a list bullet or a
/// transcript arrow.
fn strip_bullet(text: &str) -> &str {
    // `>>>` only: a single `>` quotes a reply, it does not list a recipient.
    let text_after_arrow = text.strip_prefix(">>>").unwrap_or(text);
    if text_after_arrow.len() < text.len() && text_after_arrow.starts_with([' ', '\t']) {
        return text_after_arrow.trim_start();
    }
    let after = text.trim_start_matches(['-', '*', '\u{2022}', '\u{b7}']);
    if after.len() < text.len() && after.starts_with([' ', '\t']) {
        after.trim_start()
    } else {
        text
    }
}

/// Longest label before an address (`User mailbox exceeds allowed size: x@y`).
const MAX_LABEL_WORDS: usize = 6;

/// Words of a label that introduces a failed recipient (`Unknown user: x@y`,
/// `Delivery failed 20 attempts: x@y`).
const LABEL_WORDS: &[&str] = &[
    "recipient",
    "user",
    "address",
    "mailbox",
    "failed",
    "undeliverable",
    "delivery",
    "unknown",
];

/// Words of a sentence that reports a failure.
const FAILURE_WORDS: &[&str] = &[
    "deliver",
    "fail",
    "error",
    "reject",
    "unknown",
    "invalid",
    "could not",
    "unable",
    "not reach",
    "bounce",
];

/// `... to <x@y>` (or `to x@y`) in a line that speaks of a failure: the address and the
/// offset after it.
fn in_sentence(line: &str) -> Option<(String, usize)> {
    let lower = line.to_ascii_lowercase();
    if !contains_any(&lower, FAILURE_WORDS) {
        return None;
    }
    let mut from = 0;
    while let Some(i) = lower[from..].find("to ") {
        let at = from + i;
        let word_start = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
        let after = &line[at + 3..];
        let after_trim = after.trim_start();
        if word_start && let Some((address, end)) = address_at(after_trim) {
            return Some((address, at + 3 + (after.len() - after_trim.len()) + end));
        }
        from = at + 3;
    }
    None
}

/// `550 5.1.1 <x@y>...`, `550-5.1.1 x@y`, `#5.1.1 x@y`: the text after a leading reply code
/// and status.
fn skip_reply_code(text: &str) -> &str {
    let mut rest = text;
    let b = rest.as_bytes();
    if b.len() > 3
        && matches!(b[0], b'4' | b'5')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && matches!(b[3], b' ' | b'-')
    {
        rest = rest[4..].trim_start();
    }
    let trimmed = rest.trim_start_matches('#');
    if let Some(status) = find_failure_status(trimmed).filter(|s| trimmed.starts_with(s.as_str())) {
        rest = trimmed[status.len()..].trim_start();
    }
    if rest.len() == text.len() { text } else { rest }
}

/// An address at the start of `text`, after optional `<`, `"`, `'` or `(`; returns it and
/// the offset just after it (and after a closing `>`, `"`, `'`, `)` or `:`).
fn address_at(text: &str) -> Option<(String, usize)> {
    let start = text.len() - text.trim_start_matches(['<', '"', '\'', '(']).len();
    let rest = &text[start..];
    let local_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || "._%+-=/!#$&*?^`{|}~'".contains(c)))
        .unwrap_or(rest.len());
    if local_len == 0 || !rest[local_len..].starts_with('@') {
        return None;
    }
    let domain_start = local_len + 1;
    let domain_len = rest[domain_start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .unwrap_or(rest.len() - domain_start);
    let domain = rest[domain_start..domain_start + domain_len].trim_end_matches('.');
    if !domain.contains('.') || domain.starts_with('.') {
        return None;
    }
    let address = format!("{}@{}", &rest[..local_len], domain);
    let mut end = start + domain_start + domain.len();
    let tail = &text[end..];
    end += tail.len() - tail.trim_start_matches(['>', '"', '\'', ')', ':']).len();
    Some((address, end))
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The first RFC 3463 status code in `text` (`2.0.0`, `5.1.1`, `4.4.7`, `5.7.510`), not part
/// of a longer dotted number (an IP address or a version).
pub(crate) fn find_status(text: &str) -> Option<String> {
    find_status_of(text, b"245")
}

/// The first failure status (class 4 or 5) in `text`: in a notice written for humans, a
/// `2.x.x` is a step of the transcript that went well.
pub(crate) fn find_failure_status(text: &str) -> Option<String> {
    find_status_of(text, b"45")
}

fn find_status_of(text: &str, classes: &[u8]) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|i| {
        let class = bytes[i];
        if bytes.get(i + 1) != Some(&b'.')
            || !classes.contains(&class)
            || i > 0 && is_number_char(bytes[i - 1])
        {
            return None;
        }
        let (subject, after_subject) = digits(bytes, i + 2, 3)?;
        if bytes.get(after_subject) != Some(&b'.') {
            return None;
        }
        let (detail, after_detail) = digits(bytes, after_subject + 1, 3)?;
        let continues = bytes.get(after_detail).is_some_and(|&b| {
            b.is_ascii_digit()
                || (b == b'.' && bytes.get(after_detail + 1).is_some_and(u8::is_ascii_digit))
        });
        (!continues).then(|| format!("{}.{subject}.{detail}", class as char))
    })
}

/// The first failure reply code in `text`: three digits, 4xx or 5xx, standing alone
/// (followed by a space, `-`, the end of the text or a closing mark), not part of a longer
/// number. Success (2xx) and intermediate (3xx) replies are steps of a transcript.
pub(crate) fn find_reply_code(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(2)).find_map(|i| {
        let code = bytes.get(i..i + 3)?;
        let ok_digits = matches!(code[0], b'4' | b'5')
            && code[1].is_ascii_digit()
            && code[2].is_ascii_digit()
            && code[1] <= b'5';
        let before_ok =
            i == 0 || !(is_number_char(bytes[i - 1]) || bytes[i - 1].is_ascii_alphabetic());
        let after_ok = bytes.get(i + 3).is_none_or(|&b| {
            matches!(
                b,
                b' ' | b'-' | b'\t' | b'\r' | b'\n' | b')' | b'"' | b';' | b','
            )
        });
        (ok_digits && before_ok && after_ok).then(|| String::from_utf8_lossy(code).into_owned())
    })
}

fn is_number_char(b: u8) -> bool {
    b.is_ascii_digit() || b == b'.' || b == b':'
}

/// 1 to `max` digits at `from`: their value as text and the offset after them.
fn digits(bytes: &[u8], from: usize, max: usize) -> Option<(String, usize)> {
    let len = bytes
        .get(from..)?
        .iter()
        .take(max + 1)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if len == 0 || len > max {
        return None;
    }
    let text = std::str::from_utf8(&bytes[from..from + len]).ok()?;
    Some((text.to_owned(), from + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_any_is_contains() {
        for (hay, needles) in [
            ("delivery to x failed", &["fail", "error"][..]),
            ("", &["a"][..]),
            ("abc", &[""][..]),
            ("r\u{e9}sum\u{e9}", &["\u{e9}s", "z"][..]),
            ("no match here", &["xyz", "matchx"][..]),
        ] {
            assert_eq!(
                contains_any(hay, needles),
                needles.iter().any(|n| hay.contains(n)),
                "{hay}"
            );
        }
    }

    #[test]
    fn codes() {
        assert_eq!(
            find_status("said: 550 5.1.1 <a@b.c>").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(find_status("host 192.168.5.1.2 x"), None);
        assert_eq!(find_status("#5.7.510 x").as_deref(), Some("5.7.510"));
        assert_eq!(find_status("version 1.5.0.1"), None);
        assert_eq!(find_reply_code("said: 550-5.1.1 x").as_deref(), Some("550"));
        assert_eq!(
            find_reply_code("[10.0.0.250] 4501 x 452 y").as_deref(),
            Some("452")
        );
        assert_eq!(
            find_reply_code("smtp;550 User unknown").as_deref(),
            Some("550")
        );
        assert_eq!(find_reply_code("code=550x"), None);
    }

    #[test]
    fn qmail_exim_and_postfix_shapes() {
        let qmail = "Hi. This is the qmail-send program at x.example.\n\n<kijitora@example.jp>:\n192.0.2.1 does not like recipient.\nRemote host said: 550 5.1.1 <kijitora@example.jp>... User Unknown\nGiving up on 192.0.2.1.\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <a@b.example>\nTo: other@example.org\n";
        let found = find_recipients(qmail, &[], &[]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].address, "kijitora@example.jp");
        assert_eq!(
            (found[0].status.as_str(), found[0].reply_code.as_str()),
            ("5.1.1", "550")
        );
        let exim = "The following address(es) failed:\n\n  neko@example.org\n    host mx.example.org [192.0.2.2]\n    SMTP error from remote mail server after RCPT TO:<neko@example.org>:\n    550 Unknown user\n";
        let found = find_recipients(exim, &[], &[]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].status.as_str(), found[0].reply_code.as_str()),
            ("", "550")
        );
        let postfix = "<a@x.example>: host mx.x.example[192.0.2.3] said: 452 4.2.2 Mailbox full\n<b@y.example>: mail for y.example loops back to myself\n";
        let found = find_recipients(postfix, &[], &[]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].status, "4.2.2");
        assert_eq!(found[1].reason, "mail for y.example loops back to myself");
    }

    #[test]
    fn labels_exclusions_and_the_returned_message() {
        let text = "Unknown user: kijitora@example.com\nDelivery to you@example.org failed\nPlease contact postmaster@example.com\nme@example.net\n\nOriginal message follows.\n\nTo: other@example.com\n";
        let me = ["me@example.net".to_owned()];
        let own = ["you@example.org".to_owned()];
        let found = find_recipients(text, &me, &own);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].address, "kijitora@example.com");
        let sentence = "There was an error delivering your mail to <nyan@example.org>.\n\nmx did not like our RCPT TO:\n550 5.1.1 <nyan@example.org>: User unknown\n";
        assert_eq!(
            find_recipients("-- a@b.example\n", &[], &[])[0].address,
            "a@b.example"
        );
        let found = find_recipients(sentence, &[], &[]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].status.as_str(), found[0].reply_code.as_str()),
            ("5.1.1", "550")
        );
        let postfix = "You can\ndelete your own text from the attached returned message.\n\n<a@x.example>: said 550\n";
        assert_eq!(find_recipients(postfix, &[], &[]).len(), 1);
        let sendmail = "The original message was received at Thu, 29 Apr 2011 23:34:45 +0900\n\n>>> a@x.example <a@x.example>\n";
        assert_eq!(find_recipients(sendmail, &[], &[]).len(), 1);
        assert!(find_recipients("> a@x.example wrote:\n", &[], &[]).is_empty());
        let (human, _) =
            split_original("a\nIncluded is a copy of the message header:\nTo: b@c.example\n");
        assert_eq!(human, "a\n");
        let (human, original) = split_original(text);
        assert!(human.ends_with("me@example.net\n\n"));
        assert!(original.starts_with("Original message follows."));
    }
}
