//! OAuth in the binary: the secret key and the [`OAuth`] of a process (`serve`, `fetch`), and
//! `postern oauth connect SERVER`, Connect for a headless install: it prints the provider's URL,
//! and reads back the address the browser was sent to (or the bare code).
//!
//! The key (postern-oauth's `key`): `POSTERN_SECRET_KEY`, else `DATA_DIR/secret.key`, made on
//! first start on SQLite (one node). On PostgreSQL the nodes must share it, so none is made:
//! with servers configured for OAuth and no key, `serve` refuses to start, saying where to put
//! one.

use crate::Cli;
use anyhow::Context as _;
use clap::Subcommand;
use postern_oauth::{KEY_ENV, OAuth, OAuthServer, SecretKey};
use postern_store::Store;
use std::io::BufRead as _;
use std::process::ExitCode;

/// `postern oauth ...`
#[derive(Subcommand, Debug)]
pub(crate) enum OAuthCommand {
    /// Connect a server to its OAuth provider: prints the URL to open, then reads the address
    /// the browser comes back to (or the code alone) on stdin.
    Connect {
        /// The incoming (or outgoing) server's name.
        server: String,
        /// The outgoing server of that name (when an incoming server has the same name).
        #[arg(long)]
        outgoing: bool,
    },
}

/// The public address of the HTTP server, under which the callback is: `[server] public_url`,
/// else `http://` + where it listens.
pub(crate) fn public_url(settings: &crate::config::ServerSettings, http: &str) -> String {
    match settings.public_url.trim_end_matches('/') {
        "" => format!("http://{http}"),
        url => url.to_owned(),
    }
}

/// The process's OAuth: `None` when there is no key and no server needs one; an error when a
/// server is configured for OAuth and there is no key (a clear start-up error). With `make`
/// (`serve`, `oauth connect`), a missing key is made on SQLite; the one-shot commands only
/// read it.
pub(crate) async fn setup(
    cli: &Cli,
    store: &Store,
    public_url: &str,
    make: bool,
) -> anyhow::Result<Option<OAuth>> {
    let may_create = make && cli.database_url().starts_with("sqlite:");
    let env = std::env::var(KEY_ENV).ok();
    match SecretKey::load(env.as_deref(), &cli.data_dir, may_create) {
        Ok(key) => Ok(Some(OAuth::new(store.clone(), key, public_url))),
        Err(e @ postern_oauth::KeyError::Missing(_)) => {
            let mut tx = store.read().await?;
            let n = tx.count_oauth_servers().await?;
            tx.rollback().await?;
            if n > 0 {
                anyhow::bail!("{n} server(s) log in with OAuth, but: {e}");
            }
            // nothing needs it: OAuth is off on this node, silently (Connect says why)
            Ok(None)
        }
        // a key given but unusable is an error, whether or not a server needs it yet
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn oauth(cli: &Cli, command: &OAuthCommand) -> anyhow::Result<ExitCode> {
    let OAuthCommand::Connect { server, outgoing } = command;
    let store = crate::open_store(cli).await?;
    let result = connect(cli, &store, server, *outgoing).await;
    store.close().await;
    result
}

async fn connect(cli: &Cli, store: &Store, name: &str, outgoing: bool) -> anyhow::Result<ExitCode> {
    let settings = crate::ingest::server_settings(cli);
    let public = public_url(&settings, &settings.http_listen);
    let oauth = setup(cli, store, &public, true)
        .await?
        .context("no secret key to seal the tokens with (POSTERN_SECRET_KEY)")?;
    let server = find(store, name, outgoing).await?;
    let url = oauth.begin(server).await?;
    let state = url::Url::parse(&url)?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .context("the authorization URL has no state")?;
    println!("Open this address in a browser and grant access:\n\n{url}\n");
    println!(
        "The provider then sends the browser to {}?code=... (the page may not load: that is \
         fine).\nPaste that whole address here (or the code alone) and press Enter:",
        oauth.redirect_uri()
    );
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let (code, returned) = read_answer(line.trim())?;
    let done = oauth
        .complete(returned.as_deref().unwrap_or(&state), &code)
        .await?;
    println!("{} `{}` is connected.", done.server.what(), done.name);
    Ok(ExitCode::SUCCESS)
}

/// The code (and the state, when the whole address was given) of what was pasted.
fn read_answer(text: &str) -> anyhow::Result<(String, Option<String>)> {
    if !text.contains("code=") && !text.contains("error=") {
        anyhow::ensure!(!text.is_empty(), "nothing was pasted");
        return Ok((text.to_owned(), None));
    }
    let query = text.split_once('?').map_or(text, |(_, q)| q);
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(error) = get("error") {
        let why = get("error_description").unwrap_or_default();
        anyhow::bail!("the provider did not grant access: {error} {why}");
    }
    let code = get("code").context("the address has no code")?;
    Ok((code, get("state")))
}

async fn find(store: &Store, name: &str, outgoing: bool) -> anyhow::Result<OAuthServer> {
    let mut tx = store.read().await?;
    let incoming = match outgoing {
        false => tx.find_incoming_server(name).await?,
        true => None,
    };
    let found = match incoming {
        Some(id) => Some(OAuthServer::Incoming(id)),
        None => tx
            .find_outgoing_server(name)
            .await?
            .map(OAuthServer::Outgoing),
    };
    tx.rollback().await?;
    found.with_context(|| format!("no server named `{name}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pasted_address_or_code() {
        let (code, state) =
            read_answer("http://127.0.0.1:8025/oauth/callback?code=abc%2F1&state=xyz&iss=x")
                .unwrap();
        assert_eq!((code.as_str(), state.as_deref()), ("abc/1", Some("xyz")));
        let (code, state) = read_answer("4/0AbCd").unwrap();
        assert_eq!((code.as_str(), state), ("4/0AbCd", None));
        let e = read_answer("http://x/oauth/callback?error=access_denied&state=s").unwrap_err();
        assert!(e.to_string().contains("access_denied"));
    }
}
