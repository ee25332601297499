//! The outcome and payload JSON: any message's decision (the outcome of `accept`, `ingest` and
//! `/api/v1/ingest`) and the texts of its inbound payload (`message.received`) serialize to
//! JSON that reads back as the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern_routing::{Envelope, Lookups, RoutingConfig, decide};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = postern_mime::parse(data) else {
        return;
    };
    let decision = decide(
        &msg,
        &Envelope::default(),
        &RoutingConfig::default(),
        &Lookups::default(),
    );
    let texts = postern_mime::texts(data);
    let payload = serde_json::json!({
        "outcome": decision,
        "subject": msg.subject,
        "from": msg.email_from,
        "to": msg.to,
        "cc": msg.cc,
        "text": texts.text,
        "html": texts.html,
        "stripped_text": texts.text.as_deref().map(postern_mime::stripped_text),
        "attachments": msg.attachments,
        "bounce": msg.dsn,
    });
    let text = serde_json::to_string(&payload).expect("serializes");
    let back: serde_json::Value = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, payload, "the JSON reads back as the same value");
});
