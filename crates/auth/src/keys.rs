//! DKIM keys: generated here (aws-lc-rs, the crypto library mail-auth signs with), kept by the
//! store as base64 DER, published as a TXT record at `SELECTOR._domainkey.DOMAIN`.
//!
//! Encodings: the private key is PKCS#8 DER for both algorithms; the public key in `p=` is the
//! SubjectPublicKeyInfo DER for RSA (what `openssl` prints and every verifier reads) and the raw
//! 32 bytes for Ed25519 (RFC 8463 §4.2).

use crate::AuthError;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use postern_model::{DkimAlgorithm, Secret};

/// A key pair just made: the private half goes to the store and is never shown.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The algorithm.
    pub algorithm: DkimAlgorithm,
    /// PKCS#8 DER, base64.
    pub private_key: Secret,
    /// What `p=` publishes, base64.
    pub public_key: String,
}

/// Makes a new key pair.
pub fn generate(algorithm: DkimAlgorithm) -> Result<GeneratedKey, AuthError> {
    let crypto = |what: &str| AuthError::Key(format!("generating the {what} key failed"));
    let (private, public) = match algorithm {
        DkimAlgorithm::Rsa2048 => {
            let pair =
                aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(|_| crypto("RSA"))?;
            let private = pair.as_der().map_err(|_| crypto("RSA"))?;
            let public = pair.public_key().as_der().map_err(|_| crypto("RSA"))?;
            (private.as_ref().to_vec(), public.as_ref().to_vec())
        }
        DkimAlgorithm::Ed25519 => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| crypto("Ed25519"))?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| crypto("Ed25519"))?;
            (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
        }
    };
    Ok(GeneratedKey {
        algorithm,
        private_key: Secret::new(B64.encode(private)),
        public_key: B64.encode(public),
    })
}

/// Reads a private key from a file that the configuration names (`[[dkim_keys]]`): PEM
/// (`PRIVATE KEY`: PKCS#8, RSA or Ed25519, what `openssl genpkey` writes; `RSA PRIVATE KEY`:
/// PKCS#1, what `opendkim-genkey` writes) or PKCS#8 DER. Returns the private key as the signer
/// takes it (PKCS#8 DER, base64; Ed25519 as PKCS#8 v2, which carries the public key) and the
/// public key to publish. Errors name the file, never its content.
pub fn read_key_file(path: &std::path::Path) -> Result<GeneratedKey, AuthError> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let bad = |e: &str| AuthError::Key(format!("the DKIM key file {}: {e}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(&e.to_string()))?;
    let der = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        PrivateKeyDer::from_pem_slice(&bytes)
            .map_err(|_| bad("no PEM private key in it (PRIVATE KEY or RSA PRIVATE KEY)"))?
    } else {
        PrivateKeyDer::Pkcs8(bytes.into())
    };
    let rsa = |pair: aws_lc_rs::rsa::KeyPair| -> Result<GeneratedKey, AuthError> {
        let private = pair
            .as_der()
            .map_err(|_| bad("cannot encode the RSA key"))?;
        let public = pair
            .public_key()
            .as_der()
            .map_err(|_| bad("cannot encode the RSA public key"))?;
        Ok(GeneratedKey {
            algorithm: DkimAlgorithm::Rsa2048,
            private_key: Secret::new(B64.encode(private.as_ref())),
            public_key: B64.encode(public.as_ref()),
        })
    };
    match der {
        PrivateKeyDer::Pkcs1(k) => rsa(aws_lc_rs::rsa::KeyPair::from_der(k.secret_pkcs1_der())
            .map_err(|e| bad(&format!("not a usable RSA key ({e})")))?),
        PrivateKeyDer::Pkcs8(k) => {
            if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(k.secret_pkcs8_der()) {
                let v2 = pair
                    .to_pkcs8()
                    .map_err(|_| bad("cannot encode the Ed25519 key"))?;
                return Ok(GeneratedKey {
                    algorithm: DkimAlgorithm::Ed25519,
                    private_key: Secret::new(B64.encode(v2.as_ref())),
                    public_key: B64.encode(pair.public_key().as_ref()),
                });
            }
            rsa(aws_lc_rs::rsa::KeyPair::from_pkcs8(k.secret_pkcs8_der())
                .map_err(|_| bad("not an RSA or Ed25519 private key (PKCS#8)"))?)
        }
        _ => Err(bad(
            "not an RSA or Ed25519 private key (DKIM signs with those)",
        )),
    }
}

/// The name the TXT record of `selector` is published at.
pub fn record_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

/// The TXT record to publish for a public key: `v=DKIM1; k=rsa; p=...`.
pub fn txt_record(algorithm: DkimAlgorithm, public_key: &str) -> String {
    let k = match algorithm {
        DkimAlgorithm::Rsa2048 => "rsa",
        DkimAlgorithm::Ed25519 => "ed25519",
    };
    format!("v=DKIM1; k={k}; p={public_key}")
}

/// The record in zone-file form (see [`txt_line`]).
pub fn zone_line(selector: &str, domain: &str, txt: &str) -> String {
    txt_line(&record_name(selector, domain), txt)
}

/// A zone-file TXT line for `name`, its text split in strings of at most 255 bytes (a TXT
/// string's limit; an RSA 2048 record is longer).
pub fn txt_line(name: &str, text: &str) -> String {
    let strings: Vec<String> = text
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("{name}. IN TXT {}", strings.join(" "))
}

/// A valid selector: a dot-separated list of LDH labels (RFC 6376 §3.1).
pub fn valid_selector(selector: &str) -> bool {
    !selector.is_empty()
        && selector.len() <= 63
        && selector.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The default selector of a new key: `postern` and the year and month (`postern202612`), so
/// that the next rotation gets another name.
pub fn default_selector(year: i32, month: u32) -> String {
    format!("postern{year:04}{month:02}")
}

/// [`default_selector`] of this month (UTC).
pub fn this_months_selector() -> String {
    use chrono::Datelike;
    let now = chrono::DateTime::from_timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        0,
    )
    .unwrap_or_default();
    default_selector(now.year(), now.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `der` as a PEM file of `label` in `dir`.
    fn pem_file(dir: &std::path::Path, label: &str, der: &[u8]) -> std::path::PathBuf {
        let b64 = B64.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let path = dir.join(format!("{}.pem", label.replace(' ', "_")));
        let text = format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn key_files_give_the_key_and_its_public_half() {
        let dir = tempfile::tempdir().unwrap();
        for algorithm in [DkimAlgorithm::Rsa2048, DkimAlgorithm::Ed25519] {
            let made = generate(algorithm).unwrap();
            let der = B64.decode(made.private_key.expose()).unwrap();
            let read = read_key_file(&pem_file(dir.path(), "PRIVATE KEY", &der)).unwrap();
            assert_eq!(read.algorithm, algorithm);
            assert_eq!(read.public_key, made.public_key);
            // and the same as DER
            let raw = dir.path().join("key.der");
            std::fs::write(&raw, &der).unwrap();
            assert_eq!(read_key_file(&raw).unwrap().public_key, made.public_key);
        }
        // Ed25519 as OpenSSL writes it (PKCS#8 v1, without the public key): the signer gets v2.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pair =
            Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref())
                .unwrap();
        let v1 = pair.to_pkcs8v1().unwrap();
        let read = read_key_file(&pem_file(dir.path(), "PRIVATE KEY", v1.as_ref())).unwrap();
        assert_eq!(read.public_key, B64.encode(pair.public_key().as_ref()));
        let v2 = B64.decode(read.private_key.expose()).unwrap();
        assert!(Ed25519KeyPair::from_pkcs8(&v2).is_ok());
    }

    #[test]
    fn a_bad_key_file_is_named_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_key_file(&dir.path().join("none.pem")).unwrap_err();
        assert!(missing.to_string().contains("none.pem"), "{missing}");
        let junk = pem_file(dir.path(), "PRIVATE KEY", b"secret-junk-0123456789");
        let e = read_key_file(&junk).unwrap_err().to_string();
        assert!(
            e.contains("PRIVATE_KEY.pem") && !e.contains("c2VjcmV0"),
            "{e}"
        );
        let cert = pem_file(dir.path(), "CERTIFICATE", b"not a key");
        let e = read_key_file(&cert).unwrap_err().to_string();
        assert!(e.contains("no PEM private key"), "{e}");
    }

    #[test]
    fn records_are_split_in_255_byte_strings() {
        let key = generate(DkimAlgorithm::Rsa2048).unwrap();
        let txt = txt_record(key.algorithm, &key.public_key);
        assert!(txt.starts_with("v=DKIM1; k=rsa; p=MIIBIjAN"), "{txt}");
        let line = zone_line("s1", "example.com", &txt);
        assert!(line.starts_with("s1._domainkey.example.com. IN TXT \""));
        let joined: String = line
            .split('"')
            .skip(1)
            .step_by(2)
            .inspect(|s| assert!(s.len() <= 255))
            .collect();
        assert_eq!(joined, txt);
    }

    #[test]
    fn ed25519_public_keys_are_32_bytes() {
        let key = generate(DkimAlgorithm::Ed25519).unwrap();
        assert_eq!(B64.decode(&key.public_key).unwrap().len(), 32);
        assert_eq!(
            txt_record(key.algorithm, &key.public_key),
            format!("v=DKIM1; k=ed25519; p={}", key.public_key)
        );
    }

    #[test]
    fn selectors() {
        for ok in ["s1", "postern202612", "a-b.c_d"] {
            assert!(valid_selector(ok), "{ok}");
        }
        for bad in ["", "-a", "a..b", "a b", "a;b", "é"] {
            assert!(!valid_selector(bad), "{bad}");
        }
        assert_eq!(default_selector(2026, 3), "postern202603");
    }
}
