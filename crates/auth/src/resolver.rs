//! The DNS resolver of sender authentication and of the DNS check: hickory, as mail-auth uses
//! it, on the servers of `[server] dns` (or those of `/etc/resolv.conf` when none is named),
//! with a timeout per query and a bounded number of tries, so that a DNS server that does not
//! answer costs seconds, not minutes.

use crate::AuthError;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{TokioResolver, system_conf};
use mail_auth::MessageAuthenticator;
use std::net::SocketAddr;
use std::time::Duration;

/// Where and how to ask DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// The servers (`ip:port`), asked over UDP then TCP; empty: those of `/etc/resolv.conf`.
    pub servers: Vec<SocketAddr>,
    /// Longest wait for one answer.
    pub timeout: Duration,
    /// Tries per query and server.
    pub attempts: usize,
}

impl Default for DnsSettings {
    /// The system's servers, 5 s per answer, 2 tries.
    fn default() -> Self {
        DnsSettings {
            servers: Vec::new(),
            timeout: Duration::from_secs(5),
            attempts: 2,
        }
    }
}

impl DnsSettings {
    /// The resolver of these settings, wrapped as mail-auth's authenticator.
    pub fn authenticator(&self) -> Result<MessageAuthenticator, AuthError> {
        let (config, mut options) = if self.servers.is_empty() {
            system_conf::read_system_conf().map_err(|e| {
                AuthError::Dns(format!(
                    "no DNS server named in [server] dns and /etc/resolv.conf cannot be read: {e}"
                ))
            })?
        } else {
            let servers = self.servers.iter().map(name_server).collect();
            (
                ResolverConfig::from_name_servers(servers),
                ResolverOpts::default(),
            )
        };
        options.timeout = self.timeout;
        options.attempts = self.attempts.max(1);
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|e| AuthError::Dns(format!("cannot start the DNS resolver: {e}")))?;
        Ok(MessageAuthenticator(resolver))
    }
}

fn name_server(addr: &SocketAddr) -> NameServerConfig {
    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
    for c in &mut server.connections {
        c.port = addr.port();
    }
    server
}
