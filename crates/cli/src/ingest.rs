//! `postern ingest` (the MTA pipe) and `postern route explain`.
//!
//! `ingest` reads one message from a file or stdin and runs it through `accept`, either in this
//! process on the database (default) or by posting it to a running server (`--url`). It prints the
//! outcome JSON on stdout and exits with a sysexits code an MTA understands: 0 stored or
//! deliberately ignored (a refusal mail may have been queued), 65 unparseable or too large, 67
//! no route (the MTA bounces), 75 temporary failure (the MTA retries), 77 permission denied, 78
//! configuration error. Anything not known to be permanent is 75: the message is never lost.
//!
//! On any exit but 0, an MTA puts what the command printed into the bounce it sends to a
//! stranger (Postfix's pipe does, for stdout and stderr alike). So on failure `ingest` prints
//! exactly one line, `<enhanced status> <short reason>` ([`PipeFailure`]), and nothing else:
//! the details (the trace, database errors, paths) go to the log, which the pipe writes only to
//! `--log-file` or to a terminal (see `init_logging`). `--json` prints the outcome JSON whatever
//! the exit code, for scripts.

use crate::{Cli, exit, open_store};
use postern_gateway::Envelope;
use postern_gateway::{AcceptError, AcceptOutcome, Gateway, Received};
use postern_model::Source;
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

/// What `ingest` prints on a failure: one line that is safe to show the sender of the message,
/// since the MTA copies it into the bounce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PipeFailure {
    /// 65: not an e-mail message.
    Unparseable,
    /// 65: over the size limit.
    TooLarge,
    /// 67: nothing accepts the recipient.
    NoRoute,
    /// 75: try again later.
    Temporary,
    /// 77: the server refused the token (`--url`).
    Permission,
    /// 78: Postern's configuration is wrong (the MTA defers: the admin can fix it).
    Config,
    /// 66: the message file does not exist.
    NoInput,
}

impl PipeFailure {
    fn exit_code(self) -> u8 {
        match self {
            PipeFailure::Unparseable | PipeFailure::TooLarge => exit::DATAERR,
            PipeFailure::NoRoute => exit::NOUSER,
            PipeFailure::Temporary => exit::TEMPFAIL,
            PipeFailure::Permission => exit::NOPERM,
            PipeFailure::Config => exit::CONFIG,
            PipeFailure::NoInput => exit::NOINPUT,
        }
    }

    /// The line printed: an enhanced status code (RFC 3463) and a short reason.
    fn line(self) -> &'static str {
        match self {
            PipeFailure::Unparseable => "5.6.0 not an e-mail message",
            PipeFailure::TooLarge => "5.3.4 message too large",
            PipeFailure::NoRoute => "5.1.1 no such recipient",
            PipeFailure::Temporary => "4.3.0 temporary failure, try again later",
            PipeFailure::Permission => "5.7.1 delivery not authorized",
            PipeFailure::Config => "4.3.5 mail system configuration error",
            PipeFailure::NoInput => "5.3.0 cannot read the message",
        }
    }

    /// Logs `detail` (for the admin), prints the safe line (for the sender), gives the code.
    fn report(self, detail: &dyn std::fmt::Display) -> ExitCode {
        tracing::error!(status = self.line(), "ingest failed: {detail}");
        println!("{}", self.line());
        ExitCode::from(self.exit_code())
    }
}

impl MessageArgs {
    fn envelope(&self) -> Envelope {
        Envelope {
            mail_from: self.sender.clone(),
            rcpt_to: self.rcpt.clone(),
            model: self.model.clone(),
            ..Default::default()
        }
    }
}

/// Reads the message, at most `limit` bytes.
fn read_message(file: Option<&Path>, limit: u64) -> Result<Vec<u8>, (PipeFailure, String)> {
    let mut buf = Vec::new();
    let result = match file {
        Some(p) => std::fs::File::open(p)
            .map_err(|e| {
                (
                    PipeFailure::NoInput,
                    format!("cannot read {}: {e}", p.display()),
                )
            })?
            .take(limit + 1)
            .read_to_end(&mut buf),
        None => std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut buf),
    };
    result.map_err(|e| {
        (
            PipeFailure::Temporary,
            format!("cannot read the message: {e}"),
        )
    })?;
    if buf.len() as u64 > limit {
        return Err((
            PipeFailure::TooLarge,
            format!("the message is larger than max_message_size ({limit} bytes)"),
        ));
    }
    Ok(buf)
}

/// The `[server]` settings the one-shot commands need (`ingest`, `fetch`, `server test`): those
/// of the `--config` file (read once; a file that cannot be read or parsed gives the defaults:
/// `serve` and `apply` are where its errors are reported), with `POSTERN_HOSTNAME` over the
/// hostname.
pub(crate) fn server_settings(cli: &Cli) -> crate::config::ServerSettings {
    let mut settings = cli
        .config
        .as_deref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| crate::config::ConfigFile::parse_lenient(&t).0.server)
        .unwrap_or_default();
    if let Ok(h) = std::env::var("POSTERN_HOSTNAME")
        && !h.trim().is_empty()
    {
        settings.hostname = h.trim().to_owned();
    }
    settings
}

fn print_outcome(outcome: &AcceptOutcome) {
    println!(
        "{}",
        serde_json::to_string_pretty(outcome).unwrap_or_default()
    );
}

/// The sysexits code of an outcome: 67 when nothing takes the message (the MTA bounces it),
/// else 0 (stored, or deliberately ignored; a refusal may have been mailed back).
fn outcome_exit_code(outcome: &AcceptOutcome) -> u8 {
    match outcome.outcome {
        postern_gateway::Outcome::NoRoute => exit::NOUSER,
        _ => 0,
    }
}

/// The sysexits code of a failure: 65 not an e-mail message (permanent), 75 try again.
fn accept_error(e: &AcceptError) -> ExitCode {
    eprintln!("postern: {e}");
    ExitCode::from(match e {
        AcceptError::Unparseable { .. } => exit::DATAERR,
        AcceptError::Temporary(_) => exit::TEMPFAIL,
    })
}

/// `postern ingest`: never fails with an error of its own; every failure is a [`PipeFailure`].
pub(crate) async fn ingest(
    cli: &Cli,
    args: &MessageArgs,
    url: Option<&str>,
    json: bool,
) -> ExitCode {
    let settings = server_settings(cli);
    let limit = settings.max_message_size.bytes().min(MAX_MESSAGE);
    let raw = match read_message(args.file.as_deref(), limit) {
        Ok(r) => r,
        Err((failure, detail)) => return failure.report(&detail),
    };
    if let Some(url) = url {
        return ingest_remote(url, args, raw, json, &cli.data_dir).await;
    }
    let store = match open_store(cli).await {
        Ok(s) => s,
        Err(e) => {
            let failure = match e.downcast_ref::<postern_store::StoreError>() {
                Some(postern_store::StoreError::Config(_)) => PipeFailure::Config,
                _ => PipeFailure::Temporary,
            };
            return failure.report(&format_args!("{e:#}"));
        }
    };
    let gateway = Gateway::new(store.clone(), settings.hostname)
        .with_trusted_authserv_ids(&settings.trusted_authserv_ids)
        .with_limits(settings.limits.mime());
    let received = Received {
        envelope: args.envelope(),
        source: Source::Pipe,
        ..Default::default()
    };
    let result = gateway.accept_owned(raw, &received).await;
    store.close().await;
    match result {
        Ok(outcome) if outcome_exit_code(&outcome) == 0 => {
            print_outcome(&outcome);
            ExitCode::SUCCESS
        }
        Ok(outcome) => {
            if json {
                print_outcome(&outcome);
                return ExitCode::from(outcome_exit_code(&outcome));
            }
            let rcpt = args.rcpt.join(", ");
            let detail = format!(
                "no route for the message to {rcpt}: {}",
                outcome.trace.join("; ")
            );
            let failure = match outcome_exit_code(&outcome) {
                exit::NOUSER => PipeFailure::NoRoute,
                _ => PipeFailure::Temporary,
            };
            failure.report(&detail)
        }
        Err(e) => {
            let failure = match &e {
                AcceptError::Unparseable { .. } => PipeFailure::Unparseable,
                AcceptError::Temporary(_) => PipeFailure::Temporary,
            };
            failure.report(&e)
        }
    }
}

pub(crate) async fn explain(cli: &Cli, args: &MessageArgs, json: bool) -> anyhow::Result<ExitCode> {
    let raw = match read_message(args.file.as_deref(), MAX_MESSAGE) {
        Ok(r) => r,
        Err((failure, e)) => {
            eprintln!("postern: {e}");
            return Ok(ExitCode::from(failure.exit_code()));
        }
    };
    let store = open_store(cli).await?;
    let settings = server_settings(cli);
    let gateway = Gateway::new(store.clone(), settings.hostname)
        .with_trusted_authserv_ids(&settings.trusted_authserv_ids)
        .with_limits(settings.limits.mime());
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
///
/// The token: `POSTERN_API_TOKEN`, else the file `api-token` of the data directory (what
/// `serve` writes; an MTA's pipe cannot be given a secret in its environment without writing
/// it into its configuration).
async fn ingest_remote(
    url: &str,
    args: &MessageArgs,
    raw: Vec<u8>,
    json: bool,
    data_dir: &Path,
) -> ExitCode {
    let token = match std::env::var("POSTERN_API_TOKEN") {
        Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
        _ => std::fs::read_to_string(data_dir.join("api-token"))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default(),
    };
    if token.is_empty() {
        return PipeFailure::Config.report(&format_args!(
            "--url needs the API token: POSTERN_API_TOKEN, or a readable {}",
            data_dir.join("api-token").display()
        ));
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
            return PipeFailure::Temporary.report(&format_args!("cannot reach {endpoint}: {e}"));
        }
    };
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let failure = match status {
        200..=299 => {
            println!("{body}");
            return ExitCode::SUCCESS;
        }
        400 => PipeFailure::Unparseable,
        413 => PipeFailure::TooLarge,
        401 | 403 => PipeFailure::Permission,
        422 => PipeFailure::NoRoute,
        _ => PipeFailure::Temporary,
    };
    if json {
        println!("{body}");
        return ExitCode::from(failure.exit_code());
    }
    failure.report(&format_args!("{endpoint} answered {status}: {body}"))
}
