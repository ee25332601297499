//! The DNS check of an alias domain with what the store knows of it: its DKIM keys, and the
//! hosts of the active outgoing servers that may send its mail (their `from_filter` empty, or
//! naming the domain or an address of it). `postern dns check` and `GET
//! /api/v1/alias-domains/{id}/dns` both answer with it; the judging is postern-auth's.

use crate::DeliveryError;
use postern_auth::DnsSettings;
use postern_auth::check::{self, DnsReport, Expected};
use postern_model::AliasDomainId;
use postern_store::Store;

/// Checks the DNS records of an alias domain, asking the servers of `dns`; `hostname` is
/// Postern's (`[server] hostname`: the MX proposed, the HELO of the SPF evaluation).
pub async fn check_dns(
    store: &Store,
    domain: AliasDomainId,
    dns: &DnsSettings,
    hostname: &str,
) -> Result<DnsReport, DeliveryError> {
    let mut tx = store.read().await?;
    let d = tx.get::<postern_store::AliasDomain>(domain).await?;
    let keys = tx.dkim_keys(domain).await?;
    let servers = tx.delivery_servers(false).await?;
    tx.rollback().await?;
    let expected = Expected {
        dkim: keys
            .into_iter()
            .map(|k| (k.selector, k.algorithm, k.public_key))
            .collect(),
        // Direct delivery (kind mx) sends from this machine, whose public address the check
        // cannot know: docs/dns.md says what SPF must allow then.
        outgoing_hosts: servers
            .into_iter()
            .filter(|s| s.kind == postern_model::ServerKind::Relay)
            .filter(|s| sends_for(s.from_filter.as_deref(), &d.name))
            .map(|s| s.host)
            .collect(),
        hostname: hostname.to_owned(),
        domain: d.name,
    };
    let auth = dns.authenticator()?;
    Ok(check::check(&auth, &expected).await)
}

/// Whether a server with this `from_filter` may send mail from `domain`.
fn sends_for(filter: Option<&str>, domain: &str) -> bool {
    let Some(filter) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return true;
    };
    filter.split(',').any(|f| {
        let f = f.trim().to_ascii_lowercase();
        f == domain || f.rsplit_once('@').is_some_and(|(_, d)| d == domain)
    })
}

#[cfg(test)]
mod tests {
    use super::sends_for;

    #[test]
    fn from_filters() {
        assert!(sends_for(None, "example.com"));
        assert!(sends_for(Some(" "), "example.com"));
        assert!(sends_for(Some("other.example, Example.com"), "example.com"));
        assert!(sends_for(Some("info@example.com"), "example.com"));
        assert!(!sends_for(Some("other.example"), "example.com"));
        assert!(!sends_for(Some("sub.example.com"), "example.com"));
    }
}
