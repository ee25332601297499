//! Sender authentication of mail arriving over SMTP (mail-auth): SPF of the HELO name and of
//! `MAIL FROM`, every DKIM signature, the ARC chain, DMARC of the From domain. The verdict is an
//! `Authentication-Results` header of our own (RFC 8601, with `[server] hostname` as authserv-id)
//! and whether the From can be trusted to name a known partner.
//!
//! Trust: a From whose domain's DMARC fails (no aligned SPF or DKIM pass where the domain
//! publishes a policy), or errs permanently under a `quarantine` or `reject` policy, is not
//! trusted. When DNS fails (`temperror`) the From keeps its trust and the note says so: a DNS
//! outage never turns mail away.

use crate::{AuthError, DnsSettings};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, DmarcResult, MessageAuthenticator};
use std::net::IpAddr;
use std::sync::Arc;

/// What the SMTP session knows of a message.
#[derive(Debug, Clone)]
pub struct Inbound<'a> {
    /// The message as received.
    pub raw: &'a [u8],
    /// The client's address.
    pub ip: IpAddr,
    /// Its HELO/EHLO name.
    pub helo: &'a str,
    /// `MAIL FROM` (empty for the null sender).
    pub mail_from: &'a str,
    /// Our name: the authserv-id of the header, and the SPF `host_domain`.
    pub hostname: &'a str,
}

/// The verdict on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `Authentication-Results: ...\r\n`, to put on top of the message.
    pub header: String,
    /// Why the From is not trusted, when it is not.
    pub untrusted_from: Option<String>,
    /// One line for the trace: the DMARC result and what it means.
    pub note: String,
}

/// The verifier of a listener: mail-auth's authenticator on the resolver of `[server] dns`.
#[derive(Clone)]
pub struct Verifier {
    auth: Arc<MessageAuthenticator>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier")
    }
}

impl Verifier {
    /// A verifier asking the DNS servers of `dns`.
    pub fn new(dns: &DnsSettings) -> Result<Verifier, AuthError> {
        Ok(Verifier {
            auth: Arc::new(dns.authenticator()?),
        })
    }

    /// Verifies a message.
    pub async fn verify(&self, m: &Inbound<'_>) -> Verdict {
        verify(&self.auth, m).await
    }
}

/// Verifies a message.
pub async fn verify(auth: &MessageAuthenticator, m: &Inbound<'_>) -> Verdict {
    let Some(message) = AuthenticatedMessage::parse(m.raw) else {
        return Verdict {
            header: String::new(),
            untrusted_from: None,
            note: "sender authentication: the message cannot be parsed, not verified".into(),
        };
    };
    let helo = if m.helo.is_empty() {
        m.hostname
    } else {
        m.helo
    };
    let spf_helo = auth
        .verify_spf(SpfParameters::verify_ehlo(m.ip, helo, m.hostname))
        .await;
    let spf = auth
        .verify_spf(SpfParameters::verify_mail_from(
            m.ip,
            helo,
            m.hostname,
            m.mail_from,
        ))
        .await;
    let dkim = auth.verify_dkim(&message).await;
    // ARC (RFC 8617): reported in the header, for whoever reads it; trust is DMARC's alone.
    let arc = auth.verify_arc(&message).await;
    let mail_from_domain = m
        .mail_from
        .rsplit_once('@')
        .map_or(helo, |(_, d)| d)
        .to_owned();
    let dmarc = auth
        .verify_dmarc(DmarcParameters::new(
            &message,
            &dkim,
            &mail_from_domain,
            &spf,
        ))
        .await;
    let header = AuthenticationResults::new(m.hostname)
        .with_dkim_results(&dkim, message.from())
        .with_spf_ehlo_result(&spf_helo, m.ip, helo)
        .with_spf_mailfrom_result(&spf, m.ip, m.mail_from, helo)
        .with_arc_result(&arc, m.ip)
        .with_dmarc_result(&dmarc)
        .to_header();
    let (untrusted_from, note) = trust(dmarc.result(), dmarc.policy(), dmarc.domain());
    Verdict {
        header,
        untrusted_from,
        note,
    }
}

/// Whether the From is trusted after DMARC, and the trace line that says why.
pub fn trust(result: DmarcResult, policy: Policy, domain: &str) -> (Option<String>, String) {
    let strict = matches!(policy, Policy::Quarantine | Policy::Reject);
    match result {
        DmarcResult::Pass => (
            None,
            format!("sender authentication: DMARC pass for {domain}"),
        ),
        DmarcResult::Fail(e) => {
            let why = format!("DMARC fails for {domain} ({e})");
            (
                Some(why.clone()),
                format!("sender authentication: {why}: the From is not trusted"),
            )
        }
        DmarcResult::PermError(e) if strict => {
            let why = format!("DMARC permerror for {domain} under its policy ({e})");
            (
                Some(why.clone()),
                format!("sender authentication: {why}: the From is not trusted"),
            )
        }
        DmarcResult::TempError(e) => (
            None,
            format!("sender authentication: DNS failed (temperror: {e}); the From keeps its trust"),
        ),
        DmarcResult::PermError(e) => (
            None,
            format!("sender authentication: DMARC permerror for {domain} ({e}), no strict policy"),
        ),
        DmarcResult::None => (
            None,
            format!("sender authentication: {domain} publishes no DMARC policy"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::Error;

    #[test]
    fn trust_follows_dmarc() {
        let (u, _) = trust(DmarcResult::Pass, Policy::Reject, "example.com");
        assert!(u.is_none());
        let (u, note) = trust(
            DmarcResult::Fail(Error::NotAligned),
            Policy::None,
            "example.com",
        );
        assert!(u.unwrap().starts_with("DMARC fails for example.com"));
        assert!(note.ends_with("the From is not trusted"));
        let perm = || DmarcResult::PermError(Error::ParseError);
        assert!(trust(perm(), Policy::Reject, "x").0.is_some());
        assert!(trust(perm(), Policy::None, "x").0.is_none());
        let (u, note) = trust(
            DmarcResult::TempError(Error::Dns(mail_auth::DnsError::Resolver("timeout".into()))),
            Policy::Reject,
            "x",
        );
        assert!(u.is_none() && note.contains("temperror"), "{note}");
        assert!(
            trust(DmarcResult::None, Policy::Unspecified, "x")
                .0
                .is_none()
        );
    }
}
