//! postern-smtp — the SMTP and LMTP listeners (tokio, rustls, smtp-proto) that feed
//! `gateway::accept` and answer only once the message is stored.
//!
//! Owns: the protocols, their limits and timeouts. Must not: route or store messages itself,
//! or accept mail for domains that are not ours (never an open relay: every `RCPT` is asked
//! of [`Gateway::accepts_recipient`]).
//!
//! Actors: the caller owns the listening socket and the shutdown signal ([`run`], as in
//! mini-redis, so tests bind `127.0.0.1:0`); one task per connection runs a session
//! (`session.rs`) over smtp-proto's receivers; the gateway answers at `RCPT` and after the data.
//!
//! What it offers: ESMTP with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES,
//! CHUNKING (BDAT) and STARTTLS; LMTP (RFC 2033) with the same extensions. Limits: connections
//! (a semaphore; one too many gets `421 4.3.2`), connections per IP address (`421 4.7.0`),
//! message size (`552 5.3.4`), recipients (`452 4.5.3`), command lines (4096 octets,
//! smtp-proto's limit), bad commands and commands per session (then `421 4.7.0`), a timeout
//! per command and one per session (`421 4.4.2`). The limits of a message's structure are the
//! gateway's (postern-mime's `Limits`): `554 5.6.0` with the reason.
//!
//! LMTP: the message is given to the gateway once, with every recipient, and each accepted
//! recipient gets the reply of that one call (why: `session::message_reply`).
//!
//! Shutdown: when the `shutdown` future completes, the listener stops accepting, sessions
//! waiting for a command get `421 4.3.2`, a message whose data is arriving is received and
//! answered first, and [`run`] returns once every session has ended.
//!
//! The SMTP client used for delivery and the connection test is [`client`] (issue #5).
#![warn(missing_docs)]

pub mod client;
mod config;
mod reply;
mod session;
mod spool;
mod tls;
mod trace;

pub use config::{SmtpConfig, TlsConfig};

use postern_gateway::Gateway;
use session::{Peer, Shared};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Why a listener could not run.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// A setting is out of range (every problem, separated by `; `).
    #[error("invalid SMTP settings: {0}")]
    Config(String),
    /// The TLS certificate or key could not be loaded or made.
    #[error("TLS: {0}")]
    Tls(String),
    /// The listening socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Serves SMTP (or LMTP when `config.lmtp`) on `listener` until `shutdown` completes, then
/// finishes the sessions in flight and returns.
///
/// Fails before accepting anything when the settings are out of range or the TLS certificate
/// cannot be loaded; after that, nothing a client does stops the listener.
pub async fn run(
    listener: TcpListener,
    config: SmtpConfig,
    gateway: Gateway,
    shutdown: impl Future,
) -> Result<(), SmtpError> {
    serve(Listener::Tcp(listener), config, gateway, shutdown).await
}

/// [`run`] on a Unix socket (LMTP behind Postfix or Exim: `lmtp_listen = "unix:/run/...")`.
#[cfg(unix)]
pub async fn run_unix(
    listener: tokio::net::UnixListener,
    config: SmtpConfig,
    gateway: Gateway,
    shutdown: impl Future,
) -> Result<(), SmtpError> {
    serve(Listener::Unix(listener), config, gateway, shutdown).await
}

/// Serves one connection already open on `stream`, as [`run`] serves each one it accepts, and
/// returns when the session ends: the way the fuzz target (`fuzz/`) drives whole sessions over
/// an in-memory pipe. No connection limit, no STARTTLS; the peer is `127.0.0.1`.
#[doc(hidden)]
pub async fn serve_stream<S>(stream: S, config: SmtpConfig, gateway: Gateway)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let shared = Arc::new(Shared {
        budget: spool::Budget::new(config.processing_budget),
        config,
        gateway,
        tls: None,
    });
    let (_stop, stopped) = watch::channel(false);
    let peer = Peer {
        ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        text: "127.0.0.1".into(),
    };
    session::serve(shared, stream, peer, stopped).await
}

enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
}

enum Conn {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

impl Listener {
    async fn accept(&self) -> io::Result<(Conn, Peer)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, addr) = l.accept().await?;
                let peer = Peer {
                    ip: Some(addr.ip()),
                    text: addr.ip().to_string(),
                };
                Ok((Conn::Tcp(stream), peer))
            }
            #[cfg(unix)]
            Listener::Unix(l) => {
                let (stream, _) = l.accept().await?;
                let peer = Peer {
                    ip: None,
                    text: "unix".into(),
                };
                Ok((Conn::Unix(stream), peer))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "tcp".into(), |a| a.to_string()),
            #[cfg(unix)]
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix".into()),
        }
    }
}

/// Every setting out of range, at once.
fn check(config: &SmtpConfig) -> Result<(), SmtpError> {
    let mut problems = Vec::new();
    let checks = [
        (config.hostname.trim().is_empty(), "hostname is empty"),
        (
            config
                .hostname
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()),
            "hostname contains white space",
        ),
        (
            config.max_message_size == 0,
            "max_message_size must be positive",
        ),
        (
            config.max_connections == 0,
            "max_connections must be positive",
        ),
        (
            config.max_connections_per_ip == 0,
            "max_connections_per_ip must be positive",
        ),
        (config.max_commands == 0, "max_commands must be positive"),
        (
            config.max_recipients == 0,
            "max_recipients must be positive",
        ),
        (
            config.max_bad_commands == 0,
            "max_bad_commands must be positive",
        ),
        (
            config.command_timeout.is_zero(),
            "command_timeout must be positive",
        ),
        (
            config.session_timeout.is_zero(),
            "session_timeout must be positive",
        ),
    ];
    for (bad, what) in checks {
        if bad {
            problems.push(what);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SmtpError::Config(problems.join("; ")))
    }
}

async fn serve(
    listener: Listener,
    config: SmtpConfig,
    gateway: Gateway,
    shutdown: impl Future,
) -> Result<(), SmtpError> {
    check(&config)?;
    let tls = match &config.tls {
        Some(t) => Some(tls::acceptor(t, &config.hostname)?),
        None => None,
    };
    let protocol = if config.lmtp { "LMTP" } else { "SMTP" };
    tracing::info!(
        listen = %listener.describe(),
        protocol,
        starttls = tls.is_some(),
        max_message_size = config.max_message_size,
        "listening"
    );
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let per_ip = PerIp::new(config.max_connections_per_ip);
    let shared = Arc::new(Shared {
        budget: spool::Budget::new(config.processing_budget),
        config,
        gateway,
        tls,
    });
    let (stop, stopped) = watch::channel(false);
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(done) = sessions.join_next() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a session task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((conn, peer)) => match (limit.clone().try_acquire_owned(), per_ip.enter(&peer)) {
                    (Ok(permit), Some(ip_permit)) => {
                        let (shared, stopped) = (shared.clone(), stopped.clone());
                        sessions.spawn(async move {
                            serve_conn(shared, conn, peer, stopped).await;
                            drop((permit, ip_permit));
                        });
                    }
                    (Err(_), _) => {
                        tracing::warn!(peer = %peer.text, "too many connections: refused");
                        let line = "421 4.3.2 {} too many connections, try again later";
                        sessions.spawn(refuse_busy(conn, line, shared.config.hostname.clone()));
                    }
                    (Ok(_), None) => {
                        tracing::warn!(peer = %peer.text, "too many connections from one address: refused");
                        let line = "421 4.7.0 {} too many connections from your address, try again later";
                        sessions.spawn(refuse_busy(conn, line, shared.config.hostname.clone()));
                    }
                },
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, do not spin.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(
        sessions = sessions.len(),
        "shutting down: finishing the sessions in flight"
    );
    let _ = stop.send(true);
    while let Some(done) = sessions.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a session task failed");
        }
    }
    tracing::info!(protocol, "stopped");
    Ok(())
}

async fn serve_conn(shared: Arc<Shared>, conn: Conn, peer: Peer, stopped: watch::Receiver<bool>) {
    match conn {
        Conn::Tcp(stream) => {
            // Replies are small and written once per batch: do not let Nagle hold them.
            let _ = stream.set_nodelay(true);
            session::serve(shared, stream, peer, stopped).await
        }
        #[cfg(unix)]
        Conn::Unix(stream) => session::serve(shared, stream, peer, stopped).await,
    }
}

/// Sessions per IP address: a count per address, taken when a session starts and given back
/// (by the [`IpPermit`]) when it ends.
#[derive(Clone)]
struct PerIp {
    max: usize,
    open: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

/// One session of an address, counted until dropped.
struct IpPermit {
    ip: Option<std::net::IpAddr>,
    per_ip: PerIp,
}

impl PerIp {
    fn new(max: usize) -> PerIp {
        PerIp {
            max,
            open: Arc::default(),
        }
    }

    /// A permit for one more session of `peer`'s address, or `None` when it has `max` open.
    fn enter(&self, peer: &Peer) -> Option<IpPermit> {
        if let Some(ip) = peer.ip {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let n = open.entry(ip).or_default();
            if *n >= self.max {
                return None;
            }
            *n += 1;
        }
        Some(IpPermit {
            ip: peer.ip,
            per_ip: self.clone(),
        })
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut open = self.per_ip.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// One connection too many: `line` (`{}` is the hostname) and close, without waiting long for
/// the peer.
async fn refuse_busy(conn: Conn, line: &'static str, hostname: String) {
    let line = format!("{}\r\n", line.replacen("{}", &hostname, 1));
    let write = async {
        match conn {
            Conn::Tcp(mut s) => {
                s.write_all(line.as_bytes()).await?;
                s.shutdown().await
            }
            #[cfg(unix)]
            Conn::Unix(mut s) => {
                s.write_all(line.as_bytes()).await?;
                s.shutdown().await
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
}
