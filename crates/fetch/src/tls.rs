//! The connection to a mailbox server: TCP, then TLS as the server's `encryption` says —
//! `none`, `starttls`/`ssl` (encrypted, certificate not verified, as the reference's non-strict
//! variants) or `starttls_strict`/`ssl_strict` (certificate verified against the system's roots,
//! which honour `SSL_CERT_FILE`, plus any extra roots given).
//!
//! How it fails: every step is bounded in time; a refused connection, a timeout or a TLS failure
//! is a [`FetchError::Connect`] / [`FetchError::Tls`] naming the host and port.

use crate::FetchError;
use postern_model::Encryption;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Connecting (TCP and TLS handshake) gives up after this long, as the reference (60 s).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection, before or after TLS.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS client configurations: one that verifies certificates, one that does not.
#[derive(Clone)]
pub struct TlsSettings {
    strict: TlsConnector,
    lax: TlsConnector,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsSettings")
    }
}

impl TlsSettings {
    /// Verifies against the system's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured),
    /// read once per process.
    pub fn system() -> TlsSettings {
        static SYSTEM: std::sync::OnceLock<TlsSettings> = std::sync::OnceLock::new();
        SYSTEM
            .get_or_init(|| Self::with_roots(system_roots()))
            .clone()
    }

    /// The system's roots plus the certificates of the PEM file `path` (a private CA, or the
    /// self-signed certificate of a test server).
    pub fn with_ca_file(path: &std::path::Path) -> Result<TlsSettings, FetchError> {
        let mut roots = system_roots();
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|c| c.collect::<Result<Vec<_>, _>>())
            .map_err(|e| FetchError::Tls(format!("CA file {}: {e}", path.display())))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| FetchError::Tls(format!("CA file {}: {e}", path.display())))?;
        }
        Ok(Self::with_roots(roots))
    }

    /// The verifying client configuration (for other TLS clients of the process: the webhook
    /// sender's HTTPS).
    pub fn client_config(&self) -> ClientConfig {
        self.strict.config().as_ref().clone()
    }

    fn with_roots(roots: RootCertStore) -> TlsSettings {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let strict = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .expect("the default provider supports the default versions");
        let lax = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoCertificateCheck(provider)))
                    .with_no_client_auth()
            })
            .expect("the default provider supports the default versions");
        TlsSettings {
            strict: TlsConnector::from(Arc::new(strict)),
            lax: TlsConnector::from(Arc::new(lax)),
        }
    }

    /// Connects to `host:port`, with TLS at once for the implicit variants (`ssl`,
    /// `ssl_strict`). Returns whether STARTTLS must follow, and whether it verifies.
    pub(crate) async fn open(
        &self,
        host: &str,
        port: u16,
        encryption: Encryption,
    ) -> Result<(Stream, Option<bool>), FetchError> {
        let tcp = connect_tcp(host, port).await?;
        Ok(match encryption {
            Encryption::Ssl => (self.handshake(tcp, host, false).await?, None),
            Encryption::SslStrict => (self.handshake(tcp, host, true).await?, None),
            Encryption::Starttls => (Stream::Plain(tcp), Some(false)),
            Encryption::StarttlsStrict => (Stream::Plain(tcp), Some(true)),
            Encryption::None => (Stream::Plain(tcp), None),
        })
    }

    /// Runs the TLS handshake on `tcp` for `host`; `verify` checks the certificate.
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        host: &str,
        verify: bool,
    ) -> Result<Stream, FetchError> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| FetchError::Tls(format!("`{host}` is not a valid TLS server name")))?;
        let connector = if verify { &self.strict } else { &self.lax };
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| FetchError::Tls(format!("TLS handshake with {host}: timed out")))?
            .map_err(|e| FetchError::Tls(format!("TLS handshake with {host}: {e}")))?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}

fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "could not load some system CA certificates");
    }
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(
            "no system CA certificates: strict TLS to incoming servers will fail (install ca-certificates)"
        );
    }
    roots
}

/// Opens a TCP connection to `host:port`, bounded in time.
async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, FetchError> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| FetchError::Connect(format!("{host}:{port}: connection timed out")))?
        .map_err(|e| FetchError::Connect(format!("{host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// The non-strict variants (`starttls`, `ssl`) encrypt but accept any certificate, as the
/// reference does; signatures are still checked, so the session keys are the server's.
#[derive(Debug)]
struct NoCertificateCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
