//! The configuration loader (`postern apply FILE`, `serve --config FILE`) on any text: every
//! error collected with its path, never a panic. The loader is the binary's own module,
//! compiled in here from its files (the binary has no library to depend on).
#![no_main]
#![allow(dead_code, missing_docs)]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/cli/src/config.rs"]
mod config;
#[path = "../../crates/cli/src/limits.rs"]
mod limits;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (file, errors) = config::ConfigFile::parse_lenient(text);
    for e in &errors {
        assert!(!e.to_string().is_empty(), "an error says what is wrong");
    }
    if errors.is_empty() {
        // What was accepted translates into the enforcers' settings.
        let _ = file.server.limits.mime();
        let _ = file.server.limits.smtp(postern_smtp::SmtpConfig::default());
        let _ = file.server.dns();
    }
});
