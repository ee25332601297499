//! MTA-STS (RFC 8461) for direct delivery: a domain that publishes `_mta-sts.DOMAIN` (`v=STSv1;
//! id=...`) serves its policy at `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`; in mode
//! `enforce` mail goes only to the MX hosts the policy names, over TLS with a certificate valid
//! for the host's name.
//!
//! What this file trusts: the policy only as fetched over HTTPS with a certificate the system
//! trusts (no redirects, at most 64 KiB, `text/plain`); the name `mta-sts.DOMAIN` is resolved
//! with the resolver of `[server] dns`. How it fails: no record, or a policy that cannot be
//! fetched or read, is no policy (RFC 8461 section 5: deliver as without one) unless an earlier
//! policy is still cached (it is kept for its `max_age`, and fetched again when the record's
//! `id` changes). The parsing and the MX matching are pure.

use crate::check::{Found, txt};
use mail_auth::MessageAuthenticator;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Largest policy file read.
const MAX_POLICY: usize = 64 * 1024;

/// A policy's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// TLS required, to the MX hosts named only.
    Enforce,
    /// Report only: delivered as without a policy.
    Testing,
    /// No policy.
    None,
}

/// A domain's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its mode.
    pub mode: Mode,
    /// The MX host patterns (`mail.example.com`, `*.example.net`), lower-case.
    pub mx: Vec<String>,
    /// How long it may be cached, in seconds.
    pub max_age: u64,
}

impl Policy {
    /// Whether `host` (an MX host name) is one of the policy's: equal, or `*.` matching exactly
    /// one leftmost label (RFC 8461 section 4.1).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
            None => *p == host,
        })
    }
}

/// Reads a policy file (RFC 8461 section 3.2): `key: value` lines; `version: STSv1`, `mode` and
/// `max_age` required, `mx` at least once unless the mode is `none`; unknown keys ignored.
/// Pure.
pub fn parse_policy(text: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_owned()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => return Err(format!("unknown mode `{other}`")),
                })
            }
            "max_age" => {
                max_age = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| format!("max_age `{value}` is not a number"))?,
                )
            }
            "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("no `version: STSv1`".into());
    }
    let mode = mode.ok_or("no `mode`")?;
    let max_age = max_age.ok_or("no `max_age`")?.min(31_557_600);
    if mx.is_empty() && mode != Mode::None {
        return Err("no `mx`".into());
    }
    Ok(Policy { mode, mx, max_age })
}

/// The `id` of a `v=STSv1; id=...` record, if the record is one.
fn record_id(record: &str) -> Option<String> {
    let mut parts = record.split(';').map(str::trim);
    if parts.next()? != "v=STSv1" {
        return None;
    }
    parts.find_map(|p| p.strip_prefix("id=").map(|id| id.trim().to_owned()))
}

/// Policies fetched, by domain: the record's id, the policy, until when it may be used.
#[derive(Default)]
pub(crate) struct PolicyCache {
    policies: Mutex<HashMap<String, (String, Policy, Instant)>>,
}

impl PolicyCache {
    fn get(&self, domain: &str) -> Option<(String, Policy, Instant)> {
        let map = self.policies.lock().unwrap_or_else(|e| e.into_inner());
        map.get(domain)
            .filter(|(_, _, until)| *until > Instant::now())
            .cloned()
    }

    fn put(&self, domain: &str, id: String, policy: Policy) {
        let until = Instant::now() + Duration::from_secs(policy.max_age);
        let mut map = self.policies.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(domain.to_owned(), (id, policy, until));
    }

    /// The policy of `domain` (see the module): `None` when it has none that applies.
    pub(crate) async fn policy(
        &self,
        auth: &MessageAuthenticator,
        domain: &str,
        timeout: Duration,
    ) -> Option<Policy> {
        let cached = self.get(domain);
        let records: Found = txt(auth, &format!("_mta-sts.{domain}")).await;
        let id = match records {
            Ok(r) => r.iter().find_map(|r| record_id(r)),
            // DNS failed: the cached policy, if any, still holds.
            Err(_) => return cached.map(|(_, p, _)| p),
        };
        let Some(id) = id else {
            return cached.map(|(_, p, _)| p);
        };
        if let Some((cached_id, p, _)) = &cached
            && *cached_id == id
        {
            return Some(p.clone());
        }
        match fetch(auth, domain, timeout).await {
            Ok(p) => {
                self.put(domain, id, p.clone());
                Some(p)
            }
            Err(e) => {
                tracing::info!(domain, error = %e, "MTA-STS policy not fetched");
                cached.map(|(_, p, _)| p)
            }
        }
    }
}

/// Fetches and reads the policy of `domain` over HTTPS, `mta-sts.DOMAIN` resolved by `auth`.
async fn fetch(
    auth: &MessageAuthenticator,
    domain: &str,
    timeout: Duration,
) -> Result<Policy, String> {
    let host = format!("mta-sts.{domain}");
    let ip = auth
        .resolver()
        .lookup_ip(format!("{host}."))
        .await
        .map_err(|e| format!("{host}: {e}"))?
        .iter()
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .resolve(&host, std::net::SocketAddr::new(ip, 443))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(format!("https://{host}/.well-known/mta-sts.txt"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!("answered {}", resp.status()));
    }
    let text_plain = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/plain"));
    if !text_plain {
        return Err("the policy is not text/plain".into());
    }
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if body.len() > MAX_POLICY {
        return Err("the policy is larger than 64 KiB".into());
    }
    parse_policy(&String::from_utf8_lossy(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_read() {
        let p = parse_policy(
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET.\r\nmax_age: 86400\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.mx, vec!["mail.example.com", "*.example.net"]);
        assert_eq!(p.max_age, 86400);
        assert_eq!(
            parse_policy("version: STSv1\nmode: testing\nmax_age: 10\n"),
            Err("no `mx`".into())
        );
        assert!(parse_policy("mode: enforce\nmx: a\nmax_age: 1\n").is_err());
        assert!(parse_policy("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n").is_err());
        assert_eq!(
            parse_policy("version: STSv1\nmode: none\nmax_age: 1\n").map(|p| p.mode),
            Ok(Mode::None)
        );
    }

    #[test]
    fn mx_patterns_match_one_label() {
        let p = Policy {
            mode: Mode::Enforce,
            mx: vec!["mail.example.com".into(), "*.example.net".into()],
            max_age: 1,
        };
        assert!(p.allows("MAIL.example.com."));
        assert!(p.allows("mx1.example.net"));
        assert!(!p.allows("a.b.example.net"));
        assert!(!p.allows("example.net"));
        assert!(!p.allows("other.example.com"));
    }

    #[test]
    fn records_name_their_id() {
        assert_eq!(record_id("v=STSv1; id=20240101"), Some("20240101".into()));
        assert_eq!(record_id("v=STSv1;id=abc "), Some("abc".into()));
        assert_eq!(record_id("v=spf1 -all"), None);
    }
}
