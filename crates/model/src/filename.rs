//! Attachment file names as Postern keeps and serves them: one name, no path, no control
//! character, whatever a sender or an API client gave.
//!
//! Why: a name is later a download's `Content-Disposition`, a file an application writes, a
//! line of a listing. `../../etc/passwd` must not climb a directory there, and a control
//! character must not break a header or a terminal.

/// The name to keep for an attachment named `name`: its last path component (after `/` or
/// `\`), control characters (C0, DEL, C1, and the Unicode line and paragraph separators) as
/// `_`, outer white space trimmed; `attachment` when nothing is left, or only dots.
pub fn safe_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.chars().all(|c| c == '.') {
        "attachment".to_owned()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_filename;

    #[test]
    fn paths_and_control_characters_are_taken_out() {
        for (given, kept) in [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("..\\..\\windows\\win.ini", "win.ini"),
            ("/abs/olute.txt", "olute.txt"),
            ("a\0b\r\nc\x1b[31m.txt", "a_b__c_[31m.txt"),
            ("line\u{2028}sep\u{85}.txt", "line_sep_.txt"),
            ("..", "attachment"),
            ("dir/", "attachment"),
            ("  ", "attachment"),
            ("Résumé ünïcode.pdf", "Résumé ünïcode.pdf"),
        ] {
            assert_eq!(safe_filename(given), kept, "{given:?}");
        }
    }
}
