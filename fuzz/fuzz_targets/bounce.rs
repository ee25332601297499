//! Bounce analysis: the report of any message (`parse().dsn`, what `postern bounce parse`
//! prints), and the classification of any status, reply code and diagnostic text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = postern_mime::parse(data) {
        serde_json::to_string(&msg.dsn).expect("the report is JSON");
        for r in &msg.dsn.recipients {
            assert_eq!(
                postern_mime::classify(&r.status, &r.reply_code, &r.reason),
                postern_mime::classify(&r.status, &r.reply_code, &r.reason),
                "classify is deterministic"
            );
        }
    }
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(3, '\n');
    let (status, code, diagnostic) = (
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
    );
    let _ = postern_mime::classify(status, code, diagnostic);
});
