//! The STARTTLS acceptor (rustls on aws-lc-rs): from PEM files, or a self-signed certificate
//! made at start with rcgen when none is configured (said in the log).
//!
//! How it fails: a missing or unreadable file, or a key that does not match, is a
//! [`SmtpError::Tls`] before the listener accepts anything.

use crate::SmtpError;
use crate::config::TlsConfig;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The acceptor for `config`; `hostname` is put in a self-signed certificate.
pub(crate) fn acceptor(config: &TlsConfig, hostname: &str) -> Result<TlsAcceptor, SmtpError> {
    let (chain, key) = match config {
        TlsConfig::Pem {
            certificate,
            private_key,
        } => {
            let chain = CertificateDer::pem_file_iter(certificate)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    SmtpError::Tls(format!("certificate {}: {e}", certificate.display()))
                })?;
            if chain.is_empty() {
                return Err(SmtpError::Tls(format!(
                    "certificate {}: no certificate in the file",
                    certificate.display()
                )));
            }
            let key = PrivateKeyDer::from_pem_file(private_key).map_err(|e| {
                SmtpError::Tls(format!("private key {}: {e}", private_key.display()))
            })?;
            (chain, key)
        }
        TlsConfig::SelfSigned => self_signed(hostname)?,
    };
    let provider = Arc::new(aws_lc_rs::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| SmtpError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// A self-signed certificate for `localhost` and `hostname`.
fn self_signed(
    hostname: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), SmtpError> {
    let mut names = vec!["localhost".to_owned()];
    if hostname != "localhost" && !hostname.is_empty() {
        names.push(hostname.to_owned());
    }
    let made = rcgen::generate_simple_self_signed(names.clone())
        .map_err(|e| SmtpError::Tls(format!("self-signed certificate: {e}")))?;
    tracing::warn!(
        names = ?names,
        "no TLS certificate configured: STARTTLS uses a self-signed certificate made at start"
    );
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    Ok((vec![made.cert.der().clone()], PrivateKeyDer::Pkcs8(key)))
}
