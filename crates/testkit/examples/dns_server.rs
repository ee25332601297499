//! The tests' loopback DNS server as a program, for the benchmark scripts
//! (`scripts/bench-auth.sh`): `dns_server ORIGIN=ZONEFILE...` serves each zone (records in
//! zone-file syntax, as [`postern_testkit::dns::Zone`] takes them) on a free port of 127.0.0.1,
//! prints `127.0.0.1:PORT` on one line, and answers until it is killed.

use postern_testkit::dns::{DnsServer, Zone};
use std::io::Write;

fn main() {
    let zones: Vec<Zone> = std::env::args()
        .skip(1)
        .map(|arg| {
            let (origin, path) = arg
                .split_once('=')
                .unwrap_or_else(|| panic!("`{arg}`: expected ORIGIN=ZONEFILE"));
            let records =
                std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            Zone::new(origin, &records)
        })
        .collect();
    let server = DnsServer::start(&zones);
    println!("{}", server.addr);
    std::io::stdout().flush().ok();
    loop {
        std::thread::park();
    }
}
