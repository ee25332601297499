//! `postern queue list|retry ID|cancel ID` (the outbox) and `postern server test NAME` (the
//! connection test of an outgoing server, §9.6).

use crate::{Cli, exit, open_store};
use clap::Subcommand;
use postern_store::{PageRequest, StoreError};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub(crate) enum QueueCommand {
    /// The outbox: id, state, recipients, subject, failure.
    List {
        /// Only mails in this state (`outgoing`, `sent`, `exception`, `cancel`).
        #[arg(long)]
        state: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a failed (or cancelled) mail again, now.
    Retry {
        /// Mail id.
        id: i64,
    },
    /// Cancel a mail not sent yet.
    Cancel {
        /// Mail id.
        id: i64,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ServerCommand {
    /// Test Connection: connect, TLS, AUTH, MAIL FROM, RCPT TO, DATA (nothing is sent).
    Test {
        /// The outgoing server's name.
        name: String,
        /// Seconds to wait for each answer.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Our name in EHLO (default: `[server] hostname` of `--config`, or `POSTERN_HOSTNAME`,
        /// as delivery says it).
        #[arg(long)]
        hostname: Option<String>,
    },
    /// How the server logs in: `password` (PLAIN/LOGIN) or `xoauth2` (the password, or the
    /// variable of `password_env`, holds an OAuth2 access token).
    Auth {
        /// The outgoing server's name.
        name: String,
        /// `password` or `xoauth2`.
        method: String,
    },
}

pub(crate) async fn queue(cli: &Cli, command: &QueueCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(cli).await?;
    let result = match command {
        QueueCommand::List { state, json } => list(&store, state.as_deref(), *json).await,
        QueueCommand::Retry { id } => change(&store, postern_model::MailId(*id), true).await,
        QueueCommand::Cancel { id } => change(&store, postern_model::MailId(*id), false).await,
    };
    store.close().await;
    result
}

async fn list(
    store: &postern_store::Store,
    state: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(s) = state
        && s.parse::<postern_model::MailState>().is_err()
    {
        eprintln!("postern: unknown state `{s}` (outgoing, sent, exception, cancel)");
        return Ok(ExitCode::from(exit::USAGE));
    }
    let mut tx = store.read().await?;
    let mails = tx.list_mails(state, PageRequest::all()).await?.items;
    if json {
        let mails: Vec<serde_json::Value> = mails.iter().map(postern_web::mail_json).collect();
        println!("{}", serde_json::to_string_pretty(&mails)?);
        return Ok(ExitCode::SUCCESS);
    }
    for m in &mails {
        let to: Vec<String> = serde_json::from_value(m.to.0.clone()).unwrap_or_default();
        let failure = match (&m.failure_type, &m.failure_reason) {
            (Some(t), Some(r)) => format!("  [{t}] {r}"),
            (None, Some(r)) => format!("  {r}"),
            (Some(t), None) => format!("  [{t}]"),
            _ => String::new(),
        };
        let failure = match &m.waiting_reason {
            Some(why) => {
                let until = postern_web::mail_json(m)["next_try_at"].clone();
                format!(
                    "{failure}  waits until {}: {why}",
                    until.as_str().unwrap_or("?")
                )
            }
            None => failure,
        };
        println!(
            "{:>6}  {:<9}  {:<40}  {}{failure}",
            m.id,
            m.state,
            to.join(", "),
            m.subject
        );
    }
    let counts = tx.mail_counts().await?;
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!(
        "{}",
        if summary.is_empty() {
            "the outbox is empty".to_owned()
        } else {
            summary.join(", ")
        }
    );
    Ok(ExitCode::SUCCESS)
}

async fn change(
    store: &postern_store::Store,
    id: postern_model::MailId,
    retry: bool,
) -> anyhow::Result<ExitCode> {
    let mut tx = store.begin().await?;
    let r = if retry {
        tx.retry_mail(id).await
    } else {
        tx.cancel_mail(id).await
    };
    match r {
        Ok(()) => {
            tx.commit().await?;
            println!(
                "mail {id}: {}",
                if retry { "queued again" } else { "cancelled" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ StoreError::NotFound { .. }) => {
            eprintln!("postern: {e}");
            Ok(ExitCode::from(exit::NOINPUT))
        }
        Err(e @ StoreError::Conflict(_)) => {
            eprintln!("postern: {e}");
            Ok(ExitCode::from(exit::DATAERR))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn server(cli: &Cli, command: &ServerCommand) -> anyhow::Result<ExitCode> {
    let (name, timeout, hostname) = match command {
        ServerCommand::Test {
            name,
            timeout,
            hostname,
        } => (name, timeout, hostname),
        ServerCommand::Auth { name, method } => return set_auth(cli, name, method).await,
    };
    let store = open_store(cli).await?;
    let id = {
        let mut tx = store.read().await?;
        tx.find_outgoing_server(name).await?
    };
    let Some(id) = id else {
        store.close().await;
        eprintln!("postern: no outgoing server named `{name}`");
        return Ok(ExitCode::from(exit::NOINPUT));
    };
    let settings = crate::ingest::server_settings(cli);
    let hostname = hostname
        .clone()
        .unwrap_or_else(|| settings.hostname.clone());
    let public = crate::oauth::public_url(&settings, &settings.http_listen);
    let oauth = crate::oauth::setup(cli, &store, &public, false).await?;
    let r = postern_delivery::test_server(
        &store,
        id,
        (&hostname, Duration::from_secs(*timeout)),
        (&settings.dns(), oauth.as_ref()),
    )
    .await?;
    store.close().await;
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if r.ok {
        println!("{}", r.message);
        if let Some(size) = r.max_size {
            println!("the server takes messages up to {size} bytes (SIZE)");
        }
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "postern: connection test of `{name}` failed (as <{}>): {}",
            r.test_from, r.message
        );
        Ok(ExitCode::from(exit::TEMPFAIL))
    }
}

async fn set_auth(cli: &Cli, name: &str, method: &str) -> anyhow::Result<ExitCode> {
    let store = open_store(cli).await?;
    let mut tx = store.begin().await?;
    let result = match tx.find_outgoing_server(name).await? {
        None => Err((exit::NOINPUT, format!("no outgoing server named `{name}`"))),
        Some(id) => tx
            .set_outgoing_server_auth(id, method)
            .await
            .map_err(|e| (exit::DATAERR, e.to_string())),
    };
    let code = match result {
        Ok(()) => {
            tx.commit().await?;
            println!("server `{name}` logs in with {method}");
            ExitCode::SUCCESS
        }
        Err((code, e)) => {
            eprintln!("postern: {e}");
            ExitCode::from(code)
        }
    };
    store.close().await;
    Ok(code)
}

/// `postern apply` warns about outgoing servers on port 25 (the default port without `ssl`).
pub(crate) fn warn_port_25(file: &crate::config::ConfigFile) {
    use postern_model::Encryption;
    for (_, s) in &file.outgoing_servers {
        let implicit = matches!(s.encryption, Some(Encryption::Ssl | Encryption::SslStrict));
        let port = s.port.unwrap_or(if implicit { 465 } else { 25 });
        if let Some(w) = postern_delivery::port_warning(port) {
            eprintln!(
                "warning: outgoing server `{}` uses port {port}: {w}",
                s.name
            );
        }
    }
}
