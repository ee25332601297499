//! The delivery runner's settings for `postern serve`: the defaults of
//! [`postern_delivery::DeliveryConfig`], each overridable from the environment (operators
//! tuning a node, and tests that need short leases and retries):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `POSTERN_DELIVERY_LEASE_SECONDS` | how long a claimed mail is held before another node may take it | 300 |
//! | `POSTERN_DELIVERY_BATCH` | mails claimed at once | 500 |
//! | `POSTERN_DELIVERY_CONNECTIONS` | parallel SMTP connections | 8 |
//! | `POSTERN_DELIVERY_POLL_MS` | longest sleep when nothing is due | 1000 |
//! | `POSTERN_DELIVERY_RETRY_BASE_MS` | first retry delay (doubles each time) | 60000 |
//! | `POSTERN_DELIVERY_RETRY_MAX_MS` | longest retry delay | 3600000 |
//! | `POSTERN_DELIVERY_MAX_AGE_MINUTES` | a mail failing for longer is given up (`exception`) | 2880 |
//! | `POSTERN_DELIVERY_TIMEOUT_SECONDS` | SMTP timeout per command | 60 |

use postern_delivery::DeliveryConfig;
use std::time::Duration;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!(variable = name, value = %v, "not a number; default used");
            None
        }
    }
}

/// The runner's settings for this process.
pub(crate) fn config(hostname: &str) -> DeliveryConfig {
    let mut c = DeliveryConfig::new(hostname);
    if let Some(n) = env_u64("POSTERN_DELIVERY_LEASE_SECONDS") {
        c.lease = Duration::from_secs(n.max(1));
    }
    if let Some(n) = env_u64("POSTERN_DELIVERY_BATCH") {
        c.batch = n.clamp(1, 10_000) as i64;
    }
    if let Some(n) = env_u64("POSTERN_DELIVERY_CONNECTIONS") {
        c.connections = n.clamp(1, 64) as usize;
    }
    if let Some(n) = env_u64("POSTERN_DELIVERY_POLL_MS") {
        c.poll = Duration::from_millis(n.max(10));
    }
    if let Some(n) = env_u64("POSTERN_DELIVERY_RETRY_BASE_MS") {
        c.backoff.base = Duration::from_millis(n);
    }
    if let Some(n) = env_u64("POSTERN_DELIVERY_RETRY_MAX_MS") {
        c.backoff.max = Duration::from_millis(n);
    }
    if let Some(n) = env_u64("POSTERN_DELIVERY_MAX_AGE_MINUTES") {
        c.backoff.max_age = Duration::from_secs(n * 60);
    }
    if let Some(n) = env_u64("POSTERN_DELIVERY_TIMEOUT_SECONDS") {
        c.timeout = Duration::from_secs(n.max(1));
    }
    c
}
