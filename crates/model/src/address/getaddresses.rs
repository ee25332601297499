//! Python's `email.utils.getaddresses` in its non-strict form, ported from
//! `email/_parseaddr.py` (`AddrlistClass`), with the few `str` helpers of Python that the
//! other address modules share.

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
pub(super) fn py_strip(s: &str) -> &str {
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
pub(super) fn getaddresses(text: &str) -> Vec<(String, String)> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut parser = AddrParser::new(text);
    let pairs = parser.get_addr_list();
    if parser.too_deep { Vec::new() } else { pairs }
}
