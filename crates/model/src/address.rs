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
//! parser below is a hand-written port of `_parseaddr.AddrlistClass`, and the two
//! regular expressions are hand-written matchers with the same leftmost, greedy,
//! backtracking results (no `regex` dependency needed).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

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
// Python's `email.utils.getaddresses` (non-strict), ported from `email/_parseaddr.py`.
// ---------------------------------------------------------------------------------------

/// `AddrlistClass.specials`.
const SPECIALS: &str = "()<>@,:;.\"[]";

/// Python raises `RecursionError` on deeply nested groups; we give up (no address) instead.
const MAX_GROUP_DEPTH: usize = 128;

fn is_lws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_cr(c: char) -> bool {
    c == '\r' || c == '\n'
}

fn is_atom_end(c: char) -> bool {
    SPECIALS.contains(c) || is_lws(c) || is_cr(c)
}

fn is_phrase_end(c: char) -> bool {
    c != '.' && is_atom_end(c)
}

/// Python's `str.isspace()`: Rust's White_Space plus the four separators U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` without argument.
fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// `_parseaddr.quote`: backslash and double quote become quoted pairs.
fn py_quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// State of `AddrlistClass`: the field as code points, a cursor and the comments seen.
struct AddrParser {
    field: Vec<char>,
    pos: usize,
    comments: Vec<String>,
    depth: usize,
    too_deep: bool,
}

impl AddrParser {
    fn new(text: &str) -> Self {
        let field = text.chars().collect();
        Self {
            field,
            pos: 0,
            comments: Vec::new(),
            depth: 0,
            too_deep: false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.field.get(self.pos).copied()
    }

    fn more(&self) -> bool {
        self.pos < self.field.len()
    }

    fn comment_name(&self) -> String {
        self.comments.join(" ")
    }

    /// `gotonext`: skip white space and collect comments; returns the blanks skipped.
    fn goto_next(&mut self) -> String {
        let mut ws = String::new();
        while let Some(c) = self.peek() {
            if is_lws(c) || is_cr(c) {
                if is_lws(c) {
                    ws.push(c);
                }
                self.pos += 1;
            } else if c == '(' {
                let comment = self.get_comment();
                self.comments.push(comment);
            } else {
                break;
            }
        }
        ws
    }

    /// `getaddrlist`: every address; a failed one counts as `('', '')`.
    fn get_addr_list(&mut self) -> Vec<(String, String)> {
        let mut result = Vec::new();
        while self.more() {
            let found = self.get_address();
            if found.is_empty() {
                result.push((String::new(), String::new()));
            } else {
                result.extend(found);
            }
        }
        result
    }

    /// `getaddress`: the next address (or the members of a group).
    fn get_address(&mut self) -> Vec<(String, String)> {
        // Python rebinds `commentlist` to a new list here, and `oldcl` below aliases it,
        // so restoring `oldcl` keeps the comments read by `getphraselist` (and the addr-spec
        // branch reads them a second time): only the position is restored.
        self.comments = Vec::new();
        self.goto_next();
        let old_pos = self.pos;
        let plist = self.get_phrase_list();
        self.goto_next();
        let found = match self.peek() {
            None => self.first_phrase(&plist),
            Some('.' | '@') => {
                self.pos = old_pos;
                let spec = self.get_addr_spec();
                vec![(self.comment_name(), spec)]
            }
            Some(':') => self.get_group(),
            Some('<') => {
                let route = self.get_route_addr();
                vec![(self.route_name(&plist), route)]
            }
            Some(c) => {
                if plist.is_empty() && SPECIALS.contains(c) {
                    self.pos += 1;
                }
                self.first_phrase(&plist)
            }
        };
        self.goto_next();
        if self.peek() == Some(',') {
            self.pos += 1;
        }
        found
    }

    /// A phrase without address: its first word is taken as the address.
    fn first_phrase(&self, plist: &[String]) -> Vec<(String, String)> {
        plist
            .first()
            .map(|p| (self.comment_name(), p.clone()))
            .into_iter()
            .collect()
    }

    /// The display name of `phrase <route-addr>`, with comments in parentheses.
    fn route_name(&self, plist: &[String]) -> String {
        let phrase = plist.join(" ");
        if self.comments.is_empty() {
            phrase
        } else {
            format!("{phrase} ({})", self.comment_name())
        }
    }

    /// The group branch of `getaddress`: `name: a, b;`.
    fn get_group(&mut self) -> Vec<(String, String)> {
        self.depth += 1;
        if self.depth > MAX_GROUP_DEPTH {
            self.too_deep = true;
            self.pos = self.field.len();
            return Vec::new();
        }
        let mut found = Vec::new();
        self.pos += 1;
        while self.more() {
            self.goto_next();
            if self.peek() == Some(';') {
                self.pos += 1;
                break;
            }
            found.extend(self.get_address());
        }
        self.depth -= 1;
        found
    }

    /// `getrouteaddr`: skips the obsolete route, returns the addr-spec.
    fn get_route_addr(&mut self) -> String {
        let mut expect_route = false;
        self.pos += 1;
        self.goto_next();
        let mut addr = String::new();
        while let Some(c) = self.peek() {
            if expect_route {
                self.get_domain();
                expect_route = false;
            } else if c == '>' {
                self.pos += 1;
                break;
            } else if c == '@' {
                self.pos += 1;
                expect_route = true;
            } else if c == ':' {
                self.pos += 1;
            } else {
                addr = self.get_addr_spec();
                self.pos += 1;
                break;
            }
            self.goto_next();
        }
        addr
    }

    /// `getaddrspec`: local part (atoms, quoted strings, dots, kept blanks) `@` domain.
    fn get_addr_spec(&mut self) -> String {
        let mut parts: Vec<String> = Vec::new();
        self.goto_next();
        while let Some(c) = self.peek() {
            let mut preserve_ws = true;
            if c == '.' {
                pop_blank(&mut parts);
                parts.push(".".to_owned());
                self.pos += 1;
                preserve_ws = false;
            } else if c == '"' {
                let quoted = self.get_quote();
                parts.push(format!("\"{}\"", py_quote(&quoted)));
            } else if is_atom_end(c) {
                pop_blank(&mut parts);
                break;
            } else {
                parts.push(self.get_atom(is_atom_end));
            }
            let ws = self.goto_next();
            if preserve_ws && !ws.is_empty() {
                parts.push(ws);
            }
        }
        if self.peek() != Some('@') {
            return parts.concat();
        }
        parts.push("@".to_owned());
        self.pos += 1;
        self.goto_next();
        let domain = self.get_domain();
        if domain.is_empty() {
            String::new()
        } else {
            parts.concat() + &domain
        }
    }

    /// `getdomain`; a second `@` makes the whole domain empty (bpo-34155).
    fn get_domain(&mut self) -> String {
        let mut domain = String::new();
        while let Some(c) = self.peek() {
            if is_lws(c) {
                self.pos += 1;
            } else if c == '(' {
                let comment = self.get_comment();
                self.comments.push(comment);
            } else if c == '[' {
                let literal = self.get_delimited(']');
                domain.push_str(&format!("[{literal}]"));
            } else if c == '.' {
                self.pos += 1;
                domain.push('.');
            } else if c == '@' {
                return String::new();
            } else if is_atom_end(c) {
                break;
            } else {
                domain.push_str(&self.get_atom(is_atom_end));
            }
        }
        domain
    }

    /// `getquote` / `getdomainliteral`: text up to `end` (or CR), a backslash quoting the
    /// next character. Called with the cursor on the opening delimiter.
    fn get_delimited(&mut self, end: char) -> String {
        let mut out = String::new();
        let mut quoted = false;
        self.pos += 1;
        while let Some(c) = self.peek() {
            if quoted {
                out.push(c);
                quoted = false;
            } else if c == end || c == '\r' {
                self.pos += 1;
                break;
            } else if c == '\\' {
                quoted = true;
            } else {
                out.push(c);
            }
            self.pos += 1;
        }
        out
    }

    fn get_quote(&mut self) -> String {
        self.get_delimited('"')
    }

    /// `getcomment`: nested comments are inlined without their parentheses. Iterative
    /// (Python recurses) so that `((((...` cannot overflow the stack.
    fn get_comment(&mut self) -> String {
        let mut out = String::new();
        let mut quoted = false;
        let mut depth = 1usize;
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += 1;
            if quoted {
                out.push(c);
                quoted = false;
            } else if c == ')' || c == '\r' {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            } else if c == '(' {
                depth += 1;
            } else if c == '\\' {
                quoted = true;
            } else {
                out.push(c);
            }
        }
        out
    }

    /// `getatom`: characters up to the first `ends` character.
    fn get_atom(&mut self, ends: fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| !ends(c)) {
            self.pos += 1;
        }
        self.field[start..self.pos].iter().collect()
    }

    /// `getphraselist`: words (atoms or quoted strings), dots allowed (obs-phrase).
    fn get_phrase_list(&mut self) -> Vec<String> {
        let mut plist = Vec::new();
        while let Some(c) = self.peek() {
            if is_lws(c) || is_cr(c) {
                self.pos += 1;
            } else if c == '"' {
                plist.push(self.get_quote());
            } else if c == '(' {
                let comment = self.get_comment();
                self.comments.push(comment);
            } else if is_phrase_end(c) {
                break;
            } else {
                plist.push(self.get_atom(is_phrase_end));
            }
        }
        plist
    }
}

/// `if aslist and not aslist[-1].strip(): aslist.pop()`.
fn pop_blank(parts: &mut Vec<String>) {
    if parts.last().is_some_and(|p| py_strip(p).is_empty()) {
        parts.pop();
    }
}

/// Python's `email.utils.getaddresses([text])` in its non-strict form.
fn getaddresses(text: &str) -> Vec<(String, String)> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut parser = AddrParser::new(text);
    let pairs = parser.get_addr_list();
    if parser.too_deep { Vec::new() } else { pairs }
}

// ---------------------------------------------------------------------------------------
// The two regular expressions, as hand-written leftmost-greedy matchers.
// ---------------------------------------------------------------------------------------

/// Length of the run of `class` characters starting at `from`.
fn run_len(s: &[char], from: usize, class: impl Fn(char) -> bool) -> usize {
    s.get(from..)
        .map_or(0, |rest| rest.iter().take_while(|c| class(**c)).count())
}

/// Odoo's `email_re.findall(text)`:
/// `[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,63}`.
fn email_re_findall(text: &str) -> Vec<String> {
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let s: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let at = i + run_len(&s, i, local);
        if at == i {
            i += 1;
        } else if s.get(at) != Some(&'@') {
            i = at; // every start inside this run fails the same way
        } else if let Some(end) = email_re_domain_end(&s, at + 1) {
            found.push(s[i..end].iter().collect());
            i = end;
        } else {
            i = at + 1;
        }
    }
    found
}

/// End of `[a-zA-Z0-9.-]+\.[a-zA-Z]{2,63}` matched at `start`, backtracking from the right.
fn email_re_domain_end(s: &[char], start: usize) -> Option<usize> {
    let end = start
        + run_len(s, start, |c| {
            c.is_ascii_alphanumeric() || c == '.' || c == '-'
        });
    (start + 1..end).rev().find_map(|dot| {
        let letters = run_len(&s[..end], dot + 1, |c| c.is_ascii_alphabetic());
        (s[dot] == '.' && letters >= 2).then(|| dot + 1 + letters.min(63))
    })
}

/// Odoo's `address_pattern.findall(text)` (`ir_mail_server`): `([^" ,<@]+@[^>" ,]+)`.
fn rfc2822_candidates(text: &str) -> Vec<String> {
    let s: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let at = i + run_len(&s, i, |c| !"\" ,<@".contains(c));
        if at == i {
            i += 1;
        } else if s.get(at) != Some(&'@') {
            i = at; // every start inside this run fails the same way
        } else {
            let end = at + 1 + run_len(&s, at + 1, |c| !">\" ,".contains(c));
            if end > at + 1 {
                found.push(s[i..end].iter().collect());
            }
            i = end;
        }
    }
    found
}

// ---------------------------------------------------------------------------------------
// odoo/tools/mail.py
// ---------------------------------------------------------------------------------------

/// The (display name, address) pairs found in `text` (a header value or an address list),
/// exactly as Odoo's `email_split_tuples`: Python's `getaddresses`, then only addresses
/// holding an `@`; when one of them starts with `@` (`'@gmail.com'`), every match of the
/// plain regex `[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,63}` instead (if any); and a
/// nameless address with spaces (`Name email@x`) is split again into name and address.
///
/// RFC 2047 encoded words are not decoded (Odoo decodes headers before calling it).
pub fn email_split_tuples(text: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = getaddresses(text)
        .into_iter()
        .filter(|(_, addr)| addr.contains('@'))
        .collect();
    if pairs.iter().any(|(_, addr)| addr.starts_with('@')) {
        let found = email_re_findall(text);
        if !found.is_empty() {
            pairs = found
                .into_iter()
                .map(|addr| (String::new(), addr))
                .collect();
        }
    }
    pairs.into_iter().map(parse_based_on_spaces).collect()
}

/// Odoo's `_parse_based_on_spaces`: `('', 'name email@x')` → `('name', 'email@x')`.
fn parse_based_on_spaces((name, email): (String, String)) -> (String, String) {
    if !name.is_empty() || !email.contains(' ') {
        return (name, email);
    }
    let mut name_parts = Vec::new();
    let mut found = None;
    for (_, addr) in getaddresses(&email.replace(' ', ",")) {
        if addr.contains('@') {
            found = Some(addr);
        } else if !addr.is_empty() {
            name_parts.push(addr);
        }
    }
    match found {
        Some(addr) => (name_parts.join(" "), addr),
        None => (name, email),
    }
}

/// The addresses found in `text` (Odoo's `email_split`).
pub fn email_split(text: &str) -> Vec<String> {
    email_split_tuples(text)
        .into_iter()
        .map(|(_, addr)| addr)
        .collect()
}

/// Each pair found in `text`, formatted with [`formataddr`] (Odoo's `email_split_and_format`).
pub fn email_split_and_format(text: &str) -> Vec<String> {
    email_split_tuples(text)
        .iter()
        .map(|(name, addr)| formataddr(name, addr))
        .collect()
}

/// Like [`email_split_and_format`] with each address normalised
/// (Odoo's `email_split_and_format_normalize`).
pub fn email_split_and_format_normalize(text: &str) -> Vec<String> {
    let pairs = email_split_tuples(text);
    pairs
        .iter()
        .map(|(name, addr)| formataddr(name, &normalize_one(addr)))
        .collect()
}

/// Odoo's `_normalize_email`: split at the last `@`; the local part is lower-cased only
/// when it is ASCII (SMTPUTF8 local parts are kept as they are); the domain is lower-cased.
fn normalize_one(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) if local.is_ascii() => {
            format!("{}@{}", local.to_ascii_lowercase(), domain.to_lowercase())
        }
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => email.to_lowercase(),
    }
}

/// The normalised address when `text` holds exactly one address, else `None`
/// (Odoo's `email_normalize(text, strict=True)`): `'Name <NaMe@DoMaIn.CoM>'` →
/// `name@domain.com`.
pub fn email_normalize(text: &str) -> Option<String> {
    match email_split(text).as_slice() {
        [one] => Some(normalize_one(one)),
        _ => None,
    }
}

/// The first address of `text`, normalised (Odoo's `email_normalize(text, strict=False)`):
/// how a partner whose e-mail field holds several addresses is found.
pub fn email_normalize_first(text: &str) -> Option<String> {
    email_split(text).first().map(|addr| normalize_one(addr))
}

/// Every address found in `text`, normalised (Odoo's `email_normalize_all`).
pub fn email_normalize_all(text: &str) -> Vec<String> {
    email_split(text)
        .iter()
        .map(|addr| normalize_one(addr))
        .collect()
}

/// The domain of the single address in `text`, normalised (Odoo's `email_domain_extract`:
/// the text between the first and the second `@` of the normalised address).
pub fn email_domain_extract(email: &str) -> Option<String> {
    let normalized = email_normalize(email)?;
    normalized.split('@').nth(1).map(str::to_owned)
}

/// `domain` lower-cased, or `None` when empty or holding an `@`
/// (Odoo's `email_domain_normalize`).
pub fn email_domain_normalize(domain: &str) -> Option<String> {
    (!domain.is_empty() && !domain.contains('@')).then(|| domain.to_lowercase())
}

/// `(name, address)` of a contact typed as text (Odoo's `parse_contact_from_email`):
/// `Raoul <raoul@grosbedon.fr>`, `"Raoul le Grand" <raoul@grosbedon.fr>` or
/// `Raoul raoul@grosbedon.fr`; the address is normalised when possible. Without any
/// address the whole text is the name; blank text gives two empty strings.
pub fn parse_contact_from_email(text: &str) -> (String, String) {
    if py_strip(text).is_empty() {
        return (String::new(), String::new());
    }
    match email_split_tuples(text).into_iter().next() {
        Some((name, email)) if !email.is_empty() => {
            let normalized = email_normalize_first(&email).unwrap_or(email);
            (name, normalized)
        }
        _ => (text.to_owned(), String::new()),
    }
}

/// Odoo's `formataddr((name, address))`, i.e. with its default `charset='utf-8'`. Every
/// Rust string is encodable in UTF-8, so nothing is encoded: no name →
/// `local@domain`; a name → `"name" <local@domain>` with `\` and `"` escaped, the name
/// being **always** quoted (unlike Python's own `email.utils.formataddr`). The address
/// is split at its last `@`; an address without `@` gives `@address`, as in Odoo.
///
/// For an ASCII-only header or envelope use [`formataddr_ascii`].
pub fn formataddr(name: &str, address: &str) -> String {
    let (local, domain) = rpartition_at(address);
    format_pair(name, local, domain)
}

/// Odoo's `formataddr((name, address), charset='ascii')`, as used to build the SMTP
/// envelope: a non-ASCII domain is IDNA-encoded (`joe@examplé.com` →
/// `joe@xn--exampl-gva.com`), a non-ASCII name becomes `=?utf-8?b?<base64>?=` (not
/// quoted), an ASCII name is quoted and escaped as in [`formataddr`]. The local part is
/// left as it is (non-ASCII needs SMTPUTF8). Fails when the domain cannot be IDNA-encoded.
pub fn formataddr_ascii(name: &str, address: &str) -> Result<String, AddressError> {
    let (local, domain) = rpartition_at(address);
    let domain = if domain.is_ascii() {
        domain.to_owned()
    } else {
        idna_encode(domain)?
    };
    if name.is_empty() || name.is_ascii() {
        return Ok(format_pair(name, local, &domain));
    }
    let encoded = base64_encode(name.as_bytes());
    Ok(format!("=?utf-8?b?{encoded}?= <{local}@{domain}>"))
}

/// Python's `address.rpartition('@')` without the separator.
fn rpartition_at(address: &str) -> (&str, &str) {
    address.rsplit_once('@').unwrap_or(("", address))
}

fn format_pair(name: &str, local: &str, domain: &str) -> String {
    if name.is_empty() {
        return format!("{local}@{domain}");
    }
    let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\" <{local}@{domain}>")
}

/// Python's `idna.encode(domain)` (IDNA 2008, without UTS-46 mapping), as Odoo's
/// `formataddr` calls it: labels split on the four Unicode full stops; ASCII labels kept
/// as they are (case included) once checked as LDH (or as a valid `xn--` A-label);
/// other labels must be non-empty, NFC, free of upper case and of anything UTS-46 would
/// map, made of letters, digits, marks and `-` (no leading mark, no `-` first, last or
/// 3rd-4th), then Punycode-encoded; a label is at most 63 bytes, the domain 253 (254
/// with the root dot). The exact IDNA 2008 tables (CONTEXTJ, CONTEXTO, bidi) are
/// approximated by these rules.
fn idna_encode(domain: &str) -> Result<String, AddressError> {
    let error = || AddressError::Idna(domain.to_owned());
    let mut labels: Vec<&str> = domain
        .split(['.', '\u{3002}', '\u{ff0e}', '\u{ff61}'])
        .collect();
    let root_dot = labels.len() > 1 && labels.last() == Some(&"");
    if root_dot {
        labels.pop();
    }
    let mut encoded = labels
        .iter()
        .map(|l| idna_label(l))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(error)?;
    if root_dot {
        encoded.push(String::new());
    }
    let encoded = encoded.join(".");
    let max_len = if root_dot { 254 } else { 253 };
    if encoded.len() > max_len {
        Err(error())
    } else {
        Ok(encoded)
    }
}

/// One label of [`idna_encode`]; `None` when Python's `idna` would refuse it.
fn idna_label(label: &str) -> Option<String> {
    let encoded = if label.is_ascii() {
        ascii_label_ok(label).then(|| label.to_owned())?
    } else if u_label_ok(label) {
        format!("xn--{}", idna::punycode::encode_str(label)?)
    } else {
        return None;
    };
    (encoded.len() <= 63).then_some(encoded)
}

/// An ASCII label: LDH, or an `xn--` label whose Punycode decodes to a valid U-label.
fn ascii_label_ok(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    match lower.strip_prefix("xn--") {
        Some(puny) => {
            !puny.is_empty()
                && !puny.ends_with('-')
                && idna::punycode::decode_to_string(puny).is_some_and(|u| u_label_ok(&u))
        }
        None => {
            hyphens_ok(&lower)
                && lower
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }
    }
}

/// A Unicode label (see [`idna_encode`]).
fn u_label_ok(label: &str) -> bool {
    let (mapped, result) = idna::domain_to_unicode(label);
    let valid_char = |c: char| c.is_alphanumeric() || c == '-' || canonical_combining_class(c) != 0;
    result.is_ok()
        && mapped == label
        && hyphens_ok(label)
        && label
            .chars()
            .next()
            .is_some_and(|c| canonical_combining_class(c) == 0)
        && label.chars().all(valid_char)
}

/// Non-empty, no `-` first or last, no `--` in 3rd and 4th position.
fn hyphens_ok(label: &str) -> bool {
    let third_fourth: String = label.chars().skip(2).take(2).collect();
    !label.is_empty() && !label.starts_with('-') && !label.ends_with('-') && third_fourth != "--"
}

/// Standard base64 with padding (RFC 4648), as Python's `base64.b64encode`.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let group = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(
                    ALPHABET[((group >> (18 - 6 * i)) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The SMTP recipients Odoo finds in a `To`/`Cc`/`Bcc` value (`extract_rfc2822_addresses`
/// of `ir_mail_server`): every match of `([^" ,<@]+@[^>" ,]+)`, formatted with
/// [`formataddr_ascii`] (IDNA domain); candidates whose domain cannot be encoded are skipped.
pub fn extract_rfc2822_addresses(text: &str) -> Vec<String> {
    let candidates = rfc2822_candidates(text);
    candidates
        .iter()
        .filter_map(|c| formataddr_ascii("", c).ok())
        .collect()
}

/// Odoo's `encapsulate_email(old, new)`, used when the From of an outgoing mail is
/// rewritten to the notifications address: `"Admin" <admin@gmail.com>` and
/// `notifications@odoo.com` give `"Admin" <notifications@odoo.com>`; without a display
/// name the old local part is the name. An empty `old` is returned as it is; an empty
/// `new` gives `None`.
pub fn encapsulate_email(old: &str, new: &str) -> Option<String> {
    let Some((old_name, old_email)) = getaddresses(old).into_iter().next() else {
        return Some(old.to_owned());
    };
    let (_, new_email) = getaddresses(new).into_iter().next()?;
    let name = if old_name.is_empty() {
        old_email.split('@').next().unwrap_or("")
    } else {
        &old_name
    };
    Some(formataddr(name, &new_email))
}

// ---------------------------------------------------------------------------------------
// mail.alias / mail.alias.domain
// ---------------------------------------------------------------------------------------

/// RFC 5322 `atext`, as in Odoo's `mail_alias.atext`.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// Whether `s` matches Odoo's dot-atom regex `^atext+(\.atext+)*$` (alias names and
/// alias-domain names): non-empty ASCII atoms separated by single dots.
///
/// Python's `$` also matches before a final `\n`, so Odoo accepts `"example.com\n"`;
/// this function does not (a line break must never reach a header).
pub fn is_dot_atom(s: &str) -> bool {
    s.split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// Odoo's `mail.alias._sanitize_alias_name(name, is_email)` (§1.3): strip; remove accents
/// (NFKD without combining marks); lower-case; keep what precedes the first `@`; drop
/// leading and trailing dots and collapse runs of dots; replace every run of characters
/// outside ``[\w!#$%&'*+\-/=?^_`{|}~.]`` by `-`; replace each remaining non-ASCII
/// character (a Unicode word character) by `?`. `None` when nothing is left. With
/// `is_email`, the lower-cased text after the first `@` of the stripped input is put back.
///
/// Without `is_email` the result is always a dot-atom (see [`is_dot_atom`]).
pub fn sanitize_alias_name(name: &str, is_email: bool) -> Option<String> {
    let stripped = py_strip(name);
    let lowered: String = remove_accents(stripped).to_lowercase();
    let left = lowered.split('@').next().unwrap_or("");
    let sanitized: String = replace_invalid_runs(&collapse_dots(left))
        .chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect();
    if py_strip(&sanitized).is_empty() {
        return None;
    }
    let right = stripped
        .to_lowercase()
        .split_once('@')
        .map(|(_, r)| r.to_owned());
    match right {
        Some(right) if is_email && !right.is_empty() => Some(format!("{sanitized}@{right}")),
        _ => Some(sanitized),
    }
}

/// Odoo's `tools.remove_accents`: NFKD, then drop every character with a non-zero
/// canonical combining class (`unicodedata.combining`).
fn remove_accents(s: &str) -> String {
    s.nfkd()
        .filter(|c| canonical_combining_class(*c) == 0)
        .collect()
}

/// `re.sub(r'^\.+|\.+$|\.+(?=\.)', '', s)`: no leading or trailing dot, no double dot.
/// Python's `$` also matches before a final `\n`, so dots there go too.
fn collapse_dots(s: &str) -> String {
    let (body, final_newline) = s.strip_suffix('\n').map_or((s, ""), |body| (body, "\n"));
    let mut out = String::with_capacity(s.len());
    for c in body.trim_matches('.').chars() {
        if !(c == '.' && out.ends_with('.')) {
            out.push(c);
        }
    }
    out + final_newline
}

/// `re.sub(r'[^\w!#$%&\'*+\-/=?^_`{|}~.]+', '-', s)` with Python's Unicode `\w`.
fn replace_invalid_runs(s: &str) -> String {
    let allowed = |c: char| is_py_word(c) || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if allowed(c) {
            out.push(c);
        } else if !in_run {
            out.push('-');
        }
        in_run = !allowed(c);
    }
    out
}

/// Python's `re` Unicode `\w` (`str.isalnum()` or `_`). Rust's `is_alphanumeric` is wider:
/// it also accepts the marks and symbols that are `Other_Alphabetic` (Indic vowel signs,
/// ...), which Python's `\w` rejects; [`ALNUM_NOT_PY_WORD`] lists them. Exact for the
/// characters NFKD leaves as they are, the only ones [`sanitize_alias_name`] asks about.
fn is_py_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    c.is_alphanumeric() && !in_ranges(ALNUM_NOT_PY_WORD, c)
}

fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    let cp = u32::from(c);
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Odoo's sanitising of `mail.catchall.domain.allowed` (`_sanitize_allowed_domains`, run
/// by `set_param`): split on `,`, strip, lower-case, drop empty entries, join with `,`.
/// An empty value clears the parameter (`Ok(None)`); a value without any domain
/// (`,`, `, ,`, `" "`) is refused.
pub fn sanitize_catchall_domain_allowed(value: &str) -> Result<Option<String>, AddressError> {
    if value.is_empty() {
        return Ok(None);
    }
    let domains: Vec<String> = value
        .split(',')
        .map(py_strip)
        .filter(|d| !d.is_empty())
        .map(str::to_lowercase)
        .collect();
    if domains.is_empty() {
        return Err(AddressError::InvalidAllowedDomains(value.to_owned()));
    }
    Ok(Some(domains.join(",")))
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

/// Code points (canonical combining class 0, without decomposition, assigned in Unicode
/// 14) that Rust's `char::is_alphanumeric` accepts and Python 3.11's `re` `\w` rejects:
/// `Other_Alphabetic` spacing and non-spacing marks and symbols. Generated with Python
/// 3.11 `unicodedata` (Unicode 14.0); adjacent ranges merged over code points that no
/// side calls a word character. Sorted, for binary search.
#[rustfmt::skip]
const ALNUM_NOT_PY_WORD: &[(u32, u32)] = &[
    (0x07A6, 0x07B0), (0x0900, 0x0903), (0x093A, 0x093B), (0x093E, 0x094F), (0x0955, 0x0957),
    (0x0962, 0x0963), (0x0981, 0x0983), (0x09BE, 0x09C8), (0x09D7, 0x09D7), (0x09E2, 0x09E3),
    (0x0A01, 0x0A03), (0x0A3E, 0x0A51), (0x0A70, 0x0A71), (0x0A75, 0x0A83), (0x0ABE, 0x0ACC),
    (0x0AE2, 0x0AE3), (0x0AFA, 0x0B03), (0x0B3E, 0x0B57), (0x0B62, 0x0B63), (0x0B82, 0x0B82),
    (0x0BBE, 0x0BC8), (0x0BD7, 0x0BD7), (0x0C00, 0x0C04), (0x0C3E, 0x0C4C), (0x0C62, 0x0C63),
    (0x0C81, 0x0C83), (0x0CBE, 0x0CD6), (0x0CE2, 0x0CE3), (0x0D00, 0x0D03), (0x0D3E, 0x0D48),
    (0x0D57, 0x0D57), (0x0D62, 0x0D63), (0x0D81, 0x0D83), (0x0DCF, 0x0DDF), (0x0DF2, 0x0DF3),
    (0x0E31, 0x0E31), (0x0E34, 0x0E37), (0x0E4D, 0x0E4D), (0x0EB1, 0x0EB1), (0x0EB4, 0x0EBC),
    (0x0ECD, 0x0ECD), (0x0F7E, 0x0F7F), (0x0F8D, 0x0FBC), (0x102B, 0x103E), (0x1056, 0x1059),
    (0x105E, 0x1060), (0x1062, 0x1064), (0x1067, 0x106D), (0x1071, 0x1074), (0x1082, 0x108C),
    (0x108F, 0x108F), (0x109A, 0x109D), (0x1712, 0x1713), (0x1732, 0x1733), (0x1752, 0x1753),
    (0x1772, 0x1773), (0x17B6, 0x17C8), (0x1885, 0x1886), (0x1920, 0x1938), (0x1A19, 0x1A1B),
    (0x1A55, 0x1A74), (0x1B00, 0x1B04), (0x1B35, 0x1B42), (0x1B80, 0x1B82), (0x1BA1, 0x1BAD),
    (0x1BE7, 0x1BF1), (0x1C24, 0x1C36), (0xA802, 0xA802), (0xA80B, 0xA80B), (0xA823, 0xA827),
    (0xA880, 0xA881), (0xA8B4, 0xA8C5), (0xA8FF, 0xA8FF), (0xA926, 0xA92A), (0xA947, 0xA952),
    (0xA980, 0xA983), (0xA9B4, 0xA9BF), (0xA9E5, 0xA9E5), (0xAA29, 0xAA36), (0xAA43, 0xAA43),
    (0xAA4C, 0xAA4D), (0xAA7B, 0xAA7D), (0xAAEB, 0xAAEF), (0xAAF5, 0xAAF5), (0xABE3, 0xABEA),
    (0x10A01, 0x10A0E), (0x11000, 0x11002), (0x11038, 0x11045), (0x11073, 0x11074),
    (0x11080, 0x11082), (0x110B0, 0x110C2), (0x11127, 0x11132), (0x11145, 0x11146),
    (0x11180, 0x11182), (0x111B3, 0x111BF), (0x111CE, 0x111CF), (0x1122C, 0x1123E),
    (0x112DF, 0x112E8), (0x11300, 0x11303), (0x1133E, 0x11348), (0x11357, 0x11357),
    (0x11362, 0x11363), (0x11435, 0x11445), (0x114B0, 0x114C1), (0x115AF, 0x115BE),
    (0x115DC, 0x115DD), (0x11630, 0x11640), (0x116AB, 0x116B5), (0x1171D, 0x1172A),
    (0x1182C, 0x11838), (0x11930, 0x1193C), (0x11940, 0x11940), (0x11942, 0x11942),
    (0x119D1, 0x119DF), (0x119E4, 0x119E4), (0x11A01, 0x11A0A), (0x11A35, 0x11A39),
    (0x11A3B, 0x11A3E), (0x11A51, 0x11A5B), (0x11A8A, 0x11A97), (0x11C2F, 0x11C3E),
    (0x11C92, 0x11CB6), (0x11D31, 0x11D43), (0x11D47, 0x11D47), (0x11D8A, 0x11D96),
    (0x11EF3, 0x11EF6), (0x16F4F, 0x16F4F), (0x16F51, 0x16F92), (0x1F150, 0x1F189),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, a)| ((*n).to_owned(), (*a).to_owned()))
            .collect()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Python's `getaddresses` quirks that Odoo's behaviour rests on.
    #[test]
    fn getaddresses_quirks() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("  ", &[("", "")]),
            ("John Doe", &[("", "John")]),
            ("(c) a@b.com", &[("c", "a@b.com")]),
            ("a (c) @b.com", &[("c c", "a@b.com")]),
            ("a (c) b@x.com", &[("c c", "a  b@x.com")]),
            ("\"a b\"@x.com", &[("", "\"a b\"@x.com")]),
            (
                "g: a@b, c@d;, e@f",
                &[("", "a@b"), ("", "c@d"), ("", "e@f")],
            ),
            ("Name <a(c)@b>", &[("Name (c)", "a@b")]),
            ("x <@route:a@b>", &[("x", "a@b")]),
            ("@gmail.com", &[("", "@gmail.com")]),
            ("a@b@c.com", &[("", ""), ("", "@c.com")]),
            (
                "\"Doe, John\" <j@x.com>, b@y.com",
                &[("Doe, John", "j@x.com"), ("", "b@y.com")],
            ),
            ("a@[1.2.3.4]", &[("", "a@[1.2.3.4]")]),
            ("((nested) comment) a@b.c", &[("nested comment", "a@b.c")]),
        ];
        for (input, expected) in cases {
            assert_eq!(getaddresses(input), pairs(expected), "input {input:?}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let groups = "g:".repeat(100_000);
        assert_eq!(email_split(&groups), Vec::<String>::new());
        let comments = format!("{}a@b.com", "(".repeat(100_000));
        assert_eq!(email_split(&comments), Vec::<String>::new());
    }

    /// Large hostile inputs stay (near) linear: a quadratic scan would time out here.
    #[test]
    fn large_inputs_are_fast() {
        let n = 100_000;
        let inputs = [
            "<".repeat(n),
            "a".repeat(n),
            "a@".repeat(n / 2),
            format!("{}@x", "a ".repeat(n / 2)),
            format!("@x {}", "a.".repeat(n / 2)),
            format!("@x a@{}", "a.".repeat(n / 2)),
            "\"a, ".repeat(n / 4),
            "(".repeat(n),
            ".@".repeat(n / 2),
        ];
        let start = std::time::Instant::now();
        for input in &inputs {
            let _ = email_split_and_format_normalize(input);
            let _ = extract_rfc2822_addresses(input);
            let _ = email_re_findall(input);
            let _ = sanitize_alias_name(input, true);
        }
        assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
    }

    /// Odoo `TestEmailTools.sources` with `test_email_split_tuples` and `test_email_re`.
    const SOURCES: &[&str] = &[
        "alfred.astaire@test.example.com",
        " alfred.astaire@test.example.com ",
        "Fredo The Great <alfred.astaire@test.example.com>",
        "\"Fredo The Great\" <alfred.astaire@test.example.com>",
        "Fredo \"The Great\" <alfred.astaire@test.example.com>",
        "alfred.astaire@test.example.com, evelyne.gargouillis@test.example.com",
        "Fredo The Great <alfred.astaire@test.example.com>, Evelyne The Goat <evelyne.gargouillis@test.example.com>",
        "\"Fredo The Great\" <alfred.astaire@test.example.com>, evelyne.gargouillis@test.example.com",
        "\"Fredo The Great\" <alfred.astaire@test.example.com>, <evelyne.gargouillis@test.example.com>",
        "Hello alfred.astaire@test.example.com how are you ?",
        "<p>Hello alfred.astaire@test.example.com</p>",
        "Hello \"Fredo\" <alfred.astaire@test.example.com>, evelyne.gargouillis@test.example.com",
        "Hello \"Fredo\" <alfred.astaire@test.example.com> and evelyne.gargouillis@test.example.com",
        "<p>Hello Fredo</p>",
        "j'adore écrire des @gmail.com ou \"@gmail.com\" a bit randomly",
        "",
    ];

    #[test]
    fn email_split_tuples_odoo_sources() {
        const A: &str = "alfred.astaire@test.example.com";
        const E: &str = "evelyne.gargouillis@test.example.com";
        let expected: &[&[(&str, &str)]] = &[
            &[("", A)],
            &[("", A)],
            &[("Fredo The Great", A)],
            &[("Fredo The Great", A)],
            &[("Fredo The Great", A)],
            &[("", A), ("", E)],
            &[("Fredo The Great", A), ("Evelyne The Goat", E)],
            &[("Fredo The Great", A), ("", E)],
            &[("Fredo The Great", A), ("", E)],
            &[("Hello", "alfred.astaire@test.example.comhowareyou?")],
            &[("Hello", A)],
            &[("Hello Fredo", A), ("", E)],
            &[("Hello Fredo", A), ("and", E)],
            &[],
            &[("j'adore écrire", "des@gmail.comou"), ("", "@gmail.com")],
            &[],
        ];
        for (source, expected) in SOURCES.iter().zip(expected) {
            assert_eq!(
                email_split_tuples(source),
                pairs(expected),
                "source {source:?}"
            );
        }
    }

    #[test]
    fn email_re_odoo_sources() {
        const A: &str = "alfred.astaire@test.example.com";
        const E: &str = "evelyne.gargouillis@test.example.com";
        let expected: &[&[&str]] = &[
            &[A],
            &[A],
            &[A],
            &[A],
            &[A],
            &[A, E],
            &[A, E],
            &[A, E],
            &[A, E],
            &[A],
            &[A],
            &[A, E],
            &[A, E],
            &[],
            &[],
            &[],
        ];
        for (source, expected) in SOURCES.iter().zip(expected) {
            assert_eq!(
                email_re_findall(source),
                strings(expected),
                "source {source:?}"
            );
        }
        assert_eq!(
            email_re_findall("x@a.bcd1@e.fg"),
            strings(&["x@a.bcd", "1@e.fg"])
        );
        let long_tld = format!("x@a.{}", "b".repeat(70));
        assert_eq!(
            email_re_findall(&long_tld),
            vec![format!("x@a.{}", "b".repeat(63))]
        );
    }

    /// Odoo `test_email_split`.
    #[test]
    fn email_split_odoo_cases() {
        let cases: &[(&str, &[&str])] = &[
            ("John <12345@gmail.com>", &["12345@gmail.com"]),
            ("d@x; 1@2", &["d@x", "1@2"]),
            (
                "'(ss)' <123@gmail.com>, 'foo' <foo@bar>",
                &["123@gmail.com", "foo@bar"],
            ),
            (
                "\"john@gmail.com\"<johnny@gmail.com>",
                &["johnny@gmail.com"],
            ),
            ("\"<jg>\" <johnny@gmail.com>", &["johnny@gmail.com"]),
            ("@gmail.com", &["@gmail.com"]),
            ("fr@ncois.th@notgmail.com", &["fr@ncois.th"]),
            (
                "f@r@nc.gz,ois@notgmail.com",
                &["r@nc.gz", "ois@notgmail.com"],
            ),
            (
                "@notgmail.com esteban_gnole@coldmail.com@notgmail.com",
                &["esteban_gnole@coldmail.com"],
            ),
            (
                "Ivan@dezotos.com Cc iv.an@notgmail.com",
                &["Ivan@dezotos.com", "iv.an@notgmail.com"],
            ),
            (
                "ivan-dredi@coldmail.com ivan.dredi@notgmail.com",
                &["ivan-dredi@coldmail.com", "ivan.dredi@notgmail.com"],
            ),
            (
                "@notgmail.com ivan@coincoin.com.ar jeanine@coincoin.com.ar",
                &["ivan@coincoin.com.ar", "jeanine@coincoin.com.ar"],
            ),
            (
                "@notgmail.com whoareyou@youhou.com.   ivan.dezotos@notgmail.com",
                &["whoareyou@youhou.com", "ivan.dezotos@notgmail.com"],
            ),
            (
                "francois@nc.gz CC: ois@notgmail.com ivan@dezotos.com",
                &["francois@nc.gz", "ois@notgmail.com", "ivan@dezotos.com"],
            ),
            (
                "francois@nc.gz CC: ois@notgmail.com,ivan@dezotos.com",
                &["francois@nc.gzCC", "ois@notgmail.com", "ivan@dezotos.com"],
            ),
            (
                "ivan.plein@dezotos.com / ivan.plu@notgmail.com",
                &["ivan.plein@dezotos.com", "ivan.plu@notgmail.com"],
            ),
            (
                "@notgmail.com ivan.parfois@notgmail.com/ ivan.souvent@notgmail.com",
                &["ivan.parfois@notgmail.com", "ivan.souvent@notgmail.com"],
            ),
            (
                "ivan@dezotos.com - ivan.dezotos@notgmail.com",
                &["ivan@dezotos.com", "ivan.dezotos@notgmail.com"],
            ),
            (
                "car.pool@notgmail.com - co (TAMBO) Registration car.warsh@notgmail.com",
                &["car.pool@notgmail.com", "car.warsh@notgmail.com"],
            ),
            // brief and reference examples
            ("\"Doe, John\" <j@x.com>, b@y.com", &["j@x.com", "b@y.com"]),
            (
                "\"Sylvie Lelitre\" <test.sylvie.lelitre@agrolait.com>",
                &["test.sylvie.lelitre@agrolait.com"],
            ),
            (
                "\"My Super Catchall\" <catchall.test@test.mycompany.com",
                &["catchall.test@test.mycompany.com"],
            ),
            (
                "MAILER-DAEMON@example.com (Mail Delivery System)",
                &["MAILER-DAEMON@example.com"],
            ),
            ("", &[]),
            ("no address here", &[]),
        ];
        for (source, expected) in cases {
            assert_eq!(email_split(source), strings(expected), "source {source:?}");
        }
    }

    /// Odoo `test_email_split_and_format`.
    #[test]
    fn email_split_and_format_odoo_cases() {
        let cases: &[(&str, &[&str])] = &[
            ("deboulonneur@example.com", &["deboulonneur@example.com"]),
            (
                "\"Super Déboulonneur\" <deboulonneur@example.com>",
                &["\"Super Déboulonneur\" <deboulonneur@example.com>"],
            ),
            (
                "Déboulonneur <deboulonneur@example.com",
                &["\"Déboulonneur\" <deboulonneur@example.com>"],
            ),
            (
                "Déboulonneur deboulonneur@example.com",
                &["\"Déboulonneur\" <deboulonneur@example.com>"],
            ),
            (
                "deboulonneur@example.com Déboulonneur",
                &["deboulonneur@example.comDéboulonneur"],
            ),
            (
                "Déboulonneur, deboulonneur@example.com",
                &["deboulonneur@example.com"],
            ),
            (
                "deboulonneur@example.com, deboulonneur2@example.com",
                &["deboulonneur@example.com", "deboulonneur2@example.com"],
            ),
            (
                " Déboulonneur deboulonneur@example.com déboulonneur deboulonneur2@example.com",
                &["deboulonneur@example.com", "deboulonneur2@example.com"],
            ),
            (
                "\"Déboulonneur\" <\"Déboulonneur Encapsulated\" <deboulonneur@example.com>>",
                &["deboulonneur@example.com"],
            ),
            (
                "\"Super Déboulonneur\" <deboulonneur@example.com>, \"Super Déboulonneur 2\" <deboulonneur2@example.com>",
                &[
                    "\"Super Déboulonneur\" <deboulonneur@example.com>",
                    "\"Super Déboulonneur 2\" <deboulonneur2@example.com>",
                ],
            ),
            (
                "\"Super Déboulonneur\" <deboulonneur@example.com>, wrong, ",
                &["\"Super Déboulonneur\" <deboulonneur@example.com>"],
            ),
            (
                "\"Déboulonneur 😊\" <deboulonneur@example.com>",
                &["\"Déboulonneur 😊\" <deboulonneur@example.com>"],
            ),
            (
                "\"Déboulonneur 😊\" <deboulonneur.😊@example.com>",
                &["\"Déboulonneur 😊\" <deboulonneur.😊@example.com>"],
            ),
            (
                "\"Déboulonneur\" <déboulonneur@examplé.com>",
                &["\"Déboulonneur\" <déboulonneur@examplé.com>"],
            ),
            // case 95 (cc_update_with_old)
            (
                "cc1 <cc1@example.com>, cc2@example.com",
                &["\"cc1\" <cc1@example.com>", "cc2@example.com"],
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(
                email_split_and_format(source),
                strings(expected),
                "source {source:?}"
            );
        }
        assert_eq!(
            email_split_and_format_normalize("\"Fredo\" <Fredo@EXAMPLE.com>, BOB@x.COM"),
            strings(&["\"Fredo\" <fredo@example.com>", "bob@x.com"])
        );
    }

    /// Odoo `test_email_normalize`, with the `formataddr` of each result in both charsets.
    #[test]
    fn email_normalize_odoo_cases() {
        const NAME: &str = "My Super Prénom";
        const NAME_B64: &str = "=?utf-8?b?TXkgU3VwZXIgUHLDqW5vbQ==?=";
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "\"Super Déboulonneur\" <deboulonneur@example.com>",
                Some("deboulonneur@example.com"),
                "<deboulonneur@example.com>",
            ),
            (
                "Déboulonneur deboulonneur@example.com",
                Some("deboulonneur@example.com"),
                "<deboulonneur@example.com>",
            ),
            (
                "deboulonneur@example.com Déboulonneur",
                Some("deboulonneur@example.comdéboulonneur"),
                "<deboulonneur@example.xn--comdboulonneur-ekb>",
            ),
            (
                "\"Super Déboulonneur\" <DEBOULONNEUR@example.com>, \"Super Déboulonneur 2\" <deboulonneur2@EXAMPLE.com>",
                None,
                "<@>",
            ),
            (
                " Déboulonneur deboulonneur@example.com déboulonneur deboulonneur2@example.com",
                None,
                "<@>",
            ),
            (
                "\"Déboulonneur 😊\" <deboulonneur.😊@example.com>",
                Some("deboulonneur.😊@example.com"),
                "<deboulonneur.😊@example.com>",
            ),
            (
                "\"Déboulonneur\" <déboulonneur@examplé.com>",
                Some("déboulonneur@examplé.com"),
                "<déboulonneur@xn--exampl-gva.com>",
            ),
            (
                "\"Déboulonneur\" <DéBoulonneur@Examplé.com>",
                Some("DéBoulonneur@examplé.com"),
                "<DéBoulonneur@xn--exampl-gva.com>",
            ),
        ];
        for (source, expected, ascii_addr) in cases {
            let normalized = email_normalize(source);
            assert_eq!(normalized.as_deref(), *expected, "source {source:?}");
            let address = expected.unwrap_or("");
            let utf8_addr = if address.is_empty() {
                "<@>".to_owned()
            } else {
                format!("<{address}>")
            };
            assert_eq!(formataddr(NAME, address), format!("\"{NAME}\" {utf8_addr}"));
            assert_eq!(
                formataddr_ascii(NAME, address).unwrap(),
                format!("{NAME_B64} {ascii_addr}")
            );
        }
        assert_eq!(
            email_normalize("Name <NaMe@DoMaIn.CoM>").as_deref(),
            Some("name@domain.com")
        );
        assert_eq!(email_normalize(""), None);
        assert_eq!(
            email_normalize_all("tony@e.com, \"Tony2\" <TONY2@e.com"),
            strings(&["tony@e.com", "tony2@e.com"])
        );
        assert_eq!(email_normalize_all(""), Vec::<String>::new());
    }

    #[test]
    fn email_domain_helpers() {
        assert_eq!(
            email_domain_normalize("Test.Com").as_deref(),
            Some("test.com")
        );
        assert_eq!(email_domain_normalize("email@test.com"), None);
        assert_eq!(email_domain_normalize(""), None);
        assert_eq!(
            email_domain_extract("info@proximus.be").as_deref(),
            Some("proximus.be")
        );
        assert_eq!(
            email_domain_extract("\"Info\" <INFO@Proximus.BE>").as_deref(),
            Some("proximus.be")
        );
        assert_eq!(email_domain_extract("a@b.com, c@d.com"), None);
        assert_eq!(email_domain_extract("nothing"), None);
    }

    /// Odoo `test_email_formataddr` (both charsets) and the reference's examples.
    #[test]
    fn formataddr_odoo_cases() {
        let base = "joe@example.com";
        let idna = "joe@examplé.com";
        // (name, address, utf-8 result, ascii result)
        let cases: &[(&str, &str, &str, &str)] = &[
            ("", base, "joe@example.com", "joe@example.com"),
            (
                "joe",
                base,
                "\"joe\" <joe@example.com>",
                "\"joe\" <joe@example.com>",
            ),
            (
                "joe doe",
                base,
                "\"joe doe\" <joe@example.com>",
                "\"joe doe\" <joe@example.com>",
            ),
            (
                "joe\"doe",
                base,
                "\"joe\\\"doe\" <joe@example.com>",
                "\"joe\\\"doe\" <joe@example.com>",
            ),
            (
                "joe\\doe",
                base,
                "\"joe\\\\doe\" <joe@example.com>",
                "\"joe\\\\doe\" <joe@example.com>",
            ),
            (
                "joé",
                base,
                "\"joé\" <joe@example.com>",
                "=?utf-8?b?am/DqQ==?= <joe@example.com>",
            ),
            ("", idna, "joe@examplé.com", "joe@xn--exampl-gva.com"),
            (
                "joé",
                idna,
                "\"joé\" <joe@examplé.com>",
                "=?utf-8?b?am/DqQ==?= <joe@xn--exampl-gva.com>",
            ),
            ("", "joé@example.com", "joé@example.com", "joé@example.com"),
            (
                "Sylvie Lelitre",
                "test.sylvie.lelitre@agrolait.com",
                "\"Sylvie Lelitre\" <test.sylvie.lelitre@agrolait.com>",
                "\"Sylvie Lelitre\" <test.sylvie.lelitre@agrolait.com>",
            ),
            ("", "robert", "@robert", "@robert"),
            ("x", "", "\"x\" <@>", "\"x\" <@>"),
        ];
        for (name, address, utf8, ascii) in cases {
            assert_eq!(
                formataddr(name, address),
                *utf8,
                "utf-8 {name:?} {address:?}"
            );
            assert_eq!(
                formataddr_ascii(name, address).as_deref(),
                Ok(*ascii),
                "ascii {name:?} {address:?}"
            );
        }
        assert!(formataddr_ascii("", "a@exa_mplé.com").is_err());
        assert!(formataddr_ascii("", "a@Éxample.com").is_err());
        assert_eq!(
            formataddr_ascii("", "a@examplé.COM").as_deref(),
            Ok("a@xn--exampl-gva.COM")
        );
        assert_eq!(
            formataddr_ascii("", "a@é.com.").as_deref(),
            Ok("a@xn--9ca.com.")
        );
    }

    #[test]
    fn base64_matches_rfc4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
        ];
        for (input, expected) in cases {
            assert_eq!(base64_encode(input.as_bytes()), expected);
        }
    }

    /// Odoo `test_extract_rfc2822_addresses` and case 110 (send_email_IDNA).
    #[test]
    fn extract_rfc2822_addresses_odoo_cases() {
        let cases: &[(&str, &[&str])] = &[
            ("\"Admin\" <admin@example.com>", &["admin@example.com"]),
            (
                "\"Admin\" <admin@example.com>, Demo <demo@test.com>",
                &["admin@example.com", "demo@test.com"],
            ),
            ("admin@example.com", &["admin@example.com"]),
            (
                "\"Admin\" <admin@example.com>, Demo <malformed email>",
                &["admin@example.com"],
            ),
            ("admin@éxample.com", &["admin@xn--xample-9ua.com"]),
            (
                "\"admin@éxample.com\" <admin@éxample.com>",
                &["admin@xn--xample-9ua.com", "admin@xn--xample-9ua.com"],
            ),
            (
                "\"Robert Le Grand\" <robert@notgmail.com>",
                &["robert@notgmail.com"],
            ),
            (
                "\"robert@notgmail.com\" <robert@notgmail.com>",
                &["robert@notgmail.com", "robert@notgmail.com"],
            ),
            (
                "DéBoulonneur@examplé.com",
                &["DéBoulonneur@xn--exampl-gva.com"],
            ),
            ("test@ééééééé.com", &["test@xn--9caaaaaaa.com"]),
            ("dest@éxample.com", &["dest@xn--xample-9ua.com"]),
            ("x@exa_mplé.com, y@z.com", &["y@z.com"]),
            ("", &[]),
        ];
        for (source, expected) in cases {
            assert_eq!(
                extract_rfc2822_addresses(source),
                strings(expected),
                "source {source:?}"
            );
        }
    }

    /// §9.5 worked examples of the From rewriting.
    #[test]
    fn encapsulate_email_cases() {
        let notif = "notifications.test@test.mycompany.com";
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "\"Name\" <test@unknown_domain.com>",
                notif,
                Some("\"Name\" <notifications.test@test.mycompany.com>"),
            ),
            (
                "test@unknown_domain.com",
                notif,
                Some("\"test\" <notifications.test@test.mycompany.com>"),
            ),
            (
                "specific_user@test.com",
                "test@custom_domain.com",
                Some("\"specific_user\" <test@custom_domain.com>"),
            ),
            (
                "\"Admin\" <admin@gmail.com>",
                "notifications@odoo.com",
                Some("\"Admin\" <notifications@odoo.com>"),
            ),
            ("", notif, Some("")),
            ("a@b.com", "", None),
        ];
        for (old, new, expected) in cases {
            assert_eq!(
                encapsulate_email(old, new).as_deref(),
                *expected,
                "{old:?} {new:?}"
            );
        }
    }

    #[test]
    fn parse_contact_from_email_cases() {
        let cases: &[(&str, (&str, &str))] = &[
            (
                "Raoul <raoul@grosbedon.fr>",
                ("Raoul", "raoul@grosbedon.fr"),
            ),
            (
                "\"Raoul le Grand\" <raoul@grosbedon.fr>",
                ("Raoul le Grand", "raoul@grosbedon.fr"),
            ),
            ("Raoul raoul@GROSBEDON.fr", ("Raoul", "raoul@grosbedon.fr")),
            ("Raoul", ("Raoul", "")),
            ("  ", ("", "")),
        ];
        for (text, (name, email)) in cases {
            assert_eq!(
                parse_contact_from_email(text),
                ((*name).to_owned(), (*email).to_owned()),
                "{text:?}"
            );
        }
    }

    /// §1.1 and case 151: alias-domain names.
    #[test]
    fn dot_atom_cases() {
        let valid = [
            "test.mycompany.com",
            "a",
            "b4r+=*r3wl_#_-$-{}-~|-/!?&%^'-`~",
            "x.y.z",
        ];
        let invalid = [
            "outlook.fr, gmail.com",
            "provaïder",
            "provaïder.cöm",
            "",
            " ",
            ".a",
            "a.",
            "a..b",
            "a b",
        ];
        for s in valid {
            assert!(is_dot_atom(s), "{s:?} should be a dot-atom");
        }
        for s in invalid {
            assert!(!is_dot_atom(s), "{s:?} should not be a dot-atom");
        }
        assert!(
            !is_dot_atom("example.com\n"),
            "deliberate divergence from Python's `$`"
        );
    }

    /// §1.3, cases 143 and 151 (`test_alias_name_sanitize`, `test_alias_domain_parameters*`).
    #[test]
    fn sanitize_alias_name_odoo_cases() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            ("bidule...inc.", false, Some("bidule.inc")),
            (
                "b4r+=*R3wl_#_-$€{}[]()~|\\/!?&%^'\"`~",
                false,
                Some("b4r+=*r3wl_#_-$-{}-~|-/!?&%^'-`~"),
            ),
            ("hélène.prôvâïder", false, Some("helene.provaider")),
            ("😊", false, Some("-")),
            ("Déboulonneur 😊", false, Some("deboulonneur-")),
            ("ぁ", false, Some("?")),
            (".", false, None),
            ("", false, None),
            (" ", false, None),
            ("Alias Name", false, Some("alias-name")),
            ("Updated Alias Name", false, Some("updated-alias-name")),
            ("trying a name", false, Some("trying-a-name")),
            ("test.alias.2.éè#", false, Some("test.alias.2.ee#")),
            ("bounce+double.test", false, Some("bounce+double.test")),
            // case 151: bounce / catchall (is_email False) and default_from (is_email True)
            (
                "bounce+b4r=*R3wl_#_-$€{}[]()~|\\/!?&%^'\"`~",
                false,
                Some("bounce+b4r=*r3wl_#_-$-{}-~|-/!?&%^'-`~"),
            ),
            (
                "catchall+b4r=*R3wl_#_-$€{}[]()~|\\/!?&%^'\"`~",
                false,
                Some("catchall+b4r=*r3wl_#_-$-{}-~|-/!?&%^'-`~"),
            ),
            (
                "notifications+b4r=*R3wl_#_-$€{}[]()~|\\/!?&%^'\"`~",
                true,
                Some("notifications+b4r=*r3wl_#_-$-{}-~|-/!?&%^'-`~"),
            ),
            ("bounce+😊", false, Some("bounce+-")),
            ("catchall+😊", false, Some("catchall+-")),
            ("notifications+😊", true, Some("notifications+-")),
            ("Bouncâïde 😊", false, Some("bouncaide-")),
            ("Catchôïee 😊", false, Some("catchoiee-")),
            ("Notificâtïons 😊", true, Some("notifications-")),
            ("ぁぁ", false, Some("??")),
            ("ぁぁぁ", true, Some("???")),
            ("bounce@wrong.complete.com", false, Some("bounce")),
            ("catchall@wrong.complete.com", false, Some("catchall")),
            (
                "notifications@valid.complete.com",
                true,
                Some("notifications@valid.complete.com"),
            ),
            ("", true, None),
            (" ", true, None),
            // Python quirks: `$` before a final newline; runs after a literal `-`
            ("a.\n@x", false, Some("a-")),
            ("a- b", false, Some("a--b")),
            ("Notif@Valid.COM ", true, Some("notif@valid.com")),
            ("@x.com", true, None),
            // Indic vowel signs are not `\w` in Python (Rust calls them alphabetic)
            ("हिन्दी", false, Some("?-??-")),
        ];
        for (name, is_email, expected) in cases {
            assert_eq!(
                sanitize_alias_name(name, *is_email).as_deref(),
                *expected,
                "{name:?} is_email={is_email}"
            );
        }
    }

    #[test]
    fn python_word_characters() {
        assert!(ALNUM_NOT_PY_WORD.windows(2).all(|w| w[0].1 < w[1].0));
        assert!(ALNUM_NOT_PY_WORD.iter().all(|(lo, hi)| lo <= hi));
        for c in ['a', 'Z', '0', '_', 'é', 'क', 'ぁ', '茢', '٣'] {
            assert!(is_py_word(c), "{c:?} is \\w in Python");
        }
        for c in ['-', ' ', '😊', '€', '\u{93e}', '\u{e31}', '\u{102b}'] {
            assert!(!is_py_word(c), "{c:?} is not \\w in Python");
        }
    }

    /// Case 140 (`test_domain_allowed_validation`).
    #[test]
    fn catchall_domain_allowed_cases() {
        for value in [",", ",,", ", ,", " "] {
            let err = sanitize_catchall_domain_allowed(value).unwrap_err();
            assert_eq!(err, AddressError::InvalidAllowedDomains(value.to_owned()));
            assert!(err.to_string().contains("cannot be validated"));
        }
        let cases: &[(&str, Option<&str>)] = &[
            ("", None),
            ("hello.com", Some("hello.com")),
            ("hello.com,,", Some("hello.com")),
            ("hello.com,bonjour.com", Some("hello.com,bonjour.com")),
            ("hello.COM, BONJOUR.com", Some("hello.com,bonjour.com")),
        ];
        for (value, expected) in cases {
            assert_eq!(
                sanitize_catchall_domain_allowed(value).unwrap().as_deref(),
                *expected,
                "{value:?}"
            );
        }
    }

    #[test]
    fn email_address_newtype() {
        let addr =
            EmailAddress::parse("\"Sylvie Lelitre\" <Test.Sylvie.Lelitre@AgroLait.com>").unwrap();
        assert_eq!(addr.as_str(), "test.sylvie.lelitre@agrolait.com");
        assert_eq!(addr.local_part(), "test.sylvie.lelitre");
        assert_eq!(addr.domain(), "agrolait.com");
        assert_eq!(addr.to_string(), "test.sylvie.lelitre@agrolait.com");
        assert_eq!("a@b.c".parse::<EmailAddress>().unwrap().as_str(), "a@b.c");
        assert_eq!(
            EmailAddress::parse("robert"),
            Err(AddressError::NoAddress("robert".to_owned()))
        );
        assert!(matches!(
            EmailAddress::parse("a@b.c, d@e.f"),
            Err(AddressError::SeveralAddresses { count: 2, .. })
        ));
        assert_eq!(
            String::from(addr.clone()),
            "test.sylvie.lelitre@agrolait.com"
        );
        let malformed = ["\"a\nb\"@x.com", "g:\"Cc@x@ß.é"];
        for text in malformed {
            let parsed = EmailAddress::parse(text);
            assert!(
                matches!(parsed, Err(AddressError::Malformed(_))),
                "{text:?}: {parsed:?}"
            );
        }
    }

    #[test]
    fn email_address_serde() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StringDeserializer};
        let de: StringDeserializer<Error> = "Bob <BOB@Example.com>".to_owned().into_deserializer();
        assert_eq!(
            EmailAddress::deserialize(de).unwrap().as_str(),
            "bob@example.com"
        );
        let de: StringDeserializer<Error> = "not an address".to_owned().into_deserializer();
        assert!(EmailAddress::deserialize(de).is_err());
    }

    fn simple_address() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9._%+-]{1,20}@[a-zA-Z0-9-]{1,10}(\\.[a-zA-Z]{2,6}){1,2}"
    }

    proptest! {
        #[test]
        fn no_panic_on_any_input(s in "\\PC{0,40}|[ -~\\t\\r\\n]{0,40}") {
            let _ = email_split_tuples(&s);
            let _ = email_split_and_format_normalize(&s);
            let _ = email_normalize_all(&s);
            let _ = email_domain_extract(&s);
            let _ = formataddr_ascii(&s, &s);
            let _ = extract_rfc2822_addresses(&s);
            let _ = encapsulate_email(&s, &s);
            let _ = parse_contact_from_email(&s);
            let _ = sanitize_alias_name(&s, true);
            let _ = sanitize_catchall_domain_allowed(&s);
        }

        #[test]
        fn email_address_reparses_to_itself(s in "\\PC{0,30}|[ -~\\t\\n]{0,30}|[a-z@.<> \"(),:;]{0,20}") {
            if let Ok(addr) = EmailAddress::parse(&s) {
                prop_assert_eq!(EmailAddress::parse(addr.as_str()), Ok(addr.clone()));
                prop_assert!(addr.as_str().contains('@'));
            }
        }

        #[test]
        fn normalize_simple_address_is_lowercase_and_idempotent(addr in simple_address()) {
            let normalized = email_normalize(&addr);
            prop_assert_eq!(normalized.clone(), Some(addr.to_lowercase()));
            let again = email_normalize(normalized.as_deref().unwrap_or_default());
            prop_assert_eq!(again, normalized);
        }

        #[test]
        fn formataddr_then_split_round_trips(name in "[^\\r]{0,15}", addr in simple_address()) {
            let formatted = formataddr(&name, &addr);
            prop_assert_eq!(email_split_tuples(&formatted), vec![(name, addr)]);
        }

        #[test]
        fn formatted_lists_split_back(list in prop::collection::vec(("[a-zA-Z ,;:<>()@\"\\\\é]{0,10}", simple_address()), 1..5)) {
            let header = list.iter().map(|(n, a)| formataddr(n, a)).collect::<Vec<_>>().join(", ");
            prop_assert_eq!(email_split_tuples(&header), list);
        }

        #[test]
        fn sanitized_alias_name_is_dot_atom_and_stable(name in "\\PC{0,20}|[ -~]{0,20}") {
            if let Some(sanitized) = sanitize_alias_name(&name, false) {
                prop_assert!(is_dot_atom(&sanitized), "{:?} -> {:?}", name, sanitized);
                prop_assert_eq!(sanitize_alias_name(&sanitized, false), Some(sanitized));
            }
        }

        #[test]
        fn formataddr_ascii_is_ascii_for_ascii_local_parts(name in "\\PC{0,10}", local in "[a-z0-9.]{1,8}", domain in "[a-zé]{1,8}\\.[a-z]{2,4}") {
            if let Ok(formatted) = formataddr_ascii(&name, &format!("{local}@{domain}")) {
                prop_assert!(formatted.is_ascii(), "{}", formatted);
            }
        }
    }
}
