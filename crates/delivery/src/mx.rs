//! Direct delivery: an outgoing server of kind `mx` sends each mail to its recipients' domains
//! themselves. The recipients are grouped by domain; each domain's MX hosts are asked of the
//! resolver of `[server] dns` (postern-auth's [`MxResolver`]: preference order, the domain's own
//! A/AAAA without MX, a null MX refused) and tried in order on the server's `port` (25 unless
//! set: tests point it at a local sink), with STARTTLS when offered (or required, as the server's
//! `encryption` says).
//!
//! One connection per destination domain: a worker keeps its connection to a domain open for
//! the next mail to that domain (the runner groups a batch's mails by domain for such servers),
//! and at most `connections_per_domain` connections to one domain are open at once in this
//! process (a semaphore per domain; a worker that must wait for one first closes those it holds,
//! so that two workers never wait on each other).
//!
//! How it fails: every recipient gets an outcome, never an error — a domain that cannot receive
//! mail (no such domain, a null MX, no MX and no address) is refused for good (`550 5.1.2` with
//! the reason), a DNS failure or hosts that do not answer are temporary (`451 4.4.x`), retried
//! as relayed mail is.

use crate::TestStep;
use crate::prepare::Prepared;
use postern_auth::mta_sts::{Mode, Policy};
use postern_auth::{MxResolver, RouteError};
use postern_model::Encryption;
use postern_model::OutgoingServerId;
use postern_smtp::client::{ClientError, ClientSettings, Connection, RcptOutcome, Reply};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Addresses tried for one domain before giving up for this attempt (a host that times out
/// costs the timeout each).
const MAX_ADDRESSES: usize = 5;

/// What the workers of a batch share: the resolver and a semaphore per (server, domain).
#[derive(Debug)]
pub(crate) struct Direct {
    resolver: MxResolver,
    domains: Mutex<HashMap<(OutgoingServerId, String), Arc<Semaphore>>>,
}

/// An mx server as the workers see it.
#[derive(Debug, Clone)]
pub(crate) struct MxServer {
    /// The server.
    pub id: OutgoingServerId,
    /// Port, encryption, timeout, EHLO name (the host is each MX host's).
    pub settings: ClientSettings,
    /// Connections open at once to one domain.
    pub per_domain: usize,
}

/// A worker's open connections, one per destination domain, each with its domain's permit.
#[derive(Default)]
pub(crate) struct Open {
    conns: HashMap<(OutgoingServerId, String), (Connection, OwnedSemaphorePermit)>,
}

impl Open {
    /// Says QUIT on every connection.
    pub async fn close_all(&mut self) {
        for (_, (c, _)) in self.conns.drain() {
            c.quit().await;
        }
    }
}

impl Direct {
    pub(crate) fn new(resolver: MxResolver) -> Direct {
        Direct {
            resolver,
            domains: Mutex::new(HashMap::new()),
        }
    }

    fn semaphore(&self, server: &MxServer, domain: &str) -> Arc<Semaphore> {
        let mut map = self.domains.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((server.id, domain.to_owned()))
            .or_insert_with(|| Arc::new(Semaphore::new(server.per_domain.max(1))))
            .clone()
    }
}

/// The recipients grouped by domain (lower-case), in the order of their first appearance.
pub(crate) fn by_domain(rcpts: &[String]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for r in rcpts {
        let domain = r
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        match groups.iter_mut().find(|(d, _)| *d == domain) {
            Some((_, v)) => v.push(r.clone()),
            None => groups.push((domain, vec![r.clone()])),
        }
    }
    groups
}

/// The first recipient's domain: mails of an mx server are grouped by it.
pub(crate) fn first_domain(rcpts: &[String]) -> String {
    by_domain(rcpts)
        .into_iter()
        .next()
        .map(|(d, _)| d)
        .unwrap_or_default()
}

/// Sends one mail (its bytes made) through an mx server: an outcome for every recipient.
pub(crate) async fn send(
    direct: &Direct,
    open: &mut Open,
    server: &MxServer,
    p: &Prepared,
    bytes: &[u8],
) -> Vec<(String, RcptOutcome)> {
    let mut outcomes = Vec::with_capacity(p.rcpts.len());
    for (domain, rcpts) in by_domain(&p.rcpts) {
        outcomes.extend(send_to_domain(direct, open, server, p, (&domain, &rcpts), bytes).await);
    }
    outcomes
}

async fn send_to_domain(
    direct: &Direct,
    open: &mut Open,
    server: &MxServer,
    p: &Prepared,
    (domain, rcpts): (&str, &[String]),
    bytes: &[u8],
) -> Vec<(String, RcptOutcome)> {
    let key = (server.id, domain.to_owned());
    let mut reused = true;
    let (mut conn, mut permit) = match open.conns.remove(&key) {
        Some(c) => c,
        None => {
            reused = false;
            match connect(direct, open, server, domain).await {
                Ok(c) => c,
                Err(reply) => return refuse(rcpts, &reply),
            }
        }
    };
    let mut result = crate::runner::transactions(&mut conn, p, rcpts, bytes).await;
    if result.is_err() && reused {
        // A connection kept from an earlier mail may have been closed by the host: once more.
        drop(conn);
        (conn, permit) = match connect_with(direct, server, domain, permit).await {
            Ok(c) => c,
            Err(reply) => return refuse(rcpts, &reply),
        };
        result = crate::runner::transactions(&mut conn, p, rcpts, bytes).await;
    }
    match result {
        Ok(outcomes) => {
            open.conns.insert(key, (conn, permit));
            outcomes
        }
        Err(e) => {
            tracing::warn!(domain, error = %e, "direct delivery connection failed");
            refuse(rcpts, &temporary("4.4.2", &e.to_string()))
        }
    }
}

/// A connection to one of `domain`'s MX hosts, with a permit of the domain: waiting for the
/// permit when every one is taken, after closing this worker's other connections.
async fn connect(
    direct: &Direct,
    open: &mut Open,
    server: &MxServer,
    domain: &str,
) -> Result<(Connection, OwnedSemaphorePermit), Reply> {
    let semaphore = direct.semaphore(server, domain);
    let permit = match semaphore.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            open.close_all().await;
            semaphore
                .acquire_owned()
                .await
                .map_err(|_| temporary("4.4.5", "the delivery runner is stopping"))?
        }
    };
    connect_with(direct, server, domain, permit).await
}

/// Asks DNS for `domain`'s hosts and connects to the first that answers; under an MTA-STS
/// policy in `enforce` mode, only to the hosts it names, over verified TLS.
async fn connect_with(
    direct: &Direct,
    server: &MxServer,
    domain: &str,
    permit: OwnedSemaphorePermit,
) -> Result<(Connection, OwnedSemaphorePermit), Reply> {
    let hosts = direct.resolver.route(domain).await.map_err(|e| match e {
        RouteError::Permanent(why) => Reply {
            code: 550,
            text: format!("5.1.2 {why}"),
        },
        RouteError::Temporary(why) => temporary("4.4.3", &why),
    })?;
    let policy = direct.resolver.mta_sts(domain).await;
    let (addresses, settings) = targets(domain, &hosts, policy.as_ref(), &server.settings)?;
    let mut last: Option<ClientError> = None;
    for (name, address) in addresses {
        let settings = ClientSettings {
            host: name.clone(),
            address: Some(address),
            ..settings.clone()
        };
        match Connection::open(&settings).await {
            Ok(c) => return Ok((c, permit)),
            Err(e) => {
                tracing::info!(domain, host = %name, %address, error = %e, "MX host not reached");
                last = Some(e);
            }
        }
    }
    let why = last.map(|e| e.to_string()).unwrap_or_default();
    Err(temporary(
        "4.4.1",
        &format!("no MX host of {domain} could be reached: {why}"),
    ))
}

/// The addresses to try, in order (at most [`MAX_ADDRESSES`]), and the client settings: the
/// server's, or, under an MTA-STS policy in `enforce` mode, only the hosts it names, with
/// STARTTLS required and the certificate verified for the host's name (RFC 8461 section 4.2).
/// Pure.
fn targets(
    domain: &str,
    hosts: &[postern_auth::MxHost],
    policy: Option<&Policy>,
    settings: &ClientSettings,
) -> Result<(Vec<(String, std::net::IpAddr)>, ClientSettings), Reply> {
    let enforce = policy.filter(|p| p.mode == Mode::Enforce);
    let mut settings = settings.clone();
    if enforce.is_some() {
        settings.encryption = Encryption::StarttlsStrict;
        settings.opportunistic_tls = false;
    }
    let mut addresses: Vec<(String, std::net::IpAddr)> = Vec::new();
    for h in hosts {
        if enforce.is_some_and(|p| !p.allows(&h.name)) {
            continue;
        }
        addresses.extend(h.addresses.iter().map(|a| (h.name.clone(), *a)));
    }
    if addresses.is_empty()
        && let Some(p) = enforce
    {
        return Err(temporary(
            "4.7.5",
            &format!(
                "the MTA-STS policy of {domain} (enforce) allows none of its MX hosts ({}): it names {}",
                hosts
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                p.mx.join(", ")
            ),
        ));
    }
    addresses.truncate(MAX_ADDRESSES);
    Ok((addresses, settings))
}

/// The connection test of an mx server: the settings of `domain`'s first MX host, and the step
/// that found it (or the failed step).
pub(crate) async fn first_host(
    resolver: &MxResolver,
    settings: ClientSettings,
    domain: &str,
) -> Result<(ClientSettings, TestStep), TestStep> {
    let step = format!("MX lookup of {domain}");
    let hosts = resolver
        .route(domain)
        .await
        .map_err(|e| TestStep::new(step.clone(), false, e.to_string()))?;
    let found = hosts
        .iter()
        .map(|h| {
            format!(
                "{} ({})",
                h.name,
                h.addresses
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let first = &hosts[0];
    let chosen = ClientSettings {
        host: first.name.clone(),
        address: first.addresses.first().copied(),
        ..settings
    };
    Ok((chosen, TestStep::new(step, true, found)))
}

fn temporary(status: &str, why: &str) -> Reply {
    Reply {
        code: 451,
        text: format!("{status} {why}"),
    }
}

fn refuse(rcpts: &[String], reply: &Reply) -> Vec<(String, RcptOutcome)> {
    rcpts
        .iter()
        .map(|r| (r.clone(), RcptOutcome::Refused(reply.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ClientSettings {
        ClientSettings {
            host: String::new(),
            port: 25,
            encryption: Encryption::None,
            credentials: None,
            timeout: std::time::Duration::from_secs(5),
            helo: "postern.test".into(),
            address: None,
            opportunistic_tls: true,
        }
    }

    fn host(name: &str, ip: [u8; 4]) -> postern_auth::MxHost {
        postern_auth::MxHost {
            name: name.into(),
            addresses: vec![std::net::IpAddr::from(ip)],
        }
    }

    #[test]
    fn an_enforced_mta_sts_policy_keeps_its_hosts_and_requires_verified_tls() {
        let hosts = [
            host("mx1.dest.test", [127, 0, 0, 1]),
            host("evil.example", [192, 0, 2, 1]),
        ];
        let enforce = Policy {
            mode: Mode::Enforce,
            mx: vec!["*.dest.test".into()],
            max_age: 60,
        };
        let (to, s) = targets("dest.test", &hosts, Some(&enforce), &settings()).unwrap();
        assert_eq!(
            to,
            vec![("mx1.dest.test".to_owned(), [127, 0, 0, 1].into())]
        );
        assert_eq!(
            (s.encryption, s.opportunistic_tls),
            (Encryption::StarttlsStrict, false)
        );
        // Testing mode, or no policy: every host, opportunistic TLS.
        let testing = Policy {
            mode: Mode::Testing,
            ..enforce.clone()
        };
        for p in [Some(&testing), None] {
            let (to, s) = targets("dest.test", &hosts, p, &settings()).unwrap();
            assert_eq!(to.len(), 2);
            assert_eq!(s.encryption, Encryption::None);
        }
        // A policy naming none of the hosts: nothing is tried, temporary.
        let other = Policy {
            mx: vec!["mail.other.test".into()],
            ..enforce
        };
        let refused = targets("dest.test", &hosts, Some(&other), &settings()).unwrap_err();
        assert_eq!(refused.code, 451);
        assert!(
            refused.text.contains("allows none of its MX hosts"),
            "{}",
            refused.text
        );
    }

    #[test]
    fn recipients_grouped_by_domain_in_order() {
        let r: Vec<String> = ["a@X.example", "b@y.example", "c@x.example"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            by_domain(&r),
            vec![
                (
                    "x.example".to_owned(),
                    vec!["a@X.example".to_owned(), "c@x.example".to_owned()]
                ),
                ("y.example".to_owned(), vec!["b@y.example".to_owned()]),
            ]
        );
        assert_eq!(first_domain(&r), "x.example");
    }
}
