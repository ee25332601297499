//! Generated hostile mail through the parser (issue 18, point 3): each case gives a view or a
//! refusal with its reason, never a panic; the limits of `Limits` say which.

use postern_mime::{Limits, ParseError, parse, parse_within};
use postern_testkit::hostile;

const TO: &str = "sales@example.com";

fn over_limit(raw: &[u8]) -> String {
    match parse(raw) {
        Err(ParseError::OverLimit(why)) => why,
        other => panic!("expected a refusal over a limit, got {other:?}"),
    }
}

#[test]
fn mime_nested_1000_deep_is_refused_over_max_depth() {
    let why = over_limit(&hostile::nested(1000, TO));
    assert!(why.contains("nested more than 20 levels"), "{why}");
    // Within the limit, the bottom text is the body.
    let msg = parse(&hostile::nested(20, TO)).unwrap();
    assert!(msg.body_html.contains("the bottom"), "{}", msg.body_html);
    let why = over_limit(&hostile::nested(21, TO));
    assert!(why.contains("max_depth"), "{why}");
}

#[test]
fn max_depth_up_to_the_deepest_the_parser_follows() {
    let limits = Limits {
        max_depth: Limits::DEEPEST,
        ..Limits::default()
    };
    let msg = parse_within(&hostile::nested(Limits::DEEPEST, TO), &limits).unwrap();
    assert!(msg.body_html.contains("the bottom"));
    let err = parse_within(&hostile::nested(Limits::DEEPEST + 1, TO), &limits).unwrap_err();
    assert!(matches!(err, ParseError::OverLimit(_)), "{err}");
    let err = parse_within(&hostile::nested(500, TO), &limits).unwrap_err();
    assert!(matches!(err, ParseError::OverLimit(_)), "{err}");
}

#[test]
fn a_hundred_thousand_headers_are_refused_over_max_header_fields() {
    let why = over_limit(&hostile::many_headers(100_000, TO));
    assert!(
        why.contains("header fields") && why.contains("1000"),
        "{why}"
    );
    assert!(parse(&hostile::many_headers(900, TO)).is_ok());
}

#[test]
fn a_10_mb_header_line_is_refused_over_max_header_bytes() {
    let why = over_limit(&hostile::long_header_line(10 << 20, TO));
    assert!(why.contains("max_header_bytes"), "{why}");
    assert!(parse(&hostile::long_header_line(100_000, TO)).is_ok());
}

#[test]
fn fifty_thousand_parts_are_refused_over_max_parts() {
    let why = over_limit(&hostile::many_parts(50_000, TO));
    assert!(why.contains("more than 1000 MIME parts"), "{why}");
    let msg = parse(&hostile::many_parts(500, TO)).unwrap();
    assert!(msg.body_html.contains("part 499"));
}

#[test]
fn broken_base64_unknown_charsets_and_nul_bytes_give_a_view() {
    let msg = parse(&hostile::broken_base64(TO)).unwrap();
    assert_eq!(msg.subject.as_deref(), Some("hostile base64"));
    assert_eq!(msg.attachments.len(), 1, "{:?}", msg.attachments);
    let msg = parse(&hostile::unknown_charsets(TO)).unwrap();
    assert!(msg.body_html.contains("plain") || msg.body_html.contains("html"));
    let msg = parse(&hostile::nul_bytes(TO)).unwrap();
    assert_eq!(msg.subject.as_deref(), Some("hostile nul\u{fffd}subject"));
    assert!(
        msg.body_html.contains("before\u{fffd}after"),
        "{}",
        msg.body_html
    );
}
