//! Odoo's raw test messages, copied in `crates/mime/tests/templates/`: Python `str.format`
//! templates (`NAME.eml.tmpl`, filled with [`format`]) and two expected results (`.bin`).
//! `MAIL_XHTML` is taken as it is: its CSS braces are not placeholders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Odoo's `MockEmail.format` defaults (addons/mail/tests/common.py), but for `charset` and
/// `content`, which each user of the templates gives its own values.
pub const ODOO_DEFAULTS: &[(&str, &str)] = &[
    ("to", "groups@example.com, other@gmail.com"),
    ("subject", "Frogs"),
    (
        "email_from",
        "Sylvie Lelitre <test.sylvie.lelitre@agrolait.com>",
    ),
    ("return_path", "<whatever-2a840@postmaster.twitter.com>"),
    ("cc", ""),
    ("extra", ""),
    (
        "msg_id",
        "<1198923581.41972151344608186760.JavaMail@agrolait.com>",
    ),
    ("references", ""),
    ("date", "Fri, 10 Aug 2012 14:16:26 +0000"),
    ("extra_html", ""),
    ("email_to", "groups@example.com"),
    ("delivered_to", "groups@example.com"),
    ("pdf_mime", "application/pdf"),
];

/// The directory of the templates.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mime/tests/templates")
}

/// The bytes of the file `file` of the directory (a template or an expected result).
pub fn bytes(file: &str) -> Vec<u8> {
    let path = dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names of the templates (without `.eml.tmpl`), sorted.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("crates/mime/tests/templates")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".eml.tmpl").map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Python's `str.format(**values)` for named fields: `{name}` is replaced by `value(name)`,
/// `{{` and `}}` are literal braces; a name without a value is a test bug (a panic).
pub fn format<'a>(template: &str, value: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let v =
                    value(&name).unwrap_or_else(|| panic!("no value for placeholder {{{name}}}"));
                out.push_str(v);
            }
            c => out.push(c),
        }
    }
    out
}

/// The template `name` filled with `values` (`MAIL_XHTML` as it is).
pub fn render(name: &str, values: &BTreeMap<&str, &str>) -> Vec<u8> {
    let raw = bytes(&format!("{name}.eml.tmpl"));
    if name == "MAIL_XHTML" {
        return raw;
    }
    let text = String::from_utf8(raw).expect("templates are UTF-8");
    format(&text, |k| values.get(k).copied()).into_bytes()
}
