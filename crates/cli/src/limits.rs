//! The `[limits]` section of the configuration file: what one message, one client and one API
//! token may ask of the server, each with a default that is safe on a public MX.
//!
//! Owns: [`LimitSettings`], read and checked with the rest of the file (every error with its
//! path, `limits.max_mime_depth: ...`), and its translation into the settings of the parts
//! that enforce them: the parser's [`postern_mime::Limits`] (through the gateway), the SMTP
//! listener's [`postern_smtp::SmtpConfig`], the API's [`postern_web::ApiLimits`]. Must not:
//! enforce anything itself.

use crate::config::{ConfigError, MessageSize};
use serde::Deserialize;
use std::time::Duration;

/// `[limits]`; every key optional.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Header fields of one header section (the message's or a part's).
    pub max_header_fields: usize,
    /// Bytes of one header section.
    pub max_header_size: MessageSize,
    /// Nesting of multiparts and embedded messages.
    pub max_mime_depth: usize,
    /// MIME parts of one message.
    pub max_mime_parts: usize,
    /// Recipients of one SMTP/LMTP message.
    pub max_recipients: usize,
    /// SMTP/LMTP sessions at once, in all.
    pub max_connections: usize,
    /// SMTP sessions at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Command lines of one session.
    pub max_commands: usize,
    /// Refused commands of one session.
    pub max_errors: usize,
    /// Longest silence of a client (RFC 5321 §4.5.3.2: at least 5 minutes).
    pub command_timeout: String,
    /// Longest session.
    pub session_timeout: String,
    /// Largest body of an API request other than `/ingest`.
    pub api_max_body: MessageSize,
    /// API requests per second per token (then 429 with Retry-After).
    pub api_requests_per_second: u32,
}

impl Default for LimitSettings {
    fn default() -> LimitSettings {
        let mime = postern_mime::Limits::default();
        let smtp = postern_smtp::SmtpConfig::default();
        LimitSettings {
            max_header_fields: mime.max_header_fields,
            max_header_size: MessageSize(mime.max_header_bytes as u64),
            max_mime_depth: mime.max_depth,
            max_mime_parts: mime.max_parts,
            max_recipients: smtp.max_recipients,
            max_connections: smtp.max_connections,
            max_connections_per_ip: smtp.max_connections_per_ip,
            max_commands: smtp.max_commands,
            max_errors: smtp.max_bad_commands,
            command_timeout: "5m".into(),
            session_timeout: "30m".into(),
            api_max_body: MessageSize(postern_web::ApiLimits::default().max_body as u64),
            api_requests_per_second: postern_web::ApiLimits::default().requests_per_second,
        }
    }
}

/// The longest `command_timeout` and `session_timeout`: a day.
const LONGEST: i64 = 86_400;

/// `text` as a duration from 1 s to a day.
fn duration(text: &str) -> Option<Duration> {
    postern_store::parse_duration_secs(text)
        .filter(|s| (1..=LONGEST).contains(s))
        .map(|s| Duration::from_secs(s as u64))
}

impl LimitSettings {
    /// The parser's limits.
    pub fn mime(&self) -> postern_mime::Limits {
        postern_mime::Limits {
            max_header_fields: self.max_header_fields,
            max_header_bytes: self.max_header_size.bytes() as usize,
            max_depth: self.max_mime_depth,
            max_parts: self.max_mime_parts,
        }
    }

    /// The SMTP listener's limits, over `config`.
    pub fn smtp(&self, config: postern_smtp::SmtpConfig) -> postern_smtp::SmtpConfig {
        postern_smtp::SmtpConfig {
            max_recipients: self.max_recipients,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            max_commands: self.max_commands,
            max_bad_commands: self.max_errors,
            command_timeout: duration(&self.command_timeout).unwrap_or(config.command_timeout),
            session_timeout: duration(&self.session_timeout).unwrap_or(config.session_timeout),
            ..config
        }
    }

    /// The API's limits.
    pub fn api(&self) -> postern_web::ApiLimits {
        postern_web::ApiLimits {
            max_body: self.api_max_body.bytes() as usize,
            requests_per_second: self.api_requests_per_second,
        }
    }
}

/// Every value out of range, with its path.
pub fn check(l: &LimitSettings, errors: &mut Vec<ConfigError>) {
    let counts = [
        ("max_header_fields", l.max_header_fields),
        ("max_mime_parts", l.max_mime_parts),
        ("max_recipients", l.max_recipients),
        ("max_connections", l.max_connections),
        ("max_connections_per_ip", l.max_connections_per_ip),
        ("max_commands", l.max_commands),
        ("max_errors", l.max_errors),
        (
            "api_requests_per_second",
            l.api_requests_per_second as usize,
        ),
    ];
    for (key, n) in counts {
        if n == 0 {
            errors.push(ConfigError::new(
                format!("limits.{key}"),
                "must be a whole number above 0",
            ));
        }
    }
    let deepest = postern_mime::Limits::DEEPEST;
    if !(1..=deepest).contains(&l.max_mime_depth) {
        errors.push(ConfigError::new(
            "limits.max_mime_depth",
            format!("must be from 1 to {deepest}"),
        ));
    }
    for (key, text) in [
        ("command_timeout", &l.command_timeout),
        ("session_timeout", &l.session_timeout),
    ] {
        if duration(text).is_none() {
            errors.push(ConfigError::new(
                format!("limits.{key}"),
                format!("`{text}` is not a duration from 1s to 1d, such as \"5m\""),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    #[test]
    fn defaults_are_the_enforcers_defaults() {
        let f = ConfigFile::parse("").unwrap();
        let l = &f.server.limits;
        assert_eq!(l.mime(), postern_mime::Limits::default());
        let smtp = l.smtp(postern_smtp::SmtpConfig::default());
        assert_eq!(smtp.command_timeout, Duration::from_secs(300));
        assert_eq!(smtp.session_timeout, Duration::from_secs(1800));
        assert_eq!(smtp.max_connections_per_ip, 20);
        assert_eq!(l.api(), postern_web::ApiLimits::default());
    }

    #[test]
    fn limits_are_read_and_every_error_has_its_path() {
        let f = ConfigFile::parse(
            "[limits]\nmax_mime_parts = 50\nmax_header_size = \"64KB\"\ncommand_timeout = \"10m\"\n",
        )
        .unwrap();
        assert_eq!(f.server.limits.mime().max_parts, 50);
        assert_eq!(f.server.limits.mime().max_header_bytes, 64 * 1024);
        let errors = ConfigFile::parse(
            "[limits]\nmax_mime_depth = 99\nmax_errors = 0\ncommand_timeout = \"soon\"\nnope = 1\n",
        )
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|e| e.starts_with("limits.nope")),
            "{text:?}"
        );
        let errors = ConfigFile::parse(
            "[limits]\nmax_mime_depth = 99\nmax_errors = 0\ncommand_timeout = \"soon\"\n",
        )
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "limits.max_errors: must be a whole number above 0",
                "limits.max_mime_depth: must be from 1 to 31",
                "limits.command_timeout: `soon` is not a duration from 1s to 1d, such as \"5m\"",
            ]
        );
    }
}
