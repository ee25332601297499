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
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if !EMPTY_TAGS.contains(&name.as_str()) {
            return false;
        }
        rest = &rest[start + end + 1..];
    }
    rest.trim().is_empty()
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
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
        );
    }
}
