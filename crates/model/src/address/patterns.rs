//! The two regular expressions of Odoo's address tools, as hand-written matchers with the
//! same leftmost, greedy, backtracking results.

/// Length of the run of `class` characters starting at `from`.
fn run_len(s: &[char], from: usize, class: impl Fn(char) -> bool) -> usize {
    s.get(from..)
        .map_or(0, |rest| rest.iter().take_while(|c| class(**c)).count())
}

/// Odoo's `email_re.findall(text)`:
/// `[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,63}`.
pub(super) fn email_re_findall(text: &str) -> Vec<String> {
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
pub(super) fn rfc2822_candidates(text: &str) -> Vec<String> {
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
