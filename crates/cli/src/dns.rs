//! `postern dns check DOMAIN [--json]`: which DNS records of an alias domain are present,
//! missing or wrong, each with the record to publish. Asks the servers of `[server] dns` of
//! `--config` (else `/etc/resolv.conf`). Exit 0 when every required record is right, 1 when one
//! is missing or wrong, 75 when DNS did not answer for one, 66 for an unknown domain.

use crate::{Cli, exit, open_store};
use clap::Subcommand;
use postern_auth::check::{DnsReport, Status};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub(crate) enum DnsCommand {
    /// Check the MX, SPF, DKIM, DMARC (required), MTA-STS and TLS-RPT (advice) records of an
    /// alias domain.
    Check {
        /// The alias domain.
        domain: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn dns(cli: &Cli, command: &DnsCommand) -> anyhow::Result<ExitCode> {
    let DnsCommand::Check { domain, json } = command;
    let settings = crate::ingest::server_settings(cli);
    let store = open_store(cli).await?;
    let mut tx = store.read().await?;
    let found = tx.find_alias_domain(domain).await?;
    tx.rollback().await?;
    let Some(id) = found else {
        store.close().await;
        eprintln!("postern: no alias domain named `{domain}` (see `postern apply`)");
        return Ok(ExitCode::from(exit::NOINPUT));
    };
    let report = postern_delivery::check_dns(&store, id, &settings.dns(), &settings.hostname).await;
    store.close().await;
    let report = report?;
    if *json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.failed() {
        ExitCode::from(1)
    } else if report.incomplete() {
        ExitCode::from(exit::TEMPFAIL)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_report(report: &DnsReport) {
    println!("DNS records of {}:", report.domain);
    for c in &report.checks {
        let status = match c.status {
            Status::Present => "present",
            Status::Missing => "missing",
            Status::Wrong => "wrong",
            Status::Unknown => "unknown",
        };
        let advice = if c.required { "" } else { " (advice)" };
        println!("  {:<8} {status}{advice}  {}", c.record, c.name);
        for f in &c.found {
            println!("           found: {f}");
        }
        if !c.detail.is_empty() {
            println!("           {}", c.detail);
        }
        if let Some(p) = &c.publish {
            println!("           publish: {p}");
        }
    }
    if report.failed() {
        println!("Publish the records above, then check again.");
    }
}
