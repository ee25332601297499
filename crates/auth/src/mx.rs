//! Where mail for a domain goes, for direct delivery (RFC 5321 section 5.1): its MX hosts in
//! preference order, each with its addresses; a domain without MX records is its own host (the
//! "implicit MX", its A/AAAA records); a null MX (RFC 7505: one MX record naming `.`) accepts no
//! mail at all.
//!
//! How it fails: a domain that does not exist, a null MX, or a domain with neither MX nor
//! address records is [`RouteError::Permanent`] (the mail cannot be delivered); a DNS failure
//! is [`RouteError::Temporary`] (tried again later), as is an MX whose hosts have no address
//! (a zone being fixed). The answers come from the resolver of `[server] dns`, whose cache
//! keeps them for their TTL.

use crate::DnsSettings;
use mail_auth::common::cache::NoCache;
use mail_auth::{DnsError, Error, MX, MessageAuthenticator, RecordSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

/// One host to try, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    /// Its name (no trailing dot): what TLS checks and MTA-STS matches.
    pub name: String,
    /// Its addresses, IPv4 first.
    pub addresses: Vec<IpAddr>,
}

/// Why a domain's mail cannot go anywhere now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// It never will: refuse the recipients for good.
    #[error("{0}")]
    Permanent(String),
    /// DNS failed: try again later.
    #[error("{0}")]
    Temporary(String),
}

/// The answer to an MX question, as the pure part sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxAnswer {
    /// Records: (preference, exchange).
    Records(Vec<(u16, String)>),
    /// The domain exists and has no MX record.
    NoRecords,
    /// The domain does not exist (NXDOMAIN).
    NoDomain,
    /// DNS did not answer, or answered an error.
    Failed(String),
}

/// The host names to try for `domain`, in order, from the answer to its MX question: by
/// preference (the order DNS gave within one preference), the domain itself without MX, none
/// for a null MX (an error). Pure.
pub fn hosts_of(domain: &str, answer: MxAnswer) -> Result<Vec<String>, RouteError> {
    let mut records = match answer {
        MxAnswer::Records(r) if !r.is_empty() => r,
        MxAnswer::Records(_) | MxAnswer::NoRecords => return Ok(vec![domain.to_owned()]),
        MxAnswer::NoDomain => {
            return Err(RouteError::Permanent(format!(
                "the domain {domain} does not exist (NXDOMAIN)"
            )));
        }
        MxAnswer::Failed(e) => {
            return Err(RouteError::Temporary(format!(
                "the MX lookup of {domain} failed: {e}"
            )));
        }
    };
    for r in &mut records {
        r.1 = r.1.trim_end_matches('.').to_ascii_lowercase();
    }
    if records.iter().all(|(_, name)| name.is_empty()) {
        return Err(RouteError::Permanent(format!(
            "{domain} accepts no mail: it publishes a null MX (RFC 7505)"
        )));
    }
    records.retain(|(_, name)| !name.is_empty());
    records.sort_by_key(|(preference, _)| *preference);
    let mut names: Vec<String> = Vec::with_capacity(records.len());
    for (_, name) in records {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The resolver of direct delivery: made from `[server] dns` on first use and kept (with its
/// cache) by every clone.
#[derive(Clone)]
pub struct MxResolver {
    settings: DnsSettings,
    built: Arc<OnceLock<Result<MessageAuthenticator, String>>>,
    policies: Arc<crate::mta_sts::PolicyCache>,
}

impl std::fmt::Debug for MxResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MxResolver({:?})", self.settings)
    }
}

impl MxResolver {
    /// A resolver asking the servers of `settings`.
    pub fn new(settings: DnsSettings) -> MxResolver {
        MxResolver {
            settings,
            built: Arc::new(OnceLock::new()),
            policies: Arc::default(),
        }
    }

    fn authenticator(&self) -> Result<&MessageAuthenticator, RouteError> {
        self.built
            .get_or_init(|| self.settings.authenticator().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| RouteError::Temporary(e.clone()))
    }

    /// The MTA-STS policy of `domain` that applies now, if any (RFC 8461; see
    /// [`crate::mta_sts`]).
    pub async fn mta_sts(&self, domain: &str) -> Option<crate::mta_sts::Policy> {
        let auth = self.authenticator().ok()?;
        let timeout = self
            .settings
            .timeout
            .max(std::time::Duration::from_secs(10));
        self.policies.policy(auth, domain, timeout).await
    }

    /// The hosts to try for `domain`, in order, each with its addresses (see the module).
    pub async fn route(&self, domain: &str) -> Result<Vec<MxHost>, RouteError> {
        let auth = self.authenticator()?;
        let answer = match auth
            .mx_lookup(domain, None::<&NoCache<Box<str>, RecordSet<MX>>>)
            .await
        {
            Ok(set) => MxAnswer::Records(
                set.rrset
                    .iter()
                    .flat_map(|mx| mx.exchanges.iter().map(|e| (mx.preference, e.to_string())))
                    .collect(),
            ),
            Err(e) => match not_found(&e) {
                Some(true) => MxAnswer::NoDomain,
                Some(false) => MxAnswer::NoRecords,
                None => MxAnswer::Failed(e.to_string()),
            },
        };
        let implicit = match &answer {
            MxAnswer::NoRecords => true,
            MxAnswer::Records(r) => r.is_empty(),
            _ => false,
        };
        let names = hosts_of(domain, answer)?;
        let mut hosts = Vec::with_capacity(names.len());
        let mut failures = Vec::new();
        let mut dns_failed = false;
        for name in names {
            match addresses(auth, &name).await {
                Ok(a) if a.is_empty() => failures.push(format!("{name} has no address")),
                Ok(addresses) => hosts.push(MxHost { name, addresses }),
                Err(e) => {
                    dns_failed = true;
                    failures.push(format!("the address lookup of {name} failed: {e}"));
                }
            }
        }
        if !hosts.is_empty() {
            return Ok(hosts);
        }
        let why = failures.join("; ");
        if implicit && !dns_failed {
            Err(RouteError::Permanent(format!(
                "{domain} has no MX record and no address (A/AAAA) record"
            )))
        } else {
            Err(RouteError::Temporary(format!(
                "no MX host of {domain} has an address: {why}"
            )))
        }
    }
}

/// `Some(true)`: NXDOMAIN; `Some(false)`: no record of the type; `None`: another failure.
fn not_found(e: &Error) -> Option<bool> {
    match e {
        Error::Dns(DnsError::RecordNotFound(code)) => {
            Some(*code == mail_auth::hickory_resolver::proto::op::ResponseCode::NXDomain)
        }
        _ => None,
    }
}

/// A host's IPv4 then IPv6 addresses; an error only when DNS failed (not when it has none).
async fn addresses(auth: &MessageAuthenticator, name: &str) -> Result<Vec<IpAddr>, String> {
    let mut out: Vec<IpAddr> = Vec::new();
    match auth
        .ipv4_lookup(name, None::<&NoCache<Box<str>, RecordSet<Ipv4Addr>>>)
        .await
    {
        Ok(set) => out.extend(set.rrset.iter().copied().map(IpAddr::V4)),
        Err(e) if not_found(&e).is_some() => {}
        Err(e) => return Err(e.to_string()),
    }
    match auth
        .ipv6_lookup(name, None::<&NoCache<Box<str>, RecordSet<Ipv6Addr>>>)
        .await
    {
        Ok(set) => out.extend(set.rrset.iter().copied().map(IpAddr::V6)),
        Err(e) if not_found(&e).is_some() => {}
        Err(e) if out.is_empty() => return Err(e.to_string()),
        Err(_) => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(r: &[(u16, &str)]) -> MxAnswer {
        MxAnswer::Records(r.iter().map(|(p, n)| (*p, (*n).to_owned())).collect())
    }

    #[test]
    fn hosts_in_preference_order() {
        assert_eq!(
            hosts_of(
                "example.com",
                records(&[
                    (20, "b.example.com."),
                    (10, "A.example.com."),
                    (20, "c.example.com.")
                ])
            ),
            Ok(vec![
                "a.example.com".to_owned(),
                "b.example.com".to_owned(),
                "c.example.com".to_owned()
            ])
        );
    }

    #[test]
    fn no_mx_is_the_implicit_mx() {
        assert_eq!(
            hosts_of("example.com", MxAnswer::NoRecords),
            Ok(vec!["example.com".to_owned()])
        );
    }

    #[test]
    fn null_mx_and_no_domain_are_permanent_dns_failure_temporary() {
        let null = hosts_of("example.com", records(&[(0, ".")]));
        assert!(
            matches!(&null, Err(RouteError::Permanent(e)) if e.contains("null MX (RFC 7505)")),
            "{null:?}"
        );
        assert!(matches!(
            hosts_of("example.com", MxAnswer::NoDomain),
            Err(RouteError::Permanent(_))
        ));
        assert!(matches!(
            hosts_of("example.com", MxAnswer::Failed("timeout".into())),
            Err(RouteError::Temporary(_))
        ));
        // A null MX beside real ones (a zone error): the real ones are used.
        assert_eq!(
            hosts_of("example.com", records(&[(0, "."), (10, "mx.example.com")])),
            Ok(vec!["mx.example.com".to_owned()])
        );
    }
}
