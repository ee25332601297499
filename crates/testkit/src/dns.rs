//! A real DNS server on 127.0.0.1 (the feature `dns`): hickory-server, authoritative for the
//! zones a test gives in zone-file text, over UDP and TCP on one port. Postern's resolver
//! (`[server] dns = ["127.0.0.1:PORT"]`), mail-auth's and Python's dnspython (dkimpy) all ask
//! it as they would ask any name server.
//!
//! It runs on a thread of its own with its own runtime, so that it answers whatever the test's
//! runtime is doing (a blocking child process, a current-thread runtime), and stops when
//! dropped.

use hickory_server::Server;
use hickory_server::proto::rr::{LowerName, Name};
use hickory_server::proto::serialize::txt::Parser;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A running DNS server.
pub struct DnsServer {
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One zone: its origin (`example.com`) and its records in zone-file syntax, names relative to
/// the origin or absolute (`@ IN MX 10 mx`, `s1._domainkey IN TXT "v=DKIM1; ..."`). The SOA and
/// NS records are added.
pub struct Zone {
    /// The origin.
    pub origin: String,
    /// The records.
    pub records: String,
}

impl Zone {
    /// A zone.
    pub fn new(origin: &str, records: &str) -> Zone {
        Zone {
            origin: origin.trim_end_matches('.').to_owned(),
            records: records.to_owned(),
        }
    }
}

impl DnsServer {
    /// Starts a server authoritative for these zones on a free port of 127.0.0.1. Panics
    /// when a zone does not parse (a test's mistake).
    pub fn start(zones: &[Zone]) -> DnsServer {
        let mut catalog = Catalog::new();
        // The root too, empty: a name outside the test's zones does not exist (NXDOMAIN), as
        // on the Internet, instead of being refused (which resolvers take for a DNS failure).
        let root = Zone::new("", "");
        for zone in std::iter::once(&root).chain(zones) {
            let (origin, handler) = zone_handler(zone);
            catalog.upsert(LowerName::new(&origin), vec![Arc::new(handler)]);
        }
        let (udp, tcp) = bind_udp_and_tcp();
        let addr = udp.local_addr().unwrap();
        udp.set_nonblocking(true).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut server = Server::new(catalog);
                server.register_socket(tokio::net::UdpSocket::from_std(udp).unwrap());
                server.register_listener(
                    tokio::net::TcpListener::from_std(tcp).unwrap(),
                    Duration::from_secs(5),
                    64,
                );
                let _ = stopped.await;
                let _ = server.shutdown_gracefully().await;
            });
        });
        DnsServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The `[server]` line that points Postern at this server.
    pub fn config_line(&self) -> String {
        format!("dns = [\"{}\"]", self.addr)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP socket and a TCP listener on the same free port of 127.0.0.1 (a free UDP port may be
/// taken for TCP: another is tried).
fn bind_udp_and_tcp() -> (std::net::UdpSocket, std::net::TcpListener) {
    for _ in 0..50 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind DNS UDP");
        if let Ok(tcp) = std::net::TcpListener::bind(udp.local_addr().unwrap()) {
            return (udp, tcp);
        }
    }
    panic!("no port of 127.0.0.1 free for both UDP and TCP");
}

fn zone_handler(zone: &Zone) -> (Name, InMemoryZoneHandler) {
    let origin = Name::from_str(&format!("{}.", zone.origin)).expect("zone origin");
    let ns = match zone.origin.as_str() {
        "" => "ns.test-root.invalid.".to_owned(),
        o => format!("ns.{o}."),
    };
    let text = format!(
        "$ORIGIN {origin}\n$TTL 60\n@ IN SOA {ns} hostmaster.{ns} 1 3600 600 86400 60\n\
         @ IN NS {ns}\n{ns} IN A 127.0.0.1\n{records}\n",
        records = zone.records
    );
    let (origin, records) = Parser::new(text.as_str(), None, Some(origin))
        .parse()
        .unwrap_or_else(|e| panic!("zone {} does not parse: {e}", zone.origin));
    let handler =
        InMemoryZoneHandler::new(origin.clone(), records, ZoneType::Primary, AxfrPolicy::Deny)
            .unwrap_or_else(|e| panic!("zone {}: {e}", zone.origin));
    (origin, handler)
}
