//! The DNS check of an alias domain (`postern dns check DOMAIN`, `GET
//! /api/v1/alias-domains/{id}/dns`): which records are present, missing or wrong, each with the
//! exact record to publish.
//!
//! Required: MX (mail to the bounce and catchall addresses must reach Postern), SPF (and it must
//! allow the hosts of the outgoing servers: mail-auth evaluates the published record for each of
//! their addresses, as a receiver would), the DKIM record of every stored key (its `p=` must be
//! the stored public key), DMARC. Advice only: MTA-STS and TLS-RPT.
//!
//! [`check`] asks DNS (the shell); the `judge_*` functions decide from what it found (pure, unit
//! tested). A lookup that fails (timeout, SERVFAIL) gives `unknown`, never `missing`.

use crate::keys::{self, txt_line};
use hickory_resolver::proto::rr::RData;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{MessageAuthenticator, SpfResult};
use postern_model::DkimAlgorithm;
use serde::Serialize;
use std::net::IpAddr;

/// What Postern expects of a domain's DNS.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// The alias domain.
    pub domain: String,
    /// The stored DKIM keys: selector, algorithm, public key (`p=`).
    pub dkim: Vec<(String, DkimAlgorithm, String)>,
    /// The hosts of the outgoing servers (names or addresses).
    pub outgoing_hosts: Vec<String>,
    /// Postern's host name (`[server] hostname`): the MX to propose and the HELO of the SPF
    /// evaluation.
    pub hostname: String,
}

/// The verdict on one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Published and right.
    Present,
    /// Not published.
    Missing,
    /// Published, but not as it must be.
    Wrong,
    /// DNS did not answer: nothing can be said.
    Unknown,
}

/// One record checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `mx`, `spf`, `dkim`, `dmarc`, `mta_sts` or `tls_rpt`.
    pub record: &'static str,
    /// The DNS name asked.
    pub name: String,
    /// Whether a missing or wrong record makes the check fail (else it is advice).
    pub required: bool,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub found: Vec<String>,
    /// The record to publish (zone-file line), when something must change.
    pub publish: Option<String>,
    /// Why, for a human.
    pub detail: String,
}

/// Every check of a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsReport {
    /// The alias domain.
    pub domain: String,
    /// The checks, in a fixed order: MX, SPF, DKIM (one per key), DMARC, MTA-STS, TLS-RPT.
    pub checks: Vec<Check>,
}

impl DnsReport {
    /// A required record is missing or wrong.
    pub fn failed(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.required && matches!(c.status, Status::Missing | Status::Wrong))
    }

    /// DNS failed for a required record.
    pub fn incomplete(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.required && c.status == Status::Unknown)
    }
}

/// A lookup's answer: the records found (none when the name or the type does not exist), or
/// why DNS failed.
pub type Found = Result<Vec<String>, String>;

/// Whether an outgoing server's address may send for the domain, by its SPF record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfVerdict {
    /// The server's host, as configured.
    pub host: String,
    /// One of its addresses (none when it could not be resolved).
    pub ip: Option<IpAddr>,
    /// mail-auth's result for MAIL FROM `postmaster@DOMAIN` from that address.
    pub result: SpfResult,
}

/// Asks DNS for every record of `expected.domain` and judges them.
pub async fn check(auth: &MessageAuthenticator, expected: &Expected) -> DnsReport {
    let d = expected.domain.as_str();
    let mx = mx(auth, d).await;
    let spf = txt(auth, d).await;
    let verdicts = spf_verdicts(auth, expected).await;
    let mut checks = vec![
        judge_mx(d, &expected.hostname, mx),
        judge_spf(d, spf, &verdicts),
    ];
    if expected.dkim.is_empty() {
        checks.push(judge_no_dkim_key(d));
    }
    for (selector, algorithm, public_key) in &expected.dkim {
        let found = txt(auth, &keys::record_name(selector, d)).await;
        checks.push(judge_dkim(d, selector, *algorithm, public_key, found));
    }
    checks.push(judge_dmarc(d, txt(auth, &format!("_dmarc.{d}")).await));
    checks.push(judge_mta_sts(d, txt(auth, &format!("_mta-sts.{d}")).await));
    checks.push(judge_tls_rpt(
        d,
        txt(auth, &format!("_smtp._tls.{d}")).await,
    ));
    DnsReport {
        domain: d.to_owned(),
        checks,
    }
}

pub(crate) async fn txt(auth: &MessageAuthenticator, name: &str) -> Found {
    let lookup = auth.resolver().txt_lookup(format!("{name}.")).await;
    records(lookup, |data| match data {
        RData::TXT(t) => Some(
            t.txt_data
                .iter()
                .map(|s| String::from_utf8_lossy(s))
                .collect(),
        ),
        _ => None,
    })
}

async fn mx(auth: &MessageAuthenticator, name: &str) -> Found {
    let lookup = auth.resolver().mx_lookup(format!("{name}.")).await;
    records(lookup, |data| match data {
        RData::MX(mx) => Some(format!("{} {}", mx.preference, mx.exchange)),
        _ => None,
    })
}

/// The records of an answer as text; none when the name or the type does not exist.
fn records(
    lookup: Result<hickory_resolver::lookup::Lookup, hickory_resolver::net::NetError>,
    text: impl Fn(&RData) -> Option<String>,
) -> Found {
    match lookup {
        Ok(l) => Ok(l.answers().iter().filter_map(|r| text(&r.data)).collect()),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// SPF evaluated for every address of every outgoing server's host.
async fn spf_verdicts(auth: &MessageAuthenticator, expected: &Expected) -> Vec<SpfVerdict> {
    let sender = format!("postmaster@{}", expected.domain);
    let mut verdicts = Vec::new();
    for host in &expected.outgoing_hosts {
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match auth.resolver().lookup_ip(format!("{host}.")).await {
                Ok(found) => found.iter().collect(),
                Err(_) => Vec::new(),
            },
        };
        if ips.is_empty() {
            verdicts.push(SpfVerdict {
                host: host.clone(),
                ip: None,
                result: SpfResult::TempError,
            });
        }
        for ip in ips {
            let params = SpfParameters::verify_mail_from(
                ip,
                &expected.hostname,
                &expected.hostname,
                &sender,
            );
            let result = auth.verify_spf(params).await.result();
            verdicts.push(SpfVerdict {
                host: host.clone(),
                ip: Some(ip),
                result,
            });
        }
    }
    verdicts
}

fn unknown(record: &'static str, name: String, required: bool, error: String) -> Check {
    Check {
        record,
        name,
        required,
        status: Status::Unknown,
        found: Vec::new(),
        publish: None,
        detail: format!("DNS did not answer: {error}"),
    }
}

fn present(record: &'static str, name: String, required: bool, found: Vec<String>) -> Check {
    Check {
        record,
        name,
        required,
        status: Status::Present,
        found,
        publish: None,
        detail: String::new(),
    }
}

/// MX: at least one; the record proposed names Postern's host.
pub fn judge_mx(domain: &str, hostname: &str, found: Found) -> Check {
    let name = domain.to_owned();
    let found = match found {
        Ok(f) => f,
        Err(e) => return unknown("mx", name, true, e),
    };
    if found.is_empty() {
        return Check {
            publish: Some(format!("{domain}. IN MX 10 {hostname}.")),
            detail: format!(
                "no MX: replies and bounces to {domain} cannot reach Postern (or the MTA in \
                 front of it)"
            ),
            status: Status::Missing,
            ..present("mx", name, true, found)
        };
    }
    present("mx", name, true, found)
}

/// SPF: exactly one `v=spf1` record, which must allow every outgoing server's address.
pub fn judge_spf(domain: &str, found: Found, verdicts: &[SpfVerdict]) -> Check {
    let name = domain.to_owned();
    let found: Vec<String> = match found {
        Ok(f) => f
            .into_iter()
            .filter(|t| t.to_ascii_lowercase().starts_with("v=spf1"))
            .collect(),
        Err(e) => return unknown("spf", name, true, e),
    };
    let refused: Vec<&SpfVerdict> = verdicts
        .iter()
        .filter(|v| v.result != SpfResult::Pass)
        .collect();
    let mechanisms: Vec<String> = refused.iter().map(|v| mechanism(v)).collect();
    match found.as_slice() {
        [] => Check {
            publish: Some(txt_line(domain, &spf_record(None, &mechanisms))),
            detail: "no SPF record: receivers cannot tell which servers may send for the domain"
                .into(),
            status: Status::Missing,
            ..present("spf", name, true, found)
        },
        [one] if refused.is_empty() => present("spf", name, true, vec![one.clone()]),
        [one] => Check {
            publish: Some(txt_line(domain, &spf_record(Some(one), &mechanisms))),
            detail: refused
                .iter()
                .map(|v| match v.ip {
                    Some(ip) => format!(
                        "outgoing server {} ({ip}) is not allowed: {}",
                        v.host,
                        spf_word(v.result)
                    ),
                    None => format!("outgoing server {} has no address in DNS", v.host),
                })
                .collect::<Vec<_>>()
                .join("; "),
            status: Status::Wrong,
            ..present("spf", name, true, found.clone())
        },
        _ => Check {
            detail: "several SPF records: receivers treat that as an error (permerror); merge \
                     them into one"
                .into(),
            status: Status::Wrong,
            ..present("spf", name, true, found.clone())
        },
    }
}

fn spf_word(r: SpfResult) -> &'static str {
    match r {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

/// The mechanism that allows a server: its address, or its host name (`a:`) when it has none.
fn mechanism(v: &SpfVerdict) -> String {
    match v.ip {
        Some(IpAddr::V4(ip)) => format!("ip4:{ip}"),
        Some(IpAddr::V6(ip)) => format!("ip6:{ip}"),
        None => format!("a:{}", v.host),
    }
}

/// `existing` with `add` inserted before its `all` (or `redirect=`), or a new record.
fn spf_record(existing: Option<&str>, add: &[String]) -> String {
    let Some(existing) = existing else {
        let allow = if add.is_empty() {
            "mx".to_owned()
        } else {
            add.join(" ")
        };
        return format!("v=spf1 {allow} ~all");
    };
    let mut terms: Vec<String> = existing.split_whitespace().map(str::to_owned).collect();
    let at = terms
        .iter()
        .position(|t| {
            let t = t.to_ascii_lowercase();
            t.trim_start_matches(['+', '-', '~', '?']) == "all" || t.starts_with("redirect=")
        })
        .unwrap_or(terms.len());
    for (i, m) in add.iter().enumerate() {
        if !terms.contains(m) {
            terms.insert(at + i, m.clone());
        }
    }
    terms.join(" ")
}

/// No DKIM key is stored for the domain: mail goes out unsigned.
fn judge_no_dkim_key(domain: &str) -> Check {
    Check {
        record: "dkim",
        name: format!("*._domainkey.{domain}"),
        required: true,
        status: Status::Missing,
        found: Vec::new(),
        publish: None,
        detail: format!(
            "no DKIM key for {domain}: make one with `postern dkim generate {domain}` and \
             publish the record it prints"
        ),
    }
}

/// The `p=` of a DKIM key record, without the spaces a zone file may leave in it.
fn dkim_public_key(record: &str) -> Option<String> {
    record.split(';').find_map(|tag| {
        let (k, v) = tag.split_once('=')?;
        (k.trim() == "p").then(|| v.split_whitespace().collect())
    })
}

/// The record of one stored key: its `p=` must be the stored public key.
pub fn judge_dkim(
    domain: &str,
    selector: &str,
    algorithm: DkimAlgorithm,
    public_key: &str,
    found: Found,
) -> Check {
    let name = keys::record_name(selector, domain);
    let found = match found {
        Ok(f) => f,
        Err(e) => return unknown("dkim", name, true, e),
    };
    let publish = Some(txt_line(&name, &keys::txt_record(algorithm, public_key)));
    if found.is_empty() {
        return Check {
            publish,
            detail: format!("the key `{selector}` is not published: its signatures fail"),
            status: Status::Missing,
            ..present("dkim", name, true, found)
        };
    }
    if found
        .iter()
        .any(|r| dkim_public_key(r).as_deref() == Some(public_key))
    {
        return present("dkim", name, true, found);
    }
    Check {
        publish,
        detail: format!(
            "the published key is not the stored key `{selector}`: its signatures fail"
        ),
        status: Status::Wrong,
        ..present("dkim", name, true, found)
    }
}

/// DMARC: one `v=DMARC1` record at `_dmarc`.
pub fn judge_dmarc(domain: &str, found: Found) -> Check {
    let name = format!("_dmarc.{domain}");
    let found: Vec<String> = match found {
        Ok(f) => f
            .into_iter()
            .filter(|t| t.to_ascii_uppercase().starts_with("V=DMARC1"))
            .collect(),
        Err(e) => return unknown("dmarc", name, true, e),
    };
    match found.len() {
        0 => Check {
            publish: Some(txt_line(&name, "v=DMARC1; p=none")),
            detail: "no DMARC policy: large mailbox providers require one of bulk senders; \
                     start with p=none, then raise it to quarantine or reject"
                .into(),
            status: Status::Missing,
            ..present("dmarc", name, true, found)
        },
        1 => present("dmarc", name, true, found),
        _ => Check {
            detail: "several DMARC records: receivers ignore them all; keep one".into(),
            status: Status::Wrong,
            ..present("dmarc", name, true, found)
        },
    }
}

/// Advice: a record starting with `prefix` at `name`, else `publish` and `detail`.
fn advice(
    record: &'static str,
    name: String,
    found: Found,
    prefix: &str,
    publish: String,
    detail: String,
) -> Check {
    let found: Vec<String> = match found {
        Ok(f) => f
            .into_iter()
            .filter(|t| t.to_ascii_lowercase().starts_with(prefix))
            .collect(),
        Err(e) => return unknown(record, name, false, e),
    };
    if found.is_empty() {
        return Check {
            publish: Some(txt_line(&name, &publish)),
            detail,
            status: Status::Missing,
            ..present(record, name, false, found)
        };
    }
    present(record, name, false, found)
}

/// MTA-STS (RFC 8461), advice: senders to the domain then insist on TLS.
pub fn judge_mta_sts(domain: &str, found: Found) -> Check {
    advice(
        "mta_sts",
        format!("_mta-sts.{domain}"),
        found,
        "v=stsv1",
        "v=STSv1; id=1".into(),
        format!(
            "advice: with MTA-STS senders deliver to {domain} over TLS only; publish this and \
             serve the policy at https://mta-sts.{domain}/.well-known/mta-sts.txt"
        ),
    )
}

/// TLS-RPT (RFC 8460), advice: reports of TLS failures of mail to the domain.
pub fn judge_tls_rpt(domain: &str, found: Found) -> Check {
    advice(
        "tls_rpt",
        format!("_smtp._tls.{domain}"),
        found,
        "v=tlsrptv1",
        format!("v=TLSRPTv1; rua=mailto:postmaster@{domain}"),
        "advice: senders report TLS failures of mail to the domain to this address".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(host: &str, ip: &str, result: SpfResult) -> SpfVerdict {
        SpfVerdict {
            host: host.into(),
            ip: Some(ip.parse().unwrap()),
            result,
        }
    }

    #[test]
    fn spf_missing_wrong_and_right() {
        let fail = [verdict("relay.example.com", "192.0.2.7", SpfResult::Fail)];
        let c = judge_spf("example.com", Ok(vec![]), &fail);
        assert_eq!(c.status, Status::Missing);
        assert_eq!(
            c.publish.as_deref(),
            Some("example.com. IN TXT \"v=spf1 ip4:192.0.2.7 ~all\"")
        );
        let c = judge_spf(
            "example.com",
            Ok(vec![
                "v=spf1 include:_spf.example.net -all".into(),
                "other".into(),
            ]),
            &fail,
        );
        assert_eq!(c.status, Status::Wrong);
        assert_eq!(
            c.publish.as_deref(),
            Some("example.com. IN TXT \"v=spf1 include:_spf.example.net ip4:192.0.2.7 -all\"")
        );
        assert_eq!(
            c.detail,
            "outgoing server relay.example.com (192.0.2.7) is not allowed: fail"
        );
        let pass = [verdict("relay.example.com", "192.0.2.7", SpfResult::Pass)];
        let c = judge_spf(
            "example.com",
            Ok(vec!["v=spf1 ip4:192.0.2.7 -all".into()]),
            &pass,
        );
        assert_eq!((c.status, c.publish), (Status::Present, None));
        let two = Ok(vec!["v=spf1 -all".into(), "v=spf1 mx -all".into()]);
        assert_eq!(judge_spf("example.com", two, &pass).status, Status::Wrong);
        let failed = judge_spf("example.com", Err("timed out".into()), &pass);
        assert_eq!(failed.status, Status::Unknown);
    }

    #[test]
    fn dkim_key_must_match() {
        let key = "MCowBQYDK2VwAyEA";
        let check =
            |found: Found| judge_dkim("example.com", "s1", DkimAlgorithm::Ed25519, key, found);
        let c = check(Ok(vec![]));
        assert_eq!(c.status, Status::Missing);
        assert_eq!(
            c.publish.as_deref(),
            Some("s1._domainkey.example.com. IN TXT \"v=DKIM1; k=ed25519; p=MCowBQYDK2VwAyEA\"")
        );
        assert_eq!(
            check(Ok(vec!["v=DKIM1; p=other".into()])).status,
            Status::Wrong
        );
        let spaced = "v=DKIM1; k=ed25519; p=MCowBQ YDK2VwAyEA".to_owned();
        assert_eq!(check(Ok(vec![spaced])).status, Status::Present);
    }

    #[test]
    fn report_fails_on_required_only() {
        let report = DnsReport {
            domain: "example.com".into(),
            checks: vec![
                judge_mx(
                    "example.com",
                    "mail.example.com",
                    Ok(vec!["10 mail.example.com.".into()]),
                ),
                judge_dmarc("example.com", Ok(vec!["v=DMARC1; p=reject".into()])),
                judge_mta_sts("example.com", Ok(vec![])),
            ],
        };
        assert!(!report.failed() && !report.incomplete());
        let missing_mx = judge_mx("example.com", "mail.example.com", Ok(vec![]));
        assert_eq!(
            missing_mx.publish.as_deref(),
            Some("example.com. IN MX 10 mail.example.com.")
        );
        let report = DnsReport {
            checks: vec![missing_mx],
            ..report
        };
        assert!(report.failed());
    }
}
