//! Small HTML helpers the mail texts need: escaping, and Odoo's "is this HTML empty" test.

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The lower-case name of a tag (`/P class=x` → `p`).
fn tag_name(tag: &str) -> String {
    tag.trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Odoo's `is_html_empty`: true when the HTML holds only `p`, `div`, `section`, `span`, `br`,
/// `b`, `i` and `font` tags (with any attributes) and white space (§8.3).
pub fn is_html_empty(html: &str) -> bool {
    const EMPTY_TAGS: &[&str] = &["p", "div", "section", "span", "br", "b", "i", "font"];
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        if !rest[..start].trim().is_empty() {
            return false;
        }
        let Some(end) = rest[start..].find('>') else {
            return false;
        };
        let tag = &rest[start + 1..start + end];
        let name = tag_name(tag);
        if !EMPTY_TAGS.contains(&name.as_str()) {
            return false;
        }
        rest = &rest[start + end + 1..];
    }
    rest.trim().is_empty()
}

/// Odoo's `html2plaintext`, for the text alternative of outgoing mail: tags dropped, block
/// ends and `<br>` as line breaks, links as `text [n]` with `[n] url` listed at the end,
/// entities decoded, blank lines collapsed.
///
/// Written here rather than with html2text: outgoing bodies are the application's own simple
/// HTML, and html5ever would add minutes to every cold build on the project's 2-core machine.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut links: Vec<String> = Vec::new();
    let mut pending_link: Option<String> = None;
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while let Some(start) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&decode_entities(&rest[..start]));
        }
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        let closing = tag.starts_with('/');
        let name = tag_name(tag);
        if let Some(until) = skip_until {
            if closing && name == until {
                skip_until = None;
            }
            continue;
        }
        match (name.as_str(), closing) {
            ("script" | "style" | "head" | "title", false) => {
                skip_until = Some(match name.as_str() {
                    "script" => "script",
                    "style" => "style",
                    "head" => "head",
                    _ => "title",
                })
            }
            ("br", _) => out.push('\n'),
            (
                "p" | "div" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "ul" | "ol"
                | "table" | "blockquote",
                true,
            ) => out.push('\n'),
            ("li", false) => out.push_str("\n* "),
            ("a", false) => pending_link = attribute(tag, "href"),
            ("a", true) => {
                if let Some(url) = pending_link.take()
                    && !url.starts_with('#')
                    && !url.starts_with("mailto:")
                {
                    links.push(url);
                    out.push_str(&format!(" [{}]", links.len()));
                }
            }
            _ => {}
        }
    }
    if skip_until.is_none() {
        out.push_str(&decode_entities(rest));
    }
    let mut text = collapse_blank_lines(&out);
    if !links.is_empty() {
        text.push_str("\n\n");
        for (i, url) in links.iter().enumerate() {
            text.push_str(&format!("[{}] {url}\n", i + 1));
        }
        text = text.trim_end().to_owned();
    }
    text
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))? + name.len() + 1;
    let value = &tag[at..];
    let (quote, body) = match value.chars().next()? {
        q @ ('"' | '\'') => (Some(q), &value[1..]),
        _ => (None, value),
    };
    let end = match quote {
        Some(q) => body.find(q)?,
        None => body.find(char::is_whitespace).unwrap_or(body.len()),
    };
    Some(decode_entities(&body[..end]))
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(semi) = tail.find(';').filter(|s| *s <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn collapse_blank_lines(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_html_cases_of_the_reference() {
        for empty in [
            "",
            "<p><br></p>",
            "<p><br> </p>",
            "<p><br /></p >",
            "<p style=\"margin: 4px\"></p>",
            "<div style=\"margin: 4px\"></div>",
            "<p class=\"oe_testing\"><br></p>",
            "<p><span style=\"font-weight: bolder;\"><font style=\"color: rgb(255, 0, 0);\"><br></font></span></p>",
        ] {
            assert!(is_html_empty(empty), "{empty:?}");
        }
        for full in [
            "<p>What Is Dead May Never Die</p>",
            "text",
            "<img src=x>",
            "<p>a</p>",
        ] {
            assert!(!is_html_empty(full), "{full:?}");
        }
    }

    #[test]
    fn h103_content_mail_body() {
        assert_eq!(html_to_text("content"), "content");
        assert_eq!(html_to_text("<p>content</p>"), "content");
        assert_eq!(
            html_to_text(
                "<!DOCTYPE html><html><head><title>T</title></head><body><p>content</p></body></html>"
            ),
            "content"
        );
        let links = html_to_text(
            "<p>Hello</p><ul><li><a href=\"http://google.com\">google</a></li><li><a href=\"https://x.example\">x &amp; y</a></li></ul>",
        );
        assert_eq!(
            links,
            "Hello\n\n* google [1]\n* x & y [2]\n\n[1] http://google.com\n[2] https://x.example"
        );
        assert_eq!(html_to_text("a<br>b&nbsp;&#233;"), "a\nb é");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
        );
    }
}
