//! The parsed view (postern-mime) of any bytes: `parse` (with the default limits), the texts
//! and stripped text of the inbound payload, the HTML sanitizer. Never a panic; the view
//! serializes to JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = postern_mime::parse(data) {
        serde_json::to_string(&msg).expect("the parsed view is JSON");
        let _ = postern_mime::sanitize_html(&msg.body_html);
    }
    let texts = postern_mime::texts(data);
    if let Some(text) = &texts.text {
        let _ = postern_mime::stripped_text(text);
    }
    let _ = postern_mime::authentication_results(data);
});
