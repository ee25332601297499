//! `postern ingest` (the MTA pipe) and `postern route explain`.
//!
//! `ingest` reads one message from a file or stdin and runs it through `accept`, either in this
//! process on the database (default) or by posting it to a running server (`--url`). It prints the
//! outcome JSON on stdout and exits with a sysexits code an MTA understands: 0 stored or
//! deliberately ignored (a refusal mail may have been queued), 65 unparseable, 67 no route
//! (the MTA bounces), 75 temporary failure (the MTA retries), 77 permission denied, 78
//! configuration error. Anything not known to be permanent is 75: the message is never lost.

use crate::{Cli, exit, open_store};
use postern_gateway::{AcceptError, AcceptOutcome, Gateway, Received};
use postern_model::Source;
use postern_routing::Envelope;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The largest message `ingest` reads (an MTA's limit is normally lower).
const MAX_MESSAGE: u64 = 64 << 20;

/// Arguments shared by `ingest` and `route explain`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct MessageArgs {
    /// The message file (default: standard input).
    pub file: Option<PathBuf>,
    /// Envelope recipient (repeatable), as the MTA's `${recipient}`.
    #[arg(long = "rcpt")]
    pub rcpt: Vec<String>,
    /// Envelope sender, as the MTA's `${sender}`.
    #[arg(long)]
    pub sender: Option<String>,
    /// Fallback model: records are created there when no alias matches.
    #[arg(long)]
    pub model: Option<String>,
}

impl MessageArgs {
    fn envelope(&self) -> Envelope {
        Envelope {
            mail_from: self.sender.clone(),
            rcpt_to: self.rcpt.clone(),
            model: self.model.clone(),
        }
    }
}

fn read_message(file: Option<&Path>) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let result = match file {
        Some(p) => std::fs::File::open(p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))?
            .take(MAX_MESSAGE + 1)
            .read_to_end(&mut buf),
        None => std::io::stdin()
            .lock()
            .take(MAX_MESSAGE + 1)
            .read_to_end(&mut buf),
    };
    result.map_err(|e| format!("cannot read the message: {e}"))?;
    if buf.len() as u64 > MAX_MESSAGE {
        return Err(format!(
            "the message is larger than {} MB",
            MAX_MESSAGE >> 20
        ));
    }
    Ok(buf)
}

pub(crate) fn hostname(cli: &Cli) -> String {
    std::env::var("POSTERN_HOSTNAME").unwrap_or_else(|_| {
        cli.config
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| {
                crate::config::ConfigFile::parse_lenient(&t)
                    .0
                    .server
                    .hostname
            })
            .unwrap_or_else(|| "localhost".into())
    })
}

/// `[server] max_message_size` of the `--config` file, else the default (25 MiB).
pub(crate) fn max_message_size(cli: &Cli) -> u64 {
    cli.config
        .as_deref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| {
            let size = crate::config::ConfigFile::parse_lenient(&t)
                .0
                .server
                .max_message_size;
            crate::config::parse_size(&size)
        })
        .unwrap_or(postern_fetch::DEFAULT_MAX_MESSAGE_SIZE)
}

fn print_outcome(outcome: &AcceptOutcome) {
    println!(
        "{}",
        serde_json::to_string_pretty(outcome).unwrap_or_default()
    );
}

fn accept_error(e: &AcceptError) -> ExitCode {
    eprintln!("postern: {e}");
    ExitCode::from(e.exit_code())
}

pub(crate) async fn ingest(
    cli: &Cli,
    args: &MessageArgs,
    url: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let raw = match read_message(args.file.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("postern: {e}");
            return Ok(ExitCode::from(exit::DATAERR));
        }
    };
    if let Some(url) = url {
        return Ok(ingest_remote(url, args, raw).await);
    }
    let store = open_store(cli).await?;
    let gateway = Gateway::new(store.clone(), hostname(cli));
    let received = Received {
        envelope: args.envelope(),
        source: Source::Pipe,
        ..Default::default()
    };
    let result = gateway.accept_owned(raw, &received).await;
    store.close().await;
    Ok(match result {
        Ok(outcome) => {
            print_outcome(&outcome);
            ExitCode::from(outcome.exit_code())
        }
        Err(e) => accept_error(&e),
    })
}

pub(crate) async fn explain(cli: &Cli, args: &MessageArgs, json: bool) -> anyhow::Result<ExitCode> {
    let raw = match read_message(args.file.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("postern: {e}");
            return Ok(ExitCode::from(exit::DATAERR));
        }
    };
    let store = open_store(cli).await?;
    let gateway = Gateway::new(store.clone(), hostname(cli));
    let received = Received {
        envelope: args.envelope(),
        source: Source::Pipe,
        ..Default::default()
    };
    let result = gateway.explain(&raw, &received).await;
    store.close().await;
    let outcome = match result {
        Ok(o) => o,
        Err(e) => return Ok(accept_error(&e)),
    };
    if json {
        print_outcome(&outcome);
    } else {
        println!(
            "outcome: {}",
            serde_json::to_value(outcome.outcome)?
                .as_str()
                .unwrap_or("?")
        );
        for r in &outcome.routes {
            println!(
                "route: {} {}{}{}",
                serde_json::to_value(r.action)?.as_str().unwrap_or("?"),
                r.model,
                r.record_id.map(|id| format!(" #{id}")).unwrap_or_default(),
                r.alias
                    .as_ref()
                    .map(|a| format!(" (alias {a})"))
                    .unwrap_or_default()
            );
        }
        for s in &outcome.sent {
            println!(
                "would send: {} to {}",
                serde_json::to_value(s.kind)?.as_str().unwrap_or("?"),
                s.to
            );
        }
        for line in &outcome.trace {
            println!("  - {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--url`: posts the message to a running server's `/api/v1/ingest`.
async fn ingest_remote(url: &str, args: &MessageArgs, raw: Vec<u8>) -> ExitCode {
    let token = std::env::var("POSTERN_API_TOKEN").unwrap_or_default();
    if token.is_empty() {
        eprintln!("postern: --url needs the API token in POSTERN_API_TOKEN");
        return ExitCode::from(exit::CONFIG);
    }
    let mut query: Vec<(&str, &str)> = args.rcpt.iter().map(|r| ("rcpt", r.as_str())).collect();
    if let Some(s) = &args.sender {
        query.push(("sender", s));
    }
    if let Some(m) = &args.model {
        query.push(("model", m));
    }
    let endpoint = format!("{}/api/v1/ingest", url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&endpoint)
        .query(&query)
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            eprintln!("postern: cannot reach {endpoint}: {e}");
            return ExitCode::from(exit::TEMPFAIL);
        }
    };
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    println!("{body}");
    ExitCode::from(match status {
        200..=299 => 0,
        400 => exit::DATAERR,
        401 | 403 => exit::NOPERM,
        422 => exit::NOUSER,
        _ => exit::TEMPFAIL,
    })
}
