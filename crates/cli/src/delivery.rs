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

pub(crate) fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!(variable = name, value = %v, "not a number; default used");
            None
        }
    }
}

/// The runner's settings for this process; `http` is where the HTTP server listens (the
/// unsubscribe links go under `public_url`, else under it).
pub(crate) fn config(
    settings: &crate::config::ServerSettings,
    http: std::net::SocketAddr,
) -> DeliveryConfig {
    let mut c = DeliveryConfig::new(&settings.hostname);
    c.dns = postern_auth::MxResolver::new(settings.dns());
    c.public_url = Some(match settings.public_url.trim_end_matches('/') {
        "" => format!("http://{http}"),
        url => url.to_owned(),
    });
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

/// The webhook sender's settings for this process (`postern_web::sender`):
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `POSTERN_WEBHOOK_TIMEOUT_SECONDS` | how long an endpoint has to answer | 15 |
/// | `POSTERN_WEBHOOK_RETRY_SCHEDULE` | delays after each failed try, e.g. `5s,5m,30m,2h,5h,10h,10h`; given up after the last | that |
/// | `POSTERN_WEBHOOK_CONCURRENCY` | requests in flight | 32 |
/// | `POSTERN_WEBHOOK_BATCH` | deliveries claimed at once | 200 |
/// | `POSTERN_WEBHOOK_POLL_MS` | longest sleep when nothing is due | 250 |
/// | `POSTERN_WEBHOOK_LEASE_SECONDS` | how long a claimed delivery is held | 60 |
/// | `POSTERN_WEBHOOK_DEFER_SECONDS` | the longest a due delivery waits while the intake is busy (0: never) | 10 |
/// | `POSTERN_WEBHOOK_BUSY_RATE` | accepted messages a second that make the intake busy | 100 |
/// | `POSTERN_WEBHOOK_RETENTION_DAYS` | deliveries done are deleted, with their tries, after this many days | 30 |
pub(crate) fn webhook_config(hostname: &str) -> postern_web::sender::WebhookConfig {
    let mut c = postern_web::sender::WebhookConfig::new(hostname);
    if let Some(n) = env_u64("POSTERN_WEBHOOK_TIMEOUT_SECONDS") {
        c.timeout = Duration::from_secs(n.max(1));
    }
    if let Some(n) = env_u64("POSTERN_WEBHOOK_CONCURRENCY") {
        c.concurrency = n.clamp(1, 1024) as usize;
    }
    if let Some(n) = env_u64("POSTERN_WEBHOOK_BATCH") {
        c.batch = n.clamp(1, 10_000) as i64;
    }
    if let Some(n) = env_u64("POSTERN_WEBHOOK_POLL_MS") {
        c.poll = Duration::from_millis(n.max(5));
    }
    if let Some(n) = env_u64("POSTERN_WEBHOOK_LEASE_SECONDS") {
        c.lease = Duration::from_secs(n.max(1));
    }
    if let Some(n) = env_u64("POSTERN_WEBHOOK_DEFER_SECONDS") {
        c.defer_while_busy = Duration::from_secs(n);
    }
    if let Some(n) = env_u64("POSTERN_WEBHOOK_RETENTION_DAYS") {
        c.retention = Duration::from_secs(n.max(1) * 24 * 3600);
    }
    if let Some(n) = env_u64("POSTERN_WEBHOOK_BUSY_RATE") {
        c.busy_rate = n.max(1);
    }
    c.lease = c.lease.max(c.timeout * 2);
    if let Ok(text) = std::env::var("POSTERN_WEBHOOK_RETRY_SCHEDULE") {
        match parse_schedule(&text) {
            Some(s) => c.schedule = s,
            None => {
                tracing::warn!(value = %text, "POSTERN_WEBHOOK_RETRY_SCHEDULE is not a list of durations (5s,5m,2h,100ms); default used")
            }
        }
    }
    c
}

/// `5s,5m,30m,2h,100ms` (an empty text: no retry).
fn parse_schedule(text: &str) -> Option<Vec<Duration>> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| match t.strip_suffix("ms") {
            Some(ms) => ms.parse().ok().map(Duration::from_millis),
            None => postern_store::parse_duration_secs(t)
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedules() {
        assert_eq!(
            parse_schedule("100ms, 2s,5m,1h"),
            Some(vec![
                Duration::from_millis(100),
                Duration::from_secs(2),
                Duration::from_secs(300),
                Duration::from_secs(3600)
            ])
        );
        assert_eq!(parse_schedule(""), Some(vec![]));
        assert_eq!(parse_schedule("soon"), None);
    }
}
