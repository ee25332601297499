//! `postern fetch --once [--server NAME] [--json]`: polls the incoming servers once (every
//! active, enabled server by priority, or the one named, whatever its state) and prints what each
//! poll did; without `--once` it runs the fetch scheduler in the foreground until Ctrl-C (a node
//! that only fetches; `postern serve` runs the same scheduler).
//!
//! Exit codes: 0 every poll reached its mailbox, 75 some poll failed (its error is printed and
//! kept on the server: `GET /api/v1/incoming-servers/{id}`), 78 no such server.

use crate::{Cli, exit, open_store};
use postern_fetch::{Fetcher, RunReport, TlsSettings};
use postern_gateway::Gateway;
use postern_store::StoreError;
use std::process::ExitCode;
use std::time::Duration;

pub(crate) async fn fetch(
    cli: &Cli,
    server: Option<&str>,
    once: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let settings = crate::ingest::server_settings(cli);
    let store = open_store(cli).await?;
    let gateway = Gateway::new(store.clone(), settings.hostname.clone())
        .with_trusted_authserv_ids(&settings.trusted_authserv_ids)
        .with_limits(settings.limits.mime());
    let public = crate::oauth::public_url(&settings, &settings.http_listen);
    let oauth = crate::oauth::setup(cli, &store, &public, false).await?;
    let fetcher = Fetcher::new(gateway, TlsSettings::system())
        .with_max_message_size(settings.max_message_size.bytes())
        .with_oauth(oauth);
    if !once {
        let cancel = tokio_util::sync::CancellationToken::new();
        let scheduler = tokio::spawn(postern_fetch::schedule::run(
            fetcher,
            Duration::from_secs(2),
            cancel.clone(),
        ));
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
        scheduler.await?;
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let result = fetcher.fetch_once(server).await;
    store.close().await;
    let reports = match result {
        Ok(r) => r,
        Err(postern_fetch::FetchError::Store(e @ StoreError::NotFound { .. })) => {
            eprintln!("postern: {e}");
            return Ok(ExitCode::from(exit::CONFIG));
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    } else {
        for r in &reports {
            println!("{}", summary(r));
        }
        if reports.is_empty() {
            println!("no incoming server to poll");
        }
    }
    Ok(if reports.iter().any(|r| r.error.is_some()) {
        ExitCode::from(exit::TEMPFAIL)
    } else {
        ExitCode::SUCCESS
    })
}

fn summary(r: &RunReport) -> String {
    let mut line = format!(
        "{}: fetched {}, stored {}, duplicates {}, failed {}, unprocessable {}",
        r.server, r.fetched, r.accepted, r.duplicates, r.failed, r.unprocessable
    );
    if r.too_large > 0 {
        line.push_str(&format!(
            ", too large (left in the mailbox) {}",
            r.too_large
        ));
    }
    if let Some(e) = &r.error {
        line.push_str(&format!("; error: {e}"));
    }
    if r.disabled {
        line.push_str(" (the server is now disabled)");
    }
    line
}
