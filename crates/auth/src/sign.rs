//! DKIM signing of outgoing mail (mail-auth's `DkimSigner`), with the keys of the store.
//!
//! [`Signers`] holds the keys of every alias domain, loaded once per delivery batch; the runner
//! asks it to sign each mail whose From is in one of those domains, on the final bytes, just
//! before sending. During a rotation a domain has two keys, and the mail carries a signature of
//! each (newest first): whichever of the two records the receiver finds published verifies.
//!
//! A key that cannot be read is skipped, with an error the runner logs once per batch; the mail
//! goes out unsigned rather than not at all (DMARC of an unsigned mail can still pass on SPF).

use crate::AuthError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use postern_model::{DkimAlgorithm, Secret};
use rustls_pki_types::PrivateKeyDer;
use std::collections::HashMap;

/// The headers signed, when present: those a receiver shows or threads by, and those that
/// decide how the body reads. (`h=` names only those the message has.)
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// A key as the store keeps it.
#[derive(Debug, Clone)]
pub struct SigningKey {
    /// The alias domain (`d=`).
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// The algorithm.
    pub algorithm: DkimAlgorithm,
    /// PKCS#8 DER, base64.
    pub private_key: Secret,
}

enum Key {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

/// The signers of every domain that has a key.
#[derive(Default)]
pub struct Signers {
    by_domain: HashMap<String, Vec<Key>>,
}

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signers")
            .field("domains", &self.by_domain.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Signers {
    /// The signers of these keys, newest first per domain (the order given); the keys that
    /// cannot be read are left out and returned as errors.
    pub fn new(keys: impl IntoIterator<Item = SigningKey>) -> (Signers, Vec<AuthError>) {
        let mut signers = Signers::default();
        let mut errors = Vec::new();
        for k in keys {
            match signer(&k) {
                Ok(key) => signers
                    .by_domain
                    .entry(k.domain.to_ascii_lowercase())
                    .or_default()
                    .push(key),
                Err(e) => errors.push(e),
            }
        }
        (signers, errors)
    }

    /// True when no domain has a key.
    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty()
    }

    /// The DKIM-Signature headers of `domain`'s keys for `message`, to put in front of it;
    /// empty when the domain has no key.
    pub fn sign(&self, domain: &str, message: &[u8]) -> Result<String, AuthError> {
        let mut headers = String::new();
        let Some(keys) = self.by_domain.get(&domain.to_ascii_lowercase()) else {
            return Ok(headers);
        };
        for key in keys {
            let signature = match key {
                Key::Rsa(s) => s.sign(message),
                Key::Ed25519(s) => s.sign(message),
            }
            .map_err(|e| AuthError::Sign(e.to_string()))?;
            headers.push_str(&signature.to_header());
        }
        Ok(headers)
    }
}

fn signer(k: &SigningKey) -> Result<Key, AuthError> {
    let bad = |e: String| {
        AuthError::Key(format!(
            "the DKIM key `{}` of {} cannot be read: {e}",
            k.selector, k.domain
        ))
    };
    let der = B64
        .decode(k.private_key.expose())
        .map_err(|e| bad(e.to_string()))?;
    Ok(match k.algorithm {
        DkimAlgorithm::Rsa2048 => Key::Rsa(done(
            DkimSigner::from_key(
                RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(der.as_slice().into()))
                    .map_err(|e| bad(e.to_string()))?,
            )
            .domain(&k.domain)
            .selector(&k.selector)
            .headers(SIGNED_HEADERS.iter().copied()),
        )),
        DkimAlgorithm::Ed25519 => Key::Ed25519(done(
            DkimSigner::from_key(Ed25519Key::from_pkcs8_der(&der).map_err(|e| bad(e.to_string()))?)
                .domain(&k.domain)
                .selector(&k.selector)
                .headers(SIGNED_HEADERS.iter().copied()),
        )),
    })
}

fn done<T: mail_auth::common::crypto::SigningKey>(s: DkimSigner<T, Done>) -> DkimSigner<T, Done> {
    s.header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate;

    const MESSAGE: &[u8] = b"From: Eva <eva@example.com>\r\nTo: bob@example.org\r\n\
        Subject: Hello\r\nMessage-ID: <1@example.com>\r\n\r\nHi Bob.\r\n";

    fn key(domain: &str, selector: &str, algorithm: DkimAlgorithm) -> SigningKey {
        SigningKey {
            domain: domain.into(),
            selector: selector.into(),
            algorithm,
            private_key: generate(algorithm).unwrap().private_key,
        }
    }

    #[test]
    fn signs_with_every_key_of_the_domain_only() {
        let (signers, errors) = Signers::new([
            key("example.com", "new", DkimAlgorithm::Ed25519),
            key("Example.com", "old", DkimAlgorithm::Rsa2048),
            key("other.example", "s", DkimAlgorithm::Rsa2048),
        ]);
        assert!(errors.is_empty());
        let signed = signers.sign("EXAMPLE.COM", MESSAGE).unwrap();
        let first = signed.find("s=new").unwrap();
        let second = signed.find("s=old").unwrap();
        assert!(first < second, "{signed}");
        assert!(signed.contains("a=ed25519-sha256") && signed.contains("a=rsa-sha256"));
        assert!(signed.contains("d=example.com"));
        assert!(signed.starts_with("DKIM-Signature:") && signed.ends_with("\r\n"));
        assert_eq!(signers.sign("nokey.example", MESSAGE).unwrap(), "");
    }

    #[test]
    fn an_unreadable_key_is_reported_not_used() {
        let mut broken = key("example.com", "s", DkimAlgorithm::Rsa2048);
        broken.private_key = Secret::new("bm90IGEga2V5");
        let (signers, errors) = Signers::new([broken]);
        assert!(signers.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].to_string().contains("bm90IGEga2V5"));
    }
}
