//! HTML bodies cleaned as the reference's `html_sanitize(body, sanitize_tags=False,
//! strip_classes=True)` cleans an incoming mail (behaviour reference §3.4), with ammonia (an
//! allow-list sanitizer on html5ever) rather than a filter of our own.
//!
//! What the reference removes, this removes: the page structure (`<!DOCTYPE>`, `<html>`,
//! `<head>` with its `<title>`, `<meta>` and `<link>`, `<body>` — their content is kept),
//! `<script>`, `<style>`, `<iframe>`, `<object>`, `<embed>`, `<frame>`, `<noscript>` and
//! `<base>` with their content, forms, event attributes (`onclick`, ...), `javascript:` links and
//! every `class`. What it keeps: the tags and the presentational attributes mail is written
//! with (`style`, `align`, `bgcolor`, `width`, `font`, tables, ...). Differences, on purpose:
//! comments are dropped (the reference keeps them; conditional comments it drops too), and an
//! attribute outside the list below is dropped (the reference keeps any attribute that is not an
//! event handler).
//!
//! `<img src="cid:X">` is kept only when an attachment of the message has the Content-ID `X`:
//! the gateway points it at that attachment once it is stored, so that no `cid:` is left.

use std::collections::HashSet;

/// Tags dropped with everything inside them (the reference's `kill_tags`, plus `<head>` whose
/// page structure it removes).
const KILLED: &[&str] = &[
    "script", "style", "head", "title", "noscript", "iframe", "frame", "frameset", "object",
    "embed", "applet", "base", "link", "meta", "template",
];

/// Tags kept, beyond ammonia's defaults: the presentational HTML that mail is written with.
const EXTRA_TAGS: &[&str] = &[
    "font", "center", "big", "small", "tt", "strike", "nobr", "wbr",
];

/// Attributes kept on any tag.
const GENERIC_ATTRIBUTES: &[&str] = &[
    "style",
    "align",
    "valign",
    "bgcolor",
    "background",
    "width",
    "height",
    "border",
    "cellpadding",
    "cellspacing",
    "color",
    "face",
    "size",
    "colspan",
    "rowspan",
    "dir",
    "lang",
    "title",
    "alt",
    "name",
    "target",
    "nowrap",
    "span",
    "start",
    "type",
    "summary",
    "headers",
    "scope",
    "abbr",
    "clear",
    "hspace",
    "vspace",
    "rules",
    "frame",
    "cite",
    "datetime",
    "value",
];

/// `html` cleaned; `cids` are the Content-IDs of the message's attachments (without `<>`).
pub(crate) fn html(html: &str, cids: &[&str]) -> String {
    // One builder for the process (building one costs more than cleaning a short body); the
    // Content-IDs of the message being cleaned reach its filter through this thread.
    CIDS.with(|set| {
        let mut set = set.borrow_mut();
        set.clear();
        set.extend(cids.iter().map(|c| c.to_ascii_lowercase()));
    });
    let cleaned = BUILDER.clean(html).to_string();
    CIDS.with(|set| set.borrow_mut().clear());
    cleaned
}

thread_local! {
    /// The Content-IDs of the message [`html`] is cleaning on this thread, lower-case.
    static CIDS: std::cell::RefCell<HashSet<String>> = std::cell::RefCell::new(HashSet::new());
}

static BUILDER: std::sync::LazyLock<ammonia::Builder<'static>> = std::sync::LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .add_tags(EXTRA_TAGS)
        .add_clean_content_tags(KILLED)
        .add_generic_attributes(GENERIC_ATTRIBUTES)
        .add_url_schemes(["cid"])
        .link_rel(None)
        .strip_comments(true)
        .attribute_filter(|element, attribute, value| {
            let cid = value
                .get(..4)
                .filter(|scheme| scheme.eq_ignore_ascii_case("cid:"))
                .map(|_| &value[4..]);
            match cid {
                // Only an image of the message itself: any other `cid:` would be left dangling.
                Some(id) if element == "img" && attribute == "src" => {
                    let id = id.trim_matches(['<', '>']).to_ascii_lowercase();
                    CIDS.with(|set| set.borrow().contains(&id))
                        .then(|| value.into())
                }
                Some(_) => None,
                None => Some(value.into()),
            }
        });
    builder
});

#[cfg(test)]
mod tests {
    use super::html;

    #[test]
    fn page_structure_scripts_styles_events_and_classes_go() {
        let dirty = "<!DOCTYPE html><html><head><title>T</title><meta charset=utf-8>\
            <style>p{color:red}</style><script>alert(1)</script></head>\
            <body class=\"b\"><p class=\"x\" style=\"color:blue\" onclick=\"steal()\">Hello \
            <a href=\"javascript:alert(1)\">bad</a> <a href=\"https://example.com/\" \
            class=\"y\">good</a></p><!-- note --><form action=\"/x\"><input name=q></form>\
            <table width=\"100%\" bgcolor=\"#fff\"><tr><td align=\"center\">\
            <font face=\"Arial\" color=\"red\">cell</font></td></tr></table></body></html>";
        let clean = html(dirty, &[]);
        for gone in [
            "<!DOCTYPE",
            "<html",
            "<head",
            "<title",
            ">T<",
            "<meta",
            "<style",
            "color:red",
            "<script",
            "alert(1)",
            "class=",
            "onclick",
            "javascript:",
            "<!--",
            "<form",
            "<input",
            "<body",
        ] {
            assert!(!clean.contains(gone), "{gone} is left in {clean}");
        }
        for kept in [
            "<p style=\"color:blue\">Hello ",
            "<a href=\"https://example.com/\">good</a>",
            "<table width=\"100%\" bgcolor=\"#fff\">",
            "<td align=\"center\"><font face=\"Arial\" color=\"red\">cell</font></td>",
        ] {
            assert!(clean.contains(kept), "{kept} is missing from {clean}");
        }
    }

    #[test]
    fn only_the_messages_own_cid_images_are_kept() {
        let clean = html(
            "<p><img src=\"cid:logo@x\" alt=\"logo\"><img src=\"CID:Other@x\">\
             <a href=\"cid:logo@x\">link</a></p>",
            &["Logo@X"],
        );
        assert_eq!(
            clean,
            "<p><img src=\"cid:logo@x\" alt=\"logo\"><img><a>link</a></p>"
        );
    }

    #[test]
    fn plain_markup_is_unchanged() {
        let body = "\n<pre>Please call me.\n\n--\nSylvie\n</pre>\n";
        assert_eq!(html(body, &[]), body);
    }
}
